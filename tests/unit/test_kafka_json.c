/*
 * test_kafka_json.c - the IPFIXCol JSON decoder of the Kafka input: both
 * of ipfixcol2's formatting modes, the older string-valued records,
 * IPv6, metadata, preferred and stand-in elements, bad input; and the
 * same flows giving the same query results whether the engine gets them
 * directly or through IPFIXCol JSON.
 */
#include "engine/engine.h"
#include "engine/schema.h"
#include "ingest/kafka_json.h"
#include "tests/collect.h"
#include "tests/test.h"
#include "util/timeutil.h"

#include <stdlib.h>

static int emitted;
static flow_batch_t *kept[8];

static void emit(void *ctx, flow_batch_t **b)
{
    (void)ctx;
    if (emitted < 8)
        kept[emitted] = *b;
    else
        flow_batch_free(*b);
    emitted++;
    *b = flow_batch_new();
}

static flow_batch_t *decode(const char *text, kafka_json_stats_t *st)
{
    flow_batch_t *b = flow_batch_new();
    memset(st, 0, sizeof(*st));
    kafka_json_decode(text, strlen(text), 42, &b, emit, NULL, st);
    return b;
}

static const char *ip(const ipaddr_t *a)
{
    static char buf[8][64];
    static int k;
    k = (k + 1) % 8;
    return ipaddr_format(a, buf[k], sizeof(buf[k]));
}

static void test_formatted(void)
{
    /* ipfixcol2's own example record, formatted mode */
    const char *rec =
        "{\"@type\": \"ipfix.entry\", \"iana:octetDeltaCount\": 3568720,"
        " \"iana:packetDeltaCount\": 2383,"
        " \"iana:flowStartMilliseconds\": \"2018-05-11T19:44:29.006Z\","
        " \"iana:flowEndMilliseconds\": \"2018-05-11T19:44:30.364Z\","
        " \"iana:ingressInterface\": 1, \"iana:ipVersion\": 4,"
        " \"iana:sourceIPv4Address\": \"192.168.0.100\","
        " \"iana:destinationIPv4Address\": \"192.168.0.101\","
        " \"iana:ipClassOfService\": 0, \"iana:ipTTL\": 62,"
        " \"iana:protocolIdentifier\": \"TCP\","
        " \"iana:tcpControlBits\": \".AP.S.\","
        " \"iana:sourceTransportPort\": 47200,"
        " \"iana:destinationTransportPort\": 20810,"
        " \"iana:egressInterface\": 0, \"iana:samplingInterval\": 0,"
        " \"iana:samplingAlgorithm\": 0}";
    kafka_json_stats_t st;
    flow_batch_t *b = decode(rec, &st);
    CHECK_INT(b->n, 1);
    CHECK_INT(st.flows, 1);
    CHECK_INT(st.malformed, 0);
    CHECK_STR(ip(&b->srcip[0]), "192.168.0.100");
    CHECK_STR(ip(&b->dstip[0]), "192.168.0.101");
    CHECK_INT(b->bytes[0], 3568720);
    CHECK_INT(b->packets[0], 2383);
    int64_t t;
    time_parse_iso("2018-05-11T19:44:29.006Z", &t);
    CHECK_INT(b->start[0], t);
    CHECK_INT(b->end[0], t + 1358);
    CHECK_INT(b->received[0], 42);
    CHECK_INT(b->proto[0], 6);
    CHECK_INT(b->tcpflags[0], 0x1a);   /* ACK PSH SYN */
    CHECK_INT(b->srcport[0], 47200);
    CHECK_INT(b->dstport[0], 20810);
    CHECK_INT(b->ingress[0], 1);
    CHECK_INT(b->flags & FLOW_BATCH_REPLAY, 0);
    flow_batch_free(b);
}

