/* kafka.c - closed windows to Kafka; see kafka.h. */
#include "sinks/kafka.h"
#include "sinks/format.h"
#include "util/arena.h"
#include "util/bqueue.h"
#include "util/counter.h"
#include "util/log.h"
#include "util/timeutil.h"
#include "util/jsonfmt.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define KAFKA_QUEUE_WINDOWS 1024

struct kafka_sink {
    output_t         out;
    rd_kafka_t      *rk;
    char            *pattern;
    int              format;        /* FORMAT_FLAT or FORMAT_ECS */
    bqueue_t         q;
    pthread_t        thr;
    flag_t           running;       /* read by kafka_sink_stats */
    flag_t           closing;       /* no more windows */
    gauge_t          deadline;      /* mono ms to give up, 0 none */
    log_limit_t      lim_err, lim_dr;
    /* the HTTP thread reads them */
    counter_t windows, windows_dropped, queued, delivered, failed, dropped;
    counter_t retries, errors;
};

/* ---- configuration ---------------------------------------------------- */

int kafka_conf_set(rd_kafka_conf_t *conf, const char *k, const char *v,
                   diag_t *err)
{
    char es[256];
    if (rd_kafka_conf_set(conf, k, v, es, sizeof(es)) != RD_KAFKA_CONF_OK) {
        diag_set(err, "kafka property %s: %s", k, es);
        return -1;
    }
    return 0;
}

int kafka_props_apply(rd_kafka_conf_t *conf, const char *props, diag_t *err)
{
    if (!props || !*props)
        return 0;
    /* Collect (key, value) pairs first: a piece without '=' belongs to
     * the previous value. */
    char *copy = xstrdup(props);
    char *keys[128], *vals[128];
    sbuf_t valbuf[128];
    int n = 0, rc = 0;
    for (char *save = NULL, *piece = strtok_r(copy, ",", &save); piece;
         piece = strtok_r(NULL, ",", &save)) {
        while (*piece == ' ')
            piece++;
        char *eq = strchr(piece, '=');
        if (!eq) {
            if (n == 0) {
                diag_set(err, "kafka property '%s' has no '='", piece);
                rc = -1;
                break;
            }
            sbuf_addc(&valbuf[n - 1], ',');
            sbuf_add(&valbuf[n - 1], piece);
            continue;
        }
        if (n == 128) {
            diag_set(err, "too many kafka properties");
            rc = -1;
            break;
        }
        *eq = 0;
        keys[n] = piece;
        sbuf_t b = SBUF_INIT;
        sbuf_add(&b, eq + 1);
        valbuf[n++] = b;
    }
    for (int i = 0; i < n; i++) {
        vals[i] = (char *)sbuf_str(&valbuf[i]);
        if (rc == 0 && kafka_conf_set(conf, keys[i], vals[i], err) < 0)
            rc = -1;
        sbuf_free(&valbuf[i]);
    }
    free(copy);
    return rc;
}

void kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac,
                  const char *buf)
{
    static log_limit_t lim;
    if (level == 4)
        log_limited(&lim, LOG_WARN, "kafka", "%s: %s: %s", rd_kafka_name(rk),
                    fac, buf);
    else
        log_debug("kafka", "%s: %s: %s", rd_kafka_name(rk), fac, buf);
}

/* ---- messages ----------------------------------------------------------- */

static void topic_of(const rowset_t *rs, const char *pattern, sbuf_t *topic)
{
    const char *opt = rowset_opt(rs, "kafka_topic");
    format_name(topic, opt && *opt ? opt : pattern, rs->query, rs->wstart);
}

static char *row_value(const rowset_t *rs, uint32_t r, int fmt, sbuf_t *key)
{
    json_t *doc = format_doc(rs, r, fmt);
    char *s = json_dumps_short(doc, JSON_COMPACT);
    json_decref(doc);
    format_key(rs, r, key);
    return s;
}

char *kafka_sink_message(const rowset_t *rs, uint32_t r, const char *pattern,
                         sbuf_t *topic, sbuf_t *key)
{
    topic_of(rs, pattern ? pattern : "flowsql.%q", topic);
    return row_value(rs, r, FORMAT_FLAT, key);
}

