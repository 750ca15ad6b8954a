/*
 * enrich.h - the enriched fields: countries and AS from MaxMind DB
 * files, names of networks, exporters and interfaces from CSV files.
 *
 * One process-wide set of sources (a "snapshot"), loaded by
 * enrich_load() at start and again on SIGHUP: a new snapshot is built
 * aside and swapped in whole, so a reload that fails keeps the old one
 * and a batch in progress finishes on the snapshot it started with (no
 * flow is lost or half enriched). enrich_batch() fills the columns of
 * the enriched fields (F_SRCCOUNTRY ... F_OUT_IFNAME) a caller asks for
 * and no others: the engine thread asks for the fields its registered
 * queries read, a query over the archive for the ones it reads.
 *
 * Names are interned strings (engine/expr.h str_intern), "" when
 * unknown: the engine compares them as pointers and every output prints
 * them as text. Address lookups go through a per-thread cache (direct
 * mapped, 16384 addresses, emptied by a reload). docs/ENRICHMENT.md has
 * the file formats, fields and precedence.
 */
#ifndef FLOWSQL_ENRICH_H
#define FLOWSQL_ENRICH_H

#include <stdint.h>

#include "engine/flow.h"
#include "engine/schema.h"
#include "util/diag.h"

/* Every enriched field, as a mask of 1 << F_x. */
#define ENRICH_FIELDS                                                      \
    ((1ull << F_SRCCOUNTRY) | (1ull << F_DSTCOUNTRY) | (1ull << F_SRCASN) | \
     (1ull << F_DSTASN) | (1ull << F_SRCASNAME) | (1ull << F_DSTASNAME) |   \
     (1ull << F_SRCNET_NAME) | (1ull << F_DSTNET_NAME) |                    \
     (1ull << F_EXPORTER_NAME) | (1ull << F_IN_IFNAME) |                    \
     (1ull << F_OUT_IFNAME))

typedef struct enrich_config {
    const char *geoip_db;       /* MaxMind DB with country/iso_code; "" none */
    const char *asn_db;         /* MaxMind DB with autonomous_system_*  */
    const char *network_names;  /* CSV prefix,name */
    const char *exporter_names; /* CSV address,name */
    const char *interface_names;/* CSV exporter,ifindex,name */
} enrich_config_t;

typedef struct enrich_stats {
    uint64_t lookups;       /* address lookups asked of the cache */
    uint64_t cache_misses;  /* of them: looked up in the sources */
    uint64_t reloads;       /* snapshots loaded (start and SIGHUP) */
    uint64_t reload_errors; /* loads refused (the old snapshot kept) */
    uint64_t networks;      /* prefixes in the network names now */
} enrich_stats_t;

/* Load every source cfg names into a new snapshot and make it current.
 * On any error (a file missing, a bad line: err names the file and the
 * line) nothing changes and -1 is returned. The config is copied. */
int  enrich_load(const enrich_config_t *cfg, diag_t *err);
/* Load again from the files of the last successful enrich_load(). */
int  enrich_reload(diag_t *err);
/* Release the current snapshot (at exit). */
void enrich_shutdown(void);

/* Fill the enriched columns of b named in fields (other bits ignored).
 * A field whose source is not configured gets "" (or, for srcasn and
 * dstasn, the exported srcas and dstas). Any thread. */
void enrich_batch(flow_batch_t *b, uint64_t fields);

/* The stored fields an enriched field is computed from (0 for others). */
uint64_t enrich_deps(int field);

void enrich_get_stats(enrich_stats_t *out);

#endif
