/*
 * pqenc.c - Parquet's value encodings, the split-block bloom filter and
 * the journal of open files; see pqint.h.
 */
#include "archive/pqint.h"
#include "util/arena.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

/* ---- byte buffers ------------------------------------------------------- */

void bb_reserve(bbuf_t *b, size_t more)
{
    if (b->len + more <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more)
        cap *= 2;
    b->p = xrealloc(b->p, cap);
    b->cap = cap;
}

void bb_put(bbuf_t *b, const void *p, size_t n)
{
    bb_reserve(b, n);
    if (n)
        memcpy(b->p + b->len, p, n);
    b->len += n;
}

void bb_u8(bbuf_t *b, uint8_t v)
{
    bb_reserve(b, 1);
    b->p[b->len++] = v;
}

void bb_u32le(bbuf_t *b, uint32_t v)
{
    bb_reserve(b, 4);
    wr_u32le(b->p + b->len, v);
    b->len += 4;
}

void bb_varint(bbuf_t *b, uint64_t v)
{
    bb_reserve(b, 10);
    while (v >= 0x80) {
        b->p[b->len++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    b->p[b->len++] = (uint8_t)v;
}

void bb_free(bbuf_t *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}

/* ---- bit packing -------------------------------------------------------- */

void enc_bitpack(bbuf_t *b, const uint64_t *v, size_t n, int w)
{
    size_t bytes = (n * (size_t)w + 7) / 8;
    bb_reserve(b, bytes + 16);
    uint8_t *o = b->p + b->len;
    unsigned __int128 acc = 0;
    int nb = 0;
    uint64_t mask = w == 64 ? ~0ull : (1ull << w) - 1;
    for (size_t i = 0; i < n; i++) {
        acc |= (unsigned __int128)(v[i] & mask) << nb;
        nb += w;
        while (nb >= 8) {
            *o++ = (uint8_t)acc;
            acc >>= 8;
            nb -= 8;
        }
    }
    if (nb > 0)
        *o++ = (uint8_t)acc;
    b->len += bytes;
}

void dec_bitunpack(const uint8_t *p, size_t n, int w, uint64_t *out)
{
    if (w == 0) {
        memset(out, 0, n * sizeof(*out));
        return;
    }
    uint64_t mask = w == 64 ? ~0ull : (1ull << w) - 1;
    size_t bytes = (n * (size_t)w + 7) / 8;
    size_t bit = 0;
    for (size_t i = 0; i < n; i++, bit += (size_t)w) {
        size_t at = bit >> 3;
        int sh = (int)(bit & 7);
        uint64_t lo;
        if (at + 8 <= bytes) {
            lo = rd_u64le(p + at);
        } else {
            lo = 0;
            for (size_t k = 0; at + k < bytes && k < 8; k++)
                lo |= (uint64_t)p[at + k] << (8 * k);
        }
        uint64_t x = lo >> sh;
        if (sh + w > 64) {   /* the value spills into a ninth byte */
            uint64_t hi = at + 8 < bytes ? p[at + 8] : 0;
            x |= hi << (64 - sh);
        }
        out[i] = x & mask;
    }
}

/* ---- RLE / bit-packing hybrid ------------------------------------------- */

static void hyb_rle(bbuf_t *b, uint32_t value, size_t count, int w)
{
    bb_varint(b, (uint64_t)count << 1);
    for (int k = 0; k < (w + 7) / 8; k++)
        bb_u8(b, (uint8_t)(value >> (8 * k)));
}

/* n (<= 504) values of w (1..32) bits, LSB first, padded with zeros to
 * a multiple of 8 values: a 64-bit accumulator emptied 32 bits at a
 * time (w + 31 < 64 bits are held at most). */
static void pack32(bbuf_t *b, const uint32_t *v, size_t n, int w)
{
    size_t groups = (n + 7) / 8, bytes = groups * (size_t)w;
    bb_reserve(b, bytes + 8);
    uint8_t *o = b->p + b->len;
    uint64_t acc = 0, mask = w == 32 ? 0xffffffffu : (1u << w) - 1;
    int nb = 0;
    for (size_t i = 0; i < groups * 8; i++) {
        acc |= (i < n ? v[i] & mask : 0) << nb;
        nb += w;
        if (nb >= 32) {
            wr_u32le(o, (uint32_t)acc);
            o += 4;
            acc >>= 32;
            nb -= 32;
        }
    }
    for (; nb > 0; nb -= 8) {           /* groups*w is whole bytes */
        *o++ = (uint8_t)acc;
        acc >>= 8;
    }
    b->len += bytes;
}

/* Literal values (a multiple of 8, or padded to it) as bit-packed runs. */
static void hyb_lit(bbuf_t *b, const uint32_t *v, size_t n, int w)
{
    while (n) {
        size_t m = n < 504 ? n : 504;          /* 63 groups: 1-byte header */
        bb_varint(b, (uint64_t)((m + 7) / 8) << 1 | 1);
        pack32(b, v, m, w);
        v += m;
        n -= m;
    }
}

/* Groups of 8 values: a group whose values are all equal starts a run
 * (RLE, as long as it goes); the others are literals, bit-packed. A run
 * starting inside a group is taken from the next group on. */
void enc_hybrid(bbuf_t *b, const uint32_t *v, size_t n, int w)
{
    size_t lit = 0, i = 0;   /* pending literals start at lit */
    while (i + 8 <= n) {
        uint32_t x = v[i], d = 0;
        for (int k = 1; k < 8; k++)
            d |= v[i + k] ^ x;
        if (d) {
            i += 8;
            continue;
        }
        size_t r = 8;
        while (i + r < n && v[i + r] == x)
            r++;
        hyb_lit(b, v + lit, i - lit, w);
        hyb_rle(b, x, r, w);
        i += r;
        lit = i;
    }
    hyb_lit(b, v + lit, n - lit, w);
}

void hyb_init(hyb_t *h, const uint8_t *p, size_t n, int w)
{
    memset(h, 0, sizeof(*h));
    h->p = p;
    h->end = p + n;
    h->w = w;
    h->grp_pos = 8;
}

int dec_varint(const uint8_t **pp, const uint8_t *end, uint64_t *v)
{
    const uint8_t *p = *pp;
    uint64_t x = 0;
    for (int sh = 0; sh < 64; sh += 7) {
        if (p >= end)
            return -1;
        uint8_t c = *p++;
        x |= (uint64_t)(c & 0x7f) << sh;
        if (!(c & 0x80)) {
            *v = x;
            *pp = p;
            return 0;
        }
    }
    return -1;
}

/* n (a multiple of 8) values of w (1..32) bits from p into out: a
 * 64-bit load per value, the last group's bytes copied first so that
 * no load passes the packed bytes. */
static void unpack32(const uint8_t *p, size_t n, int w, uint32_t *out)
{
    uint64_t mask = (1ull << w) - 1;
    size_t bytes = n / 8 * (size_t)w, safe = bytes >= 8 ? bytes - 8 : 0;
    size_t i = 0, bit = 0;
    for (; i < n && (bit >> 3) <= safe && bytes >= 8; i++, bit += (size_t)w) {
        uint64_t x;
        memcpy(&x, p + (bit >> 3), 8);
        out[i] = (uint32_t)((x >> (bit & 7)) & mask);
    }
    if (i < n) {                         /* the tail, from a copy */
        uint8_t tail[48] = {0};
        size_t from = bit >> 3;
        memcpy(tail, p + from, bytes - from);
        for (size_t b = bit & 7; i < n; i++, b += (size_t)w) {
            uint64_t x;
            memcpy(&x, tail + (b >> 3), 8);
            out[i] = (uint32_t)((x >> (b & 7)) & mask);
        }
    }
}

/* Start the next run. */
static int hyb_next_run(hyb_t *h)
{
    uint64_t hdr;
    if (dec_varint(&h->p, h->end, &hdr) < 0)
        return -1;
    if (hdr & 1) {
        uint64_t groups = hdr >> 1;
        uint64_t avail = (uint64_t)(h->end - h->p);
        /* A last run cut short (some writers do) keeps its whole groups. */
        if (h->w && groups > avail / (uint64_t)h->w)
            groups = avail / (uint64_t)h->w;
        if (groups == 0 || groups > (1u << 28))
            return -1;
        h->bp_left = (uint32_t)(groups * 8);
        h->bp = h->p;
        h->p += groups * (uint64_t)h->w;
        h->grp_pos = 8;
    } else {
        uint64_t count = hdr >> 1;
        int nb = (h->w + 7) / 8;
        if (count == 0 || count > UINT32_MAX || h->end - h->p < nb)
            return -1;
        uint32_t v = 0;
        for (int k = 0; k < nb; k++)
            v |= (uint32_t)h->p[k] << (8 * k);
        h->p += nb;
        h->rle_left = (uint32_t)count;
        h->rle_value = v;
    }
    return 0;
}

int hyb_read(hyb_t *h, uint32_t *out, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if (h->rle_left) {
            size_t m = n - i < h->rle_left ? n - i : h->rle_left;
            for (size_t k = 0; k < m; k++)
                out[i + k] = h->rle_value;
            i += m;
            h->rle_left -= (uint32_t)m;
        } else if (h->grp_pos < 8) {
            out[i++] = h->grp[h->grp_pos++];
        } else if (h->bp_left) {
            uint64_t tmp[8];
            if (n - i >= 8 && h->bp_left >= 8) {
                /* whole groups straight into out */
                size_t g = (n - i) / 8 < h->bp_left / 8 ? (n - i) / 8
                                                        : h->bp_left / 8;
                if (h->w == 0)
                    memset(out + i, 0, g * 8 * sizeof(uint32_t));
                else
                    unpack32(h->bp, g * 8, h->w, out + i);
                h->bp += g * (size_t)h->w;
                h->bp_left -= (uint32_t)(g * 8);
                i += g * 8;
                continue;
            }
            dec_bitunpack(h->bp, 8, h->w, tmp);
            for (int k = 0; k < 8; k++)
                h->grp[k] = (uint32_t)tmp[k];
            h->bp += h->w;
            h->bp_left -= 8;
            h->grp_pos = 0;
        } else if (hyb_next_run(h) < 0) {
            return -1;
        }
    }
    return 0;
}

/* ---- DELTA_BINARY_PACKED ------------------------------------------------ */

#define DBP_BLOCK 128
#define DBP_MB    4
#define DBP_MBV   (DBP_BLOCK / DBP_MB)

static uint64_t zz(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static int64_t unzz(uint64_t v)
{
    return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

void enc_delta(bbuf_t *b, const int64_t *v, size_t n, int is32)
{
    bb_varint(b, DBP_BLOCK);
    bb_varint(b, DBP_MB);
    bb_varint(b, n);
    bb_varint(b, zz(v[0]));
    uint64_t d[DBP_BLOCK];
    for (size_t i = 1; i < n; i += DBP_BLOCK) {
        size_t m = n - i < DBP_BLOCK ? n - i : DBP_BLOCK;
        int64_t min = INT64_MAX;
        for (size_t j = 0; j < m; j++) {
            int64_t x;
            if (is32)
                x = (int32_t)((uint32_t)v[i + j] - (uint32_t)v[i + j - 1]);
            else
                x = (int64_t)((uint64_t)v[i + j] - (uint64_t)v[i + j - 1]);
            d[j] = (uint64_t)x;
            if (x < min)
                min = x;
        }
        bb_varint(b, zz(min));
        uint8_t widths[DBP_MB] = {0};
        for (size_t j = 0; j < m; j++) {
            d[j] -= (uint64_t)min;
            if (is32)
                d[j] &= 0xffffffffu;
        }
        for (size_t j = m; j < DBP_BLOCK; j++)
            d[j] = 0;
        for (int k = 0; k < DBP_MB; k++) {
            uint64_t or = 0;
            for (int j = 0; j < DBP_MBV; j++)
                or |= d[k * DBP_MBV + j];
            widths[k] = (uint8_t)bits_for(or);
        }
        bb_put(b, widths, DBP_MB);
        for (int k = 0; k < DBP_MB && (size_t)k * DBP_MBV < m; k++)
            enc_bitpack(b, d + k * DBP_MBV, DBP_MBV, widths[k]);
    }
}

int dbp_init(dbp_t *d, const uint8_t *p, size_t n)
{
    uint64_t first;
    memset(d, 0, sizeof(*d));
    d->p = p;
    d->end = p + n;
    if (dec_varint(&d->p, d->end, &d->block) < 0 ||
        dec_varint(&d->p, d->end, &d->mbs) < 0 ||
        dec_varint(&d->p, d->end, &d->total) < 0 ||
        dec_varint(&d->p, d->end, &first) < 0)
        return -1;
    if (d->block == 0 || d->block % 128 || d->block > 65536 || d->mbs == 0 ||
        d->block % d->mbs || (d->block / d->mbs) % 32)
        return -1;
    d->last = (uint64_t)unzz(first);
    d->buf = xmalloc(d->block * sizeof(uint64_t));
    return 0;
}

/* Decode the next block into buf. */
static int dbp_block(dbp_t *d)
{
    uint64_t mzz;
    uint64_t per = d->block / d->mbs;
    uint64_t left = d->total - d->emitted;       /* values still to come */
    if (dec_varint(&d->p, d->end, &mzz) < 0)
        return -1;
    uint64_t min = (uint64_t)unzz(mzz);
    if ((uint64_t)(d->end - d->p) < d->mbs)
        return -1;
    const uint8_t *widths = d->p;
    d->p += d->mbs;
    size_t n = left < d->block ? (size_t)left : (size_t)d->block;
    size_t got = 0;
    for (uint64_t k = 0; k < d->mbs && got < n; k++) {
        int w = widths[k];
        if (w > 64)
            return -1;
        size_t bytes = (size_t)(per * (uint64_t)w / 8);
        if ((size_t)(d->end - d->p) < bytes)
            return -1;
        dec_bitunpack(d->p, (size_t)per, w, d->buf + got);
        d->p += bytes;
        got += (size_t)per;
    }
    if (got < n)
        return -1;
    for (size_t j = 0; j < n; j++) {
        d->last += min + d->buf[j];
        d->buf[j] = d->last;
    }
    d->buf_n = n;
    d->buf_pos = 0;
    return 0;
}

int dbp_read(dbp_t *d, int64_t *out, size_t n, int is32)
{
    for (size_t i = 0; i < n; i++) {
        if (d->emitted >= d->total)
            return -1;
        uint64_t v;
        if (!d->started) {
            v = d->last;
            d->started = 1;
        } else {
            if (d->buf_pos >= d->buf_n && dbp_block(d) < 0)
                return -1;
            v = d->buf[d->buf_pos++];
        }
        d->emitted++;
        out[i] = is32 ? (int64_t)(int32_t)(uint32_t)v : (int64_t)v;
    }
    return 0;
}

void dbp_free(dbp_t *d)
{
    free(d->buf);
    d->buf = NULL;
}

/* ---- split-block bloom filter (parquet-format BloomFilter.md) ----------- */

static const uint32_t SALT[8] = {
    0x47b6137bU, 0x44974d91U, 0x8824ad5bU, 0xa2b7289dU,
    0x705495c7U, 0x2df1424bU, 0x9efc4947U, 0x5c6bfb31U,
};

uint32_t bloom_size(uint64_t ndv, double fpp)
{
    /* bits = -8 ndv / ln(1 - fpp^(1/8)) (BloomFilter.md), rounded up to
     * a power of two: the rate is at most fpp. */
    double r = __builtin_pow(fpp, 1.0 / 8);
    double bits = -8.0 * (double)ndv / __builtin_log(1.0 - r);
    double bytes = bits / 8;
    uint32_t n = 32;
    while (n < PQ_BLOOM_MAX && (double)n < bytes)
        n *= 2;
    return n;
}

static const uint8_t *bloom_block(const uint8_t *bits, uint32_t nbytes,
                                  uint64_t hash)
{
    uint64_t blocks = nbytes / 32;
    uint64_t i = ((hash >> 32) * blocks) >> 32;
    return bits + i * 32;
}

void bloom_insert(uint8_t *bits, uint32_t nbytes, uint64_t hash)
{
    uint8_t *blk = (uint8_t *)bloom_block(bits, nbytes, hash);
    uint32_t key = (uint32_t)hash;
    for (int i = 0; i < 8; i++) {
        uint32_t word = rd_u32le(blk + 4 * i);
        word |= 1u << ((key * SALT[i]) >> 27);
        wr_u32le(blk + 4 * i, word);
    }
}

int bloom_check(const uint8_t *bits, uint32_t nbytes, uint64_t hash)
{
    const uint8_t *blk = bloom_block(bits, nbytes, hash);
    uint32_t key = (uint32_t)hash;
    for (int i = 0; i < 8; i++) {
        uint32_t word = rd_u32le(blk + 4 * i);
        if (!(word & (1u << ((key * SALT[i]) >> 27))))
            return 0;
    }
    return 1;
}

uint64_t bloom_hash(const void *p, size_t n)
{
    return XXH64(p, n, 0);
}

/* ---- the journal -------------------------------------------------------- */

void journal_record(bbuf_t *b, char kind, uint64_t end, const uint8_t *p,
                    size_t n)
{
    size_t plen = 1 + (kind == 'R' ? 8 : 0) + n;
    size_t at = b->len;
    bb_reserve(b, 8 + plen);
    b->len += 8;
    bb_u8(b, (uint8_t)kind);
    if (kind == 'R') {
        bb_reserve(b, 8);
        wr_u64le(b->p + b->len, end);
        b->len += 8;
    }
    bb_put(b, p, n);
    wr_u32le(b->p + at, (uint32_t)plen);
    wr_u32le(b->p + at + 4, (uint32_t)XXH64(b->p + at + 8, plen, 0));
}

/* The chunks (and bloom filters and page indexes) of a row group lie in
 * [4, end) and end <= data_size. */
static int rg_inside(const pqm_rowgroup_t *rg, uint64_t end,
                     uint64_t data_size)
{
    if (end > data_size || end < 4 || rg->num_rows < 0)
        return 0;
    for (uint32_t i = 0; i < rg->ncols; i++) {
        const pqm_colmeta_t *m = &rg->cols[i].meta;
        if (!rg->cols[i].has_meta)
            return 0;
        int64_t start = m->has_dict_offset ? m->dictionary_page_offset
                                           : m->data_page_offset;
        if (start < 4 || m->total_compressed_size < 0 ||
            (uint64_t)start > end ||
            (uint64_t)m->total_compressed_size > end - (uint64_t)start)
            return 0;
        if (m->has_bloom &&
            (m->bloom_offset < 4 || m->bloom_length < 0 ||
             (uint64_t)m->bloom_offset > end ||
             (uint64_t)m->bloom_length > end - (uint64_t)m->bloom_offset))
            return 0;
        const pqm_chunk_t *c = &rg->cols[i];
        if ((c->has_oi && (c->oi_offset < 4 || c->oi_length < 0 ||
                           (uint64_t)c->oi_offset > end ||
                           (uint64_t)c->oi_length >
                               end - (uint64_t)c->oi_offset)) ||
            (c->has_ci && (c->ci_offset < 4 || c->ci_length < 0 ||
                           (uint64_t)c->ci_offset > end ||
                           (uint64_t)c->ci_length >
                               end - (uint64_t)c->ci_offset)))
            return 0;
    }
    return 1;
}

int journal_parse(const uint8_t *j, size_t jn, uint64_t data_size,
                  arena_t *a, pqm_file_t *meta, uint64_t *end, diag_t *err)
{
    size_t pos = 4;
    int have_schema = 0;
    uint32_t cap = 0;
    *end = 4;
    memset(meta, 0, sizeof(*meta));
    if (jn < 4 || memcmp(j, PQ_JOURNAL_MAGIC, 4) != 0) {
        diag_set(err, "journal: not a flowsql Parquet journal");
        return -1;
    }
    while (jn - pos >= 8) {
        uint32_t len = rd_u32le(j + pos);
        uint32_t check = rd_u32le(j + pos + 4);
        if (len == 0 || len > jn - pos - 8)
            break;                                  /* cut short */
        const uint8_t *p = j + pos + 8;
        if ((uint32_t)XXH64(p, len, 0) != check)
            break;
        pos += 8 + (size_t)len;
        if (!have_schema) {
            if (p[0] != 'S' ||
                pqm_read_file(p + 1, len - 1, a, meta, err) < 0)
                break;
            meta->rgs = NULL;
            meta->nrgs = 0;
            meta->num_rows = 0;
            have_schema = 1;
            continue;
        }
        pqm_rowgroup_t rg;
        if (p[0] != 'R' || len < 9 ||
            pqm_read_rowgroup(p + 9, len - 9, a, &rg, NULL, NULL) < 0)
            break;
        uint64_t e = rd_u64le(p + 1);
        if (!rg_inside(&rg, e, data_size) || e < *end)
            break;
        if (meta->nrgs == cap) {
            cap = cap ? cap * 2 : 16;
            pqm_rowgroup_t *n = arena_alloc(a, cap * sizeof(*n));
            if (meta->nrgs)
                memcpy(n, meta->rgs, meta->nrgs * sizeof(*n));
            meta->rgs = n;
        }
        meta->rgs[meta->nrgs++] = rg;
        meta->num_rows += rg.num_rows;
        *end = e;
    }
    if (!have_schema) {
        diag_set(err, "journal: no valid schema record");
        return -1;
    }
    return 0;
}

char *pq_path_with(const char *path, const char *suffix)
{
    size_t n = strlen(path), s = strlen(suffix);
    char *p = xmalloc(n + s + 1);
    memcpy(p, path, n);
    memcpy(p + n, suffix, s + 1);
    return p;
}
