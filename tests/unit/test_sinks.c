/*
 * test_sinks.c - the Kafka and Elasticsearch outputs without their real
 * servers (tests/e2e/kafka.sh and elastic.sh have those): message and
 * document shapes, index names and templates, and the Elasticsearch
 * sender against a misbehaving HTTP server of our own on loopback (429,
 * 5xx, per-item errors), and both sinks' bounded queues with nothing
 * listening.
 */
#include "sinks/ecs.h"
#include "sinks/elastic.h"
#include "sinks/format.h"
#include "sinks/kafka.h"
#include "tests/test.h"
#include "util/counter.h"
#include "util/timeutil.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

/* A window of query q: srcip (key), flows (int), first (time). */
static rowset_t *window(const char *q, int64_t wstart, int nrows)
{
    rowset_t *rs = rowset_new(q, 3);
    rs->cols[0] = (rowset_col_t){"srcip", TYPE_IP, 1};
    rs->cols[1] = (rowset_col_t){"flows", TYPE_INT, 0};
    rs->cols[2] = (rowset_col_t){"first", TYPE_TIME, 0};
    rs->wstart = wstart;
    rs->wend = wstart + 10000;
    for (int i = 0; i < nrows; i++) {
        value_t *v = rowset_add_row(rs);
        v[0].ip = ipaddr_from_v4(0x0a000001 + (uint32_t)i);
        v[1].i = 100 + i;
        v[2].i = wstart + 5;
    }
    return rs;
}

static void set_opt(rowset_t *rs, const char *k, const char *v)
{
    rs->opts = arena_alloc(rs->arena, sizeof(rowset_opt_t));
    rs->opts[0].key = rowset_strdup(rs, k);
    rs->opts[0].value = rowset_strdup(rs, v);
    rs->nopts = 1;
}

/* 2026-11-23T01:44:30Z */
#define T0 1795398270000LL

/* Hand n windows of query q (nrows each, pause_us apart) to an output;
 * the longest on_window call, in ms: it must never wait on the server. */
static int64_t feed(output_t *o, const char *q, int n, int nrows,
                    useconds_t pause_us)
{
    int64_t worst = 0;
    for (int i = 0; i < n; i++) {
        rowset_t *rs = window(q, T0 + i * 10000, nrows);
        int64_t t = time_mono_ms();
        o->on_window(o, rs);
        if (time_mono_ms() - t > worst)
            worst = time_mono_ms() - t;
        rowset_unref(rs);
        usleep(pause_us);
    }
    return worst;
}

static void test_format_name(void)
{
    sbuf_t b = SBUF_INIT;
    CHECK_INT(format_name(&b, "flowsql.%q", "talkers", T0), 0);
    CHECK_STR(sbuf_str(&b), "flowsql.talkers");
    b.len = 0;
    CHECK_INT(format_name(&b, "x-%q-%Y.%m.%d-100%%", "q", T0), 1);
    CHECK_STR(sbuf_str(&b), "x-q-2026.11.23-100%");
    sbuf_free(&b);
}

