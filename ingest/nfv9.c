/*
 * nfv9.c - NetFlow v9 through libfixbuf's translator.
 *
 * libfixbuf turns NetFlow v9 into IPFIX only inside its own UDP collector
 * (fbCollectorSetNetflowV9Translator); there is no entry point for a
 * datagram in memory. NetFlow v9 and v5 share our NetFlow port, and v5
 * would not survive libfixbuf's v9 collector, so our socket keeps the
 * port and libfixbuf gets a private one:
 *
 *   exporter --v9--> our NetFlow socket --check, clean--> relay socket
 *     (one per exporter, 127.0.0.1:ephemeral) --> libfixbuf's v9 listener
 *     (127.0.0.1:private port) --translated--> fBufNext --> flow records
 *
 * One relay socket per exporter keeps libfixbuf's per-peer sessions (and
 * so template ids) apart exactly as the exporters are; the relay's port
 * tells which exporter a translated message came from. libfixbuf's socket
 * is found by its address and polled by our receive thread, so libfixbuf
 * is only asked to read when a datagram is waiting and never blocks us.
 *
 * The check in front of libfixbuf mirrors the exporter's templates, so a
 * data flowset whose template is unknown is removed (and counted) before
 * the relay: libfixbuf would otherwise drop the whole datagram when such a
 * flowset comes last. Templates libfixbuf's translator would choke on
 * (records of length zero: it divides by the record length) are rejected
 * here. Single fields of length zero are real (Cisco sends a zero-length
 * System scope in options templates) and pass.
 */
#include "ingest/ingest_int.h"
#include "util/arena.h"
#include "util/timeutil.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define V9_HDR        20
#define RING          4096
#define MAX_FIELDS    1024
#define MAX_PENDING   512
#define MAX_RELAYS    4096

typedef struct relayed {
    uint16_t port;              /* relay socket's port */
    int64_t  received_ms;
} relayed_t;

typedef struct v9pending {
    uint16_t tid;
    uint32_t reclen;
} v9pending_t;

struct nfv9 {
    decoder_t    *dec;
    fbListener_t *listener;
    fbSession_t  *base;          /* owned by us, cloned by libfixbuf */
    fBuf_t       *fbuf;          /* libfixbuf's, from fbListenerWait */
    int           fd;            /* libfixbuf's socket */
    struct sockaddr_in addr;     /* where it listens */
    tsession_t  **by_port;       /* relay port -> session */
    int           nrelays;
    relayed_t     ring[RING];
    v9pending_t   pend[MAX_PENDING];
    uint32_t      head, tail;    /* ring: head = oldest */
    uint8_t       out[65536 + 64];
    log_limit_t   lim;
};

/* ---- libfixbuf's side ---------------------------------------------------- */

static int find_socket(const struct sockaddr_in *want)
{
    DIR *dir = opendir("/proc/self/fd");
    if (!dir)
        return -1;
    int found = -1;
    struct dirent *de;
    while (found < 0 && (de = readdir(dir))) {
        int fd = atoi(de->d_name);
        if (de->d_name[0] < '0' || de->d_name[0] > '9' || fd == dirfd(dir))
            continue;
        struct sockaddr_in sa;
        socklen_t sl = sizeof(sa);
        int type = 0;
        socklen_t tl = sizeof(type);
        if (getsockname(fd, (struct sockaddr *)&sa, &sl) == 0 &&
            sl == sizeof(sa) && sa.sin_family == AF_INET &&
            sa.sin_port == want->sin_port &&
            sa.sin_addr.s_addr == want->sin_addr.s_addr &&
            getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) == 0 &&
            type == SOCK_DGRAM)
            found = fd;
    }
    closedir(dir);
    return found;
}

static int free_loopback_port(void)
{
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof(sa);
    int port = -1;
    if (s >= 0 && bind(s, (struct sockaddr *)&sa, sl) == 0 &&
        getsockname(s, (struct sockaddr *)&sa, &sl) == 0)
        port = ntohs(sa.sin_port);
    if (s >= 0)
        close(s);
    return port;
}

