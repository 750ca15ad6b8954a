/*
 * http.c - the REST API; see http.h and docs/openapi.yaml.
 */
#include "server/http.h"
#include "server/web.h"
#include "engine/mem.h"
#include "engine/plan.h"
#include "server/history.h"
#include "server/jobs.h"
#include "server/pqexport.h"
#include "server/sendjob.h"
#include "sinks/format.h"
#include "util/arena.h"
#include "util/counter.h"
#include "util/log.h"
#include "util/timeutil.h"
#include "util/jsonfmt.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define API "/api/v1"
#define SSE_KEEPALIVE_MS 15000
#define CONN_LIMIT 256       /* connections (and so threads) at once */
#define CONN_RESERVE 16      /* kept free by cutting waiting connections */
#define REAP_EVERY_MS 250

static const int tracked_codes[] = {200, 201, 204, 400, 401, 403, 404, 405, 409,
                                    413, 429, 500, 503};
#define NCODES (int)(sizeof(tracked_codes) / sizeof(tracked_codes[0]))

/* One client connection. A connection is "waiting" from its start, and
 * again from the end of each answer, until its next request has arrived
 * whole (head and body): that is the only time a client can hold it
 * without the server doing anything for it, and it is bounded by
 * --http-request-timeout. */
typedef struct hconn {
    int            fd;
    int            waiting;
    int64_t        since;       /* time_mono_ms() it began waiting */
    int            cut;         /* shut down by us */
    struct hconn  *prev, *next;
} hconn_t;

struct http {
    app_t              *app;
    struct MHD_Daemon  *mhd;
    int                 fd;
    http_hooks_t        hooks;
    flag_t              stopping;
    flag_t              state;      /* enum http_state, for /healthz */
    counter_t           requests[NCODES + 1];
    /* connections, under conn_lock (also held while one is shut down, so
     * its fd is not closed meanwhile: libmicrohttpd tells us of the close
     * before it closes the socket) */
    pthread_mutex_t     conn_lock;
    pthread_cond_t      reaper_wake;
    hconn_t            *conns;
    int                 nconns;
    pthread_t           reaper;
    int                 reaper_started;
    flag_t              reaper_stop;
    counter_t           cut_slow, cut_evicted, cut_stalled;
};

typedef struct req {
    sbuf_t body;
    int    too_large;
} req_t;

typedef struct ctx {
    http_t                *h;
    struct MHD_Connection *conn;
    req_t                 *req;
    const char            *name;   /* the {name} path segment */
    int                    anon;   /* no token: --health-open's /healthz */
} ctx_t;

typedef enum MHD_Result (*handler_t)(ctx_t *c);

/* ---- responses -------------------------------------------------------- */

static void count(http_t *h, int status)
{
    int i;
    for (i = 0; i < NCODES; i++)
        if (tracked_codes[i] == status)
            break;
    ctr_inc(&h->requests[i]);
}

/* Queue r (consumed) with the headers every answer carries. */
static enum MHD_Result send_response(ctx_t *c, int status, const char *type,
                                     struct MHD_Response *r)
{
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    enum MHD_Result ret = MHD_queue_response(c->conn, (unsigned)status, r);
    MHD_destroy_response(r);
    count(c->h, status);
    return ret;
}

static enum MHD_Result send_text(ctx_t *c, int status, const char *type,
                                 char *body /* malloc'ed, consumed */)
{
    return send_response(c, status, type, MHD_create_response_from_buffer(
        strlen(body), body, MHD_RESPMEM_MUST_FREE));
}

static ssize_t body_read(void *cls, uint64_t pos, char *out, size_t max)
{
    (void)pos;
    http_body_t *b = cls;
    size_t n = b->read(b, out, max);
    if (!n && b->failed)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    return n ? (ssize_t)n : MHD_CONTENT_READER_END_OF_STREAM;
}

static void body_free(void *cls)
{
    http_body_t *b = cls;
    b->free(b);
}

/* A streamed answer (chunked): body is consumed. */
static enum MHD_Result send_body(ctx_t *c, int status, const char *type,
                                 http_body_t *body)
{
    struct MHD_Response *r = MHD_create_response_from_callback(
        MHD_SIZE_UNKNOWN, 64 * 1024, body_read, body, body_free);
    if (!r) {
        body->free(body);
        return MHD_NO;
    }
    return send_response(c, status, type, r);
}

static enum MHD_Result send_json(ctx_t *c, int status, json_t *j)
{
    char *s = json_dumps_short(j, JSON_COMPACT);
    json_decref(j);
    size_t n = strlen(s);
    s = xrealloc(s, n + 2);
    s[n] = '\n';
    s[n + 1] = 0;
    return send_text(c, status, "application/json", s);
}

/* A JSON string of a message that may quote what a client sent (a name,
 * a statement): jansson refuses text that is not UTF-8, which would leave
 * the error out; such bytes become '?'. */
static json_t *json_text(const char *msg)
{
    json_t *j = json_string(msg);
    if (j)
        return j;
    char *copy = xstrdup(msg);
    for (char *p = copy; *p; p++)
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    j = json_string(copy);
    free(copy);
    return j;
}

static enum MHD_Result send_error(ctx_t *c, int status, const char *msg)
{
    json_t *j = json_object();
    json_object_set_new(j, "error", json_text(msg));
    return send_json(c, status, j);
}

/* A statement error: message, line, column and the caret picture. The
 * position is given only when it lies inside sql: an error in what the
 * server made of the request (a WITH option from "options") has its
 * position in that text, not in the one sent. */
static enum MHD_Result send_diag(ctx_t *c, int status, const diag_t *d,
                                 const char *sql)
{
    json_t *j = json_object();
    json_object_set_new(j, "error", json_text(d->msg));
    if (d->offset >= 0 && sql && d->len >= 0 &&
        (size_t)d->offset + (size_t)d->len <= strlen(sql)) {
        char buf[2048];
        json_object_set_new(j, "line", json_integer(d->line));
        json_object_set_new(j, "column", json_integer(d->col));
        json_object_set_new(j, "offset", json_integer(d->offset));
        json_object_set_new(j, "length", json_integer(d->len));
        json_object_set_new(j, "detail",
                            json_text(diag_render(d, sql, buf, sizeof(buf))));
    }
    return send_json(c, status, j);
}

static const char *arg(ctx_t *c, const char *key)
{
    return MHD_lookup_connection_value(c->conn, MHD_GET_ARGUMENT_KIND, key);
}

static int arg_true(ctx_t *c, const char *key)
{
    const char *v = arg(c, key);
    return v && (strcmp(v, "1") == 0 || strcasecmp(v, "true") == 0 ||
                 strcasecmp(v, "yes") == 0);
}

/* The request body as a JSON object, or NULL after answering 400. */
static json_t *body_object(ctx_t *c, enum MHD_Result *ret)
{
    json_error_t jerr;
    json_t *j = json_loadb(c->req->body.s ? c->req->body.s : "",
                           c->req->body.len, 0, &jerr);
    if (!j) {
        char msg[300];
        snprintf(msg, sizeof(msg), "malformed JSON at line %d, column %d: %s",
                 jerr.line, jerr.column, jerr.text);
        *ret = send_error(c, 400, msg);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        *ret = send_error(c, 400, "the body must be a JSON object");
        return NULL;
    }
    return j;
}

