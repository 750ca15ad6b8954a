/* test_storage_adhoc.c - ad hoc SQL over stored windows: typed results,
 * the forensic queries of docs/STORAGE.md, what is refused and with which
 * words, the time, row and concurrency limits, and the helper functions
 * on IPv4 and IPv6. */
#include "storage/store.h"
#include "tests/test.h"
#include "tests/unit/storage_util.h"

#include <pthread.h>
#include <unistd.h>

#define BASE 1763902800000LL   /* 2025-11-23T13:00:00Z */
#define TEN_S 10000

static store_t *S;

/* Run sql; on success return the result, else NULL with *code and msg. */
static store_result_t *q(const char *sql, int *code, char *msg)
{
    store_result_t *r = NULL;
    diag_t err;
    diag_clear(&err);
    int rc = store_adhoc(S, sql, NULL, &r, &err);
    if (code)
        *code = rc;
    if (msg)
        snprintf(msg, 512, "%s", err.set ? err.msg : "");
    if (rc < 0 && !code)
        fprintf(stderr, "%s\n  -> %s\n", sql, err.msg);
    return r;
}

/* The single value a query returns, as text ("NULL", numbers, IPs as
 * text, times as ISO), or the error message. */
static const char *one(const char *sql)
{
    static char buf[600];
    int code;
    char msg[512];
    store_result_t *r = q(sql, &code, msg);
    if (!r) {
        snprintf(buf, sizeof(buf), "error: %s", msg);
        return buf;
    }
    if (r->nrows < 1 || r->ncols < 1) {
        snprintf(buf, sizeof(buf), "(no rows)");
    } else {
        const store_value_t *v = store_result_cell(r, 0, 0);
        char tmp[64];
        switch (v->t) {
        case SV_NULL: snprintf(buf, sizeof(buf), "NULL"); break;
        case SV_INT:
        case SV_BOOL:
        case SV_DURATION:
            snprintf(buf, sizeof(buf), "%lld", (long long)v->v.i);
            break;
        case SV_TIME:
            snprintf(buf, sizeof(buf), "%s", time_format_iso(v->v.i, tmp, sizeof(tmp)));
            break;
        case SV_FLOAT: snprintf(buf, sizeof(buf), "%g", v->v.f); break;
        case SV_TEXT: snprintf(buf, sizeof(buf), "%s", v->v.s); break;
        case SV_IP:
            snprintf(buf, sizeof(buf), "ip:%s", ipaddr_format(&v->v.ip, tmp, sizeof(tmp)));
            break;
        case SV_BLOB: snprintf(buf, sizeof(buf), "blob[%u]", v->len); break;
        }
    }
    store_result_free(r);
    return buf;
}

static void refused(const char *sql, const char *expect)
{
    int code = 0;
    char msg[512];
    store_result_t *r = q(sql, &code, msg);
    CHECK(r == NULL);
    store_result_free(r);
    if (code != STORE_EREFUSED)
        fprintf(stderr, "for: %s\n", sql);
    CHECK_INT(code, STORE_EREFUSED);
    CHECK_STR(msg, expect);
}

/* Three windows of "talkers" (srcip, bytes, flows, first, proto), one of
 * them with IPv6 hosts, and the same host 10.1.2.3 in each. */
