/*
 * agg.c - group tables and aggregate functions; see agg.h.
 *
 * Exact distinct counts use an open-addressing set per group. Approximate
 * distinct counts use HyperLogLog with 2^HLL_P registers, kept as an exact
 * list of hashes while small (so small counts are exact) and turned into
 * registers past HLL_SPARSE_MAX. topk uses Space-Saving with TOPK_FACTOR*k
 * counters: any value with more than n/(4k) of the group's n flows is
 * guaranteed to be among them.
 */
#include "engine/agg.h"
#include "engine/func.h"
#include "util/arena.h"
#include "util/sbuf.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- hashing ------------------------------------------------------------- */

uint64_t agg_hash(const uint64_t *key, size_t nwords)
{
    uint64_t h = 0x243F6A8885A308D3ULL ^ (nwords * 0x9E3779B97F4A7C15ULL);
    for (size_t j = 0; j < nwords; j++) {
        h ^= key[j];
        h *= 0x9E3779B97F4A7C15ULL;
        h ^= h >> 29;
    }
    h ^= h >> 32;
    h *= 0xD6E8FEB86659FD93ULL;
    h ^= h >> 32;
    return h;
}

static inline uint64_t hash_value(const void *v, int wide)
{
    return agg_hash(v, wide ? 2 : 1);
}

/* ---- exact distinct sets ----------------------------------------------------- */

typedef struct dset {
    uint32_t n, mask;
    uint8_t  wide, has_zero;
    uint64_t vals[];   /* (mask+1) * (wide ? 2 : 1) words; zero = empty */
} dset_t;

static dset_t *dset_new(int wide, uint32_t cap)
{
    size_t words = (size_t)cap * (wide ? 2 : 1);
    dset_t *s = xcalloc(1, sizeof(dset_t) + words * 8);
    s->mask = cap - 1;
    s->wide = (uint8_t)wide;
    return s;
}

static size_t dset_bytes(const dset_t *s)
{
    return sizeof(dset_t) + (size_t)(s->mask + 1) * (s->wide ? 16 : 8);
}

static int is_zero(const uint64_t *v, int wide)
{
    return wide ? (v[0] | v[1]) == 0 : v[0] == 0;
}

/* Insert v; returns the set (reallocated when it grows). *grew gets the
 * memory added. */
static dset_t *dset_add(dset_t *s, const uint64_t *v, size_t *grew)
{
    int w = s->wide ? 2 : 1;
    if (is_zero(v, s->wide)) {
        if (!s->has_zero) {
            s->has_zero = 1;
            s->n++;
        }
        return s;
    }
    if ((s->n + 1) * 2 > s->mask + 1) {
        dset_t *b = dset_new(s->wide, (s->mask + 1) * 2);
        *grew += dset_bytes(b) - dset_bytes(s);
        b->has_zero = s->has_zero;
        b->n = s->has_zero;
        for (uint32_t i = 0; i <= s->mask; i++)
            if (!is_zero(&s->vals[(size_t)i * w], s->wide)) {
                size_t dummy = 0;
                dset_add(b, &s->vals[(size_t)i * w], &dummy);
            }
        free(s);
        s = b;
    }
    uint32_t i = (uint32_t)hash_value(v, s->wide) & s->mask;
    for (;;) {
        uint64_t *slot = &s->vals[(size_t)i * w];
        if (is_zero(slot, s->wide)) {
            memcpy(slot, v, (size_t)w * 8);
            s->n++;
            return s;
        }
        if (slot[0] == v[0] && (w == 1 || slot[1] == v[1]))
            return s;
        i = (i + 1) & s->mask;
    }
}

/* ---- HyperLogLog --------------------------------------------------------- */

#define HLL_M (1u << HLL_P)
#define HLL_SPARSE_MAX 64

typedef struct hll {
    uint32_t n, cap;       /* sparse: distinct hashes so far */
    int      dense;
    uint64_t *hashes;      /* sparse */
    uint8_t  *regs;        /* dense: HLL_M registers */
} hll_t;

static void hll_add_dense(hll_t *h, uint64_t x)
{
    uint32_t idx = (uint32_t)(x >> (64 - HLL_P));
    uint64_t rest = (x << HLL_P) | (1ULL << (HLL_P - 1));
    uint8_t rank = (uint8_t)(__builtin_clzll(rest) + 1);
    if (rank > h->regs[idx])
        h->regs[idx] = rank;
}

