/*
 * test_parser.c - the query front end below what the golden files show:
 * the statement and AST each form parses to, literal values, bytes no
 * text file holds, diag_render(), hostile input (huge, deep, long, random)
 * that must end in an error quickly and without a crash, stack safety of
 * the recursive walks, reentrancy, and the docs staying true to the
 * schema and function tables.
 *
 * The golden cases (statement -> EXPLAIN or exact error) are in
 * tests/parser/ and run by test_parser_golden.c.
 */
#include "engine/func.h"
#include "engine/plan.h"
#include "engine/schema.h"
#include "tests/test.h"
#include "util/timeutil.h"

#include <pthread.h>
#include <stdlib.h>

/* ---- helpers ------------------------------------------------------------ */

/* Parse only (no semantic checks) into arena a. */
static stmt_t *parse_str(arena_t *a, const char *sql, diag_t *err)
{
    return parse(a, sql, strlen(sql), err);
}

/* Parse and check; NULL on error (err filled). */
static stmt_t *check_str(arena_t *a, const char *sql, diag_t *err)
{
    stmt_t *st = parse(a, sql, strlen(sql), err);
    if (st && sema_check(st, sql, a, err) < 0)
        return NULL;
    return st;
}

/* The error a statement of len bytes gets, "L:C message", or "ok". */
static char *error_of(const char *sql, size_t len)
{
    diag_t err;
    plan_t *p = plan_compile(sql, len, 0, &err);
    sbuf_t b = SBUF_INIT;
    if (p) {
        sbuf_add(&b, "ok");
        plan_free(p);
    } else {
        sbuf_printf(&b, "%d:%d %s", err.line, err.col, err.msg);
    }
    sbuf_str(&b);
    return sbuf_detach(&b);
}

#define CHECK_ERROR(sql, expected)                                         \
    do {                                                                   \
        char *e_ = error_of(sql, strlen(sql));                             \
        CHECK_STR(e_, expected);                                           \
        free(e_);                                                          \
    } while (0)

/* One select item's expression of a checked statement. */
static ast_t *item(stmt_t *st, int i)
{
    return st->select->items[i].expr;
}

/* ---- statement forms ------------------------------------------------------ */

static void test_statement_kinds(void)
{
    arena_t *a = arena_new();
    diag_t err;
    stmt_t *st;

    st = check_str(a, "SELECT srcip, count(*) FROM flows WINDOW 10s GROUP BY "
                      "srcip", &err);
    CHECK(st && st->kind == STMT_SELECT && st->select->window.present);

    st = check_str(a, "SELECT srcip FROM flows", &err);
    CHECK(st && st->kind == STMT_SELECT && !st->select->window.present);

    st = check_str(a, "CREATE QUERY q1 AS SELECT count(*) FROM flows WINDOW "
                      "1m", &err);
    CHECK(st && st->kind == STMT_CREATE);
    if (st) {
        CHECK_STR(st->name, "q1");
        CHECK_INT(st->if_not_exists, 0);
        CHECK_INT(st->nopts, 0);
        CHECK(st->select != NULL);
    }

    st = check_str(a, "create query if not exists Q2 with (retention = '24h', "
                      "max_groups = 10, kafka_topic = \"t.x\", store = false, "
                      "description = 'it''s') as select count(*) from flows "
                      "window 1m", &err);
    CHECK(st && st->kind == STMT_CREATE);
    if (st) {
        CHECK_STR(st->name, "q2");      /* plain names fold to lower case */
        CHECK_INT(st->if_not_exists, 1);
        CHECK_INT(st->nopts, 5);
        if (st->nopts == 5) {
            CHECK_STR(st->opts[0].key, "retention");
            CHECK_STR(st->opts[0].value, "24h");
            CHECK_STR(st->opts[1].value, "10");
            CHECK_STR(st->opts[2].value, "t.x");
            CHECK_STR(st->opts[3].value, "false");
            CHECK_STR(st->opts[4].value, "it's");
        }
    }

    st = check_str(a, "DROP QUERY q1", &err);
    CHECK(st && st->kind == STMT_DROP);
    if (st) {
        CHECK_STR(st->name, "q1");
        CHECK_INT(st->if_exists, 0);
        CHECK_INT(st->keep_data, 0);
    }
    st = check_str(a, "DROP QUERY IF EXISTS \"Q1\" KEEP DATA;", &err);
    CHECK(st && st->kind == STMT_DROP);
    if (st) {
        CHECK_STR(st->name, "Q1");      /* quoted names keep their case */
        CHECK_INT(st->if_exists, 1);
        CHECK_INT(st->keep_data, 1);
    }

    st = check_str(a, "SHOW QUERIES", &err);
    CHECK(st && st->kind == STMT_SHOW);

    static const struct {
        const char *sql;
        stmt_kind_t inner;
    } ex[] = {
        {"EXPLAIN SELECT count(*) FROM flows", STMT_SELECT},
        {"EXPLAIN CREATE QUERY q AS SELECT count(*) FROM flows WINDOW 1m",
         STMT_CREATE},
        {"EXPLAIN DROP QUERY IF EXISTS q", STMT_DROP},
        {"EXPLAIN SHOW QUERIES", STMT_SHOW},
    };
    for (size_t i = 0; i < sizeof(ex) / sizeof(ex[0]); i++) {
        st = check_str(a, ex[i].sql, &err);
        CHECK(st && st->kind == STMT_EXPLAIN && st->inner &&
              st->inner->kind == ex[i].inner);
    }
    arena_free(a);
}

/* plan_compile() on every statement kind: what a caller (REST, shell)
 * reads from the plan. */
