#!/bin/sh
# ingest_captures.sh - decode real exporter captures (tests/data/exports,
# see its README) and compare every record, field by field, with tshark's
# cflow dissector (tests/e2e/lib/cflow_records.py).
#
# Each case replays the UDP payloads of its captures, in order, through
# loopback into the ingest (ingest_agg --pcap) and prints the records;
# tshark reads the same captures (templates and data concatenated, so it
# can decode the data).

top=$(cd "$(dirname "$0")/../.." && pwd)
B=${FLOWSQL_BUILD:-$top/build}
D=$top/tests/data/exports
tmp=$(mktemp -d /tmp/flowsql-captures.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
# Real device data through the sanitizer build too, when there is one.
AGGS="$B/tools/ingest_agg"
ASAN=$top/build/asan/tools/ingest_agg
if [ -x "$ASAN" ] && [ "$ASAN" != "$B/tools/ingest_agg" ]; then
    AGGS="$AGGS $ASAN"
fi

check_case() { # name capture...
    name=$1; shift
    files=""
    for f in "$@"; do files="$files $D/$f"; done
    # shellcheck disable=SC2086
    mergecap -a -F pcap -w "$tmp/$name.pcap" $files 2>/dev/null
    python3 "$top/tests/e2e/lib/cflow_records.py" "$tmp/$name.pcap" \
        >"$tmp/$name.tshark" 2>"$tmp/$name.err"
    n=$(wc -l <"$tmp/$name.tshark")
    for agg in $AGGS; do
        case $agg in *asan*) label="$name, sanitizers" ;; *) label=$name ;; esac
        # shellcheck disable=SC2086
        "$agg" --records --idle-ms 300 --stats --pcap $files \
            2>"$tmp/$name.stats" | cut -f1-20 >"$tmp/$name.ours"
        if [ "$n" -gt 0 ] && cmp -s "$tmp/$name.ours" "$tmp/$name.tshark" &&
           ! grep -q 'decode_errors [1-9]' "$tmp/$name.stats" &&
           ! grep -q 'ERROR' "$tmp/$name.stats"; then
            echo "ok - captures: $label ($n records match tshark)"
        else
            echo "not ok - captures: $label"
            echo "# ours vs tshark:" >&2
            diff "$tmp/$name.ours" "$tmp/$name.tshark" | head -20 >&2
            cat "$tmp/$name.stats" "$tmp/$name.err" >&2
        fi
    done
}

check_case v9-cisco           template.pcap data.pcap
check_case v9-options-inline  data+templates.pcap
check_case v9-sampling-rate   samplingrate-template.pcap samplingrate-data.pcap
check_case v9-icmp-v4-v6      icmp-template.pcap icmp-data.pcap
check_case v5                 nfv5.pcap
check_case ipfix-biflow       ipfixprobe-templates.pcap ipfixprobe-data.pcap
check_case ipfix-datalink     datalink-template.pcap datalink-data.pcap
check_case ipfix-mpls-v6      mpls.pcap
check_case ipfix-phys-sampling physicalinterfaces.pcap

# Custom element fields (engine/xfield.h, built-in definitions): the
# records' first 20 columns, then the fields, against tshark's values.
check_fields() { # name fields capture...
    name=$1; fields=$2; shift 2
    files=""
    for f in "$@"; do files="$files $D/$f"; done
    # shellcheck disable=SC2086
    mergecap -a -F pcap -w "$tmp/$name.pcap" $files 2>/dev/null
    CFLOW_EXTRA=$fields python3 "$top/tests/e2e/lib/cflow_records.py" \
        "$tmp/$name.pcap" >"$tmp/$name.tshark" 2>"$tmp/$name.err"
    n=$(wc -l <"$tmp/$name.tshark")
    for agg in $AGGS; do
        case $agg in *asan*) label="$name, sanitizers" ;; *) label=$name ;; esac
        # shellcheck disable=SC2086
        "$agg" --records --idle-ms 300 --stats --fields "$fields" \
            --pcap $files 2>"$tmp/$name.stats" >"$tmp/$name.ours"
        if [ "$n" -gt 0 ] && cmp -s "$tmp/$name.ours" "$tmp/$name.tshark" &&
           ! grep -q 'ERROR' "$tmp/$name.stats"; then
            echo "ok - captures: $label, $fields ($n records match tshark)"
        else
            echo "not ok - captures: $label, $fields"
            diff "$tmp/$name.ours" "$tmp/$name.tshark" | head -20 >&2
            cat "$tmp/$name.stats" "$tmp/$name.err" >&2
        fi
    done
}
check_fields ipfix-macs  src_mac,dst_mac,mpls_label1 \
    ipfixprobe-templates.pcap ipfixprobe-data.pcap
check_fields ipfix-mpls-labels mpls_label1,mpls_label2,mpls_label3,src_mac \
    mpls.pcap

# Crafted ipfixprobe-style DNS flows (tests/e2e/lib/dnsflows.py): CESNET
# 8057/2 DNS_NAME (variable length, one of 300 bytes), 8057/1, 8057/3,
# and plain flows, against tshark's raw enterprise octets.
python3 "$top/tests/e2e/lib/dnsflows.py" --pcap "$tmp/dns.pcap"
n=$(CFLOW_EXTRA=ent1:string,ent2:int,ent3:int \
    python3 "$top/tests/e2e/lib/cflow_records.py" "$tmp/dns.pcap" |
    tee "$tmp/dns.tshark" | wc -l)
for agg in $AGGS; do
    case $agg in *asan*) label="crafted DNS, sanitizers" ;; *) label="crafted DNS" ;; esac
    "$agg" --records --idle-ms 300 --fields dns_qname,dns_rcode,dns_qtype \
        --pcap "$tmp/dns.pcap" >"$tmp/dns.ours" 2>"$tmp/dns.stats"
    if [ "$n" -eq 122 ] && cmp -s "$tmp/dns.ours" "$tmp/dns.tshark"; then
        echo "ok - captures: $label, dns_qname/dns_rcode/dns_qtype ($n records match tshark)"
    else
        echo "not ok - captures: $label"
        diff "$tmp/dns.ours" "$tmp/dns.tshark" | head -10 >&2
    fi
done

# An options-only pair: no flow records, and no errors either.
"$B/tools/ingest_agg" --records --idle-ms 300 --stats \
    --pcap "$D/options-template.pcap" "$D/options-data.pcap" \
    >"$tmp/opt.ours" 2>"$tmp/opt.stats"
if [ ! -s "$tmp/opt.ours" ] && grep -q 'messages 2 records 0 ' "$tmp/opt.stats" &&
   grep -q 'decode_errors 0 unknown_tmpl 0' "$tmp/opt.stats"; then
    echo "ok - captures: v9-options-only (no records, no errors)"
else
    echo "not ok - captures: v9-options-only"
    cat "$tmp/opt.ours" "$tmp/opt.stats" >&2
fi
