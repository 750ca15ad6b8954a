/*
 * session.c - observation domains within a transport session: the
 * template mirror used to check data sets, and sequence numbers.
 */
#include "ingest/ingest_int.h"
#include "util/arena.h"

#include <stdlib.h>
#include <string.h>

#define DOMAINS_PER_SESSION 64
#define TEMPLATES_PER_DOMAIN 4096

tdomain_t *tsession_domain(decoder_t *d, tsession_t *ts, uint32_t domain)
{
    int n = 0;
    for (tdomain_t *dom = ts->domains; dom; dom = dom->next, n++)
        if (dom->domain == domain)
            return dom;
    if (n >= DOMAINS_PER_SESSION)
        return NULL;
    tdomain_t *dom = xcalloc(1, sizeof(*dom));
    dom->domain = domain;
    dom->st = stats_get(d->stats, &ts->exporter, domain);
    dom->next = ts->domains;
    ts->domains = dom;
    return dom;
}

static void tmpl_release(vtmpl_t *t)
{
    free(t->lens);
    free(t->spec);
    free(t->prog);
    t->lens = NULL;
    t->spec = NULL;
    t->prog = NULL;
    t->prog_state = 0;
}

void tsession_free_state(tsession_t *ts)
{
    tdomain_t *dom = ts->domains;
    while (dom) {
        tdomain_t *next = dom->next;
        for (uint32_t i = 0; i < dom->tmpl_cap; i++)
            if (dom->tmpl[i].tid)
                tmpl_release(&dom->tmpl[i]);
        free(dom->tmpl);
        free(dom);
        dom = next;
    }
    ts->domains = NULL;
    if (ts->fbuf)
        fBufFree(ts->fbuf); /* frees the session too */
    ts->fbuf = NULL;
    ts->fbs = NULL;
    free(ts->rbuf);
    ts->rbuf = NULL;
    ts->rlen = ts->rcap = 0;
}

/* ---- template mirror: linear probing on tid ------------------------------ */

int tdomain_tmpl_count(const tdomain_t *dom)
{
    return (int)dom->ntmpl;
}

vtmpl_t *tdomain_tmpl_find(tdomain_t *dom, uint16_t tid)
{
    if (!dom->tmpl_cap)
        return NULL;
    uint32_t mask = dom->tmpl_cap - 1;
    for (uint32_t j = (tid * 2654435761u) & mask;; j = (j + 1) & mask) {
        if (dom->tmpl[j].tid == tid)
            return &dom->tmpl[j];
        if (dom->tmpl[j].tid == 0)
            return NULL;
    }
}

static void tmpl_insert_raw(vtmpl_t *tab, uint32_t cap, const vtmpl_t *t)
{
    uint32_t mask = cap - 1;
    uint32_t j = (t->tid * 2654435761u) & mask;
    while (tab[j].tid)
        j = (j + 1) & mask;
    tab[j] = *t;
}

void tdomain_tmpl_put(tdomain_t *dom, const vtmpl_t *t)
{
    vtmpl_t *old = tdomain_tmpl_find(dom, t->tid);
    if (old) {
        /* the same definition again (exporters resend them): keep its
         * compiled program */
        tprog_t *prog = NULL;
        uint8_t state = 0;
        if (old->options == t->options && old->spec_len == t->spec_len &&
            old->spec && t->spec &&
            memcmp(old->spec, t->spec, t->spec_len) == 0) {
            prog = old->prog;
            state = old->prog_state;
            old->prog = NULL;
        }
        tmpl_release(old);
        *old = *t;
        old->prog = prog;
        old->prog_state = state;
        return;
    }
    if (dom->ntmpl >= TEMPLATES_PER_DOMAIN) {
        /* Bounded: an exporter defining thousands of templates loses the
         * newest ones (their data counts as unknown-template). */
        vtmpl_t tmp = *t;
        tmpl_release(&tmp);
        return;
    }
    if ((dom->ntmpl + 1) * 2 > dom->tmpl_cap) {
        uint32_t cap = dom->tmpl_cap ? dom->tmpl_cap * 2 : 16;
        vtmpl_t *tab = xcalloc(cap, sizeof(vtmpl_t));
        for (uint32_t i = 0; i < dom->tmpl_cap; i++)
            if (dom->tmpl[i].tid)
                tmpl_insert_raw(tab, cap, &dom->tmpl[i]);
        free(dom->tmpl);
        dom->tmpl = tab;
        dom->tmpl_cap = cap;
    }
    tmpl_insert_raw(dom->tmpl, dom->tmpl_cap, t);
    dom->ntmpl++;
}

