/*
 * query.c - one query's pipeline over batches: filter, window assignment,
 * key evaluation and hashing, hash aggregation into panes, and the closing
 * of windows (merging panes for hopping windows). See query.h.
 */
#include "engine/query.h"
#include "engine/func.h"
#include "engine/schema.h"
#include "util/arena.h"
#include "util/log.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define REPLAY_LATENESS_MS 60000
/* A live flow-time query ignores flow times this far past the clock when
 * moving its watermark, so one exporter with a wrong clock cannot close
 * every window at once. */
#define FUTURE_SKEW_MS 3600000

static uint32_t ident[FLOW_BATCH_MAX];
static pthread_once_t ident_once = PTHREAD_ONCE_INIT;

/* 0, 1, 2 ...: the selection of every row of a batch. Filled once, by
 * whichever thread compiles the first query (queries over the archive
 * are compiled by HTTP threads, beside the registry's). */
static void ident_init(void)
{
    for (uint32_t i = 0; i < FLOW_BATCH_MAX; i++)
        ident[i] = i;
}

static inline int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/* What a query holds from registration to drop: its compiled programs
 * (a batch of lanes per register) and its per-batch scratch. */
static size_t fixed_bytes(const query_t *q)
{
    const plan_t *p = q->plan;
    size_t b = sizeof(*q) + strlen(q->name) + 1 + arena_used(p->arena);
    b += (size_t)FLOW_BATCH_MAX * (3 * sizeof(uint32_t) + sizeof(int64_t) +
                                   sizeof(uint64_t));
    if (q->keymat)
        b += (size_t)FLOW_BATCH_MAX * q->layout.key_size;
    for (int i = 0; i < p->nkeys; i++)
        b += (size_t)FLOW_BATCH_MAX * (type_is_wide(q->layout.key_types[i]) ? 16 : 8);
    for (int i = 0; i < p->naggs; i++)
        b += (size_t)FLOW_BATCH_MAX * (type_is_wide(q->agg_types[i]) ? 16 : 8);
    b += expr_bytes(q->filter) + expr_bytes(q->having);
    for (int i = 0; i < p->nkeys; i++)
        b += expr_bytes(q->keys[i]);
    for (int i = 0; i < p->naggs; i++)
        b += expr_bytes(q->args[i]);
    for (int i = 0; i < p->ncols; i++)
        b += expr_bytes(q->cols[i]);
    for (int i = 0; i < p->norder; i++)
        b += expr_bytes(q->order[i]);
    return b;
}

