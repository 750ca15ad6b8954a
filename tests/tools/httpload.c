/*
 * httpload.c - N clients (threads, one keep-alive connection each) mixing
 * reads and registrations against flowsqld's REST API for a while.
 *
 *   httpload HOST:PORT CLIENTS SECONDS
 *
 * Each client cycles through: list queries, get one, register a query,
 * drop it again, an ad hoc SQL query, the metrics. Every answer whose
 * status is not the expected one is printed and counted. Prints
 * "requests N errors N" and exits 1 if there was any error.
 */
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *base;
static int seconds;
static long total_reqs, total_errs;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static size_t discard(char *p, size_t s, size_t n, void *u)
{
    (void)p;
    (void)u;
    return s * n;
}

static long request(CURL *c, const char *method, const char *path,
                    const char *body)
{
    char url[512];
    snprintf(url, sizeof(url), "http://%s%s", base, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POST, body ? 1L : 0L);
    if (!body)
        curl_easy_setopt(c, CURLOPT_HTTPGET, strcmp(method, "GET") == 0 ? 1L : 0L);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (curl_easy_perform(c) != CURLE_OK)
        return -1;
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    return code;
}

static void *client(void *arg)
{
    long id = (long)arg, reqs = 0, errs = 0;
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    time_t end = time(NULL) + seconds;
    char body[512], path[128];
    for (long n = 0; time(NULL) < end; n++) {
        long got, want;
        switch (n % 6) {
        case 0:
            got = request(c, "GET", "/api/v1/queries", NULL);
            want = 200;
            break;
        case 1:
            got = request(c, "GET", "/api/v1/queries/all_flows", NULL);
            want = 200;
            break;
        case 2:
            snprintf(body, sizeof(body), "{\"name\":\"load_%ld_%ld\",\"sql\":"
                     "\"SELECT srcip, count(*) FROM flows WINDOW 2s GROUP BY "
                     "srcip\"}", id, n);
            got = request(c, "POST", "/api/v1/queries", body);
            want = 201;
            break;
        case 3:
            snprintf(path, sizeof(path), "/api/v1/queries/load_%ld_%ld", id, n - 1);
            got = request(c, "DELETE", path, NULL);
            want = 204;
            break;
        case 4:
            got = request(c, "POST", "/api/v1/sql",
                          "{\"sql\":\"SELECT count(*) FROM all_flows\"}");
            want = 200;
            break;
        default:
            got = request(c, "GET", "/metrics", NULL);
            want = 200;
            break;
        }
        reqs++;
        if (got != want) {
            errs++;
            if (errs <= 5)
                fprintf(stderr, "client %ld request %ld: status %ld, wanted %ld\n",
                        id, n, got, want);
        }
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    pthread_mutex_lock(&lock);
    total_reqs += reqs;
    total_errs += errs;
    pthread_mutex_unlock(&lock);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: httpload HOST:PORT CLIENTS SECONDS\n");
        return 2;
    }
    base = argv[1];
    int n = atoi(argv[2]);
    seconds = atoi(argv[3]);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    pthread_t *t = calloc((size_t)n, sizeof(*t));
    for (long i = 0; i < n; i++)
        pthread_create(&t[i], NULL, client, (void *)i);
    for (int i = 0; i < n; i++)
        pthread_join(t[i], NULL);
    free(t);
    curl_global_cleanup();
    printf("requests %ld errors %ld\n", total_reqs, total_errs);
    return total_errs ? 1 : 0;
}
