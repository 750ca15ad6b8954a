/*
 * xfield.h - custom IPFIX elements as query fields ("extra fields").
 *
 * An exporter may send elements flowsql has no column for: vendor
 * elements (CESNET's DNS and TLS fields from ipfixprobe, Flowmon's), or
 * IANA ones outside the core schema (MAC addresses, MPLS labels,
 * applicationId). A definition names such an element for queries:
 *
 *     name, enterprise_number, element_id, type
 *
 * with type integer | mpls | address | string | bytes | mac. Each
 * definition owns one of a fixed number of extra columns of flow_batch_t
 * (XF_NINT integer, XF_NSTR string, XF_NIP address slots), so the
 * schema's field ids stay below 64 and masks stay one word. Slots are
 * given once, at start: first the built-in definitions (xfield.c), then
 * those of --ipfix-elements, which may replace a built-in (same name) or
 * drop one (`no NAME`) to free its slot.
 *
 * The decoder fills only the slots some query names (xfield_want), and
 * only in batches it decodes; a batch records which slots it filled
 * (flow_batch_t.xfilled) and the expression compiler reads any other as
 * zeros (0, '', ::). So a field a query names that no template carries is
 * 0 / ''. Custom fields are not archived.
 *
 * Strings (string, bytes, mac) are interned like enriched names, in the
 * one table of str_intern, but bounded: past --string-table-max distinct
 * strings a new text from the wire becomes XF_OVERFLOW ('(other)') and
 * is counted.
 */
#ifndef FLOWSQL_XFIELD_H
#define FLOWSQL_XFIELD_H

#include <stddef.h>
#include <stdint.h>

#include "engine/flow.h"
#include "util/counter.h"

enum xf_type {
    XT_INT = 1, /* unsigned integer, big-endian, 1..8 bytes (longer: the
                   low 8 bytes) */
    XT_MPLS,    /* MPLS label stack entry: the 20-bit label */
    XT_ADDR,    /* 4 bytes IPv4, 16 bytes IPv6 */
    XT_STRING,  /* text, up to the first NUL, XF_STR_MAX bytes at most */
    XT_BYTES,   /* octets as lower-case hex, XF_STR_MAX/2 octets at most */
    XT_MAC,     /* 6 octets as aa:bb:cc:dd:ee:ff */
};

#define XF_STR_MAX 255
#define XF_NAMELEN 48
#define XF_OVERFLOW "(other)"

typedef struct xfdef {
    char     name[XF_NAMELEN];
    uint32_t pen;        /* 0 for IANA elements */
    uint16_t id;
    uint8_t  type;       /* enum xf_type */
    uint8_t  slot;       /* 0 .. XF_NSLOTS-1 */
} xfdef_t;

/* Definitions with a slot, in slot order of each type. */
extern xfdef_t  xf_defs[XF_NSLOTS];
extern int      xf_ndefs;
/* Slot names and docs, "" for a free slot (schema.c points at them). */
extern char     xf_names[XF_NSLOTS][XF_NAMELEN];
extern char     xf_docs[XF_NSLOTS][96];

/* Load definitions from a file after the built-ins. 0, or -1 with the
 * error (file:line: what is wrong) in err. Call once, before any thread
 * reads the schema. */
int  xfield_load(const char *path, char *err, size_t errlen);
/* Bound of the string table (distinct strings), 0 = no bound. */
void xfield_set_string_max(size_t max);

/* Slots some query names (bit k = slot k): each engine reports the
 * change of its own set when its queries change (and 0 when freed), so
 * the live engine and a replay's or history run's engine add up; the
 * decoders read the union for each message. xfield_want sets slots
 * wanted besides (tools, tests). */
void     xfield_want_change(uint32_t before, uint32_t after);
void     xfield_want(uint32_t slots);
uint32_t xfield_wanted(void);

/* The text of a wire value of a string/bytes/mac element, interned within
 * the bound (XF_OVERFLOW past it). */
const char *xfield_intern(int type, const uint8_t *p, size_t n);
/* Text made from strings (lower()), interned within the same bound. */
const char *xfield_intern_text(const char *s);
/* An integer/mpls element's value from its n octets; host_order when
 * libfixbuf already converted it. */
int64_t     xfield_int(int type, const uint8_t *p, size_t n, int host_order);

/* A column of zeros ('' for strings) for slot k: what a batch that did
 * not fill the slot reads. */
const void *xfield_zero_column(int slot);

/* Row i of a batch: every filled slot back to zero (sink_slot, before a
 * decoder writes the record). */
void xfield_clear_row(flow_batch_t *b, int i);
/* Make slots filled in b: the rows [0, n) of those it had not filled are
 * set to zeros (a decoder that starts filling mid-batch). */
void xfield_fill(flow_batch_t *b, uint32_t slots, int n);

/* Counters for /metrics. */
extern counter_t xf_string_overflows;
uint64_t xfield_strings(void);

#endif
