/*
 * engine.c - the registry of running queries; see engine.h.
 */
#include "engine/engine.h"
#include "engine/xfield.h"
#include "engine/schema.h"
#include "engine/partial.h"
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
#include <time.h>

#define MAX_OUTPUTS 16
#define MAX_THREADS 64

/* A batch whose queries take less than this (ns, all units together) is
 * run by the calling thread alone: waking the workers would cost more
 * than it saves (engine_config_t.parallel_min_ns). */
#define PARALLEL_MIN_NS 100000

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
    /* Windows it closed in a parallel phase, for the outputs after the
     * join (in the order one thread would have given them). */
    rowset_t **held;
    int        nheld, held_cap;
} entry_t;

/* Entries that touch the same state (a share group's members, the
 * queries reading one filter leader's selection): one thread runs them,
 * in registration order, in a parallel phase. */
typedef struct unit {
    int     first, n;     /* its entries: e->uent[first .. first + n) */
    int64_t cost_ns;      /* a batch's time in it, averaged */
} unit_t;

/* What a parallel phase does to each entry. */
enum { PHASE_PROCESS, PHASE_TICK, PHASE_FINISH };

typedef struct job {
    int                 phase;
    const flow_batch_t *b;       /* PHASE_PROCESS */
    int64_t             now;     /* process: wall clock (0 in replay);
                                    tick: now_ms; finish: wall clock */
} job_t;

/* The engine's worker threads (threads - 1 of them): each waits for a
 * new generation, takes units until none is left, and says it is done. */
typedef struct worker {
    engine_t *e;
    int       k;            /* 1..n (0 is the calling thread) */
} worker_t;

typedef struct pool {
    pthread_t      *thr;
    worker_t       *w;
    int             n;
    pthread_mutex_t mu;
    pthread_cond_t  go, done;
    uint64_t        gen;        /* phases begun (under mu) */
    int             running;    /* workers still in this phase (under mu) */
    int             stop;       /* under mu */
    job_t           job;        /* this phase's (written under mu) */
    counter_t       next;       /* the next unit (of e->uorder) to take */
    counter_t       busy_ns[MAX_THREADS];  /* per thread, 0 the caller */
} pool_t;

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
    /* threads > 1: the units of the registry (rebuilt with it, under
     * lock) and the workers */
    int            *uent;
    unit_t         *units;
    int            *uorder;     /* units by cost, the costliest first */
    int             nunits;
    pool_t         *pool;
    counter_t       busy0_ns;   /* the caller's, when no pool runs */
};

static void *worker_main(void *arg);

/* The monotonic clock in ns: what a unit of queries took. */
static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

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
    if (e->cfg.partial)
        e->cfg.worker = 1;
    /* A worker's watermark already has the collector's delay in it. */
    if (e->cfg.worker && e->cfg.close_delay_ms < 0)
        e->cfg.close_delay_ms = 0;
    if (!e->cfg.worker && e->cfg.close_delay_ms <= 0)
        e->cfg.close_delay_ms = 300;
    if (e->cfg.max_groups <= 0)
        e->cfg.max_groups = PLAN_DEFAULT_MAX_GROUPS;
    if (e->cfg.max_queries <= 0)
        e->cfg.max_queries = 1000;
    if (e->cfg.parallel_min_ns == 0)
        e->cfg.parallel_min_ns = PARALLEL_MIN_NS;
    if (e->cfg.threads < 1)
        e->cfg.threads = 1;
    if (e->cfg.threads > MAX_THREADS)
        e->cfg.threads = MAX_THREADS;
    if (e->cfg.threads > 1) {
        pool_t *p = xcalloc(1, sizeof(*p));
        pthread_mutex_init(&p->mu, NULL);
        pthread_cond_init(&p->go, NULL);
        pthread_cond_init(&p->done, NULL);
        p->thr = xcalloc((size_t)e->cfg.threads, sizeof(pthread_t));
        p->w = xcalloc((size_t)e->cfg.threads, sizeof(worker_t));
        e->pool = p;
        for (int k = 0; k < e->cfg.threads - 1; k++) {
            p->w[k] = (worker_t){e, k + 1};
            if (pthread_create(&p->thr[k], NULL, worker_main, &p->w[k]) != 0) {
                log_warn("engine", "cannot start engine thread %d of %d: "
                         "running on %d", k + 2, e->cfg.threads, k + 1);
                break;
            }
            p->n++;
        }
        e->cfg.threads = p->n + 1;
    }
    return e;
}

