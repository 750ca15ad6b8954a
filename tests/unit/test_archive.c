/* test_archive.c - the archive service (archive/archive.c) and its scans
 * (archive/arscan.c) on real files: partitions and late flows, row
 * groups by count, reading the open file, pruning by statistics and
 * bloom filters (with counts), files vanishing or corrupt mid-scan,
 * retention and the size cap, recovery after kill -9, drops counted,
 * write errors on a file size limit. */
#include "archive/archive.h"
#include "archive/parquet.h"
#include "engine/schema.h"
#include "tests/test.h"
#include "util/arena.h"
#include "util/timeutil.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char root[64];
static int ncase;

/* A fresh archive directory for one test. */
static char *new_dir(void)
{
    static char d[128];
    snprintf(d, sizeof(d), "%s/a%d", root, ++ncase);
    return d;
}

static archive_config_t config(const char *dir)
{
    archive_config_t c = ARCHIVE_CONFIG_INIT;
    c.dir = dir;
    c.no_sync = 1;
    c.flush_ms = 60000;
    return c;
}

/* A batch of n flows received at recv[i] = t0 + i * step, srcip
 * 10.0.(k).(i), dstport 1000 + k. */
static flow_batch_t *batch(uint32_t n, int64_t t0, int64_t step, int k)
{
    flow_batch_t *b = flow_batch_new();
    memset(b, 0, sizeof(*b));
    for (uint32_t i = 0; i < n; i++) {
        int j = flow_batch_add(b);
        b->received[j] = t0 + (int64_t)i * step;
        b->start[j] = b->received[j] - 1000;
        b->end[j] = b->received[j] - 10;
        b->srcip[j] = ipaddr_from_v4(0x0a000000u | (uint32_t)(k & 0xff) << 8 |
                                     (i & 0xff));
        b->dstip[j] = ipaddr_from_v4(0xac100001u);
        b->srcport[j] = 40000 + (int64_t)i;
        b->dstport[j] = 1000 + k;
        b->proto[j] = 6;
        b->packets[j] = 1 + i;
        b->bytes[j] = 100 * (1 + i);
        b->domain[j] = k;
    }
    return b;
}

/* Submit, waiting while the queue is full (the tests want every flow). */
static void submit(archive_t *a, flow_batch_t *b)
{
    while (archive_submit(a, b) < 0)
        usleep(1000);
}

static void wait_written(archive_t *a, uint64_t n)
{
    archive_stats_t st;
    for (int i = 0; i < 5000; i++) {
        archive_stats(a, &st);
        if (st.flows_written + st.flows_dropped >= n)
            return;
        usleep(2000);
    }
}

typedef struct collect {
    uint64_t rows;
    int64_t  sum_packets;
    int64_t  min_recv, max_recv;
    int      calls, empty_calls;
    const char *unlink_dir;   /* on the first batch, delete the files of
                                 this list but the first */
    archive_file_list_t *victims;
} collect_t;

static int on_batch(void *ctx, const flow_batch_t *b)
{
    collect_t *c = ctx;
    c->calls++;
    if (!b->n)
        c->empty_calls++;
    for (uint32_t i = 0; i < b->n; i++) {
        c->rows++;
        c->sum_packets += b->packets[i];
        if (!c->min_recv || b->received[i] < c->min_recv)
            c->min_recv = b->received[i];
        if (b->received[i] > c->max_recv)
            c->max_recv = b->received[i];
    }
    if (c->victims) {
        for (size_t i = 1; i < c->victims->n; i++)
            unlink(c->victims->f[i].path);
        c->victims = NULL;
    }
    return 0;
}

static int64_t scan(const char *dir, const archive_pred_t *p, unsigned flags,
                    archive_scan_stats_t *st, collect_t *c)
{
    diag_t err;
    diag_clear(&err);
    memset(st, 0, sizeof(*st));
    int rc = archive_scan(dir, p, (1ull << F_COUNT) - 1, flags, on_batch, c,
                          st, &err);
    CHECK_INT(rc, 0);
    return (int64_t)c->rows;
}

/* ---- names and predicates ------------------------------------------------- */

