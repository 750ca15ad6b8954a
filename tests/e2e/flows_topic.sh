#!/bin/sh
# The collector role of scale-out (docs/SCALE_OUT.md) against a real
# broker (Apache Kafka, KRaft, from Maven Central): flowgen sends IPFIX
# over TCP to flowsqld --flows-topic; the topic has 4 partitions;
# tests/tools/flowsdump reads it back with the worker's decoder. Every
# flow arrives exactly once (per-source flows, packets and bytes equal
# flowgen's own count), each source's flows all in one partition, every
# partition used; every partition gets watermark markers, its messages'
# sequence numbers run without gap or repeat; the metrics count the
# deliveries and are those SCALE_OUT.md lists; bad options are refused;
# flows for a topic that does not exist are counted as dropped.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../servers/servers.sh"

if servers_missing; then fail "tools to run Kafka are present"; exit 1; fi
kafka_start || { fail "Kafka broker starts"; exit 1; }
ok "Kafka broker starts ($KAFKA)"

DUMP=$B/tools/flowsdump
check "topic flows.part created with 4 partitions" \
    "$DUMP" --create 4 "$KAFKA" flows.part

# bad options: a clear error, no daemon
out=$("$B/flowsqld" --http off --data-dir "$T/bad" --kafka-brokers "$KAFKA" \
      --flows-topic flows.part --flows-key proto 2>&1)
case $out in *"--flows-key 'proto': must be srcip, dstip, exporter or nexthop"*)
    ok "--flows-key proto is refused, saying which keys exist" ;;
*) fail "--flows-key proto is refused, saying which keys exist" "$out" ;; esac
out=$("$B/flowsqld" --http off --data-dir "$T/bad" --flows-topic flows.part 2>&1)
case $out in *"--flows-topic needs --kafka-brokers"*)
    ok "--flows-topic without brokers is refused" ;;
*) fail "--flows-topic without brokers is refused" "$out" ;; esac


start_flowsqld --kafka-brokers "$KAFKA" --flows-topic flows.part || exit 1
eq "the partition count is read from the brokers" \
   "$(metric flowsql_flows_topic_partitions)" 4

N=30000
"$B/flowgen" --tcp "127.0.0.1:$IPFIX" --flows $N --rate 100000 --sources 300 \
    --per-source "$T/gen.txt" 2>"$T/flowgen.log"
check "every flow is delivered to the topic" \
    wait_metric flowsql_flows_topic_flows_delivered_total $N 30
eq "no flow dropped, none failed" \
   "$(metric flowsql_flows_topic_flows_dropped_total) $(metric flowsql_flows_topic_flows_failed_total)" \
   "0 0"

sleep 1
"$DUMP" "$KAFKA" flows.part >"$T/dump.txt" 2>"$T/dump.err"
check "the topic reads back with the decoder, no bad message" test $? -eq 0
cat "$T/dump.err" >&2
eq "as many flows in the topic as flowgen sent" "$(wc -l <"$T/dump.txt")" $N
# markers: every partition gets them, sequence numbers run 1, 2, 3...
# without gap or repeat (no message lost or doubled), the watermark
# never goes back, and a second after the last flow it is past every
# flow's received time (by --close-delay 300ms)
eq "every partition: markers, seq contiguous, watermark monotone" \
   "$(grep -c '^partition [0-3]: [0-9]* messages, [1-9][0-9]* markers, seq contiguous, watermark monotone' "$T/dump.err")" 4
maxrecv=$(awk '$6 > m {m = $6} END {print m}' "$T/dump.txt")
eq "every partition's last watermark is past the last flow's received time" \
   "$(sed -n 's/^partition .*last \([0-9]*\)$/\1/p' "$T/dump.err" | awk -v m="$maxrecv" '$1 > m' | wc -l)" 4
check "markers are counted" test "$(metric flowsql_flows_topic_markers_total)" -gt 0
eq "no marker dropped" "$(metric flowsql_flows_topic_markers_dropped_total)" 0
# per source: flows, packets, bytes, as flowgen counted them
awk '{f[$2]++; p[$2] += $4; b[$2] += $5} END {for (s in f) print s, f[s], p[s], b[s]}' \
    "$T/dump.txt" | sort >"$T/got.txt"
sort "$T/gen.txt" >"$T/want.txt"
check "per source, flows, packets and bytes equal flowgen's (300 sources)" \
    cmp -s "$T/got.txt" "$T/want.txt"
diff "$T/got.txt" "$T/want.txt" | head -5 >&2
eq "300 sources" "$(wc -l <"$T/want.txt")" 300
eq "each source's flows are in one partition" \
   "$(awk '{print $2, $1}' "$T/dump.txt" | sort -u | awk '{print $1}' | uniq -d | wc -l)" 0
eq "every partition holds flows" \
   "$(awk '{print $1}' "$T/dump.txt" | sort -u | tr '\n' ' ')" "0 1 2 3 "

# SCALE_OUT.md lists exactly the flows-topic metrics /metrics has
curl -s "http://$HTTP/metrics" >"$T/metrics.txt"
metrics_documented flows-topic "$T/metrics.txt" flowsql_flows_topic_ \
    "$(dirname "$0")/../../docs/SCALE_OUT.md"
promtool_clean "$T/metrics.txt"
stop_flowsqld
eq "flowsqld stops cleanly" "$STATUS" 0

# A topic that does not exist (and is not created): the partition count
# stays unknown, flows are dropped and counted, never lost silently
IPFIX=$(free_port)
start_flowsqld --kafka-brokers "$KAFKA" --flows-topic flows.missing \
    --kafka-props allow.auto.create.topics=false || exit 1
eq "a missing topic: partitions unknown" \
   "$(metric flowsql_flows_topic_partitions)" 0
"$B/flowgen" --tcp "127.0.0.1:$IPFIX" --flows 2000 --rate 20000 \
    --sources 10 2>/dev/null
check "its flows are counted as dropped, all 2000" \
    wait_metric flowsql_flows_topic_flows_dropped_total 2000 20
check "and logged" grep -q "dropping .* flows: the partition count of flows.missing is not known" "$T/flowsqld.log"
stop_flowsqld
kafka_stop
exit 0
