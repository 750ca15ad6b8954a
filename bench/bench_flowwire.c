/*
 * bench_flowwire.c - how fast the scale-out flows wire format
 * (ingest/flowwire.h) encodes and decodes, on one core. Not a test:
 * numbers for docs/SCALE_OUT.md (Sizing).
 *
 *   make build/bench/bench_flowwire && build/bench/bench_flowwire [SECONDS]
 *
 * One batch of 2048 flows shaped like flowgen's (1000 sources and
 * destinations, one exporter, times in order, mixed ports and sizes) is
 * encoded again and again for SECONDS [1], then its message decoded as
 * long. Prints flows per second and the message size.
 */
#include "ingest/flowwire.h"
#include "util/timeutil.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    int64_t ms = argc > 1 ? (int64_t)(atof(argv[1]) * 1000) : 1000;
    flow_batch_t *b = flow_batch_new(), *o = flow_batch_new();
    for (uint32_t i = 0; i < FLOW_BATCH_MAX; i++) {
        int k = flow_batch_add(b);
        b->srcip[k] = ipaddr_from_v4(0x0a000000u + (i * 2654435761u) % 1000);
        b->dstip[k] = ipaddr_from_v4(0xac100000u + (i * 40503u) % 1000);
        b->exporter[k] = ipaddr_from_v4(0x7f000001u);
        b->start[k] = 1767225600000 + i;
        b->end[k] = b->start[k] + 900;
        b->received[k] = 1767225660000 + i / 500;
        b->packets[k] = 1 + i % 30;
        b->bytes[k] = 60 + (i * 977) % 60000;
        b->srcport[k] = 1024 + (i * 31) % 60000;
        b->dstport[k] = 443;
        b->proto[k] = 6;
        b->tcpflags[k] = 0x1b;
        b->ingress[k] = 3;
        b->egress[k] = 7;
    }
    sbuf_t m = SBUF_INIT;
    diag_t err = {0};
    long it = 0;
    int64_t t0 = time_mono_ms(), t1;
    while ((t1 = time_mono_ms()) - t0 < ms) {
        m.len = 0;
        flowwire_encode(b, NULL, b->n, NULL, &m);
        it++;
    }
    printf("encode: %.2f M flows/s, %zu bytes a batch of %d (%.1f a flow)\n",
           it * (double)FLOW_BATCH_MAX / (double)(t1 - t0) / 1000, m.len,
           FLOW_BATCH_MAX, m.len / (double)FLOW_BATCH_MAX);
    it = 0;
    t0 = time_mono_ms();
    while ((t1 = time_mono_ms()) - t0 < ms) {
        if (flowwire_decode(m.s, m.len, o, NULL, &err) < 0) {
            fprintf(stderr, "bench_flowwire: %s\n", err.msg);
            return 1;
        }
        it++;
    }
    printf("decode: %.2f M flows/s\n",
           it * (double)FLOW_BATCH_MAX / (double)(t1 - t0) / 1000);
    sbuf_free(&m);
    flow_batch_free(b);
    flow_batch_free(o);
    return 0;
}
