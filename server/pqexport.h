/*
 * pqexport.h - the answer of a query over the archive as a Parquet file
 * (POST /api/v1/sql?format=parquet), streamed as it is written.
 *
 * Columns by the query's result types: INT INT64, FLOAT DOUBLE, BOOL
 * BOOLEAN, STRING BYTE_ARRAY (UTF-8), TIME INT64 TIMESTAMP(MILLIS, UTC),
 * DURATION INT64 (ms), IP text ("10.1.2.3", "2001:db8::1") or, with
 * ip_binary, FIXED_LEN_BYTE_ARRAY(16) as the archive keeps them. Row
 * groups of PQEXPORT_RG_ROWS rows. An answer that cannot be finished (the
 * time limit, --export-rows, an incomplete aggregate) is cut without its
 * footer: no Parquet reader opens it, so it is never taken for a whole
 * answer.
 */
#ifndef FLOWSQL_PQEXPORT_H
#define FLOWSQL_PQEXPORT_H

#include "server/app.h"
#include "server/http.h"

#define PQEXPORT_RG_ROWS 65536

/* Open the statement (a SELECT FROM flows without WINDOW) and read its
 * first row, so that its errors are still a plain status: AE_OK with
 * *body, or an AE_* class with err set. */
int pqexport_open(app_t *a, const char *sql, int ip_binary,
                  http_body_t **body, diag_t *err);

#endif
