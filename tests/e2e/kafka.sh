#!/bin/sh
# Kafka end to end against a real broker (Apache Kafka, KRaft, from Maven
# Central): flows in IPFIXCol JSON are published to a topic, flowsqld reads
# them as its input, runs two queries and produces their rows to Kafka;
# kcat reads them back. The broker is killed and restarted while rows are
# on their way: none may be lost. Shutdown flushes what is left.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../servers/servers.sh"

if servers_missing; then fail "tools to run Kafka are present"; exit 1; fi
kafka_start || { fail "Kafka broker starts"; exit 1; }
ok "Kafka broker starts ($KAFKA)"

# gen_flows NET COUNT: COUNT flow records in IPFIXCol2's JSON, one per
# line; sources NET.0-9 (COUNT/10 flows each), bytes 100 per flow, ports
# 80/443/53 in turn (53 over UDP), times as ISO-8601 text.
gen_flows() {
    awk -v net="$1" -v n="$2" 'BEGIN {
        for (i = 0; i < n; i++) {
            port = i % 3 == 0 ? 80 : i % 3 == 1 ? 443 : 53
            proto = port == 53 ? "UDP" : "TCP"
            printf "{\"@type\":\"ipfix.entry\",\"iana:octetDeltaCount\":100," \
                   "\"iana:packetDeltaCount\":2," \
                   "\"iana:flowStartMilliseconds\":\"2026-01-02T03:04:05.006Z\"," \
                   "\"iana:flowEndMilliseconds\":\"2026-01-02T03:04:06.500Z\"," \
                   "\"iana:ipVersion\":4,\"iana:sourceIPv4Address\":\"%s.%d\"," \
                   "\"iana:destinationIPv4Address\":\"192.0.2.1\"," \
                   "\"iana:protocolIdentifier\":\"%s\",\"iana:tcpControlBits\":\".AP.S.\"," \
                   "\"iana:sourceTransportPort\":%d,\"iana:destinationTransportPort\":%d}\n",
                   net, i % 10, proto, 40000 + i % 1000, port
        }
    }'
}
publish() { # TOPIC < lines
    kcat -b "$KAFKA" -P -t "$1" -X queue.buffering.max.ms=10
}
# rows TOPIC: "key<TAB>json" of every message in the topic
rows() {
    kcat -b "$KAFKA" -C -t "$1" -e -q -o beginning -f '%k\t%s\n' 2>/dev/null
}
# sum_flows TOPIC NETPREFIX: sum of "flows" over rows whose srcip starts so
sum_flows() {
    rows "$1" | cut -f2- | jq -s --arg p "$2" \
        '[.[] | select(.srcip | startswith($p)) | .flows] | add // 0'
}
# wait_total TOPIC WANT: until the rows' flows add up to WANT
wait_total() {
    i=0
    while [ "$(rows "$1" | cut -f2- | jq -s '[.[].flows] | add // 0')" != "$2" ]; do
        i=$((i + 1)); [ $i -gt 30 ] && return 1
        sleep 1
    done
}
# wait_sum TOPIC NETPREFIX WANT [SECONDS]
wait_sum() {
    i=0
    while [ "$(sum_flows "$1" "$2")" != "$3" ]; do
        i=$((i + 1)); [ $i -gt ${4:-30} ] && return 1
        sleep 1
    done
}

printf '' | publish flows.in   # create the input topic
start_flowsqld --kafka-brokers "$KAFKA" --kafka-input "$KAFKA/flows.in" \
    --kafka-props "auto.offset.reset=earliest,group.id=flowsql-e2e,socket.timeout.ms=1500" || exit 1

# register: the two queries (a restart may already have them from the
# catalog: 409 is fine then)
register() {
    api POST /api/v1/queries '{"sql":"CREATE QUERY talkers AS SELECT srcip, count(*) AS flows, sum(bytes) AS bytes, min(start) AS first FROM flows WINDOW 1s GROUP BY srcip"}' >/dev/null
    c1=$CODE
    api POST /api/v1/queries '{"sql":"CREATE QUERY ports WITH (kafka_topic = '"'"'custom.ports'"'"') AS SELECT dstport, proto, count(*) AS flows FROM flows WINDOW 1s GROUP BY dstport, proto"}' >/dev/null
    case "$c1 $CODE" in 201\ 201|409\ 409) ok "queries registered ($c1 $CODE)" ;;
        *) fail "queries registered" "got $c1 $CODE" ;; esac
}
register

# --- rows arrive ------------------------------------------------------------
gen_flows 10.0.0 1000 | publish flows.in
check "the Kafka input decodes 1000 flows" wait_metric flowsql_kafka_input_flows_total 1000
check "every flow of 10.0.0.x is counted in topic flowsql.talkers" \
    wait_sum flowsql.talkers 10.0.0. 1000
