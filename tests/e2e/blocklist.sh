#!/bin/sh
# A blocklist as a network set read from a file (--network-sets
# blocklist=@FILE) and the saved query blocklist_hits: flows to and from
# listed addresses are reported, the file is read again when it changes
# (no restart: the running query takes the new networks from its next
# batch on), and a file that stops parsing keeps the old list, counted.
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/run/queries"
cp queries/blocklist_hits.sql "$T/run/queries/"
BL=$T/blocklist.txt
printf '# a feed\n198.51.100.66\n203.0.113.0/28   # a range\n' >"$BL"
start_flowsqld --network-sets "blocklist=@$BL" || exit 1

n_sent=0
send() { # lines of v5craft spec on stdin; waits until the query saw them
    cat >"$T/spec"
    k=$(awk '!/^#/ && NF >= 8 { n += (NF >= 9 ? $9 : 1) } END { print n }' "$T/spec")
    n_sent=$((n_sent + k))
    "$B/tools/v5craft" "127.0.0.1:$NETFLOW" <"$T/spec" 2>>"$T/craft.log"
    wait_metric 'flowsql_query_flows_total{query="blocklist_hits"}' "$n_sent" 20
}
check "flows reach the query" send <<'S'
10.1.1.1 198.51.100.66 40000 443 6 FSPA 10 1000 5
203.0.113.5 10.1.1.2 443 40001 6 FSPA 4 400 3
10.1.1.3 192.0.2.77 40002 443 6 FSPA 2 200 4
S

# the list changes (written aside and renamed, as a feed updater does)
printf '198.51.100.66\n203.0.113.0/28\n192.0.2.77\n' >"$BL.new"
mv "$BL.new" "$BL"
check "the changed file is read again (no restart)" \
    wait_metric flowsql_netset_reloads_total 1 10
check "flows after the change meet the new list" send <<'S'
10.1.1.3 192.0.2.77 40003 443 6 FSPA 2 200 2
S

# a file that does not parse: the old list stays, the error is counted
printf '198.51.100.66\nnot-a-network\n' >"$BL"
check "a broken file is refused and counted" \
    wait_metric flowsql_netset_reload_errors_total 1 10
check "the previous list stays in use" send <<'S'
10.1.1.1 198.51.100.66 40004 443 6 FSPA 10 1000 1
10.1.1.3 192.0.2.77 40005 443 6 FSPA 2 200 1
S
grep -q "not-a-network" "$T/flowsqld.log"
check "the log says which line is wrong" test $? -eq 0

stop_flowsqld
eq "clean shutdown" "$STATUS" 0
start_flowsqld --network-sets "blocklist=@$T/none.txt" 2>/dev/null
eq "a missing file is a clear error at start" "$(kill -0 "$FLOWSQLD" 2>/dev/null && echo running)" ""
grep -q "none.txt" "$T/flowsqld.log"
check "which says what file" test $? -eq 0
printf '198.51.100.66\n' >"$BL"
start_flowsqld --network-sets "blocklist=@$BL" || exit 1
sql() { api POST /api/v1/sql "{\"sql\":\"$1\"}" | jq -r '.rows[] | map(tostring) | join(" ")'; }
eq "blocklist_hits: each listed address, its peer, the way, the flows" \
   "$(sql "SELECT ip_text(listed), ip_text(peer), way, sum(flows), sum(bytes) FROM blocklist_hits GROUP BY 1, 2, 3 ORDER BY 1")" \
   "$(printf '192.0.2.77 10.1.1.3 to 3 600\n198.51.100.66 10.1.1.1 to 6 6000\n203.0.113.5 10.1.1.2 from 3 1200')"
stop_flowsqld
exit 0
