/*
 * engine.c - the registry of running queries; see engine.h.
 */
#include "engine/engine.h"
#include "engine/query.h"
#include "util/arena.h"
#include "util/log.h"
#include "util/timeutil.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define MAX_OUTPUTS 16

struct engine {
    pthread_mutex_t lock;
    engine_config_t cfg;
    query_t       **q;
    int             nq, cap;
    output_t       *out[MAX_OUTPUTS];
    int             nout;
    int64_t         now;   /* wall clock of the last tick (live) */
    int64_t         recv_mark; /* latest receive time processed (live;
                                  engine thread only) */
};

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
    for (int i = 0; i < e->nq; i++)
        query_free(e->q[i], 1);
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

static int find(engine_t *e, const char *name)
{
    for (int i = 0; i < e->nq; i++)
        if (strcmp(e->q[i]->name, name) == 0)
            return i;
    return -1;
}

int engine_register(engine_t *e, const char *name, plan_t *plan, diag_t *err)
{
    const stmt_t *st = plan_target(plan);
    if (plan->stmt->kind == STMT_EXPLAIN ||
        (st->kind != STMT_SELECT && st->kind != STMT_CREATE)) {
        diag_set(err, "only SELECT and CREATE QUERY statements can run");
        return -1;
    }
    if (!e->cfg.replay && !plan->window.present) {
        diag_set(err, "a query over the live stream needs a WINDOW clause, "
                 "e.g. FROM flows WINDOW 10s");
        return -1;
    }
    /* Compile outside the lock: it allocates the vector registers. */
    query_t *q = query_new(name, plan, e->cfg.replay);
    pthread_mutex_lock(&e->lock);
    if (find(e, name) >= 0) {
        pthread_mutex_unlock(&e->lock);
        diag_set(err, "a query named '%s' already exists", name);
        query_free(q, 0);
        return -1;
    }
    if (e->nq >= e->cfg.max_queries) {
        pthread_mutex_unlock(&e->lock);
        diag_set(err, "too many queries (at most %d)", e->cfg.max_queries);
        query_free(q, 0);
        return -1;
    }
    if (e->nq == e->cap) {
        e->cap = e->cap ? e->cap * 2 : 16;
        e->q = xrealloc(e->q, sizeof(query_t *) * (size_t)e->cap);
    }
    e->q[e->nq++] = q;
    pthread_mutex_unlock(&e->lock);
    return 0;
}

int engine_drop(engine_t *e, const char *name)
{
    pthread_mutex_lock(&e->lock);
    int i = find(e, name);
    if (i < 0) {
        pthread_mutex_unlock(&e->lock);
        return -1;
    }
    query_t *q = e->q[i];
    memmove(&e->q[i], &e->q[i + 1], sizeof(query_t *) * (size_t)(e->nq - i - 1));
    e->nq--;
    pthread_mutex_unlock(&e->lock);
    query_free(q, 1);
    return 0;
}

int engine_has(engine_t *e, const char *name)
{
    pthread_mutex_lock(&e->lock);
    int r = find(e, name) >= 0;
    pthread_mutex_unlock(&e->lock);
    return r;
}

int engine_count(engine_t *e)
{
    pthread_mutex_lock(&e->lock);
    int n = e->nq;
    pthread_mutex_unlock(&e->lock);
    return n;
}

static void deliver(void *ctx, rowset_t *rs)
{
    engine_t *e = ctx;
    rs->closed_at = time_now_ms();
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

void engine_process(engine_t *e, const flow_batch_t *b)
{
    if (!e->cfg.replay)
        for (uint32_t i = 0; i < b->n; i++)
            if (b->received[i] > e->recv_mark)
                e->recv_mark = b->received[i];
    pthread_mutex_lock(&e->lock);
    int64_t now = e->cfg.replay ? 0 : time_now_ms();
    for (int i = 0; i < e->nq; i++) {
        int64_t t0 = time_now_ms();
        query_process(e->q[i], b, e->cfg.replay, now);
        log_slow(e->q[i], "a batch", time_now_ms() - t0);
        /* Replay has no clock: the flows themselves move windows on. */
        if (e->cfg.replay)
            query_advance(e->q[i], query_threshold(e->q[i], 1, 0, 0),
                          deliver, e);
    }
    pthread_mutex_unlock(&e->lock);
}

void engine_tick(engine_t *e, int64_t now_ms)
{
    if (e->cfg.replay)
        return;
    pthread_mutex_lock(&e->lock);
    e->now = now_ms;
    for (int i = 0; i < e->nq; i++) {
        uint64_t before = e->q[i]->st.windows;
        int64_t t0 = time_now_ms();
        query_advance(e->q[i],
                      query_threshold(e->q[i], 0, now_ms, e->cfg.close_delay_ms),
                      deliver, e);
        if (e->q[i]->st.windows != before)
            log_slow(e->q[i], "closing its window", time_now_ms() - t0);
    }
    pthread_mutex_unlock(&e->lock);
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
    for (int i = 0; i < e->nq; i++)
        query_advance(e->q[i], INT64_MAX, deliver, e);
    pthread_mutex_unlock(&e->lock);
}

static void fill_stats(const query_t *q, query_stats_t *out)
{
    *out = q->st;
    query_usage(q, &out->groups_open, &out->memory_bytes);
    uint64_t ov = 0;
    if (q->filter)
        ov += expr_overflows(q->filter);
    for (int i = 0; i < q->plan->nkeys; i++)
        ov += expr_overflows(q->keys[i]);
    for (int i = 0; i < q->plan->naggs; i++)
        if (q->args[i])
            ov += expr_overflows(q->args[i]);
    out->arith_overflows += ov;
}

int engine_stats(engine_t *e, const char *name, query_stats_t *out)
{
    pthread_mutex_lock(&e->lock);
    int i = find(e, name);
    if (i >= 0)
        fill_stats(e->q[i], out);
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
        fill_stats(e->q[i], &st);
        fn(ctx, e->q[i]->name, e->q[i]->plan, &st);
    }
    pthread_mutex_unlock(&e->lock);
}
