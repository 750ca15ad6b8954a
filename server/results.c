/*
 * results.c - stored data and file replays for the REST API; see
 * results.h.
 */
#include "server/results.h"
#include "archive/aquery.h"
#include "enrich/anon.h"
#include "enrich/enrich.h"
#include "engine/engine.h"
#include "engine/qhandle.h"
#include "ingest/ingest.h"
#include "sinks/format.h"
#include "util/arena.h"
#include "util/file.h"
#include "util/log.h"
#include "util/timeutil.h"
#include "util/jsonfmt.h"

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

/* Where the rows of an answer come from: a SQLite cursor over the stored
 * windows, or a query over the archive. */
typedef struct rowsrc {
    int         (*ncols)(void *c);
    const char *(*name)(void *c, int col);
    type_t      (*type)(void *c, int col);     /* TYPE_NONE: unknown */
    /* 1 with *row, 0 at the end, < 0 with err set */
    int         (*next)(void *c, const store_value_t **row, diag_t *err);
    int         (*check_time)(void *c, diag_t *err);
    int         (*truncated)(void *c);
    int64_t     (*elapsed_ms)(void *c);
    void        (*tail)(void *c, sbuf_t *b);   /* more JSON members, or NULL */
    void        (*close)(void *c);
} rowsrc_t;

/* POST /sql answers a row at a time: the source holds the statement, the
 * answer is formatted as the client takes it, so memory holds one row
 * and what the socket has not taken. The answer stops at --adhoc-bytes
 * ("truncated": true) and at the time limit, which runs until the last
 * byte is handed over: an error after the answer began ends it with an
 * "error" member (JSON) or a last line "#error: message" (CSV). */
typedef struct adhoc_body {
    http_body_t     base;
    const rowsrc_t *src;
    void           *cur;
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
    char *t = json_dumps_short(j, JSON_COMPACT | JSON_ENCODE_ANY);
    sbuf_add(b, t);
    free(t);
    json_decref(j);
}

/* One row as JSON ([...]) or a CSV line, into b. */
static void adhoc_row(adhoc_body_t *ab, sbuf_t *b, const store_value_t *row)
{
    int n = ab->src->ncols(ab->cur);
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
    int n = ab->src->ncols(ab->cur);
    sbuf_t *b = &ab->buf;
    if (ab->csv) {
        for (int c = 0; c < n; c++) {
            if (c)
                sbuf_addc(b, ',');
            format_csv_text(b, ab->src->name(ab->cur, c));
        }
        sbuf_add(b, "\r\n");
        return;
    }
    json_t *cols = json_array(), *types = json_array();
    for (int c = 0; c < n; c++) {
        type_t t = ab->src->type(ab->cur, c);
        json_array_append_new(cols, json_string(ab->src->name(ab->cur, c)));
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
                (long long)ab->src->elapsed_ms(ab->cur));
    if (ab->src->tail)
        ab->src->tail(ab->cur, b);
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
    if (ab->max_bytes > 0 && total > ab->max_bytes - 400) {
        ab->truncated = 1;
        adhoc_tail(ab, NULL);
        return;
    }
    sbuf_addn(&ab->buf, r->s, r->len);
    ab->nrows++;
}

/* Fill out with up to max bytes of the answer: as many rows as fit, so
 * a large answer goes out in chunks of max bytes (one row per call was a
 * send() and a select() per row: 12 us a row, 0.8 s for 65k rows). */
