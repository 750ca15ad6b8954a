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
#include "engine/flow.h"
#include "engine/func.h"
#include "util/arena.h"
#include "util/sbuf.h"
#include "util/timeutil.h"

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

/* A strong 64-bit mix (the splitmix64 finalizer): sketches use every bit
 * of the hash, so neighbouring values (10.0.0.1, 10.0.0.2...) must not
 * land in neighbouring registers. */
static inline uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline uint64_t sketch_hash(const void *v, int wide)
{
    const uint64_t *w = v;
    return mix64(w[0] ^ (wide ? mix64(w[1] + 0x9e3779b97f4a7c15ULL) : 0x5bd1e995ULL));
}

/* ---- exact distinct counts ---------------------------------------------
 *
 * One open-addressing table per pane and aggregate holds every distinct
 * (group, value) pair; the group's inline state counts its pairs. No
 * per-group allocations, one probe per flow.
 */

typedef struct pairset {
    uint64_t *w;        /* (mask+1) * stride words: gid+1 (0: empty), value */
    uint32_t  n, mask;
    int       stride;   /* 1 (packed), 2 (8-byte values), 3 (addresses) */
    int       wide;     /* values are addresses */
    int       packs;    /* may be packed: exact distinct values */
} pairset_t;

/* A packed set keeps a pair in one word, (gid+1) << 32 | value, while
 * every value fits in 32 bits (an IPv4 address, a port): a third of the
 * memory of an address pair, half of an integer one. The first value
 * that does not fit (an IPv6 address) unpacks the set. */
static inline int pair_packs(const pairset_t *p, const uint64_t *v)
{
    return p->wide ? v[0] == 0 && (uint32_t)v[1] == 0xffff0000u
                   : v[0] <= 0xffffffffULL;
}

static inline uint64_t pair_pack(const pairset_t *p, uint32_t g,
                                 const uint64_t *v)
{
    return ((uint64_t)g + 1) << 32 | (p->wide ? v[1] >> 32 : v[0]);
}

/* Entry e of set p: its group, its value into v (two words). */
static inline uint32_t pair_at(const pairset_t *p, const uint64_t *e,
                               uint64_t *v)
{
    if (p->stride == 1) {
        uint64_t lo = (uint32_t)e[0];
        v[0] = p->wide ? 0 : lo;
        v[1] = p->wide ? lo << 32 | 0xffff0000ULL : 0;
        return (uint32_t)(e[0] >> 32) - 1;
    }
    v[0] = e[1];
    v[1] = p->stride == 3 ? e[2] : 0;
    return (uint32_t)e[0] - 1;
}

static size_t pairset_bytes(const pairset_t *p)
{
    return p->w ? ((size_t)p->mask + 1) * (size_t)p->stride * 8 : 0;
}

static inline uint64_t pair_hash(uint32_t g, const uint64_t *v, int wide)
{
    uint64_t k[3] = {g, v[0], wide ? v[1] : 0};
    return agg_hash(k, wide ? 3 : 2);
}

/* ---- memory ---------------------------------------------------------------
 *
 * A table's bytes are charged to its query's account as they are
 * allocated (mem.h): growth only if the budget has room, the fixed part
 * of a new table whatever it says.
 */

static inline int tmem_take(const agglayout_t *l, gtable_t *t, size_t n)
{
    if (!mem_take(l->acct, n))
        return 0;
    t->bytes += n;
    return 1;
}

static inline void tmem_force(const agglayout_t *l, gtable_t *t, size_t n)
{
    mem_force(l->acct, n);
    t->bytes += n;
}

static inline void tmem_give(const agglayout_t *l, gtable_t *t, size_t n)
{
    mem_give(l->acct, n);
    t->bytes -= n;
}

/* Room left in the budget (SIZE_MAX: no budget). */
static size_t mem_room(void)
{
    int64_t lim = mem_limit();
    if (lim <= 0)
        return SIZE_MAX;
    int64_t room = lim - mem_used();
    return room > 0 ? (size_t)room : 0;
}

/* More than three quarters full after `more` insertions? */
static inline int pairset_full(const pairset_t *p, uint32_t more)
{
    return !p->w ||
           ((uint64_t)p->n + more) * 4 > ((uint64_t)p->mask + 1) * 3;
}

/* The slot of (g, v): where it is, or the empty slot where it would go. */
static inline uint64_t *pairset_slot(const pairset_t *p, uint32_t g,
                                     const uint64_t *v, uint64_t h)
{
    int st = p->stride;
    uint32_t i = (uint32_t)h & p->mask;
    if (st == 1) {
        uint64_t key = pair_pack(p, g, v);
        for (;;) {
            uint64_t *e = p->w + i;
            if (!e[0] || e[0] == key)
                return e;
            i = (i + 1) & p->mask;
        }
    }
    for (;;) {
        uint64_t *e = p->w + (size_t)i * (size_t)st;
        if (!e[0] || (e[0] == (uint64_t)g + 1 && e[1] == v[0] &&
                      (st == 2 || e[2] == v[1])))
            return e;
        i = (i + 1) & p->mask;
    }
}

/* Insert (g, v) into a set with room; 1 if it was new. */
static inline int pairset_put(pairset_t *p, uint32_t g, const uint64_t *v,
                              uint64_t h)
{
    uint64_t *e = pairset_slot(p, g, v, h);
    if (e[0])
        return 0;
    if (p->stride == 1) {
        e[0] = pair_pack(p, g, v);
    } else {
        e[0] = (uint64_t)g + 1;
        e[1] = v[0];
        if (p->stride == 3)
            e[2] = v[1];
    }
    p->n++;
    return 1;
}

