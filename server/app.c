/*
 * app.c - the daemon's parts wired together: query management shared by
 * every interface, the engine thread, saved query files. See app.h.
 */
#include "server/app.h"
#include "engine/plan.h"
#include "util/arena.h"
#include "util/log.h"
#include "util/timeutil.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
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
            engine_process(a->engine, b);
            pthread_mutex_lock(&a->release_lock);
            if (a->release)
                a->release(a->release_ctx, b);
            else
                flow_batch_free(b);
            pthread_mutex_unlock(&a->release_lock);
        } else if (a->stop) {
            break;
        }
        int64_t now = time_now_ms();
        if (now - last_tick >= 50) {
            engine_tick(a->engine, engine_clock(a->engine, now,
                                                bqueue_len(&a->flows)));
            last_tick = now;
        }
    }
    /* Close every open window as it stands: a partial window is still
     * data the operator wants. */
    engine_finish(a->engine);
    return NULL;
}

int app_init(app_t *a, const config_t *cfg, diag_t *err)
{
    (void)err;
    memset(a, 0, sizeof(*a));
    a->cfg = *cfg;
    pthread_mutex_init(&a->qlock, NULL);
    pthread_mutex_init(&a->release_lock, NULL);
    engine_config_t ec = {
        .replay = 0,
        .close_delay_ms = cfg->close_delay_ms,
        .max_groups = cfg->max_groups,
        .max_queries = cfg->max_queries,
    };
    a->engine = engine_new(&ec);
    a->live = live_new(cfg->max_sse_clients);
    engine_add_output(a->engine, live_output(a->live));
    /* The queue in batches of up to FLOW_BATCH_MAX flows; batches are
     * allocated lazily by the pools that fill it, so a large queue costs
     * memory only while a backlog lasts. */
    int64_t nb = (cfg->queue_flows + FLOW_BATCH_MAX - 1) / FLOW_BATCH_MAX;
    a->queue_batches = nb < 16 ? 16 : nb > 65536 ? 65536 : (int)nb;
    bqueue_init(&a->flows, (size_t)a->queue_batches);
    a->started_ms = time_now_ms();
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
    a->stop = 1;
    if (a->engine_running) {
        pthread_join(a->engine_thr, NULL);
        a->engine_running = 0;
    }
}

static void query_free_meta(app_query_t *q)
{
    free(q->name);
    free(q->sql);
    free(q->path);
    free(q);
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
    engine_free(a->engine);
    live_free(a->live);
    bqueue_destroy(&a->flows);
    while (a->queries) {
        app_query_t *q = a->queries;
        a->queries = q->next;
        query_free_meta(q);
    }
    pthread_mutex_destroy(&a->qlock);
    pthread_mutex_destroy(&a->release_lock);
}

/* ---- queries ---------------------------------------------------------- */

static app_query_t *find_meta(app_t *a, const char *name)
{
    for (app_query_t *q = a->queries; q; q = q->next)
        if (strcmp(q->name, name) == 0)
            return q;
    return NULL;
}

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

int app_explain(app_t *a, const char *sql, sbuf_t *out, diag_t *err)
{
    plan_t *p = plan_compile(sql, strlen(sql), a->cfg.max_groups, err);
    if (!p)
        return AE_BAD;
    plan_explain(p, out);
    plan_free(p);
    return AE_OK;
}

/* Put a query in the store's catalog (and make its table). A query the
 * catalog already has with the same text resumes; with another text it is
 * replaced, keeping its table when the columns are the same (the store
 * archives a table whose columns changed). */
