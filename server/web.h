/*
 * web.h - the web interface's files (web/), embedded in flowsqld.
 *
 * web/embed.sh turns every file of web/ into $(B)/gen/webassets.c at
 * build time: the table web_assets[], one row per file, named by its
 * base name (the URL /ui/NAME; index.html is also /). Nothing is read
 * from the file system when a page is served, so a URL can only name
 * one of these rows. docs/WEB.md says why and what the pages do.
 */
#ifndef FLOWSQL_WEB_H
#define FLOWSQL_WEB_H

#include <stddef.h>

typedef struct web_asset {
    const char          *name;   /* "app.js" */
    const char          *type;   /* Content-Type */
    const unsigned char *data;
    size_t               len;
    const char          *etag;   /* quoted: "\"crc-size\"" */
} web_asset_t;

extern const web_asset_t web_assets[];
extern const size_t      web_nassets;

/* The file of that base name ("app.js"; the URL / is "index.html"), or
 * NULL. */
const web_asset_t *web_find(const char *name);

/* Is url served without the API token? "/" and everything under "/ui/":
 * the files hold no data; every request for data goes to /api/v1 with
 * the token (docs/WEB.md, "The token"). */
int web_public(const char *url);

#endif
