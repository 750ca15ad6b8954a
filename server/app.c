/*
 * app.c - the daemon's parts wired together: query management shared by
 * every interface, the engine thread, saved query files. See app.h.
 */
#include "server/app.h"
#include "archive/aquery.h"
#include "enrich/anon.h"
#include "enrich/enrich.h"
#include "engine/plan.h"
#include "engine/qhandle.h"
#include "server/history.h"
#include "server/jobs.h"
#include "util/arena.h"
#include "util/file.h"
#include "util/log.h"
#include "util/timeutil.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

/* ---- engine thread ---------------------------------------------------- */

static void *engine_main(void *arg)
{
    app_t *a = arg;
    int64_t last_tick = 0;
    for (;;) {
        flow_batch_t *b = bqueue_pop(&a->flows, 50);
        if (b) {
            sampling_apply(a->sampling, b);
            /* Enriched fields before anonymization: they are looked up
             * by the real addresses (docs/ENRICHMENT.md). */
            enrich_batch(b, engine_fields(a->engine));
            if (a->anon && (a->anon_scope & ANON_ALL))
                anon_batch(a->anon, b);
            if (a->publish)
                a->publish(a->publish_ctx, b);
            engine_process(a->engine, b);
            if (a->anon && (a->anon_scope & (ANON_ALL | ANON_ARCHIVE)) ==
                               ANON_ARCHIVE)
                anon_batch(a->anon, b);
            /* The archive releases the batches it takes, later, from
             * its own thread; the engine never waits for it. */
            if (!a->archive || archive_submit(a->archive, b) < 0) {
                pthread_mutex_lock(&a->release_lock);
                if (a->release)
                    a->release(a->release_ctx, b);
                else
                    flow_batch_free(b);
                pthread_mutex_unlock(&a->release_lock);
            }
        } else if (flag_get(&a->stop)) {
            break;
        }
        int64_t now = time_now_ms();
        if (now - last_tick >= 50) {
            int64_t clock = engine_clock(a->engine, now,
                                         bqueue_len(&a->flows));
            engine_tick(a->engine, clock);
            if (a->publish_tick)
                a->publish_tick(a->publish_ctx, clock);
            last_tick = now;
        }
    }
    /* Close every open window as it stands: a partial window is still
     * data the operator wants. */
    engine_finish(a->engine);
    return NULL;
}

/* The anonymizer --anonymize asks for, or NULL (off, or an error: *bad
 * set and err says why). */
static anon_t *make_anon(const config_t *cfg, unsigned *scope, int *bad,
                         diag_t *err)
{
    *bad = 0;
    if (!*cfg->anonymize || strcmp(cfg->anonymize, "off") == 0)
        return NULL;
    *bad = 1;
    if (anon_parse_scope(cfg->anonymize_scope, scope, err) < 0)
        return NULL;
    if (strcmp(cfg->anonymize, "truncate") == 0) {
        int v4, v6, n = 0;
        if (sscanf(cfg->anonymize_truncate, "%d,%d%n", &v4, &v6, &n) != 2 ||
            cfg->anonymize_truncate[n] || v4 < 0 || v4 > 32 || v6 < 0 ||
            v6 > 128) {
            diag_set(err, "--anonymize-truncate: '%s' is not V4BITS,V6BITS "
                     "(0-32,0-128), e.g. 24,48", cfg->anonymize_truncate);
            return NULL;
        }
        *bad = 0;
        return anon_truncate(v4, v6);
    }
    if (strcmp(cfg->anonymize, "cryptopan") != 0) {
        diag_set(err, "--anonymize: '%s' is not off, cryptopan or truncate",
                 cfg->anonymize);
        return NULL;
    }
    if (!*cfg->anonymize_key) {
        diag_set(err, "--anonymize cryptopan needs --anonymize-key FILE "
                 "(32 random bytes, e.g. head -c 32 /dev/urandom > FILE)");
        return NULL;
    }
    uint8_t key[32];
    if (anon_read_key(cfg->anonymize_key, key, err) < 0)
        return NULL;
    anon_t *an = anon_cryptopan(key, err);
    memset(key, 0, sizeof(key));
    if (an)
        *bad = 0;
    return an;
}

output_t *app_anon_output(app_t *a, output_t *o, unsigned scope)
{
    if (!a->anon || (a->anon_scope & ANON_ALL) || !(a->anon_scope & scope))
        return o;
    return anon_output(a->anon, o);
}

