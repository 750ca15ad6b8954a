/*
 * pqread.c - the Parquet reader; see parquet.h.
 *
 * A column chunk is read whole into memory (or pointed at, for a file in
 * memory), then decoded page by page as values are asked for: a cursor
 * keeps the dictionary, the current page and the decoders' state, and
 * cur_read() gives the next n values. Every offset, length and count
 * read from the file is checked before it is used.
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

#define CHUNK_MAX   (1ull << 30)    /* bytes of one column chunk */
#define PAGE_MAX    (256u << 20)    /* uncompressed bytes of one page */
#define FOOTER_MAX  (64u << 20)

typedef struct rcol {
    pq_colinfo_t info;
    const pqm_schema_t *se;
    int      max_def;              /* 0 REQUIRED, 1 OPTIONAL */
    int      is_unsigned;          /* INT32 read zero-extended */
    int64_t  div;                  /* timestamp unit per ms */
} rcol_t;

typedef struct bl {
    int8_t   state;                /* 0 not read, 1 read, -1 none/bad */
    uint32_t nbytes;
    uint8_t *bits;
} bl_t;

/* The page index of a chunk, loaded on first use. */
typedef struct pidx {
    int8_t         state;          /* 0 not read, 1 read, -1 none/bad */
    uint32_t       n;              /* pages */
    pqm_pageloc_t *loc;            /* n */
    int64_t       *first;          /* n + 1: page i holds [first[i], first[i+1]) */
    value_t       *mins, *maxs;    /* n each, NULL without a column index */
} pidx_t;

struct pq_reader {
    int            fd;             /* -1 for memory */
    uint64_t       bytes_read;     /* fetched from the source */
    pidx_t        *pidx;           /* nrgs * ncols, made on first use */
    flow_batch_t  *fb;             /* the batch pq_reader_read fills */
    uint64_t       fb_dirty;       /* its lanes filled by the last read */
    const uint8_t *mem;
    uint64_t       size;
    arena_t       *a;
    uint8_t       *footer, *journal;
    pqm_file_t     meta;
    rcol_t        *cols;
    size_t         ncols;
    bl_t          *blooms;         /* nrgs * ncols, made on first use */
    ZSTD_DCtx     *zd;
};

/* A string value: bytes (NUL-terminated) and length. */
typedef struct pqs {
    const uint8_t *p;
    uint32_t       len;
} pqs_t;

/* ---- the source: a file or memory --------------------------------------- */

/* Bytes [off, off+len) of the source: *out points into memory or into
 * buf. -1 if out of the file or unreadable. */
static int src_get(pq_reader_t *r, uint64_t off, uint64_t len, bbuf_t *buf,
                   const uint8_t **out)
{
    if (off > r->size || len > r->size - off)
        return -1;
    r->bytes_read += len;
    if (r->mem) {
        *out = r->mem + off;
        return 0;
    }
    buf->len = 0;
    bb_reserve(buf, (size_t)len + 1);
    size_t got = 0;
    while (got < len) {
        ssize_t k = pread(r->fd, buf->p + got, (size_t)len - got,
                          (off_t)(off + got));
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        got += (size_t)k;
    }
    buf->len = got;
    *out = buf->p;
    return 0;
}

/* ---- opening ------------------------------------------------------------- */

static const char *phys_name(int t)
{
    static const char *n[] = {"BOOLEAN", "INT32", "INT64", "INT96", "FLOAT",
                              "DOUBLE", "BYTE_ARRAY", "FIXED_LEN_BYTE_ARRAY"};
    return t >= 0 && t < 8 ? n[t] : "?";
}

/* How a leaf column's values come out. */
static void map_column(rcol_t *c)
{
    const pqm_schema_t *s = c->se;
    c->div = 1;
    c->info.kind = PQ_UNSUPPORTED;
    switch (s->type) {
    case PT_BOOLEAN:
        c->info.kind = PQ_BOOL;
        break;
    case PT_INT32:
        if ((s->logical == PL_INTEGER && !s->lt_signed) ||
            s->converted == PCT_UINT_8 || s->converted == PCT_UINT_16 ||
            s->converted == PCT_UINT_32) {
            c->is_unsigned = 1;
            c->info.kind = PQ_INT64;
        } else if ((s->logical == PL_INTEGER && s->lt_bits == 8) ||
                   s->converted == PCT_INT_8) {
            c->info.kind = PQ_INT8;
        } else if ((s->logical == PL_INTEGER && s->lt_bits == 16) ||
                   s->converted == PCT_INT_16) {
            c->info.kind = PQ_INT16;
        } else {
            c->info.kind = PQ_INT32;
        }
        break;
    case PT_INT64:
        c->info.kind = PQ_INT64;
        if (s->logical == PL_TIMESTAMP) {
            c->info.kind = PQ_TIME_MS;
            c->div = s->lt_unit == PU_MICROS ? 1000
                   : s->lt_unit == PU_NANOS ? 1000000 : 1;
        } else if (s->converted == PCT_TIMESTAMP_MILLIS ||
                   s->converted == PCT_TIMESTAMP_MICROS) {
            c->info.kind = PQ_TIME_MS;
            c->div = s->converted == PCT_TIMESTAMP_MICROS ? 1000 : 1;
        }
        break;
    case PT_FLOAT:
    case PT_DOUBLE:
        c->info.kind = PQ_DOUBLE;
        break;
    case PT_BYTE_ARRAY:
        c->info.kind = PQ_STRING;
        break;
    case PT_FLBA:
        if (s->type_length == 16)
            c->info.kind = PQ_IP;
        else
            c->info.why = "fixed-length byte arrays other than 16 bytes "
                          "are not supported";
        break;
    case PT_INT96:
        c->info.why = "INT96 is not supported";
        break;
    default:
        c->info.why = "unknown physical type";
    }
    if (s->repetition == PR_REPEATED) {
        c->info.kind = PQ_UNSUPPORTED;
        c->info.why = "repeated columns are not supported";
    }
}

static int setup(pq_reader_t *r, const char *name, diag_t *err)
{
    pqm_file_t *m = &r->meta;
    if (m->nschema < 1 || m->schema[0].type >= 0) {
        diag_set(err, "%s: no schema root", name);
        return -1;
    }
    r->ncols = m->nschema - 1;
    if ((int64_t)m->schema[0].num_children != (int64_t)r->ncols) {
        diag_set(err, "%s: nested schemas are not supported", name);
        return -1;
    }
    r->cols = arena_alloc(r->a, (r->ncols + 1) * sizeof(*r->cols));
    for (size_t i = 0; i < r->ncols; i++) {
        rcol_t *c = &r->cols[i];
        c->se = &m->schema[i + 1];
        if (c->se->type < 0 || c->se->num_children > 0) {
            diag_set(err, "%s: nested schemas are not supported", name);
            return -1;
        }
        c->info.name = c->se->name;
        c->info.physical = c->se->type;
        c->info.optional = c->se->repetition == PR_OPTIONAL;
        c->max_def = c->info.optional;
        int f = schema_lookup(c->se->name, strlen(c->se->name));
        c->info.field = f >= 0 && !schema_fields[f].is_virtual ? f : -1;
        map_column(c);
    }
    for (uint32_t g = 0; g < m->nrgs; g++) {
        if (m->rgs[g].ncols != r->ncols) {
            diag_set(err, "%s: row group %u has %u columns, the schema %zu",
                     name, g, m->rgs[g].ncols, r->ncols);
            return -1;
        }
        if (m->rgs[g].num_rows < 0) {
            diag_set(err, "%s: row group %u has a negative row count", name,
                     g);
            return -1;
        }
    }
    r->zd = ZSTD_createDCtx();
    if (!r->zd)
        abort();
    return 0;
}

