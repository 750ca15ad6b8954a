#!/bin/sh
# Load: 50 concurrent clients (tests/tools/httpload.c, one keep-alive
# connection each) mixing reads and registrations for 30 s
# while flows stream in over TCP. No request may fail, the daemon must not
# crash, and the engine must lose no flow. Then the stream-client cap.
. "$(dirname "$0")/lib.sh"

DURATION=${FLOWSQL_LOAD_SECONDS:-30}
CLIENTS=50
# Ad hoc queries are capped at --adhoc-concurrency running at once (429
# past it); here every client may run one.
start_flowsqld --max-sse-clients 3 --max-queries 200 --adhoc-concurrency $CLIENTS || exit 1
api POST /api/v1/queries '{"name":"all_flows","sql":"SELECT count(*) AS flows, sum(bytes) AS bytes FROM flows WINDOW 1h"}' >/dev/null
eq "reference query registered" "$CODE" 201

FLOWS=$((DURATION * 20000))
"$B/flowgen" --tcp "127.0.0.1:$IPFIX" --flows $FLOWS --rate 20000 --sources 5000 \
    --seed 11 2>"$T/gen.log" &
GEN=$!
PIDS="$PIDS $GEN"
"$B/tools/httpload" "$HTTP" $CLIENTS "$DURATION" >"$T/load.out" 2>"$T/load.err"
LOADRC=$?
wait $GEN
eq "flowgen finished" $? 0
REQS=$(awk '{print $2}' "$T/load.out")
ERRS=$(awk '{print $4}' "$T/load.out")
echo "# $REQS requests by $CLIENTS clients in ${DURATION}s, $ERRS unexpected" >&2
check "clients made requests" test "${REQS:-0}" -gt $((CLIENTS * 100))
eq "no request failed" "$LOADRC/$ERRS" "0/0"
[ "$LOADRC" != 0 ] && head -5 "$T/load.err" >&2
check "the daemon is alive" kill -0 "$FLOWSQLD"
check "the engine lost no flow" wait_until 30 json_is /api/v1/queries/all_flows .counters.flows_in $FLOWS
curl -s "http://$HTTP/metrics" >"$T/metrics"
check "no batch dropped on the way" grep -q '^flowsql_engine_queue_dropped_batches_total 0$' "$T/metrics"
check "the collector's counters are there" grep -q '^flowsql_ingest_queue_drops_total{' "$T/metrics"
check "no record dropped by the collector" sh -c "! grep -q '^flowsql_ingest_queue_drops_total{.*} [1-9]' '$T/metrics'"

# The stream-client cap: 3 streams, the fourth is refused with a reason.
for k in 1 2 3; do
    curl -sN "http://$HTTP/api/v1/queries/all_flows/stream" >/dev/null 2>&1 &
    PIDS="$PIDS $!"
done
has3() { curl -s "http://$HTTP/metrics" | grep -q '^flowsql_sse_clients 3$'; }
check "three streams open" wait_until 10 has3
api GET /api/v1/queries/all_flows/stream >"$T/cap"
eq "a fourth stream is refused (429)" "$CODE" 429
check "with the reason" grep -q 'too many stream clients' "$T/cap"
exit 0
