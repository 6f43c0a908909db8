#include "cache.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "util.h"

enum { E_LOADING = 0, E_READY = 1 };

struct entry {
    struct dsb_cached v; /* first: callers see &v */
    char *key;           /* source + key */
    char *source;
    uint64_t hash;
    int state;
    int attached;     /* in the table (and in the LRU once ready) */
    atomic_uint refs; /* the table's and each caller's; taken under the
                       * lock, dropped without it (an entry at zero is
                       * out of the table: nothing else can reach it) */
    int64_t expires_ms;
    int lean;       /* a large body keeps no document (dsb_cache_get_lean) */
    size_t counted; /* body bytes counted in the cache's total (lock) */
    struct entry *hnext, *prev, *next;
};

struct ttl_override {
    char *source;
    int64_t ttl_ms;
};

struct epoch {
    char *source;
    uint64_t n;
};

struct dsb_cache {
    pthread_mutex_t lock;
    pthread_cond_t loaded;
    struct entry **buckets;
    size_t n_buckets, n_entries, max_entries;
    size_t bytes;              /* the bodies of the entries in the table */
    struct entry *head, *tail; /* LRU: head is the most recent */
    int64_t ttl_ms, error_ttl_ms;
    struct ttl_override *ttls;
    size_t n_ttls;
    struct epoch *epochs;
    size_t n_epochs, cap_epochs;
    struct dsb_cache_stats st;
    int64_t (*clock)(void); /* monotonic ms */
};

static uint64_t fnv1a(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;

    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

void dsb_etag(const char *bytes, size_t len, char out[24])
{
    snprintf(out, 24, "\"%016llx\"", (unsigned long long)fnv1a(bytes, len));
}

/* n in decimal, without printf (keys are built on every request). */
static void key_digits(struct dsb_sb *k, uint64_t n)
{
    char digits[24], *p = digits + sizeof(digits);

    do {
        *--p = (char)('0' + n % 10);
        n /= 10;
    } while (n);
    dsb_sb_add(k, p, (size_t)(digits + sizeof(digits) - p));
}

void dsb_cache_key_num(struct dsb_sb *key, uint64_t n)
{
    key_digits(key, n);
    dsb_sb_addc(key, '|');
}

void dsb_cache_key_add(struct dsb_sb *key, const char *part)
{
    size_t n;

    if (!part) {
        dsb_sb_add(key, "-|", 2);
        return;
    }
    n = strlen(part);
    key_digits(key, n);
    dsb_sb_addc(key, ':');
    dsb_sb_add(key, part, n);
    dsb_sb_addc(key, '|');
}

char *dsb_cache_key_get(const char *key, int n)
{
    for (;;) {
        char *end = NULL;
        long len;
        if (key[0] == '-' && key[1] == '|') {
            if (n-- == 0)
                return NULL;
            key += 2;
            continue;
        }
        len = strtol(key, &end, 10);
        if (end == key || len < 0 || (*end != ':' && *end != '|'))
            return NULL;
        if (*end == '|' && n-- == 0) /* a number part */
            return strndup(key, (size_t)(end - key));
        if (*end == '|') {
            key = end + 1;
            continue;
        }
        if (n-- == 0)
            return strndup(end + 1, (size_t)len);
        key = end + 1 + len + 1;
    }
}

struct dsb_cache *dsb_cache_new(size_t max_entries, int64_t ttl_ms,
                                int64_t error_ttl_ms)
{
    struct dsb_cache *c = calloc(1, sizeof(*c));

    if (!c)
        return NULL;
    c->n_buckets = 1024;
    while (c->n_buckets < max_entries && c->n_buckets < (1u << 18))
        c->n_buckets <<= 1;
    c->buckets = calloc(c->n_buckets, sizeof(*c->buckets));
    if (!c->buckets) {
        free(c);
        return NULL;
    }
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->loaded, NULL);
    c->max_entries = max_entries ? max_entries : 1;
    c->ttl_ms = ttl_ms;
    c->error_ttl_ms = error_ttl_ms;
    c->clock = dsb_monotonic_ms;
    return c;
}

void dsb_cache_set_clock(struct dsb_cache *c, int64_t (*clock_ms)(void))
{
    c->clock = clock_ms ? clock_ms : dsb_monotonic_ms;
}

static void entry_unref(struct entry *e);

/* The fresh, successfully loaded entries, each held, in a malloc'd array
 * (NULL with *n 0 when there are none or memory is exhausted). */
static struct entry **hold_fresh(struct dsb_cache *c, size_t *n)
{
    struct entry **held;
    int64_t now;

