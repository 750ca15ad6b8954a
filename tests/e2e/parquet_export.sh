#!/bin/sh
# parquet_export.sh - answers of queries over the archive as Parquet
# (POST /api/v1/sql?format=parquet, the shell's -F parquet / -o
# FILE.parquet, flowsql export) read back by the real pyarrow and DuckDB
# (pinned PyPI releases in the venv of parquet_readers.sh): types as
# documented (times timestamp[ms, tz=UTC], addresses text or 16-byte
# binary, ints int64, floats double, booleans bool) and every value
# equal to flowsqld's own JSON answer to the same statement; an answer
# that cannot be finished is cut without its footer, never short.
. "$(dirname "$0")/lib.sh"
top=$(cd "$(dirname "$0")/../.." && pwd)
REQ=$top/tests/tools/parquet-requirements.txt
PY=$top/tests/tools/pq_answer.py

cache=${FLOWSQL_CACHE:-$HOME/.cache/flowsql}
venv=$cache/parquet-venv-$(sha256sum "$REQ" | cut -c1-12)
if ! "$venv/bin/python" -c 'import duckdb, pyarrow, xxhash' 2>/dev/null; then
    mkdir -p "$cache"
    rm -rf "$venv"
    if ! python3 -m venv "$venv" >"$T/venv.log" 2>&1 ||
       ! "$venv/bin/pip" install -q --no-deps -r "$REQ" >>"$T/venv.log" 2>&1; then
        cat "$T/venv.log" >&2
        rm -rf "$venv"
        fail "install duckdb, pyarrow, xxhash (tests/tools/parquet-requirements.txt)"
        exit 1
    fi
fi
py() { "$venv/bin/python" "$PY" "$@"; }

start_flowsqld --listen 127.0.0.1 --archive-flush 1s --export-rows 0 || exit 1
"$B/flowgen" --udp "127.0.0.1:$IPFIX" --flows 6000 --rate 6000 --now \
    --sources 60 --domains 2 --seed 3 2>/dev/null
"$B/flowgen" --udp "127.0.0.1:$IPFIX" --flows 2000 --rate 4000 --now \
    --ipv6 --sources 20 --seed 4 2>/dev/null
sql_json() { # statement -> $T/answer.json
    jq -cn --arg s "$1" '{sql: $s}' >"$T/req.json"
    CODE=$(curl -s -o "$T/answer.json" -w '%{http_code}' --data-binary @"$T/req.json" \
        "http://$HTTP/api/v1/sql")
}
sql_parquet() { # statement file [query args]
    jq -cn --arg s "$1" '{sql: $s}' >"$T/req.json"
    CODE=$(curl -s -o "$2" -w '%{http_code}' --data-binary @"$T/req.json" \
        "http://$HTTP/api/v1/sql?format=parquet$3")
}
has_flows() { sql_json "SELECT count(*) FROM flows"; [ "$(jq -r '.rows[0][0]' "$T/answer.json")" = "$1" ]; }
check "the archive holds the 8000 flows sent" wait_until 20 has_flows 8000

# ---- every type, raw flows and aggregates ---------------------------------
same_answer() { # name statement [ip=binary]
    sql_json "$2"
    py json "$T/answer.json" >"$T/ours" 2>&1
    sql_parquet "$2" "$T/a.parquet" "$3"
    eq "$1: 200 and a Parquet body" "$CODE $(tail -c 4 "$T/a.parquet")" "200 PAR1"
    py pyarrow "$T/a.parquet" >"$T/pa" 2>&1
    py duckdb "$T/a.parquet" >"$T/duck" 2>&1
    n=$(grep -c . "$T/ours")
    if [ "$n" -gt 0 ] && cmp -s "$T/ours" "$T/pa"; then
        ok "$1: pyarrow reads the JSON answer's $n rows, value for value"
    else
        fail "$1: pyarrow reads the JSON answer's rows" "$(diff "$T/ours" "$T/pa" | head -5)"
    fi
    if [ "$n" -gt 0 ] && cmp -s "$T/ours" "$T/duck"; then
        ok "$1: DuckDB reads the JSON answer's $n rows, value for value"
    else
        fail "$1: DuckDB reads the JSON answer's rows" "$(diff "$T/ours" "$T/duck" | head -5)"
    fi
}

