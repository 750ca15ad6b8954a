/* jsonfmt.c - JSON text with shortest round-trip reals; see jsonfmt.h. */
#include "util/jsonfmt.h"
#include "util/sbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int json_real_format(char *buf, size_t size, double d)
{
    int n = 0;
    for (int prec = 15; prec <= 17; prec++) {
        n = snprintf(buf, size, "%.*g", prec, d);
        if (strtod(buf, NULL) == d)
            break;
    }
    if (n > 0 && (size_t)n + 2 < size && !strpbrk(buf, ".eEn")) {
        memcpy(buf + n, ".0", 3);
        n += 2;
    }
    return n;
}

/* Copy jansson's text, rewriting each number outside a string that has
 * a fraction or an exponent (a real; integers are left as they are). */
char *json_dumps_short(const json_t *j, size_t flags)
{
    flags &= ~(size_t)JSON_REAL_PRECISION(31);
    char *text = json_dumps(j, flags | JSON_REAL_PRECISION(17));
    if (!text)
        return NULL;
    sbuf_t out = SBUF_INIT;
    const char *p = text;
    int in_string = 0;
    while (*p) {
        if (in_string) {
            const char *q = p;
            while (*q && *q != '"')
                q += (*q == '\\' && q[1]) ? 2 : 1;
            sbuf_addn(&out, p, (size_t)(q - p));
            p = q;
            if (*p) {
                sbuf_addc(&out, '"');
                p++;
                in_string = 0;
            }
            continue;
        }
        if (*p == '"') {
            in_string = 1;
            sbuf_addc(&out, *p++);
            continue;
        }
        if (*p == '-' || (*p >= '0' && *p <= '9')) {
            size_t n = strspn(p, "0123456789+-.eE");
            if (memchr(p, '.', n) || memchr(p, 'e', n) || memchr(p, 'E', n)) {
                char num[40], buf[40];
                snprintf(num, sizeof(num), "%.*s", (int)(n < 39 ? n : 39), p);
                json_real_format(buf, sizeof(buf), strtod(num, NULL));
                sbuf_add(&out, buf);
            } else {
                sbuf_addn(&out, p, n);
            }
            p += n;
            continue;
        }
        sbuf_addc(&out, *p++);
    }
    free(text);
    return sbuf_detach(&out);
}
