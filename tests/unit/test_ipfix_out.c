/*
 * test_ipfix_out.c - the IPFIX encoder of flowsql replay
 * (ingest/ipfix_out.c): flows encoded and decoded again by our own
 * collector's decoder (ingest_read_file, libfixbuf) come back equal field
 * for field but the receive time and the exporter, with no sequence gap
 * and no unknown template, whatever the families, domains, sampling and
 * extreme values; values wider than their element are clamped and
 * counted; templates are resent over UDP.
 */
#include "ingest/ingest.h"
#include "ingest/ipfix_out.h"
#include "tests/test.h"
#include "util/arena.h"
#include "util/log.h"

#include <stdlib.h>
#include <unistd.h>

static FILE *fp;
static char path[64];
static flow_batch_t *got;

static int to_file(void *ctx, const uint8_t *msg, size_t len)
{
    (void)ctx;
    return fwrite(msg, 1, len, fp) == len ? 0 : -1;
}

static void collect(void *ctx, flow_batch_t *b)
{
    (void)ctx;
    for (uint32_t i = 0; i < b->n; i++) {
        int k = flow_batch_add(got);
        if (k < 0)
            return;
#define C(f) got->f[k] = b->f[i]
        C(srcip); C(dstip); C(nexthop); C(exporter); C(start); C(end);
        C(received); C(packets); C(bytes); C(srcport); C(dstport); C(proto);
        C(tcpflags); C(tos); C(ingress); C(egress); C(srcas); C(dstas);
        C(srcmask); C(dstmask); C(vlan); C(direction); C(sampling); C(domain);
#undef C
    }
}

static ipaddr_t v6(uint8_t last, uint8_t first)
{
    ipaddr_t a;
    memset(&a, 0, sizeof(a));
    a.a[0] = first;
    a.a[1] = 0x01;
    a.a[15] = last;
    return a;
}

/* n flows of every kind: IPv4, IPv6, an IPv4 flow with an IPv6 next hop,
 * sampled or not, ICMP, three domains, extremes of every element. */
static flow_batch_t *make_flows(uint32_t n)
{
    flow_batch_t *b = flow_batch_new();
    for (uint32_t i = 0; i < n; i++) {
        int k = flow_batch_add(b);
        int kind = (int)(i % 5);
        if (kind == 1 || kind == 4) {
            b->srcip[k] = v6((uint8_t)i, 0x20);
            b->dstip[k] = v6((uint8_t)(i * 7), 0xfe);
            b->nexthop[k] = kind == 4 ? ipaddr_from_v4(0xc0000201u) : v6(1, 0x20);
            b->srcmask[k] = 64 + i % 65;
            b->dstmask[k] = 128;
        } else {
            b->srcip[k] = ipaddr_from_v4(0x0a000000u + i);
            b->dstip[k] = ipaddr_from_v4(0xffffffffu - i);
            /* no next hop is :: (flow.h), as the decoders leave it */
            if (kind == 2)
                b->nexthop[k] = v6(9, 0x20);
            else if (i % 3)
                b->nexthop[k] = ipaddr_from_v4(0xc0a80001u);
            b->srcmask[k] = i % 33;
            b->dstmask[k] = 32;
        }
        b->start[k] = 1767225600000LL + i * 17;
        b->end[k] = b->start[k] + (i % 4 == 0 ? 0 : 123456);
        b->packets[k] = i % 7 == 0 ? INT64_MAX : (int64_t)i + 1;
        b->bytes[k] = i % 11 == 0 ? INT64_MAX : (int64_t)i * 1500;
        b->proto[k] = i % 6 == 0 ? (kind == 1 || kind == 4 ? 58 : 1) : i % 2 ? 6 : 17;
        b->srcport[k] = b->proto[k] == 1 || b->proto[k] == 58 ? 0 : 65535 - i % 1000;
        b->dstport[k] = b->proto[k] == 1 || b->proto[k] == 58 ? 0x0800 + i % 3
                                                              : i % 65536;
        /* 8 bits: the collectors (ours, libfixbuf's model; nfdump) keep
         * the low 8 of the 16 RFC 7125 allows */
        b->tcpflags[k] = b->proto[k] == 6 ? (int64_t)(i % 256) : 0;
        b->tos[k] = i % 256;
        b->ingress[k] = i % 3 == 0 ? UINT32_MAX : i;
        b->egress[k] = i * 3;
        b->srcas[k] = i % 4 == 0 ? UINT32_MAX : 64512 + i;
        b->dstas[k] = 15169;
        b->vlan[k] = i % 4096;
        b->direction[k] = i % 2;
        b->sampling[k] = i % 3 == 0 ? 0 : i % 3 == 1 ? 1 : 1000;
        b->domain[k] = i % 200 < 100 ? 7 : i % 200 < 150 ? 0 : UINT32_MAX;
    }
    return b;
}

