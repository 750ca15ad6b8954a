/*
 * ipfix.c - IPFIX messages: our structural check, then libfixbuf.
 *
 * The check walks every set of the message before libfixbuf sees it:
 * lengths must add up, template records must be well formed (no zero
 * lengths, no field count the set cannot hold, at most MAX_FIELDS), and
 * data sets are matched against a mirror of the templates this session
 * and domain announced so far, which also tells how many records each
 * carries (for the sequence-number check) and which data sets arrive
 * before their template. A message that fails any of this is rejected
 * whole and counted; libfixbuf never sees it. Template changes in a
 * message take effect in the mirror only when the whole message passes,
 * so the mirror and libfixbuf's template table stay in step.
 */
#include "ingest/ingest_int.h"
#include "util/arena.h"

#include <stdlib.h>
#include <string.h>

#define MAX_FIELDS 1024          /* per template: more is absurd */
#define MAX_PENDING 512          /* template records in one message */

typedef struct pending {
    vtmpl_t t;
    uint8_t withdraw;            /* 1: withdraw t.tid; 2: all data,
                                    3: all options templates */
} pending_t;

typedef struct check {
    pending_t *p;
    int        n;
    const char *why;
} check_t;

/* One pending array per thread, made when a first template set shows up
 * (most messages carry none): no allocation per message. */
static __thread pending_t *pending_store;

void ipfix_thread_done(void)
{
    free(pending_store);
    pending_store = NULL;
}

/* Free what a parsed template owns (not the template itself). */
static void vtmpl_drop(vtmpl_t *t)
{
    free(t->lens);
    free(t->spec);
    t->lens = NULL;
    t->spec = NULL;
}

static void pending_free(check_t *c)
{
    for (int i = 0; i < c->n; i++)
        vtmpl_drop(&c->p[i].t);
    c->n = 0;
}

/* Read records in place (ingest_set_ipfix_fast); how many were. */
static flag_t    fast_off;
static counter_t in_place;

uint64_t ingest_ipfix_in_place(void)
{
    return ctr_get(&in_place);
}

void ingest_set_ipfix_fast(int on)
{
    flag_set(&fast_off, !on);
}

int ingest_ipfix_fast(void)
{
    return !flag_get(&fast_off);
}

/* The template a data set refers to: the newest definition in this
 * message, else the mirror. */
static const vtmpl_t *lookup(tdomain_t *dom, check_t *c, uint16_t tid)
{
    int killed_data = 0, killed_opt = 0;
    for (int i = c->n - 1; i >= 0; i--) {
        const pending_t *p = &c->p[i];
        if (p->withdraw == 2) {
            killed_data = 1;
        } else if (p->withdraw == 3) {
            killed_opt = 1;
        } else if (p->t.tid == tid) {
            if (p->withdraw || (p->t.options ? killed_opt : killed_data))
                return NULL;
            return &p->t;
        }
    }
    const vtmpl_t *m = tdomain_tmpl_find(dom, tid);
    if (m && (m->options ? killed_opt : killed_data))
        return NULL;
    return m;
}

static int fail(check_t *c, const char *why)
{
    c->why = why;
    return -1;
}

