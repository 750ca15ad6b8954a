/*
 * kafka_json.h - flows from a Kafka topic, in the JSON that IPFIXCol2's
 * JSON output writes (and Stream4Flow's pipeline carries):
 *
 *   {"@type": "ipfix.entry", "iana:sourceIPv4Address": "10.0.0.1",
 *    "iana:destinationTransportPort": 443, "iana:octetDeltaCount": 3970,
 *    "iana:flowStartMilliseconds": "2018-05-11T19:44:29.006Z", ...}
 *
 * Both of its formatting modes are read: timestamps as ISO-8601 text or
 * as ms numbers, protocol as "TCP" or 6, TCP flags as ".AP.S." or 26,
 * numbers also as numeric strings (the older ipfixcol). A message holds
 * one record or several separated by whitespace (newline-delimited).
 * Records of another "@type" (templates, options) are skipped and
 * counted; fields of other enterprises and reverse (biflow) fields are
 * ignored. With detailedInfo, "ipfix:odid" gives the observation domain
 * and "ipfix:srcAddr" the exporter. docs/OUTPUTS.md lists the elements.
 *
 * The consumer runs in a consumer group (group.id), so several flowsqld
 * instances share a topic's partitions. Offsets are committed
 * automatically for messages whose flows were handed over: a message is
 * marked done only after its batch was given to the callback, so a crash
 * replays rather than loses (at-least-once). Batches carry live flows
 * (FLOW_BATCH_REPLAY not set): received is the time of decoding.
 */
#ifndef FLOWSQL_KAFKA_JSON_H
#define FLOWSQL_KAFKA_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "engine/flow.h"
#include "util/diag.h"
#include "util/sbuf.h"

typedef struct kafka_json kafka_json_t;

typedef struct kafka_json_config {
    const char *brokers;
    const char *topics;     /* one or more, comma-separated */
    const char *group;      /* consumer group; NULL: "flowsqld" */
    const char *props;      /* extra librdkafka properties "k=v,k=v",
                               applied last (group.id may be among them) */
    int         flush_ms;   /* a partial batch leaves after; 0: 100 */
} kafka_json_config_t;

/* Receives a batch (owned by the callee from now on). Runs on the
 * consumer thread; may block (Kafka keeps the rest meanwhile). Returns 0
 * when taken, -1 when refused (the input frees it and counts the flows
 * as dropped). */
typedef int (*kafka_json_deliver_fn)(void *ctx, flow_batch_t *b);

typedef struct kafka_json_stats {
    uint64_t messages;      /* Kafka messages consumed */
    uint64_t records;       /* JSON records read */
    uint64_t flows;         /* flow records decoded */
    uint64_t skipped;       /* records of other types */
    uint64_t malformed;     /* records or messages that were not JSON
                               objects, or had a bad field value */
    uint64_t batches;       /* batches handed over */
    uint64_t dropped;       /* flows in refused batches */
    uint64_t errors;        /* consumer errors (broker down...) */
} kafka_json_stats_t;

kafka_json_t *kafka_json_start(const kafka_json_config_t *cfg,
                               kafka_json_deliver_fn deliver, void *ctx,
                               diag_t *err);
/* Stop consuming, hand over the partial batch, commit, leave the group. */
void kafka_json_stop(kafka_json_t *k);   /* NULL is fine */
void kafka_json_stats(kafka_json_t *k, kafka_json_stats_t *out);
void kafka_json_metrics(kafka_json_t *k, sbuf_t *out); /* flowsql_kafka_input_* */

/* Split the kafka-input option "host:port[,host:port...]/topic[,topic]"
 * at its last '/' (malloc'ed halves). -1 if either half is empty. */
int kafka_json_parse_spec(const char *spec, char **brokers, char **topics);

/* Decode one message payload (one or more records). Flows are appended
 * to *b; when it is full, emit(ctx, b) is called and must leave an empty
 * batch in *b. Counts go to st (records, flows, skipped, malformed).
 * Returns the number of flows decoded. */
int kafka_json_decode(const char *buf, size_t len, int64_t received_ms,
                      flow_batch_t **b,
                      void (*emit)(void *ctx, flow_batch_t **b), void *ctx,
                      kafka_json_stats_t *st);

#endif
