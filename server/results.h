/*
 * results.h - what the REST API answers for stored data: ad hoc results
 * and a query's stored windows, as JSON or CSV; and a query run over an
 * IPFIX file. These are the http_hooks_t of flowsqld.
 */
#ifndef FLOWSQL_RESULTS_H
#define FLOWSQL_RESULTS_H

#include "server/app.h"
#include "server/http.h"

/* Fill hooks for app (storage and replay); ctx is the app. */
void results_hooks(app_t *a, http_hooks_t *hooks);


#endif
