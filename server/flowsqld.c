/*
 * flowsqld.c - the daemon: collectors -> engine -> storage, sinks and
 * live subscribers, with the REST API beside them.
 *
 * Start-up either completes or exits with a message saying what stood in
 * the way (port taken, data directory not writable); it never half
 * starts. SIGTERM/SIGINT stop the collectors, close every open window as
 * it stands, flush the outputs and exit 0. SIGHUP reloads the saved query
 * directory.
 */
#include "archive/archive.h"
#include "archive/aquery.h"
#include "engine/mem.h"
#include "engine/netset.h"
#include "engine/xfield.h"
#include "enrich/anon.h"
#include "enrich/enrich.h"
#include "ingest/ingest.h"
#include "ingest/kafka_json.h"
#include "ingest/pcapsrc.h"
#include "server/app.h"
#include "server/config.h"
#include "server/http.h"
#include "server/results.h"
#include "sinks/elastic.h"
#include "sinks/format.h"
#include "sinks/flowtopic.h"
#include "server/merge.h"
#include "server/worker.h"
#include "sinks/alert.h"
#include "sinks/kafka.h"
#include "storage/store.h"
#include "util/log.h"
#include "util/timeutil.h"
#include "util/jsonfmt.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FLUSH_MS 10000
/* Alerts to a dead receiver would wait out their retries: give them less
 * time than the other outputs so a stop stays quick. */
#define ALERT_FLUSH_MS 5000

/* ---- outputs to Kafka and Elasticsearch, flows from Kafka ----------------
 * Created when their option is set; the sinks are engine outputs, the
 * Kafka input feeds the engine's queue like any collector. The alert
 * output is always there: any query may ask for alerts (WITH alert). */
typedef struct extras {
    alert_sink_t *alert;
    kafka_sink_t *kafka;
    es_sink_t    *es;
    kafka_json_t *kin;
    flowtopic_t  *flows;        /* --flows-topic */
    worker_t     *worker;       /* --worker */
    merge_t      *merge;        /* --merge */
    app_t        *app;
} extras_t;

/* ---- what /metrics reads while the daemon stops ------------------------
 * The REST API runs until the end, so /metrics (an HTTP thread) may ask
 * for the collectors' and the extras' counters while the main thread
 * stops them. It reads them under lock; the main thread takes each one
 * out under lock (NULL from then on) before it frees it. */
typedef struct daemon_ctx {
    app_t          *app;
    ingest_t       *ingest;
    extras_t       *extras;
    pcapdir_t      *pcapdir;      /* --pcap-dir, or NULL */
    pcaplive_t     *pcaplive;     /* --pcap-if, or NULL */
    pthread_mutex_t lock;
} daemon_ctx_t;

static void set_ingest(daemon_ctx_t *d, ingest_t *ing)
{
    pthread_mutex_lock(&d->lock);
    d->ingest = ing;
    pthread_mutex_unlock(&d->lock);
}

static void stop_ingest(daemon_ctx_t *d)
{
    pthread_mutex_lock(&d->lock);
    ingest_t *ing = d->ingest;
    d->ingest = NULL;
    pthread_mutex_unlock(&d->lock);
    ingest_stop(ing);
}

/* The packet sources (--pcap-dir, --pcap-if), started once the queries
 * are registered: a watched directory's backlog is read at once. */
static int start_pcap(daemon_ctx_t *d, const config_t *c, diag_t *err)
{
    if (*c->pcap_done && !*c->pcap_dir) {
        diag_set(err, "--pcap-done is for --pcap-dir, which is not set");
        return -1;
    }
    if (*c->pcap_filter && !*c->pcap_if) {
        diag_set(err, "--pcap-filter is for --pcap-if, which is not set");
        return -1;
    }
    if (*c->pcap_dir) {
        pcapdir_config_t pc = PCAPDIR_CONFIG_INIT;
        pc.dir = c->pcap_dir;
        pc.done = c->pcap_done;
        pc.quiet_ms = c->pcap_quiet_ms;
        pc.meter = d->app->meter_cfg;    /* the --pcap-* timeouts */
        pc.out = &d->app->flows;
        pcapdir_t *pd = pcapdir_start(&pc, err);
        if (!pd)
            return -1;
        pthread_mutex_lock(&d->lock);
        d->pcapdir = pd;
        pthread_mutex_unlock(&d->lock);
    }
    if (*c->pcap_if) {
        pcaplive_config_t lc = PCAPLIVE_CONFIG_INIT;
        lc.ifname = c->pcap_if;
        lc.filter = c->pcap_filter;
        lc.meter = d->app->meter_cfg;
        lc.out = &d->app->flows;
        pcaplive_t *pl = pcaplive_start(&lc, err);
        if (!pl)
            return -1;
        pthread_mutex_lock(&d->lock);
        d->pcaplive = pl;
        pthread_mutex_unlock(&d->lock);
    }
    return 0;
}

/* Before the engine stops: the directory finishes its file and both
 * hand over their meters' last flows. */
static void stop_pcap(daemon_ctx_t *d)
{
    pthread_mutex_lock(&d->lock);
    pcapdir_t *pd = d->pcapdir;
    pcaplive_t *pl = d->pcaplive;
    d->pcapdir = NULL;
    d->pcaplive = NULL;
    pthread_mutex_unlock(&d->lock);
    pcaplive_stop(pl);
    pcapdir_stop(pd);
}

