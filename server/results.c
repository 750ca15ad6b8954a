/*
 * results.c - stored data and file replays for the REST API; see
 * results.h.
 */
#include "server/results.h"
#include "engine/engine.h"
#include "engine/qhandle.h"
#include "ingest/ingest.h"
#include "sinks/format.h"
#include "util/arena.h"
#include "util/file.h"
#include "util/log.h"
#include "util/timeutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static json_t *cell_json(const store_value_t *v)
{
    char buf[64];
    switch (v->t) {
    case SV_NULL: return json_null();
    case SV_INT:
    case SV_DURATION: return json_integer(v->v.i);
    case SV_BOOL: return json_boolean(v->v.i);
    case SV_FLOAT: return json_real(v->v.f);
    case SV_TEXT: {
        json_t *j = json_stringn(v->v.s, v->len);
        if (j)
            return j;
        /* Not UTF-8: the bytes, as a blob is shown. */
        store_value_t b = *v;
        b.t = SV_BLOB;
        return cell_json(&b);
    }
    case SV_IP: return json_string(ipaddr_format(&v->v.ip, buf, sizeof(buf)));
    case SV_TIME: return json_string(time_format_iso(v->v.i, buf, sizeof(buf)));
    case SV_BLOB: {
        sbuf_t b = SBUF_INIT;
        sbuf_add(&b, "x'");
        for (uint32_t i = 0; i < v->len; i++)
            sbuf_printf(&b, "%02x", (unsigned char)v->v.s[i]);
        sbuf_addc(&b, '\'');
        json_t *j = json_string(sbuf_str(&b));
        sbuf_free(&b);
        return j;
    }
    }
    return json_null();
}

static void csv_cell(sbuf_t *b, const store_value_t *v)
{
    json_t *j = cell_json(v);
    format_csv_json(b, j);
    json_decref(j);
}

/* CSV of a result, leaving out column skip (-1: none). */
static char *result_csv(const store_result_t *r, int skip)
{
    sbuf_t b = SBUF_INIT;
    int first = 1;
    for (int c = 0; c < r->ncols; c++) {
        if (c == skip)
            continue;
        if (!first)
            sbuf_addc(&b, ',');
        first = 0;
        format_csv_text(&b, r->names[c]);
    }
    sbuf_add(&b, "\r\n");
    for (uint64_t i = 0; i < r->nrows; i++) {
        first = 1;
        for (int c = 0; c < r->ncols; c++) {
            if (c == skip)
                continue;
            if (!first)
                sbuf_addc(&b, ',');
            first = 0;
            csv_cell(&b, store_result_cell(r, i, c));
        }
        sbuf_add(&b, "\r\n");
    }
    return sbuf_detach(&b);
}

/* The HTTP status class of a storage error. */
static int status_of(int store_rc)
{
    switch (store_rc) {
    case STORE_ENOTFOUND: return AE_NOTFOUND;
    case STORE_EINVALID:
    case STORE_EREFUSED:
    case STORE_ETIMEOUT: return AE_BAD;
    case STORE_EBUSY: return AE_LIMIT;
    default: return AE_INTERNAL;
    }
}

/* ---- ad hoc answers, streamed -------------------------------------------- */

/* POST /sql answers a row at a time: the cursor holds the statement, the
 * answer is formatted as the client takes it, so memory holds one row
 * and what the socket has not taken. The answer stops at --adhoc-bytes
 * ("truncated": true) and at the time limit, which runs until the last
 * byte is handed over: an error after the answer began ends it with an
 * "error" member (JSON) or a last line "#error: message" (CSV). */
typedef struct adhoc_body {
    http_body_t     base;
    store_cursor_t *cur;
    int             csv;
    int64_t         max_bytes, sent;
    sbuf_t          buf;         /* formatted, not yet handed over */
    size_t          off;
    int             nrows, truncated, finished;
    sbuf_t          row;
} adhoc_body_t;

static const char *value_type(const store_value_t *v)
{
    switch (v->t) {
    case SV_INT: return "int";
    case SV_FLOAT: return "float";
    case SV_TEXT: return "string";
    case SV_IP: return "ip";
    case SV_TIME: return "time";
    case SV_BOOL: return "bool";
    case SV_DURATION: return "duration";
    default: return "any";
    }
}

static void json_add(sbuf_t *b, json_t *j)
{
    char *t = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY |
                            JSON_REAL_PRECISION(17));
    sbuf_add(b, t);
    free(t);
    json_decref(j);
}