/* Double the set (create it at 1024 slots) if the budget has room. */
static int pairset_grow(const agglayout_t *l, gtable_t *t, pairset_t *p)
{
    pairset_t old = *p;
    uint32_t cap = old.w ? (old.mask + 1) * 2 : 1024;
    size_t nb = (size_t)cap * (size_t)p->stride * 8;
    if (!tmem_take(l, t, nb - pairset_bytes(&old)))
        return 0;
    p->w = xcalloc((size_t)cap * (size_t)p->stride, 8);
    p->mask = cap - 1;
    p->n = 0;
    int st = old.stride;
    for (uint32_t i = 0; old.w && i <= old.mask; i++) {
        const uint64_t *e = old.w + (size_t)i * (size_t)st;
        if (e[0]) {
            uint64_t v[2];
            uint32_t g = pair_at(&old, e, v);
            pairset_put(p, g, v, pair_hash(g, v, p->wide));
        }
    }
    free(old.w);
    return 1;
}

/* A packed set meets a value that does not fit: the same slots, a pair
 * each in full. 0 if the budget refuses the room. */
static int pairset_unpack(const agglayout_t *l, gtable_t *t, pairset_t *p)
{
    pairset_t old = *p;
    int st = p->wide ? 3 : 2;
    if (!old.w) {
        p->stride = st;
        return 1;
    }
    size_t cap = (size_t)old.mask + 1;
    if (!tmem_take(l, t, cap * (size_t)st * 8 - pairset_bytes(&old)))
        return 0;
    p->stride = st;
    p->w = xcalloc(cap * (size_t)st, 8);
    p->n = 0;
    for (size_t i = 0; i < cap; i++)
        if (old.w[i]) {
            uint64_t v[2];
            uint32_t g = pair_at(&old, &old.w[i], v);
            pairset_put(p, g, v, pair_hash(g, v, p->wide));
        }
    free(old.w);
    return 1;
}

/* Insert (g, v): 1 if it was new, 0 if it was there, -1 if it is new but
 * the set is full and the budget refused it more room. */
static inline int pairset_add(const agglayout_t *l, gtable_t *t,
                              pairset_t *p, uint32_t g, const uint64_t *v,
                              uint64_t h)
{
    if (p->stride == 1 && !pair_packs(p, v) && !pairset_unpack(l, t, p))
        return -1;
    if (pairset_full(p, 1) && !pairset_grow(l, t, p)) {
        if (!p->w || !pairset_slot(p, g, v, h)[0])
            return -1;
        return 0;
    }
    return pairset_put(p, g, v, h);
}

/* Empty the set; keep its memory for the next pane unless this one used
 * little of it. */
static void pairset_clear(const agglayout_t *l, gtable_t *t, pairset_t *p)
{
    if (p->w && (uint64_t)p->n * 8 >= (uint64_t)p->mask + 1) {
        memset(p->w, 0, pairset_bytes(p));
        p->n = 0;
        return;
    }
    tmem_give(l, t, pairset_bytes(p));
    free(p->w);
    p->w = NULL;
    if (p->packs)
        p->stride = 1;      /* the next pane starts packed again */
    p->n = p->mask = 0;
}

/* ---- HyperLogLog --------------------------------------------------------- */

#define HLL_M (1u << HLL_P)
#define HLL_SPARSE_MAX 64

/* A sketch is the group's own list of its distinct hashes while it has
 * at most HLL_SPARSE_MAX of them (the count is exact), then registers:
 * the list is folded into them and freed when the next distinct hash
 * comes (register updates are idempotent and commute, so the registers
 * are those of every hash, in any order). A list holds a power of two
 * of hashes, at least four: 32 bytes to 512. */
/* Registers are 6 bits (a rank is at most 64 - HLL_P + 1 = 54), packed:
 * 1536 bytes for 2048 of them instead of 2048, and two of padding so a
 * register is always read as one 16-bit word. */
#define HLL_BYTES (HLL_M * 6 / 8 + 2)

static inline uint32_t hll_get(const uint8_t *regs, uint32_t i)
{
    uint32_t bit = i * 6;
    uint16_t w;
    memcpy(&w, regs + (bit >> 3), 2);
    return (w >> (bit & 7)) & 63;
}

static inline void hll_set(uint8_t *regs, uint32_t i, uint32_t v)
{
    uint32_t bit = i * 6;
    uint16_t w;
    memcpy(&w, regs + (bit >> 3), 2);
    w = (uint16_t)((w & ~(63u << (bit & 7))) | (v << (bit & 7)));
    memcpy(regs + (bit >> 3), &w, 2);
}

/* Where register i is, for a prefetch. */
static inline const uint8_t *hll_at(const uint8_t *regs, uint32_t i)
{
    return regs + ((i * 6) >> 3);
}

static inline void hll_reg_add(uint8_t *regs, uint64_t x)
{
    uint32_t idx = (uint32_t)(x >> (64 - HLL_P));
    uint64_t rest = (x << HLL_P) | (1ULL << (HLL_P - 1));
    uint32_t rank = (uint32_t)__builtin_clzll(rest) + 1;
    if (rank > hll_get(regs, idx))
        hll_set(regs, idx, rank);
}

/* A sketch's state: its count of distinct hashes while a list, and a
 * pointer: the list, or the registers tagged with bit 0. */
static inline uintptr_t sketch_ptr(const uint8_t *st)
{
    uintptr_t p;
    memcpy(&p, st + 8, sizeof(p));
    return p;
}

static inline uint8_t *sketch_regs(const uint8_t *st)
{
    uintptr_t p = sketch_ptr(st);
    return p & 1 ? (uint8_t *)(p & ~(uintptr_t)1) : NULL;
}

static inline uint64_t *sketch_list(const uint8_t *st)
{
    uintptr_t p = sketch_ptr(st);
    return p & 1 ? NULL : (uint64_t *)p;
}

/* Hashes a list of n holds room for. */
static inline uint32_t sketch_cap(int64_t n)
{
    if (n <= 0)
        return 0;
    uint32_t c = 4;
    while (c < n)
        c *= 2;
    return c;
}

/* Give the sketch its registers, made of its list (and hash h if
 * with_h); 0 if the budget has no room (the sketch stays a list, still
 * exact). */
