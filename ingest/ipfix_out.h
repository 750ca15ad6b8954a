/*
 * ipfix_out.h - an IPFIX exporter's encoder (RFC 7011): flows as
 * flowsql keeps them (flow_batch_t) back into IPFIX messages, so that
 * archived flows can be sent to another collector (flowsql replay).
 *
 * Every field of the flow maps to its IANA element:
 *
 *   srcip, dstip      sourceIPv4Address (8), destinationIPv4Address (12)
 *                     or sourceIPv6Address (27), destinationIPv6Address (28)
 *   nexthop           ipNextHopIPv4Address (15) / ipNextHopIPv6Address (62)
 *   start, end        flowStartMilliseconds (152), flowEndMilliseconds (153)
 *   packets, bytes    packetDeltaCount (2), octetDeltaCount (1), 8 bytes
 *   srcport, dstport  sourceTransportPort (7), destinationTransportPort (11)
 *   proto             protocolIdentifier (4)
 *   tcpflags          tcpControlBits (6), 2 bytes
 *   tos               ipClassOfService (5)
 *   ingress, egress   ingressInterface (10), egressInterface (14)
 *   srcas, dstas      bgpSourceAsNumber (16), bgpDestinationAsNumber (17)
 *   srcmask, dstmask  source/destinationIPv4PrefixLength (9, 13) or
 *                     source/destinationIPv6PrefixLength (29, 30)
 *   vlan              vlanId (58)
 *   direction         flowDirection (61)
 *   sampling          samplingInterval (34), only in the templates of
 *                     flows whose sampling is not 0
 *   ICMP type/code    in destinationTransportPort, as the decoders keep
 *                     it (type * 256 + code): nfdump and flowsql read it
 *                     there
 *   domain            the message header's Observation Domain ID
 *
 * received and exporter are not sent: the collector that receives the
 * flows gives them its own receive time and sees the sender's address.
 *
 * Four templates (256 IPv4, 257 IPv6, 258 IPv4 sampled, 259 IPv6
 * sampled), sent in one template set at the start of each observation
 * domain and, over UDP, again every template_every messages of the
 * domain or template_ms, whichever comes first. A flow goes with the
 * IPv4 templates when its addresses (and next hop, unless 0) are all
 * IPv4. Sequence numbers count the data records sent before each
 * message, per domain (mod 2^32). A message holds one domain; it is
 * closed when full (mtu bytes), when the domain changes, or by
 * ipfix_out_flush(). Values wider than their element (a port above
 * 65535, a negative counter) are clamped to its range and counted.
 *
 * One thread at a time.
 */
#ifndef FLOWSQL_IPFIX_OUT_H
#define FLOWSQL_IPFIX_OUT_H

#include <stddef.h>
#include <stdint.h>

#include "engine/flow.h"

typedef struct ipfix_out ipfix_out_t;

typedef struct ipfix_out_opts {
    size_t  mtu;             /* bytes per message at most; 0: 1400 (UDP);
                                at least 512, at most 65535 */
    int     template_every;  /* messages of a domain between templates
                                (UDP); 0: 20 */
    int64_t template_ms;     /* ... or this long; 0: 10 s */
    int     stream;          /* 1: TCP/file: templates once per domain */
} ipfix_out_opts_t;

/* A complete message: 0 to go on, -1 to stop (ipfix_out_add and
 * ipfix_out_flush return -1 then). */
typedef int (*ipfix_out_fn)(void *ctx, const uint8_t *msg, size_t len);

ipfix_out_t *ipfix_out_new(const ipfix_out_opts_t *o, ipfix_out_fn fn,
                           void *ctx);
void         ipfix_out_free(ipfix_out_t *x);   /* NULL is fine */

/* Add flow i of b; now_ms is the export time of a message it opens.
 * Returns 0, or -1 when the callback stopped. */
int ipfix_out_add(ipfix_out_t *x, const flow_batch_t *b, uint32_t i,
                  int64_t now_ms);

/* Send the message being built, if any. 0, or -1 (callback). */
int ipfix_out_flush(ipfix_out_t *x);

/* Forget the templates sent (a new TCP connection): each domain's next
 * message starts with them again. Sequence numbers go on. */
void ipfix_out_reset_templates(ipfix_out_t *x);

typedef struct ipfix_out_stats {
    uint64_t messages, records, bytes, template_sets, clamped;
} ipfix_out_stats_t;

void ipfix_out_stats(const ipfix_out_t *x, ipfix_out_stats_t *out);

#endif