int app_meter_config(const config_t *cfg, meter_config_t *mc, diag_t *err)
{
    meter_config_t d = METER_CONFIG_INIT;
    *mc = d;
    mc->active_s = cfg->pcap_active_s;
    mc->idle_s = cfg->pcap_idle_s;
    if (strcmp(cfg->pcap_biflow, "on") && strcmp(cfg->pcap_biflow, "off")) {
        diag_set(err, "--pcap-biflow: '%s' is not on or off",
                 cfg->pcap_biflow);
        return -1;
    }
    mc->biflow = strcmp(cfg->pcap_biflow, "on") == 0;
    if (cfg->pcap_max_flows < 1 || cfg->pcap_max_flows > METER_MAX_FLOWS) {
        diag_set(err, "--pcap-max-flows: %lld is not between 1 and %u",
                 (long long)cfg->pcap_max_flows, METER_MAX_FLOWS);
        return -1;
    }
    mc->max_flows = (size_t)cfg->pcap_max_flows;
    return meter_config_timeouts(mc, cfg->pcap_timeouts, err);
}

int app_engine_threads(const config_t *cfg, diag_t *err)
{
    const char *v = cfg->engine_threads;
    if (strcmp(v, "auto") == 0) {
        /* Two: the queries split into units of which the largest (the
         * host profiles' shared stage) is about 60% of the work, so a third
         * thread adds little (docs/PERFORMANCE.md, issue 19: threads). */
        cpu_set_t set;
        int n = sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set)
                                                             : 1;
        return n >= 2 ? 2 : 1;
    }
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || end == v || *end || n < 1 || n > 64) {
        diag_set(err, "--engine-threads: '%s' is not auto or a number of "
                 "threads from 1 to 64", v);
        return -1;
    }
    return (int)n;
}

int app_init(app_t *a, const config_t *cfg, diag_t *err)
{
    memset(a, 0, sizeof(*a));
    a->cfg = *cfg;
    int renorm = strcmp(cfg->renormalize, "on") == 0;
    if (!renorm && strcmp(cfg->renormalize, "off") != 0) {
        diag_set(err, "--renormalize: '%s' is not on or off",
                 cfg->renormalize);
        return -1;
    }
    int share = strcmp(cfg->share_aggregation, "on") == 0;
    if (!share && strcmp(cfg->share_aggregation, "off") != 0) {
        diag_set(err, "--share-aggregation: '%s' is not on or off",
                 cfg->share_aggregation);
        return -1;
    }
    int threads = app_engine_threads(cfg, err);
    if (threads < 0)
        return -1;
    if (strcmp(cfg->health_open, "on") && strcmp(cfg->health_open, "off")) {
        diag_set(err, "--health-open: '%s' is not on or off",
                 cfg->health_open);
        return -1;
    }
    a->sampling = sampling_new(cfg->sampling_rate, renorm, err);
    if (!a->sampling)
        return -1;
    if (app_meter_config(cfg, &a->meter_cfg, err) < 0) {
        sampling_free(a->sampling);
        a->sampling = NULL;
        return -1;
    }
    int bad;
    a->anon = make_anon(cfg, &a->anon_scope, &bad, err);
    if (bad) {
        sampling_free(a->sampling);
        a->sampling = NULL;
        return -1;
    }
    pthread_mutex_init(&a->qlock, NULL);
    pthread_mutex_init(&a->release_lock, NULL);
    engine_config_t ec = {
        .replay = 0,
        .close_delay_ms = cfg->close_delay_ms,
        .max_groups = cfg->max_groups,
        .max_queries = cfg->max_queries,
        .share = share,
        .threads = threads,
    };
    a->engine = engine_new(&ec);
    a->live = live_new(cfg->max_sse_clients);
    engine_add_output(a->engine,
                      app_anon_output(a, live_output(a->live), ANON_API));
    /* The queue in batches of up to FLOW_BATCH_MAX flows; batches are
     * allocated lazily by the pools that fill it, so a large queue costs
     * memory only while a backlog lasts. */
    int64_t nb = (cfg->queue_flows + FLOW_BATCH_MAX - 1) / FLOW_BATCH_MAX;
    a->queue_batches = nb < 16 ? 16 : nb > 65536 ? 65536 : (int)nb;
    bqueue_init(&a->flows, (size_t)a->queue_batches);
    a->started_ms = time_now_ms();
    a->jobs = jobs_new(cfg->job_timeout_ms);
    return 0;
}

