#!/bin/sh
# shell_token.sh - flowsql's API token from a file (-T/--token-file, or
# FLOWSQL_API_TOKEN_FILE), so it is not in the process list.
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
exit 0
