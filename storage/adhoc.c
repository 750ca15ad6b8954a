/*
 * adhoc.c - read-only SQL over the stored tables, for the shell, the REST
 * API and forensics.
 *
 * Each query borrows a connection from a small pool (at most
 * cfg.adhoc_max_running at once). A connection is opened read-only, with
 * query_only, defensive mode, no extension loading and no attached
 * databases, and an authorizer that lets through reads and little else;
 * whatever it refuses is named in the error. A progress handler enforces
 * the time limit; the result loop enforces the row limit. Being a WAL
 * reader, a query never blocks the writer, and the time limit keeps it
 * from pinning an old snapshot (and so the WAL) for long.
 */
#include "storage/store_int.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/timeutil.h"

/* A result never holds more than this much text and blob data; past it
 * the result is cut short like at the row limit. */
#define ADHOC_MAX_BYTES (256u << 20)

#define PRINTF_CACHED 8   /* printf() statements kept, by argument count */

struct adhoc_conn {
    sqlite3      *db;
    char          deny[256];     /* why the authorizer refused, first reason */
    int64_t       deadline;      /* time_mono_ms() limit, 0 none */
    int           timed_out;
    sqlite3      *fmt_db;        /* runs the real printf(), see below */
    flowvtab_env_t flows;        /* the table flows (flowvtab.c) */
    sqlite3_stmt *fmt[PRINTF_CACHED + 1];
};

/* ---- the authorizer ------------------------------------------------------ */

static const struct {
    int         code;
    const char *what;
} writes[] = {
    {SQLITE_INSERT, "INSERT"},
    {SQLITE_UPDATE, "UPDATE"},
    {SQLITE_DELETE, "DELETE"},
    {SQLITE_CREATE_INDEX, "CREATE INDEX"},
    {SQLITE_CREATE_TABLE, "CREATE TABLE"},
    {SQLITE_CREATE_TEMP_INDEX, "CREATE INDEX"},
    {SQLITE_CREATE_TEMP_TABLE, "CREATE TABLE"},
    {SQLITE_CREATE_TEMP_TRIGGER, "CREATE TRIGGER"},
    {SQLITE_CREATE_TEMP_VIEW, "CREATE VIEW"},
    {SQLITE_CREATE_TRIGGER, "CREATE TRIGGER"},
    {SQLITE_CREATE_VIEW, "CREATE VIEW"},
    {SQLITE_CREATE_VTABLE, "CREATE VIRTUAL TABLE"},
    {SQLITE_DROP_INDEX, "DROP INDEX"},
    {SQLITE_DROP_TABLE, "DROP TABLE"},
    {SQLITE_DROP_TEMP_INDEX, "DROP INDEX"},
    {SQLITE_DROP_TEMP_TABLE, "DROP TABLE"},
    {SQLITE_DROP_TEMP_TRIGGER, "DROP TRIGGER"},
    {SQLITE_DROP_TEMP_VIEW, "DROP VIEW"},
    {SQLITE_DROP_TRIGGER, "DROP TRIGGER"},
    {SQLITE_DROP_VIEW, "DROP VIEW"},
    {SQLITE_DROP_VTABLE, "DROP VIRTUAL TABLE"},
    {SQLITE_ALTER_TABLE, "ALTER TABLE"},
    {SQLITE_REINDEX, "REINDEX"},
    {SQLITE_ANALYZE, "ANALYZE"},
};

/* PRAGMAs that only read. arg: 1 if they take an argument that names
 * what to read (a table, an index), 0 if any argument would set. */
static const struct {
    const char *name;
    int         arg;
} read_pragmas[] = {
    {"table_info", 1},      {"table_xinfo", 1},   {"table_list", 1},
    {"index_list", 1},      {"index_info", 1},    {"index_xinfo", 1},
    {"foreign_key_list", 1}, {"quick_check", 1},  {"integrity_check", 1},
    {"database_list", 0},   {"function_list", 0}, {"module_list", 0},
    {"pragma_list", 0},     {"collation_list", 0}, {"compile_options", 0},
    {"page_count", 0},      {"page_size", 0},     {"freelist_count", 0},
    {"user_version", 0},    {"schema_version", 0}, {"data_version", 0},
    {"encoding", 0},        {"journal_mode", 0},
};

static const char *denied_functions[] = {"load_extension", "fts3_tokenizer"};

