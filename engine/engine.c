/*
 * engine.c - the registry of running queries; see engine.h.
 */
#include "engine/engine.h"
#include "engine/xfield.h"
#include "engine/schema.h"
#include "engine/pushdown.h"
#include "engine/qhandle.h"
#include "engine/query.h"
#include "engine/share.h"
#include "util/arena.h"
#include "util/counter.h"
#include "util/log.h"
#include "util/timeutil.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define MAX_OUTPUTS 16

/* One registered query: its handle (the engine's reference), its running
 * pipeline, and what says whether a window of it is partial. */
typedef struct entry {
    qhandle_t *h;
    query_t   *q;
    int64_t    since;     /* wall clock at registration (live), else 0 */
    uint64_t   partial;   /* partial windows emitted */
    share_t   *sh;        /* its share group, or NULL: runs alone */
    /* Filters evaluated once per batch for every query (or share group)
     * with the same WHERE: the entry holding the selection, or -1. */
    int        fsrc;
    int        flead;     /* others read this entry's selection */
    uint32_t  *fsel;      /* a leader's selection, fn rows, of batch fserial */
    uint32_t   fn;
    uint64_t   fserial;
} entry_t;

struct engine {
    pthread_mutex_t lock;
    engine_config_t cfg;
    entry_t        *q;
    int             nq, cap;
    output_t       *out[MAX_OUTPUTS];
    int             nout;
    int64_t         now;   /* wall clock of the last tick (live) */
    int64_t         recv_mark; /* latest receive time processed (live;
                                  engine thread only) */
    counter_t       fields;    /* 1 << F_x of every field a query names */
    uint64_t        serial;    /* batches processed (share groups run once
                                  per batch) */
    uint64_t        ticks;     /* advances (share groups fold once each) */
    gauge_t         tick_max_ms; /* longest live advance (engine_tick) */
};

/* Recompute the fields the registered queries name (under e->lock). */
static void update_fields(engine_t *e)
{
    uint64_t m = 0;
    for (int i = 0; i < e->nq; i++)
        m |= plan_named_fields(e->q[i].h->plan);
    uint64_t old = ctr_get(&e->fields);
    ctr_set(&e->fields, m);
    xfield_want_change((uint32_t)(old >> F_X0), (uint32_t)(m >> F_X0));
}

uint64_t engine_fields(engine_t *e)
{
    return ctr_get(&e->fields);
}

engine_t *engine_new(const engine_config_t *cfg)
{
    engine_t *e = xcalloc(1, sizeof(*e));
    pthread_mutex_init(&e->lock, NULL);
    if (cfg)
        e->cfg = *cfg;
    if (e->cfg.close_delay_ms <= 0)
        e->cfg.close_delay_ms = 300;
    if (e->cfg.max_groups <= 0)
        e->cfg.max_groups = PLAN_DEFAULT_MAX_GROUPS;
    if (e->cfg.max_queries <= 0)
        e->cfg.max_queries = 1000;
    return e;
}

void engine_free(engine_t *e)
{
    if (!e)
        return;
    xfield_want_change((uint32_t)(ctr_get(&e->fields) >> F_X0), 0);
    for (int i = 0; i < e->nq; i++) {
        share_t *sh = e->q[i].sh;
        if (sh && share_leave(sh, e->q[i].q) == 0)
            share_free(sh);
        query_free(e->q[i].q, 0);
        qhandle_unref(e->q[i].h);
        free(e->q[i].fsel);
    }
    free(e->q);
    pthread_mutex_destroy(&e->lock);
    free(e);
}

void engine_add_output(engine_t *e, output_t *o)
{
    pthread_mutex_lock(&e->lock);
    if (e->nout < MAX_OUTPUTS)
        e->out[e->nout++] = o;
    pthread_mutex_unlock(&e->lock);
}

/* The one name rule (qhandle.h): names compare without case. */
static int find(engine_t *e, const char *name)
{
    for (int i = 0; i < e->nq; i++)
        if (qname_equal(e->q[i].h->name, name))
            return i;
    return -1;
}

/* query_new's replay argument for this engine. */
static int rmode(const engine_t *e)
{
    return e->cfg.replay && e->cfg.history ? QUERY_HISTORY : e->cfg.replay;
}

/* The query that runs entry i's filter: its share group's stage, or
 * itself. NULL for the members of a group after its first (the group
 * runs once, for the first). */
