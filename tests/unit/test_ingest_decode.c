/*
 * test_ingest_decode.c - IPFIX decoding through the file reader (the same
 * checking and libfixbuf path as UDP and TCP): every timestamp form,
 * IPv4 and IPv6, biflows, delta and total counters, sampling from options
 * records, template withdrawal and redefinition, data before templates,
 * sequence gaps and jumps, and malformed messages that must be counted,
 * not decoded. NetFlow v9 through ingest_mem (the receive thread's path
 * without its sockets): templates that crashed libfixbuf, sequence jumps.
 */
#include "ingest/ingest.h"
#include "tests/test.h"
#include "tests/unit/msgbuild.h"
#include "util/arena.h"
#include "util/log.h"

#include <stdlib.h>
#include <unistd.h>

/* ---- harness: messages -> file -> ingest_read_file -> one flat batch ---- */

static flow_batch_t *got;      /* all records emitted, copied */
static int batches;

static void copy_rec(flow_batch_t *dst, const flow_batch_t *b, uint32_t i)
{
    int k = flow_batch_add(dst);
    if (k < 0)
        return;
    dst->srcip[k] = b->srcip[i];
    dst->dstip[k] = b->dstip[i];
    dst->nexthop[k] = b->nexthop[i];
    dst->exporter[k] = b->exporter[i];
    dst->start[k] = b->start[i];
    dst->end[k] = b->end[i];
    dst->received[k] = b->received[i];
    dst->packets[k] = b->packets[i];
    dst->bytes[k] = b->bytes[i];
    dst->srcport[k] = b->srcport[i];
    dst->dstport[k] = b->dstport[i];
    dst->proto[k] = b->proto[i];
    dst->tcpflags[k] = b->tcpflags[i];
    dst->tos[k] = b->tos[i];
    dst->ingress[k] = b->ingress[i];
    dst->egress[k] = b->egress[i];
    dst->srcas[k] = b->srcas[i];
    dst->dstas[k] = b->dstas[i];
    dst->srcmask[k] = b->srcmask[i];
    dst->dstmask[k] = b->dstmask[i];
    dst->vlan[k] = b->vlan[i];
    dst->direction[k] = b->direction[i];
    dst->sampling[k] = b->sampling[i];
    dst->domain[k] = b->domain[i];
}

static void collect(void *ctx, flow_batch_t *b)
{
    (void)ctx;
    CHECK(b->flags & FLOW_BATCH_REPLAY);
    batches++;
    for (uint32_t i = 0; i < b->n; i++)
        copy_rec(got, b, i);
}

static char path[64];
static FILE *fp;

static void file_begin(void)
{
    snprintf(path, sizeof(path), "/tmp/flowsql-test-XXXXXX");
    int fd = mkstemp(path);
    fp = fdopen(fd, "wb");
}

static void file_add(const mb_t *m)
{
    fwrite(m->b, 1, m->len, fp);
}

static int file_decode(ingest_file_result_t *res)
{
    fclose(fp);
    if (!got)
        got = flow_batch_new();
    flow_batch_reset(got);
    batches = 0;
    diag_t err = {0};
    int rc = ingest_read_file(path, collect, NULL, res, &err);
    if (rc != 0)
        fprintf(stderr, "ingest_read_file: %s\n", err.msg);
    unlink(path);
    return rc;
}

static const char *ip(const ipaddr_t *a)
{
    static char buf[4][IPADDR_STRLEN];
    static int k;
    k = (k + 1) % 4;
    return ipaddr_format(a, buf[k], sizeof(buf[k]));
}

#define T0 1700000000u /* export time of the test messages (s) */

/* ---- tests -------------------------------------------------------------- */

static void test_ipv4_all_fields(void)
{
    mb_t m;
    file_begin();
    mb_ipfix(&m, T0, 0, 7);
    mb_set(&m, 2);
    mb_tmpl(&m, 300, 20, 8ul, 4u, 12ul, 4u, 7ul, 2u, 11ul, 2u, 4ul, 1u,
            6ul, 1u, 5ul, 1u, 2ul, 8u, 1ul, 8u, 152ul, 8u, 153ul, 8u,
            10ul, 4u, 14ul, 4u, 16ul, 4u, 17ul, 4u, 9ul, 1u, 13ul, 1u,
            15ul, 4u, 58ul, 2u, 61ul, 1u);
    mb_end_set(&m);
    mb_set(&m, 300);
    for (int i = 0; i < 3; i++) {
        mb_u32(&m, 0x0a000001 + i);   /* 10.0.0.1+i */
        mb_u32(&m, 0xc0a80101);       /* 192.168.1.1 */
        mb_u16(&m, 40000 + i);
        mb_u16(&m, 443);
        mb_u8(&m, 6);
        mb_u8(&m, 0x1b);
        mb_u8(&m, 0x28);
        mb_u64(&m, 10 + i);
        mb_u64(&m, 1500 + i);
        mb_u64(&m, 1699999990000ull + i);
        mb_u64(&m, 1699999995000ull + i);
        mb_u32(&m, 3);
        mb_u32(&m, 4);
        mb_u32(&m, 64512);
        mb_u32(&m, 15169);
        mb_u8(&m, 24);
        mb_u8(&m, 16);
        mb_u32(&m, 0x0a0000fe);
        mb_u16(&m, 100);
        mb_u8(&m, 1);
    }
    mb_end_set(&m);
    mb_end(&m);
    file_add(&m);
    ingest_file_result_t res;
    CHECK_INT(file_decode(&res), 0);
    CHECK_INT(res.messages, 1);
    CHECK_INT(res.records, 3);
    CHECK_INT(res.decode_errors, 0);
    CHECK_INT(got->n, 3);
    if (got->n != 3)
        return;
    CHECK_STR(ip(&got->srcip[2]), "10.0.0.3");
    CHECK_STR(ip(&got->dstip[0]), "192.168.1.1");
    CHECK_STR(ip(&got->nexthop[0]), "10.0.0.254");
    CHECK_STR(ip(&got->exporter[0]), "::");
    CHECK_INT(got->srcport[1], 40001);
    CHECK_INT(got->dstport[1], 443);
    CHECK_INT(got->proto[0], 6);
    CHECK_INT(got->tcpflags[0], 0x1b);
    CHECK_INT(got->tos[0], 0x28);
    CHECK_INT(got->packets[2], 12);
    CHECK_INT(got->bytes[2], 1502);
    CHECK_INT(got->start[1], 1699999990001LL);
    CHECK_INT(got->end[1], 1699999995001LL);
    CHECK_INT(got->received[0], (int64_t)T0 * 1000);
    CHECK_INT(got->ingress[0], 3);
    CHECK_INT(got->egress[0], 4);
    CHECK_INT(got->srcas[0], 64512);
    CHECK_INT(got->dstas[0], 15169);
    CHECK_INT(got->srcmask[0], 24);
    CHECK_INT(got->dstmask[0], 16);
    CHECK_INT(got->vlan[0], 100);
    CHECK_INT(got->direction[0], 1);
    CHECK_INT(got->domain[0], 7);
    CHECK_INT(got->sampling[0], 0);
}

