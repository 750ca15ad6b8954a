/*
 * share.c - shared aggregation across queries; see share.h.
 */
#include "engine/share.h"
#include "engine/func.h"
#include "engine/schema.h"
#include "util/arena.h"
#include "util/log.h"
#include "util/timeutil.h"

#include <stdlib.h>
#include <string.h>

typedef struct member {
    query_t *q;
    int     *amap;     /* member aggregate -> stage aggregate */
    int64_t  from;     /* flows at or after this time come from the stage */
} member_t;

struct share {
    query_t  *stage;
    int       rmode;   /* query_new's replay argument */
    int64_t   G;
    member_t *m;
    int       n, cap;
    uint64_t  serial, tick_serial;
    /* A stage pane folded in steps (share_advance): the members before
     * the fk-th (fold_order) have it, the fk-th is at cur. Its members'
     * windows wait. */
    int       pending, fk;
    int64_t   pending_start, pending_end;
    int64_t   deadline;
    merge_cursor_t cur;
    uint32_t  sel[FLOW_BATCH_MAX];
};

static void finish_pending(share_t *s);

static inline int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

static int64_t gcd64(int64_t a, int64_t b)
{
    while (b) {
        int64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* Windows by receive time on a live engine: the only ones whose panes
 * may be longer than the stage's. */
static int by_receipt(const query_t *q, int replay)
{
    return q->time_field == F_RECEIVED && !replay;
}

int share_compatible(const query_t *a, const query_t *b, int replay)
{
    const plan_t *pa = a->plan, *pb = b->plan;
    if (a->rows_mode || b->rows_mode || a->global || b->global)
        return 0;
    if (a->time_field != b->time_field || pa->max_groups != pb->max_groups)
        return 0;
    if (!by_receipt(a, replay) && a->lateness != b->lateness)
        return 0;
    if (pa->nkeys != pb->nkeys || pa->nkeys == 0)
        return 0;
    if ((pa->filter == NULL) != (pb->filter == NULL) ||
        (pa->filter && !ast_equal(pa->filter, pb->filter)))
        return 0;
    for (int i = 0; i < pa->nkeys; i++)
        if (a->layout.key_types[i] != b->layout.key_types[i] ||
            !ast_equal(pa->keys[i], pb->keys[i]))
            return 0;
    return 1;
}

/* Aggregates whose panes merge into exactly what one pane would hold. */
static int merge_exact(const query_t *q)
{
    for (int a = 0; a < q->layout.naggs; a++) {
        const aggdef_t *d = &q->layout.aggs[a];
        if (d->fn == FN_TOPK)
            return 0;
        if ((d->fn == FN_SUM || d->fn == FN_AVG) && d->arg_type == TYPE_FLOAT)
            return 0;
    }
    return 1;
}

/* Can q's panes be made of panes of length G? */
static int fits(const query_t *q, int64_t G, int replay)
{
    if (q->P % G != 0)
        return 0;
    if (q->P == G)
        return 1;
    return by_receipt(q, replay) && merge_exact(q);
}

static int same_agg(const agg_spec_t *x, const agg_spec_t *y)
{
    return x->fn == y->fn && x->distinct == y->distinct && x->k == y->k &&
           ((!x->arg && !y->arg) ||
            (x->arg && y->arg && ast_equal(x->arg, y->arg)));
}

/* The stage aggregate member aggregate x reads in plan st, or -1: the
 * same call, or for approx_count_distinct(x) a count(DISTINCT x). */
static int find_agg(const plan_t *st, const agg_spec_t *x)
{
    for (int i = 0; i < st->naggs; i++)
        if (same_agg(&st->aggs[i], x))
            return i;
    if (x->fn == FN_APPROX_DISTINCT)
        for (int i = 0; i < st->naggs; i++)
            if (st->aggs[i].fn == FN_COUNT && st->aggs[i].distinct &&
                st->aggs[i].arg && ast_equal(st->aggs[i].arg, x->arg))
                return i;
    return -1;
}

/* Does any of the n queries have count(DISTINCT arg)? */
static int has_exact(query_t *const *qs, int n, const ast_t *arg)
{
    for (int k = 0; k < n; k++)
        for (int i = 0; i < qs[k]->plan->naggs; i++) {
            const agg_spec_t *a = &qs[k]->plan->aggs[i];
            if (a->fn == FN_COUNT && a->distinct && a->arg &&
                ast_equal(a->arg, arg))
                return 1;
        }
    return 0;
}

/* The stage of queries qs[0..n) over panes of G: its statement is written
 * from theirs (keys, every aggregate once, filter, window), compiled like
 * any query, and checked to be theirs. NULL if anything differs. */
static query_t *stage_build(query_t *const *qs, int n, int64_t G, int rmode,
                            int **amaps)
{
    const plan_t *p0 = qs[0]->plan;
    sbuf_t b = SBUF_INIT;
    sbuf_printf(&b, "CREATE QUERY share_stage WITH (max_groups = %lld) AS SELECT ",
                (long long)p0->max_groups);
    for (int i = 0; i < p0->nkeys; i++) {
        sbuf_add(&b, i ? ", " : "");
        ast_print(&b, p0->keys[i], NULL, NULL);
    }
    /* Every aggregate of every member once; a sketch of x is read from
     * count(DISTINCT x) when some member has that. */
    for (int k = 0; k < n; k++)
        for (int i = 0; i < qs[k]->plan->naggs; i++) {
            const agg_spec_t *a = &qs[k]->plan->aggs[i];
            if (a->fn == FN_APPROX_DISTINCT && has_exact(qs, n, a->arg))
                continue;
            sbuf_printf(&b, ", %s", a->text);
        }
    const window_spec_t *w = &p0->window;
    sbuf_printf(&b, " FROM flows WINDOW %lldms", (long long)G);
    if (w->time_explicit && w->on_name)
        sbuf_printf(&b, " ON %s", w->on_name);
    if (w->has_lateness)
        sbuf_printf(&b, " LATENESS %lldms", (long long)w->lateness);
    if (p0->filter) {
        sbuf_add(&b, " WHERE ");
        ast_print(&b, p0->filter, NULL, NULL);
    }
    sbuf_add(&b, " GROUP BY ");
    for (int i = 0; i < p0->nkeys; i++) {
        sbuf_add(&b, i ? ", " : "");
        ast_print(&b, p0->keys[i], NULL, NULL);
    }
    diag_t err;
    plan_t *st = plan_compile(sbuf_str(&b), strlen(sbuf_str(&b)), p0->max_groups,
                              &err);
    if (!st) {
        log_debug("engine", "no shared stage for %s: %s (%s)", qs[0]->name,
                  err.msg, sbuf_str(&b));
        sbuf_free(&b);
        return NULL;
    }
    sbuf_free(&b);
    int ok = st->nkeys == p0->nkeys &&
             ((!st->filter && !p0->filter) ||
              (st->filter && p0->filter && ast_equal(st->filter, p0->filter)));
    for (int i = 0; ok && i < st->nkeys; i++)
        ok = ast_equal(st->keys[i], p0->keys[i]);
    for (int k = 0; ok && k < n; k++) {
        const plan_t *pk = qs[k]->plan;
        amaps[k] = xcalloc((size_t)pk->naggs + 1, sizeof(int));
        for (int i = 0; ok && i < pk->naggs; i++)
            ok = (amaps[k][i] = find_agg(st, &pk->aggs[i])) >= 0;
    }
    query_t *sq = ok ? query_new("share_stage", st, rmode) : NULL;
    for (int i = 0; sq && i < p0->nkeys; i++)
        if (sq->layout.key_types[i] != qs[0]->layout.key_types[i])
            ok = 0;
    if (sq && (!ok || sq->time_field != qs[0]->time_field ||
               sq->lateness != qs[0]->lateness)) {
        query_free(sq, 0);
        sq = NULL;
    }
    if (!sq) {
        for (int k = 0; k < n; k++) {
            free(amaps[k]);
            amaps[k] = NULL;
        }
        plan_free(st);
        log_debug("engine", "no shared stage for %s: the stage's plan differs",
                  qs[0]->name);
    }
    return sq;
}

/* The latest flow time any of the group has put in a pane. */
static int64_t high_water(const share_t *s, const query_t *extra)
{
    int64_t hw = s && s->stage ? s->stage->max_seen : INT64_MIN;
    for (int i = 0; s && i < s->n; i++)
        if (s->m[i].q->max_seen > hw)
            hw = s->m[i].q->max_seen;
    if (extra && extra->max_seen > hw)
        hw = extra->max_seen;
    return hw;
}

/* From when q takes its flows from the stage: the first multiple of its
 * slide after every flow the group has aggregated. */
static int64_t first_shared(const query_t *q, int64_t hw)
{
    if (hw == INT64_MIN)
        return INT64_MIN;
    return (floor_div(hw, q->P) + 1) * q->P;
}

/* Replace the stage by one over qs[0..n) with pane G; the old one must
 * hold nothing (no flow seen). 0 or -1. */
static int restage(share_t *s, query_t *const *qs, int n, int64_t G)
{
    int **amaps = xcalloc((size_t)n + 1, sizeof(int *));
    finish_pending(s);
    query_t *st = stage_build(qs, n, G, s->rmode, amaps);
    if (!st) {
        free(amaps);
        return -1;
    }
    if (s->stage) {
        plan_t *op = s->stage->plan;
        query_free(s->stage, 0);
        plan_free(op);
    }
    s->stage = st;
    s->G = G;
    for (int k = 0; k < s->n; k++)
        free(s->m[k].amap);
    if (n > s->cap) {
        s->cap = n * 2;
        s->m = xrealloc(s->m, sizeof(member_t) * (size_t)s->cap);
    }
    int64_t hw = high_water(s, NULL);
    for (int k = 0; k < n; k++) {
        int64_t from = k < s->n ? s->m[k].from : first_shared(qs[k], hw);
        s->m[k] = (member_t){.q = qs[k], .amap = amaps[k], .from = from};
    }
    s->n = n;
    free(amaps);
    st->stamped = 1;
    st->quiet = 1;
    for (int k = 0; k < n; k++)
        qs[k]->stamped = 1;
    return 0;
}

share_t *share_new(query_t *a, query_t *b, int replay)
{
    int64_t G = gcd64(a->P, b->P);
    if (!fits(a, G, replay) || !fits(b, G, replay))
        return NULL;
    share_t *s = xcalloc(1, sizeof(*s));
    s->rmode = replay;
    query_t *qs[2] = {a, b};
    /* Both may have run alone: each takes the stage's panes after every
     * flow either has aggregated. */
    int64_t hw = a->max_seen > b->max_seen ? a->max_seen : b->max_seen;
    if (restage(s, qs, 2, G) < 0) {
        free(s->m);
        free(s);
        return NULL;
    }
    s->m[0].from = first_shared(a, hw);
    s->m[1].from = first_shared(b, hw);
    return s;
}

int share_join(share_t *s, query_t *q, int replay)
{
    if (!share_compatible(s->m[0].q, q, replay))
        return -1;
    int fresh = s->stage->max_seen == INT64_MIN && !s->stage->npanes &&
                !s->stage->have_closed;
    int64_t from = first_shared(q, high_water(s, q));
    if (!fresh) {
        /* The stage holds flows: q joins if it finds its slice and its
         * aggregates there; the stage itself stays as it is. */
        if (!fits(q, s->G, replay))
            return -1;
        finish_pending(s);
        int *amap = xcalloc((size_t)q->plan->naggs + 1, sizeof(int));
        for (int a = 0; a < q->plan->naggs; a++)
            if ((amap[a] = find_agg(s->stage->plan, &q->plan->aggs[a])) < 0) {
                free(amap);
                return -1;
            }
        if (s->n == s->cap) {
            s->cap = s->cap * 2 + 2;
            s->m = xrealloc(s->m, sizeof(member_t) * (size_t)s->cap);
        }
        s->m[s->n++] = (member_t){.q = q, .amap = amap, .from = from};
        q->stamped = 1;
        return 0;
    }
    /* Nothing seen yet (queries registered before the first flow): the
     * stage is rebuilt with every aggregate, at a finer slice if q's
     * needs one. */
    int64_t G = gcd64(s->G, q->P);
    if (!fits(q, G, replay))
        return -1;
    for (int k = 0; k < s->n; k++)
        if (!fits(s->m[k].q, G, replay))
            return -1;
    query_t **qs = xcalloc((size_t)s->n + 2, sizeof(*qs));
    for (int k = 0; k < s->n; k++)
        qs[k] = s->m[k].q;
    qs[s->n] = q;
    int rc = restage(s, qs, s->n + 1, G);
    free(qs);
    if (rc < 0)
        return -1;
    s->m[s->n - 1].from = from;
    return 0;
}

int share_leave(share_t *s, query_t *q)
{
    finish_pending(s);
    for (int k = 0; k < s->n; k++)
        if (s->m[k].q == q) {
            free(s->m[k].amap);
            memmove(&s->m[k], &s->m[k + 1], sizeof(member_t) * (size_t)(s->n - k - 1));
            s->n--;
            break;
        }
    return s->n;
}

void share_free(share_t *s)
{
    if (!s)
        return;
    merge_cursor_free(&s->cur);
    for (int k = 0; k < s->n; k++)
        free(s->m[k].amap);
    free(s->m);
    if (s->stage) {
        plan_t *p = s->stage->plan;
        query_free(s->stage, 0);
        plan_free(p);
    }
    free(s);
}

query_t *share_stage(share_t *s)
{
    return s->stage;
}

void share_process(share_t *s, const flow_batch_t *b, const uint32_t *sel,
                   uint32_t n, int replay, int64_t now_ms)
{
    query_t *st = s->stage;
    uint64_t matched = st->st.flows_matched;
    uint64_t over = st->st.flows_overflow, refused = st->mem.refused;
    /* Stamps number flows as an unshared query sees them: batch, row. */
    st->stamp_base = s->serial << 11;
    if (sel)
        query_process_sel(st, b, sel, n, 1, replay, now_ms);
    else
        query_process(st, b, replay, now_ms);
    matched = st->st.flows_matched - matched;
    over = st->st.flows_overflow - over;
    refused = st->mem.refused - refused;
    const int64_t *tcol = st->time_field == F_START ? b->start
                        : st->time_field == F_END ? b->end : b->received;
    int64_t late = st->have_closed ? st->closed_end : INT64_MIN;
    for (int k = 0; k < s->n; k++) {
        member_t *m = &s->m[k];
        query_t *q = m->q;
        if (st->batch_max != INT64_MIN) {
            if (!q->have_event || st->batch_max > q->max_event)
                q->max_event = st->batch_max;
            q->have_event = 1;
        }
        /* Flows before its first shared pane, or whose stage pane was
         * already folded: the member aggregates them itself. */
        int64_t D = m->from > late ? m->from : late;
        uint32_t nd = 0;
        if (D != INT64_MIN)
            for (uint32_t r = 0; r < b->n; r++)
                if (tcol[r] < D)
                    s->sel[nd++] = r;
        if (nd) {
            uint64_t in = q->st.flows_in, mt = q->st.flows_matched;
            q->stamp_base = s->serial << 11;
            query_process_sel(q, b, s->sel, nd, 0, replay, now_ms);
            q->st.flows_in = in;
            q->st.flows_matched = mt;
        }
        q->st.flows_in += b->n;
        q->st.flows_matched += matched;
        /* What the stage refused (cap, budget) it refused for every
         * member taking its panes: counted now, logged by each. */
        if (m->from <= st->max_seen) {
            q->st.flows_overflow += over;
            q->mem.refused += refused;
        }
    }
}

/* The member folding a stage pane k-th: the others in their order, and
 * last the last whose slide is the stage's (its pane is the stage pane's
 * copy, so it takes the stage pane's pairs instead, fold_pane). */
static member_t *fold_order(share_t *s, int k)
{
    int t = -1;
    for (int i = 0; i < s->n; i++)
        if (s->m[i].q->P == s->G)
            t = i;
    if (t < 0 || k < t)
        return &s->m[k];
    return k == s->n - 1 ? &s->m[t] : &s->m[k + 1];
}

/* Fold stage pane p into every member that takes it, from the fk-th on
 * (fold_order), until s->deadline: 1 when done (the stage may release
 * it). The last member may take its pairs: the stage drops it after. */
static int fold_pane(void *ctx, const pane_t *p)
{
    share_t *s = ctx;
    int64_t start = p->idx * s->G;
    if (!s->pending) {
        s->pending = 1;
        s->fk = 0;
        s->pending_start = start;
        s->pending_end = start + s->G;
    }
    for (; s->fk < s->n; s->fk++) {
        member_t *m = fold_order(s, s->fk);
        s->cur.take = s->fk == s->n - 1 ? p->t : NULL;
        if (start >= m->from &&
            !query_fold_step(m->q, &s->stage->layout, s->G, p, m->amap,
                             &s->cur, s->deadline))
            return 0;
    }
    s->pending = 0;
    return 1;
}

void share_advance(share_t *s, int64_t threshold, int64_t deadline_ms)
{
    /* A pane begun goes on even if the threshold went back (the clock
     * follows the queue's receive times while it has a backlog). */
    if (s->pending && threshold < s->pending_end)
        threshold = s->pending_end;
    s->deadline = deadline_ms;
    query_stage_advance(s->stage, threshold, fold_pane, s);
}

/* Fold what was begun to its end (before the members change). */
static void finish_pending(share_t *s)
{
    if (s->pending)
        share_advance(s, s->pending_end, INT64_MAX);
}

int64_t share_hold(const share_t *s)
{
    return s->pending ? s->pending_start : INT64_MAX;
}

int share_pending(const share_t *s)
{
    return s->pending;
}

int64_t share_threshold(const share_t *s, int replay, int64_t now_ms,
                        int64_t close_delay_ms)
{
    return query_threshold(s->stage, replay, now_ms, close_delay_ms);
}

uint64_t *share_serial(share_t *s)
{
    return &s->serial;
}

uint64_t *share_tick_serial(share_t *s)
{
    return &s->tick_serial;
}

void share_usage(const share_t *s, uint64_t *groups, uint64_t *bytes)
{
    query_usage(s->stage, groups, bytes);
}

uint64_t share_overflows(const share_t *s, const query_t *q)
{
    const query_t *st = s->stage;
    uint64_t ov = st->filter ? expr_overflows(st->filter) : 0;
    for (int i = 0; i < st->plan->nkeys; i++)
        ov += expr_overflows(st->keys[i]);
    for (int k = 0; k < s->n; k++) {
        if (s->m[k].q != q)
            continue;
        for (int a = 0; a < q->plan->naggs; a++)
            if (st->args[s->m[k].amap[a]])
                ov += expr_overflows(st->args[s->m[k].amap[a]]);
    }
    return ov;
}

const query_t *share_leader(const share_t *s)
{
    return s->n ? s->m[0].q : NULL;
}

int share_would(const share_t *s, const query_t *other, const query_t *q,
                int replay, int64_t *G)
{
    if (!s) {
        *G = gcd64(other->P, q->P);
        return share_compatible(other, q, replay) &&
               fits(other, *G, replay) && fits(q, *G, replay);
    }
    if (!share_compatible(s->m[0].q, q, replay))
        return 0;
    int fresh = s->stage->max_seen == INT64_MIN && !s->stage->npanes &&
                !s->stage->have_closed;
    if (!fresh) {
        *G = s->G;
        if (!fits(q, s->G, replay))
            return 0;
        for (int a = 0; a < q->plan->naggs; a++)
            if (find_agg(s->stage->plan, &q->plan->aggs[a]) < 0)
                return 0;
        return 1;
    }
    *G = gcd64(s->G, q->P);
    if (!fits(q, *G, replay))
        return 0;
    for (int k = 0; k < s->n; k++)
        if (!fits(s->m[k].q, *G, replay))
            return 0;
    return 1;
}

void share_names(const share_t *s, sbuf_t *out)
{
    for (int k = 0; k < s->n; k++)
        sbuf_printf(out, "%s%s", k ? ", " : "", s->m[k].q->name);
}

void share_describe(const share_t *s, const query_t *q, sbuf_t *out)
{
    char g[32];
    sbuf_printf(out, "panes of %s", duration_format(s->G, g, sizeof(g)));
    int others = 0;
    for (int k = 0; k < s->n; k++) {
        if (s->m[k].q == q)
            continue;
        sbuf_printf(out, "%s%s", others++ ? ", " : " with ", s->m[k].q->name);
    }
    if (!others)
        sbuf_add(out, " (no other query now)");
    sbuf_printf(out, ": filter, keys, hash probe and %d aggregates once per "
                "flow; this query's windows are rolled up from the panes\n",
                s->stage->plan->naggs);
}
