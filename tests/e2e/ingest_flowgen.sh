#!/bin/sh
# ingest_flowgen.sh - the project's generator into the ingest, live over
# UDP and TCP and from a file, IPv4 and IPv6, several observation domains:
# per-source flows, packets and bytes must equal what flowgen says it sent
# (--per-source), with no sequence gap and no drop. Also: the same seed
# gives the same bytes.

. "$(dirname "$0")/lib/ingest.sh"

truth() { sort "$1" | awk '{ print $1, $2, $3, $4 }'; }

# UDP, 60k flows over 20k sources at 30k flows/s, 4 domains (a modest
# rate: without privileges the socket buffer is only net.core.rmem_max)
flowsql_start 1500
"$B/flowgen" --udp "127.0.0.1:$FS_IPFIX_PORT" --flows 60000 \
    --sources 20000 --rate 30000 --domains 4 --seed 11 --now \
    --per-source "$T/udp.src" 2>/dev/null
flowsql_result >"$T/udp.fs"
truth "$T/udp.src" >"$T/udp.truth"
same "$T/udp.fs" "$T/udp.truth" "flowgen IPFIX/UDP 30k flows/s, 4 domains"
clean_counters "flowgen IPFIX/UDP" 'decode_errors [1-9]\|unknown_tmpl [1-9]'

# TCP, IPv6 records
flowsql_start 1500
"$B/flowgen" --tcp "127.0.0.1:$FS_TCP_PORT" --flows 100000 --sources 5000 \
    --ipv6 --seed 12 --per-source "$T/tcp.src" 2>/dev/null
flowsql_result >"$T/tcp.fs"
truth "$T/tcp.src" >"$T/tcp.truth"
same "$T/tcp.fs" "$T/tcp.truth" "flowgen IPFIX/TCP IPv6"
clean_counters "flowgen IPFIX/TCP" 'decode_errors [1-9]\|unknown_tmpl [1-9]'

# file, read twice: same records both times; same seed, same bytes
"$B/flowgen" --file "$T/a.ipfix" --flows 100000 --sources 3000 --seed 13 \
    --per-source "$T/file.src" 2>/dev/null
"$B/flowgen" --file "$T/b.ipfix" --flows 100000 --sources 3000 --seed 13 \
    2>/dev/null
if cmp -s "$T/a.ipfix" "$T/b.ipfix"; then
    echo "ok - flowgen: same seed, same bytes"
else
    echo "not ok - flowgen: same seed, different bytes"
fi
"$B/tools/ingest_agg" --file "$T/a.ipfix" >"$T/file1" 2>"$T/file.err"
"$B/tools/ingest_agg" --file "$T/a.ipfix" >"$T/file2" 2>>"$T/file.err"
awk '{ print $1, $2, $3, $4 }' "$T/file1" | sort >"$T/file.fs"
truth "$T/file.src" >"$T/file.truth"
same "$T/file.fs" "$T/file.truth" "flowgen IPFIX file"
if cmp -s "$T/file1" "$T/file2" && [ -s "$T/file1" ]; then
    echo "ok - IPFIX file: the same result on every read"
else
    echo "not ok - IPFIX file: reads differ"
fi
