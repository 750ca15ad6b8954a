#!/bin/bash
# bench/archive_ingest.sh - what the raw-flow archive costs the live path
# (make bench-archive-ingest; docs/PERFORMANCE.md, "Archive while
# ingesting"):
#
#   1. the highest loss-free IPFIX/UDP rate of flowsqld running the design
#      card query, with --archive off and --archive on, searched in one
#      run, the two modes stepping in turn at each rate: doubling from
#      START_RATE until a step loses, then bisecting. A step starts a
#      fresh flowsqld, sends rate x STEP_S flows of the peers' stream mix
#      (flowgen, fixed seed), drains and stops it. It is loss-free when
#      the collectors decoded every flow (no sequence gap, no queue drop),
#      the query saw every one, and with the archive on the archive
#      dropped none and its files hold every one (counted in their
#      footers after the stop);
#   2. bytes per flow on disk for that mix: the archive's files after a
#      run of FLOWS flows at SIZE_RATE with the default settings, and
#      nfcapd -y (LZ4) receiving the same flows at the same rate.
#
# Settings (environment): START_RATE (250000), MAX_RATE (8000000),
# STEP_S (5), BISECT (2), RCVBUF (4194304), FLOWS (2000000), SIZE_RATE
# (200000), ARCHIVE_ARGS (more flowsqld options, e.g. "--archive-zstd-level
# -1"). Everything runs on 127.0.0.1; every process started is
# stopped. The machine's other load moves the rates: run it on a quiet
# machine, and read the two modes against each other (same run).

set -u
cd "$(dirname "$0")/.." || exit 1
top=$(pwd)
B=${B:-build}
START_RATE=${START_RATE:-250000}
MAX_RATE=${MAX_RATE:-8000000}
STEP_S=${STEP_S:-5}
BISECT=${BISECT:-2}
RCVBUF=${RCVBUF:-4194304}
FLOWS=${FLOWS:-2000000}
SIZE_RATE=${SIZE_RATE:-200000}
FLOWGEN=$top/$B/flowgen
FLOWSQLD=$top/$B/flowsqld
PQTOOL=$top/$B/tools/pqtool
GENOPTS="--sources 100000 --dests 10000 --dst-ports 20 --protocols 5 --seed 20 --clock-rate 1000000"
DESIGN_SQL="SELECT srcip, count(*) AS flows, sum(packets) AS packets, sum(bytes) AS bytes FROM flows WINDOW 10s GROUP BY srcip"
export LC_ALL=C

RUN=$(mktemp -d /tmp/flowsql-arbench.XXXXXX)
TPID=
NFPID=
cleanup() {
    [ -n "$TPID" ] && kill -KILL "$TPID" 2>/dev/null
    [ -n "$NFPID" ] && kill -KILL "$NFPID" 2>/dev/null
    rm -rf "$RUN"
}
trap cleanup EXIT
trap 'echo interrupted >&2; exit 130' INT TERM

echo "load at the start:$(uptime | sed 's/.*load average//')"
for t in "$FLOWGEN" "$FLOWSQLD" "$PQTOOL"; do
    [ -x "$t" ] || { echo "bench-archive-ingest: $t missing" >&2; exit 1; }
done

