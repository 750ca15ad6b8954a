/*
 * ingest_int.h - what the ingest files share; not for other modules.
 *
 *   decode.c   libfixbuf set-up, the internal record, wire -> flow record
 *              (timestamps, biflows, counters, sampling)
 *   ipfix.c    IPFIX message checking (our own structural validation and
 *              template mirror) and decoding through libfixbuf
 *   nfv9.c     NetFlow v9: checked and rewritten as IPFIX in memory,
 *              then decoded as IPFIX is
 *   nfv5.c     NetFlow v5, decoded here
 *   sflow.c    sFlow v5, decoded here
 *   session.c  transport sessions and their observation domains
 *   ingest.c   sockets, the receive thread, the batch pool
 *   file.c     IPFIX files
 *   mem.c      datagrams and streams from memory (tests, fuzzing)
 *
 * Every message is checked by us before libfixbuf sees it: libfixbuf
 * trusts lengths and template contents more than a daemon facing the
 * network can afford to (a zero-length v9 template made its v9 translator
 * divide by zero: we rewrite v9 as IPFIX ourselves). What passes the
 * check is well formed, so libfixbuf's own error paths are only a second
 * line.
 */
#ifndef FLOWSQL_INGEST_INT_H
#define FLOWSQL_INGEST_INT_H

#include <fixbuf/public.h>
#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>

#include "engine/flow.h"
#include "engine/xfield.h"
#include "ingest/ingest.h"
#include "ingest/stats.h"
#include "util/counter.h"
#include "util/log.h"

/* ---- where decoded records go ------------------------------------------ */

typedef struct sink sink_t;
struct sink {
    flow_batch_t *cur;
    int64_t       cur_since_ms;   /* monotonic ms of cur's first record */
    uint32_t      flags;          /* FLOW_BATCH_* for every batch */
    /* Hand off cur (if any) and set a fresh cur; 0 if one is available,
     * -1 if none (the caller drops the record and counts it). */
    int         (*refill)(sink_t *s);
    void         *ctx;
    counter_t     records;        /* written (one writer, any reader) */
    counter_t     dropped;        /* found no batch */
};

/* The decoders write every column of each record they add (no zeroing
 * pass on the hot path). A new column in flow.h breaks this assertion on
 * purpose: set it in decode.c (flow_record) and nfv5.c, then update it.
 * The 11 enriched columns (enrich/enrich.h) are the exception: written
 * by enrich_batch() before any query reads them. So are the custom
 * element columns (engine/xfield.h): sink_slot() clears a new record's
 * in the slots the batch says are filled, decode.c writes them. */
_Static_assert(sizeof(flow_batch_t) ==
                   8 + FLOW_BATCH_MAX * (4 * sizeof(ipaddr_t) + 20 * 8 +
                                         11 * 8) +
                       8 + FLOW_BATCH_MAX * (XF_NINT * 8 + XF_NSTR * 8 +
                                             XF_NIP * sizeof(ipaddr_t)),
               "flow_batch_t changed: the ingest writers set every column");

/* Index of a new record in s->cur (every column to be written by the
 * caller), or -1 (dropped, counted). */
static inline int sink_slot(sink_t *s)
{
    if (!s->cur || s->cur->n >= FLOW_BATCH_MAX) {
        if (s->refill(s) != 0 || !s->cur) {
            ctr_add_own(&s->dropped, 1);
            return -1;
        }
    }
    ctr_add_own(&s->records, 1);
    int i = (int)s->cur->n++;
    if (s->cur->xfilled)
        xfield_clear_row(s->cur, i);
    return i;
}

/* ---- templates --------------------------------------------------------- */

/* What we learnt about an external template when it arrived (attached to
 * libfixbuf's template as its context, so the per-record path only reads
 * flags). */
enum tkind { TK_FLOW = 1, TK_OPTIONS = 2 };

enum ttime {              /* where a timestamp comes from, best first */
    TT_NONE = 0, TT_MS, TT_US, TT_NS, TT_S, TT_DELTA_US, TT_UPTIME,
};