    *n = 0;
    pthread_mutex_lock(&c->lock);
    now = c->clock();
    held = malloc((c->n_entries + 1) * sizeof(*held));
    for (size_t i = 0; held && i < c->n_buckets; i++)
        for (struct entry *e = c->buckets[i]; e; e = e->hnext)
            if (e->state == E_READY && e->v.body && e->expires_ms > now) {
                atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
                held[(*n)++] = e;
            }
    pthread_mutex_unlock(&c->lock);
    return held;
}

void dsb_cache_foreach(struct dsb_cache *c, dsb_cache_want_fn want,
                       dsb_cache_visit_fn fn, void *ctx)
{
    size_t n;
    struct entry **held = hold_fresh(c, &n);
    int stop = 0;

    for (size_t i = 0; i < n; i++) {
        struct entry *e = held[i];
        const char *key = e->key + strlen(e->source) + 1;
        json_t *doc = stop || (want && !want(ctx, e->source, key))
                          ? NULL
                          : dsb_cached_doc(&e->v);
        if (doc)
            stop = fn(ctx, e->source, key, doc);
        json_decref(doc);
        entry_unref(e);
    }
    free(held);
}

json_t *dsb_cached_doc(const struct dsb_cached *v)
{
    if (v->doc)
        return json_incref(v->doc);
    return v->body ? json_loadb(v->body, v->len, 0, NULL) : NULL;
}

static void entry_free(struct entry *e)
{
    json_decref(e->v.doc);
    free(e->v.body);
    free(e->v.aux);
    free(e->key);
    free(e->source);
    free(e);
}

/* Drops one reference (with or without the lock). */
static void entry_unref(struct entry *e)
{
    if (atomic_fetch_sub_explicit(&e->refs, 1, memory_order_acq_rel) == 1)
        entry_free(e);
}

static void lru_unlink(struct dsb_cache *c, struct entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else if (c->head == e)
        c->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else if (c->tail == e)
        c->tail = e->prev;
    e->prev = e->next = NULL;
}

static void lru_push(struct dsb_cache *c, struct entry *e)
{
    e->prev = NULL;
    e->next = c->head;
    if (c->head)
        c->head->prev = e;
    c->head = e;
    if (!c->tail)
        c->tail = e;
}

/* The epoch counter of source (lock held); NULL when out of memory. */
static struct epoch *epoch_of(struct dsb_cache *c, const char *source)
{
    struct epoch *g;

    for (size_t i = 0; i < c->n_epochs; i++)
        if (strcmp(c->epochs[i].source, source) == 0)
            return &c->epochs[i];
    if (c->n_epochs == c->cap_epochs) {
        size_t cap = c->cap_epochs ? c->cap_epochs * 2 : 16;
        g = realloc(c->epochs, cap * sizeof(*g));
        if (!g)
            return NULL;
        c->epochs = g;
        c->cap_epochs = cap;
    }
    g = &c->epochs[c->n_epochs];
    g->source = strdup(source);
    g->n = 0;
    if (!g->source)
        return NULL;
    c->n_epochs++;
    return g;
}

static void bump(struct dsb_cache *c, const char *source)
{
    struct epoch *g = epoch_of(c, source);

    if (g)
        g->n++;
}

/* Removes e from the table and the LRU and drops the table's reference. */
static void detach(struct dsb_cache *c, struct entry *e)
{
    struct entry **pp = &c->buckets[e->hash & (c->n_buckets - 1)];

    if (!e->attached)
        return;
    while (*pp && *pp != e)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = e->hnext;
    lru_unlink(c, e);
    e->attached = 0;
    c->n_entries--;
    c->bytes -= e->counted;
    e->counted = 0;
    bump(c, e->source);
    entry_unref(e);
}

void dsb_cache_free(struct dsb_cache *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->n_buckets; i++)
        while (c->buckets[i])
            detach(c, c->buckets[i]);
    pthread_mutex_unlock(&c->lock);
    for (size_t i = 0; i < c->n_ttls; i++)
        free(c->ttls[i].source);
    free(c->ttls);
    for (size_t i = 0; i < c->n_epochs; i++)
        free(c->epochs[i].source);
    free(c->epochs);
    free(c->buckets);
    pthread_cond_destroy(&c->loaded);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

int dsb_cache_set_source_ttl(struct dsb_cache *c, const char *source,
                             int64_t ttl_ms)
{
    struct ttl_override *t = realloc(c->ttls, (c->n_ttls + 1) * sizeof(*t));

    if (!t)
        return -1;
    c->ttls = t;
    t[c->n_ttls].source = strdup(source);
    if (!t[c->n_ttls].source)
        return -1;
    t[c->n_ttls++].ttl_ms = ttl_ms;
    return 0;
}

