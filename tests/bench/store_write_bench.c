/*
 * Benchmark driver (not a test): session writes on one state store
 * backend, as the service makes them — a session created, then two tables
 * selected in one call — by THREADS threads sharing one store handle, as
 * the broker's request threads do.
 *
 *   store_write_bench sqlite STATE_DIR WRITES THREADS
 *   store_write_bench postgresql CONNINFO PASSWORD_FILE WRITES THREADS
 *
 * Prints one line: "BACKEND threads T: N writes in S s, W writes/s, mean M
 * us, p50 P us, p99 Q us" (latency of one write: create + select).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sessions.h"
#include "store.h"
#include "util.h"

struct run {
    struct dsb_sessions *s;
    long writes; /* per thread */
    int64_t *lat_us;
    int failed;
};

static void *worker(void *arg)
{
    struct run *r = arg;
    static const struct dsb_selection sel[] = {{"main", "big", "s", "t001"},
                                               {"main", "big", "s", "t002"}};
    char id[DSB_SESSION_ID_MAX + 1];
    struct dsb_error err;

    for (long i = 0; i < r->writes; i++) {
        int64_t t0 = dsb_monotonic_us();
        if (dsb_sessions_create(r->s, "bench", id, &err) < 0 ||
            dsb_sessions_select(r->s, id, sel, 2, NULL, 0, NULL, &err) < 0) {
            fprintf(stderr, "store_write_bench: %s\n", err.message);
            r->failed = 1;
            return NULL;
        }
        r->lat_us[i] = dsb_monotonic_us() - t0;
    }
    return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

static char *password_of(const char *file)
{
    FILE *f = fopen(file, "r");
    char buf[512] = "";

    if (!f)
        return NULL;
    if (!fgets(buf, sizeof(buf), f))
        buf[0] = '\0';
    fclose(f);
    buf[strcspn(buf, "\r\n")] = '\0';
    return strdup(buf);
}

int main(int argc, char **argv)
{
    int pg = argc == 6 && strcmp(argv[1], "postgresql") == 0;
    struct dsb_store_conf c = {0};
    struct dsb_error err;
    struct dsb_sessions *s;
    struct run *runs;
    pthread_t *th;
    char *password = NULL;
    long writes, threads;
    int64_t t0, took, *all, sum = 0;
    int failed = 0;

    if (!pg && !(argc == 5 && strcmp(argv[1], "sqlite") == 0)) {
        fprintf(stderr, "usage: store_write_bench sqlite STATE_DIR WRITES "
                        "THREADS\n       store_write_bench postgresql "
                        "CONNINFO PASSWORD_FILE WRITES THREADS\n");
        return 2;
    }
    writes = atol(argv[argc - 2]);
    threads = atol(argv[argc - 1]);
    if (writes <= 0 || threads <= 0 || threads > 64)
        return 2;
    if (pg) {
        password = password_of(argv[3]);
        c.url = argv[2];
        c.password = password;
    } else {
        c.state_dir = argv[2];
    }
    s = dsb_sessions_open_on(pg ? &dsb_store_pg : &dsb_store_sqlite, &c, &err);
    if (!s) {
        fprintf(stderr, "store_write_bench: %s\n", err.message);
        free(password);
        return 1;
    }
    runs = calloc((size_t)threads, sizeof(*runs));
    th = calloc((size_t)threads, sizeof(*th));
    all = calloc((size_t)(writes * threads), sizeof(*all));
    if (!runs || !th || !all)
        return 1;
    t0 = dsb_monotonic_us();
    for (long i = 0; i < threads; i++) {
        runs[i] = (struct run){s, writes, all + i * writes, 0};
        pthread_create(&th[i], NULL, worker, &runs[i]);
    }
    for (long i = 0; i < threads; i++) {
        pthread_join(th[i], NULL);
        failed |= runs[i].failed;
    }
    took = dsb_monotonic_us() - t0;
    if (!failed) {
        long n = writes * threads;
        qsort(all, (size_t)n, sizeof(*all), cmp_i64);
        for (long i = 0; i < n; i++)
            sum += all[i];
        printf("%s threads %ld: %ld writes in %.2f s, %.0f writes/s, mean "
               "%lld us, p50 %lld us, p99 %lld us\n",
               argv[1], threads, n, (double)took / 1e6,
               (double)n * 1e6 / (double)took, (long long)(sum / n),
               (long long)all[n / 2], (long long)all[n * 99 / 100]);
    }
    dsb_sessions_close(s);
    free(runs);
    free(th);
    free(all);
    free(password);
    return failed;
}
