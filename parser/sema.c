/*
 * sema.c - semantic analysis of a parsed statement against the flow
 * schema (engine/schema.h) and the function table (engine/func.h).
 *
 * Resolves names, computes the type of every expression node, checks that
 * aggregates appear only where they may and that every selected field is
 * grouped, validates the window and the query's options, and folds string
 * literals that stand for protocols, TCP flags and times into numbers.
 * The first error wins and names the offending token.
 */
#include "parser/ast.h"
#include "engine/func.h"
#include "engine/netset.h"
#include "engine/schema.h"
#include "sinks/alert.h"
#include "util/timeutil.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct sctx {
    const char *text;
    arena_t    *a;
    diag_t     *err;
    int         failed;
    int         naggs;      /* aggregate calls seen */
} sctx_t;

enum place { P_SELECT, P_WHERE, P_GROUP, P_HAVING, P_ORDER, P_WINDOW };
static const char *place_name[] = {"the select list", "WHERE", "GROUP BY",
                                   "HAVING", "ORDER BY", "WINDOW"};

#define MAX_WINDOW_MS   (7LL * 86400 * 1000)
#define MAX_PANES       1000
#define DEFAULT_LATENESS_MS 60000
#define MAX_RANGE_MS    (36500LL * 86400 * 1000)

