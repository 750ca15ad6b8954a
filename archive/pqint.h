/*
 * pqint.h - what archive/parquet.c (writer, journal) and archive/pqread.c
 * (reader) share: byte buffers, the value encodings of Parquet (bit
 * packing, the RLE/bit-packing hybrid, DELTA_BINARY_PACKED), the
 * split-block bloom filter, and the journal of an open file.
 * Internal to archive/.
 */
#ifndef FLOWSQL_PQINT_H
#define FLOWSQL_PQINT_H

#include <stddef.h>
#include <stdint.h>

#include "archive/parquet.h"
#include "archive/thrift.h"

/* ---- a growable byte buffer --------------------------------------------- */

typedef struct bbuf {
    uint8_t *p;
    size_t   len, cap;
} bbuf_t;

void     bb_reserve(bbuf_t *b, size_t more);
void     bb_put(bbuf_t *b, const void *p, size_t n);
void     bb_u8(bbuf_t *b, uint8_t v);
void     bb_u32le(bbuf_t *b, uint32_t v);
void     bb_varint(bbuf_t *b, uint64_t v);
void     bb_free(bbuf_t *b);

static inline uint32_t rd_u32le(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static inline uint64_t rd_u64le(const uint8_t *p)
{
    return (uint64_t)rd_u32le(p) | (uint64_t)rd_u32le(p + 4) << 32;
}

static inline void wr_u32le(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static inline void wr_u64le(uint8_t *p, uint64_t v)
{
    wr_u32le(p, (uint32_t)v);
    wr_u32le(p + 4, (uint32_t)(v >> 32));
}

/* Bits needed for v (0 for 0). */
static inline int bits_for(uint64_t v)
{
    return v ? 64 - __builtin_clzll(v) : 0;
}

/* ---- encoders ----------------------------------------------------------- */

/* Append n values of w bits (0..64), LSB first, padded to a byte. */
void enc_bitpack(bbuf_t *b, const uint64_t *v, size_t n, int w);

/* The RLE/bit-packing hybrid of n values of bit width w (1..32), without
 * a length prefix. */
void enc_hybrid(bbuf_t *b, const uint32_t *v, size_t n, int w);

/* DELTA_BINARY_PACKED of n values (n >= 1); is32: INT32 arithmetic. */
void enc_delta(bbuf_t *b, const int64_t *v, size_t n, int is32);

/* ---- decoders ----------------------------------------------------------- */

/* Read a ULEB128 varint at *p (< end): 0, or -1 if truncated/too long. */
int dec_varint(const uint8_t **p, const uint8_t *end, uint64_t *v);

/* Unpack n values of w bits (0..64) from p (at least (n*w+7)/8 bytes). */
void dec_bitunpack(const uint8_t *p, size_t n, int w, uint64_t *out);

/* The hybrid decoder, reading values as they are asked for. */
typedef struct hyb {
    const uint8_t *p, *end;
    int            w;               /* bit width, 0..32 */
    uint32_t       rle_left;        /* values left in an RLE run */
    uint32_t       rle_value;
    uint32_t       bp_left;         /* values left in a bit-packed run */
    const uint8_t *bp;              /* next bit-packed group */
    uint32_t       grp[8];          /* the current unpacked group */
    int            grp_pos;         /* next value in grp, 8 = none */
} hyb_t;

void hyb_init(hyb_t *h, const uint8_t *p, size_t n, int w);
/* Next n values into out: 0, or -1 when the data runs out or is bad. */
int  hyb_read(hyb_t *h, uint32_t *out, size_t n);

/* The DELTA_BINARY_PACKED decoder, likewise. */
typedef struct dbp {
    const uint8_t *p, *end;
    uint64_t       block, mbs;      /* values per block, miniblocks */
    uint64_t       total, emitted;  /* values in the stream, given out */
    uint64_t       last;            /* last value (wrapping arithmetic) */
    uint64_t      *buf;             /* decoded values of the block */
    size_t         buf_n, buf_pos;
    int            started;         /* first value given out */
} dbp_t;

/* 0, or -1 if the header is bad (a block over 65536 values is refused). */
int  dbp_init(dbp_t *d, const uint8_t *p, size_t n);
int  dbp_read(dbp_t *d, int64_t *out, size_t n, int is32);
/* Where the stream ended (after the values read so far: for
 * DELTA_LENGTH_BYTE_ARRAY, not used here). */
void dbp_free(dbp_t *d);

/* ---- split-block bloom filter ------------------------------------------- */

/* Bytes of a filter for ndv distinct values at false positive rate fpp:
 * a power of two, 32 .. PQ_BLOOM_MAX. */
#define PQ_BLOOM_MAX (1u << 20)
uint32_t bloom_size(uint64_t ndv, double fpp);
void     bloom_insert(uint8_t *bits, uint32_t nbytes, uint64_t hash);
int      bloom_check(const uint8_t *bits, uint32_t nbytes, uint64_t hash);
/* XXH64 seed 0 of the value's plain bytes, as the spec hashes it. */
uint64_t bloom_hash(const void *p, size_t n);

/* ---- the journal of an open file ---------------------------------------- */

/*
 * PATH.journal: "PQJ1", then records of
 *     u32 length | u32 check (low half of XXH64 of the payload) | payload
 * The first payload is 'S' + a FileMetaData (schema, key/value, created
 * by; no row groups); each later one 'R' + u64 end offset in the data
 * file + a RowGroup. A record cut short or failing its check ends the
 * journal: what follows is never trusted.
 */
#define PQ_JOURNAL_MAGIC "PQJ1"
#define PQ_JOURNAL_MAX   (256u << 20)   /* bytes of journal read at most */

/* Append a record (kind 'S' or 'R') to b. */
void journal_record(bbuf_t *b, char kind, uint64_t end, const uint8_t *p,
                    size_t n);

/*
 * Parse a journal (j, jn) against a data file of data_size bytes: *meta
 * gets the schema record's metadata plus every row group record, in
 * order, up to the first bad or incomplete one or the first whose
 * chunks do not lie whole in [4, data_size); *end the end offset of the
 * last kept row group (4 if none). Structs in arena a, pointing into j.
 * Returns 0, or -1 (err) if there is no valid schema record.
 */
int journal_parse(const uint8_t *j, size_t jn, uint64_t data_size,
                  arena_t *a, pqm_file_t *meta, uint64_t *end, diag_t *err);

/* The path of the journal / open file for a final path (malloc'ed). */
char *pq_path_with(const char *path, const char *suffix);

/* "flowsql version X" */
#define PQ_CREATED_BY "flowsql version " FLOWSQL_VERSION

#endif
