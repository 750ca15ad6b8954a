/*
 * scanq.c - a query over stored flows run once; see scanq.h.
 *
 * Aggregates go through the engine's own query (query.c) in its "one
 * window over everything" mode; rows plans are run here, batch by
 * batch, with the same compiled programs, so that rows stream instead
 * of waiting in a pane for the window to close.
 */
#include "engine/scanq.h"
#include "engine/mem.h"
#include "engine/query.h"
#include "engine/schema.h"

#include <stdlib.h>
#include <string.h>

struct scanq {
    plan_t   *plan;
    query_t  *q;             /* its compiled programs; the aggregation */
    int       rows_mode;
    int64_t   max_rows;      /* -1: none */
    int64_t   limit;         /* LIMIT, -1: none */
    int64_t   keep;          /* records the heap keeps, -1: all */
    int64_t   saved_limit;   /* plan->limit, given back at the end */
    int       done, finished, truncated;
    uint32_t  sel[FLOW_BATCH_MAX];

    /* rows ready: ncols values each */
    value_t  *out;
    uint32_t  nout, capout, next;
    /* aggregates: the window's rowset */
    rowset_t *rs;
    /* ORDER BY without aggregates: a max-heap of width-value records */
    value_t  *heap;
    uint32_t  nheap, capheap;
    value_t  *tmp;
    int64_t   heap_bytes;

    scanq_stats_t st;
};

static ast_t *time_const(arena_t *a, int64_t v)
{
    ast_t *x = ast_new(a, A_INT, 0, 0);
    x->v.i = v;
    x->type = TYPE_TIME;
    return x;
}

/* WHERE AND received BETWEEN lo AND hi, as the engine compiles it. */
static void add_range(plan_t *p, int64_t lo, int64_t hi)
{
    if (lo == INT64_MIN && hi == INT64_MAX)
        return;
    ast_t *col = ast_new(p->arena, A_COLUMN, 0, 0);
    col->name = "received";
    col->field = F_RECEIVED;
    col->type = TYPE_TIME;
    ast_t *b = ast_new(p->arena, A_BETWEEN, 0, 0);
    b->a = col;
    b->b = time_const(p->arena, lo);
    b->c = time_const(p->arena, hi);
    b->type = TYPE_BOOL;
    ast_fix_depth(b);
    if (p->filter) {
        ast_t *and = ast_binary(p->arena, OP_AND, p->filter, b, 0, 0);
        and->type = TYPE_BOOL;
        p->filter = and;
    } else {
        p->filter = b;
    }
}

scanq_t *scanq_new(plan_t *p, int64_t recv_lo, int64_t recv_hi,
                   int64_t max_rows)
{
    scanq_t *s = xcalloc(1, sizeof(*s));
    s->plan = p;
    s->rows_mode = p->mode == PLAN_ROWS;
    s->max_rows = max_rows;
    s->limit = p->limit;
    s->saved_limit = p->limit;
    /* Rows kept for the end: LIMIT, and one past max_rows to know that
     * rows were left out. */
    s->keep = p->limit;
    if (max_rows >= 0 && (s->keep < 0 || s->keep > max_rows + 1))
        s->keep = max_rows + 1;
    add_range(p, recv_lo, recv_hi);
    /* The aggregate's ORDER BY heap keeps `keep` groups. */
    if (!s->rows_mode)
        p->limit = s->keep;
    s->q = query_new("archive", p, 1);
    s->st.max_groups = p->max_groups;
    return s;
}

void scanq_free(scanq_t *s)
{
    if (!s)
        return;
    s->plan->limit = s->saved_limit;
    query_free(s->q, 0);
    rowset_unref(s->rs);
    free(s->out);
    free(s->heap);
    free(s->tmp);
    mem_give(NULL, (size_t)s->heap_bytes);
    free(s);
}

int scanq_ncols(const scanq_t *s)
{
    return s->plan->ncols;
}

const char *scanq_col_name(const scanq_t *s, int col)
{
    return s->plan->cols[col].name;
}

type_t scanq_col_type(const scanq_t *s, int col)
{
    return s->plan->cols[col].type;
}

/* The WHERE (and time range) of one batch: the matching rows in sel. */
static uint32_t filter(scanq_t *s, const flow_batch_t *b)
{
    uint32_t n = b->n;
    for (uint32_t i = 0; i < n; i++)
        s->sel[i] = i;
    if (!s->q->filter)
        return n;
    expr_bind_batch(s->q->filter, b);
    const int64_t *c = expr_eval(s->q->filter, s->sel, n);
    return expr_filter(c, s->sel, n, s->sel);
}

