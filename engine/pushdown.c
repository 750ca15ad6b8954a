/*
 * pushdown.c - the conditions a query over the archive gives its scan;
 * see pushdown.h.
 *
 * A WHERE term is first read as atoms (one comparison of one field with
 * constants: a range or a set of values) joined by OR; then the atoms'
 * fields say which condition of the scan the term fills.
 */
#include "engine/pushdown.h"
#include "enrich/enrich.h"
#include "engine/schema.h"
#include "util/timeutil.h"

#include <stdlib.h>
#include <string.h>

#define MAX_ATOMS 64

typedef struct atom {
    int      field;
    int      is_set;      /* vals; else the range [lo, hi] */
    value_t  lo, hi;
    int      prefix;      /* an address range that is a network: its
                             prefix; -1 for any other range */
    value_t  vals[8];     /* a set of up to 8 values here ... */
    const ast_t *list;    /* ... or the IN list's constants */
    int      nvals;
} atom_t;

typedef struct builder {
    atom_t atoms[MAX_ATOMS];
    int    n;
} builder_t;

static int is_ip_field(int f)
{
    return schema_fields[f].type == TYPE_IP;
}

/* A stored field named by x, or -1. */
static int stored_field(const ast_t *x)
{
    if (!x || x->kind != A_COLUMN || x->field < 0 || x->field >= F_COUNT ||
        schema_fields[x->field].is_virtual)
        return -1;
    return x->field;
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

static atom_t *new_atom(builder_t *b, int f)
{
    if (b->n >= MAX_ATOMS)
        return NULL;
    atom_t *a = &b->atoms[b->n++];
    memset(a, 0, sizeof(*a));
    a->field = f;
    a->prefix = -1;
    a->lo.i = INT64_MIN;
    a->hi.i = INT64_MAX;
    return a;
}

/* x as atoms joined by OR, appended to b. 1 if x is fully described by
 * them (x implies their OR), 0 if not. */
static int atoms_of(builder_t *b, const ast_t *x, int depth);

/* An AND inside an OR: (A AND B) implies A, so one term may stand for
 * the whole. The one that pushes down best: addresses, then ports and
 * protocols, then times. */
static int atoms_of_and(builder_t *b, const ast_t *x, int depth)
{
    const ast_t *stack[64], *terms[64];
    int sp = 0, n = 0;
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
    int best = -1, best_score = 0, save = b->n;
    for (int i = 0; i < n; i++) {
        b->n = save;
        if (!atoms_of(b, terms[i], depth + 1) || b->n == save)
            continue;
        int score = 3;
        for (int k = save; k < b->n; k++) {
            int f = b->atoms[k].field, s;
            s = is_ip_field(f) ? 3 : (f == F_START || f == F_END ||
                                      f == F_RECEIVED) ? 1 : 2;
            if (s < score)
                score = s;
        }
        if (score > best_score) {
            best = i;
            best_score = score;
        }
    }
    b->n = save;
    return best >= 0 && atoms_of(b, terms[best], depth + 1);
}

static int atoms_of(builder_t *b, const ast_t *x, int depth)
{
    value_t v, w;
    atom_t *a;
    int f;
    if (!x || depth > AST_MAX_DEPTH)
        return 0;
    switch (x->kind) {
    case A_BINARY: {
        if (x->op == OP_OR)
            return atoms_of(b, x->a, depth + 1) && atoms_of(b, x->b, depth + 1);
        if (x->op == OP_AND)
            return atoms_of_and(b, x, depth);
        if (x->op < OP_EQ || x->op > OP_GE || x->op == OP_NE)
            return 0;
        const ast_t *col = x->a, *k = x->b;
        ast_op_t op = x->op;
        if (stored_field(col) < 0) {
            col = x->b;
            k = x->a;
            op = op == OP_LT ? OP_GT : op == OP_LE ? OP_GE
               : op == OP_GT ? OP_LT : op == OP_GE ? OP_LE : op;
        }
        if ((f = stored_field(col)) < 0 || !const_of(f, k, &v) ||
            !(a = new_atom(b, f)))
            return 0;
        if (op == OP_EQ) {
            a->is_set = 1;
            a->vals[0] = v;
            a->nvals = 1;
            a->prefix = 128;
        } else if (is_ip_field(f)) {
            return 0;          /* address ranges are not pushed down */
        } else if (op == OP_GT) {
            a->lo.i = v.i == INT64_MAX ? v.i : v.i + 1;
        } else if (op == OP_GE) {
            a->lo.i = v.i;
        } else if (op == OP_LT) {
            a->hi.i = v.i == INT64_MIN ? v.i : v.i - 1;
        } else {
            a->hi.i = v.i;
        }
        return 1;
    }
    case A_BETWEEN:
        if (x->negated || (f = stored_field(x->a)) < 0 || is_ip_field(f) ||
            !const_of(f, x->b, &v) || !const_of(f, x->c, &w) ||
            !(a = new_atom(b, f)))
            return 0;
        a->lo = v;
        a->hi = w;
        return 1;
    case A_IN:
        if (x->negated || x->name || (f = stored_field(x->a)) < 0)
            return 0;
        if (x->c) {
            if (x->c->kind != A_CIDR || !is_ip_field(f) ||
                !(a = new_atom(b, f)))
                return 0;
            a->lo.ip = x->c->v.ip;
            a->prefix = x->c->prefix;
            return 1;
        }
        if (x->nlist < 1 || x->nlist > SCAN_MAX_SET)
            return 0;
        for (int i = 0; i < x->nlist; i++) {
            const ast_t *e = x->list[i];
            if (e->kind == A_CIDR && is_ip_field(f)) {
                if (!(a = new_atom(b, f)))
                    return 0;
                a->lo.ip = e->v.ip;
                a->prefix = e->prefix;
            } else if (!const_of(f, e, &v)) {
                return 0;
            }
        }
        if (!(a = new_atom(b, f)))
            return 0;
        a->is_set = 1;
        a->list = x;
        a->prefix = 128;
        return 1;
    default:
        return 0;
    }
}

/* ---- from atoms to the scan's conditions ------------------------------ */

static int time_slot(int f)
{
    return f == F_RECEIVED ? SCAN_RECEIVED : f == F_START ? SCAN_START
         : f == F_END ? SCAN_END : -1;
}

/* The values of a set atom (an IN list or its own), into out[0..max). */
static int atom_values(const atom_t *a, value_t *out, int max)
{
    if (!a->list) {
        int n = a->nvals < max ? a->nvals : max;
        memcpy(out, a->vals, sizeof(value_t) * (size_t)n);
        return n;
    }
    int n = 0;
    for (int i = 0; i < a->list->nlist && n < max; i++) {
        const ast_t *e = a->list->list[i];
        if (e->kind != A_CIDR && const_of(a->field, e, &out[n]))
            n++;
    }
    return n;
}

static int cmp_i64(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return a < b ? -1 : a > b;
}

/* A term whose atoms are all about received, start or end: the hull of
 * their ranges, intersected with what the slot holds. */
static int put_time(scan_spec_t *s, const builder_t *b)
{
    int slot = time_slot(b->atoms[0].field);
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    value_t vals[SCAN_MAX_SET];
    for (int k = 0; k < b->n; k++) {
        const atom_t *a = &b->atoms[k];
        if (time_slot(a->field) != slot)
            return 0;
        if (a->is_set) {
            int n = atom_values(a, vals, SCAN_MAX_SET);
            for (int i = 0; i < n; i++) {
                if (vals[i].i < lo)
                    lo = vals[i].i;
                if (vals[i].i > hi)
                    hi = vals[i].i;
            }
        } else {
            if (a->lo.i < lo)
                lo = a->lo.i;
            if (a->hi.i > hi)
                hi = a->hi.i;
        }
    }
    if (lo > s->lo[slot])
        s->lo[slot] = lo;
    if (hi < s->hi[slot])
        s->hi[slot] = hi;
    return 1;
}

/* A term about srcip and/or dstip: the networks and addresses. */
static int put_nets(plan_t *p, scan_spec_t *s, const builder_t *b)
{
    int src = 0, dst = 0, total = 0;
    value_t vals[SCAN_MAX_SET];
    for (int k = 0; k < b->n; k++) {
        const atom_t *a = &b->atoms[k];
        if (a->field != F_SRCIP && a->field != F_DSTIP)
            return 0;
        src |= a->field == F_SRCIP;
        dst |= a->field == F_DSTIP;
        total += a->is_set ? (a->list ? a->list->nlist : a->nvals) : 1;
    }
    int slot = src && dst ? SCAN_ANYIP : src ? SCAN_SRCIP : SCAN_DSTIP;
    if (total > SCAN_MAX_SET || s->nnets[slot])
        return 0;
    scan_net_t *nets = arena_alloc(p->arena, sizeof(scan_net_t) * (size_t)total);
    int n = 0;
    for (int k = 0; k < b->n; k++) {
        const atom_t *a = &b->atoms[k];
        if (!a->is_set) {
            nets[n].addr = ipaddr_mask(&a->lo.ip, a->prefix < 0 ? 0 : a->prefix);
            nets[n++].prefix = a->prefix;
            continue;
        }
        int m = atom_values(a, vals, SCAN_MAX_SET);
        for (int i = 0; i < m; i++) {
            nets[n].addr = vals[i].ip;
            nets[n++].prefix = 128;
        }
    }
    /* the same address or network twice (srcip = X OR dstip = X) */
    int u = 0;
    for (int i = 0; i < n; i++) {
        int dup = 0;
        for (int j = 0; j < u && !dup; j++)
            dup = nets[j].prefix == nets[i].prefix &&
                  ipaddr_eq(&nets[j].addr, &nets[i].addr);
        if (!dup)
            nets[u++] = nets[i];
    }
    s->nets[slot] = nets;
    s->nnets[slot] = u;
    return 1;
}

/* A term about srcport and/or dstport, or proto: the values (a range of
 * at most SCAN_MAX_SET values is written out). */
static int put_ints(plan_t *p, scan_spec_t *s, const builder_t *b)
{
    int src = 0, dst = 0, proto = 0;
    int64_t total = 0;
    for (int k = 0; k < b->n; k++) {
        const atom_t *a = &b->atoms[k];
        src |= a->field == F_SRCPORT;
        dst |= a->field == F_DSTPORT;
        proto |= a->field == F_PROTO;
        if (a->field != F_SRCPORT && a->field != F_DSTPORT &&
            a->field != F_PROTO)
            return 0;
        if (a->is_set)
            total += a->list ? a->list->nlist : a->nvals;
        else if (a->hi.i < a->lo.i)
            total += 0;
        else if ((uint64_t)a->hi.i - (uint64_t)a->lo.i >= SCAN_MAX_SET)
            return 0;
        else
            total += a->hi.i - a->lo.i + 1;
    }
    if (proto && (src || dst))
        return 0;
    int slot = proto ? SCAN_PROTO : src && dst ? SCAN_ANYPORT
             : src ? SCAN_SRCPORT : SCAN_DSTPORT;
    if (total > SCAN_MAX_SET || s->nints[slot])
        return 0;
    int64_t *v = arena_alloc(p->arena, sizeof(int64_t) * (size_t)(total + 1));
    value_t vals[SCAN_MAX_SET];
    int n = 0;
    for (int k = 0; k < b->n; k++) {
        const atom_t *a = &b->atoms[k];
        if (a->is_set) {
            int m = atom_values(a, vals, SCAN_MAX_SET);
            for (int i = 0; i < m; i++)
                v[n++] = vals[i].i;
        } else {
            for (int64_t x = a->lo.i; x <= a->hi.i && n < total; x++)
                v[n++] = x;
        }
    }
    qsort(v, (size_t)n, sizeof(int64_t), cmp_i64);
    int u = 0;
    for (int i = 0; i < n; i++)
        if (u == 0 || v[u - 1] != v[i])
            v[u++] = v[i];
    if (u == 0)
        v[u++] = INT64_MIN;   /* an empty range: no value matches */
    s->ints[slot] = v;
    s->nints[slot] = u;
    return 1;
}

/* The fields x names: as named (raw), or the stored ones they read. */
static uint64_t fields_of(const ast_t *x, int raw)
{
    if (!x)
        return 0;
    uint64_t m = 0;
    if (x->kind == A_COLUMN && x->field >= 0) {
        if (raw)
            m |= 1ull << x->field;
        else if (x->field == F_DURATION)
            m |= 1ull << F_START | 1ull << F_END;
        else if (x->field == F_FAMILY)
            m |= 1ull << F_SRCIP;
        else if (1ull << x->field & ENRICH_FIELDS)
            m |= enrich_deps(x->field);
        else
            m |= 1ull << x->field;
    }
    m |= fields_of(x->a, raw) | fields_of(x->b, raw) | fields_of(x->c, raw);
    for (int i = 0; i < x->nlist; i++)
        m |= fields_of(x->list[i], raw);
    return m;
}

uint64_t pushdown_fields(const ast_t *x)
{
    return fields_of(x, 0);
}

/* The fields every part of the plan below the aggregate reads. */
static uint64_t plan_fields(const plan_t *p, int raw)
{
    uint64_t m = fields_of(p->filter, raw);
    for (int i = 0; i < p->nkeys; i++)
        m |= fields_of(p->keys[i], raw);
    for (int i = 0; i < p->naggs; i++)
        m |= fields_of(p->aggs[i].arg, raw);
    if (p->mode == PLAN_ROWS) {
        for (int i = 0; i < p->ncols; i++)
            m |= fields_of(p->cols[i].expr, raw);
        for (int i = 0; i < p->norder; i++)
            m |= fields_of(p->order[i].expr, raw);
    }
    return m;
}

uint64_t plan_named_fields(const plan_t *p)
{
    return plan_fields(p, 1);
}

scan_spec_t *pushdown_build(plan_t *p, int64_t now_ms)
{
    scan_spec_t *s = arena_alloc(p->arena, sizeof(*s));
    memset(s, 0, sizeof(*s));
    s->fields = plan_fields(p, 0);
    for (int i = 0; i < SCAN_NTIMES; i++) {
        s->lo[i] = INT64_MIN;
        s->hi[i] = INT64_MAX;
    }
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
        s->range_lo = s->lo[SCAN_RECEIVED] = lo;
        s->range_hi = s->hi[SCAN_RECEIVED] = hi;
        s->fields |= 1ull << F_RECEIVED;
    }

    /* The top-level AND terms of WHERE, left to right. */
    const ast_t *stack[256], *terms[256];
    int sp = 0, nterms = 0;
    if (p->filter)
        stack[sp++] = p->filter;
    while (sp > 0 && nterms < 256) {
        const ast_t *t = stack[--sp];
        if (t->kind == A_BINARY && t->op == OP_AND && sp + 2 <= 256) {
            stack[sp++] = t->b;
            stack[sp++] = t->a;
        } else {
            terms[nterms++] = t;
        }
    }
    builder_t *b = xcalloc(1, sizeof(*b));
    for (int i = 0; i < nterms; i++) {
        b->n = 0;
        if (!atoms_of(b, terms[i], 0) || b->n == 0)
            continue;
        int f = b->atoms[0].field;
        if (time_slot(f) >= 0)
            put_time(s, b);
        else if (is_ip_field(f))
            put_nets(p, s, b);
        else
            put_ints(p, s, b);
    }
    free(b);
    return s;
}

