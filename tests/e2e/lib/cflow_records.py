#!/usr/bin/env python3
"""cflow_records.py CAPTURE.pcap

The independent side of the capture test: decode NetFlow v5/v9 and IPFIX
with tshark's cflow dissector and print one line per flow record in the
order they appear, with the fields flowsql keeps, the way
`ingest_agg --records` prints them (first 20 columns):

  srcip dstip srcport dstport proto packets bytes tcpflags tos ingress
  egress srcas dstas srcmask dstmask nexthop start_ms end_ms sampling domain

The mapping rules written here (and only here) are the documented ones in
docs/INGEST.md: timestamps to ms since the epoch, the ICMP type/code in
dstport, RFC 5103 biflows as two records, sampling from the record or the
latest options record of the domain. Options records print nothing.

With CFLOW_EXTRA=field,... (src_mac, dst_mac, mpls_label1..3) each record
gets those columns too, after the 20, the way `ingest_agg --fields`
prints custom element fields (docs/ENRICHMENT.md): a MAC as
aa:bb:cc:dd:ee:ff, a label as its number, '' / 0 when the record has
none; the reverse record of a biflow carries the forward record's.
entN:string / entN:int is the record's N-th enterprise element, which
tshark shows as raw octets (cflow.enterprise_private_entry): as text
(up to a NUL, 255 bytes at most, control bytes as '?') or as a
big-endian integer.
"""
import calendar
import json
import os
import subprocess
import sys
import time


def pairs_hook(pairs):
    # keep repeated keys (tshark names reverse elements like forward ones)
    return pairs


def as_dict(pairs):
    d = {}
    rep = {}
    for k, v in pairs:
        if k in d:
            rep[k] = v
        else:
            d[k] = v
    return d, rep


def abstime_ms(s):
    # "Oct  5, 2009 06:06:07.492059999 UTC"
    s = s.replace(" UTC", "").strip()
    main, _, frac = s.partition(".")
    t = time.strptime(" ".join(main.split()), "%b %d, %Y %H:%M:%S")
    return calendar.timegm(t) * 1000 + int((frac + "000")[:3])


def num(v, default=0):
    if v is None:
        return default
    v = str(v)
    return int(v, 16) if v.startswith("0x") else int(float(v))


def ms(seconds):
    return int(round(float(seconds) * 1000))


def find_flows(node, out):
    """Collect (flowset pairs, flow pairs) in document order."""
    if not isinstance(node, list):
        return
    for k, v in node:
        if isinstance(v, list) and (k.startswith("FlowSet ") or
                                    k.startswith("Set ")):
            fs = dict((a, b) for a, b in v if not isinstance(b, list))
            for kk, vv in v:
                if kk.startswith("Flow ") and isinstance(vv, list):
                    out.append(("flow", fs, vv))
                if kk.startswith("Options Template") and isinstance(vv, list):
                    out.append(("otmpl", fs, vv))


