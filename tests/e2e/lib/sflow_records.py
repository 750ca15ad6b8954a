#!/usr/bin/env python3
"""sflow_records.py CAPTURE.pcap

The independent side of the sFlow capture test: decode sFlow v5 with
tshark's sflow dissector (and its Ethernet/VLAN/IP/TCP/UDP/ICMP
dissectors for the sampled headers) and print one line per flow sample,
in order, with the fields flowsql keeps, the way
`ingest_agg --records | cut -f1-16,19-23` prints them:

  srcip dstip srcport dstport proto packets bytes tcpflags tos ingress
  egress srcas dstas srcmask dstmask nexthop sampling domain vlan
  direction exporter

(start and end are the receive time, which tshark cannot know; the test
checks them on its own.) The mapping rules written here, and only here,
are the documented ones of docs/INGEST.md ("sFlow"): one record per flow
sample, packets 1, bytes the sampled header's frame length (else the
sampled Ethernet / IP record's length), the sampled header's addresses
first, ICMP type * 256 + code in dstport, ifIndex 0 when unknown
(0x3fffffff), discarded or several, the extended switch's incoming VLAN
(1-4095) else the frame's outer 802.1Q tag, the router's next hop else
the gateway's, the AS path's last AS as dstas, the agent address as
exporter and the sub-agent id as domain. Counter samples print nothing.
"""
import json
import subprocess
import sys


def pairs_hook(pairs):
    return pairs  # keep repeated keys (AS path entries, VLAN tags)


def num(v, default=0):
    if v is None:
        return default
    v = str(v)
    return int(v, 16) if v.startswith("0x") else int(float(v))


def first(pairs, key, default=None):
    for k, v in pairs:
        if k == key:
            return v
    return default


def fields(pairs):
    return dict((k, v) for k, v in pairs if not isinstance(v, list))


def header_layers(tree):
    """Top-level layers of a sampled header: (name, pairs), in order."""
    return [(k, v) for k, v in tree if isinstance(v, list)]


def decode_header(rec, out):
    tree = first(rec, "sflow_245.header_tree", [])
    vlan = None
    l3 = None
    l4 = None
    for name, body in header_layers(tree):
        f = fields(body)
        if name == "vlan" and vlan is None:
            vlan = num(f.get("vlan.id"))
        elif name in ("ip", "ipv6") and l3 is None:
            l3 = (name, f)
        elif name in ("tcp", "udp", "sctp", "icmp", "icmpv6") and \
                l3 is not None and l4 is None:
            l4 = (name, f)
    if vlan is not None and out.get("vlan_hdr") is None:
        out["vlan_hdr"] = vlan
    if l3 is None:
        return
    name, f = l3
    if name == "ip":
        out["src"], out["dst"] = f.get("ip.src"), f.get("ip.dst")
        out["proto"] = num(f.get("ip.proto"))
        out["tos"] = num(f.get("ip.dsfield"))
        if num(f.get("ip.frag_offset")) != 0:
            l4 = None
    else:
        out["src"], out["dst"] = f.get("ipv6.src"), f.get("ipv6.dst")
        out["proto"] = num(f.get("ipv6.nxt"))
        out["tos"] = num(f.get("ipv6.tclass"))
    if l4 is not None:
        lname, g = l4
        out["proto"] = {"tcp": 6, "udp": 17, "sctp": 132, "icmp": 1,
                        "icmpv6": 58}[lname]
        if lname in ("icmp", "icmpv6"):
            out["dport"] = num(g.get(lname + ".type")) * 256 + \
                num(g.get(lname + ".code"))
        else:
            out["sport"] = num(g.get(lname + ".srcport"))
            out["dport"] = num(g.get(lname + ".dstport"))
            if lname == "tcp" and "tcp.flags" in g:
                out["flags"] = num(g["tcp.flags"]) & 0xff
    out["have_ip"] = True


