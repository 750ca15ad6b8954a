/*
 * test_partial.c - scale-out's engine half: worker engines, partial
 * states (engine/partial.h) and their merge.
 *
 * The differential test: the saved queries and shaped ones over one
 * deterministic stream, split into P partitions by a hash of srcip, one
 * worker+partial engine per partition ticked with the same watermarks;
 * the states of each (query, window) merged by a merger must give what
 * one worker engine over every flow gave: the same windows, counters and
 * rows (sorted where the query has no ORDER BY). Exact for integers,
 * addresses, strings and sketches; relaxed: a float sum (the order of
 * the additions differs) within a relative 1e-9, and topk where counts
 * tie (which of the tied values makes the k-th place): the same counts,
 * and the same values above the last count.
 */
#include "engine/engine.h"
#include "engine/mem.h"
#include "engine/partial.h"
#include "engine/qhandle.h"
#include "tests/collect.h"
#include "tests/test.h"

#include <dirent.h>
#include <math.h>

#define BASE_MS 1700000000000LL
#define NB 60            /* batches, 1.5 s of received time each */
#define STEP 1500LL

static uint64_t rng;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}
static int pick(int n) { return (int)(rnd() % (uint32_t)n); }

static ipaddr_t rand_host(int pool)
{
    if (pick(10) == 0) {       /* some IPv6: unpacked distinct pairs */
        ipaddr_t ip;
        memset(&ip, 0, sizeof(ip));
        ip.a[0] = 0x20;
        ip.a[1] = 0x01;
        ip.a[15] = (uint8_t)pick(pool);
        return ip;
    }
    return ipaddr_from_v4(0x0a000000u + (uint32_t)pick(pool));
}

/* Batch k: received around BASE_MS + STEP * k, one flow in twelve up to
 * 17 s earlier (late for some windows). */
static flow_batch_t *make_batch(int k)
{
    static const int ports[] = {22, 53, 80, 123, 443, 3389};
    static const int protos[] = {6, 6, 6, 17, 17, 1};
    flow_batch_t *b = flow_batch_new();
    int n = 1 + pick(400);
    for (int j = 0; j < n; j++) {
        int i = flow_batch_add(b);
        b->srcip[i] = rand_host(60);
        b->dstip[i] = rand_host(150);
        b->srcport[i] = pick(3) ? 53 : 1024 + pick(60000);
        b->dstport[i] = pick(4) ? ports[pick(6)] : pick(65536);
        b->proto[i] = protos[pick(6)];
        b->tcpflags[i] = b->proto[i] == 6 ? (pick(2) ? 2 : pick(64)) : 0;
        b->packets[i] = 1 + pick(pick(5) ? 60 : 100000);
        b->bytes[i] = b->packets[i] * (40 + pick(1460));
        b->received[i] = BASE_MS + STEP * k + pick((int)STEP);
        if (pick(12) == 0)
            b->received[i] -= 2000 + pick(15000);
        b->end[i] = b->received[i] - pick(3000);
        b->start[i] = b->end[i] - pick(20000);
    }
    return b;
}

/* The flows of b whose srcip hashes to partition p of np. */
static flow_batch_t *part_of(const flow_batch_t *b, int p, int np)
{
    flow_batch_t *o = flow_batch_new();
    for (uint32_t i = 0; i < b->n; i++) {
        uint64_t h = 1469598103934665603ULL;
        for (int k = 0; k < 16; k++)
            h = (h ^ b->srcip[i].a[k]) * 1099511628211ULL;
        if ((int)(h % (uint64_t)np) != p)
            continue;
        int j = flow_batch_add(o);
        o->srcip[j] = b->srcip[i];
        o->dstip[j] = b->dstip[i];
        o->srcport[j] = b->srcport[i];
        o->dstport[j] = b->dstport[i];
        o->proto[j] = b->proto[i];
        o->tcpflags[j] = b->tcpflags[i];
        o->packets[j] = b->packets[i];
        o->bytes[j] = b->bytes[i];
        o->received[j] = b->received[i];
        o->end[j] = b->end[i];
        o->start[j] = b->start[i];
    }
    return o;
}

