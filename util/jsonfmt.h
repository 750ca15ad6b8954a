/*
 * jsonfmt.h - JSON text with reals in their shortest round-trip form.
 *
 * jansson prints a real with one fixed precision: 17 digits gives back
 * the same double but shows 852.4 as 852.39999999999998; 15 digits
 * shows 852.4 but loses others (0.30000000000000004 would read back as
 * 0.3). json_dumps_short prints each real with the fewest digits, 15 to
 * 17, that strtod reads back as the same double, so 852.4 is "852.4"
 * and 0.1 + 0.2 is "0.30000000000000004". A real keeps a '.' or an
 * exponent ("1.0", not "1"), as jansson writes it.
 */
#ifndef FLOWSQL_JSONFMT_H
#define FLOWSQL_JSONFMT_H

#include <jansson.h>
#include <stddef.h>

/* json_dumps(j, flags) with reals shortened as above (any
 * JSON_REAL_PRECISION in flags is replaced). NULL where json_dumps
 * fails; free() the text. */
char *json_dumps_short(const json_t *j, size_t flags);

/* d in the fewest digits (15 to 17, %g style) that read back as d; a
 * '.0' added when that looks like an integer. buf holds at least 32
 * bytes; returns its length. d must be finite (JSON has no other). */
int json_real_format(char *buf, size_t size, double d);

#endif
