/*
 * test_netset.c - network sets (engine/netset.h): a set of more than a
 * million IPv4 and IPv6 prefixes answers membership exactly as a
 * brute-force oracle does, from a string, from a file and through a
 * query; errors name the network, the file and the line.
 */
#include "engine/engine.h"
#include "engine/netset.h"
#include "tests/collect.h"
#include "tests/test.h"

#include <stdlib.h>
#include <unistd.h>

static uint64_t rng = 0x9E3779B97F4A7C15ULL;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* ---- the oracle: one hash set of networks per prefix length ------------- */

typedef struct oracle {
    ipaddr_t *slot[129];      /* open addressing per length; 0xff..: empty */
    uint32_t  mask[129];
    uint32_t  n[129];
} oracle_t;

static uint64_t ohash(const ipaddr_t *ip)
{
    uint64_t h, l;
    memcpy(&h, ip->a, 8);
    memcpy(&l, ip->a + 8, 8);
    h ^= l * 0x9E3779B97F4A7C15ULL;
    h *= 0xD6E8FEB86659FD93ULL;
    return h ^ (h >> 31);
}

static const ipaddr_t EMPTY = {{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe}};

static void oracle_put(oracle_t *o, int bits, const ipaddr_t *m)
{
    uint32_t i = (uint32_t)ohash(m) & o->mask[bits];
    while (!ipaddr_eq(&o->slot[bits][i], &EMPTY)) {
        if (ipaddr_eq(&o->slot[bits][i], m))
            return;
        i = (i + 1) & o->mask[bits];
    }
    o->slot[bits][i] = *m;
    o->n[bits]++;
}

static void oracle_add(oracle_t *o, const ipaddr_t *net, int bits)
{
    if (!o->slot[bits] || (o->n[bits] + 1) * 2 > o->mask[bits] + 1) {
        ipaddr_t *old = o->slot[bits];
        uint32_t omask = o->mask[bits];
        o->mask[bits] = old ? omask * 2 + 1 : 1023;
        o->slot[bits] = malloc(sizeof(ipaddr_t) * (o->mask[bits] + 1));
        for (uint32_t i = 0; i <= o->mask[bits]; i++)
            o->slot[bits][i] = EMPTY;
        o->n[bits] = 0;
        for (uint32_t i = 0; old && i <= omask; i++)
            if (!ipaddr_eq(&old[i], &EMPTY))
                oracle_put(o, bits, &old[i]);
        free(old);
    }
    ipaddr_t m = ipaddr_mask(net, bits);
    oracle_put(o, bits, &m);
}

/* In the set if its first `bits` bits are one of the networks of that
 * length, for some length: no ranges, no merging, no search. */
static int oracle_has(const oracle_t *o, const ipaddr_t *ip)
{
    for (int bits = 0; bits <= 128; bits++) {
        if (!o->slot[bits])
            continue;
        ipaddr_t m = ipaddr_mask(ip, bits);
        uint32_t i = (uint32_t)ohash(&m) & o->mask[bits];
        while (!ipaddr_eq(&o->slot[bits][i], &EMPTY)) {
            if (ipaddr_eq(&o->slot[bits][i], &m))
                return 1;
            i = (i + 1) & o->mask[bits];
        }
    }
    return 0;
}

static void oracle_free(oracle_t *o)
{
    for (int b = 0; b <= 128; b++)
        free(o->slot[b]);
}

/* ---- random prefixes --------------------------------------------------- */

/* A random network: IPv4 (/24 to /32 anywhere, a tenth of them crowded
 * into 10/8 so they overlap and touch, now and then a /8 to /23) or
 * IPv6 (/64 to /128 under 2001:db8::/32). Sparse enough that a million
 * of them stay hundreds of thousands of ranges. */
