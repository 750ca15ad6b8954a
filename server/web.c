/*
 * web.c - finding the web interface's embedded files; see web.h.
 */
#include "server/web.h"

#include <string.h>

int web_public(const char *url)
{
    return strcmp(url, "/") == 0 || strncmp(url, "/ui/", 4) == 0;
}

const web_asset_t *web_find(const char *name)
{
    for (size_t i = 0; i < web_nassets; i++)
        if (strcmp(web_assets[i].name, name) == 0)
            return &web_assets[i];
    return NULL;
}
