/* anon.c - Crypto-PAn and truncation of addresses; see anon.h. */
#include "enrich/anon.h"
#include "engine/qhandle.h"
#include "util/arena.h"
#include "util/file.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef unsigned __int128 u128;

#define ANON_CACHE_BITS 14
#define ANON_CACHE (1u << ANON_CACHE_BITS)
#define MAX_OUTPUTS 8

typedef struct aentry {
    ipaddr_t in, out;
    int      used;
} aentry_t;

#define PFX_CACHE_BITS 12
#define PFX_CACHE (1u << PFX_CACHE_BITS)

/* The pad bits of a prefix: 24 bits of IPv4, 64 of IPv6. */
typedef struct pentry {
    uint64_t prefix;
    u128     otp;
    int      bits, used;
} pentry_t;

#define V4_CACHE_BITS 12
#define V4_CACHE (1u << V4_CACHE_BITS)

/* An IPv4 /24: the pad bits of its first 24 bits, and those of the last
 * 8 for each address of it met so far. */
typedef struct v4entry {
    uint32_t prefix;       /* the /24, address >> 8 */
    uint32_t hi;           /* pad bits 0-23, in place */
    int      used;
    uint8_t  done[32];     /* a bit per last octet: low[] holds it */
    uint8_t  low[256];     /* pad bits 24-31 per last octet */
} v4entry_t;

typedef struct wrap {
    output_t  out;
    output_t *inner;
    anon_t   *a;
} wrap_t;

struct anon {
    pthread_mutex_t lock;
    int             truncate;      /* else Crypto-PAn */
    int             v4bits, v6bits;
    EVP_CIPHER_CTX *ctx;           /* AES-128-ECB under key[0..15] */
    uint8_t         pad[16];       /* AES(key[16..31]) */
    aentry_t       *cache;
    pentry_t       *pcache;
    v4entry_t      *v4cache;
    wrap_t         *wraps[MAX_OUTPUTS];
    int             nwraps;
};

/* ---- construction -------------------------------------------------------- */

anon_t *anon_cryptopan(const uint8_t key[32], diag_t *err)
{
    anon_t *a = xcalloc(1, sizeof(*a));
    pthread_mutex_init(&a->lock, NULL);
    a->ctx = EVP_CIPHER_CTX_new();
    int outl = 0;
    if (!a->ctx ||
        EVP_EncryptInit_ex(a->ctx, EVP_aes_128_ecb(), NULL, key, NULL) != 1 ||
        EVP_CIPHER_CTX_set_padding(a->ctx, 0) != 1 ||
        EVP_EncryptUpdate(a->ctx, a->pad, &outl, key + 16, 16) != 1 ||
        outl != 16) {
        diag_set(err, "--anonymize: OpenSSL cannot set up AES-128");
        anon_free(a);
        return NULL;
    }
    a->cache = xcalloc(ANON_CACHE, sizeof(aentry_t));
    a->pcache = xcalloc(PFX_CACHE, sizeof(pentry_t));
    a->v4cache = xcalloc(V4_CACHE, sizeof(v4entry_t));
    return a;
}

anon_t *anon_truncate(int v4bits, int v6bits)
{
    anon_t *a = xcalloc(1, sizeof(*a));
    pthread_mutex_init(&a->lock, NULL);
    a->truncate = 1;
    a->v4bits = v4bits < 0 ? 0 : v4bits > 32 ? 32 : v4bits;
    a->v6bits = v6bits < 0 ? 0 : v6bits > 128 ? 128 : v6bits;
    return a;
}

