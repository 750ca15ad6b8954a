/*
 * store.h - the SQLite store: the catalog of registered queries, one
 * rolling result table per query, and read-only ad hoc SQL over them.
 *
 *   engine --on_window--> [bounded queue] --> writer thread --> flowsql.db
 *   REST / shell --store_adhoc--> read-only connection (pool) --^
 *
 * Threads: every function here may be called from any thread, except
 * that store_close() must not race with anything else on the same store.
 * The engine only ever calls the output's on_window(), which never waits
 * on the disk: a window that does not fit in the queue is dropped and
 * counted. Catalog calls wait for at most the window being written.
 *
 * Ownership: the store copies what it is given. Lists and results it
 * returns are owned by the caller and freed with their _free function
 * (NULL is fine there).
 *
 * Errors: functions return 0 on success or one of the negative STORE_E*
 * codes, with a message for the user in the diag_t (which may be NULL
 * when the caller does not want it). docs/STORAGE.md has the layout.
 */
#ifndef FLOWSQL_STORE_H
#define FLOWSQL_STORE_H

#include <stdint.h>

#include "engine/rowset.h"
#include "engine/types.h"
#include "util/arena.h"
#include "util/diag.h"

enum store_err {
    STORE_OK = 0,
    STORE_EINVALID = -1,     /* bad argument, bad SQL, bad option */
    STORE_EEXIST = -2,       /* query already registered */
    STORE_ENOTFOUND = -3,    /* no such query or table */
    STORE_EREFUSED = -4,     /* ad hoc statement not allowed */
    STORE_ETIMEOUT = -5,     /* ad hoc time limit reached */
    STORE_EBUSY = -6,        /* too many ad hoc queries at once; db locked */
    STORE_EIO = -7,          /* SQLite or the file system failed */
};

typedef struct store store_t;

/* Configuration. A zero field means "the default" (in brackets); where a
 * limit can be switched off, -1 does that (for max_bytes, 0 does too). */
typedef struct store_config {
    const char *path;              /* ["data/flowsql.db"] */
    int64_t  default_retention_ms; /* queries without WITH retention [7d] */
    int64_t  max_bytes;            /* size cap [none] */
    int      queue_windows;        /* windows waiting for the writer [1024] */
    int64_t  queue_rows;           /* rows waiting for the writer [4M] */
    int      delete_batch;         /* rows per retention DELETE [10000] */
    int      cache_mb;             /* writer page cache [256] */
    int      busy_timeout_ms;      /* waiting on another process's lock
                                      before a window fails [5000] */
    int64_t  adhoc_time_ms;        /* ad hoc time limit, -1 none [5000] */
    int64_t  adhoc_max_rows;       /* ad hoc row limit, -1 none [100000] */
    int      adhoc_max_running;    /* ad hoc queries at once [4] */
    const char *archive_dir;       /* the raw-flow archive, the table
                                      `flows` of ad hoc SQL [none] */
} store_config_t;

/* Open (creating on first start) the database at cfg->path (cfg may be
 * NULL for all defaults): creates the directory if missing, checks that
 * it is writable, sets WAL mode, creates or checks the catalog, loads the
 * registered queries and starts the writer thread. Only one process may
 * have a database open (a lock file beside it says so). NULL and err set
 * (with a message naming the path and the reason) on failure. */
store_t *store_open(const store_config_t *cfg, diag_t *err);

/* Stop accepting windows, write every window already queued, finish
 * the writer, close all connections and free the store. NULL is fine. */
void store_close(store_t *s);

/* Wait until every window queued before the call is written and the
 * retention and size-cap work it caused is done. 0, or STORE_ETIMEOUT
 * after timeout_ms (-1: no limit). For tests and orderly shutdown; never
 * call it from the engine thread. */
int store_flush(store_t *s, int timeout_ms);

/* ---- the catalog ------------------------------------------------------ */

/* A query to register. name follows the query-name rule
 * ([A-Za-z][A-Za-z0-9_]{0,62}, not sqlite_*, flowsql_*, flows; names are
 * compared without case, as SQLite does for tables, and kept in lower
 * case: engine/qhandle.h has the one rule). text is the
 * statement that recreates it (CREATE QUERY ... AS SELECT ...), stored
 * verbatim. opts are its WITH options; the store reads "retention"
 * (a duration such as '24h', or a number of windows) and "store" (false:
 * no table, windows are not kept). cols are the result columns (the
 * plan's; rowset_col_t as the engine fills it); needed unless store is
 * false. state defaults to "running". */
typedef struct store_query_def {
    const char         *name;
    const char         *text;
    const rowset_opt_t *opts;
    int                 nopts;
    const rowset_col_t *cols;
    int                 ncols;
    const char         *state;
} store_query_def_t;