static void test_kafka_message(void)
{
    rowset_t *rs = window("talkers", T0, 2);
    sbuf_t topic = SBUF_INIT, key = SBUF_INIT;
    char *val = kafka_sink_message(rs, 1, "flowsql.%q", &topic, &key);
    CHECK_STR(sbuf_str(&topic), "flowsql.talkers");
    CHECK_STR(sbuf_str(&key), "10.0.0.2");
    json_t *j = json_loads(val, 0, NULL);
    CHECK_STR(json_string_value(json_object_get(j, "query")), "talkers");
    CHECK_STR(json_string_value(json_object_get(j, "window_start")),
              "2026-11-23T01:44:30.000Z");
    CHECK_STR(json_string_value(json_object_get(j, "window_end")),
              "2026-11-23T01:44:40.000Z");
    CHECK_INT(json_integer_value(json_object_get(j, "window_start_ms")), T0);
    CHECK_INT(json_integer_value(json_object_get(j, "window_end_ms")),
              T0 + 10000);
    CHECK_STR(json_string_value(json_object_get(j, "srcip")), "10.0.0.2");
    CHECK_INT(json_integer_value(json_object_get(j, "flows")), 101);
    CHECK_STR(json_string_value(json_object_get(j, "first")),
              "2026-11-23T01:44:30.005Z");
    CHECK(json_is_false(json_object_get(j, "partial")));
    CHECK_INT(json_object_size(j), 9);
    json_decref(j);
    free(val);

    /* A window cut by a restart says so in every message (and the SSE
     * stream's window says so too: format_window). */
    rs->partial = 1;
    topic.len = key.len = 0;
    val = kafka_sink_message(rs, 0, "flowsql.%q", &topic, &key);
    j = json_loads(val, 0, NULL);
    CHECK(json_is_true(json_object_get(j, "partial")));
    json_decref(j);
    free(val);
    j = format_window(rs);
    CHECK(json_is_true(json_object_get(j, "partial")));
    json_decref(j);
    rs->partial = 0;

    /* the query's own topic wins over the pattern */
    set_opt(rs, "kafka_topic", "ops.%q.v1");
    topic.len = key.len = 0;
    free(kafka_sink_message(rs, 0, "flowsql.%q", &topic, &key));
    CHECK_STR(sbuf_str(&topic), "ops.talkers.v1");
    rowset_unref(rs);

    /* no group columns: no key */
    rowset_t *one = rowset_new("total", 1);
    one->cols[0] = (rowset_col_t){"n", TYPE_INT, 0};
    rowset_add_row(one)[0].i = 7;
    topic.len = key.len = 0;
    free(kafka_sink_message(one, 0, NULL, &topic, &key));
    CHECK_INT(key.len, 0);
    rowset_unref(one);
    sbuf_free(&topic);
    sbuf_free(&key);
}

static void test_kafka_props(void)
{
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    diag_t err;
    diag_clear(&err);
    CHECK_INT(kafka_props_apply(c, "security.protocol=ssl, "
                                   "ssl.cipher.suites=A,B,linger.ms=5", &err), 0);
    char v[64];
    size_t n = sizeof(v);
    rd_kafka_conf_get(c, "ssl.cipher.suites", v, &n);
    CHECK_STR(v, "A,B");
    n = sizeof(v);
    rd_kafka_conf_get(c, "linger.ms", v, &n);
    CHECK_STR(v, "5");
    CHECK_INT(kafka_props_apply(c, "no.such.property=1", &err), -1);
    CHECK(strstr(err.msg, "no.such.property") != NULL);
    diag_clear(&err);
    CHECK_INT(kafka_props_apply(c, "novalue", &err), -1);
    rd_kafka_conf_destroy(c);
}

static void test_es_names(void)
{
    sbuf_t b = SBUF_INIT;
    es_index_name("flowsql-%q", "TopTalkers", T0, 0, &b);
    CHECK_STR(sbuf_str(&b), "flowsql-toptalkers-2026.11.23");
    b.len = 0;
    es_index_name("flowsql-%q", "TopTalkers", T0, 1, &b);
    CHECK_STR(sbuf_str(&b), "flowsql-toptalkers-*");
    b.len = 0;
    es_index_name("nf-%Y%m-%q", "q", T0, 0, &b);
    CHECK_STR(sbuf_str(&b), "nf-202611-q");
    b.len = 0;
    es_index_name("nf-%Y%m-%q", "q", T0, 1, &b);
    CHECK_STR(sbuf_str(&b), "nf-*-q");
    sbuf_free(&b);

    rowset_t *a = window("q", T0, 3), *c = window("q", T0 + 10000, 3);
    char id1[33], id2[33], id3[33], id4[33];
    char id5[33];
    es_doc_id("h/1", a, 0, id1);
    es_doc_id("h/1", a, 1, id2);
    es_doc_id("h/1", c, 0, id3);
    es_doc_id("h/1", a, 0, id4);
    es_doc_id("h/2", a, 0, id5);
    CHECK_INT(strlen(id1), 32);
    CHECK(strcmp(id1, id2) != 0);   /* another key */
    CHECK(strcmp(id1, id3) != 0);   /* another window */
    CHECK_STR(id1, id4);            /* stable: a resend overwrites */
    CHECK(strcmp(id1, id5) != 0);   /* another instance: its own row */
    rowset_unref(a);
    rowset_unref(c);
}