static query_t *runner(engine_t *e, int i)
{
    share_t *sh = e->q[i].sh;
    if (!sh)
        return e->q[i].q;
    for (int k = 0; k < i; k++)
        if (e->q[k].sh == sh)
            return NULL;
    return share_stage(sh);
}

/* Which runners have the same WHERE (under e->lock, after every change
 * of the registry). */
static void refilter(engine_t *e)
{
    for (int i = 0; i < e->nq; i++) {
        e->q[i].fsrc = -1;
        e->q[i].flead = 0;
    }
    if (!e->cfg.share)
        return;
    for (int i = 0; i < e->nq; i++) {
        query_t *q = runner(e, i);
        if (!q || !q->plan->filter)
            continue;
        for (int j = 0; j < i; j++) {
            query_t *o = runner(e, j);
            if (o && o->plan->filter && e->q[j].fsrc < 0 &&
                ast_equal(o->plan->filter, q->plan->filter)) {
                e->q[i].fsrc = j;
                e->q[j].flead = 1;
                break;
            }
        }
    }
}

/* Put the new entry i in a share group (under e->lock): the first group
 * it can join, else a new group with the first query running alone that
 * it can share panes with; else it runs alone. */
static void place_shared(engine_t *e, int i)
{
    entry_t *en = &e->q[i];
    int replay = e->cfg.replay != 0;
    for (int j = 0; j < e->nq; j++) {
        share_t *sh = e->q[j].sh;
        if (j == i || !sh || !share_compatible(e->q[j].q, en->q, replay))
            continue;
        int seen = 0;
        for (int k = 0; k < j; k++)
            seen |= e->q[k].sh == sh;
        if (!seen && share_join(sh, en->q, rmode(e)) == 0) {
            en->sh = sh;
            return;
        }
    }
    for (int j = 0; j < e->nq; j++) {
        if (j == i || e->q[j].sh || !share_compatible(e->q[j].q, en->q, replay))
            continue;
        share_t *sh = share_new(e->q[j].q, en->q, rmode(e));
        if (sh) {
            e->q[j].sh = en->sh = sh;
            return;
        }
    }
}

int engine_register_handle(engine_t *e, qhandle_t *h, diag_t *err)
{
    const plan_t *plan = h->plan;
    const stmt_t *st = plan_target(plan);
    if (plan->stmt->kind == STMT_EXPLAIN ||
        (st->kind != STMT_SELECT && st->kind != STMT_CREATE)) {
        diag_set(err, "only SELECT and CREATE QUERY statements can run");
        return ENGINE_EINVALID;
    }
    if (!e->cfg.replay && !plan->window.present) {
        diag_set(err, "a query over the live stream needs a WINDOW clause, "
                 "e.g. FROM flows WINDOW 10s");
        return ENGINE_EINVALID;
    }
    /* Compile outside the lock: it allocates the vector registers. */
    query_t *q = query_new(h->name, h->plan, rmode(e));
    pthread_mutex_lock(&e->lock);
    int rc = ENGINE_OK;
    if (find(e, h->name) >= 0) {
        diag_set(err, "a query named '%s' already exists", h->name);
        rc = ENGINE_EEXIST;
    } else if (e->nq >= e->cfg.max_queries) {
        diag_set(err, "too many queries (at most %d)", e->cfg.max_queries);
        rc = ENGINE_ELIMIT;
    }
    if (rc < 0) {
        pthread_mutex_unlock(&e->lock);
        query_free(q, 0);
        return rc;
    }
    if (e->nq == e->cap) {
        e->cap = e->cap ? e->cap * 2 : 16;
        e->q = xrealloc(e->q, sizeof(entry_t) * (size_t)e->cap);
    }
    qhandle_ref(h);
    e->q[e->nq++] = (entry_t){.h = h, .q = q,
                              .since = e->cfg.replay ? 0 : time_now_ms()};
    if (e->cfg.share)
        place_shared(e, e->nq - 1);
    refilter(e);
    update_fields(e);
    pthread_mutex_unlock(&e->lock);
    return ENGINE_OK;
}

int engine_register(engine_t *e, const char *name, plan_t *plan, diag_t *err)
{
    qhandle_t *h = qhandle_wrap(name, plan);
    int rc = engine_register_handle(e, h, err);
    if (rc < 0)
        h->plan = NULL;     /* the caller keeps its plan */
    qhandle_unref(h);
    return rc;
}

