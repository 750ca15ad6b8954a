#!/usr/bin/env python3
"""pcap_crafted.py OUT_DIR

Crafted packet captures (python3-scapy) for the flow meter, written to
OUT_DIR:

  ether.pcap  Ethernet: 120 hosts talking to 12 servers over about two
              hours: TCP connections closed by FIN both ways (and the
              last ACK), TCP reset by RST, UDP request/answer, ICMP echo
              and an unreachable, IPv6 (TCP through hop-by-hop and
              destination options headers, UDP, ICMPv6), single 802.1Q
              tags, IPv4 and IPv6 fragments, IPv4 with options, and two
              scenario hosts:
                10.9.0.1  one UDP flow, a packet every 60 s for 7200 s
                          (outlives any active timeout below 2 h)
                10.9.0.2  a TCP connection closed by FIN, the same
                          5-tuple reused 30 s later for a second one
  raw.pcap    the same IP packets as raw IP (LINKTYPE_RAW)
  sll.pcap    the same as Linux cooked captures (SLL)

Frames are not padded (scapy writes what it builds), so the IP length
and the frame length after the link header agree, as softflowd counts.
Everything is seeded: the same files every run.
"""
import os
import random
import sys

from scapy.all import (ICMP, IP, UDP, TCP, Ether, Dot1Q, IPv6, CookedLinux,
                       ICMPv6EchoRequest, ICMPv6EchoReply, IPv6ExtHdrHopByHop,
                       IPv6ExtHdrDestOpt, IPv6ExtHdrFragment, Raw, fragment,
                       fragment6, wrpcap)
from scapy.utils import PcapWriter

T0 = 1767268800.0  # 2026-01-01 12:00:00 UTC
rnd = random.Random(18)
pkts = []  # (time, ip packet, vlan or None)


def add(t, ip, vlan=None):
    pkts.append((T0 + t, ip, vlan))


def tcp_conn(t, c, s, sport, dport, data=3, close="fin", v6=False,
             vlan=None, ext=None):
    """A TCP connection: handshake, data both ways, then FIN/FIN/ACK or
    an RST from the server."""
    L3 = IPv6 if v6 else IP

    def ip(src, dst):
        p = L3(src=src, dst=dst)
        if ext and v6:
            for e in ext:
                p = p / e()
        return p
    seq = 1000
    add(t, ip(c, s) / TCP(sport=sport, dport=dport, flags="S", seq=seq), vlan)
    add(t + 0.001, ip(s, c) / TCP(sport=dport, dport=sport, flags="SA"), vlan)
    add(t + 0.002, ip(c, s) / TCP(sport=sport, dport=dport, flags="A"), vlan)
    tt = t + 0.003
    for i in range(data):
        n = rnd.randint(10, 1400)
        add(tt, ip(c, s) / TCP(sport=sport, dport=dport, flags="PA") /
            Raw(b"q" * n), vlan)
        add(tt + 0.001, ip(s, c) / TCP(sport=dport, dport=sport, flags="PA") /
            Raw(b"r" * rnd.randint(10, 1400)), vlan)
        tt += 0.002
    if close == "fin":
        add(tt, ip(c, s) / TCP(sport=sport, dport=dport, flags="FA"), vlan)
        add(tt + 0.001, ip(s, c) / TCP(sport=dport, dport=sport, flags="FA"),
            vlan)
        add(tt + 0.002, ip(c, s) / TCP(sport=sport, dport=dport, flags="A"),
            vlan)
    else:
        add(tt, ip(s, c) / TCP(sport=dport, dport=sport, flags="R"), vlan)