static size_t adhoc_read(http_body_t *hb, char *out, size_t max)
{
    adhoc_body_t *ab = (adhoc_body_t *)hb;
    if (ab->off > 0) {      /* keep what is unsent at the front */
        memmove(ab->buf.s, ab->buf.s + ab->off, ab->buf.len - ab->off);
        ab->buf.len -= ab->off;
        ab->off = 0;
    }
    while (ab->buf.len < max && !ab->finished) {
        diag_t err;
        diag_clear(&err);
        const store_value_t *row;
        int rc = ab->src->check_time(ab->cur, &err);
        if (rc == 0)
            rc = ab->src->next(ab->cur, &row, &err);
        if (rc == 1) {
            adhoc_add_row(ab, row);
        } else {
            if (rc == 0)
                ab->truncated = ab->src->truncated(ab->cur);
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
    ab->src->close(ab->cur);
    sbuf_free(&ab->buf);
    sbuf_free(&ab->row);
    free(ab);
}

/* The streamed body over an open source whose first row was read (rc 1
 * with first, or 0). */
static http_body_t *adhoc_body(app_t *a, const rowsrc_t *src, void *cur,
                               int csv, int rc, const store_value_t *first)
{
    adhoc_body_t *ab = xcalloc(1, sizeof(*ab));
    ab->base.read = adhoc_read;
    ab->base.free = adhoc_free;
    ab->src = src;
    ab->cur = cur;
    ab->csv = csv;
    ab->max_bytes = a->cfg.adhoc_bytes;
    adhoc_head(ab, first);
    if (rc == 1) {
        adhoc_add_row(ab, first);
    } else {
        ab->truncated = src->truncated(cur);
        adhoc_tail(ab, NULL);
    }
    return &ab->base;
}

/* -- SQLite cursors as a source -- */

static int sq_ncols(void *c) { return store_cursor_ncols(c); }
static const char *sq_name(void *c, int i) { return store_cursor_name(c, i); }
static type_t sq_type(void *c, int i) { return store_cursor_type(c, i); }
static int sq_next(void *c, const store_value_t **row, diag_t *err)
{
    return store_cursor_next(c, row, err);
}
static int sq_check_time(void *c, diag_t *err)
{
    return store_cursor_check_time(c, err);
}
static int sq_truncated(void *c) { return store_cursor_truncated(c); }
static int64_t sq_elapsed(void *c) { return store_cursor_elapsed_ms(c); }
static void sq_close(void *c) { store_cursor_close(c); }

static const rowsrc_t sqlite_src = {
    sq_ncols, sq_name, sq_type, sq_next, sq_check_time, sq_truncated,
    sq_elapsed, NULL, sq_close,
};

/* -- queries over the archive as a source -- */

typedef struct arows {
    aquery_t      *q;
    store_value_t *row;
} arows_t;

static int ar_ncols(void *c) { return aquery_ncols(((arows_t *)c)->q); }
static const char *ar_name(void *c, int i)
{
    return aquery_col_name(((arows_t *)c)->q, i);
}
static type_t ar_type(void *c, int i)
{
    return aquery_col_type(((arows_t *)c)->q, i);
}

/* A value of the engine as the storage layer shows it. */
static void store_value_of(store_value_t *d, const value_t *v, type_t t)
{
    memset(d, 0, sizeof(*d));
    switch (t) {
    case TYPE_IP: d->t = SV_IP; d->v.ip = v->ip; break;
    case TYPE_TIME: d->t = SV_TIME; d->v.i = v->i; break;
    case TYPE_DURATION: d->t = SV_DURATION; d->v.i = v->i; break;
    case TYPE_BOOL: d->t = SV_BOOL; d->v.i = v->i; break;
    case TYPE_FLOAT: d->t = SV_FLOAT; d->v.f = v->f; break;
    case TYPE_STRING:
        d->t = SV_TEXT;
        d->v.s = v->s ? v->s : "";
        d->len = (uint32_t)strlen(d->v.s);
        break;
    default: d->t = SV_INT; d->v.i = v->i; break;
    }
}

static int ar_next(void *c, const store_value_t **row, diag_t *err)
{
    arows_t *r = c;
    const value_t *v;
    *row = NULL;
    int rc = aquery_next(r->q, &v, err);
    if (rc != 1)
        return rc;
    for (int i = 0; i < aquery_ncols(r->q); i++)
        store_value_of(&r->row[i], &v[i], aquery_col_type(r->q, i));
    *row = r->row;
    return 1;
}

static int ar_check_time(void *c, diag_t *err)
{
    return aquery_check_time(((arows_t *)c)->q, err);
}
static int ar_truncated(void *c) { return aquery_truncated(((arows_t *)c)->q); }
static int64_t ar_elapsed(void *c) { return aquery_elapsed_ms(((arows_t *)c)->q); }

/* "scan": what the query read and skipped (the scan is stopped first if
 * the answer ends before it: the counts are then those of what it read). */
static void ar_tail(void *c, sbuf_t *b)
{
    arows_t *r = c;
    aquery_stop(r->q);
    aquery_stats_t s;
    aquery_stats(r->q, &s);
    const archive_scan_stats_t *t = &s.scan;
    sbuf_printf(b, ",\"scan\":{\"files\":%llu,\"files_skipped\":%llu,"
                "\"files_read\":%llu,\"row_groups\":%llu,"
                "\"row_groups_skipped\":%llu,\"row_groups_read\":%llu,"
                "\"bytes_read\":%llu,\"flows_read\":%llu,"
                "\"flows_matched\":%llu}",
                (unsigned long long)t->files,
                (unsigned long long)t->files_pruned,
                (unsigned long long)t->files_read,
                (unsigned long long)t->row_groups,
                (unsigned long long)(t->rg_pruned_stats + t->rg_pruned_bloom),
                (unsigned long long)t->rg_read,
                (unsigned long long)t->bytes_read,
                (unsigned long long)t->rows_read,
                (unsigned long long)s.flows_matched);
}

static void ar_close(void *c)
{
    arows_t *r = c;
    aquery_close(r->q);
    free(r->row);
    free(r);
}

static const rowsrc_t archive_src = {
    ar_ncols, ar_name, ar_type, ar_next, ar_check_time, ar_truncated,
    ar_elapsed, ar_tail, ar_close,
};

/* The HTTP status class of an archive query's error. */
static int status_of_aq(int rc)
{
    switch (rc) {
    case AQ_EBUSY: return AE_LIMIT;
    case AQ_EIO: return AE_INTERNAL;
    default: return AE_BAD;
    }
}

/* POST /sql over the archive: a SELECT FROM flows without WINDOW. */
static int sql_archive(app_t *a, const char *sql, int csv, http_body_t **body,
                       diag_t *err)
{
    aquery_t *q;
    int rc = app_archive_open(a, sql, a->cfg.adhoc_max_rows, &q, err);
    if (rc != AE_OK)
        return rc;
    arows_t *r = xcalloc(1, sizeof(*r));
    r->q = q;
    r->row = xcalloc((size_t)aquery_ncols(q) + 1, sizeof(store_value_t));
    const store_value_t *first = NULL;
    rc = ar_next(r, &first, err);
    if (rc < 0) {
        ar_close(r);
        return status_of_aq(rc);
    }
    *body = adhoc_body(a, &archive_src, r, csv, rc, first);
    return AE_OK;
}

/* Open the statement and read its first row, so an error there (the
 * usual case) is still a plain error status; then the body streams. A
 * SELECT FROM flows is flowsql's dialect, over the archive; anything
 * else is SQLite's SQL over the stored tables. */
static int hook_sql(void *ctx, const char *sql, int csv, http_body_t **body,
                    diag_t *err)
{
    app_t *a = ctx;
    if (parse_is_flows_select(sql, strlen(sql)))
        return sql_archive(a, sql, csv, body, err);
    if (!a->store) {
        diag_set(err, "queries over the stored tables are not available: "
                 "storage is off (SELECT ... FROM flows reads the archive)");
        return 503;
    }
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
    *body = adhoc_body(a, &sqlite_src, cur, csv, rc, first);
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
    *body = json_dumps_short(arr, JSON_COMPACT);
    json_decref(arr);
    return AE_OK;
}

/* ---- a query over a file --------------------------------------------- */

#define REPLAY_OFF 403      /* HTTP status: replay is not configured */
#define REPLAY_MAX_WINDOWS 100000

typedef struct replay {
    engine_t *e;
    app_t    *app;          /* its sampling and anonymizer */
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
    char *txt = json_dumps_short(j, JSON_COMPACT);
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
    sampling_apply(r->app->sampling, b);
    enrich_batch(b, engine_fields(r->e));
    /* A replay's answer goes to an API client: its flows are
     * anonymized when the API's answers are. */
    if (r->app->anon && (r->app->anon_scope & (ANON_ALL | ANON_API)))
        anon_batch(r->app->anon, b);
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
    replay_t r = {.windows = SBUF_INIT, .max_bytes = a->cfg.adhoc_bytes,
                  .app = a};
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
    /* IPFIX, or a packet capture metered into flows (by the magic) */
    int rc = ingest_read_any_fd(fd, file, a->cfg.replay_timeout_ms,
                                &a->meter_cfg, replay_emit, &r, &res, NULL,
                                err);
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
    hooks->sql = hook_sql;
    if (a->store)
        hooks->results = hook_results;
}
