/*
 * emit.c - the operators above the aggregate: HAVING, projection, ORDER BY
 * with LIMIT (a bounded heap, not a sort of every group), and the rowset
 * that carries a closed window to the outputs.
 *
 * Groups are processed in chunks of FLOW_BATCH_MAX: their keys and final
 * aggregate values are laid out as lanes, and the same vector programs
 * that run over flows run over them (expr.h), so WHERE and HAVING share
 * one set of semantics.
 *
 * Rows come out in ORDER BY order, ties ordered by the output columns;
 * without ORDER BY they come in the order their groups first appeared.
 * Either way the same input gives the same rows in the same order.
 */
#include "engine/func.h"
#include "engine/partial.h"
#include "engine/query.h"

#include <stdlib.h>
#include <string.h>

typedef struct collector {
    query_t  *q;
    value_t  *recs;      /* width values per record */
    uint32_t  n, cap;
    int64_t   limit;     /* -1: all */
    int       heap;      /* keep only the best `limit` records */
    value_t  *tmp;       /* one record, for swaps */
} collector_t;

static int vcmp(const value_t *a, const value_t *b, type_t t)
{
    switch (t) {
    case TYPE_FLOAT:
        return a->f < b->f ? -1 : a->f > b->f;
    case TYPE_IP:
        return ipaddr_cmp(&a->ip, &b->ip);
    case TYPE_STRING:
        return strcmp(a->s, b->s);
    default:
        return a->i < b->i ? -1 : a->i > b->i;
    }
}

/* Output order of two records: ORDER BY keys, then every column. */
int emit_rec_cmp(const query_t *q, const value_t *a, const value_t *b)
{
    const plan_t *p = q->plan;
    for (int o = 0; o < p->norder; o++) {
        int c = p->ncols + o;
        type_t t = p->order[o].col >= 0 ? p->cols[p->order[o].col].type
                                        : p->order[o].expr->type;
        int r = vcmp(&a[c], &b[c], t);
        if (r)
            return p->order[o].desc ? -r : r;
    }
    for (int c = 0; c < p->ncols; c++) {
        int r = vcmp(&a[c], &b[c], p->cols[c].type);
        if (r)
            return r;
    }
    return 0;
}

static value_t *rec(collector_t *c, uint32_t i)
{
    return c->recs + (size_t)i * (size_t)c->q->width;
}

static void swap_rec(collector_t *c, uint32_t i, uint32_t j, value_t *tmp)
{
    size_t w = sizeof(value_t) * (size_t)c->q->width;
    memcpy(tmp, rec(c, i), w);
    memcpy(rec(c, i), rec(c, j), w);
    memcpy(rec(c, j), tmp, w);
}

/* Max-heap on output order: the root is the record that would come last. */
static void sift_down(collector_t *c, uint32_t i, value_t *tmp)
{
    for (;;) {
        uint32_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < c->n && emit_rec_cmp(c->q, rec(c, l), rec(c, m)) > 0)
            m = l;
        if (r < c->n && emit_rec_cmp(c->q, rec(c, r), rec(c, m)) > 0)
            m = r;
        if (m == i)
            return;
        swap_rec(c, i, m, tmp);
        i = m;
    }
}

static void sift_up(collector_t *c, uint32_t i, value_t *tmp)
{
    while (i > 0) {
        uint32_t parent = (i - 1) / 2;
        if (emit_rec_cmp(c->q, rec(c, i), rec(c, parent)) <= 0)
            return;
        swap_rec(c, i, parent, tmp);
        i = parent;
    }
}

static void collect(collector_t *c, const value_t *r)
{
    size_t w = sizeof(value_t) * (size_t)c->q->width;
    if (!c->tmp)
        c->tmp = xcalloc((size_t)c->q->width + 1, sizeof(value_t));
    if (c->heap && (int64_t)c->n >= c->limit) {
        if (c->limit == 0 || emit_rec_cmp(c->q, r, rec(c, 0)) >= 0)
            return;
        memcpy(rec(c, 0), r, w);
        sift_down(c, 0, c->tmp);
        return;
    }
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 64;
        c->recs = xrealloc(c->recs, w * c->cap);
    }
    memcpy(rec(c, c->n), r, w);
    c->n++;
    if (c->heap)
        sift_up(c, c->n - 1, c->tmp);
}

