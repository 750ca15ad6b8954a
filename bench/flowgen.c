/*
 * flowgen - a deterministic IPFIX flow generator for tests and benchmarks.
 *
 *   flowgen --udp 127.0.0.1:4739 --flows 20000000 --sources 100000 \
 *           --rate 1000000 --seed 1
 *   flowgen --tcp 127.0.0.1:4739 ...       one connection, RFC 7011 framing
 *   flowgen --file flows.ipfix ...         an RFC 5655 file
 *
 * What is generated depends only on the options (never on timing): the same
 * seed gives the same records, the same messages, the same sequence
 * numbers, the same timestamps. Records are IPv4 flows (or IPv6 with
 * --ipv6) over --sources source hosts and --dests destination hosts
 * (uniformly drawn), with a realistic mix: protocols TCP 75 %, UDP 22 %,
 * ICMP 3 % (the first --protocols of TCP, UDP, ICMP, GRE, ESP), service
 * ports weighted as on an enterprise uplink (HTTPS, HTTP, DNS, QUIC, SSH,
 * mail, NTP, ... the first --dst-ports of them), ephemeral source ports,
 * heavy-tailed packet counts (Pareto, mean about 6) and sizes by protocol.
 *
 * Messages follow RFC 7011: a template set first (and again every
 * --template-every messages over UDP), data sets of up to --msg-size bytes,
 * sequence numbers counting data records per observation domain (with
 * --domains N, messages go round-robin to N domains, each with its own
 * sequence). Flow timestamps are flowStart/EndMilliseconds on a clock that
 * starts at --start-ms and advances with the flow count (--clock-rate flows
 * per second of flow time, default the send rate or 1M), so windows are
 * deterministic too.
 *
 * --rate R sends R flows per second (0: as fast as possible; UDP uses
 * sendmmsg). --summary prints totals to stderr; --per-source FILE writes
 * "srcip flows packets bytes" per source, sorted, the exact answer of
 * SELECT srcip, count(*), sum(packets), sum(bytes) ... GROUP BY srcip.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---- options ------------------------------------------------------------- */

typedef struct opts {
    const char *udp, *tcp, *file, *per_source;
    uint64_t flows;
    double   rate;          /* flows/s, 0 = max */
    uint32_t sources, dests, dst_ports, protocols, domains;
    uint64_t seed;
    int      template_every;
    int      msg_size;
    int64_t  start_ms;
    double   clock_rate;
    int      ipv6, summary;
    uint32_t src_base, dst_base;
} opts_t;

static void usage(void)
{
    fprintf(stderr,
        "usage: flowgen (--udp H:P | --tcp H:P | --file PATH) [options]\n"
        "  --flows N          records to send (1000000)\n"
        "  --rate R           flows per second, 0 = as fast as possible (0)\n"
        "  --sources N        distinct source hosts (1000)\n"
        "  --dests N          distinct destination hosts (1000)\n"
        "  --dst-ports N      distinct service ports, most common first (16)\n"
        "  --protocols N      1..5 of tcp, udp, icmp, gre, esp (3)\n"
        "  --domains N        observation domains, round robin (1)\n"
        "  --seed S           (1)\n"
        "  --template-every N resend templates every N UDP messages (100)\n"
        "  --msg-size B       message size limit in bytes (1400)\n"
        "  --start-ms T       flow clock start, ms since epoch "
        "(1767225600000)\n"
        "  --now              start the flow clock at the current time\n"
        "  --clock-rate R     flows per second of flow time (rate or 1M)\n"
        "  --src-base A       first source address (10.0.0.0)\n"
        "  --dst-base A       first destination address (172.16.0.0)\n"
        "  --ipv6             IPv6 records (sources 2001:db8::/64 + n)\n"
        "  --summary          print totals to stderr\n"
        "  --per-source FILE  write per-source flows, packets, bytes\n");
    exit(2);
}

/* ---- deterministic randomness -------------------------------------------- */

static uint64_t rng_state;

static inline uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline uint32_t rnd_below(uint32_t n)
{
    return (uint32_t)(((rnd() >> 32) * (uint64_t)n) >> 32);
}

static inline double rnd_unit(void) /* (0, 1] */
{
    return ((double)(rnd() >> 11) + 1.0) / 9007199254740992.0;
}

/* ---- the traffic mix ------------------------------------------------------ */

