/*
 * mkpcap - write a packet capture of synthetic traffic for the exporters
 * the end-to-end tests run (softflowd, pmacctd read it with -r /
 * pcap_savefile). Deterministic from the seed.
 *
 *   mkpcap OUT.pcap [--hosts N] [--flows N] [--seed S] [--ipv6-every K]
 *
 * Traffic: --flows conversations between --hosts client addresses
 * (10.1.x.y, or 2001:db8:1::x every K-th flow) and 16 servers: TCP
 * sessions (handshake, a few data packets each way, FIN), UDP exchanges
 * (DNS-like request/response, some one-way), ICMP echo request/reply.
 * Packets are Ethernet frames with correct IPv4 header checksums (the
 * exporters do not verify TCP/UDP checksums). Timestamps advance 1 ms
 * per packet from 2026-01-01, so every flow ends well within the
 * exporters' timeouts and all of them are exported when the file ends.
 */
#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng;

static uint32_t rnd(uint32_t n)
{
    uint64_t z = (rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return (uint32_t)((z >> 32) % n);
}

typedef struct ep {
    int v6;
    uint8_t a[16];     /* v4 in the first 4 bytes */
    uint16_t port;
} ep_t;

static pcap_dumper_t *out;
static struct timeval now = {1767225600, 0};
static uint64_t npackets;

static uint16_t csum(const uint8_t *p, size_t n)
{
    uint32_t s = 0;
    for (size_t i = 0; i + 1 < n; i += 2)
        s += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (n & 1)
        s += (uint32_t)(p[n - 1] << 8);
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t)~s;
}

