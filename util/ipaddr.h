/*
 * ipaddr.h - IP addresses as flowsql keeps them everywhere.
 *
 * An address is 16 bytes in network order: IPv6 as is, IPv4 mapped into
 * IPv6 (::ffff:a.b.c.d). One representation means one comparison, one hash
 * and one column type for both families; the family is derived.
 */
#ifndef FLOWSQL_IPADDR_H
#define FLOWSQL_IPADDR_H

#include <stdint.h>
#include <stddef.h>
#include <string.h>

typedef struct ipaddr {
    _Alignas(8) uint8_t a[16];
} ipaddr_t;

#define IPADDR_STRLEN 46 /* INET6_ADDRSTRLEN */

static inline int ipaddr_is_v4(const ipaddr_t *ip)
{
    static const uint8_t pfx[12] = {0,0,0,0,0,0,0,0,0,0,0xff,0xff};
    return memcmp(ip->a, pfx, 12) == 0;
}

static inline ipaddr_t ipaddr_from_v4(uint32_t host_order)
{
    ipaddr_t ip = {{0,0,0,0,0,0,0,0,0,0,0xff,0xff,0,0,0,0}};
    ip.a[12] = (uint8_t)(host_order >> 24);
    ip.a[13] = (uint8_t)(host_order >> 16);
    ip.a[14] = (uint8_t)(host_order >> 8);
    ip.a[15] = (uint8_t)host_order;
    return ip;
}

static inline uint32_t ipaddr_v4(const ipaddr_t *ip)
{
    return (uint32_t)ip->a[12] << 24 | (uint32_t)ip->a[13] << 16 |
           (uint32_t)ip->a[14] << 8 | ip->a[15];
}

/* Byte order (network order) comparison, as memcmp would give, done on
 * two big-endian words: this sits on hot paths. */
static inline int ipaddr_cmp(const ipaddr_t *x, const ipaddr_t *y)
{
    uint64_t x0, x1, y0, y1;
    memcpy(&x0, x->a, 8);
    memcpy(&x1, x->a + 8, 8);
    memcpy(&y0, y->a, 8);
    memcpy(&y1, y->a + 8, 8);
    if (x0 != y0) {
        x0 = __builtin_bswap64(x0);
        y0 = __builtin_bswap64(y0);
        return x0 < y0 ? -1 : 1;
    }
    if (x1 != y1) {
        x1 = __builtin_bswap64(x1);
        y1 = __builtin_bswap64(y1);
        return x1 < y1 ? -1 : 1;
    }
    return 0;
}

static inline int ipaddr_eq(const ipaddr_t *x, const ipaddr_t *y)
{
    uint64_t x0, x1, y0, y1;
    memcpy(&x0, x->a, 8);
    memcpy(&x1, x->a + 8, 8);
    memcpy(&y0, y->a, 8);
    memcpy(&y1, y->a + 8, 8);
    return ((x0 ^ y0) | (x1 ^ y1)) == 0;
}

/* Parse text (IPv4 dotted quad or any IPv6 form). 0 on success, -1 if
 * the text is not an address. */
int ipaddr_parse(const char *s, ipaddr_t *out);

/* Parse "addr/len" or a bare address (len = full width). On success
 * *prefix is the length in the 128-bit space (IPv4 /8 -> 104) and the
 * address is masked. */
int ipaddr_parse_cidr(const char *s, ipaddr_t *out, int *prefix);

/* Format as text: dotted quad for IPv4, RFC 5952 for IPv6. Returns buf. */
char *ipaddr_format(const ipaddr_t *ip, char *buf, size_t size);

/* Keep the first bits (in the 128-bit space) and zero the rest. */
ipaddr_t ipaddr_mask(const ipaddr_t *ip, int bits);

/* 1 if ip lies in net/bits (bits in the 128-bit space). */
int ipaddr_in(const ipaddr_t *ip, const ipaddr_t *net, int bits);

#endif
