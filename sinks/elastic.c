/* elastic.c - closed windows to Elasticsearch/OpenSearch; see elastic.h. */
#include "sinks/elastic.h"
#include "sinks/ecs.h"
#include "sinks/format.h"
#include "util/prom.h"
#include "util/arena.h"
#include "util/bqueue.h"
#include "util/counter.h"
#include "util/log.h"
#include "util/timeutil.h"
#include "util/jsonfmt.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ES_QUEUE_WINDOWS 1024
#define ES_BATCH_DOCS    1000
#define ES_BATCH_BYTES   (5u << 20)
#define ES_FLUSH_MS      1000
#define ES_BACKOFF_MS    200
#define ES_BACKOFF_MAX   30000
#define ES_TEMPLATE_PRIO 200

typedef struct doc_ref {
    size_t off, len;      /* the action line and the document, in body */
} doc_ref_t;

typedef struct batch {
    sbuf_t     body;
    doc_ref_t *docs;
    int        n, cap;
    int64_t    first_ms;  /* monotonic time of the oldest document */
} batch_t;

/* Queries whose template is in place, with the signature of the columns
 * and index pattern it was made for. */
typedef struct tmpl {
    char        *query;
    uint64_t     sig;
    struct tmpl *next;
} tmpl_t;

struct es_sink {
    output_t          out;
    es_sink_config_t  cfg;        /* strings owned below */
    char             *url, *pattern, *user, *password, *ca;
    char              instance[300]; /* host and pid: in the ids */
    struct curl_slist *hdr_json, *hdr_ndjson;
    CURL             *curl;
    bqueue_t          q;
    pthread_t         thr;
    flag_t            running;
    flag_t            closing;
    gauge_t           deadline;   /* monotonic ms; 0: none */
    int               legacy;     /* server has only _template */
    tmpl_t           *tmpls;
    batch_t           batch;
    log_limit_t       lim_http, lim_item;
    counter_t windows, windows_dropped, docs_queued, docs_indexed,
              docs_failed, docs_dropped, item_errors, bulk_requests,
              retries, http_errors, templates;
};

/* ---- names, ids, templates (pure, tested directly) --------------------- */

void es_index_name(const char *pattern, const char *query, int64_t ms,
                   int wildcard, sbuf_t *out)
{
    size_t start = out->len;
    int dated = 0;
    if (wildcard) {
        for (const char *p = pattern; *p; p++) {
            if (*p == '%' && (p[1] == 'Y' || p[1] == 'm' || p[1] == 'd')) {
                if (out->len == start || out->s[out->len - 1] != '*')
                    sbuf_addc(out, '*');
                dated = 1;
                p++;
            } else if (*p == '%' && p[1] == 'q') {
                sbuf_add(out, query);
                p++;
            } else if (*p == '%' && p[1] == '%') {
                sbuf_addc(out, '%');
                p++;
            } else {
                sbuf_addc(out, *p);
            }
        }
        if (!dated)
            sbuf_add(out, "-*");
    } else {
        dated = format_name(out, pattern, query, ms);
        if (!dated)
            format_name(out, "-%Y.%m.%d", query, ms);
    }
    for (size_t i = start; i < out->len; i++)
        out->s[i] = (char)tolower((unsigned char)out->s[i]);
}

static const char *es_type(type_t t)
{
    switch (t) {
    case TYPE_IP:       return "ip";
    case TYPE_TIME:     return "date";
    case TYPE_FLOAT:    return "double";
    case TYPE_STRING:   return "keyword";
    case TYPE_BOOL:     return "boolean";
    default:            return "long";   /* int, duration (ms) */
    }
}

/* The mapping of the flat documents (format_row_doc): the window fields
 * and each column by its type. */
