/*
 * expr.c - compiling expression trees into vector programs, and running
 * them; see expr.h.
 */
#include "engine/expr.h"
#include "engine/xfield.h"
#include "engine/func.h"
#include "engine/netset.h"
#include "engine/schema.h"
#include "util/arena.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- interned strings --------------------------------------------------- */

static pthread_mutex_t intern_lock = PTHREAD_MUTEX_INITIALIZER;
static const char    **intern_tab;
static size_t          intern_cap, intern_n;

static uint64_t str_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static void intern_put(const char *s)
{
    size_t i = str_hash(s) & (intern_cap - 1);
    while (intern_tab[i])
        i = (i + 1) & (intern_cap - 1);
    intern_tab[i] = s;
    intern_n++;
}

/* The interned copy of s; a new text is added only while the table has
 * fewer than max strings (0: no bound), else NULL. */
static const char *intern(const char *s, size_t max)
{
    pthread_mutex_lock(&intern_lock);
    if (intern_n * 2 >= intern_cap) {
        const char **old = intern_tab;
        size_t oldcap = intern_cap;
        intern_cap = oldcap ? oldcap * 2 : 1024;
        intern_tab = xcalloc(intern_cap, sizeof(char *));
        intern_n = 0;
        for (size_t i = 0; i < oldcap; i++)
            if (old[i])
                intern_put(old[i]);
        free(old);
    }
    size_t i = str_hash(s) & (intern_cap - 1);
    while (intern_tab[i]) {
        if (strcmp(intern_tab[i], s) == 0) {
            const char *r = intern_tab[i];
            pthread_mutex_unlock(&intern_lock);
            return r;
        }
        i = (i + 1) & (intern_cap - 1);
    }
    if (max && intern_n >= max) {
        pthread_mutex_unlock(&intern_lock);
        return NULL;
    }
    const char *copy = xstrdup(s);
    intern_put(copy);
    pthread_mutex_unlock(&intern_lock);
    return copy;
}

const char *str_intern(const char *s)
{
    return intern(s, 0);
}

const char *str_intern_max(const char *s, size_t max)
{
    return intern(s, max);
}

size_t str_intern_count(void)
{
    pthread_mutex_lock(&intern_lock);
    size_t n = intern_n;
    pthread_mutex_unlock(&intern_lock);
    return n;
}

/* SQL LIKE: '%' any run of bytes, '_' any one byte, the rest itself
 * (case-sensitive, no escape character). Iterative with one backtrack
 * point, so no pattern is exponential. */
static int like_match(const char *p, const char *s)
{
    const char *star = NULL, *retry = NULL;
    while (*s) {
        if (*p == '%') {
            star = ++p;
            retry = s;
        } else if (*p && (*p == '_' || *p == *s)) {
            p++;
            s++;
        } else if (star) {
            p = star;
            s = ++retry;
        } else {
            return 0;
        }
    }
    while (*p == '%')
        p++;
    return *p == 0;
}

/* The interned lower-case form of an interned string: the same pointer
 * when it has no upper-case letter; within --string-table-max (past it,
 * '(other)', counted like the decoder's strings). */
static const char *str_lower(const char *s)
{
    const char *u = s;
    while (*u && !(*u >= 'A' && *u <= 'Z'))
        u++;
    if (!*u)
        return s;
    char buf[512];
    size_t n = strlen(s);
    char *t = n < sizeof(buf) ? buf : xmalloc(n + 1);
    for (size_t i = 0; i <= n; i++)
        t[i] = s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] + 32) : s[i];
    const char *r = xfield_intern_text(t);
    if (t != buf)
        free(t);
    return r;
}

/* Names of protocols and flag combinations, for proto_name() and
 * tcpflags_str(): 256 interned strings each, made once. */
static const char *proto_names[256], *flag_names[256];
static pthread_once_t names_once = PTHREAD_ONCE_INIT;

static void names_init(void)
{
    char buf[16];
    for (int i = 0; i < 256; i++) {
        const char *n = proto_name(i);
        if (!n) {
            snprintf(buf, sizeof(buf), "%d", i);
            n = buf;
        }
        proto_names[i] = str_intern(n);
        flag_names[i] = str_intern(tcpflags_format(i, buf, sizeof(buf)));
    }
}

/* ---- programs ------------------------------------------------------------ */

