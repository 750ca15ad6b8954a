#!/bin/sh
# REST API end to end against the real daemon on loopback: registration,
# listing, errors of every kind, limits, token, saved queries and SIGHUP,
# refusing to start, clean shutdown.
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/run/queries"
cat > "$T/run/queries/proto_stats.sql" <<'SQL'
-- flows per protocol, every 10 s
SELECT proto, count(*) AS flows FROM flows WINDOW 10s GROUP BY proto
SQL
start_flowsqld --max-queries 4 --max-body 65536 || exit 1

# --- registration -------------------------------------------------------
api POST /api/v1/queries '{"name":"talkers","sql":"SELECT srcip, count(*) FROM flows WINDOW 10s GROUP BY srcip"}' >"$T/r1"
eq "POST /queries registers (201)" "$CODE" 201
check "the answer holds the plan" grep -q 'aggregate  hash by srcip' "$T/r1"
eq "the stored text is a CREATE QUERY" "$(jq -r .sql "$T/r1")" \
   "CREATE QUERY talkers AS SELECT srcip, count(*) FROM flows WINDOW 10s GROUP BY srcip"

api POST /api/v1/queries '{"sql":"CREATE QUERY big WITH (retention = '"'"'1h'"'"', max_groups = 10) AS SELECT dstport, sum(bytes) FROM flows WINDOW 1m GROUP BY dstport"}' >"$T/r2"
eq "CREATE QUERY with options (201)" "$CODE" 201
eq "options are shown" "$(jq -r .options.retention "$T/r2")" 1h

api POST /api/v1/queries '{"name":"talkers","sql":"SELECT srcip, count(*) FROM flows WINDOW 10s GROUP BY srcip"}' >/dev/null
eq "same name again is 409" "$CODE" 409
api POST /api/v1/queries '{"sql":"CREATE QUERY IF NOT EXISTS talkers AS SELECT dstip, count(*) FROM flows WINDOW 1m GROUP BY dstip"}' >"$T/ine"
eq "CREATE QUERY IF NOT EXISTS of an existing name is 200" "$CODE" 200
eq "and leaves the query as it was" "$(jq -r .sql "$T/ine")" \
   "CREATE QUERY talkers AS SELECT srcip, count(*) FROM flows WINDOW 10s GROUP BY srcip"

api GET /api/v1/queries >"$T/list"
eq "GET /queries lists the saved file's query too" \
   "$(jq -r '[.queries[].name] | sort | join(",")' "$T/list")" "big,proto_stats,talkers"
eq "saved query source" "$(jq -r '.queries[] | select(.name=="proto_stats") | .source' "$T/list")" file

api GET /api/v1/queries/talkers >"$T/one"
eq "GET /queries/{name}" "$CODE" 200
eq "columns with types" "$(jq -r '[.columns[] | .name + ":" + .type] | join(",")' "$T/one")" "srcip:ip,count:int"
eq "counters present" "$(jq -r .counters.windows "$T/one")" 0

# --- statement errors carry their position ------------------------------
api POST /api/v1/queries '{"name":"x","sql":"SELECT srcip,\n  count(*)\nFROM flows WINDOW 10s GROUP BY dstip"}' >"$T/e1"
eq "semantic error is 400" "$CODE" 400
eq "error message" "$(jq -r .error "$T/e1")" \
   "field 'srcip' must appear in GROUP BY or be used in an aggregate function"
eq "error line and column" "$(jq -r '"\(.line):\(.column)"' "$T/e1")" "1:8"

api POST /api/v1/queries '{"name":"x","sql":"SELECT count(* FROM flows WINDOW 10s"}' >"$T/e2"
eq "syntax error is 400" "$CODE" 400
check "syntax error says where" test "$(jq -r .column "$T/e2")" = 16

api POST /api/v1/queries '{"name":"x","sql":"SELECT count(*) FROM flows"}' >"$T/e3"
eq "continuous query without WINDOW is 400" "$CODE" 400
check "and says why" grep -q 'needs a WINDOW' "$T/e3"

