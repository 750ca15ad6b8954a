/*
 * pqexport.c - Parquet answers of queries over the archive; see
 * pqexport.h.
 *
 * The writer (archive/parquet.h, pq_writer_open_fd) writes forward into
 * an anonymous in-memory file (memfd); the HTTP body hands its bytes to
 * the client from where it got to, and punches out what was sent, so
 * memory holds the row group being written and what the client has not
 * taken yet, whatever the answer's size. Rows are pulled from the query
 * only when the client has taken everything written so far.
 */
#include "server/pqexport.h"
#include "archive/aquery.h"
#include "archive/parquet.h"
#include "util/arena.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define CHUNK_ROWS 1024
#define PUNCH_BYTES (1 << 20)

typedef struct pq_body {
    http_body_t   base;
    aquery_t     *q;
    pq_writer_t  *w;
    int           fd;
    int64_t       rpos;       /* bytes handed to the client */
    int64_t       punched;    /* bytes given back before it */
    int           ncols, ip_binary;
    type_t       *types;
    value_t      *rows;       /* a chunk, row-major */
    size_t        nrows;
    arena_t      *strings;    /* the chunk's strings */
    const value_t *first;     /* the first row, read at open */
    int           finished;
} pq_body_t;

static pq_kind_t kind_of(type_t t, int ip_binary)
{
    switch (t) {
    case TYPE_BOOL: return PQ_BOOL;
    case TYPE_FLOAT: return PQ_DOUBLE;
    case TYPE_STRING: return PQ_STRING;
    case TYPE_IP: return ip_binary ? PQ_IP : PQ_STRING;
    case TYPE_TIME: return PQ_TIME_MS;
    default: return PQ_INT64;
    }
}

/* Copy one row of the query into the chunk. */
static void add_row(pq_body_t *b, const value_t *row)
{
    if (!b->strings)
        b->strings = arena_new();
    value_t *d = b->rows + b->nrows * (size_t)b->ncols;
    for (int c = 0; c < b->ncols; c++) {
        d[c] = row[c];
        if (b->types[c] == TYPE_STRING) {
            d[c].s = arena_strdup(b->strings, row[c].s ? row[c].s : "");
        } else if (b->types[c] == TYPE_IP && !b->ip_binary) {
            char buf[IPADDR_STRLEN + 1];
            memset(&d[c], 0, sizeof(d[c]));
            d[c].s = arena_strdup(b->strings,
                                  ipaddr_format(&row[c].ip, buf, sizeof(buf)));
        }
    }
    b->nrows++;
}

/* Hand the chunk to the writer (and end the row group when it is full). */
static int write_chunk(pq_body_t *b, diag_t *err)
{
    int rc = 0;
    if (b->nrows)
        rc = pq_writer_add_rows(b->w, b->rows, b->nrows, err);
    b->nrows = 0;
    arena_free(b->strings);
    b->strings = NULL;
    if (rc == 0 && pq_writer_pending(b->w) >= PQEXPORT_RG_ROWS)
        rc = pq_writer_flush(b->w, err);
    return rc;
}

/* The answer cannot be finished: cut it (no footer), and log why. */
static void fail(pq_body_t *b, const char *why)
{
    log_warn("http", "Parquet answer cut after %lld bytes: %s",
             (long long)b->rpos, why);
    pq_writer_abandon(b->w);
    b->w = NULL;
    b->finished = 1;
    b->base.failed = 1;
}

