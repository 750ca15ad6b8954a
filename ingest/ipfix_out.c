/*
 * ipfix_out.c - the IPFIX encoder of flowsql replay; see ipfix_out.h.
 *
 * A message is built in one buffer: the 16-byte header, an optional
 * template set, then data sets. A data set stays open while flows of
 * its template come; a flow of another template closes it and opens
 * another. The header's length and sequence number are written when the
 * message is sent.
 */
#include "ingest/ipfix_out.h"
#include "util/arena.h"

#include <stdlib.h>
#include <string.h>

enum { T_V4 = 256, T_V6, T_V4S, T_V6S, NTEMPL = 4 };

typedef struct ie {
    uint16_t id, len;
} ie_t;

/* Element lists, in record order; the IPv6 ones differ in addresses and
 * masks. Must match put_record() below. */
#define COMMON_HEAD                                                       \
    {7, 2}, {11, 2}, {4, 1}, {6, 2}, {5, 1}, {152, 8}, {153, 8}, {2, 8},  \
    {1, 8}, {10, 4}, {14, 4}, {16, 4}, {17, 4}
static const ie_t ies_v4[] = {{8, 4}, {12, 4}, {15, 4}, COMMON_HEAD,
                              {9, 1}, {13, 1}, {58, 2}, {61, 1}, {34, 4}};
static const ie_t ies_v6[] = {{27, 16}, {28, 16}, {62, 16}, COMMON_HEAD,
                              {29, 1}, {30, 1}, {58, 2}, {61, 1}, {34, 4}};
#define NIES (sizeof(ies_v4) / sizeof(ies_v4[0]))
_Static_assert(sizeof(ies_v4) == sizeof(ies_v6), "same element count");

typedef struct domain {
    uint32_t id;
    uint32_t seq;            /* data records sent before the next message */
    uint64_t msgs_since;     /* messages since the last templates */
    int64_t  templ_ms;       /* when they were sent */
    int      templ_sent;
} domain_t;

struct ipfix_out {
    ipfix_out_opts_t o;
    ipfix_out_fn     fn;
    void            *ctx;
    uint8_t         *buf;
    size_t           len;        /* bytes in buf; 0: no message open */
    size_t           set_off;    /* open data set's header, 0: none */
    int              set_id;
    uint32_t         nrec;       /* data records in the open message */
    domain_t        *doms;
    size_t           ndoms, cap;
    domain_t        *cur;        /* domain of the open message */
    ipfix_out_stats_t st;
    size_t           rec_len[NTEMPL];
};

static size_t record_len(int templ)
{
    const ie_t *ies = templ == T_V4 || templ == T_V4S ? ies_v4 : ies_v6;
    size_t n = NIES - (templ == T_V4 || templ == T_V6 ? 1 : 0), len = 0;
    for (size_t i = 0; i < n; i++)
        len += ies[i].len;
    return len;
}

ipfix_out_t *ipfix_out_new(const ipfix_out_opts_t *o, ipfix_out_fn fn,
                           void *ctx)
{
    ipfix_out_t *x = xcalloc(1, sizeof(*x));
    if (o)
        x->o = *o;
    if (!x->o.mtu)
        x->o.mtu = 1400;
    if (x->o.mtu < 512)
        x->o.mtu = 512;
    if (x->o.mtu > 65535)
        x->o.mtu = 65535;
    if (x->o.template_every <= 0)
        x->o.template_every = 20;
    if (x->o.template_ms <= 0)
        x->o.template_ms = 10000;
    x->fn = fn;
    x->ctx = ctx;
    x->buf = xmalloc(x->o.mtu);
    for (int t = 0; t < NTEMPL; t++)
        x->rec_len[t] = record_len(T_V4 + t);
    return x;
}

void ipfix_out_free(ipfix_out_t *x)
{
    if (!x)
        return;
    free(x->buf);
    free(x->doms);
    free(x);
}

void ipfix_out_stats(const ipfix_out_t *x, ipfix_out_stats_t *out)
{
    *out = x->st;
}

