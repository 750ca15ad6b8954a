/* worker.c - the worker role of scale-out; see worker.h. */
#include "server/worker.h"
#include "engine/partial.h"
#include "engine/qhandle.h"
#include "enrich/enrich.h"
#include "ingest/flowwire.h"
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
#include <unistd.h>

#define COMMIT_MS    200    /* commit what is written at most this often */
#define PROGRESS_MS  1000   /* and say so again at least this often */

/* A message read whose flows are in windows that may not be written yet:
 * its offset, and the end of the last window holding its latest flow. */
typedef struct pending {
    int64_t offset, need;
} pending_t;

/* At a close up to watermark w, partials were produced up to seq. */
typedef struct closemark {
    int64_t  w;
    uint64_t seq;
} closemark_t;

typedef struct wpart wpart_t;

/* What a delivery report needs to find its partition (which may have been
 * revoked or rebuilt since: gen tells). */
typedef struct dr {
    struct worker *w;
    int32_t        part;
    uint64_t       gen, seq;
} dr_t;

struct wpart {
    struct worker *w;
    int32_t        id;
    uint64_t       gen;        /* bumped when rebuilt or revoked */
    engine_t      *e;
    output_t       out;
    uint64_t       attempt;
    int64_t       *slides, *sizes;  /* the received-time windows run */
    int            nwin;
    int64_t        wm;         /* watermark applied, INT64_MIN none */
    int64_t        written;    /* windows ending at or before: written */
    int64_t        next_offset;/* after the last message read */
    pending_t     *pend;       /* FIFO */
    size_t         phead, pn, pcap;
    closemark_t   *marks;      /* FIFO */
    size_t         mhead, mn, mcap;
    uint64_t       produced;   /* partials messages produced (next seq) */
    uint64_t       acked_base; /* every seq below it is acknowledged */
    uint8_t       *acked;      /* acked[i]: seq acked_base + i */
    size_t         acked_cap;
    int64_t        committed_off, committed_w;
    int            failed;     /* a delivery failed: rebuild */
};

struct worker {
    worker_config_t   cfg;
    rd_kafka_t       *cons, *prod;
    rd_kafka_topic_t *prkt;      /* the partials topic */
    pthread_t         thr;
    flag_t            stop;
    int32_t           nparts;    /* of the flows topic */
    int32_t           npartials; /* of the partials topic (0: unknown) */
    wpart_t         **parts;     /* [nparts], NULL when not ours */
    uint64_t          gen, attempts;
    flow_batch_t     *batch;
    sbuf_t            msg;
    int64_t           last_commit, last_progress;
    int               dirty;     /* something written since the commit */
    log_limit_t       lim_bad, lim_err;
    counter_t messages, flows, markers, bad, partials, partial_bytes,
        partial_failed, commits, commit_errors, rebalances, rebuilds,
        progress, errors, skipped_queries;
    gauge_t   assigned, min_watermark;
};

/* ---- partitions ----------------------------------------------------------- */

static void on_partial(output_t *o, rowset_t *rs);

/* The end of the last window of p's queries that holds time t. */
static int64_t need_of(const wpart_t *p, int64_t t)
{
    int64_t need = INT64_MIN;
    for (int i = 0; i < p->nwin; i++) {
        int64_t s = p->slides[i];
        int64_t start = (t >= 0 ? t / s : -((-t + s - 1) / s)) * s;
        if (start + p->sizes[i] > need)
            need = start + p->sizes[i];
    }
    return need;
}

/* An engine for partition p with the queries registered now; windows
 * ending at or before floor are not emitted. */
