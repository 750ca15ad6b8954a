/* flowwire_enc.c - flow batches to the scale-out wire format (the
 * collector's side); see flowwire.h. */
#include "ingest/flowwire.h"

#include <string.h>

static void put_u16(sbuf_t *o, uint16_t v)
{
    char b[2] = {(char)v, (char)(v >> 8)};
    sbuf_addn(o, b, 2);
}

static void put_u32(sbuf_t *o, uint32_t v)
{
    char b[4];
    for (int i = 0; i < 4; i++)
        b[i] = (char)(v >> (8 * i));
    sbuf_addn(o, b, 4);
}

static void put_u64(sbuf_t *o, uint64_t v)
{
    char b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (char)(v >> (8 * i));
    sbuf_addn(o, b, 8);
}

/* Zigzag then LEB128: small magnitudes of either sign take few bytes.
 * All in uint64_t, so no value overflows. */
static void put_zz(sbuf_t *o, uint64_t u)
{
    uint64_t z = (u << 1) ^ (0 - (u >> 63));
    char b[10];
    int k = 0;
    while (z >= 0x80) {
        b[k++] = (char)(z | 0x80);
        z >>= 7;
    }
    b[k++] = (char)z;
    sbuf_addn(o, b, (size_t)k);
}

/* Write the length of the column begun at mark (its 6-byte head). */
static void end_column(sbuf_t *o, size_t mark)
{
    uint32_t len = (uint32_t)(o->len - mark - 6);
    for (int i = 0; i < 4; i++)
        o->s[mark + 2 + i] = (char)(len >> (8 * i));
}

static size_t begin_column(sbuf_t *o, uint8_t id, uint8_t enc)
{
    size_t mark = o->len;
    sbuf_addc(o, (char)id);
    sbuf_addc(o, (char)enc);
    put_u32(o, 0);
    return mark;
}

#define AT(i) (idx ? idx[i] : (i))

static void put_ints(sbuf_t *o, const flowwire_col_t *c, const int64_t *v,
                     const uint32_t *idx, uint32_t n)
{
    uint32_t i = 1;
    while (i < n && v[AT(i)] == v[AT(0)])
        i++;
    if (i == n) {
        size_t m = begin_column(o, c->id, FW_ENC_CONST);
        put_zz(o, (uint64_t)v[AT(0)]);
        end_column(o, m);
        return;
    }
    size_t m = begin_column(o, c->id, c->enc);
    uint64_t prev = 0;
    for (i = 0; i < n; i++) {
        uint64_t u = (uint64_t)v[AT(i)];
        put_zz(o, c->enc == FW_ENC_DELTA ? u - prev : u);
        prev = u;
    }
    end_column(o, m);
}

static void put_addrs(sbuf_t *o, const flowwire_col_t *c, const ipaddr_t *v,
                      const uint32_t *idx, uint32_t n)
{
    int same = 1, v4 = 1;
    for (uint32_t i = 0; i < n && (same || v4); i++) {
        if (same && memcmp(v[AT(i)].a, v[AT(0)].a, 16) != 0)
            same = 0;
        if (v4 && !ipaddr_is_v4(&v[AT(i)]))
            v4 = 0;
    }
    size_t m = begin_column(o, c->id, same ? FW_ENC_CONST
                                      : v4 ? FW_ENC_ADDR4 : FW_ENC_ADDR16);
    if (same)
        sbuf_addn(o, (const char *)v[AT(0)].a, 16);
    else
        for (uint32_t i = 0; i < n; i++)
            sbuf_addn(o, (const char *)v[AT(i)].a + (v4 ? 12 : 0),
                      v4 ? 4 : 16);
    end_column(o, m);
}

/*
 * The header, then every column of flowwire_cols (none for a marker),
 * each in the cheapest of its encodings that applies.
 */
void flowwire_encode(const flow_batch_t *b, const uint32_t *idx, uint32_t n,
                     const flowwire_meta_t *meta, sbuf_t *out)
{
    unsigned flags = meta ? meta->flags : 0;
    if (b && (b->flags & FLOW_BATCH_REPLAY))
        flags |= FLOWWIRE_F_REPLAY;
    if (n == 0)
        flags |= FLOWWIRE_F_MARKER;
    sbuf_addn(out, FLOWWIRE_MAGIC, 4);
    sbuf_addc(out, FLOWWIRE_VERSION);
    sbuf_addc(out, (char)flags);
    put_u16(out, FLOWWIRE_HDR);
    put_u32(out, n);
    put_u32(out, n ? (uint32_t)FLOWWIRE_NCOLS : 0);
    put_u64(out, meta ? (uint64_t)meta->watermark : 0);
    put_u64(out, meta ? meta->seq : 0);
    for (size_t c = 0; n && c < FLOWWIRE_NCOLS; c++) {
        const flowwire_col_t *col = &flowwire_cols[c];
        const char *base = (const char *)b + col->off;
        if (col->addr)
            put_addrs(out, col, (const ipaddr_t *)base, idx, n);
        else
            put_ints(out, col, (const int64_t *)base, idx, n);
    }
}