static int64_t source_ttl(const struct dsb_cache *c, const char *source)
{
    for (size_t i = 0; i < c->n_ttls; i++)
        if (strcmp(c->ttls[i].source, source) == 0)
            return c->ttls[i].ttl_ms;
    return c->ttl_ms;
}

static struct entry *find(struct dsb_cache *c, const char *key, uint64_t h)
{
    struct entry *e = c->buckets[h & (c->n_buckets - 1)];

    while (e && (e->hash != h || strcmp(e->key, key) != 0))
        e = e->hnext;
    return e;
}

static struct entry *insert_loading(struct dsb_cache *c, const char *source,
                                    const char *key, uint64_t h)
{
    struct entry *e = calloc(1, sizeof(*e));
    size_t b = h & (c->n_buckets - 1);

    if (!e)
        return NULL;
    e->key = strdup(key);
    e->source = strdup(source);
    if (!e->key || !e->source) {
        entry_free(e);
        return NULL;
    }
    e->hash = h;
    atomic_init(&e->refs, 2); /* the table's and the loader's */
    e->attached = 1;
    e->hnext = c->buckets[b];
    c->buckets[b] = e;
    c->n_entries++;
    return e;
}

static void evict(struct dsb_cache *c)
{
    struct entry *e = c->tail;

    while (c->n_entries > c->max_entries && e) {
        struct entry *prev = e->prev;
        detach(c, e);
        c->st.evictions++;
        e = prev;
    }
}

/* Runs a bytes loader and takes its bytes as e's body. */
static void load_bytes(struct entry *e, dsb_cache_bytes_fn fn, void *ctx)
{
    struct dsb_sb out = {0};
    char *aux = NULL;

    if (fn(ctx, &out, &aux, &e->v.err) < 0) {
        dsb_sb_free(&out);
        free(aux);
        if (e->v.err.code == DSB_OK)
            dsb_error_set(&e->v.err, DSB_E_INTERNAL, "loading failed");
        return;
    }
    e->v.len = out.len;
    e->v.body = dsb_sb_take(&out);
    e->v.aux = aux;
    if (!e->v.body) {
        e->v.len = 0;
        dsb_error_set(&e->v.err, DSB_E_INTERNAL, "out of memory");
        return;
    }
    dsb_etag(e->v.body, e->v.len, e->v.etag);
}

/* Runs the loader outside the lock and fills e's value. */
static void load(struct entry *e, dsb_cache_load_fn fn,
                 dsb_cache_bytes_fn bytes_fn, void *ctx)
{
    json_t *doc = NULL;

    dsb_error_clear(&e->v.err);
    if (bytes_fn) {
        load_bytes(e, bytes_fn, ctx);
        return;
    }
    if (fn(ctx, &doc, &e->v.err) < 0 || !doc) {
        json_decref(doc);
        if (e->v.err.code == DSB_OK)
            dsb_error_set(&e->v.err, DSB_E_INTERNAL, "loading failed");
        return;
    }
    e->v.body = json_dumps(doc, JSON_COMPACT);
    if (!e->v.body) {
        json_decref(doc);
        dsb_error_set(&e->v.err, DSB_E_INTERNAL, "out of memory");
        return;
    }
    e->v.len = strlen(e->v.body);
    dsb_etag(e->v.body, e->v.len, e->v.etag);
    if (e->lean && e->v.len >= DSB_CACHE_LEAN_BYTES)
        json_decref(doc);
    else
        e->v.doc = doc;
}

/* Publishes a loaded entry (lock held); until_ms may shorten its life. */
static void publish(struct dsb_cache *c, struct entry *e,
                    const int64_t *until_ms)
{
    int64_t now = c->clock();
    int64_t ttl = e->v.body ? source_ttl(c, e->source) : c->error_ttl_ms;

    if (e->v.body && until_ms && *until_ms - now < ttl)
        ttl = *until_ms - now;
    e->state = E_READY;
    e->expires_ms = now + ttl;
    e->v.expires_ms = e->expires_ms;
    if (e->attached && ttl <= 0)
        detach(c, e);
    if (e->attached) {
        e->counted = e->v.len;
        c->bytes += e->counted;
        lru_push(c, e);
        evict(c);
    }
    pthread_cond_broadcast(&c->loaded);
}

static struct entry *wait_ready(struct dsb_cache *c, struct entry *e)
{
    atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
    c->st.waits++;
    while (e->state != E_READY)
        pthread_cond_wait(&c->loaded, &c->lock);
    return e;
}