query_t *query_new(const char *name, plan_t *plan, int replay)
{
    pthread_once(&ident_once, ident_init);
    query_t *q = xcalloc(1, sizeof(*q));
    q->name = xstrdup(name);
    q->plan = plan;
    q->rows_mode = plan->mode == PLAN_ROWS;
    agglayout_init(&q->layout, plan, &q->mem);

    if (plan->filter)
        q->filter = expr_compile(plan->filter, EXPR_FLOWS, NULL, 0, NULL, 0);
    q->keys = xcalloc((size_t)plan->nkeys + 1, sizeof(expr_t *));
    for (int i = 0; i < plan->nkeys; i++)
        q->keys[i] = expr_compile(plan->keys[i], EXPR_FLOWS, NULL, 0, NULL, 0);
    q->args = xcalloc((size_t)plan->naggs + 1, sizeof(expr_t *));
    q->agg_types = xcalloc((size_t)plan->naggs + 1, sizeof(type_t));
    for (int i = 0; i < plan->naggs; i++) {
        if (plan->aggs[i].arg)
            q->args[i] = expr_compile(plan->aggs[i].arg, EXPR_FLOWS, NULL, 0,
                                      NULL, 0);
        q->agg_types[i] = plan->aggs[i].type;
    }
    int space = q->rows_mode ? EXPR_FLOWS : EXPR_GROUPS;
    const type_t *kt = q->layout.key_types;
    if (plan->having)
        q->having = expr_compile(plan->having, space, kt, plan->nkeys,
                                 q->agg_types, plan->naggs);
    q->cols = xcalloc((size_t)plan->ncols + 1, sizeof(expr_t *));
    for (int i = 0; i < plan->ncols; i++)
        q->cols[i] = expr_compile(plan->cols[i].expr, space, kt, plan->nkeys,
                                  q->agg_types, plan->naggs);
    q->order = xcalloc((size_t)plan->norder + 1, sizeof(expr_t *));
    for (int i = 0; i < plan->norder; i++)
        if (plan->order[i].col < 0)
            q->order[i] = expr_compile(plan->order[i].expr, space, kt,
                                       plan->nkeys, q->agg_types, plan->naggs);
    q->width = plan->ncols + plan->norder;

    const window_spec_t *w = &plan->window;
    if (w->present) {
        q->P = w->slide;
        q->size = w->size;
        q->time_field = w->time_field;
        q->lateness = w->lateness;
        if (replay && q->time_field == F_RECEIVED) {
            /* A file has no receive times: its flows' end stands in.
             * The archive's flows have theirs (QUERY_HISTORY). */
            if (replay != QUERY_HISTORY)
                q->time_field = F_END;
            q->lateness = REPLAY_LATENESS_MS;
        }
    } else {
        q->global = 1;
        q->P = 1;
        q->size = 1;
        q->time_field = F_END;
    }

    q->sel = xcalloc(FLOW_BATCH_MAX, sizeof(uint32_t));
    q->sub = xcalloc(FLOW_BATCH_MAX, sizeof(uint32_t));
    q->gidx = xcalloc(FLOW_BATCH_MAX, sizeof(uint32_t));
    q->pidx = xcalloc(FLOW_BATCH_MAX, sizeof(int64_t));
    q->hashes = xcalloc(FLOW_BATCH_MAX, sizeof(uint64_t));
    if (q->layout.key_size && plan->nkeys > 1)
        q->keymat = xcalloc(FLOW_BATCH_MAX, q->layout.key_size);
    int nslots = plan->nkeys + plan->naggs;
    q->key_lanes = xcalloc((size_t)plan->nkeys + 1, sizeof(void *));
    q->agg_lanes = xcalloc((size_t)plan->naggs + 1, sizeof(void *));
    q->slots = xcalloc((size_t)nslots + 1, sizeof(void *));
    for (int i = 0; i < plan->nkeys; i++)
        q->key_lanes[i] = q->slots[i] =
            xcalloc(FLOW_BATCH_MAX, type_is_wide(kt[i]) ? 16 : 8);
    for (int i = 0; i < plan->naggs; i++)
        q->agg_lanes[i] = q->slots[plan->nkeys + i] =
            xcalloc(FLOW_BATCH_MAX, type_is_wide(q->agg_types[i]) ? 16 : 8);
    q->max_seen = INT64_MIN;
    q->batch_max = INT64_MIN;
    q->fixed = fixed_bytes(q);
    mem_force(&q->mem, q->fixed);
    return q;
}

static void pane_release(query_t *q, pane_t *p)
{
    if (p->t) {
        if (!q->spare) {
            gtable_clear(&q->layout, p->t);
            q->spare = p->t;
        } else {
            gtable_free(&q->layout, p->t);
        }
        p->t = NULL;
    }
    mem_give(&q->mem, (size_t)p->rows.cap * (size_t)q->width * sizeof(value_t));
    free(p->rows.cells);
    p->rows.cells = NULL;
    p->rows.n = p->rows.cap = 0;
}

void query_free(query_t *q, int free_plan)
{
    if (!q)
        return;
    for (int i = 0; i < q->npanes; i++)
        pane_release(q, &q->panes[i]);
    free(q->panes);
    gtable_free(&q->layout, q->spare);
    gtable_free(&q->layout, q->scratch);
    expr_free(q->filter);
    expr_free(q->having);
    for (int i = 0; i < q->plan->nkeys; i++)
        expr_free(q->keys[i]);
    for (int i = 0; i < q->plan->naggs; i++)
        expr_free(q->args[i]);
    for (int i = 0; i < q->plan->ncols; i++)
        expr_free(q->cols[i]);
    for (int i = 0; i < q->plan->norder; i++)
        expr_free(q->order[i]);
    for (int i = 0; i < q->plan->nkeys + q->plan->naggs; i++)
        free(q->slots[i]);
    free(q->keys);
    free(q->args);
    free(q->cols);
    free(q->order);
    free(q->agg_types);
    free(q->sel);
    free(q->sub);
    free(q->gidx);
    free(q->pidx);
    free(q->hashes);
    free(q->keymat);
    free(q->key_lanes);
    free(q->agg_lanes);
    free(q->slots);
    agglayout_free(&q->layout);
    if (free_plan)
        plan_free(q->plan);
    free(q->name);
    mem_give(&q->mem, (size_t)q->mem.bytes);  /* fixed costs, panes array */
    free(q);
}