int app_start(app_t *a, diag_t *err)
{
    if (pthread_create(&a->engine_thr, NULL, engine_main, a) != 0) {
        diag_set(err, "cannot start the engine thread: %s", strerror(errno));
        return -1;
    }
    a->engine_running = 1;
    return 0;
}

void app_set_release(app_t *a, void (*fn)(void *ctx, flow_batch_t *b),
                     void *ctx)
{
    pthread_mutex_lock(&a->release_lock);
    a->release = fn;
    a->release_ctx = ctx;
    pthread_mutex_unlock(&a->release_lock);
}

void app_stop(app_t *a)
{
    jobs_stop(a->jobs);     /* history runs write to the store */
    flag_set(&a->stop, 1);
    if (a->engine_running) {
        pthread_join(a->engine_thr, NULL);
        a->engine_running = 0;
    }
}

void app_free(app_t *a)
{
    flow_batch_t *b;
    bqueue_close(&a->flows);
    while ((b = bqueue_pop(&a->flows, 0))) {
        if (a->release)
            a->release(a->release_ctx, b);
        else
            flow_batch_free(b);
    }
    jobs_free(a->jobs);
    engine_free(a->engine);
    sampling_free(a->sampling);
    live_free(a->live);
    anon_free(a->anon);
    bqueue_destroy(&a->flows);
    pthread_mutex_destroy(&a->qlock);
    pthread_mutex_destroy(&a->release_lock);
}

/* ---- queries ---------------------------------------------------------- */

/* "WITH (k = 'v', n = 10)" from a JSON object; -1 on a bad value. */
static int options_sql(json_t *opts, sbuf_t *out, diag_t *err)
{
    if (!opts || json_is_null(opts))
        return 0;
    if (!json_is_object(opts)) {
        diag_set(err, "options must be an object");
        return -1;
    }
    if (json_object_size(opts) == 0)
        return 0;
    const char *k;
    json_t *v;
    int first = 1;
    sbuf_add(out, " WITH (");
    json_object_foreach(opts, k, v) {
        for (const char *p = k; *p; p++)
            if (!isalnum((unsigned char)*p) && *p != '_') {
                diag_set(err, "option name '%s' is not valid", k);
                return -1;
            }
        sbuf_printf(out, "%s%s = ", first ? "" : ", ", k);
        first = 0;
        if (json_is_string(v)) {
            sbuf_addc(out, '\'');
            for (const char *p = json_string_value(v); *p; p++) {
                if (*p == '\'')
                    sbuf_addc(out, '\'');
                sbuf_addc(out, *p);
            }
            sbuf_addc(out, '\'');
        } else if (json_is_integer(v)) {
            sbuf_printf(out, "%lld", (long long)json_integer_value(v));
        } else if (json_is_boolean(v)) {
            sbuf_add(out, json_is_true(v) ? "true" : "false");
        } else {
            diag_set(err, "option '%s' must be a string, integer or boolean",
                     k);
            return -1;
        }
    }
    sbuf_addc(out, ')');
    return 0;
}

/* The HTTP status class of an archive query's error. */
static int status_of_aq(int rc)
{
    switch (rc) {
    case AQ_EBUSY: return AE_LIMIT;
    case AQ_EIO: return AE_INTERNAL;
    default: return AE_BAD;
    }
}

/* Open plan p over the archive (the query takes p). */
static int archive_open_plan(app_t *a, plan_t *p, int64_t max_rows,
                             aquery_t **out, diag_t *err)
{
    char dir[4096];
    if (a->archive)
        snprintf(dir, sizeof(dir), "%s", archive_dir(a->archive));
    else
        snprintf(dir, sizeof(dir), "%s/archive", a->cfg.data_dir);
    aquery_opts_t o = {.time_ms = a->cfg.archive_query_timeout_ms,
                       .max_rows = max_rows};
    int rc = aquery_open(dir, p, &o, out, err);
    return rc < 0 ? status_of_aq(rc) : AE_OK;
}