/* A string member, or NULL; wrong types answer 400. */
static int member_string(ctx_t *c, json_t *o, const char *key, int required,
                         const char **out, enum MHD_Result *ret)
{
    json_t *v = json_object_get(o, key);
    char msg[200];
    *out = NULL;
    if (!v || json_is_null(v)) {
        if (!required)
            return 0;
        snprintf(msg, sizeof(msg), "missing field \"%s\"", key);
        *ret = send_error(c, 400, msg);
        return -1;
    }
    if (!json_is_string(v)) {
        snprintf(msg, sizeof(msg), "field \"%s\" must be a string", key);
        *ret = send_error(c, 400, msg);
        return -1;
    }
    *out = json_string_value(v);
    return 0;
}

/* ?format=parquet, or Accept: application/vnd.apache.parquet. */
static int wants_parquet(ctx_t *c)
{
    const char *f = arg(c, "format");
    if (f)
        return strcasecmp(f, "parquet") == 0;
    const char *acc = MHD_lookup_connection_value(c->conn, MHD_HEADER_KIND,
                                                  "Accept");
    return acc && strstr(acc, "application/vnd.apache.parquet");
}

static int wants_csv(ctx_t *c)
{
    const char *f = arg(c, "format");
    if (f)
        return strcasecmp(f, "csv") == 0;
    const char *acc = MHD_lookup_connection_value(c->conn, MHD_HEADER_KIND,
                                                  "Accept");
    return acc && strstr(acc, "text/csv") && !strstr(acc, "application/json");
}

/* ---- connections: slow clients --------------------------------------------- */

/* Cut a connection: shutdown() wakes its thread, which then closes it
 * as if the client had left. Called under conn_lock. */
static void conn_cut(hconn_t *hc, counter_t *why)
{
    if (hc->cut || hc->fd < 0)
        return;
    hc->cut = 1;
    shutdown(hc->fd, SHUT_RDWR);
    ctr_inc(why);
}

/* A new connection: track it; near the limit, cut the one that has been
 * waiting longest for its request, so a new client (a health check)
 * always finds a free place. */
static void on_connection(void *cls, struct MHD_Connection *conn,
                          void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    http_t *h = cls;
    hconn_t *hc = *socket_context;
    pthread_mutex_lock(&h->conn_lock);
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
            conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        hc = xcalloc(1, sizeof(*hc));
        hc->fd = ci ? ci->connect_fd : -1;
        hc->waiting = 1;
        hc->since = time_mono_ms();
        hc->next = h->conns;
        if (h->conns)
            h->conns->prev = hc;
        h->conns = hc;
        h->nconns++;
        *socket_context = hc;
        if (h->nconns > CONN_LIMIT - CONN_RESERVE) {
            hconn_t *oldest = NULL;
            for (hconn_t *o = h->conns; o; o = o->next)
                if (o != hc && o->waiting && !o->cut &&
                    (!oldest || o->since < oldest->since))
                    oldest = o;
            if (oldest)
                conn_cut(oldest, &h->cut_evicted);
        }
    } else if (hc) {
        if (hc->prev)
            hc->prev->next = hc->next;
        else
            h->conns = hc->next;
        if (hc->next)
            hc->next->prev = hc->prev;
        h->nconns--;
        free(hc);
        *socket_context = NULL;
    }
    pthread_mutex_unlock(&h->conn_lock);
}

/* The connection's request has arrived whole (waiting 0), or its answer
 * is done and the next request may come (waiting 1). */
static void conn_waiting(http_t *h, struct MHD_Connection *conn, int waiting)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
        conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    hconn_t *hc = ci ? ci->socket_context : NULL;
    if (!hc)
        return;
    pthread_mutex_lock(&h->conn_lock);
    hc->waiting = waiting;
    hc->since = time_mono_ms();
    pthread_mutex_unlock(&h->conn_lock);
}

/* Every REAP_EVERY_MS: cut the connections that have waited longer than
 * --http-request-timeout for their request (a slowloris client sending
 * one header line at a time, or an idle keep-alive connection). */
static void *reaper_main(void *arg)
{
    http_t *h = arg;
    int64_t limit = h->app->cfg.http_request_timeout_ms;
    pthread_mutex_lock(&h->conn_lock);
    while (!flag_get(&h->reaper_stop)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += REAP_EVERY_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&h->reaper_wake, &h->conn_lock, &ts);
        int64_t now = time_mono_ms();
        for (hconn_t *hc = h->conns; hc && limit > 0; hc = hc->next)
            if (hc->waiting && now - hc->since >= limit)
                conn_cut(hc, &h->cut_slow);
    }
    pthread_mutex_unlock(&h->conn_lock);
    return NULL;
}

static int conn_count(http_t *h)
{
    pthread_mutex_lock(&h->conn_lock);
    int n = h->nconns;
    pthread_mutex_unlock(&h->conn_lock);
    return n;
}

/* ---- handlers ---------------------------------------------------------- */

/* GET /healthz: 200 "ok" once the daemon is ready (http_set_state),
 * else 503 "starting" or "stopping", so probes and load balancers send
 * nothing to a daemon whose saved queries are not all running yet. */
static enum MHD_Result h_health(ctx_t *c)
{
    int state = flag_get(&c->h->state);
    int code = state == HTTP_READY ? 200 : 503;
    json_t *j = json_object();
    json_object_set_new(j, "status",
                        json_string(state == HTTP_READY      ? "ok"
                                    : state == HTTP_STOPPING ? "stopping"
                                                             : "starting"));
    if (c->anon)            /* --health-open without the token: no more */
        return send_json(c, code, j);
    json_object_set_new(j, "version", json_string(FLOWSQL_VERSION));
    json_object_set_new(j, "uptime_ms",
                        json_integer(time_now_ms() - c->h->app->started_ms));
    json_object_set_new(j, "queries", json_integer(engine_count(c->h->app->engine)));
    return send_json(c, code, j);
}

void http_set_state(http_t *h, int state)
{
    if (h)
        flag_set(&h->state, state);
}

/* The per-query metrics: one family per statistic, each with its HELP
 * and TYPE and then a series per query (a family's lines must be
 * together, so each goes to its own buffer while the queries are
 * walked). */