static int fail(sctx_t *c, const ast_t *x, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(sctx_t *c, const ast_t *x, const char *fmt, ...)
{
    if (c->failed)
        return -1;
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (x)
        diag_at(c->err, c->text, x->pos, x->len, "%s", msg);
    else
        diag_set(c->err, "%s", msg);
    c->failed = 1;
    return -1;
}

static int fail_pos(sctx_t *c, int pos, int len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail_pos(sctx_t *c, int pos, int len, const char *fmt, ...)
{
    if (c->failed)
        return -1;
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    diag_at(c->err, c->text, pos, len, "%s", msg);
    c->failed = 1;
    return -1;
}

/* The text an expression covers: from its leftmost to its rightmost
 * token (parentheses around it not included). */
static void span(const ast_t *x, int *lo, int *hi)
{
    if (!x)
        return;
    if (x->pos < *lo)
        *lo = x->pos;
    if (x->pos + x->len > *hi)
        *hi = x->pos + x->len;
    if (x->is_alias)
        return;             /* its children are in the select list */
    span(x->a, lo, hi);
    span(x->b, lo, hi);
    span(x->c, lo, hi);
    for (int i = 0; i < x->nlist; i++)
        span(x->list[i], lo, hi);
}

static int fail_span(sctx_t *c, const ast_t *x, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* An error about a whole expression: the caret underlines all of it. */
static int fail_span(sctx_t *c, const ast_t *x, const char *fmt, ...)
{
    if (c->failed)
        return -1;
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    int lo = x->pos, hi = x->pos + x->len;
    span(x, &lo, &hi);
    return fail_pos(c, lo, hi - lo, "%s", msg);
}

/* Names in HAVING and ORDER BY that are aliases of the select list stand
 * for the aliased expression (the select item is shared, not copied).
 * Inside an aggregate's arguments names are flow fields, never aliases:
 * HAVING max(bytes) > 0 means the field even when a column is called
 * bytes. */
static ast_t *subst_aliases(sctx_t *c, select_t *s, ast_t *x)
{
    if (!x)
        return NULL;
    if (x->kind == A_COLUMN) {
        for (int j = 0; j < s->nitems; j++)
            if (s->items[j].alias && strcmp(s->items[j].alias, x->name) == 0) {
                /* The top node copied, so that errors point here. */
                ast_t *r = arena_alloc(c->a, sizeof(*r));
                *r = *s->items[j].expr;
                r->pos = x->pos;
                r->len = x->len;
                r->is_alias = 1;
                return r;
            }
        return x;
    }
    if (x->kind == A_FUNC) {
        int fn = func_lookup(x->name);
        if (fn >= 0 && func_table[fn].is_agg)
            return x;
    }
    x->a = subst_aliases(c, s, x->a);
    x->b = subst_aliases(c, s, x->b);
    x->c = subst_aliases(c, s, x->c);
    for (int i = 0; i < x->nlist; i++)
        x->list[i] = subst_aliases(c, s, x->list[i]);
    return x;
}

static int is_literal(const ast_t *x)
{
    switch (x->kind) {
    case A_INT: case A_FLOAT: case A_STRING: case A_BOOL: case A_IP:
    case A_CIDR: case A_DURATION:
        return 1;
    default:
        return 0;
    }
}

/* A time literal: ISO-8601 as time_parse_iso() reads it (no zone is
 * UTC), also with a blank before the zone ('2026-12-03 13:00 +01:00',
 * '... Z') or the zone written UTC or GMT. 0, or -1 on bad text. */
static int time_literal(const char *s, int64_t *ms)
{
    char buf[64];
    size_t n = strlen(s);
    if (n >= sizeof(buf))
        return -1;
    memcpy(buf, s, n + 1);
    if (n > 4 && (strcasecmp(buf + n - 4, " UTC") == 0 ||
                  strcasecmp(buf + n - 4, " GMT") == 0)) {
        n -= 4;
        buf[n] = 0;
    }
    char *b = strrchr(buf, ' ');
    if (b && b > buf + 10 && (b[1] == '+' || b[1] == '-' || b[1] == 'Z'))
        memmove(b, b + 1, strlen(b + 1) + 1);
    return time_parse_iso(buf, ms);
}

/* Years 0000 to 9999 (UTC): what EXPLAIN can print back. */
static int time_in_range(int64_t ms)
{
    return ms >= -62167219200000LL && ms <= 253402300799999LL;
}

/* A string literal compared with a protocol, TCP flags or a time becomes
 * the number it stands for. */
static int fold_literal(sctx_t *c, const ast_t *other, ast_t *lit)
{
    if (lit->kind != A_STRING)
        return 0;
    int dom = other->kind == A_COLUMN && other->field >= 0
                  ? schema_fields[other->field].domain : DOM_PLAIN;
    if (dom == DOM_PROTO) {
        int p = proto_from_name(lit->v.s);
        if (p < 0)
            return fail(c, lit, "unknown protocol '%s' (use a number or "
                        "tcp, udp, icmp, icmp6, gre, esp, sctp...)", lit->v.s);
        lit->kind = A_INT;
        lit->v.i = p;
        lit->type = TYPE_INT;
    } else if (dom == DOM_TCPFLAGS) {
        int f = tcpflags_parse(lit->v.s);
        if (f < 0)
            return fail(c, lit, "invalid TCP flags '%s' (use letters of "
                        "FSRPAUEC, e.g. 'S' or 'SA', or names like "
                        "'SYN|ACK')", lit->v.s);
        lit->kind = A_INT;
        lit->v.i = f;
        lit->type = TYPE_INT;
    } else if (other->type == TYPE_TIME) {
        int64_t ms;
        if (time_literal(lit->v.s, &ms) < 0)
            return fail(c, lit, "invalid time '%s' (expected ISO-8601, e.g. "
                        "'2026-11-23T13:00:00Z')", lit->v.s);
        if (!time_in_range(ms))
            return fail(c, lit, "time '%s' is out of range (years 0000 to "
                        "9999 UTC)", lit->v.s);
        lit->kind = A_INT;
        lit->v.i = ms;
        lit->type = TYPE_TIME;
    }
    return 0;
}

static int comparable(type_t x, type_t y)
{
    if (type_is_numeric(x) && type_is_numeric(y))
        return 1;
    return x == y;
}

static int check_compare(sctx_t *c, ast_t *op, ast_t *x, ast_t *y)
{
    if (fold_literal(c, x, y) < 0 || fold_literal(c, y, x) < 0)
        return -1;
    if (x->kind == A_CIDR || y->kind == A_CIDR)
        return fail(c, x->kind == A_CIDR ? x : y,
                    "a network can only be used with IN, e.g. srcip IN "
                    "10.0.0.0/8");
    if (!comparable(x->type, y->type))
        return fail(c, op, "cannot compare %s with %s", type_name(x->type),
                    type_name(y->type));
    return 0;
}

/* Type of arithmetic on two numeric operands. */
static type_t arith_type(ast_op_t op, type_t x, type_t y)
{
    if (x == TYPE_FLOAT || y == TYPE_FLOAT)
        return TYPE_FLOAT;
    if (op == OP_SUB && x == TYPE_TIME && y == TYPE_TIME)
        return TYPE_DURATION;
    if ((op == OP_ADD || op == OP_SUB) && x == TYPE_TIME)
        return TYPE_TIME;
    if (op == OP_ADD && y == TYPE_TIME)
        return TYPE_TIME;
    if (x == TYPE_DURATION && (y == TYPE_DURATION || y == TYPE_INT) &&
        op != OP_DIV)
        return TYPE_DURATION;
    if (x == TYPE_DURATION && y == TYPE_INT && op == OP_DIV)
        return TYPE_DURATION;
    if (x == TYPE_INT && y == TYPE_DURATION && op == OP_MUL)
        return TYPE_DURATION;
    return TYPE_INT;
}

/* Common type of CASE branches or least()/greatest() arguments. */
static int unify(sctx_t *c, const ast_t *where, const char *what,
                 type_t *acc, type_t t)
{
    if (*acc == TYPE_NONE || *acc == t) {
        *acc = t;
        return 0;
    }
    if (type_is_numeric(*acc) && type_is_numeric(t)) {
        *acc = (*acc == TYPE_FLOAT || t == TYPE_FLOAT) ? TYPE_FLOAT : TYPE_INT;
        return 0;
    }
    return fail(c, where, "%s mix %s and %s", what, type_name(*acc),
                type_name(t));
}

static int resolve(sctx_t *c, ast_t *x, int place, int in_agg);

/* The function name closest to a misspelled one (at most two edits and
 * fewer than half its letters), or NULL. */
static const char *func_suggest(const char *name)
{
    const char *best = NULL;
    int bestd = 3;
    for (int i = 0; i < FN_COUNT_; i++) {
        int d = diag_distance(name, strlen(name), func_table[i].name,
                              strlen(func_table[i].name));
        if (d < bestd && d * 2 < (int)strlen(func_table[i].name)) {
            bestd = d;
            best = func_table[i].name;
        }
    }
    return best;
}

static int resolve_func(sctx_t *c, ast_t *x, int place, int in_agg)
{
    int fn = func_lookup(x->name);
    if (fn < 0) {
        int nl = (int)strlen(x->name);
        if (schema_lookup(x->name, strlen(x->name)) >= 0)
            return fail_pos(c, x->pos, nl, "'%s' is a field, not a "
                            "function", x->name);
        const char *s = func_suggest(x->name);
        if (s)
            return fail_pos(c, x->pos, nl, "unknown function '%s' (did you "
                            "mean %s()?)", x->name, s);
        return fail_pos(c, x->pos, nl, "unknown function '%s'", x->name);
    }
    const func_t *f = &func_table[fn];
    x->fn = fn;
    x->is_agg = f->is_agg;
    int name_len = (int)strlen(x->name);
    if (x->nlist < f->min_args || (f->max_args >= 0 && x->nlist > f->max_args)) {
        if (f->min_args == f->max_args)
            return fail_pos(c, x->pos, name_len, "%s() takes %d argument%s",
                            f->name, f->min_args, f->min_args == 1 ? "" : "s");
        if (f->max_args < 0)
            return fail_pos(c, x->pos, name_len,
                            "%s() takes at least %d arguments", f->name,
                            f->min_args);
        return fail_pos(c, x->pos, name_len, "%s() takes %d to %d arguments",
                        f->name, f->min_args, f->max_args);
    }
    if (x->distinct && fn != FN_COUNT)
        return fail_pos(c, x->pos, name_len,
                        "DISTINCT is only allowed in count(DISTINCT ...)");
    if (f->is_agg) {
        if (++c->naggs > SEMA_MAX_AGGREGATES)
            return fail_pos(c, x->pos, name_len, "too many aggregate "
                            "functions (at most %d)", SEMA_MAX_AGGREGATES);
        if (in_agg)
            return fail_pos(c, x->pos, name_len, "aggregate function %s() "
                            "cannot be nested inside another aggregate",
                            f->name);
        if (place == P_WHERE || place == P_GROUP || place == P_WINDOW)
            return fail_pos(c, x->pos, name_len, "aggregate function %s() "
                            "is not allowed in %s", f->name,
                            place_name[place]);
    }
    for (int i = 0; i < x->nlist; i++) {
        ast_t *arg = x->list[i];
        if (arg->kind == A_STAR) {
            if (fn != FN_COUNT)
                return fail(c, arg, "'*' is only allowed in count(*)");
            continue;
        }
        if (resolve(c, arg, place, in_agg || f->is_agg) < 0)
            return -1;
        if (arg->kind == A_CIDR && fn != FN_IP_IN)
            return fail(c, arg, "a network can only be used with IN, e.g. "
                        "srcip IN 10.0.0.0/8");
    }
    if (x->distinct && x->list[0]->kind == A_STAR)
        return fail(c, x->list[0], "count(DISTINCT *) is not supported; "
                    "name a field");

    ast_t *a0 = x->nlist > 0 ? x->list[0] : NULL;
    ast_t *a1 = x->nlist > 1 ? x->list[1] : NULL;
    type_t t0 = a0 ? a0->type : TYPE_NONE;
    switch (fn) {
    case FN_COUNT:
    case FN_APPROX_DISTINCT:
        x->type = TYPE_INT;
        break;
    case FN_SUM:
        if (!type_is_numeric(t0) || t0 == TYPE_TIME)
            return fail(c, a0, "sum() needs a number, not %s", type_name(t0));
        x->type = t0;
        break;
    case FN_AVG:
        if (!type_is_numeric(t0))
            return fail(c, a0, "avg() needs a number, not %s", type_name(t0));
        x->type = TYPE_FLOAT;
        break;
    case FN_MIN:
    case FN_MAX:
        x->type = t0;
        break;
    case FN_TOPK:
        if (a1->kind != A_INT || a1->v.i < 1 || a1->v.i > TOPK_MAX_K)
            return fail(c, a1, "topk() needs k as an integer from 1 to %d",
                        TOPK_MAX_K);
        x->type = TYPE_STRING;
        break;
    case FN_NETWORK:
        if (t0 != TYPE_IP)
            return fail(c, a0, "network() needs an address, not %s",
                        type_name(t0));
        if (a1->type != TYPE_INT)
            return fail(c, a1, "network() needs a prefix length, not %s",
                        type_name(a1->type));
        if (a1->kind == A_INT && (a1->v.i < 0 || a1->v.i > 128))
            return fail(c, a1, "prefix length must be 0 to 32 (IPv4) or "
                        "0 to 128 (IPv6)");
        x->type = TYPE_IP;
        break;
    case FN_HAS_FLAGS:
        if (t0 != TYPE_INT)
            return fail(c, a0, "has_flags() needs TCP flags, not %s",
                        type_name(t0));
        if (a1->kind == A_STRING) {
            int fl = tcpflags_parse(a1->v.s);
            if (fl < 0)
                return fail(c, a1, "invalid TCP flags '%s' (use letters of "
                            "FSRPAUEC, e.g. 'S' or 'SA', or names like "
                            "'SYN|ACK')", a1->v.s);
            a1->kind = A_INT;
            a1->v.i = fl;
            a1->type = TYPE_INT;
        }
        if (a1->type != TYPE_INT)
            return fail(c, a1, "has_flags() needs flags like 'SA', not %s",
                        type_name(a1->type));
        x->type = TYPE_BOOL;
        break;
    case FN_LOWER:
        if (t0 != TYPE_STRING)
            return fail(c, a0, "lower() needs a string, not %s",
                        type_name(t0));
        x->type = TYPE_STRING;
        break;
    case FN_PROTO_NAME:
    case FN_FLAGS_STR:
        if (t0 != TYPE_INT)
            return fail(c, a0, "%s() needs an integer, not %s", f->name,
                        type_name(t0));
        x->type = TYPE_STRING;
        break;
    case FN_FAMILY:
        if (t0 != TYPE_IP)
            return fail(c, a0, "family() needs an address, not %s",
                        type_name(t0));
        x->type = TYPE_INT;
        break;
    case FN_ABS:
        if (!type_is_numeric(t0) || t0 == TYPE_TIME)
            return fail(c, a0, "abs() needs a number, not %s", type_name(t0));
        x->type = t0;
        break;
    case FN_ROUND:
        if (!type_is_numeric(t0))
            return fail(c, a0, "round() needs a number, not %s",
                        type_name(t0));
        x->type = t0 == TYPE_FLOAT ? TYPE_INT : t0;
        break;
    case FN_LEAST:
    case FN_GREATEST: {
        type_t t = TYPE_NONE;
        for (int i = 0; i < x->nlist; i++)
            if (unify(c, x->list[i], fn == FN_LEAST ? "least() arguments"
                                                    : "greatest() arguments",
                      &t, x->list[i]->type) < 0)
                return -1;
        if (t == TYPE_BOOL)
            return fail_pos(c, x->pos, name_len, "%s() needs numbers, "
                            "times, addresses or strings, not bool",
                            f->name);
        x->type = t;
        break;
    }
    case FN_TIME_FLOOR:
        if (fold_literal(c, &(ast_t){.type = TYPE_TIME, .field = -1}, a0) < 0)
            return -1;
        if (a0->type != TYPE_TIME)
            return fail(c, a0, "time_floor() needs a time, not %s",
                        type_name(a0->type));
        if (a1->type != TYPE_DURATION && a1->type != TYPE_INT)
            return fail(c, a1, "time_floor() needs a duration, not %s",
                        type_name(a1->type));
        if (a1->kind != A_DURATION && a1->kind != A_INT)
            return fail(c, a1, "time_floor() needs a constant duration");
        if (a1->v.i <= 0)
            return fail(c, a1, "time_floor() needs a positive duration");
        x->type = TYPE_TIME;
        break;
    case FN_IP_IN:
        if (t0 != TYPE_IP)
            return fail(c, a0, "ip_in() needs an address, not %s",
                        type_name(t0));
        if (a1->kind != A_CIDR && a1->kind != A_IP)
            return fail(c, a1, "ip_in() needs a network literal such as "
                        "10.0.0.0/8");
        x->type = TYPE_BOOL;
        break;
    }
    return 0;
}

static int resolve(sctx_t *c, ast_t *x, int place, int in_agg)
{
    if (c->failed)
        return -1;
    switch (x->kind) {
    case A_INT:
        x->type = x->type ? x->type : TYPE_INT;
        return 0;
    case A_FLOAT:  x->type = TYPE_FLOAT; return 0;
    case A_STRING: x->type = TYPE_STRING; return 0;
    case A_BOOL:   x->type = TYPE_BOOL; return 0;
    case A_IP:
    case A_CIDR:   x->type = TYPE_IP; return 0;
    case A_DURATION: x->type = TYPE_DURATION; return 0;
    case A_STAR:
        return fail(c, x, "'*' is only allowed in count(*)");
    case A_GROUPREF:
    case A_AGGREF:
        return 0;
    case A_COLUMN: {
        int f = schema_lookup(x->name, strlen(x->name));
        if (f < 0) {
            const char *s = schema_suggest(x->name, strlen(x->name));
            if (s)
                return fail(c, x, "unknown field '%s' (did you mean '%s'?)",
                            x->name, s);
            return fail(c, x, "unknown field '%s'", x->name);
        }
        x->field = f;
        x->type = schema_fields[f].type;
        return 0;
    }
    case A_UNARY:
        if (resolve(c, x->a, place, in_agg) < 0)
            return -1;
        if (x->op == OP_NOT) {
            if (x->a->type != TYPE_BOOL)
                return fail(c, x, "NOT needs a boolean, not %s",
                            type_name(x->a->type));
            x->type = TYPE_BOOL;
        } else if (x->op == OP_NEG) {
            if (!type_is_numeric(x->a->type))
                return fail(c, x, "'-' needs a number, not %s",
                            type_name(x->a->type));
            x->type = x->a->type == TYPE_TIME ? TYPE_INT : x->a->type;
        } else {
            if (x->a->type != TYPE_INT)
                return fail(c, x, "'~' needs an integer, not %s",
                            type_name(x->a->type));
            x->type = TYPE_INT;
        }
        return 0;
    case A_BINARY:
        if (resolve(c, x->a, place, in_agg) < 0 ||
            resolve(c, x->b, place, in_agg) < 0)
            return -1;
        switch (x->op) {
        case OP_AND:
        case OP_OR:
            if (x->a->type != TYPE_BOOL || x->b->type != TYPE_BOOL)
                return fail(c, x, "%s needs boolean operands, not %s",
                            ast_op_text(x->op),
                            type_name(x->a->type != TYPE_BOOL ? x->a->type
                                                              : x->b->type));
            x->type = TYPE_BOOL;
            return 0;
        case OP_EQ: case OP_NE: case OP_LT: case OP_LE: case OP_GT:
        case OP_GE:
            if (check_compare(c, x, x->a, x->b) < 0)
                return -1;
            x->type = TYPE_BOOL;
            return 0;
        case OP_LIKE:
        case OP_NOT_LIKE:
            if (x->a->type != TYPE_STRING)
                return fail(c, x->a, "LIKE needs a string on its left, not "
                            "%s", type_name(x->a->type));
            if (x->b->kind != A_STRING)
                return fail(c, x->b, "LIKE needs a string literal pattern "
                            "('abc%%', 'a_c'), not %s",
                            x->b->type == TYPE_STRING ? "an expression"
                                                      : type_name(x->b->type));
            x->type = TYPE_BOOL;
            return 0;
        case OP_BITAND:
        case OP_BITOR:
            if (fold_literal(c, x->a, x->b) < 0 ||
                fold_literal(c, x->b, x->a) < 0)
                return -1;
            if (x->a->type != TYPE_INT || x->b->type != TYPE_INT)
                return fail(c, x, "'%s' needs integers, not %s",
                            ast_op_text(x->op),
                            type_name(x->a->type != TYPE_INT ? x->a->type
                                                             : x->b->type));
            x->type = TYPE_INT;
            return 0;
        default:
            if (!type_is_numeric(x->a->type) || !type_is_numeric(x->b->type))
                return fail(c, x, "'%s' needs numbers, not %s",
                            ast_op_text(x->op),
                            type_name(!type_is_numeric(x->a->type)
                                          ? x->a->type : x->b->type));
            if (x->op == OP_MOD &&
                (x->a->type == TYPE_FLOAT || x->b->type == TYPE_FLOAT))
                return fail(c, x, "'%%' needs integers, not float");
            x->type = arith_type(x->op, x->a->type, x->b->type);
            return 0;
        }
    case A_FUNC:
        return resolve_func(c, x, place, in_agg);
    case A_CASE: {
        if (x->a && resolve(c, x->a, place, in_agg) < 0)
            return -1;
        type_t t = TYPE_NONE;
        for (int i = 0; i < x->nlist; i += 2) {
            ast_t *w = x->list[i], *r = x->list[i + 1];
            if (resolve(c, w, place, in_agg) < 0 ||
                resolve(c, r, place, in_agg) < 0)
                return -1;
            if (x->a) {
                if (check_compare(c, w, x->a, w) < 0)
                    return -1;
            } else if (w->type != TYPE_BOOL) {
                return fail(c, w, "WHEN needs a boolean condition, not %s",
                            type_name(w->type));
            }
            if (unify(c, r, "CASE results", &t, r->type) < 0)
                return -1;
        }
        if (x->b) {
            if (resolve(c, x->b, place, in_agg) < 0 ||
                unify(c, x->b, "CASE results", &t, x->b->type) < 0)
                return -1;
        }
        x->type = t;
        return 0;
    }
    case A_IN:
        if (resolve(c, x->a, place, in_agg) < 0)
            return -1;
        if (x->name) {
            /* a named network set: the engine looks its matcher up when
             * it compiles the query (netset.h) */
            if (x->a->type != TYPE_IP)
                return fail(c, x, "IN %s needs an address, not %s", x->name,
                            type_name(x->a->type));
            if (!netset_exists(x->name)) {
                char names[300];
                netset_names(names, sizeof(names));
                return fail(c, x, "unknown network set '%s' (defined: %s)",
                            x->name, names);
            }
            x->type = TYPE_BOOL;
            return 0;
        }
        if (x->c) {
            if (x->a->type != TYPE_IP)
                return fail(c, x, "IN a network needs an address, not %s",
                            type_name(x->a->type));
        } else {
            for (int i = 0; i < x->nlist; i++) {
                ast_t *e = x->list[i];
                if (resolve(c, e, place, in_agg) < 0)
                    return -1;
                if (!is_literal(e))
                    return fail(c, e, "IN (...) needs constants");
                if (fold_literal(c, x->a, e) < 0)
                    return -1;
                if (e->kind == A_CIDR && x->a->type == TYPE_IP)
                    continue;
                if (!comparable(x->a->type, e->type))
                    return fail(c, e, "cannot compare %s with %s",
                                type_name(x->a->type), type_name(e->type));
            }
        }
        x->type = TYPE_BOOL;
        return 0;
    case A_BETWEEN:
        if (resolve(c, x->a, place, in_agg) < 0 ||
            resolve(c, x->b, place, in_agg) < 0 ||
            resolve(c, x->c, place, in_agg) < 0)
            return -1;
        if (check_compare(c, x->b, x->a, x->b) < 0 ||
            check_compare(c, x->c, x->a, x->c) < 0)
            return -1;
        x->type = TYPE_BOOL;
        return 0;
    }
    return fail(c, x, "unexpected expression");
}


/* Every field outside an aggregate must be (part of) a GROUP BY key. */
static int check_grouped(sctx_t *c, const select_t *s, const ast_t *x)
{
    if (!x || c->failed)
        return c->failed ? -1 : 0;
    for (int i = 0; i < s->ngroup; i++)
        if (ast_equal(x, s->group[i]))
            return 0;
    if (x->kind == A_FUNC && x->is_agg)
        return 0;
    if (x->kind == A_COLUMN)
        return fail(c, x, "field '%s' must appear in GROUP BY or be used in "
                    "an aggregate function", x->name);
    if (check_grouped(c, s, x->a) < 0 || check_grouped(c, s, x->b) < 0 ||
        check_grouped(c, s, x->c) < 0)
        return -1;
    for (int i = 0; i < x->nlist; i++)
        if (check_grouped(c, s, x->list[i]) < 0)
            return -1;
    return 0;
}

static int check_window(sctx_t *c, select_t *s, int continuous)
{
    window_spec_t *w = &s->window;
    char b1[32], b2[32];
    if (!w->present) {
        if (continuous)
            return fail_pos(c, s->from_pos, s->from_len,
                            "a continuous query needs a WINDOW clause, e.g. "
                            "FROM flows WINDOW 10s");
        return 0;
    }
    if (w->size <= 0)
        return fail_pos(c, w->size_pos, w->size_len,
                        "window size must be a positive duration");
    if (w->size > MAX_WINDOW_MS)
        return fail_pos(c, w->size_pos, w->size_len,
                        "window size %s is too large (at most 7d)",
                        duration_format(w->size, b1, sizeof(b1)));
    if (w->slide <= 0)
        return fail_pos(c, w->slide_pos, w->slide_len,
                        "SLIDE must be a positive duration");
    if (w->slide > w->size)
        return fail_pos(c, w->slide_pos, w->slide_len,
                        "SLIDE %s is larger than WINDOW %s",
                        duration_format(w->slide, b1, sizeof(b1)),
                        duration_format(w->size, b2, sizeof(b2)));
    if (w->size % w->slide != 0)
        return fail_pos(c, w->slide_pos, w->slide_len,
                        "WINDOW %s is not a whole multiple of SLIDE %s",
                        duration_format(w->size, b1, sizeof(b1)),
                        duration_format(w->slide, b2, sizeof(b2)));
    if (w->size / w->slide > MAX_PANES)
        return fail_pos(c, w->slide_pos, w->slide_len,
                        "WINDOW / SLIDE is %lld panes, at most %d",
                        (long long)(w->size / w->slide), MAX_PANES);
    if (w->time_explicit) {
        int f = schema_lookup(w->on_name, strlen(w->on_name));
        if (f != F_START && f != F_END && f != F_RECEIVED)
            return fail_pos(c, w->on_pos, w->on_len,
                            "windows can follow start, end or received, "
                            "not '%s'", w->on_name);
        w->time_field = f;
    } else {
        w->time_field = F_RECEIVED;
    }
    if (w->has_lateness && w->time_field == F_RECEIVED)
        return fail_pos(c, w->lateness_pos, w->lateness_len, "LATENESS "
                        "applies to windows ON start or ON end, not on the "
                        "receive time");
    if (w->has_lateness && w->lateness > MAX_WINDOW_MS)
        return fail_pos(c, w->lateness_pos, w->lateness_len, "LATENESS is "
                        "too large (at most 7d)");
    if (!w->has_lateness)
        w->lateness = w->time_field == F_RECEIVED ? 0 : DEFAULT_LATENESS_MS;
    return 0;
}

/* Names that the result tables and rows use for their own columns. */
static int reserved_name(const char *n)
{
    return strcasecmp(n, "window_start") == 0 ||
           strcasecmp(n, "window_end") == 0 || strcasecmp(n, "rowid") == 0;
}

/* Output columns become SQLite columns, JSON keys and Elasticsearch
 * fields: keep them plain identifiers (a quoted alias may keep its case). */
static int plain_name(const char *n)
{
    if (!*n || isdigit((unsigned char)*n))
        return 0;
    for (; *n; n++)
        if (!isalnum((unsigned char)*n) && *n != '_')
            return 0;
    return 1;
}

/* One time of a range: the literal at pos/len read into *ms. */
static int range_time(sctx_t *c, const char *text, int pos, int len,
                      int64_t *ms)
{
    if (time_literal(text, ms) < 0)
        return fail_pos(c, pos, len, "invalid time '%s' (expected ISO-8601 "
                        "in UTC or with an offset, e.g. '2026-12-03 13:00' "
                        "or '2026-12-03T13:00:00+01:00')", text);
    if (!time_in_range(*ms))
        return fail_pos(c, pos, len, "time '%s' is out of range (years 0000 "
                        "to 9999 UTC)", text);
    return 0;
}

/* FROM flows LAST d | SINCE a [UNTIL b] | BETWEEN a AND b: only for a
 * query over the archive (no WINDOW, not registered). */
static int check_range(sctx_t *c, select_t *s, int continuous)
{
    time_range_t *r = &s->range;
    char b1[32];
    if (r->kind == RANGE_NONE)
        return 0;
    if (continuous)
        return fail_pos(c, r->pos, r->len, "a registered query runs on the "
                        "live stream: a time range is for queries over the "
                        "archive");
    if (s->window.present)
        return fail_pos(c, r->pos, r->len, "a time range reads the archive "
                        "and a WINDOW the live stream: a query has one or "
                        "the other");
    if (r->kind == RANGE_LAST) {
        if (r->last <= 0)
            return fail_pos(c, r->from_pos, r->from_len,
                            "LAST needs a positive duration");
        if (r->last > MAX_RANGE_MS)
            return fail_pos(c, r->from_pos, r->from_len, "LAST %s is too "
                            "long (at most 36500d)",
                            duration_format(r->last, b1, sizeof(b1)));
        return 0;
    }
    if (range_time(c, r->from_text, r->from_pos, r->from_len, &r->from) < 0)
        return -1;
    if (!r->has_to)
        return 0;
    if (range_time(c, r->to_text, r->to_pos, r->to_len, &r->to) < 0)
        return -1;
    if (r->to < r->from || (r->kind == RANGE_SINCE && r->to == r->from))
        return fail_pos(c, r->to_pos, r->to_len, "the time range is empty: "
                        "'%s' is not after '%s'", r->to_text, r->from_text);
    return 0;
}

static int check_select(sctx_t *c, select_t *s, int continuous)
{
    if (strcmp(s->from, "flows") != 0)
        return fail_pos(c, s->from_pos, s->from_len,
                        "unknown table '%s': queries in this dialect read "
                        "FROM flows; stored results are queried with "
                        "SQLite's SQL (flowsql shell or POST /api/v1/sql)",
                        s->from);
    if (check_range(c, s, continuous) < 0 ||
        check_window(c, s, continuous) < 0)
        return -1;
    for (int i = 0; i < s->nitems; i++) {
        if (resolve(c, s->items[i].expr, P_SELECT, 0) < 0)
            return -1;
        if (s->items[i].expr->kind == A_CIDR)
            return fail(c, s->items[i].expr, "a network can only be used "
                        "with IN, e.g. srcip IN 10.0.0.0/8");
        if (s->items[i].alias && reserved_name(s->items[i].alias))
            return fail_pos(c, s->items[i].alias_pos, s->items[i].alias_len,
                            "column name '%s' is reserved",
                            s->items[i].alias);
        if (s->items[i].alias && !plain_name(s->items[i].alias))
            return fail_pos(c, s->items[i].alias_pos, s->items[i].alias_len,
                            "column name '%s' must be letters, digits and "
                            "'_', not starting with a digit (it names a "
                            "column of the result table)",
                            s->items[i].alias);
    }
    if (s->where) {
        if (resolve(c, s->where, P_WHERE, 0) < 0)
            return -1;
        if (s->where->type != TYPE_BOOL)
            return fail_span(c, s->where, "WHERE needs a boolean condition, "
                             "not %s", type_name(s->where->type));
    }
    for (int i = 0; i < s->ngroup; i++) {
        ast_t *g = s->group[i];
        /* GROUP BY 1: the first select item. */
        if (g->kind == A_INT) {
            if (g->v.i < 1 || g->v.i > s->nitems)
                return fail(c, g, "GROUP BY position %lld is not in the "
                            "select list (1 to %d)", (long long)g->v.i,
                            s->nitems);
            if (ast_has_agg(s->items[g->v.i - 1].expr))
                return fail(c, g, "cannot GROUP BY an aggregate");
            g = s->group[i] = s->items[g->v.i - 1].expr;
            continue;
        }
        /* GROUP BY alias */
        if (g->kind == A_COLUMN && schema_lookup(g->name, strlen(g->name)) < 0) {
            for (int j = 0; j < s->nitems; j++)
                if (s->items[j].alias && strcmp(s->items[j].alias, g->name) == 0) {
                    if (ast_has_agg(s->items[j].expr))
                        return fail(c, g, "cannot GROUP BY an aggregate");
                    g = s->group[i] = s->items[j].expr;
                    break;
                }
            if (g->kind != A_COLUMN)
                continue;
        }
        if (resolve(c, g, P_GROUP, 0) < 0)
            return -1;
        if (g->kind == A_CIDR || is_literal(g))
            return fail(c, g, "GROUP BY needs an expression over fields");
    }
    /* HAVING and ORDER BY may name select items by alias. */
    if (s->having)
        s->having = subst_aliases(c, s, s->having);
    for (int i = 0; i < s->norder; i++) {
        order_item_t *o = &s->order[i];
        if (o->expr->kind == A_INT) {
            if (o->expr->v.i < 1 || o->expr->v.i > s->nitems)
                return fail(c, o->expr, "ORDER BY position %lld is not in "
                            "the select list (1 to %d)",
                            (long long)o->expr->v.i, s->nitems);
            o->item = (int)o->expr->v.i - 1;
            o->expr = s->items[o->item].expr;
            continue;
        }
        if (o->expr->kind == A_COLUMN) {
            for (int j = 0; j < s->nitems; j++)
                if (s->items[j].alias &&
                    strcmp(s->items[j].alias, o->expr->name) == 0) {
                    o->item = j;
                    o->expr = s->items[j].expr;
                    break;
                }
            if (o->item >= 0)
                continue;
        }
        o->expr = subst_aliases(c, s, o->expr);
        if (resolve(c, o->expr, P_ORDER, 0) < 0)
            return -1;
    }
    if (s->having) {
        if (resolve(c, s->having, P_HAVING, 0) < 0)
            return -1;
        if (s->having->type != TYPE_BOOL)
            return fail_span(c, s->having, "HAVING needs a boolean "
                             "condition, not %s",
                             type_name(s->having->type));
    }
    int aggregated = s->ngroup > 0 || ast_has_agg(s->having);
    for (int i = 0; i < s->nitems && !aggregated; i++)
        aggregated = ast_has_agg(s->items[i].expr);
    if (s->having && !aggregated)
        return fail_pos(c, s->having_pos, s->having_len,
                        "HAVING needs GROUP BY or an aggregate function");
    if (aggregated) {
        for (int i = 0; i < s->nitems; i++)
            if (check_grouped(c, s, s->items[i].expr) < 0)
                return -1;
        if (check_grouped(c, s, s->having) < 0)
            return -1;
        for (int i = 0; i < s->norder; i++)
            if (check_grouped(c, s, s->order[i].expr) < 0)
                return -1;
    } else {
        for (int i = 0; i < s->norder; i++)
            if (ast_has_agg(s->order[i].expr))
                return fail(c, s->order[i].expr, "ORDER BY an aggregate "
                            "needs GROUP BY or aggregates in the select list");
    }
    if (s->has_limit && s->limit > SEMA_MAX_LIMIT)
        return fail_pos(c, s->limit_pos, s->limit_len,
                        "LIMIT is too large (at most %d)", SEMA_MAX_LIMIT);
    return 0;
}

/* ---- options --------------------------------------------------------- */

enum optkind { OPT_STRING, OPT_DURATION_OR_COUNT, OPT_COUNT, OPT_BOOL,
               OPT_ALERT, OPT_ALERT_EVERY, OPT_ALERT_RATE };
static const struct {
    const char *key;
    int         kind;
} known_opts[] = {
    {"retention", OPT_DURATION_OR_COUNT},
    {"max_groups", OPT_COUNT},
    {"kafka_topic", OPT_STRING},
    {"elasticsearch_index", OPT_STRING},
    {"store", OPT_BOOL},
    {"description", OPT_STRING},
    {"alert", OPT_ALERT},             /* sinks/alert.h, docs/ALERTS.md */
    {"alert_every", OPT_ALERT_EVERY},
    {"alert_rate", OPT_ALERT_RATE},
};
#define NOPTS (sizeof(known_opts) / sizeof(known_opts[0]))

const char *sema_option(int i, const char *const **values)
{
    static const char *const durations[] = {"1h", "24h", "7d", "30d", NULL};
    static const char *const bools[] = {"true", "false", NULL};
    if (i < 0 || i >= (int)NOPTS)
        return NULL;
    if (values)
        *values = known_opts[i].kind == OPT_DURATION_OR_COUNT ? durations
                : known_opts[i].kind == OPT_BOOL ? bools : NULL;
    return known_opts[i].key;
}

static int all_digits(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s))
            return 0;
    return 1;
}

static int check_options(sctx_t *c, stmt_t *st)
{
    for (int i = 0; i < st->nopts; i++) {
        option_t *o = &st->opts[i];
        size_t k;
        for (k = 0; k < NOPTS; k++)
            if (strcmp(known_opts[k].key, o->key) == 0)
                break;
        if (k == NOPTS) {
            char list[200] = "";
            for (size_t j = 0; j < NOPTS; j++) {
                strcat(list, j ? ", " : "");
                strcat(list, known_opts[j].key);
            }
            return fail_pos(c, o->key_pos, o->key_len,
                            "unknown option '%s' (known: %s)", o->key, list);
        }
        for (int j = 0; j < i; j++)
            if (strcmp(st->opts[j].key, o->key) == 0)
                return fail_pos(c, o->key_pos, o->key_len,
                                "option '%s' given twice", o->key);
        int64_t ms;
        int n;
        char why[300];
        alert_target_t tgt[ALERT_MAX_TARGETS];
        switch (known_opts[k].kind) {
        case OPT_ALERT:
            if (alert_parse_targets(o->value, tgt, ALERT_MAX_TARGETS, why,
                                    sizeof(why)) < 0)
                return fail_pos(c, o->val_pos, o->val_len, "%s", why);
            break;
        case OPT_ALERT_EVERY:
            if (alert_parse_every(o->value, &ms) < 0)
                return fail_pos(c, o->val_pos, o->val_len,
                                "alert_every must be a duration such as "
                                "'10m', at most 30d ('0s': no "
                                "de-duplication)");
            break;
        case OPT_ALERT_RATE:
            if (alert_parse_rate(o->value, &n, &ms) < 0)
                return fail_pos(c, o->val_pos, o->val_len,
                                "alert_rate must be N/s, N/m or N/h with N "
                                "from 1 to 1000000, such as '60/m'");
            break;
        case OPT_DURATION_OR_COUNT:
            if (!(all_digits(o->value) && strlen(o->value) < 10 &&
                  atol(o->value) > 0) &&
                (duration_parse(o->value, strlen(o->value), &ms) < 0 ||
                 ms <= 0))
                return fail_pos(c, o->val_pos, o->val_len,
                                "%s must be a duration such as '24h' or a "
                                "number of windows", o->key);
            break;
        case OPT_COUNT:
            if (!all_digits(o->value) || strlen(o->value) > 9 ||
                atol(o->value) <= 0)
                return fail_pos(c, o->val_pos, o->val_len,
                                "%s must be a positive integer", o->key);
            break;
        case OPT_BOOL:
            if (strcmp(o->value, "true") && strcmp(o->value, "false") &&
                strcmp(o->value, "TRUE") && strcmp(o->value, "FALSE") &&
                strcmp(o->value, "1") && strcmp(o->value, "0"))
                return fail_pos(c, o->val_pos, o->val_len,
                                "%s must be true or false", o->key);
            break;
        default:
            if (strlen(o->value) > 255)
                return fail_pos(c, o->val_pos, o->val_len,
                                "%s is too long (at most 255 bytes)",
                                o->key);
        }
    }
    /* alert_every and alert_rate shape the alerts of alert: alone they
     * would do nothing, which is more likely a mistake. */
    int has_alert = 0;
    for (int i = 0; i < st->nopts; i++)
        has_alert |= strcmp(st->opts[i].key, "alert") == 0;
    for (int i = 0; i < st->nopts && !has_alert; i++)
        if (strncmp(st->opts[i].key, "alert_", 6) == 0)
            return fail_pos(c, st->opts[i].key_pos, st->opts[i].key_len,
                            "option '%s' needs the option alert",
                            st->opts[i].key);
    return 0;
}

static int check_name(sctx_t *c, stmt_t *st)
{
    const char *n = st->name;
    size_t len = strlen(n);
    int ok = len >= 1 && len <= 63 && (isalpha((unsigned char)n[0]));
    for (size_t i = 0; ok && i < len; i++)
        ok = isalnum((unsigned char)n[i]) || n[i] == '_';
    if (!ok)
        return fail_pos(c, st->name_pos, st->name_len,
                        "invalid query name '%s': use letters, digits and "
                        "'_', starting with a letter, at most 63 characters",
                        n);
    if (strncasecmp(n, "sqlite_", 7) == 0 || strncasecmp(n, "flowsql_", 8) == 0 ||
        strcasecmp(n, "flows") == 0)
        return fail_pos(c, st->name_pos, st->name_len,
                        "query name '%s' is reserved", n);
    return 0;
}

int sema_check(stmt_t *st, const char *text, arena_t *a, diag_t *err)
{
    sctx_t c = {.text = text, .a = a, .err = err};
    switch (st->kind) {
    case STMT_SELECT:
        return check_select(&c, st->select, 0);
    case STMT_CREATE:
        if (check_name(&c, st) < 0 || check_options(&c, st) < 0)
            return -1;
        return check_select(&c, st->select, 1);
    case STMT_DROP:
        return check_name(&c, st);
    case STMT_SHOW:
        return 0;
    case STMT_EXPLAIN:
        if (st->analyze && st->inner->kind == STMT_SELECT &&
            st->inner->select->window.present)
            return fail_pos(&c, st->inner->select->window.pos,
                            st->inner->select->window.len, "EXPLAIN ANALYZE "
                            "runs a query over the archive, which has no "
                            "WINDOW");
        if (st->analyze && st->inner->kind != STMT_SELECT)
            return fail_pos(&c, 0, 7, "EXPLAIN ANALYZE runs a query over the "
                            "archive: a SELECT FROM flows without WINDOW");
        return sema_check(st->inner, text, a, err);
    }
    return -1;
}