enum opcode {
    O_IADD, O_ISUB, O_IMUL, O_IDIV, O_IMOD, O_INEG, O_IBAND, O_IBOR,
    O_IBNOT, O_IABS,
    O_FADD, O_FSUB, O_FMUL, O_FDIV, O_FNEG, O_FABS, O_I2F, O_FROUND,
    O_IEQ, O_INE, O_ILT, O_ILE, O_IGT, O_IGE,
    O_FEQ, O_FNE, O_FLT, O_FLE, O_FGT, O_FGE,
    O_PEQ, O_PNE, O_PLT, O_PLE, O_PGT, O_PGE,   /* addresses */
    O_SEQ, O_SNE, O_SLT, O_SLE, O_SGT, O_SGE,   /* strings */
    O_AND, O_OR, O_NOT,
    O_SEL8, O_SEL16,                            /* dst = c ? a : b */
    O_IN_I, O_IN_F, O_IN_S, O_IN_IP,
    O_NETWORK, O_HASFLAGS, O_PROTONAME, O_FLAGSSTR, O_FAMILY,
    O_ILEAST, O_IGREATEST, O_FLEAST, O_FGREATEST, O_PLEAST, O_PGREATEST,
    O_SLEAST, O_SGREATEST, O_TFLOOR,
    O_LIKE, O_LOWER,
};

typedef struct xreg {
    int    wide;
    void  *data;     /* lanes in use: own, or bound to an input */
    void  *own;      /* FLOW_BATCH_MAX lanes owned by the register */
    int    slot;     /* input slot, or -1 */
} xreg_t;

typedef struct inset {
    int       n;
    int64_t  *ints;     /* sorted */
    double   *floats;
    const char **strs;
    netmatch_t *match;  /* addresses: the networks (netset.h) */
    char     *name;     /* a named set's: its matcher follows reloads */
    uint64_t  gen;      /* netset_generation() when match was taken */
} inset_t;

/* A named set's networks changed (a file reloaded): take the new ones. */
static void inset_refresh(inset_t *s)
{
    uint64_t g = netset_generation();
    if (g == s->gen)
        return;
    netmatch_t *m = netset_match(s->name);
    if (m) {
        netmatch_unref(s->match);
        s->match = m;
    }
    s->gen = g;
}

typedef struct xop {
    int      code;
    int      dst, a, b, c;
    int64_t  k;          /* IN: negated; TFLOOR: unit */
    inset_t *set;
} xop_t;

struct expr {
    xop_t   *ops;
    int      nops, opcap;
    xreg_t  *regs;
    int      nregs, regcap;
    int      result;
    type_t   type;
    int      space;
    const type_t *key_types;
    int      nkeys;
    const type_t *agg_types;
    int      naggs;
    uint64_t overflows;
};

static int new_reg(expr_t *x, int wide, int slot)
{
    if (x->nregs == x->regcap) {
        x->regcap = x->regcap ? x->regcap * 2 : 8;
        x->regs = xrealloc(x->regs, sizeof(xreg_t) * (size_t)x->regcap);
    }
    xreg_t *r = &x->regs[x->nregs];
    r->wide = wide;
    r->slot = slot;
    r->own = slot < 0 ? xcalloc(FLOW_BATCH_MAX, wide ? 16 : 8) : NULL;
    r->data = r->own;
    return x->nregs++;
}

static int emit(expr_t *x, int code, int a, int b, int c, int wide)
{
    if (x->nops == x->opcap) {
        x->opcap = x->opcap ? x->opcap * 2 : 8;
        x->ops = xrealloc(x->ops, sizeof(xop_t) * (size_t)x->opcap);
    }
    int dst = new_reg(x, wide, -1);
    xop_t *o = &x->ops[x->nops++];
    memset(o, 0, sizeof(*o));
    o->code = code;
    o->dst = dst;
    o->a = a;
    o->b = b;
    o->c = c;
    return dst;
}

static xop_t *last_op(expr_t *x) { return &x->ops[x->nops - 1]; }

static int const_reg(expr_t *x, const value_t *v, int wide)
{
    int r = new_reg(x, wide, -1);
    if (wide) {
        ipaddr_t *d = x->regs[r].own;
        for (int i = 0; i < FLOW_BATCH_MAX; i++)
            d[i] = v->ip;
    } else {
        int64_t *d = x->regs[r].own;
        for (int i = 0; i < FLOW_BATCH_MAX; i++)
            memcpy(&d[i], v, 8);
    }
    return r;
}

