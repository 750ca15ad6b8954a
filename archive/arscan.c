/*
 * arscan.c - archive_scan(): the archive's files of a time range, row
 * groups skipped by statistics and bloom filters, flows delivered in
 * batches. See archive.h.
 *
 * The scan reads only the file system: it shares nothing with the
 * writer thread but the files. What may change under it, and how it
 * copes:
 *   - a file deleted (retention, cap) after the listing: its open fails
 *     and the name is gone: counted as vanished, skipped. A file
 *     deleted after it was opened is read whole (the descriptor keeps
 *     it).
 *   - FILE.open renamed to FILE (closed) after the listing: the open of
 *     FILE.open fails and the name is gone; FILE is read instead.
 *   - a listing that shows both FILE.open and FILE (a rename between
 *     two readdir calls): FILE alone is read.
 * Row groups of an open file are those its journal lists whole in the
 * file when it is opened (parquet.h).
 */
#include "archive/arint.h"
#include "archive/parquet.h"
#include "engine/schema.h"
#include "util/arena.h"
#include "util/log.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DAY_MS 86400000LL

/* Counters of every scan in the process, for /metrics. */
counter_t archive_scan_totals[ASC_COUNT];

/* ---- names -------------------------------------------------------------- */

/* Days since the epoch of a civil date (proleptic Gregorian). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* n decimal digits at s into *v; 0, or -1 if one is not a digit. */
static int digits(const char *s, int n, int *v)
{
    *v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        *v = *v * 10 + (s[i] - '0');
    }
    return 0;
}

/* "flows-YYYYMMDD-HHMMSS[-N].parquet[.open]": start, N (0 without), and
 * whether it is open. 0, or -1 if the name is not an archive file's. */
int archive_name_parse(const char *name, int64_t *start_ms, int *seq,
                       int *is_open)
{
    int y, mo, d, h, mi, s;
    if (strncmp(name, "flows-", 6) != 0 || digits(name + 6, 4, &y) < 0 ||
        digits(name + 10, 2, &mo) < 0 || digits(name + 12, 2, &d) < 0 ||
        name[14] != '-' || digits(name + 15, 2, &h) < 0 ||
        digits(name + 17, 2, &mi) < 0 || digits(name + 19, 2, &s) < 0)
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 59)
        return -1;
    const char *p = name + 21;
    int n = 0;
    if (*p == '-') {
        p++;
        if (!isdigit((unsigned char)*p) || *p == '0')
            return -1;
        while (isdigit((unsigned char)*p)) {
            n = n * 10 + (*p++ - '0');
            if (n > 1000000)
                return -1;
        }
    }
    if (strcmp(p, ".parquet") == 0)
        *is_open = 0;
    else if (strcmp(p, ".parquet.open") == 0)
        *is_open = 1;
    else
        return -1;
    *seq = n;
    *start_ms = (days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s)
                * 1000;
    return 0;
}

int archive_name_start(const char *name, int64_t *start_ms)
{
    int seq, is_open;
    return archive_name_parse(name, start_ms, &seq, &is_open);
}

/* ---- listing ------------------------------------------------------------- */

static int cmp_file(const void *x, const void *y)
{
    const archive_file_t *a = x, *b = y;
    if (a->start != b->start)
        return a->start < b->start ? -1 : 1;
    if (a->seq != b->seq)
        return a->seq < b->seq ? -1 : 1;
    return a->is_open - b->is_open;   /* FILE before FILE.open */
}

/* The entries of dir whose names are n digits with a value in [lo, hi]. */
static int list_numbered(const char *dir, int n, int lo, int hi, int **out,
                         size_t *count)
{
    *out = NULL;
    *count = 0;
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    size_t cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        int v;
        if (strlen(e->d_name) != (size_t)n || digits(e->d_name, n, &v) < 0 ||
            v < lo || v > hi)
            continue;
        if (*count == cap) {
            cap = cap ? cap * 2 : 16;
            *out = xrealloc(*out, cap * sizeof(int));
        }
        (*out)[(*count)++] = v;
    }
    closedir(d);
    return 0;
}

