#!/bin/sh
# A real 3-broker Kafka cluster (KRaft, tests/servers/servers.sh) loses
# no acknowledged message when one broker dies: keyed messages are
# produced with acks=all (idempotent) before, during and after a kill -9
# of the broker that leads partition 0 of a 4-partition topic with 3
# replicas; all are read back, each once. The ISR shrinks while the broker
# is down and is full again once it is restarted; at the end no JVM of the
# cluster is left.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../servers/servers.sh"

if servers_missing; then fail "tools to run Kafka are present"; exit 1; fi
kafka_cluster_start 3 || { fail "a 3-broker Kafka cluster starts"; exit 1; }
ok "a 3-broker KRaft cluster starts ($KAFKA)"
eq "a metadata request sees the 3 brokers" "$(kafka_brokers)" "1 2 3"

check "topic created (4 partitions, 3 replicas)" kafka_topic_create kc 4 3
eq "every partition has 3 replicas" \
    "$(kafka_partitions kc | awk '{print split($3, r, ",")}' | sort -u)" 3
check "the ISR is full" kafka_isr_full kc

# produce FIRST LAST [BATCH PAUSE]: keys FIRST..LAST ("key:value"), in
# batches of BATCH lines PAUSE seconds apart (a stream), acks from all
# in-sync replicas; fails if kcat reports a delivery failure.
produce() {
    awk -v a="$1" -v b="$2" -v n="${3:-0}" -v s="${4:-0}" 'BEGIN {
        for (k = a; k <= b; k++) {
            printf "%d:message %d\n", k, k
            if (n && (k - a + 1) % n == 0) { fflush(); system("sleep " s) }
        }
    }' | kcat -b "$KAFKA" -P -t kc -K: -X acks=all \
        -X enable.idempotence=true -X queue.buffering.max.ms=5 2>"$T/produce.err"
}

check "300 messages produced before the kill" produce 1 300
victim=$(kafka_partitions kc | awk '$1 == 0 {print $2}')
produce 301 900 20 0.2 &
streaming=$!
sleep 1
kafka_node_kill "$victim"
ok "broker $victim (leader of partition 0) killed with kill -9 mid-stream"
check "the stream during the kill is acknowledged" wait "$streaming"
others=$(echo 1 2 3 | tr ' ' '\n' | grep -vx "$victim" | tr '\n' ' ' | sed 's/ $//')
brokers_are() { [ "$(kafka_brokers)" = "$1" ]; }
check "the cluster fences broker $victim (metadata: $others)" \
    wait_until 15 brokers_are "$others"
if kafka_isr_full kc; then fail "the ISR shrinks without broker $victim"
else ok "the ISR shrinks without broker $victim"; fi
eq "every partition still has a leader" \
    "$(kafka_partitions kc | awk '$2 < 0' | wc -l)" 0
check "300 messages produced with broker $victim down" produce 901 1200

s=$(date +%s)
check "broker $victim restarts and rejoins" kafka_node_start "$victim"
check "the ISR is full again" wait_until 30 kafka_isr_full kc
echo "# broker $victim back and in sync in $(($(date +%s) - s)) s" >&2
check "a metadata request sees the 3 brokers again" brokers_are "1 2 3"

kcat -b "$KAFKA" -C -t kc -e -q -o beginning -f '%k\n' 2>/dev/null \
    >"$T/keys"
eq "every message read back once" "$(wc -l <"$T/keys")" 1200
eq "no key missing" "$(sort -un "$T/keys" | awk '$1 == NR' | wc -l)" 1200

pids="$KAFKA_PID_1 $KAFKA_PID_2 $KAFKA_PID_3"
for p in $pids; do ps -o rss= -p "$p"; done |
    awk '{printf "# RSS %d MB\n", $1 / 1024}' >&2
kafka_stop
left=""
for p in $pids; do kill -0 "$p" 2>/dev/null && left="$left $p"; done
eq "no broker JVM left" "$left$(pgrep -f "$T/kafka/n" | tr '\n' ' ')" ""
exit $((FAILED > 0))