static void test_names(void)
{
    int64_t s;
    int seq, op;
    CHECK_INT(archive_name_parse("flows-20240101-130500.parquet", &s, &seq, &op), 0);
    CHECK_INT(s, 1704114300000LL);
    CHECK_INT(seq, 0);
    CHECK_INT(op, 0);
    CHECK_INT(archive_name_parse("flows-20240229-235959-12.parquet.open", &s,
                                 &seq, &op), 0);
    CHECK_INT(s, 1709251199000LL);
    CHECK_INT(seq, 12);
    CHECK_INT(op, 1);
    CHECK_INT(archive_name_start("flows-20240101-130500.parquet.journal", &s), -1);
    CHECK_INT(archive_name_start("flows-20241301-130500.parquet", &s), -1);
    CHECK_INT(archive_name_start("flows-20240101-130500-0.parquet", &s), -1);
    CHECK_INT(archive_name_start("flows-20240101-1305.parquet", &s), -1);
    CHECK_INT(archive_name_start("x-20240101-130500.parquet", &s), -1);
}

static void test_pred_match(void)
{
    flow_batch_t *b = batch(4, 1000, 1, 3);
    archive_pred_t p;
    archive_pred_init(&p);
    CHECK(archive_pred_match(&p, b, 0));
    archive_net_t n24;
    CHECK_INT(ipaddr_parse_cidr("10.0.3.0/24", &n24.addr, &n24.prefix), 0);
    archive_net_t one;
    CHECK_INT(ipaddr_parse_cidr("10.0.3.2", &one.addr, &one.prefix), 0);
    p.srcip.nets = &one;
    p.srcip.n = 1;
    CHECK(!archive_pred_match(&p, b, 0));
    CHECK(archive_pred_match(&p, b, 2));
    p.srcip.nets = &n24;
    CHECK(archive_pred_match(&p, b, 0) && archive_pred_match(&p, b, 3));
    archive_pred_init(&p);
    archive_net_t dst;
    CHECK_INT(ipaddr_parse_cidr("172.16.0.1", &dst.addr, &dst.prefix), 0);
    p.anyip.nets = &dst;     /* "host 172.16.0.1": it is every flow's dstip */
    p.anyip.n = 1;
    CHECK(archive_pred_match(&p, b, 1));
    int64_t ports[] = {1003};
    p.anyport.vals = ports;  /* dstport 1003 */
    p.anyport.n = 1;
    CHECK(archive_pred_match(&p, b, 1));
    ports[0] = 40001;        /* srcport of flow 1 */
    CHECK(archive_pred_match(&p, b, 1) && !archive_pred_match(&p, b, 2));
    archive_pred_init(&p);
    p.received = (archive_range_t){1001, 1002};
    CHECK(!archive_pred_match(&p, b, 0) && archive_pred_match(&p, b, 1) &&
          archive_pred_match(&p, b, 2) && !archive_pred_match(&p, b, 3));
    flow_batch_free(b);
}

/* ---- partitions ---------------------------------------------------------------- */

static int count_files(const char *dir, const char *suffix)
{
    archive_file_list_t l;
    diag_t err;
    diag_clear(&err);
    if (archive_list(dir, INT64_MIN, INT64_MAX, &l, &err) < 0)
        return -1;
    int n = 0;
    for (size_t i = 0; i < l.n; i++) {
        size_t k = strlen(l.f[i].path), m = strlen(suffix);
        n += k >= m && strcmp(l.f[i].path + k - m, suffix) == 0;
    }
    archive_file_list_free(&l);
    return n;
}

/* Every file's flows lie in its partition; a boundary batch is split;
 * a flow later than the grace time goes to an extra file "-1". */
