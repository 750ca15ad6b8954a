/*
 * test_ingest_live.c - the receive thread over real loopback sockets:
 * IPFIX over UDP and TCP, NetFlow v5 and v9 on one port, bad datagrams
 * and garbage floods (counted, never a crash, other exporters
 * undisturbed), a taken port, a full consumer queue, prompt flushing.
 */
#include "ingest/ingest.h"
#include "tests/test.h"
#include "tests/unit/msgbuild.h"
#include "util/log.h"
#include "util/timeutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- harness ------------------------------------------------------------- */

typedef struct live {
    bqueue_t  q;
    ingest_t *ing;
    flow_batch_t *got;       /* records received, flattened */
} live_t;

static int live_start(live_t *L, const char *bind, int qcap, int pool)
{
    memset(L, 0, sizeof(*L));
    bqueue_init(&L->q, (size_t)qcap);
    ingest_config_t cfg = INGEST_CONFIG_INIT;
    cfg.bind_addr = bind;
    cfg.ipfix_udp_port = 0;
    cfg.ipfix_tcp_port = 0;
    cfg.netflow_port = 0;
    cfg.rcvbuf = 4 << 20;
    cfg.pool_batches = pool;
    cfg.out = &L->q;
    diag_t err = {0};
    L->ing = ingest_start(&cfg, &err);
    if (!L->ing)
        fprintf(stderr, "ingest_start: %s\n", err.msg);
    L->got = flow_batch_new();
    return L->ing ? 0 : -1;
}

static void live_stop(live_t *L)
{
    ingest_stop(L->ing);
    flow_batch_t *b;
    bqueue_close(&L->q);
    while ((b = bqueue_pop(&L->q, 0)))
        flow_batch_free(b);
    bqueue_destroy(&L->q);
    flow_batch_free(L->got);
}

static void take(live_t *L, flow_batch_t *b)
{
    for (uint32_t i = 0; i < b->n; i++) {
        int k = flow_batch_add(L->got);
        if (k < 0)
            break;
        L->got->srcip[k] = b->srcip[i];
        L->got->dstip[k] = b->dstip[i];
        L->got->exporter[k] = b->exporter[i];
        L->got->start[k] = b->start[i];
        L->got->end[k] = b->end[i];
        L->got->received[k] = b->received[i];
        L->got->packets[k] = b->packets[i];
        L->got->bytes[k] = b->bytes[i];
        L->got->srcport[k] = b->srcport[i];
        L->got->dstport[k] = b->dstport[i];
        L->got->proto[k] = b->proto[i];
        L->got->sampling[k] = b->sampling[i];
        L->got->domain[k] = b->domain[i];
        L->got->tcpflags[k] = b->tcpflags[i];
        L->got->ingress[k] = b->ingress[i];
    }
}

/* Collect until n records arrived or timeout; returns records seen. */
static uint32_t collect(live_t *L, uint32_t n, int timeout_ms)
{
    int64_t until = time_mono_ms() + timeout_ms;
    while (L->got->n < n && time_mono_ms() < until) {
        flow_batch_t *b = bqueue_pop(&L->q, 50);
        if (b) {
            CHECK(!(b->flags & FLOW_BATCH_REPLAY));
            take(L, b);
            ingest_batch_release(L->ing, b);
        }
    }
    return L->got->n;
}

/* Let the receive thread finish what is in flight (stats settle). */
static void settle(live_t *L)
{
    for (int i = 0; i < 6; i++) {
        flow_batch_t *b = bqueue_pop(&L->q, 50);
        if (b) {
            take(L, b);
            ingest_batch_release(L->ing, b);
        }
    }
}

