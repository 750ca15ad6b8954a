/* enrich.c - countries, AS and names for flows; see enrich.h. */
#include "enrich/enrich.h"
#include "engine/expr.h"
#include "util/arena.h"
#include "util/counter.h"
#include "util/log.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <maxminddb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

typedef unsigned __int128 u128;

/* A run of addresses from start up to the next segment's start, all in
 * the same longest prefix (name) or in none (name NULL). */
typedef struct seg {
    u128        start;
    const char *name;
} seg_t;

typedef struct expname {
    ipaddr_t    ip;
    const char *name;
} expname_t;

typedef struct ifname {
    ipaddr_t    ip;
    int64_t     index;
    const char *name;
} ifname_t;

/* Everything loaded from the files, immutable once current. */
typedef struct snap {
    refcount_t refs;
    uint32_t   gen;            /* distinct per snapshot: caches compare it */
    MMDB_s     geo, asn;
    int        has_geo, has_asn;
    seg_t     *segs;
    size_t     nsegs, nprefixes;
    uint32_t  *v4idx;          /* [j]: segments starting at or before the
                                  IPv4 /16 number j (65537 entries) */
    expname_t *exps;
    size_t     nexps;
    ifname_t  *ifs;
    size_t     nifs;
} snap_t;

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static snap_t         *g_cur;
static uint32_t        g_gen;
static enrich_config_t g_cfg;  /* strings owned (xstrdup) */
static int             g_have_cfg;
static counter_t       st_lookups, st_misses, st_reloads, st_reload_errors,
                       st_networks;

/* ---- snapshots ----------------------------------------------------------- */

static void snap_free(snap_t *s)
{
    if (!s)
        return;
    if (s->has_geo)
        MMDB_close(&s->geo);
    if (s->has_asn)
        MMDB_close(&s->asn);
    free(s->segs);
    free(s->v4idx);
    free(s->exps);
    free(s->ifs);
    free(s);
}

static void snap_put(snap_t *s)
{
    if (s && ref_put(&s->refs))
        snap_free(s);
}

/* The current snapshot, referenced, or NULL when none is loaded. */
static snap_t *snap_get(void)
{
    pthread_mutex_lock(&g_lock);
    snap_t *s = g_cur;
    if (s)
        ref_get(&s->refs);
    pthread_mutex_unlock(&g_lock);
    return s;
}

/* ---- reading the files ----------------------------------------------------- */

static u128 key_of(const ipaddr_t *ip)
{
    u128 k = 0;
    for (int i = 0; i < 16; i++)
        k = k << 8 | ip->a[i];
    return k;
}

/* Trim blanks at both ends in place; returns the start. */
static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = 0;
    return s;
}

/* The name column: the rest of the line, trimmed, quotes taken off. */
static const char *name_of(char *s)
{
    s = trim(s);
    size_t n = strlen(s);
    if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
        s[n - 1] = 0;
        s++;
    }
    return str_intern(s);
}

/* Split off the first comma-separated column of *line (trimmed). NULL if
 * the line has no comma. */
static char *column(char **line)
{
    char *c = strchr(*line, ',');
    if (!c)
        return NULL;
    *c = 0;
    char *col = trim(*line);
    *line = c + 1;
    return col;
}

/* Open path for reading: a regular file (a symlink to one is fine: the
 * operator's own), never waiting on a FIFO or a device. */
static int open_file(const char *path, const char *what, diag_t *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        diag_set(err, "%s: cannot open %s: %s", what, path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        diag_set(err, "%s: %s is not a regular file", what, path);
        close(fd);
        return -1;
    }
    return fd;
}

typedef int (*line_fn)(void *ctx, char *line, diag_t *err);

/* Call fn for every line of path that is neither blank nor a comment;
 * an error of fn is prefixed with "path:line: ". */