/* Parse one template set's records (set id 2 or 3) into pending. */
static int template_set(check_t *c, const uint8_t *p, const uint8_t *end,
                        int options, uint8_t **o, int *changed)
{
    while (end - p >= 4) {
        const uint8_t *rec = p;
        uint16_t tid = rd16(p), fc = rd16(p + 2);
        if (fc == 0) {
            /* withdrawal: one id, or all of this set's kind */
            if (tid != (options ? 3 : 2) && tid < 256)
                return fail(c, "withdrawal of a reserved template id");
            if (c->n >= MAX_PENDING)
                return fail(c, "too many template records in one message");
            pending_t *pd = &c->p[c->n++];
            memset(pd, 0, sizeof(*pd));
            pd->t.tid = tid;
            pd->withdraw = tid < 256 ? (uint8_t)tid : 1;
            p += 4;
            *changed = 1;
            continue;
        }
        if (tid < 256)
            return fail(c, "template id below 256");
        if (fc > MAX_FIELDS)
            return fail(c, "template with an absurd field count");
        uint16_t scope = 0;
        p += 4;
        if (options) {
            if (end - p < 2)
                return fail(c, "truncated options template");
            scope = rd16(p);
            p += 2;
            if (scope == 0 || scope > fc)
                return fail(c, "options template scope count out of range");
        }
        if ((size_t)(end - p) < (size_t)fc * 4)
            return fail(c, "template field count exceeds its set");
        const uint8_t *spec = p;
        vtmpl_t t = {.tid = tid, .options = (uint8_t)options,
                     .nfields = fc};
        uint16_t *lens = xcalloc(fc, sizeof(uint16_t));
        for (uint16_t i = 0; i < fc; i++) {
            if (end - p < 4) {
                free(lens);
                return fail(c, "truncated template field");
            }
            uint16_t id = rd16(p), flen = rd16(p + 2);
            p += 4;
            if (id & 0x8000) {
                if (end - p < 4) {
                    free(lens);
                    return fail(c, "truncated enterprise number");
                }
                p += 4;
            }
            if (flen == 0) {
                free(lens);
                return fail(c, "template field of length 0");
            }
            lens[i] = flen;
            if (flen == 65535)
                t.nvar++;
            else
                t.fixed_len += flen;
        }
        if (t.fixed_len + t.nvar > 65535 - 20) {
            free(lens);
            return fail(c, "template record longer than a message");
        }
        if (t.nvar)
            t.lens = lens;
        else
            free(lens);
        if (c->n >= MAX_PENDING) {
            free(t.lens);
            return fail(c, "too many template records in one message");
        }
        /* kept for decoder_compile, when a data set first needs it */
        t.spec_len = (uint32_t)(p - spec);
        t.spec = xmalloc(t.spec_len);
        memcpy(t.spec, spec, t.spec_len);
        c->p[c->n].t = t;
        c->p[c->n].withdraw = 0;
        c->n++;
        if (o) {
            memcpy(*o, rec, (size_t)(p - rec));
            *o += p - rec;
        }
    }
    if (p != end)
        *changed = 1; /* padding, dropped in a rewrite */
    return 0;
}

/* Count the records of a data set; -1 if they do not fit it. */
static int data_set(check_t *c, const vtmpl_t *t, const uint8_t *p,
                    const uint8_t *end, uint32_t *records)
{
    if (!t->nvar) {
        *records += (uint32_t)((size_t)(end - p) / t->fixed_len);
        return 0;
    }
    size_t min = t->fixed_len + t->nvar;
    while ((size_t)(end - p) >= min) {
        for (uint16_t i = 0; i < t->nfields; i++) {
            size_t l = t->lens[i];
            if (l == 65535) {
                if (end - p < 1)
                    return fail(c, "variable-length field overruns its set");
                l = p[0];
                p++;
                if (l == 255) {
                    if (end - p < 2)
                        return fail(c, "variable-length field overruns "
                                       "its set");
                    l = rd16(p);
                    p += 2;
                }
            }
            if ((size_t)(end - p) < l)
                return fail(c, "record overruns its set");
            p += l;
        }
        (*records)++;
    }
    return 0;
}

