/* schema.c - the flow schema table and its name helpers; see schema.h. */
#include "engine/schema.h"
#include "engine/flow.h"
#include "engine/xfield.h"
#include "util/arena.h"
#include "util/diag.h"

#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Field names are lower case; the macro above takes the column name. */
const field_t schema_fields[F_COUNT] = {
    [F_SRCIP]    = {"srcip", TYPE_IP, 0, offsetof(flow_batch_t, srcip), 0,
                    "source address (IPv4 or IPv6)"},
    [F_DSTIP]    = {"dstip", TYPE_IP, 0, offsetof(flow_batch_t, dstip), 0,
                    "destination address"},
    [F_NEXTHOP]  = {"nexthop", TYPE_IP, 0, offsetof(flow_batch_t, nexthop), 0,
                    "IP next hop"},
    [F_EXPORTER] = {"exporter", TYPE_IP, 0, offsetof(flow_batch_t, exporter),
                    0, "address of the device that exported the flow"},
    [F_START]    = {"start", TYPE_TIME, 0, offsetof(flow_batch_t, start), 0,
                    "time of the first packet"},
    [F_END]      = {"end", TYPE_TIME, 0, offsetof(flow_batch_t, end), 0,
                    "time of the last packet"},
    [F_RECEIVED] = {"received", TYPE_TIME, 0,
                    offsetof(flow_batch_t, received), 0,
                    "time flowsqld received the record"},
    [F_PACKETS]  = {"packets", TYPE_INT, 0, offsetof(flow_batch_t, packets),
                    0, "packets in the flow (as exported, unsampled)"},
    [F_BYTES]    = {"bytes", TYPE_INT, 0, offsetof(flow_batch_t, bytes), 0,
                    "bytes in the flow (IP layer, as exported)"},
    [F_SRCPORT]  = {"srcport", TYPE_INT, 0, offsetof(flow_batch_t, srcport),
                    0, "source port (0 if none)"},
    [F_DSTPORT]  = {"dstport", TYPE_INT, 0, offsetof(flow_batch_t, dstport),
                    0, "destination port; ICMP type*256+code for ICMP"},
    [F_PROTO]    = {"proto", TYPE_INT, DOM_PROTO,
                    offsetof(flow_batch_t, proto), 0,
                    "IP protocol number; compares with names: proto = 'tcp'"},
    [F_TCPFLAGS] = {"tcpflags", TYPE_INT, DOM_TCPFLAGS,
                    offsetof(flow_batch_t, tcpflags), 0,
                    "OR of the TCP flags of all packets; compares with "
                    "letters: tcpflags = 'S'"},
    [F_TOS]      = {"tos", TYPE_INT, 0, offsetof(flow_batch_t, tos), 0,
                    "IP type of service / DSCP byte"},
    [F_INGRESS]  = {"ingress", TYPE_INT, 0, offsetof(flow_batch_t, ingress),
                    0, "input interface index"},
    [F_EGRESS]   = {"egress", TYPE_INT, 0, offsetof(flow_batch_t, egress), 0,
                    "output interface index"},
    [F_SRCAS]    = {"srcas", TYPE_INT, 0, offsetof(flow_batch_t, srcas), 0,
                    "source autonomous system"},
    [F_DSTAS]    = {"dstas", TYPE_INT, 0, offsetof(flow_batch_t, dstas), 0,
                    "destination autonomous system"},
    [F_SRCMASK]  = {"srcmask", TYPE_INT, 0, offsetof(flow_batch_t, srcmask),
                    0, "source prefix length"},
    [F_DSTMASK]  = {"dstmask", TYPE_INT, 0, offsetof(flow_batch_t, dstmask),
                    0, "destination prefix length"},
    [F_VLAN]     = {"vlan", TYPE_INT, 0, offsetof(flow_batch_t, vlan), 0,
                    "VLAN id"},
    [F_DIRECTION]= {"direction", TYPE_INT, 0,
                    offsetof(flow_batch_t, direction), 0,
                    "flow direction: 0 ingress, 1 egress"},
    [F_SAMPLING] = {"sampling", TYPE_INT, 0, offsetof(flow_batch_t, sampling),
                    0, "sampling interval (1 in N), 0 or 1 if unsampled"},
    [F_DOMAIN]   = {"domain", TYPE_INT, 0, offsetof(flow_batch_t, domain), 0,
                    "observation domain id (NetFlow v9 source id)"},
    [F_DURATION] = {"duration", TYPE_DURATION, 0, 0, 1,
                    "end - start, in milliseconds"},
    [F_FAMILY]   = {"family", TYPE_INT, 0, 0, 1,
                    "address family of srcip: 4 or 6"},
#define ENRICHED(id, nm, ty, col, doc) \
    [id] = {nm, ty, 0, offsetof(flow_batch_t, col), 1, doc}
    ENRICHED(F_SRCCOUNTRY, "srccountry", TYPE_STRING, srccountry,
             "ISO 3166 country code of srcip (--geoip-db), '' if unknown"),
    ENRICHED(F_DSTCOUNTRY, "dstcountry", TYPE_STRING, dstcountry,
             "ISO 3166 country code of dstip (--geoip-db), '' if unknown"),
    ENRICHED(F_SRCASN, "srcasn", TYPE_INT, srcasn,
             "srcas as exported, or from --asn-db when the exporter sent 0"),
    ENRICHED(F_DSTASN, "dstasn", TYPE_INT, dstasn,
             "dstas as exported, or from --asn-db when the exporter sent 0"),
    ENRICHED(F_SRCASNAME, "srcasname", TYPE_STRING, srcasname,
             "organization of srcip's AS (--asn-db), '' if unknown"),
    ENRICHED(F_DSTASNAME, "dstasname", TYPE_STRING, dstasname,
             "organization of dstip's AS (--asn-db), '' if unknown"),
    ENRICHED(F_SRCNET_NAME, "srcnet_name", TYPE_STRING, srcnet_name,
             "name of srcip's longest matching prefix (--network-names)"),
    ENRICHED(F_DSTNET_NAME, "dstnet_name", TYPE_STRING, dstnet_name,
             "name of dstip's longest matching prefix (--network-names)"),
    ENRICHED(F_EXPORTER_NAME, "exporter_name", TYPE_STRING, exporter_name,
             "name of the exporter (--exporter-names), '' if unknown"),
    ENRICHED(F_IN_IFNAME, "in_ifname", TYPE_STRING, in_ifname,
             "name of the input interface (--interface-names)"),
    ENRICHED(F_OUT_IFNAME, "out_ifname", TYPE_STRING, out_ifname,
             "name of the output interface (--interface-names)"),
#undef ENRICHED
#define XI(k) [F_X0 + k] = {xf_names[k], TYPE_INT, 0, \
                            offsetof(flow_batch_t, xint[k]), 1, xf_docs[k]}