static int catalog_add(app_t *a, const char *name, const char *text,
                       int source, diag_t *err)
{
    diag_t perr;
    plan_t *p = plan_compile(text, strlen(text), a->cfg.max_groups, &perr);
    if (!p) {
        diag_set(err, "%s", perr.msg);
        return -1;
    }
    rowset_col_t *cols = xcalloc((size_t)p->ncols + 1, sizeof(*cols));
    for (int i = 0; i < p->ncols; i++) {
        cols[i].name = p->cols[i].name;
        cols[i].type = p->cols[i].type;
        cols[i].is_key = p->cols[i].key >= 0;
    }
    rowset_opt_t *opts = xcalloc((size_t)p->nopts + 1, sizeof(*opts));
    for (int i = 0; i < p->nopts; i++) {
        opts[i].key = p->opts[i].key;
        opts[i].value = p->opts[i].value;
    }
    store_query_def_t def = {
        .name = name, .text = text, .opts = opts, .nopts = p->nopts,
        .cols = cols, .ncols = p->ncols,
        .state = source == SRC_FILE ? "file" : "running",
    };
    int rc = store_query_add(a->store, &def, err);
    if (rc == STORE_EEXIST) {
        store_query_list_t *l = store_query_list(a->store);
        int same = 0;
        for (int i = 0; i < l->n; i++)
            if (strcasecmp(l->q[i].name, name) == 0)
                same = strcmp(l->q[i].text, text) == 0;
        store_query_list_free(l);
        diag_clear(err);
        if (same) {
            rc = STORE_OK;
            store_query_set_state(a->store, name, def.state, NULL);
        } else {
            rc = store_query_remove(a->store, name, 1, err);
            if (rc == STORE_OK)
                rc = store_query_add(a->store, &def, err);
        }
    }
    free(cols);
    free(opts);
    plan_free(p);
    return rc == STORE_OK ? 0 : -1;
}

int app_query_create(app_t *a, const char *name, const char *sql,
                     json_t *options, int source, const char *path,
                     char **out_name, sbuf_t *explain, diag_t *err)
{
    diag_clear(err);
    *out_name = NULL;
    /* First look at the statement as given, to report errors against the
     * user's own text. */
    plan_t *p = plan_compile(sql, strlen(sql), a->cfg.max_groups, err);
    if (!p)
        return AE_BAD;
    const stmt_t *st = p->stmt;
    char tmpname[64];
    sbuf_t text = SBUF_INIT;
    if (st->kind == STMT_CREATE) {
        if (name && *name && strcmp(name, st->name) != 0) {
            diag_set(err, "the name '%s' differs from the statement's "
                     "CREATE QUERY %s", name, st->name);
            plan_free(p);
            return AE_BAD;
        }
        if (options && json_object_size(options)) {
            diag_set(err, "give options either in the statement's WITH "
                     "clause or in \"options\", not both");
            plan_free(p);
            return AE_BAD;
        }
        sbuf_add(&text, sql);
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
            plan_free(p);
            return AE_BAD;
        }
        sbuf_printf(&text, "CREATE QUERY %s", name);
        if (options_sql(options, &text, err) < 0) {
            plan_free(p);
            sbuf_free(&text);
            return AE_BAD;
        }
        sbuf_add(&text, " AS ");
        sbuf_add(&text, sql);
    } else {
        diag_set(err, "only CREATE QUERY or SELECT can be registered");
        plan_free(p);
        return AE_BAD;
    }
    plan_free(p);
    /* The canonical CREATE QUERY text is what runs and what is stored. */
    p = plan_compile(text.s, text.len, a->cfg.max_groups, err);
    if (!p) {
        sbuf_free(&text);
        return AE_BAD;
    }
    if (!p->window.present) {
        diag_set(err, "a query over the live stream needs a WINDOW clause, "
                 "e.g. FROM flows WINDOW 10s");
        plan_free(p);
        sbuf_free(&text);
        return AE_BAD;
    }
    char *qname = xstrdup(p->name);
    if (explain)
        plan_explain(p, explain);
    pthread_mutex_lock(&a->qlock);
    if (find_meta(a, qname)) {
        pthread_mutex_unlock(&a->qlock);
        /* p, not st: st belonged to the first plan, freed above */
        int quiet = p->stmt->kind == STMT_CREATE && p->stmt->if_not_exists;
        plan_free(p);
        sbuf_free(&text);
        if (quiet) {        /* CREATE QUERY IF NOT EXISTS: nothing to do */
            *out_name = qname;
            return AE_UNCHANGED;
        }
        diag_set(err, "a query named '%s' already exists", qname);
        free(qname);
        return AE_EXISTS;
    }
    if (engine_register(a->engine, qname, p, err) < 0) {
        pthread_mutex_unlock(&a->qlock);
        int cls = engine_count(a->engine) >= a->cfg.max_queries ? AE_LIMIT
                                                                 : AE_BAD;
        plan_free(p);
        free(qname);
        sbuf_free(&text);
        return cls;
    }
    if (a->store && source != SRC_TEMPORARY &&
        catalog_add(a, qname, text.s, source, err) < 0) {
        engine_drop(a->engine, qname);
        pthread_mutex_unlock(&a->qlock);
        free(qname);
        sbuf_free(&text);
        return AE_INTERNAL;
    }
    app_query_t *m = xcalloc(1, sizeof(*m));
    m->name = xstrdup(qname);
    m->sql = sbuf_detach(&text);
    m->source = source;
    m->path = path ? xstrdup(path) : NULL;
    m->created_ms = time_now_ms();
    m->next = a->queries;
    a->queries = m;
    pthread_mutex_unlock(&a->qlock);
    log_info("query", "registered %s (%s)", qname,
             source == SRC_FILE ? path : source == SRC_TEMPORARY ? "temporary"
             : source == SRC_CATALOG ? "catalog" : "api");
    *out_name = qname;
    return AE_OK;
}