static void setup(void)
{
    const char *path = tu_path("adhoc.db");
    store_config_t c = {.adhoc_time_ms = 2000};
    S = tu_open(path, &c);
    static const rowset_col_t cols[] = {
        {"srcip", TYPE_IP, 1}, {"bytes", TYPE_INT, 0}, {"flows", TYPE_INT, 0},
        {"first", TYPE_TIME, 0}, {"proto", TYPE_STRING, 0},
        {"avg_dur", TYPE_DURATION, 0}, {"scanner", TYPE_BOOL, 0},
    };
    store_query_def_t d = {.name = "talkers", .text = "CREATE QUERY talkers "
                           "AS SELECT ...", .cols = cols, .ncols = 7};
    diag_t err;
    diag_clear(&err);
    if (store_query_add(S, &d, &err) < 0)
        fprintf(stderr, "add: %s\n", err.msg);
    const char *hosts[3][3] = {
        {"10.1.2.3", "10.1.2.4", "192.168.0.1"},
        {"10.1.2.3", "10.9.9.9", "2001:db8::1"},
        {"10.1.2.3", "2001:db8::2", "2001:db8:1::1"},
    };
    for (int w = 0; w < 3; w++) {
        rowset_t *rs = rowset_new("talkers", 7);
        for (int i = 0; i < 7; i++)
            rs->cols[i] = cols[i];
        rs->wstart = BASE + w * 60000;    /* 13:00, 13:01, 13:02 */
        rs->wend = rs->wstart + 60000;
        for (int h = 0; h < 3; h++) {
            value_t *v = rowset_add_row(rs);
            v[0].ip = tu_ip(hosts[w][h]);
            v[1].i = 1000 * (w + 1) + h;
            v[2].i = w + h;
            v[3].i = rs->wstart + 500;
            v[4].s = rowset_strdup(rs, "tcp");
            v[5].i = 1500;
            v[6].i = h == 2;
        }
        tu_push(S, rs);
    }
    store_flush(S, 10000);
}

static void t_typed_results(void)
{
    store_result_t *r = q("SELECT * FROM talkers WHERE window_start = "
                          "1763902800000 ORDER BY window_row", NULL, NULL);
    CHECK(r != NULL);
    if (!r)
        return;
    CHECK_INT(r->ncols, 10);
    CHECK_INT(r->nrows, 3);
    CHECK_INT(r->truncated, 0);
    CHECK_STR(r->names[0], "window_start");
    CHECK_STR(r->names[2], "srcip");
    CHECK_STR(r->names[9], "window_row");
    CHECK_STR(r->decltypes[2], "IP");
    CHECK_INT(r->types[0], TYPE_TIME);
    CHECK_INT(r->types[2], TYPE_IP);
    CHECK_INT(r->types[3], TYPE_INT);
    CHECK_INT(r->types[6], TYPE_STRING);
    const store_value_t *v = store_result_cell(r, 0, 0);
    CHECK_INT(v->t, SV_TIME);
    CHECK_INT(v->v.i, BASE);
    v = store_result_cell(r, 0, 2);
    CHECK_INT(v->t, SV_IP);
    ipaddr_t want = tu_ip("10.1.2.3");
    CHECK(ipaddr_cmp(&v->v.ip, &want) == 0);
    CHECK_INT(store_result_cell(r, 0, 3)->t, SV_INT);
    CHECK_INT(store_result_cell(r, 0, 3)->v.i, 1000);
    CHECK_INT(store_result_cell(r, 0, 5)->t, SV_TIME);
    CHECK_INT(store_result_cell(r, 0, 6)->t, SV_TEXT);
    CHECK_STR(store_result_cell(r, 0, 6)->v.s, "tcp");
    CHECK_INT(store_result_cell(r, 0, 6)->len, 3);
    CHECK_INT(store_result_cell(r, 0, 7)->t, SV_DURATION);
    CHECK_INT(store_result_cell(r, 2, 8)->t, SV_BOOL);
    CHECK_INT(store_result_cell(r, 2, 8)->v.i, 1);
    store_result_free(r);

    /* Expressions have no declared type: values keep their storage class;
     * a 16-byte blob is still an address. */
    CHECK_STR(one("SELECT min(srcip) FROM talkers"), "ip:10.1.2.3");
    CHECK_STR(one("SELECT count(*) FROM talkers"), "9");
    CHECK_STR(one("SELECT avg(bytes) FROM talkers WHERE window_row = 0"), "2000");
    CHECK_STR(one("SELECT NULL"), "NULL");
    CHECK_STR(one("SELECT x'0102'"), "blob[2]");
}

