/*
 * test_shell.c - the shell's pure parts: cutting input into statements,
 * tables, CSV and JSON output, and the event-stream parser. The parts
 * that talk to flowsqld are tested end to end (tests/e2e/shell_*.sh).
 */
#include "shell/shell.h"
#include "tests/test.h"

#include <stdlib.h>

/* ---- split ---------------------------------------------------------------- */

/* Feed text line by line; return the statements as "line:text|...". */
static char *split_all(const char *text, int flush)
{
    split_t sp;
    split_init(&sp);
    sbuf_t out = SBUF_INIT;
    int lineno = 0;
    const char *p = text;
    while (*p) {
        size_t n = strcspn(p, "\n");
        split_line(&sp, p, n, ++lineno);
        p += n + (p[n] == '\n');
        char *s;
        int line;
        while ((s = split_next(&sp, &line))) {
            sbuf_printf(&out, "%d:%s|", line, s);
            free(s);
        }
    }
    if (flush) {
        int line;
        char *s = split_flush(&sp, &line);
        if (s) {
            sbuf_printf(&out, "%d:%s|", line, s);
            free(s);
        }
    }
    split_free(&sp);
    return sbuf_detach(&out);
}

#define CHECK_SPLIT(text, flush, want)                                     \
    do {                                                                   \
        char *got_ = split_all(text, flush);                               \
        CHECK_STR(got_, want);                                             \
        free(got_);                                                        \
    } while (0)

static void split_statements(void)
{
    CHECK_SPLIT("SHOW QUERIES;", 0, "1:SHOW QUERIES|");
    CHECK_SPLIT("SHOW QUERIES; SHOW QUERIES ;", 0,
                "1:SHOW QUERIES|1:SHOW QUERIES|");
    CHECK_SPLIT("SELECT srcip,\n  count(*)\nFROM flows;", 0,
                "1:SELECT srcip,\n  count(*)\nFROM flows|");
    /* not ended: nothing until the end of input */
    CHECK_SPLIT("SHOW QUERIES", 0, "");
    CHECK_SPLIT("SHOW QUERIES", 1, "1:SHOW QUERIES|");
    /* a command where a statement would start is an item of its own */
    CHECK_SPLIT("SHOW QUERIES; \\d talkers \nSHOW\nQUERIES; \\q", 0,
                "1:SHOW QUERIES|1:\\d talkers|2:SHOW\nQUERIES|3:\\q|");
    CHECK_SPLIT("SELECT '\\d' FROM t;", 0, "1:SELECT '\\d' FROM t|");
    /* empty statements are skipped */
    CHECK_SPLIT(";;\n  ;\nSHOW QUERIES;", 0, "3:SHOW QUERIES|");
}

static void split_quotes_and_comments(void)
{
    CHECK_SPLIT("SELECT 'a;b' FROM t;", 0, "1:SELECT 'a;b' FROM t|");
    CHECK_SPLIT("SELECT 'it''s;' FROM t;", 0, "1:SELECT 'it''s;' FROM t|");
    CHECK_SPLIT("SELECT \"x;y\" FROM t;", 0, "1:SELECT \"x;y\" FROM t|");
    CHECK_SPLIT("SELECT 1 -- not; yet\nFROM t;", 0,
                "1:SELECT 1 -- not; yet\nFROM t|");
    CHECK_SPLIT("SELECT /* a;\n b; */ 1 FROM t;", 0,
                "1:SELECT /* a;\n b; */ 1 FROM t|");
    /* a string across lines */
    CHECK_SPLIT("SELECT 'a\n;b' FROM t;", 0, "1:SELECT 'a\n;b' FROM t|");
}

static void split_line_numbers(void)
{
    /* blank and comment-only lines between statements are dropped, so a
     * statement starts at its first word */
    CHECK_SPLIT("\n-- counts\n\n  SHOW QUERIES;\n\n/* x\n y */\nSHOW\nQUERIES;",
                0, "4:SHOW QUERIES|8:SHOW\nQUERIES|");
    /* after a ';' the next statement starts on the same line */
    CHECK_SPLIT("SHOW QUERIES; SELECT\n1 FROM t;", 0,
                "1:SHOW QUERIES|1:SELECT\n1 FROM t|");
    /* comment-only input is no statement */
    CHECK_SPLIT("-- nothing\n/* at all */", 1, "");
}

