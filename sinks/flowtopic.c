/* flowtopic.c - received flows to a partitioned Kafka topic (the
 * collector role); see flowtopic.h. */
#include "sinks/flowtopic.h"
#include "ingest/flowwire.h"
#include "sinks/kafka.h"
#include "util/arena.h"
#include "util/counter.h"
#include "util/log.h"

#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define FT_MAX_PARTITIONS 4096

struct flowtopic {
    rd_kafka_t       *rk;
    rd_kafka_topic_t *rkt;
    char             *topic;
    size_t            key_off;      /* the key column in flow_batch_t */
    int               auto_parts;   /* partitions from metadata */
    gauge_t           partitions;   /* 0 while unknown */
    pthread_t         thr;
    flag_t            closing;
    log_limit_t       lim_err, lim_dr, lim_drop;
    int64_t           marker_ms, close_delay_ms;
    /* engine thread only */
    int64_t           watermark;    /* last sent in markers, 0 none */
    int64_t           last_marker;  /* clock of the last markers */
    uint64_t         *seq;          /* per partition */
    uint32_t         *part, *idx;   /* per flow of the batch */
    uint32_t          start[FT_MAX_PARTITIONS + 1];
    sbuf_t            msg;
    /* the HTTP thread reads them */
    counter_t mq, md, mf, fq, fd, ff, fdrop, mk, mkdrop, retries, errors;
};

/* ---- callbacks (poll thread) -------------------------------------------- */

/* The message's opaque is its flow count. */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m,
                        void *opaque)
{
    (void)rk;
    flowtopic_t *t = opaque;
    uint64_t n = (uint64_t)(uintptr_t)m->_private;
    if (m->err) {
        ctr_add(&t->mf, 1);
        ctr_add(&t->ff, n);
        log_limited(&t->lim_dr, LOG_WARN, "flows-topic",
                    "delivery of %llu flows to %s [%d] failed: %s",
                    (unsigned long long)n, t->topic, (int)m->partition,
                    rd_kafka_err2str(m->err));
    } else {
        ctr_add(&t->md, 1);
        ctr_add(&t->fd, n);
    }
}