static void random_net(ipaddr_t *net, int *bits)
{
    uint64_t r = rnd();
    if (r % 10 < 8) {
        uint32_t a = (uint32_t)(rnd() >> 16);
        if (r % 100 < 8)
            a = 0x0a000000u | (a & 0x00ffffffu);
        int len = 24 + (int)(rnd() % 9);
        if (rnd() % 5000 == 0)
            len = 8 + (int)(rnd() % 16);
        *net = ipaddr_from_v4(a);
        *bits = 96 + len;
    } else {
        ipaddr_t ip = {{0x20, 0x01, 0x0d, 0xb8}};
        uint64_t x = rnd(), y = rnd();
        memcpy(ip.a + 4, &x, 8);
        memcpy(ip.a + 12, &y, 4);
        *net = ip;
        *bits = 64 + (int)(rnd() % 65);
    }
    *net = ipaddr_mask(net, *bits);
}

/* An address to ask about: near one of the networks (its first or last
 * address, one before, one after) or anywhere. */
static ipaddr_t probe(const ipaddr_t *nets, const int *bits, size_t n)
{
    uint64_t r = rnd();
    size_t k = (size_t)(rnd() % n);
    ipaddr_t ip = nets[k];
    int b = bits[k];
    switch (r % 6) {
    case 0:
        return ip;                                   /* first */
    case 1:
    case 2: {                                        /* last, one after */
        for (int i = b; i < 128; i++)
            ip.a[i / 8] |= (uint8_t)(0x80 >> (i % 8));
        if (r % 6 == 2)
            for (int i = 15; i >= 0 && ++ip.a[i] == 0; i--)
                ;
        return ip;
    }
    case 3:                                          /* one before */
        for (int i = 15; i >= 0 && ip.a[i]-- == 0; i--)
            ;
        return ip;
    case 4:
        return ipaddr_from_v4((uint32_t)rnd());
    default: {
        ipaddr_t x = {{0x20, 0x01, 0x0d, 0xb8}};
        uint64_t v = rnd();
        memcpy(x.a + 4, &v, 8);
        return x;
    }
    }
}

static char *join(const ipaddr_t *nets, const int *bits, size_t n, char sep)
{
    size_t cap = n * 48 + 16, len = 0;
    char *s = malloc(cap);
    for (size_t i = 0; i < n; i++) {
        char buf[IPADDR_STRLEN];
        ipaddr_format(&nets[i], buf, sizeof(buf));
        len += (size_t)snprintf(s + len, cap - len, "%s%s/%d", i ? (sep == ','
                                ? "," : "\n") : "", buf,
                                ipaddr_is_v4(&nets[i]) ? bits[i] - 96 : bits[i]);
    }
    return s;
}

#define BIG 1200000

/* 1.2 million prefixes from one option string, checked against the
 * oracle at 400,000 addresses near their edges and anywhere. */
static void test_million_prefixes(void)
{
    ipaddr_t *nets = malloc(sizeof(ipaddr_t) * BIG);
    int *bits = malloc(sizeof(int) * BIG);
    oracle_t o;
    memset(&o, 0, sizeof(o));
    for (size_t i = 0; i < BIG; i++) {
        random_net(&nets[i], &bits[i]);
        oracle_add(&o, &nets[i], bits[i]);
    }
    char *text = join(nets, bits, BIG, ',');
    diag_t err;
    diag_clear(&err);
    CHECK(netset_define("big", text, &err) == 0);
    free(text);
    netmatch_t *m = netset_match("big");
    CHECK(m != NULL);
    if (m) {
        size_t r4, r6, bytes;
        netmatch_size(m, &r4, &r6, &bytes);
        printf("# %d prefixes: %zu IPv4 and %zu IPv6 ranges, %zu bytes\n",
               BIG, r4, r6, bytes);
        int wrong = 0, in = 0;
        for (int i = 0; i < 400000; i++) {
            ipaddr_t ip = probe(nets, bits, BIG);
            int want = oracle_has(&o, &ip), got = netmatch_has(m, &ip);
            in += want;
            if (want != got && wrong++ < 5) {
                char buf[IPADDR_STRLEN];
                fprintf(stderr, "%s: oracle %d, netset %d\n",
                        ipaddr_format(&ip, buf, sizeof(buf)), want, got);
            }
        }
        CHECK_INT(wrong, 0);
        CHECK(in > 100000 && in < 300000);    /* both answers were asked */
        netmatch_unref(m);
    }
    oracle_free(&o);
    free(nets);
    free(bits);
}

