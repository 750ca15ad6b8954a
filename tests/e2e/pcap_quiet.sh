#!/bin/sh
# A quiet watched directory (--pcap-dir, --pcap-quiet; docs/INGEST.md "One
# meter for the stream"): after one file and no other, the meter's packet
# clock stays on the file's last packet until the directory has been quiet
# for --pcap-quiet, then follows the wall clock, so the file's flows end
# by their idle timeout and reach the windows. Not before: the clock never
# runs ahead of the quiet time; and --pcap-quiet 0 keeps them open.
. "$(dirname "$0")/lib.sh"
GEN="python3 $(dirname "$0")/lib/pcapgen.py"
IN=$T/in
mkdir -p "$IN" "$T/run/queries"
cat >"$T/run/queries/per_src.sql" <<'SQL'
CREATE QUERY per_src AS
SELECT srcip, count(*) AS flows, sum(packets) AS packets
FROM flows WINDOW 1s GROUP BY srcip
SQL
files_done() { [ "$(metric 'flowsql_pcap_files_total{result="done"}')" = 1 ]; }
exported() { [ "$(metric 'flowsql_pcap_flows_total{source="dir"}')" = "$1" ]; }

# 500 packets in half a second of 2026-01-01: 250 sources, 2 packets each
$GEN big "$T/one.pcap" 500 1767225600 >"$T/exp.txt"

start_flowsqld --pcap-dir "$IN" --pcap-quiet 3s --pcap-idle-timeout 4 \
    --pcap-active-timeout 0 || exit 1
cp "$T/one.pcap" "$IN/.one.pcap" && mv "$IN/.one.pcap" "$IN/one.pcap"
check "the file is metered" wait_until 10 files_done
eq "its 250 flows are open" "$(metric 'flowsql_pcap_active_flows{source="dir"}')" 250
sleep 4
# 4 s after the file: quiet for 1 s at most, the clock 1 s past the last
# packet, short of the 4 s idle timeout
eq "none exported before the quiet time and the idle timeout" \
    "$(metric 'flowsql_pcap_flows_total{source="dir"}')" 0
check "all 250 exported once quiet" wait_until 20 exported 250
eq "none open" "$(metric 'flowsql_pcap_active_flows{source="dir"}')" 0
stored() {
    [ "$(api GET '/api/v1/queries/per_src/results?limit=100' |
         jq '[.[].rows[].packets] | add')" = 500 ]
}
check "and stored" wait_until 10 stored
api GET "/api/v1/queries/per_src/results?limit=100" >"$T/res.json"
jq -r '[.[].rows[]] | group_by(.srcip)[] |
       "\(.[0].srcip) \(map(.flows) | add) \(map(.packets) | add)"' \
    "$T/res.json" | sort >"$T/got.txt"
awk '{print $1, $2, $3}' "$T/exp.txt" | sort >"$T/want.txt"
check "per source: the flows and packets of the capture" cmp -s "$T/got.txt" "$T/want.txt"
diff "$T/got.txt" "$T/want.txt" | head >&2
stop_flowsqld
eq "SIGTERM exits 0" "$STATUS" 0

# --pcap-quiet 0: the flows stay open until the stop flushes them
rm -rf "$IN"; mkdir -p "$IN"
start_flowsqld --pcap-dir "$IN" --pcap-quiet 0 --pcap-idle-timeout 1 \
    --pcap-active-timeout 0 || exit 1
cp "$T/one.pcap" "$IN/.one.pcap" && mv "$IN/.one.pcap" "$IN/one.pcap"
check "metered with --pcap-quiet 0" wait_until 10 files_done
sleep 3
eq "--pcap-quiet 0: still open after 3 s" \
    "$(metric 'flowsql_pcap_active_flows{source="dir"}')" 250
stop_flowsqld
eq "SIGTERM exits 0" "$STATUS" 0
check "the stop flushed them" grep -q '250 flows' "$T/flowsqld.log"
exit $FAILED