static int sketch_densify(const agglayout_t *l, gtable_t *t, uint8_t *st,
                          uint64_t h, int with_h)
{
    if (!tmem_take(l, t, HLL_BYTES))
        return 0;
    uint8_t *regs = xcalloc(HLL_BYTES, 1);
    uint64_t *list = sketch_list(st);
    int64_t n;
    memcpy(&n, st, 8);
    for (int64_t i = 0; i < n; i++)
        hll_reg_add(regs, list[i]);
    if (with_h)
        hll_reg_add(regs, h);
    tmem_give(l, t, (size_t)sketch_cap(n) * 8);
    free(list);
    uintptr_t p = (uintptr_t)regs | 1;
    memcpy(st + 8, &p, sizeof(p));
    n += with_h;
    memcpy(st, &n, 8);
    return 1;
}

/* Add hash h to the sketch at st: 1 if new (or registers), 0 if it was
 * there, -1 if it is new and the budget refused the room for it. */
static int sketch_add(const agglayout_t *l, gtable_t *t, uint8_t *st,
                      uint64_t h)
{
    uint8_t *regs = sketch_regs(st);
    if (regs) {
        hll_reg_add(regs, h);
        return 1;
    }
    uint64_t *list = sketch_list(st);
    int64_t n;
    memcpy(&n, st, 8);
    for (int64_t i = 0; i < n; i++)
        if (list[i] == h)
            return 0;
    if (n >= HLL_SPARSE_MAX && sketch_densify(l, t, st, h, 1))
        return 1;
    uint32_t cap = sketch_cap(n);
    if ((uint32_t)n == cap) {
        uint32_t nc = cap ? cap * 2 : 4;
        if (!tmem_take(l, t, (size_t)(nc - cap) * 8))
            return -1;
        list = xrealloc(list, (size_t)nc * 8);
        memcpy(st + 8, &list, sizeof(list));
    }
    list[n++] = h;
    memcpy(st, &n, 8);
    return 1;
}

/* Free what the sketch at st holds. */
static void sketch_free(const agglayout_t *l, gtable_t *t, uint8_t *st)
{
    uint8_t *regs = sketch_regs(st);
    if (regs) {
        tmem_give(l, t, HLL_BYTES);
        free(regs);
        return;
    }
    int64_t n;
    memcpy(&n, st, 8);
    tmem_give(l, t, (size_t)sketch_cap(n) * 8);
    free(sketch_list(st));
}

/* Ertl's improved estimator ("New cardinality estimation algorithms for
 * HyperLogLog sketches", 2017): unbiased over the whole range, without
 * the empirical bias tables of HLL++ and without switching to linear
 * counting. It works on the histogram of register values. */
static double hll_sigma(double x)
{
    if (x == 1.0)
        return INFINITY;
    double y = 1.0, z = x, old;
    do {
        x *= x;
        old = z;
        z += x * y;
        y += y;
    } while (z != old);
    return z;
}

static double hll_tau(double x)
{
    if (x == 0.0 || x == 1.0)
        return 0.0;
    double y = 1.0, z = 1.0 - x, old;
    do {
        x = sqrt(x);
        old = z;
        y *= 0.5;
        z -= (1.0 - x) * (1.0 - x) * y;
    } while (z != old);
    return z / 3.0;
}

static int64_t hll_estimate(const uint8_t *regs)
{
    enum { Q = 64 - HLL_P };
    uint32_t c[Q + 2] = {0};
    for (uint32_t i = 0; i < HLL_M; i++) {
        uint32_t r = hll_get(regs, i);
        c[r <= Q + 1 ? r : Q + 1]++;
    }
    double m = HLL_M;
    double z = m * hll_tau(1.0 - c[Q + 1] / m);
    for (int k = Q; k >= 1; k--)
        z = 0.5 * (z + c[k]);
    z += m * hll_sigma(c[0] / m);
    return (int64_t)llround(m * m / (2.0 * log(2.0)) / z);
}

/* ---- topk (Space-Saving) --------------------------------------------------- */

static size_t topk_bytes(int m)
{
    return sizeof(topk_t) + (size_t)m * sizeof(tk_entry_t);
}

/* A group's counters, m of them; NULL if the budget has no room. */
static topk_t *topk_new(const agglayout_t *l, gtable_t *t, int m)
{
    if (!tmem_take(l, t, topk_bytes(m)))
        return NULL;
    topk_t *k = xcalloc(1, topk_bytes(m));
    k->m = m;
    return k;
}

static int same_value(const value_t *a, const value_t *b, int wide)
{
    return wide ? ipaddr_eq(&a->ip, &b->ip) : a->i == b->i;
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
    case -FN_COUNT - 1:      /* count(DISTINCT x): its pairs, in the table */
        return 8;
    case FN_SUM:
    case FN_MIN:
    case FN_MAX:
        return type_is_wide(d->arg_type) ? 16 : 8;
    case FN_AVG:
    case FN_APPROX_DISTINCT:  /* exact count while sparse, registers */
        return 16;
    default:           /* pointer to a side structure */
        return 8;
    }
}

void agglayout_init(agglayout_t *l, const plan_t *p, memacct_t *acct)
{
    memset(l, 0, sizeof(*l));
    l->acct = acct;
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
    gtable_t *t = xcalloc(1, sizeof(*t));
    t->pairs = xcalloc((size_t)l->naggs + 1, sizeof(pairset_t));
    for (int a = 0; a < l->naggs; a++) {  /* sketches keep 64-bit hashes */
        pairset_t *ps = &((pairset_t *)t->pairs)[a];
        int approx = l->aggs[a].fn == FN_APPROX_DISTINCT;
        ps->wide = type_is_wide(l->aggs[a].arg_type) && !approx;
        ps->packs = !approx;
        ps->stride = ps->packs ? 1 : ps->wide ? 3 : 2;
    }
    t->slots = xcalloc(MIN_SLOTS, sizeof(uint64_t));
    t->mask = MIN_SLOTS - 1;
    tmem_force(l, t, sizeof(*t) + ((size_t)l->naggs + 1) * sizeof(pairset_t) +
                     MIN_SLOTS * sizeof(uint64_t));
    return t;
}

