/*
 * test_xfield.c - custom IPFIX elements (engine/xfield.h): the
 * --ipfix-elements file and its errors, and crafted IPFIX messages with
 * enterprise elements of every type decoded through the file reader (the
 * libfixbuf path of UDP and TCP): varlen and fixed lengths, elements a
 * template lacks, over-long strings, a template redefined with other
 * lengths, slots no query wants, the bounded string table.
 */
#include "engine/expr.h"
#include "engine/schema.h"
#include "engine/xfield.h"
#include "ingest/ingest.h"
#include "tests/test.h"
#include "tests/unit/msgbuild.h"
#include "util/arena.h"
#include "util/log.h"

#include <stdlib.h>
#include <unistd.h>

#define PEN 99999
#define T0 1700000000u

/* ---- harness: messages -> file -> ingest_read_file -> values ---------- */

#define MAXREC 64
static int nrec;
static uint32_t filled[MAXREC];
static int64_t ival[MAXREC][XF_NSLOTS];
static const char *sval[MAXREC][XF_NSLOTS];
static char aval[MAXREC][XF_NSLOTS][IPADDR_STRLEN];

static void collect(void *ctx, flow_batch_t *b)
{
    (void)ctx;
    for (uint32_t i = 0; i < b->n && nrec < MAXREC; i++, nrec++) {
        filled[nrec] = b->xfilled;
        for (int k = 0; k < XF_NSLOTS; k++) {
            if (!(b->xfilled >> k & 1))
                continue;
            if (k < XF_NINT)
                ival[nrec][k] = b->xint[k][i];
            else if (k < XF_NINT + XF_NSTR)
                sval[nrec][k] = b->xstr[k - XF_NINT][i];
            else
                ipaddr_format(&b->xip[k - XF_NINT - XF_NSTR][i],
                              aval[nrec][k], IPADDR_STRLEN);
        }
    }
}

static int decode(const mb_t *m, int nmsg)
{
    char path[64];
    snprintf(path, sizeof(path), "/tmp/flowsql-test-XXXXXX");
    int fd = mkstemp(path);
    FILE *fp = fdopen(fd, "wb");
    for (int i = 0; i < nmsg; i++)
        fwrite(m[i].b, 1, m[i].len, fp);
    fclose(fp);
    nrec = 0;
    memset(filled, 0, sizeof(filled));
    diag_t err = {0};
    ingest_file_result_t res;
    int rc = ingest_read_file(path, collect, NULL, &res, &err);
    if (rc != 0)
        fprintf(stderr, "ingest_read_file: %s\n", err.msg);
    unlink(path);
    return rc;
}

static int slot_of(const char *name)
{
    int f = schema_lookup(name, strlen(name));
    return f >= F_X0 ? f - F_X0 : -1;
}

static int load_text(const char *text, char *err, size_t errlen)
{
    char path[64];
    snprintf(path, sizeof(path), "/tmp/flowsql-xf-XXXXXX");
    int fd = mkstemp(path);
    if (write(fd, text, strlen(text)) != (ssize_t)strlen(text))
        abort();
    close(fd);
    int rc = xfield_load(path, err, errlen);
    unlink(path);
    return rc;
}

/* ---- tests -------------------------------------------------------------- */

static void test_builtins(void)
{
    static const char *ints[] = {"mpls_label1", "mpls_label2", "mpls_label3",
                                 "application_id", "dns_id", "dns_qtype",
                                 "dns_rcode", "dns_answers", "dns_ttl",
                                 "tls_version"};
    static const char *strs[] = {"src_mac", "dst_mac", "post_src_mac",
                                 "post_dst_mac", "dns_qname", "tls_sni"};
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
        int f = schema_lookup(ints[i], strlen(ints[i]));
        CHECK(f >= F_X0 && f < F_XSTR0);
        if (f >= 0)
            CHECK_INT(schema_fields[f].type, TYPE_INT);
    }
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
        int f = schema_lookup(strs[i], strlen(strs[i]));
        CHECK(f >= F_XSTR0 && f < F_XIP0);
        if (f >= 0)
            CHECK_INT(schema_fields[f].type, TYPE_STRING);
    }
    /* a free slot has no name: no query can name it */
    CHECK_INT(schema_lookup("", 0), -1);
}

