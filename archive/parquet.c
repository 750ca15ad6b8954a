/*
 * parquet.c - the Parquet writer, its journal and crash recovery; see
 * parquet.h. The reader is pqread.c, the encodings pqenc.c.
 *
 * A writer keeps the rows of the pending row group by column in memory.
 * pq_writer_flush() encodes each column chunk: statistics, a dictionary
 * when the values repeat enough, the encoding that compresses best on a
 * sample (PLAIN, RLE_DICTIONARY or DELTA_BINARY_PACKED), data pages v1
 * of up to PAGE_ROWS values compressed with ZSTD, then the bloom filters
 * of the row group; the whole row group goes out in one write, then its
 * metadata to the journal.
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

#define PAGE_ROWS    65536      /* values per data page */
#define SAMPLE_ROWS  8192       /* rows the encoding trial compresses */
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
    uint32_t        *idx;       /* dictionary index per row */
    uint32_t        *drow;      /* dictionary entry -> first row */
    uint32_t        *ht;        /* dictionary hash table (entry + 1) */
    size_t           htcap;
    uint64_t        *u64;       /* scratch */
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
    free(w->u64);
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
    pq_writer_t *w = xcalloc(1, sizeof(*w));
    w->fd = w->jfd = -1;
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
            for (size_t r = 0; r < n; r++)
                put_int(w, c, w->n + r, v[r]);
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
    case PQ_INT8: case PQ_INT16: case PQ_INT32:
        bb_reserve(out, n * 4);
        for (size_t i = 0; i < n; i++)
            wr_u32le(out->p + out->len + 4 * i,
                     (uint32_t)c->iv[rows ? rows[i] : from + i]);
        out->len += n * 4;
        break;
    case PQ_INT64: case PQ_TIME_MS:
        bb_reserve(out, n * 8);
        for (size_t i = 0; i < n; i++)
            wr_u64le(out->p + out->len + 8 * i,
                     (uint64_t)c->iv[rows ? rows[i] : from + i]);
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
        for (size_t i = 0; i < n; i++)
            memcpy(out->p + out->len + 16 * i,
                   c->av[rows ? rows[i] : from + i].a, 16);
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

/*
 * Build the chunk's dictionary: w->idx[r] the entry of row r, w->drow[e]
 * the first row of entry e. Gives up (returns 0) past limit entries;
 * else returns the entry count.
 */
