/*
 * scanq.h - a query over stored flows run once: the plan of a SELECT
 * FROM flows without WINDOW over batches the caller pushes (from the
 * archive), its rows pulled as they are ready. The same compiled
 * expressions and hash aggregation as a continuous query; no windows.
 *
 * How rows come out, and what is held meanwhile:
 *   - no aggregate, no ORDER BY: each batch's matching flows are rows
 *     at once (at most one batch of rows is held); the query is done
 *     when it has LIMIT rows.
 *   - no aggregate, ORDER BY: the best rows by a bounded heap of
 *     min(LIMIT, max_rows + 1) records, out at the end.
 *   - aggregates: the groups in a hash table (at most max_groups, and
 *     what the memory budget of mem.h allows), HAVING, ORDER BY and
 *     LIMIT at the end; a query with no GROUP BY gives its one row even
 *     when no flow matched (count(*) = 0).
 * max_rows (the answer's row limit, -1 for none) cuts the answer: past
 * it scanq_truncated() says rows were left out. Flows refused by the
 * group cap or the memory budget make the answer incomplete:
 * scanq_overflow() counts them, and the caller must not present the
 * rows as the answer.
 *
 * One thread at a time; the plan is the caller's and must outlive the
 * scanq (its filter is extended with the received range).
 */
#ifndef FLOWSQL_SCANQ_H
#define FLOWSQL_SCANQ_H

#include <stdint.h>

#include "engine/flow.h"
#include "engine/plan.h"

typedef struct scanq scanq_t;

/* A scan query for plan p (a SELECT without WINDOW) keeping only flows
 * received in [recv_lo, recv_hi] (INT64_MIN, INT64_MAX: all). */
scanq_t *scanq_new(plan_t *p, int64_t recv_lo, int64_t recv_hi,
                   int64_t max_rows);
void     scanq_free(scanq_t *q);   /* NULL is fine */

/* Run the query over one batch. Returns 1 when the query needs no more
 * flows (its rows are all out or decided), else 0. Rows made ready wait
 * for scanq_next(): push a few batches at most between draining them. */
int  scanq_push(scanq_t *q, const flow_batch_t *b);
/* No more flows: the rows that wait for the end become ready. */
void scanq_finish(scanq_t *q);
/* The next row: 1 with *row (ncols values by the columns' types, valid
 * until the next call), 0 when none is ready (push more, or after
 * scanq_finish: the end). */
int  scanq_next(scanq_t *q, const value_t **row);

int         scanq_ncols(const scanq_t *q);
const char *scanq_col_name(const scanq_t *q, int col);
type_t      scanq_col_type(const scanq_t *q, int col);

typedef struct scanq_stats {
    uint64_t flows_in;       /* flows pushed */
    uint64_t flows_matched;  /* passed WHERE and the time range */
    uint64_t rows;           /* rows handed out */
    uint64_t groups;         /* aggregates: groups made */
    uint64_t overflow;       /* flows refused (group cap, memory) */
    int      truncated;      /* rows were left out at max_rows */
    int64_t  max_groups;
} scanq_stats_t;

void scanq_stats(const scanq_t *q, scanq_stats_t *out);

#endif