static const struct {
    const char *metric, *type, *help;
    size_t      off;
} query_metrics[] = {
    {"flowsql_query_flows_total", "counter", "flows offered to the query",
     offsetof(query_stats_t, flows_in)},
    {"flowsql_query_flows_matched_total", "counter", "flows that passed "
     "WHERE", offsetof(query_stats_t, flows_matched)},
    {"flowsql_query_flows_late_total", "counter", "flows after their window "
     "closed", offsetof(query_stats_t, flows_late)},
    {"flowsql_query_flows_overflow_total", "counter", "flows refused by the "
     "group cap or the memory budget",
     offsetof(query_stats_t, flows_overflow)},
    {"flowsql_query_windows_total", "counter", "windows emitted",
     offsetof(query_stats_t, windows)},
    {"flowsql_query_windows_partial_total", "counter", "windows cut by a "
     "start or stop", offsetof(query_stats_t, windows_partial)},
    {"flowsql_query_rows_total", "counter", "rows emitted",
     offsetof(query_stats_t, rows)},
    {"flowsql_query_arith_overflows_total", "counter", "saturated integer "
     "results", offsetof(query_stats_t, arith_overflows)},
    {"flowsql_query_groups_open", "gauge", "groups held by open windows",
     offsetof(query_stats_t, groups_open)},
    {"flowsql_query_memory_bytes", "gauge", "memory the query holds (open "
     "windows, programs)", offsetof(query_stats_t, memory_bytes)},
};
#define NQUERY_METRICS (sizeof(query_metrics) / sizeof(query_metrics[0]))

static void metric_query(void *ctx, const char *name, const plan_t *p,
                         const query_stats_t *st)
{
    (void)p;
    sbuf_t *fam = ctx;
    for (size_t i = 0; i < NQUERY_METRICS; i++)
        sbuf_printf(&fam[i], "%s{query=\"%s\"} %llu\n",
                    query_metrics[i].metric, name, (unsigned long long)
                    *(const uint64_t *)((const char *)st +
                                        query_metrics[i].off));
}

static void metrics_queries(app_t *a, sbuf_t *b)
{
    sbuf_t fam[NQUERY_METRICS];
    for (size_t i = 0; i < NQUERY_METRICS; i++)
        fam[i] = (sbuf_t)SBUF_INIT;
    engine_foreach(a->engine, metric_query, fam);
    for (size_t i = 0; i < NQUERY_METRICS; i++) {
        sbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n",
                    query_metrics[i].metric, query_metrics[i].help,
                    query_metrics[i].metric, query_metrics[i].type);
        sbuf_addn(b, sbuf_str(&fam[i]), fam[i].len);
        sbuf_free(&fam[i]);
    }
}

static enum MHD_Result h_metrics(ctx_t *c)
{
    http_t *h = c->h;
    app_t *a = h->app;
    sbuf_t b = SBUF_INIT;
    sbuf_printf(&b, "# HELP flowsql_up 1 while flowsqld runs\n"
                    "# TYPE flowsql_up gauge\nflowsql_up 1\n");
    sbuf_printf(&b, "# HELP flowsql_build_info the version of flowsqld "
                    "(always 1)\n# TYPE flowsql_build_info gauge\n"
                    "flowsql_build_info{version=\"%s\"} 1\n",
                FLOWSQL_VERSION);
    sbuf_printf(&b, "# HELP flowsql_uptime_seconds seconds since start\n"
                    "# TYPE flowsql_uptime_seconds gauge\n"
                    "flowsql_uptime_seconds %lld\n",
                (long long)((time_now_ms() - a->started_ms) / 1000));
    sbuf_printf(&b, "# HELP flowsql_queries registered queries\n"
                    "# TYPE flowsql_queries gauge\nflowsql_queries %d\n",
                engine_count(a->engine));
    metrics_queries(a, &b);
    sbuf_printf(&b, "# HELP flowsql_engine_memory_bytes memory held by the "
                    "queries' windows and results not yet written out\n"
                    "# TYPE flowsql_engine_memory_bytes gauge\n"
                    "flowsql_engine_memory_bytes %lld\n"
                    "# HELP flowsql_engine_memory_limit_bytes the memory budget "
                    "(--max-memory; 0: none)\n"
                    "# TYPE flowsql_engine_memory_limit_bytes gauge\n"
                    "flowsql_engine_memory_limit_bytes %lld\n",
                (long long)mem_used(), (long long)mem_limit());
    sbuf_printf(&b, "# HELP flowsql_engine_queue_batches batches waiting for "
                    "the engine\n# TYPE flowsql_engine_queue_batches gauge\n"
                    "flowsql_engine_queue_batches %zu\n", bqueue_len(&a->flows));
    sbuf_printf(&b, "# HELP flowsql_engine_close_seconds_max the longest one "
                    "advance of the windows (closes, shared folds) held the "
                    "engine thread\n"
                    "# TYPE flowsql_engine_close_seconds_max gauge\n"
                    "flowsql_engine_close_seconds_max %.3f\n",
                engine_tick_max_ms(a->engine) / 1000.0);
    sbuf_printf(&b, "# HELP flowsql_engine_threads threads that run the "
                    "queries (--engine-threads)\n"
                    "# TYPE flowsql_engine_threads gauge\n"
                    "flowsql_engine_threads %d\n"
                    "# HELP flowsql_engine_thread_busy_seconds_total time each "
                    "engine thread spent running queries (thread 0: the "
                    "engine thread)\n"
                    "# TYPE flowsql_engine_thread_busy_seconds_total counter\n",
                engine_threads(a->engine));
    for (int k = 0; k < engine_threads(a->engine); k++)
        sbuf_printf(&b, "flowsql_engine_thread_busy_seconds_total{thread=\"%d\"} "
                        "%.3f\n", k, engine_thread_busy_ns(a->engine, k) / 1e9);
    sbuf_printf(&b, "# HELP flowsql_engine_queue_capacity_batches the most "
                    "batches the queue holds (--queue-flows / 2048)\n"
                    "# TYPE flowsql_engine_queue_capacity_batches gauge\n"
                    "flowsql_engine_queue_capacity_batches %d\n",
                a->queue_batches);
    sbuf_printf(&b, "# HELP flowsql_engine_queue_dropped_batches_total batches "
                    "dropped because the engine queue was full\n"
                    "# TYPE flowsql_engine_queue_dropped_batches_total counter\n"
                    "flowsql_engine_queue_dropped_batches_total %llu\n",
                (unsigned long long)a->flows.dropped);
    sbuf_printf(&b, "# HELP flowsql_sampling_filled_total records given a "
                    "configured rate (--sampling-rate)\n"
                    "# TYPE flowsql_sampling_filled_total counter\n"
                    "flowsql_sampling_filled_total %llu\n"
                    "# HELP flowsql_sampling_renormalized_total records whose "
                    "packets and bytes were multiplied by their sampling rate "
                    "(--renormalize)\n"
                    "# TYPE flowsql_sampling_renormalized_total counter\n"
                    "flowsql_sampling_renormalized_total %llu\n"
                    "# HELP flowsql_sampling_saturated_total renormalized "
                    "records whose packets or bytes were clamped at 2^63-1\n"
                    "# TYPE flowsql_sampling_saturated_total counter\n"
                    "flowsql_sampling_saturated_total %llu\n",
                (unsigned long long)sampling_filled(a->sampling),
                (unsigned long long)sampling_scaled(a->sampling),
                (unsigned long long)sampling_saturated(a->sampling));
    sbuf_printf(&b, "# HELP flowsql_sse_clients stream clients connected\n"
                    "# TYPE flowsql_sse_clients gauge\nflowsql_sse_clients %d\n",
                live_count(a->live, NULL));
    sbuf_printf(&b, "# HELP flowsql_sse_dropped_windows_total windows a slow "
                    "stream client missed\n"
                    "# TYPE flowsql_sse_dropped_windows_total counter\n"
                    "flowsql_sse_dropped_windows_total %llu\n",
                (unsigned long long)live_dropped(a->live));
    sbuf_printf(&b, "# HELP flowsql_sse_queue_bytes memory held by windows "
                    "waiting for stream clients\n"
                    "# TYPE flowsql_sse_queue_bytes gauge\n"
                    "flowsql_sse_queue_bytes %lld\n",
                (long long)live_queued_bytes(a->live));
    sbuf_printf(&b, "# HELP flowsql_http_connections open HTTP connections "
                    "(at most %d)\n# TYPE flowsql_http_connections gauge\n"
                    "flowsql_http_connections %d\n", CONN_LIMIT, conn_count(h));
    sbuf_printf(&b, "# HELP flowsql_http_connections_cut_total connections "
                    "the server cut: their request did not arrive within "
                    "--http-request-timeout, they waited longest when "
                    "the connections neared their limit, or they took "
                    "nothing of an answer for --http-stall-timeout\n"
                    "# TYPE flowsql_http_connections_cut_total counter\n"
                    "flowsql_http_connections_cut_total{reason=\"slow_request\"} %llu\n"
                    "flowsql_http_connections_cut_total{reason=\"evicted\"} %llu\n"
                    "flowsql_http_connections_cut_total{reason=\"stalled\"} %llu\n",
                (unsigned long long)ctr_get(&h->cut_slow),
                (unsigned long long)ctr_get(&h->cut_evicted),
                (unsigned long long)ctr_get(&h->cut_stalled));
    sbuf_add(&b, "# HELP flowsql_http_requests_total HTTP requests by status\n"
                 "# TYPE flowsql_http_requests_total counter\n");
    for (int i = 0; i <= NCODES; i++) {
        uint64_t n = ctr_get(&h->requests[i]);
        if (i < NCODES)
            sbuf_printf(&b, "flowsql_http_requests_total{code=\"%d\"} %llu\n",
                        tracked_codes[i], (unsigned long long)n);
        else
            sbuf_printf(&b, "flowsql_http_requests_total{code=\"other\"} %llu\n",
                        (unsigned long long)n);
    }
    jobs_metrics(a->jobs, &b);
    history_metrics(&b);
    sendjob_metrics(&b);
    if (h->hooks.metrics)
        h->hooks.metrics(h->hooks.metrics_ctx, &b);
    return send_text(c, 200, "text/plain; version=0.0.4", sbuf_detach(&b));
}

