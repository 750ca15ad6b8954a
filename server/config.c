/* config.c - the option table and its readers; see config.h. */
#include "server/config.h"
#include "engine/mem.h"
#include "util/arena.h"
#include "util/sbuf.h"
#include "util/file.h"
#include "util/timeutil.h"

#include <errno.h>
#include <getopt.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

enum otype { O_STR, O_INT, O_I64, O_BYTES, O_MS };

typedef struct opt {
    const char *name;
    int         type;
    size_t      off;
    const char *def;
    const char *help;
} opt_t;

#define S(f) O_STR, offsetof(config_t, f)
#define I(f) O_INT, offsetof(config_t, f)
#define L(f) O_I64, offsetof(config_t, f)
#define B(f) O_BYTES, offsetof(config_t, f)
#define M(f) O_MS, offsetof(config_t, f)

static const opt_t opts[] = {
    {"listen", S(listen), "0.0.0.0", "address the flow collectors bind"},
    {"ipfix-port", I(ipfix_port), "4739", "IPFIX over UDP and TCP (0: off)"},
    {"netflow-port", I(netflow_port), "2055", "NetFlow v9 and v5 over UDP (0: off)"},
    {"sflow-port", I(sflow_port), "6343", "sFlow v5 over UDP (0: off)"},
    {"rcvbuf", B(rcvbuf), "32M", "socket receive buffer of the collectors"},
    {"ipfix-fast", S(ipfix_fast), "on", "on: read IPFIX and NetFlow v9 "
     "data records in place where their template allows (libfixbuf keeps "
     "the templates); off: every record through libfixbuf's transcoder"},
    {"tcp-connections", I(tcp_conns), "256", "IPFIX/TCP connections at "
     "once; when all are taken, the oldest that has not sent a message "
     "yet is closed for a new one, else the new one is refused"},
    {"tcp-per-source", I(tcp_per_source), "16", "IPFIX/TCP connections "
     "from one address; more are refused and counted for that address"},
    {"tcp-silent-timeout", M(tcp_silent_ms), "30s", "close an IPFIX/TCP "
     "connection that has not sent a well-formed message this long after "
     "it opened"},
    {"read", S(read_file), "", "run the queries over an IPFIX file or a "
     "packet capture (pcap, pcapng: metered into flows), store "
     "their windows (replacing what a run over the same file stored), print "
     "them as JSON lines and exit"},
    {"pcap-dir", S(pcap_dir), "", "meter the pcap/pcapng files that "
     "appear complete in this directory (renamed in, or closed after "
     "writing) into flows, with their packets' times (docs/INGEST.md; "
     "empty: off)"},
    {"pcap-done", S(pcap_done), "", "where --pcap-dir's files go once "
     "metered: a directory on the same file system, or 'delete' (empty: "
     "DIR/done); refused files go to its failed/ subdirectory"},
    {"pcap-quiet", M(pcap_quiet_ms), "60s", "after this long without a new "
     "file in --pcap-dir, the meter's packet clock follows the wall clock "
     "from the last packet, so the last file's flows still end by their "
     "timeouts (0: never)"},
    {"pcap-if", S(pcap_if), "", "capture this interface (one, or 'any') "
     "with libpcap and meter its packets into flows (needs CAP_NET_RAW; "
     "empty: off)"},
    {"pcap-filter", S(pcap_filter), "", "BPF filter of --pcap-if, in "
     "tcpdump's syntax (empty: every packet)"},
    {"pcap-active-timeout", I(pcap_active_s), "1800", "seconds (packet "
     "time) after a flow's first packet when the meter of packet captures "
     "exports it; later packets start a new flow (0: never; softflowd's "
     "maxlife)"},
    {"pcap-idle-timeout", I(pcap_idle_s), "300", "seconds without a packet "
     "after which the meter exports a flow (0: never; softflowd's "
     "general)"},
    {"pcap-timeouts", S(pcap_timeouts), "tcp.fin=5,tcp.rst=5", "the "
     "meter's per-protocol timeouts, softflowd's names: tcp, udp, icmp "
     "(0: the idle timeout), tcp.fin, tcp.rst (after FIN both ways / RST; "
     "0: at once, -1: off), e.g. udp=60,tcp.fin=0"},
    {"pcap-biflow", S(pcap_biflow), "on", "on: both directions of a "
     "conversation are one meter entry, exported as two records "
     "(softflowd); off: each direction is a flow of its own"},
    {"pcap-max-flows", L(pcap_max_flows), "262144", "flows the meter keeps "
     "at once; past it the one idle the longest is exported early "
     "(counted)"},
    {"http", S(http), "127.0.0.1:8080", "REST API address:port (off: none)"},
    {"api-token", S(api_token), "", "require 'Authorization: Bearer TOKEN' "
     "(also FLOWSQL_API_TOKEN)"},
    {"api-token-file", S(api_token_file), "", "read the API token from "
     "this file (its first line), so it is not in the process list"},
    {"health-open", S(health_open), "off", "on: GET /healthz answers "
     "without the API token, with its status alone (for probes and load "
     "balancers that hold no token); off: it needs the token as the rest"},
    {"max-body", B(max_body), "1M", "largest HTTP request body"},
    {"http-request-timeout", M(http_request_timeout_ms), "10s", "a request "
     "(head and body) must arrive whole this long after its connection "
     "opened or its previous answer ended, else the connection is cut"},
    {"http-stall-timeout", M(http_stall_timeout_ms), "60s", "cut a "
     "connection whose client takes nothing of its answer this long (a "
     "stalled stream reader)"},
    {"max-sse-clients", I(max_sse_clients), "64", "concurrent stream clients"},
    {"sse-queue-bytes", B(sse_queue_bytes), "16M", "windows waiting for one "
     "stream client at most; past it that client loses windows (counted)"},
    {"temporary-idle", M(temp_idle_ms), "60s", "drop a temporary query "
     "(the shell's live SELECT) this long after its last stream client left"},
    {"replay-dir", S(replay_dir), "", "POST /api/v1/replay reads IPFIX "
     "files and packet captures from this directory only, by relative name (empty: replay off)"},
    {"replay-timeout", M(replay_timeout_ms), "60s", "time limit of one "
     "replay"},
    {"data-dir", S(data_dir), config_default_data_dir, "where the SQLite database and the raw-flow archive (DATA/archive) live"},
    {"queries-dir", S(queries_dir), config_default_queries_dir, "saved .sql queries loaded at "
     "start and on SIGHUP"},
    {"max-queries", I(max_queries), "1000", "registered queries at most"},
    {"queue-flows", L(queue_flows), "1000000", "flows buffered between the "
     "collectors and the engine, for when the engine falls behind (a burst, "
     "a large table growing); past it records are dropped and counted"},
    {"max-groups", L(max_groups), "1000000", "default cap on groups per "
     "window of a query"},
    {"max-memory", B(max_memory), "50%", "memory budget of all queries' "
     "open windows and results: a size (512M, 4G), a share of RAM or of "
     "the cgroup's limit (50%), or 0 for none; past it new groups are "
     "refused and their flows counted as overflow"},
    {"monitored", S(monitored), "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7",
     "the networks you monitor, for `IN monitored` in queries (host "
     "profiles, outbound policy)"},
    {"network-sets", S(network_sets), "", "more named network sets for "
     "queries: name=cidr,cidr;name2=cidr"},
    {"share-aggregation", S(share_aggregation), "on", "queries with the "
     "same filter and keys share one aggregation (panes of the greatest "
     "common slice, rolled up per query; on or off; docs/ENGINE.md)"},
    {"engine-threads", S(engine_threads), "auto", "threads that run the "
     "queries (1-64): the engine thread and N-1 helpers, each taking whole "
     "share groups or queries; the same rows whatever N; auto: 2 when the "
     "process may use 2 CPUs or more, else 1 (docs/ENGINE.md, Threads)"},
    {"close-delay", M(close_delay_ms), "300ms", "wait after a window's end "
     "before closing it (receive-time windows)"},
    {"max-db-size", B(max_db_bytes), "0", "database size cap, oldest windows "
     "evicted first (0: none)"},
    {"retention", S(retention), "7d", "default retention of stored windows "
     "(duration, or a number of windows)"},
    {"adhoc-timeout", M(adhoc_timeout_ms), "5s", "time limit of an ad hoc "
     "query"},
    {"adhoc-rows", L(adhoc_max_rows), "100000", "row limit of an ad hoc query"},
    {"adhoc-concurrency", I(adhoc_concurrency), "8", "ad hoc queries running "
     "at once; more are refused with 429"},
    {"adhoc-bytes", B(adhoc_bytes), "64M", "the largest answer of an ad hoc "
     "query or a replay; past it the answer is cut (\"truncated\": true)"},
    {"archive", S(archive), "on", "keep every flow the collectors receive "
     "in Parquet files under DATA/archive (on or off; docs/ARCHIVE.md)"},
    {"archive-period", M(archive_period_ms), "5m", "one archive file per "
     "this much received time (UTC; whole seconds dividing a day)"},
    {"archive-flush", M(archive_flush_ms), "10s", "write the archive's "
     "pending flows as a row group at least this often (queries see flows "
     "up to the last row group written)"},
    {"archive-retention", M(archive_retention_ms), "7d", "delete archive "
     "files older than this (0s: keep them)"},
    {"archive-max-size", S(archive_max_size), "20%", "archive size cap, "
     "oldest files deleted first: a size (500G) or a share of the file "
     "system holding the data dir (20%); 0: none"},
    {"archive-row-group", L(archive_rg_flows), "131072", "flows per row "
     "group of the archive at most"},
    {"archive-page-rows", L(archive_page_rows), "8192", "flows per page "
     "of the archive's columns: fewer read less for a host lookup and "
     "take more bytes (1 to 1048576; docs/PERFORMANCE.md)"},
    {"archive-queue-flows", L(archive_queue_flows), "262144", "flows "
     "waiting for the archive writer at most; past it they are not "
     "archived (counted in flowsql_archive_dropped_flows_total)"},
    {"archive-zstd-level", S(archive_zstd_level), "1", "ZSTD level of "
     "the archive's pages: 1 (default) to 19 smaller and slower, -1 to -7 "
     "faster and larger (docs/PERFORMANCE.md)"},
    {"archive-query-timeout", M(archive_query_timeout_ms), "60s", "time "
     "limit of a query over the archive (SELECT ... FROM flows without "
     "WINDOW, EXPLAIN ANALYZE); its rows and bytes are bounded by "
     "--adhoc-rows and --adhoc-bytes"},
    {"renormalize", S(renormalize), "off", "multiply the packets and "
     "bytes of sampled flows by their sampling rate, for every query, "
     "output and the archive (on or off; docs/INGEST.md)"},
    {"sampling-rate", S(sampling_rate), "", "sampling rates of exporters "
     "that do not announce theirs: ADDRESS[/LEN]=N,... (1 in N; the "
     "longest prefix holding the exporter wins; announced rates win)"},
    {"replay-allow", S(replay_allow), "127.0.0.0/8,::1/128", "networks "
     "IPFIX replays of the archive may be sent to (comma-separated "
     "CIDRs; empty: none)"},
    {"job-timeout", M(job_timeout_ms), "6h", "time limit of a background "
     "job: a history run of a query, an IPFIX replay"},
    {"export-rows", L(export_max_rows), "0", "row limit of a Parquet "
     "answer (POST /api/v1/sql?format=parquet; 0: none, the time limit "
     "--archive-query-timeout still holds)"},
    {"geoip-db", S(geoip_db), "", "MaxMind DB (GeoLite2/DB-IP country or "
     "city) for srccountry, dstcountry; reloaded on SIGHUP "
     "(docs/ENRICHMENT.md)"},
    {"asn-db", S(asn_db), "", "MaxMind DB (GeoLite2/DB-IP ASN) for srcasn, "
     "dstasn when the exporter sent 0, srcasname, dstasname; reloaded on "
     "SIGHUP"},
    {"network-names", S(network_names), "", "CSV of prefix,name for "
     "srcnet_name, dstnet_name (longest prefix wins); reloaded on SIGHUP"},
    {"exporter-names", S(exporter_names), "", "CSV of address,name for "
     "exporter_name; reloaded on SIGHUP"},
    {"interface-names", S(interface_names), "", "CSV of exporter,ifindex,"
     "name for in_ifname, out_ifname; reloaded on SIGHUP"},
    {"ipfix-elements", S(ipfix_elements), "", "file of custom IPFIX "
     "elements as query fields: name, enterprise_number, element_id, type "
     "(integer, mpls, address, string, bytes, mac), or 'no NAME' to drop a "
     "built-in one (docs/ENRICHMENT.md)"},
    {"string-table-max", L(string_table_max), "1000000", "distinct strings "
     "kept (names, custom IPFIX string fields); past it a new string from "
     "the wire reads as '(other)' (0: no bound)"},
    {"anonymize", S(anonymize), "off", "anonymize addresses: off, "
     "cryptopan (prefix-preserving, needs --anonymize-key) or truncate"},
    {"anonymize-key", S(anonymize_key), "", "Crypto-PAn key file: 32 bytes "
     "or 64 hex digits"},
    {"anonymize-truncate", S(anonymize_truncate), "24,48", "truncate: bits "
     "kept of IPv4, of IPv6 addresses"},
    {"anonymize-scope", S(anonymize_scope), "all", "where addresses are "
     "anonymized: all (every flow, before queries and archive) or a list "
     "of store, kafka, es, archive, api"},
    {"kafka-brokers", S(kafka_brokers), "", "Kafka bootstrap servers for "
     "results (empty: no Kafka output)"},
    {"kafka-topic", S(kafka_topic), "flowsql.%q", "default topic, %q is the "
     "query name"},
    {"kafka-props", S(kafka_props), "", "extra librdkafka properties, "
     "k=v,k=v (TLS, SASL...)"},
    {"kafka-format", S(kafka_format), "flat", "message format: flat "
     "(columns and window fields at the top) or ecs (Elastic Common "
     "Schema: @timestamp, source.ip, ...; docs/OUTPUTS.md)"},
    {"elasticsearch", S(es_url), "", "Elasticsearch/OpenSearch URL for "
     "results (empty: none)"},
    {"es-index", S(es_index), "flowsql-%q", "default index, %q is the query "
     "name; a -YYYY.MM.DD suffix is added"},
    {"es-user", S(es_user), "", "basic auth user"},
    {"es-password", S(es_password), "", "basic auth password"},
    {"es-api-key", S(es_api_key), "", "API key (instead of basic auth)"},
    {"es-ca", S(es_ca), "", "CA file for TLS"},
    {"es-format", S(es_format), "flat", "document format: flat (columns "
     "and window fields at the top) or ecs (Elastic Common Schema: "
     "@timestamp, source.ip, ...; docs/OUTPUTS.md)"},
    {"kafka-input", S(kafka_input), "", "read IPFIXCol JSON flows from "
     "brokers/topic"},
    {"flows-topic", S(flows_topic), "", "collector role: publish every "
     "received flow to this Kafka topic of --kafka-brokers, binary, "
     "partitioned by --flows-key (docs/SCALE_OUT.md; empty: off)"},
    {"flows-key", S(flows_key), "srcip", "partition key of --flows-topic: "
     "srcip, dstip, exporter or nexthop"},
    {"flows-partitions", S(flows_partitions), "auto", "partitions of "
     "--flows-topic: auto (from the brokers) or a count"},
    {"flows-marker-interval", M(flows_marker_ms), "100ms", "watermark "
     "markers of --flows-topic to every partition, at most this often"},
    {"worker", S(worker), "off", "worker role: on to run the queries over "
     "--flows-topic in consumer group --worker-group, the windows' state "
     "to --partials-topic (docs/SCALE_OUT.md)"},
    {"worker-group", S(worker_group), "flowsql-workers", "consumer group "
     "of the workers"},
    {"partials-topic", S(partials_topic), "flowsql.partials", "topic of "
     "the workers' partial window states, read by --merge"},
    {"merge", S(merge), "off", "merge stage: on to merge --partials-topic "
     "into the final rows, written to this daemon's outputs"},
    {"merge-group", S(merge_group), "flowsql-merge", "consumer group of "
     "the merge stage"},
    {"instance-name", S(instance_name), "", "the name in Elasticsearch "
     "document ids (empty: host/pid; a merge stage: merge/<group>, the "
     "same for every instance, so a window written twice is one document)"},
    {"log-level", S(log_level), "info", "error, warn, info or debug"},
    {"config", S(config_file), "", "config file of name = value lines "
     "(docs/CONFIG.md; also FLOWSQL_CONFIG)"},
};
#define NOPTS (int)(sizeof(opts) / sizeof(opts[0]))