static json_t *flat_properties(const rowset_t *rs)
{
    json_t *props = json_object();
    json_object_set_new(props, "query", json_pack("{s:s}", "type", "keyword"));
    json_object_set_new(props, "window_start", json_pack("{s:s}", "type", "date"));
    json_object_set_new(props, "window_end", json_pack("{s:s}", "type", "date"));
    json_object_set_new(props, "window_start_ms", json_pack("{s:s}", "type", "long"));
    json_object_set_new(props, "window_end_ms", json_pack("{s:s}", "type", "long"));
    json_object_set_new(props, "partial", json_pack("{s:s}", "type", "boolean"));
    for (int c = 0; c < rs->ncols; c++)
        json_object_set_new(props, rs->cols[c].name,
                            json_pack("{s:s}", "type", es_type(rs->cols[c].type)));
    return props;
}

json_t *es_template(const rowset_t *rs, const char *index_pattern, int legacy,
                    int fmt)
{
    json_t *props = fmt == FORMAT_ECS ? ecs_properties(rs, es_type)
                                      : flat_properties(rs);
    json_t *mappings = json_pack("{s:o}", "properties", props);
    json_t *meta = json_pack("{s:s,s:s}", "created_by", "flowsqld",
                             "query", rs->query);
    json_object_set_new(mappings, "_meta", meta);
    if (legacy)
        return json_pack("{s:[s],s:i,s:o}", "index_patterns", index_pattern,
                         "order", ES_TEMPLATE_PRIO, "mappings", mappings);
    return json_pack("{s:[s],s:i,s:{s:o}}", "index_patterns", index_pattern,
                     "priority", ES_TEMPLATE_PRIO, "template", "mappings",
                     mappings);
}

static void fnv(uint64_t *h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        *h ^= b[i];
        *h *= 0x100000001b3ULL;
    }
}

void es_doc_id(const char *instance, const rowset_t *rs, uint32_t r,
               char out[33])
{
    sbuf_t key = SBUF_INIT;
    format_key(rs, r, &key);
    if (key.len == 0)          /* no group columns: the row's place */
        sbuf_printf(&key, "#%u", r);
    uint64_t h1 = 0xcbf29ce484222325ULL, h2 = 0x84222325cbf29ce4ULL;
    for (int i = 0; i < 2; i++) {
        uint64_t *h = i ? &h2 : &h1;
        fnv(h, rs->query, strlen(rs->query) + 1);
        fnv(h, &rs->wstart, sizeof(rs->wstart));
        fnv(h, &rs->wend, sizeof(rs->wend));
        fnv(h, sbuf_str(&key), key.len);
        fnv(h, instance, strlen(instance));
        if (i)
            fnv(h, "flowsql", 7);   /* make h2 differ beyond the seed */
    }
    snprintf(out, 33, "%016llx%016llx", (unsigned long long)h1,
             (unsigned long long)h2);
    sbuf_free(&key);
}

/* ---- HTTP --------------------------------------------------------------- */

static size_t on_body(char *p, size_t sz, size_t n, void *ctx)
{
    sbuf_addn(ctx, p, sz * n);
    return sz * n;
}

/* One request. Returns the HTTP status, or 0 when no answer came (the
 * reason is in resp). */
static long http(es_sink_t *s, const char *method, const char *path,
                 const char *body, size_t len, int ndjson, sbuf_t *resp)
{
    char url[2048];
    snprintf(url, sizeof(url), "%s%s", s->url, path);
    CURL *c = s->curl;
    resp->len = 0;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
                     (curl_off_t)(body ? len : 0));
    curl_easy_setopt(c, CURLOPT_HTTPHEADER,
                     ndjson ? s->hdr_ndjson : s->hdr_json);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, resp);
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK) {
        sbuf_add(resp, curl_easy_strerror(rc));
        return 0;
    }
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    return code;
}

static int past_deadline(es_sink_t *s)
{
    int64_t d = gauge_get(&s->deadline);
    return d && time_mono_ms() >= d;
}

