/*
 * file.c - opening files named by someone else; see file.h.
 */
#include "util/file.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util/arena.h"

/* fd must be a regular file; then clear O_NONBLOCK for the reader. */
static int keep_regular(int fd, const char *name, diag_t *err)
{
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        diag_set(err, "%s: not a regular file", name);
        close(fd);
        return -1;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    return fd;
}

int file_open_regular(const char *path, diag_t *err)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC |
                            O_NOCTTY);
    if (fd < 0) {
        if (errno == ELOOP)
            diag_set(err, "%s: not a regular file (a symbolic link)", path);
        else
            diag_set(err, "%s: %s", path, strerror(errno));
        return -1;
    }
    return keep_regular(fd, path, err);
}

/* Without openat2: walk rel one component at a time with O_NOFOLLOW,
 * refusing "..", "." is harmless. */
static int walk_beneath(int dirfd, const char *rel)
{
    char *copy = xstrdup(rel);
    int cur = dirfd, fd = -1;
    char *save = NULL;
    char *part = strtok_r(copy, "/", &save);
    while (part) {
        char *next = strtok_r(NULL, "/", &save);
        if (strcmp(part, "..") == 0)
            break;
        int fl = O_NOFOLLOW | O_CLOEXEC | O_NOCTTY |
                 (next ? O_PATH | O_DIRECTORY : O_RDONLY | O_NONBLOCK);
        int nfd = openat(cur, part, fl);
        if (cur != dirfd)
            close(cur);
        cur = dirfd;
        if (nfd < 0)
            break;
        if (!next) {
            fd = nfd;
            break;
        }
        cur = nfd;
        part = next;
    }
    if (cur != dirfd)
        close(cur);
    free(copy);
    return fd;
}

int file_open_beneath(int dirfd, const char *dirname, const char *rel,
                      diag_t *err)
{
    int fd = -1;
    if (rel[0] != '\0' && rel[0] != '/') {
        struct open_how how = {
            .flags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC |
                     O_NOCTTY,
            .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
                       RESOLVE_NO_MAGICLINKS,
        };
        fd = (int)syscall(SYS_openat2, dirfd, rel, &how, sizeof(how));
        if (fd < 0 && (errno == ENOSYS || errno == EPERM))
            fd = walk_beneath(dirfd, rel);
        /* openat2 refuses ".." only when it would leave dirfd: refuse it
         * everywhere, as the walk does, so both behave alike. */
        if (fd >= 0 && (strcmp(rel, "..") == 0 || strncmp(rel, "../", 3) == 0 ||
                        strstr(rel, "/../") ||
                        (strlen(rel) >= 3 &&
                         strcmp(rel + strlen(rel) - 3, "/..") == 0))) {
            close(fd);
            fd = -1;
        }
    }
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0)
            close(fd);
        diag_set(err, "%s: no such file in %s", rel, dirname);
        return -1;
    }
    return keep_regular(fd, rel, err);
}

char *file_read_fd(int fd, const char *name, size_t max, size_t *len,
                   diag_t *err)
{
    size_t cap = 4096, n = 0;
    char *buf = xmalloc(cap + 1);
    for (;;) {
        if (n == cap) {
            if (cap > max) {
                free(buf);
                diag_set(err, "%s: larger than %zu bytes", name, max);
                return NULL;
            }
            cap *= 2;
            buf = xrealloc(buf, cap + 1);
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            diag_set(err, "%s: %s", name, strerror(errno));
            free(buf);
            return NULL;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    if (n > max) {
        free(buf);
        diag_set(err, "%s: larger than %zu bytes", name, max);
        return NULL;
    }
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

char *file_read_regular(const char *path, size_t max, size_t *len,
                        diag_t *err)
{
    int fd = file_open_regular(path, err);
    if (fd < 0)
        return NULL;
    char *s = file_read_fd(fd, path, max, len, err);
    close(fd);
    return s;
}
