/*
 * diag.h - an error for the user, with the place in the text it is about.
 *
 * Every user-facing error in flowsql (syntax, semantics, limits) is a
 * diag_t: a message, and when it concerns a statement, the byte offset and
 * length of the offending token plus its line and column (1-based; the
 * column counts UTF-8 characters, the offset bytes). The
 * shell and the REST API print it with a caret under the token.
 */
#ifndef FLOWSQL_DIAG_H
#define FLOWSQL_DIAG_H

#include <stddef.h>

typedef struct diag {
    int  set;        /* 0: no error recorded */
    int  line, col;  /* 1-based; 0 when the error has no position */
    int  offset;     /* byte offset of the token in the text, or -1 */
    int  len;        /* token length in bytes (at least 1 for the caret) */
    char msg[512];
} diag_t;

/* Record an error at a byte offset of text (line/col are computed).
 * The first error wins: later calls on a set diag do nothing. */
void diag_at(diag_t *d, const char *text, int offset, int len,
             const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Record an error without a position. */
void diag_set(diag_t *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

void diag_clear(diag_t *d);

/* Render "line L, column C: message", the offending line and a caret line
 * into buf (always NUL-terminated). A line longer than 200 bytes is shown
 * as a window around the error, cut with "...". Returns buf. */
char *diag_render(const diag_t *d, const char *text, char *buf, size_t size);

/* Edit (Levenshtein) distance between two names, ignoring case, for
 * "did you mean" hints; names of 32 bytes or more count as far apart. */
int diag_distance(const char *a, size_t la, const char *b, size_t lb);

#endif
