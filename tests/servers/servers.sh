# tests/servers/servers.sh - real Kafka and OpenSearch servers for the
# end-to-end tests, sourced after tests/e2e/lib.sh (uses $T, $PIDS,
# free_port).
#
# The servers' jars come from Maven Central (tests/servers/*/pom.xml),
# fetched once with mvn into $FLOWSQL_CACHE (default ~/.cache/flowsql)
# and run with the machine's Java on loopback ports, heaps kept small:
#
#   kafka_start            single-node KRaft broker+controller; sets KAFKA
#                          (host:port) and KAFKA_PID
#   kafka_stop / kafka_restart   (same ports, same data: a broker outage)
#   opensearch_start       single-node OpenSearch (CodeLibs' runner); sets
#                          ES_URL and ES_PID
#   servers_missing        prints what is missing to run them, if anything
#
# Everything lives under $T/kafka and $T/opensearch and dies with the test
# (the PIDs join $PIDS, which lib.sh kills on exit).

SERVERS_DIR=$(cd "$(dirname "${0}")/../servers" 2>/dev/null && pwd)
[ -n "$SERVERS_DIR" ] || SERVERS_DIR=$(pwd)/tests/servers
FLOWSQL_CACHE=${FLOWSQL_CACHE:-$HOME/.cache/flowsql}
KAFKA_VERSION=4.4.0
OPENSEARCH_VERSION=2.19.1
JAVA=${JAVA:-java}

servers_missing() {
    missing=""
    command -v "$JAVA" >/dev/null 2>&1 || missing="$missing java(default-jre-headless)"
    command -v mvn >/dev/null 2>&1 || missing="$missing mvn(maven)"
    command -v kcat >/dev/null 2>&1 || missing="$missing kcat"
    command -v curl >/dev/null 2>&1 || missing="$missing curl"
    command -v jq >/dev/null 2>&1 || missing="$missing jq"
    [ -z "$missing" ] && return 1
    echo "missing to run the real servers:$missing (make deps-test installs them)" >&2
    return 0
}

# servers_fetch NAME: jars of tests/servers/NAME/pom.xml into the cache
# (once); prints the lib directory.
servers_fetch() {
    name=$1
    case $name in
        kafka) dir=$FLOWSQL_CACHE/servers/kafka-$KAFKA_VERSION ;;
        opensearch) dir=$FLOWSQL_CACHE/servers/opensearch-$OPENSEARCH_VERSION ;;
    esac
    if [ ! -f "$dir/complete" ]; then
        echo "fetching the $name server from Maven Central into $dir" >&2
        rm -rf "$dir" && mkdir -p "$dir" || return 1
        if ! mvn -q -B -f "$SERVERS_DIR/$name/pom.xml" \
                dependency:copy-dependencies -DoutputDirectory="$dir/lib" \
                >"$dir/fetch.log" 2>&1; then
            echo "mvn could not fetch the $name server:" >&2
            tail -20 "$dir/fetch.log" >&2
            return 1
        fi
        touch "$dir/complete"
    fi
    echo "$dir/lib"
}

# ---- Kafka -------------------------------------------------------------

kafka_write_config() {
    mkdir -p "$T/kafka"
    cat >"$T/kafka/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$T/kafka/data
num.partitions=${KAFKA_PARTITIONS:-1}
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
EOF
    cat >"$T/kafka/log4j2.properties" <<EOF
rootLogger.level=WARN
rootLogger.appenderRef.f.ref=F
appender.f.type=File
appender.f.name=F
appender.f.fileName=$T/kafka/broker.log
appender.f.layout.type=PatternLayout
appender.f.layout.pattern=[%d] %p %m (%c)%n
EOF
}

kafka_java() { # class args... (exec: in the background, $! is the JVM)
    exec "$JAVA" -Xms64m -Xmx384m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
        -Dlog4j2.configurationFile="$T/kafka/log4j2.properties" \
        -cp "$KAFKA_LIB/*" "$@"
}

