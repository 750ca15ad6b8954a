/*
 * schema.h - the flow schema: the fields a query may name.
 *
 * This table is the only description of the flow record's fields; the
 * parser's semantic analysis, the expression compiler, the docs generator
 * and the storage layer all read it.
 */
#ifndef FLOWSQL_SCHEMA_H
#define FLOWSQL_SCHEMA_H

#include <stddef.h>

#include "engine/flow.h"
#include "engine/types.h"

/* How a string literal compared with the field is understood. */
enum field_domain {
    DOM_PLAIN = 0,
    DOM_PROTO,     /* 'tcp', 'udp', 'icmp', ... -> protocol number */
    DOM_TCPFLAGS,  /* 'S', 'SA', 'SYN|ACK' -> flag bits */
};

typedef struct field {
    const char *name;
    type_t      type;
    int         domain;      /* enum field_domain */
    size_t      offset;      /* of the column in flow_batch_t; 0 if computed
                                by the expression compiler */
    int         is_virtual;  /* computed from other fields (not archived) */
    const char *doc;
} field_t;

enum field_id {
    F_SRCIP, F_DSTIP, F_NEXTHOP, F_EXPORTER,
    F_START, F_END, F_RECEIVED,
    F_PACKETS, F_BYTES,
    F_SRCPORT, F_DSTPORT, F_PROTO, F_TCPFLAGS, F_TOS,
    F_INGRESS, F_EGRESS, F_SRCAS, F_DSTAS, F_SRCMASK, F_DSTMASK,
    F_VLAN, F_DIRECTION, F_SAMPLING, F_DOMAIN,
    /* virtual */
    F_DURATION, F_FAMILY,
    /* enriched (enrich/enrich.h): virtual, computed on the engine thread
     * into their own columns, only when a query reads them */
    F_SRCCOUNTRY, F_DSTCOUNTRY, F_SRCASN, F_DSTASN, F_SRCASNAME, F_DSTASNAME,
    F_SRCNET_NAME, F_DSTNET_NAME, F_EXPORTER_NAME, F_IN_IFNAME, F_OUT_IFNAME,
    /* custom IPFIX elements (engine/xfield.h): virtual, slots named at
     * start; a free slot's name is "" and no query can name it */
    F_X0,
    F_XSTR0 = F_X0 + XF_NINT,
    F_XIP0 = F_XSTR0 + XF_NSTR,
    F_COUNT = F_XIP0 + XF_NIP
};
_Static_assert(F_COUNT < 64, "field masks are one 64-bit word");

extern const field_t schema_fields[F_COUNT];

/* Copy the stored (not virtual) fields of the mask from b into dst, with
 * its count and flags: what a scan hands on to an engine. */
void flow_batch_copy(flow_batch_t *dst, const flow_batch_t *b,
                     uint64_t fields);

/* Field id by name (case-insensitive), or -1. */
int schema_lookup(const char *name, size_t len);

/* The field name closest to a misspelled one, or NULL if none is close. */
const char *schema_suggest(const char *name, size_t len);

/* Protocol number from a name ('tcp', 'UDP', 'icmp6'...), or -1. */
int proto_from_name(const char *name);
/* Protocol name for a number ("tcp"), or NULL if it has none. */
const char *proto_name(int proto);

/* TCP flag bits from text: letters "FSRPAUEC" in any order ("SA"),
 * or names joined by '|' or ',' ("SYN|ACK"). -1 on bad text. */
int tcpflags_parse(const char *s);
/* Flags as letters in the usual order, "." for none: 0x12 -> ".A..S." */
char *tcpflags_format(int flags, char *buf, size_t size);

#endif
