/* test_parquet.c - the archive's Parquet layer: Thrift, the encodings,
 * bloom filters, round trips of flows and of every kind, reading a file
 * being written, crash recovery (kill -9 between and inside row groups),
 * and hostile files (truncated, flipped, lying lengths). */
#include "archive/parquet.h"
#include "archive/pqint.h"
#include "archive/thrift.h"
#include "engine/schema.h"
#include "tests/test.h"
#include "util/arena.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[64];
static uint64_t seed = 88172645463325252ull;

static uint64_t rnd(void)
{
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;
    return seed;
}

static char *tpath(const char *name)
{
    static char p[256][128];          /* each name keeps its own slot */
    static int k;
    k = (k + 1) % 256;
    snprintf(p[k], sizeof(p[k]), "%s/%s", dir, name);
    return p[k];
}

static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = xmalloc((size_t)len + 1);
    *n = fread(p, 1, (size_t)len, f);
    fclose(f);
    return p;
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* ---- Thrift ------------------------------------------------------------- */

static void test_thrift_roundtrip(void)
{
    arena_t *a = arena_new();
    pqm_schema_t schema[3] = {
        {.name = "schema", .type = -1, .repetition = -1, .converted = -1,
         .num_children = 2},
        {.name = "t", .type = PT_INT64, .repetition = PR_REQUIRED,
         .converted = PCT_TIMESTAMP_MILLIS, .logical = PL_TIMESTAMP,
         .lt_unit = PU_MILLIS, .lt_utc = 1},
        {.name = "p", .type = PT_INT32, .repetition = PR_REQUIRED,
         .converted = PCT_INT_16, .logical = PL_INTEGER, .lt_bits = 16,
         .lt_signed = 1},
    };
    uint8_t lo[8] = {1, 2, 3, 4, 5, 6, 7, 8}, hi[8] = {9};
    pqm_chunk_t cols[2] = {0};
    for (int i = 0; i < 2; i++) {
        pqm_colmeta_t *m = &cols[i].meta;
        cols[i].has_meta = 1;
        cols[i].file_offset = 4 + i * 1000;
        m->type = i ? PT_INT32 : PT_INT64;
        m->encodings = 1u << PE_PLAIN | 1u << PE_RLE_DICTIONARY;
        m->path = i ? "p" : "t";
        m->codec = PC_ZSTD;
        m->num_values = 77;
        m->total_compressed_size = 1000;
        m->total_uncompressed_size = 5000;
        m->data_page_offset = 4 + i * 1000;
        m->has_stats = 1;
        m->stats.min_value = (pqm_bin_t){lo, 8, 1};
        m->stats.max_value = (pqm_bin_t){hi, 8, 1};
        m->has_bloom = i == 1;
        m->bloom_offset = 1 << 20;
        m->bloom_length = 4096;
    }
    pqm_rowgroup_t rg = {.cols = cols, .ncols = 2, .num_rows = 77,
                         .total_byte_size = 10000};
    pqm_kv_t kv[1] = {{"flowsql.schema", "1"}};
    pqm_file_t f = {.version = 2, .schema = schema, .nschema = 3,
                    .num_rows = 77, .rgs = &rg, .nrgs = 1, .kv = kv,
                    .nkv = 1, .created_by = "me", .column_orders = 1};
    tw_t w;
    tw_init(&w);
    pqm_write_file(&w, &f);
    pqm_file_t g;
    diag_t e = {0};
    CHECK_INT(pqm_read_file(w.buf, w.len, a, &g, &e), 0);
    CHECK_INT(g.nschema, 3);
    CHECK_STR(g.schema[1].name, "t");
    CHECK_INT(g.schema[1].logical, PL_TIMESTAMP);
    CHECK_INT(g.schema[1].lt_unit, PU_MILLIS);
    CHECK_INT(g.schema[1].lt_utc, 1);
    CHECK_INT(g.schema[2].lt_bits, 16);
    CHECK_INT(g.schema[2].lt_signed, 1);
    CHECK_INT(g.schema[2].converted, PCT_INT_16);
    CHECK_INT(g.schema[0].num_children, 2);
    CHECK_INT(g.nrgs, 1);
    CHECK_INT(g.rgs[0].ncols, 2);
    CHECK_INT(g.rgs[0].cols[1].meta.encodings, cols[1].meta.encodings);
    CHECK_STR(g.rgs[0].cols[1].meta.path, "p");
    CHECK_INT(g.rgs[0].cols[1].meta.has_bloom, 1);
    CHECK_INT(g.rgs[0].cols[1].meta.bloom_offset, 1 << 20);
    CHECK_INT(g.rgs[0].cols[0].meta.has_bloom, 0);
    CHECK_INT(g.rgs[0].cols[0].meta.stats.min_value.len, 8);
    CHECK(memcmp(g.rgs[0].cols[0].meta.stats.min_value.p, lo, 8) == 0);
    CHECK_STR(g.kv[0].key, "flowsql.schema");
    CHECK_STR(g.kv[0].value, "1");
    CHECK_STR(g.created_by, "me");
    /* every cut of the encoding is an error, never a crash */
    int errors = 0;
    for (size_t n = 0; n < w.len; n++) {
        arena_t *b = arena_new();
        diag_t e2 = {0};
        errors += pqm_read_file(w.buf, n, b, &g, &e2) < 0;
        arena_free(b);
    }
    CHECK_INT(errors, (long long)w.len);
    tw_free(&w);
    arena_free(a);
}

/* Fields we do not know, of every type, are skipped. */
static void test_thrift_unknown_fields(void)
{
    tw_t w;
    tw_init(&w);
    tw_struct(&w);
    tw_field_i32(&w, 1, 1);                  /* type BOOLEAN... */
    tw_field_str(&w, 4, "x");
    tw_field_i32(&w, 3, PR_OPTIONAL);        /* ids out of order */
    tw_field_bool(&w, 20, 1);
    tw_field_i64(&w, 21, -5);
    tw_field_list(&w, 22, TT_STRUCT, 2);
    tw_struct(&w);
    tw_field_list(&w, 1, TT_TRUE, 3);        /* a list of bools */
    tw_raw(&w, "\x01\x02\x01", 3);
    tw_end(&w);
    tw_struct(&w);
    tw_end(&w);
    tw_field_struct(&w, 300);                /* a long field id */
    tw_field_bin(&w, 1, "abc", 3);
    tw_end(&w);
    uint8_t map[] = {TT_MAP | 0x10, 2, 0x58, 2, 1, 'k', 4, 1, 'j'};
    tw_raw(&w, map, sizeof(map));           /* field 301: map<i32,bin>... */
    tw_field_i32(&w, 1, PT_INT32);          /* a known field again */
    tw_end(&w);
    /* wrap it as FileMetaData.schema[1] */
    tw_t f;
    tw_init(&f);
    tw_struct(&f);
    tw_field_i32(&f, 1, 1);
    tw_field_list(&f, 2, TT_STRUCT, 1);
    tw_raw(&f, w.buf, w.len);
    tw_field_i64(&f, 3, 0);
    tw_end(&f);
    arena_t *a = arena_new();
    pqm_file_t g;
    diag_t e = {0};
    int rc = pqm_read_file(f.buf, f.len, a, &g, &e);
    CHECK_INT(rc, 0);
    if (rc == 0) {
        CHECK_INT(g.nschema, 1);
        CHECK_STR(g.schema[0].name, "x");
        CHECK_INT(g.schema[0].repetition, PR_OPTIONAL);
        CHECK_INT(g.schema[0].type, PT_INT32);
    } else {
        fprintf(stderr, "%s\n", e.msg);
    }
    tw_free(&w);
    tw_free(&f);
    arena_free(a);
}

