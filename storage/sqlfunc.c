/*
 * sqlfunc.c - SQL functions that make stored results pleasant to query.
 * Addresses are stored as 16-byte blobs (IPv4 mapped into IPv6), times
 * as ms since the epoch; these convert both ways:
 *
 *   ip(text)              '10.0.0.1' -> the stored form (blob)
 *   ip_text(ip)           stored form -> '10.0.0.1', '2001:db8::1'
 *   ip_in(ip, cidr)       1 if ip lies in '10.0.0.0/8' (or '2001:db8::/32')
 *   network(ip, bits)     ip with all but its first bits zeroed (bits
 *                         within the family: 24 is a /24 for IPv4)
 *   cidr_first(cidr), cidr_last(cidr)
 *                         first and last address of a network, for
 *                         range searches that use the table's order
 *   iso(ms)               '2026-11-23T13:00:00.000Z'
 *   ms(text)              ISO-8601 time (UTC if no zone) -> ms
 *   duration(text)        '5m' -> 300000
 *   now_ms()              the current time in ms
 *
 * ip(), ip_text(), ip_in() and network() take an address in either form.
 * NULL in gives NULL out; a malformed argument is an error naming the
 * function and the value.
 */
#include "storage/store_int.h"

#include <stdio.h>
#include <string.h>

#include "util/timeutil.h"

/* An address from a 16-byte blob or from text. 0, or -1 with the error
 * set on ctx (1 for NULL: the caller returns NULL). */
static int arg_ip(sqlite3_context *ctx, sqlite3_value *v, const char *fn,
                  ipaddr_t *out)
{
    switch (sqlite3_value_type(v)) {
    case SQLITE_NULL:
        return 1;
    case SQLITE_BLOB:
        if (sqlite3_value_bytes(v) == 16) {
            memcpy(out->a, sqlite3_value_blob(v), 16);
            return 0;
        }
        break;
    case SQLITE_TEXT:
        if (ipaddr_parse((const char *)sqlite3_value_text(v), out) == 0)
            return 0;
        {
            char msg[200];
            snprintf(msg, sizeof(msg), "%s(): '%.80s' is not an IP address",
                     fn, (const char *)sqlite3_value_text(v));
            sqlite3_result_error(ctx, msg, -1);
            return -1;
        }
    }
    char msg[160];
    snprintf(msg, sizeof(msg), "%s(): not an IP address (give text such as "
             "'10.0.0.1' or a stored address)", fn);
    sqlite3_result_error(ctx, msg, -1);
    return -1;
}

static void result_ip(sqlite3_context *ctx, const ipaddr_t *ip)
{
    sqlite3_result_blob(ctx, ip->a, 16, SQLITE_TRANSIENT);
}

/* A parsed network, kept by SQLite between rows for a constant argument. */
typedef struct net {
    ipaddr_t ip;
    int      bits;     /* in the 128-bit space */
} net_t;

/* The network in argument i, parsed once per statement when constant
 * (SQLite keeps the auxiliary data while the argument does not change).
 * 0, or -1 with the error set. */
static int arg_net(sqlite3_context *ctx, int i, sqlite3_value *v,
                   const char *fn, net_t *out)
{
    const net_t *kept = sqlite3_get_auxdata(ctx, i);
    if (kept) {
        *out = *kept;
        return 0;
    }
    const char *s = (const char *)sqlite3_value_text(v);
    if (!s || ipaddr_parse_cidr(s, &out->ip, &out->bits) < 0) {
        char msg[200];
        snprintf(msg, sizeof(msg), "%s(): '%.80s' is not a network such as "
                 "'10.0.0.0/8' or '2001:db8::/32'", fn, s ? s : "");
        sqlite3_result_error(ctx, msg, -1);
        return -1;
    }
    net_t *n = sqlite3_malloc(sizeof(*n));
    if (n) {
        *n = *out;
        sqlite3_set_auxdata(ctx, i, n, sqlite3_free);
    }
    return 0;
}

static void fn_ip(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    ipaddr_t ip;
    if (arg_ip(ctx, argv[0], "ip", &ip) == 0)
        result_ip(ctx, &ip);
}

static void fn_ip_text(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    ipaddr_t ip;
    char buf[IPADDR_STRLEN];
    if (arg_ip(ctx, argv[0], "ip_text", &ip) == 0)
        sqlite3_result_text(ctx, ipaddr_format(&ip, buf, sizeof(buf)), -1,
                            SQLITE_TRANSIENT);
}

static void fn_ip_in(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    ipaddr_t ip;
    if (sqlite3_value_type(argv[1]) == SQLITE_NULL ||
        arg_ip(ctx, argv[0], "ip_in", &ip) != 0)
        return;
    net_t n;
    if (arg_net(ctx, 1, argv[1], "ip_in", &n) == 0)
        sqlite3_result_int(ctx, ipaddr_in(&ip, &n.ip, n.bits));
}