#define XS(k) [F_XSTR0 + k] = {xf_names[XF_NINT + k], TYPE_STRING, 0, \
                               offsetof(flow_batch_t, xstr[k]), 1, \
                               xf_docs[XF_NINT + k]}
#define XA(k) [F_XIP0 + k] = {xf_names[XF_NINT + XF_NSTR + k], TYPE_IP, 0, \
                              offsetof(flow_batch_t, xip[k]), 1, \
                              xf_docs[XF_NINT + XF_NSTR + k]}
    XI(0), XI(1), XI(2), XI(3), XI(4), XI(5), XI(6), XI(7),
    XI(8), XI(9), XI(10), XI(11), XI(12), XI(13), XI(14), XI(15),
    XS(0), XS(1), XS(2), XS(3), XS(4), XS(5), XS(6), XS(7),
    XA(0), XA(1),
#undef XI
#undef XS
#undef XA
};
_Static_assert(XF_NINT == 16 && XF_NSTR == 8 && XF_NIP == 2,
               "one XI/XS/XA line per slot above");

int schema_lookup(const char *name, size_t len)
{
    for (int i = 0; i < F_COUNT; i++)
        if (len && strlen(schema_fields[i].name) == len &&
            strncasecmp(schema_fields[i].name, name, len) == 0)
            return i;
    return -1;
}

const char *schema_suggest(const char *name, size_t len)
{
    const char *best = NULL;
    int bestd = 3;
    for (int i = 0; i < F_COUNT; i++) {
        const char *f = schema_fields[i].name;
        if (!*f)
            continue;
        int d = diag_distance(name, len, f, strlen(f));
        if (d < bestd) {
            bestd = d;
            best = f;
        }
    }
    return best;
}

static const struct {
    const char *name;
    int         num;
} protos[] = {
    {"icmp", 1}, {"igmp", 2}, {"ipip", 4}, {"tcp", 6}, {"egp", 8},
    {"udp", 17}, {"ipv6", 41}, {"rsvp", 46}, {"gre", 47}, {"esp", 50},
    {"ah", 51}, {"icmp6", 58}, {"ipv6-icmp", 58}, {"ospf", 89}, {"pim", 103},
    {"vrrp", 112}, {"l2tp", 115}, {"sctp", 132},
};