static int deny(adhoc_conn_t *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Refuse, remembering the first reason for the error message (SQLite
 * itself would only say "not authorized"). */
static int deny(adhoc_conn_t *c, const char *fmt, ...)
{
    if (!c->deny[0]) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->deny, sizeof(c->deny), fmt, ap);
        va_end(ap);
    }
    return SQLITE_DENY;
}

static int authorize(void *ctx, int code, const char *a1, const char *a2,
                     const char *dbname, const char *trigger)
{
    adhoc_conn_t *c = ctx;
    (void)dbname;
    (void)trigger;
    switch (code) {
    case SQLITE_SELECT:
    case SQLITE_READ:
    case SQLITE_RECURSIVE:
        return SQLITE_OK;
    case SQLITE_FUNCTION:
        for (size_t i = 0; i < sizeof(denied_functions) / sizeof(char *); i++)
            if (a2 && strcasecmp(a2, denied_functions[i]) == 0)
                return deny(c, "%s() is not allowed", denied_functions[i]);
        return SQLITE_OK;
    case SQLITE_PRAGMA:
        for (size_t i = 0; i < sizeof(read_pragmas) / sizeof(read_pragmas[0]); i++)
            if (a1 && strcasecmp(a1, read_pragmas[i].name) == 0) {
                if (a2 && !read_pragmas[i].arg)
                    return deny(c, "PRAGMA changes are not allowed: "
                                "PRAGMA %s = %s", a1, a2);
                return SQLITE_OK;
            }
        return deny(c, "PRAGMA %s is not allowed in ad hoc queries",
                    a1 ? a1 : "");
    case SQLITE_ATTACH:
        return deny(c, "ATTACH is not allowed");
    case SQLITE_DETACH:
        return deny(c, "DETACH is not allowed");
    case SQLITE_TRANSACTION:
        return deny(c, "ad hoc queries run one statement at a time: %s is "
                    "not allowed", a1 ? a1 : "BEGIN");
    case SQLITE_SAVEPOINT:
        return deny(c, "ad hoc queries run one statement at a time: "
                    "SAVEPOINT is not allowed");
    }
    /* SQLite authorizes its own bookkeeping on the schema table as
     * writes: for DROP and CREATE (which are refused under their own
     * name just after), and while preparing a read of an eponymous
     * virtual table such as pragma_table_info(). Statements that would
     * really write it still fail: the connection is read-only and
     * query_only, and run() checks sqlite3_stmt_readonly(). */
    if ((code == SQLITE_INSERT || code == SQLITE_UPDATE ||
         code == SQLITE_DELETE) && a1 &&
        (strcmp(a1, "sqlite_master") == 0 ||
         strcmp(a1, "sqlite_temp_master") == 0))
        return SQLITE_OK;
    for (size_t i = 0; i < sizeof(writes) / sizeof(writes[0]); i++)
        if (writes[i].code == code)
            return deny(c, "ad hoc queries are read-only: %s is not allowed",
                        writes[i].what);
    return deny(c, "ad hoc queries are read-only: this statement is not "
                "allowed");
}

static int progress(void *ctx)
{
    adhoc_conn_t *c = ctx;
    if (c->deadline && time_mono_ms() >= c->deadline) {
        c->timed_out = 1;
        return 1;
    }
    return 0;
}

/* ---- printf() and format() ------------------------------------------------- */

/* SQLite's printf() repeats a %c by its precision, and pads to its width,
 * one character at a time inside a single function call, where neither
 * the progress handler nor the length limit stops it: printf('%.*c',
 * 999999999, 'x') ran for ten seconds past a five second limit. Ad hoc
 * connections replace printf() and format() by a guard that refuses any
 * width or precision longer than the longest string a value may be, then
 * has the real printf() do the work on a private in-memory connection
 * (where the name still means SQLite's own). */

/* The widths and precisions of fmt added up (each is the length of
 * text the call may produce by repeating a character), a '*' taken from
 * args as SQLite's printf takes them: in order, then one per conversion
 * but %% and %n. Saturates at INT64_MAX. */
