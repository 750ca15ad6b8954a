/*
 * history.c - history runs of continuous queries over the archive; see
 * history.h.
 *
 *   archive_scan (this job's thread, received in [A, B), pushdown) -->
 *     engine (history mode, the one query) --on_window--> store writer
 *
 * [A, B) is [from, until) widened to the window grid (multiples of the
 * window's slide; back by size - slide for hopping windows), so that
 * every window holding a time of [from, until) whose end is at most B
 * gets all its flows; a window reaching past B is marked partial. The engine runs on this thread only; the store's
 * writer is shared with the live engine, so the run waits whenever the
 * writer's queue is a quarter full rather than have windows dropped.
 * The run's open windows count against the memory budget (--max-memory)
 * like a live query's; past a quarter of it the run fails, so that it
 * cannot starve the live queries.
 */
#include "server/history.h"
#include "enrich/enrich.h"
#include "archive/aquery.h"
#include "engine/engine.h"
#include "engine/mem.h"
#include "engine/pushdown.h"
#include "engine/schema.h"
#include "engine/qhandle.h"
#include "server/jobs.h"
#include "util/counter.h"
#include "util/log.h"
#include "util/timeutil.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static counter_t hist_windows, hist_rows, hist_flows;

typedef struct hist {
    app_t          *a;
    job_t          *job;
    char           *table;
    char           *dir;
    plan_t         *plan;        /* until registered in the engine */
    int64_t         A, B;        /* received range read, [A, B) */
    engine_t       *e;
    output_t        out;
    output_t       *store_out;
    job_progress_t  p;
    int64_t         last_pub;
    uint64_t        dropped0;
    uint64_t        fields;      /* the fields the run reads */
    flow_batch_t   *scratch;     /* a copy to enrich, when the query names
                                    enriched fields (never archived) */
    int             failed;
} hist_t;

static void publish(hist_t *h, int force)
{
    int64_t now = time_mono_ms();
    if (!force && now - h->last_pub < 200)
        return;
    h->last_pub = now;
    job_update(h->job, &h->p);
}

/* A closed window of the run (this thread, inside engine_process): mark
 * it, wait for room in the store's queue, hand it over. */
static void on_window(output_t *o, rowset_t *rs)
{
    hist_t *h = o->ctx;
    if (h->failed)
        return;
    if (rs->wstart < h->A || rs->wend > h->B)
        rs->partial = 1;
    store_stats_t st;
    for (;;) {
        store_stats(h->a->store, &st);
        if (st.queue_windows < 256 && st.queue_rows < 1000000)
            break;
        if (job_stopping(h->job))
            return;
        struct timespec ts = {0, 5000000};
        nanosleep(&ts, NULL);
    }
    h->store_out->on_window(h->store_out, rs);
    store_stats(h->a->store, &st);
    if (st.windows_dropped != h->dropped0) {
        job_fail(h->job, "the store dropped a window of %s (its queue "
                 "was full): the history is incomplete", h->table);
        h->failed = 1;
        return;
    }
    h->p.windows++;
    h->p.rows += rs->nrows;
    h->p.windows_partial += rs->partial != 0;
    ctr_inc(&hist_windows);
    ctr_add(&hist_rows, rs->nrows);
}

static int on_batch(void *ctx, const flow_batch_t *b)
{
    hist_t *h = ctx;
    if (h->failed || job_stopping(h->job))
        return 1;
    if (!b->n)
        return 0;
    uint64_t ef = engine_fields(h->e) & ENRICH_FIELDS;
    if (ef) {
        if (!h->scratch && !(h->scratch = flow_batch_new())) {
            h->failed = 1;
            return 1;
        }
        flow_batch_copy(h->scratch, b, h->fields);
        enrich_batch(h->scratch, ef);
        b = h->scratch;
    }
    engine_process(h->e, b);
    h->p.flows += b->n;
    ctr_add(&hist_flows, b->n);
    for (uint32_t i = 0; i < b->n; i++)
        if (b->received[i] > h->p.position)
            h->p.position = b->received[i];
    query_stats_t qs;
    int64_t lim = mem_limit();
    if (lim > 0 && engine_stats(h->e, h->table, &qs) == 0 &&
        (int64_t)qs.memory_bytes > lim / 4) {
        job_fail(h->job, "the run holds %lld bytes of open windows, more "
                 "than a quarter of the memory budget (--max-memory %lld): "
                 "it stops so as not to starve the live queries",
                 (long long)qs.memory_bytes, (long long)lim);
        h->failed = 1;
        return 1;
    }
    publish(h, 0);
    return h->failed;
}