static void test_partitions(void)
{
    char *dir = new_dir();
    archive_config_t c = config(dir);
    c.period_ms = 10000;
    c.flush_ms = 200;            /* grace: 1 s */
    archive_t *a = archive_open(&c, NULL);
    CHECK(a != NULL);
    if (!a)
        return;
    int64_t t0 = (time_now_ms() / 3600000 - 5) * 3600000;  /* 5 h ago */
    /* 300 flows 100 ms apart: partitions t0, t0+10s, t0+20s */
    submit(a, batch(300, t0, 100, 1));
    wait_written(a, 300);
    sleep(2);   /* every partition is long over: they close */
    /* late flows of the first partition */
    submit(a, batch(10, t0 + 5000, 1, 2));
    wait_written(a, 310);
    archive_stats_t st;
    archive_stats(a, &st);
    CHECK_INT(st.flows_late, 10);
    archive_close(a);

    archive_file_list_t l;
    diag_t err;
    diag_clear(&err);
    CHECK_INT(archive_list(dir, INT64_MIN, INT64_MAX, &l, &err), 0);
    CHECK_INT(l.n, 4);
    int64_t want_start[] = {t0, t0, t0 + 10000, t0 + 20000};
    int want_seq[] = {0, 1, 0, 0};
    int64_t want_rows[] = {100, 10, 100, 100};
    for (size_t i = 0; i < l.n && i < 4; i++) {
        CHECK_INT(l.f[i].start, want_start[i]);
        CHECK_INT(l.f[i].seq, want_seq[i]);
        CHECK_INT(l.f[i].is_open, 0);
        pq_reader_t *r = pq_reader_open(l.f[i].path, &err);
        CHECK(r != NULL);
        if (!r)
            continue;
        CHECK_INT(pq_reader_nrows(r), want_rows[i]);
        char ks[32];
        snprintf(ks, sizeof(ks), "%lld", (long long)(l.f[i].start + 10000));
        CHECK_STR(pq_reader_kv(r, "flowsql.partition.end"), ks);
        /* received within [start, end) */
        int col = pq_reader_find(r, "received");
        value_t lo, hi;
        for (size_t rg = 0; rg < pq_reader_nrowgroups(r); rg++) {
            CHECK(pq_reader_minmax(r, rg, (size_t)col, &lo, &hi));
            CHECK(lo.i >= l.f[i].start && hi.i < l.f[i].start + 10000);
        }
        pq_reader_close(r);
    }
    archive_file_list_free(&l);
    CHECK_INT(count_files(dir, ".open"), 0);
}

/* ---- scans ---------------------------------------------------------------------- */

/* 20 row groups of 1000 flows: row group k has dstport 1000 + k, srcips
 * 10.0.k.x plus 10.0.0.0 and 10.0.255.255 (so every srcip min/max spans
 * every other row group's addresses: only the bloom filter can tell). */
static void fill_scan_archive(archive_t *a, int64_t t0)
{
    for (int k = 0; k < 20; k++)
        for (int h = 0; h < 2; h++) {
            flow_batch_t *b = batch(500, t0 + (k * 2 + h) * 500, 1, k + 1);
            if (h == 0)
                b->srcip[0] = ipaddr_from_v4(0x0a000000u);
            else
                b->srcip[499] = ipaddr_from_v4(0x0a00ffffu);
            submit(a, b);
        }
    wait_written(a, 20000);
}

