/*
 * test_alert.c - the alert output without its receivers
 * (tests/e2e/alerts.sh has a real HTTP receiver and rsyslogd): the
 * option parsers, the webhook body, the RFC 5424 message and its
 * escaping, and de-duplication, the rate limit and giving up against a
 * port where nothing listens.
 */
#include "sinks/alert.h"
#include "tests/test.h"
#include "util/timeutil.h"

#include <jansson.h>
#include <stdlib.h>
#include <unistd.h>

/* 2026-11-23T01:44:30Z */
#define T0 1795398270000LL

/* A window of query q: srcip (key), note (text), flows; n rows, sources
 * 10.0.0.1 up. */
static rowset_t *window(const char *q, int n, const char *alert,
                        const char *every, const char *rate)
{
    rowset_t *rs = rowset_new(q, 3);
    rs->cols[0] = (rowset_col_t){"srcip", TYPE_IP, 1};
    rs->cols[1] = (rowset_col_t){"note", TYPE_STRING, 0};
    rs->cols[2] = (rowset_col_t){"flows", TYPE_INT, 0};
    rs->wstart = T0;
    rs->wend = T0 + 60000;
    for (int i = 0; i < n; i++) {
        value_t *v = rowset_add_row(rs);
        v[0].ip = ipaddr_from_v4(0x0a000001 + (uint32_t)i);
        v[1].s = rowset_strdup(rs, "say \"hi\" \\ [x]");
        v[2].i = 7;
    }
    const char *kv[] = {"alert", alert, "alert_every", every,
                        "alert_rate", rate};
    rs->opts = arena_alloc(rs->arena, sizeof(rowset_opt_t) * 3);
    for (int i = 0; i < 3; i++)
        if (kv[2 * i + 1]) {
            rs->opts[rs->nopts].key = rowset_strdup(rs, kv[2 * i]);
            rs->opts[rs->nopts++].value = rowset_strdup(rs, kv[2 * i + 1]);
        }
    return rs;
}

static void test_parse_targets(void)
{
    alert_target_t t[ALERT_MAX_TARGETS];
    char why[300];
    CHECK_INT(alert_parse_targets("webhook:https://soc.example/h?x=1, "
                                  "syslog:udp://127.0.0.1:514,"
                                  "syslog:tcp://[::1]:601",
                                  t, ALERT_MAX_TARGETS, why, sizeof(why)), 3);
    CHECK_INT(t[0].kind, ALERT_WEBHOOK);
    CHECK_STR(t[0].url, "https://soc.example/h?x=1");
    CHECK_INT(t[1].kind, ALERT_SYSLOG_UDP);
    CHECK_STR(t[1].host, "127.0.0.1");
    CHECK_STR(t[1].port, "514");
    CHECK_INT(t[2].kind, ALERT_SYSLOG_TCP);
    CHECK_STR(t[2].host, "::1");
    CHECK_STR(t[2].port, "601");
    const char *bad[] = {"", " , ", "mailto:x", "webhook:ftp://x",
                         "webhook:http://", "webhook:http://a b/",
                         "syslog:udp://h", "syslog:udp://h:0",
                         "syslog:udp://h:65536", "syslog:udp://h:5x",
                         "syslog:h:514", "syslog:tcp://:514",
                         "syslog:udp://a/b:514",
                         "syslog:udp://h:1,syslog:udp://h:2,syslog:udp://h:3,"
                         "syslog:udp://h:4,syslog:udp://h:5"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why[0] = 0;
        CHECK_INT(alert_parse_targets(bad[i], t, ALERT_MAX_TARGETS, why,
                                      sizeof(why)), -1);
        CHECK(why[0] != 0);
    }
    alert_parse_targets("mailto:x", t, ALERT_MAX_TARGETS, why, sizeof(why));
    CHECK_STR(why, "alert target 'mailto:x': expected webhook:http(s)://..., "
                   "syslog:udp://host:port or syslog:tcp://host:port");
}