static void test_thrift_hostile(void)
{
    arena_t *a = arena_new();
    pqm_file_t g;
    diag_t e = {0};
    /* structs nested 1000 deep in an unknown field */
    uint8_t deep[2100];
    size_t n = 0;
    deep[n++] = TT_I32 | 0x10;
    deep[n++] = 2;
    for (int i = 0; i < 1000; i++)
        deep[n++] = 0x90 | TT_STRUCT;        /* field id +9, a struct */
    for (int i = 0; i < 1001; i++)
        deep[n++] = 0;
    CHECK_INT(pqm_read_file(deep, n, a, &g, &e), -1);
    CHECK(strstr(e.msg, "nested too deep") != NULL);
    /* a list that claims more elements than bytes */
    uint8_t lie[] = {TT_I32 | 0x10, 2, TT_LIST | 0x10, 0xfc, 0xff, 0xff,
                     0xff, 0x0f, 0};
    diag_clear(&e);
    CHECK_INT(pqm_read_file(lie, sizeof(lie), a, &g, &e), -1);
    CHECK(strstr(e.msg, "list longer than the data") != NULL);
    /* a string that claims more bytes than there are */
    uint8_t str[] = {TT_BINARY | 0x60, 0xff, 0xff, 0xff, 0x7f, 'a', 0};
    diag_clear(&e);
    CHECK_INT(pqm_read_file(str, sizeof(str), a, &g, &e), -1);
    CHECK(strstr(e.msg, "binary longer than the data") != NULL);
    /* 20 million empty row groups: 20 MB to claim, 1 GB to hold */
    size_t big = 20u << 20;
    uint8_t *many = xmalloc(big + 16);
    n = 0;
    many[n++] = TT_I32 | 0x10;
    many[n++] = 2;
    many[n++] = TT_LIST | 0x30;                /* field 4, row_groups */
    many[n++] = 0xf0 | TT_STRUCT;
    uint64_t cnt = big;
    while (cnt >= 0x80) {
        many[n++] = (uint8_t)(cnt | 0x80);
        cnt >>= 7;
    }
    many[n++] = (uint8_t)cnt;
    memset(many + n, 0, big);
    diag_clear(&e);
    CHECK_INT(pqm_read_file(many, n + big, a, &g, &e), -1);
    CHECK(strstr(e.msg, "metadata too large to decode") != NULL);
    free(many);
    /* a varint that never ends */
    uint8_t vi[16] = {TT_I64 | 0x30};
    memset(vi + 1, 0xff, 15);
    diag_clear(&e);
    CHECK_INT(pqm_read_file(vi, sizeof(vi), a, &g, &e), -1);
    arena_free(a);
}

/* ---- encodings ---------------------------------------------------------- */

static void test_hybrid(void)
{
    uint32_t v[5000], out[5000];
    for (int w = 1; w <= 32; w++) {
        uint64_t mask = w == 32 ? 0xffffffffu : (1u << w) - 1;
        size_t n = 1 + rnd() % 5000;
        for (size_t i = 0; i < n;) {
            /* runs of repeats (RLE), and literal stretches */
            size_t run = rnd() % 3 ? 1 : 1 + rnd() % 40;
            uint32_t x = (uint32_t)(rnd() & mask);
            for (size_t k = 0; k < run && i < n; k++)
                v[i++] = x;
        }
        bbuf_t b = {0};
        enc_hybrid(&b, v, n, w);
        hyb_t h;
        hyb_init(&h, b.p, b.len, w);
        /* read in odd pieces */
        size_t got = 0;
        int ok = 1;
        while (got < n && ok) {
            size_t k = 1 + rnd() % 700;
            k = k < n - got ? k : n - got;
            ok = hyb_read(&h, out + got, k) == 0;
            got += k;
        }
        CHECK(ok);
        CHECK(memcmp(v, out, n * sizeof(uint32_t)) == 0);
        bb_free(&b);
    }
}

static void delta_roundtrip(const int64_t *v, size_t n, int is32)
{
    bbuf_t b = {0};
    enc_delta(&b, v, n, is32);
    dbp_t d;
    int64_t *out = xmalloc(n * sizeof(int64_t));
    CHECK_INT(dbp_init(&d, b.p, b.len), 0);
    size_t got = 0;
    int ok = 1;
    while (got < n && ok) {
        size_t k = 1 + rnd() % 300;
        k = k < n - got ? k : n - got;
        ok = dbp_read(&d, out + got, k, is32) == 0;
        got += k;
    }
    CHECK(ok);
    CHECK(memcmp(v, out, n * sizeof(int64_t)) == 0);
    int64_t extra;
    CHECK_INT(dbp_read(&d, &extra, 1, is32), -1);   /* no more values */
    dbp_free(&d);
    free(out);
    bb_free(&b);
}

static void test_delta(void)
{
    int64_t v[3000];
    static const int64_t e64[] = {INT64_MIN, INT64_MAX, 0, -1, INT64_MAX,
                                  INT64_MIN, 1, INT64_MIN + 1};
    static const int64_t e32[] = {INT32_MIN, INT32_MAX, 0, -1, INT32_MAX,
                                  INT32_MIN, 1, INT32_MIN + 1};
    delta_roundtrip(e64, 8, 0);
    delta_roundtrip(e32, 8, 1);
    delta_roundtrip(e64, 1, 0);
    for (int round = 0; round < 40; round++) {
        size_t n = 1 + rnd() % 3000;
        int is32 = round & 1;
        int64_t x = (int64_t)rnd();
        for (size_t i = 0; i < n; i++) {
            switch (round % 4) {
            case 0: x += (int64_t)(rnd() % 5); break;        /* times */
            case 1: x = (int64_t)(int32_t)rnd(); break;      /* noise */
            case 2: x = (int64_t)rnd(); break;
            default: x = (int64_t)(rnd() % 3) - 1; break;
            }
            v[i] = is32 ? (int64_t)(int32_t)x : x;
        }
        delta_roundtrip(v, n, is32);
    }
}

