/* test_parser.c - quick smoke for the parser; the full suite follows. */
#include "engine/plan.h"
#include "tests/test.h"

#include <stdlib.h>

static char *explain(const char *sql)
{
    diag_t err;
    plan_t *p = plan_compile(sql, strlen(sql), 0, &err);
    if (!p) {
        char buf[1024];
        diag_render(&err, sql, buf, sizeof(buf));
        fprintf(stderr, "%s\n", buf);
        return NULL;
    }
    sbuf_t b = SBUF_INIT;
    plan_explain(p, &b);
    plan_free(p);
    return sbuf_detach(&b);
}

static void test_design_card(void)
{
    char *e = explain("SELECT srcip, count(*) FROM flows WINDOW 10s GROUP BY srcip");
    CHECK(e != NULL);
    if (e) printf("%s", e);
    free(e);
}

int main(void)
{
    RUN(test_design_card);
    TEST_EXIT();
}
