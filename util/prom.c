/* prom.c - see prom.h. */
#include "util/prom.h"

void prom_counters(sbuf_t *b, const prom_counter_t *c, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sbuf_printf(b, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n",
                    c[i].name, c[i].help, c[i].name, c[i].name,
                    (unsigned long long)c[i].v);
}