static void test_plan_fields(void)
{
    diag_t err;
    const char *sql = "CREATE QUERY t WITH (max_groups = 7, retention = 5) AS "
                      "SELECT srcip, sum(bytes) AS b FROM flows WHERE proto "
                      "= 'udp' WINDOW 1m SLIDE 30s ON end GROUP BY srcip "
                      "HAVING b > 1 ORDER BY b DESC LIMIT 3";
    plan_t *p = plan_compile(sql, strlen(sql), 0, &err);
    CHECK(p != NULL);
    if (p) {
        CHECK_STR(p->name, "t");
        CHECK_INT(p->mode, PLAN_AGGREGATE);
        CHECK_INT(p->continuous, 1);
        CHECK_INT(p->max_groups, 7);
        CHECK_STR(plan_option(p, "retention"), "5");
        CHECK(plan_option(p, "kafka_topic") == NULL);
        CHECK_INT(p->window.size, 60000);
        CHECK_INT(p->window.slide, 30000);
        CHECK_INT(p->window.time_field, F_END);
        CHECK_INT(p->window.lateness, 60000);
        CHECK_INT(p->nkeys, 1);
        CHECK_INT(p->naggs, 1);
        CHECK_INT(p->ncols, 2);
        CHECK_STR(p->cols[0].name, "srcip");
        CHECK_INT(p->cols[0].key, 0);
        CHECK_STR(p->cols[1].name, "b");
        CHECK_INT(p->cols[1].type, TYPE_INT);
        CHECK_INT(p->norder, 1);
        CHECK_INT(p->order[0].col, 1);
        CHECK_INT(p->order[0].desc, 1);
        CHECK_INT(p->limit, 3);
        CHECK(p->having != NULL && p->filter != NULL);
        CHECK(plan_target(p)->kind == STMT_CREATE);
        plan_free(p);
    }
    /* the default max_groups comes from the caller */
    p = plan_compile("SELECT dstport, count(*) FROM flows GROUP BY 1", 46,
                     5000, &err);
    CHECK(p != NULL);
    if (p) {
        CHECK_INT(p->max_groups, 5000);
        CHECK_INT(p->continuous, 0);
        CHECK_INT(p->limit, -1);
        plan_free(p);
    }
    p = plan_compile("SELECT srcip FROM flows", 23, 0, &err);
    CHECK(p && p->mode == PLAN_ROWS && p->max_groups ==
               PLAN_DEFAULT_MAX_GROUPS);
    plan_free(p);
    p = plan_compile("DROP QUERY x KEEP DATA", 22, 0, &err);
    CHECK(p && plan_target(p)->kind == STMT_DROP && plan_target(p)->keep_data);
    plan_free(p);
    p = plan_compile("EXPLAIN SHOW QUERIES", 20, 0, &err);
    CHECK(p && p->stmt->kind == STMT_EXPLAIN &&
          plan_target(p)->kind == STMT_SHOW);
    plan_free(p);
}

/* ---- SELECT at the AST level ---------------------------------------------- */

static void test_select_ast(void)
{
    arena_t *a = arena_new();
    diag_t err;
    stmt_t *st = check_str(a,
        "SELECT srcip AS s, dstip d, count(*) FROM flows WHERE bytes > 10 "
        "WINDOW 2m SLIDE 30s ON start LATENESS 5s GROUP BY srcip, dstip "
        "HAVING count(*) > 1 ORDER BY s DESC, 2 LIMIT 7", &err);
    CHECK(st != NULL);
    if (st) {
        select_t *s = st->select;
        CHECK_INT(s->nitems, 3);
        CHECK_STR(s->items[0].alias, "s");
        CHECK_STR(s->items[1].alias, "d");
        CHECK(s->items[2].alias == NULL);
        CHECK_STR(s->from, "flows");
        CHECK(s->where && s->where->kind == A_BINARY && s->where->op == OP_GT);
        CHECK_INT(s->window.size, 120000);
        CHECK_INT(s->window.slide, 30000);
        CHECK_INT(s->window.time_field, F_START);
        CHECK_INT(s->window.lateness, 5000);
        CHECK_INT(s->ngroup, 2);
        CHECK(s->having != NULL);
        CHECK_INT(s->norder, 2);
        CHECK_INT(s->order[0].desc, 1);
        CHECK_INT(s->order[0].item, 0);     /* the alias s */
        CHECK_INT(s->order[1].item, 1);     /* position 2 */
        CHECK_INT(s->order[1].desc, 0);
        CHECK_INT(s->has_limit, 1);
        CHECK_INT(s->limit, 7);
    }
    /* receive time by default, no lateness; flow time 60s by default */
    st = check_str(a, "SELECT count(*) FROM flows WINDOW 10s", &err);
    CHECK(st && st->select->window.time_field == F_RECEIVED &&
          st->select->window.lateness == 0 &&
          st->select->window.slide == 10000);
    st = check_str(a, "SELECT count(*) FROM flows WINDOW 10s ON end", &err);
    CHECK(st && st->select->window.time_field == F_END &&
          st->select->window.lateness == 60000);
    arena_free(a);
}

static void test_literals(void)
{
    arena_t *a = arena_new();
    diag_t err;
    stmt_t *st = check_str(a,
        "SELECT 42, 0x1f, -7, 1.5, 2.5e-3, 'it''s', TRUE, false, 500ms, 10s, "
        "5m, 1h, 2d, 192.0.2.1, 2001:db8::1, ::ffff:192.0.2.1 FROM flows",
        &err);
    CHECK(st != NULL);
    if (st) {
        CHECK(item(st, 0)->kind == A_INT && item(st, 0)->v.i == 42);
        CHECK(item(st, 1)->kind == A_INT && item(st, 1)->v.i == 31);
        CHECK(item(st, 2)->kind == A_INT && item(st, 2)->v.i == -7);
        CHECK(item(st, 3)->kind == A_FLOAT && item(st, 3)->v.f == 1.5);
        CHECK(item(st, 4)->kind == A_FLOAT && item(st, 4)->v.f == 2.5e-3);
        CHECK(item(st, 5)->kind == A_STRING);
        CHECK_STR(item(st, 5)->v.s, "it's");
        CHECK(item(st, 6)->kind == A_BOOL && item(st, 6)->v.i == 1);
        CHECK(item(st, 7)->kind == A_BOOL && item(st, 7)->v.i == 0);
        static const int64_t ms[] = {500, 10000, 300000, 3600000, 172800000};
        for (int i = 0; i < 5; i++) {
            CHECK(item(st, 8 + i)->kind == A_DURATION);
            CHECK_INT(item(st, 8 + i)->v.i, ms[i]);
            CHECK_INT(item(st, 8 + i)->type, TYPE_DURATION);
        }
        ipaddr_t v4 = ipaddr_from_v4(0xc0000201);
        CHECK(item(st, 13)->kind == A_IP);
        CHECK(ipaddr_cmp(&item(st, 13)->v.ip, &v4) == 0);
        CHECK(!ipaddr_is_v4(&item(st, 14)->v.ip));
        CHECK_INT(item(st, 14)->v.ip.a[0], 0x20);
        CHECK_INT(item(st, 14)->v.ip.a[15], 1);
        CHECK(ipaddr_cmp(&item(st, 15)->v.ip, &v4) == 0);
    }
    st = check_str(a, "SELECT srcip FROM flows WHERE srcip IN 10.1.2.3/8 OR "
                      "dstip IN 2001:db8::/32", &err);
    CHECK(st != NULL);
    if (st) {
        ast_t *in4 = st->select->where->a, *in6 = st->select->where->b;
        CHECK(in4->kind == A_IN && in4->c && in4->c->kind == A_CIDR);
        CHECK_INT(in4->c->prefix, 104);     /* 96 + 8 */
        ipaddr_t net = ipaddr_from_v4(0x0a000000);
        CHECK(ipaddr_cmp(&in4->c->v.ip, &net) == 0);  /* host bits cleared */
        CHECK(in6->kind == A_IN && in6->c && in6->c->prefix == 32);
    }
    /* protocol names, flags and times fold to numbers */
    st = check_str(a, "SELECT srcip FROM flows WHERE proto = 'TCP' AND "
                      "tcpflags = 'SYN|ACK' AND start > '1970-01-01T00:00:01Z'",
                   &err);
    CHECK(st != NULL);
    if (st) {
        ast_t *w = st->select->where;       /* (a AND b) AND c */
        CHECK_INT(w->a->a->b->v.i, 6);
        CHECK_INT(w->a->b->b->v.i, 0x12);
        CHECK_INT(w->b->b->v.i, 1000);
        CHECK_INT(w->b->b->type, TYPE_TIME);
    }
    arena_free(a);
}

