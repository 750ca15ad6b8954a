/* ecs.c - result rows as ECS documents; see ecs.h. */
#include "sinks/ecs.h"
#include "sinks/format.h"
#include "engine/plan.h"
#include "engine/qhandle.h"
#include "engine/schema.h"
#include "util/timeutil.h"

#include <stdio.h>
#include <string.h>

/* How a flow field's value becomes its ECS value. */
enum conv {
    CV_SAME,      /* as format_value() writes it; '' strings omitted */
    CV_TEXT,      /* a number as text (ECS keyword ids: vlan, ifindex) */
    CV_NS,        /* milliseconds to nanoseconds (event.duration) */
    CV_TRANSPORT, /* protocol number to its IANA keyword, or omitted */
    CV_FAMILY,    /* 4 / 6 to "ipv4" / "ipv6" */
    CV_DIRECTION, /* 0 / 1 to "ingress" / "egress" */
};

/* The flow fields ECS has a name for. A field may fill several ECS
 * fields (bytes: source.bytes, as a flow record counts one direction,
 * and network.bytes, the total ECS dashboards read). */
static const struct {
    int         field;
    const char *path;
    const char *type;   /* the mapping's type */
    int         conv;
} ecs_map[] = {
    {F_SRCIP,    "source.ip",               "ip",      CV_SAME},
    {F_DSTIP,    "destination.ip",          "ip",      CV_SAME},
    {F_SRCPORT,  "source.port",             "long",    CV_SAME},
    {F_DSTPORT,  "destination.port",        "long",    CV_SAME},
    {F_PROTO,    "network.iana_number",     "keyword", CV_TEXT},
    {F_PROTO,    "network.transport",       "keyword", CV_TRANSPORT},
    {F_FAMILY,   "network.type",            "keyword", CV_FAMILY},
    {F_DIRECTION,"network.direction",       "keyword", CV_DIRECTION},
    {F_VLAN,     "network.vlan.id",         "keyword", CV_TEXT},
    {F_BYTES,    "source.bytes",            "long",    CV_SAME},
    {F_BYTES,    "network.bytes",           "long",    CV_SAME},
    {F_PACKETS,  "source.packets",          "long",    CV_SAME},
    {F_PACKETS,  "network.packets",         "long",    CV_SAME},
    {F_EXPORTER, "observer.ip",             "ip",      CV_SAME},
    {F_EXPORTER_NAME, "observer.name",      "keyword", CV_SAME},
    {F_INGRESS,  "observer.ingress.interface.id", "keyword", CV_TEXT},
    {F_EGRESS,   "observer.egress.interface.id",  "keyword", CV_TEXT},
    {F_IN_IFNAME,  "observer.ingress.interface.name", "keyword", CV_SAME},
    {F_OUT_IFNAME, "observer.egress.interface.name",  "keyword", CV_SAME},
    {F_START,    "event.start",             "date",    CV_SAME},
    {F_END,      "event.end",               "date",    CV_SAME},
    {F_DURATION, "event.duration",          "long",    CV_NS},
    {F_SRCASN,   "source.as.number",        "long",    CV_SAME},
    {F_DSTASN,   "destination.as.number",   "long",    CV_SAME},
    {F_SRCASNAME, "source.as.organization.name", "keyword", CV_SAME},
    {F_DSTASNAME, "destination.as.organization.name", "keyword", CV_SAME},
    {F_SRCCOUNTRY, "source.geo.country_iso_code", "keyword", CV_SAME},
    {F_DSTCOUNTRY, "destination.geo.country_iso_code", "keyword", CV_SAME},
};
#define NMAP (int)(sizeof(ecs_map) / sizeof(ecs_map[0]))

/* The flow field column c shows as is, or -1: a bare field of a query
 * without aggregation, or a GROUP BY key that is a bare field. Read from
 * the query's plan (rs->qh); a window without one (tests, replays of an
 * old catalog) maps a key column by its name. */
static int col_field(const rowset_t *rs, int c)
{
    const plan_t *p = rs->qh ? rs->qh->plan : NULL;
    if (p && p->ncols == rs->ncols) {
        const plan_col_t *pc = &p->cols[c];
        const ast_t *e = p->mode == PLAN_ROWS ? pc->expr
                         : pc->key >= 0 && pc->key < p->nkeys ? p->keys[pc->key]
                         : NULL;
        return e && e->kind == A_COLUMN ? e->field : -1;
    }
    if (!rs->cols[c].is_key)
        return -1;
    return schema_lookup(rs->cols[c].name, strlen(rs->cols[c].name));
}

/* The object at a dotted path under root, made as needed; the last
 * component is returned in *leaf. tmpl: each level is a mapping's
 * {"properties": {...}} instead of a plain object. */
static json_t *parent_of(json_t *root, const char *path, const char **leaf,
                         int tmpl)
{
    json_t *o = root;
    const char *p = path, *dot;
    while ((dot = strchr(p, '.'))) {
        char part[64];
        size_t n = (size_t)(dot - p) < sizeof(part) - 1
                       ? (size_t)(dot - p) : sizeof(part) - 1;
        memcpy(part, p, n);
        part[n] = 0;
        json_t *next = json_object_get(o, part);
        if (!json_is_object(next)) {
            next = tmpl ? json_pack("{s:{}}", "properties") : json_object();
            json_object_set_new(o, part, next);
        }
        o = tmpl ? json_object_get(next, "properties") : next;
        p = dot + 1;
    }
    *leaf = p;
    return o;
}