/* Stop and join the workers. */
static void pool_free(pool_t *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);
    for (int k = 0; k < p->n; k++)
        pthread_join(p->thr[k], NULL);
    pthread_cond_destroy(&p->go);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->mu);
    free(p->thr);
    free(p->w);
    free(p);
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
        free(e->q[i].held);
    }
    pool_free(e->pool);
    free(e->uent);
    free(e->units);
    free(e->uorder);
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

/* The root of entry i in the union-find forest up[]. */
static int uroot(int *up, int i)
{
    while (up[i] != i)
        i = up[i] = up[up[i]];
    return i;
}

/* Split the registry into units (under e->lock, after refilter): entries
 * of one share group or reading one filter leader's selection are one
 * unit; units are numbered by their first entry, and list their entries
 * in registration order. */
static void regroup(engine_t *e)
{
    if (!e->pool)
        return;
    int n = e->nq;
    free(e->uent);
    free(e->units);
    free(e->uorder);
    e->uent = xcalloc((size_t)n + 1, sizeof(int));
    e->units = xcalloc((size_t)n + 1, sizeof(unit_t));
    e->uorder = xcalloc((size_t)n + 1, sizeof(int));
    int *up = xcalloc((size_t)n + 1, sizeof(int));
    int *uid = xcalloc((size_t)n + 1, sizeof(int));
    for (int i = 0; i < n; i++)
        up[i] = i;
    for (int i = 0; i < n; i++) {
        if (e->q[i].fsrc >= 0)
            up[uroot(up, i)] = uroot(up, e->q[i].fsrc);
        for (int k = 0; e->q[i].sh && k < i; k++)
            if (e->q[k].sh == e->q[i].sh) {
                up[uroot(up, i)] = uroot(up, k);
                break;
            }
    }
    /* A root's unit is numbered when its first entry is met. */
    int nu = 0;
    for (int i = 0; i < n; i++)
        uid[i] = -1;
    for (int i = 0; i < n; i++) {
        int r = uroot(up, i);
        if (uid[r] < 0)
            uid[r] = nu++;
        e->units[uid[r]].n++;
    }
    for (int u = 0, at = 0; u < nu; u++) {
        e->units[u].first = at;
        at += e->units[u].n;
        e->units[u].n = 0;
        e->uorder[u] = u;
    }
    for (int i = 0; i < n; i++) {
        unit_t *u = &e->units[uid[uroot(up, i)]];
        e->uent[u->first + u->n++] = i;
    }
    e->nunits = nu;
    free(up);
    free(uid);
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
    /* A worker's windows leave as partials (or could): only those the
     * merge stage can make whole. */
    if (e->cfg.worker && !partial_mergeable(plan, err))
        return ENGINE_EINVALID;
    /* Compile outside the lock: it allocates the vector registers. */
    query_t *q = query_new(h->name, h->plan, rmode(e));
    q->emit_state = e->cfg.partial;
    q->has_floor = e->cfg.has_floor;
    q->floor = e->cfg.emit_floor_ms;
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
                              .since = e->cfg.replay || e->cfg.worker
                                           ? INT64_MIN : time_now_ms()};
    if (e->cfg.share)
        place_shared(e, e->nq - 1);
    refilter(e);
    regroup(e);
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
    free(en.held);
    refilter(e);
    regroup(e);
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
 * clock and sees its whole input: its windows are never partial. In a
 * parallel phase (hold) the window waits in its entry for the join. */
typedef struct delivery {
    engine_t *e;
    entry_t  *en;
    int64_t   due;
    int       hold;
} delivery_t;

/* Hand rs to every output (one thread at a time: the engine's). */
static void to_outputs(engine_t *e, rowset_t *rs)
{
    rs->closed_at = time_now_ms();
    for (int i = 0; i < e->nout; i++)
        e->out[i]->on_window(e->out[i], rs);
    rowset_unref(rs);
}

