/*
 * flowsql.c - the interactive client of flowsqld: options, input
 * sources and the read -> split -> run loop. See shell.h for the parts
 * and docs/SHELL.md for how to use it.
 *
 * Input comes from the terminal (libedit: line editing, history in
 * ~/.flowsql_history, tab completion), from -c strings and -f files in
 * the order given, or from standard input when it is not a terminal.
 * Scripts stop at the first error and exit with its status:
 *
 *   0    every statement succeeded
 *   1    a statement failed (the server said why, on stderr)
 *   2    the server could not be reached; bad options
 *   130  interrupted (Ctrl-C outside a live view); 143 SIGTERM
 */
#include "shell/shell.h"
#include "util/arena.h"

#include <ctype.h>
#include <editline/readline.h>
#include <errno.h>
#include <getopt.h>
#include <locale.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_URL "http://127.0.0.1:8080"
#define MAX_INCLUDE_DEPTH 16
#define SH_TERM 143

typedef struct source {
    const char *name;     /* file name for messages, or NULL */
    FILE       *f;        /* a file or stdin, or NULL */
    const char *text;     /* -c text still to read, or NULL */
    int         tty;      /* read with libedit */
    int         lineno;
} source_t;

/* ---- history ------------------------------------------------------------ */

static char *hist_path;
static char *hist_last;

static void history_start(void)
{
    const char *p = getenv("FLOWSQL_HISTORY");
    const char *home = getenv("HOME");
    if (p && *p)
        hist_path = xstrdup(p);
    else if (home && *home) {
        size_t n = strlen(home) + 32;
        hist_path = xmalloc(n);
        snprintf(hist_path, n, "%s/.flowsql_history", home);
    }
    using_history();
    if (hist_path)
        read_history(hist_path);
    stifle_history(2000);
}

/* One entry per statement (its lines joined) or command; written at
 * once so a killed shell loses nothing. */
static void history_add(const char *entry)
{
    if (!*entry || (hist_last && strcmp(hist_last, entry) == 0))
        return;
    add_history(entry);
    free(hist_last);
    hist_last = xstrdup(entry);
    if (hist_path) {
        mode_t old = umask(077);
        write_history(hist_path);
        umask(old);
    }
}

/* ---- reading ------------------------------------------------------------ */

static const char *prompt(const split_t *sp)
{
    if (!split_pending(sp))
        return "flowsql=> ";
    switch (sp->state) {
    case SPLIT_SQUOTE: return "flowsql'> ";
    case SPLIT_DQUOTE: return "flowsql\"> ";
    case SPLIT_COMMENT: return "flowsql*> ";
    default: return sp->depth > 0 ? "flowsql(> " : "flowsql-> ";
    }
}

/* The next line without its end, malloc'ed; NULL at the end of input or
 * on a signal (the caller looks at the flags). */
static char *next_line(source_t *src, const split_t *sp)
{
    if (src->tty)
        return readline(prompt(sp));
    if (src->text) {
        if (!*src->text)
            return NULL;
        size_t n = strcspn(src->text, "\n");
        char *l = strndup(src->text, n);
        src->text += n + (src->text[n] == '\n');
        return l;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, src->f);
    if (n < 0) {
        free(line);
        return NULL;
    }
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = 0;
    return line;
}

static int is_command(const char *line, const split_t *sp)
{
    while (isspace((unsigned char)*line))
        line++;
    return *line == '\\' && sp->state == SPLIT_NORMAL;
}

/* Run a source to its end. In a script the first error ends it; at the
 * terminal, errors are shown and the next statement is read. */
