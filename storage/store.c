/*
 * store.c - opening the database, its schema, the catalog of registered
 * queries and the counters; see store.h and docs/STORAGE.md.
 */
#include "storage/store_int.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/qhandle.h"
#include "util/log.h"
#include "util/timeutil.h"

#define SCHEMA_VERSION 1

/* The store's own tables. Query names may not start with flowsql_ or
 * sqlite_, so none of these can clash with a result table. */
static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS flowsql_meta(\n"
    "  key   TEXT PRIMARY KEY,\n"
    "  value TEXT NOT NULL\n"
    ") WITHOUT ROWID;\n"
    "CREATE TABLE IF NOT EXISTS flowsql_queries(\n"
    "  name    TEXT PRIMARY KEY COLLATE NOCASE,\n"
    "  text    TEXT NOT NULL,\n"
    "  options TEXT NOT NULL DEFAULT '{}',\n"
    "  created TIME NOT NULL,\n"
    "  updated TIME NOT NULL,\n"
    "  state   TEXT NOT NULL\n"
    ");\n"
    "CREATE TABLE IF NOT EXISTS flowsql_tables(\n"
    "  name    TEXT PRIMARY KEY COLLATE NOCASE,\n"
    "  query   TEXT COLLATE NOCASE,\n"
    "  kind    TEXT NOT NULL DEFAULT 'result',\n"
    "  columns TEXT NOT NULL,\n"
    "  created TIME NOT NULL\n"
    ") WITHOUT ROWID;\n"
    "CREATE TABLE IF NOT EXISTS flowsql_windows(\n"
    "  tbl          TEXT NOT NULL COLLATE NOCASE,\n"
    "  window_start TIME NOT NULL,\n"
    "  window_end   TIME NOT NULL,\n"
    "  rows         INTEGER NOT NULL,\n"
    "  written      TIME NOT NULL,\n"
    "  partial      INTEGER NOT NULL DEFAULT 0,\n"
    "  parts        INTEGER NOT NULL DEFAULT 1,\n"
    "  PRIMARY KEY (tbl, window_start)\n"
    ") WITHOUT ROWID;\n"
    "CREATE INDEX IF NOT EXISTS flowsql_windows_by_start\n"
    "  ON flowsql_windows(window_start);\n";

/* ---- small helpers ------------------------------------------------------ */

void sq_set_error(store_t *s, const char *fmt, ...)
{
    char buf[sizeof(s->last_error)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&s->err_lock);
    memcpy(s->last_error, buf, sizeof(buf));
    pthread_mutex_unlock(&s->err_lock);
}

void sq_data_name(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "flowsql_rows_%s", name);
}

int sq_exec(sqlite3 *db, const char *sql, diag_t *err)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        diag_set(err, "%s", msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        return STORE_EIO;
    }
    return 0;
}

/* Append an identifier in double quotes. Names are validated before they
 * get here; quoting anyway keeps keywords (a query called "order") and
 * any future name rule safe. */
void sq_quote(sbuf_t *b, const char *ident)
{
    sbuf_addc(b, '"');
    for (const char *p = ident; *p; p++) {
        if (*p == '"')
            sbuf_addc(b, '"');
        sbuf_addc(b, *p);
    }
    sbuf_addc(b, '"');
}

static int is_ident(const char *n, size_t max)
{
    size_t len = strlen(n);
    if (len < 1 || len > max || !(isalpha((unsigned char)n[0]) || n[0] == '_'))
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)n[i]) && n[i] != '_')
            return 0;
    return 1;
}

/* The query-name rule of the language (engine/qhandle.h). */
int sq_valid_name(const char *n)
{
    return qname_valid(n);
}

const char *store_decltype(type_t t)
{
    switch (t) {
    case TYPE_BOOL:     return "BOOLEAN";
    case TYPE_INT:      return "INTEGER";
    case TYPE_FLOAT:    return "REAL";
    case TYPE_STRING:   return "TEXT";
    case TYPE_IP:       return "IP";
    case TYPE_TIME:     return "TIME";
    case TYPE_DURATION: return "DURATION";
    default:            return NULL;
    }
}

static type_t type_of_decl(const char *d)
{
    for (int t = TYPE_BOOL; t <= TYPE_DURATION; t++)
        if (strcasecmp(d, store_decltype((type_t)t)) == 0)
            return (type_t)t;
    return TYPE_NONE;
}

static void json_str(sbuf_t *b, const char *s)
{
    sbuf_addc(b, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            sbuf_addc(b, '\\');
            sbuf_addc(b, (char)*p);
        } else if (*p < 0x20) {
            sbuf_printf(b, "\\u%04x", *p);
        } else {
            sbuf_addc(b, (char)*p);
        }
    }
    sbuf_addc(b, '"');
}

/* Retention: "24h" (a duration) or "1000" (windows). */
static int parse_retention(const char *v, int64_t *ms, int64_t *windows)
{
    *ms = *windows = 0;
    size_t n = strlen(v);
    int digits = n > 0 && n < 10;
    for (size_t i = 0; digits && i < n; i++)
        digits = isdigit((unsigned char)v[i]);
    if (digits) {
        *windows = atoll(v);
        return *windows > 0 ? 0 : -1;
    }
    return duration_parse(v, n, ms) == 0 && *ms > 0 ? 0 : -1;
}

