/*
 * shell.h - flowsql, the interactive client: its parts and what they
 * share.
 *
 *   flowsql.c   options and start
 *   run.c       input sources (terminal, -c, -f, \i, stdin) and the
 *               read -> split -> run loop; history
 *   split.c     cuts input lines into statements at ';' (not inside
 *               strings, quoted names or comments)
 *   exec.c      runs one statement: picks the REST endpoint, shows the
 *               answer or the error
 *   live.c      live views: a temporary query or \watch, window by window
 *   commands.c  the backslash commands, as a table
 *   output.c    tables, CSV and JSON; the pager; \o
 *   complete.c  tab completion (libedit)
 *   help.c      \h: help on the dialect from the schema and function tables
 *   metrics.c   \metrics: /metrics made readable
 *   client.c    HTTP (libcurl) and Server-Sent Events
 *   sig.c       Ctrl-C and SIGTERM as flags and a self-pipe
 *
 * Ownership: the shell_t lives for the whole run; results (json_t) are
 * owned by whoever asked the server for them and freed after display.
 */
#ifndef FLOWSQL_SHELL_H
#define FLOWSQL_SHELL_H

#include <jansson.h>
#include <stdio.h>

#include "shell/client.h"
#include "util/sbuf.h"

/* Outcome of a statement or command; also the exit status of a script
 * that stops on it. */
enum sh_status {
    SH_OK = 0,
    SH_ERR = 1,     /* the statement failed (the server said why) */
    SH_CONN = 2,    /* no answer from the server (or bad options) */
    SH_INTR = 130,  /* interrupted by Ctrl-C outside a live view */
    SH_TERM = 143,  /* SIGTERM or SIGHUP */
};

/* FMT_PARQUET: answers of queries over the archive are written to the
 * output file as Parquet (other results are shown as tables). */
enum out_format { FMT_TABLE, FMT_CSV, FMT_JSON, FMT_PARQUET };

typedef struct shell {
    client_t   *cl;
    const char *url;
    /* settings */
    int         format;       /* enum out_format */
    int         timing;       /* \timing */
    int         pager;        /* \pager: page long results on a terminal */
    int         grouped;      /* \numbers grouped: 1,234,567 in tables */
    int         quiet;        /* -q: no banner, no command tags */
    long        max_windows;  /* live views stop after this many (0: no) */
    /* where results go */
    FILE       *out;          /* stdout, or the \o file */
    char       *out_path;
    /* how we run */
    int         interactive;  /* reading statements from a terminal */
    int         quit;         /* \q was given */
    int         depth;        /* \i nesting */
    struct split *split;      /* the statement being typed (\r) */
    /* the statement being run, for error messages in scripts */
    const char *src_name;     /* file name, "<stdin>", or NULL */
    int         src_line;     /* line of the statement's first line */
} shell_t;

/* ---- exec.c ---------------------------------------------------------- */

/* Run one statement (no trailing ';' needed). Returns an sh_status. */
int exec_statement(shell_t *sh, const char *sql);

/* SHOW QUERIES / \d; \d name. */
int exec_show_queries(shell_t *sh);
int exec_describe(shell_t *sh, const char *name);

/* An HTTP call with the shell's error handling: transport errors and
 * interruptions are reported here (SH_CONN, SH_INTR); any HTTP answer
 * is SH_OK with r filled (the caller looks at r->status). */
int sh_call(shell_t *sh, const char *method, const char *path,
            const char *body, client_resp_t *r);

/* sh_call() for an answer that must be 200: anything else is reported
 * (sh_http_error) and freed, and its SH_ERR returned; SH_OK leaves r for
 * the caller to read and free. */
int sh_call_200(shell_t *sh, const char *method, const char *path,
                const char *body, client_resp_t *r);

/* An answer's body as JSON (NULL if it is not JSON). */
json_t *sh_resp_json(const client_resp_t *r);

/* GET a registered query's description (text, plan, counters): SH_OK
 * with *q set (the caller's), or the error, reported. */
int sh_get_query(shell_t *sh, const char *name, json_t **q);

/* Report a failed answer (status >= 400): the server's "detail" (the
 * message with the statement line and a caret) or its "error". Returns
 * SH_ERR. */
int sh_http_error(shell_t *sh, const client_resp_t *r);

/* Errors and notices on stderr; in a script, errors say where
 * ("flowsql:file.sql:12: ERROR: ..."). */