static void test_bitpack(void)
{
    uint64_t v[77], out[77];
    for (int w = 0; w <= 64; w++) {
        uint64_t mask = w == 64 ? ~0ull : (1ull << w) - 1;
        for (int i = 0; i < 77; i++)
            v[i] = rnd() & mask;
        bbuf_t b = {0};
        enc_bitpack(&b, v, 77, w);
        CHECK_INT(b.len, (77 * w + 7) / 8);
        dec_bitunpack(b.p, 77, w, out);
        CHECK(memcmp(v, out, sizeof(v)) == 0);
        bb_free(&b);
    }
}

static void test_bloom(void)
{
    uint32_t nb = bloom_size(10000, 0.05);
    CHECK_INT(nb, 16384);                /* 8590 bytes, rounded up */
    CHECK_INT(nb & (nb - 1), 0);
    uint8_t *bits = xcalloc(1, nb);
    for (uint64_t i = 0; i < 10000; i++)
        bloom_insert(bits, nb, bloom_hash(&i, 8));
    int missing = 0, fp = 0;
    for (uint64_t i = 0; i < 10000; i++)
        missing += !bloom_check(bits, nb, bloom_hash(&i, 8));
    for (uint64_t i = 10000; i < 110000; i++)
        fp += bloom_check(bits, nb, bloom_hash(&i, 8));
    CHECK_INT(missing, 0);
    if (fp >= 100000 * 5 / 100)
        fprintf(stderr, "bloom: %d false positives in 100000\n", fp);
    CHECK(fp < 100000 * 5 / 100);
    free(bits);
}

/* ---- flows -------------------------------------------------------------- */

/* Row r of the test flows: extremes first, then traffic-like values. */
static void flow_row(flow_batch_t *b, int k, uint64_t r)
{
    uint64_t h = r * 0x9E3779B97F4A7C15ull;
    h ^= h >> 29;
    if (r % 5 == 0) {
        for (int i = 0; i < 16; i++)
            b->srcip[k].a[i] = (uint8_t)(h >> (i % 8 * 8));
    } else {
        b->srcip[k] = ipaddr_from_v4(0x0a000000u + (uint32_t)(h % 500));
    }
    b->dstip[k] = ipaddr_from_v4(0xc0000000u + (uint32_t)(h % 40));
    b->nexthop[k] = (ipaddr_t){{0}};
    b->exporter[k] = ipaddr_from_v4(0x7f000001u);
    b->received[k] = 1700000000000LL + (int64_t)r * 3;
    b->start[k] = b->received[k] - (int64_t)(h % 1000);
    b->end[k] = b->start[k] + (int64_t)(h % 777);
    b->packets[k] = (int64_t)(h % 10);
    b->bytes[k] = (int64_t)(h % 100000);
    b->srcport[k] = (int64_t)(h % 65536);
    b->dstport[k] = (int64_t)((h >> 7) % 4) * 100;
    b->proto[k] = 6;
    b->tcpflags[k] = (int64_t)(h % 256);
    b->tos[k] = 0;
    b->ingress[k] = b->egress[k] = (int64_t)(h % 3);
    b->srcas[k] = b->dstas[k] = (int64_t)(h % 100000);
    b->srcmask[k] = b->dstmask[k] = (int64_t)(h % 129);
    b->vlan[k] = (int64_t)(h % 4096);
    b->direction[k] = (int64_t)(h & 1);
    b->sampling[k] = 1000;
    b->domain[k] = (int64_t)(h % 4294967296ull);
    if (r < 2) {
        int hi = (int)r;
        memset(b->srcip[k].a, hi ? 0xff : 0, 16);
        b->start[k] = b->end[k] = b->received[k] = hi ? INT64_MAX : INT64_MIN;
        b->packets[k] = b->bytes[k] = hi ? INT64_MAX : INT64_MIN;
        b->srcport[k] = b->dstport[k] = b->tcpflags[k] = b->vlan[k] =
            hi ? INT32_MAX : INT32_MIN;
        b->proto[k] = b->tos[k] = b->srcmask[k] = b->dstmask[k] =
            b->direction[k] = hi ? INT16_MAX : INT16_MIN;
        b->ingress[k] = b->egress[k] = b->srcas[k] = b->dstas[k] =
            b->sampling[k] = b->domain[k] = hi ? INT64_MAX : INT64_MIN;
    }
}

/* Write rows [first, first+n) as one or more batches. */
static void add_rows(pq_writer_t *w, uint64_t first, uint64_t n)
{
    flow_batch_t *b = flow_batch_new();
    diag_t e = {0};
    for (uint64_t r = first; r < first + n; r++) {
        flow_row(b, flow_batch_add(b), r);
        if (b->n == FLOW_BATCH_MAX || r + 1 == first + n) {
            if (pq_writer_add_batch(w, b, &e) < 0)
                fprintf(stderr, "add: %s\n", e.msg);
            flow_batch_reset(b);
        }
    }
    flow_batch_free(b);
}

typedef struct expect {
    uint64_t next;         /* row expected next */
    uint64_t mask;         /* fields read */
    int      bad;
} expect_t;

static int check_batch(void *ctx, const flow_batch_t *b)
{
    expect_t *x = ctx;
    flow_batch_t *want = flow_batch_new();
    for (uint32_t i = 0; i < b->n; i++)
        flow_row(want, flow_batch_add(want), x->next + i);
    for (int f = 0; f < F_COUNT && !x->bad; f++) {
        const field_t *fd = &schema_fields[f];
        if (fd->is_virtual)
            continue;
        size_t w = fd->type == TYPE_IP ? 16 : 8;
        const char *got = (const char *)b + fd->offset;
        const char *exp = (const char *)want + fd->offset;
        if (!(x->mask >> f & 1)) {
            static const char zero[16 * FLOW_BATCH_MAX];
            if (memcmp(got, zero, w * b->n) != 0) {
                fprintf(stderr, "field %s not asked for but not zero\n",
                        fd->name);
                x->bad = 1;
            }
            continue;
        }
        for (uint32_t i = 0; i < b->n; i++) {
            int64_t v = 0;
            if (w == 8)
                memcpy(&v, exp + i * 8, 8);
            /* narrow columns clamp; the expectation clamps alike */
            pq_column_t cols[32];
            pq_flow_columns(cols, 32);
            if (w == 8 && fd->offset != 0) {
                for (int c = 0; c < 24; c++)
                    if (!strcmp(cols[c].name, fd->name)) {
                        int64_t lo = cols[c].kind == PQ_INT16 ? INT16_MIN
                                   : cols[c].kind == PQ_INT32 ? INT32_MIN
                                   : INT64_MIN;
                        int64_t hi = cols[c].kind == PQ_INT16 ? INT16_MAX
                                   : cols[c].kind == PQ_INT32 ? INT32_MAX
                                   : INT64_MAX;
                        v = v < lo ? lo : v > hi ? hi : v;
                    }
                if (memcmp(got + i * 8, &v, 8) != 0) {
                    int64_t g;
                    memcpy(&g, got + i * 8, 8);
                    fprintf(stderr, "row %llu %s: %lld, want %lld\n",
                            (unsigned long long)(x->next + i), fd->name,
                            (long long)g, (long long)v);
                    x->bad = 1;
                    break;
                }
            } else if (memcmp(got + i * w, exp + i * w, w) != 0) {
                fprintf(stderr, "row %llu %s differs\n",
                        (unsigned long long)(x->next + i), fd->name);
                x->bad = 1;
                break;
            }
        }
    }
    x->next += b->n;
    flow_batch_free(want);
    return 0;
}