static void free_side(const agglayout_t *l, gtable_t *t)
{
    if (!l->side)
        return;
    for (int a = 0; a < l->naggs; a++)
        pairset_clear(l, t, &((pairset_t *)t->pairs)[a]);
    for (uint32_t g = 0; g < t->n; g++) {
        uint8_t *e = gtable_entry(l, t, g);
        for (int a = 0; a < l->naggs; a++) {
            const aggdef_t *d = &l->aggs[a];
            if (d->fn == FN_APPROX_DISTINCT) {
                sketch_free(l, t, e + d->off);
            } else if (d->fn == FN_TOPK) {
                topk_t *k;
                memcpy(&k, e + d->off, sizeof(k));
                if (k)
                    tmem_give(l, t, topk_bytes(k->m));
                free(k);
            }
        }
    }
}

void gtable_clear(const agglayout_t *l, gtable_t *t)
{
    free_side(l, t);
    /* Shrink an index that a burst made huge, so one bad window does not
     * pin its memory forever. */
    if (t->mask + 1 > MIN_SLOTS && (uint64_t)t->n * 8 < t->mask + 1) {
        free(t->slots);
        tmem_give(l, t, ((size_t)t->mask + 1) * sizeof(uint64_t));
        uint32_t cap = MIN_SLOTS;
        while (cap < t->n * 2)
            cap *= 2;
        t->slots = xcalloc(cap, sizeof(uint64_t));
        t->mask = cap - 1;
        tmem_force(l, t, (size_t)cap * sizeof(uint64_t));
        free(t->entries);
        tmem_give(l, t, (size_t)t->cap * l->entry_size);
        t->entries = NULL;
        t->cap = 0;
        free(t->stamps);
        tmem_give(l, t, (size_t)t->stamps_cap * sizeof(uint64_t));
        t->stamps = NULL;
        t->stamps_cap = 0;
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
    for (int a = 0; a < l->naggs; a++)
        free(((pairset_t *)t->pairs)[a].w);
    free(t->entries);
    free(t->slots);
    free(t->pairs);
    free(t->stamps);
    mem_give(l->acct, t->bytes);    /* what is left: all the rest */
    free(t);
}

size_t gtable_bytes(const gtable_t *t)
{
    return t->bytes;
}

/* Double the index if the budget has room (else it fills on to 3/4). */
static void grow_slots(const agglayout_t *l, gtable_t *t)
{
    uint32_t cap = (t->mask + 1) * 2;
    if (!tmem_take(l, t, (size_t)(cap - (t->mask + 1)) * sizeof(uint64_t)))
        return;
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

/* Room for more groups: double the entries (up to the cap), or near the
 * end of the budget take what is left if that is worth a copy of the
 * table. 0 if the budget has no room. */
static int grow_entries(const agglayout_t *l, gtable_t *t)
{
    /* A stamped table's stamps grow with its entries, within the budget. */
    int st = t->stamped && t->stamps_cap >= t->cap;
    size_t es = l->entry_size + (st ? sizeof(uint64_t) : 0);
    uint32_t nc = t->cap ? t->cap * 2 : 256;
    if ((int64_t)nc > l->max_groups)
        nc = (uint32_t)l->max_groups;
    size_t room = mem_room() / es;
    if (room < (size_t)(nc - t->cap)) {
        if (room < 256 || room < t->cap / 8) {
            if (l->acct)
                l->acct->refused++;
            return 0;
        }
        nc = t->cap + (uint32_t)room;
    }
    if (!tmem_take(l, t, (size_t)(nc - t->cap) * es))
        return 0;
    t->entries = xrealloc(t->entries, (size_t)nc * l->entry_size);
    if (st) {
        t->stamps = xrealloc(t->stamps, (size_t)nc * sizeof(uint64_t));
        t->stamps_cap = nc;
    }
    t->cap = nc;
    return 1;
}

static inline int key_eq(const uint8_t *a, const uint64_t *b, size_t nw)
{
    const uint64_t *x = (const uint64_t *)a;
    uint64_t d = 0;
    for (size_t i = 0; i < nw; i++)
        d |= x[i] ^ b[i];
    return d == 0;
}

/* Insert key at the free slot i the probe ended on; GROUP_NONE when the
 * cap or the memory budget refuses it. Out of line: the probe that finds
 * an existing group (nearly every flow) stays small. */
static __attribute__((noinline)) uint32_t add_group(const agglayout_t *l,
                                                    gtable_t *t,
                                                    const uint64_t *key,
                                                    uint64_t fp, uint32_t i)
{
    if ((int64_t)t->n >= l->max_groups)
        return GROUP_NONE;
    if (t->n == t->cap && !grow_entries(l, t))
        return GROUP_NONE;
    /* The index doubles at half full; one the budget would not let
     * double takes groups up to three quarters, then none. */
    if (((uint64_t)t->n + 1) * 4 > ((uint64_t)t->mask + 1) * 3) {
        if (l->acct)
            l->acct->refused++;
        return GROUP_NONE;
    }
    size_t ks = l->key_size;
    uint32_t g = t->n++;
    uint8_t *e = gtable_entry(l, t, g);
    memcpy(e, key, ks);
    memcpy(e + ks, l->init, l->entry_size - ks);
    t->slots[i] = fp | (g + 1);
    if ((uint64_t)t->n * 2 > (uint64_t)t->mask + 1)
        grow_slots(l, t);
    return g;
}

/* Find or insert one key; GROUP_NONE when it is refused. */
static inline uint32_t find_or_add(const agglayout_t *l, gtable_t *t,
                                   const uint64_t *key, uint64_t h)
{
    uint64_t fp = h & 0xffffffff00000000ULL;
    uint32_t i = (uint32_t)h & t->mask;
    size_t kw = l->key_size / 8;
    for (;;) {
        uint64_t s = t->slots[i];
        if (!s)
            return add_group(l, t, key, fp, i);
        if ((s & 0xffffffff00000000ULL) == fp) {
            uint32_t g = (uint32_t)s - 1;
            if (key_eq(gtable_entry(l, t, g), key, kw))
                return g;
        }
        i = (i + 1) & t->mask;
    }
}

/* Room for a stamp per allocated group: a table stamped after its
 * entries were allocated (a spare table reused by a shared query) pays
 * for them at once, whatever the budget (8 bytes a group, beside the
 * entries it took); from then on they grow with the entries. */
static void stamps_fit(const agglayout_t *l, gtable_t *t)
{
    if (t->stamps_cap >= t->cap)
        return;
    tmem_force(l, t, (size_t)(t->cap - t->stamps_cap) * sizeof(uint64_t));
    t->stamps = xrealloc(t->stamps, (size_t)t->cap * sizeof(uint64_t));
    t->stamps_cap = t->cap;
}

static int stamp_cmp(const void *a, const void *b, void *ctx)
{
    const uint64_t *st = ctx;
    uint64_t x = st[*(const uint32_t *)a], y = st[*(const uint32_t *)b];
    return x < y ? -1 : x > y;
}

uint32_t *gtable_order(const gtable_t *t)
{
    if (!t->stamped || !t->stamps || !t->n)
        return NULL;
    uint32_t *o = xcalloc(t->n, sizeof(uint32_t));
    for (uint32_t g = 0; g < t->n; g++)
        o[g] = g;
    qsort_r(o, t->n, sizeof(uint32_t), stamp_cmp, t->stamps);
    return o;
}

void gtable_lookup(const agglayout_t *l, gtable_t *t, const uint64_t *keys,
                   const uint64_t *hashes, const uint32_t *sel, uint32_t n,
                   uint32_t *gidx)
{
    size_t kw = l->key_size / 8;
    /* Two-stage prefetch: the slot of the row 16 ahead, then (once that
     * slot is likely cached) the entry it points to, 8 ahead. The probe
     * itself then mostly hits the cache. */
    for (uint32_t k = 0; k < n; k++) {
        uint32_t r = sel[k];
        if (k + 16 < n)
            __builtin_prefetch(&t->slots[(uint32_t)hashes[sel[k + 16]] & t->mask]);
        if (k + 8 < n) {
            uint64_t h = hashes[sel[k + 8]];
            uint64_t s = t->slots[(uint32_t)h & t->mask];
            if (s)
                __builtin_prefetch(gtable_entry(l, t, (uint32_t)s - 1));
        }
        uint32_t had = t->n;
        uint32_t g = find_or_add(l, t, keys + (size_t)r * kw, hashes[r]);
        gidx[r] = g;
        t->overflow += g == GROUP_NONE;
        if (t->stamped && t->n != had) {
            stamps_fit(l, t);
            t->stamps[g] = t->stamp_base | r;
        }
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
                int c = ipaddr_cmp(&vp[r], (const ipaddr_t *)s);
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
    case FN_APPROX_DISTINCT: {
        uint64_t vh[FLOW_BATCH_MAX];
        for (uint32_t k = 0; k < n; k++) {
            uint32_t r = sel[k];
            vh[k] = sketch_hash(wide ? (const void *)&vp[r]
                                     : (const void *)&vi[r], wide);
        }
        /* Two-stage prefetch: the group's state 16 rows ahead; 8 rows
         * ahead, once that state is in cache, the register the row will
         * touch (a dense sketch: one miss per flow otherwise) or else its
         * list. */
        for (uint32_t k = 0; k < n; k++) {
            uint32_t g = gidx[sel[k]];
            if (k + 16 < n) {
                uint32_t g16 = gidx[sel[k + 16]];
                if (g16 != GROUP_NONE)
                    __builtin_prefetch(STATE(g16));
            }
            if (k + 8 < n) {
                uint32_t g8 = gidx[sel[k + 8]];
                if (g8 != GROUP_NONE) {
                    uintptr_t p8 = sketch_ptr(STATE(g8));
                    if (p8 & 1)
                        __builtin_prefetch(hll_at((const uint8_t *)(p8 & ~(uintptr_t)1),
                                                  (uint32_t)(vh[k + 8] >> (64 - HLL_P))));
                    else if (p8)
                        __builtin_prefetch((const void *)p8);
                }
            }
            if (g == GROUP_NONE)
                continue;
            if (sketch_add(l, t, STATE(g), vh[k]) < 0)
                t->overflow++;        /* the budget refused the value */
        }
        break;
    }
    case FN_TOPK:
        for (uint32_t k = 0; k < n; k++) {
            uint32_t r = sel[k], g = gidx[r];
            if (g == GROUP_NONE)
                continue;
            topk_t **p = (topk_t **)STATE(g);
            if (!*p && !(*p = topk_new(l, t, (int)d->k * TOPK_FACTOR))) {
                t->overflow++;        /* the budget refused the counters */
                continue;
            }
            value_t v;
            if (wide)
                v.ip = vp[r];
            else
                v.i = vi[r];
            topk_add(*p, &v, wide, 1, 0);
        }
        break;
    default: { /* count(DISTINCT x) */
        pairset_t *ps = &((pairset_t *)t->pairs)[a];
        int w = wide ? 2 : 1;
        const uint64_t *lv = lanes;
        /* Hash every pair first, then insert with the slot of the pair 8
         * ahead prefetched: the table is large and each probe a miss. */
        uint64_t ph[FLOW_BATCH_MAX];
        for (uint32_t k = 0; k < n; k++) {
            uint32_t r = sel[k], g = gidx[r];
            ph[k] = g == GROUP_NONE ? 0
                  : pair_hash(g, lv + (size_t)r * (size_t)w, wide);
        }
        while (pairset_full(ps, n) && pairset_grow(l, t, ps))
            ;
        for (uint32_t k = 0; k < n; k++) {
            uint32_t r = sel[k], g = gidx[r];
            if (k + 8 < n) {
                __builtin_prefetch(ps->w + (size_t)((uint32_t)ph[k + 8] & ps->mask) *
                                               (size_t)ps->stride);
                uint32_t g8 = gidx[sel[k + 8]];
                if (g8 != GROUP_NONE)
                    __builtin_prefetch(STATE(g8));
            }
            if (g == GROUP_NONE)
                continue;
            int added = pairset_add(l, t, ps, g, lv + (size_t)r * (size_t)w,
                                    ph[k]);
            if (added > 0)
                (*(int64_t *)STATE(g))++;
            else if (added < 0)
                t->overflow++;        /* the budget refused the value */
        }
        break;
    }
    }
    t->sum_overflow += ov;
}

/* Every aggregate of a batch. Inline states are updated row by row, all
 * aggregates of a row together, so each group entry is fetched once per
 * row instead of once per aggregate; side structures follow, one
 * aggregate at a time. */
enum { U_COUNT, U_SUMI, U_SUMF, U_AVGI, U_AVGF, U_MINI, U_MAXI, U_MINF,
       U_MAXF, U_MINP, U_MAXP };

void agg_update_all(const agglayout_t *l, gtable_t *t, const void *const *lanes,
                    const uint32_t *sel, uint32_t n, const uint32_t *gidx)
{
    struct { int code; size_t off; const void *v; } ops[64];
    int nops = 0;
    for (int a = 0; a < l->naggs; a++) {
        const aggdef_t *d = &l->aggs[a];
        int code = -1;
        int fl = d->arg_type == TYPE_FLOAT, ip = d->arg_type == TYPE_IP;
        switch (d->fn) {
        case FN_COUNT: code = U_COUNT; break;
        case FN_SUM: code = fl ? U_SUMF : U_SUMI; break;
        case FN_AVG: code = fl ? U_AVGF : U_AVGI; break;
        case FN_MIN:
            if (d->arg_type != TYPE_STRING)
                code = fl ? U_MINF : ip ? U_MINP : U_MINI;
            break;
        case FN_MAX:
            if (d->arg_type != TYPE_STRING)
                code = fl ? U_MAXF : ip ? U_MAXP : U_MAXI;
            break;
        }
        if (code < 0 || nops == 64) {
            agg_update(l, t, a, lanes[a], sel, n, gidx);
            continue;
        }
        ops[nops].code = code;
        ops[nops].off = d->off;
        ops[nops].v = lanes[a];
        nops++;
    }
    if (!nops)
        return;
    uint64_t ov = 0;
    size_t es = l->entry_size;
    for (uint32_t k = 0; k < n; k++) {
        uint32_t r = sel[k], g = gidx[r];
        if (g == GROUP_NONE)
            continue;
        uint8_t *e = t->entries + (size_t)g * es;
        for (int o = 0; o < nops; o++) {
            uint8_t *st = e + ops[o].off;
            const int64_t *vi = ops[o].v;
            const double *vf = ops[o].v;
            const ipaddr_t *vp = ops[o].v;
            switch (ops[o].code) {
            case U_COUNT: (*(int64_t *)st)++; break;
            case U_SUMI: sum_i64((int64_t *)st, vi[r], &ov); break;
            case U_SUMF: *(double *)st += vf[r]; break;
            case U_AVGI:
                sum_i64((int64_t *)st, vi[r], &ov);
                (*(int64_t *)(st + 8))++;
                break;
            case U_AVGF:
                *(double *)st += vf[r];
                (*(int64_t *)(st + 8))++;
                break;
            case U_MINI:
                if (vi[r] < *(int64_t *)st) *(int64_t *)st = vi[r];
                break;
            case U_MAXI:
                if (vi[r] > *(int64_t *)st) *(int64_t *)st = vi[r];
                break;
            case U_MINF:
                if (vf[r] < *(double *)st) *(double *)st = vf[r];
                break;
            case U_MAXF:
                if (vf[r] > *(double *)st) *(double *)st = vf[r];
                break;
            case U_MINP:
                if (ipaddr_cmp(&vp[r], (const ipaddr_t *)st) < 0)
                    memcpy(st, &vp[r], 16);
                break;
            case U_MAXP:
                if (ipaddr_cmp(&vp[r], (const ipaddr_t *)st) > 0)
                    memcpy(st, &vp[r], 16);
                break;
            }
        }
    }
    t->sum_overflow += ov;
}

/* ---- merging ---------------------------------------------------------------- */

/* Merge one aggregate's state ss into ds; 0 if the budget refused the
 * registers or counters it needed (the state then misses ss). */
static int merge_state(const agglayout_t *l, gtable_t *dt, uint8_t *ds,
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
            int c = ipaddr_cmp((const ipaddr_t *)ss, (const ipaddr_t *)ds);
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
        /* Registers here; the pairs are merged by gtable_merge. */
        const uint8_t *sr = sketch_regs(ss);
        if (!sr) {
            const uint64_t *list = sketch_list(ss);
            int64_t n;
            memcpy(&n, ss, 8);
            for (int64_t i = 0; i < n; i++)
                if (sketch_add(l, dt, ds, list[i]) < 0)
                    dt->overflow++;   /* the budget refused the value */
            break;
        }
        uint8_t *dr = sketch_regs(ds);
        /* Registers of its own list first, then the source's. */
        if (!dr && !sketch_densify(l, dt, ds, 0, 0))
            return 0;
        dr = sketch_regs(ds);
        for (uint32_t i = 0; i < HLL_M; i++) {
            uint32_t v = hll_get(sr, i);
            if (v > hll_get(dr, i))
                hll_set(dr, i, v);
        }
        break;
    }
    case FN_TOPK: {
        const topk_t *s = *(topk_t *const *)ss;
        topk_t **p = (topk_t **)ds;
        if (!s)
            break;
        if (!*p && !(*p = topk_new(l, dt, s->m)))
            return 0;
        for (int i = 0; i < s->n; i++)
            topk_add(*p, &s->e[i].v, wide, s->e[i].count, s->e[i].err);
        break;
    }
    default:
        break;      /* count(DISTINCT x): merged by pairs, see below */
    }
    dt->sum_overflow += ov;
    return 1;
}

