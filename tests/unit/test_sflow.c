/*
 * test_sflow.c - the sFlow v5 decoder (ingest/sflow.c) through
 * ingest_mem: crafted datagrams with every record we read, checked field
 * by field; counter samples; and malformed datagrams (truncated samples,
 * lying lengths, huge counts, random mutations) that must be counted as
 * decode errors, whole, and never crash (run under ASan/UBSan too).
 */
#include "ingest/ingest.h"
#include "tests/test.h"
#include "util/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- building datagrams ------------------------------------------------- */

typedef struct sb {
    uint8_t b[4096];
    size_t  len;
} sb_t;

static void u32(sb_t *m, uint32_t v)
{
    m->b[m->len++] = (uint8_t)(v >> 24);
    m->b[m->len++] = (uint8_t)(v >> 16);
    m->b[m->len++] = (uint8_t)(v >> 8);
    m->b[m->len++] = (uint8_t)v;
}

static void bytes(sb_t *m, const void *p, size_t n)
{
    memcpy(m->b + m->len, p, n);
    m->len += n;
    while (m->len % 4)
        m->b[m->len++] = 0;
}

/* Start a length-prefixed element (tag, length); returns where the length
 * goes, for end_len. */
static size_t open_len(sb_t *m, uint32_t tag)
{
    u32(m, tag);
    size_t at = m->len;
    u32(m, 0);
    return at;
}

static void end_len(sb_t *m, size_t at)
{
    uint32_t n = (uint32_t)(m->len - at - 4);
    m->b[at] = (uint8_t)(n >> 24);
    m->b[at + 1] = (uint8_t)(n >> 16);
    m->b[at + 2] = (uint8_t)(n >> 8);
    m->b[at + 3] = (uint8_t)n;
}

static void header(sb_t *m, uint32_t agent, uint32_t sub, uint32_t seq,
                   uint32_t nsamples)
{
    m->len = 0;
    u32(m, 5);
    u32(m, 1);
    u32(m, agent);
    u32(m, sub);
    u32(m, seq);
    u32(m, 123456); /* uptime */
    u32(m, nsamples);
}

/* An Ethernet frame: QinQ (outer VLAN 300, inner 42), IPv4, TCP. */
static size_t frame_qinq_v4_tcp(uint8_t *f)
{
    static const uint8_t eth[] = {
        0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11,
        0x88, 0xa8, 0x01, 0x2c,   /* 802.1ad, VLAN 300 */
        0x81, 0x00, 0x00, 0x2a,   /* 802.1Q, VLAN 42 */
        0x08, 0x00};
    static const uint8_t ip[] = {
        0x45, 0xb8, 0x05, 0xdc, 0, 0, 0x40, 0, 64, 6, 0, 0,
        10, 1, 2, 3, 192, 0, 2, 77};
    static const uint8_t tcp[] = {
        0x30, 0x39, 0x01, 0xbb, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x12};
    size_t n = 0;
    memcpy(f + n, eth, sizeof(eth)); n += sizeof(eth);
    memcpy(f + n, ip, sizeof(ip)); n += sizeof(ip);
    memcpy(f + n, tcp, sizeof(tcp)); n += sizeof(tcp);
    return n;
}

