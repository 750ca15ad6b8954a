#!/bin/bash
# bench/enrich_ingest.sh - what enrichment and anonymization cost the live
# path (make bench-enrich; docs/PERFORMANCE.md, "Enrichment while
# ingesting").
#
# The highest loss-free IPFIX/UDP rate of flowsqld, searched in one run
# for each mode in turn at each rate (doubling from START_RATE until a
# step loses, then bisecting; a step is a fresh flowsqld, rate x STEP_S
# flows of the peers' stream mix, drained and checked: every flow
# decoded, none dropped by the queue, every one seen by the queries):
#
#   off      the design card query, nothing configured;
#   on       the design card query with --geoip-db, --asn-db, a million
#            --network-names prefixes, --exporter-names,
#            --interface-names and --anonymize cryptopan (scope all):
#            the query names no enriched field, so only the
#            anonymization of every flow is paid (the issue's target);
#   fields-off  the design card query and a second one grouping by every
#            enriched field, nothing configured (the names are '');
#   fields-on   the same two queries with everything configured: every
#            flow looked up (country, AS and network of both addresses,
#            exporter and interface names) and anonymized.
#
# The databases are written here (tests/tools/mkmmdb.pl): 16384 /22
# networks of 10/8 and 4096 /24 of 172.16/12 with 20 countries and 500
# ASes; the network names are a million random prefixes, /12 to /32 over
# the whole IPv4 space, named after 10000 customers (the flows' /24s are
# mostly inside one prefix, some hold longer ones). Settings (environment): START_RATE (250000), MAX_RATE
# (8000000), STEP_S (5), BISECT (2), RCVBUF (4194304), MODES ("off on
# fields-off fields-on"). Everything on 127.0.0.1; every process started
# is stopped.

set -u
cd "$(dirname "$0")/.." || exit 1
top=$(pwd)
B=${B:-build}
START_RATE=${START_RATE:-250000}
MAX_RATE=${MAX_RATE:-8000000}
STEP_S=${STEP_S:-5}
BISECT=${BISECT:-2}
RCVBUF=${RCVBUF:-4194304}
MODES=${MODES:-off on fields-off fields-on}
FLOWGEN=$top/$B/flowgen
FLOWSQLD=$top/$B/flowsqld
GENOPTS="--sources 100000 --dests 10000 --dst-ports 20 --protocols 5 --seed 20 --clock-rate 1000000"
DESIGN_SQL="SELECT srcip, count(*) AS flows, sum(packets) AS packets, sum(bytes) AS bytes FROM flows WINDOW 10s GROUP BY srcip"
FIELDS_SQL="SELECT srccountry, dstcountry, srcasn, dstasn, srcasname, srcnet_name, dstnet_name, exporter_name, in_ifname, out_ifname, count(*) AS flows, sum(bytes) AS bytes FROM flows WINDOW 10s GROUP BY srccountry, dstcountry, srcasn, dstasn, srcasname, srcnet_name, dstnet_name, exporter_name, in_ifname, out_ifname"
export LC_ALL=C

RUN=$(mktemp -d /tmp/flowsql-enbench.XXXXXX)
TPID=
cleanup() {
    [ -n "$TPID" ] && kill -KILL "$TPID" 2>/dev/null
    rm -rf "$RUN"
}
trap cleanup EXIT
trap 'echo interrupted >&2; exit 130' INT TERM

for t in "$FLOWGEN" "$FLOWSQLD"; do
    [ -x "$t" ] || { echo "bench-enrich: $t missing" >&2; exit 1; }
done

