/* test_config.c - server/config.c: the config file's syntax (quotes,
 * escapes, comments, '-' and '_'), its errors with a line number, and
 * the order defaults < file < command line. */
#include "server/config.h"
#include "tests/test.h"

#include <stdlib.h>
#include <unistd.h>

static char path[64];

/* Load a config file holding text, with argv after it; returns
 * config_load's result, err holds the message. */
static int load(config_t *c, const char *text, diag_t *err, int extra,
                char **more)
{
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    char *argv[8] = {"flowsqld", "--config", path};
    int argc = 3;
    for (int i = 0; i < extra; i++)
        argv[argc++] = more[i];
    return config_load(c, argc, argv, err);
}

static void t_quotes_and_comments(void)
{
    config_t c;
    diag_t err;
    CHECK_INT(load(&c,
                   "# a comment line\n"
                   "   # an indented one\n"
                   "\n"
                   "api-token = \"ab#cd\"   # '#' inside quotes is data\n"
                   "es-user = ab#cd\n"
                   "es-password = 'x \"y\" #z'\n"
                   "es-api-key = \"a\\\"b\\\\c\\td\"\n"
                   "kafka-topic = flows # a comment after a value\n"
                   "es-ca =\n"
                   "es-index = \"\"\r\n",
                   &err, 0, NULL), 0);
    CHECK_STR(c.api_token, "ab#cd");
    CHECK_STR(c.es_user, "ab#cd");         /* '#' not after a blank */
    CHECK_STR(c.es_password, "x \"y\" #z"); /* single quotes: no escapes */
    CHECK_STR(c.es_api_key, "a\"b\\c\td");
    CHECK_STR(c.kafka_topic, "flows");
    CHECK_STR(c.es_ca, "");
    CHECK_STR(c.es_index, "");              /* CRLF line end */
    config_free(&c);
}

static void t_both_spellings(void)
{
    config_t c;
    diag_t err;
    CHECK_INT(load(&c, "netflow_port = 9995\nipfix-port = 9996\n"
                       "max_sse_clients=3\n", &err, 0, NULL), 0);
    CHECK_INT(c.netflow_port, 9995);
    CHECK_INT(c.ipfix_port, 9996);
    CHECK_INT(c.max_sse_clients, 3);
    config_free(&c);
    /* and on the command line */
    char *more[] = {"--max_sse_clients", "5", "--netflow-port=6"};
    CHECK_INT(load(&c, "", &err, 3, more), 0);
    CHECK_INT(c.max_sse_clients, 5);
    CHECK_INT(c.netflow_port, 6);
    config_free(&c);
}

static void t_command_line_wins(void)
{
    config_t c;
    diag_t err;
    char *more[] = {"--netflow-port", "7"};
    CHECK_INT(load(&c, "netflow_port = 9995\n", &err, 2, more), 0);
    CHECK_INT(c.netflow_port, 7);
    config_free(&c);
}

static void t_long_line(void)
{
    /* A value longer than any line buffer is read whole. */
    size_t n = 10000;
    char *text = malloc(2 * n);
    char *p = text + sprintf(text, "network-sets = big=");
    for (size_t i = 0; i < n / 12; i++)
        p += sprintf(p, "10.%zu.0.0/16,", i % 250);
    sprintf(p, "10.0.0.0/8\nmonitored = 10.0.0.0/8\n");
    config_t c;
    diag_t err;
    CHECK_INT(load(&c, text, &err, 0, NULL), 0);
    CHECK(strlen(c.network_sets) > 9000);
    CHECK_STR(c.monitored, "10.0.0.0/8");
    config_free(&c);
    free(text);
}

static void expect_error(const char *text, const char *want)
{
    config_t c;
    diag_t err;
    char full[600];
    CHECK_INT(load(&c, text, &err, 0, NULL), -1);
    snprintf(full, sizeof(full), "%s:%s", path, want);
    CHECK_STR(err.msg, full);
    config_free(&c);
}

static void t_errors(void)
{
    expect_error("http = off\n\nnetflw-port = 1\n",
                 "3: unknown setting 'netflw-port' (did you mean "
                 "'netflow-port'?)");
    expect_error("bogus = 1\n", "1: unknown setting 'bogus'");
    expect_error("config = other.conf\n", "1: unknown setting 'config'");
    expect_error("api-token = \"abc\n", "1: unterminated \" quote");
    expect_error("api-token = 'abc\n", "1: unterminated ' quote");
    expect_error("api-token = \"abc\" def\n",
                 "1: unexpected 'def' after the closing quote");
    expect_error("api-token = \"a\\qb\"\n",
                 "1: unknown escape '\\q' (use \\\\, \\\", \\n or \\t)");
    expect_error("http off\n", "1: expected 'name = value'");
    expect_error(" = 5\n", "1: expected 'name = value'");
    expect_error("ipfix_port = \"12x\"\n",
                 "1: --ipfix-port: '12x' is not a valid number");
}

static void t_nul_byte(void)
{
    /* A NUL byte inside a line is an error, not the end of the file. */
    FILE *f = fopen(path, "w");
    fwrite("http = off\nes-user = a\0b\n", 1, 25, f);
    fclose(f);
    config_t c;
    diag_t err;
    char *argv[] = {"flowsqld", "--config", path};
    CHECK_INT(config_load(&c, 3, argv, &err), -1);
    char want[200];
    snprintf(want, sizeof(want), "%s:2: a NUL byte", path);
    CHECK_STR(err.msg, want);
    config_free(&c);
}

int main(void)
{
    snprintf(path, sizeof(path), "/tmp/flowsql-config.%d.conf", (int)getpid());
    RUN(t_quotes_and_comments);
    RUN(t_both_spellings);
    RUN(t_command_line_wins);
    RUN(t_long_line);
    RUN(t_errors);
    RUN(t_nul_byte);
    unlink(path);
    TEST_EXIT();
}