/* A flow sample: QinQ/IPv4/TCP header, extended switch, router, gateway. */
static void flow_sample_full(sb_t *m)
{
    size_t s = open_len(m, 1);
    u32(m, 77);                 /* sequence */
    u32(m, 3);                  /* source id: ifIndex 3 */
    u32(m, 2048);               /* sampling rate */
    u32(m, 99999);              /* pool */
    u32(m, 0);                  /* drops */
    u32(m, 3);                  /* input */
    u32(m, 7);                  /* output, format 0 */
    u32(m, 4);                  /* records */
    size_t r = open_len(m, 1);  /* sampled header */
    uint8_t f[128];
    size_t fl = frame_qinq_v4_tcp(f);
    u32(m, 1);                  /* Ethernet */
    u32(m, 1522);               /* frame length */
    u32(m, 4);                  /* stripped */
    u32(m, (uint32_t)fl);
    bytes(m, f, fl);
    end_len(m, r);
    r = open_len(m, 1001);      /* extended switch: VLAN 55 */
    u32(m, 55); u32(m, 0); u32(m, 56); u32(m, 0);
    end_len(m, r);
    r = open_len(m, 1002);      /* extended router */
    u32(m, 1); u32(m, 0xc0000201); u32(m, 24); u32(m, 16);
    end_len(m, r);
    r = open_len(m, 1003);      /* extended gateway */
    u32(m, 1); u32(m, 0xc0000202);
    u32(m, 65000);              /* router AS */
    u32(m, 64512);              /* source AS */
    u32(m, 64513);              /* source peer AS */
    u32(m, 2);                  /* segments */
    u32(m, 2); u32(m, 2); u32(m, 174); u32(m, 3356);
    u32(m, 1); u32(m, 1); u32(m, 15169);
    u32(m, 1); u32(m, 0xfde80001);   /* communities */
    u32(m, 100);                /* localpref */
    end_len(m, r);
    end_len(m, s);
}

/* An expanded flow sample with only a sampled IPv6 record (UDP), the
 * output a discarded packet. */
static void flow_sample_expanded_v6(sb_t *m)
{
    size_t s = open_len(m, 3);
    u32(m, 5); u32(m, 0); u32(m, 70000);  /* seq, source type, index */
    u32(m, 512); u32(m, 1); u32(m, 0);    /* rate, pool, drops */
    u32(m, 0); u32(m, 70000);             /* input: ifIndex 70000 */
    u32(m, 1); u32(m, 3);                 /* output: discarded */
    u32(m, 1);
    size_t r = open_len(m, 4);
    u32(m, 1280);                         /* length */
    u32(m, 17);
    uint8_t a[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};
    uint8_t b[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 2};
    bytes(m, a, 16);
    bytes(m, b, 16);
    u32(m, 5353); u32(m, 53); u32(m, 0); u32(m, 0x28);
    end_len(m, r);
    end_len(m, s);
}

static void counter_sample(sb_t *m, uint32_t fmt)
{
    size_t s = open_len(m, fmt);
    u32(m, 9);                            /* sequence */
    if (fmt == 4) {
        u32(m, 0); u32(m, 3);             /* source: ifIndex 3 */
    } else {
        u32(m, 3);                        /* the same, compact */
    }
    u32(m, 1);                            /* records */
    size_t r = open_len(m, 1);            /* generic interface counters */
    for (int i = 0; i < 22; i++)
        u32(m, (uint32_t)i);
    end_len(m, r);
    end_len(m, s);
}

/* ---- collecting --------------------------------------------------------- */

static flow_batch_t *got;

static void collect(void *ctx, flow_batch_t *b)
{
    (void)ctx;
    for (uint32_t i = 0; i < b->n && got->n < FLOW_BATCH_MAX; i++) {
        uint32_t j = got->n++;
#define C(f) got->f[j] = b->f[i]
        C(srcip); C(dstip); C(nexthop); C(exporter); C(start); C(end);
        C(received); C(packets); C(bytes); C(srcport); C(dstport);
        C(proto); C(tcpflags); C(tos); C(ingress); C(egress); C(srcas);
        C(dstas); C(srcmask); C(dstmask); C(vlan); C(direction);
        C(sampling); C(domain);
#undef C
    }
}

static ingest_mem_t *mem_new(void)
{
    ipaddr_t src;
    ipaddr_parse("198.51.100.1", &src); /* the UDP sender */
    flow_batch_reset(got);
    return ingest_mem_new(&src, collect, NULL);
}

