/* kafka_json.c - IPFIXCol JSON flows from Kafka; see kafka_json.h. */
#include "ingest/kafka_json.h"
#include "engine/schema.h"
#include "sinks/kafka.h"
#include "util/prom.h"
#include "util/arena.h"
#include "util/counter.h"
#include "util/log.h"
#include "util/timeutil.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* ---- the element table ---------------------------------------------------- */

enum kj_kind { KJ_IP, KJ_INT, KJ_TIME, KJ_PROTO, KJ_FLAGS };

typedef struct kj_field {
    const char *name;    /* without the "iana:" prefix */
    int         kind;    /* enum kj_kind */
    size_t      off;     /* column in flow_batch_t */
    int         weak;    /* fills the column only if nothing else did */
} kj_field_t;

#define COL(c) offsetof(flow_batch_t, c)

/* IANA Information Elements (ipfixcol2 names) -> flow columns. The
 * "weak" ones stand in when the preferred element is absent (totals for
 * deltas, seconds for milliseconds...). Sorted by name at first use. */
static kj_field_t kj_fields[] = {
    {"sourceIPv4Address",            KJ_IP,    COL(srcip), 0},
    {"sourceIPv6Address",            KJ_IP,    COL(srcip), 0},
    {"destinationIPv4Address",       KJ_IP,    COL(dstip), 0},
    {"destinationIPv6Address",       KJ_IP,    COL(dstip), 0},
    {"ipNextHopIPv4Address",         KJ_IP,    COL(nexthop), 0},
    {"ipNextHopIPv6Address",         KJ_IP,    COL(nexthop), 0},
    {"bgpNextHopIPv4Address",        KJ_IP,    COL(nexthop), 1},
    {"bgpNextHopIPv6Address",        KJ_IP,    COL(nexthop), 1},
    {"exporterIPv4Address",          KJ_IP,    COL(exporter), 0},
    {"exporterIPv6Address",          KJ_IP,    COL(exporter), 0},
    {"flowStartMilliseconds",        KJ_TIME,  COL(start), 0},
    {"flowEndMilliseconds",          KJ_TIME,  COL(end), 0},
    {"flowStartSeconds",             KJ_TIME,  COL(start), 1},
    {"flowEndSeconds",               KJ_TIME,  COL(end), 1},
    {"flowStartMicroseconds",        KJ_TIME,  COL(start), 1},
    {"flowEndMicroseconds",          KJ_TIME,  COL(end), 1},
    {"flowStartNanoseconds",         KJ_TIME,  COL(start), 1},
    {"flowEndNanoseconds",           KJ_TIME,  COL(end), 1},
    {"octetDeltaCount",              KJ_INT,   COL(bytes), 0},
    {"octetTotalCount",              KJ_INT,   COL(bytes), 1},
    {"packetDeltaCount",             KJ_INT,   COL(packets), 0},
    {"packetTotalCount",             KJ_INT,   COL(packets), 1},
    {"sourceTransportPort",          KJ_INT,   COL(srcport), 0},
    {"destinationTransportPort",     KJ_INT,   COL(dstport), 0},
    {"icmpTypeCodeIPv4",             KJ_INT,   COL(dstport), 1},
    {"icmpTypeCodeIPv6",             KJ_INT,   COL(dstport), 1},
    {"protocolIdentifier",           KJ_PROTO, COL(proto), 0},
    {"tcpControlBits",               KJ_FLAGS, COL(tcpflags), 0},
    {"ipClassOfService",             KJ_INT,   COL(tos), 0},
    {"ingressInterface",             KJ_INT,   COL(ingress), 0},
    {"egressInterface",              KJ_INT,   COL(egress), 0},
    {"bgpSourceAsNumber",            KJ_INT,   COL(srcas), 0},
    {"bgpDestinationAsNumber",       KJ_INT,   COL(dstas), 0},
    {"sourceIPv4PrefixLength",       KJ_INT,   COL(srcmask), 0},
    {"sourceIPv6PrefixLength",       KJ_INT,   COL(srcmask), 0},
    {"destinationIPv4PrefixLength",  KJ_INT,   COL(dstmask), 0},
    {"destinationIPv6PrefixLength",  KJ_INT,   COL(dstmask), 0},
    {"vlanId",                       KJ_INT,   COL(vlan), 0},
    {"dot1qVlanId",                  KJ_INT,   COL(vlan), 1},
    {"flowDirection",                KJ_INT,   COL(direction), 0},
    {"samplingInterval",             KJ_INT,   COL(sampling), 0},
    {"samplingPacketInterval",       KJ_INT,   COL(sampling), 1},
    {"samplerRandomInterval",        KJ_INT,   COL(sampling), 1},
};
#define KJ_NFIELDS (sizeof(kj_fields) / sizeof(kj_fields[0]))

