/* Metadata cache: per-source TTL, LRU bound, single-flight loads, ETags.
 * Values are kept serialised once, so a hit costs a lookup and a copy. */
#ifndef DSB_CORE_CACHE_H
#define DSB_CORE_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "dsbroker/plugin.h"
#include "util.h"

struct dsb_cache;

/* One cached answer.  Immutable while a caller holds it.  A loaded answer
 * has a body; an error has none.  A lean answer (dsb_cache_get_lean) of
 * DSB_CACHE_LEAN_BYTES or more keeps only its body: use dsb_cached_doc
 * where any answer's document is needed. */
#define DSB_CACHE_LEAN_BYTES (256u << 10)
struct dsb_cached {
    json_t *doc; /* the loaded document; NULL for an error or a lean one */
    char *body;  /* the document serialised compactly (NUL-terminated);
                  * NULL for an error */
    size_t len;
    char *aux;            /* what a bytes loader noted beside the body (a
                           * listing page's next_page_token), or NULL */
    char etag[24];        /* "\"<16 hex>\"": FNV-1a 64 of body */
    struct dsb_error err; /* when doc is NULL */
    int64_t expires_ms;   /* monotonic ms at which it goes stale */
};

/* Fills *out (a new reference) or returns -1 with err set. */
typedef int (*dsb_cache_load_fn)(void *ctx, json_t **out,
                                 struct dsb_error *err);

/* Fills out (empty on entry) with the answer's bytes, a JSON document, or
 * returns -1 with err set; the cache takes what out holds, and *aux (NULL
 * on entry; malloc'd) as the answer's aux. */
typedef int (*dsb_cache_bytes_fn)(void *ctx, struct dsb_sb *out, char **aux,
                                  struct dsb_error *err);

struct dsb_cache_stats {
    uint64_t hits, misses, waits, evictions;
    size_t entries;
    size_t bytes; /* of the answers held, as served */
};

/* A cache of at most max_entries; ttl_ms applies to sources without an
 * override; error_ttl_ms 0 means errors are never kept.  NULL when memory
 * is exhausted. */
struct dsb_cache *dsb_cache_new(size_t max_entries, int64_t ttl_ms,
                                int64_t error_ttl_ms);
/* Frees the cache; entries still held by callers stay valid until they are
 * released. */
void dsb_cache_free(struct dsb_cache *c);
/* Sets the TTL of one source (copies the name). */
int dsb_cache_set_source_ttl(struct dsb_cache *c, const char *source,
                             int64_t ttl_ms);

/*
 * Returns the entry for (source, key), loading it with fn(ctx) on a miss.
 * Concurrent misses for one key make one call: the others wait for its
 * result (errors included).  *hit tells whether the value was cached.
 * Never NULL except when memory is exhausted.  fn NULL is a peek: a fresh
 * entry or NULL, nothing loaded or waited for.  Release with
 * dsb_cache_release.
 */
const struct dsb_cached *dsb_cache_get(struct dsb_cache *c, const char *source,
                                       const char *key, dsb_cache_load_fn fn,
                                       void *ctx, int *hit);
/* dsb_cache_get, but a value loaded by this call goes stale at *until_ms
 * (read after fn ran; INT64_MAX: the source's TTL) when that is sooner. */
const struct dsb_cached *dsb_cache_get_until(struct dsb_cache *c,
                                             const char *source,
                                             const char *key,
                                             dsb_cache_load_fn fn, void *ctx,
                                             int *hit, const int64_t *until_ms);
/* dsb_cache_get for an answer mostly served as bytes (a listing page): a
 * large one keeps no document once serialised, so the cache holds about
 * the size of its answers rather than of their jansson trees (~10x). */
const struct dsb_cached *dsb_cache_get_lean(struct dsb_cache *c,
                                            const char *source, const char *key,
                                            dsb_cache_load_fn fn, void *ctx,
                                            int *hit);
/* dsb_cache_get for an answer made as bytes (a listing page a plugin
 * wrote as JSON text, a front door's answer built page by page): kept as
 * those bytes, no document, whatever its size. */
const struct dsb_cached *
dsb_cache_get_bytes(struct dsb_cache *c, const char *source, const char *key,
                    dsb_cache_bytes_fn fn, void *ctx, int *hit);
/* The document of a loaded answer, a new reference (parsed from the body
 * of a lean one), or NULL for an error or when memory is exhausted. */
json_t *dsb_cached_doc(const struct dsb_cached *v);
void dsb_cache_release(struct dsb_cache *c, const struct dsb_cached *v);
/* A counter that changes whenever an entry of source leaves the cache
 * (flushed, expired, evicted, or never kept: TTL 0): a value built from
 * entries of source under a key that includes it goes stale with them. */
uint64_t dsb_cache_epoch(struct dsb_cache *c, const char *source);
/* Drops every entry of a source (NULL: all). Loads in flight finish but
 * their results are not kept. */
void dsb_cache_flush(struct dsb_cache *c, const char *source);
void dsb_cache_stats(struct dsb_cache *c, struct dsb_cache_stats *out);

/* The monotonic clock (ms) entries expire by; NULL: dsb_monotonic_ms.
 * Set before the cache is used (a test seam). */
void dsb_cache_set_clock(struct dsb_cache *c, int64_t (*clock_ms)(void));
/* Calls fn for every fresh, successfully loaded entry that want (NULL:
 * every one) wants, asked before the document is parsed (key without its
 * source; the document borrowed for the call, parsed for a lean one).
 * The entries are held for the walk and fn runs outside the cache's
 * lock.  A non-zero return stops the walk. */
typedef int (*dsb_cache_want_fn)(void *ctx, const char *source,
                                 const char *key);
typedef int (*dsb_cache_visit_fn)(void *ctx, const char *source,
                                  const char *key, const json_t *doc);
void dsb_cache_foreach(struct dsb_cache *c, dsb_cache_want_fn want,
                       dsb_cache_visit_fn fn, void *ctx);

/* Cache keys are built part by part into a dsb_sb, each part length-
 * prefixed ("<len>:<part>|", "-|" for NULL, "<digits>|" for a number: no
 * ':', so it cannot be taken for a length-prefixed part) so that no two
 * lists of parts give the same key.  A failed allocation latches key->oom. */
void dsb_cache_key_add(struct dsb_sb *key, const char *part);
void dsb_cache_key_num(struct dsb_sb *key, uint64_t n);
/* Part n of a key built so (malloc'd; a number part as its digits), or
 * NULL for a NULL part, past the end or a malformed key. */
char *dsb_cache_key_get(const char *key, int n);
/* Quoted ETag of bytes (FNV-1a 64). */
void dsb_etag(const char *bytes, size_t len, char out[24]);

#endif