static void test_config_errors(void)
{
    static const struct {
        const char *text, *want;
    } bad[] = {
        {"dns_x, 8057, 99, float\n", ":1: 'float' is not a type"},
        {"# c\n\ndns_x, -1, 99, integer\n",
         ":3: '-1' is not an enterprise number"},
        {"dns_x, 8057, 0, integer\n", "'0' is not an element id"},
        {"dns_x, 8057, 40000, integer\n", "'40000' is not an element id"},
        {"srcip, 8057, 99, address\n", "'srcip' is already a field"},
        {"qname2, 8057, 2, string\n", "element 8057/2 is already 'dns_qname'"},
        {"no such_field\n", "'no such_field': no such element"},
        {"1abc, 1, 1, integer\n", "'1abc' is not a field name"},
        {"a, 1, 1\n", "expected 'name, enterprise_number"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char err[512] = "";
        CHECK_INT(load_text(bad[i].text, err, sizeof(err)), -1);
        if (!strstr(err, bad[i].want))
            fprintf(stderr, "case %zu: got '%s', want '%s'\n", i, err,
                    bad[i].want);
        CHECK(strstr(err, bad[i].want) != NULL);
        CHECK(strstr(err, "--ipfix-elements: /tmp/flowsql-xf-") == err);
    }
    char err[512] = "";
    CHECK_INT(xfield_load("/nonexistent/elements", err, sizeof(err)), -1);
    CHECK(strstr(err, "/nonexistent/elements") != NULL);
    /* the three string slots left: a fourth string field has none */
    CHECK_INT(load_text("s1, 1, 1, string\ns2, 1, 2, bytes\n"
                        "s3, 1, 3, mac\n", err, sizeof(err)), -1);
    CHECK(strstr(err, ":3: no free string slot for 's3'") != NULL);
    CHECK(slot_of("s1") >= 0 && slot_of("s2") >= 0 && slot_of("s3") < 0);
}

/* The definitions the decode tests use: one per type, an IANA integer
 * (host order from libfixbuf), two built-ins dropped for room. */
static void load_defs(void)
{
    char err[512] = "";
    int rc = load_text("# test elements\n"
                       "no post_src_mac\n"
                       "no post_dst_mac\n"
                       "no s1\n"
                       "no s2\n"
                       "x_int, 99999, 1, integer\n"
                       "x_addr, 99999, 2, address\n"
                       "x_str, 99999, 3, string\n"
                       "x_bytes, 99999, 4, bytes\n"
                       "X_Mac, 99999, 5, mac\n"
                       "tcp_seq, 0, 184, integer\n",
                       err, sizeof(err));
    if (rc)
        fprintf(stderr, "%s\n", err);
    CHECK_INT(rc, 0);
    CHECK(slot_of("x_mac") >= 0); /* names fold to lower case */
    CHECK_INT(slot_of("post_src_mac"), -1);
}

static void put_varlen(mb_t *m, const char *s, size_t n)
{
    if (n < 255) {
        mb_u8(m, (unsigned)n);
    } else {
        mb_u8(m, 255);
        mb_u16(m, (unsigned)n);
    }
    mb_bytes(m, s, n);
}

static void test_decode_types(void)
{
    xfield_want((1u << XF_NSLOTS) - 1);
    static mb_t m[3];
    memset(m, 0, sizeof(m));
    mb_ipfix(&m[0], T0, 0, 1);
    mb_set(&m[0], 2);
    /* srcip, qname (varlen), qtype (2), x_int (4), x_addr (4), x_str (8
     * fixed), x_bytes (varlen), x_mac (6), tcpSequenceNumber (4) */
    mb_tmpl(&m[0], 400, 9, 8ul, 4u, MB_PEN(8057, 2), 65535u,
            MB_PEN(8057, 3), 2u, MB_PEN(PEN, 1), 4u, MB_PEN(PEN, 2), 4u,
            MB_PEN(PEN, 3), 8u, MB_PEN(PEN, 4), 65535u, MB_PEN(PEN, 5), 6u,
            184ul, 4u);
    /* a template without any of them */
    mb_tmpl(&m[0], 401, 1, 8ul, 4u);
    mb_end_set(&m[0]);
    mb_set(&m[0], 400);
    char longname[300];
    memset(longname, 'a', sizeof(longname));
    for (int i = 0; i < 2; i++) {
        mb_u32(&m[0], 0x0a000001 + (uint32_t)i);
        if (i == 0)
            put_varlen(&m[0], "www.example.com", 15);
        else
            put_varlen(&m[0], longname, sizeof(longname));
        mb_u16(&m[0], 28);
        mb_u32(&m[0], 4000000000u);
        mb_u32(&m[0], 0xc0000201);
        mb_bytes(&m[0], i ? "12345678" : "ab\0\0\0\0\0\0", 8);
        put_varlen(&m[0], "\x01\xab\xff", 3);
        mb_bytes(&m[0], "\x00\x1b\x21\x3c\x4d\xfe", 6);
        mb_u32(&m[0], 0x01020304);
    }
    mb_end_set(&m[0]);
    mb_set(&m[0], 401);
    mb_u32(&m[0], 0x0a0000ff);
    mb_end_set(&m[0]);
    mb_end(&m[0]);

    /* template 400 again, other lengths: qtype in 1 octet, x_int in 8,
     * x_addr an IPv6 address, x_str varlen */
    mb_ipfix(&m[1], T0, 3, 1);
    mb_set(&m[1], 2);
    mb_tmpl(&m[1], 400, 5, 8ul, 4u, MB_PEN(8057, 3), 1u, MB_PEN(PEN, 1), 8u,
            MB_PEN(PEN, 2), 16u, MB_PEN(PEN, 3), 65535u);
    mb_end_set(&m[1]);
    mb_set(&m[1], 400);
    mb_u32(&m[1], 0x0a000003);
    mb_u8(&m[1], 15);
    mb_u64(&m[1], 0x0102030405060708ull);
    uint8_t a6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 7};
    mb_bytes(&m[1], a6, 16);
    put_varlen(&m[1], "ctl\x01x", 5);
    mb_end_set(&m[1]);
    mb_end(&m[1]);

    CHECK_INT(decode(m, 2), 0);
    CHECK_INT(nrec, 4);
    if (nrec != 4)
        return;
    int qn = slot_of("dns_qname"), qt = slot_of("dns_qtype");
    int xi = slot_of("x_int"), xa = slot_of("x_addr"), xs = slot_of("x_str");
    int xb = slot_of("x_bytes"), xm = slot_of("x_mac");
    int ts = slot_of("tcp_seq"), sni = slot_of("tls_sni");
    CHECK_STR(sval[0][qn], "www.example.com");
    CHECK(sval[0][qn] == str_intern("www.example.com")); /* interned */
    CHECK_INT((int)strlen(sval[1][qn]), XF_STR_MAX);   /* over-long: cut */
    CHECK_INT(ival[0][qt], 28);
    CHECK_INT(ival[0][xi], 4000000000LL);
    CHECK_STR(aval[0][xa], "192.0.2.1");
    CHECK_STR(sval[0][xs], "ab");                      /* up to the NUL */
    CHECK_STR(sval[1][xs], "12345678");
    CHECK_STR(sval[0][xb], "01abff");
    CHECK_STR(sval[0][xm], "00:1b:21:3c:4d:fe");
    CHECK_INT(ival[0][ts], 0x01020304);
    CHECK_STR(sval[0][sni], "");                       /* not sent */
    /* template 401 carries none: zeros */
    CHECK_STR(sval[2][qn], "");
    CHECK_INT(ival[2][qt], 0);
    CHECK_STR(aval[2][xa], "::");
    /* redefined template */
    CHECK_INT(ival[3][qt], 15);
    CHECK_INT(ival[3][xi], 0x0102030405060708LL);
    CHECK_STR(aval[3][xa], "2001:db8::7");
    CHECK_STR(sval[3][xs], "ctl?x");                   /* control bytes */
    CHECK_STR(sval[3][qn], "");                        /* no longer sent */
}

