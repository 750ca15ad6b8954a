/*
 * flowsel.c - a selection of archived flows: range and WHERE of a
 * statement, matching flows handed over whole; see flowsel.h.
 */
#include "archive/flowsel.h"
#include "archive/aquery.h"
#include "engine/expr.h"
#include "engine/plan.h"
#include "engine/pushdown.h"
#include "engine/schema.h"
#include "util/arena.h"
#include "util/timeutil.h"

#include <stdlib.h>
#include <string.h>

struct flowsel {
    char           *sql;
    plan_t         *plan;
    scan_spec_t    *spec;
    arena_t        *arena;
    archive_pred_t  pred;
    expr_t         *filter;      /* WHERE, or NULL */
    int64_t         lo, hi;      /* received range, bounds included */
    int64_t         limit;       /* -1: none */
    uint64_t        matched;
    flow_batch_t   *out;         /* the matching flows of a batch */
    uint32_t        sel[FLOW_BATCH_MAX], keep[FLOW_BATCH_MAX];
    /* during a scan */
    archive_batch_fn cb;
    void           *ctx;
    int             limit_hit;
};

/* Every stored (not computed) field of the schema. */
static uint64_t stored_fields(void)
{
    uint64_t m = 0;
    for (int f = 0; f < F_COUNT; f++)
        if (!schema_fields[f].is_virtual)
            m |= 1ull << f;
    return m;
}

flowsel_t *flowsel_new(const char *text, int64_t now_ms,
                       int64_t default_max_groups, diag_t *err)
{
    sbuf_t sql = SBUF_INIT;
    sbuf_add(&sql, "SELECT received FROM flows ");
    sbuf_add(&sql, text ? text : "");
    char *stmt = sbuf_detach(&sql);
    plan_t *p = plan_compile(stmt, strlen(stmt), default_max_groups, err);
    if (!p) {
        free(stmt);
        return NULL;
    }
    const stmt_t *t = plan_target(p);
    const char *why = NULL;
    if (p->stmt->kind == STMT_EXPLAIN || t->kind != STMT_SELECT || !t->select)
        why = "a selection of flows is a time range and WHERE after FROM "
              "flows, not another statement";
    else if (p->window.present)
        why = "a selection of flows has no WINDOW: it reads the archive";
    else if (p->mode != PLAN_ROWS || p->nkeys)
        why = "a selection of flows has no GROUP BY or aggregates: it "
              "selects flows";
    else if (p->norder)
        why = "a selection of flows has no ORDER BY: flows come in archive "
              "order (received time)";
    if (why) {
        diag_set(err, "%s", why);
        plan_free(p);
        free(stmt);
        return NULL;
    }
    flowsel_t *s = xcalloc(1, sizeof(*s));
    s->sql = stmt;
    s->plan = p;
    s->arena = arena_new();
    s->spec = pushdown_build(p, now_ms ? now_ms : time_now_ms());
    aquery_pred(s->spec, s->arena, &s->pred);
    s->lo = s->spec->has_range ? s->spec->range_lo : INT64_MIN;
    s->hi = s->spec->has_range ? s->spec->range_hi : INT64_MAX;
    s->limit = p->limit;
    if (p->filter)
        s->filter = expr_compile(p->filter, EXPR_FLOWS, NULL, 0, NULL, 0);
    s->out = flow_batch_new();
    return s;
}

void flowsel_free(flowsel_t *s)
{
    if (!s)
        return;
    expr_free(s->filter);
    flow_batch_free(s->out);
    arena_free(s->arena);
    plan_free(s->plan);
    free(s->sql);
    free(s);
}

const char *flowsel_sql(const flowsel_t *s)
{
    return s->sql;
}

void flowsel_range(const flowsel_t *s, int64_t *lo, int64_t *hi)
{
    *lo = s->lo;
    *hi = s->hi;
}

int64_t flowsel_limit(const flowsel_t *s)
{
    return s->limit;
}

uint64_t flowsel_matched(const flowsel_t *s)
{
    return s->matched;
}

/* Copy flows keep[0..n) of b into out, every stored field. */
static void gather(flow_batch_t *out, const flow_batch_t *b,
                   const uint32_t *keep, uint32_t n)
{
    out->n = n;
    out->flags = b->flags;
    for (int f = 0; f < F_COUNT; f++) {
        if (schema_fields[f].is_virtual)
            continue;
        size_t off = schema_fields[f].offset;
        if (schema_fields[f].type == TYPE_IP) {
            const ipaddr_t *src = (const ipaddr_t *)((const char *)b + off);
            ipaddr_t *dst = (ipaddr_t *)((char *)out + off);
            for (uint32_t k = 0; k < n; k++)
                dst[k] = src[keep[k]];
        } else {
            const int64_t *src = (const int64_t *)((const char *)b + off);
            int64_t *dst = (int64_t *)((char *)out + off);
            for (uint32_t k = 0; k < n; k++)
                dst[k] = src[keep[k]];
        }
    }
}

static int on_batch(void *ctx, const flow_batch_t *b)
{
    flowsel_t *s = ctx;
    uint32_t n = 0;
    for (uint32_t i = 0; i < b->n; i++)
        if (b->received[i] >= s->lo && b->received[i] <= s->hi)
            s->sel[n++] = i;
    if (n && s->filter) {
        expr_bind_batch(s->filter, b);
        const int64_t *c = expr_eval(s->filter, s->sel, n);
        n = expr_filter(c, s->sel, n, s->keep);
        memcpy(s->sel, s->keep, n * sizeof(uint32_t));
    }
    if (s->limit >= 0 && s->matched + n >= (uint64_t)s->limit) {
        n = (uint32_t)((uint64_t)s->limit - s->matched);
        s->limit_hit = 1;
    }
    gather(s->out, b, s->sel, n);
    s->matched += n;
    int rc = s->cb(s->ctx, s->out);
    if (rc)
        return rc;
    return s->limit_hit ? 2 : 0;
}

int flowsel_scan(flowsel_t *s, const char *dir, archive_batch_fn cb,
                 void *ctx, archive_scan_stats_t *st, diag_t *err)
{
    s->cb = cb;
    s->ctx = ctx;
    s->limit_hit = 0;
    if (s->limit == 0)
        return 0;
    int rc = archive_scan(dir, &s->pred, stored_fields(), ARCHIVE_SCAN_EXACT,
                          on_batch, s, st, err);
    if (rc == 1 && s->limit_hit)
        return 0;
    return rc;
}