/* Sets of up to 300 prefixes, and of 8000 (past INDEX16_MIN ranges, so
 * with the /16 index; prefixes from /8 to /20 among them span many /16s)
 * against the plainest oracle: a loop over every prefix. */
static void test_small_sets_brute_force(void)
{
    static ipaddr_t nets[8000];
    static int bits[8000];
    for (int round = 0; round < 56; round++) {
        size_t n = round < 50 ? 1 + (size_t)(rnd() % 300) : 8000;
        for (size_t i = 0; i < n; i++) {
            random_net(&nets[i], &bits[i]);
            if (round < 50 && rnd() % 20 == 0)
                bits[i] = rnd() % 2 ? 0 : 96;     /* ::/0, ::ffff:0:0/96 */
            if (round >= 50 && ipaddr_is_v4(&nets[i]) && rnd() % 50 == 0)
                bits[i] = 96 + 8 + (int)(rnd() % 13);
            nets[i] = ipaddr_mask(&nets[i], bits[i]);
        }
        netmatch_t *m = netmatch_new(nets, bits, n);
        size_t r4, r6, bytes;
        netmatch_size(m, &r4, &r6, &bytes);
        if (n == 8000)
            CHECK(r4 >= 4096);                /* the index is built */
        int wrong = 0;
        for (int k = 0; k < 2000; k++) {
            ipaddr_t ip = probe(nets, bits, n);
            int want = 0;
            for (size_t i = 0; i < n && !want; i++)
                want = ipaddr_in(&ip, &nets[i], bits[i]);
            wrong += want != netmatch_has(m, &ip);
        }
        CHECK_INT(wrong, 0);
        netmatch_unref(m);
    }
    netmatch_t *none = netmatch_new(NULL, NULL, 0);
    ipaddr_t any = ipaddr_from_v4(0x01020304);
    CHECK(!netmatch_has(none, &any));
    netmatch_unref(none);
}

/* Issue 14: more than 1024 networks failed with "'198.18.4.0/32' is not a
 * network". */
static void test_more_than_1024(void)
{
    char *text = malloc(3000 * 20);
    size_t len = 0;
    for (int i = 0; i < 3000; i++)
        len += (size_t)sprintf(text + len, "%s198.18.%d.%d/32", i ? "," : "",
                               i / 256, i % 256);
    diag_t err;
    diag_clear(&err);
    int rc = netset_define("many", text, &err);
    if (rc < 0)
        fprintf(stderr, "%s\n", err.msg);
    CHECK_INT(rc, 0);
    free(text);
    netmatch_t *m = netset_match("many");
    CHECK(m != NULL);
    if (m) {
        ipaddr_t last = ipaddr_from_v4(0xc6120bb7u), after = ipaddr_from_v4(0xc6120bb8u);
        CHECK(netmatch_has(m, &last));      /* 198.18.11.183, the 3000th */
        CHECK(!netmatch_has(m, &after));
        size_t r4, r6, bytes;
        netmatch_size(m, &r4, &r6, &bytes);
        CHECK_INT(r4, 1);                   /* adjacent /32s merge */
        CHECK_INT(r6, 0);
        netmatch_unref(m);
    }
}

/* A set from a file (@path): one or more networks a line, comments;
 * errors give the file and line. */