typedef struct tinfo {
    uint8_t  kind;          /* enum tkind */
    uint8_t  tstart, tend;  /* enum ttime */
    uint8_t  has_dur;       /* flowDurationMilliseconds */
    uint8_t  has_sysinit;   /* systemInitTimeMilliseconds in the record */
    uint8_t  biflow;        /* RFC 5103 reverse counters present */
    uint8_t  octets, packets;  /* 1 delta, 2 total, 3 post (v9 OUT_*) */
    uint8_t  rev_octets, rev_packets;
    uint8_t  has_rev_flags, has_rev_tos;
    uint8_t  has_v4, has_v6;
    uint8_t  vlan;          /* 1 vlanId, 2 dot1qVlanId */
    uint8_t  icmp;          /* 1 v4, 2 v6 type-code fields */
    uint8_t  sampling;      /* any sampling field: options worth reading */
    uint8_t  has_sampler_id;/* samplerId / selectorId */
    uint16_t int_tid;       /* the compact internal template for it */
    uint16_t nplan;         /* copies from the compact record to fixrec */
    struct { uint16_t src, dst, len; } plan[64];
    /* custom elements (engine/xfield.h) the template carries, read from
     * the compact record after the fixed fields; len XF_VARLEN is an
     * fbVarfield_t */
    uint8_t  nx;
    struct {
        uint8_t  slot, type, host_order;
        uint16_t src, len;
    } xplan[XF_NSLOTS];
} tinfo_t;
#define XF_VARLEN 65535

/* Our own mirror of a session-domain's templates, used to check data sets
 * and count their records before libfixbuf sees them. */
typedef struct tprog tprog_t;    /* decode.c: a template compiled */

typedef struct vtmpl {
    uint16_t tid;           /* 0 = free slot */
    uint8_t  options;
    uint8_t  prog_state;    /* 0 not compiled yet, 1 prog, 2 libfixbuf's */
    uint16_t nvar;          /* variable-length fields */
    uint32_t fixed_len;     /* sum of the fixed-length fields */
    uint16_t nfields;
    uint16_t *lens;         /* nvar > 0: every field's length, 65535 = var */
    uint8_t  *spec;         /* the field specifiers as sent (id, length,
                               enterprise number), spec_len bytes */
    uint32_t spec_len;
    tprog_t  *prog;         /* prog_state 1: how to read its records */
} vtmpl_t;

/* ---- sessions ---------------------------------------------------------- */

#define DOM_MAX_SAMPLERS 16

/* One observation domain (IPFIX) / source id (v9) / engine (v5) within a
 * transport session: template mirror, sequence state, options state. */
typedef struct tdomain tdomain_t;
struct tdomain {
    tdomain_t     *next;
    uint32_t       domain;
    stats_entry_t *st;
    int            have_seq;
    unsigned       seq_modes;   /* conventions still consistent */
    uint32_t       last_seq, last_all, last_flows;
    int64_t        seq_export_ms, seq_received_ms;  /* of that message */
    /* template mirror, open addressing on tid */
    vtmpl_t       *tmpl;
    uint32_t       ntmpl, tmpl_cap;
    /* from options records */
    int64_t        sys_init_ms;
    int64_t        default_sampling;
    struct { uint64_t id; int64_t interval; } samplers[DOM_MAX_SAMPLERS];
    int            nsamplers;
};

enum tskind { TS_IPFIX_UDP = 1, TS_IPFIX_TCP, TS_FILE, TS_V9, TS_V5,
              TS_SFLOW };

