/*
 * help.c - \h: help on the query language, inside the shell.
 *
 * Statements and concepts are a table of texts below; fields and
 * functions come from the tables the parser itself checks against
 * (engine/schema.c, engine/func.c), so the help cannot drift from what
 * the engine accepts. docs/QUERY_LANGUAGE.md is the full reference.
 */
#include "shell/shell.h"
#include "engine/func.h"
#include "engine/schema.h"
#include "engine/types.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

typedef struct topic {
    const char *name;       /* what \h takes */
    const char *also;       /* another name, or NULL */
    const char *summary;    /* one line, for the list */
    const char *text;
} topic_t;

static const topic_t topics[] = {
    {"select", NULL, "a continuous query shown live, or a query over the archive",
     "SELECT expr [[AS] alias], ...\n"
     "  FROM flows [LAST d | SINCE 'time' [UNTIL 'time'] | BETWEEN 'time' AND 'time']\n"
     "  [WHERE condition]\n"
     "  [WINDOW size [SLIDE slide] [ON start | end | received] [LATENESS d]]\n"
     "  [GROUP BY expr, ...]\n"
     "  [HAVING condition]\n"
     "  [ORDER BY expr [ASC | DESC], ...]\n"
     "  [LIMIT n]\n"
     "\n"
     "In the shell, a SELECT over flows with a WINDOW runs live: it is\n"
     "registered as a temporary query and each window's rows are shown as\n"
     "the window closes, until Ctrl-C, which drops the query again.\n"
     "Windows only close when flows arrive.\n"
     "\n"
     "WHERE filters flows; GROUP BY makes one row per group and window;\n"
     "HAVING filters groups (it may use aggregates and aliases); ORDER BY\n"
     "and LIMIT apply within each window. Every row also carries\n"
     "window_start and window_end. SELECT * is not supported.\n"
     "\n"
     "Example:\n"
     "  SELECT srcip, count(*) AS flows, sum(bytes) AS bytes\n"
     "    FROM flows WINDOW 10s\n"
     "   GROUP BY srcip ORDER BY bytes DESC LIMIT 10;\n"
     "\n"
     "Without WINDOW a SELECT reads the archive of raw flows once: the\n"
     "flows received in its time range (LAST 1h, SINCE '2026-12-03 13:00',\n"
     "BETWEEN '...' AND '...'; times in UTC unless they say +01:00; none:\n"
     "every flow kept), rows as they are found, aggregates at the end:\n"
     "  SELECT srcip, sum(bytes) AS bytes FROM flows LAST 1h\n"
     "   GROUP BY srcip ORDER BY bytes DESC LIMIT 10;\n"
     "  SELECT start, srcip, dstip, dstport, bytes FROM flows\n"
     "   BETWEEN '2026-12-03 13:00' AND '2026-12-03 13:10'\n"
     "   WHERE srcip = 10.1.2.3 OR dstip = 10.1.2.3 ORDER BY start;\n"
     "EXPLAIN ANALYZE SELECT ... shows what it read and skipped.\n"
     "\n"
     "See also: \\h windows, \\h fields, \\h functions, \\h adhoc.\n"},
    {"create", "create query", "register a continuous query",
     "CREATE QUERY [IF NOT EXISTS] name\n"
     "  [WITH (option = value, ...)]\n"
     "  AS SELECT ... FROM flows WINDOW ...\n"
     "\n"
     "Registers a query that runs until dropped and survives restarts.\n"
     "Every closed window's rows are stored in a table named after the\n"
     "query (read it with SELECT ... FROM name) and sent to Kafka or\n"
     "Elasticsearch when configured. \\watch name follows it live.\n"
     "A name is 1 to 63 letters, digits and _, starting with a letter.\n"
     "\n"
     "Example:\n"
     "  CREATE QUERY top_talkers WITH (retention = '7d') AS\n"
     "  SELECT srcip, sum(bytes) AS bytes FROM flows WINDOW 1m\n"
     "   GROUP BY srcip ORDER BY bytes DESC LIMIT 10;\n"
     "\n"
     "See also: \\h options.\n"},
    {"drop", "drop query", "unregister a query",
     "DROP QUERY [IF EXISTS] name [KEEP DATA]\n"
     "\n"
     "Stops the query and deletes its stored windows; KEEP DATA keeps\n"
     "its table. IF EXISTS makes a missing query a notice, not an error.\n"},
    {"show", "show queries", "list the registered queries",
     "SHOW QUERIES\n"
     "\n"
     "One row per registered query: its name, where it came from (api,\n"
     "file, temporary), its state, and its counters: flows seen, windows\n"
     "and rows emitted, late flows, flows refused by the group cap or the\n"
     "memory budget, and the bytes of memory it holds now.\n"
     "\\d is the same; \\d name shows one query in full.\n"},
    {"explain", NULL, "the plan of a statement",
     "EXPLAIN statement\n"
     "\n"
     "Shows the operator pipeline the planner builds for a SELECT or\n"
     "CREATE QUERY (scan, filter, window, aggregate, having, project,\n"
     "order, limit, output), or what DROP / SHOW would do. Nothing is\n"
     "registered.\n"
     "\n"
     "Example:\n"
     "  EXPLAIN SELECT srcip, count(*) FROM flows WINDOW 10s GROUP BY srcip;\n"},
    {"adhoc", "stored", "SQL over the stored windows",
     "SELECT ... FROM query_name ...\n"
     "\n"
     "A SELECT whose FROM names anything but flows is SQLite's SQL, run\n"
     "read-only over the stored result tables: one table per registered\n"
     "query, with columns window_start, window_end and the query's\n"
     "columns. The server limits its time and rows. A table named flows\n"
     "there is the archive, to join stored rows with the flows behind\n"
     "them (times in ms, addresses as 16-byte blobs):\n"
     "  SELECT f.* FROM scan_vertical s JOIN flows f ON f.srcip = s.srcip\n"
     "   AND f.received >= s.window_start AND f.received < s.window_end;\n"
     "\n"
     "Example:\n"
     "  SELECT srcip, sum(bytes) FROM top_talkers\n"
     "   GROUP BY srcip ORDER BY 2 DESC LIMIT 5;\n"},
    {"windows", "window", "tumbling and hopping windows, flow time",
     "WINDOW size [SLIDE slide] [ON start | end | received] [LATENESS d]\n"
     "\n"
     "WINDOW 1m cuts time into back-to-back one-minute windows (tumbling).\n"
     "WINDOW 5m SLIDE 1m is five minutes long, a new one every minute\n"
     "(hopping); the slide divides the size, at most 1000 panes.\n"
     "Windows are aligned to multiples of the slide since 1970 UTC.\n"
     "\n"
     "By default a flow counts in the window of the time it was received\n"
     "(ON received): windows close on the wall clock, about a second\n"
     "after their end. ON end (or ON start) places flows by their own\n"
     "time; a window then closes when flows have moved past its end by\n"
     "LATENESS (60s unless given). Later flows are counted as late.\n"
     "\n"
     "Durations: 500ms, 10s, 5m, 1h, 2d (whole numbers, one unit).\n"},
    {"options", "with", "WITH options of CREATE QUERY",
     "CREATE QUERY name WITH (option = value, ...) AS SELECT ...\n"
     "\n"
     "  retention            a duration ('24h', 7d) or a number of windows:\n"
     "                       how much history is kept\n"
     "  max_groups           at most this many groups (rows) per window\n"
     "  kafka_topic          the Kafka topic its rows are published to\n"
     "  elasticsearch_index  the Elasticsearch index its rows go to\n"
     "  store                true or false: keep its rows in SQLite\n"
     "  description          free text\n"
     "  alert                'webhook:http(s)://...', 'syslog:udp://host:port'\n"
     "                       or 'syslog:tcp://host:port' (commas: several):\n"
     "                       each row of its windows goes there\n"
     "  alert_every          a duration: a key alerts once per this (10m)\n"
     "  alert_rate           'N/s', 'N/m' or 'N/h': alerts per query (60/m)\n"},
    {"literals", NULL, "numbers, strings, addresses, durations",
     "  integer    42, 0x1F, -7\n"
     "  float      1.5, 2.5e-3\n"
     "  string     'tcp', 'it''s' (a quote is doubled)\n"
     "  boolean    TRUE, FALSE\n"
     "  duration   500ms, 10s, 5m, 1h, 2d\n"
     "  address    192.0.2.1, 2001:db8::1\n"
     "  network    10.0.0.0/8, 2001:db8::/32 (after IN, or in ip_in())\n"
     "\n"
     "Strings compared with proto are protocol names (proto = 'udp'),\n"
     "with tcpflags flag letters or names (tcpflags = 'SA'), with a time\n"
     "ISO-8601 times ('2026-03-01 13:30'). \"Quoted names\" keep their case.\n"
     "Comments: -- to the end of the line, or /* ... */.\n"},
    {"operators", NULL, "operators and their precedence",
     "From the loosest to the tightest binding:\n"
     "\n"
     "  OR\n"
     "  AND\n"
     "  NOT\n"
     "  IN (list), IN network, NOT IN, BETWEEN a AND b, NOT BETWEEN\n"
     "  =  ==  !=  <>  <  <=  >  >=\n"
     "  |\n"
     "  &\n"
     "  +  -\n"
     "  *  /  %\n"
     "  -x  +x  ~x\n"
     "\n"
     "& and | bind tighter than comparisons: tcpflags & 4 != 0 means\n"
     "(tcpflags & 4) != 0. Integer division truncates; dividing by zero\n"
     "gives 0. CASE WHEN c THEN a [...] [ELSE b] END picks a value.\n"},
    {"fields", NULL, "the fields of a flow", NULL},
    {"functions", NULL, "functions and aggregates", NULL},
};
#define NTOPICS (int)(sizeof(topics) / sizeof(topics[0]))

