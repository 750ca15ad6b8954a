/*
 * partial.h - a window's group state as bytes, and its merge: the
 * workers' and the merge stage's halves of scale-out (docs/SCALE_OUT.md,
 * "Partial state").
 *
 * A worker's engine (engine_config_t.partial) does not emit rows when a
 * window closes: it hands its outputs a rowset with no rows whose
 * state/state_len hold the window's group table encoded (partial_encode):
 * every group's keys and every aggregate's state, before HAVING, ORDER
 * BY and LIMIT. The merge stage decodes the states of one (query,
 * window) from every flows partition into one table (merger_add: the
 * merge of group tables the shared aggregation's panes use) and, once
 * the window has them all, applies HAVING, ORDER BY and LIMIT once, on
 * the whole (merger_close): the rows one engine that saw every flow
 * would have given, exactly for every aggregate whose state merges
 * exactly (SCALE_OUT.md lists which).
 *
 * The encoding starts with magic "FSQP", a version and the plan's
 * fingerprint (partial_fingerprint): a merger refuses the state of
 * another plan (a query of the same name, changed on one side). Every
 * length is checked against the bytes there: a truncated or damaged
 * state is an error that says what, never a read past its end.
 */
#ifndef FLOWSQL_PARTIAL_H
#define FLOWSQL_PARTIAL_H

#include <stddef.h>
#include <stdint.h>

#include "engine/agg.h"
#include "engine/plan.h"
#include "engine/rowset.h"
#include "util/diag.h"
#include "util/sbuf.h"

#define PARTIAL_MAGIC "FSQP"
#define PARTIAL_VERSION 1

struct qhandle;

/* A hash of what the state's meaning depends on: the plan's keys, their
 * types, the aggregates, their arguments and types. */
uint64_t partial_fingerprint(const plan_t *p);

/* Can plan p's windows be made of partials: an aggregate plan (a rows
 * plan has no group state), windows on received time (a flow-time
 * window has no bound the collector's watermark gives), no sketch of
 * strings (it hashes this process's copy of each). 0 with err set. */
int partial_mergeable(const plan_t *p, diag_t *err);

/* Append the encoding of table t (layout l of plan p) to out. */
void partial_encode(const plan_t *p, const agglayout_t *l, const gtable_t *t,
                    sbuf_t *out);

typedef struct merger merger_t;

/* A merger of the partials of query h (it takes its own reference).
 * NULL with err set if h's plan has no group state to merge (a rows
 * plan, a flow-time window). */
merger_t *merger_new(struct qhandle *h, diag_t *err);
void      merger_free(merger_t *mg);     /* NULL is fine */

/* Merge one encoded state into window [wstart, wend). -1 with err set
 * (and the window unchanged) if it does not decode or is another plan's.
 * Groups beyond the query's cap are refused and counted as overflow. */
int merger_add(merger_t *mg, int64_t wstart, int64_t wend, const void *buf,
               size_t len, diag_t *err);

/* The window's rows (HAVING, ORDER BY, LIMIT applied to the merged
 * table), a new rowset the caller owns, and the window forgotten. NULL if
 * no state was added for it. */
rowset_t *merger_close(merger_t *mg, int64_t wstart, int64_t wend);

/* Forget a window without emitting it. */
void merger_discard(merger_t *mg, int64_t wstart, int64_t wend);

/* Windows open and the bytes their tables hold. */
int    merger_windows(const merger_t *mg);
size_t merger_memory(const merger_t *mg);

#endif
