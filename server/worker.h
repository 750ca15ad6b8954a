/*
 * worker.h - the worker role of scale-out (docs/SCALE_OUT.md): the flows
 * topic's partitions, consumed in a consumer group, each run through an
 * engine of its own; every closed window's group state goes to the
 * partials topic for the merge stage.
 *
 *   consumer poll (this thread): flows message of partition p -->
 *     apply its watermark: engine_tick(engine[p], W) closes the windows
 *     ending at or before W --> partials producer (chunks, keyed
 *     query|window start)
 *     then its flows: engine_process(engine[p], flows)
 *   delivery reports (this thread): once a window's chunks are all
 *     acknowledged the partition's "written" watermark moves; the
 *     offsets are committed (with that watermark as metadata) up to the
 *     first message holding flows of a window not yet written, and a
 *     PROGRESS goes to every partials partition.
 *
 * One engine per flows partition: a partition's windows are closed by
 * its own watermark (a quiet or lagging partition holds back nothing
 * else), its partials are exactly those of its flows (the merge stage
 * keeps one per (query, window, partition), so a window written twice
 * by a dead worker and its successor counts once), and a partition
 * moving to another worker moves whole. A worker that takes over
 * partition p reads the committed offset and watermark W0: the windows
 * ending at or before W0 were written by its predecessor (its engine
 * closes them without emitting), every later window is rebuilt whole
 * from the committed offset on.
 */
#ifndef FLOWSQL_WORKER_H
#define FLOWSQL_WORKER_H

#include <stdint.h>

#include "engine/engine.h"
#include "util/diag.h"
#include "util/sbuf.h"

typedef struct worker worker_t;

typedef struct worker_config {
    const char *brokers;
    const char *flows_topic;
    const char *partials_topic;
    const char *group;          /* consumer group (flowsql-workers) */
    const char *props;          /* --kafka-props */
    engine_t   *registry;       /* the daemon's engine: the queries to run
                                   (those registered when a partition is
                                   assigned) */
    int         share;          /* --share-aggregation */
    int64_t     max_groups;
} worker_config_t;

/* Check the options, create the consumer and the producer, start the
 * thread. NULL with err set when something is wrong. */
worker_t *worker_start(const worker_config_t *cfg, diag_t *err);
/* Stop: what is written is committed; open windows are dropped (the next
 * owner of their partitions rebuilds them). NULL is fine. */
void      worker_stop(worker_t *w);
void      worker_metrics(worker_t *w, sbuf_t *out);

#endif