static int parse_bytes(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || v < 0)
        return -1;
    int64_t mul = 1;
    if (*end == 'k' || *end == 'K')
        mul = 1024, end++;
    else if (*end == 'M')
        mul = 1024 * 1024, end++;
    else if (*end == 'G')
        mul = 1024LL * 1024 * 1024, end++;
    if (*end == 'B')
        end++;
    if (*end || v > INT64_MAX / mul)
        return -1;
    *out = v * mul;
    return 0;
}

static int set(config_t *c, const opt_t *o, const char *val, diag_t *err)
{
    char *p = (char *)c + o->off;
    int64_t v;
    char *end;
    switch (o->type) {
    case O_STR:
        free(*(char **)p);
        *(char **)p = xstrdup(val);
        return 0;
    case O_INT:
    case O_I64:
        errno = 0;
        v = strtoll(val, &end, 10);
        if (errno || end == val || *end || v < 0 ||
            (o->type == O_INT && v > 2147483647)) {
            diag_set(err, "--%s: '%s' is not a valid number", o->name, val);
            return -1;
        }
        break;
    case O_BYTES:
        if (o->off == offsetof(config_t, max_memory) && *val &&
            val[strlen(val) - 1] == '%') {
            errno = 0;
            double pct = strtod(val, &end);
            if (errno || end == val || *end != '%' || !(pct > 0 && pct <= 100)) {
                diag_set(err, "--%s: '%s' is not a share of memory (e.g. "
                         "50%%)", o->name, val);
                return -1;
            }
            v = mem_default_limit(pct / 100);
            break;
        }
        if (parse_bytes(val, &v) < 0 ||
            (o->off == offsetof(config_t, rcvbuf) && v > 2147483647)) {
            diag_set(err, "--%s: '%s' is not a size (e.g. 512k, 32M, 1G)",
                     o->name, val);
            return -1;
        }
        break;
    default:
        /* a bare 0 needs no unit (0: off, for the options that have it) */
        if (strcmp(val, "0") == 0)
            v = 0;
        else if (duration_parse(val, strlen(val), &v) < 0) {
            diag_set(err, "--%s: '%s' is not a duration (e.g. 300ms, 5s)",
                     o->name, val);
            return -1;
        }
    }
    if (o->type == O_INT || (o->type == O_BYTES &&
                             o->off == offsetof(config_t, rcvbuf)))
        *(int *)p = (int)v;
    else
        *(int64_t *)p = v;
    return 0;
}