static int run(job_t *j, void *arg)
{
    hist_t *h = arg;
    h->job = j;
    store_stats_t st;
    store_stats(h->a->store, &st);
    h->dropped0 = st.windows_dropped;

    scan_spec_t *spec = pushdown_build(h->plan, time_now_ms());
    arena_t *ar = arena_new();
    archive_pred_t pred;
    aquery_pred(spec, ar, &pred);
    pred.received = (archive_range_t){h->A, h->B - 1};
    uint64_t fields = spec->fields | 1ull << F_RECEIVED | 1ull << F_START |
                      1ull << F_END;
    h->fields = fields;
    diag_t err;
    diag_clear(&err);
    if (engine_register(h->e, h->table, h->plan, &err) < 0) {
        arena_free(ar);
        job_fail(j, "%s", err.msg);
        return -1;
    }
    h->plan = NULL;      /* the engine's now */
    int rc = archive_scan(h->dir, &pred, fields, ARCHIVE_SCAN_EXACT, on_batch,
                          h, NULL, &err);
    arena_free(ar);
    if (rc >= 0 && !h->failed && !job_stopping(j))
        engine_finish(h->e);
    publish(h, 1);
    query_stats_t qs;
    if (engine_stats(h->e, h->table, &qs) == 0 && qs.flows_overflow) {
        char buf[32];
        snprintf(buf, sizeof(buf), "%llu", (unsigned long long)qs.flows_overflow);
        job_set(j, "flows_overflow", buf);
    }
    if (rc < 0) {
        job_fail(j, "%s", err.msg);
        return -1;
    }
    return h->failed ? -1 : 0;
}

static void free_hist(void *arg)
{
    hist_t *h = arg;
    app_t *a = h->a;
    if (h->e) {
        engine_free(h->e);
        h->e = NULL;
    }
    flow_batch_free(h->scratch);
    h->scratch = NULL;
    if (h->table && a->store) {
        /* Everything queued is written before the catalog entry goes
         * (removing it discards its queued windows). */
        store_flush(a->store, 60000);
        diag_t err;
        if (store_query_remove(a->store, h->table, 1, &err) != STORE_OK)
            log_warn("history", "%s: %s", h->table, err.msg);
    }
    plan_free(h->plan);
    free(h->table);
    free(h->dir);
    free(h);
}

static int64_t floor_to(int64_t t, int64_t p)
{
    int64_t q = t / p;
    if (t % p != 0 && t < 0)
        q--;
    return q * p;
}

