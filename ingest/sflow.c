/*
 * sflow.c - sFlow version 5 datagrams (sflow.org, sflow_version_5.txt),
 * decoded here: XDR, every length checked against what holds it.
 *
 * A datagram is a header (version, agent address, sub-agent id, sequence
 * number, uptime, sample count) and samples, each tagged enterprise:format
 * with a length. We read
 *   - flow samples (0:1) and expanded flow samples (0:3): one sampled
 *     packet each, hence one flow record; their flow records:
 *       0:1    sampled header: Ethernet (802.1Q / QinQ tags), or IPv4 /
 *              IPv6 directly; then TCP, UDP, SCTP ports, ICMP type/code
 *       0:2    sampled Ethernet (its length only, when no header)
 *       0:3/4  sampled IPv4 / IPv6 (when no header gave the addresses)
 *       0:1001 extended switch (incoming VLAN)
 *       0:1002 extended router (next hop, masks)
 *       0:1003 extended gateway (BGP next hop, AS numbers)
 *     anything else is skipped by its length;
 *   - counter samples (0:2, 0:4): counted per agent, not flows;
 *   - other samples: skipped by their length.
 *
 * A datagram is walked twice: first to check every length and count
 * (nothing is written), then, only if all of it is well formed, to write
 * the records. So a datagram is taken or rejected whole, never half
 * (a decode error counts the datagram once, like a bad IPFIX message),
 * and the second walk can trust the structure the first one checked.
 * What a sampled header holds is not structure: it is cut at 128 bytes
 * or so by design, and a header too short for the next layer just leaves
 * that layer's fields at 0.
 *
 * The record's exporter is the agent address, its domain the sub-agent
 * id (docs/INGEST.md says why not the UDP source).
 */
#include "ingest/ingest_int.h"

#include <string.h>

/* A bounds-checked reader over XDR: every read checks what is left; the
 * first short read sets bad and every later read returns 0. */
typedef struct xdr {
    const uint8_t *p;
    size_t         left;
    int            bad;
} xdr_t;

static inline uint32_t x32(xdr_t *x)
{
    if (x->left < 4) {
        x->bad = 1;
        x->left = 0;
        return 0;
    }
    uint32_t v = rd32(x->p);
    x->p += 4;
    x->left -= 4;
    return v;
}

/* n bytes (padded to 4 as XDR pads opaque data); NULL if they are not
 * there. */
static inline const uint8_t *xbytes(xdr_t *x, size_t n)
{
    size_t padded = (n + 3) & ~(size_t)3;
    if (padded < n || x->left < padded) {
        x->bad = 1;
        x->left = 0;
        return NULL;
    }
    const uint8_t *p = x->p;
    x->p += padded;
    x->left -= padded;
    return p;
}

/* The sub-reader for the next n bytes (a sample, a record). */
static inline xdr_t xsub(xdr_t *x, size_t n)
{
    xdr_t s = {x->p, n, 0};
    if (!xbytes(x, n))
        s = (xdr_t){NULL, 0, 1};
    return s;
}

/* An sFlow address: type 1 IPv4, 2 IPv6, 0 unknown (no bytes). -1 for
 * any other type or a short read. */
static int xaddr(xdr_t *x, ipaddr_t *ip)
{
    uint32_t type = x32(x);
    const uint8_t *p;
    *ip = (ipaddr_t){{0}};
    switch (type) {
    case 0:
        return x->bad ? -1 : 0;
    case 1:
        if (!(p = xbytes(x, 4)))
            return -1;
        if (rd32(p)) /* 0.0.0.0 is no address: :: like the other inputs */
            *ip = ipaddr_from_v4(rd32(p));
        return 0;
    case 2:
        if (!(p = xbytes(x, 16)))
            return -1;
        memcpy(ip->a, p, 16);
        return 0;
    default:
        x->bad = 1;
        return -1;
    }
}