/* Register a query: one transaction adds it to the catalog and creates
 * its rows table and the view named after it, synced to disk before
 * returning. If a table
 * of that name is left from an earlier query (DROP ... KEEP DATA):
 * with the same columns it is taken over and new windows append to it;
 * with different columns it is renamed flowsql_archive_<name>_<ms> and
 * kept (see docs/STORAGE.md), and a new table is made.
 * STORE_EEXIST if registered, STORE_EINVALID for a bad name, option or
 * column list. */
int store_query_add(store_t *s, const store_query_def_t *def, diag_t *err);

/* Drop a query from the catalog. keep_data: leave its table (no longer
 * trimmed by retention; still subject to the size cap); otherwise drop
 * the table. name may also be a table left by an earlier KEEP DATA or an
 * archive (flowsql_archive_*): with keep_data 0 that table is dropped.
 * STORE_ENOTFOUND if there is nothing of that name. Windows of the query
 * still queued are discarded. */
int store_query_remove(store_t *s, const char *name, int keep_data,
                       diag_t *err);

/* Set the kind of a table in flowsql_tables ("result" when made; a
 * history run marks its table "history"). STORE_ENOTFOUND if there is
 * no table of that name. */
int store_table_set_kind(store_t *s, const char *name, const char *kind,
                         diag_t *err);

/* Record a query's state (a short word chosen by the daemon, such as
 * "running", "paused", "failed"; at most 31 characters). */
int store_query_set_state(store_t *s, const char *name, const char *state,
                          diag_t *err);

typedef struct store_query {
    const char   *name, *text, *state;
    rowset_opt_t *opts;
    int           nopts;
    rowset_col_t *cols;          /* as registered; none if not stored */
    int           ncols;
    int64_t       created, updated;  /* ms since the epoch */
    int64_t       retention_ms;      /* the one in force, or 0 */
    int64_t       retention_windows; /* or 0 */
    int           stored;            /* has a result table */
} store_query_t;

typedef struct store_query_list {
    arena_t       *arena;
    int            n;
    store_query_t *q;            /* in order of registration */
} store_query_list_t;

/* A snapshot of the catalog (for resuming queries at start, and for
 * SHOW QUERIES). Free with store_query_list_free. Never fails. */
store_query_list_t *store_query_list(store_t *s);
void store_query_list_free(store_query_list_t *l);

/* ---- windows in -------------------------------------------------------- */

/* The writer as an engine output. on_window() takes a reference to the
 * rowset and queues it, or drops and counts it when the queue is full
 * (by windows or by rows); windows of queries not registered here, or
 * registered with store = false, are ignored, and so are those whose
 * query (rs->qh, engine/qhandle.h) was dropped while they waited, even
 * if a query of that name was registered again since. It never waits on the
 * disk. The output lives as long as the store. */
output_t *store_output(store_t *s);

/* ---- ad hoc SQL -------------------------------------------------------- */

/* Limits for one ad hoc query; 0 takes the store's configured default,
 * -1 means none. */
typedef struct store_limits {
    int64_t time_ms;
    int64_t max_rows;
} store_limits_t;

/* A result value. SQLite values come back by their storage class, made
 * more precise where the column says more: a 16-byte blob is an address
 * (the store keeps no other blobs), an integer in a column declared TIME
 * is a time, DURATION a duration, BOOLEAN a boolean. */
typedef enum store_vtype {
    SV_NULL, SV_INT, SV_FLOAT, SV_TEXT, SV_BLOB,
    SV_BOOL, SV_IP, SV_TIME, SV_DURATION,
} store_vtype_t;

typedef struct store_value {
    store_vtype_t t;
    uint32_t      len;           /* bytes of TEXT (without NUL) and BLOB */
    union {
        int64_t     i;           /* INT BOOL TIME DURATION */
        double      f;
        const char *s;           /* TEXT (NUL-terminated) and BLOB */
        ipaddr_t    ip;
    } v;
} store_value_t;

typedef struct store_result {
    arena_t        *arena;
    int             ncols;
    const char    **names;       /* column names */
    const char    **decltypes;   /* declared type, or NULL (expressions) */
    type_t         *types;       /* flowsql type of the declared type,
                                    TYPE_NONE when unknown */
    uint64_t        nrows;
    store_value_t  *cells;       /* nrows * ncols, row-major */
    int             truncated;   /* row limit reached: more rows exist */
    int64_t         elapsed_ms;
} store_result_t;

static inline const store_value_t *
store_result_cell(const store_result_t *r, uint64_t row, int col)
{
    return r->cells + row * (uint64_t)r->ncols + (uint64_t)col;
}

