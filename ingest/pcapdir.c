/*
 * pcapdir.c - a watched directory of capture files (see pcapsrc.h and
 * docs/INGEST.md, "A watched directory").
 *
 * One thread: an inotify watch on the directory (IN_MOVED_TO and
 * IN_CLOSE_WRITE), a scan in name order at start and whenever the
 * kernel's event queue overflowed, and each complete file read through
 * the one meter of the stream, then moved away. The thread never holds a
 * lock another thread waits for: /metrics reads the counters (counter_t).
 */
#include "ingest/pcapsrc.h"
#include "engine/schema.h"
#include "util/arena.h"
#include "util/file.h"
#include "util/log.h"
#include "util/timeutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>


struct pcapdir {
    char           *dir;        /* the watched directory, as given */
    char           *done;       /* the done directory, NULL: delete */
    char           *failed;     /* where refused files go */
    int             dirfd, donefd, failfd;
    int             ino;        /* inotify descriptor */
    bqueue_t       *out;
    meter_t        *m;
    pthread_t       thr;
    int             running;
    flag_t          stop;
    pcapsrc_stats_t st;
    /* the stream's packet clock, for expiring flows on a quiet
     * directory: the latest packet time metered, and when (monotonic) */
    int64_t         last_pkt_us;
    int64_t         last_file_mono;
    int64_t         quiet_ms;   /* no file this long: quiet (0: never) */
};

/* ---- hand-over ---------------------------------------------------------- */

/* The meter's batch, copied into one of the queue's (the meter reuses
 * its own), received now, waiting for room: a file loses nothing. */
static void dir_emit(void *ctx, flow_batch_t *b)
{
    pcapdir_t *d = ctx;
    if (!b->n)
        return;
    flow_batch_t *nb = flow_batch_new();
    flow_batch_copy(nb, b, ~0ULL);
    nb->flags = 0;      /* live flows: windowed and archived as such */
    int64_t now = time_now_ms();
    for (uint32_t i = 0; i < nb->n; i++)
        nb->received[i] = now;
    if (bqueue_push_wait(d->out, nb) < 0) {    /* the queue closed */
        ctr_add(&d->st.queue_drops, nb->n);
        flow_batch_free(nb);
    }
}

/* The meter's counters into ours (the meter is this thread's). */
static void sync_stats(pcapdir_t *d)
{
    meter_stats_t ms;
    meter_get_stats(d->m, &ms);
    ctr_set(&d->st.packets, ms.packets);
    ctr_set(&d->st.metered, ms.metered);
    ctr_set(&d->st.not_ip, ms.not_ip);
    ctr_set(&d->st.truncated, ms.truncated);
    ctr_set(&d->st.malformed, ms.malformed);
    ctr_set(&d->st.active_flows, ms.active_flows);
    ctr_set(&d->st.flows, ms.flows_out);
    ctr_set(&d->st.table_full, ms.table_full);
}

/* ---- one file ----------------------------------------------------------- */

/* Names that are not (yet) files to read: hidden or temporary ones, left
 * for a rename to give them their final name. */
static int ignored_name(const char *name)
{
    size_t n = strlen(name);
    if (name[0] == '.' || !n)
        return 1;
    if (n >= 4 && strcmp(name + n - 4, ".tmp") == 0)
        return 1;
    if (n >= 5 && strcmp(name + n - 5, ".part") == 0)
        return 1;
    return 0;
}

/* Move name from the watched directory into the directory todir (its fd),
 * never over a file of the same name there: NAME, NAME.1, ... NAME.999.
 * 0, or -1 with errno. */
static int move_to(pcapdir_t *d, const char *name, int todir)
{
    char to[NAME_MAX + 8];
    snprintf(to, sizeof(to), "%s", name);
    for (int k = 1; k < 1000; k++) {
        if (renameat2(d->dirfd, name, todir, to, RENAME_NOREPLACE) == 0)
            return 0;
        if (errno != EEXIST)
            return -1;
        snprintf(to, sizeof(to), "%s.%d", name, k);
    }
    errno = EEXIST;
    return -1;
}

/* A file that cannot be read as a capture: moved to the failed
 * directory, counted, never tried again. */
