/* stats.c - per exporter-and-domain counters; see stats.h. */
#include "ingest/stats.h"
#include "util/arena.h"

#include <stdlib.h>
#include <string.h>

static uint64_t key_hash(const ipaddr_t *ip, uint32_t domain)
{
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ domain;
    for (int i = 0; i < 16; i += 8) {
        uint64_t w;
        memcpy(&w, ip->a + i, 8);
        h ^= w;
        h *= 0xff51afd7ed558ccdULL;
        h ^= h >> 33;
    }
    return h;
}

void stats_init(stats_table_t *t, size_t max_entries)
{
    memset(t, 0, sizeof(*t));
    pthread_mutex_init(&t->lock, NULL);
    t->max = max_entries ? max_entries : 4096;
    t->nslots = 64;
    t->slots = xcalloc(t->nslots, sizeof(uint32_t));
}

void stats_destroy(stats_table_t *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->entries[i]);
    free(t->entries);
    free(t->slots);
    free(t->overflow);
    pthread_mutex_destroy(&t->lock);
    memset(t, 0, sizeof(*t));
}

static void rehash(stats_table_t *t)
{
    size_t ns = t->nslots * 2;
    uint32_t *s = xcalloc(ns, sizeof(uint32_t));
    for (size_t i = 0; i < t->n; i++) {
        stats_entry_t *e = t->entries[i];
        size_t j = key_hash(&e->exporter, e->domain) & (ns - 1);
        while (s[j])
            j = (j + 1) & (ns - 1);
        s[j] = (uint32_t)i + 1;
    }
    free(t->slots);
    t->slots = s;
    t->nslots = ns;
}

stats_entry_t *stats_get(stats_table_t *t, const ipaddr_t *exporter,
                         uint32_t domain)
{
    pthread_mutex_lock(&t->lock);
    size_t j = key_hash(exporter, domain) & (t->nslots - 1);
    while (t->slots[j]) {
        stats_entry_t *e = t->entries[t->slots[j] - 1];
        if (e->domain == domain && ipaddr_cmp(&e->exporter, exporter) == 0) {
            pthread_mutex_unlock(&t->lock);
            return e;
        }
        j = (j + 1) & (t->nslots - 1);
    }
    stats_entry_t *e;
    if (t->n >= t->max) {
        if (!t->overflow)
            t->overflow = xcalloc(1, sizeof(stats_entry_t));
        e = t->overflow;
    } else {
        e = xcalloc(1, sizeof(*e));
        e->exporter = *exporter;
        e->domain = domain;
        if (t->n == t->cap) {
            t->cap = t->cap ? t->cap * 2 : 64;
            t->entries = xrealloc(t->entries, t->cap * sizeof(*t->entries));
        }
        t->entries[t->n++] = e;
        t->slots[j] = (uint32_t)t->n;
        if (t->n * 2 > t->nslots)
            rehash(t);
    }
    pthread_mutex_unlock(&t->lock);
    return e;
}

void stats_touch(stats_entry_t *e, int proto, int64_t now_ms)
{
    if (gauge_get(&e->first_seen_ms) == 0)
        gauge_set(&e->first_seen_ms, now_ms);
    gauge_set(&e->last_seen_ms, now_ms);
    gauge_set(&e->proto, proto);
}

static void copy_entry(stats_entry_t *e, ingest_exporter_stats_t *o)
{
    o->exporter = e->exporter;
    o->domain = e->domain;
    o->proto = (int)gauge_get(&e->proto);
    o->first_seen_ms = gauge_get(&e->first_seen_ms);
    o->last_seen_ms = gauge_get(&e->last_seen_ms);
    o->messages = ctr_get(&e->messages);
    o->records = ctr_get(&e->records);
    o->bytes = ctr_get(&e->bytes);
    o->decode_errors = ctr_get(&e->decode_errors);
    o->unknown_tmpl = ctr_get(&e->unknown_tmpl);
    o->seq_lost = ctr_get(&e->seq_lost);
    o->seq_lost_msgs = ctr_get(&e->seq_lost_msgs);
    o->seq_resets = ctr_get(&e->seq_resets);
    o->queue_drops = ctr_get(&e->queue_drops);
    o->tcp_refused = ctr_get(&e->tcp_refused);
    o->counter_samples = ctr_get(&e->counter_samples);
}

size_t stats_snapshot(stats_table_t *t, ingest_exporter_stats_t *out,
                      size_t max)
{
    pthread_mutex_lock(&t->lock);
    size_t total = t->n + (t->overflow ? 1 : 0);
    size_t k = 0;
    for (size_t i = 0; i < t->n && k < max; i++)
        copy_entry(t->entries[i], &out[k++]);
    if (t->overflow && k < max)
        copy_entry(t->overflow, &out[k++]);
    pthread_mutex_unlock(&t->lock);
    return total;
}
