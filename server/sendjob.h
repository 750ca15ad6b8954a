/*
 * sendjob.h - IPFIX replay: archived flows of a range (and filter) sent
 * as IPFIX to another collector, at their original pace (by received
 * time), N times faster, or as fast as possible; a background job
 * (server/jobs.h). POST /api/v1/archive/replay and `flowsql replay`.
 *
 * Destinations are limited to the networks of --replay-allow (loopback
 * only by default): flowsqld does not send traffic anywhere a client
 * asks. docs/ARCHIVE.md "Replay and history".
 */
#ifndef FLOWSQL_SENDJOB_H
#define FLOWSQL_SENDJOB_H

#include <stdint.h>

#include "server/app.h"
#include "util/sbuf.h"

typedef struct sendjob_req {
    const char *to;          /* "a.b.c.d:port" or "[v6]:port" */
    const char *transport;   /* "udp" (NULL: udp) or "tcp" */
    double      speed;       /* 1: original pace, N: N times faster,
                                0: as fast as possible */
    const char *flows;       /* the selection (archive/flowsel.h) */
    int64_t     mtu;         /* UDP message size; 0: 1400 */
} sendjob_req_t;

/* Check the request and start the job: AE_OK with *id, or an AE_* class
 * with err set (a bad destination or selection 400, a destination not
 * allowed 403, too many jobs 429). */
int sendjob_start(app_t *a, const sendjob_req_t *r, uint64_t *id,
                  diag_t *err);

/* flowsql_replay_* metrics (docs/METRICS.md). */
void sendjob_metrics(sbuf_t *out);

#endif
