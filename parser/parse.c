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

void ps_explain(pstate_t *ps)
{
    stmt_t *e = ps_stmt(ps, STMT_EXPLAIN);
    e->inner = ps->stmt;
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

void ps_lateness(pstate_t *ps, token_t t)
{
    ps->sel->window.lateness = tok_duration(ps, t);
    ps->sel->window.has_lateness = 1;
}

void ps_group(pstate_t *ps, ast_t *e)
{
    if (check_depth(ps, e))
        return;
    ast_list_add(ps->arena, &ps->sel->group, &ps->sel->ngroup,
                 &ps->sel->group_cap, e);
}

void ps_order(pstate_t *ps, ast_t *e, int desc)
{
    select_t *s = ps->sel;
    if (check_depth(ps, e))
        return;
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
        fail_at(ps, t, "LIMIT out of range", NULL);
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
            fail_at(ps, t, "number out of range", NULL);
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
    if (l->n >= 100000) {
        fail_at(ps, (token_t){x->pos, x->len}, "list too long", NULL);
        return l;
    }
    ast_list_add(ps->arena, &l->v, &l->n, &l->cap, x);
    return l;
}

void ps_overflow(pstate_t *ps)
{
    if (!ps->failed)
        diag_set(ps->err, "statement nested too deeply");
    ps->failed = 1;
}

/* ---- syntax errors ------------------------------------------------------- */

static const struct {
    int         tk;
    const char *text;
} tk_names[] = {
    {TK_SELECT, "SELECT"}, {TK_FROM, "FROM"}, {TK_WHERE, "WHERE"},
    {TK_GROUP, "GROUP BY"}, {TK_BY, "BY"}, {TK_HAVING, "HAVING"},
    {TK_ORDER, "ORDER BY"}, {TK_ASC, "ASC"}, {TK_DESC, "DESC"},
    {TK_LIMIT, "LIMIT"}, {TK_WINDOW, "WINDOW"}, {TK_SLIDE, "SLIDE"},
    {TK_ON, "ON"}, {TK_LATENESS, "LATENESS"}, {TK_CREATE, "CREATE"},
    {TK_QUERY, "QUERY"}, {TK_QUERIES, "QUERIES"}, {TK_WITH, "WITH"},
    {TK_AS, "AS"}, {TK_DROP, "DROP"}, {TK_SHOW, "SHOW"},
    {TK_EXPLAIN, "EXPLAIN"}, {TK_IF, "IF"}, {TK_EXISTS, "EXISTS"},
    {TK_KEEP, "KEEP"}, {TK_DATA, "DATA"}, {TK_AND, "AND"}, {TK_OR, "OR"},
    {TK_NOT, "NOT"}, {TK_IN, "IN"}, {TK_BETWEEN, "BETWEEN"},
    {TK_CASE, "CASE"}, {TK_WHEN, "WHEN"}, {TK_THEN, "THEN"},
    {TK_ELSE, "ELSE"}, {TK_END, "END"}, {TK_DISTINCT, "DISTINCT"},
    {TK_TRUE, "TRUE"}, {TK_FALSE, "FALSE"}, {TK_DURATION, "a duration"},
    {TK_INTEGER, "an integer"}, {TK_FLOAT, "a number"},
    {TK_STRING, "a string"}, {TK_IPV4, "an address"},
    {TK_IPV6, "an address"}, {TK_CIDR, "a network"}, {TK_ID, "a name"},
    {TK_QUOTED_ID, "a name"}, {TK_LP, "'('"}, {TK_RP, "')'"},
    {TK_COMMA, "','"}, {TK_SEMI, "';'"}, {TK_STAR, "'*'"},
    {TK_PLUS, "'+'"}, {TK_MINUS, "'-'"}, {TK_SLASH, "'/'"},
    {TK_REM, "'%'"}, {TK_BITAND, "'&'"}, {TK_BITOR, "'|'"},
    {TK_BITNOT, "'~'"}, {TK_EQ, "'='"}, {TK_NE, "'!='"}, {TK_LT, "'<'"},
    {TK_LE, "'<='"}, {TK_GT, "'>'"}, {TK_GE, "'>='"},
};

static const char *tk_text(int tk)
{
    for (size_t i = 0; i < sizeof(tk_names) / sizeof(tk_names[0]); i++)
        if (tk_names[i].tk == tk)
            return tk_names[i].text;
    return NULL;
}

static int is_operator(int tk)
{
    switch (tk) {
    case TK_AND: case TK_OR: case TK_EQ: case TK_NE: case TK_LT:
    case TK_LE: case TK_GT: case TK_GE: case TK_PLUS: case TK_MINUS:
    case TK_STAR: case TK_SLASH: case TK_REM: case TK_BITAND:
    case TK_BITOR: case TK_IN: case TK_NOT: case TK_BETWEEN:
        return 1;
    }
    return 0;
}

static int is_expr_start(int tk)
{
    switch (tk) {
    case TK_INTEGER: case TK_FLOAT: case TK_STRING: case TK_DURATION:
    case TK_IPV4: case TK_IPV6: case TK_CIDR: case TK_TRUE: case TK_FALSE:
    case TK_ID: case TK_QUOTED_ID: case TK_LP: case TK_MINUS: case TK_PLUS:
    case TK_NOT: case TK_BITNOT: case TK_CASE:
        return 1;
    }
    return 0;
}

/* Keywords that double as names (the grammar's %fallback list). */
static int is_fallback_kw(int tk)
{
    switch (tk) {
    case TK_QUERY: case TK_QUERIES: case TK_WINDOW: case TK_SLIDE:
    case TK_LATENESS: case TK_KEEP: case TK_DATA: case TK_SHOW:
    case TK_EXPLAIN: case TK_END: case TK_ON:
        return 1;
    }
    return 0;
}

void ps_syntax_error(pstate_t *ps, int major, token_t tok, void *parser)
{
    if (ps->failed)
        return;
    ps->failed = 1;
    unsigned char ok[256] = {0};
    int ntok = fsql_ntokens();
    fsql_expected(parser, ok, ntok < 256 ? ntok : 256);

    int expr = ok[TK_ID] && ok[TK_INTEGER];
    int nops = 0;
    for (int t = 1; t < ntok && t < 256; t++)
        if (ok[t] && is_operator(t))
            nops++;
    const char *items[24];
    int n = 0;
    for (int t = 1; t < ntok && t < 256 && n < 24; t++) {
        if (!ok[t])
            continue;
        if (ok[TK_ID] && is_fallback_kw(t))
            continue;                    /* already "a name" */
        if (expr && is_expr_start(t) && t != TK_ID)
            continue;                    /* folded into "an expression" */
        if (nops > 2 && is_operator(t))
            continue;                    /* folded into "an operator" */
        if (t == TK_QUOTED_ID || t == TK_IPV6 || t == TK_BY)
            continue;                    /* said by a sibling */
        const char *txt = t == TK_ID && expr ? "an expression" : tk_text(t);
        if (!txt)
            continue;
        int dup = 0;
        for (int i = 0; i < n; i++)
            dup |= strcmp(items[i], txt) == 0;
        if (!dup)
            items[n++] = txt;
    }
    if (nops > 2 && n < 24)
        items[n++] = "an operator";

    char exp[400] = "";
    size_t len = 0;
    for (int i = 0; i < n && i < 8; i++) {
        const char *sep = i == 0 ? "" : (i == n - 1 || i == 7) ? " or " : ", ";
        int w = snprintf(exp + len, sizeof(exp) - len, "%s%s", sep, items[i]);
        if (w < 0 || (size_t)w >= sizeof(exp) - len)
            break;
        len += (size_t)w;
    }
    if (major == 0) {
        int end = (int)strlen(ps->text);
        diag_at(ps->err, ps->text, end, 1, "unexpected end of statement%s%s",
                n ? ", expected " : "", exp);
    } else {
        diag_at(ps->err, ps->text, tok.pos, tok.len,
                "syntax error at '%.*s'%s%s", tok.len > 40 ? 40 : tok.len,
                ps->text + tok.pos, n ? ", expected " : "", exp);
    }
}

/* ---- the driver ----------------------------------------------------------- */

stmt_t *parse(arena_t *a, const char *text, size_t len, diag_t *err)
{
    pstate_t ps = {.arena = a, .err = err};
    diag_clear(err);
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
        fsqlParse(parser, tk, tok, &ps);
    } while (tk != 0 && !ps.failed);
    fsqlParseFree(parser, free);
    if (ps.failed || !ps.stmt) {
        if (!err->set)
            diag_set(err, "syntax error");
        return NULL;
    }
    return ps.stmt;
}

int parse_is_stored_select(const char *text, size_t len)
{
    diag_t err;
    diag_clear(&err);
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
                       strncasecmp(copy + tok.pos, "flows", 5) == 0);
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
