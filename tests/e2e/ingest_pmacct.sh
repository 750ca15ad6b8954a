#!/bin/sh
# ingest_pmacct.sh - pmacctd (Debian package pmacct) reads a capture built
# by mkpcap with its nfprobe plugin exporting IPFIX and NetFlow v9. Each
# export is captured once and replayed to flowsql and to nfcapd; per-source
# flows, packets and bytes, and first/last times, must be identical.

. "$(dirname "$0")/lib/ingest.sh"

if ! command -v pmacctd >/dev/null; then
    echo "not ok - pmacctd is not installed (make deps-test)"
    exit 1
fi
"$B/tools/mkpcap" "$T/traffic.pcap" --hosts 300 --flows 3000 --seed 2 \
    2>/dev/null
CAP_IDLE_MS=1500

pmacct_case() { # name nfprobe_version ipfix|netflow
    name=$1 version=$2 kind=$3
    capture_udp "$T/$name.pcap"
    cat >"$T/pmacctd.conf" <<EOF
daemonize: false
pidfile: $T/pmacctd.pid
pcap_savefile: $T/traffic.pcap
plugins: nfprobe
nfprobe_receiver: 127.0.0.1:$CAP_PORT
nfprobe_version: $version
aggregate: src_host, dst_host, src_port, dst_port, proto, tos
EOF
    timeout 60 pmacctd -f "$T/pmacctd.conf" >"$T/pmacctd.log" 2>&1
    capture_wait 2>/dev/null
    flowsql_start 1200 || return
    oracle_start
    if [ "$kind" = ipfix ]; then port=$FS_IPFIX_PORT; else port=$FS_NETFLOW_PORT; fi
    replay_to_both "$T/$name.pcap" "$port"
    flowsql_result >"$T/$name.fs"
    oracle_result >"$T/$name.nf"
    same "$T/$name.fs" "$T/$name.nf" "pmacctd nfprobe $name"
    flowsql_times >"$T/$name.fst"
    oracle_times >"$T/$name.nft"
    same "$T/$name.fst" "$T/$name.nft" "pmacctd nfprobe $name: first/last times" \
        "every first and last ms"
    clean_counters "pmacctd nfprobe $name"
}

pmacct_case ipfix      10 ipfix
pmacct_case netflow-v9 9  netflow