# An error in "options" is not in the statement sent: no position past
# its end (found by tests/fuzz/fuzz_rest.c: the caret was drawn from
# memory past the statement).
api POST /api/v1/queries '{"sql":"SELECT count(*) FROM flows WINDOW 4s","temporary":true,"options":{"retention":"1hkeep_data=1"}}' >"$T/e7"
eq "a bad option is 400" "$CODE" 400
eq "saying which" "$(jq -r .error "$T/e7")" \
   "retention must be a duration such as '24h' or a number of windows"
check "with no position past the end of the statement" \
    jq -e '((.offset // 0) + (.length // 0)) <= 36' "$T/e7"

# --- malformed requests -----------------------------------------------------
api POST /api/v1/queries '{"name": "x", "sql": ' >"$T/e4"
eq "malformed JSON is 400" "$CODE" 400
check "malformed JSON message" grep -q 'malformed JSON' "$T/e4"
api POST /api/v1/queries '{"name":"x"}' >"$T/e5"
eq "missing sql is 400" "$CODE" 400
eq "missing field message" "$(jq -r .error "$T/e5")" 'missing field "sql"'
api POST /api/v1/queries '{"name":"x","sql":42}' >/dev/null
eq "wrong type is 400" "$CODE" 400
api POST /api/v1/queries '[1,2]' >/dev/null
eq "non-object body is 400" "$CODE" 400
api GET /api/v1/nope >/dev/null
eq "unknown route is 404" "$CODE" 404
# Bytes that are not UTF-8 in a name (found by tests/fuzz/fuzz_rest.c):
# the error still says what went wrong, those bytes shown as '?'.
api GET '/api/v1/queries/a%E9b' >"$T/e8"
eq "a name that is not UTF-8 is 404" "$CODE" 404
eq "with an error message" "$(jq -r .error "$T/e8")" "no query named 'a?b'"
api GET '/api/v1/queries/a%E9b/results' >"$T/e9"
check "and so for its results" jq -e '.error | length > 0' "$T/e9"
api POST /api/v1/queries "$(printf '{"name":"x","sql":"SELECT \\u00e9\\u00ff\\u0000 FROM flows WINDOW 1s"}')" >"$T/e10"
eq "an SQL error about such bytes is 400" "$CODE" 400
check "with an error message" jq -e '.error | length > 0' "$T/e10"
api PUT /api/v1/queries >/dev/null
eq "wrong method is 405" "$CODE" 405
ALLOW=$(curl -s -i -X PUT "http://$HTTP/api/v1/queries" | tr -d '\r' | sed -n 's/^Allow: //p')
eq "405 says what is allowed" "$ALLOW" "GET, POST"
head -c 200000 /dev/zero | tr '\0' 'a' >"$T/big"
CODE=$(curl -s -o "$T/body" -w '%{http_code}' -X POST --data-binary @"$T/big" "http://$HTTP/api/v1/queries")
eq "body over --max-body is 413" "$CODE" 413
head -c 3000000 /dev/urandom >"$T/garbage"
CODE=$(curl -s -o /dev/null -w '%{http_code}' -X POST --data-binary @"$T/garbage" "http://$HTTP/api/v1/sql")
eq "3 MB of garbage is 413" "$CODE" 413
api GET /healthz >/dev/null
eq "still serving after bad input" "$CODE" 200

# --- limits -----------------------------------------------------------------
api POST /api/v1/queries '{"name":"q3","sql":"SELECT count(*) FROM flows WINDOW 1s"}' >/dev/null
eq "fourth query fits" "$CODE" 201
api POST /api/v1/queries '{"name":"q4","sql":"SELECT count(*) FROM flows WINDOW 1s"}' >"$T/e6"
eq "query cap reached is 429" "$CODE" 429
check "cap message" grep -q 'too many queries' "$T/e6"

# --- explain and drop ---------------------------------------------------------
api POST /api/v1/explain '{"sql":"SELECT srcip, sum(bytes) AS b FROM flows WINDOW 5m SLIDE 10s GROUP BY srcip HAVING count(*) > 10 ORDER BY b DESC LIMIT 5"}' >"$T/x"
eq "explain (200)" "$CODE" 200
check "explain shows the panes" grep -q 'hopping 5m, slide 10s (30 panes)' "$T/x"
api DELETE /api/v1/queries/q3 >/dev/null
eq "DELETE is 204" "$CODE" 204
api DELETE /api/v1/queries/q3 >/dev/null
eq "DELETE again is 404" "$CODE" 404
api GET /api/v1/queries/q3 >/dev/null
eq "dropped query is gone" "$CODE" 404