static size_t hll_add(hll_t *h, uint64_t x)
{
    size_t grew = 0;
    if (h->dense) {
        hll_add_dense(h, x);
        return 0;
    }
    for (uint32_t i = 0; i < h->n; i++)
        if (h->hashes[i] == x)
            return 0;
    if (h->n == HLL_SPARSE_MAX) {
        h->regs = xcalloc(HLL_M, 1);
        h->dense = 1;
        for (uint32_t i = 0; i < h->n; i++)
            hll_add_dense(h, h->hashes[i]);
        hll_add_dense(h, x);
        free(h->hashes);
        h->hashes = NULL;
        return HLL_M - (size_t)h->cap * 8;
    }
    if (h->n == h->cap) {
        uint32_t nc = h->cap ? h->cap * 2 : 4;
        h->hashes = xrealloc(h->hashes, nc * sizeof(uint64_t));
        grew = (size_t)(nc - h->cap) * 8;
        h->cap = nc;
    }
    h->hashes[h->n++] = x;
    return grew;
}

static int64_t hll_estimate(const hll_t *h)
{
    if (!h->dense)
        return h->n;
    double sum = 0;
    int zeros = 0;
    for (uint32_t i = 0; i < HLL_M; i++) {
        sum += ldexp(1.0, -h->regs[i]);
        zeros += h->regs[i] == 0;
    }
    double m = HLL_M;
    double alpha = 0.7213 / (1.0 + 1.079 / m);
    double e = alpha * m * m / sum;
    if (e <= 2.5 * m && zeros)
        e = m * log(m / zeros);
    return (int64_t)llround(e);
}

static void hll_free(hll_t *h)
{
    if (h) {
        free(h->hashes);
        free(h->regs);
        free(h);
    }
}

/* ---- topk (Space-Saving) --------------------------------------------------- */

typedef struct tk_entry {
    value_t v;
    int64_t count, err;
} tk_entry_t;

typedef struct topk {
    int        m, n;
    tk_entry_t e[];
} topk_t;

static int same_value(const value_t *a, const value_t *b, int wide)
{
    return wide ? memcmp(a->ip.a, b->ip.a, 16) == 0 : a->i == b->i;
}

static void topk_add(topk_t *t, const value_t *v, int wide, int64_t count,
                     int64_t err)
{
    for (int i = 0; i < t->n; i++)
        if (same_value(&t->e[i].v, v, wide)) {
            t->e[i].count += count;
            t->e[i].err += err;
            return;
        }
    if (t->n < t->m) {
        t->e[t->n].v = *v;
        t->e[t->n].count = count;
        t->e[t->n].err = err;
        t->n++;
        return;
    }
    int min = 0;
    for (int i = 1; i < t->n; i++)
        if (t->e[i].count < t->e[min].count)
            min = i;
    /* The newcomer inherits the evicted count as its possible error. */
    int64_t floor = t->e[min].count;
    t->e[min].v = *v;
    t->e[min].err = floor + err;
    t->e[min].count = floor + count;
}

static int tk_cmp(const void *p, const void *q)
{
    const tk_entry_t *a = p, *b = q;
    if (a->count != b->count)
        return a->count > b->count ? -1 : 1;
    return 0;
}

/* ---- layout ------------------------------------------------------------------ */

static size_t state_size(const aggdef_t *d)
{
    switch (d->fn) {
    case FN_COUNT:
        return 8;
    case FN_SUM:
    case FN_MIN:
    case FN_MAX:
        return type_is_wide(d->arg_type) ? 16 : 8;
    case FN_AVG:
        return 16;
    default:           /* pointer to a side structure */
        return 8;
    }
}

