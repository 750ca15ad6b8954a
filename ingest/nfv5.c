/*
 * nfv5.c - NetFlow v5: a fixed 24-byte header and 48-byte records, small
 * enough to decode here rather than through libfixbuf (which has no v5).
 *
 * The observation domain of a v5 record is engine_type * 256 + engine_id
 * (as nfdump does). First/Last are router uptimes in ms; the header gives
 * the uptime and wall clock of the export, hence the boot time.
 */
#include "ingest/ingest_int.h"

#define V5_HDR 24
#define V5_REC 48

int nfv5_message(decoder_t *d, tsession_t *ts, const uint8_t *msg,
                 size_t len)
{
    uint32_t domain = len >= V5_HDR ? (uint32_t)msg[20] << 8 | msg[21] : 0;
    tdomain_t *dom = tsession_domain(d, ts, domain);
    stats_entry_t *st = dom ? dom->st : stats_get(d->stats, &ts->exporter, 0);
    stats_touch(st, INGEST_PROTO_V5, d->received_ms);
    const char *why = NULL;
    uint16_t count = len >= 4 ? rd16(msg + 2) : 0;
    if (!dom)
        why = "exporter with too many engines";
    else if (len < V5_HDR)
        why = "datagram shorter than the v5 header";
    else if (rd16(msg) != 5)
        why = "not NetFlow v5";
    else if ((size_t)V5_HDR + (size_t)count * V5_REC > len)
        why = "record count exceeds the datagram";
    if (why) {
        char a[IPADDR_STRLEN];
        ctr_inc(&st->decode_errors);
        log_limited(&d->lim_decode, LOG_WARN, "ingest",
                    "malformed NetFlow v5 from %s (%zu bytes): %s",
                    ipaddr_format(&ts->exporter, a, sizeof(a)), len, why);
        return -1;
    }
    ctr_inc(&st->messages);
    ctr_add(&st->bytes, len);
    int64_t uptime = rd32(msg + 4);
    int64_t now = (int64_t)rd32(msg + 8) * 1000 + rd32(msg + 12) / 1000000;
    d->export_ms = now;
    seq_check(d, dom, rd32(msg + 16), count, count, 0);

    int64_t boot = now - uptime;
    int64_t sampling = rd16(msg + 22) & 0x3fff;
    if (sampling == 1)
        sampling = 0;
    int64_t received = d->replay ? now : d->received_ms;

    for (uint16_t k = 0; k < count; k++) {
        const uint8_t *r = msg + V5_HDR + (size_t)k * V5_REC;
        int i = sink_slot(d->sink);
        if (i < 0) {
            ctr_inc(&st->queue_drops);
            continue;
        }
        flow_batch_t *b = d->sink->cur;
        int64_t first = rd32(r + 24), last = rd32(r + 28);
        /* uptimes later than the export wrapped (49.7 days) */
        if (first > uptime + 60000)
            first -= 4294967296LL;
        if (last > uptime + 60000)
            last -= 4294967296LL;
        uint32_t nh = rd32(r + 8);
        b->srcip[i] = ipaddr_from_v4(rd32(r));
        b->dstip[i] = ipaddr_from_v4(rd32(r + 4));
        b->nexthop[i] = nh ? ipaddr_from_v4(nh) : (ipaddr_t){{0}};
        b->exporter[i] = ts->exporter;
        b->start[i] = boot + first;
        b->end[i] = boot + last;
        b->received[i] = received;
        b->packets[i] = rd32(r + 16);
        b->bytes[i] = rd32(r + 20);
        b->srcport[i] = rd16(r + 32);
        b->dstport[i] = rd16(r + 34);
        b->tcpflags[i] = r[37];
        b->proto[i] = r[38];
        b->tos[i] = r[39];
        b->ingress[i] = rd16(r + 12);
        b->egress[i] = rd16(r + 14);
        b->srcas[i] = rd16(r + 40);
        b->dstas[i] = rd16(r + 42);
        b->srcmask[i] = r[44];
        b->dstmask[i] = r[45];
        b->vlan[i] = 0;
        b->direction[i] = 0;
        b->sampling[i] = sampling;
        b->domain[i] = domain;
        d->records++;
    }
    ctr_add(&st->records, count);
    return 0;
}
