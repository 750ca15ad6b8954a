/*
 * complete.c - tab completion with libedit's readline interface.
 *
 * What is offered depends on the words before the cursor:
 *
 *   \<Tab> at the start of a line     commands
 *   \d, \watch                        registered query names
 *   \format, \timing, \pager, ...     their arguments
 *   \h                                help topics, fields, functions
 *   \i, \o                            file names (libedit's own)
 *   DROP QUERY [IF EXISTS]            query names
 *   FROM                              flows and query names (stored
 *                                     tables for ad hoc SQL)
 *   WITH (, WITH (... ,               CREATE QUERY options (the parser's
 *                                     list, sema_option)
 *   WITH (... option =                its usual values (true/false,
 *                                     durations)
 *   f( and its later arguments        fields (and DISTINCT if f is an
 *                                     aggregate): inside the innermost
 *                                     open '(' of a function
 *   anywhere else                     keywords, fields, functions
 *
 * Query names are asked from the server (GET /api/v1/queries, at most
 * once every two seconds, one second at most per try). Keywords follow
 * the case of what was typed: sel<Tab> gives select, SEL<Tab> SELECT.
 */
#include "shell/shell.h"
#include "engine/func.h"
#include "engine/schema.h"
#include "parser/ast.h"
#include "util/arena.h"
#include "util/timeutil.h"

#include <ctype.h>
#include <editline/readline.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The lexer's keywords (parser/lexer.re), plus "flows". */
static const char *const keywords[] = {
    "SELECT", "FROM", "WHERE", "GROUP", "BY", "HAVING", "ORDER", "ASC",
    "DESC", "LIMIT", "WINDOW", "SLIDE", "ON", "LATENESS", "CREATE", "QUERY",
    "QUERIES", "WITH", "AS", "DROP", "SHOW", "EXPLAIN", "IF", "EXISTS",
    "KEEP", "DATA", "AND", "OR", "NOT", "IN", "BETWEEN", "CASE", "WHEN",
    "THEN", "ELSE", "END", "DISTINCT", "TRUE", "FALSE", "LAST", "SINCE",
    "UNTIL", "ANALYZE", NULL,
};

static shell_t *csh;

/* Candidates of the completion in progress. */
static struct {
    const char **v;
    int         *kw;     /* a keyword: takes the case of the text */
    int          n, cap;
} cand;

static struct {
    char  **v;
    int     n;
    int64_t at;          /* when they were fetched (monotonic ms) */
} names;

static void add(const char *s, int kw)
{
    if (cand.n == cand.cap) {
        cand.cap = cand.cap ? cand.cap * 2 : 128;
        cand.v = xrealloc(cand.v, sizeof(char *) * (size_t)cand.cap);
        cand.kw = xrealloc(cand.kw, sizeof(int) * (size_t)cand.cap);
    }
    cand.v[cand.n] = s;
    cand.kw[cand.n++] = kw;
}

static void fetch_names(void)
{
    int64_t now = time_mono_ms();
    if (names.at && now - names.at < 2000)
        return;
    names.at = now;
    client_resp_t r;
    char err[256];
    sig_hold(1);
    int rc = client_call(csh->cl, "GET", "/api/v1/queries", NULL, 1000, &r,
                         err, sizeof(err));
    sig_hold(0);
    if (rc != CLIENT_OK || r.status != 200) {
        client_resp_free(&r);
        return;     /* keep what we had */
    }
    json_t *j = sh_resp_json(&r);
    client_resp_free(&r);
    for (int i = 0; i < names.n; i++)
        free(names.v[i]);
    free(names.v);
    json_t *qs = json_object_get(j, "queries");
    names.n = 0;
    names.v = xcalloc(json_array_size(qs) + 1, sizeof(char *));
    size_t i;
    json_t *q;
    json_array_foreach(qs, i, q) {
        const char *n = json_string_value(json_object_get(q, "name"));
        if (n)
            names.v[names.n++] = xstrdup(n);
    }
    json_decref(j);
}

static void add_names(void)
{
    fetch_names();
    for (int i = 0; i < names.n; i++)
        add(names.v[i], 0);
}

static char *generate(const char *text, int state)
{
    static int i, upper;
    static size_t len;
    if (!state) {
        i = 0;
        len = strlen(text);
        upper = 0;
        for (const char *p = text; *p; p++)
            if (isalpha((unsigned char)*p)) {
                upper = isupper((unsigned char)*p);
                break;
            }
    }
    while (i < cand.n) {
        const char *c = cand.v[i];
        int kw = cand.kw[i++];
        if (strncasecmp(c, text, len) != 0)
            continue;
        char *m = xstrdup(c);
        if (kw)
            for (char *p = m; *p; p++)
                *p = (char)(upper ? toupper((unsigned char)*p)
                                  : tolower((unsigned char)*p));
        return m;
    }
    return NULL;
}