void agglayout_init(agglayout_t *l, const plan_t *p)
{
    memset(l, 0, sizeof(*l));
    l->nkeys = p->nkeys;
    l->key_types = xcalloc((size_t)p->nkeys + 1, sizeof(type_t));
    for (int i = 0; i < p->nkeys; i++) {
        l->key_types[i] = p->keys[i]->type;
        l->key_size += type_is_wide(p->keys[i]->type) ? 16 : 8;
    }
    l->naggs = p->naggs;
    l->aggs = xcalloc((size_t)p->naggs + 1, sizeof(aggdef_t));
    size_t off = l->key_size;
    for (int i = 0; i < p->naggs; i++) {
        aggdef_t *d = &l->aggs[i];
        d->fn = p->aggs[i].fn;
        d->distinct = p->aggs[i].distinct;
        d->arg_type = p->aggs[i].arg ? p->aggs[i].arg->type : TYPE_NONE;
        d->type = p->aggs[i].type;
        d->k = p->aggs[i].k;
        if (d->fn == FN_COUNT && d->distinct)
            d->fn = -FN_COUNT - 1;   /* internal: distinct count */
        d->size = state_size(d);
        d->off = off;
        off += d->size;
        if (d->fn < 0 || d->fn == FN_APPROX_DISTINCT || d->fn == FN_TOPK)
            l->side = 1;
    }
    l->entry_size = off ? off : 8;
    l->max_groups = p->max_groups;
    size_t ssize = l->entry_size - l->key_size;
    l->init = xcalloc(1, ssize ? ssize : 1);
    for (int i = 0; i < l->naggs; i++) {
        aggdef_t *d = &l->aggs[i];
        uint8_t *s = l->init + (d->off - l->key_size);
        if (d->fn == FN_MIN || d->fn == FN_MAX) {
            int mn = d->fn == FN_MIN;
            if (d->arg_type == TYPE_IP) {
                memset(s, mn ? 0xff : 0x00, 16);
            } else if (d->arg_type == TYPE_FLOAT) {
                double v = mn ? INFINITY : -INFINITY;
                memcpy(s, &v, 8);
            } else if (d->arg_type == TYPE_STRING) {
                memset(s, 0, 8);         /* NULL: no value yet */
            } else {
                int64_t v = mn ? INT64_MAX : INT64_MIN;
                memcpy(s, &v, 8);
            }
        }
    }
}

void agglayout_free(agglayout_t *l)
{
    free(l->key_types);
    free(l->aggs);
    free(l->init);
    memset(l, 0, sizeof(*l));
}

/* ---- tables ---------------------------------------------------------------- */

#define MIN_SLOTS 1024

gtable_t *gtable_new(const agglayout_t *l)
{
    (void)l;
    gtable_t *t = xcalloc(1, sizeof(*t));
    t->slots = xcalloc(MIN_SLOTS, sizeof(uint64_t));
    t->mask = MIN_SLOTS - 1;
    return t;
}

static void free_side(const agglayout_t *l, gtable_t *t)
{
    if (!l->side)
        return;
    for (uint32_t g = 0; g < t->n; g++) {
        uint8_t *e = gtable_entry(l, t, g);
        for (int a = 0; a < l->naggs; a++) {
            const aggdef_t *d = &l->aggs[a];
            void *p;
            memcpy(&p, e + d->off, sizeof(p));
            if (!p)
                continue;
            if (d->fn == FN_APPROX_DISTINCT)
                hll_free(p);
            else if (d->fn < 0 || d->fn == FN_TOPK)
                free(p);
        }
    }
    t->side_bytes = 0;
}

void gtable_clear(const agglayout_t *l, gtable_t *t)
{
    free_side(l, t);
    /* Shrink an index that a burst made huge, so one bad window does not
     * pin its memory forever. */
    if (t->mask + 1 > MIN_SLOTS && (uint64_t)t->n * 8 < t->mask + 1) {
        free(t->slots);
        uint32_t cap = MIN_SLOTS;
        while (cap < t->n * 2)
            cap *= 2;
        t->slots = xcalloc(cap, sizeof(uint64_t));
        t->mask = cap - 1;
        free(t->entries);
        t->entries = NULL;
        t->cap = 0;
    } else {
        memset(t->slots, 0, sizeof(uint64_t) * ((size_t)t->mask + 1));
    }
    t->n = 0;
    t->flows = t->overflow = t->sum_overflow = 0;
}

void gtable_free(const agglayout_t *l, gtable_t *t)
{
    if (!t)
        return;
    free_side(l, t);
    free(t->entries);
    free(t->slots);
    free(t);
}

size_t gtable_bytes(const agglayout_t *l, const gtable_t *t)
{
    return (size_t)t->cap * l->entry_size +
           ((size_t)t->mask + 1) * sizeof(uint64_t) + t->side_bytes;
}

