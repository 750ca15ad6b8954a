/*
 * flowvtab.c - the raw-flow archive as a table of the ad hoc SQLite
 * connections, so a stored row joins the flows behind it in one
 * statement:
 *
 *     SELECT f.* FROM scan_vertical s JOIN flows f
 *         ON f.srcip = s.srcip AND f.received >= s.window_start
 *        AND f.received < s.window_end
 *      WHERE s.window_start >= ...
 *
 * `flows` is an eponymous virtual table (no CREATE VIRTUAL TABLE: the
 * connections are read-only). Its columns are the archive's, named and
 * typed as the stored tables name and type them: addresses as 16-byte
 * blobs (declared IP), times as integer milliseconds (declared TIME).
 *
 * xBestIndex takes the constraints the archive can use - ranges of
 * received, start and end, equality of srcip, dstip, srcport, dstport
 * and proto - and xFilter turns the values SQLite binds into a query
 * over the archive in flowsql's own dialect (archive/aquery.h), which
 * pushes them into the scan: files and row groups that cannot match are
 * not read. SQLite checks every constraint again (omit is never set), so
 * a value the archive cannot use (a text compared with an address) is
 * only left out of the scan, never wrong. The scan has what is left of
 * the statement's time limit; the statement's row limit bounds the rest.
 */
#include "storage/store_int.h"
#include "archive/aquery.h"
#include "engine/schema.h"
#include "util/timeutil.h"

#include <stdlib.h>
#include <string.h>

typedef struct fvtab {
    sqlite3_vtab       base;
    const flowvtab_env_t *env;
} fvtab_t;

typedef struct fcursor {
    sqlite3_vtab_cursor base;
    aquery_t           *q;
    const value_t      *row;
    int                 eof;
    sqlite3_int64       rowid;
} fcursor_t;

/* The stored fields, in schema order: the table's columns. */
static int fields[F_COUNT], nfields;

static void init_fields(void)
{
    if (nfields)
        return;
    int n = 0;
    for (int f = 0; f < F_COUNT; f++)
        if (!schema_fields[f].is_virtual)
            fields[n++] = f;
    nfields = n;
}

static int vt_connect(sqlite3 *db, void *aux, int argc,
                      const char *const *argv, sqlite3_vtab **out,
                      char **errmsg)
{
    (void)argc;
    (void)argv;
    (void)errmsg;
    init_fields();
    sbuf_t b = SBUF_INIT;
    sbuf_add(&b, "CREATE TABLE x(");
    for (int i = 0; i < nfields; i++)
        sbuf_printf(&b, "%s\"%s\" %s", i ? ", " : "",
                    schema_fields[fields[i]].name,
                    store_decltype(schema_fields[fields[i]].type));
    sbuf_addc(&b, ')');
    int rc = sqlite3_declare_vtab(db, sbuf_str(&b));
    sbuf_free(&b);
    if (rc != SQLITE_OK)
        return rc;
    sqlite3_vtab_config(db, SQLITE_VTAB_DIRECTONLY);
    fvtab_t *t = sqlite3_malloc(sizeof(*t));
    if (!t)
        return SQLITE_NOMEM;
    memset(t, 0, sizeof(*t));
    t->env = aux;
    *out = &t->base;
    return SQLITE_OK;
}

static int vt_disconnect(sqlite3_vtab *vt)
{
    sqlite3_free(vt);
    return SQLITE_OK;
}

/* A constraint the archive can use: 1 if so. */
static int usable(int col, unsigned char op)
{
    if (col < 0 || col >= nfields)
        return 0;
    int f = fields[col];
    if (f == F_RECEIVED || f == F_START || f == F_END)
        return op == SQLITE_INDEX_CONSTRAINT_EQ ||
               op == SQLITE_INDEX_CONSTRAINT_GT ||
               op == SQLITE_INDEX_CONSTRAINT_GE ||
               op == SQLITE_INDEX_CONSTRAINT_LT ||
               op == SQLITE_INDEX_CONSTRAINT_LE;
    if (f == F_SRCIP || f == F_DSTIP || f == F_SRCPORT || f == F_DSTPORT ||
        f == F_PROTO)
        return op == SQLITE_INDEX_CONSTRAINT_EQ;
    return 0;
}

