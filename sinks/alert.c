/* alert.c - alert actions to webhooks and syslog; see alert.h. */
#include "sinks/alert.h"
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
#include <jansson.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define ALERT_QUEUE       10000
#define ALERT_ATTEMPTS    5          /* the first and 4 retries */
#define ALERT_BACKOFF_MAX 60000
#define ALERT_TIMEOUT_MS  5000       /* one HTTP request, one TCP send */
#define DEDUP_BUCKETS     16384
#define DEDUP_MAX         200000     /* keys remembered; beyond, no dedup */
#define TCP_CONNS         16
/* RFC 5424: local0 (16) * 8 + warning (4); our example enterprise id. */
#define SYSLOG_PRI        132
#define SYSLOG_SD_ID      "flowsql@32473"

/* One alert for one target, its payload made on the engine thread. */
typedef struct item {
    alert_target_t tgt;
    char          *payload;
    size_t         len;
    char           query[64];
    char           why[128];      /* why the last attempt failed */
    int            attempts;
    int64_t        due;           /* monotonic ms of the next attempt */
    struct item   *next;          /* the retry list */
} item_t;

/* query + key -> until when it stays quiet */
typedef struct seen {
    struct seen *next;
    int64_t      until;
    char         key[];
} seen_t;

/* a query's rate window */
typedef struct rate {
    struct rate *next;
    int64_t      start;
    int          n;
    char         query[64];
} rate_t;

typedef struct tcp_conn {
    char key[300];                /* host:port */
    int  fd;
} tcp_conn_t;

struct alert_sink {
    output_t        out;
    char            host[256];    /* this machine, for the messages */
    char            instance[256];
    int             backoff_ms;
    bqueue_t        q;
    pthread_t       thr;
    flag_t          closing;
    gauge_t         deadline;     /* monotonic ms to give up; 0 none */
    pthread_mutex_t lock;         /* the dedup and rate state */
    seen_t         *buckets[DEDUP_BUCKETS];
    size_t          nseen;
    int64_t         swept;
    rate_t         *rates;
    /* the delivery thread's own */
    CURL           *curl;
    struct curl_slist *hdr;
    tcp_conn_t      conns[TCP_CONNS];
    item_t         *retry;
    log_limit_t     lim;
    counter_t queued, delivered, failed, retries, deduplicated,
              rate_limited, dropped;
};

/* ---- options (shared with parser/sema.c) ------------------------------ */

static int bad(char *why, size_t n, const char *fmt, const char *arg)
{
    snprintf(why, n, fmt, arg);
    return -1;
}

/* host:port or [v6]:port into t; 0 or -1. */
static int parse_hostport(const char *s, alert_target_t *t)
{
    const char *colon;
    size_t hl;
    if (*s == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':')
            return -1;
        s++;
        hl = (size_t)(close - s);
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon)
            return -1;
        hl = (size_t)(colon - s);
    }
    const char *p = colon + 1;
    if (hl == 0 || hl >= sizeof(t->host) || !*p || strlen(p) > 5)
        return -1;
    for (const char *c = p; *c; c++)
        if (!isdigit((unsigned char)*c))
            return -1;
    long port = atol(p);
    if (port < 1 || port > 65535)
        return -1;
    for (size_t i = 0; i < hl; i++)
        if (!isalnum((unsigned char)s[i]) && !strchr(".-_:", s[i]))
            return -1;
    memcpy(t->host, s, hl);
    t->host[hl] = 0;
    snprintf(t->port, sizeof(t->port), "%ld", port);
    return 0;
}