static void t_forensics(void)
{
    /* What did 10.1.2.3 do between 13:00 and 13:02? */
    store_result_t *r = q(
        "SELECT iso(window_start) AS t, bytes, flows FROM talkers "
        "WHERE srcip = ip('10.1.2.3') AND window_start >= ms('2025-11-23 13:00') "
        "AND window_start < ms('2025-11-23 13:02') ORDER BY window_start",
        NULL, NULL);
    CHECK(r != NULL);
    if (r) {
        CHECK_INT(r->nrows, 2);
        CHECK_STR(store_result_cell(r, 0, 0)->v.s, "2025-11-23T13:00:00.000Z");
        CHECK_INT(store_result_cell(r, 1, 1)->v.i, 2000);
    }
    store_result_free(r);
    /* That lookup is a seek per window of the range on the table's key,
     * driven by the window list, not a scan. */
    r = q("EXPLAIN QUERY PLAN SELECT * FROM talkers WHERE srcip = "
          "ip('10.1.2.3') AND window_start >= 0", NULL, NULL);
    CHECK(r && r->nrows == 2 && r->ncols == 4);
    if (r && r->nrows == 2 && r->ncols == 4) {
        CHECK_STR(store_result_cell(r, 0, 3)->v.s, "SEARCH w USING PRIMARY "
                  "KEY (tbl=? AND window_start>?)");
        CHECK_STR(store_result_cell(r, 1, 3)->v.s, "SEARCH t USING PRIMARY "
                  "KEY (window_start=? AND srcip=?)");
    }
    store_result_free(r);
    /* The rows table alone: a skip-scan, thanks to the stat1 hint. */
    r = q("EXPLAIN QUERY PLAN SELECT * FROM flowsql_rows_talkers WHERE "
          "srcip = ip('10.1.2.3')", NULL, NULL);
    CHECK(r && r->nrows == 1 && r->ncols == 4);
    if (r && r->nrows == 1 && r->ncols == 4)
        CHECK_STR(store_result_cell(r, 0, 3)->v.s, "SEARCH flowsql_rows_talkers "
                  "USING PRIMARY KEY (ANY(window_start) AND srcip=?)");
    store_result_free(r);
    /* Which hosts of 10.0.0.0/8 were seen, via the ordered key range. */
    CHECK_STR(one("SELECT group_concat(h, ' ') FROM (SELECT DISTINCT "
                  "ip_text(srcip) AS h FROM talkers WHERE srcip BETWEEN "
                  "cidr_first('10.0.0.0/8') AND cidr_last('10.0.0.0/8') "
                  "ORDER BY srcip)"), "10.1.2.3 10.1.2.4 10.9.9.9");
    CHECK_STR(one("SELECT group_concat(ip_text(srcip), ' ') FROM talkers "
                  "WHERE ip_in(srcip, '2001:db8::/32')"),
              "2001:db8::1 2001:db8::2 2001:db8:1::1");
    CHECK_STR(one("SELECT count(*) FROM talkers WHERE scanner"), "3");
    /* The catalog and the window list are readable too. */
    CHECK_STR(one("SELECT name FROM flowsql_queries"), "talkers");
    CHECK_STR(one("SELECT count(*) FROM flowsql_windows WHERE tbl = 'talkers'"),
              "3");
    CHECK_STR(one("SELECT count(*) FROM pragma_table_info('talkers')"), "10");
    CHECK_STR(one("PRAGMA table_info(talkers)"), "0");
}