static int sock_to(int family, int type, int port)
{
    int s = socket(family, type, 0);
    if (family == AF_INET) {
        struct sockaddr_in a = {.sin_family = AF_INET,
                                .sin_port = htons((uint16_t)port)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (connect(s, (struct sockaddr *)&a, sizeof(a)) != 0)
            perror("connect");
    } else {
        struct sockaddr_in6 a = {.sin6_family = AF_INET6,
                                 .sin6_port = htons((uint16_t)port)};
        a.sin6_addr = in6addr_loopback;
        if (connect(s, (struct sockaddr *)&a, sizeof(a)) != 0)
            perror("connect");
    }
    return s;
}

static void sendm(int s, const mb_t *m)
{
    if (send(s, m->b, m->len, 0) != (ssize_t)m->len)
        perror("send");
}

static ingest_exporter_stats_t find_stats(live_t *L, const char *addr,
                                          uint32_t domain)
{
    ingest_exporter_stats_t rows[64], none = {0};
    ipaddr_t want;
    ipaddr_parse(addr, &want);
    size_t n = ingest_stats(L->ing, rows, 64);
    for (size_t i = 0; i < n && i < 64; i++)
        if (rows[i].domain == domain &&
            ipaddr_cmp(&rows[i].exporter, &want) == 0)
            return rows[i];
    return none;
}

static const char *ip(const ipaddr_t *a)
{
    static char buf[4][IPADDR_STRLEN];
    static int k;
    k = (k + 1) % 4;
    return ipaddr_format(a, buf[k], sizeof(buf[k]));
}

/* An IPFIX message: template 300 (when tmpl) and n records from base. */
static void ipfix_msg(mb_t *m, uint32_t seq, uint32_t domain, int tmpl,
                      int n, uint32_t base)
{
    mb_ipfix(m, (uint32_t)(time_now_ms() / 1000), seq, domain);
    if (tmpl) {
        mb_set(m, 2);
        mb_tmpl(m, 300, 5, 8ul, 4u, 12ul, 4u, 2ul, 4u, 1ul, 4u, 4ul, 1u);
        mb_end_set(m);
    }
    if (n) {
        mb_set(m, 300);
        for (int i = 0; i < n; i++) {
            mb_u32(m, base + (uint32_t)i);
            mb_u32(m, 0x0a0a0a0a);
            mb_u32(m, 2);
            mb_u32(m, 100);
            mb_u8(m, 17);
        }
        mb_end_set(m);
    }
    mb_end(m);
}

/* ---- tests ----------------------------------------------------------------- */

static void test_udp_ipfix(void)
{
    live_t L;
    if (live_start(&L, "127.0.0.1", 64, 8) != 0) {
        CHECK(0);
        return;
    }
    int s = sock_to(AF_INET, SOCK_DGRAM, ingest_port(L.ing, INGEST_IPFIX_UDP));
    mb_t m;
    int64_t t0 = time_now_ms();
    ipfix_msg(&m, 0, 5, 1, 3, 0xc0000201);
    sendm(s, &m);
    CHECK_INT(collect(&L, 3, 3000), 3);
    int64_t t1 = time_now_ms();
    if (L.got->n == 3) {
        CHECK_STR(ip(&L.got->srcip[0]), "192.0.2.1");
        CHECK_STR(ip(&L.got->exporter[2]), "127.0.0.1");
        CHECK_INT(L.got->domain[1], 5);
        CHECK_INT(L.got->packets[0], 2);
        CHECK(L.got->received[0] >= t0 && L.got->received[0] <= t1);
    }
    settle(&L);
    ingest_exporter_stats_t st = find_stats(&L, "127.0.0.1", 5);
    CHECK_INT(st.messages, 1);
    CHECK_INT(st.records, 3);
    CHECK_INT(st.proto, INGEST_PROTO_IPFIX);
    close(s);
    live_stop(&L);
}

/* Bad datagrams and a garbage flood from one socket, good data from
 * another: the good exporter's records all arrive, its counters stay
 * clean, the bad one's errors are counted. */
static void test_bad_datagrams_and_flood(void)
{
    live_t L;
    if (live_start(&L, "::", 256, 64) != 0) {
        CHECK(0);
        return;
    }
    int port = ingest_port(L.ing, INGEST_IPFIX_UDP);
    int bad = sock_to(AF_INET, SOCK_DGRAM, port);
    int good = sock_to(AF_INET6, SOCK_DGRAM, port);
    mb_t m;
    int nbad = 0;
    /* truncated below the header */
    send(bad, "\x00\x0a\x00\x05\x01", 5, 0), nbad++;
    /* header length disagrees with the datagram */
    ipfix_msg(&m, 0, 0, 1, 2, 1);
    mb_put16(&m, 2, (unsigned)m.len + 10);
    sendm(bad, &m), nbad++;
    /* unknown version */
    ipfix_msg(&m, 0, 0, 1, 2, 1);
    mb_put16(&m, 0, 7);
    sendm(bad, &m), nbad++;
    /* template with an absurd field count */
    mb_ipfix(&m, 1, 0, 0);
    mb_set(&m, 2);
    mb_u16(&m, 400); mb_u16(&m, 65535); mb_u32(&m, 0x00080004);
    mb_end_set(&m);
    mb_end(&m);
    sendm(bad, &m), nbad++;

    uint64_t x = 88172645463325252ULL;
    uint32_t seq = 0;
    for (int k = 0; k < 50; k++) {
        ipfix_msg(&m, seq, 42, k == 0, 20, 0x0a000000u + (uint32_t)k * 20);
        seq += 20;
        sendm(good, &m);
        for (int g = 0; g < 40; g++) { /* garbage, some with IPFIX headers */
            uint8_t junk[600];
            size_t len = 16 + (size_t)(x % 580);
            for (size_t i = 0; i < len; i++) {
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                junk[i] = (uint8_t)x;
            }
            if (g % 2) {
                junk[0] = 0, junk[1] = 10;
                junk[2] = (uint8_t)(len >> 8), junk[3] = (uint8_t)len;
                junk[12] = junk[13] = junk[14] = junk[15] = 0;
            }
            send(bad, junk, len, 0);
        }
        usleep(2000); /* bursts that fit an unprivileged socket buffer */
    }
    CHECK_INT(collect(&L, 1000, 5000), 1000);
    settle(&L);
    ingest_exporter_stats_t g = find_stats(&L, "::1", 42);
    CHECK_INT(g.records, 1000);
    CHECK_INT(g.messages, 50);
    CHECK_INT(g.decode_errors, 0);
    CHECK_INT(g.seq_lost, 0);
    ingest_exporter_stats_t b = find_stats(&L, "127.0.0.1", 0);
    CHECK(b.decode_errors >= (uint64_t)nbad + 1000); /* the flood + 4 */
    /* nothing of the flood became a record from the good exporter */
    for (uint32_t i = 0; i < L.got->n; i++)
        if (L.got->domain[i] != 42) {
            CHECK_INT(L.got->domain[i], 42);
            break;
        }
    close(bad);
    close(good);
    live_stop(&L);
}

static void test_netflow_v5(void)
{
    live_t L;
    if (live_start(&L, "127.0.0.1", 64, 8) != 0) {
        CHECK(0);
        return;
    }
    int s = sock_to(AF_INET, SOCK_DGRAM, ingest_port(L.ing, INGEST_NETFLOW));
    mb_t m;
    m.len = 0;
    m.version = 5;
    mb_u16(&m, 5); mb_u16(&m, 2);
    mb_u32(&m, 3600000);            /* uptime: 1 h */
    mb_u32(&m, 1700000000);         /* secs */
    mb_u32(&m, 500000000);          /* nsecs: .5 s */
    mb_u32(&m, 1000);               /* flow sequence */
    mb_u8(&m, 1); mb_u8(&m, 2);     /* engine 1/2 */
    mb_u16(&m, 0x4000 | 100);       /* 1 in 100 */
    for (int i = 0; i < 2; i++) {
        mb_u32(&m, 0xc6336401 + (uint32_t)i); mb_u32(&m, 0x08080808);
        mb_u32(&m, 0); mb_u16(&m, 1); mb_u16(&m, 2);
        mb_u32(&m, 10); mb_u32(&m, 840);
        mb_u32(&m, 3500000); mb_u32(&m, 3590000);
        mb_u16(&m, 1234); mb_u16(&m, 53);
        mb_u8(&m, 0); mb_u8(&m, 0); mb_u8(&m, 17); mb_u8(&m, 0);
        mb_u16(&m, 65000); mb_u16(&m, 15169);
        mb_u8(&m, 24); mb_u8(&m, 8); mb_u16(&m, 0);
    }
    sendm(s, &m);
    CHECK_INT(collect(&L, 2, 3000), 2);
    if (L.got->n == 2) {
        int64_t boot = 1700000000500LL - 3600000;
        CHECK_STR(ip(&L.got->srcip[1]), "198.51.100.2");
        CHECK_INT(L.got->start[0], boot + 3500000);
        CHECK_INT(L.got->end[0], boot + 3590000);
        CHECK_INT(L.got->packets[0], 10);
        CHECK_INT(L.got->bytes[0], 840);
        CHECK_INT(L.got->dstport[0], 53);
        CHECK_INT(L.got->proto[0], 17);
        CHECK_INT(L.got->sampling[0], 100);
        CHECK_INT(L.got->domain[0], 0x0102);
        CHECK_INT(L.got->ingress[0], 1);
    }
    /* a truncated v5 datagram and an unknown version: counted */
    mb_put16(&m, 2, 3);
    sendm(s, &m);
    send(s, "\x00\x07\x00\x00", 4, 0);
    settle(&L);
    ingest_exporter_stats_t st = find_stats(&L, "127.0.0.1", 0x0102);
    CHECK_INT(st.records, 2);
    CHECK_INT(st.decode_errors, 1);
    CHECK_INT(find_stats(&L, "127.0.0.1", 0).decode_errors, 1);
    close(s);
    live_stop(&L);
}

static void v9_template_msg(mb_t *m, uint32_t seq, uint32_t source,
                            unsigned tid, int swap)
{
    mb_v9(m, 100000, 1700000000, seq, source);
    mb_set(m, 0);
    if (!swap)
        mb_tmpl(m, tid, 5, 8ul, 4u, 12ul, 4u, 2ul, 4u, 22ul, 4u, 21ul, 4u);
    else /* same id, other layout */
        mb_tmpl(m, tid, 5, 2ul, 4u, 8ul, 4u, 12ul, 4u, 22ul, 4u, 21ul, 4u);
    mb_end_set(m);
    mb_end(m);
}

static void v9_data(mb_t *m, unsigned tid, uint32_t src, uint32_t pk,
                    int swap)
{
    mb_set(m, tid);
    if (!swap) {
        mb_u32(m, src); mb_u32(m, 0x0a000001); mb_u32(m, pk);
    } else {
        mb_u32(m, pk); mb_u32(m, src); mb_u32(m, 0x0a000001);
    }
    mb_u32(m, 90000); mb_u32(m, 95000);
    mb_end_set(m);
    m->count++;
}

static void test_netflow_v9(void)
{
    live_t L;
    if (live_start(&L, "127.0.0.1", 64, 8) != 0) {
        CHECK(0);
        return;
    }
    int port = ingest_port(L.ing, INGEST_NETFLOW);
    int a = sock_to(AF_INET, SOCK_DGRAM, port);
    /* the second exporter sends from 127.0.0.2 */
    int b = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in from = {.sin_family = AF_INET};
    from.sin_addr.s_addr = htonl(0x7f000002);
    struct sockaddr_in to = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port)};
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(b, (struct sockaddr *)&from, sizeof(from)) != 0 ||
        connect(b, (struct sockaddr *)&to, sizeof(to)) != 0)
        perror("127.0.0.2");
    mb_t m;
    /* data before its template: counted, not decoded */
    mb_v9(&m, 100000, 1700000000, 0, 9);
    v9_data(&m, 260, 0x01010101, 1, 0);
    mb_end(&m);
    sendm(a, &m);
    /* two exporters, same source id and template id, other layouts */
    v9_template_msg(&m, 1, 9, 260, 0);
    v9_data(&m, 260, 0x01010101, 7, 0);
    mb_end(&m);
    sendm(a, &m);
    v9_template_msg(&m, 1, 9, 260, 1);
    v9_data(&m, 260, 0x02020202, 8, 1);
    mb_end(&m);
    sendm(b, &m);
    /* options: sampling interval 1 in 50 (scope: system) */
    mb_v9(&m, 100500, 1700000000, 2, 9);
    mb_set(&m, 1);
    mb_u16(&m, 270); mb_u16(&m, 4); mb_u16(&m, 8);
    mb_u16(&m, 1); mb_u16(&m, 4);       /* scope system */
    mb_u16(&m, 34); mb_u16(&m, 4);      /* SAMPLING_INTERVAL */
    mb_u16(&m, 35); mb_u16(&m, 1);      /* SAMPLING_ALGORITHM */
    mb_u16(&m, 0);                      /* pad the flowset to 4 */
    mb_end_set(&m);
    m.count++;
    mb_set(&m, 270);
    mb_u32(&m, 0); mb_u32(&m, 50); mb_u8(&m, 2);
    mb_u8(&m, 0); mb_u8(&m, 0); mb_u8(&m, 0);
    mb_end_set(&m);
    m.count++;
    v9_data(&m, 260, 0x03030303, 9, 0);
    mb_end(&m);
    sendm(a, &m);
    CHECK_INT(collect(&L, 3, 3000), 3);
    int seen = 0;
    for (uint32_t i = 0; i < L.got->n; i++) {
        uint32_t src = ipaddr_v4(&L.got->srcip[i]);
        int64_t boot = 1700000000000LL - (src == 0x03030303 ? 100500 : 100000);
        CHECK_INT(L.got->start[i], boot + 90000);
        CHECK_INT(L.got->end[i], boot + 95000);
        if (src == 0x01010101) {
            CHECK_INT(L.got->packets[i], 7);
            CHECK_STR(ip(&L.got->exporter[i]), "127.0.0.1");
            seen |= 1;
        } else if (src == 0x02020202) {
            CHECK_INT(L.got->packets[i], 8);
            CHECK_STR(ip(&L.got->exporter[i]), "127.0.0.2");
            seen |= 2;
        } else if (src == 0x03030303) {
            CHECK_INT(L.got->packets[i], 9);
            CHECK_INT(L.got->sampling[i], 50);
            seen |= 4;
        }
        CHECK_INT(L.got->domain[i], 9);
    }
    CHECK_INT(seen, 7);

    /* templates that made libfixbuf's v9 translator divide by zero */
    mb_v9(&m, 100000, 1700000000, 3, 9);
    mb_set(&m, 0);
    mb_tmpl(&m, 280, 2, 8ul, 0u, 12ul, 0u);      /* zero-length record */
    mb_end_set(&m);
    mb_end(&m);
    sendm(a, &m);
    mb_v9(&m, 100000, 1700000000, 4, 9);
    mb_set(&m, 0);
    mb_u16(&m, 281); mb_u16(&m, 0);              /* no fields */
    mb_end_set(&m);
    mb_end(&m);
    sendm(a, &m);
    mb_v9(&m, 100000, 1700000000, 5, 9);
    mb_set(&m, 1);
    mb_u16(&m, 282); mb_u16(&m, 0); mb_u16(&m, 0); mb_u16(&m, 0);
    mb_end_set(&m);
    mb_end(&m);
    sendm(a, &m);
    /* and the exporter still works afterwards */
    mb_v9(&m, 100000, 1700000000, 6, 9);
    v9_data(&m, 260, 0x04040404, 10, 0);
    mb_end(&m);
    sendm(a, &m);
    CHECK_INT(collect(&L, 4, 3000), 4);
    settle(&L);
    uint64_t errs = find_stats(&L, "127.0.0.1", 9).decode_errors;
    CHECK_INT(errs, 3);
    CHECK_INT(find_stats(&L, "127.0.0.1", 9).unknown_tmpl, 1);
    CHECK_INT(find_stats(&L, "127.0.0.1", 9).seq_lost_msgs, 0);
    CHECK_INT(find_stats(&L, "127.0.0.2", 9).records, 1);
    close(a);
    close(b);
    live_stop(&L);
}

