/* live.c - live subscribers; see live.h. */
#include "server/live.h"
#include "util/arena.h"
#include "util/bqueue.h"
#include "util/counter.h"
#include "util/timeutil.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define SUB_QUEUE 64

struct live_sub {
    qhandle_t  *qh;
    bqueue_t    q;
    gauge_t     bytes;      /* what the windows in q hold */
    int         ended;
    live_sub_t *next;
};

typedef struct idle {
    qhandle_t   *qh;
    int64_t      since;
    struct idle *next;
} idle_t;

struct live {
    output_t        out;
    pthread_mutex_t lock;
    live_sub_t     *subs;
    int             n, max;
    int64_t         max_bytes;  /* per subscriber queue, 0: no bound */
    counter_t       dropped;
    gauge_t         queued;     /* bytes in all subscriber queues */
    idle_t         *idle;
};

/* The memory a window holds while it waits in a queue: its cells and
 * its arena (strings, names). Shared by every holder, counted for each:
 * a stalled client keeps it alive on its own. */
static int64_t window_bytes(const rowset_t *rs)
{
    return (int64_t)(sizeof(*rs) + (size_t)rs->cap * (size_t)rs->ncols *
                                       sizeof(value_t) +
                     arena_used(rs->arena));
}

/* Queue the window for each subscriber of its query. A subscriber whose
 * queue is full (by count, or by max_bytes once it holds a window) loses
 * it, counted: a client that stops reading never grows without bound. */
static void on_window(output_t *o, rowset_t *rs)
{
    live_t *l = o->ctx;
    int64_t cost = window_bytes(rs);
    pthread_mutex_lock(&l->lock);
    for (live_sub_t *s = l->subs; s; s = s->next) {
        if (s->qh != rs->qh)
            continue;
        int64_t held = gauge_get(&s->bytes);
        if (l->max_bytes > 0 && held > 0 && held + cost > l->max_bytes) {
            ctr_inc(&l->dropped);
            continue;
        }
        rowset_ref(rs);
        gauge_add(&s->bytes, cost);
        gauge_add(&l->queued, cost);
        if (bqueue_try_push(&s->q, rs) < 0) {
            gauge_add(&s->bytes, -cost);
            gauge_add(&l->queued, -cost);
            rowset_unref(rs);
            ctr_inc(&l->dropped);
        }
    }
    pthread_mutex_unlock(&l->lock);
}

void live_set_queue_bytes(live_t *l, int64_t max_bytes)
{
    pthread_mutex_lock(&l->lock);
    l->max_bytes = max_bytes;
    pthread_mutex_unlock(&l->lock);
}

live_t *live_new(int max_subscribers)
{
    live_t *l = xcalloc(1, sizeof(*l));
    pthread_mutex_init(&l->lock, NULL);
    l->max = max_subscribers > 0 ? max_subscribers : 64;
    l->out.name = "live";
    l->out.on_window = on_window;
    l->out.ctx = l;
    return l;
}

output_t *live_output(live_t *l) { return &l->out; }

static void set_idle(live_t *l, qhandle_t *h, int64_t since)
{
    for (idle_t *i = l->idle; i; i = i->next)
        if (i->qh == h) {
            i->since = since;
            return;
        }
    idle_t *i = xcalloc(1, sizeof(*i));
    qhandle_ref(h);
    i->qh = h;
    i->since = since;
    i->next = l->idle;
    l->idle = i;
}

live_sub_t *live_subscribe(live_t *l, qhandle_t *h)
{
    pthread_mutex_lock(&l->lock);
    if (l->n >= l->max) {
        pthread_mutex_unlock(&l->lock);
        return NULL;
    }
    live_sub_t *s = xcalloc(1, sizeof(*s));
    qhandle_ref(h);
    s->qh = h;
    bqueue_init(&s->q, SUB_QUEUE);
    s->next = l->subs;
    l->subs = s;
    l->n++;
    /* Dropped before we took the lock: live_close_query() has run. */
    if (atomic_load(&h->dropped)) {
        s->ended = 1;
        bqueue_close(&s->q);
    } else {
        set_idle(l, h, 0);
    }
    pthread_mutex_unlock(&l->lock);
    return s;
}

rowset_t *live_next(live_t *l, live_sub_t *s, int timeout_ms, int *ended)
{
    rowset_t *rs = bqueue_pop(&s->q, timeout_ms);
    if (rs) {
        int64_t cost = window_bytes(rs);
        gauge_add(&s->bytes, -cost);
        gauge_add(&l->queued, -cost);
    }
    *ended = !rs && s->ended;
    return rs;
}

void live_unsubscribe(live_t *l, live_sub_t *s)
{
    pthread_mutex_lock(&l->lock);
    for (live_sub_t **p = &l->subs; *p; p = &(*p)->next)
        if (*p == s) {
            *p = s->next;
            l->n--;
            break;
        }
    int others = 0;
    for (live_sub_t *o = l->subs; o; o = o->next)
        others += o->qh == s->qh;
    if (!others && !atomic_load(&s->qh->dropped))
        set_idle(l, s->qh, time_now_ms());
    pthread_mutex_unlock(&l->lock);
    rowset_t *rs;
    bqueue_close(&s->q);
    while ((rs = bqueue_pop(&s->q, 0))) {
        gauge_add(&l->queued, -window_bytes(rs));
        rowset_unref(rs);
    }
    bqueue_destroy(&s->q);
    qhandle_unref(s->qh);
    free(s);
}

void live_close_query(live_t *l, const qhandle_t *h)
{
    pthread_mutex_lock(&l->lock);
    for (live_sub_t *s = l->subs; s; s = s->next)
        if (s->qh == h) {
            s->ended = 1;
            bqueue_close(&s->q);
        }
    for (idle_t **p = &l->idle; *p; p = &(*p)->next)
        if ((*p)->qh == h) {
            idle_t *i = *p;
            *p = i->next;
            qhandle_unref(i->qh);
            free(i);
            break;
        }
    pthread_mutex_unlock(&l->lock);
}

int live_count(live_t *l, const qhandle_t *h)
{
    pthread_mutex_lock(&l->lock);
    int n = 0;
    for (live_sub_t *s = l->subs; s; s = s->next)
        n += !h || s->qh == h;
    pthread_mutex_unlock(&l->lock);
    return n;
}

uint64_t live_dropped(live_t *l)
{
    return ctr_get(&l->dropped);
}

int64_t live_queued_bytes(live_t *l)
{
    return gauge_get(&l->queued);
}

int64_t live_idle_since(live_t *l, const qhandle_t *h)
{
    pthread_mutex_lock(&l->lock);
    int64_t since = -1;
    for (idle_t *i = l->idle; i; i = i->next)
        if (i->qh == h)
            since = i->since;
    pthread_mutex_unlock(&l->lock);
    return since;
}

void live_free(live_t *l)
{
    if (!l)
        return;
    while (l->subs)
        live_unsubscribe(l, l->subs);
    while (l->idle) {
        idle_t *i = l->idle;
        l->idle = i->next;
        qhandle_unref(i->qh);
        free(i);
    }
    pthread_mutex_destroy(&l->lock);
    free(l);
}
