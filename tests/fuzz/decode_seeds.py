#!/usr/bin/env python3
"""decode_seeds.py - seeds for fuzz_decode (tests/fuzz/seeds/decode) from
exporter captures: each pcap (or template + data pair) becomes one seed of
chunks "kind (1) | length (2) | datagram", kind 0 IPFIX/UDP, 1 the NetFlow
port, 2 IPFIX/TCP, 3 sFlow (told by its 32-bit version 5); the IPFIX ones
are also written as a TCP stream. Plus
the NetFlow v9 templates that once crashed libfixbuf's translator.

    tests/fuzz/decode_seeds.py OUTDIR CAPTURE_DIR...
"""
import os
import struct
import sys


def payloads(path):
    """UDP payloads of an Ethernet/IPv4 pcap, in order."""
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack("<I", data[:4])[0]
    end = "<" if magic in (0xa1b2c3d4, 0xa1b23c4d) else ">"
    off = 24
    out = []
    while off + 16 <= len(data):
        incl = struct.unpack(end + "I", data[off + 8:off + 12])[0]
        pkt = data[off + 16:off + 16 + incl]
        off += 16 + incl
        if len(pkt) < 14 + 20 + 8 or pkt[12:14] != b"\x08\x00":
            continue
        ihl = (pkt[14] & 15) * 4
        if pkt[23] != 17:
            continue
        udp = pkt[14 + ihl:]
        out.append(udp[8:struct.unpack(">H", udp[4:6])[0]])
    return out


def chunk(kind, b):
    return struct.pack(">BH", kind, len(b)) + b


def seed(datagrams):
    body = b""
    tcp = b""
    for d in datagrams:
        version = struct.unpack(">H", d[:2])[0] if len(d) >= 2 else 0
        if d[:4] == b"\x00\x00\x00\x05":
            body += chunk(3, d)
            continue
        body += chunk(0 if version == 10 else 1, d)
        if version == 10:
            tcp += chunk(2, d)
    return body, tcp


def v9(seq, body, count):
    return struct.pack(">HHIIII", 9, count, 100000, 1700000000, seq, 77) + body


def flowset(fid, payload):
    return struct.pack(">HH", fid, 4 + len(payload)) + payload


def main():
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    pcaps = {}
    for d in sys.argv[2:]:
        for name in sorted(os.listdir(d)):
            if name.endswith(".pcap") and name not in pcaps:
                pcaps[name] = os.path.join(d, name)
    written = 0
    for name, path in sorted(pcaps.items()):
        if not name.endswith("data.pcap"):
            continue
        tmpl = path[:-len("data.pcap")] + "template.pcap"
        if not os.path.exists(tmpl):
            tmpl = path[:-len("data.pcap")] + "templates.pcap"
        grams = (payloads(tmpl) if os.path.exists(tmpl) else []) + payloads(path)
        pcaps[os.path.basename(tmpl)] = None
        body, tcp = seed(grams)
        base = name[:-len(".pcap")]
        for suffix, b in (("", body), ("-tcp", tcp)):
            if b:
                with open(os.path.join(outdir, base + suffix), "wb") as f:
                    f.write(b)
                written += 1
    for name, path in sorted(pcaps.items()):
        if path is None or name.endswith("data.pcap"):
            continue
        body, tcp = seed(payloads(path))
        base = name[:-len(".pcap")]
        for suffix, b in (("", body), ("-tcp", tcp)):
            if b:
                with open(os.path.join(outdir, base + suffix), "wb") as f:
                    f.write(b)
                written += 1
    # the templates that made libfixbuf divide by zero, data after each
    good = flowset(0, struct.pack(">HH" + "HH" * 5, 260, 5, 8, 4, 12, 4, 2, 4,
                                  22, 4, 21, 4))
    data = flowset(300, b"\x01\x02\x03\x04" * 4)
    bad = [
        v9(1, good, 1),
        v9(2, flowset(0, struct.pack(">HHHHHH", 300, 2, 8, 0, 12, 0)) + data, 2),
        v9(3, flowset(0, struct.pack(">HH", 300, 0)) + data, 2),
        v9(4, flowset(1, struct.pack(">HHHHHHH", 300, 4, 4, 1, 0, 34, 0)
                      + b"\x00\x00") + data, 2),
        v9(5, flowset(260, struct.pack(">IIIII", 0x01010101, 0x0a000001, 5,
                                       90000, 95000)), 1),
    ]
    with open(os.path.join(outdir, "v9-hostile-templates"), "wb") as f:
        f.write(b"".join(chunk(1, d) for d in bad))
    written += 1
    print("%d seeds in %s" % (written, outdir))


if __name__ == "__main__":
    main()