void ipfix_out_reset_templates(ipfix_out_t *x)
{
    for (size_t i = 0; i < x->ndoms; i++)
        x->doms[i].templ_sent = 0;
}

static domain_t *domain_get(ipfix_out_t *x, uint32_t id)
{
    if (x->cur && x->cur->id == id)
        return x->cur;
    for (size_t i = 0; i < x->ndoms; i++)
        if (x->doms[i].id == id)
            return &x->doms[i];
    if (x->ndoms == x->cap) {
        /* cur points into the array: keep its index across the move */
        size_t ci = x->cur ? (size_t)(x->cur - x->doms) : 0;
        x->cap = x->cap ? x->cap * 2 : 8;
        x->doms = xrealloc(x->doms, x->cap * sizeof(domain_t));
        if (x->cur)
            x->cur = &x->doms[ci];
    }
    domain_t *d = &x->doms[x->ndoms++];
    memset(d, 0, sizeof(*d));
    d->id = id;
    return d;
}

static inline uint8_t *put16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
    return p + 2;
}

static inline uint8_t *put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
    return p + 4;
}

static inline uint8_t *put64(uint8_t *p, uint64_t v)
{
    p = put32(p, (uint32_t)(v >> 32));
    return put32(p, (uint32_t)v);
}

/* v clamped to [0, max], counting a clamp. */
static inline uint64_t fit(ipfix_out_t *x, int64_t v, uint64_t max)
{
    if (v < 0) {
        x->st.clamped++;
        return 0;
    }
    if ((uint64_t)v > max) {
        x->st.clamped++;
        return max;
    }
    return (uint64_t)v;
}

/* Close the open data set: write its length. */
static void set_close(ipfix_out_t *x)
{
    if (!x->set_off)
        return;
    put16(x->buf + x->set_off + 2, (uint32_t)(x->len - x->set_off));
    x->set_off = 0;
}

int ipfix_out_flush(ipfix_out_t *x)
{
    if (!x->len)
        return 0;
    set_close(x);
    domain_t *d = x->cur;
    put16(x->buf + 2, (uint32_t)x->len);
    put32(x->buf + 8, d->seq);
    d->seq += x->nrec;
    d->msgs_since++;
    size_t len = x->len;
    x->len = 0;
    x->nrec = 0;
    x->st.messages++;
    x->st.bytes += len;
    return x->fn(x->ctx, x->buf, len);
}

/* The template set of all four templates, at p; returns its end. */
static uint8_t *put_templates(uint8_t *p)
{
    uint8_t *set = p;
    p = put16(p, 2);
    p += 2;
    for (int t = 0; t < NTEMPL; t++) {
        int id = T_V4 + t;
        const ie_t *ies = id == T_V4 || id == T_V4S ? ies_v4 : ies_v6;
        size_t n = NIES - (id == T_V4 || id == T_V6 ? 1 : 0);
        p = put16(p, (uint32_t)id);
        p = put16(p, (uint32_t)n);
        for (size_t i = 0; i < n; i++) {
            p = put16(p, ies[i].id);
            p = put16(p, ies[i].len);
        }
    }
    put16(set + 2, (uint32_t)(p - set));
    return p;
}

/* Open a message for domain d at now_ms, with the templates if due. */
static void msg_open(ipfix_out_t *x, domain_t *d, int64_t now_ms)
{
    uint8_t *p = x->buf;
    p = put16(p, 10);
    p = put16(p, 0);                      /* length, at flush */
    p = put32(p, (uint32_t)(now_ms / 1000));
    p = put32(p, 0);                      /* sequence, at flush */
    p = put32(p, d->id);
    int due = !d->templ_sent ||
              (!x->o.stream && (d->msgs_since >= (uint64_t)x->o.template_every ||
                                now_ms - d->templ_ms >= x->o.template_ms));
    if (due) {
        p = put_templates(p);
        d->templ_sent = 1;
        d->templ_ms = now_ms;
        d->msgs_since = 0;
        x->st.template_sets++;
    }
    x->len = (size_t)(p - x->buf);
    x->cur = d;
    x->set_off = 0;
    x->set_id = 0;
    x->nrec = 0;
}