/* ---- queries ------------------------------------------------------------------ */

static const char *const shaped[] = {
    "CREATE QUERY sh_basic AS SELECT srcip, count(*) AS c, count(dstport) AS cx, "
    "sum(bytes) AS b, min(packets) AS mn, max(packets) AS mx, avg(bytes) AS av "
    "FROM flows WINDOW 10s GROUP BY srcip",
    "CREATE QUERY sh_side AS SELECT dstport, count(DISTINCT srcip) AS d, "
    "approx_count_distinct(dstip) AS a, topk(proto, 2) AS t, count(*) AS c "
    "FROM flows WINDOW 10s GROUP BY dstport",
    "CREATE QUERY sh_top AS SELECT dstip, sum(packets) AS p, count(*) AS c "
    "FROM flows WINDOW 10s GROUP BY dstip HAVING count(*) >= 3 "
    "ORDER BY p DESC LIMIT 5",
    "CREATE QUERY sh_hop AS SELECT proto, count(*) AS c, count(DISTINCT dstip) AS d, "
    "min(srcip) AS lo, max(dstip) AS hi, approx_count_distinct(dstip) AS a, "
    "approx_count_distinct(srcport) AS sp FROM flows WINDOW 10s SLIDE 5s "
    "GROUP BY proto",
    "CREATE QUERY sh_nokey AS SELECT count(*) AS c, sum(bytes) AS b, "
    "approx_count_distinct(srcip) AS a FROM flows WINDOW 5s",
    "CREATE QUERY sh_float AS SELECT proto, sum(bytes * 0.1) AS fb, "
    "avg(packets) AS ap, count(*) AS c FROM flows WINDOW 10s GROUP BY proto",
    "CREATE QUERY sh_strkey AS SELECT proto_name(proto) AS pn, dstport, "
    "count(*) AS c FROM flows WINDOW 10s GROUP BY pn, dstport "
    "ORDER BY c DESC, dstport LIMIT 7",
    "CREATE QUERY sh_strings AS SELECT dstport, min(proto_name(proto)) AS a, "
    "max(proto_name(proto)) AS b, count(DISTINCT proto_name(proto)) AS d, "
    "topk(proto_name(proto), 2) AS t FROM flows WINDOW 10s GROUP BY dstport",
    "CREATE QUERY sh_hop_srcip AS SELECT srcip, count(*) AS c, sum(bytes) AS b, "
    "count(DISTINCT dstport) AS d FROM flows WINDOW 20s SLIDE 10s "
    "GROUP BY srcip HAVING count(*) >= 2",
    "CREATE QUERY sh_filtered AS SELECT srcip, count(*) AS c, "
    "approx_count_distinct(dstport) AS a FROM flows WINDOW 10s "
    "WHERE proto = 'tcp' GROUP BY srcip ORDER BY c DESC, srcip LIMIT 12",
};
enum { NSHAPED = sizeof(shaped) / sizeof(shaped[0]) };

/* The saved queries (queries/NAME.sql) then the shaped ones: handles. */
static int load_queries(qhandle_t **hs, int max)
{
    int n = 0;
    DIR *d = opendir("queries");
    struct dirent *de;
    char *names[64];
    int nn = 0;
    while (d && (de = readdir(d)) && nn < 64) {
        size_t l = strlen(de->d_name);
        if (l > 4 && strcmp(de->d_name + l - 4, ".sql") == 0)
            names[nn++] = strdup(de->d_name);
    }
    if (d)
        closedir(d);
    for (int i = 1; i < nn; i++)
        for (int j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            char *t = names[j]; names[j] = names[j - 1]; names[j - 1] = t;
        }
    for (int i = 0; i < nn && n < max; i++) {
        char path[512];
        snprintf(path, sizeof(path), "queries/%s", names[i]);
        FILE *f = fopen(path, "r");
        char *text = calloc(1, 65536);
        size_t len = f ? fread(text, 1, 65535, f) : 0;
        if (f)
            fclose(f);
        diag_t err = {0};
        qhandle_t *h = qhandle_compile(text, len, 0, &err);
        if (!h)
            fprintf(stderr, "%s: %s\n", path, err.msg);
        CHECK(h != NULL);
        if (h)
            hs[n++] = h;
        free(text);
        free(names[i]);
    }
    for (int i = 0; i < NSHAPED && n < max; i++) {
        diag_t err = {0};
        qhandle_t *h = qhandle_compile(shaped[i], strlen(shaped[i]), 0, &err);
        if (!h)
            fprintf(stderr, "%s: %s\n", shaped[i], err.msg);
        CHECK(h != NULL);
        if (h)
            hs[n++] = h;
    }
    return n;
}