static int on(const char *v)
{
    return strcmp(v, "on") == 0;
}

/* The roles of scale-out (docs/SCALE_OUT.md), once the queries are
 * registered: a worker and a merge stage run the saved queries. */
static int extras_roles(daemon_ctx_t *d, const config_t *c, diag_t *err)
{
    const char *names[] = {"worker", "merge"}, *vals[] = {c->worker, c->merge};
    for (int i = 0; i < 2; i++)
        if (!on(vals[i]) && strcmp(vals[i], "off") != 0) {
            diag_set(err, "--%s '%s': must be on or off", names[i], vals[i]);
            return -1;
        }
    worker_t *w = NULL;
    merge_t *m = NULL;
    if (on(c->worker)) {
        worker_config_t wc = {.brokers = c->kafka_brokers,
                              .flows_topic = c->flows_topic,
                              .partials_topic = c->partials_topic,
                              .group = c->worker_group,
                              .props = c->kafka_props,
                              .registry = d->app->engine,
                              .share = on(c->share_aggregation),
                              .max_groups = c->max_groups};
        if (!(w = worker_start(&wc, err)))
            return -1;
    }
    if (on(c->merge)) {
        merge_config_t mc = {.brokers = c->kafka_brokers,
                             .partials_topic = c->partials_topic,
                             .group = c->merge_group, .props = c->kafka_props,
                             .registry = d->app->engine};
        if (!(m = merge_start(&mc, err))) {
            worker_stop(w);
            return -1;
        }
    }
    pthread_mutex_lock(&d->lock);
    d->extras->worker = w;
    d->extras->merge = m;
    pthread_mutex_unlock(&d->lock);
    return 0;
}

static void extras_stop_roles(daemon_ctx_t *d)
{
    pthread_mutex_lock(&d->lock);
    worker_t *w = d->extras->worker;
    merge_t *m = d->extras->merge;
    d->extras->worker = NULL;
    d->extras->merge = NULL;
    pthread_mutex_unlock(&d->lock);
    worker_stop(w);
    merge_stop(m);
}

static void extras_publish(void *ctx, const flow_batch_t *b)
{
    flowtopic_publish(ctx, b);
}

static void extras_publish_tick(void *ctx, int64_t clock_ms)
{
    flowtopic_tick(ctx, clock_ms);
}

static int extras_outputs(extras_t *x, app_t *app, const config_t *c,
                          diag_t *err)
{
    x->app = app;
    int kfmt = format_parse(c->kafka_format), efmt = format_parse(c->es_format);
    if (kfmt < 0 || efmt < 0) {
        diag_set(err, "--%s-format '%s': must be flat or ecs",
                 kfmt < 0 ? "kafka" : "es",
                 kfmt < 0 ? c->kafka_format : c->es_format);
        return -1;
    }
    /* Alerts name the real addresses: a SOC acts on them, so no
     * --anonymize scope applies (docs/ALERTS.md). */
    alert_config_t ac = {.instance = c->instance_name};
    if (!(x->alert = alert_sink_new(&ac, err)))
        return -1;
    engine_add_output(app->engine, alert_sink_output(x->alert));
    if (*c->kafka_brokers) {
        kafka_sink_config_t kc = {.brokers = c->kafka_brokers,
                                  .topic = c->kafka_topic,
                                  .props = c->kafka_props, .format = kfmt};
        if (!(x->kafka = kafka_sink_new(&kc, err)))
            return -1;
        engine_add_output(app->engine,
                          app_anon_output(app, kafka_sink_output(x->kafka),
                                          ANON_KAFKA));
    }
    /* A worker reads --flows-topic: publishing there too (its own
     * markers, on its own clock) would close the other workers'
     * windows early. */
    if (*c->flows_topic && !on(c->worker)) {
        flowtopic_config_t fc = {.brokers = c->kafka_brokers,
                                 .topic = c->flows_topic,
                                 .key = c->flows_key,
                                 .partitions = c->flows_partitions,
                                 .props = c->kafka_props,
                                 .marker_ms = c->flows_marker_ms,
                                 .close_delay_ms = c->close_delay_ms};
        if (!(x->flows = flowtopic_new(&fc, err)))
            return -1;
        app->publish = extras_publish;
        app->publish_tick = extras_publish_tick;
        app->publish_ctx = x->flows;
    }
    if (*c->es_url) {
        es_sink_config_t ec = {.url = c->es_url, .index = c->es_index,
                               .user = c->es_user, .password = c->es_password,
                               .api_key = c->es_api_key, .ca = c->es_ca,
                               .format = efmt};
        /* Merged windows get the same ids from any merge instance: a
         * window emitted again after a restart overwrites itself. */
        char inst[300];
        if (*c->instance_name)
            snprintf(inst, sizeof(inst), "%s", c->instance_name);
        else if (on(c->merge))
            snprintf(inst, sizeof(inst), "merge/%s", c->merge_group);
        else
            inst[0] = 0;
        ec.instance = inst;
        if (!(x->es = es_sink_new(&ec, err)))
            return -1;
        engine_add_output(app->engine,
                          app_anon_output(app, es_sink_output(x->es),
                                          ANON_ES));
    }
    return 0;
}

/* Kafka input batches wait for room in the engine's queue: Kafka keeps
 * what we have not read, so waiting loses nothing. */
