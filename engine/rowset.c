/* rowset.c - closed-window result rows; see rowset.h. */
#include "engine/rowset.h"
#include "engine/qhandle.h"
#include "engine/mem.h"

#include <stdlib.h>
#include <string.h>

rowset_t *rowset_new(const char *query, int ncols)
{
    arena_t *a = arena_new();
    rowset_t *rs = arena_alloc(a, sizeof(*rs));
    rs->arena = a;
    ref_init(&rs->refs, 1);
    rs->query = arena_strdup(a, query);
    rs->ncols = ncols;
    rs->cols = arena_alloc(a, sizeof(rowset_col_t) * (size_t)(ncols ? ncols : 1));
    return rs;
}

void rowset_ref(rowset_t *rs)
{
    ref_get(&rs->refs);
}

void rowset_unref(rowset_t *rs)
{
    if (!rs)
        return;
    if (ref_put(&rs->refs)) {
        qhandle_unref(rs->qh);
        mem_give(NULL, (size_t)rs->mem_bytes);
        free(rs->cells);
        arena_free(rs->arena);
    }
}

value_t *rowset_add_row(rowset_t *rs)
{
    if (rs->nrows == rs->cap) {
        rs->cap = rs->cap ? rs->cap * 2 : 64;
        rs->cells = xrealloc(rs->cells, sizeof(value_t) * (size_t)rs->cap *
                                            (size_t)(rs->ncols ? rs->ncols : 1));
    }
    value_t *row = rs->cells + (size_t)rs->nrows * (size_t)rs->ncols;
    memset(row, 0, sizeof(value_t) * (size_t)rs->ncols);
    rs->nrows++;
    return row;
}

const char *rowset_strdup(rowset_t *rs, const char *s)
{
    return arena_strdup(rs->arena, s ? s : "");
}

const char *rowset_opt(const rowset_t *rs, const char *key)
{
    for (int i = 0; i < rs->nopts; i++)
        if (strcmp(rs->opts[i].key, key) == 0)
            return rs->opts[i].value;
    return NULL;
}
