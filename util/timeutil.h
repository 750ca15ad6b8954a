/*
 * timeutil.h - time in flowsql: int64 milliseconds since the Unix epoch,
 * UTC, everywhere. These helpers read the clocks and convert to and from
 * ISO-8601 text and durations ("10s", "5m", "500ms").
 */
#ifndef FLOWSQL_TIMEUTIL_H
#define FLOWSQL_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>

int64_t time_now_ms(void);       /* wall clock (CLOCK_REALTIME) */
int64_t time_mono_ms(void);      /* monotonic clock, for timeouts */

/* "2026-11-23T01:44:37.123Z" into buf (>= 25 bytes). Returns buf. */
char *time_format_iso(int64_t ms, char *buf, size_t size);

/* Parse ISO-8601 date or date-time ("2026-11-23", "2026-11-23 13:00",
 * "2026-11-23T13:00:05.250Z", "...+02:00"). No zone means UTC.
 * 0 on success, -1 on bad text. */
int time_parse_iso(const char *s, int64_t *ms);

/* Parse a duration "500ms", "10s", "5m", "1h", "2d" (also "1.5s" is not
 * accepted: durations are whole units). 0 on success, -1 on bad text or
 * overflow. */
int duration_parse(const char *s, size_t len, int64_t *ms);

/* Shortest exact text of a duration: 10000 -> "10s", 300000 -> "5m". */
char *duration_format(int64_t ms, char *buf, size_t size);

#endif