static int opt_false(const char *v)
{
    return strcasecmp(v, "false") == 0 || strcmp(v, "0") == 0;
}

/* The column list as stored in flowsql_tables.columns:
 * "srcip IP KEY, flows INTEGER". Also what decides whether an old table
 * can be taken over by a new query of the same name. */
static char *cols_signature(const rowset_col_t *cols, int ncols)
{
    sbuf_t b = SBUF_INIT;
    for (int i = 0; i < ncols; i++)
        sbuf_printf(&b, "%s%s %s%s", i ? ", " : "", cols[i].name,
                    store_decltype(cols[i].type), cols[i].is_key ? " KEY" : "");
    return sbuf_detach(&b);
}

static int cols_parse(arena_t *a, const char *sig, rowset_col_t **out)
{
    int n = 0, cap = 8;
    rowset_col_t *cols = arena_alloc(a, sizeof(*cols) * (size_t)cap);
    char *copy = arena_strdup(a, sig), *save = NULL;
    for (char *item = strtok_r(copy, ",", &save); item;
         item = strtok_r(NULL, ",", &save)) {
        char *w[3] = {0}, *s2 = NULL;
        int nw = 0;
        for (char *t = strtok_r(item, " ", &s2); t && nw < 3;
             t = strtok_r(NULL, " ", &s2))
            w[nw++] = t;
        if (nw < 2 || type_of_decl(w[1]) == TYPE_NONE)
            return -1;
        if (n == cap) {
            rowset_col_t *bigger = arena_alloc(a, sizeof(*cols) * (size_t)cap * 2);
            memcpy(bigger, cols, sizeof(*cols) * (size_t)cap);
            cols = bigger;
            cap *= 2;
        }
        cols[n].name = w[0];
        cols[n].type = type_of_decl(w[1]);
        cols[n].is_key = nw == 3 && strcasecmp(w[2], "KEY") == 0;
        n++;
    }
    *out = cols;
    return n;
}

/* ---- the in-memory catalog ------------------------------------------- */

sq_query_t *sq_find(store_t *s, const char *name)
{
    for (int i = 0; i < s->nq; i++)
        if (strcasecmp(s->q[i]->name, name) == 0)
            return s->q[i];
    return NULL;
}

void sq_names_rebuild(store_t *s)
{
    int n = 0;
    char **names = xcalloc((size_t)s->nq + 1, sizeof(char *));
    for (int i = 0; i < s->nq; i++)
        if (s->q[i]->stored)
            names[n++] = xstrdup(s->q[i]->name);
    pthread_mutex_lock(&s->names_lock);
    char **old = s->names;
    int nold = s->nnames;
    s->names = names;
    s->nnames = n;
    pthread_mutex_unlock(&s->names_lock);
    for (int i = 0; i < nold; i++)
        free(old[i]);
    free(old);
}

static void entry_free(sq_query_t *q)
{
    if (!q)
        return;
    sqlite3_finalize(q->ins);
    arena_free(q->arena);
}

static void entry_append(store_t *s, sq_query_t *q)
{
    if (s->nq == s->capq) {
        s->capq = s->capq ? s->capq * 2 : 16;
        s->q = xrealloc(s->q, sizeof(*s->q) * (size_t)s->capq);
    }
    s->q[s->nq++] = q;
}

static void entry_remove(store_t *s, sq_query_t *q)
{
    for (int i = 0; i < s->nq; i++)
        if (s->q[i] == q) {
            memmove(&s->q[i], &s->q[i + 1], sizeof(*s->q) * (size_t)(s->nq - i - 1));
            s->nq--;
            break;
        }
}

/* Fill retention and the stored flag from the options. */
static int entry_apply_options(store_t *s, sq_query_t *q, diag_t *err)
{
    q->stored = 1;
    q->ret_ms = s->cfg.default_retention_ms;
    q->ret_windows = 0;
    for (int i = 0; i < q->nopts; i++) {
        const char *k = q->opts[i].key, *v = q->opts[i].value;
        if (strcmp(k, "retention") == 0) {
            if (parse_retention(v, &q->ret_ms, &q->ret_windows) < 0) {
                diag_set(err, "invalid retention '%s': use a duration such "
                         "as '24h' or a number of windows such as '1000'", v);
                return STORE_EINVALID;
            }
        } else if (strcmp(k, "store") == 0) {
            q->stored = !opt_false(v);
        }
    }
    return 0;
}

/* ---- opening ------------------------------------------------------------ */

static void config_resolve(store_config_t *c, const store_config_t *in)
{
    if (in)
        *c = *in;
    else
        memset(c, 0, sizeof(*c));
    if (!c->path || !*c->path)
        c->path = "data/flowsql.db";
    if (c->default_retention_ms <= 0)
        c->default_retention_ms = 7LL * 24 * 3600 * 1000;
    if (c->max_bytes < 0)
        c->max_bytes = 0;
    if (c->queue_windows <= 0)
        c->queue_windows = 1024;
    if (c->queue_rows <= 0)
        c->queue_rows = 4000000;
    if (c->delete_batch <= 0)
        c->delete_batch = 10000;
    if (c->cache_mb <= 0)
        c->cache_mb = 256;
    if (c->busy_timeout_ms <= 0)
        c->busy_timeout_ms = 5000;
    if (c->adhoc_time_ms == 0)
        c->adhoc_time_ms = 5000;
    if (c->adhoc_max_rows == 0)
        c->adhoc_max_rows = 100000;
    if (c->adhoc_max_running <= 0)
        c->adhoc_max_running = 4;
}

