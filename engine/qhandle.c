/* qhandle.c - one registered query as one object; see qhandle.h. */
#include "engine/qhandle.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int qname_valid(const char *n)
{
    if (!n || !isalpha((unsigned char)n[0]))
        return 0;
    size_t len = strlen(n);
    if (len >= QNAME_MAX)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)n[i]) && n[i] != '_')
            return 0;
    return strncasecmp(n, "sqlite_", 7) != 0 &&
           strncasecmp(n, "flowsql_", 8) != 0 && strcasecmp(n, "flows") != 0;
}

int qname_norm(char out[QNAME_MAX], const char *name)
{
    size_t len = name ? strlen(name) : 0;
    if (len >= QNAME_MAX) {
        out[0] = 0;
        return -1;
    }
    for (size_t i = 0; i < len; i++)
        out[i] = (char)tolower((unsigned char)name[i]);
    out[len] = 0;
    return 0;
}

int qname_equal(const char *a, const char *b)
{
    return a && b && strcasecmp(a, b) == 0;
}

/* Everything REST, the store and the sinks read, taken from the plan
 * once, into the handle's own arena. */
static qhandle_t *handle_new(const char *name, plan_t *p)
{
    arena_t *a = arena_new();
    qhandle_t *h = arena_alloc(a, sizeof(*h));
    h->arena = a;
    ref_init(&h->refs, 1);
    atomic_init(&h->dropped, 0);
    h->plan = p;
    char n[QNAME_MAX];
    if (qname_norm(n, name) < 0)
        snprintf(n, sizeof(n), "%.*s", QNAME_MAX - 1, name);
    h->name = arena_strdup(a, n);
    h->text = p->text;
    sbuf_t b = SBUF_INIT;
    plan_explain(p, &b);
    h->explain = arena_strdup(a, sbuf_str(&b));
    sbuf_free(&b);
    h->ncols = p->ncols;
    h->cols = arena_alloc(a, sizeof(rowset_col_t) * (size_t)(p->ncols + 1));
    for (int i = 0; i < p->ncols; i++) {
        h->cols[i].name = p->cols[i].name;
        h->cols[i].type = p->cols[i].type;
        h->cols[i].is_key = p->cols[i].key >= 0;
    }
    h->nopts = p->nopts;
    h->opts = arena_alloc(a, sizeof(rowset_opt_t) * (size_t)(p->nopts + 1));
    for (int i = 0; i < p->nopts; i++) {
        h->opts[i].key = p->opts[i].key;
        h->opts[i].value = p->opts[i].value;
    }
    return h;
}

qhandle_t *qhandle_compile(const char *text, size_t len, int64_t max_groups,
                           diag_t *err)
{
    plan_t *p = plan_compile(text, len, max_groups, err);
    if (!p)
        return NULL;
    if (p->name && !qname_valid(p->name)) {
        diag_set(err, "invalid query name '%s': use letters, digits and '_', "
                 "starting with a letter, at most 63 characters; sqlite_*, "
                 "flowsql_* and flows are reserved", p->name);
        plan_free(p);
        return NULL;
    }
    return handle_new(p->name ? p->name : "query", p);
}

qhandle_t *qhandle_wrap(const char *name, plan_t *plan)
{
    return handle_new(name ? name : plan->name ? plan->name : "query", plan);
}

void qhandle_ref(qhandle_t *h)
{
    ref_get(&h->refs);
}

void qhandle_unref(qhandle_t *h)
{
    if (!h || !ref_put(&h->refs))
        return;
    plan_free(h->plan);
    arena_free(h->arena);
}

void qhandle_set_path(qhandle_t *h, const char *path)
{
    h->path = path ? arena_strdup(h->arena, path) : NULL;
}