def main():
    out = sys.argv[1]
    clients = ["10.1.%d.%d" % (i // 50, 1 + i % 50) for i in range(120)]
    servers = ["192.0.2.%d" % (1 + i) for i in range(12)]
    v6c = ["2001:db8:1::%x" % (1 + i) for i in range(20)]
    v6s = ["2001:db8:2::%x" % (1 + i) for i in range(4)]
    for i, c in enumerate(clients):
        t = rnd.uniform(0, 7000)
        s = servers[i % len(servers)]
        vlan = 100 + i % 3 if i % 10 == 0 else None  # hosts of their own
        for k in range(rnd.randint(1, 4)):
            tcp_conn(t + k * 5, c, s, 20000 + i * 10 + k, 80 if k % 2 else 443,
                     data=rnd.randint(0, 4),
                     close="rst" if (i + k) % 7 == 0 else "fin", vlan=vlan)
        # UDP request/answer
        for k in range(rnd.randint(1, 3)):
            sp = 30000 + i * 10 + k
            tq = t + 1 + k
            add(tq, IP(src=c, dst=s) / UDP(sport=sp, dport=53) / Raw(b"d" * 30),
                vlan)
            add(tq + 0.0005, IP(src=s, dst=c) / UDP(sport=53, dport=sp) /
                Raw(b"a" * rnd.randint(40, 500)), vlan)
        # ICMP echo and an unreachable
        if i % 4 == 0:
            add(t + 2, IP(src=c, dst=s) / ICMP(type=8, id=i, seq=1) /
                Raw(b"p" * 56), vlan)
            add(t + 2.001, IP(src=s, dst=c) / ICMP(type=0, id=i, seq=1) /
                Raw(b"p" * 56), vlan)
            add(t + 3, IP(src=s, dst=c) / ICMP(type=3, code=3) /
                IP(src=c, dst=s) / UDP(sport=9, dport=9), vlan)
        # IPv4 with options
        if i % 9 == 0:
            add(t + 4, IP(src=c, dst=s, options=b"\x94\x04\x00\x00") /
                UDP(sport=40000 + i, dport=514) / Raw(b"o" * 20), vlan)
        # fragments: a UDP datagram of 3000 bytes, in three pieces
        if i % 6 == 0:
            big = IP(src=c, dst=s, id=i + 1) / UDP(sport=41000 + i, dport=2049) / \
                Raw(b"f" * 3000)
            for j, f in enumerate(fragment(big, fragsize=1400)):
                add(t + 5 + j * 0.0001, f, vlan)
    for i, c in enumerate(v6c):
        t = rnd.uniform(0, 7000)
        s = v6s[i % len(v6s)]
        tcp_conn(t, c, s, 50000 + i, 443, data=2, v6=True,
                 ext=[IPv6ExtHdrHopByHop, IPv6ExtHdrDestOpt] if i % 2 else None)
        add(t + 1, IPv6(src=c, dst=s) / UDP(sport=51000 + i, dport=53) /
            Raw(b"x" * 40))
        add(t + 1.001, IPv6(src=s, dst=c) / UDP(sport=53, dport=51000 + i) /
            Raw(b"y" * 120))
        add(t + 2, IPv6(src=c, dst=s) / ICMPv6EchoRequest(id=i, seq=1))
        add(t + 2.001, IPv6(src=s, dst=c) / ICMPv6EchoReply(id=i, seq=1))
        if i % 5 == 0:
            big = IPv6(src=c, dst=s) / IPv6ExtHdrFragment(id=i + 7) / \
                UDP(sport=52000 + i, dport=2049) / Raw(b"g" * 3000)
            for j, f in enumerate(fragment6(big, 1280)):
                add(t + 3 + j * 0.0001, f)
    # 10.9.0.1: a packet every 60 s for 7200 s, one UDP 5-tuple
    for k in range(121):
        add(k * 60.0 + 0.5, IP(src="10.9.0.1", dst="192.0.2.200") /
            UDP(sport=7777, dport=7778) / Raw(b"l" * 100))
    # 10.9.0.2: a connection closed by FIN, the 5-tuple reused 30 s later
    tcp_conn(3000.0, "10.9.0.2", "192.0.2.201", 33333, 80, data=2)
    tcp_conn(3040.0, "10.9.0.2", "192.0.2.201", 33333, 80, data=1)

    pkts.sort(key=lambda x: x[0])
    we = PcapWriter(os.path.join(out, "ether.pcap"), linktype=1, sync=False)
    wr = PcapWriter(os.path.join(out, "raw.pcap"), linktype=101, sync=False)
    ws = PcapWriter(os.path.join(out, "sll.pcap"), linktype=113, sync=False)
    for t, ip, vlan in pkts:
        et = 0x86DD if ip.version == 6 else 0x0800
        e = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
        if vlan:
            frame = e / Dot1Q(vlan=vlan) / ip
        else:
            frame = e / ip
        frame.time = t
        we.write(frame)
        r = ip.copy()
        r.time = t
        wr.write(r)
        s = CookedLinux(pkttype=0, lladdrtype=1, lladdrlen=6,
                        src=b"\x02\x00\x00\x00\x00\x01\x00\x00", proto=et) / ip
        s.time = t
        ws.write(s)
    for w in (we, wr, ws):
        w.close()
    print(len(pkts), "packets")


if __name__ == "__main__":
    main()