static ingest_exporter_stats_t row(ingest_mem_t *m, const char *exp,
                                   uint32_t domain)
{
    ingest_exporter_stats_t rows[64], none = {0};
    ipaddr_t ip;
    ipaddr_parse(exp, &ip);
    size_t n = ingest_mem_stats(m, rows, 64);
    for (size_t i = 0; i < n && i < 64; i++)
        if (rows[i].domain == domain && ipaddr_cmp(&rows[i].exporter, &ip) == 0)
            return rows[i];
    return none;
}

static const char *fmt_ip(const ipaddr_t *ip)
{
    static char buf[4][IPADDR_STRLEN];
    static int k;
    k = (k + 1) % 4;
    return ipaddr_format(ip, buf[k], sizeof(buf[k]));
}

#define NOW 1700000000123LL

/* ---- tests -------------------------------------------------------------- */

static void test_flow_sample_fields(void)
{
    ingest_mem_t *m = mem_new();
    sb_t d;
    header(&d, 0xcb007101, 7, 1000, 3);  /* agent 203.0.113.1 */
    flow_sample_full(&d);
    flow_sample_expanded_v6(&d);
    counter_sample(&d, 2);
    CHECK_INT(ingest_mem_feed(m, INGEST_SFLOW, d.b, d.len, NOW), 0);
    ingest_mem_flush(m);
    CHECK_INT(got->n, 2);

    CHECK_STR(fmt_ip(&got->srcip[0]), "10.1.2.3");
    CHECK_STR(fmt_ip(&got->dstip[0]), "192.0.2.77");
    CHECK_STR(fmt_ip(&got->exporter[0]), "203.0.113.1");
    CHECK_STR(fmt_ip(&got->nexthop[0]), "192.0.2.1");   /* router's */
    CHECK_INT(got->srcport[0], 12345);
    CHECK_INT(got->dstport[0], 443);
    CHECK_INT(got->proto[0], 6);
    CHECK_INT(got->tcpflags[0], 0x12);
    CHECK_INT(got->tos[0], 0xb8);
    CHECK_INT(got->packets[0], 1);
    CHECK_INT(got->bytes[0], 1522);
    CHECK_INT(got->start[0], NOW);
    CHECK_INT(got->end[0], NOW);
    CHECK_INT(got->received[0], NOW);
    CHECK_INT(got->ingress[0], 3);
    CHECK_INT(got->egress[0], 7);
    CHECK_INT(got->srcas[0], 64512);
    CHECK_INT(got->dstas[0], 15169);      /* last AS of the path */
    CHECK_INT(got->srcmask[0], 24);
    CHECK_INT(got->dstmask[0], 16);
    CHECK_INT(got->vlan[0], 55);          /* extended switch wins */
    CHECK_INT(got->sampling[0], 2048);
    CHECK_INT(got->domain[0], 7);
    CHECK_INT(got->direction[0], 0);

    CHECK_STR(fmt_ip(&got->srcip[1]), "2001:db8::1");
    CHECK_STR(fmt_ip(&got->dstip[1]), "2001:db8::2");
    CHECK_STR(fmt_ip(&got->nexthop[1]), "::");
    CHECK_INT(got->srcport[1], 5353);
    CHECK_INT(got->dstport[1], 53);
    CHECK_INT(got->proto[1], 17);
    CHECK_INT(got->tos[1], 0x28);
    CHECK_INT(got->bytes[1], 1280);
    CHECK_INT(got->ingress[1], 70000);
    CHECK_INT(got->egress[1], 0);         /* discarded */
    CHECK_INT(got->sampling[1], 512);
    CHECK_INT(got->vlan[1], 0);

    ingest_exporter_stats_t st = row(m, "203.0.113.1", 7);
    CHECK_INT(st.messages, 1);
    CHECK_INT(st.records, 2);
    CHECK_INT(st.counter_samples, 1);
    CHECK_INT(st.decode_errors, 0);
    CHECK_INT(st.bytes, d.len);
    ingest_mem_free(m);
}

