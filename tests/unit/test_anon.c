/*
 * test_anon.c - address anonymization (enrich/anon.h): Crypto-PAn gives
 * exactly the published sample of the reference implementation (its
 * sample key and the address pairs of sample_trace_raw.dat /
 * sample_trace_sanitized.dat, as collected in Yawning Angel's Go port's
 * tests); prefixes are preserved; truncation; the key file; the scope;
 * the output wrapper maps address cells and nothing else.
 */
#include "enrich/anon.h"
#include "tests/test.h"

#include <stdlib.h>
#include <unistd.h>

/* The key of the reference distribution's sample.cpp. */
static const uint8_t sample_key[32] = {
    21, 34, 23, 141, 51, 164, 207, 128, 19, 10, 91, 22, 73, 144, 125, 16,
    216, 152, 143, 131, 121, 121, 101, 39, 98, 87, 76, 45, 42, 132, 34, 2};

/* Raw -> sanitized, every distinct address of the reference sample. */
static const char *const sample[][2] = {
    {"128.11.68.132", "135.242.180.132"}, {"129.118.74.4", "134.136.186.123"},
    {"130.132.252.244", "133.68.164.234"}, {"141.223.7.43", "141.167.8.160"},
    {"141.233.145.108", "141.129.237.235"},
    {"152.163.225.39", "151.140.114.167"}, {"156.29.3.236", "147.225.12.42"},
    {"165.247.96.84", "162.9.99.234"}, {"166.107.77.190", "160.132.178.185"},
    {"192.102.249.13", "252.138.62.131"}, {"192.215.32.125", "252.43.47.189"},
    {"192.233.80.103", "252.25.108.8"}, {"192.41.57.43", "252.222.221.184"},
    {"193.150.244.223", "253.169.52.216"}, {"195.205.63.100", "255.186.223.5"},
    {"198.200.171.101", "249.199.68.213"}, {"198.26.132.101", "249.36.123.202"},
    {"198.36.213.5", "249.7.21.132"}, {"198.51.77.238", "249.18.186.254"},
    {"199.217.79.101", "248.38.184.213"}, {"202.49.198.20", "245.206.7.234"},
    {"203.12.160.252", "244.248.163.4"}, {"204.184.162.189", "243.192.77.90"},
    {"204.202.136.230", "243.178.4.198"}, {"204.29.20.4", "243.33.20.123"},
    {"205.178.38.67", "242.108.198.51"}, {"205.188.147.153", "242.96.16.101"},
    {"205.188.248.25", "242.96.88.27"}, {"205.245.121.43", "242.21.121.163"},
    {"207.105.49.5", "241.118.205.138"}, {"207.135.65.238", "241.202.129.222"},
    {"207.155.9.214", "241.220.250.22"}, {"207.188.7.45", "241.255.249.220"},
    {"207.25.71.27", "241.33.119.156"}, {"207.33.151.131", "241.1.233.131"},
    {"208.147.89.59", "227.237.98.191"}, {"208.234.120.210", "227.154.67.17"},
    {"208.28.185.184", "227.39.94.90"}, {"208.52.56.122", "227.8.63.165"},
    {"209.12.231.7", "226.243.167.8"}, {"209.238.72.3", "226.6.119.243"},
    {"209.246.74.109", "226.22.124.76"}, {"209.68.60.238", "226.184.220.233"},
    {"209.85.249.6", "226.170.70.6"}, {"212.120.124.31", "228.135.163.231"},
    {"212.146.8.236", "228.19.4.234"}, {"212.186.227.154", "228.59.98.98"},
    {"212.204.172.118", "228.71.195.169"}, {"212.206.130.201", "228.69.242.193"},
    {"216.148.237.145", "235.84.194.111"}, {"216.157.30.252", "235.89.31.26"},
    {"216.184.159.48", "235.96.225.78"}, {"216.227.10.221", "235.28.253.36"},
    {"216.254.18.172", "235.7.16.162"}, {"216.32.132.250", "235.192.139.38"},
    {"216.35.217.178", "235.195.157.81"}, {"24.0.250.221", "100.15.198.226"},
    {"24.13.62.231", "100.2.192.247"}, {"24.14.213.138", "100.1.42.141"},
    {"24.5.0.80", "100.9.15.210"}, {"24.7.198.88", "100.10.6.25"},
    {"24.94.26.44", "100.88.228.35"}, {"38.15.67.68", "64.3.66.187"},
    {"4.3.88.225", "124.60.155.63"}, {"63.14.55.111", "95.9.215.7"},
    {"63.195.241.44", "95.179.238.44"}, {"63.97.7.140", "95.97.9.123"},
    {"64.14.118.196", "0.255.183.58"}, {"64.34.154.117", "0.221.154.117"},
    {"64.39.15.238", "0.219.7.41"},
};

