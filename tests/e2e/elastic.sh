#!/bin/sh
# Elasticsearch/OpenSearch end to end against a real OpenSearch node (from
# Maven Central): flows come in over Kafka (IPFIXCol JSON, a real broker),
# rows go out with _bulk; _search and _mapping read them back. The index is
# then blocked (OpenSearch answers 429 per document) and unblocked: the
# refused documents are retried, counted, and none is lost.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../servers/servers.sh"

if servers_missing; then fail "tools to run the servers are present"; exit 1; fi
opensearch_start || { fail "OpenSearch node starts"; exit 1; }
ok "OpenSearch node starts ($ES_URL)"
kafka_start || { fail "Kafka broker starts"; exit 1; }

gen_flows() { # NET COUNT: IPFIXCol2 JSON, sources NET.0-9, 100 bytes each
    awk -v net="$1" -v n="$2" 'BEGIN {
        for (i = 0; i < n; i++)
            printf "{\"@type\":\"ipfix.entry\",\"iana:octetDeltaCount\":100," \
                   "\"iana:packetDeltaCount\":2,\"iana:flowStartMilliseconds\":1767323045006," \
                   "\"iana:flowEndMilliseconds\":1767323046500," \
                   "\"iana:sourceIPv4Address\":\"%s.%d\",\"iana:destinationIPv4Address\":\"192.0.2.1\"," \
                   "\"iana:protocolIdentifier\":6,\"iana:destinationTransportPort\":%d}\n",
                   net, i % 10, i % 2 ? 443 : 80
    }'
}
publish() { kcat -b "$KAFKA" -P -t flows.in -X queue.buffering.max.ms=10; }
wait_above() { # NAME VALUE: until the metric exceeds VALUE (30 s)
    i=0
    while [ "$(metric "$1")" -le "$2" ]; do
        i=$((i + 1)); [ $i -gt 300 ] && return 1
        sleep 0.1
    done
}
es() { curl -s -H 'Content-Type: application/json' "$@"; }
# flows_in INDEX [QUERY]: sum of the "flows" field over matching documents
flows_in() {
    es -XPOST "$ES_URL/$1/_refresh" >/dev/null
    es -XPOST "$ES_URL/$1/_search" -d "{\"size\":0,\"query\":${2:-{\"match_all\":{\}\}},\"aggs\":{\"f\":{\"sum\":{\"field\":\"flows\"}}}}" |
        jq '.aggregations.f.value // 0 | floor'
}
wait_flows() { # INDEX WANT [SECONDS] [QUERY]
    i=0
    while [ "$(flows_in "$1" "$4")" != "$2" ]; do
        i=$((i + 1)); [ $i -gt ${3:-30} ] && return 1
        sleep 1
    done
}

printf '' | publish
start_flowsqld --elasticsearch "$ES_URL" --kafka-input "$KAFKA/flows.in" \
    --kafka-props "auto.offset.reset=earliest,group.id=flowsql-es" || exit 1
api POST /api/v1/queries '{"sql":"CREATE QUERY talkers AS SELECT srcip, count(*) AS flows, sum(bytes) AS bytes, min(start) AS first, avg(bytes) AS mean, max(duration) AS longest FROM flows WINDOW 1s GROUP BY srcip"}' >/dev/null
eq "register talkers" "$CODE" 201
api POST /api/v1/queries '{"sql":"CREATE QUERY Ports WITH (elasticsearch_index = '"'"'custom-%q-%Y.%m'"'"') AS SELECT dstport, count(*) AS flows FROM flows WINDOW 1s GROUP BY dstport"}' >/dev/null
eq "register Ports with its own index" "$CODE" 201

# --- rows arrive, with the right types -------------------------------------
gen_flows 10.0.0 1000 | publish
check "flows are read" wait_metric flowsql_kafka_input_flows_total 1000
check "every flow is counted in flowsql-talkers-*" wait_flows 'flowsql-talkers-*' 1000
eq "the index has the daily suffix" \
   "$(es "$ES_URL/_cat/indices/flowsql-talkers-*?h=index" | sed 's/[0-9]/N/g' | sort -u)" \
   "flowsql-talkers-NNNN.NN.NN"
es "$ES_URL/flowsql-talkers-*/_mapping" >"$T/mapping"
eq "mapping: addresses are ip, windows and times date, counters long" \
   "$(jq -r '[.[] | .mappings.properties | .srcip.type, .window_start.type, .window_end.type, .first.type, .flows.type, .bytes.type, .longest.type, .mean.type, .query.type, .window_start_ms.type] | join(",")' "$T/mapping")" \
   "ip,date,date,date,long,long,long,double,keyword,long"
eq "mapping: partial is a boolean" \
   "$(jq -r '[.[] | .mappings.properties.partial.type] | unique | join(",")' "$T/mapping")" boolean
check "the index template is installed" \
    test "$(es -o /dev/null -w '%{http_code}' "$ES_URL/_index_template/flowsql-talkers")" = 200
