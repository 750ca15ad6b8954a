/* thrift.c - Thrift compact protocol and Parquet metadata; see thrift.h. */
#include "archive/thrift.h"

#include <stdlib.h>
#include <string.h>

/* ---- encoder ------------------------------------------------------------- */

void tw_init(tw_t *w)
{
    memset(w, 0, sizeof(*w));
}

void tw_free(tw_t *w)
{
    free(w->buf);
    memset(w, 0, sizeof(*w));
}

void tw_reset(tw_t *w)
{
    w->len = 0;
    w->depth = 0;
    w->last[0] = 0;
}

static void tw_put(tw_t *w, const void *p, size_t n)
{
    if (w->len + n > w->cap) {
        size_t cap = w->cap ? w->cap : 256;
        while (cap < w->len + n)
            cap *= 2;
        w->buf = xrealloc(w->buf, cap);
        w->cap = cap;
    }
    memcpy(w->buf + w->len, p, n);
    w->len += n;
}

void tw_raw(tw_t *w, const void *p, size_t n)
{
    tw_put(w, p, n);
}

static void tw_byte(tw_t *w, uint8_t b)
{
    tw_put(w, &b, 1);
}

static void tw_varint(tw_t *w, uint64_t v)
{
    uint8_t b[10];
    size_t n = 0;
    while (v >= 0x80) {
        b[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    b[n++] = (uint8_t)v;
    tw_put(w, b, n);
}

static uint64_t zigzag(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

/* Field header: a delta from the last id in 4 bits when it fits. */
static void tw_header(tw_t *w, int16_t id, int type)
{
    int16_t *last = &w->last[w->depth];
    int delta = id - *last;
    if (delta > 0 && delta <= 15) {
        tw_byte(w, (uint8_t)(delta << 4 | type));
    } else {
        tw_byte(w, (uint8_t)type);
        tw_varint(w, zigzag(id));
    }
    *last = id;
}

void tw_field_bool(tw_t *w, int16_t id, int v)
{
    tw_header(w, id, v ? TT_TRUE : TT_FALSE);
}

void tw_field_i8(tw_t *w, int16_t id, int8_t v)
{
    tw_header(w, id, TT_BYTE);
    tw_byte(w, (uint8_t)v);
}

void tw_field_i32(tw_t *w, int16_t id, int32_t v)
{
    tw_header(w, id, TT_I32);
    tw_varint(w, zigzag(v));
}

void tw_field_i64(tw_t *w, int16_t id, int64_t v)
{
    tw_header(w, id, TT_I64);
    tw_varint(w, zigzag(v));
}

void tw_field_bin(tw_t *w, int16_t id, const void *p, size_t n)
{
    tw_header(w, id, TT_BINARY);
    tw_bin(w, p, n);
}

void tw_field_str(tw_t *w, int16_t id, const char *s)
{
    tw_field_bin(w, id, s, strlen(s));
}

static void tw_push(tw_t *w)
{
    /* Our own structs nest 6 deep at most: overflow is a bug. */
    if (w->depth + 1 >= THRIFT_MAX_DEPTH)
        abort();
    w->last[++w->depth] = 0;
}

void tw_field_struct(tw_t *w, int16_t id)
{
    tw_header(w, id, TT_STRUCT);
    tw_push(w);
}

void tw_field_empty(tw_t *w, int16_t id)
{
    tw_field_struct(w, id);
    tw_end(w);
}

void tw_field_list(tw_t *w, int16_t id, int elem_type, uint32_t n)
{
    tw_header(w, id, TT_LIST);
    if (n < 15) {
        tw_byte(w, (uint8_t)(n << 4 | (uint32_t)elem_type));
    } else {
        tw_byte(w, (uint8_t)(0xf0 | elem_type));
        tw_varint(w, n);
    }
}

void tw_i32(tw_t *w, int32_t v)
{
    tw_varint(w, zigzag(v));
}

void tw_i64(tw_t *w, int64_t v)
{
    tw_varint(w, zigzag(v));
}

void tw_bool(tw_t *w, int v)
{
    tw_byte(w, v ? 1 : 2);       /* as the Java and C++ libraries write */
}

void tw_bin(tw_t *w, const void *p, size_t n)
{
    tw_varint(w, n);
    tw_put(w, p, n);
}

void tw_struct(tw_t *w)
{
    tw_push(w);
}

void tw_end(tw_t *w)
{
    tw_byte(w, TT_STOP);
    if (w->depth > 0)
        w->depth--;
}

/* ---- decoder ------------------------------------------------------------- */

void tr_init(tr_t *r, const void *p, size_t n)
{
    memset(r, 0, sizeof(*r));
    r->p = p;
    r->end = r->p + n;
    r->depth = -1;
}

static int tr_fail(tr_t *r, const char *why)
{
    if (!r->bad) {
        r->bad = 1;
        r->why = why;
    }
    return -1;
}

static int tr_varint(tr_t *r, uint64_t *v)
{
    uint64_t x = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (r->p >= r->end)
            return tr_fail(r, "truncated");
        uint8_t b = *r->p++;
        if (shift == 63 && b > 1)
            return tr_fail(r, "varint too long");
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = x;
            return 0;
        }
    }
    return tr_fail(r, "varint too long");
}

static int64_t unzigzag(uint64_t v)
{
    return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

int tr_begin(tr_t *r)
{
    if (r->bad)
        return -1;
    if (r->depth + 1 >= THRIFT_MAX_DEPTH)
        return tr_fail(r, "structs nested too deep");
    r->last[++r->depth] = 0;
    return 0;
}

int tr_field(tr_t *r, int16_t *id, int *type)
{
    if (r->bad || r->depth < 0)
        return tr_fail(r, "not in a struct");
    if (r->p >= r->end)
        return tr_fail(r, "truncated");
    uint8_t b = *r->p++;
    if (b == TT_STOP) {
        r->depth--;
        return 0;
    }
    *type = b & 0x0f;
    int delta = b >> 4;
    if (delta) {
        int nid = r->last[r->depth] + delta;
        if (nid > INT16_MAX)
            return tr_fail(r, "field id out of range");
        *id = (int16_t)nid;
    } else {
        uint64_t v;
        if (tr_varint(r, &v) < 0)
            return -1;
        int64_t s = unzigzag(v);
        if (s < INT16_MIN || s > INT16_MAX)
            return tr_fail(r, "field id out of range");
        *id = (int16_t)s;
    }
    if (*type == TT_STOP || *type > TT_STRUCT)
        return tr_fail(r, "bad field type");
    r->last[r->depth] = *id;
    return 1;
}

static int tr_int(tr_t *r, int type, int64_t *v)
{
    uint64_t u;
    switch (type) {
    case TT_BYTE:
        if (r->p >= r->end)
            return tr_fail(r, "truncated");
        *v = (int8_t)*r->p++;
        return 0;
    case TT_I16:
    case TT_I32:
    case TT_I64:
        if (tr_varint(r, &u) < 0)
            return -1;
        *v = unzigzag(u);
        return 0;
    default:
        return 1;
    }
}

int tr_i32(tr_t *r, int type, int32_t *v)
{
    int64_t x;
    int rc = tr_int(r, type, &x);
    if (rc < 0)
        return -1;
    if (rc > 0)
        return tr_skip(r, type) == 0 ? 1 : -1;
    if (x < INT32_MIN || x > INT32_MAX)
        return tr_fail(r, "i32 out of range");
    *v = (int32_t)x;
    return 0;
}

int tr_i64(tr_t *r, int type, int64_t *v)
{
    int rc = tr_int(r, type, v);
    if (rc > 0)
        return tr_skip(r, type) == 0 ? 1 : -1;
    return rc;
}

int tr_bool(tr_t *r, int type, int *v)
{
    if (type == TT_TRUE || type == TT_FALSE) {
        *v = type == TT_TRUE;
        return 0;
    }
    return tr_skip(r, type) == 0 ? 1 : -1;
}

int tr_bin(tr_t *r, int type, const uint8_t **p, uint32_t *n)
{
    if (type != TT_BINARY)
        return tr_skip(r, type) == 0 ? 1 : -1;
    uint64_t len;
    if (tr_varint(r, &len) < 0)
        return -1;
    if (len > (uint64_t)(r->end - r->p))
        return tr_fail(r, "binary longer than the data");
    *p = r->p;
    *n = (uint32_t)len;
    r->p += len;
    return 0;
}

int tr_list(tr_t *r, int type, int *elem_type, uint32_t *n)
{
    if (type != TT_LIST && type != TT_SET)
        return tr_skip(r, type) == 0 ? 1 : -1;
    if (r->p >= r->end)
        return tr_fail(r, "truncated");
    uint8_t b = *r->p++;
    uint64_t count = b >> 4;
    *elem_type = b & 0x0f;
    if (count == 15 && tr_varint(r, &count) < 0)
        return -1;
    /* Every element takes a byte at least (bools in lists take one). */
    if (count > (uint64_t)(r->end - r->p))
        return tr_fail(r, "list longer than the data");
    if (*elem_type == TT_STOP || *elem_type > TT_STRUCT)
        return tr_fail(r, "bad list element type");
    *n = (uint32_t)count;
    return 0;
}

/* Skip a value; elements of a list of bools are one byte each. */
static int tr_skip_in(tr_t *r, int type, int in_list)
{
    uint64_t u;
    const uint8_t *p;
    uint32_t n;
    int et;
    if (r->bad)
        return -1;
    switch (type) {
    case TT_TRUE:
    case TT_FALSE:
        if (in_list) {
            if (r->p >= r->end)
                return tr_fail(r, "truncated");
            r->p++;
        }
        return 0;
    case TT_BYTE:
        if (r->p >= r->end)
            return tr_fail(r, "truncated");
        r->p++;
        return 0;
    case TT_I16:
    case TT_I32:
    case TT_I64:
        return tr_varint(r, &u);
    case TT_DOUBLE:
        if (r->end - r->p < 8)
            return tr_fail(r, "truncated");
        r->p += 8;
        return 0;
    case TT_BINARY:
        return tr_bin(r, type, &p, &n) < 0 ? -1 : 0;
    case TT_LIST:
    case TT_SET:
        if (tr_list(r, type, &et, &n) < 0)
            return -1;
        if (r->depth + 1 >= THRIFT_MAX_DEPTH)
            return tr_fail(r, "structs nested too deep");
        r->depth++;             /* count the list as a level of nesting */
        r->last[r->depth] = 0;
        for (uint32_t i = 0; i < n; i++)
            if (tr_skip_in(r, et, 1) < 0)
                return -1;
        r->depth--;
        return 0;
    case TT_MAP: {
        if (tr_varint(r, &u) < 0)
            return -1;
        if (u == 0)
            return 0;
        if (r->p >= r->end)
            return tr_fail(r, "truncated");
        uint8_t kv = *r->p++;
        if (u > (uint64_t)(r->end - r->p))
            return tr_fail(r, "map longer than the data");
        if (r->depth + 1 >= THRIFT_MAX_DEPTH)
            return tr_fail(r, "structs nested too deep");
        r->depth++;
        for (uint64_t i = 0; i < u; i++)
            if (tr_skip_in(r, kv >> 4, 1) < 0 ||
                tr_skip_in(r, kv & 0x0f, 1) < 0)
                return -1;
        r->depth--;
        return 0;
    }
    case TT_STRUCT: {
        int16_t id;
        int ft, rc;
        if (tr_begin(r) < 0)
            return -1;
        while ((rc = tr_field(r, &id, &ft)) > 0)
            if (tr_skip_in(r, ft, 0) < 0)
                return -1;
        return rc;
    }
    default:
        return tr_fail(r, "bad type");
    }
}

int tr_skip(tr_t *r, int type)
{
    return tr_skip_in(r, type, 0);
}

/* ---- Parquet metadata: encoders ----------------------------------------- */

static void write_stats(tw_t *w, int16_t id, const pqm_stats_t *s)
{
    tw_field_struct(w, id);
    if (s->max.set)
        tw_field_bin(w, 1, s->max.p, s->max.len);
    if (s->min.set)
        tw_field_bin(w, 2, s->min.p, s->min.len);
    if (s->has_null_count)
        tw_field_i64(w, 3, s->null_count);
    if (s->max_value.set)
        tw_field_bin(w, 5, s->max_value.p, s->max_value.len);
    if (s->min_value.set)
        tw_field_bin(w, 6, s->min_value.p, s->min_value.len);
    tw_end(w);
}

static void write_colmeta(tw_t *w, int16_t id, const pqm_colmeta_t *m)
{
    int n = 0;
    tw_field_struct(w, id);
    tw_field_i32(w, 1, m->type);
    for (int e = 0; e < 32; e++)
        n += (m->encodings >> e) & 1;
    tw_field_list(w, 2, TT_I32, (uint32_t)n);
    for (int e = 0; e < 32; e++)
        if ((m->encodings >> e) & 1)
            tw_i32(w, e);
    tw_field_list(w, 3, TT_BINARY, 1);
    tw_bin(w, m->path, strlen(m->path));
    tw_field_i32(w, 4, m->codec);
    tw_field_i64(w, 5, m->num_values);
    tw_field_i64(w, 6, m->total_uncompressed_size);
    tw_field_i64(w, 7, m->total_compressed_size);
    tw_field_i64(w, 9, m->data_page_offset);
    if (m->has_dict_offset)
        tw_field_i64(w, 11, m->dictionary_page_offset);
    if (m->has_stats)
        write_stats(w, 12, &m->stats);
    if (m->has_bloom) {
        tw_field_i64(w, 14, m->bloom_offset);
        tw_field_i32(w, 15, m->bloom_length);
    }
    tw_end(w);
}

static void write_rowgroup_body(tw_t *w, const pqm_rowgroup_t *rg)
{
    tw_field_list(w, 1, TT_STRUCT, rg->ncols);
    for (uint32_t i = 0; i < rg->ncols; i++) {
        const pqm_chunk_t *c = &rg->cols[i];
        tw_struct(w);
        tw_field_i64(w, 2, c->file_offset);
        if (c->has_meta)
            write_colmeta(w, 3, &c->meta);
        if (c->has_oi) {
            tw_field_i64(w, 4, c->oi_offset);
            tw_field_i32(w, 5, c->oi_length);
        }
        if (c->has_ci) {
            tw_field_i64(w, 6, c->ci_offset);
            tw_field_i32(w, 7, c->ci_length);
        }
        tw_end(w);
    }
    tw_field_i64(w, 2, rg->total_byte_size);
    tw_field_i64(w, 3, rg->num_rows);
    if (rg->has_sort) {                 /* SortingColumn: ascending */
        tw_field_list(w, 4, TT_STRUCT, 1);
        tw_struct(w);
        tw_field_i32(w, 1, rg->sort_col);
        tw_field_bool(w, 2, 0);
        tw_field_bool(w, 3, 0);
        tw_end(w);
    }
    if (rg->has_file_offset)
        tw_field_i64(w, 5, rg->file_offset);
    if (rg->has_total_compressed)
        tw_field_i64(w, 6, rg->total_compressed_size);
}

void pqm_write_rowgroup(tw_t *w, const pqm_rowgroup_t *rg)
{
    tw_struct(w);
    write_rowgroup_body(w, rg);
    tw_end(w);
}

static void write_schema(tw_t *w, const pqm_schema_t *s)
{
    tw_struct(w);
    if (s->type >= 0)
        tw_field_i32(w, 1, s->type);
    if (s->type == PT_FLBA)
        tw_field_i32(w, 2, s->type_length);
    if (s->repetition >= 0)
        tw_field_i32(w, 3, s->repetition);
    tw_field_str(w, 4, s->name);
    if (s->type < 0)
        tw_field_i32(w, 5, s->num_children);
    if (s->converted >= 0)
        tw_field_i32(w, 6, s->converted);
    if (s->logical != PL_NONE) {
        tw_field_struct(w, 10);
        switch (s->logical) {
        case PL_STRING:
            tw_field_empty(w, 1);
            break;
        case PL_TIMESTAMP:
            tw_field_struct(w, 8);
            tw_field_bool(w, 1, s->lt_utc);
            tw_field_struct(w, 2);
            tw_field_empty(w, (int16_t)s->lt_unit);
            tw_end(w);
            tw_end(w);
            break;
        case PL_INTEGER:
            tw_field_struct(w, 10);
            tw_field_i8(w, 1, (int8_t)s->lt_bits);
            tw_field_bool(w, 2, s->lt_signed);
            tw_end(w);
            break;
        }
        tw_end(w);
    }
    tw_end(w);
}

void pqm_write_file(tw_t *w, const pqm_file_t *f)
{
    tw_struct(w);
    tw_field_i32(w, 1, f->version);
    tw_field_list(w, 2, TT_STRUCT, f->nschema);
    for (uint32_t i = 0; i < f->nschema; i++)
        write_schema(w, &f->schema[i]);
    tw_field_i64(w, 3, f->num_rows);
    tw_field_list(w, 4, TT_STRUCT, f->nrgs);
    for (uint32_t i = 0; i < f->nrgs; i++)
        pqm_write_rowgroup(w, &f->rgs[i]);
    if (f->nkv) {
        tw_field_list(w, 5, TT_STRUCT, f->nkv);
        for (uint32_t i = 0; i < f->nkv; i++) {
            tw_struct(w);
            tw_field_str(w, 1, f->kv[i].key);
            if (f->kv[i].value)
                tw_field_str(w, 2, f->kv[i].value);
            tw_end(w);
        }
    }
    if (f->created_by)
        tw_field_str(w, 6, f->created_by);
    if (f->column_orders && f->nschema > 1) {
        uint32_t leaves = 0;
        for (uint32_t i = 1; i < f->nschema; i++)
            leaves += f->schema[i].type >= 0;
        tw_field_list(w, 7, TT_STRUCT, leaves);
        for (uint32_t i = 0; i < leaves; i++) {
            tw_struct(w);
            tw_field_empty(w, 1);       /* TYPE_ORDER */
            tw_end(w);
        }
    }
    tw_end(w);
}

void pqm_write_page(tw_t *w, const pqm_page_t *pg)
{
    tw_struct(w);
    tw_field_i32(w, 1, pg->type);
    tw_field_i32(w, 2, pg->usize);
    tw_field_i32(w, 3, pg->csize);
    if (pg->type == PG_DATA) {
        tw_field_struct(w, 5);
        tw_field_i32(w, 1, pg->num_values);
        tw_field_i32(w, 2, pg->encoding);
        tw_field_i32(w, 3, pg->def_encoding);
        tw_field_i32(w, 4, pg->rep_encoding);
        tw_end(w);
    } else if (pg->type == PG_DICTIONARY) {
        tw_field_struct(w, 7);
        tw_field_i32(w, 1, pg->num_values);
        tw_field_i32(w, 2, pg->encoding);
        tw_end(w);
    }
    tw_end(w);
}

void pqm_write_bloom(tw_t *w, const pqm_bloom_t *b)
{
    tw_struct(w);
    tw_field_i32(w, 1, b->num_bytes);
    tw_field_struct(w, 2);
    tw_field_empty(w, 1);               /* BLOCK */
    tw_end(w);
    tw_field_struct(w, 3);
    tw_field_empty(w, 1);               /* XXHASH */
    tw_end(w);
    tw_field_struct(w, 4);
    tw_field_empty(w, 1);               /* UNCOMPRESSED */
    tw_end(w);
    tw_end(w);
}

void pqm_write_offidx(tw_t *w, const pqm_offidx_t *oi)
{
    tw_struct(w);
    tw_field_list(w, 1, TT_STRUCT, oi->n);
    for (uint32_t i = 0; i < oi->n; i++) {
        tw_struct(w);
        tw_field_i64(w, 1, oi->pages[i].offset);
        tw_field_i32(w, 2, oi->pages[i].size);
        tw_field_i64(w, 3, oi->pages[i].first_row);
        tw_end(w);
    }
    tw_end(w);
}

void pqm_write_colidx(tw_t *w, const pqm_colidx_t *ci)
{
    tw_struct(w);
    tw_field_list(w, 1, TT_TRUE, ci->n);
    for (uint32_t i = 0; i < ci->n; i++)
        tw_bool(w, ci->null_pages[i]);
    tw_field_list(w, 2, TT_BINARY, ci->n);
    for (uint32_t i = 0; i < ci->n; i++)
        tw_bin(w, ci->mins[i].p, ci->mins[i].len);
    tw_field_list(w, 3, TT_BINARY, ci->n);
    for (uint32_t i = 0; i < ci->n; i++)
        tw_bin(w, ci->maxs[i].p, ci->maxs[i].len);
    tw_field_i32(w, 4, ci->order);
    tw_field_list(w, 5, TT_I64, ci->n);     /* null_counts: no nulls */
    for (uint32_t i = 0; i < ci->n; i++)
        tw_i64(w, 0);
    tw_end(w);
}

/* ---- Parquet metadata: decoders ----------------------------------------- */

/* Within a decoder: r, err. Read helpers return <0 on error. */
#define TRY(x)                                                             \
    do {                                                                   \
        if ((x) < 0)                                                       \
            return -1;                                                     \
    } while (0)

static int read_binf(tr_t *r, int type, pqm_bin_t *b)
{
    int rc = tr_bin(r, type, &b->p, &b->len);
    if (rc == 0)
        b->set = 1;
    return rc;
}

static char *bin_str(arena_t *a, const uint8_t *p, uint32_t n)
{
    return arena_strndup(a, (const char *)p, n);
}

static int read_stats(tr_t *r, pqm_stats_t *s)
{
    int16_t id;
    int t, rc;
    TRY(tr_begin(r));
    while ((rc = tr_field(r, &id, &t)) > 0) {
        switch (id) {
        case 1: TRY(read_binf(r, t, &s->max)); break;
        case 2: TRY(read_binf(r, t, &s->min)); break;
        case 3:
            rc = tr_i64(r, t, &s->null_count);
            TRY(rc);
            s->has_null_count = rc == 0;
            break;
        case 5: TRY(read_binf(r, t, &s->max_value)); break;
        case 6: TRY(read_binf(r, t, &s->min_value)); break;
        default: TRY(tr_skip(r, t));
        }
    }
    return rc;
}

/* Skip a field unless it is a struct, which the caller then reads. */
static int want_struct(tr_t *r, int t)
{
    if (t == TT_STRUCT)
        return 1;
    return tr_skip(r, t) < 0 ? -1 : 0;
}

static int read_colmeta(tr_t *r, arena_t *a, pqm_colmeta_t *m)
{
    int16_t id;
    int t, rc, et, ok;
    uint32_t n;
    const uint8_t *p;
    TRY(tr_begin(r));
    while ((rc = tr_field(r, &id, &t)) > 0) {
        switch (id) {
        case 1: TRY(tr_i32(r, t, &m->type)); break;
        case 2:
            rc = tr_list(r, t, &et, &n);
            TRY(rc);
            for (uint32_t i = 0; rc == 0 && i < n; i++) {
                int32_t e = 0;
                int erc = tr_i32(r, et, &e);
                TRY(erc);
                if (erc == 0 && e >= 0 && e < 32)
                    m->encodings |= 1u << e;
            }
            break;
        case 3:
            rc = tr_list(r, t, &et, &n);
            TRY(rc);
            if (rc == 0) {
                char *path = arena_strdup(a, "");
                for (uint32_t i = 0; i < n; i++) {
                    uint32_t len;
                    int brc = tr_bin(r, et, &p, &len);
                    TRY(brc);
                    if (brc == 0)
                        path = i ? arena_printf(a, "%s.%.*s", path, (int)len,
                                                (const char *)p)
                                 : bin_str(a, p, len);
                }
                m->path = path;
            }
            break;
        case 4: TRY(tr_i32(r, t, &m->codec)); break;
        case 5: TRY(tr_i64(r, t, &m->num_values)); break;
        case 6: TRY(tr_i64(r, t, &m->total_uncompressed_size)); break;
        case 7: TRY(tr_i64(r, t, &m->total_compressed_size)); break;
        case 9: TRY(tr_i64(r, t, &m->data_page_offset)); break;
        case 11:
            rc = tr_i64(r, t, &m->dictionary_page_offset);
            TRY(rc);
            m->has_dict_offset = rc == 0;
            break;
        case 12:
            TRY(ok = want_struct(r, t));
            if (ok) {
                TRY(read_stats(r, &m->stats));
                m->has_stats = 1;
            }
            break;
        case 14:
            rc = tr_i64(r, t, &m->bloom_offset);
            TRY(rc);
            m->has_bloom = rc == 0;
            break;
        case 15: TRY(tr_i32(r, t, &m->bloom_length)); break;
        default: TRY(tr_skip(r, t));
        }
    }
    return rc;
}

static int read_chunk(tr_t *r, arena_t *a, pqm_chunk_t *c)
{
    int16_t id;
    int t, rc, ok;
    TRY(tr_begin(r));
    while ((rc = tr_field(r, &id, &t)) > 0) {
        switch (id) {
        case 2: TRY(tr_i64(r, t, &c->file_offset)); break;
        case 3:
            TRY(ok = want_struct(r, t));
            if (ok) {
                TRY(read_colmeta(r, a, &c->meta));
                c->has_meta = 1;
            }
            break;
        case 4:
            rc = tr_i64(r, t, &c->oi_offset);
            TRY(rc);
            c->has_oi |= rc == 0;
            break;
        case 5:
            rc = tr_i32(r, t, &c->oi_length);
            TRY(rc);
            c->has_oi |= (rc == 0) << 1;
            break;
        case 6:
            rc = tr_i64(r, t, &c->ci_offset);
            TRY(rc);
            c->has_ci |= rc == 0;
            break;
        case 7:
            rc = tr_i32(r, t, &c->ci_length);
            TRY(rc);
            c->has_ci |= (rc == 0) << 1;
            break;
        default: TRY(tr_skip(r, t));
        }
    }
    c->has_oi = c->has_oi == 3;         /* offset and length both */
    c->has_ci = c->has_ci == 3;
    return rc;
}

static int read_rowgroup(tr_t *r, arena_t *a, pqm_rowgroup_t *rg)
{
    int16_t id;
    int t, rc, et;
    uint32_t n;
    TRY(tr_begin(r));
    while ((rc = tr_field(r, &id, &t)) > 0) {
        switch (id) {
        case 1:
            rc = tr_list(r, t, &et, &n);
            TRY(rc);
            if (rc)
                break;
            if (et != TT_STRUCT) {
                for (uint32_t i = 0; i < n; i++)
                    TRY(tr_skip_in(r, et, 1));
                break;
            }
            if (arena_used(a) + (size_t)n * sizeof(*rg->cols) > PQM_ARENA_MAX)
                return tr_fail(r, "metadata too large to decode");
            rg->cols = arena_alloc(a, (size_t)n * sizeof(*rg->cols) + 1);
            rg->ncols = n;
            for (uint32_t i = 0; i < n; i++)
                TRY(read_chunk(r, a, &rg->cols[i]));
            break;
        case 2: TRY(tr_i64(r, t, &rg->total_byte_size)); break;
        case 3: TRY(tr_i64(r, t, &rg->num_rows)); break;
        case 5:
            rc = tr_i64(r, t, &rg->file_offset);
            TRY(rc);
            rg->has_file_offset = rc == 0;
            break;
        case 6:
            rc = tr_i64(r, t, &rg->total_compressed_size);
            TRY(rc);
            rg->has_total_compressed = rc == 0;
            break;
        default: TRY(tr_skip(r, t));
        }
    }
    return rc;
}

/* LogicalType: a union; we keep the members we understand. */
static int read_logical(tr_t *r, pqm_schema_t *s)
{
    int16_t id, id2, id3;
    int t, t2, t3, rc, rc2, rc3, v;
    TRY(tr_begin(r));
    while ((rc = tr_field(r, &id, &t)) > 0) {
        if (t != TT_STRUCT) {
            TRY(tr_skip(r, t));
            continue;
        }
        switch (id) {
        case PL_STRING:
            s->logical = PL_STRING;
            TRY(tr_skip(r, t));
            break;
        case PL_TIMESTAMP:
            s->logical = PL_TIMESTAMP;
            TRY(tr_begin(r));
            while ((rc2 = tr_field(r, &id2, &t2)) > 0) {
                if (id2 == 1) {
                    TRY(tr_bool(r, t2, &s->lt_utc));
                } else if (id2 == 2 && t2 == TT_STRUCT) {
                    TRY(tr_begin(r));
                    while ((rc3 = tr_field(r, &id3, &t3)) > 0) {
                        if (id3 >= PU_MILLIS && id3 <= PU_NANOS)
                            s->lt_unit = id3;
                        TRY(tr_skip(r, t3));
                    }
                    TRY(rc3);
                } else {
                    TRY(tr_skip(r, t2));
                }
            }
            TRY(rc2);
            break;
        case PL_INTEGER:
            s->logical = PL_INTEGER;
            TRY(tr_begin(r));
            while ((rc2 = tr_field(r, &id2, &t2)) > 0) {
                int32_t bits = 0;
                if (id2 == 1) {
                    TRY(rc3 = tr_i32(r, t2, &bits));
                    if (rc3 == 0)
                        s->lt_bits = bits;
                } else if (id2 == 2) {
                    TRY(rc3 = tr_bool(r, t2, &v));
                    if (rc3 == 0)
                        s->lt_signed = v;
                } else {
                    TRY(tr_skip(r, t2));
                }
            }
            TRY(rc2);
            break;
        default:
            s->logical = PL_OTHER;
            TRY(tr_skip(r, t));
        }
    }
    return rc;
}

static int read_schema(tr_t *r, arena_t *a, pqm_schema_t *s)
{
    int16_t id;
    int t, rc, ok;
    const uint8_t *p;
    uint32_t n;
    s->type = -1;
    s->repetition = -1;
    s->converted = -1;
    s->name = "";
    TRY(tr_begin(r));
    while ((rc = tr_field(r, &id, &t)) > 0) {
        switch (id) {
        case 1: TRY(tr_i32(r, t, &s->type)); break;
        case 2: TRY(tr_i32(r, t, &s->type_length)); break;
        case 3: TRY(tr_i32(r, t, &s->repetition)); break;
        case 4:
            rc = tr_bin(r, t, &p, &n);
            TRY(rc);
            if (rc == 0)
                s->name = bin_str(a, p, n);
            break;
        case 5: TRY(tr_i32(r, t, &s->num_children)); break;
        case 6: TRY(tr_i32(r, t, &s->converted)); break;
        case 10:
            TRY(ok = want_struct(r, t));
            if (ok)
                TRY(read_logical(r, s));
            break;
        default: TRY(tr_skip(r, t));
        }
    }
    return rc;
}

static int read_kv(tr_t *r, arena_t *a, pqm_kv_t *kv)
{
    int16_t id;
    int t, rc;
    const uint8_t *p;
    uint32_t n;
    kv->key = "";
    TRY(tr_begin(r));
    while ((rc = tr_field(r, &id, &t)) > 0) {
        if (id == 1 || id == 2) {
            int brc = tr_bin(r, t, &p, &n);
            TRY(brc);
            if (brc == 0) {
                if (id == 1)
                    kv->key = bin_str(a, p, n);
                else
                    kv->value = bin_str(a, p, n);
            }
        } else {
            TRY(tr_skip(r, t));
        }
    }
    return rc;
}

/* A list of structs read by fn into an arena array of size elements. */
typedef int (*read_elem_fn)(tr_t *r, arena_t *a, void *elem);

static int read_struct_list(tr_t *r, int t, arena_t *a, size_t size,
                            read_elem_fn fn, void **out, uint32_t *count)
{
    int et, rc;
    uint32_t n;
    rc = tr_list(r, t, &et, &n);
    TRY(rc);
    if (rc)
        return 0;
    if (et != TT_STRUCT) {
        for (uint32_t i = 0; i < n; i++)
            TRY(tr_skip_in(r, et, 1));
        return 0;
    }
    if (arena_used(a) + (size_t)n * size > PQM_ARENA_MAX)
        return tr_fail(r, "metadata too large to decode");
    char *arr = arena_alloc(a, (size_t)n * size + 1);
    for (uint32_t i = 0; i < n; i++)
        TRY(fn(r, a, arr + i * size));
    *out = arr;
    *count = n;
    return 0;
}

static int read_schema_e(tr_t *r, arena_t *a, void *e)
{
    return read_schema(r, a, e);
}

static int read_rowgroup_e(tr_t *r, arena_t *a, void *e)
{
    return read_rowgroup(r, a, e);
}

static int read_kv_e(tr_t *r, arena_t *a, void *e)
{
    return read_kv(r, a, e);
}

static int read_file(tr_t *r, arena_t *a, pqm_file_t *f)
{
    int16_t id;
    int t, rc;
    const uint8_t *p;
    uint32_t n;
    TRY(tr_begin(r));
    while ((rc = tr_field(r, &id, &t)) > 0) {
        switch (id) {
        case 1: TRY(tr_i32(r, t, &f->version)); break;
        case 2:
            TRY(read_struct_list(r, t, a, sizeof(pqm_schema_t), read_schema_e,
                                 (void **)&f->schema, &f->nschema));
            break;
        case 3: TRY(tr_i64(r, t, &f->num_rows)); break;
        case 4:
            TRY(read_struct_list(r, t, a, sizeof(pqm_rowgroup_t),
                                 read_rowgroup_e, (void **)&f->rgs, &f->nrgs));
            break;
        case 5:
            TRY(read_struct_list(r, t, a, sizeof(pqm_kv_t), read_kv_e,
                                 (void **)&f->kv, &f->nkv));
            break;
        case 6:
            rc = tr_bin(r, t, &p, &n);
            TRY(rc);
            if (rc == 0)
                f->created_by = bin_str(a, p, n);
            break;
        default: TRY(tr_skip(r, t));
        }
    }
    return rc;
}

static int decoded(tr_t *r, int rc, const char *what, diag_t *err)
{
    if (rc < 0 || r->bad) {
        diag_set(err, "%s: %s", what, r->why ? r->why : "malformed");
        return -1;
    }
    return 0;
}

int pqm_read_file(const void *p, size_t n, arena_t *a, pqm_file_t *f,
                  diag_t *err)
{
    tr_t r;
    memset(f, 0, sizeof(*f));
    tr_init(&r, p, n);
    return decoded(&r, read_file(&r, a, f), "footer", err);
}

int pqm_read_rowgroup(const void *p, size_t n, arena_t *a, pqm_rowgroup_t *rg,
                      size_t *used, diag_t *err)
{
    tr_t r;
    memset(rg, 0, sizeof(*rg));
    tr_init(&r, p, n);
    if (decoded(&r, read_rowgroup(&r, a, rg), "row group", err) < 0)
        return -1;
    if (used)
        *used = tr_used(&r, p);
    return 0;
}

static int read_page_v1(tr_t *r, pqm_page_t *pg)
{
    int16_t id;
    int t, rc;
    TRY(tr_begin(r));
    while ((rc = tr_field(r, &id, &t)) > 0) {
        switch (id) {
        case 1: TRY(tr_i32(r, t, &pg->num_values)); break;
        case 2: TRY(tr_i32(r, t, &pg->encoding)); break;
        case 3: TRY(tr_i32(r, t, &pg->def_encoding)); break;
        case 4: TRY(tr_i32(r, t, &pg->rep_encoding)); break;
        default: TRY(tr_skip(r, t));
        }
    }
    return rc;
}

static int read_page_v2(tr_t *r, pqm_page_t *pg)
{
    int16_t id;
    int t, rc;
    TRY(tr_begin(r));
    while ((rc = tr_field(r, &id, &t)) > 0) {
        switch (id) {
        case 1: TRY(tr_i32(r, t, &pg->num_values)); break;
        case 2: TRY(tr_i32(r, t, &pg->num_nulls)); break;
        case 3: TRY(tr_i32(r, t, &pg->num_rows)); break;
        case 4: TRY(tr_i32(r, t, &pg->encoding)); break;
        case 5: TRY(tr_i32(r, t, &pg->def_len)); break;
        case 6: TRY(tr_i32(r, t, &pg->rep_len)); break;
        case 7: TRY(tr_bool(r, t, &pg->is_compressed)); break;
        default: TRY(tr_skip(r, t));
        }
    }
    return rc;
}

static int read_page_dict(tr_t *r, pqm_page_t *pg)
{
    int16_t id;
    int t, rc;
    TRY(tr_begin(r));
    while ((rc = tr_field(r, &id, &t)) > 0) {
        switch (id) {
        case 1: TRY(tr_i32(r, t, &pg->num_values)); break;
        case 2: TRY(tr_i32(r, t, &pg->encoding)); break;
        default: TRY(tr_skip(r, t));
        }
    }
    return rc;
}

static int read_page(tr_t *r, pqm_page_t *pg)
{
    int16_t id;
    int t, rc, ok;
    TRY(tr_begin(r));
    while ((rc = tr_field(r, &id, &t)) > 0) {
        switch (id) {
        case 1: TRY(tr_i32(r, t, &pg->type)); break;
        case 2: TRY(tr_i32(r, t, &pg->usize)); break;
        case 3: TRY(tr_i32(r, t, &pg->csize)); break;
        case 5:
            TRY(ok = want_struct(r, t));
            if (ok)
                TRY(read_page_v1(r, pg));
            break;
        case 7:
            TRY(ok = want_struct(r, t));
            if (ok)
                TRY(read_page_dict(r, pg));
            break;
        case 8:
            TRY(ok = want_struct(r, t));
            if (ok)
                TRY(read_page_v2(r, pg));
            break;
        default: TRY(tr_skip(r, t));
        }
    }
    return rc;
}

int pqm_read_page(const void *p, size_t n, pqm_page_t *pg, size_t *used,
                  diag_t *err)
{
    tr_t r;
    memset(pg, 0, sizeof(*pg));
    pg->type = -1;
    pg->encoding = -1;
    pg->is_compressed = 1;
    tr_init(&r, p, n);
    if (decoded(&r, read_page(&r, pg), "page header", err) < 0)
        return -1;
    if (used)
        *used = tr_used(&r, p);
    return 0;
}

/* A union field: which member (field id) is set, the member skipped. */
static int read_union(tr_t *r, int *member)
{
    int16_t id;
    int t, rc;
    *member = 0;
    TRY(tr_begin(r));
    while ((rc = tr_field(r, &id, &t)) > 0) {
        *member = id;
        TRY(tr_skip(r, t));
    }
    return rc;
}

static int read_bloom(tr_t *r, pqm_bloom_t *b)
{
    int16_t id;
    int t, rc, m, ok;
    TRY(tr_begin(r));
    while ((rc = tr_field(r, &id, &t)) > 0) {
        if (id == 1) {
            TRY(tr_i32(r, t, &b->num_bytes));
        } else if (id >= 2 && id <= 4) {
            TRY(ok = want_struct(r, t));
            if (!ok)
                continue;
            TRY(read_union(r, &m));
            if (id == 2)
                b->sbbf = m == 1;
            else if (id == 3)
                b->xxhash = m == 1;
            else
                b->uncompressed = m == 1;
        } else {
            TRY(tr_skip(r, t));
        }
    }
    return rc;
}

int pqm_read_bloom(const void *p, size_t n, pqm_bloom_t *b, size_t *used,
                   diag_t *err)
{
    tr_t r;
    memset(b, 0, sizeof(*b));
    tr_init(&r, p, n);
    if (decoded(&r, read_bloom(&r, b), "bloom filter header", err) < 0)
        return -1;
    if (used)
        *used = tr_used(&r, p);
    return 0;
}

static int read_pageloc(tr_t *r, arena_t *a, void *e)
{
    pqm_pageloc_t *l = e;
    int16_t id;
    int t, rc, seen = 0;
    (void)a;
    TRY(tr_begin(r));
    while ((rc = tr_field(r, &id, &t)) > 0) {
        int frc;
        switch (id) {
        case 1: TRY(frc = tr_i64(r, t, &l->offset)); break;
        case 2: TRY(frc = tr_i32(r, t, &l->size)); break;
        case 3: TRY(frc = tr_i64(r, t, &l->first_row)); break;
        default: TRY(tr_skip(r, t)); continue;
        }
        if (frc == 0)
            seen |= 1 << id;
    }
    if (rc == 0 && seen != 0xe)
        return tr_fail(r, "page location without its offset, size or row");
    return rc;
}

static int read_offidx(tr_t *r, arena_t *a, pqm_offidx_t *oi)
{
    int16_t id;
    int t, rc;
    TRY(tr_begin(r));
    while ((rc = tr_field(r, &id, &t)) > 0) {
        if (id == 1)
            TRY(read_struct_list(r, t, a, sizeof(pqm_pageloc_t),
                                 read_pageloc, (void **)&oi->pages, &oi->n));
        else
            TRY(tr_skip(r, t));
    }
    return rc;
}

int pqm_read_offidx(const void *p, size_t n, arena_t *a, pqm_offidx_t *oi,
                    diag_t *err)
{
    tr_t r;
    memset(oi, 0, sizeof(*oi));
    tr_init(&r, p, n);
    return decoded(&r, read_offidx(&r, a, oi), "offset index", err);
}

/* A list of binaries into an arena array; *count its length. */
static int read_bin_list(tr_t *r, int t, arena_t *a, pqm_bin_t **out,
                         uint32_t *count)
{
    int et, rc;
    uint32_t n;
    rc = tr_list(r, t, &et, &n);
    TRY(rc);
    if (rc)
        return 0;
    if (et != TT_BINARY)
        return tr_fail(r, "page index bounds are not binaries");
    if (arena_used(a) + (size_t)n * sizeof(pqm_bin_t) > PQM_ARENA_MAX)
        return tr_fail(r, "metadata too large to decode");
    pqm_bin_t *b = arena_alloc(a, (size_t)n * sizeof(*b) + 1);
    for (uint32_t i = 0; i < n; i++) {
        TRY(tr_bin(r, et, &b[i].p, &b[i].len));
        b[i].set = 1;
    }
    *out = b;
    *count = n;
    return 0;
}

static int read_colidx(tr_t *r, arena_t *a, pqm_colidx_t *ci)
{
    int16_t id;
    int t, rc, et;
    uint32_t n, nnull = 0, nmin = 0, nmax = 0, seen = 0;
    TRY(tr_begin(r));
    while ((rc = tr_field(r, &id, &t)) > 0) {
        switch (id) {
        case 1:
            rc = tr_list(r, t, &et, &n);
            TRY(rc);
            if (rc)
                break;
            if (et != TT_TRUE && et != TT_FALSE)
                return tr_fail(r, "null_pages is not a list of booleans");
            ci->null_pages = arena_alloc(a, (size_t)n + 1);
            for (uint32_t i = 0; i < n; i++) {
                if (r->p >= r->end)
                    return tr_fail(r, "truncated");
                ci->null_pages[i] = *r->p++ == 1;
            }
            nnull = n;
            seen |= 1;
            break;
        case 2:
            TRY(read_bin_list(r, t, a, &ci->mins, &nmin));
            seen |= ci->mins ? 2 : 0;
            break;
        case 3:
            TRY(read_bin_list(r, t, a, &ci->maxs, &nmax));
            seen |= ci->maxs ? 4 : 0;
            break;
        case 4:
            TRY(tr_i32(r, t, &ci->order));
            break;
        default: TRY(tr_skip(r, t));
        }
    }
    if (rc == 0 && (seen != 7 || nnull != nmin || nmin != nmax))
        return tr_fail(r, "column index lists missing or of unequal lengths");
    ci->n = nmin;
    return rc;
}

int pqm_read_colidx(const void *p, size_t n, arena_t *a, pqm_colidx_t *ci,
                    diag_t *err)
{
    tr_t r;
    memset(ci, 0, sizeof(*ci));
    tr_init(&r, p, n);
    return decoded(&r, read_colidx(&r, a, ci), "column index", err);
}