typedef struct tsession tsession_t;
struct tsession {
    tsession_t   *hnext;            /* hash chain */
    tsession_t   *lnext, *lprev;    /* all sessions, most recent first */
    int           kind;             /* enum tskind */
    ipaddr_t      exporter;
    uint16_t      port;             /* peer port (0 for files) */
    int64_t       last_mono_ms;
    tdomain_t    *domains;
    /* IPFIX and NetFlow v9: libfixbuf state for this transport session */
    fbSession_t  *fbs;
    fBuf_t       *fbuf;
    uint16_t      int_tid;          /* fbuf's current internal template */
    /* TCP: the connection */
    int           fd;
    int           valid;            /* it sent a well-formed message */
    int64_t       opened_mono_ms;
    uint8_t      *rbuf;
    uint32_t      rlen, rcap;
};

/* ---- the decoder: one per receive thread or file read ------------------ */

/* One of our fields (decode.c's table) as the information model names
 * it: element, enterprise number, and whether it is an integer (read
 * big-endian, reduced-length encoding allowed) or octets. */
typedef struct fieldid {
    uint32_t ent;
    uint16_t num;
    uint8_t  endian;
    uint8_t  known;
} fieldid_t;

typedef struct decoder {
    fbInfoModel_t *model;
    fieldid_t      fid[64];         /* decode.c's fields[] in the model */
    const char    *xname[XF_NSLOTS]; /* custom elements' names in model */
    sink_t        *sink;
    stats_table_t *stats;
    stats_table_t *ifstats;        /* sFlow counter samples per agent and
                                      ifIndex (the row's domain); NULL:
                                      not kept */
    /* the message being decoded */
    tsession_t    *ts;
    tdomain_t     *dom;
    int64_t        received_ms;    /* wall clock at arrival */
    int64_t        export_ms;      /* header export time */
    int64_t        uptime_base_ms; /* NetFlow v9: header time - sysUptime,
                                      the base of its uptimes (else 0) */
    int            replay;         /* FILE: received = export time */
    uint64_t       records;        /* flow records written (biflow = 2) */
    log_limit_t    lim_decode, lim_fixbuf, lim_tmpl;
    uint8_t        scratch[65536];  /* the cleaned message */
    uint8_t       *v9msg;           /* NetFlow v9 rewritten as IPFIX
                                       (65536 bytes, made on first use) */
} decoder_t;

/* decode.c */
void        decoder_init(decoder_t *d, sink_t *sink, stats_table_t *stats);
void        decoder_destroy(decoder_t *d);
fbSession_t *decoder_session_new(decoder_t *d);   /* internal template set */
fBuf_t      *decoder_fbuf_new(decoder_t *d);      /* session + fbuf, manual */
/* Put fb in manual mode (a message at a time). */
void         decoder_fbuf_ready(fBuf_t *fb);
/* Read every record libfixbuf has in fbuf's current message. *int_tid is
 * the internal template fbuf is set to (0: unknown), kept per fbuf.
 * Returns the number of flow records seen (not counting options). */
uint64_t    decoder_drain(decoder_t *d, fBuf_t *fbuf, uint16_t *int_tid);
/* The template whose field specifiers (as sent, spec_len bytes, nfields
 * of them) are spec compiled into a program that reads its data records
 * in place, or NULL when libfixbuf must read them (a field of ours sent
 * variable-length, a custom element we cannot read the same way). */
tprog_t    *decoder_compile(decoder_t *d, const uint8_t *spec,
                            uint32_t spec_len, uint16_t nfields,
                            int options);
/* Read every record of one data set (body..end) with its template's
 * program, as decoder_drain would have: flow records to the sink,
 * options records into d->dom. Returns the number of flow records. */
uint64_t    decoder_run(decoder_t *d, const tprog_t *pg, const uint8_t *p,
                        const uint8_t *end);
void        decoder_route_glib_logs(void);

/* session.c */
tdomain_t  *tsession_domain(decoder_t *d, tsession_t *ts, uint32_t domain);
void        tsession_free_state(tsession_t *ts);
int         tdomain_tmpl_count(const tdomain_t *dom);
vtmpl_t    *tdomain_tmpl_find(tdomain_t *dom, uint16_t tid);
void        tdomain_tmpl_put(tdomain_t *dom, const vtmpl_t *t);
void        tdomain_tmpl_del(tdomain_t *dom, uint16_t tid);
void        tdomain_tmpl_clear(tdomain_t *dom, int options);