static int read_lines(const char *path, const char *what, line_fn fn,
                      void *ctx, diag_t *err)
{
    int fd = open_file(path, what, err);
    if (fd < 0)
        return -1;
    FILE *f = fdopen(fd, "r");
    if (!f) {
        diag_set(err, "%s: cannot read %s: %s", what, path, strerror(errno));
        close(fd);
        return -1;
    }
    char *buf = NULL;
    size_t cap = 0;
    ssize_t n;
    int lineno = 0, rc = 0;
    while ((n = getline(&buf, &cap, f)) >= 0) {
        lineno++;
        char *s = trim(buf);
        if (!*s || *s == '#')
            continue;
        diag_t e;
        diag_clear(&e);
        if (fn(ctx, s, &e) < 0) {
            diag_set(err, "%s: %s:%d: %s", what, path, lineno, e.msg);
            rc = -1;
            break;
        }
    }
    if (!rc && ferror(f)) {
        diag_set(err, "%s: cannot read %s: %s", what, path, strerror(errno));
        rc = -1;
    }
    free(buf);
    fclose(f);
    return rc;
}

typedef struct pfx {
    u128        lo, hi;
    int         bits;
    uint32_t    line;      /* later lines win among equal prefixes */
    const char *name;
} pfx_t;

typedef struct pfx_vec {
    pfx_t *v;
    size_t n, cap;
} pfx_vec_t;

static int net_line(void *ctx, char *line, diag_t *err)
{
    pfx_vec_t *pv = ctx;
    char *rest = line, *cidr = column(&rest);
    ipaddr_t ip;
    int bits;
    if (!cidr) {
        diag_set(err, "expected prefix,name");
        return -1;
    }
    if (ipaddr_parse_cidr(cidr, &ip, &bits) < 0) {
        diag_set(err, "'%s' is not a prefix (10.0.0.0/8, 2001:db8::/32)",
                 cidr);
        return -1;
    }
    if (pv->n == pv->cap) {
        pv->cap = pv->cap ? pv->cap * 2 : 1024;
        pv->v = xrealloc(pv->v, pv->cap * sizeof(pfx_t));
    }
    u128 lo = key_of(&ip);
    u128 span = bits == 0 ? ~(u128)0 : (((u128)1 << (128 - bits)) - 1);
    pv->v[pv->n] = (pfx_t){lo, lo | span, bits, (uint32_t)pv->n,
                           name_of(rest)};
    pv->n++;
    return 0;
}

static int pfx_cmp(const void *x, const void *y)
{
    const pfx_t *a = x, *b = y;
    if (a->lo != b->lo)
        return a->lo < b->lo ? -1 : 1;
    if (a->bits != b->bits)
        return a->bits < b->bits ? -1 : 1;
    return a->line < b->line ? -1 : a->line > b->line;
}

/* Append segment (start, name); one starting at the same address as the
 * last replaces it, one with the last one's name is not needed. */
static void seg_add(snap_t *s, size_t *cap, u128 start, const char *name)
{
    if (s->nsegs && s->segs[s->nsegs - 1].start == start) {
        s->segs[s->nsegs - 1].name = name;
        if (s->nsegs >= 2 && s->segs[s->nsegs - 2].name == name)
            s->nsegs--;
        return;
    }
    if (s->nsegs && s->segs[s->nsegs - 1].name == name)
        return;
    if (s->nsegs == *cap) {
        *cap = *cap ? *cap * 2 : 1024;
        s->segs = xrealloc(s->segs, *cap * sizeof(seg_t));
    }
    s->segs[s->nsegs++] = (seg_t){start, name};
}

/* Prefixes (nested or disjoint, as prefixes are) to sorted disjoint
 * segments, each owned by its longest prefix: one sweep with a stack of
 * the prefixes open at the current address. */
