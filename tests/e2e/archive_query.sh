#!/bin/sh
# archive_query.sh - queries over the archive against nfdump, on flows of
# real exporters.
#
# softflowd exports a mkpcap capture as IPFIX (milliseconds: nfdump reads
# them right) and as NetFlow v9; each export is captured once and
# replayed to flowsqld (archive on, row groups every second) and to
# nfcapd. Then, over REST (POST /api/v1/sql, CSV):
#   - every flow of the archive, field for field, equals what
#     `nfdump -r ... -o csv` shows (times to the ms from nfdump's fmt);
#   - per-host and per-port queries equal nfdump's filters ('src host X',
#     'host X', 'dst port 80 and proto tcp', 'net N');
#   - top talkers equal nfdump -A srcip;
#   - a stored detection's rows joined to the raw flows behind them (the
#     SQLite table flows) count exactly the flows each row counted;
#   - EXPLAIN ANALYZE shows what was read and skipped; the shell and
#     flowsql -c give the same answer; the row and byte limits cut and say so.
# It needs the archive writer (i15-archive) and nfdump/softflowd
# (make deps-test).

. "$(dirname "$0")/lib/ingest.sh"

for c in softflowd nfcapd nfdump jq; do
    if ! command -v $c >/dev/null; then
        echo "not ok - $c is not installed (make deps-test)"
        exit 1
    fi
done

"$B/tools/mkpcap" "$T/traffic.pcap" --hosts 300 --flows 3000 2>/dev/null
CAP_IDLE_MS=800

# flowsqld with the archive writing a row group every second, and a
# detection-like query stored every 2 seconds.
fsa_start() { # extra args...
    mkdir -p "$T/fsa/q"
    echo "CREATE QUERY per_src AS SELECT srcip, count(*) AS flows,
          sum(bytes) AS bytes FROM flows WINDOW 2s GROUP BY srcip" \
        >"$T/fsa/q/per_src.sql"
    FS_HTTP=$(free_both_port)
    FS_IPFIX_PORT=$(free_both_port)
    FS_NETFLOW_PORT=$(free_udp_port)
    bg "$B/flowsqld" --listen 127.0.0.1 --http "127.0.0.1:$FS_HTTP" \
        --ipfix-port "$FS_IPFIX_PORT" --netflow-port "$FS_NETFLOW_PORT" --sflow-port 0 \
        --data-dir "$T/fsa/data" --queries-dir "$T/fsa/q" --log-level warn \
        --archive-flush 1s "$@" 2>>"$T/fsa.log"
    FS_PID=$LAST_PID
    fs_up "$FS_HTTP" || { echo "# flowsqld did not start" >&2; cat "$T/fsa.log" >&2; return 1; }
}

sql() { # statement [csv]: POST /api/v1/sql; sets CODE
    body=$(jq -cn --arg s "$1" '{sql: $s}')
    CODE=$(curl -s -o "$T/sql.out" -w '%{http_code}' \
        ${2:+-H 'Accept: text/csv'} -d "$body" \
        "http://127.0.0.1:$FS_HTTP/api/v1/sql")
    cat "$T/sql.out"
}

COLS="start, end, srcip, dstip, srcport, dstport, proto, tcpflags, tos, packets, bytes, ingress, egress, srcas, dstas, srcmask, dstmask, direction, nexthop, vlan, exporter"

# flowsql's CSV answer as "field field ..." lines, times in ms, sorted
ours() { # where-clause
    sql "SELECT $COLS FROM flows ${1:+WHERE $1}" csv >/dev/null
    python3 -c '
import calendar, csv, sys, time
def ms(t):
    main, _, frac = t.rstrip("Z").partition(".")
    return calendar.timegm(time.strptime(main, "%Y-%m-%dT%H:%M:%S")) * 1000 + int((frac + "000")[:3])
r = csv.reader(open(sys.argv[1]))
next(r)
out = []
for f in r:
    if f and f[0].startswith("#"):
        print("ERROR", f, file=sys.stderr); continue
    out.append(" ".join([str(ms(f[0])), str(ms(f[1]))] + f[2:]))
print("\n".join(sorted(out)))' "$T/sql.out"
}