static void test_tcp(void)
{
    live_t L;
    if (live_start(&L, "127.0.0.1", 64, 8) != 0) {
        CHECK(0);
        return;
    }
    int s = sock_to(AF_INET, SOCK_STREAM, ingest_port(L.ing, INGEST_IPFIX_TCP));
    mb_t m;
    uint8_t stream[4096];
    size_t n = 0;
    for (int k = 0; k < 3; k++) {
        ipfix_msg(&m, (uint32_t)k * 4, 11, k == 0, 4, 0x0b000000u + (uint32_t)k * 4);
        memcpy(stream + n, m.b, m.len);
        n += m.len;
    }
    /* in awkward pieces: 1 byte, 17 bytes, the rest */
    send(s, stream, 1, 0);
    usleep(20000);
    send(s, stream + 1, 17, 0);
    usleep(20000);
    send(s, stream + 18, n - 18, 0);
    CHECK_INT(collect(&L, 12, 3000), 12);
    /* a bad header ends the connection */
    send(s, "\x00\x09\x00\x10garbagegarbage", 16, 0);
    char c;
    struct timeval tv = {3, 0};
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    CHECK_INT(recv(s, &c, 1, 0), 0); /* closed by the collector */
    settle(&L);
    ingest_exporter_stats_t st = find_stats(&L, "127.0.0.1", 11);
    CHECK_INT(st.records, 12);
    CHECK_INT(st.seq_lost, 0);
    CHECK_INT(find_stats(&L, "127.0.0.1", 0).decode_errors, 1);
    ingest_totals_t t;
    ingest_get_totals(L.ing, &t);
    CHECK_INT(t.tcp_accepted, 1);
    close(s);
    live_stop(&L);
}

