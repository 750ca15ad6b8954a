/* merge.c - the merge stage of scale-out; see merge.h. */
#include "server/merge.h"
#include "engine/partial.h"
#include "engine/qhandle.h"
#include "server/partmsg.h"
#include "sinks/kafka.h"
#include "util/prom.h"
#include "util/counter.h"
#include "util/log.h"
#include "util/timeutil.h"

#include <errno.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COMMIT_MS 200

/* One worker's state of a window on one flows partition, being
 * reassembled from its chunks. */
typedef struct chunks {
    struct chunks *next;
    uint32_t       part;
    uint64_t       attempt, total, got;
    uint8_t       *buf;
} chunks_t;

typedef struct mquery {
    struct mquery *next;
    char           name[64];
    merger_t      *mg;          /* NULL: cannot be merged here */
} mquery_t;

typedef struct mwin {
    struct mwin *next;
    mquery_t    *q;
    int64_t      wstart, wend, first_offset;
    uint32_t     nparts;
    uint8_t     *accepted;      /* [nparts]: a whole state merged */
    chunks_t    *chunks;
} mwin_t;

/* A partition of the partials topic this instance owns. */
typedef struct mpart {
    int32_t  id;
    int64_t  floor;             /* windows ending at or before: emitted */
    uint32_t nparts;            /* flows partitions (from PROGRESS) */
    int64_t *prog;              /* [nparts]: latest PROGRESS, INT64_MIN */
    int64_t  next_offset, committed_off, committed_floor;
    mwin_t  *wins;
} mpart_t;

struct merge {
    merge_config_t cfg;
    rd_kafka_t    *rk;
    pthread_t      thr;
    flag_t         stop;
    mpart_t      **parts;       /* [PARTMSG_MAX_PARTS] */
    mquery_t      *queries;
    int64_t        last_commit;
    log_limit_t    lim_bad, lim_err;
    counter_t messages, partials, dups, bad, unknown, windows, rows,
        commits, commit_errors, rebalances, errors;
    gauge_t   pending, delay_last_ms, delay_max_ms;
};

/* ---- queries ----------------------------------------------------------------- */

static mquery_t *query_of(merge_t *m, const char *name)
{
    for (mquery_t *q = m->queries; q; q = q->next)
        if (strcmp(q->name, name) == 0)
            return q;
    qhandle_t *h = engine_get(m->cfg.registry, name);
    if (!h)
        return NULL;            /* not registered here (yet): skipped */
    mquery_t *q = calloc(1, sizeof(*q));
    snprintf(q->name, sizeof(q->name), "%s", name);
    diag_t err = {0};
    q->mg = merger_new(h, &err);
    if (!q->mg)
        log_error("merge", "%s: its partials cannot be merged: %s", name,
                  err.msg);
    qhandle_unref(h);
    q->next = m->queries;
    m->queries = q;
    return q;
}

/* ---- windows -------------------------------------------------------------------- */

static void chunks_free(chunks_t *c)
{
    while (c) {
        chunks_t *n = c->next;
        free(c->buf);
        free(c);
        c = n;
    }
}

static void win_free(mwin_t *w, int discard)
{
    if (discard && w->q->mg)
        merger_discard(w->q->mg, w->wstart, w->wend);
    chunks_free(w->chunks);
    free(w->accepted);
    free(w);
}

static mwin_t *win_of(mpart_t *x, mquery_t *q, const partmsg_t *pm,
                      int64_t offset)
{
    for (mwin_t *w = x->wins; w; w = w->next)
        if (w->q == q && w->wstart == pm->wstart && w->wend == pm->wend)
            return w;
    mwin_t *w = calloc(1, sizeof(*w));
    w->q = q;
    w->wstart = pm->wstart;
    w->wend = pm->wend;
    w->first_offset = offset;
    w->nparts = pm->nparts;
    w->accepted = calloc(pm->nparts, 1);
    w->next = x->wins;
    x->wins = w;
    return w;
}