# nfdump's flows in the same order of fields: -o csv for the fields,
# fmt %ts %te for the times in ms (its csv has whole seconds)
theirs() { # filter
    TZ=UTC nfdump -R "$T/nf" -q -o csv ${1:+"$1"} >"$T/nf.csv" 2>/dev/null
    TZ=UTC nfdump -R "$T/nf" -q -o 'fmt:%ts|%te' ${1:+"$1"} >"$T/nf.times" 2>/dev/null
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
h = csv.reader(["ts,te,td,sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt,opkt,obyt,in,out,sas,das,smk,dmk,dtos,dir,nh,nhb,svln,dvln"])
names = next(h)
out = []
times = [l.split("|") for l in open(sys.argv[2]) if "|" in l]
for f, t in zip(csv.reader(open(sys.argv[1])), times):
    if len(f) < 27:
        continue
    x = dict(zip(names, f))
    pr = protos.get(x["pr"].strip(), x["pr"].strip())
    out.append(" ".join(str(v) for v in [ms(t[0]), ms(t[1]), x["sa"], x["da"],
        x["sp"], x["dp"], pr, flags(x["flg"]), x["stos"], x["ipkt"], x["ibyt"],
        x["in"], x["out"], x["sas"], x["das"], x["smk"], x["dmk"], x["dir"],
        "::" if x["nh"] == "0.0.0.0" else x["nh"], x["svln"], f[44]]))
print("\n".join(sorted(out)))' "$T/nf.csv" "$T/nf.times"
}

cmp_same() { # name ours theirs
    n=$(grep -c . "$3")
    if [ "$n" -gt 0 ] && cmp -s "$2" "$3"; then
        echo "ok - $1 ($n flows, every field the same)"
    else
        echo "not ok - $1"
        echo "# flowsql (<) vs nfdump (>): $(grep -c . "$2") vs $n flows" >&2
        diff "$2" "$3" | grep '^[<>]' | head -6 >&2
    fi
}

# Wait until the archive holds n flows (row groups are written every 1 s).
wait_archive() { # n
    i=0
    while [ $i -lt 150 ]; do
        got=$(sql "SELECT count(*) FROM flows" | jq -r '.rows[0][0]' 2>/dev/null)
        [ "$got" = "$1" ] && return 0
        sleep 0.2
        i=$((i + 1))
    done
    echo "# the archive holds $got flows, nfdump $1" >&2
    return 1
}

