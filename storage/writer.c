/*
 * writer.c - closed windows into their tables, and old windows out.
 *
 * The engine calls on_window(); the rowset goes into a bounded queue and
 * the writer thread, the only user of the write connection besides the
 * catalog calls, writes each window in one transaction. Between windows
 * it deletes expired windows (retention) and, above the size cap, the
 * oldest windows of any table, in batches of cfg.delete_batch rows, each
 * its own short transaction, so a window never waits for more than one
 * batch.
 *
 * Table layout (docs/STORAGE.md): the rows of query q are in a WITHOUT
 * ROWID table flowsql_rows_q clustered on (window_start, first group
 * column, window_row). Windows arrive in time order, so inserts append at
 * the end of the b-tree and retention deletes at its front. Users query
 * the view q, which joins flowsql_windows to the rows, so that a lookup of
 * one key over a time range is one seek per window of the range.
 */
#include "storage/store_int.h"
#include "engine/qhandle.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "util/log.h"
#include "util/timeutil.h"

static char flush_token;

static log_limit_t lim_drop, lim_fail;

/* ---- table DDL ---------------------------------------------------------- */

static const rowset_col_t *first_key(const rowset_col_t *cols, int ncols)
{
    for (int i = 0; i < ncols; i++)
        if (cols[i].is_key)
            return &cols[i];
    return NULL;
}

int writer_view_ddl(store_t *s, const char *name, diag_t *err)
{
    char data[SQ_DATA_NAME];
    sq_data_name(data, sizeof(data), name);
    /* The window list drives the join: SQLite carries a range on
     * window_start over to w, so "srcip = X AND window_start in the last
     * hour" is one seek per window of that hour (docs/STORAGE.md). */
    sbuf_t b = SBUF_INIT;
    sbuf_add(&b, "CREATE VIEW ");
    sq_quote(&b, name);
    sbuf_add(&b, " AS SELECT t.* FROM flowsql_windows AS w CROSS JOIN ");
    sq_quote(&b, data);
    sbuf_printf(&b, " AS t ON t.window_start = w.window_start WHERE "
                "w.tbl = '%s'", name);   /* a validated name: no quotes */
    int rc = sq_exec(s->wdb, sbuf_str(&b), err);
    sbuf_free(&b);
    return rc;
}

int writer_table_ddl(store_t *s, sq_query_t *q, const char *name, diag_t *err)
{
    char data[SQ_DATA_NAME];
    sq_data_name(data, sizeof(data), name);
    sbuf_t b = SBUF_INIT;
    const rowset_col_t *key = first_key(q->cols, q->ncols);
    sbuf_add(&b, "CREATE TABLE ");
    sq_quote(&b, data);
    /* No NOT NULL on window_end: SQLite 3.40's integrity_check reports
     * false "NULL value" errors for NOT NULL columns of a WITHOUT ROWID
     * table whose key columns are not declared first. The writer always
     * sets it. */
    sbuf_add(&b, " (\n  window_start TIME NOT NULL,\n  window_end TIME");
    for (int i = 0; i < q->ncols; i++) {
        sbuf_add(&b, ",\n  ");
        sq_quote(&b, q->cols[i].name);
        sbuf_printf(&b, " %s", store_decltype(q->cols[i].type));
    }
    sbuf_add(&b, ",\n  window_row INTEGER NOT NULL,\n  PRIMARY KEY (window_start, ");
    if (key) {
        sq_quote(&b, key->name);
        sbuf_add(&b, ", ");
    }
    sbuf_add(&b, "window_row)\n) WITHOUT ROWID");
    int rc = sq_exec(s->wdb, sbuf_str(&b), err);
    sbuf_free(&b);
    if (rc < 0 || (rc = writer_view_ddl(s, name, err)) < 0)
        return rc;
    /* The planner's hint: many rows share a window_start, and a key is
     * nearly unique within one. With it, "srcip = X" on the rows table
     * itself is a skip-scan (one seek per window) rather than a full
     * scan. ANALYZE would compute the same from the data but reads the
     * whole table. */
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->wdb, "INSERT OR REPLACE INTO sqlite_stat1(tbl, "
                           "idx, stat) VALUES (?1, ?1, ?2)", -1, &st,
                           NULL) != SQLITE_OK) {
        diag_set(err, "%s", sqlite3_errmsg(s->wdb));
        return STORE_EIO;
    }
    sqlite3_bind_text(st, 1, data, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, key ? "1000000 1000 1 1" : "1000000 1000 1", -1,
                      SQLITE_STATIC);
    rc = sqlite3_step(st) == SQLITE_DONE ? 0 : STORE_EIO;
    if (rc < 0)
        diag_set(err, "%s", sqlite3_errmsg(s->wdb));
    sqlite3_finalize(st);
    return rc;
}

