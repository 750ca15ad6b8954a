/*
 * exec.c - one statement to the right endpoint, and its answer on the
 * screen; see shell.h.
 *
 * The statement is sent as the user wrote it; the shell only decides
 * where it goes. It parses it with the same parser the daemon uses to
 * find its kind (and DROP's name), but the daemon's answer is the one
 * that counts: a statement the local parser refuses still goes to the
 * server when the server can judge it (CREATE, SELECT, EXPLAIN), so the
 * error shown is the server's, with its caret.
 *
 *   SELECT ... FROM <stored table>   POST /api/v1/sql (SQLite's SQL)
 *   SELECT ... FROM flows [LAST ..]  POST /api/v1/sql (the archive)
 *   SELECT ... FROM flows WINDOW ..  live view of a temporary query
 *   CREATE QUERY ...                 POST /api/v1/queries
 *   DROP QUERY [IF EXISTS] n [KEEP DATA]  DELETE /api/v1/queries/n
 *   SHOW QUERIES                     GET /api/v1/queries
 *   EXPLAIN ...                      POST /api/v1/explain
 */
#include "shell/shell.h"
#include "parser/ast.h"
#include "util/arena.h"
#include "util/timeutil.h"

#include <ctype.h>
#include <errno.h>
#include <curl/curl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define API "/api/v1"

/* ---- messages --------------------------------------------------------- */

