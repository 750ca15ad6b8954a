/*
 * output.c - results as aligned tables, CSV and JSON; the pager and \o.
 * See shell.h.
 *
 * Values arrive as JSON from the server, addresses and times already as
 * text. Numbers are printed exactly (integers in full, floats in the
 * shortest form that reads back as the same double), in every format.
 * Tables right-align number columns; thousands separators are off by
 * default (\numbers grouped turns them on, tables only) because many
 * integer columns are identifiers - ports, AS numbers, interface
 * indexes - that read wrong as "50,000".
 */
#include "sinks/format.h"
#include "shell/shell.h"
#include "util/arena.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

size_t out_width(const char *s, size_t len)
{
    size_t w = 0;
    for (size_t i = 0; i < len; i++)
        if (((unsigned char)s[i] & 0xc0) != 0x80)
            w++;
    return w;
}

void out_group_digits(sbuf_t *b, const char *digits)
{
    if (*digits == '-' || *digits == '+')
        sbuf_addc(b, *digits++);
    size_t n = strlen(digits);
    for (size_t i = 0; i < n; i++) {
        if (i && (n - i) % 3 == 0)
            sbuf_addc(b, ',');
        sbuf_addc(b, digits[i]);
    }
}

/* The shortest text that reads back as the same double. */
static void add_real(sbuf_t *b, double d)
{
    char buf[40];
    if (!isfinite(d)) {
        sbuf_add(b, isnan(d) ? "NaN" : d > 0 ? "Infinity" : "-Infinity");
        return;
    }
    /* No exponent for numbers people read as they are (1000, not
     * 1e+03); very large and very small ones keep it. */
    double a = fabs(d);
    int plain_ok = a == 0 || (a >= 1e-4 && a < 1e15);
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof(buf), "%.*g", prec, d);
        if (plain_ok && strchr(buf, 'e') && prec < 17)
            continue;
        if (strtod(buf, NULL) == d)
            break;
    }
    sbuf_add(b, buf);
}

/* JSON text with our number format (jansson would print 0.1 as
 * 0.10000000000000001). */
void out_json(sbuf_t *b, json_t *v)
{
    if (json_is_real(v)) {
        add_real(b, json_real_value(v));
    } else if (json_is_object(v)) {
        const char *k;
        json_t *x;
        int first = 1;
        sbuf_addc(b, '{');
        json_object_foreach(v, k, x) {
            if (!first)
                sbuf_addc(b, ',');
            first = 0;
            json_t *ks = json_string(k);
            char *t = json_dumps(ks, JSON_ENCODE_ANY);
            sbuf_add(b, t);
            free(t);
            json_decref(ks);
            sbuf_addc(b, ':');
            out_json(b, x);
        }
        sbuf_addc(b, '}');
    } else if (json_is_array(v)) {
        size_t i;
        json_t *x;
        sbuf_addc(b, '[');
        json_array_foreach(v, i, x) {
            if (i)
                sbuf_addc(b, ',');
            out_json(b, x);
        }
        sbuf_addc(b, ']');
    } else {
        char *t = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        sbuf_add(b, t ? t : "null");
        free(t);
    }
}

void out_cell(sbuf_t *b, json_t *v, int grouped)
{
    char buf[32];
    if (!v || json_is_null(v))
        return;
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        for (; *s; s++) {
            unsigned char c = (unsigned char)*s;
            if (c == '\n')
                sbuf_add(b, "\\n");
            else if (c == '\t')
                sbuf_add(b, "\\t");
            else if (c == '\r')
                sbuf_add(b, "\\r");
            else if (c < 0x20 || c == 0x7f) {
                snprintf(buf, sizeof(buf), "\\x%02x", c);
                sbuf_add(b, buf);
            } else
                sbuf_addc(b, (char)c);
        }
    } else if (json_is_integer(v)) {
        snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(v));
        if (grouped)
            out_group_digits(b, buf);
        else
            sbuf_add(b, buf);
    } else if (json_is_real(v)) {
        add_real(b, json_real_value(v));
    } else if (json_is_boolean(v)) {
        sbuf_add(b, json_is_true(v) ? "true" : "false");
    } else {
        out_json(b, v);
    }
}

