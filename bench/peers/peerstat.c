/*
 * peerstat - the measuring hands of bench/peers/run.sh: what each tool
 * under test costs, read from the kernel the same way for every tool.
 *
 *   peerstat port            a port free on 127.0.0.1 for both UDP and TCP
 *   peerstat tree PID...     "cpu_s hwm_kb procs" of the processes and all
 *                            their descendants: user+system time of every
 *                            thread, plus that of children they reaped
 *                            (cutime+cstime: pmacct's cache writers), and
 *                            the sum of their peak resident sets (VmHWM)
 *   peerstat udp PORT        "rx_queue_bytes drops" of the UDP socket bound
 *                            to 127.0.0.1:PORT (or 0.0.0.0:PORT), from
 *                            /proc/net/udp; "- -" when there is none
 *   peerstat run OUT -- CMD  run CMD, then write "wall_s cpu_s maxrss_kb
 *                            status" to OUT (wait4's rusage: the command
 *                            and every descendant it waited for)
 *
 * Times come from /proc in clock ticks (10 ms) or from rusage (us); a
 * peak resident set summed over processes counts pages they share once
 * per process (pmacct's core and plugin share their pipe).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int usage(void)
{
    fprintf(stderr, "usage: peerstat port | tree PID... | udp PORT | "
                    "run OUT -- CMD [ARGS...]\n");
    return 2;
}

/* ---- port ------------------------------------------------------------------ */

static int cmd_port(void)
{
    for (int attempt = 0; attempt < 50; attempt++) {
        int t = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET,
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t al = sizeof(a);
        if (t < 0 || bind(t, (struct sockaddr *)&a, sizeof(a)) < 0 ||
            getsockname(t, (struct sockaddr *)&a, &al) < 0) {
            perror("peerstat: tcp");
            return 1;
        }
        int u = socket(AF_INET, SOCK_DGRAM, 0);
        int ok = u >= 0 && bind(u, (struct sockaddr *)&a, sizeof(a)) == 0;
        close(u);
        close(t);
        if (ok) {
            printf("%u\n", ntohs(a.sin_port));
            return 0;
        }
    }
    fprintf(stderr, "peerstat: no port free for both UDP and TCP\n");
    return 1;
}

/* ---- tree ------------------------------------------------------------------ */

typedef struct proc {
    int pid, ppid;
    unsigned long long ticks; /* utime + stime + cutime + cstime */
    long hwm_kb;
} proc_t;

/* Fields after the command name, which is in parentheses and may hold
 * spaces: state ppid ... utime(14) stime(15) cutime(16) cstime(17). */
static int read_stat(int pid, proc_t *p)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    char *s = strrchr(buf, ')');
    if (!s)
        return -1;
    unsigned long long v[20] = {0};
    int k = 0;
    char *save, *tok = strtok_r(s + 2, " ", &save); /* state: field 3 */
    while (tok && k < 20) {
        v[k++] = strtoull(tok, NULL, 10);
        tok = strtok_r(NULL, " ", &save);
    }
    if (k < 15)
        return -1;
    p->pid = pid;
    p->ppid = (int)v[1];           /* field 4 */
    p->ticks = v[11] + v[12] + v[13] + v[14]; /* fields 14..17 */
    p->hwm_kb = 0;
    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    if ((f = fopen(path, "r"))) {
        char line[256];
        while (fgets(line, sizeof(line), f))
            if (!strncmp(line, "VmHWM:", 6))
                p->hwm_kb = atol(line + 6);
        fclose(f);
    }
    return 0;
}

static int cmd_tree(int argc, char **argv)
{
    size_t cap = 4096, n = 0;
    proc_t *all = malloc(cap * sizeof(*all));
    DIR *d = opendir("/proc");
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        if (n == cap)
            all = realloc(all, (cap *= 2) * sizeof(*all));
        if (read_stat(atoi(e->d_name), &all[n]) == 0)
            n++;
    }
    if (d)
        closedir(d);
    /* Mark the roots, then whatever descends from a marked process;
     * repeat until nothing changes (a few passes: trees are shallow). */
    char *in = calloc(n ? n : 1, 1);
    for (int i = 0; i < argc; i++)
        for (size_t k = 0; k < n; k++)
            if (all[k].pid == atoi(argv[i]))
                in[k] = 1;
    for (int changed = 1; changed;) {
        changed = 0;
        for (size_t k = 0; k < n; k++) {
            if (in[k])
                continue;
            for (size_t j = 0; j < n; j++)
                if (in[j] && all[j].pid == all[k].ppid) {
                    in[k] = changed = 1;
                    break;
                }
        }
    }
    unsigned long long ticks = 0;
    long hwm = 0;
    int procs = 0;
    for (size_t k = 0; k < n; k++)
        if (in[k]) {
            ticks += all[k].ticks;
            hwm += all[k].hwm_kb;
            procs++;
        }
    printf("%.2f %ld %d\n", (double)ticks / (double)sysconf(_SC_CLK_TCK),
           hwm, procs);
    free(in);
    free(all);
    return procs ? 0 : 1;
}

/* ---- udp ------------------------------------------------------------------- */

static int cmd_udp(const char *port_s)
{
    unsigned port = (unsigned)atoi(port_s);
    FILE *f = fopen("/proc/net/udp", "r");
    if (!f) {
        perror("/proc/net/udp");
        return 1;
    }
    char line[512];
    unsigned long long rxq = 0, drops = 0;
    int found = 0;
    if (!fgets(line, sizeof(line), f)) { /* header */
        fclose(f);
        return 1;
    }
    while (fgets(line, sizeof(line), f)) {
        unsigned addr, p, txq, rq;
        /* sl local rem st tx:rx tr:when retr uid timeout inode ref ptr drops */
        if (sscanf(line, " %*d: %x:%x %*x:%*x %*x %x:%x", &addr, &p, &txq,
                   &rq) != 4 || p != port)
            continue;
        if (addr != htonl(INADDR_LOOPBACK) && addr != 0)
            continue;
        char *end = line + strlen(line); /* drops is the last field */
        while (end > line && isspace((unsigned char)end[-1]))
            *--end = 0;
        char *last = strrchr(line, ' ');
        rxq += rq;
        drops += last ? strtoull(last + 1, NULL, 10) : 0;
        found = 1;
    }
    fclose(f);
    if (found)
        printf("%llu %llu\n", rxq, drops);
    else
        printf("- -\n");
    return 0;
}

/* ---- run ------------------------------------------------------------------- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmd_run(const char *out, char **cmd)
{
    double t0 = now_s();
    pid_t pid = fork();
    if (pid < 0) {
        perror("peerstat: fork");
        return 1;
    }
    if (pid == 0) {
        execvp(cmd[0], cmd);
        perror(cmd[0]);
        _exit(127);
    }
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) < 0) {
        perror("peerstat: wait4");
        return 1;
    }
    double wall = now_s() - t0;
    double cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
                 (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
    int rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    FILE *f = fopen(out, "w");
    if (!f) {
        perror(out);
        return 1;
    }
    fprintf(f, "%.3f %.2f %ld %d\n", wall, cpu, ru.ru_maxrss, rc);
    fclose(f);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage();
    if (!strcmp(argv[1], "port"))
        return cmd_port();
    if (!strcmp(argv[1], "tree") && argc > 2)
        return cmd_tree(argc - 2, argv + 2);
    if (!strcmp(argv[1], "udp") && argc == 3)
        return cmd_udp(argv[2]);
    if (!strcmp(argv[1], "run") && argc > 4 && !strcmp(argv[3], "--"))
        return cmd_run(argv[2], argv + 4);
    return usage();
}