int sflow_agent(const uint8_t *msg, size_t len, ipaddr_t *agent)
{
    xdr_t x = {msg, len, 0};
    if (x32(&x) != 5)
        return -1;
    if (xaddr(&x, agent) != 0)
        return -1;
    x32(&x); /* sub-agent */
    x32(&x); /* sequence */
    x32(&x); /* uptime */
    x32(&x); /* samples */
    return x.bad ? -1 : 0;
}

/* ---- one sampled packet ------------------------------------------------ */

/* What the records of one flow sample say, gathered before the flow record
 * is written (their order in the sample is free). */
typedef struct sfrec {
    ipaddr_t src, dst, nexthop, bgp_nexthop;
    int64_t  bytes_hdr, bytes_eth, bytes_ip;   /* -1: not seen */
    int64_t  sport, dport, proto, tcpflags, tos;
    int64_t  vlan_hdr, vlan_sw;                /* -1: not seen */
    int64_t  srcas, dstas, srcmask, dstmask;
    int      have_ip;                          /* from a sampled header */
    int      have_ip_rec;                      /* from a sampled IPv4/6 */
    ipaddr_t rsrc, rdst;
    int64_t  rsport, rdport, rproto, rflags, rtos;
} sfrec_t;

/* Transport ports, flags, ICMP type/code from the bytes at l4. */
static void parse_l4(sfrec_t *r, int proto, const uint8_t *l4, size_t n)
{
    switch (proto) {
    case 6: /* TCP */
        if (n >= 4) {
            r->sport = rd16(l4);
            r->dport = rd16(l4 + 2);
        }
        if (n >= 14)
            r->tcpflags = l4[13];
        break;
    case 17:  /* UDP */
    case 132: /* SCTP */
        if (n >= 4) {
            r->sport = rd16(l4);
            r->dport = rd16(l4 + 2);
        }
        break;
    case 1:  /* ICMP */
    case 58: /* ICMPv6 */
        if (n >= 2)
            r->dport = l4[0] * 256 + l4[1];
        break;
    }
}

static void parse_ipv4(sfrec_t *r, const uint8_t *p, size_t n)
{
    if (n < 20 || p[0] >> 4 != 4)
        return;
    size_t ihl = (size_t)(p[0] & 15) * 4;
    r->have_ip = 1;
    r->tos = p[1];
    r->proto = p[9];
    r->src = ipaddr_from_v4(rd32(p + 12));
    r->dst = ipaddr_from_v4(rd32(p + 16));
    /* a later fragment has no transport header */
    if (ihl >= 20 && ihl <= n && (rd16(p + 6) & 0x1fff) == 0)
        parse_l4(r, p[9], p + ihl, n - ihl);
}

static void parse_ipv6(sfrec_t *r, const uint8_t *p, size_t n)
{
    if (n < 40 || p[0] >> 4 != 6)
        return;
    r->have_ip = 1;
    r->tos = (p[0] & 15) << 4 | p[1] >> 4;
    memcpy(r->src.a, p + 8, 16);
    memcpy(r->dst.a, p + 24, 16);
    int nh = p[6];
    size_t off = 40;
    /* hop-by-hop, routing, fragment, destination options: a few hops */
    for (int k = 0; k < 8; k++) {
        if (nh == 44) { /* fragment */
            if (off + 8 > n)
                break;
            int later = (rd16(p + off + 2) & 0xfff8) != 0;
            nh = p[off];
            off += 8;
            if (later) {
                r->proto = nh;
                return;
            }
        } else if (nh == 0 || nh == 43 || nh == 60) {
            if (off + 8 > n)
                break;
            size_t el = ((size_t)p[off + 1] + 1) * 8;
            nh = p[off];
            off += el;
        } else {
            break;
        }
    }
    r->proto = nh;
    if (off <= n)
        parse_l4(r, nh, p + off, n - off);
}

