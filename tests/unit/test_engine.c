/*
 * test_engine.c - the engine on hand-made flows: window edges, hopping
 * overlaps, lateness, caps, ordering, dropping a query mid-stream.
 */
#include "engine/engine.h"
#include "engine/mem.h"
#include "engine/qhandle.h"
#include "engine/schema.h"
#include "tests/collect.h"
#include "tests/test.h"
#include "util/counter.h"
#include "util/timeutil.h"

#include <pthread.h>

static engine_t *eng;
static collect_t col;

static int setup_threads;     /* engine_config_t.threads of setup() */

static void setup(int replay)
{
    engine_config_t cfg = {.replay = replay, .threads = setup_threads,
                           .parallel_min_ns = setup_threads > 1 ? -1 : 0};
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
    if (!p) {
        fprintf(stderr, "compile: %s\n", err.msg);
        return -1;
    }
    if (engine_register(eng, name, p, &err) < 0) {
        fprintf(stderr, "register: %s\n", err.msg);
        plan_free(p);
        return -1;
    }
    return 0;
}

/* Add a flow: src a.b.c.d as one number (10.0.0.x), times in ms. */
static void add(flow_batch_t *b, uint32_t src, uint32_t dst, int64_t start,
                int64_t end, int64_t recv, int proto, int dport,
                int64_t pkts, int64_t bytes)
{
    int i = flow_batch_add(b);
    b->srcip[i] = ipaddr_from_v4(src);
    b->dstip[i] = ipaddr_from_v4(dst);
    b->start[i] = start;
    b->end[i] = end;
    b->received[i] = recv;
    b->proto[i] = proto;
    b->dstport[i] = dport;
    b->srcport[i] = 40000;
    b->packets[i] = pkts;
    b->bytes[i] = bytes;
}

#define A 0x0a000001u
#define B 0x0a000002u
#define C 0x0a000003u

static void test_tumbling_edges(void)
{
    setup(1);
    CHECK(reg("q", "SELECT srcip, count(*), sum(bytes) FROM flows "
                   "WINDOW 10s GROUP BY srcip") == 0);
    flow_batch_t *b = flow_batch_new();
    add(b, A, C, 0, 0, 0, 6, 80, 1, 100);          /* first ms of [0,10s) */
    add(b, A, C, 0, 9999, 0, 6, 80, 1, 100);       /* last ms of [0,10s) */
    add(b, B, C, 0, 10000, 0, 6, 80, 1, 50);       /* exactly on the edge */
    add(b, A, C, 0, 25000, 0, 6, 80, 1, 7);        /* [20s,30s) */
    engine_process(eng, b);
    engine_finish(eng);
    char *t = collect_text(&col, "q");
    CHECK_STR(t, "[0,10000) 10.0.0.1|2|200\n"
                 "[10000,20000) 10.0.0.2|1|50\n"
                 "[20000,30000) 10.0.0.1|1|7\n");
    free(t);
    flow_batch_free(b);
    teardown();
}

static void test_hopping(void)
{
    setup(1);
    CHECK(reg("h", "SELECT srcip, count(*) FROM flows WINDOW 20s SLIDE 10s "
                   "GROUP BY srcip") == 0);
    flow_batch_t *b = flow_batch_new();
    add(b, A, C, 0, 5000, 0, 6, 80, 1, 1);     /* windows [-10,10) [0,20) */
    add(b, A, C, 0, 15000, 0, 6, 80, 1, 1);    /* [0,20) [10,30) */
    add(b, B, C, 0, 25000, 0, 6, 80, 1, 1);    /* [10,30) [20,40) */
    engine_process(eng, b);
    engine_finish(eng);
    char *t = collect_text(&col, "h");
    CHECK_STR(t, "[-10000,10000) 10.0.0.1|1\n"
                 "[0,20000) 10.0.0.1|2\n"
                 "[10000,30000) 10.0.0.1|1;10.0.0.2|1\n"
                 "[20000,40000) 10.0.0.2|1\n");
    free(t);
    flow_batch_free(b);
    teardown();
}