/* Add the archive files of one day directory to l. */
static void list_day(const char *path, archive_file_list_t *l)
{
    DIR *d = opendir(path);
    if (!d)
        return;
    struct dirent *e;
    size_t cap = l->n;
    while ((e = readdir(d))) {
        archive_file_t f;
        if (archive_name_parse(e->d_name, &f.start, &f.seq, &f.is_open) < 0)
            continue;
        if (l->n == cap) {
            cap = cap < 64 ? 64 : cap * 2;
            l->f = xrealloc(l->f, cap * sizeof(*l->f));
        }
        size_t len = strlen(path) + strlen(e->d_name) + 2;
        f.path = xmalloc(len);
        snprintf(f.path, len, "%s/%s", path, e->d_name);
        f.size = 0;
        l->f[l->n++] = f;
    }
    closedir(d);
}

int archive_list(const char *dir, int64_t lo, int64_t hi,
                 archive_file_list_t *l, diag_t *err)
{
    memset(l, 0, sizeof(*l));
    int *ys, *ms, *ds;
    size_t ny, nm, nd;
    if (list_numbered(dir, 4, 1970, 9999, &ys, &ny) < 0) {
        if (errno == ENOENT)
            return 0;   /* no archive yet: nothing in it */
        diag_set(err, "cannot read the archive directory %s: %s", dir,
                 strerror(errno));
        return -1;
    }
    char path[4096];
    for (size_t i = 0; i < ny; i++) {
        snprintf(path, sizeof(path), "%s/%04d", dir, ys[i]);
        if (list_numbered(path, 2, 1, 12, &ms, &nm) < 0)
            continue;
        for (size_t j = 0; j < nm; j++) {
            snprintf(path, sizeof(path), "%s/%04d/%02d", dir, ys[i], ms[j]);
            if (list_numbered(path, 2, 1, 31, &ds, &nd) < 0)
                continue;
            for (size_t k = 0; k < nd; k++) {
                /* Files of a day start in [day, day + 1d) and end at
                 * most a period (<= 1d) later. */
                int64_t day = days_from_civil(ys[i], ms[j], ds[k]) * DAY_MS;
                if (day > hi || day + 2 * DAY_MS <= lo)
                    continue;
                snprintf(path, sizeof(path), "%s/%04d/%02d/%02d", dir, ys[i],
                         ms[j], ds[k]);
                list_day(path, l);
            }
            free(ds);
        }
        free(ms);
    }
    free(ys);
    if (l->n)
        qsort(l->f, l->n, sizeof(*l->f), cmp_file);
    /* A rename seen half way (FILE.open and FILE both listed): keep FILE. */
    size_t w = 0;
    for (size_t r = 0; r < l->n; r++) {
        if (w > 0 && l->f[r].is_open && !l->f[w - 1].is_open &&
            l->f[w - 1].start == l->f[r].start &&
            l->f[w - 1].seq == l->f[r].seq) {
            free(l->f[r].path);
            continue;
        }
        l->f[w++] = l->f[r];
    }
    l->n = w;
    return 0;
}

void archive_file_list_free(archive_file_list_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->f[i].path);
    free(l->f);
    memset(l, 0, sizeof(*l));
}

/* ---- predicates ---------------------------------------------------------- */

void archive_pred_init(archive_pred_t *p)
{
    memset(p, 0, sizeof(*p));
    p->received = p->start = p->end = ARCHIVE_RANGE_ALL;
}

static int range_set(archive_range_t r)
{
    return r.lo != INT64_MIN || r.hi != INT64_MAX;
}

static int in_ints(const archive_ints_t *s, int64_t v)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->vals[i] == v)
            return 1;
    return 0;
}

static int in_nets(const archive_nets_t *s, const ipaddr_t *ip)
{
    for (size_t i = 0; i < s->n; i++) {
        int bits = s->nets[i].prefix;
        if (bits >= 128 ? ipaddr_eq(ip, &s->nets[i].addr)
                        : ipaddr_in(ip, &s->nets[i].addr, bits < 0 ? 0 : bits))
            return 1;
    }
    return 0;
}

