/*
 * live.h - live subscribers: an output that hands each closed window to
 * the clients following that query (the REST stream endpoint, the
 * shell's \watch). Each subscriber has a small bounded queue (64
 * windows, and at most live_set_queue_bytes() of them once it holds
 * one); a client too slow to keep up loses windows, counted, and never
 * slows the engine nor grows without bound.
 */
#ifndef FLOWSQL_LIVE_H
#define FLOWSQL_LIVE_H

#include <stdint.h>

#include "engine/qhandle.h"
#include "engine/rowset.h"

/* Subscribers follow a query's handle (engine/qhandle.h), not its name:
 * a window goes to the subscribers of the handle it carries (rs->qh), so
 * a query dropped and registered again under its name never feeds the
 * old streams. */
typedef struct live live_t;
typedef struct live_sub live_sub_t;

live_t   *live_new(int max_subscribers);
void      live_free(live_t *l);
output_t *live_output(live_t *l);

/* Bound each subscriber's queue to max_bytes of windows (0: by count
 * only). A window larger than that is still taken by an empty queue. */
void      live_set_queue_bytes(live_t *l, int64_t max_bytes);

/* Follow a query's windows (the subscriber keeps a reference to h).
 * NULL when the subscriber cap is reached. A handle already dropped
 * gives a stream that has ended. */
live_sub_t *live_subscribe(live_t *l, qhandle_t *h);
/* The next window (a reference the caller drops with rowset_unref), or
 * NULL after timeout_ms or once live_close_query() ended the stream. */
rowset_t   *live_next(live_t *l, live_sub_t *s, int timeout_ms, int *ended);
void        live_unsubscribe(live_t *l, live_sub_t *s);
/* End every stream of a query (it was dropped). */
void        live_close_query(live_t *l, const qhandle_t *h);
int         live_count(live_t *l, const qhandle_t *h);  /* NULL: all */
uint64_t    live_dropped(live_t *l);
int64_t     live_queued_bytes(live_t *l);   /* held by all queues */
/* Wall clock of the last time the query had no subscriber (0 if it has
 * one now), for dropping abandoned temporary queries. */
int64_t     live_idle_since(live_t *l, const qhandle_t *h);

#endif