static int extras_deliver(void *ctx, flow_batch_t *b)
{
    extras_t *x = ctx;
    return bqueue_push_wait(&x->app->flows, b);
}

static int extras_input(daemon_ctx_t *d, const config_t *c, diag_t *err)
{
    if (!*c->kafka_input)
        return 0;
    char *brokers, *topics;
    if (kafka_json_parse_spec(c->kafka_input, &brokers, &topics) < 0) {
        diag_set(err, "--kafka-input '%s': expected brokers/topic",
                 c->kafka_input);
        return -1;
    }
    kafka_json_config_t kc = {.brokers = brokers, .topics = topics,
                              .props = c->kafka_props};
    kafka_json_t *kin = kafka_json_start(&kc, extras_deliver, d->extras, err);
    free(brokers);
    free(topics);
    pthread_mutex_lock(&d->lock);
    d->extras->kin = kin;
    pthread_mutex_unlock(&d->lock);
    return kin ? 0 : -1;
}

/* Under daemon_ctx_t.lock. */
static void extras_metrics(extras_t *x, sbuf_t *out)
{
    if (x->alert)
        alert_sink_metrics(x->alert, out);
    if (x->kafka)
        kafka_sink_metrics(x->kafka, out);
    if (x->es)
        es_sink_metrics(x->es, out);
    if (x->kin)
        kafka_json_metrics(x->kin, out);
    if (x->flows)
        flowtopic_metrics(x->flows, out);
    if (x->worker)
        worker_metrics(x->worker, out);
    if (x->merge)
        merge_metrics(x->merge, out);
}

/* After the engine closed its last windows: flush, within a time limit.
 * /metrics still reads the sinks' counters meanwhile. */
static void extras_close(extras_t *x)
{
    if (x->alert)
        alert_sink_close(x->alert, ALERT_FLUSH_MS);
    if (x->kafka)
        kafka_sink_close(x->kafka, FLUSH_MS);
    if (x->es)
        es_sink_close(x->es, FLUSH_MS);
}

static void extras_stop_input(daemon_ctx_t *d)
{
    pthread_mutex_lock(&d->lock);
    kafka_json_t *kin = d->extras->kin;
    d->extras->kin = NULL;
    pthread_mutex_unlock(&d->lock);
    kafka_json_stop(kin);
}

static void extras_free(daemon_ctx_t *d)
{
    extras_t *x = d->extras;
    pthread_mutex_lock(&d->lock);
    alert_sink_t *alert = x->alert;
    kafka_sink_t *kafka = x->kafka;
    es_sink_t *es = x->es;
    flowtopic_t *flows = x->flows;
    x->alert = NULL;
    x->kafka = NULL;
    x->es = NULL;
    x->flows = NULL;
    pthread_mutex_unlock(&d->lock);
    alert_sink_free(alert);
    kafka_sink_free(kafka);
    es_sink_free(es);
    flowtopic_free(flows, FLUSH_MS);
}

static void release_batch(void *ctx, flow_batch_t *b)
{
    ingest_batch_release(ctx, b);
}

static int make_dir(const char *path, diag_t *err)
{
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        mkdir(tmp, 0755);
        *p = '/';
    }
    if (mkdir(tmp, 0755) < 0 && errno != EEXIST) {
        diag_set(err, "cannot create data directory %s: %s", path,
                 strerror(errno));
        return -1;
    }
    if (access(tmp, W_OK | X_OK) < 0) {
        diag_set(err, "data directory %s is not writable: %s", path,
                 strerror(errno));
        return -1;
    }
    return 0;
}

static store_t *open_store(const config_t *cfg, diag_t *err)
{
    char path[4096], adir[4096];
    snprintf(path, sizeof(path), "%s/flowsql.db", cfg->data_dir);
    snprintf(adir, sizeof(adir), "%s/archive", cfg->data_dir);
    int64_t ret_ms = 0;
    if (duration_parse(cfg->retention, strlen(cfg->retention), &ret_ms) < 0) {
        diag_set(err, "--retention: '%s' is not a duration (e.g. 7d, 24h)",
                 cfg->retention);
        return NULL;
    }
    store_config_t sc = {
        .path = path,
        .default_retention_ms = ret_ms,
        .max_bytes = cfg->max_db_bytes > 0 ? cfg->max_db_bytes : -1,
        .adhoc_time_ms = cfg->adhoc_timeout_ms,
        .adhoc_max_rows = cfg->adhoc_max_rows,
        .adhoc_max_running = cfg->adhoc_concurrency,
        .archive_dir = adir,
    };
    return store_open(&sc, err);
}

/* The raw-flow archive under DATA/archive, or NULL with *off set when
 * --archive off. Flows of --read and of replays are not archived: they
 * do not go through the engine thread's queue. */
