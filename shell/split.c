/*
 * split.c - input lines to statements; see shell.h.
 *
 * A statement ends at a ';' outside 'strings', "quoted names", -- line
 * comments and block comments (the lexical rules of both our dialect
 * and SQLite's). Lines holding only blanks and comments between
 * statements are dropped, so a statement's text, and the line and
 * column of an error in it, start at its first word.
 */
#include "shell/shell.h"
#include "util/arena.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

void split_init(split_t *sp)
{
    memset(sp, 0, sizeof(*sp));
}

void split_free(split_t *sp)
{
    sbuf_free(&sp->buf);
    for (int i = 0; i < sp->nready; i++)
        free(sp->ready[i]);
    free(sp->ready);
    free(sp->ready_line);
    memset(sp, 0, sizeof(*sp));
}

void split_reset(split_t *sp)
{
    sp->buf.len = 0;
    sp->scanned = 0;
    sp->state = SPLIT_NORMAL;
    sp->depth = 0;
    sp->has_text = 0;
}

int split_pending(const split_t *sp)
{
    return sp->has_text || sp->state != SPLIT_NORMAL;
}

/* s[0..n) trimmed, as a new statement; line is the line of s[0], the
 * statement's is that of its first non-blank byte. */
static void push(split_t *sp, const char *s, size_t n, int line)
{
    while (n && isspace((unsigned char)*s)) {
        if (*s == '\n')
            line++;
        s++;
        n--;
    }
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    if (sp->nready == sp->cap) {
        sp->cap = sp->cap ? sp->cap * 2 : 4;
        sp->ready = xrealloc(sp->ready, sizeof(char *) * (size_t)sp->cap);
        sp->ready_line = xrealloc(sp->ready_line,
                                  sizeof(int) * (size_t)sp->cap);
    }
    char *t = xmalloc(n + 1);
    memcpy(t, s, n);
    t[n] = 0;
    sp->ready[sp->nready] = t;
    sp->ready_line[sp->nready++] = line;
}

/* The statement ends at buf[i] (a ';'): keep what follows it. */
static void cut(split_t *sp, size_t i)
{
    if (sp->has_text)
        push(sp, sp->buf.s, i, sp->start_line);
    for (size_t k = 0; k <= i; k++)
        if (sp->buf.s[k] == '\n')
            sp->start_line++;
    size_t rest = sp->buf.len - i - 1;
    memmove(sp->buf.s, sp->buf.s + i + 1, rest);
    sp->buf.len = rest;
    sp->buf.s[rest] = 0;
    sp->has_text = 0;
    sp->depth = 0;
    sp->state = SPLIT_NORMAL;
}

static void scan(split_t *sp)
{
    size_t i = sp->scanned;
    while (i < sp->buf.len) {
        const char *s = sp->buf.s;
        char c = s[i];
        switch (sp->state) {
        case SPLIT_SQUOTE:
            if (c == '\'')
                sp->state = SPLIT_NORMAL;
            i++;
            continue;
        case SPLIT_DQUOTE:
            if (c == '"')
                sp->state = SPLIT_NORMAL;
            i++;
            continue;
        case SPLIT_COMMENT:
            if (c == '*' && i + 1 < sp->buf.len && s[i + 1] == '/') {
                sp->state = SPLIT_NORMAL;
                i += 2;
            } else {
                i++;
            }
            continue;
        default:
            break;
        }
        if (c == '-' && i + 1 < sp->buf.len && s[i + 1] == '-') {
            while (i < sp->buf.len && s[i] != '\n')
                i++;
            continue;
        }
        if (c == '/' && i + 1 < sp->buf.len && s[i + 1] == '*') {
            sp->state = SPLIT_COMMENT;
            i += 2;
            continue;
        }
        if (c == ';') {
            cut(sp, i);
            i = 0;
            continue;
        }
        if (c == '\\' && !sp->has_text) {
            /* A backslash command where a statement would start: the
             * rest of the line ("SHOW QUERIES; \d"). */
            size_t e = i;
            while (e < sp->buf.len && s[e] != '\n')
                e++;
            int line = sp->start_line;
            for (size_t k = 0; k < i; k++)
                line += s[k] == '\n';
            push(sp, s + i, e - i, line);
            sp->start_line = line + 1;
            size_t rest = e < sp->buf.len ? sp->buf.len - e - 1 : 0;
            memmove(sp->buf.s, sp->buf.s + sp->buf.len - rest, rest);
            sp->buf.len = rest;
            sp->buf.s[rest] = 0;
            i = 0;
            continue;
        }
        if (c == '\'')
            sp->state = SPLIT_SQUOTE;
        else if (c == '"')
            sp->state = SPLIT_DQUOTE;
        else if (c == '(')
            sp->depth++;
        else if (c == ')' && sp->depth > 0)
            sp->depth--;
        if (!isspace((unsigned char)c))
            sp->has_text = 1;
        i++;
    }
    sp->scanned = i;
}

void split_line(split_t *sp, const char *line, size_t len, int lineno)
{
    if (sp->buf.len == 0)
        sp->start_line = lineno;
    sbuf_addn(&sp->buf, line, len);
    sbuf_addc(&sp->buf, '\n');
    scan(sp);
    /* Blanks and comments between statements are not kept. */
    if (!split_pending(sp))
        split_reset(sp);
}

char *split_next(split_t *sp, int *line)
{
    if (sp->nready == 0)
        return NULL;
    char *t = sp->ready[0];
    if (line)
        *line = sp->ready_line[0];
    sp->nready--;
    memmove(sp->ready, sp->ready + 1, sizeof(char *) * (size_t)sp->nready);
    memmove(sp->ready_line, sp->ready_line + 1,
            sizeof(int) * (size_t)sp->nready);
    return t;
}

char *split_flush(split_t *sp, int *line)
{
    char *t = split_next(sp, line);
    if (t)
        return t;
    if (!sp->has_text) {
        split_reset(sp);
        return NULL;
    }
    push(sp, sp->buf.s, sp->buf.len, sp->start_line);
    split_reset(sp);
    return split_next(sp, line);
}

char *split_one_line(const char *text)
{
    sbuf_t b = SBUF_INIT;
    int state = SPLIT_NORMAL;
    while (isspace((unsigned char)*text))
        text++;
    for (const char *p = text; *p; p++) {
        char c = *p;
        if (state == SPLIT_NORMAL) {
            if (c == '-' && p[1] == '-') {
                while (p[1] && p[1] != '\n')
                    p++;
                continue;
            }
            if (c == '\n' || c == '\r') {
                while (p[1] && isspace((unsigned char)p[1]))
                    p++;
                if (b.len && b.s[b.len - 1] != ' ')
                    sbuf_addc(&b, ' ');
                continue;
            }
            if (c == '\'')
                state = SPLIT_SQUOTE;
            else if (c == '"')
                state = SPLIT_DQUOTE;
            else if (c == '/' && p[1] == '*')
                state = SPLIT_COMMENT;
        } else if ((state == SPLIT_SQUOTE && c == '\'') ||
                   (state == SPLIT_DQUOTE && c == '"')) {
            state = SPLIT_NORMAL;
        } else if (state == SPLIT_COMMENT && c == '*' && p[1] == '/') {
            sbuf_addc(&b, *p++);
            state = SPLIT_NORMAL;
        }
        sbuf_addc(&b, *p);
    }
    while (b.len && isspace((unsigned char)b.s[b.len - 1]))
        b.s[--b.len] = 0;
    return sbuf_detach(&b);
}