static enum MHD_Result h_list(ctx_t *c)
{
    json_t *j = json_object();
    json_object_set_new(j, "queries", app_query_list(c->h->app));
    return send_json(c, 200, j);
}

static enum MHD_Result h_create(ctx_t *c)
{
    enum MHD_Result ret;
    json_t *o = body_object(c, &ret);
    if (!o)
        return ret;
    const char *name, *sql;
    if (member_string(c, o, "name", 0, &name, &ret) < 0 ||
        member_string(c, o, "sql", 1, &sql, &ret) < 0) {
        json_decref(o);
        return ret;
    }
    json_t *opts = json_object_get(o, "options");
    json_t *tmp = json_object_get(o, "temporary");
    if (opts && !json_is_object(opts) && !json_is_null(opts)) {
        json_decref(o);
        return send_error(c, 400, "field \"options\" must be an object");
    }
    if (tmp && !json_is_boolean(tmp)) {
        json_decref(o);
        return send_error(c, 400, "field \"temporary\" must be a boolean");
    }
    diag_t err;
    sbuf_t plan = SBUF_INIT;
    char *qname = NULL;
    int rc = app_query_create(c->h->app, name, sql, opts,
                              json_is_true(tmp) ? SRC_TEMPORARY : SRC_API, NULL,
                              &qname, &plan, &err);
    if (rc != AE_OK && rc != AE_UNCHANGED) {
        ret = send_diag(c, rc, &err, sql);
        json_decref(o);
        sbuf_free(&plan);
        return ret;
    }
    json_t *j = app_query_get(c->h->app, qname);
    if (!j) {
        j = json_object();
        json_object_set_new(j, "name", json_string(qname));
    }
    if (rc == AE_OK)
        json_object_set_new(j, "plan", json_string(sbuf_str(&plan)));
    sbuf_free(&plan);
    free(qname);
    json_decref(o);
    return send_json(c, rc == AE_UNCHANGED ? 200 : 201, j);
}

static enum MHD_Result h_explain(ctx_t *c)
{
    enum MHD_Result ret;
    json_t *o = body_object(c, &ret);
    if (!o)
        return ret;
    const char *sql;
    if (member_string(c, o, "sql", 1, &sql, &ret) < 0) {
        json_decref(o);
        return ret;
    }
    diag_t err;
    sbuf_t plan = SBUF_INIT;
    if (app_explain(c->h->app, sql, &plan, &err) != AE_OK) {
        ret = send_diag(c, 400, &err, sql);
    } else {
        json_t *j = json_object();
        json_object_set_new(j, "plan", json_string(sbuf_str(&plan)));
        ret = send_json(c, 200, j);
    }
    sbuf_free(&plan);
    json_decref(o);
    return ret;
}

static enum MHD_Result h_get(ctx_t *c)
{
    json_t *j = app_query_get(c->h->app, c->name);
    if (!j) {
        char msg[200];
        snprintf(msg, sizeof(msg), "no query named '%.100s'", c->name);
        return send_error(c, 404, msg);
    }
    return send_json(c, 200, j);
}

static enum MHD_Result h_drop(ctx_t *c)
{
    diag_t err;
    int rc = app_query_drop(c->h->app, c->name, arg_true(c, "keep_data"), &err);
    if (rc != AE_OK)
        return send_error(c, rc, err.msg);
    struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"",
                                                             MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ret = MHD_queue_response(c->conn, 204, r);
    MHD_destroy_response(r);
    count(c->h, 204);
    return ret;
}

static int parse_time_arg(ctx_t *c, const char *key, int64_t *out)
{
    const char *v = arg(c, key);
    if (!v || !*v)
        return 0;
    char *end;
    long long n = strtoll(v, &end, 10);
    if (!*end) {
        *out = n;
        return 0;
    }
    return time_parse_iso(v, out);
}

static enum MHD_Result h_results(ctx_t *c)
{
    if (!c->h->hooks.results)
        return send_error(c, 503, "results are not available: storage is off");
    int64_t from = INT64_MIN, to = INT64_MAX, limit = 1000;
    if (parse_time_arg(c, "from", &from) < 0 || parse_time_arg(c, "to", &to) < 0)
        return send_error(c, 400, "from and to must be ms since the epoch or "
                          "ISO-8601 times");
    const char *l = arg(c, "limit");
    if (l) {
        char *end;
        limit = strtoll(l, &end, 10);
        if (*end || limit < 0)
            return send_error(c, 400, "limit must be a non-negative integer");
    }
    int csv = wants_csv(c);
    char *body = NULL;
    diag_t err;
    diag_clear(&err);
    int rc = c->h->hooks.results(c->h->hooks.ctx, c->name, from, to, limit, csv,
                                 &body, &err);
    if (rc != AE_OK)
        return send_error(c, rc, err.msg);
    return send_text(c, 200, csv ? "text/csv" : "application/json", body);
}

