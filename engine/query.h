/*
 * query.h - one running query: its compiled pipeline and its open
 * windows. Internal to the engine; engine.c owns the registry and calls
 * these on the engine thread with the registry lock held.
 */
#ifndef FLOWSQL_QUERY_H
#define FLOWSQL_QUERY_H

#include "engine/agg.h"
#include "engine/engine.h"
#include "engine/expr.h"

/* Matching flows of one pane, in a rows plan: ncols + norder values per
 * row (the order keys that are not output columns come last). */
typedef struct rowbuf {
    value_t *cells;
    uint32_t n, cap;
} rowbuf_t;

typedef struct pane {
    int64_t   idx;       /* pane covers [idx*P, (idx+1)*P) */
    gtable_t *t;         /* aggregate plans */
    rowbuf_t  rows;      /* rows plans */
    uint64_t  flows, overflow;
} pane_t;

typedef struct query {
    char        *name;
    plan_t      *plan;
    int          rows_mode;
    agglayout_t  layout;
    expr_t      *filter;
    expr_t     **keys;
    expr_t     **args;       /* NULL entries for count(*) */
    expr_t      *having;
    expr_t     **cols;
    expr_t     **order;      /* NULL where the order names a column */
    type_t      *agg_types;
    int          width;      /* values per record: ncols + norder */

    /* windows */
    int          global;     /* no WINDOW: one window over everything */
    int          time_field;
    int64_t      P, size, lateness;
    pane_t      *panes;      /* open panes, by idx ascending */
    int          npanes, panes_cap;
    gtable_t    *spare;      /* a cleared table kept for the next pane */
    gtable_t    *scratch;    /* merge target for hopping windows */
    int          have_next, have_closed, have_event;
    int64_t      next_end, closed_end, max_event, min_time, max_time;
    uint64_t     seq;
    query_stats_t st;
    int64_t      max_seen;   /* latest time put in a pane (INT64_MIN) */
    int          quiet;      /* a share group's stage: its members say
                                when the budget refuses it something */
    int          stamped;    /* a shared query's tables keep the first
                                arrival of each group (agg.h) */
    uint64_t     stamp_base; /* this batch's: serial << 11 */
    int64_t      batch_max;  /* the last batch's latest flow time moving
                                the watermark (flow time), or INT64_MIN */
    /* a scale-out worker's (engine_config_t.partial, has_floor) */
    int          emit_state; /* windows leave as their table encoded */
    int          has_floor;  /* windows ending at or before floor close */
    int64_t      floor;      /* without being emitted */

    /* memory (mem.h): what the query holds, and the budget's refusals */
    memacct_t    mem;
    size_t       fixed;      /* programs and scratch, held while it lives */
    uint64_t     refused_seen;
    int          starved;    /* refused since the budget last had room */
    uint64_t     starved_overflow;  /* flows_overflow when that began */

    /* per-batch scratch */
    uint32_t    *sel, *sub, *gidx;
    int64_t     *pidx;
    uint64_t    *hashes, *keymat;
    void       **key_lanes, **agg_lanes, **slots;
} query_t;

/* replay: 0 live, 1 a replay (received-time windows follow the flows'
 * end), QUERY_HISTORY a replay of archived flows (received-time windows
 * stay on the received times the archive kept, their watermark moved by
 * the flows). */
#define QUERY_HISTORY 2
query_t *query_new(const char *name, plan_t *plan, int replay);
/* Free the query; its plan too when free_plan. */
void     query_free(query_t *q, int free_plan);

/* Aggregate one batch into the open panes. now_ms is the wall clock (0 in
 * replay). */
void query_process(query_t *q, const flow_batch_t *b, int replay,
                   int64_t now_ms);

/* The same over rows sel[0..n) of b (NULL: the first n); filtered: the
 * rows already passed this query's WHERE (evaluated once for every query
 * with the same filter; the batch's n flows count as offered). */
void query_process_sel(query_t *q, const flow_batch_t *b, const uint32_t *sel,
                       uint32_t n, int filtered, int replay, int64_t now_ms);

/* The rows of b that pass q's WHERE, into out; their number. For the
 * queries with the same filter, evaluated once per batch (engine.c). */
uint32_t query_filter(query_t *q, const flow_batch_t *b, uint32_t *out);

/* Shared aggregation (engine/share.c). A stage is a query over the
 * greatest common slice of its members' panes, with the union of their
 * aggregates; each of its panes, once complete, is folded into the pane
 * of every member holding it, and the member closes its windows as
 * always. Close the stage's panes that end at or before threshold,
 * calling fold for each before it is released; fold returns 0 when it
 * stopped before the end (the pane stays, closed for the stage: called
 * again with it next time). Returns 1 when no pane due was left. */
int query_stage_advance(query_t *s, int64_t threshold,
                        int (*fold)(void *ctx, const pane_t *p), void *ctx);
/* Fold stage pane sp (of a stage with layout sl and pane length G) into
 * member m's pane holding it, in steps: amap[a] is the stage aggregate
 * member aggregate a reads; 1 when done, 0 when the monotonic clock
 * reached deadline_ms first (call again with the same cursor c). */
int query_fold_step(query_t *m, const agglayout_t *sl, int64_t G,
                    const pane_t *sp, const int *amap, merge_cursor_t *c,
                    int64_t deadline_ms);

/* Emit every window that ends at or before threshold, calling emit for
 * each (the callee owns the rowset). */
void query_advance(query_t *q, int64_t threshold,
                   void (*emit)(void *ctx, rowset_t *rs), void *ctx);

/* A scale-out worker's windows ending at or before threshold are closed
 * whether they held flows or not: a flow for one of them is late on
 * every worker alike, decided by the watermark alone (after
 * query_advance at that threshold). */
void query_seal(query_t *q, int64_t threshold);

/* The watermark for a live engine at now_ms (received-time windows use
 * the clock minus delay). */
int64_t query_threshold(const query_t *q, int replay, int64_t now_ms,
                        int64_t close_delay_ms);

/* Groups held by open panes, and every byte the query holds: its
 * tables (open panes, the spare and merge tables), row buffers, compiled
 * programs and batch scratch. */
void query_usage(const query_t *q, uint64_t *groups, uint64_t *bytes);

/* Build the rowset of a window from its table (aggregate plans) or rows
 * (rows plans); emit.c. */
rowset_t *emit_groups(query_t *q, const gtable_t *t, int64_t wstart,
                      int64_t wend);
/* The rowset of a window whose table leaves encoded (engine/partial.h):
 * no rows, rs->state holds it. */
rowset_t *emit_state(query_t *q, const gtable_t *t, int64_t wstart,
                     int64_t wend);
rowset_t *emit_rows(query_t *q, pane_t *const *panes, int n, int64_t wstart,
                    int64_t wend);
/* The output order of two records of q->width values (ORDER BY keys,
 * then every column): < 0, 0, > 0. */
int emit_rec_cmp(const query_t *q, const value_t *a, const value_t *b);

#endif
