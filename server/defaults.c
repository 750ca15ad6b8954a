/*
 * defaults.c - the defaults of flowsqld that depend on where it runs
 * from: the data directory and the saved query directory.
 *
 * libflowsql.a holds this file built as is: a checkout's flowsqld keeps
 * its data in ./data and reads ./queries, as `make run` always did. `make
 * install` builds it a second time with FLOWSQL_DATA_DIR and
 * FLOWSQL_QUERIES_DIR set (/var/lib/flowsql, /etc/flowsql/queries) and
 * links that object before the library, so the installed flowsqld, its
 * --help, its man page and its sample config say the installed paths.
 */
#include "server/config.h"

#ifndef FLOWSQL_DATA_DIR
#define FLOWSQL_DATA_DIR "./data"
#endif
#ifndef FLOWSQL_QUERIES_DIR
#define FLOWSQL_QUERIES_DIR "./queries"
#endif

const char config_default_data_dir[] = FLOWSQL_DATA_DIR;
const char config_default_queries_dir[] = FLOWSQL_QUERIES_DIR;
