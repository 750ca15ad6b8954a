/*
 * engine.h - the registry of running queries and the pipeline they share.
 *
 * One engine runs many queries over one stream of flow batches. The
 * engine thread calls engine_process() for each batch and engine_tick()
 * every ~100 ms; closed windows go out as rowsets to every output
 * (rowset.h). Other threads (REST, shell, SIGHUP) register and drop
 * queries at any time: the registry lock is held once per batch, never
 * per flow, and a registration waits at most for the batch in progress.
 *
 * Time. A live engine places each flow by its receive time unless the
 * query says WINDOW ... ON end|start; a received-time window closes when
 * the wall clock passes its end plus close_delay_ms, flows or not. A
 * flow-time window closes when the watermark (the latest flow time seen,
 * or the wall clock if later, minus the query's LATENESS) passes its end.
 * A replay engine (files, stored flows) has no clock: every query windows
 * on the flows' own times (end, unless ON start), the watermark moves
 * with the flows only, and engine_finish() closes what is left, so the
 * same input always gives the same rows. A history engine (replay and
 * history set: flows read back from the archive) keeps received-time
 * windows on the received times the archive kept, so it gives the rows
 * a live run gave for every complete window. A scale-out worker
 * (engine_config_t.worker) has no clock either: received-time windows
 * stay on the flows' received times and close only in engine_tick(e, W),
 * W the watermark: every window ending at or before W (flows or not) is
 * closed and handed out before it returns. A live engine that falls behind
 * its queue closes received-time windows by the receive times of the
 * batches it has processed, not by the wall clock (engine_clock()), so a
 * backlog delays windows instead of making their flows late. Flows that arrive for a window
 * already closed are counted as late, never silently dropped.
 *
 * Threads. With engine_config_t.threads = N > 1, engine_process(),
 * engine_tick() and engine_finish() split the queries into units that
 * share no state (a share group with its members, the queries reading
 * one filter's selection, a query alone) and run the units on the
 * calling thread and N - 1 workers of the engine, returning when all are
 * done (fork-join, under the registry lock as before). Closed windows
 * are handed to the outputs after the join, by the calling thread, in
 * the order one thread would have produced them: every output sees the
 * same windows, rows and order whatever N is.
 */
#ifndef FLOWSQL_ENGINE_H
#define FLOWSQL_ENGINE_H

#include <stdint.h>

#include "engine/flow.h"
#include "engine/plan.h"
#include "engine/rowset.h"
#include "util/diag.h"
#include "util/sbuf.h"

typedef struct engine engine_t;

typedef struct engine_config {
    int     replay;            /* windows follow flow time, no clock */
    int     history;           /* with replay: flows of the archive, whose
                                  received times are real: received-time
                                  windows stay on them (a history run) */
    int64_t close_delay_ms;    /* received-time windows: grace (300) */
    int64_t max_groups;        /* default per-query cap (1000000) */
    int     max_queries;       /* registry cap (0: 1000) */
    int     share;             /* shared aggregation across queries
                                  (engine/share.h): queries with the same
                                  filter and keys share panes; off: every
                                  query runs alone */
    int     threads;           /* threads that run the queries of a batch,
                                  a tick or the finish, the calling one
                                  included (0 or 1: the caller alone);
                                  results are the same whatever it is */
    int64_t parallel_min_ns;   /* a batch whose queries took less than
                                  this (ns, averaged) runs on the calling
                                  thread alone (0: 100 us; < 0: every
                                  batch in parallel, for tests) */
    int     worker;            /* a scale-out worker (docs/SCALE_OUT.md):
                                  no clock; received-time windows on the
                                  flows' received times, closed only by
                                  engine_tick(e, watermark); flow-time
                                  windows (ON end|start) and rows plans
                                  are refused (ENGINE_EINVALID) */
    int     partial;           /* (implies worker) closed windows leave as
                                  rowsets with no rows and their group
                                  table encoded (rowset_t.state,
                                  engine/partial.h) */
    int     has_floor;         /* windows ending at or before
                                  emit_floor_ms close without being
                                  emitted (a predecessor wrote them) */
    int64_t emit_floor_ms;
} engine_config_t;

/* Counters of one query; all monotonic except groups and memory. */
typedef struct query_stats {
    uint64_t flows_in;         /* flows offered to the query */
    uint64_t flows_matched;    /* passed WHERE */
    uint64_t flows_late;       /* arrived after their window closed */
    uint64_t flows_overflow;   /* refused: group cap */
    uint64_t windows;          /* windows emitted */
    uint64_t rows;             /* rows emitted */
    uint64_t arith_overflows;  /* saturated integer arithmetic and sums */
    uint64_t groups_open;      /* groups held in open windows now */
    uint64_t memory_bytes;     /* memory held by open windows now */
    int64_t  last_window_end;  /* end of the last window emitted, or 0 */
    uint64_t windows_partial;  /* of windows: cut by a start or a stop */
} query_stats_t;

