/*
 * merge.h - the merge stage of scale-out (docs/SCALE_OUT.md): the
 * partials topic, consumed in a consumer group; the workers' partial
 * states of each (query, window) merged, the final rows (HAVING, ORDER
 * BY, LIMIT applied once, on the whole) handed to the daemon's outputs
 * (store, Kafka, Elasticsearch, subscribers) as its engine's windows are.
 *
 * A window is complete on partials partition X when every flows
 * partition has said (PROGRESS, on X) that its windows ending at or
 * before the window's end are written: the partials of a window come
 * before those PROGRESS messages on X (workers send PROGRESS only once
 * the partials it covers are acknowledged). Of the partials of one
 * (query, window, flows partition) the first whole one counts; later
 * ones (a dead worker's successor writing the window again) are counted
 * as duplicates and dropped. Offsets of X are committed up to the first
 * message of a window not yet emitted, with metadata "w=<ms>": every
 * window ending at or before it was emitted, so a merge instance taking
 * X over drops partials of those windows.
 *
 * Merged windows are marked replayed (rowset_t.replayed): written again,
 * they replace what the store holds, so a window emitted twice (after a
 * merge instance dies between emitting and committing) is stored once.
 */
#ifndef FLOWSQL_MERGE_H
#define FLOWSQL_MERGE_H

#include "engine/engine.h"
#include "util/diag.h"
#include "util/sbuf.h"

typedef struct merge merge_t;

typedef struct merge_config {
    const char *brokers;
    const char *partials_topic;
    const char *group;          /* consumer group (flowsql-merge) */
    const char *props;          /* --kafka-props */
    engine_t   *registry;       /* the daemon's engine: the queries (the
                                   workers' plans) and the outputs */
} merge_config_t;

merge_t *merge_start(const merge_config_t *cfg, diag_t *err);
void     merge_stop(merge_t *m);      /* NULL is fine */
void     merge_metrics(merge_t *m, sbuf_t *out);

#endif
