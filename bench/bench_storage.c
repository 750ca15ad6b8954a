/*
 * bench_storage.c - how fast the SQLite store writes windows and answers
 * the forensic lookup. Not a test: numbers for docs/PERFORMANCE.md.
 *
 *   build/bench/bench_storage [options]
 *     --dir DIR            where to put the databases [/tmp] (a fresh
 *                          subdirectory, removed at the end)
 *     --write-hosts N      rows per window in the write test [200000]
 *     --write-windows N    windows in the write test [60]
 *     --retention N        retention of the write test, in windows [20]
 *     --busy               keep the other core busy, as the engine would
 *     --lookup-hosts N     hosts per window in the lookup test [10000]
 *     --lookup-windows N   10 s windows in the lookup test [8640 = 24 h]
 *     --skip-write, --skip-lookup
 *     --layouts            also compare the table layout with an indexed
 *                          one (--layout-hosts [1000], --layout-windows
 *                          [1800]); see layout_test()
 *     --keep               keep the databases in DIR/flowsql-bench and
 *                          reuse the lookup database if it is there
 *
 * Write test: one per-host query (srcip, flows, bytes, packets); windows
 * of N rows are handed to store_output() as fast as the writer takes
 * them (one window queued at a time), as an engine closing a window of
 * N hosts every time the writer is ready would. Retention keeps the last
 * --retention windows, so once past it every window written also costs
 * deleting one: the steady state of a full database.
 *
 * Lookup test: a table of --lookup-hosts hosts per 10 s window over
 * --lookup-windows windows, then "what did one host do over the whole
 * period" through store_adhoc(), for 20 random hosts.
 */
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "storage/store.h"
#include "util/log.h"
#include "util/timeutil.h"

#define BASE 1763856000000LL    /* 2025-11-23T00:00:00Z */

static const rowset_col_t cols[] = {
    {"srcip", TYPE_IP, 1},
    {"flows", TYPE_INT, 0},
    {"bytes", TYPE_INT, 0},
    {"packets", TYPE_INT, 0},
};

static volatile int stop_busy;

static void *busy(void *arg)
{
    (void)arg;
    volatile uint64_t x = 0;
    while (!stop_busy)
        x++;
    return NULL;
}

static rowset_t *window(const char *q, int64_t ws, int64_t len, uint32_t hosts,
                        uint32_t seed)
{
    rowset_t *rs = rowset_new(q, 4);
    for (int i = 0; i < 4; i++)
        rs->cols[i] = cols[i];
    rs->wstart = ws;
    rs->wend = ws + len;
    for (uint32_t h = 0; h < hosts; h++) {
        value_t *v = rowset_add_row(rs);
        /* Every host once, in a scattered order, like a hash table's
         * (1000003 is a prime: h -> h * p mod hosts is a permutation). */
        uint32_t x = (uint32_t)(((uint64_t)h * 1000003u) % hosts);
        v[0].ip = ipaddr_from_v4(0x0a000000u + x);
        v[1].i = 1 + (x ^ seed) % 50;
        v[2].i = v[1].i * 1400;
        v[3].i = v[1].i * 3;
    }
    rs->closed_at = time_now_ms();
    return rs;
}

static int add_query(store_t *s, const char *name, const char *retention)
{
    rowset_opt_t opt = {"retention", retention};
    store_query_def_t d = {.name = name, .text = "CREATE QUERY ... AS SELECT "
                           "srcip, count(*) AS flows, sum(bytes) AS bytes, "
                           "sum(packets) AS packets FROM flows WINDOW 10s "
                           "GROUP BY srcip", .opts = &opt, .nopts = 1,
                           .cols = cols, .ncols = 4};
    diag_t err;
    diag_clear(&err);
    if (store_query_add(s, &d, &err) < 0) {
        fprintf(stderr, "add %s: %s\n", name, err.msg);
        return -1;
    }
    return 0;
}

static void wait_queue_empty(store_t *s)
{
    store_stats_t st;
    for (;;) {
        store_stats(s, &st);
        if (st.queue_windows == 0)
            return;
        usleep(1000);
    }
}

static double mb(uint64_t b) { return (double)b / (1 << 20); }