static void grow_slots(const agglayout_t *l, gtable_t *t)
{
    uint32_t cap = (t->mask + 1) * 2;
    uint64_t *s = xcalloc(cap, sizeof(uint64_t));
    size_t kw = l->key_size / 8;
    for (uint32_t g = 0; g < t->n; g++) {
        uint64_t h = agg_hash((const uint64_t *)gtable_entry(l, t, g), kw);
        uint32_t i = (uint32_t)h & (cap - 1);
        while (s[i])
            i = (i + 1) & (cap - 1);
        s[i] = (h & 0xffffffff00000000ULL) | (g + 1);
    }
    free(t->slots);
    t->slots = s;
    t->mask = cap - 1;
}

/* Find or insert one key; GROUP_NONE when the cap refuses it. */
static inline uint32_t find_or_add(const agglayout_t *l, gtable_t *t,
                                   const uint64_t *key, uint64_t h)
{
    uint64_t fp = h & 0xffffffff00000000ULL;
    uint32_t i = (uint32_t)h & t->mask;
    size_t ks = l->key_size;
    for (;;) {
        uint64_t s = t->slots[i];
        if (!s)
            break;
        if ((s & 0xffffffff00000000ULL) == fp) {
            uint32_t g = (uint32_t)s - 1;
            if (memcmp(gtable_entry(l, t, g), key, ks) == 0)
                return g;
        }
        i = (i + 1) & t->mask;
    }
    if ((int64_t)t->n >= l->max_groups)
        return GROUP_NONE;
    if (t->n == t->cap) {
        uint32_t nc = t->cap ? t->cap * 2 : 256;
        if ((int64_t)nc > l->max_groups)
            nc = (uint32_t)l->max_groups;
        t->entries = xrealloc(t->entries, (size_t)nc * l->entry_size);
        t->cap = nc;
    }
    uint32_t g = t->n++;
    uint8_t *e = gtable_entry(l, t, g);
    memcpy(e, key, ks);
    memcpy(e + ks, l->init, l->entry_size - ks);
    t->slots[i] = fp | (g + 1);
    if ((uint64_t)t->n * 2 > (uint64_t)t->mask + 1)
        grow_slots(l, t);
    return g;
}

void gtable_lookup(const agglayout_t *l, gtable_t *t, const uint64_t *keys,
                   const uint64_t *hashes, const uint32_t *sel, uint32_t n,
                   uint32_t *gidx)
{
    size_t kw = l->key_size / 8;
    for (uint32_t k = 0; k < n; k++) {
        uint32_t r = sel[k];
        if (k + 4 < n)
            __builtin_prefetch(&t->slots[(uint32_t)hashes[sel[k + 4]] & t->mask]);
        uint32_t g = find_or_add(l, t, keys + (size_t)r * kw, hashes[r]);
        gidx[r] = g;
        t->overflow += g == GROUP_NONE;
    }
    t->flows += n;
}

/* ---- updates ----------------------------------------------------------------- */

#define STATE(g) (t->entries + (size_t)(g) * es + d->off)

static inline void sum_i64(int64_t *s, int64_t v, uint64_t *ov)
{
    int64_t r;
    if (__builtin_add_overflow(*s, v, &r)) {
        ++*ov;
        r = v > 0 ? INT64_MAX : INT64_MIN;
    }
    *s = r;
}