/* IPFIXCol's own metadata (detailedInfo), under "ipfix:". */
static const kj_field_t kj_meta[] = {
    {"odid",    KJ_INT, COL(domain), 0},
    {"srcAddr", KJ_IP,  COL(exporter), 1},
};

static int field_cmp(const void *a, const void *b)
{
    return strcmp(((const kj_field_t *)a)->name,
                  ((const kj_field_t *)b)->name);
}

static pthread_once_t sort_once = PTHREAD_ONCE_INIT;
static void sort_fields(void)
{
    qsort(kj_fields, KJ_NFIELDS, sizeof(kj_fields[0]), field_cmp);
}

static const kj_field_t *field_find(const char *key)
{
    if (strncmp(key, "iana:", 5) == 0) {
        kj_field_t k = {key + 5, 0, 0, 0};
        return bsearch(&k, kj_fields, KJ_NFIELDS, sizeof(kj_fields[0]),
                       field_cmp);
    }
    if (strncmp(key, "ipfix:", 6) == 0)
        for (size_t i = 0; i < sizeof(kj_meta) / sizeof(kj_meta[0]); i++)
            if (strcmp(kj_meta[i].name, key + 6) == 0)
                return &kj_meta[i];
    return NULL;
}

/* ---- values ---------------------------------------------------------------- */

static int int_of_string(const char *s, int64_t *out)
{
    if (!*s)
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

static int int_of(json_t *v, int64_t *out)
{
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return 0;
    }
    if (json_is_real(v)) {
        *out = (int64_t)json_real_value(v);
        return 0;
    }
    if (json_is_boolean(v)) {
        *out = json_is_true(v);
        return 0;
    }
    if (json_is_string(v))
        return int_of_string(json_string_value(v), out);
    return -1;
}

/* ".AP.SF" (ipfixcol2's formatted flags; any order is accepted) or a
 * number. */
static int flags_of(json_t *v, int64_t *out)
{
    if (!json_is_string(v))
        return int_of(v, out);
    const char *s = json_string_value(v);
    if (int_of_string(s, out) == 0)
        return 0;
    int64_t f = 0;
    for (; *s; s++) {
        switch (*s) {
        case 'F': f |= 0x01; break;
        case 'S': f |= 0x02; break;
        case 'R': f |= 0x04; break;
        case 'P': f |= 0x08; break;
        case 'A': f |= 0x10; break;
        case 'U': f |= 0x20; break;
        case 'E': f |= 0x40; break;
        case 'C': f |= 0x80; break;
        case '.': break;
        default: return -1;
        }
    }
    *out = f;
    return 0;
}

static int set_field(const kj_field_t *f, json_t *v, flow_batch_t *b,
                     uint32_t i)
{
    if (json_is_null(v))
        return 0;   /* ipfixcol2 writes null for what it cannot convert */
    if (f->kind == KJ_IP) {
        ipaddr_t *col = (ipaddr_t *)((char *)b + f->off);
        static const ipaddr_t zero;
        if (f->weak && !ipaddr_eq(&col[i], &zero))
            return 0;
        if (!json_is_string(v) ||
            ipaddr_parse(json_string_value(v), &col[i]) < 0)
            return -1;
        return 0;
    }
    int64_t *col = (int64_t *)((char *)b + f->off);
    if (f->weak && col[i] != 0)
        return 0;
    int64_t x;
    switch (f->kind) {
    case KJ_TIME:
        if (json_is_string(v) &&
            int_of_string(json_string_value(v), &x) < 0 &&
            time_parse_iso(json_string_value(v), &x) < 0)
            return -1;
        if (!json_is_string(v) && int_of(v, &x) < 0)
            return -1;
        break;
    case KJ_PROTO:
        if (json_is_string(v) &&
            int_of_string(json_string_value(v), &x) < 0) {
            int p = proto_from_name(json_string_value(v));
            if (p < 0)
                return -1;
            x = p;
        } else if (!json_is_string(v) && int_of(v, &x) < 0) {
            return -1;
        }
        break;
    case KJ_FLAGS:
        if (flags_of(v, &x) < 0)
            return -1;
        break;
    default:
        if (int_of(v, &x) < 0)
            return -1;
        break;
    }
    col[i] = x;
    return 0;
}