static archive_t *open_archive(const config_t *cfg, int *off, diag_t *err)
{
    *off = 0;
    if (strcmp(cfg->archive, "off") == 0) {
        *off = 1;
        return NULL;
    }
    if (strcmp(cfg->archive, "on") != 0) {
        diag_set(err, "--archive: '%s' is not on or off", cfg->archive);
        return NULL;
    }
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/archive", cfg->data_dir);
    archive_config_t ac = ARCHIVE_CONFIG_INIT;
    ac.dir = dir;
    ac.period_ms = cfg->archive_period_ms;
    ac.flush_ms = cfg->archive_flush_ms;
    ac.rg_flows = cfg->archive_rg_flows;
    ac.page_rows = cfg->archive_page_rows;
    ac.retention_ms = cfg->archive_retention_ms;
    int64_t nb = (cfg->archive_queue_flows + FLOW_BATCH_MAX - 1) /
                 FLOW_BATCH_MAX;
    ac.queue_batches = nb < 2 ? 2 : nb > 65536 ? 65536 : (int)nb;
    char *end;
    long lvl = strtol(cfg->archive_zstd_level, &end, 10);
    if (end == cfg->archive_zstd_level || *end || lvl < -7 || lvl > 19 ||
        lvl == 0) {
        diag_set(err, "--archive-zstd-level: '%s' is not a level from -7 to "
                 "19 (not 0)", cfg->archive_zstd_level);
        return NULL;
    }
    ac.zstd_level = (int)lvl;
    diag_t serr;
    diag_clear(&serr);
    if (archive_parse_size(cfg->archive_max_size, cfg->data_dir,
                           &ac.max_bytes, &serr) < 0) {
        diag_set(err, "--archive-max-size: %s", serr.msg);
        return NULL;
    }
    return archive_open(&ac, err);
}

/* ---- metrics of the parts app.c does not know ------------------------- */

/* Network sets read from files (--network-sets name=@file): read again
 * once a second when a file changed, and on SIGHUP (engine/netset.h). */
static counter_t netset_reloads, netset_reload_errors;

static void reload_netsets(void)
{
    int errors;
    diag_t err;
    diag_clear(&err);
    int n = netset_reload(&errors, &err);
    if (n)
        log_info("main", "%d network set%s read again from %s file%s", n,
                 n == 1 ? "" : "s", n == 1 ? "its" : "their",
                 n == 1 ? "" : "s");
    if (errors)
        log_error("main", "network sets not reloaded (the previous networks "
                  "stay in use): %s", err.msg);
    ctr_add(&netset_reloads, (uint64_t)n);
    ctr_add(&netset_reload_errors, (uint64_t)errors);
}