static void build_segs(snap_t *s, pfx_vec_t *pv)
{
    qsort(pv->v, pv->n, sizeof(pfx_t), pfx_cmp);
    pfx_t **stack = xmalloc((pv->n + 1) * sizeof(pfx_t *));
    size_t depth = 0, cap = 0;
    for (size_t i = 0; i <= pv->n; i++) {
        pfx_t *p = i < pv->n ? &pv->v[i] : NULL;
        while (depth && (!p || stack[depth - 1]->hi < p->lo)) {
            pfx_t *q = stack[--depth];
            if (q->hi != ~(u128)0)
                seg_add(s, &cap, q->hi + 1,
                        depth ? stack[depth - 1]->name : NULL);
        }
        if (p) {
            stack[depth++] = p;
            seg_add(s, &cap, p->lo, p->name);
        }
    }
    free(stack);
    s->nprefixes = pv->n;
    /* The IPv4 index: a lookup bisects only the segments of its /16. */
    s->v4idx = xmalloc(65537 * sizeof(uint32_t));
    u128 v4base = (u128)0xffff << 32;
    size_t k = 0;
    for (uint32_t j = 0; j <= 65536; j++) {
        u128 base = v4base + ((u128)j << 16);
        while (k < s->nsegs && s->segs[k].start <= base)
            k++;
        s->v4idx[j] = (uint32_t)k;
    }
}

typedef struct exp_vec {
    expname_t *v;
    size_t     n, cap;
} exp_vec_t;

static int exp_line(void *ctx, char *line, diag_t *err)
{
    exp_vec_t *ev = ctx;
    char *rest = line, *addr = column(&rest);
    ipaddr_t ip;
    if (!addr) {
        diag_set(err, "expected address,name");
        return -1;
    }
    if (ipaddr_parse(addr, &ip) < 0) {
        diag_set(err, "'%s' is not an address", addr);
        return -1;
    }
    if (ev->n == ev->cap) {
        ev->cap = ev->cap ? ev->cap * 2 : 64;
        ev->v = xrealloc(ev->v, ev->cap * sizeof(expname_t));
    }
    ev->v[ev->n++] = (expname_t){ip, name_of(rest)};
    return 0;
}

static int exp_cmp(const void *x, const void *y)
{
    return ipaddr_cmp(&((const expname_t *)x)->ip,
                      &((const expname_t *)y)->ip);
}

typedef struct if_vec {
    ifname_t *v;
    size_t    n, cap;
} if_vec_t;

static int if_line(void *ctx, char *line, diag_t *err)
{
    if_vec_t *iv = ctx;
    char *rest = line, *addr = column(&rest), *idx = addr ? column(&rest)
                                                           : NULL;
    ipaddr_t ip;
    if (!addr || !idx) {
        diag_set(err, "expected exporter,ifindex,name");
        return -1;
    }
    if (ipaddr_parse(addr, &ip) < 0) {
        diag_set(err, "'%s' is not an address", addr);
        return -1;
    }
    char *end;
    errno = 0;
    long long x = strtoll(idx, &end, 10);
    if (errno || end == idx || *end || x < 0 || x > 0xffffffffLL) {
        diag_set(err, "'%s' is not an interface index (0 to 4294967295)",
                 idx);
        return -1;
    }
    if (iv->n == iv->cap) {
        iv->cap = iv->cap ? iv->cap * 2 : 64;
        iv->v = xrealloc(iv->v, iv->cap * sizeof(ifname_t));
    }
    iv->v[iv->n++] = (ifname_t){ip, x, name_of(rest)};
    return 0;
}

static int if_cmp(const void *x, const void *y)
{
    const ifname_t *a = x, *b = y;
    int c = ipaddr_cmp(&a->ip, &b->ip);
    if (c)
        return c;
    return a->index < b->index ? -1 : a->index > b->index;
}

/* Open a MaxMind DB from a private copy in memory (a memfd): libmaxminddb
 * maps the file it opens, and a file rewritten in place under a mapping
 * (cp over it, a shorter file: SIGBUS) would change or kill the snapshot
 * in use. With the copy, only a reload reads the file again. */
