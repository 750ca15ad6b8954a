/* netset.c - network sets and their matcher; see netset.h. */
#include "engine/netset.h"
#include "util/arena.h"
#include "util/file.h"

#include <ctype.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- the matcher ----------------------------------------------------------- */

typedef unsigned __int128 u128;

typedef struct range {
    u128 lo, hi;               /* inclusive */
} range_t;

typedef struct range4 {
    uint32_t lo, hi;           /* together: a hit reads one cache line */
} range4_t;

struct netmatch {
    atomic_int refs;
    uint32_t   n4, n6;
    range4_t  *r4;             /* IPv4 (::ffff:0:0/96) ranges, host order */
    uint32_t  *first16;        /* large sets: [a] = the first IPv4 range
                                  starting at or after a.0.0.0/16 (65537) */
    u128      *lo6, *hi6;      /* ranges reaching outside that block */
};

/* IPv4 sets of this many ranges or more get the /16 index: a lookup then
 * searches only the ranges starting in its /16 (one or two cache misses
 * instead of twenty) for 256 kB per set. */
#define INDEX16_MIN 4096

/* ::ffff:0.0.0.0, where IPv4 lives in the 128-bit space. */
#define V4_BASE ((u128)0xffffu << 32)
#define V4_LAST (V4_BASE | 0xffffffffu)

static inline u128 ip_u128(const ipaddr_t *ip)
{
    uint64_t h, l;
    memcpy(&h, ip->a, 8);
    memcpy(&l, ip->a + 8, 8);
    return (u128)__builtin_bswap64(h) << 64 | __builtin_bswap64(l);
}

static inline range_t prefix_range(const ipaddr_t *net, int bits)
{
    u128 lo = ip_u128(net);
    u128 host = bits <= 0 ? ~(u128)0 : bits >= 128 ? 0
              : ((u128)1 << (128 - bits)) - 1;
    return (range_t){lo & ~host, lo | host};
}

static int range_cmp(const void *p, const void *q)
{
    const range_t *a = p, *b = q;
    return a->lo < b->lo ? -1 : a->lo > b->lo;
}

/* Sort and merge r[0..n) in place, then lay the ranges out by family. */
static netmatch_t *build(range_t *r, size_t n)
{
    qsort(r, n, sizeof(range_t), range_cmp);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (m && (r[m - 1].hi == ~(u128)0 || r[i].lo <= r[m - 1].hi + 1)) {
            if (r[i].hi > r[m - 1].hi)
                r[m - 1].hi = r[i].hi;
        } else {
            r[m++] = r[i];
        }
    }
    netmatch_t *x = xcalloc(1, sizeof(*x));
    atomic_init(&x->refs, 1);
    for (size_t i = 0; i < m; i++) {
        x->n4 += r[i].lo <= V4_LAST && r[i].hi >= V4_BASE;
        x->n6 += r[i].lo < V4_BASE || r[i].hi > V4_LAST;
    }
    x->r4 = xcalloc((size_t)x->n4 + 1, sizeof(range4_t));
    x->lo6 = xcalloc((size_t)x->n6 + 1, sizeof(u128));
    x->hi6 = xcalloc((size_t)x->n6 + 1, sizeof(u128));
    uint32_t k4 = 0, k6 = 0;
    for (size_t i = 0; i < m; i++) {
        if (r[i].lo <= V4_LAST && r[i].hi >= V4_BASE) {
            x->r4[k4].lo = r[i].lo < V4_BASE ? 0 : (uint32_t)(r[i].lo - V4_BASE);
            x->r4[k4].hi = r[i].hi > V4_LAST ? 0xffffffffu
                                           : (uint32_t)(r[i].hi - V4_BASE);
            k4++;
        }
        if (r[i].lo < V4_BASE || r[i].hi > V4_LAST) {
            x->lo6[k6] = r[i].lo;
            x->hi6[k6] = r[i].hi;
            k6++;
        }
    }
    if (x->n4 >= INDEX16_MIN) {
        x->first16 = xcalloc(65537, sizeof(uint32_t));
        uint32_t k = 0;
        for (uint32_t a = 0; a <= 65536; a++) {
            while (k < x->n4 && (uint64_t)x->r4[k].lo < ((uint64_t)a << 16))
                k++;
            x->first16[a] = k;
        }
    }
    return x;
}

