/*
 * kafka.h - closed windows to Apache Kafka (librdkafka), one JSON message
 * per result row.
 *
 *   engine thread --on_window: try_push, never waits--> window queue
 *     --> sink thread: format rows, produce, poll delivery reports
 *     --> librdkafka's own queue and retries --> brokers
 *
 * Each message's value is format_row_doc() of the row (query, window
 * start/end as ISO-8601 and ms, group and aggregate columns, addresses as
 * text), or with --kafka-format ecs ecs_row_doc() (sinks/ecs.h); its key is format_key() of the row's group columns (no key for a
 * query without GROUP BY). The topic is the query's WITH (kafka_topic =
 * '...') or else the sink's pattern, %q standing for the query name.
 *
 * When brokers are down librdkafka keeps the messages (message.timeout.ms
 * defaults to 0 here: no expiry) up to its queue bound; when that is full
 * the sink thread waits and the window queue fills; when the window queue
 * is full, on_window drops the window and counts its rows. Nothing here
 * blocks the engine. The backlog goes out when a broker comes back.
 * docs/OUTPUTS.md describes the format, the guarantees and the metrics.
 */
#ifndef FLOWSQL_KAFKA_H
#define FLOWSQL_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <stdint.h>

#include "engine/rowset.h"
#include "util/diag.h"
#include "util/sbuf.h"

typedef struct kafka_sink kafka_sink_t;

typedef struct kafka_sink_config {
    const char *brokers;    /* bootstrap.servers */
    const char *topic;      /* default topic pattern; NULL: "flowsql.%q" */
    const char *props;      /* extra librdkafka properties "k=v,k=v" */
    int         queue_windows; /* window queue bound; 0: 1024 */
    int         format;     /* FORMAT_FLAT (0) or FORMAT_ECS (format.h) */
} kafka_sink_config_t;

/* Counters, all monotonic but outq. Rows are result rows = messages. */
typedef struct kafka_sink_stats {
    uint64_t windows;        /* windows taken from the engine */
    uint64_t windows_dropped;/* refused: window queue full */
    uint64_t queued;         /* rows handed to librdkafka */
    uint64_t delivered;      /* rows acknowledged by a broker */
    uint64_t failed;         /* rows whose delivery report was an error */
    uint64_t dropped;        /* rows lost before librdkafka: window queue
                                full, produce error, shutdown deadline */
    uint64_t retries;        /* requests librdkafka sent again */
    uint64_t errors;         /* client errors (broker down, auth...) */
    uint64_t outq;           /* rows waiting in librdkafka now */
} kafka_sink_stats_t;

/* Create the producer and start the sink thread. NULL with err set when
 * a property is refused or the client cannot be created. Brokers need
 * not be up. */
kafka_sink_t *kafka_sink_new(const kafka_sink_config_t *cfg, diag_t *err);
output_t     *kafka_sink_output(kafka_sink_t *k);

/* Stop taking windows, send what is queued and wait for delivery, at
 * most timeout_ms in all; what is still undelivered then is counted as
 * dropped. Returns the number of rows left undelivered. */
uint64_t kafka_sink_close(kafka_sink_t *k, int timeout_ms);
/* Free (closing first with a 10 s limit if kafka_sink_close was not
 * called). NULL is fine. */
void     kafka_sink_free(kafka_sink_t *k);

void kafka_sink_stats(kafka_sink_t *k, kafka_sink_stats_t *out);
/* Prometheus text of the counters (flowsql_kafka_*). */
void kafka_sink_metrics(kafka_sink_t *k, sbuf_t *out);

/* Set one librdkafka property; -1 with err set ("kafka property K: why")
 * when librdkafka refuses it. Shared with the Kafka input. */
int kafka_conf_set(rd_kafka_conf_t *conf, const char *key, const char *v,
                   diag_t *err);

/* Apply "k=v,k=v" to a librdkafka configuration. A piece without '='
 * continues the previous value after a comma, so a list value such as
 * ssl.cipher.suites=A,B passes through. -1 with err set on a refused
 * property. Shared with the Kafka input. */
int kafka_props_apply(rd_kafka_conf_t *conf, const char *props,
                      diag_t *err);

/* A producer's librdkafka configuration: our defaults (brokers, client
 * id, linger, no message timeout: delivery is retried until it succeeds
 * or the queue is full, 100k queued messages, statistics every second,
 * idempotence), then the operator's "k=v,..." props over them, and our
 * log callback. NULL with err set on a refused property. Shared by the
 * results output and the flows topic (flowtopic.c). */
rd_kafka_conf_t *kafka_producer_conf(const char *brokers,
                                     const char *client_id,
                                     const char *linger_ms,
                                     const char *props, diag_t *err);

/* The consumer configuration of scale-out's workers and merge stage: the
 * brokers, group and client id, offsets committed by the caller only
 * (enable.auto.commit off, commits carry the "w=" metadata), a new group
 * from the start of the topic, a 6 s session (a dead member's partitions
 * move soon), 50 ms fetch waits; then the operator's props and our log
 * callback. NULL with err set on a refused property. */
rd_kafka_conf_t *kafka_group_conf(const char *brokers, const char *group,
                                  const char *client_id, const char *props,
                                  diag_t *err);

/* The retry count in one librdkafka statistics document: the sum over
 * brokers of txretries and req_timeouts. Shared with flowtopic.c. */
uint64_t kafka_stats_retries(const char *json, size_t len);

/* Route librdkafka's own log lines through util/log: errors are also
 * reported to the error callbacks (counted and logged there), so they go
 * to debug; warnings (a property that does not apply...) to warn. */
void kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac,
                  const char *buf);

/* One row's message: topic (from the query's option or the pattern),
 * key (empty when the query has no group columns) and the JSON value
 * (malloc'ed). Exposed for the tests. */
char *kafka_sink_message(const rowset_t *rs, uint32_t r, const char *pattern,
                         sbuf_t *topic, sbuf_t *key);

#endif
