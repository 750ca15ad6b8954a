#!/bin/sh
# bench/archive_query.sh - queries over the archive against nfdump on the
# same flows (make bench-archive-query, part of make bench-archive;
# docs/PERFORMANCE.md, "Queries over the archive").
#
# flowgen writes FLOWS flows (the peers' mix: 100000 sources, 10000
# destinations, 20 ports, 5 protocols; the flow clock spread over HOURS
# hours) to an IPFIX file; bench_aquery archives it (5 min files,
# 131072-flow row groups, received time = the flow's end); the same
# stream goes over loopback UDP at RATE flows/s to nfcapd -y (LZ4).
# Then, cold (the files dropped from the page cache first, flowsql's and
# nfcapd's alike) and warm:
#   1. GROUP BY srcip over everything: flowsql's
#        SELECT srcip, count(*), sum(bytes) FROM flows GROUP BY srcip
#      against nfdump -A srcip (same numbers checked);
#   2. a host lookup, one srcip in one hour:
#        SELECT ... FROM flows BETWEEN h AND h + 1h WHERE srcip = X
#      against nfdump -t h-h+1h 'src host X'.
# Bytes per flow on disk of both are printed, and the load of the machine
# (uptime) at the start and the end: it shares its cores.
# Settings (environment): FLOWS (100000000), HOURS (1), RATE (200000),
# DIR (a temporary directory; give one to keep the files between runs:
# they are made again only if missing).
set -eu
cd "$(dirname "$0")/.." || exit 1
B=${B:-build}
FLOWS=${FLOWS:-100000000}
HOURS=${HOURS:-1}
RATE=${RATE:-200000}
CLOCK=$((FLOWS / (HOURS * 3600)))
[ "$CLOCK" -ge 1 ] || CLOCK=1
GEN="--flows $FLOWS --sources 100000 --dests 10000 --dst-ports 20 --protocols 5 --seed 1 --clock-rate $CLOCK"
KEEP=${DIR:+1}
DIR=${DIR:-$(mktemp -d /tmp/flowsql-aqbench.XXXXXX)}
NFPID=
cleanup() {
    [ -n "$NFPID" ] && kill "$NFPID" 2>/dev/null
    [ -n "$KEEP" ] || rm -rf "$DIR"
}
trap cleanup EXIT
mkdir -p "$DIR"
export LC_ALL=C TZ=UTC
echo "load at the start:$(uptime | sed 's/.*load average//')"

# Each set of files is made under a .tmp name and renamed when whole, so
# a run cut short is never taken for a finished one.
if [ ! -d "$DIR/archive" ]; then
    rm -rf "$DIR/archive.tmp"
    "$B/flowgen" --file "$DIR/flows.ipfix" $GEN >/dev/null
    echo "bench_aquery build (the archive's writer fed at full speed): $("$B/bench/bench_aquery" build "$DIR/archive.tmp" "$DIR/flows.ipfix" 2>/dev/null)"
    rm -f "$DIR/flows.ipfix"
    mv "$DIR/archive.tmp" "$DIR/archive"
fi
if [ ! -d "$DIR/nfcapd" ]; then
    rm -rf "$DIR/nfcapd.tmp"
    port=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    mkdir -p "$DIR/nfcapd.tmp"
    nfcapd -y -t 86400 -b 127.0.0.1 -p "$port" -B 33554432 -w "$DIR/nfcapd.tmp" \
        >"$DIR/nfcapd.log" 2>&1 &
    NFPID=$!
    sleep 1
    "$B/flowgen" --udp "127.0.0.1:$port" --rate "$RATE" $GEN
    sleep 2
    kill -TERM $NFPID
    wait $NFPID 2>/dev/null || true
    NFPID=
    mv "$DIR/nfcapd.tmp" "$DIR/nfcapd"
