/* partmsg.c - the messages of the partials topic; see partmsg.h. */
#include "server/partmsg.h"
#include "util/le.h"

#include <string.h>

void partmsg_encode(const partmsg_t *m, sbuf_t *o)
{
    size_t qlen = strnlen(m->query, sizeof(m->query) - 1);
    sbuf_addn(o, PARTMSG_MAGIC, 4);
    le_put(o, PARTMSG_VERSION, 1);
    le_put(o, (uint64_t)m->type, 1);
    le_put(o, PARTMSG_HDR, 2);
    le_put(o, m->part, 4);
    le_put(o, m->nparts, 4);
    le_put(o, (uint64_t)m->watermark, 8);
    le_put(o, (uint64_t)m->wstart, 8);
    le_put(o, (uint64_t)m->wend, 8);
    le_put(o, m->attempt, 8);
    le_put(o, m->off, 8);
    le_put(o, m->total, 8);
    le_put(o, qlen, 1);
    sbuf_addn(o, m->query, qlen);
    if (m->len)
        sbuf_addn(o, (const char *)m->data, m->len);
}

int partmsg_decode(const void *buf, size_t len, partmsg_t *m, diag_t *err)
{
    const uint8_t *p = buf;
    memset(m, 0, sizeof(*m));
    if (len < 8 || memcmp(p, PARTMSG_MAGIC, 4) != 0) {
        diag_set(err, "not a partials message (no FSQM magic)");
        return -1;
    }
    if (p[4] != PARTMSG_VERSION) {
        diag_set(err, "partials message version %u (this flowsqld reads %d)",
                 p[4], PARTMSG_VERSION);
        return -1;
    }
    size_t hdr = (size_t)le_get(p + 6, 2);
    if (hdr < PARTMSG_HDR || len < hdr + 1) {
        diag_set(err, "partials message truncated (%zu bytes, header %zu)",
                 len, hdr);
        return -1;
    }
    m->type = p[5];
    m->part = (uint32_t)le_get(p + 8, 4);
    m->nparts = (uint32_t)le_get(p + 12, 4);
    m->watermark = (int64_t)le_get(p + 16, 8);
    m->wstart = (int64_t)le_get(p + 24, 8);
    m->wend = (int64_t)le_get(p + 32, 8);
    m->attempt = le_get(p + 40, 8);
    m->off = le_get(p + 48, 8);
    m->total = le_get(p + 56, 8);
    size_t qlen = p[hdr];
    if (qlen >= sizeof(m->query) || len < hdr + 1 + qlen) {
        diag_set(err, "partials message: bad query name length %zu", qlen);
        return -1;
    }
    memcpy(m->query, p + hdr + 1, qlen);
    m->query[qlen] = 0;
    m->data = p + hdr + 1 + qlen;
    m->len = len - hdr - 1 - qlen;
    if (m->type != PM_PARTIAL && m->type != PM_PROGRESS) {
        diag_set(err, "partials message of unknown type %d", m->type);
        return -1;
    }
    if (m->nparts == 0 || m->nparts > PARTMSG_MAX_PARTS ||
        m->part >= m->nparts) {
        diag_set(err, "partials message: partition %u of %u", m->part,
                 m->nparts);
        return -1;
    }
    if (m->type == PM_PARTIAL &&
        (!qlen || m->wend <= m->wstart || m->total > PARTMSG_MAX_STATE ||
         m->off > m->total || m->len > m->total - m->off)) {
        diag_set(err, "partials message: bad window or chunk (query '%s', "
                 "chunk at %llu of %llu bytes, %zu bytes)", m->query,
                 (unsigned long long)m->off, (unsigned long long)m->total,
                 m->len);
        return -1;
    }
    return 0;
}
