/*
 * jobs.c - the registry of background jobs; see jobs.h.
 *
 * The registry's lock guards the list and every job's fields but the
 * thread's own locals; a job's thread takes it to publish progress (a
 * few times a second at most) and to end. Ended jobs are kept, newest
 * first, up to JOBS_KEPT; their threads are joined when they are
 * dropped from the list or when the registry is freed.
 */
#include "server/jobs.h"
#include "util/arena.h"
#include "util/counter.h"
#include "util/log.h"
#include "util/timeutil.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JOB_KV 4

struct job {
    jobs_t         *js;
    uint64_t        id;
    int             kind, state;
    char           *what;
    int64_t         lo, hi;
    int64_t         started, ended;      /* wall clock, ms */
    int64_t         deadline;            /* monotonic, ms; 0 none */
    flag_t          cancel;
    int             timed_out;
    job_progress_t  p;
    char            error[512];
    char           *key[JOB_KV], *val[JOB_KV];
    pthread_t       thread;
    int             joined;
    int (*run)(job_t *j, void *arg);
    void (*free_arg)(void *arg);
    void           *arg;
    job_t          *next;
};

struct jobs {
    pthread_mutex_t lock;
    job_t          *list;        /* newest first */
    uint64_t        next_id;
    int64_t         timeout_ms;
    counter_t       ended[JOB_NKINDS][JOB_NSTATES];
    counter_t       refused;
    int             stopping;    /* jobs_stop: no new jobs */
};

static const char *kind_names[] = {"history", "replay"};
static const char *state_names[] = {"running", "done", "failed", "cancelled"};

jobs_t *jobs_new(int64_t timeout_ms)
{
    jobs_t *js = xcalloc(1, sizeof(*js));
    pthread_mutex_init(&js->lock, NULL);
    js->next_id = 1;
    js->timeout_ms = timeout_ms;
    return js;
}

static void job_free(job_t *j)
{
    free(j->what);
    for (int i = 0; i < JOB_KV; i++) {
        free(j->key[i]);
        free(j->val[i]);
    }
    free(j);
}

void jobs_stop(jobs_t *js)
{
    if (!js)
        return;
    pthread_mutex_lock(&js->lock);
    js->stopping = 1;
    int n = 0;
    for (job_t *j = js->list; j; j = j->next) {
        flag_set(&j->cancel, 1);
        n += !j->joined;
    }
    job_t **wait = xcalloc((size_t)n + 1, sizeof(*wait));
    n = 0;
    for (job_t *j = js->list; j; j = j->next)
        if (!j->joined)
            wait[n++] = j;
    pthread_mutex_unlock(&js->lock);
    /* The list only shrinks in jobs_start, which is refused from now. */
    for (int i = 0; i < n; i++)
        pthread_join(wait[i]->thread, NULL);
    pthread_mutex_lock(&js->lock);
    for (int i = 0; i < n; i++)
        wait[i]->joined = 1;
    pthread_mutex_unlock(&js->lock);
    free(wait);
}

void jobs_free(jobs_t *js)
{
    if (!js)
        return;
    jobs_stop(js);
    job_t *l = js->list;
    while (l) {
        job_t *n = l->next;
        job_free(l);
        l = n;
    }
    pthread_mutex_destroy(&js->lock);
    free(js);
}

static void *job_main(void *arg)
{
    job_t *j = arg;
    jobs_t *js = j->js;
    int rc = j->run(j, j->arg);
    if (j->free_arg)
        j->free_arg(j->arg);
    pthread_mutex_lock(&js->lock);
    if (j->timed_out) {
        j->state = JOB_FAILED;
        if (!j->error[0])
            snprintf(j->error, sizeof(j->error), "time limit of %lld ms "
                     "reached (--job-timeout)", (long long)js->timeout_ms);
    } else if (flag_get(&j->cancel)) {
        j->state = JOB_CANCELLED;
    } else if (rc < 0) {
        j->state = JOB_FAILED;
        if (!j->error[0])
            snprintf(j->error, sizeof(j->error), "failed");
    } else {
        j->state = JOB_DONE;
    }
    j->ended = time_now_ms();
    ctr_inc(&js->ended[j->kind][j->state]);
    pthread_mutex_unlock(&js->lock);
    log_info("jobs", "job %llu (%s) %s%s%s", (unsigned long long)j->id,
             kind_names[j->kind], state_names[j->state],
             j->error[0] ? ": " : "", j->error);
    return NULL;
}

/* Drop ended jobs past the JOBS_KEPT newest (under the lock); returns
 * the dropped ones, to be joined and freed outside it. */