static void part_engine(wpart_t *p, int64_t floor)
{
    worker_t *w = p->w;
    engine_config_t ec = {.worker = 1, .partial = 1, .close_delay_ms = 0,
                          .max_groups = w->cfg.max_groups,
                          .share = w->cfg.share, .threads = 1,
                          .has_floor = floor != INT64_MIN,
                          .emit_floor_ms = floor};
    p->e = engine_new(&ec);
    p->out = (output_t){.name = "partials", .on_window = on_partial,
                        .ctx = p};
    engine_add_output(p->e, &p->out);
    qhandle_t **hs = NULL;
    int n = engine_handles(w->cfg.registry, &hs);
    free(p->slides);
    free(p->sizes);
    p->slides = calloc((size_t)n + 1, sizeof(int64_t));
    p->sizes = calloc((size_t)n + 1, sizeof(int64_t));
    p->nwin = 0;
    for (int i = 0; i < n; i++) {
        diag_t err = {0};
        if (engine_register_handle(p->e, hs[i], &err) == ENGINE_OK) {
            const window_spec_t *ws = &hs[i]->plan->window;
            p->slides[p->nwin] = ws->slide > 0 ? ws->slide : 1;
            p->sizes[p->nwin] = ws->size;
            p->nwin++;
        } else if (p->id == 0) {
            ctr_inc(&w->skipped_queries);
            log_warn("worker", "%s does not run on workers: %s", hs[i]->name,
                     err.msg);
        }
        qhandle_unref(hs[i]);
    }
    free(hs);
    /* Unique per worker process and engine: the merge stage tells one
     * worker's chunks of a window from another's by it. */
    p->attempt = ((uint64_t)time_now_ms() << 24) ^ ((uint64_t)getpid() << 8) ^
                 ++w->attempts;
}

static wpart_t *part_new(worker_t *w, int32_t id, int64_t offset,
                         int64_t floor)
{
    wpart_t *p = calloc(1, sizeof(*p));
    p->w = w;
    p->id = id;
    p->gen = ++w->gen;
    p->wm = INT64_MIN;
    p->written = floor;
    p->committed_w = floor;
    p->committed_off = offset;
    p->next_offset = offset;
    part_engine(p, floor);
    return p;
}

static void part_free(wpart_t *p)
{
    if (!p)
        return;
    engine_free(p->e);
    free(p->slides);
    free(p->sizes);
    free(p->pend);
    free(p->marks);
    free(p->acked);
    free(p);
}

/* ---- partials out ---------------------------------------------------------- */

static void produce_wait(worker_t *w, int32_t partition, const void *key,
                         size_t klen, sbuf_t *m, dr_t *dr)
{
    for (;;) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            w->prod, RD_KAFKA_V_RKT(w->prkt), RD_KAFKA_V_PARTITION(partition),
            RD_KAFKA_V_KEY(key, klen), RD_KAFKA_V_VALUE(m->s, m->len),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(dr),
            RD_KAFKA_V_END);
        if (!e)
            return;
        if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL && !flag_get(&w->stop)) {
            /* The brokers are slow: the flows wait in Kafka meanwhile. */
            rd_kafka_poll(w->prod, 50);
            continue;
        }
        ctr_inc(&w->errors);
        log_limited(&w->lim_err, LOG_ERROR, "worker",
                    "cannot produce to %s: %s", rd_kafka_topic_name(w->prkt),
                    rd_kafka_err2str(e));
        if (dr) {
            wpart_t *p = w->parts[dr->part];
            if (p && p->gen == dr->gen)
                p->failed = 1;
            free(dr);
        }
        return;
    }
}

/* A closed window of partition p (this thread, inside engine_tick): its
 * state in chunks, each tracked until acknowledged. */
static void on_partial(output_t *o, rowset_t *rs)
{
    wpart_t *p = o->ctx;
    worker_t *w = p->w;
    if (!rs->state)
        return;
    partmsg_t m = {.type = PM_PARTIAL, .part = (uint32_t)p->id,
                   .nparts = (uint32_t)w->nparts, .wstart = rs->wstart,
                   .wend = rs->wend, .attempt = p->attempt,
                   .total = rs->state_len};
    snprintf(m.query, sizeof(m.query), "%s", rs->query);
    char key[128];
    int klen = snprintf(key, sizeof(key), "%s|%" PRId64, rs->query,
                        rs->wstart);
    uint64_t off = 0;
    do {
        m.off = off;
        m.data = rs->state + off;
        m.len = rs->state_len - off > PARTMSG_CHUNK ? PARTMSG_CHUNK
                                                    : rs->state_len - off;
        w->msg.len = 0;
        partmsg_encode(&m, &w->msg);
        dr_t *dr = malloc(sizeof(*dr));
        *dr = (dr_t){w, p->id, p->gen, p->produced++};
        produce_wait(w, RD_KAFKA_PARTITION_UA, key, (size_t)klen, &w->msg, dr);
        ctr_inc(&w->partials);
        ctr_add(&w->partial_bytes, w->msg.len);
        off += m.len;
    } while (off < rs->state_len);
}

