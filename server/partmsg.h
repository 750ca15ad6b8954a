/*
 * partmsg.h - the messages of the partials topic (docs/SCALE_OUT.md):
 * what workers send the merge stage.
 *
 * A PARTIAL carries one chunk of the encoded state of one closed window
 * of one query over one flows partition (engine/partial.h). The state of
 * a window may be larger than a Kafka message: it is cut into chunks of
 * at most PARTMSG_CHUNK bytes, each carrying the byte offset it starts
 * at and the whole length, and one attempt number, so the merge stage
 * reassembles exactly one worker's state for (query, window, partition)
 * even when a dead worker's successor sends the same window again.
 *
 * A PROGRESS says: every window of flows partition `part` that ends at or
 * before `watermark` has been written (its partials acknowledged by the
 * brokers, the offsets committed). Workers send it to every partition of
 * the partials topic, after the partials it covers were acknowledged, so
 * on each partials partition it comes after them.
 *
 * Layout, little-endian:
 *
 *   0  4  magic "FSQM"        24  8  wstart (ms)
 *   4  1  version (1)         32  8  wend (ms)
 *   5  1  type                40  8  attempt
 *   6  2  header length (64)  48  8  offset of this chunk in the state
 *   8  4  flows partition     56  8  length of the whole state
 *  12  4  flows partitions    64  1  query name length, then the name,
 *  16  8  watermark                  then the chunk's bytes
 */
#ifndef FLOWSQL_PARTMSG_H
#define FLOWSQL_PARTMSG_H

#include <stddef.h>
#include <stdint.h>

#include "util/diag.h"
#include "util/sbuf.h"

#define PARTMSG_MAGIC   "FSQM"
#define PARTMSG_VERSION 1
#define PARTMSG_HDR     64
#define PARTMSG_CHUNK   (512 * 1024)
#define PARTMSG_MAX_PARTS 4096
/* The largest state a merge stage reassembles (a window of one query on
 * one partition): a bigger one is refused and counted. */
#define PARTMSG_MAX_STATE ((uint64_t)1 << 31)

enum { PM_PARTIAL = 1, PM_PROGRESS = 2 };

typedef struct partmsg {
    int            type;
    uint32_t       part, nparts;     /* flows partition, of how many */
    int64_t        watermark;        /* PROGRESS */
    int64_t        wstart, wend;     /* PARTIAL: the window */
    uint64_t       attempt;
    uint64_t       off, total;       /* this chunk within the state */
    char           query[64];
    const uint8_t *data;             /* the chunk (points into the message) */
    size_t         len;
} partmsg_t;

void partmsg_encode(const partmsg_t *m, sbuf_t *out);
/* 0, or -1 with err saying what is wrong (never reads past len). */
int  partmsg_decode(const void *buf, size_t len, partmsg_t *m, diag_t *err);

#endif
