/*
 * plan.h - a checked statement turned into the operator pipeline the
 * engine runs, and EXPLAIN's text of it:
 *
 *   scan -> filter -> window -> aggregate -> having -> project
 *        -> order/limit -> outputs
 *
 * Above the aggregate, expressions refer to group keys and aggregate
 * results (A_GROUPREF / A_AGGREF) instead of fields. A query without
 * aggregates and GROUP BY is a "rows" plan: every matching flow becomes a
 * row of its window (bounded by max_groups).
 *
 * A plan owns its arena, which also holds the statement it came from;
 * plan_free() releases all of it.
 */
#ifndef FLOWSQL_PLAN_H
#define FLOWSQL_PLAN_H

#include "parser/ast.h"
#include "util/diag.h"
#include "util/sbuf.h"

typedef struct agg_spec {
    int         fn;         /* FN_COUNT ... FN_TOPK */
    int         distinct;   /* count(DISTINCT x) */
    ast_t      *arg;        /* NULL for count(*) */
    int64_t     k;          /* topk */
    type_t      type;       /* result type */
    const char *text;       /* as written, for EXPLAIN */
} agg_spec_t;

typedef struct plan_col {
    const char *name;       /* output name: a valid SQL identifier */
    type_t      type;
    ast_t      *expr;       /* over keys/aggregates (or fields: rows plan) */
    int         key;        /* index of the group key it is, or -1 */
} plan_col_t;

typedef struct plan_order {
    ast_t *expr;
    int    desc;
    int    col;             /* output column it names, or -1 */
} plan_order_t;

enum plan_mode { PLAN_AGGREGATE, PLAN_ROWS };

#define PLAN_DEFAULT_MAX_GROUPS 1000000

typedef struct plan {
    arena_t      *arena;
    const char   *text;      /* the statement, NUL-terminated */
    stmt_t       *stmt;      /* the statement the plan was made from */
    const char   *name;      /* CREATE QUERY name, or NULL */
    option_t     *opts;
    int           nopts;
    int           mode;      /* enum plan_mode */
    int           continuous;/* reads the live stream: FROM flows WINDOW */
    ast_t        *filter;    /* WHERE, or NULL */
    window_spec_t window;    /* present == 0: one window over everything */
    time_range_t  range;     /* FROM flows LAST ...: archive queries */
    ast_t       **keys;      /* GROUP BY */
    const char  **key_names;
    int           nkeys;
    agg_spec_t   *aggs;
    int           naggs;
    ast_t        *having;
    plan_col_t   *cols;
    int           ncols;
    plan_order_t *order;
    int           norder;
    int64_t       limit;     /* -1: none */
    int64_t       max_groups;/* groups (rows) per window */
} plan_t;

/* Parse, check and plan one statement. For CREATE QUERY and SELECT the
 * plan is returned; for other statements (DROP, SHOW, EXPLAIN) too, with
 * plan->stmt telling what to do (no pipeline is built for DROP/SHOW).
 * default_max_groups applies unless WITH (max_groups = N) says otherwise.
 * NULL and err filled on any error. */
plan_t *plan_compile(const char *text, size_t len, int64_t default_max_groups,
                     diag_t *err);

/* How many times plan_compile() ran in this process (for tests: a
 * registration compiles its text once, a GET of a query never). */
uint64_t plan_compiles(void);

/* The statement EXPLAIN explains: the inner one for EXPLAIN x. */
const stmt_t *plan_target(const plan_t *p);

/* Append EXPLAIN text for the plan (of the inner statement of EXPLAIN).
 * A SELECT without WINDOW is shown as a query over the archive, with the
 * conditions its scan is given (pushdown.h). */
void plan_explain(const plan_t *p, sbuf_t *out);

/* The archive form of EXPLAIN with a scan already built (at now_ms), its
 * time range written in absolute times; plan_explain() uses it with the
 * range as written (LAST 1h stays "now - 1h"). */
struct scan_spec;
void plan_explain_scan(const plan_t *p, const struct scan_spec *s,
                       int relative, sbuf_t *out);

/* An option's value (WITH (key = value)), or NULL. */
const char *plan_option(const plan_t *p, const char *key);

void plan_free(plan_t *p);

#endif