int archive_pred_match(const archive_pred_t *p, const flow_batch_t *b,
                       size_t i)
{
    if (b->received[i] < p->received.lo || b->received[i] > p->received.hi ||
        b->start[i] < p->start.lo || b->start[i] > p->start.hi ||
        b->end[i] < p->end.lo || b->end[i] > p->end.hi)
        return 0;
    if (p->srcip.n && !in_nets(&p->srcip, &b->srcip[i]))
        return 0;
    if (p->dstip.n && !in_nets(&p->dstip, &b->dstip[i]))
        return 0;
    if (p->anyip.n && !in_nets(&p->anyip, &b->srcip[i]) &&
        !in_nets(&p->anyip, &b->dstip[i]))
        return 0;
    if (p->srcport.n && !in_ints(&p->srcport, b->srcport[i]))
        return 0;
    if (p->dstport.n && !in_ints(&p->dstport, b->dstport[i]))
        return 0;
    if (p->anyport.n && !in_ints(&p->anyport, b->srcport[i]) &&
        !in_ints(&p->anyport, b->dstport[i]))
        return 0;
    if (p->proto.n && !in_ints(&p->proto, b->proto[i]))
        return 0;
    return 1;
}

/* The fields p tests. */
static uint64_t pred_fields(const archive_pred_t *p)
{
    uint64_t m = 0;
    if (range_set(p->received))
        m |= 1ull << F_RECEIVED;
    if (range_set(p->start))
        m |= 1ull << F_START;
    if (range_set(p->end))
        m |= 1ull << F_END;
    if (p->srcip.n)
        m |= 1ull << F_SRCIP;
    if (p->dstip.n)
        m |= 1ull << F_DSTIP;
    if (p->anyip.n)
        m |= 1ull << F_SRCIP | 1ull << F_DSTIP;
    if (p->srcport.n)
        m |= 1ull << F_SRCPORT;
    if (p->dstport.n)
        m |= 1ull << F_DSTPORT;
    if (p->anyport.n)
        m |= 1ull << F_SRCPORT | 1ull << F_DSTPORT;
    if (p->proto.n)
        m |= 1ull << F_PROTO;
    return m;
}

/* ---- row group pruning --------------------------------------------------- */

typedef struct cols {
    int received, start, end, srcip, dstip, srcport, dstport, proto;
} cols_t;

/* The last address of net/bits. */
static ipaddr_t net_last(const ipaddr_t *net, int bits)
{
    ipaddr_t x = *net;
    for (int i = 0; i < 16; i++) {
        int keep = bits - i * 8;
        uint8_t mask = keep >= 8 ? 0xff : keep <= 0 ? 0 :
                       (uint8_t)(0xff << (8 - keep));
        x.a[i] = (uint8_t)(x.a[i] | (uint8_t)~mask);
    }
    return x;
}

/* Whether the chunk of column col in row group rg may hold a value of
 * the set: 0 if its min/max or its bloom filter say certainly not. *how
 * is set to 1 when the bloom filter decided. */
static int nets_may(pq_reader_t *r, size_t rg, int col,
                    const archive_nets_t *s, int *how)
{
    if (col < 0)
        return 1;   /* no such column: every value is :: */
    value_t lo, hi;
    int have = pq_reader_minmax(r, rg, (size_t)col, &lo, &hi);
    int exact = s->n <= 64, any = 0;
    for (size_t i = 0; i < s->n; i++) {
        int bits = s->nets[i].prefix < 0 ? 0 : s->nets[i].prefix;
        if (bits < 128)
            exact = 0;
        ipaddr_t first = ipaddr_mask(&s->nets[i].addr, bits > 128 ? 128 : bits);
        ipaddr_t last = net_last(&first, bits);
        if (!have || (ipaddr_cmp(&last, &lo.ip) >= 0 &&
                      ipaddr_cmp(&first, &hi.ip) <= 0)) {
            any = 1;
            if (!exact)
                break;
        }
    }
    if (!any)
        return 0;
    if (!exact)
        return 1;
    /* A column with bounds on several pages (sorted: the archive's
     * srcip in a big row group) is pruned by its page index instead:
     * reading the one page an address may be in costs about what its
     * bloom filter would, and the filter rarely says no to a host that
     * talks all day. */
    const value_t *mins = NULL;
    if (pq_reader_pages(r, rg, (size_t)col, NULL, &mins, NULL) > 2 && mins)
        return 1;
    for (size_t i = 0; i < s->n; i++) {
        value_t v;
        v.ip = s->nets[i].addr;
        if ((!have || (ipaddr_cmp(&v.ip, &lo.ip) >= 0 &&
                       ipaddr_cmp(&v.ip, &hi.ip) <= 0)) &&
            pq_reader_bloom(r, rg, (size_t)col, &v))
            return 1;
    }
    *how = 1;
    return 0;
}

