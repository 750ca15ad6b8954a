/* timeutil.c - clocks, ISO-8601 and durations; see timeutil.h. */
#include "util/timeutil.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int64_t time_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t time_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

char *time_format_iso(int64_t ms, char *buf, size_t size)
{
    int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
    int msec = (int)(ms - secs * 1000);
    time_t t = (time_t)secs;
    struct tm tm;
    if (!gmtime_r(&t, &tm)) {
        snprintf(buf, size, "%lld", (long long)ms);
        return buf;
    }
    snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, msec);
    return buf;
}

static int digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)**p))
            return -1;
        v = v * 10 + (**p - '0');
        (*p)++;
    }
    *out = v;
    return 0;
}

int time_parse_iso(const char *s, int64_t *ms)
{
    const char *p = s;
    int y, mo, d, h = 0, mi = 0, se = 0, frac = 0;
    if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) ||
        *p++ != '-' || digits(&p, 2, &d))
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > 31)
        return -1;
    int64_t off = 0;
    if (*p == 'T' || *p == ' ') {
        p++;
        if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi))
            return -1;
        if (*p == ':') {
            p++;
            if (digits(&p, 2, &se))
                return -1;
            if (*p == '.') {
                p++;
                int n = 0;
                while (isdigit((unsigned char)*p)) {
                    if (n < 3)
                        frac = frac * 10 + (*p - '0');
                    n++;
                    p++;
                }
                if (n == 0)
                    return -1;
                for (; n < 3; n++)
                    frac *= 10;
            }
        }
        if (h > 23 || mi > 59 || se > 60)
            return -1;
        if (*p == 'Z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            int sign = *p++ == '-' ? -1 : 1, oh, om = 0;
            if (digits(&p, 2, &oh))
                return -1;
            if (*p == ':')
                p++;
            if (isdigit((unsigned char)*p) && digits(&p, 2, &om))
                return -1;
            off = sign * ((int64_t)oh * 3600 + om * 60) * 1000;
        }
    }
    if (*p)
        return -1;
    int64_t days = days_from_civil(y, (unsigned)mo, (unsigned)d);
    *ms = ((days * 86400 + h * 3600 + mi * 60 + se) * 1000 + frac) - off;
    return 0;
}

static const struct {
    const char *unit;
    int64_t     ms;
} units[] = {
    {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000},
};

int duration_parse(const char *s, size_t len, int64_t *ms)
{
    size_t i = 0;
    int64_t v = 0;
    if (len == 0 || !isdigit((unsigned char)s[0]))
        return -1;
    while (i < len && isdigit((unsigned char)s[i])) {
        if (v > (INT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (s[i++] - '0');
    }
    for (size_t u = 0; u < sizeof(units) / sizeof(units[0]); u++) {
        size_t ul = strlen(units[u].unit);
        if (len - i == ul && strncmp(s + i, units[u].unit, ul) == 0) {
            if (v > INT64_MAX / units[u].ms)
                return -1;
            *ms = v * units[u].ms;
            return 0;
        }
    }
    return -1;
}

char *duration_format(int64_t ms, char *buf, size_t size)
{
    if (ms == 0) {
        snprintf(buf, size, "0s");
        return buf;
    }
    for (int u = (int)(sizeof(units) / sizeof(units[0])) - 1; u > 0; u--) {
        if (ms != 0 && ms % units[u].ms == 0) {
            snprintf(buf, size, "%lld%s", (long long)(ms / units[u].ms),
                     units[u].unit);
            return buf;
        }
    }
    snprintf(buf, size, "%lldms", (long long)ms);
    return buf;
}
