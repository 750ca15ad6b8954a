/*
 * bench_aquery.c - queries over the archive, timed (make
 * bench-archive-query; docs/PERFORMANCE.md, "Queries over the archive").
 *
 *   bench_aquery build DIR FILE.ipfix
 *       archive the flows of an IPFIX file (flowgen --file) under DIR with
 *       the archive service's defaults (5 min files, 131072-flow row
 *       groups), each flow's received time its end time, so the archive
 *       spans the flows' own time; AQ_PAGE_ROWS in the environment sets
 *       the rows of a page (PQ_PAGE_ROWS, 8192, when unset)
 *   bench_aquery query DIR [--cold] [--repeat N] [--now MS] [--print] SQL
 *       run SQL over the archive as POST /sql does (aquery: the scan in
 *       its thread, the engine in this one), discarding the rows; print
 *       rows, flows read, row groups read/skipped, wall ms and flows/s.
 *       --cold first drops the archive's files from the page cache
 *       (posix_fadvise DONTNEED on each: no root needed, other files
 *       untouched), so the run reads them from the disk. --print prints
 *       the rows instead of the figures.
 *   bench_aquery evict DIR
 *       only that: drop DIR's files (recursively) from the page cache.
 */
#include "archive/aquery.h"
#include "ingest/ingest.h"
#include "util/timeutil.h"

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static archive_t *ar;
static uint64_t submitted;

static void emit(void *ctx, flow_batch_t *b)
{
    (void)ctx;
    flow_batch_t *c = flow_batch_new();
    memcpy(c, b, sizeof(*c));
    c->flags = 0;
    for (uint32_t i = 0; i < c->n; i++)
        c->received[i] = c->end[i];
    uint32_t n = c->n;   /* c belongs to the archive once it took it */
    while (archive_submit(ar, c) < 0)
        usleep(1000);   /* the writer is behind: wait (a refusal is counted as a drop, harmless here) */
    submitted += n;
}

static int build(const char *dir, const char *file)
{
    archive_config_t cfg = ARCHIVE_CONFIG_INIT;
    cfg.dir = dir;
    cfg.no_sync = 1;
    cfg.queue_batches = 256;
    const char *pr = getenv("AQ_PAGE_ROWS");    /* experiments */
    cfg.page_rows = pr ? atoi(pr) : 0;
    diag_t err;
    diag_clear(&err);
    ar = archive_open(&cfg, &err);
    if (!ar) {
        fprintf(stderr, "bench_aquery: %s\n", err.msg);
        return 1;
    }
    int64_t t0 = time_mono_ms();
    ingest_file_result_t res;
    if (ingest_read_file(file, emit, NULL, &res, &err) < 0) {
        fprintf(stderr, "bench_aquery: %s\n", err.msg);
        archive_close(ar);
        return 1;
    }
    archive_close(ar);
    printf("archived %llu flows in %lld ms\n", (unsigned long long)submitted,
           (long long)(time_mono_ms() - t0));
    return 0;
}

static int evict_one(const char *path, const struct stat *sb, int flag,
                     struct FTW *f)
{
    (void)sb;
    (void)f;
    if (flag != FTW_F)
        return 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        fdatasync(fd);
        posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
        close(fd);
    }
    return 0;
}

static void evict(const char *dir)
{
    nftw(dir, evict_one, 16, FTW_PHYS);
}

/* One row as text, for --print. */
static void print_row(aquery_t *q, const value_t *row)
{
    for (int c = 0; c < aquery_ncols(q); c++) {
        char buf[64];
        if (c)
            putchar(' ');
        switch (aquery_col_type(q, c)) {
        case TYPE_IP: fputs(ipaddr_format(&row[c].ip, buf, sizeof(buf)), stdout); break;
        case TYPE_FLOAT: printf("%g", row[c].f); break;
        case TYPE_STRING: fputs(row[c].s, stdout); break;
        default: printf("%lld", (long long)row[c].i);
        }
    }
    putchar('\n');
}

static int query(const char *dir, const char *sql, int cold, int repeat,
                 int64_t now, int print)
{
    for (int r = 0; r < repeat; r++) {
        if (cold)
            evict(dir);
        diag_t err;
        diag_clear(&err);
        plan_t *p = plan_compile(sql, strlen(sql), 100000000, &err);
        if (!p) {
            fprintf(stderr, "bench_aquery: %s\n", err.msg);
            return 1;
        }
        aquery_opts_t o = {.max_rows = -1, .now_ms = now};
        aquery_t *q;
        int64_t t0 = time_mono_ms();
        if (aquery_open(dir, p, &o, &q, &err) < 0) {
            fprintf(stderr, "bench_aquery: %s\n", err.msg);
            return 1;
        }
        const value_t *row;
        uint64_t rows = 0;
        int rc;
        while ((rc = aquery_next(q, &row, &err)) == 1) {
            if (print)
                print_row(q, row);
            rows++;
        }
        int64_t ms = time_mono_ms() - t0;
        if (rc < 0) {
            fprintf(stderr, "bench_aquery: %s\n", err.msg);
            aquery_close(q);
            return 1;
        }
        aquery_stats_t s;
        aquery_stats(q, &s);
        if (print) {
            aquery_close(q);
            continue;
        }
        printf("%s%s: %llu rows, %llu flows read (%llu matched), row groups "
               "%llu read of %llu (%llu skipped by zone maps, %llu by "
               "blooms), %.1f MB read, %lld ms, %.1f M flows/s\n",
               cold ? "cold" : "warm", repeat > 1 ? " run" : "",
               (unsigned long long)rows,
               (unsigned long long)s.scan.rows_read,
               (unsigned long long)s.flows_matched,
               (unsigned long long)s.scan.rg_read,
               (unsigned long long)s.scan.row_groups,
               (unsigned long long)s.scan.rg_pruned_stats,
               (unsigned long long)s.scan.rg_pruned_bloom,
               (double)s.scan.bytes_read / 1e6, (long long)ms,
               ms ? (double)s.scan.rows_read / (double)ms / 1e3 : 0.0);
        aquery_close(q);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "build") == 0)
        return build(argv[2], argv[3]);
    if (argc == 3 && strcmp(argv[1], "evict") == 0) {
        evict(argv[2]);
        return 0;
    }
    if (argc >= 4 && strcmp(argv[1], "query") == 0) {
        int cold = 0, repeat = 1, print = 0, i = 3;
        int64_t now = 0;
        for (; i < argc - 1; i++) {
            if (strcmp(argv[i], "--cold") == 0)
                cold = 1;
            else if (strcmp(argv[i], "--print") == 0)
                print = 1;
            else if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc - 1)
                repeat = atoi(argv[++i]);
            else if (strcmp(argv[i], "--now") == 0 && i + 1 < argc - 1)
                now = atoll(argv[++i]);
            else
                break;
        }
        return query(argv[2], argv[argc - 1], cold, repeat, now, print);
    }
    fprintf(stderr, "usage: bench_aquery build DIR FILE.ipfix | query DIR "
            "[--cold] [--repeat N] [--now MS] [--print] SQL | evict DIR\n");
    return 2;
}
