/*
 * subcmd.c - flowsql's commands over the archive that run as jobs or
 * write files, for scripts:
 *
 *   flowsql replay --to HOST:PORT [--speed N|max] [--tcp] [SELECTION...]
 *   flowsql history QUERY --from T --until T [--table NAME]
 *   flowsql export -o FILE [--ip binary] [SELECTION...]
 *
 * SELECTION is what follows FROM flows in a query over the archive
 * ("LAST 1h WHERE dstport = 445"), given as one or more words. replay
 * and history start a job on flowsqld (POST /api/v1/archive/replay,
 * POST /api/v1/queries/{name}/history) and follow it until it ends,
 * showing its progress on stderr (Ctrl-C cancels it, --detach leaves it
 * running); export writes the selected flows, every stored field, as
 * one Parquet file (POST /api/v1/sql?format=parquet). Exit status as
 * the shell's: 0 done, 1 the server refused or the job failed, 2 no
 * server or bad options, 130 interrupted.
 */
#include "shell/shell.h"
#include "engine/schema.h"
#include "util/arena.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>


typedef struct sub {
    shell_t     sh;
    const char *url, *token;
    int         detach, quiet;
    char       *full_url;
} sub_t;

static int sub_connect(sub_t *s)
{
    const char *url = s->url ? s->url : getenv("FLOWSQL_URL");
    if (!url || !*url)
        url = DEFAULT_URL;
    if (!strstr(url, "://")) {
        size_t n = strlen(url) + 8;
        s->full_url = xmalloc(n);
        snprintf(s->full_url, n, "http://%s", url);
        url = s->full_url;
    }
    s->sh.url = url;
    s->sh.out = stdout;
    s->sh.quiet = s->quiet;
    sig_init();
    s->sh.cl = client_new(url, s->token ? s->token : getenv("FLOWSQL_API_TOKEN"));
    if (!s->sh.cl) {
        fprintf(stderr, "flowsql: cannot start libcurl\n");
        return SH_CONN;
    }
    return SH_OK;
}

static void sub_free(sub_t *s)
{
    client_free(s->sh.cl);
    free(s->full_url);
}

/* The words left on the command line, joined by blanks. */
static char *join_words(int argc, char **argv, int from)
{
    sbuf_t b = SBUF_INIT;
    for (int i = from; i < argc; i++) {
        if (i > from)
            sbuf_addc(&b, ' ');
        sbuf_add(&b, argv[i]);
    }
    return sbuf_detach(&b);
}

/* Follow job id until it ends: a progress line on stderr (unless quiet);
 * Ctrl-C cancels the job. SH_OK when it is done, SH_ERR when it failed
 * or was cancelled. */
static int follow(sub_t *s, long long id)
{
    char path[64];
    snprintf(path, sizeof(path), "/api/v1/jobs/%lld", id);
    int tty = isatty(STDERR_FILENO);
    for (;;) {
        if (sig_interrupted()) {
            client_resp_t r;
            sig_clear();
            sig_hold(1);
            sh_call(&s->sh, "DELETE", path, NULL, &r);
            client_resp_free(&r);
            sig_hold(0);
            fprintf(stderr, "%sflowsql: job %lld cancelled\n", tty ? "\n" : "",
                    id);
            return SH_INTR;
        }
        client_resp_t r;
        int rc = sh_call_200(&s->sh, "GET", path, NULL, &r);
        if (rc != SH_OK)
            return rc;
        json_t *j = sh_resp_json(&r);
        client_resp_free(&r);
        const char *state = json_string_value(json_object_get(j, "state"));
        double prog = json_number_value(json_object_get(j, "progress"));
        long long flows = json_integer_value(json_object_get(j, "flows"));
        json_t *w = json_object_get(j, "windows");
        if (!s->quiet && tty)
            fprintf(stderr, "\r%s: %3.0f%%, %lld flows%s%lld%s   ",
                    state ? state : "?", prog * 100, flows,
                    w ? ", " : "", w ? (long long)json_integer_value(w) : 0,
                    w ? " windows" : "");
        if (state && strcmp(state, "running") != 0) {
            if (!s->quiet && tty)
                fputc('\n', stderr);
            /* the job as JSON: what it did */
            char *t = json_dumps(j, JSON_COMPACT);
            printf("%s\n", t);
            free(t);
            fflush(stdout);
            int ok = strcmp(state, "done") == 0;
            if (!ok) {
                const char *e = json_string_value(json_object_get(j, "error"));
                fprintf(stderr, "flowsql: job %lld %s%s%s\n", id, state,
                        e ? ": " : "", e ? e : "");
            }
            json_decref(j);
            return ok ? SH_OK : SH_ERR;
        }
        json_decref(j);
        struct timespec ts = {0, 250000000};
        nanosleep(&ts, NULL);
    }
}