static int qsort_cmp(const void *a, const void *b, void *q)
{
    return emit_rec_cmp(q, a, b);
}

static rowset_t *finish(query_t *q, collector_t *c, rowset_t *rs)
{
    const plan_t *p = q->plan;
    if (c->n > 1 && p->norder > 0)
        qsort_r(c->recs, c->n, sizeof(value_t) * (size_t)q->width, qsort_cmp, q);
    uint32_t n = c->n;
    if (c->limit >= 0 && (int64_t)n > c->limit)
        n = (uint32_t)c->limit;
    for (uint32_t i = 0; i < n; i++) {
        value_t *row = rowset_add_row(rs);
        memcpy(row, rec(c, i), sizeof(value_t) * (size_t)p->ncols);
    }
    free(c->recs);
    free(c->tmp);
    /* Until the outputs are done with it, the window's rows count against
     * the memory budget like the groups they came from. */
    rs->mem_bytes = (int64_t)((size_t)rs->cap * (size_t)p->ncols * sizeof(value_t) +
                              arena_used(rs->arena));
    mem_force(NULL, (size_t)rs->mem_bytes);
    q->seq++;
    q->st.windows++;
    q->st.rows += rs->nrows;
    return rs;
}

static rowset_t *new_rowset(query_t *q, int64_t wstart, int64_t wend)
{
    const plan_t *p = q->plan;
    rowset_t *rs = rowset_new(q->name, p->ncols);
    rs->seq = q->seq + 1;
    rs->wstart = wstart;
    rs->wend = wend;
    for (int i = 0; i < p->ncols; i++) {
        rs->cols[i].name = arena_strdup(rs->arena, p->cols[i].name);
        rs->cols[i].type = p->cols[i].type;
        rs->cols[i].is_key = p->cols[i].key >= 0;
    }
    rs->nopts = p->nopts;
    if (p->nopts) {
        rs->opts = arena_alloc(rs->arena, sizeof(rowset_opt_t) * (size_t)p->nopts);
        for (int i = 0; i < p->nopts; i++) {
            rs->opts[i].key = arena_strdup(rs->arena, p->opts[i].key);
            rs->opts[i].value = arena_strdup(rs->arena, p->opts[i].value);
        }
    }
    return rs;
}

static void load_lane(value_t *dst, const void *lanes, uint32_t r, type_t t)
{
    if (type_is_wide(t)) {
        dst->ip = ((const ipaddr_t *)lanes)[r];
    } else {
        memset(dst, 0, sizeof(*dst));
        dst->i = ((const int64_t *)lanes)[r];
    }
}

static void store_lane(void *lanes, uint32_t r, const value_t *v, type_t t)
{
    if (type_is_wide(t))
        ((ipaddr_t *)lanes)[r] = v->ip;
    else
        ((int64_t *)lanes)[r] = v->i;
}

