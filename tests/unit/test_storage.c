/* test_storage.c - the SQLite store: opening, the catalog, windows into
 * their tables, retention, the size cap, restart, a full queue and a
 * full disk. Real files in a temporary directory; the engine's part is
 * played by hand-built rowsets. */
#include "engine/qhandle.h"
#include "storage/store.h"
#include "tests/test.h"
#include "tests/unit/storage_util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define BASE 1763902800000LL   /* 2025-11-23T13:00:00Z */
#define TEN_S 10000

static void t_open_creates_database(void)
{
    const char *path = tu_path("new/sub/dir/flowsql.db");
    store_t *s = tu_open(path, NULL);
    CHECK(s != NULL);
    store_close(s);
    CHECK(access(path, F_OK) == 0);
    CHECK_STR(tu_text(path, "PRAGMA journal_mode"), "wal");
    CHECK_INT(tu_int(path, "SELECT count(*) FROM sqlite_master WHERE name IN "
                     "('flowsql_queries', 'flowsql_tables', 'flowsql_windows', "
                     "'flowsql_meta')"), 4);
    CHECK_STR(tu_text(path, "SELECT value FROM flowsql_meta WHERE key = "
                      "'schema_version'"), "1");
}

static void t_open_errors(void)
{
    diag_t err;
    /* The directory's place is taken by a file. */
    const char *file = tu_path("plainfile");
    FILE *f = fopen(file, "w");
    fclose(f);
    store_config_t c = {.path = tu_path("plainfile/flowsql.db")};
    diag_clear(&err);
    CHECK(store_open(&c, &err) == NULL);
    char want[600];
    snprintf(want, sizeof(want), "data directory '%s' is not a directory",
             file);
    CHECK_STR(err.msg, want);

    /* Two daemons on one database. */
    const char *path = tu_path("twice.db");
    store_t *s = tu_open(path, NULL);
    CHECK(s != NULL);
    c.path = path;
    diag_clear(&err);
    CHECK(store_open(&c, &err) == NULL);
    snprintf(want, sizeof(want), "database '%s' is in use by another flowsqld "
             "(lock file '%s-lock')", path, path);
    CHECK_STR(err.msg, want);
    store_close(s);

    /* A directory we may not write to. We run as root, who may write
     * anywhere, so the check runs in a child that became nobody. */
    const char *ro = tu_path("readonly");
    mkdir(ro, 0755);
    chmod(tu_tmpdir(), 0755);
    int fds[2];
    CHECK(pipe(fds) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        if (getuid() == 0 && (setgid(65534) < 0 || setuid(65534) < 0))
            _exit(3);
        store_config_t rc = {.path = tu_path("readonly/flowsql.db")};
        diag_t e;
        diag_clear(&e);
        store_t *x = store_open(&rc, &e);
        if (write(fds[1], e.msg, strlen(e.msg)) < 0)
            _exit(4);
        _exit(x ? 1 : 0);
    }
    close(fds[1]);
    char msg[512] = "";
    ssize_t n = read(fds[0], msg, sizeof(msg) - 1);
    msg[n > 0 ? n : 0] = 0;
    close(fds[0]);
    int status;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    snprintf(want, sizeof(want), "data directory '%s' is not writable: "
             "Permission denied", ro);
    CHECK_STR(msg, want);
    chmod(tu_tmpdir(), 0700);
}

static int find_opt(const store_query_t *q, const char *k, const char *v)
{
    for (int i = 0; i < q->nopts; i++)
        if (strcmp(q->opts[i].key, k) == 0 && strcmp(q->opts[i].value, v) == 0)
            return 1;
    return 0;
}