void sh_error(shell_t *sh, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void sh_notice(shell_t *sh, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* "/api/v1/queries/<name, escaped>" + suffix, malloc'ed. */
char *sh_query_path(shell_t *sh, const char *name, const char *suffix);

/* ---- live.c ---------------------------------------------------------- */

/* SELECT ... FROM flows WINDOW ...: register it as a temporary query,
 * show its windows until Ctrl-C (or max_windows), then drop it. */
int live_select(shell_t *sh, const char *sql);
/* \watch name [n]: follow a registered query's windows. */
int live_watch(shell_t *sh, const char *name, long max_windows);
/* Show one window event (the stream's data) in the shell's format; cols
 * are the query's column names (filled from the first row if empty);
 * *header_done says a CSV header is out already. */
void live_show_window(shell_t *sh, json_t *cols, json_t *w, int *header_done);

/* ---- commands.c ------------------------------------------------------ */

/* Run a backslash command line ("\d talkers"). */
int command_run(shell_t *sh, const char *line);
/* Names of the commands, for completion: NULL after the last. */
const char *command_name(int i);

/* ---- run.c ------------------------------------------------------------ */

/* Run statements and commands from a file (\i, -f; "-" is stdin), a
 * -c text, or the terminal. Scripts stop at the first error and return
 * its status; the terminal returns SH_OK at its end (SH_TERM on
 * SIGTERM). */
int run_file(shell_t *sh, const char *path);
int run_text(shell_t *sh, const char *text);
int run_terminal(shell_t *sh);

/* ---- output.c -------------------------------------------------------- */

typedef struct table_opts {
    int         grouped;     /* thousands separators in integers */
    int         footer;      /* "(N rows)" */
    const char *title;       /* a line above the table, or NULL */
} table_opts_t;

/* A result as a psql-like aligned table: column names centred above a
 * separator line, numbers right-aligned, text left-aligned, then
 * "(N rows)". cols: array of strings; rows: array of arrays. */
void out_table(sbuf_t *b, json_t *cols, json_t *rows, const table_opts_t *o);
/* RFC 4180 CSV: a header line (if header) and one line per row. */
void out_csv(sbuf_t *b, json_t *cols, json_t *rows, int header);
/* JSON Lines: one object per row, keys in column order. */
void out_json_rows(sbuf_t *b, json_t *cols, json_t *rows);
/* Any JSON value as compact text, numbers in the shortest exact form. */
void out_json(sbuf_t *b, json_t *v);
/* A value as table text: strings as they are (control characters
 * escaped), numbers exact, null as empty. */
void out_cell(sbuf_t *b, json_t *v, int grouped);
/* Digits of an integer text grouped by three with ',' ("-1234567" ->
 * "-1,234,567"). */
void out_group_digits(sbuf_t *b, const char *digits);
/* Display width of UTF-8 text (code points). */
size_t out_width(const char *s, size_t len);

/* A result in the shell's format, to its output (paged when long and
 * interactive). cols/rows as above; title only in table format. */
void out_result(shell_t *sh, json_t *cols, json_t *rows, const char *title);
/* Text to the shell's output; through the pager if pageable and longer
 * than the terminal. */
void out_emit(shell_t *sh, const char *text, size_t len, int pageable);
/* \o: results to a file from now on (NULL: back to stdout). */
int  out_redirect(shell_t *sh, const char *path);

/* ---- help.c, metrics.c, complete.c ----------------------------------- */

int  help_show(shell_t *sh, const char *topic);
/* Topic names, for completion: NULL after the last. */
const char *help_topic(int i);

int  metrics_show(shell_t *sh, const char *filter);

/* Install tab completion; it asks sh's server for query names. */
void complete_init(shell_t *sh);

/* ---- split.c ---------------------------------------------------------- */

/* Lexical state between lines. */
enum split_state { SPLIT_NORMAL, SPLIT_SQUOTE, SPLIT_DQUOTE, SPLIT_COMMENT };

typedef struct split {
    sbuf_t buf;          /* pending statement text */
    size_t scanned;      /* bytes of buf already scanned */
    int    state;        /* enum split_state at the end of buf */
    int    depth;        /* open parentheses */
    int    has_text;     /* buf holds more than blanks and comments */
    int    start_line;   /* line of the pending statement's first text */
    /* complete statements, oldest first */
    char **ready;
    int   *ready_line;
    int    nready, cap;
} split_t;

void  split_init(split_t *sp);
void  split_free(split_t *sp);
/* Add one input line (without its newline); lineno is its number. */
void  split_line(split_t *sp, const char *line, size_t len, int lineno);
/* The next complete statement (malloc'ed, without its ';', trimmed), or
 * NULL. *line: the line it starts on. A backslash command where a
 * statement could start ("SHOW QUERIES; \d") comes out as its own item:
 * text starting with '\'. */
char *split_next(split_t *sp, int *line);
/* At the end of input: what is pending as a statement, or NULL if only
 * blanks and comments are left. */
char *split_flush(split_t *sp, int *line);
/* Forget what is pending (\r). */
void  split_reset(split_t *sp);
/* A statement is started and not finished. */
int   split_pending(const split_t *sp);
/* Statement text on one line, for history: newlines outside strings
 * become spaces and -- comments are dropped. malloc'ed. */
char *split_one_line(const char *text);

/* ---- subcmd.c ---------------------------------------------------------- */

/* flowsql replay | history | export ...: run it (1, with *rc its exit
 * status) if argv[1] names one of them, else 0. */
int subcmd_run(int argc, char **argv, int *rc);

/* ---- usage.c ----------------------------------------------------------- */

#define DEFAULT_URL "http://127.0.0.1:8080"

/* The --help text of flowsql (cmd NULL) or of its subcommand cmd
 * ("replay", "history", "export"); NULL for another name. */
const char *shell_usage_text(const char *cmd);
void shell_usage(const char *cmd, FILE *f);

/* ---- sig.c ------------------------------------------------------------- */

/* SIGINT and SIGTERM set flags and write to a pipe that waiting code
 * polls; SIGPIPE is ignored (a pager that quits early). */
void sig_init(void);
int  sig_fd(void);
int  sig_interrupted(void);   /* Ctrl-C since the last sig_clear() */
int  sig_terminated(void);    /* SIGTERM or SIGHUP: finish and exit */
void sig_clear(void);         /* forget Ctrl-C */
/* While held, sig_interrupted() is 0 and waits do not watch the pipe:
 * for the clean-up a signal asked for. The flags stay. */
void sig_hold(int on);
int  sig_held(void);

#endif
