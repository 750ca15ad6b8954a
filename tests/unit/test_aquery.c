/*
 * test_aquery.c - queries over the archive (archive/aquery.h) against
 * SQLite over the same flows.
 *
 * Random flows (a fixed seed) go through the real archive service into
 * Parquet files; the same flows go into an in-memory SQLite table. Each
 * query is written twice, in flowsql's dialect and in SQLite's SQL, and
 * both answers must be the same rows. Every query runs with pushdown on
 * and off (the same answer), and the selective ones must have skipped
 * row groups. Then the limits: rows, time, groups, the memory budget,
 * queries at once; LIMIT stops the scan early; an empty archive.
 */
#include "archive/aquery.h"
#include "archive/arint.h"
#include "engine/mem.h"
#include "engine/schema.h"
#include "storage/store.h"
#include "tests/test.h"
#include "util/timeutil.h"

#include <dirent.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define BASE_MS 1767225600000LL      /* 2026-01-01T00:00:00Z */
#define SPAN_MS 3600000LL            /* flows received over one hour */
#define NFLOWS  60000

static uint64_t rng = 0x2545f4914f6cdd1dULL;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

static char dir[256];
static sqlite3 *db;

static ipaddr_t v4(int a, int b, int c, int d)
{
    return ipaddr_from_v4((uint32_t)a << 24 | (uint32_t)b << 16 |
                          (uint32_t)c << 8 | (uint32_t)d);
}

static ipaddr_t host(int i)
{
    if (i % 10 == 9) {
        ipaddr_t ip;
        memset(&ip, 0, sizeof(ip));
        ip.a[0] = 0x20;
        ip.a[1] = 0x01;
        ip.a[2] = 0x0d;
        ip.a[3] = 0xb8;
        ip.a[15] = (uint8_t)i;
        return ip;
    }
    return v4(10, 1, i / 250, 1 + i % 250);
}

/* Skewed: low indexes are common (top talkers exist). */
static int skewed(int n)
{
    uint32_t a = rnd() % (uint32_t)n, b = rnd() % (uint32_t)n;
    return (int)(a * b / (uint32_t)n);
}

/* The "needle": a host in three flows only, late in the hour. */
#define NEEDLE v4(10, 99, 0, 7)

static void insert(sqlite3_stmt *st, const flow_batch_t *b, uint32_t i)
{
    sqlite3_bind_blob(st, 1, b->srcip[i].a, 16, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, b->dstip[i].a, 16, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, b->start[i]);
    sqlite3_bind_int64(st, 4, b->end[i]);
    sqlite3_bind_int64(st, 5, b->received[i]);
    sqlite3_bind_int64(st, 6, b->packets[i]);
    sqlite3_bind_int64(st, 7, b->bytes[i]);
    sqlite3_bind_int64(st, 8, b->srcport[i]);
    sqlite3_bind_int64(st, 9, b->dstport[i]);
    sqlite3_bind_int64(st, 10, b->proto[i]);
    sqlite3_bind_int64(st, 11, b->tcpflags[i]);
    sqlite3_step(st);
    sqlite3_reset(st);
}