static const opt_t *find(const char *name)
{
    for (int i = 0; i < NOPTS; i++)
        if (strcmp(opts[i].name, name) == 0)
            return &opts[i];
    return NULL;
}

/* ---- the config file ------------------------------------------------------
 *
 * One setting per line, "name = value" (the syntax is in docs/CONFIG.md):
 *   - blank lines and lines starting with '#' are comments;
 *   - a name is a long option name, '-' and '_' alike;
 *   - a value is the rest of the line, blanks around it removed; in it a
 *     '#' after a blank starts a comment, any other '#' is data;
 *   - "double quotes" keep everything, with \\ \" \n \t escapes;
 *     'single quotes' keep everything, no escapes; after the closing
 *     quote only blanks and a comment may follow.
 * Every error names the file and the line. */

#define CONFIG_MAX (1 << 20)

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* The option table's entry for a name as written in a config file: '_'
 * stands for '-'. */
static const opt_t *find_spelled(const char *name, size_t len)
{
    char canon[64];
    if (len == 0 || len >= sizeof(canon))
        return NULL;
    for (size_t i = 0; i < len; i++)
        canon[i] = name[i] == '_' ? '-' : name[i];
    canon[len] = 0;
    return find(canon);
}

/* The nearest option name to a misspelled one, or NULL. */
static const char *suggest(const char *name, size_t len)
{
    const char *best = NULL;
    int bestd = 3;          /* at most two edits away */
    for (int i = 0; i < NOPTS; i++) {
        if (strcmp(opts[i].name, "config") == 0)
            continue;
        int d = diag_distance(name, len, opts[i].name, strlen(opts[i].name));
        if (d < bestd) {
            bestd = d;
            best = opts[i].name;
        }
    }
    return best;
}