netmatch_t *netmatch_new(const ipaddr_t *nets, const int *bits, size_t n)
{
    range_t *r = xcalloc(n + 1, sizeof(range_t));
    for (size_t i = 0; i < n; i++)
        r[i] = prefix_range(&nets[i], bits[i]);
    netmatch_t *m = build(r, n);
    free(r);
    return m;
}

netmatch_t *netmatch_ref(netmatch_t *m)
{
    atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
    return m;
}

void netmatch_unref(netmatch_t *m)
{
    if (!m || atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) != 1)
        return;
    free(m->r4);
    free(m->first16);
    free(m->lo6);
    free(m->hi6);
    free(m);
}

/* Index of the last range starting at or before x, or -1: a branchless
 * binary search (the loop runs log2(n) times whatever x is). */
static inline long last_at_or_before4(const range4_t *r, uint32_t n,
                                      uint32_t x)
{
    if (!n)
        return -1;
    const range4_t *base = r;
    for (uint32_t len = n; len > 1;) {
        uint32_t half = len / 2;
        base = base[half].lo <= x ? base + half : base;
        len -= half;
    }
    return base->lo <= x ? base - r : -1;
}

static inline long last_at_or_before6(const u128 *lo, uint32_t n, u128 x)
{
    if (!n)
        return -1;
    const u128 *base = lo;
    for (uint32_t len = n; len > 1;) {
        uint32_t half = len / 2;
        base = base[half] <= x ? base + half : base;
        len -= half;
    }
    return *base <= x ? base - lo : -1;
}

int netmatch_has(const netmatch_t *m, const ipaddr_t *ip)
{
    if (ipaddr_is_v4(ip)) {
        uint32_t x = ipaddr_v4(ip);
        long i;
        if (m->first16) {
            /* Ranges before first16[a] start before x's /16, those from
             * first16[a+1] on after it: search the ones between, and if
             * none starts at or before x, the one just before them. */
            uint32_t a = x >> 16, lo = m->first16[a];
            i = last_at_or_before4(m->r4 + lo, m->first16[a + 1] - lo, x);
            i = i >= 0 ? i + lo : (long)lo - 1;
        } else {
            i = last_at_or_before4(m->r4, m->n4, x);
        }
        return i >= 0 && x <= m->r4[i].hi;
    }
    u128 x = ip_u128(ip);
    long i = last_at_or_before6(m->lo6, m->n6, x);
    return i >= 0 && x <= m->hi6[i];
}

void netmatch_eval(const netmatch_t *m, const ipaddr_t *ips,
                   const uint32_t *sel, uint32_t n, int64_t *out, int negate)
{
    for (uint32_t k = 0; k < n; k++) {
        uint32_t r = sel[k];
        out[r] = netmatch_has(m, &ips[r]) ^ negate;
    }
}

void netmatch_size(const netmatch_t *m, size_t *ranges4, size_t *ranges6,
                   size_t *bytes)
{
    *ranges4 = m->n4;
    *ranges6 = m->n6;
    *bytes = sizeof(*m) + ((size_t)m->n4 + 1) * 8 + ((size_t)m->n6 + 1) * 32 +
             (m->first16 ? 65537 * sizeof(uint32_t) : 0);
}

/* ---- the named sets ---------------------------------------------------------- */

typedef struct netset {
    char          *name;
    netmatch_t    *match;
    char          *file;        /* defined from "@file": reloadable */
    struct stat    st;          /* the file as last read */
    struct netset *next;
} netset_t;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static netset_t *sets;
static int defaults_done;
/* Bumped whenever a set's networks change: compiled `IN name` operators
 * compare it once per batch and take the new matcher (netset_current). */
static _Atomic uint64_t generation = 1;