free_port() {
    python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

metrics() { # rec lost qdrops qflows adropped awritten aqueue
    curl -s "http://$HTTP/metrics" | awk '
        /^flowsql_ingest_records_total\{/       { rec += $NF }
        /^flowsql_ingest_records_lost_total\{/  { lost += $NF }
        /^flowsql_ingest_queue_drops_total\{/   { qd += $NF }
        /^flowsql_query_flows_total\{/          { qf += $NF }
        /^flowsql_archive_dropped_flows_total / { ad = $NF }
        /^flowsql_archive_flows_written_total / { aw = $NF }
        /^flowsql_archive_queue_flows /         { aq = $NF }
        END { printf "%d %d %d %d %d %d %d\n", rec, lost, qd, qf, ad, aw, aq }'
}

# start MODE DIR [ARGS...]: flowsqld with the design card query
start() {
    local mode=$1 dir=$2 i=0
    shift 2
    rm -rf "$dir"
    mkdir -p "$dir/q"
    echo "$DESIGN_SQL" >"$dir/q/design_card.sql"
    PORT=$(free_port)
    HTTP=127.0.0.1:$(free_port)
    "$FLOWSQLD" --listen 127.0.0.1 --ipfix-port "$PORT" --netflow-port 0 --sflow-port 0 \
        --http "$HTTP" --rcvbuf "$RCVBUF" --data-dir "$dir/data" \
        --queries-dir "$dir/q" --archive "$mode" --log-level warn \
        ${ARCHIVE_ARGS:-} "$@" \
        2>"$dir/log" &
    TPID=$!
    until curl -s "http://$HTTP/metrics" 2>/dev/null | grep -q '^flowsql_query_flows_total{'; do
        i=$((i + 1))
        if [ $i -gt 100 ] || ! kill -0 "$TPID" 2>/dev/null; then
            echo "flowsqld did not start:" >&2; cat "$dir/log" >&2; exit 1
        fi
        sleep 0.1
    done
}

stop() {
    kill -TERM "$TPID" 2>/dev/null
    wait "$TPID" 2>/dev/null
    TPID=
}

# drain: until the counters stop moving for three polls and the archive
# queue is empty
drain() {
    local prev="" same=0 i=0 cur
    while [ $same -lt 3 ] && [ $i -lt 240 ]; do
        sleep 0.25
        i=$((i + 1))
        cur=$(metrics)
        case $cur in *" 0") ;; *) same=0; prev=$cur; continue ;; esac
        if [ "$cur" = "$prev" ]; then same=$((same + 1)); else same=0; fi
        prev=$cur
    done
    M=$cur
}

archive_rows() { # DIR: flows in the closed archive files, from their footers
    find "$1" -name 'flows-*.parquet' | while read -r f; do
        "$PQTOOL" meta "$f" | head -n 1
    done | awk '{ s += $2 } END { printf "%d\n", s }'
}
archive_bytes() { find "$1" -type f -printf '%s\n' | awk '{ s += $1 } END { printf "%d\n", s }'; }

# step MODE RATE: sets OK (1 loss-free) and NOTE
step() {
    local mode=$1 rate=$2 n dir=$RUN/$1
    n=$(( rate * STEP_S ))
    start "$mode" "$dir"
    local t0 t1
    t0=$(date +%s.%N)
    "$FLOWGEN" --udp "127.0.0.1:$PORT" --rate "$rate" --flows "$n" $GENOPTS 2>/dev/null
    t1=$(date +%s.%N)
    drain
    read -r rec lost qd qf ad aw aq <<<"$M"
    stop
    local rows=-
    [ "$mode" = on ] && rows=$(archive_rows "$dir/data/archive")
    OK=0
    if [ "$rec" = "$n" ] && [ "$lost" = 0 ] && [ "$qd" = 0 ] && [ "$qf" = "$n" ]; then
        if [ "$mode" = off ] || { [ "$ad" = 0 ] && [ "$rows" = "$n" ]; }; then
            OK=1
        fi
    fi
    local sent_rate
    sent_rate=$(awk -v n="$n" -v a="$t0" -v b="$t1" 'BEGIN { printf "%d", n / (b - a) }')
    printf "archive %-3s rate %8d (sent at %8d/s): received %d lost %d queue_drops %d query %d archive_dropped %s archived %s -> %s\n" \
        "$mode" "$rate" "$sent_rate" "$rec" "$lost" "$qd" "$qf" \
        "$([ "$mode" = on ] && echo "$ad" || echo -)" "$rows" \
        "$([ $OK = 1 ] && echo loss-free || echo LOSS)"
}

# ---- 1. loss-free rates, both modes in turn ---------------------------------

echo "== loss-free UDP rate, design card query, archive off vs on (steps of ${STEP_S}s) =="
declare -A LO HI
LO[off]=0; LO[on]=0; HI[off]=0; HI[on]=0
rate=$START_RATE
while [ "$rate" -le "$MAX_RATE" ] && { [ "${HI[off]}" = 0 ] || [ "${HI[on]}" = 0 ]; }; do
    for mode in off on; do
        [ "${HI[$mode]}" = 0 ] || continue
        step "$mode" "$rate"
        if [ $OK = 1 ]; then LO[$mode]=$rate; else HI[$mode]=$rate; fi
    done
    rate=$(( rate * 2 ))
done
for k in $(seq "$BISECT"); do
    for mode in off on; do
        [ "${HI[$mode]}" = 0 ] && continue
        mid=$(( (LO[$mode] + HI[$mode]) / 2 ))
        step "$mode" "$mid"
        if [ $OK = 1 ]; then LO[$mode]=$mid; else HI[$mode]=$mid; fi
    done
done
echo "loss-free: archive off ${LO[off]} flows/s, archive on ${LO[on]} flows/s" \
     "($(awk -v a="${LO[on]}" -v b="${LO[off]}" 'BEGIN { if (b) printf "%+.1f%%", (a - b) * 100 / b; else print "n/a" }'))"

# ---- 2. bytes per flow ---------------------------------------------------------

echo "== bytes per flow on disk, $FLOWS flows of the mix at $SIZE_RATE flows/s =="
start on "$RUN/size"
"$FLOWGEN" --udp "127.0.0.1:$PORT" --rate "$SIZE_RATE" --flows "$FLOWS" $GENOPTS 2>/dev/null
drain
read -r rec lost qd qf ad aw aq <<<"$M"
stop
rows=$(archive_rows "$RUN/size/data/archive")
bytes=$(archive_bytes "$RUN/size/data/archive")
files=$(find "$RUN/size/data/archive" -name 'flows-*.parquet' | wc -l)
echo "archive: $bytes bytes in $files files, $rows flows archived of $FLOWS sent" \
     "($rec received): $(awk -v b="$bytes" -v n="$rows" 'BEGIN { printf "%.2f", b / n }') bytes/flow"

if command -v nfcapd >/dev/null && command -v nfdump >/dev/null; then
    port=$(free_port)
    mkdir -p "$RUN/nfcapd"
    nfcapd -y -t 3600 -b 127.0.0.1 -p "$port" -B 33554432 -w "$RUN/nfcapd" \
        >"$RUN/nfcapd.log" 2>&1 &
    NFPID=$!
    sleep 1
    "$FLOWGEN" --udp "127.0.0.1:$port" --rate "$SIZE_RATE" --flows "$FLOWS" $GENOPTS 2>/dev/null
    sleep 2
    kill -TERM "$NFPID"; wait "$NFPID" 2>/dev/null; NFPID=
    stored=0 size=0
    for f in "$RUN"/nfcapd/nfcapd.2*; do
        [ -f "$f" ] || continue
        stored=$(( stored + $(nfdump -r "$f" -I | awk '/^Flows:/ {print $2}') ))
        size=$(( size + $(stat -c %s "$f") ))
    done
    echo "nfcapd -y (LZ4): $size bytes, $stored flows stored of $FLOWS sent:" \
         "$(awk -v b="$size" -v n="$stored" 'BEGIN { if (n) printf "%.2f", b / n; else print "-" }') bytes/flow"
fi
echo "load at the end:$(uptime | sed 's/.*load average//')"
