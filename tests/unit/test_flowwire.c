/*
 * test_flowwire.c - the scale-out flows wire format (ingest/flowwire.h):
 * every column survives encode then decode bit for bit, IPv4 and IPv6,
 * the extreme int64 values, every encoding (constant, varint, delta,
 * 4- and 16-byte addresses), a subset by index, markers, and every bad
 * message refused with an error instead of read past its end.
 */
#include "ingest/flowwire.h"
#include "tests/test.h"

#include <stdint.h>
#include <stdlib.h>

static uint64_t rng = 88172645463325252ULL;

static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Values that stress an encoding: the extremes, around 0 and the
 * varint byte boundaries, and random 64-bit patterns. */
static int64_t pick(void)
{
    static const int64_t special[] = {
        0, 1, -1, 63, 64, -64, -65, 127, 128, 16383, 16384,
        INT64_MAX, INT64_MIN, INT64_MAX - 1, INT64_MIN + 1,
        INT32_MAX, INT32_MIN, 1764547200000, (int64_t)UINT32_MAX};
    uint64_t r = next();
    if (r % 3 == 0)
        return special[(r >> 8) % (sizeof(special) / sizeof(special[0]))];
    return (int64_t)next();
}

static void fill(flow_batch_t *b, uint32_t n, int v6)
{
    flow_batch_reset(b);
    for (uint32_t i = 0; i < n; i++) {
        flow_batch_add(b);
        for (size_t c = 0; c < FLOWWIRE_NCOLS; c++) {
            const flowwire_col_t *col = &flowwire_cols[c];
            char *base = (char *)b + col->off;
            if (col->addr) {
                ipaddr_t *a = (ipaddr_t *)base + i;
                if (v6 && next() % 2) {
                    uint64_t x = next(), y = next();
                    memcpy(a->a, &x, 8);
                    memcpy(a->a + 8, &y, 8);
                } else {
                    *a = ipaddr_from_v4((uint32_t)next());
                }
            } else {
                ((int64_t *)base)[i] = pick();
            }
        }
    }
}

/* Every column of flows idx (or 0..n-1) of a equal to b's 0..n-1. */
static int same_flows(const flow_batch_t *a, const uint32_t *idx,
                      const flow_batch_t *b, uint32_t n)
{
    int bad = 0;
    for (size_t c = 0; c < FLOWWIRE_NCOLS; c++) {
        const flowwire_col_t *col = &flowwire_cols[c];
        size_t w = col->addr ? 16 : 8;
        const char *pa = (const char *)a + col->off;
        const char *pb = (const char *)b + col->off;
        for (uint32_t i = 0; i < n; i++) {
            uint32_t j = idx ? idx[i] : i;
            if (memcmp(pa + j * w, pb + i * w, w) != 0) {
                fprintf(stderr, "column %u flow %u differs\n", col->id, i);
                bad++;
                break;
            }
        }
    }
    return bad == 0;
}

static int roundtrip(const flow_batch_t *in, const uint32_t *idx, uint32_t n,
                     flow_batch_t *out, size_t *size)
{
    sbuf_t m = SBUF_INIT;
    flowwire_meta_t meta = {.watermark = 1764547200123, .seq = 77}, got;
    flowwire_encode(in, idx, n, &meta, &m);
    diag_t err = {0};
    int rc = flowwire_decode(m.s, m.len, out, &got, &err);
    if (rc < 0)
        fprintf(stderr, "decode: %s\n", err.msg);
    if (size)
        *size = m.len;
    sbuf_free(&m);
    return rc == 0 && out->n == n && got.watermark == meta.watermark &&
           got.seq == 77 && same_flows(in, idx, out, n);
}

static void test_every_column_v4_v6_extremes(void)
{
    flow_batch_t *in = flow_batch_new(), *out = flow_batch_new();
    for (int v6 = 0; v6 < 2; v6++) {
        uint32_t sizes[] = {1, 2, 7, 300, FLOW_BATCH_MAX};
        for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
            fill(in, sizes[s], v6);
            CHECK(roundtrip(in, NULL, sizes[s], out, NULL));
        }
    }
    flow_batch_free(in);
    flow_batch_free(out);
}

/* Constant columns, times in order (delta), small counters (varint):
 * what a real batch looks like, and its size. */
static void test_typical_batch_encodings(void)
{
    flow_batch_t *in = flow_batch_new(), *out = flow_batch_new();
    for (uint32_t i = 0; i < 1000; i++) {
        int k = flow_batch_add(in);
        in->srcip[k] = ipaddr_from_v4(0x0a000000u + i % 50);
        in->dstip[k] = ipaddr_from_v4(0xc0a80000u + i * 7);
        in->exporter[k] = ipaddr_from_v4(0x7f000001u);
        in->start[k] = 1764547200000 + i * 3;
        in->end[k] = in->start[k] + 1500;
        in->received[k] = 1764547260000 + i / 100;
        in->packets[k] = 1 + i % 10;
        in->bytes[k] = 64 + i * 13;
        in->srcport[k] = 1024 + i;
        in->dstport[k] = 443;
        in->proto[k] = 6;
    }
    size_t size = 0;
    CHECK(roundtrip(in, NULL, in->n, out, &size));
    /* 16 of the 24 columns are constant; the rest a few bytes a flow.
     * The batch itself is 24 columns of 8 or 16 bytes. */
    CHECK(size < 1000 * 24);
    printf("# 1000 typical flows: %zu bytes (%.1f a flow)\n", size,
           size / 1000.0);
    /* all the same address, IPv6 */
    for (uint32_t i = 0; i < in->n; i++)
        memset(in->nexthop[i].a, 0xfe, 16);
    CHECK(roundtrip(in, NULL, in->n, out, NULL));
    flow_batch_free(in);
    flow_batch_free(out);
}

