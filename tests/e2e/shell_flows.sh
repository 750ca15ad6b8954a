#!/bin/sh
# The shell with real flows: the generator sends IPFIX over TCP while the
# shell follows live views (a temporary query each, in table, CSV and
# JSON) and \watch of a registered query; then ad hoc SQL over the stored
# windows, read through the shell, must give exactly the generator's
# per-source counts, in every format.
. "$(dirname "$0")/lib.sh"

[ -x "$B/flowgen" ] || { fail "build/flowgen exists"; exit 1; }
start_flowsqld || exit 1
URL=http://$HTTP
run() { "$B/flowsql" -u "$URL" "$@" >"$T/out" 2>"$T/err"; RC=$?; }
has() { if grep -qF -- "$3" "$2"; then ok "$1"; else fail "$1" "no [$3] in $(cat "$2")"; fi; }
sse_clients() { curl -s "$URL/metrics" | sed -n 's/^flowsql_sse_clients //p'; }
temporaries() {
    api GET /api/v1/queries | jq -r '[.queries[] | select(.source == "temporary")] | length'
}

run -c "CREATE QUERY per_src AS SELECT srcip, count(*) AS flows, sum(packets) AS packets, sum(bytes) AS bytes FROM flows WINDOW 1s GROUP BY srcip" \
    -c "CREATE QUERY fast AS SELECT count(*) AS flows FROM flows WINDOW 1s"
eq "two stored queries" "$RC" 0

# --- live views while flows arrive ---------------------------------------------
"$B/flowsql" -u "$URL" -w 2 -F csv -c "SELECT count(*) AS flows FROM flows WINDOW 1s" \
    >"$T/live.csv" 2>"$T/live_csv.err" &
L1=$!
"$B/flowsql" -u "$URL" -w 1 -F json -c "SELECT srcip, count(*) AS flows FROM flows WINDOW 1s GROUP BY srcip" \
    >"$T/live.json" 2>"$T/live_json.err" &
L2=$!
"$B/flowsql" -u "$URL" -w 1 -c "SELECT proto_name(proto) AS protocol, count(*) AS flows, sum(bytes) AS bytes
      FROM flows WINDOW 1s GROUP BY proto ORDER BY flows DESC" \
    >"$T/live.txt" 2>"$T/live_txt.err" &
L3=$!
"$B/flowsql" -u "$URL" -w 2 -F csv -c '\watch fast' >"$T/watch.csv" 2>"$T/watch.err" &
L4=$!
PIDS="$PIDS $L1 $L2 $L3 $L4"
check "four live views follow their streams" wait_until 10 sh -c "[ \"\$(curl -s $URL/metrics | sed -n 's/^flowsql_sse_clients //p')\" = 4 ]"
eq "three temporary queries" "$(temporaries)" 3

# 60000 flows over 4 seconds, from 200 sources
"$B/flowgen" --tcp "127.0.0.1:$IPFIX" --flows 60000 --rate 15000 --sources 200 \
    --seed 11 --per-source "$T/expected.txt" 2>"$T/gen.log"
check "flowgen sent its flows" test $? -eq 0
for p in $L1 $L2 $L3 $L4; do
    wait_until 15 sh -c "! kill -0 $p" || kill -INT $p
done
wait $L1; eq "the CSV live view ends after -w 2 windows (exit 0)" $? 0
wait $L2; eq "the JSON live view ends after one window (exit 0)" $? 0
wait $L3; eq "the table live view ends after one window (exit 0)" $? 0
wait $L4; eq "\\watch ends after -w 2 windows (exit 0)" $? 0
eq "their temporary queries are dropped" "$(temporaries)" 0
api GET /api/v1/queries/fast >/dev/null
eq "\\watch left its query" "$CODE" 200

eq "CSV: one header for the view" "$(sed -n 1p "$T/live.csv")" "window_start,window_end,flows"
eq "CSV: a row per window" "$(tail -n +2 "$T/live.csv" | wc -l)" 2
check "CSV: times as text, counts as numbers" sh -c \
    "tail -n +2 '$T/live.csv' | grep -cE '^20[0-9-]{8}T[0-9:.]{12}Z,20[0-9-]{8}T[0-9:.]{12}Z,[1-9][0-9]*$' | grep -qx 2"
eq "JSON: one line per window" "$(wc -l <"$T/live.json")" 1
eq "JSON: the temporary query's window" "$(jq -r '.query | startswith("tmp_")' "$T/live.json")" true
check "JSON: rows of addresses and counts" sh -c \
    "jq -e '(.rows | length) > 0 and all(.rows[]; (.srcip | startswith(\"10.\")) and .flows > 0)' '$T/live.json' >/dev/null"