static int ints_may(pq_reader_t *r, size_t rg, int col,
                    const archive_ints_t *s)
{
    value_t lo, hi;
    if (col < 0) {
        lo.i = hi.i = 0;
    } else if (!pq_reader_minmax(r, rg, (size_t)col, &lo, &hi)) {
        return 1;
    }
    for (size_t i = 0; i < s->n; i++)
        if (s->vals[i] >= lo.i && s->vals[i] <= hi.i)
            return 1;
    return 0;
}

static int range_may(pq_reader_t *r, size_t rg, int col, archive_range_t q)
{
    value_t lo, hi;
    if (!range_set(q))
        return 1;
    if (col < 0)
        lo.i = hi.i = 0;
    else if (!pq_reader_minmax(r, rg, (size_t)col, &lo, &hi))
        return 1;
    return hi.i >= q.lo && lo.i <= q.hi;
}

/* 0: the row group holds no flow matching p (*bloom = 1 if a bloom
 * filter decided it), 1: it may. */
static int rg_may(pq_reader_t *r, size_t rg, const cols_t *c,
                  const archive_pred_t *p, int *bloom)
{
    *bloom = 0;
    if (!range_may(r, rg, c->received, p->received) ||
        !range_may(r, rg, c->start, p->start) ||
        !range_may(r, rg, c->end, p->end))
        return 0;
    if ((p->srcport.n && !ints_may(r, rg, c->srcport, &p->srcport)) ||
        (p->dstport.n && !ints_may(r, rg, c->dstport, &p->dstport)) ||
        (p->proto.n && !ints_may(r, rg, c->proto, &p->proto)) ||
        (p->anyport.n && !ints_may(r, rg, c->srcport, &p->anyport) &&
         !ints_may(r, rg, c->dstport, &p->anyport)))
        return 0;
    int how = 0;
    if ((p->srcip.n && !nets_may(r, rg, c->srcip, &p->srcip, &how)) ||
        (p->dstip.n && !nets_may(r, rg, c->dstip, &p->dstip, &how)) ||
        (p->anyip.n && !nets_may(r, rg, c->srcip, &p->anyip, &how) &&
         !nets_may(r, rg, c->dstip, &p->anyip, &how))) {
        *bloom = how;
        return 0;
    }
    return 1;
}

/* ---- page pruning --------------------------------------------------------- */

/*
 * Rows of a row group as sorted, disjoint [lo, hi) ranges. Each term of
 * the predicate whose column has a page index with bounds (a column
 * index: the archive writes one for srcip, by which its row groups are
 * sorted) keeps the rows of the pages whose bounds may hold a match;
 * the terms are ANDed, the either-address and either-port terms ORed
 * over their two columns.
 */
typedef struct sel {
    pq_rows_t *r;
    size_t     n, cap;
} sel_t;

static void sel_add(sel_t *s, int64_t lo, int64_t hi)
{
    if (lo >= hi)
        return;
    if (s->n && s->r[s->n - 1].hi >= lo) {      /* adjoins the last */
        if (hi > s->r[s->n - 1].hi)
            s->r[s->n - 1].hi = hi;
        return;
    }
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        s->r = xrealloc(s->r, s->cap * sizeof(*s->r));
    }
    s->r[s->n++] = (pq_rows_t){lo, hi};
}

/* out = a AND b (or a OR b); out is emptied first and distinct. */
static void sel_merge(const sel_t *a, const sel_t *b, int or, sel_t *out)
{
    out->n = 0;
    if (or) {
        size_t i = 0, j = 0;
        while (i < a->n || j < b->n) {
            if (j >= b->n || (i < a->n && a->r[i].lo <= b->r[j].lo)) {
                sel_add(out, a->r[i].lo, a->r[i].hi);
                i++;
            } else {
                sel_add(out, b->r[j].lo, b->r[j].hi);
                j++;
            }
        }
        return;
    }
    for (size_t i = 0, j = 0; i < a->n && j < b->n;) {
        int64_t lo = a->r[i].lo > b->r[j].lo ? a->r[i].lo : b->r[j].lo;
        int64_t hi = a->r[i].hi < b->r[j].hi ? a->r[i].hi : b->r[j].hi;
        sel_add(out, lo, hi);
        if (a->r[i].hi < b->r[j].hi)
            i++;
        else
            j++;
    }
}

