/*
 * archive.c - the archive service: the writer thread, partitions,
 * rotation, recovery, retention and the size cap. See archive.h; scans
 * are in arscan.c.
 *
 * Threads. archive_submit() runs in the engine thread and only pushes
 * onto a bounded queue (or counts a drop). Everything else - the Parquet
 * writers, the files, the directory walks - belongs to the archive
 * thread, so none of it needs a lock. Counters read by /metrics are
 * util/counter.h atomics; the release function (which may change while
 * the daemon stops its collectors) is read under release_lock.
 *
 * Partitions. A flow goes to the partition of its received time,
 * start = floor(received / period) * period. Up to MAX_OPEN files are
 * open at once: the current partition and, for the flows of collectors
 * that were a little behind at a boundary, the previous ones. A file is
 * closed once its partition ended at least `grace` (= the flush
 * interval, at least 1 s) ago and no flow came for it for as long. A
 * flow for a partition older than every open file (very late: a
 * backlog, a clock stepped back) opens an extra file of its partition,
 * "-N" (counted as late), so every file's flows lie in its partition.
 */
#include "archive/arint.h"
#include "archive/parquet.h"
#include "engine/schema.h"
#include "util/arena.h"
#include "util/bqueue.h"
#include "util/log.h"
#include "util/timeutil.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#define DAY_MS    86400000LL
#define MAX_OPEN  4
#define BACKOFF_MS 1000      /* after a write error, no new file for this long */
#define DROP_QUIET_MS 1000   /* a drop episode ends after this long without */

typedef struct part {
    int64_t      start, end;   /* the partition */
    char        *path;         /* the final name (.parquet) */
    pq_writer_t *w;
    int64_t      rg_first;     /* mono ms of the first pending flow */
    int64_t      last_flow;    /* mono ms of the last flow added */
    uint64_t     bytes;        /* file bytes written so far */
} part_t;

enum { C_WRITTEN, C_DROPPED, C_LATE, C_RG, C_CREATED, C_CLOSED, C_WERR,
       C_RECOVER, C_RECOVER_RG, C_DEL_RET, C_DEL_CAP, C_COUNT };

struct archive {
    archive_config_t cfg;
    char            *dir;
    bqueue_t         q;
    pthread_t        thr;
    int              running;
    flag_t           stop;
    pthread_mutex_t  release_lock;
    void           (*release)(void *ctx, flow_batch_t *b);
    void            *release_ctx;
    counter_t        c[C_COUNT];
    gauge_t          queued_flows;
    gauge_t          files, bytes;
    /* the engine thread's, for logging drops once per episode: an
     * episode ends when a batch is taken DROP_QUIET_MS after the last
     * drop */
    int              dropping;
    uint64_t         episode_drops;
    int64_t          last_drop;      /* mono ms */
    /* the archive thread's */
    part_t           parts[MAX_OPEN];
    int              nparts;
    pq_column_t      cols[64];
    size_t           ncols;
    flow_batch_t    *split;     /* the flows of one partition */
    flow_batch_t    *piece;     /* the part of a batch that fills a row group */
    int64_t          pstart[FLOW_BATCH_MAX];
    int64_t          grace;
    int64_t          backoff_until;  /* mono ms */
    int64_t          next_check;     /* mono ms */
    int64_t          last_cap_walk;  /* mono ms */
    uint64_t         closed_files, closed_bytes;
    int64_t          newest_closed;  /* partition start of the newest
                                        file closed, INT64_MIN: none */
    int              cap_warned;
    log_limit_t      err_log;
};

/* ---- small helpers ------------------------------------------------------- */

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static int file_exists(const char *path)
{
    struct stat sb;
    return lstat(path, &sb) == 0;
}

static int64_t file_size(const char *path)
{
    struct stat sb;
    return lstat(path, &sb) == 0 ? (int64_t)sb.st_size : -1;
}

/* mkdir -p of path's parent directories and path itself. */
static int make_dirs(const char *path, diag_t *err)
{
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(tmp, 0755) < 0 && errno != EEXIST) {
            diag_set(err, "cannot create %s: %s", tmp, strerror(errno));
            return -1;
        }
        *p = '/';
    }
    if (mkdir(tmp, 0755) < 0 && errno != EEXIST) {
        diag_set(err, "cannot create %s: %s", tmp, strerror(errno));
        return -1;
    }
    return 0;
}

static void release_batch(archive_t *a, flow_batch_t *b)
{
    pthread_mutex_lock(&a->release_lock);
    if (a->release)
        a->release(a->release_ctx, b);
    else
        flow_batch_free(b);
    pthread_mutex_unlock(&a->release_lock);
}

