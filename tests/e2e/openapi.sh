#!/bin/sh
# docs/openapi.yaml is a valid OpenAPI 3.0 document (checked by
# openapi-spec-validator, a pinned PyPI release in a venv of its own
# under $FLOWSQL_CACHE), and every error status the live daemon gives
# for a bad request is documented for its operation.
. "$(dirname "$0")/lib.sh"
top=$(cd "$(dirname "$0")/../.." && pwd)
SPEC=$top/docs/openapi.yaml
REQ=$top/tests/tools/openapi-requirements.txt

cache=${FLOWSQL_CACHE:-$HOME/.cache/flowsql}
venv=$cache/openapi-venv-$(sha256sum "$REQ" | cut -c1-12)
if [ ! -x "$venv/bin/openapi-spec-validator" ]; then
    mkdir -p "$cache"
    rm -rf "$venv"
    if ! python3 -m venv "$venv" >"$T/venv.log" 2>&1 ||
       ! "$venv/bin/pip" install -q --no-deps -r "$REQ" >>"$T/venv.log" 2>&1; then
        cat "$T/venv.log" >&2
        rm -rf "$venv"
        fail "install openapi-spec-validator (tests/tools/openapi-requirements.txt)"
        exit 1
    fi
fi
"$venv/bin/openapi-spec-validator" "$SPEC" >"$T/validate" 2>&1
st=$?
check "docs/openapi.yaml passes openapi-spec-validator" test $st -eq 0
[ $st -eq 0 ] || head -n 5 "$T/validate" >&2

# Every status a bad request gets is documented for that operation.
mkdir -p "$T/replay"
start_flowsqld --max-body 4096 --replay-dir "$T/replay" || exit 1
api POST /api/v1/queries '{"name":"q","sql":"SELECT count(*) FROM flows WINDOW 10s"}' >/dev/null
: >"$T/seen"
# hit METHOD PATTERN PATH [BODY]
hit() {
    api "$1" "$3" "$4" >/dev/null
    echo "$1 $2 $CODE" >>"$T/seen"
}
R=/api/v1/queries/{name}/results
hit GET $R '/api/v1/queries/q/results?limit=null'
hit GET $R '/api/v1/queries/q/results?limit=-1'
hit GET $R '/api/v1/queries/q/results?from=abc'
hit GET $R '/api/v1/queries/q/results?to=2024-13-45'
hit GET $R '/api/v1/queries/nope/results'
hit GET /api/v1/queries/{name} /api/v1/queries/nope
hit DELETE /api/v1/queries/{name} /api/v1/queries/nope
hit GET /api/v1/queries/{name}/stream /api/v1/queries/nope/stream
hit POST /api/v1/queries /api/v1/queries '{"sql":'
hit POST /api/v1/queries /api/v1/queries '{"name":"q","sql":"SELECT count(*) FROM flows WINDOW 10s"}'
hit POST /api/v1/queries /api/v1/queries '{"sql":"SELECT nope FROM flows WINDOW 10s","name":"x"}'
hit POST /api/v1/sql /api/v1/sql '[]'
hit POST /api/v1/sql /api/v1/sql '{"sql":"DELETE FROM q"}'
hit POST /api/v1/explain /api/v1/explain '{"sql":1}'
hit POST /api/v1/replay /api/v1/replay '{"sql":"SELECT count(*) FROM flows"}'
hit POST /api/v1/replay /api/v1/replay '{"sql":"SELECT count(*) FROM flows","file":"nope.ipfix"}'
hit POST /api/v1/replay /api/v1/replay '{"sql":"SELECT count(*) FROM flows","file":"/etc/passwd"}'
head -c 8000 /dev/zero | tr '\0' 'a' >"$T/big"
CODE=$(curl -s -o /dev/null -w '%{http_code}' -X POST --data-binary @"$T/big" "http://$HTTP/api/v1/sql")
echo "POST /api/v1/sql $CODE" >>"$T/seen"
stop_flowsqld
# Without a replay directory, replay is off.
start_flowsqld || exit 1
hit POST /api/v1/replay /api/v1/replay '{"sql":"SELECT count(*) FROM flows","file":"x.ipfix"}'
stop_flowsqld
# With a token, every route answers 401 without it.
FLOWSQL_API_TOKEN=t0k start_flowsqld || exit 1
hit GET /api/v1/queries /api/v1/queries
hit POST /api/v1/sql /api/v1/sql '{"sql":"SELECT 1"}'
stop_flowsqld

check "the daemon gave some errors" test "$(grep -c ' [45][0-9][0-9]$' "$T/seen")" -ge 20
"$venv/bin/python" "$top/tests/tools/openapi_status.py" "$SPEC" <"$T/seen" >"$T/undoc"
st=$?
check "every status a bad request gets is documented" test $st -eq 0
sed 's/^/  /' "$T/undoc" >&2
exit 0