static int parse_one(const char *s, alert_target_t *t, char *why, size_t n)
{
    memset(t, 0, sizeof(*t));
    if (strncmp(s, "webhook:", 8) == 0) {
        const char *u = s + 8;
        size_t skip = strncmp(u, "http://", 7) == 0 ? 7
                    : strncmp(u, "https://", 8) == 0 ? 8 : 0;
        if (!skip)
            return bad(why, n, "alert target '%s': a webhook URL starts "
                       "with http:// or https://", s);
        if (!u[skip] || u[skip] == '/' || u[skip] == ':')
            return bad(why, n, "alert target '%s': the URL has no host", s);
        if (strlen(u) >= sizeof(t->url))
            return bad(why, n, "alert target '%s': the URL is too long", s);
        for (const char *c = u; *c; c++)
            if ((unsigned char)*c <= ' ' || *c == 0x7f)
                return bad(why, n, "alert target '%s': the URL has a "
                           "blank or a control character", s);
        t->kind = ALERT_WEBHOOK;
        strcpy(t->url, u);
        return 0;
    }
    if (strncmp(s, "syslog:", 7) == 0) {
        const char *u = s + 7;
        if (strncmp(u, "udp://", 6) == 0)
            t->kind = ALERT_SYSLOG_UDP;
        else if (strncmp(u, "tcp://", 6) == 0)
            t->kind = ALERT_SYSLOG_TCP;
        else
            return bad(why, n, "alert target '%s': syslog needs udp:// or "
                       "tcp://", s);
        if (parse_hostport(u + 6, t) < 0)
            return bad(why, n, "alert target '%s': expected host:port "
                       "(port 1 to 65535)", s);
        return 0;
    }
    return bad(why, n, "alert target '%s': expected webhook:http(s)://..., "
               "syslog:udp://host:port or syslog:tcp://host:port", s);
}

int alert_parse_targets(const char *spec, alert_target_t *t, int max,
                        char *why, size_t whylen)
{
    char *copy = xstrdup(spec);
    int nt = 0, rc = 0;
    char *save = NULL;
    for (char *p = strtok_r(copy, ",", &save); p && rc == 0;
         p = strtok_r(NULL, ",", &save)) {
        while (*p == ' ')
            p++;
        size_t l = strlen(p);
        while (l && p[l - 1] == ' ')
            p[--l] = 0;
        if (nt == max) {
            snprintf(why, whylen, "alert: at most %d targets", max);
            rc = -1;
        } else
            rc = parse_one(p, &t[nt++], why, whylen);
    }
    free(copy);
    if (rc == 0 && nt == 0) {
        snprintf(why, whylen, "alert: no target");
        rc = -1;
    }
    return rc < 0 ? -1 : nt;
}

int alert_parse_rate(const char *s, int *n, int64_t *period_ms)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || !isdigit((unsigned char)*s) || errno || v < 1 ||
        v > 1000000 || *end != '/' || !end[1] || end[2])
        return -1;
    switch (end[1]) {
    case 's': *period_ms = 1000; break;
    case 'm': *period_ms = 60000; break;
    case 'h': *period_ms = 3600000; break;
    default: return -1;
    }
    *n = (int)v;
    return 0;
}

int alert_parse_every(const char *s, int64_t *ms)
{
    /* At most 30 days: longer is "never again", which a restart breaks
     * anyway (the state is in memory). */
    return duration_parse(s, strlen(s), ms) < 0 || *ms < 0 ||
           *ms > 30 * 86400000LL ? -1 : 0;
}

/* ---- payloads ----------------------------------------------------------- */

char *alert_webhook_body(const rowset_t *rs, uint32_t r, const char *host,
                         const char *instance, int64_t now_ms)
{
    char ws[40], we[40], at[40];
    sbuf_t key = SBUF_INIT;
    format_key(rs, r, &key);
    json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:I, s:b, s:s, s:o, s:s, "
                          "s:s, s:s}",
                          "query", rs->query,
                          "window_start", time_format_iso(rs->wstart, ws, sizeof(ws)),
                          "window_end", time_format_iso(rs->wend, we, sizeof(we)),
                          "window_start_ms", (json_int_t)rs->wstart,
                          "window_end_ms", (json_int_t)rs->wend,
                          "partial", rs->partial != 0,
                          "key", sbuf_str(&key),
                          "row", format_row(rs, r),
                          "host", host, "instance", instance,
                          "alerted_at", time_format_iso(now_ms, at, sizeof(at)));
    char *s = json_dumps_short(o, JSON_COMPACT);
    json_decref(o);
    sbuf_free(&key);
    return s;
}

