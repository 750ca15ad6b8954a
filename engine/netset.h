/*
 * netset.h - sets of networks: the named sets such as "monitored" (what
 * is inside your network), used in queries as `srcip IN monitored`, and
 * the matcher every `IN` over addresses runs on.
 *
 * A netmatch is a set of IPv4 and IPv6 prefixes compiled for membership:
 * the prefixes become their address ranges, sorted, with overlapping and
 * adjacent ones merged, so a lookup is one binary search over a flat
 * array (IPv4 addresses in an array of 32-bit ranges of their own, 8
 * bytes per range). Sorted ranges rather than a trie: `IN` asks only
 * whether an address is in the set, never which prefix matched, so the
 * prefixes can be merged away; what is left is smaller than a trie's
 * nodes, has no pointers to chase, and is immutable, so every query of a
 * set shares one copy. A million prefixes take under a second to compile
 * and 8 to 32 MB; a lookup is a binary search, in large IPv4 sets over
 * only the ranges of the address's /16.
 *
 * The named sets are one process-wide table, set from flowsqld's options
 * at start. A set read from a file ("@path": a blocklist, a list of
 * customers' networks) is read again when the file changes
 * (netset_reload, which flowsqld calls every few seconds and on SIGHUP):
 * every `IN name` operator, in queries registered before or after,
 * compares netset_generation() once per batch and takes the new networks
 * from its next batch on. A file that no longer parses keeps the old
 * networks (and says why).
 */
#ifndef FLOWSQL_NETSET_H
#define FLOWSQL_NETSET_H

#include <stddef.h>
#include <stdint.h>

#include "util/diag.h"
#include "util/ipaddr.h"

/* The most prefixes one set may list (the whole IPv4 space in /24s). */
#define NETSET_MAX_NETS (1 << 24)

/* The largest file a set is read from ("@path"). */
#define NETSET_MAX_FILE (512u << 20)

/* The default "monitored" set: the private ranges (RFC 1918, RFC 4193). */
#define NETSET_DEFAULT_MONITORED "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7"

typedef struct netmatch netmatch_t;

/* Compile n prefixes (addresses in the 128-bit space, IPv4 mapped, and
 * their lengths in that space: 96 + len for IPv4). Holds one reference. */
netmatch_t *netmatch_new(const ipaddr_t *nets, const int *bits, size_t n);
netmatch_t *netmatch_ref(netmatch_t *m);
void        netmatch_unref(netmatch_t *m);   /* NULL is fine */

/* Is ip in the set? */
int  netmatch_has(const netmatch_t *m, const ipaddr_t *ip);
/* For rows sel[0..n): out[row] = (ips[row] in the set) ^ negate. */
void netmatch_eval(const netmatch_t *m, const ipaddr_t *ips,
                   const uint32_t *sel, uint32_t n, int64_t *out, int negate);
/* Ranges after merging (IPv4, and the rest), and the bytes they take. */
void netmatch_size(const netmatch_t *m, size_t *ranges4, size_t *ranges6,
                   size_t *bytes);

/* Define (or redefine) a set from "cidr,cidr,..." (commas or white
 * space between them), or from "@path": a file of networks, one or more
 * a line, '#' starting a comment. 0, or -1 with err. */
int netset_define(const char *name, const char *cidrs, diag_t *err);

/* Define sets from "name=cidr,cidr;name2=@path". 0, or -1 with err. */
int netset_define_all(const char *spec, diag_t *err);

/* Is there a set called name (any case)? */
int netset_exists(const char *name);

/* A reference to set name's matcher (netmatch_unref it), or NULL if there
 * is no such set. */
netmatch_t *netset_match(const char *name);

/* Read again every set defined from a file that changed since it was
 * read: the number of sets reloaded; *errors counts files that did not
 * parse (their sets keep their networks), err says why for the first. */
int netset_reload(int *errors, diag_t *err);

/* Changes whenever some set's networks change. */
uint64_t netset_generation(void);

/* The names of the defined sets, comma-separated, into buf. */
void netset_names(char *buf, size_t size);

#endif