# --- saved queries: SIGHUP ------------------------------------------------------
echo "SELECT dstport, count(*) FROM flows WINDOW 10s GROUP BY dstport" >"$T/run/queries/services.sql"
rm "$T/run/queries/proto_stats.sql"
kill -HUP "$FLOWSQLD"
sleep 0.5
api GET /api/v1/queries >"$T/list2"
eq "SIGHUP loads new files and drops removed ones" \
   "$(jq -r '[.queries[].name] | sort | join(",")' "$T/list2")" "big,services,talkers"

# --- metrics ------------------------------------------------------------------------
curl -s "http://$HTTP/metrics" >"$T/metrics"
check "metrics per query" grep -q 'flowsql_query_flows_total{query="talkers"} 0' "$T/metrics"
check "metrics count HTTP statuses" grep -q 'flowsql_http_requests_total{code="413"} 2' "$T/metrics"

# --- refusing to start ----------------------------------------------------------------
"$B/flowsqld" --http "$HTTP" --ipfix-port 0 --netflow-port 0 --sflow-port 0 --data-dir "$T/d2" \
    --queries-dir "$T/none" 2>"$T/taken.log" &
P2=$!
PIDS="$PIDS $P2"
sleep 1
if kill -0 $P2 2>/dev/null; then fail "a taken HTTP port stops the start"; else
    wait $P2; st=$?
    check "a taken HTTP port stops the start" test $st -ne 0
    check "and says so" grep -q 'cannot listen for HTTP' "$T/taken.log"
fi
"$B/flowsqld" --http 127.0.0.1:0 --data-dir /proc/flowsql --ipfix-port 0 \
    --netflow-port 0 --sflow-port 0 2>"$T/ro.log"
check "an unwritable data directory stops the start" test $? -ne 0
check "and says so" grep -q 'data directory' "$T/ro.log"
"$B/flowsqld" --bogus 2>"$T/opt.log"
eq "an unknown option exits 2" $? 2
# A config file: name = value lines, the command line wins over it.
CP=$(free_port)
cat >"$T/flowsqld.conf" <<CONF
# flowsqld settings
http = 127.0.0.1:$CP
ipfix-port = 0       # collectors off
netflow-port = 0
sflow-port = 0
data-dir = $T/d3
log-level = "warn"
CONF
"$B/flowsqld" --config "$T/flowsqld.conf" --queries-dir "$T/none" 2>"$T/conf.log" &
P3=$!
PIDS="$PIDS $P3"
up3() { curl -sf "http://127.0.0.1:$CP/healthz" >/dev/null; }
check "a config file sets the options" wait_until 10 up3
kill -TERM $P3; wait $P3
check "and its log level (warn: no info lines)" sh -c "! grep -q ' INFO ' '$T/conf.log'"
echo "bogus = 1" >"$T/bad.conf"
"$B/flowsqld" --config "$T/bad.conf" 2>"$T/badconf.log"
eq "an unknown setting in the file exits 2" $? 2
check "naming the file and line" grep -q 'bad.conf:1: unknown setting .bogus.' "$T/badconf.log"
"$B/flowsqld" --help >"$T/help"
check "--help lists every option with its default" grep -q -- '--ipfix-port=N.*\[4739\]' "$T/help"

# --- shutdown -------------------------------------------------------------------------
stop_flowsqld
eq "SIGTERM exits 0" "$STATUS" 0