static void test_raw_and_old(void)
{
    /* raw mode: numbers for times, protocol and flags; IPv6; metadata */
    const char *raw =
        "{\"@type\":\"ipfix.entry\",\"iana:sourceIPv6Address\":\"2001:db8::1\","
        "\"iana:destinationIPv6Address\":\"2001:db8::2\","
        "\"iana:flowStartMilliseconds\":1700000000123,"
        "\"iana:flowEndMilliseconds\":1700000001123,"
        "\"iana:protocolIdentifier\":17,\"iana:tcpControlBits\":0,"
        "\"iana:octetTotalCount\":999,\"iana:packetDeltaCount\":3,"
        "\"iana:bgpSourceAsNumber\":64500,\"iana:bgpDestinationAsNumber\":64501,"
        "\"iana:vlanId\":12,\"iana:flowDirection\":1,"
        "\"iana:sourceIPv6PrefixLength\":48,\"iana:ipNextHopIPv6Address\":\"fe80::1\","
        "\"ipfix:odid\":7,\"ipfix:srcAddr\":\"127.0.0.1\","
        "\"iana@reverse:octetDeltaCount\":5,\"cisco:appName\":\"x\"}\n"
        /* the older ipfixcol: every value a string */
        "{\"@type\":\"ipfix.entry\",\"iana:destinationTransportPort\":\"8612\","
        "\"iana:octetDeltaCount\":\"44\",\"iana:protocolIdentifier\":\"UDP\","
        "\"iana:sourceIPv4Address\":\"132.132.132.1\","
        "\"iana:flowStartSeconds\":\"2014-07-21T11:35:53Z\","
        "\"iana:tcpControlBits\":\"18\"}";
    kafka_json_stats_t st;
    flow_batch_t *b = decode(raw, &st);
    CHECK_INT(b->n, 2);
    CHECK_INT(st.records, 2);
    CHECK_INT(st.malformed, 0);
    CHECK_STR(ip(&b->srcip[0]), "2001:db8::1");
    CHECK_STR(ip(&b->dstip[0]), "2001:db8::2");
    CHECK_STR(ip(&b->nexthop[0]), "fe80::1");
    CHECK_STR(ip(&b->exporter[0]), "127.0.0.1");
    CHECK_INT(b->start[0], 1700000000123LL);
    CHECK_INT(b->end[0], 1700000001123LL);
    CHECK_INT(b->proto[0], 17);
    CHECK_INT(b->bytes[0], 999);          /* the total stands in */
    CHECK_INT(b->srcas[0], 64500);
    CHECK_INT(b->dstas[0], 64501);
    CHECK_INT(b->vlan[0], 12);
    CHECK_INT(b->direction[0], 1);
    CHECK_INT(b->srcmask[0], 48);
    CHECK_INT(b->domain[0], 7);
    CHECK_INT(b->dstport[1], 8612);
    CHECK_INT(b->bytes[1], 44);
    CHECK_INT(b->proto[1], 17);
    CHECK_INT(b->tcpflags[1], 18);
    int64_t t;
    time_parse_iso("2014-07-21T11:35:53Z", &t);
    CHECK_INT(b->start[1], t);
    flow_batch_free(b);
}

static void test_preferred_elements(void)
{
    /* the delta wins over the total whichever comes first */
    kafka_json_stats_t st;
    flow_batch_t *b = decode(
        "{\"iana:octetTotalCount\":1,\"iana:octetDeltaCount\":2}"
        "{\"iana:octetDeltaCount\":3,\"iana:octetTotalCount\":4}"
        "{\"iana:exporterIPv4Address\":\"10.9.9.9\",\"ipfix:srcAddr\":\"10.1.1.1\"}"
        "{\"ipfix:srcAddr\":\"10.1.1.1\",\"iana:exporterIPv4Address\":\"10.9.9.9\"}"
        "{\"iana:protocolIdentifier\":\"ICMP\",\"iana:icmpTypeCodeIPv4\":2048}",
        &st);
    CHECK_INT(b->n, 5);
    CHECK_INT(b->bytes[0], 2);
    CHECK_INT(b->bytes[1], 3);
    CHECK_STR(ip(&b->exporter[2]), "10.9.9.9");
    CHECK_STR(ip(&b->exporter[3]), "10.9.9.9");
    CHECK_INT(b->proto[4], 1);
    CHECK_INT(b->dstport[4], 2048);
    flow_batch_free(b);
}

