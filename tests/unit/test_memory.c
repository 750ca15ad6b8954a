/*
 * test_memory.c - the engine's memory budget (engine/mem.h): many
 * queries over many distinct groups under a small budget stay within it,
 * count what they refuse per query, log it once per query, and keep the
 * groups they hold exact; the per-query estimate matches what the heap
 * really holds.
 */
#include "engine/engine.h"
#include "engine/mem.h"
#include "tests/collect.h"
#include "tests/test.h"

#include <fcntl.h>
#include <malloc.h>
#include <stdlib.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define HEAP_MEASURABLE 0      /* a sanitizer's allocator: mallinfo2 says
                                  nothing */
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define HEAP_MEASURABLE 0
#endif
#endif
#ifndef HEAP_MEASURABLE
#define HEAP_MEASURABLE 1
#endif

static engine_t *eng;
static collect_t col;

static void setup(void)
{
    engine_config_t cfg = {.replay = 1};
    eng = engine_new(&cfg);
    collect_init(&col);
    engine_add_output(eng, &col.out);
}

static void teardown(void)
{
    engine_free(eng);
    collect_free(&col);
}

static int reg(const char *name, const char *sql)
{
    diag_t err;
    plan_t *p = plan_compile(sql, strlen(sql), 0, &err);
    if (!p || engine_register(eng, name, p, &err) < 0) {
        fprintf(stderr, "%s: %s\n", name, err.msg);
        plan_free(p);
        return -1;
    }
    return 0;
}

/* Pair number k: source 10.x.y.z and destination 172.16.x.y, different
 * for every k, and how many flows it has (1 to 3). */
static uint32_t pair_src(uint32_t k) { return 0x0a000000u + k / 7; }
static uint32_t pair_dst(uint32_t k) { return 0xac100000u + k % 7 + (k / 7) % 50 * 8; }
static int64_t pair_flows(uint32_t k) { return 1 + k % 3; }

/* Send pass p (0..2) of npairs pairs: pass p holds every pair with more
 * than p flows, so a pair's later flows come after every pair's first. */
static void send_pass(int p, uint32_t npairs, int64_t *bytes_sent,
                      int64_t (*check)(void))
{
    flow_batch_t *b = flow_batch_new();
    for (uint32_t k = 0; k < npairs; k++) {
        if (pair_flows(k) <= p)
            continue;
        int i = flow_batch_add(b);
        b->srcip[i] = ipaddr_from_v4(pair_src(k));
        b->dstip[i] = ipaddr_from_v4(pair_dst(k));
        b->start[i] = b->end[i] = b->received[i] = 1000;
        b->proto[i] = 6;
        b->packets[i] = 1;
        b->bytes[i] = 100 + k % 1000;
        *bytes_sent += b->bytes[i];
        if (b->n == FLOW_BATCH_MAX) {
            engine_process(eng, b);
            if (check)
                check();
            flow_batch_reset(b);
        }
    }
    if (b->n)
        engine_process(eng, b);
    flow_batch_free(b);
}

static int64_t limit_now, max_seen;

static int64_t note_max(void)
{
    if (mem_used() > max_seen)
        max_seen = mem_used();
    return max_seen;
}

static uint64_t sum_bytes;
static void add_bytes(void *ctx, const char *name, const plan_t *p,
                      const query_stats_t *st)
{
    (void)ctx;
    (void)name;
    (void)p;
    sum_bytes += st->memory_bytes;
}

/* Count the lines of file path holding needle. */
static int count_lines(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[1024];
    int n = 0;
    while (fgets(line, sizeof(line), f))
        n += strstr(line, needle) != NULL;
    fclose(f);
    return n;
}

#define NQ 40
#define NPAIRS 200000u

/* 40 queries x GROUP BY srcip, dstip over 200,000 pairs under a 16 MB
 * budget (they would need about 500 MB): the budget holds, each query
 * refuses flows and says so once, and every group it kept is exact. */
