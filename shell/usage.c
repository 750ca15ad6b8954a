/*
 * usage.c - the --help texts of flowsql and of its subcommands, in one
 * place: the programs print them, and the man page generator
 * (dist/mkdoc.c) turns the same texts into flowsql(1), so the two never
 * disagree.
 *
 * The texts keep a fixed shape the generator reads: "usage:" lines (and
 * lines indented under them) are the synopsis, a line starting with
 * "  -" is an option (its text after a run of two or more blanks), a
 * line indented deeper continues it, other lines are paragraphs.
 */
#include "shell/shell.h"

#include <string.h>

static const struct usage {
    const char *cmd;      /* NULL: flowsql itself */
    const char *text;
} usages[] = {
    {NULL,
"usage: flowsql [options] [URL]\n"
"       flowsql replay --to HOST:PORT [--speed N|max] [SELECTION...]\n"
"       flowsql history QUERY --from TIME --until TIME\n"
"       flowsql export -o FILE [SELECTION...]\n"
"\n"
"The interactive client of flowsqld. Statements end with ';'; \\? lists\n"
"the commands, \\h helps with the query language.\n"
"\n"
"  -u, --url=URL       flowsqld's REST API [$FLOWSQL_URL or " DEFAULT_URL "]\n"
"  -t, --token=TOKEN   API token [$FLOWSQL_API_TOKEN]\n"
"  -T, --token-file=FILE  the API token from FILE's first line (not in\n"
"                      the process list) [$FLOWSQL_API_TOKEN_FILE]\n"
"  -c, --command=TEXT  run the statements or command in TEXT, then exit\n"
"  -f, --file=FILE     run the statements in FILE (- for stdin), then exit\n"
"                      (-c and -f may be repeated; they run in order and\n"
"                      stop at the first error)\n"
"  -F, --format=FMT    table, csv, json or parquet [table]; parquet\n"
"                      writes queries over the archive to the -o FILE\n"
"  -o, --output=FILE   write results to FILE (a FILE ending in .parquet\n"
"                      gets queries over the archive as Parquet)\n"
"  -w, --windows=N     live views stop after N windows [until Ctrl-C]\n"
"  -q, --quiet         no banner, no notices, no command tags\n"
"  -P, --no-pager      never page results\n"
"  -X, --no-rc         do not read ~/.flowsqlrc\n"
"  -h, --help          this text\n"
"  -V, --version       the version\n"
"\n"
"Without -c or -f, statements are read from the terminal, or from\n"
"standard input when it is not one. Exit status: 0 success, 1 a statement\n"
"failed, 2 no server (or bad options), 130 interrupted.\n"},
    {"replay",
"usage: flowsql replay --to HOST:PORT [options] [SELECTION...]\n"
"\n"
"Send the archived flows of SELECTION (what follows FROM flows in a query\n"
"over the archive: LAST 1h WHERE dstport = 445) as IPFIX to a collector,\n"
"at their original pace by received time, N times faster, or as fast as\n"
"possible. flowsqld sends them (to --replay-allow networks only).\n"
"\n"
"  --to HOST:PORT      the collector (192.0.2.1:4739, [2001:db8::1]:4739)\n"
"  --speed N|max       1: the original pace [1]; 10: ten times faster\n"
"  --tcp               IPFIX over TCP [UDP]\n"
"  --mtu BYTES         UDP message size [1400]\n"
"  --detach            start the job and print it, do not follow it\n"
"  -u, --url URL       flowsqld's REST API [$FLOWSQL_URL or " DEFAULT_URL "]\n"
"  -t, --token TOKEN   API token [$FLOWSQL_API_TOKEN]\n"
"  -q, --quiet         no progress\n"},
    {"history",
"usage: flowsql history QUERY --from TIME --until TIME [options]\n"
"\n"
"Run the registered query QUERY over the archived flows received in\n"
"[from, until) as if live; its windows go to a table of their own,\n"
"QUERY__history_<from> (or --table), marked 'history'.\n"
"\n"
"  --from TIME         '2026-12-03 13:00' (UTC), ISO-8601, or ms\n"
"  --until TIME        (excluded)\n"
"  --table NAME        the table to write [QUERY__history_YYYYMMDDHHMMSS]\n"
"  --detach            start the job and print it, do not follow it\n"
"  -u, --url URL       flowsqld's REST API [$FLOWSQL_URL or " DEFAULT_URL "]\n"
"  -t, --token TOKEN   API token [$FLOWSQL_API_TOKEN]\n"
"  -q, --quiet         no progress\n"},
    {"export",
"usage: flowsql export -o FILE [options] [SELECTION...]\n"
"\n"
"Write the archived flows of SELECTION (LAST 1h WHERE srcip = 10.1.2.3),\n"
"every stored field, to FILE as Parquet: times as TIMESTAMP(MILLIS, UTC),\n"
"addresses as text (--ip binary: 16 bytes, as the archive keeps them).\n"
"\n"
"  -o, --output FILE   the Parquet file to write\n"
"  --ip text|binary    addresses as text [text] or 16-byte binary\n"
"  -u, --url URL       flowsqld's REST API [$FLOWSQL_URL or " DEFAULT_URL "]\n"
"  -t, --token TOKEN   API token [$FLOWSQL_API_TOKEN]\n"
"  -q, --quiet         no summary\n"},
};

const char *shell_usage_text(const char *cmd)
{
    for (size_t i = 0; i < sizeof(usages) / sizeof(usages[0]); i++)
        if (cmd ? usages[i].cmd && strcmp(cmd, usages[i].cmd) == 0
                : !usages[i].cmd)
            return usages[i].text;
    return NULL;
}

void shell_usage(const char *cmd, FILE *f)
{
    const char *t = shell_usage_text(cmd);
    if (t)
        fputs(t, f);
}
