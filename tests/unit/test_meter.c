/*
 * test_meter.c - the flow meter (ingest/meter.c) and capture files
 * (ingest/pcapfile.c): crafted packets in memory for every link type,
 * VLAN tags, IPv4 and IPv6 (extension headers, fragments), ICMP, TCP
 * flags; biflows, idle and active timeouts, FIN and RST, a full table;
 * truncated and garbage packets counted and never a crash, and a fuzz
 * loop of mutations; pcap files written with libpcap and read back.
 */
#include "ingest/meter.h"
#include "tests/test.h"

#include <fcntl.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- collected records --------------------------------------------------- */

typedef struct rec {
    ipaddr_t src, dst;
    int64_t  sport, dport, proto, packets, bytes, flags, tos, vlan;
    int64_t  start, end, received;
} rec_t;

static rec_t recs[70000];
static int   nrec;

static void collect(void *ctx, flow_batch_t *b)
{
    (void)ctx;
    for (uint32_t i = 0; i < b->n && nrec < (int)(sizeof(recs) / sizeof(recs[0]));
         i++) {
        rec_t *r = &recs[nrec++];
        r->src = b->srcip[i];
        r->dst = b->dstip[i];
        r->sport = b->srcport[i];
        r->dport = b->dstport[i];
        r->proto = b->proto[i];
        r->packets = b->packets[i];
        r->bytes = b->bytes[i];
        r->flags = b->tcpflags[i];
        r->tos = b->tos[i];
        r->vlan = b->vlan[i];
        r->start = b->start[i];
        r->end = b->end[i];
        r->received = b->received[i];
    }
}

/* the record from src:sport, or NULL */
static const rec_t *find(uint32_t src, int sport)
{
    ipaddr_t s = ipaddr_from_v4(src);
    for (int i = 0; i < nrec; i++)
        if (!ipaddr_cmp(&recs[i].src, &s) &&
            (sport < 0 || recs[i].sport == sport))
            return &recs[i];
    return NULL;
}

/* ---- building packets ---------------------------------------------------- */

typedef struct pk {
    uint8_t b[2048];
    size_t  len;
} pk_t;

static void put(pk_t *p, const void *d, size_t n)
{
    memcpy(p->b + p->len, d, n);
    p->len += n;
}

static void put16(pk_t *p, unsigned v)
{
    uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    put(p, b, 2);
}

static void put32(pk_t *p, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8),
                    (uint8_t)v};
    put(p, b, 4);
}

/* transport header + payload */
static void l4(pk_t *p, int proto, int sport, int dport, int flags,
               size_t payload)
{
    if (proto == 6) {
        put16(p, (unsigned)sport);
        put16(p, (unsigned)dport);
        put32(p, 1);
        put32(p, 0);
        uint8_t b[8] = {0x50, (uint8_t)flags, 0xff, 0xff, 0, 0, 0, 0};
        put(p, b, 8);
    } else if (proto == 17 || proto == 132) {
        put16(p, (unsigned)sport);
        put16(p, (unsigned)dport);
        put16(p, (unsigned)(8 + payload));
        put16(p, 0);
        if (proto == 132)
            put32(p, 0), put32(p, 0);
    } else if (proto == 1 || proto == 58) {
        uint8_t b[8] = {(uint8_t)sport, (uint8_t)dport, 0, 0, 0, 1, 0, 1};
        put(p, b, 8);
    }
    memset(p->b + p->len, 0xab, payload);
    p->len += payload;
}

/* IPv4 packet; frag = the fragment field (flags + offset) */
static void ip4(pk_t *p, uint32_t s, uint32_t d, int proto, int sport,
                int dport, int flags, size_t payload, unsigned frag, int tos)
{
    size_t at = p->len;
    uint8_t h[12] = {0x45, (uint8_t)tos, 0, 0, 0, 1, (uint8_t)(frag >> 8),
                     (uint8_t)frag, 64, (uint8_t)proto, 0, 0};
    put(p, h, 12);
    put32(p, s);
    put32(p, d);
    if ((frag & 0x1fff) == 0)
        l4(p, proto, sport, dport, flags, payload);
    else {
        memset(p->b + p->len, 0xcd, payload);
        p->len += payload;
    }
    size_t tot = p->len - at;
    p->b[at + 2] = (uint8_t)(tot >> 8);
    p->b[at + 3] = (uint8_t)tot;
}