/* ---- callbacks (run on the sink thread, inside rd_kafka_poll) ---------- */

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m,
                        void *opaque)
{
    (void)rk;
    kafka_sink_t *k = opaque;
    if (m->err) {
        ctr_add(&k->failed, 1);
        log_limited(&k->lim_dr, LOG_WARN, "kafka",
                    "delivery to %s failed: %s",
                    m->rkt ? rd_kafka_topic_name(m->rkt) : "?",
                    rd_kafka_err2str(m->err));
    } else {
        ctr_add(&k->delivered, 1);
    }
}

static void on_error(rd_kafka_t *rk, int err, const char *reason,
                     void *opaque)
{
    (void)rk;
    kafka_sink_t *k = opaque;
    ctr_add(&k->errors, 1);
    log_limited(&k->lim_err, LOG_WARN, "kafka", "%s: %s",
                rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

/* librdkafka's statistics: the retry count is the sum over brokers of
 * txretries (requests sent again after an error) and req_timeouts
 * (requests that got no answer in socket.timeout.ms: their messages go
 * out again). */
rd_kafka_conf_t *kafka_producer_conf(const char *brokers,
                                     const char *client_id,
                                     const char *linger_ms,
                                     const char *props, diag_t *err)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    /* Our defaults first, so the operator's properties override them. */
    if (kafka_conf_set(conf, "bootstrap.servers", brokers, err) < 0 ||
        kafka_conf_set(conf, "client.id", client_id, err) < 0 ||
        kafka_conf_set(conf, "message.timeout.ms", "0", err) < 0 ||
        kafka_conf_set(conf, "linger.ms", linger_ms, err) < 0 ||
        kafka_conf_set(conf, "queue.buffering.max.messages", "100000", err) < 0 ||
        kafka_conf_set(conf, "statistics.interval.ms", "1000", err) < 0 ||
        kafka_conf_set(conf, "enable.idempotence", "true", err) < 0 ||
        kafka_props_apply(conf, props, err) < 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_log_cb(conf, kafka_log_cb);
    return conf;
}

rd_kafka_conf_t *kafka_group_conf(const char *brokers, const char *group,
                                  const char *client_id, const char *props,
                                  diag_t *err)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (kafka_conf_set(conf, "bootstrap.servers", brokers, err) < 0 ||
        kafka_conf_set(conf, "group.id", group, err) < 0 ||
        kafka_conf_set(conf, "client.id", client_id, err) < 0 ||
        kafka_conf_set(conf, "enable.auto.commit", "false", err) < 0 ||
        kafka_conf_set(conf, "auto.offset.reset", "earliest", err) < 0 ||
        kafka_conf_set(conf, "session.timeout.ms", "6000", err) < 0 ||
        kafka_conf_set(conf, "heartbeat.interval.ms", "1000", err) < 0 ||
        kafka_conf_set(conf, "fetch.wait.max.ms", "50", err) < 0 ||
        kafka_props_apply(conf, props, err) < 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_log_cb(conf, kafka_log_cb);
    return conf;
}

uint64_t kafka_stats_retries(const char *json, size_t len)
{
    json_t *root = json_loadb(json, len, 0, NULL);
    json_t *brokers = json_object_get(root, "brokers");
    const char *name;
    json_t *b;
    uint64_t sum = 0;
    json_object_foreach(brokers, name, b)
        sum += (uint64_t)json_integer_value(json_object_get(b, "txretries")) +
               (uint64_t)json_integer_value(json_object_get(b, "req_timeouts"));
    json_decref(root);
    return sum;
}

static int on_stats(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
    (void)rk;
    kafka_sink_t *k = opaque;
    uint64_t sum = kafka_stats_retries(json, len);
    /* Broker entries come and go; keep the counter monotonic. */
    if (sum > ctr_get(&k->retries))
        ctr_set(&k->retries, sum);
    return 0; /* librdkafka frees json */
}

/* ---- the sink thread ---------------------------------------------------- */

static int past_deadline(kafka_sink_t *k)
{
    int64_t d = gauge_get(&k->deadline);
    return d && time_mono_ms() >= d;
}

static void produce_window(kafka_sink_t *k, rowset_t *rs)
{
    sbuf_t topic = SBUF_INIT, key = SBUF_INIT;
    topic_of(rs, k->pattern, &topic);
    for (uint32_t r = 0; r < rs->nrows; r++) {
        key.len = 0;
        char *val = row_value(rs, r, k->format, &key);
        size_t vlen = strlen(val);
        for (;;) {
            rd_kafka_resp_err_t e = rd_kafka_producev(
                k->rk, RD_KAFKA_V_TOPIC(sbuf_str(&topic)),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE),
                RD_KAFKA_V_VALUE(val, vlen),
                RD_KAFKA_V_KEY(key.len ? key.s : NULL, key.len),
                RD_KAFKA_V_END);
            if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
                ctr_add(&k->queued, 1);
                break;
            }
            if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL && !past_deadline(k)) {
                /* Brokers slow or down: wait here, the window queue
                 * takes up the slack and counts what it cannot. */
                rd_kafka_poll(k->rk, 100);
                continue;
            }
            free(val);
            ctr_add(&k->dropped, rs->nrows - r);
            log_limited(&k->lim_err, LOG_WARN, "kafka",
                        "dropping %u rows of %s for topic %s: %s",
                        rs->nrows - r, rs->query, sbuf_str(&topic),
                        rd_kafka_err2str(e));
            goto out;
        }
        rd_kafka_poll(k->rk, 0);
    }
