/*
 * pcaplive.c - a live interface metered into flows (see pcapsrc.h and
 * docs/INGEST.md, "A live interface"), and the flowsql_pcap_* metrics.
 *
 * One thread: libpcap in non-blocking mode, poll() on its descriptor
 * with a short timeout so that the thread sees a stop at once, reads
 * the kernel's drop counters and expires the meter once a second.
 */
#include "ingest/pcapsrc.h"
#include "engine/schema.h"
#include "util/arena.h"
#include "util/log.h"
#include "util/timeutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

struct pcaplive {
    char           *ifname;
    pcap_t         *p;
    int             dlt;
    int             fd;         /* pcap_get_selectable_fd */
    bqueue_t       *out;
    meter_t        *m;
    pthread_t       thr;
    int             running;
    flag_t          stop;
    int             failing;    /* pcap_dispatch errors, logged once */
    pcapsrc_stats_t st;
};

/* Full batches are offered, never waited for: a capture that waits
 * drops in the kernel instead, and the meter's table grows meanwhile. */
static void live_emit(void *ctx, flow_batch_t *b)
{
    pcaplive_t *l = ctx;
    if (!b->n)
        return;
    flow_batch_t *nb = flow_batch_new();
    flow_batch_copy(nb, b, ~0ULL);
    nb->flags = 0;
    int64_t now = time_now_ms();
    for (uint32_t i = 0; i < nb->n; i++)
        nb->received[i] = now;
    if (bqueue_try_push(l->out, nb) < 0) {
        ctr_add(&l->st.queue_drops, nb->n);
        flow_batch_free(nb);
    }
}

static void on_packet(u_char *user, const struct pcap_pkthdr *h,
                      const u_char *data)
{
    pcaplive_t *l = (pcaplive_t *)user;
    meter_packet(l->m, l->dlt,
                 (int64_t)h->ts.tv_sec * 1000000 + h->ts.tv_usec, data,
                 h->caplen, h->len);
}

/* The meter's and the kernel's counters into ours. */
static void sync_stats(pcaplive_t *l)
{
    meter_stats_t ms;
    meter_get_stats(l->m, &ms);
    ctr_set(&l->st.packets, ms.packets);
    ctr_set(&l->st.metered, ms.metered);
    ctr_set(&l->st.not_ip, ms.not_ip);
    ctr_set(&l->st.truncated, ms.truncated);
    ctr_set(&l->st.malformed, ms.malformed);
    ctr_set(&l->st.active_flows, ms.active_flows);
    ctr_set(&l->st.flows, ms.flows_out);
    ctr_set(&l->st.table_full, ms.table_full);
    struct pcap_stat ps;
    if (pcap_stats(l->p, &ps) == 0) {
        ctr_set(&l->st.kernel_drops, ps.ps_drop);
        ctr_set(&l->st.if_drops, ps.ps_ifdrop);
    }
}

static void *live_main(void *arg)
{
    pcaplive_t *l = arg;
    int64_t last = time_mono_ms();
    while (!flag_get(&l->stop)) {
        struct pollfd pfd = {l->fd, POLLIN, 0};
        poll(&pfd, 1, 200);
        int n = pcap_dispatch(l->p, -1, on_packet, (u_char *)l);
        if (n < 0 && !l->failing) {
            log_error("pcap", "%s: capture failed: %s (trying again every "
                      "second)", l->ifname, pcap_geterr(l->p));
            l->failing = 1;
        } else if (n > 0 && l->failing) {
            log_info("pcap", "%s: capturing again", l->ifname);
            l->failing = 0;
        }
        int64_t now = time_mono_ms();
        if (now - last >= 1000) {
            /* A quiet link: its packet time is the wall clock. */
            meter_expire(l->m, time_now_ms() * 1000);
            sync_stats(l);
            last = now;
        } else if (n < 0) {
            poll(NULL, 0, 200);
        }
    }
    meter_flush(l->m);
    sync_stats(l);
    return NULL;
}

/* The interface's first IPv4 address, else its first IPv6 one, else ::;
 * the records' exporter. */
static ipaddr_t if_address(const char *ifname)
{
    ipaddr_t a = {{0}}, v6 = {{0}};
    int have6 = 0;
    struct ifaddrs *ifs, *i;
    if (getifaddrs(&ifs) < 0)
        return a;
    for (i = ifs; i; i = i->ifa_next) {
        if (!i->ifa_addr || strcmp(i->ifa_name, ifname) != 0)
            continue;
        if (i->ifa_addr->sa_family == AF_INET) {
            const struct sockaddr_in *s = (void *)i->ifa_addr;
            a.a[10] = a.a[11] = 0xff;
            memcpy(a.a + 12, &s->sin_addr, 4);
            freeifaddrs(ifs);
            return a;
        }
        if (i->ifa_addr->sa_family == AF_INET6 && !have6) {
            const struct sockaddr_in6 *s = (void *)i->ifa_addr;
            memcpy(v6.a, &s->sin6_addr, 16);
            have6 = 1;
        }
    }
    freeifaddrs(ifs);
    return have6 ? v6 : a;
}