static const uint8_t V6A[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
                                0, 0, 0, 0, 0, 0, 0, 1};
static const uint8_t V6B[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
                                0, 0, 0, 0, 0, 0, 0, 2};

/* IPv6 with the extension headers named in ext (0 hop-by-hop, 60
 * destination options, 43 routing, 44 fragment with offset fragoff) */
static void ip6(pk_t *p, const uint8_t *s, const uint8_t *d, int proto,
                int sport, int dport, int flags, size_t payload,
                const int *ext, int next, unsigned fragoff)
{
    size_t at = p->len;
    uint8_t h[8] = {0x60, 0, 0, 0, 0, 0, (uint8_t)(next ? ext[0] : proto), 64};
    put(p, h, 8);
    put(p, s, 16);
    put(p, d, 16);
    int later = 0;
    for (int i = 0; i < next; i++) {
        int nh = i + 1 < next ? ext[i + 1] : proto;
        if (ext[i] == 44) {
            uint8_t f[8] = {(uint8_t)nh, 0, (uint8_t)(fragoff >> 8),
                            (uint8_t)(fragoff | 1), 0, 0, 0, 7};
            put(p, f, 8);
            later = (fragoff & 0xfff8) != 0;
        } else {
            uint8_t e[16] = {(uint8_t)nh, 1, 1, 4}; /* 16 bytes, PadN */
            put(p, e, 16);
        }
    }
    if (!later)
        l4(p, proto, sport, dport, flags, payload);
    else {
        memset(p->b + p->len, 0xcd, payload);
        p->len += payload;
    }
    size_t pl = p->len - at - 40;
    p->b[at + 4] = (uint8_t)(pl >> 8);
    p->b[at + 5] = (uint8_t)pl;
}

static void eth(pk_t *p, unsigned type, const int *vlans, int nv)
{
    uint8_t mac[12] = {0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 6};
    put(p, mac, 12);
    for (int i = 0; i < nv; i++) {
        put16(p, i == 0 && nv > 1 ? 0x88a8 : 0x8100);
        put16(p, (unsigned)vlans[i] | 0x2000); /* PCP 1 */
    }
    put16(p, type);
}

#define A 0x0a000001u
#define B 0x0a000002u
#define C 0x0a000003u

static meter_t *mk(meter_config_t *c)
{
    nrec = 0;
    return meter_new(c, collect, NULL);
}

static void feed(meter_t *m, int lt, int64_t ts_s, const pk_t *p)
{
    meter_packet(m, lt, ts_s * 1000000, p->b, (uint32_t)p->len,
                 (uint32_t)p->len);
}

/* ---- tests ------------------------------------------------------------------ */

/* The same UDP packet in every link type gives the same record; the
 * outer VLAN id is kept. */