static void t_catalog(void)
{
    const char *path = tu_path("catalog.db");
    store_t *s = tu_open(path, NULL);
    CHECK(s != NULL);
    diag_t err;
    int64_t before = time_now_ms();
    CHECK_INT(tu_add(s, "top_talkers", "24h"), 0);
    rowset_opt_t opts[] = {{"retention", "1000"},
                           {"description", "say \"hi\" \\ \x01 ok"}};
    store_query_def_t d = {.name = "scanners", .text = "CREATE QUERY scanners "
                           "AS SELECT ...", .opts = opts, .nopts = 2,
                           .cols = tu_cols, .ncols = 2, .state = "paused"};
    diag_clear(&err);
    CHECK_INT(store_query_add(s, &d, &err), 0);
    rowset_opt_t nostore = {"store", "false"};
    store_query_def_t live = {.name = "live", .text = "CREATE QUERY live ...",
                              .opts = &nostore, .nopts = 1};
    diag_clear(&err);
    CHECK_INT(store_query_add(s, &live, &err), 0);

    /* Refusals, each with its message. */
    diag_clear(&err);
    CHECK_INT(tu_add(s, "top_talkers", NULL), STORE_EEXIST);
    diag_clear(&err);
    d.name = "SCANNERS";
    CHECK_INT(store_query_add(s, &d, &err), STORE_EEXIST);
    CHECK_STR(err.msg, "query 'SCANNERS' already exists");
    const char *bad[] = {"1abc", "flowsql_x", "sqlite_y", "flows", "a-b", "",
                         "a234567890123456789012345678901234567890123456789012345678901234"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        d.name = bad[i];
        diag_clear(&err);
        CHECK_INT(store_query_add(s, &d, &err), STORE_EINVALID);
        CHECK(strstr(err.msg, "invalid query name") != NULL);
    }
    d.name = "x";
    rowset_opt_t badret = {"retention", "soon"};
    d.opts = &badret;
    d.nopts = 1;
    diag_clear(&err);
    CHECK_INT(store_query_add(s, &d, &err), STORE_EINVALID);
    CHECK_STR(err.msg, "invalid retention 'soon': use a duration such as "
              "'24h' or a number of windows such as '1000'");
    d.nopts = 0;
    rowset_col_t reserved[] = {{"window_start", TYPE_TIME, 0}};
    d.cols = reserved;
    d.ncols = 1;
    diag_clear(&err);
    CHECK_INT(store_query_add(s, &d, &err), STORE_EINVALID);
    CHECK_STR(err.msg, "column name 'window_start' is reserved in stored "
              "results: name it differently (AS ...)");
    rowset_col_t twice[] = {{"a", TYPE_INT, 0}, {"A", TYPE_INT, 0}};
    d.cols = twice;
    d.ncols = 2;
    diag_clear(&err);
    CHECK_INT(store_query_add(s, &d, &err), STORE_EINVALID);
    CHECK_STR(err.msg, "query 'x' has two columns named 'A': stored results "
              "need distinct names (AS ...)");
    diag_clear(&err);
    CHECK_INT(store_query_remove(s, "nope", 0, &err), STORE_ENOTFOUND);
    CHECK_STR(err.msg, "no query named 'nope'");
    diag_clear(&err);
    CHECK_INT(store_query_set_state(s, "nope", "running", &err),
              STORE_ENOTFOUND);

    diag_clear(&err);
    CHECK_INT(store_query_set_state(s, "top_talkers", "failed", &err), 0);
    store_close(s);

    /* Everything is still there after a restart, in order. */
    s = tu_open(path, NULL);
    CHECK(s != NULL);
    store_query_list_t *l = store_query_list(s);
    CHECK_INT(l->n, 3);
    if (l->n == 3) {
        CHECK_STR(l->q[0].name, "top_talkers");
        CHECK_STR(l->q[0].state, "failed");
        CHECK(l->q[0].created >= before && l->q[0].created <= time_now_ms());
        CHECK(l->q[0].updated >= l->q[0].created);
        CHECK_INT(l->q[0].retention_ms, 24LL * 3600 * 1000);
        CHECK_INT(l->q[0].ncols, TU_NCOLS);
        CHECK_STR(l->q[0].cols[0].name, "srcip");
        CHECK_INT(l->q[0].cols[0].type, TYPE_IP);
        CHECK_INT(l->q[0].cols[0].is_key, 1);
        CHECK_INT(l->q[0].cols[7].type, TYPE_BOOL);
        CHECK(strstr(l->q[0].text, "CREATE QUERY top_talkers") == l->q[0].text);
        CHECK_STR(l->q[1].name, "scanners");
        CHECK_STR(l->q[1].state, "paused");
        CHECK_INT(l->q[1].retention_windows, 1000);
        CHECK_INT(l->q[1].retention_ms, 0);
        CHECK(find_opt(&l->q[1], "retention", "1000"));
        CHECK(find_opt(&l->q[1], "description", "say \"hi\" \\ \x01 ok"));
        CHECK_STR(l->q[2].name, "live");
        CHECK_INT(l->q[2].stored, 0);
        CHECK_INT(l->q[2].ncols, 0);
    }
    store_query_list_free(l);
    /* Tables: one per stored query, none for store = false. */
    CHECK_INT(tu_int(path, "SELECT count(*) FROM sqlite_master WHERE "
                     "type = 'view' AND name IN ('top_talkers', 'scanners', "
                     "'live')"), 2);
    CHECK_INT(tu_int(path, "SELECT count(*) FROM sqlite_master WHERE "
                     "type = 'table' AND name IN ('flowsql_rows_top_talkers', "
                     "'flowsql_rows_scanners', 'flowsql_rows_live')"), 2);
    CHECK_STR(tu_text(path, "SELECT group_concat(name || ':' || type, ' ') "
                      "FROM pragma_table_info('top_talkers')"),
              "window_start:TIME window_end:TIME srcip:IP flows:INTEGER "
              "bytes:INTEGER rate:REAL proto:TEXT first:TIME dur:DURATION "
              "syn:BOOLEAN window_row:INTEGER");
    CHECK_STR(tu_text(path, "SELECT group_concat(name, ',') FROM (SELECT name "
                      "FROM pragma_table_info('flowsql_rows_top_talkers') "
                      "WHERE pk > 0 "
                      "ORDER BY pk)"), "window_start,srcip,window_row");

    diag_clear(&err);
    CHECK_INT(store_query_remove(s, "Scanners", 0, &err), 0);
    store_close(s);
    s = tu_open(path, NULL);
    l = store_query_list(s);
    CHECK_INT(l->n, 2);
    store_query_list_free(l);
    CHECK_INT(tu_int(path, "SELECT count(*) FROM sqlite_master WHERE "
                     "name = 'scanners'"), 0);
    store_close(s);
}