static void test_budget_many_queries(void)
{
    int64_t base = mem_used();
    limit_now = 16 << 20;
    mem_set_limit(limit_now);
    setup();
    for (int i = 0; i < NQ; i++) {
        char name[32];
        snprintf(name, sizeof(name), "pairs%02d", i);
        CHECK(reg(name, "SELECT srcip, dstip, count(*) AS flows, sum(bytes) "
                        "AS bytes FROM flows WINDOW 1h GROUP BY srcip, dstip") == 0);
    }
    /* The log, to count its lines. */
    char logpath[] = "/tmp/flowsql-test-memory-XXXXXX";
    int lfd = mkstemp(logpath);
    fflush(stderr);
    int saved = dup(2);
    dup2(lfd, 2);
    max_seen = 0;
    int64_t sent = 0;
    for (int p = 0; p < 3; p++)
        send_pass(p, NPAIRS, &sent, note_max);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    close(lfd);

    CHECK(max_seen <= limit_now);
    sum_bytes = 0;
    engine_foreach(eng, add_bytes, NULL);
    CHECK_INT(sum_bytes, mem_used() - base);    /* one account, no leak */
    CHECK_INT(count_lines(logpath, "memory budget reached"), NQ);
    unlink(logpath);

    query_stats_t st[NQ];
    for (int i = 0; i < NQ; i++) {
        char name[32];
        snprintf(name, sizeof(name), "pairs%02d", i);
        CHECK(engine_stats(eng, name, &st[i]) == 0);
        CHECK(st[i].flows_overflow > 0);
        CHECK(st[i].memory_bytes > 0);
    }
    engine_finish(eng);
    CHECK_INT(col.n, NQ);
    int64_t total = 0;
    for (uint32_t k = 0; k < NPAIRS; k++)
        total += pair_flows(k);
    for (int w = 0; w < col.n; w++) {
        rowset_t *rs = col.rs[w];
        int qi = atoi(rs->query + 5);
        int64_t flows = 0, wrong = 0;
        for (uint32_t r = 0; r < rs->nrows; r++) {
            const value_t *row = rowset_row(rs, r);
            uint32_t s = ipaddr_v4(&row[0].ip) - 0x0a000000u;
            uint32_t d = ipaddr_v4(&row[1].ip) - 0xac100000u;
            uint32_t k = s * 7 + d % 8;
            int64_t want_bytes = (100 + k % 1000) * pair_flows(k);
            wrong += pair_dst(k) != ipaddr_v4(&row[1].ip) ||
                     row[2].i != pair_flows(k) || row[3].i != want_bytes;
            flows += row[2].i;
        }
        CHECK_INT(wrong, 0);                    /* groups held are exact */
        CHECK(rs->nrows > 1000);                /* and there are some */
        CHECK_INT(flows + (int64_t)st[qi].flows_overflow, total);
        CHECK_INT(rs->overflow, st[qi].flows_overflow);
    }
    teardown();
    CHECK_INT(mem_used(), base);                /* all given back */
    mem_set_limit(0);
}

/* Without a budget the same flows give every group, exactly: the
 * accounting itself changes nothing. */
static void test_no_budget_nothing_refused(void)
{
    mem_set_limit(0);
    setup();
    CHECK(reg("pairs", "SELECT srcip, dstip, count(*) AS flows FROM flows "
                       "WINDOW 1h GROUP BY srcip, dstip") == 0);
    int64_t sent = 0;
    for (int p = 0; p < 3; p++)
        send_pass(p, NPAIRS, &sent, NULL);
    engine_finish(eng);
    CHECK_INT(col.n, 1);
    if (col.n) {
        CHECK_INT(col.rs[0]->nrows, NPAIRS);
        CHECK_INT(col.rs[0]->overflow, 0);
    }
    teardown();
}

/* Distinct counts, sketches, topk, hopping windows and plain rows under
 * a budget: all bounded, refusals counted. */
