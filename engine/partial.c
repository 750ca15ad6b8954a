/*
 * partial.c - a window's group table as bytes, and the merge of such
 * tables; see partial.h and docs/SCALE_OUT.md ("Partial state").
 *
 * The encoding, every integer little-endian:
 *
 *   "FSQP" u32 version u64 fingerprint
 *   u32 nkeys u32 naggs u32 key_size u32 entry_size    (the layout: a
 *                                                      check, not a guide)
 *   u64 flows u64 overflow u64 sum_overflow u64 ngroups
 *   per group: its keys, then its aggregates' inline states
 *   per aggregate with side structures, in aggregate order:
 *     count(DISTINCT x)      u64 npairs, per pair: u32 group, value
 *     approx_count_distinct  per group: u8 0, u32 n, n u64 hashes (a list)
 *                                    or u8 1, the packed registers
 *     topk                   per group: u32 n, per counter: value,
 *                            i64 count, i64 err
 *
 * A value: an address in 16 bytes, a string as u32 length and its bytes
 * (0xffffffff: none), anything else as its 8-byte word (a double's bits).
 * Inline states: count, sum, min, max as values of their argument's
 * type; avg as its sum's word and a u64 count; nothing for
 * count(DISTINCT x) (a group's count is its pairs), approx_count_distinct
 * and topk (their side structures say everything).
 *
 * A stamped table (a shared query's) is written in stamp order, so its
 * groups come in the order an unshared query's would; side structures
 * name groups by their place in the encoding.
 */
#include "engine/partial.h"
#include "engine/expr.h"
#include "engine/qhandle.h"
#include "engine/query.h"
#include "engine/schema.h"

#include <stdlib.h>
#include <string.h>

#define STR_NONE 0xffffffffu

/* ---- writing ---------------------------------------------------------------- */

static void put_u8(sbuf_t *o, uint8_t v)
{
    sbuf_addn(o, (const char *)&v, 1);
}

static void put_u32(sbuf_t *o, uint32_t v)
{
    uint8_t b[4];
    for (int i = 0; i < 4; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    sbuf_addn(o, (const char *)b, 4);
}

static void put_u64(sbuf_t *o, uint64_t v)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    sbuf_addn(o, (const char *)b, 8);
}

/* A value of type t held at p (an address's 16 bytes, else one word). */
static void put_value(sbuf_t *o, type_t t, const void *p)
{
    if (type_is_wide(t)) {
        sbuf_addn(o, p, 16);
    } else if (t == TYPE_STRING) {
        const char *s;
        memcpy(&s, p, sizeof(s));
        size_t n = s ? strlen(s) : 0;
        put_u32(o, s ? (uint32_t)n : STR_NONE);
        sbuf_addn(o, s ? s : "", n);
    } else {
        uint64_t w;
        memcpy(&w, p, 8);
        put_u64(o, w);
    }
}

/* ---- reading: every length checked ----------------------------------------- */

typedef struct reader {
    const uint8_t *p;
    size_t         n, off;
    diag_t        *err;
    int            bad;
} reader_t;

/* n more bytes, or NULL (and the error said once) when they are not
 * there. */
static const uint8_t *take(reader_t *r, size_t n, const char *what)
{
    if (r->bad)
        return NULL;
    if (n > r->n - r->off) {
        diag_set(r->err, "partial state truncated: %s needs %zu bytes at "
                 "byte %zu of %zu", what, n, r->off, r->n);
        r->bad = 1;
        return NULL;
    }
    const uint8_t *p = r->p + r->off;
    r->off += n;
    return p;
}

