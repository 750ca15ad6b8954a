/* test_storage_engine.c - the real engine writing into the store: every
 * window a query emits is stored whole, in its own table, and reads back
 * (through the view, oldest first, in the engine's row order) exactly as
 * the engine emitted it. A replay engine on the same flows feeds two
 * outputs, one that keeps the rowsets and the store. */
#include "engine/engine.h"
#include "storage/store.h"
#include "tests/collect.h"
#include "tests/test.h"
#include "tests/unit/storage_util.h"

static const char *queries[][2] = {
    {"hosts", "CREATE QUERY hosts WITH (retention = '1000') AS "
              "SELECT srcip, count(*) AS flows, sum(bytes) AS bytes, "
              "avg(bytes) AS avg_bytes, min(start) AS first, "
              "max(duration) AS longest FROM flows WINDOW 10s GROUP BY srcip"},
    {"services", "CREATE QUERY services AS SELECT proto, dstport, "
                 "count(*) AS n, count(DISTINCT srcip) AS clients FROM flows "
                 "WINDOW 10s GROUP BY proto, dstport ORDER BY n DESC LIMIT 5"},
    {"top", "CREATE QUERY top AS SELECT srcip, sum(bytes) AS bytes FROM flows "
            "WINDOW 20s SLIDE 10s GROUP BY srcip ORDER BY bytes DESC LIMIT 3"},
    {"big", "CREATE QUERY big AS SELECT srcip, dstip, bytes, start FROM flows "
            "WHERE bytes > 9000 WINDOW 30s"},
    {"total", "CREATE QUERY total AS SELECT count(*) AS flows, sum(bytes) AS "
              "bytes FROM flows WINDOW 15s"},
};
#define NQ ((int)(sizeof(queries) / sizeof(queries[0])))

static int register_both(engine_t *e, store_t *s, const char *name,
                         const char *sql)
{
    diag_t err;
    diag_clear(&err);
    plan_t *p = plan_compile(sql, strlen(sql), 0, &err);
    if (!p) {
        fprintf(stderr, "compile %s: %s\n", name, err.msg);
        return -1;
    }
    rowset_col_t cols[64];
    rowset_opt_t opts[16];
    for (int i = 0; i < p->ncols && i < 64; i++) {
        cols[i].name = p->cols[i].name;
        cols[i].type = p->cols[i].type;
        cols[i].is_key = p->cols[i].key >= 0;
    }
    for (int i = 0; i < p->nopts && i < 16; i++) {
        opts[i].key = p->opts[i].key;
        opts[i].value = p->opts[i].value;
    }
    store_query_def_t d = {.name = name, .text = sql, .opts = opts,
                           .nopts = p->nopts, .cols = cols, .ncols = p->ncols};
    if (store_query_add(s, &d, &err) < 0) {
        fprintf(stderr, "store %s: %s\n", name, err.msg);
        plan_free(p);
        return -1;
    }
    if (engine_register(e, name, p, &err) < 0) {
        fprintf(stderr, "register %s: %s\n", name, err.msg);
        plan_free(p);
        return -1;
    }
    return 0;
}

/* A stored value as the text collect.h gives the engine's value. */
static void stored_text(sbuf_t *b, const store_value_t *v)
{
    char buf[64];
    switch (v->t) {
    case SV_IP:
        sbuf_add(b, ipaddr_format(&v->v.ip, buf, sizeof(buf)));
        break;
    case SV_FLOAT:
        sbuf_printf(b, "%.6f", v->v.f);
        break;
    case SV_TEXT:
        sbuf_add(b, v->v.s);
        break;
    case SV_NULL:
        sbuf_add(b, "NULL");
        break;
    case SV_BLOB:
        sbuf_printf(b, "blob[%u]", v->len);
        break;
    default:
        sbuf_printf(b, "%lld", (long long)v->v.i);
    }
}

