/*
 * ast.h - the syntax tree of a flowsql statement.
 *
 * Ownership: every node, list and string of a statement lives in the
 * arena given to parse(); freeing the arena frees the statement. Nothing
 * in here is freed on its own, so an error half-way through a statement
 * leaks nothing.
 *
 * Positions: every node keeps the byte offset and length of its token in
 * the statement text, for error messages with a caret.
 */
#ifndef FLOWSQL_AST_H
#define FLOWSQL_AST_H

#include <stdint.h>

#include "engine/types.h"
#include "util/arena.h"
#include "util/diag.h"
#include "util/sbuf.h"

typedef enum ast_kind {
    A_INT,       /* v.i */
    A_FLOAT,     /* v.f */
    A_STRING,    /* v.s */
    A_BOOL,      /* v.i */
    A_IP,        /* v.ip */
    A_CIDR,      /* v.ip masked, prefix in the 128-bit space */
    A_DURATION,  /* v.i milliseconds */
    A_COLUMN,    /* name -> field (sema) */
    A_STAR,      /* the argument of count(*) */
    A_UNARY,     /* op, a */
    A_BINARY,    /* op, a, b */
    A_FUNC,      /* name, list = args, distinct */
    A_CASE,      /* a = operand or NULL, list = when,then,..., b = else */
    A_IN,        /* a IN (list), a IN c (a CIDR), or a IN name (a network
                  * set: name, and list = its networks after sema); negated */
    A_BETWEEN,   /* a BETWEEN b AND c; negated */
    /* made by the planner, above the aggregation */
    A_GROUPREF,  /* ref = index of a GROUP BY key */
    A_AGGREF,    /* ref = index of an aggregate */
} ast_kind_t;

typedef enum ast_op {
    OP_NONE,
    OP_NEG, OP_NOT, OP_BITNOT,
    OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_MOD, OP_BITAND, OP_BITOR,
    OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE,
    OP_AND, OP_OR,
    OP_LIKE, OP_NOT_LIKE,   /* string LIKE 'pattern' (a literal) */
} ast_op_t;

typedef struct ast ast_t;
struct ast {
    ast_kind_t  kind;
    ast_op_t    op;
    int         pos, len;   /* token in the statement text */
    int         depth;      /* height of the subtree */
    type_t      type;       /* set by semantic analysis */
    ast_t      *a, *b, *c;
    ast_t     **list;
    int         nlist;
    int         distinct;   /* count(DISTINCT x) */
    int         negated;    /* NOT IN, NOT BETWEEN */
    const char *name;       /* column or function name, lower case */
    int         field;      /* A_COLUMN: field id (sema) */
    int         fn;         /* A_FUNC: function id (sema) */
    int         is_agg;     /* A_FUNC: an aggregate (sema) */
    int         ref;        /* A_GROUPREF / A_AGGREF index */
    int         prefix;     /* A_CIDR */
    value_t     v;
    int         is_alias;   /* a copy of an aliased select item's node,
                               written as the alias at pos/len (sema) */
};

typedef struct sel_item {
    ast_t      *expr;
    const char *alias;      /* NULL if none */
    int         pos, len;   /* the item's expression (its top token) */
    int         alias_pos, alias_len; /* the alias, if any */
} sel_item_t;

typedef struct order_item {
    ast_t *expr;
    int    desc;
    int    item;    /* select item it names (alias or ordinal), or -1 */
} order_item_t;

/* WINDOW size [SLIDE slide] [ON field] [LATENESS d] */
typedef struct window_spec {
    int     present;
    int64_t size, slide;    /* ms; slide == size for tumbling */
    int     time_field;     /* F_RECEIVED (default), F_END or F_START */
    int     time_explicit;  /* ON was given */
    const char *on_name;    /* the field after ON */
    int64_t lateness;       /* ms; allowed lateness for flow time */
    int     has_lateness;
    int     pos, len;       /* the WINDOW keyword */
    int     size_pos, size_len, slide_pos, slide_len, on_pos, on_len;
    int     lateness_pos, lateness_len; /* LATENESS d */
} window_spec_t;

/* FROM flows LAST d | SINCE 'a' [UNTIL 'b'] | BETWEEN 'a' AND 'b': which
 * received times a query over the archive reads. LAST is relative to when
 * the query runs; the others are times (sema reads the strings). */
enum range_kind { RANGE_NONE = 0, RANGE_LAST, RANGE_SINCE, RANGE_BETWEEN };

typedef struct time_range {
    int         kind;       /* enum range_kind */
    int64_t     last;       /* LAST: ms */
    int64_t     from, to;   /* SINCE/BETWEEN: ms since the epoch (sema) */
    int         has_to;     /* UNTIL b (exclusive) or BETWEEN's b (inclusive) */
    const char *from_text, *to_text;   /* the literals, unquoted */
    int         pos, len;   /* the keyword LAST / SINCE / BETWEEN */
    int         from_pos, from_len, to_pos, to_len; /* literals, duration */
    int         until_pos, until_len;  /* the keyword UNTIL */
} time_range_t;

