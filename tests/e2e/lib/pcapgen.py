#!/usr/bin/env python3
"""pcapgen.py - captures of known UDP traffic for the pcap input tests.

    pcapgen.py series DIR PREFIX FIRST COUNT T0 [--hosts N] [--net A.B.C]
        COUNT files DIR/PREFIX-NNN.pcap (every fourth one pcapng), numbered
        from FIRST, each 3 s of packet time from T0 (seconds since the
        epoch) + 3 * (N - FIRST): per host A.B.C.h one long UDP flow
        (a packet every 0.5 s, running across all the files) and two short
        ones of 3 packets per file.
    pcapgen.py big FILE COUNT T0 [--net A.B.C]
        one capture of COUNT packets from 250 hosts, 1 ms apart.
    pcapgen.py cat OUT IN...
        the packets of the captures IN (pcap or pcapng, as written here)
        in one pcap, for flowsqld --read.

Prints "srcip flows packets bytes" per source of what it wrote (bytes:
the IP length, what the flow meter counts; flows: the 5-tuples, every
one shorter than the meter's default timeouts). Pure Python (struct), so that tests
need no capture library: Ethernet, IPv4 with a correct header checksum,
UDP.
"""
import struct
import sys


def csum(b):
    s = 0
    for i in range(0, len(b), 2):
        s += (b[i] << 8) + b[i + 1]
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def udp_frame(src, dst, sport, dport, payload_len):
    """An Ethernet frame of one IPv4 UDP datagram; (frame, ip length)."""
    udp_len = 8 + payload_len
    ip_len = 20 + udp_len
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, ip_len, 0, 0x4000, 64, 17, 0,
                     bytes(src), bytes(dst))
    ip = ip[:10] + struct.pack(">H", csum(ip)) + ip[12:]
    udp = struct.pack(">HHHH", sport, dport, udp_len, 0)
    eth = b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00"
    return eth + ip + udp + bytes(payload_len), ip_len


def write_pcap(path, pkts):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for ts_us, frame in pkts:
            f.write(struct.pack("<IIII", ts_us // 1000000, ts_us % 1000000,
                                len(frame), len(frame)))
            f.write(frame)


def pad4(b):
    return b + bytes(-len(b) % 4)


def block(btype, body):
    body = pad4(body)
    n = 12 + len(body)
    return struct.pack("<II", btype, n) + body + struct.pack("<I", n)


def write_pcapng(path, pkts):
    with open(path, "wb") as f:
        f.write(block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)))
        f.write(block(1, struct.pack("<HHI", 1, 0, 65535)))  # us resolution
        for ts_us, frame in pkts:
            f.write(block(6, struct.pack("<IIIII", 0, ts_us >> 32,
                                         ts_us & 0xFFFFFFFF, len(frame),
                                         len(frame)) + frame))


def read_any(path):
    """The packets of a capture written by this script."""
    data = open(path, "rb").read()
    out = []
    if struct.unpack_from("<I", data)[0] == 0xA1B2C3D4:
        off = 24
        while off + 16 <= len(data):
            sec, usec, incl, _ = struct.unpack_from("<IIII", data, off)
            out.append((sec * 1000000 + usec, data[off + 16:off + 16 + incl]))
            off += 16 + incl
        return out
    off = 0
    while off + 12 <= len(data):
        btype, n = struct.unpack_from("<II", data, off)
        if btype == 6:
            _, hi, lo, cap, _ = struct.unpack_from("<IIIII", data, off + 8)
            out.append(((hi << 32) | lo, data[off + 28:off + 28 + cap]))
        off += n
    return out


class Tally:
    def __init__(self):
        self.by_src = {}
        self.tuples = {}

    def add(self, src, ip_len, sport):
        k = ".".join(map(str, src))
        p, b = self.by_src.get(k, (0, 0))
        self.by_src[k] = (p + 1, b + ip_len)
        self.tuples.setdefault(k, set()).add(sport)

    def show(self):
        for k in sorted(self.by_src):
            p, b = self.by_src[k]
            print(k, len(self.tuples[k]), p, b)


def opt(args, name, default):
    if name in args:
        i = args.index(name)
        v = args[i + 1]
        del args[i:i + 2]
        return v
    return default


def series(args):
    hosts = int(opt(args, "--hosts", "10"))
    net = [int(x) for x in opt(args, "--net", "10.0.0").split(".")]
    d, prefix, first, count, t0 = args[0], args[1], int(args[2]), \
        int(args[3]), int(args[4])
    tally = Tally()
    dst = [192, 0, 2, 53]
    for n in range(first, first + count):
        base = (t0 + 3 * (n - first)) * 1000000
        pkts = []
        for h in range(1, hosts + 1):
            src = net + [h]
            for k in range(6):       # the long flow, every 0.5 s
                fr, ln = udp_frame(src, dst, 5000 + h, 53, 40 + h)
                pkts.append((base + k * 500000 + h * 1000, fr))
                tally.add(src, ln, 5000 + h)
            for s in range(2):       # two short flows of this file
                for k in range(3):
                    fr, ln = udp_frame(src, dst, 10000 + 10 * n + s, 9999,
                                       100 + 10 * s + k)
                    pkts.append((base + 100000 + k * 300000 + s * 7000 +
                                 h * 1000, fr))
                    tally.add(src, ln, 10000 + 10 * n + s)
        pkts.sort(key=lambda p: p[0])
        if n % 4 == 3:
            write_pcapng("%s/%s-%03d.pcapng" % (d, prefix, n), pkts)
        else:
            write_pcap("%s/%s-%03d.pcap" % (d, prefix, n), pkts)
    tally.show()


def big(args):
    net = [int(x) for x in opt(args, "--net", "10.7.7").split(".")]
    path, count, t0 = args[0], int(args[1]), int(args[2])
    tally = Tally()
    frames = []
    for h in range(250):
        frames.append(udp_frame(net + [h + 1], [192, 0, 2, 7], 7000 + h, 7,
                                18))
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i in range(count):
            fr, ln = frames[i % 250]
            ts = t0 * 1000000 + i * 1000
            f.write(struct.pack("<IIII", ts // 1000000, ts % 1000000,
                                len(fr), len(fr)))
            f.write(fr)
    for h in range(min(count, 250)):
        n = count // 250 + (1 if h < count % 250 else 0)
        print("%d.%d.%d.%d" % tuple(net + [h + 1]), 1, n, n * frames[h][1])


def cat(args):
    pkts = []
    for p in args[1:]:
        pkts += read_any(p)
    write_pcap(args[0], pkts)


if __name__ == "__main__":
    cmd, rest = sys.argv[1], sys.argv[2:]
    {"series": series, "big": big, "cat": cat}[cmd](rest)