/* One record into batch row i. 1: a flow, 0: another type, -1: bad. */
static int decode_record(json_t *rec, flow_batch_t *b, int64_t received,
                         int *bad)
{
    const char *key;
    json_t *v;
    uint32_t i = b->n;
    int idx = flow_batch_add(b);
    if (idx < 0)
        return -1;
    b->received[i] = received;
    *bad = 0;
    json_object_foreach(rec, key, v) {
        if (key[0] == '@') {
            if (strcmp(key, "@type") == 0 && json_is_string(v) &&
                strcmp(json_string_value(v), "ipfix.entry") != 0) {
                b->n--;   /* a template or options record */
                return 0;
            }
            continue;
        }
        const kj_field_t *f = field_find(key);
        if (f && set_field(f, v, b, i) < 0)
            *bad = 1;
    }
    return 1;
}

int kafka_json_decode(const char *buf, size_t len, int64_t received_ms,
                      flow_batch_t **b,
                      void (*emit)(void *ctx, flow_batch_t **b), void *ctx,
                      kafka_json_stats_t *st)
{
    pthread_once(&sort_once, sort_fields);
    size_t pos = 0;
    int flows = 0;
    while (pos < len) {
        while (pos < len && isspace((unsigned char)buf[pos]))
            pos++;
        if (pos == len)
            break;
        json_error_t je;
        json_t *rec = json_loadb(buf + pos, len - pos,
                                 JSON_DISABLE_EOF_CHECK, &je);
        if (!rec) {
            st->malformed++;
            break;   /* the rest of the message cannot be framed */
        }
        pos += je.position ? (size_t)je.position : len - pos;
        st->records++;
        if (!json_is_object(rec)) {
            st->malformed++;
            json_decref(rec);
            continue;
        }
        if ((*b)->n >= FLOW_BATCH_MAX)
            emit(ctx, b);
        int bad = 0;
        int r = decode_record(rec, *b, received_ms, &bad);
        json_decref(rec);
        if (r == 0) {
            st->skipped++;
            continue;
        }
        if (bad)
            st->malformed++;
        st->flows++;
        flows++;
    }
    return flows;
}

int kafka_json_parse_spec(const char *spec, char **brokers, char **topics)
{
    const char *slash = spec ? strrchr(spec, '/') : NULL;
    if (!slash || slash == spec || !slash[1])
        return -1;
    *brokers = xmalloc((size_t)(slash - spec) + 1);
    memcpy(*brokers, spec, (size_t)(slash - spec));
    (*brokers)[slash - spec] = 0;
    *topics = xstrdup(slash + 1);
    return 0;
}

/* ---- the consumer ------------------------------------------------------------ */

/* kafka_json_stats_t's counters, bumped by the consumer thread (and
 * librdkafka's, for errors), read by the metrics endpoint. */
typedef struct kj_counters {
    counter_t messages, records, flows, skipped, malformed;
    counter_t batches, dropped, errors;
} kj_counters_t;

struct kafka_json {
    rd_kafka_t            *rk;
    pthread_t              thr;
    flag_t                 stop;
    int                    flush_ms;
    kafka_json_deliver_fn  deliver;
    void                  *ctx;
    flow_batch_t          *batch;
    int64_t                batch_first;   /* monotonic ms */
    rd_kafka_topic_partition_list_t *pending; /* offsets to store once the
                                                 batch is handed over */
    kj_counters_t          st;
    log_limit_t            lim;
};

static void pending_note(kafka_json_t *k, const rd_kafka_message_t *m)
{
    const char *topic = rd_kafka_topic_name(m->rkt);
    rd_kafka_topic_partition_t *p =
        rd_kafka_topic_partition_list_find(k->pending, topic, m->partition);
    if (!p)
        p = rd_kafka_topic_partition_list_add(k->pending, topic,
                                              m->partition);
    p->offset = m->offset + 1;
}

