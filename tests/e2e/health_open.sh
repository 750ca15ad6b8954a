#!/bin/sh
# health_open.sh - --health-open: GET /healthz without the API token
# answers its status alone; everything else still needs the token.
. "$(dirname "$0")/lib.sh"
mkdir -p "$T/run/queries"
code() { curl -s -o "$T/b" -w '%{http_code}' "$@"; }

export FLOWSQL_API_TOKEN=s3cret
start_flowsqld --archive off || exit 1
eq "without --health-open: /healthz needs the token" \
    "$(code "http://$HTTP/healthz")" 401
stop_flowsqld

start_flowsqld --archive off --health-open on || exit 1
eq "--health-open: /healthz without the token: 200" \
    "$(code "http://$HTTP/healthz")" 200
eq "... its status alone" "$(cat "$T/b")" '{"status":"ok"}'
eq "--health-open: /api/v1/healthz without the token: 200" \
    "$(code "http://$HTTP/api/v1/healthz")" 200
eq "--health-open: a wrong token is no token: status alone" \
    "$(code -H 'Authorization: Bearer nope' "http://$HTTP/healthz"; cat "$T/b")" \
    '200{"status":"ok"}'
eq "--health-open: with the token, the whole answer" \
    "$(code -H "Authorization: Bearer s3cret" "http://$HTTP/healthz" >/dev/null
       jq -r '[.status, .version] | join(" ")' "$T/b")" \
    "ok $("$B/flowsqld" --version | cut -d' ' -f2)"
eq "--health-open: /metrics still needs the token" \
    "$(code "http://$HTTP/metrics")" 401
eq "--health-open: /api/v1/queries still needs the token" \
    "$(code "http://$HTTP/api/v1/queries")" 401
eq "--health-open: POST /healthz still needs the token" \
    "$(code -X POST "http://$HTTP/healthz")" 401
stop_flowsqld

"$B/flowsqld" --health-open yes --http off --archive off \
    --data-dir "$T/d2" --queries-dir "$T/run/queries" 2>"$T/err"
eq "--health-open yes: exit status 1" $? 1
check "... and says why" grep -q "\-\-health-open: 'yes' is not on or off" "$T/err"
exit 0
