/*
 * types.h - the value types of the query language and of result rows.
 */
#ifndef FLOWSQL_TYPES_H
#define FLOWSQL_TYPES_H

#include <stdint.h>

#include "util/ipaddr.h"

typedef enum type {
    TYPE_NONE = 0,
    TYPE_BOOL,      /* int64 0 or 1 */
    TYPE_INT,       /* int64 */
    TYPE_FLOAT,     /* double */
    TYPE_STRING,    /* const char *, immutable */
    TYPE_IP,        /* ipaddr_t */
    TYPE_TIME,      /* int64 ms since the epoch */
    TYPE_DURATION,  /* int64 ms */
} type_t;

const char *type_name(type_t t);

/* Types held in an int64 lane. */
static inline int type_is_int(type_t t)
{
    return t == TYPE_INT || t == TYPE_BOOL || t == TYPE_TIME ||
           t == TYPE_DURATION;
}

static inline int type_is_numeric(type_t t)
{
    return t == TYPE_INT || t == TYPE_FLOAT || t == TYPE_TIME ||
           t == TYPE_DURATION;
}

/* Types whose values take 16-byte lanes (addresses). */
static inline int type_is_wide(type_t t)
{
    return t == TYPE_IP;
}

/* One value of any type: 16 bytes. Strings point into memory owned by
 * whatever holds the value (a plan's arena, a rowset). */
typedef union value {
    int64_t     i;
    double      f;
    const char *s;
    ipaddr_t    ip;
} value_t;

#endif