/* One row as JSON ([...]) or a CSV line, into b. */
static void adhoc_row(adhoc_body_t *ab, sbuf_t *b, const store_value_t *row)
{
    int n = store_cursor_ncols(ab->cur);
    if (ab->csv) {
        for (int c = 0; c < n; c++) {
            if (c)
                sbuf_addc(b, ',');
            csv_cell(b, &row[c]);
        }
        sbuf_add(b, "\r\n");
        return;
    }
    json_t *r = json_array();
    for (int c = 0; c < n; c++)
        json_array_append_new(r, cell_json(&row[c]));
    json_add(b, r);
}

/* The head: JSON up to "rows":[ (types of expressions from the first
 * row), or the CSV header line. */
static void adhoc_head(adhoc_body_t *ab, const store_value_t *first)
{
    int n = store_cursor_ncols(ab->cur);
    sbuf_t *b = &ab->buf;
    if (ab->csv) {
        for (int c = 0; c < n; c++) {
            if (c)
                sbuf_addc(b, ',');
            format_csv_text(b, store_cursor_name(ab->cur, c));
        }
        sbuf_add(b, "\r\n");
        return;
    }
    json_t *cols = json_array(), *types = json_array();
    for (int c = 0; c < n; c++) {
        type_t t = store_cursor_type(ab->cur, c);
        json_array_append_new(cols, json_string(store_cursor_name(ab->cur, c)));
        json_array_append_new(types, json_string(
            t != TYPE_NONE ? type_name(t) : first ? value_type(&first[c])
                                                  : "any"));
    }
    sbuf_add(b, "{\"columns\":");
    json_add(b, cols);
    sbuf_add(b, ",\"types\":");
    json_add(b, types);
    sbuf_add(b, ",\"rows\":[");
}

/* The end of the answer, with the error that cut it (NULL: none). */
static void adhoc_tail(adhoc_body_t *ab, const char *error)
{
    sbuf_t *b = &ab->buf;
    ab->finished = 1;
    if (ab->csv) {
        if (error)
            sbuf_printf(b, "#error: %s\r\n", error);
        return;
    }
    sbuf_printf(b, "],\"truncated\":%s,\"elapsed_ms\":%lld",
                ab->truncated ? "true" : "false",
                (long long)store_cursor_elapsed_ms(ab->cur));
    if (error) {
        sbuf_add(b, ",\"error\":");
        json_add(b, json_string(error));
    }
    sbuf_addc(b, '}');
}

/* Append a formatted row unless it would take the answer past
 * --adhoc-bytes (then end it, truncated). */
static void adhoc_add_row(adhoc_body_t *ab, const store_value_t *row)
{
    sbuf_t *r = &ab->row;
    r->len = 0;
    if (!ab->csv && ab->nrows)
        sbuf_addc(r, ',');
    adhoc_row(ab, r, row);
    int64_t total = ab->sent + (int64_t)(ab->buf.len - ab->off) +
                    (int64_t)r->len;
    if (ab->max_bytes > 0 && total > ab->max_bytes - 200) {
        ab->truncated = 1;
        adhoc_tail(ab, NULL);
        return;
    }
    sbuf_addn(&ab->buf, r->s, r->len);
    ab->nrows++;
}

static size_t adhoc_read(http_body_t *hb, char *out, size_t max)
{
    adhoc_body_t *ab = (adhoc_body_t *)hb;
    while (ab->off >= ab->buf.len && !ab->finished) {
        ab->buf.len = 0;
        ab->off = 0;
        diag_t err;
        diag_clear(&err);
        const store_value_t *row;
        int rc = store_cursor_check_time(ab->cur, &err);
        if (rc == 0)
            rc = store_cursor_next(ab->cur, &row, &err);
        if (rc == 1) {
            adhoc_add_row(ab, row);
        } else {
            if (rc == 0)
                ab->truncated = store_cursor_truncated(ab->cur);
            adhoc_tail(ab, rc < 0 ? err.msg : NULL);
        }
    }
    size_t n = ab->buf.len - ab->off;
    if (n > max)
        n = max;
    memcpy(out, ab->buf.s + ab->off, n);
    ab->off += n;
    ab->sent += (int64_t)n;
    return n;
}

static void adhoc_free(http_body_t *hb)
{
    adhoc_body_t *ab = (adhoc_body_t *)hb;
    store_cursor_close(ab->cur);
    sbuf_free(&ab->buf);
    sbuf_free(&ab->row);
    free(ab);
}

/* Open the statement and read its first row, so an error there (the
 * usual case) is still a plain error status; then the body streams. */