fi
stored=$(nfdump -R "$DIR/nfcapd" -I | awk '/^Flows:/ {print $2}')
echo "flows: $FLOWS generated; nfcapd stored $stored; archive $(du -sh "$DIR/archive" | cut -f1), nfcapd $(du -sh "$DIR/nfcapd" | cut -f1)"
abytes=$(find "$DIR/archive" -name '*.parquet' -printf '%s\n' | awk '{ s += $1 } END { print s }')
nbytes=$(find "$DIR/nfcapd" -type f -name 'nfcapd.*' -printf '%s\n' | awk '{ s += $1 } END { print s }')
echo "on disk: archive $(echo "$abytes $FLOWS" | awk '{ printf "%.2f", $1 / $2 }') bytes/flow, nfcapd -y $(echo "$nbytes $stored" | awk '{ printf "%.2f", $1 / $2 }') bytes/flow"
[ "$stored" -eq "$FLOWS" ] || echo "nfcapd lost flows at $RATE flows/s: its figures are over fewer flows (RATE=... lower)"

ms() { python3 -c 'import time; print(int(time.monotonic() * 1000))'; }
timed() { # label command...: wall ms of the command, output discarded
    label=$1
    shift
    t0=$(ms)
    "$@" >"$DIR/out" 2>/dev/null
    echo "$label: $(( $(ms) - t0 )) ms"
}

# 1. GROUP BY srcip over everything
Q1="SELECT srcip, count(*), sum(bytes) FROM flows GROUP BY srcip"
cold() { [ "$1" = cold ] && echo --cold; return 0; }
for mode in cold warm warm; do
    echo "flowsql GROUP BY srcip: $("$B/bench/bench_aquery" query "$DIR/archive" $(cold $mode) "$Q1" 2>/dev/null)"
    [ $mode = cold ] && "$B/bench/bench_aquery" evict "$DIR/nfcapd"
    timed "nfdump -A srcip, $mode" nfdump -R "$DIR/nfcapd" -A srcip -q -N -o 'fmt:%sa %fl %byt'
done
# the same answer (sources, flows, bytes in all)
echo "flowsql: $("$B/bench/bench_aquery" query "$DIR/archive" --print "SELECT count(DISTINCT srcip), count(*), sum(bytes) FROM flows" 2>/dev/null | head -1) (sources, flows, bytes)"
nfdump -R "$DIR/nfcapd" -A srcip -q -N -o 'fmt:%sa %fl %byt' |
    awk '{ n++; f += $2; b += $3 } END { print "nfdump: " n " sources, " f " flows, " b " bytes" }'

# 2. a host lookup: a source in the middle of the mix, the first hour
first=$(nfdump -R "$DIR/nfcapd" -q -c 1 -o 'fmt:%ts' | head -1)
lo=$(python3 -c "import calendar,time,sys; print(calendar.timegm(time.strptime('${first%.*}', '%Y-%m-%d %H:%M:%S')))")
from=$(date -u -d "@$lo" '+%Y-%m-%d %H:%M:%S')
to=$(date -u -d "@$((lo + 3600))" '+%Y-%m-%d %H:%M:%S')
tf=$(date -u -d "@$lo" '+%Y/%m/%d.%H:%M:%S')
tt=$(date -u -d "@$((lo + 3600))" '+%Y/%m/%d.%H:%M:%S')
host=10.0.1.44
Q2="SELECT start, srcip, srcport, dstip, dstport, proto, packets, bytes FROM flows BETWEEN '$from' AND '$to' WHERE srcip = $host"
for mode in cold warm warm; do
    echo "flowsql host lookup: $("$B/bench/bench_aquery" query "$DIR/archive" $(cold $mode) "$Q2" 2>/dev/null)"
    [ $mode = cold ] && "$B/bench/bench_aquery" evict "$DIR/nfcapd"
    timed "nfdump 'src host $host' -t (one hour), $mode" nfdump -R "$DIR/nfcapd" -q -t "$tf-$tt" "src host $host"
done
echo "nfdump: $(wc -l <"$DIR/out") flows of $host"
echo "load at the end:$(uptime | sed 's/.*load average//')"
