/*
 * capture - record what an exporter sends, once, so the end-to-end tests
 * can replay the very same datagrams to flowsql and to the oracle (no
 * privileges needed, unlike a packet capture on lo).
 *
 *   capture --udp PORT --out X.pcap [--ports-file F] [--idle-ms N] [--max-s N]
 *   capture --tcp PORT --out X.pcap --stream X.ipfix [...]
 *
 * UDP: every datagram received on 127.0.0.1:PORT (0: any free port,
 * written to --ports-file) goes into X.pcap with its sender's address and
 * port. TCP: the IPFIX byte stream of each connection is appended to
 * --stream (an RFC 5655 file), and each of its messages also goes into
 * X.pcap as one datagram, for collectors that only speak UDP. Stops N ms
 * after the last datagram/byte (default 3000; counting starts with the
 * first), after --max-s seconds (default 60), or on SIGTERM. Prints what
 * it captured on stderr.
 */
#include "tests/tools/pcapio.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_sig(int s)
{
    (void)s;
    stop = 1;
}

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int main(int argc, char **argv)
{
    int udp = -1, tcp = -1;
    const char *outp = NULL, *stream = NULL, *ports_file = NULL;
    long long idle = 3000, max_s = 60;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--udp")) udp = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--tcp")) tcp = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--out")) outp = argv[i + 1];
        else if (!strcmp(argv[i], "--stream")) stream = argv[i + 1];
        else if (!strcmp(argv[i], "--ports-file")) ports_file = argv[i + 1];
        else if (!strcmp(argv[i], "--idle-ms")) idle = atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "--max-s")) max_s = atoll(argv[i + 1]);
    }
    if (!outp || (udp < 0) == (tcp < 0) || (tcp >= 0 && !stream)) {
        fprintf(stderr, "usage: capture (--udp P | --tcp P --stream F) "
                        "--out X.pcap [--ports-file F] [--idle-ms N]\n");
        return 2;
    }
    signal(SIGTERM, on_sig);
    signal(SIGINT, on_sig);
    int fd = socket(AF_INET, udp >= 0 ? SOCK_DGRAM : SOCK_STREAM, 0);
    int one = 1, big = 32 << 20;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)(udp >= 0 ? udp : tcp));
    socklen_t al = sizeof(a);
    if (bind(fd, (struct sockaddr *)&a, al) != 0 ||
        (tcp >= 0 && listen(fd, 4) != 0)) {
        perror("capture: bind");
        return 1;
    }
    getsockname(fd, (struct sockaddr *)&a, &al);
    uint16_t port = ntohs(a.sin_port);
    if (ports_file) {
        char tmp[512];
        snprintf(tmp, sizeof(tmp), "%s.tmp", ports_file);
        FILE *f = fopen(tmp, "w");
        fprintf(f, "%u\n", port);
        fclose(f);
        rename(tmp, ports_file);
    }
    pcap_out_t po;
    if (pcap_out_open(&po, outp) != 0) {
        fprintf(stderr, "capture: cannot write %s\n", outp);
        return 1;
    }
    FILE *sf = stream ? fopen(stream, "wb") : NULL;
    static uint8_t buf[1 << 17];
    size_t have = 0;
    int conn = -1;
    struct sockaddr_storage peer;
    unsigned long long n = 0, bytes = 0;
    long long start = mono_ms(), last = 0;
    while (!stop) {
        long long now = mono_ms();
        if ((last && now - last > idle) || now - start > max_s * 1000)
            break;
        struct pollfd p = {conn >= 0 ? conn : fd, POLLIN, 0};
        if (poll(&p, 1, 100) <= 0)
            continue;
        if (udp >= 0) {
            socklen_t pl = sizeof(peer);
            ssize_t r = recvfrom(fd, buf, sizeof(buf), 0,
                                 (struct sockaddr *)&peer, &pl);
            if (r < 0)
                continue;
            pcap_out_udp(&po, (struct sockaddr *)&peer, port, buf, (size_t)r);
            n++, bytes += (size_t)r;
            last = mono_ms();
            continue;
        }
        if (conn < 0) {
            socklen_t pl = sizeof(peer);
            conn = accept(fd, (struct sockaddr *)&peer, &pl);
            have = 0;
            last = mono_ms();
            continue;
        }
        ssize_t r = read(conn, buf + have, sizeof(buf) - have);
        if (r <= 0) {
            close(conn);
            conn = -1;
            continue;
        }
        fwrite(buf + have, 1, (size_t)r, sf);
        have += (size_t)r;
        bytes += (size_t)r;
        last = mono_ms();
        size_t off = 0;
        while (have - off >= 4) {
            size_t mlen = (size_t)(buf[off + 2] << 8 | buf[off + 3]);
            if (mlen < 16 || have - off < mlen)
                break;
            pcap_out_udp(&po, (struct sockaddr *)&peer, port, buf + off,
                         mlen);
            n++;
            off += mlen;
        }
        memmove(buf, buf + off, have - off);
        have -= off;
    }
    if (conn >= 0)
        close(conn);
    pcap_out_close(&po);
    if (sf)
        fclose(sf);
    fprintf(stderr, "capture: %llu messages, %llu bytes on port %u\n", n,
            bytes, port);
    return 0;
}
