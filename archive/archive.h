/*
 * archive.h - the raw-flow archive: every flow the collectors decode,
 * kept in Parquet files under DATA/archive, and scans over them.
 *
 * Writing. The engine thread hands each batch it has processed to
 * archive_submit(): the batch goes on a bounded queue and the archive's
 * own thread appends it to the Parquet writer (parquet.h) and gives it
 * back to its pool. The engine never waits: when the queue is full the
 * batch is refused, its flows counted as dropped (and logged once per
 * episode), and the caller releases it as before.
 *
 * Files. One file per partition of cfg.period_ms by received time (UTC):
 *
 *     DIR/YYYY/MM/DD/flows-YYYYMMDD-HHMMSS.parquet
 *
 * named after the partition's start; every flow in a file has its
 * received time inside the file's partition [start, start + period). The
 * footer's key/value metadata says so: "flowsql.partition.start" and
 * "flowsql.partition.end" (ms since the epoch, decimal), also in the
 * journal of an open file. Flows that come later than the grace time
 * after their partition closed go to an extra file of their partition,
 * flows-YYYYMMDD-HHMMSS-N.parquet (N = 1, 2, ...), so the rule holds for
 * every file. A file being written is FILE.open with FILE.journal
 * beside it (parquet.h); row groups are flushed at cfg.rg_flows flows
 * or cfg.flush_ms after the first flow of the row group. A FILE.open
 * left by a crash is recovered by archive_open() (pq_recover).
 *
 * Retention and cap. Files older than cfg.retention_ms (by partition
 * end) are deleted, and while the archive holds more than cfg.max_bytes
 * the oldest files are deleted; whole files only, never the open ones.
 * Checked every cfg.check_ms and at each rotation.
 *
 * Scanning. archive_scan() reads the files of a time range, oldest
 * first, the open ones included (up to their last flushed row group),
 * skipping files by name and partition metadata and row groups by their
 * statistics and bloom filters, and calls back with batches of the
 * fields asked for. It runs in the caller's thread, beside the writer
 * and retention: a file deleted or renamed under it is counted and
 * skipped, never an error. A corrupt file is counted, logged and
 * skipped.
 *
 * Errors: functions returning int give 0 on success and -1 with err set;
 * pointer functions NULL with err set. err may be NULL.
 */
#ifndef FLOWSQL_ARCHIVE_H
#define FLOWSQL_ARCHIVE_H

#include <stddef.h>
#include <stdint.h>

#include "engine/flow.h"
#include "util/diag.h"
#include "util/sbuf.h"

/* ---- the service ------------------------------------------------------- */

typedef struct archive archive_t;

typedef struct archive_config {
    const char *dir;           /* the archive's root (DATA/archive) */
    int64_t     period_ms;     /* partition length: 1 s .. 24 h, dividing
                                  a day; default 5 min */
    int64_t     flush_ms;      /* a row group at most this old; 10 s */
    int64_t     rg_flows;      /* flows per row group at most; 131072 */
    int64_t     retention_ms;  /* 0: files are kept forever */
    int64_t     max_bytes;     /* 0: no size cap */
    int64_t     check_ms;      /* retention and cap checked this often;
                                  0: 60 s */
    int         queue_batches; /* batches waiting for the writer; 0: 64 */
    int         zstd_level;    /* 0: PQ_ZSTD_LEVEL */
    int64_t     page_rows;     /* flows a page: 0..1048576, 0: PQ_PAGE_ROWS
                                  (8192) */
    int         no_sync;       /* 1: no fdatasync (tests, benchmarks) */
    /* Where the archive gives batches back when it is done with them
     * (the collectors' pool); NULL: flow_batch_free. */
    void      (*release)(void *ctx, flow_batch_t *b);
    void       *release_ctx;
} archive_config_t;

#define ARCHIVE_CONFIG_INIT {.period_ms = 300000, .flush_ms = 10000, \
                             .rg_flows = 131072, .retention_ms = 0, \
                             .max_bytes = 0, .check_ms = 60000, \
                             .queue_batches = 64}

/*
 * Create dir if needed, recover every FILE.open found under it (logged,
 * counted in recoveries), apply retention and the cap once, and start
 * the writer thread. Returns the archive, or NULL with err set (the
 * directory cannot be made or read; nothing is started then).
 */
archive_t *archive_open(const archive_config_t *cfg, diag_t *err);