static void split_pending_states(void)
{
    split_t sp;
    split_init(&sp);
    CHECK_INT(split_pending(&sp), 0);
    split_line(&sp, "-- just a comment", 17, 1);
    CHECK_INT(split_pending(&sp), 0);
    split_line(&sp, "SELECT 'abc", 11, 2);
    CHECK_INT(split_pending(&sp), 1);
    CHECK_INT(sp.state, SPLIT_SQUOTE);
    split_line(&sp, "' FROM t WHERE (a", 17, 3);
    CHECK_INT(sp.state, SPLIT_NORMAL);
    CHECK_INT(sp.depth, 1);
    split_line(&sp, ") /* open", 9, 4);
    CHECK_INT(sp.state, SPLIT_COMMENT);
    split_reset(&sp);
    CHECK_INT(split_pending(&sp), 0);
    CHECK(split_next(&sp, NULL) == NULL);
    split_free(&sp);
}

static void split_history_line(void)
{
    char *s = split_one_line("  SELECT srcip, -- the source\n"
                             "       count(*)\n  FROM flows");
    CHECK_STR(s, "SELECT srcip, count(*) FROM flows");
    free(s);
    s = split_one_line("SELECT 'a\n  b' /* x\n */ FROM t");
    CHECK_STR(s, "SELECT 'a\n  b' /* x\n */ FROM t");
    free(s);
    s = split_one_line("SELECT '--' FROM t -- c");
    CHECK_STR(s, "SELECT '--' FROM t");
    free(s);
}

/* ---- output ------------------------------------------------------------------- */

static void table_alignment(void)
{
    json_t *cols = json_pack("[sss]", "srcip", "flows", "name");
    json_t *rows = json_pack("[[sis][sIn][sfs]]",
                             "10.0.0.1", 12, "x",
                             "2001:db8::1", (json_int_t)1234567,
                             "192.0.2.7", 0.5, "näme");
    sbuf_t b = SBUF_INIT;
    table_opts_t o = {.footer = 1};
    out_table(&b, cols, rows, &o);
    CHECK_STR(sbuf_str(&b),
              "    srcip    |  flows  | name\n"
              "-------------+---------+------\n"
              " 10.0.0.1    |      12 | x\n"
              " 2001:db8::1 | 1234567 |\n"
              " 192.0.2.7   |     0.5 | näme\n"
              "(3 rows)\n");
    sbuf_free(&b);

    o.grouped = 1;
    o.title = "Window 12:00 .. 12:01";
    json_decref(rows);
    rows = json_pack("[[sIs]]", "10.0.0.1", (json_int_t)-1234567, "y");
    out_table(&b, cols, rows, &o);
    CHECK_STR(sbuf_str(&b),
              "Window 12:00 .. 12:01\n"
              "  srcip   |   flows    | name\n"
              "----------+------------+------\n"
              " 10.0.0.1 | -1,234,567 | y\n"
              "(1 row)\n");
    sbuf_free(&b);

    /* no rows: the header and (0 rows) */
    json_decref(rows);
    rows = json_array();
    o.grouped = 0;
    o.title = NULL;
    out_table(&b, cols, rows, &o);
    CHECK_STR(sbuf_str(&b), " srcip | flows | name\n"
                            "-------+-------+------\n(0 rows)\n");
    sbuf_free(&b);
    json_decref(cols);
    json_decref(rows);
}

