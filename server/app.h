/*
 * app.h - the daemon's parts and the operations every interface shares.
 *
 * REST, saved query files and SIGHUP all go through app_query_create()
 * and app_query_drop(), so a query behaves the same whoever registered
 * it. The engine thread owns the engine; the HTTP threads and the signal
 * loop only call the engine's thread-safe registry functions. The app
 * keeps no list of queries: the engine's registry of handles
 * (engine/qhandle.h) is the one list, with who registered each query in
 * the handle (origin: enum query_source, path, created_ms).
 */
#ifndef FLOWSQL_APP_H
#define FLOWSQL_APP_H

#include <jansson.h>
#include <pthread.h>

#include "archive/archive.h"
#include "ingest/meter.h"
#include "ingest/sampling.h"
#include "engine/engine.h"
#include "server/config.h"
#include "storage/store.h"
#include "server/live.h"
#include "util/bqueue.h"
#include "util/counter.h"
#include "util/sbuf.h"

/* Where a query came from (qhandle_t.origin). */
enum query_source { SRC_API, SRC_FILE, SRC_TEMPORARY, SRC_CATALOG };

/* Error classes, for HTTP status codes. */
enum app_err { AE_OK = 0, AE_UNCHANGED = 200, AE_BAD = 400, AE_NOTFOUND = 404, AE_EXISTS = 409,
               AE_LIMIT = 429, AE_INTERNAL = 500 };

typedef struct app {
    config_t         cfg;
    engine_t        *engine;
    live_t          *live;
    bqueue_t         flows;       /* batches from the collectors */
    int              queue_batches; /* its capacity (--queue-flows) */
    pthread_t        engine_thr;
    int              engine_running;
    flag_t           stop;        /* the engine thread ends when set */
    pthread_mutex_t  qlock;       /* one registration or drop at a time:
                                     the engine's registry and the store's
                                     catalog change together */
    int64_t          started_ms;
    uint64_t         temp_seq;
    store_t         *store;       /* NULL: windows are not stored */
    struct jobs     *jobs;        /* background jobs: history, replay */
    sampling_t      *sampling;    /* configured rates, renormalization:
                                     applied to every batch from the
                                     collectors, --read and replays */
    struct anon     *anon;        /* --anonymize, or NULL */
    meter_config_t   meter_cfg;   /* the meter of packet captures
                                     (--pcap-*), checked by app_init */
    unsigned         anon_scope;  /* ANON_* (enrich/anon.h) */
    archive_t       *archive;     /* NULL: flows are not archived; else
                                     the engine thread hands each batch
                                     it processed to it (set before
                                     app_start) */
    /* batches go back to whoever made them (under release_lock, so the
     * collectors can be stopped while the engine still works) */
    /* --flows-topic (docs/SCALE_OUT.md): each batch as the engine takes
     * it, after sampling and anonymization of the flows; set before
     * app_start, called on the engine thread, must not keep the batch */
    void           (*publish)(void *ctx, const flow_batch_t *b);
    /* and at each tick, the clock the engine closes windows by */
    void           (*publish_tick)(void *ctx, int64_t clock_ms);
    void            *publish_ctx;
    pthread_mutex_t  release_lock;
    void           (*release)(void *ctx, flow_batch_t *b);
    void            *release_ctx;
} app_t;

int  app_init(app_t *a, const config_t *cfg, diag_t *err);
/* The meter's settings from the --pcap-* options; -1 with err when one
 * is wrong. */
int  app_meter_config(const config_t *cfg, meter_config_t *mc, diag_t *err);
/* The engine's threads from --engine-threads ("auto": 2 when the process
 * may run on 2 CPUs or more, else 1); -1 with err when it is wrong. */
int  app_engine_threads(const config_t *cfg, diag_t *err);
/* o, or o behind the anonymizer when --anonymize-scope names scope (an
 * ANON_* bit) and not all (then the flows themselves are anonymized). */
output_t *app_anon_output(app_t *a, output_t *o, unsigned scope);
int  app_start(app_t *a, diag_t *err);
/* Set (or, with fn NULL, clear) where processed batches go back to; with
 * none, the engine thread frees them. Safe while the engine runs. */
void app_set_release(app_t *a, void (*fn)(void *ctx, flow_batch_t *b),
                     void *ctx);
/* Stop the engine thread: drain the queue, close every window as it
 * stands (engine_finish), so the partial windows reach the outputs. */
void app_stop(app_t *a);
void app_free(app_t *a);

/* Register a query. sql is a CREATE QUERY statement, or a SELECT with a
 * name (options: a JSON object of WITH options, or NULL). Temporary
 * queries get a fresh name and are not stored. On success *out_name is
 * the query's name (malloc'ed) and explain holds its plan. Returns
 * AE_OK, AE_UNCHANGED (CREATE QUERY IF NOT EXISTS of an existing name:
 * *out_name is set, nothing changed), or an error class with err set
 * (with a position in sql for statement errors). Names follow the one
 * rule of engine/qhandle.h: a name running in any case is AE_EXISTS.
 * The statement is compiled once (a SELECT is parsed alone first, to
 * know its kind). */
int  app_query_create(app_t *a, const char *name, const char *sql,
                      json_t *options, int source, const char *path,
                      char **out_name, sbuf_t *explain, diag_t *err);
int  app_query_drop(app_t *a, const char *name, int keep_data, diag_t *err);

/* JSON descriptions: the list, or one query with plan and counters
 * (read from the handle: nothing is compiled). */
json_t *app_query_list(app_t *a);
json_t *app_query_get(app_t *a, const char *name);

/* EXPLAIN without registering anything; EXPLAIN ANALYZE runs the query
 * over the archive (discarding its rows) and adds what it read. */
int  app_explain(app_t *a, const char *sql, sbuf_t *out, diag_t *err);

/* Start a query over the archive (a SELECT FROM flows without WINDOW, or
 * EXPLAIN ANALYZE of one) with the daemon's limits
 * (--archive-query-timeout, max_rows; the archive under DATA/archive,
 * read even with --archive off). AE_OK with *out, or an AE_* class with
 * err set. */
struct aquery;
int  app_archive_open(app_t *a, const char *sql, int64_t max_rows,
                      struct aquery **out, diag_t *err);

/* Load (or, on SIGHUP, reload) the saved query directory: new files are
 * registered, changed ones re-registered, removed ones dropped. Errors in
 * one file are logged and do not stop the others. Returns the number of
 * files that failed. */
int  app_load_saved(app_t *a);

/* Register the catalog's queries that are not registered yet (queries
 * made through the API before a restart). File queries whose file is
 * gone stay dropped (their tables are kept). Returns the failures. */
int  app_resume_catalog(app_t *a);

/* Drop temporary queries nobody has followed for idle_ms. */
void app_reap_temporary(app_t *a, int64_t idle_ms);

#endif
