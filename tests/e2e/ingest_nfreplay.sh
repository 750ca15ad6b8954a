#!/bin/sh
# ingest_nfreplay.sh - nfreplay (Debian package nfdump) replays stored
# flows as NetFlow v9 and v5. The stored flows come from flowgen through
# nfcapd; nfreplay's export is captured once and replayed to flowsql and
# to a fresh nfcapd. Per-source flows, packets, bytes and first/last times
# must be identical, and equal to what flowgen says it generated.

. "$(dirname "$0")/lib/ingest.sh"

if ! command -v nfreplay >/dev/null; then
    echo "not ok - nfreplay is not installed (make deps-test)"
    exit 1
fi

# 1. stored flows: flowgen -> nfcapd
oracle_start
"$B/flowgen" --udp "127.0.0.1:$NF_PORT" --flows 20000 --sources 400 \
    --rate 20000 --seed 7 --per-source "$T/flowgen.src" 2>/dev/null
sleep 0.5
stop_pid "$NF_PID"
mv "$T/nf" "$T/stored"
sort "$T/flowgen.src" >"$T/truth"

CAP_IDLE_MS=1500
nfreplay_case() { # name version
    name=$1 version=$2
    capture_udp "$T/$name.pcap"
    nfreplay -r "$(ls "$T"/stored/nfcapd.* | head -1)" -H 127.0.0.1 \
        -p "$CAP_PORT" -v "$version" -d 200 >"$T/nfreplay.log" 2>&1
    capture_wait 2>/dev/null
    flowsql_start 1200 || return
    oracle_start
    replay_to_both "$T/$name.pcap" "$FS_NETFLOW_PORT"
    flowsql_result >"$T/$name.fs"
    oracle_result >"$T/$name.nf"
    same "$T/$name.fs" "$T/$name.nf" "nfreplay $name"
    same "$T/$name.fs" "$T/truth" "nfreplay $name: as flowgen generated"
    if [ "$version" = 9 ]; then
        # v5 keeps only seconds of uptime resolution in nfdump's own
        # translation; v9 times must agree to the ms
        flowsql_times >"$T/$name.fst"
        oracle_times >"$T/$name.nft"
        same "$T/$name.fst" "$T/$name.nft" "nfreplay $name: first/last times" \
            "every first and last ms"
    fi
    clean_counters "nfreplay $name"
}

nfreplay_case netflow-v9 9
nfreplay_case netflow-v5 5