static int const_int(expr_t *x, int64_t i)
{
    value_t v = {.i = i};
    return const_reg(x, &v, 0);
}

static int to_float(expr_t *x, int r, type_t t)
{
    if (t == TYPE_FLOAT)
        return r;
    return emit(x, O_I2F, r, -1, -1, 0);
}

static int cmp_base(type_t t)
{
    if (t == TYPE_FLOAT) return O_FEQ;
    if (t == TYPE_IP) return O_PEQ;
    if (t == TYPE_STRING) return O_SEQ;
    return O_IEQ;
}

static int cmp_offset(ast_op_t op)
{
    switch (op) {
    case OP_EQ: return 0;
    case OP_NE: return 1;
    case OP_LT: return 2;
    case OP_LE: return 3;
    case OP_GT: return 4;
    default:    return 5;
    }
}

static int compile(expr_t *x, const ast_t *n);

/* Compile a comparison of two subtrees, converting to a common lane. */
static int compile_cmp(expr_t *x, ast_op_t op, const ast_t *l, const ast_t *r)
{
    int a = compile(x, l), b = compile(x, r);
    type_t t = l->type;
    if (l->type == TYPE_FLOAT || r->type == TYPE_FLOAT) {
        a = to_float(x, a, l->type);
        b = to_float(x, b, r->type);
        t = TYPE_FLOAT;
    }
    return emit(x, cmp_base(t) + cmp_offset(op), a, b, -1, 0);
}

static int cmp_i64(const void *p, const void *q)
{
    int64_t a = *(const int64_t *)p, b = *(const int64_t *)q;
    return a < b ? -1 : a > b;
}

static int compile_in(expr_t *x, const ast_t *n)
{
    int a = compile(x, n->a);
    inset_t *s = xcalloc(1, sizeof(*s));
    int code;
    const ast_t *const *items = (const ast_t *const *)n->list;
    int cnt = n->nlist;
    const ast_t *single[1];
    if (n->c) {
        single[0] = n->c;
        items = single;
        cnt = 1;
    }
    s->n = cnt;
    type_t t = n->a->type;
    int any_float = t == TYPE_FLOAT;
    for (int i = 0; i < cnt; i++)
        any_float |= items[i]->type == TYPE_FLOAT;
    if (t == TYPE_IP && n->name) {
        code = O_IN_IP;      /* a named set, checked by sema */
        s->name = xstrdup(n->name);
        s->gen = netset_generation();
        s->match = netset_match(n->name);
        if (!s->match)
            s->match = netmatch_new(NULL, NULL, 0);
    } else if (t == TYPE_IP) {
        code = O_IN_IP;
        ipaddr_t *nets = xcalloc((size_t)cnt + 1, sizeof(ipaddr_t));
        int *bits = xcalloc((size_t)cnt + 1, sizeof(int));
        for (int i = 0; i < cnt; i++) {
            nets[i] = items[i]->v.ip;
            bits[i] = items[i]->kind == A_CIDR ? items[i]->prefix : 128;
        }
        s->match = netmatch_new(nets, bits, (size_t)cnt);
        free(nets);
        free(bits);
    } else if (t == TYPE_STRING) {
        code = O_IN_S;
        s->strs = xcalloc((size_t)cnt, sizeof(char *));
        for (int i = 0; i < cnt; i++)
            s->strs[i] = str_intern(items[i]->v.s);
    } else if (any_float) {
        code = O_IN_F;
        a = to_float(x, a, t);
        s->floats = xcalloc((size_t)cnt, sizeof(double));
        for (int i = 0; i < cnt; i++)
            s->floats[i] = items[i]->type == TYPE_FLOAT ? items[i]->v.f
                                                        : (double)items[i]->v.i;
    } else {
        code = O_IN_I;
        s->ints = xcalloc((size_t)cnt, sizeof(int64_t));
        for (int i = 0; i < cnt; i++)
            s->ints[i] = items[i]->v.i;
        qsort(s->ints, (size_t)cnt, sizeof(int64_t), cmp_i64);
    }
    int r = emit(x, code, a, -1, -1, 0);
    last_op(x)->set = s;
    last_op(x)->k = n->negated;
    return r;
}

