/*
 * aquery.c - a query over the archive, its scan in a thread of its own;
 * see aquery.h.
 *
 * The scan thread and the caller share a ring of AQ_RING slots of
 * AQ_SLOT batches each, under one mutex: the scan fills the slot after
 * the last full one (copying only the columns the query reads) and
 * publishes it when it holds AQ_SLOT batches or the scan ends; the
 * caller runs the engine over the batches of the first full slot and
 * only then frees it. Handing over several batches at a time keeps the
 * two threads from waking each other for every batch. Either
 * side waits on a condition variable when there is nothing to do: the
 * scan for a free slot, the caller (with its deadline) for a full one.
 * The caller stops the scan by setting `cancel`; the scan thread sees it
 * at its next batch and archive_scan returns.
 */
#include "archive/aquery.h"
#include "engine/pushdown.h"
#include "engine/scanq.h"
#include "enrich/enrich.h"
#include "engine/schema.h"
#include "util/counter.h"
#include "util/timeutil.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define AQ_RING 4
#define AQ_SLOT 4

typedef struct slot {
    flow_batch_t *b[AQ_SLOT];
    int           n;
} slot_t;

static pthread_mutex_t running_lock = PTHREAD_MUTEX_INITIALIZER;
static int running;
static counter_t total, timeouts, refused;

struct aquery {
    plan_t          *plan;
    scan_spec_t     *spec;
    scanq_t         *sq;
    char            *dir;
    arena_t         *arena;      /* the predicate's address lists */
    archive_pred_t   pred;
    int              use_pred;
    uint64_t         fields;
    uint64_t         enrich;     /* enriched fields the query names */
    sbuf_t           explain;    /* the plan, range resolved */
    int64_t          t0, deadline, time_ms;

    pthread_t        thread;
    int              started;
    pthread_mutex_t  lock;
    pthread_cond_t   data, space;
    slot_t           ring[AQ_RING];
    int              head, nfull;  /* full slots: head .. head + nfull */
    slot_t          *filling;      /* the scan's slot, not yet published */
    int              cancel;       /* the caller wants no more batches */
    int              scan_done, scan_rc;
    diag_t           scan_err;
    archive_scan_stats_t st;       /* the scan's, read once scan_done */

    int              input_ended, finished, err_code, stopped;
    diag_t           err;
};

/* ---- the predicate ------------------------------------------------------- */

void aquery_pred(const scan_spec_t *s, arena_t *a, archive_pred_t *p)
{
    archive_pred_init(p);
    p->received = (archive_range_t){s->lo[SCAN_RECEIVED], s->hi[SCAN_RECEIVED]};
    p->start = (archive_range_t){s->lo[SCAN_START], s->hi[SCAN_START]};
    p->end = (archive_range_t){s->lo[SCAN_END], s->hi[SCAN_END]};
    archive_nets_t *nets[SCAN_NNETS] = {&p->srcip, &p->dstip, &p->anyip};
    for (int k = 0; k < SCAN_NNETS; k++) {
        int n = s->nnets[k];
        if (!n)
            continue;
        archive_net_t *v = arena_alloc(a, sizeof(*v) * (size_t)n);
        for (int i = 0; i < n; i++) {
            v[i].addr = s->nets[k][i].addr;
            v[i].prefix = s->nets[k][i].prefix;
        }
        nets[k]->nets = v;
        nets[k]->n = (size_t)n;
    }
    archive_ints_t *ints[SCAN_NINTS] = {&p->srcport, &p->dstport, &p->anyport,
                                        &p->proto};
    for (int k = 0; k < SCAN_NINTS; k++) {
        ints[k]->vals = s->ints[k];
        ints[k]->n = (size_t)s->nints[k];
    }
}

/* ---- the scan thread -------------------------------------------------------- */

/* Publish the slot being filled (the scan thread). */
static void publish(aquery_t *q)
{
    if (!q->filling || !q->filling->n)
        return;
    pthread_mutex_lock(&q->lock);
    q->nfull++;
    q->filling = NULL;
    pthread_cond_signal(&q->data);
    pthread_mutex_unlock(&q->lock);
}

