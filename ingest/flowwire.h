/*
 * flowwire.h - the flows wire format of scale-out (docs/SCALE_OUT.md):
 * a batch of normalized flows as one compact binary Kafka message.
 *
 * The collector role encodes each batch it publishes (flowwire_enc.c);
 * a worker decodes the messages it consumes (flowwire_dec.c) back into
 * flow_batch_t, column for column, bit for bit.
 *
 * A message is a fixed header then the columns, all little-endian:
 *
 *   offset size
 *      0    4  magic "FSQW"
 *      4    1  version (FLOWWIRE_VERSION)
 *      5    1  flags: bit 0 = FLOW_BATCH_REPLAY, bit 1 = a marker
 *      6    2  header length in bytes (32 today; a reader skips more)
 *      8    4  n, the number of flows (0..FLOW_BATCH_MAX; 0 in a marker)
 *     12    4  number of columns that follow
 *     16    8  watermark: received time (ms) below which the collector
 *              will send this partition no more flows; 0 = none
 *     24    8  collector sequence number of this message on its partition
 *
 * and per column:
 *
 *      1 byte  column id (FW_COL_*; a reader skips ids it does not know)
 *      1 byte  encoding (FW_ENC_*; a reader refuses one it does not know)
 *      4 bytes length of the data that follows
 *      data
 *
 * Integer columns are FW_ENC_CONST (one zigzag varint for all n),
 * FW_ENC_VARINT (n zigzag varints) or FW_ENC_DELTA (n zigzag varints of
 * the difference from the previous value, the first from 0; times).
 * Differences wrap modulo 2^64, so every int64 survives. Address
 * columns are FW_ENC_CONST (16 bytes), FW_ENC_ADDR4 (4 bytes each, every
 * address IPv4-mapped) or FW_ENC_ADDR16 (16 bytes each). A column absent
 * from a message reads as zeros.
 *
 * Enriched fields and custom elements (xfield) are not carried: a worker
 * fills them itself (docs/SCALE_OUT.md says why and what is planned).
 */
#ifndef FLOWSQL_FLOWWIRE_H
#define FLOWSQL_FLOWWIRE_H

#include <stddef.h>
#include <stdint.h>

#include "engine/flow.h"
#include "util/diag.h"
#include "util/sbuf.h"

#define FLOWWIRE_MAGIC   "FSQW"
#define FLOWWIRE_VERSION 1
#define FLOWWIRE_HDR     32

#define FLOWWIRE_F_REPLAY 0x1 /* the batch had FLOW_BATCH_REPLAY */
#define FLOWWIRE_F_MARKER 0x2 /* no flows: a watermark for the partition */

enum {
    FW_ENC_CONST = 0,
    FW_ENC_VARINT = 1,
    FW_ENC_DELTA = 2,
    FW_ENC_ADDR4 = 3,
    FW_ENC_ADDR16 = 4,
};

/* Column ids: never renumbered, new columns take new ids. */
enum {
    FW_COL_SRCIP = 1, FW_COL_DSTIP, FW_COL_NEXTHOP, FW_COL_EXPORTER,
    FW_COL_START, FW_COL_END, FW_COL_RECEIVED,
    FW_COL_PACKETS, FW_COL_BYTES,
    FW_COL_SRCPORT, FW_COL_DSTPORT, FW_COL_PROTO, FW_COL_TCPFLAGS,
    FW_COL_TOS, FW_COL_INGRESS, FW_COL_EGRESS, FW_COL_SRCAS, FW_COL_DSTAS,
    FW_COL_SRCMASK, FW_COL_DSTMASK, FW_COL_VLAN, FW_COL_DIRECTION,
    FW_COL_SAMPLING, FW_COL_DOMAIN,
    FW_COL_LAST = FW_COL_DOMAIN
};

/* The columns in the order they are written: id, offset of the column
 * in flow_batch_t, 1 for an address column, and the integer encoding
 * the encoder uses when the values are not all equal. */
typedef struct flowwire_col {
    uint8_t id, addr, enc;
    size_t  off;
} flowwire_col_t;

#define FW_A(id, f) {id, 1, FW_ENC_ADDR16, offsetof(flow_batch_t, f)}
#define FW_I(id, f, e) {id, 0, e, offsetof(flow_batch_t, f)}
static const flowwire_col_t flowwire_cols[] = {
    FW_A(FW_COL_SRCIP, srcip), FW_A(FW_COL_DSTIP, dstip),
    FW_A(FW_COL_NEXTHOP, nexthop), FW_A(FW_COL_EXPORTER, exporter),
    FW_I(FW_COL_START, start, FW_ENC_DELTA),
    FW_I(FW_COL_END, end, FW_ENC_DELTA),
    FW_I(FW_COL_RECEIVED, received, FW_ENC_DELTA),
    FW_I(FW_COL_PACKETS, packets, FW_ENC_VARINT),
    FW_I(FW_COL_BYTES, bytes, FW_ENC_VARINT),
    FW_I(FW_COL_SRCPORT, srcport, FW_ENC_VARINT),
    FW_I(FW_COL_DSTPORT, dstport, FW_ENC_VARINT),
    FW_I(FW_COL_PROTO, proto, FW_ENC_VARINT),
    FW_I(FW_COL_TCPFLAGS, tcpflags, FW_ENC_VARINT),
    FW_I(FW_COL_TOS, tos, FW_ENC_VARINT),
    FW_I(FW_COL_INGRESS, ingress, FW_ENC_VARINT),
    FW_I(FW_COL_EGRESS, egress, FW_ENC_VARINT),
    FW_I(FW_COL_SRCAS, srcas, FW_ENC_VARINT),
    FW_I(FW_COL_DSTAS, dstas, FW_ENC_VARINT),
    FW_I(FW_COL_SRCMASK, srcmask, FW_ENC_VARINT),
    FW_I(FW_COL_DSTMASK, dstmask, FW_ENC_VARINT),
    FW_I(FW_COL_VLAN, vlan, FW_ENC_VARINT),
    FW_I(FW_COL_DIRECTION, direction, FW_ENC_VARINT),
    FW_I(FW_COL_SAMPLING, sampling, FW_ENC_VARINT),
    FW_I(FW_COL_DOMAIN, domain, FW_ENC_VARINT),
};
#undef FW_A
#undef FW_I
#define FLOWWIRE_NCOLS (sizeof(flowwire_cols) / sizeof(flowwire_cols[0]))

/* What a message says besides its flows. */
typedef struct flowwire_meta {
    int64_t  watermark;  /* ms; 0 = none */
    uint64_t seq;        /* collector's sequence on the partition */
    unsigned flags;      /* FLOWWIRE_F_* */
} flowwire_meta_t;

/* Append to out the message of flows idx[0..n-1] of b (all of b, in
 * order, when idx is NULL and n == b->n). n == 0 makes a marker. */
void flowwire_encode(const flow_batch_t *b, const uint32_t *idx, uint32_t n,
                     const flowwire_meta_t *meta, sbuf_t *out);

/* Decode one message into b (reset first). 0, or -1 with err saying what
 * is wrong (truncated, bad magic, unknown version or encoding, too many
 * flows, a column whose length does not match its flows); b is then
 * left empty. meta may be NULL. */
int flowwire_decode(const void *msg, size_t len, flow_batch_t *b,
                    flowwire_meta_t *meta, diag_t *err);

#endif