static void t_engine_windows_read_back_as_emitted(void)
{
    store_t *s = tu_open(tu_path("engine.db"), NULL);
    engine_config_t ec = {.replay = 1};
    engine_t *e = engine_new(&ec);
    collect_t col;
    collect_init(&col);
    engine_add_output(e, &col.out);
    engine_add_output(e, store_output(s));
    for (int q = 0; q < NQ; q++)
        CHECK_INT(register_both(e, s, queries[q][0], queries[q][1]), 0);

    /* Two minutes of flows from 300 hosts, a reproducible mix. */
    flow_batch_t *b = flow_batch_new();
    uint32_t x = 12345;
    for (int i = 0; i < 20000; i++) {
        x = x * 1103515245u + 12345u;
        int k = flow_batch_add(b);
        if (k < 0) {                    /* full: on to the next batch */
            engine_process(e, b);
            flow_batch_free(b);
            b = flow_batch_new();
            k = flow_batch_add(b);
        }
        int64_t t = 1763902800000LL + i * 6;   /* 120 s */
        b->srcip[k] = (x >> 8) % 7 == 0
            ? tu_ip("2001:db8::17")
            : ipaddr_from_v4(0x0a000000u + (x >> 4) % 300);
        b->dstip[k] = ipaddr_from_v4(0xc0a80000u + (x >> 12) % 20);
        b->start[k] = t - (x >> 20) % 5000;
        b->end[k] = t;
        b->received[k] = t;
        b->proto[k] = (x >> 3) % 4 == 0 ? 17 : 6;
        b->srcport[k] = 40000 + (x >> 9) % 1000;
        b->dstport[k] = (x >> 14) % 3 == 0 ? 53 : (x >> 14) % 3 == 1 ? 443 : 80;
        b->packets[k] = 1 + (x >> 24) % 10;
        b->bytes[k] = 40 + (int64_t)((x >> 7) % 10000);
    }
    engine_process(e, b);
    flow_batch_free(b);
    engine_finish(e);
    CHECK_INT(store_flush(s, 30000), 0);

    store_stats_t st;
    store_stats(s, &st);
    CHECK_INT(st.windows_written, col.n);
    CHECK_INT(st.windows_failed + st.windows_dropped + st.windows_ignored, 0);
    int per_query[NQ] = {0};
    uint64_t rows = 0;
    for (int w = 0; w < col.n; w++) {
        rowset_t *rs = col.rs[w];
        rows += rs->nrows;
        for (int q = 0; q < NQ; q++)
            per_query[q] += strcmp(rs->query, queries[q][0]) == 0;
        store_result_t *r = NULL;
        diag_t err;
        diag_clear(&err);
        CHECK_INT(store_results(s, rs->query, rs->wstart, rs->wstart + 1, -1,
                                &r, &err), 0);
        if (!r)
            continue;
        CHECK_INT(r->nrows, rs->nrows);
        CHECK_INT(r->ncols, rs->ncols + 3);
        if (r->nrows != rs->nrows || r->ncols != rs->ncols + 3) {
            store_result_free(r);
            continue;
        }
        /* Cell by cell, in the engine's order (store_results sorts by
         * window_row). */
        sbuf_t want = SBUF_INIT, got = SBUF_INIT;
        for (uint32_t i = 0; i < rs->nrows; i++) {
            const value_t *row = rowset_row(rs, i);
            for (int c = 0; c < rs->ncols; c++) {
                value_text(&want, &row[c], rs->cols[c].type);
                sbuf_addc(&want, '|');
                stored_text(&got, store_result_cell(r, i, c + 2));
                sbuf_addc(&got, '|');
            }
            CHECK_INT(store_result_cell(r, i, 0)->v.i, rs->wstart);
            CHECK_INT(store_result_cell(r, i, 1)->v.i, rs->wend);
            CHECK_INT(store_result_cell(r, i, rs->ncols + 2)->v.i, i);
            sbuf_addc(&want, '\n');
            sbuf_addc(&got, '\n');
        }
        CHECK_STR(sbuf_str(&got), sbuf_str(&want));
        for (int c = 0; c < rs->ncols; c++) {
            CHECK_STR(r->names[c + 2], rs->cols[c].name);
            CHECK_INT(r->types[c + 2], rs->cols[c].type);
        }
        sbuf_free(&want);
        sbuf_free(&got);
        store_result_free(r);
    }
    CHECK_INT(st.rows_written, rows);
    for (int q = 0; q < NQ; q++) {
        CHECK(per_query[q] >= 4);
        char sql[200];
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM flowsql_windows "
                 "WHERE tbl = '%s'", queries[q][0]);
        store_result_t *r = NULL;
        diag_t err;
        diag_clear(&err);
        CHECK_INT(store_adhoc(s, sql, NULL, &r, &err), 0);
        if (r)
            CHECK_INT(store_result_cell(r, 0, 0)->v.i, per_query[q]);
        store_result_free(r);
    }
    fprintf(stderr, "%d windows, %llu rows compared\n", col.n,
            (unsigned long long)rows);
    engine_free(e);
    store_close(s);
    collect_free(&col);
}

int main(void)
{
    log_set_level(LOG_ERROR);
    RUN(t_engine_windows_read_back_as_emitted);
    TEST_EXIT();
}