static void test_order_limit_having(void)
{
    setup(1);
    CHECK(reg("t", "SELECT srcip, sum(bytes) AS bytes FROM flows WINDOW 10s "
                   "GROUP BY srcip HAVING count(*) >= 2 "
                   "ORDER BY bytes DESC LIMIT 2") == 0);
    flow_batch_t *b = flow_batch_new();
    for (uint32_t h = 1; h <= 50; h++)
        for (int k = 0; k < (h % 3 == 0 ? 1 : 2); k++)
            add(b, 0x0a000000u + h, C, 0, 1000, 0, 6, 80, 1, h * 10);
    engine_process(eng, b);
    engine_finish(eng);
    /* h=50 (2 flows: 1000), h=49 (2 flows: 980); 48 has one flow. */
    char *t = collect_text(&col, "t");
    CHECK_STR(t, "[0,10000) 10.0.0.50|1000;10.0.0.49|980\n");
    free(t);
    flow_batch_free(b);
    teardown();
}

static void test_lateness(void)
{
    setup(1);
    CHECK(reg("l", "SELECT count(*) FROM flows WINDOW 10s ON end "
                   "LATENESS 5s") == 0);
    flow_batch_t *b = flow_batch_new();
    add(b, A, C, 0, 1000, 0, 6, 80, 1, 1);
    add(b, A, C, 0, 16000, 0, 6, 80, 1, 1);   /* watermark 11s: [0,10) closes */
    engine_process(eng, b);
    flow_batch_reset(b);
    add(b, A, C, 0, 9000, 0, 6, 80, 1, 1);    /* late: its window closed */
    add(b, A, C, 0, 12000, 0, 6, 80, 1, 1);   /* on time */
    engine_process(eng, b);
    engine_finish(eng);
    char *t = collect_text(&col, "l");
    CHECK_STR(t, "[0,10000) 1\n[10000,20000) 2\n");
    free(t);
    query_stats_t st;
    CHECK(engine_stats(eng, "l", &st) == 0);
    CHECK_INT(st.flows_late, 1);
    CHECK_INT(st.flows_in, 4);
    CHECK_INT(st.windows, 2);
    flow_batch_free(b);
    teardown();
}

static void test_group_cap(void)
{
    setup(1);
    CHECK(reg("c", "CREATE QUERY c WITH (max_groups = 10) AS SELECT srcip, "
                   "count(*) FROM flows WINDOW 10s GROUP BY srcip") == 0);
    flow_batch_t *b = flow_batch_new();
    for (uint32_t h = 0; h < 25; h++)
        add(b, 0x0a000000u + h, C, 0, 1000, 0, 6, 80, 1, 1);
    engine_process(eng, b);
    engine_finish(eng);
    CHECK_INT(col.n, 1);
    if (col.n) {
        CHECK_INT(col.rs[0]->nrows, 10);
        CHECK_INT(col.rs[0]->overflow, 15);
    }
    query_stats_t st;
    engine_stats(eng, "c", &st);
    CHECK_INT(st.flows_overflow, 15);
    flow_batch_free(b);
    teardown();
}

static void test_live_idle_close(void)
{
    setup(0);
    CHECK(reg("d", "SELECT srcip, count(*) FROM flows WINDOW 1s "
                   "GROUP BY srcip") == 0);
    flow_batch_t *b = flow_batch_new();
    int64_t now = time_now_ms();
    int64_t base = now - now % 1000;
    add(b, A, C, 0, 0, base + 10, 6, 80, 1, 1);
    engine_process(eng, b);
    engine_tick(eng, base + 999);          /* not yet */
    CHECK_INT(col.n, 0);
    engine_tick(eng, base + 1000 + 300);   /* end + close delay */
    CHECK_INT(col.n, 1);
    flow_batch_free(b);
    teardown();
}

/* A backlog in the queue holds received-time windows open: the engine
 * ticks by the receive time of what it has processed (engine_clock). */
