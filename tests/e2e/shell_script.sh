#!/bin/sh
# The shell in scripts, against the real daemon: -c, -f and standard
# input; every statement kind and backslash command; output in table,
# CSV and JSON; errors on stderr with the right exit status; a live view
# stopped by Ctrl-C (SIGINT) and SIGTERM drops its temporary query.
. "$(dirname "$0")/lib.sh"

start_flowsqld || exit 1
URL=http://$HTTP
# run ARGS...: flowsql's stdout in $T/out, stderr in $T/err, status in RC
run() { "$B/flowsql" -u "$URL" "$@" >"$T/out" 2>"$T/err"; RC=$?; }
# has NAME FILE TEXT: the file holds the text (a fixed string)
has() { if grep -qF -- "$3" "$2"; then ok "$1"; else fail "$1" "no [$3] in $(cat "$2")"; fi; }
hasnt() { if grep -qF -- "$3" "$2"; then fail "$1" "[$3] in $(cat "$2")"; else ok "$1"; fi; }

# --- statements with -c ----------------------------------------------------
run -c "CREATE QUERY talkers AS SELECT srcip, count(*) AS flows, sum(bytes) AS bytes FROM flows WINDOW 10s GROUP BY srcip;"
eq "-c CREATE QUERY exits 0" "$RC" 0
eq "CREATE QUERY prints its tag" "$(cat "$T/out")" "CREATE QUERY talkers"
eq "and nothing on stderr" "$(cat "$T/err")" ""
api GET /api/v1/queries/talkers >/dev/null
eq "the query is registered" "$CODE" 200

run -c "SHOW QUERIES"
eq "SHOW QUERIES exits 0" "$RC" 0
eq "table header" "$(sed -n 1p "$T/out")" \
   "  name   | source |  state  | flows | windows | rows | late | overflow | memory |         created"
eq "separator line" "$(sed -n 2p "$T/out")" \
   "---------+--------+---------+-------+---------+------+------+----------+--------+--------------------------"
check "row: text left, numbers right" \
   grep -qE '^ talkers \| api    \| running \|     0 \|       0 \|    0 \|    0 \|        0 \| [1-9][0-9]{5,} \| 20[0-9-]+T' "$T/out"
eq "row count" "$(tail -n 1 "$T/out")" "(1 row)"

run -F csv -c "SHOW QUERIES"
eq "CSV header" "$(sed -n 1p "$T/out")" \
   "name,source,state,flows,windows,rows,late,overflow,memory,created"
check "CSV row" grep -qE '^talkers,api,running,0,0,0,0,0,[1-9][0-9]+,20' "$T/out"
eq "CSV has no row count" "$(wc -l <"$T/out")" 2

run -F json -c "SHOW QUERIES"
eq "JSON: one object per line" "$(jq -r '.name + " " + .source' "$T/out")" "talkers api"
eq "JSON keeps the counters" "$(jq -r .counters.windows "$T/out")" 0

# --- EXPLAIN in every format ----------------------------------------------------
run -c "EXPLAIN SELECT srcip, count(*) FROM flows WINDOW 10s GROUP BY srcip"
eq "EXPLAIN exits 0" "$RC" 0
eq "EXPLAIN prints the plan" "$(sed -n 4p "$T/out")" \
   "  aggregate  hash by srcip: count(*) (at most 1000000 groups per window)"
run -F json -c "EXPLAIN SHOW QUERIES"
check "EXPLAIN as JSON" test -n "$(jq -r .plan "$T/out")"
run -F csv -c "EXPLAIN SELECT count(*) FROM flows WINDOW 1s"
eq "EXPLAIN as CSV: a plan column" "$(sed -n 1p "$T/out")" plan
eq "one row per plan line" "$(sed -n 3p "$T/out")" "  scan       flows"

# --- \d -------------------------------------------------------------------------
run -c '\d talkers'
eq "\\d name exits 0" "$RC" 0
has "\\d shows the query" "$T/out" 'Query "talkers", api, running'
has "\\d shows the statement" "$T/out" "    CREATE QUERY talkers AS SELECT srcip, count(*) AS flows"
has "\\d shows the columns" "$T/out" "   srcip  | ip   | yes"
has "\\d shows the plan" "$T/out" "      window     tumbling 10s"
check "\\d shows the counters" grep -qE '^   flows_in +\| +0$' "$T/out"
run -c '\d TALKERS'
has "\\d folds a plain name to lower case, as SQL does" "$T/out" 'Query "talkers"'
run -c '\d "TALKERS"'
has "a quoted name names the same query: query names compare without case" "$T/out" 'Query "talkers"'
run -F json -c '\d talkers'
eq "\\d name as JSON" "$(jq -r '[.columns[].name] | join(",")' "$T/out")" "srcip,flows,bytes"
run -c '\d'
has "\\d alone lists the queries" "$T/out" " talkers | api"
run -c '\d nosuch'
eq "\\d of a missing query exits 1" "$RC" 1
has "and says so" "$T/err" "ERROR: no query named 'nosuch'"

