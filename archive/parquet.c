/*
 * parquet.c - the Parquet writer, its journal and crash recovery; see
 * parquet.h. The reader is pqread.c, the encodings pqenc.c.
 *
 * A writer keeps the rows of the pending row group by column in memory.
 * pq_writer_flush() sorts them (opts.sort_by) and encodes each column
 * chunk: statistics, a dictionary when it may pay, the encoding that
 * compresses best on a sample (PLAIN, RLE_DICTIONARY or
 * DELTA_BINARY_PACKED; tried every few row groups), data pages v1 of
 * opts.page_rows values compressed with ZSTD, then the bloom filters and
 * the page index (column and offset indexes) of the row group; the whole
 * row group goes out in one write, then its metadata to the journal.
 */
#include "archive/parquet.h"
#include "archive/pqint.h"
#include "engine/schema.h"
#include "util/arena.h"
#include "util/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#define PAGE_ROWS_MAX (1 << 20) /* values per data page at most */
#define SAMPLE_ROWS  8192       /* rows the encoding trial compresses */
#define DICT_PAGES   2          /* a dictionary: page_rows * this entries */
#define DICT_MAX     (1u << 20) /* entries of a dictionary */
#define BLOOM_FPP    0.05       /* false positive rate, at most */
#define STAT_MAX_LEN 64         /* longer string min/max are not written */

/* ---- kinds -------------------------------------------------------------- */

const char *pq_kind_name(pq_kind_t k)
{
    static const char *n[] = {"bool", "int8", "int16", "int32", "int64",
                              "time_ms", "double", "string", "ip"};
    return (unsigned)k < PQ_KIND_COUNT ? n[k] : "unsupported";
}

static int kind_physical(pq_kind_t k)
{
    switch (k) {
    case PQ_BOOL: return PT_BOOLEAN;
    case PQ_INT8: case PQ_INT16: case PQ_INT32: return PT_INT32;
    case PQ_INT64: case PQ_TIME_MS: return PT_INT64;
    case PQ_DOUBLE: return PT_DOUBLE;
    case PQ_STRING: return PT_BYTE_ARRAY;
    case PQ_IP: return PT_FLBA;
    default: return -1;
    }
}

static int kind_is_int(pq_kind_t k)
{
    return k <= PQ_TIME_MS;
}

static void kind_range(pq_kind_t k, int64_t *lo, int64_t *hi)
{
    switch (k) {
    case PQ_BOOL: *lo = 0; *hi = 1; break;
    case PQ_INT8: *lo = INT8_MIN; *hi = INT8_MAX; break;
    case PQ_INT16: *lo = INT16_MIN; *hi = INT16_MAX; break;
    case PQ_INT32: *lo = INT32_MIN; *hi = INT32_MAX; break;
    default: *lo = INT64_MIN; *hi = INT64_MAX; break;
    }
}

/* The schema element of a column. */
static void kind_schema(pq_kind_t k, const char *name, pqm_schema_t *s)
{
    memset(s, 0, sizeof(*s));
    s->name = name;
    s->type = kind_physical(k);
    s->repetition = PR_REQUIRED;
    s->converted = -1;
    switch (k) {
    case PQ_INT8: case PQ_INT16: case PQ_INT32: case PQ_INT64:
        s->logical = PL_INTEGER;
        s->lt_signed = 1;
        s->lt_bits = k == PQ_INT8 ? 8 : k == PQ_INT16 ? 16
                   : k == PQ_INT32 ? 32 : 64;
        s->converted = k == PQ_INT8 ? PCT_INT_8 : k == PQ_INT16 ? PCT_INT_16
                     : k == PQ_INT32 ? PCT_INT_32 : PCT_INT_64;
        break;
    case PQ_TIME_MS:
        s->logical = PL_TIMESTAMP;
        s->lt_utc = 1;
        s->lt_unit = PU_MILLIS;
        s->converted = PCT_TIMESTAMP_MILLIS;
        break;
    case PQ_STRING:
        s->logical = PL_STRING;
        s->converted = PCT_UTF8;
        break;
    case PQ_IP:
        s->type_length = 16;
        break;
    default:
        break;
    }
}

/* ---- the flow columns --------------------------------------------------- */

static pq_kind_t flow_kind(int f, unsigned *flags)
{
    *flags = 0;
    switch (f) {
    case F_SRCIP: case F_DSTIP:
        *flags = PQ_COL_BLOOM;
        return PQ_IP;
    case F_NEXTHOP: case F_EXPORTER:
        return PQ_IP;
    case F_START: case F_END: case F_RECEIVED:
        return PQ_TIME_MS;
    /* 16-bit fields on the wire: INT(32); 8-bit ones: INT(16) */
    case F_SRCPORT: case F_DSTPORT: case F_TCPFLAGS: case F_VLAN:
        return PQ_INT32;
    case F_PROTO: case F_TOS: case F_SRCMASK: case F_DSTMASK:
    case F_DIRECTION:
        return PQ_INT16;
    default:    /* counters, AS numbers, interfaces, sampling, domain */
        return PQ_INT64;
    }
}

size_t pq_flow_columns(pq_column_t *out, size_t max)
{
    size_t n = 0;
    for (int f = 0; f < F_COUNT; f++) {
        if (schema_fields[f].is_virtual)
            continue;
        if (n < max) {
            out[n].name = schema_fields[f].name;
            out[n].kind = flow_kind(f, &out[n].flags);
        }
        n++;
    }
    return n;
}

/* ---- the writer --------------------------------------------------------- */

typedef struct wcol {
    char     *name;
    pq_kind_t kind;
    unsigned  flags;
    int       field;            /* flow field of that name, or -1 */
    int64_t  *iv;               /* int kinds */
    double   *dv;               /* PQ_DOUBLE */
    ipaddr_t *av;               /* PQ_IP */
    uint32_t *soff;             /* PQ_STRING: n + 1 offsets into sdata */
    bbuf_t    sdata;
    int       pick;             /* encoding of the last trial, -1 none */
    int       raw;              /* and whether its pages stay uncompressed */
    int       age;              /* row groups written since that trial */
} wcol_t;

struct pq_writer {
    int              fd, jfd;   /* jfd -1 without a journal */
    char            *path, *opath, *jpath;
    wcol_t          *cols;
    size_t           ncols;
    size_t           n, cap;    /* pending rows, their capacity */
    int              level, sync, failed;
    arena_t         *a;         /* names, schema, row group metadata */
    pqm_file_t       meta;      /* schema, kv, created_by; row groups */
    uint32_t         rgcap;
    uint64_t         off;       /* bytes written to the file */
    pq_writer_stats_t st;
    ZSTD_CCtx       *zc;
    bbuf_t           rg, enc, dict, comp, jb;
    tw_t             tw;
    int              sort_col;  /* rows sorted by this column, -1 */
    size_t           page_rows;
    uint32_t        *idx;       /* dictionary index per row */
    uint32_t        *drow;      /* dictionary entry -> first row */
    uint32_t        *ht;        /* dictionary hash table (entry + 1) */
    int64_t         *hk;        /* its keys (int columns) */
    ipaddr_t        *hip;       /* its keys (address columns) */
    size_t           hipcap;
    size_t           htcap;
    uint32_t        *tab;       /* dictionary by table (entry + 1) */
    size_t           tabcap;
    uint64_t        *u64;       /* scratch */
    /* sorting: the order, keys, and columns swapped with the sorted */
    uint32_t        *perm;
    struct skey     *sk, *sk2;
    int64_t         *t8;
    ipaddr_t        *t16;
    double          *tdv;
    uint32_t        *tsoff;
    bbuf_t           tsdata;
    size_t           scap;      /* rows the swap columns hold */
    /* the page index of the chunk being encoded, and of the row group */
    pqm_pageloc_t   *ploc;
    pqm_bin_t       *pmin, *pmax;
    uint32_t        *pmoff;
    uint8_t         *pnull;
    bbuf_t           pmm, cib, oib;
};

static int werr(pq_writer_t *w, diag_t *err, const char *fmt, const char *a,
                const char *b)
{
    diag_set(err, fmt, a, b);
    if (w)
        w->failed = 1;
    return -1;
}