static void test_live_backlog_not_late(void)
{
    setup(0);
    CHECK(reg("d", "SELECT srcip, count(*) FROM flows WINDOW 1s "
                   "GROUP BY srcip") == 0);
    int64_t now = time_now_ms();
    int64_t base = now - now % 1000 - 10000;   /* a window 10 s ago */
    flow_batch_t *b = flow_batch_new();
    add(b, A, C, 0, 0, base + 10, 6, 80, 1, 1);
    engine_process(eng, b);
    /* The engine is 10 s behind with batches still queued. */
    int64_t clk = engine_clock(eng, now, 3);
    CHECK_INT(clk, base + 10);
    engine_tick(eng, clk);
    CHECK_INT(col.n, 0);
    flow_batch_t *b2 = flow_batch_new();
    add(b2, A, C, 0, 0, base + 900, 6, 80, 1, 1);
    engine_process(eng, b2);
    /* Queue drained: the wall clock closes the window with both flows. */
    CHECK_INT(engine_clock(eng, now, 0), now);
    engine_tick(eng, engine_clock(eng, now, 0));
    CHECK_INT(col.n, 1);
    if (col.n)
        CHECK_INT(col.rs[0]->nrows, 1);
    char *t = collect_text(&col, "d");
    CHECK(t && strstr(t, "10.0.0.1|2\n") != NULL);
    free(t);
    query_stats_t st;
    engine_stats(eng, "d", &st);
    CHECK_INT(st.flows_late, 0);
    /* Without the backlog rule the wall clock would have closed it and
     * the second flow would have been late: */
    flow_batch_t *b3 = flow_batch_new();
    add(b3, A, C, 0, 0, base + 950, 6, 80, 1, 1);
    engine_process(eng, b3);
    engine_stats(eng, "d", &st);
    CHECK_INT(st.flows_late, 1);
    flow_batch_free(b);
    flow_batch_free(b2);
    flow_batch_free(b3);
    teardown();
}

static void test_drop_midstream(void)
{
    setup(1);
    CHECK(reg("keep", "SELECT count(*) FROM flows WINDOW 10s") == 0);
    CHECK(reg("gone", "SELECT count(*) FROM flows WINDOW 10s") == 0);
    flow_batch_t *b = flow_batch_new();
    add(b, A, C, 0, 1000, 0, 6, 80, 1, 1);
    engine_process(eng, b);
    CHECK(engine_drop(eng, "gone") == 0);
    CHECK(engine_drop(eng, "gone") == -1);
    engine_process(eng, b);
    engine_finish(eng);
    char *t = collect_text(&col, "keep");
    CHECK_STR(t, "[0,10000) 2\n");
    free(t);
    t = collect_text(&col, "gone");
    CHECK_STR(t, "");
    free(t);
    flow_batch_free(b);
    teardown();
}

static void test_functions(void)
{
    setup(1);
    CHECK(reg("f", "SELECT network(srcip, 24) AS net, proto_name(proto) AS p, "
                   "count(DISTINCT dstport) AS ports, "
                   "approx_count_distinct(dstport) AS aports, "
                   "max(dstport), min(dstip), avg(bytes) "
                   "FROM flows WINDOW 1m WHERE proto IN ('tcp', 'udp') "
                   "GROUP BY net, p") == 0);
    flow_batch_t *b = flow_batch_new();
    add(b, A, C, 0, 1000, 0, 6, 22, 1, 10);
    add(b, B, C + 5, 0, 1000, 0, 6, 23, 1, 20);
    add(b, B, C, 0, 1000, 0, 6, 23, 1, 30);
    add(b, A, C, 0, 1000, 0, 17, 53, 1, 40);
    add(b, A, C, 0, 1000, 0, 1, 0, 1, 50);
    engine_process(eng, b);
    engine_finish(eng);
    char *t = collect_text(&col, "f");
    CHECK_STR(t, "[0,60000) 10.0.0.0|tcp|2|2|23|10.0.0.3|20.000000;"
                 "10.0.0.0|udp|1|1|53|10.0.0.3|40.000000\n");
    free(t);
    flow_batch_free(b);
    teardown();
}