/* least/greatest fold pairwise. */
static int compile_extreme(expr_t *x, const ast_t *n, int greatest)
{
    type_t t = n->type;
    int acc = -1;
    for (int i = 0; i < n->nlist; i++) {
        int r = compile(x, n->list[i]);
        if (t == TYPE_FLOAT)
            r = to_float(x, r, n->list[i]->type);
        if (acc < 0) {
            acc = r;
            continue;
        }
        int code = t == TYPE_FLOAT ? (greatest ? O_FGREATEST : O_FLEAST)
                 : t == TYPE_IP ? (greatest ? O_PGREATEST : O_PLEAST)
                 : t == TYPE_STRING ? (greatest ? O_SGREATEST : O_SLEAST)
                 : (greatest ? O_IGREATEST : O_ILEAST);
        acc = emit(x, code, acc, r, -1, t == TYPE_IP);
    }
    return acc;
}

static int compile_func(expr_t *x, const ast_t *n)
{
    const ast_t *a0 = n->nlist > 0 ? n->list[0] : NULL;
    const ast_t *a1 = n->nlist > 1 ? n->list[1] : NULL;
    switch (n->fn) {
    case FN_NETWORK:
        return emit(x, O_NETWORK, compile(x, a0), compile(x, a1), -1, 1);
    case FN_HAS_FLAGS:
        return emit(x, O_HASFLAGS, compile(x, a0), compile(x, a1), -1, 0);
    case FN_PROTO_NAME:
        return emit(x, O_PROTONAME, compile(x, a0), -1, -1, 0);
    case FN_FLAGS_STR:
        return emit(x, O_FLAGSSTR, compile(x, a0), -1, -1, 0);
    case FN_FAMILY:
        return emit(x, O_FAMILY, compile(x, a0), -1, -1, 0);
    case FN_LOWER:
        return emit(x, O_LOWER, compile(x, a0), -1, -1, 0);
    case FN_ABS:
        return emit(x, a0->type == TYPE_FLOAT ? O_FABS : O_IABS,
                    compile(x, a0), -1, -1, 0);
    case FN_ROUND:
        if (a0->type != TYPE_FLOAT)
            return compile(x, a0);
        return emit(x, O_FROUND, compile(x, a0), -1, -1, 0);
    case FN_LEAST:
        return compile_extreme(x, n, 0);
    case FN_GREATEST:
        return compile_extreme(x, n, 1);
    case FN_TIME_FLOOR: {
        int r = emit(x, O_TFLOOR, compile(x, a0), -1, -1, 0);
        last_op(x)->k = a1->v.i;
        return r;
    }
    case FN_IP_IN: {
        inset_t *s = xcalloc(1, sizeof(*s));
        s->n = 1;
        int bits = a1->kind == A_CIDR ? a1->prefix : 128;
        s->match = netmatch_new(&a1->v.ip, &bits, 1);
        int r = emit(x, O_IN_IP, compile(x, a0), -1, -1, 0);
        last_op(x)->set = s;
        return r;
    }
    }
    /* Aggregates never reach here: the planner lifted them. */
    fprintf(stderr, "expr: function %s cannot be compiled\n", n->name);
    abort();
}

