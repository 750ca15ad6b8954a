/*
 * decode.c - libfixbuf set-up and the mapping from wire records to the
 * normalized flow record.
 *
 * Every element flowsql reads is a field of one record, fixrec_t below: a
 * field the exporter did not send reads as 0. When a template arrives we
 * look at its elements once and keep what we learnt (tinfo_t) as the
 * template's context: which of our fields it carries, which timestamp
 * form to use, whether the record is a biflow, which counters it has. The
 * per-record code then only tests flags.
 *
 * libfixbuf's transcoding cost grows with the size of the internal
 * template, present fields or not (it zero-fills the missing ones one by
 * one): one internal template with all of our 62 fields halves its
 * throughput. So each external template gets an internal template of just
 * the fields it has (shared by every template with the same set, its id
 * derived from the set), libfixbuf fills that compact record, and a copy
 * plan spreads it into a zeroed fixrec_t.
 */
#include "ingest/ingest_int.h"
#include "util/arena.h"
#include "util/timeutil.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define PEN_REVERSE 29305

/* Every field we read from any record. */
typedef struct fixrec {
    uint64_t octets, packets, octets_total, packets_total;
    uint64_t post_octets, post_packets;
    uint64_t rev_octets, rev_packets, rev_octets_total, rev_packets_total;
    uint64_t start_ms, end_ms, start_us, end_us, start_ns, end_ns;
    uint64_t sys_init_ms, selector_id;
    uint8_t  src6[16], dst6[16], nh6[16];
    uint32_t src4, dst4, nh4, bgpnh4;
    uint32_t start_s, end_s, start_delta_us, end_delta_us;
    uint32_t start_up, end_up, dur_ms;
    uint32_t ingress, egress, ingress_phys, egress_phys, srcas, dstas;
    uint32_t sampling_interval, sampler_random_interval;
    uint32_t sampling_pkt_interval, sampling_pkt_space, sampler_id;
    uint16_t sport, dport, tcpflags, rev_tcpflags;
    uint16_t vlan, dot1q_vlan, icmp4, icmp6;
    uint8_t  proto, tos, rev_tos, srcmask, dstmask, srcmask6, dstmask6;
    uint8_t  direction, ipversion;
} fixrec_t;

typedef struct field {
    const char *name;     /* IANA / RFC 5103 name in libfixbuf's model */
    uint16_t    len;      /* bytes in fixrec_t (and in the internal record) */
    uint16_t    off;      /* offset in fixrec_t */
} field_t;

#define F(name, member) \
    {name, sizeof(((fixrec_t *)0)->member), offsetof(fixrec_t, member)}

static const field_t fields[] = {
    F("octetDeltaCount", octets),
    F("packetDeltaCount", packets),
    F("octetTotalCount", octets_total),
    F("packetTotalCount", packets_total),
    F("postOctetDeltaCount", post_octets),
    F("postPacketDeltaCount", post_packets),
    F("reverseOctetDeltaCount", rev_octets),
    F("reversePacketDeltaCount", rev_packets),
    F("reverseOctetTotalCount", rev_octets_total),
    F("reversePacketTotalCount", rev_packets_total),
    F("flowStartMilliseconds", start_ms),
    F("flowEndMilliseconds", end_ms),
    F("flowStartMicroseconds", start_us),
    F("flowEndMicroseconds", end_us),
    F("flowStartNanoseconds", start_ns),
    F("flowEndNanoseconds", end_ns),
    F("systemInitTimeMilliseconds", sys_init_ms),
    F("selectorId", selector_id),
    F("sourceIPv6Address", src6),
    F("destinationIPv6Address", dst6),
    F("ipNextHopIPv6Address", nh6),
    F("sourceIPv4Address", src4),
    F("destinationIPv4Address", dst4),
    F("ipNextHopIPv4Address", nh4),
    F("bgpNextHopIPv4Address", bgpnh4),
    F("flowStartSeconds", start_s),
    F("flowEndSeconds", end_s),
    F("flowStartDeltaMicroseconds", start_delta_us),
    F("flowEndDeltaMicroseconds", end_delta_us),
    F("flowStartSysUpTime", start_up),
    F("flowEndSysUpTime", end_up),
    F("flowDurationMilliseconds", dur_ms),
    F("ingressInterface", ingress),
    F("egressInterface", egress),
    F("ingressPhysicalInterface", ingress_phys),
    F("egressPhysicalInterface", egress_phys),
    F("bgpSourceAsNumber", srcas),
    F("bgpDestinationAsNumber", dstas),
    F("samplingInterval", sampling_interval),
    F("samplerRandomInterval", sampler_random_interval),
    F("samplingPacketInterval", sampling_pkt_interval),
    F("samplingPacketSpace", sampling_pkt_space),
    F("samplerId", sampler_id),
    F("sourceTransportPort", sport),
    F("destinationTransportPort", dport),
    F("tcpControlBits", tcpflags),
    F("reverseTcpControlBits", rev_tcpflags),
    F("vlanId", vlan),
    F("dot1qVlanId", dot1q_vlan),
    F("icmpTypeCodeIPv4", icmp4),
    F("icmpTypeCodeIPv6", icmp6),
    F("protocolIdentifier", proto),
    F("ipClassOfService", tos),
    F("reverseIpClassOfService", rev_tos),
    F("sourceIPv4PrefixLength", srcmask),
    F("destinationIPv4PrefixLength", dstmask),
    F("sourceIPv6PrefixLength", srcmask6),
    F("destinationIPv6PrefixLength", dstmask6),
    F("flowDirection", direction),
    F("ipVersion", ipversion),
};
#define NFIELDS (sizeof(fields) / sizeof(fields[0]))
_Static_assert(NFIELDS <= 64, "a template's field set is a 64-bit mask");