/* Copy flow i of src to the end of dst. */
static void copy_flow(flow_batch_t *dst, const flow_batch_t *src, uint32_t i)
{
    uint32_t k = dst->n++;
    dst->srcip[k] = src->srcip[i];
    dst->dstip[k] = src->dstip[i];
    dst->nexthop[k] = src->nexthop[i];
    dst->exporter[k] = src->exporter[i];
    dst->start[k] = src->start[i];
    dst->end[k] = src->end[i];
    dst->received[k] = src->received[i];
    dst->packets[k] = src->packets[i];
    dst->bytes[k] = src->bytes[i];
    dst->srcport[k] = src->srcport[i];
    dst->dstport[k] = src->dstport[i];
    dst->proto[k] = src->proto[i];
    dst->tcpflags[k] = src->tcpflags[i];
    dst->tos[k] = src->tos[i];
    dst->ingress[k] = src->ingress[i];
    dst->egress[k] = src->egress[i];
    dst->srcas[k] = src->srcas[i];
    dst->dstas[k] = src->dstas[i];
    dst->srcmask[k] = src->srcmask[i];
    dst->dstmask[k] = src->dstmask[i];
    dst->vlan[k] = src->vlan[i];
    dst->direction[k] = src->direction[i];
    dst->sampling[k] = src->sampling[i];
    dst->domain[k] = src->domain[i];
}

/* ---- sizes ---------------------------------------------------------------- */

int archive_parse_size(const char *text, const char *dir, int64_t *out,
                       diag_t *err)
{
    char *end;
    size_t len = strlen(text);
    if (len && text[len - 1] == '%') {
        errno = 0;
        double pct = strtod(text, &end);
        if (errno || end == text || *end != '%' || !(pct > 0 && pct <= 100)) {
            diag_set(err, "'%s' is not a share of the file system (e.g. 20%%)",
                     text);
            return -1;
        }
        struct statvfs vs;
        if (statvfs(dir, &vs) < 0) {
            diag_set(err, "cannot read the size of the file system of %s: %s",
                     dir, strerror(errno));
            return -1;
        }
        double total = (double)vs.f_blocks * (double)vs.f_frsize;
        *out = (int64_t)(total * pct / 100);
        if (*out < 1)
            *out = 1;
        return 0;
    }
    errno = 0;
    long long v = strtoll(text, &end, 10);
    int64_t mul = 1;
    if (*end == 'k' || *end == 'K')
        mul = 1LL << 10, end++;
    else if (*end == 'M')
        mul = 1LL << 20, end++;
    else if (*end == 'G')
        mul = 1LL << 30, end++;
    else if (*end == 'T')
        mul = 1LL << 40, end++;
    if (*end == 'B')
        end++;
    if (errno || end == text || *end || v < 0 || v > INT64_MAX / mul) {
        diag_set(err, "'%s' is not a size (e.g. 500M, 20G) or a share of the "
                 "file system (20%%)", text);
        return -1;
    }
    *out = v * mul;
    return 0;
}

/* ---- files ---------------------------------------------------------------- */