static void test_rows_mode(void)
{
    setup(1);
    CHECK(reg("r", "SELECT srcip, dstport, bytes FROM flows WINDOW 10s "
                   "WHERE dstport = 23 ORDER BY bytes DESC LIMIT 2") == 0);
    flow_batch_t *b = flow_batch_new();
    add(b, A, C, 0, 1000, 0, 6, 23, 1, 10);
    add(b, B, C, 0, 1000, 0, 6, 23, 1, 30);
    add(b, C, C, 0, 1000, 0, 6, 22, 1, 99);
    add(b, C, C, 0, 1000, 0, 6, 23, 1, 20);
    engine_process(eng, b);
    engine_finish(eng);
    char *t = collect_text(&col, "r");
    CHECK_STR(t, "[0,10000) 10.0.0.2|23|30;10.0.0.3|23|20\n");
    free(t);
    flow_batch_free(b);
    teardown();
}

static void test_topk(void)
{
    setup(1);
    CHECK(reg("k", "SELECT topk(dstport, 2) AS top FROM flows WINDOW 10s") == 0);
    flow_batch_t *b = flow_batch_new();
    for (int i = 0; i < 10; i++)
        add(b, A, C, 0, 1000, 0, 6, 443, 1, 1);
    /* 80 appears 8 times in 48 flows: above n/m = 6, so Space-Saving
     * with m = 8 counters must keep it. */
    for (int i = 0; i < 8; i++)
        add(b, A, C, 0, 1000, 0, 6, 80, 1, 1);
    for (int i = 0; i < 30; i++)
        add(b, A, C, 0, 1000, 0, 6, 1000 + i, 1, 1);
    engine_process(eng, b);
    engine_finish(eng);
    char *t = collect_text(&col, "k");
    CHECK_STR(t, "[0,10000) [{\"value\":443,\"count\":10},"
                 "{\"value\":80,\"count\":8}]\n");
    free(t);
    flow_batch_free(b);
    teardown();
}

/* Registering and dropping queries from another thread while batches
 * stream through: the query that stays counts every flow exactly. */
typedef struct churn {
    engine_t    *e;
    flag_t       stop;
    counter_t    cycles;
} churn_t;

static void *churn_main(void *arg)
{
    churn_t *c = arg;
    while (!flag_get(&c->stop)) {
        diag_t err;
        const char *sql = "SELECT dstport, count(*), count(DISTINCT srcip) "
                          "FROM flows WINDOW 1s GROUP BY dstport";
        plan_t *p = plan_compile(sql, strlen(sql), 0, &err);
        if (engine_register(c->e, "churn", p, &err) < 0)
            plan_free(p);
        query_stats_t st;
        engine_stats(c->e, "steady", &st);
        engine_drop(c->e, "churn");
        ctr_inc(&c->cycles);
    }
    return NULL;
}

static void test_register_drop_while_streaming(void)
{
    setup(1);
    CHECK(reg("steady", "SELECT count(*), sum(bytes) FROM flows WINDOW 1h "
                        "ON end LATENESS 1h") == 0);
    CHECK(reg("other", "SELECT srcip, count(*) FROM flows WINDOW 1h "
                       "ON end GROUP BY srcip") == 0);
    churn_t c = {.e = eng};
    pthread_t thr;
    pthread_create(&thr, NULL, churn_main, &c);
    flow_batch_t *b = flow_batch_new();
    for (int i = 0; i < FLOW_BATCH_MAX; i++)
        add(b, A + (uint32_t)(i % 100), C, 0, 1000 + i, 0, 6, i % 1000, 1, 3);
    int batches = 0;
    int64_t until = time_mono_ms() + 300;
    while (time_mono_ms() < until || ctr_get(&c.cycles) < 50) {
        engine_process(eng, b);
        batches++;
    }
    flag_set(&c.stop, 1);
    pthread_join(thr, NULL);
    engine_finish(eng);
    char want[128];
    snprintf(want, sizeof(want), "[0,3600000) %lld|%lld\n",
             (long long)batches * FLOW_BATCH_MAX,
             (long long)batches * FLOW_BATCH_MAX * 3);
    char *t = collect_text(&col, "steady");
    CHECK_STR(t, want);
    free(t);
    CHECK(c.cycles >= 50);
    flow_batch_free(b);
    teardown();
}

/* The same on three engine threads, every batch in parallel: queries
 * registered, dropped and read (stats) from another thread while the
 * workers run the others (ThreadSanitizer checks the rest). */
static void test_register_drop_on_threads(void)
{
    setup_threads = 3;
    test_register_drop_while_streaming();
    setup_threads = 0;
}

