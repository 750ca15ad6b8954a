#!/bin/sh
# The real pyarrow and DuckDB (pinned PyPI releases in a venv of their own
# under $FLOWSQL_CACHE, made on first use) read the Parquet files of
# archive/parquet.c with the right types, values, statistics and bloom
# filters; and our reader reads what they write from our files (data
# pages v1 and v2, dictionaries, delta encodings, nulls).
. "$(dirname "$0")/lib.sh"
top=$(cd "$(dirname "$0")/../.." && pwd)
REQ=$top/tests/tools/parquet-requirements.txt
PY=$top/tests/tools/parquet_readers.py
PQ=$B/tools/pqtool

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

cd "$T" || exit 1
"$PQ" gen-flows f.parquet 30000 8000 1 || fail "pqtool gen-flows"
"$PQ" gen-types t.parquet 10000 3000 || fail "pqtool gen-types"

# ---- types --------------------------------------------------------------
py types f.parquet >types_f
want='srcip fixed_size_binary[16] BLOB
dstip fixed_size_binary[16] BLOB
nexthop fixed_size_binary[16] BLOB
exporter fixed_size_binary[16] BLOB
start timestamp[ms,tz=UTC] TIMESTAMP_WITH_TIME_ZONE
end timestamp[ms,tz=UTC] TIMESTAMP_WITH_TIME_ZONE
received timestamp[ms,tz=UTC] TIMESTAMP_WITH_TIME_ZONE
packets int64 BIGINT
bytes int64 BIGINT
srcport int32 INTEGER
dstport int32 INTEGER
proto int16 SMALLINT
tcpflags int32 INTEGER
tos int16 SMALLINT
ingress int64 BIGINT
egress int64 BIGINT
srcas int64 BIGINT
dstas int64 BIGINT
srcmask int16 SMALLINT
dstmask int16 SMALLINT
vlan int32 INTEGER
direction int16 SMALLINT
sampling int64 BIGINT
domain int64 BIGINT'
eq "pyarrow and DuckDB see the flow columns' types" "$(cat types_f)" "$want"
py types t.parquet >types_t
want='b bool BOOLEAN
i8 int8 TINYINT
i16 int16 SMALLINT
i32 int32 INTEGER
i64 int64 BIGINT
t timestamp[ms,tz=UTC] TIMESTAMP_WITH_TIME_ZONE
d double DOUBLE
s string VARCHAR
ip fixed_size_binary[16] BLOB'
eq "pyarrow and DuckDB see every kind's type" "$(cat types_t)" "$want"

# ---- values -------------------------------------------------------------
for f in f t; do
    "$PQ" dump $f.parquet >ours_$f.csv
    py dump-pyarrow $f.parquet >pa_$f.csv
    py dump-duckdb $f.parquet >duck_$f.csv
    check "$f.parquet: $(wc -l <ours_$f.csv) rows, pyarrow reads our values" \
        cmp -s ours_$f.csv pa_$f.csv
    check "$f.parquet: DuckDB reads our values" cmp -s ours_$f.csv duck_$f.csv
done
check "the flows dump has the header and 30000 rows" \
    test "$(wc -l <ours_f.csv)" -eq 30001

# ---- statistics ---------------------------------------------------------
for f in f t; do
    "$PQ" meta $f.parquet >meta_$f
    py stats-pyarrow $f.parquet >pa_meta_$f
    check "$f.parquet: pyarrow sees our min/max of every chunk" \
        cmp -s meta_$f pa_meta_$f
done
check "the statistics cover 4 row groups of 24 columns" \
    test "$(grep -c '^  ' meta_f)" -eq 96
grep -v '^rows' meta_f >meta_f_rg
py stats-duckdb f.parquet >duck_meta_f
check "DuckDB's parquet_metadata() sees our min/max" cmp -s meta_f_rg duck_meta_f

# ---- the archive's layout: sorted row groups, page index -----------------
# The flows of f.parquet written as the archive writes (each row group
# sorted by srcip, pages of 1000 rows, a page index): pyarrow and DuckDB
# read our values; the rows are f.parquet's, reordered; the page index,
# decoded from the file's bytes by the spec's field ids in Python, points
# at each page (header, size, row count) and bounds srcip's pages as
# pyarrow reads their values; sorting_columns says srcip, ascending.
"$PQ" gen-sorted s.parquet 30000 8000 1 || fail "pqtool gen-sorted"
"$PQ" dump s.parquet >ours_s.csv
py dump-pyarrow s.parquet >pa_s.csv
py dump-duckdb s.parquet >duck_s.csv
check "sorted file: pyarrow reads our values" cmp -s ours_s.csv pa_s.csv
check "sorted file: DuckDB reads our values" cmp -s ours_s.csv duck_s.csv
sort ours_f.csv >sorted_f
sort ours_s.csv >sorted_s
check "sorted file: the same rows as f.parquet" cmp -s sorted_f sorted_s
differ() { ! cmp -s "$1" "$2"; }
check "sorted file: not in f.parquet's order" differ ours_f.csv ours_s.csv
py page-index s.parquet >pidx_s 2>&1
grep -v ' ok$' pidx_s | sed 's/^/  /' >&2
eq "every chunk's offset index matches its pages (4 row groups x 24)" \
    "$(grep -c ' pages [0-9]* offsets.* ok$' pidx_s)" 96
