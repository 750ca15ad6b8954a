/*
 * test_enrich.c - the enriched fields (enrich/enrich.h) over MaxMind DB
 * files this test writes itself (tests/tools/mkmmdb.pl, Debian's
 * libmaxmind-db-writer-perl) and CSV files: every field, IPv4 and IPv6,
 * misses, the AS precedence, only the fields asked for, a reload (and a
 * refused one that keeps the old files), errors naming file and line,
 * and longest-prefix match over a million prefixes against an oracle.
 */
#include "engine/engine.h"
#include "engine/expr.h"
#include "enrich/enrich.h"
#include "tests/collect.h"
#include "tests/test.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char dir[] = "/tmp/flowsql-enrich-XXXXXX";
static char geo[256], asn[256], nets[256], exps[256], ifs[256];

static void put(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        abort();
    }
    fputs(text, f);
    fclose(f);
}

/* Write an mmdb from "net<TAB>json" lines. */
static void mmdb(const char *path, const char *type, const char *lines)
{
    char src[300], cmd[1024];
    snprintf(src, sizeof(src), "%s.txt", path);
    put(src, lines);
    snprintf(cmd, sizeof(cmd), "perl tests/tools/mkmmdb.pl %s %s < %s",
             path, type, src);
    if (system(cmd) != 0) {
        fprintf(stderr, "cannot run: %s\n", cmd);
        abort();
    }
}

static ipaddr_t ip_of(const char *s)
{
    ipaddr_t ip;
    if (ipaddr_parse(s, &ip) < 0)
        abort();
    return ip;
}

static void write_sources(const char *us)
{
    char g[1024];
    snprintf(g, sizeof(g),
             "10.0.0.0/25\t{\"country\":{\"iso_code\":\"%s\"}}\n"
             "10.0.0.128/25\t{\"country\":{\"iso_code\":\"DE\"}}\n"
             "172.16.0.0/16\t{\"registered_country\":{\"iso_code\":\"FR\"}}\n"
             "2001:db8::/64\t{\"country\":{\"iso_code\":\"JP\"}}\n", us);
    mmdb(geo, "GeoLite2-Country", g);
    mmdb(asn, "GeoLite2-ASN",
         "10.0.0.0/24\t{\"autonomous_system_number\":64500,"
         "\"autonomous_system_organization\":\"Example Net A\"}\n"
         "172.16.0.0/16\t{\"autonomous_system_number\":64501,"
         "\"autonomous_system_organization\":\"Example Net B\"}\n"
         "2001:db8::/32\t{\"autonomous_system_number\":64502,"
         "\"autonomous_system_organization\":\"V6 Net\"}\n");
    put(nets, "# prefix,name\n"
              "10.0.0.0/8,corp\n"
              "10.0.0.0/26, customer-a\n"
              "10.0.0.64/26,\"customer, b\"\n"
              "\n"
              "172.16.0.0/12,dmz\n"
              "2001:db8::/32,v6-lab\n"
              "2001:db8:0:1::/64,v6-servers\n");
    put(exps, "127.0.0.1,edge-1\n192.0.2.1, core-2\n2001:db8::ff,v6-edge\n");
    put(ifs, "127.0.0.1,1,xe-0/0/1\n127.0.0.1,2,xe-0/0/2 uplink\n"
             "192.0.2.1,1,ge-1/0/0\n");
}

static enrich_config_t config(void)
{
    return (enrich_config_t){geo, asn, nets, exps, ifs};
}

/* One batch of the addresses the sources know and do not know. */
static flow_batch_t *sample(void)
{
    flow_batch_t *b = flow_batch_new();
    static const char *const src[] = {"10.0.0.5", "10.0.0.70", "10.0.0.200",
                                      "10.0.1.1", "2001:db8::7",
                                      "2001:db8:0:1::9", "192.168.1.1"};
    for (size_t k = 0; k < sizeof(src) / sizeof(src[0]); k++) {
        int i = flow_batch_add(b);
        b->srcip[i] = ip_of(src[k]);
        b->dstip[i] = ip_of(k == 4 ? "2001:db8:0:1::1" : "172.16.3.4");
        b->exporter[i] = ip_of(k == 1 ? "192.0.2.1" : k == 4 ? "2001:db8::ff"
                                                             : "127.0.0.1");
        b->ingress[i] = 1;
        b->egress[i] = (int64_t)k + 1;
    }
    b->srcas[2] = 65000;    /* sent by the exporter: it wins */
    return b;
}

