/*
 * anon.h - address anonymization: prefix-preserving Crypto-PAn, or
 * truncation, for every output or for some.
 *
 * Crypto-PAn (Xu, Fan, Ammar, Moon, ICNP 2002) maps addresses one to one
 * so that two addresses sharing a k-bit prefix map to two sharing a k-bit
 * prefix, under a 32-byte key: AES-128 keyed by the first 16 bytes, the
 * pad the encryption of the last 16. IPv4 addresses are mapped as 32-bit
 * addresses (exactly the reference implementation: tests/unit/test_anon.c
 * checks its published sample), IPv6 ones the same way over 128 bits.
 * AES is OpenSSL's (libcrypto EVP, AES-NI where the CPU has it): the 32
 * (or 128) blocks one address needs are independent of each other, so
 * they go through in one EVP call. Results are cached: for IPv4, per
 * /24 (4096 of them, direct mapped) the pad bits of the /24 and of each
 * address of it met so far, so a new address of a known /24 costs 8
 * blocks and a known one a table read; for IPv6, 16384 addresses and
 * the pad bits of 4096 /64s. Truncation keeps the first N bits of an IPv4 address
 * and M of an IPv6 one and zeroes the rest.
 *
 * The unspecified addresses (:: and 0.0.0.0, "not sent" in a flow) are
 * left as they are. Thread-safe: a lock per call of anon_batch() and of
 * an output's window.
 */
#ifndef FLOWSQL_ANON_H
#define FLOWSQL_ANON_H

#include <stdint.h>

#include "engine/flow.h"
#include "engine/rowset.h"
#include "util/diag.h"

/* Where anonymized addresses go (--anonymize-scope). */
enum anon_scope {
    ANON_ALL = 1,       /* every flow before the queries and the archive */
    ANON_STORE = 2,     /* the rows stored in SQLite */
    ANON_KAFKA = 4,     /* the rows sent to Kafka */
    ANON_ES = 8,        /* the rows sent to Elasticsearch */
    ANON_ARCHIVE = 16,  /* the flows kept in the raw-flow archive */
    ANON_API = 32,      /* the live windows of the REST API and the shell */
};

typedef struct anon anon_t;

/* A Crypto-PAn anonymizer under a 32-byte key. */
anon_t *anon_cryptopan(const uint8_t key[32], diag_t *err);
/* A truncating one: keep v4bits (0-32) of IPv4, v6bits (0-128) of IPv6. */
anon_t *anon_truncate(int v4bits, int v6bits);
void    anon_free(anon_t *a);

/* A Crypto-PAn key from a file: exactly 32 bytes, or 64 hex digits
 * (a newline after them allowed). */
int anon_read_key(const char *path, uint8_t key[32], diag_t *err);
/* "all" or a comma list of store, kafka, es, archive, api into ANON_*. */
int anon_parse_scope(const char *s, unsigned *out, diag_t *err);

/* The anonymized form of ip. */
ipaddr_t anon_addr(anon_t *a, const ipaddr_t *ip);
/* Anonymize srcip, dstip and nexthop of every flow in b, in place. */
void anon_batch(anon_t *a, flow_batch_t *b);

/* An output that hands inner a copy of each window with every address
 * column anonymized. Owned by a (freed by anon_free). */
output_t *anon_output(anon_t *a, output_t *inner);

#endif
