/* ast.c - comparing and printing expressions; see ast.h. */
#include "parser/ast.h"
#include "engine/func.h"
#include "engine/schema.h"
#include "util/timeutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *ast_op_text(ast_op_t op)
{
    switch (op) {
    case OP_NEG: return "-";
    case OP_NOT: return "NOT";
    case OP_BITNOT: return "~";
    case OP_ADD: return "+";
    case OP_SUB: return "-";
    case OP_MUL: return "*";
    case OP_DIV: return "/";
    case OP_MOD: return "%";
    case OP_BITAND: return "&";
    case OP_BITOR: return "|";
    case OP_EQ: return "=";
    case OP_NE: return "!=";
    case OP_LT: return "<";
    case OP_LE: return "<=";
    case OP_GT: return ">";
    case OP_GE: return ">=";
    case OP_AND: return "AND";
    case OP_OR: return "OR";
    case OP_LIKE: return "LIKE";
    case OP_NOT_LIKE: return "NOT LIKE";
    case OP_NONE: break;
    }
    return "?";
}

int ast_has_agg(const ast_t *x)
{
    if (!x)
        return 0;
    if (x->kind == A_FUNC && x->is_agg)
        return 1;
    if (ast_has_agg(x->a) || ast_has_agg(x->b) || ast_has_agg(x->c))
        return 1;
    for (int i = 0; i < x->nlist; i++)
        if (ast_has_agg(x->list[i]))
            return 1;
    return 0;
}

int ast_equal(const ast_t *x, const ast_t *y)
{
    if (x == y)
        return 1;
    if (!x || !y || x->kind != y->kind || x->op != y->op ||
        x->nlist != y->nlist || x->distinct != y->distinct ||
        x->negated != y->negated)
        return 0;
    switch (x->kind) {
    case A_INT: case A_BOOL: case A_DURATION:
        if (x->v.i != y->v.i)
            return 0;
        break;
    case A_FLOAT:
        if (x->v.f != y->v.f)
            return 0;
        break;
    case A_STRING:
        if (strcmp(x->v.s, y->v.s) != 0)
            return 0;
        break;
    case A_IP:
    case A_CIDR:
        if (ipaddr_cmp(&x->v.ip, &y->v.ip) != 0 || x->prefix != y->prefix)
            return 0;
        break;
    case A_COLUMN:
        if (x->field >= 0 || y->field >= 0) {
            if (x->field != y->field)
                return 0;
        } else if (strcmp(x->name, y->name) != 0) {
            return 0;
        }
        break;
    case A_FUNC:
        if (strcmp(x->name, y->name) != 0)
            return 0;
        break;
    case A_IN:
        if ((x->name || y->name) &&
            (!x->name || !y->name || strcmp(x->name, y->name) != 0))
            return 0;
        break;
    case A_GROUPREF:
    case A_AGGREF:
        if (x->ref != y->ref)
            return 0;
        break;
    default:
        break;
    }
    if (!ast_equal(x->a, y->a) || !ast_equal(x->b, y->b) ||
        !ast_equal(x->c, y->c))
        return 0;
    for (int i = 0; i < x->nlist; i++)
        if (!ast_equal(x->list[i], y->list[i]))
            return 0;
    return 1;
}

/* Binding strength, for printing the fewest parentheses. */
static int prec(const ast_t *x)
{
    if (x->kind == A_BINARY) {
        switch (x->op) {
        case OP_OR: return 1;
        case OP_AND: return 2;
        case OP_EQ: case OP_NE: case OP_LT: case OP_LE: case OP_GT:
        case OP_GE: case OP_LIKE: case OP_NOT_LIKE: return 5;
        case OP_BITOR: return 6;
        case OP_BITAND: return 7;
        case OP_ADD: case OP_SUB: return 8;
        default: return 9;
        }
    }
    if (x->kind == A_UNARY)
        return x->op == OP_NOT ? 3 : 10;
    if (x->kind == A_IN || x->kind == A_BETWEEN)
        return 4;
    return 11;
}

static void print_sub(sbuf_t *b, const ast_t *x, int min_prec,
                      const char *const *g, const char *const *ag)
{
    if (prec(x) < min_prec) {
        sbuf_addc(b, '(');
        ast_print(b, x, g, ag);
        sbuf_addc(b, ')');
    } else {
        ast_print(b, x, g, ag);
    }
}

