/*
 * mem.h - the memory budget of the engine: what every query's open
 * windows may hold together (flowsqld --max-memory).
 *
 * One budget per process, one atomic gauge of the bytes held against it.
 * Each query has an account (memacct_t) of its own share, the estimate
 * SHOW QUERIES and /metrics report. The engine asks the budget before a
 * table, a distinct-pair set, a sketch or a row buffer grows, never per
 * flow: growth is rare (tables double), so the check costs nothing on the
 * path of a flow that lands in an existing group. When the budget has no
 * room the growth is refused and the caller refuses what needed it (a new
 * group, a distinct value, a row) and counts the flows as overflow.
 *
 * Fixed costs (a query's compiled programs and batch scratch, an empty
 * table) and closed windows on their way to the outputs are charged
 * unconditionally (mem_force): refusing them would refuse a whole query
 * or a result, and they are bounded by --max-queries and by the outputs'
 * own queues.
 *
 * The gauge is shared by every thread (util/counter.h); an account is
 * touched by the engine thread, and by whoever creates or frees its
 * query before or after the engine sees it.
 */
#ifndef FLOWSQL_MEM_H
#define FLOWSQL_MEM_H

#include <stddef.h>
#include <stdint.h>

#include "util/counter.h"

typedef struct memacct {
    int64_t  bytes;     /* held by this query now */
    uint64_t refused;   /* growths the budget refused (an event count) */
} memacct_t;

extern gauge_t mem_used_bytes;
extern gauge_t mem_limit_bytes;

/* Set the budget (bytes; 0: no limit). Call before the stream starts;
 * tests change it between engines. */
void    mem_set_limit(int64_t bytes);
static inline int64_t mem_limit(void) { return gauge_get(&mem_limit_bytes); }
/* Bytes held against the budget now, by every query and the results not
 * yet released by the outputs. */
static inline int64_t mem_used(void) { return gauge_get(&mem_used_bytes); }

/* Take n bytes for account a (NULL: the engine's own) if the budget has
 * room: 1; else 0, nothing taken, and a->refused counted. */
static inline int mem_take(memacct_t *a, size_t n)
{
    int64_t lim = gauge_get(&mem_limit_bytes);
    if (lim > 0 && gauge_get(&mem_used_bytes) + (int64_t)n > lim) {
        if (a)
            a->refused++;
        return 0;
    }
    gauge_add(&mem_used_bytes, (int64_t)n);
    if (a)
        a->bytes += (int64_t)n;
    return 1;
}

/* Take n bytes whatever the budget says (fixed costs, results). */
static inline void mem_force(memacct_t *a, size_t n)
{
    gauge_add(&mem_used_bytes, (int64_t)n);
    if (a)
        a->bytes += (int64_t)n;
}

/* Give back n bytes taken for a. */
static inline void mem_give(memacct_t *a, size_t n)
{
    gauge_add(&mem_used_bytes, -(int64_t)n);
    if (a)
        a->bytes -= (int64_t)n;
}

/* The default budget: frac (0..1) of the memory this process may use,
 * physical RAM or the cgroup's limit if lower; 0 if unknown. */
int64_t mem_default_limit(double frac);

#endif
