/* The Spark context of a session, memoised in the metadata cache. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "context.h"
#include "service/internal.h"

/* The context builder's spec function: read specs through the cache. */
struct spec_ctx {
    const struct dsb_ctx *c;
    int64_t until; /* the soonest a read spec used goes stale */
};

static int spec_through_cache(void *ctx, struct dsb_source *src,
                              const struct dsb_selection *sel,
                              const struct dsb_read_target *t, json_t **out,
                              struct dsb_error *err)
{
    struct spec_ctx *s = ctx;

    return dsb_svc_read_spec(s->c, src, sel, t, &s->until, out, err);
}

static int build(const struct dsb_ctx *c, const struct dsb_selection *sel,
                 size_t n, const char *exec, int64_t *until, json_t **out,
                 struct dsb_error *err)
{
    struct spec_ctx s = {c, INT64_MAX};
    struct dsb_context_opts o = {.spec = spec_through_cache, .spec_ctx = &s};
    int rc = dsb_svc_describe_many(c, sel, n, 1, err);

    if (rc == 0)
        rc = dsb_context_build(c->gen->broker, sel, n, exec, &o, out, err);
    *until = s.until;
    return rc;
}

/* A context is memoised in the metadata cache: its key holds the
 * selections, the executor asked for and the epoch of every source they
 * read, so a refresh, an expiry or a reload of any of them makes a new
 * key; it goes stale no later than the read specs it was built from. */
struct context_load {
    const struct dsb_ctx *c;
    const struct dsb_selection *sel;
    size_t n;
    const char *exec;
    int64_t until;
};

static int load_context(void *ctx, json_t **out, struct dsb_error *err)
{
    struct context_load *l = ctx;

    return build(l->c, l->sel, l->n, l->exec, &l->until, out, err);
}

static char *context_key(const struct dsb_ctx *c,
                         const struct dsb_selection *sel, size_t n,
                         const char *exec)
{
    struct dsb_sb k = {0};

    dsb_cache_key_add(&k, exec);
    for (size_t i = 0; i < n; i++) {
        dsb_cache_key_add(&k, sel[i].source);
        dsb_cache_key_add(&k, sel[i].database);
        dsb_cache_key_add(&k, sel[i].schema);
        dsb_cache_key_add(&k, sel[i].table);
        dsb_cache_key_num(&k, dsb_cache_epoch(c->gen->cache, sel[i].source));
    }
    return dsb_sb_take(&k);
}

static const struct dsb_cached *memoised(const struct dsb_ctx *c,
                                         const struct dsb_selection *sel,
                                         size_t n, const char *exec, int *hit,
                                         struct dsb_error *err)
{
    struct context_load l = {c, sel, n, exec, INT64_MAX};
    char *key = context_key(c, sel, n, exec);
    const struct dsb_cached *v = NULL;

    if (key)
        v = dsb_cache_get_until(c->gen->cache, DSB_CONTEXT_CACHE, key,
                                load_context, &l, hit, &l.until);
    free(key);
    if (!v)
        dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
    else if (!*hit && v->len >= DSB_TRIM_AFTER_BYTES)
        dsb_svc_trim_soon(c->svc);
    return v;
}

const struct dsb_cached *dsb_svc_context(const struct dsb_ctx *c,
                                         const char *session,
                                         const char *executor, int *hit,
                                         struct dsb_error *err)
{
    *hit = 0;
    if (dsb_svc_session_access(c, session, DSB_SCOPE_CONTEXT, err) < 0)
        return NULL;
    return dsb_svc_context_held(c, session, executor, hit, err);
}

const struct dsb_cached *dsb_svc_context_held(const struct dsb_ctx *c,
                                              const char *session,
                                              const char *executor, int *hit,
                                              struct dsb_error *err)
{
    struct dsb_selection *sel;
    const struct dsb_cached *v = NULL;
    json_t *items = NULL;
    size_t n = 0;

    *hit = 0;
    sel = dsb_svc_stored(c, session, &items, &n, err);
    if (sel)
        v = memoised(c, sel, n, executor, hit, err);
    free(sel);
    json_decref(items);
    return v;
}

json_t *dsb_svc_context_doc(const struct dsb_ctx *c, const char *session,
                            const char *executor, struct dsb_error *err)
{
    struct dsb_selection *sel = NULL;
    json_t *items = NULL, *ctx = NULL;
    int64_t until;
    size_t n = 0;

    sel = dsb_svc_stored(c, session, &items, &n, err);
    if (sel && build(c, sel, n, executor, &until, &ctx, err) < 0)
        ctx = NULL;
    free(sel);
    json_decref(items);
    return ctx;
}

int dsb_svc_plan(const struct dsb_ctx *c, const char *session,
                 const char *executor, json_t **out, struct dsb_error *err)
{
    json_t *ctx;

    if (dsb_svc_session_access(c, session, DSB_SCOPE_JOBS, err) < 0 ||
        !(ctx = dsb_svc_context_doc(c, session, executor, err)))
        return -1;
    *out = json_incref(json_object_get(ctx, "route"));
    json_decref(ctx);
    return *out ? 0
                : dsb_error_set(err, DSB_E_INTERNAL,
                                "the context has "
                                "no route");
}