static void t_windows_land_in_their_tables(void)
{
    const char *path = tu_path("land.db");
    store_t *s = tu_open(path, NULL);
    CHECK_INT(tu_add(s, "a", NULL), 0);
    CHECK_INT(tu_add(s, "b", NULL), 0);
    tu_push(s, tu_window("a", BASE, TEN_S, 300, 0));
    tu_push(s, tu_window("b", BASE, TEN_S, 5, 7));
    tu_push(s, tu_window("a", BASE + TEN_S, TEN_S, 200, 1));

    /* An IPv6 row and edge values. */
    rowset_t *rs = tu_window("b", BASE + TEN_S, TEN_S, 1, 8);
    value_t *v = rowset_row(rs, 0);
    v[0].ip = tu_ip("2001:db8::42");
    v[1].i = INT64_MAX;
    v[2].i = INT64_MIN;
    v[3].f = -0.5;
    v[4].s = rowset_strdup(rs, "it's \"quoted\"");
    tu_push(s, rs);

    /* Ignored: not registered; store = false; dropped: wrong columns. */
    tu_push(s, tu_window("unknown", BASE, TEN_S, 10, 0));
    rowset_t *off = tu_window("a", BASE + 2 * TEN_S, TEN_S, 10, 2);
    rowset_opt_t no = {"store", "false"};
    off->opts = &no;
    off->nopts = 1;
    tu_push(s, off);
    rowset_t *odd = tu_window("a", BASE + 3 * TEN_S, TEN_S, 10, 3);
    odd->cols[2].type = TYPE_FLOAT;
    tu_push(s, odd);

    CHECK_INT(store_flush(s, 10000), 0);
    store_stats_t st;
    store_stats(s, &st);
    CHECK_INT(st.windows_written, 4);
    CHECK_INT(st.rows_written, 506);
    CHECK_INT(st.windows_ignored, 2);
    CHECK_INT(st.windows_failed, 1);
    CHECK_INT(st.rows_failed, 10);
    CHECK_STR(st.last_error, "window of a not written: its columns differ "
              "from the registered query's");
    CHECK_INT(st.windows_dropped, 0);
    CHECK_INT(st.queue_windows, 0);
    CHECK_INT(st.queue_rows, 0);
    CHECK(st.used_bytes > 0 && st.file_bytes >= st.used_bytes);
    store_close(s);

    CHECK_INT(tu_int(path, "SELECT count(*) FROM a"), 500);
    CHECK_INT(tu_int(path, "SELECT count(*) FROM b"), 6);
    CHECK_INT(tu_int(path, "SELECT count(*) FROM a WHERE window_start = "
                     "1763902800000 AND window_end = 1763902810000"), 300);
    /* Every row of a is exactly what its window and row numbers say. */
    CHECK_INT(tu_int(path,
        "SELECT count(*) FROM a WHERE "
        " typeof(srcip) = 'blob' AND length(srcip) = 16 AND "
        " hex(srcip) = '00000000000000000000FFFF0A00' || "
        "   printf('%04X', window_row) AND "
        " flows = (window_start - 1763902800000) / 10000 * 1000 + window_row "
        " AND bytes = flows * 100 AND typeof(bytes) = 'integer' AND "
        " rate = window_row / 4.0 AND typeof(rate) = 'real' AND "
        " proto = CASE window_row % 2 WHEN 1 THEN 'udp' ELSE 'tcp' END AND "
        " first = window_start + window_row AND dur = 10 * window_row AND "
        " syn = (window_row % 3 = 0) AND typeof(syn) = 'integer'"), 500);
    CHECK_INT(tu_int(path, "SELECT count(*) FROM b WHERE hex(srcip) = "
                     "'20010DB8000000000000000000000042' AND flows = "
                     "9223372036854775807 AND bytes = -9223372036854775808 "
                     "AND rate = -0.5 AND proto = 'it''s \"quoted\"'"), 1);
    CHECK_INT(tu_int(path, "SELECT sum(rows) FROM flowsql_windows WHERE "
                     "tbl = 'a'"), 500);
    CHECK_INT(tu_int(path, "SELECT count(*) FROM flowsql_windows"), 4);
}

