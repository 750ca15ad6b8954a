/*
 * ingest.c - sockets, the receive thread and the batch pool.
 *
 * One thread polls every socket: IPFIX over UDP (recvmmsg, many datagrams
 * per call), IPFIX over TCP (a listening socket and its connections),
 * NetFlow v5 and v9 on its UDP port, sFlow v5 on its own, and a pipe that
 * wakes it to stop.
 * These are its only sockets: all decoding happens in memory. It decodes
 * into the current batch of the sink; full batches go to the consumer's
 * queue without waiting, partial ones once they are flush_ms old.
 *
 * Transport sessions (an exporter address and port on a protocol) carry
 * the template state; they are found in a hash table, kept in
 * most-recently-used order, and forgotten after session_timeout_s of
 * silence or, when the table is full, if idle for a minute. A datagram
 * whose header is not even plausible creates no session.
 *
 * IPFIX/TCP connections are slots a stranger could hold: at most
 * max_tcp_per_source from one address; one that has not sent a
 * well-formed message within tcp_silent_timeout_s is closed, and when
 * every slot is taken the oldest such silent connection is closed for a
 * newcomer. A connection that has delivered is only closed after
 * session_timeout_s of silence. Refusals are counted on the peer's
 * domain 0 row and logged with its address.
 */
#include "ingest/ingest_int.h"
#include "util/arena.h"
#include "util/timeutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <string.h>
#include <unistd.h>

#define MMSG_N        32
#define MMSG_BUF      65536
#define RECV_ROUNDS   16        /* recvmmsg calls per socket per poll */
#define TCP_BUF       (128u << 10)
#define SWEEP_MS      10000
#define EVICT_IDLE_MS 60000

/* Totals that belong to no exporter (ingest_get_totals copies them). */
typedef struct totals {
    counter_t batches, queue_drops;
    counter_t tcp_accepted, tcp_rejected, tcp_silent_closed;
    counter_t sessions_evicted;
} totals_t;

struct ingest {
    ingest_config_t cfg;
    int             udp_fd, tcp_fd, nf_fd, sf_fd;
    int             ports[4];
    int             wake[2];
    flag_t          stop;
    pthread_t       thread;
    int             running;

    bqueue_t        free_q;          /* the pool */
    int             pool_n;
    sink_t          sink;
    decoder_t       dec;
    stats_table_t   stats;
    stats_table_t   ifstats;         /* sFlow counter samples per interface */

    /* UDP transport sessions */
    tsession_t    **buckets;
    size_t          nbuckets, nsessions;
    tsession_t     *lru_head, *lru_tail;
    /* TCP connections */
    tsession_t    **conns;
    int             nconns;

    /* receive buffers */
    struct mmsghdr  msgs[MMSG_N];
    struct iovec    iov[MMSG_N];
    struct sockaddr_storage peers[MMSG_N];
    uint8_t        *bufs;

    int64_t         last_sweep_ms;
    int64_t         pool_retry_ms;   /* pool empty: next look */
    totals_t        totals;
    log_limit_t     lim_drop, lim_sock, lim_accept;
};

/* ---- addresses ---------------------------------------------------------- */

ipaddr_t sockaddr_to_ip(const struct sockaddr *sa, uint16_t *port)
{
    ipaddr_t ip = {{0}};
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        ip = ipaddr_from_v4(ntohl(s4->sin_addr.s_addr));
        if (port)
            *port = ntohs(s4->sin_port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        memcpy(ip.a, &s6->sin6_addr, 16);
        if (port)
            *port = ntohs(s6->sin6_port);
    } else if (port) {
        *port = 0;
    }
    return ip;
}

/* ---- the pool and the hand-off -------------------------------------------- */

/* Records of a batch that could not be handed over: count them against
 * their exporters (runs of the same exporter are the common case). */
static void count_drops(ingest_t *ing, const flow_batch_t *b)
{
    uint32_t i = 0;
    while (i < b->n) {
        uint32_t j = i + 1;
        while (j < b->n && b->domain[j] == b->domain[i] &&
               ipaddr_cmp(&b->exporter[j], &b->exporter[i]) == 0)
            j++;
        stats_entry_t *e =
            stats_get(&ing->stats, &b->exporter[i], (uint32_t)b->domain[i]);
        ctr_add(&e->queue_drops, j - i);
        i = j;
    }
    ctr_add(&ing->totals.queue_drops, b->n);
    log_limited(&ing->lim_drop, LOG_WARN, "ingest",
                "consumer queue full: dropped a batch of %u records", b->n);
}