/* The flows of a group: its count(*) if there is one, else one. */
static int64_t group_flows(const agglayout_t *l, const uint8_t *e)
{
    for (int a = 0; a < l->naggs; a++)
        if (l->aggs[a].fn == FN_COUNT)
            return *(const int64_t *)(e + l->aggs[a].off);
    return 1;
}

void gtable_merge(const agglayout_t *l, gtable_t *dst, const gtable_t *src)
{
    gtable_merge_map(l, dst, l, src, NULL);
}

/* A stage's count(DISTINCT x) read by a member's approx_count_distinct(x):
 * the sketch is built from the exact pairs' values. */
static inline int derived_sketch(const aggdef_t *dd, const aggdef_t *sd)
{
    return dd->fn == FN_APPROX_DISTINCT && sd->fn == -FN_COUNT - 1;
}

void gtable_merge_map(const agglayout_t *dl, gtable_t *dst,
                      const agglayout_t *sl, const gtable_t *src,
                      const int *amap)
{
    merge_cursor_t c = {0};
    gtable_merge_step(dl, dst, sl, src, amap, &c, INT64_MAX);
}

/* Exact distinct pairs of aggregate sa of a source its owner gives up
 * (c->take), whose groups all kept their numbers in a destination that
 * was empty: the destination's aggregate a takes the source's set as it
 * is (its memory moves from one account to the other) and each group its
 * count, instead of a copy of every pair. The source gets the
 * destination's empty set. 0 if the pairs must be copied: another
 * aggregate of dst reads the same set, or the sets differ in kind. */