void engine_deliver(engine_t *e, rowset_t *rs)
{
    pthread_mutex_lock(&e->lock);
    to_outputs(e, rs);
    pthread_mutex_unlock(&e->lock);
}

static void deliver(void *ctx, rowset_t *rs)
{
    delivery_t *d = ctx;
    engine_t *e = d->e;
    entry_t *en = d->en;
    qhandle_ref(en->h);
    rs->qh = en->h;
    rs->replayed = e->cfg.replay != 0;
    rs->partial = !e->cfg.replay &&
                  (rs->wstart < en->since || rs->wend > d->due);
    en->partial += rs->partial;
    if (!d->hold) {
        to_outputs(e, rs);
        return;
    }
    if (en->nheld == en->held_cap) {
        en->held_cap = en->held_cap ? en->held_cap * 2 : 8;
        en->held = xrealloc(en->held, sizeof(rowset_t *) * (size_t)en->held_cap);
    }
    en->held[en->nheld++] = rs;
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
    /* A worker's tick must hand out every window it closes: its
     * caller takes "engine_tick(W) returned" for "written up to W". */
    int64_t deadline = finish || e->cfg.replay || e->cfg.worker
                           ? INT64_MAX : time_mono_ms() + slice_ms;
    share_advance(sh, t, deadline);
}

/* Entry i's part of a batch: its share group's stage or itself over the
 * rows its filter (or its leader's) passes; a replay then closes what
 * the flows moved past. */
static void process_entry(engine_t *e, int i, const flow_batch_t *b,
                          int64_t now, int hold)
{
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
        delivery_t d = {e, &e->q[i], INT64_MAX, hold};
        if (sh)
            share_fold(e, sh, 0, 0, 0);
        query_advance(q, query_threshold(q, 1, 0, 0), deliver, &d);
    }
}

/* Entry i's part of a tick: its group's panes folded (in a slice), then
 * its windows due closed. */
static void tick_entry(engine_t *e, int i, int64_t now_ms, int hold)
{
    query_t *q = e->q[i].q;
    uint64_t before = q->st.windows;
    int64_t t0 = time_now_ms();
    delivery_t d = {e, &e->q[i], INT64_MAX, hold};
    int64_t t = query_threshold(q, 0, now_ms, e->cfg.close_delay_ms);
    if (e->q[i].sh) {
        share_fold(e, e->q[i].sh, now_ms, 0, FOLD_TICK_MS);
        int64_t h = share_hold(e->q[i].sh);
        t = h < t ? h : t;
    }
    query_advance(q, t, deliver, &d);
    if (e->cfg.worker)
        query_seal(q, t);
    if (q->st.windows != before)
        log_slow(q, "closing its window", time_now_ms() - t0);
}

/* Entry i's part of the finish: every window closed as it stands. */
static void finish_entry(engine_t *e, int i, int64_t now, int hold)
{
    query_t *q = e->q[i].q;
    delivery_t d = {e, &e->q[i], INT64_MAX, hold};
    if (!e->cfg.replay)
        d.due = query_threshold(q, 0, e->cfg.worker ? e->now : now,
                                e->cfg.close_delay_ms);
    if (e->q[i].sh)
        share_fold(e, e->q[i].sh, 0, 1, 0);
    query_advance(q, INT64_MAX, deliver, &d);
}

static void run_entry(engine_t *e, const job_t *j, int i, int hold)
{
    switch (j->phase) {
    case PHASE_PROCESS: process_entry(e, i, j->b, j->now, hold); break;
    case PHASE_TICK:    tick_entry(e, i, j->now, hold); break;
    default:            finish_entry(e, i, j->now, hold); break;
    }
}

/* Take units until none is left (thread k of the pool, 0 the caller). A
 * batch's time in a unit is remembered to give the costliest first. */