/* Sleep ms, waking early at the shutdown deadline. */
static void backoff_sleep(es_sink_t *s, int ms)
{
    int64_t until = time_mono_ms() + ms;
    while (!past_deadline(s)) {
        int64_t left = until - time_mono_ms();
        if (left <= 0)
            break;
        usleep((useconds_t)(left < 100 ? left : 100) * 1000);
    }
}

static int retryable(long code)
{
    return code == 0 || code == 429 || code >= 500;
}

/* ---- templates ---------------------------------------------------------- */

static uint64_t columns_sig(const rowset_t *rs, const char *pattern)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    fnv(&h, pattern, strlen(pattern) + 1);
    for (int c = 0; c < rs->ncols; c++) {
        fnv(&h, rs->cols[c].name, strlen(rs->cols[c].name) + 1);
        fnv(&h, &rs->cols[c].type, sizeof(rs->cols[c].type));
    }
    return h;
}

static const char *index_pattern_of(es_sink_t *s, const rowset_t *rs)
{
    const char *opt = rowset_opt(rs, "elasticsearch_index");
    return opt && *opt ? opt : s->pattern;
}

/* Install (or update) the template of rs's query unless it is in place.
 * Retries like a bulk request; on a permanent refusal logs and goes on
 * (documents then get dynamic mappings). */
static void ensure_template(es_sink_t *s, const rowset_t *rs)
{
    const char *pattern = index_pattern_of(s, rs);
    uint64_t sig = columns_sig(rs, pattern);
    tmpl_t *t;
    for (t = s->tmpls; t; t = t->next)
        if (strcmp(t->query, rs->query) == 0)
            break;
    if (t && t->sig == sig)
        return;
    sbuf_t ipat = SBUF_INIT, path = SBUF_INIT, resp = SBUF_INIT;
    es_index_name(pattern, rs->query, rs->wstart, 1, &ipat);
    int delay = s->cfg.backoff_ms;
    for (;;) {
        json_t *body = es_template(rs, sbuf_str(&ipat), s->legacy,
                                   s->cfg.format);
        char *text = json_dumps(body, JSON_COMPACT);
        json_decref(body);
        path.len = 0;
        sbuf_printf(&path, "/%s/flowsql-", s->legacy ? "_template"
                                                     : "_index_template");
        for (const char *p = rs->query; *p; p++)
            sbuf_addc(&path, (char)tolower((unsigned char)*p));
        long code = http(s, "PUT", sbuf_str(&path), text, strlen(text), 0,
                         &resp);
        free(text);
        if (code >= 200 && code < 300) {
            ctr_add(&s->templates, 1);
            log_info("elastic", "template %s for %s installed",
                     sbuf_str(&path), sbuf_str(&ipat));
            break;
        }
        if (!s->legacy && (code == 404 || code == 405 ||
                           (code == 400 && strstr(sbuf_str(&resp),
                                                  "no handler")))) {
            s->legacy = 1;   /* Elasticsearch before 7.8 */
            continue;
        }
        if (retryable(code) && !past_deadline(s)) {
            ctr_add(&s->http_errors, 1);
            ctr_add(&s->retries, 1);
            log_limited(&s->lim_http, LOG_WARN, "elastic",
                        "template for %s: %s %.200s, retrying in %d ms",
                        rs->query, code ? "HTTP" : "no answer:",
                        sbuf_str(&resp), delay);
            backoff_sleep(s, delay);
            delay = delay * 2 > s->cfg.backoff_max_ms ? s->cfg.backoff_max_ms
                                                      : delay * 2;
            continue;
        }
        if (code)
            log_error("elastic", "template for %s refused (HTTP %ld): "
                      "%.300s", rs->query, code, sbuf_str(&resp));
        else
            log_warn("elastic", "template for %s not installed before "
                     "shutdown: %s", rs->query, sbuf_str(&resp));
        break;
    }
    if (!t) {
        t = xcalloc(1, sizeof(*t));
        t->query = xstrdup(rs->query);
        t->next = s->tmpls;
        s->tmpls = t;
    }
    t->sig = sig;
    sbuf_free(&ipat);
    sbuf_free(&path);
    sbuf_free(&resp);
}