static void test_es_template(void)
{
    rowset_t *rs = rowset_new("q", 6);
    const rowset_col_t cols[6] = {
        {"srcip", TYPE_IP, 1}, {"bytes", TYPE_INT, 0},
        {"first", TYPE_TIME, 0}, {"avg", TYPE_FLOAT, 0},
        {"name", TYPE_STRING, 1}, {"dur", TYPE_DURATION, 0}};
    memcpy(rs->cols, cols, sizeof(cols));
    json_t *t = es_template(rs, "flowsql-q-*", 0, FORMAT_FLAT);
    json_t *p = json_object_get(json_object_get(json_object_get(t,
                    "template"), "mappings"), "properties");
#define TYPE_OF(f) json_string_value(json_object_get(json_object_get(p, f), "type"))
    CHECK_STR(json_string_value(json_array_get(
                  json_object_get(t, "index_patterns"), 0)), "flowsql-q-*");
    CHECK(json_integer_value(json_object_get(t, "priority")) > 0);
    CHECK_STR(TYPE_OF("srcip"), "ip");
    CHECK_STR(TYPE_OF("bytes"), "long");
    CHECK_STR(TYPE_OF("first"), "date");
    CHECK_STR(TYPE_OF("avg"), "double");
    CHECK_STR(TYPE_OF("name"), "keyword");
    CHECK_STR(TYPE_OF("dur"), "long");
    CHECK_STR(TYPE_OF("window_start"), "date");
    CHECK_STR(TYPE_OF("window_end"), "date");
    CHECK_STR(TYPE_OF("window_start_ms"), "long");
    CHECK_STR(TYPE_OF("query"), "keyword");
    CHECK_STR(TYPE_OF("partial"), "boolean");
    json_decref(t);
    t = es_template(rs, "flowsql-q-*", 1, FORMAT_FLAT);   /* legacy _template */
    p = json_object_get(json_object_get(t, "mappings"), "properties");
    CHECK_STR(TYPE_OF("srcip"), "ip");
    CHECK(json_object_get(t, "order") != NULL);
    json_decref(t);
    rowset_unref(rs);
}

/* An ECS document of a window without its query's plan: key columns
 * map by name (srcip, proto), the rest goes under flowsql, and a column
 * named "query" does not replace flowsql.query. */
static void test_ecs_doc(void)
{
    rowset_t *rs = rowset_new("q", 4);
    const rowset_col_t cols[4] = {
        {"srcip", TYPE_IP, 1}, {"proto", TYPE_INT, 1},
        {"bytes", TYPE_INT, 0}, {"query", TYPE_STRING, 0}};
    memcpy(rs->cols, cols, sizeof(cols));
    rs->wstart = 1767323045000;
    rs->wend = 1767323046000;
    value_t *row = rowset_add_row(rs);
    CHECK(ipaddr_parse("10.1.2.3", &row[0].ip) == 0);
    row[1].i = 58;
    row[2].i = 1234;
    row[3].s = rowset_strdup(rs, "x");
    json_t *d = ecs_row_doc(rs, 0);
    char *txt = json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS);
    CHECK_STR(txt, "{\"@timestamp\":\"2026-01-02T03:04:05.000Z\","
              "\"ecs\":{\"version\":\"8.11.0\"},\"event\":{\"category\":"
              "[\"network\"],\"dataset\":\"flowsql.q\",\"kind\":\"metric\","
              "\"module\":\"flowsql\",\"type\":[\"info\"]},\"flowsql\":{"
              "\"bytes\":1234,\"query\":\"q\",\"query_\":\"x\",\"window\":{"
              "\"end\":\"2026-01-02T03:04:06.000Z\",\"partial\":false,"
              "\"start\":\"2026-01-02T03:04:05.000Z\"}},\"network\":{"
              "\"iana_number\":\"58\",\"transport\":\"ipv6-icmp\"},"
              "\"source\":{\"ip\":\"10.1.2.3\"}}");
    free(txt);
    json_decref(d);
    json_t *t = es_template(rs, "flowsql-q-*", 0, FORMAT_ECS);
    json_t *p = json_object_get(json_object_get(json_object_get(t,
                    "template"), "mappings"), "properties");
    CHECK_STR(TYPE_OF("@timestamp"), "date");
    p = json_object_get(json_object_get(p, "source"), "properties");
    CHECK_STR(TYPE_OF("ip"), "ip");
    json_decref(t);
    rowset_unref(rs);
}