static void refuse(pcapdir_t *d, const char *name, const char *why)
{
    ctr_inc(&d->st.files_failed);
    if (move_to(d, name, d->failfd) < 0)
        log_error("pcap", "%s/%s: %s; and it cannot be moved to %s: %s "
                  "(it will be tried again at the next start)", d->dir, name,
                  why, d->failed, strerror(errno));
    else
        log_warn("pcap", "%s/%s: %s; moved to %s", d->dir, name, why,
                 d->failed);
}

/* Is another process still writing fd's file? A read lease is granted
 * only when no one holds the file open for writing (fcntl(2)); it is
 * released at once. Where leases are not allowed (a file we do not own
 * without CAP_LEASE, a network file system) the answer is no: the
 * convention then rests on IN_CLOSE_WRITE and renames alone. */
static int being_written(int fd)
{
    if (fcntl(fd, F_SETLEASE, F_RDLCK) == 0) {
        fcntl(fd, F_SETLEASE, F_UNLCK);
        return 0;
    }
    return errno == EAGAIN;
}

/* Read one file of the directory through the meter and move it away. A
 * name that is gone, a directory (done/ itself) or a file still being
 * written is left alone; anything else that is not a readable capture
 * is refused. created: the name was just created (IN_CREATE), so a
 * regular file is being written and only a symlink or another special
 * file is refused at once. */
static void take_file(pcapdir_t *d, const char *name, int created)
{
    struct stat st;
    if (ignored_name(name) ||
        fstatat(d->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
        S_ISDIR(st.st_mode) || (created && S_ISREG(st.st_mode)))
        return;
    if (S_ISLNK(st.st_mode)) {
        refuse(d, name, "a symbolic link, not read");
        return;
    }
    if (!S_ISREG(st.st_mode)) {
        refuse(d, name, "not a regular file, not read");
        return;
    }
    diag_t err;
    diag_clear(&err);
    int fd = file_open_beneath(d->dirfd, d->dir, name, &err);
    if (fd < 0) {
        if (fstatat(d->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
            refuse(d, name, err.msg);
        return;
    }
    if (being_written(fd)) {
        log_debug("pcap", "%s/%s: still open for writing, taken when it "
                  "is closed", d->dir, name);
        close(fd);
        return;
    }
    if (!ingest_is_pcap(fd)) {
        close(fd);
        refuse(d, name, "not a pcap or pcapng capture");
        return;
    }
    if (lseek(fd, 0, SEEK_SET) < 0) {
        close(fd);
        refuse(d, name, strerror(errno));
        return;
    }
    uint64_t flows0 = ctr_get(&d->st.flows);
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", d->dir, name);
    ingest_file_result_t res;
    memset(&res, 0, sizeof(res));
    int rc = ingest_pcap_fd(fd, path, d->m, 0, &res, &err);
    close(fd);
    uint64_t pk0 = ctr_get(&d->st.packets);
    sync_stats(d);      /* drains the meter's pipeline: its clock is exact */
    d->last_pkt_us = meter_clock_us(d->m);
    d->last_file_mono = time_mono_ms();
    if (rc < 0) {
        /* What was read before the error stays metered. */
        const char *m = err.msg;   /* "PATH: what", PATH said by refuse */
        size_t pl = strlen(path);
        if (strncmp(m, path, pl) == 0 && m[pl] == ':')
            m += pl + 1 + (m[pl + 1] == ' ');
        char why[sizeof(err.msg) + 64];
        snprintf(why, sizeof(why), "%s (its %llu packets before the error "
                 "were metered)", m,
                 (unsigned long long)(ctr_get(&d->st.packets) - pk0));
        refuse(d, name, why);
        return;
    }
    ctr_inc(&d->st.files_done);
    int moved = d->done ? move_to(d, name, d->donefd)
                        : unlinkat(d->dirfd, name, 0);
    if (moved < 0)
        log_error("pcap", "%s: metered, but cannot be %s: %s (it will be "
                  "read again at the next start)", path,
                  d->done ? "moved to the done directory" : "deleted",
                  strerror(errno));
    else
        log_info("pcap", "%s: %llu packets, %llu flows exported so far; %s",
                 path, (unsigned long long)(ctr_get(&d->st.packets) - pk0),
                 (unsigned long long)(ctr_get(&d->st.flows) - flows0),
                 d->done ? "moved to the done directory" : "deleted");
}

/* ---- the directory ------------------------------------------------------ */

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every file of the directory, in name order (tcpdump -G names sort in
 * time order). */
static void scan(pcapdir_t *d)
{
    int fd = dup(d->dirfd);
    DIR *dh = fd >= 0 ? fdopendir(fd) : NULL;
    if (!dh) {
        log_error("pcap", "%s: cannot list: %s", d->dir, strerror(errno));
        if (fd >= 0)
            close(fd);
        return;
    }
    rewinddir(dh);
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(dh))) {
        if (ignored_name(e->d_name) || e->d_type == DT_DIR)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            names = xrealloc(names, cap * sizeof(*names));
        }
        names[n++] = xstrdup(e->d_name);
    }
    closedir(dh);
    if (n)
        qsort(names, n, sizeof(*names), cmp_names);
    for (size_t i = 0; i < n; i++) {
        if (!flag_get(&d->stop))
            take_file(d, names[i], 0);
        free(names[i]);
    }
    free(names);
}

