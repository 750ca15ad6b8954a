/*
 * client.c - HTTP and Server-Sent Events over libcurl; see client.h.
 *
 * Every transfer runs on a multi handle whose wait also polls the signal
 * pipe, so Ctrl-C ends a slow request or a live stream at once instead
 * of at the next byte from the server. The multi handle keeps the
 * connection to flowsqld open between statements.
 */
#include "shell/client.h"
#include "shell/shell.h"
#include "util/arena.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

struct client {
    CURLM *multi;
    char  *url;          /* without a trailing '/' */
    char  *auth;         /* "Authorization: Bearer ..." or NULL */
};

client_t *client_new(const char *base_url, const char *token)
{
    static int global_done;
    if (!global_done) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
            return NULL;
        global_done = 1;
    }
    client_t *c = xcalloc(1, sizeof(*c));
    c->multi = curl_multi_init();
    if (!c->multi) {
        free(c);
        return NULL;
    }
    c->url = xstrdup(base_url);
    size_t n = strlen(c->url);
    while (n > 0 && c->url[n - 1] == '/')
        c->url[--n] = 0;
    if (token && *token) {
        size_t len = strlen(token) + 32;
        c->auth = xmalloc(len);
        snprintf(c->auth, len, "Authorization: Bearer %s", token);
    }
    return c;
}

client_t *client_new_like(const client_t *c, const char *base_url)
{
    client_t *n = client_new(base_url, NULL);
    if (n && c->auth)
        n->auth = xstrdup(c->auth);
    return n;
}

void client_free(client_t *c)
{
    if (!c)
        return;
    curl_multi_cleanup(c->multi);
    free(c->url);
    free(c->auth);
    free(c);
}

const char *client_url(const client_t *c)
{
    return c->url;
}

void client_resp_free(client_resp_t *r)
{
    if (r)
        sbuf_free(&r->body);
}

/* ---- one transfer -------------------------------------------------------- */

typedef struct xfer {
    client_resp_t  *r;
    /* streaming: events go to fn once the status is known to be 200 */
    client_event_fn fn;
    client_tick_fn  tick;
    void           *ctx;
    sse_parser_t    sse;
    int             stopped;    /* fn asked to stop */
    FILE           *file;       /* a 200 answer goes here (downloads) */
    int             file_err;   /* writing it failed: errno */
} xfer_t;

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    xfer_t *x = arg;
    size_t len = size * n;
    if (x->file && x->r->status == 200) {
        if (fwrite(p, 1, len, x->file) != len) {
            x->file_err = errno ? errno : EIO;
            return 0;
        }
        return len;
    }
    if (x->fn && x->r->status == 200) {
        if (sse_feed(&x->sse, p, len, x->fn, x->ctx)) {
            x->stopped = 1;
            return 0;     /* ends the transfer */
        }
        return len;
    }
    sbuf_addn(&x->r->body, p, len);
    return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    xfer_t *x = arg;
    size_t len = size * n;
    if (len > 9 && strncmp(p, "HTTP/", 5) == 0) {
        /* "HTTP/1.1 200 OK": a new response (after a redirect or 100) */
        const char *sp = memchr(p, ' ', len);
        x->r->status = sp ? strtol(sp + 1, NULL, 10) : 0;
    } else if (len > 13 && strncasecmp(p, "Content-Type:", 13) == 0) {
        const char *v = p + 13;
        size_t vl = len - 13;
        while (vl && (*v == ' ' || *v == '\t')) {
            v++;
            vl--;
        }
        while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n'))
            vl--;
        snprintf(x->r->ctype, sizeof(x->r->ctype), "%.*s", (int)vl, v);
    }
    return len;
}

/* Run h to the end, or until Ctrl-C. */
static int perform(client_t *c, CURL *h, xfer_t *x, char *err, size_t errsize)
{
    char ebuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, ebuf);
    curl_multi_add_handle(c->multi, h);
    int running = 1, rc = CLIENT_OK;
    CURLcode res = CURLE_OK;
    while (running) {
        if (sig_interrupted()) {
            rc = CLIENT_EINTR;
            break;
        }
        CURLMcode mc = curl_multi_perform(c->multi, &running);
        if (mc != CURLM_OK) {
            snprintf(err, errsize, "%s", curl_multi_strerror(mc));
            rc = CLIENT_ECONN;
            break;
        }
        if (!running)
            break;
        int watch = sig_fd() >= 0 && !sig_held();
        struct curl_waitfd wfd = {.fd = sig_fd(), .events = CURL_WAIT_POLLIN};
        int nfds = 0;
        mc = curl_multi_poll(c->multi, watch ? &wfd : NULL, watch ? 1 : 0,
                             1000, &nfds);
        if (x->tick)
            x->tick(x->ctx);
        if (mc != CURLM_OK) {
            snprintf(err, errsize, "%s", curl_multi_strerror(mc));
            rc = CLIENT_ECONN;
            break;
        }
    }
    if (rc == CLIENT_OK) {
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(c->multi, &left)))
            if (m->msg == CURLMSG_DONE && m->easy_handle == h)
                res = m->data.result;
        if (res != CURLE_OK && !(x->stopped && res == CURLE_WRITE_ERROR)) {
            long oserr = 0;
            curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &oserr);
            if (res == CURLE_COULDNT_CONNECT && oserr)
                snprintf(err, errsize, "cannot connect to %s: %s", c->url,
                         strerror((int)oserr));
            else if (res == CURLE_OPERATION_TIMEDOUT)
                snprintf(err, errsize, "no answer from %s in time", c->url);
            else
                snprintf(err, errsize, "%s: %s", c->url,
                         *ebuf ? ebuf : curl_easy_strerror(res));
            rc = CLIENT_ECONN;
        }
    }
    curl_multi_remove_handle(c->multi, h);
    return rc;
}