static int compile(expr_t *x, const ast_t *n)
{
    value_t v;
    switch (n->kind) {
    case A_INT:
    case A_BOOL:
    case A_DURATION:
        return const_int(x, n->v.i);
    case A_FLOAT:
        v.f = n->v.f;
        return const_reg(x, &v, 0);
    case A_STRING:
        v.s = str_intern(n->v.s);
        return const_reg(x, &v, 0);
    case A_IP:
    case A_CIDR:
        v.ip = n->v.ip;
        return const_reg(x, &v, 1);
    case A_COLUMN:
        if (n->field == F_DURATION) {
            int e = new_reg(x, 0, F_END), s = new_reg(x, 0, F_START);
            return emit(x, O_ISUB, e, s, -1, 0);
        }
        if (n->field == F_FAMILY)
            return emit(x, O_FAMILY, new_reg(x, 1, F_SRCIP), -1, -1, 0);
        return new_reg(x, schema_fields[n->field].type == TYPE_IP, n->field);
    case A_GROUPREF:
        return new_reg(x, type_is_wide(x->key_types[n->ref]), n->ref);
    case A_AGGREF:
        return new_reg(x, type_is_wide(x->agg_types[n->ref]),
                       x->nkeys + n->ref);
    case A_UNARY: {
        int a = compile(x, n->a);
        if (n->op == OP_NOT)
            return emit(x, O_NOT, a, -1, -1, 0);
        if (n->op == OP_BITNOT)
            return emit(x, O_IBNOT, a, -1, -1, 0);
        return emit(x, n->a->type == TYPE_FLOAT ? O_FNEG : O_INEG, a, -1, -1, 0);
    }
    case A_BINARY: {
        switch (n->op) {
        case OP_EQ: case OP_NE: case OP_LT: case OP_LE: case OP_GT:
        case OP_GE:
            return compile_cmp(x, n->op, n->a, n->b);
        case OP_AND:
            return emit(x, O_AND, compile(x, n->a), compile(x, n->b), -1, 0);
        case OP_OR:
            return emit(x, O_OR, compile(x, n->a), compile(x, n->b), -1, 0);
        case OP_LIKE:
        case OP_NOT_LIKE: {
            inset_t *s = xcalloc(1, sizeof(*s));
            s->n = 1;
            s->strs = xcalloc(1, sizeof(char *));
            s->strs[0] = str_intern(n->b->v.s);
            int r = emit(x, O_LIKE, compile(x, n->a), -1, -1, 0);
            last_op(x)->set = s;
            last_op(x)->k = n->op == OP_NOT_LIKE;
            return r;
        }
        default:
            break;
        }
        int a = compile(x, n->a), b = compile(x, n->b);
        if (n->type == TYPE_FLOAT) {
            a = to_float(x, a, n->a->type);
            b = to_float(x, b, n->b->type);
            static const int fops[] = {[OP_ADD] = O_FADD, [OP_SUB] = O_FSUB,
                                       [OP_MUL] = O_FMUL, [OP_DIV] = O_FDIV};
            return emit(x, fops[n->op], a, b, -1, 0);
        }
        static const int iops[] = {[OP_ADD] = O_IADD, [OP_SUB] = O_ISUB,
                                   [OP_MUL] = O_IMUL, [OP_DIV] = O_IDIV,
                                   [OP_MOD] = O_IMOD, [OP_BITAND] = O_IBAND,
                                   [OP_BITOR] = O_IBOR};
        return emit(x, iops[n->op], a, b, -1, 0);
    }
    case A_FUNC:
        return compile_func(x, n);
    case A_CASE: {
        /* result = else; then from the last WHEN to the first:
         * result = cond ? then : result. Every branch is evaluated;
         * none has side effects or can fail. */
        int wide = type_is_wide(n->type);
        int res;
        if (n->b) {
            res = compile(x, n->b);
            if (n->type == TYPE_FLOAT)
                res = to_float(x, res, n->b->type);
        } else {
            memset(&v, 0, sizeof(v));
            if (n->type == TYPE_STRING)
                v.s = str_intern("");
            res = const_reg(x, &v, wide);
        }
        for (int i = n->nlist - 2; i >= 0; i -= 2) {
            int cond = n->a ? compile_cmp(x, OP_EQ, n->a, n->list[i])
                            : compile(x, n->list[i]);
            int then = compile(x, n->list[i + 1]);
            if (n->type == TYPE_FLOAT)
                then = to_float(x, then, n->list[i + 1]->type);
            res = emit(x, wide ? O_SEL16 : O_SEL8, then, res, cond, wide);
        }
        return res;
    }
    case A_IN:
        return compile_in(x, n);
    case A_BETWEEN: {
        int lo = compile_cmp(x, OP_GE, n->a, n->b);
        int hi = compile_cmp(x, OP_LE, n->a, n->c);
        int r = emit(x, O_AND, lo, hi, -1, 0);
        return n->negated ? emit(x, O_NOT, r, -1, -1, 0) : r;
    }
    case A_STAR:
        break;
    }
    fprintf(stderr, "expr: node kind %d cannot be compiled\n", n->kind);
    abort();
}

expr_t *expr_compile(const ast_t *n, int space, const type_t *key_types,
                     int nkeys, const type_t *agg_types, int naggs)
{
    pthread_once(&names_once, names_init);
    expr_t *x = xcalloc(1, sizeof(*x));
    x->space = space;
    x->key_types = key_types;
    x->nkeys = nkeys;
    x->agg_types = agg_types;
    x->naggs = naggs;
    x->type = n->type;
    x->result = compile(x, n);
    return x;
}

