#!/usr/bin/env python3
"""dnsflows.py (--file OUT | --pcap OUT | --udp HOST:PORT) [--now]
              [--expect FILE]

Crafted IPFIX flows as ipfixprobe's DNS plugin exports them: a template
with the CESNET enterprise elements DNS_NAME (8057/2, variable length),
DNS_RCODE (8057/1) and DNS_QTYPE (8057/3), and another template of plain
flows without them. The names and their counts are fixed (NAMES below),
one message per 20 records; --expect writes "name count" lines of what a
GROUP BY dns_qname must find ('' for the plain flows, a 300-byte name
cut to 255 bytes). Times: 2025-12-03 12:00:00 UTC + i ms, or now (--now).
--pcap writes the messages as UDP packets to port 4739 (for tshark and
ingest_agg --pcap).
"""
import socket
import struct
import sys
import time

NAMES = [("a.example.com", 50, 0, 1), ("b.example.com", 30, 3, 28),
         ("WWW.Example.ORG", 20, 0, 1), ("x" * 300, 5, 0, 16),
         ("mail.example.org", 7, 2, 15)]
PLAIN = 10
T_DNS, T_PLAIN = 300, 301


def varlen(b):
    return (bytes([len(b)]) if len(b) < 255 else
            b"\xff" + struct.pack(">H", len(b))) + b


def message(seq, sets):
    body = b"".join(struct.pack(">HH", sid, 4 + len(d)) + d for sid, d in sets)
    return struct.pack(">HHIII", 10, 16 + len(body), int(time.time()),
                       seq, 1) + body


def templates():
    def ie(i, n, pen=0):
        return (struct.pack(">HHI", i | 0x8000, n, pen) if pen
                else struct.pack(">HH", i, n))
    common = ie(8, 4) + ie(12, 4) + ie(1, 8) + ie(2, 8) + ie(152, 8) + \
        ie(153, 8)
    dns = struct.pack(">HH", T_DNS, 9) + common + ie(2, 65535, 8057) + \
        ie(1, 1, 8057) + ie(3, 2, 8057)
    plain = struct.pack(">HH", T_PLAIN, 6) + common
    return [(2, dns + plain)]


def write_pcap(path, msgs):
    """Each message in an Ethernet/IPv4/UDP frame, 127.0.0.1:40000 ->
    127.0.0.1:4739, 1 ms apart."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
        for i, m in enumerate(msgs):
            udp = struct.pack(">HHHH", 40000, 4739, 8 + len(m), 0) + m
            ip = bytearray(struct.pack(">BBHHHBBH4s4s", 0x45, 0,
                                       20 + len(udp), i, 0, 64, 17, 0,
                                       bytes([127, 0, 0, 1]),
                                       bytes([127, 0, 0, 1])))
            ck = sum(struct.unpack(">10H", bytes(ip)))
            ck = (ck & 0xffff) + (ck >> 16)
            ck = (ck & 0xffff) + (ck >> 16)
            ip[10:12] = struct.pack(">H", ~ck & 0xffff)
            frame = b"\0" * 12 + b"\x08\x00" + bytes(ip) + udp
            f.write(struct.pack("<IIII", 1764763200, i * 1000, len(frame),
                                len(frame)) + frame)


def main():
    args = sys.argv[1:]
    out = udp = expect = pcap = None
    now = False
    while args:
        a = args.pop(0)
        if a == "--file":
            out = args.pop(0)
        elif a == "--pcap":
            pcap = args.pop(0)
        elif a == "--udp":
            udp = args.pop(0)
        elif a == "--expect":
            expect = args.pop(0)
        elif a == "--now":
            now = True
        else:
            raise SystemExit("dnsflows.py: unknown argument " + a)
    t0 = int(time.time() * 1000) if now else 1764763200000
    recs = []
    for name, n, rcode, qtype in NAMES:
        for _ in range(n):
            recs.append((name.encode(), rcode, qtype))
    recs += [None] * PLAIN
    msgs = [message(0, templates())]
    seq = 0
    for k in range(0, len(recs), 20):
        dns = b""
        plain = b""
        for j, r in enumerate(recs[k:k + 20]):
            i = k + j
            c = struct.pack(">IIQQQQ", 0x0a000001 + i % 4, 0xc0000235, 100,
                            1, t0 + i, t0 + i)
            if r is None:
                plain += c
            else:
                dns += c + varlen(r[0]) + struct.pack(">BH", r[1], r[2])
        sets = [(T_DNS, dns)] if dns else []
        if plain:
            sets.append((T_PLAIN, plain))
        msgs.append(message(seq, sets))
        seq += len(recs[k:k + 20])
    if out:
        with open(out, "wb") as f:
            for m in msgs:
                f.write(m)
    if pcap:
        write_pcap(pcap, msgs)
    if udp:
        host, port = udp.rsplit(":", 1)
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for m in msgs:
            s.sendto(m, (host, int(port)))
            time.sleep(0.002)
    if expect:
        with open(expect, "w") as f:
            for name, n, _, _ in NAMES:
                f.write("%s %d\n" % (name[:255], n))
            f.write(" %d\n" % PLAIN)


if __name__ == "__main__":
    main()
