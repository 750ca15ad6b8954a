/*
 * bench_sflow - sFlow v5 decode throughput on one core: datagrams from
 * memory through the ingest's decode path (ingest_mem: the datagram
 * copied as the socket would leave it, checked whole, every flow sample
 * written as a record into batches) with a consumer that only counts.
 *
 *   build/bench/bench_sflow [seconds] [capture.pcap ...]
 *
 * Two workloads, each run for `seconds` (default 3), best of 3:
 *   switch    a datagram as switches send them: 8 flow samples, each a
 *             128-byte sampled header (Ethernet, 802.1Q, IPv4 or IPv6,
 *             TCP or UDP) with extended switch and router records, and
 *             one counter sample (about 1.5 KB)
 *   captures  the UDP payloads of the given captures, in turn (the real
 *             switch captures of tests/data/sflow by default in make
 *             bench-sflow)
 * Prints samples (records) per second, datagrams per second, and the
 * CPU time per sample.
 */
#include "ingest/ingest.h"
#include "tests/tools/pcapio.h"
#include "util/arena.h"
#include "util/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t records;

static void count(void *ctx, flow_batch_t *b)
{
    (void)ctx;
    records += b->n;
}

static double now_s(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

typedef struct dgram {
    uint8_t *b;
    size_t   len;
} dgram_t;

/* ---- the synthetic switch datagram --------------------------------------- */

typedef struct wb {
    uint8_t b[4096];
    size_t  len;
} wb_t;

static void w32(wb_t *w, uint32_t v)
{
    w->b[w->len++] = (uint8_t)(v >> 24);
    w->b[w->len++] = (uint8_t)(v >> 16);
    w->b[w->len++] = (uint8_t)(v >> 8);
    w->b[w->len++] = (uint8_t)v;
}

static void wbytes(wb_t *w, const uint8_t *p, size_t n)
{
    memcpy(w->b + w->len, p, n);
    w->len += (n + 3) & ~(size_t)3;
}

static void wlen(wb_t *w, size_t at)
{
    uint32_t n = (uint32_t)(w->len - at - 4);
    for (int i = 0; i < 4; i++)
        w->b[at + i] = (uint8_t)(n >> (24 - 8 * i));
}

static dgram_t switch_datagram(void)
{
    wb_t w = {.len = 0};
    w32(&w, 5); w32(&w, 1); w32(&w, 0xc0000201); w32(&w, 0);
    w32(&w, 1); w32(&w, 100000); w32(&w, 9);
    for (int k = 0; k < 8; k++) {
        w32(&w, 1);
        size_t s = w.len;
        w32(&w, 0);
        w32(&w, (uint32_t)k); w32(&w, 5); w32(&w, 1024); w32(&w, 1 << 20);
        w32(&w, 0); w32(&w, 5); w32(&w, 7); w32(&w, 3);
        /* sampled header: 128 bytes */
        uint8_t h[128] = {0};
        size_t o = 12;
        h[o++] = 0x81; h[o++] = 0x00; h[o++] = 0x00; h[o++] = 100;
        int v6 = k % 4 == 3, tcp = k % 2 == 0;
        h[o++] = v6 ? 0x86 : 0x08; h[o++] = v6 ? 0xdd : 0x00;
        if (v6) {
            h[o] = 0x60; h[o + 6] = tcp ? 6 : 17;
            h[o + 8] = 0x20; h[o + 9] = 0x01; h[o + 23] = (uint8_t)k;
            h[o + 24] = 0x20; h[o + 25] = 0x01; h[o + 39] = 9;
            o += 40;
        } else {
            h[o] = 0x45; h[o + 9] = tcp ? 6 : 17;
            h[o + 12] = 10; h[o + 15] = (uint8_t)k;
            h[o + 16] = 192; h[o + 17] = 0; h[o + 18] = 2; h[o + 19] = 9;
            o += 20;
        }
        h[o] = 0xc0; h[o + 1] = (uint8_t)k; h[o + 3] = 80; h[o + 13] = 0x18;
        w32(&w, 1);
        size_t r = w.len;
        w32(&w, 0);
        w32(&w, 1); w32(&w, 1518); w32(&w, 4); w32(&w, 128);
        wbytes(&w, h, 128);
        wlen(&w, r);
        w32(&w, 1001); w32(&w, 16);
        w32(&w, 100); w32(&w, 0); w32(&w, 100); w32(&w, 0);
        w32(&w, 1002); w32(&w, 16);
        w32(&w, 1); w32(&w, 0xc0000201); w32(&w, 24); w32(&w, 24);
        wlen(&w, s);
    }
    w32(&w, 2); /* a counter sample: generic interface counters */
    size_t s = w.len;
    w32(&w, 0);
    w32(&w, 1); w32(&w, 5); w32(&w, 1);
    w32(&w, 1); w32(&w, 88);
    for (int i = 0; i < 22; i++)
        w32(&w, (uint32_t)i);
    wlen(&w, s);
    dgram_t d = {xmalloc(w.len), w.len};
    memcpy(d.b, w.b, w.len);
    return d;
}

/* ---- running ------------------------------------------------------------------ */

static void run(const char *name, const dgram_t *d, size_t nd, double secs)
{
    ipaddr_t src;
    ipaddr_parse("127.0.0.1", &src);
    double best = 0, best_cpu = 0, best_dg = 0;
    for (int rep = 0; rep < 3; rep++) {
        ingest_mem_t *m = ingest_mem_new(&src, count, NULL);
        records = 0;
        uint64_t dgrams = 0;
        double t0 = now_s(CLOCK_MONOTONIC), c0 = now_s(CLOCK_THREAD_CPUTIME_ID);
        double t1 = t0;
        while (t1 - t0 < secs) {
            for (int k = 0; k < 4096; k++) {
                const dgram_t *g = &d[dgrams % nd];
                ingest_mem_feed(m, INGEST_SFLOW, g->b, g->len, 1700000000000LL);
                dgrams++;
            }
            t1 = now_s(CLOCK_MONOTONIC);
        }
        ingest_mem_flush(m);
        double cpu = now_s(CLOCK_THREAD_CPUTIME_ID) - c0;
        t1 = now_s(CLOCK_MONOTONIC);
        double rate = records / (t1 - t0);
        if (rate > best) {
            best = rate;
            best_cpu = cpu / (double)records * 1e9;
            best_dg = dgrams / (t1 - t0);
        }
        ingest_mem_free(m);
    }
    printf("sflow decode %-9s %6.2f M samples/s  %6.2f M datagrams/s  "
           "%5.0f ns CPU/sample (one core, best of 3)\n",
           name, best / 1e6, best_dg / 1e6, best_cpu);
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 3;
    if (secs <= 0)
        secs = 3;
    log_set_level(LOG_ERROR);
    dgram_t sw = switch_datagram();
    run("switch", &sw, 1, secs);

    dgram_t *caps = NULL;
    size_t ncaps = 0;
    for (int i = 2; i < argc; i++) {
        char err[PCAP_ERRBUF_SIZE];
        pcap_udp_t u;
        if (pcap_udp_open(&u, argv[i], err) != 0) {
            fprintf(stderr, "bench_sflow: %s\n", err);
            return 1;
        }
        while (pcap_udp_next(&u) == 1) {
            caps = xrealloc(caps, (ncaps + 1) * sizeof(*caps));
            caps[ncaps].b = xmalloc(u.len);
            memcpy(caps[ncaps].b, u.payload, u.len);
            caps[ncaps].len = u.len;
            ncaps++;
        }
        pcap_udp_close(&u);
    }
    if (ncaps)
        run("captures", caps, ncaps, secs);
    for (size_t i = 0; i < ncaps; i++)
        free(caps[i].b);
    free(caps);
    free(sw.b);
    return 0;
}
