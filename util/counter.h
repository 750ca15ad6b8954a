/*
 * counter.h - counters and flags shared between threads (C11 atomics).
 *
 * The one place flowsql says how threads share a number. A counter that
 * one thread bumps and another reads (/metrics, SHOW QUERIES) is a
 * counter_t; a value that goes up and down is a gauge_t; a flag one
 * thread sets and another polls (stop, running) is a flag_t.
 *
 * Counters and gauges use relaxed order: they publish nothing but
 * themselves. Flags use release (set) and acquire (get), so what a thread
 * wrote before it raised a flag is seen by the thread that sees the flag.
 * A plain or volatile int shared between threads is a data race (and a
 * ThreadSanitizer report): use these instead.
 *
 * A refcount_t counts the owners of a shared object: ref_get() adds one
 * (relaxed: the caller already holds a reference), ref_put() drops one
 * and returns 1 to the caller that dropped the last (acquire-release, so
 * every owner's writes happen before the object is freed).
 *
 * ctr_add_own() is for counters with a single writer on a hot path: a
 * relaxed load and store, no locked instruction, still race-free for
 * readers on other threads.
 */
#ifndef FLOWSQL_COUNTER_H
#define FLOWSQL_COUNTER_H

#include <stdatomic.h>
#include <stdint.h>

typedef _Atomic uint64_t counter_t;
typedef _Atomic int64_t  gauge_t;
typedef atomic_int       flag_t;
typedef _Atomic uint32_t refcount_t;

#define CTR_RELAXED memory_order_relaxed

static inline void ctr_add(counter_t *c, uint64_t n)
{
    atomic_fetch_add_explicit(c, n, CTR_RELAXED);
}

static inline void ctr_inc(counter_t *c)
{
    atomic_fetch_add_explicit(c, 1, CTR_RELAXED);
}

static inline void ctr_sub(counter_t *c, uint64_t n)
{
    atomic_fetch_sub_explicit(c, n, CTR_RELAXED);
}

/* Single writer: no read-modify-write instruction. */
static inline void ctr_add_own(counter_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, CTR_RELAXED) + n,
                          CTR_RELAXED);
}

static inline uint64_t ctr_get(counter_t *c)
{
    return atomic_load_explicit(c, CTR_RELAXED);
}

static inline void ctr_set(counter_t *c, uint64_t v)
{
    atomic_store_explicit(c, v, CTR_RELAXED);
}

/* Add one and return the value before: hands out work items (indices)
 * to threads that each take the next one not taken. */
static inline uint64_t ctr_take(counter_t *c)
{
    return atomic_fetch_add_explicit(c, 1, CTR_RELAXED);
}

static inline void gauge_add(gauge_t *g, int64_t n)
{
    atomic_fetch_add_explicit(g, n, CTR_RELAXED);
}

static inline int64_t gauge_get(gauge_t *g)
{
    return atomic_load_explicit(g, CTR_RELAXED);
}

static inline void gauge_set(gauge_t *g, int64_t v)
{
    atomic_store_explicit(g, v, CTR_RELAXED);
}

/* Raise the gauge to v if it is lower (a high-water mark). */
static inline void gauge_max(gauge_t *g, int64_t v)
{
    int64_t cur = atomic_load_explicit(g, CTR_RELAXED);
    while (cur < v &&
           !atomic_compare_exchange_weak_explicit(g, &cur, v, CTR_RELAXED,
                                                  CTR_RELAXED))
        ;
}

static inline void flag_set(flag_t *f, int v)
{
    atomic_store_explicit(f, v, memory_order_release);
}

static inline int flag_get(flag_t *f)
{
    return atomic_load_explicit(f, memory_order_acquire);
}

static inline void ref_init(refcount_t *r, uint32_t n)
{
    atomic_init(r, n);
}

static inline void ref_get(refcount_t *r)
{
    atomic_fetch_add_explicit(r, 1, CTR_RELAXED);
}

/* 1 when that was the last reference: the caller frees the object. */
static inline int ref_put(refcount_t *r)
{
    return atomic_fetch_sub_explicit(r, 1, memory_order_acq_rel) == 1;
}

#endif