/* ---- EXPLAIN -------------------------------------------------------------- */

static const char *const time_names[] = {"received", "start", "end"};
static const char *const net_names[] = {"srcip", "dstip", "srcip or dstip"};
static const char *const int_names[] = {"srcport", "dstport",
                                        "srcport or dstport", "proto"};

static void put_net(sbuf_t *out, const scan_net_t *n)
{
    char buf[64];
    sbuf_add(out, ipaddr_format(&n->addr, buf, sizeof(buf)));
    if (n->prefix < 128)
        sbuf_printf(out, "/%d", ipaddr_is_v4(&n->addr) ? n->prefix - 96
                                                       : n->prefix);
}

static void pd_line(sbuf_t *out, int *first)
{
    sbuf_printf(out, "  %-10s ", *first ? "pushdown" : "");
    *first = 0;
}

void scan_spec_explain(const scan_spec_t *s, const plan_t *p, int relative,
                       sbuf_t *out)
{
    char b1[40], b2[40];
    int first = 1;
    for (int t = 0; t < SCAN_NTIMES; t++) {
        int64_t lo = s->lo[t], hi = s->hi[t];
        if (lo == INT64_MIN && hi == INT64_MAX)
            continue;
        pd_line(out, &first);
        if (t == SCAN_RECEIVED && relative && p->range.kind == RANGE_LAST &&
            lo == s->range_lo && hi == s->range_hi)
            sbuf_printf(out, "received >= now - %s",
                        duration_format(p->range.last, b1, sizeof(b1)));
        else if (lo != INT64_MIN && hi != INT64_MAX)
            sbuf_printf(out, "%s BETWEEN %s AND %s", time_names[t],
                        time_format_iso(lo, b1, sizeof(b1)),
                        time_format_iso(hi, b2, sizeof(b2)));
        else if (lo != INT64_MIN)
            sbuf_printf(out, "%s >= %s", time_names[t],
                        time_format_iso(lo, b1, sizeof(b1)));
        else
            sbuf_printf(out, "%s <= %s", time_names[t],
                        time_format_iso(hi, b1, sizeof(b1)));
        sbuf_add(out, t == SCAN_RECEIVED ? " (files, zone maps)\n"
                                         : " (zone maps)\n");
    }
    for (int k = 0; k < SCAN_NNETS; k++) {
        int n = s->nnets[k];
        if (!n)
            continue;
        pd_line(out, &first);
        int one = n == 1 && s->nets[k][0].prefix == 128;
        sbuf_printf(out, "%s %s", net_names[k], one ? "= " : "IN (");
        int exact = n <= 64;
        for (int i = 0; i < n && i < 8; i++) {
            if (i)
                sbuf_add(out, ", ");
            put_net(out, &s->nets[k][i]);
        }
        for (int i = 0; i < n; i++)
            exact &= s->nets[k][i].prefix == 128;
        if (n > 8)
            sbuf_printf(out, ", ... %d in all", n);
        sbuf_printf(out, "%s (%s)\n", one ? "" : ")",
                    exact ? "bloom filters, zone maps" : "zone maps");
    }
    for (int k = 0; k < SCAN_NINTS; k++) {
        int n = s->nints[k];
        if (!n)
            continue;
        pd_line(out, &first);
        if (n == 1 && s->ints[k][0] == INT64_MIN) {
            sbuf_printf(out, "%s IN () (zone maps)\n", int_names[k]);
            continue;
        }
        sbuf_printf(out, "%s %s", int_names[k], n == 1 ? "= " : "IN (");
        for (int i = 0; i < n && i < 8; i++)
            sbuf_printf(out, "%s%lld", i ? ", " : "", (long long)s->ints[k][i]);
        if (n > 8)
            sbuf_printf(out, ", ... %d in all", n);
        sbuf_printf(out, "%s (zone maps)\n", n == 1 ? "" : ")");
    }
}