/* One template per timestamp form; every record should come out with
 * start = 1699999990.250 s and end = 1699999995.500 s (seconds: .000). */
static void test_timestamp_forms(void)
{
    const int64_t S = 1699999990250LL, E = 1699999995500LL;
    const uint64_t NTP = 2208988800ULL;
    mb_t m;
    file_begin();
    /* options record: systemInitTimeMilliseconds, as softflowd sends */
    mb_ipfix(&m, T0, 0, 1);
    mb_set(&m, 3);
    mb_u16(&m, 256); mb_u16(&m, 2); mb_u16(&m, 1);
    mb_u16(&m, 143); mb_u16(&m, 4);        /* meteringProcessId (scope) */
    mb_u16(&m, 160); mb_u16(&m, 8);        /* systemInitTimeMilliseconds */
    mb_end_set(&m);
    mb_set(&m, 2);
    mb_tmpl(&m, 400, 3, 8ul, 4u, 150ul, 4u, 151ul, 4u);      /* seconds */
    mb_tmpl(&m, 401, 3, 8ul, 4u, 152ul, 8u, 153ul, 8u);      /* ms */
    mb_tmpl(&m, 402, 3, 8ul, 4u, 154ul, 8u, 155ul, 8u);      /* us NTP */
    mb_tmpl(&m, 403, 3, 8ul, 4u, 156ul, 8u, 157ul, 8u);      /* ns NTP */
    mb_tmpl(&m, 404, 3, 8ul, 4u, 158ul, 4u, 159ul, 4u);      /* delta us */
    mb_tmpl(&m, 405, 3, 8ul, 4u, 22ul, 4u, 21ul, 4u);        /* uptime */
    mb_tmpl(&m, 406, 3, 8ul, 4u, 152ul, 8u, 161ul, 4u);      /* ms + dur */
    mb_end_set(&m);
    mb_set(&m, 256);
    mb_u32(&m, 1);
    mb_u64(&m, 1699990000000ULL);          /* boot time */
    mb_end_set(&m);
    mb_set(&m, 400);
    mb_u32(&m, 1); mb_u32(&m, (uint32_t)(S / 1000)); mb_u32(&m, (uint32_t)(E / 1000));
    mb_end_set(&m);
    mb_set(&m, 401);
    mb_u32(&m, 2); mb_u64(&m, (uint64_t)S); mb_u64(&m, (uint64_t)E);
    mb_end_set(&m);
    uint64_t s_ntp = ((uint64_t)(S / 1000) + NTP) << 32 |
                     (uint64_t)(((S % 1000) << 32) / 1000 + 1);
    uint64_t e_ntp = ((uint64_t)(E / 1000) + NTP) << 32 |
                     (uint64_t)(((E % 1000) << 32) / 1000 + 1);
    mb_set(&m, 402);
    mb_u32(&m, 3); mb_u64(&m, s_ntp); mb_u64(&m, e_ntp);
    mb_end_set(&m);
    mb_set(&m, 403);
    mb_u32(&m, 4); mb_u64(&m, s_ntp); mb_u64(&m, e_ntp);
    mb_end_set(&m);
    mb_set(&m, 404);  /* export at T0: start 9.75 s before, end 4.5 s */
    mb_u32(&m, 5); mb_u32(&m, 9750000); mb_u32(&m, 4500000);
    mb_end_set(&m);
    mb_set(&m, 405);  /* boot 1699990000000 + uptime */
    mb_u32(&m, 6);
    mb_u32(&m, (uint32_t)(S - 1699990000000LL));
    mb_u32(&m, (uint32_t)(E - 1699990000000LL));
    mb_end_set(&m);
    mb_set(&m, 406);
    mb_u32(&m, 7); mb_u64(&m, (uint64_t)S); mb_u32(&m, (uint32_t)(E - S));
    mb_end_set(&m);
    mb_end(&m);
    file_add(&m);
    ingest_file_result_t res;
    CHECK_INT(file_decode(&res), 0);
    CHECK_INT(got->n, 7);
    for (uint32_t i = 0; i < got->n; i++) {
        uint32_t which = ipaddr_v4(&got->srcip[i]);
        int64_t s = which == 1 ? S / 1000 * 1000 : S;
        int64_t e = which == 1 ? E / 1000 * 1000 : E;
        if (got->start[i] != s || got->end[i] != e)
            fprintf(stderr, "form %u: start %lld end %lld\n", which,
                    (long long)got->start[i], (long long)got->end[i]);
        CHECK_INT(got->start[i], s);
        CHECK_INT(got->end[i], e);
    }
}