static void test_from_file(void)
{
    char path[] = "/tmp/flowsql-test-netset-XXXXXX";
    int fd = mkstemp(path);
    const char *text = "# our networks\n10.0.0.0/8\n"
                       "192.0.2.0/24, 2001:db8::/32  # two on a line\n\n"
                       "  198.51.100.7\n";
    CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
    char spec[128];
    snprintf(spec, sizeof(spec), "@%s", path);
    diag_t err;
    diag_clear(&err);
    CHECK(netset_define("ours", spec, &err) == 0);
    netmatch_t *m = netset_match("OURS");
    CHECK(m != NULL);
    if (m) {
        ipaddr_t a = ipaddr_from_v4(0x0a010203), b = ipaddr_from_v4(0xc6336407),
                 c = ipaddr_from_v4(0xc6336408), d = ipaddr_from_v4(0xc0000201);
        CHECK(netmatch_has(m, &a) && netmatch_has(m, &b) && netmatch_has(m, &d));
        CHECK(!netmatch_has(m, &c));
        netmatch_unref(m);
    }
    FILE *f = fopen(path, "w");
    fputs("10.0.0.0/8\n# fine\n192.0.2.0/24 bogus/8\n", f);
    fclose(f);
    diag_clear(&err);
    CHECK(netset_define("ours", spec, &err) < 0);
    char want[256];
    snprintf(want, sizeof(want), "network set ours: %s:3: 'bogus/8' is not "
             "a network (e.g. 10.0.0.0/8, 2001:db8::/32)", path);
    CHECK_STR(err.msg, want);
    unlink(path);
    diag_clear(&err);
    CHECK(netset_define("ours", spec, &err) < 0);
    snprintf(want, sizeof(want), "network set ours: %s: ", path);
    CHECK(strncmp(err.msg, want, strlen(want)) == 0);
    diag_clear(&err);
    CHECK(netset_define("bad", "10.0.0.0/8,10.0.0.0/33", &err) < 0);
    CHECK_STR(err.msg, "network set bad: '10.0.0.0/33' is not a network "
              "(e.g. 10.0.0.0/8, 2001:db8::/32)");
}

/* Through a query: IN a set of a million prefixes counts exactly the
 * flows the oracle says are in it; NOT IN the rest. */
static void test_query_over_big_set(void)
{
    enum { N = 1000000 };
    ipaddr_t *nets = malloc(sizeof(ipaddr_t) * N);
    int *bits = malloc(sizeof(int) * N);
    oracle_t o;
    memset(&o, 0, sizeof(o));
    for (size_t i = 0; i < N; i++) {
        random_net(&nets[i], &bits[i]);
        oracle_add(&o, &nets[i], bits[i]);
    }
    char path[] = "/tmp/flowsql-test-netset-XXXXXX";
    int fd = mkstemp(path);
    char *text = join(nets, bits, N, '\n');
    CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
    free(text);
    char spec[128];
    snprintf(spec, sizeof(spec), "@%s", path);
    diag_t err;
    diag_clear(&err);
    CHECK(netset_define("huge", spec, &err) == 0);
    unlink(path);

    engine_config_t cfg = {.replay = 1};
    engine_t *e = engine_new(&cfg);
    collect_t col;
    collect_init(&col);
    engine_add_output(e, &col.out);
    const char *sql = "SELECT count(*) AS n, sum(CASE WHEN srcip NOT IN huge "
                      "THEN 1 ELSE 0 END) AS out FROM flows WINDOW 1h "
                      "WHERE srcip IN huge OR dstport = 1";
    plan_t *p = plan_compile(sql, strlen(sql), 0, &err);
    CHECK(p && engine_register(e, "q", p, &err) == 0);
    int64_t in = 0, out = 0;
    flow_batch_t *b = flow_batch_new();
    for (int k = 0; k < 100000; k++) {
        int i = flow_batch_add(b);
        b->srcip[i] = probe(nets, bits, N);
        b->dstport[i] = k % 2;
        b->end[i] = b->start[i] = b->received[i] = 1000;
        if (oracle_has(&o, &b->srcip[i]))
            in++;
        else if (k % 2)
            out++;
        if (b->n == FLOW_BATCH_MAX) {
            engine_process(e, b);
            flow_batch_reset(b);
        }
    }
    engine_process(e, b);
    engine_finish(e);
    CHECK_INT(col.n, 1);
    if (col.n && col.rs[0]->nrows == 1) {
        CHECK_INT(rowset_row(col.rs[0], 0)[0].i, in + out);
        CHECK_INT(rowset_row(col.rs[0], 0)[1].i, out);
    }
    flow_batch_free(b);
    engine_free(e);
    collect_free(&col);
    oracle_free(&o);
    free(nets);
    free(bits);
}