int proto_from_name(const char *name)
{
    for (size_t i = 0; i < sizeof(protos) / sizeof(protos[0]); i++)
        if (strcasecmp(protos[i].name, name) == 0)
            return protos[i].num;
    return -1;
}

const char *proto_name(int proto)
{
    for (size_t i = 0; i < sizeof(protos) / sizeof(protos[0]); i++)
        if (protos[i].num == proto)
            return protos[i].name;
    return NULL;
}

/* Bit order as nfdump prints flags: CWR ECE URG ACK PSH RST SYN FIN. */
static const struct {
    char        letter;
    const char *name;
    int         bit;
} tflags[] = {
    {'C', "CWR", 0x80}, {'E', "ECE", 0x40}, {'U', "URG", 0x20},
    {'A', "ACK", 0x10}, {'P', "PSH", 0x08}, {'R', "RST", 0x04},
    {'S', "SYN", 0x02}, {'F', "FIN", 0x01},
};
#define NTFLAGS (sizeof(tflags) / sizeof(tflags[0]))

int tcpflags_parse(const char *s)
{
    int bits = 0;
    if (!*s)
        return -1;
    if (strcmp(s, ".") == 0)
        return 0;
    /* Names: SYN|ACK, syn,ack */
    if (strlen(s) >= 3 && isalpha((unsigned char)s[0]) &&
        isalpha((unsigned char)s[1]) && isalpha((unsigned char)s[2])) {
        const char *p = s;
        while (*p) {
            size_t n = strcspn(p, "|,+ ");
            size_t i;
            for (i = 0; i < NTFLAGS; i++)
                if (n == 3 && strncasecmp(p, tflags[i].name, 3) == 0)
                    break;
            if (i == NTFLAGS)
                return -1;
            bits |= tflags[i].bit;
            p += n;
            while (*p == '|' || *p == ',' || *p == '+' || *p == ' ')
                p++;
        }
        return bits;
    }
    for (const char *p = s; *p; p++) {
        if (*p == '.')
            continue;
        size_t i;
        for (i = 0; i < NTFLAGS; i++)
            if (toupper((unsigned char)*p) == tflags[i].letter)
                break;
        if (i == NTFLAGS)
            return -1;
        bits |= tflags[i].bit;
    }
    return bits;
}

char *tcpflags_format(int flags, char *buf, size_t size)
{
    size_t n = 0;
    for (size_t i = 0; i < NTFLAGS && n + 1 < size; i++)
        buf[n++] = (flags & tflags[i].bit) ? tflags[i].letter : '.';
    if (size)
        buf[n < size ? n : size - 1] = 0;
    return buf;
}

void flow_batch_copy(flow_batch_t *dst, const flow_batch_t *b,
                     uint64_t fields)
{
    dst->n = b->n;
    dst->flags = b->flags;
    for (int f = 0; f < F_COUNT; f++) {
        if (!(fields >> f & 1) || schema_fields[f].is_virtual)
            continue;
        size_t off = schema_fields[f].offset;
        size_t w = schema_fields[f].type == TYPE_IP ? 16 : 8;
        memcpy((char *)dst + off, (const char *)b + off, w * b->n);
    }
}

const char *type_name(type_t t)
{
    static const char *n[] = {"none", "bool", "int", "float", "string",
                              "ip", "time", "duration"};
    return (unsigned)t < sizeof(n) / sizeof(n[0]) ? n[t] : "?";
}

flow_batch_t *flow_batch_new(void)
{
    flow_batch_t *b = xmalloc(sizeof(*b));
    flow_batch_reset(b);
    return b;
}

void flow_batch_free(flow_batch_t *b)
{
    free(b);
}

int flow_batch_add(flow_batch_t *b)
{
    if (b->n >= FLOW_BATCH_MAX)
        return -1;
    uint32_t i = b->n++;
    b->srcip[i] = b->dstip[i] = b->nexthop[i] = b->exporter[i] =
        (ipaddr_t){{0}};
    b->start[i] = b->end[i] = b->received[i] = 0;
    b->packets[i] = b->bytes[i] = 0;
    b->srcport[i] = b->dstport[i] = b->proto[i] = b->tcpflags[i] = 0;
    b->tos[i] = b->ingress[i] = b->egress[i] = b->srcas[i] = 0;
    b->dstas[i] = b->srcmask[i] = b->dstmask[i] = b->vlan[i] = 0;
    b->direction[i] = b->sampling[i] = b->domain[i] = 0;
    return (int)i;
}