/*
 * Hand a processed batch to the archive (the engine thread). Returns 0
 * when the archive took it: it releases the batch itself, later, through
 * cfg.release. Returns -1 when it did not (queue full, or stopping):
 * the flows are counted as dropped and the caller still owns the batch.
 * Never waits. Batches marked FLOW_BATCH_REPLAY are not archived (-1,
 * not counted: they are not live flows).
 */
int archive_submit(archive_t *a, flow_batch_t *b);

/*
 * Change where batches are released (the collectors stop before the
 * archive does: with fn NULL, batches are freed). Safe at any time.
 */
void archive_set_release(archive_t *a, void (*fn)(void *ctx, flow_batch_t *b),
                         void *ctx);

/*
 * Write every queued batch, flush the row group, close the open files
 * (renamed to .parquet), stop the thread and free. NULL is fine.
 */
void archive_close(archive_t *a);

/* The archive's root directory (as configured). */
const char *archive_dir(const archive_t *a);

typedef struct archive_stats {
    uint64_t flows_written;     /* flows in flushed row groups */
    uint64_t flows_dropped;     /* refused (queue full) or lost by errors */
    uint64_t flows_late;        /* written to an extra file of a closed
                                   partition */
    uint64_t batches_queued;    /* queue depth now, in batches */
    uint64_t flows_queued;      /* the flows in them */
    uint64_t row_groups;        /* row groups flushed */
    uint64_t files_created;
    uint64_t files_closed;
    uint64_t files;             /* files in the archive now (with open) */
    uint64_t bytes;             /* their size on disk now */
    uint64_t write_errors;      /* failed writes (flows lost: dropped) */
    uint64_t recoveries;        /* .open files recovered at start */
    uint64_t recovered_row_groups;
    uint64_t deleted_retention; /* files deleted: older than retention */
    uint64_t deleted_cap;       /* files deleted: over the size cap */
    int64_t  max_bytes;         /* the cap in force, 0: none */
} archive_stats_t;

void archive_stats(archive_t *a, archive_stats_t *out);

/* The flowsql_archive_* metrics in Prometheus text (docs/METRICS.md). */
void archive_metrics(archive_t *a, sbuf_t *out);

/*
 * A size cap from text: a size ("500M", "20G", "1T", bytes without a
 * suffix; "0" is no cap) or a share of the file system holding dir
 * ("20%": of its total size, read now with statvfs). Returns 0 with
 * *out set, or -1 with err set.
 */
int archive_parse_size(const char *text, const char *dir, int64_t *out,
                       diag_t *err);

/* ---- scanning ------------------------------------------------------------ */

/* An address or a network: prefix bits in the 128-bit space (ipaddr.h:
 * an IPv4 /24 is 120; 128 is one address). addr is masked by the scan. */
typedef struct archive_net {
    ipaddr_t addr;
    int      prefix;
} archive_net_t;

/* A closed range of int64 (times in ms): lo <= v <= hi. The full range
 * (INT64_MIN, INT64_MAX) is no condition. */
typedef struct archive_range {
    int64_t lo, hi;
} archive_range_t;

#define ARCHIVE_RANGE_ALL ((archive_range_t){INT64_MIN, INT64_MAX})

/* A set of integer values (ports, protocols): v is one of vals[0..n).
 * n == 0 is no condition. */
typedef struct archive_ints {
    const int64_t *vals;
    size_t         n;
} archive_ints_t;

/* A set of networks: the address lies in one of nets[0..n). n == 0 is
 * no condition. */
typedef struct archive_nets {
    const archive_net_t *nets;
    size_t               n;
} archive_nets_t;

/*
 * What a scan looks for: the AND of every condition given (an empty
 * condition is none). Built from a WHERE clause's conjuncts that have
 * these shapes; anything else the caller filters itself. The scan
 * guarantees that every flow matching the predicate is delivered; with
 * ARCHIVE_SCAN_EXACT only those are, else other flows of the row groups
 * read come too.
 */
typedef struct archive_pred {
    archive_range_t received, start, end;
    archive_nets_t  srcip, dstip;
    archive_nets_t  anyip;     /* srcip or dstip in the set (nfdump's
                                  "host X", "net N") */
    archive_ints_t  srcport, dstport;
    archive_ints_t  anyport;   /* srcport or dstport in the set */
    archive_ints_t  proto;
} archive_pred_t;

/* Fill p with "no condition" (every range full, every set empty). */
void archive_pred_init(archive_pred_t *p);

