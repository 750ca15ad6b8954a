/*
 * parquet.h - Parquet files, written and read by flowsql's own code: the
 * format of the raw-flow archive and of exported results.
 *
 * A small subset of the format (apache/parquet-format), enough for flat
 * tables of the types flowsql has:
 *
 *   kind          physical type              logical type
 *   PQ_BOOL       BOOLEAN                    -
 *   PQ_INT8       INT32                      INT(8, signed)
 *   PQ_INT16      INT32                      INT(16, signed)
 *   PQ_INT32      INT32                      INT(32, signed)
 *   PQ_INT64      INT64                      INT(64, signed)
 *   PQ_TIME_MS    INT64                      TIMESTAMP(MILLIS, UTC)
 *   PQ_DOUBLE     DOUBLE                     -
 *   PQ_STRING     BYTE_ARRAY                 STRING (UTF-8)
 *   PQ_IP         FIXED_LEN_BYTE_ARRAY(16)   - (IPv4 mapped, ipaddr.h)
 *
 * Columns the writer writes are REQUIRED (flowsql has no NULL). Pages are
 * data pages v1, compressed with ZSTD. Each column chunk has min/max
 * statistics; columns flagged PQ_COL_BLOOM get a split-block bloom filter
 * (XXH64) per row group. The writer picks the encoding of each chunk
 * (PLAIN, RLE_DICTIONARY, DELTA_BINARY_PACKED) by what compresses best.
 *
 * Crash safety. A file written by path is FILE.open until closed; after
 * each row group a record describing it goes to FILE.journal. Closing
 * writes the footer, renames FILE.open to FILE and removes the journal.
 * pq_recover() turns a FILE.open left by a crash into FILE with every
 * row group the journal lists whole; pq_reader_open() reads FILE.open
 * the same way while it is still being written.
 *
 * The reader also reads what other writers (pyarrow, DuckDB) produce for
 * these types: OPTIONAL columns (a null reads as 0), data pages v1 and
 * v2, PLAIN, PLAIN_DICTIONARY/RLE_DICTIONARY, DELTA_BINARY_PACKED, RLE
 * booleans, BYTE_STREAM_SPLIT, codecs UNCOMPRESSED and ZSTD (SNAPPY,
 * GZIP... are refused with an error naming the codec). Nested schemas are
 * refused. Every length, count and offset read from a file is checked: a
 * truncated or hostile file gives a diag, never a crash.
 *
 * Errors: functions returning int give 0 on success and -1 with err set;
 * functions returning a pointer give NULL with err set. err may be NULL.
 * A writer or reader is used by one thread at a time.
 */
#ifndef FLOWSQL_PARQUET_H
#define FLOWSQL_PARQUET_H

#include <stddef.h>
#include <stdint.h>

#include "engine/flow.h"
#include "engine/types.h"
#include "util/diag.h"

typedef enum pq_kind {
    PQ_BOOL = 0,   /* value_t.i: 0 or 1 */
    PQ_INT8,       /* value_t.i, stored in -128..127 */
    PQ_INT16,      /* value_t.i, stored in -32768..32767 */
    PQ_INT32,      /* value_t.i, stored in the int32 range */
    PQ_INT64,      /* value_t.i */
    PQ_TIME_MS,    /* value_t.i: ms since the epoch, UTC */
    PQ_DOUBLE,     /* value_t.f */
    PQ_STRING,     /* value_t.s: NUL-terminated UTF-8 */
    PQ_IP,         /* value_t.ip */
    PQ_KIND_COUNT,
    PQ_UNSUPPORTED = -1 /* a file column this reader cannot read */
} pq_kind_t;

/* Name of a kind ("int16", "time_ms", ...). */
const char *pq_kind_name(pq_kind_t k);

#define PQ_COL_BLOOM 0x1   /* write a bloom filter for each chunk */

