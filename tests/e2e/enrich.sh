#!/bin/sh
# enrich.sh - the enriched fields and anonymization through the daemon.
#
# MaxMind DBs written here by tests/tools/mkmmdb.pl (Debian's
# libmaxmind-db-writer-perl; no downloaded database) and CSV files of
# networks, exporters and interfaces; flowgen's flows (sources
# 10.0.0.0 + n, destinations 172.16.0.0 + n, ingress 1 + (src & 3)).
#   - a replayed file: per-country flow counts equal flowgen's per-source
#     counts mapped by the database; the address fields have their values
#     (a file has no exporter address: exporter and interface names are
#     checked live);
#   - IPv6 flows: country, AS and network of 2001:db8::/64;
#   - live: a registered query over UDP flows while the country database
#     is replaced and SIGHUP sent: no flow lost, both countries stored,
#     reload counted in /metrics; a bad file on SIGHUP keeps the old one;
#   - the archive: the same fields, looked up as it is read;
#   - --anonymize cryptopan, scope store: the stored address is the
#     Crypto-PAn reference's (128.11.68.132 -> 135.242.180.132), the
#     country is the real address's, the archive keeps the real address;
#     truncation with scope all reaches the archive too.
. "$(dirname "$0")/lib.sh"

for c in perl jq curl; do
    command -v $c >/dev/null || { echo "not ok - $c missing (make deps-test)"; exit 1; }
done
perl -MMaxMind::DB::Writer::Tree -e 1 2>/dev/null ||
    { echo "not ok - libmaxmind-db-writer-perl missing (make deps-test)"; exit 1; }

MK="perl $(pwd)/tests/tools/mkmmdb.pl"
E=$T/enrich
mkdir -p "$E/replay"
geo() { # file, the country of 10.0.0.0/25
    printf '10.0.0.0/25\t{"country":{"iso_code":"%s"}}\n10.0.0.128/25\t{"country":{"iso_code":"DE"}}\n172.16.0.0/16\t{"country":{"iso_code":"FR"}}\n128.11.0.0/16\t{"country":{"iso_code":"NL"}}\n2001:db8::/64\t{"country":{"iso_code":"JP"}}\n' "$2" |
        $MK "$1" GeoLite2-Country
}
geo "$E/geo.mmdb" US
printf '10.0.0.0/24\t{"autonomous_system_number":64500,"autonomous_system_organization":"Example Net A"}\n2001:db8::/32\t{"autonomous_system_number":64502,"autonomous_system_organization":"V6 Net"}\n' |
    $MK "$E/asn.mmdb" GeoLite2-ASN
printf '10.0.0.0/8,corp\n10.0.0.0/26,customer-a\n172.16.0.0/12,dmz\n2001:db8::/32,v6-lab\n' >"$E/nets.csv"
printf '127.0.0.1,edge-1\n' >"$E/exporters.csv"
printf '127.0.0.1,1,xe-0/0/1\n127.0.0.1,2,xe-0/0/2\n127.0.0.1,10,ae0\n' >"$E/ifs.csv"
ENRICH="--geoip-db $E/geo.mmdb --asn-db $E/asn.mmdb --network-names $E/nets.csv --exporter-names $E/exporters.csv --interface-names $E/ifs.csv"

"$B/flowgen" --file "$E/replay/flows.ipfix" --flows 3000 --sources 300 \
    --dests 50 --seed 7 --per-source "$E/per_source.txt" 2>/dev/null
"$B/flowgen" --file "$E/replay/v6.ipfix" --flows 200 --sources 20 --ipv6 \
    --seed 8 2>/dev/null

sqlq() { api POST /api/v1/sql "$(jq -cn --arg s "$1" '{sql: $s}')" | jq -c '.rows[]'; }
replay() { # file sql -> the rows as JSON lines
    api POST /api/v1/replay "$(jq -cn --arg s "$2" --arg f "$1" '{sql: $s, file: $f}')" |
        jq -c '.windows[].rows[]'
}

# --- a replayed file ---------------------------------------------------------
start_flowsqld $ENRICH --replay-dir "$E/replay" || exit 1
replay flows.ipfix "SELECT srccountry, count(*) AS flows FROM flows GROUP BY srccountry" |
    jq -r '"\(.srccountry) \(.flows)"' | sort >"$T/got"
awk '{ split($1, o, "."); n = o[3] * 256 + o[4];
       c = n < 128 ? "US" : n < 256 ? "DE" : "";
       f[c] += $2 } END { for (c in f) print c, f[c] }' "$E/per_source.txt" |
    sort >"$T/want"
check "flows per srccountry equal flowgen's per-source counts by the database" \
    cmp -s "$T/got" "$T/want"
[ -s "$T/got" ] || fail "  (no rows)"
eq "three groups: US, DE and the miss ''" "$(wc -l <"$T/got")" 3