int engine_drop(engine_t *e, const char *name)
{
    pthread_mutex_lock(&e->lock);
    int i = find(e, name);
    if (i < 0) {
        pthread_mutex_unlock(&e->lock);
        return -1;
    }
    entry_t en = e->q[i];
    memmove(&e->q[i], &e->q[i + 1], sizeof(entry_t) * (size_t)(e->nq - i - 1));
    e->nq--;
    /* The group's other queries keep its stage and panes. */
    if (en.sh && share_leave(en.sh, en.q) == 0)
        share_free(en.sh);
    free(en.fsel);
    refilter(e);
    update_fields(e);
    pthread_mutex_unlock(&e->lock);
    atomic_store(&en.h->dropped, 1);
    query_free(en.q, 0);
    qhandle_unref(en.h);
    return 0;
}

int engine_has(engine_t *e, const char *name)
{
    pthread_mutex_lock(&e->lock);
    int r = find(e, name) >= 0;
    pthread_mutex_unlock(&e->lock);
    return r;
}

qhandle_t *engine_get(engine_t *e, const char *name)
{
    pthread_mutex_lock(&e->lock);
    int i = find(e, name);
    qhandle_t *h = i >= 0 ? e->q[i].h : NULL;
    if (h)
        qhandle_ref(h);
    pthread_mutex_unlock(&e->lock);
    return h;
}

int engine_handles(engine_t *e, qhandle_t ***out)
{
    pthread_mutex_lock(&e->lock);
    int n = e->nq;
    qhandle_t **hs = xcalloc((size_t)n + 1, sizeof(*hs));
    for (int i = 0; i < n; i++) {
        hs[i] = e->q[i].h;
        qhandle_ref(hs[i]);
    }
    pthread_mutex_unlock(&e->lock);
    *out = hs;
    return n;
}

int engine_count(engine_t *e)
{
    pthread_mutex_lock(&e->lock);
    int n = e->nq;
    pthread_mutex_unlock(&e->lock);
    return n;
}

/* Where a window goes: the outputs, with its query's handle and whether
 * it is partial. A live window is partial when its query began after its
 * start (registered, or the daemon started, inside it) or when it is
 * closed before it was due (engine_finish at shutdown: due is the
 * threshold the clock had reached; INT64_MAX otherwise). A replay has no
 * clock and sees its whole input: its windows are never partial. */
typedef struct delivery {
    engine_t *e;
    entry_t  *en;
    int64_t   due;
} delivery_t;

static void deliver(void *ctx, rowset_t *rs)
{
    delivery_t *d = ctx;
    engine_t *e = d->e;
    rs->closed_at = time_now_ms();
    qhandle_ref(d->en->h);
    rs->qh = d->en->h;
    rs->replayed = e->cfg.replay != 0;
    rs->partial = !e->cfg.replay &&
                  (rs->wstart < d->en->since || rs->wend > d->due);
    d->en->partial += rs->partial;
    for (int i = 0; i < e->nout; i++)
        e->out[i]->on_window(e->out[i], rs);
    rowset_unref(rs);
}

/* The engine thread does nothing else while a query holds it: say so
 * when it is long enough to fill the queue behind it. */
static void log_slow(const query_t *q, const char *what, int64_t took)
{
    if (took >= 100)
        log_msg(took >= 1000 ? LOG_INFO : LOG_DEBUG, "engine",
                "%s: %s took %lld ms", q->name, what, (long long)took);
}

/* The longest a live fold of shared panes holds the engine thread at a
 * time: at a tick, and after a batch while a pane is half folded. */
enum { FOLD_TICK_MS = 20, FOLD_BATCH_MS = 2 };

/* Fold share group sh's complete panes before its members close windows
 * at this advance (once per group per advance): live, for slice_ms at
 * most (the rest at the next advances; the members' windows wait, see
 * share_hold); replayed or at the finish, all of them. */
static void share_fold(engine_t *e, share_t *sh, int64_t now_ms, int finish,
                       int64_t slice_ms)
{
    if (*share_tick_serial(sh) == e->ticks)
        return;
    *share_tick_serial(sh) = e->ticks;
    int64_t t = finish ? INT64_MAX
              : share_threshold(sh, e->cfg.replay != 0, now_ms,
                                e->cfg.close_delay_ms);
    int64_t deadline = finish || e->cfg.replay ? INT64_MAX
                                               : time_mono_ms() + slice_ms;
    share_advance(sh, t, deadline);
}