static void test_ipv6_and_icmp(void)
{
    mb_t m;
    uint8_t a[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};
    uint8_t b[16] = {0x20, 0x01, 0x0d, 0xb8, [14] = 0xbe, [15] = 0xef};
    file_begin();
    mb_ipfix(&m, T0, 0, 0);
    mb_set(&m, 2);
    mb_tmpl(&m, 500, 7, 27ul, 16u, 28ul, 16u, 4ul, 1u, 139ul, 2u, 2ul, 4u,
            1ul, 4u, 29ul, 1u);
    mb_end_set(&m);
    mb_set(&m, 500);
    mb_bytes(&m, a, 16);
    mb_bytes(&m, b, 16);
    mb_u8(&m, 58);
    mb_u16(&m, 128 << 8);  /* echo request */
    mb_u32(&m, 2);
    mb_u32(&m, 208);
    mb_u8(&m, 64);
    mb_end_set(&m);
    mb_end(&m);
    file_add(&m);
    CHECK_INT(file_decode(NULL), 0);
    CHECK_INT(got->n, 1);
    CHECK_STR(ip(&got->srcip[0]), "2001:db8::1");
    CHECK_STR(ip(&got->dstip[0]), "2001:db8::beef");
    CHECK_INT(got->proto[0], 58);
    CHECK_INT(got->dstport[0], 128 << 8);
    CHECK_INT(got->packets[0], 2);
    CHECK_INT(got->bytes[0], 208);
    CHECK_INT(got->srcmask[0], 64);
    CHECK_INT(got->start[0], (int64_t)T0 * 1000); /* no times: export time */
}

static void test_biflow(void)
{
    mb_t m;
    file_begin();
    mb_ipfix(&m, T0, 0, 0);
    mb_set(&m, 2);
    mb_tmpl(&m, 600, 11, 8ul, 4u, 12ul, 4u, 7ul, 2u, 11ul, 2u, 4ul, 1u,
            1ul, 4u, 2ul, 4u, 6ul, 1u, MB_PEN(29305, 1), 4u,
            MB_PEN(29305, 2), 4u, MB_PEN(29305, 6), 1u);
    mb_end_set(&m);
    mb_set(&m, 600);
    /* both directions */
    mb_u32(&m, 0x0a000001); mb_u32(&m, 0x0a000002);
    mb_u16(&m, 5555); mb_u16(&m, 80); mb_u8(&m, 6);
    mb_u32(&m, 300); mb_u32(&m, 5); mb_u8(&m, 0x02);
    mb_u32(&m, 9000); mb_u32(&m, 7); mb_u8(&m, 0x12);
    /* one direction only: no reverse record */
    mb_u32(&m, 0x0a000003); mb_u32(&m, 0x0a000004);
    mb_u16(&m, 53); mb_u16(&m, 53); mb_u8(&m, 17);
    mb_u32(&m, 60); mb_u32(&m, 1); mb_u8(&m, 0);
    mb_u32(&m, 0); mb_u32(&m, 0); mb_u8(&m, 0);
    /* reverse direction only: no forward record */
    mb_u32(&m, 0x0a000005); mb_u32(&m, 0x0a000006);
    mb_u16(&m, 1234); mb_u16(&m, 161); mb_u8(&m, 17);
    mb_u32(&m, 0); mb_u32(&m, 0); mb_u8(&m, 0);
    mb_u32(&m, 500); mb_u32(&m, 5); mb_u8(&m, 0);
    mb_end_set(&m);
    mb_end(&m);
    file_add(&m);
    ingest_file_result_t res;
    CHECK_INT(file_decode(&res), 0);
    CHECK_INT(res.records, 4);
    CHECK_INT(got->n, 4);
    if (got->n != 4)
        return;
    CHECK_STR(ip(&got->srcip[3]), "10.0.0.6");
    CHECK_INT(got->srcport[3], 161);
    CHECK_INT(got->bytes[3], 500);
    CHECK_STR(ip(&got->srcip[0]), "10.0.0.1");
    CHECK_INT(got->bytes[0], 300);
    CHECK_INT(got->tcpflags[0], 0x02);
    CHECK_STR(ip(&got->srcip[1]), "10.0.0.2");
    CHECK_STR(ip(&got->dstip[1]), "10.0.0.1");
    CHECK_INT(got->srcport[1], 80);
    CHECK_INT(got->dstport[1], 5555);
    CHECK_INT(got->bytes[1], 9000);
    CHECK_INT(got->packets[1], 7);
    CHECK_INT(got->tcpflags[1], 0x12);
    CHECK_STR(ip(&got->srcip[2]), "10.0.0.3");
}

static void test_total_counters(void)
{
    mb_t m;
    file_begin();
    mb_ipfix(&m, T0, 0, 0);
    mb_set(&m, 2);
    mb_tmpl(&m, 700, 3, 8ul, 4u, 85ul, 8u, 86ul, 8u);
    mb_end_set(&m);
    mb_set(&m, 700);
    mb_u32(&m, 0x01020304); mb_u64(&m, 123456789012ull); mb_u64(&m, 99);
    mb_end_set(&m);
    mb_end(&m);
    file_add(&m);
    CHECK_INT(file_decode(NULL), 0);
    CHECK_INT(got->n, 1);
    CHECK_INT(got->bytes[0], 123456789012LL);
    CHECK_INT(got->packets[0], 99);
}