/* ---- comparing rows ------------------------------------------------------------- */

/* A row as text, floats to 6 digits: the sort key of a query without
 * ORDER BY. */
static char *row_text(const rowset_t *rs, uint32_t r)
{
    sbuf_t b = SBUF_INIT;
    for (int c = 0; c < rs->ncols; c++) {
        const value_t *v = &rowset_row(rs, r)[c];
        if (c)
            sbuf_addc(&b, '|');
        if (rs->cols[c].type == TYPE_FLOAT)
            sbuf_printf(&b, "%.6g", v->f);
        else
            value_text(&b, v, rs->cols[c].type);
    }
    return sbuf_detach(&b);
}

/* The "count" numbers of a topk text and its (value,count) pairs. */
static int topk_parse(const char *s, char vals[][64], long long *counts, int max)
{
    int n = 0;
    const char *p = s;
    while (n < max && (p = strstr(p, "{\"value\":"))) {
        p += 9;
        const char *c = strstr(p, ",\"count\":");
        if (!c)
            break;
        snprintf(vals[n], 64, "%.*s", (int)(c - p) < 63 ? (int)(c - p) : 63, p);
        counts[n] = atoll(c + 9);
        n++;
        p = c;
    }
    return n;
}

/* topk texts equal up to ties at the last place. */
static int topk_same(const char *a, const char *b)
{
    char va[16][64], vb[16][64];
    long long ca[16], cb[16];
    int na = topk_parse(a, va, ca, 16), nb = topk_parse(b, vb, cb, 16);
    if (na != nb)
        return 0;
    for (int i = 0; i < na; i++)
        if (ca[i] != cb[i])
            return 0;
    for (int i = 0; i < na; i++) {
        if (ca[i] == ca[na - 1])
            continue;
        int found = 0;
        for (int j = 0; j < nb; j++)
            found |= strcmp(va[i], vb[j]) == 0 && ca[i] == cb[j];
        if (!found)
            return 0;
    }
    return 1;
}

static int value_same(const value_t *a, const value_t *b, type_t t)
{
    switch (t) {
    case TYPE_FLOAT:
        return a->f == b->f ||
               fabs(a->f - b->f) <= 1e-9 * fmax(fabs(a->f), fabs(b->f));
    case TYPE_IP:
        return memcmp(&a->ip, &b->ip, sizeof(a->ip)) == 0;
    case TYPE_STRING:
        if (a->s[0] == '[')
            return topk_same(a->s, b->s);
        return strcmp(a->s, b->s) == 0;
    default:
        return a->i == b->i;
    }
}

/* Row order of rs: as given (ORDER BY), else sorted by text. */
static uint32_t *row_order(const rowset_t *rs, int ordered)
{
    uint32_t *o = calloc(rs->nrows + 1, sizeof(uint32_t));
    char **t = calloc(rs->nrows + 1, sizeof(char *));
    for (uint32_t r = 0; r < rs->nrows; r++) {
        o[r] = r;
        t[r] = row_text(rs, r);
    }
    if (!ordered)
        /* Sort the indexes by their texts. */
        for (uint32_t i = 1; i < rs->nrows; i++)
            for (uint32_t j = i; j > 0 && strcmp(t[o[j - 1]], t[o[j]]) > 0; j--) {
                uint32_t x = o[j]; o[j] = o[j - 1]; o[j - 1] = x;
            }
    for (uint32_t r = 0; r < rs->nrows; r++)
        free(t[r]);
    free(t);
    return o;
}