typedef struct pq_column {
    const char *name;      /* copied by the writer */
    pq_kind_t   kind;
    unsigned    flags;     /* PQ_COL_* */
} pq_column_t;

typedef struct pq_kv {
    const char *key, *value;
} pq_kv_t;

/*
 * The archive's columns for flows: one per stored field of the schema
 * (engine/schema.c, every non-virtual field, in schema order, same
 * names), with the archive's types (addresses PQ_IP with a bloom filter
 * on srcip and dstip, times PQ_TIME_MS, counters/AS/interfaces/sampling/
 * domain PQ_INT64, ports/tcpflags/vlan PQ_INT32, proto/tos/masks/
 * direction PQ_INT16). Fills out (at most max entries) and returns the
 * column count. Names point at static strings.
 */
size_t pq_flow_columns(pq_column_t *out, size_t max);

/* ---- writer ------------------------------------------------------------- */

typedef struct pq_writer pq_writer_t;

typedef struct pq_writer_opts {
    int            zstd_level;  /* 0: PQ_ZSTD_LEVEL */
    int            page_rows;   /* values per data page; 0: PQ_PAGE_ROWS */
    const char    *sort_by;     /* NULL, or a column (integer or address):
                                   each row group's rows are written in
                                   its order (ascending, ties as added) */
    int            no_sync;     /* 1: no fdatasync before journal records */
    const pq_kv_t *kv;          /* footer key/value metadata, copied */
    size_t         nkv;
    const char    *created_by;  /* NULL: "flowsql version VERSION" */
} pq_writer_opts_t;

#define PQ_ZSTD_LEVEL 1
#define PQ_PAGE_ROWS  8192

/*
 * Create PATH.open (O_EXCL: an existing one is an error, recover it
 * first; so is an existing PATH, which closing would replace) and
 * PATH.journal, with the given columns (at least one, at most
 * PQ_MAX_COLUMNS, distinct names). opts may be NULL. Rows added are kept
 * in memory until pq_writer_flush() writes them as one row group. Returns
 * the writer, or NULL with err set (nothing is left on disk then).
 */
#define PQ_MAX_COLUMNS 256
pq_writer_t *pq_writer_open(const char *path, const pq_column_t *cols,
                            size_t ncols, const pq_writer_opts_t *opts,
                            diag_t *err);

/*
 * A writer on an open file descriptor (a file being exported, a pipe):
 * no journal, no rename; the bytes go to fd in order, never seeking.
 * pq_writer_close() writes the footer and leaves fd open (the caller
 * closes it).
 */
pq_writer_t *pq_writer_open_fd(int fd, const pq_column_t *cols, size_t ncols,
                               const pq_writer_opts_t *opts, diag_t *err);

/*
 * Append the b->n flows of a batch. Every column of the writer must be a
 * flow field (by name, as pq_flow_columns gives them, any subset in any
 * order). Values that do not fit a narrow column (a tcpflags of 70000 in
 * an INT32, a proto of 300 in an INT16) are clamped to its range and
 * counted in pq_writer_stats_t.clamped. The batch is copied.
 */
int pq_writer_add_batch(pq_writer_t *w, const flow_batch_t *b, diag_t *err);

/*
 * Append nrows rows of generic values, row-major: rows[r * ncols + c] is
 * column c of row r, read by the column's kind (value_t.i, .f, .s, .ip).
 * Strings are copied; a NULL string is written as "". Clamping as above.
 */
int pq_writer_add_rows(pq_writer_t *w, const value_t *rows, size_t nrows,
                       diag_t *err);

/* Rows added since the last flush. */
size_t pq_writer_pending(const pq_writer_t *w);

/*
 * End the row group: encode, compress and write the pending rows (one
 * row group; nothing if none are pending), then, for a file writer,
 * fdatasync it (unless opts.no_sync) and append the row group to the
 * journal. After it returns 0, a crash loses nothing of these rows.
 * A write error leaves the writer failed: later calls return -1.
 */
