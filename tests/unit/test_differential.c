/*
 * test_differential.c - the engine against SQLite.
 *
 * Random flows and random queries within the dialect: each query runs
 * through the engine (a replay engine: windows on flow end time), and an
 * equivalent SQL statement runs over the same flows loaded into an
 * in-memory SQLite table, bucketed into the same windows with SQL. The
 * rows must be identical, window by window. The SQL side uses none of the
 * engine's code; its few helper functions (network, in_net) are written
 * here from the definitions.
 *
 * FLOWSQL_DIFF_SETS / FLOWSQL_DIFF_QUERIES change the amount of work;
 * the seed is fixed so a failure reproduces.
 */
#include "engine/engine.h"
#include "tests/collect.h"
#include "tests/test.h"

#include <dirent.h>
#include <sqlite3.h>

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}
static int pick(int n) { return (int)(rnd() % (uint32_t)n); }

#define BASE_MS 1700000000000LL

/* ---- SQLite helper functions (independent implementations) ---------- */

/* network(ip blob, len): keep the first len bits (IPv4: of the v4 part). */
static void fn_network(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    unsigned char ip[16];
    memcpy(ip, sqlite3_value_blob(argv[0]), 16);
    int len = sqlite3_value_int(argv[1]);
    int v4 = 1;
    for (int i = 0; i < 10; i++)
        v4 &= ip[i] == 0;
    v4 &= ip[10] == 0xff && ip[11] == 0xff;
    int bits = v4 ? 96 + len : len;
    for (int i = 0; i < 16; i++) {
        int keep = bits - 8 * i;
        if (keep <= 0)
            ip[i] = 0;
        else if (keep < 8)
            ip[i] &= (unsigned char)(0xff << (8 - keep));
    }
    sqlite3_result_blob(ctx, ip, 16, SQLITE_TRANSIENT);
}

/* in_net(ip blob, net blob, bits): prefix match in the 128-bit space. */
static void fn_in_net(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    const unsigned char *ip = sqlite3_value_blob(argv[0]);
    const unsigned char *net = sqlite3_value_blob(argv[1]);
    int bits = sqlite3_value_int(argv[2]), ok = 1;
    for (int b = 0; b < bits && ok; b++) {
        int m = 0x80 >> (b % 8);
        ok = (ip[b / 8] & m) == (net[b / 8] & m);
    }
    sqlite3_result_int(ctx, ok);
}

/* ---- flows ------------------------------------------------------------ */

static ipaddr_t rand_host(int pool)
{
    if (pick(10) == 0) {       /* some IPv6 */
        ipaddr_t ip;
        memset(&ip, 0, sizeof(ip));
        ip.a[0] = 0x20;
        ip.a[1] = 0x01;
        ip.a[2] = 0x0d;
        ip.a[3] = 0xb8;
        ip.a[15] = (uint8_t)pick(pool);
        return ip;
    }
    return ipaddr_from_v4(0x0a000000u + (uint32_t)pick(pool));
}

static int make_flows(flow_batch_t ***out, sqlite3 *db)
{
    int nb = 1 + pick(3);
    flow_batch_t **bs = calloc((size_t)nb + 1, sizeof(*bs));
    sqlite3_exec(db, "DELETE FROM flows; BEGIN", NULL, NULL, NULL);
    sqlite3_stmt *ins;
    sqlite3_prepare_v2(db, "INSERT INTO flows VALUES (?,?,?,?,?,?,?,?,?,?)",
                       -1, &ins, NULL);
    int hosts = 4 + pick(60);
    int64_t span = 20000 + pick(100000);
    static const int ports[] = {22, 23, 53, 80, 123, 443, 3389, 8080};
    static const int protos[] = {6, 6, 6, 17, 17, 1};
    for (int k = 0; k < nb; k++) {
        bs[k] = flow_batch_new();
        int n = 1 + pick(FLOW_BATCH_MAX);
        for (int j = 0; j < n; j++) {
            int i = flow_batch_add(bs[k]);
            flow_batch_t *b = bs[k];
            b->srcip[i] = rand_host(hosts);
            b->dstip[i] = rand_host(hosts * 2);
            b->srcport[i] = 1024 + pick(60000);
            b->dstport[i] = pick(4) ? ports[pick(8)] : pick(65536);
            b->proto[i] = protos[pick(6)];
            b->tcpflags[i] = b->proto[i] == 6 ? pick(64) : 0;
            b->packets[i] = 1 + pick(pick(5) ? 20 : 100000);
            b->bytes[i] = b->packets[i] * (40 + pick(1460));
            b->end[i] = BASE_MS + pick((int)span);
            b->start[i] = b->end[i] - pick(30000);
            b->received[i] = b->end[i];  /* live runs window on it */
            sqlite3_bind_blob(ins, 1, b->srcip[i].a, 16, SQLITE_STATIC);
            sqlite3_bind_blob(ins, 2, b->dstip[i].a, 16, SQLITE_STATIC);
            sqlite3_bind_int64(ins, 3, b->srcport[i]);
            sqlite3_bind_int64(ins, 4, b->dstport[i]);
            sqlite3_bind_int64(ins, 5, b->proto[i]);
            sqlite3_bind_int64(ins, 6, b->tcpflags[i]);
            sqlite3_bind_int64(ins, 7, b->packets[i]);
            sqlite3_bind_int64(ins, 8, b->bytes[i]);
            sqlite3_bind_int64(ins, 9, b->start[i]);
            sqlite3_bind_int64(ins, 10, b->end[i]);
            sqlite3_step(ins);
            sqlite3_reset(ins);
        }
    }
    sqlite3_finalize(ins);
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    *out = bs;
    return nb;
}

