/*
 * elastic.h - closed windows to Elasticsearch 7/8 or OpenSearch (libcurl),
 * one document per result row, sent with the _bulk API.
 *
 *   engine thread --on_window: try_push, never waits--> window queue
 *     --> sender thread: index template (first window of each query),
 *         batches of _bulk (size and time limits), retries with backoff
 *
 * A document is format_doc() of the row: format_row_doc() (flat, the
 * default) or ecs_row_doc() (--es-format ecs, sinks/ecs.h). Its index is the query's
 * WITH (elasticsearch_index = '...') or the sink's pattern (%q: query
 * name; %Y %m %d: the window's UTC date); a pattern without a date part
 * gets the daily suffix -YYYY.MM.DD. Before the first document of a query
 * the sender installs an index template for the query's indices
 * (_index_template, or the legacy _template on servers without it) that
 * maps addresses as ip, times and window_start/window_end (ECS: also
 * @timestamp) as date, integers as long, so dashboards get the right types from the start.
 *
 * Document ids are derived from (query, window, group key, instance), so
 * a batch sent twice after a timeout overwrites rather than duplicates,
 * and instances that share a Kafka topic never overwrite each other's
 * partial rows. HTTP 429,
 * 5xx and connection failures are retried with exponential backoff; items
 * refused with 429 inside a bulk response are retried alone; other item
 * errors are counted and logged. While the sender retries, windows wait
 * in the bounded queue; when it is full, on_window drops and counts.
 */
#ifndef FLOWSQL_ELASTIC_H
#define FLOWSQL_ELASTIC_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/rowset.h"
#include "util/diag.h"
#include "util/sbuf.h"

typedef struct es_sink es_sink_t;

typedef struct es_sink_config {
    const char *url;          /* http(s)://host:port[/prefix] */
    const char *index;        /* pattern; NULL: "flowsql-%q" */
    const char *user, *password; /* basic auth, or NULL */
    const char *api_key;      /* "Authorization: ApiKey ...", or NULL */
    const char *ca;           /* CA file for TLS, or NULL */
    int         queue_windows;/* 0: 1024 */
    int         batch_docs;   /* 0: 1000 documents per _bulk */
    size_t      batch_bytes;  /* 0: 5 MiB per _bulk */
    int         flush_ms;     /* 0: 1000: oldest document waits at most */
    int         backoff_ms;   /* 0: 200: first retry delay, doubling */
    int         backoff_max_ms; /* 0: 30000 */
    int         format;       /* FORMAT_FLAT (0) or FORMAT_ECS (format.h) */
    const char *instance;     /* the name in document ids; NULL or "":
                                 host/pid (--instance-name) */
} es_sink_config_t;

typedef struct es_sink_stats {
    uint64_t windows, windows_dropped;
    uint64_t docs_queued;     /* documents put into a batch */
    uint64_t docs_indexed;    /* acknowledged (2xx item status) */
    uint64_t docs_failed;     /* refused for good (mapping error, 4xx) */
    uint64_t docs_dropped;    /* lost: queue full, shutdown deadline */
    uint64_t item_errors;     /* item errors seen, retried ones too */
    uint64_t bulk_requests;   /* _bulk requests sent */
    uint64_t retries;         /* requests sent again (429, 5xx, network) */
    uint64_t http_errors;     /* 429, 5xx and connection failures */
    uint64_t templates;       /* index templates installed */
} es_sink_stats_t;

/* Start the sender thread. NULL with err set on a bad URL. The server
 * need not be up. */
es_sink_t *es_sink_new(const es_sink_config_t *cfg, diag_t *err);
output_t  *es_sink_output(es_sink_t *s);
/* Stop taking windows, send what is queued, at most timeout_ms in all;
 * returns the number of documents given up. */
uint64_t   es_sink_close(es_sink_t *s, int timeout_ms);
void       es_sink_free(es_sink_t *s);   /* NULL is fine */

void es_sink_stats(es_sink_t *s, es_sink_stats_t *out);
void es_sink_metrics(es_sink_t *s, sbuf_t *out);   /* flowsql_es_* */

/* Exposed for the tests. */
/* Index name of a window (wildcard: the template's pattern instead,
 * date parts as '*'). Lower case, as Elasticsearch requires. */
void    es_index_name(const char *pattern, const char *query, int64_t ms,
                      int wildcard, sbuf_t *out);
/* The template body for a window's columns; legacy: _template shape. */
json_t *es_template(const rowset_t *rs, const char *index_pattern,
                    int legacy, int fmt);
/* The document id of row r as sent by this instance (host/pid). */
void    es_doc_id(const char *instance, const rowset_t *rs, uint32_t r,
                  char out[33]);

#endif