static void test_sampling(void)
{
    mb_t m;
    file_begin();
    mb_ipfix(&m, T0, 0, 3);
    /* options: sampler 5 samples 1 in 100, sampler 6 1 in 1000 */
    mb_set(&m, 3);
    mb_u16(&m, 256); mb_u16(&m, 3); mb_u16(&m, 1);
    mb_u16(&m, 48); mb_u16(&m, 2);   /* samplerId, 2 bytes as Cisco */
    mb_u16(&m, 49); mb_u16(&m, 1);   /* samplerMode */
    mb_u16(&m, 50); mb_u16(&m, 4);   /* samplerRandomInterval */
    mb_end_set(&m);
    mb_set(&m, 2);
    mb_tmpl(&m, 800, 2, 8ul, 4u, 48ul, 2u);   /* record names its sampler */
    mb_tmpl(&m, 801, 2, 8ul, 4u, 34ul, 4u);   /* record carries interval */
    mb_tmpl(&m, 802, 1, 8ul, 4u);             /* neither: domain default */
    mb_end_set(&m);
    mb_set(&m, 256);
    mb_u16(&m, 5); mb_u8(&m, 2); mb_u32(&m, 100);
    mb_u16(&m, 6); mb_u8(&m, 2); mb_u32(&m, 1000);
    mb_end_set(&m);
    mb_set(&m, 800);
    mb_u32(&m, 1); mb_u16(&m, 5);
    mb_u32(&m, 2); mb_u16(&m, 6);
    mb_end_set(&m);
    mb_set(&m, 801);
    mb_u32(&m, 3); mb_u32(&m, 64);
    mb_end_set(&m);
    mb_set(&m, 802);
    mb_u32(&m, 4);
    mb_end_set(&m);
    mb_end(&m);
    file_add(&m);
    /* PSAMP systematic count-based: 1 selected, 9 skipped -> 1 in 10 */
    mb_ipfix(&m, T0, 6, 4);
    mb_set(&m, 3);
    mb_u16(&m, 257); mb_u16(&m, 3); mb_u16(&m, 1);
    mb_u16(&m, 143); mb_u16(&m, 4);
    mb_u16(&m, 305); mb_u16(&m, 4);
    mb_u16(&m, 306); mb_u16(&m, 4);
    mb_end_set(&m);
    mb_set(&m, 2);
    mb_tmpl(&m, 803, 1, 8ul, 4u);
    mb_end_set(&m);
    mb_set(&m, 257);
    mb_u32(&m, 1); mb_u32(&m, 1); mb_u32(&m, 9);
    mb_end_set(&m);
    mb_set(&m, 803);
    mb_u32(&m, 5);
    mb_end_set(&m);
    mb_end(&m);
    file_add(&m);
    CHECK_INT(file_decode(NULL), 0);
    CHECK_INT(got->n, 5);
    if (got->n != 5)
        return;
    CHECK_INT(got->sampling[0], 100);
    CHECK_INT(got->sampling[1], 1000);
    CHECK_INT(got->sampling[2], 64);
    CHECK_INT(got->sampling[3], 1000); /* the last options record */
    CHECK_INT(got->sampling[4], 10);
    CHECK_INT(got->domain[4], 4);
}

static void test_withdrawal_and_redefinition(void)
{
    mb_t m;
    file_begin();
    uint32_t seq = 0;
    mb_ipfix(&m, T0, seq, 0);
    mb_set(&m, 2);
    mb_tmpl(&m, 900, 2, 8ul, 4u, 2ul, 4u);
    mb_end_set(&m);
    mb_set(&m, 900);
    mb_u32(&m, 0x01010101); mb_u32(&m, 11);
    mb_end_set(&m);
    mb_end(&m);
    file_add(&m);
    seq += 1;
    /* withdraw 900: its data is unknown now */
    mb_ipfix(&m, T0, seq, 0);
    mb_set(&m, 2);
    mb_u16(&m, 900); mb_u16(&m, 0);
    mb_end_set(&m);
    mb_set(&m, 900);
    mb_u32(&m, 0x02020202); mb_u32(&m, 22);
    mb_end_set(&m);
    mb_end(&m);
    file_add(&m);
    /* redefine 900 with another layout */
    mb_ipfix(&m, T0, seq, 0);
    mb_set(&m, 2);
    mb_tmpl(&m, 900, 2, 2ul, 8u, 8ul, 4u);
    mb_end_set(&m);
    mb_set(&m, 900);
    mb_u64(&m, 33); mb_u32(&m, 0x03030303);
    mb_end_set(&m);
    mb_end(&m);
    file_add(&m);
    ingest_file_result_t res;
    CHECK_INT(file_decode(&res), 0);
    CHECK_INT(res.unknown_tmpl, 1);
    CHECK_INT(res.decode_errors, 0);
    CHECK_INT(got->n, 2);
    if (got->n != 2)
        return;
    CHECK_STR(ip(&got->srcip[0]), "1.1.1.1");
    CHECK_INT(got->packets[0], 11);
    CHECK_STR(ip(&got->srcip[1]), "3.3.3.3");
    CHECK_INT(got->packets[1], 33);
}