/* Create the directory holding path (and its parents) if missing, and
 * check we may write there. */
static int prepare_dir(const char *path, diag_t *err)
{
    char *dir = xstrdup(path);
    char *slash = strrchr(dir, '/');
    if (!slash) {
        strcpy(dir, ".");
    } else if (slash == dir) {
        dir[1] = 0;
    } else {
        *slash = 0;
    }
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
            diag_set(err, "cannot create data directory '%s': %s", dir,
                     strerror(errno));
            free(dir);
            return -1;
        }
        *p = '/';
    }
    if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
        diag_set(err, "cannot create data directory '%s': %s", dir,
                 strerror(errno));
        free(dir);
        return -1;
    }
    struct stat st;
    if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
        diag_set(err, "data directory '%s' is not a directory", dir);
        free(dir);
        return -1;
    }
    if (access(dir, W_OK | X_OK) < 0) {
        diag_set(err, "data directory '%s' is not writable: %s", dir,
                 strerror(errno));
        free(dir);
        return -1;
    }
    free(dir);
    if (access(path, F_OK) == 0 && access(path, R_OK | W_OK) < 0) {
        diag_set(err, "database '%s' is not writable: %s", path,
                 strerror(errno));
        return -1;
    }
    return 0;
}

/* One daemon per database: a lock file beside it, held while open (the
 * kernel drops it when the process dies, even by kill -9). */
static int take_lock(store_t *s, diag_t *err)
{
    char *lp = xmalloc(strlen(s->path) + 8);
    sprintf(lp, "%s-lock", s->path);
    s->lock_fd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (s->lock_fd < 0) {
        diag_set(err, "cannot create lock file '%s': %s", lp, strerror(errno));
        free(lp);
        return -1;
    }
    if (flock(s->lock_fd, LOCK_EX | LOCK_NB) < 0) {
        diag_set(err, "database '%s' is in use by another flowsqld "
                 "(lock file '%s')", s->path, lp);
        free(lp);
        return -1;
    }
    free(lp);
    return 0;
}

static int open_schema(store_t *s, diag_t *err)
{
    sqlite3 *db = s->wdb;
    char sql[512];
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "PRAGMA journal_mode=WAL", -1, &st, NULL) ||
        sqlite3_step(st) != SQLITE_ROW ||
        strcmp((const char *)sqlite3_column_text(st, 0), "wal") != 0) {
        diag_set(err, "cannot use WAL mode on '%s': %s", s->path,
                 sqlite3_errmsg(db));
        sqlite3_finalize(st);
        return STORE_EIO;
    }
    sqlite3_finalize(st);
    /* NORMAL in WAL mode: a commit survives the process being killed; only
     * an OS crash or power cut may lose the last windows (the catalog is
     * written with FULL). secure_delete is on in Debian's build; it would
     * rewrite every page retention frees. */
    snprintf(sql, sizeof(sql),
             "PRAGMA synchronous=NORMAL; PRAGMA secure_delete=OFF;"
             "PRAGMA cache_size=-%d; PRAGMA journal_size_limit=67108864;"
             "PRAGMA foreign_keys=OFF; PRAGMA temp_store=MEMORY;",
             s->cfg.cache_mb * 1024);
    if (sq_exec(db, sql, err) < 0 || sq_exec(db, "BEGIN IMMEDIATE", err) < 0)
        return STORE_EIO;
    if (sq_exec(db, schema_sql, err) < 0)
        goto fail;
    /* Databases made before windows were marked partial: the two columns
     * are added with their defaults (an older flowsqld still writes to
     * the table, naming its columns). */
    if (sqlite3_table_column_metadata(db, "main", "flowsql_windows", "partial",
                                      NULL, NULL, NULL, NULL, NULL) != SQLITE_OK &&
        sq_exec(db, "ALTER TABLE flowsql_windows ADD COLUMN partial INTEGER "
                "NOT NULL DEFAULT 0; ALTER TABLE flowsql_windows ADD COLUMN "
                "parts INTEGER NOT NULL DEFAULT 1", err) < 0)
        goto fail;
    /* sqlite_stat1 holds the hint that makes lookups by key use a
     * skip-scan of the primary key (writer.c); ANALYZE of a tiny table
     * creates it. */
    if (sqlite3_table_column_metadata(db, "main", "sqlite_stat1", NULL, NULL,
                                      NULL, NULL, NULL, NULL) != SQLITE_OK &&
        sq_exec(db, "ANALYZE flowsql_meta", err) < 0)
        goto fail;
    if (sqlite3_prepare_v2(db, "SELECT value FROM flowsql_meta WHERE "
                           "key = 'schema_version'", -1, &st, NULL) != SQLITE_OK)
        goto fail_db;
    if (sqlite3_step(st) == SQLITE_ROW) {
        int v = sqlite3_column_int(st, 0);
        if (v > SCHEMA_VERSION) {
            diag_set(err, "database '%s' has schema version %d; this flowsqld "
                     "knows %d: use a newer flowsqld", s->path, v,
                     SCHEMA_VERSION);
            sqlite3_finalize(st);
            goto fail;
        }
    }
    sqlite3_finalize(st);
    snprintf(sql, sizeof(sql), "INSERT OR IGNORE INTO flowsql_meta VALUES "
             "('schema_version', '%d')", SCHEMA_VERSION);
    if (sq_exec(db, sql, err) < 0 || sq_exec(db, "COMMIT", err) < 0)
        goto fail;
    return 0;