static void test_scan_pruning(void)
{
    char *dir = new_dir();
    archive_config_t c = config(dir);
    c.rg_flows = 1000;
    c.period_ms = 3600000;
    archive_t *a = archive_open(&c, NULL);
    CHECK(a != NULL);
    if (!a)
        return;
    int64_t t0 = (time_now_ms() / 3600000) * 3600000;   /* this hour */
    fill_scan_archive(a, t0);
    archive_stats_t ast;
    archive_stats(a, &ast);
    CHECK_INT(ast.row_groups, 20);
    CHECK_INT(ast.flows_written, 20000);

    /* The file is still open: read through its journal. */
    CHECK_INT(count_files(dir, ".parquet.open"), 1);
    archive_scan_stats_t st;
    collect_t col = {0};
    CHECK_INT(scan(dir, NULL, 0, &st, &col), 20000);
    CHECK_INT(st.files_read, 1);
    CHECK_INT(st.rg_read, 20);

    /* time: row groups 5, 6, 7 (flows t0 + 5000 .. t0 + 7999) */
    archive_pred_t p;
    archive_pred_init(&p);
    p.received = (archive_range_t){t0 + 5000, t0 + 7999};
    memset(&col, 0, sizeof(col));
    CHECK_INT(scan(dir, &p, ARCHIVE_SCAN_EXACT, &st, &col), 3000);
    CHECK_INT(st.rg_read, 3);
    CHECK_INT(st.rg_pruned_stats, 17);
    CHECK_INT(st.rg_pruned_bloom, 0);
    CHECK_INT(col.min_recv, t0 + 5000);
    CHECK_INT(col.max_recv, t0 + 7999);
    /* without EXACT: whole row groups, the same three */
    memset(&col, 0, sizeof(col));
    p.received = (archive_range_t){t0 + 5500, t0 + 7200};
    CHECK_INT(scan(dir, &p, 0, &st, &col), 3000);
    CHECK_INT(st.rg_read, 3);

    /* dstport = 1010: row group 9 by statistics */
    archive_pred_init(&p);
    int64_t port = 1010;
    p.dstport = (archive_ints_t){&port, 1};
    memset(&col, 0, sizeof(col));
    CHECK_INT(scan(dir, &p, ARCHIVE_SCAN_EXACT, &st, &col), 1000);
    CHECK_INT(st.rg_pruned_stats, 19);
    CHECK_INT(st.rg_read, 1);

    /* srcip = 10.0.4.7: in row group 3 only (flows 7 and 263 of its
     * first batch, 7 and 263 of its second), inside every row group's
     * min/max: the blooms skip the others (a false positive now and then
     * is allowed: they are sized for 5%). */
    archive_pred_init(&p);
    archive_net_t host;
    ipaddr_parse_cidr("10.0.4.7", &host.addr, &host.prefix);
    p.srcip = (archive_nets_t){&host, 1};
    memset(&col, 0, sizeof(col));
    CHECK_INT(scan(dir, &p, ARCHIVE_SCAN_EXACT, &st, &col), 4);
    CHECK_INT(st.rg_pruned_stats, 0);
    CHECK(st.rg_pruned_bloom >= 16);
    CHECK_INT(st.rg_pruned_bloom + st.rg_read, 20);
    CHECK(st.rg_read >= 1);
    CHECK_INT(st.rows_matched, 4);
    CHECK(st.bytes_read > 0);
    /* every row group read without a match called back once, empty */
    CHECK_INT(col.empty_calls, (int)st.rg_read - 1);
    /* the same as "host": srcip or dstip */
    p.srcip.n = 0;
    p.anyip = (archive_nets_t){&host, 1};
    memset(&col, 0, sizeof(col));
    CHECK_INT(scan(dir, &p, ARCHIVE_SCAN_EXACT, &st, &col), 4);
    CHECK(st.rg_pruned_bloom >= 16);
    /* a network is not probed in the blooms: by statistics only */
    ipaddr_parse_cidr("10.0.4.0/24", &host.addr, &host.prefix);
    memset(&col, 0, sizeof(col));
    CHECK_INT(scan(dir, &p, ARCHIVE_SCAN_EXACT, &st, &col), 998);  /* 2 replaced */
    CHECK_INT(st.rg_pruned_bloom, 0);

    /* a range no file holds: pruned by name */
    archive_pred_init(&p);
    p.received = (archive_range_t){t0 + 7200000, t0 + 7300000};
    memset(&col, 0, sizeof(col));
    CHECK_INT(scan(dir, &p, 0, &st, &col), 0);
    CHECK_INT(st.files_pruned, 1);
    CHECK_INT(st.files_read, 0);

    archive_close(a);
    CHECK_INT(count_files(dir, ".parquet.open"), 0);
    memset(&col, 0, sizeof(col));
    CHECK_INT(scan(dir, NULL, 0, &st, &col), 20000);
}

/* The host (10.0.x.y) of flow number idx in test_scan_pages: 4093 of
 * them, a prime, so that runs of a host in a sorted row group straddle
 * page boundaries. */
static uint32_t page_host(uint32_t idx)
{
    return 0x0a000000u | idx * 2654435761u % 4093;
}

/* Scan the first n flows for srcip in net (EXACT) and compare with what
 * the generator says: the flows of the hosts in net and the sum of their
 * packets (batch() gives flow i of a batch 1 + i). At most max_read flows
 * decoded; when some match, each row group is searched and the flows not
 * decoded are the ones its page index ruled out. */