/* Cisco exports samplerId (48) in 2 or 4 bytes where IANA says 1: with
 * the IANA definition libfixbuf would mangle the value, so the element is
 * redefined as a 4-byte identifier. */
static fbInfoElement_t model_fixes[] = {
    FB_IE_INIT_FULL("samplerId", 0, 48, 4, FB_IE_F_ENDIAN | FB_IE_IDENTIFIER,
                    0, 0, FB_UINT_32, NULL),
    FB_IE_NULL};

/* ---- glib log messages from libfixbuf ---------------------------------- */

/* per thread: the receive thread and file reads (REST, --read) log apart */
static __thread log_limit_t glib_lim;

static void glib_log(const gchar *domain, GLogLevelFlags level,
                     const gchar *msg, gpointer ud)
{
    (void)domain;
    (void)ud;
    /* libfixbuf reports things we count ourselves (sequence gaps, missing
     * templates) at WARNING; keep them out of the way unless debugging. */
    enum log_level lvl = (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL))
                             ? LOG_WARN
                             : LOG_DEBUG;
    log_limited(&glib_lim, lvl, "ingest", "libfixbuf: %s", msg);
}

void decoder_route_glib_logs(void)
{
    g_log_set_default_handler(glib_log, NULL);
}

/* ---- templates ---------------------------------------------------------- */

static void tinfo_free(void *tmpl_ctx, void *app_ctx)
{
    (void)app_ctx;
    free(tmpl_ctx);
}

static void tinfo_time(uint8_t *slot, uint8_t form)
{
    if (*slot == TT_NONE || form < *slot)
        *slot = form;
}

static uint64_t template_mask(fbTemplate_t *t)
{
    uint64_t m = 0;
    for (size_t i = 0; i < NFIELDS; i++) {
        fbInfoElementSpec_t sp = {(char *)fields[i].name, 0, 0};
        if (fbTemplateContainsElementByName(t, &sp))
            m |= 1ULL << i;
    }
    return m;
}

/* A custom element (engine/xfield.h) a template carries: its name in the
 * model and its length in the template (FB_IE_VARLEN or 1..XF_STR_MAX). */
typedef struct xspec {
    const char *name;
    uint32_t    pen;
    uint16_t    id, len;
} xspec_t;

/* Whether internal template it holds exactly the fields of mask, then the
 * custom elements xs[nx] with their lengths. */
static int internal_matches(fbTemplate_t *it, uint64_t mask,
                            const xspec_t *xs, int nx)
{
    uint32_t nf = (uint32_t)__builtin_popcountll(mask);
    if (template_mask(it) != mask ||
        fbTemplateCountElements(it) != nf + (uint32_t)nx)
        return 0;
    for (int k = 0; k < nx; k++) {
        const fbInfoElement_t *ie = fbTemplateGetIndexedIE(it, nf + k);
        if (!ie || ie->ent != xs[k].pen || ie->num != xs[k].id ||
            ie->len != xs[k].len)
            return 0;
    }
    return 1;
}

/* The id of the session's internal template holding exactly the fields of
 * mask, then the custom elements xs[nx], created on first use. Ids come
 * from the set, so every template with the same fields shares one,
 * however often exporters resend them. 0 if libfixbuf refused. */
static uint16_t internal_tid(fbSession_t *session, uint64_t mask,
                             const xspec_t *xs, int nx)
{
    GError *gerr = NULL;
    uint64_t h = mask * 0x9e3779b97f4a7c15ULL;
    for (int k = 0; k < nx; k++)
        h = (h ^ ((uint64_t)xs[k].pen << 32 | (uint64_t)xs[k].id << 16 |
                  xs[k].len)) * 0x9e3779b97f4a7c15ULL;
    uint16_t tid = (uint16_t)(256 + (h >> 32) % 65000);
    for (int probe = 0; probe < 64; probe++) {
        fbTemplate_t *it = fbSessionGetTemplate(session, TRUE, tid, &gerr);
        g_clear_error(&gerr);
        if (!it) {
            fbInfoElementSpec_t spec[NFIELDS + XF_NSLOTS + 1];
            size_t n = 0;
            for (size_t i = 0; i < NFIELDS; i++)
                if (mask & (1ULL << i))
                    spec[n++] = (fbInfoElementSpec_t){
                        (char *)fields[i].name, fields[i].len, 0};
            for (int k = 0; k < nx; k++)
                spec[n++] = (fbInfoElementSpec_t){(char *)xs[k].name,
                                                  xs[k].len, 0};
            spec[n] = (fbInfoElementSpec_t)FB_IESPEC_NULL;
            fbTemplate_t *t = fbTemplateAlloc(fbSessionGetInfoModel(session));
            if (!fbTemplateAppendSpecArray(t, spec, 0, &gerr) ||
                !fbSessionAddTemplate(session, TRUE, tid, t, &gerr)) {
                log_warn("ingest", "libfixbuf internal template: %s",
                         gerr ? gerr->message : "?");
                g_clear_error(&gerr);
                fbTemplateFreeUnused(t);
                return 0;
            }
            return tid;
        }
        if (internal_matches(it, mask, xs, nx))
            return tid;
        tid = tid == 65535 ? 256 : tid + 1;
    }
    return 0;
}