/* ---- batches -------------------------------------------------------------- */

static void batch_reset(batch_t *b)
{
    b->body.len = 0;
    b->n = 0;
}

/* Keep only the documents whose flag is set, in order. */
static void batch_keep(batch_t *b, const unsigned char *keep)
{
    sbuf_t nb = SBUF_INIT;
    int n = 0;
    for (int i = 0; i < b->n; i++) {
        if (!keep[i])
            continue;
        doc_ref_t d = {nb.len, b->docs[i].len};
        sbuf_addn(&nb, b->body.s + b->docs[i].off, b->docs[i].len);
        b->docs[n++] = d;
    }
    sbuf_free(&b->body);
    b->body = nb;
    b->n = n;
}

/* Read a bulk response: count items, mark those refused with 429 for
 * another try. Returns how many to retry, or -1 if unreadable. */
static int bulk_items(es_sink_t *s, batch_t *b, const char *resp,
                      unsigned char *keep)
{
    json_error_t je;
    json_t *root = json_loads(resp, 0, &je);
    if (!root)
        return -1;
    json_t *items = json_object_get(root, "items");
    if (!json_is_array(items)) {
        json_decref(root);
        return -1;
    }
    int again = 0;
    int got = (int)json_array_size(items);
    for (int i = 0; i < b->n; i++) {
        keep[i] = 0;
        if (i >= got) {   /* no word on it: try again */
            keep[i] = 1;
            again++;
            continue;
        }
        json_t *it = json_array_get(items, (size_t)i);
        const char *op;
        json_t *res = NULL, *v;
        json_object_foreach(it, op, v) { res = v; break; }
        long st = (long)json_integer_value(json_object_get(res, "status"));
        if (st >= 200 && st < 300) {
            ctr_add(&s->docs_indexed, 1);
            continue;
        }
        ctr_add(&s->item_errors, 1);
        if (st == 429 || st >= 500) {
            keep[i] = 1;
            again++;
            continue;
        }
        ctr_add(&s->docs_failed, 1);
        json_t *e = json_object_get(res, "error");
        log_limited(&s->lim_item, LOG_WARN, "elastic",
                    "document refused (%ld) by %s: %s: %s", st,
                    json_string_value(json_object_get(res, "_index")),
                    json_string_value(json_object_get(e, "type")),
                    json_string_value(json_object_get(e, "reason")));
    }
    json_decref(root);
    return again;
}

static void batch_send(es_sink_t *s)
{
    batch_t *b = &s->batch;
    sbuf_t resp = SBUF_INIT;
    int delay = s->cfg.backoff_ms;
    unsigned char *keep = xcalloc((size_t)(b->n ? b->n : 1), 1);
    while (b->n > 0) {
        if (past_deadline(s)) {
            ctr_add(&s->docs_dropped, (uint64_t)b->n);
            log_warn("elastic", "shutdown: %d documents not sent", b->n);
            break;
        }
        ctr_add(&s->bulk_requests, 1);
        long code = http(s, "POST", "/_bulk", b->body.s, b->body.len, 1,
                         &resp);
        int again = 0;
        if (code >= 200 && code < 300) {
            again = bulk_items(s, b, sbuf_str(&resp), keep);
            if (again < 0) {
                ctr_add(&s->docs_failed, (uint64_t)b->n);
                log_limited(&s->lim_item, LOG_WARN, "elastic",
                            "unreadable _bulk answer, %d documents counted "
                            "as failed: %.200s", b->n, sbuf_str(&resp));
                break;
            }
            if (again == 0)
                break;
            batch_keep(b, keep);
            log_limited(&s->lim_item, LOG_WARN, "elastic",
                        "%d documents refused for now, retrying in %d ms",
                        again, delay);
        } else if (retryable(code)) {
            ctr_add(&s->http_errors, 1);
            log_limited(&s->lim_http, LOG_WARN, "elastic",
                        "_bulk: %s%.*ld %.200s, retrying in %d ms",
                        code ? "HTTP " : "no answer: ", code ? 3 : 0, code,
                        sbuf_str(&resp), delay);
        } else {
            ctr_add(&s->docs_failed, (uint64_t)b->n);
            log_limited(&s->lim_http, LOG_ERROR, "elastic",
                        "_bulk refused (HTTP %ld), %d documents lost: %.300s",
                        code, b->n, sbuf_str(&resp));
            break;
        }
        ctr_add(&s->retries, 1);
        backoff_sleep(s, delay);
        delay = delay * 2 > s->cfg.backoff_max_ms ? s->cfg.backoff_max_ms
                                                  : delay * 2;
    }
    free(keep);
    sbuf_free(&resp);
    batch_reset(b);
}