/* The flows into the archive under dir (the real service) and into db. */
static void make_archive(void)
{
    archive_config_t cfg = ARCHIVE_CONFIG_INIT;
    cfg.dir = dir;
    cfg.rg_flows = 2000;
    cfg.no_sync = 1;
    cfg.queue_batches = 4096;
    diag_t err;
    archive_t *a = archive_open(&cfg, &err);
    CHECK(a != NULL);
    if (!a) {
        fprintf(stderr, "%s\n", err.msg);
        return;
    }
    sqlite3_exec(db, "CREATE TABLE flows(srcip BLOB, dstip BLOB, start INT, "
                 "\"end\" INT, received INT, packets INT, bytes INT, "
                 "srcport INT, dstport INT, proto INT, tcpflags INT)",
                 NULL, NULL, NULL);
    sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    sqlite3_stmt *st;
    sqlite3_prepare_v2(db, "INSERT INTO flows VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                       -1, &st, NULL);
    static const int protos[] = {6, 6, 6, 17, 17, 1};
    flow_batch_t *b = NULL;
    for (int i = 0; i < NFLOWS; i++) {
        if (!b)
            b = flow_batch_new();
        int r = flow_batch_add(b);
        b->received[r] = BASE_MS + (int64_t)i * SPAN_MS / NFLOWS + 1;
        b->start[r] = b->received[r] - (int64_t)(rnd() % 60000);
        b->end[r] = b->start[r] + (int64_t)(rnd() % 30000);
        b->srcip[r] = host(skewed(400));
        b->dstip[r] = rnd() % 3 ? v4(192, 0, 2, 1 + skewed(50)) : host(skewed(400));
        b->proto[r] = protos[rnd() % 6];
        b->srcport[r] = rnd() % 4 ? 1024 + rnd() % 60000 : 53;
        b->dstport[r] = (int64_t[]){22, 53, 80, 443, 445, 3389}[skewed(6)];
        if (b->proto[r] == 1)
            b->srcport[r] = b->dstport[r] = 0;
        b->packets[r] = 1 + rnd() % 100;
        b->bytes[r] = b->packets[r] * (40 + rnd() % 1400);
        b->tcpflags[r] = b->proto[r] == 6 ? rnd() % 64 : 0;
        b->exporter[r] = v4(127, 0, 0, 1);
        if (i == 40000 || i == 40001 || i == 55555)
            b->srcip[r] = NEEDLE;
        insert(st, b, (uint32_t)r);
        if (b->n == FLOW_BATCH_MAX || i == NFLOWS - 1) {
            CHECK_INT(archive_submit(a, b), 0);
            b = NULL;
        }
    }
    sqlite3_finalize(st);
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    archive_close(a);
}

/* ---- answers as sorted lines of text ---------------------------------- */

typedef struct lines {
    char **v;
    int    n, cap;
} lines_t;

static void lines_add(lines_t *l, char *s)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->v = realloc(l->v, sizeof(char *) * (size_t)l->cap);
    }
    l->v[l->n++] = s;
}

static void lines_free(lines_t *l)
{
    for (int i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof(*l));
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void fmt_double(sbuf_t *b, double d)
{
    sbuf_printf(b, "%.6g", d);
}

/* The rows of a query over the archive; -1 (err set) on an error. */
static int run_archive(const char *sql, const aquery_opts_t *o, lines_t *out,
                       aquery_stats_t *stats, diag_t *err)
{
    plan_t *p = plan_compile(sql, strlen(sql), 0, err);
    if (!p)
        return -1;
    aquery_t *q;
    int rc = aquery_open(dir, p, o, &q, err);
    if (rc < 0)
        return rc;
    const value_t *row;
    while ((rc = aquery_next(q, &row, err)) == 1) {
        sbuf_t b = SBUF_INIT;
        for (int c = 0; c < aquery_ncols(q); c++) {
            char buf[64];
            if (c)
                sbuf_addc(&b, '|');
            switch (aquery_col_type(q, c)) {
            case TYPE_IP:
                sbuf_add(&b, ipaddr_format(&row[c].ip, buf, sizeof(buf)));
                break;
            case TYPE_FLOAT:
                fmt_double(&b, row[c].f);
                break;
            case TYPE_STRING:
                sbuf_add(&b, row[c].s);
                break;
            default:
                sbuf_printf(&b, "%lld", (long long)row[c].i);
            }
        }
        sbuf_str(&b);
        lines_add(out, sbuf_detach(&b));
    }
    if (stats)
        aquery_stats(q, stats);
    aquery_close(q);
    return rc;
}

static void run_sqlite(const char *sql, lines_t *out)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "sqlite: %s: %s\n", sql, sqlite3_errmsg(db));
        test_failed_now++;
        return;
    }
    while (sqlite3_step(st) == SQLITE_ROW) {
        sbuf_t b = SBUF_INIT;
        for (int c = 0; c < sqlite3_column_count(st); c++) {
            char buf[64];
            if (c)
                sbuf_addc(&b, '|');
            switch (sqlite3_column_type(st, c)) {
            case SQLITE_BLOB: {
                ipaddr_t ip;
                memcpy(ip.a, sqlite3_column_blob(st, c), 16);
                sbuf_add(&b, ipaddr_format(&ip, buf, sizeof(buf)));
                break;
            }
            case SQLITE_FLOAT:
                fmt_double(&b, sqlite3_column_double(st, c));
                break;
            case SQLITE_TEXT:
                sbuf_add(&b, (const char *)sqlite3_column_text(st, c));
                break;
            default:
                sbuf_printf(&b, "%lld", (long long)sqlite3_column_int64(st, c));
            }
        }
        sbuf_str(&b);
        lines_add(out, sbuf_detach(&b));
    }
    sqlite3_finalize(st);
}

