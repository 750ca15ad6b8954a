/*
 * sqlite_ext.c - flowsql.so, a SQLite loadable extension: the sqlite3
 * shell (or any SQLite program) gets the functions ad hoc queries have,
 * and views that show addresses and times as text:
 *
 *   sqlite3 /var/lib/flowsql/flowsql.db
 *   sqlite> .load /usr/lib/flowsql/flowsql
 *   sqlite> SELECT * FROM top_talkers_bytes_text LIMIT 5;
 *   sqlite> SELECT ip_text(srcip), bytes FROM top_talkers_bytes
 *      ...>  WHERE ip_in(srcip, '10.0.0.0/8');
 *
 * The functions are storage/sqlfunc.c's, compiled into this object with
 * sqlite3ext.h in front, so they call SQLite through the loading
 * program's routines. At load, for each stored query's view (the
 * flowsql_tables catalog), a TEMP view NAME_text is made, with its IP
 * columns through ip_text() and its TIME columns through iso(): temp
 * views live in the connection only, nothing is written to the database.
 * Loading into a database that is not flowsqld's gives the functions
 * alone. docs/STORAGE.md, "The sqlite3 shell".
 */
#include <sqlite3ext.h>
SQLITE_EXTENSION_INIT1

#include "storage/sqlfunc.c"
#include "util/sbuf.h"

/* "x" with its quotes doubled, as an SQL identifier. */
static void quote_id(sbuf_t *b, const char *s)
{
    sbuf_addc(b, '"');
    for (; *s; s++) {
        if (*s == '"')
            sbuf_addc(b, '"');
        sbuf_addc(b, *s);
    }
    sbuf_addc(b, '"');
}

/* TEMP VIEW NAME_text over the view NAME: its IP and TIME columns as
 * text. SQLITE_OK, or an SQLite error code. */
static int text_view(sqlite3 *db, const char *name)
{
    sbuf_t q = SBUF_INIT, v = SBUF_INIT;
    sbuf_add(&q, "SELECT name, type FROM pragma_table_info(?1)");
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, sbuf_str(&q), -1, &st, NULL);
    sbuf_free(&q);
    if (rc != SQLITE_OK)
        return rc;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sbuf_add(&v, "CREATE TEMP VIEW IF NOT EXISTS ");
    char vname[300];
    snprintf(vname, sizeof(vname), "%s_text", name);
    quote_id(&v, vname);
    sbuf_add(&v, " AS SELECT ");
    int n = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *col = (const char *)sqlite3_column_text(st, 0);
        const char *type = (const char *)sqlite3_column_text(st, 1);
        if (!col)
            continue;
        if (n++)
            sbuf_add(&v, ", ");
        int ip = type && sqlite3_stricmp(type, "IP") == 0;
        int tm = type && sqlite3_stricmp(type, "TIME") == 0;
        if (ip || tm) {
            sbuf_add(&v, ip ? "ip_text(" : "iso(");
            quote_id(&v, col);
            sbuf_add(&v, ") AS ");
        }
        quote_id(&v, col);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE || n == 0) {
        sbuf_free(&v);
        return rc == SQLITE_DONE ? SQLITE_OK : rc;
    }
    sbuf_add(&v, " FROM main.");
    quote_id(&v, name);
    rc = sqlite3_exec(db, sbuf_str(&v), NULL, NULL, NULL);
    sbuf_free(&v);
    return rc;
}

/* Every stored query's text view; none when there is no catalog. */
static int text_views(sqlite3 *db)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT DISTINCT name FROM main.flowsql_tables",
                           -1, &st, NULL) != SQLITE_OK)
        return SQLITE_OK;           /* not flowsqld's database */
    int rc = SQLITE_OK;
    while (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        if (name)
            rc = text_view(db, name);
    }
    sqlite3_finalize(st);
    return rc;
}

#ifdef _WIN32
__declspec(dllexport)
#endif
int sqlite3_flowsql_init(sqlite3 *db, char **errmsg,
                         const sqlite3_api_routines *api)
{
    SQLITE_EXTENSION_INIT2(api);
    int rc = sqlfunc_register(db);
    if (rc == SQLITE_OK)
        rc = text_views(db);
    if (rc != SQLITE_OK && errmsg)
        *errmsg = sqlite3_mprintf("flowsql: %s", sqlite3_errmsg(db));
    return rc;
}