static void batch_add(es_sink_t *s, const rowset_t *rs, uint32_t r,
                      const char *index)
{
    batch_t *b = &s->batch;
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 256;
        b->docs = xrealloc(b->docs, sizeof(doc_ref_t) * (size_t)b->cap);
    }
    if (b->n == 0)
        b->first_ms = time_mono_ms();
    char id[33];
    es_doc_id(s->instance, rs, r, id);
    size_t off = b->body.len;
    sbuf_printf(&b->body, "{\"index\":{\"_index\":\"%s\",\"_id\":\"%s\"}}\n",
                index, id);
    json_t *doc = format_doc(rs, r, s->cfg.format);
    char *text = json_dumps_short(doc, JSON_COMPACT);
    json_decref(doc);
    sbuf_add(&b->body, text);
    sbuf_addc(&b->body, '\n');
    free(text);
    b->docs[b->n].off = off;
    b->docs[b->n].len = b->body.len - off;
    b->n++;
    ctr_add(&s->docs_queued, 1);
}

static void take_window(es_sink_t *s, rowset_t *rs)
{
    if (past_deadline(s)) {
        ctr_add(&s->docs_dropped, rs->nrows);
        return;
    }
    ensure_template(s, rs);
    sbuf_t index = SBUF_INIT;
    es_index_name(index_pattern_of(s, rs), rs->query, rs->wstart, 0, &index);
    for (uint32_t r = 0; r < rs->nrows; r++) {
        batch_add(s, rs, r, sbuf_str(&index));
        if (s->batch.n >= s->cfg.batch_docs ||
            s->batch.body.len >= s->cfg.batch_bytes)
            batch_send(s);
    }
    sbuf_free(&index);
}

static void *es_main(void *arg)
{
    es_sink_t *s = arg;
    for (;;) {
        int wait = 100;
        if (s->batch.n) {
            int64_t due = s->batch.first_ms + s->cfg.flush_ms - time_mono_ms();
            wait = due <= 0 ? 0 : due < 100 ? (int)due : 100;
        }
        rowset_t *rs = bqueue_pop(&s->q, wait);
        if (rs) {
            take_window(s, rs);
            rowset_unref(rs);
        }
        int done = !rs && flag_get(&s->closing) && bqueue_len(&s->q) == 0;
        if (s->batch.n && (done || time_mono_ms() - s->batch.first_ms >=
                                       s->cfg.flush_ms))
            batch_send(s);
        if (done)
            break;
    }
    return NULL;
}

static void on_window(output_t *o, rowset_t *rs)
{
    es_sink_t *s = o->ctx;
    if (rs->nrows == 0)
        return;
    ctr_add(&s->windows, 1);
    rowset_ref(rs);
    if (bqueue_try_push(&s->q, rs) < 0) {
        ctr_add(&s->windows_dropped, 1);
        ctr_add(&s->docs_dropped, rs->nrows);
        rowset_unref(rs);
    }
}

/* ---- life cycle ------------------------------------------------------------ */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

