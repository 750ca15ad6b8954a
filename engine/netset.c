/* netset.c - named network sets; see netset.h. */
#include "engine/netset.h"
#include "util/arena.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct netset {
    char          *name;
    int            n;
    ipaddr_t      *nets;
    int           *bits;
    struct netset *next;
} netset_t;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static netset_t *sets;
static int defaults_done;

static int define_locked(const char *name, const char *cidrs, diag_t *err);

static void ensure_defaults(void)
{
    if (!defaults_done) {
        defaults_done = 1;
        define_locked("monitored", NETSET_DEFAULT_MONITORED, NULL);
    }
}

static int define_locked(const char *name, const char *cidrs, diag_t *err)
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
    ipaddr_t *nets = xcalloc(NETSET_MAX_NETS, sizeof(ipaddr_t));
    int *bits = xcalloc(NETSET_MAX_NETS, sizeof(int));
    int n = 0;
    const char *p = cidrs;
    while (*p) {
        while (*p == ',' || isspace((unsigned char)*p))
            p++;
        if (!*p)
            break;
        size_t len = strcspn(p, ", \t");
        char tok[64];
        if (len >= sizeof(tok) || n == NETSET_MAX_NETS ||
            (memcpy(tok, p, len), tok[len] = 0,
             ipaddr_parse_cidr(tok, &nets[n], &bits[n]) < 0)) {
            diag_set(err, "network set %s: '%.*s' is not a network (e.g. "
                     "10.0.0.0/8, 2001:db8::/32)", name, (int)(len > 60 ? 60 : len), p);
            free(nets);
            free(bits);
            return -1;
        }
        n++;
        p += len;
    }
    netset_t *s;
    for (s = sets; s; s = s->next)
        if (strcasecmp(s->name, name) == 0)
            break;
    if (!s) {
        s = xcalloc(1, sizeof(*s));
        s->name = xstrdup(name);
        s->next = sets;
        sets = s;
    }
    /* Old arrays stay valid for nobody: queries copied them. */
    free(s->nets);
    free(s->bits);
    s->nets = nets;
    s->bits = bits;
    s->n = n;
    for (char *q = s->name; *q; q++)
        *q = (char)tolower((unsigned char)*q);
    return 0;
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

int netset_get(const char *name, ipaddr_t *nets, int *bits, int max)
{
    pthread_mutex_lock(&lock);
    ensure_defaults();
    int n = -1;
    for (netset_t *s = sets; s; s = s->next)
        if (strcasecmp(s->name, name) == 0) {
            n = s->n < max ? s->n : max;
            memcpy(nets, s->nets, sizeof(ipaddr_t) * (size_t)n);
            memcpy(bits, s->bits, sizeof(int) * (size_t)n);
            break;
        }
    pthread_mutex_unlock(&lock);
    return n;
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
