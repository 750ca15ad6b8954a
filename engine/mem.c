/* mem.c - the engine's memory budget; see mem.h. */
#include "engine/mem.h"

#include <stdio.h>
#include <unistd.h>

gauge_t mem_used_bytes;
gauge_t mem_limit_bytes;

void mem_set_limit(int64_t bytes)
{
    gauge_set(&mem_limit_bytes, bytes > 0 ? bytes : 0);
}

/* A cgroup's memory limit (v2 memory.max, v1 memory.limit_in_bytes, as
 * seen from inside the container); 0 if none or unreadable. */
static int64_t cgroup_limit(void)
{
    static const char *const files[] = {
        "/sys/fs/cgroup/memory.max",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
    };
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        FILE *f = fopen(files[i], "re");
        if (!f)
            continue;
        long long v = 0;
        int ok = fscanf(f, "%lld", &v) == 1;   /* "max" reads as none */
        fclose(f);
        if (ok && v > 0)
            return v;
    }
    return 0;
}

int64_t mem_default_limit(double frac)
{
    long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGE_SIZE);
    if (pages <= 0 || psize <= 0)
        return 0;
    int64_t ram = (int64_t)pages * psize, cg = cgroup_limit();
    if (cg > 0 && cg < ram)     /* v1 says "no limit" with a huge number */
        ram = cg;
    return (int64_t)((double)ram * frac);
}