es_sink_t *es_sink_new(const es_sink_config_t *cfg, diag_t *err)
{
    if (!cfg->url || (strncmp(cfg->url, "http://", 7) != 0 &&
                      strncmp(cfg->url, "https://", 8) != 0)) {
        diag_set(err, "elasticsearch URL '%s' must start with http:// or "
                 "https://", cfg->url ? cfg->url : "");
        return NULL;
    }
    pthread_once(&curl_once, curl_init_once);
    es_sink_t *s = xcalloc(1, sizeof(*s));
    s->cfg = *cfg;
    s->cfg.instance = NULL;   /* copied into s->instance */
    s->url = xstrdup(cfg->url);
    char host[256] = "";
    gethostname(host, sizeof(host) - 1);
    if (cfg->instance && *cfg->instance)
        snprintf(s->instance, sizeof(s->instance), "%s", cfg->instance);
    else
        snprintf(s->instance, sizeof(s->instance), "%s/%d", host,
                 (int)getpid());
    size_t n = strlen(s->url);
    while (n > 0 && s->url[n - 1] == '/')
        s->url[--n] = 0;
    s->pattern = xstrdup(cfg->index && *cfg->index ? cfg->index
                                                   : "flowsql-%q");
    if (!s->cfg.batch_docs) s->cfg.batch_docs = ES_BATCH_DOCS;
    if (!s->cfg.batch_bytes) s->cfg.batch_bytes = ES_BATCH_BYTES;
    if (!s->cfg.flush_ms) s->cfg.flush_ms = ES_FLUSH_MS;
    if (!s->cfg.backoff_ms) s->cfg.backoff_ms = ES_BACKOFF_MS;
    if (!s->cfg.backoff_max_ms) s->cfg.backoff_max_ms = ES_BACKOFF_MAX;

    s->curl = curl_easy_init();
    curl_easy_setopt(s->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(s->curl, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(s->curl, CURLOPT_TIMEOUT_MS, 60000L);
    curl_easy_setopt(s->curl, CURLOPT_USERAGENT, "flowsqld/" FLOWSQL_VERSION);
    if (cfg->user && *cfg->user) {
        curl_easy_setopt(s->curl, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
        curl_easy_setopt(s->curl, CURLOPT_USERNAME, cfg->user);
        curl_easy_setopt(s->curl, CURLOPT_PASSWORD,
                         cfg->password ? cfg->password : "");
    }
    if (cfg->ca && *cfg->ca)
        curl_easy_setopt(s->curl, CURLOPT_CAINFO, cfg->ca);
    sbuf_t auth = SBUF_INIT;
    if (cfg->api_key && *cfg->api_key)
        sbuf_printf(&auth, "Authorization: ApiKey %s", cfg->api_key);
    s->hdr_json = curl_slist_append(NULL, "Content-Type: application/json");
    s->hdr_ndjson = curl_slist_append(NULL,
                                      "Content-Type: application/x-ndjson");
    if (auth.len) {
        s->hdr_json = curl_slist_append(s->hdr_json, sbuf_str(&auth));
        s->hdr_ndjson = curl_slist_append(s->hdr_ndjson, sbuf_str(&auth));
    }
    sbuf_free(&auth);
    /* The strings in cfg are the caller's: keep none of them. */
    s->cfg.url = s->url;
    s->cfg.index = s->pattern;
    s->cfg.user = s->cfg.password = s->cfg.api_key = s->cfg.ca = NULL;

    bqueue_init(&s->q, cfg->queue_windows > 0 ? (size_t)cfg->queue_windows
                                              : ES_QUEUE_WINDOWS);
    s->out.name = "elasticsearch";
    s->out.on_window = on_window;
    s->out.ctx = s;
    if (pthread_create(&s->thr, NULL, es_main, s) != 0) {
        diag_set(err, "cannot start the elasticsearch thread: %s",
                 strerror(errno));
        flag_set(&s->running, 0);
        es_sink_free(s);
        return NULL;
    }
    flag_set(&s->running, 1);
    log_info("elastic", "indexing to %s, index %s", s->url, s->pattern);
    return s;
}

output_t *es_sink_output(es_sink_t *s) { return &s->out; }

uint64_t es_sink_close(es_sink_t *s, int timeout_ms)
{
    if (!flag_get(&s->running))
        return 0;
    uint64_t before = ctr_get(&s->docs_dropped);
    gauge_set(&s->deadline, time_mono_ms() + (timeout_ms > 0 ? timeout_ms : 1));
    flag_set(&s->closing, 1);
    bqueue_close(&s->q);
    pthread_join(s->thr, NULL);
    flag_set(&s->running, 0);
    log_info("elastic", "closed: %llu documents indexed, %llu failed, "
             "%llu dropped", (unsigned long long)ctr_get(&s->docs_indexed),
             (unsigned long long)ctr_get(&s->docs_failed),
             (unsigned long long)ctr_get(&s->docs_dropped));
    return ctr_get(&s->docs_dropped) - before;
}

void es_sink_free(es_sink_t *s)
{
    if (!s)
        return;
    if (flag_get(&s->running))
        es_sink_close(s, 10000);
    rowset_t *rs;
    while ((rs = bqueue_pop(&s->q, 0)))
        rowset_unref(rs);
    bqueue_destroy(&s->q);
    while (s->tmpls) {
        tmpl_t *t = s->tmpls;
        s->tmpls = t->next;
        free(t->query);
        free(t);
    }
    sbuf_free(&s->batch.body);
    free(s->batch.docs);
    curl_slist_free_all(s->hdr_json);
    curl_slist_free_all(s->hdr_ndjson);
    curl_easy_cleanup(s->curl);
    free(s->url);
    free(s->pattern);
    free(s);
}

void es_sink_stats(es_sink_t *s, es_sink_stats_t *o)
{
    o->windows = ctr_get(&s->windows);
    o->windows_dropped = ctr_get(&s->windows_dropped);
    o->docs_queued = ctr_get(&s->docs_queued);
    o->docs_indexed = ctr_get(&s->docs_indexed);
    o->docs_failed = ctr_get(&s->docs_failed);
    o->docs_dropped = ctr_get(&s->docs_dropped);
    o->item_errors = ctr_get(&s->item_errors);
    o->bulk_requests = ctr_get(&s->bulk_requests);
    o->retries = ctr_get(&s->retries);
    o->http_errors = ctr_get(&s->http_errors);
    o->templates = ctr_get(&s->templates);
}

void es_sink_metrics(es_sink_t *s, sbuf_t *b)
{
    es_sink_stats_t st;
    es_sink_stats(s, &st);
    const prom_counter_t m[] = {
        {"flowsql_es_windows_total", "windows taken from the engine",
         st.windows},
        {"flowsql_es_windows_dropped_total",
         "windows refused because the window queue was full",
         st.windows_dropped},
        {"flowsql_es_docs_queued_total", "documents put into a batch",
         st.docs_queued},
        {"flowsql_es_docs_indexed_total", "documents acknowledged",
         st.docs_indexed},
        {"flowsql_es_docs_failed_total",
         "documents refused for good (mapping errors, 4xx)", st.docs_failed},
        {"flowsql_es_docs_dropped_total",
         "documents lost (queue full, shutdown deadline)", st.docs_dropped},
        {"flowsql_es_item_errors_total",
         "per-document errors in bulk answers, retried ones included",
         st.item_errors},
        {"flowsql_es_bulk_requests_total", "_bulk requests sent",
         st.bulk_requests},
        {"flowsql_es_retries_total",
         "requests sent again after 429, 5xx or no answer", st.retries},
        {"flowsql_es_http_errors_total",
         "answers 429 or 5xx and connection failures", st.http_errors},
        {"flowsql_es_templates_total", "index templates installed",
         st.templates},
    };
    prom_counters(b, m, sizeof(m) / sizeof(m[0]));
}