/* Note element (ent, num) sent at length len in ti's custom plan if a
 * definition names it (the first time the template carries it, at a
 * length we can read): its index in ti->xplan, else -1. */
static int template_custom(decoder_t *d, uint32_t ent, uint16_t num,
                           uint16_t len, tinfo_t *ti, xspec_t *xs)
{
    for (int i = 0; i < xf_ndefs; i++) {
        const xfdef_t *def = &xf_defs[i];
        if (def->pen != ent || def->id != num || !d->xname[def->slot])
            continue;
        for (int k = 0; k < ti->nx; k++)
            if (ti->xplan[k].slot == def->slot)
                return -1;
        if (len != FB_IE_VARLEN && (len == 0 || len > XF_STR_MAX))
            return -1;
        const fbInfoElement_t *canon =
            fbInfoModelGetElementByID(d->model, num, ent);
        if (!canon || (canon->len != FB_IE_VARLEN && canon->len != len))
            return -1; /* a fixed-size IANA element sent at another size */
        int k = ti->nx++;
        ti->xplan[k].slot = def->slot;
        ti->xplan[k].type = def->type;
        ti->xplan[k].host_order = (canon->flags & FB_IE_F_ENDIAN) != 0;
        ti->xplan[k].len = len;
        xs[k] = (xspec_t){d->xname[def->slot], def->pen, def->id, len};
        return k;
    }
    return -1;
}

/* What element (ent, num) tells about a template: ti's flags. */
static void tinfo_note(tinfo_t *ti, uint32_t ent, uint16_t num)
{
    if (ent == PEN_REVERSE) {
        switch (num) {
        case 1: ti->rev_octets = 1; break;
        case 2: ti->rev_packets = 1; break;
        case 85: if (!ti->rev_octets) ti->rev_octets = 2; break;
        case 86: if (!ti->rev_packets) ti->rev_packets = 2; break;
        case 6: ti->has_rev_flags = 1; break;
        case 5: ti->has_rev_tos = 1; break;
        }
        return;
    }
    if (ent != 0)
        return;
    switch (num) {
    case 1: ti->octets = 1; break;
    case 2: ti->packets = 1; break;
    case 85: if (!ti->octets || ti->octets == 3) ti->octets = 2; break;
    case 86: if (!ti->packets || ti->packets == 3) ti->packets = 2; break;
    case 23: if (!ti->octets) ti->octets = 3; break;
    case 24: if (!ti->packets) ti->packets = 3; break;
    case 152: tinfo_time(&ti->tstart, TT_MS); break;
    case 153: tinfo_time(&ti->tend, TT_MS); break;
    case 154: tinfo_time(&ti->tstart, TT_US); break;
    case 155: tinfo_time(&ti->tend, TT_US); break;
    case 156: tinfo_time(&ti->tstart, TT_NS); break;
    case 157: tinfo_time(&ti->tend, TT_NS); break;
    case 150: tinfo_time(&ti->tstart, TT_S); break;
    case 151: tinfo_time(&ti->tend, TT_S); break;
    case 158: tinfo_time(&ti->tstart, TT_DELTA_US); break;
    case 159: tinfo_time(&ti->tend, TT_DELTA_US); break;
    case 22: tinfo_time(&ti->tstart, TT_UPTIME); break;
    case 21: tinfo_time(&ti->tend, TT_UPTIME); break;
    case 161: ti->has_dur = 1; break;
    case 160: ti->has_sysinit = 1; break;
    case 8: case 12: ti->has_v4 = 1; break;
    case 27: case 28: ti->has_v6 = 1; break;
    case 58: ti->vlan = 1; break;
    case 243: if (!ti->vlan) ti->vlan = 2; break;
    case 32: ti->icmp = 1; break;
    case 139: ti->icmp = 2; break;
    case 34: case 50: case 305: case 306: ti->sampling = 1; break;
    case 48: case 302: ti->has_sampler_id = 1; break;
    }
}

static void template_arrived(fbSession_t *session, uint16_t tid,
                             fbTemplate_t *tmpl, void *app_ctx,
                             void **tmpl_ctx, fbTemplateCtxFree_fn *free_fn)
{
    (void)tid;
    decoder_t *d = app_ctx;
    tinfo_t *ti = xcalloc(1, sizeof(*ti));
    xspec_t xs[XF_NSLOTS];
    ti->kind = fbTemplateGetOptionsScope(tmpl) ? TK_OPTIONS : TK_FLOW;
    uint32_t n = fbTemplateCountElements(tmpl);
    for (uint32_t i = 0; i < n; i++) {
        const fbInfoElement_t *ie = fbTemplateGetIndexedIE(tmpl, i);
        if (!ie)
            continue;
        if (d && ti->nx < XF_NSLOTS)
            template_custom(d, ie->ent, ie->num, ie->len, ti, xs);
        tinfo_note(ti, ie->ent, ie->num);
    }
    ti->biflow = ti->rev_octets || ti->rev_packets;

    /* the compact internal record and how to spread it into fixrec_t */
    uint64_t mask = template_mask(tmpl);
    uint16_t src = 0;
    for (size_t i = 0; i < NFIELDS; i++)
        if (mask & (1ULL << i)) {
            ti->plan[ti->nplan].src = src;
            ti->plan[ti->nplan].dst = fields[i].off;
            ti->plan[ti->nplan].len = fields[i].len;
            ti->nplan++;
            src = (uint16_t)(src + fields[i].len);
        }
    /* a template with none of our fields still needs an internal one to
     * be read past: one absent field will do */
    for (int k = 0; k < ti->nx; k++) {
        ti->xplan[k].src = src;
        src = (uint16_t)(src + (xs[k].len == FB_IE_VARLEN
                                    ? sizeof(fbVarfield_t)
                                    : xs[k].len));
    }
    ti->int_tid = internal_tid(session, mask || ti->nx ? mask : 1, xs,
                               ti->nx);
    *tmpl_ctx = ti;
    *free_fn = tinfo_free;
}

