#!/bin/sh
# replay_history.sh - the archive played again (docs/ARCHIVE.md "Replay
# and history"):
#   - a history run of a registered query over archived flows gives
#     exactly the rows the same query gave live over the same flows,
#     window for window (a tumbling and a hopping window, with WHERE and
#     HAVING), into a table of its own marked 'history'; again over the
#     same range it replaces its windows; errors and the job API;
#   - an IPFIX replay of the archived flows into a second flowsqld and
#     into nfcapd: what they receive equals the archive field for field
#     (but the receive time and the exporter), with no sequence gap; the
#     original pace and x4 honoured within generous bounds (measured,
#     printed); over TCP too; cancel; destinations outside --replay-allow
#     refused.
. "$(dirname "$0")/lib/ingest.sh"

for c in nfcapd nfdump jq; do
    if ! command -v $c >/dev/null; then
        echo "not ok - $c is not installed (make deps-test)"
        exit 1
    fi
done
wait_until() { # seconds command...: poll every 0.1 s
    w_n=$(( $1 * 10 )); shift
    while ! "$@" >/dev/null 2>&1; do
        w_n=$((w_n - 1))
        [ $w_n -le 0 ] && return 1
        sleep 0.1
    done
}
eq_ok() { if [ "$2" = "$3" ]; then echo "ok - $1"; else echo "not ok - $1"; echo "  got [$2] want [$3]" >&2; fi; }
ok_if() { n=$1; shift; if "$@"; then echo "ok - $n"; else echo "not ok - $n"; fi; }

# ---- flowsqld A: live queries, the archive --------------------------------
mkdir -p "$T/a/q" "$T/b/q"
cat >"$T/a/q/per_src.sql" <<'Q'
CREATE QUERY per_src AS SELECT srcip, count(*) AS flows, sum(packets) AS packets,
  sum(bytes) AS bytes, min(start) AS first FROM flows WINDOW 2s GROUP BY srcip
Q
cat >"$T/a/q/hop.sql" <<'Q'
CREATE QUERY hop AS SELECT dstport, count(*) AS flows, count(DISTINCT srcip) AS hosts
  FROM flows WHERE proto = 'tcp' WINDOW 4s SLIDE 2s GROUP BY dstport HAVING count(*) > 3
Q
A_HTTP=$(free_both_port)
A_IPFIX=$(free_both_port)
bg "$B/flowsqld" --listen 127.0.0.1 --http "127.0.0.1:$A_HTTP" --ipfix-port "$A_IPFIX" \
    --netflow-port 0 --sflow-port 0 --data-dir "$T/a/data" --queries-dir "$T/a/q" \
    --log-level warn --archive-flush 1s 2>>"$T/a.log"
A_PID=$LAST_PID
fs_up "$A_HTTP" || { echo "not ok - flowsqld A did not start"; cat "$T/a.log" >&2; exit 1; }
api() { # METHOD PATH [BODY] on A: body to $T/out, status in CODE
    CODE=$(curl -s -o "$T/out" -w '%{http_code}' -X "$1" ${3:+-d "$3"} \
        "http://127.0.0.1:$A_HTTP$2")
    cat "$T/out"
}
sql() { # statement [port] -> answer JSON
    jq -cn --arg s "$1" '{sql: $s}' >"$T/req.json"
    curl -s --data-binary @"$T/req.json" "http://127.0.0.1:${2:-$A_HTTP}/api/v1/sql"
}

# Flows: IPv4 over two domains, then IPv6, about 9 s of traffic.
"$B/flowgen" --udp "127.0.0.1:$A_IPFIX" --flows 12000 --rate 2000 --now \
    --sources 40 --domains 2 --seed 5 2>/dev/null
"$B/flowgen" --udp "127.0.0.1:$A_IPFIX" --flows 3000 --rate 1000 --now \
    --ipv6 --sources 10 --seed 6 2>/dev/null
archived() { [ "$(sql "SELECT count(*) FROM flows" "${2:-$A_HTTP}" | jq -r '.rows[0][0]')" = "$1" ]; }
ok_if "the archive holds the 15000 flows sent" wait_until 20 archived 15000
# The last live windows close and are stored: every window holding the
# last flow has ended (the hopping ones 4 s after their start) and passed
# the close delay (300 ms) by hi + 4.3 s; then a second for the store.
# (A fixed sleep here once let the last hopping window be stored between
# the reads of the live and the history rows below.)
hi_ms=$(date -d "$(sql "SELECT max(received) AS t FROM flows" | jq -r '.rows[0][0]')" +%s%3N)
while [ "$(date +%s%3N)" -lt $((hi_ms + 5500)) ]; do sleep 0.2; done
lo=$(sql "SELECT min(received) AS t FROM flows" | jq -r '.rows[0][0]')
hi=$(sql "SELECT max(received) AS t FROM flows" | jq -r '.rows[0][0]')
until=$(sql "SELECT max(received) + 1 AS t FROM flows" | jq -r '.rows[0][0]')