static void handoff(ingest_t *ing, flow_batch_t *b)
{
    if (bqueue_try_push(ing->cfg.out, b) == 0) {
        ctr_inc(&ing->totals.batches);
        return;
    }
    count_drops(ing, b);
    flow_batch_reset(b);
    bqueue_try_push(&ing->free_q, b);
}

/* The sink's next batch, from the pool, its age counted from now_mono;
 * the pool grows on demand up to pool_batches (receive thread only), so
 * its memory follows the deepest backlog seen, not the configured limit.
 * -1 when the pool is empty and at its limit (the sink has no batch). */
static int sink_take(ingest_t *ing, int64_t now_mono)
{
    sink_t *s = &ing->sink;
    s->cur = bqueue_pop(&ing->free_q, 0);
    if (!s->cur && ing->pool_n < ing->cfg.pool_batches) {
        s->cur = flow_batch_new();
        ing->pool_n++;
    }
    if (!s->cur)
        return -1;
    flow_batch_reset(s->cur);
    s->cur_since_ms = now_mono;
    return 0;
}

static int live_refill(sink_t *s)
{
    ingest_t *ing = s->ctx;
    if (s->cur) {
        if (s->cur->n == 0)
            return 0;
        handoff(ing, s->cur);
        s->cur = NULL;
    } else {
        /* The pool was empty: look again at most every millisecond, not
         * for every record. */
        if (time_mono_ms() < ing->pool_retry_ms)
            return -1;
    }
    if (sink_take(ing, time_mono_ms()) < 0) {
        ing->pool_retry_ms = time_mono_ms() + 1;
        return -1;
    }
    return 0;
}

static void flush_if_old(ingest_t *ing, int64_t now_mono, int force)
{
    sink_t *s = &ing->sink;
    if (!s->cur) { /* the pool ran dry: see if the consumer gave some back */
        sink_take(ing, now_mono);
        return;
    }
    if (s->cur->n == 0)
        return;
    if (!force && now_mono - s->cur_since_ms < ing->cfg.flush_ms)
        return;
    handoff(ing, s->cur);
    sink_take(ing, now_mono);
}

void ingest_batch_release(ingest_t *ing, flow_batch_t *b)
{
    if (!b)
        return;
    flow_batch_reset(b);
    if (bqueue_try_push(&ing->free_q, b) != 0)
        flow_batch_free(b); /* not one of ours, or the pool is closed */
}

/* ---- sessions --------------------------------------------------------------- */