/* RFC 5424 PRINTUSASCII without '=', ' ', ']', '"', at most 32. */
static void sd_name(sbuf_t *b, const char *s)
{
    for (int i = 0; s[i] && i < 32; i++) {
        unsigned char c = (unsigned char)s[i];
        sbuf_addc(b, c > 32 && c < 127 && !strchr("=]\"", c) ? (char)c : '_');
    }
}

/* A PARAM-VALUE: '"', '\' and ']' escaped with a backslash. */
static void sd_value(sbuf_t *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '"' || *s == '\\' || *s == ']')
            sbuf_addc(b, '\\');
        sbuf_addc(b, *s);
    }
}

static void sd_param(sbuf_t *b, const char *name, const char *value)
{
    sbuf_addc(b, ' ');
    sd_name(b, name);
    sbuf_add(b, "=\"");
    sd_value(b, value);
    sbuf_addc(b, '"');
}

void alert_syslog_message(const rowset_t *rs, uint32_t r, const char *host,
                          int pid, int64_t now_ms, sbuf_t *b)
{
    char ts[40], ws[40], we[40];
    sbuf_printf(b, "<%d>1 %s %s flowsqld %d ", SYSLOG_PRI,
                time_format_iso(now_ms, ts, sizeof(ts)), host, pid);
    sd_name(b, rs->query);                          /* MSGID */
    sbuf_add(b, " [" SYSLOG_SD_ID);
    sd_param(b, "query", rs->query);
    sd_param(b, "window_start", time_format_iso(rs->wstart, ws, sizeof(ws)));
    sd_param(b, "window_end", time_format_iso(rs->wend, we, sizeof(we)));
    const value_t *row = rowset_row(rs, r);
    for (int c = 0; c < rs->ncols; c++) {
        json_t *v = format_value(&row[c], rs->cols[c].type);
        char *s = json_is_string(v) ? NULL
                : json_dumps_short(v, JSON_ENCODE_ANY);
        sd_param(b, rs->cols[c].name,
                 json_is_string(v) ? json_string_value(v) : s ? s : "");
        free(s);
        json_decref(v);
    }
    sbuf_add(b, "] flowsql alert: ");
    sbuf_add(b, rs->query);
    sbuf_t key = SBUF_INIT;
    format_key(rs, r, &key);
    if (key.len) {
        sbuf_addc(b, ' ');
        sbuf_add(b, sbuf_str(&key));
    }
    sbuf_free(&key);
}

/* ---- dedup and rate (engine thread, under lock) --------------------------- */

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* Forget the keys whose quiet time is over, at most once a second. */
static void sweep(alert_sink_t *a, int64_t now)
{
    if (now - a->swept < 1000)
        return;
    a->swept = now;
    for (size_t i = 0; i < DEDUP_BUCKETS; i++)
        for (seen_t **pp = &a->buckets[i]; *pp;) {
            seen_t *s = *pp;
            if (s->until <= now) {
                *pp = s->next;
                free(s);
                a->nseen--;
            } else {
                pp = &s->next;
            }
        }
}

static seen_t **seen_find(alert_sink_t *a, const char *key)
{
    seen_t **pp = &a->buckets[hash_str(key) % DEDUP_BUCKETS];
    while (*pp && strcmp((*pp)->key, key) != 0)
        pp = &(*pp)->next;
    return pp;
}

static void seen_put(alert_sink_t *a, seen_t **pp, const char *key,
                     int64_t until)
{
    if (*pp) {
        (*pp)->until = until;
        return;
    }
    if (a->nseen >= DEDUP_MAX)
        return;
    size_t l = strlen(key);
    seen_t *s = xmalloc(sizeof(*s) + l + 1);
    memcpy(s->key, key, l + 1);
    s->until = until;
    s->next = NULL;
    *pp = s;
    a->nseen++;
}

/* 1 if the query may alert once more now (and counts it), else 0. */
static int rate_take(alert_sink_t *a, const char *query, int64_t now, int n,
                     int64_t period)
{
    rate_t *r = a->rates;
    while (r && strcmp(r->query, query) != 0)
        r = r->next;
    if (!r) {
        r = xcalloc(1, sizeof(*r));
        snprintf(r->query, sizeof(r->query), "%s", query);
        r->next = a->rates;
        a->rates = r;
    }
    /* A period begins with the first alert after the last one ended
     * (not on the clock's minute): never more than n in one period. */
    if (now - r->start >= period) {
        r->start = now;
        r->n = 0;
    }
    if (r->n >= n)
        return 0;
    r->n++;
    return 1;
}