/* The same window: bounds, counters, rows. Says what differs. */
static int window_same(const rowset_t *a, const rowset_t *b, int ordered,
                       const char *what)
{
    int ok = a->wstart == b->wstart && a->wend == b->wend &&
             a->flows == b->flows && a->groups == b->groups &&
             a->overflow == b->overflow && a->nrows == b->nrows &&
             a->ncols == b->ncols;
    if (ok) {
        uint32_t *oa = row_order(a, ordered), *ob = row_order(b, ordered);
        for (uint32_t r = 0; ok && r < a->nrows; r++)
            for (int c = 0; ok && c < a->ncols; c++)
                ok = value_same(&rowset_row(a, oa[r])[c],
                                &rowset_row(b, ob[r])[c], a->cols[c].type);
        free(oa);
        free(ob);
    }
    if (!ok) {
        fprintf(stderr, "%s %s [%lld,%lld): one engine flows=%llu groups=%llu "
                "rows=%u, merged [%lld,%lld) flows=%llu groups=%llu rows=%u\n",
                what, a->query, (long long)a->wstart, (long long)a->wend,
                (unsigned long long)a->flows, (unsigned long long)a->groups,
                a->nrows, (long long)b->wstart, (long long)b->wend,
                (unsigned long long)b->flows, (unsigned long long)b->groups,
                b->nrows);
        for (uint32_t r = 0; r < a->nrows && r < 5; r++) {
            char *t = row_text(a, r);
            fprintf(stderr, "  one:    %s\n", t);
            free(t);
        }
        for (uint32_t r = 0; r < b->nrows && r < 5; r++) {
            char *t = row_text(b, r);
            fprintf(stderr, "  merged: %s\n", t);
            free(t);
        }
    }
    return ok;
}

/* ---- engines --------------------------------------------------------------------- */

static engine_t *worker_engine(int partial, int share, collect_t *col,
                               qhandle_t **hs, int n, int has_floor,
                               int64_t floor)
{
    engine_config_t cfg = {.worker = 1, .partial = partial, .share = share,
                           .close_delay_ms = 0, .has_floor = has_floor,
                           .emit_floor_ms = floor};
    engine_t *e = engine_new(&cfg);
    collect_init(col);
    engine_add_output(e, &col->out);
    for (int i = 0; i < n; i++) {
        diag_t err = {0};
        int rc = engine_register_handle(e, hs[i], &err);
        if (rc != ENGINE_OK)
            fprintf(stderr, "%s: %s\n", hs[i]->name, err.msg);
        CHECK(rc == ENGINE_OK);
    }
    return e;
}

/* Batches bs through e, the watermark after batch k at the start of
 * batch k's received time span minus a second (so later batches' flows
 * are late for some windows), then far past the end. */
static void run_stream(engine_t *e, flow_batch_t **bs)
{
    for (int k = 0; k < NB; k++) {
        engine_process(e, bs[k]);
        engine_tick(e, BASE_MS + STEP * k - 1000);
    }
    engine_tick(e, BASE_MS + STEP * NB + 3600000);
}

static int by_end(const void *x, const void *y)
{
    const rowset_t *a = *(rowset_t *const *)x, *b = *(rowset_t *const *)y;
    int c = strcmp(a->query, b->query);
    if (c)
        return c;
    if (a->wend != b->wend)
        return a->wend < b->wend ? -1 : 1;
    return a->wstart < b->wstart ? -1 : a->wstart > b->wstart;
}