static void load(value_t *dst, const void *lanes, uint32_t r, type_t t)
{
    if (type_is_wide(t)) {
        dst->ip = ((const ipaddr_t *)lanes)[r];
    } else {
        memset(dst, 0, sizeof(*dst));
        dst->i = ((const int64_t *)lanes)[r];
    }
}

/* ---- ORDER BY without aggregates: a bounded max-heap ----------------- */

static value_t *hrec(scanq_t *s, uint32_t i)
{
    return s->heap + (size_t)i * (size_t)s->q->width;
}

static void hswap(scanq_t *s, uint32_t i, uint32_t j)
{
    size_t w = sizeof(value_t) * (size_t)s->q->width;
    memcpy(s->tmp, hrec(s, i), w);
    memcpy(hrec(s, i), hrec(s, j), w);
    memcpy(hrec(s, j), s->tmp, w);
}

static void sift_down(scanq_t *s, uint32_t i)
{
    for (;;) {
        uint32_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < s->nheap && emit_rec_cmp(s->q, hrec(s, l), hrec(s, m)) > 0)
            m = l;
        if (r < s->nheap && emit_rec_cmp(s->q, hrec(s, r), hrec(s, m)) > 0)
            m = r;
        if (m == i)
            return;
        hswap(s, i, m);
        i = m;
    }
}

static void sift_up(scanq_t *s, uint32_t i)
{
    while (i > 0) {
        uint32_t parent = (i - 1) / 2;
        if (emit_rec_cmp(s->q, hrec(s, i), hrec(s, parent)) <= 0)
            return;
        hswap(s, i, parent);
        i = parent;
    }
}

/* Offer one record to the heap. 0 when the memory budget refused it. */
static int heap_offer(scanq_t *s, const value_t *r)
{
    size_t w = sizeof(value_t) * (size_t)s->q->width;
    if (s->keep >= 0 && (int64_t)s->nheap >= s->keep) {
        if (s->keep == 0 || emit_rec_cmp(s->q, r, hrec(s, 0)) >= 0)
            return 1;
        memcpy(hrec(s, 0), r, w);
        sift_down(s, 0);
        return 1;
    }
    if (s->nheap == s->capheap) {
        uint32_t cap = s->capheap ? s->capheap * 2 : 256;
        if (s->keep >= 0 && cap > s->keep)
            cap = (uint32_t)s->keep;
        size_t more = w * (cap - s->capheap);
        if (!mem_take(NULL, more))
            return 0;
        s->heap_bytes += (int64_t)more;
        s->heap = xrealloc(s->heap, w * cap);
        s->capheap = cap;
    }
    memcpy(hrec(s, s->nheap), r, w);
    s->nheap++;
    sift_up(s, s->nheap - 1);
    return 1;
}

static int qsort_cmp(const void *a, const void *b, void *q)
{
    return emit_rec_cmp(q, a, b);
}

/* ---- rows ------------------------------------------------------------------ */

static void out_reserve(scanq_t *s, uint32_t n)
{
    if (s->nout + n <= s->capout)
        return;
    uint32_t cap = s->capout ? s->capout : FLOW_BATCH_MAX;
    while (cap < s->nout + n)
        cap *= 2;
    s->out = xrealloc(s->out, sizeof(value_t) * (size_t)cap *
                                  (size_t)(s->plan->ncols ? s->plan->ncols : 1));
    s->capout = cap;
}

