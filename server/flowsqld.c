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
#include "ingest/kafka_json.h"
#include "server/app.h"
#include "server/config.h"
#include "server/http.h"
#include "sinks/elastic.h"
#include "sinks/kafka.h"
#include "util/log.h"
#include "util/timeutil.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TEMP_IDLE_MS 60000
#define SINK_FLUSH_MS 10000   /* shutdown: time the outputs get to flush */

/* ---- outputs to Kafka and Elasticsearch, flows from Kafka ----------------
 * Created when their option is set; the sinks are engine outputs, the
 * Kafka input feeds the engine's queue like any collector. */
typedef struct extras {
    kafka_sink_t *kafka;
    es_sink_t    *es;
    kafka_json_t *kin;
    app_t        *app;
} extras_t;

static int extras_outputs(extras_t *x, app_t *app, const config_t *c,
                          diag_t *err)
{
    x->app = app;
    if (*c->kafka_brokers) {
        kafka_sink_config_t kc = {.brokers = c->kafka_brokers,
                                  .topic = c->kafka_topic,
                                  .props = c->kafka_props};
        if (!(x->kafka = kafka_sink_new(&kc, err)))
            return -1;
        engine_add_output(app->engine, kafka_sink_output(x->kafka));
    }
    if (*c->es_url) {
        es_sink_config_t ec = {.url = c->es_url, .index = c->es_index,
                               .user = c->es_user, .password = c->es_password,
                               .api_key = c->es_api_key, .ca = c->es_ca};
        if (!(x->es = es_sink_new(&ec, err)))
            return -1;
        engine_add_output(app->engine, es_sink_output(x->es));
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

static int extras_input(extras_t *x, const config_t *c, diag_t *err)
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
    x->kin = kafka_json_start(&kc, extras_deliver, x, err);
    free(brokers);
    free(topics);
    return x->kin ? 0 : -1;
}

static void extras_metrics(void *ctx, sbuf_t *out)
{
    extras_t *x = ctx;
    if (x->kafka)
        kafka_sink_metrics(x->kafka, out);
    if (x->es)
        es_sink_metrics(x->es, out);
    if (x->kin)
        kafka_json_metrics(x->kin, out);
}

static void extras_stop_input(extras_t *x)
{
    kafka_json_stop(x->kin);
    x->kin = NULL;
}

/* After the engine closed its last windows: flush, within a time limit. */
static void extras_close(extras_t *x)
{
    if (x->kafka)
        kafka_sink_close(x->kafka, SINK_FLUSH_MS);
    if (x->es)
        es_sink_close(x->es, SINK_FLUSH_MS);
    kafka_sink_free(x->kafka);
    es_sink_free(x->es);
    x->kafka = NULL;
    x->es = NULL;
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

    if (make_dir(cfg.data_dir, &err) < 0) {
        log_error("main", "%s", err.msg);
        config_free(&cfg);
        return 1;
    }
    app_t app;
    if (app_init(&app, &cfg, &err) < 0) {
        log_error("main", "%s", err.msg);
        return 1;
    }
    extras_t extras = {0};
    if (extras_outputs(&extras, &app, &cfg, &err) < 0) {
        log_error("main", "%s", err.msg);
        extras_close(&extras);
        app_free(&app);
        config_free(&cfg);
        return 1;
    }
    http_t *http = NULL;
    if (strcmp(cfg.http, "off") != 0) {
        http = http_start(&app, &err);
        if (!http) {
            log_error("main", "%s", err.msg);
            extras_close(&extras);
            app_free(&app);
            config_free(&cfg);
            return 1;
        }
        http_hooks_t hooks = {.metrics = extras_metrics, .ctx = &extras};
        http_set_hooks(http, &hooks);
    }
    if (app_start(&app, &err) < 0 || extras_input(&extras, &cfg, &err) < 0) {
        log_error("main", "%s", err.msg);
        extras_stop_input(&extras);
        app_stop(&app);
        http_stop(http);
        extras_close(&extras);
        app_free(&app);
        config_free(&cfg);
        return 1;
    }
    app_load_saved(&app);
    log_info("main", "flowsqld %s running (pid %d)", FLOWSQL_VERSION,
             (int)getpid());

    for (;;) {
        struct timespec ts = {1, 0};
        int sig = sigtimedwait(&sigs, NULL, &ts);
        if (sig == SIGHUP) {
            log_info("main", "SIGHUP: reloading %s", cfg.queries_dir);
            app_load_saved(&app);
        } else if (sig == SIGTERM || sig == SIGINT) {
            log_info("main", "%s: shutting down", sig == SIGTERM ? "SIGTERM"
                                                                 : "SIGINT");
            break;
        }
        app_reap_temporary(&app, TEMP_IDLE_MS);
    }
    /* Stop intake first, then close windows, then the outputs. */
    extras_stop_input(&extras);
    app_stop(&app);
    http_stop(http);
    extras_close(&extras);
    app_free(&app);
    config_free(&cfg);
    log_info("main", "stopped");
    return 0;
}
