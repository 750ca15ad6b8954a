#!/bin/sh
# ECS documents (--es-format ecs, --kafka-format ecs; docs/OUTPUTS.md)
# against a real OpenSearch node and a real Kafka broker: flows come in
# over Kafka (IPFIXCol JSON) in two batches more than a second apart;
# OpenSearch is then searched by @timestamp range and by source.ip CIDR,
# its mapping read back (date, ip, long), and the Kafka messages of a
# query without aggregation checked field by field.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../servers/servers.sh"

if servers_missing; then fail "tools to run the servers are present"; exit 1; fi
opensearch_start || { fail "OpenSearch node starts"; exit 1; }
ok "OpenSearch node starts ($ES_URL)"
kafka_start || { fail "Kafka broker starts"; exit 1; }

# gen_flows NET NSRC COUNT: COUNT flows from NET.0 .. NET.(NSRC-1) in turn
# to 192.0.2.1, exported by 198.51.100.7; every third flow is UDP to port
# 53, the others TCP to 443; 100 bytes, 2 packets, 1494 ms each.
gen_flows() {
    awk -v net="$1" -v ns="$2" -v n="$3" 'BEGIN {
        for (i = 0; i < n; i++)
            printf "{\"@type\":\"ipfix.entry\",\"iana:octetDeltaCount\":100," \
                   "\"iana:packetDeltaCount\":2,\"iana:flowStartMilliseconds\":1767323045006," \
                   "\"iana:flowEndMilliseconds\":1767323046500," \
                   "\"iana:exporterIPv4Address\":\"198.51.100.7\"," \
                   "\"iana:sourceIPv4Address\":\"%s.%d\",\"iana:destinationIPv4Address\":\"192.0.2.1\"," \
                   "\"iana:protocolIdentifier\":%d,\"iana:sourceTransportPort\":%d," \
                   "\"iana:destinationTransportPort\":%d}\n",
                   net, i % ns, i % 3 ? 6 : 17, 40000 + i % 1000, i % 3 ? 443 : 53
    }'
}
publish() { kcat -b "$KAFKA" -P -t flows.in -X queue.buffering.max.ms=10; }
es() { curl -s -H 'Content-Type: application/json' "$@"; }
# search INDEX QUERY: the hits' _source, one JSON document a line
search() {
    es -XPOST "$ES_URL/$1/_refresh" >/dev/null
    es -XPOST "$ES_URL/$1/_search" -d "{\"size\":10000,\"query\":$2}" |
        jq -c '.hits.hits[]._source'
}
flows_of() { search "$@" | jq -s '[.[].flowsql.flows] | add // 0'; }
wait_flows() { # INDEX WANT
    i=0
    while [ "$(flows_of "$1" '{"match_all":{}}')" != "$2" ]; do
        i=$((i + 1)); [ $i -gt 60 ] && return 1
        sleep 1
    done
}
now_ms() { date +%s%3N; }

printf '' | publish
t0=$(now_ms)
start_flowsqld --elasticsearch "$ES_URL" --es-format ecs \
    --kafka-brokers "$KAFKA" --kafka-format ecs --kafka-input "$KAFKA/flows.in" \
    --kafka-props "auto.offset.reset=earliest,group.id=flowsql-ecs" || exit 1
# an aggregate, its key under an alias; and flows as they came
api POST /api/v1/queries '{"sql":"CREATE QUERY talkers AS SELECT srcip AS src, exporter, count(*) AS flows, sum(bytes) AS bytes FROM flows WINDOW 1s GROUP BY srcip, exporter"}' >/dev/null
eq "register talkers" "$CODE" 201
api POST /api/v1/queries '{"sql":"CREATE QUERY conns AS SELECT srcip, dstip, srcport, dstport, proto, bytes, packets, duration, exporter, tcpflags FROM flows WINDOW 1s"}' >/dev/null
eq "register conns (no aggregation)" "$CODE" 201

# --- two batches, more than a second apart ----------------------------------
{ gen_flows 10.0.0 10 600; gen_flows 172.16.0 4 400; } | publish
check "batch 1 is indexed (1000 flows)" wait_flows 'flowsql-talkers-*' 1000
tmid=$(now_ms)
sleep 1.3
gen_flows 10.9.0 3 300 | publish
check "batch 2 is indexed (1300 flows)" wait_flows 'flowsql-talkers-*' 1300
t1=$(( $(now_ms) + 1000 ))

es "$ES_URL/flowsql-talkers-*/_mapping" >"$T/mapping"
eq "mapping: @timestamp date, source.ip and observer.ip ip, window dates, aggregates long" \
   "$(jq -r '[.[] | .mappings.properties | ."@timestamp".type, .source.properties.ip.type, .observer.properties.ip.type, .flowsql.properties.window.properties.start.type, .flowsql.properties.window.properties.end.type, .flowsql.properties.flows.type, .flowsql.properties.bytes.type, .flowsql.properties.query.type] | join(",")' "$T/mapping")" \
   "date,ip,ip,date,date,long,long,keyword"
check "the index template is installed" \
    test "$(es -o /dev/null -w '%{http_code}' "$ES_URL/_index_template/flowsql-talkers")" = 200

range() { echo "{\"range\":{\"@timestamp\":{\"gte\":$1,\"lt\":$2,\"format\":\"epoch_millis\"}}}"; }
search 'flowsql-talkers-*' "$(range "$t0" "$tmid")" >"$T/b1"
eq "@timestamp range of batch 1: its 14 sources, 1000 flows" \
   "$(jq -s -c '[(map(.source.ip) | unique | length), (map(.flowsql.flows) | add)]' "$T/b1")" "[14,1000]"
