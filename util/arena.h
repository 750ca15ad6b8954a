/*
 * arena.h - region allocator.
 *
 * Everything that lives exactly as long as one thing (a parsed statement,
 * a query plan, an HTTP request) is allocated from that thing's arena and
 * released in one arena_free(). Nothing inside is freed one by one.
 * Allocation failure aborts: a monitoring daemon that cannot get a few
 * kilobytes is beyond rescue, and checking every small allocation would
 * hide the real error paths.
 */
#ifndef FLOWSQL_ARENA_H
#define FLOWSQL_ARENA_H

#include <stddef.h>

typedef struct arena arena_t;

arena_t *arena_new(void);
void     arena_free(arena_t *a);          /* NULL is fine */
void    *arena_alloc(arena_t *a, size_t n); /* zeroed, 16-byte aligned */
char    *arena_strndup(arena_t *a, const char *s, size_t n);
char    *arena_strdup(arena_t *a, const char *s);
char    *arena_printf(arena_t *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
size_t   arena_used(const arena_t *a);    /* bytes handed out */

/* Abort with a message on out-of-memory; for the few raw mallocs left. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t sz);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);

#endif