static void item_free(item_t *it)
{
    free(it->payload);
    free(it);
}

static void enqueue(alert_sink_t *a, const rowset_t *rs, uint32_t r,
                    const alert_target_t *t, int nt, int64_t now)
{
    char *body = NULL;
    sbuf_t msg = SBUF_INIT;
    for (int i = 0; i < nt; i++) {
        item_t *it = xcalloc(1, sizeof(*it));
        it->tgt = t[i];
        snprintf(it->query, sizeof(it->query), "%s", rs->query);
        if (t[i].kind == ALERT_WEBHOOK) {
            if (!body)
                body = alert_webhook_body(rs, r, a->host, a->instance, now);
            it->payload = xstrdup(body ? body : "{}");
        } else {
            if (!msg.len)
                alert_syslog_message(rs, r, a->host, (int)getpid(), now,
                                     &msg);
            it->payload = xstrdup(sbuf_str(&msg));
        }
        it->len = strlen(it->payload);
        if (bqueue_try_push(&a->q, it) < 0) {
            ctr_inc(&a->dropped);
            item_free(it);
        } else {
            ctr_inc(&a->queued);
        }
    }
    free(body);
    sbuf_free(&msg);
}

static void on_window(output_t *o, rowset_t *rs)
{
    alert_sink_t *a = o->ctx;
    const char *spec = rowset_opt(rs, "alert");
    /* Not for windows of a replay (old traffic) nor a worker's states;
     * the merge stage's windows are live ones. */
    if (!spec || !*spec || !rs->nrows || (rs->replayed && !rs->merged) ||
        rs->state || flag_get(&a->closing))
        return;
    alert_target_t t[ALERT_MAX_TARGETS];
    char why[300];
    int nt = alert_parse_targets(spec, t, ALERT_MAX_TARGETS, why, sizeof(why));
    int64_t every = ALERT_EVERY_MS, period = ALERT_RATE_MS;
    int n = ALERT_RATE_N;
    const char *ev = rowset_opt(rs, "alert_every");
    const char *rt = rowset_opt(rs, "alert_rate");
    /* CREATE QUERY checked them; a query file of an older version was
     * checked the same way, so this is a safety net only. */
    if (nt < 0 || (ev && alert_parse_every(ev, &every) < 0) ||
        (rt && alert_parse_rate(rt, &n, &period) < 0)) {
        log_limited(&a->lim, LOG_WARN, "alert", "query %s: bad alert "
                    "options", rs->query);
        return;
    }
    int64_t now = time_now_ms();
    sbuf_t key = SBUF_INIT;
    pthread_mutex_lock(&a->lock);
    sweep(a, now);
    for (uint32_t r = 0; r < rs->nrows; r++) {
        key.len = 0;
        sbuf_add(&key, rs->query);
        sbuf_addc(&key, '\x1f');
        format_key(rs, r, &key);
        seen_t **pp = seen_find(a, sbuf_str(&key));
        if (every > 0 && *pp && (*pp)->until > now) {
            ctr_inc(&a->deduplicated);
            continue;
        }
        if (!rate_take(a, rs->query, now, n, period)) {
            ctr_inc(&a->rate_limited);
            continue;
        }
        if (every > 0)
            seen_put(a, pp, sbuf_str(&key), now + every);
        enqueue(a, rs, r, t, nt, now);
    }
    pthread_mutex_unlock(&a->lock);
    sbuf_free(&key);
}

/* ---- delivery (the delivery thread) ----------------------------------- */

enum { SENT, RETRY, GIVE_UP };

static size_t discard(char *p, size_t sz, size_t n, void *u)
{
    (void)p;
    (void)u;
    return sz * n;
}