static int open_mmdb(const char *path, const char *what, MMDB_s *db,
                     diag_t *err)
{
    int fd = open_file(path, what, err);
    if (fd < 0)
        return -1;
    int mfd = memfd_create("flowsql-mmdb", MFD_CLOEXEC);
    if (mfd < 0) {
        diag_set(err, "%s: cannot copy %s to memory: %s", what, path,
                 strerror(errno));
        close(fd);
        return -1;
    }
    char buf[65536];
    ssize_t n;
    int rc = 0;
    while ((n = read(fd, buf, sizeof(buf))) > 0)
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(mfd, buf + off, (size_t)(n - off));
            if (w < 0) {
                rc = -1;
                break;
            }
            off += w;
        }
    if (n < 0 || rc < 0) {
        diag_set(err, "%s: cannot read %s: %s", what, path, strerror(errno));
        close(fd);
        close(mfd);
        return -1;
    }
    close(fd);
    char mpath[64];
    snprintf(mpath, sizeof(mpath), "/proc/self/fd/%d", mfd);
    rc = MMDB_open(mpath, MMDB_MODE_MMAP, db);
    int saved = errno;
    close(mfd);     /* the mapping keeps the memory */
    if (rc != MMDB_SUCCESS) {
        diag_set(err, "%s: cannot open %s: %s%s%s", what, path,
                 MMDB_strerror(rc), rc == MMDB_IO_ERROR ? ": " : "",
                 rc == MMDB_IO_ERROR ? strerror(saved) : "");
        return -1;
    }
    return 0;
}

static snap_t *snap_load(const enrich_config_t *c, diag_t *err)
{
    snap_t *s = xcalloc(1, sizeof(*s));
    ref_init(&s->refs, 1);
    if (*c->geoip_db) {
        if (open_mmdb(c->geoip_db, "--geoip-db", &s->geo, err) < 0)
            goto fail;
        s->has_geo = 1;
    }
    if (*c->asn_db) {
        if (open_mmdb(c->asn_db, "--asn-db", &s->asn, err) < 0)
            goto fail;
        s->has_asn = 1;
    }
    if (*c->network_names) {
        pfx_vec_t pv = {0};
        int rc = read_lines(c->network_names, "--network-names", net_line,
                            &pv, err);
        if (rc == 0)
            build_segs(s, &pv);
        free(pv.v);
        if (rc < 0)
            goto fail;
    }
    if (*c->exporter_names) {
        exp_vec_t ev = {0};
        if (read_lines(c->exporter_names, "--exporter-names", exp_line, &ev,
                       err) < 0) {
            free(ev.v);
            goto fail;
        }
        qsort(ev.v, ev.n, sizeof(expname_t), exp_cmp);
        s->exps = ev.v;
        s->nexps = ev.n;
    }
    if (*c->interface_names) {
        if_vec_t iv = {0};
        if (read_lines(c->interface_names, "--interface-names", if_line,
                       &iv, err) < 0) {
            free(iv.v);
            goto fail;
        }
        qsort(iv.v, iv.n, sizeof(ifname_t), if_cmp);
        s->ifs = iv.v;
        s->nifs = iv.n;
    }
    return s;
fail:
    snap_free(s);
    return NULL;
}

static void cfg_copy(enrich_config_t *dst, const enrich_config_t *src)
{
    dst->geoip_db = xstrdup(src->geoip_db ? src->geoip_db : "");
    dst->asn_db = xstrdup(src->asn_db ? src->asn_db : "");
    dst->network_names = xstrdup(src->network_names ? src->network_names
                                                    : "");
    dst->exporter_names = xstrdup(src->exporter_names ? src->exporter_names
                                                      : "");
    dst->interface_names = xstrdup(src->interface_names
                                       ? src->interface_names : "");
}

static void cfg_free(enrich_config_t *c)
{
    free((char *)c->geoip_db);
    free((char *)c->asn_db);
    free((char *)c->network_names);
    free((char *)c->exporter_names);
    free((char *)c->interface_names);
    memset(c, 0, sizeof(*c));
}

int enrich_load(const enrich_config_t *cfg, diag_t *err)
{
    enrich_config_t c;
    cfg_copy(&c, cfg);
    snap_t *s = snap_load(&c, err);
    if (!s) {
        ctr_inc(&st_reload_errors);
        cfg_free(&c);
        return -1;
    }
    pthread_mutex_lock(&g_lock);
    s->gen = ++g_gen;
    snap_t *old = g_cur;
    g_cur = s;
    if (g_have_cfg)
        cfg_free(&g_cfg);
    g_cfg = c;
    g_have_cfg = 1;
    pthread_mutex_unlock(&g_lock);
    snap_put(old);
    ctr_inc(&st_reloads);
    ctr_set(&st_networks, s->nprefixes);
    return 0;
}