static int64_t printf_widths(const char *fmt, int argc, sqlite3_value **argv)
{
    int64_t total = 0;
    int next = 0;
    for (const char *p = fmt; p && *p; p++) {
        if (*p != '%')
            continue;
        p++;
        while (*p && strchr("-+ #!0,", *p))
            p++;
        for (int part = 0; part < 2 && *p; part++) {
            if (part == 1) {
                if (*p != '.')
                    break;
                p++;
            }
            int64_t n = 0;
            if (*p == '*') {
                n = next < argc ? sqlite3_value_int64(argv[next]) : 0;
                next++;
                p++;
                if (n < 0)
                    n = n == INT64_MIN ? INT64_MAX : -n;
            } else {
                while (*p >= '0' && *p <= '9') {
                    n = n > (INT64_MAX - 9) / 10 ? INT64_MAX : n * 10 + (*p - '0');
                    p++;
                }
            }
            total = n > INT64_MAX - total ? INT64_MAX : total + n;
        }
        while (*p == 'l')
            p++;
        if (!*p)
            break;
        if (*p != '%' && *p != 'n')
            next++;
    }
    return total;
}

static void printf_guard(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    adhoc_conn_t *c = sqlite3_user_data(ctx);
    if (argc < 1)
        return;
    const char *fmt = (const char *)sqlite3_value_text(argv[0]);
    int64_t max = sqlite3_limit(c->db, SQLITE_LIMIT_LENGTH, -1);
    int64_t widths = printf_widths(fmt, argc - 1, argv + 1);
    if (widths > max) {
        char msg[200];
        snprintf(msg, sizeof(msg), "printf(): widths and precisions of %lld "
                 "characters in all are more than a value may hold (%lld "
                 "bytes)", (long long)widths, (long long)max);
        sqlite3_result_error(ctx, msg, -1);
        return;
    }
    if (!c->fmt_db) {
        if (sqlite3_open_v2(":memory:", &c->fmt_db, SQLITE_OPEN_READWRITE |
                            SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
            sqlite3_close(c->fmt_db);
            c->fmt_db = NULL;
            sqlite3_result_error_nomem(ctx);
            return;
        }
        sqlite3_limit(c->fmt_db, SQLITE_LIMIT_LENGTH, (int)max);
    }
    sqlite3_stmt *st = argc <= PRINTF_CACHED ? c->fmt[argc] : NULL;
    if (!st) {
        sbuf_t q = SBUF_INIT;
        sbuf_add(&q, "SELECT printf(?1");
        for (int i = 2; i <= argc; i++)
            sbuf_printf(&q, ",?%d", i);
        sbuf_addc(&q, ')');
        int rc = sqlite3_prepare_v2(c->fmt_db, sbuf_str(&q), -1, &st, NULL);
        sbuf_free(&q);
        if (rc != SQLITE_OK) {
            sqlite3_result_error(ctx, sqlite3_errmsg(c->fmt_db), -1);
            return;
        }
        if (argc <= PRINTF_CACHED)
            c->fmt[argc] = st;
    }
    for (int i = 0; i < argc; i++)
        sqlite3_bind_value(st, i + 1, argv[i]);
    if (sqlite3_step(st) == SQLITE_ROW)
        sqlite3_result_value(ctx, sqlite3_column_value(st, 0));
    else
        sqlite3_result_error(ctx, sqlite3_errmsg(c->fmt_db), -1);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (argc > PRINTF_CACHED)
        sqlite3_finalize(st);
}

/* ---- the pool ----------------------------------------------------------------- */

static void conn_close(adhoc_conn_t *c)
{
    if (!c)
        return;
    for (int i = 0; i <= PRINTF_CACHED; i++)
        sqlite3_finalize(c->fmt[i]);
    sqlite3_close(c->fmt_db);
    sqlite3_close(c->db);
    free(c);
}

static adhoc_conn_t *conn_open(store_t *s, diag_t *err)
{
    adhoc_conn_t *c = xcalloc(1, sizeof(*c));
    if (sqlite3_open_v2(s->path, &c->db, SQLITE_OPEN_READONLY |
                        SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        diag_set(err, "cannot open '%s' for reading: %s", s->path,
                 c->db ? sqlite3_errmsg(c->db) : "out of memory");
        conn_close(c);
        return NULL;
    }
    sqlite3 *db = c->db;
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, 2000);
    sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, NULL);
    sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
    sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_FTS3_TOKENIZER, 0, NULL);
    sqlite3_db_config(db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
    sqlite3_limit(db, SQLITE_LIMIT_ATTACHED, 0);
    sqlite3_limit(db, SQLITE_LIMIT_LENGTH, 16 << 20);
    sqlite3_limit(db, SQLITE_LIMIT_SQL_LENGTH, 1 << 20);
    /* No mmap: measured on our VM, a page fault per newly touched page
     * costs more than pread's copy (docs/PERFORMANCE.md), and an I/O
     * error would arrive as SIGBUS instead of an error code. */
    if (sq_exec(db, "PRAGMA query_only=1; PRAGMA cache_size=-65536;"
                "PRAGMA temp_store=MEMORY", err) < 0 ||
        sqlfunc_register(db) != SQLITE_OK) {
        diag_set(err, "setting up a read connection: %s", sqlite3_errmsg(db));
        conn_close(c);
        return NULL;
    }
    if (sqlite3_create_function(db, "printf", -1, SQLITE_UTF8, c,
                                printf_guard, NULL, NULL) != SQLITE_OK ||
        sqlite3_create_function(db, "format", -1, SQLITE_UTF8, c,
                                printf_guard, NULL, NULL) != SQLITE_OK) {
        diag_set(err, "setting up a read connection: %s", sqlite3_errmsg(db));
        conn_close(c);
        return NULL;
    }
    if (s->cfg.archive_dir) {
        c->flows.dir = s->cfg.archive_dir;
        c->flows.deadline = &c->deadline;
        c->flows.timed_out = &c->timed_out;
        if (flowvtab_register(db, &c->flows) != SQLITE_OK) {
            diag_set(err, "setting up a read connection: %s",
                     sqlite3_errmsg(db));
            conn_close(c);
            return NULL;
        }
    }
    sqlite3_set_authorizer(db, authorize, c);
    sqlite3_progress_handler(db, 1000, progress, c);
    return c;
}