RAW="SELECT start, end, received, srcip, dstip, srcport, dstport, proto, bytes, packets, bytes / 3.0 AS third, proto = 6 AS tcp, proto_name(proto) AS pname, duration, exporter FROM flows"
same_answer "raw flows, every type" "$RAW"
py types "$T/a.parquet" >"$T/types"
want='start timestamp[ms,tz=UTC] TIMESTAMP_WITH_TIME_ZONE
end timestamp[ms,tz=UTC] TIMESTAMP_WITH_TIME_ZONE
received timestamp[ms,tz=UTC] TIMESTAMP_WITH_TIME_ZONE
srcip string VARCHAR
dstip string VARCHAR
srcport int64 BIGINT
dstport int64 BIGINT
proto int64 BIGINT
bytes int64 BIGINT
packets int64 BIGINT
third double DOUBLE
tcp bool BOOLEAN
pname string VARCHAR
duration int64 BIGINT
exporter string VARCHAR'
eq "pyarrow and DuckDB see the documented types (addresses as text)" "$(cat "$T/types")" "$want"
check "... 8000 rows, IPv4 and IPv6 addresses" sh -c "test \$(grep -c . '$T/ours') = 8000 && grep -q '|2001:db8::' '$T/ours' && grep -q '|10\.' '$T/ours'"

same_answer "addresses as 16-byte binary (ip=binary)" "SELECT srcip, dstip, start, bytes FROM flows WHERE dstport = 443 OR srcip IN 2001:db8::/32" "&ip=binary"
py types "$T/a.parquet" >"$T/types"
eq "... fixed_size_binary[16] / BLOB" "$(head -2 "$T/types")" 'srcip fixed_size_binary[16] BLOB
dstip fixed_size_binary[16] BLOB'

same_answer "an aggregate: top talkers" "SELECT srcip, count(*) AS flows, sum(bytes) AS bytes, avg(bytes) AS mean, min(start) AS first, max(end) AS last FROM flows GROUP BY srcip ORDER BY bytes DESC, srcip LIMIT 25"
same_answer "a global aggregate" "SELECT count(*) AS flows, sum(bytes) AS bytes, count(DISTINCT srcip) AS hosts FROM flows LAST 1h"
same_answer "a range and a filter" "SELECT start, srcip, dstport, bytes FROM flows LAST 1h WHERE proto = 'tcp' AND bytes > 1000 ORDER BY bytes DESC LIMIT 100"

# ---- large enough for several row groups of the export writer -----------
sql_json "SELECT srcip, bytes FROM flows"
py json "$T/answer.json" | sort >"$T/ours"
# 65536 rows per row group: 8000 rows make one; two answers glued by the
# shell would be invalid; check the row group count the file says
sql_parquet "SELECT srcip, bytes FROM flows" "$T/b.parquet"
"$venv/bin/python" -c 'import pyarrow.parquet as pq, sys; print(pq.ParquetFile(sys.argv[1]).metadata.num_row_groups)' "$T/b.parquet" >"$T/rg"
eq "one row group for 8000 rows" "$(cat "$T/rg")" 1

# ---- the shell and flowsql export -------------------------------------------
"$B/flowsql" -X -q -u "http://$HTTP" -F parquet -o "$T/s.parquet" -c "$RAW" 2>"$T/sh.err"
eq "flowsql -F parquet -o FILE exits 0" "$?" 0
sql_json "$RAW"
py json "$T/answer.json" >"$T/ours"
py pyarrow "$T/s.parquet" >"$T/pa"
check "flowsql -F parquet -o FILE writes the same answer" cmp -s "$T/ours" "$T/pa"
printf '\\o %s\nSELECT srcip, count(*) AS n FROM flows GROUP BY srcip ORDER BY n DESC, srcip LIMIT 5;\nSELECT srcip, bytes FROM flows LIMIT 3;\n' "$T/o.parquet" |
    "$B/flowsql" -X -q -u "http://$HTTP" >/dev/null 2>"$T/sh.err"