const char *help_topic(int i)
{
    if (i < 0)
        return NULL;
    if (i < NTOPICS)
        return topics[i].name;
    i -= NTOPICS;
    if (i < F_COUNT)
        return schema_fields[i].name;
    i -= F_COUNT;
    if (i < FN_COUNT_)
        return func_table[i].name;
    return NULL;
}

/* "  name   text", the text wrapped at 79 columns under itself. */
static void entry(sbuf_t *b, const char *name, int namew, const char *text)
{
    int col = 2 + namew + 2, width = 79 - col;
    if ((int)strlen(name) > namew)
        sbuf_printf(b, "  %s\n%*s", name, col, "");
    else
        sbuf_printf(b, "  %-*s  ", namew, name);
    int used = 0;
    for (const char *p = text; *p;) {
        while (*p == ' ')
            p++;
        int n = (int)strcspn(p, " ");
        if (!n)
            break;
        if (used && used + 1 + n > width) {
            sbuf_printf(b, "\n%*s", col, "");
            used = 0;
        }
        if (used) {
            sbuf_addc(b, ' ');
            used++;
        }
        sbuf_addn(b, p, (size_t)n);
        used += n;
        p += n;
    }
    sbuf_addc(b, '\n');
}

static void fields_text(sbuf_t *b)
{
    sbuf_add(b, "Fields of a flow (a field the exporter did not send is 0):\n\n");
    for (int i = 0; i < F_COUNT; i++) {
        if (!*schema_fields[i].name)  /* a free custom slot */
            continue;
        char name[48];
        snprintf(name, sizeof(name), "%-10s %s", schema_fields[i].name,
                 type_name(schema_fields[i].type));
        entry(b, name, 19, schema_fields[i].doc);
    }
}