static void t_refusals(void)
{
    refused("INSERT INTO talkers(window_start, window_row) VALUES (1, 1)",
            "ad hoc queries are read-only: INSERT is not allowed");
    refused("UPDATE talkers SET bytes = 0",
            "ad hoc queries are read-only: UPDATE is not allowed");
    refused("DELETE FROM talkers",
            "ad hoc queries are read-only: DELETE is not allowed");
    refused("DROP TABLE talkers",
            "ad hoc queries are read-only: DROP TABLE is not allowed");
    refused("CREATE TABLE x(a)",
            "ad hoc queries are read-only: CREATE TABLE is not allowed");
    refused("CREATE TEMP TABLE x(a)",
            "ad hoc queries are read-only: CREATE TABLE is not allowed");
    refused("CREATE TEMP VIEW v AS SELECT 1",
            "ad hoc queries are read-only: CREATE VIEW is not allowed");
    refused("CREATE INDEX i ON talkers(bytes)",
            "ad hoc queries are read-only: CREATE INDEX is not allowed");
    refused("ALTER TABLE talkers RENAME TO t2",
            "ad hoc queries are read-only: ALTER TABLE is not allowed");
    refused("ANALYZE", "ad hoc queries are read-only: ANALYZE is not allowed");
    refused("REINDEX", "ad hoc queries are read-only: REINDEX is not allowed");
    refused("VACUUM", "ad hoc queries are read-only: VACUUM is not allowed");
    refused("VACUUM INTO '/tmp/flowsql-stolen.db'",
            "ad hoc queries are read-only: VACUUM is not allowed");
    refused("WITH x AS (SELECT 1) DELETE FROM flowsql_rows_talkers",
            "ad hoc queries are read-only: DELETE is not allowed");
    refused("WITH x AS (SELECT 1) DELETE FROM talkers",
            "ad hoc queries are read-only: cannot modify talkers because it "
            "is a view");
    refused("CREATE UNIQUE INDEX i ON flowsql_rows_talkers(bytes)",
            "ad hoc queries are read-only: CREATE INDEX is not allowed");
    refused("DROP VIEW talkers",
            "ad hoc queries are read-only: DROP VIEW is not allowed");
    refused("ATTACH DATABASE '/tmp/other.db' AS other", "ATTACH is not allowed");
    refused("DETACH DATABASE main", "DETACH is not allowed");
    refused("SELECT load_extension('/tmp/evil.so')",
            "load_extension() is not allowed");
    refused("SELECT fts3_tokenizer('simple')", "fts3_tokenizer() is not allowed");
    refused("PRAGMA journal_mode = DELETE",
            "PRAGMA changes are not allowed: PRAGMA journal_mode = DELETE");
    refused("PRAGMA writable_schema = 1",
            "PRAGMA writable_schema is not allowed in ad hoc queries");
    refused("PRAGMA query_only = 0",
            "PRAGMA query_only is not allowed in ad hoc queries");
    refused("BEGIN", "ad hoc queries run one statement at a time: BEGIN is "
            "not allowed");
    refused("SAVEPOINT a", "ad hoc queries run one statement at a time: "
            "SAVEPOINT is not allowed");
    refused("SELECT 1; DELETE FROM talkers",
            "only one statement at a time is allowed");
    refused("SELECT 1; SELECT 2", "only one statement at a time is allowed");
    refused("DELETE FROM sqlite_master",
            "ad hoc queries are read-only: DELETE is not allowed");
    refused("UPDATE sqlite_schema SET sql = ''",
            "ad hoc queries are read-only: UPDATE is not allowed");
    /* Trailing semicolons and comments are fine. */
    CHECK_STR(one("  -- a comment\nSELECT 42; /* done */ ;"), "42");

    int code;
    char msg[512];
    CHECK(q("SELEC 1", &code, msg) == NULL);
    CHECK_INT(code, STORE_EINVALID);
    CHECK_STR(msg, "near \"SELEC\": syntax error");
    CHECK(q("SELECT * FROM nope", &code, msg) == NULL);
    CHECK_INT(code, STORE_EINVALID);
    CHECK_STR(msg, "no such table: nope");
    CHECK(q(" ; -- nothing", &code, msg) == NULL);
    CHECK_INT(code, STORE_EINVALID);
    CHECK_STR(msg, "empty query");
    /* The data is untouched. */
    CHECK_STR(one("SELECT count(*) FROM talkers"), "9");
    store_stats_t st;
    store_stats(S, &st);
    CHECK(st.adhoc_refused >= 25);
}