/* The answer as one text, for messages: rows in order (ordered=1) or
 * sorted. */
static char *joined(lines_t *l, int ordered)
{
    if (!ordered)
        qsort(l->v, (size_t)l->n, sizeof(char *), cmp_str);
    sbuf_t b = SBUF_INIT;
    for (int i = 0; i < l->n; i++)
        sbuf_printf(&b, "%s\n", l->v[i]);
    sbuf_str(&b);
    return sbuf_detach(&b);
}

/* ---- the cases ---------------------------------------------------------------- */

#define NOW (BASE_MS + SPAN_MS + 1)

typedef struct qcase {
    const char *ours, *sqlite;
    int         ordered;    /* ORDER BY makes the order part of the answer */
    int         selective;  /* pushdown must skip row groups */
    int         bloom;      /* ... by bloom filters */
} qcase_t;

#define H  "10.1.0.3"      /* a top talker */
#define HB "x'00000000000000000000ffff0a010003'"

static const qcase_t cases[] = {
    /* all flows of a host in a range */
    {"SELECT start, srcip, srcport, dstip, dstport, proto, bytes FROM flows "
     "BETWEEN '2026-01-01 00:10' AND '2026-01-01 00:20' "
     "WHERE srcip = " H " OR dstip = " H " ORDER BY start, srcport",
     "SELECT start, srcip, srcport, dstip, dstport, proto, bytes FROM flows "
     "WHERE received BETWEEN 1767226200000 AND 1767226800000 AND "
     "(srcip = " HB " OR dstip = " HB ") ORDER BY start, srcport, srcip, "
     "dstip, dstport, proto, bytes", 1, 1, 0},
    /* top talkers of the last hour */
    {"SELECT srcip, sum(bytes) AS b FROM flows LAST 1h GROUP BY srcip "
     "ORDER BY b DESC LIMIT 10",
     "SELECT srcip, sum(bytes) AS b FROM flows WHERE received BETWEEN "
     "1767225600001 AND 1767229200001 GROUP BY srcip ORDER BY b DESC, srcip "
     "LIMIT 10", 1, 0, 0},
    /* who talked to this address on port 445 */
    {"SELECT srcip, count(*) AS n, sum(bytes) AS b FROM flows "
     "WHERE dstip = 192.0.2.1 AND dstport = 445 AND proto = 'tcp' GROUP BY srcip",
     "SELECT srcip, count(*), sum(bytes) FROM flows WHERE dstip = "
     "x'00000000000000000000ffffc0000201' AND dstport = 445 AND proto = 6 "
     "GROUP BY srcip", 0, 0, 0},
    /* a network */
    {"SELECT dstip, count(*) AS n FROM flows WHERE srcip IN 10.1.1.0/24 AND "
     "proto = 'udp' GROUP BY dstip",
     "SELECT dstip, count(*) FROM flows WHERE srcip BETWEEN "
     "x'00000000000000000000ffff0a010100' AND "
     "x'00000000000000000000ffff0a0101ff' AND proto = 17 GROUP BY dstip",
     0, 0, 0},
    /* the needle: in three flows, found by the bloom filters */
    {"SELECT received, srcip, dstip, bytes FROM flows "
     "WHERE srcip = 10.99.0.7 OR dstip = 10.99.0.7",
     "SELECT received, srcip, dstip, bytes FROM flows WHERE srcip = "
     "x'00000000000000000000ffff0a630007' OR dstip = "
     "x'00000000000000000000ffff0a630007'", 0, 1, 1},
    /* nobody */
    {"SELECT count(*), sum(bytes) FROM flows WHERE srcip = 203.0.113.99",
     "SELECT count(*), 0 FROM flows WHERE srcip = "
     "x'00000000000000000000ffffcb007163'", 0, 1, 0},
    /* everything */
    {"SELECT count(*), sum(packets), min(start), max(end), min(srcip), "
     "max(dstip) FROM flows",
     "SELECT count(*), sum(packets), min(start), max(\"end\"), min(srcip), "
     "max(dstip) FROM flows", 0, 0, 0},
    /* rows without ORDER BY, SINCE .. UNTIL */
    {"SELECT srcip, dstip, bytes, tcpflags FROM flows "
     "SINCE '2026-01-01 00:30' UNTIL '2026-01-01T01:31:00+01:00' WHERE proto = 17",
     "SELECT srcip, dstip, bytes, tcpflags FROM flows WHERE received >= "
     "1767227400000 AND received < 1767227460000 AND proto = 17", 0, 1, 0},
    /* HAVING, avg */
    {"SELECT proto, count(*) AS n, avg(bytes) AS a FROM flows GROUP BY proto "
     "HAVING count(*) > 100",
     "SELECT proto, count(*), avg(bytes) FROM flows GROUP BY proto "
     "HAVING count(*) > 100", 0, 0, 0},
    /* count(DISTINCT), a time in WHERE */
    {"SELECT srcip, count(DISTINCT dstport) AS p FROM flows "
     "WHERE start >= '2026-01-01 00:40' GROUP BY srcip HAVING p > 4",
     "SELECT srcip, count(DISTINCT dstport) AS p FROM flows "
     "WHERE start >= 1767228000000 GROUP BY srcip HAVING p > 4", 0, 0, 0},
    /* either port */
    {"SELECT count(*) FROM flows WHERE srcport = 53 OR dstport = 53",
     "SELECT count(*) FROM flows WHERE srcport = 53 OR dstport = 53", 0, 0, 0},
    /* the biggest flows */
    {"SELECT start, srcip, bytes FROM flows ORDER BY bytes DESC LIMIT 25",
     "SELECT start, srcip, bytes FROM flows ORDER BY bytes DESC, start, srcip "
     "LIMIT 25", 1, 0, 0},
    /* expressions over rows, a duration */
    {"SELECT srcip, end - start AS d, bytes * 8 / 1000 AS kbit FROM flows "
     "LAST 2m WHERE dstport = 22 AND duration > 25s",
     "SELECT srcip, \"end\" - start, bytes * 8 / 1000 FROM flows WHERE "
     "received BETWEEN 1767229080001 AND 1767229200001 AND dstport = 22 AND "
     "\"end\" - start > 25000", 0, 1, 0},
};