/* A window re-emitted for a window_start already stored (the engine
 * closing a partial window at shutdown and the rest after restart) is
 * added to it, its rows numbered on, and the window is marked partial
 * with its two parts. A replayed window (--read) replaces instead. */
static void t_window_written_twice(void)
{
    const char *path = tu_path("twice_w.db");
    store_t *s = tu_open(path, NULL);
    CHECK_INT(tu_add(s, "q", NULL), 0);
    rowset_t *a = tu_window("q", BASE, TEN_S, 10, 0);
    rowset_t *b = tu_window("q", BASE, TEN_S, 10, 0);
    a->partial = b->partial = 1;
    tu_push(s, a);
    tu_push(s, b);
    tu_push(s, tu_window("q", BASE + TEN_S, TEN_S, 3, 1));
    for (int run = 0; run < 2; run++) {
        rowset_t *r = tu_window("q", BASE + 2 * TEN_S, TEN_S, 5, 2);
        r->replayed = 1;
        tu_push(s, r);
    }
    CHECK_INT(store_flush(s, 10000), 0);
    store_result_t *w = NULL;
    diag_t err;
    CHECK_INT(store_windows(s, "q", 0, INT64_MAX, &w, &err), 0);
    CHECK(w && w->nrows == 3 && w->ncols == 5);
    if (w && w->nrows == 3) {
        CHECK_INT(store_result_cell(w, 0, 2)->v.i, 20);   /* rows */
        CHECK_INT(store_result_cell(w, 0, 3)->v.i, 1);    /* partial */
        CHECK_INT(store_result_cell(w, 0, 4)->v.i, 2);    /* parts */
        CHECK_INT(store_result_cell(w, 1, 3)->v.i, 0);
        CHECK_INT(store_result_cell(w, 1, 4)->v.i, 1);
        CHECK_INT(store_result_cell(w, 2, 2)->v.i, 5);
        CHECK_INT(store_result_cell(w, 2, 4)->v.i, 1);
    }
    store_result_free(w);
    store_close(s);
    CHECK_INT(tu_int(path, "SELECT count(*) FROM q WHERE window_start = "
                     "1763902800000"), 20);
    CHECK_INT(tu_int(path, "SELECT max(window_row) FROM q WHERE "
                     "window_start = 1763902800000"), 19);
    CHECK_INT(tu_int(path, "SELECT rows FROM flowsql_windows WHERE "
                     "window_start = 1763902800000"), 20);
    CHECK_INT(tu_int(path, "SELECT count(*) FROM q WHERE window_start = "
                     "1763902820000"), 5);
    CHECK_INT(tu_int(path, "SELECT count(*) FROM flowsql_windows"), 3);
}

/* Windows of a query dropped while they waited are not written, even
 * though a query of the same name was registered again: each window
 * carries its query's handle. */
