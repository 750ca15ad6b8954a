/*
 * test_openapi.c - every route the server has is in docs/openapi.yaml,
 * with its method, and every path and method in the file is a route.
 */
#include "server/http.h"
#include "tests/test.h"

#include <ctype.h>
#include <stdlib.h>
#include <strings.h>

typedef struct op {
    char path[128], method[16];
    int  seen;
} op_t;

static op_t ops[64];
static int nops;

/* Read paths (two-space indent, ending in ':') and their methods (four
 * spaces). Enough YAML for our own file's layout. */
static int load(const char *file)
{
    FILE *f = fopen(file, "r");
    if (!f)
        return -1;
    char line[512], path[128] = "";
    int in_paths = 0;
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "paths:", 6) == 0) {
            in_paths = 1;
            continue;
        }
        if (!in_paths)
            continue;
        if (line[0] != ' ' && line[0] != '\n')
            break;
        if (strncmp(line, "  /", 3) == 0) {
            char *colon = strrchr(line, ':');
            *colon = 0;
            snprintf(path, sizeof(path), "%.120s", line + 2);
        } else if (strncmp(line, "    ", 4) == 0 && line[4] != ' ' && *path) {
            static const char *m[] = {"get", "post", "put", "delete", "patch", "head"};
            for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
                size_t n = strlen(m[i]);
                if (strncmp(line + 4, m[i], n) == 0 && line[4 + n] == ':') {
                    op_t *o = &ops[nops++];
                    memcpy(o->path, path, sizeof(o->path));
                    for (size_t k = 0; k <= n; k++)
                        o->method[k] = (char)toupper((unsigned char)m[i][k]);
                }
            }
        }
    }
    fclose(f);
    return 0;
}

static void test_routes_match_spec(void)
{
    CHECK(load("docs/openapi.yaml") == 0);
    CHECK(nops > 5);
    const char *method, *pattern;
    for (int i = 0; http_route(i, &method, &pattern) == 0; i++) {
        int found = 0;
        for (int k = 0; k < nops; k++)
            if (strcmp(ops[k].path, pattern) == 0 &&
                strcmp(ops[k].method, method) == 0) {
                ops[k].seen = 1;
                found = 1;
            }
        if (!found) {
            fprintf(stderr, "route %s %s is not in docs/openapi.yaml\n",
                    method, pattern);
            CHECK(found);
        }
    }
    for (int k = 0; k < nops; k++)
        if (!ops[k].seen) {
            fprintf(stderr, "docs/openapi.yaml has %s %s, the server does "
                    "not\n", ops[k].method, ops[k].path);
            CHECK(ops[k].seen);
        }
}

int main(void)
{
    RUN(test_routes_match_spec);
    TEST_EXIT();
}