int pq_writer_flush(pq_writer_t *w, diag_t *err);

/*
 * Flush what is pending, write the footer, and for a file writer fsync,
 * rename PATH.open to PATH (never over an existing PATH) and remove
 * PATH.journal. Frees the writer in
 * every case. On error the .open file and journal are left for
 * pq_recover().
 */
int pq_writer_close(pq_writer_t *w, diag_t *err);

/*
 * Free the writer without a footer, as a crash would leave it (PATH.open
 * and PATH.journal stay). For shutdown paths that cannot finish a file,
 * and for tests. NULL is fine.
 */
void pq_writer_abandon(pq_writer_t *w);

typedef struct pq_writer_stats {
    uint64_t rows;          /* rows written in row groups */
    uint64_t row_groups;
    uint64_t bytes;         /* file bytes written so far */
    uint64_t clamped;       /* values clamped to a narrow column's range */
} pq_writer_stats_t;

void pq_writer_stats(const pq_writer_t *w, pq_writer_stats_t *out);

/*
 * Recover PATH.open after a crash: keep the row groups the journal
 * PATH.journal lists whose bytes lie whole in the file, cut the file
 * after the last of them, write the footer, rename to PATH, remove the
 * journal. A journal that is missing or lists no complete row group
 * (nothing was flushed) removes PATH.open and the journal: there was
 * nothing to keep. *kept (may be NULL) gets the number of row groups
 * kept. Returns 0 (recovered or removed), -1 on error (an existing PATH
 * is never replaced: that is an error, with PATH.open left as found
 * but for the footer appended).
 */
int pq_recover(const char *path, uint64_t *kept, diag_t *err);

/* ---- reader ------------------------------------------------------------- */

typedef struct pq_reader pq_reader_t;

/*
 * Open a file for reading. A path ending in ".open" is read as a file
 * being written: its schema and row groups come from the journal beside
 * it (PATH without ".open" + ".journal"), up to the last row group whose
 * bytes are in the file. Other paths are read by their footer. The file
 * is opened with util/file.h rules (regular files only, no symlink).
 */
pq_reader_t *pq_reader_open(const char *path, diag_t *err);

/* The same over bytes in memory (not copied: keep them while reading). */
pq_reader_t *pq_reader_open_mem(const void *data, size_t len, diag_t *err);

void pq_reader_close(pq_reader_t *r);   /* NULL is fine */

typedef struct pq_colinfo {
    const char *name;
    pq_kind_t   kind;       /* how values come out; PQ_UNSUPPORTED if not */
    int         physical;   /* Parquet physical type (0 BOOLEAN .. 7 FLBA) */
    int         optional;   /* 1 if not REQUIRED (nulls read as 0) */
    int         field;      /* flow schema field id of the same name, -1 */
    const char *why;        /* for PQ_UNSUPPORTED: why, else NULL */
} pq_colinfo_t;

size_t              pq_reader_ncols(const pq_reader_t *r);
const pq_colinfo_t *pq_reader_col(const pq_reader_t *r, size_t col);
/* Column index by name (exact), or -1. */
int                 pq_reader_find(const pq_reader_t *r, const char *name);
int64_t             pq_reader_nrows(const pq_reader_t *r);
size_t              pq_reader_nrowgroups(const pq_reader_t *r);
int64_t             pq_reader_rg_rows(const pq_reader_t *r, size_t rg);
/* Footer key/value metadata: the value of key, or NULL. */
const char         *pq_reader_kv(const pq_reader_t *r, const char *key);

/*
 * Min/max statistics of a column chunk, as values of the column's kind
 * (strings point into the reader, valid until pq_reader_close). Returns
 * 1 if the chunk has both, 0 if not (then a scan must read the chunk).
 */
int pq_reader_minmax(pq_reader_t *r, size_t rg, size_t col, value_t *min,
                     value_t *max);

