/*
 * mkdoc.c - make the man pages and the sample config from the texts the
 * programs print, so they never disagree with --help:
 *
 *   mkdoc flowsqld.8      flowsqld(8), from the option table of
 *                         server/config.c (config_option, config_about)
 *   mkdoc flowsql.1       flowsql(1), from the shell's --help texts
 *                         (shell/usage.c: flowsql and its subcommands)
 *   mkdoc flowsqld.conf   /etc/flowsql/flowsqld.conf: every option with
 *                         its help and its default, commented out
 *
 * Built by `make install` with the installed defaults (server/defaults.c
 * linked as for the installed flowsqld), so the pages say the paths of
 * the program they come with. Writes to standard output; exit status 2
 * on a bad argument.
 */
#include "server/config.h"
#include "shell/shell.h"

#include <stdio.h>
#include <string.h>

#ifndef FLOWSQL_SYSCONFDIR
#define FLOWSQL_SYSCONFDIR "/etc"
#endif
#ifndef FLOWSQL_DOCDIR
#define FLOWSQL_DOCDIR "/usr/local/share/doc/flowsql"
#endif

/* n bytes of s as roff text: a backslash is \e, a hyphen \- (so options
 * copy as typed), and the line cannot start a request (\& first). */
static void roff(FILE *f, const char *s, size_t n)
{
    fputs("\\&", f);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\')
            fputs("\\e", f);
        else if (s[i] == '-')
            fputs("\\-", f);
        else
            fputc(s[i], f);
    }
}

static void roff_line(FILE *f, const char *s)
{
    roff(f, s, strlen(s));
    fputc('\n', f);
}

static void head(FILE *f, const char *name, int section, const char *what)
{
    char up[32];
    size_t i;
    for (i = 0; name[i] && i + 1 < sizeof(up); i++)
        up[i] = (char)(name[i] >= 'a' && name[i] <= 'z' ? name[i] - 32
                                                        : name[i]);
    up[i] = 0;
    fprintf(f, ".\\\" Made by dist/mkdoc.c from the --help texts; do not "
               "edit.\n.TH %s %d \"\" \"flowsql %s\" \"flowsql\"\n.nh\n.ad l\n"
               ".SH NAME\n%s \\- ", up, section, FLOWSQL_VERSION, name);
    roff_line(f, what);
}

/* flowsqld(8): the option table, one tagged paragraph per option. */
static void man_flowsqld(FILE *f)
{
    head(f, "flowsqld", 8, "continuous SQL queries over IP flows: the "
         "daemon");
    fputs(".SH SYNOPSIS\n.B flowsqld\n[\\fIoptions\\fR]\n"
          ".SH DESCRIPTION\n", f);
    for (const char *p = config_about; *p;) {
        const char *e = strchr(p, '\n');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        roff(f, p, n);
        fputc('\n', f);
        p += n + (e != NULL);
    }
    fputs(".PP\nEach setting is taken, the later winning, from its "
          "default, from the environment variable FLOWSQL_API_TOKEN "
          "(\\fB\\-\\-api\\-token\\fR only), from the config file "
          "(\\fB\\-\\-config\\fR or FLOWSQL_CONFIG), then from the "
          "command line. A name may be written with \\- or _ alike.\n"
          ".SH OPTIONS\n", f);
    config_opt_info_t o;
    for (int i = 0; config_option(i, &o); i++) {
        fputs(".TP\n\\fB\\-\\-", f);
        roff(f, o.name, strlen(o.name));
        fprintf(f, "\\fR=\\fI%s\\fR\n", o.arg);
        roff_line(f, o.help);
        if (*o.def) {
            fputs(".br\nDefault: ", f);
            roff_line(f, o.def);
        }
    }
    fputs(".TP\n\\fB\\-\\-help\\fR\nthis text\n"
          ".TP\n\\fB\\-\\-version\\fR\nprint the version\n"
          ".SH SIGNALS\n.TP\nSIGHUP\nreload the saved queries and the "
          "enrichment files\n.TP\nSIGTERM, SIGINT\nclose the open windows "
          "as they stand, flush the outputs and exit 0\n"
          ".SH EXIT STATUS\n0 on a clean stop; 2 when an option or a "
          "config file line cannot be read; 1 when flowsqld cannot start "
          "with them (a value it refuses, a data directory, database or "
          "file it cannot use).\n.SH FILES\n.TP\n", f);
    roff_line(f, FLOWSQL_SYSCONFDIR "/flowsql/flowsqld.conf");
    fputs("the config file the systemd unit passes with "
          "\\fB\\-\\-config\\fR\n", f);
    const char *d = NULL, *q = NULL;
    for (int i = 0; config_option(i, &o); i++) {
        if (strcmp(o.name, "data-dir") == 0)
            d = o.def;
        if (strcmp(o.name, "queries-dir") == 0)
            q = o.def;
    }
    fputs(".TP\n", f);
    roff_line(f, q);
    fputs("the saved queries (\\fB\\-\\-queries\\-dir\\fR)\n.TP\n", f);
    roff_line(f, d);
    fputs("the SQLite database flowsql.db and the raw-flow archive "
          "(\\fB\\-\\-data\\-dir\\fR)\n.SH SEE ALSO\n\\fBflowsql\\fR(1); "
          "the guides in\n", f);
    roff_line(f, FLOWSQL_DOCDIR);
}

/* One --help text of the shell as roff: "usage:" lines (and the lines
 * indented under them) are the synopsis, "  -" lines options, lines
 * indented deeper continue an option, other lines paragraphs. */
