/*
 * sig.c - Ctrl-C and SIGTERM for the shell; see shell.h.
 *
 * A handler only sets a flag and writes one byte to a pipe: code that
 * waits (an HTTP request, a live view) polls the pipe's read end and so
 * wakes up at once. libedit catches the signals while it reads a line
 * and passes them on to these handlers after restoring the terminal.
 */
#include "shell/shell.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t interrupted, terminated;
static int held;
static int pipe_fd[2] = {-1, -1};

static void on_signal(int sig)
{
    int saved = errno;
    if (sig == SIGINT)
        interrupted = 1;
    else
        terminated = 1;
    if (pipe_fd[1] >= 0) {
        ssize_t n = write(pipe_fd[1], "x", 1);
        (void)n;    /* a full pipe already wakes the reader */
    }
    errno = saved;
}

void sig_init(void)
{
    if (pipe(pipe_fd) == 0) {
        for (int i = 0; i < 2; i++) {
            fcntl(pipe_fd[i], F_SETFL, fcntl(pipe_fd[i], F_GETFL) | O_NONBLOCK);
            fcntl(pipe_fd[i], F_SETFD, FD_CLOEXEC);
        }
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    /* No SA_RESTART: a blocking read of a script on stdin returns, so
     * Ctrl-C stops it. */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int sig_fd(void)
{
    return pipe_fd[0];
}

int sig_interrupted(void)
{
    return !held && (interrupted || terminated);
}

void sig_hold(int on)
{
    held = on;
}

int sig_held(void)
{
    return held;
}

int sig_terminated(void)
{
    return terminated;
}

void sig_clear(void)
{
    char buf[64];
    interrupted = 0;
    if (pipe_fd[0] >= 0)
        while (read(pipe_fd[0], buf, sizeof(buf)) > 0)
            ;
    /* A pending SIGTERM keeps the pipe readable. */
    if (terminated && pipe_fd[1] >= 0) {
        ssize_t n = write(pipe_fd[1], "x", 1);
        (void)n;
    }
}