static uint64_t sess_hash(int kind, const ipaddr_t *ip, uint16_t port)
{
    uint64_t h = (uint64_t)kind * 0x9e3779b97f4a7c15ULL ^ port;
    for (int i = 0; i < 16; i += 8) {
        uint64_t w;
        memcpy(&w, ip->a + i, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdULL;
        h ^= h >> 29;
    }
    return h;
}

static void lru_unlink(ingest_t *ing, tsession_t *ts)
{
    if (ts->lprev)
        ts->lprev->lnext = ts->lnext;
    else
        ing->lru_head = ts->lnext;
    if (ts->lnext)
        ts->lnext->lprev = ts->lprev;
    else
        ing->lru_tail = ts->lprev;
    ts->lnext = ts->lprev = NULL;
}

static void lru_push(ingest_t *ing, tsession_t *ts)
{
    ts->lprev = NULL;
    ts->lnext = ing->lru_head;
    if (ing->lru_head)
        ing->lru_head->lprev = ts;
    ing->lru_head = ts;
    if (!ing->lru_tail)
        ing->lru_tail = ts;
}

static void session_drop(ingest_t *ing, tsession_t *ts)
{
    size_t b = sess_hash(ts->kind, &ts->exporter, ts->port) &
               (ing->nbuckets - 1);
    for (tsession_t **pp = &ing->buckets[b]; *pp; pp = &(*pp)->hnext)
        if (*pp == ts) {
            *pp = ts->hnext;
            break;
        }
    lru_unlink(ing, ts);
    tsession_free_state(ts);
    free(ts);
    ing->nsessions--;
    ctr_inc(&ing->totals.sessions_evicted);
}

static tsession_t *session_get(ingest_t *ing, int kind, const ipaddr_t *ip,
                               uint16_t port, int64_t now_mono)
{
    size_t b = sess_hash(kind, ip, port) & (ing->nbuckets - 1);
    for (tsession_t *ts = ing->buckets[b]; ts; ts = ts->hnext)
        if (ts->kind == kind && ts->port == port &&
            ipaddr_cmp(&ts->exporter, ip) == 0) {
            ts->last_mono_ms = now_mono;
            if (ing->lru_head != ts) {
                lru_unlink(ing, ts);
                lru_push(ing, ts);
            }
            return ts;
        }
    if (ing->nsessions >= (size_t)ing->cfg.max_sessions) {
        tsession_t *old = ing->lru_tail;
        if (!old || now_mono - old->last_mono_ms < EVICT_IDLE_MS)
            return NULL;
        session_drop(ing, old);
    }
    tsession_t *ts = xcalloc(1, sizeof(*ts));
    ts->kind = kind;
    ts->exporter = *ip;
    ts->port = port;
    ts->fd = -1;
    ts->last_mono_ms = now_mono;
    if (kind != TS_V5 && kind != TS_SFLOW)
        ts->fbuf = decoder_fbuf_new(&ing->dec);
    ts->hnext = ing->buckets[b];
    ing->buckets[b] = ts;
    lru_push(ing, ts);
    ing->nsessions++;
    return ts;
}

static void conn_close(ingest_t *ing, int k);
static void conn_close_silent(ingest_t *ing, int k, const char *why);

/* Forget UDP sessions and close TCP connections silent for longer than
 * session_timeout_s (a TCP peer that stops mid-message would otherwise
 * hold its connection forever), and connections that have not sent a
 * well-formed message tcp_silent_timeout_s after they opened. */
static void sweep(ingest_t *ing, int64_t now_mono)
{
    int64_t limit = (int64_t)ing->cfg.session_timeout_s * 1000;
    int64_t silent = (int64_t)ing->cfg.tcp_silent_timeout_s * 1000;
    while (ing->lru_tail && now_mono - ing->lru_tail->last_mono_ms > limit)
        session_drop(ing, ing->lru_tail);
    for (int k = ing->nconns - 1; k >= 0; k--) {
        tsession_t *ts = ing->conns[k];
        if (!ts->valid && now_mono - ts->opened_mono_ms > silent) {
            conn_close_silent(ing, k, "no IPFIX message in time");
        } else if (now_mono - ts->last_mono_ms > limit) {
            log_limited(&ing->lim_sock, LOG_INFO, "ingest",
                        "closing an IPFIX/TCP connection silent for %d s",
                        ing->cfg.session_timeout_s);
            conn_close(ing, k);
        }
    }
}

/* ---- datagrams ----------------------------------------------------------------- */

static void count_bad(ingest_t *ing, const ipaddr_t *ip, uint32_t domain,
                      int proto, const char *what, size_t len)
{
    stats_entry_t *e = stats_get(&ing->stats, ip, domain);
    stats_touch(e, proto, ing->dec.received_ms);
    ctr_inc(&e->decode_errors);
    char a[IPADDR_STRLEN];
    log_limited(&ing->dec.lim_decode, LOG_WARN, "ingest",
                "%s from %s (%zu bytes) dropped", what,
                ipaddr_format(ip, a, sizeof(a)), len);
}

static void on_ipfix_datagram(ingest_t *ing, const struct sockaddr *sa,
                              uint8_t *p, size_t len, int64_t now_mono)
{
    uint16_t port;
    ipaddr_t ip = sockaddr_to_ip(sa, &port);
    if (len < 16 || rd16(p) != 10 || rd16(p + 2) != len) {
        /* counted on domain 0: garbage must not make stats rows */
        count_bad(ing, &ip, 0, INGEST_PROTO_IPFIX,
                  len < 16 ? "truncated IPFIX datagram"
                  : rd16(p) != 10 ? "datagram of unknown version"
                                  : "IPFIX datagram of the wrong length",
                  len);
        return;
    }
    tsession_t *ts = session_get(ing, TS_IPFIX_UDP, &ip, port, now_mono);
    if (!ts) {
        count_bad(ing, &ip, 0, INGEST_PROTO_IPFIX,
                  "IPFIX (session table full)", len);
        return;
    }
    ipfix_message(&ing->dec, ts, p, len);
}

static void on_netflow_datagram(ingest_t *ing, const struct sockaddr *sa,
                                uint8_t *p, size_t len, int64_t now_mono)
{
    uint16_t port;
    ipaddr_t ip = sockaddr_to_ip(sa, &port);
    int version = len >= 2 ? rd16(p) : -1;
    if (version != 5 && version != 9) {
        count_bad(ing, &ip, 0, INGEST_PROTO_NONE,
                  version == 10 ? "IPFIX on the NetFlow port"
                                : "datagram of unknown version",
                  len);
        return;
    }
    int kind = version == 5 ? TS_V5 : TS_V9;
    tsession_t *ts = session_get(ing, kind, &ip, port, now_mono);
    if (!ts) {
        count_bad(ing, &ip, 0, version, "NetFlow (session table full)", len);
        return;
    }
    if (kind == TS_V5)
        nfv5_message(&ing->dec, ts, p, len);
    else
        nfv9_message(&ing->dec, ts, p, len);
}

/* sFlow: the session is the agent's (the address in the datagram, port
 * 0), so that records, stats and sequence numbers follow the agent
 * whatever relays it. Without a plausible header the sender is blamed. */
static void on_sflow_datagram(ingest_t *ing, const struct sockaddr *sa,
                              uint8_t *p, size_t len, int64_t now_mono)
{
    ipaddr_t agent;
    if (sflow_agent(p, len, &agent) != 0) {
        ipaddr_t ip = sockaddr_to_ip(sa, NULL);
        count_bad(ing, &ip, 0, INGEST_PROTO_SFLOW,
                  len >= 4 && rd32(p) != 5 ? "datagram of unknown version"
                                           : "truncated sFlow datagram",
                  len);
        return;
    }
    tsession_t *ts = session_get(ing, TS_SFLOW, &agent, 0, now_mono);
    if (!ts) {
        ipaddr_t ip = sockaddr_to_ip(sa, NULL);
        count_bad(ing, &ip, 0, INGEST_PROTO_SFLOW,
                  "sFlow (session table full)", len);
        return;
    }
    sflow_message(&ing->dec, ts, p, len);
}

typedef void (*dgram_fn)(ingest_t *, const struct sockaddr *, uint8_t *,
                         size_t, int64_t);

static void read_udp(ingest_t *ing, int fd, dgram_fn fn)
{
    for (int round = 0; round < RECV_ROUNDS; round++) {
        for (int i = 0; i < MMSG_N; i++) {
            ing->iov[i].iov_base = ing->bufs + (size_t)i * MMSG_BUF;
            ing->iov[i].iov_len = MMSG_BUF;
            ing->msgs[i].msg_hdr = (struct msghdr){
                .msg_name = &ing->peers[i],
                .msg_namelen = sizeof(ing->peers[i]),
                .msg_iov = &ing->iov[i],
                .msg_iovlen = 1,
            };
        }
        int n = recvmmsg(fd, ing->msgs, MMSG_N, MSG_DONTWAIT, NULL);
        if (n <= 0) {
            if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
                errno != EINTR)
                log_limited(&ing->lim_sock, LOG_WARN, "ingest",
                            "recvmmsg: %s", strerror(errno));
            return;
        }
        ing->dec.received_ms = time_now_ms();
        int64_t now_mono = time_mono_ms();
        for (int i = 0; i < n; i++)
            fn(ing, (struct sockaddr *)&ing->peers[i], ing->iov[i].iov_base,
               ing->msgs[i].msg_len, now_mono);
        if (n < MMSG_N)
            return;
    }
}

