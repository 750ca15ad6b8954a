/*
 * fuzz_decode.c - libFuzzer target for the whole decode path: IPFIX over
 * UDP and TCP, NetFlow v9 and v5, sFlow v5, through ingest_mem (the receive
 * thread's dispatch, checks, template mirror, v9 rewrite, libfixbuf and
 * the record mapping; make fuzz-decode).
 *
 * The input is a sequence of chunks, so that templates sent in one
 * datagram meet the data of the next:
 *
 *     kind (1 byte) | length (2 bytes, big-endian) | that many bytes
 *
 * kind % 4 is the listener: 0 IPFIX/UDP, 1 the NetFlow port (v5 or v9 by
 * the version field), 2 IPFIX/TCP (stream bytes, any framing), 3 sFlow;
 * except kinds 0xf8 and up: a captured packet for the flow meter
 * (ingest/meter.h), its first byte choosing the link type (Ethernet, raw
 * IP, Linux SLL and SLL2, BSD NULL and LOOP, IPv4, IPv6, unknown), the
 * rest the packet, 1 ms after the previous one. A chunk
 * longer than what is left takes the rest. tests/fuzz/decode_seeds.py
 * makes seeds in this form from real exporter captures; the seeds
 * meter-ether, meter-raw and meter-sll are the first 40 packets of
 * tests/e2e/lib/pcap_crafted.py's captures as packet chunks.
 *
 * Besides "no crash, no leak, no hang", it checks what the counters
 * promise: every datagram is counted once, as a message or as a decode
 * error; every decoded flow gives one record, or two for a biflow; every
 * record carries the exporter it came from (for sFlow, the datagram's
 * agent address); every packet is metered, not IP, truncated or
 * malformed, and the meter's records carry every metered packet. And the
 * datagrams decoded again with every record through libfixbuf
 * (ingest_set_ipfix_fast(0)) give the same records, column for column,
 * as reading them in place did.
 */
