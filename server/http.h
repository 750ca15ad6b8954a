/*
 * http.h - the REST API (libmicrohttpd + jansson), under /api/v1.
 *
 * One thread per connection (so a Server-Sent Events stream may block
 * waiting for its next window); connection count, body size and idle
 * time are bounded. Every route is a row of the table in http.c, which
 * docs/openapi.yaml mirrors (a test checks both ways).
 */
#ifndef FLOWSQL_HTTP_H
#define FLOWSQL_HTTP_H

#include "server/app.h"

typedef struct http http_t;

/* Listen on cfg->http ("addr:port"). NULL with err set when the address
 * is bad or taken. */
http_t *http_start(app_t *app, diag_t *err);
void    http_stop(http_t *h);

/* An answer made as the client takes it (MHD_create_response_from_
 * callback): read() fills out with up to max bytes and returns how many,
 * 0 at the end; it cannot fail, an error met after the answer began is
 * written into it. free() is called once, when the connection is done. */
typedef struct http_body http_body_t;
struct http_body {
    size_t (*read)(http_body_t *b, char *out, size_t max);
    void   (*free)(http_body_t *b);
    /* Set by read() before it returns 0 when the answer cannot be
     * finished and has no way to say so in its own format (a Parquet
     * file): the connection is cut instead of ending the answer, so the
     * client sees it incomplete. */
    int     failed;
};

/* Hooks the other parts of the daemon fill in (NULL: not available). */
typedef struct http_hooks {
    /* GET /queries/{name}/results: a JSON array of windows or CSV text. */
    int  (*results)(void *ctx, const char *name, int64_t from, int64_t to,
                    int64_t limit, int csv, char **body, diag_t *err);
    /* POST /sql: {"columns": [...], "types": [...], "rows": [[...]...],
     * "truncated", "elapsed_ms"[, "error"]} or CSV, streamed. */
    int  (*sql)(void *ctx, const char *sql, int csv, http_body_t **body,
                diag_t *err);
    /* POST /replay: run a query over an IPFIX file. */
    int  (*replay)(void *ctx, const char *sql, const char *file, char **body,
                   diag_t *err);
    /* Extra metrics text appended to /metrics (called with metrics_ctx). */
    void (*metrics)(void *ctx, sbuf_t *out);
    void  *ctx;
    void  *metrics_ctx;
} http_hooks_t;

void http_set_hooks(http_t *h, const http_hooks_t *hooks);

/* Readiness, as GET /healthz reports it: HTTP_STARTING (503 "starting",
 * from http_start until the daemon has loaded its saved queries and
 * bound its inputs), HTTP_READY (200 "ok"), HTTP_STOPPING (503
 * "stopping", once a shutdown began). */
enum http_state { HTTP_STARTING, HTTP_READY, HTTP_STOPPING };
void http_set_state(http_t *h, int state);

/* The route table, for the OpenAPI consistency test: fills method and
 * pattern of route i; returns 0, or -1 past the end. */
int http_route(int i, const char **method, const char **pattern);

#endif
