#!/bin/sh
# xfields.sh - custom IPFIX elements (docs/ENRICHMENT.md, "Custom IPFIX
# elements") through the daemon, with crafted ipfixprobe-style DNS flows
# (tests/e2e/lib/dnsflows.py: 8057/2 DNS_NAME variable-length, 8057/1
# DNS_RCODE, and plain flows without them):
#   - a replayed file: SELECT dns_qname, count(*) ... WINDOW 1s GROUP BY
#     dns_qname finds every name with its count ('' for the plain flows,
#     the 300-byte name cut to 255), dns_rcode filters, LIKE / NOT LIKE,
#     lower(), count(DISTINCT dns_qname);
#   - live over UDP: a registered query stores the names; /metrics has
#     the string table's figures;
#   - --string-table-max 1: every new name reads '(other)', counted;
#   - --ipfix-elements: a custom definition renames an element; a bad
#     line stops the daemon with the file and line.
. "$(dirname "$0")/lib.sh"

for c in jq curl python3; do
    command -v $c >/dev/null || { echo "not ok - $c missing (make deps-test)"; exit 1; }
done
GEN="python3 $(pwd)/tests/e2e/lib/dnsflows.py"
mkdir -p "$T/replay"
$GEN --file "$T/replay/dns.ipfix" --expect "$T/expect"
sort "$T/expect" >"$T/expect.sorted"

replay() { # file sql -> the rows as JSON lines
    api POST /api/v1/replay "$(jq -cn --arg s "$2" --arg f "$1" '{sql: $s, file: $f}')" |
        jq -c '.windows[].rows[]'
}
sqlq() { api POST /api/v1/sql "$(jq -cn --arg s "$1" '{sql: $s}')" | jq -c '.rows[]'; }

# --- a replayed file ---------------------------------------------------------
start_flowsqld --replay-dir "$T/replay" || exit 1
replay dns.ipfix "SELECT dns_qname, count(*) AS n FROM flows WINDOW 1s GROUP BY dns_qname" |
    jq -rs 'group_by(.dns_qname)[] | "\(.[0].dns_qname) \(map(.n) | add)"' |
    sort >"$T/got"
if cmp -s "$T/got" "$T/expect.sorted"; then
    ok "replay: GROUP BY dns_qname counts every name (and '' for flows without one)"
else
    fail "replay: GROUP BY dns_qname" "$(diff "$T/got" "$T/expect.sorted" | head -5 | cut -c1-80)"
fi
got=$(replay dns.ipfix "SELECT count(*) AS n FROM flows WHERE dns_rcode = 3 WINDOW 1h" | jq -r '.n')
eq "replay: dns_rcode = 3 (NXDOMAIN) flows" "$got" 30
got=$(replay dns.ipfix "SELECT count(*) AS n FROM flows WHERE dns_qname = 'a.example.com' AND dns_qtype = 1 WINDOW 1h" | jq -r '.n')
eq "replay: dns_qname = literal" "$got" 50
got=$(replay dns.ipfix "SELECT count(*) AS n FROM flows WHERE dns_qname LIKE '%.example.com' WINDOW 1h" | jq -r '.n')
eq "replay: LIKE '%.example.com' (suffix)" "$got" 80
got=$(replay dns.ipfix "SELECT count(*) AS n FROM flows WHERE dns_qname LIKE 'b.%' WINDOW 1h" | jq -r '.n')
eq "replay: LIKE 'b.%' (prefix)" "$got" 30
got=$(replay dns.ipfix "SELECT count(*) AS n FROM flows WHERE dns_qname NOT LIKE '%example%' WINDOW 1h" | jq -r '.n')
eq "replay: NOT LIKE, case-sensitive (WWW.Example.ORG, the long name, the empty ones)" "$got" 35
got=$(replay dns.ipfix "SELECT count(*) AS n FROM flows WHERE lower(dns_qname) LIKE '%.example.org' WINDOW 1h" | jq -r '.n')
eq "replay: lower() then LIKE (WWW.Example.ORG folds)" "$got" 27
got=$(replay dns.ipfix "SELECT lower(dns_qname) AS q, count(*) AS n FROM flows WHERE dns_qname LIKE 'W%' WINDOW 1h GROUP BY lower(dns_qname)" | jq -r '"\(.q) \(.n)"')
eq "replay: GROUP BY lower(dns_qname)" "$got" "www.example.org 20"
got=$(replay dns.ipfix "SELECT count(DISTINCT dns_qname) AS d FROM flows WHERE dns_qname != '' WINDOW 1h" | jq -r '.d')
eq "replay: count(DISTINCT dns_qname)" "$got" 5
got=$(replay dns.ipfix "SELECT max(tls_sni) AS s, sum(mpls_label1) AS m FROM flows WINDOW 1h" | jq -c '[.s, .m]')
eq "replay: fields no template carries are '' and 0" "$got" '["",0]'
stop_flowsqld

