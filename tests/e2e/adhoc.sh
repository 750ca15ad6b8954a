#!/bin/sh
# POST /api/v1/sql streams its answer: memory stays flat however large
# the result, the answer stops at --adhoc-bytes ("truncated": true), the
# time limit covers the whole answer (SQLite, formatting, sending), and an
# error met after the answer began is still in it (a final "error"
# member, or a "#error:" line in CSV).
. "$(dirname "$0")/lib.sh"

start_flowsqld --adhoc-bytes 8M --adhoc-timeout 3s --adhoc-rows 1000000 || exit 1
hwm() { awk '/^VmHWM:/ {print $2}' /proc/$FLOWSQLD/status; }
ROWS='WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 20000)'

# 20000 rows of 20000 characters: 400 MB of JSON if built whole.
H0=$(hwm)
CODE=$(curl -s -o "$T/big.json" -w '%{http_code}' -d "{\"sql\":\"$ROWS SELECT x, hex(randomblob(10000)) AS h FROM c\"}" "http://$HTTP/api/v1/sql")
H1=$(hwm)
eq "a 400 MB result answers 200" "$CODE" 200
check "the answer is JSON" jq -e . "$T/big.json" >/dev/null
eq "cut at --adhoc-bytes: truncated" "$(jq .truncated "$T/big.json")" true
SZ=$(wc -c <"$T/big.json")
check "and no larger than 8 MB plus a row ($SZ bytes)" test "$SZ" -le $((8 * 1048576 + 30000))
check "rows up to the cut are whole" test "$(jq '.rows | length' "$T/big.json")" -ge 300
check "the daemon's peak memory grew by less than 64 MB ($H0 -> $H1 kB)" \
    test $((H1 - H0)) -lt 65536
# Rows go out many to a chunk (of up to 64 kB), not one chunk (a send()
# and a select()) per row: 20000 small rows in a handful of chunks.
curl -s --raw -o "$T/raw" -d "{\"sql\":\"$ROWS SELECT x FROM c\"}" "http://$HTTP/api/v1/sql"
chunks=$(grep -caE "$(printf '^[0-9a-fA-F]+\r$')" "$T/raw")
check "20000 small rows in at most 20 chunks ($chunks)" test "$chunks" -le 20
curl -s -o "$T/small.json" -d "{\"sql\":\"$ROWS SELECT x FROM c\"}" "http://$HTTP/api/v1/sql"
eq "and every row is there, in order" "$(jq -c '[(.rows | length), .rows[0][0], .rows[-1][0]]' "$T/small.json")" "[20000,1,20000]"
# Four at once.
for i in 1 2 3 4; do
    curl -s -o "$T/p$i.json" -d "{\"sql\":\"$ROWS SELECT x, hex(randomblob(10000)) FROM c\"}" "http://$HTTP/api/v1/sql" &
    PIDS="$PIDS $!"
    eval "P$i=\$!"
done
wait $P1 $P2 $P3 $P4
H2=$(hwm)
check "four at once: peak memory still under +128 MB ($H0 -> $H2 kB)" \
    test $((H2 - H0)) -lt 131072
echo "# VmHWM $H0 kB, after one $H1 kB, after four $H2 kB; answer $SZ bytes" >&2

# CSV streams too.
CODE=$(curl -s -o "$T/x.csv" -w '%{http_code}' -H 'Accept: text/csv' -d "{\"sql\":\"$ROWS SELECT x, x * 2 AS y FROM c\"}" "http://$HTTP/api/v1/sql")
eq "CSV (200)" "$CODE" 200
eq "CSV header and 20000 rows" "$(tr -d '\r' <"$T/x.csv" | sed -n '1p;$p' | tr '\n' ' ')" "x,y 20000,40000 "

# A small result is unchanged: columns, types, rows, truncated, elapsed_ms.
api POST /api/v1/sql '{"sql":"SELECT 1 AS a, '"'"'x'"'"' AS b, 2.5 AS c, NULL AS d"}' >"$T/small"
eq "small result (200)" "$CODE" 200
eq "its shape" "$(jq -c '[.columns, .types, .rows, .truncated, (.elapsed_ms | type)]' "$T/small")" \
   '[["a","b","c","d"],["int","string","float","any"],[[1,"x",2.5,null]],false,"number"]'
