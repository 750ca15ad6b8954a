/*
 * agg.h - hash aggregation: groups and their aggregate states.
 *
 * A gtable holds the groups of one pane (a slide of a window): open
 * addressing over an index of 64-bit slots (32-bit hash fingerprint and
 * group number), entries stored inline and contiguous: the key bytes
 * (8 bytes per scalar key, 16 per address), then every aggregate's state.
 * States of count/sum/min/max/avg and count(DISTINCT) live inline;
 * count(DISTINCT x) also keeps one table of (group, value) pairs per
 * aggregate; approx_count_distinct keeps a pointer to its group's list of
 * hashes while small, then to its registers; topk a pointer to its
 * counters.
 *
 * The table refuses new groups beyond the query's cap and counts the
 * flows it had to refuse; it never grows past what the cap allows. Every
 * byte a table holds is charged to its query's account (mem.h), and a
 * table grows only if the memory budget has room: when it has none, new
 * groups are refused like the cap refuses them, and so are new distinct
 * values, sketches and topk counters (their flows counted as overflow);
 * groups already there keep counting.
 * Tables are owned by one query and touched by the engine thread only.
 */
#ifndef FLOWSQL_AGG_H
#define FLOWSQL_AGG_H

#include <stddef.h>
#include <stdint.h>

#include "engine/func.h"
#include "engine/mem.h"
#include "engine/plan.h"
#include "engine/rowset.h"

#define GROUP_NONE UINT32_MAX

typedef struct aggdef {
    int     fn;           /* FN_* */
    int     distinct;
    type_t  arg_type;     /* TYPE_NONE for count(*) */
    type_t  type;         /* result type */
    int64_t k;            /* topk */
    size_t  off, size;    /* state within the entry */
} aggdef_t;

typedef struct agglayout {
    int       nkeys;
    type_t   *key_types;
    size_t    key_size;    /* bytes, multiple of 8 */
    int       naggs;
    aggdef_t *aggs;
    size_t    entry_size;  /* key + states, multiple of 8 */
    uint8_t  *init;        /* initial states (entry_size - key_size) */
    int64_t   max_groups;
    int       side;        /* some aggregate keeps side structures */
    memacct_t *acct;       /* the query's memory (NULL: the engine's) */
} agglayout_t;

typedef struct gtable {
    uint8_t  *entries;
    uint32_t  n, cap;      /* groups, entries allocated */
    uint64_t *slots;
    uint32_t  mask;        /* slots - 1 */
    uint64_t  flows;       /* flows aggregated */
    uint64_t  overflow;    /* flows refused: group cap or memory */
    uint64_t  sum_overflow;/* integer sums that saturated */
    size_t    bytes;       /* all the table holds (charged to l->acct) */
    void     *pairs;       /* per aggregate: (group, value) pairs of
                            * count(DISTINCT x) */
    /* First arrival of each group (tables of shared queries, share.h):
     * stamp_base | row of the flow that made it, min over merges. Such a
     * table is read in stamp order, the order an unshared query's groups
     * appeared in. */
    int       stamped;
    uint64_t  stamp_base;  /* batch serial << 11, set before a lookup */
    uint64_t *stamps;
    uint32_t  stamps_cap;
} gtable_t;

/* The layout of plan p's groups; acct is charged for its tables. */
void agglayout_init(agglayout_t *l, const plan_t *p, memacct_t *acct);
void agglayout_free(agglayout_t *l);

gtable_t *gtable_new(const agglayout_t *l);
/* Drop all groups (freeing side structures), keep the memory unless this
 * pane used little of it. */
void      gtable_clear(const agglayout_t *l, gtable_t *t);
void      gtable_free(const agglayout_t *l, gtable_t *t);
/* Bytes the table holds: its index, entries, pairs, sketches, topk. */
size_t    gtable_bytes(const gtable_t *t);

/* 64-bit hash of a key of nwords 8-byte words. */
uint64_t  agg_hash(const uint64_t *key, size_t nwords);

/* Find or create the group of each row sel[k]: keys are row-indexed
 * (key_size bytes per row), hashes too. Writes gidx[row]; GROUP_NONE for
 * rows refused by the cap or the memory budget (counted in t->overflow). */
void gtable_lookup(const agglayout_t *l, gtable_t *t, const uint64_t *keys,
                   const uint64_t *hashes, const uint32_t *sel, uint32_t n,
                   uint32_t *gidx);

/* Fold the argument lanes of aggregate a (row-indexed; NULL for
 * count(*)) into the groups gidx[row] of rows sel[0..n). */
void agg_update(const agglayout_t *l, gtable_t *t, int a, const void *lanes,
                const uint32_t *sel, uint32_t n, const uint32_t *gidx);

