/*
 * bqueue.h - a bounded queue of pointers between threads.
 *
 * Producers never wait: bqueue_try_push() fails when the queue is full and
 * the producer counts the drop (ingest must not stall its socket, the
 * engine must not stall on a slow writer). Consumers wait with a timeout.
 * One mutex per queue; items are batches (thousands of flows or a whole
 * window), so the lock is taken a few thousand times a second at most.
 */
#ifndef FLOWSQL_BQUEUE_H
#define FLOWSQL_BQUEUE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

typedef struct bqueue {
    pthread_mutex_t lock;
    pthread_cond_t  nonempty;
    pthread_cond_t  nonfull;
    void          **items;
    size_t          cap, head, count;
    int             closed;
    uint64_t        pushed, dropped;   /* totals, for metrics */
} bqueue_t;

void bqueue_init(bqueue_t *q, size_t cap);
void bqueue_destroy(bqueue_t *q);    /* items left are the caller's */

/* 0 on success; -1 if full or closed (counted in q->dropped). */
int  bqueue_try_push(bqueue_t *q, void *item);
/* Wait while full (for producers that may block, e.g. file replay).
 * 0 on success, -1 if closed. */
int  bqueue_push_wait(bqueue_t *q, void *item);
/* Wait up to timeout_ms (-1 forever) for an item. NULL on timeout or when
 * closed and empty. */
void *bqueue_pop(bqueue_t *q, int timeout_ms);
/* Wake every waiter; pushes fail from now on, pops drain what is left. */
void bqueue_close(bqueue_t *q);
size_t bqueue_len(bqueue_t *q);

#endif