/* Bytes of state per group, per query (the figures of SCALE_OUT.md). */
static void bytes_per_group(collect_t *cols, int np, qhandle_t **hs, int n)
{
    for (int i = 0; i < n; i++) {
        uint64_t bytes = 0, groups = 0;
        for (int p = 0; p < np; p++)
            for (int k = 0; k < cols[p].n; k++)
                if (strcmp(cols[p].rs[k]->query, hs[i]->name) == 0) {
                    bytes += cols[p].rs[k]->state_len;
                    groups += cols[p].rs[k]->groups;
                }
        if (groups)
            fprintf(stderr, "  %-24s %8llu groups %10llu bytes: %.1f bytes/group\n",
                    hs[i]->name, (unsigned long long)groups,
                    (unsigned long long)bytes, (double)bytes / (double)groups);
    }
}

/* One differential run: np partitions, sharing on or off. Returns the
 * windows compared. */
static int diff_run(qhandle_t **hs, int n, flow_batch_t **bs, int np,
                    int share, int figures)
{
    collect_t one;
    engine_t *e1 = worker_engine(0, share, &one, hs, n, 0, 0);
    run_stream(e1, bs);
    /* The stream has flows late for their window (decided by the
     * watermark alone: the same on every partition). */
    uint64_t late = 0;
    for (int i = 0; i < n; i++) {
        query_stats_t st;
        if (engine_stats(e1, hs[i]->name, &st) == 0)
            late += st.flows_late;
    }
    CHECK(late > 0);

    collect_t *cols = calloc((size_t)np, sizeof(collect_t));
    for (int p = 0; p < np; p++) {
        flow_batch_t *pb[NB];
        for (int k = 0; k < NB; k++)
            pb[k] = part_of(bs[k], p, np);
        engine_t *e = worker_engine(1, share, &cols[p], hs, n, 0, 0);
        run_stream(e, pb);
        engine_free(e);
        for (int k = 0; k < NB; k++)
            flow_batch_free(pb[k]);
    }
    if (figures)
        bytes_per_group(cols, np, hs, n);

    /* Merge: one merger per query; every window a partition closed. */
    rowset_t **merged = NULL;
    int nm = 0, cap = 0;
    for (int i = 0; i < n; i++) {
        diag_t err = {0};
        merger_t *mg = merger_new(hs[i], &err);
        CHECK(mg != NULL);
        if (!mg)
            continue;
        for (int p = 0; p < np; p++)
            for (int k = 0; k < cols[p].n; k++) {
                rowset_t *rs = cols[p].rs[k];
                if (rs->qh != hs[i])
                    continue;
                CHECK(rs->state != NULL && rs->nrows == 0);
                CHECK(merger_add(mg, rs->wstart, rs->wend, rs->state,
                                 rs->state_len, &err) == 0);
            }
        /* Close in window order (the windows the partitions saw). */
        for (int p = 0; p < np; p++)
            for (int k = 0; k < cols[p].n; k++) {
                rowset_t *rs = cols[p].rs[k];
                if (rs->qh != hs[i])
                    continue;
                rowset_t *m = merger_close(mg, rs->wstart, rs->wend);
                if (!m)
                    continue;
                CHECK(m->qh == hs[i]);
                if (nm == cap) {
                    cap = cap ? cap * 2 : 256;
                    merged = realloc(merged, sizeof(*merged) * (size_t)cap);
                }
                merged[nm++] = m;
            }
        CHECK(merger_windows(mg) == 0);
        CHECK(merger_memory(mg) == 0);
        merger_free(mg);
    }
    rowset_t **ones = calloc((size_t)one.n + 1, sizeof(*ones));
    memcpy(ones, one.rs, sizeof(*ones) * (size_t)one.n);
    qsort(ones, (size_t)one.n, sizeof(*ones), by_end);
    qsort(merged, (size_t)nm, sizeof(*merged), by_end);
    char what[64];
    snprintf(what, sizeof(what), "P=%d share=%d:", np, share);
    CHECK_INT(nm, one.n);
    int bad = 0;
    for (int k = 0; k < one.n && k < nm && bad < 5; k++) {
        const plan_t *pl = ones[k]->qh->plan;
        if (!window_same(ones[k], merged[k], pl->norder > 0, what)) {
            CHECK(!"merged window differs");
            bad++;
        }
    }
    for (int k = 0; k < nm; k++)
        rowset_unref(merged[k]);
    free(merged);
    free(ones);
    int windows = one.n;
    collect_free(&one);
    engine_free(e1);
    for (int p = 0; p < np; p++)
        collect_free(&cols[p]);
    free(cols);
    return windows;
}