nfv9_t *nfv9_new(decoder_t *d, int rcvbuf, diag_t *err)
{
    nfv9_t *v = xcalloc(1, sizeof(*v));
    v->dec = d;
    v->fd = -1;
    v->by_port = xcalloc(65536, sizeof(tsession_t *));
    v->base = decoder_session_new(d);
    GError *gerr = NULL;
    for (int attempt = 0; attempt < 8 && !v->listener; attempt++) {
        int port = free_loopback_port();
        if (port <= 0)
            continue;
        char svc[16];
        snprintf(svc, sizeof(svc), "%d", port);
        fbConnSpec_t spec = FB_CONNSPEC_INIT;
        spec.transport = FB_UDP;
        spec.host = "127.0.0.1";
        spec.svc = svc;
        g_clear_error(&gerr);
        v->listener = fbListenerAlloc(&spec, v->base, NULL, NULL, &gerr);
        if (v->listener) {
            v->addr.sin_family = AF_INET;
            v->addr.sin_port = htons((uint16_t)port);
            v->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        }
    }
    fbCollector_t *coll = NULL;
    if (!v->listener ||
        !fbListenerGetCollector(v->listener, &coll, &gerr) ||
        !fbCollectorSetNetflowV9Translator(coll, &gerr)) {
        diag_set(err, "NetFlow v9 translator: %s",
                 gerr ? gerr->message : "no loopback port");
        g_clear_error(&gerr);
        nfv9_free(v);
        return NULL;
    }
    fbCollectorSetUDPMultiSession(coll, TRUE);
    v->fd = find_socket(&v->addr);
    if (v->fd < 0) {
        diag_set(err, "NetFlow v9 translator: cannot find its socket");
        nfv9_free(v);
        return NULL;
    }
    if (setsockopt(v->fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf,
                   sizeof(rcvbuf)))
        setsockopt(v->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    return v;
}

void nfv9_free(nfv9_t *v)
{
    if (!v)
        return;
    for (int p = 0; p < 65536 && v->nrelays; p++)
        if (v->by_port[p])
            nfv9_session_gone(v, v->by_port[p]);
    if (v->listener)
        fbListenerFree(v->listener); /* frees its buffer and sessions */
    if (v->base)
        fbSessionFree(v->base);
    free(v->by_port);
    free(v);
}

int nfv9_fd(nfv9_t *v)
{
    return v->fd;
}

void nfv9_session_gone(nfv9_t *v, tsession_t *ts)
{
    if (ts->relay_fd < 0)
        return;
    close(ts->relay_fd);
    ts->relay_fd = -1;
    if (v->by_port[ts->relay_port] == ts) {
        v->by_port[ts->relay_port] = NULL;
        v->nrelays--;
    }
}

static int relay_open(nfv9_t *v, tsession_t *ts)
{
    if (v->nrelays >= MAX_RELAYS)
        return -1;
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s < 0)
        return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof(sa);
    if (bind(s, (struct sockaddr *)&sa, sl) != 0 ||
        getsockname(s, (struct sockaddr *)&sa, &sl) != 0 ||
        connect(s, (struct sockaddr *)&v->addr, sizeof(v->addr)) != 0) {
        close(s);
        return -1;
    }
    ts->relay_fd = s;
    ts->relay_port = ntohs(sa.sin_port);
    v->by_port[ts->relay_port] = ts;
    v->nrelays++;
    return 0;
}

/* ---- the check ----------------------------------------------------------- */

static uint32_t reclen_of(tdomain_t *dom, const v9pending_t *p, int n,
                          uint16_t tid)
{
    for (int i = n - 1; i >= 0; i--)
        if (p[i].tid == tid)
            return p[i].reclen;
    vtmpl_t *t = tdomain_tmpl_find(dom, tid);
    return t ? t->fixed_len : 0;
}

/* Template flowset (id 0): records of tid, count, count x (type, len). */
static const char *v9_templates(const uint8_t *p, const uint8_t *end,
                                v9pending_t *pend, int *npend)
{
    while (end - p >= 4) {
        uint16_t tid = rd16(p), fc = rd16(p + 2);
        p += 4;
        if (tid < 256)
            return "template id below 256";
        if (fc == 0 || fc > MAX_FIELDS)
            return "template with an absurd field count";
        if ((size_t)(end - p) < (size_t)fc * 4)
            return "template field count exceeds its flowset";
        uint32_t len = 0;
        for (uint16_t i = 0; i < fc; i++, p += 4) {
            uint16_t flen = rd16(p + 2);
            if (flen == 65535)
                return "template field of variable length";
            len += flen;
        }
        if (len == 0)
            return "template of zero length";
        if (len > 65535 - 64)
            return "template record longer than a datagram";
        if (*npend >= MAX_PENDING)
            return "too many templates in one datagram";
        pend[(*npend)++] = (v9pending_t){tid, len};
    }
    return NULL;
}