int app_archive_open(app_t *a, const char *sql, int64_t max_rows,
                     aquery_t **out, diag_t *err)
{
    plan_t *p = plan_compile(sql, strlen(sql), a->cfg.max_groups, err);
    if (!p)
        return AE_BAD;
    const stmt_t *t = p->stmt;
    if (t->kind != STMT_SELECT || p->continuous) {
        if (t->kind == STMT_SELECT)
            diag_at(err, p->text, t->select->window.pos, t->select->window.len,
                    "a query with WINDOW runs on the live stream: register "
                    "it (CREATE QUERY) or follow it live (the shell, GET "
                    "/queries/{name}/stream); without WINDOW it reads the "
                    "archive");
        else
            diag_set(err, "POST /sql runs a SELECT, over flows (the "
                     "archive) or over the stored tables; other statements "
                     "have their own routes");
        plan_free(p);
        return AE_BAD;
    }
    return archive_open_plan(a, p, max_rows, out, err);
}

/* EXPLAIN's line for shared aggregation (engine/share.h): what the
 * query registered under the statement's name shares, or what this
 * statement would share if registered now. */
static void app_explain_shared(app_t *a, plan_t *p, sbuf_t *out)
{
    const stmt_t *t = plan_target(p);
    if (!p->continuous || (t->kind != STMT_SELECT && t->kind != STMT_CREATE))
        return;
    sbuf_t s = SBUF_INIT;
    int rc = t->kind == STMT_CREATE && t->name
                 ? engine_share_explain(a->engine, t->name, &s) : -1;
    if (rc < 0)
        rc = engine_share_preview(a->engine, p, &s);
    if (rc > 0)
        sbuf_printf(out, "  %-10s %s", "shared", sbuf_str(&s));
    sbuf_free(&s);
}

int app_explain(app_t *a, const char *sql, sbuf_t *out, diag_t *err)
{
    plan_t *p = plan_compile(sql, strlen(sql), a->cfg.max_groups, err);
    if (!p)
        return AE_BAD;
    if (p->stmt->kind != STMT_EXPLAIN || !p->stmt->analyze) {
        plan_explain(p, out);
        app_explain_shared(a, p, out);
        plan_free(p);
        return AE_OK;
    }
    aquery_t *q;
    int rc = archive_open_plan(a, p, a->cfg.adhoc_max_rows, &q, err);
    if (rc != AE_OK)
        return rc;
    const value_t *row;
    int n;
    while ((n = aquery_next(q, &row, err)) == 1)
        ;
    if (n < 0) {
        aquery_close(q);
        return status_of_aq(n);
    }
    aquery_explain(q, out);
    aquery_close(q);
    return AE_OK;
}

/* Put a query in the store's catalog (and make its table), from its
 * handle: the columns and options the plan already has. A query the
 * catalog already has with the same text resumes; with another text it is
 * replaced, keeping its table when the columns are the same (the store
 * archives a table whose columns changed). Only the registration lock
 * holder calls this, after the engine took the name: no running query
 * can be the entry replaced. */
static int catalog_add(app_t *a, const qhandle_t *h, diag_t *err)
{
    store_query_def_t def = {
        .name = h->name, .text = h->text, .opts = h->opts, .nopts = h->nopts,
        .cols = h->cols, .ncols = h->ncols,
        .state = h->origin == SRC_FILE ? "file" : "running",
    };
    int rc = store_query_add(a->store, &def, err);
    if (rc == STORE_EEXIST) {
        store_query_list_t *l = store_query_list(a->store);
        int same = 0;
        for (int i = 0; i < l->n; i++)
            if (qname_equal(l->q[i].name, h->name))
                same = strcmp(l->q[i].text, h->text) == 0;
        store_query_list_free(l);
        diag_clear(err);
        if (same) {
            rc = STORE_OK;
            store_query_set_state(a->store, h->name, def.state, NULL);
        } else {
            rc = store_query_remove(a->store, h->name, 1, err);
            if (rc == STORE_OK)
                rc = store_query_add(a->store, &def, err);
        }
    }
    return rc == STORE_OK ? 0 : -1;
}

/* An error in the canonical text ("CREATE QUERY n WITH (...) AS " and
 * the user's sql from byte prefix on), told against the user's sql: the
 * position moves back by prefix; an error in the part we wrote (the
 * options) has no position in sql. */
static void diag_to_user(diag_t *err, const char *sql, size_t prefix)
{
    diag_t d = *err;
    diag_clear(err);
    if (d.offset >= (int)prefix && d.line > 0)
        diag_at(err, sql, d.offset - (int)prefix, d.len, "%s", d.msg);
    else
        diag_set(err, "%s", d.msg);
}