static void test_every_field(void)
{
    diag_t err;
    diag_clear(&err);
    enrich_config_t c = config();
    CHECK_INT(enrich_load(&c, &err), 0);
    flow_batch_t *b = sample();
    enrich_batch(b, ENRICH_FIELDS);
    /* srccountry: US, DE by /25, a miss, JP for v6, a miss */
    CHECK_STR(b->srccountry[0], "US");
    CHECK_STR(b->srccountry[1], "US");
    CHECK_STR(b->srccountry[2], "DE");
    CHECK_STR(b->srccountry[3], "");
    CHECK_STR(b->srccountry[4], "JP");
    CHECK_STR(b->srccountry[5], "");
    CHECK_STR(b->srccountry[6], "");
    /* registered_country when there is no country */
    CHECK_STR(b->dstcountry[0], "FR");
    CHECK_STR(b->dstcountry[4], "");
    /* interned: equal text, equal pointer (what = and GROUP BY use) */
    CHECK(b->srccountry[0] == str_intern("US"));
    CHECK(b->srccountry[3] == str_intern(""));
    /* AS: from the db when the exporter sent 0, else the exporter's */
    CHECK_INT(b->srcasn[0], 64500);
    CHECK_INT(b->srcasn[2], 65000);
    CHECK_INT(b->srcasn[3], 0);
    CHECK_INT(b->srcasn[4], 64502);
    CHECK_INT(b->dstasn[0], 64501);
    CHECK_STR(b->srcasname[0], "Example Net A");
    CHECK_STR(b->srcasname[2], "Example Net A");
    CHECK_STR(b->srcasname[3], "");
    CHECK_STR(b->srcasname[4], "V6 Net");
    CHECK_STR(b->dstasname[0], "Example Net B");
    CHECK_STR(b->dstasname[4], "V6 Net");
    /* networks: the longest prefix */
    CHECK_STR(b->srcnet_name[0], "customer-a");
    CHECK_STR(b->srcnet_name[1], "customer, b");
    CHECK_STR(b->srcnet_name[2], "corp");
    CHECK_STR(b->srcnet_name[3], "corp");
    CHECK_STR(b->srcnet_name[4], "v6-lab");
    CHECK_STR(b->srcnet_name[5], "v6-servers");
    CHECK_STR(b->srcnet_name[6], "");
    CHECK_STR(b->dstnet_name[0], "dmz");
    CHECK_STR(b->dstnet_name[4], "v6-servers");
    /* exporters and interfaces */
    CHECK_STR(b->exporter_name[0], "edge-1");
    CHECK_STR(b->exporter_name[1], "core-2");
    CHECK_STR(b->exporter_name[4], "v6-edge");
    CHECK_STR(b->in_ifname[0], "xe-0/0/1");
    CHECK_STR(b->out_ifname[0], "xe-0/0/1");
    CHECK_STR(b->out_ifname[1], "");           /* 192.0.2.1 if 2: none */
    CHECK_STR(b->in_ifname[1], "ge-1/0/0");
    CHECK_STR(b->out_ifname[2], "");           /* 127.0.0.1 if 3 */
    CHECK_STR(b->in_ifname[4], "");            /* v6-edge has none */
    flow_batch_free(b);

    /* Only the fields asked for are written. */
    b = sample();
    for (uint32_t i = 0; i < b->n; i++)
        b->srccountry[i] = b->srcnet_name[i] = "untouched";
    enrich_batch(b, 1ull << F_SRCNET_NAME);
    CHECK_STR(b->srccountry[0], "untouched");
    CHECK_STR(b->srcnet_name[0], "customer-a");
    flow_batch_free(b);
}