static void test_against_sqlite(void)
{
    uint64_t total_rg = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const qcase_t *c = &cases[i];
        for (int pd = 0; pd < 2; pd++) {
            lines_t a = {0}, s = {0};
            aquery_opts_t o = {.max_rows = -1, .no_pushdown = !pd,
                               .now_ms = NOW};
            aquery_stats_t st;
            diag_t err;
            diag_clear(&err);
            int rc = run_archive(c->ours, &o, &a, &st, &err);
            if (rc != 0) {
                fprintf(stderr, "case %zu: %s\n", i, err.msg);
                test_failed_now++;
            }
            run_sqlite(c->sqlite, &s);
            char *ta = joined(&a, c->ordered), *ts = joined(&s, c->ordered);
            if (strcmp(ta, ts) != 0) {
                fprintf(stderr, "case %zu (pushdown %s): %s\n--- archive:\n%s"
                        "--- sqlite:\n%s", i, pd ? "on" : "off", c->ours, ta, ts);
                test_failed_now++;
            }
            CHECK(s.n > 0);
            const archive_scan_stats_t *sc = &st.scan;
            if (!pd) {
                CHECK(sc->row_groups > 20);
                CHECK_INT(sc->rg_read, sc->row_groups);
                CHECK_INT(sc->rows_read, NFLOWS);
                total_rg = sc->row_groups;
            } else if (c->selective) {
                if (sc->rg_read * 3 > total_rg)
                    fprintf(stderr, "case %zu: %llu of %llu row groups read\n",
                            i, (unsigned long long)sc->rg_read,
                            (unsigned long long)total_rg);
                CHECK(sc->rg_read * 3 <= total_rg);
                if (c->bloom)
                    CHECK(sc->rg_pruned_bloom > 0);
            }
            free(ta);
            free(ts);
            lines_free(&a);
            lines_free(&s);
        }
    }
}

