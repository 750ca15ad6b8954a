/*
 * test_parser_golden.c - the golden files tests/parser/NAME.test: each
 * case is a statement and what flowsql must answer to it, exactly:
 * its EXPLAIN text when it is accepted, or the error as diag_render()
 * shows it (message, line, column, the line and the caret), prefixed
 * with "error: ". A file reads
 *
 *     ### what the case shows
 *     SELECT ... (one or more lines; the statement ends before "=>")
 *     =>
 *     expected output, one or more lines
 *
 * Lines starting with '#' in the expected part are comments; blank lines
 * at its end are ignored. Run from the top of the tree (tests/run.sh
 * does). FLOWSQL_GOLDEN_UPDATE=1 rewrites the files with what the code
 * answers now, for reviewing with git diff: never commit it unread.
 */
#include "engine/plan.h"
#include "tests/test.h"

#include <dirent.h>
#include <stdlib.h>

#define GOLDEN_DIR "tests/parser"

typedef struct gcase {
    char *title;
    char *stmt;
    char *expected;
    int   line;         /* of the ### line */
} gcase_t;

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    sbuf_t b = SBUF_INIT;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        sbuf_addn(&b, buf, n);
    fclose(f);
    *len = b.len;
    sbuf_str(&b);
    return sbuf_detach(&b);
}

/* What flowsql answers to a statement. Caller frees. */
static char *answer(const char *sql)
{
    diag_t err;
    sbuf_t out = SBUF_INIT;
    plan_t *p = plan_compile(sql, strlen(sql), 0, &err);
    if (p) {
        plan_explain(p, &out);
        plan_free(p);
    } else {
        char buf[2048];
        sbuf_printf(&out, "error: %s\n", diag_render(&err, sql, buf,
                                                     sizeof(buf)));
    }
    sbuf_str(&out);
    return sbuf_detach(&out);
}

static void trim_blank_tail(sbuf_t *b)
{
    while (b->len && (b->s[b->len - 1] == '\n' || b->s[b->len - 1] == ' '))
        b->len--;
    if (b->s)
        b->s[b->len] = 0;
    sbuf_addc(b, '\n');
}

/* Split a golden file into cases; returns how many, -1 on a malformed
 * file (reported). */
static int parse_golden(const char *path, char *text, gcase_t **out)
{
    gcase_t *cs = NULL;
    int n = 0, cap = 0, lineno = 0;
    enum { NONE, STMT, EXPECT } state = NONE;
    sbuf_t stmt = SBUF_INIT, exp = SBUF_INIT;
    char *line = text;
    while (line && *line) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = 0;
        lineno++;
        if (strncmp(line, "### ", 4) == 0) {
            if (state == STMT) {
                fprintf(stderr, "%s:%d: case without '=>'\n", path, lineno);
                return -1;
            }
            if (n == cap) {
                cap = cap ? cap * 2 : 64;
                cs = realloc(cs, sizeof(*cs) * (size_t)cap);
            }
            if (state == EXPECT) {
                trim_blank_tail(&exp);
                cs[n - 1].expected = sbuf_detach(&exp);
            }
            cs[n].title = strdup(line + 4);
            cs[n].line = lineno;
            cs[n].stmt = cs[n].expected = NULL;
            n++;
            state = STMT;
        } else if (state == STMT && strcmp(line, "=>") == 0) {
            if (stmt.len && stmt.s[stmt.len - 1] == '\n')
                stmt.len--;
            sbuf_str(&stmt);
            stmt.s[stmt.len] = 0;
            cs[n - 1].stmt = sbuf_detach(&stmt);
            state = EXPECT;
        } else if (state == STMT) {
            sbuf_add(&stmt, line);
            sbuf_addc(&stmt, '\n');
        } else if (state == EXPECT && line[0] != '#') {
            sbuf_add(&exp, line);
            sbuf_addc(&exp, '\n');
        }
        line = nl ? nl + 1 : NULL;
    }
    if (state == STMT) {
        fprintf(stderr, "%s: last case without '=>'\n", path);
        return -1;
    }
    if (state == EXPECT) {
        trim_blank_tail(&exp);
        cs[n - 1].expected = sbuf_detach(&exp);
    }
    sbuf_free(&stmt);
    sbuf_free(&exp);
    *out = cs;
    return n;
}

static int ncases_total;

static void run_file(const char *name)
{
    char path[512];
    size_t len;
    snprintf(path, sizeof(path), "%s/%s", GOLDEN_DIR, name);
    char *text = read_file(path, &len);
    char *header = NULL;
    if (text) {
        /* The file's opening comment: the lines before the first case. */
        char *first = strncmp(text, "### ", 4) == 0 ? text
                                                    : strstr(text, "\n### ");
        size_t hl = first ? (size_t)(first - text) + (first != text) : len;
        header = strndup(text, hl);
    }
    gcase_t *cs = NULL;
    int n = text ? parse_golden(path, text, &cs) : -1;
    if (n <= 0) {
        printf("not ok - %s: no cases read\n", path);
        test_failed_total++;
        free(text);
        free(header);
        return;
    }
    int update = getenv("FLOWSQL_GOLDEN_UPDATE") != NULL;
    sbuf_t rewritten = SBUF_INIT;
    for (int i = 0; i < n; i++) {
        char *got = answer(cs[i].stmt);
        int ok = strcmp(got, cs[i].expected) == 0;
        printf("%s - %s:%d %s\n", ok ? "ok" : "not ok", path, cs[i].line,
               cs[i].title);
        if (!ok) {
            fprintf(stderr, "%s:%d: %s\n--- statement:\n%s\n--- expected:\n"
                    "%s--- got:\n%s\n", path, cs[i].line, cs[i].title,
                    cs[i].stmt, cs[i].expected, got);
            if (!update)
                test_failed_total++;
        }
        sbuf_printf(&rewritten, "%s%s### %s\n%s\n=>\n%s",
                    i ? "\n" : "", i ? "" : header, cs[i].title, cs[i].stmt,
                    got);
        ncases_total++;
        free(got);
        free(cs[i].title);
        free(cs[i].stmt);
        free(cs[i].expected);
    }
    if (update) {
        FILE *f = fopen(path, "w");
        if (f) {
            fwrite(sbuf_str(&rewritten), 1, rewritten.len, f);
            fclose(f);
        }
    }
    sbuf_free(&rewritten);
    free(cs);
    free(text);
    free(header);
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(void)
{
    DIR *d = opendir(GOLDEN_DIR);
    if (!d) {
        printf("not ok - golden files: cannot open %s (run from the top "
               "of the tree)\n", GOLDEN_DIR);
        return 1;
    }
    char *names[256];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 256) {
        size_t l = strlen(e->d_name);
        if (l > 5 && strcmp(e->d_name + l - 5, ".test") == 0)
            names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof(names[0]), cmp_names);
    for (int i = 0; i < n; i++) {
        run_file(names[i]);
        free(names[i]);
    }
    if (ncases_total == 0) {
        printf("not ok - golden files: no cases\n");
        return 1;
    }
    TEST_EXIT();
}