/* Sequence check for a message of `all` data records (`flows` of them
 * flow records, the rest options), or for a NetFlow v9 datagram
 * (datagrams = 1: v9 numbers datagrams; all = flows = 1). Counts into
 * dom->st what went missing before it (seq_lost, or seq_lost_msgs for
 * datagrams) and jumps too large to be loss (seq_resets). Reads the
 * message's times from d (export_ms, received_ms): set them first. */
void        seq_check(decoder_t *d, tdomain_t *dom, uint32_t seq,
                      uint32_t all, uint32_t flows, int datagrams);

/* ipfix.c: decode one framed IPFIX message for session ts (which must
 * have fbuf). Counts into the domain's stats. Returns 0, or -1 if the
 * message was rejected as malformed. */
int  ipfix_message(decoder_t *d, tsession_t *ts, uint8_t *msg, size_t len);

/* The part of ipfix_message after the domain is known, shared with
 * NetFlow v9 (rewritten as IPFIX): check msg against dom's templates,
 * count it (messages, bytes as orig_len, unknown templates, records;
 * IPFIX sequence numbers when seq is set) and decode it. d->export_ms
 * and received_ms must be set. Returns 0, or -1 with *why (nothing is
 * counted then: the caller counts the error and says what it was). */
int  ipfix_decode(decoder_t *d, tsession_t *ts, tdomain_t *dom, uint8_t *msg,
                  size_t len, size_t orig_len, int seq, const char **why);

/* Decode the whole IPFIX messages at the start of ts->rbuf (a TCP stream
 * or a file), keep the rest for later. Sets ts->valid when one of them
 * was well formed. -1 when the next header is not IPFIX: a stream cannot
 * resynchronise after that. */
int  ipfix_stream(decoder_t *d, tsession_t *ts);

/* Free what ipfix_message keeps per thread (call when a thread is done
 * decoding). */
void ipfix_thread_done(void);

/* Structural check of an IPFIX message and of its sets against the
 * template mirror; on success the mirror is updated and *records holds the
 * number of data records (flow + options) it carries. If libfixbuf must
 * not see the message as it is (template withdrawals, data sets without a
 * current template), out (at least len bytes) holds the message without
 * them and *outlen its length; otherwise *outlen is 0. */
int  ipfix_check(tdomain_t *dom, const uint8_t *msg, size_t len,
                 uint8_t *out, size_t *outlen, uint32_t *records,
                 uint32_t *flow_records, uint32_t *unknown_sets,
                 const char **why);

/* nfv5.c: decode one NetFlow v5 datagram. 0 or -1 (malformed). */
int  nfv5_message(decoder_t *d, tsession_t *ts, const uint8_t *msg,
                  size_t len);

/* sflow.c: an sFlow v5 datagram for session ts, whose exporter is the
 * datagram's agent address (sessions of sFlow are per agent): checked
 * whole, then every flow sample written as a record and counter samples
 * counted, into the sub-agent's stats. 0, or -1 (malformed, counted). */
int  sflow_message(decoder_t *d, tsession_t *ts, const uint8_t *msg,
                   size_t len);
/* The agent address of a datagram whose header is plausible (version 5,
 * a known address type, the whole header there): 0, else -1. */
int  sflow_agent(const uint8_t *msg, size_t len, ipaddr_t *agent);

/* nfv9.c: decode one NetFlow v9 datagram for session ts (which must have
 * fbuf): checked, rewritten as IPFIX, decoded by ipfix_decode. Counts
 * into the source id's stats. 0, or -1 (malformed). */
int  nfv9_message(decoder_t *d, tsession_t *ts, const uint8_t *msg,
                  size_t len);

/* helpers */
static inline uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}
static inline uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
           (uint32_t)p[2] << 8 | p[3];
}
static inline void wr16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

ipaddr_t sockaddr_to_ip(const struct sockaddr *sa, uint16_t *port);

#endif