/* idxStr lists the constraints given to xFilter, in argv order: one
 * letter per constraint (the column, 'a' + index) and one per operator
 * ('=' '>' 'g' '<' 'l'). The cost says how much of the archive is left:
 * an address divides it by 1000, each bound of a time by 10. */
static int vt_best_index(sqlite3_vtab *vt, sqlite3_index_info *info)
{
    (void)vt;
    sbuf_t b = SBUF_INIT;
    int argv = 0;
    double cost = 1e9;
    for (int i = 0; i < info->nConstraint; i++) {
        const struct sqlite3_index_constraint *c = &info->aConstraint[i];
        if (!c->usable || !usable(c->iColumn, c->op))
            continue;
        int f = fields[c->iColumn];
        char op = c->op == SQLITE_INDEX_CONSTRAINT_EQ ? '='
                : c->op == SQLITE_INDEX_CONSTRAINT_GT ? '>'
                : c->op == SQLITE_INDEX_CONSTRAINT_GE ? 'g'
                : c->op == SQLITE_INDEX_CONSTRAINT_LT ? '<' : 'l';
        sbuf_addc(&b, (char)('a' + c->iColumn));
        sbuf_addc(&b, op);
        info->aConstraintUsage[i].argvIndex = ++argv;
        info->aConstraintUsage[i].omit = 0;
        cost /= f == F_SRCIP || f == F_DSTIP ? 1000
              : f == F_SRCPORT || f == F_DSTPORT || f == F_PROTO ? 5
              : op == '=' ? 1000 : 10;
    }
    info->idxNum = argv;
    info->idxStr = sqlite3_mprintf("%s", sbuf_str(&b));
    info->needToFreeIdxStr = 1;
    sbuf_free(&b);
    info->estimatedCost = cost < 1 ? 1 : cost;
    info->estimatedRows = (sqlite3_int64)(cost < 1 ? 1 : cost);
    return info->idxStr ? SQLITE_OK : SQLITE_NOMEM;
}

static int vt_open(sqlite3_vtab *vt, sqlite3_vtab_cursor **out)
{
    (void)vt;
    fcursor_t *c = sqlite3_malloc(sizeof(*c));
    if (!c)
        return SQLITE_NOMEM;
    memset(c, 0, sizeof(*c));
    c->eof = 1;
    *out = &c->base;
    return SQLITE_OK;
}

static int vt_close(sqlite3_vtab_cursor *cur)
{
    fcursor_t *c = (fcursor_t *)cur;
    aquery_close(c->q);
    sqlite3_free(c);
    return SQLITE_OK;
}

static int vt_error(sqlite3_vtab_cursor *cur, const char *msg)
{
    sqlite3_free(cur->pVtab->zErrMsg);
    cur->pVtab->zErrMsg = sqlite3_mprintf("flows: %s", msg);
    return SQLITE_ERROR;
}

/* One constraint as flowsql text into b: 1 if written, 0 if the value
 * cannot be used (the scan then reads more, SQLite still filters), -1
 * if no row can match (a NULL). */
static int condition(sbuf_t *b, int col, char op, sqlite3_value *v)
{
    int f = fields[col];
    const char *name = schema_fields[f].name;
    int t = sqlite3_value_type(v);
    if (t == SQLITE_NULL)
        return -1;
    const char *ops = op == '=' ? "=" : op == '>' ? ">" : op == 'g' ? ">="
                    : op == '<' ? "<" : "<=";
    if (f == F_SRCIP || f == F_DSTIP) {
        if (t != SQLITE_BLOB || sqlite3_value_bytes(v) != 16)
            return 0;
        ipaddr_t ip;
        char buf[64];
        memcpy(ip.a, sqlite3_value_blob(v), 16);
        sbuf_printf(b, " AND %s = %s", name, ipaddr_format(&ip, buf, sizeof(buf)));
        return 1;
    }
    if (t != SQLITE_INTEGER && t != SQLITE_FLOAT)
        return 0;
    sqlite3_int64 i = sqlite3_value_int64(v);
    if (t == SQLITE_FLOAT) {
        /* a float bound: the integers on its side (widened by one) */
        double d = sqlite3_value_double(v);
        if (!(d > -9.2e18 && d < 9.2e18))
            return 0;
        i = (sqlite3_int64)d;
        if (op == '=' && (double)i != d)
            return -1;
        if (op == '>' || op == 'g')
            ops = ">=";
        else if (op == '<' || op == 'l') {
            ops = "<=";
            i += 1;
        }
    }
    sbuf_printf(b, " AND \"%s\" %s %lld", name, ops, (long long)i);
    return 1;
}