static adhoc_conn_t *conn_get(store_t *s, diag_t *err)
{
    pthread_mutex_lock(&s->ad_lock);
    if (s->ad_running >= s->cfg.adhoc_max_running) {
        pthread_mutex_unlock(&s->ad_lock);
        diag_set(err, "too many ad hoc queries at once (at most %d): try "
                 "again when one has finished", s->cfg.adhoc_max_running);
        return NULL;
    }
    s->ad_running++;
    adhoc_conn_t *c = s->nidle ? s->idle[--s->nidle] : NULL;
    pthread_mutex_unlock(&s->ad_lock);
    if (!c && !(c = conn_open(s, err))) {
        pthread_mutex_lock(&s->ad_lock);
        s->ad_running--;
        pthread_mutex_unlock(&s->ad_lock);
    }
    return c;
}

static void conn_put(store_t *s, adhoc_conn_t *c)
{
    pthread_mutex_lock(&s->ad_lock);
    if (!s->idle)
        s->idle = xcalloc((size_t)s->cfg.adhoc_max_running, sizeof(*s->idle));
    s->ad_running--;
    if (s->nidle < s->cfg.adhoc_max_running) {
        s->idle[s->nidle++] = c;
        c = NULL;
    }
    pthread_mutex_unlock(&s->ad_lock);
    conn_close(c);
}

void adhoc_close_all(store_t *s)
{
    for (int i = 0; i < s->nidle; i++)
        conn_close(s->idle[i]);
    free(s->idle);
    s->idle = NULL;
    s->nidle = 0;
}

/* ---- running a statement --------------------------------------------- */

/* Skip blanks, comments and empty statements. */
static const char *skip_space(const char *p)
{
    for (;;) {
        while (isspace((unsigned char)*p) || *p == ';')
            p++;
        if (p[0] == '-' && p[1] == '-') {
            while (*p && *p != '\n')
                p++;
        } else if (p[0] == '/' && p[1] == '*') {
            const char *e = strstr(p + 2, "*/");
            p = e ? e + 2 : p + strlen(p);
        } else {
            return p;
        }
    }
}

/* The statement's kind for messages: its first word, and for CREATE,
 * DROP and ALTER the object too ("CREATE INDEX", also for CREATE UNIQUE
 * INDEX and CREATE TEMP TABLE). 1 if it is a kind that only reads. */