static int on_batch(void *ctx, const flow_batch_t *b)
{
    aquery_t *q = ctx;
    if (!q->filling) {
        pthread_mutex_lock(&q->lock);
        while (q->nfull == AQ_RING && !q->cancel)
            pthread_cond_wait(&q->space, &q->lock);
        int cancel = q->cancel;
        /* The slot after the full ones is the scan's until published. */
        if (!cancel) {
            q->filling = &q->ring[(q->head + q->nfull) % AQ_RING];
            q->filling->n = 0;
        }
        pthread_mutex_unlock(&q->lock);
        if (cancel)
            return 1;
    } else {
        pthread_mutex_lock(&q->lock);
        int cancel = q->cancel;
        pthread_mutex_unlock(&q->lock);
        if (cancel)
            return 1;
    }
    if (!b->n)
        return 0;
    flow_batch_t *d = q->filling->b[q->filling->n++];
    flow_batch_copy(d, b, q->fields);
    enrich_batch(d, q->enrich);
    if (q->filling->n == AQ_SLOT)
        publish(q);
    return 0;
}

static void *scan_main(void *arg)
{
    aquery_t *q = arg;
    archive_scan_stats_t st;
    memset(&st, 0, sizeof(st));
    diag_t err;
    diag_clear(&err);
    int rc = archive_scan(q->dir, q->use_pred ? &q->pred : NULL, q->fields, 0,
                          on_batch, q, &st, &err);
    publish(q);
    pthread_mutex_lock(&q->lock);
    q->st = st;
    q->scan_rc = rc;
    q->scan_err = err;
    q->scan_done = 1;
    pthread_cond_signal(&q->data);
    pthread_mutex_unlock(&q->lock);
    return NULL;
}

/* ---- the caller's side ------------------------------------------------------- */

static int is_archive_select(const plan_t *p)
{
    const stmt_t *t = plan_target(p);
    return t->kind == STMT_SELECT && t->select && !p->continuous;
}

int aquery_open(const char *dir, plan_t *p, const aquery_opts_t *o,
                aquery_t **out, diag_t *err)
{
    *out = NULL;
    if (!is_archive_select(p)) {
        diag_set(err, "not a query over the archive: a SELECT FROM flows "
                 "without WINDOW");
        plan_free(p);
        return AQ_EINVALID;
    }
    pthread_mutex_lock(&running_lock);
    if (running >= AQUERY_MAX_RUNNING) {
        pthread_mutex_unlock(&running_lock);
        ctr_inc(&refused);
        diag_set(err, "too many queries over the archive at once (at most "
                 "%d): try again when one has finished", AQUERY_MAX_RUNNING);
        plan_free(p);
        return AQ_EBUSY;
    }
    running++;
    pthread_mutex_unlock(&running_lock);
    ctr_inc(&total);

    aquery_t *q = xcalloc(1, sizeof(*q));
    q->plan = p;
    q->t0 = time_mono_ms();
    q->time_ms = o && o->time_ms > 0 ? o->time_ms : 0;
    q->deadline = q->time_ms ? q->t0 + q->time_ms : 0;
    q->dir = xstrdup(dir);
    q->arena = arena_new();
    q->explain = (sbuf_t)SBUF_INIT;
    int64_t now = o && o->now_ms ? o->now_ms : time_now_ms();
    q->spec = pushdown_build(p, now);
    plan_explain_scan(p, q->spec, 0, &q->explain);
    q->fields = q->spec->fields;
    q->enrich = plan_named_fields(p) & ENRICH_FIELDS;
    q->use_pred = !(o && o->no_pushdown);
    aquery_pred(q->spec, q->arena, &q->pred);
    q->sq = scanq_new(p, q->spec->has_range ? q->spec->range_lo : INT64_MIN,
                      q->spec->has_range ? q->spec->range_hi : INT64_MAX,
                      o ? o->max_rows : -1);
    for (int i = 0; i < AQ_RING; i++)
        for (int k = 0; k < AQ_SLOT; k++)
            q->ring[i].b[k] = flow_batch_new();
    pthread_mutex_init(&q->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&q->data, &ca);
    pthread_cond_init(&q->space, &ca);
    pthread_condattr_destroy(&ca);
    int rc = pthread_create(&q->thread, NULL, scan_main, q);
    if (rc != 0) {
        diag_set(err, "cannot start the archive scan: %s", strerror(rc));
        aquery_close(q);
        return AQ_EIO;
    }
    q->started = 1;
    *out = q;
    return 0;
}

