/*
 * expr.h - expressions compiled once into a small vector program.
 *
 * At registration each expression tree becomes a flat list of ops over
 * registers; each register holds one value per row of a batch (8-byte
 * lanes for int/float/bool/time/string, 16-byte lanes for addresses).
 * Evaluation runs each op as one tight loop over the selected rows, so a
 * batch of 2048 flows costs a handful of loops, not 2048 tree walks.
 *
 * Leaves read "input slots": for expressions over flows, slot = field id
 * and the caller binds each slot to the batch's column (no copy); above
 * the aggregate, slots are the group keys then the aggregate results,
 * bound to arrays the caller fills for a chunk of groups.
 *
 * Semantics shared by WHERE, keys, HAVING and the select list, with no
 * NULL anywhere: integer overflow saturates (and is counted), division or
 * modulo by zero gives 0, strings are interned so equal text is an equal
 * pointer. An expr_t is used by one thread at a time.
 */
#ifndef FLOWSQL_EXPR_H
#define FLOWSQL_EXPR_H

#include <stddef.h>
#include <stdint.h>

#include "parser/ast.h"
#include "engine/flow.h"

typedef struct expr expr_t;

enum expr_space {
    EXPR_FLOWS,     /* leaves are fields of flow_batch_t */
    EXPR_GROUPS,    /* leaves are A_GROUPREF / A_AGGREF */
};

/* Compile an expression. For EXPR_GROUPS, key_types[nkeys] and
 * agg_types[naggs] give the lane types of the slots. Never fails on a
 * checked tree (sema_check ran). */
expr_t *expr_compile(const ast_t *x, int space, const type_t *key_types,
                     int nkeys, const type_t *agg_types, int naggs);
void    expr_free(expr_t *x);

type_t  expr_type(const expr_t *x);
/* Bytes the compiled program holds (its registers: a batch of lanes
 * each); 0 for NULL. */
size_t  expr_bytes(const expr_t *x);

/* Bind the input slots for the next evaluations: flows from a batch. */
void    expr_bind_batch(expr_t *x, const flow_batch_t *b);
/* Bind slot i to lanes[i] (EXPR_GROUPS): keys first, then aggregates. */
void    expr_bind_slots(expr_t *x, void *const *lanes);

/* Evaluate over rows sel[0..n). Returns the lanes of the result, indexed
 * by row number (int64_t*, double*, const char**, or ipaddr_t*), valid
 * until the next evaluation or binding. */
const void *expr_eval(expr_t *x, const uint32_t *sel, uint32_t n);

/* Integer overflows met so far (saturated results). */
uint64_t expr_overflows(const expr_t *x);

/* Keep the rows of sel whose boolean lanes are true; returns the count. */
uint32_t expr_filter(const int64_t *cond, const uint32_t *sel, uint32_t n,
                     uint32_t *out);

/* The canonical, immortal copy of a string: equal text, equal pointer.
 * Thread-safe. */
const char *str_intern(const char *s);
/* The same, but a text not yet interned is added only while the table
 * holds fewer than max strings (0: no bound); NULL when it is full. */
const char *str_intern_max(const char *s, size_t max);
/* Distinct strings interned so far. */
size_t      str_intern_count(void);

#endif