static void test_data_before_template(void)
{
    mb_t m;
    file_begin();
    mb_ipfix(&m, T0, 0, 0);
    mb_set(&m, 1000);
    mb_u32(&m, 0x05050505);
    mb_end_set(&m);
    mb_end(&m);
    file_add(&m);
    mb_ipfix(&m, T0, 1, 0);
    mb_set(&m, 2);
    mb_tmpl(&m, 1000, 1, 8ul, 4u);
    mb_end_set(&m);
    mb_set(&m, 1000);
    mb_u32(&m, 0x06060606);
    mb_end_set(&m);
    mb_end(&m);
    file_add(&m);
    ingest_file_result_t res;
    CHECK_INT(file_decode(&res), 0);
    CHECK_INT(res.unknown_tmpl, 1);
    CHECK_INT(res.messages, 2);
    CHECK_INT(got->n, 1);
    CHECK_STR(ip(&got->srcip[0]), "6.6.6.6");
}

static void test_sequence_gap(void)
{
    mb_t m;
    file_begin();
    uint32_t seqs[] = {100, 102, 107, 108};  /* 5 records lost after 102 */
    for (int k = 0; k < 4; k++) {
        mb_ipfix(&m, T0, seqs[k], 9);
        if (k == 0) {
            mb_set(&m, 2);
            mb_tmpl(&m, 1100, 1, 8ul, 4u);
            mb_end_set(&m);
        }
        mb_set(&m, 1100);
        int n = k == 0 ? 2 : 1;
        for (int i = 0; i < n; i++)
            mb_u32(&m, 0x07070700u + (uint32_t)k);
        mb_end_set(&m);
        mb_end(&m);
        file_add(&m);
    }
    ingest_file_result_t res;
    CHECK_INT(file_decode(&res), 0);
    CHECK_INT(res.seq_lost, 4); /* 103..106 */
    CHECK_INT(got->n, 5);
}

/* softflowd numbers flow records sent including the current message and
 * leaves options records out; RFC 7011 counts records before it, options
 * included. Both are learnt; real gaps are still counted. */
static void test_sequence_conventions(void)
{
    mb_t m;
    file_begin();
    /* softflowd style, domain 1: 2 flows + 1 options record, then 3, 2 */
    uint32_t post[] = {2, 5, 7, 12}; /* 12: 3 records lost before it */
    int nrec[] = {2, 3, 2, 2};
    for (int k = 0; k < 4; k++) {
        mb_ipfix(&m, T0, post[k], 1);
        if (k == 0 || k == 2) {
            mb_set(&m, 3);
            mb_u16(&m, 256); mb_u16(&m, 2); mb_u16(&m, 1);
            mb_u16(&m, 143); mb_u16(&m, 4);
            mb_u16(&m, 160); mb_u16(&m, 8);
            mb_end_set(&m);
            mb_set(&m, 2);
            mb_tmpl(&m, 1024, 1, 8ul, 4u);
            mb_end_set(&m);
            mb_set(&m, 256);
            mb_u32(&m, 1); mb_u64(&m, 1699990000000ULL);
            mb_end_set(&m);
        }
        mb_set(&m, 1024);
        for (int i = 0; i < nrec[k]; i++)
            mb_u32(&m, 0x0c000000u + (uint32_t)(k * 10 + i));
        mb_end_set(&m);
        mb_end(&m);
        file_add(&m);
    }
    /* RFC style, domain 2: seq = all records before, options counted */
    uint32_t pre[] = {0, 3, 6, 10};
    for (int k = 0; k < 4; k++) {
        mb_ipfix(&m, T0, pre[k], 2);
        mb_set(&m, 3);
        mb_u16(&m, 256); mb_u16(&m, 2); mb_u16(&m, 1);
        mb_u16(&m, 143); mb_u16(&m, 4);
        mb_u16(&m, 160); mb_u16(&m, 8);
        mb_end_set(&m);
        mb_set(&m, 2);
        mb_tmpl(&m, 1024, 1, 8ul, 4u);
        mb_end_set(&m);
        mb_set(&m, 256);
        mb_u32(&m, 1); mb_u64(&m, 1699990000000ULL);
        mb_end_set(&m);
        mb_set(&m, 1024);
        mb_u32(&m, 0x0d000000u + (uint32_t)k);
        mb_u32(&m, 0x0d000100u + (uint32_t)k);
        mb_end_set(&m);
        mb_end(&m);
        file_add(&m);
    }
    ingest_file_result_t res;
    CHECK_INT(file_decode(&res), 0);
    CHECK_INT(got->n, 9 + 8);
    CHECK_INT(res.seq_lost, 3 + 1); /* domain 1: 3; domain 2: 9 -> 10 */
}

/* A sequence number that jumps further than the exporter could have sent
 * since its last message (2^29 records within a second; 2^31, which is
 * also a jump back) is an exporter restart, counted apart, not half a
 * billion lost records. A real gap afterwards is still loss, and so is a
 * large gap over a long enough time. */
static void test_sequence_jumps(void)
{
    mb_t m;
    file_begin();
    uint32_t c = 104u + (1u << 29), e = c + 4u + (1u << 31);
    uint32_t seqs[] = {100, 102, c, c + 2, e, e + 2, e + 4 + 3};
    for (int k = 0; k < 7; k++) {
        mb_ipfix(&m, T0, seqs[k], 9);
        if (k == 0) {
            mb_set(&m, 2);
            mb_tmpl(&m, 1100, 1, 8ul, 4u);
            mb_end_set(&m);
        }
        mb_set(&m, 1100);
        mb_u32(&m, 0x07070700u + (uint32_t)k);
        mb_u32(&m, 0x07070780u + (uint32_t)k);
        mb_end_set(&m);
        mb_end(&m);
        file_add(&m);
    }
    /* domain 10: 5 million records missing over 10 s of export time */
    for (int k = 0; k < 2; k++) {
        mb_ipfix(&m, T0 + 10u * (uint32_t)k, k ? 5000001u : 0u, 10);
        mb_set(&m, 2);
        mb_tmpl(&m, 1100, 1, 8ul, 4u);
        mb_end_set(&m);
        mb_set(&m, 1100);
        mb_u32(&m, 0x08080800u + (uint32_t)k);
        mb_end_set(&m);
        mb_end(&m);
        file_add(&m);
    }
    ingest_file_result_t res;
    CHECK_INT(file_decode(&res), 0);
    CHECK_INT(got->n, 16);
    CHECK_INT(res.seq_lost, 3 + 5000000);
    CHECK_INT(res.seq_resets, 2);
}