def main():
    path = sys.argv[1]
    ports = subprocess.run(
        ["tshark", "-r", path, "-T", "fields", "-e", "udp.dstport"],
        capture_output=True, text=True, check=True).stdout.split()
    ports = [p.split(",")[0] for p in ports]
    args = ["tshark", "-r", path, "-T", "json"]
    for p in sorted(set(ports)):
        args += ["-d", "udp.port==%s,cflow" % p]
    raw = subprocess.run(args, capture_output=True, text=True,
                         check=True).stdout
    packets = json.loads(raw, object_pairs_hook=pairs_hook)
    options_tids = set()
    sampling = {}          # domain -> latest options interval
    samplers = {}          # (domain, sampler id) -> interval
    for pkt in packets:
        layers = dict(dict(pkt)["_source"])["layers"]
        cflow = dict(layers).get("cflow")
        if cflow is None:
            continue
        hdr = dict((a, b) for a, b in cflow if not isinstance(b, list))
        version = num(hdr.get("cflow.version"))
        if version == 9:
            domain = num(hdr.get("cflow.source_id"))
            ts = dict(dict(cflow).get("cflow.timestamp_tree", []))
            export_ms = num(ts.get("cflow.unix_secs")) * 1000
            boot_ms = export_ms - ms(hdr.get("cflow.sysuptime", 0))
        elif version == 10:
            domain = num(hdr.get("cflow.od_id"))
            ts = dict(dict(cflow).get("cflow.timestamp_tree", []))
            export_ms = num(ts.get("cflow.exporttime")) * 1000
            boot_ms = None
        else:  # v5: a flat list of pdus
            domain = num(hdr.get("cflow.engine_type")) * 256 + \
                num(hdr.get("cflow.engine_id"))
            ts = dict(dict(cflow).get("cflow.timestamp_tree", []))
            export_ms = num(ts.get("cflow.unix_secs")) * 1000 + \
                num(ts.get("cflow.unix_nsecs")) // 1000000
            boot_ms = export_ms - ms(hdr.get("cflow.sysuptime", 0))
            samp = num(hdr.get("cflow.samplerate"))
            for k, v in cflow:
                if k.startswith("pdu") and isinstance(v, list):
                    emit_v5(dict(v), boot_ms, samp, domain)
            continue
        items = []
        find_flows(cflow, items)
        for kind, fs, body in items:
            if kind == "otmpl":
                d = dict((a, b) for a, b in body if not isinstance(b, list))
                options_tids.add((domain, d.get("cflow.template_id")))
                continue
            f, rep = as_dict(body)
            if (domain, fs.get("cflow.flowset_id")) in options_tids:
                interval = options_interval(f)
                if interval:
                    sampling[domain] = interval
                    sid = f.get("cflow.sampler_id") or f.get(
                        "cflow.selector_id")
                    if sid is not None:
                        samplers[(domain, num(sid))] = interval
                continue
            CUR_BODY[:] = body
            emit_flow(f, rep, domain, export_ms, boot_ms, sampling, samplers)


def options_interval(f):
    if "cflow.sampling_interval" in f:
        return num(f["cflow.sampling_interval"])
    if "cflow.sampler_random_interval" in f:
        return num(f["cflow.sampler_random_interval"])
    if "cflow.sampling_packet_interval" in f:
        i = num(f["cflow.sampling_packet_interval"])
        s = num(f.get("cflow.sampling_packet_space"))
        return (i + s) // i if i else 0
    return 0


def flow_times(f, export_ms, boot_ms):
    tree = dict(f.get("cflow.timedelta_tree", []))
    if "cflow.abstimestart" in tree:
        s = abstime_ms(tree["cflow.abstimestart"])
        e = abstime_ms(tree.get("cflow.abstimeend",
                                tree["cflow.abstimestart"]))
        return s, e
    if "cflow.timestart" in tree and boot_ms is not None:
        return (boot_ms + ms(tree["cflow.timestart"]),
                boot_ms + ms(tree.get("cflow.timeend",
                                      tree["cflow.timestart"])))
    return export_ms, export_ms


def emit_flow(f, rep, domain, export_ms, boot_ms, sampling, samplers):
    v6 = "cflow.srcaddrv6" in f and "cflow.srcaddr" not in f
    src = f.get("cflow.srcaddrv6" if v6 else "cflow.srcaddr",
                "::" if v6 else "0.0.0.0")
    dst = f.get("cflow.dstaddrv6" if v6 else "cflow.dstaddr",
                "::" if v6 else "0.0.0.0")
    proto = num(f.get("cflow.protocol"))
    sport = num(f.get("cflow.srcport"))
    dport = num(f.get("cflow.dstport"))
    if dport == 0 and proto in (1, 58):
        if "cflow.icmp_type_code_ipv4" in f:
            dport = num(f["cflow.icmp_type_code_ipv4"])
        elif "cflow.icmp_type_code_ipv6" in f:
            dport = num(f["cflow.icmp_type_code_ipv6"])
    packets = num(f.get("cflow.packets", f.get("cflow.packets64")))
    octets = num(f.get("cflow.octets", f.get("cflow.octets64")))
    flags = num(f.get("cflow.tcpflags")) & 0xff
    tos = num(f.get("cflow.tos"))
    ingress = num(f.get("cflow.inputint")) or \
        num(f.get("cflow.ingress_physical_interface"))
    egress = num(f.get("cflow.outputint")) or \
        num(f.get("cflow.egress_physical_interface"))
    srcas, dstas = num(f.get("cflow.srcas")), num(f.get("cflow.dstas"))
    if v6:
        smask, dmask = num(f.get("cflow.srcmaskv6")), \
            num(f.get("cflow.dstmaskv6"))
    else:
        smask, dmask = num(f.get("cflow.srcmask")), \
            num(f.get("cflow.dstmask"))
    nh = "::"
    for k in ("cflow.nexthop", "cflow.bgpnexthop"):
        if f.get(k, "0.0.0.0") != "0.0.0.0":
            nh = f[k]
            break
    else:
        for k in ("cflow.nexthopv6",):
            if f.get(k, "::") != "::":
                nh = f[k]
    start, end = flow_times(f, export_ms, boot_ms)
    samp = 0
    if "cflow.sampling_interval" in f:
        samp = num(f["cflow.sampling_interval"])
    elif "cflow.sampler_id" in f and (domain, num(f["cflow.sampler_id"])) \
            in samplers:
        samp = samplers[(domain, num(f["cflow.sampler_id"]))]
    else:
        samp = sampling.get(domain, 0)
    # RFC 5103 reverse elements (tshark repeats the forward names); each
    # direction that carried something is a record
    rpk = num(rep.get("cflow.packets", rep.get("cflow.packets64")))
    roc = num(rep.get("cflow.octets", rep.get("cflow.octets64")))
    if packets or octets or not (rpk or roc):
        row(src, dst, sport, dport, proto, packets, octets, flags, tos,
            ingress, egress, srcas, dstas, smask, dmask, nh, start, end, samp,
            domain, *extra_cols(f))
    if rpk or roc:
        rflags = num(rep.get("cflow.tcpflags")) & 0xff
        rtos = num(rep.get("cflow.tos", f.get("cflow.tos")))
        row(dst, src, dport, sport, proto, rpk, roc, rflags, rtos, egress,
            ingress, dstas, srcas, dmask, smask, "::", start, end, samp,
            domain, *extra_cols(f))