static void test_subset_by_index(void)
{
    flow_batch_t *in = flow_batch_new(), *out = flow_batch_new();
    fill(in, 500, 1);
    uint32_t idx[100];
    for (uint32_t i = 0; i < 100; i++)
        idx[i] = (i * 37) % 500;
    CHECK(roundtrip(in, idx, 100, out, NULL));
    in->flags = FLOW_BATCH_REPLAY;
    CHECK(roundtrip(in, idx, 1, out, NULL));
    CHECK(out->flags & FLOW_BATCH_REPLAY);
    flow_batch_free(in);
    flow_batch_free(out);
}

static void test_marker(void)
{
    flow_batch_t *out = flow_batch_new();
    sbuf_t m = SBUF_INIT;
    flowwire_meta_t meta = {.watermark = 1764547265000, .seq = 9}, got;
    flowwire_encode(NULL, NULL, 0, &meta, &m);
    CHECK_INT(m.len, FLOWWIRE_HDR);
    diag_t err = {0};
    out->n = 5;
    CHECK_INT(flowwire_decode(m.s, m.len, out, &got, &err), 0);
    CHECK_INT(out->n, 0);
    CHECK(got.flags & FLOWWIRE_F_MARKER);
    CHECK_INT(got.watermark, 1764547265000);
    CHECK_INT(got.seq, 9);
    sbuf_free(&m);
    flow_batch_free(out);
}

static int refused(const void *p, size_t len, const char *want)
{
    flow_batch_t *out = flow_batch_new();
    diag_t err = {0};
    int rc = flowwire_decode(p, len, out, NULL, &err);
    int ok = rc == -1 && out->n == 0 && strstr(err.msg, want) != NULL;
    if (!ok)
        fprintf(stderr, "rc %d n %u error [%s], expected [%s]\n", rc,
                out->n, err.msg, want);
    flow_batch_free(out);
    return ok;
}

/* Every prefix of a good message, bad headers, bad columns: an error
 * that says what, the batch left empty. Under ASan a read past the
 * message's end would stop the test. */
static void test_bad_messages(void)
{
    flow_batch_t *in = flow_batch_new();
    fill(in, 20, 1);
    sbuf_t m = SBUF_INIT;
    flowwire_encode(in, NULL, 20, NULL, &m);
    int bad = 0;
    for (size_t len = 0; len < m.len; len++) {
        char *copy = malloc(len ? len : 1);
        memcpy(copy, m.s, len);
        flow_batch_t *out = flow_batch_new();
        diag_t err = {0};
        if (flowwire_decode(copy, len, out, NULL, &err) != -1 || out->n)
            bad++;
        flow_batch_free(out);
        free(copy);
    }
    CHECK_INT(bad, 0);

    char *c = malloc(m.len + 1);
    memcpy(c, m.s, m.len);
    c[0] = 'X';
    CHECK(refused(c, m.len, "bad magic"));
    c[0] = 'F';
    c[4] = 9;
    CHECK(refused(c, m.len, "version 9"));
    c[4] = FLOWWIRE_VERSION;
    c[8] = 0x01, c[9] = 0x10; /* n = 4097 */
    CHECK(refused(c, m.len, "at most 2048"));
    c[8] = 20, c[9] = 0;
    c[6] = 0x10; /* header length 16 */
    CHECK(refused(c, m.len, "header length 16"));
    c[6] = FLOWWIRE_HDR;
    c[FLOWWIRE_HDR + 1] = 7; /* srcip's encoding */
    CHECK(refused(c, m.len, "encoding 7"));
    c[FLOWWIRE_HDR + 1] = FW_ENC_ADDR4; /* wrong size for 20 flows */
    CHECK(refused(c, m.len, "does not hold 20 flows"));
    memcpy(c, m.s, m.len);
    c[m.len] = 0;
    CHECK(refused(c, m.len + 1, "1 bytes after its last column"));
    free(c);

    /* an unknown column is skipped, the known ones still decoded */
    sbuf_t u = SBUF_INIT;
    sbuf_addn(&u, m.s, m.len);
    u.s[12]++; /* one more column */
    const char extra[] = {(char)200, 1, 3, 0, 0, 0, 1, 2, 3};
    sbuf_addn(&u, extra, sizeof(extra));
    flow_batch_t *out = flow_batch_new();
    diag_t err = {0};
    CHECK_INT(flowwire_decode(u.s, u.len, out, NULL, &err), 0);
    CHECK(same_flows(in, NULL, out, 20));
    sbuf_free(&u);
    sbuf_free(&m);
    flow_batch_free(out);
    flow_batch_free(in);
}

int main(void)
{
    RUN(test_every_column_v4_v6_extremes);
    RUN(test_typical_batch_encodings);
    RUN(test_subset_by_index);
    RUN(test_marker);
    RUN(test_bad_messages);
    TEST_EXIT();
}