#include "engine/xfield.h"
#include "ingest/ingest.h"
#include "ingest/meter.h"
#include "util/log.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPECT(cond)                                                       \
    do {                                                                   \
        if (!(cond)) {                                                     \
            fprintf(stderr, "fuzz_decode: %s:%d: %s\n", __FILE__,          \
                    __LINE__, #cond);                                      \
            abort();                                                       \
        }                                                                  \
    } while (0)

typedef struct seen {
    ipaddr_t exporter;
    uint64_t records;
    int      sflow;       /* an sFlow datagram was fed: agents vary */
    uint64_t hash;        /* of every record's columns, in order */
} seen_t;

static uint64_t fold(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ULL;
    return h;
}

static void take(void *ctx, flow_batch_t *b)
{
    seen_t *s = ctx;
    for (uint32_t i = 0; i < b->n; i++) {
        EXPECT(s->sflow || ipaddr_cmp(&b->exporter[i], &s->exporter) == 0);
        const ipaddr_t *a[] = {b->srcip, b->dstip, b->nexthop, b->exporter};
        const int64_t *v[] = {
            b->start, b->end, b->received, b->packets, b->bytes,
            b->srcport, b->dstport, b->proto, b->tcpflags, b->tos,
            b->ingress, b->egress, b->srcas, b->dstas, b->srcmask,
            b->dstmask, b->vlan, b->direction, b->sampling, b->domain};
        for (size_t k = 0; k < 4; k++)
            s->hash = fold(s->hash, &a[k][i], sizeof(ipaddr_t));
        for (size_t k = 0; k < 20; k++)
            s->hash = fold(s->hash, &v[k][i], 8);
        for (int k = 0; k < XF_NSLOTS; k++) {
            if (!(b->xfilled >> k & 1))
                continue;
            if (k < XF_NINT)
                s->hash = fold(s->hash, &b->xint[k][i], 8);
            else if (k < XF_NINT + XF_NSTR) /* interned: the pointer */
                s->hash = fold(s->hash, &b->xstr[k - XF_NINT][i],
                               sizeof(char *));
            else
                s->hash = fold(s->hash, &b->xip[k - XF_NINT - XF_NSTR][i],
                               sizeof(ipaddr_t));
        }
    }
    s->records += b->n;
}

/* The input is chunks: a byte (raw: under 0xf8 a datagram for the
 * listener of raw % 4, else a packet for the meter), a 2-byte length and
 * that many bytes (cut at the end). Reads the chunk header at *off:
 * returns raw, leaves *off on the payload and *len its length. */
static int next_chunk(const uint8_t *data, size_t size, size_t *off,
                      size_t *len)
{
    int raw = data[(*off)++];
    *len = 0;
    if (size - *off >= 2) {
        *len = (size_t)data[*off] << 8 | data[*off + 1];
        *off += 2;
    }
    if (*len > size - *off)
        *len = size - *off;
    return raw;
}

static enum ingest_listener listener_of(int raw)
{
    int kind = raw % 4;
    return kind == 0   ? INGEST_IPFIX_UDP
           : kind == 1 ? INGEST_NETFLOW
           : kind == 2 ? INGEST_IPFIX_TCP
                       : INGEST_SFLOW;
}

/* The datagrams of the input decoded again, with fast on or off: the
 * records' hash and count. */
static seen_t replay(const uint8_t *data, size_t size, int fast)
{
    seen_t s = {.records = 0};
    ipaddr_parse("192.0.2.1", &s.exporter);
    s.sflow = 1;
    ingest_set_ipfix_fast(fast);
    ingest_mem_t *m = ingest_mem_new(&s.exporter, take, &s);
    int64_t now = 1700000000000LL;
    size_t off = 0;
    while (off < size) {
        size_t len;
        int raw = next_chunk(data, size, &off, &len);
        if (raw < 0xf8) {
            ingest_mem_feed(m, listener_of(raw), data + off, len, now);
            now += 1000;
        }
        off += len;
    }
    ingest_mem_flush(m);
    ingest_mem_free(m);
    ingest_set_ipfix_fast(1);
    return s;
}

typedef struct totals {
    uint64_t counted, flows;   /* messages + decode errors; records */
} totals_t;

static totals_t totals(ingest_mem_t *m)
{
    /* the stats table of ingest_mem: 1024 rows and the overflow row (sFlow
     * agents each make their own rows) */
    static ingest_exporter_stats_t rows[1025];
    size_t n = ingest_mem_stats(m, rows, 1025);
    EXPECT(n <= 1025);
    totals_t t = {0, 0};
    for (size_t i = 0; i < n; i++) {
        t.counted += rows[i].messages + rows[i].decode_errors;
        t.flows += rows[i].records;
    }
    return t;
}

static void take_metered(void *ctx, flow_batch_t *b)
{
    for (uint32_t i = 0; i < b->n; i++) {
        EXPECT(b->packets[i] > 0);
        *(uint64_t *)ctx += (uint64_t)b->packets[i];
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int quiet;
    if (!quiet) {
        log_set_level(LOG_ERROR); /* warnings on bad input are expected */
        xfield_want((1u << XF_NSLOTS) - 1); /* custom columns compared too */
        quiet = 1;
    }
    seen_t seen = {.records = 0};
    ipaddr_parse("192.0.2.1", &seen.exporter);
    ingest_mem_t *m = ingest_mem_new(&seen.exporter, take, &seen);
    int64_t now = 1700000000000LL;
    /* a small table and short timeouts, so that eviction and expiry run */
    meter_config_t mc = METER_CONFIG_INIT;
    mc.max_flows = 8;
    mc.idle_s = 1;
    mc.tcp_fin_s = 0;
    uint64_t metered_out = 0;
    meter_t *meter = meter_new(&mc, take_metered, &metered_out);
    static const int lts[] = {1, 12, 113, 276, 0, 108, 228, 229, 147};
    int64_t ts_us = 1700000000000000LL;
    size_t off = 0;
    while (off < size) {
        size_t len;
        int raw = next_chunk(data, size, &off, &len);
        if (raw >= 0xf8) { /* a packet for the meter */
            if (len > 0) {
                uint8_t *pk = malloc(len - 1 ? len - 1 : 1); /* exact */
                memcpy(pk, data + off + 1, len - 1);
                meter_packet(meter, lts[data[off] % 9], ts_us, pk,
                             (uint32_t)(len - 1), (uint32_t)(len + raw));
                free(pk);
            }
            off += len;
            ts_us += 1000 * (raw - 0xf7);
            continue;
        }
        enum ingest_listener on = listener_of(raw);
        if (on == INGEST_SFLOW)
            seen.sflow = 1;
        totals_t before = totals(m);
        ingest_mem_feed(m, on, data + off, len, now);
        totals_t after = totals(m);
        if (on != INGEST_IPFIX_TCP)
            EXPECT(after.counted == before.counted + 1);
        off += len;
        now += 1000;
    }
    meter_flush(meter);
    meter_stats_t ms;
    meter_get_stats(meter, &ms);
    EXPECT(ms.packets == ms.metered + ms.not_ip + ms.truncated + ms.malformed);
    EXPECT(metered_out == ms.metered);
    EXPECT(ms.active_flows == 0);
    meter_free(meter);
    ingest_mem_flush(m);
    totals_t t = totals(m);
    EXPECT(seen.records >= t.flows && seen.records <= 2 * t.flows);
    ingest_mem_free(m);
    seen_t fast = replay(data, size, 1), slow = replay(data, size, 0);
    EXPECT(fast.records == slow.records);
    EXPECT(fast.hash == slow.hash);
    return 0;
}