/* The open pane idx, created if needed (panes stay sorted). */
static pane_t *pane_get(query_t *q, int64_t idx)
{
    int lo = 0, hi = q->npanes;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (q->panes[mid].idx < idx)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < q->npanes && q->panes[lo].idx == idx)
        return &q->panes[lo];
    if (q->npanes == q->panes_cap) {
        int cap = q->panes_cap ? q->panes_cap * 2 : 8;
        q->panes = xrealloc(q->panes, sizeof(pane_t) * (size_t)cap);
        mem_force(&q->mem, sizeof(pane_t) * (size_t)(cap - q->panes_cap));
        q->panes_cap = cap;
    }
    memmove(&q->panes[lo + 1], &q->panes[lo],
            sizeof(pane_t) * (size_t)(q->npanes - lo));
    q->npanes++;
    pane_t *p = &q->panes[lo];
    memset(p, 0, sizeof(*p));
    p->idx = idx;
    if (!q->rows_mode) {
        p->t = q->spare ? q->spare : gtable_new(&q->layout);
        p->t->stamped = q->stamped;
        q->spare = NULL;
    }
    /* The first window holding this pane ends at (idx+1)*P. */
    int64_t first_end = q->global ? INT64_MAX : (idx + 1) * q->P;
    if (!q->have_next || first_end < q->next_end) {
        q->next_end = first_end;
        q->have_next = 1;
    }
    return p;
}

/* Keys of the selected rows as row-indexed key_size-byte records, and
 * their hashes. */
static const uint64_t *batch_keys(query_t *q, const flow_batch_t *b,
                                  const uint32_t *sel, uint32_t n)
{
    int nk = q->plan->nkeys;
    if (nk == 0) {
        for (uint32_t k = 0; k < n; k++)
            q->hashes[sel[k]] = 0;
        return q->hashes;    /* any row-indexed words: key_size is 0 */
    }
    const uint64_t *keys;
    if (nk == 1) {
        expr_bind_batch(q->keys[0], b);
        keys = expr_eval(q->keys[0], sel, n);
    } else {
        size_t kw = q->layout.key_size / 8, off = 0;
        for (int j = 0; j < nk; j++) {
            expr_bind_batch(q->keys[j], b);
            const uint64_t *v = expr_eval(q->keys[j], sel, n);
            int w = type_is_wide(q->layout.key_types[j]) ? 2 : 1;
            for (uint32_t k = 0; k < n; k++) {
                uint32_t r = sel[k];
                q->keymat[r * kw + off] = v[(size_t)r * (size_t)w];
                if (w == 2)
                    q->keymat[r * kw + off + 1] = v[(size_t)r * 2 + 1];
            }
            off += (size_t)w;
        }
        keys = q->keymat;
    }
    size_t kw = q->layout.key_size / 8;
    for (uint32_t k = 0; k < n; k++) {
        uint32_t r = sel[k];
        q->hashes[r] = agg_hash(keys + (size_t)r * kw, kw);
    }
    return keys;
}

static void rows_append(query_t *q, pane_t *p, const void *const *vals,
                        const uint32_t *sel, uint32_t n)
{
    const plan_t *pl = q->plan;
    for (uint32_t k = 0; k < n; k++) {
        if ((int64_t)p->rows.n >= pl->max_groups) {
            p->overflow += n - k;
            q->st.flows_overflow += n - k;
            return;
        }
        if (p->rows.n == p->rows.cap) {
            uint32_t cap = p->rows.cap ? p->rows.cap * 2 : 256;
            if (!mem_take(&q->mem, sizeof(value_t) * (size_t)q->width *
                                       (cap - p->rows.cap))) {
                p->overflow += n - k;
                q->st.flows_overflow += n - k;
                return;
            }
            p->rows.cap = cap;
            p->rows.cells = xrealloc(p->rows.cells, sizeof(value_t) *
                                     (size_t)p->rows.cap * (size_t)q->width);
        }
        value_t *row = p->rows.cells + (size_t)p->rows.n * (size_t)q->width;
        uint32_t r = sel[k];
        for (int c = 0; c < q->width; c++) {
            type_t t = c < pl->ncols ? pl->cols[c].type
                                     : pl->order[c - pl->ncols].expr->type;
            if (!vals[c]) {
                memset(&row[c], 0, sizeof(value_t));
            } else if (type_is_wide(t)) {
                row[c].ip = ((const ipaddr_t *)vals[c])[r];
            } else {
                memset(&row[c], 0, sizeof(value_t));
                row[c].i = ((const int64_t *)vals[c])[r];
            }
        }
        p->rows.n++;
    }
}

