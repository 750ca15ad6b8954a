/*
 * pushdown.c - the conditions a query over the archive gives its scan;
 * see pushdown.h.
 */
#include "engine/pushdown.h"
#include "engine/schema.h"
#include "util/timeutil.h"

#include <stdlib.h>
#include <string.h>

/* ---- values --------------------------------------------------------------- */

static int is_ip_field(int f)
{
    return schema_fields[f].type == TYPE_IP;
}

static int vcmp(int f, const value_t *a, const value_t *b)
{
    if (is_ip_field(f))
        return ipaddr_cmp(&a->ip, &b->ip);
    return a->i < b->i ? -1 : a->i > b->i;
}

static value_t vmin(int f)
{
    value_t v;
    memset(&v, 0, sizeof(v));
    if (!is_ip_field(f))
        v.i = INT64_MIN;
    return v;
}

static value_t vmax(int f)
{
    value_t v;
    memset(&v, 0xff, sizeof(v));
    if (!is_ip_field(f)) {
        memset(&v, 0, sizeof(v));
        v.i = INT64_MAX;
    }
    return v;
}

/* A constant the scan can compare with field f, into *v: an address for
 * an address field, an integer (or time, duration) for an integer one. */
static int const_of(int f, const ast_t *x, value_t *v)
{
    memset(v, 0, sizeof(*v));
    if (is_ip_field(f)) {
        if (x->kind != A_IP)
            return 0;
        v->ip = x->v.ip;
        return 1;
    }
    if (x->kind == A_INT || x->kind == A_DURATION) {
        v->i = x->v.i;
        return 1;
    }
    if (x->kind == A_UNARY && x->op == OP_NEG && x->a &&
        (x->a->kind == A_INT || x->a->kind == A_DURATION) &&
        x->a->v.i != INT64_MIN) {
        v->i = -x->a->v.i;
        return 1;
    }
    return 0;
}

/* A stored field named by x, or -1. */
static int stored_field(const ast_t *x)
{
    if (!x || x->kind != A_COLUMN || x->field < 0 || x->field >= F_COUNT ||
        schema_fields[x->field].is_virtual)
        return -1;
    return x->field;
}

/* The addresses of a network: [net, net | host bits]. */
static void cidr_bounds(const ast_t *c, value_t *lo, value_t *hi)
{
    memset(lo, 0, sizeof(*lo));
    memset(hi, 0, sizeof(*hi));
    lo->ip = c->v.ip;
    hi->ip = c->v.ip;
    for (int b = c->prefix < 0 ? 0 : c->prefix; b < 128; b++)
        hi->ip.a[b / 8] |= (uint8_t)(0x80 >> (b % 8));
}

/* ---- building atoms ----------------------------------------------------- */

typedef struct builder {
    plan_t        *p;
    scan_atom_t    atoms[SCAN_MAX_ATOMS];
    int            natoms;
} builder_t;

static scan_atom_t *new_atom(builder_t *b, int f, int kind)
{
    if (b->natoms >= SCAN_MAX_ATOMS)
        return NULL;
    scan_atom_t *a = &b->atoms[b->natoms++];
    memset(a, 0, sizeof(*a));
    a->field = f;
    a->kind = kind;
    return a;
}

static int add_range(builder_t *b, int f, value_t lo, value_t hi)
{
    scan_atom_t *a = new_atom(b, f, ATOM_RANGE);
    if (!a)
        return 0;
    a->lo = lo;
    a->hi = hi;
    return 1;
}

static int vals_cmp(const void *x, const void *y, void *f)
{
    return vcmp(*(const int *)f, x, y);
}

/* A set of values of field f (sorted, duplicates removed). */
static int add_set(builder_t *b, int f, value_t *vals, int n)
{
    if (n < 1 || n > SCAN_MAX_SET)
        return 0;
    scan_atom_t *a = new_atom(b, f, ATOM_SET);
    if (!a)
        return 0;
    qsort_r(vals, (size_t)n, sizeof(value_t), vals_cmp, &f);
    int m = 0;
    for (int i = 0; i < n; i++)
        if (m == 0 || vcmp(f, &vals[m - 1], &vals[i]) != 0)
            vals[m++] = vals[i];
    a->vals = arena_alloc(b->p->arena, sizeof(value_t) * (size_t)m);
    memcpy(a->vals, vals, sizeof(value_t) * (size_t)m);
    a->nvals = m;
    a->lo = vals[0];
    a->hi = vals[m - 1];
    return 1;
}

/* x as atoms of one clause (an OR of them), appended to b. 1 if x is
 * fully described by what was added (so the clause is true whenever x
 * is), 0 if not (the caller drops the clause). */
static int atoms_of(builder_t *b, const ast_t *x, int depth);