static void test_reload(void)
{
    diag_t err;
    diag_clear(&err);
    flow_batch_t *b = sample();
    enrich_batch(b, 1ull << F_SRCCOUNTRY);       /* fills the cache */
    CHECK_STR(b->srccountry[0], "US");
    write_sources("CA");
    put(nets, "10.0.0.0/8,renamed\n");
    enrich_stats_t s0, s1;
    enrich_get_stats(&s0);
    CHECK_INT(enrich_reload(&err), 0);
    enrich_get_stats(&s1);
    CHECK_INT(s1.reloads, s0.reloads + 1);
    CHECK_INT(s1.networks, 1);
    enrich_batch(b, 1ull << F_SRCCOUNTRY | 1ull << F_SRCNET_NAME);
    CHECK_STR(b->srccountry[0], "CA");           /* not the cached US */
    CHECK_STR(b->srcnet_name[0], "renamed");
    /* A bad line: refused, the loaded files stay. */
    put(nets, "10.0.0.0/8,ok\n10.0.0.0/33,bad\n");
    diag_clear(&err);
    CHECK_INT(enrich_reload(&err), -1);
    CHECK(strstr(err.msg, nets) != NULL);
    CHECK(strstr(err.msg, ":2:") != NULL);
    CHECK(strstr(err.msg, "'10.0.0.0/33' is not a prefix") != NULL);
    enrich_get_stats(&s1);
    CHECK_INT(s1.reload_errors, s0.reload_errors + 1);
    enrich_batch(b, 1ull << F_SRCNET_NAME);
    CHECK_STR(b->srcnet_name[0], "renamed");
    /* A missing database: refused too, and says which option. */
    enrich_config_t c = config();
    c.geoip_db = "/nonexistent.mmdb";
    diag_clear(&err);
    CHECK_INT(enrich_load(&c, &err), -1);
    CHECK(strstr(err.msg, "--geoip-db") != NULL);
    CHECK(strstr(err.msg, "/nonexistent.mmdb") != NULL);
    /* A file that is not a MaxMind DB. */
    c = config();
    c.asn_db = nets;
    diag_clear(&err);
    CHECK_INT(enrich_load(&c, &err), -1);
    CHECK(strstr(err.msg, "--asn-db") != NULL);
    put(nets, "10.0.0.0/8,renamed\n");
    /* A FIFO is refused at once, not waited on. */
    char fifo[300];
    snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
    CHECK_INT(mkfifo(fifo, 0600), 0);
    c = config();
    c.exporter_names = fifo;
    diag_clear(&err);
    CHECK_INT(enrich_load(&c, &err), -1);
    CHECK(strstr(err.msg, "is not a regular file") != NULL);
    c = config();
    c.geoip_db = fifo;
    diag_clear(&err);
    CHECK_INT(enrich_load(&c, &err), -1);
    CHECK(strstr(err.msg, "--geoip-db") != NULL);
    unlink(fifo);
    put(ifs, "127.0.0.1,x,name\n");
    diag_clear(&err);
    CHECK_INT(enrich_reload(&err), -1);
    CHECK(strstr(err.msg, "'x' is not an interface index") != NULL);
    write_sources("US");
    CHECK_INT(enrich_reload(&err), 0);
    flow_batch_free(b);
}

/* Nothing configured: names are "", AS as exported. */
static void test_unconfigured(void)
{
    diag_t err;
    diag_clear(&err);
    enrich_config_t c = {"", "", "", "", ""};
    CHECK_INT(enrich_load(&c, &err), 0);
    flow_batch_t *b = sample();
    enrich_batch(b, ENRICH_FIELDS);
    CHECK_STR(b->srccountry[0], "");
    CHECK_STR(b->exporter_name[0], "");
    CHECK_STR(b->in_ifname[0], "");
    CHECK_INT(b->srcasn[0], 0);
    CHECK_INT(b->srcasn[2], 65000);
    flow_batch_free(b);
}