void agg_update(const agglayout_t *l, gtable_t *t, int a, const void *lanes,
                const uint32_t *sel, uint32_t n, const uint32_t *gidx)
{
    const aggdef_t *d = &l->aggs[a];
    size_t es = l->entry_size;
    const int64_t *vi = lanes;
    const double *vf = lanes;
    const ipaddr_t *vp = lanes;
    const char *const *vs = lanes;
    int wide = type_is_wide(d->arg_type);
    uint64_t ov = 0;

    switch (d->fn) {
    case FN_COUNT:
        for (uint32_t k = 0; k < n; k++) {
            uint32_t g = gidx[sel[k]];
            if (g != GROUP_NONE)
                (*(int64_t *)STATE(g))++;
        }
        break;
    case FN_SUM:
        if (d->arg_type == TYPE_FLOAT) {
            for (uint32_t k = 0; k < n; k++) {
                uint32_t r = sel[k], g = gidx[r];
                if (g != GROUP_NONE)
                    *(double *)STATE(g) += vf[r];
            }
        } else {
            for (uint32_t k = 0; k < n; k++) {
                uint32_t r = sel[k], g = gidx[r];
                if (g != GROUP_NONE)
                    sum_i64((int64_t *)STATE(g), vi[r], &ov);
            }
        }
        break;
    case FN_AVG:
        for (uint32_t k = 0; k < n; k++) {
            uint32_t r = sel[k], g = gidx[r];
            if (g == GROUP_NONE)
                continue;
            uint8_t *s = STATE(g);
            if (d->arg_type == TYPE_FLOAT)
                *(double *)s += vf[r];
            else
                sum_i64((int64_t *)s, vi[r], &ov);
            (*(int64_t *)(s + 8))++;
        }
        break;
    case FN_MIN:
    case FN_MAX: {
        int mn = d->fn == FN_MIN;
        for (uint32_t k = 0; k < n; k++) {
            uint32_t r = sel[k], g = gidx[r];
            if (g == GROUP_NONE)
                continue;
            uint8_t *s = STATE(g);
            if (d->arg_type == TYPE_IP) {
                int c = memcmp(vp[r].a, s, 16);
                if (mn ? c < 0 : c > 0)
                    memcpy(s, vp[r].a, 16);
            } else if (d->arg_type == TYPE_FLOAT) {
                double *p = (double *)s;
                if (mn ? vf[r] < *p : vf[r] > *p)
                    *p = vf[r];
            } else if (d->arg_type == TYPE_STRING) {
                const char **p = (const char **)s;
                if (!*p || (mn ? strcmp(vs[r], *p) < 0 : strcmp(vs[r], *p) > 0))
                    *p = vs[r];
            } else {
                int64_t *p = (int64_t *)s;
                if (mn ? vi[r] < *p : vi[r] > *p)
                    *p = vi[r];
            }
        }
        break;
    }
    case FN_APPROX_DISTINCT:
        for (uint32_t k = 0; k < n; k++) {
            uint32_t r = sel[k], g = gidx[r];
            if (g == GROUP_NONE)
                continue;
            hll_t **p = (hll_t **)STATE(g);
            if (!*p) {
                *p = xcalloc(1, sizeof(hll_t));
                t->side_bytes += sizeof(hll_t);
            }
            uint64_t h = hash_value(wide ? (const void *)&vp[r]
                                         : (const void *)&vi[r], wide);
            t->side_bytes += hll_add(*p, h);
        }
        break;
    case FN_TOPK:
        for (uint32_t k = 0; k < n; k++) {
            uint32_t r = sel[k], g = gidx[r];
            if (g == GROUP_NONE)
                continue;
            topk_t **p = (topk_t **)STATE(g);
            if (!*p) {
                int m = (int)d->k * TOPK_FACTOR;
                size_t sz = sizeof(topk_t) + (size_t)m * sizeof(tk_entry_t);
                *p = xcalloc(1, sz);
                (*p)->m = m;
                t->side_bytes += sz;
            }
            value_t v;
            if (wide)
                v.ip = vp[r];
            else
                v.i = vi[r];
            topk_add(*p, &v, wide, 1, 0);
        }
        break;
    default: /* count(DISTINCT x) */
        for (uint32_t k = 0; k < n; k++) {
            uint32_t r = sel[k], g = gidx[r];
            if (g == GROUP_NONE)
                continue;
            dset_t **p = (dset_t **)STATE(g);
            if (!*p) {
                *p = dset_new(wide, 8);
                t->side_bytes += dset_bytes(*p);
            }
            const uint64_t *v = wide ? (const uint64_t *)&vp[r]
                                     : (const uint64_t *)&vi[r];
            *p = dset_add(*p, v, &t->side_bytes);
        }
        break;
    }
    t->sum_overflow += ov;
}

/* ---- merging ---------------------------------------------------------------- */