/* ---- TCP ---------------------------------------------------------------------- */

static void conn_close(ingest_t *ing, int k)
{
    tsession_t *ts = ing->conns[k];
    close(ts->fd);
    tsession_free_state(ts);
    free(ts);
    ing->conns[k] = ing->conns[--ing->nconns];
}

/* Close connection k, which never sent a well-formed message. */
static void conn_close_silent(ingest_t *ing, int k, const char *why)
{
    char a[IPADDR_STRLEN];
    tsession_t *ts = ing->conns[k];
    ctr_inc(&ing->totals.tcp_silent_closed);
    log_limited(&ing->lim_sock, LOG_INFO, "ingest",
                "closing the IPFIX/TCP connection from %s port %u: %s",
                ipaddr_format(&ts->exporter, a, sizeof(a)), ts->port, why);
    conn_close(ing, k);
}

/* Why a new connection from ip cannot have a slot, or NULL. Makes room by
 * closing the oldest connection that never sent a well-formed message
 * when every slot is taken. */
static const char *tcp_admit(ingest_t *ing, const ipaddr_t *ip)
{
    int from_ip = 0, oldest = -1;
    for (int k = 0; k < ing->nconns; k++) {
        tsession_t *ts = ing->conns[k];
        if (ipaddr_cmp(&ts->exporter, ip) == 0)
            from_ip++;
        if (!ts->valid && (oldest < 0 || ts->opened_mono_ms <
                                             ing->conns[oldest]->opened_mono_ms))
            oldest = k;
    }
    if (from_ip >= ing->cfg.max_tcp_per_source)
        return "too many connections from that address";
    if (ing->nconns < ing->cfg.max_tcp_conns)
        return NULL;
    if (oldest < 0)
        return "every connection slot is taken by an exporter";
    conn_close_silent(ing, oldest, "its slot is given to a new connection");
    return NULL;
}