static void pending_store(kafka_json_t *k)
{
    if (k->pending->cnt == 0)
        return;
    rd_kafka_resp_err_t e = rd_kafka_offsets_store(k->rk, k->pending);
    if (e)
        log_limited(&k->lim, LOG_DEBUG, "kafka-input",
                    "storing offsets: %s", rd_kafka_err2str(e));
    rd_kafka_topic_partition_list_destroy(k->pending);
    k->pending = rd_kafka_topic_partition_list_new(8);
}

/* Hand the current batch over and start a new one. */
static void hand_over(void *ctx, flow_batch_t **b)
{
    kafka_json_t *k = ctx;
    flow_batch_t *full = *b;
    if (full->n == 0)
        return;
    uint32_t n = full->n;
    if (k->deliver(k->ctx, full) == 0) {
        ctr_inc(&k->st.batches);
    } else {
        ctr_add(&k->st.dropped, n);
        flow_batch_free(full);
    }
    *b = flow_batch_new();
    k->batch_first = 0;
}

static void take_message(kafka_json_t *k, rd_kafka_message_t *m)
{
    if (m->err) {
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
            return;
        ctr_inc(&k->st.errors);
        log_limited(&k->lim, LOG_WARN, "kafka-input", "%s",
                    rd_kafka_message_errstr(m));
        return;
    }
    ctr_inc(&k->st.messages);
    kafka_json_stats_t c = {0};
    int64_t now = time_now_ms();
    if (k->batch->n == 0)
        k->batch_first = time_mono_ms();
    kafka_json_decode(m->payload, m->len, now, &k->batch, hand_over, k, &c);
    if (k->batch->n && !k->batch_first)
        k->batch_first = time_mono_ms();
    ctr_add(&k->st.records, c.records);
    ctr_add(&k->st.flows, c.flows);
    ctr_add(&k->st.skipped, c.skipped);
    ctr_add(&k->st.malformed, c.malformed);
    if (c.malformed)
        log_limited(&k->lim, LOG_WARN, "kafka-input",
                    "malformed record in %s [%d] at offset %lld",
                    rd_kafka_topic_name(m->rkt), (int)m->partition,
                    (long long)m->offset);
    pending_note(k, m);
}

static void *kj_main(void *arg)
{
    kafka_json_t *k = arg;
    while (!flag_get(&k->stop)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(k->rk, 50);
        if (m) {
            take_message(k, m);
            rd_kafka_message_destroy(m);
        }
        if (k->batch->n &&
            time_mono_ms() - k->batch_first >= k->flush_ms) {
            hand_over(k, &k->batch);
            pending_store(k);
        } else if (k->batch->n == 0) {
            pending_store(k);   /* messages that held no flows */
        }
    }
    hand_over(k, &k->batch);
    pending_store(k);
    rd_kafka_resp_err_t e = rd_kafka_commit(k->rk, NULL, 0);
    if (e && e != RD_KAFKA_RESP_ERR__NO_OFFSET)
        log_warn("kafka-input", "committing offsets at shutdown: %s "
                 "(the last messages will be read again)",
                 rd_kafka_err2str(e));
    rd_kafka_consumer_close(k->rk);
    return NULL;
}