static ipaddr_t ip_of(const char *s)
{
    ipaddr_t ip;
    if (ipaddr_parse(s, &ip) < 0) {
        fprintf(stderr, "bad address in the test: %s\n", s);
        abort();
    }
    return ip;
}

static void test_reference_sample(void)
{
    diag_t err;
    diag_clear(&err);
    anon_t *a = anon_cryptopan(sample_key, &err);
    CHECK(a != NULL);
    if (!a)
        return;
    int n = (int)(sizeof(sample) / sizeof(sample[0]));
    CHECK_INT(n, 70);
    /* Twice: the second pass answers from the cache. */
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < n; i++) {
            ipaddr_t in = ip_of(sample[i][0]);
            ipaddr_t got = anon_addr(a, &in);
            char buf[64];
            CHECK_STR(ipaddr_format(&got, buf, sizeof(buf)), sample[i][1]);
        }
    anon_free(a);
}

/* IPv6: the same construction over 128 bits. Not from the reference (it
 * has no IPv6); these agree with the Go port's, an independent
 * implementation of the same generalization. */
static void test_ipv6(void)
{
    static const char *const v6[][2] = {
        {"::1", "78ff:f001:9fc0:20df:8380:b1f1:704:ed"},
        {"::2", "78ff:f001:9fc0:20df:8380:b1f1:704:ef"},
        {"::ffff", "78ff:f001:9fc0:20df:8380:b1f1:704:f838"},
        {"2001:db8::1", "4401:2bc:603f:d91d:27f:ff8e:e6f1:dc1e"},
        {"2001:db8::2", "4401:2bc:603f:d91d:27f:ff8e:e6f1:dc1c"},
    };
    diag_t err;
    diag_clear(&err);
    anon_t *a = anon_cryptopan(sample_key, &err);
    for (size_t i = 0; i < sizeof(v6) / sizeof(v6[0]); i++) {
        ipaddr_t in = ip_of(v6[i][0]);
        ipaddr_t got = anon_addr(a, &in);
        char buf[64];
        CHECK_STR(ipaddr_format(&got, buf, sizeof(buf)), v6[i][1]);
    }
    /* Unspecified addresses ("not sent") stay. */
    ipaddr_t z = ip_of("::"), z4 = ip_of("0.0.0.0");
    ipaddr_t gz = anon_addr(a, &z), gz4 = anon_addr(a, &z4);
    CHECK(ipaddr_eq(&gz, &z));
    CHECK(ipaddr_eq(&gz4, &z4));
    anon_free(a);
}

/* Prefix preservation on random pairs: the common prefix length of the
 * outputs equals that of the inputs; and the map is one to one. */
static int common_bits(const ipaddr_t *x, const ipaddr_t *y)
{
    for (int i = 0; i < 128; i++)
        if ((x->a[i / 8] ^ y->a[i / 8]) & (0x80 >> (i % 8)))
            return i;
    return 128;
}

static void test_prefix_preserving(void)
{
    diag_t err;
    diag_clear(&err);
    anon_t *a = anon_cryptopan(sample_key, &err);
    uint64_t r = 88172645463325252ULL;
    for (int i = 0; i < 20000; i++) {
        r ^= r << 13; r ^= r >> 7; r ^= r << 17;
        int v6 = i & 1;
        ipaddr_t x, y;
        if (v6) {
            for (int k = 0; k < 16; k++)
                x.a[k] = (uint8_t)(r >> (k * 4));
            x.a[0] = 0x20;
            y = x;
            int flip = (int)(r >> 50) % 120 + 8;
            y.a[flip / 8] ^= (uint8_t)(0x80 >> (flip % 8));
        } else {
            x = ipaddr_from_v4((uint32_t)r);
            y = ipaddr_from_v4((uint32_t)r ^ (uint32_t)(r >> 32));
        }
        ipaddr_t ax = anon_addr(a, &x), ay = anon_addr(a, &y);
        if (common_bits(&ax, &ay) != common_bits(&x, &y) ||
            ipaddr_is_v4(&ax) != ipaddr_is_v4(&x)) {
            test_failed_now++;
            break;
        }
    }
    anon_free(a);
}

