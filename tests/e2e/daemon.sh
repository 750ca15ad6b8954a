#!/bin/sh
# The whole daemon on loopback: flows from the generator over UDP and TCP,
# windows stored and read back (JSON, CSV, ad hoc SQL), followed live
# (SSE), the catalog and data kept across a restart, a file replayed
# through REST and through --read.
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/replay"
start_flowsqld --replay-dir "$T/replay" || exit 1
api POST /api/v1/queries '{"name":"per_src","sql":"SELECT srcip, count(*) AS flows, sum(packets) AS packets, sum(bytes) AS bytes FROM flows WINDOW 1h GROUP BY srcip","options":{"retention":"7d"}}' >/dev/null
eq "register per_src" "$CODE" 201
api POST /api/v1/queries '{"name":"fast","sql":"SELECT count(*) AS flows FROM flows WINDOW 1s"}' >/dev/null

# Follow "fast" live while flows arrive.
curl -sN "http://$HTTP/api/v1/queries/fast/stream" >"$T/sse" 2>/dev/null &
SSE=$!
PIDS="$PIDS $SSE"
wait_until 10 grep -q '^: following fast' "$T/sse"

"$B/flowgen" --tcp "127.0.0.1:$IPFIX" --flows 50000 --rate 50000 --sources 200 \
    --seed 7 --per-source "$T/expected.txt" 2>"$T/gen.log"
check "flowgen sent over TCP" test $? -eq 0

# Every flow reached the query and nothing was lost on the way.
check "per_src saw every flow" wait_until 20 json_is /api/v1/queries/per_src .counters.flows_in 50000
sse_sum() {
    [ "$(grep '^data:' "$T/sse" | sed 's/^data: //' | jq -s '[.[].rows[0].flows] | add')" = 50000 ]
}
check "SSE windows add up to the flows sent" wait_until 20 sse_sum
kill "$SSE" 2>/dev/null
check "SSE delivered windows" grep -q '^event: window' "$T/sse"

# An sFlow counter sample of ifIndex 1, so that the per-interface sFlow
# metric has a series too.
python3 -c 'import socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.sendto(struct.pack(">IIIIIIIIIIIIIII", 5, 1, 0xc0000209, 0, 1, 1, 1, 2, 24,
                     1, 1, 1, 1, 4, 0), ("127.0.0.1", int(sys.argv[1])))' "$SFLOW"
check "an sFlow counter sample is counted" wait_until 10 sh -c \
    "curl -s http://$HTTP/metrics | grep -q '^flowsql_ingest_sflow_interface_stats_samples_total.* 1$'"

# docs/METRICS.md lists exactly the metrics /metrics has (Kafka and
# Elasticsearch ones, off here, are in OUTPUTS.md).
curl -s "http://$HTTP/metrics" | grep -v '^#' | sed 's/[{ ].*//' | sort -u >"$T/m.have"
grep -o '^| `flowsql_[a-z_]*`' "$(dirname "$0")/../../docs/METRICS.md" | \
    sed 's/^| `//; s/`$//' | sort -u >"$T/m.doc"
check "every metric is in docs/METRICS.md" test -z "$(comm -23 "$T/m.have" "$T/m.doc")"
check "docs/METRICS.md lists no metric /metrics lacks" test -z "$(comm -13 "$T/m.have" "$T/m.doc")"
comm -3 "$T/m.have" "$T/m.doc" >&2