/* The most useful conjunct of an AND inside an OR: (A AND B) implies
 * A, so A may stand for the whole in the disjunction. Address sets first
 * (blooms), then any equality, then a range. */
static int atoms_of_and(builder_t *b, const ast_t *x, int depth)
{
    const ast_t *terms[64];
    int n = 0;
    const ast_t *stack[64];
    int sp = 0;
    stack[sp++] = x;
    while (sp > 0 && n < 64) {
        const ast_t *t = stack[--sp];
        if (t->kind == A_BINARY && t->op == OP_AND && sp + 2 <= 64) {
            stack[sp++] = t->b;
            stack[sp++] = t->a;
        } else {
            terms[n++] = t;
        }
    }
    int best = -1, best_score = 0, save = b->natoms;
    for (int i = 0; i < n; i++) {
        b->natoms = save;
        if (!atoms_of(b, terms[i], depth + 1))
            continue;
        int score = 1;
        int all_eq = 1, all_ip = 1;
        for (int k = save; k < b->natoms; k++) {
            all_eq &= b->atoms[k].kind == ATOM_SET;
            all_ip &= b->atoms[k].kind == ATOM_SET &&
                      (b->atoms[k].field == F_SRCIP ||
                       b->atoms[k].field == F_DSTIP);
        }
        score += all_eq + 2 * all_ip;
        if (score > best_score) {
            best = i;
            best_score = score;
        }
    }
    b->natoms = save;
    return best >= 0 && atoms_of(b, terms[best], depth + 1);
}

static int atoms_of(builder_t *b, const ast_t *x, int depth)
{
    if (!x || depth > AST_MAX_DEPTH)
        return 0;
    value_t v, w, lo, hi;
    int f;
    switch (x->kind) {
    case A_BINARY:
        if (x->op == OP_OR)
            return atoms_of(b, x->a, depth + 1) && atoms_of(b, x->b, depth + 1);
        if (x->op == OP_AND)
            return atoms_of_and(b, x, depth);
        if (x->op < OP_EQ || x->op > OP_GE || x->op == OP_NE)
            return 0;
        {
            const ast_t *col = x->a, *k = x->b;
            ast_op_t op = x->op;
            if (stored_field(col) < 0) {
                col = x->b;
                k = x->a;
                /* 5 < x is x > 5 */
                op = op == OP_LT ? OP_GT : op == OP_LE ? OP_GE
                   : op == OP_GT ? OP_LT : op == OP_GE ? OP_LE : op;
            }
            if ((f = stored_field(col)) < 0 || !const_of(f, k, &v))
                return 0;
            if (op == OP_EQ)
                return add_set(b, f, &v, 1);
            /* > and < widen to >= and <=: zone maps are coarse anyway */
            if (op == OP_GT || op == OP_GE)
                return add_range(b, f, v, vmax(f));
            return add_range(b, f, vmin(f), v);
        }
    case A_BETWEEN:
        if (x->negated || (f = stored_field(x->a)) < 0 ||
            !const_of(f, x->b, &v) || !const_of(f, x->c, &w))
            return 0;
        if (vcmp(f, &v, &w) > 0)
            return add_range(b, f, w, v); /* matches nothing; keep it simple */
        return add_range(b, f, v, w);
    case A_IN:
        if (x->negated || x->name || (f = stored_field(x->a)) < 0)
            return 0;
        if (x->c) {
            if (x->c->kind != A_CIDR || !is_ip_field(f))
                return 0;
            cidr_bounds(x->c, &lo, &hi);
            return add_range(b, f, lo, hi);
        } else {
            if (x->nlist < 1 || x->nlist > SCAN_MAX_SET)
                return 0;
            value_t *vals = malloc(sizeof(value_t) * (size_t)x->nlist);
            int n = 0, ok = 1;
            for (int i = 0; i < x->nlist && ok; i++) {
                const ast_t *e = x->list[i];
                if (e->kind == A_CIDR && is_ip_field(f)) {
                    cidr_bounds(e, &lo, &hi);
                    ok = add_range(b, f, lo, hi);
                } else if (const_of(f, e, &vals[n])) {
                    n++;
                } else {
                    ok = 0;
                }
            }
            if (ok && n)
                ok = add_set(b, f, vals, n);
            free(vals);
            return ok;
        }
    default:
        return 0;
    }
}

static void add_clause(plan_t *p, scan_spec_t *s, int *cap,
                       const scan_atom_t *atoms, int n, int from_range)
{
    if (s->nclauses == *cap) {
        int nc = *cap ? *cap * 2 : 8;
        scan_clause_t *c = arena_alloc(p->arena, sizeof(*c) * (size_t)nc);
        if (s->nclauses)
            memcpy(c, s->clauses, sizeof(*c) * (size_t)s->nclauses);
        s->clauses = c;
        *cap = nc;
    }
    scan_clause_t *c = &s->clauses[s->nclauses++];
    c->atoms = arena_alloc(p->arena, sizeof(scan_atom_t) * (size_t)n);
    memcpy(c->atoms, atoms, sizeof(scan_atom_t) * (size_t)n);
    c->natoms = n;
    c->from_range = from_range;
}

