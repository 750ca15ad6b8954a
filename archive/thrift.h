/*
 * thrift.h - the Thrift compact protocol, and the Parquet metadata
 * structs written in it (parquet.thrift of apache/parquet-format).
 *
 * Only what archive/parquet.c needs: the footer (FileMetaData and what
 * it holds), page headers and bloom filter headers. The encoder appends
 * to a growing buffer. The decoder reads a bounded buffer and trusts
 * nothing in it: nesting depth, list counts and binary lengths are
 * checked against what is left, unknown fields (and fields of an
 * unexpected type) are skipped, so files of newer writers parse for the
 * fields we know. Decoded structs live in an arena; binary fields point
 * into the decoded buffer (keep it as long as the structs).
 *
 * Internal to archive/; not a general Thrift library.
 */
#ifndef FLOWSQL_THRIFT_H
#define FLOWSQL_THRIFT_H

#include <stddef.h>
#include <stdint.h>

#include "util/arena.h"
#include "util/diag.h"

/* ---- compact protocol: encoder ------------------------------------------ */

enum thrift_type {
    TT_STOP = 0, TT_TRUE = 1, TT_FALSE = 2, TT_BYTE = 3, TT_I16 = 4,
    TT_I32 = 5, TT_I64 = 6, TT_DOUBLE = 7, TT_BINARY = 8, TT_LIST = 9,
    TT_SET = 10, TT_MAP = 11, TT_STRUCT = 12,
};

#define THRIFT_MAX_DEPTH 32

typedef struct tw {
    uint8_t *buf;
    size_t   len, cap;
    int      depth;
    int16_t  last[THRIFT_MAX_DEPTH];   /* last field id per open struct */
} tw_t;

void tw_init(tw_t *w);
void tw_free(tw_t *w);
void tw_reset(tw_t *w);                 /* empty, keep the memory */
void tw_raw(tw_t *w, const void *p, size_t n);  /* bytes as they are */

/* Fields of the current struct (ids ascending or not: both work). */
void tw_field_bool(tw_t *w, int16_t id, int v);
void tw_field_i8(tw_t *w, int16_t id, int8_t v);
void tw_field_i32(tw_t *w, int16_t id, int32_t v);
void tw_field_i64(tw_t *w, int16_t id, int64_t v);
void tw_field_bin(tw_t *w, int16_t id, const void *p, size_t n);
void tw_field_str(tw_t *w, int16_t id, const char *s);
void tw_field_struct(tw_t *w, int16_t id);   /* then fields, tw_end() */
void tw_field_list(tw_t *w, int16_t id, int elem_type, uint32_t n);
/* An empty struct as a field (union members like TypeDefinedOrder). */
void tw_field_empty(tw_t *w, int16_t id);

/* List elements. */
void tw_i32(tw_t *w, int32_t v);
void tw_i64(tw_t *w, int64_t v);
void tw_bool(tw_t *w, int v);                /* 1 true, 2 false */
void tw_bin(tw_t *w, const void *p, size_t n);
void tw_struct(tw_t *w);                     /* then fields, tw_end() */
void tw_end(tw_t *w);                        /* ends the current struct */

/* ---- compact protocol: decoder ------------------------------------------ */

typedef struct tr {
    const uint8_t *p, *end;
    int            depth;
    int            bad;          /* set on the first error */
    const char    *why;          /* what was wrong */
    int16_t        last[THRIFT_MAX_DEPTH];
} tr_t;

void tr_init(tr_t *r, const void *p, size_t n);

/* Enter a struct (top level or a field/element of type TT_STRUCT). */
int  tr_begin(tr_t *r);
/* Next field of the current struct: 1 (id, type set), 0 at its end (the
 * struct is left), -1 on error. */
int  tr_field(tr_t *r, int16_t *id, int *type);
/* Values of the field just read (type as tr_field gave it). -1 on error
 * or a type that does not match (the field is skipped then, 1 returned:
 * callers treat it as absent). */
int  tr_i32(tr_t *r, int type, int32_t *v);
int  tr_i64(tr_t *r, int type, int64_t *v);
int  tr_bool(tr_t *r, int type, int *v);
int  tr_bin(tr_t *r, int type, const uint8_t **p, uint32_t *n);
/* A list header: element type and count (count <= bytes left). */
int  tr_list(tr_t *r, int type, int *elem_type, uint32_t *n);
/* Skip a value of a type (nested up to THRIFT_MAX_DEPTH). */
int  tr_skip(tr_t *r, int type);
/* Bytes consumed since p. */
static inline size_t tr_used(const tr_t *r, const void *start)
{
    return (size_t)(r->p - (const uint8_t *)start);
}

