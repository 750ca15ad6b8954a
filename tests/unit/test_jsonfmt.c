/* test_jsonfmt.c - util/jsonfmt: reals in the shortest form that reads
 * back as the same double (852.4, not 852.39999999999998), integers and
 * strings untouched. */
#include "tests/test.h"
#include "util/jsonfmt.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void dump(const char *want, json_t *j)
{
    char *s = json_dumps_short(j, JSON_COMPACT | JSON_ENCODE_ANY |
                                      JSON_REAL_PRECISION(17));
    CHECK_STR(s, want);
    free(s);
    json_decref(j);
}

static void t_shortest(void)
{
    dump("852.4", json_real(852.4));
    dump("0.30000000000000004", json_real(0.1 + 0.2));
    dump("0.1", json_real(0.1));
    dump("1.0", json_real(1.0));
    dump("-0.0", json_real(-0.0));
    dump("1e+300", json_real(1e300));
    dump("1.7976931348623157e+308", json_real(1.7976931348623157e308));
    dump("2.5e-07", json_real(2.5e-7));
    dump("1234567890123456.0", json_real(1234567890123456.0));
    dump("9007199254740993", json_integer(9007199254740993LL));
    dump("-42", json_integer(-42));
}

static void t_structure(void)
{
    /* Numbers inside strings (and escaped quotes) are left alone; reals
     * in arrays and objects are shortened. */
    dump("{\"a\":\"x 852.39999999999998 \\\"1.50\\\"\",\"b\":[852.4,7,"
         "{\"c\":0.5}],\"d\":null}",
         json_pack("{s:s,s:[f,i,{s:f}],s:n}", "a",
                   "x 852.39999999999998 \"1.50\"", "b", 852.4, 7, "c",
                   0.5, "d"));
    /* Indented output too. */
    json_t *a = json_pack("[f]", 852.4);
    char *s = json_dumps_short(a, JSON_INDENT(2));
    CHECK(s && strstr(s, "852.4\n"));
    free(s);
    json_decref(a);
}

/* Every real reads back as the same double and never takes more than
 * 17 significant digits (random bit patterns, a fixed seed). */
static void t_round_trip(void)
{
    uint64_t x = 88172645463325252ULL;
    int bad = 0;
    for (int i = 0; i < 200000 && bad < 5; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        double d;
        memcpy(&d, &x, sizeof(d));
        if (d != d || d - d != 0)
            continue;                   /* NaN, infinities: not JSON */
        char buf[40];
        json_real_format(buf, sizeof(buf), d);
        if (strtod(buf, NULL) != d) {
            fprintf(stderr, "%.17g printed as %s\n", d, buf);
            bad++;
        }
    }
    CHECK_INT(bad, 0);
}

int main(void)
{
    RUN(t_shortest);
    RUN(t_structure);
    RUN(t_round_trip);
    TEST_EXIT();
}
