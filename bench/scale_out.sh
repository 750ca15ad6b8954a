#!/bin/sh
# bench/scale_out.sh - scale-out on Kafka (make bench-scale-out;
# docs/PERFORMANCE.md, "Scale-out"; docs/SCALE_OUT.md, "Sizing").
#
# On a one-node KRaft broker (tests/servers/servers.sh) on this machine:
#
#   collector  flowgen --rate 0 sends SO_FLOWS flows (TCP IPFIX) to a
#              flowsqld --flows-topic with no queries of its own; the time
#              from the first flow sent to the last flow acknowledged by
#              the broker (flowsql_flows_topic_flows_delivered_total).
#   workers    on that filled topic (SO_PARTS partitions), K = 1..SO_WORKERS
#              flowsqld --worker with every saved query, a fresh consumer
#              group each time: the time until they have run every flow
#              (the sum of flowsql_worker_flows_total), from their start
#              (the group's first rebalance included: it is part of
#              taking the topic over).
#   latency    live: collector, one worker and a merge stage, flowgen at
#              SO_RATE flows/s for SO_SECONDS with the saved queries'
#              windows cut to 5 s: how long after a window's end its
#              merged rows reach the merge stage's outputs
#              (flowsql_merge_delay_seconds: last and max), against the
#              collector's own close of the same windows.
#
# Every process shares the machine's cores with the broker's JVM: the
# figures are what this box does with everything on it, not what each
# part does on its own cores. Settings (environment): SO_FLOWS (2000000),
# SO_PARTS (4), SO_WORKERS (3), SO_RATE (20000), SO_SECONDS (30).
cd "$(dirname "$0")/.." || exit 1
top=$(pwd)
export FLOWSQL_BUILD="$top/${B:-build}"
. tests/e2e/lib.sh
. tests/servers/servers.sh
SO_FLOWS=${SO_FLOWS:-2000000}
SO_PARTS=${SO_PARTS:-4}
SO_WORKERS=${SO_WORKERS:-3}
SO_RATE=${SO_RATE:-20000}
SO_SECONDS=${SO_SECONDS:-30}
export LC_ALL=C

if m=$(servers_missing) && [ -n "$m" ]; then
    echo "bench-scale-out: missing:$m" >&2
    exit 1
fi
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN {printf "%.2f", b - a}'; }
# mget HOST:PORT NAME: one sample of a daemon's /metrics
mget() { curl -s "http://$1/metrics" | awk -v m="$2" '$1 == m {print $2}'; }

# daemon NAME ARGS...: a flowsqld in $T/NAME; sets NAME_HTTP, NAME_PID
daemon() {
    name=$1; shift
    hp=$(free_port)
    mkdir -p "$T/$name"
    (cd "$T/$name" && exec "$B/flowsqld" --http "127.0.0.1:$hp" \
        --ipfix-port "${PORT_IPFIX:-$(free_port)}" \
        --netflow-port "$(free_port)" --sflow-port "$(free_port)" \
        --data-dir "$T/$name/data" --kafka-brokers "$KAFKA" "$@" \
        2>>"$T/$name.log") &
    eval "${name}_PID=$!"
    eval "${name}_HTTP=127.0.0.1:$hp"
    PIDS="$PIDS $!"
    wait_until 30 curl -sf "http://127.0.0.1:$hp/healthz" || {
        echo "bench-scale-out: $name did not start" >&2
        tail -20 "$T/$name.log" >&2
        exit 1
    }
}
stop() { # NAME...
    for n in "$@"; do
        eval "p=\$${n}_PID"
        kill -TERM "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
}