static void merge_state(const agglayout_t *l, gtable_t *dt, uint8_t *ds,
                        const uint8_t *ss, const aggdef_t *d)
{
    int wide = type_is_wide(d->arg_type);
    uint64_t ov = 0;
    switch (d->fn) {
    case FN_COUNT:
        *(int64_t *)ds += *(const int64_t *)ss;
        break;
    case FN_SUM:
        if (d->arg_type == TYPE_FLOAT)
            *(double *)ds += *(const double *)ss;
        else
            sum_i64((int64_t *)ds, *(const int64_t *)ss, &ov);
        break;
    case FN_AVG:
        if (d->arg_type == TYPE_FLOAT)
            *(double *)ds += *(const double *)ss;
        else
            sum_i64((int64_t *)ds, *(const int64_t *)ss, &ov);
        *(int64_t *)(ds + 8) += *(const int64_t *)(ss + 8);
        break;
    case FN_MIN:
    case FN_MAX: {
        int mn = d->fn == FN_MIN;
        if (d->arg_type == TYPE_IP) {
            int c = memcmp(ss, ds, 16);
            if (mn ? c < 0 : c > 0)
                memcpy(ds, ss, 16);
        } else if (d->arg_type == TYPE_FLOAT) {
            double a = *(const double *)ss, *b = (double *)ds;
            if (mn ? a < *b : a > *b)
                *b = a;
        } else if (d->arg_type == TYPE_STRING) {
            const char *a = *(const char *const *)ss, **b = (const char **)ds;
            if (a && (!*b || (mn ? strcmp(a, *b) < 0 : strcmp(a, *b) > 0)))
                *b = a;
        } else {
            int64_t a = *(const int64_t *)ss, *b = (int64_t *)ds;
            if (mn ? a < *b : a > *b)
                *b = a;
        }
        break;
    }
    case FN_APPROX_DISTINCT: {
        const hll_t *s = *(hll_t *const *)ss;
        hll_t **p = (hll_t **)ds;
        if (!s)
            break;
        if (!*p) {
            *p = xcalloc(1, sizeof(hll_t));
            dt->side_bytes += sizeof(hll_t);
        }
        if (s->dense) {
            if (!(*p)->dense) {
                (*p)->regs = xcalloc(HLL_M, 1);
                (*p)->dense = 1;
                for (uint32_t i = 0; i < (*p)->n; i++)
                    hll_add_dense(*p, (*p)->hashes[i]);
                free((*p)->hashes);
                (*p)->hashes = NULL;
                dt->side_bytes += HLL_M;
            }
            for (uint32_t i = 0; i < HLL_M; i++)
                if (s->regs[i] > (*p)->regs[i])
                    (*p)->regs[i] = s->regs[i];
        } else {
            for (uint32_t i = 0; i < s->n; i++)
                dt->side_bytes += hll_add(*p, s->hashes[i]);
        }
        break;
    }
    case FN_TOPK: {
        const topk_t *s = *(topk_t *const *)ss;
        topk_t **p = (topk_t **)ds;
        if (!s)
            break;
        if (!*p) {
            size_t sz = sizeof(topk_t) + (size_t)s->m * sizeof(tk_entry_t);
            *p = xcalloc(1, sz);
            (*p)->m = s->m;
            dt->side_bytes += sz;
        }
        for (int i = 0; i < s->n; i++)
            topk_add(*p, &s->e[i].v, wide, s->e[i].count, s->e[i].err);
        break;
    }
    default: {
        const dset_t *s = *(dset_t *const *)ss;
        dset_t **p = (dset_t **)ds;
        if (!s)
            break;
        if (!*p) {
            *p = dset_new(wide, 8);
            dt->side_bytes += dset_bytes(*p);
        }
        int w = wide ? 2 : 1;
        for (uint32_t i = 0; i <= s->mask; i++)
            if (!is_zero(&s->vals[(size_t)i * w], wide))
                *p = dset_add(*p, &s->vals[(size_t)i * w], &dt->side_bytes);
        if (s->has_zero) {
            uint64_t z[2] = {0, 0};
            *p = dset_add(*p, z, &dt->side_bytes);
        }
        break;
    }
    }
    (void)l;
    dt->sum_overflow += ov;
}

