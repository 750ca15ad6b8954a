#!/bin/sh
# ingest_hostile.sh - flowsqld attacked from the same host, as a stranger
# would: every socket it has is found through /proc and sent the NetFlow
# v9 templates that once crashed libfixbuf's translator (zero-length
# fields, no fields, an options template of zero-length fields); the
# daemon must survive, count them, and listen on nothing but its
# configured ports. Then its IPFIX/TCP slots are filled with idle
# connections: a real exporter must still get in and deliver, and the
# refusals must show in /metrics per peer.
. "$(dirname "$0")/lib.sh"

cat >"$T/hostile.py" <<'EOF'
import os, socket, struct, sys, time

def sockets(pid):
    """(proto, local port, state) of every inet socket the process has."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    out = []
    for proto in ("udp", "udp6", "tcp", "tcp6"):
        with open(f"/proc/net/{proto}") as f:
            next(f)
            for line in f:
                p = line.split()
                if p[9] in inodes:
                    port = int(p[1].split(":")[1], 16)
                    out.append((proto.rstrip("6"), port, p[3]))
    return out

def v9(seq, body, count):
    return struct.pack(">HHIIII", 9, count, 100000, int(time.time()), seq,
                       77) + body

def flowset(fid, payload):
    return struct.pack(">HH", fid, 4 + len(payload)) + payload

# A template of zero-length fields, a template of no fields, an options
# template of zero-length fields; each followed by data for it, which is
# where libfixbuf divided by the record length.
data = flowset(300, b"\x01\x02\x03\x04" * 4)
BAD = [
    v9(1, flowset(0, struct.pack(">HHHHHH", 300, 2, 8, 0, 12, 0)) + data, 2),
    v9(2, flowset(0, struct.pack(">HH", 300, 0)) + data, 2),
    v9(3, flowset(1, struct.pack(">HHHHHHH", 300, 4, 4, 1, 0, 34, 0)
                  + b"\x00\x00") + data, 2),
]

cmd = sys.argv[1]
pid = int(sys.argv[2])
if cmd == "list":
    for proto, port, state in sorted(set(sockets(pid))):
        # UDP sockets are all receivers; TCP ones listen in state 0A
        if proto == "udp" or state == "0A":
            print(proto, port)
elif cmd == "tcp":
    # Fill every IPFIX/TCP slot with idle connections (one address past
    # its limit), then deliver 40 records as an exporter from 127.0.0.2.
    port, per_source, slots = (int(x) for x in sys.argv[3:6])
    idle = []
    def connect(src):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind((src, 0))
        s.connect(("127.0.0.1", port))
        idle.append(s)
    for _ in range(per_source + 2):
        connect("127.0.0.1")
    for k in range(slots - per_source):
        connect("127.0.0.%d" % (10 + k // per_source))
    time.sleep(0.3)
    tmpl = struct.pack(">HHHHHHHHHH", 256, 4, 8, 4, 12, 4, 2, 4, 1, 4)
    recs = b"".join(struct.pack(">IIII", 0xc0000200 + i, 0x0a000001, 2, 100)
                    for i in range(40))
    sets = (struct.pack(">HH", 2, 4 + len(tmpl)) + tmpl +
            struct.pack(">HH", 256, 4 + len(recs)) + recs)
    msg = struct.pack(">HHIII", 10, 16 + len(sets), int(time.time()), 0,
                      5) + sets
    e = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    e.bind(("127.0.0.2", 0))
    e.connect(("127.0.0.1", port))
    e.sendall(msg)
    time.sleep(1)
elif cmd == "attack":
    ports = sorted({port for proto, port, _ in sockets(pid) if proto == "udp"})
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for port in ports:
        for m in BAD:
            for _ in range(3):
                s.sendto(m, ("127.0.0.1", port))
    print(len(ports))
EOF

start_flowsqld || exit 1

# Only the configured ports: IPFIX over UDP and TCP, NetFlow, sFlow, HTTP.
python3 "$T/hostile.py" list "$FLOWSQLD" | sort >"$T/have"
printf 'tcp %s\ntcp %s\nudp %s\nudp %s\nudp %s\n' "$IPFIX" "$HTTP_PORT" "$IPFIX" \
    "$NETFLOW" "$SFLOW" | sort >"$T/want"
if cmp -s "$T/have" "$T/want"; then
    ok "flowsqld listens on its configured ports only"
else
    fail "flowsqld listens on its configured ports only" \
        "have: $(tr '\n' ' ' <"$T/have") want: $(tr '\n' ' ' <"$T/want")"
fi

# The three templates, three times each, to every UDP socket it has.
n=$(python3 "$T/hostile.py" attack "$FLOWSQLD")
sleep 0.5
check "flowsqld survives the v9 templates sent to its $n UDP socket(s)" \
    kill -0 "$FLOWSQLD"
check "and still answers" curl -sf "http://$HTTP/healthz" -o /dev/null
errs=$(curl -s "http://$HTTP/metrics" |
    awk '/^flowsql_ingest_decode_errors_total\{exporter="127.0.0.1",domain="77"\}/ {print $2}')
eq "each of the 9 datagrams is counted as a decode error" "$errs" 9

# IPFIX/TCP slots: 32, 8 per address, all held by idle connections.
stop_flowsqld
start_flowsqld --tcp-connections 32 --tcp-per-source 8 || exit 1
python3 "$T/hostile.py" tcp "$FLOWSQLD" "$IPFIX" 8 32
metric() { # name exporter domain
    curl -s "http://$HTTP/metrics" |
        awk -v m="$1{exporter=\"$2\",domain=\"$3\"}" '$1 == m {print $2}'
}
check "an exporter gets in past 32 idle connections" \
    wait_until 5 test "$(metric flowsql_ingest_records_total 127.0.0.2 5)" = 40
eq "refusals counted for the address past its limit" \
    "$(metric flowsql_ingest_tcp_refused_total 127.0.0.1 0)" 2
silent=$(curl -s "http://$HTTP/metrics" |
    awk '$1 == "flowsql_ingest_tcp_connections_total{result=\"closed_silent\"}" {print $2}')
check "an idle connection made room for it (closed_silent $silent)" \
    test "${silent:-0}" -ge 1

exit 0