/* Run one read-only statement (SQLite's SQL) over the stored tables on a
 * read-only connection with the helper functions (docs/STORAGE.md).
 * Writes, ATTACH/DETACH, PRAGMAs that change anything, transactions,
 * load_extension and more than one statement are refused with
 * STORE_EREFUSED and a message saying what was refused. The time limit
 * gives STORE_ETIMEOUT ("query interrupted: time limit of N ms
 * reached"); the row limit stops reading and sets truncated. limits may
 * be NULL (configured defaults). On success *out is the result. */
int store_adhoc(store_t *s, const char *sql, const store_limits_t *limits,
                store_result_t **out, diag_t *err);

/* ---- ad hoc results a row at a time ----------------------------------- */

/* A statement being read, for answers too large to hold whole: it keeps
 * its pooled connection (and so counts against adhoc_max_running) until
 * store_cursor_close(). The time limit runs from the open to the close,
 * so it covers what the caller does between rows too. */
typedef struct store_cursor store_cursor_t;

/* Check and prepare sql as store_adhoc() does, with the same refusals
 * and errors. 0 with *out set, or a STORE_E* code with err set. */
int store_cursor_open(store_t *s, const char *sql, const store_limits_t *limits,
                      store_cursor_t **out, diag_t *err);
int         store_cursor_ncols(const store_cursor_t *c);
const char *store_cursor_name(const store_cursor_t *c, int col);
const char *store_cursor_decltype(const store_cursor_t *c, int col); /* or NULL */
type_t      store_cursor_type(const store_cursor_t *c, int col); /* TYPE_NONE:
                                                                   unknown */
/* The next row: 1 with *row (ncols values, text and blobs valid until the
 * next call); 0 after the last row or at the row limit (then
 * store_cursor_truncated() says whether rows were left); or a STORE_E*
 * code with err set (STORE_ETIMEOUT at the time limit). */
int store_cursor_next(store_cursor_t *c, const store_value_t **row,
                      diag_t *err);
int store_cursor_truncated(const store_cursor_t *c);
/* STORE_ETIMEOUT with err set once the time limit has passed, else 0. */
int store_cursor_check_time(store_cursor_t *c, diag_t *err);
int64_t store_cursor_elapsed_ms(const store_cursor_t *c);
void store_cursor_close(store_cursor_t *c);   /* NULL is fine */

/* The stored windows of one query (or kept table) with window_start in
 * [from_ms, to_ms), oldest first, at most limit rows (0: the configured
 * row limit), as store_adhoc returns them. STORE_ENOTFOUND if there is
 * no such table. */
int store_results(store_t *s, const char *name, int64_t from_ms,
                  int64_t to_ms, int64_t limit, store_result_t **out,
                  diag_t *err);

/* The list of stored windows of one query (or kept table) with
 * window_start in [from_ms, to_ms), oldest first, from flowsql_windows:
 * columns window_start, window_end, rows, partial (0 or 1: cut by a start
 * or a stop of the daemon) and parts (how many writes made it: 2 after a
 * restart inside it). An unknown name gives no rows. */
int store_windows(store_t *s, const char *name, int64_t from_ms,
                  int64_t to_ms, store_result_t **out, diag_t *err);

void store_result_free(store_result_t *r);

/* ---- metrics ------------------------------------------------------------ */

typedef struct store_stats {
    uint64_t windows_written, rows_written;
    uint64_t windows_dropped, rows_dropped;   /* queue full (by windows or
                                                 rows), or dropped query */
    uint64_t windows_failed, rows_failed;     /* write errors (disk full) */
    uint64_t windows_ignored;                 /* not registered / store off */
    uint64_t queue_windows, queue_rows;       /* waiting now */
    int64_t  lag_ms;           /* closed_at to commit of the last window */
    int64_t  write_ms;         /* time to write the last window */
    int64_t  writer_cpu_ms;    /* CPU time the writer thread has used */
    uint64_t retention_windows, retention_rows; /* deleted by retention */
    uint64_t evicted_windows, evicted_rows;     /* deleted by the size cap */
    int64_t  max_bytes;        /* the cap, 0 none */
    uint64_t used_bytes;       /* pages in use in the database */
    uint64_t file_bytes;       /* database file plus its WAL, on disk */
    uint64_t adhoc_queries, adhoc_refused, adhoc_timeouts, adhoc_errors;
    char     last_error[256];  /* the writer's last error, or "" */
} store_stats_t;

/* A consistent-enough snapshot of the counters (each read atomically);
 * cheap, never waits on the writer. */
void store_stats(store_t *s, store_stats_t *out);

/* The column declared type and the flowsql type behind it. */
const char *store_decltype(type_t t);

#endif
