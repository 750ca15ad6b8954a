/* test_storage_crash.c - kill -9 while windows are being written.
 *
 * A child opens the store and writes windows 0, 1, 2, ... as fast as the
 * writer takes them (never more than one queued), reporting through a
 * pipe how many have been committed. The parent kills it with SIGKILL at
 * a random moment, reopens the database and checks that it is consistent
 * (PRAGMA integrity_check), that the catalog survived, and that the
 * windows stored are exactly 0..k-1, each complete and correct, with k at
 * least what the child had reported: at most the window being written
 * (and the one waiting behind it) is lost. Several rounds on the same
 * file, each resuming where the last one stopped.
 */
#include "storage/store.h"
#include "tests/test.h"
#include "tests/unit/storage_util.h"

#include <signal.h>
#include <sys/wait.h>

#define BASE  1763902800000LL
#define TEN_S 10000
#define ROWS  2000

static int64_t stored_windows(store_t *s)
{
    store_result_t *r = NULL;
    diag_t err;
    diag_clear(&err);
    int64_t n = -1;
    if (store_adhoc(s, "SELECT count(*) FROM flowsql_windows WHERE "
                    "tbl = 'crash'", NULL, &r, &err) == 0 && r->nrows == 1)
        n = store_result_cell(r, 0, 0)->v.i;
    store_result_free(r);
    return n;
}

static void child(const char *path, int fd)
{
    store_config_t c = {.path = path, .queue_windows = 1};
    diag_t err;
    diag_clear(&err);
    store_t *s = store_open(&c, &err);
    if (!s)
        _exit(2);
    store_query_list_t *l = store_query_list(s);
    int have = l->n;
    store_query_list_free(l);
    if (!have && tu_add(s, "crash", "1000000") < 0)
        _exit(3);
    int64_t w = stored_windows(s);
    if (w < 0)
        _exit(4);
    for (;; w++) {
        rowset_t *rs = tu_window("crash", BASE + w * TEN_S, TEN_S, ROWS, (int)w);
        store_stats_t st;
        for (;;) {
            store_stats(s, &st);
            if (st.queue_windows == 0)
                break;
            usleep(200);
        }
        uint64_t dropped = st.windows_dropped;
        tu_push(s, rs);
        store_stats(s, &st);
        if (st.windows_dropped != dropped)
            _exit(5);   /* the queue had room: must not happen */
        int64_t done = (int64_t)st.windows_written;
        if (write(fd, &done, sizeof(done)) != sizeof(done))
            _exit(6);
    }
}

static void t_kill_during_writes(void)
{
    const char *path = tu_path("crash.db");
    srand((unsigned)time_now_ms());
    int64_t total_reported = 0;
    for (int round = 0; round < 4; round++) {
        int fds[2];
        CHECK(pipe(fds) == 0);
        pid_t pid = fork();
        if (pid == 0) {
            close(fds[0]);
            child(path, fds[1]);
            _exit(0);
        }
        close(fds[1]);
        /* Let it commit some windows (this round's count starts at 0),
         * then kill it at a random moment. */
        int64_t done = 0, v;
        while (done < 5 && read(fds[0], &v, sizeof(v)) == sizeof(v))
            done = v;
        usleep((useconds_t)(rand() % 150000));
        kill(pid, SIGKILL);
        while (read(fds[0], &v, sizeof(v)) == sizeof(v))
            done = v;
        close(fds[0]);
        int status;
        waitpid(pid, &status, 0);
        CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        total_reported += done;

        CHECK_STR(tu_text(path, "PRAGMA integrity_check"), "ok");
        store_t *s = tu_open(path, NULL);
        CHECK(s != NULL);
        if (!s)
            return;
        store_query_list_t *l = store_query_list(s);
        CHECK_INT(l->n, 1);
        if (l->n == 1)
            CHECK_STR(l->q[0].name, "crash");
        store_query_list_free(l);
        int64_t k = stored_windows(s);
        store_close(s);
        CHECK_STR(tu_text(path, "PRAGMA integrity_check"), "ok");
        CHECK(k >= total_reported);
        total_reported = k;
        /* Windows 0..k-1, each whole and right; nothing else. */
        CHECK_INT(tu_int(path, "SELECT count(DISTINCT window_start) FROM crash"), k);
        CHECK_INT(tu_int(path, "SELECT count(*) FROM crash"), k * ROWS);
        CHECK_INT(tu_int(path, "SELECT min(window_start) FROM crash"), BASE);
        CHECK_INT(tu_int(path, "SELECT max(window_start) FROM crash"),
                  BASE + (k - 1) * TEN_S);
        CHECK_INT(tu_int(path, "SELECT count(*) FROM crash WHERE flows = "
                         "(window_start - 1763902800000) / 10000 * 1000 + "
                         "window_row AND bytes = flows * 100 AND hex(srcip) = "
                         "'00000000000000000000FFFF0A00' || printf('%04X', "
                         "window_row)"), k * ROWS);
        CHECK_INT(tu_int(path, "SELECT count(*) FROM flowsql_windows WHERE "
                         "rows = 2000"), k);
        fprintf(stderr, "round %d: %lld windows stored\n", round, (long long)k);
    }
}

int main(void)
{
    log_set_level(LOG_ERROR);
    RUN(t_kill_during_writes);
    TEST_EXIT();
}