static int first_word_ok(const char *p, char *word, size_t size)
{
    static const char *ok[] = {"SELECT", "WITH", "VALUES", "EXPLAIN", "PRAGMA"};
    static const char *skip[] = {"TEMP", "TEMPORARY", "UNIQUE"};
    size_t n = 0;
    int words = 0;
    for (;;) {
        size_t start = n;
        while (isalpha((unsigned char)*p) && n + 1 < size) {
            word[n++] = (char)toupper((unsigned char)*p);
            p++;
        }
        word[n] = 0;
        int skipped = 0;
        for (size_t i = 0; words && i < sizeof(skip) / sizeof(skip[0]); i++)
            if (strcmp(word + start, skip[i]) == 0) {
                n = start - 1;      /* drop it and its space */
                word[n] = 0;
                skipped = 1;
            }
        words += !skipped;
        if (words == 2 || !(strcmp(word, "CREATE") == 0 ||
                            strcmp(word, "DROP") == 0 ||
                            strcmp(word, "ALTER") == 0 || skipped))
            break;
        while (isspace((unsigned char)*p))
            p++;
        if (!isalpha((unsigned char)*p) || n + 2 >= size)
            break;
        word[n++] = ' ';
    }
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        if (strcmp(word, ok[i]) == 0)
            return 1;
    return 0;
}

/* Statements known to change something, by their first word. */
static int write_word(const char *kind)
{
    char word[16];
    size_t n = strcspn(kind, " ");
    snprintf(word, sizeof(word), "%.*s", (int)(n < 15 ? n : 15), kind);
    static const char *w[] = {"INSERT", "REPLACE", "UPDATE", "DELETE",
                              "CREATE", "DROP", "ALTER", "VACUUM", "REINDEX",
                              "ANALYZE", "ATTACH", "DETACH", "BEGIN", "COMMIT",
                              "END", "ROLLBACK", "SAVEPOINT", "RELEASE"};
    for (size_t i = 0; i < sizeof(w) / sizeof(w[0]); i++)
        if (strcmp(word, w[i]) == 0)
            return 1;
    return 0;
}

static int err_code(int sqlite_rc)
{
    switch (sqlite_rc & 0xff) {
    case SQLITE_ERROR:
    case SQLITE_RANGE:
    case SQLITE_MISMATCH:
    case SQLITE_CONSTRAINT:
    case SQLITE_TOOBIG:
        return STORE_EINVALID;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return STORE_EBUSY;
    case SQLITE_AUTH:
    case SQLITE_READONLY:
        return STORE_EREFUSED;
    default:
        return STORE_EIO;
    }
}

/* ---- cursors ------------------------------------------------------------ */

struct store_cursor {
    store_t        *s;
    adhoc_conn_t   *c;
    sqlite3_stmt   *st;
    int             ncols;
    type_t         *types;       /* of the declared types, TYPE_NONE */
    store_value_t  *row;         /* the current row, ncols values */
    int64_t         t0, time_ms, max_rows, rows;
    int             truncated, done, counted;
};

static void cursor_types(store_cursor_t *cur)
{
    cur->ncols = sqlite3_column_count(cur->st);
    size_t n = (size_t)(cur->ncols ? cur->ncols : 1);
    cur->types = xcalloc(n, sizeof(type_t));
    cur->row = xcalloc(n, sizeof(store_value_t));
    for (int i = 0; i < cur->ncols; i++) {
        const char *decl = sqlite3_column_decltype(cur->st, i);
        cur->types[i] = TYPE_NONE;
        for (int t = TYPE_BOOL; decl && t <= TYPE_DURATION; t++)
            if (strcasecmp(decl, store_decltype((type_t)t)) == 0)
                cur->types[i] = (type_t)t;
    }
}

/* The statement's current row into cur->row; text and blobs point into
 * SQLite's memory, valid until the next step. */
static void cursor_read(store_cursor_t *cur)
{
    sqlite3_stmt *st = cur->st;
    for (int i = 0; i < cur->ncols; i++) {
        store_value_t *v = &cur->row[i];
        memset(v, 0, sizeof(*v));
        switch (sqlite3_column_type(st, i)) {
        case SQLITE_INTEGER:
            v->v.i = sqlite3_column_int64(st, i);
            v->t = cur->types[i] == TYPE_TIME       ? SV_TIME
                 : cur->types[i] == TYPE_DURATION ? SV_DURATION
                 : cur->types[i] == TYPE_BOOL     ? SV_BOOL
                                                  : SV_INT;
            break;
        case SQLITE_FLOAT:
            v->t = SV_FLOAT;
            v->v.f = sqlite3_column_double(st, i);
            break;
        case SQLITE_TEXT: {
            const char *txt = (const char *)sqlite3_column_text(st, i);
            v->t = SV_TEXT;
            v->len = (uint32_t)sqlite3_column_bytes(st, i);
            v->v.s = txt ? txt : "";
            break;
        }
        case SQLITE_BLOB: {
            const void *p = sqlite3_column_blob(st, i);
            int n = sqlite3_column_bytes(st, i);
            if (n == 16) {
                v->t = SV_IP;
                memcpy(v->v.ip.a, p, 16);
            } else {
                v->t = SV_BLOB;
                v->len = (uint32_t)n;
                v->v.s = p ? p : "";
            }
            break;
        }
        default:
            v->t = SV_NULL;
        }
    }
}

