/*
 * store_int.h - what the files of storage/ share: the store itself, the
 * in-memory catalog, counters. Not for use outside storage/.
 *
 *   store.c    open/close, schema, catalog API, stats
 *   writer.c   the output, the writer thread, retention and the size cap
 *   adhoc.c    read-only connections, the authorizer, limits, results
 *   sqlfunc.c  helper SQL functions (ip, ip_text, ip_in, iso, ...)
 *
 * Locks, outermost first; never take one while holding a later one:
 *   wlock      the write connection and the catalog entries; held by the
 *              writer for one window transaction or one delete batch, and
 *              by catalog calls
 *   cat_lock   also held to change the list of entries or their name,
 *              state and options, so that listing them needs only this
 *   names_lock the names on_window() checks (held for a few strcmps)
 *   ad_lock    the pool of ad hoc connections
 *   err_lock   last_error
 */
#ifndef FLOWSQL_STORE_INT_H
#define FLOWSQL_STORE_INT_H

#include <pthread.h>
#include <sqlite3.h>

#include "storage/store.h"
#include "util/bqueue.h"
#include "util/counter.h"
#include "util/sbuf.h"

#define STORE_MAX_STATE 31

/* One registered query, as the writer sees it. Everything but the
 * statement handles and the writer's bookkeeping lives in its arena. */
typedef struct sq_query {
    arena_t      *arena;
    char         *name, *text, *state, *opts_json;
    rowset_opt_t *opts;
    int           nopts;
    rowset_col_t *cols;
    int           ncols;
    int           stored;
    int64_t       created, updated;
    int64_t       ret_ms, ret_windows;
    sqlite3_stmt *ins;           /* INSERT into its table, prepared lazily */
    /* writer bookkeeping (under wlock) */
    int64_t       newest_end;    /* latest window_end stored */
    int64_t       nwindows;      /* windows listed in flowsql_windows */
    int           ret_check;     /* retention may have work to do */
} sq_query_t;

/* Counters (util/counter.h): written by the writer, the engine thread and
 * the ad hoc callers, read by store_stats() on an HTTP thread. */
typedef struct sq_counters {
    counter_t windows_written, rows_written;
    counter_t windows_dropped, rows_dropped;
    counter_t windows_failed, rows_failed;
    counter_t windows_ignored;
    gauge_t   queue_rows;
    gauge_t   lag_ms, write_ms, writer_cpu_ms;
    counter_t retention_windows, retention_rows;
    counter_t evicted_windows, evicted_rows;
    gauge_t   used_bytes;
    counter_t adhoc_queries, adhoc_refused, adhoc_timeouts, adhoc_errors;
} sq_counters_t;

typedef struct adhoc_conn adhoc_conn_t;

struct store {
    store_config_t   cfg;          /* defaults resolved */
    char            *path;
    int              lock_fd;

    pthread_mutex_t  wlock;
    pthread_mutex_t  cat_lock;
    sqlite3         *wdb;
    sq_query_t     **q;
    int              nq, capq;
    sqlite3_stmt    *st_size;      /* page_count, freelist_count */
    int              maint_rr;     /* retention goes round the queries */
    int              evicting;     /* above the size cap, going down */
    char             evict_tbl[160]; /* window being evicted, or "" */
    int64_t          evict_ws;

    pthread_mutex_t  names_lock;
    char           **names;        /* stored queries, for on_window */
    int              nnames;

    bqueue_t         queue;
    pthread_t        thread;
    flag_t           running;      /* the writer goes on while set */
    output_t         output;

    pthread_mutex_t  flush_lock;
    pthread_cond_t   flush_cond;
    uint64_t         flush_req, flush_done;

    sq_counters_t    ctr;
    pthread_mutex_t  err_lock;
    char             last_error[256];

    pthread_mutex_t  ad_lock;
    adhoc_conn_t   **idle;
    int              nidle, ad_running;
};

/* store.c */
sq_query_t *sq_find(store_t *s, const char *name);       /* under wlock */
void        sq_names_rebuild(store_t *s);                 /* under wlock */
void        sq_set_error(store_t *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int         sq_exec(sqlite3 *db, const char *sql, diag_t *err);
void        sq_quote(sbuf_t *b, const char *ident);
int         sq_valid_name(const char *name);

/* The table holding the rows behind the view users query as name. */
#define SQ_DATA_NAME 224
void        sq_data_name(char *buf, size_t size, const char *name);

/* writer.c */
int   writer_start(store_t *s, diag_t *err);
void  writer_stop(store_t *s);
void  writer_forget(store_t *s, sq_query_t *q);          /* under wlock */
int   writer_table_ddl(store_t *s, sq_query_t *q, const char *name,
                       diag_t *err);                      /* under wlock */
int   writer_view_ddl(store_t *s, const char *name, diag_t *err);
int   writer_table_drop(store_t *s, const char *name, diag_t *err);
void  writer_load_state(store_t *s, sq_query_t *q);       /* under wlock */
void  writer_update_size(store_t *s);                      /* under wlock */

/* adhoc.c */
void  adhoc_close_all(store_t *s);

/* flowvtab.c: the archive as the eponymous table `flows` of an ad hoc
 * connection. env (kept by the caller as long as db) says where the
 * archive is and gives the connection's deadline (time_mono_ms, 0 none)
 * and its timed-out flag. */
typedef struct flowvtab_env {
    const char    *dir;
    const int64_t *deadline;
    int           *timed_out;
} flowvtab_env_t;
int   flowvtab_register(sqlite3 *db, const flowvtab_env_t *env);

/* sqlfunc.c: register the helper functions on a connection. */
int   sqlfunc_register(sqlite3 *db);

#endif