# --- -f: a file of statements, comments and commands ---------------------------------
cat >"$T/setup.sql" <<'SQL'
-- two more queries
CREATE QUERY services AS
  SELECT dstport, count(*) AS flows   -- per port
    FROM flows
  WINDOW 1m
  GROUP BY dstport;

/* a block comment; with a ; inside */
CREATE QUERY per_proto AS SELECT proto, sum(bytes) AS bytes FROM flows WINDOW 1m GROUP BY proto; \d
\format csv
SHOW QUERIES
SQL
run -f "$T/setup.sql"
eq "-f runs the file (exit 0)" "$RC" 0
has "tags of both statements" "$T/out" "CREATE QUERY services"
has "a command line is a command" "$T/out" "CREATE QUERY per_proto"
eq "the last statement needs no ';'" \
   "$(grep -c '^per_proto,api\|^services,api\|^talkers,api' "$T/out")" 3

# stdin that is not a terminal: no prompt, no banner
printf 'SHOW QUERIES;\n\\d services\n' | "$B/flowsql" -u "$URL" >"$T/out" 2>"$T/err"
eq "statements on stdin (exit 0)" "$?" 0
hasnt "no prompt on stdin" "$T/out" "flowsql=>"
hasnt "no banner on stdin" "$T/out" "Type \\?"
has "stdin statements ran" "$T/out" "(3 rows)"
has "stdin commands ran" "$T/out" 'Query "services"'

# \o and \i
cat >"$T/inc.sql" <<'SQL'
\o out.txt
SHOW QUERIES;
\o
SQL
(cd "$T" && "$B/flowsql" -u "$URL" -c '\i inc.sql' >"$T/out" 2>"$T/err")
eq "\\i runs a file" "$?" 0
eq "\\o sends results to the file" "$(tail -n 1 "$T/out.txt")" "(3 rows)"
eq "and not to stdout" "$(cat "$T/out")" ""
run -o "$T/o2.txt" -F json -c "SHOW QUERIES"
eq "-o FILE" "$(jq -r .name "$T/o2.txt" | sort | tr '\n' ' ')" "per_proto services talkers "

# --- errors: on stderr, with the caret, and the right status --------------------------
run -c "SELECT srcip,
  count(*)
FROM flows WINDOW 10s GROUP BY dstip"
eq "a semantic error exits 1" "$RC" 1
eq "nothing on stdout" "$(cat "$T/out")" ""
eq "the server's message with line and column" "$(sed -n 1p "$T/err")" \
   "ERROR: line 1, column 8: field 'srcip' must appear in GROUP BY or be used in an aggregate function"
eq "the statement line" "$(sed -n 2p "$T/err")" "  SELECT srcip,"
eq "and the caret" "$(sed -n 3p "$T/err")" "         ^^^^^"

run -c "SELECT count(* FROM flows WINDOW 1s"
eq "a syntax error exits 1" "$RC" 1
has "syntax error with caret" "$T/err" "ERROR: line 1, column 16: syntax error at 'FROM'"

run -c "DROP QUERIES x"
eq "a DROP syntax error exits 1" "$RC" 1
has "DROP syntax error (parsed locally)" "$T/err" "syntax error at 'QUERIES', expected QUERY"

cat >"$T/bad.sql" <<'SQL'
SHOW QUERIES;

-- the error is in the statement on line 4
SELECT count(*)
  FROM flows WINDOW 1m SLIDE 7s;
CREATE QUERY never AS SELECT count(*) FROM flows WINDOW 1s;
SQL
run -f "$T/bad.sql"
eq "-f stops at the first error (exit 1)" "$RC" 1
has "the error says the file and the statement's line" "$T/err" \
    "flowsql:$T/bad.sql:4: ERROR: line 2, column 30: WINDOW 1m is not a whole multiple of SLIDE 7s"
api GET /api/v1/queries/never >/dev/null
eq "statements after the error did not run" "$CODE" 404
has "statements before it did" "$T/out" "(3 rows)"

