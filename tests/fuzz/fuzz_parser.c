/*
 * fuzz_parser.c - libFuzzer target for the query front end: lexer,
 * grammar, semantic analysis, planner and EXPLAIN (make fuzz).
 *
 * Besides "no crash, no leak, no hang" (the sanitizers and libFuzzer's
 * limits), it checks what every caller relies on:
 *   - a refused statement always has a message, and a position inside
 *     the text when it has one; diag_render() of it is well formed;
 *   - an accepted SELECT's WHERE and (for a rows plan) select items print
 *     as text that parses back to the same expression: EXPLAIN never
 *     shows what the engine does not run.
 * A broken invariant aborts, which libFuzzer reports with the input.
 */
#include "engine/plan.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPECT(cond)                                                       \
    do {                                                                   \
        if (!(cond)) {                                                     \
            fprintf(stderr, "fuzz_parser: %s:%d: %s\n", __FILE__,          \
                    __LINE__, #cond);                                      \
            abort();                                                       \
        }                                                                  \
    } while (0)

static void check_error(const diag_t *err, const char *text, size_t len)
{
    char buf[1024];
    EXPECT(err->set);
    EXPECT(err->msg[0] != 0);
    if (err->offset >= 0) {
        EXPECT((size_t)err->offset <= len);
        EXPECT(err->len >= 1);
        EXPECT(err->line >= 1 && err->col >= 1);
    }
    diag_render(err, text, buf, sizeof(buf));
    EXPECT(strlen(buf) < sizeof(buf));
    EXPECT(strstr(buf, err->offset >= 0 ? "line " : err->msg) == buf);
}

/* Print expression x, parse it back inside "SELECT <it> FROM flows" (or
 * "... WHERE <it>"), and demand the same text again. */
static void roundtrip(const ast_t *x, int as_where)
{
    sbuf_t t = SBUF_INIT, sql = SBUF_INIT, again = SBUF_INIT;
    ast_print(&t, x, NULL, NULL);
    if (as_where)
        sbuf_printf(&sql, "SELECT 1 FROM flows WHERE %s", sbuf_str(&t));
    else
        sbuf_printf(&sql, "SELECT %s FROM flows", sbuf_str(&t));
    diag_t err;
    plan_t *p = plan_compile(sbuf_str(&sql), sql.len, 0, &err);
    if (!p) {
        char buf[1024];
        fprintf(stderr, "fuzz_parser: printed expression does not parse "
                "back:\n%s\n%s\n", sbuf_str(&sql),
                diag_render(&err, sbuf_str(&sql), buf, sizeof(buf)));
        abort();
    }
    const select_t *s = plan_target(p)->select;
    ast_print(&again, as_where ? s->where : s->items[0].expr, NULL, NULL);
    if (strcmp(sbuf_str(&t), sbuf_str(&again)) != 0) {
        fprintf(stderr, "fuzz_parser: printing is not stable:\n  %s\n  %s\n",
                sbuf_str(&t), sbuf_str(&again));
        abort();
    }
    plan_free(p);
    sbuf_free(&t);
    sbuf_free(&sql);
    sbuf_free(&again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A NUL-terminated copy, for diag_render() (the parser itself takes
     * the bytes as they are, NULs included). */
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = 0;

    diag_t err;
    plan_t *p = plan_compile((const char *)data, size, 0, &err);
    if (!p) {
        check_error(&err, text, size);
    } else {
        sbuf_t b = SBUF_INIT;
        plan_explain(p, &b);
        EXPECT(b.len > 0);
        sbuf_free(&b);
        const stmt_t *t = plan_target(p);
        if (t->select && t->kind == STMT_SELECT) {
            if (t->select->where)
                roundtrip(t->select->where, 1);
            if (p->mode == PLAN_ROWS)
                for (int i = 0; i < t->select->nitems && i < 4; i++)
                    if (t->select->items[i].expr->kind != A_CIDR)
                        roundtrip(t->select->items[i].expr, 0);
        }
        plan_free(p);
    }
    (void)parse_is_stored_select((const char *)data, size);
    free(text);
    return 0;
}
