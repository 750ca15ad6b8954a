/* flowwire_dec.c - the scale-out wire format back to flow batches (the
 * worker's side); see flowwire.h. Every length is checked against the
 * message before it is read: a bad message is an error, never a read
 * past its end. */
#include "ingest/flowwire.h"

#include <string.h>

static uint64_t get_le(const uint8_t *p, int nbytes)
{
    uint64_t v = 0;
    for (int i = 0; i < nbytes; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* One zigzag LEB128 value from [*p, end); -1 when truncated or longer
 * than 10 bytes. */
static int get_zz(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
    uint64_t z = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (*p >= end)
            return -1;
        uint8_t c = *(*p)++;
        z |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            *out = (z >> 1) ^ (0 - (z & 1));
            return 0;
        }
    }
    return -1;
}

static const flowwire_col_t *col_of(unsigned id)
{
    for (size_t c = 0; c < FLOWWIRE_NCOLS; c++)
        if (flowwire_cols[c].id == id)
            return &flowwire_cols[c];
    return NULL;
}

static int get_ints(const uint8_t *p, const uint8_t *end, unsigned enc,
                    uint32_t n, int64_t *v)
{
    uint64_t u, prev = 0;
    if (enc == FW_ENC_CONST) {
        if (get_zz(&p, end, &u) < 0 || p != end)
            return -1;
        for (uint32_t i = 0; i < n; i++)
            v[i] = (int64_t)u;
        return 0;
    }
    if (enc != FW_ENC_VARINT && enc != FW_ENC_DELTA)
        return -1;
    for (uint32_t i = 0; i < n; i++) {
        if (get_zz(&p, end, &u) < 0)
            return -1;
        if (enc == FW_ENC_DELTA)
            u += prev;
        v[i] = (int64_t)u;
        prev = u;
    }
    return p == end ? 0 : -1;
}

static int get_addrs(const uint8_t *p, size_t len, unsigned enc, uint32_t n,
                     ipaddr_t *v)
{
    if (enc == FW_ENC_CONST && len == 16) {
        for (uint32_t i = 0; i < n; i++)
            memcpy(v[i].a, p, 16);
    } else if (enc == FW_ENC_ADDR4 && len == (size_t)n * 4) {
        for (uint32_t i = 0; i < n; i++)
            v[i] = ipaddr_from_v4((uint32_t)p[4 * i] << 24 |
                                  (uint32_t)p[4 * i + 1] << 16 |
                                  (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3]);
    } else if (enc == FW_ENC_ADDR16 && len == (size_t)n * 16) {
        for (uint32_t i = 0; i < n; i++)
            memcpy(v[i].a, p + 16 * i, 16);
    } else {
        return -1;
    }
    return 0;
}

static int fail(flow_batch_t *b)
{
    flow_batch_reset(b);
    return -1;
}

/*
 * Header first (magic, version, sizes), then each column: an unknown id
 * is skipped by its length, a known one decoded into the batch after
 * every flow was zeroed, so a column the message lacks reads as zeros.
 */
int flowwire_decode(const void *msg, size_t len, flow_batch_t *b,
                    flowwire_meta_t *meta, diag_t *err)
{
    const uint8_t *p = msg, *end = p + len;
    flow_batch_reset(b);
    if (len < FLOWWIRE_HDR) {
        diag_set(err, "flows message of %zu bytes is shorter than its "
                 "%d-byte header", len, FLOWWIRE_HDR);
        return fail(b);
    }
    if (memcmp(p, FLOWWIRE_MAGIC, 4) != 0) {
        diag_set(err, "not a flows message: bad magic");
        return fail(b);
    }
    if (p[4] != FLOWWIRE_VERSION) {
        diag_set(err, "flows message version %u, this build reads %d",
                 p[4], FLOWWIRE_VERSION);
        return fail(b);
    }
    unsigned flags = p[5];
    size_t hlen = (size_t)get_le(p + 6, 2);
    uint64_t n = get_le(p + 8, 4), ncols = get_le(p + 12, 4);
    if (hlen < FLOWWIRE_HDR || hlen > len) {
        diag_set(err, "flows message header length %zu out of range "
                 "(%d..%zu)", hlen, FLOWWIRE_HDR, len);
        return fail(b);
    }
    if (n > FLOW_BATCH_MAX) {
        diag_set(err, "flows message holds %llu flows, at most %d allowed",
                 (unsigned long long)n, FLOW_BATCH_MAX);
        return fail(b);
    }
    if (meta) {
        meta->flags = flags;
        meta->watermark = (int64_t)get_le(p + 16, 8);
        meta->seq = get_le(p + 24, 8);
    }
    for (uint32_t i = 0; i < n; i++)
        flow_batch_add(b);
    if (flags & FLOWWIRE_F_REPLAY)
        b->flags |= FLOW_BATCH_REPLAY;
    p += hlen;
    for (uint64_t c = 0; c < ncols; c++) {
        if (end - p < 6) {
            diag_set(err, "flows message truncated in the head of column "
                     "%llu of %llu", (unsigned long long)c + 1,
                     (unsigned long long)ncols);
            return fail(b);
        }
        unsigned id = p[0], enc = p[1];
        uint64_t clen = get_le(p + 2, 4);
        p += 6;
        if (clen > (uint64_t)(end - p)) {
            diag_set(err, "flows message column %u: %llu bytes announced, "
                     "%zu left", id, (unsigned long long)clen,
                     (size_t)(end - p));
            return fail(b);
        }
        const flowwire_col_t *col = col_of(id);
        if (col) {
            char *base = (char *)b + col->off;
            int rc = col->addr
                ? get_addrs(p, clen, enc, (uint32_t)n, (ipaddr_t *)base)
                : get_ints(p, p + clen, enc, (uint32_t)n, (int64_t *)base);
            if (rc < 0) {
                diag_set(err, "flows message column %u: encoding %u with "
                         "%llu bytes does not hold %llu flows", id, enc,
                         (unsigned long long)clen, (unsigned long long)n);
                return fail(b);
            }
        }
        p += clen;
    }
    if (p != end) {
        diag_set(err, "flows message has %zu bytes after its last column",
                 (size_t)(end - p));
        return fail(b);
    }
    return 0;
}