# ---- history ------------------------------------------------------------------
job_state() { curl -s "http://127.0.0.1:$A_HTTP/api/v1/jobs/$1" | jq -r .state; }
job_done() { s=$(job_state "$1"); [ "$s" != running ]; }
history() { # query -> job id, table in TABLE
    api POST "/api/v1/queries/$1/history" "{\"from\": \"$lo\", \"until\": \"$until\"}" >/dev/null
    HCODE=$CODE
    JOB=$(jq -r .id "$T/out")
    TABLE=$(jq -r .table "$T/out")
    END=$(jq -r .until "$T/out")     # the range's end, on the window grid
    wait_until 60 job_done "$JOB"
}
# rows of the windows the live run stored whole, in one text
rows_of() { # table live-query columns
    sql "SELECT window_start, $3 FROM $1 WHERE window_start IN (SELECT window_start FROM flowsql_windows WHERE tbl = '$2' AND partial = 0) ORDER BY window_start, $3" |
        jq -r '.rows[] | map(tostring) | join(" ")'
}
for q in per_src hop; do
    history $q
    eq_ok "history of $q: 202, the job ends done" "$HCODE $(job_state "$JOB")" "202 done"
    case $q in
    per_src) cols="ip_text(srcip), flows, packets, bytes, first" ;;
    hop) cols="dstport, flows, hosts" ;;
    esac
    rows_of "$q" "$q" "$cols" >"$T/live.$q"
    rows_of "$TABLE" "$q" "$cols" >"$T/hist.$q"
    nw=$(awk '{ print $1 }' "$T/live.$q" | sort -u | grep -c .)
    nr=$(grep -c . "$T/live.$q")
    if [ "$nw" -ge 3 ] && cmp -s "$T/live.$q" "$T/hist.$q"; then
        echo "ok - history of $q: the rows the live run stored, window for window ($nw whole windows, $nr rows)"
    else
        echo "not ok - history of $q: the rows the live run stored, window for window ($nw windows)"
        diff "$T/live.$q" "$T/hist.$q" | head -6 >&2
    fi
    # whole in the history too, but for a window reaching past the
    # range's end (a hopping window: the run cannot know what came after)
    hw=$(sql "SELECT count(*) FROM flowsql_windows WHERE tbl = '$TABLE' AND partial = 0 AND window_start IN (SELECT window_start FROM flowsql_windows WHERE tbl = '$q' AND partial = 0)" | jq -r '.rows[0][0]')
    lw=$(sql "SELECT count(*) FROM flowsql_windows WHERE tbl = '$q' AND partial = 0 AND window_end <= ms('$END')" | jq -r '.rows[0][0]')
    eq_ok "history of $q: the live run's whole windows up to the range's end are whole in the history ($lw)" "$hw" "$lw"
done
eq_ok "the table is named after the query and the range's start" \
    "$(echo "$TABLE" | sed 's/[0-9]*$//')" "hop__history_"
eq_ok "flowsql_tables marks it 'history', with no query writing to it" \
    "$(sql "SELECT kind, query FROM flowsql_tables WHERE name = '$TABLE'" | jq -c '.rows[0]')" '["history",null]'
eq_ok "the hopping window cut by the range's end is marked partial" \
    "$(sql "SELECT count(*) FROM flowsql_windows WHERE tbl = '$TABLE' AND partial = 1" | jq -r '.rows[0][0]')" "1"
n1=$(sql "SELECT count(*) FROM $TABLE" | jq -r '.rows[0][0]')
history hop
n2=$(sql "SELECT count(*) FROM $TABLE" | jq -r '.rows[0][0]')
eq_ok "a second run over the same range replaces its windows ($n1 rows)" "$n2" "$n1"
curl -s "http://127.0.0.1:$A_HTTP/api/v1/queries/$TABLE/results?limit=1" | jq -r '.[0].query' >"$T/r"
eq_ok "the results route reads the history table" "$(cat "$T/r")" "$TABLE"
api POST /api/v1/queries/nope/history "{\"from\": \"$lo\", \"until\": \"$until\"}" >/dev/null
eq_ok "history of an unknown query: 404" "$CODE" 404
api POST /api/v1/queries/per_src/history "{\"from\": \"$hi\", \"until\": \"$lo\"}" >/dev/null
eq_ok "an empty range: 400" "$CODE" 400
api POST /api/v1/queries/per_src/history "{\"from\": \"$lo\", \"until\": \"$until\", \"table\": \"hop\"}" >/dev/null
eq_ok "a history run into a running query's table: 409" "$CODE" 409
m=$(curl -s "http://127.0.0.1:$A_HTTP/metrics" | awk '/^flowsql_history_windows_total / { print $2 }')
ok_if "flowsql_history_windows_total counts the windows written ($m)" test "${m:-0}" -gt 0

