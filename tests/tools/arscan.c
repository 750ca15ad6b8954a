/*
 * arscan - archive_scan() from the command line, for the end-to-end
 * tests (and by hand): the flows of an archive directory, as the tests'
 * other tools print them.
 *
 *   arscan DIR [conditions] [--exact] [--count] [--stats]
 *          [--print-received]
 *
 * conditions (ANDed; repeated ones of a kind are ORed):
 *   --received LO,HI  --start LO,HI  --end LO,HI   ms since the epoch
 *   --src CIDR  --dst CIDR  --host CIDR             addresses or networks
 *   --sport N  --dport N  --port N  --proto N
 *
 * Output: one flow a line, tab-separated, the fields in the order of
 * `ingest_agg --records` (so a sorted diff compares them), then with
 * --print-received the received time; or with --count the number of flows.
 * --stats prints the scan's counters to stderr as "name value" lines.
 */
#include "archive/archive.h"
#include "engine/schema.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXV 256

static int with_received, count_only;
static uint64_t nflows;

static int on_batch(void *ctx, const flow_batch_t *b)
{
    (void)ctx;
    nflows += b->n;
    if (count_only)
        return 0;
    for (uint32_t i = 0; i < b->n; i++) {
        char s[IPADDR_STRLEN], d[IPADDR_STRLEN], nh[IPADDR_STRLEN],
            ex[IPADDR_STRLEN];
        printf("%s\t%s\t%lld\t%lld\t%lld\t%lld\t%lld\t%lld\t%lld\t%lld\t%lld\t"
               "%lld\t%lld\t%lld\t%lld\t%s\t%lld\t%lld\t%lld\t%lld\t%lld\t%lld\t"
               "%s",
               ipaddr_format(&b->srcip[i], s, sizeof(s)),
               ipaddr_format(&b->dstip[i], d, sizeof(d)),
               (long long)b->srcport[i], (long long)b->dstport[i],
               (long long)b->proto[i], (long long)b->packets[i],
               (long long)b->bytes[i], (long long)b->tcpflags[i],
               (long long)b->tos[i], (long long)b->ingress[i],
               (long long)b->egress[i], (long long)b->srcas[i],
               (long long)b->dstas[i], (long long)b->srcmask[i],
               (long long)b->dstmask[i],
               ipaddr_format(&b->nexthop[i], nh, sizeof(nh)),
               (long long)b->start[i], (long long)b->end[i],
               (long long)b->sampling[i], (long long)b->domain[i],
               (long long)b->vlan[i], (long long)b->direction[i],
               ipaddr_format(&b->exporter[i], ex, sizeof(ex)));
        if (with_received)
            printf("\t%lld", (long long)b->received[i]);
        putchar('\n');
    }
    return 0;
}

static void die(const char *what, const char *arg)
{
    fprintf(stderr, "arscan: %s: %s\n", what, arg);
    exit(2);
}

static archive_range_t range(const char *s)
{
    archive_range_t r;
    long long lo, hi;
    if (sscanf(s, "%lld,%lld", &lo, &hi) != 2)
        die("not LO,HI", s);
    r.lo = lo;
    r.hi = hi;
    return r;
}

int main(int argc, char **argv)
{
    static archive_net_t src[MAXV], dst[MAXV], any[MAXV];
    static int64_t sp[MAXV], dp[MAXV], ap[MAXV], pr[MAXV];
    archive_pred_t p;
    archive_pred_init(&p);
    p.srcip.nets = src;
    p.dstip.nets = dst;
    p.anyip.nets = any;
    p.srcport.vals = sp;
    p.dstport.vals = dp;
    p.anyport.vals = ap;
    p.proto.vals = pr;
    unsigned flags = 0;
    int stats = 0;
    if (argc < 2)
        die("usage", "arscan DIR [conditions] [--exact] [--count] [--stats]");
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        archive_nets_t *ns = !strcmp(a, "--src") ? &p.srcip
                           : !strcmp(a, "--dst") ? &p.dstip
                           : !strcmp(a, "--host") ? &p.anyip : NULL;
        archive_ints_t *is = !strcmp(a, "--sport") ? &p.srcport
                           : !strcmp(a, "--dport") ? &p.dstport
                           : !strcmp(a, "--port") ? &p.anyport
                           : !strcmp(a, "--proto") ? &p.proto : NULL;
        if (!strcmp(a, "--exact")) {
            flags |= ARCHIVE_SCAN_EXACT;
        } else if (!strcmp(a, "--count")) {
            count_only = 1;
        } else if (!strcmp(a, "--stats")) {
            stats = 1;
        } else if (!strcmp(a, "--print-received")) {
            with_received = 1;
        } else if (!v) {
            die("option without a value (or unknown)", a);
        } else if (!strcmp(a, "--received")) {
            p.received = range(v), i++;
        } else if (!strcmp(a, "--start")) {
            p.start = range(v), i++;
        } else if (!strcmp(a, "--end")) {
            p.end = range(v), i++;
        } else if (ns) {
            archive_net_t *n = (archive_net_t *)&ns->nets[ns->n];
            if (ns->n == MAXV || ipaddr_parse_cidr(v, &n->addr, &n->prefix) < 0)
                die("not an address or network", v);
            ns->n++, i++;
        } else if (is) {
            char *end;
            long long x = strtoll(v, &end, 10);
            if (is->n == MAXV || *end || end == v)
                die("not a number", v);
            ((int64_t *)is->vals)[is->n++] = x;
            i++;
        } else {
            die("unknown option", a);
        }
    }
    archive_scan_stats_t st = {0};
    diag_t err;
    diag_clear(&err);
    int rc = archive_scan(argv[1], &p, (1ull << F_COUNT) - 1, flags, on_batch,
                          NULL, &st, &err);
    if (rc < 0)
        die("scan", err.msg);
    if (count_only)
        printf("%" PRIu64 "\n", nflows);
    if (stats)
        fprintf(stderr,
                "files %" PRIu64 "\nfiles_pruned %" PRIu64 "\nfiles_read %"
                PRIu64 "\nfiles_vanished %" PRIu64 "\nfiles_bad %" PRIu64
                "\nrow_groups %" PRIu64 "\nrg_pruned_stats %" PRIu64
                "\nrg_pruned_bloom %" PRIu64 "\nrg_read %" PRIu64
                "\nrows_read %" PRIu64 "\nrows_matched %" PRIu64
                "\nbytes_read %" PRIu64 "\n",
                st.files, st.files_pruned, st.files_read, st.files_vanished,
                st.files_bad, st.row_groups, st.rg_pruned_stats,
                st.rg_pruned_bloom, st.rg_read, st.rows_read, st.rows_matched,
                st.bytes_read);
    return 0;
}
