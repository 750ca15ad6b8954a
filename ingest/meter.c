/*
 * meter.c - the flow meter (see meter.h and docs/INGEST.md, "Packet
 * captures").
 *
 * The table: entries in one preallocated array (max_flows of them, a
 * free list threaded through it), found through an open-addressing index
 * of 32-bit entry numbers (linear probing, at most half full, deletion by
 * backward shift). Expiry must be cheap at millions of packets a second,
 * so nothing is ever scanned: every entry sits on two doubly linked
 * lists,
 *   - the idle list of its timeout class (TCP, UDP, ICMP, other, TCP
 *     after FIN, TCP after RST), in order of last packet: a packet moves
 *     its entry to the tail, and the head is the next to time out;
 *   - the active list, in order of first packet (never reordered).
 * meter_expire() pops heads while they are due: O(expired).
 *
 * At millions of packets a second the cost is cache misses: the index
 * slot, the entry, and its two neighbours on the idle list, all at
 * random places in a table of megabytes. So packets go through a short
 * pipeline (PIPE deep): a packet is parsed into its key at once and the
 * index slot prefetched; some packets later the entry that slot points
 * to is prefetched, later still its list neighbours; the packet is
 * counted into the table only when it leaves the pipeline, in order.
 * The prefetches are hints (the table changes meanwhile); the work at
 * the end is done as if there were none. meter_expire, meter_flush and
 * meter_get_stats first finish the packets in the pipeline.
 */
#include "ingest/meter.h"
#include "util/arena.h"

#include <pcap/dlt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NIL UINT32_MAX

enum mclass { MC_TCP, MC_UDP, MC_ICMP, MC_OTHER, MC_FIN, MC_RST, MC_N };

/* The flow key, 40 bytes with no padding left undefined. With biflow on,
 * a[0] is the lower address (bytewise), port[i] belongs to a[i]; with
 * biflow off a[0] is the source. */
typedef struct mkey {
    ipaddr_t a[2];
    uint16_t port[2];
    uint16_t vlan;
    uint8_t  proto;
    uint8_t  pad;
} mkey_t;

_Static_assert(sizeof(mkey_t) == 40, "mkey_t has padding");

/* One entry, laid out by cache line: the first is read by every packet
 * (the key, the idle list links), the second written by every packet,
 * the third only by a direction's first packet. */
typedef struct mflow {
    mkey_t   k;
    uint32_t hash;
    uint32_t inext, iprev;     /* idle list of class cls */
    uint8_t  cls;
    uint8_t  flags[2], tos[2];
    uint8_t  seen[2];          /* direction has packets */
    _Alignas(64) int64_t last_us;      /* whole entry */
    uint64_t pkts[2], bytes[2];
    int64_t  lastp_us[2];              /* per direction */
    uint32_t anext, aprev;     /* active list */
    _Alignas(64) int64_t start_us;
    int64_t  first_us[2];
} mflow_t;

_Static_assert(sizeof(mflow_t) == 192, "mflow_t: three cache lines");

/* A parsed packet waiting in the pipeline. */
typedef struct pend {
    mkey_t   k;
    uint32_t h;
    uint8_t  d, flags, tos;
    int64_t  ts;
    uint64_t iplen;
} pend_t;

#define PIPE 16               /* packets in flight (a power of 2) */
#define PIPE_ENTRY 6          /* age at which the entry is prefetched */
#define PIPE_LINKS 11         /* ... and its list neighbours */

typedef struct mlist {
    uint32_t head, tail;
} mlist_t;

struct meter {
    meter_config_t cfg;
    ingest_emit_fn emit;
    void          *ctx;
    flow_batch_t  *b;
    mflow_t       *f;          /* max_flows entries */
    uint32_t       nflows, free_head, used_top;
    uint32_t      *idx;        /* entry + 1, 0 = empty */
    uint32_t       mask;
    mlist_t        idle[MC_N];
    mlist_t        active;
    int64_t        to_us[MC_N];/* idle timeout per class, -1 never */
    int64_t        active_us;  /* -1 never */
    int64_t        now_us;     /* latest packet time seen */
    int            have_now;
    pend_t         pipe[PIPE];
    uint32_t       pseq, pn;   /* packets that entered, in flight */
    meter_stats_t  st;
};

