#!/bin/sh
# archive.sh - the raw-flow archive of a real flowsqld (docs/ARCHIVE.md),
# on real files:
#   - softflowd's IPFIX export, replayed over UDP, comes out of the
#     archive field for field as our decoder reads the same datagrams
#     (ingest_agg --records), and per source as nfdump -A srcip counts it;
#   - flowgen over UDP: one file per --archive-period, every flow of a
#     file received inside its partition, flows sent = flows archived;
#   - retention and the size cap delete whole files only (every file left
#     reads whole);
#   - kill -9 while writing: after a restart the open file is recovered
#     (counted), every file reads, flows sent = archived + counted drops;
#   - a full disk (a small tmpfs, else a file size limit): write errors
#     counted, flows written + dropped = flows received, the engine keeps
#     up and the daemon keeps running.
# Flows from --read and replays are not archived (test_archive covers
# FLOW_BATCH_REPLAY).

. "$(dirname "$0")/lib.sh"

metric() { # NAME: the sum of a metric's samples (all labels)
    curl -s "http://$HTTP/metrics" |
        awk -v m="$1" '$1 == m || index($1, m "{") == 1 { s += $2 } END { printf "%d\n", s }'
}

# metric_ge NAME VALUE: the metric has reached VALUE
metric_ge() { [ "$(metric "$1")" -ge "$2" ]; }