def decode_sample(sample, agent, domain, expanded):
    s = fields(sample)
    rate = num(s.get("sflow.flow_sample.sampling_rate"))
    if expanded:
        in_fmt = num(s.get("sflow.flow_sample.input_interface_format"))
        in_val = num(s.get("sflow.flow_sample.input_interface_value"))
        out_fmt = num(s.get("sflow.flow_sample.output_interface.format"))
        out_val = num(s.get("sflow.flow_sample.output_interface_value"))
    else:
        in_fmt = 0
        in_val = num(s.get("sflow.flow_sample.input_interface")) & 0x3fffffff
        t = fields(first(sample, "sflow.flow_sample.output_interface_tree",
                         []))
        out_fmt = num(t.get("sflow.flow_sample.output_interface_format"))
        out_val = num(t.get("sflow.flow_sample.output_interface_value"))
    out = {"sport": 0, "dport": 0, "proto": 0, "flags": 0, "tos": 0,
           "src": None, "dst": None}
    bytes_hdr = bytes_eth = bytes_ip = None
    vlan_sw = None
    nh_router = nh_gw = None
    srcas = dstas = smask = dmask = 0
    rec_ip = None
    for name, rec in sample:
        if not isinstance(rec, list):
            continue
        f = fields(rec)
        fmt = num(f.get("sflow_245.flow_record_format"), -1)
        if fmt == 1:
            bytes_hdr = num(f.get("sflow_245.header.frame_length"))
            decode_header(rec, out)
        elif fmt == 2:
            bytes_eth = num(f.get("sflow_245.ethernet.length"))
        elif fmt in (3, 4):
            rec_ip = f
        elif fmt == 1001:
            vlan_sw = num(f.get("sflow_245.vlan.in"))
        elif fmt == 1002:
            nh_router = f.get("sflow_245.nexthop")
            smask = num(f.get("sflow_245.nexthop.src_mask"))
            dmask = num(f.get("sflow_245.nexthop.dst_mask"))
        elif fmt == 1003:
            nh_gw = f.get("sflow_245.nexthop")
            srcas = num(f.get("sflow_245.srcAS"))
            for k, v in rec:
                if k == "sflow.as_type_tree":
                    ases = [a for kk, a in v if kk == "sflow_245.dstAS"]
                    if ases:
                        dstas = num(ases[-1])
    if rec_ip is not None:
        bytes_ip = num(rec_ip.get("sflow_245.ip_length",
                                  rec_ip.get("sflow_245.length")))
        if not out.get("have_ip"):
            raise SystemExit("a sampled IPv4/IPv6 record without a header: "
                             "not in our captures, fields unmapped")
    nbytes = bytes_hdr if bytes_hdr is not None else \
        bytes_eth if bytes_eth is not None else \
        bytes_ip if bytes_ip is not None else 0
    unset = ("0.0.0.0", "::", None)
    nh = nh_router if nh_router not in unset else \
        nh_gw if nh_gw not in unset else "::"
    ingress = in_val if in_fmt == 0 and in_val != 0x3fffffff else 0
    egress = out_val if out_fmt == 0 and out_val != 0x3fffffff else 0
    if vlan_sw is not None and 0 < vlan_sw < 4096:
        vlan = vlan_sw
    else:
        vlan = out.get("vlan_hdr") or 0
    src = out["src"] or "::"
    dst = out["dst"] or "::"
    row(src, dst, out["sport"], out["dport"], out["proto"], 1, nbytes,
        out["flags"], out["tos"], ingress, egress, srcas, dstas, smask,
        dmask, nh, rate, domain, vlan, 0, agent)


def main():
    path = sys.argv[1]
    raw = subprocess.run(["tshark", "-r", path, "-T", "json"],
                         capture_output=True, text=True, check=True).stdout
    for pkt in json.loads(raw, object_pairs_hook=pairs_hook):
        layers = first(first(pkt, "_source"), "layers")
        sflow = first(layers, "sflow")
        if sflow is None:
            continue
        h = fields(sflow)
        agent = h.get("sflow_245.agent", h.get("sflow_245.agentv6"))
        if agent == "0.0.0.0":
            agent = "::"
        domain = num(h.get("sflow_245.sub_agent_id"))
        for k, v in sflow:
            if not isinstance(v, list):
                continue
            if k.startswith("Flow sample, seq"):
                decode_sample(v, agent, domain, False)
            elif k.startswith("Expanded flow sample, seq"):
                decode_sample(v, agent, domain, True)


def row(*cols):
    print("\t".join(str(c) for c in cols))


if __name__ == "__main__":
    main()
