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
#include "util/timeutil.h"

#include <stdlib.h>
#include <string.h>

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

typedef struct replay {
    engine_t *e;
    json_t   *windows;
    output_t  out;
    int64_t   max_windows;
    int       truncated;
} replay_t;

static void replay_window(output_t *o, rowset_t *rs)
{
    replay_t *r = o->ctx;
    if ((int64_t)json_array_size(r->windows) >= r->max_windows) {
        r->truncated = 1;
        return;
    }
    json_array_append_new(r->windows, format_window(rs));
}

static void replay_emit(void *ctx, flow_batch_t *b)
{
    replay_t *r = ctx;
    engine_process(r->e, b);
}

static int hook_replay(void *ctx, const char *sql, const char *file,
                       char **body, diag_t *err)
{
    app_t *a = ctx;
    plan_t *p = plan_compile(sql, strlen(sql), a->cfg.max_groups, err);
    if (!p)
        return AE_BAD;
    const stmt_t *st = plan_target(p);
    if (p->stmt->kind != STMT_SELECT && st->kind != STMT_CREATE) {
        plan_free(p);
        diag_set(err, "replay runs a SELECT over flows");
        return AE_BAD;
    }
    engine_config_t ec = {.replay = 1, .max_groups = a->cfg.max_groups};
    replay_t r = {.windows = json_array(), .max_windows = 100000};
    r.e = engine_new(&ec);
    r.out.name = "replay";
    r.out.on_window = replay_window;
    r.out.ctx = &r;
    engine_add_output(r.e, &r.out);
    if (engine_register(r.e, p->name ? p->name : "replay", p, err) < 0) {
        plan_free(p);
        engine_free(r.e);
        json_decref(r.windows);
        return AE_BAD;
    }
    ingest_file_result_t res;
    int rc = ingest_read_file(file, replay_emit, &r, &res, err);
    engine_finish(r.e);
    engine_free(r.e);
    if (rc < 0) {
        json_decref(r.windows);
        return AE_BAD;
    }
    json_t *o = json_object();
    json_object_set_new(o, "windows", r.windows);
    json_object_set_new(o, "truncated", json_boolean(r.truncated));
    json_t *fs = json_object();
    json_object_set_new(fs, "messages", json_integer((json_int_t)res.messages));
    json_object_set_new(fs, "records", json_integer((json_int_t)res.records));
    json_object_set_new(fs, "decode_errors", json_integer((json_int_t)res.decode_errors));
    json_object_set_new(fs, "unknown_template_records", json_integer((json_int_t)res.unknown_tmpl));
    json_object_set_new(o, "file", fs);
    *body = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(17));
    json_decref(o);
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