api POST /api/v1/sql '{"sql":"SELECT 1 WHERE 0"}' >"$T/empty"
eq "an empty result" "$(jq -c '[.columns, .rows]' "$T/empty")" '[["1"],[]]'

# The time limit covers what SQLite's functions do: printf with a huge
# width or precision ran 10 s past a 5 s limit.
t0=$(date +%s)
api POST /api/v1/sql "{\"sql\":\"SELECT printf('%.*c', 999999999, 'x')\"}" >"$T/pf"
t1=$(date +%s)
eq "printf with a width of 999999999 is refused (400)" "$CODE" 400
check "at once ($((t1 - t0)) s)" test $((t1 - t0)) -le 2
check "saying why" grep -q 'printf' "$T/pf"
api POST /api/v1/sql "{\"sql\":\"SELECT printf('%5.2f|%-4d|%s', 3.14159, 7, 'ok'), format('%.*c', 3, 'y')\"}" >"$T/pf2"
eq "printf and format still format" "$(jq -c '.rows[0]' "$T/pf2")" '[" 3.14|7   |ok","yyy"]'

# The time limit covers sending: a client reading 1 MB/s of a 64 MB
# answer (--adhoc-bytes' default) is cut at 3 s, and the answer says so
# at its end (which comes later: what the sockets hold is still sent).
stop_flowsqld
start_flowsqld --adhoc-timeout 3s --adhoc-rows 1000000 || exit 1
t0=$(date +%s)
curl -s --limit-rate 1M -o "$T/slow.json" -d "{\"sql\":\"$ROWS SELECT x, hex(randomblob(10000)) FROM c\"}" "http://$HTTP/api/v1/sql"
t1=$(date +%s)
SZ=$(wc -c <"$T/slow.json")
check "a slow reader is cut long before the whole answer ($((t1 - t0)) s, $SZ bytes)" \
    test "$SZ" -le 40000000
check "the cut answer is still JSON" jq -e . "$T/slow.json" >/dev/null
check "with the error at its end" \
    sh -c "jq -r .error '$T/slow.json' | grep -q 'time limit of 3000 ms'"
curl -s --limit-rate 1M -o "$T/slow.csv" -H 'Accept: text/csv' -d "{\"sql\":\"$ROWS SELECT x, hex(randomblob(10000)) FROM c\"}" "http://$HTTP/api/v1/sql"
check "a cut CSV answer ends with an #error: line" \
    sh -c "tail -n 1 '$T/slow.csv' | grep -q '^#error: query interrupted: time limit of 3000 ms'"

# An error after the first row: the rows so far, then the error.
SLOW='WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c WHERE x = 1 OR x > 1000000000'
api POST /api/v1/sql "{\"sql\":\"$SLOW\"}" >"$T/late"
eq "a time limit after the first row: 200, the answer began" "$CODE" 200
eq "its rows so far and the error" "$(jq -c '[.rows, .error]' "$T/late")" \
   '[[[1]],"query interrupted: time limit of 3000 ms reached"]'
"$B/flowsql" -u "http://$HTTP" -c "$SLOW" >"$T/sh.out" 2>"$T/sh.err"
RC=$?
check "the shell prints the rows it got" grep -q '^ *1 *$' "$T/sh.out"
check "and the error" grep -q 'time limit of 3000 ms' "$T/sh.err"
check "and fails" test $RC -ne 0

# An error before the first row is still a plain 400.
api POST /api/v1/sql '{"sql":"SELECT nope FROM no_such_table"}' >"$T/e"
eq "an unknown table is 400" "$CODE" 400
check "with SQLite's message" grep -q 'no such table' "$T/e"
api GET /healthz >/dev/null
eq "still serving" "$CODE" 200
stop_flowsqld
eq "SIGTERM exits 0" "$STATUS" 0
exit 0