enum engine_err {
    ENGINE_OK = 0,
    ENGINE_EINVALID = -1,      /* the plan is not a query a stream can run */
    ENGINE_EEXIST = -2,        /* a query of that name runs */
    ENGINE_ELIMIT = -3,        /* max_queries reached */
};

struct qhandle;

engine_t *engine_new(const engine_config_t *cfg);
/* Free the engine and its queries (open windows are discarded: call
 * engine_finish() first to emit them). Outputs are not freed. */
void      engine_free(engine_t *e);

/* Add an output; call before the stream starts. */
void engine_add_output(engine_t *e, output_t *o);

/* The registry holds query handles (engine/qhandle.h); names follow the
 * one name rule there (compared without case, kept in lower case).
 *
 * Register a query: the engine takes its own reference to h. Fails (and
 * keeps nothing) with ENGINE_EEXIST if a query of that name runs,
 * ENGINE_ELIMIT at the cap, ENGINE_EINVALID if the plan is not a query a
 * stream can run (a live engine needs a WINDOW); err says which. Each
 * closed window carries the handle (rowset_t.qh). */
int  engine_register_handle(engine_t *e, struct qhandle *h, diag_t *err);
/* The same for a plan compiled by the caller (tests, replays), under
 * name: on success the engine owns the plan, on failure the caller does. */
int  engine_register(engine_t *e, const char *name, plan_t *plan,
                     diag_t *err);
/* Drop a query: its open windows are discarded, its handle marked
 * dropped and released. -1 if unknown. */
int  engine_drop(engine_t *e, const char *name);
int  engine_has(engine_t *e, const char *name);
/* The handle registered under name (a new reference, for the caller to
 * qhandle_unref), or NULL. */
struct qhandle *engine_get(engine_t *e, const char *name);
/* Every handle, in registration order (new references): *out is a
 * malloc'ed array the caller frees after releasing each. Returns n. */
int  engine_handles(engine_t *e, struct qhandle ***out);
int  engine_count(engine_t *e);

/* The fields (1 << F_x) the registered queries name, enriched ones
 * included: what to enrich a batch with before engine_process(). */
uint64_t engine_fields(engine_t *e);

/* Hand a window made elsewhere (the merge stage of scale-out, whose
 * rows come from the workers' partials) to every output, as the engine's
 * own windows are: one at a time with them (under the registry lock).
 * Takes the caller's reference to rs. */
void engine_deliver(engine_t *e, rowset_t *rs);

/* Run every query over one batch (engine thread). */
void engine_process(engine_t *e, const flow_batch_t *b);
/* Close every window that is due at wall-clock now_ms (engine thread). */
void engine_tick(engine_t *e, int64_t now_ms);
/* The longest one engine_tick held the engine thread since the start, in
 * ms: its windows' closes and its share groups' folds (any thread). */
int64_t engine_tick_max_ms(engine_t *e);
/* The threads that run queries (engine_config_t.threads, at least 1),
 * and the time thread k (0: the calling one) spent running units of
 * queries in parallel since the start, in ns (any thread). */
int      engine_threads(engine_t *e);
uint64_t engine_thread_busy_ns(engine_t *e, int k);
/* The clock to tick with: now_ms, unless batches are still queued
 * (backlog > 0), then no later than the receive time of the last batch
 * processed. A received-time window must not close while flows received
 * inside it wait in the queue: when the engine falls behind (a long
 * window close, a burst), they would all count as late. */
int64_t engine_clock(engine_t *e, int64_t now_ms, size_t backlog);
/* Close every open window as it stands (shutdown, end of a file). In a
 * live engine the windows not yet due are marked partial. */
void engine_finish(engine_t *e);

/* What query name shares with others (engine/share.h), as EXPLAIN's
 * line "shared    ...": 1 if it shares, 0 if it runs alone, -1 if
 * unknown. */
int  engine_share_explain(engine_t *e, const char *name, sbuf_t *out);

/* The same for a plan not registered (EXPLAIN of a CREATE QUERY or
 * SELECT): what it would share if registered now. 1 if it would. */
int  engine_share_preview(engine_t *e, plan_t *plan, sbuf_t *out);

/* Stats of one query; -1 if unknown. */
int  engine_stats(engine_t *e, const char *name, query_stats_t *out);
/* Call fn for every query (under the registry lock: fn must be quick and
 * must not call back into the engine). */
void engine_foreach(engine_t *e,
                    void (*fn)(void *ctx, const char *name, const plan_t *p,
                               const query_stats_t *st),
                    void *ctx);

#endif
