/*
 * flowtopic.h - the collector role of scale-out (docs/SCALE_OUT.md):
 * every batch the engine takes, published to a partitioned Kafka topic
 * in the flows wire format (ingest/flowwire.h).
 *
 *   engine thread --flowtopic_publish: split by partition key, encode,
 *     produce (never waits)--> librdkafka's queue --> brokers
 *   poll thread: delivery reports, statistics, partition count
 *
 * A flow goes to partition murmur2(key) % partitions, librdkafka's
 * murmur2 partitioner (the Java client's), key being the 16 bytes of
 * the --flows-key address column; one message holds one partition's
 * flows of one batch, keyed by its first flow's key. When librdkafka's
 * queue is full (brokers slow or down) the message's flows are dropped
 * and counted: the engine never waits for Kafka.
 */
#ifndef FLOWSQL_FLOWTOPIC_H
#define FLOWSQL_FLOWTOPIC_H

#include <stdint.h>

#include "engine/flow.h"
#include "util/diag.h"
#include "util/sbuf.h"

typedef struct flowtopic flowtopic_t;

typedef struct flowtopic_config {
    const char *brokers;    /* bootstrap.servers */
    const char *topic;
    const char *key;        /* srcip, dstip, exporter or nexthop */
    const char *partitions; /* "auto" or a count */
    const char *props;      /* extra librdkafka properties "k=v,k=v" */
    int64_t     marker_ms;  /* markers at most this often; 0: 100 ms */
    int64_t     close_delay_ms; /* the engine's --close-delay */
} flowtopic_config_t;

typedef struct flowtopic_stats {
    uint64_t messages_queued, messages_delivered, messages_failed;
    uint64_t flows_queued, flows_delivered, flows_failed, flows_dropped;
    uint64_t markers, markers_dropped;
    uint64_t retries, errors;
    uint64_t waiting;        /* messages in librdkafka now */
    int64_t  partitions;     /* 0 while unknown (auto, brokers down) */
} flowtopic_stats_t;

/* Check the options and create the producer. With partitions "auto" the
 * topic's partition count is read from the brokers (up to 3 s here,
 * then again in the background); flows published before it is known are
 * dropped and counted. NULL with err set on a bad option. */
flowtopic_t *flowtopic_new(const flowtopic_config_t *cfg, diag_t *err);

/* Publish the flows of b. Engine thread only; b is not kept. */
void flowtopic_publish(flowtopic_t *t, const flow_batch_t *b);

/* The engine's tick (engine thread): every marker interval, send every
 * partition a marker whose watermark is clock_ms - close_delay, the end
 * up to which the collector's engine has closed its received-time
 * windows. Flow messages carry the last watermark sent. A worker applies
 * a message's watermark before its flows, so the flows a one-node
 * engine counted late are late on the workers too (SCALE_OUT.md). */
void flowtopic_tick(flowtopic_t *t, int64_t clock_ms);

/* Wait up to timeout_ms for what is queued to be delivered, then free.
 * NULL is fine. */
void flowtopic_free(flowtopic_t *t, int timeout_ms);

void flowtopic_stats(flowtopic_t *t, flowtopic_stats_t *out);
/* Prometheus text of the counters (flowsql_flows_topic_*). */
void flowtopic_metrics(flowtopic_t *t, sbuf_t *out);

#endif