static void tcp_accept(ingest_t *ing)
{
    for (;;) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        int fd = accept4(ing->tcp_fd, (struct sockaddr *)&ss, &sl,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        char a[IPADDR_STRLEN];
        uint16_t port;
        ipaddr_t ip = sockaddr_to_ip((struct sockaddr *)&ss, &port);
        const char *why = tcp_admit(ing, &ip);
        if (why) {
            close(fd);
            stats_entry_t *e = stats_get(&ing->stats, &ip, 0);
            ctr_inc(&e->tcp_refused);
            ctr_inc(&ing->totals.tcp_rejected);
            log_limited(&ing->lim_sock, LOG_WARN, "ingest",
                        "IPFIX/TCP connection from %s port %u refused: %s "
                        "(%d open)", ipaddr_format(&ip, a, sizeof(a)), port,
                        why, ing->nconns);
            continue;
        }
        int rcv = ing->cfg.rcvbuf;
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
        tsession_t *ts = xcalloc(1, sizeof(*ts));
        ts->kind = TS_IPFIX_TCP;
        ts->exporter = ip;
        ts->port = port;
        ts->fd = fd;
        ts->rcap = TCP_BUF;
        ts->rbuf = xmalloc(ts->rcap);
        ts->fbuf = decoder_fbuf_new(&ing->dec);
        ts->last_mono_ms = ts->opened_mono_ms = time_mono_ms();
        ing->conns[ing->nconns++] = ts;
        ctr_inc(&ing->totals.tcp_accepted);
        log_limited(&ing->lim_accept, LOG_INFO, "ingest",
                    "IPFIX/TCP connection from %s port %u",
                    ipaddr_format(&ip, a, sizeof(a)), port);
    }
}

/* Read what the connection has; decode whole messages. Returns -1 when
 * the connection must be closed. */
static int tcp_read(ingest_t *ing, tsession_t *ts)
{
    for (int round = 0; round < 8; round++) {
        ssize_t n = read(ts->fd, ts->rbuf + ts->rlen, ts->rcap - ts->rlen);
        if (n == 0)
            return -1;
        if (n < 0)
            return (errno == EAGAIN || errno == EINTR) ? 0 : -1;
        ts->rlen += (uint32_t)n;
        ts->last_mono_ms = time_mono_ms();
        ing->dec.received_ms = time_now_ms();
        if (ipfix_stream(&ing->dec, ts) != 0) {
            /* A stream cannot resynchronise after a bad header. */
            count_bad(ing, &ts->exporter, 0, INGEST_PROTO_IPFIX,
                      "IPFIX/TCP stream with a bad message header",
                      ts->rlen);
            return -1;
        }
        if ((size_t)n < TCP_BUF / 2)
            return 0;
    }
    return 0;
}

/* ---- the thread ----------------------------------------------------------------- */