static void parse_ethernet(sfrec_t *r, const uint8_t *p, size_t n)
{
    if (n < 14)
        return;
    size_t off = 12;
    uint16_t type = rd16(p + off);
    /* 802.1Q, 802.1ad (QinQ) and the old 0x9100: the outer tag's VLAN */
    for (int k = 0; k < 4 && (type == 0x8100 || type == 0x88a8 ||
                              type == 0x9100); k++) {
        if (off + 6 > n)
            return;
        if (r->vlan_hdr < 0)
            r->vlan_hdr = rd16(p + off + 2) & 0x0fff;
        off += 4;
        type = rd16(p + off);
    }
    off += 2;
    if (type == 0x0800)
        parse_ipv4(r, p + off, n - off);
    else if (type == 0x86dd)
        parse_ipv6(r, p + off, n - off);
}

/* One flow record of a flow sample. Returns -1 when its own structure is
 * broken (a length inside it that lies). */
static int flow_record(sfrec_t *r, uint32_t tag, xdr_t *x)
{
    ipaddr_t ip;
    switch (tag) {
    case 1: { /* sampled_header */
        uint32_t hproto = x32(x);
        uint32_t frame = x32(x);
        x32(x); /* stripped */
        uint32_t hlen = x32(x);
        const uint8_t *h = xbytes(x, hlen);
        if (!h)
            return -1;
        r->bytes_hdr = frame;
        if (hproto == 1)
            parse_ethernet(r, h, hlen);
        else if (hproto == 11)
            parse_ipv4(r, h, hlen);
        else if (hproto == 12)
            parse_ipv6(r, h, hlen);
        return 0;
    }
    case 2: /* sampled_ethernet */
        r->bytes_eth = x32(x);
        return x->bad ? -1 : 0;
    case 3: /* sampled_ipv4 */
    case 4: { /* sampled_ipv6 */
        size_t alen = tag == 3 ? 4 : 16;
        r->bytes_ip = x32(x);
        r->rproto = x32(x);
        const uint8_t *s = xbytes(x, alen), *d = xbytes(x, alen);
        r->rsport = x32(x);
        r->rdport = x32(x);
        r->rflags = x32(x) & 0xff;
        r->rtos = x32(x) & 0xff;
        if (x->bad)
            return -1;
        if (tag == 3) {
            r->rsrc = ipaddr_from_v4(rd32(s));
            r->rdst = ipaddr_from_v4(rd32(d));
        } else {
            memcpy(r->rsrc.a, s, 16);
            memcpy(r->rdst.a, d, 16);
        }
        r->have_ip_rec = 1;
        return 0;
    }
    case 1001: /* extended_switch */
        r->vlan_sw = x32(x);
        return x->bad ? -1 : 0;
    case 1002: /* extended_router */
        if (xaddr(x, &ip) != 0)
            return -1;
        r->nexthop = ip;
        r->srcmask = x32(x);
        r->dstmask = x32(x);
        return x->bad ? -1 : 0;
    case 1003: { /* extended_gateway */
        if (xaddr(x, &ip) != 0)
            return -1;
        r->bgp_nexthop = ip;
        x32(x); /* the router's own AS */
        r->srcas = x32(x);
        x32(x); /* src_peer_as */
        uint32_t nseg = x32(x);
        if (nseg > x->left / 8)
            return -1;
        for (uint32_t s = 0; s < nseg; s++) {
            x32(x); /* segment type: set or sequence */
            uint32_t nas = x32(x);
            if (nas > x->left / 4)
                return -1;
            const uint8_t *as = xbytes(x, (size_t)nas * 4);
            if (!as)
                return -1;
            if (nas) /* the destination AS: the path's last */
                r->dstas = rd32(as + (size_t)(nas - 1) * 4);
        }
        uint32_t ncomm = x32(x);
        if (ncomm > x->left / 4 || !xbytes(x, (size_t)ncomm * 4))
            return -1;
        x32(x); /* localpref */
        return x->bad ? -1 : 0;
    }
    default:
        return 0;
    }
}

/* Counters of one walk. */
typedef struct walk {
    uint32_t flows, counters;
} walk_t;

/* A flow sample (expanded or not) from x (its body): checked, and with
 * emit set, its record written into the sink. -1 when malformed. */