rows flowsql.talkers >"$T/talkers"
eq "per source: 100 flows, 10000 bytes, over all windows" \
    "$(cut -f2- "$T/talkers" | jq -s -c 'group_by(.srcip) | map({(.[0].srcip): [(map(.flows) | add), (map(.bytes) | add)]}) | add | [.[]] | unique')" \
    '[[100,10000]]'
eq "ten sources" "$(cut -f2- "$T/talkers" | jq -r .srcip | sort -u | wc -l)" 10
first=$(head -1 "$T/talkers")
key=$(printf '%s' "$first" | cut -f1)
doc=$(printf '%s' "$first" | cut -f2-)
eq "the message key is the group key (the address as text)" "$key" \
   "$(printf '%s' "$doc" | jq -r .srcip)"
eq "the message carries query and window" \
   "$(printf '%s' "$doc" | jq -r '[.query, (.window_start | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z$")), (.window_end_ms - .window_start_ms)] | map(tostring) | join(",")')" \
   "talkers,true,1000"
eq "a time column is ISO-8601 text" "$(printf '%s' "$doc" | jq -r .first)" \
   "2026-01-02T03:04:05.006Z"
eq "every message says whether its window is partial" \
   "$(cut -f2- "$T/talkers" | jq -s '[.[] | select(.partial | type != "boolean")] | length')" 0
check "the query's WITH (kafka_topic) is honoured" wait_total custom.ports 1000
eq "custom.ports holds every flow by port and protocol" \
   "$(rows custom.ports | cut -f2- | jq -s -c 'group_by(.dstport) | map([.[0].dstport, .[0].proto, (map(.flows) | add)])')" \
   '[[53,17,333],[80,6,334],[443,6,333]]'
eq "custom.ports keys are port|proto" \
   "$(rows custom.ports | cut -f1 | sort -u | tr '\n' ' ')" "443|6 53|17 80|6 "

# --- restart: shutdown flushes, the consumer resumes from its commit -------
gen_flows 10.0.3 200 | publish flows.in
check "the next batch is read" wait_metric flowsql_kafka_input_flows_total 1200
stop_flowsqld
eq "flowsqld exits 0 on SIGTERM" "$STATUS" 0
eq "rows of the windows open at shutdown were flushed" \
   "$(sum_flows flowsql.talkers 10.0.3.)" 200
start_flowsqld --kafka-brokers "$KAFKA" --kafka-input "$KAFKA/flows.in" \
    --kafka-props "auto.offset.reset=earliest,group.id=flowsql-e2e,socket.timeout.ms=1500" || exit 1
register
gen_flows 10.0.4 100 | publish flows.in
check "a restarted consumer resumes after the committed offset" \
    wait_metric flowsql_kafka_input_flows_total 100 60
sleep 1
eq "and reads nothing twice" "$(metric flowsql_kafka_input_flows_total)" 100
check "the rows after the restart arrive" wait_sum flowsql.talkers 10.0.4. 100

# --- the broker goes away while rows are on their way ---------------------
gen_flows 10.0.1 500 | publish flows.in
check "the batch before the crash is read" wait_metric flowsql_kafka_input_flows_total 600
kill -9 "$KAFKA_PID"; wait "$KAFKA_PID" 2>/dev/null   # a crash, mid-stream
sleep 3   # the window of that batch closes while the broker is down
api GET /healthz >/dev/null
eq "flowsqld keeps serving while the broker is down" "$CODE" 200
waiting=$(metric flowsql_kafka_rows_waiting)
check "rows wait in the producer meanwhile ($waiting)" test "${waiting:-0}" -gt 0
check "the outage is counted as client errors" test "$(metric flowsql_kafka_errors_total)" -gt 0
kafka_run || fail "the broker restarts"
check "after the restart every row of the outage arrives" \
    wait_sum flowsql.talkers 10.0.1. 500 60
gen_flows 10.0.2 300 | publish flows.in
check "flows published after the restart are read" \
    wait_metric flowsql_kafka_input_flows_total 900 60
check "and their rows arrive" wait_sum flowsql.talkers 10.0.2. 300 30

# --- the broker hangs: requests time out and are sent again -----------------
gen_flows 10.0.5 100 | publish flows.in
check "the batch before the hang is read" wait_metric flowsql_kafka_input_flows_total 1000
kill -STOP "$KAFKA_PID"
sleep 6   # the window closes, its produce request times out (1.5 s), again
kill -CONT "$KAFKA_PID"
check "after the hang the rows arrive" wait_sum flowsql.talkers 10.0.5. 100 60
check "the timed-out requests were retried (retries $(metric flowsql_kafka_retries_total))" \
    test "$(metric flowsql_kafka_retries_total)" -gt 0