int writer_table_drop(store_t *s, const char *name, diag_t *err)
{
    char data[SQ_DATA_NAME];
    sq_data_name(data, sizeof(data), name);
    sbuf_t b = SBUF_INIT;
    sbuf_add(&b, "DROP VIEW IF EXISTS ");
    sq_quote(&b, name);
    sbuf_add(&b, "; DROP TABLE IF EXISTS ");
    sq_quote(&b, data);
    int rc = sq_exec(s->wdb, sbuf_str(&b), err);
    sbuf_free(&b);
    return rc;
}

void writer_forget(store_t *s, sq_query_t *q)
{
    (void)s;
    sqlite3_finalize(q->ins);
    q->ins = NULL;
}

void writer_load_state(store_t *s, sq_query_t *q)
{
    sqlite3_stmt *st;
    q->newest_end = 0;
    q->nwindows = 0;
    q->ret_check = 1;
    if (!q->stored || sqlite3_prepare_v2(s->wdb, "SELECT max(window_end), "
                                         "count(*) FROM flowsql_windows WHERE "
                                         "tbl = ?1", -1, &st, NULL) != SQLITE_OK)
        return;
    sqlite3_bind_text(st, 1, q->name, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        q->newest_end = sqlite3_column_int64(st, 0);
        q->nwindows = sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
}

void writer_update_size(store_t *s)
{
    if (sqlite3_step(s->st_size) == SQLITE_ROW)
        gauge_set(&s->ctr.used_bytes, sqlite3_column_int64(s->st_size, 0) *
                                      sqlite3_column_int64(s->st_size, 1));
    sqlite3_reset(s->st_size);
}

/* ---- the output ------------------------------------------------------- */

static int opt_is_false(const char *v)
{
    return v && (strcasecmp(v, "false") == 0 || strcmp(v, "0") == 0);
}

static int name_stored(store_t *s, const char *name)
{
    int found = 0;
    pthread_mutex_lock(&s->names_lock);
    for (int i = 0; i < s->nnames && !found; i++)
        found = strcasecmp(s->names[i], name) == 0;
    pthread_mutex_unlock(&s->names_lock);
    return found;
}

static void count_drop(store_t *s, rowset_t *rs, const char *why)
{
    ctr_add(&s->ctr.windows_dropped, 1);
    ctr_add(&s->ctr.rows_dropped, rs->nrows);
    log_limited(&lim_drop, LOG_WARN, "storage", "window of %s dropped (%u "
                "rows): %s", rs->query, rs->nrows, why);
}

/* The engine thread is here: no disk, no waiting (the two mutexes are
 * held for a few instructions by anyone). */
static void on_window(output_t *o, rowset_t *rs)
{
    store_t *s = o->ctx;
    if (opt_is_false(rowset_opt(rs, "store")) || !name_stored(s, rs->query)) {
        ctr_add(&s->ctr.windows_ignored, 1);
        return;
    }
    uint64_t queued = (uint64_t)gauge_get(&s->ctr.queue_rows);
    if (queued + rs->nrows > (uint64_t)s->cfg.queue_rows) {
        count_drop(s, rs, "writer queue full (rows)");
        return;
    }
    rowset_ref(rs);
    gauge_add(&s->ctr.queue_rows, (int64_t)rs->nrows);
    if (bqueue_try_push(&s->queue, rs) < 0) {
        gauge_add(&s->ctr.queue_rows, -(int64_t)rs->nrows);
        count_drop(s, rs, "writer queue full (windows)");
        rowset_unref(rs);
    }
}

output_t *store_output(store_t *s)
{
    return &s->output;
}

/* ---- writing a window ------------------------------------------------- */

static int prepare_insert(store_t *s, sq_query_t *q)
{
    sbuf_t b = SBUF_INIT;
    char data[SQ_DATA_NAME];
    sq_data_name(data, sizeof(data), q->name);
    sbuf_add(&b, "INSERT INTO ");
    sq_quote(&b, data);
    sbuf_add(&b, " (window_start, window_end");
    for (int i = 0; i < q->ncols; i++) {
        sbuf_add(&b, ", ");
        sq_quote(&b, q->cols[i].name);
    }
    sbuf_add(&b, ", window_row) VALUES (?, ?");
    for (int i = 0; i <= q->ncols; i++)
        sbuf_add(&b, ", ?");
    sbuf_addc(&b, ')');
    int rc = sqlite3_prepare_v3(s->wdb, sbuf_str(&b), -1,
                                SQLITE_PREPARE_PERSISTENT, &q->ins, NULL);
    sbuf_free(&b);
    return rc;
}

static int cols_match(const sq_query_t *q, const rowset_t *rs)
{
    if (rs->ncols != q->ncols)
        return 0;
    for (int i = 0; i < q->ncols; i++)
        if (rs->cols[i].type != q->cols[i].type ||
            strcasecmp(rs->cols[i].name, q->cols[i].name) != 0)
            return 0;
    return 1;
}

typedef struct sort_ctx {
    const rowset_t *rs;
    int             col;
} sort_ctx_t;

/* Strings: compared in place (SQLite's BINARY collation is memcmp). */
static int str_cmp(const void *a, const void *b, void *arg)
{
    const sort_ctx_t *c = arg;
    uint32_t ra = *(const uint32_t *)a, rb = *(const uint32_t *)b;
    const char *x = rowset_row(c->rs, ra)[c->col].s;
    const char *y = rowset_row(c->rs, rb)[c->col].s;
    int r = strcmp(x ? x : "", y ? y : "");
    return r ? r : (ra > rb) - (ra < rb);
}

/* Other keys become two integers that order as SQLite orders the value,
 * so that sorting compares inline words instead of chasing rows. */
typedef struct sort_key {
    uint64_t hi, lo;
    uint32_t row;
} sort_key_t;

static int key_cmp(const void *a, const void *b)
{
    const sort_key_t *x = a, *y = b;
    if (x->hi != y->hi)
        return x->hi < y->hi ? -1 : 1;
    if (x->lo != y->lo)
        return x->lo < y->lo ? -1 : 1;
    return (x->row > y->row) - (x->row < y->row);
}

static uint64_t be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

/* The order in which to insert the rows of rs: by the key column (rows
 * in the b-tree's order append to it instead of splitting pages at random
 * places), or as they came when there is no key. */
static void insert_order(const rowset_t *rs, int key, type_t type,
                         uint32_t *order)
{
    uint32_t n = rs->nrows;
    if (key < 0 || n < 2) {
        for (uint32_t r = 0; r < n; r++)
            order[r] = r;
        return;
    }
    if (type == TYPE_STRING) {
        for (uint32_t r = 0; r < n; r++)
            order[r] = r;
        sort_ctx_t c = {rs, key};
        qsort_r(order, n, sizeof(uint32_t), str_cmp, &c);
        return;
    }
    sort_key_t *k = xmalloc(sizeof(*k) * n);
    for (uint32_t r = 0; r < n; r++) {
        const value_t *v = &rowset_row(rs, r)[key];
        k[r].row = r;
        k[r].lo = 0;
        if (type == TYPE_IP) {
            k[r].hi = be64(v->ip.a);
            k[r].lo = be64(v->ip.a + 8);
        } else if (type == TYPE_FLOAT) {
            uint64_t bits;
            memcpy(&bits, &v->f, 8);
            k[r].hi = isnan(v->f) ? UINT64_MAX
                    : bits >> 63   ? ~bits
                                   : bits ^ (1ULL << 63);
        } else {
            k[r].hi = (uint64_t)v->i ^ (1ULL << 63);
        }
    }
    qsort(k, n, sizeof(*k), key_cmp);
    for (uint32_t r = 0; r < n; r++)
        order[r] = k[r].row;
    free(k);
}

static void bind_value(sqlite3_stmt *st, int i, const value_t *v, type_t t,
                       int is_pk)
{
    switch (t) {
    case TYPE_FLOAT:
        /* SQLite turns NaN into NULL, which a key column cannot hold. */
        if (isnan(v->f) && is_pk)
            sqlite3_bind_text(st, i, "NaN", 3, SQLITE_STATIC);
        else
            sqlite3_bind_double(st, i, v->f);
        break;
    case TYPE_STRING:
        if (v->s)
            sqlite3_bind_text(st, i, v->s, -1, SQLITE_STATIC);
        else if (is_pk)
            sqlite3_bind_text(st, i, "", 0, SQLITE_STATIC);
        else
            sqlite3_bind_null(st, i);
        break;
    case TYPE_IP:
        sqlite3_bind_blob(st, i, v->ip.a, 16, SQLITE_STATIC);
        break;
    default:
        sqlite3_bind_int64(st, i, v->i);
    }
}

/* Rows already stored for this window (a window re-emitted after a
 * restart appends to it; window_row continues its numbering); *listed
 * says whether flowsql_windows has it (an empty window has no rows). */
static int64_t window_rows(store_t *s, const char *tbl, int64_t ws,
                           int *listed)
{
    sqlite3_stmt *st;
    int64_t n = 0;
    *listed = 0;
    if (sqlite3_prepare_v2(s->wdb, "SELECT rows FROM flowsql_windows WHERE "
                           "tbl = ?1 AND window_start = ?2", -1, &st,
                           NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, tbl, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, ws);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        n = sqlite3_column_int64(st, 0);
        *listed = 1;
    } else if (rc != SQLITE_DONE)
        n = -1;
    sqlite3_finalize(st);
    return n;
}

/* A replayed window written again (flowsqld --read of the same file):
 * the rows stored for it go, so that the window is what the replay made
 * and not the sum of two runs. */
static int window_clear(store_t *s, const char *tbl, int64_t ws)
{
    char data[SQ_DATA_NAME];
    sq_data_name(data, sizeof(data), tbl);
    sbuf_t b = SBUF_INIT;
    sbuf_add(&b, "DELETE FROM ");
    sq_quote(&b, data);
    sbuf_add(&b, " WHERE window_start = ?1");
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(s->wdb, sbuf_str(&b), -1, &st, NULL);
    sbuf_free(&b);
    if (rc != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, ws);
    rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    sqlite3_finalize(st);
    return rc;
}

/* List the window in flowsql_windows. A second part of a window (the
 * daemon stopped inside it and the rest came after the restart) adds its
 * rows, counts one more part and keeps the window partial; a replayed
 * window replaces what was listed. */
static int list_window(store_t *s, const char *tbl, const rowset_t *rs)
{
    sqlite3_stmt *st;
    const char *sql = rs->replayed
        ? "INSERT INTO flowsql_windows(tbl, window_start, window_end, rows, "
          "written, partial, parts) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1) "
          "ON CONFLICT(tbl, window_start) DO UPDATE SET rows = excluded.rows, "
          "window_end = excluded.window_end, written = excluded.written, "
          "partial = excluded.partial, parts = 1"
        : "INSERT INTO flowsql_windows(tbl, window_start, window_end, rows, "
          "written, partial, parts) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1) "
          "ON CONFLICT(tbl, window_start) DO UPDATE SET rows = rows + "
          "excluded.rows, window_end = max(window_end, excluded.window_end), "
          "written = excluded.written, partial = max(partial, "
          "excluded.partial), parts = parts + 1";
    if (sqlite3_prepare_v2(s->wdb, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, tbl, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, rs->wstart);
    sqlite3_bind_int64(st, 3, rs->wend);
    sqlite3_bind_int64(st, 4, rs->nrows);
    sqlite3_bind_int64(st, 5, time_now_ms());
    sqlite3_bind_int(st, 6, rs->partial != 0);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    sqlite3_finalize(st);
    return rc;
}

static void write_failed(store_t *s, const rowset_t *rs, const char *what)
{
    ctr_add(&s->ctr.windows_failed, 1);
    ctr_add(&s->ctr.rows_failed, rs->nrows);
    sq_set_error(s, "window of %s not written: %s", rs->query, what);
    log_limited(&lim_fail, LOG_ERROR, "storage", "window of %s not written "
                "(%u rows): %s", rs->query, rs->nrows, what);
}

/* A window of a query dropped since it was queued: its handle says so
 * (a query registered again under the name is another handle). */
static int window_stale(const rowset_t *rs)
{
    return rs->qh && atomic_load(&rs->qh->dropped);
}

static void write_window(store_t *s, rowset_t *rs)
{
    pthread_mutex_lock(&s->wlock);
    sq_query_t *q = sq_find(s, rs->query);
    if (!q || !q->stored || window_stale(rs)) {
        ctr_add(&s->ctr.windows_ignored, 1);
        pthread_mutex_unlock(&s->wlock);
        return;
    }
    if (!cols_match(q, rs)) {
        write_failed(s, rs, "its columns differ from the registered query's");
        pthread_mutex_unlock(&s->wlock);
        return;
    }
    int64_t t0 = time_mono_ms();
    sqlite3 *db = s->wdb;
    uint32_t *order = NULL;
    int key = -1;
    for (int i = 0; i < q->ncols && key < 0; i++)
        if (q->cols[i].is_key)
            key = i;
    int64_t offset = 0;
    int listed = 0;
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK ||
        (offset = window_rows(s, q->name, rs->wstart, &listed)) < 0 ||
        (!q->ins && prepare_insert(s, q) != SQLITE_OK))
        goto fail;
    if (listed && rs->replayed) {
        if (window_clear(s, q->name, rs->wstart) < 0)
            goto fail;
        offset = 0;
    }
    order = xmalloc(sizeof(uint32_t) * (rs->nrows ? rs->nrows : 1));
    insert_order(rs, key, key >= 0 ? q->cols[key].type : TYPE_NONE, order);
    sqlite3_stmt *ins = q->ins;
    for (uint32_t k = 0; k < rs->nrows; k++) {
        uint32_t r = order[k];
        const value_t *row = rowset_row(rs, r);
        if (k + 8 < rs->nrows)      /* sorted order jumps around the rows */
            __builtin_prefetch(rowset_row(rs, order[k + 8]));
        sqlite3_bind_int64(ins, 1, rs->wstart);
        sqlite3_bind_int64(ins, 2, rs->wend);
        for (int c = 0; c < q->ncols; c++)
            bind_value(ins, c + 3, &row[c], q->cols[c].type, c == key);
        sqlite3_bind_int64(ins, q->ncols + 3, offset + r);
        int rc = sqlite3_step(ins);
        sqlite3_reset(ins);
        if (rc != SQLITE_DONE)
            goto fail;
    }
    sqlite3_clear_bindings(ins);
    if (list_window(s, q->name, rs) < 0 ||
        sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        goto fail;
    free(order);
    if (!listed)
        q->nwindows++;
    if (rs->wend > q->newest_end)
        q->newest_end = rs->wend;
    q->ret_check = 1;
    writer_update_size(s);
    pthread_mutex_unlock(&s->wlock);
    ctr_add(&s->ctr.windows_written, 1);
    ctr_add(&s->ctr.rows_written, rs->nrows);
    gauge_set(&s->ctr.write_ms, time_mono_ms() - t0);
    if (rs->closed_at > 0)
        gauge_set(&s->ctr.lag_ms, time_now_ms() - rs->closed_at);
    return;
fail:
    free(order);
    {
        char what[200];
        snprintf(what, sizeof(what), "%s", sqlite3_errmsg(db));
        if (q->ins)
            sqlite3_clear_bindings(q->ins);
        if (!sqlite3_get_autocommit(db))
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        write_failed(s, rs, what);
    }
    writer_update_size(s);
    pthread_mutex_unlock(&s->wlock);
}

/* ---- deleting old windows ---------------------------------------------- */

/* The key column of a table's primary key (between window_start and
 * window_row), into buf, or "" if it has none. */
static int pk_key(store_t *s, const char *tbl, char *buf, size_t size)
{
    sqlite3_stmt *st;
    buf[0] = 0;
    if (sqlite3_prepare_v2(s->wdb, "SELECT name FROM pragma_table_info(?1) "
                           "WHERE pk = 2", -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, tbl, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        snprintf(buf, size, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return 0;
}

/* Delete at most cfg.delete_batch rows of one window of table tbl (the
 * name users see; the rows are in its flowsql_rows_ table), in
 * primary-key order. Returns rows deleted, with *done 1 when this call removed the
 * last rows and the window's flowsql_windows row, 2 when that row was
 * already gone; -1 on error. */
static int64_t delete_batch(store_t *s, const char *tbl, int64_t ws, int *done)
{
    sqlite3 *db = s->wdb;
    char key[256];
    sbuf_t sel = SBUF_INIT, del = SBUF_INIT, qt = SBUF_INIT;
    sqlite3_stmt *st = NULL, *dt = NULL;
    int64_t n = -1;
    *done = 0;
    char data[SQ_DATA_NAME];
    sq_data_name(data, sizeof(data), tbl);
    if (pk_key(s, data, key, sizeof(key)) < 0)
        goto out;
    sq_quote(&qt, data);
    const char *cols = "window_row";
    sbuf_t kq = SBUF_INIT;
    if (key[0]) {
        sq_quote(&kq, key);
        sbuf_add(&kq, ", window_row");
        cols = sbuf_str(&kq);
    }
    /* The last row of this batch, if the window has more than a batch. */
    sbuf_printf(&sel, "SELECT %s FROM %s WHERE window_start = ?1 ORDER BY %s "
                "LIMIT 1 OFFSET ?2", cols, sbuf_str(&qt), cols);
    if (sqlite3_prepare_v2(db, sbuf_str(&sel), -1, &st, NULL) != SQLITE_OK) {
        sbuf_free(&kq);
        goto out;
    }
    sqlite3_bind_int64(st, 1, ws);
    sqlite3_bind_int64(st, 2, s->cfg.delete_batch - 1);
    int more = sqlite3_step(st) == SQLITE_ROW;
    sbuf_printf(&del, "DELETE FROM %s WHERE window_start = ?1", sbuf_str(&qt));
    if (more)
        sbuf_printf(&del, " AND (%s) <= (?2%s)", cols, key[0] ? ", ?3" : "");
    sbuf_free(&kq);
    if (sqlite3_prepare_v2(db, sbuf_str(&del), -1, &dt, NULL) != SQLITE_OK)
        goto out;
    sqlite3_bind_int64(dt, 1, ws);
    if (more) {
        sqlite3_bind_value(dt, 2, sqlite3_column_value(st, 0));
        if (key[0])
            sqlite3_bind_value(dt, 3, sqlite3_column_value(st, 1));
    }
    sqlite3_reset(st);
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        goto out;
    if (sqlite3_step(dt) != SQLITE_DONE)
        goto rollback;
    n = sqlite3_changes64(db);
    if (!more) {
        sqlite3_stmt *wt;
        if (sqlite3_prepare_v2(db, "DELETE FROM flowsql_windows WHERE tbl = ?1 "
                               "AND window_start = ?2", -1, &wt, NULL) != SQLITE_OK)
            goto rollback;
        sqlite3_bind_text(wt, 1, tbl, -1, SQLITE_STATIC);
        sqlite3_bind_int64(wt, 2, ws);
        int rc = sqlite3_step(wt);
        sqlite3_finalize(wt);
        if (rc != SQLITE_DONE)
            goto rollback;
        /* 2: someone else (retention or the cap) finished it first. */
        *done = sqlite3_changes(db) == 1 ? 1 : 2;
    }
    if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
        goto out;
rollback:
    n = -1;
    *done = 0;
    if (!sqlite3_get_autocommit(db))
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
out:
    if (n < 0)
        sq_set_error(s, "deleting old rows of %s: %s", tbl, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    sqlite3_finalize(dt);
    sbuf_free(&sel);
    sbuf_free(&del);
    sbuf_free(&qt);
    return n;
}

/* Oldest listed window: of one table (tbl != NULL) or of all. */
static int oldest_window(store_t *s, const char *tbl, char *tbl_out,
                         size_t size, int64_t *ws, int64_t *we)
{
    sqlite3_stmt *st;
    const char *sql = tbl ? "SELECT tbl, window_start, window_end FROM "
                            "flowsql_windows WHERE tbl = ?1 ORDER BY "
                            "window_start LIMIT 1"
                          : "SELECT tbl, window_start, window_end FROM "
                            "flowsql_windows ORDER BY window_start LIMIT 1";
    if (sqlite3_prepare_v2(s->wdb, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    if (tbl)
        sqlite3_bind_text(st, 1, tbl, -1, SQLITE_STATIC);
    int found = sqlite3_step(st) == SQLITE_ROW;
    if (found) {
        if (tbl_out)
            snprintf(tbl_out, size, "%s", (const char *)sqlite3_column_text(st, 0));
        *ws = sqlite3_column_int64(st, 1);
        *we = sqlite3_column_int64(st, 2);
    }
    sqlite3_finalize(st);
    return found;
}

/* One step of retention: a batch of the oldest expired window of some
 * query. Rows deleted (>= 0), or -1 when there is nothing to do. */
static int64_t retention_step(store_t *s)
{
    for (int i = 0; i < s->nq; i++) {
        sq_query_t *q = s->q[(s->maint_rr + i) % s->nq];
        if (!q->stored || !q->ret_check)
            continue;
        int64_t ws, we;
        int found = oldest_window(s, q->name, NULL, 0, &ws, &we);
        int expired = found > 0 &&
            ((q->ret_ms > 0 && we <= q->newest_end - q->ret_ms) ||
             (q->ret_windows > 0 && q->nwindows > q->ret_windows));
        if (!expired) {
            q->ret_check = 0;
            continue;
        }
        int done;
        int64_t n = delete_batch(s, q->name, ws, &done);
        if (n < 0) {
            q->ret_check = 0;       /* retried after the next window */
            return -1;
        }
        ctr_add(&s->ctr.retention_rows, (uint64_t)n);
        if (done == 1) {
            ctr_add(&s->ctr.retention_windows, 1);
            q->nwindows--;
        }
        s->maint_rr = (s->maint_rr + i) % s->nq;
        return n;
    }
    return -1;
}

/* One step of the size cap: a batch of the oldest window of any table,
 * while the pages in use exceed the cap; having started, go on down to
 * 95% of it so that not every window triggers a small eviction, and
 * always finish the window begun, so that windows are whole or gone. */
static int64_t evict_step(store_t *s)
{
    if (s->cfg.max_bytes <= 0)
        return -1;
    uint64_t used = (uint64_t)gauge_get(&s->ctr.used_bytes);
    uint64_t cap = (uint64_t)s->cfg.max_bytes;
    if (!s->evict_tbl[0]) {
        if (used <= cap - cap / 20 || (!s->evicting && used <= cap)) {
            s->evicting = 0;
            return -1;
        }
        int64_t we;
        if (oldest_window(s, NULL, s->evict_tbl, sizeof(s->evict_tbl),
                          &s->evict_ws, &we) <= 0) {
            s->evict_tbl[0] = 0;
            s->evicting = 0;
            return -1;
        }
        s->evicting = 1;
    }
    int done;
    int64_t n = delete_batch(s, s->evict_tbl, s->evict_ws, &done);
    if (n < 0) {
        s->evict_tbl[0] = 0;
        s->evicting = 0;
        return -1;
    }
    ctr_add(&s->ctr.evicted_rows, (uint64_t)n);
    if (done == 2)
        s->evict_tbl[0] = 0;
    if (done == 1) {
        ctr_add(&s->ctr.evicted_windows, 1);
        sq_query_t *q = sq_find(s, s->evict_tbl);
        if (q && q->stored)
            q->nwindows--;
        log_limited(&lim_fail, LOG_INFO, "storage", "size cap: evicted the "
                    "window of %s at %lld", s->evict_tbl,
                    (long long)s->evict_ws);
        s->evict_tbl[0] = 0;
    }
    writer_update_size(s);
    return n;
}

static int64_t maint_step(store_t *s)
{
    pthread_mutex_lock(&s->wlock);
    int64_t n = retention_step(s);
    if (n < 0)
        n = evict_step(s);
    pthread_mutex_unlock(&s->wlock);
    return n;
}

/* ---- the thread ------------------------------------------------------------ */

static void *writer_main(void *arg)
{
    store_t *s = arg;
    for (;;) {
        void *item = bqueue_pop(&s->queue, 0);
        if (!item) {
            /* Idle: old windows go now, between looks at the queue. */
            while (bqueue_len(&s->queue) == 0 && maint_step(s) >= 0)
                ;
            if (!flag_get(&s->running) &&
                bqueue_len(&s->queue) == 0)
                break;
            item = bqueue_pop(&s->queue, 200);
            if (!item)
                continue;
        }
        if (item == &flush_token) {
            while (maint_step(s) >= 0)
                ;
            pthread_mutex_lock(&s->flush_lock);
            s->flush_done++;
            pthread_cond_broadcast(&s->flush_cond);
            pthread_mutex_unlock(&s->flush_lock);
            continue;
        }
        rowset_t *rs = item;
        gauge_add(&s->ctr.queue_rows, -(int64_t)rs->nrows);
        write_window(s, rs);
        struct timespec cpu;
        if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu) == 0)
            gauge_set(&s->ctr.writer_cpu_ms, (int64_t)cpu.tv_sec * 1000 +
                                             cpu.tv_nsec / 1000000);
        /* Busy: delete about as many rows as were written, so retention
         * keeps pace without holding windows back. */
        int64_t budget = (int64_t)rs->nrows + s->cfg.delete_batch;
        rowset_unref(rs);
        while (budget > 0) {
            int64_t n = maint_step(s);
            if (n < 0)
                break;
            budget -= n > 0 ? n : 1;
        }
    }
    return NULL;
}

int writer_start(store_t *s, diag_t *err)
{
    s->output.name = "sqlite";
    s->output.on_window = on_window;
    s->output.ctx = s;
    flag_set(&s->running, 1);
    if (pthread_create(&s->thread, NULL, writer_main, s) != 0) {
        flag_set(&s->running, 0);
        diag_set(err, "cannot start the writer thread");
        return STORE_EIO;
    }
    return 0;
}

void writer_stop(store_t *s)
{
    if (!flag_get(&s->running))
        return;
    flag_set(&s->running, 0);
    bqueue_close(&s->queue);
    pthread_join(s->thread, NULL);
    /* Anything pushed after the writer's last look. */
    void *item;
    while ((item = bqueue_pop(&s->queue, 0)) != NULL)
        if (item != &flush_token) {
            rowset_t *rs = item;
            gauge_add(&s->ctr.queue_rows, -(int64_t)rs->nrows);
            write_window(s, rs);
            rowset_unref(rs);
        }
    pthread_mutex_lock(&s->flush_lock);
    s->flush_done = s->flush_req;
    pthread_cond_broadcast(&s->flush_cond);
    pthread_mutex_unlock(&s->flush_lock);
}

int store_flush(store_t *s, int timeout_ms)
{
    /* Tickets may be pushed out of order, but a token pushed after ours
     * was taken is behind every window queued before this call, so any
     * processed token with a number >= ours will do. The lock is not held
     * while pushing: the writer needs it to mark tokens done. */
    pthread_mutex_lock(&s->flush_lock);
    uint64_t ticket = ++s->flush_req;
    pthread_mutex_unlock(&s->flush_lock);
    if (bqueue_push_wait(&s->queue, &flush_token) < 0)
        return 0;                       /* closed: everything is written */
    pthread_mutex_lock(&s->flush_lock);
    int64_t deadline = timeout_ms >= 0 ? time_now_ms() + timeout_ms : 0;
    int rc = 0;
    while (s->flush_done < ticket) {
        if (timeout_ms < 0) {
            pthread_cond_wait(&s->flush_cond, &s->flush_lock);
            continue;
        }
        int64_t left = deadline - time_now_ms();
        if (left <= 0) {
            rc = STORE_ETIMEOUT;
            break;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += left / 1000;
        ts.tv_nsec += (left % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&s->flush_cond, &s->flush_lock, &ts);
    }
    pthread_mutex_unlock(&s->flush_lock);
    return rc;
}
