/*
 * pcapio.h - the UDP datagrams of a capture, and captures of datagrams,
 * for the test tools. Header-only (each tool is one .c file).
 *
 *   pcap_udp_t u;
 *   if (pcap_udp_open(&u, "x.pcap", err) == 0)
 *       while (pcap_udp_next(&u) == 1) use u.payload, u.len, u.src, u.dport
 *
 * Reading understands Ethernet (with VLAN tags), Linux cooked, BSD
 * loopback and raw IP captures, IPv4 and IPv6. Writing produces raw-IP
 * (LINKTYPE_RAW) captures that tshark, nfdump's tools and pcap_udp_next
 * read back, with the sender's address and port kept.
 */
#ifndef FLOWSQL_TESTS_PCAPIO_H
#define FLOWSQL_TESTS_PCAPIO_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

typedef struct pcap_udp {
    pcap_t         *p;
    int             dlt;
    const uint8_t  *payload;
    size_t          len;
    struct sockaddr_storage src;     /* sender address and port */
    uint16_t        dport;
    struct timeval  ts;
} pcap_udp_t;

static inline int pcap_udp_open(pcap_udp_t *u, const char *path,
                                char *err /* PCAP_ERRBUF_SIZE */)
{
    memset(u, 0, sizeof(*u));
    u->p = pcap_open_offline(path, err);
    if (!u->p)
        return -1;
    u->dlt = pcap_datalink(u->p);
    return 0;
}

static inline void pcap_udp_close(pcap_udp_t *u)
{
    if (u->p)
        pcap_close(u->p);
    u->p = NULL;
}

/* 1 with the next UDP datagram, 0 at the end. Non-UDP frames and IP
 * fragments are skipped. */
static inline int pcap_udp_next(pcap_udp_t *u)
{
    struct pcap_pkthdr *h;
    const u_char *d;
    int rc;
    while ((rc = pcap_next_ex(u->p, &h, &d)) == 1) {
        const uint8_t *p = d, *end = d + h->caplen;
        uint16_t et = 0;
        switch (u->dlt) {
        case DLT_EN10MB:
            if (end - p < 14)
                continue;
            et = (uint16_t)(p[12] << 8 | p[13]);
            p += 14;
            while ((et == 0x8100 || et == 0x88a8) && end - p >= 4) {
                et = (uint16_t)(p[2] << 8 | p[3]);
                p += 4;
            }
            break;
        case DLT_LINUX_SLL:
            if (end - p < 16)
                continue;
            et = (uint16_t)(p[14] << 8 | p[15]);
            p += 16;
            break;
        case DLT_NULL:
            if (end - p < 4)
                continue;
            p += 4;
            et = (p < end && (p[0] >> 4) == 6) ? 0x86dd : 0x0800;
            break;
        default: /* raw IP */
            if (end - p < 1)
                continue;
            et = (p[0] >> 4) == 6 ? 0x86dd : 0x0800;
            break;
        }
        memset(&u->src, 0, sizeof(u->src));
        const uint8_t *udp;
        if (et == 0x0800) {
            if (end - p < 20 || p[9] != 17)
                continue;
            size_t ihl = (size_t)(p[0] & 15) * 4;
            uint16_t frag = (uint16_t)((p[6] & 0x3f) << 8 | p[7]);
            if (frag || (size_t)(end - p) < ihl + 8)
                continue;
            struct sockaddr_in *s4 = (struct sockaddr_in *)&u->src;
            s4->sin_family = AF_INET;
            memcpy(&s4->sin_addr, p + 12, 4);
            udp = p + ihl;
            memcpy(&s4->sin_port, udp, 2);
        } else if (et == 0x86dd) {
            if (end - p < 48 || p[6] != 17)
                continue;
            struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&u->src;
            s6->sin6_family = AF_INET6;
            memcpy(&s6->sin6_addr, p + 8, 16);
            udp = p + 40;
            memcpy(&s6->sin6_port, udp, 2);
        } else {
            continue;
        }
        uint16_t ulen = (uint16_t)(udp[4] << 8 | udp[5]);
        u->dport = (uint16_t)(udp[2] << 8 | udp[3]);
        u->payload = udp + 8;
        u->len = (size_t)(end - u->payload);
        if (ulen >= 8 && (size_t)(ulen - 8) < u->len)
            u->len = ulen - 8;
        u->ts = h->ts;
        return 1;
    }
    return 0;
}

/* ---- writing: LINKTYPE_RAW with synthesized IPv4/IPv6 + UDP headers ---- */

typedef struct pcap_out {
    pcap_t        *dead;
    pcap_dumper_t *d;
    uint8_t        buf[65600];
} pcap_out_t;

static inline int pcap_out_open(pcap_out_t *o, const char *path)
{
    o->dead = pcap_open_dead(DLT_RAW, 65535);
    o->d = pcap_dump_open(o->dead, path);
    return o->d ? 0 : -1;
}

static inline void pcap_out_close(pcap_out_t *o)
{
    if (o->d)
        pcap_dump_close(o->d);
    if (o->dead)
        pcap_close(o->dead);
    o->d = NULL;
    o->dead = NULL;
}

/* Write one datagram from src to dport (destination: loopback). */
static inline void pcap_out_udp(pcap_out_t *o, const struct sockaddr *src,
                                uint16_t dport, const uint8_t *payload,
                                size_t len)
{
    uint8_t *p = o->buf;
    size_t hl;
    if (len > 65000)
        len = 65000;
    if (src->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)src;
        memset(p, 0, 40);
        p[0] = 0x60;
        p[4] = (uint8_t)((len + 8) >> 8);
        p[5] = (uint8_t)(len + 8);
        p[6] = 17;
        p[7] = 64;
        memcpy(p + 8, &s6->sin6_addr, 16);
        p[39] = 1; /* ::1 */
        hl = 40;
        memcpy(p + hl, &s6->sin6_port, 2);
    } else {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)src;
        memset(p, 0, 20);
        p[0] = 0x45;
        p[2] = (uint8_t)((len + 28) >> 8);
        p[3] = (uint8_t)(len + 28);
        p[8] = 64;
        p[9] = 17;
        memcpy(p + 12, &s4->sin_addr, 4);
        p[16] = 127, p[19] = 1;
        uint32_t sum = 0;
        for (int i = 0; i < 20; i += 2)
            sum += (uint32_t)(p[i] << 8 | p[i + 1]);
        while (sum >> 16)
            sum = (sum & 0xffff) + (sum >> 16);
        p[10] = (uint8_t)(~sum >> 8);
        p[11] = (uint8_t)~sum;
        hl = 20;
        memcpy(p + hl, &s4->sin_port, 2);
    }
    p[hl + 2] = (uint8_t)(dport >> 8);
    p[hl + 3] = (uint8_t)dport;
    p[hl + 4] = (uint8_t)((len + 8) >> 8);
    p[hl + 5] = (uint8_t)(len + 8);
    p[hl + 6] = p[hl + 7] = 0; /* no checksum */
    memcpy(p + hl + 8, payload, len);
    struct pcap_pkthdr h;
    gettimeofday(&h.ts, NULL);
    h.caplen = h.len = (bpf_u_int32)(hl + 8 + len);
    pcap_dump((u_char *)o->d, &h, p);
}

#endif