void ast_print(sbuf_t *b, const ast_t *x, const char *const *g,
               const char *const *ag)
{
    char buf[64];
    switch (x->kind) {
    case A_INT:
        if (x->type == TYPE_TIME) {
            sbuf_printf(b, "'%s'", time_format_iso(x->v.i, buf, sizeof(buf)));
            return;
        }
        sbuf_printf(b, "%lld", (long long)x->v.i);
        return;
    case A_FLOAT: {
        /* The shortest text that reads back as the same double, and
         * that still looks like a float: 2.0 stays 2.0, not 2 (which
         * would be an integer, with integer division). */
        for (int digits = 15; digits <= 17; digits++) {
            snprintf(buf, sizeof(buf), "%.*g", digits, x->v.f);
            if (strtod(buf, NULL) == x->v.f)
                break;
        }
        sbuf_add(b, buf);
        if (!strpbrk(buf, ".eEn"))
            sbuf_add(b, ".0");
        return;
    }
    case A_STRING:
        sbuf_addc(b, '\'');
        for (const char *p = x->v.s; *p; p++) {
            if (*p == '\'')
                sbuf_addc(b, '\'');
            sbuf_addc(b, *p);
        }
        sbuf_addc(b, '\'');
        return;
    case A_BOOL:
        sbuf_add(b, x->v.i ? "TRUE" : "FALSE");
        return;
    case A_IP:
        sbuf_add(b, ipaddr_format(&x->v.ip, buf, sizeof(buf)));
        return;
    case A_CIDR:
        sbuf_add(b, ipaddr_format(&x->v.ip, buf, sizeof(buf)));
        sbuf_printf(b, "/%d", ipaddr_is_v4(&x->v.ip) ? x->prefix - 96
                                                      : x->prefix);
        return;
    case A_DURATION:
        sbuf_add(b, duration_format(x->v.i, buf, sizeof(buf)));
        return;
    case A_COLUMN:
        sbuf_add(b, x->field >= 0 ? schema_fields[x->field].name : x->name);
        return;
    case A_STAR:
        sbuf_addc(b, '*');
        return;
    case A_GROUPREF:
        if (g)
            sbuf_add(b, g[x->ref]);
        else
            sbuf_printf(b, "#key%d", x->ref + 1);
        return;
    case A_AGGREF:
        if (ag)
            sbuf_add(b, ag[x->ref]);
        else
            sbuf_printf(b, "#agg%d", x->ref + 1);
        return;
    case A_UNARY:
        sbuf_add(b, ast_op_text(x->op));
        /* "- -x", never "--x": that would start a comment */
        if (x->op == OP_NOT ||
            (x->op == OP_NEG &&
             ((x->a->kind == A_UNARY && x->a->op == OP_NEG) ||
              (x->a->kind == A_INT && x->a->v.i < 0) ||
              (x->a->kind == A_FLOAT && signbit(x->a->v.f)))))
            sbuf_addc(b, ' ');
        print_sub(b, x->a, prec(x), g, ag);
        return;
    case A_BINARY:
        /* Comparisons do not chain (a = b = c is a syntax error), so a
         * comparison on their left gets parentheses too. */
        print_sub(b, x->a, prec(x) == 5 ? 6 : prec(x), g, ag);
        sbuf_printf(b, " %s ", ast_op_text(x->op));
        print_sub(b, x->b, prec(x) + 1, g, ag);
        return;
    case A_FUNC:
        sbuf_printf(b, "%s(", x->name);
        if (x->distinct)
            sbuf_add(b, "DISTINCT ");
        for (int i = 0; i < x->nlist; i++) {
            if (i)
                sbuf_add(b, ", ");
            ast_print(b, x->list[i], g, ag);
        }
        sbuf_addc(b, ')');
        return;
    case A_CASE:
        sbuf_add(b, "CASE");
        if (x->a) {
            sbuf_addc(b, ' ');
            ast_print(b, x->a, g, ag);
        }
        for (int i = 0; i + 1 < x->nlist; i += 2) {
            sbuf_add(b, " WHEN ");
            ast_print(b, x->list[i], g, ag);
            sbuf_add(b, " THEN ");
            ast_print(b, x->list[i + 1], g, ag);
        }
        if (x->b) {
            sbuf_add(b, " ELSE ");
            ast_print(b, x->b, g, ag);
        }
        sbuf_add(b, " END");
        return;
    case A_IN:
        print_sub(b, x->a, prec(x) + 1, g, ag);
        sbuf_add(b, x->negated ? " NOT IN " : " IN ");
        if (x->name) {           /* a network set */
            sbuf_add(b, x->name);
            return;
        }
        if (x->c) {
            ast_print(b, x->c, g, ag);
            return;
        }
        sbuf_addc(b, '(');
        for (int i = 0; i < x->nlist; i++) {
            if (i)
                sbuf_add(b, ", ");
            ast_print(b, x->list[i], g, ag);
        }
        sbuf_addc(b, ')');
        return;
    case A_BETWEEN:
        print_sub(b, x->a, prec(x) + 1, g, ag);
        sbuf_add(b, x->negated ? " NOT BETWEEN " : " BETWEEN ");
        print_sub(b, x->b, prec(x) + 1, g, ag);
        sbuf_add(b, " AND ");
        print_sub(b, x->c, prec(x) + 1, g, ag);
        return;
    }
}
