/*
 * plan.c - the planner: from a checked statement to the operator pipeline
 * (see plan.h), and EXPLAIN.
 */
#include "engine/plan.h"
#include "engine/func.h"
#include "engine/pushdown.h"
#include "engine/schema.h"
#include "util/counter.h"
#include "util/timeutil.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct pctx {
    plan_t  *p;
    select_t *s;
    int      agg_cap;
} pctx_t;

static int add_agg(pctx_t *c, const ast_t *f)
{
    plan_t *p = c->p;
    for (int i = 0; i < p->naggs; i++) {
        agg_spec_t *a = &p->aggs[i];
        const ast_t *arg = f->list[0]->kind == A_STAR ? NULL : f->list[0];
        if (a->fn == f->fn && a->distinct == f->distinct &&
            ((!a->arg && !arg) || (a->arg && arg && ast_equal(a->arg, arg))) &&
            (f->fn != FN_TOPK || a->k == f->list[1]->v.i))
            return i;
    }
    if (p->naggs == c->agg_cap) {
        int nc = c->agg_cap ? c->agg_cap * 2 : 8;
        agg_spec_t *n = arena_alloc(p->arena, sizeof(agg_spec_t) * (size_t)nc);
        if (p->naggs)
            memcpy(n, p->aggs, sizeof(agg_spec_t) * (size_t)p->naggs);
        p->aggs = n;
        c->agg_cap = nc;
    }
    agg_spec_t *a = &p->aggs[p->naggs];
    a->fn = f->fn;
    a->distinct = f->distinct;
    a->arg = f->list[0]->kind == A_STAR ? NULL : f->list[0];
    a->k = f->fn == FN_TOPK ? f->list[1]->v.i : 0;
    a->type = f->type;
    sbuf_t b = SBUF_INIT;
    ast_print(&b, f, NULL, NULL);
    a->text = arena_strdup(p->arena, sbuf_str(&b));
    sbuf_free(&b);
    return p->naggs++;
}

/* Copy an expression, replacing group keys by A_GROUPREF and aggregates
 * by A_AGGREF: the form it takes above the aggregate operator. */
static ast_t *lift(pctx_t *c, const ast_t *x)
{
    if (!x)
        return NULL;
    for (int i = 0; i < c->p->nkeys; i++)
        if (ast_equal(x, c->p->keys[i])) {
            ast_t *r = ast_new(c->p->arena, A_GROUPREF, x->pos, x->len);
            r->ref = i;
            r->type = x->type;
            return r;
        }
    if (x->kind == A_FUNC && x->is_agg) {
        ast_t *r = ast_new(c->p->arena, A_AGGREF, x->pos, x->len);
        r->ref = add_agg(c, x);
        r->type = x->type;
        return r;
    }
    ast_t *r = ast_new(c->p->arena, x->kind, x->pos, x->len);
    *r = *x;
    r->a = lift(c, x->a);
    r->b = lift(c, x->b);
    r->c = lift(c, x->c);
    if (x->nlist) {
        r->list = arena_alloc(c->p->arena, sizeof(ast_t *) * (size_t)x->nlist);
        for (int i = 0; i < x->nlist; i++)
            r->list[i] = lift(c, x->list[i]);
    }
    return r;
}

