#!/bin/bash
# bench/soak.sh - flowsqld under a steady load for a long time: does its
# memory stay flat? `make bench-soak` runs it (never part of make test).
#
#   flowsqld with every saved query of queries/, flowgen sending IPFIX
#   over UDP on loopback at SOAK_RATE flows/s for SOAK_SECONDS, and
#   SOAK_READERS clients that open a live stream (/queries/NAME/stream)
#   and never read it (a stalled dashboard, a stuck proxy). Every
#   SOAK_SAMPLE_S seconds it records flowsqld's resident memory and the
#   counters that say whether anything was lost, into a CSV.
#
#   Verdict: after a warm-up of SOAK_WARMUP_S (600 s: two of the longest
#   saved windows, 5 min; the heap reaches its working size when the
#   first whole 5-minute window after the start has been held and
#   closed), the highest RSS must stay within SOAK_TOLERANCE percent
#   (10) of the first sample after the warm-up. The CSV keeps every
#   sample from the start, warm-up included. It prints the figures and "soak: flat" or
#   "soak: NOT flat", and exits 0 or 1.
#
# Settings (environment): SOAK_SECONDS (1800), SOAK_RATE (300000),
# SOAK_READERS (20), SOAK_SOURCES (100000), SOAK_WARMUP_S (600),
# SOAK_SAMPLE_S (10), SOAK_TOLERANCE (10), SOAK_OUT (build/soak),
# SOAK_ARGS (extra flowsqld options).

set -u
cd "$(dirname "$0")/.." || exit 1
top=$(pwd)

B=${B:-build}
SECONDS_RUN=${SOAK_SECONDS:-1800}
RATE=${SOAK_RATE:-300000}
READERS=${SOAK_READERS:-20}
SOURCES=${SOAK_SOURCES:-100000}
WARMUP=${SOAK_WARMUP_S:-600}
SAMPLE=${SOAK_SAMPLE_S:-10}
TOL=${SOAK_TOLERANCE:-10}
OUT=${SOAK_OUT:-$top/$B/soak}
FLOWSQLD=$top/$B/flowsqld
FLOWGEN=$top/$B/flowgen

export LC_ALL=C
PIDS=""
cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
}
trap cleanup EXIT INT TERM

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

rm -rf "$OUT"
mkdir -p "$OUT/q" "$OUT/data"
cp queries/*.sql "$OUT/q/"
nq=$(ls "$OUT/q" | wc -l)
IPFIX=$(free_port)
HTTP=127.0.0.1:$(free_port)

# shellcheck disable=SC2086
"$FLOWSQLD" --listen 127.0.0.1 --ipfix-port "$IPFIX" --netflow-port 0 --sflow-port 0 \
    --http "$HTTP" --data-dir "$OUT/data" --queries-dir "$OUT/q" \
    ${SOAK_ARGS:-} 2>"$OUT/flowsqld.log" &
FPID=$!
PIDS="$PIDS $FPID"
i=0
while [ "$(curl -s "http://$HTTP/metrics" 2>/dev/null | grep -c '^flowsql_query_flows_total{')" -lt "$nq" ]; do
    i=$((i + 1))
    if [ $i -gt 300 ] || ! kill -0 "$FPID" 2>/dev/null; then
        echo "flowsqld did not start:" >&2
        cat "$OUT/flowsqld.log" >&2
        exit 1
    fi
    sleep 0.1
done

# Stalled readers: each asks for a stream and never reads a byte. They
# are spread over the queries that emit the most rows.
streams="host_stats_10s host_stats_30s host_stats_1m protocol_stats top_talkers_bytes"
n=0
while [ $n -lt "$READERS" ]; do
    for q in $streams; do
        [ $n -lt "$READERS" ] || break
        (
            exec 3<>"/dev/tcp/${HTTP%:*}/${HTTP#*:}" || exit 1
            printf 'GET /api/v1/queries/%s/stream HTTP/1.1\r\nHost: %s\r\n\r\n' \
                "$q" "$HTTP" >&3
            exec sleep $((SECONDS_RUN + WARMUP + 600))
        ) &
        PIDS="$PIDS $!"
        n=$((n + 1))
    done
done

metrics() {
    curl -s -m 5 "http://$HTTP/metrics" | awk '
        /^flowsql_ingest_records_total\{/       { rec += $NF }
        /^flowsql_ingest_records_lost_total\{/  { lost += $NF }
        /^flowsql_ingest_queue_drops_total\{/   { qd += $NF }
        /^flowsql_query_flows_overflow_total\{/ { ov += $NF }
        /^flowsql_store_rows_dropped_total /    { sd += $NF }
        /^flowsql_sse_clients /                 { sc = $NF }
        /^flowsql_sse_dropped_windows_total /   { sw = $NF }
        END { printf "%d,%d,%d,%d,%d,%d,%d", rec, lost, qd, ov, sd, sc, sw }'
}

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$FPID/status" 2>/dev/null; }

total=$((SECONDS_RUN + WARMUP))
flows=$((RATE * total))
"$FLOWGEN" --udp "127.0.0.1:$IPFIX" --rate "$RATE" --flows "$flows" \
    --sources "$SOURCES" --dests 10000 --dst-ports 20 --protocols 5 \
    --now --seed 7 --summary 2>"$OUT/flowgen.log" &
GPID=$!
PIDS="$PIDS $GPID"

CSV=$OUT/samples.csv
echo "t_s,rss_kb,records,records_lost,queue_drops,overflow,store_drops,sse_clients,sse_dropped_windows" >"$CSV"
start=$(date +%s)
echo "soak: $nq saved queries, $READERS stalled stream readers, $RATE flows/s for ${WARMUP}s warm-up + ${SECONDS_RUN}s"
while :; do
    sleep "$SAMPLE"
    now=$(( $(date +%s) - start ))
    if ! kill -0 "$FPID" 2>/dev/null; then
        echo "soak: flowsqld died at ${now}s" >&2
        tail -20 "$OUT/flowsqld.log" >&2
        exit 1
    fi
    echo "$now,$(rss_kb),$(metrics)" >>"$CSV"
    kill -0 "$GPID" 2>/dev/null || break
    [ "$now" -ge "$total" ] && break
done
wait "$GPID" 2>/dev/null
cat "$OUT/flowgen.log"

awk -F, -v warm="$WARMUP" -v tol="$TOL" -v rate="$RATE" '
    NR == 1 { next }
    { last = $0; t = $1; rss = $2; rec = $3; qd = $5; sw = $9 }
    t >= warm && base == "" { base = rss; base_t = t; base_rec = rec }
    t >= warm { if (rss > hi) hi = rss; if (lo == "" || rss < lo) lo = rss }
    END {
        if (base == "") { print "soak: too short for the warm-up"; exit 1 }
        growth = (hi - base) * 100.0 / base
        printf "RSS after warm-up (%ds): %.0f MB; over the run: min %.0f MB, max %.0f MB (%+.1f%%)\n",
            base_t, base / 1024, lo / 1024, hi / 1024, growth
        printf "records decoded %d (%.0f/s over the run), of them dropped at the engine queue %d (%.2f%%), SSE windows dropped %d\n",
            rec, rec / t, qd, rec ? qd * 100.0 / rec : 0, sw
        if (growth <= tol) { print "soak: flat"; exit 0 }
        print "soak: NOT flat"; exit 1
    }' "$CSV"