static void test_link_types(void)
{
    meter_config_t c = METER_CONFIG_INIT;
    meter_t *m = mk(&c);
    int one[1] = {100}, two[2] = {200, 300};
    pk_t p[8];
    memset(p, 0, sizeof(p));
    int lts[8];
    /* Ethernet, 802.1Q, QinQ */
    eth(&p[0], 0x0800, NULL, 0);
    ip4(&p[0], A, B, 17, 1000, 53, 0, 20, 0, 0);
    lts[0] = DLT_EN10MB;
    eth(&p[1], 0x0800, one, 1);
    ip4(&p[1], A, B, 17, 1001, 53, 0, 20, 0, 0);
    lts[1] = DLT_EN10MB;
    eth(&p[2], 0x0800, two, 2);
    ip4(&p[2], A, B, 17, 1002, 53, 0, 20, 0, 0);
    lts[2] = DLT_EN10MB;
    /* raw */
    ip4(&p[3], A, B, 17, 1003, 53, 0, 20, 0, 0);
    lts[3] = DLT_RAW;
    /* Linux SLL: 16 bytes, protocol at 14 */
    uint8_t sll[14] = {0, 0, 0, 1, 0, 6};
    put(&p[4], sll, 14);
    put16(&p[4], 0x0800);
    ip4(&p[4], A, B, 17, 1004, 53, 0, 20, 0, 0);
    lts[4] = DLT_LINUX_SLL;
    /* SLL2: protocol first, 20 bytes */
    put16(&p[5], 0x0800);
    uint8_t sll2[18] = {0};
    put(&p[5], sll2, 18);
    ip4(&p[5], A, B, 17, 1005, 53, 0, 20, 0, 0);
    lts[5] = DLT_LINUX_SLL2;
    /* NULL (host order: little endian here), LOOP (network order) */
    uint8_t null4[4] = {2, 0, 0, 0}, loop4[4] = {0, 0, 0, 2};
    put(&p[6], null4, 4);
    ip4(&p[6], A, B, 17, 1006, 53, 0, 20, 0, 0);
    lts[6] = DLT_NULL;
    put(&p[7], loop4, 4);
    ip4(&p[7], A, B, 17, 1007, 53, 0, 20, 0, 0);
    lts[7] = DLT_LOOP;
    for (int i = 0; i < 8; i++) {
        CHECK(meter_linktype_ok(lts[i]));
        feed(m, lts[i], 1000, &p[i]);
    }
    meter_flush(m);
    CHECK_INT(nrec, 8);
    for (int i = 0; i < 8; i++) {
        const rec_t *r = find(A, 1000 + i);
        CHECK(r != NULL);
        if (!r)
            continue;
        CHECK_INT(r->dport, 53);
        CHECK_INT(r->proto, 17);
        CHECK_INT(r->packets, 1);
        CHECK_INT(r->bytes, 20 + 8 + 20); /* the IP length */
        CHECK_INT(r->vlan, i == 1 ? 100 : i == 2 ? 200 : 0);
        CHECK_INT(r->start, 1000000);
        CHECK_INT(r->received, 1000000);
    }
    CHECK(!meter_linktype_ok(DLT_IEEE802_11));
    meter_stats_t st;
    meter_get_stats(m, &st);
    CHECK_INT(st.packets, 8);
    CHECK_INT(st.metered, 8);
    CHECK_INT(st.flows_out, 8);
    CHECK_INT(st.active_flows, 0);
    meter_free(m);
}

/* IPv6: extension headers skipped to the transport header; fragments:
 * the first has ports, later ones are a flow of their own without. */
static void test_ipv6(void)
{
    meter_config_t c = METER_CONFIG_INIT;
    meter_t *m = mk(&c);
    pk_t p;
    int ext[3] = {0, 60, 43};
    memset(&p, 0, sizeof(p));
    ip6(&p, V6A, V6B, 6, 40000, 443, 0x02, 10, ext, 3, 0);
    feed(m, DLT_RAW, 10, &p);
    int fr[1] = {44};
    memset(&p, 0, sizeof(p));
    ip6(&p, V6A, V6B, 17, 5000, 5001, 0, 100, fr, 1, 0);  /* first */
    feed(m, DLT_RAW, 10, &p);
    memset(&p, 0, sizeof(p));
    ip6(&p, V6A, V6B, 17, 5000, 5001, 0, 100, fr, 1, 104); /* later */
    feed(m, DLT_RAW, 10, &p);
    memset(&p, 0, sizeof(p));
    ip6(&p, V6B, V6A, 58, 129, 0, 0, 8, NULL, 0, 0);       /* echo reply */
    feed(m, DLT_RAW, 11, &p);
    meter_flush(m);
    CHECK_INT(nrec, 4);
    int seen = 0;
    for (int i = 0; i < nrec; i++) {
        rec_t *r = &recs[i];
        if (r->proto == 6) {
            CHECK_INT(r->sport, 40000);
            CHECK_INT(r->dport, 443);
            CHECK_INT(r->flags, 0x02);
            CHECK_INT(r->bytes, 40 + 48 + 20 + 10);
            seen |= 1;
        } else if (r->proto == 17 && r->sport == 5000) {
            CHECK_INT(r->dport, 5001);
            seen |= 2;
        } else if (r->proto == 17) {
            CHECK_INT(r->sport, 0);
            CHECK_INT(r->dport, 0);
            CHECK_INT(r->bytes, 40 + 8 + 100);
            seen |= 4;
        } else if (r->proto == 58) {
            CHECK_INT(r->sport, 0);
            CHECK_INT(r->dport, 129 * 256);
            CHECK(!memcmp(r->src.a, V6B, 16));
            seen |= 8;
        }
    }
    CHECK_INT(seen, 15);
    meter_stats_t st;
    meter_get_stats(m, &st);
    CHECK_INT(st.fragments, 2);
    meter_free(m);
}

/* IPv4 fragments as softflowd counts them: the first (MF, offset 0)
 * joins the ported flow, later ones make a flow with ports 0. */