/* Parse the value at *p (blanks skipped) up to end e into out (owned by
 * the caller, freed by it). Returns NULL, or the error's text. */
static const char *parse_value(const char *p, const char *e, sbuf_t *out,
                               char *why, size_t wsize)
{
    while (p < e && is_blank(*p))
        p++;
    if (p < e && (*p == '"' || *p == '\'')) {
        char q = *p++;
        for (;;) {
            if (p == e) {
                snprintf(why, wsize, "unterminated %c quote", q);
                return why;
            }
            if (*p == q)
                break;
            if (q == '"' && *p == '\\') {
                char c = p + 1 < e ? p[1] : 0;
                const char *from = "\\\"nt", *to = "\\\"\n\t";
                const char *k = c ? strchr(from, c) : NULL;
                if (!k) {
                    snprintf(why, wsize, "unknown escape '\\%.1s' (use \\\\, "
                             "\\\", \\n or \\t)", c ? p + 1 : "");
                    return why;
                }
                sbuf_addc(out, to[k - from]);
                p += 2;
                continue;
            }
            sbuf_addc(out, *p++);
        }
        p++;                /* the closing quote */
        while (p < e && is_blank(*p))
            p++;
        if (p < e && *p != '#') {
            size_t n = 0;
            while (p + n < e && !is_blank(p[n]) && n < 40)
                n++;
            snprintf(why, wsize, "unexpected '%.*s' after the closing quote",
                     (int)n, p);
            return why;
        }
        return NULL;
    }
    const char *v = p;
    while (p < e && !(*p == '#' && (p == v || is_blank(p[-1]))))
        p++;
    while (p > v && is_blank(p[-1]))
        p--;
    sbuf_addn(out, v, (size_t)(p - v));
    return NULL;
}