/* Encode b with o, decode the file; the result in got. */
static void roundtrip(const flow_batch_t *b, const ipfix_out_opts_t *o,
                      ipfix_out_stats_t *st, ingest_file_result_t *res)
{
    snprintf(path, sizeof(path), "/tmp/flowsql-test-XXXXXX");
    int fd = mkstemp(path);
    fp = fdopen(fd, "wb");
    ipfix_out_t *x = ipfix_out_new(o, to_file, NULL);
    for (uint32_t i = 0; i < b->n; i++)
        CHECK_INT(ipfix_out_add(x, b, i, 1767225700000LL + i), 0);
    CHECK_INT(ipfix_out_flush(x), 0);
    ipfix_out_stats(x, st);
    ipfix_out_free(x);
    fclose(fp);
    flow_batch_reset(got);
    diag_t err;
    diag_clear(&err);
    memset(res, 0, sizeof(*res));
    CHECK_INT(ingest_read_file(path, collect, NULL, res, &err), 0);
    unlink(path);
}

static int same_flow(const flow_batch_t *a, uint32_t i, const flow_batch_t *b,
                     uint32_t j)
{
    int ok = 1;
#define F(f) if (a->f[i] != b->f[j]) { fprintf(stderr, "flow %u: " #f " %lld, decoded %lld\n", i, (long long)a->f[i], (long long)b->f[j]); ok = 0; }
#define A(f) if (!ipaddr_eq(&a->f[i], &b->f[j])) { char x1[64], x2[64]; fprintf(stderr, "flow %u: " #f " %s, decoded %s\n", i, ipaddr_format(&a->f[i], x1, 64), ipaddr_format(&b->f[j], x2, 64)); ok = 0; }
    A(srcip); A(dstip); A(nexthop);
    F(start); F(end); F(packets); F(bytes); F(srcport); F(dstport);
    F(proto); F(tcpflags); F(tos); F(ingress); F(egress); F(srcas);
    F(dstas); F(srcmask); F(dstmask); F(vlan); F(direction); F(sampling);
    F(domain);
#undef F
#undef A
    return ok;
}

static void test_roundtrip_udp(void)
{
    flow_batch_t *b = make_flows(2000);
    ipfix_out_opts_t o = {.mtu = 1400, .template_every = 3};
    ipfix_out_stats_t st;
    ingest_file_result_t res;
    roundtrip(b, &o, &st, &res);
    CHECK_INT(got->n, 2000);
    int bad = 0;
    for (uint32_t i = 0; i < got->n && i < b->n && bad < 5; i++)
        bad += !same_flow(b, i, got, i);
    CHECK_INT(bad, 0);
    CHECK_INT(res.records, 2000);
    CHECK_INT(res.decode_errors, 0);
    CHECK_INT(res.unknown_tmpl, 0);
    CHECK_INT(res.seq_lost, 0);
    CHECK_INT(st.records, 2000);
    CHECK_INT(st.clamped, 0);
    /* templates at the start of each domain's messages, then every 3 */
    CHECK(st.template_sets > 3 + st.messages / 4);
    CHECK(st.bytes / st.messages <= 1400);
    flow_batch_free(b);
}

static void test_roundtrip_stream(void)
{
    flow_batch_t *b = make_flows(2000);
    ipfix_out_opts_t o = {.mtu = 65535, .stream = 1};
    ipfix_out_stats_t st;
    ingest_file_result_t res;
    roundtrip(b, &o, &st, &res);
    CHECK_INT(got->n, 2000);
    int bad = 0;
    for (uint32_t i = 0; i < got->n && i < b->n && bad < 5; i++)
        bad += !same_flow(b, i, got, i);
    CHECK_INT(bad, 0);
    CHECK_INT(res.seq_lost, 0);
    CHECK_INT(res.unknown_tmpl, 0);
    /* a stream: the templates once per domain, the domain switches being
     * the only reason for short messages */
    CHECK(st.template_sets == 3);
    flow_batch_free(b);
}

static void test_clamped(void)
{
    flow_batch_t *b = make_flows(4);
    b->srcport[0] = 70000;
    b->bytes[1] = -5;
    b->tos[2] = 300;
    b->ingress[3] = (int64_t)UINT32_MAX + 1;
    ipfix_out_opts_t o = {0};
    ipfix_out_stats_t st;
    ingest_file_result_t res;
    roundtrip(b, &o, &st, &res);
    CHECK_INT(st.clamped, 4);
    CHECK_INT(got->n, 4);
    CHECK_INT(got->srcport[0], 65535);
    CHECK_INT(got->bytes[1], 0);
    CHECK_INT(got->tos[2], 255);
    CHECK_INT(got->ingress[3], UINT32_MAX);
    flow_batch_free(b);
}

int main(void)
{
    log_set_level(LOG_ERROR);
    got = flow_batch_new();
    RUN(test_roundtrip_udp);
    RUN(test_roundtrip_stream);
    RUN(test_clamped);
    flow_batch_free(got);
    TEST_EXIT();
}
