/*
 * msgbuild.h - build IPFIX and NetFlow v9/v5 messages byte by byte for
 * tests, including broken ones. Header-only; every function appends to
 * one buffer.
 *
 *   mb_t m;  mb_ipfix(&m, export_s, seq, domain);
 *   mb_set(&m, 2);  mb_tmpl(&m, 300, 2, 8, 4, 12, 4);  mb_end_set(&m);
 *   mb_set(&m, 300); mb_u32(&m, ...); ...;  mb_end_set(&m);
 *   mb_end(&m);     // writes the message length
 */
#ifndef FLOWSQL_TESTS_MSGBUILD_H
#define FLOWSQL_TESTS_MSGBUILD_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct mb {
    uint8_t b[65600];
    size_t  len;
    size_t  set;      /* start of the open set / flowset */
    int     version;
    int     count;    /* v9: records and templates, for the header */
} mb_t;

static inline void mb_u8(mb_t *m, unsigned v) { m->b[m->len++] = (uint8_t)v; }
static inline void mb_u16(mb_t *m, unsigned v)
{
    mb_u8(m, v >> 8);
    mb_u8(m, v);
}
static inline void mb_u32(mb_t *m, uint32_t v)
{
    mb_u16(m, v >> 16);
    mb_u16(m, v & 0xffff);
}
static inline void mb_u64(mb_t *m, uint64_t v)
{
    mb_u32(m, (uint32_t)(v >> 32));
    mb_u32(m, (uint32_t)v);
}
static inline void mb_bytes(mb_t *m, const void *p, size_t n)
{
    memcpy(m->b + m->len, p, n);
    m->len += n;
}
static inline void mb_put16(mb_t *m, size_t at, unsigned v)
{
    m->b[at] = (uint8_t)(v >> 8);
    m->b[at + 1] = (uint8_t)v;
}

static inline void mb_ipfix(mb_t *m, uint32_t export_s, uint32_t seq,
                            uint32_t domain)
{
    m->len = 0;
    m->version = 10;
    m->count = 0;
    mb_u16(m, 10);
    mb_u16(m, 0);
    mb_u32(m, export_s);
    mb_u32(m, seq);
    mb_u32(m, domain);
}

static inline void mb_v9(mb_t *m, uint32_t uptime_ms, uint32_t secs,
                         uint32_t seq, uint32_t source)
{
    m->len = 0;
    m->version = 9;
    m->count = 0;
    mb_u16(m, 9);
    mb_u16(m, 0);
    mb_u32(m, uptime_ms);
    mb_u32(m, secs);
    mb_u32(m, seq);
    mb_u32(m, source);
}

static inline void mb_set(mb_t *m, unsigned id)
{
    m->set = m->len;
    mb_u16(m, id);
    mb_u16(m, 0);
}

static inline void mb_end_set(mb_t *m)
{
    mb_put16(m, m->set + 2, (unsigned)(m->len - m->set));
}

/* Template record: tid, n, then n pairs (id, len); id > 0xffff means
 * enterprise: (pen << 16 | id) with the enterprise bit set for you. */
static inline void mb_tmpl(mb_t *m, unsigned tid, int n, ...)
{
    va_list ap;
    va_start(ap, n);
    mb_u16(m, tid);
    mb_u16(m, (unsigned)n);
    for (int i = 0; i < n; i++) {
        unsigned long id = va_arg(ap, unsigned long);
        unsigned len = va_arg(ap, unsigned);
        if (id > 0xffff) {
            mb_u16(m, (unsigned)((id & 0x7fff) | 0x8000));
            mb_u16(m, len);
            mb_u32(m, (uint32_t)(id >> 16));
        } else {
            mb_u16(m, (unsigned)id);
            mb_u16(m, len);
        }
    }
    va_end(ap);
    m->count++;
}

static inline void mb_end(mb_t *m)
{
    if (m->version == 10)
        mb_put16(m, 2, (unsigned)m->len);
    else if (m->version == 9)
        mb_put16(m, 2, (unsigned)m->count);
}

#define MB_PEN(pen, id) ((unsigned long)(pen) << 16 | (id))

#endif
