/*
 * pcapsrc.h - packets in: a watched directory of capture files and a live
 * interface, each metered into flows (ingest/meter.h) by a thread of its
 * own and handed to the engine's queue like the collectors' batches.
 *
 *     pcapdir_config_t dc = PCAPDIR_CONFIG_INIT;
 *     dc.dir = "/var/spool/flowsql/pcap";  dc.out = &app.flows;
 *     pcapdir_t *d = pcapdir_start(&dc, &err);   // checked, thread up
 *     ...
 *     pcapdir_stop(d);     // finishes the file in hand, flushes the meter
 *
 * The watched directory (docs/INGEST.md, "A watched directory"): a file
 * is taken when it is complete, that is when it is renamed into the
 * directory (inotify IN_MOVED_TO) or closed after writing
 * (IN_CLOSE_WRITE) and no process holds it open for writing any more;
 * names starting with '.' or ending in .tmp or .part are left alone. At
 * start the directory is scanned, in name order, for the files that
 * arrived while flowsqld was down. One meter runs over the whole stream,
 * so a flow continues across rotated files. A file whose packets have
 * all been metered is moved to the done directory (or deleted) before
 * the next one is opened, so no file is read twice, also across a
 * restart; a stop finishes the file in hand first. A file that is not a
 * capture, a truncated one, a symlink or anything not a regular file is
 * moved to DONE/failed and counted; it is never retried.
 *
 * The live interface: libpcap on one interface (or "any"), a BPF filter,
 * the meter expired once a second so that a quiet link still closes its
 * flows. Full batches are offered to the queue without waiting (a full
 * queue drops and counts their flows, as the collectors do); kernel
 * drops are read from pcap_stats().
 *
 * Batches are allocated per hand-over (flow_batch_new); whoever pops one
 * frees or recycles it. Records keep the packets' own times in start
 * and end; `received` is the wall-clock time the flow was handed over.
 */
#ifndef FLOWSQL_PCAPSRC_H
#define FLOWSQL_PCAPSRC_H

#include <stdint.h>

#include "ingest/meter.h"
#include "util/bqueue.h"
#include "util/counter.h"
#include "util/diag.h"
#include "util/sbuf.h"

/* Counters of one source, readable from any thread. */
typedef struct pcapsrc_stats {
    counter_t files_done;      /* directory: files metered and moved away */
    counter_t files_failed;    /* directory: refused or broken, in failed/ */
    counter_t packets;         /* packets given to the meter */
    counter_t metered;         /* of them counted in a flow */
    counter_t not_ip;          /* not IPv4/IPv6 */
    counter_t truncated;       /* the capture ends inside a header */
    counter_t malformed;       /* bad IP version or header length */
    counter_t flows;           /* flows the meter exported */
    counter_t table_full;      /* flows exported early: flow table full */
    counter_t active_flows;    /* in the meter's table now (a gauge) */
    counter_t queue_drops;     /* interface: flows lost, engine queue full */
    counter_t kernel_drops;    /* interface: pcap_stats ps_drop */
    counter_t if_drops;        /* interface: pcap_stats ps_ifdrop */
} pcapsrc_stats_t;

/* ---- the watched directory ---------------------------------------------- */

typedef struct pcapdir pcapdir_t;

typedef struct pcapdir_config {
    const char    *dir;        /* required: the watched directory */
    const char    *done;       /* where metered files go: a directory,
                                  "delete", or NULL / "" for DIR/done */
    meter_config_t meter;      /* exporter :: and domain 0 by default */
    bqueue_t      *out;        /* required: batches go here (waiting for
                                  room: a file loses nothing) */
    int64_t        quiet_ms;   /* no new file this long: the packet clock
                                  follows the wall clock (60000; 0: never) */
} pcapdir_config_t;

#define PCAPDIR_CONFIG_INIT { NULL, NULL, METER_CONFIG_INIT, NULL, 60000 }

/* Check the directories (both exist, are directories and on one file
 * system; DONE and DONE/failed are created when missing), start
 * watching and start the thread, which first scans what is there. NULL
 * with err saying what stands in the way. */
pcapdir_t *pcapdir_start(const pcapdir_config_t *cfg, diag_t *err);

/* Finish the file in hand, flush the meter (its flows are handed over,
 * waiting for room in the queue: the engine must still run), stop the
 * thread and free. NULL is fine. */
void pcapdir_stop(pcapdir_t *d);

pcapsrc_stats_t *pcapdir_stats(pcapdir_t *d);

/* ---- the live interface ------------------------------------------------- */

typedef struct pcaplive pcaplive_t;

typedef struct pcaplive_config {
    const char    *ifname;     /* required: an interface, or "any" */
    const char    *filter;     /* BPF expression, NULL or "" for all */
    int            snaplen;    /* bytes kept of a packet (default 256) */
    int            buffer_bytes; /* kernel ring (default 32 MB) */
    meter_config_t meter;      /* exporter and domain are set from the
                                  interface (its first IPv4 address, else
                                  IPv6, else ::; its ifindex) */
    bqueue_t      *out;        /* required: batches go here (try_push) */
} pcaplive_config_t;

#define PCAPLIVE_CONFIG_INIT { NULL, NULL, 256, 32 << 20, METER_CONFIG_INIT, \
                               NULL }

/* Open and activate the capture, compile and set the filter, start the
 * thread. NULL with err saying what failed: no such interface, no
 * permission (CAP_NET_RAW), a filter that does not compile (libpcap's
 * message). */
pcaplive_t *pcaplive_start(const pcaplive_config_t *cfg, diag_t *err);

/* Stop the thread, flush the meter (try_push), close and free. */
void pcaplive_stop(pcaplive_t *l);

pcapsrc_stats_t *pcaplive_stats(pcaplive_t *l);

/* The flowsql_pcap_* metrics of both (either may be NULL: zeros), every
 * series present whether or not the source runs (docs/METRICS.md). */
void pcapsrc_metrics(pcapdir_t *d, pcaplive_t *l, sbuf_t *out);

#endif
