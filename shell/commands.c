/*
 * commands.c - the backslash commands, one table; see shell.h.
 *
 * A command is a line that starts with '\' (outside a string or comment
 * of a statement being typed). Its arguments are the rest of the line,
 * blank-separated; a trailing ';' is ignored, as a habit from SQL.
 */
#include "shell/shell.h"
#include "util/arena.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef int (*command_fn)(shell_t *sh, char *arg);

typedef struct command {
    const char *name, *alias;   /* without the backslash */
    const char *args;
    const char *help;
    command_fn  fn;
} command_t;

static int c_list(shell_t *sh, char *arg);

/* on, off, or nothing (toggle). -1 on anything else. */
static int on_off(const char *arg, int now)
{
    if (!*arg)
        return !now;
    if (strcasecmp(arg, "on") == 0)
        return 1;
    if (strcasecmp(arg, "off") == 0)
        return 0;
    return -1;
}

static int c_quit(shell_t *sh, char *arg)
{
    (void)arg;
    sh->quit = 1;
    return SH_OK;
}

static int c_help(shell_t *sh, char *arg)
{
    return help_show(sh, arg);
}

/* A query name as SQL reads it: "Quoted" keeps its case, a plain name
 * is folded to lower case. */
static char *name_arg(char *arg)
{
    size_t n = strlen(arg);
    if (n >= 2 && arg[0] == '"' && arg[n - 1] == '"') {
        arg[n - 1] = 0;
        return arg + 1;
    }
    for (char *p = arg; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return arg;
}

static int c_describe(shell_t *sh, char *arg)
{
    if (!*arg)
        return exec_show_queries(sh);
    return exec_describe(sh, name_arg(arg));
}

static int c_watch(shell_t *sh, char *arg)
{
    char *name = arg, *n = arg + strcspn(arg, " \t");
    long max = sh->max_windows;
    if (*n) {
        *n++ = 0;
        n += strspn(n, " \t");
        char *end;
        max = strtol(n, &end, 10);
        if (*n && (*end || max <= 0)) {
            sh_error(sh, "\\watch: '%s' is not a number of windows", n);
            return SH_ERR;
        }
    }
    if (!*name) {
        sh_error(sh, "\\watch needs a query name: \\watch name [windows]");
        return SH_ERR;
    }
    return live_watch(sh, name_arg(name), max);
}

static const char *const format_names[] = {"table", "csv", "json",
                                           "parquet"};

static int c_format(shell_t *sh, char *arg)
{
    if (!*arg) {
        sh_notice(sh, "Output format is %s.", format_names[sh->format]);
        return SH_OK;
    }
    for (int i = 0; i < 4; i++)
        if (strcasecmp(arg, format_names[i]) == 0) {
            sh->format = i;
            sh_notice(sh, "Output format is %s.", format_names[i]);
            return SH_OK;
        }
    sh_error(sh, "\\format: '%s' is not table, csv, json or parquet", arg);
    return SH_ERR;
}

/* \timing and \pager: on, off, or nothing to toggle. */
static int set_flag(shell_t *sh, char *arg, int *flag, const char *cmd,
                    const char *what)
{
    int v = on_off(arg, *flag);
    if (v < 0) {
        sh_error(sh, "\\%s: on or off, not '%s'", cmd, arg);
        return SH_ERR;
    }
    *flag = v;
    sh_notice(sh, "%s is %s.", what, v ? "on" : "off");
    return SH_OK;
}

static int c_timing(shell_t *sh, char *arg)
{
    return set_flag(sh, arg, &sh->timing, "timing", "Timing");
}

static int c_pager(shell_t *sh, char *arg)
{
    return set_flag(sh, arg, &sh->pager, "pager", "Pager");
}

static int c_numbers(shell_t *sh, char *arg)
{
    if (*arg && strcasecmp(arg, "exact") != 0 && strcasecmp(arg, "grouped") != 0) {
        sh_error(sh, "\\numbers: exact or grouped, not '%s'", arg);
        return SH_ERR;
    }
    sh->grouped = *arg ? strcasecmp(arg, "grouped") == 0 : !sh->grouped;
    sh_notice(sh, "Numbers in tables are %s.", sh->grouped
              ? "grouped by thousands (1,234,567)" : "exact (1234567)");
    return SH_OK;
}

/* A file name argument, with optional quotes. */
static char *file_arg(char *arg)
{
    size_t n = strlen(arg);
    if (n >= 2 && (arg[0] == '\'' || arg[0] == '"') && arg[n - 1] == arg[0]) {
        arg[n - 1] = 0;
        return arg + 1;
    }
    return arg;
}

static int c_out(shell_t *sh, char *arg)
{
    return out_redirect(sh, *arg ? file_arg(arg) : NULL);
}

static int c_include(shell_t *sh, char *arg)
{
    if (!*arg) {
        sh_error(sh, "\\i needs a file name");
        return SH_ERR;
    }
    return run_file(sh, file_arg(arg));
}

static int c_metrics(shell_t *sh, char *arg)
{
    return metrics_show(sh, arg);
}

static int c_reset(shell_t *sh, char *arg)
{
    (void)arg;
    if (sh->split)
        split_reset(sh->split);
    sh_notice(sh, "Statement buffer reset (cleared).");
    return SH_OK;
}

static int c_conninfo(shell_t *sh, char *arg)
{
    (void)arg;
    client_resp_t r;
    int rc = sh_call(sh, "GET", "/api/v1/healthz", NULL, &r);
    if (rc != SH_OK)
        return rc;
    if (r.status != 200) {
        rc = sh_http_error(sh, &r);
    } else {
        json_t *j = sh_resp_json(&r);
        const char *v = json_string_value(json_object_get(j, "version"));
        fprintf(sh->out, "Connected to flowsqld %s at %s: up %lld s, %lld "
                "queries.\n", v ? v : "?", client_url(sh->cl),
                (long long)json_integer_value(json_object_get(j, "uptime_ms")) / 1000,
                (long long)json_integer_value(json_object_get(j, "queries")));
        fflush(sh->out);
        json_decref(j);
    }
    client_resp_free(&r);
    return rc;
}

/* \connect URL: talk to another flowsqld (same token) from now on, if
 * it answers; else keep the server this shell had. "host:port" is
 * http://host:port. */
static int c_connect(shell_t *sh, char *arg)
{
    while (*arg == ' ' || *arg == '\t')
        arg++;
    size_t n = strlen(arg);
    while (n > 0 && (arg[n - 1] == ' ' || arg[n - 1] == '\t'))
        arg[--n] = 0;
    if (!*arg) {
        sh_error(sh, "\\connect: give the URL of a flowsqld "
                 "(http://127.0.0.1:8080)");
        return SH_ERR;
    }
    char url[1024];
    snprintf(url, sizeof(url), "%s%s", strstr(arg, "://") ? "" : "http://",
             arg);
    client_t *old = sh->cl, *cl = client_new_like(old, url);
    if (!cl) {
        sh_error(sh, "\\connect: cannot start libcurl");
        return SH_ERR;
    }
    sh->cl = cl;
    client_resp_t r;
    int rc = sh_call_200(sh, "GET", "/api/v1/healthz", NULL, &r);
    if (rc != SH_OK) {          /* reported (and r freed) by sh_call_200 */
        sh->cl = old;
        client_free(cl);
        sh_error(sh, "\\connect: still connected to %s", client_url(old));
        return SH_ERR;
    }
    json_t *j = sh_resp_json(&r);
    const char *v = json_string_value(json_object_get(j, "version"));
    sh_notice(sh, "Connected to flowsqld %s at %s.", v ? v : "?",
              client_url(cl));
    json_decref(j);
    client_resp_free(&r);
    client_free(old);
    return SH_OK;
}

static const command_t commands[] = {
    {"?", NULL, "", "this list", c_list},
    {"h", "help", "[topic]", "help on the query language", c_help},
    {"d", NULL, "[name]", "the queries; one query in full", c_describe},
    {"watch", NULL, "name [n]", "follow a query's windows (n of them)",
     c_watch},
    {"metrics", NULL, "[all|word]", "the server's counters, readable",
     c_metrics},
    {"format", NULL, "[table|csv|json]", "how results are printed", c_format},
    {"o", "out", "[file]", "results to a file; alone, to the screen", c_out},
    {"i", "include", "file", "run the statements in a file", c_include},
    {"timing", NULL, "[on|off]", "how long each statement takes", c_timing},
    {"pager", NULL, "[on|off]", "page results longer than the screen",
     c_pager},
    {"numbers", NULL, "[exact|grouped]", "integers as 1234567 or 1,234,567",
     c_numbers},
    {"r", "reset", "", "forget the statement being typed", c_reset},
    {"conninfo", NULL, "", "the server this shell talks to", c_conninfo},
    {"c", "connect", "url", "talk to another flowsqld (same token)",
     c_connect},
    {"q", "quit", "", "quit (so does Ctrl-D)", c_quit},
};
#define NCOMMANDS (int)(sizeof(commands) / sizeof(commands[0]))

static int c_list(shell_t *sh, char *arg)
{
    (void)arg;
    sbuf_t b = SBUF_INIT;
    sbuf_add(&b, "Statements end with ';' and may span lines. Commands:\n\n");
    for (int i = 0; i < NCOMMANDS; i++) {
        char head[64];
        snprintf(head, sizeof(head), "\\%s%s%s", commands[i].name,
                 *commands[i].args ? " " : "", commands[i].args);
        sbuf_printf(&b, "  %-25s %s\n", head, commands[i].help);
    }
    sbuf_add(&b, "\nStatements: CREATE QUERY, DROP QUERY, SHOW QUERIES, "
                 "EXPLAIN; SELECT ... FROM\nflows WINDOW ... shows its "
                 "windows live until Ctrl-C; SELECT ... FROM a query\nis "
                 "SQLite's SQL over its stored windows. \\h for more.\n");
    if (sh->interactive)
        sbuf_addc(&b, '\n');
    out_emit(sh, sbuf_str(&b), b.len, 1);
    sbuf_free(&b);
    return SH_OK;
}

const char *command_name(int i)
{
    if (i < 0)
        return NULL;
    for (int k = 0; k < NCOMMANDS; k++) {
        if (i == 0)
            return commands[k].name;
        i--;
        if (commands[k].alias) {
            if (i == 0)
                return commands[k].alias;
            i--;
        }
    }
    return NULL;
}

int command_run(shell_t *sh, const char *line)
{
    while (isspace((unsigned char)*line))
        line++;
    if (*line == '\\')
        line++;
    char *copy = xstrdup(line);
    char *name = copy, *arg = copy + strcspn(copy, " \t");
    if (*arg)
        *arg++ = 0;
    /* trim the arguments, and a ';' left from SQL habits */
    arg += strspn(arg, " \t");
    size_t n = strlen(arg);
    while (n && (isspace((unsigned char)arg[n - 1]) || arg[n - 1] == ';'))
        arg[--n] = 0;
    n = strlen(name);
    if (n > 1 && name[n - 1] == ';')
        name[n - 1] = 0;
    int rc = SH_ERR;
    int k;
    for (k = 0; k < NCOMMANDS; k++)
        if (strcmp(name, commands[k].name) == 0 ||
            (commands[k].alias && strcmp(name, commands[k].alias) == 0))
            break;
    if (k < NCOMMANDS)
        rc = commands[k].fn(sh, arg);
    else
        sh_error(sh, "unknown command \\%s (\\? lists the commands)", name);
    free(copy);
    return rc;
}
