#!/bin/sh
# ingest_sflow_captures.sh - decode the real sFlow v5 captures
# (tests/data/sflow, see its README) and compare every record, field by
# field, with tshark's sflow dissector (tests/e2e/lib/sflow_records.py).
#
# Each capture's UDP payloads are replayed in order through loopback into
# the ingest (ingest_agg --pcap sends sFlow to its sFlow port) and every
# record is printed; start and end, the receive time, are checked apart:
# equal to each other, and within the run. Then all captures in one run,
# so that agents and sub-agents alternate.

top=$(cd "$(dirname "$0")/../.." && pwd)
B=${FLOWSQL_BUILD:-$top/build}
D=$top/tests/data/sflow
tmp=$(mktemp -d /tmp/flowsql-sflow.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
AGGS="$B/tools/ingest_agg"
ASAN=$top/build/asan/tools/ingest_agg
if [ -x "$ASAN" ] && [ "$ASAN" != "$B/tools/ingest_agg" ]; then
    AGGS="$AGGS $ASAN"
fi

check_case() { # name capture...
    name=$1; shift
    files=""
    for f in "$@"; do files="$files $D/$f"; done
    # shellcheck disable=SC2086
    mergecap -a -F pcap -w "$tmp/$name.pcap" $files 2>/dev/null
    python3 "$top/tests/e2e/lib/sflow_records.py" "$tmp/$name.pcap" \
        >"$tmp/$name.tshark" 2>"$tmp/$name.err"
    n=$(wc -l <"$tmp/$name.tshark")
    for agg in $AGGS; do
        case $agg in *asan*) label="$name, sanitizers" ;; *) label=$name ;; esac
        t0=$(date +%s%3N)
        # shellcheck disable=SC2086
        "$agg" --records --idle-ms 300 --stats --pcap $files \
            2>"$tmp/$name.stats" >"$tmp/$name.all"
        t1=$(date +%s%3N)
        cut -f1-16,19-23 "$tmp/$name.all" >"$tmp/$name.ours"
        # start = end = the receive time, within the run
        badtime=$(awk -F'\t' -v a="$t0" -v b="$t1" \
            '$17 != $18 || $17 < a || $17 > b' "$tmp/$name.all" | wc -l)
        if [ "$n" -gt 0 ] && cmp -s "$tmp/$name.ours" "$tmp/$name.tshark" &&
           [ "$badtime" -eq 0 ] &&
           ! grep -q 'decode_errors [1-9]' "$tmp/$name.stats" &&
           ! grep -q 'ERROR' "$tmp/$name.stats"; then
            echo "ok - sflow captures: $label ($n records match tshark)"
        else
            echo "not ok - sflow captures: $label ($badtime bad times)"
            echo "# ours vs tshark:" >&2
            diff "$tmp/$name.ours" "$tmp/$name.tshark" | head -20 >&2
            cat "$tmp/$name.stats" "$tmp/$name.err" >&2
        fi
    done
}

all=""
for f in "$D"/*.pcap; do
    b=$(basename "$f")
    check_case "${b%.pcap}" "$b"
    all="$all $b"
done
# shellcheck disable=SC2086
check_case all-captures $all
