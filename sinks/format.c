/* format.c - windows as JSON and CSV; see format.h. */
#include "sinks/format.h"
#include "sinks/ecs.h"
#include "util/timeutil.h"
#include "util/jsonfmt.h"

#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

json_t *format_value(const value_t *v, type_t t)
{
    char buf[64];
    switch (t) {
    case TYPE_IP:
        return json_string(ipaddr_format(&v->ip, buf, sizeof(buf)));
    case TYPE_TIME:
        return json_string(time_format_iso(v->i, buf, sizeof(buf)));
    case TYPE_FLOAT:
        return isfinite(v->f) ? json_real(v->f) : json_null();
    case TYPE_STRING:
        return json_string(v->s ? v->s : "");
    case TYPE_BOOL:
        return json_boolean(v->i);
    default:
        return json_integer(v->i);
    }
}

json_t *format_row(const rowset_t *rs, uint32_t r)
{
    json_t *o = json_object();
    const value_t *row = rowset_row(rs, r);
    for (int c = 0; c < rs->ncols; c++)
        json_object_set_new(o, rs->cols[c].name,
                            format_value(&row[c], rs->cols[c].type));
    return o;
}

static void window_fields(json_t *o, const rowset_t *rs)
{
    char buf[40];
    json_object_set_new(o, "query", json_string(rs->query));
    json_object_set_new(o, "window_start",
                        json_string(time_format_iso(rs->wstart, buf, sizeof(buf))));
    json_object_set_new(o, "window_end",
                        json_string(time_format_iso(rs->wend, buf, sizeof(buf))));
    json_object_set_new(o, "window_start_ms", json_integer(rs->wstart));
    json_object_set_new(o, "window_end_ms", json_integer(rs->wend));
    json_object_set_new(o, "partial", json_boolean(rs->partial));
}

json_t *format_row_doc(const rowset_t *rs, uint32_t r)
{
    json_t *o = json_object();
    window_fields(o, rs);
    json_t *row = format_row(rs, r);
    json_object_update(o, row);
    json_decref(row);
    return o;
}

int format_parse(const char *name)
{
    return !strcmp(name, "flat") ? FORMAT_FLAT
         : !strcmp(name, "ecs") ? FORMAT_ECS : -1;
}

json_t *format_doc(const rowset_t *rs, uint32_t r, int fmt)
{
    return fmt == FORMAT_ECS ? ecs_row_doc(rs, r) : format_row_doc(rs, r);
}

json_t *format_window(const rowset_t *rs)
{
    json_t *o = json_object();
    window_fields(o, rs);
    json_object_set_new(o, "seq", json_integer((json_int_t)rs->seq));
    json_object_set_new(o, "flows", json_integer((json_int_t)rs->flows));
    json_t *rows = json_array();
    for (uint32_t r = 0; r < rs->nrows; r++)
        json_array_append_new(rows, format_row(rs, r));
    json_object_set_new(o, "rows", rows);
    return o;
}

void format_key(const rowset_t *rs, uint32_t r, sbuf_t *out)
{
    const value_t *row = rowset_row(rs, r);
    int first = 1;
    for (int c = 0; c < rs->ncols; c++) {
        if (!rs->cols[c].is_key)
            continue;
        if (!first)
            sbuf_addc(out, '|');
        first = 0;
        json_t *v = format_value(&row[c], rs->cols[c].type);
        if (json_is_string(v))
            sbuf_add(out, json_string_value(v));
        else {
            char *s = json_dumps(v, JSON_ENCODE_ANY);
            sbuf_add(out, s ? s : "");
            free(s);
        }
        json_decref(v);
    }
}

void format_csv_text(sbuf_t *b, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        sbuf_add(b, s);
        return;
    }
    sbuf_addc(b, '"');
    for (; *s; s++) {
        if (*s == '"')
            sbuf_addc(b, '"');
        sbuf_addc(b, *s);
    }
    sbuf_addc(b, '"');
}

void format_csv_json(sbuf_t *b, json_t *j)
{
    if (json_is_string(j)) {
        format_csv_text(b, json_string_value(j));
    } else if (j && !json_is_null(j)) {
        char *s = json_dumps_short(j, JSON_ENCODE_ANY);
        sbuf_add(b, s ? s : "");
        free(s);
    }
}

void format_csv_value(sbuf_t *b, const value_t *v, type_t t)
{
    json_t *j = format_value(v, t);
    format_csv_json(b, j);
    json_decref(j);
}
int format_name(sbuf_t *out, const char *pattern, const char *query,
                int64_t ms)
{
    int dated = 0;
    time_t t = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    gmtime_r(&t, &tm);
    for (const char *p = pattern; *p; p++) {
        if (*p != '%' || !p[1]) {
            sbuf_addc(out, *p);
            continue;
        }
        switch (*++p) {
        case 'q': sbuf_add(out, query); break;
        case 'Y': sbuf_printf(out, "%04d", tm.tm_year + 1900); dated = 1; break;
        case 'm': sbuf_printf(out, "%02d", tm.tm_mon + 1); dated = 1; break;
        case 'd': sbuf_printf(out, "%02d", tm.tm_mday); dated = 1; break;
        case '%': sbuf_addc(out, '%'); break;
        default: sbuf_addc(out, '%'); sbuf_addc(out, *p); break;
        }
    }
    return dated;
}