/* Without an extended switch record the frame's outer tag is the VLAN;
 * the BGP next hop stands in when there is no router record. */
static void test_header_vlan_and_bgp_nexthop(void)
{
    ingest_mem_t *m = mem_new();
    sb_t d;
    header(&d, 0xcb007102, 0, 1, 1);
    size_t s = open_len(&d, 1);
    u32(&d, 1); u32(&d, 3); u32(&d, 100); u32(&d, 1); u32(&d, 0);
    u32(&d, 0x3fffffff);        /* input unknown */
    u32(&d, 0x80000002);        /* output: 2 interfaces */
    u32(&d, 2);
    size_t r = open_len(&d, 1);
    uint8_t f[128];
    size_t fl = frame_qinq_v4_tcp(f);
    u32(&d, 1); u32(&d, 1000); u32(&d, 0); u32(&d, (uint32_t)fl);
    bytes(&d, f, fl);
    end_len(&d, r);
    r = open_len(&d, 1003);
    u32(&d, 1); u32(&d, 0xc0000202);
    u32(&d, 65000); u32(&d, 0); u32(&d, 0);
    u32(&d, 0);                 /* no path: local destination */
    u32(&d, 0); u32(&d, 0);
    end_len(&d, r);
    end_len(&d, s);
    CHECK_INT(ingest_mem_feed(m, INGEST_SFLOW, d.b, d.len, NOW), 0);
    ingest_mem_flush(m);
    CHECK_INT(got->n, 1);
    CHECK_INT(got->vlan[0], 300);
    CHECK_STR(fmt_ip(&got->nexthop[0]), "192.0.2.2");
    CHECK_INT(got->ingress[0], 0);
    CHECK_INT(got->egress[0], 0);
    CHECK_INT(got->dstas[0], 0);
    CHECK_INT(got->bytes[0], 1000);
    ingest_mem_free(m);
}

/* An IPv6 agent; a sampled header that is IPv6 itself (protocol 12),
 * with a hop-by-hop options header before UDP; and an IPv4 header
 * (protocol 11) of a later fragment, which has no ports. */
static void test_ipv6_agent_and_headers(void)
{
    ingest_mem_t *m = mem_new();
    sb_t d;
    d.len = 0;
    u32(&d, 5);
    u32(&d, 2);
    uint8_t agent[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 0x99};
    bytes(&d, agent, 16);
    u32(&d, 4); u32(&d, 1); u32(&d, 1); u32(&d, 2);
    uint8_t h6[40 + 8 + 8] = {0x60, 0x00, 0x00, 0x00, 0, 16, 0, 64};
    h6[8] = 0x20; h6[9] = 0x01; h6[10] = 0x0d; h6[11] = 0xb8; h6[23] = 5;
    h6[24] = 0x20; h6[25] = 0x01; h6[26] = 0x0d; h6[27] = 0xb8; h6[39] = 6;
    h6[40] = 17;   /* next: UDP; length 0: 8 bytes */
    h6[48] = 0x01; h6[49] = 0xbb; h6[50] = 0x00; h6[51] = 0x35;
    uint8_t h4[24] = {0x45, 0x10, 0, 24, 0, 0, 0x00, 0x10, 64, 17, 0, 0,
                      10, 0, 0, 1, 10, 0, 0, 2, 0x12, 0x34, 0x00, 0x35};
    for (int k = 0; k < 2; k++) {
        size_t s = open_len(&d, 1);
        u32(&d, 1); u32(&d, 3); u32(&d, 10); u32(&d, 1); u32(&d, 0);
        u32(&d, 1); u32(&d, 2); u32(&d, 1);
        size_t r = open_len(&d, 1);
        u32(&d, k == 0 ? 12 : 11);
        u32(&d, 700); u32(&d, 0);
        u32(&d, k == 0 ? (uint32_t)sizeof(h6) : (uint32_t)sizeof(h4));
        if (k == 0)
            bytes(&d, h6, sizeof(h6));
        else
            bytes(&d, h4, sizeof(h4));
        end_len(&d, r);
        end_len(&d, s);
    }
    CHECK_INT(ingest_mem_feed(m, INGEST_SFLOW, d.b, d.len, NOW), 0);
    ingest_mem_flush(m);
    CHECK_INT(got->n, 2);
    CHECK_STR(fmt_ip(&got->exporter[0]), "2001:db8::99");
    CHECK_INT(got->domain[0], 4);
    CHECK_STR(fmt_ip(&got->srcip[0]), "2001:db8::5");
    CHECK_STR(fmt_ip(&got->dstip[0]), "2001:db8::6");
    CHECK_INT(got->proto[0], 17);
    CHECK_INT(got->srcport[0], 443);
    CHECK_INT(got->dstport[0], 53);
    CHECK_STR(fmt_ip(&got->srcip[1]), "10.0.0.1");
    CHECK_INT(got->proto[1], 17);
    CHECK_INT(got->tos[1], 0x10);
    CHECK_INT(got->srcport[1], 0);     /* fragment offset 16: no ports */
    CHECK_INT(got->dstport[1], 0);
    CHECK_INT(row(m, "2001:db8::99", 4).records, 2);
    ingest_mem_free(m);
}