static int read_footer(pq_reader_t *r, const char *name, diag_t *err)
{
    const uint8_t *p;
    bbuf_t b = {0};
    if (r->size < 12 || src_get(r, 0, 4, &b, &p) < 0 ||
        memcmp(p, "PAR1", 4) != 0 ||
        src_get(r, r->size - 8, 8, &b, &p) < 0 ||
        memcmp(p + 4, "PAR1", 4) != 0) {
        bb_free(&b);
        diag_set(err, "%s: not a Parquet file (no PAR1 magic)", name);
        return -1;
    }
    uint32_t len = rd_u32le(p);
    if (len > r->size - 12 || len > FOOTER_MAX) {
        bb_free(&b);
        diag_set(err, "%s: footer length %u does not fit the file", name, len);
        return -1;
    }
    if (src_get(r, r->size - 8 - len, len, &b, &p) < 0) {
        bb_free(&b);
        diag_set(err, "%s: cannot read the footer", name);
        return -1;
    }
    if (!r->mem) {
        r->footer = b.p;              /* the structs point into it */
        b.p = NULL;
    }
    bb_free(&b);
    diag_t e = {0};
    if (pqm_read_file(p, len, r->a, &r->meta, &e) < 0) {
        diag_set(err, "%s: %s", name, e.msg);
        return -1;
    }
    return 0;
}

static pq_reader_t *reader_new(void)
{
    pq_reader_t *r = xcalloc(1, sizeof(*r));
    r->fd = -1;
    r->a = arena_new();
    return r;
}

void pq_reader_close(pq_reader_t *r)
{
    if (!r)
        return;
    if (r->fd >= 0)
        close(r->fd);
    if (r->blooms)
        for (size_t i = 0; i < (size_t)r->meta.nrgs * r->ncols; i++)
            free(r->blooms[i].bits);
    free(r->blooms);
    free(r->pidx);
    free(r->fb);
    free(r->footer);
    free(r->journal);
    ZSTD_freeDCtx(r->zd);
    arena_free(r->a);
    free(r);
}

pq_reader_t *pq_reader_open_mem(const void *data, size_t len, diag_t *err)
{
    pq_reader_t *r = reader_new();
    r->mem = data;
    r->size = len;
    if (read_footer(r, "parquet", err) < 0 || setup(r, "parquet", err) < 0) {
        pq_reader_close(r);
        return NULL;
    }
    return r;
}

pq_reader_t *pq_reader_open(const char *path, diag_t *err)
{
    pq_reader_t *r = reader_new();
    struct stat st;
    size_t plen = strlen(path);
    r->fd = file_open_regular(path, err);
    if (r->fd < 0)
        goto fail;
    if (fstat(r->fd, &st) < 0) {
        diag_set(err, "%s: %s", path, strerror(errno));
        goto fail;
    }
    r->size = (uint64_t)st.st_size;
    if (plen > 5 && strcmp(path + plen - 5, ".open") == 0) {
        /* A file being written: its metadata is in the journal. */
        char *base = xstrdup(path);
        base[plen - 5] = 0;
        char *jpath = pq_path_with(base, ".journal");
        free(base);
        size_t jn;
        uint64_t end;
        r->journal = (uint8_t *)file_read_regular(jpath, PQ_JOURNAL_MAX, &jn,
                                                  err);
        if (!r->journal ||
            journal_parse(r->journal, jn, r->size, r->a, &r->meta, &end,
                          err) < 0) {
            free(jpath);
            goto fail;
        }
        free(jpath);
    } else if (read_footer(r, path, err) < 0) {
        goto fail;
    }
    if (setup(r, path, err) < 0)
        goto fail;
    return r;
fail:
    pq_reader_close(r);
    return NULL;
}

size_t pq_reader_ncols(const pq_reader_t *r)
{
    return r->ncols;
}

const pq_colinfo_t *pq_reader_col(const pq_reader_t *r, size_t col)
{
    return col < r->ncols ? &r->cols[col].info : NULL;
}

int pq_reader_find(const pq_reader_t *r, const char *name)
{
    for (size_t i = 0; i < r->ncols; i++)
        if (strcmp(r->cols[i].info.name, name) == 0)
            return (int)i;
    return -1;
}

int64_t pq_reader_nrows(const pq_reader_t *r)
{
    int64_t n = 0;
    for (uint32_t g = 0; g < r->meta.nrgs; g++)
        n += r->meta.rgs[g].num_rows;
    return n;
}

size_t pq_reader_nrowgroups(const pq_reader_t *r)
{
    return r->meta.nrgs;
}

int64_t pq_reader_rg_rows(const pq_reader_t *r, size_t rg)
{
    return rg < r->meta.nrgs ? r->meta.rgs[rg].num_rows : 0;
}

const char *pq_reader_kv(const pq_reader_t *r, const char *key)
{
    for (uint32_t i = 0; i < r->meta.nkv; i++)
        if (strcmp(r->meta.kv[i].key, key) == 0)
            return r->meta.kv[i].value;
    return NULL;
}

/* ---- statistics and bloom filters --------------------------------------- */

/* A PLAIN value of column c into v; 0, or -1 if the length is wrong. */
static int plain_value(pq_reader_t *r, const rcol_t *c, const pqm_bin_t *b,
                       value_t *v)
{
    memset(v, 0, sizeof(*v));
    switch (c->se->type) {
    case PT_BOOLEAN:
        if (b->len != 1)
            return -1;
        v->i = b->p[0] & 1;
        return 0;
    case PT_INT32:
        if (b->len != 4)
            return -1;
        v->i = c->is_unsigned ? (int64_t)rd_u32le(b->p)
                              : (int64_t)(int32_t)rd_u32le(b->p);
        return 0;
    case PT_INT64:
        if (b->len != 8)
            return -1;
        v->i = (int64_t)rd_u64le(b->p);
        if (c->div > 1)
            v->i = v->i / c->div - (v->i % c->div < 0);
        return 0;
    case PT_FLOAT: {
        float f;
        uint32_t u;
        if (b->len != 4)
            return -1;
        u = rd_u32le(b->p);
        memcpy(&f, &u, 4);
        v->f = f;
        return 0;
    }
    case PT_DOUBLE: {
        uint64_t u;
        if (b->len != 8)
            return -1;
        u = rd_u64le(b->p);
        memcpy(&v->f, &u, 8);
        return 0;
    }
    case PT_BYTE_ARRAY:
        v->s = arena_strndup(r->a, (const char *)b->p, b->len);
        return 0;
    case PT_FLBA:
        if (b->len != 16)
            return -1;
        memcpy(v->ip.a, b->p, 16);
        return 0;
    default:
        return -1;
    }
}

static const pqm_colmeta_t *chunk_meta(const pq_reader_t *r, size_t rg,
                                       size_t col)
{
    if (rg >= r->meta.nrgs || col >= r->ncols ||
        !r->meta.rgs[rg].cols[col].has_meta)
        return NULL;
    return &r->meta.rgs[rg].cols[col].meta;
}

int pq_reader_minmax(pq_reader_t *r, size_t rg, size_t col, value_t *min,
                     value_t *max)
{
    const pqm_colmeta_t *m = chunk_meta(r, rg, col);
    if (!m || !m->has_stats || r->cols[col].info.kind == PQ_UNSUPPORTED ||
        m->type != r->cols[col].se->type)
        return 0;
    const pqm_stats_t *s = &m->stats;
    const pqm_bin_t *lo = &s->min_value, *hi = &s->max_value;
    if (!lo->set || !hi->set) {
        /* The old fields were compared signed: right for numbers only. */
        int t = r->cols[col].se->type;
        if (!s->min.set || !s->max.set || t == PT_BYTE_ARRAY ||
            t == PT_FLBA || r->cols[col].is_unsigned)
            return 0;
        lo = &s->min;
        hi = &s->max;
    }
    return plain_value(r, &r->cols[col], lo, min) == 0 &&
           plain_value(r, &r->cols[col], hi, max) == 0;
}