static void test_names_and_case(void)
{
    arena_t *a = arena_new();
    diag_t err;
    stmt_t *st = check_str(a, "sElEcT SRCIP, \"DstIP\", Count(*) AS \"N\" "
                              "FrOm FLOWS gRoUp By 1, 2", &err);
    CHECK(st != NULL);
    if (st) {
        CHECK_STR(item(st, 0)->name, "srcip");
        CHECK_INT(item(st, 0)->field, F_SRCIP);
        CHECK_INT(item(st, 1)->field, F_DSTIP);  /* fields: any case */
        CHECK_STR(item(st, 2)->name, "count");
        CHECK_STR(st->select->items[2].alias, "N");
        CHECK_STR(st->select->from, "flows");
    }
    /* a quoted name may hold a doubled quote */
    st = parse_str(a, "SELECT srcip AS \"a\"\"b\" FROM flows", &err);
    CHECK(st && strcmp(st->select->items[0].alias, "a\"b") == 0);
    arena_free(a);
}

/* Types sema gives (what the expression compiler relies on). */
static void test_types(void)
{
    static const struct {
        const char *expr;
        type_t      type;
    } cases[] = {
        {"bytes", TYPE_INT}, {"srcip", TYPE_IP}, {"start", TYPE_TIME},
        {"duration", TYPE_DURATION}, {"bytes / packets", TYPE_INT},
        {"bytes / 2.0", TYPE_FLOAT}, {"end - start", TYPE_DURATION},
        {"start + 10s", TYPE_TIME}, {"duration * 2", TYPE_DURATION},
        {"bytes > 1", TYPE_BOOL}, {"srcip IN 10.0.0.0/8", TYPE_BOOL},
        {"network(srcip, 8)", TYPE_IP}, {"proto_name(proto)", TYPE_STRING},
        {"round(1.5)", TYPE_INT}, {"least(1, 2.0)", TYPE_FLOAT},
        {"CASE WHEN TRUE THEN 1 ELSE 2.0 END", TYPE_FLOAT},
        {"has_flags(tcpflags, 'S')", TYPE_BOOL}, {"family(srcip)", TYPE_INT},
        {"time_floor(start, 1m)", TYPE_TIME}, {"-duration", TYPE_DURATION},
        {"-start", TYPE_INT}, {"~tos", TYPE_INT},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char sql[200];
        snprintf(sql, sizeof(sql), "SELECT %s FROM flows", cases[i].expr);
        arena_t *a = arena_new();
        diag_t err;
        stmt_t *st = check_str(a, sql, &err);
        CHECK(st != NULL);
        if (st && item(st, 0)->type != cases[i].type) {
            fprintf(stderr, "type of %s: %s, expected %s\n", cases[i].expr,
                    type_name(item(st, 0)->type), type_name(cases[i].type));
            test_failed_now++;
        }
        arena_free(a);
    }
    arena_t *a = arena_new();
    diag_t err;
    stmt_t *st = check_str(a, "SELECT sum(bytes), avg(bytes), min(srcip), "
                              "count(DISTINCT dstip), topk(dstport, 3), "
                              "approx_count_distinct(srcip) FROM flows", &err);
    CHECK(st != NULL);
    if (st) {
        static const type_t t[] = {TYPE_INT, TYPE_FLOAT, TYPE_IP, TYPE_INT,
                                   TYPE_STRING, TYPE_INT};
        for (int i = 0; i < 6; i++) {
            CHECK_INT(item(st, i)->type, t[i]);
            CHECK_INT(item(st, i)->is_agg, 1);
        }
        CHECK_INT(item(st, 3)->distinct, 1);
        CHECK_INT(item(st, 3)->fn, FN_COUNT);
        CHECK_INT(item(st, 4)->fn, FN_TOPK);
    }
    arena_free(a);
}

/* ---- errors the golden files cannot hold -------------------------------- */

static void test_nul_and_control_bytes(void)
{
    char *e = error_of("SELECT srcip\0 FROM flows", 24);
    CHECK_STR(e, "1:13 unexpected NUL byte");
    free(e);
    e = error_of("SELECT 'a\0b' FROM flows", 23);
    CHECK_STR(e, "1:10 unexpected NUL byte");
    free(e);
    e = error_of("\0", 1);
    CHECK_STR(e, "1:1 unexpected NUL byte");
    free(e);
    CHECK_ERROR("SELECT \x01 FROM flows", "1:8 unexpected byte 0x01");
    CHECK_ERROR("SELECT srcip\x7f FROM flows", "1:13 unexpected byte 0x7f");
    CHECK_ERROR("SELECT \x1b[31m FROM flows", "1:8 unexpected byte 0x1b");
    /* a lone byte that is not UTF-8 */
    CHECK_ERROR("SELECT \xff FROM flows", "1:8 unexpected non-ASCII text "
                "(only 'strings' and \"quoted names\" may hold it)");
    /* inside a string anything but NUL goes */
    CHECK_ERROR("SELECT '\x01\xff\t' FROM flows", "ok");
    /* the whole statement: only the given bytes count */
    e = error_of("SELECT srcip FROM flows; garbage", 24);
    CHECK_STR(e, "ok");
    free(e);
}

static void test_empty_input(void)
{
    CHECK_ERROR("", "0:0 empty statement");
    CHECK_ERROR(" \t\r\n\f\v", "0:0 empty statement");
    CHECK_ERROR("-- only a comment", "0:0 empty statement");
    CHECK_ERROR("/* */ -- x\n", "0:0 empty statement");
    diag_t err;
    plan_t *p = plan_compile(NULL, 0, 0, &err);
    CHECK(p == NULL && err.set);
}