/* The canonical text of a registration into text: sql itself for a
 * CREATE QUERY, else CREATE QUERY name [WITH (options)] AS sql, with
 * *prefix the bytes before sql. The statement is parsed alone (not
 * planned) to know which, so errors point into the user's text. */
static int canonical_text(app_t *a, const char *name, const char *sql,
                          json_t *options, int source, sbuf_t *text,
                          size_t *prefix, int *quiet, diag_t *err)
{
    arena_t *ar = arena_new();
    stmt_t *st = parse(ar, sql, strlen(sql), err);
    int rc = st ? AE_OK : AE_BAD;
    char tmpname[64];
    *prefix = 0;
    *quiet = st && st->kind == STMT_CREATE && st->if_not_exists;
    if (!st) {
        /* err says what */
    } else if (st->kind == STMT_CREATE) {
        if (name && *name && !qname_equal(name, st->name)) {
            diag_set(err, "the name '%s' differs from the statement's "
                     "CREATE QUERY %s", name, st->name);
            rc = AE_BAD;
        } else if (options && json_object_size(options)) {
            diag_set(err, "give options either in the statement's WITH "
                     "clause or in \"options\", not both");
            rc = AE_BAD;
        } else {
            sbuf_add(text, sql);
        }
    } else if (st->kind == STMT_SELECT) {
        if (source == SRC_TEMPORARY) {
            pthread_mutex_lock(&a->qlock);
            unsigned long long n = ++a->temp_seq;
            pthread_mutex_unlock(&a->qlock);
            snprintf(tmpname, sizeof(tmpname), "tmp_%llx_%llu",
                     (unsigned long long)(time_now_ms() & 0xfffff), n);
            name = tmpname;
        }
        if (!name || !*name) {
            diag_set(err, "a SELECT needs a name to be registered (or use "
                     "CREATE QUERY name AS SELECT ...)");
            rc = AE_BAD;
        } else if (!qname_valid(name)) {
            diag_set(err, "invalid query name '%.100s': use letters, digits "
                     "and '_', starting with a letter, at most 63 "
                     "characters; sqlite_*, flowsql_* and flows are "
                     "reserved", name);
            rc = AE_BAD;
        } else {
            sbuf_printf(text, "CREATE QUERY %s", name);
            if (options_sql(options, text, err) < 0) {
                rc = AE_BAD;
            } else {
                sbuf_add(text, " AS ");
                *prefix = text->len;
                sbuf_add(text, sql);
            }
        }
    } else {
        diag_set(err, "only CREATE QUERY or SELECT can be registered");
        rc = AE_BAD;
    }
    arena_free(ar);
    return rc;
}

int app_query_create(app_t *a, const char *name, const char *sql,
                     json_t *options, int source, const char *path,
                     char **out_name, sbuf_t *explain, diag_t *err)
{
    diag_clear(err);
    *out_name = NULL;
    sbuf_t text = SBUF_INIT;
    size_t prefix;
    int quiet;
    int rc = canonical_text(a, name, sql, options, source, &text, &prefix,
                            &quiet, err);
    if (rc != AE_OK) {
        sbuf_free(&text);
        return rc;
    }
    /* The canonical CREATE QUERY text is what runs and what is stored;
     * compiled here, once. */
    qhandle_t *h = qhandle_compile(text.s, text.len, a->cfg.max_groups, err);
    sbuf_free(&text);
    if (!h) {
        if (prefix)
            diag_to_user(err, sql, prefix);
        return AE_BAD;
    }
    if (!h->plan->window.present) {
        diag_set(err, "a query over the live stream needs a WINDOW clause, "
                 "e.g. FROM flows WINDOW 10s");
        qhandle_unref(h);
        return AE_BAD;
    }
    h->origin = source;
    qhandle_set_path(h, path);
    h->created_ms = time_now_ms();
    pthread_mutex_lock(&a->qlock);
    int erc = engine_register_handle(a->engine, h, err);
    if (erc < 0) {
        pthread_mutex_unlock(&a->qlock);
        if (erc == ENGINE_EEXIST && quiet) {   /* IF NOT EXISTS */
            diag_clear(err);
            *out_name = xstrdup(h->name);
            qhandle_unref(h);
            return AE_UNCHANGED;
        }
        qhandle_unref(h);
        return erc == ENGINE_EEXIST ? AE_EXISTS
             : erc == ENGINE_ELIMIT ? AE_LIMIT : AE_BAD;
    }
    if (a->store && source != SRC_TEMPORARY && catalog_add(a, h, err) < 0) {
        engine_drop(a->engine, h->name);
        pthread_mutex_unlock(&a->qlock);
        qhandle_unref(h);
        return AE_INTERNAL;
    }
    pthread_mutex_unlock(&a->qlock);
    if (explain)
        sbuf_add(explain, h->explain);
    log_info("query", "registered %s (%s)", h->name,
             source == SRC_FILE ? path : source == SRC_TEMPORARY ? "temporary"
             : source == SRC_CATALOG ? "catalog" : "api");
    *out_name = xstrdup(h->name);
    qhandle_unref(h);
    return AE_OK;
}

