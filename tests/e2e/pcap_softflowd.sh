#!/bin/sh
# pcap_softflowd.sh - flowsqld meters packet captures into the same flows
# as softflowd. Each capture is read by `softflowd -r` (IPFIX export to
# nfcapd, read back with nfdump -A srcip) and by `flowsqld --read` (a
# query grouping by srcip); per source the flows, packets and bytes must
# be equal.
#
# Captures: crafted with python3-scapy (tests/e2e/lib/pcap_crafted.py:
# many hosts, TCP closed by FIN and by RST, UDP, ICMP, IPv6 with
# extension headers, 802.1Q, IPv4 and IPv6 fragments, a flow of two
# hours, a 5-tuple reused after FIN) as Ethernet, raw IP and Linux SLL;
# mkpcap's traffic; and the raw-traffic captures under tests/data merged
# into one file. Also: the crafted capture as pcapng, through
# POST /api/v1/replay, and a file that is neither IPFIX nor a capture.
#
# softflowd -r never expires flows by time (it exports everything at the
# end of the file, or when its table is full), so flowsqld runs with its
# timeouts off to compare flows ($NOTIME); with its default timeouts the
# packets and bytes per source are still softflowd's, and the two
# scenario hosts split as docs/INGEST.md says.
. "$(dirname "$0")/lib.sh"

PY=/usr/bin/python3 # Debian's, with python3-scapy
for c in softflowd nfcapd nfdump editcap mergecap jq; do
    command -v $c >/dev/null || { fail "$c is not installed (make deps-test)"; exit 1; }
done
$PY -c 'import scapy' 2>/dev/null || { fail "python3-scapy is not installed"; exit 1; }

NOTIME="--pcap-active-timeout 0 --pcap-idle-timeout 0 --pcap-timeouts tcp.fin=-1,tcp.rst=-1"
DATA=$(cd "$(dirname "$0")/../data" && pwd)
mkdir -p "$T/cap" "$T/q" "$T/replay"
$PY "$(dirname "$0")/lib/pcap_crafted.py" "$T/cap" >"$T/crafted.log" 2>&1 ||
    { fail "crafting the captures"; cat "$T/crafted.log" >&2; exit 1; }