static void test_ipv4_fragments(void)
{
    meter_config_t c = METER_CONFIG_INIT;
    meter_t *m = mk(&c);
    pk_t p = {0};
    ip4(&p, A, B, 17, 7000, 7001, 0, 8, 0, 0);          /* whole */
    feed(m, DLT_RAW, 1, &p);
    memset(&p, 0, sizeof(p));
    ip4(&p, A, B, 17, 7000, 7001, 0, 1472, 0x2000, 0);  /* first, MF */
    feed(m, DLT_RAW, 2, &p);
    memset(&p, 0, sizeof(p));
    ip4(&p, A, B, 17, 0, 0, 0, 500, 185, 0);            /* last */
    feed(m, DLT_RAW, 2, &p);
    meter_flush(m);
    CHECK_INT(nrec, 2);
    const rec_t *r = find(A, 7000);
    CHECK(r && r->packets == 2 && r->bytes == 36 + 1500);
    r = find(A, 0);
    CHECK(r && r->packets == 1 && r->dport == 0 && r->bytes == 520 &&
          r->proto == 17);
    meter_stats_t st;
    meter_get_stats(m, &st);
    CHECK_INT(st.fragments, 2);
    meter_free(m);
}

/* Biflow on: one entry, two records (one per direction), each with its
 * own counters, flags, tos and times. Off: two entries. */
static void test_biflow(void)
{
    for (int bi = 0; bi < 2; bi++) {
        meter_config_t c = METER_CONFIG_INIT;
        c.biflow = bi;
        meter_t *m = mk(&c);
        pk_t p = {0};
        ip4(&p, B, A, 6, 3333, 80, 0x02, 0, 0, 0x10);
        feed(m, DLT_RAW, 100, &p);
        memset(&p, 0, sizeof(p));
        ip4(&p, A, B, 6, 80, 3333, 0x12, 0, 0, 0x20);
        feed(m, DLT_RAW, 101, &p);
        memset(&p, 0, sizeof(p));
        ip4(&p, B, A, 6, 3333, 80, 0x18, 100, 0, 0x10);
        feed(m, DLT_RAW, 103, &p);
        meter_stats_t st;
        meter_get_stats(m, &st);
        CHECK_INT(st.flows_created, bi ? 1 : 2);
        meter_flush(m);
        CHECK_INT(nrec, 2);
        const rec_t *r = find(B, 3333);
        CHECK(r && r->packets == 2 && r->bytes == 40 + 140 &&
              r->flags == 0x1a && r->dport == 80 && r->tos == 0x10 &&
              r->start == 100000 && r->end == 103000);
        r = find(A, 80);
        CHECK(r && r->packets == 1 && r->bytes == 40 && r->flags == 0x12 &&
              r->dport == 3333 && r->tos == 0x20 && r->start == 101000 &&
              r->end == 101000);
        meter_free(m);
    }
}

