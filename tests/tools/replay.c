/*
 * replay - send captured datagrams again, in order, at a modest rate, to
 * one or more collectors (each datagram goes to every destination), or
 * an IPFIX byte stream over TCP.
 *
 *   replay X.pcap --to 127.0.0.1:P1 [--to 127.0.0.1:P2 ...] [--pps N]
 *   replay --stream X.ipfix --tcp-to 127.0.0.1:P
 *
 * Datagrams from different senders in the capture leave from different
 * sockets (one per original address and port), so collectors see the
 * same number of exporters as the capture holds. --pps (default 2000)
 * keeps loopback from dropping anything.
 */
#include "tests/tools/pcapio.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define MAXDEST 4
#define MAXSRC 64

static int parse_dest(const char *s, struct sockaddr_in *a)
{
    const char *c = strrchr(s, ':');
    if (!c)
        return -1;
    char host[64];
    snprintf(host, sizeof(host), "%.*s", (int)(c - s), s);
    memset(a, 0, sizeof(*a));
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)atoi(c + 1));
    return inet_pton(AF_INET, host, &a->sin_addr) == 1 ? 0 : -1;
}

int main(int argc, char **argv)
{
    const char *pcap = NULL, *stream = NULL;
    struct sockaddr_in to[MAXDEST], tcp_to;
    int nto = 0, have_tcp = 0;
    double pps = 2000;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--to") && i + 1 < argc && nto < MAXDEST) {
            if (parse_dest(argv[++i], &to[nto++]) != 0)
                return 2;
        } else if (!strcmp(argv[i], "--tcp-to") && i + 1 < argc) {
            if (parse_dest(argv[++i], &tcp_to) != 0)
                return 2;
            have_tcp = 1;
        } else if (!strcmp(argv[i], "--stream") && i + 1 < argc) {
            stream = argv[++i];
        } else if (!strcmp(argv[i], "--pps") && i + 1 < argc) {
            pps = atof(argv[++i]);
        } else if (argv[i][0] != '-') {
            pcap = argv[i];
        } else {
            fprintf(stderr, "replay: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (stream && have_tcp) {
        FILE *f = fopen(stream, "rb");
        int s = socket(AF_INET, SOCK_STREAM, 0);
        if (!f || connect(s, (struct sockaddr *)&tcp_to, sizeof(tcp_to))) {
            perror("replay");
            return 1;
        }
        static uint8_t buf[1 << 16];
        size_t n, total = 0;
        while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
            size_t off = 0;
            while (off < n) {
                ssize_t w = write(s, buf + off, n - off);
                if (w < 0 && errno == EINTR)
                    continue;
                if (w < 0) {
                    perror("replay: write");
                    return 1;
                }
                off += (size_t)w;
            }
            total += n;
        }
        fclose(f);
        usleep(200000);
        close(s);
        fprintf(stderr, "replay: %zu bytes over TCP\n", total);
        return 0;
    }
    if (!pcap || !nto) {
        fprintf(stderr, "usage: replay X.pcap --to H:P [--to H:P] [--pps N]\n"
                        "       replay --stream X.ipfix --tcp-to H:P\n");
        return 2;
    }
    char err[PCAP_ERRBUF_SIZE];
    pcap_udp_t u;
    if (pcap_udp_open(&u, pcap, err) != 0) {
        fprintf(stderr, "replay: %s\n", err);
        return 1;
    }
    struct { struct sockaddr_storage orig; int fd; } src[MAXSRC];
    int nsrc = 0;
    unsigned long long n = 0;
    struct timespec gap = {0, (long)(1e9 / pps)};
    while (pcap_udp_next(&u) == 1) {
        int fd = -1;
        for (int i = 0; i < nsrc; i++)
            if (!memcmp(&src[i].orig, &u.src, sizeof(u.src)))
                fd = src[i].fd;
        if (fd < 0) {
            fd = socket(AF_INET, SOCK_DGRAM, 0);
            int big = 8 << 20;
            setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
            if (nsrc < MAXSRC) {
                src[nsrc].orig = u.src;
                src[nsrc++].fd = fd;
            }
        }
        for (int k = 0; k < nto; k++)
            if (sendto(fd, u.payload, u.len, 0, (struct sockaddr *)&to[k],
                       sizeof(to[k])) < 0)
                perror("replay: sendto");
        n++;
        nanosleep(&gap, NULL);
    }
    pcap_udp_close(&u);
    fprintf(stderr, "replay: %llu datagrams to %d collector(s)\n", n, nto);
    return 0;
}
