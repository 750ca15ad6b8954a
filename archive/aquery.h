/*
 * aquery.h - a query over the archive: a SELECT FROM flows without
 * WINDOW, run over the archive's files, its rows read one at a time.
 *
 *   archive_scan (a thread of its own) --batches--> [ring of 4] -->
 *     scanq (the engine's programs, the caller's thread) --> rows
 *
 * The scan runs in a thread so that the caller can take rows as it
 * needs them (an HTTP answer as the client reads it, SQLite's xNext):
 * the scan waits when the ring is full, so memory holds a few batches
 * of the columns the query reads, whatever the archive's size. What the
 * query's plan allows is pushed down (pushdown.h -> archive_pred_t):
 * files and row groups that cannot match are not read.
 *
 * Limits: a time limit (from aquery_open to the last row handed out,
 * time the caller spends between rows included), a row limit (more rows
 * than it: the answer is cut and aquery_truncated() says so), and at
 * most AQUERY_MAX_RUNNING queries at once in the process. Aggregates
 * are bounded by max_groups and the memory budget (engine/mem.h): an
 * answer that would be incomplete is an error, never a short answer.
 */
#ifndef FLOWSQL_AQUERY_H
#define FLOWSQL_AQUERY_H

#include <stdint.h>

#include "archive/archive.h"
#include "engine/plan.h"
#include "engine/pushdown.h"
#include "util/diag.h"
#include "util/sbuf.h"

#define AQUERY_MAX_RUNNING 8

enum aquery_err {
    AQ_EINVALID = -1,   /* not a query over the archive */
    AQ_EBUSY = -2,      /* too many at once */
    AQ_ETIMEOUT = -3,   /* time limit */
    AQ_EINCOMPLETE = -4,/* groups or rows refused: the answer would be short */
    AQ_EIO = -5,        /* the archive cannot be read */
};

typedef struct aquery_opts {
    int64_t time_ms;     /* time limit, <= 0: none */
    int64_t max_rows;    /* row limit, < 0: none */
    int     no_pushdown; /* read every file and row group (tests) */
    int64_t now_ms;      /* "now" for LAST d; 0: the clock */
} aquery_opts_t;

typedef struct aquery aquery_t;

/*
 * Start plan p (compiled by the caller; the query takes it and frees it)
 * over the archive under dir. Returns 0 with *out, or an AQ_E* code with
 * err set: p is not a SELECT FROM flows without WINDOW, too many queries
 * run, or the scan thread cannot start.
 */
int aquery_open(const char *dir, plan_t *p, const aquery_opts_t *o,
                aquery_t **out, diag_t *err);

/*
 * The next row: 1 with *row (ncols values by column type, valid until
 * the next call), 0 at the end (or at the row limit), or an AQ_E* code
 * with err set (time limit, incomplete aggregate, archive unreadable);
 * after an error every call returns it again.
 */
int aquery_next(aquery_t *q, const value_t **row, diag_t *err);

int         aquery_ncols(const aquery_t *q);
const char *aquery_col_name(const aquery_t *q, int col);
type_t      aquery_col_type(const aquery_t *q, int col);
int         aquery_truncated(const aquery_t *q);
int64_t     aquery_elapsed_ms(const aquery_t *q);
/* STORE-like time check between rows: AQ_ETIMEOUT with err set once the
 * limit has passed, else 0. */
int         aquery_check_time(aquery_t *q, diag_t *err);

typedef struct aquery_stats {
    archive_scan_stats_t scan;   /* files and row groups read, skipped */
    uint64_t flows_matched, rows, groups;
    int64_t  elapsed_ms;
    int      done;               /* the scan has ended */
} aquery_stats_t;

/* What the query has read so far (complete once aquery_next returned 0). */
void aquery_stats(aquery_t *q, aquery_stats_t *out);

/* Stop the scan where it is (the answer ends before it: a byte limit),
 * so that aquery_stats() gives what was read. Rows already decided
 * still come out of aquery_next(). */
void aquery_stop(aquery_t *q);

/* EXPLAIN ANALYZE: the plan with its time range resolved, then what was
 * read and skipped (call after the last row). */
void aquery_explain(aquery_t *q, sbuf_t *out);

/* Stop the scan and free everything (the plan too). NULL is fine. */
void aquery_close(aquery_t *q);

/* The archive predicate of a scan spec, its arrays pointing into s
 * (and arena a for the address lists). */
void aquery_pred(const scan_spec_t *s, arena_t *a, archive_pred_t *p);

/* Queries over the archive running now and since the start (metrics). */
void aquery_counts(uint64_t *running, uint64_t *total, uint64_t *timeouts,
                   uint64_t *refused);

#endif