static void cells(void)
{
    sbuf_t b = SBUF_INIT;
    json_t *v = json_string("a\tb\nc\x01");
    out_cell(&b, v, 0);
    CHECK_STR(sbuf_str(&b), "a\\tb\\nc\\x01");
    json_decref(v);
    sbuf_free(&b);
    v = json_real(0.1);
    out_cell(&b, v, 0);
    CHECK_STR(sbuf_str(&b), "0.1");
    json_decref(v);
    sbuf_free(&b);
    v = json_real(1.0 / 3.0);
    out_cell(&b, v, 0);
    CHECK_STR(sbuf_str(&b), "0.3333333333333333");
    CHECK(strtod(sbuf_str(&b), NULL) == 1.0 / 3.0);
    json_decref(v);
    sbuf_free(&b);
    const double reals[] = {1000.0, 1234.5, 1e15, 1.5e-7, 0.0001, -2500.25};
    const char *rtext[] = {"1000", "1234.5", "1e+15", "1.5e-07", "0.0001",
                           "-2500.25"};
    for (int i = 0; i < 6; i++) {
        v = json_real(reals[i]);
        out_cell(&b, v, 0);
        CHECK_STR(sbuf_str(&b), rtext[i]);
        json_decref(v);
        sbuf_free(&b);
    }
    v = json_true();
    out_cell(&b, v, 0);
    CHECK_STR(sbuf_str(&b), "true");
    sbuf_free(&b);
    const char *in[] = {"0", "999", "1000", "-1000", "123456", "9223372036854775807"};
    const char *want[] = {"0", "999", "1,000", "-1,000", "123,456",
                          "9,223,372,036,854,775,807"};
    for (int i = 0; i < 6; i++) {
        out_group_digits(&b, in[i]);
        CHECK_STR(sbuf_str(&b), want[i]);
        sbuf_free(&b);
    }
    CHECK_INT(out_width("näme", strlen("näme")), 4);
}

static void csv_and_json(void)
{
    json_t *cols = json_pack("[sss]", "a", "b,c", "d");
    json_t *rows = json_pack("[[sfn][s,I,b]]", "x\"y", 0.1, "p,q",
                             (json_int_t)9007199254740993LL, 1);
    sbuf_t b = SBUF_INIT;
    out_csv(&b, cols, rows, 1);
    CHECK_STR(sbuf_str(&b), "a,\"b,c\",d\n"
                            "\"x\"\"y\",0.1,\n"
                            "\"p,q\",9007199254740993,true\n");
    sbuf_free(&b);
    out_csv(&b, cols, rows, 0);
    CHECK_STR(sbuf_str(&b), "\"x\"\"y\",0.1,\n"
                            "\"p,q\",9007199254740993,true\n");
    sbuf_free(&b);
    out_json_rows(&b, cols, rows);
    CHECK_STR(sbuf_str(&b), "{\"a\":\"x\\\"y\",\"b,c\":0.1,\"d\":null}\n"
                            "{\"a\":\"p,q\",\"b,c\":9007199254740993,\"d\":true}\n");
    sbuf_free(&b);
    json_decref(cols);
    json_decref(rows);
}

/* ---- Server-Sent Events ------------------------------------------------------- */

typedef struct got {
    sbuf_t log;
    int    stop_after;
    int    n;
} got_t;

static int on_event(void *ctx, const char *event, const char *data)
{
    got_t *g = ctx;
    sbuf_printf(&g->log, "[%s:%s]", event, data);
    g->n++;
    return g->stop_after && g->n >= g->stop_after;
}

static void sse_events(void)
{
    const char *stream =
        ": following q\n\n"
        "event: window\nid: 1\ndata: {\"a\":1}\n\n"
        ": keepalive\n\n"
        "data: line1\r\ndata:line2\r\n\r\n"
        "event: end\ndata: {\"reason\":\"query dropped\"}\n\n";
    /* whole, and one byte at a time: the same events */
    for (int chunk = 0; chunk < 2; chunk++) {
        got_t g = {SBUF_INIT, 0, 0};
        sse_parser_t p;
        sse_init(&p);
        size_t len = strlen(stream);
        if (chunk == 0)
            CHECK_INT(sse_feed(&p, stream, len, on_event, &g), 0);
        else
            for (size_t i = 0; i < len; i++)
                CHECK_INT(sse_feed(&p, stream + i, 1, on_event, &g), 0);
        CHECK_STR(sbuf_str(&g.log),
                  "[window:{\"a\":1}][message:line1\nline2]"
                  "[end:{\"reason\":\"query dropped\"}]");
        sse_free(&p);
        sbuf_free(&g.log);
    }
    /* the callback stops the stream */
    got_t g = {SBUF_INIT, 1, 0};
    sse_parser_t p;
    sse_init(&p);
    CHECK_INT(sse_feed(&p, stream, strlen(stream), on_event, &g), 1);
    CHECK_INT(g.n, 1);
    sse_free(&p);
    sbuf_free(&g.log);
}

