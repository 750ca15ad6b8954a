/*
 * rowset.h - the rows of one closed window of one query, and the one
 * interface through which they leave the engine.
 *
 * When a window closes, the engine builds a rowset (values in row-major
 * order, strings and names copied into the rowset's own arena) and hands
 * it to every registered output. Outputs (the SQLite writer, Kafka,
 * Elasticsearch, live subscribers) run on their own threads: on_window()
 * must not block; an output that keeps the rowset takes a reference and
 * drops it when done. The last rowset_unref() frees it. A rowset is
 * immutable once handed out, so threads share it without locks.
 */
#ifndef FLOWSQL_ROWSET_H
#define FLOWSQL_ROWSET_H

#include <stdint.h>

#include "util/counter.h"

#include "engine/types.h"
#include "util/arena.h"

typedef struct rowset_col {
    const char *name;    /* output column name, a valid SQL identifier */
    type_t      type;
    int         is_key;  /* a GROUP BY column */
} rowset_col_t;

typedef struct rowset_opt {
    const char *key, *value;
} rowset_opt_t;

struct qhandle;

typedef struct rowset {
    refcount_t    refs;
    arena_t      *arena;     /* owns everything below but qh */
    const char   *query;     /* query name (lower case) */
    struct qhandle *qh;      /* the query (engine/qhandle.h), a reference
                                released with the rowset; set by the
                                engine for every window it emits */
    uint64_t      seq;       /* windows emitted by this query so far */
    int64_t       wstart;    /* window start, ms since epoch (inclusive) */
    int64_t       wend;      /* window end (exclusive) */
    int64_t       closed_at; /* wall clock when the engine closed it */
    int           partial;   /* the query began after wstart, or the
                                window was closed before it was due
                                (a restart cut it): not all of it */
    int           replayed;  /* from a replay engine (a file): written
                                again, it replaces what is stored */
    int           merged;    /* made live by the scale-out merge stage
                                (replayed is set too, so that a window
                                emitted twice is stored once): alerts
                                fire for it as for a live window */
    int           ncols;
    rowset_col_t *cols;
    uint32_t      nrows, cap;
    value_t      *cells;     /* nrows * ncols, row-major */
    int           nopts;     /* the query's WITH options, for sinks */
    rowset_opt_t *opts;
    /* counters of the window, for metrics and for the curious */
    uint64_t      flows;     /* flows aggregated into this window */
    uint64_t      groups;    /* groups before HAVING/LIMIT */
    uint64_t      overflow;  /* flows dropped: group cap or memory budget */
    int64_t       mem_bytes; /* charged to the memory budget (mem.h) until
                                the last reference goes */
    /* A worker's engine (engine_config_t.partial): no rows, the window's
     * group table encoded (engine/partial.h), in the arena. */
    const uint8_t *state;
    uint64_t      state_len;
} rowset_t;

rowset_t *rowset_new(const char *query, int ncols);
void      rowset_ref(rowset_t *rs);
void      rowset_unref(rowset_t *rs);   /* NULL is fine */

/* Append a row; returns its ncols cells to fill. Strings stored in cells
 * must live in rs->arena (use rowset_strdup). */
value_t  *rowset_add_row(rowset_t *rs);
const char *rowset_strdup(rowset_t *rs, const char *s);
const char *rowset_opt(const rowset_t *rs, const char *key); /* or NULL */

static inline value_t *rowset_row(const rowset_t *rs, uint32_t r)
{
    return rs->cells + (size_t)r * (size_t)rs->ncols;
}

/* An output: a consumer of closed windows. */
typedef struct output output_t;
struct output {
    const char *name;
    /* Called on the engine thread for every closed window of every query.
     * Must not block. Take a reference to keep rs beyond the call. */
    void (*on_window)(output_t *o, rowset_t *rs);
    void *ctx;
};

#endif
