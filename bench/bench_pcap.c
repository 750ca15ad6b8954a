/*
 * bench_pcap - the flow meter's throughput on one core.
 *
 *   build/bench/bench_pcap gen FILE [packets] [concurrent]
 *       write an Ethernet pcap of `packets` (default 6,000,000) packets:
 *       TCP (80 %, SYN first and FIN both ways at the end) and UDP
 *       conversations between 65,536 clients and 1,024 servers, IPv4
 *       with one in eight IPv6, one in sixteen 802.1Q-tagged; about
 *       `concurrent` (default 50,000) conversations open at any time,
 *       each of 8 to 120 packets, both directions; 1 M packets per second
 *       of packet time. Deterministic.
 *   build/bench/bench_pcap run FILE [rounds]
 *       meter FILE `rounds` times (default 3), best of them:
 *         file    ingest_pcap_fd: libpcap reading the file + the meter
 *         meter   the meter alone, over the packets held in memory
 *       with the default meter settings and a consumer that only counts
 *       records. Prints packets/s (CPU time of this one thread) and the
 *       flow records made.
 */
#include "ingest/meter.h"
#include "util/arena.h"

#include <fcntl.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static uint64_t records;

static void count(void *ctx, flow_batch_t *b)
{
    (void)ctx;
    records += b->n;
}

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* ---- the generator -------------------------------------------------------- */

typedef struct conv {
    uint32_t client, server;
    uint16_t cport, sport;
    uint8_t  proto, v6, vlan;
    uint32_t left, sent;
} conv_t;

static void conv_new(conv_t *c)
{
    c->client = (uint32_t)(rnd() & 0xffff);
    c->server = (uint32_t)(rnd() & 0x3ff);
    c->cport = (uint16_t)(1024 + rnd() % 60000);
    static const uint16_t ports[] = {80, 443, 53, 123, 22, 25, 8080, 3306};
    c->sport = ports[rnd() % 8];
    c->proto = rnd() % 5 ? 6 : 17;
    c->v6 = rnd() % 8 == 0;
    c->vlan = rnd() % 16 == 0;
    c->left = (uint32_t)(8 + rnd() % 113);
    c->sent = 0;
}

static size_t build(uint8_t *b, const conv_t *c, int reply, uint8_t flags,
                    size_t payload)
{
    static const uint8_t mac[12] = {2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2};
    size_t o = 0;
    memcpy(b, mac, 12);
    o = 12;
    if (c->vlan) {
        b[o++] = 0x81;
        b[o++] = 0x00;
        b[o++] = 0x00;
        b[o++] = 42;
    }
    b[o++] = c->v6 ? 0x86 : 0x08;
    b[o++] = c->v6 ? 0xdd : 0x00;
    size_t l4 = c->proto == 6 ? 20 : 8;
    size_t iplen = (c->v6 ? 40 : 20) + l4 + payload;
    uint32_t src = reply ? c->server : c->client;
    uint32_t dst = reply ? c->client : c->server;
    uint8_t srcnet = reply ? 2 : 1, dstnet = reply ? 1 : 2;
    if (c->v6) {
        uint8_t h[40] = {0x60, 0, 0, 0, (uint8_t)((iplen - 40) >> 8),
                         (uint8_t)(iplen - 40), c->proto, 64,
                         0x20, 1, 0x0d, 0xb8, 0, srcnet};
        h[22] = (uint8_t)(src >> 8);
        h[23] = (uint8_t)src;
        h[24] = 0x20;
        h[25] = 1;
        h[26] = 0x0d;
        h[27] = 0xb8;
        h[29] = dstnet;
        h[38] = (uint8_t)(dst >> 8);
        h[39] = (uint8_t)dst;
        memcpy(b + o, h, 40);
        o += 40;
    } else {
        uint8_t h[20] = {0x45, 0, (uint8_t)(iplen >> 8), (uint8_t)iplen,
                         0, 0, 0x40, 0, 64, c->proto, 0, 0,
                         10, srcnet, (uint8_t)(src >> 8), (uint8_t)src,
                         10, dstnet, (uint8_t)(dst >> 8), (uint8_t)dst};
        memcpy(b + o, h, 20);
        o += 20;
    }
    uint16_t sp = reply ? c->sport : c->cport, dp = reply ? c->cport : c->sport;
    b[o] = (uint8_t)(sp >> 8);
    b[o + 1] = (uint8_t)sp;
    b[o + 2] = (uint8_t)(dp >> 8);
    b[o + 3] = (uint8_t)dp;
    if (c->proto == 6) {
        memset(b + o + 4, 0, 16);
        b[o + 12] = 0x50;
        b[o + 13] = flags;
    } else {
        b[o + 4] = (uint8_t)((8 + payload) >> 8);
        b[o + 5] = (uint8_t)(8 + payload);
        b[o + 6] = b[o + 7] = 0;
    }
    o += l4;
    /* the payload is not written: the capture keeps 96 bytes at most
     * (snaplen), as a header capture does */
    return o + payload;
}

