/*
 * results.c - stored data and file replays for the REST API; see
 * results.h.
 */
#include "server/results.h"
#include "engine/engine.h"
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
    case SV_TEXT: return json_stringn(v->v.s, v->len);
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

static const char *vtype_name(const store_result_t *r, int c)
{
    if (r->types[c] != TYPE_NONE)
        return type_name(r->types[c]);
    /* An expression: say what its first value is. */
    if (r->nrows) {
        switch (store_result_cell(r, 0, c)->t) {
        case SV_INT: return "int";
        case SV_FLOAT: return "float";
        case SV_TEXT: return "string";
        case SV_IP: return "ip";
        case SV_TIME: return "time";
        case SV_BOOL: return "bool";
        case SV_DURATION: return "duration";
        default: break;
        }
    }
    return "any";
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

char *results_adhoc_text(const store_result_t *r, int csv)
{
    if (csv)
        return result_csv(r, -1);
    json_t *o = json_object(), *cols = json_array(), *types = json_array(),
           *rows = json_array();
    for (int c = 0; c < r->ncols; c++) {
        json_array_append_new(cols, json_string(r->names[c]));
        json_array_append_new(types, json_string(vtype_name(r, c)));
    }
    for (uint64_t i = 0; i < r->nrows; i++) {
        json_t *row = json_array();
        for (int c = 0; c < r->ncols; c++)
            json_array_append_new(row, cell_json(store_result_cell(r, i, c)));
        json_array_append_new(rows, row);
    }
    json_object_set_new(o, "columns", cols);
    json_object_set_new(o, "types", types);
    json_object_set_new(o, "rows", rows);
    json_object_set_new(o, "truncated", json_boolean(r->truncated));
    json_object_set_new(o, "elapsed_ms", json_integer(r->elapsed_ms));
    char *s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(17));
    json_decref(o);
    return s;
}

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

static int hook_sql(void *ctx, const char *sql, int csv, char **body,
                    diag_t *err)
{
    app_t *a = ctx;
    store_result_t *r = NULL;
    int rc = store_adhoc(a->store, sql, NULL, &r, err);
    if (rc != STORE_OK)
        return status_of(rc);
    *body = results_adhoc_text(r, csv);
    store_result_free(r);
    return AE_OK;
}

/* Stored rows, grouped into windows: [{"query", "window_start", ...,
 * "rows": [{...}]}], oldest first; `limit` counts windows. */
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
            json_object_set_new(win, "query", json_string(name));
            json_object_set_new(win, "window_start",
                                json_string(time_format_iso(start, buf, sizeof(buf))));
            json_object_set_new(win, "window_end",
                                json_string(time_format_iso(end, buf, sizeof(buf))));
            json_object_set_new(win, "window_start_ms", json_integer(start));
            json_object_set_new(win, "window_end_ms", json_integer(end));
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
