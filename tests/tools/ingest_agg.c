/*
 * ingest_agg - run the ingest and report what it decoded: per source
 * address flows, packets and bytes (what the end-to-end tests compare
 * with nfdump -A srcip), or every record.
 *
 * Until flowsqld exists this stands in for
 *   SELECT srcip, count(*), sum(packets), sum(bytes) FROM flows
 *   WINDOW 1h GROUP BY srcip
 *
 * usage:
 *   ingest_agg [options]                 listen and aggregate
 *   ingest_agg --pcap A.pcap [B.pcap..]  replay captures to itself
 *                                        (IPFIX, NetFlow, sFlow by version)
 *   ingest_agg --file X.ipfix            read an IPFIX file
 * options:
 *   --bind ADDR            (127.0.0.1)
 *   --ipfix-port P         IPFIX/UDP (-1 off; 0 any)        default 4739
 *   --tcp-port P           IPFIX/TCP                       default 4739
 *   --netflow-port P       NetFlow v5/v9                   default 2055
 *   --sflow-port P         sFlow v5                        default -1 (off)
 *   --ports-file F         write "ipfix tcp netflow" ports when listening
 *   --idle-ms N            stop N ms after the last record (default 2000)
 *   --max-s N              stop after N seconds in any case (default 60)
 *   --expect N             stop as soon as N records arrived
 *   --records              print every record instead of the aggregate
 *   --elements FILE        custom IPFIX elements (as --ipfix-elements)
 *   --fields a,b           with --records: the first 20 columns, then
 *                          these custom element fields
 *   --stats                print per-exporter counters to stderr
 * Output (aggregate): "srcip flows packets bytes first last", sorted by
 * address (first: earliest start, last: latest end, ms since the epoch).
 * Output (--records): tab-separated, see print_record().
 */
#include "engine/schema.h"
#include "engine/xfield.h"
#include "ingest/ingest.h"
#include "tests/tools/pcapio.h"
#include "util/arena.h"
#include "util/log.h"
#include "util/timeutil.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct agg {
    ipaddr_t ip;
    int64_t  flows, packets, bytes, first, last;
    int      used;
} agg_t;

static agg_t *tab;
static size_t tab_cap = 1 << 16, tab_n;
static int print_records;
static uint64_t nrecords;
static volatile sig_atomic_t stop_now;

static uint64_t hash_ip(const ipaddr_t *ip)
{
    uint64_t a, b;
    memcpy(&a, ip->a, 8);
    memcpy(&b, ip->a + 8, 8);
    uint64_t h = (a ^ (b * 0x9e3779b97f4a7c15ULL)) * 0xff51afd7ed558ccdULL;
    return h ^ (h >> 31);
}

static agg_t *agg_get(const ipaddr_t *ip)
{
    if ((tab_n + 1) * 2 > tab_cap) {
        agg_t *old = tab;
        size_t oc = tab_cap;
        tab_cap *= 2;
        tab = xcalloc(tab_cap, sizeof(agg_t));
        tab_n = 0;
        for (size_t i = 0; i < oc; i++)
            if (old[i].used) {
                agg_t *e = agg_get(&old[i].ip);
                *e = old[i];
            }
        free(old);
    }
    size_t j = hash_ip(ip) & (tab_cap - 1);
    while (tab[j].used && ipaddr_cmp(&tab[j].ip, ip) != 0)
        j = (j + 1) & (tab_cap - 1);
    if (!tab[j].used) {
        tab[j].used = 1;
        tab[j].ip = *ip;
        tab_n++;
    }
    return &tab[j];
}

/* The first 20 columns of print_record, without the end of line. */
static void print_record_cols(const flow_batch_t *b, uint32_t i)
{
    char s[IPADDR_STRLEN], d[IPADDR_STRLEN], nh[IPADDR_STRLEN];
    printf("%s\t%s\t%lld\t%lld\t%lld\t%lld\t%lld\t%lld\t%lld\t%lld\t%lld\t"
           "%lld\t%lld\t%lld\t%lld\t%s\t%lld\t%lld\t%lld\t%lld",
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
           (long long)b->sampling[i], (long long)b->domain[i]);
}

