/*
 * pqtool - write and dump Parquet files with archive/parquet.c, for the
 * end-to-end tests that hold our files against pyarrow and DuckDB.
 *
 *   pqtool gen-flows OUT ROWS RGROWS SEED   flows with edge values
 *   pqtool gen-open OUT ROWS RGROWS SEED    the same, left open (a crash)
 *   pqtool gen-sorted OUT ROWS RGROWS SEED [PAGEROWS]
 *                                           the same in the archive's
 *                                           layout: sorted by srcip, page
 *                                           index, pages of PAGEROWS rows
 *                                           (1000)
 *   pqtool gen-types OUT ROWS RGROWS        one column of every kind
 *   pqtool dump FILE                        all columns as CSV (generic)
 *   pqtool flows FILE                       the flow fields as CSV
 *   pqtool meta FILE                        row groups, min/max per chunk
 *   pqtool types FILE                       name and kind per column
 *   pqtool bloom FILE COLUMN HEX|TEXT       per row group: 0 absent, 1 maybe
 *   pqtool recover FILE                     pq_recover, prints row groups kept
 *
 * CSV: integers and times (ms) in decimal, doubles "%.17g", strings
 * quoted ("" for "), addresses as 32 hex digits, bools 0/1. The Python
 * side (tests/e2e/parquet_readers.py) prints the same for a comparison.
 */
#include "archive/parquet.h"
#include "engine/schema.h"
#include "util/arena.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng = 1;

static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void die(const char *what, const diag_t *e)
{
    fprintf(stderr, "pqtool: %s: %s\n", what, e->msg);
    exit(1);
}

static ipaddr_t some_ip(uint64_t i)
{
    static const ipaddr_t edge[] = {
        {{0}},
        {{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
          0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
        {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0}},
        {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 255, 255, 255, 255}},
        {{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}},
    };
    if (i < 5)
        return edge[i];
    uint64_t r = rnd();
    if (r % 10 == 0) {
        ipaddr_t ip = {{0x20, 0x01, 0x0d, 0xb8}};
        for (int k = 8; k < 16; k++)
            ip.a[k] = (uint8_t)(rnd() % 4);
        return ip;
    }
    return ipaddr_from_v4(0x0a000000u + (uint32_t)(r % 3000));
}

/* Flows: the first rows carry every column's extremes, the rest look
 * like traffic (repeating addresses and ports: the dictionary path;
 * ascending times: the delta path). */