/* ---- NetFlow v9 and v5 through ingest_mem (the receive thread's path) -- */

static void mem_collect(void *ctx, flow_batch_t *b)
{
    (void)ctx;
    CHECK(!(b->flags & FLOW_BATCH_REPLAY));
    for (uint32_t i = 0; i < b->n; i++)
        copy_rec(got, b, i);
}

static ingest_mem_t *mem_begin(void)
{
    if (!got)
        got = flow_batch_new();
    flow_batch_reset(got);
    ipaddr_t exp;
    ipaddr_parse("192.0.2.9", &exp);
    return ingest_mem_new(&exp, mem_collect, NULL);
}

static ingest_exporter_stats_t mem_row(ingest_mem_t *mem, uint32_t domain)
{
    ingest_exporter_stats_t rows[16], none = {0};
    size_t n = ingest_mem_stats(mem, rows, 16);
    for (size_t i = 0; i < n && i < 16; i++)
        if (rows[i].domain == domain)
            return rows[i];
    return none;
}

#define V9_UPTIME 100000u

static void mem_send(ingest_mem_t *mem, enum ingest_listener on,
                     const mb_t *m)
{
    ingest_mem_feed(mem, on, m->b, m->len, 1700000001000LL);
}

/* A v9 data flowset of template 260 (src, dst, packets, first, last). */
static void v9_rec(mb_t *m, uint32_t src, uint32_t packets)
{
    mb_set(m, 260);
    mb_u32(m, src); mb_u32(m, 0x0a000001); mb_u32(m, packets);
    mb_u32(m, V9_UPTIME - 10000); mb_u32(m, V9_UPTIME - 5000);
    mb_end_set(m);
    m->count++;
}

/* The three templates that made libfixbuf's v9 translator divide by zero
 * (fields of length 0, no fields, an options template of zero-length
 * fields), each with data for it: counted as decode errors, never
 * decoded; the exporter's other templates keep working. Cisco's
 * zero-length System scope beside a real field is fine. */
static void test_v9_hostile_templates(void)
{
    ingest_mem_t *mem = mem_begin();
    mb_t m;
    mb_v9(&m, V9_UPTIME, T0, 1, 77);
    mb_set(&m, 0);
    mb_tmpl(&m, 260, 5, 8ul, 4u, 12ul, 4u, 2ul, 4u, 22ul, 4u, 21ul, 4u);
    mb_end_set(&m);
    v9_rec(&m, 0x01010101, 5);
    mb_end(&m);
    mem_send(mem, INGEST_NETFLOW, &m);

    mb_v9(&m, V9_UPTIME, T0, 2, 77);                 /* zero-length fields */
    mb_set(&m, 0);
    mb_tmpl(&m, 300, 2, 8ul, 0u, 12ul, 0u);
    mb_end_set(&m);
    mb_set(&m, 300); mb_u32(&m, 1); mb_u32(&m, 2); mb_end_set(&m);
    mb_end(&m);
    mem_send(mem, INGEST_NETFLOW, &m);
    mb_v9(&m, V9_UPTIME, T0, 3, 77);                 /* no fields */
    mb_set(&m, 0);
    mb_u16(&m, 301); mb_u16(&m, 0);
    mb_end_set(&m);
    mb_set(&m, 301); mb_u32(&m, 1); mb_u32(&m, 2); mb_end_set(&m);
    mb_end(&m);
    mem_send(mem, INGEST_NETFLOW, &m);
    mb_v9(&m, V9_UPTIME, T0, 4, 77);                 /* options, all 0 */
    mb_set(&m, 1);
    mb_u16(&m, 302); mb_u16(&m, 4); mb_u16(&m, 4);
    mb_u16(&m, 1); mb_u16(&m, 0); mb_u16(&m, 34); mb_u16(&m, 0);
    mb_u16(&m, 0);                                   /* padding */
    mb_end_set(&m);
    mb_set(&m, 302); mb_u32(&m, 1); mb_u32(&m, 2); mb_end_set(&m);
    mb_end(&m);
    mem_send(mem, INGEST_NETFLOW, &m);

    /* Cisco: System scope of length 0, sampling interval 1 in 64 */
    mb_v9(&m, V9_UPTIME, T0, 5, 77);
    mb_set(&m, 1);
    mb_u16(&m, 303); mb_u16(&m, 4); mb_u16(&m, 4);
    mb_u16(&m, 1); mb_u16(&m, 0); mb_u16(&m, 34); mb_u16(&m, 4);
    mb_u16(&m, 0);
    mb_end_set(&m);
    mb_set(&m, 303); mb_u32(&m, 64); mb_end_set(&m);
    v9_rec(&m, 0x02020202, 6);
    mb_end(&m);
    mem_send(mem, INGEST_NETFLOW, &m);
    ingest_mem_flush(mem);

    ingest_exporter_stats_t st = mem_row(mem, 77);
    CHECK_INT(st.decode_errors, 3);
    CHECK_INT(st.messages, 2);
    CHECK_INT(st.records, 2);
    CHECK_INT(st.unknown_tmpl, 0);
    CHECK_INT(st.seq_lost_msgs, 0);
    CHECK_INT(st.proto, INGEST_PROTO_V9);
    CHECK_INT(got->n, 2);
    if (got->n == 2) {
        int64_t boot = (int64_t)T0 * 1000 - V9_UPTIME;
        CHECK_STR(ip(&got->srcip[0]), "1.1.1.1");
        CHECK_STR(ip(&got->exporter[0]), "192.0.2.9");
        CHECK_INT(got->packets[0], 5);
        CHECK_INT(got->start[0], boot + V9_UPTIME - 10000);
        CHECK_INT(got->end[0], boot + V9_UPTIME - 5000);
        CHECK_INT(got->received[0], 1700000001000LL);
        CHECK_INT(got->domain[0], 77);
        CHECK_INT(got->sampling[0], 0);
        CHECK_STR(ip(&got->srcip[1]), "2.2.2.2");
        CHECK_INT(got->sampling[1], 64);
    }
    ingest_mem_free(mem);
}