static void test_bad_input(void)
{
    kafka_json_stats_t st;
    flow_batch_t *b = decode(
        "{\"@type\":\"ipfix.template\",\"ipfix:templateId\":256}\n"
        "{\"@type\":\"ipfix.optionsEntry\",\"iana:exportedMessageTotalCount\":5}\n"
        "[1,2]\n"
        "{\"iana:sourceIPv4Address\":\"not an address\",\"iana:octetDeltaCount\":5}\n"
        "{\"iana:protocolIdentifier\":\"NOPE\",\"iana:tcpControlBits\":\".Z....\"}\n"
        "{\"iana:octetDeltaCount\":null,\"iana:packetDeltaCount\":1}\n"
        "{\"iana:octetDeltaCount\": 12, \"trunc", &st);
    CHECK_INT(st.skipped, 2);
    CHECK_INT(st.flows, 3);
    CHECK_INT(st.records, 6);            /* the truncated one is not read */
    CHECK_INT(st.malformed, 4);          /* array, two bad values, the cut */
    CHECK_INT(b->n, 3);
    CHECK_INT(b->bytes[0], 5);           /* a bad field spoils no other */
    CHECK_STR(ip(&b->srcip[0]), "::");
    CHECK_INT(b->proto[1], 0);
    CHECK_INT(b->packets[2], 1);
    flow_batch_free(b);

    b = decode("", &st);
    CHECK_INT(b->n + st.records + st.malformed, 0);
    flow_batch_free(b);
    b = decode("  \n\t ", &st);
    CHECK_INT(b->n + st.records + st.malformed, 0);
    flow_batch_free(b);
}

static void test_full_batches(void)
{
    sbuf_t m = SBUF_INIT;
    for (int i = 0; i < 5000; i++)
        sbuf_printf(&m, "{\"iana:octetDeltaCount\":%d}\n", i);
    emitted = 0;
    kafka_json_stats_t st;
    flow_batch_t *b = decode(sbuf_str(&m), &st);
    CHECK_INT(st.flows, 5000);
    CHECK_INT(emitted, 2);
    CHECK_INT(kept[0]->n, FLOW_BATCH_MAX);
    CHECK_INT(kept[1]->n, FLOW_BATCH_MAX);
    CHECK_INT(b->n, 5000 - 2 * FLOW_BATCH_MAX);
    CHECK_INT(kept[1]->bytes[0], FLOW_BATCH_MAX);
    CHECK_INT(b->bytes[b->n - 1], 4999);
    flow_batch_free(kept[0]);
    flow_batch_free(kept[1]);
    flow_batch_free(b);
    sbuf_free(&m);
}

static void test_spec(void)
{
    char *br, *tp;
    CHECK_INT(kafka_json_parse_spec("h1:9092,h2:9092/flows,more", &br, &tp), 0);
    CHECK_STR(br, "h1:9092,h2:9092");
    CHECK_STR(tp, "flows,more");
    free(br);
    free(tp);
    CHECK_INT(kafka_json_parse_spec("h1:9092", &br, &tp), -1);
    CHECK_INT(kafka_json_parse_spec("/t", &br, &tp), -1);
    CHECK_INT(kafka_json_parse_spec("h:1/", &br, &tp), -1);
}

/* ---- the same flows, directly and through IPFIXCol JSON ---------------- */

static uint64_t rnd_state = 88172645463325252ULL;
static uint64_t rnd(void)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 7;
    rnd_state ^= rnd_state << 17;
    return rnd_state;
}