/* ---- queries: each piece in both dialects ------------------------------- */

typedef struct pair {
    const char *ours, *sql;
    type_t      type;
} pair_t;

static const pair_t keys[] = {
    {"srcip", "srcip", TYPE_IP},
    {"dstip", "dstip", TYPE_IP},
    {"proto", "proto", TYPE_INT},
    {"dstport", "dstport", TYPE_INT},
    {"network(srcip, 24)", "network(srcip, 24)", TYPE_IP},
    {"network(dstip, 30)", "network(dstip, 30)", TYPE_IP},
    {"dstport % 7", "dstport % 7", TYPE_INT},
    {"CASE WHEN bytes > 5000 THEN 1 WHEN proto = 'udp' THEN 2 ELSE 0 END",
     "CASE WHEN bytes > 5000 THEN 1 WHEN proto = 17 THEN 2 ELSE 0 END",
     TYPE_INT},
    {"tcpflags & 18", "tcpflags & 18", TYPE_INT},
};

static const pair_t aggs[] = {
    {"count(*)", "count(*)", TYPE_INT},
    {"sum(bytes)", "sum(bytes)", TYPE_INT},
    {"sum(packets)", "sum(packets)", TYPE_INT},
    {"min(bytes)", "min(bytes)", TYPE_INT},
    {"max(bytes)", "max(bytes)", TYPE_INT},
    {"avg(bytes)", "avg(bytes)", TYPE_FLOAT},
    {"avg(packets * 2)", "avg(packets * 2)", TYPE_FLOAT},
    {"count(DISTINCT dstport)", "count(DISTINCT dstport)", TYPE_INT},
    {"count(DISTINCT dstip)", "count(DISTINCT dstip)", TYPE_INT},
    {"sum(bytes * 2 + 1)", "sum(bytes * 2 + 1)", TYPE_INT},
    {"min(dstip)", "min(dstip)", TYPE_IP},
    {"max(srcip)", "max(srcip)", TYPE_IP},
    {"max(end)", "max(\"end\")", TYPE_INT},
    {"min(duration)", "min(\"end\" - start)", TYPE_INT},
    {"sum(CASE WHEN proto = 'tcp' THEN bytes ELSE 0 END)",
     "sum(CASE WHEN proto = 6 THEN bytes ELSE 0 END)", TYPE_INT},
    {"count(dstport)", "count(dstport)", TYPE_INT},
    {"sum(bytes / packets)", "sum(bytes / packets)", TYPE_INT},
};

static const pair_t preds[] = {
    {"proto = 'tcp'", "proto = 6", 0},
    {"proto = 17", "proto = 17", 0},
    {"dstport < 1024", "dstport < 1024", 0},
    {"bytes BETWEEN 1000 AND 50000", "bytes BETWEEN 1000 AND 50000", 0},
    {"bytes NOT BETWEEN 100 AND 500", "bytes NOT BETWEEN 100 AND 500", 0},
    {"srcip IN 10.0.0.0/28", "in_net(srcip, network(srcip, 0) | 0, 0) AND "
     "in_net(srcip, X'00000000000000000000FFFF0A000000', 124)", 0},
    {"dstip NOT IN 10.0.0.0/27",
     "NOT in_net(dstip, X'00000000000000000000FFFF0A000000', 123)", 0},
    {"srcip IN 2001:db8::/32",
     "in_net(srcip, X'20010DB8000000000000000000000000', 32)", 0},
    {"dstport IN (22, 80, 443)", "dstport IN (22, 80, 443)", 0},
    {"dstport NOT IN (53, 123)", "dstport NOT IN (53, 123)", 0},
    {"has_flags(tcpflags, 'S')", "(tcpflags & 2) = 2", 0},
    {"tcpflags = 'S'", "tcpflags = 2", 0},
    {"duration > 10s", "(\"end\" - start) > 10000", 0},
    {"packets * 100 > bytes / 10", "packets * 100 > bytes / 10", 0},
    {"srcip = 10.0.0.1", "srcip = X'00000000000000000000FFFF0A000001'", 0},
    {"srcip < dstip", "srcip < dstip", 0},
    {"CASE proto WHEN 6 THEN dstport < 100 ELSE TRUE END",
     "CASE proto WHEN 6 THEN dstport < 100 ELSE 1 END", 0},
};

/* Aggregates compared engine against engine only (test_share_on_off). */
static const pair_t xaggs[] = {
    {"approx_count_distinct(dstip)", NULL, TYPE_INT},
    {"approx_count_distinct(dstport)", NULL, TYPE_INT},
    {"approx_count_distinct(srcip)", NULL, TYPE_INT},
    {"topk(dstport, 3)", NULL, TYPE_STRING},
    {"sum(bytes * 1.5)", NULL, TYPE_FLOAT},
    {"avg(bytes / 3.0)", NULL, TYPE_FLOAT},
    {"min(proto_name(proto))", NULL, TYPE_STRING},
};
#define NXAGGS (int)(sizeof(xaggs) / sizeof(xaggs[0]))
#define AGG(i) ((i) < NAGGS ? &aggs[i] : &xaggs[(i) - NAGGS])
#define NKEYS (int)(sizeof(keys) / sizeof(keys[0]))
#define NAGGS (int)(sizeof(aggs) / sizeof(aggs[0]))
#define NPREDS (int)(sizeof(preds) / sizeof(preds[0]))