static void *ingest_main(void *arg)
{
    ingest_t *ing = arg;
    int cap = 5 + ing->cfg.max_tcp_conns;
    struct pollfd *pfd = xcalloc((size_t)cap, sizeof(*pfd));
    while (!flag_get(&ing->stop)) {
        int n = 0;
        pfd[n++] = (struct pollfd){ing->wake[0], POLLIN, 0};
        int i_udp = -1, i_nf = -1, i_sf = -1, i_tcp = -1, i_conn = -1;
        if (ing->udp_fd >= 0)
            i_udp = n, pfd[n++] = (struct pollfd){ing->udp_fd, POLLIN, 0};
        if (ing->nf_fd >= 0)
            i_nf = n, pfd[n++] = (struct pollfd){ing->nf_fd, POLLIN, 0};
        if (ing->sf_fd >= 0)
            i_sf = n, pfd[n++] = (struct pollfd){ing->sf_fd, POLLIN, 0};
        if (ing->tcp_fd >= 0)
            i_tcp = n, pfd[n++] = (struct pollfd){ing->tcp_fd, POLLIN, 0};
        i_conn = n;
        for (int k = 0; k < ing->nconns; k++)
            pfd[n++] = (struct pollfd){ing->conns[k]->fd, POLLIN, 0};

        int64_t now = time_mono_ms();
        int timeout = 500;
        if (ing->sink.cur && ing->sink.cur->n) {
            int64_t left = ing->sink.cur_since_ms + ing->cfg.flush_ms - now;
            timeout = left < 0 ? 0 : (int)left;
        }
        int rc = poll(pfd, (nfds_t)n, timeout);
        if (rc < 0 && errno != EINTR) {
            log_error("ingest", "poll: %s", strerror(errno));
            break;
        }
        if (rc > 0) {
            if (pfd[0].revents) {
                char c[64];
                if (read(ing->wake[0], c, sizeof(c)) < 0) {
                    /* nothing to do: the flag is what counts */
                }
            }
            if (i_udp >= 0 && pfd[i_udp].revents)
                read_udp(ing, ing->udp_fd, on_ipfix_datagram);
            if (i_nf >= 0 && pfd[i_nf].revents)
                read_udp(ing, ing->nf_fd, on_netflow_datagram);
            if (i_sf >= 0 && pfd[i_sf].revents)
                read_udp(ing, ing->sf_fd, on_sflow_datagram);
            /* connections before accept: indices stay valid */
            for (int k = ing->nconns - 1; k >= 0; k--) {
                if (i_conn + k >= n || !pfd[i_conn + k].revents)
                    continue;
                if (tcp_read(ing, ing->conns[k]) != 0)
                    conn_close(ing, k);
            }
            if (i_tcp >= 0 && pfd[i_tcp].revents)
                tcp_accept(ing);
        }
        now = time_mono_ms();
        flush_if_old(ing, now, 0);
        int timeout_s = ing->cfg.session_timeout_s;
        if (ing->tcp_fd >= 0 && ing->cfg.tcp_silent_timeout_s < timeout_s)
            timeout_s = ing->cfg.tcp_silent_timeout_s;
        int64_t every = (int64_t)timeout_s * 500;
        if (every > SWEEP_MS)
            every = SWEEP_MS;
        if (now - ing->last_sweep_ms >= every) {
            ing->last_sweep_ms = now;
            sweep(ing, now);
        }
    }
    free(pfd);
    ipfix_thread_done();
    return NULL;
}

/* ---- start and stop ---------------------------------------------------------------- */

static int parse_bind(const char *addr, int port, struct sockaddr_storage *ss,
                      socklen_t *sl)
{
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        *sl = sizeof(*s4);
        return 0;
    }
    if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        *sl = sizeof(*s6);
        return 0;
    }
    return -1;
}