/* Read the pending inotify events; files are taken in the order their
 * events came. Returns 1 when the kernel's queue overflowed (events were
 * lost: scan again). */
static int read_events(pcapdir_t *d)
{
    char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
    int overflow = 0;
    for (;;) {
        ssize_t len = read(d->ino, buf, sizeof(buf));
        if (len <= 0)
            break;
        for (char *p = buf; p < buf + len;) {
            const struct inotify_event *ev = (const struct inotify_event *)p;
            p += sizeof(*ev) + ev->len;
            if (ev->mask & IN_Q_OVERFLOW)
                overflow = 1;
            else if (ev->len && !(ev->mask & IN_ISDIR) &&
                     !flag_get(&d->stop))
                take_file(d, ev->name, (ev->mask & IN_CREATE) != 0);
        }
    }
    return overflow;
}

static void *dir_main(void *arg)
{
    pcapdir_t *d = arg;
    d->last_file_mono = time_mono_ms();
    scan(d);
    while (!flag_get(&d->stop)) {
        struct pollfd pfd = {d->ino, POLLIN, 0};
        int r = poll(&pfd, 1, 500);
        if (r > 0 && read_events(d))
            scan(d);
        /* A quiet directory: after quiet_ms without a file, packet time
         * goes on with the wall clock from the last packet, so the flows
         * of the last file still end (tcpdump -G writes no file while
         * nothing is captured). Never ahead of real packet time: the
         * next file's packets are at least that late. */
        int64_t quiet_ms = time_mono_ms() - d->last_file_mono - d->quiet_ms;
        if (d->quiet_ms > 0 && d->last_pkt_us && quiet_ms > 0) {
            meter_expire(d->m, d->last_pkt_us + quiet_ms * 1000);
            sync_stats(d);
        }
    }
    meter_flush(d->m);
    sync_stats(d);
    return NULL;
}

/* ---- start and stop ----------------------------------------------------- */

/* Open (creating it if missing) the directory path for moving files
 * into; it must be on the file system of the watched directory. */
