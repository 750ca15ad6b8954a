#!/bin/sh
# Slow clients cannot take the REST API down: a request (head and body)
# must arrive whole within --http-request-timeout or its connection is
# cut, and when the connections near their limit (256) the oldest ones
# still waiting for their request are cut to let new clients in, so
# /healthz answers while hundreds of sockets trickle one header line at
# a time (slowloris).
. "$(dirname "$0")/lib.sh"

start_flowsqld --http-request-timeout 3s || exit 1

# trickle N SECONDS: open N connections that send a request head one
# line a second and never end it; print "cut I T" when connection I is
# closed by the server T seconds after it opened, "open I" for those
# still open at the end.
trickle() {
    python3 - "$HTTP_PORT" "$1" "$2" <<'PY'
import socket, sys, time, select
port, n, secs = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
conns = {}
for i in range(n):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=2)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        s.setblocking(False)
        conns[i] = (s, time.monotonic())
    except OSError:
        print("refused", i, flush=True)
print("connected", len(conns), flush=True)
end = time.monotonic() + secs
last = 0
while conns and time.monotonic() < end:
    now = time.monotonic()
    for i, (s, t0) in list(conns.items()):
        gone = False
        try:
            if select.select([s], [], [], 0)[0] and not s.recv(4096):
                gone = True
            elif now - last >= 1:
                s.send(b"X-Slow: %d\r\n" % i)
        except OSError:
            gone = True
        if gone:
            print("cut", i, "%.1f" % (now - t0), flush=True)
            s.close()
            del conns[i]
    if now - last >= 1:
        last = now
    time.sleep(0.1)
for i in conns:
    print("open", i, flush=True)
PY
}

# One trickler alone is cut after the bound.
trickle 1 10 >"$T/one"
CUT=$(sed -n 's/^cut 0 //p' "$T/one")
check "a lone trickler is cut (after ${CUT:-never} s)" test -n "$CUT"
check "at the 3 s bound, not before" \
    awk -v t="${CUT:-0}" 'BEGIN { exit !(t >= 2.5 && t <= 6) }'

# A request sent slowly but whole within the bound is served.
python3 - "$HTTP_PORT" >"$T/slowok" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
for part in [b"GET /healthz HTTP/1.1\r\n", b"Host: x\r\n", b"X-A: 1\r\n",
             b"Connection: close\r\n", b"\r\n"]:
    s.sendall(part)
    time.sleep(0.4)
d = b""
while True:
    b = s.recv(4096)
    if not b:
        break
    d += b
print(d.split(b"\r\n")[0].decode())
PY
eq "a request trickled whole within the bound is served" "$(cat "$T/slowok")" "HTTP/1.1 200 OK"

# 300 tricklers (more than the 256 connections): /healthz still answers.
trickle 300 14 >"$T/many" &
TR=$!
PIDS="$PIDS $TR"
wait_until 10 grep -q '^connected' "$T/many"
sleep 1
for round in 1 2 3; do
    t0=$(date +%s%N)
    CODE=$(curl -s -m 4 -o /dev/null -w '%{http_code}' "http://$HTTP/healthz")
    ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    eq "/healthz answers under 300 tricklers, round $round (${ms} ms)" "$CODE" 200
    sleep 2
done
api POST /api/v1/sql '{"sql":"SELECT 1"}' >/dev/null
check "so does the API (ad hoc SQL: $CODE)" test "$CODE" = 200 -o "$CODE" = 503
wait $TR
check "every trickler was cut" test "$(grep -c '^open' "$T/many")" -eq 0
curl -s "http://$HTTP/metrics" >"$T/metrics"
slow=$(sed -n 's/^flowsql_http_connections_cut_total{reason="slow_request"} //p' "$T/metrics")
evicted=$(sed -n 's/^flowsql_http_connections_cut_total{reason="evicted"} //p' "$T/metrics")
check "cut connections are counted (slow_request $slow, evicted $evicted)" \
    test "${slow:-0}" -gt 0 -a "${evicted:-0}" -gt 0

# Keep-alive still works: two requests on one connection.
curl -s -o /dev/null -o /dev/null -w '%{http_code} %{num_connects}\n' \
    "http://$HTTP/healthz" "http://$HTTP/healthz" >"$T/ka"
eq "two requests on one kept-alive connection" "$(tr '\n' ' ' <"$T/ka")" "200 1 200 0 "

# SIGTERM with tricklers connected.
trickle 50 30 >/dev/null &
TR=$!
PIDS="$PIDS $TR"
sleep 2
t0=$(date +%s)
stop_flowsqld
eq "SIGTERM exits 0 with 50 tricklers connected" "$STATUS" 0
check "within 5 s" test $(( $(date +%s) - t0 )) -le 5
kill $TR 2>/dev/null
exit 0
