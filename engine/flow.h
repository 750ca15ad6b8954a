/*
 * flow.h - the normalized flow record and batches of them.
 *
 * Every input (IPFIX, NetFlow v9/v5, files, Kafka) decodes into this one
 * shape; every query reads it. Records travel in batches laid out by
 * column (struct of arrays), so a filter or an aggregate reads only the
 * columns it needs and the hot path touches no allocator per flow.
 *
 * Conventions, the same for every column:
 *   - times are int64 milliseconds since the Unix epoch (UTC);
 *   - integers are int64 whatever their width on the wire;
 *   - addresses are 16 bytes (IPv4 mapped into IPv6, see ipaddr.h);
 *   - a field an exporter did not send is 0 (:: for addresses). There is
 *     no NULL: queries see zeros, documented in docs/QUERY_LANGUAGE.md.
 *
 * The schema table (schema.c) names these columns for the query language;
 * it is the only list of fields in flowsql.
 */
#ifndef FLOWSQL_FLOW_H
#define FLOWSQL_FLOW_H

#include <stdint.h>

#include "util/ipaddr.h"

#define FLOW_BATCH_MAX 2048

/* Extra columns for custom IPFIX elements (engine/xfield.h): integer,
 * string and address slots, numbered 0..XF_NSLOTS-1 in that order. */
#define XF_NINT   16
#define XF_NSTR   8
#define XF_NIP    2
#define XF_NSLOTS (XF_NINT + XF_NSTR + XF_NIP)

typedef struct flow_batch {
    uint32_t n;                       /* records in use */
    uint32_t flags;                   /* FLOW_BATCH_* */
    /* addresses */
    ipaddr_t srcip[FLOW_BATCH_MAX];
    ipaddr_t dstip[FLOW_BATCH_MAX];
    ipaddr_t nexthop[FLOW_BATCH_MAX];
    ipaddr_t exporter[FLOW_BATCH_MAX];
    /* times */
    int64_t  start[FLOW_BATCH_MAX];   /* first packet */
    int64_t  end[FLOW_BATCH_MAX];     /* last packet */
    int64_t  received[FLOW_BATCH_MAX];/* when the collector got it */
    /* counters (already multiplied by nothing: raw, see sampling) */
    int64_t  packets[FLOW_BATCH_MAX];
    int64_t  bytes[FLOW_BATCH_MAX];
    /* transport */
    int64_t  srcport[FLOW_BATCH_MAX];
    int64_t  dstport[FLOW_BATCH_MAX];
    int64_t  proto[FLOW_BATCH_MAX];
    int64_t  tcpflags[FLOW_BATCH_MAX];/* OR of all packets' flags */
    int64_t  tos[FLOW_BATCH_MAX];
    /* routing and interfaces */
    int64_t  ingress[FLOW_BATCH_MAX];
    int64_t  egress[FLOW_BATCH_MAX];
    int64_t  srcas[FLOW_BATCH_MAX];
    int64_t  dstas[FLOW_BATCH_MAX];
    int64_t  srcmask[FLOW_BATCH_MAX];
    int64_t  dstmask[FLOW_BATCH_MAX];
    int64_t  vlan[FLOW_BATCH_MAX];
    int64_t  direction[FLOW_BATCH_MAX];/* 0 ingress, 1 egress */
    /* export metadata */
    int64_t  sampling[FLOW_BATCH_MAX];/* 1-in-N; 0 or 1 = unsampled */
    int64_t  domain[FLOW_BATCH_MAX];  /* observation domain / source id */
    /* enrichment (enrich/enrich.h): filled on the engine thread, only
     * for the fields some query reads, never archived. Names are
     * interned strings (str_intern, "" when unknown), so = and GROUP BY
     * compare pointers and every output prints them as text. */
    const char *srccountry[FLOW_BATCH_MAX];
    const char *dstcountry[FLOW_BATCH_MAX];
    int64_t     srcasn[FLOW_BATCH_MAX];
    int64_t     dstasn[FLOW_BATCH_MAX];
    const char *srcasname[FLOW_BATCH_MAX];
    const char *dstasname[FLOW_BATCH_MAX];
    const char *srcnet_name[FLOW_BATCH_MAX];
    const char *dstnet_name[FLOW_BATCH_MAX];
    const char *exporter_name[FLOW_BATCH_MAX];
    const char *in_ifname[FLOW_BATCH_MAX];
    const char *out_ifname[FLOW_BATCH_MAX];
    /* custom elements (engine/xfield.h): filled by the decoder for the
     * slots queries name; xfilled says which (bit k = slot k), and a slot
     * not filled reads as zeros. Strings are interned. Never archived. */
    uint32_t    xfilled;
    int64_t     xint[XF_NINT][FLOW_BATCH_MAX];
    const char *xstr[XF_NSTR][FLOW_BATCH_MAX];
    ipaddr_t    xip[XF_NIP][FLOW_BATCH_MAX];
} flow_batch_t;

/* The batch's records carry no meaningful receive time (file, replay):
 * windows must follow the flows' own timestamps. */
#define FLOW_BATCH_REPLAY 0x1

/* Empty a batch for reuse (n = 0; columns are written before read). */
static inline void flow_batch_reset(flow_batch_t *b)
{
    b->n = 0;
    b->flags = 0;
    b->xfilled = 0;
}

/* Append one zeroed record and return its index, or -1 when full.
 * Decoders fill the columns at that index. */
int flow_batch_add(flow_batch_t *b);

flow_batch_t *flow_batch_new(void);
void          flow_batch_free(flow_batch_t *b);

#endif
