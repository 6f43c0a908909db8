/* Receive deadlines: a connection must deliver a whole request, head and
 * body, within a time of being ready for one.  libmicrohttpd only closes
 * connections that are idle, so a client trickling a header line every few
 * seconds would hold a worker's slot and the per-address limit forever.
 *
 * Every connection has an entry in one list, changed only when a
 * connection opens or closes.  Arming and disarming, twice a request, only
 * store the time the entry was armed (0: disarmed): no lock, no shared
 * line but the entry's own.  A timer thread looks at the list a few times
 * a deadline and shuts down the socket of every entry armed too long ago:
 * libmicrohttpd then reads end of file and closes the connection itself,
 * on its own thread.  An entry leaves the list before libmicrohttpd closes
 * its socket (NOTIFY_CONNECTION CLOSED comes first), and the list is only
 * walked under the lock, so a shut-down descriptor is never one that was
 * closed and reused.  A connection is cut between its deadline and a scan
 * period after it. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "http.h"
#include "log.h"
#include "util.h"

#define SCAN_MS_MAX 250

struct dsb_deadline {
    struct dsb_deadline *prev, *next; /* in the list of connections */
    int fd;
    atomic_llong armed_ms; /* monotonic ms it was armed; 0: disarmed */
};

struct dsb_deadlines {
    pthread_mutex_t lock; /* the list, and stopping */
    pthread_cond_t wake;
    struct dsb_deadline *head;
    int64_t limit_ms, scan_ms;
    int stopping;
    pthread_t thread;
};

/* Cuts the connection of e, which is past its deadline (under the lock). */
static void cut(struct dsb_deadlines *d, struct dsb_deadline *e)
{
    struct sockaddr_in sa;
    socklen_t n = sizeof(sa);
    char ip[INET_ADDRSTRLEN] = "?";

    atomic_store(&e->armed_ms, 0);
    if (getpeername(e->fd, (struct sockaddr *)&sa, &n) == 0 &&
        sa.sin_family == AF_INET)
        inet_ntop(AF_INET, &sa.sin_addr, ip, sizeof(ip));
    shutdown(e->fd, SHUT_RDWR);
    dsb_logf(
        DSB_LOG_WARN, "http",
        "closed a connection from %s: no whole request within %lld s (limits.receive_timeout_seconds)",
        ip, (long long)(d->limit_ms / 1000));
}

static void scan(struct dsb_deadlines *d)
{
    int64_t now = dsb_monotonic_ms();

    for (struct dsb_deadline *e = d->head; e; e = e->next) {
        int64_t at = atomic_load_explicit(&e->armed_ms, memory_order_relaxed);
        if (at && now - at >= d->limit_ms)
            cut(d, e);
    }
}

static void *deadline_main(void *arg)
{
    struct dsb_deadlines *d = arg;
    struct timespec at;

    pthread_mutex_lock(&d->lock);
    while (!d->stopping) {
        scan(d);
        dsb_clock_after(CLOCK_MONOTONIC, d->scan_ms, &at);
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
    d->scan_ms = limit_ms / 4 < SCAN_MS_MAX ? limit_ms / 4 : SCAN_MS_MAX;
    if (d->scan_ms < 10)
        d->scan_ms = 10;
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
    atomic_init(&e->armed_ms, dsb_monotonic_ms());
    pthread_mutex_lock(&d->lock);
    e->next = d->head;
    if (d->head)
        d->head->prev = e;
    d->head = e;
    pthread_mutex_unlock(&d->lock);
    return e;
}

void dsb_deadline_arm(struct dsb_deadlines *d, struct dsb_deadline *e)
{
    (void)d;
    if (e)
        atomic_store_explicit(&e->armed_ms, dsb_monotonic_ms(),
                              memory_order_relaxed);
}

void dsb_deadline_disarm(struct dsb_deadlines *d, struct dsb_deadline *e)
{
    (void)d;
    if (e)
        atomic_store_explicit(&e->armed_ms, 0, memory_order_relaxed);
}

void dsb_deadline_close(struct dsb_deadlines *d, struct dsb_deadline *e)
{
    if (!e)
        return;
    pthread_mutex_lock(&d->lock);
    if (e->prev)
        e->prev->next = e->next;
    else
        d->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    pthread_mutex_unlock(&d->lock);
    free(e);
}
