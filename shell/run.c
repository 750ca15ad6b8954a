/*
 * run.c - where statements come from and the loop that runs them: the
 * terminal (libedit, with history in ~/.flowsql_history), -c text, and
 * files (-f, \i, standard input). See shell.h.
 *
 * A script stops at its first error and returns its status; at the
 * terminal errors are shown and the next statement is read.
 */
#include "shell/shell.h"
#include "util/arena.h"

#include <ctype.h>
#include <editline/readline.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_INCLUDE_DEPTH 16

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
    if (src->tty) {
        /* libedit gives NULL for the end of input and for a read that a
         * signal cut short; only errno tells them apart when the signal
         * was none of ours. */
        for (;;) {
            errno = 0;
            char *l = readline(prompt(sp));
            if (l || errno != EINTR || sig_interrupted())
                return l;
            fputc('\n', stdout);
        }
    }
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
            if (!split_pending(&sp))
                hist.len = 0;   /* \r forgot the statement */
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
                st = stmt[0] == '\\' ? command_run(sh, stmt)
                                      : exec_statement(sh, stmt);
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

int run_text(shell_t *sh, const char *text)
{
    source_t src = {.text = text};
    return run_source(sh, &src);
}

int run_terminal(shell_t *sh)
{
    history_start();
    source_t src = {.tty = 1};
    int rc = run_source(sh, &src);
    free(hist_path);
    free(hist_last);
    hist_path = hist_last = NULL;
    return rc;
}