static void test_budget_side_structures(void)
{
    int64_t base = mem_used();
    limit_now = 12 << 20;
    mem_set_limit(limit_now);
    setup();
    static const char *sqls[] = {
        "SELECT srcip, count(DISTINCT dstip) AS peers FROM flows WINDOW 1h "
        "GROUP BY srcip",
        "SELECT srcip, approx_count_distinct(dstip) AS dsts FROM flows "
        "WINDOW 1h GROUP BY srcip",
        "SELECT srcip, topk(dstip, 10) AS top FROM flows WINDOW 1h GROUP BY srcip",
        "SELECT srcip, dstip, count(*) FROM flows WINDOW 1h SLIDE 10m "
        "GROUP BY srcip, dstip",
        "SELECT srcip, dstip, bytes FROM flows WINDOW 1h",
    };
    int nq = (int)(sizeof(sqls) / sizeof(sqls[0]));
    for (int i = 0; i < nq; i++) {
        char name[32];
        snprintf(name, sizeof(name), "side%d", i);
        CHECK(reg(name, sqls[i]) == 0);
    }
    fflush(stderr);
    int saved = dup(2), devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 2);
    max_seen = 0;
    int64_t sent = 0;
    for (int p = 0; p < 3; p++)
        send_pass(p, 400000, &sent, note_max);
    dup2(saved, 2);
    close(saved);
    close(devnull);
    CHECK(max_seen <= limit_now);
    for (int i = 0; i < nq; i++) {
        char name[32];
        snprintf(name, sizeof(name), "side%d", i);
        query_stats_t st;
        CHECK(engine_stats(eng, name, &st) == 0);
        if (st.flows_overflow == 0)
            fprintf(stderr, "%s: nothing refused\n", name);
        CHECK(st.flows_overflow > 0);
    }
    engine_finish(eng);
    CHECK(col.n >= nq);      /* the hopping query closes 6 windows */
    teardown();
    CHECK_INT(mem_used(), base);
    mem_set_limit(0);
}

static size_t heap_in_use(void)
{
    struct mallinfo2 m = mallinfo2();
    return m.uordblks + m.hblkhd;
}

/* memory_bytes is what the heap really holds for the query: its tables,
 * pairs, sketches, counters, rows, and its compiled programs (within
 * 15% and 64 kB per query). */
static void test_estimate_is_honest(void)
{
    if (!HEAP_MEASURABLE) {
        printf("# skipped: the heap cannot be measured under a sanitizer\n");
        return;
    }
    static const char *sqls[] = {
        "SELECT srcip, dstip, count(*) FROM flows WINDOW 1h GROUP BY srcip, dstip",
        "SELECT srcip, count(DISTINCT dstip) FROM flows WINDOW 1h GROUP BY srcip",
        "SELECT srcip, approx_count_distinct(dstip) FROM flows WINDOW 1h "
        "GROUP BY srcip",
        "SELECT srcip, topk(bytes, 5) FROM flows WINDOW 1h GROUP BY srcip",
        "SELECT srcip, count(*) FROM flows WINDOW 1h SLIDE 10m GROUP BY srcip",
        "SELECT srcip, dstip FROM flows WINDOW 1h",
        "SELECT proto, count(*) FROM flows WINDOW 1h GROUP BY proto",
    };
    for (size_t i = 0; i < sizeof(sqls) / sizeof(sqls[0]); i++) {
        for (int many = 0; many < 2; many++) {
            int nq = many ? 100 : 1;
            mem_set_limit(0);
            size_t h0 = heap_in_use();
            setup();
            collect_free(&col);     /* measure the engine only */
            collect_init(&col);
            for (int k = 0; k < nq; k++) {
                char name[32];
                snprintf(name, sizeof(name), "h%d", k);
                CHECK(reg(name, sqls[i]) == 0);
            }
            int64_t sent = 0;
            send_pass(0, many ? 2000 : 100000, &sent, NULL);
            sum_bytes = 0;
            engine_foreach(eng, add_bytes, NULL);
            double real = (double)(heap_in_use() - h0), est = (double)sum_bytes;
            double slack = real * 0.15 + 65536.0 * nq;
            if (est < real - slack || est > real + slack)
                fprintf(stderr, "%s x%d: estimate %.0f, heap %.0f\n", sqls[i],
                        nq, est, real);
            CHECK(est >= real - slack && est <= real + slack);
            teardown();
        }
    }
}

int main(void)
{
    RUN(test_budget_many_queries);
    RUN(test_no_budget_nothing_refused);
    RUN(test_budget_side_structures);
    RUN(test_estimate_is_honest);
    TEST_EXIT();
}