int app_query_drop(app_t *a, const char *name, int keep_data, diag_t *err)
{
    diag_clear(err);
    pthread_mutex_lock(&a->qlock);
    qhandle_t *h = engine_get(a->engine, name);
    if (!h) {
        pthread_mutex_unlock(&a->qlock);
        diag_set(err, "no query named '%.100s'", name);
        return AE_NOTFOUND;
    }
    engine_drop(a->engine, h->name);
    if (a->store && h->origin != SRC_TEMPORARY) {
        diag_t serr;
        if (store_query_remove(a->store, h->name, keep_data, &serr) != STORE_OK)
            log_warn("query", "dropping %s from the catalog: %s", h->name,
                     serr.msg);
    }
    pthread_mutex_unlock(&a->qlock);
    live_close_query(a->live, h);
    log_info("query", "dropped %s%s", h->name, keep_data ? " (data kept)" : "");
    qhandle_unref(h);
    return AE_OK;
}

static const char *source_name(int s)
{
    switch (s) {
    case SRC_FILE: return "file";
    case SRC_TEMPORARY: return "temporary";
    case SRC_CATALOG: return "api";
    default: return "api";
    }
}

static json_t *stats_json(const query_stats_t *st)
{
    json_t *o = json_object();
    json_object_set_new(o, "flows_in", json_integer((json_int_t)st->flows_in));
    json_object_set_new(o, "flows_matched", json_integer((json_int_t)st->flows_matched));
    json_object_set_new(o, "flows_late", json_integer((json_int_t)st->flows_late));
    json_object_set_new(o, "flows_overflow", json_integer((json_int_t)st->flows_overflow));
    json_object_set_new(o, "windows", json_integer((json_int_t)st->windows));
    json_object_set_new(o, "windows_partial", json_integer((json_int_t)st->windows_partial));
    json_object_set_new(o, "rows", json_integer((json_int_t)st->rows));
    json_object_set_new(o, "arith_overflows", json_integer((json_int_t)st->arith_overflows));
    json_object_set_new(o, "groups_open", json_integer((json_int_t)st->groups_open));
    json_object_set_new(o, "memory_bytes", json_integer((json_int_t)st->memory_bytes));
    json_object_set_new(o, "last_window_end_ms", json_integer(st->last_window_end));
    return o;
}

/* A query as REST shows it, all from its handle: nothing is compiled. */
static json_t *meta_json(app_t *a, qhandle_t *h, int full)
{
    char ts[40];
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(h->name));
    json_object_set_new(o, "sql", json_string(h->text));
    json_object_set_new(o, "source", json_string(source_name(h->origin)));
    if (h->path)
        json_object_set_new(o, "path", json_string(h->path));
    json_object_set_new(o, "created",
                        json_string(time_format_iso(h->created_ms, ts, sizeof(ts))));
    json_object_set_new(o, "state", json_string("running"));
    query_stats_t st;
    if (engine_stats(a->engine, h->name, &st) == 0)
        json_object_set_new(o, "counters", stats_json(&st));
    if (full) {
        sbuf_t pl = SBUF_INIT, sh = SBUF_INIT;
        sbuf_add(&pl, h->explain);
        if (engine_share_explain(a->engine, h->name, &sh) == 1)
            sbuf_printf(&pl, "  %-10s %s", "shared", sbuf_str(&sh));
        json_object_set_new(o, "plan", json_string(sbuf_str(&pl)));
        sbuf_free(&pl);
        sbuf_free(&sh);
        json_t *cols = json_array();
        for (int i = 0; i < h->ncols; i++) {
            json_t *c = json_object();
            json_object_set_new(c, "name", json_string(h->cols[i].name));
            json_object_set_new(c, "type",
                                json_string(type_name(h->cols[i].type)));
            json_object_set_new(c, "key", json_boolean(h->cols[i].is_key));
            json_array_append_new(cols, c);
        }
        json_object_set_new(o, "columns", cols);
        json_t *opts = json_object();
        for (int i = 0; i < h->nopts; i++)
            json_object_set_new(opts, h->opts[i].key,
                                json_string(h->opts[i].value));
        json_object_set_new(o, "options", opts);
        json_object_set_new(o, "subscribers",
                            json_integer(live_count(a->live, h)));
    }
    return o;
}

