/*
 * nfv9.c - NetFlow v9 (RFC 3954), rewritten as IPFIX in memory and then
 * decoded exactly as IPFIX is (ipfix_decode: our structural check and
 * template mirror, then libfixbuf on the session's own buffer).
 *
 * NetFlow v9 is IPFIX's parent: the same template and data records, a
 * different header and template set layout. The rewrite:
 *   - header: version 10, a length instead of a record count, the export
 *     seconds, the source id as observation domain; sysUptime is dropped
 *     (the decoder is given export time - sysUptime as the base of the
 *     records' FIRST/LAST_SWITCHED uptimes, d->uptime_base_ms);
 *   - template flowset (id 0) -> template set (2); options template
 *     flowset (id 1, scope and option lengths in bytes) -> options
 *     template set (3, field and scope counts), the scope fields becoming
 *     messageScope (263) of the same length;
 *   - element ids IPFIX would misread: above 32767 the enterprise bit;
 *     Cisco's ASA ids 40001-40004 are the IPFIX NAT elements 225-228, its
 *     event ids 40005 and 33002 libfixbuf's 9998 and 9997, other ids past
 *     346 libfixbuf's generic Cisco element 9999 (as libfixbuf's own v9
 *     translator does, so records decode the same);
 *   - fields of length 0 (Cisco's System scope) are left out: they hold no
 *     bytes, and an IPFIX template may not have them. An options template
 *     left with no scope field takes its first field as scope;
 *   - data flowsets are copied as they are.
 * The result is never longer than the datagram. What v9 allows and IPFIX
 * cannot say is refused here, counted as a decode error: a template of no
 * fields (in IPFIX a withdrawal), of zero length (nothing to divide a
 * flowset by), a field of variable length (65535) or of type 0.
 *
 * No socket and no libfixbuf v9 translator are involved: nothing another
 * process on the host could reach, and libfixbuf only ever sees what our
 * IPFIX check passed.
 */
#include "ingest/ingest_int.h"
#include "util/arena.h"

#include <string.h>

#define V9_HDR        20
#define IPFIX_HDR     16
#define MESSAGE_SCOPE 263

static inline void wr32(uint8_t *p, uint32_t v)
{
    wr16(p, (uint16_t)(v >> 16));
    wr16(p + 2, (uint16_t)v);
}

/* The IPFIX element of a v9 field type. */
static uint16_t v9_element(uint16_t type)
{
    if (type <= 346)
        return type;
    switch (type) {
    case 40001: return 225; /* postNATSourceIPv4Address */
    case 40002: return 226; /* postNATDestinationIPv4Address */
    case 40003: return 227; /* postNAPTSourceTransportPort */
    case 40004: return 228; /* postNAPTDestinationTransportPort */
    case 40005: return FB_CISCO_ASA_EVENT_ID;
    case 33002: return FB_CISCO_ASA_EVENT_XTRA;
    }
    return FB_CISCO_GENERIC;
}

/* Copy n (type, length) pairs from p to *o as IPFIX fields, the type
 * replaced by `as` unless 0, zero-length ones left out. Adds the fields
 * written to *kept and their length to *len. */
static const char *v9_fields(const uint8_t *p, uint32_t n, uint16_t as,
                             uint8_t **o, uint32_t *kept, uint32_t *len)
{
    for (uint32_t i = 0; i < n; i++, p += 4) {
        uint16_t type = rd16(p), flen = rd16(p + 2);
        if (type == 0)
            return "template field of type 0";
        if (flen == 65535)
            return "template field of variable length";
        if (flen == 0)
            continue;
        wr16(*o, as ? as : v9_element(type));
        wr16(*o + 2, flen);
        *o += 4;
        (*kept)++;
        *len += flen;
    }
    return NULL;
}

/* Template flowset body [p, end) to IPFIX template records at *o. */
static const char *v9_templates(const uint8_t *p, const uint8_t *end,
                                uint8_t **o)
{
    while (end - p >= 4) {
        uint16_t tid = rd16(p), fc = rd16(p + 2);
        p += 4;
        if (fc == 0)
            return "template with no fields";
        if ((size_t)(end - p) < (size_t)fc * 4)
            return "template field count exceeds its flowset";
        uint8_t *rec = *o;
        *o += 4;
        uint32_t kept = 0, len = 0;
        const char *why = v9_fields(p, fc, 0, o, &kept, &len);
        if (why)
            return why;
        if (kept == 0)
            return "template of zero length";
        wr16(rec, tid);
        wr16(rec + 2, (uint16_t)kept);
        p += (size_t)fc * 4;
    }
    return NULL; /* fewer than 4 bytes left: padding */
}

