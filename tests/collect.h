/*
 * collect.h - an output that keeps every rowset it is given, for tests.
 */
#ifndef FLOWSQL_TEST_COLLECT_H
#define FLOWSQL_TEST_COLLECT_H

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "engine/rowset.h"
#include "util/sbuf.h"
#include "util/timeutil.h"

typedef struct collect {
    output_t        out;
    pthread_mutex_t lock;
    rowset_t      **rs;
    int             n, cap;
} collect_t;

static void collect_on_window(output_t *o, rowset_t *rs)
{
    collect_t *c = o->ctx;
    pthread_mutex_lock(&c->lock);
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 16;
        c->rs = realloc(c->rs, sizeof(rowset_t *) * (size_t)c->cap);
    }
    rowset_ref(rs);
    c->rs[c->n++] = rs;
    pthread_mutex_unlock(&c->lock);
}

static inline void collect_init(collect_t *c)
{
    memset(c, 0, sizeof(*c));
    pthread_mutex_init(&c->lock, NULL);
    c->out.name = "collect";
    c->out.on_window = collect_on_window;
    c->out.ctx = c;
}

static inline void collect_reset(collect_t *c)
{
    for (int i = 0; i < c->n; i++)
        rowset_unref(c->rs[i]);
    c->n = 0;
}

static inline void collect_free(collect_t *c)
{
    collect_reset(c);
    free(c->rs);
    pthread_mutex_destroy(&c->lock);
}

/* One value as text, the way tests compare them. */
static inline void value_text(sbuf_t *b, const value_t *v, type_t t)
{
    char buf[64];
    switch (t) {
    case TYPE_IP:
        sbuf_add(b, ipaddr_format(&v->ip, buf, sizeof(buf)));
        break;
    case TYPE_FLOAT:
        sbuf_printf(b, "%.6f", v->f);
        break;
    case TYPE_STRING:
        sbuf_add(b, v->s);
        break;
    default:
        sbuf_printf(b, "%lld", (long long)v->i);
    }
}

/* Every window of a collection as text: "[start,end) a|b|c;d|e|f\n". */
static inline char *collect_text(collect_t *c, const char *query)
{
    sbuf_t b = SBUF_INIT;
    for (int i = 0; i < c->n; i++) {
        rowset_t *rs = c->rs[i];
        if (query && strcmp(rs->query, query) != 0)
            continue;
        sbuf_printf(&b, "[%lld,%lld)", (long long)rs->wstart,
                    (long long)rs->wend);
        for (uint32_t r = 0; r < rs->nrows; r++) {
            sbuf_addc(&b, r ? ';' : ' ');
            for (int k = 0; k < rs->ncols; k++) {
                if (k)
                    sbuf_addc(&b, '|');
                value_text(&b, &rowset_row(rs, r)[k], rs->cols[k].type);
            }
        }
        sbuf_addc(&b, '\n');
    }
    return sbuf_detach(&b);
}

#endif