int app_query_drop(app_t *a, const char *name, int keep_data, diag_t *err)
{
    diag_clear(err);
    pthread_mutex_lock(&a->qlock);
    app_query_t **pp = &a->queries, *m = NULL;
    for (; *pp; pp = &(*pp)->next)
        if (strcmp((*pp)->name, name) == 0) {
            m = *pp;
            *pp = m->next;
            break;
        }
    if (!m) {
        pthread_mutex_unlock(&a->qlock);
        diag_set(err, "no query named '%s'", name);
        return AE_NOTFOUND;
    }
    engine_drop(a->engine, name);
    if (a->store && m->source != SRC_TEMPORARY) {
        diag_t serr;
        if (store_query_remove(a->store, name, keep_data, &serr) != STORE_OK)
            log_warn("query", "dropping %s from the catalog: %s", name,
                     serr.msg);
    }
    pthread_mutex_unlock(&a->qlock);
    live_close_query(a->live, name);
    log_info("query", "dropped %s%s", name, keep_data ? " (data kept)" : "");
    query_free_meta(m);
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
    json_object_set_new(o, "rows", json_integer((json_int_t)st->rows));
    json_object_set_new(o, "arith_overflows", json_integer((json_int_t)st->arith_overflows));
    json_object_set_new(o, "groups_open", json_integer((json_int_t)st->groups_open));
    json_object_set_new(o, "memory_bytes", json_integer((json_int_t)st->memory_bytes));
    json_object_set_new(o, "last_window_end_ms", json_integer(st->last_window_end));
    return o;
}

static json_t *meta_json(app_t *a, const app_query_t *m, int full)
{
    char ts[40];
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(m->name));
    json_object_set_new(o, "sql", json_string(m->sql));
    json_object_set_new(o, "source", json_string(source_name(m->source)));
    if (m->path)
        json_object_set_new(o, "path", json_string(m->path));
    json_object_set_new(o, "created",
                        json_string(time_format_iso(m->created_ms, ts, sizeof(ts))));
    json_object_set_new(o, "state", json_string("running"));
    query_stats_t st;
    if (engine_stats(a->engine, m->name, &st) == 0)
        json_object_set_new(o, "counters", stats_json(&st));
    if (full) {
        diag_t err;
        plan_t *p = plan_compile(m->sql, strlen(m->sql), a->cfg.max_groups, &err);
        if (p) {
            sbuf_t b = SBUF_INIT;
            plan_explain(p, &b);
            json_object_set_new(o, "plan", json_string(sbuf_str(&b)));
            json_t *cols = json_array();
            for (int i = 0; i < p->ncols; i++) {
                json_t *c = json_object();
                json_object_set_new(c, "name", json_string(p->cols[i].name));
                json_object_set_new(c, "type",
                                    json_string(type_name(p->cols[i].type)));
                json_object_set_new(c, "key", json_boolean(p->cols[i].key >= 0));
                json_array_append_new(cols, c);
            }
            json_object_set_new(o, "columns", cols);
            json_t *opts = json_object();
            for (int i = 0; i < p->nopts; i++)
                json_object_set_new(opts, p->opts[i].key,
                                    json_string(p->opts[i].value));
            json_object_set_new(o, "options", opts);
            sbuf_free(&b);
            plan_free(p);
        }
        json_object_set_new(o, "subscribers",
                            json_integer(live_count(a->live, m->name)));
    }
    return o;
}