static void gen_pred(sbuf_t *o, sbuf_t *s, int depth)
{
    int r = pick(depth > 0 ? 6 : 4);
    if (r < 4) {
        const pair_t *p = &preds[pick(NPREDS)];
        sbuf_printf(o, "(%s)", p->ours);
        sbuf_printf(s, "(%s)", p->sql);
    } else if (r == 4) {
        sbuf_add(o, "NOT (");
        sbuf_add(s, "NOT (");
        gen_pred(o, s, depth - 1);
        sbuf_add(o, ")");
        sbuf_add(s, ")");
    } else {
        const char *op = pick(2) ? " AND " : " OR ";
        sbuf_addc(o, '(');
        sbuf_addc(s, '(');
        gen_pred(o, s, depth - 1);
        sbuf_add(o, op);
        sbuf_add(s, op);
        gen_pred(o, s, depth - 1);
        sbuf_addc(o, ')');
        sbuf_addc(s, ')');
    }
}

typedef struct qcase {
    sbuf_t  ours, sql;
    type_t  types[16];
    int     ncols;
} qcase_t;

/* What queries that share panes have in common: keys and filter (and,
 * for a live run, windows by receive time). gen_query_shaped fills it for
 * the first query of a group and reuses it for the others. */
typedef struct shape {
    int   set;
    int   groups;      /* the first: force an aggregate plan with keys */
    int   live;        /* WINDOW without ON: by receive time (= end) */
    int   engine_only; /* also aggregates SQLite has not (sketches, topk,
                          float sums): engine against engine */
    int   rows_mode, nk, kidx[3];
    int   has_where;
    char *where_o, *where_s;
} shape_t;

static void shape_free(shape_t *sh)
{
    free(sh->where_o);
    free(sh->where_s);
    memset(sh, 0, sizeof(*sh));
}

static void gen_query_shaped(qcase_t *q, shape_t *sh);

static void gen_query(qcase_t *q)
{
    shape_t sh = {0};
    gen_query_shaped(q, &sh);
    shape_free(&sh);
}

static void gen_query_shaped(qcase_t *q, shape_t *sh)
{
    sbuf_t *o = &q->ours, *s = &q->sql;
    static const int64_t sizes[] = {5000, 10000, 20000, 30000};
    int64_t size = sizes[pick(4)], slide = size;
    if (pick(3) == 0) {
        int64_t div[] = {1, 2, 4, 5, 10};
        int64_t d = div[pick(5)];
        if (size % d == 0)
            slide = size / d;
    }
    int rows_mode, nk;
    int kidx[3], aidx[4];
    if (sh->set) {
        rows_mode = sh->rows_mode;
        nk = sh->nk;
        memcpy(kidx, sh->kidx, sizeof(kidx));
    } else {
        rows_mode = pick(8) == 0;
        nk = rows_mode ? 0 : pick(3);
        if (sh->groups) {
            rows_mode = 0;
            nk = nk ? nk : 1;
        }
    }
    int na = rows_mode ? 0 : 1 + pick(3);
    if (!sh->set)
        for (int i = 0; i < nk; i++) {
            kidx[i] = pick(NKEYS);
            for (int j = 0; j < i; j++)
                if (kidx[j] == kidx[i])
                    kidx[i] = (kidx[i] + 1) % NKEYS;
        }
    for (int i = 0; i < na; i++)
        aidx[i] = pick(sh->engine_only ? NAGGS + NXAGGS : NAGGS);
    q->ncols = 0;
    sbuf_add(o, "SELECT ");
    sbuf_t cols = SBUF_INIT;
    for (int i = 0; i < nk; i++) {
        sbuf_printf(o, "%s%s AS c%d", q->ncols ? ", " : "", keys[kidx[i]].ours,
                    q->ncols);
        sbuf_printf(&cols, "%s%s AS c%d", q->ncols ? ", " : "",
                    keys[kidx[i]].sql, q->ncols);
        q->types[q->ncols++] = keys[kidx[i]].type;
    }
    for (int i = 0; i < na; i++) {
        sbuf_printf(o, "%s%s AS c%d", q->ncols ? ", " : "", AGG(aidx[i])->ours,
                    q->ncols);
        sbuf_printf(&cols, "%s%s AS c%d", q->ncols ? ", " : "",
                    AGG(aidx[i])->sql, q->ncols);
        q->types[q->ncols++] = AGG(aidx[i])->type;
    }
    if (rows_mode) {
        static const pair_t rcols[] = {
            {"srcip", "srcip", TYPE_IP}, {"dstport", "dstport", TYPE_INT},
            {"bytes", "bytes", TYPE_INT}, {"end", "\"end\"", TYPE_INT},
            {"bytes + packets", "bytes + packets", TYPE_INT}};
        int nc = 1 + pick(3);
        for (int i = 0; i < nc; i++) {
            const pair_t *c = &rcols[pick(5)];
            sbuf_printf(o, "%s%s AS c%d", i ? ", " : "", c->ours, i);
            sbuf_printf(&cols, "%s%s AS c%d", i ? ", " : "", c->sql, i);
            q->types[q->ncols++] = c->type;
        }
    }
    char w[96];
    const char *on = sh->live ? "" : " ON end LATENESS 1h";
    if (slide == size)
        snprintf(w, sizeof(w), " WINDOW %lldms%s", (long long)size, on);
    else
        snprintf(w, sizeof(w), " WINDOW %lldms SLIDE %lldms%s",
                 (long long)size, (long long)slide, on);
    sbuf_printf(o, " FROM flows%s", w);

    sbuf_t where_o = SBUF_INIT, where_s = SBUF_INIT;
    int has_where;
    if (sh->set) {
        has_where = sh->has_where;
        if (has_where) {
            sbuf_add(&where_o, sh->where_o);
            sbuf_add(&where_s, sh->where_s);
        }
    } else {
        has_where = pick(3) > 0;
        if (has_where)
            gen_pred(&where_o, &where_s, 2);
        sh->set = 1;
        sh->rows_mode = rows_mode;
        sh->nk = nk;
        memcpy(sh->kidx, kidx, sizeof(kidx));
        sh->has_where = has_where;
        sh->where_o = strdup(has_where ? sbuf_str(&where_o) : "");
        sh->where_s = strdup(has_where ? sbuf_str(&where_s) : "");
    }
    if (has_where)
        sbuf_printf(o, " WHERE %s", sbuf_str(&where_o));
    /* SQL side: bucket each flow into its windows. */
    sbuf_printf(s, "SELECT ws, * FROM (SELECT ((\"end\" / %lld) - o.j) * %lld AS ws, %s "
                "FROM flows, o%s%s",
                (long long)slide, (long long)slide, sbuf_str(&cols),
                has_where ? " WHERE " : "", sbuf_str(&where_s));
    (void)0;
    if (nk > 0) {
        sbuf_add(o, " GROUP BY ");
        sbuf_add(s, " GROUP BY ws");
        for (int i = 0; i < nk; i++) {
            sbuf_printf(o, "%s%s", i ? ", " : "", keys[kidx[i]].ours);
            sbuf_printf(s, ", %s", keys[kidx[i]].sql);
        }
    } else if (!rows_mode) {
        sbuf_add(s, " GROUP BY ws");
    }
    if (!rows_mode && pick(3) == 0) {
        int thr = pick(4);
        sbuf_printf(o, " HAVING count(*) > %d", thr);
        sbuf_printf(s, " HAVING count(*) > %d", thr);
    }
    sbuf_add(s, ")");
    int limit = -1, ocol = -1, desc = 0;
    if (pick(3) == 0) {
        ocol = pick(q->ncols);
        desc = pick(2);
        limit = pick(6);
        sbuf_printf(o, " ORDER BY c%d %s LIMIT %d", ocol, desc ? "DESC" : "ASC",
                    limit);
    }
    if (limit >= 0) {
        /* Top rows per window, ties broken by every column ascending,
         * as the engine does. */
        sbuf_t t = SBUF_INIT;
        sbuf_printf(&t, "SELECT * FROM (SELECT *, row_number() OVER "
                    "(PARTITION BY ws ORDER BY c%d %s", ocol, desc ? "DESC" : "ASC");
        for (int i = 0; i < q->ncols; i++)
            sbuf_printf(&t, ", c%d", i);
        sbuf_printf(&t, ") AS rn FROM (%s)) WHERE rn <= %d", sbuf_str(s), limit);
        sbuf_free(s);
        *s = t;
    }
    /* The offsets of a flow's pane within its windows. */
    sbuf_t full = SBUF_INIT;
    sbuf_printf(&full, "WITH RECURSIVE o(j) AS (SELECT 0 UNION ALL SELECT j + 1 "
                "FROM o WHERE j + 1 < %lld) %s", (long long)(size / slide),
                sbuf_str(s));
    sbuf_free(s);
    *s = full;
    sbuf_free(&cols);
    sbuf_free(&where_o);
    sbuf_free(&where_s);
}