static void page_lookup(const char *dir, const char *net, uint32_t n,
                        uint64_t max_read)
{
    archive_net_t host;
    CHECK_INT(ipaddr_parse_cidr(net, &host.addr, &host.prefix), 0);
    int bits = host.prefix - 96;
    uint32_t lo = ipaddr_v4(&host.addr) & (bits ? ~0u << (32 - bits) : 0);
    uint32_t hi = lo | (bits ? ~(~0u << (32 - bits)) : ~0u);
    int64_t rows = 0, packets = 0;
    for (uint32_t idx = 0; idx < n; idx++) {
        uint32_t h = page_host(idx);
        if (h >= lo && h <= hi) {
            rows++;
            packets += 1 + idx % FLOW_BATCH_MAX;
        }
    }
    archive_pred_t p;
    archive_pred_init(&p);
    p.srcip = (archive_nets_t){&host, 1};
    archive_scan_stats_t st;
    collect_t col = {0};
    int64_t got = scan(dir, &p, ARCHIVE_SCAN_EXACT, &st, &col);
    if (got != rows || col.sum_packets != packets)
        fprintf(stderr, "# %s: %" PRId64 " flows (want %" PRId64 "), "
                "packets %" PRId64 " (want %" PRId64 ")\n", net, got, rows,
                col.sum_packets, packets);
    CHECK_INT(got, rows);
    CHECK_INT(col.sum_packets, packets);
    CHECK(st.rows_read <= max_read);
    if (rows)
        CHECK_INT(st.rows_pruned_pages + st.rows_read, n);
}

/* Hosts in every big row group: the files are sorted by srcip with a
 * page index, so a lookup reads the page or two (8192 flows each)
 * holding a host in each row group, not the row group (65536 flows), and
 * finds every one of its flows: hosts whose flows straddle two pages,
 * a host at the start of a page, a /24 over several hosts, a host the
 * archive does not have. Open file (journal) and closed (footer). */
static void test_scan_pages(void)
{
    char *dir = new_dir();
    archive_config_t c = config(dir);
    c.rg_flows = 65536;
    c.period_ms = 3600000;
    archive_t *a = archive_open(&c, NULL);
    CHECK(a != NULL);
    if (!a)
        return;
    int64_t t0 = (time_now_ms() / 3600000) * 3600000;
    uint32_t n = 3 * 65536;
    for (uint32_t done = 0; done < n; done += FLOW_BATCH_MAX) {
        flow_batch_t *b = batch(FLOW_BATCH_MAX, t0 + done, 1, 1);
        for (uint32_t i = 0; i < b->n; i++)
            b->srcip[i] = ipaddr_from_v4(page_host(done + i));
        submit(a, b);
    }
    wait_written(a, n);
    /* the hosts at rows 8192 * k - 1 and 8192 * k of the first row group
     * (sorted: by host number) */
    static uint32_t count[4093];
    memset(count, 0, sizeof(count));
    for (uint32_t idx = 0; idx < 65536; idx++)
        count[page_host(idx) & 0xfff]++;
    char net[32];
    int straddle = 0;
    for (int pass = 0; pass < 2; pass++) {
        uint32_t row = 0;
        for (uint32_t h = 0, k = 1; h < 4093 && k < 8; row += count[h++]) {
            if (row + count[h] <= 8192 * k)
                continue;
            straddle += pass == 0 && row < 8192 * k;
            snprintf(net, sizeof(net), "10.0.%u.%u", h >> 8, h & 0xff);
            page_lookup(dir, net, n, 3 * 2 * 8192);
            k++;
        }
        page_lookup(dir, "10.0.5.0/24", n, 3 * 2 * 8192);
        page_lookup(dir, "10.0.16.1", n, 0);
        if (pass == 0)
            archive_close(a);    /* closed: the same from the footer */
    }
    CHECK(straddle >= 4);
}

/* config.page_rows reaches the writer: with pages of 1024 flows a host
 * lookup reads a page or two of 1024 (of 8192 by default); out of range
 * is refused. */