static int define_locked(const char *name, const char *cidrs, diag_t *err);

static void ensure_defaults(void)
{
    if (!defaults_done) {
        defaults_done = 1;
        define_locked("monitored", NETSET_DEFAULT_MONITORED, NULL);
        /* empty until --network-sets fills it: the saved query
         * blocklist_hits loads either way */
        define_locked("blocklist", "", NULL);
    }
}

static int check_name(const char *name, diag_t *err)
{
    size_t nl = strlen(name);
    if (nl == 0 || nl > 63 || !isalpha((unsigned char)name[0])) {
        diag_set(err, "network set name '%s' must start with a letter "
                 "(at most 63 letters, digits and _)", name);
        return -1;
    }
    for (const char *p = name; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_') {
            diag_set(err, "network set name '%s' must be letters, digits "
                     "and _", name);
            return -1;
        }
    return 0;
}

/* The networks of text as ranges into *out (malloc'ed); file names the
 * file they came from (errors then give its line), or is NULL. Returns
 * how many, or -1 with err. */
static long parse_nets(const char *name, const char *text, const char *file,
                       range_t **out, diag_t *err)
{
    size_t n = 0, cap = 64;
    range_t *r = xcalloc(cap, sizeof(range_t));
    int line = 1;
    const char *p = text;
    for (;;) {
        while (*p == ',' || isspace((unsigned char)*p))
            line += *p++ == '\n';
        if (file && *p == '#') {
            p += strcspn(p, "\n");
            continue;
        }
        if (!*p)
            break;
        size_t len = strcspn(p, file ? ", \t\r\n#" : ", \t\r\n");
        char tok[64];
        ipaddr_t net;
        int bits;
        if (len >= sizeof(tok) ||
            (memcpy(tok, p, len), tok[len] = 0,
             ipaddr_parse_cidr(tok, &net, &bits) < 0)) {
            char where[300] = "";
            if (file)
                snprintf(where, sizeof(where), "%.240s:%d: ", file, line);
            diag_set(err, "network set %s: %s'%.*s' is not a network (e.g. "
                     "10.0.0.0/8, 2001:db8::/32)", name, where,
                     (int)(len > 60 ? 60 : len), p);
            free(r);
            return -1;
        }
        if (n == NETSET_MAX_NETS) {
            diag_set(err, "network set %s: more than %d networks (the most "
                     "a set may hold)", name, NETSET_MAX_NETS);
            free(r);
            return -1;
        }
        if (n == cap) {
            cap *= 2;
            r = xrealloc(r, cap * sizeof(range_t));
        }
        r[n++] = prefix_range(&net, bits);
        p += len;
    }
    *out = r;
    return (long)n;
}

static int define_locked(const char *name, const char *cidrs, diag_t *err)
{
    if (check_name(name, err) < 0)
        return -1;
    char *text = NULL;
    const char *file = NULL;
    while (isspace((unsigned char)*cidrs))
        cidrs++;
    struct stat st;
    memset(&st, 0, sizeof(st));
    if (*cidrs == '@') {
        file = cidrs + 1;
        if (stat(file, &st) < 0)        /* before the read: a change */
            memset(&st, 0, sizeof(st)); /* during it is seen next time */
        diag_t ferr;
        diag_clear(&ferr);
        text = file_read_regular(file, NETSET_MAX_FILE, NULL, &ferr);
        if (!text) {
            diag_set(err, "network set %s: %s", name, ferr.msg);
            return -1;
        }
    }
    range_t *r;
    long n = parse_nets(name, text ? text : cidrs, file, &r, err);
    free(text);
    if (n < 0)
        return -1;
    netmatch_t *m = build(r, (size_t)n);
    free(r);
    netset_t *s;
    for (s = sets; s; s = s->next)
        if (strcasecmp(s->name, name) == 0)
            break;
    if (!s) {
        s = xcalloc(1, sizeof(*s));
        s->name = xstrdup(name);
        for (char *q = s->name; *q; q++)
            *q = (char)tolower((unsigned char)*q);
        s->next = sets;
        sets = s;
    }
    netmatch_unref(s->match);   /* operators holding it keep theirs */
    s->match = m;
    free(s->file);
    s->file = file ? xstrdup(file) : NULL;
    s->st = st;
    atomic_fetch_add(&generation, 1);
    return 0;
}

