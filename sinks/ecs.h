/*
 * ecs.h - result rows as Elastic Common Schema (ECS 8) documents, the
 * "ecs" document format of the Elasticsearch and Kafka sinks
 * (--es-format ecs, --kafka-format ecs; docs/OUTPUTS.md).
 *
 * A column maps to an ECS field when it is a flow field as is: a GROUP
 * BY key that is a bare field (GROUP BY srcip, whatever its alias), or a
 * bare field of a query without aggregation (SELECT srcip, bytes ...).
 * Then srcip goes to source.ip, dstport to destination.port, proto to
 * network.iana_number and network.transport ("tcp"), exporter to
 * observer.ip, bytes to source.bytes and network.bytes, and so on (the
 * table in ecs.c). Every other column (aggregates under their alias,
 * expressions, fields ECS has no name for) goes under flowsql.<column>.
 *
 * Each document also carries @timestamp (the window's start: the window
 * covers [start, end), so a date histogram puts it in the bucket of the
 * time it describes), ecs.version, event.kind ("metric" for aggregated
 * windows, "event" for flows as they came), event.category/type/module/
 * dataset, flowsql.query and flowsql.window.start/end/partial.
 */
#ifndef FLOWSQL_ECS_H
#define FLOWSQL_ECS_H

#include <jansson.h>

#include "engine/rowset.h"

#define ECS_VERSION "8.11.0"

/* Row r of rs as an ECS document (nested objects). A new reference. */
json_t *ecs_row_doc(const rowset_t *rs, uint32_t r);

/* The mapping "properties" of rs's ECS documents: @timestamp date, every
 * *.ip ip, ports and counters long, names keyword, flowsql.<column> by
 * the column's type (es_type). A new reference. */
json_t *ecs_properties(const rowset_t *rs, const char *(*es_type)(type_t));

#endif