static job_t *trim(jobs_t *js)
{
    int kept = 0;
    job_t **pp = &js->list, *gone = NULL;
    while (*pp) {
        job_t *j = *pp;
        if (j->state != JOB_RUNNING && ++kept > JOBS_KEPT) {
            *pp = j->next;
            j->next = gone;
            gone = j;
            continue;
        }
        pp = &j->next;
    }
    return gone;
}

uint64_t jobs_start(jobs_t *js, int kind, const char *what, int64_t lo,
                    int64_t hi, int (*run)(job_t *j, void *arg),
                    void (*free_arg)(void *arg), void *arg, int *busy,
                    diag_t *err)
{
    *busy = 0;
    pthread_mutex_lock(&js->lock);
    if (js->stopping) {
        pthread_mutex_unlock(&js->lock);
        diag_set(err, "flowsqld is stopping: no new jobs");
        return 0;
    }
    int running = 0;
    for (job_t *j = js->list; j; j = j->next)
        running += j->state == JOB_RUNNING;
    if (running >= JOBS_MAX_RUNNING) {
        pthread_mutex_unlock(&js->lock);
        ctr_inc(&js->refused);
        *busy = 1;
        diag_set(err, "too many jobs running (at most %d): wait for one to "
                 "end, or cancel one (DELETE /api/v1/jobs/{id})",
                 JOBS_MAX_RUNNING);
        return 0;
    }
    job_t *j = xcalloc(1, sizeof(*j));
    j->js = js;
    j->id = js->next_id++;
    j->kind = kind;
    j->state = JOB_RUNNING;
    j->what = xstrdup(what);
    j->lo = lo;
    j->hi = hi;
    j->started = time_now_ms();
    j->deadline = js->timeout_ms > 0 ? time_mono_ms() + js->timeout_ms : 0;
    j->run = run;
    j->free_arg = free_arg;
    j->arg = arg;
    int rc = pthread_create(&j->thread, NULL, job_main, j);
    if (rc != 0) {
        pthread_mutex_unlock(&js->lock);
        diag_set(err, "cannot start a job: %s", strerror(rc));
        job_free(j);
        return 0;
    }
    j->next = js->list;
    js->list = j;
    job_t *gone = trim(js);
    uint64_t id = j->id;
    pthread_mutex_unlock(&js->lock);
    while (gone) {
        job_t *n = gone->next;
        if (!gone->joined)
            pthread_join(gone->thread, NULL);
        job_free(gone);
        gone = n;
    }
    return id;
}

static json_t *time_json(int64_t ms)
{
    char buf[40];
    return json_string(time_format_iso(ms, buf, sizeof(buf)));
}

/* Under the lock. */
static json_t *job_json(const job_t *j)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer((json_int_t)j->id));
    json_object_set_new(o, "kind", json_string(kind_names[j->kind]));
    json_object_set_new(o, "state", json_string(state_names[j->state]));
    json_object_set_new(o, "what", json_string(j->what));
    for (int i = 0; i < JOB_KV && j->key[i]; i++)
        json_object_set_new(o, j->key[i], json_string(j->val[i]));
    if (j->lo != INT64_MIN)
        json_object_set_new(o, "from", time_json(j->lo));
    if (j->hi != INT64_MAX)
        json_object_set_new(o, "until", time_json(j->hi));
    json_object_set_new(o, "started", time_json(j->started));
    if (j->state != JOB_RUNNING)
        json_object_set_new(o, "ended", time_json(j->ended));
    int64_t end = j->state == JOB_RUNNING ? time_now_ms() : j->ended;
    json_object_set_new(o, "elapsed_ms", json_integer(end - j->started));
    double prog = 0;
    if (j->state == JOB_DONE)
        prog = 1;
    else if (j->p.position && j->lo != INT64_MIN && j->hi != INT64_MAX &&
             j->hi > j->lo)
        prog = (double)(j->p.position - j->lo) / (double)(j->hi - j->lo);
    if (prog < 0)
        prog = 0;
    if (prog > 1)
        prog = 1;
    json_object_set_new(o, "progress", json_real((double)(int)(prog * 1000) / 1000));
    if (j->p.position)
        json_object_set_new(o, "position", time_json(j->p.position));
    json_object_set_new(o, "flows", json_integer((json_int_t)j->p.flows));
    if (j->kind == JOB_REPLAY) {
        json_object_set_new(o, "flows_sent", json_integer((json_int_t)j->p.flows_sent));
        json_object_set_new(o, "messages", json_integer((json_int_t)j->p.messages));
        json_object_set_new(o, "bytes", json_integer((json_int_t)j->p.bytes));
    } else {
        json_object_set_new(o, "windows", json_integer((json_int_t)j->p.windows));
        json_object_set_new(o, "windows_partial",
                            json_integer((json_int_t)j->p.windows_partial));
        json_object_set_new(o, "rows", json_integer((json_int_t)j->p.rows));
    }
    if (j->error[0])
        json_object_set_new(o, "error", json_string(j->error));
    return o;
}