static void metrics(void *ctx, sbuf_t *b)
{
    daemon_ctx_t *d = ctx;
    pthread_mutex_lock(&d->lock);
    extras_metrics(d->extras, b);
    pcapsrc_metrics(d->pcapdir, d->pcaplive, b);
    if (d->ingest) {
        ingest_exporter_stats_t st[256];
        size_t n = ingest_stats(d->ingest, st, 256);
        if (n > 256)
            n = 256;
        static const struct {
            const char *name, *help;
            size_t      off;
        } m[] = {
            {"flowsql_ingest_messages_total", "messages accepted",
             offsetof(ingest_exporter_stats_t, messages)},
            {"flowsql_ingest_records_total", "flow records decoded",
             offsetof(ingest_exporter_stats_t, records)},
            {"flowsql_ingest_bytes_total", "bytes of accepted messages",
             offsetof(ingest_exporter_stats_t, bytes)},
            {"flowsql_ingest_decode_errors_total", "malformed messages or sets",
             offsetof(ingest_exporter_stats_t, decode_errors)},
            {"flowsql_ingest_unknown_template_total", "data sets without a template",
             offsetof(ingest_exporter_stats_t, unknown_tmpl)},
            {"flowsql_ingest_records_lost_total", "records lost by sequence numbers",
             offsetof(ingest_exporter_stats_t, seq_lost)},
            {"flowsql_ingest_messages_lost_total", "NetFlow v9 / sFlow datagrams lost by sequence numbers",
             offsetof(ingest_exporter_stats_t, seq_lost_msgs)},
            {"flowsql_ingest_queue_drops_total", "records dropped: engine too slow",
             offsetof(ingest_exporter_stats_t, queue_drops)},
            {"flowsql_ingest_sequence_resets_total", "sequence jumps too large to be loss: exporter restarts",
             offsetof(ingest_exporter_stats_t, seq_resets)},
            {"flowsql_ingest_tcp_refused_total", "IPFIX/TCP connections from this address refused",
             offsetof(ingest_exporter_stats_t, tcp_refused)},
            {"flowsql_ingest_sflow_stats_samples_total", "sFlow counter samples received (not flows)",
             offsetof(ingest_exporter_stats_t, counter_samples)},
        };
        for (size_t k = 0; k < sizeof(m) / sizeof(m[0]); k++) {
            sbuf_printf(b, "# HELP %s %s\n# TYPE %s counter\n", m[k].name,
                        m[k].help, m[k].name);
            for (size_t i = 0; i < n; i++) {
                char ip[IPADDR_STRLEN];
                ipaddr_format(&st[i].exporter, ip, sizeof(ip));
                sbuf_printf(b, "%s{exporter=\"%s\",domain=\"%u\"} %llu\n",
                            m[k].name, ip, st[i].domain,
                            (unsigned long long)*(const uint64_t *)
                                ((const char *)&st[i] + m[k].off));
            }
        }
        n = ingest_sflow_interfaces(d->ingest, st, 256);
        if (n > 256)
            n = 256;
        sbuf_printf(b, "# HELP flowsql_ingest_sflow_interface_stats_samples_total "
                       "sFlow counter samples per agent and interface\n"
                       "# TYPE flowsql_ingest_sflow_interface_stats_samples_total counter\n");
        for (size_t i = 0; i < n; i++) {
            char ip[IPADDR_STRLEN];
            sbuf_printf(b, "flowsql_ingest_sflow_interface_stats_samples_total"
                           "{exporter=\"%s\",ifindex=\"%u\"} %llu\n",
                        ipaddr_format(&st[i].exporter, ip, sizeof(ip)),
                        st[i].domain,
                        (unsigned long long)st[i].counter_samples);
        }
        ingest_totals_t t;
        ingest_get_totals(d->ingest, &t);
        sbuf_printf(b, "# HELP flowsql_ingest_batches_total batches handed to the engine\n"
                       "# TYPE flowsql_ingest_batches_total counter\n"
                       "flowsql_ingest_batches_total %llu\n"
                       "# HELP flowsql_ingest_tcp_connections_total IPFIX-over-TCP connections by result (accepted, rejected, closed_silent)\n"
                       "# TYPE flowsql_ingest_tcp_connections_total counter\n"
                       "flowsql_ingest_tcp_connections_total{result=\"accepted\"} %llu\n"
                       "flowsql_ingest_tcp_connections_total{result=\"rejected\"} %llu\n"
                       "flowsql_ingest_tcp_connections_total{result=\"closed_silent\"} %llu\n",
                    (unsigned long long)t.batches,
                    (unsigned long long)t.tcp_accepted,
                    (unsigned long long)t.tcp_rejected,
                    (unsigned long long)t.tcp_silent_closed);
    }
    pthread_mutex_unlock(&d->lock);
    if (d->app->archive)
        archive_metrics(d->app->archive, b);
    uint64_t aq_run, aq_total, aq_timeouts, aq_refused;
    aquery_counts(&aq_run, &aq_total, &aq_timeouts, &aq_refused);
    sbuf_printf(b,
        "# HELP flowsql_archive_queries_total queries over the archive started\n"
        "# TYPE flowsql_archive_queries_total counter\n"
        "flowsql_archive_queries_total %llu\n"
        "# HELP flowsql_archive_queries_running queries over the archive running now\n"
        "# TYPE flowsql_archive_queries_running gauge\n"
        "flowsql_archive_queries_running %llu\n"
        "# HELP flowsql_archive_query_timeouts_total queries over the archive stopped by their time limit\n"
        "# TYPE flowsql_archive_query_timeouts_total counter\n"
        "flowsql_archive_query_timeouts_total %llu\n"
        "# HELP flowsql_archive_queries_refused_total queries over the archive refused: too many running (HTTP 429)\n"
        "# TYPE flowsql_archive_queries_refused_total counter\n"
        "flowsql_archive_queries_refused_total %llu\n",
        (unsigned long long)aq_total, (unsigned long long)aq_run,
        (unsigned long long)aq_timeouts, (unsigned long long)aq_refused);
    enrich_stats_t es;
    enrich_get_stats(&es);
    sbuf_printf(b,
        "# HELP flowsql_enrich_lookups_total addresses enriched (country, AS, network name)\n"
        "# TYPE flowsql_enrich_lookups_total counter\n"
        "flowsql_enrich_lookups_total %llu\n"
        "# HELP flowsql_enrich_cache_misses_total enriched addresses looked up in the files, not in the cache\n"
        "# TYPE flowsql_enrich_cache_misses_total counter\n"
        "flowsql_enrich_cache_misses_total %llu\n"
        "# HELP flowsql_enrich_reloads_total enrichment files loaded: at start and on each SIGHUP\n"
        "# TYPE flowsql_enrich_reloads_total counter\n"
        "flowsql_enrich_reloads_total %llu\n"
        "# HELP flowsql_enrich_reload_errors_total enrichment loads refused (the previous files stay in use)\n"
        "# TYPE flowsql_enrich_reload_errors_total counter\n"
        "flowsql_enrich_reload_errors_total %llu\n"
        "# HELP flowsql_enrich_networks prefixes in the --network-names table\n"
        "# TYPE flowsql_enrich_networks gauge\n"
        "flowsql_enrich_networks %llu\n",
        (unsigned long long)es.lookups, (unsigned long long)es.cache_misses,
        (unsigned long long)es.reloads, (unsigned long long)es.reload_errors,
        (unsigned long long)es.networks);
    sbuf_printf(b,
        "# HELP flowsql_strings distinct strings interned (names, custom IPFIX string fields)\n"
        "# TYPE flowsql_strings gauge\n"
        "flowsql_strings %llu\n"
        "# HELP flowsql_string_table_overflows_total strings from the wire read as '(other)': --string-table-max reached\n"
        "# TYPE flowsql_string_table_overflows_total counter\n"
        "flowsql_string_table_overflows_total %llu\n",
        (unsigned long long)xfield_strings(),
        (unsigned long long)ctr_get(&xf_string_overflows));
    sbuf_printf(b,
        "# HELP flowsql_netset_reloads_total network sets read again from their changed files\n"
        "# TYPE flowsql_netset_reloads_total counter\n"
        "flowsql_netset_reloads_total %llu\n"
        "# HELP flowsql_netset_reload_errors_total changed network set files refused (the previous networks stay in use)\n"
        "# TYPE flowsql_netset_reload_errors_total counter\n"
        "flowsql_netset_reload_errors_total %llu\n",
        (unsigned long long)ctr_get(&netset_reloads),
        (unsigned long long)ctr_get(&netset_reload_errors));
    if (d->app->store) {
        store_stats_t s;
        store_stats(d->app->store, &s);
        sbuf_printf(b,
            "# HELP flowsql_store_windows_written_total windows written to SQLite\n"
            "# TYPE flowsql_store_windows_written_total counter\n"
            "flowsql_store_windows_written_total %llu\n"
            "# HELP flowsql_store_rows_written_total result rows committed to SQLite\n"
            "# TYPE flowsql_store_rows_written_total counter\n"
            "flowsql_store_rows_written_total %llu\n"
            "# HELP flowsql_store_rows_dropped_total rows not stored: writer queue full\n"
            "# TYPE flowsql_store_rows_dropped_total counter\n"
            "flowsql_store_rows_dropped_total %llu\n"
            "# HELP flowsql_store_rows_failed_total rows not stored: write errors\n"
            "# TYPE flowsql_store_rows_failed_total counter\n"
            "flowsql_store_rows_failed_total %llu\n"
            "# HELP flowsql_store_queue_windows windows waiting for the writer\n"
            "# TYPE flowsql_store_queue_windows gauge\n"
            "flowsql_store_queue_windows %llu\n"
            "# HELP flowsql_store_queue_rows rows waiting for the writer\n"
            "# TYPE flowsql_store_queue_rows gauge\n"
            "flowsql_store_queue_rows %llu\n"
            "# HELP flowsql_store_lag_seconds window close to commit, last window\n"
            "# TYPE flowsql_store_lag_seconds gauge\n"
            "flowsql_store_lag_seconds %.3f\n"
            "# HELP flowsql_store_retention_rows_total rows deleted by retention\n"
            "# TYPE flowsql_store_retention_rows_total counter\n"
            "flowsql_store_retention_rows_total %llu\n"
            "# HELP flowsql_store_evicted_rows_total rows deleted by the size cap\n"
            "# TYPE flowsql_store_evicted_rows_total counter\n"
            "flowsql_store_evicted_rows_total %llu\n"
            "# HELP flowsql_store_bytes database size\n"
            "# TYPE flowsql_store_bytes gauge\n"
            "flowsql_store_bytes %llu\n"
            "# HELP flowsql_store_max_bytes the database size cap (0: none)\n"
            "# TYPE flowsql_store_max_bytes gauge\n"
            "flowsql_store_max_bytes %lld\n"
            "# HELP flowsql_adhoc_queries_total ad hoc SQL queries by result\n"
            "# TYPE flowsql_adhoc_queries_total counter\n"
            "flowsql_adhoc_queries_total{result=\"run\"} %llu\n"
            "flowsql_adhoc_queries_total{result=\"refused\"} %llu\n"
            "flowsql_adhoc_queries_total{result=\"timeout\"} %llu\n"
            "flowsql_adhoc_queries_total{result=\"error\"} %llu\n",
            (unsigned long long)s.windows_written,
            (unsigned long long)s.rows_written,
            (unsigned long long)s.rows_dropped,
            (unsigned long long)s.rows_failed,
            (unsigned long long)s.queue_windows,
            (unsigned long long)s.queue_rows, s.lag_ms / 1000.0,
            (unsigned long long)s.retention_rows,
            (unsigned long long)s.evicted_rows,
            (unsigned long long)s.file_bytes, (long long)s.max_bytes,
            (unsigned long long)s.adhoc_queries,
            (unsigned long long)s.adhoc_refused,
            (unsigned long long)s.adhoc_timeouts,
            (unsigned long long)s.adhoc_errors);
    }
}