/* ---- a misbehaving HTTP server on loopback ---------------------------- */

typedef struct flaky {
    int       fd, port;
    pthread_t thr;
    flag_t    stop;
    /* answers for _bulk, in order; after the list: all good */
    const char *script[8];
    int       nscript, nbulk;
    int       template_500;        /* first template PUT answers 500 */
    int       delay_ms;            /* before every answer */
    char      paths[16][160];
    int       npaths;
    int       bulk_docs[16];       /* documents per _bulk received */
    char      last_ids[4][33];     /* ids of the last bulk (<= 4 docs) */
    char      auth[128];           /* Authorization header last seen */
    char      ctype[64];           /* Content-Type of the last _bulk */
    pthread_mutex_t lock;
} flaky_t;

static void answer(int c, int code, const char *body)
{
    char head[256];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                     code, strlen(body));
    if (write(c, head, (size_t)n) < 0 || write(c, body, strlen(body)) < 0)
        return;
}

/* A bulk answer: item i gets statuses[i] (or 201 past the list). */
static char *bulk_answer(int ndocs, const int *statuses, int nst)
{
    sbuf_t b = SBUF_INIT;
    int errors = 0;
    for (int i = 0; i < nst && i < ndocs; i++)
        errors |= statuses[i] >= 300;
    sbuf_printf(&b, "{\"took\":1,\"errors\":%s,\"items\":[",
                errors ? "true" : "false");
    for (int i = 0; i < ndocs; i++) {
        int st = i < nst ? statuses[i] : 201;
        sbuf_printf(&b, "%s{\"index\":{\"_index\":\"x\",\"status\":%d", i ? "," : "", st);
        if (st >= 300)
            sbuf_printf(&b, ",\"error\":{\"type\":\"%s\",\"reason\":\"r\"}",
                        st == 429 ? "es_rejected_execution_exception"
                                  : "mapper_parsing_exception");
        sbuf_add(&b, "}}");
    }
    sbuf_add(&b, "]}");
    return sbuf_detach(&b);
}