static void fn_network(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    ipaddr_t ip;
    if (sqlite3_value_type(argv[1]) == SQLITE_NULL ||
        arg_ip(ctx, argv[0], "network", &ip) != 0)
        return;
    int64_t bits = sqlite3_value_int64(argv[1]);
    int v4 = ipaddr_is_v4(&ip);
    if (sqlite3_value_type(argv[1]) != SQLITE_INTEGER || bits < 0 ||
        bits > (v4 ? 32 : 128)) {
        sqlite3_result_error(ctx, v4 ? "network(): bits must be 0 to 32 for "
                                       "an IPv4 address"
                                     : "network(): bits must be 0 to 128 for "
                                       "an IPv6 address", -1);
        return;
    }
    ipaddr_t m = ipaddr_mask(&ip, (int)bits + (v4 ? 96 : 0));
    result_ip(ctx, &m);
}

static void fn_cidr_edge(sqlite3_context *ctx, sqlite3_value *v, int last,
                         const char *fn)
{
    if (sqlite3_value_type(v) == SQLITE_NULL)
        return;
    net_t n;
    if (arg_net(ctx, 0, v, fn, &n) < 0)
        return;
    ipaddr_t ip = n.ip;
    for (int bit = n.bits; last && bit < 128; bit++)
        ip.a[bit / 8] |= (uint8_t)(0x80 >> (bit % 8));
    result_ip(ctx, &ip);
}

static void fn_cidr_first(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    fn_cidr_edge(ctx, argv[0], 0, "cidr_first");
}

static void fn_cidr_last(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    fn_cidr_edge(ctx, argv[0], 1, "cidr_last");
}

static void fn_iso(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    int t = sqlite3_value_numeric_type(argv[0]);
    if (t == SQLITE_NULL)
        return;
    if (t != SQLITE_INTEGER && t != SQLITE_FLOAT) {
        sqlite3_result_error(ctx, "iso(): needs a time in ms since the epoch",
                             -1);
        return;
    }
    char buf[40];
    sqlite3_result_text(ctx, time_format_iso(sqlite3_value_int64(argv[0]), buf,
                                             sizeof(buf)), -1, SQLITE_TRANSIENT);
}

static void fn_ms(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    int t = sqlite3_value_type(argv[0]);
    if (t == SQLITE_NULL)
        return;
    if (t == SQLITE_INTEGER) {
        sqlite3_result_int64(ctx, sqlite3_value_int64(argv[0]));
        return;
    }
    const char *s = (const char *)sqlite3_value_text(argv[0]);
    int64_t ms;
    if (!s || time_parse_iso(s, &ms) < 0) {
        char msg[200];
        snprintf(msg, sizeof(msg), "ms(): '%.80s' is not an ISO-8601 time such "
                 "as '2026-11-23 13:00' or '2026-11-23T13:00:00Z'", s ? s : "");
        sqlite3_result_error(ctx, msg, -1);
        return;
    }
    sqlite3_result_int64(ctx, ms);
}

static void fn_duration(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    if (sqlite3_value_type(argv[0]) == SQLITE_NULL)
        return;
    const char *s = (const char *)sqlite3_value_text(argv[0]);
    int64_t ms;
    if (!s || duration_parse(s, strlen(s), &ms) < 0) {
        char msg[200];
        snprintf(msg, sizeof(msg), "duration(): '%.80s' is not a duration such "
                 "as '500ms', '10s', '5m', '1h' or '2d'", s ? s : "");
        sqlite3_result_error(ctx, msg, -1);
        return;
    }
    sqlite3_result_int64(ctx, ms);
}

static void fn_now_ms(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    (void)argv;
    sqlite3_result_int64(ctx, time_now_ms());
}

static const struct {
    const char *name;
    int         nargs;
    int         deterministic;
    void (*fn)(sqlite3_context *, int, sqlite3_value **);
} funcs[] = {
    {"ip", 1, 1, fn_ip},
    {"ip_text", 1, 1, fn_ip_text},
    {"ip_in", 2, 1, fn_ip_in},
    {"network", 2, 1, fn_network},
    {"cidr_first", 1, 1, fn_cidr_first},
    {"cidr_last", 1, 1, fn_cidr_last},
    {"iso", 1, 1, fn_iso},
    {"ms", 1, 1, fn_ms},
    {"duration", 1, 1, fn_duration},
    {"now_ms", 0, 0, fn_now_ms},
};

int sqlfunc_register(sqlite3 *db)
{
    for (size_t i = 0; i < sizeof(funcs) / sizeof(funcs[0]); i++) {
        int flags = SQLITE_UTF8 | SQLITE_INNOCUOUS |
                    (funcs[i].deterministic ? SQLITE_DETERMINISTIC : 0);
        int rc = sqlite3_create_function_v2(db, funcs[i].name, funcs[i].nargs,
                                            flags, NULL, funcs[i].fn, NULL,
                                            NULL, NULL);
        if (rc != SQLITE_OK)
            return rc;
    }
    return SQLITE_OK;
}
