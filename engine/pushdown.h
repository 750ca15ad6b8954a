/*
 * pushdown.h - what a query over the archive tells the scan before it
 * reads anything: which columns it needs, and conditions that let whole
 * files and row groups be skipped (archive_scan's predicate,
 * archive/archive.h, has the same shape: the archive turns one into the
 * other).
 *
 * The conditions come from the statement's time range (FROM flows LAST
 * 1h ...) and from WHERE: each top-level AND term that is about one of
 * these, compared with constants, is pushed down:
 *
 *   received, start, end     a range (=, <, <=, >, >=, BETWEEN)
 *   srcip, dstip             addresses and networks (=, IN (...), IN net);
 *                            both in one OR (srcip = X OR dstip = X): "any"
 *   srcport, dstport, proto  values (=, IN (...), small ranges);
 *                            both ports in one OR: "any port"
 *
 * A term may be an OR of such comparisons on one field (or on srcip and
 * dstip, srcport and dstport), and an AND inside an OR stands for one of
 * its terms ((srcip = X AND dstport = 445) OR (dstip = X ...) pushes the
 * addresses). Everything else (functions, NOT, !=, other fields) is not
 * pushed down: the engine evaluates the whole WHERE on every flow read,
 * so pushdown decides only what is read, never what matches. When two
 * terms are about the same thing, time ranges are intersected and of
 * two sets the first is kept.
 */
#ifndef FLOWSQL_PUSHDOWN_H
#define FLOWSQL_PUSHDOWN_H

#include <stdint.h>

#include "engine/plan.h"
#include "util/sbuf.h"

enum { SCAN_RECEIVED, SCAN_START, SCAN_END, SCAN_NTIMES };
enum { SCAN_SRCIP, SCAN_DSTIP, SCAN_ANYIP, SCAN_NNETS };
enum { SCAN_SRCPORT, SCAN_DSTPORT, SCAN_ANYPORT, SCAN_PROTO, SCAN_NINTS };

typedef struct scan_net {
    ipaddr_t addr;      /* masked to prefix */
    int      prefix;    /* bits in the 128-bit space; 128: one address */
} scan_net_t;

typedef struct scan_spec {
    uint64_t    fields;             /* 1 << F_x of every stored field read */
    int         has_range;          /* FROM flows LAST/SINCE/BETWEEN */
    int64_t     range_lo, range_hi; /* its received times, bounds included */
    int64_t     lo[SCAN_NTIMES], hi[SCAN_NTIMES]; /* INT64_MIN/MAX: none */
    scan_net_t *nets[SCAN_NNETS];   /* n == 0: no condition */
    int         nnets[SCAN_NNETS];
    int64_t    *ints[SCAN_NINTS];   /* ascending, distinct */
    int         nints[SCAN_NINTS];
} scan_spec_t;

/* At most this many values in one set (an IN list, a port range); a
 * longer one is not pushed down. */
#define SCAN_MAX_SET 1024

/* The scan of plan p (a SELECT FROM flows without WINDOW), its time
 * range resolved at now_ms (LAST d is [now - d, now]). Allocated in
 * p->arena. Never fails: with nothing to push down every condition is
 * empty. */
scan_spec_t *pushdown_build(plan_t *p, int64_t now_ms);

/* The pushed-down conditions as EXPLAIN shows them, one per line,
 * "  pushdown   srcip = 10.0.0.1 (bloom filters, zone maps)"; a range
 * given as LAST d is written "received >= now - d" when relative.
 * Appends nothing if there are none. */
void scan_spec_explain(const scan_spec_t *s, const plan_t *p, int relative,
                       sbuf_t *out);

/* The stored fields an expression tree reads (virtual fields by what they
 * are computed from). */
uint64_t pushdown_fields(const ast_t *x);

/* The fields a plan names (1 << F_x), virtual and enriched ones as
 * themselves: what the engine must compute before running it. */
uint64_t plan_named_fields(const plan_t *p);

#endif