static int send_webhook(alert_sink_t *a, item_t *it)
{
    if (!a->curl) {
        a->curl = curl_easy_init();
        curl_easy_setopt(a->curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(a->curl, CURLOPT_CONNECTTIMEOUT_MS,
                         (long)ALERT_TIMEOUT_MS);
        curl_easy_setopt(a->curl, CURLOPT_TIMEOUT_MS, (long)ALERT_TIMEOUT_MS);
        curl_easy_setopt(a->curl, CURLOPT_USERAGENT,
                         "flowsqld/" FLOWSQL_VERSION);
        curl_easy_setopt(a->curl, CURLOPT_WRITEFUNCTION, discard);
        a->hdr = curl_slist_append(NULL, "Content-Type: application/json");
        curl_easy_setopt(a->curl, CURLOPT_HTTPHEADER, a->hdr);
    }
    curl_easy_setopt(a->curl, CURLOPT_URL, it->tgt.url);
    curl_easy_setopt(a->curl, CURLOPT_POSTFIELDS, it->payload);
    curl_easy_setopt(a->curl, CURLOPT_POSTFIELDSIZE_LARGE,
                     (curl_off_t)it->len);
    CURLcode rc = curl_easy_perform(a->curl);
    long code = 0;
    if (rc == CURLE_OK)
        curl_easy_getinfo(a->curl, CURLINFO_RESPONSE_CODE, &code);
    if (rc == CURLE_OK && code >= 200 && code < 300)
        return SENT;
    if (rc != CURLE_OK)
        snprintf(it->why, sizeof(it->why), "%s", curl_easy_strerror(rc));
    else
        snprintf(it->why, sizeof(it->why), "HTTP status %ld", code);
    /* A 4xx says the request is wrong: sending it again will not help,
     * but 429 asks us to come back later. */
    return rc == CURLE_OK && code >= 400 && code < 500 && code != 429
         ? GIVE_UP : RETRY;
}

/* A socket connected to the target, or -1. */
static int dial(const alert_target_t *t, int type)
{
    struct addrinfo hints = {.ai_socktype = type}, *res = NULL;
    if (getaddrinfo(t->host, t->port, &hints, &res) != 0)
        return -1;
    int fd = -1;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
                    ai->ai_protocol);
        if (fd < 0)
            continue;
        struct timeval tv = {.tv_sec = ALERT_TIMEOUT_MS / 1000};
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    return fd;
}

static int send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* The cached connection to host:port, connected anew when the server
 * closed it (seen with a peek before writing, so a message does not go
 * into a socket whose peer is gone). */
static tcp_conn_t *tcp_conn(alert_sink_t *a, const alert_target_t *t)
{
    char key[300];
    snprintf(key, sizeof(key), "%s:%s", t->host, t->port);
    tcp_conn_t *free_slot = NULL, *c = NULL;
    for (int i = 0; i < TCP_CONNS && !c; i++) {
        if (a->conns[i].fd > 0 && strcmp(a->conns[i].key, key) == 0)
            c = &a->conns[i];
        else if (a->conns[i].fd <= 0 && !free_slot)
            free_slot = &a->conns[i];
    }
    if (c) {
        char ch;
        ssize_t n = recv(c->fd, &ch, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
            close(c->fd);
            c->fd = 0;
            free_slot = c;
            c = NULL;
        }
    }
    if (!c) {
        if (!free_slot) {             /* all taken: reuse the first */
            free_slot = &a->conns[0];
            close(free_slot->fd);
            free_slot->fd = 0;
        }
        int fd = dial(t, SOCK_STREAM);
        if (fd < 0)
            return NULL;
        c = free_slot;
        c->fd = fd;
        snprintf(c->key, sizeof(c->key), "%s", key);
    }
    return c;
}

static int send_syslog(alert_sink_t *a, item_t *it)
{
    if (it->tgt.kind == ALERT_SYSLOG_UDP) {
        int fd = dial(&it->tgt, SOCK_DGRAM);
        int ok = fd >= 0 && send(fd, it->payload, it->len, 0) ==
                                (ssize_t)it->len;
        if (fd >= 0)
            close(fd);
        if (ok)
            return SENT;
    } else {
        tcp_conn_t *c = tcp_conn(a, &it->tgt);
        /* RFC 6587 octet counting: "LEN SP MSG". */
        char pre[24];
        int pl = snprintf(pre, sizeof(pre), "%zu ", it->len);
        if (c && send_all(c->fd, pre, (size_t)pl) == 0 &&
            send_all(c->fd, it->payload, it->len) == 0)
            return SENT;
        if (c) {
            close(c->fd);
            c->fd = 0;
        }
    }
    snprintf(it->why, sizeof(it->why), "%s", strerror(errno));
    return RETRY;
}

