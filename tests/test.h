/*
 * test.h - the unit-test harness. A test program is a list of functions
 * run by RUN(); each prints one TAP-like line, "ok - name" or
 * "not ok - name", which tests/run.sh counts. Failed checks print the
 * file, line and values on stderr and the test goes on, so one run shows
 * every broken assertion.
 */
#ifndef FLOWSQL_TEST_H
#define FLOWSQL_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int test_failed_total;
static int test_failed_now;

#define CHECK(cond)                                                        \
    do {                                                                   \
        if (!(cond)) {                                                     \
            fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__,         \
                    __LINE__, #cond);                                      \
            test_failed_now++;                                             \
        }                                                                  \
    } while (0)

#define CHECK_INT(a, b)                                                    \
    do {                                                                   \
        long long va_ = (long long)(a), vb_ = (long long)(b);              \
        if (va_ != vb_) {                                                  \
            fprintf(stderr, "%s:%d: %s == %lld, expected %s == %lld\n",    \
                    __FILE__, __LINE__, #a, va_, #b, vb_);                 \
            test_failed_now++;                                             \
        }                                                                  \
    } while (0)

#define CHECK_STR(a, b)                                                    \
    do {                                                                   \
        const char *sa_ = (a), *sb_ = (b);                                 \
        if (!sa_ || !sb_ || strcmp(sa_, sb_) != 0) {                       \
            fprintf(stderr, "%s:%d: %s\n  got:      [%s]\n  expected: [%s]\n",\
                    __FILE__, __LINE__, #a, sa_ ? sa_ : "(null)",          \
                    sb_ ? sb_ : "(null)");                                 \
            test_failed_now++;                                             \
        }                                                                  \
    } while (0)

static inline void test_run(const char *name, void (*fn)(void))
{
    test_failed_now = 0;
    fn();
    printf("%s - %s\n", test_failed_now ? "not ok" : "ok", name);
    fflush(stdout);
    if (test_failed_now)
        test_failed_total++;
}

#define RUN(fn) test_run(#fn, fn)
#define TEST_EXIT() return test_failed_total ? 1 : 0

#endif