/* The engine: the fields its queries name (what the engine thread
 * enriches, nothing else), and enriched strings in =, IN and GROUP BY. */
static void test_through_the_engine(void)
{
    diag_t err;
    diag_clear(&err);
    enrich_config_t c = config();
    CHECK_INT(enrich_load(&c, &err), 0);
    engine_config_t ec = {.replay = 1};
    engine_t *e = engine_new(&ec);
    collect_t col;
    collect_init(&col);
    engine_add_output(e, &col.out);
    CHECK_INT(engine_fields(e) & ENRICH_FIELDS, 0);
    static const char q1[] = "SELECT srccountry, srcnet_name, count(*) AS n "
        "FROM flows WINDOW 1h GROUP BY srccountry, srcnet_name";
    static const char q2[] = "SELECT count(*) AS n FROM flows WINDOW 1h "
        "WHERE dstcountry = 'FR' AND srcnet_name IN ('customer-a', 'corp')";
    plan_t *p1 = plan_compile(q1, strlen(q1), 0, &err);
    plan_t *p2 = plan_compile(q2, strlen(q2), 0, &err);
    CHECK(p1 && p2);
    if (!p1 || !p2)
        return;
    CHECK_INT(engine_register(e, "q1", p1, &err), 0);
    CHECK_INT(engine_fields(e) & ENRICH_FIELDS,
              1ull << F_SRCCOUNTRY | 1ull << F_SRCNET_NAME);
    CHECK_INT(engine_register(e, "q2", p2, &err), 0);
    CHECK_INT(engine_fields(e) & ENRICH_FIELDS,
              1ull << F_SRCCOUNTRY | 1ull << F_SRCNET_NAME |
                  1ull << F_DSTCOUNTRY);
    flow_batch_t *b = sample();
    for (uint32_t i = 0; i < b->n; i++)
        b->end[i] = b->start[i] = 1000;
    enrich_batch(b, engine_fields(e));
    CHECK_STR(b->dstcountry[0], "FR");
    engine_process(e, b);
    engine_finish(e);
    /* q1: (US, customer-a) (US, customer, b) (DE, corp) ('', corp)
     * (JP, v6-lab) ('', v6-servers) ('', '') */
    int rows = 0, n_q2 = -1;
    for (int k = 0; k < col.n; k++) {
        rowset_t *rs = col.rs[k];
        if (strcmp(rs->query, "q1") == 0)
            rows += (int)rs->nrows;
        else if (rs->nrows == 1)
            n_q2 = (int)rowset_row(rs, 0)[0].i;
        if (strcmp(rs->query, "q1") == 0)
            for (uint32_t r = 0; r < rs->nrows; r++) {
                value_t *v = rowset_row(rs, r);
                if (strcmp(v[1].s, "customer-a") == 0) {
                    CHECK_STR(v[0].s, "US");
                    CHECK_INT(v[2].i, 1);
                }
            }
    }
    CHECK_INT(rows, 7);
    /* dst 172.16.3.4 (FR) for all but the v6 flow; src in customer-a or
     * corp: 10.0.0.5, 10.0.0.200, 10.0.1.1 */
    CHECK_INT(n_q2, 3);
    CHECK_INT(engine_drop(e, "q1"), 0);
    CHECK_INT(engine_fields(e) & ENRICH_FIELDS,
              1ull << F_DSTCOUNTRY | 1ull << F_SRCNET_NAME);
    CHECK_INT(engine_drop(e, "q2"), 0);
    CHECK_INT(engine_fields(e) & ENRICH_FIELDS, 0);
    flow_batch_free(b);
    engine_free(e);
    collect_free(&col);
}

/* ---- a million prefixes against an oracle ------------------------------ */

static uint64_t rng = 0x2545F4914F6CDD1DULL;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

typedef struct oent {
    uint32_t net;
    int      bits;   /* 0: empty */
    int      id;
} oent_t;

#define OCAP (1u << 22)
static oent_t *otab;

static uint32_t oh(uint32_t net, int bits)
{
    uint64_t h = ((uint64_t)net << 6 | (uint64_t)bits) * 0x9E3779B97F4A7C15ULL;
    return (uint32_t)(h >> 40) & (OCAP - 1);
}