static void gen_flows(const char *out, long rows, long rgrows, uint64_t seed,
                      int abandon, int page_rows)
{
    pq_column_t cols[64];
    size_t nc = pq_flow_columns(cols, 64);
    diag_t e = {0};
    rng = seed ? seed : 1;
    pq_writer_opts_t o = {.sort_by = "srcip", .page_rows = page_rows};
    pq_writer_t *w = pq_writer_open(out, cols, nc, page_rows ? &o : NULL,
                                    &e);
    if (!w)
        die(out, &e);
    flow_batch_t *b = flow_batch_new();
    int64_t t = 1700000000000LL;
    for (long i = 0; i < rows; i++) {
        int k = flow_batch_add(b);
        uint64_t r = rnd();
        b->srcip[k] = some_ip((uint64_t)i);
        b->dstip[k] = some_ip(i < 5 ? 4 - (uint64_t)i : 100);
        b->nexthop[k] = ipaddr_from_v4(0xc0a80001u + (uint32_t)(r % 3));
        b->exporter[k] = ipaddr_from_v4(0x7f000001u);
        t += (int64_t)(rnd() % 3);
        b->received[k] = t;
        b->start[k] = t - (int64_t)(rnd() % 60000);
        b->end[k] = b->start[k] + (int64_t)(rnd() % 30000);
        b->packets[k] = 1 + (int64_t)(rnd() % 50);
        b->bytes[k] = b->packets[k] * (40 + (int64_t)(rnd() % 1460));
        b->srcport[k] = 1024 + (int64_t)(rnd() % 64000);
        b->dstport[k] = (int64_t[]){443, 80, 53, 22, 25}[rnd() % 5];
        b->proto[k] = (int64_t[]){6, 17, 1}[rnd() % 3];
        b->tcpflags[k] = (int64_t)(rnd() % 64);
        b->tos[k] = (int64_t)(rnd() % 4) * 8;
        b->ingress[k] = 1 + (int64_t)(rnd() % 4);
        b->egress[k] = 1 + (int64_t)(rnd() % 4);
        b->srcas[k] = (int64_t)(rnd() % 70000);
        b->dstas[k] = 15169;
        b->srcmask[k] = 24;
        b->dstmask[k] = (int64_t)(rnd() % 129);
        b->vlan[k] = (int64_t)(rnd() % 4096);
        b->direction[k] = (int64_t)(rnd() % 2);
        b->sampling[k] = 1;
        b->domain[k] = 7;
        if (i == 0 || i == 1) {          /* extremes, both ways */
            int hi = i == 1;
            b->received[k] = b->start[k] = b->end[k] = hi ? 4102444800000LL
                                                         : -86400000LL;
            b->packets[k] = b->bytes[k] = hi ? INT64_MAX : INT64_MIN;
            b->srcport[k] = b->dstport[k] = b->vlan[k] = b->tcpflags[k] =
                hi ? 65535 : 0;
            b->proto[k] = b->tos[k] = b->direction[k] = hi ? 255 : 0;
            b->srcmask[k] = b->dstmask[k] = hi ? 128 : 0;
            b->ingress[k] = b->egress[k] = b->srcas[k] = b->dstas[k] =
                b->sampling[k] = b->domain[k] = hi ? 4294967295LL : 0;
        }
        if (b->n == FLOW_BATCH_MAX || i + 1 == rows ||
            (rgrows && (i + 1) % rgrows == 0)) {
            if (pq_writer_add_batch(w, b, &e) < 0)
                die("add", &e);
            flow_batch_reset(b);
        }
        if (rgrows && (i + 1) % rgrows == 0 && pq_writer_flush(w, &e) < 0)
            die("flush", &e);
    }
    flow_batch_free(b);
    if (abandon)
        pq_writer_abandon(w);     /* OUT.open and OUT.journal stay */
    else if (pq_writer_close(w, &e) < 0)
        die("close", &e);
}

static void gen_types(const char *out, long rows, long rgrows)
{
    static const pq_column_t cols[] = {
        {"b", PQ_BOOL, 0}, {"i8", PQ_INT8, 0}, {"i16", PQ_INT16, 0},
        {"i32", PQ_INT32, 0}, {"i64", PQ_INT64, PQ_COL_BLOOM},
        {"t", PQ_TIME_MS, 0}, {"d", PQ_DOUBLE, 0},
        {"s", PQ_STRING, PQ_COL_BLOOM}, {"ip", PQ_IP, PQ_COL_BLOOM},
    };
    static const char *strs[] = {
        "", "a", "tcp", "h\xc3\xa9llo \xe2\x9c\x93", "comma, \"quote\"",
        "line\nbreak", "zzz",
        "a string longer than sixty-four bytes, so no statistics are "
        "written for its chunk",
    };
    static const double dbl[] = {0.0, -0.0, 1.5, -2.25, 1e308, -1e308,
                                 5e-324, 3.141592653589793, 1.0 / 0.0,
                                 -1.0 / 0.0};
    diag_t e = {0};
    pq_writer_t *w = pq_writer_open(out, cols, 9, NULL, &e);
    if (!w)
        die(out, &e);
    value_t row[9];
    char buf[64];
    for (long i = 0; i < rows; i++) {
        uint64_t r = rnd();
        int edge = i < 4 ? (int)i : -1;
        row[0].i = (int64_t)(r & 1);
        row[1].i = edge == 0 ? INT8_MIN : edge == 1 ? INT8_MAX
                 : (int64_t)(r % 256) - 128;
        row[2].i = edge == 0 ? INT16_MIN : edge == 1 ? INT16_MAX
                 : (int64_t)(r % 1000) - 500;
        row[3].i = edge == 0 ? INT32_MIN : edge == 1 ? INT32_MAX
                 : (int64_t)(int32_t)rnd();
        row[4].i = edge == 0 ? INT64_MIN : edge == 1 ? INT64_MAX
                 : edge == 2 ? 0 : (int64_t)(rnd() % 100) - 50;
        row[5].i = 1700000000000LL + i * 1000 + (int64_t)(r % 7);
        row[6].f = dbl[(size_t)i % (sizeof(dbl) / sizeof(dbl[0]))];
        if (i % 3 == 0) {
            snprintf(buf, sizeof(buf), "row %ld", i);
            row[7].s = buf;
        } else {
            row[7].s = strs[r % (sizeof(strs) / sizeof(strs[0]))];
        }
        row[8].ip = some_ip((uint64_t)i);
        if (pq_writer_add_rows(w, row, 1, &e) < 0)
            die("add", &e);
        if (rgrows && (i + 1) % rgrows == 0 && pq_writer_flush(w, &e) < 0)
            die("flush", &e);
    }
    if (pq_writer_close(w, &e) < 0)
        die("close", &e);
}