static void on_error(rd_kafka_t *rk, int err, const char *reason,
                     void *opaque)
{
    (void)rk;
    kafka_json_t *k = opaque;
    ctr_inc(&k->st.errors);
    log_limited(&k->lim, LOG_WARN, "kafka-input", "%s: %s",
                rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

kafka_json_t *kafka_json_start(const kafka_json_config_t *cfg,
                               kafka_json_deliver_fn deliver, void *ctx,
                               diag_t *err)
{
    pthread_once(&sort_once, sort_fields);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char es[512];
    /* Live flows by default: a new group starts at the end of the topic
     * (auto.offset.reset=latest); offsets are stored by us after the hand
     * over and committed in the background. */
    if (kafka_conf_set(conf, "bootstrap.servers", cfg->brokers, err) < 0 ||
        kafka_conf_set(conf, "group.id", cfg->group ? cfg->group : "flowsqld",
                 err) < 0 ||
        kafka_conf_set(conf, "client.id", "flowsqld-input", err) < 0 ||
        kafka_conf_set(conf, "enable.auto.offset.store", "false", err) < 0 ||
        kafka_conf_set(conf, "enable.auto.commit", "true", err) < 0 ||
        kafka_conf_set(conf, "auto.offset.reset", "latest", err) < 0 ||
        kafka_conf_set(conf, "allow.auto.create.topics", "true", err) < 0 ||
        kafka_props_apply(conf, cfg->props, err) < 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    kafka_json_t *k = xcalloc(1, sizeof(*k));
    rd_kafka_conf_set_opaque(conf, k);
    rd_kafka_conf_set_error_cb(conf, on_error);
    rd_kafka_conf_set_log_cb(conf, kafka_log_cb);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, es, sizeof(es));
    if (!rk) {
        diag_set(err, "kafka consumer: %s", es);
        rd_kafka_conf_destroy(conf);
        free(k);
        return NULL;
    }
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *subs =
        rd_kafka_topic_partition_list_new(4);
    char *topics = xstrdup(cfg->topics);
    for (char *save = NULL, *t = strtok_r(topics, ",", &save); t;
         t = strtok_r(NULL, ",", &save))
        rd_kafka_topic_partition_list_add(subs, t, RD_KAFKA_PARTITION_UA);
    free(topics);
    rd_kafka_resp_err_t e = subs->cnt ? rd_kafka_subscribe(rk, subs)
                                      : RD_KAFKA_RESP_ERR__INVALID_ARG;
    rd_kafka_topic_partition_list_destroy(subs);
    if (e) {
        diag_set(err, "kafka input: cannot subscribe to '%s': %s",
                 cfg->topics, rd_kafka_err2str(e));
        rd_kafka_destroy(rk);
        free(k);
        return NULL;
    }
    k->rk = rk;
    k->flush_ms = cfg->flush_ms > 0 ? cfg->flush_ms : 100;
    k->deliver = deliver;
    k->ctx = ctx;
    k->batch = flow_batch_new();
    k->pending = rd_kafka_topic_partition_list_new(8);
    if (pthread_create(&k->thr, NULL, kj_main, k) != 0) {
        diag_set(err, "cannot start the kafka input thread: %s",
                 strerror(errno));
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
        flow_batch_free(k->batch);
        rd_kafka_topic_partition_list_destroy(k->pending);
        free(k);
        return NULL;
    }
    log_info("kafka-input", "consuming IPFIXCol JSON from %s on %s",
             cfg->topics, cfg->brokers);
    return k;
}

void kafka_json_stop(kafka_json_t *k)
{
    if (!k)
        return;
    flag_set(&k->stop, 1);
    pthread_join(k->thr, NULL);
    rd_kafka_destroy(k->rk);
    flow_batch_free(k->batch);
    rd_kafka_topic_partition_list_destroy(k->pending);
    free(k);
}

void kafka_json_stats(kafka_json_t *k, kafka_json_stats_t *o)
{
    o->messages = ctr_get(&k->st.messages);
    o->records = ctr_get(&k->st.records);
    o->flows = ctr_get(&k->st.flows);
    o->skipped = ctr_get(&k->st.skipped);
    o->malformed = ctr_get(&k->st.malformed);
    o->batches = ctr_get(&k->st.batches);
    o->dropped = ctr_get(&k->st.dropped);
    o->errors = ctr_get(&k->st.errors);
}

void kafka_json_metrics(kafka_json_t *k, sbuf_t *b)
{
    kafka_json_stats_t s;
    kafka_json_stats(k, &s);
    const prom_counter_t m[] = {
        {"flowsql_kafka_input_messages_total", "Kafka messages consumed",
         s.messages},
        {"flowsql_kafka_input_records_total", "JSON records read", s.records},
        {"flowsql_kafka_input_flows_total", "flow records decoded", s.flows},
        {"flowsql_kafka_input_skipped_total",
         "records of other types (templates, options)", s.skipped},
        {"flowsql_kafka_input_malformed_total",
         "records that were not JSON objects or had a bad value",
         s.malformed},
        {"flowsql_kafka_input_batches_total", "batches handed to the engine",
         s.batches},
        {"flowsql_kafka_input_dropped_flows_total",
         "flows in batches the engine queue refused", s.dropped},
        {"flowsql_kafka_input_errors_total", "consumer errors", s.errors},
    };
    prom_counters(b, m, sizeof(m) / sizeof(m[0]));
}