static void usage_man(FILE *f, const char *text, int synopsis_section)
{
    int in_synopsis = 0, in_option = 0, in_para = 0, options = 0;
    for (const char *p = text; *p;) {
        const char *e = strchr(p, '\n');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        char line[512];
        snprintf(line, sizeof(line), "%.*s", (int)n, p);
        p += n + (e != NULL);
        size_t ind = strspn(line, " ");
        if (strncmp(line, "usage: ", 7) == 0 || (in_synopsis && ind >= 7)) {
            const char *s = line + (ind ? ind : 7);
            if (!in_synopsis && synopsis_section)
                fputs(".SH SYNOPSIS\n", f);
            else if (!in_synopsis)
                fputs(".PP\n", f);
            in_synopsis = 1;
            const char *sp = strchr(s, ' ');
            size_t w = sp ? (size_t)(sp - s) : strlen(s);
            fputs("\\fB", f);
            roff(f, s, w);
            fputs("\\fR", f);
            if (sp)
                roff(f, sp, strlen(sp));
            fputs("\n.br\n", f);
            continue;
        }
        if (in_synopsis && synopsis_section)
            fputs(".SH DESCRIPTION\n", f);
        in_synopsis = 0;
        if (!line[0]) {
            in_option = in_para = 0;
            continue;
        }
        if (ind == 2 && line[2] == '-') {
            char *gap = strstr(line + 2, "  ");
            size_t hn = gap ? (size_t)(gap - line - 2) : strlen(line + 2);
            if (!options++ && synopsis_section)
                fputs(".SH OPTIONS\n", f);
            fputs(".TP\n\\fB", f);
            roff(f, line + 2, hn);
            fputs("\\fR\n", f);
            if (gap)
                roff_line(f, gap + strspn(gap, " "));
            in_option = 1;
            continue;
        }
        if (in_option && ind >= 6) {
            roff_line(f, line + ind);
            continue;
        }
        if (!in_para)
            fputs(".PP\n", f);
        in_para = 1;
        in_option = 0;
        roff_line(f, line + ind);
    }
}

static void man_flowsql(FILE *f)
{
    head(f, "flowsql", 1, "the interactive client of flowsqld");
    usage_man(f, shell_usage_text(NULL), 1);
    static const char *const subs[] = {"replay", "history", "export"};
    for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
        fputs(".SH \"FLOWSQL ", f);
        for (const char *c = subs[i]; *c; c++)
            fputc(*c - 'a' + 'A', f);
        fputs("\"\n", f);
        usage_man(f, shell_usage_text(subs[i]), 0);
    }
    fputs(".SH ENVIRONMENT\n.TP\nFLOWSQL_URL\nflowsqld's REST API, as "
          "\\fB\\-\\-url\\fR\n.TP\nFLOWSQL_API_TOKEN\nthe API token, as "
          "\\fB\\-\\-token\\fR\n.SH FILES\n.TP\n~/.flowsqlrc\nstatements "
          "and commands run at the start of an interactive session\n.TP\n"
          "~/.flowsql_history\nthe interactive session's history\n"
          ".SH SEE ALSO\n\\fBflowsqld\\fR(8); the guides in\n", f);
    roff_line(f, FLOWSQL_DOCDIR);
}

/* text as "# " comment lines of at most about 76 columns. */
static void comment(FILE *f, const char *text)
{
    const char *p = text;
    while (*p) {
        size_t n = strlen(p);
        if (n > 74) {
            n = 74;
            while (n > 20 && p[n] != ' ')
                n--;
        }
        fprintf(f, "# %.*s\n", (int)n, p);
        p += n;
        p += strspn(p, " ");
    }
}

/* The sample config: every option but --config, its help, its default
 * commented out (removing the '#' sets the default itself). */
static void sample_conf(FILE *f)
{
    fputs("# " FLOWSQL_SYSCONFDIR "/flowsql/flowsqld.conf - flowsqld's "
          "settings (flowsql " FLOWSQL_VERSION ")\n#\n", f);
    comment(f, "Made from flowsqld's option table (flowsqld --help, "
            "flowsqld(8)): every option with its help and its default, "
            "commented out. A line 'name = value' sets it; values may be "
            "quoted, '#' after a blank starts a comment (docs/CONFIG.md). "
            "flowsqld reads this file when started with --config (the "
            "systemd unit does); SIGHUP reloads the saved queries and the "
            "enrichment files, other settings need a restart.");
    config_opt_info_t o;
    for (int i = 0; config_option(i, &o); i++) {
        if (strcmp(o.name, "config") == 0)
            continue;
        char text[1024];
        snprintf(text, sizeof(text), "--%s=%s: %s", o.name, o.arg, o.help);
        fputc('\n', f);
        comment(f, text);
        fprintf(f, "#%s =%s%s\n", o.name, *o.def ? " " : "", o.def);
    }
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "flowsqld.8") == 0)
        man_flowsqld(stdout);
    else if (argc == 2 && strcmp(argv[1], "flowsql.1") == 0)
        man_flowsql(stdout);
    else if (argc == 2 && strcmp(argv[1], "flowsqld.conf") == 0)
        sample_conf(stdout);
    else {
        fprintf(stderr, "usage: mkdoc flowsqld.8|flowsql.1|flowsqld.conf\n");
        return 2;
    }
    return fflush(stdout) == 0 ? 0 : 1;
}
