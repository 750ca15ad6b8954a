#!/bin/sh
# The engine on several threads (--engine-threads, docs/ENGINE.md,
# Threads): a file read through every saved query gives the same windows,
# rows and row order on 1, 2 and 4 threads; a live daemon on 2 threads
# says so in /metrics and its helper thread runs queries; a wrong value
# is refused with a message that names the option.
. "$(dirname "$0")/lib.sh"

QUERIES_DIR=$(pwd)/queries
export QUERIES_DIR

"$B/flowgen" --file "$T/flows.ipfix" --flows 300000 --sources 2000 \
    --dests 500 --seed 19 2>/dev/null
for n in 1 2 4; do
    "$B/flowsqld" --read "$T/flows.ipfix" --queries-dir "$QUERIES_DIR" \
        --data-dir "$T/d_$n" --archive off --engine-threads "$n" \
        >"$T/read_$n.out" 2>"$T/read_$n.log"
    eq "--read on $n engine threads exits 0" $? 0
done
check "--read gives windows of every saved query" \
    test "$(jq -r .query "$T/read_1.out" | sort -u | wc -l)" -ge 15
check "--read on 1 and 2 threads: the same output" \
    cmp -s "$T/read_1.out" "$T/read_2.out"
check "--read on 1 and 4 threads: the same output" \
    cmp -s "$T/read_1.out" "$T/read_4.out"
check "the same rows in the store on 1 and 4 threads" \
    test "$(sqlite3 "$T/d_1/flowsql.db" 'SELECT count(*) FROM flowsql_windows')" = \
         "$(sqlite3 "$T/d_4/flowsql.db" 'SELECT count(*) FROM flowsql_windows')"

"$B/flowsqld" --engine-threads 0 --data-dir "$T/bad" >/dev/null 2>"$T/bad.log"
check "--engine-threads 0 is refused" test $? -ne 0
check "the message names the option" \
    grep -q "engine-threads: '0' is not auto or a number of threads from 1 to 64" "$T/bad.log"

metric() { # NAME: the sum of a metric's samples (all labels)
    curl -s "http://$HTTP/metrics" |
        awk -v m="$1" '$1 == m || index($1, m "{") == 1 { s += $2 } END { print s + 0 }'
}
busy1() { # thread 1's busy seconds are above 0
    curl -s "http://$HTTP/metrics" |
        awk '$1 == "flowsql_engine_thread_busy_seconds_total{thread=\"1\"}" && $2 > 0 { f = 1 } END { exit !f }'
}

start_flowsqld --engine-threads 2 --archive off || exit 1
eq "/metrics: flowsql_engine_threads 2" "$(metric flowsql_engine_threads)" 2
"$B/flowgen" --udp "127.0.0.1:$IPFIX" --flows 100000 --sources 5000 \
    --rate 50000 --seed 7 --now 2>/dev/null
check "the helper thread runs queries (busy seconds of thread 1 > 0)" \
    wait_until 10 busy1
check "the saved queries saw the flows" \
    wait_until 10 sh -c "[ \"\$(curl -s http://$HTTP/api/v1/queries/protocol_stats | jq -r .counters.flows_in)\" -gt 0 ]"
stop_flowsqld
eq "flowsqld on 2 engine threads stops cleanly" "$STATUS" 0
exit 0
