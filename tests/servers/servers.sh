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
#   kafka_cluster_start N  N KRaft nodes, KAFKA the bootstrap list; the
#                          kafka_node_* functions kill, stop and restart
#                          one ("a Kafka cluster" below)
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

# kafka_write_config DIR NODE PORT CONTROLLER_PORT VOTERS REPLICAS: DIR's
# server.properties and log4j2.properties for KRaft node NODE (broker and
# controller in one JVM), its data in DIR/data. REPLICAS (the cluster's
# size) sets the replication of the internal topics and of new topics;
# from 3 up a write with acks=all needs 2 in-sync replicas, so one node
# may be down. Heartbeats are shortened so that a node killed with
# kill -9 is fenced, and its partitions' leadership moves, in ~3 s
# (on a cluster only: a single node paused with SIGSTOP must stay).
kafka_write_config() {
    dir=$1
    rf=$(( $6 < 3 ? $6 : 3 ))
    isr=$(( $6 < 3 ? 1 : 2 ))
    mkdir -p "$dir"
    cat >"$dir/server.properties" <<EOF
process.roles=broker,controller
node.id=$2
controller.quorum.voters=$5
listeners=PLAINTEXT://127.0.0.1:$3,CONTROLLER://127.0.0.1:$4
advertised.listeners=PLAINTEXT://127.0.0.1:$3
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$dir/data
num.partitions=${KAFKA_PARTITIONS:-1}
default.replication.factor=$rf
min.insync.replicas=$isr
offsets.topic.replication.factor=$6
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=$6
transaction.state.log.min.isr=$isr
share.coordinator.state.topic.replication.factor=$6
share.coordinator.state.topic.min.isr=$isr
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
EOF
    [ "$6" -gt 1 ] && cat >>"$dir/server.properties" <<EOF
broker.heartbeat.interval.ms=500
broker.session.timeout.ms=3000
EOF
    cat >"$dir/log4j2.properties" <<EOF
rootLogger.level=WARN
rootLogger.appenderRef.f.ref=F
appender.f.type=File
appender.f.name=F
appender.f.fileName=$dir/broker.log
appender.f.layout.type=PatternLayout
appender.f.layout.pattern=[%d] %p %m (%c)%n
EOF
}

kafka_java() { # DIR class args... (exec: in the background, $! is the JVM)
    dir=$1; shift
    exec "$JAVA" -Xms64m -Xmx${KAFKA_HEAP:-384m} -XX:+UseSerialGC \
        -XX:TieredStopAtLevel=1 \
        -Dlog4j2.configurationFile="$dir/log4j2.properties" \
        -cp "$KAFKA_LIB/*" "$@"
}

# kafka_format DIR CLUSTER_ID: DIR/data formatted as a node of that cluster
kafka_format() {
    if ! (kafka_java "$1" kafka.tools.StorageTool format -t "$2" \
            -c "$1/server.properties") >"$1/format.log" 2>&1; then
        echo "kafka storage format failed:" >&2
        cat "$1/format.log" >&2
        return 1
    fi
}

kafka_cluster_id() {
    (kafka_java "$T/kafka" kafka.tools.StorageTool random-uuid) 2>/dev/null | tail -1
}

# kafka_wait_brokers PIDS N WHO: until a metadata request sees N brokers
# (60 s at most, each PID must stay alive meanwhile)
kafka_wait_brokers() {
    i=0
    until [ "$(kafka_brokers | wc -w)" -eq "$2" ]; do
        i=$((i + 1))
        for p in $1; do kill -0 "$p" 2>/dev/null || i=1000; done
        if [ $i -gt 240 ]; then
            echo "$3 did not start:" >&2
            tail -20 "$T"/kafka/stdout.log "$T"/kafka/broker.log \
                "$T"/kafka/n*/stdout.log "$T"/kafka/n*/broker.log >&2 2>/dev/null
            return 1
        fi
        sleep 0.25
    done
}

kafka_start() {
    KAFKA_LIB=$(servers_fetch kafka) || return 1
    KAFKA_PORT=$(free_port)
    KAFKA_CONTROLLER_PORT=$(free_port)
    KAFKA=127.0.0.1:$KAFKA_PORT
    kafka_write_config "$T/kafka" 1 "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT" \
        "1@127.0.0.1:$KAFKA_CONTROLLER_PORT" 1
    kafka_format "$T/kafka" "$(kafka_cluster_id)" || return 1
    kafka_run
}