static void t_time_limit(void)
{
    store_limits_t lim = {.time_ms = 200};
    store_result_t *r = NULL;
    diag_t err;
    diag_clear(&err);
    int64_t t0 = time_mono_ms();
    int rc = store_adhoc(S, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL "
                         "SELECT x + 1 FROM c) SELECT count(*) FROM c", &lim,
                         &r, &err);
    int64_t took = time_mono_ms() - t0;
    CHECK_INT(rc, STORE_ETIMEOUT);
    CHECK(r == NULL);
    CHECK_STR(err.msg, "query interrupted: time limit of 200 ms reached");
    CHECK(took >= 200 && took < 1500);
    /* The configured default (2000 ms here) applies without limits. */
    diag_clear(&err);
    rc = store_adhoc(S, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL "
                     "SELECT x + 1 FROM c) SELECT count(*) FROM c", NULL, &r,
                     &err);
    CHECK_INT(rc, STORE_ETIMEOUT);
    CHECK_STR(err.msg, "query interrupted: time limit of 2000 ms reached");
    /* And the connection is fine afterwards. */
    CHECK_STR(one("SELECT 1 + 1"), "2");
}

/* printf() and format() repeat a character or pad one at a time inside a
 * single call, out of reach of the time limit: widths and precisions
 * longer than a value may be are refused at once; the rest still format
 * as SQLite's own printf() does. */
static void t_printf_bounded(void)
{
    int code;
    char msg[512];
    int64_t t0 = time_mono_ms();
    store_result_t *r = q("SELECT printf('%.*c', 999999999, 'x')", &code, msg);
    CHECK(r == NULL);
    CHECK_INT(code, STORE_EINVALID);
    CHECK(strstr(msg, "printf(): widths and precisions of 999999999 "
                 "characters in all are more than a value may hold") != NULL);
    CHECK(time_mono_ms() - t0 < 1000);
    r = q("SELECT format('%999999999d', 1)", &code, msg);
    CHECK(r == NULL && strstr(msg, "999999999 characters") != NULL);
    /* Many conversions just under the limit each add up past it. */
    r = q("SELECT printf('%9000000c%9000000c', 'a', 'b')", &code, msg);
    CHECK(r == NULL && strstr(msg, "18000000 characters") != NULL);
    r = q("SELECT printf('%*d', -999999999, 5)", &code, msg);
    CHECK(r == NULL && strstr(msg, "999999999 characters") != NULL);
    CHECK_STR(one("SELECT printf('%5.2f|%-4d|%s|%%|%.*c', 3.14159, 7, 'ok', "
                  "3, 'z')"), " 3.14|7   |ok|%|zzz");
    CHECK_STR(one("SELECT format('%q', 'it''s')"), "it''s");
    CHECK_STR(one("SELECT printf(NULL)"), "NULL");
    CHECK_STR(one("SELECT length(printf('%.*c', 1000000, 'x'))"), "1000000");
    /* Many arguments: more than the statements kept. */
    CHECK_STR(one("SELECT printf('%d%d%d%d%d%d%d%d%d%d', 0,1,2,3,4,5,6,7,8,9)"),
              "0123456789");
}

/* A cursor reads one row at a time and its time limit covers the time
 * between rows. */
static void t_cursor(void)
{
    store_cursor_t *c = NULL;
    diag_t err;
    diag_clear(&err);
    store_limits_t lim = {.time_ms = 300, .max_rows = 5};
    CHECK_INT(store_cursor_open(S, "WITH RECURSIVE c(x) AS (SELECT 1 UNION "
                                "ALL SELECT x + 1 FROM c LIMIT 7) SELECT x, "
                                "'v' || x AS s FROM c", &lim, &c, &err), 0);
    CHECK_INT(store_cursor_ncols(c), 2);
    CHECK_STR(store_cursor_name(c, 1), "s");
    const store_value_t *row;
    int n = 0, rc;
    while ((rc = store_cursor_next(c, &row, &err)) == 1) {
        n++;
        CHECK_INT(row[0].v.i, n);
        CHECK(row[1].t == SV_TEXT && row[1].len == 2);
    }
    CHECK_INT(rc, 0);
    CHECK_INT(n, 5);
    CHECK_INT(store_cursor_truncated(c), 1);
    store_cursor_close(c);
    CHECK_INT(store_cursor_open(S, "SELECT 1", &lim, &c, &err), 0);
    CHECK_INT(store_cursor_check_time(c, &err), 0);
    usleep(350 * 1000);
    CHECK_INT(store_cursor_check_time(c, &err), STORE_ETIMEOUT);
    CHECK_STR(err.msg, "query interrupted: time limit of 300 ms reached");
    store_cursor_close(c);
    CHECK_STR(one("SELECT 2 + 2"), "4");
}

