/*
 * sendjob.c - IPFIX replay of archived flows to a collector; see
 * sendjob.h.
 *
 * The job scans the selection (flowsel_scan) and, in the scan's
 * callback, hands each flow to the encoder (ingest/ipfix_out.h) when it
 * is due: at t0 + (received - r0) / speed on the monotonic clock, where
 * r0 is the first flow's received time. Before it sleeps it sends the
 * message being built, so no flow waits for a full message longer than
 * the gap to the next one. A flow received earlier than the one before
 * it (the archive is in arrival order only nearly) is due at once.
 *
 * UDP: one connected socket; a failed send (the collector is not there:
 * ECONNREFUSED) is counted and the job goes on. TCP: one connection,
 * templates once per domain; a failed send ends the job.
 */
#include "server/sendjob.h"
#include "archive/flowsel.h"
#include "ingest/ipfix_out.h"
#include "server/jobs.h"
#include "util/counter.h"
#include "util/log.h"
#include "util/timeutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static counter_t sent_flows, sent_msgs, sent_bytes, send_errors;

typedef struct sendjob {
    job_t          *job;
    flowsel_t      *sel;
    char           *dir;
    struct sockaddr_storage addr;
    socklen_t       alen;
    int             tcp;
    double          speed;
    size_t          mtu;
    int             fd;
    ipfix_out_t    *enc;
    int             have_r0;
    int64_t         r0, t0_ns;
    int64_t         last_pub;
    job_progress_t  p;
    uint64_t        errors;
    char            err[256];
} sendjob_t;

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* "a.b.c.d:port" or "[v6]:port" into a socket address; -1 with err. */
static int parse_dest(const char *to, struct sockaddr_storage *ss,
                      socklen_t *len, ipaddr_t *ip, diag_t *err)
{
    char host[128];
    const char *port;
    if (!to || !*to) {
        diag_set(err, "no destination: \"to\" is HOST:PORT");
        return -1;
    }
    if (to[0] == '[') {
        const char *e = strchr(to, ']');
        if (!e || e[1] != ':' || (size_t)(e - to - 1) >= sizeof(host))
            goto bad;
        memcpy(host, to + 1, (size_t)(e - to - 1));
        host[e - to - 1] = 0;
        port = e + 2;
    } else {
        const char *c = strrchr(to, ':');
        if (!c || (size_t)(c - to) >= sizeof(host) || strchr(to, ':') != c)
            goto bad;
        memcpy(host, to, (size_t)(c - to));
        host[c - to] = 0;
        port = c + 1;
    }
    char *end;
    long p = strtol(port, &end, 10);
    if (!*port || *end || p < 1 || p > 65535)
        goto bad;
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)p);
        *len = sizeof(*s4);
        *ip = ipaddr_from_v4(ntohl(s4->sin_addr.s_addr));
        return 0;
    }
    if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)p);
        *len = sizeof(*s6);
        memcpy(ip->a, &s6->sin6_addr, 16);
        return 0;
    }
bad:
    diag_set(err, "bad destination '%s': an address and a port, "
             "192.0.2.1:4739 or [2001:db8::1]:4739 (no host names)", to);
    return -1;
}