/* ICMP in a sampled IPv4 record (no header): type in src_port, code in
 * dst_port, mapped as for IPFIX; the sampled Ethernet record's length is
 * the bytes when there is no header. */
static void test_sampled_ipv4_icmp(void)
{
    ingest_mem_t *m = mem_new();
    sb_t d;
    header(&d, 0xcb007107, 0, 1, 1);
    size_t s = open_len(&d, 1);
    u32(&d, 1); u32(&d, 3); u32(&d, 10); u32(&d, 1); u32(&d, 0);
    u32(&d, 1); u32(&d, 2); u32(&d, 2);
    size_t r = open_len(&d, 3);
    u32(&d, 84); u32(&d, 1); u32(&d, 0x0a000001); u32(&d, 0x0a000002);
    u32(&d, 8); u32(&d, 0); u32(&d, 0); u32(&d, 0);
    end_len(&d, r);
    r = open_len(&d, 2);
    u32(&d, 102);
    uint8_t mac[8] = {0};
    bytes(&d, mac, 8);
    bytes(&d, mac, 8);
    u32(&d, 0x0800);
    end_len(&d, r);
    end_len(&d, s);
    CHECK_INT(ingest_mem_feed(m, INGEST_SFLOW, d.b, d.len, NOW), 0);
    ingest_mem_flush(m);
    CHECK_INT(got->n, 1);
    CHECK_STR(fmt_ip(&got->srcip[0]), "10.0.0.1");
    CHECK_INT(got->proto[0], 1);
    CHECK_INT(got->srcport[0], 0);
    CHECK_INT(got->dstport[0], 8 * 256);
    CHECK_INT(got->bytes[0], 102);
    ingest_mem_free(m);
}

/* Counter samples are counted, per agent and sub-agent and per agent
 * and interface, and make no records; unknown sample types (and counter
 * samples of VLANs) are skipped. */