"$B/tools/mkpcap" "$T/cap/mkpcap.pcap" --hosts 300 --flows 3000 2>/dev/null
mergecap -F pcap -w "$T/cap/exports.pcap" "$DATA"/*/*.pcap
echo "CREATE QUERY per_src AS SELECT srcip, count(*) AS flows,
      sum(packets) AS packets, sum(bytes) AS bytes FROM flows WINDOW 1h
      GROUP BY srcip" >"$T/q/per_src.sql"

free_udp() {
    python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# softflowd_rows FILE: "srcip flows packets bytes", softflowd -r's IPFIX
# export as nfcapd stored it
softflowd_rows() {
    rm -rf "$T/nf"
    mkdir -p "$T/nf"
    port=$(free_udp)
    nfcapd -w "$T/nf" -p "$port" -b 127.0.0.1 -B 8000000 -t 3600 \
        >"$T/nfcapd.log" 2>&1 &
    nfpid=$!
    sleep 0.5
    softflowd -r "$1" -n "127.0.0.1:$port" -v 10 -d -p "$T/sf.pid" -c none \
        >"$T/softflowd.log" 2>&1
    sleep 0.5
    kill "$nfpid"
    wait "$nfpid" 2>/dev/null
    TZ=UTC nfdump -R "$T/nf" -A srcip -o 'fmt:%sa %fl %pkt %byt' -q -N |
        awk 'NF >= 4 { print $1, $2, $3, $4 }' | sort
}

# sum_rows: windows (JSON lines, or the replay's answer) to "srcip flows
# packets bytes", summed over the windows
sum_rows() {
    jq -r '(.windows // [.])[] | .rows[] | "\(.srcip) \(.flows) \(.packets) \(.bytes)"' |
        awk '{ f[$1] += $2; p[$1] += $3; b[$1] += $4 }
             END { for (k in f) print k, f[k], p[k], b[k] }' | sort
}

# flowsql_rows FILE [ARGS...]: the same from flowsqld --read
flowsql_rows() {
    f=$1
    shift
    rm -rf "$T/data"
    "$B/flowsqld" --read "$f" --http off --data-dir "$T/data" \
        --queries-dir "$T/q" "$@" 2>"$T/fs.log" | grep '^{' | sum_rows
}

same() { # NAME A B
    if [ -s "$2" ] && cmp -s "$2" "$3"; then
        ok "$1 ($(wc -l <"$2") sources)"
    else
        fail "$1" "$(diff "$2" "$3" | head -5)"
    fi
}

for c in ether raw sll mkpcap exports; do
    softflowd_rows "$T/cap/$c.pcap" >"$T/$c.sf"
    # shellcheck disable=SC2086
    flowsql_rows "$T/cap/$c.pcap" $NOTIME >"$T/$c.fs"
    same "$c.pcap: per source flows, packets, bytes as softflowd -r's" \
        "$T/$c.fs" "$T/$c.sf"
done
check "the read logged its packets, all metered" \
    grep -q "exports.pcap: [0-9]* packets, [0-9]* metered, 0 not IP, 0 truncated" "$T/fs.log"

# pcapng
editcap -F pcapng "$T/cap/ether.pcap" "$T/cap/ether.pcapng"
# shellcheck disable=SC2086
flowsql_rows "$T/cap/ether.pcapng" $NOTIME >"$T/ng.fs"
same "ether.pcapng: as softflowd -r on the pcap" "$T/ng.fs" "$T/ether.sf"

# default timeouts: packets and bytes are the same per source, and the
# scenario hosts split: 10.9.0.1 (a packet every 60 s for 7200 s) at the
# active timeout of 1800 s into 5 flows, 10.9.0.2 (a 5-tuple reused 30 s
# after FIN; tcp.fin=5) into 2
flowsql_rows "$T/cap/ether.pcap" >"$T/def.fs"
awk '{ print $1, $3, $4 }' "$T/def.fs" >"$T/def.pb"
awk '{ print $1, $3, $4 }' "$T/ether.sf" >"$T/sf.pb"
same "default timeouts: per source packets and bytes as softflowd's" \
    "$T/def.pb" "$T/sf.pb"
eq "default timeouts: the 2-hour flow is 5 flows (active timeout 1800 s)" \
    "$(grep '^10.9.0.1 ' "$T/def.fs")" "10.9.0.1 5 121 15488"
eq "default timeouts: the 5-tuple reused after FIN is 2 flows" \
    "$(grep '^10.9.0.2 ' "$T/def.fs")" "10.9.0.2 2 11 2253"
eq "without timeouts they are one flow each, as softflowd -r has them" \
    "$(grep '^10.9.0.[12] ' "$T/ether.sf" | tr '\n' ' ')" \
    "10.9.0.1 1 121 15488 10.9.0.2 1 11 2253 "
flowsql_rows "$T/cap/ether.pcap" --pcap-biflow off >"$T/uni.fs"
awk '{ print $1, $3, $4 }' "$T/uni.fs" >"$T/uni.pb"
same "--pcap-biflow off: per source packets and bytes as softflowd's" \
    "$T/uni.pb" "$T/sf.pb"

# the REST replay of a capture (and of pcapng), with the timeouts off
cp "$T/cap/ether.pcap" "$T/cap/ether.pcapng" "$T/replay/"
QUERIES_DIR=$T/q
# shellcheck disable=SC2086
start_flowsqld --replay-dir "$T/replay" $NOTIME || exit 1
Q='SELECT srcip, count(*) AS flows, sum(packets) AS packets, sum(bytes) AS bytes FROM flows WINDOW 1h GROUP BY srcip'
for f in ether.pcap ether.pcapng; do
    api POST /api/v1/replay "{\"sql\":\"$Q\",\"file\":\"$f\"}" >"$T/replay.json"
    eq "replay of $f answers 200" "$CODE" 200
    sum_rows <"$T/replay.json" >"$T/replay.fs"
    same "replay of $f: as softflowd -r" "$T/replay.fs" "$T/ether.sf"
done
stop_flowsqld

# neither IPFIX nor a capture; a capture cut short
printf '<html>not flows</html>' >"$T/cap/page.html"
"$B/flowsqld" --read "$T/cap/page.html" --http off --data-dir "$T/data" \
    --queries-dir "$T/q" >/dev/null 2>"$T/bad.log"
eq "a file that is neither: exit status 1" "$?" 1
check "and the error names the file and what it starts with" \
    grep -q "page.html: neither IPFIX (version 10) nor pcap/pcapng: it starts with bytes 3c 68 74 6d" "$T/bad.log"
size=$(wc -c <"$T/cap/ether.pcap")
head -c $((size - 7)) "$T/cap/ether.pcap" >"$T/cap/cut.pcap"
"$B/flowsqld" --read "$T/cap/cut.pcap" --http off --data-dir "$T/data" \
    --queries-dir "$T/q" 2>"$T/cut.log" | grep '^{' | sum_rows >"$T/cut.fs"
check "a capture cut short: the error names the file and the packet" \
    grep -q "cut.pcap: after packet 4124: truncated dump file" "$T/cut.log"
eq "and the packets before it are metered" \
    "$(awk '{ p += $3 } END { print p }' "$T/cut.fs")" 4124

exit 0
