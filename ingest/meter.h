/*
 * meter.h - a flow meter: captured packets in, flow records out.
 *
 *     meter_config_t mc = METER_CONFIG_INIT;
 *     meter_t *m = meter_new(&mc, emit, ctx);
 *     for each packet: meter_packet(m, DLT_EN10MB, ts_us, data, caplen, len);
 *     meter_flush(m);                  // end of input: every flow out
 *     meter_free(m);
 *
 * Flows are keyed as softflowd keys them: the two addresses, the two
 * ports (ICMP: 0 and type * 256 + code), the protocol, plus the outer
 * VLAN id. With biflow on (the default, softflowd's way) both directions
 * of a conversation share one table entry, expire together, and are
 * exported as two records, one per direction that carried packets; with
 * biflow off each direction is a flow of its own. Bytes are the IP
 * length; start and end the first and last packet of the record's
 * direction (ms); `received` the packet time at which the flow was
 * exported. docs/INGEST.md ("Packet captures") has the whole semantics
 * and how the timeouts map onto softflowd's.
 *
 * Time is packet time only: nothing here reads a clock. A live capture
 * calls meter_expire() on a quiet link.
 *
 * Not thread-safe: one meter belongs to one thread; meter_get_stats()
 * must be called from that thread too (copy the numbers out to
 * counters for other threads).
 */
#ifndef FLOWSQL_METER_H
#define FLOWSQL_METER_H

#include <stddef.h>
#include <stdint.h>

#include "ingest/ingest.h" /* flow_batch_t, ingest_emit_fn */
#include "util/diag.h"
#include "util/ipaddr.h"

typedef struct meter meter_t;

typedef struct meter_config {
    /* timeouts in seconds, of packet time */
    int active_s;        /* a flow older than this (since its first
                            packet) is exported; later packets start a
                            new flow. 0: never (softflowd's maxlife) */
    int idle_s;          /* no packet for this long: exported. 0: never
                            (softflowd's general) */
    int tcp_s, udp_s, icmp_s; /* idle timeouts of TCP, UDP, ICMP/ICMPv6
                            flows; 0: idle_s (softflowd: tcp, udp, icmp) */
    int tcp_fin_s;       /* idle timeout of a TCP flow once FIN was seen
                            (both directions with biflow on): -1 off,
                            0 at once (softflowd: tcp.fin, 0 = off) */
    int tcp_rst_s;       /* likewise once RST was seen (softflowd: tcp.rst) */
    int biflow;          /* 1: a conversation is one entry (softflowd);
                            0: each direction is its own flow */
    size_t max_flows;    /* flow table bound: beyond it the flow idle the
                            longest is exported early (counted) */
    ipaddr_t exporter;   /* the records' exporter (:: for files) */
    uint32_t domain;     /* the records' observation domain */
    int replay;          /* batches flagged FLOW_BATCH_REPLAY (files) */
} meter_config_t;

/* max_flows beyond this is taken as this (each entry costs 192 bytes of
 * address space, touched only when used) */
#define METER_MAX_FLOWS (1u << 24)

#define METER_CONFIG_INIT \
    { 1800, 300, 0, 0, 0, 5, 5, 1, 262144, {{0}}, 0, 1 }

/* Read softflowd-style timeouts, "tcp=3600,tcp.rst=120,udp=60" (names
 * tcp, tcp.rst, tcp.fin, udp, icmp, general (= idle), maxlife (=
 * active); seconds) into c. -1 with err naming the bad item. */
int meter_config_timeouts(meter_config_t *c, const char *spec, diag_t *err);

/* emit(ctx, b) gets full batches (and the last partial one at
 * meter_flush); b is reused after emit returns. */
meter_t *meter_new(const meter_config_t *cfg, ingest_emit_fn emit, void *ctx);

/* Whether meter_packet reads this libpcap DLT_* link type. */
int meter_linktype_ok(int linktype);

/* One captured packet. linktype is libpcap's DLT_* (EN10MB, RAW,
 * LINUX_SLL, LINUX_SLL2, NULL/LOOP at least); ts_us its capture time
 * in microseconds since the epoch; caplen bytes at data, wirelen its
 * length on the wire. Never fails: what cannot be metered is counted. */
void meter_packet(meter_t *m, int linktype, int64_t ts_us,
                  const uint8_t *data, uint32_t caplen, uint32_t wirelen);

/* Export the flows that timed out by now_us (packet time) and hand over
 * the partial batch (emit), if any; a live capture calls it on a quiet
 * link, once a second. (meter_packet expires flows by itself as packet
 * time moves, but emits full batches only.) */
void meter_expire(meter_t *m, int64_t now_us);

/* The meter's packet clock: the latest packet time counted (us), 0
 * before the first. Packets still in the pipeline are not counted yet
 * (meter_get_stats and meter_expire drain it). */
int64_t meter_clock_us(const meter_t *m);

/* End of input: export every flow and emit the partial batch. */
void meter_flush(meter_t *m);

typedef struct meter_stats {
    uint64_t packets;       /* given to meter_packet */
    uint64_t metered;       /* counted into a flow */
    uint64_t not_ip;        /* link layer carries something else (ARP..) */
    uint64_t truncated;     /* capture ends inside the link or IP header */
    uint64_t malformed;     /* bad IP version / header length */
    uint64_t fragments;     /* metered IP fragments (first and later) */
    uint64_t no_transport;  /* metered without ports: transport header cut
                               short by the capture (not a fragment) */
    uint64_t flows_created; /* table entries made */
    uint64_t flows_out;     /* records emitted (a biflow gives up to 2) */
    uint64_t expired_idle, expired_active, expired_fin, expired_rst;
    uint64_t table_full;    /* entries exported early: table at max_flows */
    uint64_t flushed;       /* entries exported by meter_flush */
    uint64_t active_flows;  /* entries in the table now */
} meter_stats_t;

/* Counts the packets still in the pipeline into flows first (so it
 * changes the meter, and may emit a full batch). */
void meter_get_stats(meter_t *m, meter_stats_t *out);

void meter_free(meter_t *m);

/* pcapfile.c: read a pcap or pcapng file (libpcap's pcap_fopen_offline
 * reads both) through a meter: 0 when the whole file was read, -1 with a
 * diag naming the file. Does NOT flush the meter (a watched directory
 * meters a stream across files); the caller flushes at the end of its
 * input. time_ms > 0 limits the read (a diag says where it stopped).
 * res (may be NULL): messages = packets read, bytes = their wire bytes,
 * records = flow records emitted during the call, decode_errors =
 * packets not metered for being truncated or malformed. */
int ingest_pcap_fd(int fd, const char *path, meter_t *m, int64_t time_ms,
                   ingest_file_result_t *res, diag_t *err);

/* is this file a pcap or pcapng (by its magic)? 1 or 0; the file offset
 * is left alone. */
int ingest_is_pcap(int fd);

/* A capture file or an IPFIX file, told apart by the first bytes: pcap
 * and pcapng go through a meter made from mc (and flushed, also after
 * an error: a capture cut short still gives its flows), IPFIX
 * through ingest_read_fd. Anything else is an error naming the file and
 * the bytes found. ms (may be NULL) gets the meter's counters (zeros for
 * IPFIX). */
int ingest_read_any_fd(int fd, const char *path, int64_t time_ms,
                       const meter_config_t *mc, ingest_emit_fn emit,
                       void *ctx, ingest_file_result_t *res,
                       meter_stats_t *ms, diag_t *err);

#endif