static void t_stale_windows(void)
{
    const char *path = tu_path("stale_w.db");
    store_t *s = tu_open(path, NULL);
    CHECK_INT(tu_add(s, "q", NULL), 0);
    const char *text = "CREATE QUERY q AS SELECT count(*) FROM flows WINDOW 10s";
    diag_t err;
    qhandle_t *old = qhandle_compile(text, strlen(text), 0, &err);
    qhandle_t *now = qhandle_compile(text, strlen(text), 0, &err);
    CHECK(old && now);
    if (!old || !now)
        return;
    atomic_store(&old->dropped, 1);
    rowset_t *a = tu_window("q", BASE, TEN_S, 7, 0);
    rowset_t *b = tu_window("q", BASE + TEN_S, TEN_S, 3, 1);
    qhandle_ref(old);
    a->qh = old;
    qhandle_ref(now);
    b->qh = now;
    tu_push(s, a);
    tu_push(s, b);
    CHECK_INT(store_flush(s, 10000), 0);
    store_stats_t st;
    store_stats(s, &st);
    CHECK_INT(st.windows_written, 1);
    CHECK_INT(st.windows_ignored, 1);
    store_close(s);
    qhandle_unref(old);
    qhandle_unref(now);
    CHECK_INT(tu_int(path, "SELECT count(*) FROM q"), 3);
}

/* A database made before windows were marked: the columns are added at
 * open, old windows read as whole and single, new ones are marked. */
static void t_old_windows_table(void)
{
    const char *path = tu_path("old_w.db");
    store_t *s = tu_open(path, NULL);
    CHECK_INT(tu_add(s, "Old", NULL), 0);
    tu_push(s, tu_window("old", BASE, TEN_S, 4, 0));
    CHECK_INT(store_flush(s, 10000), 0);
    store_close(s);
    sqlite3 *db = tu_raw(path);
    CHECK(db && sqlite3_exec(db, "ALTER TABLE flowsql_windows DROP COLUMN "
                             "partial; ALTER TABLE flowsql_windows DROP COLUMN "
                             "parts; UPDATE flowsql_queries SET name = 'Old'",
                             NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
    s = tu_open(path, NULL);
    CHECK(s != NULL);
    if (!s)
        return;
    store_query_list_t *l = store_query_list(s);
    CHECK(l->n == 1 && strcmp(l->q[0].name, "old") == 0);
    store_query_list_free(l);
    rowset_t *rs = tu_window("old", BASE + TEN_S, TEN_S, 4, 1);
    rs->partial = 1;
    tu_push(s, rs);
    CHECK_INT(store_flush(s, 10000), 0);
    store_close(s);
    CHECK_STR(tu_text(path, "SELECT group_concat(partial || '/' || parts) "
                      "FROM (SELECT * FROM flowsql_windows ORDER BY "
                      "window_start)"), "0/1,1/1");
    CHECK_INT(tu_int(path, "SELECT count(*) FROM old"), 8);
}

static void t_recreate_and_drop(void)
{
    const char *path = tu_path("recreate.db");
    store_t *s = tu_open(path, NULL);
    diag_t err;
    CHECK_INT(tu_add(s, "q", NULL), 0);
    tu_push(s, tu_window("q", BASE, TEN_S, 10, 0));
    CHECK_INT(store_flush(s, 10000), 0);
    diag_clear(&err);
    CHECK_INT(store_query_remove(s, "q", 1, &err), 0);   /* KEEP DATA */
    CHECK_INT(tu_int(path, "SELECT count(*) FROM q"), 10);
    /* Windows of a dropped query are no longer stored. */
    tu_push(s, tu_window("q", BASE + TEN_S, TEN_S, 10, 1));
    CHECK_INT(store_flush(s, 10000), 0);
    CHECK_INT(tu_int(path, "SELECT count(*) FROM q"), 10);

    /* Same columns: the new query takes the table over. */
    CHECK_INT(tu_add(s, "q", NULL), 0);
    tu_push(s, tu_window("q", BASE + TEN_S, TEN_S, 10, 1));
    CHECK_INT(store_flush(s, 10000), 0);
    CHECK_INT(tu_int(path, "SELECT count(*) FROM q"), 20);
    diag_clear(&err);
    CHECK_INT(store_query_remove(s, "q", 1, &err), 0);

    /* Other columns: the old table is archived, a new one made. */
    rowset_col_t cols[] = {{"dstport", TYPE_INT, 1}, {"n", TYPE_INT, 0}};
    store_query_def_t d = {.name = "q", .text = "CREATE QUERY q ...",
                           .cols = cols, .ncols = 2};
    diag_clear(&err);
    CHECK_INT(store_query_add(s, &d, &err), 0);
    CHECK_STR(tu_text(path, "SELECT group_concat(name, ',') FROM "
                      "pragma_table_info('q')"),
              "window_start,window_end,dstport,n,window_row");
    const char *arch = tu_text(path, "SELECT name FROM flowsql_tables WHERE "
                               "name LIKE 'flowsql_archive_q_%'");
    char archived[128];
    snprintf(archived, sizeof(archived), "%s", arch);
    CHECK(strncmp(archived, "flowsql_archive_q_", 18) == 0);
    char sql[256];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM \"%s\"", archived);
    CHECK_INT(tu_int(path, sql), 20);
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM flowsql_windows WHERE "
             "tbl = '%s'", archived);
    CHECK_INT(tu_int(path, sql), 2);

    /* An archive (a table without a query) can be dropped by name. */
    diag_clear(&err);
    CHECK_INT(store_query_remove(s, archived, 1, &err), STORE_ENOTFOUND);
    diag_clear(&err);
    CHECK_INT(store_query_remove(s, archived, 0, &err), 0);
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM sqlite_master WHERE "
             "name = '%s'", archived);
    CHECK_INT(tu_int(path, sql), 0);

    /* Dropping without KEEP DATA drops the table and its window list. */
    diag_clear(&err);
    CHECK_INT(store_query_remove(s, "q", 0, &err), 0);
    CHECK_INT(tu_int(path, "SELECT count(*) FROM sqlite_master WHERE "
                     "name = 'q'"), 0);
    CHECK_INT(tu_int(path, "SELECT count(*) FROM flowsql_windows"), 0);
    CHECK_INT(tu_int(path, "SELECT count(*) FROM flowsql_tables"), 0);
    store_close(s);
}

