/*
 * config.h - flowsqld's settings: one table of options, read from the
 * defaults, then a config file, then the command line (later wins).
 *
 * The config file is plain "name = value" lines, the names being the long
 * option names, '-' or '_' ("http = 127.0.0.1:8080"); values may be
 * quoted, '#' after a blank starts a comment. docs/CONFIG.md has the
 * rules; every error names the file and the line.
 */
#ifndef FLOWSQL_CONFIG_H
#define FLOWSQL_CONFIG_H

#include <stdint.h>
#include <stdio.h>

#include "util/diag.h"

typedef struct config {
    /* collection */
    char    *listen;          /* address the collectors bind */
    int      ipfix_port;      /* IPFIX over UDP and TCP; 0: off */
    int      netflow_port;    /* NetFlow v9/v5 over UDP; 0: off */
    int      sflow_port;      /* sFlow v5 over UDP; 0: off */
    char    *ipfix_fast;      /* "on" / "off": ingest_set_ipfix_fast */
    int      rcvbuf;          /* socket receive buffer, bytes */
    int      tcp_conns;       /* IPFIX/TCP connections at most */
    int      tcp_per_source;  /* of them from one address */
    int64_t  tcp_silent_ms;   /* close a connection with no message by then */
    char    *read_file;       /* run the queries over an IPFIX file, exit */
    char    *pcap_dir;        /* watched directory of captures; "" off */
    char    *pcap_done;       /* their done directory, or "delete" */
    int64_t  pcap_quiet_ms;   /* quiet directory: clock follows the wall */
    char    *pcap_if;         /* live capture interface; "" off */
    char    *pcap_filter;     /* its BPF filter */
    /* the flow meter of packet captures (ingest/meter.h) */
    int      pcap_active_s;   /* active timeout; 0: none */
    int      pcap_idle_s;     /* idle timeout; 0: none */
    char    *pcap_timeouts;   /* softflowd-style per-protocol timeouts */
    char    *pcap_biflow;     /* "on" (a conversation is one entry) / "off" */
    int64_t  pcap_max_flows;  /* flow table bound */
    /* interfaces */
    char    *http;            /* REST API address:port; "off" to disable */
    char    *api_token;       /* bearer token; env FLOWSQL_API_TOKEN */
    char    *api_token_file;  /* or the first line of this file */
    char    *health_open;     /* "on": GET /healthz needs no token */
    int64_t  max_body;        /* largest request body, bytes */
    int64_t  http_request_timeout_ms; /* to receive a whole request */
    int64_t  http_stall_timeout_ms;   /* a client taking nothing */
    int      max_sse_clients;
    int64_t  sse_queue_bytes; /* windows held for one stream client */
    int64_t  temp_idle_ms;    /* temporary queries without a client */
    char    *replay_dir;      /* replay reads files under it; "" off */
    int64_t  replay_timeout_ms;
    /* queries */
    char    *data_dir;
    char    *queries_dir;
    int      max_queries;
    int64_t  queue_flows;     /* ingest -> engine buffer, in flows */
    int64_t  max_groups;      /* default per-query cap on groups per window */
    int64_t  max_memory;      /* memory budget of all queries, bytes; 0: none */
    int64_t  close_delay_ms;
    char    *monitored;       /* the "monitored" network set */
    char    *network_sets;    /* more sets: name=cidr,cidr;name2=... */
    /* storage */
    int64_t  max_db_bytes;    /* 0: no cap */
    char    *retention;       /* default retention */
    int64_t  adhoc_timeout_ms;
    int64_t  adhoc_max_rows;
    int      adhoc_concurrency;  /* ad hoc queries running at once */
    int64_t  adhoc_bytes;     /* largest ad hoc or replay answer, bytes */
    /* the raw-flow archive (docs/ARCHIVE.md) */
    char    *archive;         /* "on" or "off" */
    int64_t  archive_period_ms;
    int64_t  archive_flush_ms;
    int64_t  archive_retention_ms;  /* 0: forever */
    char    *archive_max_size;      /* a size or a share of the fs */
    int64_t  archive_rg_flows;
    int64_t  archive_queue_flows;
    char    *archive_zstd_level;    /* ZSTD level of the archive's pages */
    int64_t  archive_page_rows;     /* flows a page of the archive */
    int64_t  archive_query_timeout_ms; /* a query over the archive */
    /* replay, history and export (docs/ARCHIVE.md) */
    char    *replay_allow;    /* networks IPFIX replays may be sent to */
    char    *renormalize;     /* "on" or "off": scale sampled counters */
    char    *share_aggregation; /* "on" or "off": engine_config_t.share */
    char    *engine_threads;  /* "auto" or 1..64: engine_config_t.threads */
    char    *sampling_rate;   /* configured rates: CIDR=N,... */
    int64_t  job_timeout_ms;  /* a background job (history, replay) */
    int64_t  export_max_rows; /* a Parquet answer's row limit; 0: none */
    /* enrichment and anonymization (docs/ENRICHMENT.md) */
    char    *geoip_db, *asn_db;
    char    *network_names, *exporter_names, *interface_names;
    char    *ipfix_elements;  /* custom IPFIX elements (engine/xfield.h) */
    int64_t  string_table_max;/* distinct interned strings; 0: no bound */
    char    *anonymize;       /* off, cryptopan, truncate */
    char    *anonymize_key;
    char    *anonymize_truncate;  /* "v4bits,v6bits" */
    char    *anonymize_scope; /* all, or store,kafka,es,archive,api */
    /* outputs */
    char    *kafka_brokers;   /* empty: no Kafka output */
    char    *kafka_topic;     /* default topic pattern, %q = query name */
    char    *kafka_props;     /* extra librdkafka properties: k=v,k=v */
    char    *kafka_format;    /* "flat" or "ecs" */
    char    *es_url;          /* empty: no Elasticsearch output */
    char    *es_index;        /* default index pattern */
    char    *es_user, *es_password, *es_api_key, *es_ca;
    char    *es_format;       /* "flat" or "ecs" */
    char    *kafka_input;     /* brokers:topic of IPFIXCol JSON flows */
    char    *flows_topic;     /* collector role: publish flows (SCALE_OUT) */
    char    *flows_key;       /* its partition key column */
    char    *flows_partitions;/* "auto" or a count */
    int64_t  flows_marker_ms; /* watermark markers every ... */
    char    *worker;          /* "on": the worker role (SCALE_OUT) */
    char    *worker_group;
    char    *partials_topic;
    char    *merge;           /* "on": the merge stage */
    char    *merge_group;
    char    *instance_name;   /* in ES document ids; "" host/pid */
    /* misc */
    char    *log_level;
    char    *config_file;
} config_t;