/* A TCP peer that goes silent mid-message is disconnected after the
 * session timeout instead of holding its connection for ever. */
static void test_tcp_idle_closed(void)
{
    bqueue_t q;
    bqueue_init(&q, 4);
    ingest_config_t cfg = INGEST_CONFIG_INIT;
    cfg.bind_addr = "127.0.0.1";
    cfg.ipfix_udp_port = -1;
    cfg.ipfix_tcp_port = 0;
    cfg.netflow_port = -1;
    cfg.session_timeout_s = 1;
    cfg.out = &q;
    diag_t err = {0};
    ingest_t *ing = ingest_start(&cfg, &err);
    CHECK(ing != NULL);
    if (!ing)
        return;
    int s = sock_to(AF_INET, SOCK_STREAM, ingest_port(ing, INGEST_IPFIX_TCP));
    send(s, "\x00\x0a\x01\x00", 4, 0); /* a 256-byte message, never sent */
    struct timeval tv = {5, 0};
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    char c;
    int64_t t0 = time_mono_ms();
    CHECK_INT(recv(s, &c, 1, 0), 0);
    CHECK(time_mono_ms() - t0 < 4500);
    close(s);
    ingest_stop(ing);
    bqueue_destroy(&q);
}

/* A TCP socket from address src (any 127/8 address is local) to port. */
static int tcp_from(const char *src, int port)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in from = {.sin_family = AF_INET};
    struct sockaddr_in to = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, src, &from.sin_addr);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(s, (struct sockaddr *)&from, sizeof(from)) != 0 ||
        connect(s, (struct sockaddr *)&to, sizeof(to)) != 0)
        perror(src);
    return s;
}