static void pad(sbuf_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sbuf_addc(b, ' ');
}

static void end_line(sbuf_t *b)
{
    while (b->len && b->s[b->len - 1] == ' ')
        b->len--;
    sbuf_addc(b, '\n');
}

void out_table(sbuf_t *b, json_t *cols, json_t *rows, const table_opts_t *o)
{
    size_t ncols = json_array_size(cols), nrows = json_array_size(rows);
    if (o->title)
        sbuf_printf(b, "%s\n", o->title);
    if (ncols > 0) {
        size_t *w = xcalloc(ncols, sizeof(size_t));
        int *num = xcalloc(ncols, sizeof(int));
        char **cell = xcalloc(nrows * ncols + 1, sizeof(char *));
        for (size_t c = 0; c < ncols; c++) {
            const char *name = json_string_value(json_array_get(cols, c));
            w[c] = out_width(name ? name : "", name ? strlen(name) : 0);
            num[c] = -1;    /* unknown until a value is seen */
        }
        for (size_t r = 0; r < nrows; r++) {
            json_t *row = json_array_get(rows, r);
            for (size_t c = 0; c < ncols; c++) {
                json_t *v = json_array_get(row, c);
                sbuf_t t = SBUF_INIT;
                out_cell(&t, v, o->grouped);
                cell[r * ncols + c] = sbuf_detach(&t);
                size_t cw = out_width(cell[r * ncols + c],
                                      strlen(cell[r * ncols + c]));
                if (cw > w[c])
                    w[c] = cw;
                if (v && !json_is_null(v))
                    num[c] = (num[c] != 0) && json_is_number(v);
            }
        }
        /* header: names centred */
        for (size_t c = 0; c < ncols; c++) {
            const char *name = json_string_value(json_array_get(cols, c));
            if (!name)
                name = "";
            size_t nw = out_width(name, strlen(name));
            size_t left = (w[c] - nw) / 2;
            sbuf_addc(b, c ? '|' : ' ');
            if (c)
                sbuf_addc(b, ' ');
            pad(b, left);
            sbuf_add(b, name);
            pad(b, w[c] - nw - left + 1);
        }
        end_line(b);
        for (size_t c = 0; c < ncols; c++) {
            if (c)
                sbuf_addc(b, '+');
            for (size_t i = 0; i < w[c] + 2; i++)
                sbuf_addc(b, '-');
        }
        sbuf_addc(b, '\n');
        for (size_t r = 0; r < nrows; r++) {
            for (size_t c = 0; c < ncols; c++) {
                const char *s = cell[r * ncols + c];
                size_t cw = out_width(s, strlen(s));
                sbuf_addc(b, c ? '|' : ' ');
                if (c)
                    sbuf_addc(b, ' ');
                if (num[c] == 1) {
                    pad(b, w[c] - cw);
                    sbuf_add(b, s);
                    sbuf_addc(b, ' ');
                } else {
                    sbuf_add(b, s);
                    pad(b, w[c] - cw + 1);
                }
            }
            end_line(b);
        }
        for (size_t i = 0; i < nrows * ncols; i++)
            free(cell[i]);
        free(cell);
        free(num);
        free(w);
    }
    if (o->footer)
        sbuf_printf(b, "(%zu row%s)\n", nrows, nrows == 1 ? "" : "s");
}

void out_csv(sbuf_t *b, json_t *cols, json_t *rows, int header)
{
    size_t ncols = json_array_size(cols);
    size_t r;
    json_t *row;
    if (header) {
        for (size_t c = 0; c < ncols; c++) {
            if (c)
                sbuf_addc(b, ',');
            const char *name = json_string_value(json_array_get(cols, c));
            format_csv_text(b, name ? name : "");
        }
        sbuf_addc(b, '\n');
    }
    json_array_foreach(rows, r, row) {
        for (size_t c = 0; c < ncols; c++) {
            if (c)
                sbuf_addc(b, ',');
            json_t *v = json_array_get(row, c);
            if (!v || json_is_null(v))
                continue;
            sbuf_t t = SBUF_INIT;
            if (json_is_string(v))
                sbuf_add(&t, json_string_value(v));
            else if (json_is_integer(v) || json_is_real(v) ||
                     json_is_boolean(v))
                out_cell(&t, v, 0);
            else
                out_json(&t, v);
            format_csv_text(b, sbuf_str(&t));
            sbuf_free(&t);
        }
        sbuf_addc(b, '\n');
    }
}