eq "an ip field answers a CIDR query" \
   "$(flows_in 'flowsql-talkers-*' '{"term":{"srcip":"10.0.0.0/29"}}')" 800
eq "a date field answers a range query" \
   "$(flows_in 'flowsql-talkers-*' '{"range":{"window_start":{"gte":"now-1h"}}}')" 1000
es -XPOST "$ES_URL/flowsql-talkers-*/_search" -d '{"size":1,"query":{"term":{"srcip":"10.0.0.3"}}}' >"$T/doc"
eq "a document carries query, window (ISO and ms) and the row" \
   "$(jq -r '.hits.hits[0]._source | [.query, .srcip, (.window_end_ms - .window_start_ms), (.window_start | test("Z$")), .first, .mean] | map(tostring) | join(",")' "$T/doc")" \
   "talkers,10.0.0.3,1000,true,2026-01-02T03:04:05.006Z,100"
check "the query's own index name (lower case, monthly)" wait_flows "custom-ports-$(date -u +%Y.%m)" 1000
eq "indexed documents match the metric" \
   "$(es "$ES_URL/flowsql-talkers-*,custom-ports-*/_count" | jq .count)" \
   "$(metric flowsql_es_docs_indexed_total)"

# --- OpenSearch refuses documents (429) for a while --------------------------
es -XPUT "$ES_URL/flowsql-talkers-*/_settings" \
   -d '{"index.blocks.read_only_allow_delete":true}' >/dev/null
gen_flows 10.0.1 500 | publish
check "the refusals are seen and counted" wait_above flowsql_es_item_errors_total 0
sleep 2
eq "nothing of the blocked batch is in the index yet" \
   "$(flows_in 'flowsql-talkers-*')" 1000
es -XPUT "$ES_URL/flowsql-talkers-*/_settings" \
   -d '{"index.blocks.read_only_allow_delete":null}' >/dev/null
check "after the block is lifted every refused document arrives" \
    wait_flows 'flowsql-talkers-*' 1500 60
check "retries are counted ($(metric flowsql_es_retries_total))" \
    test "$(metric flowsql_es_retries_total)" -gt 0
eq "nothing failed for good" "$(metric flowsql_es_docs_failed_total)" 0
eq "nothing dropped" "$(metric flowsql_es_docs_dropped_total)" 0
eq "no duplicates (one document per source and window)" \
   "$(es -XPOST "$ES_URL/flowsql-talkers-*/_search" -d '{"size":0,"aggs":{"k":{"terms":{"script":{"source":"doc[\"srcip\"].value + \"@\" + doc[\"window_start_ms\"].value"},"min_doc_count":2,"size":10}}}}' | jq '.aggregations.k.buckets | length')" 0

# --- shutdown flushes what is open -------------------------------------------
gen_flows 10.0.2 200 | publish
check "the last batch is read" wait_metric flowsql_kafka_input_flows_total 1700
stop_flowsqld
eq "flowsqld exits 0" "$STATUS" 0
eq "the windows open at shutdown were indexed" "$(flows_in 'flowsql-talkers-*')" 1700

# --- enriched fields in the documents (docs/ENRICHMENT.md) -------------------
# Every flow of the topic read again by a new consumer group; the country
# from a database written by tests/tools/mkmmdb.pl.
printf '10.0.0.0/16\t{"country":{"iso_code":"SE"}}\n' |
    perl tests/tools/mkmmdb.pl "$T/geo.mmdb" GeoLite2-Country
printf '192.0.2.0/24,customer-x\n' >"$T/nets.csv"
start_flowsqld --elasticsearch "$ES_URL" --kafka-input "$KAFKA/flows.in" \
    --kafka-props "auto.offset.reset=earliest,group.id=flowsql-es-enr" \
    --data-dir "$T/enr" --geoip-db "$T/geo.mmdb" \
    --network-names "$T/nets.csv" || exit 1
api POST /api/v1/queries '{"sql":"CREATE QUERY enriched AS SELECT srccountry, dstnet_name, count(*) AS flows FROM flows WINDOW 1s GROUP BY srccountry, dstnet_name"}' >/dev/null
check "every flow is in the enriched index" wait_flows 'flowsql-enriched-*' 1700 60
eq "documents carry the country (a keyword: term query)" \
   "$(flows_in 'flowsql-enriched-*' '{"term":{"srccountry":"SE"}}')" 1700
eq "and the network name" \
   "$(flows_in 'flowsql-enriched-*' '{"term":{"dstnet_name":"customer-x"}}')" 1700
eq "mapped as keyword" \
   "$(es "$ES_URL/flowsql-enriched-*/_mapping" | jq -r '[.[].mappings.properties | .srccountry.type, .dstnet_name.type] | unique | join(",")')" keyword
stop_flowsqld
opensearch_stop
kafka_stop
exit 0