static int cursor_timeout(store_cursor_t *cur, diag_t *err)
{
    diag_set(err, "query interrupted: time limit of %lld ms reached",
             (long long)cur->time_ms);
    if (!cur->counted)
        ctr_add(&cur->s->ctr.adhoc_timeouts, 1);
    cur->counted = 1;
    cur->done = 1;
    return STORE_ETIMEOUT;
}

/* Check sql and prepare it on a pooled connection (binding ?1 and ?2
 * when nbind). 0 with *out set, or an error code with err set. */
static int cursor_open(store_t *s, const char *sql, const store_limits_t *lim,
                       int64_t bind_from, int64_t bind_to, int nbind,
                       store_cursor_t **out, diag_t *err)
{
    *out = NULL;
    if (!sql) {
        diag_set(err, "no query");
        return STORE_EINVALID;
    }
    int64_t time_ms = lim && lim->time_ms ? lim->time_ms : s->cfg.adhoc_time_ms;
    int64_t max_rows = lim && lim->max_rows ? lim->max_rows
                                            : s->cfg.adhoc_max_rows;
    const char *p = skip_space(sql);
    char word[40];
    if (!*p) {
        diag_set(err, "empty query");
        return STORE_EINVALID;
    }
    ctr_add(&s->ctr.adhoc_queries, 1);
    adhoc_conn_t *c = conn_get(s, err);
    if (!c)
        return STORE_EBUSY;
    int64_t t0 = time_mono_ms();
    c->deny[0] = 0;
    c->timed_out = 0;
    c->deadline = time_ms > 0 ? t0 + time_ms : 0;
    sqlite3_stmt *st = NULL;
    const char *tail = NULL;
    int reads = first_word_ok(p, word, sizeof(word));
    int rc = sqlite3_prepare_v2(c->db, p, -1, &st, &tail);
    if (rc == SQLITE_SCHEMA) {
        /* The schema changed since this pooled connection last read it
         * (a query added its table), and the statement has an error of
         * its own: SQLite reports the first instead of the second. Read
         * the schema again and ask once more for the statement's own
         * answer. */
        sqlite3_finalize(st);
        st = NULL;
        c->deny[0] = 0;
        sqlite3_exec(c->db, "SELECT 1 FROM sqlite_master LIMIT 0", NULL,
                     NULL, NULL);
        rc = sqlite3_prepare_v2(c->db, p, -1, &st, &tail);
    }
    int code = 0;
    if (rc != SQLITE_OK) {
        if (c->deny[0]) {
            diag_set(err, "%s", c->deny);
            code = STORE_EREFUSED;
        } else if (write_word(word)) {
            diag_set(err, "ad hoc queries are read-only: %s is not allowed",
                     word[0] ? word : "this statement");
            code = STORE_EREFUSED;
        } else if (strncmp(sqlite3_errmsg(c->db), "cannot modify ", 14) == 0) {
            diag_set(err, "ad hoc queries are read-only: %s",
                     sqlite3_errmsg(c->db));
            code = STORE_EREFUSED;
        } else if (c->timed_out) {
            diag_set(err, "query interrupted: time limit of %lld ms reached",
                     (long long)time_ms);
            code = STORE_ETIMEOUT;
        } else {
            diag_set(err, "%s", sqlite3_errmsg(c->db));
            code = err_code(rc);
        }
    } else if (!st) {
        diag_set(err, "empty query");
        code = STORE_EINVALID;
    } else if (*skip_space(tail)) {
        diag_set(err, "only one statement at a time is allowed");
        code = STORE_EREFUSED;
    } else if (!reads || !sqlite3_stmt_readonly(st)) {
        diag_set(err, "ad hoc queries are read-only: %s is not allowed",
                 word[0] ? word : "this statement");
        code = STORE_EREFUSED;
    }
    if (code != 0) {
        if (code == STORE_EREFUSED)
            ctr_add(&s->ctr.adhoc_refused, 1);
        else if (code == STORE_ETIMEOUT)
            ctr_add(&s->ctr.adhoc_timeouts, 1);
        else
            ctr_add(&s->ctr.adhoc_errors, 1);
        sqlite3_finalize(st);
        c->deadline = 0;
        conn_put(s, c);
        return code;
    }
    if (nbind) {
        sqlite3_bind_int64(st, 1, bind_from);
        sqlite3_bind_int64(st, 2, bind_to);
    }
    store_cursor_t *cur = xcalloc(1, sizeof(*cur));
    cur->s = s;
    cur->c = c;
    cur->st = st;
    cur->t0 = t0;
    cur->time_ms = time_ms;
    cur->max_rows = max_rows;
    cursor_types(cur);
    *out = cur;
    return 0;
}