run -c "SHOW QUERIES" -c "DROP QUERY nosuch" -c "CREATE QUERY never AS SELECT count(*) FROM flows WINDOW 1s"
eq "several -c stop at the first error" "$RC" 1
has "DROP of a missing query says so" "$T/err" "ERROR: no query named 'nosuch'"
api GET /api/v1/queries/never >/dev/null
eq "and what follows does not run" "$CODE" 404

run -c "DROP QUERY IF EXISTS nosuch"
eq "DROP IF EXISTS of a missing query exits 0" "$RC" 0
has "with a notice" "$T/err" 'NOTICE: query "nosuch" does not exist, skipping'
run -c "CREATE QUERY talkers AS SELECT count(*) FROM flows WINDOW 1s"
eq "CREATE of an existing name exits 1" "$RC" 1
has "and says why" "$T/err" "ERROR: a query named 'talkers' already exists"
run -c "CREATE QUERY IF NOT EXISTS talkers AS SELECT count(*) FROM flows WINDOW 1s"
eq "CREATE IF NOT EXISTS of an existing name exits 0" "$RC" 0

# ad hoc SQL over stored windows goes to POST /sql
api POST /api/v1/sql '{"sql":"SELECT 1"}' >/dev/null
SQLCODE=$CODE
run -c "SELECT window_start, flows FROM talkers ORDER BY window_start"
if [ "$SQLCODE" = 503 ]; then
    eq "ad hoc SQL without storage exits 1" "$RC" 1
    has "and the server's reason is shown" "$T/err" \
        "ERROR: ad hoc queries are not available: storage is off"
else
    eq "ad hoc SQL exits 0" "$RC" 0
    has "ad hoc SQL prints a table" "$T/out" " window_start | flows"
fi

run -c '\timing on' -c "SHOW QUERIES"
check "timing on: the time of each statement on stderr" grep -qE '^Time: [0-9]+\.[0-9]{3} ms$' "$T/err"

run -c '\nosuch'
eq "an unknown command exits 1" "$RC" 1
has "and names it" "$T/err" 'unknown command \nosuch'
run -c '\format xml'
eq "a bad \\format exits 1" "$RC" 1

# no server
PORT=$(free_port)
"$B/flowsql" -u "http://127.0.0.1:$PORT" -c "SHOW QUERIES" >"$T/out" 2>"$T/err"
eq "no server: exit 2" "$?" 2
eq "no server: the URL and the reason" "$(cat "$T/err")" \
   "ERROR: cannot connect to http://127.0.0.1:$PORT: Connection refused"
"$B/flowsql" --bogus >/dev/null 2>&1
eq "a bad option exits 2" "$?" 2
"$B/flowsql" --help >"$T/out"
has "--help lists the options" "$T/out" "--windows=N"

# --- help and metrics -------------------------------------------------------------------
run -c '\h'
has "\\h lists the topics" "$T/out" "  windows    tumbling and hopping windows"
run -c '\h fields'
has "\\h fields comes from the schema" "$T/out" "  dstport    int       destination port; ICMP type*256+code for ICMP"
run -c '\h TOPK'
has "\\h of a function" "$T/out" "topk(x, k) (aggregate): the k most frequent values"
run -c '\h drop query'
has "\\h of a statement" "$T/out" "DROP QUERY [IF EXISTS] name [KEEP DATA]"
run -c '\h nonsense'
eq "\\h of nothing known exits 1" "$RC" 1
run -c '\?'
has "\\? lists the commands" "$T/out" '\watch name [n]'

run -c '\metrics'
eq "\\metrics exits 0" "$RC" 0
check "\\metrics: counters without labels" grep -qE '^ queries +\| +3$' "$T/out"
has "\\metrics: HTTP requests by code" "$T/out" "http per code:"
has "zero rows are counted, not shown" "$T/out" "of zeros not shown"
run -c '\metrics all'
has "\\metrics all: a table per query" "$T/out" "Per query:"
check "with short column names" grep -qE '^ +query +\| flows \| flows_matched \| flows_late' "$T/out"
check "and a row per query" grep -qE '^ talkers +\| +0 \|' "$T/out"
run -c '\metrics late'
has "\\metrics word: only matching metrics" "$T/out" "flows_late"
hasnt "\\metrics word: nothing else" "$T/out" "flows_matched"
run -F json -c '\metrics flowsql_queries'
eq "\\metrics as JSON lines" "$(jq -r '"\(.metric)=\(.value)"' "$T/out")" "flowsql_queries=3"

