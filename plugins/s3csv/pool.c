/* A bounded pool for the plugin's object reads: the tables of a listing
 * page or of a describe_tables batch are sampled S3CSV_SAMPLERS at a time
 * instead of one GET after another. */
#include <pthread.h>
#include <stdatomic.h>

#include "s3csv.h"

struct s3csv_pool {
    size_t n;
    atomic_size_t next;
    void (*fn)(void *ctx, size_t i);
    void *ctx;
};

static void *s3csv_pool_worker(void *arg)
{
    struct s3csv_pool *p = arg;
    size_t i;

    while ((i = atomic_fetch_add(&p->next, 1)) < p->n)
        p->fn(p->ctx, i);
    return NULL;
}

void s3csv_parallel(size_t n, void (*fn)(void *ctx, size_t i), void *ctx)
{
    struct s3csv_pool p = {n, 0, fn, ctx};
    pthread_t th[S3CSV_SAMPLERS - 1];
    size_t started = 0;

    while (started + 1 < S3CSV_SAMPLERS && started + 1 < n &&
           pthread_create(&th[started], NULL, s3csv_pool_worker, &p) == 0)
        started++;
    s3csv_pool_worker(&p); /* the calling thread works too */
    for (size_t i = 0; i < started; i++)
        pthread_join(th[i], NULL);
}