int64_t pq_reader_chunk_bytes(const pq_reader_t *r, size_t rg, size_t col)
{
    const pqm_colmeta_t *m = chunk_meta(r, rg, col);
    return m && m->total_compressed_size > 0 ? m->total_compressed_size : 0;
}

static int bloom_load(pq_reader_t *r, size_t rg, size_t col, bl_t *b)
{
    const pqm_colmeta_t *m = chunk_meta(r, rg, col);
    bbuf_t buf = {0};
    const uint8_t *p;
    b->state = -1;
    if (!m || !m->has_bloom || m->bloom_offset < 4 ||
        (uint64_t)m->bloom_offset >= r->size)
        return -1;
    uint64_t off = (uint64_t)m->bloom_offset;
    uint64_t hlen = r->size - off < 256 ? r->size - off : 256;
    if (src_get(r, off, hlen, &buf, &p) < 0)
        goto out;
    pqm_bloom_t h;
    size_t used;
    if (pqm_read_bloom(p, (size_t)hlen, &h, &used, NULL) < 0 || !h.sbbf ||
        !h.xxhash || !h.uncompressed || h.num_bytes < 32 ||
        h.num_bytes % 32 || h.num_bytes > (128 << 20) ||
        (uint64_t)h.num_bytes > r->size - off - used)
        goto out;
    if (src_get(r, off + used, (uint64_t)h.num_bytes, &buf, &p) < 0)
        goto out;
    b->bits = xmalloc((size_t)h.num_bytes);
    memcpy(b->bits, p, (size_t)h.num_bytes);
    b->nbytes = (uint32_t)h.num_bytes;
    b->state = 1;
out:
    bb_free(&buf);
    return b->state == 1 ? 0 : -1;
}

int pq_reader_bloom(pq_reader_t *r, size_t rg, size_t col, const value_t *v)
{
    if (rg >= r->meta.nrgs || col >= r->ncols)
        return 1;
    if (!r->blooms)
        r->blooms = xcalloc((size_t)r->meta.nrgs * r->ncols + 1,
                            sizeof(*r->blooms));
    bl_t *b = &r->blooms[rg * r->ncols + col];
    if (b->state == 0)
        bloom_load(r, rg, col, b);
    if (b->state < 0)
        return 1;
    const rcol_t *c = &r->cols[col];
    uint8_t tmp[16];
    uint64_t h;
    switch (c->se->type) {
    case PT_INT32:
        wr_u32le(tmp, (uint32_t)v->i);
        h = bloom_hash(tmp, 4);
        break;
    case PT_INT64:
        wr_u64le(tmp, (uint64_t)v->i * (uint64_t)c->div);
        h = bloom_hash(tmp, 8);
        break;
    case PT_DOUBLE:
        memcpy(tmp, &v->f, 8);
        h = bloom_hash(tmp, 8);
        break;
    case PT_FLBA:
        h = bloom_hash(v->ip.a, 16);
        break;
    case PT_BYTE_ARRAY:
        h = c->info.field >= 0 &&
                schema_fields[c->info.field].type == TYPE_IP
            ? bloom_hash(v->ip.a, 16)
            : bloom_hash(v->s ? v->s : "", v->s ? strlen(v->s) : 0);
        break;
    default:
        return 1;
    }
    return bloom_check(b->bits, b->nbytes, h);
}

/* ---- page indexes -------------------------------------------------------- */

uint64_t pq_reader_bytes_read(const pq_reader_t *r)
{
    return r->bytes_read;
}

/* The chunk's bytes: [start, start + len) in the file, as the metadata
 * says (dictionary page first when there is one). */
static int chunk_span(const pq_reader_t *r, const pqm_colmeta_t *m,
                      uint64_t *start, uint64_t *len)
{
    int64_t s = m->data_page_offset;
    if (m->has_dict_offset && m->dictionary_page_offset >= 4 &&
        m->dictionary_page_offset < s)
        s = m->dictionary_page_offset;
    if (s < 4 || m->total_compressed_size <= 0 ||
        (uint64_t)m->total_compressed_size > CHUNK_MAX ||
        (uint64_t)s > r->size ||
        (uint64_t)m->total_compressed_size > r->size - (uint64_t)s)
        return -1;
    *start = (uint64_t)s;
    *len = (uint64_t)m->total_compressed_size;
    return 0;
}

/* Read and check the page index of (rg, col) into x; state -1 when the
 * chunk has none or it does not hold together (pages outside the chunk,
 * rows not ascending from 0): the chunk is then read whole. */
static void pidx_load(pq_reader_t *r, size_t rg, size_t col, pidx_t *x)
{
    const pqm_chunk_t *ch = &r->meta.rgs[rg].cols[col];
    const pqm_colmeta_t *m = chunk_meta(r, rg, col);
    int64_t rows = r->meta.rgs[rg].num_rows;
    uint64_t cs, cl;
    bbuf_t buf = {0};
    const uint8_t *p;
    pqm_offidx_t oi;
    x->state = -1;
    if (!m || !ch->has_oi || ch->oi_length <= 0 || ch->oi_offset < 4 ||
        ch->oi_length > (1 << 26) || chunk_span(r, m, &cs, &cl) < 0 ||
        src_get(r, (uint64_t)ch->oi_offset, (uint64_t)ch->oi_length, &buf,
                &p) < 0 ||
        pqm_read_offidx(p, (size_t)ch->oi_length, r->a, &oi, NULL) < 0 ||
        oi.n == 0)
        goto out;
    /* pages inside the chunk, in order, rows from 0 ascending */
    for (uint32_t i = 0; i < oi.n; i++) {
        const pqm_pageloc_t *l = &oi.pages[i];
        if (l->offset < (int64_t)cs || l->size <= 0 ||
            (uint64_t)l->offset + (uint64_t)l->size > cs + cl ||
            (i == 0 ? l->first_row != 0
                    : l->first_row <= oi.pages[i - 1].first_row ||
                      l->offset < oi.pages[i - 1].offset +
                                      oi.pages[i - 1].size) ||
            l->first_row >= (rows ? rows : 1))
            goto out;
    }
    x->n = oi.n;
    x->loc = oi.pages;
    x->first = arena_alloc(r->a, ((size_t)oi.n + 1) * sizeof(int64_t));
    for (uint32_t i = 0; i < oi.n; i++)
        x->first[i] = oi.pages[i].first_row;
    x->first[oi.n] = rows;
    x->state = 1;
    /* the column index: each page's bounds, when it holds together */
    pqm_colidx_t ci;
    if (!ch->has_ci || ch->ci_length <= 0 || ch->ci_offset < 4 ||
        ch->ci_length > (1 << 26) ||
        r->cols[col].info.kind == PQ_UNSUPPORTED ||
        src_get(r, (uint64_t)ch->ci_offset, (uint64_t)ch->ci_length, &buf,
                &p) < 0)
        goto out;
    if (!r->mem) {                      /* the bounds point into it */
        uint8_t *keep = arena_alloc(r->a, (size_t)ch->ci_length + 1);
        memcpy(keep, p, (size_t)ch->ci_length);
        p = keep;
    }
    if (pqm_read_colidx(p, (size_t)ch->ci_length, r->a, &ci, NULL) < 0 ||
        ci.n != oi.n)
        goto out;
    value_t *mins = arena_alloc(r->a, (size_t)ci.n * sizeof(value_t) + 1);
    value_t *maxs = arena_alloc(r->a, (size_t)ci.n * sizeof(value_t) + 1);
    for (uint32_t i = 0; i < ci.n; i++) {
        if (ci.null_pages[i]) {         /* nulls read as 0: no bounds */
            memset(&mins[i], 0, sizeof(value_t));
            memset(&maxs[i], 0, sizeof(value_t));
            continue;
        }
        if (plain_value(r, &r->cols[col], &ci.mins[i], &mins[i]) < 0 ||
            plain_value(r, &r->cols[col], &ci.maxs[i], &maxs[i]) < 0)
            goto out;
    }
    x->mins = mins;
    x->maxs = maxs;
out:
    bb_free(&buf);
}