/* The defaults of --data-dir and --queries-dir: ./data and ./queries in
 * a checkout, the installed paths in `make install`'s flowsqld
 * (server/defaults.c). */
extern const char config_default_data_dir[];
extern const char config_default_queries_dir[];

/* Defaults, then FLOWSQL_* environment where documented, then the config
 * file (--config or the FLOWSQL_CONFIG environment variable), then the
 * command line. Returns 0, 1 when --help or --version was printed, -1
 * with err set on a bad option or value. */
int  config_load(config_t *c, int argc, char **argv, diag_t *err);
void config_free(config_t *c);
void config_usage(FILE *f);

/* One option of the table, as --help shows it: its name, the kind of its
 * value (TEXT, N, SIZE, DURATION), its default ("" for none) and its
 * help. config_option fills *o with the i-th (from 0) and returns 1, or
 * returns 0 past the last. --help, the man page flowsqld(8) and the
 * sample config (dist/mkdoc.c) are all made from these, so they agree. */
typedef struct config_opt_info {
    const char *name, *arg, *def, *help;
} config_opt_info_t;
int config_option(int i, config_opt_info_t *o);
/* The paragraph --help and the man page open with. */
extern const char config_about[];
/* The effective settings, one "name = value" per line (tokens hidden). */
void config_dump(const config_t *c, FILE *f);

#endif
