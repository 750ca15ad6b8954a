/*
 * qhandle.h - one registered query as one object: its name, the text
 * that recreates it, its plan, its result columns and options, and who
 * registered it. Compiled once; immutable once registered; shared by
 * reference count.
 *
 * Where a query used to live, and how each place named it (issue 14):
 *
 *   app.c      a list of app_query_t (name, text, source, path), strcmp
 *   engine.c   the registry of running query_t, strcmp
 *   store      the catalog (flowsql_queries/tables/windows, COLLATE
 *              NOCASE) and its in-memory entries, strcasecmp
 *   live.c     subscriptions and idle clocks by name, strcmp
 *   sinks      rs->query for topics, indexes and the template cache
 *
 * and the text was compiled three times per registration (the user's
 * text, the canonical text, again for the catalog's columns) and once
 * more on every GET of the query. So "Talkers" (quoted, SQL keeps its
 * case) passed the app and the engine while "talkers" ran, and the store,
 * comparing without case, replaced talkers' catalog entry: after a
 * restart talkers was gone.
 *
 * Now: the engine's registry owns the handles (engine_register_handle,
 * engine_get); the app keeps no list of its own; the store's catalog is
 * filled from the handle's columns and options; live subscribers follow
 * a handle; every closed window carries its query's handle (rs->qh) to
 * the store, the sinks and the subscribers. The text is compiled once per
 * registration; GET reads the handle.
 *
 * The one name rule: query names are SQL identifiers, compared without
 * case, and kept in lower case everywhere (registry, catalog, tables,
 * stream, topics): qname_norm() is the only place that folds a name.
 * A query in another case than a running one is the same query (409).
 *
 * Threads: a handle is built by one thread and not changed once
 * registered, except refs and the dropped flag; any thread may read it
 * while it holds a reference. The last qhandle_unref() frees the plan.
 */
#ifndef FLOWSQL_QHANDLE_H
#define FLOWSQL_QHANDLE_H

#include <stdint.h>

#include "engine/plan.h"
#include "engine/rowset.h"
#include "util/arena.h"
#include "util/counter.h"
#include "util/diag.h"

#define QNAME_MAX 64            /* 63 characters and the NUL */

typedef struct qhandle {
    refcount_t    refs;
    arena_t      *arena;       /* owns everything below but the plan */
    const char   *name;        /* lower case (qname_norm) */
    const char   *text;        /* the CREATE QUERY statement that runs and
                                  is stored */
    plan_t       *plan;        /* compiled from text, once */
    const char   *explain;     /* EXPLAIN of plan */
    rowset_col_t *cols;        /* result columns, as rowsets carry them */
    int           ncols;
    rowset_opt_t *opts;        /* WITH options */
    int           nopts;
    /* Who registered it: set before engine_register_handle(), read-only
     * after (the engine does not look at them). */
    int           origin;
    const char   *path;
    int64_t       created_ms;
    flag_t        dropped;     /* set by engine_drop(): its windows still
                                  queued and its subscribers are stale */
} qhandle_t;

/* Compile text (a CREATE QUERY statement, or any statement the engine
 * can run) into a new handle with one reference. NULL and err set when it
 * does not compile. */
qhandle_t *qhandle_compile(const char *text, size_t len, int64_t max_groups,
                           diag_t *err);

/* A handle for a plan already compiled (tests, replays): takes the plan;
 * name is folded (NULL: the plan's CREATE QUERY name, else "query"). */
qhandle_t *qhandle_wrap(const char *name, plan_t *plan);

void qhandle_ref(qhandle_t *h);
void qhandle_unref(qhandle_t *h);      /* NULL is fine */
void qhandle_set_path(qhandle_t *h, const char *path);

/* The query-name rule of the language: [A-Za-z][A-Za-z0-9_]{0,62}, not
 * sqlite_*, flowsql_* or flows (in any case). */
int  qname_valid(const char *name);
/* name in lower case into out (QNAME_MAX bytes); -1 if it does not fit. */
int  qname_norm(char out[QNAME_MAX], const char *name);
/* Do two names name the same query? */
int  qname_equal(const char *a, const char *b);

#endif