static void put_value(pq_kind_t k, const value_t *v)
{
    switch (k) {
    case PQ_DOUBLE:
        printf("%.17g", v->f);
        break;
    case PQ_STRING:
        putchar('"');
        for (const char *s = v->s; *s; s++) {
            if (*s == '"')
                putchar('"');
            putchar(*s);
        }
        putchar('"');
        break;
    case PQ_IP:
        for (int i = 0; i < 16; i++)
            printf("%02x", v->ip.a[i]);
        break;
    default:
        printf("%" PRId64, v->i);
    }
}

typedef struct dump_ctx {
    const pq_kind_t *kinds;
    size_t ncols;
} dump_ctx_t;

static int dump_rows(void *ctx, const value_t *rows, size_t n)
{
    dump_ctx_t *d = ctx;
    for (size_t r = 0; r < n; r++)
        for (size_t c = 0; c < d->ncols; c++) {
            put_value(d->kinds[c], &rows[r * d->ncols + c]);
            putchar(c + 1 < d->ncols ? ',' : '\n');
        }
    return 0;
}

static pq_reader_t *open_or_die(const char *path)
{
    diag_t e = {0};
    pq_reader_t *r = pq_reader_open(path, &e);
    if (!r)
        die(path, &e);
    return r;
}

static void dump(const char *path)
{
    pq_reader_t *r = open_or_die(path);
    size_t nc = pq_reader_ncols(r);
    int cols[PQ_MAX_COLUMNS];
    pq_kind_t kinds[PQ_MAX_COLUMNS];
    for (size_t c = 0; c < nc && c < PQ_MAX_COLUMNS; c++) {
        cols[c] = (int)c;
        kinds[c] = pq_reader_col(r, c)->kind;
        printf("%s%c", pq_reader_col(r, c)->name, c + 1 < nc ? ',' : '\n');
    }
    dump_ctx_t d = {kinds, nc};
    diag_t e = {0};
    for (size_t g = 0; g < pq_reader_nrowgroups(r); g++)
        if (pq_reader_read_rows(r, g, cols, nc, dump_rows, &d, &e) < 0)
            die(path, &e);
    pq_reader_close(r);
}

static int dump_flows(void *ctx, const flow_batch_t *b)
{
    (void)ctx;
    for (uint32_t i = 0; i < b->n; i++) {
        int first = 1;
        for (int f = 0; f < F_COUNT; f++) {
            const field_t *fd = &schema_fields[f];
            if (fd->is_virtual)
                continue;
            if (!first)
                putchar(',');
            first = 0;
            const char *lane = (const char *)b + fd->offset;
            value_t v;
            if (fd->type == TYPE_IP) {
                memcpy(&v.ip, lane + i * sizeof(ipaddr_t), sizeof(ipaddr_t));
                put_value(PQ_IP, &v);
            } else {
                memcpy(&v.i, lane + i * sizeof(int64_t), sizeof(int64_t));
                put_value(PQ_INT64, &v);
            }
        }
        putchar('\n');
    }
    return 0;
}

static void flows(const char *path)
{
    pq_reader_t *r = open_or_die(path);
    int first = 1;
    for (int f = 0; f < F_COUNT; f++)
        if (!schema_fields[f].is_virtual) {
            printf("%s%s", first ? "" : ",", schema_fields[f].name);
            first = 0;
        }
    putchar('\n');
    diag_t e = {0};
    for (size_t g = 0; g < pq_reader_nrowgroups(r); g++)
        if (pq_reader_read(r, g, ~0ull, dump_flows, NULL, &e) < 0)
            die(path, &e);
    pq_reader_close(r);
}