/* Apply one line [p, e) of the config file. 0, or -1 with err set to
 * "PATH:LINE: what is wrong". */
static int read_line(config_t *c, const char *path, int lineno,
                     const char *p, const char *e, diag_t *err)
{
    char why[160];
    size_t len = (size_t)(e - p);
    if (len && p[len - 1] == '\r')
        len--;
    e = p + len;
    if (memchr(p, 0, len)) {
        diag_set(err, "%s:%d: a NUL byte", path, lineno);
        return -1;
    }
    while (p < e && is_blank(*p))
        p++;
    if (p == e || *p == '#')
        return 0;
    const char *name = p;
    while (p < e && !is_blank(*p) && *p != '=')
        p++;
    size_t nlen = (size_t)(p - name);
    while (p < e && is_blank(*p))
        p++;
    if (nlen == 0 || p == e || *p != '=') {
        diag_set(err, "%s:%d: expected 'name = value'", path, lineno);
        return -1;
    }
    const opt_t *o = find_spelled(name, nlen);
    if (!o || strcmp(o->name, "config") == 0) {
        const char *near = o ? NULL : suggest(name, nlen);
        diag_set(err, "%s:%d: unknown setting '%.*s'%s%s%s", path, lineno,
                 (int)(nlen > 64 ? 64 : nlen), name,
                 near ? " (did you mean '" : "", near ? near : "",
                 near ? "'?)" : "");
        return -1;
    }
    sbuf_t val = SBUF_INIT;
    const char *bad = parse_value(p + 1, e, &val, why, sizeof(why));
    if (bad) {
        diag_set(err, "%s:%d: %s", path, lineno, bad);
        sbuf_free(&val);
        return -1;
    }
    diag_t verr;
    diag_clear(&verr);
    int rc = set(c, o, sbuf_str(&val), &verr);
    if (rc < 0)
        diag_set(err, "%s:%d: %.400s", path, lineno, verr.msg);
    sbuf_free(&val);
    return rc;
}