json_t *app_query_list(app_t *a)
{
    json_t *arr = json_array();
    qhandle_t **hs;
    int n = engine_handles(a->engine, &hs);
    for (int i = 0; i < n; i++) {
        json_array_append_new(arr, meta_json(a, hs[i], 0));
        qhandle_unref(hs[i]);
    }
    free(hs);
    return arr;
}

json_t *app_query_get(app_t *a, const char *name)
{
    qhandle_t *h = engine_get(a->engine, name);
    json_t *o = h ? meta_json(a, h, 1) : NULL;
    qhandle_unref(h);
    return o;
}

int app_resume_catalog(app_t *a)
{
    if (!a->store)
        return 0;
    store_query_list_t *l = store_query_list(a->store);
    int failed = 0, resumed = 0;
    for (int i = 0; i < l->n; i++) {
        const store_query_t *q = &l->q[i];
        if (engine_has(a->engine, q->name))
            continue;
        if (strcmp(q->state, HISTORY_STATE) == 0) {
            /* A history run cut by the stop: its table is kept. */
            diag_t err;
            store_query_remove(a->store, q->name, 1, &err);
            log_info("queries", "%s: a history run was cut by a stop; its "
                     "table is kept as it is", q->name);
            continue;
        }
        if (strcmp(q->state, "file") == 0) {
            /* Its file was removed while we were down. */
            diag_t err;
            store_query_remove(a->store, q->name, 1, &err);
            log_info("queries", "%s: its file is gone; dropped, data kept",
                     q->name);
            continue;
        }
        diag_t err;
        char *name = NULL;
        if (app_query_create(a, NULL, q->text, NULL, SRC_CATALOG, NULL, &name,
                             NULL, &err) != AE_OK) {
            log_error("queries", "cannot resume %s: %s", q->name, err.msg);
            failed++;
        } else {
            resumed++;
        }
        free(name);
    }
    store_query_list_free(l);
    log_info("queries", "catalog: %d resumed, %d failed", resumed, failed);
    return failed;
}

void app_reap_temporary(app_t *a, int64_t idle_ms)
{
    qhandle_t **hs;
    int n = engine_handles(a->engine, &hs);
    int64_t now = time_now_ms();
    for (int i = 0; i < n; i++) {
        qhandle_t *h = hs[i];
        if (h->origin == SRC_TEMPORARY) {
            int64_t since = live_idle_since(a->live, h);
            /* Never followed: count from its creation. */
            if (since < 0)
                since = h->created_ms;
            diag_t err;
            if (since > 0 && now - since >= idle_ms)
                app_query_drop(a, h->name, 0, &err);
        }
        qhandle_unref(h);
    }
    free(hs);
}

/* ---- saved queries ------------------------------------------------------- */

/* The text of a saved query file, if it is a regular file (no FIFO to
 * wait on, no symlink to follow) of at most max bytes; else NULL. */
static char *read_all(const char *path, size_t max)
{
    return file_read_regular(path, max, NULL, NULL);
}

