#!/bin/sh
# sqlite_ext.sh - flowsql.so, the SQLite loadable extension, in Debian's
# sqlite3 shell over a database flowsqld wrote: the ad hoc functions
# (ip_text, ip_in, cidr_first, iso...) and the NAME_text views that show
# addresses and times as text (docs/STORAGE.md).
. "$(dirname "$0")/lib.sh"
top=$(cd "$(dirname "$0")/../.." && pwd)
case "$B" in "$top"/*) mb=${B#"$top"/} ;; *) mb=$B ;; esac
if nice make -s -C "$top" B="$mb" "$mb/flowsql.so" >"$T/make.log" 2>&1
then ok "make flowsql.so"
else fail "make flowsql.so" "$(tail -n 5 "$T/make.log")"; exit 1
fi

mkdir -p "$T/run/queries"
start_flowsqld --archive off || exit 1
api POST /api/v1/queries '{"name":"talk","sql":"SELECT srcip, sum(bytes) AS bytes FROM flows WINDOW 1s GROUP BY srcip"}' >/dev/null
eq "register a query with an address column" "$CODE" 201
python3 - "$IPFIX" <<'EOP'
import socket, struct, sys, time
# IPFIX: a template of sourceIPv4Address (8) and octetDeltaCount (1),
# then flows from three addresses.
t = struct.pack(">HHHHHHHH", 2, 16, 256, 2, 8, 4, 1, 8)
recs = b"".join(socket.inet_aton(a) + struct.pack(">Q", b)
                for a, b in (("10.0.0.1", 100), ("10.0.0.1", 50),
                             ("10.9.8.7", 7), ("192.0.2.1", 1)))
body = t + struct.pack(">HH", 256, 4 + len(recs)) + recs
msg = struct.pack(">HHIII", 10, 16 + len(body), int(time.time()), 1, 0) + body
socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(
    msg, ("127.0.0.1", int(sys.argv[1])))
EOP
for i in $(seq 1 50); do
    n=$(curl -s "http://$HTTP/api/v1/queries/talk/results?limit=5" | jq '[.[].rows[]] | length')
    [ "$n" = 3 ] && break
    sleep 0.2
done
eq "the window is stored" "$n" 3
stop_flowsqld

db=$T/run/data/flowsql.db
sq() { sqlite3 -batch "$db" -cmd ".load $B/flowsql" "$@" 2>&1; }
check "without the extension, ip_text is unknown" sh -c \
    "sqlite3 -batch '$db' 'SELECT ip_text(srcip) FROM talk' 2>&1 | grep -q 'no such function: ip_text'"
eq "talk_text shows addresses as text" \
    "$(sq 'SELECT srcip, bytes FROM talk_text ORDER BY bytes DESC' | tr '\n' ' ')" \
    "10.0.0.1|150 10.9.8.7|7 192.0.2.1|1 "
check "talk_text shows times as ISO-8601" sh -c \
    "sqlite3 -batch '$db' -cmd '.load $B/flowsql' 'SELECT window_start FROM talk_text LIMIT 1' | grep -Eq '^20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z$'"
eq "ip_in over the stored blobs" \
    "$(sq "SELECT count(*) FROM talk WHERE ip_in(srcip, '10.0.0.0/8')")" 2
eq "cidr_first/cidr_last for a range search" \
    "$(sq "SELECT ip_text(srcip) FROM talk WHERE srcip BETWEEN cidr_first('192.0.2.0/24') AND cidr_last('192.0.2.0/24')")" \
    192.0.2.1
eq "network()" "$(sq "SELECT ip_text(network(ip('10.9.8.7'), 16))")" 10.9.0.0
check "a bad argument is an error naming the function and the value" sh -c \
    "sqlite3 -batch :memory: -cmd '.load $B/flowsql' \"SELECT ip('nope')\" 2>&1 | grep -q \"ip(): 'nope' is not an IP address\""
eq "the views are TEMP: nothing written to the database" \
    "$(sqlite3 -batch "$db" "SELECT count(*) FROM sqlite_master WHERE name LIKE '%_text'")" 0
eq "into another database: the functions alone" \
    "$(sqlite3 -batch :memory: -cmd ".load $B/flowsql" "SELECT ip_text(ip('2001:DB8::1'))" 2>&1)" \
    2001:db8::1
exit 0
