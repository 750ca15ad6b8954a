/*
 * live.c - live views: a continuous SELECT run as a temporary query, and
 * \watch of a registered one. Windows are shown as they close, read from
 * the query's event stream, until Ctrl-C, the window count (-w, \watch
 * name n), or the end of the query.
 *
 * A temporary query belongs to this view: it is dropped when the view
 * ends, however it ends (Ctrl-C, SIGTERM, a lost stream). If even the
 * drop cannot reach the server, the daemon drops it by itself a minute
 * after its last stream client left.
 *
 * Formats: a table per window under a title line; CSV with
 * window_start,window_end before the query's columns, one header for the
 * whole view; JSON, one window object per line as the server sent it.
 */
#include "shell/shell.h"
#include "parser/ast.h"
#include "util/arena.h"
#include "util/timeutil.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define API "/api/v1"

typedef struct live {
    shell_t *sh;
    json_t  *cols;        /* the query's column names, in order */
    long     seen, max;
    int      ended;       /* the server said the query is gone */
    int      header_done; /* CSV */
    int64_t  hint_at;     /* when to say that no window came yet (mono) */
} live_t;

/* The window size of a statement's WINDOW clause, in ms (0: none). */
static int64_t window_size(const char *sql)
{
    arena_t *a = arena_new();
    diag_t err;
    stmt_t *st = parse(a, sql, strlen(sql), &err);
    while (st && st->kind == STMT_EXPLAIN)
        st = st->inner;
    int64_t ms = st && st->select && st->select->window.present
                 ? st->select->window.size : 0;
    arena_free(a);
    return ms;
}

/* A silent screen puzzles: once a window should have closed and none
 * did, say why that can be. */
static void on_tick(void *ctx)
{
    live_t *lv = ctx;
    if (!lv->hint_at || lv->seen || time_mono_ms() < lv->hint_at)
        return;
    lv->hint_at = 0;
    sh_notice(lv->sh, "(No window has closed yet: windows close only when "
              "flows arrive. \\metrics shows what flowsqld receives.)");
}

/* Column names from a query object's "columns" [{name, type, key}]. */
static json_t *column_names(json_t *q)
{
    json_t *names = json_array();
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(q, "columns"), i, c) {
        const char *n = json_string_value(json_object_get(c, "name"));
        if (n)
            json_array_append_new(names, json_string(n));
    }
    return names;
}

/* "2026-05-01T12:00:00.000Z .. 12:00:10.000Z": the end without its date
 * when the window starts and ends the same day. */
static void window_title(sbuf_t *b, json_t *w, int grouped)
{
    const char *s = json_string_value(json_object_get(w, "window_start"));
    const char *e = json_string_value(json_object_get(w, "window_end"));
    s = s ? s : "?";
    e = e ? e : "?";
    if (strlen(s) > 11 && strlen(e) > 11 && strncmp(s, e, 11) == 0)
        e += 11;
    sbuf_printf(b, "Window %s .. %s", s, e);
    json_t *f = json_object_get(w, "flows");
    if (json_is_integer(f)) {
        char num[32];
        snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(f));
        sbuf_add(b, ", ");
        if (grouped)
            out_group_digits(b, num);
        else
            sbuf_add(b, num);
        sbuf_add(b, json_integer_value(f) == 1 ? " flow" : " flows");
    }
}

static void show_window(live_t *lv, json_t *w)
{
    live_show_window(lv->sh, lv->cols, w, &lv->header_done);
}

void live_show_window(shell_t *sh, json_t *qcols, json_t *w, int *header_done)
{
    json_t *rows = json_object_get(w, "rows");
    sbuf_t b = SBUF_INIT;
    if (sh->format == FMT_JSON) {
        out_json(&b, w);
        sbuf_addc(&b, '\n');
        out_emit(sh, sbuf_str(&b), b.len, 0);
        sbuf_free(&b);
        return;
    }
    /* The column order is the query's; a query described without
     * columns falls back on the first row's keys. */
    if (json_array_size(qcols) == 0 && json_array_size(rows) > 0) {
        const char *k;
        json_t *v;
        json_object_foreach(json_array_get(rows, 0), k, v)
            json_array_append_new(qcols, json_string(k));
    }
    int csv = sh->format == FMT_CSV;
    json_t *cols = json_array(), *tab = json_array();
    if (csv) {
        json_array_append_new(cols, json_string("window_start"));
        json_array_append_new(cols, json_string("window_end"));
    }
    json_array_extend(cols, qcols);
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row) {
        json_t *r = json_array();
        if (csv) {
            json_array_append(r, json_object_get(w, "window_start"));
            json_array_append(r, json_object_get(w, "window_end"));
        }
        for (size_t c = 0; c < json_array_size(qcols); c++) {
            json_t *v = json_object_get(row, json_string_value(
                                                 json_array_get(qcols, c)));
            json_array_append(r, v ? v : json_null());
        }
        json_array_append_new(tab, r);
    }
    if (csv) {
        out_csv(&b, cols, tab, !*header_done);
        *header_done = 1;
    } else {
        sbuf_t title = SBUF_INIT;
        window_title(&title, w, sh->grouped);
        table_opts_t o = {.grouped = sh->grouped, .footer = 1,
                          .title = sbuf_str(&title)};
        out_table(&b, cols, tab, &o);
        sbuf_addc(&b, '\n');
        sbuf_free(&title);
    }
    out_emit(sh, sbuf_str(&b), b.len, 0);
    sbuf_free(&b);
    json_decref(cols);
    json_decref(tab);
}