# ---- IPFIX replay: into flowsqld B and nfcapd ---------------------------------
B_HTTP=$(free_both_port)
B_IPFIX=$(free_both_port)
bg "$B/flowsqld" --listen 127.0.0.1 --http "127.0.0.1:$B_HTTP" --ipfix-port "$B_IPFIX" \
    --netflow-port 0 --sflow-port 0 --data-dir "$T/b/data" --queries-dir "$T/b/q" \
    --log-level warn --archive-flush 1s 2>>"$T/b.log"
B_PID=$LAST_PID
fs_up "$B_HTTP" || { echo "not ok - flowsqld B did not start"; cat "$T/b.log" >&2; exit 1; }
oracle_start

replay() { # speed to [transport] -> elapsed ms of the job in ELAPSED
    "$B/flowsql" replay -q -u "http://127.0.0.1:$A_HTTP" --to "$2" --speed "$1" \
        ${3:+--tcp} >"$T/job.json" 2>"$T/job.err"
    RC=$?
    ELAPSED=$(jq -r .elapsed_ms "$T/job.json")
}
span=$(sql "SELECT max(received) - min(received) AS s FROM flows" | jq -r '.rows[0][0]')
replay 1 "127.0.0.1:$B_IPFIX"
eq_ok "flowsql replay --speed 1 to flowsqld B: done, every flow sent" \
    "$RC $(jq -r '.state, .flows_sent' "$T/job.json" | tr '\n' ' ')" "0 done 15000 "
echo "# original pace: $span ms of received time replayed in $ELAPSED ms"
ok_if "... at the original pace (${ELAPSED} ms for ${span} ms: within 0.9x-1.5x + 1 s)" \
    test "$ELAPSED" -ge $((span * 9 / 10)) -a "$ELAPSED" -le $((span * 3 / 2 + 1000))
replay 4 "127.0.0.1:$NF_PORT"
echo "# x4: $span ms of received time replayed in $ELAPSED ms"
ok_if "flowsql replay --speed 4 to nfcapd: a quarter of the time (${ELAPSED} ms: within 0.2x-0.5x + 1 s)" \
    test "$ELAPSED" -ge $((span / 5)) -a "$ELAPSED" -le $((span / 2 + 1000))

COLS="start, end, srcip, dstip, srcport, dstport, proto, tcpflags, tos, packets, bytes, ingress, egress, srcas, dstas, srcmask, dstmask, direction, nexthop, vlan"
flows_of() { # port [extra columns]: every flow, sorted, one line each
    jq -cn --arg s "SELECT $COLS${2:+, $2} FROM flows" '{sql: $s}' >"$T/req.json"
    curl -s -H 'Accept: text/csv' --data-binary @"$T/req.json" \
        "http://127.0.0.1:$1/api/v1/sql" | tail -n +2 | tr -d '\r' | sort
}
ok_if "flowsqld B archived the 15000 flows" wait_until 20 archived 15000 "$B_HTTP"
flows_of "$A_HTTP" "sampling, domain" >"$T/fa"
flows_of "$B_HTTP" "sampling, domain" >"$T/fb"
if [ "$(grep -c . "$T/fa")" = 15000 ] && cmp -s "$T/fa" "$T/fb"; then
    echo "ok - flowsqld B received the archived flows field for field (15000, IPv4 and IPv6, 3 domains)"
else
    echo "not ok - flowsqld B received the archived flows field for field"
    diff "$T/fa" "$T/fb" | head -6 >&2
fi
lost=$(curl -s "http://127.0.0.1:$B_HTTP/metrics" | awk '/^flowsql_ingest_(records_lost|decode_errors|unknown_template)_total\{/ { n += $2 } END { print n + 0 }')
eq_ok "... no sequence gap, no decode error, no unknown template" "$lost" 0

# nfcapd: nfdump -o csv against the archive, as archive_query.sh compares
sleep 1
stop_pid "$NF_PID"
TZ=UTC nfdump -R "$T/nf" -q -o csv >"$T/nf.csv" 2>/dev/null
TZ=UTC nfdump -R "$T/nf" -q -o 'fmt:%ts|%te' >"$T/nf.times" 2>/dev/null
python3 -c '
import calendar, csv, sys, time
protos = {"TCP": 6, "UDP": 17, "ICMP": 1, "ICMP6": 58, "GRE": 47, "ESP": 50}
def ms(t):
    d, tm = t.strip().split()
    main, _, frac = tm.partition(".")
    return calendar.timegm(time.strptime(d + " " + main, "%Y-%m-%d %H:%M:%S")) * 1000 + int((frac + "000")[:3])
