/*
 * func.h - the functions of the query language, as one table.
 *
 * Semantic analysis checks calls against it; the expression compiler and
 * the aggregation operator implement each id. Adding a function means a
 * row here, a type rule in sema.c and its code in expr.c or agg.c.
 */
#ifndef FLOWSQL_FUNC_H
#define FLOWSQL_FUNC_H

enum func_id {
    /* aggregates */
    FN_COUNT, FN_SUM, FN_MIN, FN_MAX, FN_AVG, FN_APPROX_DISTINCT, FN_TOPK,
    /* scalars */
    FN_NETWORK, FN_HAS_FLAGS, FN_PROTO_NAME, FN_FLAGS_STR, FN_FAMILY,
    FN_ABS, FN_LEAST, FN_GREATEST, FN_TIME_FLOOR, FN_ROUND, FN_IP_IN,
    FN_LOWER,
    FN_COUNT_
};

typedef struct func {
    const char *name;
    int         is_agg;
    int         min_args, max_args;   /* max -1: any number */
    const char *synopsis;
    const char *doc;
} func_t;

extern const func_t func_table[FN_COUNT_];

/* Function id by name (case-insensitive), or -1. */
int func_lookup(const char *name);

/* HyperLogLog precision of approx_count_distinct: 2^HLL_P registers. */
#define HLL_P 11
/* topk() counters kept per group: TOPK_FACTOR * k (Space-Saving). */
#define TOPK_FACTOR 4
#define TOPK_MAX_K 100

#endif