/* ---- set-up --------------------------------------------------------------- */

void decoder_init(decoder_t *d, sink_t *sink, stats_table_t *stats)
{
    memset(d, 0, sizeof(*d));
    d->model = fbInfoModelAlloc();
    fbInfoModelAddElementArray(d->model, model_fixes);
    /* custom elements the model does not know: raw octets, any length */
    for (int i = 0; i < xf_ndefs; i++) {
        const xfdef_t *def = &xf_defs[i];
        const fbInfoElement_t *ie =
            fbInfoModelGetElementByID(d->model, def->id, def->pen);
        if (!ie) {
            char name[XF_NAMELEN + 16];
            snprintf(name, sizeof(name), "flowsql_%.*s", XF_NAMELEN - 1, def->name);
            fbInfoElement_t add[2] = {
                FB_IE_INIT_FULL(name, def->pen, def->id, FB_IE_VARLEN, 0, 0,
                                0, FB_OCTET_ARRAY, NULL),
                FB_IE_NULL};
            fbInfoModelAddElementArray(d->model, add);
            ie = fbInfoModelGetElementByID(d->model, def->id, def->pen);
        }
        d->xname[def->slot] = ie ? ie->ref.name : NULL;
    }
    /* our fields as the model has them, for compiled templates */
    for (size_t i = 0; i < NFIELDS; i++) {
        const fbInfoElement_t *ie =
            fbInfoModelGetElementByName(d->model, fields[i].name);
        if (!ie)
            continue;
        d->fid[i].ent = ie->ent;
        d->fid[i].num = ie->num;
        d->fid[i].endian = (ie->flags & FB_IE_F_ENDIAN) != 0;
        d->fid[i].known = 1;
    }
    d->sink = sink;
    d->stats = stats;
}

void decoder_destroy(decoder_t *d)
{
    if (d->model)
        fbInfoModelFree(d->model);
    d->model = NULL;
    free(d->v9msg);
    d->v9msg = NULL;
}

fbSession_t *decoder_session_new(decoder_t *d)
{
    fbSession_t *s = fbSessionAlloc(d->model);
    fbSessionAddNewTemplateCallback(s, template_arrived, d);
    return s;
}

void decoder_fbuf_ready(fBuf_t *fb)
{
    fBufSetAutomaticMode(fb, FALSE);
}

fBuf_t *decoder_fbuf_new(decoder_t *d)
{
    fBuf_t *fb = fBufAllocForCollection(decoder_session_new(d), NULL);
    decoder_fbuf_ready(fb);
    return fb;
}

/* ---- records -------------------------------------------------------------- */

/* NTP timestamp (RFC 5905: seconds since 1900 . 2^-32 fraction) to ms. */
static int64_t ntp_ms(uint64_t ntp)
{
    int64_t sec = (int64_t)(ntp >> 32) - 2208988800LL;
    return sec * 1000 + (int64_t)(((ntp & 0xffffffffULL) * 1000) >> 32);
}

#define UPTIME_WRAP 4294967296LL

/* Millisecond values from the wire, bounded so that the arithmetic on
 * them cannot overflow whatever a broken exporter sends (2^53 ms is past
 * the year 285000). */
static inline int64_t wire_ms(uint64_t v)
{
    return v < (1ULL << 53) ? (int64_t)v : 0;
}

static int64_t rec_time(decoder_t *d, const fixrec_t *r, int form, int end,
                        int64_t base)
{
    switch (form) {
    case TT_MS: return wire_ms(end ? r->end_ms : r->start_ms);
    case TT_US: return ntp_ms(end ? r->end_us : r->start_us);
    case TT_NS: return ntp_ms(end ? r->end_ns : r->start_ns);
    case TT_S: return (int64_t)(end ? r->end_s : r->start_s) * 1000;
    case TT_DELTA_US:
        return d->export_ms -
               (int64_t)(end ? r->end_delta_us : r->start_delta_us) / 1000;
    case TT_UPTIME: {
        if (base <= 0)
            return INT64_MIN;
        int64_t t = base + (int64_t)(end ? r->end_up : r->start_up);
        /* A flow cannot end after its export: the uptime counter wrapped
         * (after 49.7 days) between the flow and the base. */
        if (d->export_ms > 0 && t > d->export_ms + 60000)
            t -= UPTIME_WRAP;
        return t;
    }
    }
    return INT64_MIN;
}

static int64_t sampling_of(const fixrec_t *r)
{
    if (r->sampling_interval)
        return r->sampling_interval;
    if (r->sampler_random_interval)
        return r->sampler_random_interval;
    if (r->sampling_pkt_interval)
        return ((int64_t)r->sampling_pkt_interval + r->sampling_pkt_space) /
               r->sampling_pkt_interval;
    return 0;
}