/* Idle timeouts per protocol, the active timeout, meter_expire. */
static void test_timeouts(void)
{
    meter_config_t c = METER_CONFIG_INIT;
    c.idle_s = 60;
    c.udp_s = 10;
    c.active_s = 30;
    meter_t *m = mk(&c);
    pk_t u = {0}, t = {0}, o = {0};
    ip4(&u, A, B, 17, 1, 2, 0, 0, 0, 0);
    ip4(&t, A, C, 6, 1, 2, 0x10, 0, 0, 0);
    ip4(&o, C, B, 47, 0, 0, 0, 0, 0, 0);  /* GRE: general timeout */
    feed(m, DLT_RAW, 0, &u);
    feed(m, DLT_RAW, 0, &o);
    feed(m, DLT_RAW, 9, &u);   /* idle 9 s: same flow */
    feed(m, DLT_RAW, 20, &u);  /* idle 11 s: a new flow */
    CHECK_INT(nrec, 0);        /* in the partial batch ... */
    meter_expire(m, 20 * 1000000LL);
    CHECK_INT(nrec, 1);        /* ... handed over by meter_expire */
    CHECK(nrec == 1 && recs[0].packets == 2 && recs[0].received == 20000);
    feed(m, DLT_RAW, 25, &o);  /* GRE idle 25 s < 60: same flow */
    /* TCP every 10 s for 100 s, active 30: 0-20, 30-50, 60-80, 90-100
     * (the GRE flow and the UDP flow go at 30 too) */
    nrec = 0;
    for (int s = 0; s <= 100; s += 10)
        feed(m, DLT_RAW, 1000 + s, &t);
    meter_flush(m);
    int tcp = 0, gre = 0;
    int64_t pk = 0;
    for (int i = 0; i < nrec; i++) {
        if (recs[i].proto == 6) {
            tcp++;
            pk += recs[i].packets;
        }
        if (recs[i].proto == 47) {
            gre++;
            CHECK_INT(recs[i].packets, 2);
        }
    }
    CHECK_INT(tcp, 4);
    CHECK_INT(pk, 11);
    CHECK_INT(gre, 1);
    meter_stats_t st;
    meter_get_stats(m, &st);
    CHECK_INT(st.expired_active, 3);
    meter_free(m);

    /* a live capture on a quiet link */
    c = (meter_config_t)METER_CONFIG_INIT;
    c.idle_s = 5;
    m = mk(&c);
    feed(m, DLT_RAW, 50, &u);
    meter_expire(m, 54 * 1000000LL);
    CHECK_INT(nrec, 0);
    meter_expire(m, 55 * 1000000LL);
    CHECK_INT(nrec, 1);
    CHECK(nrec == 1 && recs[0].received == 55000);
    meter_free(m);

    /* 0: never */
    c = (meter_config_t)METER_CONFIG_INIT;
    c.idle_s = 0;
    c.active_s = 0;
    m = mk(&c);
    feed(m, DLT_RAW, 0, &u);
    feed(m, DLT_RAW, 86400 * 30, &u);
    meter_flush(m);
    CHECK(nrec == 1 && recs[0].packets == 2);
    meter_free(m);
}

/* FIN (both directions with biflow) and RST end a flow at once with
 * timeout 0, after N s with N; -1 leaves TCP to its idle timeout. */
static void test_fin_rst(void)
{
    pk_t syn = {0}, fin1 = {0}, fin2 = {0}, ack = {0}, rst = {0};
    ip4(&syn, A, B, 6, 4000, 80, 0x02, 0, 0, 0);
    ip4(&fin1, A, B, 6, 4000, 80, 0x11, 0, 0, 0);
    ip4(&fin2, B, A, 6, 80, 4000, 0x11, 0, 0, 0);
    ip4(&ack, A, B, 6, 4000, 80, 0x10, 0, 0, 0);
    ip4(&rst, B, A, 6, 80, 4000, 0x04, 0, 0, 0);
    int fins[3] = {0, 5, -1};
    int want[3] = {2, 2, 1}; /* records from A:4000 */
    for (int k = 0; k < 3; k++) {
        meter_config_t c = METER_CONFIG_INIT;
        c.tcp_fin_s = fins[k];
        meter_t *m = mk(&c);
        feed(m, DLT_RAW, 0, &syn);
        feed(m, DLT_RAW, 1, &fin1);  /* one side only: goes on */
        feed(m, DLT_RAW, 1, &fin2);  /* both: closed */
        feed(m, DLT_RAW, 1, &ack);   /* 0: a new flow; 5: joins */
        feed(m, DLT_RAW, 20, &syn);  /* port reuse 19 s later: 0 joins
                                        the ACK's flow, 5 a new one */
        meter_flush(m);
        int n = 0;
        for (int i = 0; i < nrec; i++)
            n += recs[i].sport == 4000;
        CHECK_INT(n, want[k]);
        meter_stats_t st;
        meter_get_stats(m, &st);
        CHECK_INT(st.expired_fin, k < 2 ? 1 : 0);
        meter_free(m);
    }
    /* biflow off: each direction's FIN ends that direction */
    meter_config_t c = METER_CONFIG_INIT;
    c.biflow = 0;
    c.tcp_fin_s = 0;
    meter_t *m = mk(&c);
    feed(m, DLT_RAW, 0, &syn);
    feed(m, DLT_RAW, 1, &fin1);
    meter_expire(m, 1000000);
    CHECK_INT(nrec, 1);
    meter_free(m);
    /* RST */
    c = (meter_config_t)METER_CONFIG_INIT;
    c.tcp_rst_s = 0;
    m = mk(&c);
    feed(m, DLT_RAW, 0, &syn);
    feed(m, DLT_RAW, 0, &rst);
    meter_expire(m, 0);
    CHECK_INT(nrec, 2);
    feed(m, DLT_RAW, 0, &ack);
    meter_flush(m);
    CHECK_INT(nrec, 3);
    meter_stats_t st;
    meter_get_stats(m, &st);
    CHECK_INT(st.expired_rst, 1);
    meter_free(m);
}

