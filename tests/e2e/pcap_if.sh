#!/bin/sh
# A live interface (--pcap-if, docs/INGEST.md "A live interface"): two
# network namespaces made here, joined by a veth pair; flowsqld captures
# on one end (inside its namespace) with a BPF filter, known UDP traffic
# is sent from the other; the stored windows hold exactly that traffic
# per source, with the interface's address as exporter. A filter that
# does not compile and an interface that does not exist stop the start
# with a clear message. Needs root (ip netns).
. "$(dirname "$0")/lib.sh"
NSA=fsqlA$$
NSB=fsqlB$$
VA=fsA$$
VB=fsB$$
trap 'cleanup; ip netns del $NSA 2>/dev/null; ip netns del $NSB 2>/dev/null' EXIT INT TERM

# Namespaces an earlier run left behind (killed before its trap ran):
# theirs if the run's shell is gone.
for ns in $(ip netns list 2>/dev/null | grep -o '^fsql[AB][0-9]*'); do
    kill -0 "${ns#fsql?}" 2>/dev/null || ip netns del "$ns" 2>/dev/null
done

setup() {
    ip netns add $NSA && ip netns add $NSB &&
    ip link add $VA type veth peer name $VB &&
    ip link set $VA netns $NSA && ip link set $VB netns $NSB &&
    ip -n $NSA addr add 10.99.0.1/24 dev $VA &&
    ip -n $NSA link set $VA up && ip -n $NSA link set lo up &&
    ip -n $NSB addr add 10.99.0.2/24 dev $VB &&
    ip -n $NSB addr add 10.99.0.3/24 dev $VB &&
    ip -n $NSB link set $VB up && ip -n $NSB link set lo up
}
if ! setup 2>"$T/setup.err"; then
    fail "network namespaces and a veth pair (needs root)" "$(cat "$T/setup.err")"
    exit 1
fi
ok "network namespaces and a veth pair"
mkdir -p "$T/run/queries"
cat >"$T/run/queries/per_src.sql" <<'EOF'
CREATE QUERY per_src AS
SELECT srcip, count(*) AS flows, sum(packets) AS packets, sum(bytes) AS bytes
FROM flows WINDOW 1h GROUP BY srcip
EOF
cat >"$T/run/queries/per_exporter.sql" <<'EOF'
CREATE QUERY per_exporter AS
SELECT exporter, count(*) AS flows FROM flows WINDOW 1h GROUP BY exporter
EOF

# flowsqld inside namespace A, on the veth end there.
NSPORT=$(free_port)
nsd() {
    ip netns exec $NSA "$B/flowsqld" --http "127.0.0.1:$NSPORT" \
        --ipfix-port 0 --netflow-port 0 --sflow-port 0 \
        --data-dir "$T/run/data" --queries-dir "$T/run/queries" "$@"
}
nscurl() { ip netns exec $NSA curl -s "http://127.0.0.1:$NSPORT$1"; }
nsmetric() { nscurl /metrics | grep -F "$1 " | sed 's/.* //'; }

# ---- start-up errors -----------------------------------------------------
nsd --http off --pcap-if $VA --pcap-filter 'udp prot 9' >/dev/null 2>"$T/bad_filter.log"
eq "a bad filter stops the start" $? 1
check "saying which filter and why" grep -q -- "--pcap-filter 'udp prot 9': .*syntax error" "$T/bad_filter.log"
nsd --http off --pcap-if nosuch0 >/dev/null 2>"$T/no_if.log"
eq "an unknown interface stops the start" $? 1
check "saying so" grep -q -- "--pcap-if nosuch0: no such interface" "$T/no_if.log"
nsd --http off --pcap-filter 'udp' >/dev/null 2>"$T/no_if2.log"
eq "a filter without an interface stops the start" $? 1
check "saying so" grep -q -- "--pcap-filter is for --pcap-if, which is not set" "$T/no_if2.log"

# ---- known traffic ---------------------------------------------------------
# (not through nsd: $! must be flowsqld's pid, which ip netns exec keeps)
ip netns exec $NSA "$B/flowsqld" --http "127.0.0.1:$NSPORT" \
    --ipfix-port 0 --netflow-port 0 --sflow-port 0 \
    --data-dir "$T/run/data" --queries-dir "$T/run/queries" \
    --pcap-if $VA --pcap-filter 'udp and dst port 9' 2>>"$T/flowsqld.log" &
NSD=$!
PIDS="$PIDS $NSD"
check "flowsqld captures in its namespace" wait_until 10 nscurl /healthz
# (the REST API answers before the capture starts: wait for it)
check "it says what it captures" wait_until 10 grep -q "capturing on $VA .*filter udp and dst port 9; flows' exporter 10.99.0.1" "$T/flowsqld.log"

# From B: 10.99.0.2 sends 50 datagrams of 100 bytes from one port,
# 10.99.0.3 30 of 200 bytes from two; both also send to port 10, which
# the filter leaves out. IP lengths: 128 and 228 bytes.
ip netns exec $NSB python3 - <<'EOF'
import socket, time
def send(src, sport, n, size, dport):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((src, sport))
    for _ in range(n):
        s.sendto(bytes(size), ("10.99.0.1", dport))
        time.sleep(0.002)
    s.close()
send("10.99.0.2", 40000, 50, 100, 9)
send("10.99.0.3", 40001, 15, 200, 9)
send("10.99.0.3", 40002, 15, 200, 9)
send("10.99.0.2", 40003, 20, 100, 10)
EOF
check "80 packets captured" wait_until 10 sh -c "[ \"\$(ip netns exec $NSA curl -s http://127.0.0.1:$NSPORT/metrics | grep -F 'flowsql_pcap_packets_total{source=\"interface\"} ')\" = 'flowsql_pcap_packets_total{source=\"interface\"} 80' ]"
eq "no kernel drops" "$(nsmetric 'flowsql_pcap_kernel_drops_total{reason="buffer"}')" 0
eq "all metered" "$(nsmetric 'flowsql_pcap_packets_unmetered_total{source="interface",reason="not_ip"}')" 0
# SIGTERM: the meter's flows are handed over and stored.
kill -TERM $NSD
wait $NSD
eq "SIGTERM exits 0" $? 0

# Read the stored windows back (flowsqld outside the namespaces now).
start_flowsqld || exit 1
api GET "/api/v1/queries/per_src/results?limit=100" >"$T/res.json"
eq "results (200)" "$CODE" 200
jq -r '[.[].rows[]] | group_by(.srcip)[] |
       "\(.[0].srcip) \(map(.flows) | add) \(map(.packets) | add) \(map(.bytes) | add)"' \
    "$T/res.json" | sort >"$T/got.txt"
printf '10.99.0.2 1 50 6400\n10.99.0.3 2 30 6840\n' >"$T/want.txt"
check "flows, packets, bytes per source equal the traffic sent" cmp -s "$T/got.txt" "$T/want.txt"
diff "$T/got.txt" "$T/want.txt" >&2
api GET "/api/v1/queries/per_exporter/results?limit=100" >"$T/exp.json"
eq "exporter: the interface's address" \
    "$(jq -r '[.[].rows[]] | group_by(.exporter)[] | "\(.[0].exporter) \(map(.flows) | add)"' "$T/exp.json")" \
    "10.99.0.1 3"
stop_flowsqld
exit $FAILED