/* A window as the stream sends it, shown in each format. */
static char *show(int format, const char *const *events, int n)
{
    char *text = NULL;
    size_t len = 0;
    shell_t sh = {.format = format};
    sh.out = open_memstream(&text, &len);
    json_t *cols = json_pack("[sss]", "srcip", "flows", "bytes");
    int header_done = 0;
    for (int i = 0; i < n; i++) {
        json_t *w = json_loads(events[i], 0, NULL);
        live_show_window(&sh, cols, w, &header_done);
        json_decref(w);
    }
    fclose(sh.out);
    json_decref(cols);
    return text;
}

static void windows(void)
{
    const char *ev[] = {
        "{\"query\":\"t\",\"window_start\":\"2026-03-01T12:00:00.000Z\","
        "\"window_end\":\"2026-03-01T12:00:10.000Z\",\"window_start_ms\":1,"
        "\"window_end_ms\":2,\"seq\":1,\"flows\":1234567,\"rows\":["
        "{\"bytes\":1500,\"flows\":3,\"srcip\":\"10.0.0.1\"},"
        "{\"srcip\":\"2001:db8::7\",\"flows\":12,\"bytes\":98765432101}]}",
        "{\"query\":\"t\",\"window_start\":\"2026-03-01T23:59:50.000Z\","
        "\"window_end\":\"2026-03-02T00:00:00.000Z\",\"seq\":2,\"flows\":1,"
        "\"rows\":[]}",
    };
    char *t = show(FMT_TABLE, ev, 2);
    CHECK_STR(t,
        "Window 2026-03-01T12:00:00.000Z .. 12:00:10.000Z, 1234567 flows\n"
        "    srcip    | flows |    bytes\n"
        "-------------+-------+-------------\n"
        " 10.0.0.1    |     3 |        1500\n"
        " 2001:db8::7 |    12 | 98765432101\n"
        "(2 rows)\n"
        "\n"
        "Window 2026-03-01T23:59:50.000Z .. 2026-03-02T00:00:00.000Z, 1 flow\n"
        " srcip | flows | bytes\n"
        "-------+-------+-------\n"
        "(0 rows)\n"
        "\n");
    free(t);
    t = show(FMT_CSV, ev, 2);
    CHECK_STR(t,
        "window_start,window_end,srcip,flows,bytes\n"
        "2026-03-01T12:00:00.000Z,2026-03-01T12:00:10.000Z,10.0.0.1,3,1500\n"
        "2026-03-01T12:00:00.000Z,2026-03-01T12:00:10.000Z,2001:db8::7,12,98765432101\n");
    free(t);
    t = show(FMT_JSON, ev, 1);
    CHECK(t && strncmp(t, "{\"query\":\"t\",\"window_start\":", 28) == 0);
    CHECK(t && strstr(t, "\"rows\":[{\"bytes\":1500,\"flows\":3,\"srcip\":\"10.0.0.1\"},"));
    CHECK(t && strchr(t, '\n') == t + strlen(t) - 1);
    free(t);
}

static void command_names(void)
{
    int found_watch = 0, n = 0;
    for (int i = 0; command_name(i); i++, n++)
        found_watch |= strcmp(command_name(i), "watch") == 0;
    CHECK(found_watch);
    CHECK(n >= 14);
    CHECK(command_name(-1) == NULL);
    int topics = 0;
    for (int i = 0; help_topic(i); i++)
        topics += strcmp(help_topic(i), "srcip") == 0 ||
                  strcmp(help_topic(i), "topk") == 0 ||
                  strcmp(help_topic(i), "windows") == 0;
    CHECK_INT(topics, 3);
}

int main(void)
{
    RUN(split_statements);
    RUN(split_quotes_and_comments);
    RUN(split_line_numbers);
    RUN(split_pending_states);
    RUN(split_history_line);
    RUN(table_alignment);
    RUN(cells);
    RUN(csv_and_json);
    RUN(sse_events);
    RUN(windows);
    RUN(command_names);
    TEST_EXIT();
}