/* Read the whole file and check rows 0..rows-1 in order. */
static int check_file(const char *path, uint64_t rows, uint64_t mask)
{
    diag_t e = {0};
    pq_reader_t *r = pq_reader_open(path, &e);
    if (!r) {
        fprintf(stderr, "%s\n", e.msg);
        return -1;
    }
    expect_t x = {.mask = mask};
    for (size_t g = 0; g < pq_reader_nrowgroups(r); g++)
        if (pq_reader_read(r, g, mask, check_batch, &x, &e) < 0) {
            fprintf(stderr, "%s\n", e.msg);
            x.bad = 1;
        }
    pq_reader_close(r);
    if (x.next != rows)
        fprintf(stderr, "%s: %llu rows, want %llu\n", path,
                (unsigned long long)x.next, (unsigned long long)rows);
    return x.bad || x.next != rows ? -1 : 0;
}

static pq_writer_t *flow_writer(const char *path, int sync)
{
    pq_column_t cols[32];
    size_t n = pq_flow_columns(cols, 32);
    pq_writer_opts_t o = {.no_sync = !sync};
    diag_t e = {0};
    pq_writer_t *w = pq_writer_open(path, cols, n, &o, &e);
    if (!w)
        fprintf(stderr, "%s\n", e.msg);
    return w;
}

static void test_flow_roundtrip(void)
{
    char *path = tpath("flows.parquet");
    pq_writer_t *w = flow_writer(path, 0);
    diag_t e = {0};
    uint64_t rows = 0;
    /* row groups of odd sizes, some over a page (65536) */
    static const uint64_t sizes[] = {1, 2047, 2049, 70000, 5, 131072};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        add_rows(w, rows, sizes[i]);
        rows += sizes[i];
        CHECK_INT(pq_writer_flush(w, &e), 0);
    }
    CHECK_INT(pq_writer_flush(w, &e), 0);        /* nothing pending: no-op */
    pq_writer_stats_t st;
    pq_writer_stats(w, &st);
    CHECK_INT(st.row_groups, 6);
    CHECK_INT(st.rows, rows);
    CHECK_INT(st.clamped, 0);
    CHECK_INT(pq_writer_close(w, &e), 0);
    CHECK(exists(path));
    CHECK(!exists(tpath("flows.parquet.open")));
    CHECK(!exists(tpath("flows.parquet.journal")));
    CHECK_INT(check_file(path, rows, ~0ull), 0);
    /* only srcip and bytes: the rest stays zero */
    CHECK_INT(check_file(path, rows, 1ull << F_SRCIP | 1ull << F_BYTES), 0);

    /* the dictionary, delta and plain paths were all taken */
    size_t n;
    uint8_t *p = slurp(path, &n);
    uint32_t flen = rd_u32le(p + n - 8);
    arena_t *a = arena_new();
    pqm_file_t m;
    CHECK_INT(pqm_read_file(p + n - 8 - flen, flen, a, &m, &e), 0);
    uint32_t encs = 0;
    int blooms = 0;
    for (uint32_t g = 0; g < m.nrgs; g++)
        for (uint32_t c = 0; c < m.rgs[g].ncols; c++) {
            encs |= m.rgs[g].cols[c].meta.encodings;
            blooms += m.rgs[g].cols[c].meta.has_bloom;
        }
    CHECK(encs & 1u << PE_RLE_DICTIONARY);
    CHECK(encs & 1u << PE_DELTA_BINARY_PACKED);
    CHECK(encs & 1u << PE_PLAIN);
    CHECK_INT(blooms, 2 * 6);                  /* srcip and dstip */
    arena_free(a);
    free(p);

    /* statistics and bloom filters through the reader */
    pq_reader_t *r = pq_reader_open(path, &e);
    CHECK(r != NULL);
    value_t lo, hi;
    int c = pq_reader_find(r, "received");
    CHECK_INT(pq_reader_minmax(r, 0, (size_t)c, &lo, &hi), 1);
    CHECK_INT(lo.i, INT64_MIN);
    CHECK_INT(pq_reader_minmax(r, 2, (size_t)c, &lo, &hi), 1);
    CHECK_INT(lo.i, 1700000000000LL + 2048 * 3);
    CHECK_INT(hi.i, 1700000000000LL + (2048 + 2049 - 1) * 3);
    int s = pq_reader_find(r, "srcip");
    CHECK_INT(pq_reader_minmax(r, 1, (size_t)s, &lo, &hi), 1);
    CHECK(ipaddr_cmp(&lo.ip, &hi.ip) < 0);
    /* every address of row group 3 is found in its filter; absent ones
     * mostly are not */
    flow_batch_t *b = flow_batch_new();
    int missing = 0, fp = 0;
    for (uint64_t i = 0; i < 70000; i += 7) {
        flow_batch_reset(b);
        flow_row(b, flow_batch_add(b), 4097 + i);
        value_t v = {.ip = b->srcip[0]};
        missing += !pq_reader_bloom(r, 3, (size_t)s, &v);
        v.ip = ipaddr_from_v4(0x0b000000u + (uint32_t)i);
        fp += pq_reader_bloom(r, 3, (size_t)s, &v);
    }
    CHECK_INT(missing, 0);
    CHECK(fp < 10000 * 5 / 100);
    flow_batch_free(b);
    CHECK_INT(pq_reader_nrows(r), rows);
    pq_reader_close(r);
}

/* ---- sorted row groups and the page index -------------------------------- */

typedef struct grab {
    ipaddr_t ip[4000];
    int64_t  id[4000];
    size_t   n;
} grab_t;

static int grab_rows(void *ctx, const flow_batch_t *b)
{
    grab_t *g = ctx;
    for (uint32_t i = 0; i < b->n && g->n < 4000; i++, g->n++) {
        g->ip[g->n] = b->srcip[i];
        g->id[g->n] = b->bytes[i];
    }
    return 0;
}

/* Row groups sorted by srcip (ids in bytes survive the sort, each row
 * whole), the page index right (pages of 100 rows: the offset index of
 * every column, the bounds of srcip's pages, none for the others), and
 * a read of two row ranges equal to the same rows of a full read while
 * reading fewer bytes; the open file's journal has the index too. */
