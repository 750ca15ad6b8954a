/*
 * share.h - shared aggregation across queries (engine_config_t.share).
 *
 * Queries that read the same flows with the same WHERE and the same
 * GROUP BY keys (and the same time field, lateness and group cap) form a
 * share group. The group runs one stage: a query over panes of the
 * greatest common slice G of its members' panes, with the union of their
 * aggregates (an approx_count_distinct(x) beside a count(DISTINCT x)
 * reads the exact pairs). Each flow is filtered, keyed, hashed, probed
 * and aggregated once, in the stage; when a stage pane is complete it is
 * folded into the pane of every member that holds it (sum, count, min,
 * max, avg add up; exact pairs merge as unions; sketches merge their
 * registers), and each member closes its own windows as an unshared
 * query does (stream slicing: host_stats_10s/30s/1m/5m share 10 s panes).
 *
 * Exactness. A member's windows hold exactly the flows an unshared
 * query's would:
 *  - a member that joins (or a group that forms) while flows are
 *    running takes flows from the stage only from `from` on, the first
 *    multiple of its own slide after every flow the group has put in a
 *    pane; earlier flows it aggregates itself, as an unshared query.
 *    Its first window therefore holds the flows from its registration
 *    on, and is marked partial exactly like an unshared query's;
 *  - a flow whose stage pane was already folded (late for the stage)
 *    goes to each member directly, which adds it if its own window is
 *    still open or counts it late;
 *  - a member whose panes are longer than G must have aggregates whose
 *    merge is exact: no sum/avg of floats (the order of additions) and
 *    no topk (Space-Saving does not merge exactly); such a query shares
 *    only with queries of its own slide. Windows by flow time share
 *    only with the same slide (their flows may be late for the stage
 *    while their window is open).
 * Dropping a member leaves the others running on the same stage.
 * All of it runs on the engine thread under the registry lock.
 */
#ifndef FLOWSQL_SHARE_H
#define FLOWSQL_SHARE_H

#include "engine/query.h"
#include "util/sbuf.h"

typedef struct share share_t;

/* Can b join a+... (a already registered): same filter, keys, time
 * field, lateness and cap; aggregate plans with windows. */
int  share_compatible(const query_t *a, const query_t *b, int replay);

/* A new group of a and b (a may have been running alone), or NULL if
 * their windows cannot share panes. */
share_t *share_new(query_t *a, query_t *b, int replay);
/* Add q to the group: 0, or -1 if its windows cannot use the group's
 * panes (it then stays unshared). */
int  share_join(share_t *s, query_t *q, int replay);
/* Remove q; returns the members left (0: free the group). */
int  share_leave(share_t *s, query_t *q);
void share_free(share_t *s);

/* Run the stage over one batch and give every member what it needs:
 * its counters, its watermark, and the flows it aggregates itself. sel:
 * the rows that passed the group's filter (n of them), or NULL. */
void share_process(share_t *s, const flow_batch_t *b, const uint32_t *sel,
                   uint32_t n, int replay, int64_t now_ms);
/* The stage: the query whose filter the group evaluates. */
query_t *share_stage(share_t *s);
/* Fold the stage's panes that end at or before threshold into the
 * members (before they close windows at that threshold). */
void share_advance(share_t *s, int64_t threshold, int64_t deadline_ms);
/* While a pane is folded in steps (share_advance stopped at its deadline,
 * monotonic ms; INT64_MAX: all at once), the members' windows close only
 * up to share_hold (the pane's start; INT64_MAX when none is). */
int64_t share_hold(const share_t *s);
int     share_pending(const share_t *s);
/* The stage's threshold (live: received time minus the delay). */
int64_t share_threshold(const share_t *s, int replay, int64_t now_ms,
                        int64_t close_delay_ms);

/* Per batch / tick bookkeeping of the engine: done once per group. */
uint64_t *share_serial(share_t *s);
uint64_t *share_tick_serial(share_t *s);

/* What the stage holds (groups, bytes), and its arithmetic overflows
 * member q would have counted itself. */
void share_usage(const share_t *s, uint64_t *groups, uint64_t *bytes);
uint64_t share_overflows(const share_t *s, const query_t *q);
/* The first member (its stats carry the stage's memory). */
const query_t *share_leader(const share_t *s);

/* Would q (not registered) share: join group s, or (s NULL) form one
 * with `other`, running alone? Nothing is changed. The pane length it
 * would use in *G. */
int  share_would(const share_t *s, const query_t *other, const query_t *q,
                 int replay, int64_t *G);
/* The names of the group's members, ", "-separated, into out. */
void share_names(const share_t *s, sbuf_t *out);

/* EXPLAIN's line for member q: "panes of 10s with a, b: ...". */
void share_describe(const share_t *s, const query_t *q, sbuf_t *out);

#endif