static pidx_t *pidx_get(pq_reader_t *r, size_t rg, size_t col)
{
    if (rg >= r->meta.nrgs || col >= r->ncols)
        return NULL;
    if (!r->pidx)
        r->pidx = xcalloc((size_t)r->meta.nrgs * r->ncols + 1,
                          sizeof(*r->pidx));
    pidx_t *x = &r->pidx[rg * r->ncols + col];
    if (x->state == 0)
        pidx_load(r, rg, col, x);
    return x->state > 0 ? x : NULL;
}

/* Ask the kernel to read [off, off + len) ahead (a file source). */
static void willneed(const pq_reader_t *r, uint64_t off, uint64_t len)
{
    if (r->fd >= 0 && len)
        posix_fadvise(r->fd, (off_t)off, (off_t)len, POSIX_FADV_WILLNEED);
}

void pq_reader_prefetch(pq_reader_t *r, size_t rg, uint64_t fields,
                        const pq_rows_t *sel, size_t nsel)
{
    if (r->fd < 0 || rg >= r->meta.nrgs)
        return;
    int64_t rows = r->meta.rgs[rg].num_rows, want = 0;
    for (size_t k = 0; k < nsel; k++)
        want += sel[k].hi - sel[k].lo;
    for (size_t i = 0; i < r->ncols; i++) {
        int f = r->cols[i].info.field;
        const pqm_colmeta_t *m = chunk_meta(r, rg, i);
        uint64_t start, len;
        if (f < 0 || !(fields >> f & 1) || !m ||
            chunk_span(r, m, &start, &len) < 0)
            continue;
        pidx_t *x = want <= rows / 2 ? pidx_get(r, rg, i) : NULL;
        if (!x) {                        /* read whole */
            willneed(r, start, len);
            continue;
        }
        willneed(r, start, (uint64_t)x->loc[0].offset - start);  /* dict */
        for (size_t k = 0, p = 0; k < nsel; k++)
            for (; p < x->n && x->first[p] < sel[k].hi; p++)
                if (x->first[p + 1] > sel[k].lo)
                    willneed(r, (uint64_t)x->loc[p].offset,
                             (uint64_t)x->loc[p].size);
    }
}

size_t pq_reader_pages(pq_reader_t *r, size_t rg, size_t col,
                       const int64_t **first, const value_t **mins,
                       const value_t **maxs)
{
    pidx_t *x = pidx_get(r, rg, col);
    if (!x)
        return 0;
    if (first)
        *first = x->first;
    if (mins)
        *mins = x->mins;
    if (maxs)
        *maxs = x->maxs;
    return x->n;
}

/* ---- column cursors ----------------------------------------------------- */

enum { OUT_I64, OUT_F64, OUT_IP, OUT_STR };

typedef struct cur {
    pq_reader_t        *r;
    const rcol_t       *col;
    const pqm_colmeta_t *m;
    const char         *name;
    size_t              rgi;
    int                 out;         /* OUT_* */
    size_t              esz;         /* bytes of one output value */
    const uint8_t      *chunk;         /* the bytes read: the whole chunk,
                                          or (lazy) one page */
    size_t              clen, pos;
    int                 lazy;          /* pages read one by one */
    const pidx_t       *px;            /* the page index (lazy) */
    uint32_t            pgi;           /* the page read (lazy) */
    int64_t             row;           /* rows of the chunk given out */
    int64_t             rows;          /* rows of the row group */
    void               *skip;          /* scratch for values skipped */
    bbuf_t              cbuf, page;
    int64_t             left;        /* values left in the chunk */
    /* dictionary */
    size_t              ndict;
    void               *dict;        /* ndict values of esz bytes */
    int                 has_dict;
    /* page */
    int64_t             pleft;
    int                 enc;
    const uint8_t      *vp, *vend;
    hyb_t               def, ix, brle;
    dbp_t               dbp;
    int                 dbp_on;
    size_t              bitpos;
    size_t              bss_n, bss_i, bss_w;
    int64_t            *dl_pre, *dl_len;   /* DELTA_(LENGTH_)BYTE_ARRAY */
    size_t              dl_n, dl_i;
    bbuf_t              dl_last;           /* the last value (prefixes) */
    arena_t            *sa;          /* strings of the current read */
    arena_t            *dsa;         /* strings of the dictionary */
    uint32_t            tmp[FLOW_BATCH_MAX];
    uint32_t            defs[FLOW_BATCH_MAX];
} cur_t;

static int cerr(cur_t *c, diag_t *err, const char *why)
{
    diag_set(err, "column %s, row group %zu: %s", c->name, c->rgi, why);
    return -1;
}

static void cur_free(cur_t *c)
{
    if (!c)
        return;
    bb_free(&c->cbuf);
    bb_free(&c->page);
    free(c->dict);
    free(c->dl_pre);
    free(c->dl_len);
    bb_free(&c->dl_last);
    free(c->skip);
    if (c->dbp_on)
        dbp_free(&c->dbp);
    arena_free(c->sa);
    arena_free(c->dsa);
    free(c);
}

static int cur_dict_region(cur_t *c, diag_t *err);

/*
 * A cursor over the chunk of column col in row group rg. Whole: the
 * chunk is read at once. Lazy (and the chunk has a page index): only the
 * dictionary now, then each page as it is needed (cur_seek jumps to the
 * page holding a row).
 */
static cur_t *cur_open(pq_reader_t *r, size_t rg, size_t col, int lazy,
                       diag_t *err)
{
    cur_t *c = xcalloc(1, sizeof(*c));
    c->r = r;
    c->col = &r->cols[col];
    c->name = c->col->info.name;
    c->rgi = rg;
    c->pgi = UINT32_MAX;
    switch (c->col->se->type) {
    case PT_FLOAT: case PT_DOUBLE: c->out = OUT_F64; c->esz = 8; break;
    case PT_FLBA: c->out = OUT_IP; c->esz = 16; break;
    case PT_BYTE_ARRAY: c->out = OUT_STR; c->esz = sizeof(pqs_t); break;
    default: c->out = OUT_I64; c->esz = 8; break;
    }
    const pqm_colmeta_t *m = chunk_meta(r, rg, col);
    if (c->col->info.kind == PQ_UNSUPPORTED) {
        cerr(c, err, c->col->info.why);
        goto fail;
    }
    if (!m) {
        cerr(c, err, "no column metadata");
        goto fail;
    }
    c->m = m;
    if (m->type != c->col->se->type) {
        cerr(c, err, "chunk type differs from the schema");
        goto fail;
    }
    if (m->num_values != r->meta.rgs[rg].num_rows) {
        cerr(c, err, "value count differs from the row count");
        goto fail;
    }
    c->rows = c->left = m->num_values;
    c->sa = arena_new();
    uint64_t start, len;
    if (chunk_span(r, m, &start, &len) < 0) {
        cerr(c, err, "chunk does not lie in the file");
        goto fail;
    }
    if (lazy && (c->px = pidx_get(r, rg, col))) {
        c->lazy = 1;
        uint64_t first = (uint64_t)c->px->loc[0].offset;
        if (first > start) {             /* the dictionary page */
            if (src_get(r, start, first - start, &c->cbuf, &c->chunk) < 0) {
                cerr(c, err, "chunk does not lie in the file");
                goto fail;
            }
            c->clen = (size_t)(first - start);
            if (cur_dict_region(c, err) < 0)
                goto fail;
        }
        c->clen = c->pos = 0;
        return c;
    }
    if (src_get(r, start, len, &c->cbuf, &c->chunk) < 0) {
        cerr(c, err, "chunk does not lie in the file");
        goto fail;
    }
    c->clen = (size_t)len;
    return c;
fail:
    cur_free(c);
    return NULL;
}