void gtable_merge(const agglayout_t *l, gtable_t *dst, const gtable_t *src)
{
    size_t kw = l->key_size / 8;
    for (uint32_t g = 0; g < src->n; g++) {
        const uint8_t *se = gtable_entry(l, src, g);
        uint64_t h = agg_hash((const uint64_t *)se, kw);
        uint32_t dg = find_or_add(l, dst, (const uint64_t *)se, h);
        if (dg == GROUP_NONE) {
            /* The flows of a refused group: its count(*) if there is
             * one, else one per group. */
            int64_t lost = 1;
            for (int a = 0; a < l->naggs; a++)
                if (l->aggs[a].fn == FN_COUNT) {
                    lost = *(const int64_t *)(se + l->aggs[a].off);
                    break;
                }
            dst->overflow += (uint64_t)lost;
            continue;
        }
        uint8_t *de = gtable_entry(l, dst, dg);
        for (int a = 0; a < l->naggs; a++)
            merge_state(l, dst, de + l->aggs[a].off, se + l->aggs[a].off,
                        &l->aggs[a]);
    }
    dst->flows += src->flows;
    dst->overflow += src->overflow;
    dst->sum_overflow += src->sum_overflow;
}

/* ---- results ------------------------------------------------------------------- */

static void json_value(sbuf_t *b, const value_t *v, type_t t)
{
    char buf[64];
    switch (t) {
    case TYPE_IP:
        sbuf_printf(b, "\"%s\"", ipaddr_format(&v->ip, buf, sizeof(buf)));
        break;
    case TYPE_FLOAT:
        sbuf_printf(b, "%.17g", v->f);
        break;
    case TYPE_STRING:
        sbuf_addc(b, '"');
        for (const char *p = v->s; p && *p; p++) {
            if (*p == '"' || *p == '\\')
                sbuf_addc(b, '\\');
            if ((unsigned char)*p < 0x20)
                sbuf_printf(b, "\\u%04x", (unsigned char)*p);
            else
                sbuf_addc(b, *p);
        }
        sbuf_addc(b, '"');
        break;
    case TYPE_BOOL:
        sbuf_add(b, v->i ? "true" : "false");
        break;
    default:
        sbuf_printf(b, "%lld", (long long)v->i);
    }
}

value_t agg_final(const agglayout_t *l, const gtable_t *t, uint32_t g, int a,
                  rowset_t *rs)
{
    const aggdef_t *d = &l->aggs[a];
    const uint8_t *s = gtable_entry(l, t, g) + d->off;
    value_t v;
    memset(&v, 0, sizeof(v));
    switch (d->fn) {
    case FN_COUNT:
    case FN_SUM:
        memcpy(&v, s, 8);
        break;
    case FN_MIN:
    case FN_MAX:
        memcpy(&v, s, type_is_wide(d->arg_type) ? 16 : 8);
        if (d->arg_type == TYPE_STRING && !v.s)
            v.s = "";
        break;
    case FN_AVG: {
        int64_t cnt;
        memcpy(&cnt, s + 8, 8);
        if (d->arg_type == TYPE_FLOAT) {
            double sum;
            memcpy(&sum, s, 8);
            v.f = cnt ? sum / (double)cnt : 0;
        } else {
            int64_t sum;
            memcpy(&sum, s, 8);
            v.f = cnt ? (double)sum / (double)cnt : 0;
        }
        break;
    }
    case FN_APPROX_DISTINCT: {
        const hll_t *h;
        memcpy(&h, s, sizeof(h));
        v.i = h ? hll_estimate(h) : 0;
        break;
    }
    case FN_TOPK: {
        const topk_t *tk;
        memcpy(&tk, s, sizeof(tk));
        sbuf_t b = SBUF_INIT;
        sbuf_addc(&b, '[');
        if (tk) {
            tk_entry_t tmp[TOPK_MAX_K * TOPK_FACTOR];
            int n = tk->n;
            memcpy(tmp, tk->e, sizeof(tk_entry_t) * (size_t)n);
            qsort(tmp, (size_t)n, sizeof(tk_entry_t), tk_cmp);
            if (n > d->k)
                n = (int)d->k;
            for (int i = 0; i < n; i++) {
                sbuf_add(&b, i ? ",{\"value\":" : "{\"value\":");
                json_value(&b, &tmp[i].v, d->arg_type);
                sbuf_printf(&b, ",\"count\":%lld}", (long long)tmp[i].count);
            }
        }
        sbuf_addc(&b, ']');
        v.s = rs ? rowset_strdup(rs, sbuf_str(&b)) : NULL;
        sbuf_free(&b);
        break;
    }
    default: {
        const dset_t *ds;
        memcpy(&ds, s, sizeof(ds));
        v.i = ds ? ds->n : 0;
        break;
    }
    }
    return v;
}
