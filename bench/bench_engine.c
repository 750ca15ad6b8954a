/*
 * bench_engine.c - the engine alone: in-memory batches, no I/O.
 *
 * Prints flows per second (one core: the engine thread) and peak memory
 * for each scenario, each run in its own process so peak RSS is its own.
 *
 *   build/bench/bench_engine [flows-per-scenario [scenario-substring]]
 *
 * BENCH_THREADS=1,2,4 runs the saved-query scenarios (sharing on) on
 * each number of engine threads (engine_config_t.threads), timed by the
 * wall clock instead of the process's CPU time (which adds the threads'
 * times up).
 */
#include "engine/engine.h"
#include "util/arena.h"
#include "util/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

#define POOL 128   /* distinct batches, cycled */

static uint64_t rng = 88172645463325252ULL;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)rng;
}

static flow_batch_t *pool[POOL];
static int share_on;      /* engine_config_t.share for the next scenario */
static int threads;       /* engine_config_t.threads for the next scenario */
static int wall_clock;    /* time by the wall clock (BENCH_THREADS) */
static int uniform_dst;   /* worst case: every flow to a random host */

static void make_pool(uint32_t nsrc)
{
    static const int ports[] = {80, 443, 53, 22, 123, 25, 3389, 8080};
    for (int k = 0; k < POOL; k++) {
        flow_batch_t *b = pool[k] ? pool[k] : flow_batch_new();
        flow_batch_reset(b);
        for (int j = 0; j < FLOW_BATCH_MAX; j++) {
            int i = flow_batch_add(b);
            b->srcip[i] = ipaddr_from_v4(0x0a000000u + rnd() % nsrc);
            /* Realistic: 70% of flows go to 2000 servers, skewed to the
             * popular ones; the rest anywhere in a /16. */
            uint32_t d;
            if (uniform_dst || rnd() % 10 >= 7) {
                d = rnd() % 65536;
            } else {
                uint32_t u = rnd() % 2000;
                d = (u * u) / 2000;
            }
            b->dstip[i] = ipaddr_from_v4(0xc0a80000u + d);
            b->srcport[i] = 1024 + rnd() % 60000;
            b->dstport[i] = rnd() % 4 ? (int64_t)ports[rnd() % 8] : (int64_t)(rnd() % 65536);
            uint32_t pr = rnd() % 10;
            b->proto[i] = pr < 7 ? 6 : pr < 9 ? 17 : 1;
            b->tcpflags[i] = b->proto[i] == 6 ? (rnd() % 5 ? 0x1b : 0x02) : 0;
            b->packets[i] = 1 + rnd() % 50;
            b->bytes[i] = b->packets[i] * (40 + rnd() % 1400);
        }
        pool[k] = b;
    }
}

static void null_window(output_t *o, rowset_t *rs)
{
    (void)rs;
    (*(uint64_t *)o->ctx)++;
}