rowset_t *emit_groups(query_t *q, const gtable_t *t, int64_t wstart,
                      int64_t wend)
{
    const plan_t *p = q->plan;
    const agglayout_t *l = &q->layout;
    rowset_t *rs = new_rowset(q, wstart, wend);
    rs->flows = t->flows;
    rs->groups = t->n;
    rs->overflow = t->overflow;
    q->st.arith_overflows += t->sum_overflow;
    collector_t c = {.q = q, .limit = p->limit,
                     .heap = p->limit >= 0 && p->norder > 0};
    value_t *r = xcalloc((size_t)q->width, sizeof(value_t));
    const void **cv = xcalloc((size_t)q->width + 1, sizeof(void *));
    uint32_t sel[FLOW_BATCH_MAX], keep[FLOW_BATCH_MAX];
    /* A shared query's pane: its groups in the order they appeared. */
    uint32_t *order = gtable_order(t);
    for (uint32_t g0 = 0; g0 < t->n; g0 += FLOW_BATCH_MAX) {
        uint32_t m = t->n - g0 < FLOW_BATCH_MAX ? t->n - g0 : FLOW_BATCH_MAX;
        for (uint32_t i = 0; i < m; i++) {
            uint32_t g = order ? order[g0 + i] : g0 + i;
            const uint8_t *e = gtable_entry(l, t, g);
            size_t off = 0;
            for (int k = 0; k < p->nkeys; k++) {
                size_t w = type_is_wide(l->key_types[k]) ? 16 : 8;
                memcpy((char *)q->key_lanes[k] + (size_t)i * w, e + off, w);
                off += w;
            }
            for (int a = 0; a < p->naggs; a++) {
                value_t v = agg_final(l, t, g, a, rs);
                store_lane(q->agg_lanes[a], i, &v, q->agg_types[a]);
            }
            sel[i] = i;
        }
        uint32_t n = m;
        const uint32_t *s = sel;
        if (q->having) {
            expr_bind_slots(q->having, q->slots);
            n = expr_filter(expr_eval(q->having, sel, m), sel, m, keep);
            s = keep;
        }
        for (int k = 0; k < p->ncols; k++) {
            expr_bind_slots(q->cols[k], q->slots);
            cv[k] = expr_eval(q->cols[k], s, n);
        }
        for (int o = 0; o < p->norder; o++) {
            if (q->order[o]) {
                expr_bind_slots(q->order[o], q->slots);
                cv[p->ncols + o] = expr_eval(q->order[o], s, n);
            } else {
                cv[p->ncols + o] = cv[p->order[o].col];
            }
        }
        for (uint32_t k = 0; k < n; k++) {
            for (int col = 0; col < q->width; col++) {
                type_t ty = col < p->ncols ? p->cols[col].type
                                           : p->order[col - p->ncols].expr->type;
                load_lane(&r[col], cv[col], s[k], ty);
            }
            if (!c.heap && p->norder == 0 && c.limit >= 0 &&
                (int64_t)c.n >= c.limit)
                break;
            collect(&c, r);
        }
    }
    free(r);
    free(cv);
    free(order);
    return finish(q, &c, rs);
}

rowset_t *emit_state(query_t *q, const gtable_t *t, int64_t wstart,
                     int64_t wend)
{
    rowset_t *rs = new_rowset(q, wstart, wend);
    rs->flows = t->flows;
    rs->groups = t->n;
    rs->overflow = t->overflow;
    q->st.arith_overflows += t->sum_overflow;
    sbuf_t b = SBUF_INIT;
    partial_encode(q->plan, &q->layout, t, &b);
    uint8_t *st = arena_alloc(rs->arena, b.len ? b.len : 1);
    memcpy(st, b.s, b.len);
    rs->state = st;
    rs->state_len = b.len;
    sbuf_free(&b);
    collector_t c = {.q = q, .limit = -1};
    return finish(q, &c, rs);
}

rowset_t *emit_rows(query_t *q, pane_t *const *panes, int np, int64_t wstart,
                    int64_t wend)
{
    const plan_t *p = q->plan;
    rowset_t *rs = new_rowset(q, wstart, wend);
    collector_t c = {.q = q, .limit = p->limit,
                     .heap = p->limit >= 0 && p->norder > 0};
    for (int i = 0; i < np; i++) {
        rs->flows += panes[i]->flows;
        rs->overflow += panes[i]->overflow;
        for (uint32_t k = 0; k < panes[i]->rows.n; k++)
            collect(&c, panes[i]->rows.cells + (size_t)k * (size_t)q->width);
    }
    rs->groups = c.n;
    return finish(q, &c, rs);
}
