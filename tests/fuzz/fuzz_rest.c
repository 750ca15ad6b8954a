/*
 * fuzz_rest.c - libFuzzer target for the REST handlers that parse what a
 * client sends: request bodies (queries create, sql, explain, replay)
 * and query strings (stored windows' from, to, limit, format; drop's
 * keep_data), through a real in-process flowsqld API (libmicrohttpd on
 * loopback, the engine, SQLite storage, the live outputs) (make fuzz).
 *
 * An input is one request: its first byte picks the route (and, with
 * 0x80, "Accept: text/csv"); the rest is "NAME\nQUERY\nBODY", NAME the
 * {name} path segment (empty: the query "q" registered at start), QUERY
 * the query string; both are percent-encoded as sent, so the handlers see
 * every byte. Besides "no crash, no leak, no hang", every answer must be
 * what docs/openapi.yaml promises:
 *   - a status the API gives (no 500: that is a bug to look at);
 *   - an error status carries a JSON object with an "error" string;
 *   - a 200 or 201 in JSON parses, and an ad hoc answer has columns and
 *     rows, with an "error" string only when it was cut.
 * Whatever a request registered is dropped after it, so inputs do not
 * pile up state.
 */
#include "server/app.h"
#include "server/http.h"
#include "server/results.h"
#include "util/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#define EXPECT(cond, what)                                                 \
    do {                                                                   \
        if (!(cond)) {                                                     \
            fprintf(stderr, "fuzz_rest: %s:%d: %s: %s\n", __FILE__,        \
                    __LINE__, #cond, what);                                \
            abort();                                                       \
        }                                                                  \
    } while (0)

static const struct {
    const char *method, *path;   /* "{}" stands for the name */
} routes[] = {
    {"POST", "/api/v1/queries"},
    {"POST", "/api/v1/sql"},
    {"POST", "/api/v1/explain"},
    {"POST", "/api/v1/replay"},
    {"GET", "/api/v1/queries/{}/results"},
    {"GET", "/api/v1/queries/{}"},
    {"DELETE", "/api/v1/queries/{}"},
    {"GET", "/api/v1/queries"},
    {"GET", "/healthz"},
    {"PUT", "/api/v1/queries/{}"},
};
#define NROUTES (sizeof(routes) / sizeof(routes[0]))

static app_t app;
static int port;

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof(a);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &l) < 0)
        abort();
    close(fd);
    return ntohs(a.sin_port);
}

static void put16(uint8_t *p, unsigned v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v) { put16(p, v >> 16); put16(p + 2, v & 0xffff); }
static void put64(uint8_t *p, uint64_t v) { put32(p, (uint32_t)(v >> 32)); put32(p + 4, (uint32_t)v); }