static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(wall_clock ? CLOCK_MONOTONIC : CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void print_memory(void *ctx, const char *name, const plan_t *p,
                         const query_stats_t *st)
{
    (void)ctx;
    (void)p;
    fprintf(stderr, "  %-24s %8.1f MB %8llu groups\n", name,
            (double)st->memory_bytes / 1048576.0,
            (unsigned long long)st->groups_open);
}

/* Run queries over nflows flows; windows advance with the receive time:
 * per_window flows per window of the first query's size. */
static const char *only;

static void scenario(const char *label, uint32_t nsrc, const char **sqls,
                     int nq, uint64_t nflows, int64_t window_ms,
                     uint64_t per_window)
{
    if (only && !strstr(label, only))
        return;
    fflush(stdout);
    pid_t pid = fork();
    if (pid != 0) {
        int st;
        waitpid(pid, &st, 0);
        return;
    }
    make_pool(nsrc);
    engine_config_t cfg = {.share = share_on, .threads = threads};
    engine_t *e = engine_new(&cfg);
    uint64_t windows = 0;
    output_t out = {"null", null_window, &windows};
    engine_add_output(e, &out);
    for (int i = 0; i < nq; i++) {
        diag_t err;
        plan_t *p = plan_compile(sqls[i], strlen(sqls[i]), 0, &err);
        if (!p || engine_register(e, p->name ? p->name : "q", p, &err) < 0) {
            fprintf(stderr, "%s: %s\n", sqls[i], err.msg);
            exit(1);
        }
    }
    /* Receive times: per_window flows per window_ms. Each pass over the
     * pool shifts the sources, so all nsrc of them occur. */
    double ms_per_batch = (double)window_ms * FLOW_BATCH_MAX / (double)per_window;
    int64_t t0 = 1700000000000LL;
    uint64_t nb = nflows / FLOW_BATCH_MAX;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    long base_kb = ru.ru_maxrss;
    double busy = 0, closing = 0;
    int64_t longest = 0;    /* the longest tick (wall ms): a stall */
    for (uint64_t k = 0; k < nb; k++) {
        flow_batch_t *b = pool[k % POOL];
        int64_t t = t0 + (int64_t)((double)k * ms_per_batch);
        uint32_t shift = (uint32_t)((k / POOL) * (POOL * FLOW_BATCH_MAX / 4));
        for (uint32_t i = 0; i < b->n; i++) {
            b->received[i] = t;
            b->end[i] = t - (int64_t)(i % 5000);
            b->start[i] = b->end[i] - (int64_t)(i % 3000);
            if (k >= POOL) {
                uint32_t v4 = ipaddr_v4(&b->srcip[i]) - 0x0a000000u;
                v4 = (v4 + shift / POOL) % nsrc;
                b->srcip[i] = ipaddr_from_v4(0x0a000000u + v4);
            }
        }
        double c0 = cpu_seconds();
        engine_process(e, b);
        double c1 = cpu_seconds();
        if (k % 16 == 0) {
            int64_t w0 = time_mono_ms();
            engine_tick(e, t);
            int64_t took = time_mono_ms() - w0;
            longest = took > longest ? took : longest;
        }
        double c2 = cpu_seconds();
        busy += c2 - c0;
        closing += c2 - c1;
    }
    if (getenv("BENCH_MEMORY"))          /* what each query holds now */
        engine_foreach(e, print_memory, NULL);
    if (threads > 1) {                   /* how busy each thread was */
        fprintf(stderr, "  busy:");
        for (int k = 0; k < engine_threads(e); k++)
            fprintf(stderr, " %.2f s", (double)engine_thread_busy_ns(e, k) / 1e9);
        fprintf(stderr, "\n");
    }
    double c0 = cpu_seconds();
    engine_finish(e);
    double fin = cpu_seconds() - c0;
    busy += fin;
    closing += fin;
    getrusage(RUSAGE_SELF, &ru);
    printf("%-40s %7.2f Mflows/s %7.2f per-flow %7.1f ms/close %7.1f MB %4llu %6lld ms\n",
           label, (double)(nb * FLOW_BATCH_MAX) / busy / 1e6,
           (double)(nb * FLOW_BATCH_MAX) / (busy - closing) / 1e6,
           windows ? closing * 1e3 / (double)windows : 0.0,
           (double)(ru.ru_maxrss - base_kb) / 1024.0,
           (unsigned long long)windows, (long long)longest);
    engine_free(e);
    exit(0);
}

/* The saved queries of queries/ (the repository's), as statements. */
static int load_saved(const char **out, int max)
{
    DIR *d = opendir("queries");
    if (!d)
        return 0;
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)) && n < max) {
        size_t l = strlen(e->d_name);
        if (l < 5 || strcmp(e->d_name + l - 4, ".sql") != 0)
            continue;
        char path[512];
        snprintf(path, sizeof(path), "queries/%s", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        char *text = xcalloc(1, 65536);
        size_t len = fread(text, 1, 65535, f);
        text[len] = 0;
        fclose(f);
        out[n++] = text;
    }
    closedir(d);
    return n;
}