static void meta(const char *path)
{
    pq_reader_t *r = open_or_die(path);
    printf("rows %" PRId64 " row_groups %zu\n", pq_reader_nrows(r),
           pq_reader_nrowgroups(r));
    for (size_t g = 0; g < pq_reader_nrowgroups(r); g++) {
        printf("rg %zu rows %" PRId64 "\n", g, pq_reader_rg_rows(r, g));
        for (size_t c = 0; c < pq_reader_ncols(r); c++) {
            const pq_colinfo_t *ci = pq_reader_col(r, c);
            value_t lo, hi;
            printf("  %s", ci->name);
            if (pq_reader_minmax(r, g, c, &lo, &hi)) {
                putchar(' ');
                put_value(ci->kind, &lo);
                putchar(' ');
                put_value(ci->kind, &hi);
            } else {
                printf(" - -");
            }
            putchar('\n');
        }
    }
    pq_reader_close(r);
}

static void bloom(const char *path, const char *col, const char *val)
{
    pq_reader_t *r = open_or_die(path);
    int c = pq_reader_find(r, col);
    if (c < 0) {
        fprintf(stderr, "pqtool: no column %s\n", col);
        exit(1);
    }
    value_t v = {0};
    pq_kind_t k = pq_reader_col(r, (size_t)c)->kind;
    if (k == PQ_IP) {
        for (int i = 0; i < 16 && val[2 * i]; i++)
            sscanf(val + 2 * i, "%2hhx", &v.ip.a[i]);
    } else if (k == PQ_STRING) {
        v.s = val;
    } else {
        v.i = strtoll(val, NULL, 10);
    }
    for (size_t g = 0; g < pq_reader_nrowgroups(r); g++)
        printf("%d\n", pq_reader_bloom(r, g, (size_t)c, &v));
    pq_reader_close(r);
}

int main(int argc, char **argv)
{
    const char *cmd = argc > 1 ? argv[1] : "";
    if (!strcmp(cmd, "gen-flows") && argc == 6) {
        gen_flows(argv[2], atol(argv[3]), atol(argv[4]),
                  strtoull(argv[5], NULL, 10), 0, 0);
    } else if (!strcmp(cmd, "gen-open") && argc == 6) {
        gen_flows(argv[2], atol(argv[3]), atol(argv[4]),
                  strtoull(argv[5], NULL, 10), 1, 0);
    } else if (!strcmp(cmd, "gen-sorted") && (argc == 6 || argc == 7)) {
        gen_flows(argv[2], atol(argv[3]), atol(argv[4]),
                  strtoull(argv[5], NULL, 10), 0,
                  argc == 7 ? atoi(argv[6]) : 1000);
    } else if (!strcmp(cmd, "gen-types") && argc == 5) {
        gen_types(argv[2], atol(argv[3]), atol(argv[4]));
    } else if (!strcmp(cmd, "dump") && argc == 3) {
        dump(argv[2]);
    } else if (!strcmp(cmd, "flows") && argc == 3) {
        flows(argv[2]);
    } else if (!strcmp(cmd, "meta") && argc == 3) {
        meta(argv[2]);
    } else if (!strcmp(cmd, "types") && argc == 3) {
        pq_reader_t *r = open_or_die(argv[2]);
        for (size_t c = 0; c < pq_reader_ncols(r); c++)
            printf("%s %s\n", pq_reader_col(r, c)->name,
                   pq_kind_name(pq_reader_col(r, c)->kind));
        pq_reader_close(r);
    } else if (!strcmp(cmd, "bloom") && argc == 5) {
        bloom(argv[2], argv[3], argv[4]);
    } else if (!strcmp(cmd, "recover") && argc == 3) {
        diag_t e = {0};
        uint64_t kept;
        if (pq_recover(argv[2], &kept, &e) < 0)
            die(argv[2], &e);
        printf("%" PRIu64 "\n", kept);
    } else {
        fprintf(stderr, "usage: pqtool gen-flows|gen-open OUT ROWS RGROWS SEED | "
                "gen-sorted OUT ROWS RGROWS SEED [PAGEROWS] | "
                "gen-types OUT ROWS RGROWS | dump FILE | flows FILE | "
                "meta FILE | bloom FILE COLUMN VALUE | recover FILE\n");
        return 2;
    }
    return 0;
}