static void mark_acked(wpart_t *p, uint64_t seq)
{
    if (seq < p->acked_base)
        return;
    size_t i = (size_t)(seq - p->acked_base);
    if (i >= p->acked_cap) {
        size_t cap = p->acked_cap ? p->acked_cap : 64;
        while (cap <= i)
            cap *= 2;
        p->acked = realloc(p->acked, cap);
        memset(p->acked + p->acked_cap, 0, cap - p->acked_cap);
        p->acked_cap = cap;
    }
    p->acked[i] = 1;
    size_t k = 0;
    while (k < p->acked_cap && p->acked[k])
        k++;
    if (k) {
        memmove(p->acked, p->acked + k, p->acked_cap - k);
        memset(p->acked + p->acked_cap - k, 0, k);
        p->acked_base += k;
    }
}

/* Windows closed at marks whose partials are all acknowledged are
 * written. */
static void advance_written(wpart_t *p)
{
    while (p->mn && p->marks[p->mhead].seq <= p->acked_base) {
        if (p->marks[p->mhead].w > p->written) {
            p->written = p->marks[p->mhead].w;
            p->w->dirty = 1;
        }
        p->mhead = (p->mhead + 1) % p->mcap;
        p->mn--;
    }
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m,
                        void *opaque)
{
    (void)rk;
    worker_t *w = opaque;
    dr_t *dr = m->_private;
    if (!dr)
        return;             /* a PROGRESS */
    wpart_t *p = dr->part < w->nparts ? w->parts[dr->part] : NULL;
    if (m->err) {
        ctr_inc(&w->partial_failed);
        log_limited(&w->lim_err, LOG_ERROR, "worker",
                    "a partial of flows partition %d was not delivered: %s "
                    "(the partition is rebuilt from its committed offset)",
                    (int)dr->part, rd_kafka_err2str(m->err));
        if (p && p->gen == dr->gen)
            p->failed = 1;
    } else if (p && p->gen == dr->gen) {
        mark_acked(p, dr->seq);
        advance_written(p);
    }
    free(dr);
}

/* ---- flows in ----------------------------------------------------------------- */

/* Room for one more in a FIFO ring of n elements from head (doubling,
 * unwrapped to head 0 when it grows): the ring, maybe moved. */
static void *ring_reserve(void *ring, size_t elem, size_t *head, size_t n,
                          size_t *cap, size_t first_cap)
{
    if (n < *cap)
        return ring;
    size_t ncap = *cap ? *cap * 2 : first_cap;
    uint8_t *nr = malloc(ncap * elem);
    for (size_t i = 0; i < n; i++)
        memcpy(nr + i * elem, (uint8_t *)ring + (*head + i) % *cap * elem,
               elem);
    free(ring);
    *head = 0;
    *cap = ncap;
    return nr;
}

static void fifo_push_pending(wpart_t *p, int64_t off, int64_t need)
{
    p->pend = ring_reserve(p->pend, sizeof(*p->pend), &p->phead, p->pn,
                           &p->pcap, 256);
    p->pend[(p->phead + p->pn++) % p->pcap] = (pending_t){off, need};
}

static void fifo_push_mark(wpart_t *p, int64_t wm, uint64_t seq)
{
    p->marks = ring_reserve(p->marks, sizeof(*p->marks), &p->mhead, p->mn,
                            &p->mcap, 64);
    p->marks[(p->mhead + p->mn++) % p->mcap] = (closemark_t){wm, seq};
}

