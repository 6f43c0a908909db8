/*
 * The route memo: for a GET of a cacheable route, (method, path and query
 * as received, principal) -> (route, cache key), remembered per
 * configuration generation once the access checks of the key passed.  A
 * repeated request then skips splitting and routing its path, decoding its
 * query and building its key; it still authenticates (the principal is part
 * of the memo's key) and still reads the cache, so freshness, flushes and
 * expiry are the cache's as before.
 *
 * Readers take no lock: the table is a fixed array of slots filled once
 * each by compare-and-swap with immutable records, freed with the
 * generation (dsb_gen.door).  When it is full, requests take the normal
 * path.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

#define MEMO_SLOTS 4096 /* a power of two */
#define MEMO_PROBES 8
#define MEMO_KEY_MAX 2048

struct memo_rec {
    uint64_t hash;
    const struct dsb_principal *principal;
    const struct dsb_http_route *route;
    const char *source; /* borrowed from the generation */
    char *request;      /* "METHOD path?query" */
    char *key;          /* the cache key */
};

struct dsb_memo {
    _Atomic(struct memo_rec *) slot[MEMO_SLOTS];
};

void dsb_memo_free(void *p)
{
    struct dsb_memo *m = p;

    for (size_t i = 0; i < MEMO_SLOTS; i++) {
        struct memo_rec *r = atomic_load(&m->slot[i]);
        if (r) {
            free(r->request);
            free(r->key);
            free(r);
        }
    }
    free(m);
}

/* The generation's memo, made on first use; NULL when out of memory. */
static struct dsb_memo *memo_of(struct dsb_gen *g)
{
    void *m = atomic_load_explicit(&g->door, memory_order_acquire), *none;

    if (m)
        return m;
    m = calloc(1, sizeof(struct dsb_memo));
    none = NULL;
    if (!m)
        return NULL;
    if (!atomic_compare_exchange_strong(&g->door, &none, m)) {
        free(m);
        return none; /* another thread installed one first */
    }
    return m;
}

static uint64_t hash_of(const char *s, const struct dsb_principal *p)
{
    uint64_t h = 1469598103934665603ull ^ (uint64_t)(uintptr_t)p;

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h ? h : 1;
}

struct args {
    char *buf;
    size_t len, cap;
    int over;
};

static enum MHD_Result add_arg(void *cls, enum MHD_ValueKind kind,
                               const char *key, const char *value)
{
    struct args *a = cls;
    size_t kl = strlen(key), vl = value ? strlen(value) : 0;

    (void)kind;
    if (a->len + kl + vl + 3 >= a->cap) {
        a->over = 1;
        return MHD_NO;
    }
    a->buf[a->len++] = '&';
    memcpy(a->buf + a->len, key, kl);
    a->len += kl;
    if (value) {
        a->buf[a->len++] = '=';
        memcpy(a->buf + a->len, value, vl);
        a->len += vl;
    }
    a->buf[a->len] = '\0';
    return MHD_YES;
}

/* "METHOD path&k=v..." of a request received by libmicrohttpd (its query
 * arguments as received, in order) into buf; -1 when it does not fit or
 * the request is not one the memo serves. */
static int request_line(struct dsb_req *r, char *buf, size_t cap)
{
    struct args a = {buf, 0, cap, 0};
    size_t ml = strlen(r->method), ul = strlen(r->url);

    if (r->ex || (strcmp(r->method, "GET") && strcmp(r->method, "HEAD")) ||
        ml + ul + 2 >= cap)
        return -1;
    memcpy(buf, r->method, ml);
    buf[ml] = ' ';
    memcpy(buf + ml + 1, r->url, ul + 1);
    a.len = ml + 1 + ul;
    MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, add_arg, &a);
    return a.over ? -1 : 0;
}

int dsb_memo_find(struct dsb_req *r, const struct dsb_principal *p,
                  struct dsb_svc_key *key)
{
    char line[MEMO_KEY_MAX];
    struct dsb_memo *m =
        atomic_load_explicit(&r->gen->door, memory_order_acquire);
    uint64_t h;

    if (!m || request_line(r, line, sizeof(line)) < 0)
        return 0;
    h = hash_of(line, p);
    for (size_t i = 0; i < MEMO_PROBES; i++) {
        struct memo_rec *rec = atomic_load_explicit(
            &m->slot[(h + i) & (MEMO_SLOTS - 1)], memory_order_acquire);
        if (!rec)
            return 0;
        if (rec->hash == h && rec->principal == p &&
            strcmp(rec->request, line) == 0) {
            r->route = rec->route;
            key->source = rec->source;
            key->key = rec->key; /* borrowed: not for dsb_svc_key_free */
            return 1;
        }
    }
    return 0;
}

void dsb_memo_remember(struct dsb_req *r, const struct dsb_svc_key *key)
{
    char line[MEMO_KEY_MAX];
    struct dsb_memo *m;
    struct memo_rec *rec;
    uint64_t h;

    if (request_line(r, line, sizeof(line)) < 0 || !(m = memo_of(r->gen)) ||
        !(rec = calloc(1, sizeof(*rec))))
        return;
    h = hash_of(line, r->ctx.principal);
    *rec = (struct memo_rec){h,           r->ctx.principal, r->route,
                             key->source, strdup(line),     strdup(key->key)};
    for (size_t i = 0; rec->request && rec->key && i < MEMO_PROBES; i++) {
        struct memo_rec *none = NULL;
        if (atomic_compare_exchange_strong(&m->slot[(h + i) & (MEMO_SLOTS - 1)],
                                           &none, rec))
            return;
        if (none->hash == h && none->principal == rec->principal &&
            strcmp(none->request, line) == 0)
            break; /* remembered already */
    }
    free(rec->request);
    free(rec->key);
    free(rec);
}