int enrich_reload(diag_t *err)
{
    pthread_mutex_lock(&g_lock);
    enrich_config_t c = {0};
    int have = g_have_cfg;
    if (have)
        cfg_copy(&c, &g_cfg);
    pthread_mutex_unlock(&g_lock);
    if (!have)
        return 0;
    int rc = enrich_load(&c, err);
    cfg_free(&c);
    return rc;
}

void enrich_shutdown(void)
{
    pthread_mutex_lock(&g_lock);
    snap_t *s = g_cur;
    g_cur = NULL;
    if (g_have_cfg)
        cfg_free(&g_cfg);
    g_have_cfg = 0;
    pthread_mutex_unlock(&g_lock);
    snap_put(s);
}

void enrich_get_stats(enrich_stats_t *out)
{
    out->lookups = ctr_get(&st_lookups);
    out->cache_misses = ctr_get(&st_misses);
    out->reloads = ctr_get(&st_reloads);
    out->reload_errors = ctr_get(&st_reload_errors);
    out->networks = ctr_get(&st_networks);
}

uint64_t enrich_deps(int f)
{
    switch (f) {
    case F_SRCCOUNTRY: case F_SRCASNAME: case F_SRCNET_NAME:
        return 1ull << F_SRCIP;
    case F_DSTCOUNTRY: case F_DSTASNAME: case F_DSTNET_NAME:
        return 1ull << F_DSTIP;
    case F_SRCASN:
        return 1ull << F_SRCIP | 1ull << F_SRCAS;
    case F_DSTASN:
        return 1ull << F_DSTIP | 1ull << F_DSTAS;
    case F_EXPORTER_NAME:
        return 1ull << F_EXPORTER;
    case F_IN_IFNAME:
        return 1ull << F_EXPORTER | 1ull << F_INGRESS;
    case F_OUT_IFNAME:
        return 1ull << F_EXPORTER | 1ull << F_EGRESS;
    }
    return 0;
}

/* ---- lookups ------------------------------------------------------------- */

enum { NEED_GEO = 1, NEED_ASN = 2, NEED_NET = 4 };

/* What an address resolves to. */
typedef struct res {
    const char *country, *asname, *net;
    int64_t     asn;
} res_t;

/* A cache entry: of one address, or of a whole prefix (a /24 of IPv4, a
 * /64 of IPv6) for the parts whose answer is the same for every address
 * in it (their network is that prefix or wider: nearly every network of
 * the MaxMind databases, and most of a network names file). */
typedef struct centry {
    ipaddr_t key;
    uint32_t have;      /* NEED_* parts looked up for key */
    uint32_t whole;     /* prefix entries: of them, valid for the prefix */
    res_t    r;
} centry_t;

#define CACHE_BITS 14
#define CACHE_SIZE (1u << CACHE_BITS)

typedef struct tcache {
    uint32_t gen;
    centry_t addr[CACHE_SIZE];
    centry_t pfx[CACHE_SIZE];
} tcache_t;

static pthread_key_t  tc_key;
static pthread_once_t tc_once = PTHREAD_ONCE_INIT;

static void tc_init(void)
{
    pthread_key_create(&tc_key, free);
}

static tcache_t *tcache(uint32_t gen)
{
    pthread_once(&tc_once, tc_init);
    tcache_t *c = pthread_getspecific(tc_key);
    if (!c) {
        c = xcalloc(1, sizeof(*c));
        pthread_setspecific(tc_key, c);
        c->gen = gen;
    }
    if (c->gen != gen) {
        memset(c->addr, 0, sizeof(c->addr));
        memset(c->pfx, 0, sizeof(c->pfx));
        c->gen = gen;
    }
    return c;
}

/* The entry of ip in db, as a sockaddr lookup; 0 if none. *plen is the
 * length of the network that answered (or of the empty range around
 * ip), in ip's own family (0-32 for IPv4). */
