/*
 * fuzz_parquet.c - libFuzzer target for the Parquet reader (make
 * fuzz-parquet): the input is a whole file, opened from memory by its
 * footer; every row group's statistics, bloom filters, page indexes,
 * flows (all rows, and a few rows page by page) and generic rows are
 * read. An input that starts with the journal magic "PQJ1" is
 * parsed as the journal of an open file instead (against a data file of
 * 1 MiB).
 *
 * Besides "no crash, no leak, no hang": a read that succeeds gives
 * exactly the rows the row group declares (or asks for), and a page
 * index given out starts at row 0, ascends, and ends at the row count.
 *
 * Seeds (tests/fuzz/seeds/parquet) are small files from our writer and
 * from pyarrow and DuckDB: tests/fuzz/parquet_seeds.sh makes them.
 */
#include "archive/parquet.h"
#include "archive/pqint.h"
#include "util/arena.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPECT(cond)                                                       \
    do {                                                                   \
        if (!(cond)) {                                                     \
            fprintf(stderr, "fuzz_parquet: %s:%d: %s\n", __FILE__,         \
                    __LINE__, #cond);                                      \
            abort();                                                       \
        }                                                                  \
    } while (0)

/* Row groups claiming more rows than this are skipped: a few bytes of
 * RLE can stand for billions of values, and reading them is no bug. */
#define ROWS_MAX 20000

static int count_flows(void *ctx, const flow_batch_t *b)
{
    EXPECT(b->n >= 1 && b->n <= FLOW_BATCH_MAX);
    *(int64_t *)ctx += b->n;
    return 0;
}

static int count_rows(void *ctx, const value_t *rows, size_t n)
{
    (void)rows;
    EXPECT(n >= 1 && n <= FLOW_BATCH_MAX);
    *(int64_t *)ctx += (int64_t)n;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    diag_t e = {0};
    if (size >= 4 && memcmp(data, PQ_JOURNAL_MAGIC, 4) == 0) {
        arena_t *a = arena_new();
        pqm_file_t m;
        uint64_t end;
        if (journal_parse(data, size, 1 << 20, a, &m, &end, &e) == 0)
            EXPECT(end >= 4 && end <= (1 << 20));
        arena_free(a);
        return 0;
    }
    pq_reader_t *r = pq_reader_open_mem(data, size, &e);
    if (!r)
        return 0;
    size_t nc = pq_reader_ncols(r);
    int cols[PQ_MAX_COLUMNS];
    size_t ncols = nc < PQ_MAX_COLUMNS ? nc : PQ_MAX_COLUMNS;
    for (size_t c = 0; c < ncols; c++)
        cols[c] = (int)c;
    for (size_t g = 0; g < pq_reader_nrowgroups(r) && g < 16; g++) {
        int64_t rows = pq_reader_rg_rows(r, g);
        if (rows > ROWS_MAX)
            continue;
        for (size_t c = 0; c < nc; c++) {
            value_t lo, hi, v = {0};
            pq_reader_minmax(r, g, c, &lo, &hi);
            int b = pq_reader_bloom(r, g, c, &v);
            EXPECT(b == 0 || b == 1);
            const int64_t *first;
            size_t np = pq_reader_pages(r, g, c, &first, NULL, NULL);
            for (size_t p = 0; p < np; p++)
                EXPECT(first[p] <= first[p + 1]);
            EXPECT(np == 0 || (first[0] == 0 && first[np] == rows));
        }
        if (rows >= 6) {                 /* a few rows: page by page */
            pq_rows_t sel[2] = {{rows / 3, rows / 3 + 1}, {rows - 1, rows}};
            int64_t got = 0;
            diag_clear(&e);
            if (pq_reader_read_sel(r, g, ~0ull, sel, 2, count_flows, &got,
                                   &e) == 0)
                EXPECT(got == 2);
            else
                EXPECT(e.set);
        }
        int64_t got = 0;
        diag_clear(&e);
        if (pq_reader_read(r, g, ~0ull, count_flows, &got, &e) == 0)
            EXPECT(got == rows);
        else
            EXPECT(e.set);
        got = 0;
        diag_clear(&e);
        if (pq_reader_read_rows(r, g, cols, ncols, count_rows, &got, &e) == 0)
            EXPECT(got == rows || ncols == 0);
        else
            EXPECT(e.set);
    }
    pq_reader_close(r);
    return 0;
}