static void drain(meter_t *m);

/* ---- configuration ------------------------------------------------------ */

int meter_config_timeouts(meter_config_t *c, const char *spec, diag_t *err)
{
    const char *p = spec;
    while (p && *p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        char name[16];
        size_t nlen = eq ? (size_t)(eq - p) : 0;
        if (!eq || nlen == 0 || nlen >= sizeof(name)) {
            diag_set(err, "--pcap-timeouts: '%.*s' is not name=seconds",
                     (int)len, p);
            return -1;
        }
        memcpy(name, p, nlen);
        name[nlen] = 0;
        char *stop;
        long v = strtol(eq + 1, &stop, 10);
        if (stop == eq + 1 || stop != p + len || v < -1 || v > 100000000) {
            diag_set(err, "--pcap-timeouts: '%.*s': the value must be "
                     "whole seconds (-1 to 100000000)", (int)len, p);
            return -1;
        }
        int *dst = !strcmp(name, "tcp")       ? &c->tcp_s
                   : !strcmp(name, "udp")     ? &c->udp_s
                   : !strcmp(name, "icmp")    ? &c->icmp_s
                   : !strcmp(name, "tcp.fin") ? &c->tcp_fin_s
                   : !strcmp(name, "tcp.rst") ? &c->tcp_rst_s
                   : !strcmp(name, "general") ? &c->idle_s
                   : !strcmp(name, "maxlife") ? &c->active_s
                                              : NULL;
        if (!dst) {
            diag_set(err, "--pcap-timeouts: unknown timeout '%s' (tcp, "
                     "tcp.rst, tcp.fin, udp, icmp, general, maxlife)", name);
            return -1;
        }
        if (v < 0 && dst != &c->tcp_fin_s && dst != &c->tcp_rst_s) {
            diag_set(err, "--pcap-timeouts: %s cannot be negative (0 is "
                     "'never' or 'as the idle timeout')", name);
            return -1;
        }
        *dst = (int)v;
        p = end ? end + 1 : NULL;
    }
    return 0;
}

/* ---- lists ---------------------------------------------------------------- */

static void idle_unlink(meter_t *m, mflow_t *f)
{
    mlist_t *l = &m->idle[f->cls];
    if (f->iprev != NIL)
        m->f[f->iprev].inext = f->inext;
    else
        l->head = f->inext;
    if (f->inext != NIL)
        m->f[f->inext].iprev = f->iprev;
    else
        l->tail = f->iprev;
}

static void idle_append(meter_t *m, mflow_t *f, uint32_t i)
{
    mlist_t *l = &m->idle[f->cls];
    f->inext = NIL;
    f->iprev = l->tail;
    if (l->tail != NIL)
        m->f[l->tail].inext = i;
    else
        l->head = i;
    l->tail = i;
}

static void active_unlink(meter_t *m, mflow_t *f)
{
    if (f->aprev != NIL)
        m->f[f->aprev].anext = f->anext;
    else
        m->active.head = f->anext;
    if (f->anext != NIL)
        m->f[f->anext].aprev = f->aprev;
    else
        m->active.tail = f->aprev;
}

/* ---- the index ---------------------------------------------------------- */

static inline uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v * 0x9e3779b97f4a7c15ull;
    h = (h ^ (h >> 29)) * 0xbf58476d1ce4e5b9ull;
    return h;
}

static uint32_t key_hash(const mkey_t *k)
{
    uint64_t w[5];
    memcpy(w, k, sizeof(w));
    uint64_t h = 0x243f6a8885a308d3ull;
    for (int i = 0; i < 5; i++)
        h = mix(h, w[i]);
    h ^= h >> 32;
    return (uint32_t)h;
}

static inline int key_eq(const mkey_t *x, const mkey_t *y)
{
    return memcmp(x, y, sizeof(*x)) == 0;
}

/* Slot of key k in the index: the entry's slot, or the empty one where
 * it would go. */
static uint32_t idx_find(const meter_t *m, const mkey_t *k, uint32_t h)
{
    uint32_t s = h & m->mask;
    for (;;) {
        uint32_t e = m->idx[s];
        if (e == 0)
            return s;
        const mflow_t *f = &m->f[e - 1];
        if (f->hash == h && key_eq(&f->k, k))
            return s;
        s = (s + 1) & m->mask;
    }
}