json_t *app_query_list(app_t *a)
{
    json_t *arr = json_array();
    pthread_mutex_lock(&a->qlock);
    for (app_query_t *m = a->queries; m; m = m->next)
        json_array_append_new(arr, meta_json(a, m, 0));
    pthread_mutex_unlock(&a->qlock);
    return arr;
}

json_t *app_query_get(app_t *a, const char *name)
{
    pthread_mutex_lock(&a->qlock);
    app_query_t *m = find_meta(a, name);
    json_t *o = m ? meta_json(a, m, 1) : NULL;
    pthread_mutex_unlock(&a->qlock);
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
        pthread_mutex_lock(&a->qlock);
        int known = find_meta(a, q->name) != NULL;
        pthread_mutex_unlock(&a->qlock);
        if (known)
            continue;
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
    char *victims[64];
    int n = 0;
    int64_t now = time_now_ms();
    pthread_mutex_lock(&a->qlock);
    for (app_query_t *m = a->queries; m && n < 64; m = m->next) {
        if (m->source != SRC_TEMPORARY)
            continue;
        int64_t since = live_idle_since(a->live, m->name);
        /* Never followed: count from its creation. */
        if (since < 0)
            since = m->created_ms;
        if (since > 0 && now - since >= idle_ms)
            victims[n++] = xstrdup(m->name);
    }
    pthread_mutex_unlock(&a->qlock);
    for (int i = 0; i < n; i++) {
        diag_t err;
        app_query_drop(a, victims[i], 0, &err);
        free(victims[i]);
    }
}

/* ---- saved queries ------------------------------------------------------- */

static char *read_all(const char *path, size_t max)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    sbuf_t b = SBUF_INIT;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
        sbuf_addn(&b, buf, n);
        if (b.len > max)
            break;
    }
    fclose(f);
    if (b.len > max) {
        sbuf_free(&b);
        return NULL;
    }
    return sbuf_detach(&b);
}

static int has_suffix(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

/* A file holds one statement: CREATE QUERY name ..., or a SELECT named
 * after the file. */
static int load_file(app_t *a, const char *path, const char *base)
{
    char *text = read_all(path, 1 << 20);
    if (!text) {
        log_error("queries", "%s: cannot read (or larger than 1 MB)", path);
        return -1;
    }
    char name[128];
    snprintf(name, sizeof(name), "%.*s", (int)(strlen(base) - 4), base);
    for (char *p = name; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_')
            *p = '_';
    diag_t err;
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
    char *drop[256];
    int ndrop = 0;
    pthread_mutex_lock(&a->qlock);
    for (app_query_t *m = a->queries; m && ndrop < 256; m = m->next) {
        if (m->source != SRC_FILE)
            continue;
        char *now = read_all(m->path, 1 << 20);
        int gone = !now;
        int changed = now && !strstr(m->sql, now) && strcmp(m->sql, now) != 0;
        free(now);
        if (gone || changed)
            drop[ndrop++] = xstrdup(m->name);
    }
    pthread_mutex_unlock(&a->qlock);
    for (int i = 0; i < ndrop; i++) {
        diag_t err;
        app_query_drop(a, drop[i], 1, &err);
        free(drop[i]);
    }

    int failed = 0, loaded = 0;
    for (int i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        int known = 0;
        pthread_mutex_lock(&a->qlock);
        for (app_query_t *m = a->queries; m; m = m->next)
            known |= m->source == SRC_FILE && strcmp(m->path, path) == 0;
        pthread_mutex_unlock(&a->qlock);
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