static void on_error(rd_kafka_t *rk, int err, const char *reason,
                     void *opaque)
{
    (void)rk;
    flowtopic_t *t = opaque;
    ctr_add(&t->errors, 1);
    log_limited(&t->lim_err, LOG_WARN, "flows-topic", "%s: %s",
                rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

static int on_stats(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
    (void)rk;
    flowtopic_t *t = opaque;
    uint64_t sum = kafka_stats_retries(json, len);
    if (sum > ctr_get(&t->retries))
        ctr_set(&t->retries, sum);
    return 0;
}

/* The topic's partition count from the brokers, or 0 (topic unknown,
 * brokers unreachable within timeout_ms). */
static int32_t fetch_partitions(flowtopic_t *t, int timeout_ms)
{
    const struct rd_kafka_metadata *md = NULL;
    int32_t n = 0;
    if (rd_kafka_metadata(t->rk, 0, t->rkt, &md, timeout_ms) ==
            RD_KAFKA_RESP_ERR_NO_ERROR &&
        md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR)
        n = md->topics[0].partition_cnt;
    if (md)
        rd_kafka_metadata_destroy(md);
    return n > FT_MAX_PARTITIONS ? FT_MAX_PARTITIONS : n;
}

/* Serve the delivery reports; with partitions "auto", learn the count
 * (again every 10 s: a topic may grow, docs/SCALE_OUT.md). */
static void *poll_main(void *arg)
{
    flowtopic_t *t = arg;
    int64_t since = 0;
    while (!flag_get(&t->closing)) {
        rd_kafka_poll(t->rk, 100);
        since += 100;
        if (t->auto_parts && (gauge_get(&t->partitions) == 0 ||
                              since >= 10000)) {
            int32_t n = fetch_partitions(t, 1000);
            if (n > 0 && n != gauge_get(&t->partitions)) {
                log_info("flows-topic", "%s has %d partitions", t->topic,
                         (int)n);
                gauge_set(&t->partitions, n);
            }
            since = 0;
        }
    }
    return NULL;
}

/* ---- publishing (engine thread) ----------------------------------------- */

/*
 * Partition of every flow (murmur2 of its key column), then the flows
 * grouped by partition in batch order (a counting sort into idx), then
 * one message a partition that has flows.
 */
void flowtopic_publish(flowtopic_t *t, const flow_batch_t *b)
{
    if (b->n == 0)
        return;
    int32_t np = (int32_t)gauge_get(&t->partitions);
    if (np <= 0) {
        ctr_add(&t->fdrop, b->n);
        log_limited(&t->lim_drop, LOG_WARN, "flows-topic",
                    "dropping %u flows: the partition count of %s is not "
                    "known yet (brokers or topic missing)", b->n, t->topic);
        return;
    }
    const ipaddr_t *key = (const ipaddr_t *)((const char *)b + t->key_off);
    memset(t->start, 0, sizeof(t->start[0]) * ((size_t)np + 1));
    for (uint32_t i = 0; i < b->n; i++) {
        t->part[i] = (uint32_t)rd_kafka_msg_partitioner_murmur2(
            t->rkt, key[i].a, 16, np, NULL, NULL);
        t->start[t->part[i] + 1]++;
    }
    for (int32_t p = 0; p < np; p++)
        t->start[p + 1] += t->start[p];
    for (uint32_t i = 0; i < b->n; i++)
        t->idx[t->start[t->part[i]]++] = i;
    /* start[p] is now the end of p's run, the start of p + 1's */
    uint32_t from = 0;
    for (int32_t p = 0; p < np; p++) {
        uint32_t to = t->start[p], n = to - from;
        if (n == 0)
            continue;
        const uint32_t *idx = t->idx + from;
        from = to;
        flowwire_meta_t meta = {.seq = ++t->seq[p],
                                .watermark = t->watermark};
        t->msg.len = 0;
        flowwire_encode(b, idx, n, &meta, &t->msg);
        rd_kafka_resp_err_t e = rd_kafka_producev(
            t->rk, RD_KAFKA_V_RKT(t->rkt), RD_KAFKA_V_PARTITION(p),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_VALUE(t->msg.s, t->msg.len),
            RD_KAFKA_V_KEY(key[idx[0]].a, 16),
            RD_KAFKA_V_OPAQUE((void *)(uintptr_t)n), RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
            ctr_add(&t->mq, 1);
            ctr_add(&t->fq, n);
        } else {
            ctr_add(&t->fdrop, n);
            log_limited(&t->lim_drop, LOG_WARN, "flows-topic",
                        "dropping %u flows for %s [%d]: %s", n, t->topic,
                        (int)p, rd_kafka_err2str(e));
        }
    }
}

/* A marker to every partition, in order after the flows already
 * produced to it (one producer, one partition: Kafka keeps the order,
 * and the idempotent producer keeps it across retries). Markers have no
 * key and an opaque of 0 flows. */
void flowtopic_tick(flowtopic_t *t, int64_t clock_ms)
{
    int32_t np = (int32_t)gauge_get(&t->partitions);
    int64_t w = clock_ms - t->close_delay_ms;
    if (np <= 0 || clock_ms - t->last_marker < t->marker_ms ||
        w <= t->watermark)
        return;
    t->last_marker = clock_ms;
    t->watermark = w;
    for (int32_t p = 0; p < np; p++) {
        flowwire_meta_t meta = {.seq = ++t->seq[p], .watermark = w};
        t->msg.len = 0;
        flowwire_encode(NULL, NULL, 0, &meta, &t->msg);
        rd_kafka_resp_err_t e = rd_kafka_producev(
            t->rk, RD_KAFKA_V_RKT(t->rkt), RD_KAFKA_V_PARTITION(p),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_VALUE(t->msg.s, t->msg.len),
            RD_KAFKA_V_OPAQUE(NULL), RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
            ctr_add(&t->mk, 1);
        } else {
            /* the next marker says as much: nothing is lost but time */
            t->seq[p]--;
            ctr_add(&t->mkdrop, 1);
        }
    }
}

/* ---- life cycle --------------------------------------------------------- */

static int key_column(const char *name, size_t *off, diag_t *err)
{
    static const struct { const char *name; size_t off; } k[] = {
        {"srcip", offsetof(flow_batch_t, srcip)},
        {"dstip", offsetof(flow_batch_t, dstip)},
        {"exporter", offsetof(flow_batch_t, exporter)},
        {"nexthop", offsetof(flow_batch_t, nexthop)},
    };
    for (size_t i = 0; i < sizeof(k) / sizeof(k[0]); i++)
        if (strcmp(name, k[i].name) == 0) {
            *off = k[i].off;
            return 0;
        }
    diag_set(err, "--flows-key '%s': must be srcip, dstip, exporter or "
             "nexthop", name);
    return -1;
}

static void destroy(flowtopic_t *t)
{
    if (t->rkt)
        rd_kafka_topic_destroy(t->rkt);
    if (t->rk)
        rd_kafka_destroy(t->rk);
    free(t->topic);
    free(t->seq);
    free(t->part);
    free(t->idx);
    sbuf_free(&t->msg);
    free(t);
}

flowtopic_t *flowtopic_new(const flowtopic_config_t *cfg, diag_t *err)
{
    flowtopic_t *t = xcalloc(1, sizeof(*t));
    if (!cfg->brokers || !*cfg->brokers) {
        diag_set(err, "--flows-topic needs --kafka-brokers");
        free(t);
        return NULL;
    }
    if (key_column(cfg->key && *cfg->key ? cfg->key : "srcip", &t->key_off,
                   err) < 0) {
        free(t);
        return NULL;
    }
    const char *ps = cfg->partitions && *cfg->partitions ? cfg->partitions
                                                         : "auto";
    if (strcmp(ps, "auto") == 0) {
        t->auto_parts = 1;
    } else {
        char *end;
        errno = 0;
        long n = strtol(ps, &end, 10);
        if (errno || *end || n < 1 || n > FT_MAX_PARTITIONS) {
            diag_set(err, "--flows-partitions '%s': must be auto or a count "
                     "from 1 to %d", ps, FT_MAX_PARTITIONS);
            free(t);
            return NULL;
        }
        gauge_set(&t->partitions, n);
    }
    char es[512];
    rd_kafka_conf_t *conf = kafka_producer_conf(cfg->brokers,
                                                "flowsqld-collector", "20",
                                                cfg->props, err);
    if (!conf) {
        free(t);
        return NULL;
    }
    rd_kafka_conf_set_opaque(conf, t);
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_error_cb(conf, on_error);
    rd_kafka_conf_set_stats_cb(conf, on_stats);
    t->topic = xstrdup(cfg->topic);
    t->marker_ms = cfg->marker_ms > 0 ? cfg->marker_ms : 100;
    t->close_delay_ms = cfg->close_delay_ms;
    t->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, es, sizeof(es));
    if (!t->rk) {
        diag_set(err, "kafka producer for --flows-topic: %s", es);
        rd_kafka_conf_destroy(conf);
        destroy(t);
        return NULL;
    }
    t->rkt = rd_kafka_topic_new(t->rk, t->topic, NULL);
    if (!t->rkt) {
        diag_set(err, "--flows-topic '%s': %s", t->topic,
                 rd_kafka_err2str(rd_kafka_last_error()));
        destroy(t);
        return NULL;
    }
    t->seq = xcalloc(FT_MAX_PARTITIONS, sizeof(*t->seq));
    t->part = xcalloc(FLOW_BATCH_MAX, sizeof(*t->part));
    t->idx = xcalloc(FLOW_BATCH_MAX, sizeof(*t->idx));
    if (t->auto_parts) {
        int32_t n = fetch_partitions(t, 3000);
        if (n > 0)
            gauge_set(&t->partitions, n);
        else
            log_warn("flows-topic", "the partition count of %s is not known "
                     "yet (brokers or topic missing); flows are dropped "
                     "until it is", t->topic);
    }
    if (pthread_create(&t->thr, NULL, poll_main, t) != 0) {
        diag_set(err, "cannot start the flows-topic thread: %s",
                 strerror(errno));
        destroy(t);
        return NULL;
    }
    log_info("flows-topic", "publishing flows to %s, topic %s, %lld "
             "partitions by %s", cfg->brokers, t->topic,
             (long long)gauge_get(&t->partitions),
             cfg->key && *cfg->key ? cfg->key : "srcip");
    return t;
}

void flowtopic_free(flowtopic_t *t, int timeout_ms)
{
    if (!t)
        return;
    flag_set(&t->closing, 1);
    pthread_join(t->thr, NULL);
    rd_kafka_flush(t->rk, timeout_ms > 0 ? timeout_ms : 1);
    int left = rd_kafka_outq_len(t->rk);
    if (left) {
        rd_kafka_purge(t->rk, RD_KAFKA_PURGE_F_QUEUE |
                              RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_poll(t->rk, 0);
        log_warn("flows-topic", "shutdown: %d messages not delivered in "
                 "time", left);
    }
    log_info("flows-topic", "closed: %llu flows delivered, %llu failed, "
             "%llu dropped", (unsigned long long)ctr_get(&t->fd),
             (unsigned long long)ctr_get(&t->ff),
             (unsigned long long)ctr_get(&t->fdrop));
    destroy(t);
}

void flowtopic_stats(flowtopic_t *t, flowtopic_stats_t *s)
{
    s->messages_queued = ctr_get(&t->mq);
    s->messages_delivered = ctr_get(&t->md);
    s->messages_failed = ctr_get(&t->mf);
    s->flows_queued = ctr_get(&t->fq);
    s->flows_delivered = ctr_get(&t->fd);
    s->flows_failed = ctr_get(&t->ff);
    s->flows_dropped = ctr_get(&t->fdrop);
    s->markers = ctr_get(&t->mk);
    s->markers_dropped = ctr_get(&t->mkdrop);
    s->retries = ctr_get(&t->retries);
    s->errors = ctr_get(&t->errors);
    s->waiting = (uint64_t)rd_kafka_outq_len(t->rk);
    s->partitions = gauge_get(&t->partitions);
}

void flowtopic_metrics(flowtopic_t *t, sbuf_t *b)
{
    flowtopic_stats_t s;
    flowtopic_stats(t, &s);
    const struct {
        const char *name, *type, *help;
        uint64_t    v;
    } m[] = {
        {"flowsql_flows_topic_messages_queued_total", "counter",
         "flow messages handed to the Kafka client", s.messages_queued},
        {"flowsql_flows_topic_messages_delivered_total", "counter",
         "flow messages acknowledged by a broker", s.messages_delivered},
        {"flowsql_flows_topic_messages_failed_total", "counter",
         "flow messages whose delivery failed for good", s.messages_failed},
        {"flowsql_flows_topic_flows_queued_total", "counter",
         "flows handed to the Kafka client", s.flows_queued},
        {"flowsql_flows_topic_flows_delivered_total", "counter",
         "flows acknowledged by a broker", s.flows_delivered},
        {"flowsql_flows_topic_flows_failed_total", "counter",
         "flows whose delivery failed for good", s.flows_failed},
        {"flowsql_flows_topic_flows_dropped_total", "counter",
         "flows not published (client queue full, partitions unknown)",
         s.flows_dropped},
        {"flowsql_flows_topic_markers_total", "counter",
         "watermark markers handed to the Kafka client", s.markers},
        {"flowsql_flows_topic_markers_dropped_total", "counter",
         "watermark markers not sent (client queue full)",
         s.markers_dropped},
        {"flowsql_flows_topic_retries_total", "counter",
         "produce requests sent again by the Kafka client", s.retries},
        {"flowsql_flows_topic_errors_total", "counter",
         "Kafka client errors of the flows topic (broker down...)",
         s.errors},
        {"flowsql_flows_topic_messages_waiting", "gauge",
         "flow messages waiting in the Kafka client for delivery",
         s.waiting},
        {"flowsql_flows_topic_partitions", "gauge",
         "partitions of the flows topic (0 while unknown)",
         (uint64_t)s.partitions},
    };
    for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++)
        sbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", m[i].name,
                    m[i].help, m[i].name, m[i].type, m[i].name,
                    (unsigned long long)m[i].v);
}
