/*
 * bench_ingest_file - decode throughput of an IPFIX file: the whole
 * ingest path (framing, our checks, libfixbuf, records into batches) with
 * a consumer that only counts.
 *
 *   build/flowgen --file /tmp/flows.ipfix --flows 20000000 --sources 100000
 *   build/bench/bench_ingest_file /tmp/flows.ipfix [runs] [on|off]
 *
 * on (default): records read in place where their template allows; off:
 * all through libfixbuf's transcoder (flowsqld --ipfix-fast).
 * Prints flows/s for each run and the best; the file is read once first
 * so it comes from the page cache.
 */
#include "ingest/ingest.h"
#include "util/log.h"
#include "util/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static uint64_t records, packets;

static void count(void *ctx, flow_batch_t *b)
{
    (void)ctx;
    records += b->n;
    for (uint32_t i = 0; i < b->n; i++)
        packets += (uint64_t)b->packets[i];
}

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_ingest_file FILE.ipfix [runs] "
                "[on|off]\n");
        return 2;
    }
    int runs = argc > 2 ? atoi(argv[2]) : 3;
    ingest_set_ipfix_fast(!(argc > 3 && strcmp(argv[3], "off") == 0));
    log_set_level(LOG_WARN);
    double best = 0;
    for (int r = 0; r <= runs; r++) {
        records = packets = 0;
        ingest_file_result_t res;
        diag_t err = {0};
        int64_t t0 = time_mono_ms();
        double c0 = cpu_s();
        if (ingest_read_file(argv[1], count, NULL, &res, &err) != 0) {
            fprintf(stderr, "bench_ingest_file: %s\n", err.msg);
            return 1;
        }
        double wall = (time_mono_ms() - t0) / 1000.0, cpu = cpu_s() - c0;
        if (r == 0)
            continue; /* warm the page cache */
        double rate = records / wall;
        if (rate > best)
            best = rate;
        printf("run %d: %llu flows (%llu messages, %llu errors) in %.3f s "
               "wall, %.3f s cpu: %.2f M flows/s (%.2f M/s per cpu s)\n",
               r, (unsigned long long)records,
               (unsigned long long)res.messages,
               (unsigned long long)res.decode_errors, wall, cpu, rate / 1e6,
               records / cpu / 1e6);
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("best: %.2f M flows/s; peak RSS %ld MB\n", best / 1e6,
           ru.ru_maxrss / 1024);
    return 0;
}