/* One frame: proto 6/17/1/58, l4 header built here, payload of len. */
static void frame(const ep_t *src, const ep_t *dst, int proto, int flags,
                  size_t payload, int icmp_type)
{
    uint8_t f[1600];
    memset(f, 0, sizeof(f));
    memcpy(f, "\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01", 12);
    size_t l3 = 14, ihl, l4len;
    uint8_t *ip = f + l3;
    switch (proto) {
    case 6: l4len = 20; break;
    case 17: l4len = 8; break;
    default: l4len = 8; break;
    }
    size_t total;
    if (!src->v6) {
        f[12] = 0x08, f[13] = 0x00;
        ihl = 20;
        total = ihl + l4len + payload;
        ip[0] = 0x45;
        ip[2] = (uint8_t)(total >> 8), ip[3] = (uint8_t)total;
        ip[8] = 64;
        ip[9] = (uint8_t)proto;
        memcpy(ip + 12, src->a, 4);
        memcpy(ip + 16, dst->a, 4);
        uint16_t c = csum(ip, 20);
        ip[10] = (uint8_t)(c >> 8), ip[11] = (uint8_t)c;
    } else {
        f[12] = 0x86, f[13] = 0xdd;
        ihl = 40;
        total = ihl + l4len + payload;
        ip[0] = 0x60;
        ip[4] = (uint8_t)((total - 40) >> 8), ip[5] = (uint8_t)(total - 40);
        ip[6] = (uint8_t)proto;
        ip[7] = 64;
        memcpy(ip + 8, src->a, 16);
        memcpy(ip + 24, dst->a, 16);
    }
    uint8_t *l4 = ip + ihl;
    if (proto == 6 || proto == 17) {
        l4[0] = (uint8_t)(src->port >> 8), l4[1] = (uint8_t)src->port;
        l4[2] = (uint8_t)(dst->port >> 8), l4[3] = (uint8_t)dst->port;
    }
    if (proto == 6) {
        l4[12] = 5 << 4;
        l4[13] = (uint8_t)flags;
        l4[14] = 0xff, l4[15] = 0xff;
    } else if (proto == 17) {
        l4[4] = (uint8_t)((8 + payload) >> 8), l4[5] = (uint8_t)(8 + payload);
    } else {
        l4[0] = (uint8_t)icmp_type;
    }
    for (size_t i = 0; i < payload; i++)
        l4[l4len + i] = (uint8_t)i;
    struct pcap_pkthdr h;
    h.ts = now;
    h.caplen = h.len = (bpf_u_int32)(l3 + total);
    pcap_dump((u_char *)out, &h, f);
    npackets++;
    now.tv_usec += 1000;
    if (now.tv_usec >= 1000000)
        now.tv_sec++, now.tv_usec -= 1000000;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: mkpcap OUT.pcap [--hosts N] [--flows N] "
                        "[--seed S] [--ipv6-every K]\n");
        return 2;
    }
    uint32_t hosts = 200, flows = 2000, v6every = 7;
    uint64_t seed = 1;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--hosts")) hosts = (uint32_t)atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--flows")) flows = (uint32_t)atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--seed")) seed = strtoull(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--ipv6-every")) v6every = (uint32_t)atoi(argv[i + 1]);
    }
    rng = seed * 0x2545f4914f6cdd1dULL;
    pcap_t *dead = pcap_open_dead(DLT_EN10MB, 65535);
    out = pcap_dump_open(dead, argv[1]);
    if (!out) {
        fprintf(stderr, "mkpcap: %s\n", pcap_geterr(dead));
        return 1;
    }
    static const uint16_t tcp_ports[] = {443, 80, 22, 25, 993, 8080};
    static const uint16_t udp_ports[] = {53, 123, 443, 500};
    for (uint32_t k = 0; k < flows; k++) {
        ep_t c = {0}, s = {0};
        uint32_t h = rnd(hosts), srv = rnd(16);
        c.v6 = s.v6 = v6every && k % v6every == v6every - 1;
        if (c.v6) {
            memcpy(c.a, "\x20\x01\x0d\xb8\x00\x01", 6);
            c.a[14] = (uint8_t)(h >> 8), c.a[15] = (uint8_t)h;
            memcpy(s.a, "\x20\x01\x0d\xb8\x00\x02", 6);
            s.a[15] = (uint8_t)(srv + 1);
        } else {
            c.a[0] = 10, c.a[1] = 1, c.a[2] = (uint8_t)(h >> 8);
            c.a[3] = (uint8_t)h;
            s.a[0] = 192, s.a[1] = 0, s.a[2] = 2, s.a[3] = (uint8_t)(srv + 1);
        }
        /* a fresh client port per flow keeps flows apart */
        c.port = (uint16_t)(20000 + (k % 40000));
        uint32_t kind = rnd(100);
        if (kind < 70) {
            s.port = tcp_ports[rnd(6)];
            frame(&c, &s, 6, 0x02, 0, 0);
            frame(&s, &c, 6, 0x12, 0, 0);
            frame(&c, &s, 6, 0x10, 0, 0);
            int n = 1 + (int)rnd(6);
            for (int i = 0; i < n; i++) {
                frame(&c, &s, 6, 0x18, 50 + rnd(400), 0);
                frame(&s, &c, 6, 0x18, 200 + rnd(1200), 0);
            }
            frame(&c, &s, 6, 0x11, 0, 0);
            frame(&s, &c, 6, 0x11, 0, 0);
            frame(&c, &s, 6, 0x10, 0, 0);
        } else if (kind < 92) {
            s.port = udp_ports[rnd(4)];
            int n = 1 + (int)rnd(3);
            for (int i = 0; i < n; i++) {
                frame(&c, &s, 17, 0, 30 + rnd(60), 0);
                if (rnd(4))
                    frame(&s, &c, 17, 0, 60 + rnd(400), 0);
            }
        } else {
            int icmp = c.v6 ? 58 : 1;
            frame(&c, &s, icmp, 0, 56, c.v6 ? 128 : 8);
            frame(&s, &c, icmp, 0, 56, c.v6 ? 129 : 0);
        }
    }
    pcap_dump_close(out);
    pcap_close(dead);
    fprintf(stderr, "mkpcap: %u flows, %llu packets\n", flows,
            (unsigned long long)npackets);
    return 0;
}