/* Read the whole file (so no line is too long for a buffer), then apply
 * it line by line; the first error stops it. Opened with fopen, not as a
 * regular file only: the operator names it, and --config <(...) is a
 * pipe. */
static int read_file(config_t *c, const char *path, diag_t *err)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        diag_set(err, "cannot read config file %s: %s", path, strerror(errno));
        return -1;
    }
    sbuf_t text = SBUF_INIT;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0 && text.len <= CONFIG_MAX)
        sbuf_addn(&text, buf, n);
    int bad = ferror(f);
    fclose(f);
    if (bad || text.len > CONFIG_MAX) {
        diag_set(err, "cannot read config file %s: %s", path,
                 bad ? "read error" : "larger than 1 MB");
        sbuf_free(&text);
        return -1;
    }
    const char *p = sbuf_str(&text), *end = p + text.len;
    if (end - p >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
        p += 3;             /* a UTF-8 byte order mark */
    int rc = 0;
    for (int lineno = 1; p < end && rc == 0; lineno++) {
        const char *e = memchr(p, '\n', (size_t)(end - p));
        if (!e)
            e = end;
        rc = read_line(c, path, lineno, p, e, err);
        p = e + 1;
    }
    sbuf_free(&text);
    return rc;
}

/* --api-token-file: the token is the file's first line, without its
 * line end; an unreadable or empty file is an error, not an open API. */