/* Remove entry i from the index (backward-shift deletion keeps probe
 * chains whole without tombstones). */
static void idx_del(meter_t *m, uint32_t i)
{
    mflow_t *f = &m->f[i];
    uint32_t s = idx_find(m, &f->k, f->hash);
    for (;;) {
        m->idx[s] = 0;
        uint32_t j = s;
        for (;;) {
            j = (j + 1) & m->mask;
            uint32_t e = m->idx[j];
            if (e == 0)
                return;
            uint32_t home = m->f[e - 1].hash & m->mask;
            /* e may move to s if its home is not in (s, j] cyclically */
            if (s <= j ? (home <= s || home > j) : (home <= s && home > j)) {
                m->idx[s] = e;
                s = j;
                break;
            }
        }
    }
}

/* ---- export ---------------------------------------------------------------- */

static void batch_out(meter_t *m)
{
    if (m->b->n) {
        m->emit(m->ctx, m->b);
        flow_batch_reset(m->b);
        m->b->flags = m->cfg.replay ? FLOW_BATCH_REPLAY : 0;
    }
}

/* One record for direction d of entry f. */
static void record(meter_t *m, const mflow_t *f, int d)
{
    if (m->b->n >= FLOW_BATCH_MAX)
        batch_out(m);
    flow_batch_t *b = m->b;
    uint32_t i = b->n++;
    static const ipaddr_t none;
    b->srcip[i] = f->k.a[d];
    b->dstip[i] = f->k.a[d ^ 1];
    b->nexthop[i] = none;
    b->exporter[i] = m->cfg.exporter;
    b->start[i] = f->first_us[d] / 1000;
    b->end[i] = f->lastp_us[d] / 1000;
    b->received[i] = m->now_us / 1000;
    b->packets[i] = (int64_t)f->pkts[d];
    b->bytes[i] = (int64_t)f->bytes[d];
    b->srcport[i] = f->k.port[d];
    b->dstport[i] = f->k.port[d ^ 1];
    b->proto[i] = f->k.proto;
    b->tcpflags[i] = f->flags[d];
    b->tos[i] = f->tos[d];
    b->ingress[i] = b->egress[i] = 0;
    b->srcas[i] = b->dstas[i] = 0;
    b->srcmask[i] = b->dstmask[i] = 0;
    b->vlan[i] = f->k.vlan;
    b->direction[i] = 0;
    b->sampling[i] = 0;
    b->domain[i] = m->cfg.domain;
    m->st.flows_out++;
}

/* Export entry i and free it. */
static void flow_end(meter_t *m, uint32_t i)
{
    mflow_t *f = &m->f[i];
    for (int d = 0; d < 2; d++)
        if (f->seen[d])
            record(m, f, d);
    idle_unlink(m, f);
    active_unlink(m, f);
    idx_del(m, i);
    f->inext = m->free_head;
    m->free_head = i;
    m->nflows--;
}

/* Export what is due by now_us (packet time moves forward only). */
static void expire(meter_t *m, int64_t now_us)
{
    if (!m->have_now || now_us > m->now_us) {
        m->now_us = now_us;
        m->have_now = 1;
    }
    now_us = m->now_us;
    for (int c = 0; c < MC_N; c++) {
        int64_t to = m->to_us[c];
        if (to < 0)
            continue;
        while (m->idle[c].head != NIL &&
               now_us - m->f[m->idle[c].head].last_us >= to) {
            if (c == MC_FIN)
                m->st.expired_fin++;
            else if (c == MC_RST)
                m->st.expired_rst++;
            else
                m->st.expired_idle++;
            flow_end(m, m->idle[c].head);
        }
    }
    if (m->active_us >= 0)
        while (m->active.head != NIL &&
               now_us - m->f[m->active.head].start_us >= m->active_us) {
            m->st.expired_active++;
            flow_end(m, m->active.head);
        }
}

/* The public form also hands over the partial batch, so that a live
 * capture's flows leave within its expiry period on a quiet link. */
void meter_expire(meter_t *m, int64_t now_us)
{
    drain(m);
    expire(m, now_us);
    batch_out(m);
}