/* The same for every aggregate at once: lanes[a] per aggregate. */
void agg_update_all(const agglayout_t *l, gtable_t *t, const void *const *lanes,
                    const uint32_t *sel, uint32_t n, const uint32_t *gidx);

/* Merge every group of src into dst (hopping windows: panes into a
 * window). Groups beyond dst's cap are refused and their flows counted. */
void gtable_merge(const agglayout_t *l, gtable_t *dst, const gtable_t *src);

/* The same from a table of another layout with the same keys (a shared
 * stage's, engine/share.c): amap[a] is the aggregate of sl that dst's
 * aggregate a reads (NULL: the same index); an approx_count_distinct
 * reading a count(DISTINCT) of the same argument hashes its pairs. */
void gtable_merge_map(const agglayout_t *dl, gtable_t *dst,
                      const agglayout_t *sl, const gtable_t *src,
                      const int *amap);

/* Where a merge done in steps stands (zeroed to begin). */
typedef struct merge_cursor {
    uint32_t *map, *order; /* source group -> destination group; order */
    uint32_t  k;           /* next source group */
    int       a;           /* next distinct or sketch aggregate */
    uint64_t  i;           /* next pair slot of aggregate a */
    int       begun;
    uint64_t  overflow;    /* flows and values this merge refused */
    /* The source itself when its owner gives it up after this merge (a
     * shared stage's pane folded into its last member): the distinct
     * pairs may then be moved instead of copied. NULL: copy. */
    gtable_t *take;
    int       ident;       /* every source group kept its number */
} merge_cursor_t;

/* gtable_merge_map in steps: merge until done (1) or until the monotonic
 * clock reaches deadline_ms (0: call again with the same cursor; src must
 * not change meanwhile, dst may). At least one step is done per call. */
int gtable_merge_step(const agglayout_t *dl, gtable_t *dst,
                      const agglayout_t *sl, const gtable_t *src,
                      const int *amap, merge_cursor_t *c, int64_t deadline_ms);

/* Free what an unfinished cursor holds. */
void merge_cursor_free(merge_cursor_t *c);

static inline uint8_t *gtable_entry(const agglayout_t *l, const gtable_t *t,
                                    uint32_t g)
{
    return t->entries + (size_t)g * l->entry_size;
}

/* The groups of a stamped table in stamp order (malloc'ed, t->n
 * entries), or NULL for a table that is not stamped: read it in order. */
uint32_t *gtable_order(const gtable_t *t);

/* The final value of aggregate a of group g. Strings (topk) are written
 * into rs's arena. */
value_t agg_final(const agglayout_t *l, const gtable_t *t, uint32_t g, int a,
                  rowset_t *rs);

/* ---- a table's parts, for its encoding (engine/partial.c) ----------- */

/* topk's counters (Space-Saving): m of them, n in use. */
typedef struct tk_entry {
    value_t v;
    int64_t count, err;
} tk_entry_t;

typedef struct topk {
    int        m, n;
    tk_entry_t e[];
} topk_t;

/* The bytes of an approx_count_distinct's registers that hold them. */
#define AGG_HLL_BYTES ((1u << HLL_P) * 6 / 8)

/* The group of key (key_size bytes), created with the initial states if
 * new; GROUP_NONE when the cap or the budget refuses it. */
uint32_t gtable_key_group(const agglayout_t *l, gtable_t *t,
                          const uint64_t *key);
/* The (group, value) pairs of count(DISTINCT) aggregate a: how many, and
 * the next one from *pos (start at 0): 1, or 0 at the end. A value is
 * two words (an address: its 16 bytes; else the first word). */
uint64_t gtable_pairs(const gtable_t *t, int a);
int      gtable_pair_next(const gtable_t *t, int a, uint64_t *pos,
                          uint32_t *g, uint64_t v[2]);
/* Add a pair, counting it in group g's state: 1 if new, 0 if it was
 * there, -1 if the budget refused it. */
int      gtable_pair_add(const agglayout_t *l, gtable_t *t, int a, uint32_t g,
                         const uint64_t v[2]);
/* A sketch's state st: its count while a list, and its list of hashes or
 * (NULL list) its AGG_HLL_BYTES of registers. */
int64_t  gtable_sketch_view(const uint8_t *st, const uint64_t **list,
                            const uint8_t **regs);
/* Add a hash to an empty or listed sketch (as a flow does): 1, 0, or -1
 * if the budget refused it. */
int      gtable_sketch_add(const agglayout_t *l, gtable_t *t, uint8_t *st,
                           uint64_t h);
/* Give an empty sketch these registers: 0 if it is not empty or the
 * budget refused them. */
int      gtable_sketch_load(const agglayout_t *l, gtable_t *t, uint8_t *st,
                            const uint8_t *regs);
/* m counters, charged to t (NULL if the budget refused them). */
topk_t  *gtable_topk_new(const agglayout_t *l, gtable_t *t, int m);

#endif