/* Slots no query wants are not decoded: the batch says so, and the
 * expression compiler reads them as zeros. */
static void test_only_wanted(void)
{
    int qn = slot_of("dns_qname"), qt = slot_of("dns_qtype");
    xfield_want(1u << qt);
    static mb_t m;
    memset(&m, 0, sizeof(m));
    mb_ipfix(&m, T0, 0, 1);
    mb_set(&m, 2);
    mb_tmpl(&m, 402, 3, 8ul, 4u, MB_PEN(8057, 2), 65535u, MB_PEN(8057, 3),
            2u);
    mb_end_set(&m);
    mb_set(&m, 402);
    mb_u32(&m, 0x0a000001);
    put_varlen(&m, "a.example", 9);
    mb_u16(&m, 1);
    mb_end_set(&m);
    mb_end(&m);
    CHECK_INT(decode(&m, 1), 0);
    CHECK_INT(nrec, 1);
    CHECK_INT(filled[0], 1u << qt);
    CHECK_INT(ival[0][qt], 1);
    CHECK(!(filled[0] >> qn & 1));
    xfield_want(0);
    CHECK_INT(decode(&m, 1), 0);
    CHECK_INT(filled[0], 0);
}

/* Past --string-table-max distinct strings, new wire strings read as
 * '(other)' and are counted; strings already in the table still match. */
