#!/bin/sh
# The saved queries (queries/*.sql) on crafted traffic: every detection
# fires on its attack and stays quiet on ordinary traffic of a similar
# kind and volume; the statistics give exact rows. The flows are sent as
# NetFlow v5 by tests/tools/v5craft.c to a daemon running every saved
# query; the windows are closed by a clean shutdown and read back after a
# restart through the ad hoc SQL endpoint.
. "$(dirname "$0")/lib.sh"

QUERIES_DIR=$(pwd)/queries
export QUERIES_DIR
start_flowsqld || exit 1

S=$T/spec
: >"$S"
flow() { echo "$*" >>"$S"; }

# --- scan_horizontal: one source, one port, many hosts, SYN only --------
flow 10.66.0.1 192.168.1.0 40001 445 6 S 1 44 200 d          # attack: 200 hosts
flow 10.77.0.1 192.168.2.0 40002 445 6 FSPA 12 3000 200 d    # answered sessions
flow 10.77.0.2 192.168.2.0 40003 80 6 S 1 44 40 d            # 40 hosts: below 50
# --- scan_vertical: one source, one host, many ports, SYN only ----------
flow 10.66.0.2 192.168.3.3 40004 1 6 S 1 44 300 p            # attack: 300 ports
flow 10.77.0.3 192.168.3.4 40005 1000 6 S 1 44 30 p          # 30 ports: below 50
# --- bruteforce_ssh / _rdp: many short, similar sessions -----------------
for i in $(seq 1 30); do
    flow 10.66.0.3 192.168.4.4 $((41000 + i)) 22 6 FSPA $((12 + i % 4)) $((2000 + i)) 1
    flow 10.66.0.4 192.168.4.5 $((42000 + i)) 3389 6 FSPA $((20 + i % 5)) $((5000 + i)) 1
done
for p in 10 300 1000 40 7; do                                 # real logins: few, varied
    flow 10.77.0.4 192.168.4.4 43000 22 6 FSPA $p $((p * 100)) 1
done
for i in $(seq 1 30); do                                      # many sessions, sizes all over
    flow 10.77.0.10 192.168.4.4 $((44000 + i)) 22 6 FSPA $((4 + i * 2)) $((1000 * i)) 1
done
# --- dns_amplification: many resolvers answering one victim --------------
for r in $(seq 1 20); do
    flow 203.0.113.$r 10.66.0.5 53 33000 17 . 2 3000 30       # attack: 600 from 20
done
flow 203.0.113.99 10.77.0.5 53 33001 17 . 1 120 600          # busy client, 1 resolver
for r in $(seq 1 20); do
    flow 203.0.113.$r 10.77.0.6 53 33002 17 . 1 120 5         # 100 from 20: below 500
done
# --- dns_resolvers: a resolver asked and answering; answers unasked -----
flow 10.77.1.1 203.0.113.53 33010 53 17 . 1 70 3 a           # 3 clients ask
flow 203.0.113.53 10.77.1.1 53 33010 17 . 1 300 3 d          # and get answers
flow 198.51.100.53 10.77.2.0 53 33000 17 . 1 60 40 d         # probes from port 53
# (the reflectors above answer 10.66.0.5 and 10.77.0.5/6, who never asked)
flow 10.77.1.10 10.77.0.53 33020 53 17 . 1 70 1              # an inside resolver
flow 10.77.0.53 10.77.1.10 53 33020 17 . 1 200 1
# --- dns_open_resolvers: an inside server answering the outside ----------
flow 198.51.100.1 10.77.0.54 33030 53 17 . 1 70 5 a          # 5 outside clients
flow 10.77.0.54 198.51.100.1 53 33030 17 . 1 400 5 d
# --- reflection_ddos: NTP answers converging on one host -------------------
for i in $(seq 1 20); do
    flow 192.0.2.1 10.66.0.10 123 80 17 . 10 5000 15 a        # 15 reflectors, 1.5 MB