/* A record as ipfixcol2 writes it (formatted mode, or raw when raw). */
static void to_json(sbuf_t *m, const flow_batch_t *b, uint32_t i, int raw)
{
    char t1[40], t2[40], fl[8] = "......";
    const char *letters = "UAPRSF";
    for (int k = 0; k < 6; k++)
        if (b->tcpflags[i] & (0x20 >> k))
            fl[k] = letters[k];
    int v6 = !ipaddr_is_v4(&b->srcip[i]);
    sbuf_printf(m, "{\"@type\":\"ipfix.entry\",\"iana:%s\":\"%s\",\"iana:%s\":\"%s\",",
                v6 ? "sourceIPv6Address" : "sourceIPv4Address", ip(&b->srcip[i]),
                v6 ? "destinationIPv6Address" : "destinationIPv4Address",
                ip(&b->dstip[i]));
    if (raw)
        sbuf_printf(m, "\"iana:flowStartMilliseconds\":%lld,"
                    "\"iana:flowEndMilliseconds\":%lld,"
                    "\"iana:protocolIdentifier\":%lld,\"iana:tcpControlBits\":%lld,",
                    (long long)b->start[i], (long long)b->end[i],
                    (long long)b->proto[i], (long long)b->tcpflags[i]);
    else
        sbuf_printf(m, "\"iana:flowStartMilliseconds\":\"%s\","
                    "\"iana:flowEndMilliseconds\":\"%s\","
                    "\"iana:protocolIdentifier\":\"%s\",\"iana:tcpControlBits\":\"%s\",",
                    time_format_iso(b->start[i], t1, sizeof(t1)),
                    time_format_iso(b->end[i], t2, sizeof(t2)),
                    b->proto[i] == 6 ? "TCP" : b->proto[i] == 17 ? "UDP" : "ICMP",
                    fl);
    sbuf_printf(m, "\"iana:octetDeltaCount\":%lld,\"iana:packetDeltaCount\":%lld,"
                "\"iana:sourceTransportPort\":%lld,"
                "\"iana:destinationTransportPort\":%lld,"
                "\"iana:bgpSourceAsNumber\":%lld,\"iana:ingressInterface\":%lld}\n",
                (long long)b->bytes[i], (long long)b->packets[i],
                (long long)b->srcport[i], (long long)b->dstport[i],
                (long long)b->srcas[i], (long long)b->ingress[i]);
}

static const char *queries[][2] = {
    {"talkers", "SELECT srcip, count(*) AS flows, sum(bytes) AS bytes, "
                "sum(packets) AS pkts FROM flows WINDOW 10s GROUP BY srcip "
                "ORDER BY srcip"},
    {"ports", "SELECT dstport, proto, count(*), min(start), max(end) FROM flows "
              "WINDOW 1m SLIDE 10s GROUP BY dstport, proto ORDER BY dstport, proto"},
    {"syn", "SELECT dstip, count(*) FROM flows WHERE tcpflags = 'S' "
            "WINDOW 30s GROUP BY dstip ORDER BY dstip"},
    {"as", "SELECT srcas, ingress, count(DISTINCT srcport), avg(bytes) "
           "FROM flows WINDOW 20s GROUP BY srcas, ingress ORDER BY srcas, ingress"},
    {"v6", "SELECT family, count(*), sum(duration) FROM flows WINDOW 10s "
           "GROUP BY family ORDER BY family"},
};
#define NQ (int)(sizeof(queries) / sizeof(queries[0]))

static int line_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Windows may close at other moments when batches are cut differently:
 * compare the set of windows, not the order they came out in. */
static char *sorted_lines(char *text)
{
    char *lines[4096];
    int n = 0;
    for (char *save = NULL, *l = strtok_r(text, "\n", &save); l && n < 4096;
         l = strtok_r(NULL, "\n", &save))
        lines[n++] = l;
    qsort(lines, (size_t)n, sizeof(lines[0]), line_cmp);
    sbuf_t b = SBUF_INIT;
    for (int i = 0; i < n; i++) {
        sbuf_add(&b, lines[i]);
        sbuf_addc(&b, '\n');
    }
    free(text);
    return sbuf_detach(&b);
}

