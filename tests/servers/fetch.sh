#!/bin/sh
# tests/servers/fetch.sh - fetch the jars of the servers the end-to-end
# tests run (Apache Kafka, OpenSearch) from Maven Central into the cache
# ($FLOWSQL_CACHE, default ~/.cache/flowsql), once. The tests do this
# themselves on first use; this is for fetching ahead (make servers).
cd "$(dirname "$0")/../.." || exit 1
T=$(mktemp -d /tmp/flowsql-fetch.XXXXXX)
trap 'rm -rf "$T"' EXIT
free_port() { :; }
. tests/servers/servers.sh
servers_missing && exit 1
for s in kafka opensearch; do
    lib=$(servers_fetch $s) || exit 1
    echo "$s: $(ls "$lib" | wc -l) jars in $lib"
done
