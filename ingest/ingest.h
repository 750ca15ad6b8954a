/*
 * ingest.h - flow records in: IPFIX (UDP, TCP, files), NetFlow v9 and v5.
 *
 * Live collection:
 *
 *     bqueue_t q;  bqueue_init(&q, 64);
 *     ingest_config_t cfg = INGEST_CONFIG_INIT;
 *     cfg.out = &q;
 *     ingest_t *ing = ingest_start(&cfg, &err);     // sockets bound, thread up
 *     for (;;) {
 *         flow_batch_t *b = bqueue_pop(&q, 1000);
 *         if (b) { ...use b...; ingest_batch_release(ing, b); }
 *     }
 *     ingest_stop(ing);
 *
 * One receive thread owns every socket (IPFIX over UDP and TCP, NetFlow v9
 * and v5 on one UDP port, told apart by the version field, sFlow v5 on its
 * own UDP port) and decodes
 * straight into batches of FLOW_BATCH_MAX records (engine/flow.h). It never
 * waits on the consumer:
 *   - batches come from a fixed pool the ingest owns; the consumer gives
 *     each one back with ingest_batch_release() when done with it;
 *   - a full batch is handed over with bqueue_try_push(cfg.out); if the
 *     queue is full, or the pool is empty, the records are dropped and
 *     counted (queue_drops, per exporter);
 *   - a partly filled batch is handed over once its first record is
 *     cfg.flush_ms old (at most 100 ms), so windows close promptly on a
 *     quiet stream.
 *
 * Records keep the exporter's address and observation domain; `received`
 * is the wall-clock time (ms) the datagram or TCP message arrived. How the
 * wire fields map onto the record (timestamps, biflows, sampling) is in
 * docs/INGEST.md.
 *
 * Ownership: the ingest owns the pool; a batch popped from cfg.out belongs
 * to the consumer until it is released. After ingest_stop() returns, the
 * batches still in cfg.out or held by the consumer are the caller's to
 * free with flow_batch_free(); ingest_batch_release() must not be called
 * any more.
 */
#ifndef FLOWSQL_INGEST_H
#define FLOWSQL_INGEST_H

#include <stddef.h>
#include <stdint.h>

#include "engine/flow.h"
#include "ingest/stats.h"
#include "util/bqueue.h"
#include "util/diag.h"

typedef struct ingest ingest_t;

typedef struct ingest_config {
    const char *bind_addr;    /* "0.0.0.0" (default), "::" for both families,
                                 or one address such as "127.0.0.1" */
    /* Ports: a number, 0 for any free port (tests; see ingest_port()),
     * -1 to disable that listener. */
    int ipfix_udp_port;       /* default 4739 */
    int ipfix_tcp_port;       /* default 4739 */
    int netflow_port;         /* default 2055: NetFlow v9 and v5 over UDP */
    int rcvbuf;               /* socket receive buffer bytes (default 32 MB;
                                 SO_RCVBUFFORCE when allowed) */
    bqueue_t *out;            /* required: full batches go here */
    int pool_batches;         /* batches in the pool at most, allocated
                                 on demand (default 64) */
    int flush_ms;             /* partial batch age limit (default 50, max 100) */
    int max_exporters;        /* stats entries before overflow (default 4096) */
    int max_sessions;         /* UDP transport sessions kept (default 1024;
                                 each costs about 70 KB of libfixbuf state) */
    int session_timeout_s;    /* idle UDP sessions forgotten, idle TCP
                                 connections closed (default 1800) */
    int max_tcp_conns;        /* concurrent IPFIX/TCP connections (default 256) */
    int tcp_silent_timeout_s; /* a TCP connection that has not sent one
                                 well-formed message is closed after this
                                 (default 30); when every slot is taken the
                                 oldest such connection makes room for a
                                 new one */
    int max_tcp_per_source;   /* IPFIX/TCP connections from one address
                                 (default 16) */
    int sflow_port;           /* sFlow v5 over UDP: -1 (off) here, so
                                 that programs and tests opt in; flowsqld's
                                 --sflow-port defaults to 6343 */
} ingest_config_t;

#define INGEST_CONFIG_INIT                                              \
    { "0.0.0.0", 4739, 4739, 2055, 32 << 20, NULL, 64, 50, 4096, 1024,  \
      1800, 256, 30, 16, -1 }

/* Bind every enabled socket and start the receive thread. On failure
 * (port taken, bad address, no output queue) returns NULL with the reason
 * in err, and nothing is left running. */
ingest_t *ingest_start(const ingest_config_t *cfg, diag_t *err);

/* Stop the thread, close the sockets, free the pool batches the ingest
 * holds (see Ownership above) and the handle. NULL is fine. Records in a
 * partly filled batch are handed over first (try_push) if they fit. */
void ingest_stop(ingest_t *ing);

/* IPFIX (and NetFlow v9, rewritten as IPFIX) data records whose
 * template we could compile are read in place, not transcoded by
 * libfixbuf (docs/INGEST.md, "Reading records in place"); on by default.
 * Off: every record goes through libfixbuf, as before. The result is the
 * same either way (tests/unit/test_ipfix_fast.c). Any thread, any time:
 * decoders read it for each message. */
