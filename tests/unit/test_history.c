/*
 * test_history.c - the history mode of the engine (engine.h): a replay
 * engine over archived flows keeps received-time windows on the received
 * times (a file replay moves them to the flows' end), moves their
 * watermark with the flows, and gives the windows and rows a live engine
 * gave for the same flows.
 */
#include "engine/engine.h"
#include "tests/test.h"
#include "util/arena.h"
#include "util/log.h"

#include <stdlib.h>

typedef struct seen {
    int      n;
    int64_t  wstart[64];
    int64_t  flows[64];
} seen_t;

static void on_window(output_t *o, rowset_t *rs)
{
    seen_t *s = o->ctx;
    if (s->n < 64) {
        s->wstart[s->n] = rs->wstart;
        s->flows[s->n] = rs->nrows ? rowset_row(rs, 0)[0].i : 0;
        s->n++;
    }
}

/* 60 flows, one every 100 ms of received time from T0; each flow's end
 * is 7 s before its receipt (an exporter's active timeout). */
#define T0 1767225600000LL
static flow_batch_t *flows(void)
{
    flow_batch_t *b = flow_batch_new();
    for (int i = 0; i < 60; i++) {
        int k = flow_batch_add(b);
        b->received[k] = T0 + i * 100;
        b->end[k] = b->received[k] - 7000;
        b->start[k] = b->end[k] - 1000;
        b->srcip[k] = ipaddr_from_v4(0x0a000001u);
        b->bytes[k] = 100;
    }
    return b;
}

static void run(const engine_config_t *ec, int live, seen_t *s)
{
    memset(s, 0, sizeof(*s));
    engine_t *e = engine_new(ec);
    output_t o = {.name = "t", .on_window = on_window, .ctx = s};
    engine_add_output(e, &o);
    diag_t err;
    const char *sql = "CREATE QUERY c AS SELECT count(*) AS n FROM flows WINDOW 2s";
    plan_t *p = plan_compile(sql, strlen(sql), 0, &err);
    CHECK(p != NULL);
    CHECK_INT(engine_register(e, "c", p, &err), 0);
    flow_batch_t *b = flows();
    if (live) {
        /* the live engine sees each flow as it is received, and its
         * clock passes each window's end */
        flow_batch_t *one = flow_batch_new();
        for (uint32_t i = 0; i < b->n; i++) {
            flow_batch_reset(one);
            int k = flow_batch_add(one);
            one->received[k] = b->received[i];
            one->end[k] = b->end[i];
            one->start[k] = b->start[i];
            one->srcip[k] = b->srcip[i];
            one->bytes[k] = b->bytes[i];
            engine_process(e, one);
            engine_tick(e, b->received[i] + 1);
        }
        engine_tick(e, T0 + 6000 + 1000);
        flow_batch_free(one);
    } else {
        engine_process(e, b);
        engine_finish(e);
    }
    flow_batch_free(b);
    engine_free(e);
}

static void test_history_windows_on_received(void)
{
    seen_t live, hist, file;
    engine_config_t lc = {.close_delay_ms = 300};
    run(&lc, 1, &live);
    engine_config_t hc = {.replay = 1, .history = 1};
    run(&hc, 0, &hist);
    engine_config_t fc = {.replay = 1};
    run(&fc, 0, &file);
    /* live: three 2 s windows of 20 flows from T0 */
    CHECK_INT(live.n, 3);
    CHECK_INT(hist.n, live.n);
    for (int i = 0; i < live.n && i < hist.n; i++) {
        CHECK_INT(hist.wstart[i], live.wstart[i]);
        CHECK_INT(hist.flows[i], live.flows[i]);
    }
    CHECK_INT(live.wstart[0], T0);
    CHECK_INT(live.flows[0], 20);
    /* a file replay windows on end: 7 s earlier, not what live gave */
    CHECK(file.n > 0 && file.wstart[0] != live.wstart[0]);
}

int main(void)
{
    log_set_level(LOG_ERROR);
    RUN(test_history_windows_on_received);
    TEST_EXIT();
}