static void take_partial(merge_t *m, mpart_t *x, const partmsg_t *pm,
                         int64_t offset)
{
    if (pm->wend <= x->floor) {
        ctr_inc(&m->dups);      /* a window emitted already */
        return;
    }
    mquery_t *q = query_of(m, pm->query);
    if (!q || !q->mg) {
        ctr_inc(&m->unknown);
        log_limited(&m->lim_bad, LOG_WARN, "merge",
                    "a partial of '%s', which %s (skipped)", pm->query,
                    q ? "cannot be merged" : "does not run here");
        return;
    }
    mwin_t *w = win_of(x, q, pm, offset);
    if (pm->part >= w->nparts || w->accepted[pm->part]) {
        ctr_inc(&m->dups);
        return;
    }
    chunks_t *c = w->chunks;
    while (c && !(c->part == pm->part && c->attempt == pm->attempt))
        c = c->next;
    if (!c) {
        c = calloc(1, sizeof(*c));
        c->part = pm->part;
        c->attempt = pm->attempt;
        c->total = pm->total;
        c->buf = malloc(pm->total ? pm->total : 1);
        c->next = w->chunks;
        w->chunks = c;
    }
    if (c->total != pm->total || pm->off + pm->len > c->total) {
        ctr_inc(&m->bad);
        return;
    }
    memcpy(c->buf + pm->off, pm->data, pm->len);
    c->got += pm->len;
    if (c->got < c->total)
        return;
    diag_t err = {0};
    if (merger_add(q->mg, w->wstart, w->wend, c->buf, c->total, &err) < 0) {
        ctr_inc(&m->bad);
        log_limited(&m->lim_bad, LOG_ERROR, "merge",
                    "%s window %lld flows partition %u: %s: its rows are "
                    "missing from the window", q->name, (long long)w->wstart,
                    pm->part, err.msg);
    } else {
        ctr_inc(&m->partials);
        w->accepted[pm->part] = 1;
    }
    /* This partition's state is in (or refused): other attempts at it
     * are dead workers' and go. */
    chunks_t **pp = &w->chunks;
    while (*pp) {
        if ((*pp)->part == pm->part) {
            chunks_t *d = *pp;
            *pp = d->next;
            d->next = NULL;
            chunks_free(d);
        } else {
            pp = &(*pp)->next;
        }
    }
}

static void take_progress(mpart_t *x, const partmsg_t *pm)
{
    if (pm->nparts != x->nparts) {
        /* The flows topic's partition count, as the workers see it. */
        x->prog = realloc(x->prog, pm->nparts * sizeof(int64_t));
        for (uint32_t i = x->nparts; i < pm->nparts; i++)
            x->prog[i] = INT64_MIN;
        x->nparts = pm->nparts;
    }
    if (pm->watermark > x->prog[pm->part])
        x->prog[pm->part] = pm->watermark;
}

/* Emit the windows of x that every flows partition has written. */
static void complete(merge_t *m, mpart_t *x)
{
    if (!x->nparts)
        return;
    int64_t lo = INT64_MAX;
    for (uint32_t i = 0; i < x->nparts; i++)
        if (x->prog[i] < lo)
            lo = x->prog[i];
    if (lo == INT64_MIN || lo <= x->floor)
        return;
    mwin_t **pp = &x->wins;
    while (*pp) {
        mwin_t *w = *pp;
        if (w->wend > lo) {
            pp = &w->next;
            continue;
        }
        *pp = w->next;
        rowset_t *rs = merger_close(w->q->mg, w->wstart, w->wend);
        if (rs) {
            rs->replayed = 1;
            rs->merged = 1;
            rs->partial = 0;
            ctr_inc(&m->windows);
            ctr_add(&m->rows, rs->nrows);
            int64_t delay = time_now_ms() - w->wend;
            gauge_set(&m->delay_last_ms, delay);
            gauge_max(&m->delay_max_ms, delay);
            engine_deliver(m->cfg.registry, rs);
        }
        win_free(w, 0);
    }
    x->floor = lo;
}

/* ---- offsets ------------------------------------------------------------------- */

static void commit(merge_t *m, int async)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(8);
    for (int32_t i = 0; i < PARTMSG_MAX_PARTS; i++) {
        mpart_t *x = m->parts[i];
        if (!x)
            continue;
        int64_t off = x->next_offset;
        for (mwin_t *w = x->wins; w; w = w->next)
            if (w->first_offset < off)
                off = w->first_offset;
        if (off == x->committed_off && x->floor == x->committed_floor)
            continue;
        rd_kafka_topic_partition_t *t =
            rd_kafka_topic_partition_list_add(l, m->cfg.partials_topic, i);
        t->offset = off;
        char md[32];
        int n = snprintf(md, sizeof(md), "w=%" PRId64, x->floor);
        t->metadata = malloc((size_t)n);
        memcpy(t->metadata, md, (size_t)n);
        t->metadata_size = (size_t)n;
        x->committed_off = off;
        x->committed_floor = x->floor;
    }
    if (l->cnt) {
        rd_kafka_resp_err_t e = rd_kafka_commit(m->rk, l, async);
        if (e) {
            ctr_inc(&m->commit_errors);
            log_limited(&m->lim_err, LOG_WARN, "merge",
                        "committing offsets: %s", rd_kafka_err2str(e));
        } else {
            ctr_inc(&m->commits);
        }
    }
    rd_kafka_topic_partition_list_destroy(l);
}