static int gen(const char *path, uint64_t packets, uint32_t concurrent)
{
    pcap_t *d = pcap_open_dead(DLT_EN10MB, 96);
    pcap_dumper_t *w = pcap_dump_open(d, path);
    if (!w) {
        fprintf(stderr, "bench_pcap: %s: %s\n", path, pcap_geterr(d));
        return 1;
    }
    conv_t *cv = xcalloc(concurrent, sizeof(*cv));
    for (uint32_t i = 0; i < concurrent; i++)
        conv_new(&cv[i]);
    uint8_t b[2048];
    int64_t t_us = 1767268800LL * 1000000;
    uint64_t flows = concurrent;
    for (uint64_t n = 0; n < packets; n++) {
        conv_t *c = &cv[rnd() % concurrent];
        int reply = c->sent > 0 && (rnd() & 1);
        uint8_t flags = 0x10;
        if (c->sent == 0)
            flags = 0x02;
        else if (c->left <= 2)
            flags = 0x11;
        size_t payload = rnd() % 4 == 0 ? 1200 : rnd() % 200;
        size_t len = build(b, c, c->left <= 1 ? 1 : c->left == 2 ? 0 : reply,
                           flags, payload);
        struct pcap_pkthdr h;
        h.ts.tv_sec = t_us / 1000000;
        h.ts.tv_usec = t_us % 1000000;
        h.len = (bpf_u_int32)len;
        h.caplen = (bpf_u_int32)(len < 96 ? len : 96);
        pcap_dump((u_char *)w, &h, b);
        t_us += 1;
        c->sent++;
        if (--c->left == 0) {
            conv_new(c);
            flows++;
        }
    }
    pcap_dump_close(w);
    pcap_close(d);
    free(cv);
    printf("%s: %llu packets, %llu conversations\n", path,
           (unsigned long long)packets, (unsigned long long)flows);
    return 0;
}

/* ---- the runs ------------------------------------------------------------- */

typedef struct held {
    uint8_t  *data;   /* all packets, back to back */
    size_t   *off;
    uint32_t *caplen, *len;
    int64_t  *ts;
    size_t    n;
    int       dlt;
} held_t;

static int load(const char *path, held_t *h)
{
    char eb[PCAP_ERRBUF_SIZE];
    pcap_t *p = pcap_open_offline(path, eb);
    if (!p) {
        fprintf(stderr, "bench_pcap: %s\n", eb);
        return -1;
    }
    h->dlt = pcap_datalink(p);
    size_t cap = 1 << 20, dcap = 64 << 20, used = 0;
    h->off = xmalloc(cap * sizeof(size_t));
    h->caplen = xmalloc(cap * sizeof(uint32_t));
    h->len = xmalloc(cap * sizeof(uint32_t));
    h->ts = xmalloc(cap * sizeof(int64_t));
    h->data = xmalloc(dcap);
    struct pcap_pkthdr *ph;
    const u_char *d;
    while (pcap_next_ex(p, &ph, &d) == 1) {
        if (h->n == cap) {
            cap *= 2;
            h->off = xrealloc(h->off, cap * sizeof(size_t));
            h->caplen = xrealloc(h->caplen, cap * sizeof(uint32_t));
            h->len = xrealloc(h->len, cap * sizeof(uint32_t));
            h->ts = xrealloc(h->ts, cap * sizeof(int64_t));
        }
        while (used + ph->caplen > dcap) {
            dcap *= 2;
            h->data = xrealloc(h->data, dcap);
        }
        memcpy(h->data + used, d, ph->caplen);
        h->off[h->n] = used;
        h->caplen[h->n] = ph->caplen;
        h->len[h->n] = ph->len;
        h->ts[h->n] = (int64_t)ph->ts.tv_sec * 1000000 + ph->ts.tv_usec;
        used += ph->caplen;
        h->n++;
    }
    pcap_close(p);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && !strcmp(argv[1], "gen"))
        return gen(argv[2], argc > 3 ? strtoull(argv[3], NULL, 10) : 6000000,
                   argc > 4 ? (uint32_t)strtoul(argv[4], NULL, 10) : 50000);
    if (argc < 3 || strcmp(argv[1], "run")) {
        fprintf(stderr, "usage: bench_pcap gen FILE [packets] [concurrent]\n"
                        "       bench_pcap run FILE [rounds]\n");
        return 2;
    }
    const char *path = argv[2];
    int rounds = argc > 3 ? atoi(argv[3]) : 3;
    meter_config_t mc = METER_CONFIG_INIT;
    double best_file = 0, best_meter = 0;
    uint64_t pk = 0, recs = 0;
    for (int r = 0; r < rounds; r++) {
        int fd = open(path, O_RDONLY);
        if (fd < 0) {
            perror(path);
            return 1;
        }
        meter_t *m = meter_new(&mc, count, NULL);
        records = 0;
        ingest_file_result_t res;
        diag_t err;
        diag_clear(&err);
        double t0 = cpu_s();
        if (ingest_pcap_fd(fd, path, m, 0, &res, &err) < 0) {
            fprintf(stderr, "bench_pcap: %s\n", err.msg);
            return 1;
        }
        meter_flush(m);
        double t = cpu_s() - t0;
        close(fd);
        meter_free(m);
        pk = res.messages;
        recs = records;
        if (best_file == 0 || t < best_file)
            best_file = t;
    }
    held_t h = {0};
    if (load(path, &h) < 0)
        return 1;
    for (int r = 0; r < rounds; r++) {
        meter_t *m = meter_new(&mc, count, NULL);
        records = 0;
        double t0 = cpu_s();
        for (size_t i = 0; i < h.n; i++)
            meter_packet(m, h.dlt, h.ts[i], h.data + h.off[i], h.caplen[i],
                         h.len[i]);
        meter_flush(m);
        double t = cpu_s() - t0;
        meter_free(m);
        if (best_meter == 0 || t < best_meter)
            best_meter = t;
    }
    printf("file   %llu packets in %.3f s CPU: %.2f M packets/s, %llu flow "
           "records\n", (unsigned long long)pk, best_file, pk / best_file / 1e6,
           (unsigned long long)recs);
    printf("meter  %llu packets in %.3f s CPU: %.2f M packets/s (in memory, "
           "%.0f ns/packet)\n", (unsigned long long)h.n, best_meter,
           h.n / best_meter / 1e6, best_meter / h.n * 1e9);
    return 0;
}