static void *flaky_main(void *arg)
{
    flaky_t *f = arg;
    while (!flag_get(&f->stop)) {
        int c = accept(f->fd, NULL, NULL);
        if (c < 0)
            continue;
        sbuf_t req = SBUF_INIT;
        char buf[65536];
        size_t need = 0, hlen = 0;
        for (;;) {
            ssize_t n = read(c, buf, sizeof(buf));
            if (n <= 0)
                break;
            sbuf_addn(&req, buf, (size_t)n);
            char *e = strstr(sbuf_str(&req), "\r\n\r\n");
            if (e && !hlen) {
                hlen = (size_t)(e - req.s) + 4;
                char *cl = strcasestr(req.s, "Content-Length:");
                need = hlen + (cl && cl < e ? strtoul(cl + 15, NULL, 10) : 0);
            }
            if (hlen && req.len >= need)
                break;
        }
        if (!hlen) {
            close(c);
            sbuf_free(&req);
            continue;
        }
        if (f->delay_ms)
            usleep((useconds_t)f->delay_ms * 1000);
        char method[16] = "", path[128] = "";
        sscanf(req.s, "%15s %127s", method, path);
        char *h = strcasestr(req.s, "\r\nAuthorization: ");
        if (h && h < req.s + hlen)
            sscanf(h + 17, "%127[^\r]", f->auth);
        h = strcasestr(req.s, "\r\nContent-Type: ");
        if (h && h < req.s + hlen && strcmp(path, "/_bulk") == 0)
            sscanf(h + 16, "%63[^\r]", f->ctype);
        pthread_mutex_lock(&f->lock);
        if (f->npaths < 16)
            snprintf(f->paths[f->npaths++], 160, "%s %s", method, path);
        pthread_mutex_unlock(&f->lock);
        const char *body = req.s + hlen;
        if (strncmp(path, "/_index_template/", 17) == 0) {
            if (f->template_500) {
                f->template_500 = 0;
                answer(c, 500, "{\"error\":\"busy\"}");
            } else {
                answer(c, 200, "{\"acknowledged\":true}");
            }
        } else if (strcmp(path, "/_bulk") == 0) {
            int docs = 0, k = 0;
            for (const char *p = body; (p = strstr(p, "\"_id\":\"")); p += 7) {
                if (k < 4)
                    snprintf(f->last_ids[k++], 33, "%.32s", p + 7);
                docs++;
            }
            pthread_mutex_lock(&f->lock);
            int turn = f->nbulk++;
            if (turn < 16)
                f->bulk_docs[turn] = docs;
            pthread_mutex_unlock(&f->lock);
            const char *s = turn < f->nscript ? f->script[turn] : "ok";
            if (strcmp(s, "429") == 0) {
                answer(c, 429, "{\"error\":\"too many\"}");
            } else if (strcmp(s, "503") == 0) {
                answer(c, 503, "{\"error\":\"unavailable\"}");
            } else if (strcmp(s, "items") == 0) {
                int st[3] = {201, 429, 400};
                char *a = bulk_answer(docs, st, 3);
                answer(c, 200, a);
                free(a);
            } else {
                char *a = bulk_answer(docs, NULL, 0);
                answer(c, 200, a);
                free(a);
            }
        } else {
            answer(c, 404, "{}");
        }
        close(c);
        sbuf_free(&req);
    }
    return NULL;
}