static size_t dict_build(pq_writer_t *w, const wcol_t *c, size_t limit)
{
    size_t n = w->n;
    size_t cap = 1024;
    while (cap < 2 * (limit < n ? limit : n))
        cap *= 2;
    if (cap > w->htcap) {
        free(w->ht);
        w->ht = xmalloc(cap * sizeof(uint32_t));
        w->htcap = cap;
    }
    memset(w->ht, 0, cap * sizeof(uint32_t));
    size_t mask = cap - 1, nd = 0;
    if (kind_is_int(c->kind)) {           /* the common case, no dispatch */
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
                    w->idx[r] = (uint32_t)(nd - 1);
                    break;
                }
                if (v[w->drow[e - 1]] == v[r]) {
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

/* Statistics: min/max of the chunk as PLAIN bytes, in the arena. */
static void chunk_stats(pq_writer_t *w, const wcol_t *c, pqm_stats_t *st)
{
    size_t n = w->n;
    uint8_t *lo = NULL, *hi = NULL;
    uint32_t len = 0;
    memset(st, 0, sizeof(*st));
    st->has_null_count = 1;
    if (kind_is_int(c->kind)) {
        int64_t mn = c->iv[0], mx = c->iv[0];
        for (size_t i = 1; i < n; i++) {
            mn = c->iv[i] < mn ? c->iv[i] : mn;
            mx = c->iv[i] > mx ? c->iv[i] : mx;
        }
        len = kind_physical(c->kind) == PT_INT64 ? 8
            : kind_physical(c->kind) == PT_INT32 ? 4 : 1;
        lo = arena_alloc(w->a, 8);
        hi = arena_alloc(w->a, 8);
        wr_u64le(lo, (uint64_t)mn);
        wr_u64le(hi, (uint64_t)mx);
    } else if (c->kind == PQ_DOUBLE) {
        double mn = 0, mx = 0;
        int any = 0;
        for (size_t i = 0; i < n; i++) {
            double v = c->dv[i];
            if (v != v)
                continue;                        /* NaN takes no part */
            if (!any || v < mn)
                mn = v;
            if (!any || v > mx)
                mx = v;
            any = 1;
        }
        if (!any)
            return;
        if (mn == 0)
            mn = -0.0;
        if (mx == 0)
            mx = 0.0;
        len = 8;
        lo = arena_alloc(w->a, 8);
        hi = arena_alloc(w->a, 8);
        memcpy(lo, &mn, 8);
        memcpy(hi, &mx, 8);
    } else if (c->kind == PQ_IP) {
        size_t mn = 0, mx = 0;
        for (size_t i = 1; i < n; i++) {
            if (ipaddr_cmp(&c->av[i], &c->av[mn]) < 0)
                mn = i;
            if (ipaddr_cmp(&c->av[i], &c->av[mx]) > 0)
                mx = i;
        }
        len = 16;
        lo = arena_alloc(w->a, 16);
        hi = arena_alloc(w->a, 16);
        memcpy(lo, c->av[mn].a, 16);
        memcpy(hi, c->av[mx].a, 16);
    } else {                                     /* PQ_STRING */
        size_t mn = 0, mx = 0;
        for (size_t i = 0; i < n; i++) {
            uint32_t l = c->soff[i + 1] - c->soff[i];
            if (l > STAT_MAX_LEN)
                return;
            for (int k = 0; k < 2; k++) {
                size_t o = k ? mx : mn;
                uint32_t lo_ = c->soff[o + 1] - c->soff[o];
                int cmp = memcmp(c->sdata.p + c->soff[i],
                                 c->sdata.p + c->soff[o], l < lo_ ? l : lo_);
                if (cmp == 0)
                    cmp = l < lo_ ? -1 : l > lo_;
                if (k == 0 && cmp < 0)
                    mn = i;
                if (k == 1 && cmp > 0)
                    mx = i;
            }
        }
        uint32_t ln = c->soff[mn + 1] - c->soff[mn];
        uint32_t lx = c->soff[mx + 1] - c->soff[mx];
        lo = arena_alloc(w->a, ln + 1);
        hi = arena_alloc(w->a, lx + 1);
        memcpy(lo, c->sdata.p + c->soff[mn], ln);
        memcpy(hi, c->sdata.p + c->soff[mx], lx);
        st->min_value = (pqm_bin_t){lo, ln, 1};
        st->max_value = (pqm_bin_t){hi, lx, 1};
        return;
    }
    st->min_value = (pqm_bin_t){lo, len, 1};
    st->max_value = (pqm_bin_t){hi, len, 1};
}

/* One page: header and compressed data appended to the row group. */
static void put_page(pq_writer_t *w, pqm_colmeta_t *m, int type, int enc,
                     size_t nvals, const bbuf_t *data)
{
    size_t bound = ZSTD_compressBound(data->len);
    w->comp.len = 0;
    bb_reserve(&w->comp, bound);
    size_t k = ZSTD_compressCCtx(w->zc, w->comp.p, bound, data->p, data->len,
                                 w->level);
    if (ZSTD_isError(k))
        abort();             /* cannot fail with a big enough buffer */
    pqm_page_t pg = {
        .type = type, .usize = (int32_t)data->len, .csize = (int32_t)k,
        .num_values = (int32_t)nvals, .encoding = enc,
        .def_encoding = PE_RLE, .rep_encoding = PE_RLE,
    };
    tw_reset(&w->tw);
    pqm_write_page(&w->tw, &pg);
    bb_put(&w->rg, w->tw.buf, w->tw.len);
    bb_put(&w->rg, w->comp.p, k);
    m->total_compressed_size += (int64_t)(w->tw.len + k);
    m->total_uncompressed_size += (int64_t)(w->tw.len + data->len);
}

enum { ENC_PLAIN, ENC_DICT, ENC_DELTA };

/* Encode values [from, from+n) of the chunk as enc into w->enc. */
static void enc_values(pq_writer_t *w, const wcol_t *c, int enc, size_t from,
                       size_t n, size_t ndict)
{
    w->enc.len = 0;
    if (enc == ENC_DICT) {
        int bw = bits_for(ndict - 1);
        bw = bw ? bw : 1;
        bb_u8(&w->enc, (uint8_t)bw);
        enc_hybrid(&w->enc, w->idx + from, n, bw);
    } else if (enc == ENC_DELTA) {
        enc_delta(&w->enc, c->iv + from, n, kind_physical(c->kind) == PT_INT32);
    } else {
        enc_plain(c, from, n, NULL, &w->enc, w->u64);
    }
}

/* Pick the encoding whose compressed size, estimated on a sample of the
 * chunk, is the smallest. */
static int choose_encoding(pq_writer_t *w, const wcol_t *c, size_t ndict)
{
    size_t n = w->n, s = n < SAMPLE_ROWS ? n : SAMPLE_ROWS;
    double scale = (double)n / (double)s;
    int can_delta = kind_is_int(c->kind) && c->kind != PQ_BOOL;
    if (!ndict && !can_delta)
        return ENC_PLAIN;
    double best;
    int pick = ENC_PLAIN;
    enc_values(w, c, ENC_PLAIN, 0, s, 0);
    best = (double)zsize(w, &w->enc) * scale;
    if (can_delta) {
        enc_values(w, c, ENC_DELTA, 0, s, 0);
        double z = (double)zsize(w, &w->enc) * scale;
        if (z < best) {
            best = z;
            pick = ENC_DELTA;
        }
    }
    if (ndict) {
        /* the indices of the sample, and the dictionary (sampled too) */
        enc_values(w, c, ENC_DICT, 0, s, ndict);
        double z = (double)zsize(w, &w->enc) * scale;
        size_t ds = ndict < SAMPLE_ROWS ? ndict : SAMPLE_ROWS;
        w->enc.len = 0;
        enc_plain(c, 0, ds, w->drow, &w->enc, w->u64);
        z += (double)zsize(w, &w->enc) * ((double)ndict / (double)ds);
        if (z < best)
            pick = ENC_DICT;
    }
    return pick;
}

/* Encode column c of the pending rows as a chunk at file offset base. */
static void encode_chunk(pq_writer_t *w, wcol_t *c, pqm_chunk_t *ch,
                         uint8_t **bloom, uint32_t *bloom_bytes)
{
    pqm_colmeta_t *m = &ch->meta;
    size_t n = w->n;
    uint64_t base = w->off + w->rg.len;
    memset(ch, 0, sizeof(*ch));
    ch->has_meta = 1;
    m->type = kind_physical(c->kind);
    m->path = c->name;
    m->codec = PC_ZSTD;
    m->num_values = (int64_t)n;
    chunk_stats(w, c, &m->stats);
    m->has_stats = m->stats.min_value.set;

    /* A dictionary when it may pay (and for bloom filters, whose size
     * and inserts want the distinct values). */
    size_t ndict = 0;
    int want_bloom = (c->flags & PQ_COL_BLOOM) != 0;
    if (c->kind != PQ_BOOL && c->kind != PQ_DOUBLE) {
        size_t limit = want_bloom ? n : n * 3 / 4 + 1;
        ndict = dict_build(w, c, limit < DICT_MAX ? limit : DICT_MAX);
    }
    *bloom = NULL;
    if (want_bloom) {
        uint64_t ndv = ndict ? ndict : n;
        uint32_t nb = bloom_size(ndv, BLOOM_FPP);
        uint8_t *bits = xcalloc(1, nb);
        for (size_t e = 0; e < (ndict ? ndict : n); e++) {
            size_t r = ndict ? w->drow[e] : e;
            w->enc.len = 0;
            enc_plain(c, r, 1, NULL, &w->enc, w->u64);
            const uint8_t *p = w->enc.p;
            size_t len = w->enc.len;
            if (c->kind == PQ_STRING) {      /* hash the bytes only */
                p += 4;
                len -= 4;
            }
            bloom_insert(bits, nb, bloom_hash(p, len));
        }
        *bloom = bits;
        *bloom_bytes = nb;
    }
    int enc = choose_encoding(w, c, ndict);

    if (enc == ENC_DICT) {
        m->has_dict_offset = 1;
        m->dictionary_page_offset = (int64_t)base;
        w->dict.len = 0;
        enc_plain(c, 0, ndict, w->drow, &w->dict, w->u64);
        put_page(w, m, PG_DICTIONARY, PE_PLAIN, ndict, &w->dict);
        m->encodings = 1u << PE_PLAIN | 1u << PE_RLE_DICTIONARY;
    } else {
        m->encodings = 1u << (enc == ENC_DELTA ? PE_DELTA_BINARY_PACKED
                                               : PE_PLAIN);
    }
    m->data_page_offset = (int64_t)(w->off + w->rg.len);
    int penc = enc == ENC_DICT ? PE_RLE_DICTIONARY
             : enc == ENC_DELTA ? PE_DELTA_BINARY_PACKED : PE_PLAIN;
    for (size_t from = 0; from < n; from += PAGE_ROWS) {
        size_t k = n - from < PAGE_ROWS ? n - from : PAGE_ROWS;
        enc_values(w, c, enc, from, k, ndict);
        put_page(w, m, PG_DATA, penc, k, &w->enc);
    }
    ch->file_offset = (int64_t)base;
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
    w->idx = xrealloc(w->idx, n * sizeof(uint32_t));
    w->drow = xrealloc(w->drow, n * sizeof(uint32_t));
    w->u64 = xrealloc(w->u64, (n < PAGE_ROWS ? PAGE_ROWS : n) *
                                  sizeof(uint64_t));
    pqm_rowgroup_t rg = {0};
    rg.ncols = (uint32_t)w->ncols;
    rg.cols = arena_alloc(w->a, w->ncols * sizeof(pqm_chunk_t));
    rg.num_rows = (int64_t)n;
    rg.has_file_offset = rg.has_total_compressed = 1;
    rg.file_offset = (int64_t)w->off;
    uint8_t *blooms[PQ_MAX_COLUMNS];
    uint32_t bloom_bytes[PQ_MAX_COLUMNS];
    w->rg.len = 0;
    for (size_t i = 0; i < w->ncols; i++) {
        encode_chunk(w, &w->cols[i], &rg.cols[i], &blooms[i], &bloom_bytes[i]);
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