/* A small IPFIX file for replay: a template and three flows. */
static void write_ipfix(const char *path)
{
    static const uint16_t tmpl[][2] = {{8, 4}, {12, 4}, {1, 8}, {2, 8},
                                       {152, 8}, {153, 8}, {4, 1}};
    uint8_t m[512];
    size_t n = 16;
    put16(m + n, 2);                        /* template set */
    put16(m + n + 2, (unsigned)(4 + 4 + 4 * 7));
    put16(m + n + 4, 256);
    put16(m + n + 6, 7);
    n += 8;
    for (int i = 0; i < 7; i++, n += 4) {
        put16(m + n, tmpl[i][0]);
        put16(m + n + 2, tmpl[i][1]);
    }
    size_t set = n;
    put16(m + n, 256);
    n += 4;
    for (uint32_t i = 0; i < 3; i++) {
        put32(m + n, 0x0a000001 + i);
        put32(m + n + 4, 0xc0a80001);
        put64(m + n + 8, 1000 * (i + 1));
        put64(m + n + 16, 10);
        put64(m + n + 24, 1767225600000ULL + i * 1000);
        put64(m + n + 32, 1767225601000ULL + i * 1000);
        m[n + 40] = 6;
        n += 41;
    }
    put16(m + set + 2, (unsigned)(n - set));
    put16(m, 10);
    put16(m + 2, (unsigned)n);
    put32(m + 4, 1767225600);
    put32(m + 8, 0);
    put32(m + 12, 1);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(m, 1, n, f) != n)
        abort();
    fclose(f);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    static char dir[] = "/tmp/flowsql-fuzz-rest.XXXXXX";
    if (!mkdtemp(dir))
        abort();
    char http[64], data[300], queries[300], replay[300], file[340];
    port = free_port();
    snprintf(http, sizeof(http), "127.0.0.1:%d", port);
    snprintf(data, sizeof(data), "%s/data", dir);
    snprintf(queries, sizeof(queries), "%s/queries", dir);
    snprintf(replay, sizeof(replay), "%s/replay", dir);
    mkdir(data, 0700);
    mkdir(queries, 0700);
    mkdir(replay, 0700);
    snprintf(file, sizeof(file), "%s/flows.ipfix", replay);
    write_ipfix(file);
    snprintf(file, sizeof(file), "%s/notipfix", replay);
    FILE *f = fopen(file, "w");
    fputs("hello\n", f);
    fclose(f);
    log_set_level(LOG_ERROR);
    char *args[] = {"fuzz_rest", "--http", http, "--data-dir", data,
                    "--queries-dir", queries, "--replay-dir", replay,
                    "--max-queries", "16", "--adhoc-timeout", "300ms",
                    "--replay-timeout", "300ms", "--adhoc-bytes", "256k",
                    "--adhoc-concurrency", "2", "--http-request-timeout", "5s",
                    NULL};
    config_t cfg;
    diag_t err;
    if (config_load(&cfg, (int)(sizeof(args) / sizeof(args[0])) - 1, args,
                    &err) != 0 ||
        app_init(&app, &cfg, &err) < 0) {
        fprintf(stderr, "fuzz_rest: %s\n", err.msg);
        abort();
    }
    char dbpath[340];
    snprintf(dbpath, sizeof(dbpath), "%s/flowsql.db", data);
    store_config_t sc = {.path = dbpath, .default_retention_ms = 3600000,
                         .max_bytes = -1, .adhoc_time_ms = 300,
                         .adhoc_max_rows = 1000, .adhoc_max_running = 2};
    app.store = store_open(&sc, &err);
    if (!app.store) {
        fprintf(stderr, "fuzz_rest: %s\n", err.msg);
        abort();
    }
    engine_add_output(app.engine, store_output(app.store));
    http_t *h = http_start(&app, &err);
    if (!h || app_start(&app, &err) < 0) {
        fprintf(stderr, "fuzz_rest: %s\n", err.msg);
        abort();
    }
    http_hooks_t hooks;
    results_hooks(&app, &hooks);
    http_set_hooks(h, &hooks);
    return 0;
}

/* Register "q" if a request dropped it; drop whatever else is there. */
static void reset_queries(void)
{
    json_t *list = app_query_list(&app);
    size_t i;
    json_t *q;
    int have_q = 0;
    json_array_foreach(list, i, q) {
        const char *name = json_string_value(json_object_get(q, "name"));
        diag_t err;
        if (name && strcmp(name, "q") == 0)
            have_q = 1;
        else if (name)
            app_query_drop(&app, name, 0, &err);
    }
    json_decref(list);
    if (!have_q) {
        diag_t err;
        char *name = NULL;
        if (app_query_create(&app, "q", "SELECT srcip, count(*) AS n FROM "
                             "flows WINDOW 1s GROUP BY srcip", NULL, SRC_API,
                             NULL, &name, NULL, &err) != AE_OK)
            abort();
        free(name);
    }
}

static void pct(char *out, size_t *n, const uint8_t *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < len; i++) {
        uint8_t c = s[i];
        /* '=' and '&' stay, so the query string has keys and values */
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
            (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.' ||
            c == '=' || c == '&') {
            out[(*n)++] = (char)c;
        } else {
            out[(*n)++] = '%';
            out[(*n)++] = hex[c >> 4];
            out[(*n)++] = hex[c & 15];
        }
    }
}

/* Send one HTTP/1.0 request and read the whole answer (the server closes
 * after it). NULL if no answer came. */
/* A connection to the API from a fresh source address in 127/8: the
 * server closes first, and its TIME_WAIT sockets would otherwise use up
 * the ephemeral ports of 127.0.0.1 in a few thousand runs. */