/* Aggregate rows sub[0..m) (already keyed and evaluated) into pane p. */
static void pane_add(query_t *q, pane_t *p, const uint64_t *keys,
                     const void *const *vals, const uint32_t *sub, uint32_t m)
{
    p->flows += m;
    if (q->rows_mode) {
        rows_append(q, p, vals, sub, m);
        return;
    }
    uint64_t before = p->t->overflow;
    p->t->stamp_base = q->stamp_base;
    gtable_lookup(&q->layout, p->t, keys, q->hashes, sub, m, q->gidx);
    agg_update_all(&q->layout, p->t, vals, sub, m, q->gidx);
    q->st.flows_overflow += p->t->overflow - before;
}

/* Say once per episode that the memory budget refused this query
 * something (its flows are counted in flows_overflow), and once that the
 * budget has room again, not once per flow. */
static void mem_episode(query_t *q)
{
    if (q->quiet) {
        q->refused_seen = q->mem.refused;
        return;
    }
    if (q->mem.refused != q->refused_seen && !q->starved) {
        q->starved = 1;
        q->starved_overflow = q->st.flows_overflow;
        log_warn("engine", "%s: memory budget reached (%lld of %lld bytes "
                 "in use, %lld by this query): new groups are refused and "
                 "their flows counted in flows_overflow", q->name,
                 (long long)mem_used(), (long long)mem_limit(),
                 (long long)q->mem.bytes);
    } else if (q->starved && q->mem.refused == q->refused_seen &&
               mem_used() < mem_limit() / 10 * 9) {
        q->starved = 0;
        log_info("engine", "%s: memory budget has room again (%lld of %lld "
                 "bytes in use); %llu flows were refused meanwhile", q->name,
                 (long long)mem_used(), (long long)mem_limit(),
                 (unsigned long long)(q->st.flows_overflow -
                                      q->starved_overflow));
    }
    q->refused_seen = q->mem.refused;
}

void query_process(query_t *q, const flow_batch_t *b, int replay,
                   int64_t now_ms)
{
    query_process_sel(q, b, NULL, b->n, 0, replay, now_ms);
}

void query_process_sel(query_t *q, const flow_batch_t *b, const uint32_t *sel,
                       uint32_t n, int filtered, int replay, int64_t now_ms)
{
    q->batch_max = INT64_MIN;
    q->st.flows_in += filtered ? b->n : n;
    if (!n)
        return;
    if (!sel)
        sel = ident;
    if (q->filter && !filtered) {
        expr_bind_batch(q->filter, b);
        const int64_t *c = expr_eval(q->filter, sel, n);
        n = expr_filter(c, sel, n, q->sel);
        sel = q->sel;
    }
    q->st.flows_matched += n;
    if (!n)
        return;

    /* Window assignment: pane per row; late rows leave the selection. */
    const int64_t *tcol = q->time_field == F_START ? b->start
                        : q->time_field == F_END ? b->end : b->received;
    uint32_t m = 0;
    int64_t maxt = INT64_MIN;
    for (uint32_t k = 0; k < n; k++) {
        uint32_t r = sel[k];
        int64_t t = tcol[r];
        int64_t p = q->global ? 0 : floor_div(t, q->P);
        if (q->have_closed && !q->global && (p + 1) * q->P <= q->closed_end) {
            q->st.flows_late++;
            continue;
        }
        q->pidx[r] = p;
        q->sub[m++] = r;
        if (t > maxt)
            maxt = t;
        if (q->global) {
            if (!q->have_event || t < q->min_time)
                q->min_time = t;
            if (!q->have_event || t > q->max_time)
                q->max_time = t;
            q->have_event = 1;
        }
    }
    if (maxt > q->max_seen)
        q->max_seen = maxt;
    if (!m)
        return;
    memcpy(q->sel, q->sub, m * sizeof(uint32_t));
    sel = q->sel;
    n = m;
    if (!q->global && (q->time_field != F_RECEIVED || replay)) {
        if (!replay && maxt > now_ms + FUTURE_SKEW_MS)
            maxt = now_ms + FUTURE_SKEW_MS;
        if (!q->have_event || maxt > q->max_event)
            q->max_event = maxt;
        q->have_event = 1;
        q->batch_max = maxt;
    }

    /* Keys, hashes and the values every pane needs, once per batch. */
    const uint64_t *keys = NULL;
    const void *vals[64];
    const void **v = q->width > 64 || q->plan->naggs > 64
                         ? xcalloc((size_t)(q->width + q->plan->naggs), sizeof(void *))
                         : vals;
    if (q->rows_mode) {
        for (int c = 0; c < q->plan->ncols; c++) {
            expr_bind_batch(q->cols[c], b);
            v[c] = expr_eval(q->cols[c], sel, n);
        }
        for (int o = 0; o < q->plan->norder; o++) {
            const void *ov = NULL;
            if (q->order[o]) {
                expr_bind_batch(q->order[o], b);
                ov = expr_eval(q->order[o], sel, n);
            } else {
                ov = v[q->plan->order[o].col];
            }
            v[q->plan->ncols + o] = ov;
        }
    } else {
        keys = batch_keys(q, b, sel, n);
        for (int a = 0; a < q->plan->naggs; a++) {
            v[a] = NULL;
            if (q->args[a]) {
                expr_bind_batch(q->args[a], b);
                v[a] = expr_eval(q->args[a], sel, n);
            }
        }
    }

    /* Usually every row falls in one pane; otherwise peel off one pane's
     * rows at a time. */
    uint32_t left = n;
    uint32_t *rest = q->sel;
    while (left) {
        int64_t p = q->pidx[rest[0]];
        uint32_t same = 0, other = 0;
        for (uint32_t k = 0; k < left; k++) {
            uint32_t r = rest[k];
            if (q->pidx[r] == p)
                q->sub[same++] = r;
            else
                rest[other++] = r;
        }
        pane_add(q, pane_get(q, p), keys, v, q->sub, same);
        left = other;
    }
    if (v != vals)
        free(v);
    if (q->mem.refused != q->refused_seen)
        mem_episode(q);
}