kafka_start || { echo "bench-scale-out: the broker did not start" >&2; exit 1; }
"$B/tools/flowsdump" --create "$SO_PARTS" "$KAFKA" bench.flows >/dev/null || exit 1
"$B/tools/flowsdump" --create 2 "$KAFKA" bench.partials >/dev/null || exit 1
mkdir -p "$T/none" "$T/q5"
for f in queries/*.sql; do
    sed 's/WINDOW [0-9]*[sm]/WINDOW 5s/' "$f" >"$T/q5/$(basename "$f")"
done
NQ=$(ls queries/*.sql | wc -l)
echo "scale-out bench: $SO_FLOWS flows, $SO_PARTS partitions, one broker," \
     "$(nproc) cores shared by everything"

# --- collector -------------------------------------------------------------
PORT_IPFIX=$(free_port)
daemon col --queries-dir "$T/none" --flows-topic bench.flows
t0=$(now)
"$B/flowgen" --tcp "127.0.0.1:$PORT_IPFIX" --flows "$SO_FLOWS" --rate 0 \
    --sources 10000 --dests 5000 --seed 7 2>"$T/flowgen.log" || exit 1
sent=$(since "$t0")
delivered() { [ "$(mget "$col_HTTP" flowsql_flows_topic_flows_delivered_total)" = "$SO_FLOWS" ]; }
wait_until 120 delivered || {
    echo "bench-scale-out: the collector delivered" \
         "$(mget "$col_HTTP" flowsql_flows_topic_flows_delivered_total) of $SO_FLOWS" >&2
    exit 1
}
all=$(since "$t0")
dropped=$(mget "$col_HTTP" flowsql_flows_topic_flows_dropped_total)
msgs=$(mget "$col_HTTP" flowsql_flows_topic_messages_delivered_total)
stop col
PORT_IPFIX=
printf 'collector: sent in %s s, all acknowledged after %s s: %.0f flows/s end to end (%s messages, %s dropped)\n' \
    "$sent" "$all" "$(awk -v n="$SO_FLOWS" -v t="$all" 'BEGIN {print n / t}')" \
    "${msgs:-?}" "${dropped:-?}"

# --- workers on the filled topic --------------------------------------------
k=1
while [ "$k" -le "$SO_WORKERS" ]; do
    t0=$(now)
    i=1
    names=""
    while [ "$i" -le "$k" ]; do
        daemon "w$i" --queries-dir "$top/queries" --worker on --flows-topic bench.flows \
            --partials-topic bench.partials --worker-group "bench-$k"
        names="$names w$i"
        i=$((i + 1))
    done
    ran() {
        s=0
        for n in $names; do
            eval "h=\$${n}_HTTP"
            v=$(mget "$h" flowsql_worker_flows_total)
            s=$((s + ${v:-0}))
        done
        [ "$s" -ge "$SO_FLOWS" ]
    }
    if wait_until 300 ran; then
        t=$(since "$t0")
        printf '%d worker(s), %d saved queries: %s flows in %s s: %.0f flows/s\n' \
            "$k" "$NQ" "$SO_FLOWS" "$t" \
            "$(awk -v n="$SO_FLOWS" -v t="$t" 'BEGIN {print n / t}')"
    else
        echo "$k worker(s): not every flow run within 300 s" >&2
    fi
    # shellcheck disable=SC2086
    stop $names
    k=$((k + 1))
done

# --- live latency -------------------------------------------------------------
"$B/tools/flowsdump" --create "$SO_PARTS" "$KAFKA" bench.live >/dev/null || exit 1
"$B/tools/flowsdump" --create 2 "$KAFKA" bench.lpartials >/dev/null || exit 1
PORT_IPFIX=$(free_port)
LIVE_IPFIX=$PORT_IPFIX
daemon lcol --queries-dir "$T/none" --flows-topic bench.live
PORT_IPFIX=
daemon lw --queries-dir "$T/q5" --worker on --flows-topic bench.live \
    --partials-topic bench.lpartials --worker-group bench-live
daemon lm --queries-dir "$T/q5" --merge on --partials-topic bench.lpartials \
    --merge-group bench-live-merge
"$B/flowgen" --tcp "127.0.0.1:$LIVE_IPFIX" --flows $((SO_RATE * SO_SECONDS)) \
    --rate "$SO_RATE" --now --sources 2000 --dests 2000 --seed 8 \
    2>>"$T/flowgen.log" || exit 1
sleep 8
printf 'live, %d flows/s, %d saved queries at 5 s windows: %s windows merged, delay after the window end: last %s s, max %s s\n' \
    "$SO_RATE" "$NQ" "$(mget "$lm_HTTP" flowsql_merge_windows_total)" \
    "$(mget "$lm_HTTP" flowsql_merge_delay_seconds)" \
    "$(mget "$lm_HTTP" flowsql_merge_delay_seconds_max)"
stop lcol lw lm
kafka_stop
exit 0