/* The next flow; at the end of the archive, or at an error (the time
 * limit, the archive unreadable), the end. */
static int vt_next(sqlite3_vtab_cursor *cur)
{
    fcursor_t *c = (fcursor_t *)cur;
    const flowvtab_env_t *env = ((fvtab_t *)cur->pVtab)->env;
    if (!c->q) {
        c->eof = 1;
        return SQLITE_OK;
    }
    diag_t err;
    int rc = aquery_next(c->q, &c->row, &err);
    if (rc == 1) {
        c->rowid++;
        return SQLITE_OK;
    }
    c->eof = 1;
    c->row = NULL;
    if (rc == 0)
        return SQLITE_OK;
    if (rc == AQ_ETIMEOUT) {
        *env->timed_out = 1;
        return SQLITE_INTERRUPT;
    }
    return vt_error(cur, err.msg);
}

static int vt_filter(sqlite3_vtab_cursor *cur, int idxnum, const char *idxstr,
                     int argc, sqlite3_value **argv)
{
    fcursor_t *c = (fcursor_t *)cur;
    const flowvtab_env_t *env = ((fvtab_t *)cur->pVtab)->env;
    aquery_close(c->q);
    c->q = NULL;
    c->eof = 1;
    c->rowid = 0;
    sbuf_t b = SBUF_INIT;
    sbuf_add(&b, "SELECT ");
    for (int i = 0; i < nfields; i++)
        sbuf_printf(&b, "%s\"%s\"", i ? ", " : "", schema_fields[fields[i]].name);
    sbuf_add(&b, " FROM flows WHERE TRUE");
    int none = 0;
    for (int i = 0; i < idxnum && i < argc && idxstr[2 * i]; i++) {
        int r = condition(&b, idxstr[2 * i] - 'a', idxstr[2 * i + 1], argv[i]);
        none |= r < 0;
    }
    if (none) {
        sbuf_free(&b);
        return SQLITE_OK;       /* no row can match */
    }
    int64_t left = 0;
    if (env->deadline && *env->deadline) {
        left = *env->deadline - time_mono_ms();
        if (left <= 0) {
            sbuf_free(&b);
            *env->timed_out = 1;
            return SQLITE_INTERRUPT;
        }
    }
    diag_t err;
    plan_t *p = plan_compile(b.s, b.len, 0, &err);
    sbuf_free(&b);
    if (!p)
        return vt_error(cur, err.msg);
    aquery_opts_t o = {.time_ms = left, .max_rows = -1};
    if (aquery_open(env->dir, p, &o, &c->q, &err) < 0)
        return vt_error(cur, err.msg);
    c->eof = 0;
    return vt_next(cur);
}

static int vt_eof(sqlite3_vtab_cursor *cur)
{
    return ((fcursor_t *)cur)->eof;
}

static int vt_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col)
{
    fcursor_t *c = (fcursor_t *)cur;
    if (!c->row || col < 0 || col >= nfields)
        return SQLITE_OK;
    if (schema_fields[fields[col]].type == TYPE_IP)
        sqlite3_result_blob(ctx, c->row[col].ip.a, 16, SQLITE_TRANSIENT);
    else
        sqlite3_result_int64(ctx, c->row[col].i);
    return SQLITE_OK;
}

static int vt_rowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *rowid)
{
    *rowid = ((fcursor_t *)cur)->rowid;
    return SQLITE_OK;
}

static const sqlite3_module flows_module = {
    .iVersion = 0,
    .xCreate = NULL,            /* eponymous only */
    .xConnect = vt_connect,
    .xBestIndex = vt_best_index,
    .xDisconnect = vt_disconnect,
    .xDestroy = vt_disconnect,
    .xOpen = vt_open,
    .xClose = vt_close,
    .xFilter = vt_filter,
    .xNext = vt_next,
    .xEof = vt_eof,
    .xColumn = vt_column,
    .xRowid = vt_rowid,
};

int flowvtab_register(sqlite3 *db, const flowvtab_env_t *env)
{
    return sqlite3_create_module(db, "flows", &flows_module, (void *)env);
}