/* Lazy: read page p of the chunk; the cursor is at its first row. */
static int cur_load_page(cur_t *c, uint32_t p, diag_t *err)
{
    if (p >= c->px->n)
        return cerr(c, err, "chunk ends before its values");
    const pqm_pageloc_t *l = &c->px->loc[p];
    if (src_get(c->r, (uint64_t)l->offset, (uint64_t)l->size, &c->cbuf,
                &c->chunk) < 0)
        return cerr(c, err, "page does not lie in the file");
    c->clen = (size_t)l->size;
    c->pos = 0;
    c->pgi = p;
    c->pleft = 0;
    c->row = c->px->first[p];
    c->left = c->rows - c->row;
    return 0;
}

/* Decompress size bytes at p into the page buffer (or point at them). */
static int cur_inflate(cur_t *c, const uint8_t *p, size_t csize, size_t usize,
                       int compressed, const uint8_t **out, diag_t *err)
{
    if (!compressed || c->m->codec == PC_UNCOMPRESSED) {
        if (csize != usize)
            return cerr(c, err, "uncompressed page sizes differ");
        *out = p;
        return 0;
    }
    if (c->m->codec != PC_ZSTD) {
        static const char *names[] = {"UNCOMPRESSED", "SNAPPY", "GZIP",
                                      "LZO", "BROTLI", "LZ4", "ZSTD",
                                      "LZ4_RAW"};
        char why[96];
        snprintf(why, sizeof(why), "codec %s is not supported (ZSTD or "
                 "UNCOMPRESSED are)",
                 c->m->codec >= 0 && c->m->codec < 8 ? names[c->m->codec]
                                                     : "unknown");
        return cerr(c, err, why);
    }
    c->page.len = 0;
    bb_reserve(&c->page, usize + 1);
    size_t k = ZSTD_decompressDCtx(c->r->zd, c->page.p, usize, p, csize);
    if (ZSTD_isError(k) || k != usize)
        return cerr(c, err, "ZSTD page does not decompress to its size");
    *out = c->page.p;
    return 0;
}

static size_t phys_width(const rcol_t *col)
{
    switch (col->se->type) {
    case PT_INT32: case PT_FLOAT: return 4;
    case PT_INT64: case PT_DOUBLE: return 8;
    case PT_FLBA: return 16;
    default: return 0;
    }
}

static int decode_plain(cur_t *c, size_t n, void *out, diag_t *err);

/* The dictionary page: n PLAIN values into c->dict. */
static int cur_dict(cur_t *c, const uint8_t *p, size_t len, int32_t n,
                    diag_t *err)
{
    size_t w = phys_width(c->col);
    if (c->has_dict)
        return cerr(c, err, "a second dictionary page");
    if (n < 0 || (w && (uint64_t)n * w > len) ||
        (c->out == OUT_STR && (uint64_t)n * 4 > len) ||
        (c->col->se->type == PT_BOOLEAN && (uint64_t)n > len * 8))
        return cerr(c, err, "dictionary larger than its page");
    c->dict = xmalloc((size_t)n * c->esz + 1);
    c->ndict = (size_t)n;
    c->has_dict = 1;
    c->vp = p;
    c->vend = p + len;
    c->bitpos = 0;
    /* the dictionary's strings live as long as the cursor */
    arena_t *reads = c->sa;
    c->dsa = arena_new();
    c->sa = c->dsa;
    int rc = decode_plain(c, (size_t)n, c->dict, err);
    c->sa = reads;
    return rc;
}

/* A DELTA_BINARY_PACKED stream of at most max values from vp, whole,
 * into *out (malloc'ed); vp moves past it. */
static int dbp_all(cur_t *c, int64_t max, int64_t **out, size_t *n)
{
    dbp_t d;
    if (dbp_init(&d, c->vp, (size_t)(c->vend - c->vp)) < 0)
        return -1;
    if (d.total > (uint64_t)max) {
        dbp_free(&d);
        return -1;
    }
    *out = xmalloc((size_t)d.total * sizeof(int64_t) + 1);
    *n = (size_t)d.total;
    int rc = dbp_read(&d, *out, (size_t)d.total, 0);
    c->vp = d.p;
    dbp_free(&d);
    return rc;
}

/* Set up a DELTA_LENGTH_BYTE_ARRAY page (lengths, then the bytes) or a
 * DELTA_BYTE_ARRAY one (prefix lengths, then that). */
static int cur_delta_bytes(cur_t *c, int enc, int64_t nvals, diag_t *err)
{
    size_t np = 0;
    free(c->dl_pre);
    free(c->dl_len);
    c->dl_pre = c->dl_len = NULL;
    c->dl_i = 0;
    c->dl_last.len = 0;
    if (nvals > (1 << 24))
        return cerr(c, err, "delta byte array page too large");
    if (enc == PE_DELTA_BYTE_ARRAY &&
        dbp_all(c, nvals, &c->dl_pre, &np) < 0)
        return cerr(c, err, "bad DELTA_BYTE_ARRAY prefix lengths");
    if (dbp_all(c, nvals, &c->dl_len, &c->dl_n) < 0 ||
        (enc == PE_DELTA_BYTE_ARRAY && np != c->dl_n))
        return cerr(c, err, "bad DELTA_LENGTH_BYTE_ARRAY lengths");
    uint64_t sum = 0;
    for (size_t i = 0; i < c->dl_n; i++) {
        if (c->dl_len[i] < 0 || (c->dl_pre && c->dl_pre[i] < 0))
            return cerr(c, err, "negative byte array length");
        sum += (uint64_t)c->dl_len[i];
        if (sum > (uint64_t)(c->vend - c->vp))
            return cerr(c, err, "byte array lengths exceed the page");
    }
    return 0;
}

/* n values of a delta byte array page. */
static int decode_dbytes(cur_t *c, size_t n, void *out, diag_t *err)
{
    if (n > c->dl_n - c->dl_i)
        return cerr(c, err, "delta byte array values end early");
    for (size_t i = 0; i < n; i++, c->dl_i++) {
        size_t pre = c->dl_pre ? (size_t)c->dl_pre[c->dl_i] : 0;
        size_t len = (size_t)c->dl_len[c->dl_i];
        if (pre > c->dl_last.len)
            return cerr(c, err, "prefix longer than the last value");
        c->dl_last.len = pre;
        bb_put(&c->dl_last, c->vp, len);
        c->vp += len;
        if (c->out == OUT_IP) {
            if (c->dl_last.len != 16)
                return cerr(c, err, "fixed-length value of a wrong length");
            memcpy((char *)out + 16 * i, c->dl_last.p, 16);
        } else {
            pqs_t *os = out;
            os[i].p = (const uint8_t *)arena_strndup(
                c->sa, (const char *)c->dl_last.p, c->dl_last.len);
            os[i].len = (uint32_t)c->dl_last.len;
        }
    }
    return 0;
}