static void write_file(const char *path, const char *text)
{
    char tmp[300];
    snprintf(tmp, sizeof(tmp), "%s.new", path);
    FILE *f = fopen(tmp, "w");
    CHECK(f != NULL);
    if (!f)
        return;
    fputs(text, f);
    fclose(f);
    CHECK(rename(tmp, path) == 0);      /* as a feed updater does */
}

/* 10.1.0.1 and 10.2.0.1, half each, into a running query. */
static void feed_two(engine_t *e)
{
    flow_batch_t *b = flow_batch_new();
    for (int k = 0; k < 100; k++) {
        int i = flow_batch_add(b);
        b->srcip[i] = ipaddr_from_v4(k % 2 ? 0x0a010001u : 0x0a020001u);
        b->end[i] = b->start[i] = b->received[i] = 1000;
    }
    engine_process(e, b);
    flow_batch_free(b);
}

/* A set from a file follows the file: netset_reload() reads a changed
 * file again, and a query registered before takes the new networks from
 * its next batch on; a file that no longer parses keeps the old ones. */
static void test_reload(void)
{
    char path[] = "/tmp/flowsql-test-netset-XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    write_file(path, "10.1.0.0/16\n");
    char spec[128];
    snprintf(spec, sizeof(spec), "@%s", path);
    diag_t err;
    diag_clear(&err);
    CHECK(netset_define("feed", spec, &err) == 0);
    int errors = -1;
    CHECK_INT(netset_reload(&errors, &err), 0);     /* unchanged */
    CHECK_INT(errors, 0);

    engine_config_t cfg = {.replay = 1};
    engine_t *e = engine_new(&cfg);
    collect_t col;
    collect_init(&col);
    engine_add_output(e, &col.out);
    const char *sql = "SELECT count(*) AS n FROM flows WINDOW 1h "
                      "WHERE srcip IN feed";
    plan_t *p = plan_compile(sql, strlen(sql), 0, &err);
    CHECK(p && engine_register(e, "q", p, &err) == 0);
    feed_two(e);                                    /* 50 in 10.1/16 */

    uint64_t g = netset_generation();
    write_file(path, "10.2.0.0/16\n10.3.0.0/16\n");
    CHECK_INT(netset_reload(&errors, &err), 1);
    CHECK_INT(errors, 0);
    CHECK(netset_generation() != g);
    feed_two(e);                                    /* 50 in 10.2/16 */
    feed_two(e);

    write_file(path, "10.1.0.0/16\nnot-a-network\n");
    CHECK_INT(netset_reload(&errors, &err), 0);
    CHECK_INT(errors, 1);
    CHECK(strstr(err.msg, ":2:") != NULL && strstr(err.msg, "not-a-network"));
    feed_two(e);                                    /* still 10.2/16 */
    CHECK_INT(netset_reload(&errors, &err), 0);     /* not tried again */
    CHECK_INT(errors, 0);

    engine_finish(e);
    CHECK_INT(col.n, 1);
    if (col.n && col.rs[0]->nrows == 1)
        CHECK_INT(rowset_row(col.rs[0], 0)[0].i, 50 + 50 + 50 + 50);
    netmatch_t *m = netset_match("feed");
    ipaddr_t a = ipaddr_from_v4(0x0a030001u);
    CHECK(m && netmatch_has(m, &a));
    netmatch_unref(m);
    engine_free(e);
    collect_free(&col);
    unlink(path);
}

int main(void)
{
    RUN(test_small_sets_brute_force);
    RUN(test_more_than_1024);
    RUN(test_from_file);
    RUN(test_reload);
    RUN(test_million_prefixes);
    RUN(test_query_over_big_set);
    TEST_EXIT();
}