/* Given up: counted and logged (the retries before only at debug). */
static void fail_item(alert_sink_t *a, item_t *it)
{
    ctr_inc(&a->failed);
    if (it->tgt.kind == ALERT_WEBHOOK)
        log_limited(&a->lim, LOG_WARN, "alert", "query %s: alert to %s "
                    "given up after %d attempts: %s", it->query, it->tgt.url,
                    it->attempts, it->attempts ? it->why : "stopping");
    else
        log_limited(&a->lim, LOG_WARN, "alert", "query %s: alert to syslog "
                    "%s:%s given up after %d attempts: %s", it->query,
                    it->tgt.host, it->tgt.port, it->attempts,
                    it->attempts ? it->why : "stopping");
    item_free(it);
}

/* One attempt; the item is then freed or on the retry list. */
static void attempt(alert_sink_t *a, item_t *it)
{
    if (it->attempts++)
        ctr_inc(&a->retries);
    int rc = it->tgt.kind == ALERT_WEBHOOK ? send_webhook(a, it)
                                           : send_syslog(a, it);
    if (rc == SENT) {
        ctr_inc(&a->delivered);
        item_free(it);
        return;
    }
    log_debug("alert", "query %s: attempt %d failed: %s", it->query,
              it->attempts, it->why);
    int64_t wait = (int64_t)a->backoff_ms << (it->attempts - 1);
    it->due = time_mono_ms() + (wait < ALERT_BACKOFF_MAX ? wait
                                                         : ALERT_BACKOFF_MAX);
    int64_t dl = gauge_get(&a->deadline);
    if (rc == GIVE_UP || it->attempts >= ALERT_ATTEMPTS ||
        (dl && it->due >= dl)) {
        fail_item(a, it);
        return;
    }
    it->next = a->retry;
    a->retry = it;
}

/* Attempt the retries that are due; returns ms until the next one
 * (at most cap). */
static int64_t run_retries(alert_sink_t *a, int64_t cap)
{
    int64_t now = time_mono_ms(), next = cap;
    item_t *due = NULL;
    for (item_t **pp = &a->retry; *pp;) {
        item_t *it = *pp;
        if (it->due <= now) {
            *pp = it->next;
            it->next = due;
            due = it;
        } else {
            if (it->due - now < next)
                next = it->due - now;
            pp = &it->next;
        }
    }
    while (due) {
        item_t *it = due;
        due = it->next;
        attempt(a, it);
    }
    return next;
}

static void *run(void *arg)
{
    alert_sink_t *a = arg;
    for (;;) {
        int64_t dl = gauge_get(&a->deadline);
        if (dl && time_mono_ms() >= dl)
            break;
        int64_t wait = run_retries(a, 500);
        if (dl && dl - time_mono_ms() < wait)
            wait = dl - time_mono_ms();
        if (wait < 0)
            wait = 0;
        if (flag_get(&a->closing) && !bqueue_len(&a->q)) {
            if (!a->retry)
                break;
            /* A closed queue does not wait: sleep until a retry is due. */
            struct timespec ts = {wait / 1000, (wait % 1000) * 1000000};
            nanosleep(&ts, NULL);
            continue;
        }
        item_t *it = bqueue_pop(&a->q, (int)wait);
        if (it)
            attempt(a, it);
    }
    /* The deadline passed: what is left is given up. */
    for (item_t *it; (it = bqueue_pop(&a->q, 0));)
        fail_item(a, it);
    while (a->retry) {
        item_t *it = a->retry;
        a->retry = it->next;
        fail_item(a, it);
    }
    return NULL;
}

