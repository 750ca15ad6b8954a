#!/bin/sh
# Readiness (docs/OPERATIONS.md): /healthz answers 503 {"status":
# "starting"} until the saved queries are loaded and the inputs bound,
# then 200 {"status":"ok"} with every query running; 503 "stopping" once
# a SIGTERM is being handled. The daemon here has 400 saved queries, so
# loading them takes long enough to be seen: /healthz is polled from the
# moment the daemon is started, and no answer may say ok before all 400
# are registered.
. "$(dirname "$0")/lib.sh"

N=400
mkdir -p "$T/queries"
i=0
while [ $i -lt $N ]; do
    printf 'CREATE QUERY q%04d AS SELECT srcip, count(*) AS flows FROM flows WINDOW 10s GROUP BY srcip\n' \
        $i >"$T/queries/q$(printf %04d $i).sql"
    i=$((i + 1))
done

HTTP_PORT=$(free_port)
HTTP=127.0.0.1:$HTTP_PORT
(cd "$T" && exec "$B/flowsqld" --http "$HTTP" --ipfix-port "$(free_port)" \
    --netflow-port 0 --sflow-port 0 --data-dir "$T/data" \
    --queries-dir "$T/queries" 2>>"$T/flowsqld.log") &
FLOWSQLD=$!
PIDS="$PIDS $FLOWSQLD"

# Poll until an answer says ok (30 s): each answer as "code status queries".
: >"$T/answers"
i=0
while [ $i -lt 3000 ]; do
    a=$(curl -s -m 2 -w ' %{http_code}' "http://$HTTP/healthz" 2>/dev/null)
    code=${a##* }
    body=${a% *}
    if [ "$code" != 000 ]; then
        echo "$code $(printf '%s' "$body" | jq -r '[.status, .queries] | map(tostring) | join(" ")' 2>/dev/null)" >>"$T/answers"
        [ "$code" = 200 ] && break
        # the shell (on a terminal: script) connecting now says so
        [ -s "$T/shell" ] || echo '\q' | timeout 5 script -qec \
            "$B/flowsql -u http://$HTTP" /dev/null >"$T/shell" 2>&1
    fi
    i=$((i + 1))
    sleep 0.01
done
echo "answers: $(sort "$T/answers" | uniq -c | sort -rn | head -5 | tr '\n' ';')" >&2
check "the daemon became ready" test "$code" = 200
check "while it loaded its saved queries, /healthz said starting (503)" \
    grep -q '^503 starting ' "$T/answers"
eq "no answer said ok before every saved query ran" \
   "$(grep '^200 ' "$T/answers" | grep -vc "^200 ok $N\$")" 0
eq "a 'starting' answer counts the queries loaded so far (fewer than $N)" \
   "$(awk -v n=$N '$1 == 503 && $3 < n {c++} END {print c + 0}' "$T/answers" | sed 's/^[1-9][0-9]*$/some/')" some
check "the shell's banner says the daemon is starting" \
    grep -qF "flowsqld at http://$HTTP is starting (loading its saved queries)" "$T/shell"
api GET /api/v1/queries >/dev/null
eq "ready: all $N saved queries are listed" "$(jq '.queries | length' "$T/body")" $N

# --- stopping ------------------------------------------------------------------
kill -TERM "$FLOWSQLD"
stop=""
i=0
while [ $i -lt 500 ] && kill -0 "$FLOWSQLD" 2>/dev/null; do
    a=$(curl -s -m 1 -w ' %{http_code}' "http://$HTTP/healthz" 2>/dev/null)
    case "$a" in *' 503') stop=$(printf '%s' "${a% *}" | jq -r .status) ; break ;; esac
    i=$((i + 1))
    sleep 0.01
done
wait "$FLOWSQLD"
eq "flowsqld exits 0" "$?" 0
eq "while it shut down, /healthz said stopping (503)" "$stop" stopping

exit 0