typedef struct select_stmt {
    sel_item_t   *items;
    int           nitems, items_cap;
    const char   *from;
    int           from_pos, from_len;
    ast_t        *where;
    window_spec_t window;
    time_range_t  range;    /* FROM flows LAST ... (queries over the archive) */
    ast_t       **group;
    int           ngroup, group_cap;
    ast_t        *having;
    int           having_pos, having_len; /* the HAVING keyword */
    order_item_t *order;
    int           norder, order_cap;
    int64_t       limit;
    int           has_limit, limit_pos, limit_len;
    int           pos;
} select_t;

typedef struct option {
    const char *key;
    const char *value;      /* literal text: strings unquoted */
    int         key_pos, key_len, val_pos, val_len;
} option_t;

typedef enum stmt_kind {
    STMT_SELECT,            /* continuous (FROM flows WINDOW) or ad hoc */
    STMT_CREATE,            /* CREATE QUERY name [WITH (...)] AS SELECT */
    STMT_DROP,              /* DROP QUERY [IF EXISTS] name [KEEP DATA] */
    STMT_SHOW,              /* SHOW QUERIES */
    STMT_EXPLAIN,           /* EXPLAIN stmt */
} stmt_kind_t;

typedef struct stmt stmt_t;
struct stmt {
    stmt_kind_t kind;
    select_t   *select;     /* SELECT, CREATE */
    const char *name;       /* CREATE, DROP */
    int         name_pos, name_len;
    option_t   *opts;       /* CREATE */
    int         nopts, opts_cap;
    int         if_exists;  /* DROP */
    int         if_not_exists; /* CREATE */
    int         keep_data;  /* DROP */
    stmt_t     *inner;      /* EXPLAIN */
    int         analyze;    /* EXPLAIN ANALYZE: run it, show what it read */
};

/* Limits that keep hostile input cheap. Every recursive walk of a tree
 * (sema, ast_print, ast_equal, the planner) is bounded by AST_MAX_DEPTH;
 * the work that compares every item with every other is bounded by the
 * counts. */
#define AST_MAX_DEPTH   200     /* nesting of expressions */
#define PARSE_MAX_TEXT  (1 << 20)
#define PARSE_MAX_COLUMNS 1000  /* select list items */
#define PARSE_MAX_KEYS  100     /* GROUP BY and ORDER BY items, each */
#define PARSE_MAX_LIST  100000  /* IN (...), function arguments, CASE */
#define PARSE_MAX_OPTIONS 32    /* WITH (...) options */
#define SEMA_MAX_AGGREGATES 1000 /* aggregate calls in a statement */
#define SEMA_MAX_LIMIT  100000000 /* LIMIT n */

/* Parse one statement (an optional trailing ';'). Returns NULL and fills
 * err on any lexical or syntax error. Semantic checks are sema_check(). */
stmt_t *parse(arena_t *a, const char *text, size_t len, diag_t *err);

/* Classification without a full parse, for the REST API and the shell:
 * does this SELECT read FROM flows (our dialect) or stored tables
 * (SQLite's SQL, run as is)? Returns 1 for a SELECT or WITH whose
 * top-level FROM names something other than flows. */
int parse_is_stored_select(const char *text, size_t len);
/* 1 for a SELECT whose top-level FROM is flows: flowsql's own dialect,
 * live (WINDOW) or over the archive. */
int parse_is_flows_select(const char *text, size_t len);

/* Semantic analysis against the flow schema: resolves fields and
 * functions, computes types, checks aggregate placement and grouping,
 * folds string literals compared with proto/tcpflags/time. 0 or -1. */
int sema_check(stmt_t *st, const char *text, arena_t *a, diag_t *err);

/* The CREATE QUERY WITH options sema_check accepts, for the shell's
 * completion: the name of option i, or NULL past the last; *values (if
 * values is not NULL) gets a NULL-terminated list of typical values
 * (true/false, durations), or NULL when any text goes. */
const char *sema_option(int i, const char *const **values);

/* Constructors (used by the grammar). */
ast_t *ast_new(arena_t *a, ast_kind_t k, int pos, int len);
ast_t *ast_unary(arena_t *a, ast_op_t op, ast_t *x, int pos, int len);
ast_t *ast_binary(arena_t *a, ast_op_t op, ast_t *x, ast_t *y, int pos,
                  int len);
void   ast_list_add(arena_t *a, ast_t ***list, int *n, int *cap, ast_t *x);
void   ast_fix_depth(ast_t *x);

/* Write an expression as flowsql text (for EXPLAIN and column names).
 * names[] gives the text for A_GROUPREF/A_AGGREF, or NULL. */
void ast_print(sbuf_t *b, const ast_t *x, const char *const *group_names,
               const char *const *agg_names);
const char *ast_op_text(ast_op_t op);
int ast_equal(const ast_t *x, const ast_t *y);
/* 1 if an aggregate call (resolved by sema) occurs in the tree. */
int ast_has_agg(const ast_t *x);

#endif
