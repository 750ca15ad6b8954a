/*
 * cover.c - which edges each input reaches, for tests/fuzz/minimize.py.
 *
 * Link with the fuzz target compiled with
 * -fsanitize-coverage=trace-pc-guard (and without -fsanitize=fuzzer):
 *
 *     clang -fsanitize-coverage=trace-pc-guard ... -o cover \
 *         tests/fuzz/cover.c tests/fuzz/fuzz_parser.c SOURCES...
 *
 * Reads file names on stdin, runs each through LLVMFuzzerTestOneInput()
 * and prints "name edge edge ..." per file.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
void __sanitizer_cov_trace_pc_guard_init(uint32_t *start, uint32_t *stop);
void __sanitizer_cov_trace_pc_guard(uint32_t *guard);

static uint32_t nguards;
static unsigned char *hit;

void __sanitizer_cov_trace_pc_guard_init(uint32_t *start, uint32_t *stop)
{
    if (start == stop || *start)
        return;
    for (uint32_t *x = start; x < stop; x++)
        *x = ++nguards;
    free(hit);
    hit = calloc(nguards + 1, 1);
}

void __sanitizer_cov_trace_pc_guard(uint32_t *guard)
{
    if (*guard && hit)
        hit[*guard] = 1;
}

int main(void)
{
    static char buf[1 << 20];
    char path[4096];
    while (fgets(path, sizeof(path), stdin)) {
        path[strcspn(path, "\n")] = 0;
        FILE *f = fopen(path, "rb");
        if (!f)
            continue;
        size_t n = fread(buf, 1, sizeof(buf), f);
        fclose(f);
        memset(hit, 0, nguards + 1);
        LLVMFuzzerTestOneInput((const uint8_t *)buf, n);
        printf("%s", path);
        for (uint32_t i = 1; i <= nguards; i++)
            if (hit[i])
                printf(" %u", i);
        printf("\n");
    }
    return 0;
}