static int fail(aquery_t *q, int code, diag_t *err)
{
    q->err_code = code;
    q->finished = 1;
    if (code == AQ_ETIMEOUT)
        ctr_inc(&timeouts);
    if (err)
        *err = q->err;
    return code;
}

/* Stop the scan thread and wait for it. */
static void stop_scan(aquery_t *q)
{
    if (!q->started)
        return;
    pthread_mutex_lock(&q->lock);
    q->cancel = 1;
    pthread_cond_broadcast(&q->space);
    pthread_mutex_unlock(&q->lock);
    pthread_join(q->thread, NULL);
    q->started = 0;
}

void aquery_stop(aquery_t *q)
{
    stop_scan(q);
    q->stopped = 1;
}

static int timed_out(aquery_t *q)
{
    diag_set(&q->err, "query interrupted: time limit of %lld ms reached",
             (long long)q->time_ms);
    return AQ_ETIMEOUT;
}

/* The end of the input: the rows waiting for it, or the error that
 * makes the answer wrong. */
static int end_input(aquery_t *q)
{
    q->input_ended = 1;
    stop_scan(q);
    if (q->scan_rc < 0) {
        diag_set(&q->err, "%s", q->scan_err.msg);
        return AQ_EIO;
    }
    scanq_finish(q->sq);
    scanq_stats_t st;
    scanq_stats(q->sq, &st);
    if (st.overflow) {
        diag_set(&q->err, "the answer would be incomplete: %llu flows did "
                 "not fit (%s); narrow the query with a time range or WHERE",
                 (unsigned long long)st.overflow,
                 plan_target(q->plan)->select && q->plan->mode == PLAN_AGGREGATE
                     ? "at most max_groups groups, and the memory budget"
                     : "the memory budget");
        return AQ_EINCOMPLETE;
    }
    return 0;
}

int aquery_next(aquery_t *q, const value_t **row, diag_t *err)
{
    *row = NULL;
    if (q->err_code) {
        if (err)
            *err = q->err;
        return q->err_code;
    }
    for (;;) {
        if (scanq_next(q->sq, row))
            return 1;
        if (q->input_ended || q->stopped) {
            q->finished = 1;
            return 0;
        }
        if (q->deadline && time_mono_ms() >= q->deadline)
            return fail(q, timed_out(q), err);
        pthread_mutex_lock(&q->lock);
        while (q->nfull == 0 && !q->scan_done) {
            if (!q->deadline) {
                pthread_cond_wait(&q->data, &q->lock);
                continue;
            }
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            int64_t left = q->deadline - time_mono_ms();
            if (left <= 0)
                break;
            ts.tv_sec += left / 1000;
            ts.tv_nsec += (left % 1000) * 1000000;
            if (ts.tv_nsec >= 1000000000) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000;
            }
            pthread_cond_timedwait(&q->data, &q->lock, &ts);
        }
        if (q->nfull > 0) {
            slot_t *sl = &q->ring[q->head];
            pthread_mutex_unlock(&q->lock);
            int enough = 0;
            for (int k = 0; k < sl->n && !enough; k++)
                enough = scanq_push(q->sq, sl->b[k]);
            pthread_mutex_lock(&q->lock);
            q->head = (q->head + 1) % AQ_RING;
            q->nfull--;
            pthread_cond_signal(&q->space);
            pthread_mutex_unlock(&q->lock);
            if (enough) {
                int rc = end_input(q);
                if (rc < 0)
                    return fail(q, rc, err);
            }
            continue;
        }
        int done = q->scan_done;
        pthread_mutex_unlock(&q->lock);
        if (!done)
            return fail(q, timed_out(q), err);
        int rc = end_input(q);
        if (rc < 0)
            return fail(q, rc, err);
    }
}

int aquery_check_time(aquery_t *q, diag_t *err)
{
    if (q->err_code || !q->deadline || q->finished)
        return 0;
    if (time_mono_ms() >= q->deadline)
        return fail(q, timed_out(q), err);
    return 0;
}