static void flaky_start(flaky_t *f)
{
    pthread_mutex_init(&f->lock, NULL);
    f->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int one = 1;
    setsockopt(f->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct timeval tv = {0, 100000};
    setsockopt(f->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    bind(f->fd, (struct sockaddr *)&a, sizeof(a));
    listen(f->fd, 16);
    getsockname(f->fd, (struct sockaddr *)&a, &len);
    f->port = ntohs(a.sin_port);
    pthread_create(&f->thr, NULL, flaky_main, f);
}

static void flaky_stop(flaky_t *f)
{
    flag_set(&f->stop, 1);
    pthread_join(f->thr, NULL);
    close(f->fd);
    pthread_mutex_destroy(&f->lock);
}

static void test_es_retries(void)
{
    flaky_t f = {.script = {"429", "503", "items"}, .nscript = 3,
                 .template_500 = 1};
    flaky_start(&f);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", f.port);
    es_sink_config_t cfg = {.url = url, .flush_ms = 50, .backoff_ms = 20};
    diag_t err;
    es_sink_t *s = es_sink_new(&cfg, &err);
    CHECK(s != NULL);
    if (!s)
        return;
    rowset_t *rs = window("q1", T0, 5);
    output_t *o = es_sink_output(s);
    o->on_window(o, rs);
    rowset_unref(rs);
    int64_t until = time_mono_ms() + 10000;
    es_sink_stats_t st;
    do {
        usleep(20000);
        es_sink_stats(s, &st);
    } while (st.docs_indexed + st.docs_failed < 5 && time_mono_ms() < until);
    CHECK_INT(es_sink_close(s, 2000), 0);
    es_sink_stats(s, &st);
    CHECK_INT(st.templates, 1);
    CHECK_INT(st.docs_queued, 5);
    CHECK_INT(st.docs_indexed, 4);     /* item 1 after its retry */
    CHECK_INT(st.docs_failed, 1);      /* item 2: mapping error, for good */
    CHECK_INT(st.item_errors, 2);
    CHECK_INT(st.http_errors, 3);      /* template 500, bulk 429 and 503 */
    CHECK_INT(st.retries, 4);          /* those three, and the 429 item */
    CHECK_INT(st.bulk_requests, 4);
    CHECK_INT(st.docs_dropped, 0);
    sbuf_t m = SBUF_INIT;
    es_sink_metrics(s, &m);
    CHECK(strstr(sbuf_str(&m), "flowsql_es_retries_total 4\n") != NULL);
    CHECK(strstr(sbuf_str(&m), "flowsql_es_docs_failed_total 1\n") != NULL);
    sbuf_free(&m);
    es_sink_free(s);
    flaky_stop(&f);
    /* what the server saw */
    CHECK_STR(f.paths[0], "PUT /_index_template/flowsql-q1");
    CHECK_STR(f.paths[1], "PUT /_index_template/flowsql-q1");
    CHECK_STR(f.paths[2], "POST /_bulk");
    CHECK_INT(f.nbulk, 4);
    CHECK_INT(f.bulk_docs[0], 5);
    CHECK_INT(f.bulk_docs[2], 5);
    CHECK_INT(f.bulk_docs[3], 1);      /* only the refused item again */
    rowset_t *again = window("q1", T0, 5);
    char id[33], host[256] = "", inst[300];
    gethostname(host, sizeof(host) - 1);
    snprintf(inst, sizeof(inst), "%s/%d", host, (int)getpid());
    es_doc_id(inst, again, 1, id);
    CHECK_STR(f.last_ids[0], id);
    rowset_unref(again);
}

/* A server that keeps answering 503 slowly: windows pile up in the
 * bounded queue, on_window never waits, the overflow and what is left
 * at the shutdown deadline are counted. */
static void test_es_queue_bound(void)
{
    flaky_t f = {.script = {"503", "503", "503", "503", "503", "503", "503",
                            "503"},
                 .nscript = 8, .delay_ms = 50};
    flaky_start(&f);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", f.port);
    es_sink_config_t cfg = {.url = url, .flush_ms = 10, .backoff_ms = 50,
                            .queue_windows = 4};
    diag_t err;
    es_sink_t *s = es_sink_new(&cfg, &err);
    output_t *o = es_sink_output(s);
    CHECK(feed(o, "q2", 20, 3, 5000) < 20);
    es_sink_stats_t st;
    es_sink_stats(s, &st);
    CHECK(st.windows_dropped > 0);
    CHECK_INT(st.docs_dropped, st.windows_dropped * 3);
    uint64_t lost = es_sink_close(s, 300);
    es_sink_stats(s, &st);
    CHECK(lost > 0);
    CHECK_INT(st.docs_indexed + st.docs_dropped + st.docs_failed, 60);
    CHECK(st.http_errors > 0);
    es_sink_free(s);
    flaky_stop(&f);
}

/* Credentials go out as the options say; _bulk is NDJSON. */
static void test_es_auth(void)
{
    for (int i = 0; i < 2; i++) {
        flaky_t f = {0};
        flaky_start(&f);
        char url[64];
        snprintf(url, sizeof(url), "http://127.0.0.1:%d", f.port);
        es_sink_config_t cfg = {.url = url, .flush_ms = 10};
        if (i == 0)
            cfg.api_key = "a2V5OnNlY3JldA==";
        else
            cfg.user = "u", cfg.password = "p";
        diag_t err;
        es_sink_t *s = es_sink_new(&cfg, &err);
        output_t *o = es_sink_output(s);
        rowset_t *rs = window("q4", T0, 2);
        o->on_window(o, rs);
        rowset_unref(rs);
        es_sink_close(s, 3000);
        es_sink_stats_t st;
        es_sink_stats(s, &st);
        CHECK_INT(st.docs_indexed, 2);
        es_sink_free(s);
        flaky_stop(&f);
        CHECK_STR(f.auth, i == 0 ? "ApiKey a2V5OnNlY3JldA==" : "Basic dTpw");
        CHECK_STR(f.ctype, "application/x-ndjson");
    }
}

/* Nothing listening at all: connection failures are retried with backoff
 * and counted; at the shutdown deadline the documents are given up and
 * counted as dropped, and close() returns in time. */
static void test_es_no_server(void)
{
    flaky_t f = {0};
    flaky_start(&f);          /* take a free port, then close it */
    int port = f.port;
    flaky_stop(&f);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
    es_sink_config_t cfg = {.url = url, .flush_ms = 10, .backoff_ms = 20};
    diag_t err;
    diag_clear(&err);
    es_sink_t *s = es_sink_new(&cfg, &err);
    output_t *o = es_sink_output(s);
    rowset_t *rs = window("q3", T0, 7);
    o->on_window(o, rs);
    rowset_unref(rs);
    usleep(300000);
    es_sink_stats_t st;
    es_sink_stats(s, &st);
    CHECK(st.http_errors >= 2);
    CHECK(st.retries >= 2);
    int64_t t = time_mono_ms();
    CHECK_INT(es_sink_close(s, 200), 7);
    CHECK(time_mono_ms() - t < 1500);
    es_sink_stats(s, &st);
    CHECK_INT(st.docs_dropped, 7);
    CHECK_INT(st.docs_indexed, 0);
    es_sink_free(s);

    CHECK(es_sink_new(&(es_sink_config_t){.url = "localhost:9200"}, &err) == NULL);
    CHECK(strstr(err.msg, "http://") != NULL);
}

/* Kafka with no broker at all: windows are taken without waiting, the
 * producer's queue fills, the window queue fills, drops are counted;
 * close() gives up at its deadline and says how many rows were left. */
static void test_kafka_no_broker(void)
{
    kafka_sink_config_t cfg = {
        .brokers = "127.0.0.1:1",
        .props = "queue.buffering.max.messages=10,log_level=0",
        .queue_windows = 2};
    diag_t err;
    kafka_sink_t *k = kafka_sink_new(&cfg, &err);
    CHECK(k != NULL);
    if (!k)
        return;
    output_t *o = kafka_sink_output(k);
    CHECK(feed(o, "q", 10, 4, 20000) < 20);
    kafka_sink_stats_t st;
    kafka_sink_stats(k, &st);
    CHECK_INT(st.windows, 10);
    CHECK(st.windows_dropped > 0);
    CHECK_INT(st.queued, 10);          /* what librdkafka's queue holds */
    CHECK_INT(st.outq, 10);
    CHECK_INT(st.delivered, 0);
    int64_t t = time_mono_ms();
    uint64_t left = kafka_sink_close(k, 300);
    CHECK(time_mono_ms() - t < 2000);
    CHECK_INT(left, 10);
    kafka_sink_stats(k, &st);
    CHECK_INT(st.failed, 10);          /* purged at the deadline */
    CHECK_INT(st.queued + st.dropped, 40);
    kafka_sink_free(k);
}

int main(void)
{
    RUN(test_format_name);
    RUN(test_kafka_message);
    RUN(test_kafka_props);
    RUN(test_es_names);
    RUN(test_es_template);
    RUN(test_ecs_doc);
    RUN(test_es_retries);
    RUN(test_es_queue_bound);
    RUN(test_es_no_server);
    RUN(test_es_auth);
    RUN(test_kafka_no_broker);
    TEST_EXIT();
}