static int cur_page(cur_t *c, diag_t *err)
{
    for (;;) {
        pqm_page_t pg;
        size_t used;
        diag_t e = {0};
        if (c->lazy && c->pos >= c->clen &&
            cur_load_page(c, c->pgi + 1, err) < 0)   /* UINT32_MAX + 1: 0 */
            return -1;
        if (c->pos >= c->clen)
            return cerr(c, err, "chunk ends before its values");
        if (pqm_read_page(c->chunk + c->pos, c->clen - c->pos, &pg, &used,
                          &e) < 0)
            return cerr(c, err, e.msg);
        c->pos += used;
        if (pg.csize < 0 || pg.usize < 0 || (size_t)pg.csize > c->clen - c->pos
            || (uint32_t)pg.usize > PAGE_MAX)
            return cerr(c, err, "page size out of bounds");
        const uint8_t *raw = c->chunk + c->pos, *p;
        c->pos += (size_t)pg.csize;
        if (pg.type == PG_DICTIONARY) {
            if (cur_inflate(c, raw, (size_t)pg.csize, (size_t)pg.usize, 1, &p,
                            err) < 0)
                return -1;
            if (pg.encoding != PE_PLAIN && pg.encoding != PE_PLAIN_DICTIONARY)
                return cerr(c, err, "dictionary page not PLAIN");
            if (cur_dict(c, p, (size_t)pg.usize, pg.num_values, err) < 0)
                return -1;
            continue;
        }
        if (pg.type != PG_DATA && pg.type != PG_DATA_V2)
            continue;                    /* index pages and unknown ones */
        if (pg.num_values <= 0 || pg.num_values > c->left)
            return cerr(c, err, "page value count out of bounds");
        const uint8_t *vals;
        size_t vlen;
        if (pg.type == PG_DATA) {
            if (cur_inflate(c, raw, (size_t)pg.csize, (size_t)pg.usize, 1, &p,
                            err) < 0)
                return -1;
            vals = p;
            vlen = (size_t)pg.usize;
            if (c->col->max_def) {
                if (vlen < 4 || rd_u32le(vals) > vlen - 4)
                    return cerr(c, err, "definition levels out of bounds");
                uint32_t l = rd_u32le(vals);
                hyb_init(&c->def, vals + 4, l, 1);
                vals += 4 + l;
                vlen -= 4 + (size_t)l;
            }
        } else {
            if (pg.def_len < 0 || pg.rep_len < 0 ||
                (int64_t)pg.def_len + pg.rep_len > pg.csize ||
                (int64_t)pg.def_len + pg.rep_len > pg.usize)
                return cerr(c, err, "v2 level lengths out of bounds");
            size_t lv = (size_t)pg.def_len + (size_t)pg.rep_len;
            if (c->col->max_def)
                hyb_init(&c->def, raw + pg.rep_len, (size_t)pg.def_len, 1);
            if (cur_inflate(c, raw + lv, (size_t)pg.csize - lv,
                            (size_t)pg.usize - lv, pg.is_compressed, &p,
                            err) < 0)
                return -1;
            vals = p;
            vlen = (size_t)pg.usize - lv;
        }
        c->vp = vals;
        c->vend = vals + vlen;
        c->bitpos = 0;
        c->enc = pg.encoding;
        if (c->dbp_on) {
            dbp_free(&c->dbp);
            c->dbp_on = 0;
        }
        int t = c->col->se->type;
        switch (pg.encoding) {
        case PE_PLAIN:
            break;
        case PE_PLAIN_DICTIONARY:
        case PE_RLE_DICTIONARY:
            if (!c->has_dict)
                return cerr(c, err, "dictionary-encoded page without a "
                                    "dictionary");
            if (vlen < 1 || vals[0] > 32)
                return cerr(c, err, "bad dictionary index bit width");
            hyb_init(&c->ix, vals + 1, vlen - 1, vals[0]);
            break;
        case PE_DELTA_BINARY_PACKED:
            if (t != PT_INT32 && t != PT_INT64)
                return cerr(c, err, "DELTA_BINARY_PACKED on a non-integer");
            if (dbp_init(&c->dbp, vals, vlen) < 0)
                return cerr(c, err, "bad DELTA_BINARY_PACKED header");
            c->dbp_on = 1;
            break;
        case PE_RLE:
            if (t != PT_BOOLEAN || vlen < 4 || rd_u32le(vals) > vlen - 4)
                return cerr(c, err, "bad RLE page");
            hyb_init(&c->brle, vals + 4, rd_u32le(vals), 1);
            break;
        case PE_DELTA_LENGTH_BYTE_ARRAY:
        case PE_DELTA_BYTE_ARRAY:
            if (t != PT_BYTE_ARRAY && t != PT_FLBA)
                return cerr(c, err, "DELTA_*BYTE_ARRAY on a non-binary");
            if (cur_delta_bytes(c, pg.encoding, pg.num_values, err) < 0)
                return -1;
            break;
        case PE_BYTE_STREAM_SPLIT:
            c->bss_w = phys_width(c->col);
            if (!c->bss_w || vlen % c->bss_w)
                return cerr(c, err, "bad BYTE_STREAM_SPLIT page");
            c->bss_n = vlen / c->bss_w;
            c->bss_i = 0;
            break;
        default: {
            char why[64];
            snprintf(why, sizeof(why), "encoding %d is not supported",
                     pg.encoding);
            return cerr(c, err, why);
        }
        }
        c->pleft = pg.num_values;
        return 0;
    }
}

/* n PLAIN values from vp into out (of the cursor's output type). */
static int decode_plain(cur_t *c, size_t n, void *out, diag_t *err)
{
    size_t avail = (size_t)(c->vend - c->vp);
    int64_t *oi = out;
    double *od = out;
    switch (c->col->se->type) {
    case PT_BOOLEAN:
        if (c->bitpos + n > avail * 8)
            return cerr(c, err, "page ends before its values");
        for (size_t i = 0; i < n; i++, c->bitpos++)
            oi[i] = (c->vp[c->bitpos >> 3] >> (c->bitpos & 7)) & 1;
        return 0;
    case PT_INT32:
        if (n * 4 > avail)
            return cerr(c, err, "page ends before its values");
        for (size_t i = 0; i < n; i++)
            oi[i] = c->col->is_unsigned
                        ? (int64_t)rd_u32le(c->vp + 4 * i)
                        : (int64_t)(int32_t)rd_u32le(c->vp + 4 * i);
        c->vp += n * 4;
        return 0;
    case PT_INT64:
        if (n * 8 > avail)
            return cerr(c, err, "page ends before its values");
        memcpy(out, c->vp, n * 8);      /* little-endian hosts */
        c->vp += n * 8;
        return 0;
    case PT_FLOAT:
        if (n * 4 > avail)
            return cerr(c, err, "page ends before its values");
        for (size_t i = 0; i < n; i++) {
            uint32_t u = rd_u32le(c->vp + 4 * i);
            float f;
            memcpy(&f, &u, 4);
            od[i] = f;
        }
        c->vp += n * 4;
        return 0;
    case PT_DOUBLE:
    case PT_FLBA:
        if (n * c->esz > avail)
            return cerr(c, err, "page ends before its values");
        memcpy(out, c->vp, n * c->esz);
        c->vp += n * c->esz;
        return 0;
    case PT_BYTE_ARRAY: {
        pqs_t *os = out;
        for (size_t i = 0; i < n; i++) {
            if (c->vend - c->vp < 4 ||
                rd_u32le(c->vp) > (size_t)(c->vend - c->vp) - 4)
                return cerr(c, err, "page ends before its values");
            uint32_t l = rd_u32le(c->vp);
            os[i].p = (const uint8_t *)arena_strndup(
                c->sa, (const char *)c->vp + 4, l);
            os[i].len = l;
            c->vp += 4 + (size_t)l;
        }
        return 0;
    }
    default:
        return cerr(c, err, "unsupported type");
    }
}

