/*
 * c11threads.c - C11 threads (<threads.h>) on top of pthreads, linked
 * into the ThreadSanitizer build only (make TSAN=1).
 *
 * librdkafka creates its threads and locks its mutexes with C11's
 * thrd_create, mtx_lock, cnd_wait... glibc implements them by calling
 * its internal pthread functions directly, past ThreadSanitizer's
 * interceptors, and gcc 12's libtsan has no interceptors of its own for
 * them. A thread TSan did not see start crashes in TSan's allocator at
 * its first malloc, and locks it did not see would be reported as races.
 * Defined here in the executable, these names take precedence over
 * glibc's for librdkafka, and each forwards to the public pthread
 * function TSan intercepts. The types are glibc's: mtx_t, cnd_t and
 * once_flag hold a pthread_mutex_t, pthread_cond_t and pthread_once_t,
 * as glibc's own implementation assumes. Nothing of ours calls these.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <threads.h>

static int thrd_result(int rc)
{
    switch (rc) {
    case 0: return thrd_success;
    case ENOMEM: return thrd_nomem;
    case ETIMEDOUT: return thrd_timedout;
    case EBUSY: return thrd_busy;
    default: return thrd_error;
    }
}

typedef struct c11_start {
    thrd_start_t fn;
    void        *arg;
} c11_start_t;

/* The int a C11 thread returns travels as the pthread's void *, as in
 * glibc (thrd_join converts it back). */
static void *c11_trampoline(void *p)
{
    c11_start_t st = *(c11_start_t *)p;
    free(p);
    return (void *)(intptr_t)st.fn(st.arg);
}

int thrd_create(thrd_t *thr, thrd_start_t fn, void *arg)
{
    c11_start_t *st = malloc(sizeof(*st));
    if (!st)
        return thrd_nomem;
    st->fn = fn;
    st->arg = arg;
    int rc = pthread_create(thr, NULL, c11_trampoline, st);
    if (rc)
        free(st);
    return thrd_result(rc);
}

int thrd_join(thrd_t thr, int *res)
{
    void *r;
    int rc = pthread_join(thr, &r);
    if (rc == 0 && res)
        *res = (int)(intptr_t)r;
    return thrd_result(rc);
}

int thrd_detach(thrd_t thr)
{
    return thrd_result(pthread_detach(thr));
}

int mtx_init(mtx_t *m, int type)
{
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    if (type & mtx_recursive)
        pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
    int rc = pthread_mutex_init((pthread_mutex_t *)m, &attr);
    pthread_mutexattr_destroy(&attr);
    return thrd_result(rc);
}

int mtx_lock(mtx_t *m)
{
    return thrd_result(pthread_mutex_lock((pthread_mutex_t *)m));
}

int mtx_trylock(mtx_t *m)
{
    return thrd_result(pthread_mutex_trylock((pthread_mutex_t *)m));
}

int mtx_timedlock(mtx_t *restrict m, const struct timespec *restrict ts)
{
    return thrd_result(pthread_mutex_timedlock((pthread_mutex_t *)m, ts));
}

int mtx_unlock(mtx_t *m)
{
    return thrd_result(pthread_mutex_unlock((pthread_mutex_t *)m));
}

void mtx_destroy(mtx_t *m)
{
    pthread_mutex_destroy((pthread_mutex_t *)m);
}

int cnd_init(cnd_t *c)
{
    return thrd_result(pthread_cond_init((pthread_cond_t *)c, NULL));
}

int cnd_signal(cnd_t *c)
{
    return thrd_result(pthread_cond_signal((pthread_cond_t *)c));
}

int cnd_broadcast(cnd_t *c)
{
    return thrd_result(pthread_cond_broadcast((pthread_cond_t *)c));
}

int cnd_wait(cnd_t *c, mtx_t *m)
{
    return thrd_result(pthread_cond_wait((pthread_cond_t *)c,
                                         (pthread_mutex_t *)m));
}

int cnd_timedwait(cnd_t *restrict c, mtx_t *restrict m,
                  const struct timespec *restrict ts)
{
    return thrd_result(pthread_cond_timedwait((pthread_cond_t *)c,
                                              (pthread_mutex_t *)m, ts));
}

void cnd_destroy(cnd_t *c)
{
    pthread_cond_destroy((pthread_cond_t *)c);
}

void call_once(once_flag *flag, void (*fn)(void))
{
    pthread_once((pthread_once_t *)flag, fn);
}