/* ---- comparing --------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

typedef struct lines {
    char **v;
    int    n, cap;
} lines_t;

static void lines_add(lines_t *l, char *s)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->v = realloc(l->v, sizeof(char *) * (size_t)l->cap);
    }
    l->v[l->n++] = s;
}

static void lines_free(lines_t *l)
{
    for (int i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
}

/* Compare query `name`'s rows in col with qc's SQL; 0 if the same. */
static int compare_case(sqlite3 *db, collect_t *col, const char *name,
                        const query_stats_t *st, qcase_t *qc)
{
    const char *qt = sbuf_str(&qc->ours);
    lines_t mine = {0}, theirs = {0};
    for (int i = 0; i < col->n; i++) {
        rowset_t *rs = col->rs[i];
        if (strcmp(rs->query, name) != 0)
            continue;
        for (uint32_t r = 0; r < rs->nrows; r++) {
            sbuf_t b = SBUF_INIT;
            sbuf_printf(&b, "%lld", (long long)rs->wstart);
            for (int c = 0; c < rs->ncols; c++) {
                sbuf_addc(&b, '|');
                value_text(&b, &rowset_row(rs, r)[c], rs->cols[c].type);
            }
            lines_add(&mine, sbuf_detach(&b));
        }
    }
    sqlite3_stmt *stmt;
    const char *sql = sbuf_str(&qc->sql);
    if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK) {
        fprintf(stderr, "sqlite: %s\n  %s\n", sqlite3_errmsg(db), sql);
        lines_free(&mine);
        return -1;
    }
    while (sqlite3_step(stmt) == SQLITE_ROW) {
        sbuf_t b = SBUF_INIT;
        sbuf_printf(&b, "%lld", (long long)sqlite3_column_int64(stmt, 0));
        for (int c = 0; c < qc->ncols; c++) {
            sbuf_addc(&b, '|');
            value_t v;
            memset(&v, 0, sizeof(v));
            int col_i = c + 2; /* ws, then the inner ws, then c0.. */
            if (qc->types[c] == TYPE_IP)
                memcpy(v.ip.a, sqlite3_column_blob(stmt, col_i), 16);
            else if (qc->types[c] == TYPE_FLOAT)
                v.f = sqlite3_column_double(stmt, col_i);
            else
                v.i = sqlite3_column_int64(stmt, col_i);
            value_text(&b, &v, qc->types[c]);
        }
        lines_add(&theirs, sbuf_detach(&b));
    }
    sqlite3_finalize(stmt);
    if (mine.n > 1)
        qsort(mine.v, (size_t)mine.n, sizeof(char *), cmp_str);
    if (theirs.n > 1)
        qsort(theirs.v, (size_t)theirs.n, sizeof(char *), cmp_str);
    int same = mine.n == theirs.n && st->flows_late == 0;
    for (int i = 0; same && i < mine.n; i++)
        same = strcmp(mine.v[i], theirs.v[i]) == 0;
    if (!same) {
        fprintf(stderr, "MISMATCH %s (late %llu)\n  ours: %s\n  sql:  %s\n",
                name, (unsigned long long)st->flows_late, qt, sql);
        for (int i = 0, j = 0; i < mine.n || j < theirs.n;) {
            int c = i >= mine.n ? 1 : j >= theirs.n ? -1
                                : strcmp(mine.v[i], theirs.v[j]);
            if (c < 0)
                fprintf(stderr, "  only engine: %s\n", mine.v[i++]);
            else if (c > 0)
                fprintf(stderr, "  only sqlite: %s\n", theirs.v[j++]);
            else
                i++, j++;
        }
    }
    lines_free(&mine);
    lines_free(&theirs);
    return same ? 0 : -1;
}