static void sel_swap(sel_t *a, sel_t *b)
{
    sel_t t = *a;
    *a = *b;
    *b = t;
}

typedef int (*page_may_fn)(const value_t *lo, const value_t *hi,
                           const void *arg);

static int nets_page(const value_t *lo, const value_t *hi, const void *arg)
{
    const archive_nets_t *s = arg;
    for (size_t i = 0; i < s->n; i++) {
        int bits = s->nets[i].prefix < 0 ? 0 : s->nets[i].prefix;
        ipaddr_t first = ipaddr_mask(&s->nets[i].addr, bits > 128 ? 128 : bits);
        ipaddr_t last = net_last(&first, bits);
        if (ipaddr_cmp(&last, &lo->ip) >= 0 && ipaddr_cmp(&first, &hi->ip) <= 0)
            return 1;
    }
    return 0;
}

static int ints_page(const value_t *lo, const value_t *hi, const void *arg)
{
    const archive_ints_t *s = arg;
    for (size_t i = 0; i < s->n; i++)
        if (s->vals[i] >= lo->i && s->vals[i] <= hi->i)
            return 1;
    return 0;
}

static int range_page(const value_t *lo, const value_t *hi, const void *arg)
{
    const archive_range_t *q = arg;
    return hi->i >= q->lo && lo->i <= q->hi;
}

/* The rows of column col's pages that may hold a value passing may: 1,
 * or 0 when the chunk has no page bounds (then every row may). */
static int term_rows(pq_reader_t *r, size_t rg, int col, page_may_fn may,
                     const void *arg, sel_t *out)
{
    const int64_t *first;
    const value_t *mins, *maxs;
    out->n = 0;
    if (col < 0)
        return 0;
    size_t np = pq_reader_pages(r, rg, (size_t)col, &first, &mins, &maxs);
    if (!np || !mins)
        return 0;
    for (size_t i = 0; i < np; i++)
        if (may(&mins[i], &maxs[i], arg))
            sel_add(out, first[i], first[i + 1]);
    return 1;
}

typedef struct pages {
    sel_t sel, t, u, tmp;
} pages_t;

/* AND the rows of one term into pg->sel. */
static void and_term(pq_reader_t *r, size_t rg, int col, page_may_fn may,
                     const void *arg, pages_t *pg)
{
    if (term_rows(r, rg, col, may, arg, &pg->t)) {
        sel_merge(&pg->sel, &pg->t, 0, &pg->tmp);
        sel_swap(&pg->sel, &pg->tmp);
    }
}

/* AND the rows of a term on either of two columns into pg->sel. */
static void and_either(pq_reader_t *r, size_t rg, int c1, int c2,
                       page_may_fn may, const void *arg, pages_t *pg)
{
    if (!term_rows(r, rg, c1, may, arg, &pg->t) ||
        !term_rows(r, rg, c2, may, arg, &pg->u))
        return;                          /* one column: every row may */
    sel_merge(&pg->t, &pg->u, 1, &pg->tmp);
    sel_swap(&pg->t, &pg->tmp);
    sel_merge(&pg->sel, &pg->t, 0, &pg->tmp);
    sel_swap(&pg->sel, &pg->tmp);
}

/* pg->sel: the rows of row group rg the page indexes cannot rule out. */
static void rg_pages(pq_reader_t *r, size_t rg, int64_t rows, const cols_t *c,
                     const archive_pred_t *p, pages_t *pg)
{
    pg->sel.n = 0;
    sel_add(&pg->sel, 0, rows);
    if (range_set(p->received))
        and_term(r, rg, c->received, range_page, &p->received, pg);
    if (range_set(p->start))
        and_term(r, rg, c->start, range_page, &p->start, pg);
    if (range_set(p->end))
        and_term(r, rg, c->end, range_page, &p->end, pg);
    if (p->srcip.n)
        and_term(r, rg, c->srcip, nets_page, &p->srcip, pg);
    if (p->dstip.n)
        and_term(r, rg, c->dstip, nets_page, &p->dstip, pg);
    if (p->anyip.n)
        and_either(r, rg, c->srcip, c->dstip, nets_page, &p->anyip, pg);
    if (p->srcport.n)
        and_term(r, rg, c->srcport, ints_page, &p->srcport, pg);
    if (p->dstport.n)
        and_term(r, rg, c->dstport, ints_page, &p->dstport, pg);
    if (p->anyport.n)
        and_either(r, rg, c->srcport, c->dstport, ints_page, &p->anyport, pg);
    if (p->proto.n)
        and_term(r, rg, c->proto, ints_page, &p->proto, pg);
}

