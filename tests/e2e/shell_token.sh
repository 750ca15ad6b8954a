#!/bin/sh
# shell_token.sh - flowsql's API token from a file (-T/--token-file, or
# FLOWSQL_API_TOKEN_FILE), so it is not in the process list; \connect to
# another flowsqld with the same token.
. "$(dirname "$0")/lib.sh"
mkdir -p "$T/run/queries"
export FLOWSQL_API_TOKEN=s3cret
start_flowsqld --archive off || exit 1
unset FLOWSQL_API_TOKEN
URL=http://$HTTP
printf 's3cret\n' >"$T/tok"
printf '\n' >"$T/empty"

run() { "$B/flowsql" -q -P -u "$URL" "$@" -c 'SHOW QUERIES;' >"$T/out" 2>"$T/err"; RC=$?; }
run
eq "no token: the statement fails" "$RC" 1
run --token-file "$T/tok"
eq "--token-file: the statement runs" "$RC" 0
run -T "$T/tok"
eq "-T: the statement runs" "$RC" 0
FLOWSQL_API_TOKEN_FILE=$T/tok run
eq "FLOWSQL_API_TOKEN_FILE: the statement runs" "$RC" 0
FLOWSQL_API_TOKEN_FILE=$T/tok run -t wrong
eq "-t wins over FLOWSQL_API_TOKEN_FILE" "$RC" 1
run --token-file "$T/missing"
eq "a missing token file: status 2" "$RC" 2
check "... and says which file" grep -q "flowsql: --token-file: .*$T/missing" "$T/err"
run --token-file "$T/empty"
eq "an empty token file: status 2, not a request without a token" "$RC" 2
check "... and says why" grep -q "no token on its first line" "$T/err"

# \connect: a second flowsqld with a query of its own.
A=$URL
IPFIX= NETFLOW= SFLOW=
export FLOWSQL_API_TOKEN=s3cret
start_flowsqld --archive off --data-dir "$T/b" || exit 1
unset FLOWSQL_API_TOKEN
B_URL=http://$HTTP
curl -s -o /dev/null -H 'Authorization: Bearer s3cret' -H 'Content-Type: application/json' \
    --data-binary '{"name":"only_b","sql":"SELECT count(*) FROM flows WINDOW 1m"}' \
    "$B_URL/api/v1/queries"
"$B/flowsql" -P -u "$A" -T "$T/tok" -c "\\connect $B_URL" -c 'SHOW QUERIES;' \
    >"$T/out" 2>"$T/err"
eq "connect URL: status 0" $? 0
check "connect URL: says where" grep -q "Connected to flowsqld .* at $B_URL" "$T/err"
check "connect URL: the statements go there, with the token" grep -q only_b "$T/out"
"$B/flowsql" -P -u "$A" -T "$T/tok" -c "\\connect ${B_URL#http://}" -c 'SHOW QUERIES;' \
    >"$T/out" 2>"$T/err"
check "connect host:port is http://host:port" grep -q only_b "$T/out"
dead=127.0.0.1:$(free_port)
"$B/flowsql" -P -u "$A" -T "$T/tok" -c "\\connect $dead" >"$T/out" 2>"$T/err"
eq "connect to nothing: status 1" $? 1
check "... and the shell keeps its server" grep -q "still connected to $A" "$T/err"
"$B/flowsql" -P -u "$A" -T "$T/tok" -c '\connect' >"$T/out" 2>"$T/err"
eq "connect without a URL: status 1" $? 1
check "... says what to give" grep -q "give the URL" "$T/err"
exit 0
