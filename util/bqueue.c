/* bqueue.c - bounded pointer queue; see bqueue.h. */
#include "util/bqueue.h"
#include "util/arena.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

void bqueue_init(bqueue_t *q, size_t cap)
{
    pthread_mutex_init(&q->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&q->nonempty, &ca);
    pthread_cond_init(&q->nonfull, &ca);
    pthread_condattr_destroy(&ca);
    q->cap = cap ? cap : 1;
    q->items = xcalloc(q->cap, sizeof(void *));
    q->head = q->count = 0;
    q->closed = 0;
    q->pushed = q->dropped = 0;
}

void bqueue_destroy(bqueue_t *q)
{
    pthread_mutex_destroy(&q->lock);
    pthread_cond_destroy(&q->nonempty);
    pthread_cond_destroy(&q->nonfull);
    free(q->items);
    q->items = NULL;
}

static void put(bqueue_t *q, void *item)
{
    q->items[(q->head + q->count) % q->cap] = item;
    q->count++;
    q->pushed++;
    pthread_cond_signal(&q->nonempty);
}

int bqueue_try_push(bqueue_t *q, void *item)
{
    pthread_mutex_lock(&q->lock);
    if (q->closed || q->count == q->cap) {
        q->dropped++;
        pthread_mutex_unlock(&q->lock);
        return -1;
    }
    put(q, item);
    pthread_mutex_unlock(&q->lock);
    return 0;
}

int bqueue_push_wait(bqueue_t *q, void *item)
{
    pthread_mutex_lock(&q->lock);
    while (!q->closed && q->count == q->cap)
        pthread_cond_wait(&q->nonfull, &q->lock);
    if (q->closed) {
        pthread_mutex_unlock(&q->lock);
        return -1;
    }
    put(q, item);
    pthread_mutex_unlock(&q->lock);
    return 0;
}

void *bqueue_pop(bqueue_t *q, int timeout_ms)
{
    struct timespec until;
    if (timeout_ms >= 0) {
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += timeout_ms / 1000;
        until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
    }
    pthread_mutex_lock(&q->lock);
    while (q->count == 0 && !q->closed) {
        if (timeout_ms < 0) {
            pthread_cond_wait(&q->nonempty, &q->lock);
        } else if (pthread_cond_timedwait(&q->nonempty, &q->lock, &until) ==
                   ETIMEDOUT) {
            break;
        }
    }
    void *item = NULL;
    if (q->count) {
        item = q->items[q->head];
        q->head = (q->head + 1) % q->cap;
        q->count--;
        pthread_cond_signal(&q->nonfull);
    }
    pthread_mutex_unlock(&q->lock);
    return item;
}

void bqueue_close(bqueue_t *q)
{
    pthread_mutex_lock(&q->lock);
    q->closed = 1;
    pthread_cond_broadcast(&q->nonempty);
    pthread_cond_broadcast(&q->nonfull);
    pthread_mutex_unlock(&q->lock);
}

size_t bqueue_len(bqueue_t *q)
{
    pthread_mutex_lock(&q->lock);
    size_t n = q->count;
    pthread_mutex_unlock(&q->lock);
    return n;
}