static int run_source(shell_t *sh, source_t *src)
{
    split_t sp;
    split_init(&sp);
    sbuf_t hist = SBUF_INIT;    /* lines of the statement being typed */
    split_t *saved_split = sh->split;
    const char *saved_name = sh->src_name;
    int saved_line = sh->src_line;
    sh->split = &sp;
    sh->src_name = src->name;
    int rc = SH_OK, eof = 0;
    for (;;) {
        char *line = next_line(src, &sp);
        if (!line) {
            if (sig_terminated()) {
                rc = SH_TERM;
                break;
            }
            if (sig_interrupted()) {
                if (!src->tty) {
                    rc = SH_INTR;
                    break;
                }
                /* Ctrl-C at the prompt: forget the statement being
                 * typed, as psql does. */
                sig_clear();
                split_reset(&sp);
                hist.len = 0;
                fputc('\n', stdout);
                fflush(stdout);
                continue;
            }
            eof = 1;
            break;
        }
        src->lineno++;
        int st = SH_OK;
        if (is_command(line, &sp)) {
            if (src->tty) {
                char *c = line + strspn(line, " \t");
                history_add(c);
            }
            sh->src_line = src->lineno;
            st = command_run(sh, line);
        } else {
            split_line(&sp, line, strlen(line), src->lineno);
            if (src->tty) {
                if (hist.len)
                    sbuf_addc(&hist, '\n');
                sbuf_add(&hist, line);
            }
            char *stmt;
            int sline;
            while ((stmt = split_next(&sp, &sline))) {
                sh->src_line = sline;
                st = exec_statement(sh, stmt);
                free(stmt);
                if ((st != SH_OK && !src->tty) || sh->quit ||
                    sig_terminated())
                    break;
            }
            if (src->tty && !split_pending(&sp) && hist.len) {
                char *one = split_one_line(sbuf_str(&hist));
                history_add(one);
                free(one);
                hist.len = 0;
            }
        }
        free(line);
        if (sig_terminated()) {
            rc = SH_TERM;
            break;
        }
        if (src->tty) {
            /* A Ctrl-C that cancelled a request is spent. */
            if (st == SH_INTR)
                sig_clear();
        } else {
            if (st == SH_OK && sig_interrupted())
                st = SH_INTR;
            if (st != SH_OK) {
                rc = st;
                break;
            }
        }
        if (sh->quit)
            break;
    }
    /* A last statement without its ';' still runs in a script. */
    if (eof && rc == SH_OK && !sh->quit && !src->tty) {
        int sline;
        char *stmt = split_flush(&sp, &sline);
        if (stmt) {
            sh->src_line = sline;
            rc = exec_statement(sh, stmt);
            free(stmt);
        }
    }
    if (eof && src->tty)
        fputc('\n', stdout);
    sbuf_free(&hist);
    split_free(&sp);
    sh->split = saved_split;
    sh->src_name = saved_name;
    sh->src_line = saved_line;
    return rc;
}

int run_file(shell_t *sh, const char *path)
{
    if (sh->depth >= MAX_INCLUDE_DEPTH) {
        sh_error(sh, "\\i nested more than %d deep (does %s include itself?)",
                 MAX_INCLUDE_DEPTH, path);
        return SH_ERR;
    }
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (!f) {
        sh_error(sh, "cannot read %s: %s", path, strerror(errno));
        return SH_ERR;
    }
    source_t src = {.name = f == stdin ? "<stdin>" : path, .f = f};
    sh->depth++;
    int rc = run_source(sh, &src);
    sh->depth--;
    if (f != stdin)
        fclose(f);
    return rc;
}

/* ---- start -------------------------------------------------------------------- */

static void usage(FILE *out)
{
    fprintf(out,
"usage: flowsql [options] [URL]\n"
"\n"
"The interactive client of flowsqld. Statements end with ';'; \\? lists\n"
"the commands, \\h helps with the query language.\n"
"\n"
"  -u, --url=URL       flowsqld's REST API [$FLOWSQL_URL or " DEFAULT_URL "]\n"
"  -t, --token=TOKEN   API token [$FLOWSQL_API_TOKEN]\n"
"  -c, --command=TEXT  run the statements or command in TEXT, then exit\n"
"  -f, --file=FILE     run the statements in FILE (- for stdin), then exit\n"
"                      (-c and -f may be repeated; they run in order and\n"
"                      stop at the first error)\n"
"  -F, --format=FMT    table, csv or json [table]\n"
"  -o, --output=FILE   write results to FILE\n"
"  -w, --windows=N     live views stop after N windows [until Ctrl-C]\n"
"  -q, --quiet         no banner, no notices, no command tags\n"
"  -P, --no-pager      never page results\n"
"  -X, --no-rc         do not read ~/.flowsqlrc\n"
"  -h, --help          this text\n"
"  -V, --version       the version\n"
"\n"
"Without -c or -f, statements are read from the terminal, or from\n"
"standard input when it is not one. Exit status: 0 success, 1 a statement\n"
"failed, 2 no server (or bad options), 130 interrupted.\n");
}

typedef struct action {
    int         file;    /* -f, else -c */
    const char *arg;
} action_t;

