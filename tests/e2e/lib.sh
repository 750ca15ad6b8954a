# tests/e2e/lib.sh - helpers for end-to-end tests, sourced by each script.
#
# Each script prints "ok - name" / "not ok - name" lines (counted by
# tests/run.sh) and cleans up after itself: every process it starts is
# killed on exit, every file lives under $T.

B=${FLOWSQL_BUILD:-$(pwd)/build}
T=$(mktemp -d /tmp/flowsql-e2e.XXXXXX)
PIDS=""
FAILED=0

cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null; done
    sleep 0.2
    for p in $PIDS; do kill -9 "$p" 2>/dev/null; done
    [ -n "$KEEP" ] || rm -rf "$T"
}
trap cleanup EXIT INT TERM

ok()   { echo "ok - $1"; }
fail() { echo "not ok - $1"; FAILED=$((FAILED + 1)); [ -n "$2" ] && echo "  $2" >&2; }
# check NAME COMMAND...: ok if the command succeeds
check() { n=$1; shift; if "$@"; then ok "$n"; else fail "$n"; fi; }
# eq NAME GOT WANT
eq() { if [ "$2" = "$3" ]; then ok "$1"; else fail "$1" "got [$2] want [$3]"; fi; }

# A free TCP/UDP port on loopback.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start_flowsqld ARGS...: starts the daemon on fresh ports in $T/run
# (HEALTH_TOKEN, else FLOWSQL_API_TOKEN: the token its health check sends),
# waits until /healthz answers. Sets HTTP (host:port), IPFIX, NETFLOW,
# SFLOW.
start_flowsqld() {
    HTTP_PORT=$(free_port)
    IPFIX=${IPFIX:-$(free_port)}
    NETFLOW=${NETFLOW:-$(free_port)}
    SFLOW=${SFLOW:-$(free_port)}
    HTTP=127.0.0.1:$HTTP_PORT
    mkdir -p "$T/run"
    (cd "$T/run" && exec "$B/flowsqld" --http "$HTTP" --ipfix-port "$IPFIX" \
        --netflow-port "$NETFLOW" --sflow-port "$SFLOW" --data-dir "$T/run/data" \
        --queries-dir "${QUERIES_DIR:-$T/run/queries}" "$@" \
        2>>"$T/flowsqld.log") &
    FLOWSQLD=$!
    PIDS="$PIDS $FLOWSQLD"
    i=0
    htok=${HEALTH_TOKEN:-$FLOWSQL_API_TOKEN}
    while ! curl -sf ${htok:+-H "Authorization: Bearer $htok"} "http://$HTTP/healthz" >/dev/null 2>&1; do
        i=$((i + 1))
        if [ $i -gt 100 ] || ! kill -0 "$FLOWSQLD" 2>/dev/null; then
            echo "flowsqld did not start:" >&2
            cat "$T/flowsqld.log" >&2
            return 1
        fi
        sleep 0.1
    done
}

stop_flowsqld() {
    kill -TERM "$FLOWSQLD" 2>/dev/null
    wait "$FLOWSQLD" 2>/dev/null
    STATUS=$?
}

# api METHOD PATH [BODY]: prints the body, sets CODE.
api() {
    if [ -n "$3" ]; then
        CODE=$(curl -s -o "$T/body" -w '%{http_code}' -X "$1" \
            -H 'Content-Type: application/json' ${TOKEN:+-H "Authorization: Bearer $TOKEN"} \
            --data-binary "$3" "http://$HTTP$2")
    else
        CODE=$(curl -s -o "$T/body" -w '%{http_code}' -X "$1" \
            ${TOKEN:+-H "Authorization: Bearer $TOKEN"} "http://$HTTP$2")
    fi
    cat "$T/body"
}

# wait_until SECONDS COMMAND...: poll (every 0.1 s) until the command
# succeeds; fails after SECONDS. For conditions that depend on timing.
wait_until() {
    w_limit=$(( $1 * 10 )); shift
    w_i=0
    while ! "$@" >/dev/null 2>&1; do
        w_i=$((w_i + 1))
        [ $w_i -ge $w_limit ] && return 1
        sleep 0.1
    done
    return 0
}

# metric NAME{LABELS}: the value of that sample in the daemon's /metrics
metric() {
    curl -s "http://$HTTP/metrics" | awk -v m="$1" '$1 == m {print $2}'
}

# wait_metric NAME{LABELS} VALUE [SECONDS]: until the sample has that
# value (30 s by default)
wait_metric() {
    i=0
    while [ "$(metric "$1")" != "$2" ]; do
        i=$((i + 1)); [ $i -gt $((${3:-30} * 10)) ] && return 1
        sleep 0.1
    done
}

# metrics_documented WHAT FILE PREFIX DOC: the metrics in FILE (a saved
# /metrics) whose names begin with PREFIX are exactly those DOC's tables
# list as rows "| `name` |".
metrics_documented() {
    grep -o "^$3[a-z_]*" "$2" | sort -u >"$T/m.have"
    grep -o "^| \`$3[a-z_]*\`" "$4" | sed 's/^| `//; s/`$//' | sort -u >"$T/m.doc"
    check "every $1 metric is in $(basename "$4"), and only those" \
        cmp -s "$T/m.have" "$T/m.doc"
    comm -3 "$T/m.have" "$T/m.doc" >&2
}

# promtool_clean FILE: Prometheus' linter finds nothing in a saved
# /metrics (skipped without promtool)
promtool_clean() {
    command -v promtool >/dev/null || return 0
    eq "promtool check metrics is clean" \
       "$(promtool check metrics <"$1" 2>&1 | head -n 5 | tr '\n' ' ')" ""
}

# json_is PATH JQ_FILTER VALUE: GET PATH and compare a field (for wait_until)
json_is() {
    [ "$(curl -s ${TOKEN:+-H "Authorization: Bearer $TOKEN"} "http://$HTTP$1" | jq -r "$2")" = "$3" ]
}
