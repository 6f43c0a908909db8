/* The set of known secret values, replaced by "[REDACTED]" in every log
 * line and error the broker emits (a convenience, not a boundary:
 * docs/security.md). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

struct redact_entry {
    char *value;
    size_t len;
    unsigned refs;
};

/* Readers (every log line) share the lock; register/forget write it. */
static pthread_rwlock_t redact_lock = PTHREAD_RWLOCK_INITIALIZER;
static pthread_once_t redact_once = PTHREAD_ONCE_INIT;
static struct redact_entry *redact_set;
static size_t redact_cap;
static atomic_size_t redact_n; /* read without the lock: "none yet" */

/* A child forked while another thread held the lock (a source's preflight
 * probe during a reload) would wait for it forever at its first log line:
 * fork waits until no thread holds it. */
static void fork_prepare(void)
{
    pthread_rwlock_wrlock(&redact_lock);
}

static void fork_release(void)
{
    pthread_rwlock_unlock(&redact_lock);
}

static void redact_init(void)
{
    pthread_atfork(fork_prepare, fork_release, fork_release);
}

static void lock_write(void)
{
    pthread_once(&redact_once, redact_init);
    pthread_rwlock_wrlock(&redact_lock);
}

static long redact_find(const char *value)
{
    size_t n = atomic_load_explicit(&redact_n, memory_order_relaxed);

    for (size_t i = 0; i < n; i++)
        if (strcmp(redact_set[i].value, value) == 0)
            return (long)i;
    return -1;
}

static int redact_reserve(void)
{
    struct redact_entry *ns;
    size_t cap;

    if (atomic_load_explicit(&redact_n, memory_order_relaxed) < redact_cap)
        return 0;
    cap = redact_cap * 2 + 8;
    ns = realloc(redact_set, cap * sizeof(*ns));
    if (!ns)
        return -1;
    redact_set = ns;
    redact_cap = cap;
    return 0;
}

void dsb_redact_register(const char *value)
{
    long i;
    char *copy;

    if (!value || strlen(value) < 4)
        return;
    lock_write();
    i = redact_find(value);
    if (i >= 0) {
        redact_set[i].refs++;
    } else if (redact_reserve() == 0 && (copy = strdup(value)) != NULL) {
        size_t n = atomic_load_explicit(&redact_n, memory_order_relaxed);
        redact_set[n] = (struct redact_entry){copy, strlen(copy), 1};
        atomic_store_explicit(&redact_n, n + 1, memory_order_release);
    }
    pthread_rwlock_unlock(&redact_lock);
}

void dsb_redact_forget(const char *value)
{
    long i;

    if (!value)
        return;
    lock_write();
    i = redact_find(value);
    if (i >= 0 && --redact_set[i].refs == 0) {
        struct redact_entry *e = &redact_set[i];
        size_t n = atomic_load_explicit(&redact_n, memory_order_relaxed) - 1;
        memset(e->value, 0, e->len);
        free(e->value);
        *e = redact_set[n];
        atomic_store_explicit(&redact_n, n, memory_order_release);
    }
    pthread_rwlock_unlock(&redact_lock);
}

static size_t replace_all(char *buf, size_t len, size_t cap,
                          const struct redact_entry *e)
{
    static const size_t rlen = sizeof(DSB_REDACTED) - 1;
    char *p = buf;

    while ((p = strstr(p, e->value)) != NULL) {
        size_t tail = len - (size_t)(p - buf) - e->len;
        size_t room = cap - 1 - (size_t)(p - buf);
        size_t put = rlen < room ? rlen : room;
        size_t keep = tail < room - put ? tail : room - put;
        memmove(p + put, p + e->len, keep);
        memcpy(p, DSB_REDACTED, put);
        len = (size_t)(p - buf) + put + keep;
        buf[len] = '\0';
        p += put;
    }
    return len;
}

void dsb_redact_hold(struct dsb_redact_hold *h)
{
    h->n = atomic_load_explicit(&redact_n, memory_order_acquire);
    h->locked = h->n > 0;
    if (!h->locked)
        return; /* nothing registered yet: nothing to hold */
    pthread_once(&redact_once, redact_init);
    pthread_rwlock_rdlock(&redact_lock);
    h->n = atomic_load_explicit(&redact_n, memory_order_relaxed);
}

void dsb_redact_drop(struct dsb_redact_hold *h)
{
    if (h->locked)
        pthread_rwlock_unlock(&redact_lock);
    h->locked = 0;
    h->n = 0;
}

size_t dsb_redact_held(const struct dsb_redact_hold *h, char *buf, size_t cap)
{
    size_t len;

    if (!buf || cap == 0)
        return 0;
    len = strnlen(buf, cap - 1);
    buf[len] = '\0';
    for (size_t i = 0; i < h->n; i++)
        len = replace_all(buf, len, cap, &redact_set[i]);
    return len;
}

size_t dsb_redact(char *buf, size_t cap)
{
    struct dsb_redact_hold h;
    size_t len;

    dsb_redact_hold(&h);
    len = dsb_redact_held(&h, buf, cap);
    dsb_redact_drop(&h);
    return len;
}

void dsb_redact_error(struct dsb_error *err)
{
    if (!err)
        return;
    dsb_redact(err->message, sizeof(err->message));
    dsb_redact(err->detail, sizeof(err->detail));
    dsb_redact(err->hint, sizeof(err->hint));
    dsb_redact(err->upstream, sizeof(err->upstream));
}
