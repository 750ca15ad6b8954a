/*
 * sampling.h - configured sampling rates and renormalization.
 *
 * A sampling router exports 1 of every N packets; its records count
 * only those. Two things make their volumes those of the real traffic:
 *
 *   - configured rates (--sampling-rate): exporters, or networks of
 *     exporters, that sample without saying so; a record whose sampling
 *     is 0 (the exporter announced none) takes the rate of the longest
 *     configured prefix holding its exporter address. An announced rate
 *     (record, options data, NetFlow v5 header; docs/INGEST.md) wins.
 *   - renormalization (--renormalize on): packets and bytes of a record
 *     whose sampling N is above 1 are multiplied by N (saturating at
 *     INT64_MAX), before the engine and the archive see them, so every
 *     query, stored window, output and the archive hold estimates of the
 *     real traffic; `sampling` keeps N, so the exported numbers are
 *     bytes / sampling. count(*) is not scaled (docs/INGEST.md says why).
 *
 *     diag_t err;
 *     sampling_t *s = sampling_new("10.1.0.0/16=1000,192.0.2.7=512", 1, &err);
 *     ...
 *     sampling_apply(s, batch);      // one thread at a time per batch
 *     sampling_free(s);
 *
 * sampling_apply() may run on several threads at once (the engine
 * thread, --read, replays); the configuration is read-only after
 * sampling_new() and the counters are atomic.
 */
#ifndef FLOWSQL_SAMPLING_H
#define FLOWSQL_SAMPLING_H

#include <stdint.h>

#include "engine/flow.h"
#include "util/diag.h"

typedef struct sampling sampling_t;

/* Parse the rates ("CIDR=N,ADDR=N,...", N from 1 to 2^31-1; "" none)
 * and the renormalize switch. NULL with err set when the text is
 * wrong (naming the entry); never NULL otherwise, even with nothing to
 * do (sampling_apply is then a cheap no-op). */
sampling_t *sampling_new(const char *rates, int renormalize, diag_t *err);
void        sampling_free(sampling_t *s);

/* 1 when sampling_apply can change a record. */
int sampling_active(const sampling_t *s);

/* Fill configured rates and renormalize the batch's records in place. */
void sampling_apply(sampling_t *s, flow_batch_t *b);

/* Counters for /metrics: records given a configured rate, records whose
 * packets and bytes were multiplied, and of those the ones clamped at
 * INT64_MAX. */
uint64_t sampling_filled(sampling_t *s);
uint64_t sampling_scaled(sampling_t *s);
uint64_t sampling_saturated(sampling_t *s);

#endif