static void live_free(pcaplive_t *l)
{
    if (l->p)
        pcap_close(l->p);
    meter_free(l->m);
    free(l->ifname);
    free(l);
}

pcaplive_t *pcaplive_start(const pcaplive_config_t *cfg, diag_t *err)
{
    if (!cfg->ifname || !*cfg->ifname || !cfg->out) {
        diag_set(err, "--pcap-if: no interface given");
        return NULL;
    }
    pcaplive_t *l = xcalloc(1, sizeof(*l));
    l->ifname = xstrdup(cfg->ifname);
    l->out = cfg->out;
    char eb[PCAP_ERRBUF_SIZE] = "";
    l->p = pcap_create(cfg->ifname, eb);
    if (!l->p) {
        diag_set(err, "--pcap-if %s: %s", cfg->ifname, eb);
        goto fail;
    }
    pcap_set_snaplen(l->p, cfg->snaplen > 0 ? cfg->snaplen : 256);
    pcap_set_promisc(l->p, 1);
    pcap_set_timeout(l->p, 100);
    pcap_set_buffer_size(l->p, cfg->buffer_bytes > 0 ? cfg->buffer_bytes
                                                     : 32 << 20);
    int rc = pcap_activate(l->p);
    if (rc == PCAP_ERROR_NO_SUCH_DEVICE) {
        diag_set(err, "--pcap-if %s: no such interface (`ip link` lists "
                 "them; 'any' captures on all)", cfg->ifname);
        goto fail;
    }
    if (rc == PCAP_ERROR_PERM_DENIED || rc == PCAP_ERROR_PROMISC_PERM_DENIED) {
        diag_set(err, "--pcap-if %s: permission denied: capturing needs "
                 "CAP_NET_RAW and CAP_NET_ADMIN (root, or setcap "
                 "cap_net_raw,cap_net_admin=eip on flowsqld): %s",
                 cfg->ifname, pcap_geterr(l->p));
        goto fail;
    }
    if (rc == PCAP_ERROR_IFACE_NOT_UP) {
        diag_set(err, "--pcap-if %s: the interface is down", cfg->ifname);
        goto fail;
    }
    if (rc < 0) {
        diag_set(err, "--pcap-if %s: %s", cfg->ifname, pcap_geterr(l->p));
        goto fail;
    }
    if (rc > 0)
        log_warn("pcap", "%s: %s", cfg->ifname, pcap_geterr(l->p));
    l->dlt = pcap_datalink(l->p);
    if (cfg->filter && *cfg->filter) {
        struct bpf_program prog;
        if (pcap_compile(l->p, &prog, cfg->filter, 1,
                         PCAP_NETMASK_UNKNOWN) < 0) {
            diag_set(err, "--pcap-filter '%s': %s", cfg->filter,
                     pcap_geterr(l->p));
            goto fail;
        }
        rc = pcap_setfilter(l->p, &prog);
        pcap_freecode(&prog);
        if (rc < 0) {
            diag_set(err, "--pcap-filter '%s': %s", cfg->filter,
                     pcap_geterr(l->p));
            goto fail;
        }
    }
    if (pcap_setnonblock(l->p, 1, eb) < 0 ||
        (l->fd = pcap_get_selectable_fd(l->p)) < 0) {
        diag_set(err, "--pcap-if %s: cannot poll the capture: %s",
                 cfg->ifname, *eb ? eb : "no selectable descriptor");
        goto fail;
    }
    meter_config_t mc = cfg->meter;
    mc.exporter = if_address(cfg->ifname);
    mc.domain = if_nametoindex(cfg->ifname);
    mc.replay = 0;
    l->m = meter_new(&mc, live_emit, l);
    if (pthread_create(&l->thr, NULL, live_main, l) != 0) {
        diag_set(err, "--pcap-if: cannot start its thread: %s",
                 strerror(errno));
        goto fail;
    }
    l->running = 1;
    char ip[IPADDR_STRLEN];
    log_info("pcap", "capturing on %s (link type %s)%s%s; flows' exporter "
             "%s, domain %u", cfg->ifname,
             pcap_datalink_val_to_name(l->dlt) ? pcap_datalink_val_to_name(l->dlt)
                                               : "?",
             cfg->filter && *cfg->filter ? ", filter " : "",
             cfg->filter && *cfg->filter ? cfg->filter : "",
             ipaddr_format(&mc.exporter, ip, sizeof(ip)), mc.domain);
    return l;
fail:
    live_free(l);
    return NULL;
}