static void take_message(worker_t *w, rd_kafka_message_t *m)
{
    if (m->err) {
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
            return;
        ctr_inc(&w->errors);
        log_limited(&w->lim_err, LOG_WARN, "worker", "%s",
                    rd_kafka_message_errstr(m));
        return;
    }
    wpart_t *p = m->partition >= 0 && m->partition < w->nparts
                     ? w->parts[m->partition] : NULL;
    if (!p || p->failed)
        return;             /* not ours (any more), or being rebuilt */
    ctr_inc(&w->messages);
    p->next_offset = m->offset + 1;
    flowwire_meta_t meta;
    diag_t err = {0};
    if (flowwire_decode(m->payload, m->len, w->batch, &meta, &err) < 0) {
        ctr_inc(&w->bad);
        log_limited(&w->lim_bad, LOG_WARN, "worker",
                    "%s [%d] offset %lld: %s (skipped)",
                    rd_kafka_topic_name(m->rkt), (int)m->partition,
                    (long long)m->offset, err.msg);
        return;
    }
    /* The watermark first: the windows it closes hold none of this
     * message's flows but late ones, as on the collector. */
    if (meta.watermark > p->wm) {
        p->wm = meta.watermark;
        engine_tick(p->e, p->wm);
        fifo_push_mark(p, p->wm, p->produced);
        advance_written(p);
    }
    if (meta.flags & FLOWWIRE_F_MARKER || w->batch->n == 0) {
        ctr_inc(&w->markers);
        return;
    }
    flow_batch_t *b = w->batch;
    uint64_t ef = engine_fields(p->e) & ENRICH_FIELDS;
    if (ef)
        enrich_batch(b, ef);
    int64_t rmax = INT64_MIN;
    for (uint32_t i = 0; i < b->n; i++)
        if (b->received[i] > rmax)
            rmax = b->received[i];
    engine_process(p->e, b);
    ctr_add(&w->flows, b->n);
    fifo_push_pending(p, m->offset, need_of(p, rmax));
}

/* ---- offsets and progress -------------------------------------------------- */

/* The offset to commit for p: the first message with flows in a window
 * not yet written. */
static int64_t commit_offset(wpart_t *p)
{
    while (p->pn && p->pend[p->phead].need <= p->written) {
        p->phead = (p->phead + 1) % p->pcap;
        p->pn--;
    }
    return p->pn ? p->pend[p->phead].offset : p->next_offset;
}

static void send_progress(worker_t *w, wpart_t *p)
{
    if (w->npartials <= 0 || p->committed_w == INT64_MIN)
        return;
    partmsg_t m = {.type = PM_PROGRESS, .part = (uint32_t)p->id,
                   .nparts = (uint32_t)w->nparts,
                   .watermark = p->committed_w};
    snprintf(m.query, sizeof(m.query), "%s", "");
    w->msg.len = 0;
    partmsg_encode(&m, &w->msg);
    for (int32_t k = 0; k < w->npartials; k++)
        produce_wait(w, k, NULL, 0, &w->msg, NULL);
    ctr_inc(&w->progress);
}

/* Commit, for every partition, what is written (metadata "w=<ms>": the
 * watermark up to which its windows are written, which the next owner
 * reads); then tell the merge stage. Synchronous: the PROGRESS must not
 * overtake the commit, or a successor could write again a window the
 * merge stage already closed. */
static void commit(worker_t *w, int force_progress)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(8);
    for (int32_t i = 0; i < w->nparts; i++) {
        wpart_t *p = w->parts[i];
        if (!p || p->failed || p->written == INT64_MIN)
            continue;
        int64_t off = commit_offset(p);
        if (off == p->committed_off && p->written == p->committed_w)
            continue;
        rd_kafka_topic_partition_t *t =
            rd_kafka_topic_partition_list_add(l, w->cfg.flows_topic, i);
        t->offset = off;
        char md[32];
        int n = snprintf(md, sizeof(md), "w=%" PRId64, p->written);
        t->metadata = malloc((size_t)n);
        memcpy(t->metadata, md, (size_t)n);
        t->metadata_size = (size_t)n;
    }
    if (l->cnt) {
        rd_kafka_resp_err_t e = rd_kafka_commit(w->cons, l, 0);
        if (e) {
            ctr_inc(&w->commit_errors);
            log_limited(&w->lim_err, LOG_WARN, "worker",
                        "committing offsets: %s (again at the next close)",
                        rd_kafka_err2str(e));
        } else {
            ctr_inc(&w->commits);
            for (int k = 0; k < l->cnt; k++) {
                rd_kafka_topic_partition_t *t = &l->elems[k];
                wpart_t *p = w->parts[t->partition];
                if (t->err || !p)
                    continue;
                p->committed_off = t->offset;
                int64_t v = 0;
                if (sscanf((const char *)t->metadata, "w=%" SCNd64, &v) == 1)
                    p->committed_w = v;
                send_progress(w, p);
            }
        }
    }
    rd_kafka_topic_partition_list_destroy(l);
    if (force_progress)
        for (int32_t i = 0; i < w->nparts; i++)
            if (w->parts[i] && !w->parts[i]->failed)
                send_progress(w, w->parts[i]);
}