/* The last n words of s (letters, digits, _ and \), upper-cased, into
 * w[0] (the last) .. w[n-1]; missing words are "". */
static void last_words(const char *s, char w[][32], int n)
{
    for (int i = 0; i < n; i++)
        w[i][0] = 0;
    const char *p = s + strlen(s);
    for (int i = 0; i < n; i++) {
        while (p > s && !(isalnum((unsigned char)p[-1]) || p[-1] == '_' ||
                          p[-1] == '\\' || p[-1] == '('))
            p--;
        if (p == s)
            return;
        const char *e = p;
        if (p[-1] == '(') {
            p--;
        } else {
            while (p > s && (isalnum((unsigned char)p[-1]) || p[-1] == '_' ||
                             p[-1] == '\\'))
                p--;
        }
        size_t len = (size_t)(e - p);
        if (len > 31)
            len = 31;
        for (size_t k = 0; k < len; k++)
            w[i][k] = (char)toupper((unsigned char)p[k]);
        w[i][len] = 0;
    }
}

/* Inside the parentheses of WITH ( ... )? */
static int in_with(const char *s)
{
    const char *best = NULL;
    for (const char *p = s; (p = strcasestr(p, "with")); p++)
        best = p;
    if (!best)
        return 0;
    const char *q = best + 4;
    while (isspace((unsigned char)*q))
        q++;
    return *q == '(' && !strchr(q, ')');
}

/* The option whose value is being typed: s ends with "name =" (blanks
 * around '=' or not). Its name into key (lower case), or 0. */
static int option_before_eq(const char *s, char *key, size_t size)
{
    const char *p = s + strlen(s);
    while (p > s && isspace((unsigned char)p[-1]))
        p--;
    if (p == s || p[-1] != '=')
        return 0;
    p--;
    while (p > s && isspace((unsigned char)p[-1]))
        p--;
    const char *e = p;
    while (p > s && (isalnum((unsigned char)p[-1]) || p[-1] == '_'))
        p--;
    size_t n = (size_t)(e - p);
    if (!n || n >= size)
        return 0;
    for (size_t i = 0; i < n; i++)
        key[i] = (char)tolower((unsigned char)p[i]);
    key[n] = 0;
    return 1;
}

/* The function whose argument list the end of s is in: the word before
 * the innermost '(' not yet closed (quoted text skipped). Its id, or -1
 * when that '(' is not a function's (WITH (, IN (, a subexpression). */
static int in_call(const char *s)
{
    int depth = 0;
    const char *opens[64];
    char quote = 0;
    for (const char *p = s; *p; p++) {
        if (quote) {
            if (*p == quote)
                quote = 0;
        } else if (*p == '\'' || *p == '"') {
            quote = *p;
        } else if (*p == '(') {
            if (depth < 64)
                opens[depth] = p;
            depth++;
        } else if (*p == ')' && depth > 0) {
            depth--;
        }
    }
    if (depth == 0 || depth > 64)
        return -1;
    const char *p = opens[depth - 1];
    while (p > s && isspace((unsigned char)p[-1]))
        p--;
    const char *e = p;
    while (p > s && (isalnum((unsigned char)p[-1]) || p[-1] == '_'))
        p--;
    char name[32];
    size_t n = (size_t)(e - p);
    if (!n || n >= sizeof(name))
        return -1;
    memcpy(name, p, n);
    name[n] = 0;
    return func_lookup(name);
}

/* Every flow field as a candidate. */
static void add_fields(void)
{
    for (int i = 0; i < F_COUNT; i++)
        if (*schema_fields[i].name)  /* a free custom slot has none */
            add(schema_fields[i].name, 0);
}