/* Compressed bytes of a column chunk (its pages, dictionary included),
 * as the file's metadata says; 0 if unknown. */
int64_t pq_reader_chunk_bytes(const pq_reader_t *r, size_t rg, size_t col);

/*
 * Bloom filter probe: 0 if the chunk of column col in row group rg
 * certainly holds no value equal to v, 1 if it may (also when the chunk
 * has no bloom filter or it cannot be read: a probe never hides rows).
 * The filter is read on first use and kept.
 */
int pq_reader_bloom(pq_reader_t *r, size_t rg, size_t col, const value_t *v);

/*
 * Read row group rg into flow batches. fields is a mask of flow schema
 * field ids (1ull << F_SRCIP | ...): those fields are filled from the
 * file's column of the same name (converted: any int column into an int
 * lane, a timestamp of any unit into ms, FLBA(16) or a 16-byte (or
 * 4-byte IPv4) BYTE_ARRAY into an address); fields not asked for, or
 * absent from the file, are 0. cb gets each batch of up to
 * FLOW_BATCH_MAX flows; the batch is reused after cb returns. cb returns
 * 0 to go on, non-zero to stop (pq_reader_read then returns 1). Returns
 * 0 when the row group was read, -1 on a corrupt chunk (err says which
 * column, row group and why; cb may have seen batches before it).
 */
typedef int (*pq_batch_fn)(void *ctx, const flow_batch_t *b);
int pq_reader_read(pq_reader_t *r, size_t rg, uint64_t fields,
                   pq_batch_fn cb, void *ctx, diag_t *err);

/*
 * Rows [lo, hi) of a row group. pq_reader_read_sel reads only the rows
 * of nsel such ranges (ascending, not overlapping) of row group rg, as
 * pq_reader_read does all of them. When at most half the rows are asked
 * for and a chunk has an offset index (PageIndex.md), only the pages
 * holding them are read from the file (and the dictionary page).
 */
typedef struct pq_rows {
    int64_t lo, hi;
} pq_rows_t;
int pq_reader_read_sel(pq_reader_t *r, size_t rg, uint64_t fields,
                       const pq_rows_t *sel, size_t nsel, pq_batch_fn cb,
                       void *ctx, diag_t *err);

/*
 * The page index of a chunk: its page count (0 when the chunk has no
 * offset index, or a bad one: it is then read whole), *first the first
 * row of each page (first[n] is the row group's row count), and, when
 * the chunk also has a column index, *mins and *maxs each page's bounds
 * as values of the column's kind (else NULL; a page of nulls only has
 * bounds 0). Read on first use and kept; pointers valid until
 * pq_reader_close. Any of the out pointers may be NULL.
 */
size_t pq_reader_pages(pq_reader_t *r, size_t rg, size_t col,
                       const int64_t **first, const value_t **mins,
                       const value_t **maxs);

/*
 * Tell the kernel which bytes pq_reader_read_sel(r, rg, fields, sel,
 * nsel) will read (posix_fadvise WILLNEED), so that the reads of many
 * row groups' pages go to the disk at once. Reads the page indexes it
 * needs; nothing for a reader over memory.
 */
void pq_reader_prefetch(pq_reader_t *r, size_t rg, uint64_t fields,
                        const pq_rows_t *sel, size_t nsel);

/* Bytes the reader has read from its file (or memory) so far. */
uint64_t pq_reader_bytes_read(const pq_reader_t *r);

/*
 * Read columns cols[0..ncols) of row group rg as generic rows: cb gets
 * up to nrows rows of ncols values, row-major, by each column's kind
 * (strings valid during the call). Same return as pq_reader_read.
 */
typedef int (*pq_rows_fn)(void *ctx, const value_t *rows, size_t nrows);
int pq_reader_read_rows(pq_reader_t *r, size_t rg, const int *cols,
                        size_t ncols, pq_rows_fn cb, void *ctx, diag_t *err);

#endif