/* v9 numbers datagrams: a small gap is datagrams lost, a jump of 2^29
 * datagrams within a second an exporter restart. */
static void test_v9_sequence_jump(void)
{
    ingest_mem_t *mem = mem_begin();
    mb_t m;
    uint32_t j = 2u + (1u << 29);
    uint32_t seqs[] = {1, 2, j, j + 1, j + 1 + 5};
    for (int k = 0; k < 5; k++) {
        mb_v9(&m, V9_UPTIME, T0, seqs[k], 78);
        mb_set(&m, 0);
        mb_tmpl(&m, 260, 5, 8ul, 4u, 12ul, 4u, 2ul, 4u, 22ul, 4u, 21ul,
                4u);
        mb_end_set(&m);
        v9_rec(&m, 0x03030300u + (uint32_t)k, 1);
        mb_end(&m);
        mem_send(mem, INGEST_NETFLOW, &m);
    }
    ingest_exporter_stats_t st = mem_row(mem, 78);
    CHECK_INT(st.records, 5);
    CHECK_INT(st.seq_lost_msgs, 4);
    CHECK_INT(st.seq_resets, 1);
    CHECK_INT(st.seq_lost, 0);
    ingest_mem_free(mem);
}

/* Each malformed message is counted and skipped; the good ones around it
 * still decode. */
static void test_malformed_messages(void)
{
    mb_t m;
    file_begin();
    int bad = 0;
    /* a good template for data later */
    mb_ipfix(&m, T0, 0, 0);
    mb_set(&m, 2);
    mb_tmpl(&m, 1200, 1, 8ul, 4u);
    mb_tmpl(&m, 1201, 2, 8ul, 4u, 82ul, 65535u); /* interfaceName varlen */
    mb_end_set(&m);
    mb_end(&m);
    file_add(&m);
    /* set length below 4 */
    mb_ipfix(&m, T0, 0, 0);
    mb_u16(&m, 1200); mb_u16(&m, 2); mb_u32(&m, 0);
    mb_end(&m);
    file_add(&m), bad++;
    /* set overruns the message */
    mb_ipfix(&m, T0, 0, 0);
    mb_u16(&m, 1200); mb_u16(&m, 400); mb_u32(&m, 0x01010101);
    mb_end(&m);
    file_add(&m), bad++;
    /* template field of length 0 */
    mb_ipfix(&m, T0, 0, 0);
    mb_set(&m, 2);
    mb_tmpl(&m, 1300, 2, 8ul, 4u, 12ul, 0u);
    mb_end_set(&m);
    mb_end(&m);
    file_add(&m), bad++;
    /* absurd field count: 60000 fields in a 20-byte set */
    mb_ipfix(&m, T0, 0, 0);
    mb_set(&m, 2);
    mb_u16(&m, 1301); mb_u16(&m, 60000);
    mb_u16(&m, 8); mb_u16(&m, 4);
    mb_end_set(&m);
    mb_end(&m);
    file_add(&m), bad++;
    /* options template with scope count 0 */
    mb_ipfix(&m, T0, 0, 0);
    mb_set(&m, 3);
    mb_u16(&m, 1302); mb_u16(&m, 1); mb_u16(&m, 0);
    mb_u16(&m, 34); mb_u16(&m, 4);
    mb_end_set(&m);
    mb_end(&m);
    file_add(&m), bad++;
    /* reserved set id */
    mb_ipfix(&m, T0, 0, 0);
    mb_set(&m, 17);
    mb_u32(&m, 0);
    mb_end_set(&m);
    mb_end(&m);
    file_add(&m), bad++;
    /* variable-length field longer than its set */
    mb_ipfix(&m, T0, 0, 0);
    mb_set(&m, 1201);
    mb_u32(&m, 0x01010101); mb_u8(&m, 200); mb_bytes(&m, "eth0", 4);
    mb_end_set(&m);
    mb_end(&m);
    file_add(&m), bad++;
    /* template id below 256 */
    mb_ipfix(&m, T0, 0, 0);
    mb_set(&m, 2);
    mb_tmpl(&m, 255, 1, 8ul, 4u);
    mb_end_set(&m);
    mb_end(&m);
    file_add(&m), bad++;
    /* after all that, good data (seq continues from the good ones) */
    mb_ipfix(&m, T0, 0, 0);
    mb_set(&m, 1200);
    mb_u32(&m, 0x08080808);
    mb_end_set(&m);
    mb_set(&m, 1201);
    mb_u32(&m, 0x09090909); mb_u8(&m, 4); mb_bytes(&m, "eth0", 4);
    mb_u32(&m, 0x0a0a0a0a); mb_u8(&m, 255); mb_u16(&m, 3);
    mb_bytes(&m, "lo0", 3);
    mb_end_set(&m);
    mb_end(&m);
    file_add(&m);
    ingest_file_result_t res;
    CHECK_INT(file_decode(&res), 0);
    CHECK_INT(res.decode_errors, bad);
    CHECK_INT(res.messages, 2);
    CHECK_INT(got->n, 3);
    if (got->n == 3) {
        CHECK_STR(ip(&got->srcip[0]), "8.8.8.8");
        CHECK_STR(ip(&got->srcip[2]), "10.10.10.10");
    }
}