static void t_row_limit(void)
{
    const char *sql = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 "
                      "FROM c LIMIT 1000) SELECT x FROM c";
    store_limits_t lim = {.max_rows = 10};
    store_result_t *r = NULL;
    diag_t err;
    diag_clear(&err);
    CHECK_INT(store_adhoc(S, sql, &lim, &r, &err), 0);
    CHECK(r && r->nrows == 10 && r->truncated == 1);
    if (r)
        CHECK_INT(store_result_cell(r, 9, 0)->v.i, 10);
    store_result_free(r);
    lim.max_rows = 1000;
    CHECK_INT(store_adhoc(S, sql, &lim, &r, &err), 0);
    CHECK(r && r->nrows == 1000 && r->truncated == 0);
    store_result_free(r);
    lim.max_rows = -1;
    CHECK_INT(store_adhoc(S, sql, &lim, &r, &err), 0);
    CHECK(r && r->nrows == 1000 && r->truncated == 0);
    store_result_free(r);
}

static void *slow_query(void *arg)
{
    store_t *s = arg;
    store_limits_t lim = {.time_ms = 600};
    store_result_t *r = NULL;
    diag_t err;
    diag_clear(&err);
    store_adhoc(s, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 "
                "FROM c) SELECT count(*) FROM c", &lim, &r, &err);
    store_result_free(r);
    return NULL;
}

static void t_concurrency_limit(void)
{
    store_config_t c = {.adhoc_max_running = 1};
    store_t *s = tu_open(tu_path("one_at_a_time.db"), &c);
    pthread_t th;
    pthread_create(&th, NULL, slow_query, s);
    usleep(200 * 1000);
    store_result_t *r = NULL;
    diag_t err;
    diag_clear(&err);
    CHECK_INT(store_adhoc(s, "SELECT 1", NULL, &r, &err), STORE_EBUSY);
    CHECK_STR(err.msg, "too many ad hoc queries at once (at most 1): try "
              "again when one has finished");
    pthread_join(th, NULL);
    diag_clear(&err);
    CHECK_INT(store_adhoc(s, "SELECT 1", NULL, &r, &err), 0);
    store_result_free(r);
    store_close(s);
}

/* A statement with a syntax error, on a pooled connection that read the
 * schema before a query added its table, is still the client's error
 * (SQLite says SQLITE_SCHEMA first; found by tests/fuzz/fuzz_rest.c,
 * which saw a 500). */
static void t_schema_changed(void)
{
    store_t *s = tu_open(tu_path("schema_change.db"), NULL);
    store_result_t *r = NULL;
    diag_t err;
    diag_clear(&err);
    CHECK_INT(store_adhoc(s, "SELECT count(*) FROM sqlite_master", NULL, &r,
                          &err), 0);
    store_result_free(r);
    static const rowset_col_t cols[] = {{"n", TYPE_INT, 0}};
    store_query_def_t d = {.name = "later", .text = "CREATE QUERY later AS "
                           "SELECT ...", .cols = cols, .ncols = 1};
    CHECK_INT(store_query_add(s, &d, &err), 0);
    r = NULL;
    int rc = store_adhoc(s, "SELECT a b c FROM sqlite_master", NULL, &r, &err);
    CHECK_INT(rc, STORE_EINVALID);
    CHECK_STR(err.msg, "near \"c\": syntax error");
    CHECK_INT(store_adhoc(s, "SELECT count(*) FROM later", NULL, &r, &err), 0);
    store_result_free(r);
    store_close(s);
}