/* Run queries qcs[0..n) together in one engine (named d0, d1...) over
 * the batches (in reverse if order), then compare each with SQLite.
 * live: windows by receive time, closed at the end; share: the engine's
 * shared aggregation; *shared (if given) counts the queries that shared
 * panes. 0 if every query agrees. */
static int run_cases(sqlite3 *db, flow_batch_t **bs, int nb, qcase_t *qcs,
                     int n, int order, int live, int share, int *shared)
{
    diag_t err;
    engine_config_t cfg = {.replay = !live, .share = share};
    engine_t *e = engine_new(&cfg);
    collect_t col;
    collect_init(&col);
    engine_add_output(e, &col.out);
    for (int i = 0; i < n; i++) {
        const char *qt = sbuf_str(&qcs[i].ours);
        plan_t *p = plan_compile(qt, strlen(qt), 0, &err);
        if (!p) {
            fprintf(stderr, "does not compile: %s\n  %s\n", err.msg, qt);
            engine_free(e);
            collect_free(&col);
            return -1;
        }
        char name[16];
        snprintf(name, sizeof(name), "d%d", i);
        if (engine_register(e, name, p, &err) < 0) {
            fprintf(stderr, "register: %s\n", err.msg);
            plan_free(p);
            engine_free(e);
            collect_free(&col);
            return -1;
        }
    }
    for (int k = 0; k < nb; k++)
        engine_process(e, bs[order ? nb - 1 - k : k]);
    engine_finish(e);
    int rc = 0;
    for (int i = 0; i < n; i++) {
        char name[16];
        snprintf(name, sizeof(name), "d%d", i);
        query_stats_t st;
        engine_stats(e, name, &st);
        if (shared) {
            sbuf_t x = SBUF_INIT;
            *shared += engine_share_explain(e, name, &x) == 1;
            sbuf_free(&x);
        }
        if (compare_case(db, &col, name, &st, &qcs[i]) < 0)
            rc = -1;
    }
    collect_free(&col);
    engine_free(e);
    return rc;
}

static int run_case(sqlite3 *db, flow_batch_t **bs, int nb, qcase_t *qc,
                    int order)
{
    return run_cases(db, bs, nb, qc, 1, order, 0, 0, NULL);
}

static int nsets = 20, nqueries = 150, cases_run, cases_failed;

static sqlite3 *open_db(void)
{
    sqlite3 *db;
    sqlite3_open(":memory:", &db);
    sqlite3_create_function(db, "network", 2, SQLITE_UTF8 | SQLITE_DETERMINISTIC,
                            NULL, fn_network, NULL, NULL);
    sqlite3_create_function(db, "in_net", 3, SQLITE_UTF8 | SQLITE_DETERMINISTIC,
                            NULL, fn_in_net, NULL, NULL);
    sqlite3_exec(db, "CREATE TABLE flows (srcip BLOB, dstip BLOB, srcport INT, "
                 "dstport INT, proto INT, tcpflags INT, packets INT, "
                 "bytes INT, start INT, \"end\" INT)", NULL, NULL, NULL);
    return db;
}

static void test_engine_vs_sqlite(void)
{
    sqlite3 *db = open_db();
    for (int s = 0; s < nsets; s++) {
        flow_batch_t **bs;
        int nb = make_flows(&bs, db);
        for (int k = 0; k < nqueries; k++) {
            qcase_t qc;
            memset(&qc, 0, sizeof(qc));
            gen_query(&qc);
            cases_run++;
            if (run_case(db, bs, nb, &qc, k & 1) < 0) {
                cases_failed++;
                CHECK(!"engine and SQLite disagree");
            }
            sbuf_free(&qc.ours);
            sbuf_free(&qc.sql);
            if (cases_failed > 5)
                break;
        }
        for (int k = 0; k < nb; k++)
            flow_batch_free(bs[k]);
        free(bs);
        if (cases_failed > 5)
            break;
    }
    fprintf(stderr, "differential: %d cases, %d failed\n", cases_run,
            cases_failed);
    CHECK(cases_run >= nsets * nqueries || cases_failed);
    sqlite3_close(db);
}