/* A full table exports the flow idle the longest, counted; nothing is
 * lost. */
static void test_table_full(void)
{
    meter_config_t c = METER_CONFIG_INIT;
    c.max_flows = 4;
    meter_t *m = mk(&c);
    for (int i = 0; i < 10; i++) {
        pk_t p = {0};
        ip4(&p, A, B, 17, 100 + i, 53, 0, 0, 0, 0);
        feed(m, DLT_RAW, i, &p);
        if (i == 5) { /* flow 2 gets a packet: 3 is the oldest now */
            pk_t q = {0};
            ip4(&q, A, B, 17, 102, 53, 0, 0, 0, 0);
            feed(m, DLT_RAW, i, &q);
        }
    }
    meter_expire(m, 9000000);
    meter_stats_t st;
    meter_get_stats(m, &st);
    CHECK_INT(st.table_full, 6);
    CHECK_INT(st.active_flows, 4);
    CHECK_INT(nrec, 6);
    /* evicted in order of last packet: 100, 101, then 103 (102 had a
     * packet at 5) */
    CHECK(nrec >= 3 && recs[0].sport == 100 && recs[1].sport == 101 &&
          recs[2].sport == 103);
    meter_flush(m);
    CHECK_INT(nrec, 10);
    int64_t pk = 0;
    for (int i = 0; i < nrec; i++)
        pk += recs[i].packets;
    CHECK_INT(pk, 11);
    meter_free(m);
}

/* The counters add up: every packet is metered, not IP, truncated or
 * malformed; and the records carry every metered packet. */
static void check_books(meter_t *m)
{
    meter_flush(m);
    meter_stats_t st;
    meter_get_stats(m, &st);
    CHECK_INT(st.packets, st.metered + st.not_ip + st.truncated + st.malformed);
    int64_t pk = 0;
    for (int i = 0; i < nrec; i++)
        pk += recs[i].packets;
    CHECK_INT(pk, st.metered);
    CHECK_INT(st.active_flows, 0);
}

/* Every prefix of valid packets, in every link type: counted, no crash
 * (ASan watches the reads). */
static void test_truncated(void)
{
    meter_config_t c = METER_CONFIG_INIT;
    meter_t *m = mk(&c);
    int lts[] = {DLT_EN10MB, DLT_RAW, DLT_LINUX_SLL, DLT_LINUX_SLL2, DLT_NULL,
                 DLT_LOOP};
    int ext[2] = {0, 44};
    int vl[2] = {5, 6};
    for (size_t k = 0; k < sizeof(lts) / sizeof(lts[0]); k++) {
        for (int v = 0; v < 3; v++) {
            pk_t p = {0};
            unsigned type = v == 1 ? 0x86dd : 0x0800;
            if (lts[k] == DLT_EN10MB)
                eth(&p, type, vl, v == 2 ? 2 : 0);
            else if (lts[k] == DLT_LINUX_SLL) {
                uint8_t z[14] = {0};
                put(&p, z, 14);
                put16(&p, type);
            } else if (lts[k] == DLT_LINUX_SLL2) {
                put16(&p, type);
                uint8_t z[18] = {0};
                put(&p, z, 18);
            } else if (lts[k] == DLT_NULL || lts[k] == DLT_LOOP) {
                uint8_t f[4] = {0, 0, 0, v == 1 ? 24 : 2};
                put(&p, f, 4);
            }
            if (v == 1)
                ip6(&p, V6A, V6B, 6, 1, 2, 2, 0, ext, 2, 0);
            else
                ip4(&p, A, B, 6, 1, 2, 2, 0, 0, 0);
            for (size_t n = 0; n <= p.len; n++) {
                uint8_t *cp = malloc(n ? n : 1); /* exact size for ASan */
                memcpy(cp, p.b, n);
                meter_packet(m, lts[k], 5000000, cp, (uint32_t)n,
                             (uint32_t)p.len);
                free(cp);
            }
        }
    }
    meter_stats_t st;
    meter_get_stats(m, &st);
    CHECK(st.truncated > 0);
    CHECK(st.no_transport > 0);
    CHECK(st.metered > 0);
    check_books(m);
    meter_free(m);
}

