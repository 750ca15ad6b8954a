/*
 * pcapfile.c - capture files (pcap, pcapng) through a flow meter, and
 * the choice between a capture and an IPFIX file by their first bytes.
 */
#include "ingest/meter.h"
#include "util/timeutil.h"

#include <errno.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The magic numbers of pcap (microsecond and nanosecond, either byte
 * order) and of pcapng's section header block. */
static int is_pcap_magic(const uint8_t *b)
{
    uint32_t be = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
                  (uint32_t)b[2] << 8 | b[3];
    return be == 0xa1b2c3d4 || be == 0xd4c3b2a1 || be == 0xa1b23c4d ||
           be == 0x4d3cb2a1 || be == 0x0a0d0d0a;
}

int ingest_is_pcap(int fd)
{
    uint8_t b[4];
    return pread(fd, b, 4, 0) == 4 && is_pcap_magic(b);
}

int ingest_pcap_fd(int fd, const char *path, meter_t *m, int64_t time_ms,
                   ingest_file_result_t *res, diag_t *err)
{
    ingest_file_result_t r = {0};
    meter_stats_t before, after;
    meter_get_stats(m, &before);
    int64_t deadline = time_ms > 0 ? time_mono_ms() + time_ms : 0;
    int rc = 0;

    /* libpcap reads through a FILE of its own: a duplicate of fd, from
     * the start */
    int fd2 = dup(fd);
    FILE *fp = fd2 >= 0 ? fdopen(fd2, "rb") : NULL;
    if (!fp) {
        diag_set(err, "reading %s: %s", path, strerror(errno));
        if (fd2 >= 0)
            close(fd2);
        return -1;
    }
    if (fseeko(fp, 0, SEEK_SET) != 0) {
        diag_set(err, "reading %s: %s", path, strerror(errno));
        fclose(fp);
        return -1;
    }
    char ebuf[PCAP_ERRBUF_SIZE] = "";
    pcap_t *p = pcap_fopen_offline_with_tstamp_precision(
        fp, PCAP_TSTAMP_PRECISION_MICRO, ebuf);
    if (!p) {
        diag_set(err, "%s: not a capture libpcap can read: %s", path, ebuf);
        fclose(fp);
        return -1;
    }
    int lt = pcap_datalink(p);
    if (!meter_linktype_ok(lt)) {
        const char *name = pcap_datalink_val_to_name(lt);
        diag_set(err, "%s: link type %s (%d) is not one the meter reads "
                 "(Ethernet, raw IP, Linux cooked SLL/SLL2, BSD loopback)",
                 path, name ? name : "unknown", lt);
        pcap_close(p);
        return -1;
    }
    struct pcap_pkthdr *h;
    const u_char *data;
    for (;;) {
        int n = pcap_next_ex(p, &h, &data);
        if (n == PCAP_ERROR_BREAK)
            break;
        if (n != 1) {
            diag_set(err, "%s: after packet %llu: %s", path,
                     (unsigned long long)r.messages, pcap_geterr(p));
            rc = -1;
            break;
        }
        r.messages++;
        r.bytes += h->len;
        int64_t ts = (int64_t)h->ts.tv_sec * 1000000 + h->ts.tv_usec;
        meter_packet(m, lt, ts, data, h->caplen, h->len);
        if (deadline && (r.messages & 4095) == 0 &&
            time_mono_ms() >= deadline) {
            diag_set(err, "%s: time limit of %lld ms reached at packet %llu",
                     path, (long long)time_ms,
                     (unsigned long long)r.messages);
            rc = -1;
            break;
        }
    }
    pcap_close(p); /* closes fp and fd2 */
    meter_get_stats(m, &after);
    r.records = after.flows_out - before.flows_out;
    r.decode_errors = (after.truncated - before.truncated) +
                      (after.malformed - before.malformed);
    if (res)
        *res = r;
    return rc;
}

int ingest_read_any_fd(int fd, const char *path, int64_t time_ms,
                       const meter_config_t *mc, ingest_emit_fn emit,
                       void *ctx, ingest_file_result_t *res,
                       meter_stats_t *ms, diag_t *err)
{
    if (ms)
        memset(ms, 0, sizeof(*ms));
    uint8_t b[4];
    ssize_t n = pread(fd, b, 4, 0);
    if (n < 0) {
        diag_set(err, "reading %s: %s", path, strerror(errno));
        return -1;
    }
    if (n == 4 && is_pcap_magic(b)) {
        meter_t *m = meter_new(mc, emit, ctx);
        int rc = ingest_pcap_fd(fd, path, m, time_ms, res, err);
        /* what was metered before an error (a capture cut short) still
         * makes its flows */
        meter_flush(m);
        if (res) {
            meter_stats_t st;
            meter_get_stats(m, &st);
            res->records = st.flows_out;
        }
        if (ms)
            meter_get_stats(m, ms);
        meter_free(m);
        return rc;
    }
    if (n >= 2 && b[0] == 0 && b[1] == 10)
        return ingest_read_fd(fd, path, time_ms, emit, ctx, res, err);
    if (n == 0)
        diag_set(err, "%s: empty file (neither IPFIX nor pcap/pcapng)",
                 path);
    else {
        char hex[16] = "";
        size_t o = 0;
        for (ssize_t i = 0; i < n && o < sizeof(hex); i++)
            o += (size_t)snprintf(hex + o, sizeof(hex) - o, "%s%02x",
                                  i ? " " : "", b[i]);
        diag_set(err, "%s: neither IPFIX (version 10) nor pcap/pcapng: it "
                 "starts with bytes %s", path, hex);
    }
    return -1;
}