static enum MHD_Result h_sql(ctx_t *c)
{
    if (!c->h->hooks.sql)
        return send_error(c, 503, "ad hoc queries are not available");
    enum MHD_Result ret;
    json_t *o = body_object(c, &ret);
    if (!o)
        return ret;
    const char *sql;
    if (member_string(c, o, "sql", 1, &sql, &ret) < 0) {
        json_decref(o);
        return ret;
    }
    http_body_t *body = NULL;
    diag_t err;
    diag_clear(&err);
    if (wants_parquet(c)) {
        const char *ip = arg(c, "ip");
        int rc = AE_OK;
        if (ip && strcmp(ip, "text") != 0 && strcmp(ip, "binary") != 0) {
            diag_set(&err, "ip is text (addresses as text, the default) or "
                     "binary (16 bytes, IPv4 mapped into IPv6)");
            rc = AE_BAD;
        } else if (!parse_is_flows_select(sql, strlen(sql))) {
            diag_set(&err, "Parquet answers are for queries over the "
                     "archive (SELECT ... FROM flows without WINDOW); ask "
                     "the stored tables for JSON or CSV");
            rc = AE_BAD;
        } else {
            rc = pqexport_open(c->h->app, sql, ip && !strcmp(ip, "binary"),
                               &body, &err);
        }
        if (rc != AE_OK) {
            ret = send_diag(c, rc, &err, sql);
        } else {
            struct MHD_Response *r = MHD_create_response_from_callback(
                MHD_SIZE_UNKNOWN, 64 * 1024, body_read, body, body_free);
            MHD_add_response_header(r, "Content-Disposition",
                                    "attachment; filename=\"flows.parquet\"");
            ret = send_response(c, 200, "application/vnd.apache.parquet", r);
        }
        json_decref(o);
        return ret;
    }
    int csv = wants_csv(c);
    int rc = c->h->hooks.sql(c->h->hooks.ctx, sql, csv, &body, &err);
    if (rc != AE_OK)
        ret = send_diag(c, rc, &err, sql);
    else
        ret = send_body(c, 200, csv ? "text/csv" : "application/json", body);
    json_decref(o);
    return ret;
}

static enum MHD_Result h_replay(ctx_t *c)
{
    if (!c->h->hooks.replay)
        return send_error(c, 503, "replay is not available");
    enum MHD_Result ret;
    json_t *o = body_object(c, &ret);
    if (!o)
        return ret;
    const char *sql, *file;
    if (member_string(c, o, "sql", 1, &sql, &ret) < 0 ||
        member_string(c, o, "file", 1, &file, &ret) < 0) {
        json_decref(o);
        return ret;
    }
    char *body = NULL;
    diag_t err;
    diag_clear(&err);
    int rc = c->h->hooks.replay(c->h->hooks.ctx, sql, file, &body, &err);
    if (rc != AE_OK)
        ret = send_diag(c, rc, &err, sql);
    else
        ret = send_text(c, 200, "application/json", body);
    json_decref(o);
    return ret;
}

/* ---- jobs: history runs, IPFIX replays -------------------------------------- */

/* A number or a string member as a time (ms since the epoch, or text the
 * query language takes: '2026-12-03 13:00', ISO-8601); -1 after
 * answering 400. */
static int member_time(ctx_t *c, json_t *o, const char *key, int64_t *out,
                       enum MHD_Result *ret)
{
    json_t *v = json_object_get(o, key);
    char msg[200];
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return 0;
    }
    if (json_is_string(v) && time_parse_iso(json_string_value(v), out) == 0)
        return 0;
    snprintf(msg, sizeof(msg), "\"%s\" must be a time: ms since the epoch "
             "or an ISO-8601 text ('2026-12-03T13:00:00Z')", key);
    *ret = send_error(c, 400, msg);
    return -1;
}

static enum MHD_Result send_job(ctx_t *c, int status, uint64_t id,
                                const char *table)
{
    json_t *j = jobs_get(c->h->app->jobs, id);
    if (!j)
        j = json_object();
    if (table)
        json_object_set_new(j, "table", json_string(table));
    return send_json(c, status, j);
}

static enum MHD_Result h_history(ctx_t *c)
{
    enum MHD_Result ret;
    json_t *o = body_object(c, &ret);
    if (!o)
        return ret;
    int64_t from, until;
    const char *table;
    if (member_time(c, o, "from", &from, &ret) < 0 ||
        member_time(c, o, "until", &until, &ret) < 0 ||
        member_string(c, o, "table", 0, &table, &ret) < 0) {
        json_decref(o);
        return ret;
    }
    uint64_t id;
    char *tbl = NULL;
    diag_t err;
    diag_clear(&err);
    int rc = history_start(c->h->app, c->name, from, until, table, &id, &tbl,
                           &err);
    json_decref(o);
    if (rc != AE_OK)
        return send_error(c, rc, err.msg);
    ret = send_job(c, 202, id, tbl);
    free(tbl);
    return ret;
}

static enum MHD_Result h_archive_replay(ctx_t *c)
{
    enum MHD_Result ret;
    json_t *o = body_object(c, &ret);
    if (!o)
        return ret;
    sendjob_req_t r = {.speed = 1};
    if (member_string(c, o, "to", 1, &r.to, &ret) < 0 ||
        member_string(c, o, "flows", 0, &r.flows, &ret) < 0 ||
        member_string(c, o, "transport", 0, &r.transport, &ret) < 0) {
        json_decref(o);
        return ret;
    }
    json_t *sp = json_object_get(o, "speed"), *mtu = json_object_get(o, "mtu");
    if (json_is_string(sp) && strcmp(json_string_value(sp), "max") == 0)
        r.speed = 0;
    else if (json_is_number(sp) && json_number_value(sp) > 0)
        r.speed = json_number_value(sp);
    else if (sp && !json_is_null(sp)) {
        json_decref(o);
        return send_error(c, 400, "\"speed\" is a positive number (1: the "
                          "original pace, 10: ten times faster) or \"max\"");
    }
    if (json_is_integer(mtu))
        r.mtu = json_integer_value(mtu);
    else if (mtu && !json_is_null(mtu)) {
        json_decref(o);
        return send_error(c, 400, "\"mtu\" is a number of bytes");
    }
    uint64_t id;
    diag_t err;
    diag_clear(&err);
    int rc = sendjob_start(c->h->app, &r, &id, &err);
    if (rc != AE_OK) {
        ret = send_error(c, rc, err.msg);
        json_decref(o);
        return ret;
    }
    json_decref(o);
    return send_job(c, 202, id, NULL);
}