int ipfix_check(tdomain_t *dom, const uint8_t *msg, size_t len,
                uint8_t *out, size_t *outlen, uint32_t *records,
                uint32_t *flow_records, uint32_t *unknown_sets,
                const char **why)
{
    check_t c = {0};
    *records = 0;
    *flow_records = 0;
    *unknown_sets = 0;
    if (len < 16)
        return (*why = "message shorter than its header"), -1;
    if (rd16(msg) != 10)
        return (*why = "not IPFIX (version is not 10)"), -1;
    if (rd16(msg + 2) != len)
        return (*why = "message length does not match its header"), -1;

    if (!pending_store)
        pending_store = xcalloc(MAX_PENDING, sizeof(pending_t));
    c.p = pending_store;
    /* out is only written once something must go (a withdrawal, a data
     * set without template): until then the message stands as it is */
    uint8_t *o = NULL;
    const uint8_t *p = msg + 16, *end = msg + len;
    while (p < end) {
        if (end - p < 4) {
            fail(&c, "truncated set header");
            goto bad;
        }
        uint16_t sid = rd16(p), slen = rd16(p + 2);
        if (slen < 4 || slen > end - p) {
            fail(&c, slen < 4 ? "set length below 4"
                              : "set length overruns the message");
            goto bad;
        }
        const uint8_t *body = p + 4, *send = p + slen;
        if (sid == 2 || sid == 3) {
            /* withdrawals are ours to apply: libfixbuf 2.4 keeps decoding
             * a withdrawn template's data, so it only ever sees
             * definitions and data whose template is current */
            int n_before = c.n, changed = 0;
            uint8_t *sh = o;
            if (o)
                o += 4;
            if (template_set(&c, body, send, sid == 3, o ? &o : NULL,
                             &changed) != 0)
                goto bad;
            if (changed && !o) { /* start the rewrite here, parse again */
                for (int i = n_before; i < c.n; i++)
                    vtmpl_drop(&c.p[i].t);
                c.n = n_before;
                memcpy(out, msg, (size_t)(p - msg));
                sh = out + (p - msg);
                o = sh + 4;
                template_set(&c, body, send, sid == 3, &o, &changed);
            }
            if (o) {
                if (o == sh + 4) {
                    o = sh;
                } else {
                    wr16(sh, sid);
                    wr16(sh + 2, (uint16_t)(o - sh));
                }
            }
        } else if (sid >= 256) {
            const vtmpl_t *t = lookup(dom, &c, sid);
            if (!t) {
                (*unknown_sets)++;
                if (!o) {
                    memcpy(out, msg, (size_t)(p - msg));
                    o = out + (p - msg);
                }
            } else {
                uint32_t before = *records;
                if (data_set(&c, t, body, send, records) != 0)
                    goto bad;
                if (!t->options)
                    *flow_records += *records - before;
                if (*records == before) {
                    /* padding only: libfixbuf 2.4 then loses the first
                     * record of the next set, so it never sees one */
                    if (!o) {
                        memcpy(out, msg, (size_t)(p - msg));
                        o = out + (p - msg);
                    }
                } else if (o) {
                    memcpy(o, p, slen);
                    o += slen;
                }
            }
        } else {
            fail(&c, "reserved set id");
            goto bad;
        }
        p = send;
    }

    if (o) {
        *outlen = (size_t)(o - out);
        wr16(out + 2, (uint16_t)*outlen);
    } else {
        *outlen = 0; /* unchanged: use msg */
    }
    /* The whole message is well formed: apply its template changes. */
    for (int i = 0; i < c.n; i++) {
        pending_t *pd = &c.p[i];
        if (pd->withdraw == 2 || pd->withdraw == 3)
            tdomain_tmpl_clear(dom, pd->withdraw == 3);
        else if (pd->withdraw)
            tdomain_tmpl_del(dom, pd->t.tid);
        else {
            tdomain_tmpl_put(dom, &pd->t);
            pd->t.lens = NULL; /* now owned by the mirror */
            pd->t.spec = NULL;
        }
    }
    pending_free(&c);
    return 0;

bad:
    *why = c.why;
    pending_free(&c);
    return -1;
}

/* The compiled program of data set tid's template in dom, compiled on
 * first use; NULL when libfixbuf must read its records. */
static const tprog_t *set_prog(decoder_t *d, tdomain_t *dom, uint16_t tid)
{
    vtmpl_t *t = tdomain_tmpl_find(dom, tid);
    if (!t)
        return NULL;
    if (t->prog_state == 0) {
        t->prog = decoder_compile(d, t->spec, t->spec_len, t->nfields,
                                  t->options);
        t->prog_state = t->prog ? 1 : 2;
    }
    return t->prog;
}

/* Decode a checked message (msg, len: the sets libfixbuf would see) by
 * the compiled programs of its data sets' templates, when every data
 * set's template compiled and no template set follows a data set (the
 * mirror then holds, for each data set, the definition in effect). The
 * template sets at its head go to libfixbuf (which keeps the templates)
 * as a message of their own: the header's length is set to theirs for
 * the while. 1 if done, 0 if libfixbuf must read the whole message (so
 * its records keep their order either way). */
