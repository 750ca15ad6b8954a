/*
 * metrics.c - \metrics: the daemon's Prometheus text made readable.
 *
 * Nothing here knows particular metric names, so counters added by new
 * modules (ingest, storage, sinks) show up without a change: metrics
 * without labels form one two-column table; metrics with labels are
 * grouped by their subsystem (the word after "flowsql_") and label names
 * (query, exporter, code, ...) into one table each - "Per query:",
 * "ingest per exporter, domain:" - a row per label value and a column
 * per metric, the common "flowsql_<subsystem>_" prefix and "_total"
 * suffix cut from the column names. Rows that are zero throughout are
 * left out unless asked for.
 */
#include "shell/shell.h"
#include "util/arena.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct sample {
    char  *name;
    char  *group;     /* "<subsystem> <label names>": its table */
    char  *keys;      /* label names, "query" or "exporter,domain"; "" */
    char  *vals;      /* label values, joined by ", " */
    json_t *labels;   /* {name: value} */
    double value;
} sample_t;

typedef struct samples {
    sample_t *v;
    int       n, cap;
} samples_t;

static void samples_free(samples_t *s)
{
    for (int i = 0; i < s->n; i++) {
        free(s->v[i].name);
        free(s->v[i].group);
        free(s->v[i].keys);
        free(s->v[i].vals);
        json_decref(s->v[i].labels);
    }
    free(s->v);
}

/* One "name{a="x",b="y"} value" line; 0, or -1 if it is not one. */
static int parse_line(const char *line, size_t len, sample_t *out)
{
    const char *p = line, *e = line + len;
    const char *ns = p;
    while (p < e && *p != '{' && *p != ' ' && *p != '\t')
        p++;
    if (p == ns)
        return -1;
    memset(out, 0, sizeof(*out));
    out->name = strndup(ns, (size_t)(p - ns));
    out->labels = json_object();
    sbuf_t keys = SBUF_INIT, vals = SBUF_INIT;
    if (p < e && *p == '{') {
        p++;
        while (p < e && *p != '}') {
            const char *ks = p;
            while (p < e && *p != '=')
                p++;
            if (p + 1 >= e || p[1] != '"')
                goto bad;
            char *k = strndup(ks, (size_t)(p - ks));
            p += 2;
            sbuf_t v = SBUF_INIT;
            while (p < e && *p != '"') {
                if (*p == '\\' && p + 1 < e) {
                    p++;
                    sbuf_addc(&v, *p == 'n' ? '\n' : *p);
                } else {
                    sbuf_addc(&v, *p);
                }
                p++;
            }
            p++;    /* the closing quote */
            json_object_set_new(out->labels, k, json_string(sbuf_str(&v)));
            sbuf_printf(&keys, "%s%s", keys.len ? "," : "", k);
            sbuf_printf(&vals, "%s%s", vals.len ? ", " : "", sbuf_str(&v));
            free(k);
            sbuf_free(&v);
            if (p < e && *p == ',')
                p++;
        }
        if (p >= e)
            goto bad;
        p++;
    }
    while (p < e && (*p == ' ' || *p == '\t'))
        p++;
    char num[64];
    size_t nl = strcspn(p, " \t\r\n");
    if (nl == 0 || nl >= sizeof(num) || p + nl > e)
        goto bad;
    memcpy(num, p, nl);
    num[nl] = 0;
    char *end;
    out->value = strtod(num, &end);
    if (*end)
        goto bad;
    out->keys = sbuf_detach(&keys);
    out->vals = sbuf_detach(&vals);
    /* The subsystem: the word after "flowsql_" ("query", "ingest"). */
    const char *sub = out->name;
    if (strncmp(sub, "flowsql_", 8) == 0)
        sub += 8;
    size_t sl = strcspn(sub, "_");
    sbuf_t g = SBUF_INIT;
    sbuf_printf(&g, "%.*s %s", (int)sl, sub, out->keys);
    out->group = sbuf_detach(&g);
    return 0;
bad:
    sbuf_free(&keys);
    sbuf_free(&vals);
    free(out->name);
    json_decref(out->labels);
    return -1;
}