static void run_units(engine_t *e, const job_t *j, int k)
{
    pool_t *p = e->pool;
    uint64_t u;
    int64_t busy = 0;
    while ((u = ctr_take(&p->next)) < (uint64_t)e->nunits) {
        unit_t *un = &e->units[e->uorder[u]];
        int64_t t0 = mono_ns();
        for (int x = 0; x < un->n; x++)
            run_entry(e, j, e->uent[un->first + x], 1);
        int64_t took = mono_ns() - t0;
        busy += took;
        if (j->phase == PHASE_PROCESS)
            un->cost_ns = un->cost_ns ? (un->cost_ns * 7 + took) / 8 : took;
    }
    ctr_add(&p->busy_ns[k], (uint64_t)busy);
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    engine_t *e = w->e;
    pool_t *p = e->pool;
    uint64_t seen = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->stop && p->gen == seen)
            pthread_cond_wait(&p->go, &p->mu);
        if (p->stop)
            break;
        seen = p->gen;
        job_t j = p->job;
        pthread_mutex_unlock(&p->mu);
        run_units(e, &j, w->k);
        pthread_mutex_lock(&p->mu);
        if (--p->running == 0)
            pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* Run job j over every entry (under e->lock): in order on this thread
 * when there is no pool, one unit, or (a batch) little work; else over
 * the pool, then hand the windows closed meanwhile to the outputs in
 * entry order. */
static void run_phase(engine_t *e, const job_t *j)
{
    pool_t *p = e->pool;
    int64_t cost = 0;
    for (int u = 0; p && u < e->nunits; u++)
        cost += e->units[u].cost_ns;
    if (!p || e->nunits < 2 ||
        (j->phase == PHASE_PROCESS && cost < e->cfg.parallel_min_ns &&
         (e->serial & 63) != 0)) {
        int64_t t0 = mono_ns();
        for (int i = 0; i < e->nq; i++)
            run_entry(e, j, i, 0);
        ctr_add(p ? &p->busy_ns[0] : &e->busy0_ns,
                (uint64_t)(mono_ns() - t0));
        return;
    }
    /* The costliest first (insertion sort: a few dozen units). */
    for (int a = 1; a < e->nunits; a++) {
        int x = e->uorder[a], b = a;
        for (; b > 0 && e->units[e->uorder[b - 1]].cost_ns < e->units[x].cost_ns; b--)
            e->uorder[b] = e->uorder[b - 1];
        e->uorder[b] = x;
    }
    pthread_mutex_lock(&p->mu);
    p->job = *j;
    ctr_set(&p->next, 0);
    p->running = p->n;
    p->gen++;
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);
    run_units(e, j, 0);
    pthread_mutex_lock(&p->mu);
    while (p->running > 0)
        pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < e->nq; i++) {
        entry_t *en = &e->q[i];
        for (int k = 0; k < en->nheld; k++)
            to_outputs(e, en->held[k]);
        en->nheld = 0;
    }
}

void engine_process(engine_t *e, const flow_batch_t *b)
{
    if (!e->cfg.replay)
        for (uint32_t i = 0; i < b->n; i++)
            if (b->received[i] > e->recv_mark)
                e->recv_mark = b->received[i];
    pthread_mutex_lock(&e->lock);
    e->serial++;
    e->ticks++;
    job_t j = {PHASE_PROCESS, b,
               e->cfg.replay || e->cfg.worker ? 0 : time_now_ms()};
    run_phase(e, &j);
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
    job_t j = {PHASE_TICK, NULL, now_ms};
    run_phase(e, &j);
    gauge_max(&e->tick_max_ms, time_mono_ms() - start);
    pthread_mutex_unlock(&e->lock);
}

int64_t engine_tick_max_ms(engine_t *e)
{
    return gauge_get(&e->tick_max_ms);
}

int engine_threads(engine_t *e)
{
    return e->cfg.threads;
}

uint64_t engine_thread_busy_ns(engine_t *e, int k)
{
    if (k < 0 || k >= e->cfg.threads)
        return 0;
    return e->pool ? ctr_get(&e->pool->busy_ns[k]) : ctr_get(&e->busy0_ns);
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
    e->ticks++;
    job_t j = {PHASE_FINISH, NULL, time_now_ms()};
    run_phase(e, &j);
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