/* POST a job and follow it (or print it with --detach). */
static int start_job(sub_t *s, const char *path, json_t *body)
{
    char *b = json_dumps(body, JSON_COMPACT);
    client_resp_t r;
    int rc = sh_call(&s->sh, "POST", path, b, &r);
    free(b);
    if (rc != SH_OK)
        return rc;
    if (r.status != 202) {
        rc = sh_http_error(&s->sh, &r);
        client_resp_free(&r);
        return rc;
    }
    json_t *j = sh_resp_json(&r);
    client_resp_free(&r);
    long long id = json_integer_value(json_object_get(j, "id"));
    const char *table = json_string_value(json_object_get(j, "table"));
    if (!s->quiet)
        fprintf(stderr, "flowsql: job %lld started%s%s\n", id,
                table ? ", writing " : "", table ? table : "");
    if (s->detach) {
        char *t = json_dumps(j, JSON_COMPACT);
        printf("%s\n", t);
        free(t);
        json_decref(j);
        return SH_OK;
    }
    json_decref(j);
    return follow(s, id);
}

enum { O_TO = 256, O_SPEED, O_TCP, O_MTU, O_DETACH, O_FROM, O_UNTIL,
       O_TABLE, O_IP };

static int sub_replay(int argc, char **argv)
{
    static const struct option lo[] = {
        {"to", required_argument, NULL, O_TO},
        {"speed", required_argument, NULL, O_SPEED},
        {"tcp", no_argument, NULL, O_TCP},
        {"mtu", required_argument, NULL, O_MTU},
        {"detach", no_argument, NULL, O_DETACH},
        {"url", required_argument, NULL, 'u'},
        {"token", required_argument, NULL, 't'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    sub_t s = {0};
    const char *to = NULL, *speed = NULL;
    int tcp = 0, opt;
    long mtu = 0;
    while ((opt = getopt_long(argc, argv, "+u:t:qh", lo, NULL)) != -1) {
        switch (opt) {
        case O_TO: to = optarg; break;
        case O_SPEED: speed = optarg; break;
        case O_TCP: tcp = 1; break;
        case O_MTU: mtu = strtol(optarg, NULL, 10); break;
        case O_DETACH: s.detach = 1; break;
        case 'u': s.url = optarg; break;
        case 't': s.token = optarg; break;
        case 'q': s.quiet = 1; break;
        case 'h': shell_usage("replay", stdout); return SH_OK;
        default: shell_usage("replay", stderr); return SH_CONN;
        }
    }
    if (!to) {
        fprintf(stderr, "flowsql replay: --to HOST:PORT is needed\n");
        shell_usage("replay", stderr);
        return SH_CONN;
    }
    json_t *body = json_object();
    json_object_set_new(body, "to", json_string(to));
    if (tcp)
        json_object_set_new(body, "transport", json_string("tcp"));
    if (mtu)
        json_object_set_new(body, "mtu", json_integer(mtu));
    if (speed) {
        char *end;
        double v = strtod(speed, &end);
        if (strcmp(speed, "max") == 0) {
            json_object_set_new(body, "speed", json_string("max"));
        } else if (*end || !(v > 0)) {
            fprintf(stderr, "flowsql replay: --speed: '%s' is not a "
                    "positive number or max\n", speed);
            json_decref(body);
            return SH_CONN;
        } else {
            json_object_set_new(body, "speed", json_real(v));
        }
    }
    char *sel = join_words(argc, argv, optind);
    json_object_set_new(body, "flows", json_string(sel));
    free(sel);
    int rc = sub_connect(&s);
    if (rc == SH_OK)
        rc = start_job(&s, "/api/v1/archive/replay", body);
    json_decref(body);
    sub_free(&s);
    return rc;
}

static int sub_history(int argc, char **argv)
{
    static const struct option lo[] = {
        {"from", required_argument, NULL, O_FROM},
        {"until", required_argument, NULL, O_UNTIL},
        {"table", required_argument, NULL, O_TABLE},
        {"detach", no_argument, NULL, O_DETACH},
        {"url", required_argument, NULL, 'u'},
        {"token", required_argument, NULL, 't'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    sub_t s = {0};
    const char *from = NULL, *until = NULL, *table = NULL;
    int opt;
    while ((opt = getopt_long(argc, argv, "u:t:qh", lo, NULL)) != -1) {
        switch (opt) {
        case O_FROM: from = optarg; break;
        case O_UNTIL: until = optarg; break;
        case O_TABLE: table = optarg; break;
        case O_DETACH: s.detach = 1; break;
        case 'u': s.url = optarg; break;
        case 't': s.token = optarg; break;
        case 'q': s.quiet = 1; break;
        case 'h': shell_usage("history", stdout); return SH_OK;
        default: shell_usage("history", stderr); return SH_CONN;
        }
    }
    if (optind != argc - 1 || !from || !until) {
        fprintf(stderr, "flowsql history: one QUERY, --from and --until are "
                "needed\n");
        shell_usage("history", stderr);
        return SH_CONN;
    }
    json_t *body = json_object();
    char *e1, *e2;
    long long f = strtoll(from, &e1, 10), u = strtoll(until, &e2, 10);
    json_object_set_new(body, "from", *e1 ? json_string(from) : json_integer(f));
    json_object_set_new(body, "until", *e2 ? json_string(until) : json_integer(u));
    if (table)
        json_object_set_new(body, "table", json_string(table));
    int rc = sub_connect(&s);
    if (rc == SH_OK) {
        char *path = sh_query_path(&s.sh, argv[optind], "/history");
        rc = start_job(&s, path, body);
        free(path);
    }
    json_decref(body);
    sub_free(&s);
    return rc;
}

static int sub_export(int argc, char **argv)
{
    static const struct option lo[] = {
        {"output", required_argument, NULL, 'o'},
        {"ip", required_argument, NULL, O_IP},
        {"url", required_argument, NULL, 'u'},
        {"token", required_argument, NULL, 't'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    sub_t s = {0};
    const char *out = NULL, *ip = "text";
    int opt;
    while ((opt = getopt_long(argc, argv, "+o:u:t:qh", lo, NULL)) != -1) {
        switch (opt) {
        case 'o': out = optarg; break;
        case O_IP: ip = optarg; break;
        case 'u': s.url = optarg; break;
        case 't': s.token = optarg; break;
        case 'q': s.quiet = 1; break;
        case 'h': shell_usage("export", stdout); return SH_OK;
        default: shell_usage("export", stderr); return SH_CONN;
        }
    }
    if (!out || (strcmp(ip, "text") != 0 && strcmp(ip, "binary") != 0)) {
        fprintf(stderr, "flowsql export: %s\n", !out ? "-o FILE is needed"
                : "--ip is text or binary");
        shell_usage("export", stderr);
        return SH_CONN;
    }
    sbuf_t sql = SBUF_INIT;
    sbuf_add(&sql, "SELECT ");
    int first = 1;
    for (int f = 0; f < F_COUNT; f++) {
        if (schema_fields[f].is_virtual)
            continue;
        sbuf_printf(&sql, "%s\"%s\"", first ? "" : ", ", schema_fields[f].name);
        first = 0;
    }
    sbuf_add(&sql, " FROM flows ");
    char *sel = join_words(argc, argv, optind);
    sbuf_add(&sql, sel);
    free(sel);
    int rc = sub_connect(&s);
    FILE *f = rc == SH_OK ? fopen(out, "w") : NULL;
    if (rc == SH_OK && !f) {
        fprintf(stderr, "flowsql export: cannot write %s: %s\n", out,
                strerror(errno));
        rc = SH_CONN;
    }
    if (rc == SH_OK) {
        json_t *o = json_object();
        json_object_set_new(o, "sql", json_string(sbuf_str(&sql)));
        char *body = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        char path[64], err[512];
        snprintf(path, sizeof(path), "/api/v1/sql?format=parquet&ip=%s", ip);
        client_resp_t r;
        int crc = client_download(s.sh.cl, path, body,
                                  "application/vnd.apache.parquet", f, &r,
                                  err, sizeof(err));
        free(body);
        if (fclose(f) != 0 && crc == CLIENT_OK) {
            snprintf(err, sizeof(err), "cannot write %s: %s", out,
                     strerror(errno));
            crc = CLIENT_ECONN;
        }
        if (crc != CLIENT_OK) {
            fprintf(stderr, "flowsql export: %s (%s is incomplete)\n",
                    crc == CLIENT_EINTR ? "interrupted" : err, out);
            rc = crc == CLIENT_EINTR ? SH_INTR : SH_CONN;
        } else if (r.status != 200) {
            rc = sh_http_error(&s.sh, &r);
            unlink(out);
        } else if (!s.quiet) {
            fprintf(stderr, "flowsql export: %s written\n", out);
        }
        client_resp_free(&r);
    }
    sbuf_free(&sql);
    sub_free(&s);
    return rc;
}

int subcmd_run(int argc, char **argv, int *rc)
{
    if (argc < 2)
        return 0;
    const char *cmd = argv[1];
    if (strcmp(cmd, "replay") == 0)
        *rc = sub_replay(argc - 1, argv + 1);
    else if (strcmp(cmd, "history") == 0)
        *rc = sub_history(argc - 1, argv + 1);
    else if (strcmp(cmd, "export") == 0)
        *rc = sub_export(argc - 1, argv + 1);
    else
        return 0;
    return 1;
}