static void t_ip_helpers(void)
{
    CHECK_STR(one("SELECT hex(ip('10.0.0.1'))"),
              "00000000000000000000FFFF0A000001");
    CHECK_STR(one("SELECT hex(ip('2001:db8::1'))"),
              "20010DB8000000000000000000000001");
    CHECK_STR(one("SELECT ip_text(ip('10.0.0.1'))"), "10.0.0.1");
    CHECK_STR(one("SELECT ip_text(ip('::ffff:10.0.0.1'))"), "10.0.0.1");
    CHECK_STR(one("SELECT ip_text(ip('2001:DB8:0:0:0:0:0:1'))"), "2001:db8::1");
    CHECK_STR(one("SELECT ip_text('2001:0db8::0001')"), "2001:db8::1");
    CHECK_STR(one("SELECT ip_text(x'20010DB8000000000000000000000001')"),
              "2001:db8::1");
    CHECK_STR(one("SELECT ip('10.0.0.1') = ip('::ffff:10.0.0.1')"), "1");
    CHECK_STR(one("SELECT ip('10.0.0.9') < ip('10.0.1.0')"), "1");
    CHECK_STR(one("SELECT ip_in(ip('10.1.2.3'), '10.0.0.0/8')"), "1");
    CHECK_STR(one("SELECT ip_in('10.1.2.3', '11.0.0.0/8')"), "0");
    CHECK_STR(one("SELECT ip_in(ip('10.1.2.3'), '10.1.2.3')"), "1");
    CHECK_STR(one("SELECT ip_in(ip('10.1.2.3'), '0.0.0.0/0')"), "1");
    CHECK_STR(one("SELECT ip_in(ip('2001:db8::5'), '2001:db8::/32')"), "1");
    CHECK_STR(one("SELECT ip_in(ip('2001:db9::5'), '2001:db8::/32')"), "0");
    CHECK_STR(one("SELECT ip_in(ip('10.1.2.3'), '2001:db8::/32')"), "0");
    CHECK_STR(one("SELECT ip_text(network(ip('10.1.2.3'), 24))"), "10.1.2.0");
    CHECK_STR(one("SELECT ip_text(network('10.1.2.3', 0))"), "0.0.0.0");
    CHECK_STR(one("SELECT ip_text(network(ip('2001:db8:aa:bb::1'), 48))"),
              "2001:db8:aa::");
    CHECK_STR(one("SELECT ip_text(cidr_first('10.0.0.0/8'))"), "10.0.0.0");
    CHECK_STR(one("SELECT ip_text(cidr_last('10.0.0.0/8'))"), "10.255.255.255");
    CHECK_STR(one("SELECT ip_text(cidr_last('10.1.2.3/32'))"), "10.1.2.3");
    CHECK_STR(one("SELECT ip_text(cidr_first('2001:db8::/32'))"), "2001:db8::");
    CHECK_STR(one("SELECT ip_text(cidr_last('2001:db8::/32'))"),
              "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff");
    CHECK_STR(one("SELECT ip_text(NULL)"), "NULL");
    CHECK_STR(one("SELECT ip_in(NULL, '10.0.0.0/8')"), "NULL");
    CHECK_STR(one("SELECT ip('nope')"),
              "error: ip(): 'nope' is not an IP address");
    CHECK_STR(one("SELECT ip_text(42)"), "error: ip_text(): not an IP "
              "address (give text such as '10.0.0.1' or a stored address)");
    CHECK_STR(one("SELECT ip_in(ip('10.0.0.1'), '10.0.0.0/33')"),
              "error: ip_in(): '10.0.0.0/33' is not a network such as "
              "'10.0.0.0/8' or '2001:db8::/32'");
    CHECK_STR(one("SELECT network(ip('10.0.0.1'), 33)"),
              "error: network(): bits must be 0 to 32 for an IPv4 address");
    /* A network that changes per row is parsed per row. */
    CHECK_STR(one("SELECT group_concat(ip_in(ip('10.1.2.3'), n), '') FROM "
                  "(SELECT '10.0.0.0/8' AS n UNION ALL SELECT '11.0.0.0/8' "
                  "UNION ALL SELECT '10.1.2.0/24')"), "101");
}