static void write_test(const char *dir, uint32_t hosts, int windows,
                       int retention, int with_busy)
{
    char path[600], ret[32];
    snprintf(path, sizeof(path), "%s/write.db", dir);
    snprintf(ret, sizeof(ret), "%d", retention);
    store_config_t c = {.path = path, .queue_rows = 2 * (int64_t)hosts + 1};
    diag_t err;
    diag_clear(&err);
    store_t *s = store_open(&c, &err);
    if (!s || add_query(s, "hosts", ret) < 0) {
        fprintf(stderr, "open: %s\n", err.msg);
        exit(1);
    }
    pthread_t th;
    stop_busy = 0;
    if (with_busy)
        pthread_create(&th, NULL, busy, NULL);
    output_t *o = store_output(s);
    int64_t t0 = time_mono_ms(), t_steady = 0;
    uint64_t rows_steady = 0, max_write = 0, max_lag = 0;
    store_stats_t st;
    for (int w = 0; w < windows; w++) {
        rowset_t *rs = window("hosts", BASE + w * 1000LL, 1000, hosts, (uint32_t)w);
        wait_queue_empty(s);
        rs->closed_at = time_now_ms();
        if (w == retention) {
            store_stats(s, &st);
            t_steady = time_mono_ms();
            rows_steady = st.rows_written;
        }
        o->on_window(o, rs);
        rowset_unref(rs);
        store_stats(s, &st);
        if ((uint64_t)st.write_ms > max_write)
            max_write = (uint64_t)st.write_ms;
        if ((uint64_t)st.lag_ms > max_lag)
            max_lag = (uint64_t)st.lag_ms;
    }
    store_flush(s, -1);
    int64_t t1 = time_mono_ms();
    stop_busy = 1;
    if (with_busy)
        pthread_join(th, NULL);
    store_stats(s, &st);
    double secs = (double)(t1 - t0) / 1000.0;
    printf("write: %d windows x %u rows%s, retention %d windows\n", windows,
           hosts, with_busy ? " (other core busy)" : "", retention);
    printf("  overall: %.0f rows/s (%llu rows in %.1f s)\n",
           (double)st.rows_written / secs, (unsigned long long)st.rows_written,
           secs);
    if (windows > retention && t_steady) {
        double ss = (double)(t1 - t_steady) / 1000.0;
        printf("  steady state (each window also deletes one): %.0f rows/s\n",
               (double)(st.rows_written - rows_steady) / ss);
    }
    printf("  writer thread CPU: %.1f s, %.0f rows per CPU-second\n",
           st.writer_cpu_ms / 1000.0,
           (double)st.rows_written * 1000.0 / (double)(st.writer_cpu_ms ? st.writer_cpu_ms : 1));
    printf("  dropped %llu windows, failed %llu; retention deleted %llu "
           "windows (%llu rows)\n", (unsigned long long)st.windows_dropped,
           (unsigned long long)st.windows_failed,
           (unsigned long long)st.retention_windows,
           (unsigned long long)st.retention_rows);
    printf("  slowest window write %llu ms, largest lag %llu ms; "
           "file %.0f MB, in use %.0f MB\n", (unsigned long long)max_write,
           (unsigned long long)max_lag, mb(st.file_bytes), mb(st.used_bytes));
    store_close(s);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int64_t run_ms(store_t *s, const char *sql, uint64_t *rows)
{
    store_result_t *r = NULL;
    diag_t err;
    diag_clear(&err);
    store_limits_t lim = {.time_ms = 60000, .max_rows = -1};
    int64_t t0 = time_now_ms();
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    if (store_adhoc(s, sql, &lim, &r, &err) < 0) {
        fprintf(stderr, "%s: %s\n", sql, err.msg);
        exit(1);
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    (void)t0;
    *rows = r->nrows;
    store_result_free(r);
    return (b.tv_sec - a.tv_sec) * 1000000LL + (b.tv_nsec - a.tv_nsec) / 1000;
}

static void lookup_test(const char *dir, uint32_t hosts, int windows)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/lookup.db", dir);
    store_config_t c = {.path = path, .queue_rows = 100000000};
    diag_t err;
    diag_clear(&err);
    store_t *s = store_open(&c, &err);
    if (!s) {
        fprintf(stderr, "open: %s\n", err.msg);
        exit(1);
    }
    store_query_list_t *l = store_query_list(s);
    int have = l->n;
    store_query_list_free(l);
    if (!have && add_query(s, "hosts", "30d") < 0)
        exit(1);
    output_t *o = store_output(s);
    int64_t t0 = time_mono_ms();
    for (int w = have ? windows : 0; w < windows; w++) {   /* --keep'd */
        rowset_t *rs = window("hosts", BASE + w * 10000LL, 10000, hosts, (uint32_t)w);
        wait_queue_empty(s);
        o->on_window(o, rs);
        rowset_unref(rs);
        if (w % 1000 == 999)
            fprintf(stderr, "  %d windows written\n", w + 1);
    }
    store_flush(s, -1);
    store_stats_t st;
    store_stats(s, &st);
    double secs = (double)(time_mono_ms() - t0) / 1000.0;
    if (have)
        printf("lookup: reusing %s\n", path);
    else
    printf("lookup: %d windows of 10 s x %u hosts = %llu rows written in "
           "%.0f s (%.0f rows/s), file %.0f MB\n", windows, hosts,
           (unsigned long long)st.rows_written, secs,
           (double)st.rows_written / secs, mb(st.file_bytes));
    store_close(s);
    s = store_open(&c, &err);     /* fresh connections, cold SQLite caches */

    int64_t from = BASE, to = BASE + windows * 10000LL;
    int64_t us[20];
    uint64_t rows = 0;
    char sql[512], ipbuf[64];
    srand(42);
    for (int i = 0; i < 20; i++) {
        ipaddr_t ip = ipaddr_from_v4(0x0a000000u + (uint32_t)rand() % hosts);
        snprintf(sql, sizeof(sql), "SELECT window_start, flows, bytes, packets "
                 "FROM hosts WHERE srcip = ip('%s') AND window_start >= %lld "
                 "AND window_start < %lld", ipaddr_format(&ip, ipbuf, sizeof(ipbuf)),
                 (long long)from, (long long)to);
        us[i] = run_ms(s, sql, &rows);
        if (rows != (uint64_t)windows)
            fprintf(stderr, "  expected %d rows, got %llu\n", windows,
                    (unsigned long long)rows);
    }
    int64_t first = us[0];
    qsort(us, 20, sizeof(us[0]), cmp_i64);
    printf("  one host over all %d windows (%llu rows back): first %.1f ms, "
           "median %.1f ms, max %.1f ms (20 random hosts)\n", windows,
           (unsigned long long)rows, first / 1000.0, us[10] / 1000.0,
           us[19] / 1000.0);
    /* One hour of it. */
    int64_t h_from = BASE + (windows / 2) * 10000LL, h_to = h_from + 3600000;
    snprintf(sql, sizeof(sql), "SELECT window_start, flows FROM hosts WHERE "
             "srcip = ip('10.0.0.77') AND window_start >= %lld AND "
             "window_start < %lld", (long long)h_from, (long long)h_to);
    run_ms(s, sql, &rows);
    int64_t hour = run_ms(s, sql, &rows);
    printf("  one host over one hour (%llu rows): %.1f ms\n",
           (unsigned long long)rows, hour / 1000.0);
    /* For comparison: the rows table alone, where the lookup is a
     * skip-scan over every window of the table. */
    srand(43);
    for (int i = 0; i < 20; i++) {
        ipaddr_t ip = ipaddr_from_v4(0x0a000000u + (uint32_t)rand() % hosts);
        snprintf(sql, sizeof(sql), "SELECT window_start, flows, bytes, packets "
                 "FROM flowsql_rows_hosts WHERE srcip = ip('%s') AND "
                 "window_start >= %lld AND window_start < %lld",
                 ipaddr_format(&ip, ipbuf, sizeof(ipbuf)), (long long)from,
                 (long long)to);
        us[i] = run_ms(s, sql, &rows);
    }
    qsort(us, 20, sizeof(us[0]), cmp_i64);
    printf("  the same on the rows table alone (skip-scan): median %.1f ms, "
           "max %.1f ms\n", us[10] / 1000.0, us[19] / 1000.0);
    snprintf(sql, sizeof(sql), "SELECT srcip, flows FROM hosts WHERE "
             "window_start = %lld ORDER BY flows DESC LIMIT 10",
             (long long)(BASE + (windows - 1) * 10000LL));
    int64_t top = run_ms(s, sql, &rows);
    printf("  top 10 hosts of the newest window: %.1f ms\n", top / 1000.0);
    store_close(s);
}

/* Why the tables are clustered by time: the same windows written with
 * plain SQLite into the clustered layout flowsql uses, and into the
 * usual alternative, a table in arrival order with an index on
 * (srcip, window_start). Rates per sixth of the run show how each holds
 * up as history accumulates. */
static void layout_test(const char *dir, uint32_t hosts, int windows)
{
    static const char *layouts[2][2] = {
        {"clustered (window_start, srcip, window_row)",
         "CREATE TABLE t(window_start INTEGER NOT NULL, window_end INTEGER, "
         "srcip BLOB, flows INTEGER, bytes INTEGER, packets INTEGER, "
         "window_row INTEGER NOT NULL, PRIMARY KEY (window_start, srcip, "
         "window_row)) WITHOUT ROWID"},
        {"rowid table + index (srcip, window_start)",
         "CREATE TABLE t(window_start INTEGER NOT NULL, window_end INTEGER, "
         "srcip BLOB, flows INTEGER, bytes INTEGER, packets INTEGER, "
         "window_row INTEGER NOT NULL); CREATE INDEX t_key ON t(srcip, "
         "window_start)"},
    };
    printf("layouts: %d windows x %u hosts, plain SQLite, one transaction "
           "per window\n", windows, hosts);
    for (int l = 0; l < 2; l++) {
        char path[600];
        snprintf(path, sizeof(path), "%s/layout%d.db", dir, l);
        sqlite3 *db;
        sqlite3_stmt *ins;
        if (sqlite3_open(path, &db) != SQLITE_OK ||
            sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous="
                         "NORMAL; PRAGMA cache_size=-262144; PRAGMA "
                         "secure_delete=OFF", NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_exec(db, layouts[l][1], NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_prepare_v2(db, "INSERT INTO t VALUES (?,?,?,?,?,?,?)", -1,
                               &ins, NULL) != SQLITE_OK) {
            fprintf(stderr, "%s: %s\n", path, sqlite3_errmsg(db));
            exit(1);
        }
        printf("  %s, rows/s by sixth:", layouts[l][0]);
        int64_t t0 = time_mono_ms();
        for (int w = 0; w < windows; w++) {
            sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
            for (uint32_t h = 0; h < hosts; h++) {
                ipaddr_t ip = ipaddr_from_v4(0x0a000000u + h);
                sqlite3_bind_int64(ins, 1, BASE + w * 10000LL);
                sqlite3_bind_int64(ins, 2, BASE + w * 10000LL + 10000);
                sqlite3_bind_blob(ins, 3, ip.a, 16, SQLITE_STATIC);
                sqlite3_bind_int64(ins, 4, h % 50);
                sqlite3_bind_int64(ins, 5, h % 50 * 1400);
                sqlite3_bind_int64(ins, 6, h % 50 * 3);
                sqlite3_bind_int64(ins, 7, h);
                sqlite3_step(ins);
                sqlite3_reset(ins);
            }
            sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
            if ((w + 1) % (windows / 6) == 0) {
                int64_t t1 = time_mono_ms();
                printf(" %.0fk", (double)hosts * (windows / 6) /
                                     (double)(t1 - t0 > 0 ? t1 - t0 : 1));
                fflush(stdout);
                t0 = t1;
            }
        }
        printf("\n");
        sqlite3_finalize(ins);
        sqlite3_close(db);
        remove(path);
    }
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *f)
{
    (void)sb;
    (void)flag;
    (void)f;
    return remove(p);
}

int main(int argc, char **argv)
{
    const char *base = "/tmp";
    uint32_t w_hosts = 200000, l_hosts = 10000;
    int w_windows = 60, retention = 20, l_windows = 8640;
    int do_write = 1, do_lookup = 1, with_busy = 0, keep = 0, layouts = 0;
    int lay_windows = 1800;
    uint32_t lay_hosts = 1000;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
        if (!strcmp(a, "--dir")) base = v, i++;
        else if (!strcmp(a, "--write-hosts")) w_hosts = (uint32_t)atol(v), i++;
        else if (!strcmp(a, "--write-windows")) w_windows = atoi(v), i++;
        else if (!strcmp(a, "--retention")) retention = atoi(v), i++;
        else if (!strcmp(a, "--lookup-hosts")) l_hosts = (uint32_t)atol(v), i++;
        else if (!strcmp(a, "--lookup-windows")) l_windows = atoi(v), i++;
        else if (!strcmp(a, "--busy")) with_busy = 1;
        else if (!strcmp(a, "--keep")) keep = 1;
        else if (!strcmp(a, "--layouts")) layouts = 1;
        else if (!strcmp(a, "--layout-hosts")) lay_hosts = (uint32_t)atol(v), i++;
        else if (!strcmp(a, "--layout-windows")) lay_windows = atoi(v), i++;
        else if (!strcmp(a, "--skip-write")) do_write = 0;
        else if (!strcmp(a, "--skip-lookup")) do_lookup = 0;
        else {
            fprintf(stderr, "usage: see the comment at the top of "
                    "bench/bench_storage.c\n");
            return 2;
        }
    }
    log_set_level(LOG_WARN);
    char dir[400];
    if (keep) {
        snprintf(dir, sizeof(dir), "%s/flowsql-bench", base);
        mkdir(dir, 0755);
        printf("databases in %s (kept; the lookup database is reused)\n", dir);
    } else {
        snprintf(dir, sizeof(dir), "%s/flowsql-bench.XXXXXX", base);
        if (!mkdtemp(dir)) {
            perror("mkdtemp");
            return 1;
        }
        printf("databases in %s (removed at the end)\n", dir);
    }
    FILE *la = fopen("/proc/loadavg", "r");
    char load[128] = "?";
    if (la && fgets(load, sizeof(load), la))
        printf("load average at start: %s", load);
    if (la)
        fclose(la);
    if (do_write)
        write_test(dir, w_hosts, w_windows, retention, with_busy);
    if (do_lookup)
        lookup_test(dir, l_hosts, l_windows);
    if (layouts)
        layout_test(dir, lay_hosts, lay_windows);
    if (!keep)
        nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}
