/*
 * prom.h - Prometheus text exposition of a table of counters, the form
 * every module's /metrics part uses for its monotonic counters.
 */
#ifndef FLOWSQL_PROM_H
#define FLOWSQL_PROM_H

#include <stddef.h>
#include <stdint.h>

#include "util/sbuf.h"

typedef struct prom_counter {
    const char *name, *help;
    uint64_t    v;
} prom_counter_t;

/* "# HELP", "# TYPE ... counter" and the sample of each of c[0..n). */
void prom_counters(sbuf_t *b, const prom_counter_t *c, size_t n);

#endif