static void print_record(const flow_batch_t *b, uint32_t i)
{
    char s[IPADDR_STRLEN], d[IPADDR_STRLEN], nh[IPADDR_STRLEN],
        ex[IPADDR_STRLEN];
    printf("%s\t%s\t%lld\t%lld\t%lld\t%lld\t%lld\t%lld\t%lld\t%lld\t%lld\t"
           "%lld\t%lld\t%lld\t%lld\t%s\t%lld\t%lld\t%lld\t%lld\t%lld\t%lld\t"
           "%s\n",
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
}

/* --fields: custom element fields printed after the record's columns */
static int xf_slots[XF_NSLOTS], nxf;

static void print_custom(const flow_batch_t *b, uint32_t i)
{
    for (int k = 0; k < nxf; k++) {
        int slot = xf_slots[k];
        const void *col;
        if (b->xfilled >> slot & 1)
            col = (const char *)b + schema_fields[F_X0 + slot].offset;
        else
            col = xfield_zero_column(slot);
        char ip[IPADDR_STRLEN];
        if (slot < XF_NINT)
            printf("\t%lld", (long long)((const int64_t *)col)[i]);
        else if (slot < XF_NINT + XF_NSTR)
            printf("\t%s", ((const char *const *)col)[i]);
        else
            printf("\t%s", ipaddr_format(&((const ipaddr_t *)col)[i], ip,
                                          sizeof(ip)));
    }
}

static void consume(const flow_batch_t *b)
{
    for (uint32_t i = 0; i < b->n; i++) {
        if (print_records && nxf) {
            print_record_cols(b, i);
            print_custom(b, i);
            printf("\n");
            continue;
        }
        if (print_records) {
            print_record(b, i);
            continue;
        }
        agg_t *a = agg_get(&b->srcip[i]);
        if (!a->flows || b->start[i] < a->first)
            a->first = b->start[i];
        if (!a->flows || b->end[i] > a->last)
            a->last = b->end[i];
        a->flows++;
        a->packets += b->packets[i];
        a->bytes += b->bytes[i];
    }
    nrecords += b->n;
}

static void emit(void *ctx, flow_batch_t *b)
{
    (void)ctx;
    consume(b);
}

static int cmp_agg(const void *x, const void *y)
{
    return ipaddr_cmp(&((const agg_t *)x)->ip, &((const agg_t *)y)->ip);
}

static void print_agg(void)
{
    agg_t *rows = xcalloc(tab_n + 1, sizeof(agg_t));
    size_t n = 0;
    for (size_t i = 0; i < tab_cap; i++)
        if (tab[i].used)
            rows[n++] = tab[i];
    qsort(rows, n, sizeof(agg_t), cmp_agg);
    for (size_t i = 0; i < n; i++) {
        char s[IPADDR_STRLEN];
        printf("%s %lld %lld %lld %lld %lld\n",
               ipaddr_format(&rows[i].ip, s, sizeof(s)),
               (long long)rows[i].flows, (long long)rows[i].packets,
               (long long)rows[i].bytes, (long long)rows[i].first,
               (long long)rows[i].last);
    }
    free(rows);
}

static void print_stats(ingest_t *ing)
{
    ingest_exporter_stats_t rows[256];
    size_t n = ingest_stats(ing, rows, 256);
    for (size_t i = 0; i < n && i < 256; i++) {
        char a[IPADDR_STRLEN];
        fprintf(stderr,
                "exporter %s domain %u proto %d: messages %llu records %llu "
                "bytes %llu decode_errors %llu unknown_tmpl %llu "
                "seq_lost %llu seq_lost_msgs %llu queue_drops %llu "
                "counter_samples %llu\n",
                ipaddr_format(&rows[i].exporter, a, sizeof(a)),
                rows[i].domain, rows[i].proto,
                (unsigned long long)rows[i].messages,
                (unsigned long long)rows[i].records,
                (unsigned long long)rows[i].bytes,
                (unsigned long long)rows[i].decode_errors,
                (unsigned long long)rows[i].unknown_tmpl,
                (unsigned long long)rows[i].seq_lost,
                (unsigned long long)rows[i].seq_lost_msgs,
                (unsigned long long)rows[i].queue_drops,
                (unsigned long long)rows[i].counter_samples);
    }
}

/* One sending socket per original sender, so the collector sees as many
 * transport sessions as there were on the wire. */
typedef struct sender {
    struct sockaddr_storage orig;
    int fd;
} sender_t;

static int sender_for(sender_t *s, int *n, const struct sockaddr_storage *o)
{
    for (int i = 0; i < *n; i++)
        if (!memcmp(&s[i].orig, o, sizeof(*o)))
            return s[i].fd;
    if (*n == 256)
        return s[0].fd;
    s[*n].orig = *o;
    s[*n].fd = socket(AF_INET, SOCK_DGRAM, 0);
    return s[(*n)++].fd;
}

static int replay_pcaps(ingest_t *ing, char **files, int nfiles)
{
    sender_t senders[256];
    int nsend = 0;
    int ipfix = ingest_port(ing, INGEST_IPFIX_UDP);
    int nf = ingest_port(ing, INGEST_NETFLOW);
    int sf = ingest_port(ing, INGEST_SFLOW);
    for (int f = 0; f < nfiles; f++) {
        char err[PCAP_ERRBUF_SIZE];
        pcap_udp_t u;
        if (pcap_udp_open(&u, files[f], err) != 0) {
            fprintf(stderr, "ingest_agg: %s\n", err);
            return -1;
        }
        while (pcap_udp_next(&u) == 1) {
            int fd = sender_for(senders, &nsend, &u.src);
            int version = u.len >= 2 ? (u.payload[0] << 8 | u.payload[1]) : 0;
            struct sockaddr_in to = {.sin_family = AF_INET};
            to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            /* sFlow's version is 32 bits (00 00 00 05), NetFlow's 16 */
            int sflow = u.len >= 4 && version == 0 && u.payload[2] == 0 &&
                        u.payload[3] == 5;
            to.sin_port = htons((uint16_t)(sflow ? sf
                                           : version == 10 ? ipfix : nf));
            if (sendto(fd, u.payload, u.len, 0, (struct sockaddr *)&to,
                       sizeof(to)) < 0)
                perror("sendto");
            usleep(1000); /* in order, and no loss */
        }
        pcap_udp_close(&u);
    }
    for (int i = 0; i < nsend; i++)
        close(senders[i].fd);
    return 0;
}

static void on_signal(int sig)
{
    (void)sig;
    stop_now = 1;
}

static int intarg(const char *s)
{
    return atoi(s);
}

int main(int argc, char **argv)
{
    ingest_config_t cfg = INGEST_CONFIG_INIT;
    cfg.bind_addr = "127.0.0.1";
    const char *file = NULL, *ports_file = NULL;
    char **pcaps = NULL;
    int npcaps = 0, stats = 0;
    int64_t idle_ms = 2000, max_s = 60;
    uint64_t expect = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : "";
        if (!strcmp(a, "--bind")) cfg.bind_addr = v, i++;
        else if (!strcmp(a, "--ipfix-port")) cfg.ipfix_udp_port = intarg(v), i++;
        else if (!strcmp(a, "--tcp-port")) cfg.ipfix_tcp_port = intarg(v), i++;
        else if (!strcmp(a, "--netflow-port")) cfg.netflow_port = intarg(v), i++;
        else if (!strcmp(a, "--sflow-port")) cfg.sflow_port = intarg(v), i++;
        else if (!strcmp(a, "--ports-file")) ports_file = v, i++;
        else if (!strcmp(a, "--idle-ms")) idle_ms = intarg(v), i++;
        else if (!strcmp(a, "--max-s")) max_s = intarg(v), i++;
        else if (!strcmp(a, "--expect")) expect = (uint64_t)atoll(v), i++;
        else if (!strcmp(a, "--records")) print_records = 1;
        else if (!strcmp(a, "--elements")) {
            char err[512];
            if (xfield_load(v, err, sizeof(err)) < 0) {
                fprintf(stderr, "ingest_agg: %s\n", err);
                return 2;
            }
            i++;
        } else if (!strcmp(a, "--fields")) {
            char *list = xstrdup(v), *save = NULL;
            for (char *t = strtok_r(list, ",", &save); t;
                 t = strtok_r(NULL, ",", &save)) {
                int f = schema_lookup(t, strlen(t));
                if (f < F_X0 || nxf == XF_NSLOTS) {
                    fprintf(stderr, "ingest_agg: %s is no custom element "
                            "field\n", t);
                    return 2;
                }
                xf_slots[nxf++] = f - F_X0;
                xfield_want(xfield_wanted() | 1u << (f - F_X0));
            }
            free(list);
            i++;
        }
        else if (!strcmp(a, "--stats")) stats = 1;
        else if (!strcmp(a, "--file")) file = v, i++;
        else if (!strcmp(a, "--pcap")) {
            pcaps = argv + i + 1;
            npcaps = argc - i - 1;
            break;
        } else {
            fprintf(stderr, "ingest_agg: unknown option %s\n", a);
            return 2;
        }
    }
    log_set_level(LOG_WARN);
    tab = xcalloc(tab_cap, sizeof(agg_t));

    if (file) {
        diag_t err = {0};
        ingest_file_result_t res;
        int rc = ingest_read_file(file, emit, NULL, &res, &err);
        if (rc != 0)
            fprintf(stderr, "ingest_agg: %s\n", err.msg);
        if (!print_records)
            print_agg();
        if (stats)
            fprintf(stderr, "file: messages %llu records %llu decode_errors "
                    "%llu unknown_tmpl %llu seq_lost %llu\n",
                    (unsigned long long)res.messages,
                    (unsigned long long)res.records,
                    (unsigned long long)res.decode_errors,
                    (unsigned long long)res.unknown_tmpl,
                    (unsigned long long)res.seq_lost);
        return rc == 0 ? 0 : 1;
    }

    if (npcaps) {
        cfg.ipfix_udp_port = cfg.netflow_port = cfg.sflow_port = 0;
        cfg.ipfix_tcp_port = -1;
    }
    bqueue_t q;
    bqueue_init(&q, 256);
    cfg.out = &q;
    cfg.pool_batches = 300;
    diag_t err = {0};
    ingest_t *ing = ingest_start(&cfg, &err);
    if (!ing) {
        fprintf(stderr, "ingest_agg: %s\n", err.msg);
        return 1;
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    if (ports_file) {
        char tmp[512];
        snprintf(tmp, sizeof(tmp), "%s.tmp", ports_file);
        FILE *f = fopen(tmp, "w");
        if (f) {
            fprintf(f, "%d %d %d\n", ingest_port(ing, INGEST_IPFIX_UDP),
                    ingest_port(ing, INGEST_IPFIX_TCP),
                    ingest_port(ing, INGEST_NETFLOW));
            fclose(f);
            rename(tmp, ports_file);
        }
    }
    if (npcaps && replay_pcaps(ing, pcaps, npcaps) != 0)
        stop_now = 1;

    int64_t start = time_mono_ms(), last = start;
    while (!stop_now) {
        flow_batch_t *b = bqueue_pop(&q, 50);
        int64_t now = time_mono_ms();
        if (b) {
            consume(b);
            ingest_batch_release(ing, b);
            last = now;
        }
        if (expect && nrecords >= expect)
            break;
        if (nrecords && now - last > idle_ms)
            break;
        if (npcaps && !nrecords && now - last > idle_ms)
            break;
        if (now - start > max_s * 1000)
            break;
    }
    if (stats)
        print_stats(ing);
    ingest_stop(ing);
    flow_batch_t *b;
    bqueue_close(&q);
    while ((b = bqueue_pop(&q, 0))) {
        consume(b);
        flow_batch_free(b);
    }
    bqueue_destroy(&q);
    if (!print_records)
        print_agg();
    fflush(stdout);
    free(tab);
    return 0;
}