/* Only the columns the query needs are read: a GROUP BY srcip over
 * everything reads one column's chunks. */
static void test_reads_needed_columns(void)
{
    aquery_opts_t o = {.max_rows = -1};
    lines_t one = {0}, all = {0};
    aquery_stats_t s1, s2;
    diag_t err;
    CHECK_INT(run_archive("SELECT srcip, count(*) FROM flows GROUP BY srcip",
                          &o, &one, &s1, &err), 0);
    CHECK_INT(run_archive("SELECT srcip, sum(bytes), sum(packets), min(start), "
                          "max(end), count(DISTINCT dstip) FROM flows GROUP BY srcip",
                          &o, &all, &s2, &err), 0);
    CHECK(s1.scan.bytes_read > 0);
    CHECK(s1.scan.bytes_read * 3 < s2.scan.bytes_read);
    CHECK_INT(one.n, all.n);
    lines_free(&one);
    lines_free(&all);
}

/* The row limit cuts the answer and says so; LIMIT does not. */
static void test_row_limit(void)
{
    lines_t l = {0};
    diag_t err;
    aquery_opts_t o = {.max_rows = 100};
    const char *sql = "SELECT srcip, bytes FROM flows";
    plan_t *p = plan_compile(sql, strlen(sql), 0, &err);
    aquery_t *q;
    CHECK_INT(aquery_open(dir, p, &o, &q, &err), 0);
    const value_t *row;
    int n = 0, rc;
    while ((rc = aquery_next(q, &row, &err)) == 1)
        n++;
    CHECK_INT(rc, 0);
    CHECK_INT(n, 100);
    CHECK(aquery_truncated(q));
    aquery_stats_t st;
    aquery_stats(q, &st);
    /* stopped early: far fewer flows read than the archive holds */
    CHECK(st.scan.rows_read < NFLOWS / 2);
    aquery_close(q);

    /* LIMIT under the row limit: not truncated */
    CHECK_INT(run_archive("SELECT srcip FROM flows LIMIT 100", &o, &l, NULL,
                          &err), 0);
    CHECK_INT(l.n, 100);
    lines_free(&l);
    sql = "SELECT srcip FROM flows LIMIT 100";
    p = plan_compile(sql, strlen(sql), 0, &err);
    CHECK_INT(aquery_open(dir, p, &o, &q, &err), 0);
    while (aquery_next(q, &row, &err) == 1)
        ;
    CHECK(!aquery_truncated(q));
    aquery_close(q);

    /* ORDER BY without LIMIT: the best max_rows rows, truncated */
    CHECK_INT(run_archive("SELECT bytes FROM flows ORDER BY bytes DESC", &o,
                          &l, NULL, &err), 0);
    CHECK_INT(l.n, 100);
    lines_t s = {0};
    run_sqlite("SELECT bytes FROM flows ORDER BY bytes DESC LIMIT 100", &s);
    char *ta = joined(&l, 1), *ts = joined(&s, 1);
    CHECK_STR(ta, ts);
    free(ta);
    free(ts);
    lines_free(&s);
    lines_free(&l);

    /* groups past the row limit */
    CHECK_INT(run_archive("SELECT srcip, count(*) FROM flows GROUP BY srcip",
                          &o, &l, NULL, &err), 0);
    CHECK_INT(l.n, 100);
    lines_free(&l);
}

