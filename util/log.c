/* log.c - levelled, rate-limited stderr logging; see log.h. */
#include "util/log.h"
#include "util/counter.h"
#include "util/timeutil.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

/* Read by every thread that logs; a gauge (util/counter.h), so setting it
 * while they run is no data race. */
static gauge_t cur_level = LOG_INFO;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
/* The limiters' counts (held for a few instructions, never while
 * writing). */
static pthread_mutex_t limit_lock = PTHREAD_MUTEX_INITIALIZER;
static const char *names[] = {"ERROR", "WARN", "INFO", "DEBUG"};
/* syslog's numbers of the levels, for the journal's "<N>" prefix. */
static const int priorities[] = {3, 4, 6, 7};
static pthread_once_t journal_once = PTHREAD_ONCE_INIT;
static int to_journal;

/* Is stderr systemd's journal? systemd sets JOURNAL_STREAM to the
 * "device:inode" of the stream it connects; when stderr is that stream
 * (not redirected since), a line starts with its level as "<N>" (the
 * journal's SyslogLevelPrefix) and without a time (the journal keeps
 * its own), so journalctl -p warning works. */
static void journal_detect(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;
    to_journal = js && sscanf(js, "%llu:%llu", &dev, &ino) == 2 &&
                 fstat(fileno(stderr), &st) == 0 &&
                 (unsigned long long)st.st_dev == dev &&
                 (unsigned long long)st.st_ino == ino;
}

void log_set_level(enum log_level lvl) { gauge_set(&cur_level, (int)lvl); }
enum log_level log_get_level(void)
{
    return (enum log_level)gauge_get(&cur_level);
}

int log_level_parse(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (strcasecmp(s, names[i]) == 0)
            return i;
    if (strcasecmp(s, "warning") == 0)
        return LOG_WARN;
    return -1;
}

static void vlog(enum log_level lvl, const char *sub, const char *fmt,
                 va_list ap)
{
    char ts[32], msg[1024];
    pthread_once(&journal_once, journal_detect);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    if (to_journal) {
        pthread_mutex_lock(&log_lock);
        fprintf(stderr, "<%d>%-5s %s: %s\n", priorities[lvl], names[lvl],
                sub, msg);
        pthread_mutex_unlock(&log_lock);
        return;
    }
    time_format_iso(time_now_ms(), ts, sizeof(ts));
    pthread_mutex_lock(&log_lock);
    fprintf(stderr, "%s %-5s %s: %s\n", ts, names[lvl], sub, msg);
    pthread_mutex_unlock(&log_lock);
}

void log_msg(enum log_level lvl, const char *sub, const char *fmt, ...)
{
    if ((int)lvl > gauge_get(&cur_level))
        return;
    va_list ap;
    va_start(ap, fmt);
    vlog(lvl, sub, fmt, ap);
    va_end(ap);
}

#define LIMIT_INTERVAL_MS 10000
#define LIMIT_BURST 5

void log_limited(log_limit_t *lim, enum log_level lvl, const char *sub,
                 const char *fmt, ...)
{
    if ((int)lvl > gauge_get(&cur_level))
        return;
    int64_t now = time_mono_ms();
    /* A limiter may be shared by threads (a static one at a call site):
     * its counts change under limit_lock, the lines are written after. */
    uint32_t report = 0;
    int show;
    pthread_mutex_lock(&limit_lock);
    if (now - lim->window_start >= LIMIT_INTERVAL_MS) {
        report = lim->suppressed;
        lim->window_start = now;
        lim->in_window = 0;
        lim->suppressed = 0;
    }
    show = lim->in_window < LIMIT_BURST;
    if (show)
        lim->in_window++;
    else
        lim->suppressed++;
    pthread_mutex_unlock(&limit_lock);
    if (report)
        log_msg(lvl, sub, "(%u similar messages suppressed)", report);
    if (!show)
        return;
    va_list ap;
    va_start(ap, fmt);
    vlog(lvl, sub, fmt, ap);
    va_end(ap);
}