static void test_diag_render(void)
{
    char buf[1024];
    diag_t d;
    const char *sql = "SELECT srcip,\n       bogus\n  FROM flows";
    diag_clear(&d);
    diag_at(&d, sql, 21, 5, "unknown field '%s'", "bogus");
    CHECK_INT(d.line, 2);
    CHECK_INT(d.col, 8);
    CHECK_STR(diag_render(&d, sql, buf, sizeof(buf)),
              "line 2, column 8: unknown field 'bogus'\n"
              "         bogus\n"
              "         ^^^^^");
    /* the first error wins */
    diag_at(&d, sql, 0, 6, "second");
    CHECK_STR(d.msg, "unknown field 'bogus'");

    /* no position: the message alone */
    diag_clear(&d);
    diag_set(&d, "empty statement");
    CHECK_STR(diag_render(&d, sql, buf, sizeof(buf)), "empty statement");
    CHECK_INT(d.line, 0);

    /* no error: empty */
    diag_clear(&d);
    CHECK_STR(diag_render(&d, sql, buf, sizeof(buf)), "");

    /* at the end of the text: one caret after the last character */
    diag_clear(&d);
    diag_at(&d, "SELECT", 6, 1, "unexpected end of statement");
    CHECK_STR(diag_render(&d, "SELECT", buf, sizeof(buf)),
              "line 1, column 7: unexpected end of statement\n"
              "  SELECT\n"
              "        ^");

    /* tabs stay tabs so the caret lines up */
    diag_clear(&d);
    diag_at(&d, "\tSELECT\tx", 8, 1, "m");
    CHECK_STR(diag_render(&d, "\tSELECT\tx", buf, sizeof(buf)),
              "line 1, column 9: m\n  \tSELECT\tx\n  \t      \t^");

    /* columns count UTF-8 characters, carets too */
    diag_clear(&d);
    const char *u = "SELECT 'größe', äx";
    diag_at(&d, u, 18, 3, "m");         /* "äx": 3 bytes, 2 characters */
    CHECK_INT(d.col, 17);
    CHECK_STR(diag_render(&d, u, buf, sizeof(buf)),
              "line 1, column 17: m\n  SELECT 'größe', äx\n"
              "                  ^^");

    /* a long line: a window around the error, cut with "..." */
    sbuf_t b = SBUF_INIT;
    for (int i = 0; i < 100; i++)
        sbuf_add(&b, "abcde");
    diag_clear(&d);
    diag_at(&d, sbuf_str(&b), 300, 5, "m");
    diag_render(&d, sbuf_str(&b), buf, sizeof(buf));
    const char *l2 = strchr(buf, '\n') + 1, *l3 = strchr(l2, '\n') + 1;
    CHECK(strncmp(l2, "  ...", 5) == 0);
    CHECK(strstr(l2, "...\n") != NULL);
    CHECK_INT((int)(strchr(l2, '\n') - l2), 2 + 3 + 200 + 3);
    /* the caret sits under offset 300, shown 80 bytes after the cut */
    CHECK_INT((int)(strchr(l3, '^') - l3), 2 + 3 + 80);
    CHECK(strcmp(strchr(l3, '^'), "^^^^^") == 0);
    CHECK_INT(l2[2 + 3 + 80], 'a');
    sbuf_free(&b);

    /* a small buffer is cut, never overrun */
    diag_clear(&d);
    diag_at(&d, sql, 21, 5, "unknown field '%s'", "bogus");
    char small[16];
    memset(small, 'x', sizeof(small));
    diag_render(&d, sql, small, sizeof(small));
    CHECK(memchr(small, 0, sizeof(small)) != NULL);
    CHECK_STR(small, "line 2, column ");
    char one[1] = {'x'};
    diag_render(&d, sql, one, 1);
    CHECK_INT(one[0], 0);

    /* a statement's error renders with its own text */
    const char *q = "SELECT srcip\nFROM flows\nWHERE bytes > 'x'";
    plan_t *p = plan_compile(q, strlen(q), 0, &d);
    CHECK(p == NULL);
    CHECK_STR(diag_render(&d, q, buf, sizeof(buf)),
              "line 3, column 13: cannot compare int with string\n"
              "  WHERE bytes > 'x'\n"
              "              ^");
}

/* ---- hostile input ---------------------------------------------------------- */

#define MB (1 << 20)

/* Compile text, demand the error, a bound on time. */
static void expect_error_fast(const char *what, const char *sql, size_t len,
                              const char *msg_start)
{
    int64_t t0 = time_mono_ms();
    diag_t err;
    plan_t *p = plan_compile(sql, len, 0, &err);
    int64_t ms = time_mono_ms() - t0;
    if (p) {
        fprintf(stderr, "%s: accepted\n", what);
        test_failed_now++;
        plan_free(p);
        return;
    }
    if (strncmp(err.msg, msg_start, strlen(msg_start)) != 0) {
        fprintf(stderr, "%s: error [%s], expected [%s...]\n", what, err.msg,
                msg_start);
        test_failed_now++;
    }
    /* Generous for sanitizers and a loaded machine: quadratic work on a
     * megabyte would take minutes. */
    if (ms > 5000) {
        fprintf(stderr, "%s: took %lld ms\n", what, (long long)ms);
        test_failed_now++;
    }
}

static char *repeat(const char *head, const char *unit, size_t total,
                    const char *tail, size_t *len)
{
    sbuf_t b = SBUF_INIT;
    sbuf_add(&b, head);
    size_t ul = strlen(unit), tl = strlen(tail);
    while (b.len + ul + tl <= total)
        sbuf_add(&b, unit);
    sbuf_add(&b, tail);
    *len = b.len;
    return sbuf_detach(&b);
}