static char *run(flow_batch_t **bs, int nb)
{
    engine_config_t cfg = {.replay = 1};
    engine_t *e = engine_new(&cfg);
    collect_t col;
    collect_init(&col);
    engine_add_output(e, &col.out);
    diag_t err;
    for (int q = 0; q < NQ; q++) {
        plan_t *p = plan_compile(queries[q][1], strlen(queries[q][1]), 0, &err);
        if (!p || engine_register(e, queries[q][0], p, &err) < 0) {
            fprintf(stderr, "%s: %s\n", queries[q][0], err.msg);
            plan_free(p);
        }
    }
    for (int i = 0; i < nb; i++)
        engine_process(e, bs[i]);
    engine_finish(e);
    char *text = sorted_lines(collect_text(&col, NULL));
    engine_free(e);
    collect_free(&col);
    return text;
}

static void test_same_results(void)
{
    for (int raw = 0; raw < 2; raw++) {
        enum { NB = 3 };
        flow_batch_t *direct[NB], *via[8];
        int nvia = 0;
        emitted = 0;
        flow_batch_t *cur = flow_batch_new();
        int64_t t0 = 1795398270000LL;
        for (int k = 0; k < NB; k++) {
            flow_batch_t *b = direct[k] = flow_batch_new();
            sbuf_t msg = SBUF_INIT;
            for (int j = 0; j < 2000; j++) {
                int i = flow_batch_add(b);
                uint64_t r = rnd();
                if (r % 10 == 0) {
                    ipaddr_parse(r % 20 ? "2001:db8::5" : "2001:db8::7", &b->srcip[i]);
                    ipaddr_parse("2001:db8::1", &b->dstip[i]);
                } else {
                    b->srcip[i] = ipaddr_from_v4(0x0a000000 + (uint32_t)(r % 50));
                    b->dstip[i] = ipaddr_from_v4(0xc0000200 + (uint32_t)(r >> 8) % 20);
                }
                b->start[i] = t0 + (int64_t)(k * 2000 + j) * 37;
                b->end[i] = b->start[i] + (int64_t)((r >> 16) % 5000);
                int pr = (r >> 24) % 3;
                b->proto[i] = pr == 0 ? 6 : pr == 1 ? 17 : 1;
                b->tcpflags[i] = b->proto[i] == 6 ? (int64_t)((r >> 28) % 64) : 0;
                b->srcport[i] = 1024 + (int64_t)((r >> 32) % 2000);
                b->dstport[i] = (int64_t[]){53, 80, 443, 8080}[(r >> 40) % 4];
                b->bytes[i] = 40 + (int64_t)((r >> 44) % 100000);
                b->packets[i] = 1 + (int64_t)((r >> 50) % 100);
                b->srcas[i] = 64500 + (int64_t)((r >> 56) % 4);
                b->ingress[i] = (int64_t)((r >> 60) % 3);
                to_json(&msg, b, (uint32_t)i, raw);
            }
            kafka_json_stats_t st = {0};
            kafka_json_decode(msg.s, msg.len, 0, &cur, emit, NULL, &st);
            CHECK_INT(st.flows, 2000);
            CHECK_INT(st.malformed, 0);
            sbuf_free(&msg);
        }
        /* gather what the decoder emitted plus the partial batch */
        nvia = emitted < 8 ? emitted : 8;
        for (int i = 0; i < nvia; i++)
            via[i] = kept[i];
        via[nvia++] = cur;
        emitted = 0;
        char *a = run(direct, NB), *b = run(via, nvia);
        CHECK(strlen(a) > 1000);
        CHECK_STR(b, a);
        free(a);
        free(b);
        for (int i = 0; i < NB; i++)
            flow_batch_free(direct[i]);
        for (int i = 0; i < nvia; i++)
            flow_batch_free(via[i]);
    }
}

int main(void)
{
    RUN(test_formatted);
    RUN(test_raw_and_old);
    RUN(test_preferred_elements);
    RUN(test_bad_input);
    RUN(test_full_batches);
    RUN(test_spec);
    RUN(test_same_results);
    TEST_EXIT();
}
