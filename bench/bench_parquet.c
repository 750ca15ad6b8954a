/*
 * bench_parquet - the archive's file format on a flowgen stream
 * (make bench-parquet; docs/PERFORMANCE.md, "Archive format").
 *
 *   bench_parquet FLOWS.ipfix [OUT.parquet [ZSTD_LEVEL [RG_ROWS [PAGE_ROWS
 *                 [SORT_BY]]]]]
 *
 * Decodes the IPFIX file with ingest_read_file into batches held in
 * memory (not timed), then on one core:
 *   write  encode + compress + write every flow, a row group per RG_ROWS
 *          (131072) flows, pages of PAGE_ROWS (8192), rows sorted by
 *          SORT_BY (srcip; "-" none), as the archive writer does (no
 *          fsync);
 *   read   decode every column of every row group into flow batches;
 *   read2  decode only srcip and bytes.
 * Prints bytes per flow on disk, flows/s of each, and per column its
 * bytes per flow and the encodings the writer chose.
 */
#include "archive/parquet.h"
#include "archive/pqint.h"
#include "archive/thrift.h"
#include "engine/schema.h"
#include "ingest/ingest.h"
#include "util/arena.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct held {
    flow_batch_t **b;
    size_t n, cap;
    uint64_t flows;
} held_t;

static void keep(void *ctx, flow_batch_t *b)
{
    held_t *h = ctx;
    if (h->n == h->cap) {
        h->cap = h->cap ? h->cap * 2 : 1024;
        h->b = xrealloc(h->b, h->cap * sizeof(*h->b));
    }
    flow_batch_t *c = flow_batch_new();
    memcpy(c, b, sizeof(*c));
    h->b[h->n++] = c;
    h->flows += b->n;
}

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int count(void *ctx, const flow_batch_t *b)
{
    *(uint64_t *)ctx += b->n;
    return 0;
}

static double read_all(const char *path, uint64_t fields, uint64_t *flows)
{
    diag_t e = {0};
    pq_reader_t *r = pq_reader_open(path, &e);
    if (!r) {
        fprintf(stderr, "bench_parquet: %s\n", e.msg);
        exit(1);
    }
    double t0 = cpu_now();
    *flows = 0;
    for (size_t g = 0; g < pq_reader_nrowgroups(r); g++)
        if (pq_reader_read(r, g, fields, count, flows, &e) < 0) {
            fprintf(stderr, "bench_parquet: %s\n", e.msg);
            exit(1);
        }
    double t = cpu_now() - t0;
    pq_reader_close(r);
    return t;
}

static char *file_read_all(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(1);
    }
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = xmalloc((size_t)len + 1);
    *n = fread(p, 1, (size_t)len, f);
    fclose(f);
    return p;
}