static int mmdb_find(MMDB_s *db, const ipaddr_t *ip, MMDB_entry_s *ent,
                     int *plen)
{
    struct sockaddr_in v4;
    struct sockaddr_in6 v6;
    const struct sockaddr *sa;
    int is4 = ipaddr_is_v4(ip);
    if (is4) {
        memset(&v4, 0, sizeof(v4));
        v4.sin_family = AF_INET;
        memcpy(&v4.sin_addr, ip->a + 12, 4);
        sa = (const struct sockaddr *)&v4;
    } else {
        memset(&v6, 0, sizeof(v6));
        v6.sin6_family = AF_INET6;
        memcpy(&v6.sin6_addr, ip->a, 16);
        sa = (const struct sockaddr *)&v6;
    }
    int merr = MMDB_SUCCESS;
    MMDB_lookup_result_s r = MMDB_lookup_sockaddr(db, sa, &merr);
    int n = r.netmask;
    if (is4 && db->metadata.ip_version == 6)
        n -= 96;    /* an IPv4 address in an IPv6 tree: ::a.b.c.d/96+n */
    *plen = n < 0 ? 0 : n;
    if (merr != MMDB_SUCCESS) {
        *plen = 128;    /* an error: answer for this address only */
        return 0;
    }
    if (!r.found_entry)
        return 0;
    *ent = r.entry;
    return 1;
}

/* A string at path in ent, interned; "" if absent or not a string. */
static const char *mmdb_str(MMDB_entry_s *ent, const char *const *path)
{
    MMDB_entry_data_s d;
    if (MMDB_aget_value(ent, &d, path) != MMDB_SUCCESS || !d.has_data ||
        d.type != MMDB_DATA_TYPE_UTF8_STRING)
        return str_intern("");
    char buf[256];
    size_t n = d.data_size < sizeof(buf) - 1 ? d.data_size : sizeof(buf) - 1;
    memcpy(buf, d.utf8_string, n);
    buf[n] = 0;
    return str_intern(buf);
}

static int64_t mmdb_uint(MMDB_entry_s *ent, const char *const *path)
{
    MMDB_entry_data_s d;
    if (MMDB_aget_value(ent, &d, path) != MMDB_SUCCESS || !d.has_data)
        return 0;
    switch (d.type) {
    case MMDB_DATA_TYPE_UINT16: return d.uint16;
    case MMDB_DATA_TYPE_UINT32: return d.uint32;
    case MMDB_DATA_TYPE_INT32: return d.int32 < 0 ? 0 : d.int32;
    case MMDB_DATA_TYPE_UINT64: return (int64_t)(d.uint64 & 0xffffffffu);
    }
    return 0;
}

/* The name of ip's longest prefix; *whole set when the same name holds
 * for every address of [plo, phi]. */
static const char *net_find(const snap_t *s, const ipaddr_t *ip, u128 plo,
                            u128 phi, int *whole)
{
    u128 k = key_of(ip);
    size_t lo = 0, hi = s->nsegs;   /* segments with start <= k */
    if (ipaddr_is_v4(ip) && s->v4idx) {
        uint32_t j = (uint32_t)ip->a[12] << 8 | ip->a[13];
        lo = s->v4idx[j];
        hi = s->v4idx[j + 1];
    }
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->segs[mid].start <= k)
            lo = mid + 1;
        else
            hi = mid;
    }
    *whole = (lo == 0 || s->segs[lo - 1].start <= plo) &&
             (lo == s->nsegs || s->segs[lo].start > phi);
    const char *n = lo ? s->segs[lo - 1].name : NULL;
    return n ? n : str_intern("");
}

/* A 64-bit mix (MurmurHash3's finalizer): every input bit moves every
 * output bit, so the top bits index a table. */
static inline uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

static centry_t *slot(centry_t *tab, const ipaddr_t *key)
{
    uint64_t h0, h1;
    memcpy(&h0, key->a, 8);
    memcpy(&h1, key->a + 8, 8);
    uint64_t h = mix64(h0 ^ mix64(h1));
    centry_t *e = &tab[h >> (64 - CACHE_BITS)];
    if (!ipaddr_eq(&e->key, key) || !e->have) {
        e->key = *key;
        e->have = e->whole = 0;
    }
    return e;
}