# --- token ------------------------------------------------------------------------------
FLOWSQL_API_TOKEN=s3cret start_flowsqld || exit 1
api GET /api/v1/queries >/dev/null
eq "no token is 401" "$CODE" 401
TOKEN=wrong api GET /api/v1/queries >/dev/null
eq "wrong token is 401" "$CODE" 401
TOKEN=s3cre api GET /api/v1/queries >/dev/null
eq "a prefix of the token is 401" "$CODE" 401
TOKEN=s3cret api GET /api/v1/queries >/dev/null
eq "right token is 200" "$CODE" 200
# The auth scheme is case-insensitive (RFC 7235): bearer, BEARER.
CODE=$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: bearer s3cret' "http://$HTTP/api/v1/queries")
eq "'bearer' in lower case is accepted" "$CODE" 200
CODE=$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: BEARER s3cret' "http://$HTTP/api/v1/queries")
eq "'BEARER' in upper case is accepted" "$CODE" 200
CODE=$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Basic s3cret' "http://$HTTP/api/v1/queries")
eq "another scheme is 401" "$CODE" 401
# A NUL inside the header must not cut the comparison short.
raw_status() { # HEADER-VALUE (python escapes): the status line's code
    python3 - "$HTTP_PORT" "$1" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
v = sys.argv[2].encode().decode("unicode_escape").encode("latin-1")
s.sendall(b"GET /api/v1/queries HTTP/1.1\r\nHost: x\r\nAuthorization: " + v +
          b"\r\nConnection: close\r\n\r\n")
d = b""
while True:
    b = s.recv(4096)
    if not b:
        break
    d += b
print(d.split(b" ")[1].decode() if d.startswith(b"HTTP/") else "none")
PY
}
eq "a raw request with the right token is 200" "$(raw_status 'Bearer s3cret')" 200
check "a NUL after the right token is not 200" \
    test "$(raw_status 'Bearer s3cret\x00junk')" != 200
check "a NUL at the token's place is not 200" \
    test "$(raw_status 'Bearer \x00')" != 200
stop_flowsqld

# --api-token-file: the token is read from a file, never on the command line
printf 'f1l3-t0ken\n' >"$T/token"
chmod 600 "$T/token"
HEALTH_TOKEN=f1l3-t0ken start_flowsqld --api-token-file "$T/token" || exit 1
api GET /api/v1/queries >/dev/null
eq "--api-token-file: no token is 401" "$CODE" 401
TOKEN=f1l3-t0ken api GET /api/v1/queries >/dev/null
eq "--api-token-file: the file's token (without its newline) is 200" "$CODE" 200
check "the token is not in the process's command line" \
    sh -c "! tr '\\0' ' ' </proc/$FLOWSQLD/cmdline | grep -q f1l3"
stop_flowsqld
"$B/flowsqld" --http 127.0.0.1:0 --api-token-file "$T/none" --data-dir "$T/d4" \
    --ipfix-port 0 --netflow-port 0 --sflow-port 0 2>"$T/tf.log"
check "an unreadable --api-token-file stops the start" test $? -ne 0
check "and says which file" grep -q "api-token-file.*$T/none" "$T/tf.log"
: >"$T/empty"
"$B/flowsqld" --http 127.0.0.1:0 --api-token-file "$T/empty" --data-dir "$T/d4" \
    --ipfix-port 0 --netflow-port 0 --sflow-port 0 2>"$T/tf2.log"
check "an empty --api-token-file stops the start" test $? -ne 0

# --- temporary queries are dropped once nobody follows them -------------------
start_flowsqld --temporary-idle 1s || exit 1
api POST /api/v1/queries '{"sql":"SELECT count(*) FROM flows WINDOW 1s","temporary":true}' >"$T/tmp"
eq "a temporary query (201)" "$CODE" 201
TMPQ=$(jq -r .name "$T/tmp")
check "gets a generated name" sh -c "echo '$TMPQ' | grep -q '^tmp_'"
eq "and is not stored" "$(jq -r .source "$T/tmp")" temporary
curl -sN "http://$HTTP/api/v1/queries/$TMPQ/stream" >/dev/null 2>&1 &
FOLLOW=$!
PIDS="$PIDS $FOLLOW"
sleep 2.5
api GET "/api/v1/queries/$TMPQ" >/dev/null
eq "kept while a client follows it" "$CODE" 200
kill $FOLLOW
gone() { api GET "/api/v1/queries/$TMPQ" >/dev/null; [ "$CODE" = 404 ]; }
check "dropped after the last client left" wait_until 10 gone
stop_flowsqld
exit 0
