#!/bin/sh
# tests/fuzz/parquet_seeds.sh BUILD_DIR - make the seeds of fuzz_parquet
# (tests/fuzz/seeds/parquet): small files from our writer (flows, every
# kind, a journal left by a crash, the archive's layout: sorted, with a
# page index), and the same flows written again by pyarrow and DuckDB
# (dictionaries, delta encodings, data pages v2, nulls), with the venv
# of tests/e2e/parquet_readers.sh.
set -e
top=$(cd "$(dirname "$0")/../.." && pwd)
B=${1:-$top/build}
out=$top/tests/fuzz/seeds/parquet
venv=${FLOWSQL_CACHE:-$HOME/.cache/flowsql}/parquet-venv-$(sha256sum "$top/tests/tools/parquet-requirements.txt" | cut -c1-12)
py() { "$venv/bin/python" "$top/tests/tools/parquet_readers.py" "$@"; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out"
"$B/tools/pqtool" gen-flows "$tmp/flows.parquet" 120 50 3
"$B/tools/pqtool" gen-types "$tmp/types.parquet" 90 40
"$B/tools/pqtool" gen-open "$tmp/open.parquet" 120 50 4
"$B/tools/pqtool" gen-sorted "$out/sorted.parquet" 60 30 5 10
cp "$tmp/flows.parquet" "$out/flows.parquet"
cp "$tmp/types.parquet" "$out/types.parquet"
cp "$tmp/open.parquet.journal" "$out/open.journal"
py rewrite-duckdb "$tmp/flows.parquet" "$out/duckdb-v1.parquet" V1
py rewrite-duckdb "$tmp/flows.parquet" "$out/duckdb-v2.parquet" V2
py rewrite-duckdb "$tmp/types.parquet" "$out/duckdb-types-v2.parquet" V2
py rewrite-pyarrow "$tmp/flows.parquet" "$out/pyarrow-dict.parquet" dict
py rewrite-pyarrow "$tmp/types.parquet" "$out/pyarrow-delta.parquet" delta
py nulls "$tmp/flows.parquet" "$out/pyarrow-nulls.parquet" "$tmp/nulls.csv"
ls -l "$out"
