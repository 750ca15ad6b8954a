/*
 * flowsel.h - a selection of archived flows: the time range and WHERE of
 * a statement over the archive, run as a scan that hands over the raw
 * flows that match (every stored field), for the tools that need flows
 * rather than rows: IPFIX replay (server/sendjob.c) and archive export.
 *
 * The selection is written in the query language, after FROM flows:
 *
 *     LAST 1h WHERE dstport = 445
 *     BETWEEN '2026-12-03 13:00' AND '2026-12-03 13:10' WHERE srcip = 10.1.2.3
 *     SINCE '2026-12-03 13:00' LIMIT 1000
 *
 * It is compiled as "SELECT received FROM flows <text>": the range and WHERE are
 * pushed down to archive_scan (pushdown.h) like a query's, then WHERE is
 * evaluated on every flow read, so exactly the flows the same SELECT
 * would list are delivered, in archive order (received time, nearly).
 * GROUP BY, aggregates, ORDER BY and WINDOW are refused: a selection is
 * of flows. LIMIT n stops after n flows.
 */
#ifndef FLOWSQL_FLOWSEL_H
#define FLOWSQL_FLOWSEL_H

#include <stdint.h>

#include "archive/archive.h"
#include "util/diag.h"
#include "util/sbuf.h"

typedef struct flowsel flowsel_t;

/*
 * Compile the selection text (what follows FROM flows; may be empty: every
 * flow kept) at now_ms (for LAST d; 0: the clock). NULL with err set
 * (with the position in the statement: err->offset counts from the
 * start of "SELECT received FROM flows ") when it is not a selection of flows.
 */
flowsel_t *flowsel_new(const char *text, int64_t now_ms,
                       int64_t default_max_groups, diag_t *err);
void       flowsel_free(flowsel_t *s);   /* NULL is fine */

/* The statement compiled ("SELECT received FROM flows ..."), for messages. */
const char *flowsel_sql(const flowsel_t *s);

/* The received-time range the selection covers, bounds included
 * (INT64_MIN/INT64_MAX when open). */
void flowsel_range(const flowsel_t *s, int64_t *lo, int64_t *hi);

/* LIMIT of the selection, or -1. */
int64_t flowsel_limit(const flowsel_t *s);

/*
 * Scan the archive under dir: cb gets batches of the matching flows only
 * (every stored field filled, n may be 0 after a row group of no match,
 * so a caller with a deadline or a cancel flag gets control back).
 * Returns as archive_scan: 0 done (or LIMIT reached), 1 stopped by cb,
 * -1 on error. st may be NULL.
 */
int flowsel_scan(flowsel_t *s, const char *dir, archive_batch_fn cb,
                 void *ctx, archive_scan_stats_t *st, diag_t *err);

/* Flows delivered so far (by flowsel_scan). */
uint64_t flowsel_matched(const flowsel_t *s);

#endif