json_t *jobs_list(jobs_t *js)
{
    json_t *a = json_array();
    pthread_mutex_lock(&js->lock);
    for (job_t *j = js->list; j; j = j->next)
        json_array_append_new(a, job_json(j));
    pthread_mutex_unlock(&js->lock);
    json_t *o = json_object();
    json_object_set_new(o, "jobs", a);
    return o;
}

static job_t *find(jobs_t *js, uint64_t id)
{
    for (job_t *j = js->list; j; j = j->next)
        if (j->id == id)
            return j;
    return NULL;
}

json_t *jobs_get(jobs_t *js, uint64_t id)
{
    pthread_mutex_lock(&js->lock);
    job_t *j = find(js, id);
    json_t *o = j ? job_json(j) : NULL;
    pthread_mutex_unlock(&js->lock);
    return o;
}

int jobs_cancel(jobs_t *js, uint64_t id)
{
    pthread_mutex_lock(&js->lock);
    job_t *j = find(js, id);
    int rc = !j ? -1 : j->state != JOB_RUNNING ? 1 : 0;
    if (rc == 0)
        flag_set(&j->cancel, 1);
    pthread_mutex_unlock(&js->lock);
    return rc;
}

int jobs_state(jobs_t *js, uint64_t id)
{
    pthread_mutex_lock(&js->lock);
    job_t *j = find(js, id);
    int st = j ? j->state : -1;
    pthread_mutex_unlock(&js->lock);
    return st;
}

void jobs_metrics(jobs_t *js, sbuf_t *out)
{
    int running[JOB_NKINDS] = {0};
    pthread_mutex_lock(&js->lock);
    for (job_t *j = js->list; j; j = j->next)
        running[j->kind] += j->state == JOB_RUNNING;
    pthread_mutex_unlock(&js->lock);
    sbuf_add(out, "# HELP flowsql_jobs_running Background jobs (history, "
             "replay) running now.\n# TYPE flowsql_jobs_running gauge\n");
    for (int k = 0; k < JOB_NKINDS; k++)
        sbuf_printf(out, "flowsql_jobs_running{kind=\"%s\"} %d\n",
                    kind_names[k], running[k]);
    sbuf_add(out, "# HELP flowsql_jobs_ended_total Background jobs ended, "
             "by kind and how.\n# TYPE flowsql_jobs_ended_total counter\n");
    for (int k = 0; k < JOB_NKINDS; k++)
        for (int s = JOB_DONE; s < JOB_NSTATES; s++)
            sbuf_printf(out, "flowsql_jobs_ended_total{kind=\"%s\",state="
                        "\"%s\"} %llu\n", kind_names[k], state_names[s],
                        (unsigned long long)ctr_get(&js->ended[k][s]));
    sbuf_printf(out, "# HELP flowsql_jobs_refused_total Jobs refused: %d "
                "were running.\n# TYPE flowsql_jobs_refused_total counter\n"
                "flowsql_jobs_refused_total %llu\n", JOBS_MAX_RUNNING,
                (unsigned long long)ctr_get(&js->refused));
}

/* ---- the job's side ---- */

int job_stopping(job_t *j)
{
    if (flag_get(&j->cancel))
        return 1;
    if (j->deadline && time_mono_ms() >= j->deadline) {
        pthread_mutex_lock(&j->js->lock);
        j->timed_out = 1;
        pthread_mutex_unlock(&j->js->lock);
        return 1;
    }
    return 0;
}

const char *job_timed_out(job_t *j)
{
    pthread_mutex_lock(&j->js->lock);
    int t = j->timed_out;
    pthread_mutex_unlock(&j->js->lock);
    return t ? "time limit reached (--job-timeout)" : NULL;
}

void job_update(job_t *j, const job_progress_t *p)
{
    pthread_mutex_lock(&j->js->lock);
    j->p = *p;
    pthread_mutex_unlock(&j->js->lock);
}

void job_fail(job_t *j, const char *fmt, ...)
{
    pthread_mutex_lock(&j->js->lock);
    if (!j->error[0]) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(j->error, sizeof(j->error), fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&j->js->lock);
}

void job_set(job_t *j, const char *key, const char *value)
{
    pthread_mutex_lock(&j->js->lock);
    for (int i = 0; i < JOB_KV; i++) {
        if (j->key[i] && strcmp(j->key[i], key) == 0) {
            free(j->val[i]);
            j->val[i] = xstrdup(value);
            break;
        }
        if (!j->key[i]) {
            j->key[i] = xstrdup(key);
            j->val[i] = xstrdup(value);
            break;
        }
    }
    pthread_mutex_unlock(&j->js->lock);
}

uint64_t job_id(const job_t *j)
{
    return j->id;
}