static int job_arg(ctx_t *c, uint64_t *id)
{
    char *end;
    unsigned long long v = strtoull(c->name, &end, 10);
    if (*end || !v)
        return -1;
    *id = v;
    return 0;
}

static enum MHD_Result h_jobs(ctx_t *c)
{
    return send_json(c, 200, jobs_list(c->h->app->jobs));
}

static enum MHD_Result h_job(ctx_t *c)
{
    uint64_t id;
    json_t *j = job_arg(c, &id) < 0 ? NULL : jobs_get(c->h->app->jobs, id);
    if (!j) {
        char msg[200];
        snprintf(msg, sizeof(msg), "no job %.100s", c->name);
        return send_error(c, 404, msg);
    }
    return send_json(c, 200, j);
}

static enum MHD_Result h_job_cancel(ctx_t *c)
{
    uint64_t id;
    int rc = job_arg(c, &id) < 0 ? -1 : jobs_cancel(c->h->app->jobs, id);
    if (rc < 0) {
        char msg[200];
        snprintf(msg, sizeof(msg), "no job %.100s", c->name);
        return send_error(c, 404, msg);
    }
    return send_job(c, 202, id, NULL);
}

/* ---- the web interface (web/, docs/WEB.md) ------------------------------------ */

/* GET / and GET /ui/{name}: a file embedded from web/, without the API
 * token (web_public). Revalidated on each use (no-cache with an ETag:
 * 304 when unchanged), so a rebuilt daemon's pages are never stale. The
 * pages' scripts and styles come from here only (the CSP), and the
 * pages are not to be framed by another site. */