fail_db:
    diag_set(err, "%s", sqlite3_errmsg(db));
fail:
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return STORE_EIO;
}

/* Read flowsql_queries (with the columns from flowsql_tables) into
 * memory. */
static int load_catalog(store_t *s, diag_t *err)
{
    sqlite3 *db = s->wdb;
    sqlite3_stmt *st = NULL, *op = NULL, *tb = NULL;
    int rc = STORE_EIO;
    if (sqlite3_prepare_v2(db, "SELECT name, text, options, created, updated, "
                           "state FROM flowsql_queries ORDER BY rowid", -1, &st,
                           NULL) ||
        sqlite3_prepare_v2(db, "SELECT key, CAST(value AS TEXT) FROM "
                           "json_each(?1)", -1, &op, NULL) ||
        sqlite3_prepare_v2(db, "SELECT columns FROM flowsql_tables WHERE "
                           "query = ?1 AND name = ?1", -1, &tb, NULL)) {
        diag_set(err, "reading the catalog: %s", sqlite3_errmsg(db));
        goto out;
    }
    while (sqlite3_step(st) == SQLITE_ROW) {
        arena_t *a = arena_new();
        sq_query_t *q = arena_alloc(a, sizeof(*q));
        q->arena = a;
        q->name = arena_strdup(a, (const char *)sqlite3_column_text(st, 0));
        /* The one name rule: lower case (a database of an older flowsqld
         * may hold a name in another case; SQL finds it either way). */
        for (char *c = q->name; *c; c++)
            *c = (char)tolower((unsigned char)*c);
        q->text = arena_strdup(a, (const char *)sqlite3_column_text(st, 1));
        q->opts_json = arena_strdup(a, (const char *)sqlite3_column_text(st, 2));
        q->created = sqlite3_column_int64(st, 3);
        q->updated = sqlite3_column_int64(st, 4);
        q->state = arena_strdup(a, (const char *)sqlite3_column_text(st, 5));
        sqlite3_bind_text(op, 1, q->opts_json, -1, SQLITE_STATIC);
        int cap = 0;
        while (sqlite3_step(op) == SQLITE_ROW) {
            if (q->nopts == cap) {
                cap = cap ? cap * 2 : 8;
                rowset_opt_t *o = arena_alloc(a, sizeof(*o) * (size_t)cap);
                if (q->nopts)
                    memcpy(o, q->opts, sizeof(*o) * (size_t)q->nopts);
                q->opts = o;
            }
            q->opts[q->nopts].key =
                arena_strdup(a, (const char *)sqlite3_column_text(op, 0));
            q->opts[q->nopts].value =
                arena_strdup(a, (const char *)sqlite3_column_text(op, 1));
            q->nopts++;
        }
        sqlite3_reset(op);
        diag_t oerr;
        diag_clear(&oerr);
        if (entry_apply_options(s, q, &oerr) < 0) {
            log_warn("storage", "query %s: %s; using the default retention",
                     q->name, oerr.msg);
            q->ret_ms = s->cfg.default_retention_ms;
            q->ret_windows = 0;
        }
        sqlite3_bind_text(tb, 1, q->name, -1, SQLITE_STATIC);
        q->stored = 0;
        if (sqlite3_step(tb) == SQLITE_ROW) {
            q->ncols = cols_parse(a, (const char *)sqlite3_column_text(tb, 0),
                                  &q->cols);
            q->stored = q->ncols > 0;
            if (q->ncols <= 0)
                log_error("storage", "query %s: unreadable column list; its "
                          "windows will not be stored", q->name);
        }
        sqlite3_reset(tb);
        entry_append(s, q);
        writer_load_state(s, q);
    }
    rc = 0;
out:
    sqlite3_finalize(st);
    sqlite3_finalize(op);
    sqlite3_finalize(tb);
    return rc;
}