static uint64_t rng = 88172645463325252ull;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* 20,000 mutations of valid packets (bytes flipped, lengths lied about,
 * cut short) through every link type, with a small table so that
 * eviction runs too. */
static void test_fuzz(void)
{
    meter_config_t c = METER_CONFIG_INIT;
    c.max_flows = 64;
    c.idle_s = 3;
    meter_t *m = mk(&c);
    int lts[] = {DLT_EN10MB, DLT_RAW, DLT_LINUX_SLL, DLT_LINUX_SLL2, DLT_NULL,
                 DLT_LOOP, DLT_IPV4, DLT_IPV6, 147};
    int ext[3] = {0, 44, 60};
    int vl[2] = {7, 8};
    for (int it = 0; it < 20000; it++) {
        pk_t p = {0};
        int lt = lts[rnd() % (sizeof(lts) / sizeof(lts[0]))];
        int v6 = rnd() & 1;
        if (lt == DLT_EN10MB)
            eth(&p, v6 ? 0x86dd : 0x0800, vl, (int)(rnd() % 3));
        else if (lt == DLT_LINUX_SLL) {
            uint8_t z[14] = {0};
            put(&p, z, 14);
            put16(&p, v6 ? 0x86dd : 0x0800);
        } else if (lt == DLT_LINUX_SLL2) {
            put16(&p, v6 ? 0x86dd : 0x0800);
            uint8_t z[18] = {0};
            put(&p, z, 18);
        } else if (lt == DLT_NULL || lt == DLT_LOOP) {
            uint8_t f[4] = {0, 0, 0, v6 ? 30 : 2};
            put(&p, f, 4);
        }
        int protos[] = {6, 17, 1, 58, 132, 47};
        int proto = protos[rnd() % 6];
        if (v6)
            ip6(&p, V6A, V6B, proto, (int)(rnd() % 8), 80, (int)(rnd() & 0x3f),
                rnd() % 64, ext, (int)(rnd() % 4), (unsigned)(rnd() & 0xffff));
        else
            ip4(&p, A + (uint32_t)(rnd() % 4), B, proto, (int)(rnd() % 8),
                80, (int)(rnd() & 0x3f), rnd() % 64,
                (unsigned)(rnd() % 3 == 0 ? rnd() & 0x3fff : 0), 0);
        int nmut = (int)(rnd() % 6);
        for (int k = 0; k < nmut; k++)
            p.b[rnd() % p.len] = (uint8_t)rnd();
        size_t n = rnd() % 4 == 0 ? rnd() % (p.len + 1) : p.len;
        uint8_t *cp = malloc(n ? n : 1);
        memcpy(cp, p.b, n);
        meter_packet(m, lt, (int64_t)(it / 100) * 1000000 +
                                (int64_t)(rnd() % 1000),
                     cp, (uint32_t)n, (uint32_t)(rnd() % 3 ? p.len : rnd()));
        free(cp);
    }
    meter_stats_t st;
    meter_get_stats(m, &st);
    CHECK_INT(st.packets, 20000);
    CHECK(st.metered > 5000);
    CHECK(st.table_full > 0 || st.expired_idle > 0);
    check_books(m);
    meter_free(m);
}

static void test_timeout_spec(void)
{
    meter_config_t c = METER_CONFIG_INIT;
    diag_t err;
    diag_clear(&err);
    CHECK_INT(meter_config_timeouts(&c, "tcp=3600,tcp.rst=120,tcp.fin=-1,"
                                        "udp=60,icmp=10,general=90,maxlife=0",
                                    &err),
              0);
    CHECK(c.tcp_s == 3600 && c.tcp_rst_s == 120 && c.tcp_fin_s == -1 &&
          c.udp_s == 60 && c.icmp_s == 10 && c.idle_s == 90 &&
          c.active_s == 0);
    CHECK_INT(meter_config_timeouts(&c, "", &err), 0);
    diag_clear(&err);
    CHECK_INT(meter_config_timeouts(&c, "tcp=abc", &err), -1);
    CHECK(strstr(err.msg, "tcp=abc") != NULL);
    diag_clear(&err);
    CHECK_INT(meter_config_timeouts(&c, "foo=1", &err), -1);
    CHECK(strstr(err.msg, "unknown timeout 'foo'") != NULL);
    diag_clear(&err);
    CHECK_INT(meter_config_timeouts(&c, "udp=-1", &err), -1);
    CHECK(strstr(err.msg, "udp cannot be negative") != NULL);
}