static int open_socket(ingest_t *ing, int type, int port, const char *what,
                       int *bound_port, diag_t *err)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    if (parse_bind(ing->cfg.bind_addr, port, &ss, &sl) != 0) {
        diag_set(err, "bind address '%s' is not an IP address",
                 ing->cfg.bind_addr);
        return -1;
    }
    int fd = socket(ss.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        diag_set(err, "%s socket: %s", what, strerror(errno));
        return -1;
    }
    int one = 1, zero = 0;
    if (ss.ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
    if (type == SOCK_STREAM)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (type == SOCK_DGRAM) {
        int rcv = ing->cfg.rcvbuf;
        if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof(rcv)))
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
    }
    if (bind(fd, (struct sockaddr *)&ss, sl) != 0) {
        diag_set(err, "cannot listen for %s on %s port %d: %s", what,
                 ing->cfg.bind_addr, port, strerror(errno));
        close(fd);
        return -1;
    }
    if (type == SOCK_STREAM && listen(fd, 64) != 0) {
        diag_set(err, "listen for %s on port %d: %s", what, port,
                 strerror(errno));
        close(fd);
        return -1;
    }
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    uint16_t p;
    sockaddr_to_ip((struct sockaddr *)&ss, &p);
    *bound_port = p;
    if (type == SOCK_DGRAM) {
        int got = 0;
        socklen_t gl = sizeof(got);
        getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got, &gl);
        if (got / 2 < ing->cfg.rcvbuf)
            log_warn("ingest", "%s receive buffer is %d bytes, asked for %d "
                     "(raise net.core.rmem_max)", what, got / 2,
                     ing->cfg.rcvbuf);
    }
    log_info("ingest", "listening for %s on %s port %d", what,
             ing->cfg.bind_addr, p);
    return fd;
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static void ingest_free(ingest_t *ing)
{
    while (ing->lru_head)
        session_drop(ing, ing->lru_head);
    while (ing->nconns)
        conn_close(ing, ing->nconns - 1);
    close_fd(&ing->udp_fd);
    close_fd(&ing->tcp_fd);
    close_fd(&ing->nf_fd);
    close_fd(&ing->sf_fd);
    close_fd(&ing->wake[0]);
    close_fd(&ing->wake[1]);
    if (ing->sink.cur)
        flow_batch_free(ing->sink.cur);
    flow_batch_t *b;
    bqueue_close(&ing->free_q);
    while ((b = bqueue_pop(&ing->free_q, 0)))
        flow_batch_free(b);
    bqueue_destroy(&ing->free_q);
    decoder_destroy(&ing->dec);
    stats_destroy(&ing->stats);
    stats_destroy(&ing->ifstats);
    free(ing->buckets);
    free(ing->conns);
    free(ing->bufs);
    free(ing);
}