void ingest_set_ipfix_fast(int on);
int  ingest_ipfix_fast(void);
/* Flow records read in place so far, all decoders together. */
uint64_t ingest_ipfix_in_place(void);

/* Give a batch back to the pool. Any thread. */
void ingest_batch_release(ingest_t *ing, flow_batch_t *b);

enum ingest_listener { INGEST_IPFIX_UDP, INGEST_IPFIX_TCP, INGEST_NETFLOW,
                       INGEST_SFLOW };

/* The port a listener is bound to (useful after asking for port 0), or
 * -1 if it is disabled. */
int ingest_port(const ingest_t *ing, enum ingest_listener which);

/* Per exporter-and-domain counters: copies up to max rows into out and
 * returns how many exist. Safe from any thread while ingest runs. */
size_t ingest_stats(ingest_t *ing, ingest_exporter_stats_t *out, size_t max);

/* Totals that belong to no exporter. */
/* sFlow counter samples per agent and interface: rows whose exporter is
 * the agent, domain the ifIndex (counter samples of source type 0) and
 * counter_samples the count; the other fields are 0. At most
 * max_exporters rows, then one overflow row (::). Any thread. */
size_t ingest_sflow_interfaces(ingest_t *ing, ingest_exporter_stats_t *out,
                               size_t max);

typedef struct ingest_totals {
    uint64_t records;          /* all decoded records (biflows count 2) */
    uint64_t batches;          /* batches handed to cfg.out */
    uint64_t queue_drops;      /* records dropped: queue full / pool empty */
    uint64_t tcp_accepted, tcp_rejected;
    uint64_t tcp_silent_closed; /* TCP connections closed before they sent
                                   a well-formed message: silent for
                                   tcp_silent_timeout_s, or their slot
                                   given to a new connection */
    uint64_t sessions_evicted; /* UDP sessions forgotten (idle or table full) */
} ingest_totals_t;

void ingest_get_totals(ingest_t *ing, ingest_totals_t *out);

/*
 * IPFIX files (RFC 5655: a sequence of IPFIX messages, e.g. what a TCP
 * export stream or flowgen --file writes).
 *
 * Reads path and calls emit(ctx, b) for each full batch and for the last
 * partial one; b is flagged FLOW_BATCH_REPLAY and is reused after emit
 * returns (copy what you keep). `received` is the message's export time,
 * so the same file always yields the same records in the same order.
 * Records are attributed to exporter :: and the message's domain.
 *
 * Returns 0 when the whole file was read (malformed messages are skipped
 * and counted in res->decode_errors; a file that is not IPFIX at all ends
 * the read at the first bad header with a diag); -1 if the file cannot be
 * opened or read. res may be NULL.
 */
typedef struct ingest_file_result {
    uint64_t messages, records, bytes;
    uint64_t decode_errors, unknown_tmpl, seq_lost, seq_resets;
} ingest_file_result_t;

typedef void (*ingest_emit_fn)(void *ctx, flow_batch_t *b);

int ingest_read_file(const char *path, ingest_emit_fn emit, void *ctx,
                     ingest_file_result_t *res, diag_t *err);

/*
 * The decode path without sockets or threads, for tests and fuzzing:
 * datagrams (and TCP stream bytes) from memory, as if they had arrived
 * from one exporter (its address and port given) on the given listener:
 * IPFIX over UDP, the NetFlow port (v5 or v9 by the version field),
 * IPFIX over TCP (bytes of a stream, in pieces of any size), or the sFlow
 * port. Each listener is one transport session, as a socket pair would
 * be; sFlow records carry the datagram's agent address as their exporter
 * (its session starts afresh when the agent changes). Records
 * go to emit(ctx, b) as full batches, and the last partial one at
 * ingest_mem_flush() or ingest_mem_free(); `received` is now_ms.
 */
typedef struct ingest_mem ingest_mem_t;

ingest_mem_t *ingest_mem_new(const ipaddr_t *exporter, ingest_emit_fn emit,
                             void *ctx);
/* 0, or -1 when the data was rejected (counted in the stats); for TCP,
 * -1 means the stream is broken and the session starts afresh. */
int    ingest_mem_feed(ingest_mem_t *m, enum ingest_listener on,
                       const uint8_t *data, size_t len, int64_t now_ms);
void   ingest_mem_flush(ingest_mem_t *m);
size_t ingest_mem_stats(ingest_mem_t *m, ingest_exporter_stats_t *out,
                        size_t max);
size_t ingest_mem_sflow_interfaces(ingest_mem_t *m,
                                   ingest_exporter_stats_t *out, size_t max);
void   ingest_mem_free(ingest_mem_t *m);

/* The same over an open file (left open), named path in messages. After
 * time_ms (0: no limit) the read stops: -1 with err "PATH: time limit of
 * N ms reached at byte B". */
int ingest_read_fd(int fd, const char *path, int64_t time_ms,
                   ingest_emit_fn emit, void *ctx, ingest_file_result_t *res,
                   diag_t *err);

#endif
