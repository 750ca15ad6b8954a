/*
 * format.h - closed windows as JSON and CSV, the one place that decides
 * how a value looks outside the engine: addresses as text, times as
 * ISO-8601 (with the milliseconds beside them where a machine wants
 * them), everything else as JSON numbers or strings. The SSE stream, the
 * results endpoint, Kafka messages and Elasticsearch documents all use
 * these, so a row reads the same everywhere.
 */
#ifndef FLOWSQL_FORMAT_H
#define FLOWSQL_FORMAT_H

#include <jansson.h>

#include "engine/rowset.h"
#include "util/sbuf.h"

/* One value: ip -> "10.0.0.1", time -> "2026-...Z", others as numbers,
 * strings or booleans. A new reference. */
json_t *format_value(const value_t *v, type_t t);

/* One row as an object {"col": value, ...}. */
json_t *format_row(const rowset_t *rs, uint32_t r);

/* One row as a self-contained document: the row's columns plus
 * "query", "window_start", "window_end" (ISO-8601),
 * "window_start_ms", "window_end_ms" and "partial" (a boolean: the
 * window was cut by a start or a stop of the daemon, rowset_t.partial). */
json_t *format_row_doc(const rowset_t *rs, uint32_t r);

/* Document formats of the Kafka and Elasticsearch sinks (--kafka-format,
 * --es-format): FORMAT_FLAT is format_row_doc(), FORMAT_ECS ecs_row_doc()
 * (sinks/ecs.h). */
enum doc_format { FORMAT_FLAT, FORMAT_ECS };

/* The format named "flat" or "ecs", or -1. */
int format_parse(const char *name);

/* Row r as a document of the format. A new reference. */
json_t *format_doc(const rowset_t *rs, uint32_t r, int fmt);

/* A window: {"query", "window_start", "window_end", "window_start_ms",
 * "window_end_ms", "partial", "seq", "flows", "rows": [ {...}, ... ]}. */
json_t *format_window(const rowset_t *rs);

/* The group key of a row as text ("10.0.0.1|6"), for Kafka keys. */
void format_key(const rowset_t *rs, uint32_t r, sbuf_t *out);

/* CSV (RFC 4180) of one value, quoted when needed. */
void format_csv_value(sbuf_t *b, const value_t *v, type_t t);
/* One CSV field of text: as is, or quoted with quotes doubled when it
 * holds a comma, a quote or a line break. */
void format_csv_text(sbuf_t *b, const char *s);
/* One CSV field of a JSON value: strings as text, null empty, others as
 * JSON (numbers, booleans). */
void format_csv_json(sbuf_t *b, json_t *j);

/* A destination name (Kafka topic, Elasticsearch index) from a pattern:
 * %q is the query name, %Y %m %d the UTC date of ms, %% a percent sign;
 * any other character is copied. Returns 1 if the pattern named a date
 * part, else 0. */
int format_name(sbuf_t *out, const char *pattern, const char *query,
                int64_t ms);

#endif