static void test_page_index(void)
{
    char *path = tpath("sorted.parquet");
    pq_column_t cols[32];
    size_t nc = pq_flow_columns(cols, 32);
    pq_writer_opts_t o = {.no_sync = 1, .page_rows = 100, .sort_by = "srcip"};
    diag_t e = {0};
    pq_writer_t *w = pq_writer_open(path, cols, nc, &o, &e);
    CHECK(w != NULL);
    if (!w)
        return;
    flow_batch_t *b = flow_batch_new();
    for (int g = 0; g < 3; g++) {
        for (int i = 0; i < 1000; i++) {
            if (b->n == FLOW_BATCH_MAX) {
                CHECK_INT(pq_writer_add_batch(w, b, &e), 0);
                flow_batch_reset(b);
            }
            uint32_t k = flow_batch_add(b);
            uint64_t x = rnd() % 50;
            b->srcip[k] = x < 45 ? ipaddr_from_v4(0x0a000000u + (uint32_t)x * 77)
                                 : (ipaddr_t){{0x20, 0x01, 0x0d, 0xb8, [15] = (uint8_t)x}};
            b->bytes[k] = g * 1000 + i;
            b->received[k] = 1767225600000 + i;
        }
        CHECK_INT(pq_writer_add_batch(w, b, &e), 0);
        flow_batch_reset(b);
        CHECK_INT(pq_writer_flush(w, &e), 0);
        if (g == 0) {           /* the open file: index from the journal */
            pq_reader_t *r = pq_reader_open(tpath("sorted.parquet.open"), &e);
            CHECK(r != NULL);
            if (r) {
                const value_t *mins = NULL;
                CHECK_INT(pq_reader_pages(r, 0, 0, NULL, &mins, NULL), 10);
                CHECK(mins != NULL);
                pq_reader_close(r);
            }
        }
    }
    flow_batch_free(b);
    CHECK_INT(pq_writer_close(w, &e), 0);

    pq_reader_t *r = pq_reader_open(path, &e);
    CHECK(r != NULL);
    if (!r)
        return;
    int ci = pq_reader_find(r, "srcip"), cb = pq_reader_find(r, "bytes");
    uint64_t mask = 1ull << F_SRCIP | 1ull << F_BYTES;
    static grab_t all, part;
    for (size_t g = 0; g < 3; g++) {
        all.n = 0;
        uint64_t before = pq_reader_bytes_read(r);
        CHECK_INT(pq_reader_read(r, g, mask, grab_rows, &all, &e), 0);
        uint64_t whole = pq_reader_bytes_read(r) - before;
        CHECK_INT(all.n, 1000);
        int sorted = 1, ids = 1;
        static uint8_t seen[1000];
        memset(seen, 0, sizeof(seen));
        for (size_t i = 0; i < all.n; i++) {
            if (i && ipaddr_cmp(&all.ip[i - 1], &all.ip[i]) > 0)
                sorted = 0;
            int64_t id = all.id[i] - (int64_t)g * 1000;
            if (id < 0 || id >= 1000 || seen[id]++)
                ids = 0;
        }
        CHECK(sorted);
        CHECK(ids);
        /* pages: 10 of 100 rows; srcip's bounds are its first and last */
        const int64_t *first;
        const value_t *mins, *maxs;
        CHECK_INT(pq_reader_pages(r, g, (size_t)ci, &first, &mins, &maxs), 10);
        CHECK(mins != NULL && maxs != NULL);
        for (int p = 0; p < 10 && mins; p++) {
            CHECK_INT(first[p], p * 100);
            CHECK(ipaddr_eq(&mins[p].ip, &all.ip[first[p]]));
            CHECK(ipaddr_eq(&maxs[p].ip, &all.ip[first[p + 1] - 1]));
        }
        CHECK_INT(first[10], 1000);
        CHECK_INT(pq_reader_pages(r, g, (size_t)cb, NULL, &mins, NULL), 10);
        CHECK(mins == NULL);
        /* two ranges: the same rows, fewer bytes */
        pq_rows_t sel[2] = {{150, 260}, {700, 701}};
        part.n = 0;
        before = pq_reader_bytes_read(r);
        CHECK_INT(pq_reader_read_sel(r, g, mask, sel, 2, grab_rows, &part, &e),
                  0);
        uint64_t some = pq_reader_bytes_read(r) - before;
        CHECK_INT(part.n, 111);
        int same = part.n == 111;
        for (size_t i = 0; same && i < 110; i++)
            same = ipaddr_eq(&part.ip[i], &all.ip[150 + i]) &&
                   part.id[i] == all.id[150 + i];
        same = same && part.id[110] == all.id[700];
        CHECK(same);
        CHECK(some < whole / 2);
        /* out of order or range: an error */
        pq_rows_t bad[2] = {{300, 400}, {100, 200}};
        CHECK_INT(pq_reader_read_sel(r, g, mask, bad, 2, grab_rows, &part,
                                     &e), -1);
    }
    pq_reader_close(r);
    /* an unknown or unsortable column is refused */
    pq_writer_opts_t o2 = {.sort_by = "nosuch"};
    diag_clear(&e);
    CHECK(pq_writer_open(tpath("bad.parquet"), cols, nc, &o2, &e) == NULL);
    CHECK(strstr(e.msg, "no such column") != NULL);
    pq_column_t text[2] = {{"name", PQ_STRING, 0}, {"n", PQ_INT64, 0}};
    o2.sort_by = "name";
    diag_clear(&e);
    CHECK(pq_writer_open(tpath("bad.parquet"), text, 2, &o2, &e) == NULL);
    CHECK(strstr(e.msg, "not an integer or address column") != NULL);
    CHECK(access(tpath("bad.parquet.open"), F_OK) < 0);
}

/* Values out of a narrow column's range are clamped and counted. */
static void test_clamp(void)
{
    char *path = tpath("clamp.parquet");
    pq_writer_t *w = flow_writer(path, 0);
    flow_batch_t *b = flow_batch_new();
    int k = flow_batch_add(b);
    b->proto[k] = 300;             /* INT16: fits */
    b->tcpflags[k] = 70000;        /* INT32: fits */
    b->vlan[k] = 1ll << 40;        /* INT32: clamped */
    b->tos[k] = -40000;            /* INT16: clamped */
    diag_t e = {0};
    CHECK_INT(pq_writer_add_batch(w, b, &e), 0);
    pq_writer_stats_t st;
    pq_writer_stats(w, &st);
    CHECK_INT(st.clamped, 2);
    CHECK_INT(pq_writer_close(w, &e), 0);
    pq_reader_t *r = pq_reader_open(path, &e);
    value_t lo, hi;
    CHECK_INT(pq_reader_minmax(r, 0, (size_t)pq_reader_find(r, "vlan"), &lo,
                               &hi), 1);
    CHECK_INT(lo.i, INT32_MAX);
    CHECK_INT(pq_reader_minmax(r, 0, (size_t)pq_reader_find(r, "tos"), &lo,
                               &hi), 1);
    CHECK_INT(lo.i, INT16_MIN);
    CHECK_INT(pq_reader_minmax(r, 0, (size_t)pq_reader_find(r, "tcpflags"),
                               &lo, &hi), 1);
    CHECK_INT(lo.i, 70000);
    pq_reader_close(r);
    flow_batch_free(b);
}

/* ---- every kind, as generic rows ---------------------------------------- */