/* ---- assignment ------------------------------------------------------------ */

static int64_t meta_floor(const rd_kafka_topic_partition_t *t)
{
    int64_t v;
    char buf[32];
    if (!t->metadata || t->metadata_size == 0 ||
        t->metadata_size >= sizeof(buf))
        return INT64_MIN;
    memcpy(buf, t->metadata, t->metadata_size);
    buf[t->metadata_size] = 0;
    return sscanf(buf, "w=%" SCNd64, &v) == 1 ? v : INT64_MIN;
}

static void drop_parts(worker_t *w, const rd_kafka_topic_partition_list_t *l)
{
    for (int k = 0; k < l->cnt; k++) {
        int32_t id = l->elems[k].partition;
        if (id >= 0 && id < w->nparts && w->parts[id]) {
            part_free(w->parts[id]);
            w->parts[id] = NULL;
            gauge_set(&w->assigned, gauge_get(&w->assigned) - 1);
        }
    }
}

/* Take partitions l at their committed offsets and watermarks. */
static void take_parts(worker_t *w, rd_kafka_topic_partition_list_t *l)
{
    rd_kafka_resp_err_t e = rd_kafka_committed(w->cons, l, 10000);
    if (e)
        log_warn("worker", "reading the committed offsets: %s (reading "
                 "from the start of the topic)", rd_kafka_err2str(e));
    for (int k = 0; k < l->cnt; k++) {
        rd_kafka_topic_partition_t *t = &l->elems[k];
        if (t->partition < 0 || t->partition >= w->nparts)
            continue;
        int64_t floor = e ? INT64_MIN : meta_floor(t);
        if (e || t->offset < 0)
            t->offset = RD_KAFKA_OFFSET_BEGINNING;
        part_free(w->parts[t->partition]);
        w->parts[t->partition] =
            part_new(w, t->partition, t->offset < 0 ? 0 : t->offset, floor);
        gauge_set(&w->assigned, gauge_get(&w->assigned) + 1);
        log_info("worker", "flows partition %d: from offset %lld, windows "
                 "written up to %lld", (int)t->partition,
                 (long long)t->offset, (long long)floor);
    }
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *l, void *opaque)
{
    worker_t *w = opaque;
    ctr_inc(&w->rebalances);
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        take_parts(w, l);
        rd_kafka_assign(rk, l);
    } else {
        /* What is written is committed; the open windows are dropped:
         * the partitions' next owners rebuild them. */
        commit(w, 0);
        drop_parts(w, l);
        rd_kafka_assign(rk, NULL);
    }
}

/* A partial was not delivered: forget the partition's open windows and
 * read it again from its committed offset. */
static void rebuild(worker_t *w, wpart_t *p)
{
    int32_t id = p->id;
    int64_t off = p->committed_off, floor = p->committed_w;
    part_free(p);
    w->parts[id] = part_new(w, id, off, floor);
    ctr_inc(&w->rebuilds);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, w->cfg.flows_topic, id)->offset =
        off > 0 ? off : RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_error_t *e = rd_kafka_seek_partitions(w->cons, l, 5000);
    if (e) {
        log_error("worker", "seeking flows partition %d: %s", (int)id,
                  rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
    }
    rd_kafka_topic_partition_list_destroy(l);
}

/* ---- the thread ------------------------------------------------------------ */