static int api_connect(void)
{
    static uint32_t seq;
    for (int attempt = 0; attempt < 50; attempt++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        uint32_t src = 0x7f000000u | (1u + (seq++ % 0xfffffdu));
        struct sockaddr_in from = {.sin_family = AF_INET,
                                   .sin_addr.s_addr = htonl(src)};
        struct sockaddr_in a = {.sin_family = AF_INET,
                                .sin_port = htons((uint16_t)port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        struct timeval tv = {10, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        if (bind(fd, (struct sockaddr *)&from, sizeof(from)) == 0 &&
            connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
            return fd;
        int e = errno;
        close(fd);
        if (e == EINTR)     /* libFuzzer's timer: try again at once */
            continue;
        fprintf(stderr, "fuzz_rest: connect: %s\n", strerror(e));
        usleep(100 * 1000);
    }
    return -1;
}

static char *exchange(const char *req, size_t reqlen, const uint8_t *body,
                      size_t blen, size_t *outlen)
{
    int fd = api_connect();
    if (fd < 0)
        return NULL;
    if (send(fd, req, reqlen, MSG_NOSIGNAL) < 0 ||
        (blen && send(fd, body, blen, MSG_NOSIGNAL) < 0)) {
        /* the server may answer early (413) and close */
    }
    size_t cap = 65536, n = 0;
    char *out = malloc(cap + 1);
    for (;;) {
        if (n == cap) {
            cap *= 2;
            out = realloc(out, cap + 1);
        }
        ssize_t r = recv(fd, out + n, cap - n, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            EXPECT(r == 0 || errno == ECONNRESET, "no answer within 10 s");
            break;
        }
        n += (size_t)r;
    }
    close(fd);
    out[n] = 0;
    *outlen = n;
    return out;
}

static void check_answer(size_t route, int csv, const char *resp, size_t n)
{
    if (n == 0)
        return;   /* closed before answering: a body over --max-body */
    EXPECT(strncmp(resp, "HTTP/1.", 7) == 0, "not an HTTP answer");
    int status = atoi(resp + 9);
    static const int known[] = {200, 201, 204, 400, 403, 404, 405, 409,
                                413, 429, 503};
    int ok = 0;
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        ok |= status == known[i];
    if (!ok)
        fprintf(stderr, "fuzz_rest: answer:\n%.2000s\n", resp);
    EXPECT(ok, "a status the API does not give");
    const char *body = strstr(resp, "\r\n\r\n");
    EXPECT(body != NULL, "no end of the head");
    body += 4;
    size_t blen = n - (size_t)(body - resp);
    if (status == 204 || status == 405 || strcmp(routes[route].path, "/healthz") == 0)
        return;
    if (status >= 400) {
        json_error_t je;
        json_t *j = json_loadb(body, blen, 0, &je);
        if (!j || !json_is_string(json_object_get(j, "error")))
            fprintf(stderr, "fuzz_rest: answer:\n%.2000s\n", resp);
        EXPECT(j && json_is_string(json_object_get(j, "error")),
               "an error without a JSON \"error\"");
        json_decref(j);
        return;
    }
    if (csv && (route == 1 || route == 4))
        return;
    json_error_t je;
    json_t *j = json_loadb(body, blen, 0, &je);
    if (!j)
        fprintf(stderr, "fuzz_rest: %s\nanswer:\n%.2000s\n", je.text, resp);
    EXPECT(j != NULL, "a 2xx answer that is not JSON");
    if (route == 1)
        EXPECT(json_is_array(json_object_get(j, "columns")) &&
               json_is_array(json_object_get(j, "rows")),
               "an ad hoc answer without columns and rows");
    json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 65536)
        return 0;
    size_t route = (data[0] & 0x7f) % NROUTES;
    int csv = data[0] & 0x80;
    const uint8_t *rest = data + 1, *end = data + size;
    const uint8_t *nl1 = memchr(rest, '\n', (size_t)(end - rest));
    const uint8_t *name = rest, *name_end = nl1 ? nl1 : end;
    const uint8_t *query = nl1 ? nl1 + 1 : end;
    const uint8_t *nl2 = memchr(query, '\n', (size_t)(end - query));
    const uint8_t *query_end = nl2 ? nl2 : end;
    const uint8_t *body = nl2 ? nl2 + 1 : end;
    size_t blen = (size_t)(end - body);

    size_t cap = 1024 + 3 * (size_t)(query_end - name);
    char *req = malloc(cap);
    size_t n = 0;
    n += (size_t)snprintf(req, cap, "%s ", routes[route].method);
    const char *p = routes[route].path, *brace = strstr(p, "{}");
    if (brace) {
        memcpy(req + n, p, (size_t)(brace - p));
        n += (size_t)(brace - p);
        if (name_end > name)
            pct(req, &n, name, (size_t)(name_end - name));
        else
            req[n++] = 'q';
        p = brace + 2;
    }
    n += (size_t)snprintf(req + n, cap - n, "%s", p);
    if (query_end > query) {
        req[n++] = '?';
        pct(req, &n, query, (size_t)(query_end - query));
    }
    n += (size_t)snprintf(req + n, cap - n,
                          " HTTP/1.0\r\nHost: x\r\nContent-Type: application/json\r\n"
                          "%sContent-Length: %zu\r\n\r\n",
                          csv ? "Accept: text/csv\r\n" : "", blen);
    size_t rlen = 0;
    char *resp = exchange(req, n, body, blen, &rlen);
    EXPECT(resp != NULL, "cannot connect to the API");
    check_answer(route, csv, resp, rlen);
    free(resp);
    free(req);
    reset_queries();
    return 0;
}