/* Options template flowset (id 1): tid, scope bytes, option bytes, then
 * (type, len) pairs for both. */
static const char *v9_options(const uint8_t *p, const uint8_t *end,
                              v9pending_t *pend, int *npend)
{
    while (end - p >= 6) {
        uint16_t tid = rd16(p), sl = rd16(p + 2), ol = rd16(p + 4);
        p += 6;
        if (tid < 256)
            return "options template id below 256";
        if ((sl | ol) % 4 || sl + ol == 0)
            return "options template with bad lengths";
        if ((size_t)(end - p) < (size_t)sl + ol)
            return "options template exceeds its flowset";
        if ((sl + ol) / 4 > MAX_FIELDS)
            return "options template with an absurd field count";
        uint32_t len = 0;
        for (uint32_t i = 0; i < (uint32_t)(sl + ol); i += 4, p += 4) {
            uint16_t flen = rd16(p + 2);
            if (flen == 65535)
                return "options template field of variable length";
            len += flen;
        }
        if (len == 0)
            return "options template of zero length";
        if (len > 65535 - 64)
            return "options record longer than a datagram";
        if (*npend >= MAX_PENDING)
            return "too many templates in one datagram";
        pend[(*npend)++] = (v9pending_t){tid, len};
    }
    return NULL;
}

int nfv9_message(nfv9_t *v, tsession_t *ts, uint8_t *msg, size_t len)
{
    decoder_t *d = v->dec;
    uint32_t source = len >= V9_HDR ? rd32(msg + 16) : 0;
    tdomain_t *dom = tsession_domain(d, ts, source);
    stats_entry_t *st = dom ? dom->st : stats_get(d->stats, &ts->exporter, 0);
    stats_touch(st, INGEST_PROTO_V9, d->received_ms);
    v9pending_t *pend = v->pend;
    int npend = 0;
    const char *why = NULL;
    uint32_t records = 0, unknown = 0, kept = 0;
    size_t olen = V9_HDR;

    if (!dom)
        why = "exporter with too many source ids";
    else if (len < V9_HDR)
        why = "datagram shorter than the v9 header";
    if (why)
        goto bad;

    /* v9 numbers datagrams: a malformed one still arrived */
    uint32_t lost = seq_check(dom, rd32(msg + 12), 1, 1);
    if (lost)
        STAT_ADD(st->seq_lost_msgs, lost);
    memcpy(v->out, msg, V9_HDR);
    for (const uint8_t *p = msg + V9_HDR, *end = msg + len; p < end;) {
        if (end - p < 4) {
            why = "truncated flowset header";
            goto bad;
        }
        uint16_t fid = rd16(p), flen = rd16(p + 2);
        if (flen < 4 || flen > end - p) {
            why = flen < 4 ? "flowset length below 4"
                           : "flowset length overruns the datagram";
            goto bad;
        }
        const uint8_t *body = p + 4, *fend = p + flen;
        int keep = 1;
        if (fid == 0) {
            if (flen % 4) {
                why = "template flowset length not a multiple of 4";
                goto bad;
            }
            why = v9_templates(body, fend, pend, &npend);
        } else if (fid == 1) {
            why = v9_options(body, fend, pend, &npend);
        } else if (fid >= 256) {
            uint32_t rl = reclen_of(dom, pend, npend, fid);
            if (rl == 0) {
                unknown++;
                keep = 0;
            } else {
                records += (uint32_t)(flen - 4) / rl;
            }
        } else {
            why = "reserved flowset id";
        }
        if (why)
            goto bad;
        if (keep) {
            memcpy(v->out + olen, p, flen);
            olen += flen;
            kept++;
        }
        p = fend;
    }

    /* well formed: commit templates, count, relay what is left */
    for (int i = 0; i < npend; i++) {
        vtmpl_t t = {.tid = pend[i].tid, .fixed_len = pend[i].reclen};
        tdomain_tmpl_put(dom, &t);
    }
    STAT_ADD(st->messages, 1);
    STAT_ADD(st->bytes, len);
    if (unknown) {
        char a[IPADDR_STRLEN];
        STAT_ADD(st->unknown_tmpl, unknown);
        log_limited(&d->lim_tmpl, LOG_INFO, "ingest",
                    "%s source id %u: %u NetFlow v9 flowset(s) before "
                    "their template",
                    ipaddr_format(&ts->exporter, a, sizeof(a)), source,
                    unknown);
    }
    if (!kept)
        return 0;
    if (ts->relay_fd < 0 && relay_open(v, ts) != 0) {
        why = "no relay socket (too many NetFlow v9 exporters)";
        goto bad;
    }
    if (v->tail - v->head >= RING) {
        why = "translator backlog full";
        STAT_ADD(st->queue_drops, records);
        goto bad;
    }
    if (send(ts->relay_fd, v->out, olen, MSG_DONTWAIT) != (ssize_t)olen) {
        STAT_ADD(st->queue_drops, records);
        log_limited(&v->lim, LOG_WARN, "ingest",
                    "NetFlow v9 relay: %s", strerror(errno));
        return 0;
    }
    v->ring[v->tail++ % RING] = (relayed_t){ts->relay_port, d->received_ms};
    /* libfixbuf's socket has it now (loopback delivers at once); decode
     * without waiting for the next poll. */
    nfv9_drain(v);
    return 0;

bad: {
    char a[IPADDR_STRLEN];
    STAT_ADD(st->decode_errors, 1);
    log_limited(&d->lim_decode, LOG_WARN, "ingest",
                "malformed NetFlow v9 from %s (%zu bytes): %s",
                ipaddr_format(&ts->exporter, a, sizeof(a)), len, why);
    return -1;
}
}