static char **attempt(const char *text, int start, int end)
{
    (void)end;
    cand.n = 0;
    rl_attempted_completion_over = 1;
    rl_completion_append_character = ' ';
    /* The line before the word. Not rl_copy_text(0, start): libedit's
     * (3.1-20221030) drops the last character, the '(' of "WITH (" or
     * "sum(" and the '=' of "store=". */
    char *line = xstrdup(rl_line_buffer ? rl_line_buffer : "");
    if (start >= 0 && (size_t)start < strlen(line))
        line[start] = 0;
    const char *p = line;
    while (isspace((unsigned char)*p))
        p++;
    /* The statement so far: earlier lines of it, then this one. */
    sbuf_t ctx = SBUF_INIT;
    if (csh->split && split_pending(csh->split))
        sbuf_addn(&ctx, csh->split->buf.s, csh->split->buf.len);
    sbuf_add(&ctx, line);
    char w[3][32];
    int fn;
    last_words(sbuf_str(&ctx), w, 3);

    if (*p == '\\' || (!*p && text[0] == '\\')) {
        char cmd[32] = "";
        size_t n = strcspn(p, " \t");
        if (n < sizeof(cmd))
            memcpy(cmd, p, n), cmd[n] = 0;
        if (!*p || (start == (int)(p - line) && !p[n])) {
            for (int i = 0; command_name(i); i++) {
                static char buf[64][24];
                if (i < 64) {
                    snprintf(buf[i], sizeof(buf[i]), "\\%s", command_name(i));
                    add(buf[i], 0);
                }
            }
        } else if (!strcmp(cmd, "\\d") || !strcmp(cmd, "\\watch")) {
            add_names();
        } else if (!strcmp(cmd, "\\format")) {
            add("table", 0), add("csv", 0), add("json", 0);
        } else if (!strcmp(cmd, "\\timing") || !strcmp(cmd, "\\pager")) {
            add("on", 0), add("off", 0);
        } else if (!strcmp(cmd, "\\numbers")) {
            add("exact", 0), add("grouped", 0);
        } else if (!strcmp(cmd, "\\metrics")) {
            add("all", 0);
        } else if (!strcmp(cmd, "\\h") || !strcmp(cmd, "\\help")) {
            for (int i = 0; help_topic(i); i++)
                if (*help_topic(i))  /* a free custom field slot */
                    add(help_topic(i), 0);
        } else if (!strcmp(cmd, "\\i") || !strcmp(cmd, "\\include") ||
                   !strcmp(cmd, "\\o") || !strcmp(cmd, "\\out")) {
            rl_attempted_completion_over = 0;   /* file names */
            free(line);
            sbuf_free(&ctx);
            return NULL;
        }
    } else if ((!strcmp(w[0], "QUERY") && !strcmp(w[1], "DROP")) ||
               (!strcmp(w[0], "EXISTS") && !strcmp(w[1], "IF") &&
                !strcmp(w[2], "QUERY"))) {
        add_names();
        if (!strcmp(w[0], "QUERY"))
            add("IF", 1);
    } else if (!strcmp(w[0], "FROM")) {
        add("flows", 0);
        add_names();
    } else if (in_with(sbuf_str(&ctx))) {
        char key[32];
        const char *const *vals = NULL;
        if (option_before_eq(sbuf_str(&ctx), key, sizeof(key))) {
            for (int i = 0; sema_option(i, NULL); i++)
                if (!strcmp(sema_option(i, NULL), key))
                    sema_option(i, &vals);
            for (int i = 0; vals && vals[i]; i++)
                add(vals[i], 0);
        } else {
            for (int i = 0; sema_option(i, NULL); i++)
                add(sema_option(i, NULL), 0);
        }
    } else if ((fn = in_call(sbuf_str(&ctx))) >= 0) {
        add_fields();
        if (func_table[fn].is_agg)
            add("DISTINCT", 1);
    } else {
        for (int i = 0; keywords[i]; i++)
            add(keywords[i], 1);
        add_fields();
        for (int i = 0; i < FN_COUNT_; i++)
            if (func_lookup(func_table[i].name) == i &&
                schema_lookup(func_table[i].name,
                              strlen(func_table[i].name)) < 0)
                add(func_table[i].name, 0);
        add("flows", 0);
    }
    free(line);
    sbuf_free(&ctx);
    char **m = rl_completion_matches(text, generate);
    /* A lone function name gets its '(' instead of a blank. (libedit
     * lists the common prefix first, then the matches.) */
    int lone = m && m[0] && (!m[1] || (!m[2] && strcmp(m[0], m[1]) == 0));
    if (lone && func_lookup(m[0]) >= 0 &&
        schema_lookup(m[0], strlen(m[0])) < 0)
        rl_completion_append_character = '(';
    return m;
}

void complete_init(shell_t *sh)
{
    csh = sh;
    rl_attempted_completion_function = attempt;
    /* '\' starts a command word; '(' and ',' separate words. */
    rl_basic_word_break_characters = " \t\n\"'`@$><=;|&{(,)*+-/%~!";
    rl_completer_word_break_characters =
        (char *)rl_basic_word_break_characters;
}
