/*
 * pushdown.h - what a query over the archive tells the scan before it
 * reads anything: which columns it needs, and conditions that let whole
 * files and row groups be skipped.
 *
 * The conditions are taken from the statement's time range (FROM flows
 * LAST 1h ...) and from WHERE: every top-level AND term that says
 * something about one stored field compared with constants becomes a
 * clause. A clause is an OR of atoms; an atom is "field within [lo, hi]"
 * or "field is one of these values". A row group may be skipped when
 * some clause is false for it: every atom's range misses the chunk's
 * min/max (zone maps), and for srcip/dstip values, the bloom filter says
 * no. So
 *
 *     WHERE (srcip = 10.0.0.1 OR dstip = 10.0.0.1) AND dstport = 445
 *
 * gives two clauses: {srcip in {10.0.0.1}, dstip in {10.0.0.1}} and
 * {dstport in [445, 445]}. Conditions the scan cannot use (functions,
 * NOT, !=, arithmetic) are simply not pushed down: the engine still
 * evaluates the whole WHERE on every flow read, so pushdown only ever
 * decides what is read, never what matches.
 */
#ifndef FLOWSQL_PUSHDOWN_H
#define FLOWSQL_PUSHDOWN_H

#include <stdint.h>

#include "engine/plan.h"
#include "util/sbuf.h"

enum { ATOM_RANGE = 0, ATOM_SET = 1 };

typedef struct scan_atom {
    int      field;      /* a stored field (F_SRCIP .. F_DOMAIN) */
    int      kind;       /* ATOM_RANGE or ATOM_SET */
    value_t  lo, hi;     /* RANGE: bounds included (.ip for addresses, .i
                            else); SET: the smallest and largest value */
    value_t *vals;       /* SET: distinct values, ascending */
    int      nvals;
} scan_atom_t;

typedef struct scan_clause {
    scan_atom_t *atoms;  /* OR of these */
    int          natoms;
    int          from_range; /* the FROM flows LAST/SINCE/BETWEEN clause */
} scan_clause_t;

typedef struct scan_spec {
    scan_clause_t *clauses;  /* AND of these */
    int            nclauses;
    uint64_t       fields;   /* 1 << F_x for every stored field read */
    int64_t        recv_lo, recv_hi; /* received times that can match
                                        (bounds included): the files to
                                        open; INT64_MIN/MAX if unbounded */
    int            has_range;/* FROM flows LAST/SINCE/BETWEEN was given */
    int64_t        range_lo, range_hi; /* its received times, included */
} scan_spec_t;

/* At most this many values in one SET atom (an IN list); a longer list
 * is not pushed down. */
#define SCAN_MAX_SET 1024
/* At most this many atoms in one clause. */
#define SCAN_MAX_ATOMS 64

/* The scan of plan p (a SELECT FROM flows without WINDOW), with its time
 * range resolved at now_ms (LAST d is [now - d, now]). Allocated in
 * p->arena. Never fails: with nothing to push down it has no clauses. */
scan_spec_t *pushdown_build(plan_t *p, int64_t now_ms);

/* Does a row group (or file) whose column chunks have these bounds
 * possibly hold a matching flow? minmax(ctx, field, &min, &max) returns
 * 1 with the chunk's bounds, 0 if it has none (then it may hold
 * anything); bloom(ctx, field, &v) returns 0 when the chunk certainly
 * lacks v, 1 otherwise (bloom may be NULL). Returns 1 if it may, 0 if it
 * cannot; *by_bloom (may be NULL) is set to 1 when only a bloom filter
 * ruled it out. */
typedef int (*scan_minmax_fn)(void *ctx, int field, value_t *min,
                              value_t *max);
typedef int (*scan_bloom_fn)(void *ctx, int field, const value_t *v);
int scan_spec_may_match(const scan_spec_t *s, scan_minmax_fn minmax,
                        scan_bloom_fn bloom, void *ctx, int *by_bloom);

/* Does one value of field f satisfy every clause that is only about f?
 * (For tests and for scans that filter rows themselves.) */

/* The pushed-down conditions as EXPLAIN shows them, one line each,
 * "received >= 2026-12-03T13:00:00.000Z AND ...; srcip = 10.0.0.1
 * (bloom, zone maps)"; a range given as LAST d is written relative to
 * now when relative is 1. Appends nothing if there are none. */
void scan_spec_explain(const scan_spec_t *s, const plan_t *p, int relative,
                       sbuf_t *out);

/* The stored fields an expression tree reads (virtual fields by what they
 * are computed from). */
uint64_t pushdown_fields(const ast_t *x);

#endif
