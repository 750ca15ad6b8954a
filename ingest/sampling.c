/* sampling.c - configured sampling rates and renormalization; see
 * sampling.h. */
#include "ingest/sampling.h"
#include "util/counter.h"
#include "util/ipaddr.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Exporters are a handful of routers: a list, longest prefix first,
 * scanned once per run of records from the same exporter. */
#define SAMPLING_MAX_RATES 1024

typedef struct rate {
    ipaddr_t net;
    int      bits;
    int64_t  n;
} rate_t;

struct sampling {
    rate_t   *rates;
    int       nrates;
    int       renormalize;
    counter_t filled, scaled, saturated;
};

static int by_bits_desc(const void *x, const void *y)
{
    const rate_t *a = x, *b = y;
    return (a->bits < b->bits) - (a->bits > b->bits);
}

/* One "CIDR=N" entry of len bytes at s into *r. */
static int parse_rate(const char *s, size_t len, rate_t *r, diag_t *err)
{
    char buf[128];
    if (len == 0 || len >= sizeof(buf)) {
        diag_set(err, "--sampling-rate: '%.*s' is not ADDRESS[/LEN]=N",
                 (int)(len > 64 ? 64 : len), s);
        return -1;
    }
    memcpy(buf, s, len);
    buf[len] = 0;
    char *eq = strchr(buf, '=');
    if (!eq) {
        diag_set(err, "--sampling-rate: '%s' is not ADDRESS[/LEN]=N", buf);
        return -1;
    }
    *eq = 0;
    if (ipaddr_parse_cidr(buf, &r->net, &r->bits) < 0) {
        diag_set(err, "--sampling-rate: '%s' is not an address or network",
                 buf);
        return -1;
    }
    char *end;
    errno = 0;
    long long n = strtoll(eq + 1, &end, 10);
    if (errno || end == eq + 1 || *end || n < 1 || n > INT32_MAX) {
        diag_set(err, "--sampling-rate: '%s' for %s is not a rate from 1 "
                 "to 2147483647 (1 in N)", eq + 1, buf);
        return -1;
    }
    r->n = n;
    return 0;
}

sampling_t *sampling_new(const char *rates, int renormalize, diag_t *err)
{
    sampling_t *s = calloc(1, sizeof(*s));
    if (!s) {
        diag_set(err, "out of memory");
        return NULL;
    }
    s->renormalize = renormalize != 0;
    const char *p = rates ? rates : "";
    while (*p) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        while (len && (*p == ' ' || *p == '\t'))
            p++, len--;
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (s->nrates == SAMPLING_MAX_RATES) {
            diag_set(err, "--sampling-rate: more than %d entries",
                     SAMPLING_MAX_RATES);
            goto fail;
        }
        if (!s->rates &&
            !(s->rates = calloc(SAMPLING_MAX_RATES, sizeof(*s->rates)))) {
            diag_set(err, "out of memory");
            goto fail;
        }
        if (parse_rate(p, len, &s->rates[s->nrates], err) < 0)
            goto fail;
        s->nrates++;
        if (!e)
            break;
        p = e + 1;
    }
    if (s->nrates)
        qsort(s->rates, (size_t)s->nrates, sizeof(*s->rates), by_bits_desc);
    return s;
fail:
    sampling_free(s);
    return NULL;
}

void sampling_free(sampling_t *s)
{
    if (!s)
        return;
    free(s->rates);
    free(s);
}

int sampling_active(const sampling_t *s)
{
    return s && (s->nrates > 0 || s->renormalize);
}

static int64_t configured(const sampling_t *s, const ipaddr_t *exp)
{
    for (int i = 0; i < s->nrates; i++)
        if (ipaddr_in(exp, &s->rates[i].net, s->rates[i].bits))
            return s->rates[i].n;
    return 0;
}

/* x * n, clamped at INT64_MAX (counters are never negative). */
static int64_t scale(int64_t x, int64_t n, int *sat)
{
    int64_t r;
    if (__builtin_mul_overflow(x, n, &r) || r < 0) {
        *sat = 1;
        return INT64_MAX;
    }
    return r;
}

void sampling_apply(sampling_t *s, flow_batch_t *b)
{
    if (!sampling_active(s))
        return;
    uint64_t filled = 0, scaled = 0, saturated = 0;
    if (s->nrates) {
        /* Records come in runs from one exporter: one lookup per run. */
        uint32_t i = 0;
        while (i < b->n) {
            uint32_t j = i + 1;
            while (j < b->n && ipaddr_eq(&b->exporter[j], &b->exporter[i]))
                j++;
            int64_t n = configured(s, &b->exporter[i]);
            if (n > 0)
                for (uint32_t k = i; k < j; k++)
                    if (b->sampling[k] == 0) {
                        b->sampling[k] = n;
                        filled++;
                    }
            i = j;
        }
    }
    if (s->renormalize)
        for (uint32_t i = 0; i < b->n; i++) {
            int64_t n = b->sampling[i];
            if (n <= 1)
                continue;
            int sat = 0;
            b->packets[i] = scale(b->packets[i], n, &sat);
            b->bytes[i] = scale(b->bytes[i], n, &sat);
            scaled++;
            saturated += (uint64_t)sat;
        }
    if (filled)
        ctr_add(&s->filled, filled);
    if (scaled)
        ctr_add(&s->scaled, scaled);
    if (saturated)
        ctr_add(&s->saturated, saturated);
}

uint64_t sampling_filled(sampling_t *s)    { return s ? ctr_get(&s->filled) : 0; }
uint64_t sampling_scaled(sampling_t *s)    { return s ? ctr_get(&s->scaled) : 0; }
uint64_t sampling_saturated(sampling_t *s) { return s ? ctr_get(&s->saturated) : 0; }