out:
    sbuf_free(&topic);
    sbuf_free(&key);
}

static void *kafka_main(void *arg)
{
    kafka_sink_t *k = arg;
    for (;;) {
        rowset_t *rs = bqueue_pop(&k->q, 100);
        if (rs) {
            if (past_deadline(k))
                ctr_add(&k->dropped, rs->nrows);
            else
                produce_window(k, rs);
            rowset_unref(rs);
        } else if (flag_get(&k->closing) && bqueue_len(&k->q) == 0) {
            break;
        }
        rd_kafka_poll(k->rk, 0);
    }
    /* Wait for the delivery reports, up to the deadline. */
    for (;;) {
        int64_t d = gauge_get(&k->deadline);
        int64_t left = d - time_mono_ms();
        if (rd_kafka_outq_len(k->rk) == 0 || left <= 0)
            break;
        rd_kafka_flush(k->rk, (int)(left < 100 ? left : 100));
    }
    return NULL;
}

static void on_window(output_t *o, rowset_t *rs)
{
    kafka_sink_t *k = o->ctx;
    if (rs->nrows == 0)
        return;
    ctr_add(&k->windows, 1);
    rowset_ref(rs);
    if (bqueue_try_push(&k->q, rs) < 0) {
        ctr_add(&k->windows_dropped, 1);
        ctr_add(&k->dropped, rs->nrows);
        rowset_unref(rs);
    }
}

/* ---- life cycle --------------------------------------------------------- */

kafka_sink_t *kafka_sink_new(const kafka_sink_config_t *cfg, diag_t *err)
{
    kafka_sink_t *k = xcalloc(1, sizeof(*k));
    char es[512];
    rd_kafka_conf_t *conf = kafka_producer_conf(cfg->brokers, "flowsqld",
                                                "50", cfg->props, err);
    if (!conf) {
        free(k);
        return NULL;
    }
    rd_kafka_conf_set_opaque(conf, k);
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_error_cb(conf, on_error);
    rd_kafka_conf_set_stats_cb(conf, on_stats);
    k->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, es, sizeof(es));
    if (!k->rk) {
        diag_set(err, "kafka producer: %s", es);
        rd_kafka_conf_destroy(conf);
        free(k);
        return NULL;
    }
    k->format = cfg->format;
    k->pattern = xstrdup(cfg->topic && *cfg->topic ? cfg->topic
                                                   : "flowsql.%q");
    bqueue_init(&k->q, cfg->queue_windows > 0 ? (size_t)cfg->queue_windows
                                              : KAFKA_QUEUE_WINDOWS);
    k->out.name = "kafka";
    k->out.on_window = on_window;
    k->out.ctx = k;
    if (pthread_create(&k->thr, NULL, kafka_main, k) != 0) {
        diag_set(err, "cannot start the kafka thread: %s", strerror(errno));
        rd_kafka_destroy(k->rk);
        bqueue_destroy(&k->q);
        free(k->pattern);
        free(k);
        return NULL;
    }
    flag_set(&k->running, 1);
    log_info("kafka", "producing to %s, topic %s", cfg->brokers, k->pattern);
    return k;
}

