/*
 * arint.h - what archive/archive.c (the service) and archive/arscan.c
 * (scans) share. Internal to archive/.
 */
#ifndef FLOWSQL_ARINT_H
#define FLOWSQL_ARINT_H

#include "archive/archive.h"
#include "util/counter.h"

/* Totals of every archive_scan() in the process (for /metrics). */
enum archive_scan_counter {
    ASC_SCANS, ASC_FILES_READ, ASC_FILES_PRUNED, ASC_FILES_VANISHED,
    ASC_FILES_BAD, ASC_RG_READ, ASC_RG_PRUNED_STATS, ASC_RG_PRUNED_BLOOM,
    ASC_ROWS_READ, ASC_BYTES_READ, ASC_COUNT
};
extern counter_t archive_scan_totals[ASC_COUNT];

#endif