struct loader {
    dsb_cache_load_fn fn;        /* a document, serialised here */
    dsb_cache_bytes_fn bytes_fn; /* or the bytes themselves */
    void *ctx;
};

static const struct dsb_cached *get(struct dsb_cache *c, const char *source,
                                    const char *key, const struct loader *l,
                                    int *hit, const int64_t *until_ms,
                                    int lean);

const struct dsb_cached *dsb_cache_get(struct dsb_cache *c, const char *source,
                                       const char *key, dsb_cache_load_fn fn,
                                       void *ctx, int *hit)
{
    struct loader l = {fn, NULL, ctx};

    return get(c, source, key, fn ? &l : NULL, hit, NULL, 0);
}

const struct dsb_cached *dsb_cache_get_until(struct dsb_cache *c,
                                             const char *source,
                                             const char *key,
                                             dsb_cache_load_fn fn, void *ctx,
                                             int *hit, const int64_t *until_ms)
{
    struct loader l = {fn, NULL, ctx};

    return get(c, source, key, fn ? &l : NULL, hit, until_ms, 0);
}

const struct dsb_cached *dsb_cache_get_lean(struct dsb_cache *c,
                                            const char *source, const char *key,
                                            dsb_cache_load_fn fn, void *ctx,
                                            int *hit)
{
    struct loader l = {fn, NULL, ctx};

    return get(c, source, key, fn ? &l : NULL, hit, NULL, 1);
}

const struct dsb_cached *
dsb_cache_get_bytes(struct dsb_cache *c, const char *source, const char *key,
                    dsb_cache_bytes_fn fn, void *ctx, int *hit)
{
    struct loader l = {NULL, fn, ctx};

    return get(c, source, key, fn ? &l : NULL, hit, NULL, 1);
}

uint64_t dsb_cache_epoch(struct dsb_cache *c, const char *source)
{
    struct epoch *g;
    uint64_t n;

    pthread_mutex_lock(&c->lock);
    g = epoch_of(c, source);
    /* out of memory: a value no other call returns, so nothing is reused */
    n = g ? g->n : (uint64_t)dsb_monotonic_us() | 1ull << 63;
    pthread_mutex_unlock(&c->lock);
    return n;
}

static const struct dsb_cached *get(struct dsb_cache *c, const char *source,
                                    const char *key, const struct loader *fn,
                                    int *hit, const int64_t *until_ms, int lean)
{
    size_t ls = strlen(source), lk = strlen(key);
    char *full = malloc(ls + lk + 2);
    uint64_t h;
    struct entry *e;

    *hit = 0;
    if (!full)
        return NULL;
    memcpy(full, source, ls);
    full[ls] = '|';
    memcpy(full + ls + 1, key, lk + 1);
    h = fnv1a(full, ls + lk + 1);
    pthread_mutex_lock(&c->lock);
    e = find(c, full, h);
    if (e && e->state == E_READY && e->expires_ms <= c->clock()) {
        detach(c, e);
        e = NULL;
    }
    if (e && e->state == E_LOADING && !fn) {
        e = NULL; /* a peek does not wait */
    } else if (e && e->state == E_LOADING) {
        e = wait_ready(c, e);
        c->st.hits++;
        *hit = 1;
    } else if (e) {
        atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
        if (c->head != e) { /* a hot entry stays put: no writes */
            lru_unlink(c, e);
            lru_push(c, e);
        }
        c->st.hits++;
        *hit = 1;
    } else if (fn && (e = insert_loading(c, source, full, h)) != NULL) {
        e->lean = lean;
        c->st.misses++;
        pthread_mutex_unlock(&c->lock);
        load(e, fn->fn, fn->bytes_fn, fn->ctx);
        pthread_mutex_lock(&c->lock);
        publish(c, e, until_ms);
    }
    pthread_mutex_unlock(&c->lock);
    free(full);
    return e ? &e->v : NULL;
}

void dsb_cache_release(struct dsb_cache *c, const struct dsb_cached *v)
{
    (void)c;
    if (v)
        entry_unref((struct entry *)(void *)v);
}

void dsb_cache_flush(struct dsb_cache *c, const char *source)
{
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->n_buckets; i++) {
        struct entry *e = c->buckets[i], *next;
        for (; e; e = next) {
            next = e->hnext;
            if (!source || strcmp(e->source, source) == 0)
                detach(c, e);
        }
    }
    pthread_mutex_unlock(&c->lock);
}

void dsb_cache_stats(struct dsb_cache *c, struct dsb_cache_stats *out)
{
    pthread_mutex_lock(&c->lock);
    *out = c->st;
    out->entries = c->n_entries;
    out->bytes = c->bytes;
    pthread_mutex_unlock(&c->lock);
}