/* Write more: a chunk of rows, or the end of the file. */
static void produce(pq_body_t *b)
{
    diag_t err;
    diag_clear(&err);
    if (b->first) {
        add_row(b, b->first);
        b->first = NULL;
    }
    while (b->nrows < CHUNK_ROWS) {
        const value_t *row;
        int rc = aquery_next(b->q, &row, &err);
        if (rc < 0) {
            fail(b, err.msg);
            return;
        }
        if (rc == 0) {
            if (write_chunk(b, &err) < 0) {
                fail(b, err.msg);
                return;
            }
            if (aquery_truncated(b->q)) {
                fail(b, "more rows than --export-rows");
                return;
            }
            pq_writer_t *w = b->w;
            b->w = NULL;
            b->finished = 1;
            if (pq_writer_close(w, &err) < 0)
                fail(b, err.msg);
            return;
        }
        add_row(b, row);
    }
    if (write_chunk(b, &err) < 0)
        fail(b, err.msg);
}

static size_t pq_read(http_body_t *hb, char *out, size_t max)
{
    pq_body_t *b = (pq_body_t *)hb;
    for (;;) {
        off_t end = lseek(b->fd, 0, SEEK_CUR);
        if (end > b->rpos) {
            size_t n = (size_t)(end - b->rpos) < max ? (size_t)(end - b->rpos)
                                                     : max;
            ssize_t got = pread(b->fd, out, n, b->rpos);
            if (got <= 0) {
                fail(b, got < 0 ? strerror(errno) : "short read");
                return 0;
            }
            b->rpos += got;
            if (b->rpos - b->punched >= PUNCH_BYTES) {
                fallocate(b->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                          b->punched, b->rpos - b->punched);
                b->punched = b->rpos;
            }
            return (size_t)got;
        }
        if (b->finished || hb->failed)
            return 0;
        produce(b);
    }
}

static void pq_free(http_body_t *hb)
{
    pq_body_t *b = (pq_body_t *)hb;
    pq_writer_abandon(b->w);
    aquery_close(b->q);
    if (b->fd >= 0)
        close(b->fd);
    arena_free(b->strings);
    free(b->rows);
    free(b->types);
    free(b);
}

int pqexport_open(app_t *a, const char *sql, int ip_binary,
                  http_body_t **body, diag_t *err)
{
    aquery_t *q;
    int64_t max_rows = a->cfg.export_max_rows > 0 ? a->cfg.export_max_rows : -1;
    int rc = app_archive_open(a, sql, max_rows, &q, err);
    if (rc != AE_OK)
        return rc;
    const value_t *first = NULL;
    int n = aquery_next(q, &first, err);
    if (n < 0) {
        aquery_close(q);
        return n == AQ_EBUSY ? AE_LIMIT : n == AQ_EIO ? AE_INTERNAL : AE_BAD;
    }
    pq_body_t *b = xcalloc(1, sizeof(*b));
    b->base.read = pq_read;
    b->base.free = pq_free;
    b->q = q;
    b->ip_binary = ip_binary;
    b->ncols = aquery_ncols(q);
    b->types = xcalloc((size_t)b->ncols + 1, sizeof(type_t));
    b->rows = xcalloc((size_t)CHUNK_ROWS * (size_t)b->ncols + 1, sizeof(value_t));
    b->first = n == 1 ? first : NULL;
    b->fd = memfd_create("flowsql-parquet", MFD_CLOEXEC);
    if (b->fd < 0) {
        diag_set(err, "cannot make the Parquet answer's buffer: %s",
                 strerror(errno));
        pq_free(&b->base);
        return AE_INTERNAL;
    }
    pq_column_t *cols = xcalloc((size_t)b->ncols + 1, sizeof(*cols));
    for (int c = 0; c < b->ncols; c++) {
        b->types[c] = aquery_col_type(q, c);
        cols[c].name = aquery_col_name(q, c);
        cols[c].kind = kind_of(b->types[c], ip_binary);
    }
    pq_kv_t kv[] = {{"flowsql.sql", sql}};
    pq_writer_opts_t o = {.kv = kv, .nkv = 1, .no_sync = 1};
    b->w = pq_writer_open_fd(b->fd, cols, (size_t)b->ncols, &o, err);
    free(cols);
    if (!b->w) {
        pq_free(&b->base);
        return AE_BAD;
    }
    *body = &b->base;
    return AE_OK;
}