static int banner(shell_t *sh)
{
    client_resp_t r;
    char err[512];
    int rc = client_call(sh->cl, "GET", "/api/v1/healthz", NULL, 3000, &r,
                         err, sizeof(err));
    if (rc != CLIENT_OK) {
        fprintf(stderr, "flowsql %s: %s\nStatements fail until flowsqld "
                "answers there (--url sets another address).\n",
                FLOWSQL_VERSION, err);
    } else if (r.status != 200) {
        fprintf(stderr, "flowsql %s: %s answers HTTP %ld", FLOWSQL_VERSION,
                client_url(sh->cl), r.status);
        if (r.status == 401)
            fprintf(stderr, ": it wants an API token (--token or "
                    "FLOWSQL_API_TOKEN)");
        fputc('\n', stderr);
    } else if (!sh->quiet) {
        json_t *j = json_loadb(r.body.s, r.body.len, 0, NULL);
        const char *v = json_string_value(json_object_get(j, "version"));
        long long n = json_integer_value(json_object_get(j, "queries"));
        printf("flowsql %s, connected to flowsqld %s at %s (%lld quer%s).\n",
               FLOWSQL_VERSION, v ? v : "?", client_url(sh->cl), n,
               n == 1 ? "y" : "ies");
        json_decref(j);
    }
    if (!sh->quiet)
        printf("Type \\? for commands, \\h for help on the query "
               "language, \\q to quit.\n\n");
    fflush(stdout);
    client_resp_free(&r);
    return rc;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"url", required_argument, NULL, 'u'},
        {"token", required_argument, NULL, 't'},
        {"command", required_argument, NULL, 'c'},
        {"file", required_argument, NULL, 'f'},
        {"format", required_argument, NULL, 'F'},
        {"output", required_argument, NULL, 'o'},
        {"windows", required_argument, NULL, 'w'},
        {"quiet", no_argument, NULL, 'q'},
        {"no-pager", no_argument, NULL, 'P'},
        {"no-rc", no_argument, NULL, 'X'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    /* Characters for libedit; numbers stay in the C locale ('.'). */
    setlocale(LC_CTYPE, "");

    shell_t sh = {.format = FMT_TABLE, .pager = 1, .out = stdout};
    const char *url = getenv("FLOWSQL_URL");
    const char *token = getenv("FLOWSQL_API_TOKEN");
    const char *output = NULL;
    int no_rc = 0, opt;
    action_t *acts = xcalloc((size_t)argc + 1, sizeof(action_t));
    int nacts = 0;
    while ((opt = getopt_long(argc, argv, "u:t:c:f:F:o:w:qPXhV", longopts,
                              NULL)) != -1) {
        switch (opt) {
        case 'u': url = optarg; break;
        case 't': token = optarg; break;
        case 'c':
        case 'f':
            acts[nacts].file = opt == 'f';
            acts[nacts++].arg = optarg;
            break;
        case 'F':
            if (!strcmp(optarg, "table"))
                sh.format = FMT_TABLE;
            else if (!strcmp(optarg, "csv"))
                sh.format = FMT_CSV;
            else if (!strcmp(optarg, "json"))
                sh.format = FMT_JSON;
            else {
                fprintf(stderr, "flowsql: --format: '%s' is not table, csv "
                        "or json\n", optarg);
                return SH_CONN;
            }
            break;
        case 'o': output = optarg; break;
        case 'w': {
            char *end;
            sh.max_windows = strtol(optarg, &end, 10);
            if (*end || sh.max_windows <= 0) {
                fprintf(stderr, "flowsql: --windows: '%s' is not a positive "
                        "number\n", optarg);
                return SH_CONN;
            }
            break;
        }
        case 'q': sh.quiet = 1; break;
        case 'P': sh.pager = 0; break;
        case 'X': no_rc = 1; break;
        case 'h': usage(stdout); return 0;
        case 'V': printf("flowsql %s\n", FLOWSQL_VERSION); return 0;
        default: usage(stderr); return SH_CONN;
        }
    }
    if (optind < argc)
        url = argv[optind++];
    if (optind < argc) {
        fprintf(stderr, "flowsql: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return SH_CONN;
    }
    if (!url || !*url)
        url = DEFAULT_URL;
    char *full_url = NULL;
    if (!strstr(url, "://")) {
        size_t n = strlen(url) + 8;
        full_url = xmalloc(n);
        snprintf(full_url, n, "http://%s", url);
        url = full_url;
    }
    sh.url = url;
    sig_init();
    sh.cl = client_new(url, token);
    if (!sh.cl) {
        fprintf(stderr, "flowsql: cannot start libcurl\n");
        return SH_CONN;
    }
    int rc = SH_OK;
    if (output && out_redirect(&sh, output) != SH_OK)
        rc = SH_CONN;
    if (rc == SH_OK && nacts > 0) {
        for (int i = 0; i < nacts && rc == SH_OK; i++) {
            if (acts[i].file) {
                rc = run_file(&sh, acts[i].arg);
            } else {
                source_t src = {.text = acts[i].arg};
                rc = run_source(&sh, &src);
            }
        }
    } else if (rc == SH_OK && isatty(STDIN_FILENO)) {
        sh.interactive = 1;
        rl_readline_name = "flowsql";
        history_start();
        complete_init(&sh);
        banner(&sh);
        if (!no_rc) {
            const char *home = getenv("HOME");
            char rcpath[4096];
            snprintf(rcpath, sizeof(rcpath), "%s/.flowsqlrc", home ? home : ".");
            if (home && access(rcpath, R_OK) == 0)
                run_file(&sh, rcpath);
        }
        source_t src = {.tty = 1};
        rc = run_source(&sh, &src);
        if (rc != SH_TERM)
            rc = SH_OK;
    } else if (rc == SH_OK) {
        source_t src = {.name = "<stdin>", .f = stdin};
        rc = run_source(&sh, &src);
    }
    out_redirect(&sh, NULL);
    client_free(sh.cl);
    free(full_url);
    free(acts);
    free(hist_path);
    free(hist_last);
    return rc;
}
