/*
 * test_app.c - registering queries as the daemon does (server/app.c over
 * the engine's registry, the store's catalog and the live subscribers),
 * without HTTP: the one name rule, one compilation per registration and
 * none per GET, the catalog and its resumption across a restart (the app
 * and the store closed and opened again on the same database).
 */
#include "engine/plan.h"
#include "server/app.h"
#include "tests/test.h"
#include "tests/unit/storage_util.h"

static app_t    app;
static config_t cfg;

static void app_open(void)
{
    char *argv[] = {"test_app", "--data-dir", (char *)tu_path("data"),
                    "--queries-dir", (char *)tu_path("none"), "--http", "off"};
    diag_t err;
    if (config_load(&cfg, 7, argv, &err) != 0 || app_init(&app, &cfg, &err) < 0) {
        fprintf(stderr, "setup: %s\n", err.msg);
        exit(2);
    }
    store_config_t sc = {.path = tu_path("flowsql.db")};
    app.store = store_open(&sc, &err);
    if (!app.store) {
        fprintf(stderr, "store: %s\n", err.msg);
        exit(2);
    }
    engine_add_output(app.engine, store_output(app.store));
}

static void app_close(void)
{
    store_close(app.store);
    app_free(&app);
    config_free(&cfg);
}

static int create(const char *name, const char *sql, diag_t *err)
{
    char *qname = NULL;
    int rc = app_query_create(&app, name, sql, NULL, SRC_API, NULL, &qname,
                              NULL, err);
    free(qname);
    return rc;
}

/* The catalog as "name|text" lines. */
static char *catalog(void)
{
    sbuf_t b = SBUF_INIT;
    store_query_list_t *l = store_query_list(app.store);
    for (int i = 0; i < l->n; i++)
        sbuf_printf(&b, "%s|%s\n", l->q[i].name, l->q[i].text);
    store_query_list_free(l);
    return sbuf_detach(&b);
}

#define TALKERS "SELECT srcip, count(*) AS flows FROM flows WINDOW 1h GROUP BY srcip"

/* "Talkers" while talkers runs is the same name: refused, and nothing of
 * talkers is touched, in the registry or in the catalog. */
static void test_one_name_rule(void)
{
    diag_t err;
    CHECK_INT(create("talkers", TALKERS, &err), AE_OK);
    CHECK_INT(create("Talkers", "SELECT dstip, count(*) AS flows FROM flows "
                     "WINDOW 1h GROUP BY dstip", &err), AE_EXISTS);
    CHECK_STR(err.msg, "a query named 'talkers' already exists");
    CHECK_INT(create(NULL, "CREATE QUERY \"Talkers\" AS SELECT dstip, "
                     "count(*) AS flows FROM flows WINDOW 1h GROUP BY dstip",
                     &err), AE_EXISTS);
    char *c = catalog();
    CHECK_STR(c, "talkers|CREATE QUERY talkers AS " TALKERS "\n");
    free(c);
    json_t *j = app_query_get(&app, "TALKERS");
    CHECK(j != NULL);
    CHECK_STR(json_string_value(json_object_get(j, "name")), "talkers");
    json_decref(j);
    /* A name given beside a SELECT is checked before it is spliced into
     * the canonical text. */
    CHECK_INT(create("x AS SELECT 1; --", TALKERS, &err), AE_BAD);
    CHECK(strstr(err.msg, "invalid query name") != NULL);
    CHECK_INT(create("Flowsql_x", TALKERS, &err), AE_BAD);
}

/* After a restart talkers is still there, with its text. */
static void test_restart_resumes(void)
{
    app_close();
    app_open();
    CHECK_INT(app_resume_catalog(&app), 0);
    json_t *l = app_query_list(&app);
    CHECK_INT(json_array_size(l), 1);
    CHECK_STR(json_string_value(json_object_get(json_array_get(l, 0), "name")),
              "talkers");
    CHECK_STR(json_string_value(json_object_get(json_array_get(l, 0), "sql")),
              "CREATE QUERY talkers AS " TALKERS);
    json_decref(l);
    char *c = catalog();
    CHECK_STR(c, "talkers|CREATE QUERY talkers AS " TALKERS "\n");
    free(c);
}

/* A registration compiles its text once (was three times); GET and the
 * list compile nothing (GET compiled it again every time). */
static void test_compiles(void)
{
    diag_t err;
    uint64_t n0 = plan_compiles();
    CHECK_INT(create("per_dst", "SELECT dstip, count(*) AS flows FROM flows "
                     "WINDOW 1m GROUP BY dstip", &err), AE_OK);
    uint64_t n1 = plan_compiles();
    CHECK_INT(n1 - n0, 1);
    CHECK_INT(create(NULL, "CREATE QUERY per_port AS SELECT dstport, count(*) "
                     "AS flows FROM flows WINDOW 1m GROUP BY dstport", &err),
              AE_OK);
    uint64_t n2 = plan_compiles();
    CHECK_INT(n2 - n1, 1);
    for (int i = 0; i < 10; i++) {
        json_t *j = app_query_get(&app, "per_dst");
        CHECK(j && json_object_get(j, "plan") && json_object_get(j, "columns"));
        json_decref(j);
    }
    json_decref(app_query_list(&app));
    CHECK_INT(plan_compiles() - n2, 0);
    fprintf(stderr, "compilations: %llu for a named SELECT, %llu for a "
            "CREATE QUERY, %llu for 10 GETs\n", (unsigned long long)(n1 - n0),
            (unsigned long long)(n2 - n1),
            (unsigned long long)(plan_compiles() - n2));
}

/* Errors in a named SELECT point into the user's text, not into the
 * CREATE QUERY text made around it. */
static void test_error_positions(void)
{
    diag_t err;
    CHECK_INT(create("x", "SELECT srcip,\n  count(*)\nFROM flows WINDOW 10s "
                     "GROUP BY dstip", &err), AE_BAD);
    CHECK_INT(err.line, 1);
    CHECK_INT(err.col, 8);
    CHECK_INT(create("x", "SELECT count(*) FROM flows WINDOW 10s "
                     "GROUP BY nosuch", &err), AE_BAD);
    CHECK_INT(err.line, 1);
    CHECK_INT(err.offset, 47);
}

int main(void)
{
    log_set_level(LOG_ERROR);
    app_open();
    RUN(test_one_name_rule);
    RUN(test_restart_resumes);
    RUN(test_compiles);
    RUN(test_error_positions);
    app_close();
    TEST_EXIT();
}