eq "no duplicate rows (one per source and window)" \
   "$(rows flowsql.talkers | cut -f2- | jq -r '"\(.srcip) \(.window_start_ms)"' | sort | uniq -d | wc -l)" 0
# the rows are in the topic; the producer may still await the answer to
# its retried request (the broker drops the duplicate, idempotence)
check "the producer's queue drains" wait_metric flowsql_kafka_rows_waiting 0 60
curl -s "http://$HTTP/metrics" | grep '^flowsql_kafka_' >"$T/metrics"
q=$(awk '$1=="flowsql_kafka_rows_queued_total"{print $2}' "$T/metrics")
d=$(awk '$1=="flowsql_kafka_rows_delivered_total"{print $2}' "$T/metrics")
eq "metrics: every queued row delivered ($q)" "$d" "$q"
eq "metrics: nothing failed" "$(awk '$1=="flowsql_kafka_rows_failed_total"{print $2}' "$T/metrics")" 0
eq "metrics: nothing dropped" "$(awk '$1=="flowsql_kafka_rows_dropped_total"{print $2}' "$T/metrics")" 0
r=$(awk '$1=="flowsql_kafka_retries_total"{print $2}' "$T/metrics")
e=$(awk '$1=="flowsql_kafka_errors_total"{print $2}' "$T/metrics")
check "metrics show the outages (retries $r, errors $e)" test "$r" -gt 0 -a "$e" -gt 0

# --- shutdown flushes -------------------------------------------------------
gen_flows 10.0.6 200 | publish flows.in
check "the last batch is read" wait_metric flowsql_kafka_input_flows_total 1200
stop_flowsqld
eq "flowsqld exits 0 on SIGTERM" "$STATUS" 0
eq "rows of the windows open at shutdown were flushed" \
   "$(sum_flows flowsql.talkers 10.0.6.)" 200
eq "in all, every flow is in the topic exactly once" \
   "$(rows flowsql.talkers | cut -f2- | jq -s '[.[].flows] | add')" 2400

# --- the same flows as IPFIX and as IPFIXCol JSON over Kafka ------------------
# flowgen makes 5000 flows (5 s of flow time from now); one daemon receives
# them as IPFIX over TCP, another reads them from Kafka as IPFIXCol JSON
# (converted from the same flows decoded out of flowgen's IPFIX file). Both
# run the same query, windowed on the flows' own end times, and both write
# their rows to Kafka: the rows must be the same.
FG="--flows 5000 --sources 40 --seed 7 --start-ms $(( $(date +%s) * 1000 )) --clock-rate 1000"
"$B/flowgen" --file "$T/cmp.ipfix" $FG 2>/dev/null
mkdir -p "$T/raw"
echo "SELECT srcip, dstip, srcport, dstport, proto, tcpflags, tos, packets, bytes, start, end FROM flows WINDOW 1h ON end" >"$T/raw/raw.sql"
"$B/flowsqld" --read "$T/cmp.ipfix" --queries-dir "$T/raw" \
    --data-dir "$T/rawdata" --http off >"$T/raw.json" 2>"$T/raw.log"
jq -c '.rows[] | {"@type": "ipfix.entry",
    "iana:sourceIPv4Address": .srcip, "iana:destinationIPv4Address": .dstip,
    "iana:sourceTransportPort": .srcport, "iana:destinationTransportPort": .dstport,
    "iana:protocolIdentifier": ({"6": "TCP", "17": "UDP", "1": "ICMP"}[.proto | tostring] // .proto),
    "iana:tcpControlBits": .tcpflags, "iana:ipClassOfService": .tos,
    "iana:packetDeltaCount": .packets, "iana:octetDeltaCount": .bytes,
    "iana:flowStartMilliseconds": .start, "iana:flowEndMilliseconds": .end}' \
    "$T/raw.json" >"$T/cmp.json"
eq "flowgen's 5000 flows as IPFIXCol JSON" "$(wc -l <"$T/cmp.json")" 5000
CMP='{"sql":"CREATE QUERY cmp AS SELECT srcip, proto, count(*) AS flows, sum(bytes) AS bytes, sum(packets) AS pkts, min(start) AS first, max(end) AS last, count(DISTINCT dstport) AS ports, max(tcpflags) AS flags FROM flows WINDOW 2s ON end LATENESS 10m GROUP BY srcip, proto"}'
query_flows() { metric 'flowsql_query_flows_total{query="cmp"}'; }