void engine_process(engine_t *e, const flow_batch_t *b)
{
    if (!e->cfg.replay)
        for (uint32_t i = 0; i < b->n; i++)
            if (b->received[i] > e->recv_mark)
                e->recv_mark = b->received[i];
    pthread_mutex_lock(&e->lock);
    int64_t now = e->cfg.replay ? 0 : time_now_ms();
    e->serial++;
    e->ticks++;
    for (int i = 0; i < e->nq; i++) {
        query_t *q = e->q[i].q;
        share_t *sh = e->q[i].sh;
        int64_t t0 = time_now_ms();
        const uint32_t *sel = NULL;
        uint32_t n = 0;
        int L = e->q[i].fsrc >= 0 ? e->q[i].fsrc : e->q[i].flead ? i : -1;
        if (L >= 0 && (!sh || *share_serial(sh) != e->serial)) {
            entry_t *le = &e->q[L];
            if (le->fserial != e->serial) {
                if (!le->fsel)
                    le->fsel = xcalloc(FLOW_BATCH_MAX, sizeof(uint32_t));
                le->fn = query_filter(runner(e, L), b, le->fsel);
                le->fserial = e->serial;
            }
            sel = le->fsel;
            n = le->fn;
        }
        if (!sh) {
            if (sel)
                query_process_sel(q, b, sel, n, 1, e->cfg.replay, now);
            else
                query_process(q, b, e->cfg.replay, now);
        } else if (*share_serial(sh) != e->serial) {
            *share_serial(sh) = e->serial;
            share_process(sh, b, sel, n, e->cfg.replay, now);
        }
        if (sh && !e->cfg.replay && share_pending(sh))
            share_fold(e, sh, now, 0, FOLD_BATCH_MS);
        log_slow(q, "a batch", time_now_ms() - t0);
        /* Replay has no clock: the flows themselves move windows on. */
        if (e->cfg.replay) {
            delivery_t d = {e, &e->q[i], INT64_MAX};
            if (sh)
                share_fold(e, sh, 0, 0, 0);
            query_advance(q, query_threshold(q, 1, 0, 0), deliver, &d);
        }
    }
    pthread_mutex_unlock(&e->lock);
}

void engine_tick(engine_t *e, int64_t now_ms)
{
    if (e->cfg.replay)
        return;
    pthread_mutex_lock(&e->lock);
    int64_t start = time_mono_ms();
    e->now = now_ms;
    e->ticks++;
    for (int i = 0; i < e->nq; i++) {
        query_t *q = e->q[i].q;
        uint64_t before = q->st.windows;
        int64_t t0 = time_now_ms();
        delivery_t d = {e, &e->q[i], INT64_MAX};
        int64_t t = query_threshold(q, 0, now_ms, e->cfg.close_delay_ms);
        if (e->q[i].sh) {
            share_fold(e, e->q[i].sh, now_ms, 0, FOLD_TICK_MS);
            int64_t hold = share_hold(e->q[i].sh);
            t = hold < t ? hold : t;
        }
        query_advance(q, t, deliver, &d);
        if (q->st.windows != before)
            log_slow(q, "closing its window", time_now_ms() - t0);
    }
    gauge_max(&e->tick_max_ms, time_mono_ms() - start);
    pthread_mutex_unlock(&e->lock);
}

int64_t engine_tick_max_ms(engine_t *e)
{
    return gauge_get(&e->tick_max_ms);
}

int64_t engine_clock(engine_t *e, int64_t now_ms, size_t backlog)
{
    if (backlog && e->recv_mark && e->recv_mark < now_ms)
        return e->recv_mark;
    return now_ms;
}

void engine_finish(engine_t *e)
{
    pthread_mutex_lock(&e->lock);
    int64_t now = time_now_ms();
    e->ticks++;
    for (int i = 0; i < e->nq; i++) {
        query_t *q = e->q[i].q;
        delivery_t d = {e, &e->q[i], INT64_MAX};
        if (!e->cfg.replay)
            d.due = query_threshold(q, 0, now, e->cfg.close_delay_ms);
        if (e->q[i].sh)
            share_fold(e, e->q[i].sh, 0, 1, 0);
        query_advance(q, INT64_MAX, deliver, &d);
    }
    pthread_mutex_unlock(&e->lock);
}