static void test_differential(void)
{
    qhandle_t *hs[64];
    int n = load_queries(hs, 64);
    CHECK(n >= NSHAPED + 10);
    rng = 0x2545F4914F6CDD1DULL;
    flow_batch_t *bs[NB];
    for (int k = 0; k < NB; k++)
        bs[k] = make_batch(k);
    static const int parts[] = {1, 3, 4};
    int windows = 0, runs = 0;
    for (int share = 0; share < 2; share++)
        for (int i = 0; i < 3; i++) {
            windows += diff_run(hs, n, bs, parts[i], share,
                                share == 0 && parts[i] == 1);
            runs++;
        }
    fprintf(stderr, "differential: %d queries, %d runs, %d windows compared\n",
            n, runs, windows);
    CHECK(windows > 100);
    for (int k = 0; k < NB; k++)
        flow_batch_free(bs[k]);
    for (int i = 0; i < n; i++)
        qhandle_unref(hs[i]);
}

/* Windows ending at or before the floor close without leaving; the
 * later ones are whole. */
static void test_floor(void)
{
    qhandle_t *hs[64];
    int n = load_queries(hs, 64);
    rng = 0x1234567ULL;
    flow_batch_t *bs[NB];
    for (int k = 0; k < NB; k++)
        bs[k] = make_batch(k);
    int64_t floor = BASE_MS + 40000;
    collect_t one, fl;
    engine_t *e1 = worker_engine(0, 1, &one, hs, n, 0, 0);
    engine_t *e2 = worker_engine(1, 1, &fl, hs, n, 1, floor);
    run_stream(e1, bs);
    run_stream(e2, bs);
    int later = 0, compared = 0;
    for (int k = 0; k < one.n; k++)
        later += one.rs[k]->wend > floor;
    for (int k = 0; k < fl.n; k++)
        CHECK(fl.rs[k]->wend > floor);
    CHECK_INT(fl.n, later);
    CHECK(later > 0 && later < one.n);
    for (int i = 0; i < n; i++) {
        query_stats_t st;
        CHECK(engine_stats(e2, hs[i]->name, &st) == 0);
        uint64_t w = 0;
        for (int k = 0; k < fl.n; k++)
            w += fl.rs[k]->qh == hs[i];
        CHECK_INT(st.windows, w);
        diag_t err = {0};
        merger_t *mg = merger_new(hs[i], &err);
        for (int k = 0; k < one.n; k++) {
            rowset_t *a = one.rs[k];
            if (a->qh != hs[i] || a->wend <= floor)
                continue;
            for (int j = 0; j < fl.n; j++) {
                rowset_t *s = fl.rs[j];
                if (s->qh == hs[i] && s->wstart == a->wstart && s->wend == a->wend)
                    CHECK(merger_add(mg, s->wstart, s->wend, s->state,
                                     s->state_len, &err) == 0);
            }
            rowset_t *m = merger_close(mg, a->wstart, a->wend);
            CHECK(m != NULL);
            if (m)
                CHECK(window_same(a, m, hs[i]->plan->norder > 0, "floor:"));
            compared++;
            rowset_unref(m);
        }
        merger_free(mg);
    }
    CHECK_INT(compared, later);
    collect_free(&one);
    collect_free(&fl);
    engine_free(e1);
    engine_free(e2);
    for (int k = 0; k < NB; k++)
        flow_batch_free(bs[k]);
    for (int i = 0; i < n; i++)
        qhandle_unref(hs[i]);
}

/* Flow-time windows, rows plans and sketches of strings are refused by
 * a worker and by a merger, saying why. */
