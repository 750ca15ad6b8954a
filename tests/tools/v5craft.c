/*
 * v5craft - send hand-written flows as NetFlow v5 export datagrams, for
 * tests that need exact traffic patterns (scans, floods, brute force).
 *
 *   v5craft HOST:PORT [--rate DATAGRAMS_PER_S] < spec
 *
 * spec: one flow per line, fields separated by blanks, '#' comments:
 *
 *   srcip dstip srcport dstport proto tcpflags packets bytes [repeat [step]]
 *
 * tcpflags as letters (S, SA, FSPA, . for none) or a number. repeat sends
 * the flow that many times; step (a, d or ad) adds the repetition number
 * to the last octet/port pair of the source address (a), the destination
 * address (d) or the destination port (p), so one line can describe a
 * scan: "10.9.9.9 192.168.0.0 40000 445 6 S 1 44 200 d" probes 200 hosts.
 * Flows are timed "now" (the uptime-relative First/Last of v5). Sequence
 * numbers count records, as v5 wants. Exits 0 after sending everything.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_RECS 30

static uint8_t dgram[24 + 48 * MAX_RECS];
static int nrecs, sock;
static uint32_t seq;
static struct sockaddr_in dst;
static long rate = 2000;
static uint64_t sent_records;

static void put16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

static uint32_t uptime_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint32_t)(ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

static void flush(void)
{
    if (!nrecs)
        return;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    put16(dgram, 5);
    put16(dgram + 2, (uint32_t)nrecs);
    put32(dgram + 4, uptime_ms());
    put32(dgram + 8, (uint32_t)now.tv_sec);
    put32(dgram + 12, (uint32_t)now.tv_nsec);
    put32(dgram + 16, seq);
    dgram[20] = 0;
    dgram[21] = 0;
    put16(dgram + 22, 0);
    if (sendto(sock, dgram, 24 + 48 * (size_t)nrecs, 0, (struct sockaddr *)&dst,
               sizeof(dst)) < 0)
        perror("v5craft: sendto");
    seq += (uint32_t)nrecs;
    sent_records += (uint64_t)nrecs;
    nrecs = 0;
    struct timespec pause = {0, 1000000000L / rate};
    nanosleep(&pause, NULL);
}

static int flags_of(const char *s)
{
    if (isdigit((unsigned char)*s))
        return atoi(s);
    static const char *letters = "FSRPAUEC";
    int f = 0;
    for (; *s; s++) {
        const char *p = strchr(letters, toupper((unsigned char)*s));
        if (p)
            f |= 1 << (p - letters);
    }
    return f;
}

static void record(uint32_t src, uint32_t dsta, uint32_t sport, uint32_t dport,
                   int proto, int flags, uint32_t pkts, uint32_t bytes)
{
    uint8_t *r = dgram + 24 + 48 * nrecs;
    memset(r, 0, 48);
    uint32_t up = uptime_ms();
    put32(r, src);
    put32(r + 4, dsta);
    put32(r + 16, pkts);
    put32(r + 20, bytes);
    put32(r + 24, up > 500 ? up - 500 : 0);   /* First */
    put32(r + 28, up);                        /* Last */
    put16(r + 32, sport);
    put16(r + 34, dport);
    r[37] = (uint8_t)flags;
    r[38] = (uint8_t)proto;
    if (++nrecs == MAX_RECS)
        flush();
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: v5craft HOST:PORT [--rate N] < spec\n");
        return 2;
    }
    char host[64];
    const char *colon = strrchr(argv[1], ':');
    if (!colon || (size_t)(colon - argv[1]) >= sizeof(host))
        return 2;
    memcpy(host, argv[1], (size_t)(colon - argv[1]));
    host[colon - argv[1]] = 0;
    if (argc > 3 && strcmp(argv[2], "--rate") == 0)
        rate = atol(argv[3]) > 0 ? atol(argv[3]) : rate;
    dst.sin_family = AF_INET;
    dst.sin_port = htons((uint16_t)atoi(colon + 1));
    if (inet_pton(AF_INET, host, &dst.sin_addr) != 1)
        return 2;
    sock = socket(AF_INET, SOCK_DGRAM, 0);
    char line[512];
    int lineno = 0;
    while (fgets(line, sizeof(line), stdin)) {
        lineno++;
        char *hash = strchr(line, '#');
        if (hash)
            *hash = 0;
        char s[64], d[64], fl[16], step[8] = "";
        unsigned sp, dp, proto, pk, by;
        long rep = 1;
        int n = sscanf(line, "%63s %63s %u %u %u %15s %u %u %ld %7s", s, d, &sp,
                       &dp, &proto, fl, &pk, &by, &rep, step);
        if (n <= 0)
            continue;
        struct in_addr sa, da;
        if (n < 8 || inet_pton(AF_INET, s, &sa) != 1 ||
            inet_pton(AF_INET, d, &da) != 1) {
            fprintf(stderr, "v5craft: line %d: bad flow\n", lineno);
            return 2;
        }
        for (long i = 0; i < rep; i++) {
            uint32_t src = ntohl(sa.s_addr), dsta = ntohl(da.s_addr), dport = dp;
            if (strchr(step, 'a'))
                src += (uint32_t)i;
            if (strchr(step, 'd'))
                dsta += (uint32_t)i;
            if (strchr(step, 'p'))
                dport += (uint32_t)i;
            record(src, dsta, sp, dport & 0xffff, (int)proto, flags_of(fl), pk, by);
        }
    }
    flush();
    fprintf(stderr, "v5craft: %llu records\n", (unsigned long long)sent_records);
    close(sock);
    return 0;
}