static int read_token(config_t *c, diag_t *err)
{
    diag_t e;
    diag_clear(&e);
    char *t = file_read_regular(c->api_token_file, 4096, NULL, &e);
    if (!t) {
        diag_set(err, "--api-token-file: %s", e.msg);
        return -1;
    }
    t[strcspn(t, "\r\n")] = 0;
    if (!*t) {
        diag_set(err, "--api-token-file: %s: no token on its first line",
                 c->api_token_file);
        free(t);
        return -1;
    }
    free(c->api_token);
    c->api_token = t;
    return 0;
}

const char config_about[] =
    "flowsql's daemon: collects IPFIX and NetFlow, runs the registered "
    "queries,\nstores their windows and serves the REST API. Every option "
    "can also be set\nin a config file as 'name = value'.\n";

int config_option(int i, config_opt_info_t *o)
{
    if (i < 0 || i >= NOPTS)
        return 0;
    const opt_t *t = &opts[i];
    *o = (config_opt_info_t){
        .name = t->name, .def = t->def, .help = t->help,
        .arg = t->type == O_STR ? "TEXT" : t->type == O_MS ? "DURATION"
             : t->type == O_BYTES ? "SIZE" : "N"};
    return 1;
}

void config_usage(FILE *f)
{
    fprintf(f, "usage: flowsqld [options]\n\n%s\n", config_about);
    config_opt_info_t o;
    for (int i = 0; config_option(i, &o); i++) {
        char head[64];
        snprintf(head, sizeof(head), "--%s=%s", o.name, o.arg);
        fprintf(f, "  %-28s %s", head, o.help);
        if (*o.def)
            fprintf(f, " [%s]", o.def);
        fputc('\n', f);
    }
    fprintf(f, "  %-28s %s\n  %-28s %s\n", "--help", "this text", "--version",
            "print the version");
}