# ---- the sources ---------------------------------------------------------------
D=$RUN/src
mkdir -p "$D"
t0=$(date +%s)
awk 'BEGIN { split("US DE FR GB NL SE CZ PL IT ES JP CN BR IN CA AU RU ZA KR MX", c, " ");
    for (i = 0; i < 16384; i++)
        printf "10.%d.%d.0/22\t{\"country\":{\"iso_code\":\"%s\"}}\n", int(i / 64), (i % 64) * 4, c[i % 20 + 1];
    for (i = 0; i < 4096; i++)
        printf "172.%d.%d.0/24\t{\"country\":{\"iso_code\":\"%s\"}}\n", 16 + int(i / 256), i % 256, c[(i * 7) % 20 + 1] }' |
    perl tests/tools/mkmmdb.pl "$D/geo.mmdb" GeoLite2-Country
awk 'BEGIN { for (i = 0; i < 16384; i++)
        printf "10.%d.%d.0/22\t{\"autonomous_system_number\":%d,\"autonomous_system_organization\":\"AS number %d\"}\n", int(i / 64), (i % 64) * 4, 64512 + i % 500, i % 500;
    for (i = 0; i < 4096; i++)
        printf "172.%d.%d.0/24\t{\"autonomous_system_number\":%d,\"autonomous_system_organization\":\"AS number %d\"}\n", 16 + int(i / 256), i % 256, 64512 + i % 500, i % 500 }' |
    perl tests/tools/mkmmdb.pl "$D/asn.mmdb" GeoLite2-ASN
awk 'BEGIN { srand(20); for (i = 0; i < 1000000; i++) {
        b = 12 + int(rand() * 21);
        a = int(rand() * 4294967296);
        m = 2 ^ (32 - b); a = a - a % m;
        printf "%d.%d.%d.%d/%d,customer-%d\n", int(a / 16777216), int(a / 65536) % 256, int(a / 256) % 256, a % 256, b, i % 10000 } }' >"$D/nets.csv"
echo "127.0.0.1,bench-exporter" >"$D/exporters.csv"
for i in 1 2 3 4 10 11 12 13; do echo "127.0.0.1,$i,if-$i"; done >"$D/ifs.csv"
head -c 32 /dev/urandom >"$D/key"
echo "sources written in $(( $(date +%s) - t0 )) s: $(wc -l <"$D/nets.csv") prefixes"
ENRICH="--geoip-db $D/geo.mmdb --asn-db $D/asn.mmdb --network-names $D/nets.csv --exporter-names $D/exporters.csv --interface-names $D/ifs.csv --anonymize cryptopan --anonymize-key $D/key"