static void test_megabyte_inputs(void)
{
    size_t len;
    char *s;

    s = repeat("SELECT ", "(", MB, "1", &len);
    expect_error_fast("1 MB of (", s, len, "expression nested too deeply");
    free(s);

    /* balanced: as deep as it goes, then closed */
    sbuf_t b = SBUF_INIT;
    sbuf_add(&b, "SELECT ");
    for (int i = 0; i < MB / 2 - 8; i++)
        sbuf_addc(&b, '(');
    sbuf_addc(&b, '1');
    for (int i = 0; i < MB / 2 - 8; i++)
        sbuf_addc(&b, ')');
    expect_error_fast("1 MB of (((1)))", sbuf_str(&b), b.len,
                      "expression nested too deeply");
    sbuf_free(&b);

    s = repeat("SELECT ", "1+", MB - 1, "1", &len);
    expect_error_fast("1 MB of 1+1+...", s, len,
                      "expression nested too deeply (more than 200 levels)");
    free(s);

    s = repeat("SELECT srcip FROM flows WHERE ", "TRUE AND ", MB - 8,
               "TRUE", &len);
    expect_error_fast("1 MB of AND", s, len, "expression nested too deeply");
    free(s);

    s = repeat("SELECT ", "NOT ", MB - 8, "TRUE", &len);
    expect_error_fast("1 MB of NOT", s, len, "expression nested too deeply");
    free(s);

    s = repeat("SELECT ", "- ", MB - 8, "1", &len);
    expect_error_fast("1 MB of unary minus", s, len,
                      "expression nested too deeply");
    free(s);

    s = repeat("SELECT ", "abs(", MB - 8, "1", &len);
    expect_error_fast("1 MB of abs(", s, len, "expression nested too deeply");
    free(s);

    s = repeat("SELECT ", "CASE WHEN TRUE THEN ", MB - 8, "1", &len);
    expect_error_fast("1 MB of nested CASE", s, len,
                      "expression nested too deeply");
    free(s);

    s = repeat("SELECT 'abc", "x", MB, "", &len);
    expect_error_fast("unterminated 1 MB string", s, len,
                      "unterminated string");
    free(s);

    s = repeat("SELECT 1 /*", "x", MB, "", &len);
    expect_error_fast("unterminated 1 MB comment", s, len,
                      "unterminated comment");
    free(s);

    s = repeat("SELECT \"", "x", MB, "", &len);
    expect_error_fast("unterminated 1 MB quoted name", s, len,
                      "unterminated quoted name");
    free(s);

    s = repeat("SELECT ", "9", MB, " FROM flows", &len);
    expect_error_fast("1 MB integer", s, len, "integer literal out of range");
    free(s);

    s = repeat("SELECT ", "9", MB, "s FROM flows", &len);
    expect_error_fast("1 MB duration", s, len, "duration out of range");
    free(s);

    s = repeat("SELECT 1", "0", MB, "e999 FROM flows", &len);
    expect_error_fast("1 MB float", s, len, "number out of range");
    free(s);

    s = repeat("SELECT 0x", "f", MB, " FROM flows", &len);
    expect_error_fast("1 MB hexadecimal", s, len,
                      "integer literal out of range");
    free(s);

    s = repeat("SELECT ", "1.", MB - 1, "1", &len);
    expect_error_fast("1 MB of 1.1.1.", s, len, "invalid address");
    free(s);

    s = repeat("SELECT srcip FROM flows WHERE dstip = ", "1:", MB - 1, "1",
               &len);
    expect_error_fast("1 MB IPv6-like", s, len, "invalid IP address");
    free(s);

    s = repeat("SELECT ", "a", MB, " FROM flows", &len);
    expect_error_fast("1 MB name", s, len, "unknown field");
    free(s);

    s = repeat("", " ", MB, "", &len);
    expect_error_fast("1 MB of blanks", s, len, "empty statement");
    free(s);

    s = repeat("", "-- x\n", MB, "", &len);
    expect_error_fast("1 MB of comments", s, len, "empty statement");
    free(s);

    s = repeat("SELECT ", "1, ", MB - 64, "1 FROM flows", &len);
    expect_error_fast("a select list of 350000 items", s, len,
                      "too many columns in the select list (at most 1000)");
    free(s);

    s = repeat("SELECT srcip FROM flows WHERE dstport IN (", "1,", MB - 8,
               "1)", &len);
    expect_error_fast("IN list of 500000", s, len,
                      "list too long (at most 100000 items)");
    free(s);

    s = repeat("SELECT least(", "1,", MB - 32, "1) FROM flows", &len);
    expect_error_fast("500000 arguments", s, len, "list too long");
    free(s);

    s = repeat("SELECT count(*) FROM flows GROUP BY ", "srcip,", MB - 8,
               "srcip", &len);
    expect_error_fast("GROUP BY 170000 keys", s, len,
                      "too many GROUP BY expressions (at most 100)");
    free(s);

    s = repeat("SELECT srcip FROM flows ORDER BY ", "srcip,", MB - 8,
               "srcip", &len);
    expect_error_fast("ORDER BY 170000 keys", s, len,
                      "too many ORDER BY expressions (at most 100)");
    free(s);

    s = repeat("CREATE QUERY q WITH (", "store = 1, ", MB - 64,
               "store = 1) AS SELECT count(*) FROM flows WINDOW 1m", &len);
    expect_error_fast("95000 options", s, len, "too many options (at most 32)");
    free(s);

    s = repeat("SELECT least(", "sum(bytes + 1), ", MB - 32, "1) FROM flows",
               &len);
    expect_error_fast("65000 aggregates", s, len,
                      "too many aggregate functions (at most 1000)");
    free(s);

    /* just over the limit of text */
    s = repeat("SELECT srcip FROM flows", " ", MB + 1, "", &len);
    expect_error_fast("more than 1 MB", s, len, "statement too long");
    free(s);
}

/* Inputs at the limits that must still work, and quickly. */
static void test_large_but_valid(void)
{
    sbuf_t b = SBUF_INIT;
    diag_t err;
    int64_t t0 = time_mono_ms();

    /* the deepest expression allowed: 199 additions */
    sbuf_add(&b, "SELECT ");
    for (int i = 0; i < AST_MAX_DEPTH - 1; i++)
        sbuf_add(&b, "bytes + ");
    sbuf_add(&b, "1 FROM flows WHERE ");
    for (int i = 0; i < AST_MAX_DEPTH - 2; i++)
        sbuf_add(&b, "NOT ");
    sbuf_add(&b, "TRUE GROUP BY 1");
    plan_t *p = plan_compile(sbuf_str(&b), b.len, 0, &err);
    CHECK(p != NULL);
    if (p) {
        sbuf_t e = SBUF_INIT;
        plan_explain(p, &e);
        CHECK(e.len > 2000);
        sbuf_free(&e);
        plan_free(p);
    } else {
        fprintf(stderr, "%s\n", err.msg);
    }
    sbuf_free(&b);

    /* one more level is refused */
    sbuf_add(&b, "SELECT ");
    for (int i = 0; i < AST_MAX_DEPTH; i++)
        sbuf_add(&b, "bytes + ");
    sbuf_add(&b, "1 FROM flows");
    char *e = error_of(sbuf_str(&b), b.len);
    CHECK(strstr(e, "expression nested too deeply (more than 200 levels)"));
    free(e);
    sbuf_free(&b);

    /* 1000 columns, all count(*): names count, count_2 ... count_1000 */
    sbuf_add(&b, "SELECT ");
    for (int i = 0; i < PARSE_MAX_COLUMNS; i++)
        sbuf_add(&b, i ? ", count(*)" : "count(*)");
    sbuf_add(&b, " FROM flows");
    p = plan_compile(sbuf_str(&b), b.len, 0, &err);
    CHECK(p != NULL);
    if (p) {
        CHECK_INT(p->ncols, PARSE_MAX_COLUMNS);
        CHECK_INT(p->naggs, 1);
        CHECK_STR(p->cols[0].name, "count");
        CHECK_STR(p->cols[999].name, "count_1000");
        plan_free(p);
    }
    sbuf_free(&b);

    /* 1000 different aggregates */
    sbuf_add(&b, "SELECT ");
    for (int i = 0; i < SEMA_MAX_AGGREGATES; i++)
        sbuf_printf(&b, "%ssum(bytes + %d)", i ? ", " : "", i);
    sbuf_add(&b, " FROM flows");
    p = plan_compile(sbuf_str(&b), b.len, 0, &err);
    CHECK(p && p->naggs == SEMA_MAX_AGGREGATES);
    plan_free(p);
    sbuf_free(&b);

    /* an IN list of 100000 and a GROUP BY of 100 keys over 1000 columns */
    sbuf_add(&b, "SELECT ");
    for (int i = 0; i < PARSE_MAX_COLUMNS - 1; i++)
        sbuf_printf(&b, "%sbytes + %d", i ? ", " : "", i % PARSE_MAX_KEYS);
    sbuf_add(&b, ", count(*) FROM flows WHERE dstport IN (");
    for (int i = 0; i < PARSE_MAX_LIST; i++)
        sbuf_printf(&b, "%s%d", i ? "," : "", i);
    sbuf_add(&b, ") GROUP BY ");
    for (int i = 0; i < PARSE_MAX_KEYS; i++)
        sbuf_printf(&b, "%sbytes + %d", i ? ", " : "", i);
    p = plan_compile(sbuf_str(&b), b.len, 0, &err);
    CHECK(p != NULL);
    if (p) {
        CHECK_INT(p->nkeys, PARSE_MAX_KEYS);
        CHECK_INT(p->ncols, PARSE_MAX_COLUMNS);
        CHECK_INT(p->filter->nlist, PARSE_MAX_LIST);
        plan_free(p);
    } else {
        fprintf(stderr, "%s\n", err.msg);
    }
    sbuf_free(&b);

    int64_t ms = time_mono_ms() - t0;
    if (ms > 10000) {
        fprintf(stderr, "large valid statements took %lld ms\n",
                (long long)ms);
        test_failed_now++;
    }
}