static int write_all(int fd, const void *p, size_t n)
{
    const uint8_t *c = p;
    while (n) {
        ssize_t k = write(fd, c, n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        c += k;
        n -= (size_t)k;
    }
    return 0;
}

static void writer_free(pq_writer_t *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->ncols; i++) {
        free(w->cols[i].name);
        free(w->cols[i].iv);
        free(w->cols[i].dv);
        free(w->cols[i].av);
        free(w->cols[i].soff);
        bb_free(&w->cols[i].sdata);
    }
    free(w->cols);
    free(w->path);
    free(w->opath);
    free(w->jpath);
    arena_free(w->a);
    ZSTD_freeCCtx(w->zc);
    bb_free(&w->rg);
    bb_free(&w->enc);
    bb_free(&w->dict);
    bb_free(&w->comp);
    bb_free(&w->jb);
    tw_free(&w->tw);
    free(w->idx);
    free(w->drow);
    free(w->ht);
    free(w->hk);
    free(w->hip);
    free(w->tab);
    free(w->u64);
    free(w->perm);
    free(w->sk);
    free(w->sk2);
    free(w->t8);
    free(w->t16);
    free(w->tdv);
    free(w->tsoff);
    bb_free(&w->tsdata);
    free(w->ploc);
    free(w->pmin);
    free(w->pmax);
    free(w->pmoff);
    free(w->pnull);
    bb_free(&w->pmm);
    bb_free(&w->cib);
    bb_free(&w->oib);
    free(w);
}

/* The parts of open common to both kinds of writer. */
static pq_writer_t *writer_new(const pq_column_t *cols, size_t ncols,
                               const pq_writer_opts_t *o, diag_t *err)
{
    if (ncols == 0 || ncols > PQ_MAX_COLUMNS) {
        diag_set(err, "parquet: %zu columns (1 to %d)", ncols,
                 PQ_MAX_COLUMNS);
        return NULL;
    }
    for (size_t i = 0; i < ncols; i++) {
        if (!cols[i].name || !*cols[i].name ||
            (unsigned)cols[i].kind >= PQ_KIND_COUNT) {
            diag_set(err, "parquet: column %zu has no name or a bad kind", i);
            return NULL;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(cols[i].name, cols[j].name) == 0) {
                diag_set(err, "parquet: two columns named %s", cols[i].name);
                return NULL;
            }
    }
    int sort_col = -1;
    if (o && o->sort_by) {
        for (size_t i = 0; i < ncols; i++)
            if (strcmp(cols[i].name, o->sort_by) == 0)
                sort_col = (int)i;
        if (sort_col < 0 || (!kind_is_int(cols[sort_col].kind) &&
                             cols[sort_col].kind != PQ_IP)) {
            diag_set(err, "parquet: sort by %s: %s", o->sort_by,
                     sort_col < 0 ? "no such column"
                                  : "not an integer or address column");
            return NULL;
        }
    }
    if (o && (o->page_rows < 0 || o->page_rows > PAGE_ROWS_MAX)) {
        diag_set(err, "parquet: %d rows a page (1 to %d)", o->page_rows,
                 PAGE_ROWS_MAX);
        return NULL;
    }
    pq_writer_t *w = xcalloc(1, sizeof(*w));
    w->fd = w->jfd = -1;
    w->sort_col = sort_col;
    w->page_rows = o && o->page_rows ? (size_t)o->page_rows : PQ_PAGE_ROWS;
    w->a = arena_new();
    w->ncols = ncols;
    w->cols = xcalloc(ncols, sizeof(*w->cols));
    w->level = o && o->zstd_level ? o->zstd_level : PQ_ZSTD_LEVEL;
    w->sync = !(o && o->no_sync);
    w->zc = ZSTD_createCCtx();
    if (!w->zc)
        abort();
    tw_init(&w->tw);

    pqm_file_t *m = &w->meta;
    m->version = 2;
    m->nschema = (uint32_t)ncols + 1;
    m->schema = arena_alloc(w->a, m->nschema * sizeof(*m->schema));
    m->schema[0].name = "schema";
    m->schema[0].type = -1;
    m->schema[0].repetition = -1;
    m->schema[0].converted = -1;
    m->schema[0].num_children = (int32_t)ncols;
    for (size_t i = 0; i < ncols; i++) {
        wcol_t *c = &w->cols[i];
        c->name = xstrdup(cols[i].name);
        c->kind = cols[i].kind;
        c->flags = cols[i].flags;
        c->pick = -1;
        c->field = schema_lookup(c->name, strlen(c->name));
        if (c->field >= 0 && schema_fields[c->field].is_virtual)
            c->field = -1;
        kind_schema(c->kind, c->name, &m->schema[i + 1]);
    }
    if (o && o->nkv) {
        m->nkv = (uint32_t)o->nkv;
        m->kv = arena_alloc(w->a, o->nkv * sizeof(*m->kv));
        for (size_t i = 0; i < o->nkv; i++) {
            m->kv[i].key = arena_strdup(w->a, o->kv[i].key);
            m->kv[i].value = o->kv[i].value ? arena_strdup(w->a, o->kv[i].value)
                                            : NULL;
        }
    }
    m->created_by = arena_strdup(w->a, o && o->created_by ? o->created_by
                                                          : PQ_CREATED_BY);
    m->column_orders = 1;
    return w;
}