search 'flowsql-talkers-*' "$(range "$tmid" "$t1")" >"$T/b2"
eq "@timestamp range of batch 2: its 3 sources, 300 flows" \
   "$(jq -s -c '[(map(.source.ip) | unique), (map(.flowsql.flows) | add)]' "$T/b2")" \
   '[["10.9.0.0","10.9.0.1","10.9.0.2"],300]'
search 'flowsql-talkers-*' '{"term":{"source.ip":"10.0.0.0/8"}}' >"$T/cidr"
eq "source.ip 10.0.0.0/8: the 13 sources of 10/8, 900 flows" \
   "$(jq -s -c '[(map(.source.ip) | unique | length), (map(.flowsql.flows) | add), (map(select(.source.ip | startswith("10.") | not)) | length)]' "$T/cidr")" \
   "[13,900,0]"
search 'flowsql-talkers-*' '{"bool":{"filter":[{"term":{"source.ip":"10.0.0.0/24"}},'"$(range "$t0" "$tmid")"']}}' >"$T/both"
eq "CIDR and time range together: 10.0.0.0-9, 60 flows and 6000 bytes each" \
   "$(jq -s -c 'group_by(.source.ip) | map([.[0].source.ip, (map(.flowsql.flows) | add), (map(.flowsql.bytes) | add)]) | [length, (map(.[1:]) | unique)]' "$T/both")" \
   "[10,[[60,6000]]]"
eq "172.16.0.0/12: 4 sources, 100 flows each" \
   "$(search 'flowsql-talkers-*' '{"term":{"source.ip":"172.16.0.0/12"}}' | jq -s -c 'group_by(.source.ip) | map(map(.flowsql.flows) | add) | [length, unique]')" \
   "[4,[100]]"
jq -s '.[0]' "$T/b1" >"$T/doc"
eq "a document: @timestamp is the window start, window fields, query, exporter, ECS event" \
   "$(jq -r '[(."@timestamp" == .flowsql.window.start), ((.flowsql.window.end | sub("\\.[0-9]+Z$"; "Z") | fromdate) - (.flowsql.window.start | sub("\\.[0-9]+Z$"; "Z") | fromdate)), .flowsql.query, .observer.ip, .event.kind, .event.dataset, .ecs.version, .flowsql.window.partial, (.src // "none")] | map(tostring) | join(",")' "$T/doc")" \
   "true,1,talkers,198.51.100.7,metric,flowsql.talkers,8.11.0,false,none"

# --- flows as they came: every ECS field of a flow -------------------------
search 'flowsql-conns-*' '{"match_all":{}}' >"$T/conns"
eq "conns: one document per flow" "$(wc -l <"$T/conns")" 1300
eq "network.transport term query: the UDP flows" \
   "$(search 'flowsql-conns-*' '{"term":{"network.transport":"udp"}}' | jq -s 'length')" 434
es "$ES_URL/flowsql-conns-*/_mapping" >"$T/cmap"
eq "conns mapping: ports long, addresses ip, event dates and duration" \
   "$(jq -r '[.[] | .mappings.properties | .source.properties.port.type, .destination.properties.port.type, .destination.properties.ip.type, .network.properties.iana_number.type, .network.properties.bytes.type, .event.properties.duration.type, .flowsql.properties.tcpflags.type] | join(",")' "$T/cmap")" \
   "long,long,ip,keyword,long,long,long"
eq "a UDP flow in ECS" \
   "$(jq -c -s 'map(select(.source.ip == "10.0.0.0" and .source.port == 40000)) | .[0] | [.source.ip, .source.port, .destination.ip, .destination.port, .network.transport, .network.iana_number, .network.bytes, .source.bytes, .network.packets, .event.duration, .observer.ip, .event.kind]' "$T/conns")" \
   '["10.0.0.0",40000,"192.0.2.1",53,"udp","17",100,100,2,1494000000,"198.51.100.7","event"]'

# --- Kafka: the same documents ----------------------------------------------
kcat -b "$KAFKA" -C -t flowsql.conns -e -q -o beginning -f '%s\n' 2>/dev/null >"$T/kconns"
eq "Kafka flowsql.conns: every flow, as ECS" "$(wc -l <"$T/kconns")" 1300
eq "a TCP flow from Kafka" \
   "$(jq -c -s 'map(select(.source.ip == "172.16.0.1" and .source.port == 40205)) | .[0] | [.source.ip, .destination.port, .network.transport, .network.iana_number, .observer.ip, (."@timestamp" == .flowsql.window.start), .flowsql.query]' "$T/kconns")" \
   '["172.16.0.1",443,"tcp","6","198.51.100.7",true,"conns"]'
kcat -b "$KAFKA" -C -t flowsql.talkers -e -q -o beginning -f '%s\n' 2>/dev/null >"$T/ktalk"
eq "Kafka flowsql.talkers: the aggregate under flowsql, the key as source.ip" \
   "$(jq -s -c '[(map(.flowsql.flows) | add), (map(.source.ip) | unique | length), (map(.observer.ip) | unique)]' "$T/ktalk")" \
   '[1300,17,["198.51.100.7"]]'
stop_flowsqld
eq "flowsqld exits 0" "$STATUS" 0

# --- a format that is not one ------------------------------------------------
out=$(timeout 20 "$B/flowsqld" --es-format json --elasticsearch "$ES_URL" --http off \
      --ipfix-port 0 --netflow-port 0 --sflow-port 0 --data-dir "$T/bad" 2>&1)
rc=$?
eq "--es-format json is refused" "$rc $(printf '%s' "$out" | grep -c "es-format 'json': must be flat or ecs")" "1 1"
opensearch_stop
kafka_stop
exit 0