void sh_error(shell_t *sh, const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    if (sh->src_name)
        fprintf(stderr, "flowsql:%s:%d: ", sh->src_name, sh->src_line);
    fputs("ERROR: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
}

void sh_notice(shell_t *sh, const char *fmt, ...)
{
    va_list ap;
    if (sh->quiet)
        return;
    fflush(stdout);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
}

char *sh_query_path(shell_t *sh, const char *name, const char *suffix)
{
    (void)sh;
    char *esc = curl_easy_escape(NULL, name, 0);
    sbuf_t b = SBUF_INIT;
    sbuf_printf(&b, API "/queries/%s%s", esc ? esc : name,
                suffix ? suffix : "");
    curl_free(esc);
    return sbuf_detach(&b);
}

int sh_call(shell_t *sh, const char *method, const char *path,
            const char *body, client_resp_t *r)
{
    char err[512];
    int rc = client_call(sh->cl, method, path, body, 0, r, err, sizeof(err));
    if (rc == CLIENT_EINTR) {
        sh_error(sh, "cancelled");
        return SH_INTR;
    }
    if (rc != CLIENT_OK) {
        sh_error(sh, "%s", err);
        return SH_CONN;
    }
    return SH_OK;
}

int sh_call_200(shell_t *sh, const char *method, const char *path,
                const char *body, client_resp_t *r)
{
    int rc = sh_call(sh, method, path, body, r);
    if (rc != SH_OK)
        return rc;
    if (r->status != 200) {
        rc = sh_http_error(sh, r);
        client_resp_free(r);
    }
    return rc;
}

int sh_http_error(shell_t *sh, const client_resp_t *r)
{
    json_t *j = sh_resp_json(r);
    const char *detail = json_string_value(json_object_get(j, "detail"));
    const char *msg = json_string_value(json_object_get(j, "error"));
    if (detail && *detail)
        sh_error(sh, "%s", detail);
    else if (msg && *msg)
        sh_error(sh, "%s%s", msg,
                 r->status == 401 ? " (give it with --token or "
                                    "FLOWSQL_API_TOKEN)" : "");
    else {
        /* Not our daemon's JSON: show the status and the start of it. */
        const char *s = r->body.s ? r->body.s : "";
        size_t n = strcspn(s, "\r\n");
        sh_error(sh, "HTTP %ld from %s%s%.*s", r->status, client_url(sh->cl),
                 n ? ": " : "", (int)(n > 200 ? 200 : n), s);
    }
    json_decref(j);
    return SH_ERR;
}

json_t *sh_resp_json(const client_resp_t *r)
{
    return json_loadb(r->body.s ? r->body.s : "", r->body.len, 0, NULL);
}

int sh_get_query(shell_t *sh, const char *name, json_t **q)
{
    client_resp_t r;
    char *path = sh_query_path(sh, name, NULL);
    int rc = sh_call_200(sh, "GET", path, NULL, &r);
    free(path);
    if (rc != SH_OK)
        return rc;
    *q = sh_resp_json(&r);
    client_resp_free(&r);
    return SH_OK;
}

/* A JSON request body {"sql": sql, ...more}; malloc'ed text. */
static char *sql_body(const char *sql, int temporary)
{
    json_t *o = json_object();
    json_object_set_new(o, "sql", json_string(sql));
    if (temporary)
        json_object_set_new(o, "temporary", json_true());
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

/* One JSON value on a line of its own (json format). */
static void emit_json_line(shell_t *sh, json_t *v)
{
    sbuf_t b = SBUF_INIT;
    out_json(&b, v);
    sbuf_addc(&b, '\n');
    out_emit(sh, sbuf_str(&b), b.len, 0);
    sbuf_free(&b);
}

/* psql's command tag after a statement that returns no rows. */
static void tag(shell_t *sh, const char *fmt, const char *arg)
{
    if (sh->quiet || sh->format != FMT_TABLE)
        return;
    fprintf(sh->out, fmt, arg);
    fputc('\n', sh->out);
    if (sh->interactive)
        fputc('\n', sh->out);
    fflush(sh->out);
}

/* ---- the statements ----------------------------------------------------- */

static int run_create(shell_t *sh, const char *sql, int if_not_exists)
{
    client_resp_t r;
    char *body = sql_body(sql, 0);
    int rc = sh_call(sh, "POST", API "/queries", body, &r);
    free(body);
    if (rc != SH_OK)
        return rc;
    if (r.status == 200 && if_not_exists) {
        /* the server changed nothing: the name was taken */
        json_t *j = sh_resp_json(&r);
        const char *name = json_string_value(json_object_get(j, "name"));
        sh_notice(sh, "NOTICE: a query named '%s' already exists, skipping",
                  name ? name : "?");
        json_decref(j);
    } else if (r.status != 201) {
        rc = sh_http_error(sh, &r);
    } else {
        json_t *j = sh_resp_json(&r);
        if (sh->format == FMT_JSON)
            emit_json_line(sh, j);
        else
            tag(sh, "CREATE QUERY %s",
                json_string_value(json_object_get(j, "name")) ?
                json_string_value(json_object_get(j, "name")) : "");
        json_decref(j);
    }
    client_resp_free(&r);
    return rc;
}

static int run_drop(shell_t *sh, const char *name, int if_exists, int keep)
{
    client_resp_t r;
    char *path = sh_query_path(sh, name, keep ? "?keep_data=1" : NULL);
    int rc = sh_call(sh, "DELETE", path, NULL, &r);
    free(path);
    if (rc != SH_OK)
        return rc;
    if (r.status == 404 && if_exists)
        sh_notice(sh, "NOTICE: query \"%s\" does not exist, skipping", name);
    else if (r.status != 204 && r.status != 200)
        rc = sh_http_error(sh, &r);
    else if (sh->format == FMT_JSON) {
        json_t *j = json_pack("{s:s,s:s,s:b}", "dropped", name, "status",
                              "ok", "keep_data", keep);
        emit_json_line(sh, j);
        json_decref(j);
    } else
        tag(sh, "DROP QUERY %s", name);
    client_resp_free(&r);
    return rc;
}

static int run_explain(shell_t *sh, const char *sql)
{
    client_resp_t r;
    char *body = sql_body(sql, 0);
    int rc = sh_call_200(sh, "POST", API "/explain", body, &r);
    free(body);
    if (rc != SH_OK)
        return rc;
    json_t *j = sh_resp_json(&r);
    const char *plan = json_string_value(json_object_get(j, "plan"));
    if (!plan)
        plan = "";
    if (sh->format == FMT_JSON) {
        emit_json_line(sh, j);
    } else if (sh->format == FMT_CSV) {
        json_t *cols = json_pack("[s]", "plan"), *rows = json_array();
        for (const char *p = plan; *p;) {
            size_t n = strcspn(p, "\n");
            json_array_append_new(rows, json_pack("[s%]", p, n));
            p += n + (p[n] == '\n');
        }
        out_result(sh, cols, rows, NULL);
        json_decref(cols);
        json_decref(rows);
    } else {
        sbuf_t b = SBUF_INIT;
        sbuf_add(&b, plan);
        if (b.len && b.s[b.len - 1] != '\n')
            sbuf_addc(&b, '\n');
        if (sh->interactive)
            sbuf_addc(&b, '\n');
        out_emit(sh, sbuf_str(&b), b.len, 1);
        sbuf_free(&b);
    }
    json_decref(j);
    client_resp_free(&r);
    return SH_OK;
}

/* Are answers of queries over the archive to be written as Parquet? */
static int wants_parquet(const shell_t *sh)
{
    if (sh->format == FMT_PARQUET)
        return 1;
    size_t n = sh->out_path ? strlen(sh->out_path) : 0;
    return n > 8 && strcasecmp(sh->out_path + n - 8, ".parquet") == 0;
}

/* A query over the archive as Parquet (POST /sql?format=parquet) into
 * the output file, which holds this answer only (a Parquet file is one
 * table): it is emptied first. A transfer cut short (the server's time
 * or row limit) leaves a file without its footer, and says so. */
static int run_parquet(shell_t *sh, const char *sql)
{
    if (sh->out == stdout) {
        sh_error(sh, "Parquet is binary: give a file to write it to (-o "
                 "FILE, or \\o FILE in the shell)");
        return SH_ERR;
    }
    fflush(sh->out);
    if (ftruncate(fileno(sh->out), 0) < 0 || fseek(sh->out, 0, SEEK_SET) < 0) {
        sh_error(sh, "cannot empty %s: %s", sh->out_path, strerror(errno));
        return SH_ERR;
    }
    char *body = sql_body(sql, 0);
    client_resp_t r;
    char err[512];
    int rc = client_download(sh->cl, API "/sql?format=parquet", body,
                             "application/vnd.apache.parquet", sh->out, &r,
                             err, sizeof(err));
    free(body);
    fflush(sh->out);
    if (rc == CLIENT_EINTR) {
        sh_error(sh, "cancelled (%s is incomplete)", sh->out_path);
        client_resp_free(&r);
        return SH_INTR;
    }
    if (rc != CLIENT_OK) {
        sh_error(sh, "%s (%s is incomplete)", err, sh->out_path);
        client_resp_free(&r);
        return SH_CONN;
    }
    if (r.status != 200) {
        rc = sh_http_error(sh, &r);
        client_resp_free(&r);
        return rc;
    }
    client_resp_free(&r);
    long size = ftell(sh->out);
    if (!sh->quiet)
        sh_notice(sh, "Parquet: %ld bytes written to %s.", size,
                  sh->out_path);
    return SH_OK;
}

/* Ad hoc SQL over the stored windows, or a query over the archive:
 * {"columns": [...], "rows": [[...]]}.
 * Columns may be names or {"name": ...} objects, rows arrays or objects. */
static int run_adhoc(shell_t *sh, const char *sql)
{
    client_resp_t r;
    char *body = sql_body(sql, 0);
    int rc = sh_call_200(sh, "POST", API "/sql", body, &r);
    free(body);
    if (rc != SH_OK)
        return rc;
    json_t *j = sh_resp_json(&r);
    json_t *jc = json_object_get(j, "columns"), *jr = json_object_get(j, "rows");
    if (!json_is_array(jc) || !json_is_array(jr)) {
        client_resp_free(&r);
        json_decref(j);
        sh_error(sh, "the server's answer to an ad hoc query has no "
                 "columns and rows");
        return SH_ERR;
    }
    json_t *cols = json_array(), *rows = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(jc, i, v) {
        const char *n = json_is_string(v) ? json_string_value(v)
                        : json_string_value(json_object_get(v, "name"));
        json_array_append_new(cols, json_string(n ? n : "?"));
    }
    json_array_foreach(jr, i, v) {
        if (json_is_array(v)) {
            json_array_append(rows, v);
        } else {
            json_t *row = json_array();
            for (size_t c = 0; c < json_array_size(cols); c++) {
                json_t *x = json_object_get(
                    v, json_string_value(json_array_get(cols, c)));
                json_array_append(row, x ? x : json_null());
            }
            json_array_append_new(rows, row);
        }
    }
    out_result(sh, cols, rows, NULL);
    if (json_is_true(json_object_get(j, "truncated")))
        sh_notice(sh, "NOTICE: the result was cut at the server's row "
                  "or size limit; narrow the query or add LIMIT");
    /* An error after the answer began (the server streams it) comes last:
     * the rows above are only those before it. */
    const char *late = json_string_value(json_object_get(j, "error"));
    if (late)
        sh_error(sh, "%s", late);
    json_decref(cols);
    json_decref(rows);
    json_decref(j);
    client_resp_free(&r);
    return late ? SH_ERR : SH_OK;
}

static json_int_t counter(json_t *q, const char *key)
{
    return json_integer_value(json_object_get(json_object_get(q, "counters"),
                                              key));
}

static int by_name(const void *a, const void *b)
{
    const char *x = json_string_value(json_object_get(*(json_t *const *)a, "name"));
    const char *y = json_string_value(json_object_get(*(json_t *const *)b, "name"));
    return strcmp(x ? x : "", y ? y : "");
}

int exec_show_queries(shell_t *sh)
{
    client_resp_t r;
    int rc = sh_call_200(sh, "GET", API "/queries", NULL, &r);
    if (rc != SH_OK)
        return rc;
    json_t *j = sh_resp_json(&r);
    json_t *qs = json_object_get(j, "queries");
    size_t n = json_array_size(qs);
    json_t **v = xcalloc(n + 1, sizeof(json_t *));
    for (size_t i = 0; i < n; i++)
        v[i] = json_array_get(qs, i);
    qsort(v, n, sizeof(json_t *), by_name);
    if (sh->format == FMT_JSON) {
        for (size_t i = 0; i < n; i++)
            emit_json_line(sh, v[i]);
    } else {
        json_t *cols = json_pack("[ssssssssss]", "name", "source", "state",
                                 "flows", "windows", "rows", "late",
                                 "overflow", "memory", "created");
        json_t *rows = json_array();
        for (size_t i = 0; i < n; i++) {
            json_t *q = v[i];
            json_array_append_new(rows, json_pack(
                "[O?O?O?IIIIIIO?]", json_object_get(q, "name"),
                json_object_get(q, "source"), json_object_get(q, "state"),
                counter(q, "flows_in"), counter(q, "windows"),
                counter(q, "rows"), counter(q, "flows_late"),
                counter(q, "flows_overflow"), counter(q, "memory_bytes"),
                json_object_get(q, "created")));
        }
        out_result(sh, cols, rows, NULL);
        json_decref(cols);
        json_decref(rows);
    }
    free(v);
    json_decref(j);
    client_resp_free(&r);
    return SH_OK;
}

static void indent(sbuf_t *b, const char *text, const char *by)
{
    for (const char *p = text; *p;) {
        size_t n = strcspn(p, "\n");
        if (n)
            sbuf_printf(b, "%s%.*s\n", by, (int)n, p);
        else
            sbuf_addc(b, '\n');
        p += n + (p[n] == '\n');
    }
}

int exec_describe(shell_t *sh, const char *name)
{
    json_t *q;
    int rc = sh_get_query(sh, name, &q);
    if (rc != SH_OK)
        return rc;
    if (sh->format == FMT_JSON) {
        emit_json_line(sh, q);
        json_decref(q);
        return SH_OK;
    }
    sbuf_t b = SBUF_INIT;
    const char *s;
    sbuf_printf(&b, "Query \"%s\"", json_string_value(json_object_get(q, "name")));
    if ((s = json_string_value(json_object_get(q, "source"))))
        sbuf_printf(&b, ", %s", s);
    if ((s = json_string_value(json_object_get(q, "path"))))
        sbuf_printf(&b, " (%s)", s);
    if ((s = json_string_value(json_object_get(q, "state"))))
        sbuf_printf(&b, ", %s", s);
    if ((s = json_string_value(json_object_get(q, "created"))))
        sbuf_printf(&b, ", created %s", s);
    sbuf_add(&b, "\n\nStatement:\n");
    indent(&b, json_string_value(json_object_get(q, "sql")) ?
               json_string_value(json_object_get(q, "sql")) : "", "    ");

    json_t *cols = json_object_get(q, "columns");
    if (json_array_size(cols)) {
        json_t *tc = json_pack("[sss]", "column", "type", "group key");
        json_t *tr = json_array();
        size_t i;
        json_t *c;
        json_array_foreach(cols, i, c)
            json_array_append_new(tr, json_pack("[O?O?s]",
                json_object_get(c, "name"), json_object_get(c, "type"),
                json_is_true(json_object_get(c, "key")) ? "yes" : ""));
        sbuf_t t = SBUF_INIT;
        table_opts_t o = {.footer = 0};
        out_table(&t, tc, tr, &o);
        sbuf_add(&b, "\nColumns (each row also has window_start and "
                     "window_end):\n");
        indent(&b, sbuf_str(&t), "  ");
        sbuf_free(&t);
        json_decref(tc);
        json_decref(tr);
    }
    json_t *opts = json_object_get(q, "options");
    if (json_object_size(opts)) {
        const char *k;
        json_t *v;
        sbuf_add(&b, "\nOptions:\n");
        json_object_foreach(opts, k, v)
            sbuf_printf(&b, "    %s = %s\n", k,
                        json_is_string(v) ? json_string_value(v) : "?");
    }
    if ((s = json_string_value(json_object_get(q, "plan")))) {
        sbuf_add(&b, "\nPlan:\n");
        indent(&b, s, "    ");
    }
    json_t *cnt = json_object_get(q, "counters");
    if (json_object_size(cnt)) {
        json_t *tc = json_pack("[ss]", "counter", "value");
        json_t *tr = json_array();
        const char *k;
        json_t *v;
        json_object_foreach(cnt, k, v) {
            /* times since the epoch are shown as times */
            size_t kl = strlen(k);
            if (kl > 3 && strcmp(k + kl - 3, "_ms") == 0 &&
                json_integer_value(v) > 0) {
                char ts[40], cname[64];
                time_format_iso(json_integer_value(v), ts, sizeof(ts));
                snprintf(cname, sizeof(cname), "%.*s", (int)(kl - 3), k);
                json_array_append_new(tr, json_pack("[ss]", cname, ts));
            } else {
                json_array_append_new(tr, json_pack("[sO?]", k, v));
            }
        }
        if (json_object_get(q, "subscribers"))
            json_array_append_new(tr, json_pack("[sO?]", "stream_clients",
                                                json_object_get(q, "subscribers")));
        sbuf_t t = SBUF_INIT;
        table_opts_t o = {.grouped = sh->grouped};
        out_table(&t, tc, tr, &o);
        sbuf_add(&b, "\nCounters:\n");
        indent(&b, sbuf_str(&t), "  ");
        sbuf_free(&t);
        json_decref(tc);
        json_decref(tr);
    }
    if (sh->interactive)
        sbuf_addc(&b, '\n');
    out_emit(sh, sbuf_str(&b), b.len, 1);
    sbuf_free(&b);
    json_decref(q);
    return SH_OK;
}

/* The first word of a statement, upper-cased, after blanks and comments. */
static void first_word(const char *s, char *out, size_t size)
{
    for (;;) {
        while (isspace((unsigned char)*s))
            s++;
        if (s[0] == '-' && s[1] == '-') {
            s += strcspn(s, "\n");
            continue;
        }
        if (s[0] == '/' && s[1] == '*') {
            const char *e = strstr(s + 2, "*/");
            s = e ? e + 2 : s + strlen(s);
            continue;
        }
        break;
    }
    size_t n = 0;
    while (n + 1 < size && isalpha((unsigned char)s[n])) {
        out[n] = (char)toupper((unsigned char)s[n]);
        n++;
    }
    out[n] = 0;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int exec_statement(shell_t *sh, const char *sql)
{
    double t0 = now_ms();
    size_t len = strlen(sql);
    int rc, timed = 1;
    if (parse_is_stored_select(sql, len)) {
        rc = run_adhoc(sh, sql);
    } else {
        arena_t *a = arena_new();
        diag_t err;
        stmt_t *st = parse(a, sql, len, &err);
        char word[16];
        first_word(sql, word, sizeof(word));
        if (st && st->kind == STMT_CREATE) {
            rc = run_create(sh, sql, st->if_not_exists);
        } else if (st && st->kind == STMT_DROP) {
            rc = run_drop(sh, st->name, st->if_exists, st->keep_data);
        } else if (st && st->kind == STMT_SHOW) {
            rc = exec_show_queries(sh);
        } else if (st && st->kind == STMT_EXPLAIN) {
            rc = run_explain(sh, sql);
        } else if (st && st->kind == STMT_SELECT &&
                   !st->select->window.present) {
            rc = wants_parquet(sh) ? run_parquet(sh, sql)
                                   : run_adhoc(sh, sql);   /* the archive */
        } else if (st && st->kind == STMT_SELECT) {
            rc = live_select(sh, sql);
            timed = 0;
        } else if (strcmp(word, "CREATE") == 0) {
            rc = run_create(sh, sql, 0);
        } else if (strcmp(word, "EXPLAIN") == 0) {
            rc = run_explain(sh, sql);
        } else if (strcmp(word, "SELECT") == 0) {
            rc = live_select(sh, sql);
            timed = 0;
        } else {
            /* DROP, SHOW or something else the server has no parser
             * endpoint for: the same parser's message, here. */
            char buf[2048];
            sh_error(sh, "%s", diag_render(&err, sql, buf, sizeof(buf)));
            rc = SH_ERR;
        }
        arena_free(a);
    }
    if (sh->timing && timed && rc != SH_INTR)
        fprintf(stderr, "Time: %.3f ms\n", now_ms() - t0);
    return rc;
}