static int pairs_move(const agglayout_t *dl, gtable_t *dst,
                      const agglayout_t *sl, const int *amap,
                      const merge_cursor_t *c, int a, int sa)
{
    gtable_t *src = c->take;
    if (!c->ident || dl->aggs[a].fn != -FN_COUNT - 1 ||
        sl->aggs[sa].fn != -FN_COUNT - 1)
        return 0;
    for (int b = 0; b < dl->naggs; b++)
        if (b != a && (amap ? amap[b] : b) == sa)
            return 0;
    pairset_t *sp = &((pairset_t *)src->pairs)[sa];
    pairset_t *dp = &((pairset_t *)dst->pairs)[a];
    if (dp->n || sp->wide != dp->wide || sp->packs != dp->packs)
        return 0;
    size_t sb = pairset_bytes(sp), db = pairset_bytes(dp);
    pairset_t t = *dp;
    *dp = *sp;
    *sp = t;
    tmem_give(sl, src, sb);
    tmem_force(dl, dst, sb);
    tmem_give(dl, dst, db);
    tmem_force(sl, src, db);
    size_t doff = dl->aggs[a].off, soff = sl->aggs[sa].off;
    for (uint32_t g = 0; g < src->n; g++)
        memcpy(gtable_entry(dl, dst, g) + doff, gtable_entry(sl, src, g) + soff, 8);
    return 1;
}

