/*
 * file.h - opening files named by someone else (REST bodies, a directory
 * of saved queries) without being fooled by what the name points at.
 *
 * A name given by a client may be a FIFO (open() would block forever), a
 * device, a symlink to /etc/shadow, or "../" out of the directory it was
 * meant to stay in. These functions open regular files only, never
 * block, never follow a symlink, and say nothing about the file system
 * beyond the name they were given.
 */
#ifndef FLOWSQL_FILE_H
#define FLOWSQL_FILE_H

#include <stddef.h>

#include "util/diag.h"

/* Open path read-only if it is a regular file: O_NOFOLLOW (a symlink as
 * the last component is refused), O_NONBLOCK (a FIFO is refused, not
 * waited on), O_CLOEXEC. Returns the fd (blocking mode restored) or -1
 * with err set to "PATH: not a regular file" / "PATH: strerror". */
int file_open_regular(const char *path, diag_t *err);

/* Open rel, a path relative to the directory dirfd, under the same rules,
 * and only if it resolves beneath dirfd with no symlink and no ".."
 * anywhere on the way (openat2 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS, or
 * a component-by-component walk on kernels without it). Absolute paths
 * are refused. Every refusal gives the same message, "REL: no such file
 * in DIRNAME", so a caller learns nothing about what lies outside. */
int file_open_beneath(int dirfd, const char *dirname, const char *rel,
                      diag_t *err);

/* Read all of fd (at most max bytes) into a malloc'ed NUL-terminated
 * buffer; *len (if not NULL) gets its length. NULL if larger than max
 * (err says so) or on a read error. Does not close fd. */
char *file_read_fd(int fd, const char *name, size_t max, size_t *len,
                   diag_t *err);

/* file_open_regular + file_read_fd + close. */
char *file_read_regular(const char *path, size_t max, size_t *len,
                        diag_t *err);

#endif