static json_t *number(double v)
{
    if (v == floor(v) && fabs(v) < 9e15)
        return json_integer((json_int_t)v);
    return json_real(v);
}

/* "flowsql_query_flows_total" in the group whose metrics share
 * "flowsql_query_" -> "flows". */
static char *short_name(const char *name, size_t prefix)
{
    size_t n = strlen(name);
    if (n > prefix)
        name += prefix, n -= prefix;
    if (n > 6 && strcmp(name + n - 6, "_total") == 0)
        n -= 6;
    return strndup(name, n);
}

/* The "flowsql_<subsystem>_" every name of a group starts with, whose
 * length is cut from the column names. */
static size_t common_prefix(char **names, int n, const char *group)
{
    char pre[96];
    snprintf(pre, sizeof(pre), "flowsql_%.*s_", (int)strcspn(group, " "),
             group);
    size_t len = strlen(pre);
    for (int i = 0; i < n; i++)
        if (strncmp(names[i], pre, len) != 0)
            return 0;
    return len;
}

static int table_view(shell_t *sh, samples_t *s, int all, sbuf_t *b)
{
    int hidden = 0;
    /* Metrics without labels. */
    json_t *cols = json_pack("[ss]", "metric", "value"), *rows = json_array();
    for (int i = 0; i < s->n; i++)
        if (!*s->v[i].keys)
            json_array_append_new(rows, json_pack("[so]",
                strncmp(s->v[i].name, "flowsql_", 8) == 0 ? s->v[i].name + 8
                                                         : s->v[i].name,
                number(s->v[i].value)));
    table_opts_t o = {.grouped = sh->grouped, .footer = 0};
    if (json_array_size(rows)) {
        out_table(b, cols, rows, &o);
        sbuf_addc(b, '\n');
    }
    json_decref(cols);
    json_decref(rows);

    /* One table per set of label names, in order of appearance. */
    char **done = xcalloc((size_t)s->n + 1, sizeof(char *));
    int ndone = 0;
    for (int i = 0; i < s->n; i++) {
        const char *keys = s->v[i].keys, *group = s->v[i].group;
        int seen = !*keys;
        for (int k = 0; k < ndone && !seen; k++)
            seen = strcmp(done[k], group) == 0;
        if (seen)
            continue;
        done[ndone++] = (char *)group;
        /* the metrics and the label values of this group */
        char **mets = xcalloc((size_t)s->n, sizeof(char *));
        char **rowk = xcalloc((size_t)s->n, sizeof(char *));
        json_t **rowl = xcalloc((size_t)s->n, sizeof(json_t *));
        int nm = 0, nr = 0;
        for (int j = i; j < s->n; j++) {
            if (strcmp(s->v[j].group, group) != 0)
                continue;
            int m, r;
            for (m = 0; m < nm && strcmp(mets[m], s->v[j].name); m++)
                ;
            if (m == nm)
                mets[nm++] = s->v[j].name;
            for (r = 0; r < nr && strcmp(rowk[r], s->v[j].vals); r++)
                ;
            if (r == nr) {
                rowl[nr] = s->v[j].labels;
                rowk[nr++] = s->v[j].vals;
            }
        }
        size_t pre = common_prefix(mets, nm, group);
        cols = json_array();
        char *kc = xstrdup(keys);
        for (char *t = strtok(kc, ","); t; t = strtok(NULL, ","))
            json_array_append_new(cols, json_string(t));
        free(kc);
        size_t nkeys = json_array_size(cols);
        for (int m = 0; m < nm; m++) {
            char *sn = short_name(mets[m], pre);
            json_array_append_new(cols, json_string(sn));
            free(sn);
        }
        rows = json_array();
        for (int r = 0; r < nr; r++) {
            json_t *row = json_array();
            for (size_t k = 0; k < nkeys; k++)
                json_array_append(row, json_object_get(
                    rowl[r], json_string_value(json_array_get(cols, k))));
            int nonzero = 0;
            for (int m = 0; m < nm; m++) {
                json_t *v = json_null();
                for (int j = i; j < s->n; j++)
                    if (strcmp(s->v[j].group, group) == 0 &&
                        strcmp(s->v[j].name, mets[m]) == 0 &&
                        strcmp(s->v[j].vals, rowk[r]) == 0) {
                        json_decref(v);
                        v = number(s->v[j].value);
                        nonzero |= s->v[j].value != 0;
                    }
                json_array_append_new(row, v);
            }
            if (nonzero || all)
                json_array_append_new(rows, row);
            else {
                json_decref(row);
                hidden++;
            }
        }
        if (json_array_size(rows)) {
            /* "Per query:", "ingest per exporter, domain:" */
            char title[160], sub[64];
            size_t sl = strcspn(group, " ");
            snprintf(sub, sizeof(sub), "%.*s", (int)(sl < 63 ? sl : 63), group);
            sbuf_t kl = SBUF_INIT;
            for (const char *k = keys; *k; k++)
                if (*k == ',')
                    sbuf_add(&kl, ", ");
                else
                    sbuf_addc(&kl, *k);
            if (strcmp(sub, keys) == 0)
                snprintf(title, sizeof(title), "Per %s:", keys);
            else
                snprintf(title, sizeof(title), "%s per %s:", sub,
                         sbuf_str(&kl));
            sbuf_free(&kl);
            o.title = title;
            out_table(b, cols, rows, &o);
            o.title = NULL;
            sbuf_addc(b, '\n');
        }
        json_decref(cols);
        json_decref(rows);
        free(mets);
        free(rowk);
        free(rowl);
    }
    free(done);
    return hidden;
}