/* DIR/YYYY/MM/DD and the final path of the seq'th file of a partition. */
static void part_paths(const archive_t *a, int64_t start, int seq,
                       char *dir, size_t dsize, char *path, size_t psize)
{
    time_t t = (time_t)floor_div(start, 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(dir, dsize, "%s/%04d/%02d/%02d", a->dir, tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday);
    char s[16];
    if (seq)
        snprintf(s, sizeof(s), "-%d", seq);
    else
        s[0] = 0;
    snprintf(path, psize, "%s/flows-%04d%02d%02d-%02d%02d%02d%s.parquet", dir,
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, s);
}

static void update_gauges(archive_t *a)
{
    uint64_t bytes = a->closed_bytes;
    for (int i = 0; i < a->nparts; i++)
        bytes += a->parts[i].bytes;
    gauge_set(&a->files, (int64_t)(a->closed_files + (uint64_t)a->nparts));
    gauge_set(&a->bytes, (int64_t)bytes);
}

/* Open a file for partition start (its first free name). NULL on error
 * (counted, logged; new files wait BACKOFF_MS). */
static part_t *part_open(archive_t *a, int64_t start)
{
    int64_t now = time_mono_ms();
    if (now < a->backoff_until)
        return NULL;
    char dir[4096], path[4200], open_path[4300];
    int seq = 0;
    for (;; seq++) {
        part_paths(a, start, seq, dir, sizeof(dir), path, sizeof(path));
        snprintf(open_path, sizeof(open_path), "%s.open", path);
        if (!file_exists(path) && !file_exists(open_path))
            break;
        if (seq >= 100000) {
            log_limited(&a->err_log, LOG_ERROR, "archive", "%s: no free name "
                        "for another file of this partition", path);
            a->backoff_until = now + BACKOFF_MS;
            return NULL;
        }
    }
    diag_t err;
    diag_clear(&err);
    char ks[24], ke[24], kp[24];
    snprintf(ks, sizeof(ks), "%lld", (long long)start);
    snprintf(ke, sizeof(ke), "%lld", (long long)(start + a->cfg.period_ms));
    snprintf(kp, sizeof(kp), "%lld", (long long)a->cfg.period_ms);
    pq_kv_t kv[] = {
        {"flowsql.version", FLOWSQL_VERSION},
        {"flowsql.schema", "1"},
        {"flowsql.partition.start", ks},
        {"flowsql.partition.end", ke},
        {"flowsql.partition.period", kp},
    };
    /* Each row group's flows sorted by source address: a host's flows
     * sit in one page of each column, which the page index finds. */
    pq_writer_opts_t o = {.zstd_level = a->cfg.zstd_level,
                          .no_sync = a->cfg.no_sync, .kv = kv,
                          .sort_by = "srcip", .page_rows = (int)a->cfg.page_rows,
                          .nkv = sizeof(kv) / sizeof(kv[0])};
    pq_writer_t *w = NULL;
    if (make_dirs(dir, &err) == 0)
        w = pq_writer_open(path, a->cols, a->ncols, &o, &err);
    if (!w) {
        ctr_inc(&a->c[C_WERR]);
        log_limited(&a->err_log, LOG_ERROR, "archive", "%s", err.msg);
        a->backoff_until = now + BACKOFF_MS;
        return NULL;
    }
    part_t *p = &a->parts[a->nparts++];
    memset(p, 0, sizeof(*p));
    p->start = start;
    p->end = start + a->cfg.period_ms;
    p->path = xstrdup(path);
    p->w = w;
    p->last_flow = now;
    ctr_inc(&a->c[C_CREATED]);
    log_debug("archive", "writing %s", path);
    return p;
}

static void part_remove(archive_t *a, part_t *p)
{
    free(p->path);
    int i = (int)(p - a->parts);
    memmove(&a->parts[i], &a->parts[i + 1],
            (size_t)(a->nparts - i - 1) * sizeof(part_t));
    a->nparts--;
}

/* Recover path (final name) from its .open and journal; 0 if done. */
static int recover(archive_t *a, const char *path)
{
    uint64_t kept = 0;
    diag_t err;
    diag_clear(&err);
    if (pq_recover(path, &kept, &err) < 0) {
        log_limited(&a->err_log, LOG_ERROR, "archive", "recovering %s: %s",
                    path, err.msg);
        return -1;
    }
    ctr_inc(&a->c[C_RECOVER]);
    ctr_add(&a->c[C_RECOVER_RG], kept);
    int64_t sz = file_size(path);
    if (sz >= 0) {
        a->closed_files++;
        a->closed_bytes += (uint64_t)sz;
    }
    log_info("archive", "recovered %s: %llu row groups kept", path,
             (unsigned long long)kept);
    return 0;
}

/* A write failed: the pending flows are lost (counted); the file keeps
 * its flushed row groups (recovered now if it can be, else later). */
static void part_fail(archive_t *a, part_t *p, uint64_t lost, diag_t *err)
{
    ctr_inc(&a->c[C_WERR]);
    ctr_add(&a->c[C_DROPPED], lost);
    log_limited(&a->err_log, LOG_ERROR, "archive", "%s (%llu flows lost)",
                err->msg, (unsigned long long)lost);
    pq_writer_abandon(p->w);
    p->w = NULL;
    recover(a, p->path);
    part_remove(a, p);
    a->backoff_until = time_mono_ms() + BACKOFF_MS;
    update_gauges(a);
}

static void enforce(archive_t *a);

/* End the row group of p. 0, or -1 if p failed (and is gone). */
static int part_flush(archive_t *a, part_t *p)
{
    size_t n = pq_writer_pending(p->w);
    if (!n)
        return 0;
    diag_t err;
    diag_clear(&err);
    int64_t t0 = time_mono_ms();
    if (pq_writer_flush(p->w, &err) < 0) {
        part_fail(a, p, n, &err);
        return -1;
    }
    int64_t took = time_mono_ms() - t0;
    if (took >= 1000)
        log_info("archive", "%s: a row group of %zu flows took %lld ms to "
                 "write (the queue fills meanwhile)", p->path, n,
                 (long long)took);
    else
        log_debug("archive", "%s: row group of %zu flows in %lld ms", p->path,
                  n, (long long)took);
    ctr_add(&a->c[C_WRITTEN], n);
    ctr_inc(&a->c[C_RG]);
    pq_writer_stats_t st;
    pq_writer_stats(p->w, &st);
    p->bytes = st.bytes;
    update_gauges(a);
    /* Over the cap: look now (at most once a second), not at the next
     * periodic check. */
    int64_t now = time_mono_ms();
    if (a->cfg.max_bytes > 0 && gauge_get(&a->bytes) > a->cfg.max_bytes &&
        now - a->last_cap_walk >= 1000)
        enforce(a);
    return 0;
}

static void part_close(archive_t *a, part_t *p)
{
    if (part_flush(a, p) < 0)
        return;
    diag_t err;
    diag_clear(&err);
    char *path = xstrdup(p->path);
    pq_writer_t *w = p->w;
    if (p->start > a->newest_closed)
        a->newest_closed = p->start;
    p->w = NULL;
    part_remove(a, p);
    if (pq_writer_close(w, &err) < 0) {
        ctr_inc(&a->c[C_WERR]);
        log_limited(&a->err_log, LOG_ERROR, "archive", "closing %s: %s", path,
                    err.msg);
        recover(a, path);
    } else {
        ctr_inc(&a->c[C_CLOSED]);
        int64_t sz = file_size(path);
        a->closed_files++;
        a->closed_bytes += sz > 0 ? (uint64_t)sz : 0;
        log_debug("archive", "closed %s", path);
    }
    free(path);
    update_gauges(a);
}

/* ---- retention and the cap ----------------------------------------------- */

/* Remove the day, month and year directories of path if empty. */
static void prune_dirs(const char *path)
{
    char d[4096];
    snprintf(d, sizeof(d), "%s", path);
    for (int i = 0; i < 3; i++) {
        char *s = strrchr(d, '/');
        if (!s)
            return;
        *s = 0;
        if (rmdir(d) < 0)
            return;
    }
}

static int delete_file(archive_t *a, archive_file_t *f, int why)
{
    if (unlink(f->path) < 0 && errno != ENOENT) {
        log_limited(&a->err_log, LOG_ERROR, "archive", "cannot delete %s: %s",
                    f->path, strerror(errno));
        return -1;
    }
    ctr_inc(&a->c[why]);
    log_info("archive", "deleted %s (%s)", f->path,
             why == C_DEL_RET ? "retention" : "size cap");
    prune_dirs(f->path);
    return 0;
}

static int is_ours(const archive_t *a, const archive_file_t *f)
{
    size_t n = strlen(f->path);
    for (int i = 0; i < a->nparts; i++)
        if (strncmp(a->parts[i].path, f->path, n - 5) == 0 &&
            a->parts[i].path[n - 5] == 0)
            return 1;
    return 0;
}

/*
 * Walk the archive: recover .open files no writer owns (a crash, a
 * failed close), delete files past the retention, then the oldest
 * closed files while the archive is over the cap; refresh the gauges.
 */
static void enforce(archive_t *a)
{
    a->last_cap_walk = time_mono_ms();
    archive_file_list_t l;
    diag_t err;
    diag_clear(&err);
    if (archive_list(a->dir, INT64_MIN, INT64_MAX, &l, &err) < 0) {
        log_limited(&a->err_log, LOG_ERROR, "archive", "%s", err.msg);
        return;
    }
    int recovered = 0;
    for (size_t i = 0; i < l.n; i++) {
        archive_file_t *f = &l.f[i];
        if (f->is_open && !is_ours(a, f)) {
            char *final = xstrdup(f->path);
            final[strlen(final) - 5] = 0;
            recovered += recover(a, final) == 0;
            free(final);
        }
    }
    if (recovered) {
        archive_file_list_free(&l);
        if (archive_list(a->dir, INT64_MIN, INT64_MAX, &l, &err) < 0)
            return;
    }
    uint64_t total = 0;
    for (size_t i = 0; i < l.n; i++) {
        archive_file_t *f = &l.f[i];
        int64_t sz = file_size(f->path);
        f->size = sz < 0 ? 0 : sz;
        if (f->is_open) {
            char j[4200];
            snprintf(j, sizeof(j), "%.*s.journal", (int)strlen(f->path) - 5,
                     f->path);
            int64_t js = file_size(j);
            f->size += js > 0 ? js : 0;
        }
        total += (uint64_t)f->size;
    }
    int64_t now = time_now_ms();
    if (a->cfg.retention_ms > 0) {
        for (size_t i = 0; i < l.n; i++) {
            archive_file_t *f = &l.f[i];
            if (!f->is_open && f->size >= 0 &&
                f->start + a->cfg.period_ms <= now - a->cfg.retention_ms &&
                delete_file(a, f, C_DEL_RET) == 0) {
                total -= (uint64_t)f->size;
                f->size = -1;
            }
        }
    }
    if (a->cfg.max_bytes > 0) {
        for (size_t i = 0; i < l.n && total > (uint64_t)a->cfg.max_bytes;
             i++) {
            archive_file_t *f = &l.f[i];
            if (!f->is_open && f->size >= 0 &&
                delete_file(a, f, C_DEL_CAP) == 0) {
                total -= (uint64_t)f->size;
                f->size = -1;
            }
        }
        if (total > (uint64_t)a->cfg.max_bytes && !a->cap_warned) {
            log_warn("archive", "the files being written alone (%llu bytes) "
                     "exceed --archive-max-size (%lld bytes)",
                     (unsigned long long)total, (long long)a->cfg.max_bytes);
            a->cap_warned = 1;
        } else if (total <= (uint64_t)a->cfg.max_bytes) {
            a->cap_warned = 0;
        }
    }
    a->closed_files = a->closed_bytes = 0;
    for (size_t i = 0; i < l.n; i++)
        if (!l.f[i].is_open && l.f[i].size >= 0) {
            a->closed_files++;
            a->closed_bytes += (uint64_t)l.f[i].size;
        }
    archive_file_list_free(&l);
    update_gauges(a);
}

/* ---- writing ---------------------------------------------------------------- */

/* The open file of partition start, opening one if needed; NULL if it
 * cannot be written now. */
static part_t *part_for(archive_t *a, int64_t start, uint32_t nflows)
{
    int64_t newest = INT64_MIN;
    for (int i = 0; i < a->nparts; i++) {
        if (a->parts[i].start == start)
            return &a->parts[i];
        if (a->parts[i].start > newest)
            newest = a->parts[i].start;
    }
    if (a->nparts == MAX_OPEN) {
        /* Make room: close the file that saw a flow last longest ago. */
        part_t *old = &a->parts[0];
        for (int i = 1; i < a->nparts; i++)
            if (a->parts[i].last_flow < old->last_flow)
                old = &a->parts[i];
        part_close(a, old);
    }
    /* Late: older than a file being written, or of a partition closed
     * already (not a partition of files an earlier run left). */
    int late = (a->nparts > 0 && start < newest) || start <= a->newest_closed;
    part_t *p = part_open(a, start);
    if (p && late)
        ctr_add(&a->c[C_LATE], nflows);
    if (p && !late && start > newest && newest != INT64_MIN)
        a->next_check = 0;   /* a rotation: check retention and cap */
    return p;
}

/* Append the flows of b (all of partition start), row group by row
 * group. */
static void add_flows(archive_t *a, int64_t start, const flow_batch_t *b)
{
    part_t *p = part_for(a, start, b->n);
    if (!p) {
        ctr_add(&a->c[C_DROPPED], b->n);
        return;
    }
    int64_t now = time_mono_ms();
    uint32_t off = 0;
    while (off < b->n) {
        size_t pending = pq_writer_pending(p->w);
        uint64_t room = (uint64_t)a->cfg.rg_flows > pending
                        ? (uint64_t)a->cfg.rg_flows - pending : 1;
        uint32_t take = b->n - off;
        if (take > room)
            take = (uint32_t)room;
        const flow_batch_t *src = b;
        if (off || take < b->n) {
            flow_batch_reset(a->piece);
            for (uint32_t i = off; i < off + take; i++)
                copy_flow(a->piece, b, i);
            src = a->piece;
        }
        diag_t err;
        diag_clear(&err);
        if (!pending)
            p->rg_first = now;
        if (pq_writer_add_batch(p->w, src, &err) < 0) {
            part_fail(a, p, pending + (b->n - off), &err);
            return;
        }
        p->last_flow = now;
        off += take;
        if (pending + take >= (uint64_t)a->cfg.rg_flows &&
            part_flush(a, p) < 0) {
            ctr_add(&a->c[C_DROPPED], b->n - off);
            return;
        }
    }
}

static void write_batch(archive_t *a, const flow_batch_t *b)
{
    if (!b->n)
        return;
    int64_t period = a->cfg.period_ms;
    int same = 1;
    for (uint32_t i = 0; i < b->n; i++) {
        a->pstart[i] = floor_div(b->received[i], period) * period;
        same &= a->pstart[i] == a->pstart[0];
    }
    if (same) {
        add_flows(a, a->pstart[0], b);
        return;
    }
    /* Flows of several partitions (a boundary): one pass per partition,
     * oldest first. */
    for (;;) {
        int64_t s = INT64_MAX;
        for (uint32_t i = 0; i < b->n; i++)
            if (a->pstart[i] != INT64_MIN && a->pstart[i] < s)
                s = a->pstart[i];
        if (s == INT64_MAX)
            break;
        flow_batch_reset(a->split);
        for (uint32_t i = 0; i < b->n; i++)
            if (a->pstart[i] == s) {
                copy_flow(a->split, b, i);
                a->pstart[i] = INT64_MIN;
            }
        add_flows(a, s, a->split);
    }
}

/* Flush old row groups, close finished partitions, check the disk. */
static void tick(archive_t *a)
{
    int64_t mono = time_mono_ms(), wall = time_now_ms();
    for (int i = 0; i < a->nparts; i++) {
        part_t *p = &a->parts[i];
        if (pq_writer_pending(p->w) && mono - p->rg_first >= a->cfg.flush_ms &&
            part_flush(a, p) < 0)
            i--;   /* p failed and is gone */
    }
    for (int i = 0; i < a->nparts; i++) {
        part_t *p = &a->parts[i];
        if (wall >= p->end + a->grace && mono - p->last_flow >= a->grace) {
            part_close(a, p);
            i--;
        }
    }
    if (mono >= a->next_check) {
        enforce(a);
        a->next_check = mono + a->cfg.check_ms;
    }
}

static void *archive_main(void *arg)
{
    archive_t *a = arg;
    pthread_setname_np(pthread_self(), "flowsql-archive");   /* top -H */
    for (;;) {
        flow_batch_t *b = bqueue_pop(&a->q, 100);
        if (b) {
            gauge_add(&a->queued_flows, -(int64_t)b->n);
            write_batch(a, b);
            release_batch(a, b);
        } else if (flag_get(&a->stop)) {
            break;
        }
        tick(a);
    }
    while (a->nparts)
        part_close(a, &a->parts[0]);
    enforce(a);
    return NULL;
}

/* ---- the API --------------------------------------------------------------- */

archive_t *archive_open(const archive_config_t *cfg, diag_t *err)
{
    int64_t p = cfg->period_ms;
    if (p < 1000 || p > DAY_MS || p % 1000 || DAY_MS % p) {
        diag_set(err, "--archive-period: %lld ms is not a whole number of "
                 "seconds from 1s to 1d dividing a day (5m, 1h...)",
                 (long long)p);
        return NULL;
    }
    if (cfg->flush_ms < 1) {
        diag_set(err, "--archive-flush must be at least 1ms");
        return NULL;
    }
    if (cfg->rg_flows < 1 || cfg->rg_flows > 16 * 1024 * 1024) {
        diag_set(err, "--archive-row-group: %lld flows is not in 1..16777216",
                 (long long)cfg->rg_flows);
        return NULL;
    }
    if (cfg->page_rows < 0 || cfg->page_rows > 1024 * 1024) {
        diag_set(err, "--archive-page-rows: %lld flows is not in 1..1048576",
                 (long long)cfg->page_rows);
        return NULL;
    }
    if (make_dirs(cfg->dir, err) < 0)
        return NULL;
    if (access(cfg->dir, W_OK | X_OK) < 0) {
        diag_set(err, "the archive directory %s is not writable: %s",
                 cfg->dir, strerror(errno));
        return NULL;
    }
    archive_t *a = xcalloc(1, sizeof(*a));
    a->cfg = *cfg;
    a->dir = xstrdup(cfg->dir);
    a->cfg.dir = a->dir;
    if (a->cfg.check_ms <= 0)
        a->cfg.check_ms = 60000;
    if (a->cfg.queue_batches <= 0)
        a->cfg.queue_batches = 64;
    a->grace = a->cfg.flush_ms < 1000 ? 1000 : a->cfg.flush_ms;
    a->newest_closed = INT64_MIN;
    a->release = cfg->release;
    a->release_ctx = cfg->release_ctx;
    pthread_mutex_init(&a->release_lock, NULL);
    bqueue_init(&a->q, (size_t)a->cfg.queue_batches);
    a->ncols = pq_flow_columns(a->cols, 64);
    a->split = flow_batch_new();
    a->piece = flow_batch_new();
    /* Recovery of what a crash left, retention and the cap, before any
     * flow is written. */
    enforce(a);
    a->next_check = time_mono_ms() + a->cfg.check_ms;
    if (pthread_create(&a->thr, NULL, archive_main, a) != 0) {
        diag_set(err, "cannot start the archive thread: %s", strerror(errno));
        archive_close(a);
        return NULL;
    }
    a->running = 1;
    log_info("archive", "%s: %llu files, %llu bytes; period %llds, "
             "retention %s, cap %lld bytes", a->dir,
             (unsigned long long)gauge_get(&a->files),
             (unsigned long long)gauge_get(&a->bytes),
             (long long)(a->cfg.period_ms / 1000),
             a->cfg.retention_ms ? "on" : "off", (long long)a->cfg.max_bytes);
    return a;
}

int archive_submit(archive_t *a, flow_batch_t *b)
{
    if (b->flags & FLOW_BATCH_REPLAY)
        return -1;
    uint32_t n = b->n;
    gauge_add(&a->queued_flows, n);
    if (bqueue_try_push(&a->q, b) == 0) {
        if (a->dropping && time_mono_ms() - a->last_drop >= DROP_QUIET_MS) {
            log_warn("archive", "writer caught up: %llu flows were not "
                     "archived (flowsql_archive_dropped_flows_total)",
                     (unsigned long long)a->episode_drops);
            a->dropping = 0;
            a->episode_drops = 0;
        }
        return 0;
    }
    gauge_add(&a->queued_flows, -(int64_t)n);
    ctr_add(&a->c[C_DROPPED], n);
    if (!a->dropping) {
        log_warn("archive", "writer behind (queue of %d batches full): "
                 "flows are not archived until it catches up",
                 a->cfg.queue_batches);
        a->dropping = 1;
    }
    a->episode_drops += n;
    a->last_drop = time_mono_ms();
    return -1;
}

void archive_set_release(archive_t *a, void (*fn)(void *ctx, flow_batch_t *b),
                         void *ctx)
{
    pthread_mutex_lock(&a->release_lock);
    a->release = fn;
    a->release_ctx = ctx;
    pthread_mutex_unlock(&a->release_lock);
}

void archive_close(archive_t *a)
{
    if (!a)
        return;
    flag_set(&a->stop, 1);
    if (a->running)
        pthread_join(a->thr, NULL);
    if (a->dropping)     /* the engine has stopped: its fields are ours */
        log_warn("archive", "%llu flows were not archived in the last "
                 "episode (flowsql_archive_dropped_flows_total)",
                 (unsigned long long)a->episode_drops);
    bqueue_close(&a->q);
    flow_batch_t *b;
    while ((b = bqueue_pop(&a->q, 0))) {
        ctr_add(&a->c[C_DROPPED], b->n);
        release_batch(a, b);
    }
    bqueue_destroy(&a->q);
    pthread_mutex_destroy(&a->release_lock);
    flow_batch_free(a->split);
    flow_batch_free(a->piece);
    free(a->dir);
    free(a);
}

const char *archive_dir(const archive_t *a)
{
    return a->dir;
}

void archive_stats(archive_t *a, archive_stats_t *s)
{
    memset(s, 0, sizeof(*s));
    s->flows_written = ctr_get(&a->c[C_WRITTEN]);
    s->flows_dropped = ctr_get(&a->c[C_DROPPED]);
    s->flows_late = ctr_get(&a->c[C_LATE]);
    s->batches_queued = bqueue_len(&a->q);
    int64_t qf = gauge_get(&a->queued_flows);
    s->flows_queued = qf > 0 ? (uint64_t)qf : 0;
    s->row_groups = ctr_get(&a->c[C_RG]);
    s->files_created = ctr_get(&a->c[C_CREATED]);
    s->files_closed = ctr_get(&a->c[C_CLOSED]);
    s->files = (uint64_t)gauge_get(&a->files);
    s->bytes = (uint64_t)gauge_get(&a->bytes);
    s->write_errors = ctr_get(&a->c[C_WERR]);
    s->recoveries = ctr_get(&a->c[C_RECOVER]);
    s->recovered_row_groups = ctr_get(&a->c[C_RECOVER_RG]);
    s->deleted_retention = ctr_get(&a->c[C_DEL_RET]);
    s->deleted_cap = ctr_get(&a->c[C_DEL_CAP]);
    s->max_bytes = a->cfg.max_bytes;
}

void archive_metrics(archive_t *a, sbuf_t *b)
{
    archive_stats_t s;
    archive_stats(a, &s);
    sbuf_printf(b,
        "# HELP flowsql_archive_flows_written_total flows written to archive files (flushed row groups)\n"
        "# TYPE flowsql_archive_flows_written_total counter\n"
        "flowsql_archive_flows_written_total %llu\n"
        "# HELP flowsql_archive_dropped_flows_total flows not archived: writer behind or write errors\n"
        "# TYPE flowsql_archive_dropped_flows_total counter\n"
        "flowsql_archive_dropped_flows_total %llu\n"
        "# HELP flowsql_archive_late_flows_total flows written to an extra file of a closed partition\n"
        "# TYPE flowsql_archive_late_flows_total counter\n"
        "flowsql_archive_late_flows_total %llu\n"
        "# HELP flowsql_archive_queue_batches batches waiting for the archive writer\n"
        "# TYPE flowsql_archive_queue_batches gauge\n"
        "flowsql_archive_queue_batches %llu\n"
        "# HELP flowsql_archive_queue_flows flows waiting for the archive writer\n"
        "# TYPE flowsql_archive_queue_flows gauge\n"
        "flowsql_archive_queue_flows %llu\n"
        "# HELP flowsql_archive_row_groups_total row groups written\n"
        "# TYPE flowsql_archive_row_groups_total counter\n"
        "flowsql_archive_row_groups_total %llu\n"
        "# HELP flowsql_archive_files_created_total archive files started\n"
        "# TYPE flowsql_archive_files_created_total counter\n"
        "flowsql_archive_files_created_total %llu\n"
        "# HELP flowsql_archive_files_closed_total archive files finished (footer written)\n"
        "# TYPE flowsql_archive_files_closed_total counter\n"
        "flowsql_archive_files_closed_total %llu\n"
        "# HELP flowsql_archive_files archive files on disk, open ones included\n"
        "# TYPE flowsql_archive_files gauge\n"
        "flowsql_archive_files %llu\n"
        "# HELP flowsql_archive_bytes bytes of the archive files on disk\n"
        "# TYPE flowsql_archive_bytes gauge\n"
        "flowsql_archive_bytes %llu\n"
        "# HELP flowsql_archive_max_bytes the size cap (0: none)\n"
        "# TYPE flowsql_archive_max_bytes gauge\n"
        "flowsql_archive_max_bytes %lld\n"
        "# HELP flowsql_archive_write_errors_total failed archive writes (their flows counted as dropped)\n"
        "# TYPE flowsql_archive_write_errors_total counter\n"
        "flowsql_archive_write_errors_total %llu\n"
        "# HELP flowsql_archive_recoveries_total open files recovered (a crash, a failed close)\n"
        "# TYPE flowsql_archive_recoveries_total counter\n"
        "flowsql_archive_recoveries_total %llu\n"
        "# HELP flowsql_archive_recovered_row_groups_total row groups kept by recoveries\n"
        "# TYPE flowsql_archive_recovered_row_groups_total counter\n"
        "flowsql_archive_recovered_row_groups_total %llu\n"
        "# HELP flowsql_archive_deleted_files_total whole files deleted\n"
        "# TYPE flowsql_archive_deleted_files_total counter\n"
        "flowsql_archive_deleted_files_total{reason=\"retention\"} %llu\n"
        "flowsql_archive_deleted_files_total{reason=\"cap\"} %llu\n",
        (unsigned long long)s.flows_written, (unsigned long long)s.flows_dropped,
        (unsigned long long)s.flows_late, (unsigned long long)s.batches_queued,
        (unsigned long long)s.flows_queued, (unsigned long long)s.row_groups,
        (unsigned long long)s.files_created, (unsigned long long)s.files_closed,
        (unsigned long long)s.files, (unsigned long long)s.bytes,
        (long long)s.max_bytes, (unsigned long long)s.write_errors,
        (unsigned long long)s.recoveries,
        (unsigned long long)s.recovered_row_groups,
        (unsigned long long)s.deleted_retention,
        (unsigned long long)s.deleted_cap);
    counter_t *t = archive_scan_totals;
    sbuf_printf(b,
        "# HELP flowsql_archive_scans_total scans of the archive\n"
        "# TYPE flowsql_archive_scans_total counter\n"
        "flowsql_archive_scans_total %llu\n"
        "# HELP flowsql_archive_scan_files_total archive files met by scans\n"
        "# TYPE flowsql_archive_scan_files_total counter\n"
        "flowsql_archive_scan_files_total{result=\"read\"} %llu\n"
        "flowsql_archive_scan_files_total{result=\"pruned\"} %llu\n"
        "flowsql_archive_scan_files_total{result=\"vanished\"} %llu\n"
        "flowsql_archive_scan_files_total{result=\"bad\"} %llu\n"
        "# HELP flowsql_archive_scan_row_groups_total row groups met by scans\n"
        "# TYPE flowsql_archive_scan_row_groups_total counter\n"
        "flowsql_archive_scan_row_groups_total{result=\"read\"} %llu\n"
        "flowsql_archive_scan_row_groups_total{result=\"pruned_stats\"} %llu\n"
        "flowsql_archive_scan_row_groups_total{result=\"pruned_bloom\"} %llu\n"
        "# HELP flowsql_archive_scan_rows_total flows decoded by scans\n"
        "# TYPE flowsql_archive_scan_rows_total counter\n"
        "flowsql_archive_scan_rows_total %llu\n"
        "# HELP flowsql_archive_scan_bytes_total compressed column bytes scans read\n"
        "# TYPE flowsql_archive_scan_bytes_total counter\n"
        "flowsql_archive_scan_bytes_total %llu\n",
        (unsigned long long)ctr_get(&t[ASC_SCANS]),
        (unsigned long long)ctr_get(&t[ASC_FILES_READ]),
        (unsigned long long)ctr_get(&t[ASC_FILES_PRUNED]),
        (unsigned long long)ctr_get(&t[ASC_FILES_VANISHED]),
        (unsigned long long)ctr_get(&t[ASC_FILES_BAD]),
        (unsigned long long)ctr_get(&t[ASC_RG_READ]),
        (unsigned long long)ctr_get(&t[ASC_RG_PRUNED_STATS]),
        (unsigned long long)ctr_get(&t[ASC_RG_PRUNED_BLOOM]),
        (unsigned long long)ctr_get(&t[ASC_ROWS_READ]),
        (unsigned long long)ctr_get(&t[ASC_BYTES_READ]));
}
