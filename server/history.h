/*
 * history.h - a history run: a registered continuous query run over a
 * past range of the archive as if live, its windows written to a table
 * of their own, a background job (server/jobs.h).
 *
 *   POST /api/v1/queries/{name}/history {"from": T, "until": T[, "table"]}
 *
 * The query's statement is compiled again into an engine of the run's
 * own (a history engine, engine.h: received-time windows on the received
 * times the archive kept), never the live one, and fed the archived
 * flows received in [from, until) widened to whole windows. Its windows
 * go to the table `<name>__history_<YYYYMMDDHHMMSS of from>` (or
 * "table"), marked kind 'history' in flowsql_tables; windows the range
 * covers only in part are stored with partial = 1. Running the same
 * range again replaces the windows (a history run is a replay). While
 * the run lasts the table has a catalog entry (state 'history'); after
 * it, the table is kept like a dropped query's (DROP QUERY removes it).
 */
#ifndef FLOWSQL_HISTORY_H
#define FLOWSQL_HISTORY_H

#include <stdint.h>

#include "server/app.h"
#include "util/sbuf.h"

/* Start a history run of query name over received times [from, until).
 * table may be NULL (the default name). AE_OK with *id and *table_out
 * (malloc'ed), or an AE_* class with err set: 404 no such query, 400 a
 * bad range or table name, a query without WINDOW or with store =
 * false, 409 the table is a running query's, 429 too many jobs, 503
 * storage off. */
int history_start(app_t *a, const char *name, int64_t from, int64_t until,
                  const char *table, uint64_t *id, char **table_out,
                  diag_t *err);

/* A catalog entry of state "history" left by a run cut by a stop:
 * remove it, keeping the table (app_resume_catalog). */
#define HISTORY_STATE "history"

/* flowsql_history_* metrics (docs/METRICS.md). */
void history_metrics(sbuf_t *out);

#endif