int64_t meter_clock_us(const meter_t *m)
{
    return m->have_now ? m->now_us : 0;
}

void meter_flush(meter_t *m)
{
    drain(m);
    while (m->active.head != NIL) {
        m->st.flushed++;
        flow_end(m, m->active.head);
    }
    batch_out(m);
}

/* ---- packets ----------------------------------------------------------------- */

/* What a packet tells about its flow. */
typedef struct pkt {
    ipaddr_t src, dst;
    uint16_t sport, dport, vlan;
    uint8_t  proto, tos, flags;
    uint64_t iplen;
} pkt_t;

static inline uint16_t be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

/* Ports (and TCP flags) from the transport header at p, n bytes of it
 * captured. Too short: no ports (counted), as softflowd meters such a
 * packet without them. The lengths are softflowd's: a whole TCP header
 * (20), a whole UDP header (8). */
static void transport(meter_t *m, pkt_t *k, const uint8_t *p, size_t n,
                      int frag)
{
    switch (k->proto) {
    case 6:
        if (n < 20)
            break;
        k->sport = be16(p);
        k->dport = be16(p + 2);
        k->flags = p[13];
        return;
    case 17:
        if (n < 8)
            break;
        k->sport = be16(p);
        k->dport = be16(p + 2);
        return;
    case 132: /* SCTP: the common header's ports */
        if (n < 12)
            break;
        k->sport = be16(p);
        k->dport = be16(p + 2);
        return;
    case 1:
    case 58:
        if (n < 2)
            break;
        k->dport = (uint16_t)(p[0] * 256 + p[1]);
        return;
    default:
        return;
    }
    if (!frag)
        m->st.no_transport++;
}

/* IPv4 at p (n captured, the frame's length after the link header
 * wire). 0 when metered into k, -1 when not (counted). */
static int ipv4(meter_t *m, pkt_t *k, const uint8_t *p, size_t n,
                uint64_t wire)
{
    if (n < 20) {
        m->st.truncated++;
        return -1;
    }
    size_t hl = (size_t)(p[0] & 0xf) * 4;
    if ((p[0] >> 4) != 4 || hl < 20) {
        m->st.malformed++;
        return -1;
    }
    if (n < hl) {
        m->st.truncated++;
        return -1;
    }
    uint32_t s = (uint32_t)p[12] << 24 | (uint32_t)p[13] << 16 |
                 (uint32_t)p[14] << 8 | p[15];
    uint32_t d = (uint32_t)p[16] << 24 | (uint32_t)p[17] << 16 |
                 (uint32_t)p[18] << 8 | p[19];
    k->src = ipaddr_from_v4(s);
    k->dst = ipaddr_from_v4(d);
    k->tos = p[1];
    k->proto = p[9];
    uint16_t tot = be16(p + 2);
    k->iplen = tot ? tot : wire; /* 0: segmentation offload */
    uint16_t off = be16(p + 6);
    int frag = (off & 0x3fff) != 0;
    if (frag)
        m->st.fragments++;
    if (off & 0x1fff) /* a later fragment: no transport header */
        return 0;
    transport(m, k, p + hl, n - hl, frag);
    return 0;
}

static int ipv6(meter_t *m, pkt_t *k, const uint8_t *p, size_t n,
                uint64_t wire)
{
    if (n < 40) {
        m->st.truncated++;
        return -1;
    }
    if ((p[0] >> 4) != 6) {
        m->st.malformed++;
        return -1;
    }
    memcpy(k->src.a, p + 8, 16);
    memcpy(k->dst.a, p + 24, 16);
    k->tos = (uint8_t)((p[0] & 0xf) << 4 | p[1] >> 4);
    uint16_t plen = be16(p + 4);
    k->iplen = plen ? (uint64_t)plen + 40 : wire; /* 0: jumbogram */
    uint8_t nh = p[6];
    size_t off = 40;
    int frag = 0;
    /* extension headers: hop-by-hop, routing, destination options,
     * fragment (softflowd's list; AH and ESP are protocols here) */
    for (int hops = 0; hops < 16; hops++) {
        if (nh == 0 || nh == 43 || nh == 60) {
            if (n - off < 8) {
                m->st.no_transport++;
                k->proto = nh;
                return 0;
            }
            size_t hl = ((size_t)p[off + 1] + 1) * 8;
            if (n - off < hl) {
                m->st.no_transport++;
                k->proto = nh;
                return 0;
            }
            nh = p[off];
            off += hl;
        } else if (nh == 44) {
            if (n - off < 8) {
                m->st.no_transport++;
                k->proto = nh;
                return 0;
            }
            if (!frag)
                m->st.fragments++;
            frag = 1;
            uint16_t fo = be16(p + off + 2);
            nh = p[off];
            off += 8;
            if (fo & 0xfff8) { /* a later fragment */
                k->proto = nh;
                return 0;
            }
        } else {
            break;
        }
    }
    k->proto = nh;
    transport(m, k, p + off, n - off, frag);
    return 0;
}

