/*
 * test_sampling.c - configured sampling rates and renormalization
 * (ingest/sampling.c): the option's syntax and its errors, the longest
 * prefix winning, an announced rate winning over a configured one,
 * packets and bytes multiplied only for rates above 1, clamping at
 * INT64_MAX, and the counters.
 */
#include "ingest/sampling.h"
#include "tests/test.h"

#include <stdint.h>

static flow_batch_t *b;

/* One record from exporter exp with the given sampling and counters. */
static int add(const char *exp, int64_t sampling, int64_t packets,
               int64_t bytes)
{
    int k = flow_batch_add(b);
    if (k < 0)
        return -1;
    ipaddr_parse(exp, &b->exporter[k]);
    b->sampling[k] = sampling;
    b->packets[k] = packets;
    b->bytes[k] = bytes;
    return k;
}

static void test_syntax(void)
{
    static const struct {
        const char *spec, *err;
    } bad[] = {
        {"10.0.0.1", "'10.0.0.1' is not ADDRESS[/LEN]=N"},
        {"10.0.0.1=0", "'0' for 10.0.0.1 is not a rate from 1 to 2147483647"},
        {"10.0.0.1=-5", "'-5' for 10.0.0.1 is not a rate"},
        {"10.0.0.1=1k", "'1k' for 10.0.0.1 is not a rate"},
        {"10.0.0.1=2147483648", "is not a rate from 1 to 2147483647"},
        {"10.0.0.300=10", "'10.0.0.300' is not an address or network"},
        {"10.0.0.0/33=10", "'10.0.0.0/33' is not an address or network"},
        {"10.0.0.1=10,,", "'' is not ADDRESS[/LEN]=N"},
        {"=10", "'' is not an address or network"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        diag_t err;
        diag_clear(&err);
        sampling_t *s = sampling_new(bad[i].spec, 0, &err);
        CHECK(s == NULL);
        if (!strstr(err.msg, bad[i].err)) {
            fprintf(stderr, "%s: got [%s], expected [%s]\n", bad[i].spec,
                    err.msg, bad[i].err);
            test_failed_now++;
        }
        sampling_free(s);
    }
    diag_t err;
    diag_clear(&err);
    sampling_t *s = sampling_new("", 0, &err);
    CHECK(s != NULL);
    CHECK(!sampling_active(s));
    sampling_free(s);
    s = sampling_new(" 10.0.0.1=10 , 2001:db8::/32=4 ", 0, &err);
    CHECK(s != NULL);
    CHECK(sampling_active(s));
    sampling_free(s);
}

static void test_fill(void)
{
    diag_t err;
    diag_clear(&err);
    sampling_t *s = sampling_new("10.0.0.0/8=100,10.1.0.0/16=512,"
                                 "10.1.2.3=7,2001:db8::/32=64", 0, &err);
    CHECK(s != NULL);
    flow_batch_reset(b);
    int a = add("10.1.2.3", 0, 2, 200);     /* host entry: 7 */
    int c = add("10.1.2.3", 0, 3, 300);     /* same run */
    int d = add("10.1.9.9", 0, 1, 100);     /* /16: 512 */
    int e = add("10.200.0.1", 0, 1, 100);   /* /8: 100 */
    int f = add("10.1.2.3", 2048, 1, 100);  /* announced wins */
    int g = add("192.0.2.1", 0, 1, 100);    /* none configured */
    int h = add("2001:db8::1", 0, 1, 100);  /* v6 */
    int i = add("10.1.2.3", 1, 1, 100);     /* announced unsampled */
    sampling_apply(s, b);
    CHECK_INT(b->sampling[a], 7);
    CHECK_INT(b->sampling[c], 7);
    CHECK_INT(b->sampling[d], 512);
    CHECK_INT(b->sampling[e], 100);
    CHECK_INT(b->sampling[f], 2048);
    CHECK_INT(b->sampling[g], 0);
    CHECK_INT(b->sampling[h], 64);
    CHECK_INT(b->sampling[i], 1);
    /* Filling alone leaves the counters as exported. */
    CHECK_INT(b->bytes[a], 200);
    CHECK_INT(b->packets[d], 1);
    CHECK_INT(sampling_filled(s), 5);
    CHECK_INT(sampling_scaled(s), 0);
    sampling_free(s);
}

static void test_renormalize(void)
{
    diag_t err;
    diag_clear(&err);
    sampling_t *s = sampling_new("192.0.2.9=10", 1, &err);
    CHECK(s != NULL);
    flow_batch_reset(b);
    int a = add("192.0.2.1", 1000, 3, 1500);
    int c = add("192.0.2.1", 0, 3, 1500);       /* unsampled */
    int d = add("192.0.2.1", 1, 3, 1500);       /* 1 in 1 */
    int e = add("192.0.2.9", 0, 2, 80);         /* configured, then scaled */
    int f = add("192.0.2.1", INT32_MAX, INT64_MAX / 2, 10);  /* clamps */
    sampling_apply(s, b);
    CHECK_INT(b->packets[a], 3000);
    CHECK_INT(b->bytes[a], 1500000);
    CHECK_INT(b->sampling[a], 1000);
    CHECK_INT(b->bytes[c], 1500);
    CHECK_INT(b->bytes[d], 1500);
    CHECK_INT(b->packets[e], 20);
    CHECK_INT(b->bytes[e], 800);
    CHECK_INT(b->packets[f], INT64_MAX);
    CHECK_INT(b->bytes[f], 10LL * INT32_MAX);
    CHECK_INT(sampling_filled(s), 1);
    CHECK_INT(sampling_scaled(s), 3);
    CHECK_INT(sampling_saturated(s), 1);
    sampling_free(s);
    /* Off: nothing changes, nothing counted. */
    s = sampling_new("", 0, &err);
    flow_batch_reset(b);
    a = add("192.0.2.1", 1000, 3, 1500);
    sampling_apply(s, b);
    CHECK_INT(b->bytes[a], 1500);
    CHECK_INT(sampling_scaled(s), 0);
    sampling_free(s);
}

int main(void)
{
    b = flow_batch_new();
    RUN(test_syntax);
    RUN(test_fill);
    RUN(test_renormalize);
    flow_batch_free(b);
    TEST_EXIT();
}
