#!/bin/sh
# bench/parquet_nfcapd.sh - bytes per flow on disk, flowsql's archive
# format against nfcapd (LZ4, nfdump's own format), on the same flowgen
# stream (make bench-parquet; docs/PERFORMANCE.md, "Archive format").
#
# flowgen writes the stream to an IPFIX file, which bench_parquet decodes
# and archives; the same stream (same options, same flow clock) goes over
# loopback UDP, at a rate nfcapd takes without loss, to nfcapd -y, and
# `nfdump -I` counts what it stored. Only a complete nfcapd file counts:
# a lossy run is reported as such, never as a figure.
set -e
B=${B:-build}
FLOWS=${FLOWS:-2000000}
RATE=${RATE:-200000}
GEN="--flows $FLOWS --sources 100000 --dests 10000 --dst-ports 20 --protocols 5 --seed 1 --clock-rate 1000000"
tmp=$(mktemp -d /tmp/flowsql-pqbench.XXXXXX)
trap 'kill $NFPID 2>/dev/null; rm -rf "$tmp"' EXIT

"$B/flowgen" --file "$tmp/flows.ipfix" $GEN
"$B/bench/bench_parquet" "$tmp/flows.ipfix" "$tmp/flows.parquet"
rm -f "$tmp/flows.ipfix"

port=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$tmp/nfcapd"
nfcapd -y -t 3600 -b 127.0.0.1 -p "$port" -B 33554432 -w "$tmp/nfcapd" \
    >"$tmp/nfcapd.log" 2>&1 &
NFPID=$!
sleep 1
"$B/flowgen" --udp "127.0.0.1:$port" --rate "$RATE" $GEN
sleep 2
kill -TERM $NFPID
wait $NFPID 2>/dev/null || true
f=$(ls "$tmp"/nfcapd/nfcapd.2* | head -n 1)
stored=$(nfdump -r "$f" -I | awk '/^Flows:/ {print $2}')
size=$(stat -c %s "$f")
echo "nfcapd -y (LZ4): $size bytes, $stored flows stored of $FLOWS sent"
if [ "$stored" -eq "$FLOWS" ]; then
    echo "nfcapd: $(echo "$size $stored" | awk '{printf "%.2f", $1 / $2}') bytes/flow"
else
    echo "nfcapd lost flows at $RATE flows/s: no figure (RATE=... lower)"
    exit 1
fi
pq=$(stat -c %s "$tmp/flows.parquet")
echo "parquet (ZSTD): $(echo "$pq $FLOWS" | awk '{printf "%.2f", $1 / $2}') bytes/flow"
