#!/bin/sh
# A stream client that stops reading (/queries/{name}/stream) holds at
# most --sse-queue-bytes of windows: past it windows are dropped for it
# and counted (flowsql_sse_dropped_windows_total), while a client that
# reads keeps getting every window.
. "$(dirname "$0")/lib.sh"

start_flowsqld --sse-queue-bytes 1M || exit 1
api POST /api/v1/queries '{"name":"pairs","sql":"SELECT srcip, dstip, count(*) AS flows, sum(bytes) AS bytes FROM flows WINDOW 1s GROUP BY srcip, dstip"}' >/dev/null
eq "register a query with large windows" "$CODE" 201

# The stalled client: a tiny receive buffer, reads nothing, stays 40 s.
python3 - "$HTTP_PORT" >"$T/stalled.log" 2>&1 <<'PY' &
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /api/v1/queries/pairs/stream HTTP/1.1\r\nHost: x\r\n\r\n")
print("connected", flush=True)
time.sleep(40)
PY
STALLED=$!
PIDS="$PIDS $STALLED"
# A client that reads.
curl -sN "http://$HTTP/api/v1/queries/pairs/stream" >"$T/reader" 2>/dev/null &
READER=$!
PIDS="$PIDS $READER"
wait_until 10 grep -q connected "$T/stalled.log"
wait_until 10 grep -q '^: following pairs' "$T/reader"
clients() { curl -s "http://$HTTP/metrics" | sed -n 's/^flowsql_sse_clients //p'; }
eq "two stream clients" "$(clients)" 2

rss() { awk '/^VmRSS:/ {print $2}' /proc/$FLOWSQLD/status; }
RSS0=$(rss)
"$B/flowgen" --udp "127.0.0.1:$IPFIX" --flows 240000 --rate 20000 \
    --sources 20000 --dests 4 --seed 9 2>"$T/gen.log" &
GEN=$!
PIDS="$PIDS $GEN"
dropped() { curl -s "http://$HTTP/metrics" | sed -n 's/^flowsql_sse_dropped_windows_total //p'; }
some_dropped() { [ "$(dropped)" -gt 0 ]; }
check "windows the stalled client cannot take are dropped and counted" \
    wait_until 25 some_dropped
wait "$GEN"
sleep 2
RSS1=$(rss)
QB=$(curl -s "http://$HTTP/metrics" | sed -n 's/^flowsql_sse_queue_bytes //p')
check "the stalled client's queue holds at most 1 MB plus one window ($QB bytes)" \
    test "${QB:-99999999}" -le 3000000
echo "# RSS $RSS0 kB -> $RSS1 kB, dropped $(dropped), queued $QB bytes" >&2
W=$(grep -c '^event: window' "$T/reader")
check "the reading client keeps getting windows ($W)" test "$W" -ge 10
stop_flowsqld
exit 0