/* ---- life --------------------------------------------------------------- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

alert_sink_t *alert_sink_new(const alert_config_t *cfg, diag_t *err)
{
    pthread_once(&curl_once, curl_init_once);
    alert_sink_t *a = xcalloc(1, sizeof(*a));
    a->out.name = "alert";
    a->out.on_window = on_window;
    a->out.ctx = a;
    /* RFC 5424's HOSTNAME is printable ASCII without blanks, or "-". */
    if (gethostname(a->host, sizeof(a->host) - 1) < 0 || !a->host[0])
        strcpy(a->host, "-");
    for (char *p = a->host; *p; p++)
        if (*p <= ' ' || *p >= 127)
            *p = '_';
    snprintf(a->instance, sizeof(a->instance), "%s",
             cfg->instance ? cfg->instance : "");
    a->backoff_ms = cfg->backoff_ms > 0 ? cfg->backoff_ms : 1000;
    bqueue_init(&a->q, (size_t)(cfg->queue > 0 ? cfg->queue : ALERT_QUEUE));
    pthread_mutex_init(&a->lock, NULL);
    int rc = pthread_create(&a->thr, NULL, run, a);
    if (rc != 0) {
        diag_set(err, "alerts: cannot start a thread: %s", strerror(rc));
        bqueue_destroy(&a->q);
        pthread_mutex_destroy(&a->lock);
        free(a);
        return NULL;
    }
    return a;
}

output_t *alert_sink_output(alert_sink_t *a)
{
    return &a->out;
}

void alert_sink_close(alert_sink_t *a, int timeout_ms)
{
    if (!a || flag_get(&a->closing))
        return;
    gauge_set(&a->deadline, time_mono_ms() + timeout_ms);
    flag_set(&a->closing, 1);
    bqueue_close(&a->q);
    pthread_join(a->thr, NULL);
}

void alert_sink_free(alert_sink_t *a)
{
    if (!a)
        return;
    alert_sink_close(a, 10000);
    for (size_t i = 0; i < DEDUP_BUCKETS; i++)
        while (a->buckets[i]) {
            seen_t *s = a->buckets[i];
            a->buckets[i] = s->next;
            free(s);
        }
    while (a->rates) {
        rate_t *r = a->rates;
        a->rates = r->next;
        free(r);
    }
    for (int i = 0; i < TCP_CONNS; i++)
        if (a->conns[i].fd > 0)
            close(a->conns[i].fd);
    if (a->curl)
        curl_easy_cleanup(a->curl);
    curl_slist_free_all(a->hdr);
    bqueue_destroy(&a->q);
    pthread_mutex_destroy(&a->lock);
    free(a);
}

void alert_sink_stats(alert_sink_t *a, alert_stats_t *s)
{
    s->queued = ctr_get(&a->queued);
    s->delivered = ctr_get(&a->delivered);
    s->failed = ctr_get(&a->failed);
    s->retries = ctr_get(&a->retries);
    s->deduplicated = ctr_get(&a->deduplicated);
    s->rate_limited = ctr_get(&a->rate_limited);
    s->dropped = ctr_get(&a->dropped);
}

void alert_sink_metrics(alert_sink_t *a, sbuf_t *b)
{
    alert_stats_t s;
    alert_sink_stats(a, &s);
    const prom_counter_t m[] = {
        {"flowsql_alerts_queued_total",
         "alerts queued for delivery (one per row and target)", s.queued},
        {"flowsql_alerts_delivered_total",
         "alerts a webhook accepted (2xx) or sent to syslog", s.delivered},
        {"flowsql_alerts_failed_total",
         "alerts given up (attempts spent, a 4xx, shutdown)", s.failed},
        {"flowsql_alerts_retries_total",
         "delivery attempts after the first", s.retries},
        {"flowsql_alerts_deduplicated_total",
         "rows not alerted: the same key alerted within alert_every",
         s.deduplicated},
        {"flowsql_alerts_rate_limited_total",
         "rows not alerted: the query's alert_rate was reached",
         s.rate_limited},
        {"flowsql_alerts_dropped_total",
         "alerts dropped because the alert queue was full", s.dropped},
    };
    prom_counters(b, m, sizeof(m) / sizeof(m[0]));
}