static void test_parse_rate_every(void)
{
    int n;
    int64_t ms;
    CHECK_INT(alert_parse_rate("60/m", &n, &ms), 0);
    CHECK_INT(n, 60);
    CHECK_INT(ms, 60000);
    CHECK_INT(alert_parse_rate("1/s", &n, &ms), 0);
    CHECK_INT(ms, 1000);
    CHECK_INT(alert_parse_rate("1000000/h", &n, &ms), 0);
    CHECK_INT(ms, 3600000);
    const char *bad[] = {"", "60", "0/m", "-1/m", "1000001/m", "60/d",
                         "60/min", "/m", " 60/m", "6x/m"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK_INT(alert_parse_rate(bad[i], &n, &ms), -1);
    CHECK_INT(alert_parse_every("10m", &ms), 0);
    CHECK_INT(ms, 600000);
    CHECK_INT(alert_parse_every("0s", &ms), 0);
    CHECK_INT(ms, 0);
    CHECK_INT(alert_parse_every("30d", &ms), 0);
    CHECK_INT(alert_parse_every("31d", &ms), -1);
    CHECK_INT(alert_parse_every("often", &ms), -1);
    CHECK_INT(alert_parse_every("", &ms), -1);
}

static void test_webhook_body(void)
{
    rowset_t *rs = window("scan", 2, "webhook:http://x/", NULL, NULL);
    char *s = alert_webhook_body(rs, 1, "sensor1", "east", T0 + 61000);
    json_error_t je;
    json_t *o = json_loads(s, 0, &je);
    CHECK(o != NULL);
    CHECK_STR(json_string_value(json_object_get(o, "query")), "scan");
    CHECK_STR(json_string_value(json_object_get(o, "window_start")),
              "2026-11-23T01:44:30.000Z");
    CHECK_STR(json_string_value(json_object_get(o, "window_end")),
              "2026-11-23T01:45:30.000Z");
    CHECK_INT(json_integer_value(json_object_get(o, "window_start_ms")), T0);
    CHECK_INT(json_integer_value(json_object_get(o, "window_end_ms")),
              T0 + 60000);
    CHECK(json_is_false(json_object_get(o, "partial")));
    CHECK_STR(json_string_value(json_object_get(o, "key")), "10.0.0.2");
    json_t *row = json_object_get(o, "row");
    CHECK_STR(json_string_value(json_object_get(row, "srcip")), "10.0.0.2");
    CHECK_STR(json_string_value(json_object_get(row, "note")),
              "say \"hi\" \\ [x]");
    CHECK_INT(json_integer_value(json_object_get(row, "flows")), 7);
    CHECK_STR(json_string_value(json_object_get(o, "host")), "sensor1");
    CHECK_STR(json_string_value(json_object_get(o, "instance")), "east");
    CHECK_STR(json_string_value(json_object_get(o, "alerted_at")),
              "2026-11-23T01:45:31.000Z");
    json_decref(o);
    free(s);
    rowset_unref(rs);
}

static void test_syslog_message(void)
{
    rowset_t *rs = window("scan", 1, "syslog:udp://h:1", NULL, NULL);
    sbuf_t b = SBUF_INIT;
    alert_syslog_message(rs, 0, "sensor1", 4711, T0 + 61000, &b);
    CHECK_STR(sbuf_str(&b),
              "<132>1 2026-11-23T01:45:31.000Z sensor1 flowsqld 4711 scan "
              "[flowsql@32473 query=\"scan\" "
              "window_start=\"2026-11-23T01:44:30.000Z\" "
              "window_end=\"2026-11-23T01:45:30.000Z\" srcip=\"10.0.0.1\" "
              "note=\"say \\\"hi\\\" \\\\ [x\\]\" flows=\"7\"] "
              "flowsql alert: scan 10.0.0.1");
    sbuf_free(&b);
    rowset_unref(rs);
    /* MSGID and names at most 32 characters */
    rs = window("a_query_name_longer_than_thirty_two_chars", 1, "x", NULL,
                NULL);
    alert_syslog_message(rs, 0, "h", 1, T0, &b);
    CHECK(strstr(sbuf_str(&b),
                 " flowsqld 1 a_query_name_longer_than_thirty_ [") != NULL);
    sbuf_free(&b);
    rowset_unref(rs);
}

/* Dedup, rate limit, give up: a webhook on a port where nothing listens
 * (connection refused at once), retries 20 ms apart. */
static void test_sink_counts(void)
{
    alert_config_t cfg = {.instance = "", .backoff_ms = 20};
    diag_t err;
    alert_sink_t *a = alert_sink_new(&cfg, &err);
    CHECK(a != NULL);
    if (!a)
        return;
    output_t *o = alert_sink_output(a);
    /* 10 rows, at most 4 a minute: 4 queued, 6 limited. */
    rowset_t *rs = window("q", 10, "webhook:http://127.0.0.1:1/x", "10m",
                          "4/m");
    int64_t t = time_mono_ms();
    o->on_window(o, rs);
    CHECK(time_mono_ms() - t < 100);
    rowset_unref(rs);
    /* The same keys again: the 4 alerted are quiet, the 6 limited are
     * still limited. */
    rs = window("q", 10, "webhook:http://127.0.0.1:1/x", "10m", "4/m");
    o->on_window(o, rs);
    rowset_unref(rs);
    /* Another query has its own rate; no dedup with 0s; two targets. */
    rs = window("r", 1, "webhook:http://127.0.0.1:1/x, syslog:tcp://127.0.0.1:1",
                "0s", NULL);
    o->on_window(o, rs);
    o->on_window(o, rs);
    rowset_unref(rs);
    /* no alert option, a replayed window: nothing */
    rs = window("s", 3, NULL, NULL, NULL);
    o->on_window(o, rs);
    rowset_unref(rs);
    rs = window("s", 3, "webhook:http://127.0.0.1:1/x", NULL, NULL);
    rs->replayed = 1;
    o->on_window(o, rs);
    rowset_unref(rs);
    alert_stats_t st;
    alert_sink_stats(a, &st);
    CHECK_INT(st.queued, 4 + 2 * 2);
    CHECK_INT(st.deduplicated, 4);
    CHECK_INT(st.rate_limited, 12);
    /* 5 attempts 20, 40, 80, 160 ms apart: all failed within a second */
    for (int i = 0; i < 100; i++) {
        alert_sink_stats(a, &st);
        if (st.failed == 8)
            break;
        usleep(20000);
    }
    CHECK_INT(st.failed, 8);
    CHECK_INT(st.retries, 8 * 4);
    CHECK_INT(st.delivered, 0);
    CHECK_INT(st.dropped, 0);
    sbuf_t m = SBUF_INIT;
    alert_sink_metrics(a, &m);
    CHECK(strstr(sbuf_str(&m), "\nflowsql_alerts_rate_limited_total 12\n"));
    CHECK(strstr(sbuf_str(&m), "# TYPE flowsql_alerts_failed_total counter"));
    sbuf_free(&m);
    alert_sink_free(a);
}

/* A stop with alerts waiting for their retries: quick, and they are
 * counted as failed. */
static void test_sink_close(void)
{
    alert_config_t cfg = {.instance = "", .backoff_ms = 5000, .queue = 3};
    diag_t err;
    alert_sink_t *a = alert_sink_new(&cfg, &err);
    output_t *o = alert_sink_output(a);
    rowset_t *rs = window("q", 5, "webhook:http://127.0.0.1:1/x", "0s",
                          NULL);
    o->on_window(o, rs);
    rowset_unref(rs);
    alert_stats_t st;
    alert_sink_stats(a, &st);
    CHECK(st.queued >= 3);
    CHECK_INT(st.queued + st.dropped, 5);
    int64_t t = time_mono_ms();
    alert_sink_close(a, 300);
    CHECK(time_mono_ms() - t < 2000);
    alert_sink_stats(a, &st);
    CHECK_INT(st.failed, st.queued);
    alert_sink_free(a);
}

int main(void)
{
    RUN(test_parse_targets);
    RUN(test_parse_rate_every);
    RUN(test_webhook_body);
    RUN(test_syslog_message);
    RUN(test_sink_counts);
    RUN(test_sink_close);
    TEST_EXIT();
}