static void test_page_rows(void)
{
    char *dir = new_dir();
    archive_config_t c = config(dir);
    c.rg_flows = 65536;
    c.period_ms = 3600000;
    c.page_rows = 1024 * 1024 + 1;
    diag_t e = {0};
    CHECK(archive_open(&c, &e) == NULL);
    CHECK(strstr(e.msg, "--archive-page-rows: 1048577 flows") != NULL);
    c.page_rows = 1024;
    archive_t *a = archive_open(&c, NULL);
    CHECK(a != NULL);
    if (!a)
        return;
    int64_t t0 = (time_now_ms() / 3600000) * 3600000;
    uint32_t n = 65536;
    for (uint32_t done = 0; done < n; done += FLOW_BATCH_MAX) {
        flow_batch_t *b = batch(FLOW_BATCH_MAX, t0 + done, 1, 1);
        for (uint32_t i = 0; i < b->n; i++)
            b->srcip[i] = ipaddr_from_v4(page_host(done + i));
        submit(a, b);
    }
    wait_written(a, n);
    archive_close(a);
    page_lookup(dir, "10.0.1.44", n, 2 * 1024);
    page_lookup(dir, "10.0.5.0/24", n, 8 * 1024);
}

/* A file deleted during a scan is counted and skipped; a corrupt one is
 * counted, and the scan goes on. */
static void test_scan_vanish_corrupt(void)
{
    char *dir = new_dir();
    archive_config_t c = config(dir);
    c.period_ms = 60000;
    archive_t *a = archive_open(&c, NULL);
    CHECK(a != NULL);
    if (!a)
        return;
    int64_t t0 = (time_now_ms() / 3600000 - 3) * 3600000;
    for (int k = 0; k < 3; k++)
        submit(a, batch(100, t0 + k * 60000, 1, k));
    archive_close(a);
    archive_file_list_t l;
    diag_t err;
    diag_clear(&err);
    CHECK_INT(archive_list(dir, INT64_MIN, INT64_MAX, &l, &err), 0);
    CHECK_INT(l.n, 3);
    archive_scan_stats_t st;
    collect_t col = {.victims = &l};
    CHECK_INT(scan(dir, NULL, 0, &st, &col), 100);
    CHECK_INT(st.files_vanished, 2);
    CHECK_INT(st.files_bad, 0);
    CHECK_INT(st.files_read, 1);
    archive_file_list_free(&l);

    /* a corrupt file between two good ones */
    a = archive_open(&c, NULL);
    for (int k = 0; k < 2; k++)
        submit(a, batch(100, t0 + 7200000 + k * 120000, 1, k));
    archive_close(a);
    char bad[512];
    time_t ts = (time_t)((t0 + 7260000) / 1000);
    struct tm tm;
    gmtime_r(&ts, &tm);
    snprintf(bad, sizeof(bad), "%s/%04d/%02d/%02d/flows-%04d%02d%02d-%02d%02d%02d.parquet",
             dir, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec);
    FILE *f = fopen(bad, "w");
    CHECK(f != NULL);
    if (f) {
        fputs("PAR1 this is not a parquet file PAR1", f);
        fclose(f);
    }
    memset(&col, 0, sizeof(col));
    CHECK_INT(scan(dir, NULL, 0, &st, &col), 300);
    CHECK_INT(st.files_bad, 1);
    CHECK_INT(st.files_read, 3);
}

/* ---- retention and the cap -------------------------------------------------------- */