py duckdb "$T/o.parquet" >"$T/duck"
eq "\\o FILE.parquet: the file holds the last answer (3 rows, a whole Parquet file)" "$(grep -c . "$T/duck")" 3
"$B/flowsql" -X -q -u "http://$HTTP" -F parquet -c "SELECT srcip FROM flows LIMIT 1" >/dev/null 2>"$T/sh.err"
eq "-F parquet without a file is refused (1)" "$?" 1
check "... saying why" grep -q "Parquet is binary" "$T/sh.err"

"$B/flowsql" export -u "http://$HTTP" -q -o "$T/x.parquet" "LAST 1h WHERE proto = 'udp'"
eq "flowsql export exits 0" "$?" 0
py types "$T/x.parquet" | awk '{ print $1 }' | tr '\n' ' ' >"$T/xcols"
eq "flowsql export: every stored field" "$(cat "$T/xcols")" "srcip dstip nexthop exporter start end received packets bytes srcport dstport proto tcpflags tos ingress egress srcas dstas srcmask dstmask vlan direction sampling domain "
sql_json "SELECT srcip, dstip, nexthop, exporter, start, end, received, packets, bytes, srcport, dstport, proto, tcpflags, tos, ingress, egress, srcas, dstas, srcmask, dstmask, vlan, direction, sampling, domain FROM flows LAST 1h WHERE proto = 'udp'"
py json "$T/answer.json" >"$T/ours"
py duckdb "$T/x.parquet" >"$T/duck"
check "flowsql export: DuckDB reads the selected flows ($(grep -c . "$T/ours")), equal to the JSON answer" \
    sh -c "test -s '$T/ours' && cmp -s '$T/ours' '$T/duck'"
"$B/flowsql" export -u "http://$HTTP" -q -o "$T/y.parquet" --ip binary LAST 1h
py types "$T/y.parquet" | head -1 >"$T/ytype"
eq "flowsql export --ip binary: addresses as the archive keeps them" "$(cat "$T/ytype")" "srcip fixed_size_binary[16] BLOB"

# ---- refusals, and an answer that cannot be finished --------------------------
sql_parquet "SELECT 1 AS one" "$T/c.out"
eq "format=parquet of SQLite's SQL is refused (400)" "$CODE" 400
check "... saying why" grep -q "Parquet answers are for queries over the archive" "$T/c.out"
sql_parquet "SELECT srcip FROM flows" "$T/c.out" "&ip=hex"
eq "ip=hex is refused (400)" "$CODE" 400
stop_flowsqld
start_flowsqld --listen 127.0.0.1 --export-rows 100 || exit 1
jq -cn --arg s "SELECT srcip, bytes FROM flows" '{sql: $s}' >"$T/req.json"
curl -s -o "$T/cut.parquet" --data-binary @"$T/req.json" "http://$HTTP/api/v1/sql?format=parquet"
rc=$?
check "past --export-rows the transfer is cut (curl $rc)" test "$rc" -ne 0
check "... and no Parquet reader opens the file" sh -c "! '$venv/bin/python' -c 'import pyarrow.parquet as pq, sys; pq.read_table(sys.argv[1])' '$T/cut.parquet' 2>/dev/null"
check "... the log says why" grep -q "Parquet answer cut after .*more rows than --export-rows" "$T/flowsqld.log"
"$B/flowsql" -X -q -u "http://$HTTP" -o "$T/cut2.parquet" -c "SELECT srcip FROM flows" 2>"$T/sh.err"
eq "the shell: a cut Parquet answer is an error (2)" "$?" 2
check "... saying the file is incomplete" grep -q "cut2.parquet is incomplete" "$T/sh.err"
exit 0