int64_t query_threshold(const query_t *q, int replay, int64_t now_ms,
                        int64_t close_delay_ms)
{
    if (q->global)
        return INT64_MIN;           /* only engine_finish closes it */
    if (q->time_field == F_RECEIVED && !replay)
        return now_ms - close_delay_ms;
    if (!q->have_event)
        return replay ? INT64_MIN : now_ms - q->lateness;
    int64_t mark = q->max_event;
    if (!replay && now_ms > mark)
        mark = now_ms;
    return mark - q->lateness;
}

static void release_before(query_t *q, int64_t closed_end)
{
    int k = 0;
    while (k < q->npanes && q->panes[k].idx * q->P + q->size <= closed_end)
        pane_release(q, &q->panes[k++]);
    if (k) {
        memmove(q->panes, &q->panes[k], sizeof(pane_t) * (size_t)(q->npanes - k));
        q->npanes -= k;
    }
}

static void emit_window(query_t *q, int64_t S, int64_t E,
                        void (*emit)(void *ctx, rowset_t *rs), void *ctx)
{
    /* A predecessor emitted it (a scale-out worker's floor). */
    if (q->has_floor && E <= q->floor)
        return;
    /* Panes idx in [S/P, E/P). */
    int64_t lo = floor_div(S, q->P), hi = floor_div(E, q->P);
    pane_t *in[1024];
    pane_t **ps = in;
    int n = 0;
    int64_t want = hi - lo;
    if (want > 1024)
        ps = xcalloc((size_t)want, sizeof(pane_t *));
    for (int i = 0; i < q->npanes; i++)
        if (q->panes[i].idx >= lo && q->panes[i].idx < hi)
            ps[n++] = &q->panes[i];
    if (n == 0) {
        if (ps != in)
            free(ps);
        return;
    }
    rowset_t *(*groups)(query_t *, const gtable_t *, int64_t, int64_t) =
        q->emit_state ? emit_state : emit_groups;
    rowset_t *rs;
    if (q->rows_mode) {
        rs = emit_rows(q, ps, n, S, E);
    } else if (n == 1 && q->size == q->P) {
        rs = groups(q, ps[0]->t, S, E);
    } else {
        if (!q->scratch)
            q->scratch = gtable_new(&q->layout);
        uint64_t counted = 0;
        for (int i = 0; i < n; i++) {
            gtable_merge(&q->layout, q->scratch, ps[i]->t);
            counted += ps[i]->t->overflow;
        }
        /* Panes counted their own refusals; the window's cap refusing
         * groups while merging is new. */
        q->st.flows_overflow += q->scratch->overflow - counted;
        rs = groups(q, q->scratch, S, E);
        gtable_clear(&q->layout, q->scratch);
    }
    if (ps != in)
        free(ps);
    emit(ctx, rs);
}

