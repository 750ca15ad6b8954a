/*
 * flowsdump.c - the worker's side of the flows topic, for the tests:
 * reads a topic of flowwire messages (docs/SCALE_OUT.md) from the start
 * of every partition to its end and prints one line a flow,
 * "partition srcip dstip packets bytes received", then, on stderr, the
 * messages, flows and bad messages it read, and per partition one line
 *   "partition P: M messages, K markers, seq contiguous|broken,
 *    watermark monotone|broken, last W"
 * (sequence numbers must run 1, 2, 3... with no gap or repeat, the
 * watermark never go back).
 *
 *   flowsdump BROKERS TOPIC            dump
 *   flowsdump --create N BROKERS TOPIC [RF]
 *                                      create TOPIC with N partitions of RF
 *                                      replicas (default: the brokers'
 *                                      default.replication.factor)
 */
#include "ingest/flowwire.h"

#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static rd_kafka_t *client(rd_kafka_type_t type, const char *brokers)
{
    char es[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, es,
                          sizeof(es)) != RD_KAFKA_CONF_OK ||
        (type == RD_KAFKA_CONSUMER &&
         (rd_kafka_conf_set(conf, "enable.partition.eof", "true", es,
                            sizeof(es)) != RD_KAFKA_CONF_OK ||
          rd_kafka_conf_set(conf, "group.id", "flowsdump", es,
                            sizeof(es)) != RD_KAFKA_CONF_OK))) {
        fprintf(stderr, "flowsdump: %s\n", es);
        exit(2);
    }
    rd_kafka_t *rk = rd_kafka_new(type, conf, es, sizeof(es));
    if (!rk) {
        fprintf(stderr, "flowsdump: %s\n", es);
        exit(2);
    }
    return rk;
}

static int create(const char *brokers, const char *topic, int parts, int rf)
{
    rd_kafka_t *rk = client(RD_KAFKA_PRODUCER, brokers);
    char es[512];
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, parts, rf, es,
                                                    sizeof(es));
    if (!nt) {
        fprintf(stderr, "flowsdump: %s\n", es);
        return 2;
    }
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
    int rc = 1;
    const rd_kafka_CreateTopics_result_t *res =
        ev ? rd_kafka_event_CreateTopics_result(ev) : NULL;
    if (res) {
        size_t n;
        const rd_kafka_topic_result_t **tr =
            rd_kafka_CreateTopics_result_topics(res, &n);
        if (n == 1 && rd_kafka_topic_result_error(tr[0]) == 0)
            rc = 0;
        else if (n == 1)
            fprintf(stderr, "flowsdump: create %s: %s\n", topic,
                    rd_kafka_topic_result_error_string(tr[0]));
    } else {
        fprintf(stderr, "flowsdump: create %s: no answer\n", topic);
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
    rd_kafka_destroy(rk);
    return rc;
}

static int dump(const char *brokers, const char *topic)
{
    rd_kafka_t *rk = client(RD_KAFKA_CONSUMER, brokers);
    const struct rd_kafka_metadata *md;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) != 0 ||
        md->topics[0].err) {
        fprintf(stderr, "flowsdump: no metadata for %s\n", topic);
        return 2;
    }
    int np = md->topics[0].partition_cnt;
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(np);
    for (int p = 0; p < np; p++)
        rd_kafka_topic_partition_list_add(l, topic, p)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    struct part {
        unsigned long long msgs, markers;
        uint64_t seq;
        int64_t  wm;
        int      seq_bad, wm_bad;
    } *pt = calloc((size_t)np, sizeof(*pt));
    flow_batch_t *b = flow_batch_new();
    unsigned long long msgs = 0, flows = 0, bad = 0;
    int eof = 0, idle = 0;
    while (eof < np && idle < 100) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m) {
            idle++;
            continue;
        }
        idle = 0;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            eof++;
        } else if (m->err) {
            fprintf(stderr, "flowsdump: %s\n", rd_kafka_message_errstr(m));
        } else {
            diag_t err = {0};
            flowwire_meta_t meta;
            msgs++;
            if (flowwire_decode(m->payload, m->len, b, &meta, &err) == 0 &&
                m->partition >= 0 && m->partition < np) {
                struct part *q = &pt[m->partition];
                q->msgs++;
                q->markers += (meta.flags & FLOWWIRE_F_MARKER) != 0;
                q->seq_bad |= meta.seq != q->seq + 1;
                q->seq = meta.seq;
                q->wm_bad |= meta.watermark < q->wm;
                q->wm = meta.watermark;
            } else {
                fprintf(stderr, "flowsdump: partition %d offset %lld: %s\n",
                        (int)m->partition, (long long)m->offset, err.msg);
                bad++;
            }
            for (uint32_t i = 0; i < b->n; i++) {
                char s[IPADDR_STRLEN], d[IPADDR_STRLEN];
                printf("%d %s %s %lld %lld %lld\n", (int)m->partition,
                       ipaddr_format(&b->srcip[i], s, sizeof(s)),
                       ipaddr_format(&b->dstip[i], d, sizeof(d)),
                       (long long)b->packets[i], (long long)b->bytes[i],
                       (long long)b->received[i]);
            }
            flows += b->n;
        }
        rd_kafka_message_destroy(m);
    }
    for (int p = 0; p < np; p++)
        fprintf(stderr, "partition %d: %llu messages, %llu markers, seq %s, "
                "watermark %s, last %lld\n", p, pt[p].msgs, pt[p].markers,
                pt[p].seq_bad ? "broken" : "contiguous",
                pt[p].wm_bad ? "broken" : "monotone", (long long)pt[p].wm);
    free(pt);
    fprintf(stderr, "flowsdump: %d partitions, %llu messages, %llu flows, "
            "%llu bad%s\n", np, msgs, flows, bad,
            eof < np ? ", not every partition read to its end" : "");
    flow_batch_free(b);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return bad || eof < np ? 1 : 0;
}

int main(int argc, char **argv)
{
    if ((argc == 5 || argc == 6) && strcmp(argv[1], "--create") == 0)
        return create(argv[3], argv[4], atoi(argv[2]),
                      argc == 6 ? atoi(argv[5]) : -1);
    if (argc == 3)
        return dump(argv[1], argv[2]);
    fprintf(stderr, "usage: flowsdump BROKERS TOPIC\n"
            "       flowsdump --create N BROKERS TOPIC [RF]\n");
    return 2;
}