static void functions_text(sbuf_t *b)
{
    for (int agg = 1; agg >= 0; agg--) {
        sbuf_add(b, agg ? "Aggregates (in the select list, HAVING and ORDER "
                          "BY):\n\n"
                        : "\nFunctions:\n\n");
        for (int i = 0; i < FN_COUNT_; i++)
            if (func_table[i].is_agg == agg)
                entry(b, func_table[i].synopsis, 25, func_table[i].doc);
    }
    sbuf_add(b, "\n\\h name shows one.\n");
}

static void overview(sbuf_t *b)
{
    sbuf_add(b, "Help on the flowsql query language: \\h topic\n\n");
    for (int i = 0; i < NTOPICS; i++)
        sbuf_printf(b, "  %-10s %s\n", topics[i].name, topics[i].summary);
    sbuf_add(b, "\nA field or function name shows its description "
                "(\\h srcip, \\h topk).\n\\? lists the shell's commands. "
                "The full reference is docs/QUERY_LANGUAGE.md.\n");
}

int help_show(shell_t *sh, const char *topic)
{
    sbuf_t b = SBUF_INIT;
    char t[64];
    size_t n = 0;
    /* lower case, blanks squeezed: "DROP  Query" -> "drop query" */
    for (const char *p = topic; *p && n + 1 < sizeof(t); p++) {
        if (isspace((unsigned char)*p)) {
            if (n && t[n - 1] != ' ')
                t[n++] = ' ';
        } else {
            t[n++] = (char)tolower((unsigned char)*p);
        }
    }
    while (n && t[n - 1] == ' ')
        n--;
    t[n] = 0;
    int found = 0;
    if (!*t) {
        overview(&b);
        found = 1;
    }
    for (int i = 0; !found && i < NTOPICS; i++) {
        if (strcmp(t, topics[i].name) != 0 &&
            !(topics[i].also && strcmp(t, topics[i].also) == 0))
            continue;
        found = 1;
        if (strcmp(t, "fields") == 0)
            fields_text(&b);
        else if (strcmp(t, "functions") == 0)
            functions_text(&b);
        else
            sbuf_add(&b, topics[i].text);
    }
    if (!found) {
        int f = schema_lookup(t, strlen(t));
        if (f >= 0) {
            sbuf_printf(&b, "%s (%s%s): %s\n", schema_fields[f].name,
                        type_name(schema_fields[f].type),
                        schema_fields[f].is_virtual ? ", computed" : "",
                        schema_fields[f].doc);
            found = 1;
        }
        /* "family" is a field and a function: show both */
        int fn = func_lookup(t);
        if (fn >= 0) {
            sbuf_printf(&b, "%s%s: %s\n", func_table[fn].synopsis,
                        func_table[fn].is_agg ? " (aggregate)" : "",
                        func_table[fn].doc);
            found = 1;
        }
    }
    if (!found) {
        /* a unique prefix of a topic */
        int hit = -1, hits = 0;
        for (int i = 0; i < NTOPICS; i++)
            if (strncmp(t, topics[i].name, strlen(t)) == 0) {
                hit = i;
                hits++;
            }
        if (hits == 1) {
            sbuf_free(&b);
            return help_show(sh, topics[hit].name);
        }
        sbuf_free(&b);
        sh_error(sh, "no help on '%s'; \\h lists the topics", topic);
        return SH_ERR;
    }
    if (sh->interactive)
        sbuf_addc(&b, '\n');
    out_emit(sh, sbuf_str(&b), b.len, 1);
    sbuf_free(&b);
    return SH_OK;
}