# --- a live view: Ctrl-C (SIGINT) drops the temporary query ---------------------------------
"$B/flowsql" -u "$URL" -c "SELECT srcip, count(*) FROM flows WINDOW 1s GROUP BY srcip" \
    >"$T/out" 2>"$T/err" &
LIVE=$!
i=0
until [ "$(api GET /api/v1/queries | jq '[.queries[] | select(.source == "temporary" and .subscribers != 0)] | length')" = 1 ] ||
      [ "$(curl -s "$URL/metrics" | sed -n 's/^flowsql_sse_clients //p')" = 1 ] || [ $i -gt 50 ]; do
    sleep 0.1; i=$((i + 1))
done
eq "the live view registered a temporary query" \
   "$(api GET /api/v1/queries | jq -r '[.queries[] | select(.source == "temporary")] | length')" 1
eq "and follows its stream" "$(curl -s "$URL/metrics" | sed -n 's/^flowsql_sse_clients //p')" 1
kill -INT $LIVE
wait $LIVE
eq "Ctrl-C ends a live view normally (exit 0)" "$?" 0
check "and says the query was dropped" grep -qE '^Stopped; temporary query tmp_[0-9a-f_]+ dropped\.$' "$T/err"
eq "the temporary query is gone" \
   "$(api GET /api/v1/queries | jq -r '[.queries[] | select(.source == "temporary")] | length')" 0

"$B/flowsql" -u "$URL" -c "SELECT count(*) FROM flows WINDOW 1s" -c "SHOW QUERIES" \
    >"$T/out" 2>"$T/err" &
LIVE=$!
i=0
until [ "$(curl -s "$URL/metrics" | sed -n 's/^flowsql_sse_clients //p')" = 1 ] || [ $i -gt 50 ]; do
    sleep 0.1; i=$((i + 1))
done
kill -TERM $LIVE
wait $LIVE
eq "SIGTERM during a live view exits 143" "$?" 143
has "after dropping the temporary query" "$T/err" "Stopped; temporary query"
hasnt "and runs nothing more" "$T/out" "talkers"
eq "no temporary query left" \
   "$(api GET /api/v1/queries | jq -r '[.queries[] | select(.source == "temporary")] | length')" 0

run -c "SELECT srcip FROM flows WINDOW 1s GROUP BY dstip"
eq "a live SELECT with an error exits 1" "$RC" 1
has "with the server's caret" "$T/err" "ERROR: line 1, column 8: field 'srcip' must appear in GROUP BY"

# \watch ends by itself when the query is dropped (the stream's end event)
"$B/flowsql" -u "$URL" -c '\watch talkers' -c 'SHOW QUERIES' >"$T/out" 2>"$T/err" &
WATCH=$!
i=0
until [ "$(curl -s "$URL/metrics" | sed -n 's/^flowsql_sse_clients //p')" = 1 ] || [ $i -gt 50 ]; do
    sleep 0.1; i=$((i + 1))
done
has "\\watch says what it follows" "$T/err" 'Watching "talkers"'
api DELETE /api/v1/queries/talkers >/dev/null
i=0
while kill -0 $WATCH 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
wait $WATCH
eq "\\watch of a query that is dropped ends normally (exit 0)" "$?" 0
has "and says why" "$T/err" 'query "talkers" was dropped; the live view ends'
has "and the script goes on" "$T/out" "(2 rows)"

run -c '\watch nosuch'
eq "\\watch of a missing query exits 1" "$RC" 1
has "and says so" "$T/err" "ERROR: no query named 'nosuch'"

# --- the API token ----------------------------------------------------------------------------
stop_flowsqld
FLOWSQL_API_TOKEN=s3cret start_flowsqld || exit 1
URL=http://$HTTP
run -c "SHOW QUERIES"
eq "no token: exit 1" "$RC" 1
has "no token: the server's reason and where to give it" "$T/err" \
    "ERROR: missing or wrong API token (give it with --token or FLOWSQL_API_TOKEN)"
FLOWSQL_API_TOKEN=s3cret "$B/flowsql" -u "$URL" -c "SHOW QUERIES" >"$T/out" 2>&1
eq "token from FLOWSQL_API_TOKEN" "$?" 0
run --token s3cret -c "SHOW QUERIES"
eq "token from --token" "$RC" 0
check "and the answer" grep -qE '^\([0-9]+ rows?\)$' "$T/out"
stop_flowsqld
exit 0
