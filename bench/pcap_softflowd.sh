#!/bin/sh
# pcap_softflowd.sh - make bench-pcap: the flow meter against softflowd on
# one generated capture, one core each.
#
#   B=build bench/pcap_softflowd.sh
#
# The capture, $B/bench-pcap.pcap, is generated once (bench_pcap gen:
# 6,000,000 Ethernet packets, TCP and UDP conversations of 8-120 packets,
# about 50,000 open at a time, 12.5 % IPv6, 6 % 802.1Q; 96-byte snaplen)
# and kept. Then, pinned to one CPU (taskset -c 0):
#   1. bench_pcap run: libpcap reading the file into the meter, and the
#      meter alone over the packets in memory (best of 3, CPU time);
#   2. flowsqld --read with one query (GROUP BY srcip over 1-minute
#      windows): the whole path, file to stored windows;
#   3. softflowd -r, with a flow table as large as the meter's
#      (-m 262144) and its IPFIX export sent to a closed UDP port on
#      loopback (nothing listens, so nothing else spends CPU on it).
# Times are the processes' user + system CPU. Both meters must report the
# same number of flow records.
set -e
B=${B:-build}
F=$B/bench-pcap.pcap
[ -s "$F" ] || "$B/bench/bench_pcap" gen "$F" 6000000 50000
PIN="taskset -c 0"
command -v taskset >/dev/null || PIN=

echo "== the meter (bench_pcap run $F 3)"
$PIN "$B/bench/bench_pcap" run "$F" 3

cpu() { # command...: runs it, prints "user+sys seconds" on fd 3
    /usr/bin/time -f "%U %S" -o "$T/time" "$@"
    awk '{ printf "%.2f\n", $1 + $2 }' "$T/time" >&3
}
T=$(mktemp -d /tmp/flowsql-bench.XXXXXX)
trap 'rm -rf "$T"' EXIT
mkdir -p "$T/q"
echo "CREATE QUERY per_src AS SELECT srcip, count(*) AS flows,
      sum(packets) AS packets, sum(bytes) AS bytes FROM flows
      WINDOW 1m GROUP BY srcip" >"$T/q/per_src.sql"
pk=$(capinfos -c -M "$F" 2>/dev/null | awk '/Number of packets/ { print $NF }')

echo "== flowsqld --read (one query, windows stored)"
s=$(cpu $PIN "$B/flowsqld" --read "$F" --http off --data-dir "$T/data" \
    --queries-dir "$T/q" 3>&1 >/dev/null 2>"$T/fs.log")
grep -o '[0-9]* flow records' "$T/fs.log" | sed 's/^/   /'
echo "   $pk packets in $s s CPU: $(echo "$pk $s" | awk '{ printf "%.2f", $1 / $2 / 1e6 }') M packets/s"

echo "== softflowd -r -m 262144 -v 10 (export to a closed UDP port)"
port=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
s=$(cpu $PIN softflowd -r "$F" -m 262144 -n "127.0.0.1:$port" -v 10 -d \
    -c none -p "$T/sf.pid" 3>&1 >"$T/sf.log" 2>&1)
grep -o '([0-9]* records)' "$T/sf.log" | sed 's/^/   /'
echo "   $pk packets in $s s CPU: $(echo "$pk $s" | awk '{ printf "%.2f", $1 / $2 / 1e6 }') M packets/s"