typedef struct weighted {
    uint16_t value;
    uint16_t weight;
} weighted_t;

static const weighted_t tcp_ports[] = {
    {443, 420}, {80, 180}, {22, 40}, {25, 25}, {993, 25}, {8080, 20},
    {3389, 15}, {445, 15}, {587, 10}, {143, 8}, {53, 8}, {8443, 8},
    {3306, 6}, {5432, 5}, {110, 4}, {21, 4}, {23, 3}, {1433, 3},
    {5060, 3}, {6443, 3},
};
static const weighted_t udp_ports[] = {
    {53, 400}, {443, 250}, {123, 80}, {500, 30}, {4500, 30}, {161, 20},
    {1194, 20}, {514, 15}, {5353, 15}, {3478, 15}, {67, 10}, {137, 10},
    {1900, 10}, {5060, 10}, {69, 5}, {2055, 5},
};
static const uint8_t protos[] = {6, 17, 1, 47, 50};
static const uint16_t proto_weight[] = {750, 220, 30, 10, 10};

static uint16_t pick(const weighted_t *w, size_t n, uint32_t limit)
{
    if (limit < n)
        n = limit;
    uint32_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += w[i].weight;
    uint32_t r = rnd_below(total);
    for (size_t i = 0; i < n; i++) {
        if (r < w[i].weight)
            return w[i].value;
        r -= w[i].weight;
    }
    return w[0].value;
}

typedef struct flow {
    uint32_t src, dst;   /* host index */
    uint16_t sport, dport;
    uint8_t  proto, flags, tos;
    int64_t  start, end;
    uint64_t packets, bytes;
    uint32_t in, out;
} flow_t;

static void make_flow(const opts_t *o, uint64_t i, flow_t *f)
{
    f->src = rnd_below(o->sources);
    f->dst = rnd_below(o->dests);
    uint32_t np = o->protocols < 1 ? 1 : o->protocols > 5 ? 5 : o->protocols;
    uint32_t tw = 0;
    for (uint32_t k = 0; k < np; k++)
        tw += proto_weight[k];
    uint32_t r = rnd_below(tw), k = 0;
    while (k + 1 < np && r >= proto_weight[k])
        r -= proto_weight[k++];
    f->proto = protos[k];
    f->sport = (uint16_t)(32768 + rnd_below(28232));
    f->tos = (rnd() & 7) == 0 ? 0x28 : 0;
    double u = rnd_unit();
    uint64_t pk = (uint64_t)(1.0 / pow(u, 1.0 / 1.3));  /* Pareto a=1.3 */
    if (pk < 1)
        pk = 1;
    if (pk > 1000000)
        pk = 1000000;
    uint32_t size;
    switch (f->proto) {
    case 6:
        f->dport = pick(tcp_ports, sizeof(tcp_ports) / sizeof(*tcp_ports),
                        o->dst_ports);
        f->flags = pk == 1 ? 0x02 : (rnd() & 3) ? 0x1b : 0x1f;
        size = pk == 1 ? 60 : 200 + rnd_below(1200);
        break;
    case 17:
        f->dport = pick(udp_ports, sizeof(udp_ports) / sizeof(*udp_ports),
                        o->dst_ports);
        f->flags = 0;
        size = f->dport == 53 ? 60 + rnd_below(200) : 100 + rnd_below(1300);
        break;
    case 1:
        f->sport = 0;
        f->dport = (rnd() & 1) ? 0x0800 : 0x0000; /* echo request/reply */
        f->flags = 0;
        size = 84;
        break;
    default:
        f->sport = f->dport = 0;
        f->flags = 0;
        size = 100 + rnd_below(1300);
    }
    f->packets = pk;
    f->bytes = pk * size;
    f->in = 1 + (f->src & 3);
    f->out = 10 + (f->dst & 3);
    int64_t now = o->start_ms + (int64_t)((double)i * 1000.0 / o->clock_rate);
    int64_t dur = pk == 1 ? 0 : (int64_t)rnd_below(pk < 100 ? 5000 : 60000);
    f->end = now;
    f->start = now - dur;
}

/* ---- IPFIX encoding --------------------------------------------------------- */

#define TID 256
#define REC4 55
#define REC6 79