/* Work between two looks at the clock: groups or pair slots. */
enum { MERGE_CHUNK = 8192 };

int gtable_merge_step(const agglayout_t *dl, gtable_t *dst,
                      const agglayout_t *sl, const gtable_t *src,
                      const int *amap, merge_cursor_t *c, int64_t deadline_ms)
{
    size_t kw = dl->key_size / 8;
    if (!c->begun) {
        c->begun = 1;
        c->map = dl->side ? xcalloc((size_t)src->n + 1, sizeof(uint32_t)) : NULL;
        /* A stamped source is taken in the order its groups appeared, so
         * a window merged from panes lists them as an unshared query
         * would; a stamped destination keeps the first arrival of each. */
        c->order = gtable_order(src);
        c->ident = c->take == src && dst->n == 0;
    }
    uint32_t *map = c->map, *order = c->order;
    int stamp = dst->stamped && src->stamped && src->stamps;
    while (c->k < src->n) {
        uint32_t lim = src->n - c->k > MERGE_CHUNK ? c->k + MERGE_CHUNK : src->n;
        for (uint32_t k = c->k; k < lim; k++) {
            uint32_t g = order ? order[k] : k;
            const uint8_t *se = gtable_entry(sl, src, g);
            uint64_t h = agg_hash((const uint64_t *)se, kw);
            uint32_t had = dst->n;
            uint32_t dg = find_or_add(dl, dst, (const uint64_t *)se, h);
            if (map)
                map[g] = dg;
            c->ident &= dg == g;
            if (dg == GROUP_NONE) {
                dst->overflow += (uint64_t)group_flows(sl, se);
                c->overflow += (uint64_t)group_flows(sl, se);
                continue;
            }
            if (stamp) {
                stamps_fit(dl, dst);
                if (dst->n != had || src->stamps[g] < dst->stamps[dg])
                    dst->stamps[dg] = src->stamps[g];
            }
            uint8_t *de = gtable_entry(dl, dst, dg);
            int whole = 1;
            for (int a = 0; a < dl->naggs; a++) {
                const aggdef_t *sd = &sl->aggs[amap ? amap[a] : a];
                if (derived_sketch(&dl->aggs[a], sd))
                    continue;        /* from the pairs, below */
                whole &= merge_state(dl, dst, de + dl->aggs[a].off, se + sd->off,
                                     &dl->aggs[a]);
            }
            if (!whole) {
                dst->overflow += (uint64_t)group_flows(sl, se);
                c->overflow += (uint64_t)group_flows(sl, se);
            }
        }
        c->k = lim;
        if (c->k < src->n && time_mono_ms() >= deadline_ms)
            return 0;
    }
    /* Distinct counts: the union of the pairs, renumbered. Sketches: a
     * pair goes to the group's registers if it has them, else it is a
     * pair of the window (and may make the group dense). A sketch read
     * from exact pairs hashes their values first. */
    for (; map && c->a < dl->naggs; c->a++, c->i = 0) {
        int a = c->a;
        int approx = dl->aggs[a].fn == FN_APPROX_DISTINCT;
        if (dl->aggs[a].fn != -FN_COUNT - 1 && !approx)
            continue;
        int sa = amap ? amap[a] : a;
        int derive = derived_sketch(&dl->aggs[a], &sl->aggs[sa]);
        int wide = type_is_wide(dl->aggs[a].arg_type);
        const pairset_t *sp = &((const pairset_t *)src->pairs)[sa];
        pairset_t *dp = &((pairset_t *)dst->pairs)[a];
        int st = sp->stride;
        if (!c->i && sp->w && pairs_move(dl, dst, sl, amap, c, a, sa))
            continue;
        /* At least the source's slots first: pairs taken in the source's
         * slot order into a smaller table with the same hashes (groups
         * often keep their numbers) pile up in one long run. */
        while (!c->i && !approx && sp->n && (!dp->w || dp->mask < sp->mask) &&
               pairset_grow(dl, dst, dp))
            ;
        if (!sp->w)
            continue;
        /* Sixteen pairs at a time: their slots and groups prefetched
         * first (each is a cache miss in a large table), then added. */
        enum { PB = 16 };
        struct { uint32_t dg; uint64_t v[2], h; } pb[PB];
        size_t off = dl->aggs[a].off;
        uint64_t slots = (uint64_t)sp->mask + 1;
        while (c->i < slots) {
            uint64_t lim = slots - c->i > MERGE_CHUNK ? c->i + MERGE_CHUNK : slots;
            int np = 0;
            for (uint64_t i = c->i;; i++) {
                int end = i >= lim;
                if (!end) {
                    const uint64_t *e = sp->w + (size_t)i * (size_t)st;
                    if (!e[0])
                        continue;
                    uint64_t tmp[2];
                    uint32_t dg = map[pair_at(sp, e, tmp)];
                    if (dg == GROUP_NONE)
                        continue;
                    pb[np].dg = dg;
                    pair_at(sp, e, pb[np].v);
                    if (derive) {
                        pb[np].v[0] = sketch_hash(pb[np].v, wide);
                        pb[np].v[1] = 0;
                    }
                    pb[np].h = pair_hash(dg, pb[np].v, dp->wide);
                    __builtin_prefetch(gtable_entry(dl, dst, dg) + off);
                    if (dp->w)
                        __builtin_prefetch(dp->w + (size_t)((uint32_t)pb[np].h & dp->mask) *
                                                       (size_t)dp->stride);
                    if (++np < PB)
                        continue;
                }
                /* A sketch's list or register is one more miss behind
                 * its group's state: prefetched once the states came. */
                for (int k = 0; approx && k < np; k++) {
                    uintptr_t p = sketch_ptr(gtable_entry(dl, dst, pb[k].dg) + off);
                    if (p & 1)
                        __builtin_prefetch(hll_at((const uint8_t *)(p & ~(uintptr_t)1),
                                                  (uint32_t)(pb[k].v[0] >> (64 - HLL_P))));
                    else if (p)
                        __builtin_prefetch((const void *)p);
                }
                for (int k = 0; k < np; k++) {
                    uint32_t dg = pb[k].dg;
                    uint8_t *dst_state = gtable_entry(dl, dst, dg) + off;
                    int added = approx
                        ? sketch_add(dl, dst, dst_state, pb[k].v[0])
                        : pairset_add(dl, dst, dp, dg, pb[k].v, pb[k].h);
                    if (added < 0) {
                        dst->overflow++;  /* the budget refused the value */
                        c->overflow++;
                    } else if (added && !approx)
                        ++*(int64_t *)dst_state;
                }
                np = 0;
                if (end)
                    break;
            }
            c->i = lim;
            if (c->i < slots && time_mono_ms() >= deadline_ms)
                return 0;
        }
    }
    free(c->map);
    free(c->order);
    c->map = c->order = NULL;
    dst->flows += src->flows;
    dst->overflow += src->overflow;
    dst->sum_overflow += src->sum_overflow;
    return 1;
}