static void test_retention_cap(void)
{
    char *dir = new_dir();
    archive_config_t c = config(dir);
    c.period_ms = 3600000;
    archive_t *a = archive_open(&c, NULL);
    CHECK(a != NULL);
    if (!a)
        return;
    int64_t now = time_now_ms();
    int64_t hour = now / 3600000 * 3600000;
    /* 10 days ago, 9 days ago, 2 days ago, 1 hour ago, now */
    int64_t when[] = {hour - 240 * 3600000LL, hour - 216 * 3600000LL,
                      hour - 48 * 3600000LL, hour - 3600000LL, hour};
    for (int k = 0; k < 5; k++)
        submit(a, batch(1000, when[k], 1, k));
    archive_close(a);
    CHECK_INT(count_files(dir, ".parquet"), 5);

    c.retention_ms = 7 * 86400000LL;
    a = archive_open(&c, NULL);
    archive_stats_t st;
    archive_stats(a, &st);
    CHECK_INT(st.deleted_retention, 2);
    CHECK_INT(st.files, 3);
    archive_close(a);
    archive_file_list_t l;
    diag_t err;
    diag_clear(&err);
    CHECK_INT(archive_list(dir, INT64_MIN, INT64_MAX, &l, &err), 0);
    CHECK_INT(l.n, 3);
    CHECK(l.n == 3 && l.f[0].start == when[2]);
    /* the cap: room for the newest file alone; the oldest go first */
    struct stat sb;
    CHECK_INT(stat(l.f[2].path, &sb), 0);
    c.retention_ms = 0;
    c.max_bytes = sb.st_size + 10;
    a = archive_open(&c, NULL);
    archive_stats(a, &st);
    CHECK_INT(st.deleted_cap, 2);
    CHECK_INT(st.files, 1);
    CHECK(st.bytes <= (uint64_t)c.max_bytes);
    archive_close(a);
    CHECK(stat(l.f[0].path, &sb) < 0 && stat(l.f[1].path, &sb) < 0);
    pq_reader_t *r = pq_reader_open(l.f[2].path, &err);
    CHECK(r && pq_reader_nrows(r) == 1000);
    pq_reader_close(r);
    archive_file_list_free(&l);
    /* the empty day directories went with their files */
    archive_scan_stats_t sst;
    collect_t col = {0};
    CHECK_INT(scan(dir, NULL, 0, &sst, &col), 1000);
    CHECK_INT(sst.files, 1);
}

/* ---- crash ------------------------------------------------------------------------------ */

/* A child writes two row groups and is killed with a third pending: the
 * next archive_open recovers the file with the two. */
static void test_recovery(void)
{
    char *dir = new_dir();
    archive_config_t c = config(dir);
    c.period_ms = 3600000;
    c.rg_flows = 1000;
    int64_t t0 = time_now_ms() / 3600000 * 3600000;
    pid_t pid = fork();
    if (pid == 0) {
        archive_t *a = archive_open(&c, NULL);
        if (!a)
            _exit(3);
        for (int k = 0; k < 5; k++)
            submit(a, batch(500, t0 + k * 500, 1, k));
        wait_written(a, 2000);
        kill(getpid(), SIGKILL);
        _exit(4);
    }
    int status;
    waitpid(pid, &status, 0);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    CHECK_INT(count_files(dir, ".parquet.open"), 1);
    archive_t *a = archive_open(&c, NULL);
    CHECK(a != NULL);
    if (!a)
        return;
    archive_stats_t st;
    archive_stats(a, &st);
    CHECK_INT(st.recoveries, 1);
    CHECK_INT(st.recovered_row_groups, 2);
    /* new flows of the same partition go to an extra file */
    submit(a, batch(10, t0 + 9000, 1, 9));
    archive_close(a);
    CHECK_INT(count_files(dir, ".parquet.open"), 0);
    CHECK_INT(count_files(dir, "-1.parquet"), 1);
    archive_scan_stats_t sst;
    collect_t col = {0};
    CHECK_INT(scan(dir, NULL, 0, &sst, &col), 2010);
    CHECK_INT(sst.files_bad, 0);
}

/* ---- drops and errors ------------------------------------------------------------------ */

/* A queue of 2 batches fed as fast as the caller can: every flow is
 * written or counted as dropped, and submit never waits. */