static void test_counter_samples(void)
{
    ingest_mem_t *m = mem_new();
    sb_t d;
    header(&d, 0xcb007103, 2, 1, 4);
    counter_sample(&d, 2);
    counter_sample(&d, 4);
    size_t v = open_len(&d, 2);                 /* of VLAN 7 (type 1) */
    u32(&d, 1); u32(&d, 1u << 24 | 7); u32(&d, 0);
    end_len(&d, v);
    size_t s = open_len(&d, (4300 << 12) | 1002); /* another enterprise's */
    u32(&d, 1); u32(&d, 2);
    end_len(&d, s);
    CHECK_INT(ingest_mem_feed(m, INGEST_SFLOW, d.b, d.len, NOW), 0);
    ingest_mem_flush(m);
    CHECK_INT(got->n, 0);
    ingest_exporter_stats_t st = row(m, "203.0.113.3", 2);
    CHECK_INT(st.messages, 1);
    CHECK_INT(st.counter_samples, 3);
    CHECK_INT(st.records, 0);
    CHECK_INT(st.decode_errors, 0);
    ingest_exporter_stats_t ifs[8];
    CHECK_INT(ingest_mem_sflow_interfaces(m, ifs, 8), 1);
    CHECK_STR(fmt_ip(&ifs[0].exporter), "203.0.113.3");
    CHECK_INT(ifs[0].domain, 3);
    CHECK_INT(ifs[0].counter_samples, 2);
    ingest_mem_free(m);
}

/* Datagram sequence numbers: a gap is counted as lost datagrams. */
static void test_sequence(void)
{
    ingest_mem_t *m = mem_new();
    sb_t d;
    uint32_t seqs[] = {10, 11, 15, 16};
    for (int k = 0; k < 4; k++) {
        header(&d, 0xcb007104, 0, seqs[k], 1);
        counter_sample(&d, 2);
        ingest_mem_feed(m, INGEST_SFLOW, d.b, d.len, NOW + k);
    }
    ingest_exporter_stats_t st = row(m, "203.0.113.4", 0);
    CHECK_INT(st.messages, 4);
    CHECK_INT(st.seq_lost_msgs, 3);
    ingest_mem_free(m);
}

/* Each malformed datagram is one decode error, yields no record (not
 * even the good samples before the bad one), and the decoder goes on. */
static void test_malformed(void)
{
    ingest_mem_t *m = mem_new();
    sb_t good;
    header(&good, 0xcb007105, 0, 1, 2);
    flow_sample_full(&good);
    size_t second = good.len;
    flow_sample_expanded_v6(&good);
    sb_t d;
    int cases = 0;
    const char *sender = "198.51.100.1";

    /* cut anywhere inside: every truncation is an error (the header's
     * sample count promises more) */
    for (size_t cut = 0; cut < good.len; cut++) {
        CHECK_INT(ingest_mem_feed(m, INGEST_SFLOW, good.b, cut, NOW), -1);
        cases++;
    }
    /* a sample count far beyond the datagram */
    d = good;
    d.b[24] = 0x7f; d.b[25] = 0xff; d.b[26] = 0xff; d.b[27] = 0xff;
    CHECK_INT(ingest_mem_feed(m, INGEST_SFLOW, d.b, d.len, NOW), -1);
    cases++;
    /* the second sample's length runs past the datagram */
    d = good;
    d.b[second + 6] = 0x10;
    CHECK_INT(ingest_mem_feed(m, INGEST_SFLOW, d.b, d.len, NOW), -1);
    cases++;
    /* a flow sample whose record count is huge */
    header(&d, 0xcb007105, 0, 2, 1);
    size_t s = open_len(&d, 1);
    for (int i = 0; i < 7; i++)
        u32(&d, 1);
    u32(&d, 0xffffffff);
    end_len(&d, s);
    CHECK_INT(ingest_mem_feed(m, INGEST_SFLOW, d.b, d.len, NOW), -1);
    cases++;
    /* a sampled header whose header length lies */
    header(&d, 0xcb007105, 0, 3, 1);
    s = open_len(&d, 1);
    for (int i = 0; i < 7; i++)
        u32(&d, 1);
    u32(&d, 1);
    size_t r = open_len(&d, 1);
    u32(&d, 1); u32(&d, 100); u32(&d, 0); u32(&d, 4000);
    u32(&d, 0);
    end_len(&d, r);
    end_len(&d, s);
    CHECK_INT(ingest_mem_feed(m, INGEST_SFLOW, d.b, d.len, NOW), -1);
    cases++;
    /* an AS path of 2^30 segments, and one of 2^30 AS numbers */
    for (int which = 0; which < 2; which++) {
        header(&d, 0xcb007105, 0, 4, 1);
        s = open_len(&d, 1);
        for (int i = 0; i < 7; i++)
            u32(&d, 1);
        u32(&d, 1);
        r = open_len(&d, 1003);
        u32(&d, 0); u32(&d, 1); u32(&d, 2); u32(&d, 3);
        if (which == 0) {
            u32(&d, 0x40000000);
        } else {
            u32(&d, 1); u32(&d, 2); u32(&d, 0x40000000);
        }
        end_len(&d, r);
        end_len(&d, s);
        CHECK_INT(ingest_mem_feed(m, INGEST_SFLOW, d.b, d.len, NOW), -1);
        cases++;
    }
    /* an address of an unknown type */
    header(&d, 0xcb007105, 0, 5, 0);
    d.b[7] = 9;
    CHECK_INT(ingest_mem_feed(m, INGEST_SFLOW, d.b, d.len, NOW), -1);
    cases++;
    /* another version */
    header(&d, 0xcb007105, 0, 5, 0);
    d.b[3] = 4;
    CHECK_INT(ingest_mem_feed(m, INGEST_SFLOW, d.b, d.len, NOW), -1);
    cases++;

    ingest_mem_flush(m);
    CHECK_INT(got->n, 0);
    ingest_exporter_stats_t a = row(m, "203.0.113.5", 0);
    ingest_exporter_stats_t b = row(m, sender, 0);
    CHECK_INT(a.decode_errors + b.decode_errors, cases);
    CHECK_INT(a.messages, 0);
    CHECK_INT(a.records, 0);

    /* and the good one still decodes */
    CHECK_INT(ingest_mem_feed(m, INGEST_SFLOW, good.b, good.len, NOW), 0);
    ingest_mem_flush(m);
    CHECK_INT(got->n, 2);
    ingest_mem_free(m);
}