store_t *store_open(const store_config_t *cfg, diag_t *err)
{
    store_t *s = xcalloc(1, sizeof(*s));
    config_resolve(&s->cfg, cfg);
    s->path = xstrdup(s->cfg.path);
    s->cfg.path = s->path;
    if (s->cfg.archive_dir)
        s->cfg.archive_dir = xstrdup(s->cfg.archive_dir);
    s->lock_fd = -1;
    pthread_mutex_init(&s->wlock, NULL);
    pthread_mutex_init(&s->cat_lock, NULL);
    pthread_mutex_init(&s->names_lock, NULL);
    pthread_mutex_init(&s->flush_lock, NULL);
    pthread_cond_init(&s->flush_cond, NULL);
    pthread_mutex_init(&s->err_lock, NULL);
    pthread_mutex_init(&s->ad_lock, NULL);
    bqueue_init(&s->queue, (size_t)s->cfg.queue_windows);

    if (prepare_dir(s->path, err) < 0 || take_lock(s, err) < 0)
        goto fail;
    if (sqlite3_open_v2(s->path, &s->wdb, SQLITE_OPEN_READWRITE |
                        SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        diag_set(err, "cannot open database '%s': %s", s->path,
                 s->wdb ? sqlite3_errmsg(s->wdb) : "out of memory");
        goto fail;
    }
    sqlite3_extended_result_codes(s->wdb, 1);
    sqlite3_busy_timeout(s->wdb, s->cfg.busy_timeout_ms);
    if (open_schema(s, err) < 0 || load_catalog(s, err) < 0)
        goto fail;
    if (sqlite3_prepare_v2(s->wdb, "SELECT p.page_count - f.freelist_count, "
                           "s.page_size FROM pragma_page_count() p, "
                           "pragma_freelist_count() f, pragma_page_size() s",
                           -1, &s->st_size, NULL) != SQLITE_OK) {
        diag_set(err, "%s", sqlite3_errmsg(s->wdb));
        goto fail;
    }
    writer_update_size(s);
    sq_names_rebuild(s);
    if (writer_start(s, err) < 0)
        goto fail;
    log_info("storage", "opened %s: %d quer%s in the catalog", s->path, s->nq,
             s->nq == 1 ? "y" : "ies");
    return s;
fail:
    store_close(s);
    return NULL;
}

void store_close(store_t *s)
{
    if (!s)
        return;
    writer_stop(s);
    adhoc_close_all(s);
    for (int i = 0; i < s->nq; i++)
        entry_free(s->q[i]);
    free(s->q);
    sqlite3_finalize(s->st_size);
    if (s->wdb && sqlite3_close(s->wdb) != SQLITE_OK)
        log_error("storage", "closing %s: %s", s->path, sqlite3_errmsg(s->wdb));
    for (int i = 0; i < s->nnames; i++)
        free(s->names[i]);
    free(s->names);
    if (s->lock_fd >= 0)
        close(s->lock_fd);
    bqueue_destroy(&s->queue);
    pthread_mutex_destroy(&s->wlock);
    pthread_mutex_destroy(&s->cat_lock);
    pthread_mutex_destroy(&s->names_lock);
    pthread_mutex_destroy(&s->flush_lock);
    pthread_cond_destroy(&s->flush_cond);
    pthread_mutex_destroy(&s->err_lock);
    pthread_mutex_destroy(&s->ad_lock);
    free(s->path);
    free((char *)s->cfg.archive_dir);
    free(s);
}

/* ---- catalog API --------------------------------------------------------- */

static int check_cols(const store_query_def_t *d, diag_t *err)
{
    static const char *reserved[] = {"window_start", "window_end", "window_row"};
    if (d->ncols <= 0 || !d->cols) {
        diag_set(err, "query '%s' has no columns to store", d->name);
        return STORE_EINVALID;
    }
    for (int i = 0; i < d->ncols; i++) {
        const rowset_col_t *c = &d->cols[i];
        if (!c->name || !is_ident(c->name, 128)) {
            diag_set(err, "column %d of query '%s' has no valid name", i + 1,
                     d->name);
            return STORE_EINVALID;
        }
        if (!store_decltype(c->type)) {
            diag_set(err, "column '%s' of query '%s' has no type", c->name,
                     d->name);
            return STORE_EINVALID;
        }
        for (size_t r = 0; r < sizeof(reserved) / sizeof(reserved[0]); r++)
            if (strcasecmp(c->name, reserved[r]) == 0) {
                diag_set(err, "column name '%s' is reserved in stored "
                         "results: name it differently (AS ...)", c->name);
                return STORE_EINVALID;
            }
        for (int j = 0; j < i; j++)
            if (strcasecmp(c->name, d->cols[j].name) == 0) {
                diag_set(err, "query '%s' has two columns named '%s': "
                         "stored results need distinct names (AS ...)",
                         d->name, c->name);
                return STORE_EINVALID;
            }
    }
    return 0;
}

/* Bind a text parameter; sqlite3 copies nothing with SQLITE_STATIC, so
 * the strings must outlive the step (they do: all are ours). */
#define BIND_TEXT(st, i, v) sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC)

static int run1(sqlite3 *db, const char *sql, diag_t *err, int n, ...)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        diag_set(err, "%s", sqlite3_errmsg(db));
        return STORE_EIO;
    }
    va_list ap;
    va_start(ap, n);
    for (int i = 1; i <= n; i++) {
        int kind = va_arg(ap, int);
        if (kind == 's')
            BIND_TEXT(st, i, va_arg(ap, const char *));
        else
            sqlite3_bind_int64(st, i, va_arg(ap, int64_t));
    }
    va_end(ap);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        diag_set(err, "%s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : STORE_EIO;
}

/* Catalog changes are rare and precious: sync them fully. */
static int cat_begin(store_t *s, diag_t *err)
{
    sq_exec(s->wdb, "PRAGMA synchronous=FULL", NULL);
    if (sq_exec(s->wdb, "BEGIN IMMEDIATE", err) < 0) {
        sq_exec(s->wdb, "PRAGMA synchronous=NORMAL", NULL);
        return STORE_EIO;
    }
    return 0;
}

static int cat_end(store_t *s, int rc, diag_t *err)
{
    if (rc == 0)
        rc = sq_exec(s->wdb, "COMMIT", err);
    if (rc < 0 && !sqlite3_get_autocommit(s->wdb))
        sq_exec(s->wdb, "ROLLBACK", NULL);
    sq_exec(s->wdb, "PRAGMA synchronous=NORMAL", NULL);
    return rc;
}