int main(int argc, char **argv)
{
    uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 50000000ULL;
    only = argc > 2 ? argv[2] : NULL;
    const char *card[] = {
        "SELECT srcip, count(*) FROM flows WINDOW 10s GROUP BY srcip"};
    const char *hop[] = {
        "SELECT srcip, count(*) FROM flows WINDOW 5m SLIDE 10s GROUP BY srcip"};
    const char *ten[] = {
        "CREATE QUERY proto_stats AS SELECT proto, count(*), sum(packets), "
        "sum(bytes) FROM flows WINDOW 10s GROUP BY proto",
        "CREATE QUERY top_bytes AS SELECT srcip, sum(bytes) AS bytes FROM flows "
        "WINDOW 1m GROUP BY srcip ORDER BY bytes DESC LIMIT 10",
        "CREATE QUERY top_flows AS SELECT srcip, count(*) AS flows FROM flows "
        "WINDOW 1m GROUP BY srcip ORDER BY flows DESC LIMIT 10",
        "CREATE QUERY top_services AS SELECT dstport, count(*) AS flows FROM "
        "flows WINDOW 1m GROUP BY dstport ORDER BY flows DESC LIMIT 10",
        "CREATE QUERY host_stats AS SELECT srcip, count(*), sum(packets), "
        "sum(bytes), avg(duration), count(DISTINCT dstip) AS peers, "
        "count(DISTINCT dstport) AS ports FROM flows WINDOW 10s GROUP BY srcip",
        "CREATE QUERY host_flags AS SELECT srcip, sum(CASE WHEN has_flags(tcpflags, 'S') "
        "THEN 1 ELSE 0 END) AS syn, sum(CASE WHEN has_flags(tcpflags, 'R') THEN 1 "
        "ELSE 0 END) AS rst FROM flows WINDOW 10s WHERE proto = 'tcp' GROUP BY srcip",
        "CREATE QUERY hscan AS SELECT srcip, dstport, count(DISTINCT dstip) AS "
        "targets FROM flows WINDOW 1m WHERE tcpflags = 'S' GROUP BY srcip, "
        "dstport HAVING count(DISTINCT dstip) > 50",
        "CREATE QUERY ssh AS SELECT srcip, count(*) AS attempts FROM flows "
        "WINDOW 1m WHERE dstport = 22 AND packets < 20 GROUP BY srcip "
        "HAVING count(*) > 30",
        "CREATE QUERY dns AS SELECT dstip, count(*) FROM flows WINDOW 10s WHERE "
        "proto = 'udp' AND srcport = 53 GROUP BY dstip HAVING count(*) > 100",
        "CREATE QUERY syn_flood AS SELECT dstip, count(*) AS syns FROM flows "
        "WINDOW 10s WHERE tcpflags = 'S' GROUP BY dstip HAVING count(*) > 1000",
    };
    printf("engine benchmark: %llu flows per scenario, one engine thread\n"
           "%-40s %15s %16s %15s %7s %4s %9s\n", (unsigned long long)n, "scenario",
           "all", "aggregation", "window close", "memory", "wins", "long tick");
    scenario("design card, 10k sources", 10000, card, 1, n, 10000, 5000000);
    scenario("design card, 100k sources", 100000, card, 1, n, 10000, 5000000);
    scenario("design card, 1M sources", 1000000, card, 1, n, 10000, 20000000);
    scenario("WINDOW 5m SLIDE 10s, 100k sources", 100000, hop, 1, n, 10000,
             5000000);
    scenario("ten standard queries, 100k sources", 100000, ten, 10, n / 4,
             10000, 5000000);
    const char *saved[65];
    int nsaved = load_saved(saved, 64);
    const char *tl = getenv("BENCH_THREADS");
    if (nsaved && tl) {
        /* The saved queries (and the card) with sharing, on 1..N threads */
        saved[nsaved] = "CREATE QUERY design_card AS SELECT srcip, count(*) "
                        "FROM flows WINDOW 10s GROUP BY srcip";
        wall_clock = 1;
        share_on = 1;
        for (const char *t = tl; *t; t += *t == ',') {
            char *end;
            threads = (int)strtol(t, &end, 10);
            if (end == t)
                break;
            t = end;
            for (int card_too = 0; card_too < 2; card_too++) {
                char label[64];
                snprintf(label, sizeof(label), "%d saved%s, sharing, %d thr",
                         nsaved, card_too ? " + card" : "", threads);
                scenario(label, 100000, saved, nsaved + card_too, n / 4, 10000,
                         5000000);
            }
        }
        return 0;
    }
    if (nsaved) {
        /* The saved queries, then with the design card as flowsqld runs
         * them; each with sharing off and on (engine/share.h). */
        saved[nsaved] = "CREATE QUERY design_card AS SELECT srcip, count(*) "
                        "FROM flows WINDOW 10s GROUP BY srcip";
        for (int card_too = 0; card_too < 2; card_too++)
            for (share_on = 0; share_on < 2; share_on++) {
                char label[64];
                snprintf(label, sizeof(label), "%d saved%s, 100k, sharing %s",
                         nsaved, card_too ? " + card" : "",
                         share_on ? "on" : "off");
                scenario(label, 100000, saved, nsaved + card_too, n / 4, 10000,
                         5000000);
            }
        share_on = 0;
    }
    /* Each saved query alone (bench_engine N saved-each): what each one
     * costs in time and memory. */
    if (only && strcmp(only, "saved-each") == 0)
        for (int i = 0; i < nsaved; i++) {
            char label[64];
            const char *nm = strstr(saved[i], "CREATE QUERY ");
            int len = 0;
            if (nm) {
                nm += 13;
                while (nm[len] && nm[len] != ' ' && nm[len] != '\n')
                    len++;
            }
            only = NULL;
            snprintf(label, sizeof(label), "  alone: %.*s", len, nm ? nm : "?");
            scenario(label, 100000, &saved[i], 1, n / 4, 10000, 5000000);
            only = "saved-each";
        }
    uniform_dst = 1;
    scenario("ten, uniform destinations (worst case)", 100000, ten, 10,
             n / 4, 10000, 5000000);
    uniform_dst = 0;
    if (only && strcmp(only, "each") == 0)
        for (int i = 0; i < 10; i++) {
            char label[64];
            only = NULL;
            snprintf(label, sizeof(label), "  alone: %.30s", ten[i] + 13);
            scenario(label, 100000, &ten[i], 1, n / 4, 10000, 5000000);
            only = "each";
        }
    return 0;
}