/* ---- reading ------------------------------------------------------------- */

typedef struct scan {
    const archive_pred_t *p;
    uint64_t              fields;
    unsigned              flags;
    archive_batch_fn      cb;
    void                 *ctx;
    archive_scan_stats_t *st;
    flow_batch_t         *out;      /* matching rows (EXACT) */
    uint64_t              delivered;/* rows given in this row group */
    int                   stopped;
    pages_t               pg;       /* rows of a row group to read */
    sel_t                *rgsel;    /* per row group of a file */
    size_t                rgcap;
} scan_t;

#define COPY_FIELD(f, col) \
    if (s->fields & 1ull << (f)) \
        out->col[k] = b->col[i]

/* pq_reader_read's callback: filter (EXACT) and pass on. */
static int on_batch(void *ctx, const flow_batch_t *b)
{
    scan_t *s = ctx;
    s->st->rows_read += b->n;
    if (!(s->flags & ARCHIVE_SCAN_EXACT)) {
        s->st->rows_matched += b->n;
        s->delivered += b->n;
        return s->stopped = s->cb(s->ctx, b) != 0;
    }
    flow_batch_t *out = s->out;
    flow_batch_reset(out);
    for (uint32_t i = 0; i < b->n; i++) {
        if (!archive_pred_match(s->p, b, i))
            continue;
        uint32_t k = out->n++;
        COPY_FIELD(F_SRCIP, srcip);
        COPY_FIELD(F_DSTIP, dstip);
        COPY_FIELD(F_NEXTHOP, nexthop);
        COPY_FIELD(F_EXPORTER, exporter);
        COPY_FIELD(F_START, start);
        COPY_FIELD(F_END, end);
        COPY_FIELD(F_RECEIVED, received);
        COPY_FIELD(F_PACKETS, packets);
        COPY_FIELD(F_BYTES, bytes);
        COPY_FIELD(F_SRCPORT, srcport);
        COPY_FIELD(F_DSTPORT, dstport);
        COPY_FIELD(F_PROTO, proto);
        COPY_FIELD(F_TCPFLAGS, tcpflags);
        COPY_FIELD(F_TOS, tos);
        COPY_FIELD(F_INGRESS, ingress);
        COPY_FIELD(F_EGRESS, egress);
        COPY_FIELD(F_SRCAS, srcas);
        COPY_FIELD(F_DSTAS, dstas);
        COPY_FIELD(F_SRCMASK, srcmask);
        COPY_FIELD(F_DSTMASK, dstmask);
        COPY_FIELD(F_VLAN, vlan);
        COPY_FIELD(F_DIRECTION, direction);
        COPY_FIELD(F_SAMPLING, sampling);
        COPY_FIELD(F_DOMAIN, domain);
    }
    if (!out->n)
        return 0;
    s->st->rows_matched += out->n;
    s->delivered += out->n;
    return s->stopped = s->cb(s->ctx, out) != 0;
}

static int col_of(pq_reader_t *r, int field)
{
    return pq_reader_find(r, schema_fields[field].name);
}

static int exists(const char *path)
{
    struct stat sb;
    return lstat(path, &sb) == 0 || errno != ENOENT;
}

static log_limit_t bad_log;

/* Open f for reading: NULL if it vanished (counted) or is corrupt
 * (counted, logged). An open file renamed meanwhile is opened under its
 * final name. */
static pq_reader_t *open_file(archive_file_t *f, archive_scan_stats_t *st)
{
    diag_t err;
    diag_clear(&err);
    pq_reader_t *r = pq_reader_open(f->path, &err);
    if (r)
        return r;
    if (f->is_open && !exists(f->path)) {
        /* Closed since the listing: FILE.open became FILE. */
        f->path[strlen(f->path) - 5] = 0;
        f->is_open = 0;
        diag_clear(&err);
        if ((r = pq_reader_open(f->path, &err)))
            return r;
    }
    if (!exists(f->path)) {
        st->files_vanished++;
        return NULL;
    }
    if (f->is_open) {
        /* Being created (its journal not written yet) or being closed:
         * nothing flushed to read yet, or the final file appears next. */
        char *j = xmalloc(strlen(f->path) + 16);
        strcpy(j, f->path);
        strcpy(j + strlen(j) - 5, ".journal");
        int has_journal = exists(j);
        free(j);
        if (!has_journal) {
            st->files_vanished++;
            return NULL;
        }
    }
    st->files_bad++;
    log_limited(&bad_log, LOG_WARN, "archive", "scan: skipped a file: %s",
                err.msg);
    return NULL;
}