static uint64_t get_le(reader_t *r, int n, const char *what)
{
    const uint8_t *p = take(r, (size_t)n, what);
    uint64_t v = 0;
    for (int i = 0; p && i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static uint32_t get_u32(reader_t *r, const char *what)
{
    return (uint32_t)get_le(r, 4, what);
}

static uint64_t get_u64(reader_t *r, const char *what)
{
    return get_le(r, 8, what);
}

static int fail(reader_t *r, const char *fmt, const char *what, uint64_t v)
{
    if (!r->bad)
        diag_set(r->err, fmt, what, (unsigned long long)v);
    r->bad = 1;
    return -1;
}

/* A value of type t into out (16 bytes; strings interned). */
static int get_value(reader_t *r, type_t t, void *out, const char *what)
{
    memset(out, 0, 16);
    if (type_is_wide(t)) {
        const uint8_t *p = take(r, 16, what);
        if (p)
            memcpy(out, p, 16);
    } else if (t == TYPE_STRING) {
        uint32_t n = get_u32(r, what);
        if (n != STR_NONE) {
            const uint8_t *p = take(r, n, what);
            if (p) {
                if (memchr(p, 0, n))
                    return fail(r, "partial state damaged: %s holds a NUL "
                                "(%llu bytes)", what, n);
                char *s = xcalloc(1, (size_t)n + 1);
                memcpy(s, p, n);
                const char *in = str_intern(s);
                free(s);
                memcpy(out, &in, sizeof(in));
            }
        }
    } else {
        uint64_t w = get_u64(r, what);
        memcpy(out, &w, 8);
    }
    return r->bad ? -1 : 0;
}

/* ---- the fingerprint -------------------------------------------------------- */

uint64_t partial_fingerprint(const plan_t *p)
{
    sbuf_t b = SBUF_INIT;
    sbuf_add(&b, "where ");
    if (p->filter)
        ast_print(&b, p->filter, NULL, NULL);
    for (int i = 0; i < p->nkeys; i++) {
        sbuf_printf(&b, "|key %d ", (int)p->keys[i]->type);
        ast_print(&b, p->keys[i], NULL, NULL);
    }
    for (int i = 0; i < p->naggs; i++) {
        const agg_spec_t *a = &p->aggs[i];
        sbuf_printf(&b, "|agg %d %d %lld %d %d ", a->fn, a->distinct,
                    (long long)a->k, (int)a->type,
                    a->arg ? (int)a->arg->type : -1);
        if (a->arg)
            ast_print(&b, a->arg, NULL, NULL);
    }
    /* FNV-1a */
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < b.len; i++) {
        h ^= (uint8_t)b.s[i];
        h *= 0x100000001b3ULL;
    }
    sbuf_free(&b);
    return h;
}

/* ---- encoding ---------------------------------------------------------------- */

static int is_distinct(const aggdef_t *d)
{
    return d->fn == -FN_COUNT - 1;
}

/* The inline state of aggregate d at s. */
static void put_inline(sbuf_t *o, const aggdef_t *d, const uint8_t *s)
{
    switch (d->fn) {
    case FN_COUNT:
        put_value(o, TYPE_INT, s);
        break;
    case FN_SUM:
    case FN_MIN:
    case FN_MAX:
        put_value(o, d->arg_type, s);
        break;
    case FN_AVG:
        put_value(o, TYPE_INT, s);
        put_value(o, TYPE_INT, s + 8);
        break;
    default:
        break;      /* in the side structures */
    }
}

void partial_encode(const plan_t *p, const agglayout_t *l, const gtable_t *t,
                    sbuf_t *out)
{
    sbuf_addn(out, PARTIAL_MAGIC, 4);
    put_u32(out, PARTIAL_VERSION);
    put_u64(out, partial_fingerprint(p));
    put_u32(out, (uint32_t)l->nkeys);
    put_u32(out, (uint32_t)l->naggs);
    put_u32(out, (uint32_t)l->key_size);
    put_u32(out, (uint32_t)l->entry_size);
    put_u64(out, t->flows);
    put_u64(out, t->overflow);
    put_u64(out, t->sum_overflow);
    put_u64(out, t->n);
    uint32_t *order = gtable_order(t);
    uint32_t *place = NULL;     /* table group -> its place here */
    if (order && l->side) {
        place = xcalloc(t->n, sizeof(uint32_t));
        for (uint32_t i = 0; i < t->n; i++)
            place[order[i]] = i;
    }
    for (uint32_t i = 0; i < t->n; i++) {
        const uint8_t *e = gtable_entry(l, t, order ? order[i] : i);
        size_t off = 0;
        for (int k = 0; k < l->nkeys; k++) {
            put_value(out, l->key_types[k], e + off);
            off += type_is_wide(l->key_types[k]) ? 16 : 8;
        }
        for (int a = 0; a < l->naggs; a++)
            put_inline(out, &l->aggs[a], e + l->aggs[a].off);
    }
    for (int a = 0; l->side && a < l->naggs; a++) {
        const aggdef_t *d = &l->aggs[a];
        if (is_distinct(d)) {
            put_u64(out, gtable_pairs(t, a));
            uint64_t pos = 0, v[2];
            uint32_t g;
            while (gtable_pair_next(t, a, &pos, &g, v)) {
                put_u32(out, place ? place[g] : g);
                put_value(out, d->arg_type, v);
            }
            continue;
        }
        if (d->fn != FN_APPROX_DISTINCT && d->fn != FN_TOPK)
            continue;
        for (uint32_t i = 0; i < t->n; i++) {
            const uint8_t *s = gtable_entry(l, t, order ? order[i] : i) + d->off;
            if (d->fn == FN_APPROX_DISTINCT) {
                const uint64_t *list;
                const uint8_t *regs;
                int64_t n = gtable_sketch_view(s, &list, &regs);
                put_u8(out, regs != NULL);
                if (regs) {
                    sbuf_addn(out, (const char *)regs, AGG_HLL_BYTES);
                    continue;
                }
                put_u32(out, (uint32_t)n);
                for (int64_t k = 0; k < n; k++)
                    put_u64(out, list[k]);
                continue;
            }
            const topk_t *tk;
            memcpy(&tk, s, sizeof(tk));
            put_u32(out, tk ? (uint32_t)tk->n : 0);
            for (int k = 0; tk && k < tk->n; k++) {
                put_value(out, d->arg_type, &tk->e[k].v);
                put_u64(out, (uint64_t)tk->e[k].count);
                put_u64(out, (uint64_t)tk->e[k].err);
            }
        }
    }
    free(place);
    free(order);
}

/* ---- decoding ---------------------------------------------------------------- */

/* The fewest bytes a value of type t takes. */
static size_t value_min(type_t t)
{
    return type_is_wide(t) ? 16 : t == TYPE_STRING ? 4 : 8;
}

/* The fewest bytes one group takes in the encoding (its keys, inline
 * states and per-group side parts): bounds the groups a length allows
 * before anything is allocated for them. */
static size_t group_min(const agglayout_t *l)
{
    size_t n = 0;
    for (int k = 0; k < l->nkeys; k++)
        n += value_min(l->key_types[k]);
    for (int a = 0; a < l->naggs; a++) {
        const aggdef_t *d = &l->aggs[a];
        switch (d->fn) {
        case FN_COUNT: n += 8; break;
        case FN_SUM: case FN_MIN: case FN_MAX: n += value_min(d->arg_type); break;
        case FN_AVG: n += 16; break;
        case FN_APPROX_DISTINCT: n += 5; break;
        case FN_TOPK: n += 4; break;
        default: break;
        }
    }
    return n ? n : 1;
}

static int get_inline(reader_t *r, const aggdef_t *d, uint8_t *s)
{
    uint8_t v[16];
    switch (d->fn) {
    case FN_COUNT:
        get_value(r, TYPE_INT, v, "a count");
        memcpy(s, v, 8);
        break;
    case FN_SUM:
    case FN_MIN:
    case FN_MAX:
        get_value(r, d->arg_type, v, "a sum, min or max");
        memcpy(s, v, type_is_wide(d->arg_type) ? 16 : 8);
        break;
    case FN_AVG:
        get_value(r, TYPE_INT, v, "an avg's sum");
        memcpy(s, v, 8);
        get_value(r, TYPE_INT, v, "an avg's count");
        memcpy(s + 8, v, 8);
        break;
    default:
        break;
    }
    return r->bad ? -1 : 0;
}

/* The side structures of aggregate a (layout l, ng groups) into t. */
static int get_side(reader_t *r, const agglayout_t *l, gtable_t *t, int a)
{
    const aggdef_t *d = &l->aggs[a];
    if (is_distinct(d)) {
        uint64_t np = get_u64(r, "the count of distinct pairs");
        if (!r->bad && np > (r->n - r->off) / (4 + value_min(d->arg_type)))
            return fail(r, "partial state damaged: %s (%llu) exceeds its "
                        "bytes", "the count of distinct pairs", np);
        for (uint64_t k = 0; k < np && !r->bad; k++) {
            uint32_t g = get_u32(r, "a distinct pair's group");
            uint64_t v[2];
            if (get_value(r, d->arg_type, v, "a distinct value") < 0)
                break;
            if (g >= t->n)
                return fail(r, "partial state damaged: %s %llu does not "
                            "exist", "a distinct pair's group", g);
            int added = gtable_pair_add(l, t, a, g, v);
            if (added == 0)
                return fail(r, "partial state damaged: %s comes twice "
                            "(group %llu)", "a distinct pair", g);
            if (added < 0)
                return fail(r, "the memory budget refused %s (group %llu)",
                            "a distinct pair", g);
        }
        return r->bad ? -1 : 0;
    }
    for (uint32_t g = 0; g < t->n && !r->bad; g++) {
        uint8_t *s = gtable_entry(l, t, g) + d->off;
        if (d->fn == FN_APPROX_DISTINCT) {
            const uint8_t *kind = take(r, 1, "a sketch's kind");
            if (!kind)
                break;
            if (*kind == 1) {
                const uint8_t *regs = take(r, AGG_HLL_BYTES, "a sketch's registers");
                if (regs && !gtable_sketch_load(l, t, s, regs))
                    return fail(r, "the memory budget refused %s (group %llu)",
                                "a sketch's registers", g);
                continue;
            }
            if (*kind != 0)
                return fail(r, "partial state damaged: %s %llu is unknown",
                            "a sketch's kind", *kind);
            uint32_t n = get_u32(r, "a sketch's list length");
            if (!r->bad && n > (r->n - r->off) / 8)
                return fail(r, "partial state damaged: %s (%llu) exceeds its "
                            "bytes", "a sketch's list length", n);
            for (uint32_t k = 0; k < n && !r->bad; k++) {
                uint64_t h = get_u64(r, "a sketch's hash");
                if (!r->bad && gtable_sketch_add(l, t, s, h) < 0)
                    return fail(r, "the memory budget refused %s (group %llu)",
                                "a sketch's hash", g);
            }
        } else if (d->fn == FN_TOPK) {
            uint32_t n = get_u32(r, "a topk's counters");
            int m = (int)d->k * TOPK_FACTOR;
            if (r->bad || n == 0)
                continue;
            if (n > (uint32_t)m)
                return fail(r, "partial state damaged: %s (%llu) exceed the "
                            "query's", "a topk's counters", n);
            topk_t *tk = gtable_topk_new(l, t, m);
            if (!tk)
                return fail(r, "the memory budget refused %s (group %llu)",
                            "a topk's counters", g);
            memcpy(s, &tk, sizeof(tk));
            for (uint32_t k = 0; k < n && !r->bad; k++) {
                get_value(r, d->arg_type, &tk->e[k].v, "a topk value");
                tk->e[k].count = (int64_t)get_u64(r, "a topk count");
                tk->e[k].err = (int64_t)get_u64(r, "a topk error");
                tk->n = (int)k + 1;
            }
        }
    }
    return r->bad ? -1 : 0;
}

/* Decode buf into t, an empty table of layout l (its cap lifted: the
 * window's cap applies when it is merged); fp: the plan's fingerprint. */
static int decode(const agglayout_t *l, uint64_t fp, gtable_t *t,
                  const void *buf, size_t len, diag_t *err)
{
    reader_t r = {.p = buf, .n = len, .err = err};
    const uint8_t *magic = take(&r, 4, "the magic");
    if (magic && memcmp(magic, PARTIAL_MAGIC, 4) != 0) {
        diag_set(err, "not a partial state (no magic " PARTIAL_MAGIC ")");
        return -1;
    }
    uint32_t version = get_u32(&r, "the version");
    if (!r.bad && version != PARTIAL_VERSION)
        return fail(&r, "partial state of %s %llu: this build reads 1",
                    "version", version);
    uint64_t efp = get_u64(&r, "the fingerprint");
    if (!r.bad && efp != fp)
        return fail(&r, "the partial state is another plan's (%s %016llx): "
                    "the query changed on one side", "fingerprint", efp);
    uint32_t nk = get_u32(&r, "the layout"), na = get_u32(&r, "the layout");
    uint32_t ks = get_u32(&r, "the layout"), es = get_u32(&r, "the layout");
    if (!r.bad && (nk != (uint32_t)l->nkeys || na != (uint32_t)l->naggs ||
                   ks != l->key_size || es != l->entry_size))
        return fail(&r, "the partial state's %s differs from the query's "
                    "(%llu keys)", "layout", nk);
    t->flows = get_u64(&r, "the flows");
    t->overflow = get_u64(&r, "the overflow");
    t->sum_overflow = get_u64(&r, "the sum overflow");
    uint64_t ng = get_u64(&r, "the groups");
    if (r.bad)
        return -1;
    if (ng >= UINT32_MAX || ng > (r.n - r.off) / group_min(l))
        return fail(&r, "partial state damaged: %s (%llu) exceed its bytes",
                    "the groups", ng);
    uint64_t key[64];
    uint64_t *kw = l->key_size > sizeof(key) ? xcalloc(1, l->key_size) : key;
    for (uint64_t i = 0; i < ng && !r.bad; i++) {
        size_t off = 0;
        for (int k = 0; k < l->nkeys && !r.bad; k++) {
            uint8_t v[16];
            get_value(&r, l->key_types[k], v, "a key");
            size_t w = type_is_wide(l->key_types[k]) ? 16 : 8;
            memcpy((uint8_t *)kw + off, v, w);
            off += w;
        }
        if (r.bad)
            break;
        uint32_t g = gtable_key_group(l, t, kw);
        if (g == GROUP_NONE) {
            fail(&r, "the memory budget refused %s %llu", "group", i);
            break;
        }
        if (g != i) {
            fail(&r, "partial state damaged: %s %llu comes twice", "group", i);
            break;
        }
        uint8_t *e = gtable_entry(l, t, g);
        for (int a = 0; a < l->naggs && !r.bad; a++)
            get_inline(&r, &l->aggs[a], e + l->aggs[a].off);
    }
    if (kw != key)
        free(kw);
    for (int a = 0; l->side && a < l->naggs && !r.bad; a++)
        get_side(&r, l, t, a);
    if (!r.bad && r.off != r.n)
        return fail(&r, "partial state damaged: %s (%llu bytes)",
                    "trailing bytes", r.n - r.off);
    return r.bad ? -1 : 0;
}

/* ---- which plans merge -------------------------------------------------------- */

int partial_mergeable(const plan_t *p, diag_t *err)
{
    if (p->mode == PLAN_ROWS) {
        diag_set(err, "a query without aggregates or GROUP BY (its rows are "
                 "flows) has no group state to merge");
        return 0;
    }
    if (!p->window.present) {
        diag_set(err, "a query over the live stream needs a WINDOW clause");
        return 0;
    }
    if (p->window.time_field != F_RECEIVED) {
        diag_set(err, "WINDOW ... ON %s windows on flow time, which no "
                 "watermark of the collector bounds: run it on the "
                 "collector", p->window.on_name ? p->window.on_name : "end");
        return 0;
    }
    for (int i = 0; i < p->naggs; i++)
        if (p->aggs[i].fn == FN_APPROX_DISTINCT && p->aggs[i].arg &&
            p->aggs[i].arg->type == TYPE_STRING) {
            diag_set(err, "%s: a sketch of strings hashes this process's "
                     "copy of each string, which another process does not "
                     "share (use count(DISTINCT ...))", p->aggs[i].text);
            return 0;
        }
    return 1;
}

/* ---- the merger ----------------------------------------------------------------- */

typedef struct mwin {
    int64_t      wstart, wend;
    gtable_t    *t;
    struct mwin *next;
} mwin_t;

struct merger {
    qhandle_t *h;
    query_t   *q;       /* the plan compiled once: layout, HAVING, ORDER BY,
                           LIMIT and projection, as the engine runs them */
    uint64_t   fp;
    mwin_t    *wins;
    int        n;
};

merger_t *merger_new(qhandle_t *h, diag_t *err)
{
    if (!partial_mergeable(h->plan, err))
        return NULL;
    merger_t *mg = xcalloc(1, sizeof(*mg));
    qhandle_ref(h);
    mg->h = h;
    mg->q = query_new(h->name, h->plan, 0);
    mg->fp = partial_fingerprint(h->plan);
    return mg;
}

static mwin_t **win_find(merger_t *mg, int64_t wstart, int64_t wend)
{
    mwin_t **pp = &mg->wins;
    while (*pp && ((*pp)->wstart != wstart || (*pp)->wend != wend))
        pp = &(*pp)->next;
    return pp;
}

static void win_drop(merger_t *mg, mwin_t **pp)
{
    mwin_t *w = *pp;
    *pp = w->next;
    gtable_free(&mg->q->layout, w->t);
    free(w);
    mg->n--;
}

void merger_free(merger_t *mg)
{
    if (!mg)
        return;
    while (mg->wins)
        win_drop(mg, &mg->wins);
    query_free(mg->q, 0);
    qhandle_unref(mg->h);
    free(mg);
}

int merger_add(merger_t *mg, int64_t wstart, int64_t wend, const void *buf,
               size_t len, diag_t *err)
{
    const agglayout_t *l = &mg->q->layout;
    /* Decoded whole before the window is touched; the window's cap
     * applies in the merge. */
    agglayout_t dl = *l;
    dl.max_groups = INT64_MAX;
    gtable_t *t = gtable_new(&dl);
    if (decode(&dl, mg->fp, t, buf, len, err) < 0) {
        gtable_free(&dl, t);
        return -1;
    }
    mwin_t **pp = win_find(mg, wstart, wend);
    if (!*pp) {
        mwin_t *w = xcalloc(1, sizeof(*w));
        w->wstart = wstart;
        w->wend = wend;
        *pp = w;
        mg->n++;
        if ((int64_t)t->n <= l->max_groups) {
            w->t = t;           /* the first state: the table as it is */
            return 0;
        }
        w->t = gtable_new(l);
    }
    gtable_merge(l, (*pp)->t, t);
    gtable_free(l, t);
    return 0;
}

rowset_t *merger_close(merger_t *mg, int64_t wstart, int64_t wend)
{
    mwin_t **pp = win_find(mg, wstart, wend);
    if (!*pp)
        return NULL;
    rowset_t *rs = emit_groups(mg->q, (*pp)->t, wstart, wend);
    qhandle_ref(mg->h);
    rs->qh = mg->h;
    win_drop(mg, pp);
    return rs;
}

void merger_discard(merger_t *mg, int64_t wstart, int64_t wend)
{
    mwin_t **pp = win_find(mg, wstart, wend);
    if (*pp)
        win_drop(mg, pp);
}

int merger_windows(const merger_t *mg)
{
    return mg->n;
}

size_t merger_memory(const merger_t *mg)
{
    size_t b = 0;
    for (const mwin_t *w = mg->wins; w; w = w->next)
        b += gtable_bytes(w->t);
    return b;
}