int metrics_show(shell_t *sh, const char *filter)
{
    client_resp_t r;
    int rc = sh_call_200(sh, "GET", "/metrics", NULL, &r);
    if (rc != SH_OK)
        return rc;
    int all = strcmp(filter, "all") == 0;
    const char *word = all || !*filter ? NULL : filter;
    samples_t s = {0};
    const char *p = sbuf_str(&r.body);
    while (*p) {
        size_t n = strcspn(p, "\n");
        sample_t x;
        if (*p != '#' && n && parse_line(p, n, &x) == 0) {
            if (word && !strstr(x.name, word)) {
                free(x.name);
                free(x.group);
                free(x.keys);
                free(x.vals);
                json_decref(x.labels);
            } else {
                if (s.n == s.cap) {
                    s.cap = s.cap ? s.cap * 2 : 64;
                    s.v = xrealloc(s.v, sizeof(sample_t) * (size_t)s.cap);
                }
                s.v[s.n++] = x;
            }
        }
        p += n + (p[n] == '\n');
    }
    client_resp_free(&r);
    if (word && s.n == 0) {
        sh_error(sh, "no metric has '%s' in its name", word);
        samples_free(&s);
        return SH_ERR;
    }
    if (sh->format == FMT_TABLE) {
        sbuf_t b = SBUF_INIT;
        int hidden = table_view(sh, &s, all || word, &b);
        if (hidden)
            sbuf_printf(&b, "(%d row%s of zeros not shown: \\metrics all)\n",
                        hidden, hidden == 1 ? "" : "s");
        if (sh->interactive)
            sbuf_addc(&b, '\n');
        out_emit(sh, sbuf_str(&b), b.len, 1);
        sbuf_free(&b);
    } else {
        json_t *cols = json_pack("[sss]", "metric", "labels", "value");
        json_t *rows = json_array();
        for (int i = 0; i < s.n; i++)
            json_array_append_new(rows, json_pack(
                "[sOo]", s.v[i].name, s.v[i].labels, number(s.v[i].value)));
        out_result(sh, cols, rows, NULL);
        json_decref(cols);
        json_decref(rows);
    }
    samples_free(&s);
    return SH_OK;
}