done
flow 192.0.2.123 10.77.0.20 123 123 17 . 1 76 2 a            # a client's 2 NTP servers
flow 10.77.3.1 10.77.0.21 1900 50000 17 . 1 300 12 a          # SSDP on the LAN: small
# --- pattern_finder: a beacon of small, short connections to port 4444 ----
flow 10.66.0.11 198.51.100.44 45000 4444 6 FSPA 5 400 12     # 12 beacons
flow 10.77.0.22 198.51.100.44 45001 4444 6 FSPA 5 400 5      # 5: below 10
flow 10.77.0.23 198.51.100.45 45002 4444 6 FSPA 400 200000 12 # bulk: not the shape
# --- syn_flood: unanswered SYNs toward one host ---------------------------
flow 198.18.0.1 10.66.0.6 50000 80 6 S 1 40 1500 a            # attack: 1500, spoofed
flow 198.19.0.1 10.77.0.7 50001 80 6 FSPA 10 5000 1500 a      # 1500 real visits
# --- volumetric_dos: a packet flood toward one host ------------------------
flow 10.66.9.9 10.66.0.7 50002 9 17 . 10000 600000 200        # 2,000,000 packets
flow 10.77.9.9 10.77.0.8 50003 9 17 . 10000 600000 50         # 500,000: below
# --- blocked_ports_outbound: SMB and telnet leaving the network ------------
flow 10.66.0.8 198.51.100.8 50004 445 6 FSPA 10 2000 1        # attack: inside -> out
flow 10.66.0.9 198.51.100.9 50005 23 6 FSPA 10 2000 1         # telnet out
flow 10.77.0.11 10.77.0.12 50006 445 6 FSPA 10 2000 1         # SMB inside: fine
flow 198.51.100.10 10.77.0.13 50007 445 6 S 1 44 1            # in from outside: not ours
flow 10.77.0.14 198.51.100.11 50008 443 6 FSPA 10 2000 1      # HTTPS out: fine

TOTAL=$(awk '!/^#/ && NF >= 8 { n += (NF >= 9 ? $9 : 1) } END { print n }' "$S")
"$B/tools/v5craft" "127.0.0.1:$NETFLOW" --rate 500 <"$S" 2>"$T/craft.log"
eq "v5craft sent every flow" "$(sed -n 's/v5craft: \([0-9]*\) records/\1/p' "$T/craft.log")" "$TOTAL"
got_all() {
    curl -s "http://$HTTP/metrics" | grep -q "^flowsql_ingest_records_total{exporter=\"127.0.0.1\",domain=\"0\"} $TOTAL\$"
}
check "the daemon decoded every flow" wait_until 20 got_all

# Close every window as it stands, then read the stored windows.
stop_flowsqld
eq "clean shutdown" "$STATUS" 0
start_flowsqld || exit 1
sql() { api POST /api/v1/sql "{\"sql\":\"$1\"}" | jq -r '.rows[] | map(tostring) | join(" ")'; }

eq "scan_horizontal names the scanner only" \
   "$(sql "SELECT DISTINCT ip_text(srcip), dstport FROM scan_horizontal")" "10.66.0.1 445"
eq "scan_horizontal counts its 200 targets" \
   "$(sql "SELECT sum(attempts) FROM scan_horizontal")" 200
eq "scan_vertical names the scanner only" \
   "$(sql "SELECT DISTINCT ip_text(srcip), ip_text(dstip) FROM scan_vertical")" "10.66.0.2 192.168.3.3"
eq "bruteforce_ssh names the guesser only" \
   "$(sql "SELECT DISTINCT ip_text(srcip), ip_text(dstip) FROM bruteforce_ssh")" "10.66.0.3 192.168.4.4"
eq "bruteforce_rdp names the guesser only" \
   "$(sql "SELECT DISTINCT ip_text(srcip), ip_text(dstip) FROM bruteforce_rdp")" "10.66.0.4 192.168.4.5"
eq "dns_amplification names the victim only" \
   "$(sql "SELECT DISTINCT ip_text(target) FROM dns_amplification")" "10.66.0.5"
eq "dns_resolvers names the resolvers asked only (not reflectors, not port-53 probes)" \
   "$(sql "SELECT DISTINCT ip_text(resolver) FROM dns_resolvers ORDER BY 1")" \
   "$(printf '10.77.0.53\n203.0.113.53')"
