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
#include "server/app.h"
#include "server/config.h"
#include "server/http.h"
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
    http_t *http = NULL;
    if (strcmp(cfg.http, "off") != 0) {
        http = http_start(&app, &err);
        if (!http) {
            log_error("main", "%s", err.msg);
            app_free(&app);
            config_free(&cfg);
            return 1;
        }
    }
    if (app_start(&app, &err) < 0) {
        log_error("main", "%s", err.msg);
        http_stop(http);
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
    app_stop(&app);
    http_stop(http);
    app_free(&app);
    config_free(&cfg);
    log_info("main", "stopped");
    return 0;
}