static void test_string_bound(void)
{
    int qn = slot_of("dns_qname");
    xfield_want(1u << qn);
    const char *known = str_intern("known.example");
    str_intern(XF_OVERFLOW);
    xfield_set_string_max(str_intern_count() + 2);
    uint64_t over0 = ctr_get(&xf_string_overflows);
    static mb_t m;
    memset(&m, 0, sizeof(m));
    mb_ipfix(&m, T0, 0, 1);
    mb_set(&m, 2);
    mb_tmpl(&m, 403, 2, 8ul, 4u, MB_PEN(8057, 2), 65535u);
    mb_end_set(&m);
    mb_set(&m, 403);
    const char *names[] = {"n1.example", "n2.example", "n3.example",
                           "known.example", "n4.example", "n1.example"};
    for (int i = 0; i < 6; i++) {
        mb_u32(&m, 0x0a000001);
        put_varlen(&m, names[i], strlen(names[i]));
    }
    mb_end_set(&m);
    mb_end(&m);
    CHECK_INT(decode(&m, 1), 0);
    CHECK_INT(nrec, 6);
    CHECK_STR(sval[0][qn], "n1.example");
    CHECK_STR(sval[1][qn], "n2.example");
    CHECK_STR(sval[2][qn], XF_OVERFLOW);
    CHECK(sval[3][qn] == known);
    CHECK_STR(sval[4][qn], XF_OVERFLOW);
    CHECK_STR(sval[5][qn], "n1.example");
    CHECK_INT(ctr_get(&xf_string_overflows) - over0, 2);
    xfield_set_string_max(0);
}

int main(void)
{
    log_set_level(LOG_ERROR);
    RUN(test_builtins);
    RUN(test_config_errors);
    load_defs();
    RUN(test_decode_types);
    RUN(test_only_wanted);
    RUN(test_string_bound);
    TEST_EXIT();
}