static int is_v4_or_zero(const ipaddr_t *a)
{
    static const ipaddr_t zero;
    return ipaddr_is_v4(a) || memcmp(a, &zero, sizeof(zero)) == 0;
}

int ipfix_out_add(ipfix_out_t *x, const flow_batch_t *b, uint32_t i,
                  int64_t now_ms)
{
    uint32_t dom = (uint32_t)fit(x, b->domain[i], UINT32_MAX);
    int v4 = ipaddr_is_v4(&b->srcip[i]) && ipaddr_is_v4(&b->dstip[i]) &&
             is_v4_or_zero(&b->nexthop[i]);
    int sampled = b->sampling[i] != 0;
    int templ = (v4 ? T_V4 : T_V6) + (sampled ? 2 : 0);
    size_t rlen = x->rec_len[templ - T_V4];

    domain_t *d = domain_get(x, dom);
    if (x->len && x->cur != d && ipfix_out_flush(x) < 0)
        return -1;
    /* room for the record and, if a new set starts, its header (an
     * empty message always has room: mtu >= 512 holds the header, the
     * templates and the longest record) */
    size_t need = rlen + (x->set_id != templ ? 4 : 0);
    if (x->len && x->len + need > x->o.mtu && ipfix_out_flush(x) < 0)
        return -1;
    if (!x->len)
        msg_open(x, d, now_ms);
    if (x->set_id != templ) {
        set_close(x);
        x->set_off = x->len;
        put16(x->buf + x->len, (uint32_t)templ);
        x->len += 4;
        x->set_id = templ;
    }

    uint8_t *p = x->buf + x->len;
    if (v4) {
        p = put32(p, ipaddr_v4(&b->srcip[i]));
        p = put32(p, ipaddr_v4(&b->dstip[i]));
        p = put32(p, ipaddr_is_v4(&b->nexthop[i]) ? ipaddr_v4(&b->nexthop[i])
                                                   : 0);
    } else {
        memcpy(p, b->srcip[i].a, 16);
        memcpy(p + 16, b->dstip[i].a, 16);
        memcpy(p + 32, b->nexthop[i].a, 16);
        p += 48;
    }
    int64_t proto = b->proto[i];
    p = put16(p, (uint32_t)fit(x, b->srcport[i], 65535));
    p = put16(p, (uint32_t)fit(x, b->dstport[i], 65535));
    *p++ = (uint8_t)fit(x, proto, 255);
    p = put16(p, (uint32_t)fit(x, b->tcpflags[i], 65535));
    *p++ = (uint8_t)fit(x, b->tos[i], 255);
    p = put64(p, fit(x, b->start[i], INT64_MAX));
    p = put64(p, fit(x, b->end[i], INT64_MAX));
    p = put64(p, fit(x, b->packets[i], INT64_MAX));
    p = put64(p, fit(x, b->bytes[i], INT64_MAX));
    p = put32(p, (uint32_t)fit(x, b->ingress[i], UINT32_MAX));
    p = put32(p, (uint32_t)fit(x, b->egress[i], UINT32_MAX));
    p = put32(p, (uint32_t)fit(x, b->srcas[i], UINT32_MAX));
    p = put32(p, (uint32_t)fit(x, b->dstas[i], UINT32_MAX));
    *p++ = (uint8_t)fit(x, b->srcmask[i], 255);
    *p++ = (uint8_t)fit(x, b->dstmask[i], 255);
    p = put16(p, (uint32_t)fit(x, b->vlan[i], 65535));
    *p++ = (uint8_t)fit(x, b->direction[i], 255);
    if (sampled)
        p = put32(p, (uint32_t)fit(x, b->sampling[i], UINT32_MAX));
    x->len = (size_t)(p - x->buf);
    x->nrec++;
    x->st.records++;
    return 0;
}