/* The time limit runs from the open to the last row. */
static void test_time_limit(void)
{
    diag_t err;
    aquery_opts_t o = {.max_rows = -1, .time_ms = 100};
    const char *sql = "SELECT srcip, bytes FROM flows";
    plan_t *p = plan_compile(sql, strlen(sql), 0, &err);
    aquery_t *q;
    CHECK_INT(aquery_open(dir, p, &o, &q, &err), 0);
    const value_t *row;
    int rc, n = 0;
    while ((rc = aquery_next(q, &row, &err)) == 1) {
        if (++n % 1000 == 0)
            usleep(20000);   /* a slow reader */
    }
    CHECK_INT(rc, AQ_ETIMEOUT);
    CHECK_STR(err.msg, "query interrupted: time limit of 100 ms reached");
    CHECK(n > 0 && n < NFLOWS);
    /* and it stays an error */
    CHECK_INT(aquery_next(q, &row, &err), AQ_ETIMEOUT);
    aquery_close(q);
}

/* Groups past max_groups, or past the memory budget: an error, never a
 * short answer. */
static void test_incomplete(void)
{
    diag_t err;
    aquery_opts_t o = {.max_rows = -1};
    const char *sql = "SELECT srcip, dstip, count(*) FROM flows GROUP BY srcip, dstip";
    plan_t *p = plan_compile(sql, strlen(sql), 50, &err);
    aquery_t *q;
    CHECK_INT(aquery_open(dir, p, &o, &q, &err), 0);
    const value_t *row;
    int rc = aquery_next(q, &row, &err);
    CHECK_INT(rc, AQ_EINCOMPLETE);
    CHECK(strstr(err.msg, "the answer would be incomplete") != NULL);
    aquery_close(q);

    int64_t old = mem_limit();
    mem_set_limit(mem_used() + (256 << 10));
    p = plan_compile(sql, strlen(sql), 0, &err);
    CHECK_INT(aquery_open(dir, p, &o, &q, &err), 0);
    CHECK_INT(aquery_next(q, &row, &err), AQ_EINCOMPLETE);
    aquery_close(q);
    mem_set_limit(old);
}

static void test_running_limit(void)
{
    aquery_t *q[AQUERY_MAX_RUNNING + 1];
    diag_t err;
    aquery_opts_t o = {.max_rows = -1};
    for (int i = 0; i <= AQUERY_MAX_RUNNING; i++) {
        const char *sql = "SELECT count(*) FROM flows";
        plan_t *p = plan_compile(sql, strlen(sql), 0, &err);
        int rc = aquery_open(dir, p, &o, &q[i], &err);
        CHECK_INT(rc, i < AQUERY_MAX_RUNNING ? 0 : AQ_EBUSY);
    }
    CHECK(strstr(err.msg, "too many queries over the archive") != NULL);
    /* a query closed before it is read stops its scan cleanly */
    for (int i = 0; i < AQUERY_MAX_RUNNING; i++)
        aquery_close(q[i]);
}

/* No archive at all: an empty answer, and count(*) is 0. */
static void test_empty(void)
{
    char empty[300];
    snprintf(empty, sizeof(empty), "%s/none", dir);
    diag_t err;
    aquery_opts_t o = {.max_rows = -1};
    const char *sql = "SELECT count(*), sum(bytes) FROM flows LAST 1h";
    plan_t *p = plan_compile(sql, strlen(sql), 0, &err);
    aquery_t *q;
    CHECK_INT(aquery_open(empty, p, &o, &q, &err), 0);
    const value_t *row;
    CHECK_INT(aquery_next(q, &row, &err), 1);
    CHECK_INT(row[0].i, 0);
    CHECK_INT(row[1].i, 0);
    CHECK_INT(aquery_next(q, &row, &err), 0);
    aquery_close(q);
}