static CURL *easy(client_t *c, const char *path, struct curl_slist **hdrs,
                  xfer_t *x)
{
    CURL *h = curl_easy_init();
    if (!h)
        return NULL;
    sbuf_t url = SBUF_INIT;
    sbuf_add(&url, c->url);
    sbuf_add(&url, path);
    curl_easy_setopt(h, CURLOPT_URL, sbuf_str(&url));
    sbuf_free(&url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "flowsql/" FLOWSQL_VERSION);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    if (c->auth)
        *hdrs = curl_slist_append(*hdrs, c->auth);
    return h;
}

int client_call(client_t *c, const char *method, const char *path,
                const char *body, long timeout_ms, client_resp_t *r,
                char *err, size_t errsize)
{
    memset(r, 0, sizeof(*r));
    xfer_t x = {.r = r};
    struct curl_slist *hdrs = NULL;
    CURL *h = easy(c, path, &hdrs, &x);
    if (!h) {
        snprintf(err, errsize, "cannot start an HTTP request");
        return CLIENT_ECONN;
    }
    hdrs = curl_slist_append(hdrs, "Accept: application/json");
    if (body) {
        hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    if (strcmp(method, "GET") != 0)
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    if (timeout_ms > 0)
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    int rc = perform(c, h, &x, err, errsize);
    curl_easy_cleanup(h);
    curl_slist_free_all(hdrs);
    return rc;
}

int client_download(client_t *c, const char *path, const char *body,
                    const char *accept, FILE *out, client_resp_t *r,
                    char *err, size_t errsize)
{
    memset(r, 0, sizeof(*r));
    xfer_t x = {.r = r, .file = out};
    struct curl_slist *hdrs = NULL;
    CURL *h = easy(c, path, &hdrs, &x);
    if (!h) {
        snprintf(err, errsize, "cannot start an HTTP request");
        return CLIENT_ECONN;
    }
    char acc[160];
    snprintf(acc, sizeof(acc), "Accept: %s", accept);
    hdrs = curl_slist_append(hdrs, acc);
    hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    int rc = perform(c, h, &x, err, errsize);
    curl_easy_cleanup(h);
    curl_slist_free_all(hdrs);
    if (x.file_err) {
        snprintf(err, errsize, "cannot write the answer: %s",
                 strerror(x.file_err));
        rc = CLIENT_ECONN;
    }
    return rc;
}

int client_stream(client_t *c, const char *path, client_event_fn fn,
                  client_tick_fn tick, void *ctx, client_resp_t *r,
                  char *err, size_t errsize)
{
    memset(r, 0, sizeof(*r));
    xfer_t x = {.r = r, .fn = fn, .tick = tick, .ctx = ctx};
    sse_init(&x.sse);
    struct curl_slist *hdrs = NULL;
    CURL *h = easy(c, path, &hdrs, &x);
    if (!h) {
        snprintf(err, errsize, "cannot start an HTTP request");
        return CLIENT_ECONN;
    }
    hdrs = curl_slist_append(hdrs, "Accept: text/event-stream");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    /* The server writes a comment every 15 s: a minute of silence means
     * the connection is gone. */
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);
    int rc = perform(c, h, &x, err, errsize);
    curl_easy_cleanup(h);
    curl_slist_free_all(hdrs);
    sse_free(&x.sse);
    return rc;
}

/* ---- Server-Sent Events --------------------------------------------------- */

void sse_init(sse_parser_t *p)
{
    memset(p, 0, sizeof(*p));
}

void sse_free(sse_parser_t *p)
{
    sbuf_free(&p->line);
    sbuf_free(&p->data);
}

/* One complete line (without its end). Returns fn's verdict. */
static int sse_line(sse_parser_t *p, const char *s, size_t n,
                    client_event_fn fn, void *ctx)
{
    if (n == 0) {
        /* A blank line dispatches the event, if it has data. */
        int stop = 0;
        if (p->has_data)
            stop = fn(ctx, *p->event ? p->event : "message",
                      sbuf_str(&p->data));
        p->has_data = 0;
        p->event[0] = 0;
        p->data.len = 0;
        if (p->data.s)
            p->data.s[0] = 0;
        return stop;
    }
    if (s[0] == ':')
        return 0;                       /* a comment: keepalive */
    const char *colon = memchr(s, ':', n);
    size_t flen = colon ? (size_t)(colon - s) : n;
    const char *v = colon ? colon + 1 : s + n;
    size_t vlen = colon ? n - flen - 1 : 0;
    if (vlen && *v == ' ') {
        v++;
        vlen--;
    }
    if (flen == 5 && strncmp(s, "event", 5) == 0) {
        snprintf(p->event, sizeof(p->event), "%.*s", (int)vlen, v);
    } else if (flen == 4 && strncmp(s, "data", 4) == 0) {
        if (p->has_data)
            sbuf_addc(&p->data, '\n');
        sbuf_addn(&p->data, v, vlen);
        p->has_data = 1;
    }
    /* id and retry: a shell does not reconnect, so they do not matter */
    return 0;
}

int sse_feed(sse_parser_t *p, const char *buf, size_t len, client_event_fn fn,
             void *ctx)
{
    for (size_t i = 0; i < len; i++) {
        char ch = buf[i];
        if (p->skip_lf) {
            p->skip_lf = 0;
            if (ch == '\n')
                continue;
        }
        if (ch == '\r' || ch == '\n') {
            p->skip_lf = ch == '\r';
            int stop = sse_line(p, p->line.s ? p->line.s : "", p->line.len,
                                fn, ctx);
            p->line.len = 0;
            if (stop)
                return 1;
        } else {
            sbuf_addc(&p->line, ch);
        }
    }
    return 0;
}