static void test_truncate(void)
{
    anon_t *a = anon_truncate(24, 48);
    ipaddr_t x = ip_of("192.0.2.77"), y = ip_of("2001:db8:1:2:3::9");
    ipaddr_t ax = anon_addr(a, &x), ay = anon_addr(a, &y);
    char buf[64];
    CHECK_STR(ipaddr_format(&ax, buf, sizeof(buf)), "192.0.2.0");
    CHECK_STR(ipaddr_format(&ay, buf, sizeof(buf)), "2001:db8:1::");
    flow_batch_t *b = flow_batch_new();
    int i = flow_batch_add(b);
    b->srcip[i] = x;
    b->dstip[i] = ip_of("10.9.8.7");
    b->nexthop[i] = ip_of("198.51.100.1");
    b->exporter[i] = ip_of("203.0.113.5");
    anon_batch(a, b);
    CHECK_STR(ipaddr_format(&b->srcip[i], buf, sizeof(buf)), "192.0.2.0");
    CHECK_STR(ipaddr_format(&b->dstip[i], buf, sizeof(buf)), "10.9.8.0");
    CHECK_STR(ipaddr_format(&b->nexthop[i], buf, sizeof(buf)),
              "198.51.100.0");
    /* The exporter is the operator's own device: kept. */
    CHECK_STR(ipaddr_format(&b->exporter[i], buf, sizeof(buf)),
              "203.0.113.5");
    flow_batch_free(b);
    anon_free(a);
}

static void test_key_file_and_scope(void)
{
    char path[] = "/tmp/flowsql-anonkey-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    CHECK(write(fd, sample_key, 32) == 32);
    close(fd);
    uint8_t key[32];
    diag_t err;
    diag_clear(&err);
    CHECK_INT(anon_read_key(path, key, &err), 0);
    CHECK(memcmp(key, sample_key, 32) == 0);
    /* 64 hex digits and a newline */
    FILE *f = fopen(path, "w");
    for (int i = 0; i < 32; i++)
        fprintf(f, "%02x", sample_key[i]);
    fprintf(f, "\n");
    fclose(f);
    memset(key, 0, sizeof(key));
    CHECK_INT(anon_read_key(path, key, &err), 0);
    CHECK(memcmp(key, sample_key, 32) == 0);
    f = fopen(path, "w");
    fprintf(f, "short");
    fclose(f);
    diag_clear(&err);
    CHECK_INT(anon_read_key(path, key, &err), -1);
    CHECK(strstr(err.msg, "exactly 32 bytes") != NULL);
    unlink(path);

    unsigned s = 0;
    CHECK_INT(anon_parse_scope("all", &s, &err), 0);
    CHECK_INT(s, ANON_ALL);
    CHECK_INT(anon_parse_scope("store,kafka,es,archive,api", &s, &err), 0);
    CHECK_INT(s, ANON_STORE | ANON_KAFKA | ANON_ES | ANON_ARCHIVE | ANON_API);
    diag_clear(&err);
    CHECK_INT(anon_parse_scope("store,disk", &s, &err), -1);
    CHECK(strstr(err.msg, "'disk'") != NULL);
}

/* The wrapper: the inner output sees mapped addresses, the others the
 * original window untouched. */
static rowset_t *seen;
static void keep(output_t *o, rowset_t *rs)
{
    (void)o;
    rowset_ref(rs);
    seen = rs;
}

static void test_output_wrapper(void)
{
    anon_t *a = anon_truncate(16, 32);
    output_t inner = {"test", keep, NULL};
    output_t *w = anon_output(a, &inner);
    rowset_t *rs = rowset_new("q", 3);
    rs->cols[0] = (rowset_col_t){"srcip", TYPE_IP, 1};
    rs->cols[1] = (rowset_col_t){"name", TYPE_STRING, 1};
    rs->cols[2] = (rowset_col_t){"bytes", TYPE_INT, 0};
    value_t *row = rowset_add_row(rs);
    row[0].ip = ip_of("10.1.2.3");
    row[1].s = rowset_strdup(rs, "site-a");
    row[2].i = 1234;
    w->on_window(w, rs);
    CHECK(seen != NULL && seen != rs);
    if (seen) {
        char buf[64];
        value_t *got = rowset_row(seen, 0);
        CHECK_STR(ipaddr_format(&got[0].ip, buf, sizeof(buf)), "10.1.0.0");
        CHECK_STR(got[1].s, "site-a");
        CHECK_INT(got[2].i, 1234);
        CHECK_STR(seen->cols[0].name, "srcip");
    }
    CHECK_STR(ipaddr_format(&row[0].ip, (char[64]){0}, 64), "10.1.2.3");
    rowset_unref(seen);
    rowset_unref(rs);
    anon_free(a);
}

int main(void)
{
    RUN(test_reference_sample);
    RUN(test_ipv6);
    RUN(test_prefix_preserving);
    RUN(test_truncate);
    RUN(test_key_file_and_scope);
    RUN(test_output_wrapper);
    TEST_EXIT();
}