static void options_record(decoder_t *d, const tinfo_t *ti,
                           const fixrec_t *r)
{
    tdomain_t *dom = d->dom;
    if (!dom)
        return;
    if (ti->has_sysinit && r->sys_init_ms)
        dom->sys_init_ms = wire_ms(r->sys_init_ms);
    int64_t s = sampling_of(r);
    if (!ti->sampling || s <= 0)
        return;
    dom->default_sampling = s;
    if (!ti->has_sampler_id)
        return;
    uint64_t id = r->sampler_id ? r->sampler_id : r->selector_id;
    for (int i = 0; i < dom->nsamplers; i++)
        if (dom->samplers[i].id == id) {
            dom->samplers[i].interval = s;
            return;
        }
    int i = dom->nsamplers < DOM_MAX_SAMPLERS ? dom->nsamplers++
                                              : DOM_MAX_SAMPLERS - 1;
    dom->samplers[i].id = id;
    dom->samplers[i].interval = s;
}

static int64_t dom_sampling(const tdomain_t *dom, const tinfo_t *ti,
                            const fixrec_t *r)
{
    if (!dom)
        return 0;
    if (ti->has_sampler_id && dom->nsamplers) {
        uint64_t id = r->sampler_id ? r->sampler_id : r->selector_id;
        for (int i = 0; i < dom->nsamplers; i++)
            if (dom->samplers[i].id == id)
                return dom->samplers[i].interval;
    }
    return dom->default_sampling;
}

static inline ipaddr_t v6addr(const uint8_t *a)
{
    ipaddr_t ip;
    memcpy(ip.a, a, 16);
    return ip;
}

/* A custom element's value in one record: its octets (wire order, or
 * host order where libfixbuf converted an integer) and their number. */
typedef struct xval {
    const uint8_t *p;
    size_t         n;
} xval_t;

/* Row i's custom slots of want that ti carries, from xv[k] for each of
 * ti's custom elements k (host_order: libfixbuf converted the integers);
 * the batch's other wanted slots are made zero first. */