/* Shared plans against SQLite: groups of queries with the same keys and
 * filter and their own windows (tumbling and hopping, of lengths that are
 * multiples of each other or not) and aggregates, run together with
 * sharing on; every query of every group must give SQLite's rows. Live
 * engines (windows by receive time: stream slicing with roll-ups) and
 * replay engines (flow time: shared panes of one slide). */
static void test_shared_vs_sqlite(void)
{
    sqlite3 *db = open_db();
    int groups = 0, failed = 0, shared = 0, queries = 0;
    for (int set = 0; set < nsets && failed < 3; set++) {
        flow_batch_t **bs;
        int nb = make_flows(&bs, db);
        for (int k = 0; k < nqueries / 10 + 2 && failed < 3; k++) {
            shape_t sh = {.groups = 1, .live = k % 4 != 3};
            qcase_t qc[4];
            int n = 2 + pick(3);
            memset(qc, 0, sizeof(qc));
            for (int i = 0; i < n; i++)
                gen_query_shaped(&qc[i], &sh);
            groups++;
            queries += n;
            if (run_cases(db, bs, nb, qc, n, k & 1, sh.live, 1, &shared) < 0) {
                failed++;
                CHECK(!"a shared plan and SQLite disagree");
            }
            for (int i = 0; i < n; i++) {
                sbuf_free(&qc[i].ours);
                sbuf_free(&qc[i].sql);
            }
            shape_free(&sh);
        }
        for (int k = 0; k < nb; k++)
            flow_batch_free(bs[k]);
        free(bs);
    }
    fprintf(stderr, "shared differential: %d groups, %d queries, %d of them "
            "sharing panes, %d groups failed\n", groups, queries, shared, failed);
    /* Most groups can share (those with float sums or topk over longer
     * panes, or flow-time windows of other slides, run alone). */
    CHECK(shared > queries / 3);
    sqlite3_close(db);
}

/* ---- sharing on and off, byte for byte ------------------------------- */

/* A live stream: batch k is received around BASE_MS + 1.5 s * k, with
 * one flow in twelve received up to 17 s earlier (late for some
 * windows, not for others). */
static flow_batch_t *live_batch(int k)
{
    static const int ports[] = {22, 23, 53, 80, 123, 443, 3389, 8080};
    static const int protos[] = {6, 6, 6, 17, 17, 1};
    flow_batch_t *b = flow_batch_new();
    int n = 1 + pick(FLOW_BATCH_MAX);
    for (int j = 0; j < n; j++) {
        int i = flow_batch_add(b);
        b->srcip[i] = rand_host(40);
        b->dstip[i] = rand_host(80);
        b->srcport[i] = 1024 + pick(60000);
        b->dstport[i] = pick(4) ? ports[pick(8)] : pick(65536);
        b->proto[i] = protos[pick(6)];
        b->tcpflags[i] = b->proto[i] == 6 ? pick(64) : 0;
        b->packets[i] = 1 + pick(pick(5) ? 20 : 100000);
        b->bytes[i] = b->packets[i] * (40 + pick(1460));
        b->received[i] = BASE_MS + 1500LL * k + pick(1500);
        if (pick(12) == 0)
            b->received[i] -= 2000 + pick(15000);
        b->end[i] = b->received[i] - pick(3000);
        b->start[i] = b->end[i] - pick(20000);
    }
    return b;
}

/* Everything an engine put out, as text: each window in the order it
 * came (query, bounds, partial, counters, rows in their order), then
 * each query's counters. */
static char *transcript(engine_t *e, collect_t *col, char **names, int n)
{
    sbuf_t t = SBUF_INIT;
    for (int i = 0; i < col->n; i++) {
        rowset_t *rs = col->rs[i];
        sbuf_printf(&t, "%s [%lld,%lld) partial=%d flows=%llu groups=%llu "
                    "overflow=%llu rows=%u\n", rs->query, (long long)rs->wstart,
                    (long long)rs->wend, rs->partial,
                    (unsigned long long)rs->flows, (unsigned long long)rs->groups,
                    (unsigned long long)rs->overflow, rs->nrows);
        for (uint32_t r = 0; r < rs->nrows; r++) {
            for (int c = 0; c < rs->ncols; c++) {
                sbuf_addc(&t, c ? '|' : ' ');
                value_text(&t, &rowset_row(rs, r)[c], rs->cols[c].type);
            }
            sbuf_addc(&t, '\n');
        }
    }
    for (int i = 0; i < n; i++) {
        query_stats_t st;
        if (engine_stats(e, names[i], &st) < 0)
            continue;
        sbuf_printf(&t, "%s in=%llu matched=%llu late=%llu overflow=%llu "
                    "windows=%llu rows=%llu partial=%llu\n", names[i],
                    (unsigned long long)st.flows_in,
                    (unsigned long long)st.flows_matched,
                    (unsigned long long)st.flows_late,
                    (unsigned long long)st.flows_overflow,
                    (unsigned long long)st.windows, (unsigned long long)st.rows,
                    (unsigned long long)st.windows_partial);
    }
    return sbuf_detach(&t);
}

static int reg(engine_t *e, const char *name, const char *sql)
{
    diag_t err;
    plan_t *p = plan_compile(sql, strlen(sql), 0, &err);
    if (!p || engine_register(e, name, p, &err) < 0) {
        fprintf(stderr, "%s: %s\n  %s\n", name, err.msg, sql);
        plan_free(p);
        return -1;
    }
    return 0;
}

