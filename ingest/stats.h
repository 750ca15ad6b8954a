/*
 * stats.h - ingest counters, one entry per exporter address and
 * observation domain, in one place.
 *
 * The receive path bumps counters (util/counter.h) on entries it looked
 * up once per transport session (never per record); the metrics endpoint
 * takes a snapshot from any thread. Entries are allocated one by
 * one and never move or go away while the table lives, so a cached
 * pointer stays valid; the table is bounded (past `max` entries new
 * exporters share one overflow entry, address ::, so a flood of spoofed
 * sources cannot grow memory without bound).
 *
 * What each counter means (docs/INGEST.md has the long form):
 *   messages        IPFIX messages / NetFlow datagrams accepted for decoding
 *   records         flow records decoded (a biflow counts once here)
 *   bytes           bytes of those messages
 *   decode_errors   messages or sets rejected as malformed (truncated,
 *                   wrong lengths, unknown version, absurd templates, ...)
 *   unknown_tmpl    data sets skipped because their template was not
 *                   known (yet); their records cannot be counted
 *   seq_lost        records the exporter sent that never arrived, from the
 *                   IPFIX / NetFlow v5 sequence numbers
 *   seq_lost_msgs   NetFlow v9 datagrams missing by sequence number (v9
 *                   numbers datagrams, not records)
 *   seq_resets      sequence numbers that jumped too far, back or forward,
 *                   to be loss: an exporter restart (or a broken one);
 *                   counting starts afresh, nothing is counted as lost
 *   queue_drops     decoded records dropped because the consumer was too
 *                   slow (queue full or no free batch)
 *   tcp_refused     IPFIX/TCP connections from this address refused (its
 *                   per-source limit, or every slot held by exporters
 *                   that sent data); on the address's domain 0 row
 *   counter_samples sFlow counter samples received (per agent and
 *                   sub-agent); they are not flows
 */
#ifndef FLOWSQL_INGEST_STATS_H
#define FLOWSQL_INGEST_STATS_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "util/counter.h"
#include "util/ipaddr.h"

enum ingest_proto {
    INGEST_PROTO_NONE = 0,
    INGEST_PROTO_IPFIX = 10,
    INGEST_PROTO_V9 = 9,
    INGEST_PROTO_V5 = 5,
    INGEST_PROTO_SFLOW = 105,   /* sFlow v5 (5 is NetFlow v5's) */
};

/* One row of a snapshot: plain values. */
typedef struct ingest_exporter_stats {
    ipaddr_t exporter;
    uint32_t domain;          /* observation domain / source id / engine */
    int      proto;           /* enum ingest_proto last seen */
    int64_t  first_seen_ms, last_seen_ms;
    uint64_t messages, records, bytes;
    uint64_t decode_errors, unknown_tmpl;
    uint64_t seq_lost, seq_lost_msgs, seq_resets;
    uint64_t queue_drops;
    uint64_t tcp_refused;
    uint64_t counter_samples;
} ingest_exporter_stats_t;

/* Live counters of one entry (the receive path writes these). */
typedef struct stats_entry {
    ipaddr_t  exporter;
    uint32_t  domain;
    gauge_t   proto;
    gauge_t   first_seen_ms, last_seen_ms;
    counter_t messages, records, bytes;
    counter_t decode_errors, unknown_tmpl;
    counter_t seq_lost, seq_lost_msgs, seq_resets;
    counter_t queue_drops;
    counter_t tcp_refused;
    counter_t counter_samples;
} stats_entry_t;

typedef struct stats_table {
    pthread_mutex_t  lock;      /* guards the index, not the counters */
    stats_entry_t  **entries;   /* in order of first appearance */
    size_t           n, cap, max;
    uint32_t        *slots;     /* open addressing: entry index + 1 */
    size_t           nslots;
    stats_entry_t   *overflow;  /* shared by exporters past `max` */
} stats_table_t;

void stats_init(stats_table_t *t, size_t max_entries);
void stats_destroy(stats_table_t *t);

/* The entry for (exporter, domain), created on first use. Never NULL. */
stats_entry_t *stats_get(stats_table_t *t, const ipaddr_t *exporter,
                         uint32_t domain);

/* Copy up to `max` rows into out (in order of first appearance, the
 * overflow entry last if used). Returns how many rows exist, which may be
 * more than max. */
size_t stats_snapshot(stats_table_t *t, ingest_exporter_stats_t *out,
                      size_t max);

/* Mark activity: last-seen time and protocol (first-seen on first call). */
void stats_touch(stats_entry_t *e, int proto, int64_t now_ms);

#endif