/* EXPLAIN ANALYZE: the resolved range and what was read and skipped. */
static void test_explain_analyze(void)
{
    diag_t err;
    aquery_opts_t o = {.max_rows = -1, .now_ms = NOW};
    const char *sql = "SELECT count(*) FROM flows LAST 10m WHERE srcip = 10.99.0.7";
    plan_t *p = plan_compile(sql, strlen(sql), 0, &err);
    aquery_t *q;
    CHECK_INT(aquery_open(dir, p, &o, &q, &err), 0);
    const value_t *row;
    while (aquery_next(q, &row, &err) == 1)
        CHECK_INT(row[0].i, 1);
    sbuf_t b = SBUF_INIT;
    aquery_explain(q, &b);
    const char *t = sbuf_str(&b);
    CHECK(strstr(t, "flows received in the last 10m, between "
                    "2026-01-01T00:50:00.001Z and 2026-01-01T01:00:00.001Z") != NULL);
    CHECK(strstr(t, "srcip = 10.99.0.7 (bloom filters, zone maps)") != NULL);
    CHECK(strstr(t, "files: 12 in the range, 10 skipped by name or "
                    "partition, 2 read") != NULL);
    CHECK(strstr(t, "row groups: 6, 0 skipped by zone maps, 5 by bloom "
                    "filters, 1 read") != NULL);
    CHECK(strstr(t, "flows: 2000 read, 1 matched; groups: 1; rows out: 1;") != NULL);
    if (test_failed_now)
        fprintf(stderr, "%s", t);
    sbuf_free(&b);
    aquery_close(q);
}

/* ---- the table flows of ad hoc SQLite: joins to stored rows -------- */

/* A stored detection: srcip per window, as a registered query keeps it. */
static store_t *detections(void)
{
    char path[300];
    snprintf(path, sizeof(path), "%s-db/flowsql.db", dir);
    store_config_t c;
    memset(&c, 0, sizeof(c));
    c.path = path;
    c.archive_dir = dir;
    c.adhoc_time_ms = 20000;
    diag_t err;
    store_t *st = store_open(&c, &err);
    CHECK(st != NULL);
    if (!st) {
        fprintf(stderr, "%s\n", err.msg);
        return NULL;
    }
    static const rowset_col_t cols[] = {{"srcip", TYPE_IP, 1},
                                        {"flows", TYPE_INT, 0}};
    store_query_def_t d = {
        .name = "det", .ncols = 2, .cols = cols,
        .text = "CREATE QUERY det AS SELECT srcip, count(*) AS flows FROM "
                "flows WINDOW 10m GROUP BY srcip",
    };
    CHECK_INT(store_query_add(st, &d, &err), 0);
    /* two windows: a top talker at 00:10-00:20, the needle at 00:50-01:00 */
    for (int w = 0; w < 2; w++) {
        rowset_t *rs = rowset_new("det", 2);
        rs->cols[0] = cols[0];
        rs->cols[1] = cols[1];
        rs->wstart = BASE_MS + (w ? 3000000 : 600000);
        rs->wend = rs->wstart + 600000;
        rs->closed_at = time_now_ms();
        rs->seq = (uint64_t)w + 1;
        value_t *v = rowset_add_row(rs);
        v[0].ip = w ? NEEDLE : v4(10, 1, 0, 3);
        v[1].i = 1;
        output_t *o = store_output(st);
        o->on_window(o, rs);
        rowset_unref(rs);
    }
    CHECK_INT(store_flush(st, 5000), 0);
    return st;
}

static void result_lines(const store_result_t *r, lines_t *out)
{
    for (uint64_t i = 0; i < r->nrows; i++) {
        sbuf_t b = SBUF_INIT;
        for (int c = 0; c < r->ncols; c++) {
            const store_value_t *v = store_result_cell(r, i, c);
            char buf[64];
            if (c)
                sbuf_addc(&b, '|');
            if (v->t == SV_IP)
                sbuf_add(&b, ipaddr_format(&v->v.ip, buf, sizeof(buf)));
            else
                sbuf_printf(&b, "%lld", (long long)v->v.i);
        }
        sbuf_str(&b);
        lines_add(out, sbuf_detach(&b));
    }
}