export_case() { # name port-kind softflowd-args...
    name=$1 kind=$2
    shift 2
    capture_udp "$T/$name.pcap"
    softflowd -r "$T/traffic.pcap" -a -n "127.0.0.1:$CAP_PORT" -d \
        -p "$T/sf.pid" -c none "$@" >"$T/softflowd.log" 2>&1
    capture_wait 2>/dev/null
    rm -rf "$T/fsa"
    fsa_start || return 1
    oracle_start
    if [ "$kind" = ipfix ]; then port=$FS_IPFIX_PORT; else port=$FS_NETFLOW_PORT; fi
    replay_to_both "$T/$name.pcap" "$port"
    sleep 0.5
    stop_pid "$NF_PID"
    total=$(TZ=UTC nfdump -R "$T/nf" -q -o csv 2>/dev/null | grep -c .)
    if wait_archive "$total"; then
        echo "ok - $name: the archive holds every flow nfcapd got ($total)"
    else
        echo "not ok - $name: the archive holds every flow nfcapd got"
    fi

    ours >"$T/o.all"
    theirs >"$T/t.all"
    if [ "$kind" = netflow ]; then
        # nfdump 1.7.1 reads the ICMPv6 type and code of a NetFlow v9
        # record as 0 (its IPFIX reading and flowsql give type*256+code):
        # compare those fields apart.
        n6=$(awk '$7 == 58 && $6 > 0' "$T/o.all" | grep -c .)
        z6=$(awk '$7 == 58' "$T/t.all" | grep -c .)
        if [ "$n6" -gt 0 ] && [ "$n6" = "$z6" ]; then
            echo "ok - $name: ICMPv6 type and code in every ICMPv6 flow ($n6; nfdump reads 0)"
        else
            echo "not ok - $name: ICMPv6 type and code ($n6 of $z6)"
        fi
        awk '$7 == 58 { $6 = 0 } { print }' "$T/o.all" | sort >"$T/o.all6"
        mv "$T/o.all6" "$T/o.all"
    fi
    cmp_same "$name: every flow field for field as nfdump -o csv" "$T/o.all" "$T/t.all"

    # hosts: the busiest source, one from the middle, an IPv6 one
    top=$(awk '{ print $3 }' "$T/t.all" | sort | uniq -c | sort -rn | awk 'NR == 1 { print $2 }')
    mid=$(awk '{ print $3 }' "$T/t.all" | sort -u | awk 'NR == 40')
    v6=$(awk '$3 ~ /:/ { print $3 }' "$T/t.all" | sort -u | head -1)
    for h in $top $mid $v6; do
        ours "srcip = $h" >"$T/o.h"
        theirs "src host $h" >"$T/t.h"
        cmp_same "$name: srcip = $h as nfdump 'src host $h'" "$T/o.h" "$T/t.h"
        ours "srcip = $h OR dstip = $h" >"$T/o.h"
        theirs "host $h" >"$T/t.h"
        cmp_same "$name: srcip = $h OR dstip = $h as nfdump 'host $h'" "$T/o.h" "$T/t.h"
    done
    ours "dstport = 80 AND proto = 'tcp'" >"$T/o.p"
    theirs "dst port 80 and proto tcp" >"$T/t.p"
    cmp_same "$name: a port as nfdump 'dst port 80 and proto tcp'" "$T/o.p" "$T/t.p"
    ours "srcip IN 10.1.0.0/25 OR dstip IN 10.1.0.0/25" >"$T/o.n"
    theirs "net 10.1.0.0/25" >"$T/t.n"
    cmp_same "$name: a network as nfdump 'net 10.1.0.0/25'" "$T/o.n" "$T/t.n"

    # top talkers by bytes: nfdump -A srcip
    sql "SELECT srcip, count(*) AS flows, sum(bytes) AS bytes FROM flows LAST 1h GROUP BY srcip ORDER BY bytes DESC, srcip LIMIT 20" |
        jq -r '.rows[] | map(tostring) | join(" ")' >"$T/o.top"
    TZ=UTC nfdump -R "$T/nf" -q -A srcip -o 'fmt:%sa %fl %byt' -N 2>/dev/null |
        awk '{ print $1, $2, $3 }' | sort -k3,3nr -k1,1 | head -20 >"$T/t.top"
    # ties of bytes: order both by bytes, then address text
    sort -k3,3nr -k1,1 "$T/o.top" >"$T/o.top2"
    cmp_same "$name: top talkers of the last hour as nfdump -A srcip" "$T/o.top2" "$T/t.top"
}

export_case ipfix-millis ipfix -v 10 -A milli
export_case netflow-v9 netflow -v 9

# ---- the same archive through the other doors ---------------------------

# EXPLAIN ANALYZE: what was read and skipped
body=$(jq -cn --arg s "EXPLAIN ANALYZE SELECT count(*) FROM flows LAST 1h WHERE srcip = $top" '{sql: $s}')
plan=$(curl -s -d "$body" "http://127.0.0.1:$FS_HTTP/api/v1/explain" | jq -r .plan)
case $plan in
*"pushdown   received BETWEEN"*"srcip = $top (bloom filters, zone maps)"*"row groups: "*"flows: "*"rows out: 1"*)
    echo "ok - EXPLAIN ANALYZE shows the pushdown and what was read" ;;
*) echo "not ok - EXPLAIN ANALYZE shows the pushdown and what was read"; echo "$plan" >&2 ;;
esac