/* 1 if the collector closed s within ms, 0 if s is still open. */
static int closed_within(int s, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    char c;
    return recv(s, &c, 1, 0) == 0;
}

/* Idle connections cannot lock real exporters out: at most
 * max_tcp_per_source from one address (more are refused, counted on that
 * address), and when every slot is held by connections that never sent a
 * message the oldest makes room for a newcomer; silent ones are closed
 * after tcp_silent_timeout_s, an exporter that delivered is not. */
static void test_tcp_slots(void)
{
    live_t L;
    memset(&L, 0, sizeof(L));
    bqueue_init(&L.q, 16);
    ingest_config_t cfg = INGEST_CONFIG_INIT;
    cfg.bind_addr = "127.0.0.1";
    cfg.ipfix_udp_port = -1;
    cfg.ipfix_tcp_port = 0;
    cfg.netflow_port = -1;
    cfg.max_tcp_conns = 8;
    cfg.max_tcp_per_source = 4;
    cfg.tcp_silent_timeout_s = 2;
    cfg.out = &L.q;
    diag_t err = {0};
    L.ing = ingest_start(&cfg, &err);
    L.got = flow_batch_new();
    CHECK(L.ing != NULL);
    if (!L.ing)
        return;
    int port = ingest_port(L.ing, INGEST_IPFIX_TCP);
    int idle[10];
    for (int k = 0; k < 6; k++) /* 4 slots, then 2 refusals */
        idle[k] = tcp_from("127.0.0.1", port);
    CHECK(closed_within(idle[4], 2000));
    CHECK(closed_within(idle[5], 2000));
    for (int k = 6; k < 10; k++) /* the other 4 slots */
        idle[k] = tcp_from("127.0.0.3", port);
    usleep(100000);

    /* every slot is held by a silent connection: an exporter gets in */
    int exp = tcp_from("127.0.0.2", port);
    mb_t m;
    ipfix_msg(&m, 0, 21, 1, 5, 0x15000000);
    sendm(exp, &m);
    CHECK_INT(collect(&L, 5, 3000), 5);
    CHECK(closed_within(idle[0], 2000));     /* the oldest made room */
    CHECK(!closed_within(idle[1], 100));

    /* the silent ones go after 2 s; the exporter stays */
    for (int k = 1; k < 10; k++)
        if (k != 4 && k != 5)
            CHECK(closed_within(idle[k], 4000));
    ipfix_msg(&m, 5, 21, 0, 3, 0x15000100);
    sendm(exp, &m);
    CHECK_INT(collect(&L, 8, 3000), 8);
    CHECK(!closed_within(exp, 100));

    settle(&L);
    CHECK_INT(find_stats(&L, "127.0.0.1", 0).tcp_refused, 2);
    CHECK_INT(find_stats(&L, "127.0.0.3", 0).tcp_refused, 0);
    CHECK_INT(find_stats(&L, "127.0.0.2", 21).records, 8);
    ingest_totals_t t;
    ingest_get_totals(L.ing, &t);
    CHECK_INT(t.tcp_accepted, 9);
    CHECK_INT(t.tcp_rejected, 2);
    CHECK_INT(t.tcp_silent_closed, 8);
    for (int k = 0; k < 10; k++)
        close(idle[k]);
    close(exp);
    live_stop(&L);
}