void expr_free(expr_t *x)
{
    if (!x)
        return;
    for (int i = 0; i < x->nregs; i++)
        free(x->regs[i].own);
    for (int i = 0; i < x->nops; i++) {
        inset_t *s = x->ops[i].set;
        if (s) {
            free(s->ints);
            free(s->floats);
            free(s->strs);
            netmatch_unref(s->match);
            free(s->name);
            free(s);
        }
    }
    free(x->regs);
    free(x->ops);
    free(x);
}

type_t expr_type(const expr_t *x) { return x->type; }

size_t expr_bytes(const expr_t *x)
{
    if (!x)
        return 0;
    size_t b = sizeof(*x) + (size_t)x->opcap * sizeof(xop_t) +
               (size_t)x->regcap * sizeof(xreg_t);
    for (int i = 0; i < x->nregs; i++)
        if (x->regs[i].own)
            b += (size_t)FLOW_BATCH_MAX * (x->regs[i].wide ? 16 : 8);
    for (int i = 0; i < x->nops; i++) {
        const inset_t *s = x->ops[i].set;
        if (s)     /* the networks of a set are shared: not counted */
            b += sizeof(*s) + (size_t)s->n * 8;
    }
    return b;
}
uint64_t expr_overflows(const expr_t *x) { return x->overflows; }

void expr_bind_batch(expr_t *x, const flow_batch_t *b)
{
    for (int i = 0; i < x->nregs; i++) {
        xreg_t *r = &x->regs[i];
        if (r->slot >= F_X0 && r->slot < F_COUNT &&
            !(b->xfilled >> (r->slot - F_X0) & 1))
            r->data = (void *)xfield_zero_column(r->slot - F_X0);
        else if (r->slot >= 0)
            r->data = (char *)b + schema_fields[r->slot].offset;
    }
}

void expr_bind_slots(expr_t *x, void *const *lanes)
{
    for (int i = 0; i < x->nregs; i++) {
        xreg_t *r = &x->regs[i];
        if (r->slot >= 0)
            r->data = lanes[r->slot];
    }
}

uint32_t expr_filter(const int64_t *cond, const uint32_t *sel, uint32_t n,
                     uint32_t *out)
{
    uint32_t m = 0;
    for (uint32_t k = 0; k < n; k++) {
        uint32_t i = sel[k];
        out[m] = i;
        m += cond[i] != 0;
    }
    return m;
}

/* ---- kernels ------------------------------------------------------------ */

static inline int64_t sat_add(int64_t a, int64_t b, uint64_t *ov)
{
    int64_t r;
    if (__builtin_add_overflow(a, b, &r)) {
        ++*ov;
        return a > 0 ? INT64_MAX : INT64_MIN;
    }
    return r;
}

static inline int64_t sat_sub(int64_t a, int64_t b, uint64_t *ov)
{
    int64_t r;
    if (__builtin_sub_overflow(a, b, &r)) {
        ++*ov;
        return a >= 0 ? INT64_MAX : INT64_MIN;
    }
    return r;
}

static inline int64_t sat_mul(int64_t a, int64_t b, uint64_t *ov)
{
    int64_t r;
    if (__builtin_mul_overflow(a, b, &r)) {
        ++*ov;
        return (a < 0) != (b < 0) ? INT64_MIN : INT64_MAX;
    }
    return r;
}

static int in_ints(const inset_t *s, int64_t v)
{
    int lo = 0, hi = s->n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (s->ints[mid] == v)
            return 1;
        if (s->ints[mid] < v)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return 0;
}

static inline int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

#define LOOP for (uint32_t k_ = 0, i; k_ < n && ((i = sel[k_]), 1); k_++)

