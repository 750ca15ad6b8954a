/* xfield.c - custom IPFIX element definitions and values; see xfield.h. */
#include "engine/xfield.h"
#include "engine/expr.h"
#include "engine/schema.h"
#include "util/arena.h"
#include "util/diag.h"
#include "util/file.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The built-in definitions: IANA elements outside the core schema, and
 * the DNS and TLS elements ipfixprobe (CESNET, enterprise 8057; Flowmon,
 * 39499) exports, as ipfixprobe's own element lists publish them. */
#define XF_BUILTINS(X)                                                       \
    X(0, "mpls_label1", 0, 70, XT_MPLS, "MPLS top label (IANA 70)")          \
    X(1, "mpls_label2", 0, 71, XT_MPLS, "MPLS second label (IANA 71)")       \
    X(2, "mpls_label3", 0, 72, XT_MPLS, "MPLS third label (IANA 72)")        \
    X(3, "application_id", 0, 95, XT_INT,                                    \
      "applicationId (IANA 95) as an integer")                               \
    X(4, "dns_id", 8057, 10, XT_INT, "DNS transaction id (CESNET 8057/10)")  \
    X(5, "dns_qtype", 8057, 3, XT_INT, "DNS question type (CESNET 8057/3)")  \
    X(6, "dns_rcode", 8057, 1, XT_INT, "DNS response code (CESNET 8057/1)")  \
    X(7, "dns_answers", 8057, 14, XT_INT,                                    \
      "DNS answer records (CESNET 8057/14)")                                 \
    X(8, "dns_ttl", 8057, 5, XT_INT, "DNS answer TTL (CESNET 8057/5)")       \
    X(9, "tls_version", 39499, 333, XT_INT,                                  \
      "TLS client version (Flowmon 39499/333, ipfixprobe)")                  \
    X(16, "src_mac", 0, 56, XT_MAC, "sourceMacAddress (IANA 56)")            \
    X(17, "dst_mac", 0, 80, XT_MAC, "destinationMacAddress (IANA 80)")       \
    X(18, "post_src_mac", 0, 81, XT_MAC, "postSourceMacAddress (IANA 81)")   \
    X(19, "post_dst_mac", 0, 57, XT_MAC,                                     \
      "postDestinationMacAddress (IANA 57)")                                 \
    X(20, "dns_qname", 8057, 2, XT_STRING,                                   \
      "DNS question name (CESNET 8057/2)")                                   \
    X(21, "tls_sni", 8057, 808, XT_STRING,                                   \
      "TLS server name indication (CESNET 8057/808)")

#define DEF(k, nm, pen, id, ty, doc) {nm, pen, id, ty, k},
#define NAME(k, nm, pen, id, ty, doc) [k] = nm,
#define DOC(k, nm, pen, id, ty, doc) [k] = doc,

xfdef_t xf_defs[XF_NSLOTS] = {XF_BUILTINS(DEF)};
int     xf_ndefs = 16;
char    xf_names[XF_NSLOTS][XF_NAMELEN] = {XF_BUILTINS(NAME)};
char    xf_docs[XF_NSLOTS][96] = {XF_BUILTINS(DOC)};

counter_t        xf_string_overflows;
static counter_t wanted;
static size_t    string_max = 1000000;

#define XF_CACHE 4096   /* per-thread interned-text cache, a power of 2 */

static const struct {
    const char *name;
    int         type;
} type_names[] = {
    {"integer", XT_INT}, {"mpls", XT_MPLS},   {"address", XT_ADDR},
    {"string", XT_STRING}, {"bytes", XT_BYTES}, {"mac", XT_MAC},
};

/* The pool of slots a type's values go in: [first, end). */
static void pool(int type, int *first, int *end)
{
    if (type == XT_INT || type == XT_MPLS) {
        *first = 0;
        *end = XF_NINT;
    } else if (type == XT_ADDR) {
        *first = XF_NINT + XF_NSTR;
        *end = XF_NSLOTS;
    } else {
        *first = XF_NINT;
        *end = XF_NINT + XF_NSTR;
    }
}

static int find_def(const char *name)
{
    for (int i = 0; i < xf_ndefs; i++)
        if (strcasecmp(xf_defs[i].name, name) == 0)
            return i;
    return -1;
}

static void drop_def(int i)
{
    xf_names[xf_defs[i].slot][0] = 0;
    xf_docs[xf_defs[i].slot][0] = 0;
    xf_defs[i] = xf_defs[--xf_ndefs];
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = 0;
    return s;
}

/* One line of the file: "name, pen, id, type" or "no name". 0 or -1 with
 * the reason in why. */