uint64_t pushdown_fields(const ast_t *x)
{
    if (!x)
        return 0;
    uint64_t m = 0;
    if (x->kind == A_COLUMN && x->field >= 0) {
        if (x->field == F_DURATION)
            m |= 1ull << F_START | 1ull << F_END;
        else if (x->field == F_FAMILY)
            m |= 1ull << F_SRCIP;
        else
            m |= 1ull << x->field;
    }
    m |= pushdown_fields(x->a) | pushdown_fields(x->b) | pushdown_fields(x->c);
    for (int i = 0; i < x->nlist; i++)
        m |= pushdown_fields(x->list[i]);
    return m;
}

/* The fields every part of the plan below the aggregate reads. */
static uint64_t plan_fields(const plan_t *p)
{
    uint64_t m = pushdown_fields(p->filter);
    for (int i = 0; i < p->nkeys; i++)
        m |= pushdown_fields(p->keys[i]);
    for (int i = 0; i < p->naggs; i++)
        m |= pushdown_fields(p->aggs[i].arg);
    if (p->mode == PLAN_ROWS) {
        for (int i = 0; i < p->ncols; i++)
            m |= pushdown_fields(p->cols[i].expr);
        for (int i = 0; i < p->norder; i++)
            m |= pushdown_fields(p->order[i].expr);
    }
    return m;
}

scan_spec_t *pushdown_build(plan_t *p, int64_t now_ms)
{
    scan_spec_t *s = arena_alloc(p->arena, sizeof(*s));
    memset(s, 0, sizeof(*s));
    s->fields = plan_fields(p);
    s->recv_lo = INT64_MIN;
    s->recv_hi = INT64_MAX;
    int cap = 0;
    builder_t *b = calloc(1, sizeof(*b));
    b->p = p;

    const time_range_t *r = &p->range;
    if (r->kind != RANGE_NONE) {
        int64_t lo, hi = INT64_MAX;
        if (r->kind == RANGE_LAST) {
            lo = now_ms - r->last;
            hi = now_ms;
        } else {
            lo = r->from;
            if (r->has_to)
                hi = r->kind == RANGE_SINCE ? r->to - 1 : r->to;
        }
        s->has_range = 1;
        s->range_lo = lo;
        s->range_hi = hi;
        s->fields |= 1ull << F_RECEIVED;
        value_t vl, vh;
        memset(&vl, 0, sizeof(vl));
        memset(&vh, 0, sizeof(vh));
        vl.i = lo;
        vh.i = hi;
        b->natoms = 0;
        add_range(b, F_RECEIVED, vl, vh);
        add_clause(p, s, &cap, b->atoms, b->natoms, 1);
    }

    /* Top-level AND terms of WHERE, left to right. */
    const ast_t *stack[256];
    int sp = 0;
    if (p->filter)
        stack[sp++] = p->filter;
    const ast_t *terms[256];
    int nterms = 0;
    while (sp > 0 && nterms < 256) {
        const ast_t *t = stack[--sp];
        if (t->kind == A_BINARY && t->op == OP_AND && sp + 2 <= 256) {
            stack[sp++] = t->b;
            stack[sp++] = t->a;
        } else {
            terms[nterms++] = t;
        }
    }
    for (int i = 0; i < nterms; i++) {
        b->natoms = 0;
        if (atoms_of(b, terms[i], 0) && b->natoms > 0)
            add_clause(p, s, &cap, b->atoms, b->natoms, 0);
    }
    free(b);

    /* The received times that can match: every clause that is only about
     * received bounds them. */
    for (int i = 0; i < s->nclauses; i++) {
        const scan_clause_t *c = &s->clauses[i];
        int64_t lo = INT64_MAX, hi = INT64_MIN;
        int only = 1;
        for (int k = 0; k < c->natoms && only; k++) {
            only = c->atoms[k].field == F_RECEIVED;
            if (c->atoms[k].lo.i < lo)
                lo = c->atoms[k].lo.i;
            if (c->atoms[k].hi.i > hi)
                hi = c->atoms[k].hi.i;
        }
        if (!only)
            continue;
        if (lo > s->recv_lo)
            s->recv_lo = lo;
        if (hi < s->recv_hi)
            s->recv_hi = hi;
    }
    return s;
}

/* ---- deciding ---------------------------------------------------------------- */