/* Is ip inside one of the networks of the comma-separated list? */
static int allowed(const char *list, const ipaddr_t *ip)
{
    char buf[4096];
    snprintf(buf, sizeof(buf), "%s", list ? list : "");
    char *save = NULL;
    for (char *t = strtok_r(buf, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
        ipaddr_t net;
        int prefix;
        if (ipaddr_parse_cidr(t, &net, &prefix) == 0 &&
            ipaddr_in(ip, &net, prefix))
            return 1;
    }
    return 0;
}

static void publish(sendjob_t *s, int force)
{
    int64_t now = time_mono_ms();
    if (!force && now - s->last_pub < 200)
        return;
    s->last_pub = now;
    ipfix_out_stats_t st;
    ipfix_out_stats(s->enc, &st);
    s->p.flows = flowsel_matched(s->sel);
    s->p.flows_sent = st.records;
    s->p.messages = st.messages;
    s->p.bytes = st.bytes;
    job_update(s->job, &s->p);
}

/* The encoder's output: one message to the socket. */
static int on_message(void *ctx, const uint8_t *msg, size_t len)
{
    sendjob_t *s = ctx;
    if (!s->tcp) {
        if (send(s->fd, msg, len, 0) < 0) {
            ctr_inc(&send_errors);
            if (s->errors++ == 0)
                log_warn("replay", "job %llu: sending to the collector "
                         "failed: %s (counted; the replay goes on)",
                         (unsigned long long)job_id(s->job), strerror(errno));
            return 0;
        }
    } else {
        size_t off = 0;
        while (off < len) {
            ssize_t n = send(s->fd, msg + off, len - off, MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                ctr_inc(&send_errors);
                snprintf(s->err, sizeof(s->err), "the collector's TCP "
                         "connection failed: %s",
                         n < 0 ? strerror(errno) : "closed");
                return -1;
            }
            off += (size_t)n;
        }
    }
    ctr_inc(&sent_msgs);
    ctr_add(&sent_bytes, len);
    return 0;
}

/* Wait until the monotonic time due (ns), a slice at a time so that a
 * cancel is seen; 1 if the job must stop. */
static int wait_until(sendjob_t *s, int64_t due)
{
    for (;;) {
        int64_t left = due - mono_ns();
        if (left <= 0)
            return 0;
        if (job_stopping(s->job))
            return 1;
        publish(s, 0);
        int64_t slice = left < 100000000 ? left : 100000000;
        struct timespec ts = {slice / 1000000000, slice % 1000000000};
        nanosleep(&ts, NULL);
    }
}

static int on_batch(void *ctx, const flow_batch_t *b)
{
    sendjob_t *s = ctx;
    if (job_stopping(s->job))
        return 1;
    for (uint32_t i = 0; i < b->n; i++) {
        int64_t r = b->received[i];
        if (!s->have_r0) {
            s->have_r0 = 1;
            s->r0 = r;
            s->t0_ns = mono_ns();
        }
        if (s->speed > 0) {
            int64_t due = s->t0_ns +
                          (int64_t)((double)(r - s->r0) * 1e6 / s->speed);
            if (due > mono_ns() + 1000000) {
                /* the gap is worth a sleep: what is built goes first */
                if (ipfix_out_flush(s->enc) < 0)
                    return 1;
                if (wait_until(s, due))
                    return 1;
            }
        }
        if (ipfix_out_add(s->enc, b, i, time_now_ms()) < 0)
            return 1;
        if (r > s->p.position)
            s->p.position = r;
        ctr_inc(&sent_flows);
    }
    publish(s, 0);
    return 0;
}

static int run(job_t *j, void *arg)
{
    sendjob_t *s = arg;
    s->job = j;
    s->fd = socket(s->addr.ss_family, s->tcp ? SOCK_STREAM : SOCK_DGRAM, 0);
    if (s->fd < 0) {
        job_fail(j, "cannot make a socket: %s", strerror(errno));
        return -1;
    }
    if (s->tcp) {
        struct timeval tv = {10, 0};
        setsockopt(s->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    }
    if (connect(s->fd, (struct sockaddr *)&s->addr, s->alen) < 0) {
        job_fail(j, "cannot connect to the collector: %s", strerror(errno));
        return -1;
    }
    ipfix_out_opts_t o = {.mtu = s->tcp ? 65535 : s->mtu, .stream = s->tcp};
    s->enc = ipfix_out_new(&o, on_message, s);
    diag_t err;
    diag_clear(&err);
    int rc = flowsel_scan(s->sel, s->dir, on_batch, s, NULL, &err);
    if (rc >= 0 && !s->err[0] && ipfix_out_flush(s->enc) < 0)
        rc = -1;
    publish(s, 1);
    if (s->err[0]) {
        job_fail(j, "%s", s->err);
        return -1;
    }
    if (rc < 0) {
        job_fail(j, "%s", err.msg);
        return -1;
    }
    if (s->errors)
        job_fail(j, "%llu messages could not be sent (the collector was "
                 "not listening?)", (unsigned long long)s->errors);
    return s->errors ? -1 : 0;
}

static void free_job(void *arg)
{
    sendjob_t *s = arg;
    if (s->fd >= 0)
        close(s->fd);
    ipfix_out_free(s->enc);
    flowsel_free(s->sel);
    free(s->dir);
    free(s);
}

int sendjob_start(app_t *a, const sendjob_req_t *r, uint64_t *id,
                  diag_t *err)
{
    *id = 0;
    sendjob_t *s = xcalloc(1, sizeof(*s));
    s->fd = -1;
    ipaddr_t ip;
    if (parse_dest(r->to, &s->addr, &s->alen, &ip, err) < 0) {
        free_job(s);
        return AE_BAD;
    }
    if (!allowed(a->cfg.replay_allow, &ip)) {
        diag_set(err, "replay to %s is not allowed: flowsqld sends flows "
                 "only to the networks of --replay-allow (%s)", r->to,
                 *a->cfg.replay_allow ? a->cfg.replay_allow : "none");
        free_job(s);
        return 403;
    }
    if (r->transport && strcmp(r->transport, "udp") != 0 &&
        strcmp(r->transport, "tcp") != 0) {
        diag_set(err, "transport '%s' is not udp or tcp", r->transport);
        free_job(s);
        return AE_BAD;
    }
    s->tcp = r->transport && strcmp(r->transport, "tcp") == 0;
    if (!(r->speed >= 0) || isinf(r->speed)) {
        diag_set(err, "speed must be a positive number (1: the original "
                 "pace) or \"max\"");
        free_job(s);
        return AE_BAD;
    }
    s->speed = r->speed;
    if (r->mtu && (r->mtu < 512 || r->mtu > 65000)) {
        diag_set(err, "mtu must be between 512 and 65000 bytes");
        free_job(s);
        return AE_BAD;
    }
    s->mtu = r->mtu ? (size_t)r->mtu : 1400;
    s->sel = flowsel_new(r->flows, 0, a->cfg.max_groups, err);
    if (!s->sel) {
        free_job(s);
        return AE_BAD;
    }
    char dir[4096];
    if (a->archive)
        snprintf(dir, sizeof(dir), "%s", archive_dir(a->archive));
    else
        snprintf(dir, sizeof(dir), "%s/archive", a->cfg.data_dir);
    s->dir = xstrdup(dir);
    int64_t lo, hi;
    flowsel_range(s->sel, &lo, &hi);
    char what[600], sp[32];
    if (s->speed > 0)
        snprintf(sp, sizeof(sp), "x%g", s->speed);
    else
        snprintf(sp, sizeof(sp), "max");
    snprintf(what, sizeof(what), "IPFIX/%s to %s at %s: %.400s",
             s->tcp ? "TCP" : "UDP", r->to, sp, flowsel_sql(s->sel));
    int busy;
    *id = jobs_start(a->jobs, JOB_REPLAY, what, lo, hi, run, free_job, s,
                     &busy, err);
    if (!*id) {
        free_job(s);
        return busy ? AE_LIMIT : AE_INTERNAL;
    }
    return AE_OK;
}

void sendjob_metrics(sbuf_t *out)
{
    sbuf_printf(out,
        "# HELP flowsql_replay_flows_sent_total Archived flows sent as IPFIX "
        "records by replays.\n# TYPE flowsql_replay_flows_sent_total counter\n"
        "flowsql_replay_flows_sent_total %llu\n"
        "# HELP flowsql_replay_messages_sent_total IPFIX messages sent by "
        "replays.\n# TYPE flowsql_replay_messages_sent_total counter\n"
        "flowsql_replay_messages_sent_total %llu\n"
        "# HELP flowsql_replay_bytes_sent_total Bytes of those messages.\n"
        "# TYPE flowsql_replay_bytes_sent_total counter\n"
        "flowsql_replay_bytes_sent_total %llu\n"
        "# HELP flowsql_replay_send_errors_total Messages a replay could not "
        "send (UDP: counted, the replay goes on; TCP: the replay ends).\n"
        "# TYPE flowsql_replay_send_errors_total counter\n"
        "flowsql_replay_send_errors_total %llu\n",
        (unsigned long long)ctr_get(&sent_flows),
        (unsigned long long)ctr_get(&sent_msgs),
        (unsigned long long)ctr_get(&sent_bytes),
        (unsigned long long)ctr_get(&send_errors));
}