static void test_refused(void)
{
    static const struct { const char *sql, *why; } cases[] = {
        {"SELECT srcip, count(*) AS c FROM flows WINDOW 10s ON end GROUP BY srcip",
         "ON end"},
        {"SELECT srcip, count(*) AS c FROM flows WINDOW 10s ON start GROUP BY srcip",
         "ON start"},
        {"SELECT srcip, dstip, bytes FROM flows WINDOW 10s", "without aggregates"},
        {"SELECT dstport, approx_count_distinct(proto_name(proto)) AS a "
         "FROM flows WINDOW 10s GROUP BY dstport", "strings"},
    };
    for (int partial = 0; partial < 2; partial++) {
        engine_config_t cfg = {.worker = !partial, .partial = partial};
        engine_t *e = engine_new(&cfg);
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            diag_t err = {0};
            qhandle_t *h = qhandle_compile(cases[i].sql, strlen(cases[i].sql),
                                           0, &err);
            CHECK(h != NULL);
            if (!h)
                continue;
            CHECK_INT(engine_register_handle(e, h, &err), ENGINE_EINVALID);
            if (!strstr(err.msg, cases[i].why))
                fprintf(stderr, "refusal says: %s\n", err.msg);
            CHECK(strstr(err.msg, cases[i].why) != NULL);
            diag_t err2 = {0};
            CHECK(merger_new(h, &err2) == NULL);
            CHECK(strstr(err2.msg, cases[i].why) != NULL);
            qhandle_unref(h);
        }
        CHECK_INT(engine_count(e), 0);
        engine_free(e);
    }
}

/* The states of one window of query sql over a few batches (the first
 * with groups), into *buf (malloc'ed). */
static size_t one_state(qhandle_t *h, uint8_t **buf, int64_t *ws, int64_t *we)
{
    collect_t col;
    engine_t *e = worker_engine(1, 0, &col, &h, 1, 0, 0);
    rng = 0xfeedULL;
    for (int k = 0; k < 12; k++) {
        flow_batch_t *b = make_batch(k);
        engine_process(e, b);
        flow_batch_free(b);
    }
    engine_tick(e, BASE_MS + STEP * 12 + 60000);
    size_t len = 0;
    *buf = NULL;
    for (int k = 0; k < col.n && !*buf; k++)
        if (col.rs[k]->groups > 2) {
            len = col.rs[k]->state_len;
            *buf = malloc(len);
            memcpy(*buf, col.rs[k]->state, len);
            *ws = col.rs[k]->wstart;
            *we = col.rs[k]->wend;
        }
    collect_free(&col);
    engine_free(e);
    return len;
}

/* Another plan's state is refused and changes nothing; every
 * truncation of a real state is refused; random damage is refused or
 * merged, never read past; the memory goes back. */