/* Bytes and encodings per column, from the footer. */
static void per_column(const char *path, uint64_t flows)
{
    size_t n;
    diag_t e = {0};
    uint8_t *p = (uint8_t *)file_read_all(path, &n);
    uint32_t flen = rd_u32le(p + n - 8);
    arena_t *a = arena_new();
    pqm_file_t m;
    if (pqm_read_file(p + n - 8 - flen, flen, a, &m, &e) < 0) {
        fprintf(stderr, "bench_parquet: %s\n", e.msg);
        exit(1);
    }
    static const char *enc[] = {"PLAIN", "", "PLAIN_DICT", "RLE", "", "DELTA",
                                "", "", "DICT", ""};
    printf("  %-10s %8s %8s  %s\n", "column", "B/flow", "bloom", "encodings "
           "(row groups)");
    for (uint32_t c = 0; c < m.nschema - 1; c++) {
        uint64_t bytes = 0, bloom = 0;
        unsigned cnt[10] = {0};
        for (uint32_t g = 0; g < m.nrgs; g++) {
            const pqm_colmeta_t *cm = &m.rgs[g].cols[c].meta;
            bytes += (uint64_t)cm->total_compressed_size;
            bloom += cm->has_bloom ? (uint64_t)cm->bloom_length : 0;
            if (cm->encodings & 1u << PE_RLE_DICTIONARY)
                cnt[8]++;
            else if (cm->encodings & 1u << PE_DELTA_BINARY_PACKED)
                cnt[5]++;
            else
                cnt[0]++;
        }
        printf("  %-10s %8.3f %8.3f ", m.schema[c + 1].name,
               (double)bytes / (double)flows, (double)bloom / (double)flows);
        for (int k = 0; k < 10; k++)
            if (cnt[k])
                printf(" %s:%u", enc[k], cnt[k]);
        putchar('\n');
    }
    printf("  footer %u bytes\n", flen);
    arena_free(a);
    free(p);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_parquet FLOWS.ipfix [OUT.parquet "
                "[ZSTD_LEVEL [RG_ROWS [PAGE_ROWS [SORT_BY]]]]]\n");
        return 2;
    }
    const char *out = argc > 2 ? argv[2] : "/tmp/flowsql-bench.parquet";
    int level = argc > 3 ? atoi(argv[3]) : 0;
    size_t rg_rows = argc > 4 ? (size_t)atol(argv[4]) : 131072;
    int page_rows = argc > 5 ? atoi(argv[5]) : 0;
    const char *sort = argc > 6 ? argv[6] : "srcip";
    if (strcmp(sort, "-") == 0)
        sort = NULL;
    held_t h = {0};
    diag_t e = {0};
    ingest_file_result_t res;
    if (ingest_read_file(argv[1], keep, &h, &res, &e) < 0) {
        fprintf(stderr, "bench_parquet: %s\n", e.msg);
        return 1;
    }
    pq_column_t cols[32];
    size_t nc = pq_flow_columns(cols, 32);
    pq_writer_opts_t o = {.zstd_level = level, .no_sync = 1,
                          .page_rows = page_rows, .sort_by = sort};
    unlink(out);
    double t0 = cpu_now();
    pq_writer_t *w = pq_writer_open(out, cols, nc, &o, &e);
    if (!w) {
        fprintf(stderr, "bench_parquet: %s\n", e.msg);
        return 1;
    }
    for (size_t i = 0; i < h.n; i++) {
        if (pq_writer_add_batch(w, h.b[i], &e) < 0 ||
            (pq_writer_pending(w) >= rg_rows && pq_writer_flush(w, &e) < 0)) {
            fprintf(stderr, "bench_parquet: %s\n", e.msg);
            return 1;
        }
    }
    if (pq_writer_close(w, &e) < 0) {
        fprintf(stderr, "bench_parquet: %s\n", e.msg);
        return 1;
    }
    double tw = cpu_now() - t0;
    struct stat st;
    stat(out, &st);
    uint64_t n1, n2;
    double tr = read_all(out, ~0ull, &n1);
    double tr2 = read_all(out, 1ull << F_SRCIP | 1ull << F_BYTES, &n2);
    printf("flows %llu, zstd level %d, row groups of %zu, pages of %d, "
           "sorted by %s\n", (unsigned long long)h.flows,
           level ? level : PQ_ZSTD_LEVEL, rg_rows,
           page_rows ? page_rows : PQ_PAGE_ROWS, sort ? sort : "nothing");
    printf("on disk: %lld bytes, %.2f bytes/flow\n", (long long)st.st_size,
           (double)st.st_size / (double)h.flows);
    printf("write (encode+compress+write): %.2f s cpu, %.0f flows/s\n", tw,
           (double)h.flows / tw);
    printf("read all columns: %.2f s cpu, %.0f flows/s (%llu flows)\n", tr,
           (double)n1 / tr, (unsigned long long)n1);
    printf("read srcip+bytes: %.2f s cpu, %.0f flows/s (%llu flows)\n", tr2,
           (double)n2 / tr2, (unsigned long long)n2);
    per_column(out, h.flows);
    for (size_t i = 0; i < h.n; i++)
        flow_batch_free(h.b[i]);
    free(h.b);
    return 0;
}