static int32_t partitions_of(rd_kafka_t *rk, const char *topic, int timeout)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    int32_t n = 0;
    if (rd_kafka_metadata(rk, 0, rkt, &md, timeout) == 0 &&
        md->topic_cnt == 1 && md->topics[0].err == 0)
        n = md->topics[0].partition_cnt;
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    return n > PARTMSG_MAX_PARTS ? PARTMSG_MAX_PARTS : n;
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    while (!flag_get(&w->stop)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(w->cons, 20);
        if (m) {
            take_message(w, m);
            rd_kafka_message_destroy(m);
        }
        rd_kafka_poll(w->prod, 0);
        for (int32_t i = 0; i < w->nparts; i++)
            if (w->parts[i] && w->parts[i]->failed)
                rebuild(w, w->parts[i]);
        int64_t now = time_mono_ms();
        if (w->npartials <= 0 && now - w->last_progress >= PROGRESS_MS) {
            w->npartials = partitions_of(w->prod, w->cfg.partials_topic, 500);
            now = time_mono_ms();
        }
        int progress = now - w->last_progress >= PROGRESS_MS;
        if ((w->dirty && now - w->last_commit >= COMMIT_MS) || progress) {
            w->dirty = 0;
            w->last_commit = now;
            commit(w, progress);
            if (progress)
                w->last_progress = now;
        }
        int64_t lo = INT64_MAX;
        for (int32_t i = 0; i < w->nparts; i++)
            if (w->parts[i] && w->parts[i]->wm < lo)
                lo = w->parts[i]->wm;
        gauge_set(&w->min_watermark, lo == INT64_MAX || lo == INT64_MIN ? 0
                                                                        : lo);
    }
    /* Written windows committed; what is in flight delivered first. */
    rd_kafka_flush(w->prod, 10000);
    rd_kafka_poll(w->prod, 0);
    commit(w, 0);
    rd_kafka_consumer_close(w->cons);
    return NULL;
}

