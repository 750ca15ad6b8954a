/*
 * alert.h - alert actions: each row of a closed window of a query with
 * WITH (alert = '...') goes to a webhook (HTTP POST, JSON) or a syslog
 * server (RFC 5424 over UDP or TCP).
 *
 *   engine thread --on_window: build, dedup, rate limit, try_push-->
 *     alert queue (bounded) --> delivery thread: POST / send, retries
 *     with backoff on a list of its own, so one slow target's waits do
 *     not hold up the others' alerts
 *
 * The options (checked by parser/sema.c at CREATE QUERY time with the
 * parsers below):
 *   alert       'webhook:http[s]://host[:port]/path', 'syslog:udp://host:port'
 *               or 'syslog:tcp://host:port'; several separated by commas
 *   alert_every a duration: the same query and group key alert at most
 *               once per this long (default 10m; '0s': every time)
 *   alert_rate  'N/s', 'N/m' or 'N/h': at most N alerts per second,
 *               minute or hour per query (default 60/m)
 * docs/ALERTS.md describes the formats, the guarantees and the metrics.
 */
#ifndef FLOWSQL_ALERT_H
#define FLOWSQL_ALERT_H

#include <stddef.h>
#include <stdint.h>

#include "engine/rowset.h"
#include "util/diag.h"
#include "util/sbuf.h"

enum alert_kind { ALERT_WEBHOOK, ALERT_SYSLOG_UDP, ALERT_SYSLOG_TCP };

#define ALERT_MAX_TARGETS 4
#define ALERT_EVERY_MS    600000   /* alert_every's default: 10m */
#define ALERT_RATE_N      60       /* alert_rate's default: 60/m */
#define ALERT_RATE_MS     60000

typedef struct alert_target {
    int  kind;           /* enum alert_kind */
    char url[256];       /* webhook: the URL as given */
    char host[256];      /* syslog: host and port */
    char port[8];
} alert_target_t;

/* Parse an alert option: 1 to max targets into t. Returns the count, or
 * -1 with why set ("webhook URL must start with http:// or https://"). */
int alert_parse_targets(const char *spec, alert_target_t *t, int max,
                        char *why, size_t whylen);
/* "N/s", "N/m", "N/h" (N from 1 to 1000000): N and the period in ms.
 * 0, or -1 on bad text. */
int alert_parse_rate(const char *s, int *n, int64_t *period_ms);
/* alert_every: a duration ("10m", "0s"), at most 30d. 0, or -1 on bad
 * text. */
int alert_parse_every(const char *s, int64_t *ms);

typedef struct alert_config {
    const char *instance;   /* --instance-name, or "" */
    int         queue;      /* alert queue bound; 0: 10000 */
    int         backoff_ms; /* first retry wait; 0: 1000 (doubles, <= 60 s) */
} alert_config_t;

typedef struct alert_sink alert_sink_t;

typedef struct alert_stats {
    uint64_t queued;        /* alerts (one per row and target) queued */
    uint64_t delivered;     /* accepted: 2xx, or sent to syslog */
    uint64_t failed;        /* given up: attempts spent, 4xx, shutdown */
    uint64_t retries;       /* attempts after the first */
    uint64_t deduplicated;  /* rows within alert_every of the same key */
    uint64_t rate_limited;  /* rows beyond alert_rate */
    uint64_t dropped;       /* alerts refused: queue full */
} alert_stats_t;

alert_sink_t *alert_sink_new(const alert_config_t *cfg, diag_t *err);
output_t     *alert_sink_output(alert_sink_t *a);
/* Stop taking windows and deliver what is queued, at most timeout_ms
 * (retry waits are cut short; an attempt may add its 5 s timeout);
 * what is left is counted as failed. */
void          alert_sink_close(alert_sink_t *a, int timeout_ms);
void          alert_sink_free(alert_sink_t *a);   /* NULL is fine */
void          alert_sink_stats(alert_sink_t *a, alert_stats_t *out);
/* Prometheus text of the counters (flowsql_alerts_*). */
void          alert_sink_metrics(alert_sink_t *a, sbuf_t *out);

/* The webhook's JSON body of row r (malloc'ed). Exposed for the tests. */
char *alert_webhook_body(const rowset_t *rs, uint32_t r, const char *host,
                         const char *instance, int64_t now_ms);
/* The RFC 5424 message of row r into out (no framing). */
void  alert_syslog_message(const rowset_t *rs, uint32_t r, const char *host,
                           int pid, int64_t now_ms, sbuf_t *out);

#endif
