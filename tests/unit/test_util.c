/* test_util.c - util/: files named by someone else (regular files only,
 * no FIFO wait, no symlink, nothing beneath a directory escapes it) and
 * the shared counters. */
#include "tests/test.h"
#include "util/counter.h"
#include "util/file.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];

static const char *p(const char *name)
{
    static char buf[4][256];
    static int i;
    i = (i + 1) % 4;
    snprintf(buf[i], sizeof(buf[i]), "%s/%s", dir, name);
    return buf[i];
}

static void put(const char *name, const char *text)
{
    FILE *f = fopen(p(name), "w");
    fputs(text, f);
    fclose(f);
}

static void t_open_regular(void)
{
    diag_t err;
    put("a.sql", "SELECT 1");
    diag_clear(&err);
    char *s = file_read_regular(p("a.sql"), 100, NULL, &err);
    CHECK_STR(s, "SELECT 1");
    free(s);

    /* A FIFO is refused at once, not waited on. */
    CHECK(mkfifo(p("fifo.sql"), 0600) == 0);
    diag_clear(&err);
    CHECK(file_open_regular(p("fifo.sql"), &err) < 0);
    CHECK(strstr(err.msg, "not a regular file") != NULL);

    /* A symlink, even to a readable regular file, is refused. */
    CHECK(symlink(p("a.sql"), p("link.sql")) == 0);
    diag_clear(&err);
    CHECK(file_read_regular(p("link.sql"), 100, NULL, &err) == NULL);
    CHECK(strstr(err.msg, "symbolic link") != NULL);

    /* A directory and a device are not regular files. */
    diag_clear(&err);
    CHECK(file_open_regular(dir, &err) < 0);
    diag_clear(&err);
    CHECK(file_open_regular("/dev/zero", &err) < 0);
    CHECK(strstr(err.msg, "not a regular file") != NULL);

    /* Too large. */
    diag_clear(&err);
    CHECK(file_read_regular(p("a.sql"), 4, NULL, &err) == NULL);
    CHECK(strstr(err.msg, "larger than 4 bytes") != NULL);
}

static void t_open_beneath(void)
{
    diag_t err;
    mkdir(p("replay"), 0700);
    mkdir(p("replay/sub"), 0700);
    put("replay/sub/x.ipfix", "data");
    put("secret", "outside");
    int dfd = open(p("replay"), O_RDONLY | O_DIRECTORY);
    CHECK(dfd >= 0);

    diag_clear(&err);
    int fd = file_open_beneath(dfd, "replay", "sub/x.ipfix", &err);
    CHECK(fd >= 0);
    if (fd >= 0) {
        char *s = file_read_fd(fd, "x", 100, NULL, &err);
        CHECK_STR(s, "data");
        free(s);
        close(fd);
    }

    /* Everything that would leave the directory, or is not a regular
     * file, gets the same answer. */
    symlink("../secret", p("replay/up"));
    symlink(p("replay/sub"), p("replay/subl"));
    mkfifo(p("replay/fifo"), 0600);
    const char *bad[] = {"../secret", "/etc/passwd", "sub/../../secret",
                         "sub/../sub/x.ipfix", "up", "subl/x.ipfix", "fifo",
                         "sub", "missing", "", "/proc/self/fd/0", ".."};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        diag_clear(&err);
        fd = file_open_beneath(dfd, "replay", bad[i], &err);
        CHECK(fd < 0);
        if (fd >= 0)
            close(fd);
        char want[300];
        snprintf(want, sizeof(want), "%s: no such file in replay", bad[i]);
        CHECK_STR(err.msg, want);
    }
    close(dfd);
}

static counter_t ctr;
static flag_t go;

static void *bump(void *arg)
{
    (void)arg;
    while (!flag_get(&go))
        ;
    for (int i = 0; i < 100000; i++)
        ctr_inc(&ctr);
    return NULL;
}

static void t_counters(void)
{
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, bump, NULL);
    flag_set(&go, 1);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    CHECK_INT(ctr_get(&ctr), 200000);
    gauge_t g = 5;
    gauge_max(&g, 3);
    CHECK_INT(gauge_get(&g), 5);
    gauge_max(&g, 9);
    CHECK_INT(gauge_get(&g), 9);
}

int main(void)
{
    snprintf(dir, sizeof(dir), "/tmp/flowsql-util.XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    RUN(t_open_regular);
    RUN(t_open_beneath);
    RUN(t_counters);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        return 1;
    TEST_EXIT();
}