int config_load(config_t *c, int argc, char **argv, diag_t *err)
{
    memset(c, 0, sizeof(*c));
    diag_clear(err);
    for (int i = 0; i < NOPTS; i++)
        if (set(c, &opts[i], opts[i].def, err) < 0)
            return -1;
    const char *tok = getenv("FLOWSQL_API_TOKEN");
    if (tok && set(c, find("api-token"), tok, err) < 0)
        return -1;

    /* Each option, and its spelling with '_' (--netflow_port), as in the
     * config file. */
    struct option lo[2 * NOPTS + 3];
    char alias[NOPTS][32];
    int nlo = 0;
    for (int i = 0; i < NOPTS; i++) {
        lo[nlo++] = (struct option){opts[i].name, required_argument, NULL,
                                    1000 + i};
        if (!strchr(opts[i].name, '-'))
            continue;
        snprintf(alias[i], sizeof(alias[i]), "%s", opts[i].name);
        for (char *q = alias[i]; *q; q++)
            if (*q == '-')
                *q = '_';
        lo[nlo++] = (struct option){alias[i], required_argument, NULL,
                                    1000 + i};
    }
    lo[nlo++] = (struct option){"help", no_argument, NULL, 'h'};
    lo[nlo++] = (struct option){"version", no_argument, NULL, 'V'};
    lo[nlo] = (struct option){NULL, 0, NULL, 0};

    /* Pass 1: find --config, so the file comes before the command line. */
    const char *cfile = getenv("FLOWSQL_CONFIG");
    opterr = 0;
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, "hV", lo, NULL)) != -1)
        if (ch == 1000 + (int)(find("config") - opts))
            cfile = optarg;
    if (cfile && *cfile) {
        if (read_file(c, cfile, err) < 0)
            return -1;
        set(c, find("config"), cfile, err);
    }
    /* Pass 2: the command line. */
    optind = 1;
    while ((ch = getopt_long(argc, argv, "hV", lo, NULL)) != -1) {
        if (ch == 'h') {
            config_usage(stdout);
            return 1;
        }
        if (ch == 'V') {
            printf("flowsqld %s\n", FLOWSQL_VERSION);
            return 1;
        }
        if (ch == '?' || ch == ':') {
            diag_set(err, "unknown or incomplete option '%s' (see --help)",
                     argv[optind - 1]);
            return -1;
        }
        if (set(c, &opts[ch - 1000], optarg, err) < 0)
            return -1;
    }
    if (optind < argc) {
        diag_set(err, "unexpected argument '%s' (see --help)", argv[optind]);
        return -1;
    }
    if (*c->api_token_file && read_token(c, err) < 0)
        return -1;
    return 0;
}

void config_free(config_t *c)
{
    for (int i = 0; i < NOPTS; i++)
        if (opts[i].type == O_STR) {
            char **p = (char **)((char *)c + opts[i].off);
            free(*p);
            *p = NULL;
        }
}

void config_dump(const config_t *c, FILE *f)
{
    for (int i = 0; i < NOPTS; i++) {
        const char *p = (const char *)c + opts[i].off;
        fprintf(f, "%s = ", opts[i].name);
        if (opts[i].type == O_STR) {
            const char *v = *(char *const *)p;
            int secret = strstr(opts[i].name, "token") ||
                         strstr(opts[i].name, "password") ||
                         strstr(opts[i].name, "api-key");
            fprintf(f, "%s\n", secret && *v ? "(set)" : v);
        } else if (opts[i].type == O_INT ||
                   (opts[i].type == O_BYTES &&
                    opts[i].off == offsetof(config_t, rcvbuf))) {
            fprintf(f, "%d\n", *(const int *)p);
        } else {
            fprintf(f, "%lld\n", (long long)*(const int64_t *)p);
        }
    }
}