/* Options template flowset body to IPFIX options template records. */
static const char *v9_options(const uint8_t *p, const uint8_t *end,
                              uint8_t **o)
{
    while (end - p >= 6) {
        uint16_t tid = rd16(p), sl = rd16(p + 2), ol = rd16(p + 4);
        p += 6;
        if ((sl | ol) % 4 || sl + ol == 0)
            return "options template with bad lengths";
        if ((size_t)(end - p) < (size_t)sl + ol)
            return "options template exceeds its flowset";
        uint8_t *rec = *o;
        *o += 6;
        uint32_t scope = 0, kept = 0, len = 0;
        const char *why = v9_fields(p, sl / 4u, MESSAGE_SCOPE, o, &scope,
                                    &len);
        if (!why)
            why = v9_fields(p + sl, ol / 4u, 0, o, &kept, &len);
        if (why)
            return why;
        kept += scope;
        if (kept == 0)
            return "options template of zero length";
        wr16(rec, tid);
        wr16(rec + 2, (uint16_t)kept);
        wr16(rec + 4, (uint16_t)(scope ? scope : 1));
        p += (size_t)sl + ol;
    }
    return NULL;
}

/* The v9 datagram msg (len >= V9_HDR) as an IPFIX message in out (at
 * least len bytes); its length in *olen. NULL, or what is wrong. */
static const char *v9_to_ipfix(const uint8_t *msg, size_t len, uint8_t *out,
                               size_t *olen)
{
    wr16(out, 10);
    memcpy(out + 4, msg + 8, 4);   /* export seconds */
    memcpy(out + 8, msg + 12, 4);  /* sequence (v9's; not read) */
    memcpy(out + 12, msg + 16, 4); /* source id: observation domain */
    uint8_t *o = out + IPFIX_HDR;
    for (const uint8_t *p = msg + V9_HDR, *end = msg + len; p < end;) {
        if (end - p < 4)
            return "truncated flowset header";
        uint16_t fid = rd16(p), flen = rd16(p + 2);
        if (flen < 4)
            return "flowset length below 4";
        if (flen > end - p)
            return "flowset length overruns the datagram";
        const uint8_t *body = p + 4, *fend = p + flen;
        uint8_t *set = o;
        const char *why = NULL;
        if (fid == 0 || fid == 1) {
            o += 4;
            why = fid == 0 ? v9_templates(body, fend, &o)
                           : v9_options(body, fend, &o);
            wr16(set, fid == 0 ? 2 : 3);
            wr16(set + 2, (uint16_t)(o - set));
        } else if (fid >= 256) {
            memcpy(o, p, flen);
            o += flen;
        } else {
            why = "reserved flowset id";
        }
        if (why)
            return why;
        p = fend;
    }
    *olen = (size_t)(o - out);
    wr16(out + 2, (uint16_t)*olen);
    return NULL;
}

int nfv9_message(decoder_t *d, tsession_t *ts, const uint8_t *msg,
                 size_t len)
{
    uint32_t source = len >= V9_HDR ? rd32(msg + 16) : 0;
    tdomain_t *dom = tsession_domain(d, ts, source);
    stats_entry_t *st = dom ? dom->st : stats_get(d->stats, &ts->exporter, 0);
    stats_touch(st, INGEST_PROTO_V9, d->received_ms);
    const char *why = NULL;
    if (!dom)
        why = "exporter with too many source ids";
    else if (len < V9_HDR)
        why = "datagram shorter than the v9 header";
    else if (rd16(msg) != 9)
        why = "not NetFlow v9";
    if (why)
        goto bad;

    int64_t secs = rd32(msg + 8), uptime = rd32(msg + 4);
    d->export_ms = secs * 1000;
    d->uptime_base_ms = secs * 1000 > uptime ? secs * 1000 - uptime : 0;
    /* v9 numbers datagrams: a malformed one still arrived */
    seq_check(d, dom, rd32(msg + 12), 1, 1, 1);
    if (!d->v9msg)
        d->v9msg = xmalloc(65536);
    size_t olen = 0;
    why = v9_to_ipfix(msg, len, d->v9msg, &olen);
    if (!why &&
        ipfix_decode(d, ts, dom, d->v9msg, olen, len, 0, &why) == 0) {
        d->uptime_base_ms = 0;
        return 0;
    }
    d->uptime_base_ms = 0;

bad: {
    char a[IPADDR_STRLEN];
    ctr_inc(&st->decode_errors);
    log_limited(&d->lim_decode, LOG_WARN, "ingest",
                "malformed NetFlow v9 from %s source id %u (%zu bytes): %s",
                ipaddr_format(&ts->exporter, a, sizeof(a)), source, len, why);
    return -1;
}
}
