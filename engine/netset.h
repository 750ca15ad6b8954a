/*
 * netset.h - named sets of networks, such as "monitored" (what is inside
 * your network), used in queries as `srcip IN monitored`.
 *
 * The sets are one process-wide table, set from flowsqld's options at
 * start. A query takes a copy of a set's networks when it is compiled, so
 * changing a set affects queries registered afterwards (flowsqld reads the
 * options at start only: change them and restart).
 */
#ifndef FLOWSQL_NETSET_H
#define FLOWSQL_NETSET_H

#include "util/diag.h"
#include "util/ipaddr.h"

#define NETSET_MAX_NETS 1024

/* The default "monitored" set: the private ranges (RFC 1918, RFC 4193). */
#define NETSET_DEFAULT_MONITORED "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7"

/* Define (or redefine) a set from "cidr,cidr,...". 0, or -1 with err. */
int netset_define(const char *name, const char *cidrs, diag_t *err);

/* Define sets from "name=cidr,cidr;name2=cidr". 0, or -1 with err. */
int netset_define_all(const char *spec, diag_t *err);

/* Copy set name's networks (prefixes in the 128-bit space) into nets and
 * bits, at most max; returns how many, or -1 if there is no such set. */
int netset_get(const char *name, ipaddr_t *nets, int *bits, int max);

/* The names of the defined sets, comma-separated, into buf. */
void netset_names(char *buf, size_t size);

#endif