const void *expr_eval(expr_t *x, const uint32_t *sel, uint32_t n)
{
    uint64_t ov = 0;
    for (int oi = 0; oi < x->nops; oi++) {
        const xop_t *o = &x->ops[oi];
        void *dv = x->regs[o->dst].data;
        const void *av = o->a >= 0 ? x->regs[o->a].data : NULL;
        const void *bv = o->b >= 0 ? x->regs[o->b].data : NULL;
        const void *cv = o->c >= 0 ? x->regs[o->c].data : NULL;
        int64_t *d = dv;
        double *df = dv;
        const int64_t *a = av, *b = bv, *c = cv;
        const double *af = av, *bf = bv;
        const ipaddr_t *ap = av, *bp = bv;
        const char *const *as = av, *const *bs = bv;
        switch (o->code) {
        case O_IADD: LOOP d[i] = sat_add(a[i], b[i], &ov); break;
        case O_ISUB: LOOP d[i] = sat_sub(a[i], b[i], &ov); break;
        case O_IMUL: LOOP d[i] = sat_mul(a[i], b[i], &ov); break;
        case O_IDIV:
            LOOP d[i] = b[i] == 0 ? 0
                      : (a[i] == INT64_MIN && b[i] == -1) ? (ov++, INT64_MAX)
                      : a[i] / b[i];
            break;
        case O_IMOD:
            LOOP d[i] = (b[i] == 0 || b[i] == -1) ? 0 : a[i] % b[i];
            break;
        case O_INEG: LOOP d[i] = sat_sub(0, a[i], &ov); break;
        case O_IBAND: LOOP d[i] = a[i] & b[i]; break;
        case O_IBOR: LOOP d[i] = a[i] | b[i]; break;
        case O_IBNOT: LOOP d[i] = ~a[i]; break;
        case O_IABS:
            LOOP d[i] = a[i] == INT64_MIN ? (ov++, INT64_MAX)
                      : a[i] < 0 ? -a[i] : a[i];
            break;
        case O_FADD: LOOP df[i] = af[i] + bf[i]; break;
        case O_FSUB: LOOP df[i] = af[i] - bf[i]; break;
        case O_FMUL: LOOP df[i] = af[i] * bf[i]; break;
        case O_FDIV: LOOP df[i] = bf[i] == 0 ? 0 : af[i] / bf[i]; break;
        case O_FNEG: LOOP df[i] = -af[i]; break;
        case O_FABS: LOOP df[i] = fabs(af[i]); break;
        case O_I2F: LOOP df[i] = (double)a[i]; break;
        case O_FROUND:
            LOOP {
                double r = round(af[i]);
                d[i] = r >= 9.2233720368547758e18 ? (ov++, INT64_MAX)
                     : r <= -9.2233720368547758e18 ? (ov++, INT64_MIN)
                     : r != r ? 0 : (int64_t)r;
            }
            break;
        case O_IEQ: LOOP d[i] = a[i] == b[i]; break;
        case O_INE: LOOP d[i] = a[i] != b[i]; break;
        case O_ILT: LOOP d[i] = a[i] < b[i]; break;
        case O_ILE: LOOP d[i] = a[i] <= b[i]; break;
        case O_IGT: LOOP d[i] = a[i] > b[i]; break;
        case O_IGE: LOOP d[i] = a[i] >= b[i]; break;
        case O_FEQ: LOOP d[i] = af[i] == bf[i]; break;
        case O_FNE: LOOP d[i] = af[i] != bf[i]; break;
        case O_FLT: LOOP d[i] = af[i] < bf[i]; break;
        case O_FLE: LOOP d[i] = af[i] <= bf[i]; break;
        case O_FGT: LOOP d[i] = af[i] > bf[i]; break;
        case O_FGE: LOOP d[i] = af[i] >= bf[i]; break;
        case O_PEQ: LOOP d[i] = ipaddr_eq(&ap[i], &bp[i]); break;
        case O_PNE: LOOP d[i] = !ipaddr_eq(&ap[i], &bp[i]); break;
        case O_PLT: LOOP d[i] = ipaddr_cmp(&ap[i], &bp[i]) < 0; break;
        case O_PLE: LOOP d[i] = ipaddr_cmp(&ap[i], &bp[i]) <= 0; break;
        case O_PGT: LOOP d[i] = ipaddr_cmp(&ap[i], &bp[i]) > 0; break;
        case O_PGE: LOOP d[i] = ipaddr_cmp(&ap[i], &bp[i]) >= 0; break;
        case O_SEQ: LOOP d[i] = as[i] == bs[i]; break;
        case O_SNE: LOOP d[i] = as[i] != bs[i]; break;
        case O_SLT: LOOP d[i] = strcmp(as[i], bs[i]) < 0; break;
        case O_SLE: LOOP d[i] = strcmp(as[i], bs[i]) <= 0; break;
        case O_SGT: LOOP d[i] = strcmp(as[i], bs[i]) > 0; break;
        case O_SGE: LOOP d[i] = strcmp(as[i], bs[i]) >= 0; break;
        case O_AND: LOOP d[i] = a[i] && b[i]; break;
        case O_OR: LOOP d[i] = a[i] || b[i]; break;
        case O_NOT: LOOP d[i] = !a[i]; break;
        case O_SEL8: LOOP d[i] = c[i] ? a[i] : b[i]; break;
        case O_SEL16: {
            ipaddr_t *dp = dv;
            LOOP dp[i] = c[i] ? ap[i] : bp[i];
            break;
        }
        case O_IN_I: LOOP d[i] = in_ints(o->set, a[i]) ^ (int)o->k; break;
        case O_IN_F:
            LOOP {
                int hit = 0;
                for (int j = 0; j < o->set->n && !hit; j++)
                    hit = af[i] == o->set->floats[j];
                d[i] = hit ^ (int)o->k;
            }
            break;
        case O_IN_S:
            LOOP {
                int hit = 0;
                for (int j = 0; j < o->set->n && !hit; j++)
                    hit = as[i] == o->set->strs[j];
                d[i] = hit ^ (int)o->k;
            }
            break;
        case O_IN_IP:
            if (o->set->name)
                inset_refresh(o->set);
            netmatch_eval(o->set->match, ap, sel, n, d, (int)o->k);
            break;
        case O_NETWORK: {
            ipaddr_t *dp = dv;
            LOOP {
                int64_t len = b[i] < 0 ? 0 : b[i];
                int bits = ipaddr_is_v4(&ap[i])
                               ? 96 + (int)(len > 32 ? 32 : len)
                               : (int)(len > 128 ? 128 : len);
                dp[i] = ipaddr_mask(&ap[i], bits);
            }
            break;
        }
        case O_HASFLAGS: LOOP d[i] = (a[i] & b[i]) == b[i]; break;
        case O_LIKE: {
            /* interned strings: a run of one value is matched once */
            const char *pat = o->set->strs[0], *last = NULL;
            int hit = 0;
            LOOP {
                if (as[i] != last) {
                    last = as[i];
                    hit = like_match(pat, last);
                }
                d[i] = hit ^ (int)o->k;
            }
            break;
        }
        case O_LOWER: {
            const char **ds = dv;
            const char *last = NULL, *low = NULL;
            LOOP {
                if (as[i] != last) {
                    last = as[i];
                    low = str_lower(last);
                }
                ds[i] = low;
            }
            break;
        }
        case O_PROTONAME: {
            const char **ds = dv;
            LOOP ds[i] = proto_names[a[i] & 0xff];
            break;
        }
        case O_FLAGSSTR: {
            const char **ds = dv;
            LOOP ds[i] = flag_names[a[i] & 0xff];
            break;
        }
        case O_FAMILY: LOOP d[i] = ipaddr_is_v4(&ap[i]) ? 4 : 6; break;
        case O_ILEAST: LOOP d[i] = a[i] < b[i] ? a[i] : b[i]; break;
        case O_IGREATEST: LOOP d[i] = a[i] > b[i] ? a[i] : b[i]; break;
        case O_FLEAST: LOOP df[i] = af[i] < bf[i] ? af[i] : bf[i]; break;
        case O_FGREATEST: LOOP df[i] = af[i] > bf[i] ? af[i] : bf[i]; break;
        case O_PLEAST: {
            ipaddr_t *dp = dv;
            LOOP dp[i] = ipaddr_cmp(&ap[i], &bp[i]) <= 0 ? ap[i] : bp[i];
            break;
        }
        case O_PGREATEST: {
            ipaddr_t *dp = dv;
            LOOP dp[i] = ipaddr_cmp(&ap[i], &bp[i]) >= 0 ? ap[i] : bp[i];
            break;
        }
        case O_SLEAST: {
            const char **ds = dv;
            LOOP ds[i] = strcmp(as[i], bs[i]) <= 0 ? as[i] : bs[i];
            break;
        }
        case O_SGREATEST: {
            const char **ds = dv;
            LOOP ds[i] = strcmp(as[i], bs[i]) >= 0 ? as[i] : bs[i];
            break;
        }
        case O_TFLOOR: LOOP d[i] = floor_div(a[i], o->k) * o->k; break;
        }
    }
    x->overflows += ov;
    return x->regs[x->result].data;
}
