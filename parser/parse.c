/*
 * parse.c - from statement text to syntax tree: the lexer loop that feeds
 * lemon, the grammar's actions, literal conversion, and syntax errors
 * that say what was expected.
 */
#include "parser/parse_int.h"
#include "util/ipaddr.h"
#include "util/timeutil.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define STR_(x) #x
#define XSTR(x) STR_(x)

/* ---- nodes ------------------------------------------------------------ */

ast_t *ast_new(arena_t *a, ast_kind_t k, int pos, int len)
{
    ast_t *x = arena_alloc(a, sizeof(*x));
    x->kind = k;
    x->pos = pos;
    x->len = len;
    x->depth = 1;
    x->field = -1;
    x->fn = -1;
    return x;
}

void ast_fix_depth(ast_t *x)
{
    int d = 0;
    if (x->a && x->a->depth > d) d = x->a->depth;
    if (x->b && x->b->depth > d) d = x->b->depth;
    if (x->c && x->c->depth > d) d = x->c->depth;
    for (int i = 0; i < x->nlist; i++)
        if (x->list[i]->depth > d)
            d = x->list[i]->depth;
    x->depth = d + 1;
}

ast_t *ast_unary(arena_t *a, ast_op_t op, ast_t *x, int pos, int len)
{
    ast_t *n = ast_new(a, A_UNARY, pos, len);
    n->op = op;
    n->a = x;
    ast_fix_depth(n);
    return n;
}

ast_t *ast_binary(arena_t *a, ast_op_t op, ast_t *x, ast_t *y, int pos,
                  int len)
{
    ast_t *n = ast_new(a, A_BINARY, pos, len);
    n->op = op;
    n->a = x;
    n->b = y;
    ast_fix_depth(n);
    return n;
}

void ast_list_add(arena_t *a, ast_t ***list, int *n, int *cap, ast_t *x)
{
    if (*n == *cap) {
        int nc = *cap ? *cap * 2 : 4;
        ast_t **nl = arena_alloc(a, sizeof(ast_t *) * (size_t)nc);
        if (*n)
            memcpy(nl, *list, sizeof(ast_t *) * (size_t)*n);
        *list = nl;
        *cap = nc;
    }
    (*list)[(*n)++] = x;
}

/* ---- helpers for actions ----------------------------------------------- */

static char *tok_text(pstate_t *ps, token_t t)
{
    return arena_strndup(ps->arena, ps->text + t.pos, (size_t)t.len);
}

/* Identifier text: plain names fold to lower case, "quoted" ones keep
 * their case and lose their quotes. */