# --- live over UDP: a registered query, stored names ------------------------
mkdir -p "$T/q"
echo "CREATE QUERY names AS SELECT dns_qname, count(*) AS n FROM flows WINDOW 1s GROUP BY dns_qname" >"$T/q/names.sql"
QUERIES_DIR=$T/q start_flowsqld || exit 1
$GEN --udp "127.0.0.1:$IPFIX" --now
sleep 2.5
sqlq "SELECT dns_qname, sum(n) FROM names GROUP BY dns_qname" |
    jq -r '"\(.[0]) \(.[1])"' | sort >"$T/got_live"
if cmp -s "$T/got_live" "$T/expect.sorted"; then
    ok "live: the stored windows hold every name and count"
else
    fail "live: stored names" "$(diff "$T/got_live" "$T/expect.sorted" | head -5 | cut -c1-80)"
fi
curl -s "http://$HTTP/metrics" >"$T/metrics"
check "live: /metrics flowsql_strings counts the names" \
    awk '/^flowsql_strings / { n = $2 } END { exit !(n >= 6) }' "$T/metrics"
eq "live: no overflow under the default bound" \
    "$(awk '/^flowsql_string_table_overflows_total / { print $2 }' "$T/metrics")" 0
stop_flowsqld

# --- a string table full from the start --------------------------------------
rm -rf "$T/run/data"
QUERIES_DIR=$T/q start_flowsqld --string-table-max 1 || exit 1
$GEN --udp "127.0.0.1:$IPFIX" --now
sleep 2.5
got=$(sqlq "SELECT dns_qname, sum(n) FROM names GROUP BY dns_qname ORDER BY 1" |
    jq -r '"\(.[0]) \(.[1])"' | tr '\n' ',')
eq "--string-table-max 1: new names read '(other)'" "$got" " 10,(other) 112,"
eq "--string-table-max 1: overflows counted" \
    "$(curl -s "http://$HTTP/metrics" | awk '/^flowsql_string_table_overflows_total / { print $2 }')" 112
stop_flowsqld

# --- --ipfix-elements ---------------------------------------------------------
printf '# ours\nno dns_qname\nquery_name, 8057, 2, string\n' >"$T/elems"
start_flowsqld --replay-dir "$T/replay" --ipfix-elements "$T/elems" || exit 1
got=$(replay dns.ipfix "SELECT count(*) AS n FROM flows WHERE query_name = 'b.example.com' WINDOW 1h" | jq -r '.n')
eq "--ipfix-elements: a custom name for 8057/2" "$got" 30
api POST /api/v1/replay "$(jq -cn '{sql: "SELECT dns_qname FROM flows WINDOW 1h", file: "dns.ipfix"}')" >/dev/null
eq "--ipfix-elements: the dropped built-in is no field" "$CODE" 400
stop_flowsqld

printf 'ok_name, 1, 1, integer\nbad, 1, 2, float\n' >"$T/bad"
"$B/flowsqld" --http 127.0.0.1:0 --ipfix-elements "$T/bad" --data-dir "$T/d2" \
    2>"$T/bad.err" >/dev/null
rc=$?
eq "--ipfix-elements: a bad line stops the daemon (exit 2)" "$rc" 2
check "--ipfix-elements: the error names the file and line" \
    grep -q "ipfix-elements: $T/bad:2: 'float' is not a type" "$T/bad.err"

exit $FAILED