static int flow_sample(decoder_t *d, xdr_t *x, int expanded, int emit,
                       const ipaddr_t *agent, uint32_t domain,
                       stats_entry_t *st)
{
    uint32_t in_fmt = 0, in_val, out_fmt, out_val;
    x32(x); /* sample sequence */
    x32(x); /* source id (type, index) */
    if (expanded)
        x32(x);
    uint32_t rate = x32(x);
    x32(x); /* sample pool */
    x32(x); /* drops */
    if (expanded) {
        in_fmt = x32(x);
        in_val = x32(x);
        out_fmt = x32(x);
        out_val = x32(x);
    } else {
        uint32_t in = x32(x), out = x32(x);
        in_val = in & 0x3fffffff;
        in_fmt = in >> 30;
        out_val = out & 0x3fffffff;
        out_fmt = out >> 30;
    }
    uint32_t nrec = x32(x);
    if (x->bad || nrec > x->left / 8)
        return -1;
    sfrec_t r;
    memset(&r, 0, sizeof(r));
    r.bytes_hdr = r.bytes_eth = r.bytes_ip = -1;
    r.vlan_hdr = r.vlan_sw = -1;
    for (uint32_t k = 0; k < nrec; k++) {
        uint32_t tag = x32(x);
        uint32_t rlen = x32(x);
        xdr_t rx = xsub(x, rlen);
        if (x->bad)
            return -1;
        if (tag >> 12) /* another enterprise's record */
            continue;
        if (flow_record(&r, tag & 0xfff, &rx) != 0)
            return -1;
    }
    if (!emit)
        return 0;

    int i = sink_slot(d->sink);
    if (i < 0) {
        ctr_inc(&st->queue_drops);
        return 0;
    }
    flow_batch_t *b = d->sink->cur;
    if (!r.have_ip && r.have_ip_rec) {
        r.src = r.rsrc;
        r.dst = r.rdst;
        r.proto = r.rproto;
        r.tos = r.rtos;
        r.tcpflags = r.rproto == 6 ? r.rflags : 0;
        /* ICMP: agents put the type in src_port and the code in dst_port
         * (as sflowtool reads them) */
        if ((r.rproto == 1 || r.rproto == 58) && r.rsport < 256 &&
            r.rdport < 256) {
            r.sport = 0;
            r.dport = r.rsport * 256 + r.rdport;
        } else {
            r.sport = r.rsport;
            r.dport = r.rdport;
        }
    }
    b->srcip[i] = r.src;
    b->dstip[i] = r.dst;
    static const ipaddr_t none;
    b->nexthop[i] = ipaddr_cmp(&r.nexthop, &none) ? r.nexthop : r.bgp_nexthop;
    b->exporter[i] = *agent;
    b->start[i] = b->end[i] = b->received[i] = d->received_ms;
    b->packets[i] = 1;
    b->bytes[i] = r.bytes_hdr >= 0   ? r.bytes_hdr
                  : r.bytes_eth >= 0 ? r.bytes_eth
                  : r.bytes_ip >= 0  ? r.bytes_ip
                                     : 0;
    b->srcport[i] = r.sport;
    b->dstport[i] = r.dport;
    b->proto[i] = r.proto;
    b->tcpflags[i] = r.tcpflags;
    b->tos[i] = r.tos;
    /* ifIndex; 0 for unknown / internal (0x3fffffff), a discarded packet
     * (format 1) or several output interfaces (format 2) */
    b->ingress[i] = in_fmt == 0 && in_val != 0x3fffffff ? in_val : 0;
    b->egress[i] = out_fmt == 0 && out_val != 0x3fffffff ? out_val : 0;
    b->srcas[i] = r.srcas;
    b->dstas[i] = r.dstas;
    b->srcmask[i] = r.srcmask;
    b->dstmask[i] = r.dstmask;
    /* the switch's incoming VLAN (a VLAN id: 1-4095; agents send
     * 0xffffffff for none), else the sampled frame's outer tag */
    b->vlan[i] = r.vlan_sw > 0 && r.vlan_sw < 4096 ? r.vlan_sw
                 : r.vlan_hdr > 0                 ? r.vlan_hdr
                                                  : 0;
    b->direction[i] = 0;
    b->sampling[i] = rate;
    b->domain[i] = domain;
    d->records++;
    return 0;
}