int store_cursor_open(store_t *s, const char *sql, const store_limits_t *limits,
                      store_cursor_t **out, diag_t *err)
{
    return cursor_open(s, sql, limits, 0, 0, 0, out, err);
}

int store_cursor_ncols(const store_cursor_t *cur)
{
    return cur->ncols;
}

const char *store_cursor_name(const store_cursor_t *cur, int col)
{
    const char *n = sqlite3_column_name(cur->st, col);
    return n ? n : "";
}

const char *store_cursor_decltype(const store_cursor_t *cur, int col)
{
    return sqlite3_column_decltype(cur->st, col);
}

type_t store_cursor_type(const store_cursor_t *cur, int col)
{
    return cur->types[col];
}

int store_cursor_next(store_cursor_t *cur, const store_value_t **row,
                      diag_t *err)
{
    *row = NULL;
    if (cur->done)
        return 0;
    if (cur->max_rows >= 0 && cur->rows >= cur->max_rows) {
        /* One more step says whether rows were left out. */
        int more = sqlite3_step(cur->st) == SQLITE_ROW;
        cur->truncated = more;
        cur->done = 1;
        return 0;
    }
    int rc = sqlite3_step(cur->st);
    if (rc == SQLITE_ROW) {
        cursor_read(cur);
        cur->rows++;
        *row = cur->row;
        return 1;
    }
    cur->done = 1;
    if (rc == SQLITE_DONE)
        return 0;
    if (cur->c->timed_out)
        return cursor_timeout(cur, err);
    diag_set(err, "%s", sqlite3_errmsg(cur->c->db));
    ctr_add(&cur->s->ctr.adhoc_errors, 1);
    return err_code(rc);
}

int store_cursor_truncated(const store_cursor_t *cur)
{
    return cur->truncated;
}

int store_cursor_check_time(store_cursor_t *cur, diag_t *err)
{
    if (cur->c->deadline && time_mono_ms() >= cur->c->deadline)
        return cursor_timeout(cur, err);
    return 0;
}

int64_t store_cursor_elapsed_ms(const store_cursor_t *cur)
{
    return time_mono_ms() - cur->t0;
}

void store_cursor_close(store_cursor_t *cur)
{
    if (!cur)
        return;
    sqlite3_finalize(cur->st);
    cur->c->deadline = 0;
    conn_put(cur->s, cur->c);
    free(cur->types);
    free(cur->row);
    free(cur);
}

/* ---- whole results -------------------------------------------------------- */

/* Read every row of cur into a result (at most ADHOC_MAX_BYTES of text
 * and blobs: past it the result is cut like at the row limit). */