pq_writer_t *pq_writer_open(const char *path, const pq_column_t *cols,
                            size_t ncols, const pq_writer_opts_t *opts,
                            diag_t *err)
{
    pq_writer_t *w = writer_new(cols, ncols, opts, err);
    if (!w)
        return NULL;
    w->path = xstrdup(path);
    w->opath = pq_path_with(path, ".open");
    w->jpath = pq_path_with(path, ".journal");
    struct stat st;
    if (lstat(path, &st) == 0) {     /* closing would replace it */
        diag_set(err, "%s: %s", path, strerror(EEXIST));
        writer_free(w);
        return NULL;
    }
    w->fd = open(w->opath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (w->fd < 0) {
        diag_set(err, "%s: %s", w->opath, strerror(errno));
        writer_free(w);
        return NULL;
    }
    w->jfd = open(w->jpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (w->jfd < 0) {
        diag_set(err, "%s: %s", w->jpath, strerror(errno));
        goto fail;
    }
    /* The journal opens with the schema, the data file with its magic. */
    tw_reset(&w->tw);
    pqm_write_file(&w->tw, &w->meta);
    w->jb.len = 0;
    bb_put(&w->jb, PQ_JOURNAL_MAGIC, 4);
    journal_record(&w->jb, 'S', 0, w->tw.buf, w->tw.len);
    if (write_all(w->jfd, w->jb.p, w->jb.len) < 0 ||
        write_all(w->fd, "PAR1", 4) < 0) {
        diag_set(err, "%s: %s", w->opath, strerror(errno));
        goto fail;
    }
    w->off = 4;
    w->st.bytes = 4;
    return w;
fail:
    close(w->fd);
    if (w->jfd >= 0)
        close(w->jfd);
    unlink(w->opath);
    unlink(w->jpath);
    writer_free(w);
    return NULL;
}

pq_writer_t *pq_writer_open_fd(int fd, const pq_column_t *cols, size_t ncols,
                               const pq_writer_opts_t *opts, diag_t *err)
{
    pq_writer_t *w = writer_new(cols, ncols, opts, err);
    if (!w)
        return NULL;
    w->fd = fd;
    if (write_all(fd, "PAR1", 4) < 0) {
        diag_set(err, "parquet: write: %s", strerror(errno));
        writer_free(w);
        return NULL;
    }
    w->off = 4;
    w->st.bytes = 4;
    return w;
}

/* Room for n more pending rows. */
static void writer_grow(pq_writer_t *w, size_t more)
{
    if (w->n + more <= w->cap)
        return;
    size_t cap = w->cap ? w->cap : 4096;
    while (cap < w->n + more)
        cap *= 2;
    for (size_t i = 0; i < w->ncols; i++) {
        wcol_t *c = &w->cols[i];
        switch (c->kind) {
        case PQ_DOUBLE: c->dv = xrealloc(c->dv, cap * sizeof(double)); break;
        case PQ_IP: c->av = xrealloc(c->av, cap * sizeof(ipaddr_t)); break;
        case PQ_STRING:
            c->soff = xrealloc(c->soff, (cap + 1) * sizeof(uint32_t));
            if (w->cap == 0)
                c->soff[0] = 0;
            break;
        default: c->iv = xrealloc(c->iv, cap * sizeof(int64_t)); break;
        }
    }
    w->cap = cap;
}

/* Store an int, clamped to the column's range. */
static inline void put_int(pq_writer_t *w, wcol_t *c, size_t row, int64_t v)
{
    int64_t lo, hi;
    kind_range(c->kind, &lo, &hi);
    if (v < lo || v > hi) {
        w->st.clamped++;
        v = v < lo ? lo : hi;
    }
    c->iv[row] = v;
}

int pq_writer_add_batch(pq_writer_t *w, const flow_batch_t *b, diag_t *err)
{
    if (w->failed) {
        diag_set(err, "parquet: the writer failed before");
        return -1;
    }
    for (size_t i = 0; i < w->ncols; i++) {
        wcol_t *c = &w->cols[i];
        int ok = c->field >= 0 &&
                 (schema_fields[c->field].type == TYPE_IP
                      ? c->kind == PQ_IP : kind_is_int(c->kind));
        if (!ok) {
            diag_set(err, "parquet: column %s (%s) is not a flow field of "
                     "that type", c->name, pq_kind_name(c->kind));
            return -1;
        }
    }
    size_t n = b->n;
    writer_grow(w, n);
    for (size_t i = 0; i < w->ncols; i++) {
        wcol_t *c = &w->cols[i];
        const char *lane = (const char *)b + schema_fields[c->field].offset;
        if (c->kind == PQ_IP) {
            memcpy(c->av + w->n, lane, n * sizeof(ipaddr_t));
        } else if (c->kind == PQ_INT64 || c->kind == PQ_TIME_MS) {
            memcpy(c->iv + w->n, lane, n * sizeof(int64_t));
        } else {
            const int64_t *v = (const int64_t *)(const void *)lane;
            int64_t lo, hi, *o = c->iv + w->n;
            uint64_t out = 0;
            kind_range(c->kind, &lo, &hi);
            for (size_t r = 0; r < n; r++) {
                int64_t x = v[r];
                out += x < lo || x > hi;
                o[r] = x < lo ? lo : x > hi ? hi : x;
            }
            w->st.clamped += out;
        }
    }
    w->n += n;
    return 0;
}

int pq_writer_add_rows(pq_writer_t *w, const value_t *rows, size_t nrows,
                       diag_t *err)
{
    if (w->failed) {
        diag_set(err, "parquet: the writer failed before");
        return -1;
    }
    writer_grow(w, nrows);
    for (size_t r = 0; r < nrows; r++) {
        const value_t *row = rows + r * w->ncols;
        size_t at = w->n + r;
        for (size_t i = 0; i < w->ncols; i++) {
            wcol_t *c = &w->cols[i];
            switch (c->kind) {
            case PQ_DOUBLE: c->dv[at] = row[i].f; break;
            case PQ_IP: c->av[at] = row[i].ip; break;
            case PQ_STRING: {
                const char *s = row[i].s ? row[i].s : "";
                size_t len = strlen(s);
                if (c->sdata.len + len > UINT32_MAX) {
                    diag_set(err, "parquet: column %s: more than 4 GiB of "
                             "text in one row group", c->name);
                    w->failed = 1;
                    return -1;
                }
                bb_put(&c->sdata, s, len);
                c->soff[at + 1] = (uint32_t)c->sdata.len;
                break;
            }
            case PQ_BOOL: c->iv[at] = row[i].i != 0; break;
            default: put_int(w, c, at, row[i].i); break;
            }
        }
    }
    w->n += nrows;
    return 0;
}

size_t pq_writer_pending(const pq_writer_t *w)
{
    return w->n;
}

void pq_writer_stats(const pq_writer_t *w, pq_writer_stats_t *out)
{
    *out = w->st;
}

/* ---- encoding a column chunk -------------------------------------------- */

/*
 * How a row group is encoded (pq_writer_flush):
 *   1. one pass per column: its min and max (the chunk's statistics),
 *      and whether it is constant;
 *   2. with opts.sort_by, the rows are put in the order of that column
 *      (a stable radix sort of its values), every non-constant column
 *      permuted alike;
 *   3. per column: a dictionary when it is wanted (a bloom filter needs
 *      the distinct values; DICT is the pick to try or keep), built
 *      without hashing where it can be (a constant, runs of the sorted
 *      column, a small integer range by table); the encoding: every
 *      TRIAL_EVERY row groups per column (and the first) a trial
 *      compresses a sample each way and keeps the smallest, the row
 *      groups between reuse that pick; then pages of opts.page_rows
 *      values, each with its min/max for the column index;
 *   4. bloom filters, column indexes, offset indexes after the chunks.
 */

enum { ENC_PLAIN, ENC_DICT, ENC_DELTA };

#define TRIAL_EVERY 16          /* row groups a column's pick is kept */
#define SMALL_RANGE 65536       /* int ranges given a dictionary by table */

/* What a pass over a chunk tells (the order of rows does not matter). */
typedef struct cprof {
    int64_t mn, mx;             /* int kinds */
    int     constant;           /* every value the same */
} cprof_t;

/* PLAIN encoding of n values: rows[0..n) if rows, else from..from+n. */
static void enc_plain(const wcol_t *c, size_t from, size_t n,
                      const uint32_t *rows, bbuf_t *out, uint64_t *scratch)
{
    switch (c->kind) {
    case PQ_BOOL:
        for (size_t i = 0; i < n; i++)
            scratch[i] = (uint64_t)c->iv[rows ? rows[i] : from + i];
        enc_bitpack(out, scratch, n, 1);
        break;
    case PQ_INT8: case PQ_INT16: case PQ_INT32: {
        bb_reserve(out, n * 4);
        uint8_t *o = out->p + out->len;
        if (rows)
            for (size_t i = 0; i < n; i++)
                wr_u32le(o + 4 * i, (uint32_t)c->iv[rows[i]]);
        else
            for (size_t i = 0; i < n; i++)
                wr_u32le(o + 4 * i, (uint32_t)c->iv[from + i]);
        out->len += n * 4;
        break;
    }
    case PQ_INT64: case PQ_TIME_MS:
        bb_reserve(out, n * 8);
        if (rows) {
            for (size_t i = 0; i < n; i++)
                wr_u64le(out->p + out->len + 8 * i, (uint64_t)c->iv[rows[i]]);
        } else {
            memcpy(out->p + out->len, c->iv + from, n * 8);  /* LE hosts */
        }
        out->len += n * 8;
        break;
    case PQ_DOUBLE:
        bb_reserve(out, n * 8);
        for (size_t i = 0; i < n; i++) {
            uint64_t u;
            memcpy(&u, &c->dv[rows ? rows[i] : from + i], 8);
            wr_u64le(out->p + out->len + 8 * i, u);
        }
        out->len += n * 8;
        break;
    case PQ_IP:
        bb_reserve(out, n * 16);
        if (rows)
            for (size_t i = 0; i < n; i++)
                memcpy(out->p + out->len + 16 * i, c->av[rows[i]].a, 16);
        else
            memcpy(out->p + out->len, c->av + from, n * 16);
        out->len += n * 16;
        break;
    case PQ_STRING:
        for (size_t i = 0; i < n; i++) {
            size_t r = rows ? rows[i] : from + i;
            uint32_t len = c->soff[r + 1] - c->soff[r];
            bb_u32le(out, len);
            bb_put(out, c->sdata.p + c->soff[r], len);
        }
        break;
    default:
        break;
    }
}

static uint64_t hash64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

/* An address as two numbers that compare as its bytes do. */
static inline void ip_key(const ipaddr_t *a, uint64_t *hi, uint64_t *lo)
{
    uint64_t h, l;
    memcpy(&h, a->a, 8);
    memcpy(&l, a->a + 8, 8);
    *hi = __builtin_bswap64(h);
    *lo = __builtin_bswap64(l);
}

static inline int key_lt(uint64_t ah, uint64_t al, uint64_t bh, uint64_t bl)
{
    return ah < bh || (ah == bh && al < bl);
}

static uint64_t row_hash(const wcol_t *c, size_t r)
{
    uint64_t a, b;
    switch (c->kind) {
    case PQ_IP:
        memcpy(&a, c->av[r].a, 8);
        memcpy(&b, c->av[r].a + 8, 8);
        return hash64(a ^ hash64(b));
    case PQ_STRING:
        return bloom_hash(c->sdata.p + c->soff[r], c->soff[r + 1] - c->soff[r]);
    case PQ_DOUBLE:
        memcpy(&a, &c->dv[r], 8);
        return hash64(a);
    default:
        return hash64((uint64_t)c->iv[r]);
    }
}

static int row_eq(const wcol_t *c, size_t x, size_t y)
{
    switch (c->kind) {
    case PQ_IP:
        return ipaddr_eq(&c->av[x], &c->av[y]);
    case PQ_STRING: {
        uint32_t lx = c->soff[x + 1] - c->soff[x];
        return lx == c->soff[y + 1] - c->soff[y] &&
               memcmp(c->sdata.p + c->soff[x], c->sdata.p + c->soff[y],
                      lx) == 0;
    }
    case PQ_DOUBLE:
        return memcmp(&c->dv[x], &c->dv[y], 8) == 0;
    default:
        return c->iv[x] == c->iv[y];
    }
}

/* The bloom filter hash of row r: XXH64 of its PLAIN bytes. */
static uint64_t value_hash(const wcol_t *c, size_t r)
{
    uint8_t b[8];
    switch (kind_physical(c->kind)) {
    case PT_INT32:
        wr_u32le(b, (uint32_t)c->iv[r]);
        return bloom_hash(b, 4);
    case PT_INT64:
        wr_u64le(b, (uint64_t)c->iv[r]);
        return bloom_hash(b, 8);
    case PT_DOUBLE:
        memcpy(b, &c->dv[r], 8);
        return bloom_hash(b, 8);
    case PT_FLBA:
        return bloom_hash(c->av[r].a, 16);
    case PT_BYTE_ARRAY:
        return bloom_hash(c->sdata.p + c->soff[r], c->soff[r + 1] - c->soff[r]);
    default:                                     /* BOOLEAN, bit-packed */
        b[0] = (uint8_t)(c->iv[r] & 1);
        return bloom_hash(b, 1);
    }
}

/* Room for the hash table of a dictionary of up to want entries. */
static size_t ht_prepare(pq_writer_t *w, size_t want)
{
    size_t cap = 1024;
    while (cap < 2 * want)
        cap *= 2;
    if (cap > w->htcap) {
        free(w->ht);
        free(w->hk);
        w->ht = xmalloc(cap * sizeof(uint32_t));
        w->hk = xmalloc(cap * sizeof(int64_t));
        w->htcap = cap;
    }
    memset(w->ht, 0, cap * sizeof(uint32_t));
    return cap - 1;
}

/*
 * Build the chunk's dictionary: w->idx[r] the entry of row r, w->drow[e]
 * the first row of entry e (entries in the order they first come).
 * Gives up (returns 0) past limit entries; else returns the entry count.
 * No hashing for a constant chunk, the sorted column (equal values are
 * adjacent) and an integer chunk of a small range (a table).
 */
static size_t dict_build(pq_writer_t *w, const wcol_t *c, const cprof_t *pf,
                         int sorted, size_t limit)
{
    size_t n = w->n, nd = 0;
    if (pf->constant) {
        memset(w->idx, 0, n * sizeof(uint32_t));
        w->drow[0] = 0;
        return 1;
    }
    if (sorted) {
        w->drow[0] = 0;
        w->idx[0] = 0;
        nd = 1;
        for (size_t r = 1; r < n; r++) {
            if (c->kind == PQ_IP ? !ipaddr_eq(&c->av[r - 1], &c->av[r])
                                 : !row_eq(c, r - 1, r)) {
                if (nd >= limit)
                    return 0;
                w->drow[nd++] = (uint32_t)r;
            }
            w->idx[r] = (uint32_t)(nd - 1);
        }
        return nd;
    }
    if (kind_is_int(c->kind) &&
        (uint64_t)pf->mx - (uint64_t)pf->mn < SMALL_RANGE) {
        size_t range = (size_t)((uint64_t)pf->mx - (uint64_t)pf->mn) + 1;
        if (range > w->tabcap) {
            free(w->tab);
            w->tab = xmalloc(SMALL_RANGE * sizeof(uint32_t));
            w->tabcap = SMALL_RANGE;
        }
        uint32_t *t = w->tab;
        memset(t, 0, range * sizeof(uint32_t));
        const int64_t *v = c->iv;
        int64_t mn = pf->mn;
        for (size_t r = 0; r < n; r++) {
            uint32_t *e = &t[(uint64_t)v[r] - (uint64_t)mn];
            if (!*e) {
                if (nd >= limit)
                    return 0;
                w->drow[nd] = (uint32_t)r;
                *e = (uint32_t)++nd;
            }
            w->idx[r] = *e - 1;
        }
        return nd;
    }
    size_t mask = ht_prepare(w, limit < n ? limit : n);
    if (kind_is_int(c->kind)) {           /* keys kept in the table */
        const int64_t *v = c->iv;
        for (size_t r = 0; r < n; r++) {
            size_t s = hash64((uint64_t)v[r]) & mask;
            for (;;) {
                uint32_t e = w->ht[s];
                if (e == 0) {
                    if (nd >= limit)
                        return 0;
                    w->drow[nd] = (uint32_t)r;
                    w->ht[s] = (uint32_t)++nd;
                    w->hk[s] = v[r];
                    w->idx[r] = (uint32_t)(nd - 1);
                    break;
                }
                if (w->hk[s] == v[r]) {
                    w->idx[r] = e - 1;
                    break;
                }
                s = (s + 1) & mask;
            }
        }
        return nd;
    }
    if (c->kind == PQ_IP) {               /* keys kept in the table */
        const ipaddr_t *v = c->av;
        if (w->hipcap < mask + 1) {
            free(w->hip);
            w->hip = xmalloc((mask + 1) * sizeof(ipaddr_t));
            w->hipcap = mask + 1;
        }
        for (size_t r = 0; r < n; r++) {
            uint64_t x, y;
            memcpy(&x, v[r].a, 8);
            memcpy(&y, v[r].a + 8, 8);
            size_t s = hash64(x ^ hash64(y)) & mask;
            for (;;) {
                uint32_t e = w->ht[s];
                if (e == 0) {
                    if (nd >= limit)
                        return 0;
                    w->drow[nd] = (uint32_t)r;
                    w->ht[s] = (uint32_t)++nd;
                    w->hip[s] = v[r];
                    w->idx[r] = (uint32_t)(nd - 1);
                    break;
                }
                uint64_t kx, ky;
                memcpy(&kx, w->hip[s].a, 8);
                memcpy(&ky, w->hip[s].a + 8, 8);
                if (kx == x && ky == y) {
                    w->idx[r] = e - 1;
                    break;
                }
                s = (s + 1) & mask;
            }
        }
        return nd;
    }
    for (size_t r = 0; r < n; r++) {
        size_t s = row_hash(c, r) & mask;
        for (;;) {
            uint32_t e = w->ht[s];
            if (e == 0) {
                if (nd >= limit)
                    return 0;
                w->drow[nd] = (uint32_t)r;
                w->ht[s] = (uint32_t)++nd;
                w->idx[r] = (uint32_t)(nd - 1);
                break;
            }
            if (row_eq(c, w->drow[e - 1], r)) {
                w->idx[r] = e - 1;
                break;
            }
            s = (s + 1) & mask;
        }
    }
    return nd;
}

static size_t zsize(pq_writer_t *w, const bbuf_t *b)
{
    size_t bound = ZSTD_compressBound(b->len);
    w->comp.len = 0;
    bb_reserve(&w->comp, bound);
    size_t k = ZSTD_compressCCtx(w->zc, w->comp.p, bound, b->p, b->len,
                                 w->level);
    return ZSTD_isError(k) ? b->len : k;
}

/* Min/max of rows [from, from+n) of c as PLAIN bytes into lo/hi (up to
 * STAT_MAX_LEN bytes each); *len their lengths. 0 if there are none
 * (NaNs only, strings too long for statistics). For the whole chunk it
 * also fills the profile. */
static int range_stats(const wcol_t *c, size_t from, size_t n, uint8_t *lo,
                       uint32_t *llen, uint8_t *hi, uint32_t *hlen,
                       cprof_t *pf)
{
    if (kind_is_int(c->kind)) {
        const int64_t *v = c->iv + from;
        int64_t mn = v[0], mx = v[0], mn2 = v[0], mx2 = v[0];
        size_t i = 1;
        for (; i + 1 < n; i += 2) {     /* two chains: twice the pace */
            mn = v[i] < mn ? v[i] : mn;
            mx = v[i] > mx ? v[i] : mx;
            mn2 = v[i + 1] < mn2 ? v[i + 1] : mn2;
            mx2 = v[i + 1] > mx2 ? v[i + 1] : mx2;
        }
        for (; i < n; i++) {
            mn = v[i] < mn ? v[i] : mn;
            mx = v[i] > mx ? v[i] : mx;
        }
        mn = mn2 < mn ? mn2 : mn;
        mx = mx2 > mx ? mx2 : mx;
        uint32_t len = kind_physical(c->kind) == PT_INT64 ? 8
                     : kind_physical(c->kind) == PT_INT32 ? 4 : 1;
        wr_u64le(lo, (uint64_t)mn);
        wr_u64le(hi, (uint64_t)mx);
        *llen = *hlen = len;
        if (pf) {
            pf->mn = mn;
            pf->mx = mx;
            pf->constant = mn == mx;
        }
        return 1;
    }
    if (c->kind == PQ_IP) {
        const ipaddr_t *v = c->av + from;
        uint64_t nh, nl, xh, xl;
        size_t mn = 0, mx = 0;
        ip_key(&v[0], &nh, &nl);
        xh = nh;
        xl = nl;
        for (size_t i = 1; i < n; i++) {
            uint64_t h, l;
            ip_key(&v[i], &h, &l);
            if (key_lt(h, l, nh, nl)) {
                nh = h;
                nl = l;
                mn = i;
            }
            if (key_lt(xh, xl, h, l)) {
                xh = h;
                xl = l;
                mx = i;
            }
        }
        memcpy(lo, v[mn].a, 16);
        memcpy(hi, v[mx].a, 16);
        *llen = *hlen = 16;
        if (pf)
            pf->constant = nh == xh && nl == xl;
        return 1;
    }
    if (c->kind == PQ_DOUBLE) {
        double mn = 0, mx = 0;
        int any = 0;
        uint64_t first, cur;
        memcpy(&first, &c->dv[from], 8);
        int same = 1;
        for (size_t i = 0; i < n; i++) {
            double v = c->dv[from + i];
            memcpy(&cur, &v, 8);
            same &= cur == first;
            if (v != v)
                continue;                        /* NaN takes no part */
            if (!any || v < mn)
                mn = v;
            if (!any || v > mx)
                mx = v;
            any = 1;
        }
        if (pf)
            pf->constant = same;
        if (!any)
            return 0;
        if (mn == 0)
            mn = -0.0;
        if (mx == 0)
            mx = 0.0;
        memcpy(lo, &mn, 8);
        memcpy(hi, &mx, 8);
        *llen = *hlen = 8;
        return 1;
    }
    /* PQ_STRING */
    size_t mn = from, mx = from;
    int same = 1, ok = 1;
    for (size_t i = from; i < from + n; i++) {
        uint32_t l = c->soff[i + 1] - c->soff[i];
        if (l > STAT_MAX_LEN)
            ok = 0;
        for (int k = 0; k < 3; k++) {
            size_t o = k == 0 ? mn : k == 1 ? mx : from;
            uint32_t lo_ = c->soff[o + 1] - c->soff[o];
            int cmp = memcmp(c->sdata.p + c->soff[i], c->sdata.p + c->soff[o],
                             l < lo_ ? l : lo_);
            if (cmp == 0)
                cmp = l < lo_ ? -1 : l > lo_;
            if (k == 0 && cmp < 0)
                mn = i;
            if (k == 1 && cmp > 0)
                mx = i;
            if (k == 2 && cmp != 0)
                same = 0;
        }
    }
    if (pf)
        pf->constant = same;
    if (!ok)
        return 0;
    *llen = c->soff[mn + 1] - c->soff[mn];
    *hlen = c->soff[mx + 1] - c->soff[mx];
    memcpy(lo, c->sdata.p + c->soff[mn], *llen);
    memcpy(hi, c->sdata.p + c->soff[mx], *hlen);
    return 1;
}

/* The chunk's profile and statistics (min/max in the arena). */
static void chunk_stats(pq_writer_t *w, const wcol_t *c, cprof_t *pf,
                        pqm_stats_t *st)
{
    uint8_t lo[STAT_MAX_LEN + 8], hi[STAT_MAX_LEN + 8];
    uint32_t ll, hl;
    memset(st, 0, sizeof(*st));
    memset(pf, 0, sizeof(*pf));
    st->has_null_count = 1;
    if (!range_stats(c, 0, w->n, lo, &ll, hi, &hl, pf))
        return;
    uint8_t *a = arena_alloc(w->a, ll + 1), *b = arena_alloc(w->a, hl + 1);
    memcpy(a, lo, ll);
    memcpy(b, hi, hl);
    st->min_value = (pqm_bin_t){a, ll, 1};
    st->max_value = (pqm_bin_t){b, hl, 1};
}

/* One page: header and data (compressed unless raw) appended to the row
 * group; its location (file offset, bytes) into *loc. */
static void put_page(pq_writer_t *w, pqm_colmeta_t *m, int type, int enc,
                     size_t nvals, const bbuf_t *data, pqm_pageloc_t *loc,
                     int raw)
{
    const uint8_t *out = data->p;
    size_t k = data->len;
    if (!raw) {
        size_t bound = ZSTD_compressBound(data->len);
        w->comp.len = 0;
        bb_reserve(&w->comp, bound);
        k = ZSTD_compressCCtx(w->zc, w->comp.p, bound, data->p, data->len,
                              w->level);
        if (ZSTD_isError(k))
            abort();         /* cannot fail with a big enough buffer */
        out = w->comp.p;
    }
    pqm_page_t pg = {
        .type = type, .usize = (int32_t)data->len, .csize = (int32_t)k,
        .num_values = (int32_t)nvals, .encoding = enc,
        .def_encoding = PE_RLE, .rep_encoding = PE_RLE,
    };
    tw_reset(&w->tw);
    pqm_write_page(&w->tw, &pg);
    if (loc) {
        loc->offset = (int64_t)(w->off + w->rg.len);
        loc->size = (int32_t)(w->tw.len + k);
    }
    bb_put(&w->rg, w->tw.buf, w->tw.len);
    bb_put(&w->rg, out, k);
    m->total_compressed_size += (int64_t)(w->tw.len + k);
    m->total_uncompressed_size += (int64_t)(w->tw.len + data->len);
}

/* Encode values [from, from+n) of the chunk as enc into w->enc. */
static void enc_values(pq_writer_t *w, const wcol_t *c, int enc, size_t from,
                       size_t n, size_t ndict, int constant)
{
    w->enc.len = 0;
    if (enc == ENC_DICT) {
        int bw = bits_for(ndict - 1);
        bw = bw ? bw : 1;
        bb_u8(&w->enc, (uint8_t)bw);
        if (constant) {                 /* one run of entry 0 */
            bb_varint(&w->enc, (uint64_t)n << 1);
            for (int k = 0; k < (bw + 7) / 8; k++)
                bb_u8(&w->enc, 0);
        } else {
            enc_hybrid(&w->enc, w->idx + from, n, bw);
        }
    } else if (enc == ENC_DELTA) {
        enc_delta(&w->enc, c->iv + from, n, kind_physical(c->kind) == PT_INT32);
    } else {
        enc_plain(c, from, n, NULL, &w->enc, w->u64);
    }
}

/*
 * Pick the chunk's encoding, and whether its pages are compressed, by a
 * trial on a sample (the first SAMPLE_ROWS rows, and of the dictionary's
 * entries): each encoding's size for the whole chunk is estimated raw
 * and compressed, and the pick costs least, where a byte stored costs
 * as much as ZIN_PER_BYTE bytes given to ZSTD (its time grows with its
 * input: PLAIN addresses, 16 bytes a value, are costly to compress when
 * a dictionary's indices are 2). *raw is set when compressing does not
 * pay (the chunk is written UNCOMPRESSED).
 */
#define ZIN_PER_BYTE 16

static int choose_encoding(pq_writer_t *w, const wcol_t *c, size_t ndict,
                           int *raw)
{
    size_t n = w->n, s = n < SAMPLE_ROWS ? n : SAMPLE_ROWS;
    double scale = (double)n / (double)s, best = 0;
    int can_delta = kind_is_int(c->kind) && c->kind != PQ_BOOL;
    int pick = ENC_PLAIN;
    *raw = 0;
    for (int enc = ENC_PLAIN; enc <= ENC_DELTA; enc++) {
        if ((enc == ENC_DICT && !ndict) || (enc == ENC_DELTA && !can_delta))
            continue;
        enc_values(w, c, enc, 0, s, ndict, 0);
        double r = (double)w->enc.len * scale;
        double z = (double)zsize(w, &w->enc) * scale;
        if (enc == ENC_DICT) {
            size_t ds = ndict < SAMPLE_ROWS ? ndict : SAMPLE_ROWS;
            double dscale = (double)ndict / (double)ds;
            w->enc.len = 0;
            enc_plain(c, 0, ds, w->drow, &w->enc, w->u64);
            r += (double)w->enc.len * dscale;
            z += (double)zsize(w, &w->enc) * dscale;
        }
        double cz = z + r / ZIN_PER_BYTE;
        if (enc == ENC_PLAIN || cz < best || r < best) {
            pick = enc;
            *raw = r <= cz;
            best = r <= cz ? r : cz;
        }
    }
    return pick;
}

/* Page i's min or max: into the column index under construction. */
static void pidx_put(pq_writer_t *w, size_t i, const uint8_t *lo,
                     uint32_t ll, const uint8_t *hi, uint32_t hl)
{
    w->pmin[i] = (pqm_bin_t){NULL, ll, 1};
    w->pmax[i] = (pqm_bin_t){NULL, hl, 1};
    w->pmoff[2 * i] = (uint32_t)w->pmm.len;
    bb_put(&w->pmm, lo, ll);
    w->pmoff[2 * i + 1] = (uint32_t)w->pmm.len;
    bb_put(&w->pmm, hi, hl);
}

/* Encode column c of the pending rows as a chunk; its bloom filter (if
 * any) into *bloom, its column and offset indexes appended to w->cib and
 * w->oib (offsets relative to them in the chunk). */
static void encode_chunk(pq_writer_t *w, wcol_t *c, const cprof_t *pf,
                         int sorted, pqm_chunk_t *ch, uint8_t **bloom,
                         uint32_t *bloom_bytes)
{
    pqm_colmeta_t *m = &ch->meta;
    size_t n = w->n;
    uint64_t base = w->off + w->rg.len;
    m->type = kind_physical(c->kind);
    m->path = c->name;
    m->num_values = (int64_t)n;
    m->has_stats = m->stats.min_value.set;

    /* The dictionary, when wanted; the encoding. */
    int want_bloom = (c->flags & PQ_COL_BLOOM) != 0;
    int can_dict = c->kind != PQ_BOOL && c->kind != PQ_DOUBLE;
    int trial = c->pick < 0 || c->age >= TRIAL_EVERY;
    size_t ndict = 0;
    int enc;
    /* A dictionary of at most DICT_PAGES pages' worth of entries: a
     * reader of one page reads the whole dictionary too. */
    size_t dmax = DICT_PAGES * w->page_rows;
    if (can_dict && (pf->constant || want_bloom || trial ||
                     c->pick == ENC_DICT)) {
        size_t limit = want_bloom ? n : dmax < n ? dmax : n;
        ndict = dict_build(w, c, pf, sorted, limit < DICT_MAX ? limit
                                                              : DICT_MAX);
    }
    size_t nd_enc = ndict <= dmax ? ndict : 0;   /* usable for DICT */
    if (pf->constant && ndict) {
        enc = ENC_DICT;                  /* one entry, one run a page */
    } else if (trial || (c->pick == ENC_DICT && !nd_enc)) {
        enc = choose_encoding(w, c, nd_enc, &c->raw);
        c->pick = enc;
        c->age = 0;
    } else {
        enc = c->pick;
    }
    c->age++;
    /* a constant chunk's pages are a few bytes: not worth compressing */
    int raw = pf->constant && ndict ? 1 : c->raw;
    m->codec = raw ? PC_UNCOMPRESSED : PC_ZSTD;

    *bloom = NULL;
    if (want_bloom) {
        uint64_t ndv = ndict ? ndict : n;
        uint32_t nb = bloom_size(ndv, BLOOM_FPP);
        uint8_t *bits = xcalloc(1, nb);
        for (size_t e = 0; e < ndv; e++)
            bloom_insert(bits, nb, value_hash(c, ndict ? w->drow[e] : e));
        *bloom = bits;
        *bloom_bytes = nb;
    }

    if (enc == ENC_DICT) {
        m->has_dict_offset = 1;
        m->dictionary_page_offset = (int64_t)base;
        w->dict.len = 0;
        enc_plain(c, 0, ndict, w->drow, &w->dict, w->u64);
        put_page(w, m, PG_DICTIONARY, PE_PLAIN, ndict, &w->dict, NULL, raw);
        m->encodings = 1u << PE_PLAIN | 1u << PE_RLE_DICTIONARY;
    } else {
        m->encodings = 1u << (enc == ENC_DELTA ? PE_DELTA_BINARY_PACKED
                                               : PE_PLAIN);
    }
    m->data_page_offset = (int64_t)(w->off + w->rg.len);
    int penc = enc == ENC_DICT ? PE_RLE_DICTIONARY
             : enc == ENC_DELTA ? PE_DELTA_BINARY_PACKED : PE_PLAIN;

    /* Data pages, each with its min/max. */
    size_t pr = w->page_rows, np = (n + pr - 1) / pr;
    int have_ci = m->has_stats && (w->sort_col < 0 || sorted), asc = 1;
    uint64_t ph = 0, pl = 0, pxh = 0, pxl = 0;
    int64_t pmn = 0, pmx = 0;
    w->pmm.len = 0;
    for (size_t p = 0, from = 0; p < np; p++, from += pr) {
        size_t k = n - from < pr ? n - from : pr;
        if (have_ci) {
            uint8_t lo[STAT_MAX_LEN + 8], hi[STAT_MAX_LEN + 8];
            uint32_t ll, hl;
            if (pf->constant) {
                pidx_put(w, p, m->stats.min_value.p, m->stats.min_value.len,
                         m->stats.max_value.p, m->stats.max_value.len);
            } else if (range_stats(c, from, k, lo, &ll, hi, &hl, NULL)) {
                pidx_put(w, p, lo, ll, hi, hl);
                /* ascending: each bound at least the page before's */
                if (kind_is_int(c->kind)) {
                    int64_t a = (int64_t)rd_u64le(lo), b = (int64_t)rd_u64le(hi);
                    if (p && (a < pmn || b < pmx))
                        asc = 0;
                    pmn = a;
                    pmx = b;
                } else if (c->kind == PQ_IP) {
                    uint64_t h, l, xh, xl;
                    ip_key((const ipaddr_t *)(const void *)lo, &h, &l);
                    ip_key((const ipaddr_t *)(const void *)hi, &xh, &xl);
                    if (p && (key_lt(h, l, ph, pl) || key_lt(xh, xl, pxh, pxl)))
                        asc = 0;
                    ph = h, pl = l, pxh = xh, pxl = xl;
                } else {
                    asc = 0;
                }
            } else {
                have_ci = 0;        /* NaNs only, or a string too long */
            }
        }
        enc_values(w, c, enc, from, k, ndict, pf->constant);
        w->ploc[p].first_row = (int64_t)from;
        put_page(w, m, PG_DATA, penc, k, &w->enc, &w->ploc[p], raw);
    }
    ch->file_offset = (int64_t)base;

    /* The page index, serialized now (positions fixed by the caller). */
    pqm_offidx_t oi = {.pages = w->ploc, .n = (uint32_t)np};
    tw_reset(&w->tw);
    pqm_write_offidx(&w->tw, &oi);
    ch->has_oi = 1;
    ch->oi_offset = (int64_t)w->oib.len;
    ch->oi_length = (int32_t)w->tw.len;
    bb_put(&w->oib, w->tw.buf, w->tw.len);
    if (have_ci) {
        for (size_t p = 0; p < np; p++) {
            w->pmin[p].p = w->pmm.p + w->pmoff[2 * p];
            w->pmax[p].p = w->pmm.p + w->pmoff[2 * p + 1];
        }
        pqm_colidx_t ci = {.null_pages = w->pnull, .mins = w->pmin,
                           .maxs = w->pmax, .n = (uint32_t)np,
                           .order = asc && (kind_is_int(c->kind) ||
                                            c->kind == PQ_IP)
                                        ? PB_ASCENDING : PB_UNORDERED};
        tw_reset(&w->tw);
        pqm_write_colidx(&w->tw, &ci);
        ch->has_ci = 1;
        ch->ci_offset = (int64_t)w->cib.len;
        ch->ci_length = (int32_t)w->tw.len;
        bb_put(&w->cib, w->tw.buf, w->tw.len);
    }
}

/* ---- sorting a row group ------------------------------------------------- */

typedef struct skey {
    uint64_t hi, lo;
    uint32_t row;
} skey_t;

static inline uint64_t vl_mask(int bits)
{
    return bits >= 64 ? ~0ull : (1ull << bits) - 1;
}

/* Row r of the sorted column from its key, into the swap buffer. */
static inline void put_key(pq_writer_t *w, const wcol_t *c, size_t r,
                           uint64_t hi, uint64_t lo)
{
    if (c->kind == PQ_IP) {
        hi = __builtin_bswap64(hi);
        lo = __builtin_bswap64(lo);
        memcpy(w->t16[r].a, &hi, 8);
        memcpy(w->t16[r].a + 8, &lo, 8);
    } else {
        w->t8[r] = (int64_t)(lo ^ (1ull << 63));
    }
}

/* The swap buffer filled by put_key becomes the column's values. */
static void swap_sorted(pq_writer_t *w, wcol_t *c)
{
    if (c->kind == PQ_IP) {
        ipaddr_t *t = w->t16;
        w->t16 = c->av;
        c->av = t;
    } else {
        int64_t *t = w->t8;
        w->t8 = c->iv;
        c->iv = t;
    }
}

/* w->perm: the pending rows in the order of column c's values (numbers
 * as signed, addresses as unsigned bytes), equal values in the order
 * they came: a least-significant-digit radix sort over the bits of the
 * key that differ between rows. When those are the low 32 bits of the
 * key at most (IPv4 addresses, ports), keys and rows are packed in one
 * word and sorted 11 bits a pass. The column itself comes out sorted
 * (from the keys). */
static void sort_rows(pq_writer_t *w, const wcol_t *c)
{
    size_t n = w->n;
    skey_t *a = w->sk, *b = w->sk2;
    uint64_t vh = 0, vl = 0;
    for (size_t r = 0; r < n; r++) {
        if (c->kind == PQ_IP) {
            ip_key(&c->av[r], &a[r].hi, &a[r].lo);
        } else {
            a[r].hi = 0;
            a[r].lo = (uint64_t)c->iv[r] ^ (1ull << 63);
        }
        a[r].row = (uint32_t)r;
        vh |= a[r].hi ^ a[0].hi;
        vl |= a[r].lo ^ a[0].lo;
    }
    if (vh == 0 && bits_for(vl) <= 32) {
        int bits = bits_for(vl);
        uint64_t *x = (uint64_t *)(void *)b, *y = x + n;
        for (size_t r = 0; r < n; r++)      /* the higher bits are equal */
            x[r] = (a[r].lo & vl_mask(bits)) << 32 | r;
        for (int sh = 32; sh < 32 + bits; sh += 11) {
            size_t cnt[2048] = {0};
            for (size_t r = 0; r < n; r++)
                cnt[(x[r] >> sh) & 2047]++;
            size_t pos = 0;
            for (int d = 0; d < 2048; d++) {
                size_t k = cnt[d];
                cnt[d] = pos;
                pos += k;
            }
            for (size_t r = 0; r < n; r++)
                y[cnt[(x[r] >> sh) & 2047]++] = x[r];
            uint64_t *t = x;
            x = y;
            y = t;
        }
        uint64_t hi = a[0].hi, keep = a[0].lo & ~vl_mask(bits);
        for (size_t r = 0; r < n; r++)
            w->perm[r] = (uint32_t)x[r];
        for (size_t r = 0; r < n; r++)      /* the sorted column itself */
            put_key(w, c, r, hi, keep | x[r] >> 32);
        swap_sorted(w, (wcol_t *)c);
        return;
    }
    for (int pass = 0; pass < 16; pass++) {
        int sh = (pass & 7) * 8, high = pass >= 8;
        if (!(((high ? vh : vl) >> sh) & 0xff))
            continue;                    /* the same in every row */
        size_t cnt[256] = {0};
        for (size_t r = 0; r < n; r++)
            cnt[((high ? a[r].hi : a[r].lo) >> sh) & 0xff]++;
        size_t pos = 0;
        for (int d = 0; d < 256; d++) {
            size_t k = cnt[d];
            cnt[d] = pos;
            pos += k;
        }
        for (size_t r = 0; r < n; r++)
            b[cnt[((high ? a[r].hi : a[r].lo) >> sh) & 0xff]++] = a[r];
        skey_t *t = a;
        a = b;
        b = t;
    }
    for (size_t r = 0; r < n; r++) {
        w->perm[r] = a[r].row;
        put_key(w, c, r, a[r].hi, a[r].lo);
    }
    swap_sorted(w, (wcol_t *)c);
}

/* Put column c's pending values in the order of w->perm. */
static void permute(pq_writer_t *w, wcol_t *c)
{
    const uint32_t *p = w->perm;
    size_t n = w->n;
    switch (c->kind) {
    case PQ_IP: {
        ipaddr_t *t = w->t16;
        for (size_t r = 0; r < n; r++)
            t[r] = c->av[p[r]];
        w->t16 = c->av;
        c->av = t;
        break;
    }
    case PQ_DOUBLE: {
        double *t = w->tdv;
        for (size_t r = 0; r < n; r++)
            t[r] = c->dv[p[r]];
        w->tdv = c->dv;
        c->dv = t;
        break;
    }
    case PQ_STRING: {
        uint32_t *t = w->tsoff;
        w->tsdata.len = 0;
        t[0] = 0;
        for (size_t r = 0; r < n; r++) {
            uint32_t o = c->soff[p[r]], len = c->soff[p[r] + 1] - o;
            bb_put(&w->tsdata, c->sdata.p + o, len);
            t[r + 1] = (uint32_t)w->tsdata.len;
        }
        w->tsoff = c->soff;
        c->soff = t;
        bbuf_t sb = w->tsdata;
        w->tsdata = c->sdata;
        c->sdata = sb;
        break;
    }
    default: {
        int64_t *t = w->t8;
        for (size_t r = 0; r < n; r++)
            t[r] = c->iv[p[r]];
        w->t8 = c->iv;
        c->iv = t;
        break;
    }
    }
}

/* Scratch for a flush of n rows (columns hold w->cap rows). */
static void flush_scratch(pq_writer_t *w, size_t n)
{
    size_t np = (n + w->page_rows - 1) / w->page_rows + 1;
    w->idx = xrealloc(w->idx, n * sizeof(uint32_t));
    w->drow = xrealloc(w->drow, n * sizeof(uint32_t));
    w->u64 = xrealloc(w->u64, n * sizeof(uint64_t));
    w->ploc = xrealloc(w->ploc, np * sizeof(*w->ploc));
    w->pmin = xrealloc(w->pmin, np * sizeof(*w->pmin));
    w->pmax = xrealloc(w->pmax, np * sizeof(*w->pmax));
    w->pmoff = xrealloc(w->pmoff, 2 * np * sizeof(*w->pmoff));
    w->pnull = xrealloc(w->pnull, np);
    memset(w->pnull, 0, np);
    if (w->sort_col < 0)
        return;
    w->perm = xrealloc(w->perm, n * sizeof(uint32_t));
    w->sk = xrealloc(w->sk, n * sizeof(skey_t));
    w->sk2 = xrealloc(w->sk2, n * sizeof(skey_t));
    if (w->scap != w->cap) {             /* swapped with the columns' */
        w->scap = w->cap;
        w->t8 = xrealloc(w->t8, w->cap * sizeof(int64_t));
        w->t16 = xrealloc(w->t16, w->cap * sizeof(ipaddr_t));
        w->tdv = xrealloc(w->tdv, w->cap * sizeof(double));
        w->tsoff = xrealloc(w->tsoff, (w->cap + 1) * sizeof(uint32_t));
    }
}

int pq_writer_flush(pq_writer_t *w, diag_t *err)
{
    if (w->failed) {
        diag_set(err, "parquet: the writer failed before");
        return -1;
    }
    if (w->n == 0)
        return 0;
    size_t n = w->n;
    flush_scratch(w, n);
    pqm_rowgroup_t rg = {0};
    rg.ncols = (uint32_t)w->ncols;
    rg.cols = arena_alloc(w->a, w->ncols * sizeof(pqm_chunk_t));
    memset(rg.cols, 0, w->ncols * sizeof(pqm_chunk_t));
    rg.num_rows = (int64_t)n;
    rg.has_file_offset = rg.has_total_compressed = 1;
    rg.file_offset = (int64_t)w->off;
    cprof_t prof[PQ_MAX_COLUMNS];
    for (size_t i = 0; i < w->ncols; i++) {
        rg.cols[i].has_meta = 1;
        chunk_stats(w, &w->cols[i], &prof[i], &rg.cols[i].meta.stats);
    }
    if (w->sort_col >= 0 && !prof[w->sort_col].constant) {
        sort_rows(w, &w->cols[w->sort_col]);
        for (size_t i = 0; i < w->ncols; i++)
            if (!prof[i].constant && (int)i != w->sort_col)
                permute(w, &w->cols[i]);
    }
    if (w->sort_col >= 0) {
        rg.has_sort = 1;
        rg.sort_col = w->sort_col;
    }
    uint8_t *blooms[PQ_MAX_COLUMNS];
    uint32_t bloom_bytes[PQ_MAX_COLUMNS];
    w->rg.len = w->cib.len = w->oib.len = 0;
    for (size_t i = 0; i < w->ncols; i++) {
        encode_chunk(w, &w->cols[i], &prof[i], (int)i == w->sort_col,
                     &rg.cols[i], &blooms[i], &bloom_bytes[i]);
        rg.total_byte_size += rg.cols[i].meta.total_uncompressed_size;
        rg.total_compressed_size += rg.cols[i].meta.total_compressed_size;
    }
    for (size_t i = 0; i < w->ncols; i++) {
        if (!blooms[i])
            continue;
        pqm_colmeta_t *m = &rg.cols[i].meta;
        pqm_bloom_t bh = {.num_bytes = (int32_t)bloom_bytes[i]};
        tw_reset(&w->tw);
        pqm_write_bloom(&w->tw, &bh);
        m->has_bloom = 1;
        m->bloom_offset = (int64_t)(w->off + w->rg.len);
        m->bloom_length = (int32_t)(w->tw.len + bloom_bytes[i]);
        bb_put(&w->rg, w->tw.buf, w->tw.len);
        bb_put(&w->rg, blooms[i], bloom_bytes[i]);
        free(blooms[i]);
    }
    /* The page indexes: column indexes, then offset indexes. */
    uint64_t ci_at = w->off + w->rg.len;
    bb_put(&w->rg, w->cib.p, w->cib.len);
    uint64_t oi_at = w->off + w->rg.len;
    bb_put(&w->rg, w->oib.p, w->oib.len);
    for (size_t i = 0; i < w->ncols; i++) {
        pqm_chunk_t *ch = &rg.cols[i];
        if (ch->has_ci)
            ch->ci_offset += (int64_t)ci_at;
        if (ch->has_oi)
            ch->oi_offset += (int64_t)oi_at;
    }
    if (write_all(w->fd, w->rg.p, w->rg.len) < 0)
        return werr(w, err, "%s: write: %s", w->opath ? w->opath : "parquet",
                    strerror(errno));
    w->off += w->rg.len;
    if (w->jfd >= 0) {
        if (w->sync && fdatasync(w->fd) < 0)
            return werr(w, err, "%s: fdatasync: %s", w->opath,
                        strerror(errno));
        tw_reset(&w->tw);
        pqm_write_rowgroup(&w->tw, &rg);
        w->jb.len = 0;
        journal_record(&w->jb, 'R', w->off, w->tw.buf, w->tw.len);
        if (write_all(w->jfd, w->jb.p, w->jb.len) < 0)
            return werr(w, err, "%s: write: %s", w->jpath, strerror(errno));
    }
    if (w->meta.nrgs == w->rgcap) {
        w->rgcap = w->rgcap ? w->rgcap * 2 : 16;
        pqm_rowgroup_t *a = arena_alloc(w->a, w->rgcap * sizeof(*a));
        if (w->meta.nrgs)
            memcpy(a, w->meta.rgs, w->meta.nrgs * sizeof(*a));
        w->meta.rgs = a;
    }
    w->meta.rgs[w->meta.nrgs++] = rg;
    w->meta.num_rows += (int64_t)n;
    w->st.rows += n;
    w->st.row_groups++;
    w->st.bytes = w->off;
    w->n = 0;
    for (size_t i = 0; i < w->ncols; i++)
        w->cols[i].sdata.len = 0;
    return 0;
}

/* The footer: metadata, its length, the magic. */
static void footer(tw_t *t, const pqm_file_t *m)
{
    uint8_t tail[8];
    tw_reset(t);
    pqm_write_file(t, m);
    wr_u32le(tail, (uint32_t)t->len);
    memcpy(tail + 4, "PAR1", 4);
    tw_raw(t, tail, 8);
}

int pq_writer_close(pq_writer_t *w, diag_t *err)
{
    int rc = -1;
    if (pq_writer_flush(w, err) < 0)
        goto out;
    footer(&w->tw, &w->meta);
    if (write_all(w->fd, w->tw.buf, w->tw.len) < 0) {
        diag_set(err, "%s: write: %s", w->opath ? w->opath : "parquet",
                 strerror(errno));
        goto out;
    }
    w->off += w->tw.len;
    if (w->path) {
        if (w->sync && fsync(w->fd) < 0) {
            diag_set(err, "%s: fsync: %s", w->opath, strerror(errno));
            goto out;
        }
        if (renameat2(AT_FDCWD, w->opath, AT_FDCWD, w->path,
                      RENAME_NOREPLACE) < 0) {
            diag_set(err, "%s: rename: %s", w->opath, strerror(errno));
            goto out;
        }
        unlink(w->jpath);
    }
    rc = 0;
out:
    if (w->path) {
        close(w->fd);
        close(w->jfd);
    }
    writer_free(w);
    return rc;
}

void pq_writer_abandon(pq_writer_t *w)
{
    if (!w)
        return;
    if (w->path) {
        close(w->fd);
        close(w->jfd);
    }
    writer_free(w);
}

/* ---- recovery ----------------------------------------------------------- */

int pq_recover(const char *path, uint64_t *kept, diag_t *err)
{
    char *opath = pq_path_with(path, ".open");
    char *jpath = pq_path_with(path, ".journal");
    arena_t *a = arena_new();
    uint8_t *j = NULL;
    size_t jn = 0;
    int rc = -1, fd = -1;
    tw_t t;
    tw_init(&t);
    if (kept)
        *kept = 0;
    fd = open(opath, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        diag_set(err, "%s: %s", opath,
                 fd < 0 ? strerror(errno) : "not a regular file");
        goto out;
    }
    diag_t jerr = {0};
    j = (uint8_t *)file_read_regular(jpath, PQ_JOURNAL_MAX, &jn, &jerr);
    pqm_file_t meta;
    uint64_t end = 4;
    if (!j || journal_parse(j, jn, (uint64_t)st.st_size, a, &meta, &end,
                            NULL) < 0 || meta.nrgs == 0) {
        /* Nothing was flushed (or the journal is gone): nothing to keep. */
        if (unlink(opath) < 0) {
            diag_set(err, "%s: unlink: %s", opath, strerror(errno));
            goto out;
        }
        unlink(jpath);
        rc = 0;
        goto out;
    }
    /* Row groups whose chunks lie whole in the file; the cut follows. */
    meta.column_orders = 1;
    footer(&t, &meta);
    if (ftruncate(fd, (off_t)end) < 0 ||
        pwrite(fd, t.buf, t.len, (off_t)end) != (ssize_t)t.len ||
        fsync(fd) < 0) {
        diag_set(err, "%s: %s", opath, strerror(errno));
        goto out;
    }
    if (renameat2(AT_FDCWD, opath, AT_FDCWD, path, RENAME_NOREPLACE) < 0) {
        diag_set(err, "%s: rename: %s", opath, strerror(errno));
        goto out;
    }
    unlink(jpath);
    if (kept)
        *kept = meta.nrgs;
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    free(j);
    tw_free(&t);
    arena_free(a);
    free(opath);
    free(jpath);
    return rc;
}