static void put_part(res_t *dst, const res_t *src, uint32_t part)
{
    if (part & NEED_GEO)
        dst->country = src->country;
    if (part & NEED_ASN) {
        dst->asn = src->asn;
        dst->asname = src->asname;
    }
    if (part & NEED_NET)
        dst->net = src->net;
}

/* The parts in need of what ip resolves to: from the prefix cache, else
 * the address cache, else the sources (then cached where they hold). */
static res_t resolve(const snap_t *s, tcache_t *c, const ipaddr_t *ip,
                     uint32_t need, uint64_t *misses)
{
    int v4 = ipaddr_is_v4(ip);
    ipaddr_t pk = *ip;      /* the /24 (IPv4) or /64 (IPv6) */
    if (v4)
        pk.a[15] = 0;
    else
        memset(pk.a + 8, 0, 8);
    centry_t *p = slot(c->pfx, &pk);
    res_t out = {0};
    uint32_t from_p = need & p->have & p->whole;
    put_part(&out, &p->r, from_p);
    uint32_t rest = need & ~from_p;
    if (!rest)
        return out;
    centry_t *e = slot(c->addr, ip);
    uint32_t todo = rest & ~e->have;
    if (todo) {
        (*misses)++;
        static const char *const p_country[] = {"country", "iso_code", NULL};
        static const char *const p_reg[] = {"registered_country",
                                            "iso_code", NULL};
        static const char *const p_asn[] = {"autonomous_system_number",
                                            NULL};
        static const char *const p_org[] = {
            "autonomous_system_organization", NULL};
        int pfx_bits = v4 ? 24 : 64, plen;
        uint32_t whole = 0;
        MMDB_entry_s ent;
        if (todo & NEED_GEO) {
            e->r.country = str_intern("");
            plen = 0;
            if (s->has_geo && mmdb_find((MMDB_s *)&s->geo, ip, &ent, &plen)) {
                e->r.country = mmdb_str(&ent, p_country);
                if (!*e->r.country)
                    e->r.country = mmdb_str(&ent, p_reg);
            }
            if (plen <= pfx_bits)
                whole |= NEED_GEO;
        }
        if (todo & NEED_ASN) {
            e->r.asn = 0;
            e->r.asname = str_intern("");
            plen = 0;
            if (s->has_asn && mmdb_find((MMDB_s *)&s->asn, ip, &ent, &plen)) {
                e->r.asn = mmdb_uint(&ent, p_asn);
                e->r.asname = mmdb_str(&ent, p_org);
            }
            if (plen <= pfx_bits)
                whole |= NEED_ASN;
        }
        if (todo & NEED_NET) {
            int w = 1;
            u128 plo = key_of(&pk);
            u128 phi = plo | ((((u128)1) << (v4 ? 8 : 64)) - 1);
            e->r.net = s->segs ? net_find(s, ip, plo, phi, &w)
                               : str_intern("");
            if (w)
                whole |= NEED_NET;
        }
        e->have |= todo;
        /* What holds for the whole prefix goes in its entry; what does
         * not is marked looked up but not whole, so the next address of
         * the prefix goes straight to the address cache. */
        put_part(&p->r, &e->r, todo & whole);
        p->have |= todo;
        p->whole = (p->whole & ~todo) | (todo & whole);
    }
    put_part(&out, &e->r, rest);
    return out;
}

static const char *exp_find(const snap_t *s, const ipaddr_t *ip)
{
    size_t lo = 0, hi = s->nexps;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = ipaddr_cmp(&s->exps[mid].ip, ip);
        if (c == 0)
            return s->exps[mid].name;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return str_intern("");
}

static const char *if_find(const snap_t *s, const ipaddr_t *ip, int64_t idx)
{
    ifname_t key = {*ip, idx, NULL};
    size_t lo = 0, hi = s->nifs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = if_cmp(&s->ifs[mid], &key);
        if (c == 0)
            return s->ifs[mid].name;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return str_intern("");
}