static const pq_column_t kcols[] = {
    {"b", PQ_BOOL, 0}, {"i8", PQ_INT8, 0}, {"i16", PQ_INT16, 0},
    {"i32", PQ_INT32, PQ_COL_BLOOM}, {"i64", PQ_INT64, 0},
    {"t", PQ_TIME_MS, 0}, {"d", PQ_DOUBLE, 0},
    {"s", PQ_STRING, PQ_COL_BLOOM}, {"ip", PQ_IP, 0},
};
#define NK 9

static void kind_row(value_t *v, uint64_t r, char *buf, size_t size)
{
    static const double d[] = {0.0, -0.0, 1e-300, -1e300, 1.0 / 0.0, 2.5};
    v[0].i = (int64_t)(r % 3 == 0);
    v[1].i = r == 0 ? INT8_MIN : r == 1 ? INT8_MAX : (int64_t)(r % 7);
    v[2].i = r == 0 ? INT16_MIN : r == 1 ? INT16_MAX : (int64_t)(r % 300);
    v[3].i = r == 0 ? INT32_MIN : r == 1 ? INT32_MAX : (int64_t)(r * 977);
    v[4].i = r == 0 ? INT64_MIN : r == 1 ? INT64_MAX : -(int64_t)r;
    v[5].i = r == 0 ? INT64_MIN : r == 1 ? INT64_MAX
           : 1700000000000LL + (int64_t)r;
    v[6].f = r == 2 ? NAN : d[r % 6];
    if (r % 4 == 0)
        snprintf(buf, size, "row %llu, \"quoted\"", (unsigned long long)r);
    else
        snprintf(buf, size, "%s", r % 4 == 1 ? "" : r % 4 == 2 ? "dns"
                                 : "\xc3\xa9t\xc3\xa9");
    v[7].s = buf;
    v[8].ip = ipaddr_from_v4((uint32_t)(r % 11));
}

typedef struct kexp {
    uint64_t next;
    int bad;
} kexp_t;

static int check_rows(void *ctx, const value_t *rows, size_t n)
{
    kexp_t *x = ctx;
    char buf[64];
    value_t want[NK];
    for (size_t i = 0; i < n && !x->bad; i++, x->next++) {
        kind_row(want, x->next, buf, sizeof(buf));
        const value_t *got = rows + i * NK;
        for (int c = 0; c < NK; c++) {
            int same;
            switch (kcols[c].kind) {
            case PQ_DOUBLE:
                same = memcmp(&got[c].f, &want[c].f, 8) == 0;
                break;
            case PQ_STRING: same = !strcmp(got[c].s, want[c].s); break;
            case PQ_IP: same = ipaddr_eq(&got[c].ip, &want[c].ip); break;
            default: same = got[c].i == want[c].i;
            }
            if (!same) {
                fprintf(stderr, "row %llu column %s differs\n",
                        (unsigned long long)x->next, kcols[c].name);
                x->bad = 1;
            }
        }
    }
    return 0;
}

static void test_kinds_roundtrip(void)
{
    char *path = tpath("kinds.parquet");
    diag_t e = {0};
    pq_kv_t kv[] = {{"flowsql.test", "yes"}, {"empty", NULL}};
    pq_writer_opts_t o = {.no_sync = 1, .kv = kv, .nkv = 2};
    pq_writer_t *w = pq_writer_open(path, kcols, NK, &o, &e);
    CHECK(w != NULL);
    char buf[64];
    value_t row[NK];
    uint64_t rows = 0;
    for (int g = 0; g < 3; g++) {
        for (int i = 0; i < 5000 + g * 3000; i++, rows++) {
            kind_row(row, rows, buf, sizeof(buf));
            CHECK_INT(pq_writer_add_rows(w, row, 1, &e), 0);
        }
        CHECK_INT(pq_writer_pending(w), 5000 + g * 3000);
        CHECK_INT(pq_writer_flush(w, &e), 0);
    }
    CHECK_INT(pq_writer_close(w, &e), 0);
    pq_reader_t *r = pq_reader_open(path, &e);
    CHECK(r != NULL);
    if (!r)
        return;
    CHECK_STR(pq_reader_kv(r, "flowsql.test"), "yes");
    CHECK(pq_reader_kv(r, "nope") == NULL);
    CHECK_INT(pq_reader_ncols(r), NK);
    for (int c = 0; c < NK; c++)
        CHECK_INT(pq_reader_col(r, (size_t)c)->kind, kcols[c].kind);
    int cols[NK];
    for (int c = 0; c < NK; c++)
        cols[c] = c;
    kexp_t x = {0};
    for (size_t g = 0; g < pq_reader_nrowgroups(r); g++)
        CHECK_INT(pq_reader_read_rows(r, g, cols, NK, check_rows, &x, &e), 0);
    CHECK_INT(x.bad, 0);
    CHECK_INT(x.next, rows);
    value_t lo, hi;
    CHECK_INT(pq_reader_minmax(r, 0, 6, &lo, &hi), 1);   /* NaN left out */
    CHECK(lo.f == -1e300 && isinf(hi.f));
    CHECK_INT(pq_reader_minmax(r, 0, 7, &lo, &hi), 1);
    CHECK_STR(lo.s, "");
    CHECK_STR(hi.s, "\xc3\xa9t\xc3\xa9");
    value_t v = {.s = "dns"};
    CHECK_INT(pq_reader_bloom(r, 1, 7, &v), 1);
    v.i = 977 * 5001;
    CHECK_INT(pq_reader_bloom(r, 1, 3, &v), 1);
    pq_reader_close(r);
}

static void test_writer_errors(void)
{
    diag_t e = {0};
    pq_column_t dup[] = {{"a", PQ_INT64, 0}, {"a", PQ_INT32, 0}};
    CHECK(pq_writer_open(tpath("dup.parquet"), dup, 2, NULL, &e) == NULL);
    CHECK_STR(e.msg, "parquet: two columns named a");
    CHECK(!exists(tpath("dup.parquet.open")));
    diag_clear(&e);
    CHECK(pq_writer_open(tpath("none.parquet"), dup, 0, NULL, &e) == NULL);
    /* an .open file left behind is not overwritten */
    pq_writer_t *w = flow_writer(tpath("twice.parquet"), 0);
    diag_clear(&e);
    CHECK(pq_writer_open(tpath("twice.parquet"), dup, 1, NULL, &e) == NULL);
    CHECK(strstr(e.msg, "twice.parquet.open: File exists") != NULL);
    pq_writer_abandon(w);
    /* a finished file is never replaced */
    w = flow_writer(tpath("done.parquet"), 0);
    CHECK_INT(pq_writer_close(w, &e), 0);
    diag_clear(&e);
    CHECK(pq_writer_open(tpath("done.parquet"), dup, 1, NULL, &e) == NULL);
    CHECK(strstr(e.msg, "done.parquet: File exists") != NULL);
    CHECK(!exists(tpath("done.parquet.open")));
    /* flows into a writer whose columns are not flow fields */
    w = pq_writer_open(tpath("gen.parquet"), kcols, NK, NULL, &e);
    flow_batch_t *b = flow_batch_new();
    flow_batch_add(b);
    diag_clear(&e);
    CHECK_INT(pq_writer_add_batch(w, b, &e), -1);
    CHECK_STR(e.msg, "parquet: column b (bool) is not a flow field of that "
                     "type");
    pq_writer_abandon(w);
    flow_batch_free(b);
}