/* approx_count_distinct stays within its stated error (2.3% standard
 * error; we allow 3 sigma) and is exact while small. */
static void test_hll_accuracy(void)
{
    static const int sizes[] = {10, 64, 1000, 20000, 300000};
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        setup(1);
        CHECK(reg("a", "SELECT approx_count_distinct(srcip) AS est, "
                       "count(DISTINCT srcip) AS exact FROM flows WINDOW 1h "
                       "ON end") == 0);
        flow_batch_t *b = flow_batch_new();
        for (int i = 0; i < sizes[k]; i++) {
            if (b->n == FLOW_BATCH_MAX) {
                engine_process(eng, b);
                flow_batch_reset(b);
            }
            add(b, 0x0a000000u + (uint32_t)i * 7919u, C, 0, 1000, 0, 6, 80, 1, 1);
        }
        engine_process(eng, b);
        engine_finish(eng);
        CHECK_INT(col.n, 1);
        if (col.n == 1) {
            int64_t est = rowset_row(col.rs[0], 0)[0].i;
            int64_t exact = rowset_row(col.rs[0], 0)[1].i;
            CHECK_INT(exact, sizes[k]);
            double err = (double)(est - exact) / (double)exact;
            if (sizes[k] <= 64)
                CHECK_INT(est, exact);
            if (err > 0.069 || err < -0.069) {
                fprintf(stderr, "n=%d estimate %lld (%.2f%%)\n", sizes[k],
                        (long long)est, err * 100);
                CHECK(!"HLL error beyond 3 sigma");
            }
        }
        flow_batch_free(b);
        teardown();
    }
}

/* Integer sums saturate instead of wrapping, and the query counts it. */
static void test_sum_overflow(void)
{
    setup(1);
    CHECK(reg("o", "SELECT sum(bytes) FROM flows WINDOW 10s ON end") == 0);
    flow_batch_t *b = flow_batch_new();
    add(b, A, C, 0, 1000, 0, 6, 80, 1, INT64_MAX - 5);
    add(b, A, C, 0, 1000, 0, 6, 80, 1, 100);
    engine_process(eng, b);
    engine_finish(eng);
    char *t = collect_text(&col, "o");
    CHECK_STR(t, "[0,10000) 9223372036854775807\n");
    free(t);
    query_stats_t st;
    engine_stats(eng, "o", &st);
    CHECK_INT(st.arith_overflows, 1);
    flow_batch_free(b);
    teardown();
}

/* A field the exporter did not send is 0 (:: for addresses): it groups
 * and compares like any value, never as NULL. */
static void test_missing_fields_are_zero(void)
{
    setup(1);
    CHECK(reg("z", "SELECT srcas, nexthop, count(*) FROM flows WINDOW 10s "
                   "ON end WHERE vlan = 0 GROUP BY srcas, nexthop") == 0);
    flow_batch_t *b = flow_batch_new();
    add(b, A, C, 0, 1000, 0, 6, 80, 1, 1);
    add(b, B, C, 0, 1000, 0, 17, 53, 1, 1);
    engine_process(eng, b);
    engine_finish(eng);
    char *t = collect_text(&col, "z");
    CHECK_STR(t, "[0,10000) 0|::|2\n");
    free(t);
    flow_batch_free(b);
    teardown();
}

/* Windows with no flows are not emitted; the first and last windows
 * are. */
static void test_empty_and_edge_windows(void)
{
    setup(1);
    CHECK(reg("e", "SELECT count(*) FROM flows WINDOW 10s ON end "
                   "LATENESS 1h") == 0);
    flow_batch_t *b = flow_batch_new();
    add(b, A, C, 0, 5000, 0, 6, 80, 1, 1);      /* first window */
    add(b, A, C, 0, 95000, 0, 6, 80, 1, 1);     /* last window, 8 empty between */
    engine_process(eng, b);
    engine_finish(eng);
    char *t = collect_text(&col, "e");
    CHECK_STR(t, "[0,10000) 1\n[90000,100000) 1\n");
    free(t);
    flow_batch_free(b);
    teardown();
}

/* A live window is partial when its query began after its start or it
 * was closed before it was due (shutdown); the others are whole. Every
 * window carries its query's handle. */