/* Fill one side's (src or dst) address fields. */
static void fill_side(const snap_t *s, tcache_t *c, flow_batch_t *b,
                      uint64_t fields, int src, uint64_t *lookups,
                      uint64_t *misses)
{
    int fc = src ? F_SRCCOUNTRY : F_DSTCOUNTRY;
    int fa = src ? F_SRCASN : F_DSTASN;
    int fn = src ? F_SRCASNAME : F_DSTASNAME;
    int fnet = src ? F_SRCNET_NAME : F_DSTNET_NAME;
    const ipaddr_t *ip = src ? b->srcip : b->dstip;
    const int64_t *as = src ? b->srcas : b->dstas;
    const char **country = src ? b->srccountry : b->dstcountry;
    int64_t *asn = src ? b->srcasn : b->dstasn;
    const char **asname = src ? b->srcasname : b->dstasname;
    const char **net = src ? b->srcnet_name : b->dstnet_name;
    uint32_t base = 0;
    if (fields >> fc & 1)
        base |= NEED_GEO;
    if (fields >> fn & 1)
        base |= NEED_ASN;
    if (fields >> fnet & 1)
        base |= NEED_NET;
    int want_asn = fields >> fa & 1;
    if (!base && !want_asn)
        return;
    const char *none = str_intern("");
    for (uint32_t i = 0; i < b->n; i++) {
        uint32_t need = base;
        if (want_asn && !as[i])
            need |= NEED_ASN;
        res_t r = {none, none, none, 0};
        if (need && s) {
            r = resolve(s, c, &ip[i], need, misses);
            (*lookups)++;
        }
        if (base & NEED_GEO)
            country[i] = r.country;
        if (base & NEED_ASN)
            asname[i] = r.asname;
        if (base & NEED_NET)
            net[i] = r.net;
        if (want_asn)
            asn[i] = as[i] ? as[i] : r.asn;
    }
}

/* Interface names of (exporter, index[i]) into out; consecutive flows
 * mostly share both, so the last answer is kept. */
static void fill_ifnames(const snap_t *s, const flow_batch_t *b,
                         const int64_t *index, const char **out,
                         const char *none)
{
    if (!s || !s->nifs) {
        for (uint32_t i = 0; i < b->n; i++)
            out[i] = none;
        return;
    }
    ipaddr_t last = {{0}};
    int64_t lastx = -1;
    const char *lastn = NULL;
    for (uint32_t i = 0; i < b->n; i++) {
        if (!lastn || index[i] != lastx ||
            !ipaddr_eq(&last, &b->exporter[i])) {
            last = b->exporter[i];
            lastx = index[i];
            lastn = if_find(s, &last, lastx);
        }
        out[i] = lastn;
    }
}

void enrich_batch(flow_batch_t *b, uint64_t fields)
{
    fields &= ENRICH_FIELDS;
    if (!fields || !b->n)
        return;
    snap_t *s = snap_get();
    tcache_t *c = s ? tcache(s->gen) : NULL;
    uint64_t lookups = 0, misses = 0;
    fill_side(s, c, b, fields, 1, &lookups, &misses);
    fill_side(s, c, b, fields, 0, &lookups, &misses);
    const char *none = str_intern("");
    if (fields >> F_EXPORTER_NAME & 1) {
        ipaddr_t last = {{0}};
        const char *lastn = NULL;
        for (uint32_t i = 0; i < b->n; i++) {
            if (!lastn || !ipaddr_eq(&last, &b->exporter[i])) {
                last = b->exporter[i];
                lastn = s && s->nexps ? exp_find(s, &last) : none;
            }
            b->exporter_name[i] = lastn;
        }
    }
    if (fields >> F_IN_IFNAME & 1)
        fill_ifnames(s, b, b->ingress, b->in_ifname, none);
    if (fields >> F_OUT_IFNAME & 1)
        fill_ifnames(s, b, b->egress, b->out_ifname, none);
    if (lookups) {
        ctr_add(&st_lookups, lookups);
        ctr_add(&st_misses, misses);
    }
    snap_put(s);
}