static void oput(uint32_t net, int bits, int id)
{
    uint32_t i = oh(net, bits);
    while (otab[i].bits && !(otab[i].net == net && otab[i].bits == bits))
        i = (i + 1) & (OCAP - 1);
    otab[i] = (oent_t){net, bits, id};   /* a later line wins */
}

static int oget(uint32_t addr)
{
    for (int bits = 32; bits >= 1; bits--) {
        uint32_t net = addr & (uint32_t)(0xffffffffu << (32 - bits));
        uint32_t i = oh(net, bits);
        while (otab[i].bits) {
            if (otab[i].net == net && otab[i].bits == bits)
                return otab[i].id;
            i = (i + 1) & (OCAP - 1);
        }
    }
    return -1;
}

static void test_million_prefixes(void)
{
    otab = calloc(OCAP, sizeof(oent_t));
    char path[300];
    snprintf(path, sizeof(path), "%s/big.csv", dir);
    FILE *f = fopen(path, "w");
    int n = 1000000;
    for (int k = 0; k < n; k++) {
        /* lengths 8..32, clustered under 10/8 so they nest a lot */
        int bits = 8 + (int)(rnd() % 25);
        uint32_t a = (uint32_t)rnd();
        if (k % 2)
            a = 0x0a000000u | (a & 0x00ffffffu);
        uint32_t net = a & (uint32_t)(0xffffffffu << (32 - bits));
        fprintf(f, "%u.%u.%u.%u/%d,n%d\n", net >> 24, net >> 16 & 255,
                net >> 8 & 255, net & 255, bits, k % 5000);
        oput(net, bits, k % 5000);
    }
    fclose(f);
    diag_t err;
    diag_clear(&err);
    enrich_config_t c = {"", "", path, "", ""};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CHECK_INT(enrich_load(&c, &err), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) +
                  (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    fprintf(stderr, "# 1M prefixes loaded in %.2f s\n", secs);
    enrich_stats_t st;
    enrich_get_stats(&st);
    CHECK_INT(st.networks, n);
    flow_batch_t *b = flow_batch_new();
    int bad = 0;
    for (int round = 0; round < 100 && !bad; round++) {
        flow_batch_reset(b);
        uint32_t want[FLOW_BATCH_MAX];
        for (int k = 0; k < FLOW_BATCH_MAX; k++) {
            int i = flow_batch_add(b);
            uint32_t a = (uint32_t)rnd();
            if (k % 2)
                a = 0x0a000000u | (a & 0x00ffffffu);
            want[i] = a;
            b->srcip[i] = ipaddr_from_v4(a);
        }
        enrich_batch(b, 1ull << F_SRCNET_NAME);
        for (int i = 0; i < FLOW_BATCH_MAX && !bad; i++) {
            int id = oget(want[i]);
            char exp[16] = "";
            if (id >= 0)
                snprintf(exp, sizeof(exp), "n%d", id);
            if (strcmp(b->srcnet_name[i], exp) != 0) {
                fprintf(stderr, "%08x: got [%s], oracle [%s]\n", want[i],
                        b->srcnet_name[i], exp);
                bad = 1;
            }
        }
    }
    CHECK(!bad);
    flow_batch_free(b);
    free(otab);
    unlink(path);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(geo, sizeof(geo), "%s/geo.mmdb", dir);
    snprintf(asn, sizeof(asn), "%s/asn.mmdb", dir);
    snprintf(nets, sizeof(nets), "%s/nets.csv", dir);
    snprintf(exps, sizeof(exps), "%s/exporters.csv", dir);
    snprintf(ifs, sizeof(ifs), "%s/ifs.csv", dir);
    write_sources("US");
    RUN(test_every_field);
    RUN(test_reload);
    RUN(test_unconfigured);
    RUN(test_through_the_engine);
    RUN(test_million_prefixes);
    enrich_shutdown();
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        return 1;
    TEST_EXIT();
}
