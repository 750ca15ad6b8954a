/*
 * mem.c - the decode path fed from memory: what the receive thread does
 * with a datagram or with TCP stream bytes, minus the sockets and the
 * thread (ingest.h, ingest_mem_*). The unit tests and the fuzzer drive
 * the decoders through it.
 *
 * One exporter, one transport session per listener (and, on the NetFlow
 * port, per version), as one exporter socket per protocol would make.
 */
#include "ingest/ingest_int.h"
#include "util/arena.h"

#include <stdlib.h>
#include <string.h>

#define MEM_TCP_BUF (128u << 10)

struct ingest_mem {
    sink_t          sink;
    ingest_emit_fn  emit;
    void           *ctx;
    stats_table_t   stats, ifstats;
    decoder_t       dec;
    tsession_t      udp, v9, v5, tcp, sf;
    uint8_t         dgram[65536];   /* the datagram, as a socket gives it */
};

static int mem_refill(sink_t *s)
{
    ingest_mem_t *m = s->ctx;
    if (s->cur->n)
        m->emit(m->ctx, s->cur);
    flow_batch_reset(s->cur);
    return 0;
}

/* libfixbuf's state is made when a session first needs it (most fuzz
 * inputs use one listener; a session costs about 70 KB). */
static tsession_t *session_ready(ingest_mem_t *m, tsession_t *ts)
{
    if (!ts->fbuf && ts->kind != TS_V5 && ts->kind != TS_SFLOW)
        ts->fbuf = decoder_fbuf_new(&m->dec);
    return ts;
}

static void session_init(tsession_t *ts, int kind, const ipaddr_t *exporter)
{
    memset(ts, 0, sizeof(*ts));
    ts->kind = kind;
    ts->exporter = *exporter;
    ts->port = 2055;
    ts->fd = -1;
    if (kind == TS_IPFIX_TCP) {
        ts->rcap = MEM_TCP_BUF;
        ts->rbuf = xmalloc(ts->rcap);
    }
}

ingest_mem_t *ingest_mem_new(const ipaddr_t *exporter, ingest_emit_fn emit,
                             void *ctx)
{
    ingest_mem_t *m = xcalloc(1, sizeof(*m));
    m->emit = emit;
    m->ctx = ctx;
    decoder_route_glib_logs();
    stats_init(&m->stats, 1024);
    m->sink.cur = flow_batch_new();
    m->sink.refill = mem_refill;
    m->sink.ctx = m;
    decoder_init(&m->dec, &m->sink, &m->stats);
    stats_init(&m->ifstats, 1024);
    m->dec.ifstats = &m->ifstats;
    session_init(&m->udp, TS_IPFIX_UDP, exporter);
    session_init(&m->v9, TS_V9, exporter);
    session_init(&m->v5, TS_V5, exporter);
    session_init(&m->tcp, TS_IPFIX_TCP, exporter);
    session_init(&m->sf, TS_SFLOW, exporter);
    return m;
}

/* Datagrams that never reach a decoder, as ingest.c counts them. */
static int mem_bad(ingest_mem_t *m, int proto)
{
    stats_entry_t *e = stats_get(&m->stats, &m->udp.exporter, 0);
    stats_touch(e, proto, m->dec.received_ms);
    ctr_inc(&e->decode_errors);
    return -1;
}

static int mem_tcp(ingest_mem_t *m, const uint8_t *data, size_t len)
{
    tsession_t *ts = session_ready(m, &m->tcp);
    while (len) {
        size_t n = ts->rcap - ts->rlen;
        if (n > len)
            n = len;
        memcpy(ts->rbuf + ts->rlen, data, n);
        ts->rlen += (uint32_t)n;
        data += n;
        len -= n;
        if (ipfix_stream(&m->dec, ts) != 0) {
            ipaddr_t ip = ts->exporter;
            tsession_free_state(ts);
            session_init(ts, TS_IPFIX_TCP, &ip);
            session_ready(m, ts);
            return mem_bad(m, INGEST_PROTO_IPFIX);
        }
    }
    return 0;
}

/* sFlow: sessions are per agent; one is kept, started afresh when the
 * agent changes. A datagram without a plausible header is counted on the
 * sender, as ingest.c does. */
static int mem_sflow(ingest_mem_t *m, const uint8_t *msg, size_t len)
{
    ipaddr_t agent;
    if (sflow_agent(msg, len, &agent) != 0)
        return mem_bad(m, INGEST_PROTO_SFLOW);
    if (ipaddr_cmp(&agent, &m->sf.exporter) != 0) {
        tsession_free_state(&m->sf);
        session_init(&m->sf, TS_SFLOW, &agent);
    }
    return sflow_message(&m->dec, &m->sf, msg, len);
}

int ingest_mem_feed(ingest_mem_t *m, enum ingest_listener on,
                    const uint8_t *data, size_t len, int64_t now_ms)
{
    m->dec.received_ms = now_ms;
    if (on == INGEST_IPFIX_TCP)
        return mem_tcp(m, data, len);
    if (len > 65535) /* no UDP datagram is longer */
        return mem_bad(m, INGEST_PROTO_NONE);
    uint8_t *msg = m->dgram;
    memcpy(msg, data, len);
    int version = len >= 2 ? rd16(msg) : -1;
    if (on == INGEST_SFLOW)
        return mem_sflow(m, msg, len);
    if (on == INGEST_IPFIX_UDP)
        return version == 10 ? ipfix_message(&m->dec, session_ready(m, &m->udp),
                                             msg, len)
                             : mem_bad(m, INGEST_PROTO_IPFIX);
    if (version == 9)
        return nfv9_message(&m->dec, session_ready(m, &m->v9), msg, len);
    if (version == 5)
        return nfv5_message(&m->dec, &m->v5, msg, len);
    return mem_bad(m, INGEST_PROTO_NONE);
}

void ingest_mem_flush(ingest_mem_t *m)
{
    if (m->sink.cur->n)
        m->emit(m->ctx, m->sink.cur);
    flow_batch_reset(m->sink.cur);
}

size_t ingest_mem_stats(ingest_mem_t *m, ingest_exporter_stats_t *out,
                        size_t max)
{
    return stats_snapshot(&m->stats, out, max);
}

size_t ingest_mem_sflow_interfaces(ingest_mem_t *m,
                                   ingest_exporter_stats_t *out, size_t max)
{
    return stats_snapshot(&m->ifstats, out, max);
}

void ingest_mem_free(ingest_mem_t *m)
{
    if (!m)
        return;
    ingest_mem_flush(m);
    tsession_free_state(&m->udp);
    tsession_free_state(&m->v9);
    tsession_free_state(&m->v5);
    tsession_free_state(&m->tcp);
    tsession_free_state(&m->sf);
    ipfix_thread_done();
    decoder_destroy(&m->dec);
    stats_destroy(&m->stats);
    stats_destroy(&m->ifstats);
    flow_batch_free(m->sink.cur);
    free(m);
}