replay flows.ipfix "SELECT srcip, srccountry, dstcountry, srcasn, dstasn, srcasname, srcnet_name, dstnet_name, exporter_name, in_ifname, out_ifname, ingress, egress FROM flows WHERE srcip IN (10.0.0.5, 10.0.0.70, 10.0.0.200, 10.0.1.20) LIMIT 100000" \
    >"$T/rows"
row() { jq -r --arg ip "$1" "select(.srcip == \$ip) | $2" "$T/rows" | sort -u | head -1; }
eq "10.0.0.5: srccountry US" "$(row 10.0.0.5 .srccountry)" US
eq "10.0.0.200: srccountry DE" "$(row 10.0.0.200 .srccountry)" DE
eq "10.0.1.20: not in the database, ''" "$(row 10.0.1.20 .srccountry)" ""
eq "dstcountry FR" "$(row 10.0.0.5 .dstcountry)" FR
eq "srcasn from the database (the exporter sent 0)" "$(row 10.0.0.5 .srcasn)" 64500
eq "srcasn 0 outside it" "$(row 10.0.1.20 .srcasn)" 0
eq "dstasn 0: not in the ASN database" "$(row 10.0.0.5 .dstasn)" 0
eq "srcasname" "$(row 10.0.0.5 .srcasname)" "Example Net A"
eq "srcnet_name: the longest prefix" "$(row 10.0.0.5 .srcnet_name)" customer-a
eq "srcnet_name: the shorter one outside it" "$(row 10.0.0.70 .srcnet_name)" corp
eq "dstnet_name" "$(row 10.0.0.5 .dstnet_name)" dmz

got=$(replay flows.ipfix "SELECT count(*) AS flows FROM flows WHERE srccountry = 'US' AND srcnet_name = 'customer-a'" | jq -r .flows)
want=$(awk '{ split($1, o, "."); if (o[3] == 0 && o[4] < 64) s += $2 } END { print s }' "$E/per_source.txt")
eq "WHERE on enriched strings: flows of a customer's prefix" "$got" "$want"

replay v6.ipfix "SELECT srccountry, srcasn, srcasname, srcnet_name, count(*) AS flows FROM flows GROUP BY srccountry, srcasn, srcasname, srcnet_name" >"$T/v6"
eq "IPv6: one group, JP / 64502 / V6 Net / v6-lab, every flow" \
   "$(jq -r '"\(.srccountry) \(.srcasn) \(.srcasname) \(.srcnet_name) \(.flows)"' "$T/v6")" \
   "JP 64502 V6 Net v6-lab 200"
stop_flowsqld

# --- live, with a reload in the middle ---------------------------------------
mkdir -p "$T/q"
echo "CREATE QUERY geo AS SELECT srccountry, exporter_name, ingress, in_ifname, egress, out_ifname, count(*) AS flows FROM flows WINDOW 1s GROUP BY srccountry, exporter_name, ingress, in_ifname, egress, out_ifname" >"$T/q/geo.sql"
QUERIES_DIR=$T/q start_flowsqld $ENRICH --archive-flush 1s || exit 1
"$B/flowgen" --udp "127.0.0.1:$IPFIX" --flows 20000 --rate 4000 --sources 128 \
    --seed 9 --now 2>/dev/null &
GEN=$!
PIDS="$PIDS $GEN"
sleep 2
geo "$E/geo.new" CA
mv "$E/geo.new" "$E/geo.mmdb"
kill -HUP "$FLOWSQLD"
wait "$GEN"
sleep 2.5
total=$(sqlq "SELECT sum(flows) FROM geo" | jq -r '.[0]')
eq "live: every flow counted across the reload" "$total" 20000
ctries=$(sqlq "SELECT DISTINCT srccountry FROM geo ORDER BY 1" | jq -r '.[0]' | tr '\n' ' ')
eq "live: US before the SIGHUP, CA after" "$ctries" "CA US "
eq "live: exporter_name stored as text" \
   "$(sqlq "SELECT DISTINCT exporter_name FROM geo" | jq -r '.[0]')" edge-1
eq "live: in_ifname per ingress (1 + (src & 3); 3, 4 not in the file)" \
   "$(sqlq "SELECT DISTINCT ingress, in_ifname FROM geo ORDER BY 1" | jq -r 'join(":")' | tr '\n' ' ')" \
   "1:xe-0/0/1 2:xe-0/0/2 3: 4: "
eq "live: out_ifname per egress (10 + (dst & 3))" \
   "$(sqlq "SELECT DISTINCT egress, out_ifname FROM geo ORDER BY 1" | jq -r 'join(":")' | tr '\n' ' ')" \
   "10:ae0 11: 12: 13: "
curl -s "http://$HTTP/metrics" >"$T/metrics"
eq "flowsql_enrich_reloads_total 2 (start, SIGHUP)" \
   "$(awk '$1 == "flowsql_enrich_reloads_total" { print $2 }' "$T/metrics")" 2
check "flowsql_enrich_lookups_total counts" \
   awk '$1 == "flowsql_enrich_lookups_total" && $2 >= 20000 { ok = 1 } END { exit !ok }' "$T/metrics"