static int load_line(char *line, char *why, size_t whylen)
{
    char *s = trim(line);
    if (strncasecmp(s, "no", 2) == 0 && isspace((unsigned char)s[2])) {
        char *nm = trim(s + 3);
        int i = find_def(nm);
        if (i < 0) {
            snprintf(why, whylen, "'no %s': no such element is defined", nm);
            return -1;
        }
        drop_def(i);
        return 0;
    }
    char *col[4];
    int n = 0;
    for (char *p = s; n < 4; n++) {
        col[n] = p;
        char *c = strchr(p, ',');
        if (!c) {
            n++;
            break;
        }
        *c = 0;
        p = c + 1;
    }
    if (n != 4 || strchr(col[3], ',')) {
        snprintf(why, whylen, "expected 'name, enterprise_number, "
                              "element_id, type' (or 'no name')");
        return -1;
    }
    for (int i = 0; i < 4; i++)
        col[i] = trim(col[i]);
    const char *nm = col[0];
    size_t nl = strlen(nm);
    int ok = nl > 0 && nl < XF_NAMELEN &&
             (isalpha((unsigned char)nm[0]) || nm[0] == '_');
    for (size_t i = 0; ok && i < nl; i++)
        ok = isalnum((unsigned char)nm[i]) || nm[i] == '_';
    if (!ok) {
        snprintf(why, whylen, "'%s' is not a field name (letters, digits "
                              "and _, at most %d)", nm, XF_NAMELEN - 1);
        return -1;
    }
    char *end;
    errno = 0;
    unsigned long pen = strtoul(col[1], &end, 10);
    if (!*col[1] || *end || errno || pen > 0xffffffffUL) {
        snprintf(why, whylen, "'%s' is not an enterprise number "
                              "(0 to 4294967295)", col[1]);
        return -1;
    }
    unsigned long id = strtoul(col[2], &end, 10);
    if (!*col[2] || *end || id == 0 || id > 32767) {
        snprintf(why, whylen, "'%s' is not an element id (1 to 32767)",
                 col[2]);
        return -1;
    }
    int type = 0;
    for (size_t i = 0; i < sizeof(type_names) / sizeof(type_names[0]); i++)
        if (strcasecmp(col[3], type_names[i].name) == 0)
            type = type_names[i].type;
    if (!type) {
        snprintf(why, whylen, "'%s' is not a type (integer, mpls, address, "
                              "string, bytes, mac)", col[3]);
        return -1;
    }
    int old = find_def(nm);
    if (old >= 0)
        drop_def(old);
    else if (schema_lookup(nm, nl) >= 0) {
        snprintf(why, whylen, "'%s' is already a field of the schema", nm);
        return -1;
    }
    for (int i = 0; i < xf_ndefs; i++)
        if (xf_defs[i].pen == pen && xf_defs[i].id == id) {
            snprintf(why, whylen, "element %lu/%lu is already '%s'", pen,
                     id, xf_defs[i].name);
            return -1;
        }
    int first, lim, slot = -1;
    pool(type, &first, &lim);
    for (int k = first; k < lim && slot < 0; k++)
        if (!xf_names[k][0])
            slot = k;
    if (slot < 0) {
        snprintf(why, whylen, "no free %s slot for '%s' (%d %s fields at "
                 "most; 'no NAME' drops a built-in one)",
                 type == XT_ADDR ? "address"
                 : (type == XT_INT || type == XT_MPLS) ? "integer" : "string",
                 nm, lim - first,
                 type == XT_ADDR ? "address"
                 : (type == XT_INT || type == XT_MPLS) ? "integer" : "string");
        return -1;
    }
    xfdef_t *d = &xf_defs[xf_ndefs++];
    snprintf(d->name, sizeof(d->name), "%s", nm);
    d->pen = (uint32_t)pen;
    d->id = (uint16_t)id;
    d->type = (uint8_t)type;
    d->slot = (uint8_t)slot;
    snprintf(xf_names[slot], XF_NAMELEN, "%s", nm);
    snprintf(xf_docs[slot], sizeof(xf_docs[slot]), "element %lu/%lu (%s), "
             "--ipfix-elements", pen, id, col[3]);
    for (char *p = xf_names[slot]; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return 0;
}

int xfield_load(const char *path, char *err, size_t errlen)
{
    diag_t d = {0};
    char *text = file_read_regular(path, 1 << 20, NULL, &d);
    if (!text) {
        snprintf(err, errlen, "--ipfix-elements: %s", d.msg);
        return -1;
    }
    int lineno = 0, rc = 0;
    for (char *line = text; line && rc == 0;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = 0;
        lineno++;
        char *s = trim(line);
        char why[200];
        if (*s && *s != '#' && load_line(s, why, sizeof(why)) < 0) {
            snprintf(err, errlen, "--ipfix-elements: %s:%d: %s", path,
                     lineno, why);
            rc = -1;
        }
        line = nl ? nl + 1 : NULL;
    }
    free(text);
    return rc;
}

void xfield_set_string_max(size_t max)
{
    string_max = max;
}

static pthread_mutex_t want_lock = PTHREAD_MUTEX_INITIALIZER;
static int      want_refs[XF_NSLOTS];   /* engines naming each slot */
static uint32_t want_manual;

/* wanted = manual | slots some engine names (under want_lock) */
static void want_publish(void)
{
    uint32_t m = want_manual;
    for (int k = 0; k < XF_NSLOTS; k++)
        if (want_refs[k] > 0)
            m |= 1u << k;
    ctr_set(&wanted, m);
}

void xfield_want_change(uint32_t before, uint32_t after)
{
    uint32_t all = (1u << XF_NSLOTS) - 1;
    before &= all;
    after &= all;
    if (before == after)
        return;
    pthread_mutex_lock(&want_lock);
    for (int k = 0; k < XF_NSLOTS; k++) {
        int was = before >> k & 1, is = after >> k & 1;
        want_refs[k] += is - was;
    }
    want_publish();
    pthread_mutex_unlock(&want_lock);
}

void xfield_want(uint32_t slots)
{
    pthread_mutex_lock(&want_lock);
    want_manual = slots;
    want_publish();
    pthread_mutex_unlock(&want_lock);
}

uint32_t xfield_wanted(void)
{
    return (uint32_t)ctr_get(&wanted);
}

uint64_t xfield_strings(void)
{
    return str_intern_count();
}

const char *xfield_intern(int type, const uint8_t *p, size_t n)
{
    char buf[XF_STR_MAX + 1];
    size_t k = 0;
    static const char hex[] = "0123456789abcdef";
    if (type == XT_STRING) {
        for (; k < n && k < XF_STR_MAX && p[k]; k++)
            buf[k] = p[k] < 0x20 || p[k] == 0x7f ? '?' : (char)p[k];
    } else if (type == XT_MAC && n == 6) {
        for (size_t i = 0; i < 6; i++) {
            buf[k++] = hex[p[i] >> 4];
            buf[k++] = hex[p[i] & 15];
            if (i < 5)
                buf[k++] = ':';
        }
    } else {
        for (size_t i = 0; i < n && k + 2 <= XF_STR_MAX; i++) {
            buf[k++] = hex[p[i] >> 4];
            buf[k++] = hex[p[i] & 15];
        }
    }
    buf[k] = 0;
    /* a per-thread cache of recent texts spares the table's lock for
     * the names a decoder meets again and again */
    static __thread const char *cache[XF_CACHE];
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < k; i++)
        h = (h ^ (unsigned char)buf[i]) * 1099511628211ULL;
    const char **c = &cache[h & (XF_CACHE - 1)];
    if (*c && strcmp(*c, buf) == 0)
        return *c;
    const char *s = str_intern_max(buf, string_max);
    if (!s) {
        ctr_inc(&xf_string_overflows);
        return str_intern(XF_OVERFLOW);
    }
    *c = s;
    return s;
}