static char *tok_name(pstate_t *ps, token_t t)
{
    const char *s = ps->text + t.pos;
    if (t.len >= 2 && s[0] == '"') {
        char *out = arena_alloc(ps->arena, (size_t)t.len);
        int n = 0;
        for (int i = 1; i < t.len - 1; i++) {
            out[n++] = s[i];
            if (s[i] == '"')
                i++;
        }
        out[n] = 0;
        return out;
    }
    char *out = tok_text(ps, t);
    for (char *p = out; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return out;
}

static int check_depth(pstate_t *ps, ast_t *x)
{
    if (x && x->depth > AST_MAX_DEPTH && !ps->failed) {
        diag_at(ps->err, ps->text, x->pos, x->len,
                "expression nested too deeply (more than %d levels)",
                AST_MAX_DEPTH);
        ps->failed = 1;
    }
    return ps->failed;
}

static void fail_at(pstate_t *ps, token_t t, const char *msg, const char *arg)
{
    if (ps->failed)
        return;
    diag_at(ps->err, ps->text, t.pos, t.len, msg, arg);
    ps->failed = 1;
}

/* ---- statements -------------------------------------------------------- */

stmt_t *ps_stmt(pstate_t *ps, stmt_kind_t k)
{
    stmt_t *st = arena_alloc(ps->arena, sizeof(*st));
    st->kind = k;
    return st;
}

void ps_explain(pstate_t *ps, int analyze)
{
    stmt_t *e = ps_stmt(ps, STMT_EXPLAIN);
    e->inner = ps->stmt;
    e->analyze = analyze;
    ps->stmt = e;
}

void ps_create(pstate_t *ps, token_t name, int if_not_exists)
{
    stmt_t *st = ps->stmt && ps->stmt->kind == STMT_CREATE
                     ? ps->stmt : ps_stmt(ps, STMT_CREATE);
    st->name = tok_name(ps, name);
    st->name_pos = name.pos;
    st->name_len = name.len;
    st->if_not_exists = if_not_exists;
    ps->stmt = st;
}

void ps_option(pstate_t *ps, token_t key, token_t val)
{
    /* Options come before ps_create() has run (lemon reduces the option
     * list first), so they collect on a CREATE statement made early. */
    if (!ps->stmt || ps->stmt->kind != STMT_CREATE)
        ps->stmt = ps_stmt(ps, STMT_CREATE);
    stmt_t *st = ps->stmt;
    if (st->nopts >= PARSE_MAX_OPTIONS) {
        fail_at(ps, key, "too many options (at most %s)",
                XSTR(PARSE_MAX_OPTIONS));
        return;
    }
    if (st->nopts == st->opts_cap) {
        int nc = st->opts_cap ? st->opts_cap * 2 : 4;
        option_t *n = arena_alloc(ps->arena, sizeof(option_t) * (size_t)nc);
        if (st->nopts)
            memcpy(n, st->opts, sizeof(option_t) * (size_t)st->nopts);
        st->opts = n;
        st->opts_cap = nc;
    }
    option_t *o = &st->opts[st->nopts++];
    o->key = tok_name(ps, key);
    o->key_pos = key.pos;
    o->key_len = key.len;
    o->val_pos = val.pos;
    o->val_len = val.len;
    const char *v = ps->text + val.pos;
    if (val.len >= 2 && v[0] == '\'') {
        char *out = arena_alloc(ps->arena, (size_t)val.len);
        int n = 0;
        for (int i = 1; i < val.len - 1; i++) {
            out[n++] = v[i];
            if (v[i] == '\'')
                i++;
        }
        out[n] = 0;
        o->value = out;
    } else if (val.len >= 2 && v[0] == '"') {
        o->value = tok_name(ps, val);
    } else {
        o->value = tok_text(ps, val);
    }
}

void ps_drop(pstate_t *ps, token_t name, int if_exists, int keep)
{
    stmt_t *st = ps_stmt(ps, STMT_DROP);
    st->name = tok_name(ps, name);
    st->name_pos = name.pos;
    st->name_len = name.len;
    st->if_exists = if_exists;
    st->keep_data = keep;
    ps->stmt = st;
}

void ps_select_begin(pstate_t *ps, token_t t)
{
    ps->sel = arena_alloc(ps->arena, sizeof(select_t));
    ps->sel->pos = t.pos;
    ps->sel->limit = -1;
}

void ps_from(pstate_t *ps, token_t t)
{
    ps->sel->from = tok_name(ps, t);
    ps->sel->from_pos = t.pos;
    ps->sel->from_len = t.len;
}

void ps_item(pstate_t *ps, ast_t *e, token_t *alias)
{
    select_t *s = ps->sel;
    if (check_depth(ps, e))
        return;
    if (s->nitems >= PARSE_MAX_COLUMNS) {
        fail_at(ps, (token_t){e->pos, e->len},
                "too many columns in the select list (at most %s)",
                XSTR(PARSE_MAX_COLUMNS));
        return;
    }
    if (s->nitems == s->items_cap) {
        int nc = s->items_cap ? s->items_cap * 2 : 8;
        sel_item_t *n = arena_alloc(ps->arena, sizeof(sel_item_t) * (size_t)nc);
        if (s->nitems)
            memcpy(n, s->items, sizeof(sel_item_t) * (size_t)s->nitems);
        s->items = n;
        s->items_cap = nc;
    }
    sel_item_t *it = &s->items[s->nitems++];
    it->expr = e;
    it->alias = alias ? tok_name(ps, *alias) : NULL;
    if (alias) {
        it->alias_pos = alias->pos;
        it->alias_len = alias->len;
    }
    it->pos = e->pos;
    it->len = e->len;
}

static int64_t tok_duration(pstate_t *ps, token_t t)
{
    int64_t ms;
    if (duration_parse(ps->text + t.pos, (size_t)t.len, &ms) < 0) {
        fail_at(ps, t, "duration out of range", NULL);
        return 0;
    }
    return ms;
}

void ps_window(pstate_t *ps, token_t w, token_t size)
{
    window_spec_t *ws = &ps->sel->window;
    ws->present = 1;
    ws->pos = w.pos;
    ws->len = w.len;
    ws->size = tok_duration(ps, size);
    ws->size_pos = size.pos;
    ws->size_len = size.len;
    if (!ws->slide) {
        ws->slide = ws->size;
        ws->slide_pos = size.pos;
        ws->slide_len = size.len;
    }
    if (!ws->time_explicit)
        ws->time_field = -1;   /* sema picks the default */
}

/* A string literal's text without its quotes ('' is one quote). */
static char *tok_string(pstate_t *ps, token_t t)
{
    const char *v = ps->text + t.pos;
    char *out = arena_alloc(ps->arena, (size_t)t.len);
    int n = 0;
    for (int i = 1; i < t.len - 1; i++) {
        out[n++] = v[i];
        if (v[i] == '\'')
            i++;
    }
    out[n] = 0;
    return out;
}

void ps_range_last(pstate_t *ps, token_t kw, token_t d)
{
    time_range_t *r = &ps->sel->range;
    r->kind = RANGE_LAST;
    r->pos = kw.pos;
    r->len = kw.len;
    r->last = tok_duration(ps, d);
    r->from_pos = d.pos;
    r->from_len = d.len;
}

void ps_range_since(pstate_t *ps, token_t kw, token_t t)
{
    time_range_t *r = &ps->sel->range;
    r->kind = RANGE_SINCE;
    r->pos = kw.pos;
    r->len = kw.len;
    r->from_text = tok_string(ps, t);
    r->from_pos = t.pos;
    r->from_len = t.len;
}

/* Reduced before ps_range_since (lemon reduces the inner rule first). */
void ps_range_until(pstate_t *ps, token_t kw, token_t t)
{
    time_range_t *r = &ps->sel->range;
    r->has_to = 1;
    r->to_text = tok_string(ps, t);
    r->to_pos = t.pos;
    r->to_len = t.len;
    r->until_pos = kw.pos;
    r->until_len = kw.len;
}

void ps_range_between(pstate_t *ps, token_t kw, token_t lo, token_t hi)
{
    time_range_t *r = &ps->sel->range;
    r->kind = RANGE_BETWEEN;
    r->pos = kw.pos;
    r->len = kw.len;
    r->from_text = tok_string(ps, lo);
    r->from_pos = lo.pos;
    r->from_len = lo.len;
    r->has_to = 1;
    r->to_text = tok_string(ps, hi);
    r->to_pos = hi.pos;
    r->to_len = hi.len;
}

void ps_slide(pstate_t *ps, token_t t)
{
    window_spec_t *ws = &ps->sel->window;
    ws->slide = tok_duration(ps, t);
    ws->slide_pos = t.pos;
    ws->slide_len = t.len;
    if (ws->slide == 0) {
        /* ps_window treats 0 as "no SLIDE"; keep the error visible */
        fail_at(ps, t, "SLIDE must be a positive duration", NULL);
    }
}

void ps_window_on(pstate_t *ps, token_t t)
{
    window_spec_t *ws = &ps->sel->window;
    ws->time_explicit = 1;
    ws->on_name = tok_name(ps, t);
    ws->on_pos = t.pos;
    ws->on_len = t.len;
}

void ps_lateness(pstate_t *ps, token_t kw, token_t t)
{
    window_spec_t *ws = &ps->sel->window;
    ws->lateness = tok_duration(ps, t);
    ws->has_lateness = 1;
    ws->lateness_pos = kw.pos;
    ws->lateness_len = t.pos + t.len - kw.pos;
}

void ps_group(pstate_t *ps, ast_t *e)
{
    if (check_depth(ps, e))
        return;
    if (ps->sel->ngroup >= PARSE_MAX_KEYS) {
        fail_at(ps, (token_t){e->pos, e->len},
                "too many GROUP BY expressions (at most %s)",
                XSTR(PARSE_MAX_KEYS));
        return;
    }
    ast_list_add(ps->arena, &ps->sel->group, &ps->sel->ngroup,
                 &ps->sel->group_cap, e);
}

void ps_having(pstate_t *ps, token_t kw, ast_t *e)
{
    ps->sel->having = e;
    ps->sel->having_pos = kw.pos;
    ps->sel->having_len = kw.len;
}

void ps_order(pstate_t *ps, ast_t *e, int desc)
{
    select_t *s = ps->sel;
    if (check_depth(ps, e))
        return;
    if (s->norder >= PARSE_MAX_KEYS) {
        fail_at(ps, (token_t){e->pos, e->len},
                "too many ORDER BY expressions (at most %s)",
                XSTR(PARSE_MAX_KEYS));
        return;
    }
    if (s->norder == s->order_cap) {
        int nc = s->order_cap ? s->order_cap * 2 : 4;
        order_item_t *n = arena_alloc(ps->arena, sizeof(order_item_t) * (size_t)nc);
        if (s->norder)
            memcpy(n, s->order, sizeof(order_item_t) * (size_t)s->norder);
        s->order = n;
        s->order_cap = nc;
    }
    s->order[s->norder].expr = e;
    s->order[s->norder].desc = desc;
    s->order[s->norder].item = -1;
    s->norder++;
}

static int parse_int(const char *s, int len, int64_t *out)
{
    char buf[64];
    if (len >= (int)sizeof(buf))
        return -1;
    memcpy(buf, s, (size_t)len);
    buf[len] = 0;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(buf, &end, 0);
    if (errno || *end || v > (unsigned long long)INT64_MAX)
        return -1;
    *out = (int64_t)v;
    return 0;
}

void ps_limit(pstate_t *ps, token_t t)
{
    select_t *s = ps->sel;
    s->has_limit = 1;
    s->limit_pos = t.pos;
    s->limit_len = t.len;
    if (parse_int(ps->text + t.pos, t.len, &s->limit) < 0)
        fail_at(ps, t, "LIMIT is too large (at most %s)",
                XSTR(SEMA_MAX_LIMIT));
}

/* ---- expressions -------------------------------------------------------- */

ast_t *ps_literal(pstate_t *ps, int tk, token_t t)
{
    const char *s = ps->text + t.pos;
    ast_t *x;
    switch (tk) {
    case TK_INTEGER:
        x = ast_new(ps->arena, A_INT, t.pos, t.len);
        x->type = TYPE_INT;
        if (parse_int(s, t.len, &x->v.i) < 0)
            fail_at(ps, t, "integer literal out of range (largest is "
                    "9223372036854775807)", NULL);
        return x;
    case TK_FLOAT: {
        x = ast_new(ps->arena, A_FLOAT, t.pos, t.len);
        x->type = TYPE_FLOAT;
        char *txt = tok_text(ps, t);
        x->v.f = strtod(txt, NULL);
        if (!isfinite(x->v.f))
            fail_at(ps, t, "number out of range (a float is at most about "
                    "1.8e308)", NULL);
        return x;
    }
    case TK_STRING: {
        x = ast_new(ps->arena, A_STRING, t.pos, t.len);
        x->type = TYPE_STRING;
        char *out = arena_alloc(ps->arena, (size_t)t.len);
        int n = 0;
        for (int i = 1; i < t.len - 1; i++) {
            out[n++] = s[i];
            if (s[i] == '\'')
                i++;
        }
        out[n] = 0;
        x->v.s = out;
        return x;
    }
    case TK_DURATION:
        x = ast_new(ps->arena, A_DURATION, t.pos, t.len);
        x->type = TYPE_DURATION;
        x->v.i = tok_duration(ps, t);
        return x;
    case TK_IPV4:
    case TK_IPV6: {
        x = ast_new(ps->arena, A_IP, t.pos, t.len);
        x->type = TYPE_IP;
        char *txt = tok_text(ps, t);
        if (ipaddr_parse(txt, &x->v.ip) < 0)
            fail_at(ps, t, "invalid IP address '%s'", txt);
        return x;
    }
    case TK_CIDR: {
        x = ast_new(ps->arena, A_CIDR, t.pos, t.len);
        x->type = TYPE_IP;
        char *txt = tok_text(ps, t);
        if (ipaddr_parse_cidr(txt, &x->v.ip, &x->prefix) < 0)
            fail_at(ps, t, "invalid network '%s' (expected address/prefix "
                    "length, e.g. 10.0.0.0/8 or 2001:db8::/32)", txt);
        return x;
    }
    case TK_TRUE:
    case TK_FALSE:
        x = ast_new(ps->arena, A_BOOL, t.pos, t.len);
        x->type = TYPE_BOOL;
        x->v.i = tk == TK_TRUE;
        return x;
    }
    x = ast_new(ps->arena, A_INT, t.pos, t.len);
    fail_at(ps, t, "unexpected literal", NULL);
    return x;
}

ast_t *ps_column(pstate_t *ps, token_t t)
{
    ast_t *x = ast_new(ps->arena, A_COLUMN, t.pos, t.len);
    x->name = tok_name(ps, t);
    return x;
}

ast_t *ps_func(pstate_t *ps, token_t name, ast_list_t *args, int distinct,
               token_t rp)
{
    ast_t *x = ast_new(ps->arena, A_FUNC, name.pos, rp.pos + rp.len - name.pos);
    x->name = tok_name(ps, name);
    x->distinct = distinct;
    if (args) {
        x->list = args->v;
        x->nlist = args->n;
    }
    ast_fix_depth(x);
    check_depth(ps, x);
    return x;
}

ast_t *ps_func_star(pstate_t *ps, token_t name, token_t star, token_t rp)
{
    ast_list_t *l = ps_list(ps, NULL, ast_new(ps->arena, A_STAR, star.pos,
                                              star.len));
    return ps_func(ps, name, l, 0, rp);
}

ast_t *ps_bin(pstate_t *ps, ast_op_t op, ast_t *x, ast_t *y, token_t t)
{
    ast_t *n = ast_binary(ps->arena, op, x, y, t.pos, t.len);
    check_depth(ps, n);
    return n;
}

ast_t *ps_un(pstate_t *ps, ast_op_t op, ast_t *x, token_t t)
{
    /* Fold -literal here so that -9223372036854775808 is not needed and
     * negative constants print as written. */
    if (op == OP_NEG && x->kind == A_INT) {
        x->v.i = -x->v.i;
        x->len = x->pos + x->len - t.pos;
        x->pos = t.pos;
        return x;
    }
    if (op == OP_NEG && x->kind == A_FLOAT) {
        x->v.f = -x->v.f;
        x->len = x->pos + x->len - t.pos;
        x->pos = t.pos;
        return x;
    }
    ast_t *n = ast_unary(ps->arena, op, x, t.pos, t.len);
    check_depth(ps, n);
    return n;
}

ast_t *ps_in(pstate_t *ps, ast_t *x, ast_list_t *l, ast_t *cidr, int neg,
             token_t t)
{
    ast_t *n = ast_new(ps->arena, A_IN, t.pos, t.len);
    n->a = x;
    n->c = cidr;
    n->negated = neg;
    if (l) {
        n->list = l->v;
        n->nlist = l->n;
    }
    ast_fix_depth(n);
    check_depth(ps, n);
    return n;
}

/* x IN name: a named network set, resolved by sema. */
ast_t *ps_in_set(pstate_t *ps, ast_t *x, token_t set, int neg)
{
    ast_t *n = ast_new(ps->arena, A_IN, set.pos, set.len);
    n->a = x;
    n->name = tok_name(ps, set);
    n->negated = neg;
    ast_fix_depth(n);
    check_depth(ps, n);
    return n;
}

ast_t *ps_between(pstate_t *ps, ast_t *x, ast_t *lo, ast_t *hi, int neg,
                  token_t t)
{
    ast_t *n = ast_new(ps->arena, A_BETWEEN, x->pos, t.pos - x->pos);
    n->a = x;
    n->b = lo;
    n->c = hi;
    n->negated = neg;
    ast_fix_depth(n);
    check_depth(ps, n);
    return n;
}

ast_t *ps_case(pstate_t *ps, ast_t *op, ast_list_t *l, ast_t *els, token_t t)
{
    ast_t *n = ast_new(ps->arena, A_CASE, t.pos, t.len);
    n->a = op;
    n->b = els;
    n->list = l->v;
    n->nlist = l->n;
    ast_fix_depth(n);
    check_depth(ps, n);
    return n;
}

ast_list_t *ps_list(pstate_t *ps, ast_list_t *l, ast_t *x)
{
    if (!l)
        l = arena_alloc(ps->arena, sizeof(*l));
    if (l->n >= PARSE_MAX_LIST) {
        fail_at(ps, (token_t){x->pos, x->len}, "list too long (at most %s "
                "items)", XSTR(PARSE_MAX_LIST));
        return l;
    }
    ast_list_add(ps->arena, &l->v, &l->n, &l->cap, x);
    return l;
}

/* Lemon's stack is full: parentheses or operators waiting for their
 * right-hand side nest deeper than YYSTACKDEPTH. */
void ps_overflow(pstate_t *ps)
{
    fail_at(ps, ps->tok, "expression nested too deeply", NULL);
}

/* ---- syntax errors ------------------------------------------------------- */

/* How an expected token is worded, in the order the words are listed:
 * what can start an expression, operators, keywords in the order they
 * appear in a statement, punctuation last. */
enum { W_EXPR = 1, W_BINOP = 2 };
static const struct {
    int         tk;
    const char *text;
    int         what;       /* W_EXPR: starts an expression;
                               W_BINOP: joins two expressions */
} tk_words[] = {
    {TK_ID, "a name", W_EXPR}, {TK_QUOTED_ID, "a name", W_EXPR},
    {TK_INTEGER, "an integer", W_EXPR}, {TK_FLOAT, "a number", W_EXPR},
    {TK_STRING, "a string", W_EXPR}, {TK_DURATION, "a duration", W_EXPR},
    {TK_IPV4, "an address", W_EXPR}, {TK_IPV6, "an address", W_EXPR},
    {TK_CIDR, "a network", W_EXPR}, {TK_TRUE, "TRUE", W_EXPR},
    {TK_FALSE, "FALSE", W_EXPR}, {TK_LP, "'('", W_EXPR},
    {TK_CASE, "CASE", W_EXPR}, {TK_BITNOT, "'~'", W_EXPR},
    {TK_MINUS, "'-'", W_EXPR | W_BINOP}, {TK_PLUS, "'+'", W_EXPR | W_BINOP},
    {TK_NOT, "NOT", W_EXPR | W_BINOP},
    {TK_STAR, "'*'", W_BINOP}, {TK_SLASH, "'/'", W_BINOP},
    {TK_REM, "'%'", W_BINOP}, {TK_BITAND, "'&'", W_BINOP},
    {TK_BITOR, "'|'", W_BINOP}, {TK_EQ, "'='", W_BINOP},
    {TK_NE, "'!='", W_BINOP}, {TK_LT, "'<'", W_BINOP},
    {TK_LE, "'<='", W_BINOP}, {TK_GT, "'>'", W_BINOP},
    {TK_GE, "'>='", W_BINOP}, {TK_IN, "IN", W_BINOP},
    {TK_BETWEEN, "BETWEEN", W_BINOP}, {TK_AND, "AND", W_BINOP},
    {TK_OR, "OR", W_BINOP},
    {TK_SELECT, "SELECT", 0}, {TK_CREATE, "CREATE", 0},
    {TK_DROP, "DROP", 0}, {TK_SHOW, "SHOW", 0}, {TK_EXPLAIN, "EXPLAIN", 0},
    {TK_ANALYZE, "ANALYZE", 0},
    {TK_QUERY, "QUERY", 0}, {TK_QUERIES, "QUERIES", 0}, {TK_IF, "IF", 0},
    {TK_EXISTS, "EXISTS", 0}, {TK_WITH, "WITH", 0}, {TK_KEEP, "KEEP DATA", 0},
    {TK_DATA, "DATA", 0}, {TK_DISTINCT, "DISTINCT", 0},
    {TK_WHEN, "WHEN", 0}, {TK_THEN, "THEN", 0}, {TK_ELSE, "ELSE", 0},
    {TK_END, "END", 0}, {TK_AS, "AS", 0}, {TK_FROM, "FROM", 0},
    {TK_LAST, "LAST", 0}, {TK_SINCE, "SINCE", 0}, {TK_UNTIL, "UNTIL", 0},
    {TK_WHERE, "WHERE", 0}, {TK_WINDOW, "WINDOW", 0},
    {TK_SLIDE, "SLIDE", 0}, {TK_ON, "ON", 0}, {TK_LATENESS, "LATENESS", 0},
    {TK_GROUP, "GROUP BY", 0}, {TK_BY, "BY", 0}, {TK_HAVING, "HAVING", 0},
    {TK_ORDER, "ORDER BY", 0}, {TK_ASC, "ASC", 0}, {TK_DESC, "DESC", 0},
    {TK_LIMIT, "LIMIT", 0}, {TK_COMMA, "','", 0}, {TK_RP, "')'", 0},
    {TK_SEMI, "';'", 0},
};
#define NWORDS (sizeof(tk_words) / sizeof(tk_words[0]))

/* Keywords that double as names (the grammar's %fallback list). */
static int is_fallback_kw(int tk)
{
    switch (tk) {
    case TK_QUERY: case TK_QUERIES: case TK_WINDOW: case TK_SLIDE:
    case TK_LATENESS: case TK_KEEP: case TK_DATA: case TK_SHOW:
    case TK_EXPLAIN: case TK_END: case TK_ON: case TK_LAST: case TK_SINCE:
    case TK_UNTIL: case TK_ANALYZE:
        return 1;
    }
    return 0;
}

static int is_clause_kw(int tk)
{
    return tk == TK_WHERE || tk == TK_WINDOW || tk == TK_GROUP ||
           tk == TK_HAVING || tk == TK_ORDER || tk == TK_LIMIT;
}

/* Words for what the parser would have taken instead: "an expression"
 * stands for everything that can start one, "an operator" for the binary
 * operators when more than two fit, "end of statement" for the end (and
 * a ';' before it). At most 10 items, "a, b or c". */
static void expected_text(pstate_t *ps, const unsigned char *ok, char *out,
                          size_t size)
{
    int expr = ok[TK_ID] && ok[TK_INTEGER];
    int nops = 0;
    for (size_t i = 0; i < NWORDS; i++)
        if (ok[tk_words[i].tk] && (tk_words[i].what & W_BINOP) &&
            !(expr && (tk_words[i].what & W_EXPR)))
            nops++;
    /* Inside BETWEEN x AND y, name the AND. */
    int and_required = ok[TK_AND] && ps->between_open > 0;
    if (and_required)
        nops--;
    const char *items[NWORDS + 3];
    int n = 0, said_ops = 0;
    if (expr)
        items[n++] = "an expression";
    if (and_required)
        items[n++] = "AND";
    for (size_t i = 0; i < NWORDS; i++) {
        int t = tk_words[i].tk, what = tk_words[i].what;
        if (!ok[t])
            continue;
        if (expr && (what & W_EXPR))
            continue;                   /* "an expression" */
        if (ok[TK_ID] && is_fallback_kw(t))
            continue;                   /* already "a name" */
        if (t == TK_SEMI && ok[0])
            continue;                   /* "end of statement" */
        if (t == TK_LP && nops > 2)
            continue;                   /* only to call a name */
        if ((t == TK_ID || t == TK_QUOTED_ID) && ok[TK_AS])
            continue;                   /* the alias AS introduces */
        if (t == TK_AND && and_required)
            continue;                   /* said first */
        const char *txt = tk_words[i].text;
        if (nops > 2 && (what & W_BINOP)) {
            if (said_ops)
                continue;
            said_ops = 1;
            txt = "an operator";
        }
        int dup = 0;
        for (int j = 0; j < n; j++)
            dup |= strcmp(items[j], txt) == 0;
        if (!dup)
            items[n++] = txt;
    }
    if (ok[0])
        items[n++] = "end of statement";

    size_t len = 0;
    out[0] = 0;
    if (n > 10)
        n = 10;
    for (int i = 0; i < n; i++) {
        const char *sep = i == 0 ? "" : i == n - 1 ? " or " : ", ";
        int w = snprintf(out + len, size - len, "%s%s", sep, items[i]);
        if (w < 0 || (size_t)w >= size - len)
            break;
        len += (size_t)w;
    }
}

/* Report a token the parser cannot take (major 0: the end of the text),
 * from the parser's state before that token. */
void ps_syntax_error(pstate_t *ps, int major, token_t tok, void *parser)
{
    if (ps->failed)
        return;
    ps->failed = 1;
    unsigned char ok[256] = {0};
    int ntok = fsql_ntokens();
    fsql_expected(parser, ok, ntok < 256 ? ntok : 256);
    char exp[400], kwhint[120];
    expected_text(ps, ok, exp, sizeof(exp));
    const char *hint = "", *what = "";
    const char *s = ps->text + tok.pos;
    if (major == TK_STAR && ps->prev_tk == TK_SELECT) {
        hint = " (SELECT * is not supported: name the fields you want)";
    } else if (major == TK_UNTIL && ps->seen_from) {
        hint = " (UNTIL ends a range that SINCE begins: FROM flows SINCE "
               "'2026-12-03 13:00' UNTIL '2026-12-03 14:00')";
    } else if ((major == TK_LAST || major == TK_SINCE) && ps->seen_from) {
        hint = " (a time range comes right after FROM flows, before WHERE: "
               "FROM flows LAST 1h WHERE ...)";
    } else if (is_clause_kw(major) && ps->seen_from &&
               !(ok[TK_ID] && ok[TK_INTEGER])) {
        hint = " (after FROM come a time range, WHERE, WINDOW, GROUP BY, "
               "HAVING, ORDER BY and LIMIT, in this order)";
    } else if (ok[TK_ID] && !ok[TK_INTEGER] && major != TK_ID &&
               major != TK_QUOTED_ID &&
               tok.len < 20 && isalpha((unsigned char)s[0])) {
        /* a keyword where a name could go */
        snprintf(kwhint, sizeof(kwhint), " (%.*s is a keyword: write "
                 "\"%.*s\" to use it as a name)", tok.len, s, tok.len, s);
        hint = kwhint;
    }
    if (major == TK_STRING)
        what = "string ";
    if (major == 0) {
        /* Just after the last token, not after trailing blanks. */
        int end = ps->prev_tk ? ps->tok.pos + ps->tok.len
                              : (int)strlen(ps->text);
        diag_at(ps->err, ps->text, end, 1, "unexpected end of statement%s%s",
                *exp ? ", expected " : "", exp);
    } else {
        int show = tok.len > 40 ? 40 : tok.len;
        const char *q = *what ? "" : "'";
        diag_at(ps->err, ps->text, tok.pos, tok.len,
                "syntax error at %s%s%.*s%s%s%s%s%s", what, q, show, s,
                show < tok.len ? "..." : "", q, *exp ? ", expected " : "",
                exp, hint);
    }
}

const char *ps_char_hint(int c)
{
    switch (c) {
    case '!': return " (use NOT, or != for not equal)";
    case '#': return " (comments start with --)";
    case '`': return " (quote names with \"double quotes\")";
    case '[': case ']': case '{': case '}':
        return " (lists are written in parentheses: IN (1, 2))";
    }
    return "";
}

/* Lexer errors for text that starts like a number but is none: says
 * which of hexadecimal number, duration or address it looks like. */
void ps_bad_literal(diag_t *err, const char *text, int pos, int len)
{
    const char *s = text + pos;
    int show = len > 40 ? 40 : len;
    const char *more = show < len ? "..." : "";
    int i = 0, dots = 0, other = 0;
    for (int j = 0; j < len; j++) {
        if (s[j] == '.')
            dots++;
        else if (!isdigit((unsigned char)s[j]))
            other++;
    }
    /* duration-like: digits, an optional fraction, then letters only */
    while (i < len && isdigit((unsigned char)s[i]))
        i++;
    if (i < len && s[i] == '.') {
        i++;
        while (i < len && isdigit((unsigned char)s[i]))
            i++;
    }
    int unit = i;
    while (i < len && isalpha((unsigned char)s[i]))
        i++;
    int duration = i == len && unit < len;
    /* or units run together: 1h30m */
    if (!dots && strspn(s, "0123456789mshd") == (size_t)len)
        duration = 1;

    if (len >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
        diag_at(err, text, pos, len, "malformed hexadecimal number '%.*s%s'",
                show, s, more);
    else if (duration)
        diag_at(err, text, pos, len, "invalid duration '%.*s%s' (write a "
                "whole number and a unit: 500ms, 10s, 5m, 1h or 2d)", show,
                s, more);
    else if (dots >= 2 && !other)
        diag_at(err, text, pos, len, "invalid address '%.*s%s'", show, s,
                more);
    else
        diag_at(err, text, pos, len, "malformed number '%.*s%s'", show, s,
                more);
}

/* ---- the driver ----------------------------------------------------------- */

stmt_t *parse(arena_t *a, const char *text, size_t len, diag_t *err)
{
    pstate_t ps = {.arena = a, .err = err};
    diag_clear(err);
    if (!text) {
        text = "";
        len = 0;
    }
    if (len > PARSE_MAX_TEXT) {
        diag_set(err, "statement too long (%zu bytes, at most %d)", len,
                 PARSE_MAX_TEXT);
        return NULL;
    }
    const char *nul = memchr(text, 0, len);
    /* Work on a NUL-terminated copy: the lexer's sentinel. */
    char *copy = arena_strndup(a, text, len);
    ps.text = copy;
    if (nul) {
        diag_at(err, copy, (int)(nul - text), 1, "unexpected NUL byte");
        return NULL;
    }
    void *parser = fsqlParseAlloc(malloc);
    if (!parser) {
        diag_set(err, "out of memory");
        return NULL;
    }
    int pos = 0, tk, ntokens = 0;
    token_t tok;
    do {
        tk = lex_next(copy, &pos, &tok, err);
        if (tk == TK_ILLEGAL) {
            ps.failed = 1;
            break;
        }
        if (tk == 0 && ntokens == 0) {
            diag_set(err, "empty statement");
            ps.failed = 1;
            break;
        }
        ntokens++;
        /* Refuse a token before lemon sees it, so the error is worded
         * from the state that could not take it (lemon would first make
         * its default reductions). */
        int accepts = fsql_accepts(parser, tk);
        if (!accepts) {
            ps_syntax_error(&ps, tk, tok, parser);
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
            /* The fuzzer checks that the simulation agrees with lemon:
             * lemon must refuse what it refused. */
            fsqlParse(parser, tk, tok, &ps);
            if (!ps.lemon_refused)
                abort();
#endif
            break;
        }
        ps.tok = tok;
        fsqlParse(parser, tk, tok, &ps);
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
        if (ps.lemon_refused)   /* ... and take what it accepted */
            abort();
#endif
        ps.prev_tk = tk;
        ps.seen_from |= tk == TK_FROM;
        if (tk == TK_BETWEEN)
            ps.between_open++;
        else if (tk == TK_AND && ps.between_open > 0)
            ps.between_open--;
    } while (tk != 0 && !ps.failed);
    fsqlParseFree(parser, free);
    if (ps.failed || !ps.stmt) {
        if (!err->set)
            diag_set(err, "syntax error");
        return NULL;
    }
    return ps.stmt;
}

/* What a statement reads, from its tokens alone: 1 a SELECT (or WITH,
 * VALUES) whose top-level FROM names something other than flows; 2 a
 * SELECT whose top-level FROM is flows; 0 anything else. */
static int select_source(const char *text, size_t len)
{
    diag_t err;
    diag_clear(&err);
    if (!text)
        return 0;
    if (len > PARSE_MAX_TEXT || memchr(text, 0, len))
        return 0;
    arena_t *a = arena_new();
    char *copy = arena_strndup(a, text, len);
    int pos = 0, tk, depth = 0, first = 1, after_from = 0, stored = 0,
        is_select = 0;
    token_t tok;
    while ((tk = lex_next(copy, &pos, &tok, &err)) != 0 && tk != TK_ILLEGAL) {
        if (first) {
            is_select = tk == TK_SELECT || tk == TK_WITH ||
                        (tk == TK_ID && tok.len == 6 &&
                         strncasecmp(copy + tok.pos, "values", 6) == 0);
            first = 0;
            if (!is_select)
                break;
            if (tk != TK_SELECT) {
                stored = 1;     /* WITH / VALUES are SQLite's alone */
                break;
            }
        }
        if (tk == TK_LP)
            depth++;
        else if (tk == TK_RP)
            depth--;
        else if (after_from) {
            stored = !(tk == TK_ID && tok.len == 5 &&
                       strncasecmp(copy + tok.pos, "flows", 5) == 0) ? 1 : 2;
            break;
        } else if (tk == TK_FROM && depth == 0) {
            after_from = 1;
        }
    }
    if (tk == TK_ILLEGAL && is_select && !after_from)
        stored = 1; /* SQLite syntax we do not lex: let SQLite judge it */
    arena_free(a);
    return stored;
}

int parse_is_stored_select(const char *text, size_t len)
{
    return select_source(text, len) == 1;
}

int parse_is_flows_select(const char *text, size_t len)
{
    return select_source(text, len) == 2;
}
