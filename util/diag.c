/* diag.c - positioned user errors; see diag.h. */
#include "util/diag.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int is_cont(char c);

void diag_clear(diag_t *d)
{
    memset(d, 0, sizeof(*d));
    d->offset = -1;
}

void diag_at(diag_t *d, const char *text, int offset, int len,
             const char *fmt, ...)
{
    if (!d || d->set)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->msg, sizeof(d->msg), fmt, ap);
    va_end(ap);
    d->set = 1;
    d->offset = offset;
    d->len = len > 0 ? len : 1;
    d->line = 1;
    d->col = 1;
    for (int i = 0; text && i < offset && text[i]; i++) {
        if (text[i] == '\n') {
            d->line++;
            d->col = 1;
        } else if (!is_cont(text[i])) {
            d->col++;       /* columns count characters, not bytes */
        }
    }
}

void diag_set(diag_t *d, const char *fmt, ...)
{
    if (!d || d->set)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->msg, sizeof(d->msg), fmt, ap);
    va_end(ap);
    d->set = 1;
    d->offset = -1;
    d->line = d->col = d->len = 0;
}

/* UTF-8 continuation bytes do not start a character. */
static int is_cont(char c)
{
    return ((unsigned char)c & 0xc0) == 0x80;
}

char *diag_render(const diag_t *d, const char *text, char *buf, size_t size)
{
    if (!size)
        return buf;
    buf[0] = 0;
    if (!d->set)
        return buf;
    if (d->offset < 0 || !text) {
        snprintf(buf, size, "%s", d->msg);
        return buf;
    }
    /* Find the line holding the offset. */
    const char *ls = text + d->offset;
    while (ls > text && ls[-1] != '\n')
        ls--;
    const char *le = strchr(ls, '\n');
    size_t full = le ? (size_t)(le - ls) : strlen(ls);
    size_t col = (size_t)(text + d->offset - ls);
    /* A long line is shown as a window of at most SHOW bytes around the
     * error, marked with "..." where it is cut. */
    enum { SHOW = 200, BEFORE = 80 };
    size_t from = col > SHOW - BEFORE ? col - BEFORE : 0;
    while (from > 0 && from < full && is_cont(ls[from]))
        from--;
    size_t shown = full - from < SHOW ? full - from : SHOW;
    while (shown > 0 && from + shown < full && is_cont(ls[from + shown]))
        shown--;
    int n = snprintf(buf, size, "line %d, column %d: %s\n  %s%.*s%s\n  ",
                     d->line, d->col, d->msg, from ? "..." : "", (int)shown,
                     ls + from, from + shown < full ? "..." : "");
    size_t pos = n < 0 ? 0 : (size_t)n;
    if (pos >= size)
        return buf;
    if (from)
        for (int i = 0; i < 3 && pos + 2 < size; i++)
            buf[pos++] = ' ';
    /* One space per character before the token (a tab stays a tab, so
     * the caret lines up in a terminal), one caret per character of it,
     * at least one (the end of the text has none). */
    for (size_t i = from; i < col && pos + 2 < size; i++)
        if (!is_cont(ls[i]))
            buf[pos++] = ls[i] == '\t' ? '\t' : ' ';
    int carets = 0;
    for (size_t i = col; i < col + (size_t)d->len && i < from + shown &&
                         pos + 2 < size; i++)
        if (!is_cont(ls[i])) {
            buf[pos++] = '^';
            carets++;
        }
    if (!carets && pos + 2 < size)
        buf[pos++] = '^';
    buf[pos] = 0;
    return buf;
}

int diag_distance(const char *a, size_t la, const char *b, size_t lb)
{
    int d[32][32];
    if (la >= 32 || lb >= 32)
        return 99;
    for (size_t i = 0; i <= la; i++)
        d[i][0] = (int)i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = (int)j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            int c = tolower((unsigned char)a[i - 1]) !=
                    tolower((unsigned char)b[j - 1]);
            int v = d[i - 1][j - 1] + c;
            if (d[i - 1][j] + 1 < v)
                v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v)
                v = d[i][j - 1] + 1;
            d[i][j] = v;
        }
    return d[la][lb];
}