static int has_suffix(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

/* Whether text (len bytes) reads as a saved query: text without control
 * bytes whose first word, after blanks and SQL comments, is CREATE or
 * SELECT. Anything else (a secret, a binary, a config file) is refused
 * without showing a byte of it: only a statement's own text may be
 * echoed in an error. Returns NULL, or why not. */
static const char *not_statement(const char *text, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f') ||
            c == 0x7f)
            return "binary content";
    }
    const char *p = text;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' ||
               *p == '\f')
            p++;
        if (p[0] == '-' && p[1] == '-') {
            p += strcspn(p, "\n");
        } else if (p[0] == '/' && p[1] == '*') {
            const char *e = strstr(p + 2, "*/");
            if (!e)
                return "an unterminated comment and no statement";
            p = e + 2;
        } else {
            break;
        }
    }
    if ((strncasecmp(p, "CREATE", 6) == 0 || strncasecmp(p, "SELECT", 6) == 0)
        && !isalnum((unsigned char)p[6]) && p[6] != '_')
        return NULL;
    return "it does not start with CREATE QUERY or SELECT";
}

/* A file holds one statement: CREATE QUERY name ..., or a SELECT named
 * after the file. Files that are not regular, or not statements, are
 * refused and logged by name only (the name with any control byte
 * shown as '?', so a file name cannot forge log lines). */
static int load_file(app_t *a, const char *path, const char *base)
{
    char shown[256];
    snprintf(shown, sizeof(shown), "%s", base);
    int odd_name = 0;
    for (char *p = shown; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            *p = '?';
            odd_name = 1;
        }
    if (odd_name) {
        log_error("queries", "%s/%s: control characters in the name; not "
                  "loaded", a->cfg.queries_dir, shown);
        return -1;
    }
    diag_t err;
    diag_clear(&err);
    size_t len = 0;
    char *text = file_read_regular(path, 1 << 20, &len, &err);
    if (!text) {
        log_error("queries", "%s", err.msg);
        return -1;
    }
    const char *why = not_statement(text, len);
    if (why) {
        log_error("queries", "%s: not a statement (%s); not loaded", path,
                  why);
        free(text);
        return -1;
    }
    char name[128];
    snprintf(name, sizeof(name), "%.*s", (int)(strlen(base) - 4), base);
    for (char *p = name; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_')
            *p = '_';
    char *qname = NULL;
    int rc = app_query_create(a, name, text, NULL, SRC_FILE, path, &qname,
                              NULL, &err);
    if (rc != AE_OK) {
        char buf[1024];
        log_error("queries", "%s: %s", path, diag_render(&err, text, buf, sizeof(buf)));
    }
    free(qname);
    free(text);
    return rc == AE_OK ? 0 : -1;
}

int app_load_saved(app_t *a)
{
    const char *dir = a->cfg.queries_dir;
    DIR *d = opendir(dir);
    if (!d) {
        if (errno != ENOENT)
            log_warn("queries", "cannot read %s: %s", dir, strerror(errno));
        return 0;
    }
    /* Sorted, so the log and registration order do not depend on the
     * file system. */
    char **names = NULL;
    int n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || !has_suffix(e->d_name, ".sql"))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 32;
            names = xrealloc(names, sizeof(char *) * (size_t)cap);
        }
        names[n++] = xstrdup(e->d_name);
    }
    closedir(d);
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            char *t = names[j];
            names[j] = names[j - 1];
            names[j - 1] = t;
        }

    /* Drop file queries whose file is gone or changed; they are
     * re-registered below from the file as it is now. */
    qhandle_t **hs;
    int nh = engine_handles(a->engine, &hs), ndrop = 0;
    for (int i = 0; i < nh; i++) {
        qhandle_t *h = hs[i];
        if (h->origin == SRC_FILE) {
            char *now = read_all(h->path, 1 << 20);
            int gone = !now;
            int changed = now && !strstr(h->text, now) &&
                          strcmp(h->text, now) != 0;
            free(now);
            diag_t err;
            if ((gone || changed) && app_query_drop(a, h->name, 1, &err) == AE_OK)
                ndrop++;
        }
        qhandle_unref(h);
    }
    free(hs);

    int failed = 0, loaded = 0;
    for (int i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        int known = 0;
        nh = engine_handles(a->engine, &hs);
        for (int k = 0; k < nh; k++) {
            known |= hs[k]->origin == SRC_FILE && strcmp(hs[k]->path, path) == 0;
            qhandle_unref(hs[k]);
        }
        free(hs);
        if (!known) {
            if (load_file(a, path, names[i]) < 0)
                failed++;
            else
                loaded++;
        }
        free(names[i]);
    }
    free(names);
    log_info("queries", "%s: %d loaded, %d failed, %d dropped", dir, loaded,
             failed, ndrop);
    return failed;
}