/* 20 windows of 10 s, 25 rows each, deleted 7 rows at a time. */
static void retention_case(const char *file, const char *retention,
                           int64_t default_ms, int expect_first)
{
    const char *path = tu_path(file);
    store_config_t c = {.delete_batch = 7, .default_retention_ms = default_ms};
    store_t *s = tu_open(path, &c);
    CHECK_INT(tu_add(s, "q", retention), 0);
    for (int w = 0; w < 20; w++) {
        tu_push(s, tu_window("q", BASE + w * TEN_S, TEN_S, 25, w));
        if (w % 4 == 0)
            CHECK_INT(store_flush(s, 10000), 0);
    }
    CHECK_INT(store_flush(s, 10000), 0);
    store_stats_t st;
    store_stats(s, &st);
    CHECK_INT(st.retention_windows, expect_first);
    CHECK_INT(st.retention_rows, expect_first * 25);
    store_close(s);
    CHECK_INT(tu_int(path, "SELECT count(*) FROM q"), (20 - expect_first) * 25);
    CHECK_INT(tu_int(path, "SELECT min(window_start) FROM q"),
              BASE + expect_first * TEN_S);
    CHECK_INT(tu_int(path, "SELECT max(window_start) FROM q"),
              BASE + 19 * TEN_S);
    CHECK_INT(tu_int(path, "SELECT count(*) FROM flowsql_windows"),
              20 - expect_first);
    CHECK_INT(tu_int(path, "SELECT count(DISTINCT window_start) FROM q"),
              20 - expect_first);
}

static void t_retention(void)
{
    /* 60 s: a window goes once its end is 60 s or more behind the newest
     * end (200 s): ends 10..140 s go, windows 14..19 stay. */
    retention_case("ret_time.db", "60s", 0, 14);
    retention_case("ret_count.db", "5", 0, 15);
    retention_case("ret_default.db", NULL, 30000, 17);
    retention_case("ret_none_due.db", "1h", 0, 0);
}

/* Retention state (newest window, window count) survives a restart. */
static void t_retention_after_restart(void)
{
    const char *path = tu_path("ret_restart.db");
    store_t *s = tu_open(path, NULL);
    CHECK_INT(tu_add(s, "q", "3"), 0);
    for (int w = 0; w < 3; w++)
        tu_push(s, tu_window("q", BASE + w * TEN_S, TEN_S, 4, w));
    store_close(s);
    s = tu_open(path, NULL);
    tu_push(s, tu_window("q", BASE + 3 * TEN_S, TEN_S, 4, 3));
    CHECK_INT(store_flush(s, 10000), 0);
    store_close(s);
    CHECK_INT(tu_int(path, "SELECT min(window_start) FROM q"), BASE + TEN_S);
    CHECK_INT(tu_int(path, "SELECT count(*) FROM q"), 12);
}