/* ---- files ---------------------------------------------------------------- */

static void emit_count(void *ctx, flow_batch_t *b)
{
    *(uint64_t *)ctx += b->n;
    collect(NULL, b);
}

static void write_pcap(const char *path, int lt, int n, int bad_tail)
{
    pcap_t *d = pcap_open_dead(lt, 65535);
    pcap_dumper_t *w = pcap_dump_open(d, path);
    for (int i = 0; i < n; i++) {
        pk_t p = {0};
        if (lt == DLT_EN10MB)
            eth(&p, 0x0800, NULL, 0);
        ip4(&p, A + (uint32_t)(i % 5), B, 17, 1000 + i % 5, 53, 0, 10, 0, 0);
        struct pcap_pkthdr h = {{1700000000 + i, 500}, (bpf_u_int32)p.len,
                                (bpf_u_int32)p.len};
        pcap_dump((u_char *)w, &h, p.b);
    }
    pcap_dump_close(w);
    pcap_close(d);
    if (bad_tail) { /* a record header cut short, as a killed tcpdump */
        FILE *f = fopen(path, "ab");
        fwrite("\x01\x02\x03\x04\x05", 1, 5, f);
        fclose(f);
    }
}

static void test_pcap_files(void)
{
    char path[] = "/tmp/test_meter_XXXXXX";
    int tfd = mkstemp(path);
    close(tfd);
    meter_config_t c = METER_CONFIG_INIT;
    diag_t err;
    ingest_file_result_t res;
    meter_stats_t ms;
    uint64_t n = 0;

    write_pcap(path, DLT_EN10MB, 50, 0);
    int fd = open(path, O_RDONLY);
    CHECK(ingest_is_pcap(fd));
    nrec = 0;
    diag_clear(&err);
    CHECK_INT(ingest_read_any_fd(fd, path, 0, &c, emit_count, &n, &res, &ms,
                                 &err),
              0);
    CHECK_INT(n, 5);
    CHECK_INT(res.messages, 50);
    CHECK_INT(res.records, 5);
    CHECK_INT(ms.metered, 50);
    int64_t pk = 0;
    for (int i = 0; i < nrec; i++)
        pk += recs[i].packets;
    CHECK_INT(pk, 50);
    close(fd);

    /* cut short: an error naming the file, the packets before it metered */
    write_pcap(path, DLT_RAW, 20, 1);
    fd = open(path, O_RDONLY);
    meter_t *m = meter_new(&c, emit_count, &n);
    diag_clear(&err);
    CHECK_INT(ingest_pcap_fd(fd, path, m, 0, &res, &err), -1);
    CHECK(strstr(err.msg, path) && strstr(err.msg, "after packet 20"));
    CHECK_INT(res.messages, 20);
    meter_get_stats(m, &ms);
    CHECK_INT(ms.metered, 20);
    meter_free(m);
    close(fd);

    /* a link type the meter does not read */
    write_pcap(path, DLT_IEEE802_11, 1, 0);
    fd = open(path, O_RDONLY);
    diag_clear(&err);
    CHECK_INT(ingest_read_any_fd(fd, path, 0, &c, emit_count, &n, &res, &ms,
                                 &err),
              -1);
    CHECK(strstr(err.msg, "link type IEEE802_11 (105)") != NULL);
    close(fd);

    /* neither IPFIX nor a capture */
    FILE *f = fopen(path, "wb");
    fputs("<html>hello</html>", f);
    fclose(f);
    fd = open(path, O_RDONLY);
    CHECK(!ingest_is_pcap(fd));
    diag_clear(&err);
    CHECK_INT(ingest_read_any_fd(fd, path, 0, &c, emit_count, &n, &res, &ms,
                                 &err),
              -1);
    CHECK(strstr(err.msg, path) &&
          strstr(err.msg, "neither IPFIX (version 10) nor pcap/pcapng: it "
                          "starts with bytes 3c 68 74 6d"));
    close(fd);
    unlink(path);
}

int main(void)
{
    RUN(test_link_types);
    RUN(test_ipv6);
    RUN(test_ipv4_fragments);
    RUN(test_biflow);
    RUN(test_timeouts);
    RUN(test_fin_rst);
    RUN(test_table_full);
    RUN(test_truncated);
    RUN(test_fuzz);
    RUN(test_timeout_spec);
    RUN(test_pcap_files);
    TEST_EXIT();
}