static int read_in_place(decoder_t *d, tsession_t *ts, tdomain_t *dom,
                         uint8_t *msg, size_t len)
{
    const uint8_t *p = msg + 16, *end = msg + len, *data = NULL;
    while (end - p >= 4) {
        uint16_t sid = rd16(p), slen = rd16(p + 2);
        if (sid == 2 || sid == 3) {
            if (data)
                return 0;
        } else if (!set_prog(d, dom, sid)) {
            return 0;
        } else if (!data) {
            data = p;
        }
        p += slen;
    }
    if (data != msg + 16) {
        size_t head = data ? (size_t)(data - msg) : len;
        wr16(msg + 2, (uint16_t)head);
        fBufSetBuffer(ts->fbuf, msg, head);
        decoder_drain(d, ts->fbuf, &ts->int_tid);
        wr16(msg + 2, (uint16_t)len);
    }
    uint64_t flows = 0;
    for (p = data ? data : end; end - p >= 4;) {
        uint16_t slen = rd16(p + 2);
        flows += decoder_run(d, set_prog(d, dom, rd16(p)), p + 4, p + slen);
        p += slen;
    }
    ctr_add(&dom->st->records, flows);
    ctr_add(&in_place, flows);
    return 1;
}

int ipfix_decode(decoder_t *d, tsession_t *ts, tdomain_t *dom, uint8_t *msg,
                 size_t len, size_t orig_len, int seq, const char **why)
{
    stats_entry_t *st = dom->st;
    uint32_t records, flow_records, unknown;
    size_t clen = 0;
    if (ipfix_check(dom, msg, len, d->scratch, &clen, &records,
                    &flow_records, &unknown, why) != 0)
        return -1;
    ctr_inc(&st->messages);
    ctr_add(&st->bytes, orig_len);
    if (unknown) {
        char a[IPADDR_STRLEN];
        ctr_add(&st->unknown_tmpl, unknown);
        log_limited(&d->lim_tmpl, LOG_INFO, "ingest",
                    "%s domain %u: %u data set(s) before their template",
                    ipaddr_format(&ts->exporter, a, sizeof(a)), dom->domain,
                    unknown);
    }
    if (seq)
        seq_check(d, dom, rd32(msg + 8), records, flow_records, 0);

    d->ts = ts;
    d->dom = dom;
    if (clen > 0 && clen <= 16)
        return 0; /* nothing left to read */
    if (!flag_get(&fast_off) &&
        read_in_place(d, ts, dom, clen ? d->scratch : msg, clen ? clen : len))
        return 0;
    if (clen == 0) {
        fBufSetBuffer(ts->fbuf, msg, len);
    } else if (clen <= 16) {
        return 0; /* nothing left for libfixbuf */
    } else {
        fBufSetBuffer(ts->fbuf, d->scratch, clen);
    }
    uint64_t flows = decoder_drain(d, ts->fbuf, &ts->int_tid);
    ctr_add(&st->records, flows);
    return 0;
}

int ipfix_message(decoder_t *d, tsession_t *ts, uint8_t *msg, size_t len)
{
    uint32_t domain = len >= 16 ? rd32(msg + 12) : 0;
    tdomain_t *dom = tsession_domain(d, ts, domain);
    stats_entry_t *st = dom ? dom->st : stats_get(d->stats, &ts->exporter, 0);
    stats_touch(st, INGEST_PROTO_IPFIX, d->received_ms);
    const char *why = NULL;
    if (!dom) {
        why = "exporter with too many observation domains";
    } else {
        d->export_ms = len >= 16 ? (int64_t)rd32(msg + 4) * 1000 : 0;
        d->uptime_base_ms = 0;
        if (ipfix_decode(d, ts, dom, msg, len, len, 1, &why) == 0)
            return 0;
    }
    char a[IPADDR_STRLEN];
    ctr_inc(&st->decode_errors);
    log_limited(&d->lim_decode, LOG_WARN, "ingest",
                "malformed IPFIX message from %s domain %u (%zu bytes): %s",
                ipaddr_format(&ts->exporter, a, sizeof(a)), domain, len, why);
    return -1;
}

int ipfix_stream(decoder_t *d, tsession_t *ts)
{
    uint32_t off = 0;
    int rc = 0;
    while (ts->rlen - off >= 4) {
        uint8_t *m = ts->rbuf + off;
        uint16_t mlen = rd16(m + 2);
        if (rd16(m) != 10 || mlen < 16) {
            rc = -1;
            break;
        }
        if (ts->rlen - off < mlen)
            break;
        if (ipfix_message(d, ts, m, mlen) == 0)
            ts->valid = 1;
        off += mlen;
    }
    memmove(ts->rbuf, ts->rbuf + off, ts->rlen - off);
    ts->rlen -= off;
    return rc;
}