/* Has the file changed since it was read (a new inode: an editor's or
 * an rsync's rename; or another size or modification time)? */
static int file_changed(const netset_t *s, struct stat *now)
{
    if (stat(s->file, now) < 0)
        return 0;               /* gone for a moment: keep what we have */
    return now->st_ino != s->st.st_ino || now->st_size != s->st.st_size ||
           now->st_mtim.tv_sec != s->st.st_mtim.tv_sec ||
           now->st_mtim.tv_nsec != s->st.st_mtim.tv_nsec;
}

int netset_reload(int *errors, diag_t *err)
{
    int n = 0;
    *errors = 0;
    pthread_mutex_lock(&lock);
    for (netset_t *s = sets; s; s = s->next) {
        struct stat now;
        if (!s->file || !file_changed(s, &now))
            continue;
        char *spec = xcalloc(1, strlen(s->file) + 2);
        spec[0] = '@';
        strcpy(spec + 1, s->file);
        diag_t e;
        diag_clear(&e);
        if (define_locked(s->name, spec, &e) == 0) {
            n++;
        } else {
            /* keep the old networks; try again when the file changes */
            s->st = now;
            if (!(*errors)++)
                diag_set(err, "%s", e.msg);
        }
        free(spec);
    }
    pthread_mutex_unlock(&lock);
    return n;
}

uint64_t netset_generation(void)
{
    return atomic_load_explicit(&generation, memory_order_acquire);
}

int netset_define(const char *name, const char *cidrs, diag_t *err)
{
    pthread_mutex_lock(&lock);
    ensure_defaults();
    int rc = define_locked(name, cidrs, err);
    pthread_mutex_unlock(&lock);
    return rc;
}

int netset_define_all(const char *spec, diag_t *err)
{
    const char *p = spec;
    while (*p) {
        while (*p == ';' || isspace((unsigned char)*p))
            p++;
        if (!*p)
            break;
        size_t len = strcspn(p, ";");
        char *item = xcalloc(1, len + 1);
        memcpy(item, p, len);
        char *eq = strchr(item, '=');
        if (!eq) {
            diag_set(err, "network sets: '%s' is not name=cidr,cidr", item);
            free(item);
            return -1;
        }
        *eq = 0;
        char *name = item;
        while (isspace((unsigned char)*name))
            name++;
        char *e = name + strlen(name);
        while (e > name && isspace((unsigned char)e[-1]))
            *--e = 0;
        int rc = netset_define(name, eq + 1, err);
        free(item);
        if (rc < 0)
            return -1;
        p += len;
    }
    return 0;
}

static netset_t *find_locked(const char *name)
{
    ensure_defaults();
    for (netset_t *s = sets; s; s = s->next)
        if (strcasecmp(s->name, name) == 0)
            return s;
    return NULL;
}

int netset_exists(const char *name)
{
    pthread_mutex_lock(&lock);
    int found = find_locked(name) != NULL;
    pthread_mutex_unlock(&lock);
    return found;
}

netmatch_t *netset_match(const char *name)
{
    pthread_mutex_lock(&lock);
    netset_t *s = find_locked(name);
    netmatch_t *m = s ? netmatch_ref(s->match) : NULL;
    pthread_mutex_unlock(&lock);
    return m;
}

void netset_names(char *buf, size_t size)
{
    pthread_mutex_lock(&lock);
    ensure_defaults();
    size_t len = 0;
    buf[0] = 0;
    for (netset_t *s = sets; s; s = s->next) {
        int w = snprintf(buf + len, size - len, "%s%s", len ? ", " : "",
                         s->name);
        if (w < 0 || (size_t)w >= size - len)
            break;
        len += (size_t)w;
    }
    pthread_mutex_unlock(&lock);
}