/* Thousands of random mutations of a good datagram: each is counted once
 * (message or error), records only come from accepted ones, no crash. */
static void test_mutations(void)
{
    ingest_mem_t *m = mem_new();
    sb_t good, d;
    header(&good, 0xcb007106, 0, 1, 3);
    flow_sample_full(&good);
    flow_sample_expanded_v6(&good);
    counter_sample(&good, 4);
    srand(18);
    uint64_t fed = 0;
    for (int k = 0; k < 20000; k++) {
        d = good;
        int nflip = 1 + rand() % 4;
        for (int j = 0; j < nflip; j++) {
            size_t o = (size_t)rand() % d.len;
            d.b[o] = (uint8_t)(rand() % 3 == 0 ? 0xff : rand());
        }
        size_t len = rand() % 8 == 0 ? (size_t)rand() % d.len : d.len;
        ingest_mem_feed(m, INGEST_SFLOW, d.b, len, NOW + k);
        fed++;
        if (got->n > FLOW_BATCH_MAX - 8)
            flow_batch_reset(got);
    }
    ingest_mem_flush(m);
    ingest_exporter_stats_t rows[1100];
    size_t n = ingest_mem_stats(m, rows, 1100);
    uint64_t counted = 0;
    for (size_t i = 0; i < n && i < 1100; i++)
        counted += rows[i].messages + rows[i].decode_errors;
    CHECK_INT(counted, fed);
    ingest_mem_free(m);
}

int main(void)
{
    log_set_level(LOG_ERROR);
    got = flow_batch_new();
    RUN(test_flow_sample_fields);
    RUN(test_header_vlan_and_bgp_nexthop);
    RUN(test_ipv6_agent_and_headers);
    RUN(test_sampled_ipv4_icmp);
    RUN(test_counter_samples);
    RUN(test_sequence);
    RUN(test_malformed);
    RUN(test_mutations);
    flow_batch_free(got);
    TEST_EXIT();
}