/* ---- --read FILE: the registered queries over a file -------------------- */

static void print_window(output_t *o, rowset_t *rs)
{
    (void)o;
    json_t *j = format_window(rs);
    char *s = json_dumps_short(j, JSON_COMPACT);
    printf("%s\n", s);
    free(s);
    json_decref(j);
}

static void read_emit(void *ctx, flow_batch_t *b)
{
    app_t *a = ctx;
    sampling_apply(a->sampling, b);
    enrich_batch(b, engine_fields(a->engine));
    if (a->anon && (a->anon_scope & ANON_ALL))
        anon_batch(a->anon, b);
    engine_process(a->engine, b);
}

/* Replay the file through the saved and catalog queries: windows follow
 * the flows' own times, are stored like live ones and printed as JSON
 * lines. */
static int run_file(app_t *a)
{
    engine_config_t ec = {.replay = 1, .max_groups = a->cfg.max_groups,
                          .max_queries = a->cfg.max_queries,
                          .share = strcmp(a->cfg.share_aggregation, "on") == 0,
                          .threads = app_engine_threads(&a->cfg, NULL)};
    engine_t *live = a->engine;
    a->engine = engine_new(&ec);
    output_t printer = {"stdout", print_window, NULL};
    engine_add_output(a->engine, &printer);
    if (a->store)
        engine_add_output(a->engine, app_anon_output(a, store_output(a->store),
                                                     ANON_STORE));
    app_load_saved(a);
    app_resume_catalog(a);
    /* Cleared: diag_set() keeps the first error, so a diag with garbage
     * in .set would keep garbage as its message. */
    diag_t err;
    diag_clear(&err);
    ingest_file_result_t res;
    meter_stats_t ms;
    int rc = -1;
    /* IPFIX, or a packet capture metered into flows (by the magic) */
    int fd = open(a->cfg.read_file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        diag_set(&err, "cannot open %s: %s", a->cfg.read_file,
                 strerror(errno));
    else {
        rc = ingest_read_any_fd(fd, a->cfg.read_file, 0, &a->meter_cfg,
                                read_emit, a, &res, &ms, &err);
        close(fd);
    }
    engine_finish(a->engine);
    if (rc < 0)     /* the message names the file */
        log_error("main", "%s", err.msg);
    else if (ms.packets)
        log_info("main", "%s: %llu packets, %llu metered, %llu not IP, "
                 "%llu truncated, %llu malformed, %llu fragments, %llu "
                 "without transport header; %llu flow records (%llu "
                 "exported early: table full)",
                 a->cfg.read_file, (unsigned long long)ms.packets,
                 (unsigned long long)ms.metered,
                 (unsigned long long)ms.not_ip,
                 (unsigned long long)ms.truncated,
                 (unsigned long long)ms.malformed,
                 (unsigned long long)ms.fragments,
                 (unsigned long long)ms.no_transport,
                 (unsigned long long)ms.flows_out,
                 (unsigned long long)ms.table_full);
    else
        log_info("main", "%s: %llu messages, %llu records, %llu decode errors",
                 a->cfg.read_file, (unsigned long long)res.messages,
                 (unsigned long long)res.records,
                 (unsigned long long)res.decode_errors);
    engine_free(a->engine);
    a->engine = live;
    return rc < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
    config_t cfg;
    diag_t err;
    int rc = config_load(&cfg, argc, argv, &err);
    if (rc != 0) {
        if (rc < 0)
            fprintf(stderr, "flowsqld: %s\n", err.msg);
        config_free(&cfg);
        return rc < 0 ? 2 : 0;
    }
    if (strcmp(cfg.ipfix_fast, "on") && strcmp(cfg.ipfix_fast, "off")) {
        fprintf(stderr, "flowsqld: --ipfix-fast: '%s' is not on or off\n",
                cfg.ipfix_fast);
        config_free(&cfg);
        return 2;
    }
    ingest_set_ipfix_fast(strcmp(cfg.ipfix_fast, "on") == 0);
    int lvl = log_level_parse(cfg.log_level);
    if (lvl < 0) {
        fprintf(stderr, "flowsqld: --log-level: '%s' is not error, warn, "
                "info or debug\n", cfg.log_level);
        config_free(&cfg);
        return 2;
    }
    log_set_level((enum log_level)lvl);

    /* Signals are taken by the main thread alone (sigtimedwait below);
     * every thread started from here on inherits the blocked mask. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* A file size limit (ulimit -f) makes writes past it fail with EFBIG,
     * counted as the archive's and the store's write errors, instead of
     * killing the daemon. */
    signal(SIGXFSZ, SIG_IGN);

    mem_set_limit(cfg.max_memory);
    if (cfg.string_table_max < 0) {
        fprintf(stderr, "flowsqld: --string-table-max: %lld is negative\n",
                (long long)cfg.string_table_max);
        config_free(&cfg);
        return 2;
    }
    xfield_set_string_max((size_t)cfg.string_table_max);
    if (*cfg.ipfix_elements &&
        xfield_load(cfg.ipfix_elements, err.msg, sizeof(err.msg)) < 0) {
        log_error("main", "%s", err.msg);
        config_free(&cfg);
        return 2;
    }
    if (netset_define("monitored", cfg.monitored, &err) < 0 ||
        netset_define_all(cfg.network_sets, &err) < 0) {
        log_error("main", "%s", err.msg);
        config_free(&cfg);
        return 2;
    }
    app_t app;
    if (make_dir(cfg.data_dir, &err) < 0 ||
        app_init(&app, &cfg, &err) < 0) {
        log_error("main", "%s", err.msg);
        config_free(&cfg);
        return 1;
    }
    app.store = open_store(&cfg, &err);
    if (!app.store) {
        log_error("main", "%s", err.msg);
        app_free(&app);
        config_free(&cfg);
        return 1;
    }
    engine_add_output(app.engine,
                      app_anon_output(&app, store_output(app.store),
                                      ANON_STORE));
    enrich_config_t enc = {.geoip_db = cfg.geoip_db, .asn_db = cfg.asn_db,
                           .network_names = cfg.network_names,
                           .exporter_names = cfg.exporter_names,
                           .interface_names = cfg.interface_names};
    if (enrich_load(&enc, &err) < 0) {
        log_error("main", "%s", err.msg);
        store_close(app.store);
        app_free(&app);
        config_free(&cfg);
        return 1;
    }

    if (*cfg.read_file) {
        rc = run_file(&app);
        store_close(app.store);
        app_free(&app);
        config_free(&cfg);
        return rc;
    }

    int archive_off;
    app.archive = open_archive(&cfg, &archive_off, &err);
    if (!app.archive && !archive_off) {
        log_error("main", "%s", err.msg);
        store_close(app.store);
        app_free(&app);
        config_free(&cfg);
        return 1;
    }

    extras_t extras = {0};
    daemon_ctx_t dctx = {.app = &app, .extras = &extras};
    pthread_mutex_init(&dctx.lock, NULL);
    http_t *http = NULL;
    if (extras_outputs(&extras, &app, &cfg, &err) < 0)
        goto fail;
    if (strcmp(cfg.http, "off") != 0) {
        http = http_start(&app, &err);
        if (!http)
            goto fail;
        http_hooks_t hooks;
        results_hooks(&app, &hooks);
        hooks.metrics = metrics;
        hooks.metrics_ctx = &dctx;
        http_set_hooks(http, &hooks);
    }
    const char *bad_tcp =
        cfg.tcp_conns < 1        ? "--tcp-connections must be at least 1"
        : cfg.tcp_per_source < 1 ? "--tcp-per-source must be at least 1"
        : cfg.tcp_silent_ms < 1000
            ? "--tcp-silent-timeout must be at least 1s"
            : NULL;
    if (bad_tcp) {
        diag_set(&err, "%s", bad_tcp);
        goto fail;
    }
    ingest_config_t ic = INGEST_CONFIG_INIT;
    ic.bind_addr = cfg.listen;
    ic.ipfix_udp_port = cfg.ipfix_port ? cfg.ipfix_port : -1;
    ic.ipfix_tcp_port = cfg.ipfix_port ? cfg.ipfix_port : -1;
    ic.netflow_port = cfg.netflow_port ? cfg.netflow_port : -1;
    ic.sflow_port = cfg.sflow_port ? cfg.sflow_port : -1;
    ic.rcvbuf = cfg.rcvbuf;
    ic.max_tcp_conns = cfg.tcp_conns;
    ic.max_tcp_per_source = cfg.tcp_per_source;
    ic.tcp_silent_timeout_s = (int)((cfg.tcp_silent_ms + 999) / 1000);
    ic.pool_batches = app.queue_batches + 4;  /* the queue full, and the
                                                 batches being filled */
    if (app.archive)    /* and the archive's queue, full */
        ic.pool_batches += (int)((cfg.archive_queue_flows + FLOW_BATCH_MAX -
                                  1) / FLOW_BATCH_MAX) + 2;
    ic.out = &app.flows;
    set_ingest(&dctx, ingest_start(&ic, &err));
    if (!dctx.ingest)
        goto fail;
    app_set_release(&app, release_batch, dctx.ingest);
    if (app.archive)
        archive_set_release(app.archive, release_batch, dctx.ingest);
    if (app_start(&app, &err) < 0 || extras_input(&dctx, &cfg, &err) < 0)
        goto fail;
    app_load_saved(&app);
    app_resume_catalog(&app);
    if (start_pcap(&dctx, &cfg, &err) < 0 ||
        extras_roles(&dctx, &cfg, &err) < 0)
        goto fail;
    http_set_state(http, HTTP_READY);
    log_info("main", "flowsqld %s running (pid %d): IPFIX udp+tcp/%d, "
             "NetFlow udp/%d, sFlow udp/%d, data %s", FLOWSQL_VERSION,
             (int)getpid(), cfg.ipfix_port, cfg.netflow_port, cfg.sflow_port,
             cfg.data_dir);

    for (;;) {
        struct timespec ts = {1, 0};
        int sig = sigtimedwait(&sigs, NULL, &ts);
        if (sig == SIGHUP) {
            log_info("main", "SIGHUP: reloading %s", cfg.queries_dir);
            app_load_saved(&app);
            diag_t rerr;
            diag_clear(&rerr);
            if (enrich_reload(&rerr) < 0)
                log_error("main", "SIGHUP: enrichment not reloaded, the "
                          "previous files stay in use: %s", rerr.msg);
            else
                log_info("main", "SIGHUP: enrichment files reloaded");
        } else if (sig == SIGTERM || sig == SIGINT) {
            log_info("main", "%s: shutting down", sig == SIGTERM ? "SIGTERM"
                                                                 : "SIGINT");
            http_set_state(http, HTTP_STOPPING);
            break;
        }
        app_reap_temporary(&app, cfg.temp_idle_ms);
        reload_netsets();
    }
    /* Stop intake, close every window as it stands, then flush the
     * outputs. The collectors' batches still queued are processed by the
     * engine thread before it finishes. */
    app_set_release(&app, NULL, NULL);
    if (app.archive)
        archive_set_release(app.archive, NULL, NULL);
    stop_ingest(&dctx);
    extras_stop_input(&dctx);
    extras_stop_roles(&dctx);
    stop_pcap(&dctx);
    app_stop(&app);
    if (store_flush(app.store, FLUSH_MS) != STORE_OK)
        log_warn("main", "storage did not finish writing within %d ms",
                 FLUSH_MS);
    extras_close(&extras);
    http_stop(http);
    /* After the engine (no more batches) and the REST API (no more
     * scans or /metrics): the last row groups, the files closed. */
    archive_close(app.archive);
    app.archive = NULL;
    extras_free(&dctx);
    pthread_mutex_destroy(&dctx.lock);
    store_close(app.store);
    app_free(&app);
    enrich_shutdown();
    config_free(&cfg);
    log_info("main", "stopped");
    return 0;

fail:
    log_error("main", "%s", err.msg);
    app_set_release(&app, NULL, NULL);
    if (app.archive)
        archive_set_release(app.archive, NULL, NULL);
    stop_ingest(&dctx);
    extras_stop_input(&dctx);
    extras_stop_roles(&dctx);
    stop_pcap(&dctx);
    http_stop(http);
    app_stop(&app);
    archive_close(app.archive);
    app.archive = NULL;
    extras_close(&extras);
    extras_free(&dctx);
    pthread_mutex_destroy(&dctx.lock);
    store_close(app.store);
    app_free(&app);
    config_free(&cfg);
    return 1;
}