/* Search one file. 0, or 1 when the callback stopped the scan. */
static int scan_file(scan_t *s, archive_file_t *f)
{
    const archive_pred_t *p = s->p;
    archive_scan_stats_t *st = s->st;
    pq_reader_t *r = open_file(f, st);
    if (!r)
        return 0;
    const char *e = pq_reader_kv(r, "flowsql.partition.end");
    if (e && range_set(p->received) && strtoll(e, NULL, 10) <= p->received.lo) {
        st->files_pruned++;
        pq_reader_close(r);
        return 0;
    }
    st->files_read++;
    cols_t c = {
        col_of(r, F_RECEIVED), col_of(r, F_START), col_of(r, F_END),
        col_of(r, F_SRCIP), col_of(r, F_DSTIP), col_of(r, F_SRCPORT),
        col_of(r, F_DSTPORT), col_of(r, F_PROTO),
    };
    size_t nrg = pq_reader_nrowgroups(r);
    st->row_groups += nrg;
    int rc = 0;
    /* First which rows of which row groups to read, the kernel told to
     * fetch them all at once; then the reads. */
    if (nrg > s->rgcap) {
        s->rgsel = xrealloc(s->rgsel, nrg * sizeof(*s->rgsel));
        memset(s->rgsel + s->rgcap, 0, (nrg - s->rgcap) * sizeof(*s->rgsel));
        s->rgcap = nrg;
    }
    for (size_t rg = 0; rg < nrg; rg++) {
        int bloom;
        sel_t *sel = &s->rgsel[rg];
        sel->n = 0;
        if (!rg_may(r, rg, &c, p, &bloom)) {
            if (bloom)
                st->rg_pruned_bloom++;
            else
                st->rg_pruned_stats++;
            continue;
        }
        int64_t rows = pq_reader_rg_rows(r, rg), want = 0;
        rg_pages(r, rg, rows, &c, p, &s->pg);
        for (size_t k = 0; k < s->pg.sel.n; k++) {
            want += s->pg.sel.r[k].hi - s->pg.sel.r[k].lo;
            sel_add(sel, s->pg.sel.r[k].lo, s->pg.sel.r[k].hi);
        }
        st->rows_pruned_pages += (uint64_t)(rows - want);
        if (!want)
            st->rg_pruned_stats++;       /* by the page index */
        else if (want < rows)
            pq_reader_prefetch(r, rg, s->fields, sel->r, sel->n);
    }
    for (size_t rg = 0; rg < nrg; rg++) {
        sel_t *sel = &s->rgsel[rg];
        if (!sel->n)
            continue;
        st->rg_read++;
        s->delivered = 0;
        diag_t err;
        diag_clear(&err);
        uint64_t before = pq_reader_bytes_read(r);
        int rrc = pq_reader_read_sel(r, rg, s->fields, sel->r, sel->n,
                                     on_batch, s, &err);
        st->bytes_read += pq_reader_bytes_read(r) - before;
        if (rrc < 0) {
            st->files_bad++;
            log_limited(&bad_log, LOG_WARN, "archive", "%s: skipped from row "
                        "group %zu: %s", f->path, rg, err.msg);
            break;
        }
        if (rrc > 0 || s->stopped) {
            rc = 1;
            break;
        }
        if (!s->delivered) {
            /* Control back to the caller after every row group read. */
            flow_batch_reset(s->out);
            if (s->cb(s->ctx, s->out) != 0) {
                rc = 1;
                break;
            }
        }
    }
    pq_reader_close(r);
    return rc;
}

/* Search f unless its name puts it out of the received range. */
static int scan_one(scan_t *s, archive_file_t *f)
{
    const archive_pred_t *p = s->p;
    s->st->files++;
    /* Every flow of a file was received in [start, start + period), and
     * a period is at most a day. */
    if (f->start > p->received.hi ||
        (p->received.lo != INT64_MIN && f->start + DAY_MS <= p->received.lo)) {
        s->st->files_pruned++;
        return 0;
    }
    return scan_file(s, f);
}