static enum MHD_Result h_ui(ctx_t *c)
{
    const web_asset_t *f = web_find(c->name[0] ? c->name : "index.html");
    if (!f) {
        char msg[200];
        snprintf(msg, sizeof(msg), "no such file: /ui/%.100s", c->name);
        return send_error(c, 404, msg);
    }
    const char *inm = MHD_lookup_connection_value(c->conn, MHD_HEADER_KIND,
                                                  "If-None-Match");
    int same = inm && strcmp(inm, f->etag) == 0;
    struct MHD_Response *r = MHD_create_response_from_buffer(
        same ? 0 : f->len, same ? (void *)"" : (void *)f->data,
        MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(r, "Content-Type", f->type);
    MHD_add_response_header(r, "Cache-Control", "no-cache");
    MHD_add_response_header(r, "ETag", f->etag);
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(r, "Content-Security-Policy",
                            "default-src 'self'; img-src 'self' data: blob:; "
                            "object-src 'none'; base-uri 'none'; "
                            "frame-ancestors 'none'; form-action 'self'");
    enum MHD_Result ret = MHD_queue_response(c->conn, same ? 304 : 200, r);
    MHD_destroy_response(r);
    count(c->h, same ? 304 : 200);
    return ret;
}

/* ---- Server-Sent Events ---------------------------------------------------- */

typedef struct sse {
    http_t     *h;
    live_sub_t *sub;
    int         fd;         /* the client's socket, to notice it leave */
    sbuf_t      buf;
    size_t      off;
    int64_t     last_write;
    int         ended;
} sse_t;

/* Has the peer closed or reset the connection? (Stream clients send
 * nothing after their request.) */
static int client_gone(int fd)
{
    if (fd < 0)
        return 0;
    struct pollfd p = {.fd = fd, .events = POLLIN | POLLRDHUP};
    if (poll(&p, 1, 0) <= 0)
        return 0;
    return (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

static ssize_t sse_read(void *cls, uint64_t pos, char *out, size_t max)
{
    (void)pos;
    sse_t *s = cls;
    while (s->off >= s->buf.len) {
        if (s->ended || flag_get(&s->h->stopping))
            return MHD_CONTENT_READER_END_OF_STREAM;
        sbuf_free(&s->buf);
        s->off = 0;
        int ended;
        rowset_t *rs = live_next(s->h->app->live, s->sub, 1000, &ended);
        if (rs) {
            json_t *j = format_window(rs);
            char *txt = json_dumps_short(j, JSON_COMPACT);
            sbuf_printf(&s->buf, "event: window\nid: %llu\ndata: %s\n\n",
                        (unsigned long long)rs->seq, txt);
            free(txt);
            json_decref(j);
            rowset_unref(rs);
        } else if (ended) {
            sbuf_add(&s->buf, "event: end\ndata: {\"reason\":\"query dropped\"}\n\n");
            s->ended = 1;
        } else if (client_gone(s->fd)) {
            /* Gone: end now rather than at the next keepalive, so a
             * temporary query's idle clock starts at once. */
            return MHD_CONTENT_READER_END_OF_STREAM;
        } else if (time_mono_ms() - s->last_write >= SSE_KEEPALIVE_MS) {
            sbuf_add(&s->buf, ": keepalive\n\n");
        }
    }
    size_t n = s->buf.len - s->off;
    if (n > max)
        n = max;
    memcpy(out, s->buf.s + s->off, n);
    s->off += n;
    s->last_write = time_mono_ms();
    return (ssize_t)n;
}

static void sse_free(void *cls)
{
    sse_t *s = cls;
    live_unsubscribe(s->h->app->live, s->sub);
    sbuf_free(&s->buf);
    free(s);
}

static enum MHD_Result h_stream(ctx_t *c)
{
    qhandle_t *qh = engine_get(c->h->app->engine, c->name);
    if (!qh) {
        char msg[200];
        snprintf(msg, sizeof(msg), "no query named '%.100s'", c->name);
        return send_error(c, 404, msg);
    }
    live_sub_t *sub = live_subscribe(c->h->app->live, qh);
    qhandle_unref(qh);
    if (!sub) {
        char msg[120];
        snprintf(msg, sizeof(msg), "too many stream clients (at most %d)",
                 c->h->app->cfg.max_sse_clients);
        return send_error(c, 429, msg);
    }
    sse_t *s = xcalloc(1, sizeof(*s));
    s->h = c->h;
    s->sub = sub;
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
        c->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    s->fd = ci ? ci->connect_fd : -1;
    s->last_write = time_mono_ms();
    sbuf_printf(&s->buf, ": following %s\n\n", c->name);
    struct MHD_Response *r = MHD_create_response_from_callback(
        MHD_SIZE_UNKNOWN, 4096, sse_read, s, sse_free);
    MHD_add_response_header(r, "Content-Type", "text/event-stream");
    MHD_add_response_header(r, "Cache-Control", "no-store");
    enum MHD_Result ret = MHD_queue_response(c->conn, 200, r);
    MHD_destroy_response(r);
    count(c->h, 200);
    return ret;
}

/* ---- routing ------------------------------------------------------------------ */

static const struct route {
    const char *method, *pattern;
    handler_t   fn;
} routes[] = {
    {"GET", "/healthz", h_health},
    {"GET", "/metrics", h_metrics},
    {"GET", API "/healthz", h_health},
    {"GET", API "/metrics", h_metrics},
    {"GET", API "/queries", h_list},
    {"POST", API "/queries", h_create},
    {"GET", API "/queries/{name}", h_get},
    {"DELETE", API "/queries/{name}", h_drop},
    {"GET", API "/queries/{name}/results", h_results},
    {"GET", API "/queries/{name}/stream", h_stream},
    {"POST", API "/sql", h_sql},
    {"POST", API "/explain", h_explain},
    {"POST", API "/replay", h_replay},
    {"POST", API "/queries/{name}/history", h_history},
    {"POST", API "/archive/replay", h_archive_replay},
    {"GET", API "/jobs", h_jobs},
    {"GET", API "/jobs/{name}", h_job},
    {"DELETE", API "/jobs/{name}", h_job_cancel},
    {"GET", "/", h_ui},
    {"GET", "/ui/{name}", h_ui},
    /* HEAD as GET (libmicrohttpd sends no body): link checkers and
     * uptime probes ask the page with HEAD */
    {"HEAD", "/", h_ui},
    {"HEAD", "/ui/{name}", h_ui},
};
#define NROUTES (int)(sizeof(routes) / sizeof(routes[0]))

int http_route(int i, const char **method, const char **pattern)
{
    if (i < 0 || i >= NROUTES)
        return -1;
    *method = routes[i].method;
    *pattern = routes[i].pattern;
    return 0;
}

/* Match url against a pattern; {name} takes one segment (copied to
 * name, at most 127 bytes). */
static int match(const char *pat, const char *url, char *name, size_t nsize)
{
    while (*pat && *url) {
        if (strncmp(pat, "{name}", 6) == 0) {
            size_t n = strcspn(url, "/");
            if (n == 0 || n >= nsize)
                return 0;
            memcpy(name, url, n);
            name[n] = 0;
            url += n;
            pat += 6;
            continue;
        }
        if (*pat++ != *url++)
            return 0;
    }
    return *pat == 0 && *url == 0;
}

typedef struct next_key {
    const char *after, *next;
} next_key_t;

static enum MHD_Result find_next_key(void *cls, enum MHD_ValueKind kind,
                                     const char *key, size_t klen,
                                     const char *value, size_t vlen)
{
    (void)kind;
    (void)klen;
    (void)value;
    (void)vlen;
    next_key_t *k = cls;
    if (key > k->after && (!k->next || key < k->next))
        k->next = key;
    return MHD_YES;
}

/* Does the header value [v, v + n) end where its line ends? libmicrohttpd
 * 0.9 reads a header line up to its CR LF but hands it over as a C
 * string, so "Bearer TOKEN\0junk" arrives as "Bearer TOKEN". Its values
 * point into the request head it read (which starts at method and is
 * MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE bytes long): between the end
 * of this value and the next header's name (or the end of the head)
 * there may only be what it wrote there (NULs over CR LF) and blanks.
 * Anything else was hidden behind a NUL. If the value is not inside the
 * head (another libmicrohttpd), nothing can be hidden that way. */
static int header_whole(struct MHD_Connection *conn, const char *method,
                        const char *v, size_t n)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
        conn, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
    if (!ci || !method)
        return 1;
    const char *head_end = method + ci->header_size;
    if (v < method || v + n > head_end)
        return 1;
    next_key_t k = {.after = v, .next = NULL};
    MHD_get_connection_values_n(conn, MHD_HEADER_KIND, find_next_key, &k);
    const char *end = k.next && k.next < head_end ? k.next : head_end;
    for (const char *p = v + n; p < end; p++)
        if (*p != 0 && *p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
            return 0;
    return 1;
}

/* May this request act? A browser sends Origin with every POST, and with
 * every cross-origin request; a page of another site must not create,
 * drop or replay anything here (CSRF: by default flowsqld listens on
 * loopback without a token, and a form or a no-cors fetch with a
 * text/plain body needs no preflight). So a request other than GET and
 * HEAD that carries an Origin is refused unless that Origin's host and
 * port are this request's Host (or X-Forwarded-Host, behind a proxy):
 * the web interface's own requests, and every client that sends no
 * Origin (curl, the shell), pass. docs/WEB.md, "The token". */
static int origin_ok(struct MHD_Connection *conn, const char *method)
{
    if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0)
        return 1;
    const char *o = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin");
    if (!o)
        return 1;
    const char *p = strstr(o, "://");
    if (!p)
        return 0;                 /* "null": a sandboxed page, a file: URL */
    p += 3;
    const char *host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Host");
    const char *fwd = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                  "X-Forwarded-Host");
    return (host && strcasecmp(p, host) == 0) || (fwd && strcasecmp(p, fwd) == 0);
}

/* Is the request's Authorization header "Bearer <our token>"? The
 * scheme is matched without regard to case (RFC 7235: "bearer" is as
 * good as "Bearer"), blanks after it are skipped, and the token is
 * compared over the header's full length in constant time, so a NUL
 * inside the header (which would end a C string early) never matches. */
static int token_ok(http_t *h, struct MHD_Connection *conn,
                    const char *method)
{
    const char *tok = h->app->cfg.api_token;
    if (!tok || !*tok)
        return 1;
    const char *auth = NULL;
    size_t alen = 0;
    if (MHD_lookup_connection_value_n(conn, MHD_HEADER_KIND, "Authorization",
                                      13, &auth, &alen) != MHD_YES || !auth ||
        !header_whole(conn, method, auth, alen))
        return 0;
    if (alen < 7 || strncasecmp(auth, "Bearer", 6) != 0 ||
        (auth[6] != ' ' && auth[6] != '\t'))
        return 0;
    size_t i = 6;
    while (i < alen && (auth[i] == ' ' || auth[i] == '\t'))
        i++;
    const char *got = auth + i;
    size_t n = strlen(tok), m = alen - i;
    unsigned char diff = (unsigned char)(n != m);
    for (size_t k = 0; k < n; k++)
        diff |= (unsigned char)(tok[k] ^ (k < m ? got[k] : 0));
    return diff == 0;
}

/* --health-open: is this a GET of /healthz (or /api/v1/healthz), which
 * then answers without the token? */
static int health_open(http_t *h, const char *url, const char *method)
{
    return strcmp(h->app->cfg.health_open, "on") == 0 &&
           strcmp(method, "GET") == 0 &&
           (strcmp(url, "/healthz") == 0 || strcmp(url, API "/healthz") == 0);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    (void)version;
    http_t *h = cls;
    req_t *rq = *con_cls;
    if (!rq) {
        rq = xcalloc(1, sizeof(*rq));
        *con_cls = rq;
        return MHD_YES;
    }
    if (*upload_size) {
        if (!rq->too_large) {
            if (rq->body.len + *upload_size > (size_t)h->app->cfg.max_body) {
                rq->too_large = 1;
                sbuf_free(&rq->body);
            } else {
                sbuf_addn(&rq->body, upload, *upload_size);
            }
        }
        *upload_size = 0;
        return MHD_YES;
    }
    conn_waiting(h, conn, 0);
    char name[128] = "";
    ctx_t c = {.h = h, .conn = conn, .req = rq, .name = name};
    if (!web_public(url) && !token_ok(h, conn, method) &&
        !(c.anon = health_open(h, url, method))) {
        struct MHD_Response *r;
        char *body = xstrdup("{\"error\":\"missing or wrong API token\"}\n");
        r = MHD_create_response_from_buffer(strlen(body), body,
                                            MHD_RESPMEM_MUST_FREE);
        MHD_add_response_header(r, "Content-Type", "application/json");
        MHD_add_response_header(r, "WWW-Authenticate", "Bearer");
        enum MHD_Result ret = MHD_queue_response(conn, 401, r);
        MHD_destroy_response(r);
        count(h, 401);
        return ret;
    }
    if (!origin_ok(conn, method)) {
        char msg[300];
        const char *o = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin");
        const char *host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Host");
        snprintf(msg, sizeof(msg), "cross-origin %s refused: Origin %.100s is not "
                 "this daemon (Host %.100s)", method, o, host ? host : "none");
        return send_error(&c, 403, msg);
    }
    if (rq->too_large) {
        char msg[120];
        snprintf(msg, sizeof(msg), "request body too large (at most %lld bytes)",
                 (long long)h->app->cfg.max_body);
        return send_error(&c, 413, msg);
    }
    int path_known = 0;
    char allow[64] = "";
    for (int i = 0; i < NROUTES; i++) {
        if (!match(routes[i].pattern, url, name, sizeof(name)))
            continue;
        path_known = 1;
        if (strcmp(routes[i].method, method) == 0)
            return routes[i].fn(&c);
        if (strlen(allow) + strlen(routes[i].method) + 3 < sizeof(allow)) {
            if (*allow)
                strcat(allow, ", ");
            strcat(allow, routes[i].method);
        }
    }
    if (path_known) {
        char *body = xstrdup("{\"error\":\"method not allowed\"}\n");
        struct MHD_Response *r = MHD_create_response_from_buffer(
            strlen(body), body, MHD_RESPMEM_MUST_FREE);
        MHD_add_response_header(r, "Content-Type", "application/json");
        MHD_add_response_header(r, "Allow", allow);
        enum MHD_Result ret = MHD_queue_response(conn, 405, r);
        MHD_destroy_response(r);
        count(h, 405);
        return ret;
    }
    char msg[200];
    snprintf(msg, sizeof(msg), "no such endpoint: %.100s", url);
    return send_error(&c, 404, msg);
}

static void on_completed(void *cls, struct MHD_Connection *conn,
                         void **con_cls, enum MHD_RequestTerminationCode toe)
{
    http_t *h = cls;
    /* libmicrohttpd's CONNECTION_TIMEOUT: a client that took nothing of
     * its answer for that long (a stalled stream reader: its socket
     * buffers are full). Idle and slow requests are cut by the reaper
     * long before, so this counts stalled readers. */
    if (toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED)
        ctr_inc(&h->cut_stalled);
    conn_waiting(cls, conn, 1);
    req_t *rq = *con_cls;
    if (rq) {
        sbuf_free(&rq->body);
        free(rq);
        *con_cls = NULL;
    }
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char buf[512];
    vsnprintf(buf, sizeof(buf), fmt, ap);
    size_t n = strlen(buf);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = 0;
    log_debug("http", "%s", buf);
}

/* Parse "addr:port" or "[v6]:port" and bind a listening socket. */
static int listen_on(const char *spec, diag_t *err)
{
    char host[128];
    const char *port_s;
    if (spec[0] == '[') {
        const char *e = strchr(spec, ']');
        if (!e || e[1] != ':' || (size_t)(e - spec - 1) >= sizeof(host)) {
            diag_set(err, "--http: '%s' is not [address]:port", spec);
            return -1;
        }
        memcpy(host, spec + 1, (size_t)(e - spec - 1));
        host[e - spec - 1] = 0;
        port_s = e + 2;
    } else {
        const char *colon = strrchr(spec, ':');
        if (!colon || (size_t)(colon - spec) >= sizeof(host)) {
            diag_set(err, "--http: '%s' is not address:port", spec);
            return -1;
        }
        memcpy(host, spec, (size_t)(colon - spec));
        host[colon - spec] = 0;
        port_s = colon + 1;
    }
    char *end;
    long port = strtol(port_s, &end, 10);
    if (*end || port < 0 || port > 65535) {
        diag_set(err, "--http: bad port in '%s'", spec);
        return -1;
    }
    struct sockaddr_storage ss;
    socklen_t sl;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        sl = sizeof(*s4);
    } else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        sl = sizeof(*s6);
    } else {
        diag_set(err, "--http: '%s' is not an IP address", host);
        return -1;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0) {
        diag_set(err, "socket: %s", strerror(errno));
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, 128) < 0) {
        diag_set(err, "cannot listen for HTTP on %s: %s", spec, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

http_t *http_start(app_t *app, diag_t *err)
{
    int fd = listen_on(app->cfg.http, err);
    if (fd < 0)
        return NULL;
    http_t *h = xcalloc(1, sizeof(*h));
    h->app = app;
    h->fd = fd;
    live_set_queue_bytes(app->live, app->cfg.sse_queue_bytes);
    pthread_mutex_init(&h->conn_lock, NULL);
    pthread_cond_init(&h->reaper_wake, NULL);
    /* whole seconds, at least one */
    unsigned stall_s = (unsigned)((app->cfg.http_stall_timeout_ms + 999) / 1000);
    if (stall_s == 0)
        stall_s = 1;
    h->mhd = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
            MHD_USE_ERROR_LOG,
        0, NULL, NULL, on_request, h,
        MHD_OPTION_LISTEN_SOCKET, fd,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONN_LIMIT,
        MHD_OPTION_CONNECTION_TIMEOUT, stall_s,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, h,
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, h,
        MHD_OPTION_END);
    if (!h->mhd) {
        diag_set(err, "cannot start the HTTP server on %s", app->cfg.http);
        close(fd);
        pthread_cond_destroy(&h->reaper_wake);
        pthread_mutex_destroy(&h->conn_lock);
        free(h);
        return NULL;
    }
    if (pthread_create(&h->reaper, NULL, reaper_main, h) == 0)
        h->reaper_started = 1;
    else
        log_warn("http", "no thread to cut slow requests: %s", strerror(errno));
    log_info("http", "REST API on http://%s/api/v1", app->cfg.http);
    return h;
}

void http_set_hooks(http_t *h, const http_hooks_t *hooks)
{
    h->hooks = *hooks;
}

void http_stop(http_t *h)
{
    if (!h)
        return;
    flag_set(&h->stopping, 1);
    if (h->reaper_started) {
        pthread_mutex_lock(&h->conn_lock);
        flag_set(&h->reaper_stop, 1);
        pthread_cond_signal(&h->reaper_wake);
        pthread_mutex_unlock(&h->conn_lock);
        pthread_join(h->reaper, NULL);
    }
    MHD_stop_daemon(h->mhd);   /* closes the listening socket too */
    pthread_cond_destroy(&h->reaper_wake);
    pthread_mutex_destroy(&h->conn_lock);
    free(h);
}