static void test_partial_windows(void)
{
    setup(0);
    int64_t now = time_now_ms();
    int64_t base = now - now % 10000;     /* the window registration is in */
    CHECK(reg("p", "SELECT count(*) AS n FROM flows WINDOW 10s") == 0);
    flow_batch_t *b = flow_batch_new();
    add(b, A, C, 0, 0, base + 5, 6, 80, 1, 1);              /* [base, +10s) */
    add(b, A, C, 0, 0, base + 60000 + 5, 6, 80, 1, 1);      /* whole */
    engine_process(eng, b);
    engine_tick(eng, base + 80000);
    CHECK_INT(col.n, 2);
    flow_batch_t *b2 = flow_batch_new();
    add(b2, A, C, 0, 0, base + 3600000, 6, 80, 1, 1);      /* open at stop */
    engine_process(eng, b2);
    engine_finish(eng);
    CHECK_INT(col.n, 3);
    if (col.n == 3) {
        /* base == now only if registered on the very ms a window began */
        CHECK_INT(col.rs[0]->partial, base < now);
        CHECK_INT(col.rs[1]->partial, 0);
        CHECK_INT(col.rs[2]->partial, 1);
        qhandle_t *h = engine_get(eng, "p");
        for (int i = 0; i < 3; i++) {
            CHECK(col.rs[i]->qh == h);
            CHECK_INT(col.rs[i]->replayed, 0);
        }
        query_stats_t st;
        CHECK_INT(engine_stats(eng, "p", &st), 0);
        CHECK_INT(st.windows_partial, 1 + (base < now));
        qhandle_unref(h);
    }
    flow_batch_free(b);
    flow_batch_free(b2);
    teardown();

    /* A replay has no clock: nothing is partial, everything replayed. */
    setup(1);
    CHECK(reg("p", "SELECT count(*) AS n FROM flows WINDOW 10s") == 0);
    b = flow_batch_new();
    add(b, A, C, 0, 5000, 0, 6, 80, 1, 1);
    engine_process(eng, b);
    engine_finish(eng);
    CHECK_INT(col.n, 1);
    if (col.n == 1) {
        CHECK_INT(col.rs[0]->partial, 0);
        CHECK_INT(col.rs[0]->replayed, 1);
    }
    flow_batch_free(b);
    teardown();
}

/* One name rule: names compare without case and are kept in lower case;
 * a handle outlives its registration while someone holds it. */
static void test_names_and_handles(void)
{
    setup(0);
    CHECK(reg("Talkers", "SELECT count(*) FROM flows WINDOW 10s") == 0);
    CHECK(engine_has(eng, "talkers"));
    CHECK(engine_has(eng, "TALKERS"));
    diag_t err;
    const char *sql = "CREATE QUERY \"TALKERS\" AS SELECT count(*) FROM flows "
                      "WINDOW 1m";
    qhandle_t *h = qhandle_compile(sql, strlen(sql), 0, &err);
    CHECK(h != NULL);
    if (h) {
        CHECK_STR(h->name, "talkers");
        CHECK_STR(h->text, sql);
        CHECK_INT(engine_register_handle(eng, h, &err), ENGINE_EEXIST);
        CHECK_STR(err.msg, "a query named 'talkers' already exists");
        qhandle_unref(h);
    }
    qhandle_t *got = engine_get(eng, "TaLkErS");
    CHECK(got != NULL);
    if (got) {
        CHECK_STR(got->name, "talkers");
        CHECK_INT(got->ncols, 1);
        CHECK(strstr(got->explain, "tumbling 10s") != NULL);
        CHECK_INT(atomic_load(&got->dropped), 0);
        CHECK(engine_drop(eng, "TALKERS") == 0);
        CHECK_INT(atomic_load(&got->dropped), 1);
        CHECK_STR(got->name, "talkers");      /* still ours to read */
        qhandle_unref(got);
    }
    CHECK(!engine_has(eng, "talkers"));
    /* The reserved prefixes are reserved in any case. */
    sql = "CREATE QUERY \"FLOWSQL_x\" AS SELECT count(*) FROM flows WINDOW 1m";
    diag_clear(&err);
    CHECK(qhandle_compile(sql, strlen(sql), 0, &err) == NULL);
    CHECK(strstr(err.msg, "reserved") != NULL);
    CHECK(qname_valid("Talkers") && !qname_valid("Flows") &&
          !qname_valid("SQLITE_a") && !qname_valid("1a"));
    teardown();
}