/* Random bytes, random tokens: every one an answer, never a crash (the
 * sanitizer build runs this too). A fixed seed, so a failure repeats. */
static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* A random expression from a small grammar: often ill-typed, sometimes
 * not. */
static void gen_expr(sbuf_t *b, int depth)
{
    static const char *const leaves[] = {
        "bytes", "packets", "srcip", "dstip", "proto", "start", "duration",
        "tcpflags", "1", "2.5", "'tcp'", "'S'", "10s", "10.0.0.1", "TRUE",
        "0x10", "-3", "'2026-01-01'", "count(*)", "\"end\"",
    };
    static const char *const binops[] = {
        " + ", " - ", " * ", " / ", " % ", " & ", " | ", " = ", " != ",
        " < ", " >= ", " AND ", " OR ",
    };
    static const char *const funcs[] = {
        "abs", "sum", "max", "network", "has_flags", "least", "round",
        "family", "proto_name", "time_floor", "count", "avg",
    };
    int r = depth > 3 ? 0 : (int)(next_rand() % 8);
    switch (r) {
    case 1: case 2:
        gen_expr(b, depth + 1);
        sbuf_add(b, binops[next_rand() % 13]);
        gen_expr(b, depth + 1);
        return;
    case 3:
        sbuf_add(b, next_rand() % 2 ? "NOT " : "-");
        gen_expr(b, depth + 1);
        return;
    case 4:
        sbuf_printf(b, "%s(", funcs[next_rand() % 12]);
        gen_expr(b, depth + 1);
        if (next_rand() % 2) {
            sbuf_add(b, ", ");
            gen_expr(b, depth + 1);
        }
        sbuf_addc(b, ')');
        return;
    case 5:
        sbuf_addc(b, '(');
        gen_expr(b, depth + 1);
        sbuf_addc(b, ')');
        return;
    case 6:
        gen_expr(b, depth + 1);
        sbuf_add(b, next_rand() % 2 ? " IN (1, 2, 'udp')" : " IN 10.0.0.0/8");
        return;
    default:
        sbuf_add(b, leaves[next_rand() % 20]);
    }
}

/* Random bytes, random token soup and random expressions: every one an
 * answer, never a crash (the sanitizer build runs this too). A fixed
 * seed, so a failure repeats. */
static void test_garbage(void)
{
    static const char *const toks[] = {
        "SELECT", "FROM", "flows", "WHERE", "WINDOW", "10s", "SLIDE", "ON",
        "end", "LATENESS", "GROUP", "BY", "HAVING", "ORDER", "LIMIT", "ASC",
        "DESC", "(", ")", ",", ";", "*", "+", "-", "/", "%", "=", "!=", "<",
        ">=", "AND", "OR", "NOT", "IN", "BETWEEN", "CASE", "WHEN", "THEN",
        "ELSE", "END", "count", "sum", "srcip", "dstip", "bytes", "proto",
        "'tcp'", "1", "2.5", "0x10", "10.0.0.0/8", "2001:db8::1", "1.2.3.4",
        "TRUE", "DISTINCT", "AS", "x", "network", "CREATE", "QUERY", "DROP",
        "IF", "EXISTS", "KEEP", "DATA", "SHOW", "QUERIES", "EXPLAIN", "WITH",
        "'", "\"", "/*", "--", "\n", "é", "~", "&", "|",
    };
    const int ntoks = (int)(sizeof(toks) / sizeof(toks[0]));
    int accepted = 0, refused = 0;
    for (int round = 0; round < 30000; round++) {
        sbuf_t b = SBUF_INIT;
        switch (round % 3) {
        case 0: {
            size_t len = next_rand() % 512;
            for (size_t i = 0; i < len; i++)
                sbuf_addc(&b, (char)(next_rand() & 0xff));
            break;
        }
        case 1: {
            int n = 1 + (int)(next_rand() % 30);
            for (int i = 0; i < n; i++) {
                sbuf_add(&b, toks[next_rand() % (uint64_t)ntoks]);
                sbuf_addc(&b, ' ');
            }
            break;
        }
        default:
            sbuf_add(&b, "SELECT ");
            gen_expr(&b, 0);
            sbuf_add(&b, " FROM flows");
            if (next_rand() % 2) {
                sbuf_add(&b, " WHERE ");
                gen_expr(&b, 0);
            }
            if (next_rand() % 2)
                sbuf_add(&b, " WINDOW 1m");
            if (next_rand() % 3 == 0) {
                sbuf_add(&b, " GROUP BY ");
                gen_expr(&b, 1);
            }
        }
        diag_t err;
        plan_t *p = plan_compile(b.s ? b.s : "", b.len, 0, &err);
        if (p) {
            sbuf_t e = SBUF_INIT;
            plan_explain(p, &e);
            CHECK(e.len > 0);
            sbuf_free(&e);
            plan_free(p);
            accepted++;
        } else {
            CHECK(err.set && err.msg[0]);
            CHECK(err.offset <= (int)b.len);
            char r[1024];
            diag_render(&err, sbuf_str(&b), r, sizeof(r));
            refused++;
        }
        sbuf_free(&b);
    }
    /* both paths are taken, the planner's too */
    CHECK(accepted > 100);
    CHECK(refused > 100);
}

/* Every single byte value alone and after a valid prefix. */
static void test_every_byte(void)
{
    for (int c = 0; c < 256; c++) {
        char one[1] = {(char)c};
        char *e = error_of(one, 1);
        CHECK(strcmp(e, "ok") != 0);
        free(e);
        char sql[64];
        int n = snprintf(sql, sizeof(sql), "SELECT srcip FROM flows WHERE ");
        sql[n++] = (char)c;
        e = error_of(sql, (size_t)n);
        CHECK(strncmp(e, "1:", 2) == 0 || strncmp(e, "2:", 2) == 0 ||
              strncmp(e, "0:0", 3) == 0);
        free(e);
    }
}

/* ---- reentrancy ----------------------------------------------------------- */

static const char *const thread_sql[] = {
    "SELECT srcip, count(*) FROM flows WINDOW 10s GROUP BY srcip",
    "SELECT srcipp FROM flows",
    "SELECT network(dstip, 24) AS n, sum(bytes) FROM flows WINDOW 1m SLIDE "
    "10s GROUP BY n HAVING sum(bytes) > 5 ORDER BY 2 DESC LIMIT 3",
    "SELECT 1 +",
};