/* n values of the page (no nulls among them) into out. */
static int decode_vals(cur_t *c, size_t n, void *out, diag_t *err)
{
    switch (c->enc) {
    case PE_PLAIN:
        return decode_plain(c, n, out, err);
    case PE_PLAIN_DICTIONARY:
    case PE_RLE_DICTIONARY:
        if (hyb_read(&c->ix, c->tmp, n) < 0)
            return cerr(c, err, "dictionary indices end early or are bad");
        for (size_t i = 0; i < n; i++)
            if (c->tmp[i] >= c->ndict)
                return cerr(c, err, "dictionary index out of range");
        if (c->esz == 8) {                  /* the common cases, unrolled */
            const int64_t *d = c->dict;
            int64_t *o = out;
            for (size_t i = 0; i < n; i++)
                o[i] = d[c->tmp[i]];
        } else if (c->out == OUT_IP) {
            const ipaddr_t *d = c->dict;
            ipaddr_t *o = out;
            for (size_t i = 0; i < n; i++)
                o[i] = d[c->tmp[i]];
        } else {
            for (size_t i = 0; i < n; i++)
                memcpy((char *)out + i * c->esz,
                       (const char *)c->dict + (size_t)c->tmp[i] * c->esz,
                       c->esz);
        }
        return 0;
    case PE_DELTA_BINARY_PACKED: {
        int64_t *oi = out;
        int is32 = c->col->se->type == PT_INT32;
        if (dbp_read(&c->dbp, oi, n, is32) < 0)
            return cerr(c, err, "DELTA_BINARY_PACKED values end early or "
                                "are bad");
        if (is32 && c->col->is_unsigned)
            for (size_t i = 0; i < n; i++)
                oi[i] = (int64_t)(uint32_t)oi[i];
        return 0;
    }
    case PE_RLE: {
        int64_t *oi = out;
        if (hyb_read(&c->brle, c->tmp, n) < 0)
            return cerr(c, err, "RLE values end early or are bad");
        for (size_t i = 0; i < n; i++)
            oi[i] = c->tmp[i] & 1;
        return 0;
    }
    case PE_DELTA_LENGTH_BYTE_ARRAY:
    case PE_DELTA_BYTE_ARRAY:
        return decode_dbytes(c, n, out, err);
    case PE_BYTE_STREAM_SPLIT: {
        if (n > c->bss_n - c->bss_i)
            return cerr(c, err, "BYTE_STREAM_SPLIT values end early");
        uint8_t v[16];
        for (size_t i = 0; i < n; i++, c->bss_i++) {
            for (size_t k = 0; k < c->bss_w; k++)
                v[k] = c->vp[k * c->bss_n + c->bss_i];
            int64_t *oi = out;
            double *od = out;
            switch (c->col->se->type) {
            case PT_INT32:
                oi[i] = c->col->is_unsigned ? (int64_t)rd_u32le(v)
                                            : (int64_t)(int32_t)rd_u32le(v);
                break;
            case PT_FLOAT: {
                uint32_t u = rd_u32le(v);
                float f;
                memcpy(&f, &u, 4);
                od[i] = f;
                break;
            }
            default:
                memcpy((char *)out + i * c->esz, v, c->esz);
            }
        }
        return 0;
    }
    default:
        return cerr(c, err, "unsupported encoding");
    }
}

/* The next n (<= FLOW_BATCH_MAX) values of the chunk into out; nulls
 * come out as zeros. Strings stay valid until the next call. */
static int cur_read(cur_t *c, size_t n, void *out, diag_t *err)
{
    size_t i = 0;
    if (c->out == OUT_STR) {        /* strings of the last call go */
        arena_free(c->sa);
        c->sa = arena_new();
    }
    if ((int64_t)n > c->left)
        return cerr(c, err, "fewer values than rows");
    while (i < n) {
        if (c->pleft == 0) {
            if (cur_page(c, err) < 0)
                return -1;
            continue;
        }
        size_t k = n - i < (uint64_t)c->pleft ? n - i : (size_t)c->pleft;
        char *o = (char *)out + i * c->esz;
        size_t nn = k;
        if (c->col->max_def) {
            if (hyb_read(&c->def, c->defs, k) < 0)
                return cerr(c, err, "definition levels end early or are bad");
            nn = 0;
            for (size_t j = 0; j < k; j++)
                nn += c->defs[j] != 0;
        }
        if (nn && decode_vals(c, nn, o, err) < 0)
            return -1;
        if (nn < k) {          /* spread the values over their rows */
            size_t src = nn;
            for (size_t j = k; j-- > 0;) {
                if (c->defs[j]) {
                    src--;
                    if (src != j)
                        memcpy(o + j * c->esz, o + src * c->esz, c->esz);
                } else {
                    memset(o + j * c->esz, 0, c->esz);
                }
            }
        }
        i += k;
        c->pleft -= (int64_t)k;
        c->left -= (int64_t)k;
        c->row += (int64_t)k;
    }
    return 0;
}

/* Lazy: the pages before the first data page (the dictionary's, index
 * pages) from c->chunk[0, clen). */
static int cur_dict_region(cur_t *c, diag_t *err)
{
    while (c->pos < c->clen) {
        pqm_page_t pg;
        size_t used;
        diag_t e = {0};
        const uint8_t *p;
        if (pqm_read_page(c->chunk + c->pos, c->clen - c->pos, &pg, &used,
                          &e) < 0)
            return cerr(c, err, e.msg);
        c->pos += used;
        if (pg.csize < 0 || pg.usize < 0 || (size_t)pg.csize > c->clen - c->pos
            || (uint32_t)pg.usize > PAGE_MAX)
            return cerr(c, err, "page size out of bounds");
        const uint8_t *raw = c->chunk + c->pos;
        c->pos += (size_t)pg.csize;
        if (pg.type == PG_DATA || pg.type == PG_DATA_V2)
            return cerr(c, err, "a data page before the first one the "
                                "offset index lists");
        if (pg.type != PG_DICTIONARY)
            continue;
        if (cur_inflate(c, raw, (size_t)pg.csize, (size_t)pg.usize, 1, &p,
                        err) < 0)
            return -1;
        if (pg.encoding != PE_PLAIN && pg.encoding != PE_PLAIN_DICTIONARY)
            return cerr(c, err, "dictionary page not PLAIN");
        if (cur_dict(c, p, (size_t)pg.usize, pg.num_values, err) < 0)
            return -1;
    }
    return 0;
}

/* Skip k values (decoded and dropped). */
static int cur_skip(cur_t *c, int64_t k, diag_t *err)
{
    if (k > 0 && !c->skip)
        c->skip = xmalloc(FLOW_BATCH_MAX * 16);
    while (k > 0) {
        size_t m = k < FLOW_BATCH_MAX ? (size_t)k : FLOW_BATCH_MAX;
        if (cur_read(c, m, c->skip, err) < 0)
            return -1;
        k -= (int64_t)m;
    }
    return 0;
}

/* Move to row `row` (not behind the cursor): a lazy cursor reads the
 * page holding it, then values before it in that page are skipped. */
static int cur_seek(cur_t *c, int64_t row, diag_t *err)
{
    if (row < c->row || row > c->rows)
        return cerr(c, err, "rows asked for out of order");
    if (c->lazy && row < c->rows) {
        const pidx_t *x = c->px;
        uint32_t lo = 0, hi = x->n;          /* last page starting <= row */
        while (hi - lo > 1) {
            uint32_t mid = (lo + hi) / 2;
            if (x->first[mid] <= row)
                lo = mid;
            else
                hi = mid;
        }
        if (lo != c->pgi && cur_load_page(c, lo, err) < 0)
            return -1;
    }
    return cur_skip(c, row - c->row, err);
}

/* ---- reading row groups ------------------------------------------------- */