eq "srcip's column index bounds its pages, ascending, in each row group" \
    "$(grep -c '^rg [0-3] srcip pages [68] offsets bounds order 1 ok$' pidx_s)" 4
eq "the page index: nothing amiss" "$(grep -vc ' ok$' pidx_s)" 0

# ---- bloom filters ------------------------------------------------------
# DuckDB probes our filters of integers and strings and agrees with our
# reader on every row group, present values and absent ones.
probe_same() { # FILE COLUMN VALUE
    a=$("$PQ" bloom "$1" "$2" "$3" | tr '\n' ' ')
    b=$(py probe-duckdb "$1" "$2" "$3" | tr '\n' ' ')
    eq "bloom $2=$3: DuckDB and our reader agree [$a]" "$b" "$a"
}
for v in 0 -12 9223372036854775807 1234567 -98765; do
    probe_same t.parquet i64 $v
done
for v in zzz tcp 'row 3' nope 'row 99999'; do
    probe_same t.parquet s "$v"
done
check "an absent integer is excluded from every row group" \
    test "$("$PQ" bloom t.parquet i64 1234567 | tr -d '\n')" = "0000"
check "a present integer is in every row group's filter" \
    test "$("$PQ" bloom t.parquet i64 -12 | tr -d '\n')" = "1111"
# DuckDB's parquet_bloom_probe() excludes every BLOB value, even from
# the files DuckDB writes itself: the address filters are checked by the
# spec's algorithm in Python (xxhash's XXH64) instead.
probe_spec() { # FILE COLUMN HEX WANT
    a=$("$PQ" bloom "$1" "$2" "$3" | tr -d '\n')
    b=$(py probe-spec "$1" "$2" "$3" | tr -d '\n')
    eq "bloom $2=$3: the spec's SBBF agrees with our reader" "$b" "$a"
    eq "bloom $2=$3: row groups that may hold it" "$a" "$4"
}
probe_spec f.parquet srcip ffffffffffffffffffffffffffffffff 1000
probe_spec f.parquet dstip 00000000000000000000000000000000 1000
probe_spec f.parquet srcip 00000000000000000000ffff0b000001 0000
probe_spec f.parquet dstip 20010db8000000000000000000000001 1000
probe_spec t.parquet ip 00000000000000000000ffffffffffff 1000

# ---- what they write, we read -------------------------------------------
"$PQ" flows f.parquet >flows_f
for v in V1 V2; do
    py rewrite-duckdb f.parquet duck$v.parquet $v
    "$PQ" flows duck$v.parquet >flows_duck$v 2>err_duck$v
    check "DuckDB's file ($v pages) reads back as the flows written" \
        cmp -s flows_f flows_duck$v
    sed 's/^/  /' err_duck$v >&2
done
for m in dict delta; do
    py rewrite-pyarrow f.parquet pa_$m.parquet $m
    "$PQ" flows pa_$m.parquet >flows_pa_$m 2>err_pa_$m
    check "pyarrow's file ($m) reads back as the flows written" \
        cmp -s flows_f flows_pa_$m
    sed 's/^/  /' err_pa_$m >&2
    py rewrite-pyarrow t.parquet pat_$m.parquet $m
    "$PQ" dump pat_$m.parquet >dump_pat_$m 2>&1
    check "pyarrow's file of every kind ($m) reads back equal" \
        cmp -s ours_t.csv dump_pat_$m
done
# (the addresses would come back as BLOB, BYTE_ARRAY: text to the
# generic reader; the flow reader maps them, as checked above)
py rewrite-duckdb t.parquet duckt.parquet V2 ip
"$PQ" dump duckt.parquet >dump_duckt 2>&1
py dump-duckdb duckt.parquet >duck_duckt
check "DuckDB's V2 file of every kind: our reader and DuckDB agree" \
    cmp -s dump_duckt duck_duckt
py nulls f.parquet nulls.parquet nulls_expected.csv
"$PQ" flows nulls.parquet >flows_nulls 2>&1
check "nulls (OPTIONAL columns) read as zeros" cmp -s flows_nulls nulls_expected.csv
check "the nulls file has nulls" grep -q '^00000000000000000000000000000000,' nulls_expected.csv
exit 0
