/*
 * le.h - little-endian integers in byte buffers: the binary messages of
 * scale-out (server/partmsg.c) write and read them with these.
 */
#ifndef FLOWSQL_LE_H
#define FLOWSQL_LE_H

#include <stdint.h>

#include "util/sbuf.h"

static inline void le_put(sbuf_t *o, uint64_t v, int bytes)
{
    char b[8];
    for (int i = 0; i < bytes; i++)
        b[i] = (char)(v >> (8 * i));
    sbuf_addn(o, b, (size_t)bytes);
}

static inline uint64_t le_get(const uint8_t *p, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

#endif