static void to_ms(const rcol_t *col, int64_t *v, size_t n)
{
    if (col->div > 1)
        for (size_t i = 0; i < n; i++)
            v[i] = v[i] / col->div - (v[i] % col->div < 0);
}

int pq_reader_read_sel(pq_reader_t *r, size_t rg, uint64_t fields,
                       const pq_rows_t *sel, size_t nsel, pq_batch_fn cb,
                       void *ctx, diag_t *err)
{
    cur_t *cur[F_COUNT] = {0};
    int fld[F_COUNT];
    size_t nc = 0;
    int rc = -1;
    flow_batch_t *b = NULL;
    pqs_t *strs = NULL;
    if (rg >= r->meta.nrgs) {
        diag_set(err, "row group %zu of %u", rg, r->meta.nrgs);
        return -1;
    }
    int64_t rows = r->meta.rgs[rg].num_rows, want = 0;
    for (size_t k = 0; k < nsel; k++) {
        if (sel[k].lo < (k ? sel[k - 1].hi : 0) || sel[k].hi < sel[k].lo ||
            sel[k].hi > rows) {
            diag_set(err, "row group %zu: rows asked for out of order or "
                     "range", rg);
            return -1;
        }
        want += sel[k].hi - sel[k].lo;
    }
    /* pages one by one when at most half the rows are wanted */
    int lazy = want <= rows / 2;
    for (size_t i = 0; i < r->ncols; i++) {
        const rcol_t *c = &r->cols[i];
        int f = c->info.field;
        if (f < 0 || !(fields >> f & 1))
            continue;
        int want_ip = schema_fields[f].type == TYPE_IP;
        int ok = want_ip ? c->info.kind == PQ_IP || c->info.kind == PQ_STRING
                         : c->info.kind >= PQ_BOOL && c->info.kind <= PQ_TIME_MS;
        if (!ok) {
            diag_set(err, "column %s (%s) cannot be read as the flow field "
                     "%s", c->info.name, c->info.kind == PQ_UNSUPPORTED
                     ? phys_name(c->se->type) : pq_kind_name(c->info.kind),
                     schema_fields[f].name);
            goto out;
        }
        fields &= ~(1ull << f);              /* the first of a name wins */
        cur[nc] = cur_open(r, rg, i, lazy, err);
        if (!cur[nc])
            goto out;
        fld[nc++] = f;
    }
    if (!r->fb)
        r->fb = xcalloc(1, sizeof(*r->fb));
    b = r->fb;
    /* lanes filled by an earlier read and not by this one go back to 0 */
    uint64_t now = 0;
    for (size_t k = 0; k < nc; k++)
        now |= 1ull << fld[k];
    for (int f = 0; f < F_COUNT; f++)
        if ((r->fb_dirty & ~now) >> f & 1)
            memset((char *)b + schema_fields[f].offset, 0,
                   FLOW_BATCH_MAX * (schema_fields[f].type == TYPE_IP
                                         ? sizeof(ipaddr_t) : sizeof(int64_t)));
    r->fb_dirty = now;
    for (size_t sk = 0; sk < nsel; sk++) {
    for (size_t k = 0; k < nc; k++)
        if (cur_seek(cur[k], sel[sk].lo, err) < 0)
            goto out;
    int64_t end = sel[sk].hi;
    for (int64_t done = sel[sk].lo; done < end;) {
        size_t n = end - done < FLOW_BATCH_MAX ? (size_t)(end - done)
                                               : FLOW_BATCH_MAX;
        for (size_t k = 0; k < nc; k++) {
            char *lane = (char *)b + schema_fields[fld[k]].offset;
            if (cur[k]->out == OUT_STR) {
                if (!strs)
                    strs = xmalloc(FLOW_BATCH_MAX * sizeof(*strs));
                if (cur_read(cur[k], n, strs, err) < 0)
                    goto out;
                ipaddr_t *ip = (ipaddr_t *)(void *)lane;
                for (size_t i = 0; i < n; i++) {
                    if (strs[i].len == 16) {
                        memcpy(ip[i].a, strs[i].p, 16);
                    } else if (strs[i].len == 4) {
                        ip[i] = ipaddr_from_v4(
                            (uint32_t)strs[i].p[0] << 24 |
                            (uint32_t)strs[i].p[1] << 16 |
                            (uint32_t)strs[i].p[2] << 8 | strs[i].p[3]);
                    } else if (strs[i].len == 0) {
                        memset(ip[i].a, 0, 16);
                    } else {
                        diag_set(err, "column %s, row group %zu: a %u-byte "
                                 "value is not an address",
                                 cur[k]->name, rg, strs[i].len);
                        goto out;
                    }
                }
            } else {
                if (cur_read(cur[k], n, lane, err) < 0)
                    goto out;
                if (cur[k]->out == OUT_I64)
                    to_ms(cur[k]->col, (int64_t *)(void *)lane, n);
            }
        }
        b->n = (uint32_t)n;
        b->flags = 0;
        done += (int64_t)n;
        if (cb(ctx, b)) {
            rc = 1;
            goto out;
        }
    }
    }
    rc = 0;
out:
    for (size_t k = 0; k < nc; k++)
        cur_free(cur[k]);
    free(strs);
    return rc;
}

int pq_reader_read(pq_reader_t *r, size_t rg, uint64_t fields,
                   pq_batch_fn cb, void *ctx, diag_t *err)
{
    pq_rows_t all = {0, rg < r->meta.nrgs ? r->meta.rgs[rg].num_rows : 0};
    return pq_reader_read_sel(r, rg, fields, &all, 1, cb, ctx, err);
}

int pq_reader_read_rows(pq_reader_t *r, size_t rg, const int *cols,
                        size_t ncols, pq_rows_fn cb, void *ctx, diag_t *err)
{
    int rc = -1;
    cur_t **cur = xcalloc(ncols + 1, sizeof(*cur));
    void *tmp = xmalloc(FLOW_BATCH_MAX * 16);
    value_t *rows = xmalloc((ncols + 1) * FLOW_BATCH_MAX * sizeof(value_t));
    if (rg >= r->meta.nrgs) {
        diag_set(err, "row group %zu of %u", rg, r->meta.nrgs);
        goto out;
    }
    for (size_t k = 0; k < ncols; k++) {
        if (cols[k] < 0 || (size_t)cols[k] >= r->ncols) {
            diag_set(err, "column %d of %zu", cols[k], r->ncols);
            goto out;
        }
        cur[k] = cur_open(r, rg, (size_t)cols[k], 0, err);
        if (!cur[k])
            goto out;
    }
    int64_t total = r->meta.rgs[rg].num_rows;
    for (int64_t done = 0; done < total;) {
        size_t n = total - done < FLOW_BATCH_MAX ? (size_t)(total - done)
                                                 : FLOW_BATCH_MAX;
        for (size_t k = 0; k < ncols; k++) {
            if (cur_read(cur[k], n, tmp, err) < 0)
                goto out;
            for (size_t i = 0; i < n; i++) {
                value_t *v = &rows[i * ncols + k];
                switch (cur[k]->out) {
                case OUT_I64:
                    v->i = ((int64_t *)tmp)[i];
                    to_ms(cur[k]->col, &v->i, 1);
                    break;
                case OUT_F64: v->f = ((double *)tmp)[i]; break;
                case OUT_IP: memcpy(v->ip.a, (char *)tmp + 16 * i, 16); break;
                default: v->s = (const char *)((pqs_t *)tmp)[i].p; break;
                }
            }
        }
        done += (int64_t)n;
        if (cb(ctx, rows, n)) {
            rc = 1;
            goto out;
        }
    }
    rc = 0;
out:
    for (size_t k = 0; k < ncols; k++)
        cur_free(cur[k]);
    free(cur);
    free(tmp);
    free(rows);
    return rc;
}