check "JSON: the window's flows add up" sh -c \
    "jq -e '([.rows[].flows] | add) == .flows' '$T/live.json' >/dev/null"
check "table: a title line per window" grep -qE '^Window 20[0-9-]{8}T[0-9:.]{12}Z \.\. [0-9:.]{12}Z, [0-9]+ flows?$' "$T/live.txt"
has "table: the header" "$T/live.txt" " protocol | flows |"
check "table: rows of names and right-aligned numbers" grep -qE '^ tcp +\| +[0-9]+ \| +[0-9]+$' "$T/live.txt"
check "table: the row count" grep -qE '^\([0-9]+ rows?\)$' "$T/live.txt"
SEP=$(grep -E '^-+\+' "$T/live.txt" | head -1)
check "table: every row as wide as the separator (numbers aligned right)" sh -c \
    "sed -n '/^-*+/,/^(/p' '$T/live.txt' | sed '1d;\$d' | awk -v w=$((${#SEP} - 1)) 'length(\$0) != w { exit 1 }'"
eq "\\watch in CSV" "$(sed -n 1p "$T/watch.csv")" "window_start,window_end,flows"
eq "\\watch: a row per window" "$(tail -n +2 "$T/watch.csv" | wc -l)" 2

# --- counters through the shell ----------------------------------------------------
check "per_src saw every flow" wait_until 20 json_is /api/v1/queries/per_src .counters.flows_in 60000
run -F csv -c "SHOW QUERIES"
check "SHOW QUERIES counts the flows" grep -qE '^per_src,api,running,60000,[1-9][0-9]*,[1-9][0-9]*,0,0,' "$T/out"
run -c '\metrics records'
check "metrics: records per exporter" grep -qE '^ 127\.0\.0\.1 +\| [0-9]+ +\| +60000 \| +0$' "$T/out"

# --- ad hoc SQL over the stored windows ---------------------------------------------------
stored() { [ "$("$B/flowsql" -u "$URL" -F csv -c "SELECT sum(flows) AS n FROM per_src" | tail -n 1)" = 60000 ]; }
check "every window is stored" wait_until 20 stored
run -F csv -c "SELECT srcip, sum(flows) AS flows, sum(packets) AS packets, sum(bytes) AS bytes
                 FROM per_src GROUP BY srcip"
eq "ad hoc CSV: the header" "$(sed -n 1p "$T/out")" "srcip,flows,packets,bytes"
tail -n +2 "$T/out" | tr ',' ' ' | sort >"$T/got.txt"
sort "$T/expected.txt" >"$T/want.txt"
check "ad hoc CSV: exactly the generator's per-source counts" cmp -s "$T/got.txt" "$T/want.txt"

run -F json -c "SELECT srcip, sum(flows) AS flows FROM per_src GROUP BY srcip"
eq "ad hoc JSON: one object per row" "$(wc -l <"$T/out")" 200
eq "ad hoc JSON: the flows add up" "$(jq -s 'map(.flows) | add' "$T/out")" 60000

TOP=$(sort -k4,4n "$T/expected.txt" | tail -n 1)
run -c "SELECT srcip, sum(bytes) AS bytes FROM per_src GROUP BY srcip ORDER BY bytes DESC LIMIT 5"
eq "ad hoc table exits 0" "$RC" 0
eq "ad hoc table: header" "$(sed -n 1p "$T/out")" "   srcip    |  bytes"
check "ad hoc table: the top source first, its bytes right-aligned" grep -qE \
    "^ $(echo "$TOP" | cut -d' ' -f1 | sed 's/\./\\./g') +\| +$(echo "$TOP" | cut -d' ' -f4)\$" "$T/out"
eq "ad hoc table: row count" "$(tail -n 1 "$T/out")" "(5 rows)"

TOTAL=$(awk '{ s += $4 } END { print s }' "$T/expected.txt")
GROUPED=$(echo "$TOTAL" | sed -e ':a' -e 's/\([0-9]\)\([0-9]\{3\}\)\($\|,\)/\1,\2\3/' -e 'ta')
run -c '\numbers grouped' -c "SELECT sum(bytes) AS bytes FROM per_src"
check "numbers grouped: thousands separators in tables" grep -qE "^ +$GROUPED\$" "$T/out"
run -F csv -c '\numbers grouped' -c "SELECT sum(bytes) AS bytes FROM per_src"
eq "but never in CSV" "$(tail -n 1 "$T/out")" "$TOTAL"

run -c "SELECT nosuch FROM per_src"
eq "an ad hoc error exits 1" "$RC" 1
has "with SQLite's reason" "$T/err" "no such column: nosuch"
run -c "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
eq "a runaway ad hoc query exits 1" "$RC" 1
has "stopped by the time limit" "$T/err" "time limit"
exit 0