void anon_free(anon_t *a)
{
    if (!a)
        return;
    if (a->ctx)
        EVP_CIPHER_CTX_free(a->ctx);
    for (int i = 0; i < a->nwraps; i++)
        free(a->wraps[i]);
    free(a->cache);
    free(a->pcache);
    free(a->v4cache);
    pthread_mutex_destroy(&a->lock);
    free(a);
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int anon_read_key(const char *path, uint8_t key[32], diag_t *err)
{
    size_t n = 0;
    char *buf = file_read_regular(path, 4096, &n, err);
    if (!buf)
        return -1;
    int rc = -1;
    if (n == 32) {
        memcpy(key, buf, 32);
        rc = 0;
    } else {
        while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
            n--;
        if (n == 64) {
            rc = 0;
            for (int i = 0; i < 32 && rc == 0; i++) {
                int h = hexval((unsigned char)buf[2 * i]);
                int l = hexval((unsigned char)buf[2 * i + 1]);
                if (h < 0 || l < 0)
                    rc = -1;
                else
                    key[i] = (uint8_t)(h << 4 | l);
            }
        }
    }
    if (rc < 0)
        diag_set(err, "--anonymize-key: %s must hold exactly 32 bytes or 64 "
                 "hex digits", path);
    memset(buf, 0, n);
    free(buf);
    return rc;
}

int anon_parse_scope(const char *s, unsigned *out, diag_t *err)
{
    static const struct {
        const char *name;
        unsigned    bit;
    } names[] = {{"all", ANON_ALL}, {"store", ANON_STORE},
                 {"kafka", ANON_KAFKA}, {"es", ANON_ES},
                 {"elasticsearch", ANON_ES}, {"archive", ANON_ARCHIVE},
                 {"api", ANON_API}};
    unsigned m = 0;
    const char *p = s;
    while (*p) {
        size_t len = strcspn(p, ",");
        size_t i;
        for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
            if (strlen(names[i].name) == len &&
                strncasecmp(names[i].name, p, len) == 0)
                break;
        if (i == sizeof(names) / sizeof(names[0])) {
            diag_set(err, "--anonymize-scope: '%.*s' is not all, store, "
                     "kafka, es, archive or api", (int)len, p);
            return -1;
        }
        m |= names[i].bit;
        p += len;
        if (*p == ',')
            p++;
    }
    if (!m) {
        diag_set(err, "--anonymize-scope: empty (all, or a list of store, "
                 "kafka, es, archive, api)");
        return -1;
    }
    *out = m;
    return 0;
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

/* ---- the mapping ------------------------------------------------------------ */

/* Bits from..to-1 (high bit first) of Crypto-PAn's one-time pad for a
 * bits-wide address x (32 or 128): bit i is the first bit of AES(x's
 * first i bits, then the pad's bits). Bit i depends on x's first i bits
 * only, which is what makes the scheme prefix-preserving and lets the
 * caller cache the bits of a prefix. The blocks are built first and
 * encrypted in one call. */
static u128 otp_bits(anon_t *a, u128 x, int bits, int from, int to)
{
    uint8_t in[128 * 16], out[128 * 16];
    u128 pad = 0;
    for (int i = 0; i < 16; i++)
        pad = pad << 8 | a->pad[i];
    /* For IPv4 only the pad's first 4 bytes mix with the address; the
     * other 12 stay as they are in every block. */
    u128 padw = bits == 32 ? pad >> 96 : pad;
    u128 ones = bits == 128 ? ~(u128)0 : (((u128)1 << bits) - 1);
    int nb = bits / 8;
    for (int i = from; i < to; i++) {
        u128 keep = i == 0 ? 0 : (ones << (bits - i)) & ones;
        u128 v = (x & keep) | (padw & ~keep & ones);
        uint8_t *blk = in + (size_t)(i - from) * 16;
        memcpy(blk, a->pad, 16);
        for (int k = 0; k < nb; k++)
            blk[k] = (uint8_t)(v >> (8 * (nb - 1 - k)));
    }
    int outl = 0;
    if (EVP_EncryptUpdate(a->ctx, out, &outl, in, (to - from) * 16) != 1 ||
        outl != (to - from) * 16)
        abort();    /* ECB over whole blocks cannot fail */
    u128 otp = 0;
    for (int i = from; i < to; i++)
        otp |= (u128)(out[(size_t)(i - from) * 16] >> 7) << (bits - 1 - i);
    return otp;
}

/* Crypto-PAn of an IPv6 address x: the pad bits of its first 64 come
 * from the prefix cache (flows share /64s), the rest are computed. */
static u128 cryptopan6(anon_t *a, u128 x)
{
    u128 prefix = x >> 64;
    uint64_t h = mix64((uint64_t)prefix);
    pentry_t *e = &a->pcache[h >> (64 - PFX_CACHE_BITS)];
    u128 hi;
    if (e->used && e->prefix == (uint64_t)prefix) {
        hi = e->otp;
    } else {
        hi = otp_bits(a, x, 128, 0, 64);
        *e = (pentry_t){(uint64_t)prefix, hi, 128, 1};
    }
    return x ^ hi ^ otp_bits(a, x, 128, 64, 128);
}

/* Crypto-PAn of an IPv4 address x: the /24's pad bits once per /24 (24
 * AES blocks), the last 8 once per address (8 blocks), both kept in the
 * /24's entry. */
static uint32_t cryptopan4(anon_t *a, uint32_t x)
{
    uint32_t p = x >> 8, o = x & 255;
    v4entry_t *e = &a->v4cache[mix64(p) >> (64 - V4_CACHE_BITS)];
    if (!e->used || e->prefix != p) {
        e->prefix = p;
        e->hi = (uint32_t)otp_bits(a, x, 32, 0, 24);
        memset(e->done, 0, sizeof(e->done));
        e->used = 1;
    }
    if (!(e->done[o >> 3] & (1u << (o & 7)))) {
        e->low[o] = (uint8_t)otp_bits(a, x, 32, 24, 32);
        e->done[o >> 3] |= (uint8_t)(1u << (o & 7));
    }
    return x ^ e->hi ^ e->low[o];
}

static int is_unspecified(const ipaddr_t *ip)
{
    static const uint8_t zero[16];
    static const uint8_t v4zero[16] = {0, 0, 0, 0, 0, 0, 0, 0,
                                       0, 0, 0xff, 0xff, 0, 0, 0, 0};
    return memcmp(ip->a, zero, 16) == 0 || memcmp(ip->a, v4zero, 16) == 0;
}

/* anon_addr with a->lock held. */
static ipaddr_t map_locked(anon_t *a, const ipaddr_t *ip)
{
    if (is_unspecified(ip))
        return *ip;
    int v4 = ipaddr_is_v4(ip);
    if (a->truncate)
        return ipaddr_mask(ip, v4 ? 96 + a->v4bits : a->v6bits);
    if (v4)
        return ipaddr_from_v4(cryptopan4(a, ipaddr_v4(ip)));
    uint64_t h0, h1;
    memcpy(&h0, ip->a, 8);
    memcpy(&h1, ip->a + 8, 8);
    uint64_t h = mix64(h0 ^ mix64(h1));
    aentry_t *e = &a->cache[h >> (64 - ANON_CACHE_BITS)];
    if (e->used && ipaddr_eq(&e->in, ip))
        return e->out;
    ipaddr_t r = *ip;
    u128 x = 0;
    for (int i = 0; i < 16; i++)
        x = x << 8 | ip->a[i];
    x = cryptopan6(a, x);
    for (int i = 15; i >= 0; i--, x >>= 8)
        r.a[i] = (uint8_t)x;
    e->in = *ip;
    e->out = r;
    e->used = 1;
    return r;
}

ipaddr_t anon_addr(anon_t *a, const ipaddr_t *ip)
{
    pthread_mutex_lock(&a->lock);
    ipaddr_t r = map_locked(a, ip);
    pthread_mutex_unlock(&a->lock);
    return r;
}

void anon_batch(anon_t *a, flow_batch_t *b)
{
    pthread_mutex_lock(&a->lock);
    for (uint32_t i = 0; i < b->n; i++) {
        b->srcip[i] = map_locked(a, &b->srcip[i]);
        b->dstip[i] = map_locked(a, &b->dstip[i]);
        b->nexthop[i] = map_locked(a, &b->nexthop[i]);
    }
    pthread_mutex_unlock(&a->lock);
}

/* ---- outputs ------------------------------------------------------------------ */

/* Hand the inner output a copy of rs with its address cells mapped; rs
 * itself goes unchanged to the other outputs. */
static void wrap_window(output_t *o, rowset_t *rs)
{
    wrap_t *w = o->ctx;
    int any = 0;
    for (int c = 0; c < rs->ncols; c++)
        any |= rs->cols[c].type == TYPE_IP;
    if (!any) {
        w->inner->on_window(w->inner, rs);
        return;
    }
    rowset_t *cp = rowset_new(rs->query, rs->ncols);
    if (rs->qh)
        qhandle_ref(rs->qh);
    cp->qh = rs->qh;
    cp->seq = rs->seq;
    cp->wstart = rs->wstart;
    cp->wend = rs->wend;
    cp->closed_at = rs->closed_at;
    cp->partial = rs->partial;
    cp->replayed = rs->replayed;
    cp->flows = rs->flows;
    cp->groups = rs->groups;
    cp->overflow = rs->overflow;
    for (int c = 0; c < rs->ncols; c++) {
        cp->cols[c] = rs->cols[c];
        cp->cols[c].name = rowset_strdup(cp, rs->cols[c].name);
    }
    cp->nopts = rs->nopts;
    cp->opts = arena_alloc(cp->arena, sizeof(rowset_opt_t) *
                                          (size_t)(rs->nopts ? rs->nopts : 1));
    for (int i = 0; i < rs->nopts; i++) {
        cp->opts[i].key = rowset_strdup(cp, rs->opts[i].key);
        cp->opts[i].value = rowset_strdup(cp, rs->opts[i].value);
    }
    pthread_mutex_lock(&w->a->lock);
    for (uint32_t r = 0; r < rs->nrows; r++) {
        const value_t *src = rowset_row(rs, r);
        value_t *dst = rowset_add_row(cp);
        for (int c = 0; c < rs->ncols; c++) {
            if (rs->cols[c].type == TYPE_IP)
                dst[c].ip = map_locked(w->a, &src[c].ip);
            else if (rs->cols[c].type == TYPE_STRING)
                dst[c].s = src[c].s ? rowset_strdup(cp, src[c].s) : NULL;
            else
                dst[c] = src[c];
        }
    }
    pthread_mutex_unlock(&w->a->lock);
    w->inner->on_window(w->inner, cp);
    rowset_unref(cp);
}

output_t *anon_output(anon_t *a, output_t *inner)
{
    if (a->nwraps == MAX_OUTPUTS)
        return inner;   /* more outputs than the daemon has */
    wrap_t *w = xcalloc(1, sizeof(*w));
    w->inner = inner;
    w->a = a;
    w->out.name = inner->name;
    w->out.on_window = wrap_window;
    w->out.ctx = w;
    a->wraps[a->nwraps++] = w;
    return &w->out;
}