# Prometheus' own linter on the live /metrics (every family with HELP
# and TYPE, units in names, counters ending _total), and our rule that
# each family has both lines and its series together.
curl -s "http://$HTTP/metrics" >"$T/metrics.txt"
promtool_clean "$T/metrics.txt"
eq "every family has HELP and TYPE, its series together" "$(awk '
    /^# HELP / { help[$3] = 1; next }
    /^# TYPE / { type[$3] = 1; next }
    /^#/ { next }
    { n = $0; sub(/[{ ].*/, "", n); f = n
      if (!(f in type)) sub(/_(bucket|sum|count)$/, "", f)
      if (!(f in help) || !(f in type)) print "no HELP/TYPE: " n
      if (f != last && (f in seen)) print "split family: " f
      seen[f] = 1; last = f }' "$T/metrics.txt" | sort -u | head -n 5)" ""
eq "flowsql_build_info says the version" \
    "$(grep '^flowsql_build_info' "$T/metrics.txt")" \
    "flowsql_build_info{version=\"$("$B/flowsqld" --version | cut -d' ' -f2)\"} 1"

# Restart: the open 1h window is closed as it stands and stored.
stop_flowsqld
eq "SIGTERM exits 0" "$STATUS" 0
start_flowsqld --replay-dir "$T/replay" || exit 1
api GET /api/v1/queries >"$T/list"
eq "the catalog survives a restart" "$(jq -r '[.queries[].name] | sort | join(",")' "$T/list")" "fast,per_src"

api GET "/api/v1/queries/per_src/results?limit=10" >"$T/res.json"
eq "results endpoint (200)" "$CODE" 200
jq -r '.[0].rows[] | "\(.srcip) \(.flows) \(.packets) \(.bytes)"' "$T/res.json" | sort >"$T/got.txt"
sort "$T/expected.txt" >"$T/want.txt"
check "stored per-source counts equal the generator's" cmp -s "$T/got.txt" "$T/want.txt"

CODE=$(curl -s -o "$T/res.csv" -w '%{http_code}' "http://$HTTP/api/v1/queries/per_src/results?format=csv")
eq "results as CSV" "$(head -1 "$T/res.csv" | tr -d '\r')" "window_start,window_end,srcip,flows,packets,bytes"
eq "CSV rows" "$(tail -n +2 "$T/res.csv" | wc -l)" 200
CODE=$(curl -s -o /dev/null -w '%{http_code}' -H 'Accept: text/csv' "http://$HTTP/api/v1/queries/per_src/results")
eq "Accept: text/csv" "$CODE" 200
api GET "/api/v1/queries/nope/results" >/dev/null
eq "results of an unknown query is 404" "$CODE" 404

# Ad hoc SQL over the stored windows, with helpers, and its refusals.
api POST /api/v1/sql '{"sql":"SELECT ip_text(srcip) AS host, flows FROM per_src WHERE srcip = ip('"'"'10.0.0.5'"'"')"}' >"$T/adhoc"
eq "ad hoc lookup of one host" "$(jq -r '.rows[0][0]' "$T/adhoc")" 10.0.0.5
eq "its flows match the generator" "$(jq -r '.rows[0][1]' "$T/adhoc")" "$(awk '$1=="10.0.0.5"{print $2}' "$T/expected.txt")"
api POST /api/v1/sql '{"sql":"SELECT sum(flows) FROM per_src WHERE ip_in(srcip, '"'"'10.0.0.0/8'"'"')"}' >"$T/adhoc2"
eq "CIDR helper" "$(jq -r '.rows[0][0]' "$T/adhoc2")" 50000
api POST /api/v1/sql '{"sql":"DELETE FROM per_src"}' >"$T/refused"
eq "writes are refused (400)" "$CODE" 400
check "with a clear message" grep -q 'read-only' "$T/refused"
api POST /api/v1/sql '{"sql":"ATTACH DATABASE '"'"'/tmp/x.db'"'"' AS x"}' >"$T/refused2"
eq "ATTACH is refused" "$CODE" 400
api POST /api/v1/sql '{"sql":"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT count(*) FROM c"}' >"$T/slow"
eq "a runaway query is stopped" "$CODE" 400
check "by the time limit" grep -q 'time limit' "$T/slow"
api POST /api/v1/sql '{"sql":"SELECT count(*) FROM per_src"}' -H 'Accept: text/csv' >/dev/null
CODE=$(curl -s -o "$T/sql.csv" -w '%{http_code}' -H 'Accept: text/csv' -d '{"sql":"SELECT count(*) AS n FROM per_src"}' "http://$HTTP/api/v1/sql")
eq "ad hoc as CSV" "$(tr -d '\r' <"$T/sql.csv" | tr '\n' ' ')" "n 200 "

# A file: generate one, replay it through REST and through --read.
"$B/flowgen" --file "$T/flows.ipfix" --flows 20000 --sources 30 --seed 3 \
    --per-source "$T/file_expected.txt" 2>/dev/null
cp "$T/flows.ipfix" "$T/replay/"
api POST /api/v1/replay '{"sql":"SELECT srcip, count(*) AS flows, sum(bytes) AS bytes FROM flows GROUP BY srcip","file":"flows.ipfix"}' >"$T/replay.json"
eq "replay over REST (200)" "$CODE" 200
jq -r '.windows[].rows[] | "\(.srcip) \(.flows) \(.bytes)"' "$T/replay.json" | sort >"$T/r_got"
awk '{print $1, $2, $4}' "$T/file_expected.txt" | sort >"$T/r_want"
check "replayed counts equal the generator's" cmp -s "$T/r_got" "$T/r_want"
api POST /api/v1/replay '{"sql":"SELECT count(*) FROM flows","file":"nonexistent"}' >/dev/null
eq "replay of a missing file is 404" "$CODE" 404
stop_flowsqld

mkdir -p "$T/q2"
echo "SELECT srcip, count(*) AS flows FROM flows WINDOW 1h GROUP BY srcip" >"$T/q2/hourly.sql"
"$B/flowsqld" --read "$T/flows.ipfix" --queries-dir "$T/q2" --data-dir "$T/d2" \
    >"$T/read.out" 2>"$T/read.log"
eq "--read exits 0" $? 0
eq "--read prints the windows" "$(jq -s '[.[].rows[].flows] | add' "$T/read.out")" 20000
"$B/flowsqld" --read "$T/flows.ipfix" --queries-dir "$T/q2" --data-dir "$T/d2" \
    >"$T/read2.out" 2>/dev/null
check "--read is deterministic" cmp -s "$T/read.out" "$T/read2.out"
exit 0