void pcaplive_stop(pcaplive_t *l)
{
    if (!l)
        return;
    flag_set(&l->stop, 1);
    if (l->running)
        pthread_join(l->thr, NULL);
    log_info("pcap", "%s: %llu packets, %llu flows, %llu dropped by the "
             "kernel", l->ifname, (unsigned long long)ctr_get(&l->st.packets),
             (unsigned long long)ctr_get(&l->st.flows),
             (unsigned long long)ctr_get(&l->st.kernel_drops));
    live_free(l);
}

pcapsrc_stats_t *pcaplive_stats(pcaplive_t *l)
{
    return &l->st;
}

/* ---- metrics ------------------------------------------------------------ */

void pcapsrc_metrics(pcapdir_t *d, pcaplive_t *l, sbuf_t *out)
{
    static pcapsrc_stats_t zero;
    pcapsrc_stats_t *sd = d ? pcapdir_stats(d) : &zero;
    pcapsrc_stats_t *sl = l ? pcaplive_stats(l) : &zero;
    static const struct {
        const char *name, *help;
        size_t      off;
    } per_source[] = {
        {"flowsql_pcap_packets_total", "packets read by the flow meter",
         offsetof(pcapsrc_stats_t, packets)},
        {"flowsql_pcap_flows_total", "flows the meter exported",
         offsetof(pcapsrc_stats_t, flows)},
        {"flowsql_pcap_table_full_total", "flows exported early: the "
         "meter's flow table was full", offsetof(pcapsrc_stats_t, table_full)},
    };
    for (size_t k = 0; k < sizeof(per_source) / sizeof(per_source[0]); k++) {
        const char *n = per_source[k].name;
        size_t off = per_source[k].off;
        sbuf_printf(out, "# HELP %s %s\n# TYPE %s counter\n"
                         "%s{source=\"dir\"} %llu\n"
                         "%s{source=\"interface\"} %llu\n",
                    n, per_source[k].help, n, n,
                    (unsigned long long)ctr_get((counter_t *)((char *)sd + off)),
                    n,
                    (unsigned long long)ctr_get((counter_t *)((char *)sl + off)));
    }
    const char *u = "flowsql_pcap_packets_unmetered_total";
    sbuf_printf(out, "# HELP %s packets counted in no flow\n"
                     "# TYPE %s counter\n", u, u);
    static const struct {
        const char *reason;
        size_t      off;
    } why[] = {
        {"not_ip", offsetof(pcapsrc_stats_t, not_ip)},
        {"truncated", offsetof(pcapsrc_stats_t, truncated)},
        {"malformed", offsetof(pcapsrc_stats_t, malformed)},
    };
    for (int s = 0; s < 2; s++)
        for (size_t k = 0; k < sizeof(why) / sizeof(why[0]); k++)
            sbuf_printf(out, "%s{source=\"%s\",reason=\"%s\"} %llu\n", u,
                        s ? "interface" : "dir", why[k].reason,
                        (unsigned long long)ctr_get(
                            (counter_t *)((char *)(s ? sl : sd) + why[k].off)));
    sbuf_printf(out, "# HELP flowsql_pcap_active_flows flows in the meter's "
                     "table now\n# TYPE flowsql_pcap_active_flows gauge\n"
                     "flowsql_pcap_active_flows{source=\"dir\"} %llu\n"
                     "flowsql_pcap_active_flows{source=\"interface\"} %llu\n",
                (unsigned long long)ctr_get(&sd->active_flows),
                (unsigned long long)ctr_get(&sl->active_flows));
    sbuf_printf(out,
        "# HELP flowsql_pcap_files_total files of --pcap-dir: metered (done) "
        "or moved to failed/\n"
        "# TYPE flowsql_pcap_files_total counter\n"
        "flowsql_pcap_files_total{result=\"done\"} %llu\n"
        "flowsql_pcap_files_total{result=\"failed\"} %llu\n"
        "# HELP flowsql_pcap_kernel_drops_total packets of --pcap-if the "
        "kernel dropped: buffer full, or by the interface\n"
        "# TYPE flowsql_pcap_kernel_drops_total counter\n"
        "flowsql_pcap_kernel_drops_total{reason=\"buffer\"} %llu\n"
        "flowsql_pcap_kernel_drops_total{reason=\"interface\"} %llu\n"
        "# HELP flowsql_pcap_queue_drops_total flows of --pcap-if dropped: "
        "engine queue full\n"
        "# TYPE flowsql_pcap_queue_drops_total counter\n"
        "flowsql_pcap_queue_drops_total %llu\n",
        (unsigned long long)ctr_get(&sd->files_done),
        (unsigned long long)ctr_get(&sd->files_failed),
        (unsigned long long)ctr_get(&sl->kernel_drops),
        (unsigned long long)ctr_get(&sl->if_drops),
        (unsigned long long)ctr_get(&sl->queue_drops));
}
