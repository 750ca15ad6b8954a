/*
 * client.h - the shell's side of the REST API: HTTP requests over
 * libcurl and Server-Sent Events, both interruptible by Ctrl-C (the
 * wait polls sig_fd()).
 *
 * Ownership: a client_resp_t owns its body; client_resp_free releases
 * it. The client keeps connections open between requests.
 */
#ifndef FLOWSQL_SHELL_CLIENT_H
#define FLOWSQL_SHELL_CLIENT_H

#include <stddef.h>
#include <stdio.h>

#include "util/sbuf.h"

typedef struct client client_t;

typedef struct client_resp {
    long   status;        /* HTTP status, 0 if none came */
    sbuf_t body;
    char   ctype[96];     /* Content-Type */
} client_resp_t;

enum client_err {
    CLIENT_OK = 0,
    CLIENT_ECONN = -1,    /* could not connect, or the connection broke */
    CLIENT_EINTR = -2,    /* Ctrl-C */
};

/* base_url: "http://host:port" (a trailing '/' is ignored); token may be
 * NULL. NULL if libcurl cannot start. */
client_t   *client_new(const char *base_url, const char *token);
void        client_free(client_t *c);
const char *client_url(const client_t *c);
/* A client of another base URL with c's token (\connect). NULL when
 * libcurl cannot start. */
client_t   *client_new_like(const client_t *c, const char *base_url);

/* One request; body (JSON) may be NULL. timeout_ms 0: none. Any HTTP
 * answer is CLIENT_OK with r filled; otherwise err says why. */
int client_call(client_t *c, const char *method, const char *path,
                const char *body, long timeout_ms, client_resp_t *r,
                char *err, size_t errsize);

/* POST body (JSON) to path and write a 200 answer's body to out as it
 * comes (a binary download: a Parquet answer); any other answer comes
 * back in r. accept is the Accept header's value. A write error on out
 * is CLIENT_ECONN with err saying so. */
int client_download(client_t *c, const char *path, const char *body,
                    const char *accept, FILE *out, client_resp_t *r,
                    char *err, size_t errsize);

/* Server-Sent Events: fn gets each event's type ("message" if none was
 * given) and data (lines joined by '\n'); returning non-zero stops the
 * stream. Comments (": keepalive") are not passed on. */
typedef int (*client_event_fn)(void *ctx, const char *event,
                               const char *data);

/* Called about once a second while a stream is followed. */
typedef void (*client_tick_fn)(void *ctx);

/* Follow path until fn stops it or the server closes the stream
 * (CLIENT_OK), Ctrl-C (CLIENT_EINTR) or a transport error (CLIENT_ECONN).
 * A non-200 answer comes back in r (status and body), with fn never
 * called. tick may be NULL. */
int client_stream(client_t *c, const char *path, client_event_fn fn,
                  client_tick_fn tick, void *ctx, client_resp_t *r,
                  char *err, size_t errsize);

void client_resp_free(client_resp_t *r);

/* The event-stream parser, separate for testing: feed bytes as they
 * come; returns non-zero once fn asked to stop. */
typedef struct sse_parser {
    sbuf_t line;          /* the line being read */
    sbuf_t data;          /* data lines of the event being read */
    char   event[64];
    int    has_data;
    int    skip_lf;       /* the last line ended with '\r' */
} sse_parser_t;

void sse_init(sse_parser_t *p);
int  sse_feed(sse_parser_t *p, const char *buf, size_t len,
              client_event_fn fn, void *ctx);
void sse_free(sse_parser_t *p);

#endif