/* ---- Parquet metadata ---------------------------------------------------- */

enum pq_physical {
    PT_BOOLEAN = 0, PT_INT32 = 1, PT_INT64 = 2, PT_INT96 = 3, PT_FLOAT = 4,
    PT_DOUBLE = 5, PT_BYTE_ARRAY = 6, PT_FLBA = 7,
};
enum pq_encoding {
    PE_PLAIN = 0, PE_PLAIN_DICTIONARY = 2, PE_RLE = 3, PE_BIT_PACKED = 4,
    PE_DELTA_BINARY_PACKED = 5, PE_DELTA_LENGTH_BYTE_ARRAY = 6,
    PE_DELTA_BYTE_ARRAY = 7, PE_RLE_DICTIONARY = 8, PE_BYTE_STREAM_SPLIT = 9,
};
enum pq_codec {
    PC_UNCOMPRESSED = 0, PC_SNAPPY = 1, PC_GZIP = 2, PC_LZO = 3,
    PC_BROTLI = 4, PC_LZ4 = 5, PC_ZSTD = 6, PC_LZ4_RAW = 7,
};
enum pq_page_type {
    PG_DATA = 0, PG_INDEX = 1, PG_DICTIONARY = 2, PG_DATA_V2 = 3,
};
enum pq_repetition { PR_REQUIRED = 0, PR_OPTIONAL = 1, PR_REPEATED = 2 };
enum pq_converted {
    PCT_UTF8 = 0, PCT_TIMESTAMP_MILLIS = 9, PCT_TIMESTAMP_MICROS = 10,
    PCT_UINT_8 = 11, PCT_UINT_16 = 12, PCT_UINT_32 = 13, PCT_UINT_64 = 14,
    PCT_INT_8 = 15, PCT_INT_16 = 16, PCT_INT_32 = 17, PCT_INT_64 = 18,
};
/* LogicalType union members we understand (field ids of the union). */
enum pq_logical {
    PL_NONE = 0, PL_STRING = 1, PL_TIMESTAMP = 8, PL_INTEGER = 10,
    PL_OTHER = 99,
};
enum pq_time_unit { PU_MILLIS = 1, PU_MICROS = 2, PU_NANOS = 3 };

typedef struct pqm_bin {
    const uint8_t *p;
    uint32_t       len;
    int            set;
} pqm_bin_t;

typedef struct pqm_stats {
    pqm_bin_t min_value, max_value;    /* fields 6, 5 */
    pqm_bin_t min, max;                /* deprecated fields 2, 1 */
    int64_t   null_count;
    int       has_null_count;
} pqm_stats_t;

typedef struct pqm_colmeta {
    int32_t     type;
    uint32_t    encodings;             /* bit (1 << encoding) */
    const char *path;                  /* path_in_schema, joined by '.' */
    int32_t     codec;
    int64_t     num_values;
    int64_t     total_uncompressed_size;
    int64_t     total_compressed_size;
    int64_t     data_page_offset;
    int64_t     dictionary_page_offset; /* has_dict_offset */
    int         has_dict_offset;
    pqm_stats_t stats;
    int         has_stats;
    int64_t     bloom_offset;          /* has_bloom */
    int32_t     bloom_length;          /* 0 if not given */
    int         has_bloom;
} pqm_colmeta_t;

typedef struct pqm_chunk {
    int64_t       file_offset;
    pqm_colmeta_t meta;
    int           has_meta;
    /* the chunk's page index (PageIndex.md), where it lies */
    int64_t       oi_offset, ci_offset;   /* OffsetIndex, ColumnIndex */
    int32_t       oi_length, ci_length;
    int           has_oi, has_ci;
} pqm_chunk_t;

typedef struct pqm_rowgroup {
    pqm_chunk_t *cols;
    uint32_t     ncols;
    int64_t      total_byte_size;
    int64_t      num_rows;
    int64_t      file_offset;          /* has_file_offset */
    int64_t      total_compressed_size;
    int          has_file_offset, has_total_compressed;
    int32_t      sort_col;             /* has_sort: rows sorted by this
                                          column, ascending */
    int          has_sort;
} pqm_rowgroup_t;