static void test_port_taken(void)
{
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof(a);
    bind(s, (struct sockaddr *)&a, al);
    getsockname(s, (struct sockaddr *)&a, &al);
    int port = ntohs(a.sin_port);

    bqueue_t q;
    bqueue_init(&q, 4);
    ingest_config_t cfg = INGEST_CONFIG_INIT;
    cfg.bind_addr = "127.0.0.1";
    cfg.ipfix_udp_port = port;
    cfg.ipfix_tcp_port = 0;
    cfg.netflow_port = 0;
    cfg.out = &q;
    diag_t err = {0};
    ingest_t *ing = ingest_start(&cfg, &err);
    CHECK(ing == NULL);
    char want[32];
    snprintf(want, sizeof(want), "port %d", port);
    CHECK(strstr(err.msg, want) != NULL);
    CHECK(strstr(err.msg, "in use") != NULL);
    ingest_stop(ing);
    /* a bad bind address is refused too */
    cfg.ipfix_udp_port = 0;
    cfg.bind_addr = "not-an-address";
    diag_t err2 = {0};
    CHECK(ingest_start(&cfg, &err2) == NULL);
    CHECK(strstr(err2.msg, "not-an-address") != NULL);
    bqueue_destroy(&q);
    close(s);
}

/* Consumer never pops: the queue (1 batch) and the pool fill up, the rest
 * is dropped and counted, and nothing blocks. */