/* A shaped random query (gen_query_shaped) as sql[nq], named name;
 * returns nq + 1. */
static int add_shaped(char **sql, char **names, int nq, shape_t *sh,
                      const char *name)
{
    qcase_t qc;
    memset(&qc, 0, sizeof(qc));
    gen_query_shaped(&qc, sh);
    sql[nq] = strdup(sbuf_str(&qc.ours));
    names[nq] = strdup(name);
    sbuf_free(&qc.ours);
    sbuf_free(&qc.sql);
    return nq + 1;
}

/* Shapes 0..n for the sharing tests: one group each, shape 3 on flow
 * time; j1 must join s1's group and p0, p1 (shape n) form one: their
 * aggregates merge exactly over longer panes. */
static void share_shapes(shape_t *sh, int n)
{
    memset(sh, 0, sizeof(*sh) * (size_t)(n + 1));
    for (int g = 0; g <= n; g++) {
        sh[g].groups = 1;
        sh[g].live = g != 3;
        sh[g].engine_only = g != 1 && g != n;
    }
}

/* The same queries over the same live stream, once with sharing off and
 * once on, windows closing as the clock moves, flows arriving late,
 * queries dropped and registered mid-stream (one joining a running group,
 * two forming a group mid-window): every window, row, row order and
 * counter must be the same. */
static void test_share_on_off(void)
{
    int rounds = nsets / 4 + 1, shared_total = 0;
    for (int round = 0; round < rounds; round++) {
        enum { NSHAPES = 5, PER = 3, NB = 36 };
        char *sql[NSHAPES * PER + 8], *names[NSHAPES * PER + 8];
        int nq = 0;
        shape_t sh[NSHAPES + 1];
        share_shapes(sh, NSHAPES);
        for (int g = 0; g < NSHAPES; g++)
            for (int i = 0; i < PER; i++) {
                char name[32];
                snprintf(name, sizeof(name), "s%dq%d", g, i);
                nq = add_shaped(sql, names, nq, &sh[g], name);
            }
        /* Mid-stream: j1 (s1q1's statement again, joins the running
         * group), p0 then p1 (a new shape: alone, then a group). */
        int base = nq;
        sql[nq] = strdup(sql[1 * PER + 1]);
        names[nq++] = strdup("j1");
        nq = add_shaped(sql, names, nq, &sh[NSHAPES], "p0");
        nq = add_shaped(sql, names, nq, &sh[NSHAPES], "p1");
        flow_batch_t *bs[NB];
        for (int k = 0; k < NB; k++)
            bs[k] = live_batch(k);

        char *out[2];
        int joined = 0, formed = 0;
        for (int share = 0; share < 2; share++) {
            engine_config_t cfg = {.share = share};
            engine_t *e = engine_new(&cfg);
            collect_t col;
            collect_init(&col);
            engine_add_output(e, &col.out);
            for (int i = 0; i < base; i++)
                CHECK(reg(e, names[i], sql[i]) == 0);
            for (int k = 0; k < NB; k++) {
                engine_process(e, bs[k]);
                engine_tick(e, BASE_MS + 1500LL * (k + 1));
                if (k == 8)
                    CHECK(engine_drop(e, "s0q0") == 0);
                if (k == 11)
                    CHECK(reg(e, names[base], sql[base]) == 0);
                if (k == 13)
                    CHECK(reg(e, names[base + 1], sql[base + 1]) == 0);
                if (k == 18)
                    CHECK(reg(e, names[base + 2], sql[base + 2]) == 0);
            }
            if (share) {
                sbuf_t x = SBUF_INIT;
                joined = engine_share_explain(e, "j1", &x) == 1;
                formed = engine_share_explain(e, "p1", &x) == 1 &&
                         engine_share_explain(e, "p0", &x) == 1;
                for (int i = 0; i < nq; i++)
                    shared_total += engine_share_explain(e, names[i], &x) == 1;
                sbuf_free(&x);
            }
            engine_finish(e);
            out[share] = transcript(e, &col, names, nq);
            collect_free(&col);
            engine_free(e);
        }
        CHECK(joined);
        CHECK(formed);
        if (strcmp(out[0], out[1]) != 0) {
            CHECK(!"sharing on and off give different windows");
            const char *a = out[0], *b = out[1];
            int line = 1;
            while (*a && *a == *b) {
                line += *a == '\n';
                a++, b++;
            }
            fprintf(stderr, "first difference at line %d:\n  off: %.200s\n"
                    "  on:  %.200s\n", line, a, b);
            for (int i = 0; i < nq; i++)
                fprintf(stderr, "  %s: %s\n", names[i], sql[i]);
        }
        free(out[0]);
        free(out[1]);
        for (int k = 0; k < NB; k++)
            flow_batch_free(bs[k]);
        for (int i = 0; i < nq; i++) {
            free(sql[i]);
            free(names[i]);
        }
        for (int g = 0; g <= NSHAPES; g++)
            shape_free(&sh[g]);
    }
    fprintf(stderr, "sharing on/off: %d rounds, %d query runs shared panes\n",
            rounds, shared_total);
}

/* ---- one thread and several, byte for byte ---------------------------- */

/* The saved queries of queries/ (the repository's): their statements and
 * names into sql[] and names[] (malloc'ed); how many. */