output_t *kafka_sink_output(kafka_sink_t *k) { return &k->out; }

uint64_t kafka_sink_close(kafka_sink_t *k, int timeout_ms)
{
    if (!flag_get(&k->running))
        return 0;
    gauge_set(&k->deadline, time_mono_ms() + (timeout_ms > 0 ? timeout_ms : 1));
    flag_set(&k->closing, 1);
    bqueue_close(&k->q);
    pthread_join(k->thr, NULL);
    flag_set(&k->running, 0);
    uint64_t left = (uint64_t)rd_kafka_outq_len(k->rk);
    if (left) {
        /* Give up on them now rather than in rd_kafka_destroy: their
         * delivery reports (errors) are counted as failed. */
        rd_kafka_purge(k->rk, RD_KAFKA_PURGE_F_QUEUE |
                              RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_poll(k->rk, 0);
        log_warn("kafka", "shutdown: %llu rows not delivered in time",
                 (unsigned long long)left);
    }
    log_info("kafka", "closed: %llu rows delivered, %llu failed, "
             "%llu dropped", (unsigned long long)ctr_get(&k->delivered),
             (unsigned long long)ctr_get(&k->failed),
             (unsigned long long)ctr_get(&k->dropped));
    return left;
}

void kafka_sink_free(kafka_sink_t *k)
{
    if (!k)
        return;
    if (flag_get(&k->running))
        kafka_sink_close(k, 10000);
    rowset_t *rs;
    while ((rs = bqueue_pop(&k->q, 0))) {
        ctr_add(&k->dropped, rs->nrows);
        rowset_unref(rs);
    }
    rd_kafka_destroy(k->rk);
    bqueue_destroy(&k->q);
    free(k->pattern);
    free(k);
}

void kafka_sink_stats(kafka_sink_t *k, kafka_sink_stats_t *s)
{
    s->windows = ctr_get(&k->windows);
    s->windows_dropped = ctr_get(&k->windows_dropped);
    s->queued = ctr_get(&k->queued);
    s->delivered = ctr_get(&k->delivered);
    s->failed = ctr_get(&k->failed);
    s->dropped = ctr_get(&k->dropped);
    s->retries = ctr_get(&k->retries);
    s->errors = ctr_get(&k->errors);
    s->outq = flag_get(&k->running) ? (uint64_t)rd_kafka_outq_len(k->rk)
                                    : 0;
}

void kafka_sink_metrics(kafka_sink_t *k, sbuf_t *b)
{
    kafka_sink_stats_t s;
    kafka_sink_stats(k, &s);
    const struct {
        const char *name, *type, *help;
        uint64_t    v;
    } m[] = {
        {"flowsql_kafka_windows_total", "counter",
         "windows taken from the engine", s.windows},
        {"flowsql_kafka_windows_dropped_total", "counter",
         "windows refused because the window queue was full",
         s.windows_dropped},
        {"flowsql_kafka_rows_queued_total", "counter",
         "rows handed to the Kafka client", s.queued},
        {"flowsql_kafka_rows_delivered_total", "counter",
         "rows acknowledged by a broker", s.delivered},
        {"flowsql_kafka_rows_failed_total", "counter",
         "rows whose delivery failed for good", s.failed},
        {"flowsql_kafka_rows_dropped_total", "counter",
         "rows lost before the Kafka client (queue full, shutdown)",
         s.dropped},
        {"flowsql_kafka_retries_total", "counter",
         "produce requests sent again by the Kafka client", s.retries},
        {"flowsql_kafka_errors_total", "counter",
         "Kafka client errors (broker down, authentication...)", s.errors},
        {"flowsql_kafka_rows_waiting", "gauge",
         "rows waiting in the Kafka client for delivery", s.outq},
    };
    for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++)
        sbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", m[i].name,
                    m[i].help, m[i].name, m[i].type, m[i].name,
                    (unsigned long long)m[i].v);
}