/* A shared stage pane of many groups is folded into its members in
 * slices: no tick holds the engine thread for the whole fold (it took
 * one tick, hundreds of ms, before), the members' windows wait for it,
 * and flows that come while it is half done (late for the stage) still
 * count. The rows are byte for byte those of the queries unshared. */
static void test_share_fold_sliced(void)
{
    enum { NG = 600000, NB = (NG + FLOW_BATCH_MAX - 1) / FLOW_BATCH_MAX, NQ = 3 };
    static const char *const win[NQ] = {"20s", "30s", "1m"};
    static const char *const name[NQ] = {"m20", "m30", "m60"};
    int64_t now = time_now_ms();
    int64_t base = now - now % 60000 - 180000;   /* a minute, 3 min ago */
    char *text[2][NQ];
    int64_t worst[2] = {0, 0}, total[2] = {0, 0};
    int held = 0;
    for (int share = 0; share < 2; share++) {
        engine_config_t cfg = {.share = share};
        eng = engine_new(&cfg);
        collect_init(&col);
        engine_add_output(eng, &col.out);
        for (int q = 0; q < NQ; q++) {
            char sql[256];
            snprintf(sql, sizeof(sql),
                     "SELECT srcip, dstip, count(*) AS flows, sum(bytes) AS bytes, "
                     "count(DISTINCT dstport) AS ports FROM flows WINDOW %s "
                     "GROUP BY srcip, dstip", win[q]);
            CHECK(reg(name[q], sql) == 0);
        }
        for (int k = 0; k < NB; k++) {
            flow_batch_t *b = flow_batch_new();
            for (int i = 0; i < FLOW_BATCH_MAX && k * FLOW_BATCH_MAX + i < NG; i++) {
                uint32_t g = (uint32_t)(k * FLOW_BATCH_MAX + i);
                add(b, A + g / 7, C + g % 7, 0, 0, base + g % 9000, 6,
                    80 + (int)(g % 3), 1, 100 + g % 5);
            }
            engine_process(eng, b);
            flow_batch_free(b);
        }
        /* The pane [base, base+10s) is complete: its fold starts; no
         * window ends yet. */
        int64_t t0 = time_mono_ms();
        engine_tick(eng, base + 10300);
        worst[share] = total[share] = time_mono_ms() - t0;
        /* Flows of that pane while it may be half folded: late for the
         * stage, the members take them (group 0, and a new group). */
        flow_batch_t *b = flow_batch_new();
        add(b, A, C, 0, 0, base + 9500, 6, 99, 1, 7);
        add(b, A + 1, 0x0b000001u, 0, 0, base + 9600, 6, 80, 1, 7);
        engine_process(eng, b);
        flow_batch_free(b);
        /* Past the end of every window: ticks until all have closed;
         * before the first close a tick only folds. */
        for (int i = 0; i < 5000 && col.n < NQ; i++) {
            t0 = time_mono_ms();
            engine_tick(eng, base + 60300);
            int64_t took = time_mono_ms() - t0;
            if (col.n == 0) {
                held += share;
                total[share] += took;
                if (took > worst[share])
                    worst[share] = took;
            }
        }
        CHECK_INT(col.n, NQ);
        for (int q = 0; q < NQ; q++)
            text[share][q] = collect_text(&col, name[q]);
        teardown();
    }
    printf("  longest fold tick: unshared %lld ms, shared %lld ms of %lld "
           "(%d ticks held the windows)\n", (long long)worst[0],
           (long long)worst[1], (long long)total[1], held);
    /* Spread: no tick holds more than a quarter of the fold (whatever
     * the machine's speed; before, one tick held all of it). */
    CHECK(total[1] > 0 && worst[1] * 4 <= total[1]);
    for (int q = 0; q < NQ; q++) {
        CHECK(text[0][q] && text[1][q] && strlen(text[0][q]) > 1000000);
        CHECK(text[0][q] && text[1][q] && strcmp(text[0][q], text[1][q]) == 0);
        CHECK(text[1][q] && strstr(text[1][q], "10.0.0.2|11.0.0.1|1|7|1"));
        free(text[0][q]);
        free(text[1][q]);
    }
}