/* What is in flowsql_tables under a name: 1 found (columns and query
 * filled, caller frees), 0 none, <0 error. */
static int table_lookup(store_t *s, const char *name, char **columns,
                        char **query, char **real_name)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->wdb, "SELECT columns, query, name FROM "
                           "flowsql_tables WHERE name = ?1", -1, &st, NULL))
        return STORE_EIO;
    BIND_TEXT(st, 1, name);
    int found = sqlite3_step(st) == SQLITE_ROW;
    if (found) {
        const char *q = (const char *)sqlite3_column_text(st, 1);
        if (columns)
            *columns = xstrdup((const char *)sqlite3_column_text(st, 0));
        if (query)
            *query = q ? xstrdup(q) : NULL;
        if (real_name)
            *real_name = xstrdup((const char *)sqlite3_column_text(st, 2));
    }
    sqlite3_finalize(st);
    return found;
}

/* Move a table out of the way of a new query with other columns: its
 * view and rows become flowsql_archive_<name>_<ms>. */
static int table_archive(store_t *s, const char *name, diag_t *err)
{
    char archived[128], from[SQ_DATA_NAME], to[SQ_DATA_NAME];
    snprintf(archived, sizeof(archived), "flowsql_archive_%s_%lld", name,
             (long long)time_now_ms());
    sq_data_name(from, sizeof(from), name);
    sq_data_name(to, sizeof(to), archived);
    sbuf_t b = SBUF_INIT;
    sbuf_add(&b, "DROP VIEW IF EXISTS ");
    sq_quote(&b, name);
    sbuf_add(&b, "; ALTER TABLE ");
    sq_quote(&b, from);
    sbuf_add(&b, " RENAME TO ");
    sq_quote(&b, to);
    int rc = sq_exec(s->wdb, sbuf_str(&b), err);
    sbuf_free(&b);
    if (rc == 0)
        rc = writer_view_ddl(s, archived, err);
    if (rc == 0)
        rc = run1(s->wdb, "UPDATE flowsql_tables SET name = ?2, query = NULL "
                  "WHERE name = ?1", err, 2, 's', name, 's', archived);
    if (rc == 0)
        rc = run1(s->wdb, "UPDATE flowsql_windows SET tbl = ?2 WHERE tbl = ?1",
                  err, 2, 's', name, 's', archived);
    if (rc == 0)
        rc = run1(s->wdb, "UPDATE sqlite_stat1 SET tbl = ?2, idx = ?2 "
                  "WHERE tbl = ?1", err, 2, 's', from, 's', to);
    if (rc == 0)
        log_warn("storage", "table %s had other columns than the new query "
                 "%s: kept as %s", name, name, archived);
    return rc;
}

int store_query_add(store_t *s, const store_query_def_t *d, diag_t *err)
{
    if (!d || !sq_valid_name(d->name)) {
        diag_set(err, "invalid query name '%s': use letters, digits and '_', "
                 "starting with a letter, at most 63 characters; sqlite_*, "
                 "flowsql_* and flows are reserved", d && d->name ? d->name : "");
        return STORE_EINVALID;
    }
    if (!d->text || !*d->text) {
        diag_set(err, "query '%s' has no text", d->name);
        return STORE_EINVALID;
    }
    const char *state = d->state ? d->state : "running";
    if (!*state || strlen(state) > STORE_MAX_STATE) {
        diag_set(err, "invalid state '%s'", state);
        return STORE_EINVALID;
    }
    char lname[QNAME_MAX];
    qname_norm(lname, d->name);
    arena_t *a = arena_new();
    sq_query_t *q = arena_alloc(a, sizeof(*q));
    q->arena = a;
    q->name = arena_strdup(a, lname);
    q->text = arena_strdup(a, d->text);
    q->state = arena_strdup(a, state);
    q->created = q->updated = time_now_ms();
    q->nopts = d->nopts > 0 ? d->nopts : 0;
    q->opts = arena_alloc(a, sizeof(rowset_opt_t) * (size_t)(q->nopts + 1));
    sbuf_t js = SBUF_INIT;
    sbuf_addc(&js, '{');
    for (int i = 0; i < q->nopts; i++) {
        if (!d->opts[i].key || !*d->opts[i].key || !d->opts[i].value) {
            diag_set(err, "option %d of query '%s' has no key or value", i + 1,
                     d->name);
            sbuf_free(&js);
            arena_free(a);
            return STORE_EINVALID;
        }
        q->opts[i].key = arena_strdup(a, d->opts[i].key);
        q->opts[i].value = arena_strdup(a, d->opts[i].value);
        if (i)
            sbuf_addc(&js, ',');
        json_str(&js, q->opts[i].key);
        sbuf_addc(&js, ':');
        json_str(&js, q->opts[i].value);
    }
    sbuf_addc(&js, '}');
    q->opts_json = arena_strdup(a, sbuf_str(&js));
    sbuf_free(&js);
    int rc = entry_apply_options(s, q, err);
    if (rc == 0 && q->stored)
        rc = check_cols(d, err);
    if (rc < 0) {
        arena_free(a);
        return rc;
    }
    if (q->stored) {
        q->ncols = d->ncols;
        q->cols = arena_alloc(a, sizeof(rowset_col_t) * (size_t)d->ncols);
        for (int i = 0; i < d->ncols; i++) {
            q->cols[i].name = arena_strdup(a, d->cols[i].name);
            q->cols[i].type = d->cols[i].type;
            q->cols[i].is_key = d->cols[i].is_key;
        }
    }

    pthread_mutex_lock(&s->wlock);
    if (sq_find(s, d->name)) {
        pthread_mutex_unlock(&s->wlock);
        diag_set(err, "query '%s' already exists", d->name);
        arena_free(a);
        return STORE_EEXIST;
    }
    rc = cat_begin(s, err);
    if (rc == 0)
        rc = run1(s->wdb, "INSERT INTO flowsql_queries(name, text, options, "
                  "created, updated, state) VALUES (?1, ?2, ?3, ?4, ?4, ?5)",
                  err, 5, 's', q->name, 's', q->text, 's', q->opts_json,
                  'i', q->created, 's', q->state);
    if (rc == 0 && q->stored) {
        char *sig = cols_signature(q->cols, q->ncols), *cols = NULL,
             *owner = NULL, *real = NULL;
        int found = table_lookup(s, q->name, &cols, &owner, &real);
        if (found < 0) {
            diag_set(err, "%s", sqlite3_errmsg(s->wdb));
            rc = STORE_EIO;
        } else if (found && strcmp(cols, sig) == 0) {
            rc = run1(s->wdb, "UPDATE flowsql_tables SET query = ?1 WHERE "
                      "name = ?1", err, 1, 's', q->name);
            if (rc == 0)
                log_info("storage", "query %s takes over its old table",
                         q->name);
        } else {
            if (found)
                rc = table_archive(s, real, err);
            if (rc == 0)
                rc = writer_table_ddl(s, q, q->name, err);
            if (rc == 0)
                rc = run1(s->wdb, "INSERT INTO flowsql_tables(name, query, "
                          "columns, created) VALUES (?1, ?1, ?2, ?3)", err, 3,
                          's', q->name, 's', sig, 'i', q->created);
        }
        free(sig);
        free(cols);
        free(owner);
        free(real);
    }
    rc = cat_end(s, rc, err);
    if (rc == 0) {
        writer_load_state(s, q);
        pthread_mutex_lock(&s->cat_lock);
        entry_append(s, q);
        pthread_mutex_unlock(&s->cat_lock);
        sq_names_rebuild(s);
    }
    pthread_mutex_unlock(&s->wlock);
    if (rc < 0)
        arena_free(a);
    return rc;
}