static void custom_record(flow_batch_t *b, int i, uint32_t want,
                          const tinfo_t *ti, const xval_t *xv,
                          int host_order)
{
    if (want & ~b->xfilled)
        xfield_fill(b, want, i + 1);
    for (int k = 0; k < ti->nx; k++) {
        int slot = ti->xplan[k].slot;
        if (!(want >> slot & 1))
            continue;
        const uint8_t *p = xv[k].p;
        size_t n = xv[k].n;
        int type = ti->xplan[k].type;
        if (slot < XF_NINT)
            b->xint[slot][i] = xfield_int(type, p, n,
                                          host_order && ti->xplan[k].host_order);
        else if (slot < XF_NINT + XF_NSTR)
            b->xstr[slot - XF_NINT][i] = xfield_intern(type, p, n);
        else if (n == 4)
            b->xip[slot - XF_NINT - XF_NSTR][i] =
                ipaddr_from_v4((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
                               (uint32_t)p[2] << 8 | p[3]);
        else if (n == 16)
            memcpy(b->xip[slot - XF_NINT - XF_NSTR][i].a, p, 16);
    }
}

/* Row j of b as a copy of row i's custom slots (the reverse half of a
 * biflow). */
static void custom_copy(flow_batch_t *b, int j, int i)
{
    for (uint32_t m = b->xfilled; m; m &= m - 1) {
        int k = __builtin_ctz(m);
        if (k < XF_NINT)
            b->xint[k][j] = b->xint[k][i];
        else if (k < XF_NINT + XF_NSTR)
            b->xstr[k - XF_NINT][j] = b->xstr[k - XF_NINT][i];
        else
            b->xip[k - XF_NINT - XF_NSTR][j] = b->xip[k - XF_NINT - XF_NSTR][i];
    }
}

static void flow_record(decoder_t *d, const tinfo_t *ti, const fixrec_t *r,
                        const xval_t *xv, int host_order, uint32_t want)
{
    tdomain_t *dom = d->dom;
    sink_t *s = d->sink;

    /* times: uptimes count from the record's systemInitTimeMilliseconds,
     * else a NetFlow v9 header's, else the domain's options records' */
    int64_t base = ti->has_sysinit && r->sys_init_ms ? wire_ms(r->sys_init_ms)
                   : d->uptime_base_ms > 0           ? d->uptime_base_ms
                   : dom                             ? dom->sys_init_ms
                                                     : 0;
    int64_t start = rec_time(d, r, ti->tstart, 0, base);
    int64_t end = rec_time(d, r, ti->tend, 1, base);
    if (start == INT64_MIN && end == INT64_MIN) {
        start = end = d->export_ms;
    } else if (end == INT64_MIN) {
        end = ti->has_dur ? start + r->dur_ms : start;
    } else if (start == INT64_MIN) {
        start = ti->has_dur ? end - r->dur_ms : end;
    }

    int64_t octets = ti->octets == 1   ? (int64_t)r->octets
                     : ti->octets == 2 ? (int64_t)r->octets_total
                                       : (int64_t)r->post_octets;
    int64_t packets = ti->packets == 1   ? (int64_t)r->packets
                      : ti->packets == 2 ? (int64_t)r->packets_total
                                         : (int64_t)r->post_packets;
    int64_t sampling = sampling_of(r);
    if (!sampling)
        sampling = dom_sampling(dom, ti, r);

    ipaddr_t src, dst, nh;
    int v6 = ti->has_v6 && !(ti->has_v4 && (r->src4 || r->dst4));
    if (v6) {
        src = v6addr(r->src6);
        dst = v6addr(r->dst6);
    } else {
        src = ipaddr_from_v4(r->src4);
        dst = ipaddr_from_v4(r->dst4);
    }
    static const uint8_t zero16[16];
    if (r->nh4 || r->bgpnh4)
        nh = ipaddr_from_v4(r->nh4 ? r->nh4 : r->bgpnh4);
    else if (memcmp(r->nh6, zero16, 16) != 0)
        nh = v6addr(r->nh6);
    else
        nh = (ipaddr_t){{0}};

    int64_t dport = r->dport;
    if (!dport && ti->icmp && (r->proto == 1 || r->proto == 58))
        dport = ti->icmp == 1 ? r->icmp4 : r->icmp6;
    int64_t vlan = ti->vlan == 2 ? r->dot1q_vlan : r->vlan;
    int64_t srcmask = v6 ? r->srcmask6 : r->srcmask;
    int64_t dstmask = v6 ? r->dstmask6 : r->dstmask;
    int64_t ingress = r->ingress ? r->ingress : r->ingress_phys;
    int64_t egress = r->egress ? r->egress : r->egress_phys;
    int64_t received = d->replay ? d->export_ms : d->received_ms;
    const ipaddr_t *exporter = &d->ts->exporter;
    int64_t domain = dom ? dom->domain : 0;

    /* RFC 5103 biflow: each direction that carried anything is a record
     * of its own (the reverse one with the endpoints swapped). */
    int64_t roctets = 0, rpackets = 0;
    if (ti->biflow) {
        roctets = ti->rev_octets == 1 ? (int64_t)r->rev_octets
                                      : (int64_t)r->rev_octets_total;
        rpackets = ti->rev_packets == 1 ? (int64_t)r->rev_packets
                                        : (int64_t)r->rev_packets_total;
    }
    int forward = !ti->biflow || octets || packets || (!roctets && !rpackets);
    int i = forward ? sink_slot(s) : -2;
    if (i == -1 && dom)
        ctr_inc(&dom->st->queue_drops);
    if (i >= 0) {
        flow_batch_t *b = s->cur;
        b->srcip[i] = src;
        b->dstip[i] = dst;
        b->nexthop[i] = nh;
        b->exporter[i] = *exporter;
        b->start[i] = start;
        b->end[i] = end;
        b->received[i] = received;
        b->packets[i] = packets;
        b->bytes[i] = octets;
        b->srcport[i] = r->sport;
        b->dstport[i] = dport;
        b->proto[i] = r->proto;
        b->tcpflags[i] = r->tcpflags & 0xff;
        b->tos[i] = r->tos;
        b->ingress[i] = ingress;
        b->egress[i] = egress;
        b->srcas[i] = r->srcas;
        b->dstas[i] = r->dstas;
        b->srcmask[i] = srcmask;
        b->dstmask[i] = dstmask;
        b->vlan[i] = vlan;
        b->direction[i] = r->direction;
        b->sampling[i] = sampling;
        b->domain[i] = domain;
        if (want)
            custom_record(b, i, want, ti, xv, host_order);
        d->records++;
    }
    if (!ti->biflow || (roctets == 0 && rpackets == 0))
        return;
    int fwd = i;
    flow_batch_t *fb = s->cur;
    i = sink_slot(s);
    if (i < 0) {
        if (dom)
            ctr_inc(&dom->st->queue_drops);
        return;
    }
    flow_batch_t *b = s->cur;
    b->srcip[i] = dst;
    b->dstip[i] = src;
    b->nexthop[i] = (ipaddr_t){{0}};
    b->exporter[i] = *exporter;
    b->start[i] = start;
    b->end[i] = end;
    b->received[i] = received;
    b->packets[i] = rpackets;
    b->bytes[i] = roctets;
    b->srcport[i] = dport == r->dport ? r->dport : 0;
    b->dstport[i] = dport == r->dport ? r->sport : dport;
    b->proto[i] = r->proto;
    b->tcpflags[i] = ti->has_rev_flags ? (r->rev_tcpflags & 0xff) : 0;
    b->tos[i] = ti->has_rev_tos ? r->rev_tos : r->tos;
    b->ingress[i] = egress;
    b->egress[i] = ingress;
    b->srcas[i] = r->dstas;
    b->dstas[i] = r->srcas;
    b->srcmask[i] = dstmask;
    b->dstmask[i] = srcmask;
    b->vlan[i] = vlan;
    b->direction[i] = r->direction;
    b->sampling[i] = sampling;
    b->domain[i] = domain;
    if (want) {
        if (fwd >= 0 && b == fb)
            custom_copy(b, i, fwd);
        else
            custom_record(b, i, want, ti, xv, host_order);
    }
    d->records++;
}

static int fixbuf_done(decoder_t *d, GError **gerr)
{
    if (!g_error_matches(*gerr, FB_ERROR_DOMAIN, FB_ERROR_EOM) &&
        !g_error_matches(*gerr, FB_ERROR_DOMAIN, FB_ERROR_BUFSZ) &&
        !g_error_matches(*gerr, FB_ERROR_DOMAIN, FB_ERROR_EOF))
        log_limited(&d->lim_fixbuf, LOG_DEBUG, "ingest", "libfixbuf: %s",
                    (*gerr)->message);
    g_clear_error(gerr);
    return 1;
}

uint64_t decoder_drain(decoder_t *d, fBuf_t *fbuf, uint16_t *int_tid)
{
    GError *gerr = NULL;
    uint64_t flows = 0;
    uint8_t raw[sizeof(fixrec_t) + XF_NSLOTS * (XF_STR_MAX + 1)];
    fixrec_t r;
    uint32_t want = xfield_wanted();
    uint16_t cur = *int_tid;
    for (;;) {
        uint16_t etid;
        fbTemplate_t *t = fBufNextCollectionTemplate(fbuf, &etid, &gerr);
        if (!t && fixbuf_done(d, &gerr))
            break;
        const tinfo_t *ti = fbTemplateGetContext(t);
        if (!ti || !ti->int_tid) {
            log_limited(&d->lim_fixbuf, LOG_WARN, "ingest",
                        "template %u cannot be read; rest of the message "
                        "skipped", etid);
            break;
        }
        if (ti->int_tid != cur) {
            if (!fBufSetInternalTemplate(fbuf, ti->int_tid, &gerr)) {
                fixbuf_done(d, &gerr);
                cur = 0;
                break;
            }
            cur = ti->int_tid;
        }
        size_t len = sizeof(raw);
        if (!fBufNext(fbuf, raw, &len, &gerr) && fixbuf_done(d, &gerr))
            break;
        memset(&r, 0, sizeof(r));
        for (uint16_t k = 0; k < ti->nplan; k++) {
            uint8_t *to = (uint8_t *)&r + ti->plan[k].dst;
            const uint8_t *from = raw + ti->plan[k].src;
            switch (ti->plan[k].len) { /* fixed sizes: inlined copies */
            case 1: *to = *from; break;
            case 2: memcpy(to, from, 2); break;
            case 4: memcpy(to, from, 4); break;
            case 8: memcpy(to, from, 8); break;
            default: memcpy(to, from, 16); break;
            }
        }
        if (!d->ts)
            continue; /* no session: the message is read and discarded */
        if (ti->kind == TK_OPTIONS) {
            options_record(d, ti, &r);
            continue;
        }
        xval_t xv[XF_NSLOTS];
        if (want)
            for (int k = 0; k < ti->nx; k++) {
                const uint8_t *p = raw + ti->xplan[k].src;
                size_t n = ti->xplan[k].len;
                if (n == XF_VARLEN) {
                    fbVarfield_t v;
                    memcpy(&v, p, sizeof(v));
                    p = v.buf;
                    n = v.len;
                }
                xv[k] = (xval_t){p, n};
            }
        flow_record(d, ti, &r, xv, 1, want);
        flows++;
    }
    *int_tid = cur;
    return flows;
}


/* ---- records read in place ------------------------------------------------ */

/*
 * libfixbuf's transcoder copies each record into an internal template's
 * layout field by field, through a plan looked up per record; on the
 * receive thread that was 41% of the time (docs/PERFORMANCE.md). For a
 * template whose fields we can all read the way libfixbuf would, we
 * compile a program once (decoder_compile) and run it straight over the
 * message's bytes (decoder_run): per field of ours, where it is, how long
 * it is on the wire, and where it goes in fixrec_t. libfixbuf still owns
 * the templates (every template set goes through it) and reads what we
 * do not compile.
 *
 * The conversions are libfixbuf's own: an integer (an element the model
 * flags FB_IE_F_ENDIAN) is read big-endian and kept to the width of our
 * field (reduced-length encoding zero-extends, a longer one keeps the
 * low-order octets); octets (IPv6 addresses) are copied, cut or
 * zero-filled to our width. A field of ours that occurs twice is read
 * from its first occurrence, as libfixbuf matches it.
 */
enum { OP_SKIP, OP_U8, OP_BE16, OP_BE32, OP_BE64, OP_INT, OP_OCTETS, OP_X };

typedef struct top {
    uint8_t  kind;      /* OP_* */
    uint8_t  dlen;      /* bytes of the field in fixrec_t */
    uint16_t dst;       /* its offset in fixrec_t; OP_X: the custom index */
    uint16_t wlen;      /* length on the wire, FB_IE_VARLEN: variable */
    uint16_t off;       /* offset in the record (fixed-length templates) */
} top_t;

struct tprog {
    tinfo_t  ti;        /* the template's flags, as template_arrived sets */
    uint8_t  var;       /* a variable-length field: walk every field */
    uint16_t nops;
    uint32_t reclen;    /* fixed: a record's length; var: the least one */
    top_t    ops[];     /* fixed: the fields we read; var: all of them */
};

tprog_t *decoder_compile(decoder_t *d, const uint8_t *spec, uint32_t spec_len,
                         uint16_t nfields, int options)
{
    tprog_t *pg = xcalloc(1, sizeof(*pg) + (size_t)nfields * sizeof(top_t));
    tinfo_t *ti = &pg->ti;
    xspec_t xs[XF_NSLOTS];
    uint64_t mask = 0;
    uint32_t fixed = 0, nvar = 0;
    const uint8_t *p = spec, *end = spec + spec_len;
    ti->kind = options ? TK_OPTIONS : TK_FLOW;
    for (uint16_t i = 0; i < nfields; i++) {
        if (end - p < 4)
            goto libfixbuf;
        uint16_t id = rd16(p), len = rd16(p + 2);
        uint32_t ent = 0;
        p += 4;
        if (id & 0x8000) {
            if (end - p < 4)
                goto libfixbuf;
            ent = rd32(p);
            p += 4;
        }
        uint16_t num = id & 0x7fff;
        top_t op = {OP_SKIP, 0, 0, len, (uint16_t)fixed};
        int k = ti->nx < XF_NSLOTS ? template_custom(d, ent, num, len, ti, xs)
                                   : -1;
        if (k >= 0) {
            /* libfixbuf hands integers over in host order: only integer
             * slots know to read them back (xfield_int) */
            if (ti->xplan[k].host_order && len > 1 &&
                ti->xplan[k].slot >= XF_NINT)
                goto libfixbuf;
            op.kind = OP_X;
            op.dst = (uint16_t)k;
        }
        tinfo_note(ti, ent, num);
        for (size_t j = 0; j < NFIELDS; j++) {
            const fieldid_t *f = &d->fid[j];
            if (!f->known || f->ent != ent || f->num != num)
                continue;
            if (mask & (1ULL << j))
                break; /* read from its first occurrence */
            if (k >= 0 || len == FB_IE_VARLEN)
                goto libfixbuf;
            mask |= 1ULL << j;
            op.dst = fields[j].off;
            op.dlen = (uint8_t)fields[j].len;
            if (!f->endian)
                op.kind = OP_OCTETS;
            else if (len != op.dlen)
                op.kind = OP_INT;
            else
                op.kind = len == 1 ? OP_U8 : len == 2 ? OP_BE16
                        : len == 4 ? OP_BE32 : len == 8 ? OP_BE64 : OP_INT;
            break;
        }
        if (len == FB_IE_VARLEN)
            nvar++;
        else
            fixed += len;
        if (fixed > 65535)
            goto libfixbuf;
        pg->ops[pg->nops++] = op;
    }
    ti->biflow = ti->rev_octets || ti->rev_packets;
    if (!nvar) { /* fixed offsets: only the fields we read */
        uint16_t n = 0;
        for (uint16_t i = 0; i < pg->nops; i++)
            if (pg->ops[i].kind != OP_SKIP)
                pg->ops[n++] = pg->ops[i];
        pg->nops = n;
    }
    pg->var = nvar > 0;
    pg->reclen = fixed + nvar;
    if (fixed + nvar == 0)
        goto libfixbuf;
    return pg;

libfixbuf:
    free(pg);
    return NULL;
}

/* One field of a record at p, wl octets on the wire, into r (or xv). */
static inline void op_read(fixrec_t *r, xval_t *xv, const top_t *op,
                           const uint8_t *p, size_t wl)
{
    uint8_t *to = (uint8_t *)r + op->dst;
    switch (op->kind) {
    case OP_U8:
        *to = *p;
        break;
    case OP_BE16: {
        uint16_t v = rd16(p);
        memcpy(to, &v, 2);
        break;
    }
    case OP_BE32: {
        uint32_t v = rd32(p);
        memcpy(to, &v, 4);
        break;
    }
    case OP_BE64: {
        uint64_t v = (uint64_t)rd32(p) << 32 | rd32(p + 4);
        memcpy(to, &v, 8);
        break;
    }
    case OP_INT: {
        uint64_t v = 0;
        if (wl > op->dlen) { /* the low-order octets */
            p += wl - op->dlen;
            wl = op->dlen;
        }
        for (size_t i = 0; i < wl; i++)
            v = v << 8 | p[i];
        switch (op->dlen) {
        case 1: *to = (uint8_t)v; break;
        case 2: { uint16_t w = (uint16_t)v; memcpy(to, &w, 2); break; }
        case 4: { uint32_t w = (uint32_t)v; memcpy(to, &w, 4); break; }
        default: memcpy(to, &v, 8); break;
        }
        break;
    }
    case OP_OCTETS: /* r was zeroed: a shorter value leaves zeros */
        memcpy(to, p, wl < op->dlen ? wl : op->dlen);
        break;
    case OP_X:
        xv[op->dst] = (xval_t){p, wl};
        break;
    }
}

uint64_t decoder_run(decoder_t *d, const tprog_t *pg, const uint8_t *p,
                     const uint8_t *end)
{
    const tinfo_t *ti = &pg->ti;
    uint32_t want = ti->kind == TK_FLOW ? xfield_wanted() : 0;
    uint64_t flows = 0;
    fixrec_t r;
    xval_t xv[XF_NSLOTS];
    /* zeroed once: every record writes the same fields, whole (a shorter
     * octets value leaves the same tail of zeros each time) */
    memset(&r, 0, sizeof(r));
    while ((size_t)(end - p) >= pg->reclen) {
        if (!pg->var) {
            for (uint16_t k = 0; k < pg->nops; k++)
                op_read(&r, xv, &pg->ops[k], p + pg->ops[k].off,
                        pg->ops[k].wlen);
            p += pg->reclen;
        } else {
            /* ipfix_check walked these lengths already: the tests here
             * only keep a broken caller inside the set */
            for (uint16_t k = 0; k < pg->nops; k++) {
                size_t wl = pg->ops[k].wlen;
                if (wl == FB_IE_VARLEN) {
                    if (end - p < 1)
                        return flows;
                    wl = *p++;
                    if (wl == 255) {
                        if (end - p < 2)
                            return flows;
                        wl = rd16(p);
                        p += 2;
                    }
                }
                if ((size_t)(end - p) < wl)
                    return flows;
                op_read(&r, xv, &pg->ops[k], p, wl);
                p += wl;
            }
        }
        if (ti->kind == TK_OPTIONS) {
            options_record(d, ti, &r);
        } else {
            flow_record(d, ti, &r, xv, 0, want);
            flows++;
        }
    }
    return flows;
}
