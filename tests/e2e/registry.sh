#!/bin/sh
# One query, one name rule, against the real daemon: a name that differs
# from a running query's only in case is refused (409) and touches
# nothing; the query, its catalog entry and its data survive a restart.
# A window cut by a restart is stored in two parts, both marked partial
# (flowsql_windows, the results API); the SSE stream marks the window a
# query was registered in. Two --read runs of one file store what one
# run stores.
. "$(dirname "$0")/lib.sh"

sql() {
    api POST /api/v1/sql "{\"sql\":\"$1\"}"
}

# The 1h window below must not end while the test runs (about a minute).
left=$((3600 - $(date +%s) % 3600))
[ "$left" -lt 90 ] && sleep "$left"

start_flowsqld || exit 1
api POST /api/v1/queries '{"name":"talkers","sql":"SELECT srcip, count(*) AS flows FROM flows WINDOW 1h GROUP BY srcip"}' >/dev/null
eq "register talkers" "$CODE" 201
api POST /api/v1/queries '{"name":"Talkers","sql":"SELECT dstip, count(*) AS flows FROM flows WINDOW 1h GROUP BY dstip"}' >"$T/conflict"
eq "registering Talkers while talkers runs is 409" "$CODE" 409
check "the conflict names the running query" grep -q "talkers" "$T/conflict"
api POST /api/v1/queries '{"sql":"CREATE QUERY TALKERS AS SELECT dstport, count(*) AS flows FROM flows WINDOW 1h GROUP BY dstport"}' >/dev/null
eq "so is CREATE QUERY TALKERS" "$CODE" 409
api POST /api/v1/queries '{"sql":"CREATE QUERY \"Talkers\" AS SELECT dstip, count(*) AS flows FROM flows WINDOW 1h GROUP BY dstip"}' >"$T/quoted"
eq "and CREATE QUERY \"Talkers\" (quoted: SQL keeps its case)" "$CODE" 409
api GET /api/v1/queries/TALKERS >"$T/upper"
eq "a lookup in another case finds talkers" "$(jq -r .name "$T/upper")" talkers
sql "SELECT name, text FROM flowsql_queries" >"$T/cat1"
eq "the catalog still holds talkers, unchanged" "$(jq -r '.rows[] | join("|")' "$T/cat1")" \
   "talkers|CREATE QUERY talkers AS SELECT srcip, count(*) AS flows FROM flows WINDOW 1h GROUP BY srcip"

"$B/flowgen" --tcp "127.0.0.1:$IPFIX" --flows 3000 --rate 30000 --sources 20 \
    --seed 5 2>"$T/gen1.log"
check "talkers saw the first flows" wait_until 20 json_is /api/v1/queries/talkers .counters.flows_in 3000

# Restart inside the hour: the window is stored as it stands.
stop_flowsqld
eq "SIGTERM exits 0" "$STATUS" 0
start_flowsqld || exit 1
api GET /api/v1/queries >"$T/list"
eq "after a restart talkers is registered (and nothing else)" \
   "$(jq -r '[.queries[].name] | join(",")' "$T/list")" talkers
eq "with its text" "$(jq -r '.queries[0].sql' "$T/list")" \
   "CREATE QUERY talkers AS SELECT srcip, count(*) AS flows FROM flows WINDOW 1h GROUP BY srcip"
api GET "/api/v1/queries/talkers/results" >"$T/res1"
eq "and its data" "$(jq '[.[].rows[].flows] | add' "$T/res1")" 3000

"$B/flowgen" --tcp "127.0.0.1:$IPFIX" --flows 2000 --rate 30000 --sources 20 \
    --seed 6 2>"$T/gen2.log"
check "talkers saw the second flows" wait_until 20 json_is /api/v1/queries/talkers .counters.flows_in 2000

stop_flowsqld
start_flowsqld || exit 1
sql "SELECT partial, parts, rows FROM flowsql_windows WHERE tbl = 'talkers'" >"$T/win"
eq "both parts of the cut window are stored under one window, marked partial" \
   "$(jq -c '.rows' "$T/win")" "[[1,2,40]]"
api GET "/api/v1/queries/talkers/results" >"$T/res2"
eq "the results API marks it" "$(jq -c '[.[] | {partial, parts}]' "$T/res2")" \
   '[{"partial":true,"parts":2}]'
eq "and has the rows of both parts" "$(jq '[.[].rows[].flows] | add' "$T/res2")" 5000

# A query registered now: its first window began before it did.
"$B/flowgen" --tcp "127.0.0.1:$IPFIX" --flows 8000 --rate 1000 --sources 5 \
    --seed 8 2>"$T/gen3.log" &
GEN=$!
PIDS="$PIDS $GEN"
sleep 1
api POST /api/v1/queries '{"name":"fast","sql":"SELECT count(*) AS flows FROM flows WINDOW 2s"}' >"$T/fast"
curl -sN "http://$HTTP/api/v1/queries/fast/stream" >"$T/sse" 2>/dev/null &
SSE=$!
PIDS="$PIDS $SSE"
created=$(jq -r .created "$T/fast")
created_ms=$(python3 -c 'import sys,datetime; print(int(datetime.datetime.fromisoformat(sys.argv[1].replace("Z","+00:00")).timestamp()*1000))' "$created")
windows() { [ "$(grep -c '^event: window' "$T/sse")" -ge 3 ]; }
check "the stream delivers windows" wait_until 20 windows
kill "$SSE" "$GEN" 2>/dev/null
grep '^data:' "$T/sse" | sed 's/^data: //' >"$T/sse.json"
eq "every SSE window says whether it is partial" \
   "$(jq -s '[.[] | select(has("partial") | not)] | length' "$T/sse.json")" 0
eq "partial exactly when it began before the query" \
   "$(jq -s --argjson c "$created_ms" '[.[] | select(.partial != (.window_start_ms < $c))] | length' "$T/sse.json")" 0
eq "the first window is partial, the later ones are not" \
   "$(jq -s -c '[.[].partial] | .[0:3]' "$T/sse.json")" "[true,false,false]"
api DELETE /api/v1/queries/fast >/dev/null

stop_flowsqld

# --read twice on one file stores what one run stores.
"$B/flowgen" --file "$T/flows.ipfix" --flows 5000 --sources 30 --seed 3 --clock-rate 20 2>/dev/null
mkdir -p "$T/q2"
echo "SELECT srcip, count(*) AS flows FROM flows WINDOW 1m GROUP BY srcip" >"$T/q2/hourly.sql"
stored() {
    sqlite3 "$T/d2/flowsql.db" "SELECT count(*), sum(flows) FROM hourly; SELECT group_concat(rows) FROM flowsql_windows WHERE tbl = 'hourly'"
}
"$B/flowsqld" --read "$T/flows.ipfix" --queries-dir "$T/q2" --data-dir "$T/d2" \
    >/dev/null 2>"$T/read1.log"
eq "--read exits 0" $? 0
stored >"$T/once"
"$B/flowsqld" --read "$T/flows.ipfix" --queries-dir "$T/q2" --data-dir "$T/d2" \
    >/dev/null 2>"$T/read2.log"
stored >"$T/twice"
eq "one --read stores every flow" "$(head -1 "$T/once" | cut -d'|' -f2)" 5000
check "a second --read replaces what the first stored" cmp -s "$T/once" "$T/twice"
cat "$T/once" "$T/twice" >&2
exit 0