typedef struct pqm_schema {
    const char *name;
    int32_t     type;                  /* -1: a group (no type) */
    int32_t     type_length;
    int32_t     repetition;            /* -1 if absent (the root) */
    int32_t     num_children;
    int32_t     converted;             /* -1 if absent */
    int         logical;               /* enum pq_logical */
    int         lt_unit;               /* PL_TIMESTAMP: enum pq_time_unit */
    int         lt_utc;
    int         lt_bits, lt_signed;    /* PL_INTEGER */
} pqm_schema_t;

typedef struct pqm_kv {
    const char *key, *value;           /* value NULL if absent */
} pqm_kv_t;

typedef struct pqm_file {
    int32_t         version;
    pqm_schema_t   *schema;            /* [0] is the root */
    uint32_t        nschema;
    int64_t         num_rows;
    pqm_rowgroup_t *rgs;
    uint32_t        nrgs;
    pqm_kv_t       *kv;
    uint32_t        nkv;
    const char     *created_by;
    int             column_orders;     /* write TypeDefinedOrder for all */
} pqm_file_t;

typedef struct pqm_page {
    int32_t type;                      /* enum pq_page_type */
    int32_t usize, csize;              /* uncompressed, compressed sizes */
    int32_t num_values;
    int32_t encoding;
    int32_t def_encoding, rep_encoding;   /* v1 */
    int32_t num_nulls, num_rows;          /* v2 */
    int32_t def_len, rep_len;             /* v2 */
    int     is_compressed;                /* v2; 1 by default */
} pqm_page_t;

typedef struct pqm_bloom {
    int32_t num_bytes;
    int     sbbf, xxhash, uncompressed;   /* the known union members */
} pqm_bloom_t;

/* The page index of a column chunk (PageIndex.md). OffsetIndex: where
 * each data page lies and the first row it holds; ColumnIndex: each
 * page's min and max (PLAIN bytes), in the same order. */
typedef struct pqm_pageloc {
    int64_t offset;                    /* of the page header in the file */
    int32_t size;                      /* header and compressed data */
    int64_t first_row;                 /* in the row group */
} pqm_pageloc_t;

typedef struct pqm_offidx {
    pqm_pageloc_t *pages;
    uint32_t       n;
} pqm_offidx_t;

enum { PB_UNORDERED = 0, PB_ASCENDING = 1, PB_DESCENDING = 2 };

typedef struct pqm_colidx {
    uint8_t   *null_pages;             /* n flags: the page is all nulls */
    pqm_bin_t *mins, *maxs;            /* n each */
    uint32_t   n;
    int32_t    order;                  /* PB_* (BoundaryOrder) */
} pqm_colidx_t;

/* Decoded metadata may take this much memory (a list of a million
 * structs costs a million bytes to claim but far more to hold). */
#define PQM_ARENA_MAX (256u << 20)

/* Encoders append to w. */
void pqm_write_file(tw_t *w, const pqm_file_t *f);
void pqm_write_rowgroup(tw_t *w, const pqm_rowgroup_t *rg);
void pqm_write_page(tw_t *w, const pqm_page_t *pg);
void pqm_write_bloom(tw_t *w, const pqm_bloom_t *b);
void pqm_write_offidx(tw_t *w, const pqm_offidx_t *oi);
void pqm_write_colidx(tw_t *w, const pqm_colidx_t *ci);

/* Decoders: 0, or -1 with err set ("footer: list longer than the data",
 * ...). *used (may be NULL) gets the bytes the struct took. Arrays and
 * strings go to arena a; binaries point into p. */
int pqm_read_file(const void *p, size_t n, arena_t *a, pqm_file_t *f,
                  diag_t *err);
int pqm_read_rowgroup(const void *p, size_t n, arena_t *a, pqm_rowgroup_t *rg,
                      size_t *used, diag_t *err);
int pqm_read_page(const void *p, size_t n, pqm_page_t *pg, size_t *used,
                  diag_t *err);
int pqm_read_bloom(const void *p, size_t n, pqm_bloom_t *b, size_t *used,
                   diag_t *err);
/* Page indexes: lists (of the same length for a ColumnIndex) in arena a;
 * binaries point into p. */
int pqm_read_offidx(const void *p, size_t n, arena_t *a, pqm_offidx_t *oi,
                    diag_t *err);
int pqm_read_colidx(const void *p, size_t n, arena_t *a, pqm_colidx_t *ci,
                    diag_t *err);

#endif