/* A document's field at a dotted path ("source.ip"), set to v (taken). */
static void set_path(json_t *root, const char *path, json_t *v)
{
    const char *leaf;
    json_t *parent = parent_of(root, path, &leaf, 0);
    json_object_set_new(parent, leaf, v);
}

/* A mapping's field at a dotted path, of the given type. */
static void map_path(json_t *props, const char *path, const char *type)
{
    const char *leaf;
    json_t *parent = parent_of(props, path, &leaf, 1);
    json_object_set_new(parent, leaf, json_pack("{s:s}", "type", type));
}

/* The ECS value of a flow field's value, or NULL to leave it out. */
static json_t *ecs_value(const value_t *v, type_t t, int conv)
{
    char buf[24];
    const char *name;
    switch (conv) {
    case CV_TEXT:
        snprintf(buf, sizeof(buf), "%lld", (long long)v->i);
        return json_string(buf);
    case CV_NS:
        return json_integer((json_int_t)v->i * 1000000);
    case CV_TRANSPORT:
        /* ECS wants IANA's keyword: "ipv6-icmp", not our alias icmp6 */
        name = v->i == 58 ? "ipv6-icmp" : proto_name((int)v->i);
        return name ? json_string(name) : NULL;
    case CV_FAMILY:
        return v->i == 4 ? json_string("ipv4")
             : v->i == 6 ? json_string("ipv6") : NULL;
    case CV_DIRECTION:
        return v->i == 0 ? json_string("ingress")
             : v->i == 1 ? json_string("egress") : NULL;
    default:
        if (t == TYPE_STRING && (!v->s || !*v->s))
            return NULL;
        return format_value(v, t);
    }
}

/* A column's name under flowsql: its own, but for the two names the
 * document's own fields take (flowsql.query, flowsql.window), which get
 * a trailing '_'. */
static const char *fs_name(const char *name, char *buf, size_t size)
{
    if (strcmp(name, "query") && strcmp(name, "window"))
        return name;
    snprintf(buf, size, "%s_", name);
    return buf;
}

/* Whether the query aggregates (its windows are measurements) or
 * passes flows through. */
static int aggregated(const rowset_t *rs)
{
    const plan_t *p = rs->qh ? rs->qh->plan : NULL;
    return !p || p->mode != PLAN_ROWS;
}

json_t *ecs_row_doc(const rowset_t *rs, uint32_t r)
{
    char buf[48];
    json_t *o = json_object();
    int agg = aggregated(rs);
    json_object_set_new(o, "@timestamp",
                        json_string(time_format_iso(rs->wstart, buf, sizeof(buf))));
    set_path(o, "ecs.version", json_string(ECS_VERSION));
    set_path(o, "event.kind", json_string(agg ? "metric" : "event"));
    set_path(o, "event.category", json_pack("[s]", "network"));
    set_path(o, "event.type", json_pack("[s]", agg ? "info" : "connection"));
    set_path(o, "event.module", json_string("flowsql"));
    snprintf(buf, sizeof(buf), "flowsql.%.39s", rs->query);
    set_path(o, "event.dataset", json_string(buf));
    set_path(o, "flowsql.query", json_string(rs->query));
    set_path(o, "flowsql.window.start",
             json_string(time_format_iso(rs->wstart, buf, sizeof(buf))));
    set_path(o, "flowsql.window.end",
             json_string(time_format_iso(rs->wend, buf, sizeof(buf))));
    set_path(o, "flowsql.window.partial", json_boolean(rs->partial));

    const value_t *row = rowset_row(rs, r);
    for (int c = 0; c < rs->ncols; c++) {
        int f = col_field(rs, c), mapped = 0;
        for (int m = 0; m < NMAP && f >= 0; m++) {
            if (ecs_map[m].field != f)
                continue;
            mapped = 1;
            json_t *v = ecs_value(&row[c], rs->cols[c].type, ecs_map[m].conv);
            if (v)
                set_path(o, ecs_map[m].path, v);
        }
        if (mapped)
            continue;
        json_t *fs = json_object_get(o, "flowsql");
        json_object_set_new(fs, fs_name(rs->cols[c].name, buf, sizeof(buf)),
                            format_value(&row[c], rs->cols[c].type));
    }
    return o;
}

json_t *ecs_properties(const rowset_t *rs, const char *(*es_type)(type_t))
{
    json_t *props = json_object();
    map_path(props, "@timestamp", "date");
    map_path(props, "ecs.version", "keyword");
    map_path(props, "event.kind", "keyword");
    map_path(props, "event.category", "keyword");
    map_path(props, "event.type", "keyword");
    map_path(props, "event.module", "keyword");
    map_path(props, "event.dataset", "keyword");
    map_path(props, "flowsql.query", "keyword");
    map_path(props, "flowsql.window.start", "date");
    map_path(props, "flowsql.window.end", "date");
    map_path(props, "flowsql.window.partial", "boolean");
    for (int c = 0; c < rs->ncols; c++) {
        int f = col_field(rs, c), mapped = 0;
        for (int m = 0; m < NMAP && f >= 0; m++)
            if (ecs_map[m].field == f) {
                map_path(props, ecs_map[m].path, ecs_map[m].type);
                mapped = 1;
            }
        if (!mapped) {
            json_t *fs = json_object_get(json_object_get(props, "flowsql"),
                                         "properties");
            char buf[80];
            json_object_set_new(fs, fs_name(rs->cols[c].name, buf, sizeof(buf)),
                                json_pack("{s:s}", "type",
                                          es_type(rs->cols[c].type)));
        }
    }
    return props;
}