static void test_flows_table_join(void)
{
    store_t *st = detections();
    if (!st)
        return;
    store_result_t *r = NULL;
    diag_t err;
    diag_clear(&err);
    uint64_t read0 = ctr_get(&archive_scan_totals[ASC_ROWS_READ]);
    int rc = store_adhoc(st, "SELECT f.received, f.srcip, f.dstip, f.dstport, "
                         "f.bytes FROM det s JOIN flows f ON f.srcip = s.srcip "
                         "AND f.received >= s.window_start AND f.received < "
                         "s.window_end", NULL, &r, &err);
    CHECK_INT(rc, 0);
    if (rc != 0)
        fprintf(stderr, "%s\n", err.msg);
    uint64_t read = ctr_get(&archive_scan_totals[ASC_ROWS_READ]) - read0;
    lines_t a = {0}, s = {0};
    if (r)
        result_lines(r, &a);
    run_sqlite("SELECT received, srcip, dstip, dstport, bytes FROM flows WHERE "
               "(srcip = x'00000000000000000000ffff0a010003' AND received >= "
               "1767226200000 AND received < 1767226800000) OR (srcip = "
               "x'00000000000000000000ffff0a630007' AND received >= "
               "1767228600000 AND received < 1767229200000)", &s);
    char *ta = joined(&a, 0), *ts = joined(&s, 0);
    CHECK_STR(ta, ts);
    CHECK(s.n > 10);
    /* the scans read the row groups of their windows only */
    CHECK(read > 0 && read < NFLOWS / 4);
    free(ta);
    free(ts);
    lines_free(&a);
    lines_free(&s);
    store_result_free(r);

    /* the columns and types as the stored tables show them */
    r = NULL;
    CHECK_INT(store_adhoc(st, "SELECT srcip, received, \"end\", bytes FROM "
                          "flows WHERE srcip = x'00000000000000000000ffff0a630007'",
                          NULL, &r, &err), 0);
    if (r) {
        CHECK_INT(r->nrows, 3);
        CHECK_INT(store_result_cell(r, 0, 0)->t, SV_IP);
        CHECK_INT(store_result_cell(r, 0, 1)->t, SV_TIME);
        CHECK_INT(store_result_cell(r, 0, 3)->t, SV_INT);
        CHECK_STR(r->names[2], "end");
    }
    store_result_free(r);

    /* the row limit of the statement */
    store_limits_t lim = {0, 10};
    r = NULL;
    CHECK_INT(store_adhoc(st, "SELECT * FROM flows", &lim, &r, &err), 0);
    if (r) {
        CHECK_INT(r->nrows, 10);
        CHECK(r->truncated);
        CHECK_INT(r->ncols, 24);
    }
    store_result_free(r);

    /* its time limit: a thousand full scans */
    lim = (store_limits_t){300, 0};
    r = NULL;
    diag_clear(&err);
    rc = store_adhoc(st, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT "
                     "i + 1 FROM n WHERE i < 1000) SELECT count(*) FROM n "
                     "JOIN flows f ON f.bytes > n.i", &lim, &r, &err);
    CHECK_INT(rc, STORE_ETIMEOUT);
    CHECK_STR(err.msg, "query interrupted: time limit of 300 ms reached");
    store_result_free(r);

    /* a value the archive cannot use is only left out of the scan */
    r = NULL;
    CHECK_INT(store_adhoc(st, "SELECT count(*) FROM flows WHERE srcip = "
                          "'10.99.0.7' OR (srcip = x'00000000000000000000ffff0a630007' "
                          "AND received >= 1767225600000.5)", NULL, &r, &err), 0);
    if (r)
        CHECK_INT(store_result_cell(r, 0, 0)->v.i, 3);
    store_result_free(r);
    store_close(st);
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf %s-db", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s-db\n", dir);
}

int main(void)
{
    snprintf(dir, sizeof(dir), "/tmp/flowsql-aquery-%d", (int)getpid());
    sqlite3_open(":memory:", &db);
    make_archive();
    RUN(test_against_sqlite);
    RUN(test_reads_needed_columns);
    RUN(test_row_limit);
    RUN(test_time_limit);
    RUN(test_incomplete);
    RUN(test_running_limit);
    RUN(test_empty);
    RUN(test_explain_analyze);
    RUN(test_flows_table_join);
    sqlite3_close(db);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    TEST_EXIT();
}