void query_advance(query_t *q, int64_t threshold,
                   void (*emit)(void *ctx, rowset_t *rs), void *ctx)
{
    if (q->global) {
        if (threshold == INT64_MAX && q->npanes) {
            pane_t *p = &q->panes[0];
            rowset_t *rs = q->rows_mode
                               ? emit_rows(q, &p, 1, q->min_time, q->max_time + 1)
                               : emit_groups(q, p->t, q->min_time, q->max_time + 1);
            emit(ctx, rs);
            pane_release(q, p);
            q->npanes = 0;
            q->have_next = 0;
        }
        return;
    }
    while (q->have_next && q->next_end <= threshold) {
        int64_t E = q->next_end;
        emit_window(q, E - q->size, E, emit, ctx);
        q->closed_end = E;
        q->have_closed = 1;
        q->st.last_window_end = E;
        release_before(q, E);
        if (!q->npanes) {
            q->have_next = 0;
            break;
        }
        /* Skip windows that hold no pane. */
        int64_t first = (q->panes[0].idx + 1) * q->P;
        q->next_end = E + q->P > first ? E + q->P : first;
    }
    if (q->starved || q->mem.refused != q->refused_seen)
        mem_episode(q);
}

void query_seal(query_t *q, int64_t threshold)
{
    if (q->global || threshold == INT64_MIN)
        return;
    int64_t E = floor_div(threshold, q->P) * q->P;
    if (!q->have_closed || E > q->closed_end) {
        q->closed_end = E;
        q->have_closed = 1;
    }
}

uint32_t query_filter(query_t *q, const flow_batch_t *b, uint32_t *out)
{
    if (!q->filter) {
        memcpy(out, ident, b->n * sizeof(uint32_t));
        return b->n;
    }
    expr_bind_batch(q->filter, b);
    return expr_filter(expr_eval(q->filter, ident, b->n), ident, b->n, out);
}

int query_stage_advance(query_t *s, int64_t threshold,
                        int (*fold)(void *ctx, const pane_t *p), void *ctx)
{
    int done = 1;
    while (s->npanes && (s->panes[0].idx + 1) * s->P <= threshold) {
        pane_t *p = &s->panes[0];
        /* Closed from its first step on: later flows of its time are
         * late for the stage (the members take them). */
        s->closed_end = (p->idx + 1) * s->P;
        s->have_closed = 1;
        if (!fold(ctx, p)) {
            done = 0;
            break;
        }
        pane_release(s, p);
        memmove(s->panes, &s->panes[1], sizeof(pane_t) * (size_t)(s->npanes - 1));
        s->npanes--;
    }
    if (!s->npanes)
        s->have_next = 0;
    if (s->starved || s->mem.refused != s->refused_seen)
        mem_episode(s);
    return done;
}

int query_fold_step(query_t *m, const agglayout_t *sl, int64_t G,
                    const pane_t *sp, const int *amap, merge_cursor_t *c,
                    int64_t deadline_ms)
{
    int64_t start = sp->idx * G;
    int64_t idx = floor_div(start, m->P);
    if (!c->begun && m->have_closed && (idx + 1) * m->P <= m->closed_end) {
        m->st.flows_late += sp->flows;    /* its window closed first */
        return 1;
    }
    pane_t *p = pane_get(m, idx);
    if (!gtable_merge_step(&m->layout, p->t, sl, sp->t, amap, c, deadline_ms))
        return 0;
    p->flows += sp->flows;
    /* The stage's own refusals were counted as they happened
     * (share_process); the merge's are new. */
    m->st.flows_overflow += c->overflow;
    memset(c, 0, sizeof(*c));
    if (start + G - 1 > m->max_seen)
        m->max_seen = start + G - 1;
    if (m->mem.refused != m->refused_seen)
        mem_episode(m);
    return 1;
}

void query_usage(const query_t *q, uint64_t *groups, uint64_t *bytes)
{
    uint64_t g = 0;
    for (int i = 0; i < q->npanes; i++)
        g += q->panes[i].t ? q->panes[i].t->n : q->panes[i].rows.n;
    *groups = g;
    *bytes = q->mem.bytes > 0 ? (uint64_t)q->mem.bytes : 0;
}