static void t_time_helpers(void)
{
    CHECK_STR(one("SELECT iso(0)"), "1970-01-01T00:00:00.000Z");
    CHECK_STR(one("SELECT iso(1763902800123)"), "2025-11-23T13:00:00.123Z");
    CHECK_STR(one("SELECT ms('2025-11-23T13:00:00.123Z')"), "1763902800123");
    CHECK_STR(one("SELECT ms('2025-11-23 13:00')"), "1763902800000");
    CHECK_STR(one("SELECT ms('2025-11-23T15:00:00+02:00')"), "1763902800000");
    CHECK_STR(one("SELECT ms('2025-11-23')"), "1763856000000");
    CHECK_STR(one("SELECT ms(iso(1763902812345)) = 1763902812345"), "1");
    CHECK_STR(one("SELECT ms(42)"), "42");
    CHECK_STR(one("SELECT duration('5m')"), "300000");
    CHECK_STR(one("SELECT duration('500ms')"), "500");
    CHECK_STR(one("SELECT now_ms() > 1700000000000"), "1");
    CHECK_STR(one("SELECT iso(NULL)"), "NULL");
    CHECK_STR(one("SELECT ms('yesterday')"), "error: ms(): 'yesterday' is not "
              "an ISO-8601 time such as '2026-11-23 13:00' or "
              "'2026-11-23T13:00:00Z'");
    CHECK_STR(one("SELECT duration('soon')"), "error: duration(): 'soon' is "
              "not a duration such as '500ms', '10s', '5m', '1h' or '2d'");
    CHECK_STR(one("SELECT iso('x')"),
              "error: iso(): needs a time in ms since the epoch");
}

static void t_results_api(void)
{
    store_result_t *r = NULL;
    diag_t err;
    diag_clear(&err);
    CHECK_INT(store_results(S, "talkers", BASE + 60000, BASE + 180000, 0, &r,
                            &err), 0);
    CHECK(r && r->nrows == 6 && !r->truncated);
    if (r && r->nrows == 6) {
        CHECK_INT(store_result_cell(r, 0, 0)->v.i, BASE + 60000);
        CHECK_INT(store_result_cell(r, 5, 0)->v.i, BASE + 120000);
        /* Within a window, rows come in the engine's order. */
        CHECK_INT(store_result_cell(r, 0, 9)->v.i, 0);
        CHECK_INT(store_result_cell(r, 1, 9)->v.i, 1);
        CHECK_INT(store_result_cell(r, 2, 9)->v.i, 2);
    }
    store_result_free(r);
    CHECK_INT(store_results(S, "talkers", 0, INT64_MAX, 4, &r, &err), 0);
    CHECK(r && r->nrows == 4 && r->truncated);
    store_result_free(r);
    diag_clear(&err);
    CHECK_INT(store_results(S, "nope", 0, INT64_MAX, 0, &r, &err),
              STORE_ENOTFOUND);
    CHECK_STR(err.msg, "no stored results for 'nope'");
    diag_clear(&err);
    CHECK_INT(store_results(S, "x\"; DROP TABLE talkers; --", 0, 1, 0, &r, &err),
              STORE_EINVALID);
}

int main(void)
{
    log_set_level(LOG_ERROR);
    setup();
    RUN(t_typed_results);
    RUN(t_forensics);
    RUN(t_refusals);
    RUN(t_time_limit);
    RUN(t_row_limit);
    RUN(t_printf_bounded);
    RUN(t_cursor);
    RUN(t_concurrency_limit);
    RUN(t_schema_changed);
    RUN(t_ip_helpers);
    RUN(t_time_helpers);
    RUN(t_results_api);
    store_close(S);
    TEST_EXIT();
}