static void test_queue_full_counts_drops(void)
{
    live_t L;
    if (live_start(&L, "127.0.0.1", 1, 3) != 0) {
        CHECK(0);
        return;
    }
    int s = sock_to(AF_INET, SOCK_DGRAM, ingest_port(L.ing, INGEST_IPFIX_UDP));
    mb_t m;
    uint32_t seq = 0;
    const int msgs = 400, per = 50; /* 20000 records ~ 10 batches */
    for (int k = 0; k < msgs; k++) {
        ipfix_msg(&m, seq, 3, k == 0, per, (uint32_t)k);
        seq += per;
        sendm(s, &m);
        if (k % 10 == 9)
            usleep(3000);
    }
    usleep(300000);
    ingest_exporter_stats_t st = find_stats(&L, "127.0.0.1", 3);
    CHECK_INT(st.records, msgs * per);
    CHECK(st.queue_drops > 0);
    /* what was kept: 1 in the queue (+ what sits in the current batch) */
    uint64_t kept = 0;
    flow_batch_t *b;
    while ((b = bqueue_pop(&L.q, 200))) {
        kept += b->n;
        ingest_batch_release(L.ing, b);
    }
    usleep(200000);
    while ((b = bqueue_pop(&L.q, 200))) {
        kept += b->n;
        ingest_batch_release(L.ing, b);
    }
    st = find_stats(&L, "127.0.0.1", 3);
    CHECK_INT(kept + st.queue_drops, (uint64_t)msgs * per);
    ingest_totals_t t;
    ingest_get_totals(L.ing, &t);
    CHECK_INT(t.queue_drops, st.queue_drops);
    close(s);
    live_stop(&L);
}

/* One record on a quiet stream is handed over promptly, in a partial
 * batch. */
