#!/bin/sh
# sampling.sh - sampling renormalization and configured rates, on real
# exporters' captures (tests/data/exports): a Cisco NetFlow v9 export that
# announces 1-in-2048 sampling in its options data, and a NetFlow v5
# export that announces none. The same datagrams go to three daemons:
#   off                              counters as exported
#   --renormalize on                 the v9 records' packets and bytes
#                                    x 2048, the v5 records as sent
#   --renormalize on --sampling-rate the v5 records take the configured
#                                    rate and are scaled by it; the v9
#                                    records keep their announced 2048
# Each answer is compared with tshark's reading of the captures (the
# sums of its packets and bytes per sampling rate, times the rate), and
# with the /metrics counters.

. "$(dirname "$0")/lib.sh"
D=$(pwd)/tests/data/exports
V9="$D/samplingrate-template.pcap $D/samplingrate-data.pcap"
V5="$D/nfv5.pcap"

# tshark's records: "sampling packets bytes" sums per announced rate.
# One capture, so the replay sends every datagram from one socket (one
# exporter session: the templates hold for the data).
mergecap -a -F pcap -w "$T/all.pcap" $V9 $V5 2>/dev/null
python3 tests/e2e/lib/cflow_records.py "$T/all.pcap" >"$T/tshark" 2>"$T/tshark.err"
oracle() { # rate-for-unsampled scale(0|1): "sampling count packets bytes" lines
    awk -F'\t' -v cfg="$1" -v scale="$2" '{
        s = $19; if (s == 0 && cfg > 0) s = cfg
        m = (scale && s > 1) ? s : 1
        n[s]++; p[s] += $6 * m; b[s] += $7 * m
    } END { for (s in n) print s, n[s], p[s], b[s] }' "$T/tshark" | sort -n
}
eq "tshark reads 6 sampled v9 records and 29 v5 records" \
    "$(awk -F'\t' '{print $19}' "$T/tshark" | sort | uniq -c | awk '{print $2 ":" $1}' | tr '\n' ' ')" \
    "0:29 2048:6 "

run() { # label flowsqld-args...: "sampling count packets bytes" lines
       # in $T/label.rows, the sampling metrics in $T/label.metrics
    label=$1; shift
    start_flowsqld --listen 127.0.0.1 --archive-flush 1s \
        --data-dir "$T/$label" "$@" || { fail "$label: flowsqld starts"; return 1; }
    "$B/tools/replay" "$T/all.pcap" --to "127.0.0.1:$NETFLOW" >/dev/null 2>&1
    body='{"sql": "SELECT count(*) FROM flows"}'
    wait_until 20 sh -c "curl -s -d '$body' http://$HTTP/api/v1/sql | jq -e '.rows[0][0] == 35'" ||
        fail "$label: the archive holds the 35 records"
    curl -s -d '{"sql": "SELECT sampling, count(*), sum(packets), sum(bytes) FROM flows GROUP BY sampling ORDER BY sampling"}' \
        "http://$HTTP/api/v1/sql" | jq -r '.rows[] | map(tostring) | join(" ")' >"$T/$label.rows"
    curl -s "http://$HTTP/metrics" | grep '^flowsql_sampling_' | sort >"$T/$label.metrics"
    stop_flowsqld
}

run off
got=$(cat "$T/off.rows")
eq "off: counters as exported (archive = tshark)" "$got" "$(oracle 0 0)"
eq "off: nothing filled or scaled" "$(cat "$T/off.metrics")" \
"flowsql_sampling_filled_total 0
flowsql_sampling_renormalized_total 0
flowsql_sampling_saturated_total 0"

run on --renormalize on
got=$(cat "$T/on.rows")
eq "on: sampled records x 2048, unsampled as sent" "$got" "$(oracle 0 1)"
eq "on: 6 renormalized" "$(grep renormalized "$T/on.metrics")" \
    "flowsql_sampling_renormalized_total 6"
# The scaling is real, not a relabelling: 2048 times the off run's bytes.
off_b=$(awk '$1 == 2048 {print $4}' "$T/off.rows")
on_b=$(awk '$1 == 2048 {print $4}' "$T/on.rows")
eq "on: bytes of the sampled export are 2048 x off" "$on_b" "$((off_b * 2048))"

run rate --renormalize on --sampling-rate '127.0.0.0/8=100,127.0.0.2=7'
got=$(cat "$T/rate.rows")
eq "configured rate: v5 records take 100 and are scaled, v9 keep 2048" "$got" "$(oracle 100 1)"
eq "configured rate: 29 filled, 35 renormalized" \
    "$(grep -v saturated "$T/rate.metrics")" \
"flowsql_sampling_filled_total 29
flowsql_sampling_renormalized_total 35"

# Wrong settings stop flowsqld at start with a message naming them.
for a in "--renormalize yes:--renormalize: 'yes' is not on or off" \
         "--sampling-rate 10.0.0.1=0:'0' for 10.0.0.1 is not a rate"; do
    opt=${a%%:*} msg=${a#*:}
    # shellcheck disable=SC2086
    out=$("$B/flowsqld" --http off --ipfix-port 0 --netflow-port 0 --sflow-port 0 \
        --data-dir "$T/bad" $opt 2>&1 </dev/null)
    case $out in *"$msg"*) ok "refused: $opt" ;;
        *) fail "refused: $opt" "$out" ;; esac
done
[ "$FAILED" -eq 0 ]