static int hook_sql(void *ctx, const char *sql, int csv, http_body_t **body,
                    diag_t *err)
{
    app_t *a = ctx;
    store_cursor_t *cur = NULL;
    int rc = store_cursor_open(a->store, sql, NULL, &cur, err);
    if (rc != STORE_OK)
        return status_of(rc);
    const store_value_t *first = NULL;
    rc = store_cursor_next(cur, &first, err);
    if (rc < 0) {
        store_cursor_close(cur);
        return status_of(rc);
    }
    adhoc_body_t *ab = xcalloc(1, sizeof(*ab));
    ab->base.read = adhoc_read;
    ab->base.free = adhoc_free;
    ab->cur = cur;
    ab->csv = csv;
    ab->max_bytes = a->cfg.adhoc_bytes;
    adhoc_head(ab, first);
    if (rc == 1) {
        adhoc_add_row(ab, first);
    } else {
        ab->truncated = store_cursor_truncated(cur);
        adhoc_tail(ab, NULL);
    }
    *body = &ab->base;
    return AE_OK;
}

/* Stored rows, grouped into windows: [{"query", "window_start", ...,
 * "partial", "parts", "rows": [{...}]}], oldest first; `limit` counts
 * windows. partial and parts come from flowsql_windows (store_windows),
 * read over the same range and walked beside the rows. */
static int hook_results(void *ctx, const char *name, int64_t from, int64_t to,
                        int64_t limit, int csv, char **body, diag_t *err)
{
    app_t *a = ctx;
    store_result_t *r = NULL;
    /* Rows, not windows, bound the read: ask for enough rows and cut at
     * the window limit below. */
    int rc = store_results(a->store, name, from, to, 0, &r, err);
    if (rc != STORE_OK)
        return status_of(rc);
    store_result_t *wl = NULL;
    if (!csv && (rc = store_windows(a->store, name, from, to, &wl, err)) !=
                    STORE_OK) {
        store_result_free(r);
        return status_of(rc);
    }
    char qname[QNAME_MAX];
    qname_norm(qname, name);
    uint64_t wi = 0;
    int ws = -1, we = -1, wr = -1;
    for (int c = 0; c < r->ncols; c++) {
        if (strcmp(r->names[c], "window_start") == 0)
            ws = c;
        else if (strcmp(r->names[c], "window_end") == 0)
            we = c;
        else if (strcmp(r->names[c], "window_row") == 0)
            wr = c;   /* the storage's row order within a window */
    }
    if (csv) {
        *body = result_csv(r, wr);
        store_result_free(r);
        return AE_OK;
    }
    json_t *arr = json_array(), *win = NULL, *rows = NULL;
    int64_t cur = INT64_MIN;
    int64_t nwin = 0;
    for (uint64_t i = 0; i < r->nrows && ws >= 0; i++) {
        int64_t start = store_result_cell(r, i, ws)->v.i;
        if (!win || start != cur) {
            if (limit > 0 && nwin == limit)
                break;
            char buf[40];
            int64_t end = we >= 0 ? store_result_cell(r, i, we)->v.i : start;
            win = json_object();
            json_object_set_new(win, "query", json_string(qname));
            json_object_set_new(win, "window_start",
                                json_string(time_format_iso(start, buf, sizeof(buf))));
            json_object_set_new(win, "window_end",
                                json_string(time_format_iso(end, buf, sizeof(buf))));
            json_object_set_new(win, "window_start_ms", json_integer(start));
            json_object_set_new(win, "window_end_ms", json_integer(end));
            while (wi < wl->nrows && store_result_cell(wl, wi, 0)->v.i < start)
                wi++;
            int listed = wi < wl->nrows &&
                         store_result_cell(wl, wi, 0)->v.i == start;
            json_object_set_new(win, "partial", json_boolean(
                listed && store_result_cell(wl, wi, 3)->v.i));
            json_object_set_new(win, "parts", json_integer(
                listed ? store_result_cell(wl, wi, 4)->v.i : 1));
            rows = json_array();
            json_object_set_new(win, "rows", rows);
            json_array_append_new(arr, win);
            cur = start;
            nwin++;
        }
        json_t *row = json_object();
        for (int c = 0; c < r->ncols; c++)
            if (c != ws && c != we && c != wr)
                json_object_set_new(row, r->names[c],
                                    cell_json(store_result_cell(r, i, c)));
        json_array_append_new(rows, row);
    }
    store_result_free(r);
    store_result_free(wl);
    *body = json_dumps(arr, JSON_COMPACT | JSON_REAL_PRECISION(17));
    json_decref(arr);
    return AE_OK;
}

/* ---- a query over a file --------------------------------------------- */

#define REPLAY_OFF 403      /* HTTP status: replay is not configured */
#define REPLAY_MAX_WINDOWS 100000

typedef struct replay {
    engine_t *e;
    sbuf_t    windows;      /* "[w1,w2..." as JSON text */
    int64_t   nwindows, max_bytes;
    output_t  out;
    int       truncated;
} replay_t;

