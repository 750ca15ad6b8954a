/* ipaddr.c - address parsing, formatting and masking; see ipaddr.h. */
#include "util/ipaddr.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>

int ipaddr_parse(const char *s, ipaddr_t *out)
{
    struct in_addr v4;
    if (strchr(s, ':') == NULL) {
        if (inet_pton(AF_INET, s, &v4) != 1)
            return -1;
        *out = ipaddr_from_v4(ntohl(v4.s_addr));
        return 0;
    }
    struct in6_addr v6;
    if (inet_pton(AF_INET6, s, &v6) != 1)
        return -1;
    memcpy(out->a, &v6, 16);
    return 0;
}

int ipaddr_parse_cidr(const char *s, ipaddr_t *out, int *prefix)
{
    char tmp[IPADDR_STRLEN + 8];
    const char *slash = strchr(s, '/');
    size_t alen = slash ? (size_t)(slash - s) : strlen(s);
    if (alen >= IPADDR_STRLEN)
        return -1;
    memcpy(tmp, s, alen);
    tmp[alen] = 0;
    ipaddr_t ip;
    if (ipaddr_parse(tmp, &ip) < 0)
        return -1;
    int v4 = strchr(tmp, ':') == NULL;
    int width = v4 ? 32 : 128, len = width;
    if (slash) {
        const char *p = slash + 1;
        if (*p < '0' || *p > '9' || strlen(p) > 3)
            return -1;
        char *end;
        long l = strtol(p, &end, 10);
        if (*end || l < 0 || l > width)
            return -1;
        len = (int)l;
    }
    *prefix = v4 ? 96 + len : len;
    *out = ipaddr_mask(&ip, *prefix);
    return 0;
}

char *ipaddr_format(const ipaddr_t *ip, char *buf, size_t size)
{
    if (ipaddr_is_v4(ip)) {
        snprintf(buf, size, "%u.%u.%u.%u", ip->a[12], ip->a[13], ip->a[14],
                 ip->a[15]);
        return buf;
    }
    if (!inet_ntop(AF_INET6, ip->a, buf, (socklen_t)size) && size)
        buf[0] = 0;
    return buf;
}

ipaddr_t ipaddr_mask(const ipaddr_t *ip, int bits)
{
    ipaddr_t r = *ip;
    if (bits < 0)
        bits = 0;
    for (int i = 0; i < 16; i++) {
        int keep = bits - i * 8;
        if (keep >= 8)
            continue;
        r.a[i] &= keep <= 0 ? 0 : (uint8_t)(0xff << (8 - keep));
    }
    return r;
}

int ipaddr_in(const ipaddr_t *ip, const ipaddr_t *net, int bits)
{
    int full = bits / 8, rest = bits % 8;
    if (memcmp(ip->a, net->a, (size_t)full) != 0)
        return 0;
    if (!rest)
        return 1;
    uint8_t m = (uint8_t)(0xff << (8 - rest));
    return (ip->a[full] & m) == (net->a[full] & m);
}