static void test_damage(void)
{
    int64_t before = mem_used();
    const char *sql[] = {shaped[1], shaped[7], shaped[3], shaped[0]};
    qhandle_t *h[4];
    for (int i = 0; i < 4; i++) {
        diag_t err = {0};
        h[i] = qhandle_compile(sql[i], strlen(sql[i]), 0, &err);
        CHECK(h[i] != NULL);
    }
    CHECK(partial_fingerprint(h[0]->plan) != partial_fingerprint(h[1]->plan));
    int truncs = 0, flips = 0, flips_ok = 0;
    for (int q = 0; q < 4; q++) {
        uint8_t *buf;
        int64_t ws, we;
        size_t len = one_state(h[q], &buf, &ws, &we);
        CHECK(len > 0);
        if (!len)
            continue;
        diag_t err = {0};
        /* another plan's: refused, the window as it was */
        merger_t *other = merger_new(h[(q + 1) % 4], &err);
        CHECK_INT(merger_add(other, ws, we, buf, len, &err), -1);
        CHECK(strstr(err.msg, "another plan") != NULL);
        CHECK_INT(merger_windows(other), 0);
        CHECK(merger_close(other, ws, we) == NULL);
        merger_free(other);

        merger_t *mg = merger_new(h[q], &err);
        CHECK_INT(merger_add(mg, ws, we, buf, len, &err), 0);
        rowset_t *good = merger_close(mg, ws, we);
        CHECK(good != NULL && merger_memory(mg) == 0);
        for (size_t cut = 0; cut < len; cut++) {
            diag_t e2 = {0};
            if (merger_add(mg, ws, we, buf, cut, &e2) != -1) {
                fprintf(stderr, "a state cut at %zu of %zu was taken\n", cut, len);
                CHECK(!"truncated state taken");
                break;
            }
            truncs++;
        }
        CHECK_INT(merger_windows(mg), 0);
        /* a refused state leaves the window as it was */
        CHECK_INT(merger_add(mg, ws, we, buf, len, &err), 0);
        CHECK_INT(merger_add(mg, ws, we, buf, len / 2, &err), -1);
        rowset_t *again = merger_close(mg, ws, we);
        CHECK(again && window_same(good, again, h[q]->plan->norder > 0, "refused:"));
        rowset_unref(again);
        uint8_t *copy = malloc(len);
        rng = 0xabcdefULL + (uint64_t)q;
        for (int f = 0; f < 3000; f++) {
            memcpy(copy, buf, len);
            int nf = 1 + pick(3);
            for (int k = 0; k < nf; k++) {
                /* mostly past the header, where a flip decodes */
                size_t at = pick(4) ? 64 + (size_t)pick((int)(len - 64))
                                    : (size_t)pick((int)len);
                copy[at] ^= (uint8_t)(1u << pick(8));
            }
            diag_t e3 = {0};
            int rc = merger_add(mg, ws + f, we + f, copy, len, &e3);
            CHECK(rc == 0 || rc == -1);
            flips++;
            flips_ok += rc == 0;
            if (rc == 0) {
                if (pick(2))
                    rowset_unref(merger_close(mg, ws + f, we + f));
                else
                    merger_discard(mg, ws + f, we + f);
            }
        }
        CHECK_INT(merger_windows(mg), 0);
        CHECK_INT(merger_memory(mg), 0);
        free(copy);
        rowset_unref(good);
        merger_free(mg);
        free(buf);
    }
    fprintf(stderr, "damage: %d truncations refused, %d flipped states "
            "(%d merged, the rest refused)\n", truncs, flips, flips_ok);
    CHECK(truncs > 1000);
    CHECK(flips_ok > 0 && flips_ok < flips);
    for (int i = 0; i < 4; i++)
        qhandle_unref(h[i]);
    CHECK_INT(mem_used(), before);
}

/* A merger's memory is its windows' tables, and goes back to nothing
 * after close, discard and free. */
static void test_memory(void)
{
    int64_t before = mem_used();
    diag_t err = {0};
    qhandle_t *h = qhandle_compile(shaped[1], strlen(shaped[1]), 0, &err);
    uint8_t *buf;
    int64_t ws, we;
    size_t len = one_state(h, &buf, &ws, &we);
    CHECK(len > 0);
    merger_t *mg = merger_new(h, &err);
    CHECK_INT(merger_memory(mg), 0);
    for (int w = 0; w < 4; w++)
        CHECK_INT(merger_add(mg, ws + w, we + w, buf, len, &err), 0);
    CHECK_INT(merger_windows(mg), 4);
    CHECK(merger_memory(mg) > 0);
    size_t two = merger_memory(mg);
    rowset_unref(merger_close(mg, ws, we));
    merger_discard(mg, ws + 1, we + 1);
    CHECK_INT(merger_windows(mg), 2);
    CHECK(merger_memory(mg) < two);
    merger_discard(mg, ws + 2, we + 2);
    rowset_unref(merger_close(mg, ws + 3, we + 3));
    CHECK_INT(merger_memory(mg), 0);
    CHECK(merger_close(mg, ws, we) == NULL);
    /* windows left open are freed with the merger */
    CHECK_INT(merger_add(mg, ws, we, buf, len, &err), 0);
    merger_free(mg);
    free(buf);
    qhandle_unref(h);
    CHECK_INT(mem_used(), before);
}

int main(void)
{
    RUN(test_refused);
    RUN(test_differential);
    RUN(test_floor);
    RUN(test_damage);
    RUN(test_memory);
    TEST_EXIT();
}
