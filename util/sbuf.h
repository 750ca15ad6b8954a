/*
 * sbuf.h - a growable text buffer, for EXPLAIN, JSON-free formatting and
 * messages. The buffer owns its memory; sbuf_free releases it.
 */
#ifndef FLOWSQL_SBUF_H
#define FLOWSQL_SBUF_H

#include <stddef.h>

typedef struct sbuf {
    char  *s;
    size_t len, cap;
} sbuf_t;

#define SBUF_INIT {NULL, 0, 0}

void  sbuf_add(sbuf_t *b, const char *s);
void  sbuf_addn(sbuf_t *b, const char *s, size_t n);
void  sbuf_addc(sbuf_t *b, char c);
void  sbuf_printf(sbuf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
const char *sbuf_str(sbuf_t *b);  /* never NULL */
char *sbuf_detach(sbuf_t *b);     /* caller frees; b is reset */
void  sbuf_free(sbuf_t *b);

#endif