const char *xfield_intern_text(const char *s)
{
    const char *r = str_intern_max(s, string_max);
    if (!r) {
        ctr_inc(&xf_string_overflows);
        r = str_intern(XF_OVERFLOW);
    }
    return r;
}

int64_t xfield_int(int type, const uint8_t *p, size_t n, int host_order)
{
    uint64_t v = 0;
    if (n > 8) {         /* the low-order octets */
        if (!host_order)
            p += n - 8;
        n = 8;
    }
    if (host_order)
        for (size_t i = n; i-- > 0;)
            v = v << 8 | p[i];
    else
        for (size_t i = 0; i < n; i++)
            v = v << 8 | p[i];
    if (type == XT_MPLS)
        v >>= 4;
    return (int64_t)(v & 0x7fffffffffffffffULL);
}

static const char *empty_col[FLOW_BATCH_MAX];
static const ipaddr_t zero_ip[FLOW_BATCH_MAX];
static const int64_t zero_int[FLOW_BATCH_MAX];
static pthread_once_t empty_once = PTHREAD_ONCE_INIT;

static void empty_init(void)
{
    const char *e = str_intern("");
    for (int i = 0; i < FLOW_BATCH_MAX; i++)
        empty_col[i] = e;
}

const void *xfield_zero_column(int slot)
{
    if (slot < XF_NINT)
        return zero_int;
    if (slot >= XF_NINT + XF_NSTR)
        return zero_ip;
    pthread_once(&empty_once, empty_init);
    return empty_col;
}

void xfield_clear_row(flow_batch_t *b, int i)
{
    pthread_once(&empty_once, empty_init);
    for (uint32_t m = b->xfilled; m; m &= m - 1) {
        int k = __builtin_ctz(m);
        if (k < XF_NINT)
            b->xint[k][i] = 0;
        else if (k < XF_NINT + XF_NSTR)
            b->xstr[k - XF_NINT][i] = empty_col[0];
        else
            b->xip[k - XF_NINT - XF_NSTR][i] = (ipaddr_t){{0}};
    }
}

void xfield_fill(flow_batch_t *b, uint32_t slots, int n)
{
    pthread_once(&empty_once, empty_init);
    for (uint32_t m = slots & ~b->xfilled; m; m &= m - 1) {
        int k = __builtin_ctz(m);
        if (k < XF_NINT)
            memset(b->xint[k], 0, (size_t)n * sizeof(int64_t));
        else if (k < XF_NINT + XF_NSTR)
            memcpy(b->xstr[k - XF_NINT], empty_col,
                   (size_t)n * sizeof(const char *));
        else
            memset(b->xip[k - XF_NINT - XF_NSTR], 0,
                   (size_t)n * sizeof(ipaddr_t));
    }
    b->xfilled |= slots;
}