/* Append the window's JSON unless the answer is full (by windows or by
 * --adhoc-bytes): the text is the only copy kept. */
static void replay_window(output_t *o, rowset_t *rs)
{
    replay_t *r = o->ctx;
    if (r->truncated)
        return;
    json_t *j = format_window(rs);
    char *txt = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(17));
    json_decref(j);
    size_t n = strlen(txt);
    if (r->nwindows >= REPLAY_MAX_WINDOWS ||
        (r->max_bytes > 0 && (int64_t)(r->windows.len + n + 1) > r->max_bytes)) {
        r->truncated = 1;
    } else {
        sbuf_addc(&r->windows, r->nwindows ? ',' : '[');
        sbuf_addn(&r->windows, txt, n);
        r->nwindows++;
    }
    free(txt);
}

static void replay_emit(void *ctx, flow_batch_t *b)
{
    replay_t *r = ctx;
    engine_process(r->e, b);
}

/* Open file under --replay-dir. Every refusal (absolute, "..", symlink,
 * FIFO, device, missing) is the same 404 naming only what the client
 * sent, so nothing is learnt about the rest of the file system. */
static int replay_open(app_t *a, const char *file, diag_t *err)
{
    const char *dir = a->cfg.replay_dir;
    int dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        log_warn("http", "replay: cannot open --replay-dir %s: %s", dir,
                 strerror(errno));
        diag_set(err, "%s: no such file in %s", file, dir);
        return -1;
    }
    int fd = file_open_beneath(dfd, dir, file, err);
    close(dfd);
    return fd;
}

/* POST /replay: the statement over an IPFIX file under --replay-dir,
 * {"windows": [...], "truncated", "file": {counts}}; 403 when replay is
 * off, 404 for a file it may not or cannot read, 400 for a bad
 * statement, a file that is not IPFIX or past --replay-timeout. */
static int hook_replay(void *ctx, const char *sql, const char *file,
                       char **body, diag_t *err)
{
    app_t *a = ctx;
    if (!a->cfg.replay_dir || !*a->cfg.replay_dir) {
        diag_set(err, "replay is off: flowsqld replays IPFIX files only "
                 "from the directory --replay-dir names");
        return REPLAY_OFF;
    }
    plan_t *p = plan_compile(sql, strlen(sql), a->cfg.max_groups, err);
    if (!p)
        return AE_BAD;
    const stmt_t *st = plan_target(p);
    if (p->stmt->kind != STMT_SELECT && st->kind != STMT_CREATE) {
        plan_free(p);
        diag_set(err, "replay runs a SELECT over flows");
        return AE_BAD;
    }
    int fd = replay_open(a, file, err);
    if (fd < 0) {
        plan_free(p);
        return AE_NOTFOUND;
    }
    engine_config_t ec = {.replay = 1, .max_groups = a->cfg.max_groups};
    replay_t r = {.windows = SBUF_INIT, .max_bytes = a->cfg.adhoc_bytes};
    r.e = engine_new(&ec);
    r.out.name = "replay";
    r.out.on_window = replay_window;
    r.out.ctx = &r;
    engine_add_output(r.e, &r.out);
    if (engine_register(r.e, p->name ? p->name : "replay", p, err) < 0) {
        plan_free(p);
        engine_free(r.e);
        close(fd);
        return AE_BAD;
    }
    ingest_file_result_t res;
    int rc = ingest_read_fd(fd, file, a->cfg.replay_timeout_ms, replay_emit,
                            &r, &res, err);
    close(fd);
    if (rc == 0)
        engine_finish(r.e);
    engine_free(r.e);
    if (rc < 0) {
        sbuf_free(&r.windows);
        return AE_BAD;
    }
    sbuf_t b = SBUF_INIT;
    sbuf_add(&b, "{\"windows\":");
    sbuf_add(&b, r.nwindows ? sbuf_str(&r.windows) : "[");
    sbuf_free(&r.windows);
    sbuf_printf(&b, "],\"truncated\":%s,\"file\":{\"messages\":%llu,"
                "\"records\":%llu,\"decode_errors\":%llu,"
                "\"unknown_template_records\":%llu}}",
                r.truncated ? "true" : "false",
                (unsigned long long)res.messages,
                (unsigned long long)res.records,
                (unsigned long long)res.decode_errors,
                (unsigned long long)res.unknown_tmpl);
    *body = sbuf_detach(&b);
    return AE_OK;
}

void results_hooks(app_t *a, http_hooks_t *hooks)
{
    memset(hooks, 0, sizeof(*hooks));
    hooks->ctx = a;
    hooks->replay = hook_replay;
    if (a->store) {
        hooks->sql = hook_sql;
        hooks->results = hook_results;
    }
}