kafka_run() {
    (kafka_java "$T/kafka" kafka.Kafka "$T/kafka/server.properties") \
        >>"$T/kafka/stdout.log" 2>&1 &
    KAFKA_PID=$!
    PIDS="$PIDS $KAFKA_PID"
    kafka_wait_brokers "$KAFKA_PID" 1 "the Kafka broker"
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

# kafka_stop: the single broker, or every node of a cluster
kafka_stop() {
    if [ -n "$KAFKA_NODES" ]; then kafka_cluster_stop; return; fi
    stop_server "$KAFKA_PID" 150
}

kafka_restart() { kafka_stop; kafka_run; }

# ---- a Kafka cluster -----------------------------------------------------
#
# kafka_cluster_start N   N KRaft nodes (broker+controller each, all N
#                         voters of the quorum) on free loopback ports,
#                         node I in $T/kafka/nI; sets KAFKA (the bootstrap
#                         list), KAFKA_NODES=N and KAFKA_PID_1..N; returns
#                         once a metadata request sees all N brokers.
#                         New topics get min(3,N) replicas; from N=3 up
#                         min.insync.replicas is 2.
# kafka_node_kill I       kill -9 node I (a crash)
# kafka_node_stop I       stop node I cleanly (SIGTERM, controlled shutdown)
# kafka_node_start I      restart node I (same config, same data); returns
#                         once the cluster's metadata lists it again
# kafka_cluster_stop      stop every node still running (kafka_stop does it too)
# kafka_topic_create NAME PARTITIONS [RF]   (flowsdump --create) and wait
#                         until every partition has a leader
# kafka_isr_full TOPIC    true when every partition's ISR holds all its replicas
# kafka_brokers [HOST:PORT]  the ids of the brokers a metadata request
#                         (of that broker, else of any) sees: "1 2 3"
#
# Each node has a heap of at most $KAFKA_HEAP (256m here).

kafka_cluster_start() {
    KAFKA_LIB=$(servers_fetch kafka) || return 1
    KAFKA_HEAP=${KAFKA_HEAP:-256m}
    KAFKA_NODES=$1
    KAFKA=""
    k_voters=""
    k_n=1
    while [ $k_n -le "$1" ]; do
        eval "KAFKA_PORT_$k_n=$(free_port) KAFKA_CPORT_$k_n=$(free_port)"
        eval "KAFKA=\${KAFKA:+\$KAFKA,}127.0.0.1:\$KAFKA_PORT_$k_n"
        eval "k_voters=\${k_voters:+\$k_voters,}$k_n@127.0.0.1:\$KAFKA_CPORT_$k_n"
        k_n=$((k_n + 1))
    done
    mkdir -p "$T/kafka"
    k_id=$(kafka_cluster_id)
    k_pids=""
    k_n=1
    while [ $k_n -le "$1" ]; do
        eval "kafka_write_config \"\$T/kafka/n$k_n\" $k_n \$KAFKA_PORT_$k_n \$KAFKA_CPORT_$k_n \"\$k_voters\" $1"
        kafka_format "$T/kafka/n$k_n" "$k_id" || return 1
        kafka_node_run "$k_n"
        eval "k_pids=\"\$k_pids \$KAFKA_PID_$k_n\""
        k_n=$((k_n + 1))
    done
    kafka_wait_brokers "$k_pids" "$1" "the Kafka cluster"
}

kafka_node_run() { # I: node I's JVM in the background
    (kafka_java "$T/kafka/n$1" kafka.Kafka "$T/kafka/n$1/server.properties") \
        >>"$T/kafka/n$1/stdout.log" 2>&1 &
    eval "KAFKA_PID_$1=$!"
    PIDS="$PIDS $!"
}

kafka_node_pid() { eval "echo \$KAFKA_PID_$1"; }

kafka_node_kill() {
    k_p=$(kafka_node_pid "$1")
    kill -9 "$k_p" 2>/dev/null
    wait "$k_p" 2>/dev/null
    return 0
}

kafka_node_stop() { stop_server "$(kafka_node_pid "$1")" 150; }

kafka_node_start() {
    kafka_node_run "$1"
    k_p=$(kafka_node_pid "$1")
    k_i=0
    # asked of node I itself: the others list it until they fence it
    until kafka_brokers "127.0.0.1:$(eval "echo \$KAFKA_PORT_$1")" | grep -qw "$1"; do
        k_i=$((k_i + 1))
        if [ $k_i -gt 240 ] || ! kill -0 "$k_p" 2>/dev/null; then
            echo "Kafka node $1 did not rejoin:" >&2
            tail -20 "$T/kafka/n$1/stdout.log" "$T/kafka/n$1/broker.log" >&2
            return 1
        fi
        sleep 0.25
    done
}

# All nodes at once: stopped one after another, the last ones would wait
# for a quorum that is gone before they may shut down.
kafka_cluster_stop() {
    k_pids=""
    k_n=1
    while [ $k_n -le "$KAFKA_NODES" ]; do
        k_pids="$k_pids $(kafka_node_pid $k_n)"
        k_n=$((k_n + 1))
    done
    kill $k_pids 2>/dev/null
    k_i=0
    for k_p in $k_pids; do
        while kill -0 "$k_p" 2>/dev/null && [ $k_i -lt 150 ]; do
            sleep 0.2; k_i=$((k_i + 1))
        done
        kill -9 "$k_p" 2>/dev/null
        wait "$k_p" 2>/dev/null
    done
    return 0
}

kafka_brokers() { # [BOOTSTRAP]
    kcat -b "${1:-$KAFKA}" -L -m 2 2>/dev/null |
        awk '$1 == "broker" && $3 == "at" {print $2}' | sort -n | tr '\n' ' ' |
        sed 's/ $//'
}

# kafka_partitions TOPIC: "partition leader replicas isrs" a partition
kafka_partitions() {
    kcat -b "$KAFKA" -L -m 2 -t "$1" 2>/dev/null |
        sed -n 's/^ *partition \([0-9]*\), leader \(-*[0-9]*\), replicas: \([0-9,]*\), isrs: \([0-9,]*\).*/\1 \2 \3 \4/p'
}

kafka_topic_create() {
    "$B/tools/flowsdump" --create "$2" "$KAFKA" "$1" ${3:+"$3"} || return 1
    i=0
    until [ "$(kafka_partitions "$1" | awk '$2 >= 0' | wc -l)" -eq "$2" ]; do
        i=$((i + 1))
        [ $i -gt 120 ] && { echo "topic $1: not every partition has a leader" >&2; return 1; }
        sleep 0.25
    done
}

kafka_isr_full() {
    kafka_partitions "$1" | awk '
        { n++; if (split($3, r, ",") != split($4, s, ",")) short++ }
        END { exit !(n > 0 && short == 0) }'
}

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
