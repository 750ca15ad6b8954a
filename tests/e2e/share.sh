#!/bin/sh
# Shared aggregation (--share-aggregation, docs/ENGINE.md): the daemon
# with the saved queries says what each shares (EXPLAIN's shared line on
# GET /queries/{name} and POST /explain), keeps the others sharing when
# one is dropped, says nothing with sharing off, and a file read with
# sharing on and off gives the same windows byte for byte.
. "$(dirname "$0")/lib.sh"

QUERIES_DIR=$(pwd)/queries
export QUERIES_DIR
start_flowsqld || exit 1

plan() { api GET "/api/v1/queries/$1" >/dev/null; jq -r .plan "$T/body"; }
shared() { plan "$1" | sed -n 's/^  shared     //p'; }
starts() { case "$1" in "$2"*) return 0 ;; esac; return 1; }

check "host_stats_30s shares 10 s panes with the other host profiles" \
    starts "$(shared host_stats_30s)" "panes of 10s with host_stats_10s, host_stats_1m, host_stats_5m: "
check "top_talkers_bytes shares 1 m panes with top_talkers_flows" \
    starts "$(shared top_talkers_bytes)" "panes of 1m with top_talkers_flows: "
check "scan_vertical shares its filter with scan_horizontal and syn_flood" \
    starts "$(shared scan_vertical)" "filter with scan_horizontal, syn_flood: "
eq "dns_clients shares nothing" "$(shared dns_clients)" ""

api POST /api/v1/explain '{"sql": "SELECT srcip, count(*) AS flows FROM flows WINDOW 2m WHERE srcip IN monitored GROUP BY srcip"}' >/dev/null
check "EXPLAIN of a statement not registered says what it would share" \
    sh -c "jq -r .plan '$T/body' | grep -q '^  shared     panes of 10s with .*host_stats_5m (if registered now)'"

api DELETE /api/v1/queries/host_stats_10s >/dev/null
check "host_stats_10s dropped" test "$CODE" = 200 -o "$CODE" = 204
check "the other host profiles still share their panes" \
    starts "$(shared host_stats_30s)" "panes of 10s with host_stats_1m, host_stats_5m: "
stop_flowsqld

start_flowsqld --share-aggregation off || exit 1
eq "with --share-aggregation off nothing is shared" "$(shared host_stats_30s)" ""
stop_flowsqld

# A file through every saved query, sharing on and off: the same windows,
# rows and row order.
"$B/flowgen" --file "$T/flows.ipfix" --flows 300000 --sources 2000 \
    --dests 500 --seed 19 2>/dev/null
for s in on off; do
    "$B/flowsqld" --read "$T/flows.ipfix" --queries-dir "$QUERIES_DIR" \
        --data-dir "$T/d_$s" --archive off --share-aggregation "$s" \
        >"$T/read_$s.out" 2>"$T/read_$s.log"
    eq "--read with sharing $s exits 0" $? 0
done
check "--read gives windows" test "$(jq -s 'length' "$T/read_on.out")" -gt 10
check "--read with sharing on and off: the same output" \
    cmp -s "$T/read_on.out" "$T/read_off.out"
exit 0
