#!/bin/sh
# ingest_softflowd.sh - softflowd (Debian package) reads a capture built by
# mkpcap and exports it as IPFIX over UDP and TCP, NetFlow v9 and v5, with
# every absolute timestamp form (-A) and as RFC 5103 biflows (-b). Each
# export is captured once and replayed to flowsql and to nfcapd; the
# per-source flows, packets and bytes must be identical (see lib/ingest.sh).
#
# Times: softflowd runs with -a, so its clock follows the capture's. The
# first/last times per source are compared with nfdump where nfdump 1.7
# gets them right (NetFlow v9 and v5 uptimes, IPFIX milliseconds). nfdump
# reads flowStart/EndNanoseconds as 0 and is off by a few ms on IPFIX
# uptimes with systemInitTimeMilliseconds, so the IPFIX uptime, seconds,
# micro- and nanosecond exports are compared with the millisecond export
# of the same traffic instead (which must give the very same times).

. "$(dirname "$0")/lib/ingest.sh"

if ! command -v softflowd >/dev/null; then
    echo "not ok - softflowd is not installed (make deps-test)"
    exit 1
fi
"$B/tools/mkpcap" "$T/traffic.pcap" --hosts 300 --flows 3000 2>/dev/null
CAP_IDLE_MS=800

softflowd_export() { # capture.pcap softflowd-args...
    out=$1
    shift
    capture_udp "$out"
    softflowd -r "$T/traffic.pcap" -a -n "127.0.0.1:$CAP_PORT" -d \
        -p "$T/sf.pid" -c none "$@" >"$T/softflowd.log" 2>&1
    capture_wait 2>/dev/null
}

udp_case() { # name ipfix|netflow times-oracle softflowd-args...
    name=$1 kind=$2 oracle=$3
    shift 3
    softflowd_export "$T/$name.pcap" "$@"
    flowsql_start 1200 || return
    oracle_start
    if [ "$kind" = ipfix ]; then port=$FS_IPFIX_PORT; else port=$FS_NETFLOW_PORT; fi
    replay_to_both "$T/$name.pcap" "$port"
    flowsql_result >"$T/$name.fs"
    oracle_result >"$T/$name.nf"
    same "$T/$name.fs" "$T/$name.nf" "softflowd $name"
    flowsql_times >"$T/$name.fst"
    if [ "$oracle" = nfdump ]; then
        oracle_times >"$T/$name.nft"
        same "$T/$name.fst" "$T/$name.nft" "softflowd $name: first/last times" \
            "every first and last ms"
    fi
    clean_counters "softflowd $name"
}

udp_case ipfix-udp        ipfix   millis -v 10
udp_case netflow-v9       netflow nfdump -v 9
udp_case netflow-v5       netflow nfdump -v 5
udp_case ipfix-millis     ipfix   nfdump -v 10 -A milli
udp_case ipfix-seconds    ipfix   millis -v 10 -A sec
udp_case ipfix-micros     ipfix   millis -v 10 -A micro
udp_case ipfix-nanos      ipfix   millis -v 10 -A nano

# the same flows' times in ms, whole seconds for the seconds export
awk '{ printf "%s %.0f %.0f\n", $1, int($2 / 1000) * 1000, int($3 / 1000) * 1000 }' \
    "$T/ipfix-millis.fst" >"$T/millis-in-seconds"
same "$T/ipfix-seconds.fst" "$T/millis-in-seconds" \
    "softflowd ipfix-seconds: first/last times as the ms export's, in s" \
    "every first and last"
same "$T/ipfix-udp.fst" "$T/ipfix-millis.fst" \
    "softflowd ipfix-udp: first/last times (uptime + systemInitTime) as the ms export's" \
    "every first and last ms"
same "$T/ipfix-micros.fst" "$T/ipfix-millis.fst" \
    "softflowd ipfix-micros: first/last times as the ms export's" \
    "every first and last ms"
same "$T/ipfix-nanos.fst" "$T/ipfix-millis.fst" \
    "softflowd ipfix-nanos: first/last times as the ms export's" \
    "every first and last ms"

# IPFIX over TCP: the stream goes to flowsql over TCP, its messages as
# datagrams to nfcapd (which has no TCP).
capture_tcp "$T/tcp.pcap" "$T/tcp.ipfix"
softflowd -r "$T/traffic.pcap" -a -n "127.0.0.1:$CAP_PORT" -d -P tcp -v 10 \
    -p "$T/sf.pid" -c none >"$T/softflowd.log" 2>&1
capture_wait 2>/dev/null
flowsql_start 1200
oracle_start
"$B/tools/replay" --stream "$T/tcp.ipfix" --tcp-to "127.0.0.1:$FS_TCP_PORT" \
    2>>"$T/replay.log"
"$B/tools/replay" "$T/tcp.pcap" --to "127.0.0.1:$NF_PORT" 2>>"$T/replay.log"
flowsql_result >"$T/tcp.fs"
oracle_result >"$T/tcp.nf"
same "$T/tcp.fs" "$T/tcp.nf" "softflowd ipfix-tcp"

# Biflows: softflowd -b exports each conversation once with RFC 5103
# reverse counters; flowsql splits them into two directional records. The
# oracle sees the same traffic exported without -b (one record per
# direction), since nfdump keeps a biflow as one record.
softflowd_export "$T/bi.pcap" -v 10 -b
softflowd_export "$T/uni.pcap" -v 10
flowsql_start 1200
"$B/tools/replay" "$T/bi.pcap" --to "127.0.0.1:$FS_IPFIX_PORT" \
    2>>"$T/replay.log"
oracle_start
"$B/tools/replay" "$T/uni.pcap" --to "127.0.0.1:$NF_PORT" 2>>"$T/replay.log"
flowsql_result >"$T/bi.fs"
oracle_result >"$T/bi.nf"
same "$T/bi.fs" "$T/bi.nf" "softflowd ipfix-biflow (-b) split into directions"