static int atom_may(const scan_atom_t *a, scan_minmax_fn minmax,
                    scan_bloom_fn bloom, void *ctx, int *bloomed)
{
    value_t mn, mx;
    int f = a->field;
    int have = minmax(ctx, f, &mn, &mx);
    if (have && (vcmp(f, &a->hi, &mn) < 0 || vcmp(f, &a->lo, &mx) > 0))
        return 0;
    if (a->kind == ATOM_RANGE)
        return 1;
    int any = 0;
    for (int i = 0; i < a->nvals && !any; i++) {
        if (have && (vcmp(f, &a->vals[i], &mn) < 0 ||
                     vcmp(f, &a->vals[i], &mx) > 0))
            continue;
        if (bloom && (f == F_SRCIP || f == F_DSTIP) &&
            !bloom(ctx, f, &a->vals[i])) {
            *bloomed = 1;
            continue;
        }
        any = 1;
    }
    return any;
}

int scan_spec_may_match(const scan_spec_t *s, scan_minmax_fn minmax,
                        scan_bloom_fn bloom, void *ctx, int *by_bloom)
{
    if (by_bloom)
        *by_bloom = 0;
    for (int i = 0; s && i < s->nclauses; i++) {
        const scan_clause_t *c = &s->clauses[i];
        int any = 0, bloomed = 0;
        for (int k = 0; k < c->natoms && !any; k++)
            any = atom_may(&c->atoms[k], minmax, bloom, ctx, &bloomed);
        if (!any) {
            if (by_bloom)
                *by_bloom = bloomed;
            return 0;
        }
    }
    return 1;
}

/* ---- EXPLAIN -------------------------------------------------------------- */

static void put_value(sbuf_t *out, int f, const value_t *v)
{
    char buf[64];
    if (is_ip_field(f))
        sbuf_add(out, ipaddr_format(&v->ip, buf, sizeof(buf)));
    else if (schema_fields[f].type == TYPE_TIME)
        sbuf_add(out, time_format_iso(v->i, buf, sizeof(buf)));
    else
        sbuf_printf(out, "%lld", (long long)v->i);
}

static void put_atom(sbuf_t *out, const scan_atom_t *a)
{
    const char *name = schema_fields[a->field].name;
    value_t mn = vmin(a->field), mx = vmax(a->field);
    if (a->kind == ATOM_SET) {
        sbuf_printf(out, "%s %s", name, a->nvals == 1 ? "=" : "IN (");
        if (a->nvals == 1) {
            sbuf_addc(out, ' ');
            put_value(out, a->field, &a->vals[0]);
        } else {
            for (int i = 0; i < a->nvals && i < 8; i++) {
                if (i)
                    sbuf_add(out, ", ");
                put_value(out, a->field, &a->vals[i]);
            }
            if (a->nvals > 8)
                sbuf_printf(out, ", ... %d values", a->nvals);
            sbuf_addc(out, ')');
        }
        return;
    }
    int has_lo = vcmp(a->field, &a->lo, &mn) != 0;
    int has_hi = vcmp(a->field, &a->hi, &mx) != 0;
    if (has_lo && has_hi) {
        sbuf_printf(out, "%s BETWEEN ", name);
        put_value(out, a->field, &a->lo);
        sbuf_add(out, " AND ");
        put_value(out, a->field, &a->hi);
    } else if (has_lo) {
        sbuf_printf(out, "%s >= ", name);
        put_value(out, a->field, &a->lo);
    } else if (has_hi) {
        sbuf_printf(out, "%s <= ", name);
        put_value(out, a->field, &a->hi);
    } else {
        sbuf_printf(out, "%s (any)", name);
    }
}

void scan_spec_explain(const scan_spec_t *s, const plan_t *p, int relative,
                       sbuf_t *out)
{
    char b1[32];
    for (int i = 0; i < s->nclauses; i++) {
        const scan_clause_t *c = &s->clauses[i];
        sbuf_printf(out, "  %-10s ", i == 0 ? "pushdown" : "");
        if (c->from_range && relative && p->range.kind == RANGE_LAST) {
            sbuf_printf(out, "received >= now - %s",
                        duration_format(p->range.last, b1, sizeof(b1)));
        } else {
            for (int k = 0; k < c->natoms; k++) {
                if (k)
                    sbuf_add(out, " OR ");
                put_atom(out, &c->atoms[k]);
            }
        }
        int ip = 0, files = 1;
        for (int k = 0; k < c->natoms; k++) {
            ip |= c->atoms[k].kind == ATOM_SET &&
                  (c->atoms[k].field == F_SRCIP || c->atoms[k].field == F_DSTIP);
            files &= c->atoms[k].field == F_RECEIVED;
        }
        sbuf_printf(out, " (%s%s)\n", files ? "files, " : "",
                    ip ? "bloom filters, zone maps" : "zone maps");
    }
}