int store_query_remove(store_t *s, const char *name, int keep_data,
                       diag_t *err)
{
    if (!name || !*name) {
        diag_set(err, "no query name");
        return STORE_EINVALID;
    }
    pthread_mutex_lock(&s->wlock);
    sq_query_t *q = sq_find(s, name);
    char *real = NULL;
    int found = table_lookup(s, name, NULL, NULL, &real);
    int rc = 0;
    if (found < 0) {
        diag_set(err, "%s", sqlite3_errmsg(s->wdb));
        rc = STORE_EIO;
    } else if (!q && (!found || keep_data)) {
        diag_set(err, "no query named '%s'", name);
        rc = STORE_ENOTFOUND;
    } else if ((rc = cat_begin(s, err)) == 0) {
        if (q)
            rc = run1(s->wdb, "DELETE FROM flowsql_queries WHERE name = ?1",
                      err, 1, 's', name);
        if (rc == 0 && found && keep_data)
            rc = run1(s->wdb, "UPDATE flowsql_tables SET query = NULL WHERE "
                      "name = ?1", err, 1, 's', name);
        if (rc == 0 && found && !keep_data) {
            if (q)
                writer_forget(s, q);    /* its INSERT refers to the table */
            rc = writer_table_drop(s, real, err);
            if (rc == 0)
                rc = run1(s->wdb, "DELETE FROM flowsql_tables WHERE name = ?1",
                          err, 1, 's', real);
            if (rc == 0)
                rc = run1(s->wdb, "DELETE FROM flowsql_windows WHERE tbl = ?1",
                          err, 1, 's', real);
        }
        rc = cat_end(s, rc, err);
    }
    if (rc == 0 && q) {
        pthread_mutex_lock(&s->cat_lock);
        entry_remove(s, q);
        pthread_mutex_unlock(&s->cat_lock);
        sq_names_rebuild(s);
        entry_free(q);
    }
    pthread_mutex_unlock(&s->wlock);
    free(real);
    if (rc == 0)
        log_info("storage", "dropped %s%s", name,
                 keep_data ? " (its table is kept)" : "");
    return rc;
}

int store_query_set_state(store_t *s, const char *name, const char *state,
                          diag_t *err)
{
    if (!state || !*state || strlen(state) > STORE_MAX_STATE) {
        diag_set(err, "invalid state '%s'", state ? state : "");
        return STORE_EINVALID;
    }
    pthread_mutex_lock(&s->wlock);
    sq_query_t *q = name ? sq_find(s, name) : NULL;
    int rc;
    int64_t now = time_now_ms();
    if (!q) {
        diag_set(err, "no query named '%s'", name ? name : "");
        rc = STORE_ENOTFOUND;
    } else if ((rc = cat_begin(s, err)) == 0) {
        rc = run1(s->wdb, "UPDATE flowsql_queries SET state = ?2, "
                  "updated = ?3 WHERE name = ?1", err, 3, 's', q->name,
                  's', state, 'i', now);
        rc = cat_end(s, rc, err);
    }
    if (rc == 0) {
        pthread_mutex_lock(&s->cat_lock);
        q->state = arena_strdup(q->arena, state);
        q->updated = now;
        pthread_mutex_unlock(&s->cat_lock);
    }
    pthread_mutex_unlock(&s->wlock);
    return rc;
}