int meter_linktype_ok(int lt)
{
    switch (lt) {
    case DLT_EN10MB:
    case DLT_RAW:
    case 101: /* LINKTYPE_RAW, when not mapped */
    case DLT_IPV4:
    case DLT_IPV6:
    case DLT_LINUX_SLL:
    case DLT_LINUX_SLL2:
    case DLT_NULL:
    case DLT_LOOP:
        return 1;
    default:
        return 0;
    }
}

/* Find the network layer: *off its offset, *eth its ethertype-like kind
 * (0x0800 IPv4, 0x86dd IPv6, 0 not IP). -1 when the link header itself
 * is cut short. */
static int link_layer(int lt, const uint8_t *p, size_t n, size_t *off,
                      uint16_t *eth, uint16_t *vlan)
{
    *vlan = 0;
    switch (lt) {
    case DLT_EN10MB: {
        if (n < 14)
            return -1;
        size_t o = 12;
        uint16_t t = be16(p + o);
        int tags = 0;
        while ((t == 0x8100 || t == 0x88a8 || t == 0x9100) && tags < 4) {
            if (n < o + 6)
                return -1;
            if (tags == 0)
                *vlan = be16(p + o + 2) & 0xfff;
            o += 4;
            t = be16(p + o);
            tags++;
        }
        *off = o + 2;
        *eth = t;
        return 0;
    }
    case DLT_RAW:
    case 101:
    case DLT_IPV4:
    case DLT_IPV6:
        if (n < 1)
            return -1;
        *off = 0;
        *eth = (p[0] >> 4) == 4 ? 0x0800 : (p[0] >> 4) == 6 ? 0x86dd : 0;
        return 0;
    case DLT_LINUX_SLL:
        if (n < 16)
            return -1;
        *off = 16;
        *eth = be16(p + 14);
        return 0;
    case DLT_LINUX_SLL2:
        if (n < 20)
            return -1;
        *off = 20;
        *eth = be16(p);
        return 0;
    case DLT_NULL:
    case DLT_LOOP: {
        if (n < 4)
            return -1;
        /* the address family, in the capturing host's byte order (NULL)
         * or network order (LOOP): take either */
        uint32_t be = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
                      (uint32_t)p[2] << 8 | p[3];
        uint32_t le = (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 |
                      (uint32_t)p[1] << 8 | p[0];
        uint32_t af = be < 256 ? be : le;
        *off = 4;
        *eth = af == 2 ? 0x0800
               : (af == 10 || af == 24 || af == 28 || af == 30) ? 0x86dd
                                                                 : 0;
        return 0;
    }
    default:
        *off = 0;
        *eth = 0;
        return 0;
    }
}

static enum mclass proto_class(uint8_t proto)
{
    return proto == 6 ? MC_TCP : proto == 17 ? MC_UDP
           : (proto == 1 || proto == 58) ? MC_ICMP : MC_OTHER;
}

/* Count packet p into the table (the end of the pipeline). */
static void apply(meter_t *m, const pend_t *p)
{
    int64_t ts_us = p->ts;
    if (!m->have_now || ts_us > m->now_us)
        expire(m, ts_us);
    int d = p->d;
    uint32_t h = p->h;
    uint32_t s = idx_find(m, &p->k, h);
    uint32_t i;
    mflow_t *f;
    if (m->idx[s]) {
        i = m->idx[s] - 1;
        f = &m->f[i];
        idle_unlink(m, f);
    } else {
        if (m->nflows >= m->cfg.max_flows) {
            /* full: the entry idle the longest goes */
            uint32_t old = NIL;
            for (int c = 0; c < MC_N; c++) {
                uint32_t e = m->idle[c].head;
                if (e != NIL &&
                    (old == NIL || m->f[e].last_us < m->f[old].last_us))
                    old = e;
            }
            m->st.table_full++;
            flow_end(m, old);
            s = idx_find(m, &p->k, h);
        }
        if (m->free_head != NIL) {
            i = m->free_head;
            m->free_head = m->f[i].inext;
        } else {
            i = m->used_top++;
        }
        f = &m->f[i];
        memset(f, 0, sizeof(*f));
        f->k = p->k;
        f->hash = h;
        f->start_us = f->last_us = ts_us;
        f->cls = (uint8_t)proto_class(p->k.proto);
        /* the active list, in order of first packet */
        f->anext = NIL;
        f->aprev = m->active.tail;
        if (m->active.tail != NIL)
            m->f[m->active.tail].anext = i;
        else
            m->active.head = i;
        m->active.tail = i;
        m->idx[s] = i + 1;
        m->nflows++;
        m->st.flows_created++;
    }
    if (!f->seen[d]) {
        f->seen[d] = 1;
        f->first_us[d] = f->lastp_us[d] = ts_us;
        f->tos[d] = p->tos;
    }
    if (ts_us > f->lastp_us[d])
        f->lastp_us[d] = ts_us;
    if (ts_us > f->last_us)
        f->last_us = ts_us;
    f->pkts[d]++;
    f->bytes[d] += p->iplen;
    f->flags[d] |= p->flags;
    if (p->k.proto == 6) {
        uint8_t all = f->flags[0] | f->flags[1];
        if (m->cfg.tcp_rst_s >= 0 && (all & 0x04))
            f->cls = MC_RST;
        else if (m->cfg.tcp_fin_s >= 0 &&
                 (m->cfg.biflow ? (f->flags[0] & f->flags[1] & 0x01)
                                : (f->flags[0] & 0x01)))
            f->cls = MC_FIN;
    }
    idle_append(m, f, i);
    /* a close that ends the flow at once */
    if (m->to_us[f->cls] == 0 && (f->cls == MC_FIN || f->cls == MC_RST)) {
        if (f->cls == MC_FIN)
            m->st.expired_fin++;
        else
            m->st.expired_rst++;
        flow_end(m, i);
    }
}

/* Finish the packets in the pipeline. */
static void drain(meter_t *m)
{
    while (m->pn) {
        apply(m, &m->pipe[(m->pseq - m->pn) & (PIPE - 1)]);
        m->pn--;
    }
}

void meter_packet(meter_t *m, int linktype, int64_t ts_us,
                  const uint8_t *data, uint32_t caplen, uint32_t wirelen)
{
    m->st.packets++;
    size_t off;
    uint16_t eth;
    pkt_t k = {0};
    if (link_layer(linktype, data, caplen, &off, &eth, &k.vlan) < 0) {
        m->st.truncated++;
        return;
    }
    uint64_t wire = wirelen > off ? wirelen - off : 0;
    int rc;
    if (eth == 0x0800)
        rc = ipv4(m, &k, data + off, caplen - off, wire);
    else if (eth == 0x86dd)
        rc = ipv6(m, &k, data + off, caplen - off, wire);
    else {
        m->st.not_ip++;
        return;
    }
    if (rc < 0)
        return;
    m->st.metered++;

    /* into the pipeline; the key: with biflow, the lower address first
     * (softflowd's order) */
    pend_t *p = &m->pipe[m->pseq & (PIPE - 1)];
    int d = m->cfg.biflow && ipaddr_cmp(&k.src, &k.dst) > 0;
    p->k.a[d] = k.src;
    p->k.a[d ^ 1] = k.dst;
    p->k.port[d] = k.sport;
    p->k.port[d ^ 1] = k.dport;
    p->k.vlan = k.vlan;
    p->k.proto = k.proto;
    p->k.pad = 0;
    p->h = key_hash(&p->k);
    p->d = (uint8_t)d;
    p->flags = k.flags;
    p->tos = k.tos;
    p->ts = ts_us;
    p->iplen = k.iplen;
    __builtin_prefetch(&m->idx[p->h & m->mask]);
    m->pseq++;
    m->pn++;
    /* older packets: prefetch their entries, then the entries' list
     * neighbours (hints: the first slot only, and the table may change
     * before they are used) */
    if (m->pn > PIPE_ENTRY) {
        const pend_t *q = &m->pipe[(m->pseq - 1 - PIPE_ENTRY) & (PIPE - 1)];
        uint32_t e = m->idx[q->h & m->mask];
        if (e) {
            __builtin_prefetch(&m->f[e - 1]);
            __builtin_prefetch(&m->f[e - 1].last_us, 1);
        }
    }
    if (m->pn > PIPE_LINKS) {
        const pend_t *q = &m->pipe[(m->pseq - 1 - PIPE_LINKS) & (PIPE - 1)];
        uint32_t e = m->idx[q->h & m->mask];
        if (e && m->f[e - 1].hash == q->h) {
            const mflow_t *f = &m->f[e - 1];
            if (f->iprev != NIL)
                __builtin_prefetch(&m->f[f->iprev], 1);
            if (f->inext != NIL)
                __builtin_prefetch(&m->f[f->inext], 1);
        }
    }
    if (m->pn == PIPE) {
        apply(m, &m->pipe[(m->pseq - PIPE) & (PIPE - 1)]);
        m->pn--;
    }
}

/* ---- life cycle ---------------------------------------------------------- */

static int64_t secs_us(int s)
{
    return (int64_t)s * 1000000;
}

meter_t *meter_new(const meter_config_t *cfg, ingest_emit_fn emit, void *ctx)
{
    meter_t *m = xcalloc(1, sizeof(*m));
    m->cfg = *cfg;
    if (m->cfg.max_flows < 1)
        m->cfg.max_flows = 1;
    if (m->cfg.max_flows > METER_MAX_FLOWS)
        m->cfg.max_flows = METER_MAX_FLOWS;
    m->emit = emit;
    m->ctx = ctx;
    m->b = flow_batch_new();
    m->b->flags = cfg->replay ? FLOW_BATCH_REPLAY : 0;
    void *fa = NULL; /* cache-line aligned: an entry is 3 whole lines */
    size_t fbytes = m->cfg.max_flows * sizeof(mflow_t);
    if (posix_memalign(&fa, 64, fbytes) != 0) {
        fprintf(stderr, "flowsql: out of memory (%zu bytes)\n", fbytes);
        abort();
    }
    m->f = fa;
    size_t cap = 64;
    while (cap < m->cfg.max_flows * 2)
        cap <<= 1;
    m->idx = xcalloc(cap, sizeof(uint32_t));
    m->mask = (uint32_t)(cap - 1);
    m->free_head = NIL;
    for (int c = 0; c < MC_N; c++)
        m->idle[c].head = m->idle[c].tail = NIL;
    m->active.head = m->active.tail = NIL;
    int64_t idle = cfg->idle_s > 0 ? secs_us(cfg->idle_s) : -1;
    m->to_us[MC_TCP] = cfg->tcp_s > 0 ? secs_us(cfg->tcp_s) : idle;
    m->to_us[MC_UDP] = cfg->udp_s > 0 ? secs_us(cfg->udp_s) : idle;
    m->to_us[MC_ICMP] = cfg->icmp_s > 0 ? secs_us(cfg->icmp_s) : idle;
    m->to_us[MC_OTHER] = idle;
    m->to_us[MC_FIN] = cfg->tcp_fin_s >= 0 ? secs_us(cfg->tcp_fin_s) : -1;
    m->to_us[MC_RST] = cfg->tcp_rst_s >= 0 ? secs_us(cfg->tcp_rst_s) : -1;
    m->active_us = cfg->active_s > 0 ? secs_us(cfg->active_s) : -1;
    return m;
}

void meter_get_stats(meter_t *m, meter_stats_t *out)
{
    /* the packets in the pipeline are counted into flows first: they are
     * not part of what the caller sees as the meter's state */
    drain(m);
    *out = m->st;
    out->active_flows = m->nflows;
}

void meter_free(meter_t *m)
{
    if (!m)
        return;
    flow_batch_free(m->b);
    free(m->f);
    free(m->idx);
    free(m);
}