int history_start(app_t *a, const char *name, int64_t from, int64_t until,
                  const char *table, uint64_t *id, char **table_out,
                  diag_t *err)
{
    *id = 0;
    *table_out = NULL;
    if (!a->store) {
        diag_set(err, "history runs write to the store: storage is off");
        return 503;
    }
    if (from >= until) {
        diag_set(err, "the range is empty: \"from\" must be before \"until\"");
        return AE_BAD;
    }
    qhandle_t *qh = engine_get(a->engine, name);
    if (!qh) {
        diag_set(err, "no query named '%s'", name);
        return AE_NOTFOUND;
    }
    plan_t *p = plan_compile(qh->text, strlen(qh->text), a->cfg.max_groups,
                             err);
    if (!p) {
        qhandle_unref(qh);
        return AE_INTERNAL;
    }
    const char *store = plan_option(p, "store");
    if (!p->window.present || (store && (strcasecmp(store, "false") == 0 ||
                                         strcmp(store, "0") == 0))) {
        diag_set(err, "%s has %s: a history run stores windows", qh->name,
                 p->window.present ? "store = false" : "no WINDOW");
        plan_free(p);
        qhandle_unref(qh);
        return AE_BAD;
    }
    char tname[QNAME_MAX + 32];
    if (table && *table) {
        snprintf(tname, sizeof(tname), "%s", table);
    } else {
        time_t secs = (time_t)(floor_to(from, 1000) / 1000);
        struct tm tm;
        gmtime_r(&secs, &tm);
        char stamp[32];
        strftime(stamp, sizeof(stamp), "%Y%m%d%H%M%S", &tm);
        snprintf(tname, sizeof(tname), "%s__history_%s", qh->name, stamp);
    }
    if (strlen(tname) >= QNAME_MAX) {
        diag_set(err, "the history table's name '%s' is longer than %d "
                 "characters: name it (\"table\")", tname, QNAME_MAX - 1);
        plan_free(p);
        qhandle_unref(qh);
        return AE_BAD;
    }
    char lname[QNAME_MAX];
    qname_norm(lname, tname);
    if (engine_has(a->engine, lname)) {
        diag_set(err, "'%s' is a running query: a history run writes a "
                 "table of its own", lname);
        plan_free(p);
        qhandle_unref(qh);
        return AE_EXISTS;
    }
    /* The window grid: slides from the epoch. The first window that
     * holds `from` starts a window's size before the slide after it. */
    int64_t slide = p->window.slide > 0 ? p->window.slide : 1;
    int64_t size = p->window.size > slide ? p->window.size : slide;
    hist_t *h = xcalloc(1, sizeof(*h));
    h->a = a;
    h->plan = p;
    h->A = floor_to(from, slide) - (size - slide);
    h->B = floor_to(until - 1, slide) + slide;
    char dir[4096];
    if (a->archive)
        snprintf(dir, sizeof(dir), "%s", archive_dir(a->archive));
    else
        snprintf(dir, sizeof(dir), "%s/archive", a->cfg.data_dir);
    h->dir = xstrdup(dir);

    /* The table: a catalog entry for the run's length (the store writes
     * windows of catalog entries only), kept as a table after it. */
    rowset_opt_t opts[] = {{"retention", "999999999"}};
    store_query_def_t def = {.name = lname, .text = qh->text, .opts = opts,
                             .nopts = 1, .cols = qh->cols,
                             .ncols = qh->ncols, .state = HISTORY_STATE};
    qhandle_unref(qh);
    int rc = store_query_add(a->store, &def, err);
    if (rc != STORE_OK) {
        plan_free(p);
        free(h->dir);
        free(h);
        return rc == STORE_EEXIST ? AE_EXISTS
               : rc == STORE_EINVALID ? AE_BAD : AE_INTERNAL;
    }
    h->table = xstrdup(lname);
    if (store_table_set_kind(a->store, lname, "history", err) != STORE_OK)
        log_warn("history", "%s: cannot mark the table: %s", lname, err->msg);
    diag_clear(err);

    engine_config_t ec = {.replay = 1, .history = 1,
                          .max_groups = a->cfg.max_groups};
    h->e = engine_new(&ec);
    h->out.name = "history";
    h->out.on_window = on_window;
    h->out.ctx = h;
    h->store_out = store_output(a->store);
    engine_add_output(h->e, &h->out);

    char what[300];
    snprintf(what, sizeof(what), "history of %s into %s", name, lname);
    int busy;
    *id = jobs_start(a->jobs, JOB_HISTORY, what, h->A, h->B, run, free_hist,
                     h, &busy, err);
    if (!*id) {
        free_hist(h);
        return busy ? AE_LIMIT : AE_INTERNAL;
    }
    *table_out = xstrdup(lname);
    return AE_OK;
}

void history_metrics(sbuf_t *out)
{
    sbuf_printf(out,
        "# HELP flowsql_history_flows_total Archived flows read by history "
        "runs.\n# TYPE flowsql_history_flows_total counter\n"
        "flowsql_history_flows_total %llu\n"
        "# HELP flowsql_history_windows_total Windows history runs wrote.\n"
        "# TYPE flowsql_history_windows_total counter\n"
        "flowsql_history_windows_total %llu\n"
        "# HELP flowsql_history_rows_total Rows of those windows.\n"
        "# TYPE flowsql_history_rows_total counter\n"
        "flowsql_history_rows_total %llu\n",
        (unsigned long long)ctr_get(&hist_flows),
        (unsigned long long)ctr_get(&hist_windows),
        (unsigned long long)ctr_get(&hist_rows));
}