# the answer says what the scan read
n=$(sql "SELECT srcip FROM flows WHERE srcip = $top" | jq '.scan.flows_matched')
m=$(grep -c " $top " "$T/t.all" | head -1)
m=$(awk -v h="$top" '$3 == h' "$T/t.all" | grep -c .)
eq_ok() { if [ "$2" = "$3" ]; then echo "ok - $1"; else echo "not ok - $1 (got [$2] want [$3])"; fi; }
eq_ok "the JSON answer's scan member counts the flows matched" "$n" "$m"

# a WINDOW query is not a query over the archive
sql "SELECT count(*) FROM flows WINDOW 1m" >/dev/null
eq_ok "POST /sql refuses a SELECT with WINDOW (400)" "$CODE" 400
case $(cat "$T/sql.out") in
*"a query with WINDOW runs on the live stream"*) echo "ok - ... saying why" ;;
*) echo "not ok - ... saying why"; cat "$T/sql.out" >&2 ;;
esac
# SQLite's SQL still goes to SQLite
eq_ok "SELECT 1 still goes to SQLite" "$(sql 'SELECT 1 AS one' | jq -c .rows)" "[[1]]"

# the shell and flowsql -c: the same count
c1=$("$B/flowsql" -X -q -F csv -u "http://127.0.0.1:$FS_HTTP" -c "SELECT count(*) AS n FROM flows WHERE srcip = $top OR dstip = $top" | tail -1)
c2=$(awk -v h="$top" '$3 == h || $4 == h' "$T/t.all" | grep -c .)
eq_ok "flowsql -c runs a query over the archive" "$c1" "$c2"
c3=$(printf 'SELECT count(*) AS n FROM flows\n  WHERE srcip = %s;\n' "$top" | "$B/flowsql" -X -q -F csv -u "http://127.0.0.1:$FS_HTTP" | tail -1)
eq_ok "the shell runs a query over the archive" "$c3" "$m"

# a stored detection joined to the flows behind it: every stored row
# counted exactly the flows the archive has for its source and window
sleep 3   # the last 2 s window closes and is stored
j=$(sql "SELECT count(*) AS rows, sum(s.flows = n) AS same, sum(s.flows) AS flows FROM (
           SELECT s.window_start, s.srcip, s.flows, count(f.srcip) AS n
             FROM per_src s LEFT JOIN flows f ON f.srcip = s.srcip
              AND f.received >= s.window_start AND f.received < s.window_end
            GROUP BY s.window_start, s.srcip) s" | jq -c '.rows[0]')
rows=$(echo "$j" | jq '.[0]')
eq_ok "stored rows joined to their flows: each counted exactly its flows ($rows rows)" \
    "$(echo "$j" | jq '.[1]')" "$rows"
eq_ok "... and together every flow" "$(echo "$j" | jq '.[2]')" "$total"
[ "$rows" -gt 10 ] && echo "ok - ... over many stored rows" || echo "not ok - ... over many stored rows ($rows)"

# the limits: rows and bytes cut the answer and say so
stop_pid "$FS_PID"
fsa_start --adhoc-rows 50 --adhoc-bytes 2000
r=$(sql "SELECT srcip FROM flows")
eq_ok "--adhoc-rows cuts an answer over the archive" "$(echo "$r" | jq '.rows | length'),$(echo "$r" | jq .truncated)" "50,true"
r=$(sql "SELECT start, srcip, dstip, bytes FROM flows LIMIT 45")
len=${#r}
t=$(echo "$r" | jq .truncated)
nr=$(echo "$r" | jq '.rows | length')
if [ "$len" -le 2000 ] && [ "$t" = true ] && [ "$nr" -lt 45 ]; then
    echo "ok - --adhoc-bytes cuts an answer over the archive ($len bytes)"
else
    echo "not ok - --adhoc-bytes cuts an answer over the archive ($len bytes, truncated $t)"
fi
r=$(sql "SELECT srcip, count(*) FROM flows GROUP BY srcip" csv)
eq_ok "CSV answers over the archive" "$(printf '%s\n' "$r" | head -1 | tr -d '\r')" "srcip,count"
stop_pid "$FS_PID"