static char *answer(const char *sql)
{
    diag_t err;
    sbuf_t b = SBUF_INIT;
    plan_t *p = plan_compile(sql, strlen(sql), 0, &err);
    if (p) {
        plan_explain(p, &b);
        plan_free(p);
    } else {
        char r[1024];
        sbuf_add(&b, diag_render(&err, sql, r, sizeof(r)));
    }
    sbuf_str(&b);
    return sbuf_detach(&b);
}

static void *thread_main(void *arg)
{
    char **expected = arg;
    for (int round = 0; round < 200; round++)
        for (int i = 0; i < 4; i++) {
            char *got = answer(thread_sql[i]);
            if (strcmp(got, expected[i]) != 0) {
                free(got);
                return (void *)1;
            }
            free(got);
        }
    return NULL;
}

static void test_reentrant(void)
{
    char *expected[4];
    for (int i = 0; i < 4; i++)
        expected[i] = answer(thread_sql[i]);
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        CHECK(pthread_create(&th[i], NULL, thread_main, expected) == 0);
    for (int i = 0; i < 4; i++) {
        void *r = (void *)1;
        pthread_join(th[i], &r);
        CHECK(r == NULL);
    }
    for (int i = 0; i < 4; i++)
        free(expected[i]);
}

/* ---- stack use ---------------------------------------------------------- */

/* The deepest statements there are, compiled and explained on a thread
 * with a small stack: no walk of the tree (sema, alias substitution,
 * grouping checks, the planner, ast_print, ast_equal) may recurse
 * beyond what AST_MAX_DEPTH bounds. A HAVING as deep as allowed whose
 * leaf is an alias of a select item as deep as allowed is twice as deep
 * as anything written. */
static char *deep_statement(int kind)
{
    sbuf_t b = SBUF_INIT;
    int n = AST_MAX_DEPTH - 2;
    switch (kind) {
    case 0:     /* deep item, grouped, aliased, used in HAVING and ORDER */
        sbuf_add(&b, "SELECT ");
        for (int i = 0; i < n; i++)
            sbuf_add(&b, "bytes + ");
        sbuf_add(&b, "1 AS deep, count(*) FROM flows WINDOW 1m GROUP BY "
                     "deep HAVING ");
        for (int i = 0; i < n; i++)
            sbuf_add(&b, "deep + ");
        sbuf_add(&b, "deep > 0 ORDER BY ");
        for (int i = 0; i < n; i++)
            sbuf_add(&b, "deep - ");
        sbuf_add(&b, "deep DESC");
        break;
    case 1:     /* deep right-nested parentheses and calls */
        sbuf_add(&b, "SELECT ");
        for (int i = 0; i < 180; i++)
            sbuf_add(&b, "abs(");
        sbuf_add(&b, "bytes");
        for (int i = 0; i < 180; i++)
            sbuf_add(&b, ")");
        sbuf_add(&b, " AS a, sum(bytes) FROM flows GROUP BY 1 ORDER BY a");
        break;
    default:    /* deep CASE and NOT nesting in WHERE */
        sbuf_add(&b, "SELECT srcip FROM flows WHERE ");
        for (int i = 0; i < 60; i++)
            sbuf_add(&b, "CASE WHEN NOT ");
        sbuf_add(&b, "TRUE");
        for (int i = 0; i < 60; i++)
            sbuf_add(&b, " THEN TRUE ELSE FALSE END");
        break;
    }
    sbuf_str(&b);
    return sbuf_detach(&b);
}

static void *deep_thread(void *arg)
{
    (void)arg;
    for (int kind = 0; kind < 3; kind++) {
        char *sql = deep_statement(kind);
        diag_t err;
        plan_t *p = plan_compile(sql, strlen(sql), 0, &err);
        if (!p) {
            fprintf(stderr, "deep statement %d: %s\n", kind, err.msg);
            free(sql);
            return (void *)1;
        }
        sbuf_t e = SBUF_INIT;
        plan_explain(p, &e);
        sbuf_free(&e);
        plan_free(p);
        free(sql);
    }
    return NULL;
}

static void test_small_stack(void)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    size_t stack = 4 << 20;     /* sanitizer frames are several times larger */
#else
    size_t stack = 256 << 10;
#endif
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, stack);
    pthread_t th;
    CHECK(pthread_create(&th, &attr, deep_thread, NULL) == 0);
    void *r = (void *)1;
    pthread_join(th, &r);
    CHECK(r == NULL);
    pthread_attr_destroy(&attr);
}

/* ---- printing ----------------------------------------------------------- */

/* ast_print() writes what parses back to the same tree: EXPLAIN and
 * column names never show what the engine does not run. */
static void test_print_roundtrip(void)
{
    static const char *const exprs[] = {
        "(bytes = 1) = TRUE", "NOT (bytes > 1) = FALSE", "- -bytes",
        "-(-bytes)", "~-bytes", "bytes - -1", "bytes - (packets - 1)",
        "(bytes + 1) * 2", "2.0 * bytes", "bytes / 3.0", "1e300 + 0.1",
        "tos & 3 | 4", "tos | 3 & 4", "(tos | 3) & 4",
        "(bytes BETWEEN 1 AND 2) = TRUE", "(bytes IN (1, 2)) = TRUE",
        "NOT bytes IN (1, 2)", "NOT NOT TRUE", "srcip NOT IN 10.0.0.0/8",
        "CASE WHEN bytes > 1 THEN 'a''b' ELSE 'c' END = 'x'",
        "start > '1999-12-31T23:59:59.999Z'", "proto IN ('tcp', 'udp')",
        "-0.0 < 1.0", "duration > -10s", "(srcport = 1 OR dstport = 2) AND TRUE",
    };
    for (size_t i = 0; i < sizeof(exprs) / sizeof(exprs[0]); i++) {
        char sql[300];
        snprintf(sql, sizeof(sql), "SELECT %s FROM flows", exprs[i]);
        arena_t *a = arena_new();
        diag_t err;
        stmt_t *st = check_str(a, sql, &err);
        CHECK(st != NULL);
        if (!st) {
            fprintf(stderr, "%s: %s\n", exprs[i], err.msg);
            arena_free(a);
            continue;
        }
        sbuf_t p1 = SBUF_INIT, p2 = SBUF_INIT;
        ast_print(&p1, item(st, 0), NULL, NULL);
        char sql2[400];
        snprintf(sql2, sizeof(sql2), "SELECT %s FROM flows", sbuf_str(&p1));
        stmt_t *st2 = check_str(a, sql2, &err);
        CHECK(st2 != NULL);
        if (st2) {
            CHECK(ast_equal(item(st, 0), item(st2, 0)));
            ast_print(&p2, item(st2, 0), NULL, NULL);
            CHECK_STR(sbuf_str(&p2), sbuf_str(&p1));
        } else {
            fprintf(stderr, "%s printed as %s: %s\n", exprs[i],
                    sbuf_str(&p1), err.msg);
        }
        sbuf_free(&p1);
        sbuf_free(&p2);
        arena_free(a);
    }
}