static void test_drops_counted(void)
{
    char *dir = new_dir();
    archive_config_t c = config(dir);
    c.queue_batches = 2;
    c.rg_flows = 4096;
    archive_t *a = archive_open(&c, NULL);
    CHECK(a != NULL);
    if (!a)
        return;
    int64_t t0 = time_now_ms();
    uint64_t sent = 0, refused = 0;
    /* Built first, then submitted back to back: a push is far quicker
     * than the writer's encoding of a batch, so the queue of 2 must
     * overflow. (Built inside the loop, under ThreadSanitizer the making
     * of a batch took longer than the writer's work on one, and nothing
     * was refused.) */
    enum { NB = 48 };
    flow_batch_t *bs[NB];
    for (int k = 0; k < NB; k++)
        bs[k] = batch(FLOW_BATCH_MAX, t0, 0, k);
    for (int k = 0; k < NB; k++) {
        sent += bs[k]->n;
        if (archive_submit(a, bs[k]) < 0) {
            refused += bs[k]->n;
            flow_batch_free(bs[k]);
        }
    }
    archive_close(a);
    CHECK(refused > 0);
    archive_t *b2 = archive_open(&c, NULL);
    archive_stats_t st;
    archive_stats(b2, &st);
    archive_close(b2);
    archive_scan_stats_t sst;
    collect_t col = {0};
    uint64_t archived = (uint64_t)scan(dir, NULL, 0, &sst, &col);
    CHECK_INT(archived + refused, sent);
    /* a replayed batch is not archived, and not counted */
    c.dir = new_dir();
    a = archive_open(&c, NULL);
    flow_batch_t *b = batch(10, t0, 0, 1);
    b->flags = FLOW_BATCH_REPLAY;
    CHECK_INT(archive_submit(a, b), -1);
    archive_stats(a, &st);
    CHECK_INT(st.flows_dropped, 0);
    flow_batch_free(b);
    archive_close(a);
}

/* Writes past RLIMIT_FSIZE fail (EFBIG, SIGXFSZ ignored): counted as
 * write errors and dropped flows, the rest still written, no crash. */
static void test_write_errors(void)
{
    char *dir = new_dir();
    archive_config_t c = config(dir);
    c.rg_flows = 2048;
    c.period_ms = 1000;
    int fd[2];
    if (pipe(fd) < 0)
        return;
    pid_t pid = fork();
    if (pid == 0) {
        close(fd[0]);
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {64 * 1024, 64 * 1024};
        setrlimit(RLIMIT_FSIZE, &rl);
        archive_t *a = archive_open(&c, NULL);
        if (!a)
            _exit(3);
        /* 40 batches, 2 a partition: random values compress badly, so
         * some files pass 64 KiB */
        uint64_t seed = 7;
        int64_t t0 = time_now_ms() / 1000 * 1000 - 3600000;
        for (int k = 0; k < 40; k++) {
            flow_batch_t *b = batch(FLOW_BATCH_MAX, t0 + (k / 4) * 1000, 0, k);
            for (uint32_t i = 0; i < b->n; i++) {
                seed = seed * 6364136223846793005ull + 1442695040888963407ull;
                b->bytes[i] = (int64_t)(seed >> 1);
                b->dstip[i] = ipaddr_from_v4((uint32_t)(seed >> 20));
                b->start[i] = (int64_t)(seed >> 24);
            }
            submit(a, b);
        }
        wait_written(a, 40 * FLOW_BATCH_MAX);
        archive_stats_t st;
        archive_stats(a, &st);
        archive_close(a);
        (void)!write(fd[1], &st, sizeof(st));
        _exit(0);
    }
    close(fd[1]);
    archive_stats_t st;
    memset(&st, 0, sizeof(st));
    CHECK_INT(read(fd[0], &st, sizeof(st)), (long long)sizeof(st));
    close(fd[0]);
    int status;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(st.write_errors > 0);
    CHECK(st.flows_dropped > 0);
    CHECK_INT(st.flows_written + st.flows_dropped, 40 * FLOW_BATCH_MAX);
    /* what the files hold is what was counted written (a file whose
     * close failed is read through its journal) */
    archive_scan_stats_t sst;
    collect_t col = {0};
    uint64_t archived = (uint64_t)scan(dir, NULL, 0, &sst, &col);
    CHECK_INT(sst.files_bad, 0);
    CHECK_INT(archived, st.flows_written);
    CHECK(archived > 0);
}

int main(void)
{
    snprintf(root, sizeof(root), "/tmp/flowsql-ar.XXXXXX");
    if (!mkdtemp(root))
        return 1;
    RUN(test_names);
    RUN(test_pred_match);
    RUN(test_partitions);
    RUN(test_scan_pruning);
    RUN(test_scan_pages);
    RUN(test_page_rows);
    RUN(test_scan_vanish_corrupt);
    RUN(test_retention_cap);
    RUN(test_recovery);
    RUN(test_drops_counted);
    RUN(test_write_errors);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
    if (system(cmd) != 0)
        return 1;
    TEST_EXIT();
}