# settled: every flow received is written or counted as dropped by the
# archive, nothing is queued (twice, 0.3 s apart)
settled_once() {
    curl -s "http://$HTTP/metrics" | awk '
        /^flowsql_ingest_records_total\{/ { r += $2 }
        /^flowsql_archive_(flows_written|dropped_flows)_total / { a += $2 }
        /^flowsql_(archive_queue_flows|engine_queue_batches) / { q += $2 }
        END { exit !(r > 0 && a == r && q == 0) }'
}
settled() { settled_once && sleep 0.3 && settled_once; }

# lost: flows counted as lost on the way: socket (sequence gaps), engine
# queue, archive
lost() {
    echo $(( $(metric flowsql_ingest_records_lost_total) + \
             $(metric flowsql_ingest_queue_drops_total) + \
             $(metric flowsql_archive_dropped_flows_total) ))
}

# every archive file under $1 reads whole with pqtool (row count printed)
all_readable() {
    find "$1" -name '*.parquet' | while read -r f; do
        "$B/tools/pqtool" meta "$f" >/dev/null 2>&1 || { echo "unreadable $f"; }
    done | grep -q unreadable && return 1
    return 0
}

archived() { # DIR: flows in the archive under DIR
    "$B/tools/arscan" "$1" --count
}

FLOWGEN=$B/flowgen

# ---- 1. softflowd, field for field ------------------------------------------

"$B/tools/mkpcap" "$T/traffic.pcap" --hosts 200 --flows 2000 2>/dev/null
CAP_PORT_FILE=$T/cap.port
"$B/tools/capture" --udp 0 --out "$T/sf.pcap" --ports-file "$CAP_PORT_FILE" \
    --idle-ms 800 --max-s 60 2>"$T/capture.log" &
CAP_PID=$!
PIDS="$PIDS $CAP_PID"
wait_until 10 test -s "$CAP_PORT_FILE"
read -r CAP_PORT <"$CAP_PORT_FILE"
softflowd -r "$T/traffic.pcap" -a -n "127.0.0.1:$CAP_PORT" -d \
    -p "$T/sf.pid" -c none -v 10 >"$T/softflowd.log" 2>&1
wait "$CAP_PID"

NF_PORT=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$T/nf"
nfcapd -w "$T/nf" -p "$NF_PORT" -b 127.0.0.1 -B 8000000 -t 3600 \
    >"$T/nfcapd.log" 2>&1 &
NF_PID=$!
PIDS="$PIDS $NF_PID"
# our decoder alone, on the same datagrams: what the archive must hold
"$B/tools/ingest_agg" --ipfix-port 0 --tcp-port -1 --netflow-port 0 \
    --ports-file "$T/agg.ports" --records --idle-ms 1500 --max-s 60 \
    >"$T/agg.out" 2>"$T/agg.log" &
AGG=$!
PIDS="$PIDS $AGG"
wait_until 10 test -s "$T/agg.ports"
read -r AGG_PORT _ <"$T/agg.ports"
start_flowsqld --archive-flush 200ms --log-level warn
sleep 0.3
"$B/tools/replay" "$T/sf.pcap" --to "127.0.0.1:$IPFIX" \
    --to "127.0.0.1:$NF_PORT" --to "127.0.0.1:$AGG_PORT" --pps 2000 \
    2>>"$T/replay.log"
wait "$AGG"
sort "$T/agg.out" >"$T/want"
n=$(wc -l <"$T/want")
wait_until 20 metric_ge flowsql_archive_flows_written_total "$n"
stop_flowsqld
eq "softflowd: flowsqld stopped cleanly" "$STATUS" 0
A=$T/run/data/archive
eq "softflowd: no file left open after a clean stop" \
    "$(find "$A" -name '*.open' -o -name '*.journal' | wc -l)" 0
"$B/tools/arscan" "$A" | sort >"$T/got"
if [ "$n" -gt 1000 ] && cmp -s "$T/got" "$T/want"; then
    ok "softflowd: $n flows out of the archive field for field as decoded"
else
    fail "softflowd: archive differs from the decoded flows" \
        "$(wc -l <"$T/got") vs $n lines; $(diff "$T/got" "$T/want" | head -5)"
fi
# per source, against nfdump's own decoding of the same datagrams
sleep 0.5
kill "$NF_PID"; wait "$NF_PID" 2>/dev/null
TZ=UTC nfdump -R "$T/nf" -A srcip -o 'fmt:%sa %fl %pkt %byt %ts %te' -q -N \
    2>/dev/null | python3 -c '
import calendar, sys, time
def ms(d, t):
    main, _, frac = t.partition(".")
    s = calendar.timegm(time.strptime(d + " " + main, "%Y-%m-%d %H:%M:%S"))
    return s * 1000 + int((frac + "000")[:3])
for line in sys.stdin:
    f = line.split()
    if len(f) == 8:
        print(*f[:4])' | sort >"$T/nf.rows"
awk -F'\t' '{ f[$1]++; p[$1] += $6; b[$1] += $7 }
    END { for (k in f) print k, f[k], p[k], b[k] }' "$T/got" | sort >"$T/fs.rows"
if [ -s "$T/nf.rows" ] && cmp -s "$T/fs.rows" "$T/nf.rows"; then
    ok "softflowd: archive per source = nfdump -A srcip ($(wc -l <"$T/nf.rows") sources)"
else
    fail "softflowd: archive per source differs from nfdump" \
        "$(diff "$T/fs.rows" "$T/nf.rows" | head -5)"
fi

# ---- 2. flowgen: rotation by period --------------------------------------------

rm -rf "$T/run"
start_flowsqld --archive-period 1s --archive-flush 200ms --log-level warn
"$FLOWGEN" --udp "127.0.0.1:$IPFIX" --flows 40000 --rate 10000 --now \
    --sources 500 2>/dev/null
wait_until 20 metric_ge flowsql_archive_flows_written_total 40000
recv=$(metric flowsql_ingest_records_total)
stop_flowsqld
A=$T/run/data/archive
files=$(find "$A" -name 'flows-*.parquet' | wc -l)
check "rotation: one file a second over 4 s ($files files)" test "$files" -ge 4
eq "rotation: flows archived = flows sent" "$(archived "$A")" 40000
eq "rotation: flows received = flows sent" "$recv" 40000
# every flow of a file was received inside its partition [start, start + 1s)
bad=0
for f in $(find "$A" -name 'flows-*.parquet'); do
    s=$(basename "$f" | sed 's/flows-\([0-9]*\)-\([0-9]*\).*/\1 \2/')
    start=$(TZ=UTC date -d "$(echo "$s" | sed 's/\(....\)\(..\)\(..\) \(..\)\(..\)\(..\)/\1-\2-\3 \4:\5:\6/')" +%s)000
    "$B/tools/pqtool" meta "$f" | awk -v s="$start" '
        $1 == "received" && ($2 < s || $3 >= s + 1000) { bad = 1 }
        END { exit bad }' || bad=$((bad + 1))
done
eq "rotation: every file's received times inside its partition" "$bad" 0

# ---- 3. retention and the size cap ------------------------------------------------

rm -rf "$T/run"
start_flowsqld --archive-period 1s --archive-flush 200ms \
    --archive-retention 3s --log-level warn
"$FLOWGEN" --udp "127.0.0.1:$IPFIX" --flows 35000 --rate 5000 --now \
    --sources 500 2>/dev/null
sleep 1.5
del=$(metric 'flowsql_archive_deleted_files_total')
check "retention: old files deleted ($del)" test "$del" -ge 2
stop_flowsqld
A=$T/run/data/archive
check "retention: every file left reads whole" all_readable "$A"
now=$(date +%s)
old=0
for f in $(find "$A" -name 'flows-*.parquet'); do
    s=$(basename "$f" | sed 's/flows-\(....\)\(..\)\(..\)-\(..\)\(..\)\(..\).*/\1-\2-\3 \4:\5:\6/')
    t=$(TZ=UTC date -d "$s" +%s)
    [ $((now - t)) -gt 8 ] && old=$((old + 1))
done
eq "retention: no file older than the retention (+ checks) left" "$old" 0

rm -rf "$T/run"
start_flowsqld --archive-period 1s --archive-flush 200ms \
    --archive-max-size 150k --log-level warn
"$FLOWGEN" --udp "127.0.0.1:$IPFIX" --flows 60000 --rate 15000 --now \
    --sources 20000 2>/dev/null
sleep 1.5
del=$(metric 'flowsql_archive_deleted_files_total{reason="cap"}')
check "cap: files deleted for the cap ($del)" test "$del" -ge 1
stop_flowsqld
A=$T/run/data/archive
size=$(find "$A" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
check "cap: the archive within the cap after the stop ($size bytes)" \
    test "$size" -le 153600
check "cap: every file left reads whole" all_readable "$A"
check "cap: no .open or .journal left" \
    test "$(find "$A" -name '*.open' -o -name '*.journal' | wc -l)" -eq 0

# ---- 4. kill -9 while writing -------------------------------------------------------

rm -rf "$T/run"
start_flowsqld --archive-period 1h --archive-flush 300ms --log-level warn
"$FLOWGEN" --udp "127.0.0.1:$IPFIX" --flows 30000 --rate 20000 --now 2>/dev/null
wait_until 20 settled
lost1=$(lost)
kill -9 "$FLOWSQLD"; wait "$FLOWSQLD" 2>/dev/null
T1=$(date +%s%3N)
A=$T/run/data/archive
eq "kill -9: the file was left open" "$(find "$A" -name '*.parquet.open' | wc -l)" 1
start_flowsqld --archive-period 1h --archive-flush 300ms --log-level warn
eq "kill -9: the open file recovered at start" \
    "$(metric flowsql_archive_recoveries_total)" 1
eq "kill -9: flows sent = archived + counted drops" \
    "$("$B/tools/arscan" "$A" --count --received "0,$T1")" "$((30000 - lost1))"
# a second kill while flowgen is sending
"$FLOWGEN" --udp "127.0.0.1:$IPFIX" --flows 60000 --rate 20000 --now \
    --seed 2 2>/dev/null &
GEN=$!
sleep 1.5
w=$(metric flowsql_archive_flows_written_total)
kill -9 "$FLOWSQLD"; wait "$FLOWSQLD" 2>/dev/null
wait "$GEN"
start_flowsqld --archive-period 1h --archive-flush 300ms --log-level warn
rec=$(metric flowsql_archive_recoveries_total)
stop_flowsqld
eq "kill -9 while sending: recovered at the next start" "$rec" 1
check "kill -9: every file reads whole" all_readable "$A"
n2=$("$B/tools/arscan" "$A" --count --received "$T1,9999999999999")
check "kill -9 while sending: every row group flushed before the kill kept ($w <= $n2 <= 60000)" \
    test "$w" -gt 0 -a "$w" -le "$n2" -a "$n2" -le 60000
eq "kill -9: the first run's flows still all there" \
    "$("$B/tools/arscan" "$A" --count --received "0,$T1")" "$((30000 - lost1))"

# ---- 5. a full disk -----------------------------------------------------------------

rm -rf "$T/run"
mkdir -p "$T/run/data"
MOUNTED=
if [ "$(id -u)" = 0 ] && mount -t tmpfs -o size=3m tmpfs "$T/run/data" 2>/dev/null; then
    MOUNTED=1
    how="a 3 MiB tmpfs"
    start_flowsqld --archive-period 1h --archive-flush 200ms \
        --archive-max-size 0 --log-level warn
else
    how="ulimit -f 3072"
    ulimit -f 3072
    start_flowsqld --archive-period 1h --archive-flush 200ms \
        --archive-max-size 0 --log-level warn
    ulimit -f unlimited 2>/dev/null
fi
mkdir -p "$T/run/queries"
api POST /api/v1/queries '{"name":"n","sql":"SELECT count(*) AS n FROM flows WINDOW 1s"}' >/dev/null
"$FLOWGEN" --udp "127.0.0.1:$IPFIX" --flows 400000 --rate 50000 --now \
    --sources 100000 --dests 100000 --seed 3 2>/dev/null
wait_until 30 settled
eq "full disk: flows sent = archived + counted drops" \
    "$(( $(metric flowsql_archive_flows_written_total) + $(lost) ))" 400000
recv=$(metric flowsql_ingest_records_total)
wr=$(metric flowsql_archive_flows_written_total)
dr=$(metric flowsql_archive_dropped_flows_total)
werr=$(metric flowsql_archive_write_errors_total)
seen=$(metric flowsql_query_flows_total)
check "full disk ($how): write errors counted ($werr)" test "$werr" -ge 1
eq "full disk: flows written + dropped = flows received" "$((wr + dr))" "$recv"
eq "full disk: the engine saw every flow received" "$seen" "$recv"
check "full disk: the daemon still answers" curl -sf -o /dev/null "http://$HTTP/healthz"
stop_flowsqld
check "full disk: the daemon stopped cleanly" test "$STATUS" -eq 0
eq "full disk: the files hold the flows counted written" \
    "$(archived "$T/run/data/archive")" "$wr"
[ -n "$MOUNTED" ] && umount "$T/run/data"

# ---- 6. bad options: a clear error, no start --------------------------------------

bad_option() { # NAME EXPECTED-TEXT OPTION...
    name=$1 want=$2
    shift 2
    out=$("$B/flowsqld" --http off --ipfix-port 0 --netflow-port 0 --sflow-port 0 \
        --data-dir "$T/bad" --queries-dir "$T/bad/q" "$@" 2>&1)
    rc=$?
    if [ $rc -ne 0 ] && echo "$out" | grep -qF -- "$want"; then
        ok "bad option: $name"
    else
        fail "bad option: $name" "rc $rc: $out"
    fi
}
bad_option "--archive maybe" "--archive: 'maybe' is not on or off" --archive maybe
bad_option "--archive-period 7s" "--archive-period: 7000 ms is not" --archive-period 7s
bad_option "--archive-max-size 12X" "--archive-max-size: '12X' is not a size" --archive-max-size 12X
bad_option "--archive-zstd-level 0" "--archive-zstd-level: '0' is not a level" --archive-zstd-level 0
bad_option "--archive-page-rows 2000000" "--archive-page-rows: 2000000 flows is not in 1..1048576" --archive-page-rows 2000000

exit $FAILED
