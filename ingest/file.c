/*
 * file.c - IPFIX files (RFC 5655): a stream of IPFIX messages, each
 * framed by its header's length, decoded exactly as a TCP stream is.
 */
#include "ingest/ingest_int.h"
#include "util/arena.h"
#include "util/timeutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FILE_BUF (4u << 20)

typedef struct file_sink {
    sink_t          s;
    ingest_emit_fn  emit;
    void           *ctx;
} file_sink_t;

static int file_refill(sink_t *s)
{
    file_sink_t *fs = (file_sink_t *)s;
    if (s->cur->n)
        fs->emit(fs->ctx, s->cur);
    flow_batch_reset(s->cur);
    s->cur->flags = s->flags;
    return 0;
}

int ingest_read_file(const char *path, ingest_emit_fn emit, void *ctx,
                     ingest_file_result_t *res, diag_t *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        diag_set(err, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    int rc = ingest_read_fd(fd, path, 0, emit, ctx, res, err);
    close(fd);
    return rc;
}

int ingest_read_fd(int fd, const char *path, int64_t time_ms,
                   ingest_emit_fn emit, void *ctx, ingest_file_result_t *res,
                   diag_t *err)
{
    int64_t deadline = time_ms > 0 ? time_mono_ms() + time_ms : 0;
    decoder_route_glib_logs();
    stats_table_t stats;
    stats_init(&stats, 1024);
    file_sink_t fs = {.emit = emit, .ctx = ctx};
    fs.s.cur = flow_batch_new();
    fs.s.flags = FLOW_BATCH_REPLAY;
    fs.s.cur->flags = FLOW_BATCH_REPLAY;
    fs.s.refill = file_refill;
    decoder_t d;
    decoder_init(&d, &fs.s, &stats);
    d.replay = 1;
    tsession_t ts = {.kind = TS_FILE, .fd = -1};
    ts.fbuf = decoder_fbuf_new(&d);

    uint8_t *buf = xmalloc(FILE_BUF);
    size_t have = 0, off = 0;
    int rc = 0, eof = 0;
    uint64_t offset = 0; /* file offset of buf[off], for messages */
    for (;;) {
        if (!eof && have - off < 65536) {
            memmove(buf, buf + off, have - off);
            have -= off;
            off = 0;
            while (have < FILE_BUF) {
                ssize_t n = read(fd, buf + have, FILE_BUF - have);
                if (n < 0 && errno == EINTR)
                    continue;
                if (n < 0) {
                    diag_set(err, "reading %s: %s", path, strerror(errno));
                    rc = -1;
                    goto out;
                }
                if (n == 0) {
                    eof = 1;
                    break;
                }
                have += (size_t)n;
            }
        }
        size_t left = have - off;
        if (left == 0)
            break;
        if (deadline && time_mono_ms() >= deadline) {
            diag_set(err, "%s: time limit of %lld ms reached at byte %llu",
                     path, (long long)time_ms,
                     (unsigned long long)offset);
            rc = -1;
            break;
        }
        const char *bad = NULL;
        if (left < 4)
            bad = "truncated IPFIX message";
        else if (rd16(buf + off) != 10 || rd16(buf + off + 2) < 16)
            bad = "not an IPFIX message";
        else if (rd16(buf + off + 2) > left)
            bad = "truncated IPFIX message";
        if (bad) {
            diag_set(err, "%s: %s at byte %llu", path, bad,
                     (unsigned long long)offset);
            rc = -1;
            break;
        }
        size_t mlen = rd16(buf + off + 2);
        d.received_ms = 0;
        ipfix_message(&d, &ts, buf + off, mlen);
        off += mlen;
        offset += mlen;
    }
    if (fs.s.cur->n)
        emit(ctx, fs.s.cur);

out:
    if (res) {
        memset(res, 0, sizeof(*res));
        size_t n = stats_snapshot(&stats, NULL, 0);
        ingest_exporter_stats_t *rows = xcalloc(n + 1, sizeof(*rows));
        n = stats_snapshot(&stats, rows, n);
        for (size_t i = 0; i < n; i++) {
            res->messages += rows[i].messages;
            res->records += rows[i].records;
            res->bytes += rows[i].bytes;
            res->decode_errors += rows[i].decode_errors;
            res->unknown_tmpl += rows[i].unknown_tmpl;
            res->seq_lost += rows[i].seq_lost;
            res->seq_resets += rows[i].seq_resets;
        }
        res->records = d.records; /* emitted: a biflow counts twice */
        free(rows);
    }
    free(buf);
    ipfix_thread_done();
    tsession_free_state(&ts);
    decoder_destroy(&d);
    stats_destroy(&stats);
    flow_batch_free(fs.s.cur);
    return rc;
}