static void part_free(mpart_t *x)
{
    if (!x)
        return;
    while (x->wins) {
        mwin_t *w = x->wins;
        x->wins = w->next;
        win_free(w, 1);
    }
    free(x->prog);
    free(x);
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *l, void *opaque)
{
    merge_t *m = opaque;
    ctr_inc(&m->rebalances);
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        rd_kafka_resp_err_t e = rd_kafka_committed(rk, l, 10000);
        for (int k = 0; k < l->cnt; k++) {
            rd_kafka_topic_partition_t *t = &l->elems[k];
            if (t->partition < 0 || t->partition >= PARTMSG_MAX_PARTS)
                continue;
            mpart_t *x = calloc(1, sizeof(*x));
            x->id = t->partition;
            x->floor = INT64_MIN;
            char buf[32];
            int64_t v;
            if (!e && t->metadata && t->metadata_size < sizeof(buf)) {
                memcpy(buf, t->metadata, t->metadata_size);
                buf[t->metadata_size] = 0;
                if (sscanf(buf, "w=%" SCNd64, &v) == 1)
                    x->floor = v;
            }
            if (e || t->offset < 0)
                t->offset = RD_KAFKA_OFFSET_BEGINNING;
            x->next_offset = x->committed_off = t->offset < 0 ? 0 : t->offset;
            x->committed_floor = x->floor;
            part_free(m->parts[t->partition]);
            m->parts[t->partition] = x;
            log_info("merge", "partials partition %d: from offset %lld, "
                     "windows emitted up to %lld", (int)t->partition,
                     (long long)t->offset, (long long)x->floor);
        }
        rd_kafka_assign(rk, l);
    } else {
        commit(m, 0);
        for (int k = 0; k < l->cnt; k++) {
            int32_t id = l->elems[k].partition;
            if (id >= 0 && id < PARTMSG_MAX_PARTS) {
                part_free(m->parts[id]);
                m->parts[id] = NULL;
            }
        }
        rd_kafka_assign(rk, NULL);
    }
}

/* ---- the thread ------------------------------------------------------------- */

