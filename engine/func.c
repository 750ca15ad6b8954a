/* func.c - the function table; see func.h. */
#include "engine/func.h"

#include <strings.h>

const func_t func_table[FN_COUNT_] = {
    [FN_COUNT] = {"count", 1, 1, 1, "count(*), count(x), count(DISTINCT x)",
                  "number of flows; with DISTINCT, the exact number of "
                  "different values of x"},
    [FN_SUM] = {"sum", 1, 1, 1, "sum(x)",
                "sum of a number; integer sums are checked, see Limits"},
    [FN_MIN] = {"min", 1, 1, 1, "min(x)", "smallest value"},
    [FN_MAX] = {"max", 1, 1, 1, "max(x)", "largest value"},
    [FN_AVG] = {"avg", 1, 1, 1, "avg(x)", "mean of a number (float)"},
    [FN_APPROX_DISTINCT] = {"approx_count_distinct", 1, 1, 1,
                "approx_count_distinct(x)",
                "estimated number of different values (HyperLogLog, "
                "2048 registers: typical error 2.3%)"},
    [FN_TOPK] = {"topk", 1, 2, 2, "topk(x, k)",
                 "the k most frequent values of x with their flow counts, "
                 "as JSON text (Space-Saving, 4k counters)"},
    [FN_NETWORK] = {"network", 0, 2, 2, "network(ip, len)",
                    "the address with all but the first len bits zeroed "
                    "(len counts IPv4 bits for IPv4 addresses)"},
    [FN_HAS_FLAGS] = {"has_flags", 0, 2, 2, "has_flags(tcpflags, 'SA')",
                      "true if all the given TCP flags are set"},
    [FN_PROTO_NAME] = {"proto_name", 0, 1, 1, "proto_name(proto)",
                       "protocol name ('tcp'), or its number as text"},
    [FN_FLAGS_STR] = {"tcpflags_str", 0, 1, 1, "tcpflags_str(tcpflags)",
                      "flags as letters, nfdump style: '...A..S.'"},
    [FN_FAMILY] = {"family", 0, 1, 1, "family(ip)", "4 or 6"},
    [FN_ABS] = {"abs", 0, 1, 1, "abs(x)", "absolute value"},
    [FN_LEAST] = {"least", 0, 2, -1, "least(a, b, ...)", "smallest argument"},
    [FN_GREATEST] = {"greatest", 0, 2, -1, "greatest(a, b, ...)",
                     "largest argument"},
    [FN_TIME_FLOOR] = {"time_floor", 0, 2, 2, "time_floor(t, 1m)",
                       "the time rounded down to a multiple of a duration"},
    [FN_ROUND] = {"round", 0, 1, 1, "round(x)",
                  "nearest integer (halves away from zero)"},
    [FN_IP_IN] = {"ip_in", 0, 2, 2, "ip_in(ip, 10.0.0.0/8)",
                  "true if the address is in the network (same as IN)"},
    [FN_LOWER] = {"lower", 0, 1, 1, "lower(s)",
                  "the string in lower case (ASCII letters)"},
};

int func_lookup(const char *name)
{
    for (int i = 0; i < FN_COUNT_; i++)
        if (strcasecmp(func_table[i].name, name) == 0)
            return i;
    return -1;
}