static void t_size_cap(void)
{
    const char *path = tu_path("cap.db");
    store_config_t c = {.max_bytes = 1 << 20, .delete_batch = 100};
    store_t *s = tu_open(path, &c);
    CHECK_INT(tu_add(s, "a", NULL), 0);
    CHECK_INT(tu_add(s, "b", NULL), 0);
    /* 2 x 60 windows x 300 rows, about 4 MB: four times the cap. */
    for (int w = 0; w < 60; w++) {
        tu_push(s, tu_window("a", BASE + w * TEN_S, TEN_S, 300, w));
        tu_push(s, tu_window("b", BASE + w * TEN_S + 1, TEN_S, 300, w));
        CHECK_INT(store_flush(s, 10000), 0);
    }
    store_stats_t st;
    store_stats(s, &st);
    CHECK_INT(st.windows_written, 120);
    CHECK(st.used_bytes <= (uint64_t)c.max_bytes);
    CHECK(st.evicted_windows > 60);
    CHECK_INT(st.max_bytes, 1 << 20);
    store_close(s);
    int64_t left = tu_int(path, "SELECT count(*) FROM flowsql_windows");
    CHECK_INT(left + (int64_t)st.evicted_windows, 120);
    CHECK_INT(tu_int(path, "SELECT count(*) FROM a") +
              tu_int(path, "SELECT count(*) FROM b"), left * 300);
    /* Oldest first across both tables: what is left is a suffix in time,
     * and the newest window of each query is there. */
    int64_t oldest_left = tu_int(path, "SELECT min(window_start) FROM "
                                 "(SELECT window_start FROM a UNION ALL "
                                 "SELECT window_start FROM b)");
    int64_t expect = BASE + (120 - left) / 2 * TEN_S;
    CHECK(oldest_left >= expect && oldest_left <= expect + TEN_S + 1);
    CHECK_INT(tu_int(path, "SELECT max(window_start) FROM a"),
              BASE + 59 * TEN_S);
    CHECK_INT(tu_int(path, "SELECT max(window_start) FROM b"),
              BASE + 59 * TEN_S + 1);
}

/* The writer is stuck behind another process's write lock (a slow disk
 * looks the same to the engine): windows beyond the queue are dropped
 * and counted, and on_window never waits. */
