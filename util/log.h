/*
 * log.h - plain, greppable log lines on stderr:
 *
 *   2026-11-23T01:44:37.123Z INFO  ingest: listening on udp/4739
 *
 * Under systemd, with stderr the journal, a line is "<6>INFO  ingest:
 * listening on udp/4739": its level as the journal reads it, no time.
 *
 * log_ratelimited() lets a noisy source (a garbage flood) log at most a
 * few lines per interval per key, and says how many it suppressed.
 */
#ifndef FLOWSQL_LOG_H
#define FLOWSQL_LOG_H

#include <stdint.h>

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

void log_set_level(enum log_level lvl);
enum log_level log_get_level(void);
int  log_level_parse(const char *s);  /* -1 if unknown */
void log_msg(enum log_level lvl, const char *sub, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Per-call-site limiter: at most `burst` lines per `interval_ms`. One
 * limiter may be shared by threads (log_limited locks its counts). */
typedef struct log_limit {
    int64_t  window_start;
    uint32_t in_window, suppressed;
} log_limit_t;

void log_limited(log_limit_t *lim, enum log_level lvl, const char *sub,
                 const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#define log_error(sub, ...) log_msg(LOG_ERROR, sub, __VA_ARGS__)
#define log_warn(sub, ...)  log_msg(LOG_WARN, sub, __VA_ARGS__)
#define log_info(sub, ...)  log_msg(LOG_INFO, sub, __VA_ARGS__)
#define log_debug(sub, ...) log_msg(LOG_DEBUG, sub, __VA_ARGS__)

#endif