int engine_share_preview(engine_t *e, plan_t *plan, sbuf_t *out)
{
    const stmt_t *st = plan_target(plan);
    if (!e->cfg.share || plan->mode != PLAN_AGGREGATE || !plan->window.present ||
        (st->kind != STMT_SELECT && st->kind != STMT_CREATE))
        return 0;
    query_t *q = query_new("explain", plan, rmode(e));
    int replay = e->cfg.replay != 0, rc = 0;
    char g[32];
    int64_t G;
    pthread_mutex_lock(&e->lock);
    for (int j = 0; j < e->nq && !rc; j++) {
        share_t *sh = e->q[j].sh;
        if (sh && share_would(sh, NULL, q, replay, &G)) {
            sbuf_printf(out, "panes of %s with ", duration_format(G, g, sizeof(g)));
            share_names(sh, out);
            rc = 1;
        }
    }
    for (int j = 0; j < e->nq && !rc; j++)
        if (!e->q[j].sh && share_would(NULL, e->q[j].q, q, replay, &G)) {
            sbuf_printf(out, "panes of %s with %s",
                        duration_format(G, g, sizeof(g)), e->q[j].h->name);
            rc = 1;
        }
    pthread_mutex_unlock(&e->lock);
    if (rc)
        sbuf_add(out, " (if registered now): filter, keys, hash probe and "
                 "aggregates once per flow; its windows rolled up from the "
                 "panes\n");
    query_free(q, 0);
    return rc;
}

static void fill_stats(const entry_t *en, query_stats_t *out)
{
    const query_t *q = en->q;
    *out = q->st;
    out->windows_partial = en->partial;
    query_usage(q, &out->groups_open, &out->memory_bytes);
    uint64_t ov = 0;
    if (q->filter)
        ov += expr_overflows(q->filter);
    for (int i = 0; i < q->plan->nkeys; i++)
        ov += expr_overflows(q->keys[i]);
    for (int i = 0; i < q->plan->naggs; i++)
        if (q->args[i])
            ov += expr_overflows(q->args[i]);
    if (en->sh) {
        /* What the stage evaluated for it; the stage's tables are shown
         * with the group's first query. */
        ov += share_overflows(en->sh, q);
        if (share_leader(en->sh) == q) {
            uint64_t g, b;
            share_usage(en->sh, &g, &b);
            out->groups_open += g;
            out->memory_bytes += b;
        }
    }
    out->arith_overflows += ov;
}

int engine_share_explain(engine_t *e, const char *name, sbuf_t *out)
{
    pthread_mutex_lock(&e->lock);
    int i = find(e, name), rc = -1;
    if (i >= 0) {
        rc = e->q[i].sh != NULL;
        if (rc)
            share_describe(e->q[i].sh, e->q[i].q, out);
        int L = e->q[i].fsrc >= 0 ? e->q[i].fsrc : e->q[i].flead ? i : -1;
        if (L >= 0 && !rc) {
            /* Only its WHERE is shared: evaluated once per batch. */
            sbuf_add(out, "filter with ");
            int k = 0;
            for (int j = 0; j < e->nq; j++)
                if (j != i && (j == L || e->q[j].fsrc == L))
                    sbuf_printf(out, "%s%s", k++ ? ", " : "", e->q[j].h->name);
            sbuf_add(out, ": evaluated once per batch\n");
            rc = 1;
        }
    }
    pthread_mutex_unlock(&e->lock);
    return rc;
}

int engine_stats(engine_t *e, const char *name, query_stats_t *out)
{
    pthread_mutex_lock(&e->lock);
    int i = find(e, name);
    if (i >= 0)
        fill_stats(&e->q[i], out);
    pthread_mutex_unlock(&e->lock);
    return i >= 0 ? 0 : -1;
}

void engine_foreach(engine_t *e,
                    void (*fn)(void *ctx, const char *name, const plan_t *p,
                               const query_stats_t *st),
                    void *ctx)
{
    pthread_mutex_lock(&e->lock);
    for (int i = 0; i < e->nq; i++) {
        query_stats_t st;
        fill_stats(&e->q[i], &st);
        fn(ctx, e->q[i].h->name, e->q[i].h->plan, &st);
    }
    pthread_mutex_unlock(&e->lock);
}