static void on_error(rd_kafka_t *rk, int err, const char *reason,
                     void *opaque)
{
    (void)rk;
    worker_t *w = opaque;
    ctr_inc(&w->errors);
    log_limited(&w->lim_err, LOG_WARN, "worker", "%s: %s",
                rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

worker_t *worker_start(const worker_config_t *cfg, diag_t *err)
{
    if (!cfg->brokers || !*cfg->brokers || !cfg->flows_topic ||
        !*cfg->flows_topic) {
        diag_set(err, "--worker needs --kafka-brokers and --flows-topic");
        return NULL;
    }
    worker_t *w = calloc(1, sizeof(*w));
    w->cfg = *cfg;
    char es[512];
    /* A worker's partitions move only when a worker joins or leaves: a
     * short session (6 s) so that the partitions of a dead one move
     * soon; offsets are ours (committed with the written watermark). */
    rd_kafka_conf_t *cc = kafka_group_conf(cfg->brokers, cfg->group,
                                           "flowsqld-worker", cfg->props, err);
    if (!cc) {
        free(w);
        return NULL;
    }
    rd_kafka_conf_set_opaque(cc, w);
    rd_kafka_conf_set_rebalance_cb(cc, on_rebalance);
    rd_kafka_conf_set_error_cb(cc, on_error);
    rd_kafka_conf_t *pc = kafka_producer_conf(cfg->brokers, "flowsqld-worker",
                                              "5", cfg->props, err);
    if (!pc) {
        rd_kafka_conf_destroy(cc);
        free(w);
        return NULL;
    }
    rd_kafka_conf_set_opaque(pc, w);
    rd_kafka_conf_set_dr_msg_cb(pc, on_delivery);
    rd_kafka_conf_set_error_cb(pc, on_error);
    if (!(w->prod = rd_kafka_new(RD_KAFKA_PRODUCER, pc, es, sizeof(es)))) {
        diag_set(err, "worker: kafka producer: %s", es);
        rd_kafka_conf_destroy(pc);
        rd_kafka_conf_destroy(cc);
        free(w);
        return NULL;
    }
    if (!(w->cons = rd_kafka_new(RD_KAFKA_CONSUMER, cc, es, sizeof(es)))) {
        diag_set(err, "worker: kafka consumer: %s", es);
        rd_kafka_conf_destroy(cc);
        rd_kafka_destroy(w->prod);
        free(w);
        return NULL;
    }
    rd_kafka_poll_set_consumer(w->cons);
    w->prkt = rd_kafka_topic_new(w->prod, cfg->partials_topic, NULL);
    w->nparts = partitions_of(w->cons, cfg->flows_topic, 10000);
    if (w->nparts <= 0) {
        diag_set(err, "worker: the flows topic '%s' is not on %s (or the "
                 "brokers did not answer within 10 s): create it first",
                 cfg->flows_topic, cfg->brokers);
        goto fail;
    }
    w->npartials = partitions_of(w->prod, cfg->partials_topic, 10000);
    if (w->npartials <= 0)
        log_warn("worker", "the partials topic '%s' is not there yet: "
                 "windows wait until it is", cfg->partials_topic);
    w->parts = calloc((size_t)w->nparts, sizeof(wpart_t *));
    w->batch = flow_batch_new();
    rd_kafka_topic_partition_list_t *subs = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(subs, cfg->flows_topic,
                                      RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(w->cons, subs);
    rd_kafka_topic_partition_list_destroy(subs);
    if (e) {
        diag_set(err, "worker: cannot subscribe to '%s': %s",
                 cfg->flows_topic, rd_kafka_err2str(e));
        goto fail;
    }
    w->last_progress = time_mono_ms();
    if (pthread_create(&w->thr, NULL, worker_main, w) != 0) {
        diag_set(err, "worker: cannot start its thread: %s", strerror(errno));
        goto fail;
    }
    log_info("worker", "consuming %s (%d partitions) in group %s; partials "
             "to %s", cfg->flows_topic, (int)w->nparts, cfg->group,
             cfg->partials_topic);
    return w;
fail:
    rd_kafka_consumer_close(w->cons);
    rd_kafka_destroy(w->cons);
    rd_kafka_topic_destroy(w->prkt);
    rd_kafka_destroy(w->prod);
    free(w->parts);
    flow_batch_free(w->batch);
    free(w);
    return NULL;
}

void worker_stop(worker_t *w)
{
    if (!w)
        return;
    flag_set(&w->stop, 1);
    pthread_join(w->thr, NULL);
    rd_kafka_destroy(w->cons);
    for (int32_t i = 0; i < w->nparts; i++)
        part_free(w->parts[i]);
    rd_kafka_topic_destroy(w->prkt);
    rd_kafka_flush(w->prod, 5000);
    rd_kafka_destroy(w->prod);
    free(w->parts);
    flow_batch_free(w->batch);
    sbuf_free(&w->msg);
    free(w);
}

void worker_metrics(worker_t *w, sbuf_t *b)
{
    const prom_counter_t c[] = {
        {"flowsql_worker_messages_total", "flows topic messages read",
         ctr_get(&w->messages)},
        {"flowsql_worker_flows_total", "flows run through the queries",
         ctr_get(&w->flows)},
        {"flowsql_worker_markers_total", "watermark markers read",
         ctr_get(&w->markers)},
        {"flowsql_worker_bad_messages_total",
         "flows topic messages that did not decode (skipped)",
         ctr_get(&w->bad)},
        {"flowsql_worker_partials_total",
         "partials messages produced (window state chunks)",
         ctr_get(&w->partials)},
        {"flowsql_worker_partials_bytes_total",
         "bytes of partials messages produced", ctr_get(&w->partial_bytes)},
        {"flowsql_worker_partials_failed_total",
         "partials messages not delivered (their partition rebuilt)",
         ctr_get(&w->partial_failed)},
        {"flowsql_worker_commits_total", "offset commits",
         ctr_get(&w->commits)},
        {"flowsql_worker_commit_errors_total", "offset commits refused",
         ctr_get(&w->commit_errors)},
        {"flowsql_worker_progress_total", "PROGRESS rounds sent",
         ctr_get(&w->progress)},
        {"flowsql_worker_rebalances_total",
         "partition assignments and revocations", ctr_get(&w->rebalances)},
        {"flowsql_worker_rebuilds_total",
         "partitions read again from their committed offset",
         ctr_get(&w->rebuilds)},
        {"flowsql_worker_skipped_queries_total",
         "queries that cannot run on a worker (logged)",
         ctr_get(&w->skipped_queries)},
        {"flowsql_worker_errors_total", "client errors (brokers down...)",
         ctr_get(&w->errors)},
    };
    prom_counters(b, c, sizeof(c) / sizeof(c[0]));
    sbuf_printf(b, "# HELP flowsql_worker_partitions flows partitions this "
                "worker owns\n# TYPE flowsql_worker_partitions gauge\n"
                "flowsql_worker_partitions %lld\n",
                (long long)gauge_get(&w->assigned));
    sbuf_printf(b, "# HELP flowsql_worker_watermark_seconds the lowest "
                "watermark of its partitions (received time, s since the "
                "epoch)\n# TYPE flowsql_worker_watermark_seconds gauge\n"
                "flowsql_worker_watermark_seconds %.3f\n",
                (double)gauge_get(&w->min_watermark) / 1000.0);
}