void tdomain_tmpl_del(tdomain_t *dom, uint16_t tid)
{
    vtmpl_t *t = tdomain_tmpl_find(dom, tid);
    if (!t)
        return;
    tmpl_release(t);
    uint32_t mask = dom->tmpl_cap - 1;
    uint32_t i = (uint32_t)(t - dom->tmpl);
    dom->tmpl[i].tid = 0;
    dom->ntmpl--;
    /* backward-shift the cluster that follows */
    for (uint32_t j = (i + 1) & mask; dom->tmpl[j].tid; j = (j + 1) & mask) {
        vtmpl_t e = dom->tmpl[j];
        dom->tmpl[j].tid = 0;
        tmpl_insert_raw(dom->tmpl, dom->tmpl_cap, &e);
    }
}

void tdomain_tmpl_clear(tdomain_t *dom, int options)
{
    uint32_t n = 0;
    uint16_t *tids = xcalloc(dom->ntmpl + 1, sizeof(uint16_t));
    for (uint32_t i = 0; i < dom->tmpl_cap; i++)
        if (dom->tmpl[i].tid && !!dom->tmpl[i].options == !!options)
            tids[n++] = dom->tmpl[i].tid;
    for (uint32_t i = 0; i < n; i++)
        tdomain_tmpl_del(dom, tids[i]);
    free(tids);
}

/* ---- sequence numbers ------------------------------------------------------ */

/*
 * Exporters disagree on what the sequence number counts. RFC 7011: data
 * records sent before this message, options records included. softflowd:
 * flow records sent including this message. Others: flow records before
 * it. Each domain keeps the set of conventions its exporter has been
 * consistent with (narrowed whenever a message fits some of them and not
 * others) and measures gaps by the first one left.
 *
 * A gap is only loss if the exporter could have sent that much in the
 * time between the two messages: at most SEQ_MAX_RATE records (or v9
 * datagrams) a second, over the longer of the export-time and the
 * receive-time distance plus a second (export times have 1 s steps, and
 * datagrams read together share one receive time). Larger jumps forward,
 * and jumps back beyond SEQ_LATE, are a restart of the exporter (or one
 * whose numbers mean nothing): counted as a reset, and counting goes on
 * from the new number. A broken exporter so cannot claim billions of
 * lost records.
 */
enum { SEQ_PRE_ALL, SEQ_PRE_FLOWS, SEQ_POST_ALL, SEQ_POST_FLOWS, SEQ_MODES };

#define SEQ_LATE     (1 << 20)      /* behind by less: late or repeated */
#define SEQ_MAX_RATE 1000000        /* per second and domain */
#define SEQ_MAX_GAP  (1 << 30)

static int32_t seq_gap(const tdomain_t *dom, int mode, uint32_t seq,
                       uint32_t all, uint32_t flows)
{
    uint32_t want;
    switch (mode) {
    case SEQ_PRE_FLOWS: want = dom->last_seq + dom->last_flows; break;
    case SEQ_POST_ALL: want = dom->last_seq + all; break;
    case SEQ_POST_FLOWS: want = dom->last_seq + flows; break;
    default: want = dom->last_seq + dom->last_all; break;
    }
    return (int32_t)(seq - want);
}

/* The most a domain can have sent since its last numbered message. */
static int64_t seq_plausible(const decoder_t *d, const tdomain_t *dom)
{
    int64_t dt = d->export_ms - dom->seq_export_ms;
    int64_t dr = d->received_ms - dom->seq_received_ms;
    if (dr > dt)
        dt = dr;
    if (dt < 0)
        dt = 0;
    if (dt > (int64_t)SEQ_MAX_GAP / SEQ_MAX_RATE * 1000)
        return SEQ_MAX_GAP;
    int64_t n = (dt + 1000) * SEQ_MAX_RATE / 1000;
    return n < SEQ_MAX_GAP ? n : SEQ_MAX_GAP;
}

void seq_check(decoder_t *d, tdomain_t *dom, uint32_t seq, uint32_t all,
               uint32_t flows, int datagrams)
{
    if (!dom->have_seq) {
        dom->seq_modes = (1u << SEQ_MODES) - 1;
    } else {
        unsigned fits = 0;
        for (int m = 0; m < SEQ_MODES; m++)
            if ((dom->seq_modes & (1u << m)) &&
                seq_gap(dom, m, seq, all, flows) == 0)
                fits |= 1u << m;
        if (fits) {
            dom->seq_modes = fits;
        } else {
            int mode = __builtin_ctz(dom->seq_modes);
            int32_t gap = seq_gap(dom, mode, seq, all, flows);
            if (gap < 0 && gap > -SEQ_LATE)
                return; /* late or repeated: its gap was counted */
            if (gap > 0 && gap <= seq_plausible(d, dom))
                ctr_add(datagrams ? &dom->st->seq_lost_msgs
                                  : &dom->st->seq_lost,
                        (uint64_t)gap);
            else
                ctr_inc(&dom->st->seq_resets);
        }
    }
    dom->have_seq = 1;
    dom->last_seq = seq;
    dom->last_all = all;
    dom->last_flows = flows;
    dom->seq_export_ms = d->export_ms;
    dom->seq_received_ms = d->received_ms;
}