static int collect(store_cursor_t *cur, store_result_t **out, diag_t *err)
{
    arena_t *a = arena_new();
    store_result_t *r = arena_alloc(a, sizeof(*r));
    r->arena = a;
    r->ncols = cur->ncols;
    size_t n = (size_t)(r->ncols ? r->ncols : 1);
    r->names = arena_alloc(a, sizeof(char *) * n);
    r->decltypes = arena_alloc(a, sizeof(char *) * n);
    r->types = arena_alloc(a, sizeof(type_t) * n);
    for (int i = 0; i < r->ncols; i++) {
        const char *decl = store_cursor_decltype(cur, i);
        r->names[i] = arena_strdup(a, store_cursor_name(cur, i));
        r->decltypes[i] = decl ? arena_strdup(a, decl) : NULL;
        r->types[i] = cur->types[i];
    }
    uint64_t cap = 0;
    size_t bytes = 0;
    const store_value_t *row;
    int rc;
    while ((rc = store_cursor_next(cur, &row, err)) == 1) {
        if (bytes > ADHOC_MAX_BYTES) {
            r->truncated = 1;
            break;
        }
        if (r->nrows == cap) {
            cap = cap ? cap * 2 : 64;
            r->cells = xrealloc(r->cells, sizeof(store_value_t) * cap * n);
        }
        store_value_t *dst = r->cells + r->nrows * (uint64_t)r->ncols;
        for (int i = 0; i < r->ncols; i++) {
            dst[i] = row[i];
            if (row[i].t == SV_TEXT || row[i].t == SV_BLOB) {
                char *copy = arena_alloc(a, (size_t)row[i].len + 1);
                if (row[i].len)
                    memcpy(copy, row[i].v.s, row[i].len);
                dst[i].v.s = copy;
                bytes += row[i].len;
            }
        }
        r->nrows++;
    }
    if (rc < 0) {
        store_result_free(r);
        return rc;
    }
    r->truncated |= store_cursor_truncated(cur);
    r->elapsed_ms = store_cursor_elapsed_ms(cur);
    *out = r;
    return 0;
}

static int run(store_t *s, const char *sql, const store_limits_t *lim,
               int64_t bind_from, int64_t bind_to, int nbind,
               store_result_t **out, diag_t *err)
{
    *out = NULL;
    store_cursor_t *cur;
    int rc = cursor_open(s, sql, lim, bind_from, bind_to, nbind, &cur, err);
    if (rc != 0)
        return rc;
    rc = collect(cur, out, err);
    store_cursor_close(cur);
    return rc;
}

int store_adhoc(store_t *s, const char *sql, const store_limits_t *limits,
                store_result_t **out, diag_t *err)
{
    return run(s, sql, limits, 0, 0, 0, out, err);
}

/* A name whose stored windows may be read: a query's (or an archived
 * query's) table name, letters, digits and '_' only, so it can be put in
 * a statement. 0 with err set if not. */
static int results_name_ok(const char *name, diag_t *err)
{
    int ok = name && (sq_valid_name(name) ||
                      strncmp(name, "flowsql_archive_", 16) == 0);
    for (const char *p = name; ok && *p; p++)
        ok = isalnum((unsigned char)*p) || *p == '_';
    if (!ok)
        diag_set(err, "invalid query name '%s'", name ? name : "");
    return ok;
}

int store_results(store_t *s, const char *name, int64_t from_ms,
                  int64_t to_ms, int64_t limit, store_result_t **out,
                  diag_t *err)
{
    *out = NULL;
    if (!results_name_ok(name, err))
        return STORE_EINVALID;
    sbuf_t b = SBUF_INIT;
    sbuf_add(&b, "SELECT * FROM ");
    sq_quote(&b, name);
    sbuf_add(&b, " WHERE window_start >= ?1 AND window_start < ?2 "
                 "ORDER BY window_start, window_row");
    store_limits_t lim = {0, limit};
    diag_t e;
    diag_clear(&e);
    int rc = run(s, sbuf_str(&b), &lim, from_ms, to_ms, 2, out, &e);
    sbuf_free(&b);
    if (rc < 0 && strncmp(e.msg, "no such table", 13) == 0) {
        diag_set(err, "no stored results for '%s'", name);
        return STORE_ENOTFOUND;
    }
    if (rc < 0)
        diag_set(err, "%s", e.msg);
    return rc;
}

int store_windows(store_t *s, const char *name, int64_t from_ms,
                  int64_t to_ms, store_result_t **out, diag_t *err)
{
    *out = NULL;
    if (!results_name_ok(name, err))
        return STORE_EINVALID;
    /* A validated name: letters, digits and '_' only. */
    sbuf_t b = SBUF_INIT;
    sbuf_printf(&b, "SELECT window_start, window_end, rows, partial, parts "
                "FROM flowsql_windows WHERE tbl = '%s' AND window_start >= ?1 "
                "AND window_start < ?2 ORDER BY window_start", name);
    store_limits_t lim = {0, -1};
    int rc = run(s, sbuf_str(&b), &lim, from_ms, to_ms, 2, out, err);
    sbuf_free(&b);
    return rc;
}

void store_result_free(store_result_t *r)
{
    if (!r)
        return;
    free(r->cells);
    arena_free(r->arena);
}
