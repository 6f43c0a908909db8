/* Receive deadlines: a connection must deliver a whole request, head and
 * body, within a time of being ready for one.  libmicrohttpd only closes
 * connections that are idle, so a client trickling a header line every few
 * seconds would hold a worker's slot and the per-address limit forever.
 *
 * Every connection has an entry; armed entries sit in one list in the order
 * they are due (each is due a fixed time after it was armed, so arming
 * appends).  A timer thread shuts down the socket of the first entry once
 * it is due: libmicrohttpd then reads end of file and closes the connection
 * itself, on its own thread.  An entry leaves the list before libmicrohttpd
 * closes its socket (NOTIFY_CONNECTION CLOSED comes first), and the list is
 * only touched under the lock, so a shut-down descriptor is never one that
 * was closed and reused. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "http.h"
#include "log.h"
#include "util.h"

struct dsb_deadline {
    struct dsb_deadline *prev, *next; /* in the armed list */
    int fd;
    int armed;
    int64_t due_ms;
};

struct dsb_deadlines {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct dsb_deadline *head, *tail; /* armed, soonest due first */
    int64_t limit_ms;
    int stopping;
    pthread_t thread;
};

static void unlink_entry(struct dsb_deadlines *d, struct dsb_deadline *e)
{
    if (!e->armed)
        return;
    if (e->prev)
        e->prev->next = e->next;
    else
        d->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        d->tail = e->prev;
    e->prev = e->next = NULL;
    e->armed = 0;
}

/* Cuts the connection of e, which is due (under the lock). */
static void cut(struct dsb_deadlines *d, struct dsb_deadline *e)
{
    struct sockaddr_in sa;
    socklen_t n = sizeof(sa);
    char ip[INET_ADDRSTRLEN] = "?";

    unlink_entry(d, e);
    if (getpeername(e->fd, (struct sockaddr *)&sa, &n) == 0 &&
        sa.sin_family == AF_INET)
        inet_ntop(AF_INET, &sa.sin_addr, ip, sizeof(ip));
    shutdown(e->fd, SHUT_RDWR);
    dsb_logf(DSB_LOG_WARN, "http",
             "closed a connection from %s: no whole "
             "request within %lld s (limits.receive_timeout_seconds)",
             ip, (long long)(d->limit_ms / 1000));
}

static void *deadline_main(void *arg)
{
    struct dsb_deadlines *d = arg;
    struct timespec at;
    int64_t now;

    pthread_mutex_lock(&d->lock);
    while (!d->stopping) {
        now = dsb_monotonic_ms();
        while (d->head && d->head->due_ms <= now)
            cut(d, d->head);
        if (!d->head) {
            pthread_cond_wait(&d->wake, &d->lock);
            continue;
        }
        dsb_clock_after(CLOCK_MONOTONIC, d->head->due_ms - now, &at);
        pthread_cond_timedwait(&d->wake, &d->lock, &at);
    }
    pthread_mutex_unlock(&d->lock);
    return NULL;
}

struct dsb_deadlines *dsb_deadlines_new(int64_t limit_ms)
{
    struct dsb_deadlines *d = calloc(1, sizeof(*d));
    pthread_condattr_t ca;

    if (!d)
        return NULL;
    d->limit_ms = limit_ms;
    pthread_mutex_init(&d->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&d->wake, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&d->thread, NULL, deadline_main, d) != 0) {
        pthread_cond_destroy(&d->wake);
        pthread_mutex_destroy(&d->lock);
        free(d);
        return NULL;
    }
    return d;
}

void dsb_deadlines_free(struct dsb_deadlines *d)
{
    if (!d)
        return;
    pthread_mutex_lock(&d->lock);
    d->stopping = 1;
    pthread_cond_signal(&d->wake);
    pthread_mutex_unlock(&d->lock);
    pthread_join(d->thread, NULL);
    pthread_cond_destroy(&d->wake);
    pthread_mutex_destroy(&d->lock);
    free(d);
}

struct dsb_deadline *dsb_deadline_open(struct dsb_deadlines *d, int fd)
{
    struct dsb_deadline *e = calloc(1, sizeof(*e));

    if (!e)
        return NULL;
    e->fd = fd;
    dsb_deadline_arm(d, e);
    return e;
}

void dsb_deadline_arm(struct dsb_deadlines *d, struct dsb_deadline *e)
{
    if (!e)
        return;
    pthread_mutex_lock(&d->lock);
    unlink_entry(d, e);
    e->due_ms = dsb_monotonic_ms() + d->limit_ms;
    e->prev = d->tail;
    if (d->tail)
        d->tail->next = e;
    else
        d->head = e;
    d->tail = e;
    e->armed = 1;
    if (d->head == e)
        pthread_cond_signal(&d->wake);
    pthread_mutex_unlock(&d->lock);
}

void dsb_deadline_disarm(struct dsb_deadlines *d, struct dsb_deadline *e)
{
    if (!e)
        return;
    pthread_mutex_lock(&d->lock);
    unlink_entry(d, e);
    pthread_mutex_unlock(&d->lock);
}

void dsb_deadline_close(struct dsb_deadlines *d, struct dsb_deadline *e)
{
    dsb_deadline_disarm(d, e);
    free(e);
}
