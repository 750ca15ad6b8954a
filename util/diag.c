/* diag.c - positioned user errors; see diag.h. */
#include "util/diag.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

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
        } else {
            d->col++;
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
    size_t linelen = le ? (size_t)(le - ls) : strlen(ls);
    if (linelen > 200)
        linelen = 200;
    int n = snprintf(buf, size, "line %d, column %d: %s\n  %.*s\n  ",
                     d->line, d->col, d->msg, (int)linelen, ls);
    size_t pos = n < 0 ? 0 : (size_t)n;
    int col = (int)(text + d->offset - ls);
    for (int i = 0; i < col && pos + 2 < size; i++)
        buf[pos++] = (ls[i] == '\t') ? '\t' : ' ';
    for (int i = 0; i < d->len && pos + 2 < size &&
                    (size_t)(col + i) < linelen + 1; i++)
        buf[pos++] = '^';
    if (pos < size)
        buf[pos] = 0;
    else
        buf[size - 1] = 0;
    return buf;
}