/* ---- libfixbuf reads ------------------------------------------------------- */

static int readable(int fd)
{
    struct pollfd p = {fd, POLLIN, 0};
    return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

void nfv9_drain(nfv9_t *v)
{
    decoder_t *d = v->dec;
    GError *gerr = NULL;
    int64_t saved_received = d->received_ms;
    for (int n = 0; n < 256 && readable(v->fd); n++) {
        if (!v->fbuf) {
            v->fbuf = fbListenerWait(v->listener, &gerr);
            if (!v->fbuf) {
                log_limited(&v->lim, LOG_WARN, "ingest",
                            "NetFlow v9 translator: %s",
                            gerr ? gerr->message : "?");
                g_clear_error(&gerr);
                break;
            }
        }
        if (!fBufNextMessage(v->fbuf, &gerr)) {
            log_limited(&v->lim, LOG_WARN, "ingest",
                        "NetFlow v9 translator rejected a datagram: %s",
                        gerr ? gerr->message : "?");
            g_clear_error(&gerr);
            continue;
        }
        decoder_fbuf_ready(v->fbuf);
        fbCollector_t *coll = fBufGetCollector(v->fbuf);
        struct sockaddr *peer = coll ? fbCollectorGetPeer(coll) : NULL;
        uint16_t port = 0;
        if (peer)
            sockaddr_to_ip(peer, &port);
        /* Match the oldest relayed datagram from that relay; older ones
         * from others never made it through. */
        relayed_t r = {0};
        while (v->head != v->tail) {
            r = v->ring[v->head++ % RING];
            if (r.port == port)
                break;
            r.port = 0;
        }
        tsession_t *ts = port ? v->by_port[port] : NULL;
        uint32_t domain = fbSessionGetDomain(fBufGetSession(v->fbuf));
        d->ts = ts;
        d->dom = ts ? tsession_domain(d, ts, domain) : NULL;
        if (!d->dom)
            d->ts = NULL;
        d->received_ms = r.port ? r.received_ms : time_now_ms();
        d->export_ms = (int64_t)fBufGetExportTime(v->fbuf) * 1000;
        /* each peer has its own cloned session in the buffer: the
         * internal template set for the last one means nothing here */
        uint16_t int_tid = 0;
        uint64_t flows = decoder_drain(d, v->fbuf, &int_tid);
        if (d->dom)
            STAT_ADD(d->dom->st->records, flows);
    }
    d->received_ms = saved_received;
}
