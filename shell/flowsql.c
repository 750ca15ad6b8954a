/*
 * flowsql.c - the interactive client of flowsqld: options and start.
 * See shell.h for the parts and docs/SHELL.md for how to use it.
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
#include "util/file.h"

#include <editline/readline.h>
#include <getopt.h>
#include <locale.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- start -------------------------------------------------------------------- */

/* --token-file: the token is the file's first line, without its line
 * end; an unreadable file or an empty first line is an error (NULL,
 * said on stderr), never a request without a token. */
static char *read_token(const char *path)
{
    diag_t err;
    diag_clear(&err);
    char *t = file_read_regular(path, 4096, NULL, &err);
    if (!t) {
        fprintf(stderr, "flowsql: --token-file: %s\n", err.msg);
        return NULL;
    }
    t[strcspn(t, "\r\n")] = 0;
    if (!*t) {
        fprintf(stderr, "flowsql: --token-file: %s: no token on its first "
                "line\n", path);
        free(t);
        return NULL;
    }
    return t;
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
    } else if (r.status == 503) {
        /* not ready yet (or shutting down): /healthz says which */
        json_t *j = sh_resp_json(&r);
        const char *st = json_string_value(json_object_get(j, "status"));
        fprintf(stderr, "flowsql %s: flowsqld at %s is %s%s.\n",
                FLOWSQL_VERSION, client_url(sh->cl), st ? st : "not ready",
                st && !strcmp(st, "starting")
                    ? " (loading its saved queries); statements may fail "
                      "until it is ready" : "");
        json_decref(j);
    } else if (r.status != 200) {
        fprintf(stderr, "flowsql %s: %s answers HTTP %ld", FLOWSQL_VERSION,
                client_url(sh->cl), r.status);
        if (r.status == 401)
            fprintf(stderr, ": it wants an API token (--token or "
                    "FLOWSQL_API_TOKEN)");
        fputc('\n', stderr);
    } else if (!sh->quiet) {
        json_t *j = sh_resp_json(&r);
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
        {"token-file", required_argument, NULL, 'T'},
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
    int sub_rc;
    if (subcmd_run(argc, argv, &sub_rc))
        return sub_rc;

    shell_t sh = {.format = FMT_TABLE, .pager = 1, .out = stdout};
    const char *url = getenv("FLOWSQL_URL");
    const char *token = getenv("FLOWSQL_API_TOKEN");
    const char *token_file = getenv("FLOWSQL_API_TOKEN_FILE");
    char *file_token = NULL;
    const char *output = NULL;
    int no_rc = 0, opt;
    action_t *acts = xcalloc((size_t)argc + 1, sizeof(action_t));
    int nacts = 0;
    while ((opt = getopt_long(argc, argv, "u:t:T:c:f:F:o:w:qPXhV", longopts,
                              NULL)) != -1) {
        switch (opt) {
        case 'u': url = optarg; break;
        case 't': token = optarg; token_file = NULL; break;
        case 'T': token_file = optarg; break;
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
            else if (!strcmp(optarg, "parquet"))
                sh.format = FMT_PARQUET;
            else {
                fprintf(stderr, "flowsql: --format: '%s' is not table, csv, "
                        "json or parquet\n", optarg);
                goto usage_error;
            }
            break;
        case 'o': output = optarg; break;
        case 'w': {
            char *end;
            sh.max_windows = strtol(optarg, &end, 10);
            if (*end || sh.max_windows <= 0) {
                fprintf(stderr, "flowsql: --windows: '%s' is not a positive "
                        "number\n", optarg);
                goto usage_error;
            }
            break;
        }
        case 'q': sh.quiet = 1; break;
        case 'P': sh.pager = 0; break;
        case 'X': no_rc = 1; break;
        case 'h': shell_usage(NULL, stdout); free(acts); return 0;
        case 'V':
            printf("flowsql %s\n", FLOWSQL_VERSION);
            free(acts);
            return 0;
        default: shell_usage(NULL, stderr); goto usage_error;
        }
    }
    if (optind < argc)
        url = argv[optind++];
    if (optind < argc) {
        fprintf(stderr, "flowsql: unexpected argument '%s'\n", argv[optind]);
        shell_usage(NULL, stderr);
        goto usage_error;
    }
    if (token_file && *token_file) {
        file_token = read_token(token_file);
        if (!file_token)
            goto usage_error;
        token = file_token;
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
                rc = run_text(&sh, acts[i].arg);
            }
        }
    } else if (rc == SH_OK && isatty(STDIN_FILENO)) {
        sh.interactive = 1;
        rl_readline_name = "flowsql";
        complete_init(&sh);
        banner(&sh);
        if (!no_rc) {
            const char *home = getenv("HOME");
            char rcpath[4096];
            snprintf(rcpath, sizeof(rcpath), "%s/.flowsqlrc", home ? home : ".");
            if (home && access(rcpath, R_OK) == 0)
                run_file(&sh, rcpath);
        }
        rc = run_terminal(&sh);
        if (rc != SH_TERM)
            rc = SH_OK;
    } else if (rc == SH_OK) {
        rc = run_file(&sh, "-");
    }
    out_redirect(&sh, NULL);
    client_free(sh.cl);
    free(full_url);
    free(file_token);
    free(acts);
    return rc;
usage_error:
    free(acts);
    return SH_CONN;
}