ingest_t *ingest_start(const ingest_config_t *cfg, diag_t *err)
{
    ingest_config_t def = INGEST_CONFIG_INIT;
    if (!cfg || !cfg->out) {
        diag_set(err, "ingest needs an output queue");
        return NULL;
    }
    ingest_t *ing = xcalloc(1, sizeof(*ing));
    ing->cfg = *cfg;
    ingest_config_t *c = &ing->cfg;
    if (!c->bind_addr || !*c->bind_addr)
        c->bind_addr = def.bind_addr;
    if (c->rcvbuf <= 0)
        c->rcvbuf = def.rcvbuf;
    if (c->pool_batches <= 0)
        c->pool_batches = def.pool_batches;
    if (c->flush_ms <= 0 || c->flush_ms > 100)
        c->flush_ms = c->flush_ms > 100 ? 100 : def.flush_ms;
    if (c->max_exporters <= 0)
        c->max_exporters = def.max_exporters;
    if (c->max_sessions <= 0)
        c->max_sessions = def.max_sessions;
    if (c->session_timeout_s <= 0)
        c->session_timeout_s = def.session_timeout_s;
    if (c->max_tcp_conns <= 0)
        c->max_tcp_conns = def.max_tcp_conns;
    if (c->tcp_silent_timeout_s <= 0)
        c->tcp_silent_timeout_s = def.tcp_silent_timeout_s;
    if (c->max_tcp_per_source <= 0)
        c->max_tcp_per_source = def.max_tcp_per_source;
    ing->udp_fd = ing->tcp_fd = ing->nf_fd = ing->sf_fd = -1;
    ing->wake[0] = ing->wake[1] = -1;
    ing->ports[0] = ing->ports[1] = ing->ports[2] = ing->ports[3] = -1;

    /* a socket per TCP connection: use the file limit we are allowed */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    decoder_route_glib_logs();
    stats_init(&ing->stats, (size_t)c->max_exporters);
    bqueue_init(&ing->free_q, (size_t)c->pool_batches);
    int first = c->pool_batches < 64 ? c->pool_batches : 64;
    for (int i = 0; i < first; i++)
        bqueue_try_push(&ing->free_q, flow_batch_new());
    ing->pool_n = first;
    ing->sink.ctx = ing;
    ing->sink.refill = live_refill;
    decoder_init(&ing->dec, &ing->sink, &ing->stats);
    stats_init(&ing->ifstats, (size_t)c->max_exporters);
    ing->dec.ifstats = &ing->ifstats;
    ing->nbuckets = 1024;
    while (ing->nbuckets < (size_t)c->max_sessions)
        ing->nbuckets *= 2;
    ing->buckets = xcalloc(ing->nbuckets, sizeof(*ing->buckets));
    ing->conns = xcalloc((size_t)c->max_tcp_conns, sizeof(*ing->conns));
    ing->bufs = xmalloc((size_t)MMSG_N * MMSG_BUF);

    if (c->ipfix_udp_port >= 0 &&
        (ing->udp_fd = open_socket(ing, SOCK_DGRAM, c->ipfix_udp_port,
                                   "IPFIX/UDP", &ing->ports[0], err)) < 0)
        goto fail;
    if (c->ipfix_tcp_port >= 0 &&
        (ing->tcp_fd = open_socket(ing, SOCK_STREAM, c->ipfix_tcp_port,
                                   "IPFIX/TCP", &ing->ports[1], err)) < 0)
        goto fail;
    if (c->netflow_port >= 0 &&
        (ing->nf_fd = open_socket(ing, SOCK_DGRAM, c->netflow_port,
                                  "NetFlow v5/v9", &ing->ports[2], err)) < 0)
        goto fail;
    if (c->sflow_port >= 0 &&
        (ing->sf_fd = open_socket(ing, SOCK_DGRAM, c->sflow_port,
                                  "sFlow v5", &ing->ports[3], err)) < 0)
        goto fail;
    if (pipe2(ing->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
        diag_set(err, "pipe: %s", strerror(errno));
        goto fail;
    }
    ing->last_sweep_ms = time_mono_ms();
    if (pthread_create(&ing->thread, NULL, ingest_main, ing) != 0) {
        diag_set(err, "cannot start the ingest thread");
        goto fail;
    }
    ing->running = 1;
    return ing;

fail:
    ingest_free(ing);
    return NULL;
}

void ingest_stop(ingest_t *ing)
{
    if (!ing)
        return;
    if (ing->running) {
        flag_set(&ing->stop, 1);
        if (write(ing->wake[1], "x", 1) < 0) {
            /* the pipe is non-blocking and never full in practice */
        }
        pthread_join(ing->thread, NULL);
        ing->running = 0;
    }
    if (ing->sink.cur && ing->sink.cur->n) {
        if (bqueue_try_push(ing->cfg.out, ing->sink.cur) == 0) {
            ctr_inc(&ing->totals.batches);
            ing->sink.cur = NULL;
        } else {
            count_drops(ing, ing->sink.cur);
        }
    }
    ingest_free(ing);
}

int ingest_port(const ingest_t *ing, enum ingest_listener which)
{
    if ((int)which < 0 || which > INGEST_SFLOW)
        return -1;
    return ing->ports[which];
}

size_t ingest_stats(ingest_t *ing, ingest_exporter_stats_t *out, size_t max)
{
    return stats_snapshot(&ing->stats, out, max);
}

size_t ingest_sflow_interfaces(ingest_t *ing, ingest_exporter_stats_t *out,
                               size_t max)
{
    return stats_snapshot(&ing->ifstats, out, max);
}

void ingest_get_totals(ingest_t *ing, ingest_totals_t *out)
{
    out->records = ctr_get(&ing->sink.records);
    out->batches = ctr_get(&ing->totals.batches);
    out->queue_drops = ctr_get(&ing->totals.queue_drops) +
                       ctr_get(&ing->sink.dropped);
    out->tcp_accepted = ctr_get(&ing->totals.tcp_accepted);
    out->tcp_rejected = ctr_get(&ing->totals.tcp_rejected);
    out->tcp_silent_closed = ctr_get(&ing->totals.tcp_silent_closed);
    out->sessions_evicted = ctr_get(&ing->totals.sessions_evicted);
}