static void push_rows(scanq_t *s, const flow_batch_t *b, uint32_t n)
{
    const plan_t *p = s->plan;
    query_t *q = s->q;
    const void *vals[64];
    const void **v = q->width > 64 ? xcalloc((size_t)q->width, sizeof(void *))
                                   : vals;
    for (int c = 0; c < p->ncols; c++) {
        expr_bind_batch(q->cols[c], b);
        v[c] = expr_eval(q->cols[c], s->sel, n);
    }
    if (p->norder == 0) {
        out_reserve(s, n);
        for (uint32_t k = 0; k < n; k++) {
            int64_t made = (int64_t)s->st.rows + s->nout - s->next;
            if (s->limit >= 0 && made >= s->limit) {
                s->done = 1;
                break;
            }
            if (s->max_rows >= 0 && made >= s->max_rows) {
                s->truncated = 1;   /* one row more than the answer holds */
                s->done = 1;
                break;
            }
            value_t *row = s->out + (size_t)s->nout * (size_t)p->ncols;
            for (int c = 0; c < p->ncols; c++)
                load(&row[c], v[c], s->sel[k], p->cols[c].type);
            s->nout++;
        }
        if (s->limit >= 0 &&
            (int64_t)s->st.rows + s->nout - s->next >= s->limit)
            s->done = 1;
    } else {
        for (int o = 0; o < p->norder; o++) {
            if (q->order[o]) {
                expr_bind_batch(q->order[o], b);
                v[p->ncols + o] = expr_eval(q->order[o], s->sel, n);
            } else {
                v[p->ncols + o] = v[p->order[o].col];
            }
        }
        if (!s->tmp)
            s->tmp = xcalloc((size_t)q->width + 1, sizeof(value_t));
        value_t *r = xcalloc((size_t)q->width + 1, sizeof(value_t));
        for (uint32_t k = 0; k < n; k++) {
            for (int c = 0; c < q->width; c++) {
                type_t t = c < p->ncols ? p->cols[c].type
                                        : p->order[c - p->ncols].expr->type;
                load(&r[c], v[c], s->sel[k], t);
            }
            if (!heap_offer(s, r)) {
                s->st.overflow += n - k;
                break;
            }
        }
        free(r);
    }
    if (v != vals)
        free(v);
}

int scanq_push(scanq_t *s, const flow_batch_t *b)
{
    if (s->done || s->finished || !b->n)
        return s->done;
    s->st.flows_in += b->n;
    if (!s->rows_mode) {
        query_process(s->q, b, 1, 0);
        return 0;
    }
    uint32_t n = filter(s, b);
    s->st.flows_matched += n;
    if (n)
        push_rows(s, b, n);
    return s->done;
}

static void take_rowset(void *ctx, rowset_t *rs)
{
    scanq_t *s = ctx;
    rowset_unref(s->rs);
    s->rs = rs;
}

void scanq_finish(scanq_t *s)
{
    if (s->finished)
        return;
    s->finished = 1;
    const plan_t *p = s->plan;
    if (!s->rows_mode) {
        query_t *q = s->q;
        s->st.flows_matched = q->st.flows_matched;
        s->st.overflow = q->st.flows_overflow;
        s->st.groups = q->npanes && q->panes[0].t ? q->panes[0].t->n : 0;
        query_advance(q, INT64_MAX, take_rowset, s);
        if (!s->rs && p->nkeys == 0) {
            /* No flow at all: the one group of a query without GROUP BY
             * still answers (count 0). */
            gtable_t *t = gtable_new(&q->layout);
            uint64_t key = 0, hash = 0;
            uint32_t sel = 0, g;
            gtable_lookup(&q->layout, t, &key, &hash, &sel, 1, &g);
            s->rs = emit_groups(q, t, 0, 0);
            gtable_free(&q->layout, t);
        }
        if (s->rs && s->max_rows >= 0 && (int64_t)s->rs->nrows > s->max_rows) {
            s->truncated = 1;
            s->rs->nrows = (uint32_t)s->max_rows;
        }
        return;
    }
    if (p->norder > 0 && s->nheap) {
        int w = s->q->width;
        qsort_r(s->heap, s->nheap, sizeof(value_t) * (size_t)w, qsort_cmp, s->q);
        uint32_t n = s->nheap;
        if (s->limit >= 0 && (int64_t)n > s->limit)
            n = (uint32_t)s->limit;
        if (s->max_rows >= 0 && (int64_t)n > s->max_rows) {
            n = (uint32_t)s->max_rows;
            s->truncated = 1;
        }
        out_reserve(s, n);
        for (uint32_t i = 0; i < n; i++)
            memcpy(s->out + (size_t)s->nout++ * (size_t)p->ncols, hrec(s, i),
                   sizeof(value_t) * (size_t)p->ncols);
    }
}

int scanq_next(scanq_t *s, const value_t **row)
{
    *row = NULL;
    if (s->rs) {
        if (s->next >= s->rs->nrows)
            return 0;
        *row = rowset_row(s->rs, s->next++);
        s->st.rows++;
        return 1;
    }
    if (s->next >= s->nout) {
        s->next = s->nout = 0;
        return 0;
    }
    *row = s->out + (size_t)s->next++ * (size_t)s->plan->ncols;
    s->st.rows++;
    return 1;
}

void scanq_stats(const scanq_t *s, scanq_stats_t *out)
{
    *out = s->st;
    out->truncated = s->truncated;
    if (!s->rows_mode && !s->finished) {
        out->flows_matched = s->q->st.flows_matched;
        out->overflow = s->q->st.flows_overflow;
    }
}