eq "dns_resolvers counts a resolver's clients, their queries and its answers" \
   "$(sql "SELECT max(clients), sum(queries), sum(responses), sum(bytes) FROM dns_resolvers WHERE resolver = ip('203.0.113.53')")" "3 3 3 900"
eq "dns_external_resolvers names the clients of the outside resolver only" \
   "$(sql "SELECT DISTINCT ip_text(client), ip_text(resolver) FROM dns_external_resolvers ORDER BY 1")" \
   "$(printf '10.77.1.1 203.0.113.53\n10.77.1.2 203.0.113.53\n10.77.1.3 203.0.113.53')"
eq "dns_open_resolvers names the inside server answering the outside only" \
   "$(sql "SELECT DISTINCT ip_text(server) FROM dns_open_resolvers")" "10.77.0.54"
eq "dns_open_resolvers counts its outside clients and answers" \
   "$(sql "SELECT max(clients), sum(queries), sum(answers), sum(bytes) FROM dns_open_resolvers")" "5 5 5 2000"
eq "reflection_ddos names the NTP flood's target (besides the DNS one)" \
   "$(sql "SELECT DISTINCT ip_text(target), service FROM reflection_ddos WHERE target <> ip('10.66.0.5')")" "10.66.0.10 ntp"
eq "reflection_ddos counts its 15 reflectors" \
   "$(sql "SELECT max(reflectors) FROM reflection_ddos WHERE target = ip('10.66.0.10')")" 15
eq "pattern_finder names the beaconing pair only" \
   "$(sql "SELECT DISTINCT ip_text(srcip), ip_text(dstip), dstport FROM pattern_finder")" "10.66.0.11 198.51.100.44 4444"
eq "pattern_finder counts its 12 matches" \
   "$(sql "SELECT sum(matches), sum(bytes) FROM pattern_finder")" "12 4800"
eq "syn_flood names the target only" \
   "$(sql "SELECT DISTINCT ip_text(target) FROM syn_flood")" "10.66.0.6"
eq "volumetric_dos names the target only" \
   "$(sql "SELECT DISTINCT ip_text(target) FROM volumetric_dos")" "10.66.0.7"
eq "blocked_ports_outbound names the leaks only" \
   "$(sql "SELECT DISTINCT ip_text(srcip), ip_text(dstip), dstport FROM blocked_ports_outbound ORDER BY 1")" \
   "$(printf '10.66.0.8 198.51.100.8 445\n10.66.0.9 198.51.100.9 23')"

# Statistics: exact rows, summed over however many windows the run spanned.
EXPECT=$(awk '!/^#/ && NF >= 8 {
        n = (NF >= 9 ? $9 : 1); c = ($5 == 6 ? "tcp" : $5 == 17 ? "udp" : $5 == 1 ? "icmp" : "other");
        f[c] += n; p[c] += n * $7; b[c] += n * $8 }
    END { for (c in f) print c, f[c], p[c], b[c] }' "$S" | sort)
eq "protocol_stats: flows, packets and bytes per protocol" \
   "$(sql "SELECT protocol, sum(flows), sum(packets), sum(bytes) FROM protocol_stats GROUP BY protocol ORDER BY protocol")" \
   "$EXPECT"
eq "host_stats_10s: one host's profile" \
   "$(sql "SELECT sum(flows), sum(packets), sum(bytes), max(peers), max(ports), sum(syn), sum(fin), sum(rst) FROM host_stats_10s WHERE srcip = ip('10.66.0.3')")" \
   "30 405 60465 1 1 30 30 0"
eq "host_stats: only monitored sources (the default: private ranges)" \
   "$(sql "SELECT count(*) FROM host_stats_1m WHERE NOT (ip_in(srcip, '10.0.0.0/8') OR ip_in(srcip, '172.16.0.0/12') OR ip_in(srcip, '192.168.0.0/16'))")" 0
eq "host_stats sees the outside resolvers not at all" \
   "$(sql "SELECT count(*) FROM host_stats_10s WHERE ip_in(srcip, '203.0.113.0/24')")" 0
eq "top_talkers_bytes: the flood's source leads" \
   "$(sql "SELECT ip_text(srcip) FROM top_talkers_bytes GROUP BY srcip ORDER BY sum(bytes) DESC LIMIT 1")" "10.66.9.9"
exit 0