start_flowsqld --kafka-brokers "$KAFKA" --kafka-topic 'cmp.ipfix.%q' --data-dir "$T/cmp1" || exit 1
api POST /api/v1/queries "$CMP" >/dev/null
eq "IPFIX daemon: query registered" "$CODE" 201
"$B/flowgen" --tcp "127.0.0.1:$IPFIX" $FG 2>/dev/null
check "IPFIX daemon: 5000 flows reach the query" wait_metric 'flowsql_query_flows_total{query="cmp"}' 5000
stop_flowsqld

printf '' | publish flows.cmp
start_flowsqld --kafka-brokers "$KAFKA" --kafka-topic 'cmp.json.%q' --data-dir "$T/cmp2" \
    --kafka-input "$KAFKA/flows.cmp" \
    --kafka-props "auto.offset.reset=earliest,group.id=flowsql-cmp" || exit 1
api POST /api/v1/queries "$CMP" >/dev/null
eq "Kafka daemon: query registered" "$CODE" 201
publish flows.cmp <"$T/cmp.json"
check "Kafka daemon: 5000 flows reach the query" wait_metric 'flowsql_query_flows_total{query="cmp"}' 5000
stop_flowsqld

norm() { rows "$1" | cut -f2- | jq -c '[.window_start_ms, .srcip, .proto, .flows, .bytes, .pkts, .first, .last, .ports, .flags]' | sort; }
norm cmp.ipfix.cmp >"$T/cmp.ipfix.rows"
norm cmp.json.cmp >"$T/cmp.json.rows"
eq "the IPFIX rows count all 5000 flows" \
   "$(jq -s 'map(.[3]) | add' "$T/cmp.ipfix.rows")" 5000
check "there are rows of several windows and sources ($(wc -l <"$T/cmp.ipfix.rows"))" \
    test "$(wc -l <"$T/cmp.ipfix.rows")" -gt 40
check "Kafka JSON input gives the same rows as IPFIX" \
    cmp -s "$T/cmp.ipfix.rows" "$T/cmp.json.rows"

# --- enriched fields in the messages, addresses anonymized for Kafka only ---
# (docs/ENRICHMENT.md) A country database written by tests/tools/mkmmdb.pl,
# a network names file, Crypto-PAn for the Kafka output only.
printf '10.0.0.0/24\t{"country":{"iso_code":"SE"}}\n' |
    perl tests/tools/mkmmdb.pl "$T/geo.mmdb" GeoLite2-Country
printf '192.0.2.0/24,customer-x\n' >"$T/nets.csv"
head -c 32 /dev/urandom >"$T/anon.key"
printf '' | publish flows.enr
start_flowsqld --kafka-brokers "$KAFKA" --data-dir "$T/enrdata" \
    --kafka-input "$KAFKA/flows.enr" \
    --kafka-props "auto.offset.reset=earliest,group.id=flowsql-enr" \
    --geoip-db "$T/geo.mmdb" --network-names "$T/nets.csv" \
    --anonymize cryptopan --anonymize-key "$T/anon.key" \
    --anonymize-scope kafka || exit 1
api POST /api/v1/queries '{"sql":"CREATE QUERY enriched AS SELECT srcip, srccountry, dstnet_name, srcasn, count(*) AS flows FROM flows WINDOW 1s GROUP BY srcip, srccountry, dstnet_name, srcasn"}' >/dev/null
eq "enriched query registered" "$CODE" 201
gen_flows 10.0.0 100 | publish flows.enr
check "every flow reaches topic flowsql.enriched" wait_total flowsql.enriched 100
rows flowsql.enriched | cut -f2- >"$T/enr.rows"
eq "messages carry srccountry, dstnet_name (text) and srcasn (a number)" \
   "$(jq -r '[.srccountry, .dstnet_name, (.srcasn | type)] | join(",")' "$T/enr.rows" | sort -u)" \
   "SE,customer-x,number"
eq "srcip is anonymized in Kafka: no 10.0.0.x left" \
   "$(jq -r .srcip "$T/enr.rows" | grep -c '^10\.0\.0\.')" 0
eq "ten sources still (one to one), sharing one /24 (prefix-preserving)" \
   "$(jq -r .srcip "$T/enr.rows" | sort -u | wc -l) $(jq -r .srcip "$T/enr.rows" | cut -d. -f1-3 | sort -u | wc -l)" "10 1"
eq "the store (not in the scope) keeps the real addresses" \
   "$(api POST /api/v1/sql '{"sql":"SELECT count(DISTINCT srcip) FROM enriched WHERE ip_in(srcip, '"'"'10.0.0.0/24'"'"')"}' | jq -c '.rows[0][0]')" 10
stop_flowsqld
kafka_stop
exit 0