void merge_cursor_free(merge_cursor_t *c)
{
    free(c->map);
    free(c->order);
    memset(c, 0, sizeof(*c));
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
        const uint8_t *regs = sketch_regs(s);
        if (regs)
            v.i = hll_estimate(regs);
        else
            memcpy(&v.i, s, 8);
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
    default:     /* count(DISTINCT x) */
        memcpy(&v, s, 8);
        break;
    }
    return v;
}

/* ---- the parts of a table, for its encoding (engine/partial.c) ---------- */

uint32_t gtable_key_group(const agglayout_t *l, gtable_t *t,
                          const uint64_t *key)
{
    return find_or_add(l, t, key, agg_hash(key, l->key_size / 8));
}

int gtable_pair_next(const gtable_t *t, int a, uint64_t *pos, uint32_t *g,
                     uint64_t v[2])
{
    const pairset_t *p = &((const pairset_t *)t->pairs)[a];
    for (; p->w && *pos <= p->mask; ++*pos) {
        const uint64_t *e = p->w + (size_t)*pos * (size_t)p->stride;
        if (e[0]) {
            *g = pair_at(p, e, v);
            ++*pos;
            return 1;
        }
    }
    return 0;
}

uint64_t gtable_pairs(const gtable_t *t, int a)
{
    return ((const pairset_t *)t->pairs)[a].n;
}

int gtable_pair_add(const agglayout_t *l, gtable_t *t, int a, uint32_t g,
                    const uint64_t v[2])
{
    pairset_t *p = &((pairset_t *)t->pairs)[a];
    int added = pairset_add(l, t, p, g, v, pair_hash(g, v, p->wide));
    if (added > 0)
        ++*(int64_t *)(gtable_entry(l, t, g) + l->aggs[a].off);
    return added;
}

int64_t gtable_sketch_view(const uint8_t *st, const uint64_t **list,
                           const uint8_t **regs)
{
    int64_t n;
    memcpy(&n, st, 8);
    *regs = sketch_regs(st);
    *list = *regs ? NULL : sketch_list(st);
    return n;
}

int gtable_sketch_add(const agglayout_t *l, gtable_t *t, uint8_t *st,
                      uint64_t h)
{
    return sketch_add(l, t, st, h);
}

int gtable_sketch_load(const agglayout_t *l, gtable_t *t, uint8_t *st,
                       const uint8_t *regs)
{
    if (sketch_ptr(st) || !tmem_take(l, t, HLL_BYTES))
        return 0;
    uint8_t *r = xcalloc(HLL_BYTES, 1);
    memcpy(r, regs, AGG_HLL_BYTES);
    uintptr_t p = (uintptr_t)r | 1;
    memcpy(st + 8, &p, sizeof(p));
    return 1;
}

topk_t *gtable_topk_new(const agglayout_t *l, gtable_t *t, int m)
{
    return topk_new(l, t, m);
}