/* The member whose slide is the stage's slice takes the stage pane's
 * distinct pairs instead of a copy: after the fold of one 10 s pane of
 * 400k (host, port) pairs into a 10 s and a 30 s member, the engine
 * holds about two sets of them (each member's), not three (the stage's
 * spare kept its own); the windows are those of sharing off. */
static void test_share_stage_pane_taken(void)
{
    enum { NH = 1000, NP = 400, NG = NH * NP,
           NB = (NG + FLOW_BATCH_MAX - 1) / FLOW_BATCH_MAX };
    static const char *const win[2] = {"10s", "30s"};
    static const char *const name[2] = {"m10", "m30"};
    int64_t now = time_now_ms();
    int64_t base = now - now % 60000 - 180000;
    char *text[2][2];
    int64_t before = 0, after = 0;
    for (int share = 0; share < 2; share++) {
        engine_config_t cfg = {.share = share};
        eng = engine_new(&cfg);
        collect_init(&col);
        engine_add_output(eng, &col.out);
        for (int q = 0; q < 2; q++) {
            char sql[256];
            snprintf(sql, sizeof(sql),
                     "SELECT srcip, count(*) AS flows, count(DISTINCT dstport) "
                     "AS ports FROM flows WINDOW %s GROUP BY srcip", win[q]);
            CHECK(reg(name[q], sql) == 0);
        }
        for (int k = 0; k < NB; k++) {
            flow_batch_t *b = flow_batch_new();
            for (int i = 0; i < FLOW_BATCH_MAX && k * FLOW_BATCH_MAX + i < NG; i++) {
                uint32_t g = (uint32_t)(k * FLOW_BATCH_MAX + i);
                add(b, A + g % NH, C, 0, 0, base + g % 9000, 6,
                    1000 + (int)(g / NH), 1, 100);
            }
            engine_process(eng, b);
            flow_batch_free(b);
        }
        if (share)
            before = mem_used();
        /* The pane [base, base+10s) folded, no window of m30 closed. */
        for (int i = 0; i < 100; i++)
            engine_tick(eng, base + 10300);
        if (share)
            after = mem_used();
        for (int i = 0; i < 5000 && col.n < 2; i++)
            engine_tick(eng, base + 60300);
        CHECK_INT(col.n, 2);
        for (int q = 0; q < 2; q++)
            text[share][q] = collect_text(&col, name[q]);
        teardown();
    }
    printf("  held before the fold %lld KB, after %lld KB\n",
           (long long)before / 1024, (long long)after / 1024);
    CHECK(before > 0 && after * 2 < before * 5);
    for (int q = 0; q < 2; q++) {
        CHECK(text[0][q] && text[1][q] && strlen(text[0][q]) > 10000);
        CHECK(text[0][q] && text[1][q] && strcmp(text[0][q], text[1][q]) == 0);
        CHECK(text[1][q] && strstr(text[1][q], "|400|400"));
        free(text[0][q]);
        free(text[1][q]);
    }
}

int main(void)
{
    RUN(test_tumbling_edges);
    RUN(test_hopping);
    RUN(test_order_limit_having);
    RUN(test_lateness);
    RUN(test_group_cap);
    RUN(test_live_idle_close);
    RUN(test_live_backlog_not_late);
    RUN(test_drop_midstream);
    RUN(test_functions);
    RUN(test_rows_mode);
    RUN(test_topk);
    RUN(test_register_drop_while_streaming);
    RUN(test_register_drop_on_threads);
    RUN(test_hll_accuracy);
    RUN(test_sum_overflow);
    RUN(test_missing_fields_are_zero);
    RUN(test_empty_and_edge_windows);
    RUN(test_partial_windows);
    RUN(test_names_and_handles);
    RUN(test_share_fold_sliced);
    RUN(test_share_stage_pane_taken);
    TEST_EXIT();
}