static uint8_t *p8(uint8_t *p, uint8_t v) { *p = v; return p + 1; }
static uint8_t *p16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8), p[1] = (uint8_t)v;
    return p + 2;
}
static uint8_t *p32(uint8_t *p, uint32_t v)
{
    p = p16(p, (uint16_t)(v >> 16));
    return p16(p, (uint16_t)v);
}
static uint8_t *p64(uint8_t *p, uint64_t v)
{
    p = p32(p, (uint32_t)(v >> 32));
    return p32(p, (uint32_t)v);
}

static size_t put_template(uint8_t *p, int ipv6)
{
    static const uint16_t f4[][2] = {
        {8, 4}, {12, 4}, {7, 2}, {11, 2}, {4, 1}, {6, 1}, {5, 1},
        {152, 8}, {153, 8}, {2, 8}, {1, 8}, {10, 4}, {14, 4}};
    uint8_t *s = p;
    p = p16(p, 2);
    p = p16(p, 0);
    p = p16(p, TID);
    p = p16(p, 13);
    for (int i = 0; i < 13; i++) {
        uint16_t id = f4[i][0], len = f4[i][1];
        if (ipv6 && id == 8)
            id = 27, len = 16;
        if (ipv6 && id == 12)
            id = 28, len = 16;
        p = p16(p, id);
        p = p16(p, len);
    }
    p16(s + 2, (uint16_t)(p - s));
    return (size_t)(p - s);
}

static uint8_t *put_record(uint8_t *p, const opts_t *o, const flow_t *f)
{
    if (o->ipv6) {
        uint8_t a[16] = {0x20, 0x01, 0x0d, 0xb8};
        a[12] = (uint8_t)(f->src >> 24), a[13] = (uint8_t)(f->src >> 16);
        a[14] = (uint8_t)(f->src >> 8), a[15] = (uint8_t)f->src;
        memcpy(p, a, 16);
        a[7] = 1;
        a[12] = (uint8_t)(f->dst >> 24), a[13] = (uint8_t)(f->dst >> 16);
        a[14] = (uint8_t)(f->dst >> 8), a[15] = (uint8_t)f->dst;
        memcpy(p + 16, a, 16);
        p += 32;
    } else {
        p = p32(p, o->src_base + f->src);
        p = p32(p, o->dst_base + f->dst);
    }
    p = p16(p, f->sport);
    p = p16(p, f->dport);
    p = p8(p, f->proto);
    p = p8(p, f->flags);
    p = p8(p, f->tos);
    p = p64(p, (uint64_t)f->start);
    p = p64(p, (uint64_t)f->end);
    p = p64(p, f->packets);
    p = p64(p, f->bytes);
    p = p32(p, f->in);
    return p32(p, f->out);
}

/* ---- output ------------------------------------------------------------------- */

#define BATCH 64

typedef struct out {
    int      fd;
    FILE    *fp;
    int      udp;
    uint8_t  buf[BATCH][65536];
    size_t   len[BATCH];
    int      n;
    uint64_t bytes, msgs, send_errors;
} out_t;

static int resolve(const char *hp, struct sockaddr_storage *ss, socklen_t *sl)
{
    char host[256];
    const char *colon = strrchr(hp, ':');
    if (!colon || (size_t)(colon - hp) >= sizeof(host))
        return -1;
    memcpy(host, hp, (size_t)(colon - hp));
    host[colon - hp] = 0;
    char *h = host;
    if (h[0] == '[') { /* [v6]:port */
        h++;
        h[strlen(h) - 1] = 0;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC}, *ai;
    if (getaddrinfo(h, colon + 1, &hints, &ai) != 0)
        return -1;
    memcpy(ss, ai->ai_addr, ai->ai_addrlen);
    *sl = ai->ai_addrlen;
    freeaddrinfo(ai);
    return 0;
}

