/* The call pool: threads that run route handlers which may block (plugin
 * calls, SQLite, spark-submit) so that libmicrohttpd's few worker threads
 * only parse requests and send responses.  A worker suspends the
 * connection and queues the request here; a pool thread runs the handler,
 * which leaves its response on the request; the pool thread resumes the
 * connection and the worker queues that response (server.c). */
#include <pthread.h>
#include <stdlib.h>

#include "http.h"

struct task {
    struct task *next;
    struct dsb_req *req;
};

struct dsb_call_pool {
    pthread_mutex_t lock;
    pthread_cond_t work;
    struct task *head, *tail;
    size_t queued, busy; /* under lock */
    int stopping;
    size_t n_threads;
    dsb_pool_run_fn run;
    pthread_t threads[];
};

static void *pool_main(void *arg)
{
    struct dsb_call_pool *p = arg;
    struct task *t;

    for (;;) {
        pthread_mutex_lock(&p->lock);
        while (!p->head && !p->stopping)
            pthread_cond_wait(&p->work, &p->lock);
        t = p->head;
        if (t) {
            p->head = t->next;
            if (!p->head)
                p->tail = NULL;
            p->queued--;
            p->busy++;
        }
        pthread_mutex_unlock(&p->lock);
        if (!t)
            return NULL; /* stopping and nothing queued */
        p->run(t->req);
        free(t);
        pthread_mutex_lock(&p->lock);
        p->busy--;
        pthread_mutex_unlock(&p->lock);
    }
}

struct dsb_call_pool *dsb_call_pool_new(size_t n, dsb_pool_run_fn run)
{
    struct dsb_call_pool *p = calloc(1, sizeof(*p) + n * sizeof(pthread_t));

    if (!p)
        return NULL;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->work, NULL);
    p->run = run;
    for (; p->n_threads < n; p->n_threads++)
        if (pthread_create(&p->threads[p->n_threads], NULL, pool_main, p))
            break;
    if (p->n_threads == 0) {
        dsb_call_pool_free(p);
        return NULL;
    }
    return p;
}

int dsb_call_pool_submit(struct dsb_call_pool *p, struct dsb_req *r)
{
    struct task *t = malloc(sizeof(*t));

    if (!t)
        return -1;
    t->next = NULL;
    t->req = r;
    pthread_mutex_lock(&p->lock);
    if (p->stopping) {
        pthread_mutex_unlock(&p->lock);
        free(t);
        return -1;
    }
    if (p->tail)
        p->tail->next = t;
    else
        p->head = t;
    p->tail = t;
    p->queued++;
    pthread_cond_signal(&p->work);
    pthread_mutex_unlock(&p->lock);
    return 0;
}

void dsb_call_pool_stats(struct dsb_call_pool *p, size_t *threads, size_t *busy,
                         size_t *queued)
{
    *threads = *busy = *queued = 0;
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    *threads = p->n_threads;
    *busy = p->busy;
    *queued = p->queued;
    pthread_mutex_unlock(&p->lock);
}

/* Runs what is queued, then joins the threads: every submitted request is
 * answered (and its connection resumed) before this returns. */
void dsb_call_pool_free(struct dsb_call_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->stopping = 1;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->lock);
    for (size_t i = 0; i < p->n_threads; i++)
        pthread_join(p->threads[i], NULL);
    pthread_cond_destroy(&p->work);
    pthread_mutex_destroy(&p->lock);
    free(p);
}