static void take_message(merge_t *m, rd_kafka_message_t *km)
{
    if (km->err) {
        if (km->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
            return;
        ctr_inc(&m->errors);
        log_limited(&m->lim_err, LOG_WARN, "merge", "%s",
                    rd_kafka_message_errstr(km));
        return;
    }
    mpart_t *x = km->partition >= 0 && km->partition < PARTMSG_MAX_PARTS
                     ? m->parts[km->partition] : NULL;
    if (!x)
        return;
    ctr_inc(&m->messages);
    x->next_offset = km->offset + 1;
    partmsg_t pm;
    diag_t err = {0};
    if (partmsg_decode(km->payload, km->len, &pm, &err) < 0) {
        ctr_inc(&m->bad);
        log_limited(&m->lim_bad, LOG_WARN, "merge",
                    "%s [%d] offset %lld: %s (skipped)",
                    rd_kafka_topic_name(km->rkt), (int)km->partition,
                    (long long)km->offset, err.msg);
        return;
    }
    if (pm.type == PM_PROGRESS) {
        take_progress(x, &pm);
        complete(m, x);
    } else {
        take_partial(m, x, &pm, km->offset);
    }
}

static void *merge_main(void *arg)
{
    merge_t *m = arg;
    while (!flag_get(&m->stop)) {
        rd_kafka_message_t *km = rd_kafka_consumer_poll(m->rk, 50);
        if (km) {
            take_message(m, km);
            rd_kafka_message_destroy(km);
        }
        int64_t now = time_mono_ms();
        if (now - m->last_commit >= COMMIT_MS) {
            m->last_commit = now;
            int64_t n = 0;
            for (int32_t i = 0; i < PARTMSG_MAX_PARTS; i++)
                if (m->parts[i])
                    for (mwin_t *w = m->parts[i]->wins; w; w = w->next)
                        n++;
            gauge_set(&m->pending, n);
            commit(m, 1);
        }
    }
    commit(m, 0);
    rd_kafka_consumer_close(m->rk);
    return NULL;
}

static void on_error(rd_kafka_t *rk, int err, const char *reason,
                     void *opaque)
{
    (void)rk;
    merge_t *m = opaque;
    ctr_inc(&m->errors);
    log_limited(&m->lim_err, LOG_WARN, "merge", "%s: %s",
                rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

merge_t *merge_start(const merge_config_t *cfg, diag_t *err)
{
    if (!cfg->brokers || !*cfg->brokers) {
        diag_set(err, "--merge needs --kafka-brokers");
        return NULL;
    }
    rd_kafka_conf_t *c = kafka_group_conf(cfg->brokers, cfg->group,
                                          "flowsqld-merge", cfg->props, err);
    if (!c)
        return NULL;
    merge_t *m = calloc(1, sizeof(*m));
    m->cfg = *cfg;
    rd_kafka_conf_set_opaque(c, m);
    rd_kafka_conf_set_rebalance_cb(c, on_rebalance);
    rd_kafka_conf_set_error_cb(c, on_error);
    char es[512];
    if (!(m->rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, es, sizeof(es)))) {
        diag_set(err, "merge: kafka consumer: %s", es);
        rd_kafka_conf_destroy(c);
        free(m);
        return NULL;
    }
    rd_kafka_poll_set_consumer(m->rk);
    m->parts = calloc(PARTMSG_MAX_PARTS, sizeof(mpart_t *));
    rd_kafka_topic_partition_list_t *subs = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(subs, cfg->partials_topic,
                                      RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(m->rk, subs);
    rd_kafka_topic_partition_list_destroy(subs);
    if (e || pthread_create(&m->thr, NULL, merge_main, m) != 0) {
        diag_set(err, "merge: cannot %s '%s': %s",
                 e ? "subscribe to" : "start the thread for",
                 cfg->partials_topic,
                 e ? rd_kafka_err2str(e) : strerror(errno));
        rd_kafka_consumer_close(m->rk);
        rd_kafka_destroy(m->rk);
        free(m->parts);
        free(m);
        return NULL;
    }
    log_info("merge", "merging %s in group %s", cfg->partials_topic,
             cfg->group);
    return m;
}

void merge_stop(merge_t *m)
{
    if (!m)
        return;
    flag_set(&m->stop, 1);
    pthread_join(m->thr, NULL);
    rd_kafka_destroy(m->rk);
    for (int32_t i = 0; i < PARTMSG_MAX_PARTS; i++)
        part_free(m->parts[i]);
    free(m->parts);
    while (m->queries) {
        mquery_t *q = m->queries;
        m->queries = q->next;
        merger_free(q->mg);
        free(q);
    }
    free(m);
}

void merge_metrics(merge_t *m, sbuf_t *b)
{
    const prom_counter_t c[] = {
        {"flowsql_merge_messages_total", "partials topic messages read",
         ctr_get(&m->messages)},
        {"flowsql_merge_partials_total",
         "window states of one flows partition merged",
         ctr_get(&m->partials)},
        {"flowsql_merge_duplicates_total",
         "window states already merged or emitted (a worker's successor "
         "wrote them again): dropped", ctr_get(&m->dups)},
        {"flowsql_merge_bad_total",
         "partials messages or states that did not decode (logged)",
         ctr_get(&m->bad)},
        {"flowsql_merge_unknown_total",
         "partials of queries not registered here", ctr_get(&m->unknown)},
        {"flowsql_merge_windows_total", "merged windows emitted",
         ctr_get(&m->windows)},
        {"flowsql_merge_rows_total", "rows of merged windows",
         ctr_get(&m->rows)},
        {"flowsql_merge_commits_total", "offset commits",
         ctr_get(&m->commits)},
        {"flowsql_merge_commit_errors_total", "offset commits refused",
         ctr_get(&m->commit_errors)},
        {"flowsql_merge_rebalances_total",
         "partition assignments and revocations", ctr_get(&m->rebalances)},
        {"flowsql_merge_errors_total", "client errors (brokers down...)",
         ctr_get(&m->errors)},
    };
    prom_counters(b, c, sizeof(c) / sizeof(c[0]));
    sbuf_printf(b,
                "# HELP flowsql_merge_windows_pending windows waiting for "
                "a flows partition\n# TYPE flowsql_merge_windows_pending "
                "gauge\nflowsql_merge_windows_pending %lld\n",
                (long long)gauge_get(&m->pending));
    sbuf_printf(b,
                "# HELP flowsql_merge_delay_seconds from a window's end to "
                "its merged rows, the last window\n# TYPE "
                "flowsql_merge_delay_seconds gauge\n"
                "flowsql_merge_delay_seconds %.3f\n"
                "# HELP flowsql_merge_delay_seconds_max the same, the "
                "longest since the start\n# TYPE "
                "flowsql_merge_delay_seconds_max gauge\n"
                "flowsql_merge_delay_seconds_max %.3f\n",
                (double)gauge_get(&m->delay_last_ms) / 1000.0,
                (double)gauge_get(&m->delay_max_ms) / 1000.0);
}