/* ---- an open file, the journal, recovery -------------------------------- */

static void test_read_open_file(void)
{
    char *path = tpath("live.parquet");
    char *open_path = tpath("live.parquet.open");
    pq_writer_t *w = flow_writer(path, 1);
    diag_t e = {0};
    pq_reader_t *r = pq_reader_open(open_path, &e);
    CHECK(r != NULL);                         /* schema, no row group yet */
    if (r) {
        CHECK_INT(pq_reader_nrowgroups(r), 0);
        CHECK_INT(pq_reader_ncols(r), 24);
        pq_reader_close(r);
    }
    add_rows(w, 0, 3000);
    CHECK_INT(pq_writer_flush(w, &e), 0);
    add_rows(w, 3000, 1000);
    CHECK_INT(pq_writer_flush(w, &e), 0);
    add_rows(w, 4000, 500);                   /* pending: not visible */
    CHECK_INT(check_file(open_path, 4000, ~0ull), 0);
    CHECK_INT(pq_writer_close(w, &e), 0);
    CHECK_INT(check_file(path, 4500, ~0ull), 0);
}

/* Abandon a writer after k row groups, as a crash would leave it. */
static void crash_after(const char *path, int k, uint64_t rows_per)
{
    pq_writer_t *w = flow_writer(path, 0);
    diag_t e = {0};
    for (int g = 0; g < k; g++) {
        add_rows(w, (uint64_t)g * rows_per, rows_per);
        pq_writer_flush(w, &e);
    }
    add_rows(w, (uint64_t)k * rows_per, 100);   /* pending, lost */
    pq_writer_abandon(w);
}

static void test_recover(void)
{
    char *path = tpath("rec.parquet");
    diag_t e = {0};
    uint64_t kept = 99;
    crash_after(path, 3, 1000);
    CHECK_INT(pq_recover(path, &kept, &e), 0);
    CHECK_INT(kept, 3);
    CHECK(!exists(tpath("rec.parquet.open")));
    CHECK(!exists(tpath("rec.parquet.journal")));
    CHECK_INT(check_file(path, 3000, ~0ull), 0);
    unlink(path);

    /* nothing flushed: both files go */
    crash_after(path, 0, 1000);
    CHECK_INT(pq_recover(path, &kept, &e), 0);
    CHECK_INT(kept, 0);
    CHECK(!exists(tpath("rec.parquet.open")));
    CHECK(!exists(path));

    /* no .open at all */
    diag_clear(&e);
    CHECK_INT(pq_recover(path, &kept, &e), -1);
    CHECK(strstr(e.msg, "rec.parquet.open: No such file") != NULL);

    /* torn writes: the data file cut inside row group 3, or the journal
     * cut inside its record: whole row groups survive */
    for (int cut = 0; cut < 2; cut++) {
        crash_after(path, 3, 1000);
        char *op = tpath("rec.parquet.open"), *jp = tpath("rec.parquet.journal");
        struct stat st;
        if (cut == 0) {
            stat(op, &st);
            CHECK_INT(truncate(op, st.st_size - 100), 0);
        } else {
            stat(jp, &st);
            CHECK_INT(truncate(jp, st.st_size - 5), 0);
        }
        CHECK_INT(pq_recover(path, &kept, &e), 0);
        CHECK_INT(kept, 2);
        CHECK_INT(check_file(path, 2000, ~0ull), 0);
        unlink(path);
    }
    /* a flipped byte in a journal record ends the journal there */
    crash_after(path, 3, 1000);
    {
        size_t n;
        char *jp = tpath("rec.parquet.journal");
        uint8_t *j = slurp(jp, &n);
        /* the third record (row group 2) starts after the schema and two */
        size_t pos = 4;
        for (int rec = 0; rec < 3; rec++)
            pos += 8 + rd_u32le(j + pos);
        j[pos + 20] ^= 0x40;
        FILE *f = fopen(jp, "wb");
        fwrite(j, 1, n, f);
        fclose(f);
        free(j);
    }
    CHECK_INT(pq_recover(path, &kept, &e), 0);
    CHECK_INT(kept, 2);
    CHECK_INT(check_file(path, 2000, ~0ull), 0);
    unlink(path);
}

/* A child writes row groups of 2000 flows, reporting each flush on a
 * pipe; the parent kills it with SIGKILL, recovers, and finds every row
 * group reported (and maybe the one in flight), each whole. `between`:
 * the kill comes right after a report (between row groups); else at a
 * random moment (inside a row group's encode or write, or its journal
 * record). */
static void crash_round(int between, int round)
{
    char name[64];
    snprintf(name, sizeof(name), "kill%d-%d.parquet", between, round);
    char *path = tpath(name);
    uint32_t want = 1 + (uint32_t)round % 4;
    useconds_t delay = (useconds_t)(rnd() % 40000);
    int fds[2];
    if (pipe(fds) < 0)
        return;
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        pq_writer_t *w = flow_writer(path, 0);
        diag_t e = {0};
        for (uint32_t done = 1;; done++) {
            add_rows(w, (uint64_t)(done - 1) * 2000, 2000);
            if (pq_writer_flush(w, &e) < 0)
                _exit(3);
            if (write(fds[1], &done, 4) != 4)
                _exit(4);
            if (between && done == want)
                pause();               /* killed here */
        }
    }
    close(fds[1]);
    uint32_t reported = 0, v;
    if (between) {
        while (reported < want && read(fds[0], &v, 4) == 4)
            reported = v;
    } else {
        usleep(delay);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    while (read(fds[0], &v, 4) == 4)
        reported = v;
    close(fds[0]);
    diag_t e = {0};
    uint64_t kept = 0;
    char open_path[160];
    snprintf(open_path, sizeof(open_path), "%s.open", path);
    if (!exists(open_path)) {          /* killed before it made the file */
        CHECK(!between && reported == 0);
        return;
    }
    if (pq_recover(path, &kept, &e) < 0) {
        fprintf(stderr, "recover: %s\n", e.msg);
        CHECK(0);
    }
    if (between)
        CHECK_INT(kept, want);
    else
        CHECK(kept >= reported && kept <= (uint64_t)reported + 1);
    if (kept)
        CHECK_INT(check_file(path, kept * 2000, ~0ull), 0);
    unlink(path);
}

static void test_crash_kill9(void)
{
    for (int i = 0; i < 3; i++)
        crash_round(1, i);
    for (int i = 0; i < 12; i++)
        crash_round(0, i);
}

/* ---- hostile files ------------------------------------------------------ */