static void sanitize(char *s)
{
    for (char *p = s; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_')
            *p = '_';
        else
            *p = (char)tolower((unsigned char)*p);
}

/* The name of an output column without an alias. */
static const char *default_name(plan_t *p, const ast_t *x, int idx)
{
    if (x->kind == A_COLUMN)
        return schema_fields[x->field].name;
    if (x->kind == A_FUNC) {
        const ast_t *a0 = x->nlist ? x->list[0] : NULL;
        const char *arg = a0 && a0->kind == A_COLUMN
                              ? schema_fields[a0->field].name : NULL;
        char *n;
        if (x->distinct)
            n = arg ? arena_printf(p->arena, "%s_distinct_%s", x->name, arg)
                    : arena_printf(p->arena, "%s_distinct", x->name);
        else
            n = arg ? arena_printf(p->arena, "%s_%s", x->name, arg)
                    : arena_strdup(p->arena, x->name);
        sanitize(n);
        return n;
    }
    return arena_printf(p->arena, "col%d", idx + 1);
}

static int name_taken(const plan_t *p, int upto, const char *n)
{
    if (strcasecmp(n, "window_start") == 0 || strcasecmp(n, "window_end") == 0)
        return 1;
    for (int j = 0; j < upto; j++)
        if (strcasecmp(p->cols[j].name, n) == 0)
            return 1;
    return 0;
}

/* Output names are unique (case-insensitively, as SQLite compares them):
 * a repeated name gets _2, _3... Each column remembers the next suffix
 * for its base name, so a thousand count(*) cost no more than a
 * thousand comparisons each. */
static void name_columns(plan_t *p, select_t *s)
{
    const char **base = arena_alloc(p->arena, sizeof(char *) * (size_t)(p->ncols + 1));
    int *next = arena_alloc(p->arena, sizeof(int) * (size_t)(p->ncols + 1));
    for (int i = 0; i < p->ncols; i++) {
        base[i] = s->items[i].alias ? s->items[i].alias
                                    : default_name(p, s->items[i].expr, i);
        const char *n = base[i];
        int k = 2;
        if (name_taken(p, i, n)) {
            for (int j = 0; j < i; j++)
                if (next[j] > k && strcasecmp(base[j], base[i]) == 0)
                    k = next[j];
            do
                n = arena_printf(p->arena, "%s_%d", base[i], k++);
            while (name_taken(p, i, n));
        }
        next[i] = k;
        p->cols[i].name = n;
    }
}


static void build(plan_t *p, stmt_t *st, int64_t default_max_groups)
{
    select_t *s = st->select;
    pctx_t c = {.p = p, .s = s};
    p->continuous = s->window.present;
    p->filter = s->where;
    p->window = s->window;
    p->range = s->range;
    p->limit = s->has_limit ? s->limit : -1;
    p->max_groups = default_max_groups > 0 ? default_max_groups
                                           : PLAN_DEFAULT_MAX_GROUPS;
    const char *mg = plan_option(p, "max_groups");
    if (mg)
        p->max_groups = atoll(mg);

    int aggregated = s->ngroup > 0 || s->having;
    for (int i = 0; i < s->nitems && !aggregated; i++)
        aggregated = ast_has_agg(s->items[i].expr);
    p->mode = aggregated ? PLAN_AGGREGATE : PLAN_ROWS;

    p->nkeys = s->ngroup;
    p->keys = s->group;
    p->key_names = arena_alloc(p->arena, sizeof(char *) * (size_t)(s->ngroup + 1));
    p->ncols = s->nitems;
    p->cols = arena_alloc(p->arena, sizeof(plan_col_t) * (size_t)s->nitems);
    name_columns(p, s);
    for (int i = 0; i < s->nitems; i++) {
        plan_col_t *col = &p->cols[i];
        col->type = s->items[i].expr->type;
        col->key = -1;
        col->expr = aggregated ? lift(&c, s->items[i].expr) : s->items[i].expr;
        if (col->expr->kind == A_GROUPREF)
            col->key = col->expr->ref;
    }
    /* A key's display name: the output column that shows it, else its
     * expression text. */
    for (int k = 0; k < p->nkeys; k++) {
        sbuf_t b = SBUF_INIT;
        ast_print(&b, p->keys[k], NULL, NULL);
        p->key_names[k] = arena_strdup(p->arena, sbuf_str(&b));
        sbuf_free(&b);
    }
    if (aggregated)
        p->having = lift(&c, s->having);
    p->norder = s->norder;
    p->order = arena_alloc(p->arena, sizeof(plan_order_t) * (size_t)(s->norder + 1));
    for (int i = 0; i < s->norder; i++) {
        p->order[i].desc = s->order[i].desc;
        p->order[i].col = s->order[i].item;
        if (p->order[i].col < 0)
            for (int j = 0; j < s->nitems; j++)
                if (ast_equal(s->order[i].expr, s->items[j].expr)) {
                    p->order[i].col = j;
                    break;
                }
        p->order[i].expr = p->order[i].col >= 0
                               ? p->cols[p->order[i].col].expr
                               : aggregated ? lift(&c, s->order[i].expr)
                                            : s->order[i].expr;
    }
}

static counter_t compiles;

uint64_t plan_compiles(void)
{
    return ctr_get(&compiles);
}

plan_t *plan_compile(const char *text, size_t len, int64_t default_max_groups,
                     diag_t *err)
{
    ctr_inc(&compiles);
    arena_t *a = arena_new();
    stmt_t *st = parse(a, text, len, err);
    if (!st) {
        arena_free(a);
        return NULL;
    }
    plan_t *p = arena_alloc(a, sizeof(*p));
    p->arena = a;
    p->text = arena_strndup(a, text, len);
    p->stmt = st;
    if (sema_check(st, p->text, a, err) < 0) {
        arena_free(a);
        return NULL;
    }
    stmt_t *t = st->kind == STMT_EXPLAIN ? st->inner : st;
    if (t->kind == STMT_CREATE) {
        p->name = t->name;
        p->opts = t->opts;
        p->nopts = t->nopts;
    }
    if (t->select)
        build(p, t, default_max_groups);
    return p;
}

const stmt_t *plan_target(const plan_t *p)
{
    return p->stmt->kind == STMT_EXPLAIN ? p->stmt->inner : p->stmt;
}

const char *plan_option(const plan_t *p, const char *key)
{
    for (int i = 0; i < p->nopts; i++)
        if (strcmp(p->opts[i].key, key) == 0)
            return p->opts[i].value;
    return NULL;
}

void plan_free(plan_t *p)
{
    if (p)
        arena_free(p->arena);
}

/* ---- EXPLAIN ---------------------------------------------------------- */

static void line(sbuf_t *out, const char *op)
{
    sbuf_printf(out, "  %-10s ", op);
}

static const char *time_name(int f)
{
    return f == F_END ? "flow end time"
         : f == F_START ? "flow start time" : "receive time";
}

/* The scan line of a query over the archive: which received times. */
static void explain_range(const plan_t *p, const scan_spec_t *s, int relative,
                          sbuf_t *out)
{
    char b1[40], b2[40], b3[40];
    const time_range_t *r = &p->range;
    line(out, "scan");
    sbuf_add(out, "archive, ");
    if (r->kind == RANGE_NONE)
        sbuf_add(out, "every flow kept (no time range)");
    else if (r->kind == RANGE_LAST && relative)
        sbuf_printf(out, "flows received in the last %s",
                    duration_format(r->last, b1, sizeof(b1)));
    else if (r->kind == RANGE_LAST)
        sbuf_printf(out, "flows received in the last %s, between %s and %s",
                    duration_format(r->last, b3, sizeof(b3)),
                    time_format_iso(s->range_lo, b1, sizeof(b1)),
                    time_format_iso(s->range_hi, b2, sizeof(b2)));
    else if (r->kind == RANGE_BETWEEN)
        sbuf_printf(out, "flows received between %s and %s",
                    time_format_iso(s->range_lo, b1, sizeof(b1)),
                    time_format_iso(s->range_hi, b2, sizeof(b2)));
    else if (!r->has_to && r->kind == RANGE_SINCE)
        sbuf_printf(out, "flows received since %s",
                    time_format_iso(s->range_lo, b1, sizeof(b1)));
    else
        sbuf_printf(out, "flows received from %s until %s",
                    time_format_iso(s->range_lo, b1, sizeof(b1)),
                    time_format_iso(s->range_hi + 1, b2, sizeof(b2)));
    sbuf_addc(out, '\n');
    line(out, "columns");
    int n = 0;
    for (int f = 0; f < F_COUNT; f++)
        if (s->fields >> f & 1)
            sbuf_printf(out, "%s%s", n++ ? ", " : "", schema_fields[f].name);
    if (!n)
        sbuf_add(out, "none (only the number of flows)");
    sbuf_addc(out, '\n');
    scan_spec_explain(s, p, relative, out);
}

void plan_explain(const plan_t *p, sbuf_t *out)
{
    const stmt_t *t = plan_target(p);
    if (t->kind == STMT_SELECT && !p->continuous) {
        /* plan_explain takes a const plan; the scan is built in its
         * arena like the rest of it. */
        scan_spec_t *s = pushdown_build((plan_t *)p, 0);
        plan_explain_scan(p, s, 1, out);
        return;
    }
    plan_explain_scan(p, NULL, 1, out);
}

void plan_explain_scan(const plan_t *p, const scan_spec_t *scan,
                       int relative, sbuf_t *out)
{
    const stmt_t *t = plan_target(p);
    char b1[32], b2[32];
    if (t->kind == STMT_DROP) {
        sbuf_printf(out, "drop query %s%s\n", t->name,
                    t->keep_data ? " (keep its stored windows)"
                                 : " and its stored windows");
        return;
    }
    if (t->kind == STMT_SHOW) {
        sbuf_add(out, "list registered queries\n");
        return;
    }
    if (t->kind == STMT_CREATE)
        sbuf_printf(out, "continuous query %s\n", t->name);
    else if (p->continuous)
        sbuf_add(out, "continuous query (temporary)\n");
    else
        sbuf_add(out, "query over the archive (raw flows), one answer\n");

    const char *const *kn = p->key_names;
    const char **an = arena_alloc(p->arena, sizeof(char *) * (size_t)(p->naggs + 1));
    for (int i = 0; i < p->naggs; i++)
        an[i] = p->aggs[i].text;

    if (scan) {
        explain_range(p, scan, relative, out);
    } else {
        line(out, "scan");
        sbuf_add(out, "flows\n");
    }
    if (p->filter) {
        line(out, "filter");
        ast_print(out, p->filter, NULL, NULL);
        sbuf_addc(out, '\n');
    }
    if (p->window.present) {
        const window_spec_t *w = &p->window;
        line(out, "window");
        if (w->slide == w->size)
            sbuf_printf(out, "tumbling %s",
                        duration_format(w->size, b1, sizeof(b1)));
        else
            sbuf_printf(out, "hopping %s, slide %s (%lld panes)",
                        duration_format(w->size, b1, sizeof(b1)),
                        duration_format(w->slide, b2, sizeof(b2)),
                        (long long)(w->size / w->slide));
        sbuf_printf(out, ", by %s", time_name(w->time_field));
        if (w->time_field != F_RECEIVED)
            sbuf_printf(out, ", lateness %s",
                        duration_format(w->lateness, b1, sizeof(b1)));
        sbuf_addc(out, '\n');
    }
    if (p->mode == PLAN_AGGREGATE) {
        line(out, "aggregate");
        if (p->nkeys) {
            sbuf_add(out, "hash by ");
            for (int i = 0; i < p->nkeys; i++)
                sbuf_printf(out, "%s%s", i ? ", " : "", kn[i]);
        } else {
            sbuf_add(out, "one group");
        }
        for (int i = 0; i < p->naggs; i++)
            sbuf_printf(out, "%s%s", i ? ", " : ": ", an[i]);
        if (p->nkeys)
            sbuf_printf(out, " (at most %lld groups%s)",
                        (long long)p->max_groups, scan ? "" : " per window");
        sbuf_addc(out, '\n');
        if (p->having) {
            line(out, "having");
            ast_print(out, p->having, kn, an);
            sbuf_addc(out, '\n');
        }
    } else if (scan) {
        line(out, "collect");
        sbuf_add(out, p->norder ? "matching flows\n"
                                : "matching flows, each a row as it is read\n");
    } else {
        line(out, "collect");
        sbuf_printf(out, "matching flows (at most %lld rows per window)\n",
                    (long long)p->max_groups);
    }
    line(out, "project");
    for (int i = 0; i < p->ncols; i++) {
        sbuf_t e = SBUF_INIT;
        ast_print(&e, p->cols[i].expr, kn, an);
        sbuf_printf(out, "%s%s", i ? ", " : "", sbuf_str(&e));
        if (strcmp(sbuf_str(&e), p->cols[i].name) != 0)
            sbuf_printf(out, " AS %s", p->cols[i].name);
        sbuf_free(&e);
    }
    sbuf_addc(out, '\n');
    if (p->norder) {
        line(out, "order");
        for (int i = 0; i < p->norder; i++) {
            if (i)
                sbuf_add(out, ", ");
            if (p->order[i].col >= 0)
                sbuf_add(out, p->cols[p->order[i].col].name);
            else
                ast_print(out, p->order[i].expr, kn, an);
            sbuf_add(out, p->order[i].desc ? " DESC" : " ASC");
        }
        if (p->limit >= 0)
            sbuf_printf(out, ", top %lld by bounded heap", (long long)p->limit);
        else if (scan)
            sbuf_add(out, ", top --adhoc-rows by bounded heap");
        sbuf_addc(out, '\n');
    } else if (p->limit >= 0) {
        line(out, "limit");
        sbuf_printf(out, "%lld (first rows, in no particular order)\n",
                    (long long)p->limit);
    }
    line(out, "output");
    if (!scan)
        sbuf_add(out, "window_start time, window_end time");
    for (int i = 0; i < p->ncols; i++)
        sbuf_printf(out, "%s%s %s", i || !scan ? ", " : "", p->cols[i].name,
                    type_name(p->cols[i].type));
    sbuf_addc(out, '\n');
    if (p->nopts) {
        line(out, "with");
        for (int i = 0; i < p->nopts; i++) {
            const char *v = p->opts[i].value;
            int plain = *v != 0;
            for (const char *c = v; *c; c++)
                plain &= isalnum((unsigned char)*c) || *c == '_' || *c == '.';
            sbuf_printf(out, "%s%s = ", i ? ", " : "", p->opts[i].key);
            if (plain) {
                sbuf_add(out, v);
                continue;
            }
            sbuf_addc(out, '\'');
            for (const char *c = v; *c; c++) {
                if (*c == '\'')
                    sbuf_addc(out, '\'');
                sbuf_addc(out, *c);
            }
            sbuf_addc(out, '\'');
        }
        sbuf_addc(out, '\n');
    }
}