/* Whether l (sorted) has the file of f's partition and number. */
static int listed(const archive_file_list_t *l, const archive_file_t *f)
{
    size_t lo = 0, hi = l->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const archive_file_t *m = &l->f[mid];
        if (m->start < f->start || (m->start == f->start && m->seq < f->seq))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < l->n && l->f[lo].start == f->start && l->f[lo].seq == f->seq;
}

static void add_totals(const archive_scan_stats_t *st)
{
    ctr_add(&archive_scan_totals[ASC_SCANS], 1);
    ctr_add(&archive_scan_totals[ASC_FILES_READ], st->files_read);
    ctr_add(&archive_scan_totals[ASC_FILES_PRUNED], st->files_pruned);
    ctr_add(&archive_scan_totals[ASC_FILES_VANISHED], st->files_vanished);
    ctr_add(&archive_scan_totals[ASC_FILES_BAD], st->files_bad);
    ctr_add(&archive_scan_totals[ASC_RG_READ], st->rg_read);
    ctr_add(&archive_scan_totals[ASC_RG_PRUNED_STATS], st->rg_pruned_stats);
    ctr_add(&archive_scan_totals[ASC_RG_PRUNED_BLOOM], st->rg_pruned_bloom);
    ctr_add(&archive_scan_totals[ASC_ROWS_READ], st->rows_read);
    ctr_add(&archive_scan_totals[ASC_BYTES_READ], st->bytes_read);
}

int archive_scan(const char *dir, const archive_pred_t *p, uint64_t fields,
                 unsigned flags, archive_batch_fn cb, void *ctx,
                 archive_scan_stats_t *st, diag_t *err)
{
    archive_pred_t all;
    archive_scan_stats_t local = {0};
    if (!p) {
        archive_pred_init(&all);
        p = &all;
    }
    scan_t s = {.p = p, .fields = fields & ((1ull << F_COUNT) - 1),
                .flags = flags, .cb = cb, .ctx = ctx, .st = &local};
    if (flags & ARCHIVE_SCAN_EXACT)
        s.fields |= pred_fields(p);
    archive_file_list_t l;
    if (archive_list(dir, p->received.lo, p->received.hi, &l, err) < 0)
        return -1;
    s.out = xcalloc(1, sizeof(flow_batch_t));   /* unread fields are 0 */
    int rc = 0;
    int64_t newest = INT64_MIN;
    for (size_t i = 0; i < l.n && !rc; i++) {
        archive_file_t *f = &l.f[i];
        if (f->start > newest)
            newest = f->start;
        rc = scan_one(&s, f);
    }
    /* A directory listing may miss a file renamed while it is read
     * (FILE.open -> FILE: neither name seen). List again: a file of a
     * partition listed already (so it existed then) that the first
     * listing missed is read now, after the others. */
    archive_file_list_t l2;
    if (!rc && l.n && archive_list(dir, p->received.lo, p->received.hi, &l2,
                                   NULL) == 0) {
        for (size_t i = 0; i < l2.n && !rc; i++) {
            archive_file_t *f = &l2.f[i];
            if (f->start > newest || listed(&l, f))
                continue;
            rc = scan_one(&s, f);
        }
        archive_file_list_free(&l2);
    }
    flow_batch_free(s.out);
    free(s.pg.sel.r);
    free(s.pg.t.r);
    free(s.pg.u.r);
    free(s.pg.tmp.r);
    for (size_t i = 0; i < s.rgcap; i++)
        free(s.rgsel[i].r);
    free(s.rgsel);
    archive_file_list_free(&l);
    add_totals(&local);
    if (st) {
        st->files += local.files;
        st->files_pruned += local.files_pruned;
        st->files_read += local.files_read;
        st->files_vanished += local.files_vanished;
        st->files_bad += local.files_bad;
        st->row_groups += local.row_groups;
        st->rg_pruned_stats += local.rg_pruned_stats;
        st->rg_pruned_bloom += local.rg_pruned_bloom;
        st->rg_read += local.rg_read;
        st->rows_read += local.rows_read;
        st->rows_matched += local.rows_matched;
        st->rows_pruned_pages += local.rows_pruned_pages;
        st->bytes_read += local.bytes_read;
    }
    return rc;
}