kafka_start() {
    KAFKA_LIB=$(servers_fetch kafka) || return 1
    KAFKA_PORT=$(free_port)
    KAFKA_CONTROLLER_PORT=$(free_port)
    KAFKA=127.0.0.1:$KAFKA_PORT
    kafka_write_config
    if ! (kafka_java kafka.tools.StorageTool format -t \
            "$( (kafka_java kafka.tools.StorageTool random-uuid) 2>/dev/null | tail -1)" \
            -c "$T/kafka/server.properties") >"$T/kafka/format.log" 2>&1; then
        echo "kafka storage format failed:" >&2
        cat "$T/kafka/format.log" >&2
        return 1
    fi
    kafka_run
}

kafka_run() {
    (kafka_java kafka.Kafka "$T/kafka/server.properties") \
        >>"$T/kafka/stdout.log" 2>&1 &
    KAFKA_PID=$!
    PIDS="$PIDS $KAFKA_PID"
    i=0
    until kcat -b "$KAFKA" -L -m 2 2>/dev/null | grep -q '1 brokers'; do
        i=$((i + 1))
        if [ $i -gt 240 ] || ! kill -0 "$KAFKA_PID" 2>/dev/null; then
            echo "the Kafka broker did not start:" >&2
            tail -20 "$T/kafka/stdout.log" "$T/kafka/broker.log" >&2
            return 1
        fi
        sleep 0.25
    done
}

# stop_server PID TRIES: SIGTERM, then SIGKILL after TRIES x 0.2 s
stop_server() {
    kill "$1" 2>/dev/null
    i=0
    while kill -0 "$1" 2>/dev/null && [ $i -lt "$2" ]; do
        sleep 0.2; i=$((i + 1))
    done
    kill -9 "$1" 2>/dev/null
    wait "$1" 2>/dev/null
}

kafka_stop() { stop_server "$KAFKA_PID" 150; }

kafka_restart() { kafka_stop; kafka_run; }

# kafka_count TOPIC: messages in the topic now
kafka_count() {
    kcat -b "$KAFKA" -C -t "$1" -e -q -f '%o\n' -o beginning 2>/dev/null | wc -l
}

# ---- OpenSearch ----------------------------------------------------------

opensearch_start() {
    OS_LIB=$(servers_fetch opensearch) || return 1
    # The runner takes the first free HTTP port above its base, up to 9299.
    port=""
    for p in $(shuf -i 9201-9298 -n 30); do
        if ! (echo >/dev/tcp/127.0.0.1/$p) 2>/dev/null; then port=$p; break; fi
    done 2>/dev/null
    [ -n "$port" ] || { echo "no free port in 9201-9298 for OpenSearch" >&2; return 1; }
    mkdir -p "$T/opensearch/conf"
    tport=$(free_port)
    cat >"$T/opensearch/conf/opensearch.yml" <<EOF
network.host: 127.0.0.1
discovery.type: single-node
transport.port: $tport
cluster.routing.allocation.disk.threshold_enabled: false
EOF
    "$JAVA" -Xms256m -Xmx512m -XX:+UseSerialGC \
        -cp "$OS_LIB/*" org.codelibs.opensearch.runner.OpenSearchRunner \
        -basePath "$T/opensearch/home" -confPath "$T/opensearch/conf" \
        -numOfNode 1 -baseHttpPort $((port - 1)) -clusterName flowsql-test \
        >"$T/opensearch/stdout.log" 2>&1 &
    ES_PID=$!
    PIDS="$PIDS $ES_PID"
    i=0
    until grep -q "HTTP Port: *[0-9]" "$T/opensearch/stdout.log" 2>/dev/null; do
        i=$((i + 1))
        if [ $i -gt 600 ] || ! kill -0 "$ES_PID" 2>/dev/null; then
            echo "OpenSearch did not start:" >&2
            tail -30 "$T/opensearch/stdout.log" >&2
            return 1
        fi
        sleep 0.2
    done
    port=$(sed -n 's/^HTTP Port: *\([0-9]*\).*/\1/p' "$T/opensearch/stdout.log" | head -1)
    ES_URL=http://127.0.0.1:$port
    i=0
    until curl -sf "$ES_URL/_cluster/health?wait_for_status=yellow&timeout=1s" >/dev/null 2>&1; do
        i=$((i + 1))
        if [ $i -gt 240 ] || ! kill -0 "$ES_PID" 2>/dev/null; then
            echo "OpenSearch did not become ready:" >&2
            tail -30 "$T/opensearch/stdout.log" >&2
            return 1
        fi
        sleep 0.5
    done
}

opensearch_stop() { stop_server "$ES_PID" 100; }
