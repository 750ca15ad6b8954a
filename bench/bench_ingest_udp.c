/*
 * bench_ingest_udp - the loss-free IPFIX/UDP rate on loopback: flowgen
 * sends at increasing rates, the ingest receives and decodes, a consumer
 * thread counts the records (the engine is not in this measurement). A
 * rate is loss-free when every record arrived: received == sent, no
 * sequence-number gap, no queue drop.
 *
 *   build/bench/bench_ingest_udp [--flows N] [--sources N]
 *                                [--rates R1,R2,...] [--flowgen PATH]
 *
 * Defaults: 5M flows per rate over 100k sources, rates 250k,500k,1M,1.5M,
 * 2M flows/s. Prints one line per rate and the highest loss-free one.
 */
#include "ingest/ingest.h"
#include "util/log.h"
#include "util/timeutil.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct consumer {
    bqueue_t q;
    ingest_t *ing;
    volatile int stop;
    uint64_t records;
} consumer_t;

static void *consume(void *arg)
{
    consumer_t *c = arg;
    while (!c->stop) {
        flow_batch_t *b = bqueue_pop(&c->q, 20);
        if (!b)
            continue;
        __atomic_add_fetch(&c->records, b->n, __ATOMIC_RELAXED);
        ingest_batch_release(c->ing, b);
    }
    return NULL;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
           ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static int run_flowgen(const char *flowgen, int port, double rate,
                       uint64_t flows, unsigned sources, double *elapsed)
{
    char dest[64], r[32], n[32], s[32];
    snprintf(dest, sizeof(dest), "127.0.0.1:%d", port);
    snprintf(r, sizeof(r), "%.0f", rate);
    snprintf(n, sizeof(n), "%llu", (unsigned long long)flows);
    snprintf(s, sizeof(s), "%u", sources);
    int64_t t0 = time_mono_ms();
    pid_t pid = fork();
    if (pid == 0) {
        execl(flowgen, flowgen, "--udp", dest, "--rate", r, "--flows", n,
              "--sources", s, "--dests", "10000", (char *)NULL);
        _exit(127);
    }
    int status;
    waitpid(pid, &status, 0);
    *elapsed = (time_mono_ms() - t0) / 1000.0;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    uint64_t flows = 5000000;
    unsigned sources = 100000;
    const char *flowgen = "build/flowgen";
    char rates_s[256] = "250000,500000,1000000,1500000,2000000";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--flows"))
            flows = strtoull(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--sources"))
            sources = (unsigned)atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--rates"))
            snprintf(rates_s, sizeof(rates_s), "%s", argv[i + 1]);
        else if (!strcmp(argv[i], "--flowgen"))
            flowgen = argv[i + 1];
    }
    log_set_level(LOG_ERROR);
    double best = 0;
    for (char *tok = strtok(rates_s, ","); tok; tok = strtok(NULL, ",")) {
        double rate = atof(tok);
        consumer_t c = {0};
        bqueue_init(&c.q, 256);
        ingest_config_t cfg = INGEST_CONFIG_INIT;
        cfg.bind_addr = "127.0.0.1";
        cfg.ipfix_udp_port = 0;
        cfg.ipfix_tcp_port = -1;
        cfg.netflow_port = -1;
        cfg.rcvbuf = 64 << 20;
        cfg.pool_batches = 320;
        cfg.out = &c.q;
        diag_t err = {0};
        c.ing = ingest_start(&cfg, &err);
        if (!c.ing) {
            fprintf(stderr, "bench_ingest_udp: %s\n", err.msg);
            return 1;
        }
        pthread_t th;
        pthread_create(&th, NULL, consume, &c);
        double cpu0 = cpu_s(), elapsed;
        if (run_flowgen(flowgen, ingest_port(c.ing, INGEST_IPFIX_UDP), rate,
                        flows, sources, &elapsed) != 0) {
            fprintf(stderr, "bench_ingest_udp: %s failed\n", flowgen);
            return 1;
        }
        /* let the receiver drain */
        uint64_t last = ~0ULL;
        while (__atomic_load_n(&c.records, __ATOMIC_RELAXED) != last) {
            last = __atomic_load_n(&c.records, __ATOMIC_RELAXED);
            usleep(300000);
        }
        double cpu = cpu_s() - cpu0;
        ingest_exporter_stats_t st[4] = {0};
        ingest_stats(c.ing, st, 4);
        ingest_totals_t tot;
        ingest_get_totals(c.ing, &tot);
        c.stop = 1;
        pthread_join(th, NULL);
        ingest_stop(c.ing);
        flow_batch_t *b;
        bqueue_close(&c.q);
        while ((b = bqueue_pop(&c.q, 0))) {
            c.records += b->n;
            flow_batch_free(b);
        }
        bqueue_destroy(&c.q);
        int ok = c.records == flows && st[0].seq_lost == 0 &&
                 tot.queue_drops == 0;
        printf("rate %9.0f/s: sent %llu in %.2f s (%.0f/s), received %llu, "
               "lost by sequence %llu, queue drops %llu, ingest+consumer "
               "cpu %.2f s (%.2f s per M flows): %s\n",
               rate, (unsigned long long)flows, elapsed, flows / elapsed,
               (unsigned long long)c.records,
               (unsigned long long)st[0].seq_lost,
               (unsigned long long)tot.queue_drops, cpu,
               cpu / (flows / 1e6), ok ? "LOSS-FREE" : "LOSS");
        fflush(stdout);
        if (ok && flows / elapsed > best)
            best = flows / elapsed;
    }
    printf("highest loss-free rate: %.0f flows/s\n", best);
    return 0;
}