/* Under cat_lock only: listing never waits for a window being written.
 * Entries change only with both wlock and cat_lock held. */
store_query_list_t *store_query_list(store_t *s)
{
    arena_t *a = arena_new();
    store_query_list_t *l = arena_alloc(a, sizeof(*l));
    l->arena = a;
    pthread_mutex_lock(&s->cat_lock);
    l->n = s->nq;
    l->q = arena_alloc(a, sizeof(store_query_t) * (size_t)(s->nq + 1));
    for (int i = 0; i < s->nq; i++) {
        const sq_query_t *e = s->q[i];
        store_query_t *o = &l->q[i];
        o->name = arena_strdup(a, e->name);
        o->text = arena_strdup(a, e->text);
        o->state = arena_strdup(a, e->state);
        o->nopts = e->nopts;
        o->opts = arena_alloc(a, sizeof(rowset_opt_t) * (size_t)(e->nopts + 1));
        for (int j = 0; j < e->nopts; j++) {
            o->opts[j].key = arena_strdup(a, e->opts[j].key);
            o->opts[j].value = arena_strdup(a, e->opts[j].value);
        }
        o->ncols = e->stored ? e->ncols : 0;
        o->cols = arena_alloc(a, sizeof(rowset_col_t) * (size_t)(o->ncols + 1));
        for (int j = 0; j < o->ncols; j++) {
            o->cols[j] = e->cols[j];
            o->cols[j].name = arena_strdup(a, e->cols[j].name);
        }
        o->created = e->created;
        o->updated = e->updated;
        o->retention_ms = e->ret_ms;
        o->retention_windows = e->ret_windows;
        o->stored = e->stored;
    }
    pthread_mutex_unlock(&s->cat_lock);
    return l;
}

void store_query_list_free(store_query_list_t *l)
{
    if (l)
        arena_free(l->arena);
}

/* ---- stats ----------------------------------------------------------------- */

static uint64_t file_size(const char *path, const char *suffix)
{
    char buf[4096];
    snprintf(buf, sizeof(buf), "%s%s", path, suffix);
    struct stat st;
    return stat(buf, &st) == 0 ? (uint64_t)st.st_size : 0;
}

void store_stats(store_t *s, store_stats_t *o)
{
    memset(o, 0, sizeof(*o));
    o->windows_written = ctr_get(&s->ctr.windows_written);
    o->rows_written = ctr_get(&s->ctr.rows_written);
    o->windows_dropped = ctr_get(&s->ctr.windows_dropped);
    o->rows_dropped = ctr_get(&s->ctr.rows_dropped);
    o->windows_failed = ctr_get(&s->ctr.windows_failed);
    o->rows_failed = ctr_get(&s->ctr.rows_failed);
    o->windows_ignored = ctr_get(&s->ctr.windows_ignored);
    o->queue_windows = bqueue_len(&s->queue);
    o->queue_rows = (uint64_t)gauge_get(&s->ctr.queue_rows);
    o->lag_ms = gauge_get(&s->ctr.lag_ms);
    o->write_ms = gauge_get(&s->ctr.write_ms);
    o->writer_cpu_ms = gauge_get(&s->ctr.writer_cpu_ms);
    o->retention_windows = ctr_get(&s->ctr.retention_windows);
    o->retention_rows = ctr_get(&s->ctr.retention_rows);
    o->evicted_windows = ctr_get(&s->ctr.evicted_windows);
    o->evicted_rows = ctr_get(&s->ctr.evicted_rows);
    o->max_bytes = s->cfg.max_bytes;
    o->used_bytes = (uint64_t)gauge_get(&s->ctr.used_bytes);
    o->file_bytes = file_size(s->path, "") + file_size(s->path, "-wal");
    o->adhoc_queries = ctr_get(&s->ctr.adhoc_queries);
    o->adhoc_refused = ctr_get(&s->ctr.adhoc_refused);
    o->adhoc_timeouts = ctr_get(&s->ctr.adhoc_timeouts);
    o->adhoc_errors = ctr_get(&s->ctr.adhoc_errors);
    pthread_mutex_lock(&s->err_lock);
    memcpy(o->last_error, s->last_error, sizeof(o->last_error));
    pthread_mutex_unlock(&s->err_lock);
}

int store_table_set_kind(store_t *s, const char *name, const char *kind,
                         diag_t *err)
{
    if (!kind || !*kind || strlen(kind) > STORE_MAX_STATE) {
        diag_set(err, "invalid table kind '%s'", kind ? kind : "");
        return STORE_EINVALID;
    }
    pthread_mutex_lock(&s->wlock);
    int rc = run1(s->wdb, "UPDATE flowsql_tables SET kind = ?2 WHERE "
                  "name = ?1", err, 2, 's', name, 's', kind);
    if (rc == 0 && sqlite3_changes(s->wdb) == 0) {
        diag_set(err, "no table named '%s'", name);
        rc = STORE_ENOTFOUND;
    }
    pthread_mutex_unlock(&s->wlock);
    return rc;
}