# A bad file on SIGHUP: refused, logged, the old one stays.
echo "garbage" >"$E/geo.mmdb"
kill -HUP "$FLOWSQLD"
wait_until 5 grep -q 'enrichment not reloaded' "$T/flowsqld.log"
check "a bad database on SIGHUP is logged and refused" grep -q 'enrichment not reloaded.*--geoip-db' "$T/flowsqld.log"
curl -s "http://$HTTP/metrics" >"$T/metrics"
eq "flowsql_enrich_reload_errors_total 1" \
   "$(awk '$1 == "flowsql_enrich_reload_errors_total" { print $2 }' "$T/metrics")" 1

# The archive: enriched as it is read (the CA database is current).
sleep 1.5
eq "archive: the enriched field of every archived flow" \
   "$(sqlq "SELECT srccountry, count(*) AS flows FROM flows LAST 1h GROUP BY srccountry" | jq -r 'join(" ")')" "CA 20000"
# A history run of geo over the archive: enriched as it is read, like
# the live run (the archive keeps no enriched field).
now=$(date +%s%3N)
api POST /api/v1/queries/geo/history "{\"from\": $((now - 3600000)), \"until\": $now}" >/dev/null
hjob=$(jq -r .id "$T/body") htab=$(jq -r .table "$T/body")
wait_until 60 sh -c "curl -s http://$HTTP/api/v1/jobs/$hjob | jq -e '.state != \"running\"'"
eq "history: the job ends done" "$(curl -s "http://$HTTP/api/v1/jobs/$hjob" | jq -r .state)" done
eq "history: its windows carry the enriched field (CA, as the archive is read now)" \
   "$(sqlq "SELECT srccountry, sum(flows) FROM $htab GROUP BY srccountry" | jq -r 'join(" ")')" "CA 20000"
stop_flowsqld
geo "$E/geo.mmdb" US

# --- anonymization ---------------------------------------------------------
# The Crypto-PAn reference's sample key and one of its pairs.
perl -e 'print pack("C*", 21,34,23,141,51,164,207,128,19,10,91,22,73,144,125,16,216,152,143,131,121,121,101,39,98,87,76,45,42,132,34,2)' >"$E/key"
echo "CREATE QUERY who AS SELECT srcip, srccountry, count(*) AS flows FROM flows WINDOW 1s GROUP BY srcip, srccountry" >"$T/q/who.sql"
rm -f "$T/q/geo.sql"
rm -rf "$T/run/data"
QUERIES_DIR=$T/q start_flowsqld $ENRICH --archive-flush 1s --anonymize cryptopan \
    --anonymize-key "$E/key" --anonymize-scope store || exit 1
"$B/flowgen" --udp "127.0.0.1:$IPFIX" --flows 500 --sources 1 --src-base 128.11.68.132 \
    --seed 10 --now 2>/dev/null
sleep 2.5
eq "store: srcip as the Crypto-PAn reference maps it, country of the real one" \
   "$(sqlq "SELECT srcip, srccountry, sum(flows) FROM who GROUP BY 1, 2" | jq -r 'join(" ")')" \
   "135.242.180.132 NL 500"
eq "archive (not in the scope): the real address" \
   "$(sqlq "SELECT srcip, count(*) AS flows FROM flows LAST 1h GROUP BY srcip" | jq -r 'join(" ")')" "128.11.68.132 500"
stop_flowsqld

rm -rf "$T/run/data"
QUERIES_DIR=$T/q start_flowsqld --archive-flush 1s --anonymize truncate \
    --anonymize-truncate 16,48 || exit 1
"$B/flowgen" --udp "127.0.0.1:$IPFIX" --flows 300 --sources 1 --src-base 128.11.68.132 \
    --seed 11 --now 2>/dev/null
sleep 2.5
eq "truncate, scope all: stored" \
   "$(sqlq "SELECT srcip, sum(flows) FROM who GROUP BY 1" | jq -r 'join(" ")')" "128.11.0.0 300"
eq "truncate, scope all: archived" \
   "$(sqlq "SELECT srcip, count(*) AS flows FROM flows LAST 1h GROUP BY srcip" | jq -r 'join(" ")')" "128.11.0.0 300"
stop_flowsqld

# Bad settings are refused with a message.
"$B/flowsqld" --http off --anonymize cryptopan --data-dir "$T/bad" 2>"$T/err1"
check "cryptopan without a key: refused, says --anonymize-key" grep -q -- '--anonymize-key' "$T/err1"
"$B/flowsqld" --http off --anonymize-scope disk --anonymize truncate --data-dir "$T/bad" 2>"$T/err2"
check "an unknown scope: refused, named" grep -q "'disk' is not" "$T/err2"
"$B/flowsqld" --http off --geoip-db "$T/none.mmdb" --data-dir "$T/bad" 2>"$T/err3"
check "a missing database: refused, named" grep -q -- "--geoip-db: cannot open $T/none.mmdb" "$T/err3"
exit 0