static void test_partial_batch_flushed(void)
{
    live_t L;
    if (live_start(&L, "127.0.0.1", 8, 4) != 0) {
        CHECK(0);
        return;
    }
    int s = sock_to(AF_INET, SOCK_DGRAM, ingest_port(L.ing, INGEST_IPFIX_UDP));
    mb_t m;
    ipfix_msg(&m, 0, 1, 1, 1, 1);
    int64_t t0 = time_mono_ms();
    sendm(s, &m);
    flow_batch_t *b = bqueue_pop(&L.q, 2000);
    int64_t dt = time_mono_ms() - t0;
    CHECK(b != NULL);
    if (b) {
        CHECK_INT(b->n, 1);
        ingest_batch_release(L.ing, b);
    }
    if (dt > 500)
        fprintf(stderr, "partial batch took %lld ms\n", (long long)dt);
    CHECK(dt <= 500); /* flush_ms is 50; generous for sanitizer builds */
    close(s);
    live_stop(&L);
}

/* Mutated v5, v9 and IPFIX datagrams at both UDP ports: no crash, and a
 * clean exporter is decoded correctly afterwards. */
static void test_mutated_datagrams(void)
{
    live_t L;
    if (live_start(&L, "127.0.0.1", 256, 16) != 0) {
        CHECK(0);
        return;
    }
    int ipfix = sock_to(AF_INET, SOCK_DGRAM, ingest_port(L.ing, INGEST_IPFIX_UDP));
    int nf = sock_to(AF_INET, SOCK_DGRAM, ingest_port(L.ing, INGEST_NETFLOW));
    mb_t v9, v10;
    v9_template_msg(&v9, 0, 1, 300, 0);
    v9_data(&v9, 300, 0x01020304, 1, 0);
    mb_end(&v9);
    ipfix_msg(&v10, 0, 1, 1, 3, 1);
    const char *env = getenv("FLOWSQL_MUTATIONS"); /* longer runs by hand */
    int rounds = env ? atoi(env) : 3000;
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    for (int k = 0; k < rounds; k++) {
        mb_t m = (k % 2) ? v9 : v10;
        int flips = 1 + k % 5;
        for (int f = 0; f < flips; f++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            m.b[2 + x % (m.len - 2)] = (uint8_t)(x >> 24);
        }
        if (k % 5 == 0)
            m.len = 1 + (x >> 33) % m.len;
        sendm((k % 2) ? nf : ipfix, &m);
        if (k % 100 == 99)
            usleep(3000);
    }
    /* what the flood decoded to: consumed, so the pool has room again */
    flow_batch_t *fb;
    usleep(100000);
    while ((fb = bqueue_pop(&L.q, 200)))
        ingest_batch_release(L.ing, fb);
    /* a clean exporter afterwards */
    int clean = sock_to(AF_INET, SOCK_DGRAM, ingest_port(L.ing, INGEST_IPFIX_UDP));
    ipfix_msg(&v10, 0, 77, 1, 5, 0x0d000000);
    sendm(clean, &v10);
    int64_t until = time_mono_ms() + 5000;
    int found = 0;
    while (time_mono_ms() < until && found < 5) {
        flow_batch_t *b = bqueue_pop(&L.q, 50);
        if (!b)
            continue;
        for (uint32_t i = 0; i < b->n; i++)
            if (b->domain[i] == 77 &&
                (ipaddr_v4(&b->srcip[i]) & 0xff000000) == 0x0d000000)
                found++;
        ingest_batch_release(L.ing, b);
    }
    CHECK_INT(found, 5);
    if (found != 5) {
        ingest_exporter_stats_t st = find_stats(&L, "127.0.0.1", 77);
        ingest_totals_t t;
        ingest_get_totals(L.ing, &t);
        fprintf(stderr, "clean exporter: messages %llu records %llu errors "
                "%llu drops %llu; totals: records %llu drops %llu\n",
                (unsigned long long)st.messages,
                (unsigned long long)st.records,
                (unsigned long long)st.decode_errors,
                (unsigned long long)st.queue_drops,
                (unsigned long long)t.records,
                (unsigned long long)t.queue_drops);
    }
    close(ipfix);
    close(nf);
    close(clean);
    live_stop(&L);
}

int main(void)
{
    log_set_level(LOG_ERROR);
    RUN(test_udp_ipfix);
    RUN(test_bad_datagrams_and_flood);
    RUN(test_netflow_v5);
    RUN(test_netflow_v9);
    RUN(test_tcp);
    RUN(test_tcp_idle_closed);
    RUN(test_tcp_slots);
    RUN(test_port_taken);
    RUN(test_queue_full_counts_drops);
    RUN(test_partial_batch_flushed);
    RUN(test_mutated_datagrams);
    TEST_EXIT();
}