static void flush_out(out_t *o)
{
    if (!o->n)
        return;
    if (o->fp) {
        for (int i = 0; i < o->n; i++)
            fwrite(o->buf[i], 1, o->len[i], o->fp);
    } else if (o->udp) {
        struct mmsghdr mm[BATCH];
        struct iovec iov[BATCH];
        for (int i = 0; i < o->n; i++) {
            iov[i] = (struct iovec){o->buf[i], o->len[i]};
            mm[i].msg_hdr = (struct msghdr){.msg_iov = &iov[i],
                                            .msg_iovlen = 1};
        }
        int done = 0;
        while (done < o->n) {
            int r = sendmmsg(o->fd, mm + done, (unsigned)(o->n - done), 0);
            if (r < 0) {
                if (errno == EINTR)
                    continue;
                if (errno == ECONNREFUSED) { /* nobody listening: count */
                    o->send_errors++;
                    done++;
                    continue;
                }
                perror("flowgen: sendmmsg");
                exit(1);
            }
            done += r;
        }
    } else {
        for (int i = 0; i < o->n; i++) {
            size_t off = 0;
            while (off < o->len[i]) {
                ssize_t w = write(o->fd, o->buf[i] + off, o->len[i] - off);
                if (w < 0 && errno == EINTR)
                    continue;
                if (w < 0) {
                    perror("flowgen: write");
                    exit(1);
                }
                off += (size_t)w;
            }
        }
    }
    o->n = 0;
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- main ------------------------------------------------------------------------ */

typedef struct srcagg {
    uint64_t flows, packets, bytes;
} srcagg_t;

int main(int argc, char **argv)
{
    opts_t o = {.flows = 1000000, .sources = 1000, .dests = 1000,
                .dst_ports = 16, .protocols = 3, .domains = 1, .seed = 1,
                .template_every = 100, .msg_size = 1400,
                .start_ms = 1767225600000LL,
                .src_base = 0x0a000000, .dst_base = 0xac100000};
    int now = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define ARG(name) (!strcmp(a, name) && v && (i++, 1))
        if (ARG("--udp")) o.udp = v;
        else if (ARG("--tcp")) o.tcp = v;
        else if (ARG("--file")) o.file = v;
        else if (ARG("--flows")) o.flows = strtoull(v, NULL, 10);
        else if (ARG("--rate")) o.rate = atof(v);
        else if (ARG("--sources")) o.sources = (uint32_t)atol(v);
        else if (ARG("--dests")) o.dests = (uint32_t)atol(v);
        else if (ARG("--dst-ports")) o.dst_ports = (uint32_t)atol(v);
        else if (ARG("--protocols")) o.protocols = (uint32_t)atol(v);
        else if (ARG("--domains")) o.domains = (uint32_t)atol(v);
        else if (ARG("--seed")) o.seed = strtoull(v, NULL, 10);
        else if (ARG("--template-every")) o.template_every = atoi(v);
        else if (ARG("--msg-size")) o.msg_size = atoi(v);
        else if (ARG("--start-ms")) o.start_ms = atoll(v);
        else if (ARG("--clock-rate")) o.clock_rate = atof(v);
        else if (ARG("--per-source")) o.per_source = v;
        else if (ARG("--src-base") || ARG("--dst-base")) {
            struct in_addr in;
            if (inet_pton(AF_INET, v, &in) != 1)
                usage();
            if (!strcmp(a, "--src-base"))
                o.src_base = ntohl(in.s_addr);
            else
                o.dst_base = ntohl(in.s_addr);
        } else if (!strcmp(a, "--now")) now = 1;
        else if (!strcmp(a, "--ipv6")) o.ipv6 = 1;
        else if (!strcmp(a, "--summary")) o.summary = 1;
        else usage();
#undef ARG
    }
    if (!!o.udp + !!o.tcp + !!o.file != 1 || !o.sources || !o.dests ||
        !o.domains || o.msg_size < 200 || o.msg_size > 65000)
        usage();
    if (now) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        o.start_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    }
    if (o.clock_rate <= 0)
        o.clock_rate = o.rate > 0 ? o.rate : 1e6;
    rng_state = o.seed * 0x2545f4914f6cdd1dULL + 1;

    static out_t out;
    if (o.file) {
        out.fp = fopen(o.file, "wb");
        if (!out.fp) {
            perror(o.file);
            return 1;
        }
        setvbuf(out.fp, NULL, _IOFBF, 1 << 20);
    } else {
        struct sockaddr_storage ss;
        socklen_t sl;
        if (resolve(o.udp ? o.udp : o.tcp, &ss, &sl) != 0) {
            fprintf(stderr, "flowgen: cannot resolve %s\n",
                    o.udp ? o.udp : o.tcp);
            return 1;
        }
        out.udp = o.udp != NULL;
        out.fd = socket(ss.ss_family, out.udp ? SOCK_DGRAM : SOCK_STREAM, 0);
        int sndbuf = 8 << 20;
        setsockopt(out.fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
        if (connect(out.fd, (struct sockaddr *)&ss, sl) != 0) {
            perror("flowgen: connect");
            return 1;
        }
    }

    srcagg_t *agg = o.per_source ? calloc(o.sources, sizeof(srcagg_t)) : NULL;
    uint32_t *seq = calloc(o.domains, sizeof(uint32_t));
    uint64_t *dmsgs = calloc(o.domains, sizeof(uint64_t));
    int rec = o.ipv6 ? REC6 : REC4;
    int per_msg = (o.msg_size - 16 - 4 - 64) / rec;
    uint64_t sent = 0, packets = 0, bytes = 0;
    double t0 = mono_s();
    uint32_t dom = 0;
    while (sent < o.flows) {
        uint8_t *m = out.buf[out.n];
        uint8_t *p = m + 16;
        int tmpl = o.tcp || o.file ? dmsgs[dom] == 0
                                   : (dmsgs[dom] % (uint64_t)o.template_every) == 0;
        if (tmpl)
            p += put_template(p, o.ipv6);
        uint64_t n = o.flows - sent;
        if (n > (uint64_t)per_msg)
            n = (uint64_t)per_msg;
        uint8_t *set = p;
        p = p16(p, TID);
        p = p16(p, 0);
        flow_t f;
        int64_t last_end = o.start_ms;
        for (uint64_t k = 0; k < n; k++) {
            make_flow(&o, sent + k, &f);
            p = put_record(p, &o, &f);
            packets += f.packets;
            bytes += f.bytes;
            last_end = f.end;
            if (agg) {
                agg[f.src].flows++;
                agg[f.src].packets += f.packets;
                agg[f.src].bytes += f.bytes;
            }
        }
        p16(set + 2, (uint16_t)(p - set));
        p16(m, 10);
        p16(m + 2, (uint16_t)(p - m));
        p32(m + 4, (uint32_t)(last_end / 1000));
        p32(m + 8, seq[dom]);
        p32(m + 12, dom + 1);
        out.len[out.n++] = (size_t)(p - m);
        out.bytes += (size_t)(p - m);
        out.msgs++;
        seq[dom] += (uint32_t)n;
        dmsgs[dom]++;
        dom = (dom + 1) % o.domains;
        sent += n;
        if (out.n == BATCH || sent == o.flows)
            flush_out(&out);
        if (o.rate > 0) {
            double due = t0 + (double)sent / o.rate;
            double t = mono_s();
            if (due - t > 0.0002) {
                struct timespec ts = {(time_t)(due - t),
                                      (long)(fmod(due - t, 1.0) * 1e9)};
                flush_out(&out);
                nanosleep(&ts, NULL);
            }
        }
    }
    flush_out(&out);
    double dt = mono_s() - t0;
    if (out.fp)
        fclose(out.fp);
    else
        close(out.fd);
    if (o.summary)
        fprintf(stderr,
                "flowgen: %llu flows, %llu packets, %llu bytes in %llu "
                "messages (%llu bytes) in %.3f s: %.0f flows/s%s\n",
                (unsigned long long)sent, (unsigned long long)packets,
                (unsigned long long)bytes, (unsigned long long)out.msgs,
                (unsigned long long)out.bytes, dt, dt > 0 ? sent / dt : 0.0,
                out.send_errors ? " (some sends refused)" : "");
    if (agg) {
        FILE *f = fopen(o.per_source, "w");
        if (!f) {
            perror(o.per_source);
            return 1;
        }
        for (uint32_t s = 0; s < o.sources; s++) {
            if (!agg[s].flows)
                continue;
            char a[64];
            if (o.ipv6) {
                uint8_t b[16] = {0x20, 0x01, 0x0d, 0xb8};
                b[12] = (uint8_t)(s >> 24), b[13] = (uint8_t)(s >> 16);
                b[14] = (uint8_t)(s >> 8), b[15] = (uint8_t)s;
                inet_ntop(AF_INET6, b, a, sizeof(a));
            } else {
                struct in_addr in = {htonl(o.src_base + s)};
                inet_ntop(AF_INET, &in, a, sizeof(a));
            }
            fprintf(f, "%s %llu %llu %llu\n", a,
                    (unsigned long long)agg[s].flows,
                    (unsigned long long)agg[s].packets,
                    (unsigned long long)agg[s].bytes);
        }
        fclose(f);
    }
    free(agg);
    free(seq);
    free(dmsgs);
    return 0;
}