/* Deliver only the flows matching the predicate (rows filtered). */
#define ARCHIVE_SCAN_EXACT 0x1

/* What a scan read and skipped (EXPLAIN ANALYZE, metrics). Added to by
 * archive_scan, never reset: zero it first. */
typedef struct archive_scan_stats {
    uint64_t files;             /* archive files considered */
    uint64_t files_pruned;      /* skipped by name or partition metadata */
    uint64_t files_read;        /* opened and searched */
    uint64_t files_vanished;    /* deleted or renamed away mid-scan */
    uint64_t files_bad;         /* corrupt: reported and skipped */
    uint64_t row_groups;        /* row groups in the files searched */
    uint64_t rg_pruned_stats;   /* skipped by min/max statistics */
    uint64_t rg_pruned_bloom;   /* skipped by bloom filters */
    uint64_t rg_read;           /* row groups read */
    uint64_t rows_read;         /* flows decoded */
    uint64_t rows_pruned_pages; /* flows of the row groups searched that
                                   the page index ruled out (not read) */
    uint64_t rows_matched;      /* flows delivered */
    uint64_t bytes_read;        /* compressed column chunk (or page)
                                   bytes read */
} archive_scan_stats_t;

/* Return 0 to go on, non-zero to stop the scan. The batch (up to
 * FLOW_BATCH_MAX flows; fields not asked for are 0) is reused after the
 * callback returns. A batch may be empty (n == 0): with
 * ARCHIVE_SCAN_EXACT a row group none of whose flows match still gives
 * one call, so a caller with a time limit gets control back after every
 * row group read. */
typedef int (*archive_batch_fn)(void *ctx, const flow_batch_t *b);

/*
 * Scan the archive under dir (archive_dir() of a running archive, or
 * any directory laid out as above). fields is a mask of flow schema
 * field ids (1ull << F_SRCIP | ...); with ARCHIVE_SCAN_EXACT the fields
 * the predicate tests are read too. p may be NULL (everything). Files
 * come oldest first, rows in file order (received time, nearly); a file
 * the directory listing missed (renamed from .open while listed: a
 * second listing finds it) comes after the others. st
 * (may be NULL) is added to. Returns 0 when done, 1 when cb stopped it,
 * -1 on an error that stops the scan (dir unreadable; err says why).
 * A vanished file or a corrupt one (logged with its name) is not an
 * error: it is counted and skipped.
 */
int archive_scan(const char *dir, const archive_pred_t *p, uint64_t fields,
                 unsigned flags, archive_batch_fn cb, void *ctx,
                 archive_scan_stats_t *st, diag_t *err);

/* 1 if flow i of b matches p (the rows ARCHIVE_SCAN_EXACT keeps). The
 * fields p tests must be filled in b. */
int archive_pred_match(const archive_pred_t *p, const flow_batch_t *b,
                       size_t i);

/*
 * The partition of a file name ("flows-20240101-130500.parquet",
 * "flows-20240101-130500-2.parquet", with ".open" or not): its start in
 * ms since the epoch, UTC. Returns 0, or -1 if the name is not an
 * archive file's.
 */
int archive_name_start(const char *name, int64_t *start_ms);

/* ---- the files ------------------------------------------------------------ */

typedef struct archive_file {
    char    *path;       /* DIR/YYYY/MM/DD/NAME */
    int64_t  start;      /* partition start, ms (from the name) */
    int      seq;        /* N of an extra file "-N", 0 for the main one */
    int      is_open;    /* NAME ends in ".open": being written */
    int64_t  size;       /* bytes (0 unless the lister says) */
} archive_file_t;

typedef struct archive_file_list {
    archive_file_t *f;
    size_t          n;
} archive_file_list_t;

/*
 * The archive files under dir whose partition may hold received times
 * in [lo, hi] (by their day directories: a superset), sorted by start,
 * then N, a file before its ".open" twin (only the closed one is kept
 * when a listing sees both). A missing dir is an empty list. Returns 0,
 * or -1 with err set when dir cannot be read.
 */
int  archive_list(const char *dir, int64_t lo, int64_t hi,
                  archive_file_list_t *l, diag_t *err);
void archive_file_list_free(archive_file_list_t *l);

/* archive_name_start, with the N of "-N" (0 without) and whether the
 * name ends in ".open". */
int archive_name_parse(const char *name, int64_t *start_ms, int *seq,
                       int *is_open);

#endif
