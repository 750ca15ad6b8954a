#!/bin/sh
# floats.sh - REST answers and the shell print a float in the shortest
# form that reads back as the same double: 852.4, not 852.39999999999998;
# 0.1 + 0.2 keeps its 0.30000000000000004 (util/jsonfmt.h).
. "$(dirname "$0")/lib.sh"
mkdir -p "$T/run/queries"
start_flowsqld --archive off || exit 1

# An ad hoc statement's answer.
api POST /api/v1/sql '{"sql":"SELECT 852.4 AS x, 0.1 + 0.2 AS y, 1.0 AS z, 2.5e-7 AS w, 3 AS i"}' >"$T/sql.json"
eq "POST /api/v1/sql answers" "$CODE" 200
eq "REST: 852.4, 0.30000000000000004, 1.0, 2.5e-07, 3" \
    "$(grep -o '"rows":\[\[[^]]*\]\]' "$T/sql.json")" \
    '"rows":[[852.4,0.30000000000000004,1.0,2.5e-07,3]]'

# A stored window's results: the average bytes of five flows, 852.4.
api POST /api/v1/queries '{"name":"avgb","sql":"SELECT avg(bytes) AS a FROM flows WINDOW 1s"}' >/dev/null
eq "register a query with a float column" "$CODE" 201
python3 - "$IPFIX" <<'EOP'
import socket, struct, sys, time
# IPFIX: a template of octetDeltaCount (1), then five records.
t = struct.pack(">HHHHHH", 2, 12, 256, 1, 1, 8)
recs = b"".join(struct.pack(">Q", b) for b in (850, 851, 852, 853, 856))
d = struct.pack(">HH", 256, 4 + len(recs)) + recs
body = t + d
msg = struct.pack(">HHIII", 10, 16 + len(body), int(time.time()), 1, 0) + body
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.sendto(msg, ("127.0.0.1", int(sys.argv[1])))
EOP
got=""
for i in $(seq 1 50); do
    got=$(curl -s "http://$HTTP/api/v1/queries/avgb/results?limit=5" | \
          grep -o '"a":[0-9.e+-]*' | head -n 1)
    [ -n "$got" ] && break
    sleep 0.2
done
eq "REST window results: avg 852.4" "$got" '"a":852.4'

# The shell: CSV, JSON and table, over the stored window.
sh_q() { "$B/flowsql" -q -P --url "http://$HTTP" "$@"; }
eq "shell csv" "$(sh_q -F csv -c 'SELECT a, 0.1 + 0.2 AS y FROM avgb LIMIT 1;' | tail -n 1)" \
    "852.4,0.30000000000000004"
eq "shell json" "$(sh_q -F json -c 'SELECT a FROM avgb LIMIT 1;' | grep -o '"a":[^,}]*')" \
    '"a":852.4'
check "shell table" sh -c "\"$B/flowsql\" -q -P --url http://$HTTP -c 'SELECT a FROM avgb LIMIT 1;' | grep -qw '852.4'"
exit 0