static int saved_queries(char **sql, char **names, int max)
{
    DIR *d = opendir("queries");
    if (!d)
        return 0;
    struct dirent *de;
    int n = 0;
    while ((de = readdir(d)) && n < max) {
        size_t l = strlen(de->d_name);
        if (l < 5 || strcmp(de->d_name + l - 4, ".sql") != 0)
            continue;
        char path[512];
        snprintf(path, sizeof(path), "queries/%s", de->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        char *text = calloc(1, 65536);
        size_t len = fread(text, 1, 65535, f);
        fclose(f);
        text[len] = 0;
        sql[n] = text;
        names[n] = strndup(de->d_name, l - 4);
        n++;
    }
    closedir(d);
    /* Registration order is part of the output's order: fix it. */
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            char *t = names[j]; names[j] = names[j - 1]; names[j - 1] = t;
            t = sql[j]; sql[j] = sql[j - 1]; sql[j - 1] = t;
        }
    return n;
}

/* The saved queries and random ones (groups that share panes, filters
 * shared by queries with other keys, queries alone) over the same stream
 * on 1, 2 and 4 threads, every batch run in parallel: a live engine
 * (windows closing as the clock moves, late flows, a drop and
 * registrations mid-stream, sharing on and off) and a replay engine.
 * Every window, row, row order and counter must be the same, and the
 * workers must have run queries. */
static void test_threads(void)
{
    int rounds = nsets / 8 + 1, saved = 0;
    for (int round = 0; round < rounds; round++) {
        enum { NSHAPES = 4, PER = 3, NB = 30, MAXQ = 64 };
        char *sql[MAXQ], *names[MAXQ];
        int nq = saved_queries(sql, names, MAXQ - NSHAPES * PER - 4);
        saved = nq;
        shape_t sh[NSHAPES + 1];
        share_shapes(sh, NSHAPES);
        for (int g = 0; g < NSHAPES; g++)
            for (int i = 0; i < PER; i++) {
                char name[32];
                snprintf(name, sizeof(name), "s%dq%d", g, i);
                nq = add_shaped(sql, names, nq, &sh[g], name);
            }
        /* Mid-stream: j1 joins a running group, p0 and p1 form one. */
        int base = nq;
        sql[nq] = strdup(sql[saved + PER + 1]);
        names[nq++] = strdup("j1");
        nq = add_shaped(sql, names, nq, &sh[NSHAPES], "p0");
        nq = add_shaped(sql, names, nq, &sh[NSHAPES], "p1");
        flow_batch_t *bs[NB];
        for (int k = 0; k < NB; k++)
            bs[k] = live_batch(k);
        /* live sharing on, live sharing off, replay sharing on */
        for (int mode = 0; mode < 3; mode++) {
            static const int threads[] = {1, 2, 4};
            char *out[3];
            for (int t = 0; t < 3; t++) {
                engine_config_t cfg = {.share = mode != 1, .replay = mode == 2,
                                       .threads = threads[t],
                                       .parallel_min_ns = -1};
                engine_t *e = engine_new(&cfg);
                CHECK(engine_threads(e) == threads[t]);
                collect_t col;
                collect_init(&col);
                engine_add_output(e, &col.out);
                for (int i = 0; i < base; i++)
                    CHECK(reg(e, names[i], sql[i]) == 0);
                for (int k = 0; k < NB; k++) {
                    engine_process(e, bs[k]);
                    engine_tick(e, BASE_MS + 1500LL * (k + 1));
                    if (k == 7)
                        CHECK(engine_drop(e, names[saved]) == 0);
                    if (k == 10)
                        CHECK(reg(e, names[base], sql[base]) == 0);
                    if (k == 12)
                        CHECK(reg(e, names[base + 1], sql[base + 1]) == 0);
                    if (k == 17)
                        CHECK(reg(e, names[base + 2], sql[base + 2]) == 0);
                }
                engine_finish(e);
                out[t] = transcript(e, &col, names, nq);
                uint64_t workers = 0;
                for (int k = 1; k < threads[t]; k++)
                    workers += engine_thread_busy_ns(e, k);
                CHECK(threads[t] == 1 || workers > 0);
                CHECK(col.n > 0);
                collect_free(&col);
                engine_free(e);
            }
            for (int t = 1; t < 3; t++)
                if (strcmp(out[0], out[t]) != 0) {
                    CHECK(!"one thread and several give different windows");
                    const char *a = out[0], *b = out[t];
                    int line = 1;
                    while (*a && *a == *b) {
                        line += *a == '\n';
                        a++, b++;
                    }
                    fprintf(stderr, "mode %d, %d threads: first difference at "
                            "line %d:\n  1: %.200s\n  %d: %.200s\n", mode,
                            threads[t], line, a, threads[t], b);
                }
            for (int t = 0; t < 3; t++)
                free(out[t]);
        }
        for (int k = 0; k < NB; k++)
            flow_batch_free(bs[k]);
        for (int i = 0; i < nq; i++) {
            free(sql[i]);
            free(names[i]);
        }
        for (int g = 0; g <= NSHAPES; g++)
            shape_free(&sh[g]);
    }
    CHECK(saved >= 10);
    fprintf(stderr, "threads 1/2/4: %d rounds, %d saved queries each\n",
            rounds, saved);
}

int main(void)
{
    const char *s = getenv("FLOWSQL_DIFF_SETS");
    const char *q = getenv("FLOWSQL_DIFF_QUERIES");
    if (s)
        nsets = atoi(s);
    if (q)
        nqueries = atoi(q);
    RUN(test_engine_vs_sqlite);
    RUN(test_shared_vs_sqlite);
    RUN(test_share_on_off);
    RUN(test_threads);
    TEST_EXIT();
}