def flags(s):
    bits = {"C": 128, "E": 64, "U": 32, "A": 16, "P": 8, "R": 4, "S": 2, "F": 1}
    return sum(bits[c] for c in s if c in bits)
names = "ts,te,td,sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt,opkt,obyt,in,out,sas,das,smk,dmk,dtos,dir,nh,nhb,svln,dvln".split(",")
times = [l.split("|") for l in open(sys.argv[2]) if "|" in l]
out = []
for f, t in zip(csv.reader(open(sys.argv[1])), times):
    if len(f) < 27:
        continue
    x = dict(zip(names, f))
    pr = protos.get(x["pr"].strip(), x["pr"].strip())
    out.append(" ".join(str(v) for v in [ms(t[0]), ms(t[1]), x["sa"], x["da"],
        x["sp"], x["dp"], pr, flags(x["flg"]), x["stos"], x["ipkt"], x["ibyt"],
        x["in"], x["out"], x["sas"], x["das"], x["smk"], x["dmk"], x["dir"],
        "::" if x["nh"] in ("0.0.0.0", "::") else x["nh"], x["svln"]]))
print("\n".join(sorted(out)))' "$T/nf.csv" "$T/nf.times" >"$T/fn"
jq -cn --arg s "SELECT $COLS FROM flows" '{sql: $s}' >"$T/req.json"
curl -s -H 'Accept: text/csv' --data-binary @"$T/req.json" "http://127.0.0.1:$A_HTTP/api/v1/sql" |
    python3 -c '
import calendar, csv, sys, time
def ms(t):
    main, _, frac = t.rstrip("Z").partition(".")
    return calendar.timegm(time.strptime(main, "%Y-%m-%dT%H:%M:%S")) * 1000 + int((frac + "000")[:3])
r = csv.reader(sys.stdin)
next(r)
print("\n".join(sorted(" ".join([str(ms(f[0])), str(ms(f[1]))] + f[2:]) for f in r if f)))' >"$T/fo"
if [ "$(grep -c . "$T/fn")" = 15000 ] && cmp -s "$T/fo" "$T/fn"; then
    echo "ok - nfcapd received the archived flows field for field as nfdump -o csv shows them (15000)"
else
    echo "not ok - nfcapd received the archived flows field for field ($(grep -c . "$T/fn") of 15000)"
    diff "$T/fo" "$T/fn" | head -6 >&2
fi

# over TCP, a selection: flowsqld B gets it once more
n=$(sql "SELECT count(*) FROM flows WHERE dstport = 443" | jq -r '.rows[0][0]')
"$B/flowsql" replay -q -u "http://127.0.0.1:$A_HTTP" --to "127.0.0.1:$B_IPFIX" --tcp \
    --speed max WHERE dstport = 443 >"$T/job.json" 2>"$T/job.err"
eq_ok "flowsql replay --tcp of a selection (dstport = 443): done, $n flows" \
    "$(jq -r '.state, .flows_sent' "$T/job.json" | tr '\n' ' ')" "done $n "
ok_if "... flowsqld B archived them as well" wait_until 20 archived $((15000 + n)) "$B_HTTP"

# cancel, refusals
api POST /api/v1/archive/replay "{\"to\": \"127.0.0.1:$B_IPFIX\", \"speed\": 0.01}" >/dev/null
id=$(jq -r .id "$T/out")
eq_ok "a slow replay starts (202)" "$CODE" 202
api DELETE "/api/v1/jobs/$id" >/dev/null
eq_ok "DELETE /jobs/{id} (202)" "$CODE" 202
ok_if "... the job ends cancelled" wait_until 5 sh -c "curl -s http://127.0.0.1:$A_HTTP/api/v1/jobs/$id | grep -q '\"state\":\"cancelled\"'"
api POST /api/v1/archive/replay '{"to": "192.0.2.1:4739"}' >/dev/null
eq_ok "a destination outside --replay-allow: 403" "$CODE" 403
api POST /api/v1/archive/replay '{"to": "localhost:4739"}' >/dev/null
eq_ok "a host name: 400" "$CODE" 400
api POST /api/v1/archive/replay "{\"to\": \"127.0.0.1:$B_IPFIX\", \"flows\": \"GROUP BY srcip\"}" >/dev/null
eq_ok "a selection with GROUP BY: 400" "$CODE" 400
api GET /api/v1/jobs >/dev/null
eq_ok "GET /jobs lists them all, newest first" "$(jq -r '[.jobs[].kind] | join(",")' "$T/out")" \
    "replay,replay,replay,replay,history,history,history"
exit 0
