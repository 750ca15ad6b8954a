/*
 * storage_util.h - what the storage tests share: a temporary directory,
 * hand-built rowsets (the values we expect the engine to produce), and a
 * separate plain SQLite connection to look at what actually landed in
 * the file.
 */
#ifndef FLOWSQL_TEST_STORAGE_UTIL_H
#define FLOWSQL_TEST_STORAGE_UTIL_H

#include <ftw.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "storage/store.h"
#include "util/log.h"
#include "util/timeutil.h"

static char tu_dir[256];

static inline int tu_rm(const char *p, const struct stat *sb, int flag, struct FTW *f)
{
    (void)sb;
    (void)flag;
    (void)f;
    return remove(p);
}

static inline void tu_cleanup(void)
{
    if (tu_dir[0])
        nftw(tu_dir, tu_rm, 16, FTW_DEPTH | FTW_PHYS);
}

/* A fresh temporary directory for this test program, removed at exit. */
static inline const char *tu_tmpdir(void)
{
    if (!tu_dir[0]) {
        snprintf(tu_dir, sizeof(tu_dir), "/tmp/flowsql-storage.XXXXXX");
        if (!mkdtemp(tu_dir)) {
            perror("mkdtemp");
            exit(2);
        }
        atexit(tu_cleanup);
    }
    return tu_dir;
}

/* A path under the temporary directory (static buffer, rotating). */
static inline const char *tu_path(const char *name)
{
    static char bufs[8][512];
    static int next;
    char *b = bufs[next++ % 8];
    snprintf(b, 512, "%s/%s", tu_tmpdir(), name);
    return b;
}

static inline store_t *tu_open(const char *path, const store_config_t *base)
{
    store_config_t c;
    if (base)
        c = *base;
    else
        memset(&c, 0, sizeof(c));
    c.path = path;
    diag_t err;
    diag_clear(&err);
    store_t *s = store_open(&c, &err);
    if (!s)
        fprintf(stderr, "store_open(%s): %s\n", path, err.msg);
    return s;
}

/* The columns of a per-host query with one column of every type. */
static const rowset_col_t tu_cols[] = {
    {"srcip", TYPE_IP, 1},
    {"flows", TYPE_INT, 0},
    {"bytes", TYPE_INT, 0},
    {"rate", TYPE_FLOAT, 0},
    {"proto", TYPE_STRING, 0},
    {"first", TYPE_TIME, 0},
    {"dur", TYPE_DURATION, 0},
    {"syn", TYPE_BOOL, 0},
};
#define TU_NCOLS ((int)(sizeof(tu_cols) / sizeof(tu_cols[0])))

static inline int tu_add(store_t *s, const char *name, const char *retention)
{
    rowset_opt_t opt = {"retention", retention};
    char text[256];
    snprintf(text, sizeof(text), "CREATE QUERY %s AS SELECT srcip, count(*) "
             "AS flows FROM flows WINDOW 10s GROUP BY srcip", name);
    store_query_def_t d = {
        .name = name, .text = text, .opts = retention ? &opt : NULL,
        .nopts = retention ? 1 : 0, .cols = tu_cols, .ncols = TU_NCOLS,
    };
    diag_t err;
    diag_clear(&err);
    int rc = store_query_add(s, &d, &err);
    if (rc < 0)
        fprintf(stderr, "store_query_add(%s): %s\n", name, err.msg);
    return rc;
}

static inline ipaddr_t tu_ip(const char *text)
{
    ipaddr_t ip;
    memset(&ip, 0, sizeof(ip));
    if (ipaddr_parse(text, &ip) < 0)
        fprintf(stderr, "bad test address %s\n", text);
    return ip;
}

/* Window w of a query: nrows rows; row r is host 10.0.<r/256>.<r%256>
 * with flows = w * 1000 + r, bytes = 100 * flows, and so on, so that any
 * stored row can be checked against its (window, row) numbers. */
static inline rowset_t *tu_window(const char *query, int64_t wstart, int64_t len,
                           uint32_t nrows, int w)
{
    rowset_t *rs = rowset_new(query, TU_NCOLS);
    for (int i = 0; i < TU_NCOLS; i++)
        rs->cols[i] = tu_cols[i];
    rs->wstart = wstart;
    rs->wend = wstart + len;
    rs->closed_at = time_now_ms();
    rs->seq = (uint64_t)w;
    for (uint32_t r = 0; r < nrows; r++) {
        value_t *v = rowset_add_row(rs);
        v[0].ip = ipaddr_from_v4(0x0a000000u | r);
        v[1].i = (int64_t)w * 1000 + r;
        v[2].i = v[1].i * 100;
        v[3].f = (double)r / 4.0;
        v[4].s = rowset_strdup(rs, r % 2 ? "udp" : "tcp");
        v[5].i = wstart + r;
        v[6].i = 10 * (int64_t)r;
        v[7].i = r % 3 == 0;
    }
    return rs;
}

/* Hand a window to the store as the engine would, and let go of it. */
static inline void tu_push(store_t *s, rowset_t *rs)
{
    output_t *o = store_output(s);
    o->on_window(o, rs);
    rowset_unref(rs);
}

/* ---- looking at the file with a connection of our own ---------------- */

static inline sqlite3 *tu_raw(const char *path)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        fprintf(stderr, "raw open %s: %s\n", path, sqlite3_errmsg(db));
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_busy_timeout(db, 5000);
    return db;
}

/* First column of the first row as an integer; -999 on error. */
static inline int64_t tu_int(const char *path, const char *sql)
{
    sqlite3 *db = tu_raw(path);
    sqlite3_stmt *st;
    int64_t v = -999;
    if (db && sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW)
            v = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    } else if (db) {
        fprintf(stderr, "%s: %s\n", sql, sqlite3_errmsg(db));
    }
    sqlite3_close(db);
    return v;
}

/* First column of the first row as text (static buffer); "" on error. */
static inline const char *tu_text(const char *path, const char *sql)
{
    static char buf[4096];
    sqlite3 *db = tu_raw(path);
    sqlite3_stmt *st;
    buf[0] = 0;
    if (db && sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
            snprintf(buf, sizeof(buf), "%s", sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
    } else if (db) {
        fprintf(stderr, "%s: %s\n", sql, sqlite3_errmsg(db));
    }
    sqlite3_close(db);
    return buf;
}

#endif