static int drain(void *ctx, const flow_batch_t *b)
{
    (void)ctx;
    (void)b;
    return 0;
}

static int drain_rows(void *ctx, const value_t *v, size_t n)
{
    (void)ctx;
    (void)v;
    (void)n;
    return 0;
}

/* Open and read everything; 0 if it all went through, -1 at an error. */
static int read_all(const uint8_t *p, size_t n, diag_t *e)
{
    pq_reader_t *r = pq_reader_open_mem(p, n, e);
    if (!r)
        return -1;
    int rc = 0;
    int cols[PQ_MAX_COLUMNS];
    size_t nc = pq_reader_ncols(r);
    for (size_t c = 0; c < nc; c++)
        cols[c] = (int)c;
    for (size_t g = 0; g < pq_reader_nrowgroups(r); g++) {
        if (pq_reader_rg_rows(r, g) > 1000000)
            continue;
        for (size_t c = 0; c < nc; c++) {
            value_t lo, hi;
            pq_reader_minmax(r, g, c, &lo, &hi);
            value_t v = {0};
            pq_reader_bloom(r, g, c, &v);
        }
        if (pq_reader_read(r, g, ~0ull, drain, NULL, e) < 0 ||
            pq_reader_read_rows(r, g, cols, nc, drain_rows, NULL, e) < 0)
            rc = -1;
    }
    pq_reader_close(r);
    return rc;
}

static void test_hostile(void)
{
    char *path = tpath("small.parquet");
    pq_writer_t *w = flow_writer(path, 0);
    diag_t e = {0};
    add_rows(w, 0, 300);
    pq_writer_flush(w, &e);
    add_rows(w, 300, 200);
    pq_writer_close(w, &e);
    size_t n;
    uint8_t *good = slurp(path, &n);
    CHECK_INT(read_all(good, n, &e), 0);
    uint8_t *p = xmalloc(n);

    /* truncated anywhere: a clean error */
    int errs = 0;
    for (size_t len = 0; len < n; len += 1 + len / 64) {
        diag_clear(&e);
        errs += read_all(good, len, &e) < 0 && e.set;
    }
    int tries = 0;
    for (size_t len = 0; len < n; len += 1 + len / 64)
        tries++;
    CHECK_INT(errs, tries);

    /* flipped bytes: never a crash (most give an error) */
    for (int i = 0; i < 3000; i++) {
        memcpy(p, good, n);
        int flips = 1 + (int)(rnd() % 4);
        for (int k = 0; k < flips; k++)
            p[rnd() % n] ^= (uint8_t)(1u << (rnd() % 8));
        read_all(p, n, &e);
    }

    /* lying lengths */
    memcpy(p, good, n);
    wr_u32le(p + n - 8, 0x7ffffff0);
    diag_clear(&e);
    CHECK_INT(read_all(p, n, &e), -1);
    CHECK(strstr(e.msg, "footer length 2147483632 does not fit the file"));
    memcpy(p, good, n);
    memcpy(p + n - 4, "PAR2", 4);
    diag_clear(&e);
    CHECK_INT(read_all(p, n, &e), -1);
    CHECK(strstr(e.msg, "not a Parquet file"));
    /* the first page header's compressed size: huge */
    memcpy(p, good, n);
    pqm_page_t pg;
    size_t used;
    CHECK_INT(pqm_read_page(p + 4, n - 4, &pg, &used, &e), 0);
    pg.csize = 0x7fffffff;
    tw_t t;
    tw_init(&t);
    pqm_write_page(&t, &pg);
    if (t.len == used) {
        memcpy(p + 4, t.buf, t.len);
        diag_clear(&e);
        CHECK_INT(read_all(p, n, &e), -1);
        CHECK(strstr(e.msg, "column srcip, row group 0: page size out of "
                            "bounds"));
    }
    tw_free(&t);

    /* by path: a truncated file, a FIFO, a symlink */
    char *cut = tpath("cut.parquet");
    FILE *f = fopen(cut, "wb");
    fwrite(good, 1, n / 2, f);
    fclose(f);
    diag_clear(&e);
    CHECK(pq_reader_open(cut, &e) == NULL);
    CHECK(strstr(e.msg, "cut.parquet: not a Parquet file (no PAR1 magic)"));
    char *fifo = tpath("fifo.parquet");
    CHECK_INT(mkfifo(fifo, 0600), 0);
    diag_clear(&e);
    CHECK(pq_reader_open(fifo, &e) == NULL);
    CHECK(strstr(e.msg, "not a regular file"));
    char *link = tpath("link.parquet");
    CHECK_INT(symlink(path, link), 0);
    diag_clear(&e);
    CHECK(pq_reader_open(link, &e) == NULL);
    /* a chunk that claims to reach past the end of the file */
    f = fopen(cut, "wb");
    fwrite(good, 1, n, f);
    fclose(f);
    pq_reader_t *r = pq_reader_open(cut, &e);
    CHECK(r != NULL);
    if (r) {
        pq_reader_close(r);
        /* rewrite the footer with srcip's chunk 1 MiB long */
        uint32_t flen = rd_u32le(good + n - 8);
        arena_t *a = arena_new();
        pqm_file_t m;
        CHECK_INT(pqm_read_file(good + n - 8 - flen, flen, a, &m, &e), 0);
        m.rgs[0].cols[0].meta.total_compressed_size = 1 << 20;
        m.column_orders = 1;
        tw_t ft;
        tw_init(&ft);
        pqm_write_file(&ft, &m);
        uint8_t tail[8];
        wr_u32le(tail, (uint32_t)ft.len);
        memcpy(tail + 4, "PAR1", 4);
        f = fopen(cut, "wb");
        fwrite(good, 1, n - 8 - flen, f);
        fwrite(ft.buf, 1, ft.len, f);
        fwrite(tail, 1, 8, f);
        fclose(f);
        tw_free(&ft);
        arena_free(a);
        r = pq_reader_open(cut, &e);
        CHECK(r != NULL);
        diag_clear(&e);
        if (r)
            CHECK_INT(pq_reader_read(r, 0, ~0ull, drain, NULL, &e), -1);
        CHECK_STR(e.msg, "column srcip, row group 0: chunk does not lie in "
                         "the file");
        pq_reader_close(r);
    }
    free(p);
    free(good);
}

int main(void)
{
    snprintf(dir, sizeof(dir), "/tmp/flowsql-pq.XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    RUN(test_thrift_roundtrip);
    RUN(test_thrift_unknown_fields);
    RUN(test_thrift_hostile);
    RUN(test_bitpack);
    RUN(test_hybrid);
    RUN(test_delta);
    RUN(test_bloom);
    RUN(test_flow_roundtrip);
    RUN(test_clamp);
    RUN(test_page_index);
    RUN(test_kinds_roundtrip);
    RUN(test_writer_errors);
    RUN(test_read_open_file);
    RUN(test_recover);
    RUN(test_crash_kill9);
    RUN(test_hostile);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        return 1;
    TEST_EXIT();
}