/* ---- parse_is_stored_select ------------------------------------------- */

static void test_stored_select(void)
{
    static const struct {
        const char *sql;
        int         stored;
    } cases[] = {
        {"SELECT srcip FROM flows", 0},
        {"select count(*) from FLOWS window 1m", 0},
        {"SELECT * FROM talkers", 1},
        {"SELECT window_start, bytes FROM talkers WHERE bytes > 1", 1},
        {"SELECT x FROM (SELECT 1 AS x FROM flows)", 1},
        {"WITH t AS (SELECT 1) SELECT * FROM t", 1},
        {"VALUES (1, 2)", 1},
        {"SELECT 1", 0},
        {"SELECT `x` FROM talkers", 1},     /* SQLite syntax we do not lex */
        {"CREATE QUERY q AS SELECT 1 FROM t", 0},
        {"SHOW QUERIES", 0},
        {"", 0},
        {"SELECT a\0 FROM t", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len = strlen(cases[i].sql);
        if (i == sizeof(cases) / sizeof(cases[0]) - 1)
            len = 16;
        int got = parse_is_stored_select(cases[i].sql, len);
        if (got != cases[i].stored) {
            fprintf(stderr, "parse_is_stored_select(%s) = %d\n",
                    cases[i].sql, got);
            test_failed_now++;
        }
    }
}

/* ---- the reference stays true -------------------------------------------- */

static char *read_doc(void)
{
    FILE *f = fopen("docs/QUERY_LANGUAGE.md", "rb");
    if (!f)
        return NULL;
    sbuf_t b = SBUF_INIT;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        sbuf_addn(&b, buf, n);
    fclose(f);
    sbuf_str(&b);
    return sbuf_detach(&b);
}

/* The line of doc starting with prefix, or NULL. */
static const char *doc_line(const char *doc, const char *prefix)
{
    size_t pl = strlen(prefix);
    for (const char *l = doc; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : l)
        if (strncmp(l, prefix, pl) == 0)
            return l;
    return NULL;
}

static void test_doc_covers_schema_and_functions(void)
{
    char *doc = read_doc();
    CHECK(doc != NULL);
    if (!doc) {
        fprintf(stderr, "docs/QUERY_LANGUAGE.md not found (run from the top "
                "of the tree)\n");
        return;
    }
    /* every field has a table row "| `name` | type | ..." */
    for (int i = 0; i < F_COUNT; i++) {
        if (!*schema_fields[i].name)  /* a free custom slot */
            continue;
        char want[96];
        snprintf(want, sizeof(want), "| `%s` | %s |", schema_fields[i].name,
                 type_name(schema_fields[i].type));
        if (!doc_line(doc, want)) {
            fprintf(stderr, "docs/QUERY_LANGUAGE.md: no row \"%s\"\n", want);
            test_failed_now++;
        }
    }
    /* every function has a table row starting "| `name(" */
    for (int i = 0; i < FN_COUNT_; i++) {
        char want[96];
        snprintf(want, sizeof(want), "| `%s(", func_table[i].name);
        if (!doc_line(doc, want)) {
            fprintf(stderr, "docs/QUERY_LANGUAGE.md: no row \"%s...\"\n",
                    want);
            test_failed_now++;
        }
    }
    /* every protocol name the dialect knows */
    static const char *const protos[] = {"tcp", "udp", "icmp", "icmp6",
                                         "gre", "esp", "sctp"};
    for (size_t i = 0; i < sizeof(protos) / sizeof(protos[0]); i++) {
        char want[32];
        snprintf(want, sizeof(want), "`%s`", protos[i]);
        CHECK(proto_from_name(protos[i]) >= 0);
        if (!strstr(doc, want)) {
            fprintf(stderr, "docs/QUERY_LANGUAGE.md: protocol %s missing\n",
                    protos[i]);
            test_failed_now++;
        }
    }
    free(doc);
}

/* Every ```sql block of the reference is a statement that compiles, and
 * every ```text block that starts with "line N, column C:" right after a
 * ```sql-error block is the exact error that statement gets. */
static void test_doc_examples(void)
{
    char *doc = read_doc();
    if (!doc) {
        CHECK(doc != NULL);
        return;
    }
    int nsql = 0, nerr = 0;
    char *p = doc;
    char *pending_err = NULL;
    while ((p = strstr(p, "\n```")) != NULL) {
        p += 4;
        int is_sql = strncmp(p, "sql\n", 4) == 0;
        int is_err = strncmp(p, "sql-error\n", 10) == 0;
        int is_text = strncmp(p, "text\n", 5) == 0;
        char *body = strchr(p, '\n');
        if (!body)
            break;
        body++;
        char *end = strstr(body, "\n```");
        if (!end)
            break;
        *end = 0;
        if (is_sql) {
            nsql++;
            diag_t err;
            plan_t *pl = plan_compile(body, strlen(body), 0, &err);
            if (!pl) {
                char r[1024];
                fprintf(stderr, "docs example does not compile:\n%s\n%s\n",
                        body, diag_render(&err, body, r, sizeof(r)));
                test_failed_now++;
            }
            plan_free(pl);
        } else if (is_err) {
            free(pending_err);
            pending_err = strdup(body);
        } else if (is_text && pending_err) {
            nerr++;
            diag_t err;
            char r[1024];
            plan_t *pl = plan_compile(pending_err, strlen(pending_err), 0,
                                      &err);
            if (pl) {
                fprintf(stderr, "docs error example compiles:\n%s\n",
                        pending_err);
                test_failed_now++;
                plan_free(pl);
            } else {
                diag_render(&err, pending_err, r, sizeof(r));
                if (strcmp(r, body) != 0) {
                    fprintf(stderr, "docs error example:\n%s\n--- doc "
                            "says:\n%s\n--- flowsql says:\n%s\n",
                            pending_err, body, r);
                    test_failed_now++;
                }
            }
            free(pending_err);
            pending_err = NULL;
        } else {
            free(pending_err);
            pending_err = NULL;
        }
        p = end + 1;
        *end = '\n';
    }
    free(pending_err);
    CHECK(nsql >= 20);
    CHECK(nerr >= 3);
    free(doc);
}

int main(void)
{
    RUN(test_statement_kinds);
    RUN(test_plan_fields);
    RUN(test_select_ast);
    RUN(test_literals);
    RUN(test_names_and_case);
    RUN(test_types);
    RUN(test_nul_and_control_bytes);
    RUN(test_empty_input);
    RUN(test_diag_render);
    RUN(test_megabyte_inputs);
    RUN(test_large_but_valid);
    RUN(test_garbage);
    RUN(test_every_byte);
    RUN(test_reentrant);
    RUN(test_small_stack);
    RUN(test_print_roundtrip);
    RUN(test_stored_select);
    RUN(test_doc_covers_schema_and_functions);
    RUN(test_doc_examples);
    TEST_EXIT();
}