int aquery_ncols(const aquery_t *q)
{
    return scanq_ncols(q->sq);
}

const char *aquery_col_name(const aquery_t *q, int col)
{
    return scanq_col_name(q->sq, col);
}

type_t aquery_col_type(const aquery_t *q, int col)
{
    return scanq_col_type(q->sq, col);
}

int aquery_truncated(const aquery_t *q)
{
    scanq_stats_t st;
    scanq_stats(q->sq, &st);
    return st.truncated;
}

int64_t aquery_elapsed_ms(const aquery_t *q)
{
    return time_mono_ms() - q->t0;
}

void aquery_stats(aquery_t *q, aquery_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&q->lock);
    out->done = q->scan_done;
    if (q->scan_done)
        out->scan = q->st;
    pthread_mutex_unlock(&q->lock);
    scanq_stats_t st;
    scanq_stats(q->sq, &st);
    out->flows_matched = st.flows_matched;
    out->rows = st.rows;
    out->groups = st.groups;
    out->elapsed_ms = aquery_elapsed_ms(q);
}

static void mb(sbuf_t *out, uint64_t bytes)
{
    if (bytes >= 10u << 20)
        sbuf_printf(out, "%.1f MB", (double)bytes / (1 << 20));
    else
        sbuf_printf(out, "%.1f kB", (double)bytes / 1024);
}

void aquery_explain(aquery_t *q, sbuf_t *out)
{
    aquery_stats_t s;
    aquery_stats(q, &s);
    const archive_scan_stats_t *c = &s.scan;
    sbuf_add(out, sbuf_str(&q->explain));
    sbuf_printf(out, "  %-10s files: %llu in the range, %llu skipped by name "
                "or partition, %llu read", "read",
                (unsigned long long)c->files,
                (unsigned long long)c->files_pruned,
                (unsigned long long)c->files_read);
    if (c->files_vanished || c->files_bad)
        sbuf_printf(out, " (%llu vanished, %llu corrupt)",
                    (unsigned long long)c->files_vanished,
                    (unsigned long long)c->files_bad);
    sbuf_printf(out, "\n  %-10s row groups: %llu, %llu skipped by zone maps, "
                "%llu by bloom filters, %llu read (", "",
                (unsigned long long)c->row_groups,
                (unsigned long long)c->rg_pruned_stats,
                (unsigned long long)c->rg_pruned_bloom,
                (unsigned long long)c->rg_read);
    mb(out, c->bytes_read);
    sbuf_printf(out, " of column chunks)\n  %-10s flows: %llu read, %llu "
                "matched", "", (unsigned long long)c->rows_read,
                (unsigned long long)s.flows_matched);
    if (s.groups)
        sbuf_printf(out, "; groups: %llu", (unsigned long long)s.groups);
    sbuf_printf(out, "; rows out: %llu", (unsigned long long)s.rows);
    sbuf_printf(out, "; %lld ms%s\n", (long long)s.elapsed_ms,
                s.done ? "" : " (stopped before the end of the scan)");
}

void aquery_close(aquery_t *q)
{
    if (!q)
        return;
    stop_scan(q);
    scanq_free(q->sq);
    for (int i = 0; i < AQ_RING; i++)
        for (int k = 0; k < AQ_SLOT; k++)
            flow_batch_free(q->ring[i].b[k]);
    pthread_mutex_destroy(&q->lock);
    pthread_cond_destroy(&q->data);
    pthread_cond_destroy(&q->space);
    sbuf_free(&q->explain);
    arena_free(q->arena);
    plan_free(q->plan);
    free(q->dir);
    free(q);
    pthread_mutex_lock(&running_lock);
    running--;
    pthread_mutex_unlock(&running_lock);
}

void aquery_counts(uint64_t *run, uint64_t *tot, uint64_t *to, uint64_t *ref)
{
    pthread_mutex_lock(&running_lock);
    *run = (uint64_t)running;
    pthread_mutex_unlock(&running_lock);
    *tot = ctr_get(&total);
    *to = ctr_get(&timeouts);
    *ref = ctr_get(&refused);
}