static void t_queue_full_drops_never_blocks(void)
{
    const char *path = tu_path("full_queue.db");
    store_config_t c = {.queue_windows = 4, .queue_rows = 1000};
    store_t *s = tu_open(path, &c);
    CHECK_INT(tu_add(s, "q", NULL), 0);
    sqlite3 *blocker = tu_raw(path);
    CHECK(sqlite3_exec(blocker, "BEGIN IMMEDIATE", NULL, NULL, NULL) ==
          SQLITE_OK);

    output_t *o = store_output(s);
    int64_t worst = 0, t_all = time_mono_ms();
    for (int w = 0; w < 200; w++) {
        rowset_t *rs = tu_window("q", BASE + w * TEN_S, TEN_S, 10, w);
        int64_t t0 = time_mono_ms();
        o->on_window(o, rs);
        int64_t dt = time_mono_ms() - t0;
        worst = dt > worst ? dt : worst;
        rowset_unref(rs);
    }
    t_all = time_mono_ms() - t_all;
    /* A window bigger than the row budget is dropped outright. */
    rowset_t *big = tu_window("q", BASE + 500 * TEN_S, TEN_S, 1001, 500);
    o->on_window(o, big);
    rowset_unref(big);

    store_stats_t st;
    store_stats(s, &st);
    CHECK(worst < 50);
    CHECK(t_all < 500);
    CHECK(st.windows_dropped >= 195 && st.windows_dropped <= 197);
    CHECK_INT(st.rows_dropped, (st.windows_dropped - 1) * 10 + 1001);
    CHECK(st.queue_windows <= 4);
    CHECK_INT(st.windows_written, 0);

    sqlite3_exec(blocker, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(blocker);
    CHECK_INT(store_flush(s, 10000), 0);
    store_stats(s, &st);
    CHECK_INT(st.windows_written + st.windows_dropped, 201);
    CHECK_INT(st.rows_written + st.rows_dropped, 200 * 10 + 1001);
    CHECK_INT(st.windows_failed, 0);
    store_close(s);
    CHECK_INT(tu_int(path, "SELECT count(*) FROM q"),
              (int64_t)st.windows_written * 10);
}

/* The disk fills up (a file size limit makes writes fail with EFBIG, as
 * ENOSPC would): windows fail with a clear error and are counted, the
 * writer goes on, and the database stays consistent. In a child, since
 * the limit is per process. */
static void t_disk_full(void)
{
    const char *path = tu_path("full_disk.db");
    int fds[2];
    CHECK(pipe(fds) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        store_t *s = tu_open(path, NULL);
        if (!s || tu_add(s, "q", NULL) < 0)
            _exit(2);
        store_flush(s, 10000);
        signal(SIGXFSZ, SIG_IGN);
        struct stat sb;
        off_t have = 0;
        char wal[600];
        snprintf(wal, sizeof(wal), "%s-wal", path);
        if (stat(wal, &sb) == 0)
            have = sb.st_size;
        if (stat(path, &sb) == 0 && sb.st_size > have)
            have = sb.st_size;
        struct rlimit rl = {(rlim_t)have + 400 * 1024, RLIM_INFINITY};
        if (setrlimit(RLIMIT_FSIZE, &rl) < 0)
            _exit(3);
        for (int w = 0; w < 40; w++) {
            tu_push(s, tu_window("q", BASE + w * TEN_S, TEN_S, 1000, w));
            store_flush(s, 10000);
        }
        store_stats_t st;
        store_stats(s, &st);
        /* Space again (the soft limit goes back up): writing resumes. */
        rl.rlim_cur = RLIM_INFINITY;
        if (setrlimit(RLIMIT_FSIZE, &rl) < 0)
            _exit(5);
        for (int w = 40; w < 42; w++)
            tu_push(s, tu_window("q", BASE + w * TEN_S, TEN_S, 1000, w));
        store_flush(s, 10000);
        store_stats_t after;
        store_stats(s, &after);
        store_close(s);
        if (write(fds[1], &st, sizeof(st)) != (ssize_t)sizeof(st) ||
            write(fds[1], &after, sizeof(after)) != (ssize_t)sizeof(after))
            _exit(4);
        _exit(0);
    }
    close(fds[1]);
    store_stats_t st;
    memset(&st, 0, sizeof(st));
    store_stats_t after;
    memset(&after, 0, sizeof(after));
    ssize_t n = read(fds[0], &st, sizeof(st));
    ssize_t n2 = read(fds[0], &after, sizeof(after));
    close(fds[0]);
    int status;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK_INT(n, sizeof(st));
    CHECK_INT(n2, sizeof(after));
    CHECK_INT(after.windows_written, st.windows_written + 2);
    CHECK(st.windows_written > 0);
    CHECK(st.windows_failed > 0);
    CHECK_INT(st.windows_written + st.windows_failed, 40);
    CHECK_INT(st.rows_failed, st.windows_failed * 1000);
    CHECK(strstr(st.last_error, "window of q not written: ") == st.last_error);
    CHECK(strstr(st.last_error, "full") || strstr(st.last_error, "I/O"));
    fprintf(stderr, "disk full: %llu written, %llu failed: %s\n",
            (unsigned long long)st.windows_written,
            (unsigned long long)st.windows_failed, st.last_error);

    /* Without the limit: consistent, and every committed window whole. */
    store_t *s = tu_open(path, NULL);
    CHECK(s != NULL);
    store_close(s);
    CHECK_STR(tu_text(path, "PRAGMA integrity_check"), "ok");
    int64_t windows = tu_int(path, "SELECT count(*) FROM flowsql_windows");
    CHECK(windows >= (int64_t)after.windows_written);
    CHECK_INT(tu_int(path, "SELECT count(*) FROM q WHERE window_start >= "
                     "1763903200000"), 2000);
    CHECK_INT(tu_int(path, "SELECT count(*) FROM q"), windows * 1000);
    CHECK_INT(tu_int(path, "SELECT count(*) FROM (SELECT window_start FROM q "
                     "GROUP BY window_start HAVING count(*) <> 1000)"), 0);
}

int main(void)
{
    log_set_level(LOG_ERROR);
    RUN(t_open_creates_database);
    RUN(t_open_errors);
    RUN(t_catalog);
    RUN(t_windows_land_in_their_tables);
    RUN(t_window_written_twice);
    RUN(t_old_windows_table);
    RUN(t_stale_windows);
    RUN(t_recreate_and_drop);
    RUN(t_retention);
    RUN(t_retention_after_restart);
    RUN(t_size_cap);
    RUN(t_queue_full_drops_never_blocks);
    RUN(t_disk_full);
    TEST_EXIT();
}
