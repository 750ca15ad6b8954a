/*
 * jobs.h - background jobs over the archive: history runs of a
 * continuous query (server/history.c) and IPFIX replays to another
 * collector (server/sendjob.c). Each job runs in a thread of its own,
 * beside the live engine and never in it; the REST API lists them,
 * shows their progress and cancels them:
 *
 *   GET    /api/v1/jobs          every job (running, and the last ended)
 *   GET    /api/v1/jobs/{id}     one job
 *   DELETE /api/v1/jobs/{id}     cancel a running job
 *
 * A job has a kind, a state (running, done, failed, cancelled), a
 * description, its received-time range and how far it got in it
 * (progress 0..1), counters the job fills (flows read and sent, windows
 * and rows written, messages, bytes), an error, and for a history run
 * the table it writes. At most JOBS_MAX_RUNNING run at once (more: 429),
 * the last JOBS_KEPT ended ones are kept for GET. Each job has a time
 * limit (--job-timeout): past it the job fails, saying so.
 */
#ifndef FLOWSQL_JOBS_H
#define FLOWSQL_JOBS_H

#include <jansson.h>
#include <stdint.h>

#include "util/diag.h"
#include "util/sbuf.h"

#define JOBS_MAX_RUNNING 4
#define JOBS_KEPT 32

enum job_kind { JOB_HISTORY, JOB_REPLAY, JOB_NKINDS };
enum job_state { JOB_RUNNING, JOB_DONE, JOB_FAILED, JOB_CANCELLED,
                 JOB_NSTATES };

typedef struct jobs jobs_t;
typedef struct job job_t;

/* What a job reports; filled by the job with job_update(). */
typedef struct job_progress {
    int64_t  position;      /* received time reached (ms), 0: not yet */
    uint64_t flows;         /* flows read (matching) */
    uint64_t flows_sent;    /* replay: records sent */
    uint64_t messages;      /* replay: IPFIX messages sent */
    uint64_t bytes;         /* replay: bytes sent */
    uint64_t windows;       /* history: windows written */
    uint64_t rows;          /* history: rows written */
    uint64_t windows_partial; /* history: of them, cut by the range */
} job_progress_t;

jobs_t *jobs_new(int64_t timeout_ms);
/* Cancel every running job and wait for them; no job starts after it
 * (the daemon stops: before the store closes). NULL is fine. */
void    jobs_stop(jobs_t *js);
/* jobs_stop, then free. NULL is fine. */
void    jobs_free(jobs_t *js);

/*
 * Start a job: run(j, arg) in a new thread; it returns 0 (done) or -1
 * with the error set by job_fail(); a job cancelled meanwhile ends
 * cancelled whatever it returns. free_arg(arg) is called when the thread
 * ends (may be NULL). what describes the job (copied); [lo, hi] is its
 * received range (for progress; INT64_MIN/MAX when open). Returns the
 * job's id (> 0), or 0 with err set (too many running: *busy = 1);
 * then the caller still owns arg.
 */
uint64_t jobs_start(jobs_t *js, int kind, const char *what, int64_t lo,
                    int64_t hi, int (*run)(job_t *j, void *arg),
                    void (*free_arg)(void *arg), void *arg, int *busy,
                    diag_t *err);

/* JSON of every job (newest first) or of one (NULL if unknown). */
json_t *jobs_list(jobs_t *js);
json_t *jobs_get(jobs_t *js, uint64_t id);
/* Ask a running job to stop: 0, -1 unknown id, 1 already ended. */
int     jobs_cancel(jobs_t *js, uint64_t id);
/* The state of a job, -1 if unknown (tests, the shell). */
int     jobs_state(jobs_t *js, uint64_t id);

/* flowsql_jobs_* metrics (docs/METRICS.md). */
void    jobs_metrics(jobs_t *js, sbuf_t *out);

/* ---- for the job's thread ---- */

/* 1 once the job is cancelled or past its time limit: stop soon. */
int  job_stopping(job_t *j);
/* Replace the job's progress (copied under the job's lock). */
void job_update(job_t *j, const job_progress_t *p);
/* Record the job's error (the first one wins). */
void job_fail(job_t *j, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Set a result member shown in the job's JSON ("table", "to"...). */
void job_set(job_t *j, const char *key, const char *value);
uint64_t job_id(const job_t *j);
/* The time limit's message if the job stopped for it, else NULL. */
const char *job_timed_out(job_t *j);

#endif