void out_json_rows(sbuf_t *b, json_t *cols, json_t *rows)
{
    size_t ncols = json_array_size(cols);
    size_t r;
    json_t *row;
    json_array_foreach(rows, r, row) {
        json_t *o = json_object();
        for (size_t c = 0; c < ncols; c++) {
            const char *name = json_string_value(json_array_get(cols, c));
            json_t *v = json_array_get(row, c);
            json_object_set(o, name ? name : "", v ? v : json_null());
        }
        out_json(b, o);
        sbuf_addc(b, '\n');
        json_decref(o);
    }
}

/* ---- where output goes ---------------------------------------------------- */

static void term_size(int *rows, int *cols)
{
    struct winsize ws;
    *rows = 24;
    *cols = 80;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0) {
        *rows = ws.ws_row;
        *cols = ws.ws_col;
    }
}

/* Longer or wider than the terminal? */
static int needs_pager(const char *text, size_t len)
{
    int rows, cols;
    term_size(&rows, &cols);
    size_t lines = 0, width = 0, maxw = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '\n') {
            lines++;
            if (width > maxw)
                maxw = width;
            width = 0;
        } else if (((unsigned char)text[i] & 0xc0) != 0x80) {
            width++;
        }
    }
    return lines >= (size_t)rows - 1 || maxw > (size_t)cols;
}

void out_emit(shell_t *sh, const char *text, size_t len, int pageable)
{
    if (pageable && sh->pager && sh->out == stdout &&
        isatty(STDOUT_FILENO) && needs_pager(text, len)) {
        const char *pg = getenv("FLOWSQL_PAGER");
        if (!pg)
            pg = getenv("PAGER");
        if (!pg)
            pg = "less";
        if (*pg) {
            /* less: quit if it fits after all, keep colours, chop long
             * lines (scroll sideways), leave the text on the screen. */
            if (!getenv("LESS"))
                setenv("LESS", "FRSX", 1);
            fflush(stdout);
            FILE *p = popen(pg, "w");
            if (p) {
                fwrite(text, 1, len, p);
                pclose(p);
                /* Ctrl-C in the pager is the pager's. */
                if (sh->interactive)
                    sig_clear();
                return;
            }
        }
    }
    fwrite(text, 1, len, sh->out);
    fflush(sh->out);
}

void out_result(shell_t *sh, json_t *cols, json_t *rows, const char *title)
{
    sbuf_t b = SBUF_INIT;
    switch (sh->format) {
    case FMT_CSV:
        out_csv(&b, cols, rows, 1);
        break;
    case FMT_JSON:
        out_json_rows(&b, cols, rows);
        break;
    default: {
        table_opts_t o = {.grouped = sh->grouped, .footer = 1, .title = title};
        out_table(&b, cols, rows, &o);
        if (sh->interactive)
            sbuf_addc(&b, '\n');
    }
    }
    out_emit(sh, sbuf_str(&b), b.len, 1);
    sbuf_free(&b);
}

int out_redirect(shell_t *sh, const char *path)
{
    FILE *f = stdout;
    if (path && *path) {
        f = fopen(path, "w");
        if (!f) {
            sh_error(sh, "cannot write %s: %s", path, strerror(errno));
            return SH_ERR;
        }
    }
    if (sh->out && sh->out != stdout)
        fclose(sh->out);
    free(sh->out_path);
    sh->out = f;
    sh->out_path = f == stdout ? NULL : xstrdup(path);
    return SH_OK;
}