free_port() {
    python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

metrics() { # rec lost qdrops qflows (over every query) nqueries
    curl -s "http://$HTTP/metrics" | awk '
        /^flowsql_ingest_records_total\{/       { rec += $NF }
        /^flowsql_ingest_records_lost_total\{/  { lost += $NF }
        /^flowsql_ingest_queue_drops_total\{/   { qd += $NF }
        /^flowsql_query_flows_total\{/          { qf += $NF; nq++ }
        END { printf "%d %d %d %d %d\n", rec, lost, qd, qf, nq }'
}

# start MODE DIR
start() {
    local mode=$1 dir=$2 i=0 args=""
    rm -rf "$dir"
    mkdir -p "$dir/q"
    echo "$DESIGN_SQL" >"$dir/q/design_card.sql"
    case $mode in fields-*) echo "$FIELDS_SQL" >"$dir/q/fields.sql" ;; esac
    case $mode in on|fields-on) args=$ENRICH ;; esac
    local try
    for try in 1 2 3; do
        PORT=$(free_port)
        HTTP=127.0.0.1:$(free_port)
        # shellcheck disable=SC2086
        "$FLOWSQLD" --listen 127.0.0.1 --ipfix-port "$PORT" --netflow-port 0 --sflow-port 0 \
            --http "$HTTP" --rcvbuf "$RCVBUF" --data-dir "$dir/data" \
            --queries-dir "$dir/q" --archive off --log-level warn $args \
            2>"$dir/log" &
        TPID=$!
        i=0
        until curl -s "http://$HTTP/metrics" 2>/dev/null | grep -q '^flowsql_query_flows_total{'; do
            i=$((i + 1))
            if [ $i -gt 300 ] || ! kill -0 "$TPID" 2>/dev/null; then
                break
            fi
            sleep 0.1
        done
        kill -0 "$TPID" 2>/dev/null && [ $i -le 300 ] && return 0
        # a port taken between free_port and the bind: again
        grep -q 'already in use' "$dir/log" && continue
        break
    done
    echo "flowsqld did not start:" >&2; cat "$dir/log" >&2; exit 1
}

stop() {
    kill -TERM "$TPID" 2>/dev/null
    wait "$TPID" 2>/dev/null
    TPID=
}

drain() {
    local prev="" same=0 i=0 cur
    while [ $same -lt 3 ] && [ $i -lt 240 ]; do
        sleep 0.25
        i=$((i + 1))
        cur=$(metrics)
        if [ "$cur" = "$prev" ]; then same=$((same + 1)); else same=0; fi
        prev=$cur
    done
    M=$cur
}

# step MODE RATE: sets OK (1 loss-free)
step() {
    local mode=$1 rate=$2 n dir=$RUN/$1
    n=$(( rate * STEP_S ))
    start "$mode" "$dir"
    local t0 t1
    t0=$(date +%s.%N)
    # shellcheck disable=SC2086
    "$FLOWGEN" --udp "127.0.0.1:$PORT" --rate "$rate" --flows "$n" $GENOPTS 2>/dev/null
    t1=$(date +%s.%N)
    drain
    read -r rec lost qd qf nq <<<"$M"
    stop
    OK=0
    if [ "$rec" = "$n" ] && [ "$lost" = 0 ] && [ "$qd" = 0 ] && [ "$qf" = $(( n * nq )) ]; then
        OK=1
    fi
    printf "%-10s rate %8d (sent at %8d/s): received %d lost %d queue_drops %d query %d/%d -> %s\n" \
        "$mode" "$rate" "$(awk -v n="$n" -v a="$t0" -v b="$t1" 'BEGIN { printf "%d", n / (b - a) }')" \
        "$rec" "$lost" "$qd" "$qf" $(( n * nq )) "$([ $OK = 1 ] && echo loss-free || echo LOSS)"
}

echo "== loss-free UDP rate, enrichment and anonymization off vs on (steps of ${STEP_S}s) =="
declare -A LO HI
for m in $MODES; do LO[$m]=0; HI[$m]=0; done
pending() { for m in $MODES; do [ "${HI[$m]}" = 0 ] && return 0; done; return 1; }
rate=$START_RATE
while [ "$rate" -le "$MAX_RATE" ] && pending; do
    for m in $MODES; do
        [ "${HI[$m]}" = 0 ] || continue
        step "$m" "$rate"
        if [ $OK = 1 ]; then LO[$m]=$rate; else HI[$m]=$rate; fi
    done
    rate=$(( rate * 2 ))
done
for k in $(seq "$BISECT"); do
    for m in $MODES; do
        [ "${HI[$m]}" = 0 ] && continue
        mid=$(( (LO[$m] + HI[$m]) / 2 ))
        step "$m" "$mid"
        if [ $OK = 1 ]; then LO[$m]=$mid; else HI[$m]=$mid; fi
    done
done
pct() { awk -v a="$1" -v b="$2" 'BEGIN { if (b) printf "%+.1f%%", (a - b) * 100 / b; else print "n/a" }'; }
for m in $MODES; do echo "loss-free: $m ${LO[$m]} flows/s"; done
[ -n "${LO[on]:-}" ] && [ -n "${LO[off]:-}" ] &&
    echo "on vs off: $(pct "${LO[on]}" "${LO[off]}")"
[ -n "${LO[fields-on]:-}" ] && [ -n "${LO[fields-off]:-}" ] &&
    echo "fields-on vs fields-off: $(pct "${LO[fields-on]}" "${LO[fields-off]}")"
exit 0