static void test_not_a_file_of_ipfix(void)
{
    file_begin();
    fputs("this is not IPFIX at all\n", fp);
    ingest_file_result_t res;
    fclose(fp);
    diag_t err = {0};
    int rc = ingest_read_file(path, collect, NULL, &res, &err);
    unlink(path);
    CHECK_INT(rc, -1);
    CHECK(strstr(err.msg, "not an IPFIX message") != NULL);
    diag_t err2 = {0};
    CHECK_INT(ingest_read_file("/nonexistent/x.ipfix", collect, NULL, NULL,
                               &err2), -1);
    CHECK(strstr(err2.msg, "cannot open") != NULL);
}

/* Messages cut anywhere, lengths shifted, bytes flipped: never a crash,
 * always counted. Deterministic (fixed seed). */
static void test_mutations(void)
{
    static mb_t base;
    mb_ipfix(&base, T0, 0, 0);
    mb_set(&base, 2);
    mb_tmpl(&base, 1400, 5, 8ul, 4u, 12ul, 4u, 82ul, 65535u, 2ul, 4u,
            MB_PEN(29305, 2), 4u);
    mb_end_set(&base);
    mb_set(&base, 3);
    mb_u16(&base, 1401); mb_u16(&base, 2); mb_u16(&base, 1);
    mb_u16(&base, 143); mb_u16(&base, 4);
    mb_u16(&base, 160); mb_u16(&base, 8);
    mb_end_set(&base);
    mb_set(&base, 1401);
    mb_u32(&base, 1); mb_u64(&base, 1699990000000ULL);
    mb_end_set(&base);
    mb_set(&base, 1400);
    for (int i = 0; i < 4; i++) {
        mb_u32(&base, 0x0a000000u + (uint32_t)i); mb_u32(&base, 0x0b000000);
        mb_u8(&base, 3); mb_bytes(&base, "abc", 3);
        mb_u32(&base, 5); mb_u32(&base, 6);
    }
    mb_end_set(&base);
    mb_end(&base);

    /* and one with every kind of time and counter in its records */
    static mb_t timed;
    mb_ipfix(&timed, T0, 0, 0);
    mb_set(&timed, 2);
    mb_tmpl(&timed, 1402, 9, 8ul, 4u, 152ul, 8u, 161ul, 4u, 22ul, 4u,
            21ul, 4u, 85ul, 8u, 158ul, 4u, MB_PEN(29305, 1), 8u, 34ul, 4u);
    mb_tmpl(&timed, 1403, 4, 27ul, 16u, 154ul, 8u, 157ul, 8u, 86ul, 8u);
    mb_end_set(&timed);
    mb_set(&timed, 1402);
    for (int i = 0; i < 3; i++) {
        mb_u32(&timed, 0x0a000001); mb_u64(&timed, 1699999990000ULL);
        mb_u32(&timed, 500); mb_u32(&timed, 1000); mb_u32(&timed, 2000);
        mb_u64(&timed, 1234); mb_u32(&timed, 77); mb_u64(&timed, 99);
        mb_u32(&timed, 10);
    }
    mb_end_set(&timed);
    mb_set(&timed, 1403);
    uint8_t a6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 9};
    mb_bytes(&timed, a6, 16);
    mb_u64(&timed, 0xe8d4a51000000000ULL);
    mb_u64(&timed, 0xe8d4a51100000000ULL);
    mb_u64(&timed, 3);
    mb_end_set(&timed);
    mb_end(&timed);

    /* FLOWSQL_MUTATIONS=N for a longer run by hand */
    const char *env = getenv("FLOWSQL_MUTATIONS");
    int rounds = env ? atoi(env) : 3000;
    uint64_t x = 0x243f6a8885a308d3ULL;
    file_begin();
    for (int k = 0; k < rounds; k++) {
        mb_t m = (k & 1) ? timed : base;
        int flips = 1 + k % 4;
        for (int f = 0; f < flips; f++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            size_t at = 4 + x % (m.len - 4); /* keep the framing bytes */
            m.b[at] = (uint8_t)(x >> 32);
        }
        if (k % 7 == 0) { /* also cut it short, keeping the frame valid */
            m.len = 16 + (x >> 40) % (m.len - 16);
            mb_put16(&m, 2, (unsigned)m.len);
        }
        file_add(&m);
    }
    ingest_file_result_t res;
    CHECK_INT(file_decode(&res), 0);
    CHECK(res.decode_errors > 0);
    CHECK_INT(res.messages + res.decode_errors, rounds);
}

int main(void)
{
    log_set_level(LOG_ERROR);
    RUN(test_ipv4_all_fields);
    RUN(test_timestamp_forms);
    RUN(test_ipv6_and_icmp);
    RUN(test_biflow);
    RUN(test_total_counters);
    RUN(test_sampling);
    RUN(test_withdrawal_and_redefinition);
    RUN(test_data_before_template);
    RUN(test_sequence_gap);
    RUN(test_sequence_conventions);
    RUN(test_sequence_jumps);
    RUN(test_v9_hostile_templates);
    RUN(test_v9_sequence_jump);
    RUN(test_malformed_messages);
    RUN(test_not_a_file_of_ipfix);
    RUN(test_mutations);
    flow_batch_free(got);
    TEST_EXIT();
}
