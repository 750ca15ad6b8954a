#!/bin/sh
# ingest_sflow.sh - the sFlow collector of flowsqld against a real sFlow
# collector, sfacctd (pmacct), on the real switch captures of
# tests/data/sflow: the same datagrams (tests/tools/replay) go to both;
# flowsqld's archive, asked per source address for packets and bytes,
# must give sfacctd's print plugin's numbers (aggregate src_host), with
# renormalization off in both and then on in both. And /metrics: each
# agent address (not the UDP sender, 127.0.0.1) is the exporter, its
# sub-agents the domains, with tshark's count of samples and datagrams.
#
# One difference is known and checked as such: a sample that carries both
# a sampled header and a sampled IPv4 record (data-sflow-ipv4-data.pcap,
# source 50.50.50.50) counts, in sfacctd, the IPv4 record's IP length
# (1344); flowsql counts the frame length (1390) of the header, as it
# does for every other sample and as sfacctd does for the samples with
# a header alone (docs/INGEST.md, "sFlow").

. "$(dirname "$0")/lib.sh"
D=$(pwd)/tests/data/sflow
mergecap -a -F pcap -w "$T/all.pcap" "$D"/*.pcap 2>/dev/null
python3 tests/e2e/lib/sflow_records.py "$T/all.pcap" >"$T/tshark" 2>"$T/tshark.err"
NREC=$(wc -l <"$T/tshark")
eq "tshark reads 14 flow samples in the captures" "$NREC" 14

udp_port() {
    python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# sfacctd RENORM(true|false) OUT: per source "src packets bytes", sorted
sfacctd_run() {
    port=$(udp_port)
    cat >"$T/sf.conf" <<EOF
daemonize: false
sfacctd_ip: 127.0.0.1
sfacctd_port: $port
sfacctd_renormalize: $1
plugins: print
aggregate: src_host
print_output: csv
print_output_file: $T/sf.csv
print_refresh_time: 3600
logfile: $T/sf.log
pidfile: $T/sf.pid
EOF
    rm -f "$T/sf.csv" "$T/sf.log"
    sfacctd -f "$T/sf.conf" &
    sp=$!
    PIDS="$PIDS $sp"
    wait_until 10 grep -q 'waiting for sFlow data' "$T/sf.log"
    "$B/tools/replay" "$T/all.pcap" --to "127.0.0.1:$port" >/dev/null 2>&1
    sleep 1
    kill -INT "$sp"             # the print plugin writes its cache on exit
    wait "$sp" 2>/dev/null
    tail -n +2 "$T/sf.csv" | tr ',' ' ' | sort >"$2"
}

# flowsqld LABEL ARGS...: per source "src packets bytes" in $T/LABEL.rows
flowsqld_run() {
    label=$1; shift
    start_flowsqld --listen 127.0.0.1 --archive-flush 1s \
        --data-dir "$T/$label" "$@" || { fail "$label: flowsqld starts"; return 1; }
    "$B/tools/replay" "$T/all.pcap" --to "127.0.0.1:$SFLOW" >/dev/null 2>&1
    body='{"sql": "SELECT count(*) FROM flows"}'
    wait_until 20 sh -c "curl -s -d '$body' http://$HTTP/api/v1/sql | jq -e '.rows[0][0] == $NREC'" ||
        fail "$label: the archive holds the $NREC records"
    curl -s -d '{"sql": "SELECT srcip, sum(packets), sum(bytes) FROM flows GROUP BY srcip"}' \
        "http://$HTTP/api/v1/sql" |
        jq -r '.rows[] | map(tostring) | join(" ")' | sort >"$T/$label.rows"
    curl -s "http://$HTTP/metrics" >"$T/$label.metrics"
    stop_flowsqld
    eq "$label: flowsqld stopped cleanly" "$STATUS" 0
}

# The known difference (see above), per renormalization factor.
known() { # factor
    awk -v f="$1" '$1 == "50.50.50.50" { $3 = $3 - 46 * f } { print }'
}

for mode in off on; do
    if [ $mode = off ]; then renorm=false; f=1; else renorm=true; f=256; fi
    sfacctd_run $renorm "$T/sfacctd.$mode"
    check "$mode: sfacctd saw every source" test "$(wc -l <"$T/sfacctd.$mode")" -ge 8
    flowsqld_run "$mode" --renormalize $mode
    got=$(known $f <"$T/$mode.rows")
    eq "$mode: per source packets and bytes = sfacctd's" "$got" "$(cat "$T/sfacctd.$mode")"
    raw=$(awk '$1 == "50.50.50.50" {print $3}' "$T/$mode.rows")
    eq "$mode: 50.50.50.50 counts the frame length" "$raw" $((1390 * f))
done

# /metrics: records and datagrams per agent and sub-agent, as tshark reads
# them; the UDP sender (127.0.0.1 for every datagram) is no exporter.
want=$(awk -F'\t' '{ n[$21 " " $18]++ } END { for (k in n) print k, n[k] }' \
    "$T/tshark" | sort)
got=$(sed -n 's/^flowsql_ingest_records_total{exporter="\([^"]*\)",domain="\([0-9]*\)"} \([0-9]*\)$/\1 \2 \3/p' \
    "$T/off.metrics" | sort)
eq "metrics: records per agent and sub-agent" "$got" "$want"
dgrams=$(tshark -r "$T/all.pcap" -T fields -e sflow_245.agent -e sflow_245.sub_agent_id 2>/dev/null |
    awk '{ n[$1 " " $2]++ } END { for (k in n) print k, n[k] }' | sort)
got=$(sed -n 's/^flowsql_ingest_messages_total{exporter="\([^"]*\)",domain="\([0-9]*\)"} \([0-9]*\)$/\1 \2 \3/p' \
    "$T/off.metrics" | sort)
eq "metrics: datagrams per agent and sub-agent" "$got" "$dgrams"
check "metrics: no decode errors" sh -c \
    "! grep -q '^flowsql_ingest_decode_errors_total.* [1-9]' '$T/off.metrics'"
check "metrics: sFlow counter samples are a metric" \
    grep -q '^# TYPE flowsql_ingest_sflow_stats_samples_total counter' "$T/off.metrics"

# Garbage and a counter sample, live: counted, never a crash.
start_flowsqld --listen 127.0.0.1 || fail "garbage: flowsqld starts"
python3 - "$SFLOW" <<'EOF'
import socket, struct, sys
port = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
def send(b): s.sendto(b, ("127.0.0.1", port))
hdr = lambda n: struct.pack(">IIIIIII", 5, 1, 0xc0000209, 3, 1, 1000, n)
counters = struct.pack(">II", 2, 24) + struct.pack(">III", 1, 1, 1) + \
    struct.pack(">II", 1, 4) + b"\0\0\0\0"
send(hdr(1) + counters)                       # a counter sample
send(hdr(1) + counters[:20])                  # cut inside the sample
send(hdr(0x7fffffff) + counters)              # a sample count that lies
send(b"\0\0\0\5\0\0\0\1")                     # a header cut short
send(b"\0\0\0\4" + b"\0" * 40)                # another version
EOF
wait_until 5 sh -c "curl -s http://$HTTP/metrics | grep -q 'decode_errors_total{exporter=\"192.0.2.9\",domain=\"3\"} 2'"
m=$(curl -s "http://$HTTP/metrics")
eq "garbage: 2 malformed datagrams of agent 192.0.2.9 counted there" \
    "$(echo "$m" | grep -c 'decode_errors_total{exporter="192.0.2.9",domain="3"} 2')" 1
eq "garbage: 2 without a plausible header counted on the sender" \
    "$(echo "$m" | grep -c 'decode_errors_total{exporter="127.0.0.1",domain="0"} 2')" 1
eq "garbage: the counter sample counted for its agent" \
    "$(echo "$m" | grep -c 'sflow_stats_samples_total{exporter="192.0.2.9",domain="3"} 1')" 1
eq "garbage: and for its interface" \
    "$(echo "$m" | grep -c 'sflow_interface_stats_samples_total{exporter="192.0.2.9",ifindex="1"} 1')" 1
stop_flowsqld
eq "garbage: flowsqld stopped cleanly" "$STATUS" 0

[ "$FAILED" -eq 0 ]