EXTRA = [x for x in os.environ.get("CFLOW_EXTRA", "").split(",") if x]


CUR_BODY = []


def enterprise(n):
    """The n-th (1-based) enterprise element of the current record, as
    bytes, or None."""
    vals = [v for k, v in CUR_BODY if k == "cflow.enterprise_private_entry"]
    if n > len(vals):
        return None
    return bytes.fromhex(vals[n - 1].replace(":", ""))


def extra_cols(f):
    """The CFLOW_EXTRA columns of a record."""
    labels = {}
    for k, v in f.items():
        if k.startswith("MPLS-Label") and isinstance(v, list):
            labels[int(k[len("MPLS-Label"):k.index(":")])] = \
                num(dict(v).get("cflow.mpls_label"))
    out = []
    for x in EXTRA:
        if x == "src_mac":
            out.append(f.get("cflow.srcmac", ""))
        elif x == "dst_mac":
            out.append(f.get("cflow.dstmac", ""))
        elif x.startswith("mpls_label"):
            out.append(labels.get(int(x[len("mpls_label"):]), 0))
        elif x.startswith("ent"):
            n, kind = x[3:].split(":")
            b = enterprise(int(n))
            if kind == "int":
                out.append(int.from_bytes(b, "big") if b else 0)
            else:
                t = (b or b"").split(b"\0")[0][:255]
                out.append("".join("?" if c < 0x20 or c == 0x7f else chr(c)
                                   for c in t))
        else:
            raise SystemExit("cflow_records.py: no extra field " + x)
    return out


def emit_v5(p, boot_ms, samp, domain):
    tree = dict(p.get("cflow.timedelta_tree", []))
    nh = p.get("cflow.nexthop", "0.0.0.0")
    row(p.get("cflow.srcaddr"), p.get("cflow.dstaddr"),
        num(p.get("cflow.srcport")), num(p.get("cflow.dstport")),
        num(p.get("cflow.protocol")), num(p.get("cflow.packets")),
        num(p.get("cflow.octets")), num(p.get("cflow.tcpflags")) & 0xff,
        num(p.get("cflow.tos")), num(p.get("cflow.inputint")),
        num(p.get("cflow.outputint")), num(p.get("cflow.srcas")),
        num(p.get("cflow.dstas")), num(p.get("cflow.srcmask")),
        num(p.get("cflow.dstmask")), "::" if nh == "0.0.0.0" else nh,
        boot_ms + ms(tree.get("cflow.timestart", 0)),
        boot_ms + ms(tree.get("cflow.timeend", 0)),
        samp if samp > 1 else 0, domain)


def row(*cols):
    print("\t".join(str(c) for c in cols))


if __name__ == "__main__":
    main()