/* A counter sample of an interface (source type 0): counted for the
 * agent and that ifIndex. Its counters themselves are not kept. */
static void counter_sample(decoder_t *d, xdr_t *x, int expanded,
                           const ipaddr_t *agent)
{
    x32(x); /* sequence */
    uint32_t type, index;
    if (expanded) {
        type = x32(x);
        index = x32(x);
    } else {
        uint32_t src = x32(x);
        type = src >> 24;
        index = src & 0xffffff;
    }
    if (x->bad || type != 0)
        return;
    ctr_inc(&stats_get(d->ifstats, agent, index)->counter_samples);
}

/* Walk the samples after the header: check (emit 0) or write (emit 1). */
static int walk_samples(decoder_t *d, xdr_t *x, uint32_t nsamples, int emit,
                        const ipaddr_t *agent, uint32_t domain,
                        stats_entry_t *st, walk_t *w, const char **why)
{
    if (nsamples > x->left / 8) {
        *why = "sample count exceeds the datagram";
        return -1;
    }
    for (uint32_t k = 0; k < nsamples; k++) {
        uint32_t tag = x32(x);
        uint32_t slen = x32(x);
        xdr_t sx = xsub(x, slen);
        if (x->bad) {
            *why = "sample length runs past the datagram";
            return -1;
        }
        switch (tag) {
        case 1:
        case 3:
            if (flow_sample(d, &sx, tag == 3, emit, agent, domain, st) != 0) {
                *why = "malformed flow sample";
                return -1;
            }
            w->flows++;
            break;
        case 2:
        case 4:
            w->counters++;
            if (emit && d->ifstats)
                counter_sample(d, &sx, tag == 4, agent);
            break;
        default:
            break;
        }
    }
    return 0;
}

/* One datagram for the agent's session ts (ingest_int.h): the header,
 * then the samples walked once to check them all and, if every one is
 * well formed, once more to write the records. Counted into the
 * sub-agent's stats row; 0, or -1 when rejected (a decode error). */
int sflow_message(decoder_t *d, tsession_t *ts, const uint8_t *msg,
                  size_t len)
{
    const char *why = NULL;
    ipaddr_t agent; /* the caller's session is this agent's */
    xdr_t x = {msg, len, 0};
    uint32_t version = x32(&x);
    int aok = xaddr(&x, &agent) == 0;
    uint32_t domain = x32(&x);
    uint32_t seq = x32(&x);
    x32(&x); /* uptime */
    uint32_t nsamples = x32(&x);
    tdomain_t *dom = NULL;
    if (version != 5 || !aok || x.bad)
        why = version != 5 ? "not sFlow v5" : "truncated datagram header";
    else if (!(dom = tsession_domain(d, ts, domain)))
        why = "agent with too many sub-agents";
    stats_entry_t *st = dom ? dom->st : stats_get(d->stats, &ts->exporter, 0);
    stats_touch(st, INGEST_PROTO_SFLOW, d->received_ms);
    walk_t w = {0, 0};
    xdr_t body = x;
    if (!why)
        walk_samples(d, &body, nsamples, 0, &ts->exporter, domain, st, &w,
                     &why);
    if (why) {
        char a[IPADDR_STRLEN];
        ctr_inc(&st->decode_errors);
        log_limited(&d->lim_decode, LOG_WARN, "ingest",
                    "malformed sFlow from %s (%zu bytes): %s",
                    ipaddr_format(&ts->exporter, a, sizeof(a)), len, why);
        return -1;
    }
    ctr_inc(&st->messages);
    ctr_add(&st->bytes, len);
    d->export_ms = d->received_ms; /* sFlow has no wall clock */
    seq_check(d, dom, seq, 1, 1, 1);
    walk_t w2 = {0, 0};
    walk_samples(d, &x, nsamples, 1, &ts->exporter, domain, st, &w2, &why);
    ctr_add(&st->records, w.flows);
    ctr_add(&st->counter_samples, w.counters);
    return 0;
}