static int open_target(const char *what, const char *path,
                       const struct stat *dir, diag_t *err)
{
    if (mkdir(path, 0750) < 0 && errno != EEXIST) {
        diag_set(err, "%s %s: cannot create it: %s", what, path,
                 strerror(errno));
        return -1;
    }
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        diag_set(err, "%s %s: %s", what, path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    if (st.st_dev != dir->st_dev) {
        diag_set(err, "%s %s is not on the file system of --pcap-dir: files "
                 "are moved there by rename", what, path);
        close(fd);
        return -1;
    }
    if (st.st_ino == dir->st_ino) {     /* its files would come back */
        diag_set(err, "%s %s is the watched directory itself", what, path);
        close(fd);
        return -1;
    }
    if (faccessat(fd, ".", W_OK | X_OK, AT_EACCESS) < 0) {
        diag_set(err, "%s %s is not writable: %s", what, path,
                 strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static void dir_free(pcapdir_t *d)
{
    if (d->dirfd >= 0)
        close(d->dirfd);
    if (d->donefd >= 0)
        close(d->donefd);
    if (d->failfd >= 0)
        close(d->failfd);
    if (d->ino >= 0)
        close(d->ino);
    meter_free(d->m);
    free(d->dir);
    free(d->done);
    free(d->failed);
    free(d);
}

pcapdir_t *pcapdir_start(const pcapdir_config_t *cfg, diag_t *err)
{
    if (!cfg->dir || !*cfg->dir || !cfg->out) {
        diag_set(err, "--pcap-dir: no directory given");
        return NULL;
    }
    pcapdir_t *d = xcalloc(1, sizeof(*d));
    d->dirfd = d->donefd = d->failfd = d->ino = -1;
    d->out = cfg->out;
    d->quiet_ms = cfg->quiet_ms;
    d->dir = xstrdup(cfg->dir);
    int del = cfg->done && strcmp(cfg->done, "delete") == 0;
    sbuf_t s = SBUF_INIT;
    if (!del) {
        if (cfg->done && *cfg->done)
            sbuf_add(&s, cfg->done);
        else
            sbuf_printf(&s, "%s/done", cfg->dir);
        d->done = sbuf_detach(&s);
    }
    sbuf_printf(&s, "%s/failed", del ? cfg->dir : d->done);
    d->failed = sbuf_detach(&s);
    struct stat st;
    d->dirfd = open(cfg->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (d->dirfd < 0 || fstat(d->dirfd, &st) < 0) {
        diag_set(err, "--pcap-dir %s: %s", cfg->dir, strerror(errno));
        goto fail;
    }
    if (d->done && (d->donefd = open_target("--pcap-done", d->done, &st,
                                            err)) < 0)
        goto fail;
    if ((d->failfd = open_target("the failed directory", d->failed, &st,
                                 err)) < 0)
        goto fail;
    if (faccessat(d->dirfd, ".", W_OK | X_OK, AT_EACCESS) < 0) {
        diag_set(err, "--pcap-dir %s is not writable (files are moved out "
                 "of it): %s", cfg->dir, strerror(errno));
        goto fail;
    }
    d->ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (d->ino < 0 ||
        inotify_add_watch(d->ino, cfg->dir, IN_MOVED_TO | IN_CLOSE_WRITE |
                                                IN_CREATE | IN_ONLYDIR) < 0) {
        diag_set(err, "--pcap-dir %s: cannot watch it (inotify): %s%s",
                 cfg->dir, strerror(errno),
                 errno == ENOSPC ? " (raise fs.inotify.max_user_watches)"
                                 : "");
        goto fail;
    }
    /* A read lease (being_written) makes the kernel signal its holder
     * with SIGIO when a writer opens the file; the lease is held for a
     * moment only, and the default action of SIGIO would end the
     * daemon. */
    signal(SIGIO, SIG_IGN);
    meter_config_t mc = cfg->meter;
    mc.replay = 0;      /* live flows (see dir_emit) */
    d->m = meter_new(&mc, dir_emit, d);
    if (pthread_create(&d->thr, NULL, dir_main, d) != 0) {
        diag_set(err, "--pcap-dir: cannot start its thread: %s",
                 strerror(errno));
        goto fail;
    }
    d->running = 1;
    log_info("pcap", "watching %s for capture files; metered files are %s%s",
             d->dir, d->done ? "moved to " : "deleted",
             d->done ? d->done : "");
    return d;
fail:
    dir_free(d);
    return NULL;
}

void pcapdir_stop(pcapdir_t *d)
{
    if (!d)
        return;
    flag_set(&d->stop, 1);
    if (d->running)
        pthread_join(d->thr, NULL);
    log_info("pcap", "%s: %llu files metered, %llu failed, %llu packets, "
             "%llu flows", d->dir,
             (unsigned long long)ctr_get(&d->st.files_done),
             (unsigned long long)ctr_get(&d->st.files_failed),
             (unsigned long long)ctr_get(&d->st.packets),
             (unsigned long long)ctr_get(&d->st.flows));
    dir_free(d);
}

pcapsrc_stats_t *pcapdir_stats(pcapdir_t *d)
{
    return &d->st;
}