static int on_event(void *ctx, const char *event, const char *data)
{
    live_t *lv = ctx;
    if (strcmp(event, "end") == 0) {
        lv->ended = 1;
        return 1;
    }
    if (strcmp(event, "window") != 0)
        return 0;
    json_t *w = json_loads(data, 0, NULL);
    if (!w)
        return 0;
    show_window(lv, w);
    json_decref(w);
    lv->seen++;
    return lv->max > 0 && lv->seen >= lv->max;
}

/* Follow name's stream; the view's outcome as an sh_status. */
static int follow(shell_t *sh, const char *name, json_t *cols, long max,
                  int64_t size, int *ended)
{
    live_t lv = {.sh = sh, .cols = cols, .max = max};
    if (size > 0 && isatty(STDERR_FILENO))
        lv.hint_at = time_mono_ms() + size + 3000;
    client_resp_t r;
    char err[512];
    char *path = sh_query_path(sh, name, "/stream");
    int rc = client_stream(sh->cl, path, on_event, on_tick, &lv, &r, err,
                           sizeof(err));
    free(path);
    *ended = lv.ended;
    int st = SH_OK;
    if (rc == CLIENT_EINTR) {
        /* Ctrl-C is how a live view ends: not an error. SIGTERM stays
         * pending, for the caller to exit on. The terminal echoed "^C":
         * what follows goes on a line of its own. */
        if (!sig_terminated())
            sig_clear();
        if (isatty(STDERR_FILENO) && !sh->quiet)
            fputc('\n', stderr);
    } else if (rc == CLIENT_ECONN) {
        sh_error(sh, "%s", err);
        st = SH_CONN;
    } else if (r.status != 200) {
        st = sh_http_error(sh, &r);
    } else if (lv.ended) {
        sh_notice(sh, "query \"%s\" was dropped; the live view ends", name);
    } else if (!(max > 0 && lv.seen >= max)) {
        sh_error(sh, "the server closed the stream of \"%s\"", name);
        st = SH_CONN;
    }
    client_resp_free(&r);
    return st;
}

int live_select(shell_t *sh, const char *sql)
{
    json_t *o = json_pack("{s:s,s:b}", "sql", sql, "temporary", 1);
    char *body = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    client_resp_t r;
    int rc = sh_call(sh, "POST", API "/queries", body, &r);
    free(body);
    if (rc != SH_OK)
        return rc;
    if (r.status != 201) {
        rc = sh_http_error(sh, &r);
        client_resp_free(&r);
        return rc;
    }
    json_t *q = sh_resp_json(&r);
    client_resp_free(&r);
    const char *n = json_string_value(json_object_get(q, "name"));
    if (!n) {
        json_decref(q);
        sh_error(sh, "the server registered the query without a name");
        return SH_ERR;
    }
    char *name = xstrdup(n);
    json_t *cols = column_names(q);
    json_decref(q);
    sh_notice(sh, "Live view of temporary query %s: each window as it "
              "closes. Ctrl-C stops it.", name);
    int ended = 0;
    rc = follow(sh, name, cols, sh->max_windows, window_size(sql), &ended);
    if (!ended) {
        /* Ours to drop, even after Ctrl-C or SIGTERM: a short call that
         * no signal cuts. */
        char err[512];
        char *path = sh_query_path(sh, name, NULL);
        client_resp_t d;
        sig_hold(1);
        int drc = client_call(sh->cl, "DELETE", path, NULL, 5000, &d, err,
                              sizeof(err));
        sig_hold(0);
        if (drc != CLIENT_OK)
            sh_notice(sh, "could not drop temporary query %s (%s); the "
                      "server drops it within a minute", name, err);
        else if (d.status != 204 && d.status != 404)
            sh_notice(sh, "could not drop temporary query %s (HTTP %ld); "
                      "the server drops it within a minute", name, d.status);
        else
            sh_notice(sh, "Stopped; temporary query %s dropped.", name);
        client_resp_free(&d);
        free(path);
    }
    json_decref(cols);
    free(name);
    return rc;
}

int live_watch(shell_t *sh, const char *name, long max_windows)
{
    json_t *q;
    int rc = sh_get_query(sh, name, &q);
    if (rc != SH_OK)
        return rc;
    json_t *cols = column_names(q);
    const char *sql = json_string_value(json_object_get(q, "sql"));
    int64_t size = sql ? window_size(sql) : 0;
    json_decref(q);
    sh_notice(sh, "Watching \"%s\": each window as it closes. Ctrl-C "
              "stops.", name);
    int ended;
    rc = follow(sh, name, cols, max_windows, size, &ended);
    if (rc == SH_OK && !ended)
        sh_notice(sh, "Stopped watching \"%s\".", name);
    json_decref(cols);
    return rc;
}
