/* Sources, plugins, listings and descriptions through the metadata cache,
 * and search over what the cache holds. */
#define _GNU_SOURCE /* strcasestr */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "options.h"
#include "replica.h"
#include "service/internal.h"
#include "store.h"

#define MAX_PAGES 1000

static const char *const state_names[] = {"open", "disabled", "failed"};

int64_t dsb_svc_call_deadline(const struct dsb_ctx *c)
{
    int64_t own =
        dsb_monotonic_ms() + c->gen->broker->cfg->settings.plugin_timeout_ms;

    return c->deadline_ms > 0 && c->deadline_ms < own ? c->deadline_ms : own;
}

/* ------------------------------------------------------------ sources */

static struct dsb_source *find_source(const struct dsb_ctx *c, const char *name,
                                      struct dsb_error *err)
{
    struct dsb_source *s = dsb_broker_source(c->gen->broker, name);

    if (!s) {
        dsb_error_set(err, DSB_E_NOT_FOUND, "no such source");
        dsb_error_detail(err, "%s", name);
        dsb_error_hint(err, "GET /v1/sources lists them");
        return NULL;
    }
    if (!dsb_principal_may_use(c->principal, name)) {
        dsb_svc_forbidden(err, "this token may not use the source", name, NULL);
        return NULL;
    }
    return s;
}

struct dsb_source *dsb_svc_use_source(const struct dsb_ctx *c, const char *name,
                                      struct dsb_error *err)
{
    if (dsb_svc_require(c, DSB_SCOPE_READ, err) < 0)
        return NULL;
    return find_source(c, name, err);
}

static json_t *source_json(const struct dsb_source *s)
{
    json_t *o =
        json_pack("{s:s, s:s, s:s, s:s?, s:s, s:s}", "name", s->conf->name,
                  "plugin", s->conf->plugin, "network", s->network,
                  "description", s->conf->description, "state",
                  state_names[s->state], "config_file", s->conf->file);

    if (s->plugin && (s->plugin->vt.flags & DSB_SRC_FLAT_SCHEMA))
        json_object_set_new(o, "flat_schema",
                            json_string(s->plugin->vt.flat_schema));
    if (s->state == DSB_SOURCE_FAILED)
        json_object_set_new(o, "error",
                            json_pack("{s:s, s:s, s:s}", "code",
                                      dsb_err_code_name(s->open_error.code),
                                      "message", s->open_error.message, "hint",
                                      s->open_error.hint));
    return o;
}

int dsb_svc_sources(const struct dsb_ctx *c, json_t **out,
                    struct dsb_error *err)
{
    struct dsb_broker *b = c->gen->broker;
    json_t *items;

    if (dsb_svc_require(c, DSB_SCOPE_READ, err) < 0)
        return -1;
    items = json_array();
    for (size_t i = 0; i < b->n_sources; i++)
        if (dsb_principal_may_use(c->principal, b->sources[i].conf->name))
            json_array_append_new(items, source_json(&b->sources[i]));
    *out = json_pack("{s:o}", "items", items);
    return 0;
}

static int check(const struct dsb_ctx *c, struct dsb_source *s, json_t **out,
                 struct dsb_error *err)
{
    struct dsb_slot_args a = {.slot = DSB_SLOT_CHECK};

    return dsb_source_call(s, &a, c->request_id, dsb_svc_call_deadline(c), out,
                           err);
}

/* Runs check; a plugin error becomes {"ok": false, "error": {...}}. */
static json_t *health(const struct dsb_ctx *c, struct dsb_source *s)
{
    struct dsb_error err;
    json_t *out = NULL;
    int64_t t0 = dsb_monotonic_us();

    if (check(c, s, &out, &err) == 0) {
        if (!json_object_get(out, "latency_ms"))
            json_object_set_new(
                out, "latency_ms",
                json_real((double)(dsb_monotonic_us() - t0) / 1e3));
        return out;
    }
    return json_pack("{s:b, s:{s:s, s:s, s:s, s:b}}", "ok", 0, "error", "code",
                     dsb_err_code_name(err.code), "message", err.message,
                     "hint", err.hint, "retryable", err.retryable);
}

/* A source's options but its secret ones (an editor starts from them;
 * secret options left out of a PUT keep their stored values). */
static json_t *public_options(const struct dsb_source *s)
{
    json_t *o = json_deep_copy(s->conf->options);

    for (const struct dsb_option *opt = s->plugin ? s->plugin->vt.options
                                                  : NULL;
         o && opt && opt->name; opt++)
        if (opt->flags & DSB_OPT_SECRET)
            json_object_del(o, opt->name);
    return o ? o : json_object();
}

int dsb_svc_source(const struct dsb_ctx *c, const char *name, json_t **out,
                   struct dsb_error *err)
{
    struct dsb_source *s = dsb_svc_use_source(c, name, err);
    char etag[68];

    if (!s)
        return -1;
    *out = source_json(s);
    if (dsb_svc_source_etag(c, name, etag) == 0) {
        json_object_set_new(*out, "etag", json_string(etag));
        if (c->principal->scopes & DSB_SCOPE_ADMIN)
            json_object_set_new(*out, "options", public_options(s));
    }
    json_object_set_new(*out, "health", health(c, s));
    return 0;
}

int dsb_svc_source_check(const struct dsb_ctx *c, const char *name,
                         json_t **out, struct dsb_error *err)
{
    struct dsb_source *s = dsb_svc_use_source(c, name, err);

    return s ? check(c, s, out, err) : -1;
}

/* Tells the other replicas (PostgreSQL store) to flush the source too;
 * when the store cannot be reached they are not told (logged). */
static int notify_refresh(const struct dsb_ctx *c, const struct dsb_source *s)
{
    char *event = dsb_replica_event("refresh", s->conf->name);
    struct dsb_error err = {0};
    int rc = event ? dsb_shared_notify(c->svc->shared_short, event, &err) : -1;

    if (rc < 0)
        dsb_logf(DSB_LOG_WARN, "replicas",
                 "the other replicas were not told of the refresh of %s: %s",
                 s->conf->name, event ? err.message : "out of memory");
    free(event);
    return rc;
}

int dsb_svc_source_refresh(const struct dsb_ctx *c, const char *name,
                           json_t **out, struct dsb_error *err)
{
    struct dsb_source *s;

    if (dsb_svc_require(c, DSB_SCOPE_ADMIN, err) < 0 ||
        !(s = find_source(c, name, err)))
        return -1;
    dsb_cache_flush(c->gen->cache, s->conf->name);
    *out = json_pack("{s:s, s:b}", "source", s->conf->name, "flushed", 1);
    if (c->svc->shared)
        json_object_set_new(*out, "replicas_notified",
                            json_boolean(notify_refresh(c, s) == 0));
    return 0;
}

int dsb_svc_plugins(const struct dsb_ctx *c, json_t **out,
                    struct dsb_error *err)
{
    const struct dsb_plugin_set *ps = &c->gen->broker->plugins;
    json_t *items;

    if (dsb_svc_require(c, DSB_SCOPE_READ, err) < 0)
        return -1;
    items = json_array();
    for (size_t i = 0; i < ps->n; i++)
        json_array_append_new(items, dsb_plugin_describe(&ps->items[i], 0));
    *out = json_pack("{s:o}", "items", items);
    return 0;
}

int dsb_svc_plugin_schema(const struct dsb_ctx *c, const char *name,
                          json_t **out, struct dsb_error *err)
{
    const struct dsb_plugin *p;

    if (dsb_svc_require(c, DSB_SCOPE_READ, err) < 0)
        return -1;
    p = dsb_plugins_find(&c->gen->broker->plugins, name);
    if (!p) {
        dsb_error_set(err, DSB_E_NOT_FOUND, "no such plugin");
        dsb_error_detail(err, "%s", name);
        dsb_error_hint(err, "GET /v1/plugins lists them");
        return -1;
    }
    *out = dsb_options_schema(p->vt.options);
    return 0;
}

/* ------------------------------------------------------------- browse */

void dsb_svc_key_free(struct dsb_svc_key *k)
{
    free(k->key);
    k->key = NULL;
}

/* The cache key of one slot call: every argument, length-prefixed. */
static char *slot_key(const struct dsb_slot_args *a)
{
    struct dsb_sb k = {0};

    dsb_cache_key_add(&k, dsb_slot_name(a->slot));
    dsb_cache_key_add(&k, a->database);
    dsb_cache_key_add(&k, a->schema);
    dsb_cache_key_add(&k, a->table);
    dsb_cache_key_add(&k, a->name_filter);
    dsb_cache_key_num(&k, a->page_size);
    dsb_cache_key_add(&k, a->page_token);
    dsb_cache_key_add(&k, a->target ? a->target->executor : NULL);
    return dsb_sb_take(&k);
}

static void browse_args(const struct dsb_browse *b, struct dsb_slot_args *a)
{
    memset(a, 0, sizeof(*a));
    a->slot = b->slot;
    a->database = b->slot == DSB_SLOT_LIST_DATABASES ? NULL : b->database;
    a->schema =
        b->slot == DSB_SLOT_LIST_TABLES || b->slot == DSB_SLOT_DESCRIBE_TABLE
            ? b->schema
            : NULL;
    a->table = b->slot == DSB_SLOT_DESCRIBE_TABLE ? b->table : NULL;
    a->name_filter = b->filter;
    a->page_token = b->page_token;
    a->page_size = b->page_size;
}

static int keyed(const struct dsb_ctx *c, struct dsb_source *s,
                 const struct dsb_slot_args *a, struct dsb_svc_key *key,
                 struct dsb_error *err)
{
    key->source = s->conf->name;
    key->key = slot_key(a);
    (void)c;
    return key->key ? 0 : dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
}

int dsb_svc_browse_key(const struct dsb_ctx *c, const struct dsb_browse *b,
                       struct dsb_svc_key *key, struct dsb_error *err)
{
    struct dsb_source *s = dsb_svc_use_source(c, b->source, err);
    struct dsb_slot_args a;

    key->key = NULL;
    if (!s)
        return -1;
    browse_args(b, &a);
    return keyed(c, s, &a, key, err);
}

static void read_ahead_keyed(const struct dsb_ctx *c,
                             const struct dsb_svc_key *key, const char *next);

const struct dsb_cached *dsb_svc_peek(const struct dsb_ctx *c,
                                      const struct dsb_svc_key *key)
{
    int hit = 0;
    const struct dsb_cached *v =
        dsb_cache_get(c->gen->cache, key->source, key->key, NULL, NULL, &hit);

    if (v)
        dsb_metrics_cache(c->svc->metrics, 1);
    if (v && v->aux)
        read_ahead_keyed(c, key, v->aux);
    return v;
}

struct load_ctx {
    const struct dsb_ctx *c;
    struct dsb_source *src;
    const struct dsb_slot_args *a;
};

static int load(void *ctx, json_t **out, struct dsb_error *err)
{
    struct load_ctx *l = ctx;
    int64_t t0 = dsb_monotonic_us();
    int rc = dsb_source_call(l->src, l->a, l->c->request_id,
                             dsb_svc_call_deadline(l->c), out, err);

    dsb_metrics_plugin(l->c->svc->metrics, l->src->conf->name,
                       dsb_slot_name(l->a->slot), dsb_monotonic_us() - t0,
                       rc < 0);
    return rc;
}

/* A listing of tables the plugin writes as JSON text (ABI 1.3), straight
 * into the cache's bytes: no tree between the catalog and the client. */
static int load_json(void *ctx, struct dsb_sb *out, char **next,
                     struct dsb_error *err)
{
    struct load_ctx *l = ctx;
    int64_t t0 = dsb_monotonic_us();
    int rc = dsb_source_list_json(l->src, l->a, l->c->request_id,
                                  dsb_svc_call_deadline(l->c), out, next, err);

    dsb_metrics_plugin(l->c->svc->metrics, l->src->conf->name,
                       dsb_slot_name(l->a->slot), dsb_monotonic_us() - t0,
                       rc < 0);
    return rc;
}

/* ---------------------------------------------------------- read-ahead */

/*
 * A client walking a wide listing of tables asks for page after page; each
 * page the plugin wrote as text (it tells the next page's token) has the
 * next one loaded into the cache at once, on the read-ahead's thread, while
 * the client is still reading this one: the catalog's work on page n+1
 * overlaps the client's (and the network's) on page n.  One page ahead of
 * the client, not the whole schema: a client that stops after the first
 * page costs one page more.  A client asking for the page meanwhile waits
 * for that load (the cache's single flight) rather than making another.
 */
#define AHEAD_MAX 8 /* pending read-aheads; more are dropped */

struct dsb_ahead {
    struct dsb_ahead *next;
    struct dsb_gen *gen; /* held */
    char *request_id, *source, *database, *schema, *filter, *token;
    size_t page_size;
};

static void ahead_free(struct dsb_ahead *h)
{
    if (!h)
        return;
    dsb_gen_release(h->gen);
    free(h->request_id);
    free(h->source);
    free(h->database);
    free(h->schema);
    free(h->filter);
    free(h->token);
    free(h);
}

static const struct dsb_cached *cached_call(const struct dsb_ctx *c,
                                            struct dsb_source *s,
                                            const struct dsb_slot_args *a,
                                            int *hit, struct dsb_error *err);

static void ahead_run(struct dsb_service *svc, struct dsb_ahead *h)
{
    struct dsb_ctx c = {.svc = svc,
                        .request_id = h->request_id,
                        /* nobody's: the page is loaded, not served (the
                         * client's own request is checked when it asks) */
                        .principal = &h->gen->anonymous,
                        .gen = h->gen,
                        .read_ahead = 1};
    struct dsb_slot_args a = {.slot = DSB_SLOT_LIST_TABLES,
                              .database = h->database,
                              .schema = h->schema,
                              .name_filter = h->filter,
                              .page_token = h->token,
                              .page_size = h->page_size};
    struct dsb_source *s = dsb_broker_source(h->gen->broker, h->source);
    struct dsb_error err;
    int hit;

    if (s)
        dsb_cache_release(h->gen->cache, cached_call(&c, s, &a, &hit, &err));
}

static void *ahead_main(void *arg)
{
    struct dsb_service *svc = arg;

    pthread_mutex_lock(&svc->ra_mu);
    while (!svc->ra_stop) {
        struct dsb_ahead *h = svc->ra_head;
        if (!h) {
            pthread_cond_wait(&svc->ra_cv, &svc->ra_mu);
            continue;
        }
        svc->ra_head = h->next;
        svc->ra_n--;
        pthread_mutex_unlock(&svc->ra_mu);
        ahead_run(svc, h);
        ahead_free(h);
        pthread_mutex_lock(&svc->ra_mu);
    }
    pthread_mutex_unlock(&svc->ra_mu);
    return NULL;
}

int dsb_svc_ahead_start(struct dsb_service *svc)
{
    pthread_mutex_init(&svc->ra_mu, NULL);
    pthread_cond_init(&svc->ra_cv, NULL);
    svc->ra_started =
        pthread_create(&svc->ra_thread, NULL, ahead_main, svc) == 0;
    return svc->ra_started ? 0 : -1;
}

void dsb_svc_ahead_stop(struct dsb_service *svc)
{
    if (!svc->ra_started)
        return;
    pthread_mutex_lock(&svc->ra_mu);
    svc->ra_stop = 1;
    pthread_cond_signal(&svc->ra_cv);
    pthread_mutex_unlock(&svc->ra_mu);
    pthread_join(svc->ra_thread, NULL);
    while (svc->ra_head) {
        struct dsb_ahead *h = svc->ra_head;
        svc->ra_head = h->next;
        ahead_free(h);
    }
    pthread_cond_destroy(&svc->ra_cv);
    pthread_mutex_destroy(&svc->ra_mu);
    svc->ra_started = 0;
}

static char *dup0(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* Queues the load of the page after a (whose token is next) unless the
 * cache holds it or the queue is full. */
static void read_ahead(const struct dsb_ctx *c, const char *source,
                       const struct dsb_slot_args *a, const char *next)
{
    struct dsb_service *svc = c->svc;
    struct dsb_slot_args b = *a;
    const struct dsb_cached *v;
    struct dsb_ahead *h;
    char *key;
    int hit;

    if (c->read_ahead || !svc->ra_started)
        return;
    b.page_token = next;
    if (!(key = slot_key(&b)))
        return;
    v = dsb_cache_get(c->gen->cache, source, key, NULL, NULL, &hit);
    free(key);
    dsb_cache_release(c->gen->cache, v);
    if (v || !(h = calloc(1, sizeof(*h))))
        return;
    h->gen = dsb_gen_hold(c->gen);
    h->request_id = dup0(c->request_id);
    h->source = dup0(source);
    h->database = dup0(a->database);
    h->schema = dup0(a->schema);
    h->filter = dup0(a->name_filter);
    h->token = dup0(next);
    h->page_size = a->page_size;
    if (!h->request_id || !h->source || !h->token ||
        (a->database && !h->database) || (a->schema && !h->schema) ||
        (a->name_filter && !h->filter)) {
        ahead_free(h);
        return;
    }
    pthread_mutex_lock(&svc->ra_mu);
    if (svc->ra_n < AHEAD_MAX && !svc->ra_stop) {
        struct dsb_ahead **tail = &svc->ra_head;
        while (*tail)
            tail = &(*tail)->next;
        *tail = h;
        svc->ra_n++;
        h = NULL;
        pthread_cond_signal(&svc->ra_cv);
    }
    pthread_mutex_unlock(&svc->ra_mu);
    ahead_free(h);
}

/* read_ahead after a hit the front door found by its key alone (only a
 * page of tables written as text has an aux, its next token): the call's
 * arguments are read back from the key (slot_key's parts). */
static void read_ahead_keyed(const struct dsb_ctx *c,
                             const struct dsb_svc_key *key, const char *next)
{
    char *db = dsb_cache_key_get(key->key, 1);
    char *schema = dsb_cache_key_get(key->key, 2);
    char *filter = dsb_cache_key_get(key->key, 4);
    char *size = dsb_cache_key_get(key->key, 5);
    struct dsb_slot_args a = {.slot = DSB_SLOT_LIST_TABLES,
                              .database = db,
                              .schema = schema,
                              .name_filter = filter,
                              .page_size = size ? strtoull(size, NULL, 10) : 0};

    if (db && schema && size)
        read_ahead(c, key->source, &a, next);
    free(db);
    free(schema);
    free(filter);
    free(size);
}

/* Listings are lean in the cache: served as bytes, their trees are large. */
static int listing(enum dsb_slot k)
{
    return k == DSB_SLOT_LIST_DATABASES || k == DSB_SLOT_LIST_SCHEMAS ||
           k == DSB_SLOT_LIST_TABLES;
}

/* The cached answer of the slot call a, loaded by fn(ctx) on a miss, stale
 * no later than *until (NULL: the source's TTL). */
static const struct dsb_cached *
cached_load(const struct dsb_ctx *c, struct dsb_source *s,
            const struct dsb_slot_args *a, dsb_cache_load_fn fn, void *ctx,
            const int64_t *until, int *hit, struct dsb_error *err)
{
    struct dsb_svc_key key;
    const struct dsb_cached *v;

    *hit = 0;
    if (keyed(c, s, a, &key, err) < 0)
        return NULL;
    if (a->slot == DSB_SLOT_LIST_TABLES && fn == load &&
        dsb_source_lists_json(s)) {
        v = dsb_cache_get_bytes(c->gen->cache, key.source, key.key, load_json,
                                ctx, hit);
        if (v && v->aux)
            read_ahead(c, s->conf->name, a, v->aux);
    } else if (listing(a->slot) && !until)
        v = dsb_cache_get_lean(c->gen->cache, key.source, key.key, fn, ctx,
                               hit);
    else
        v = dsb_cache_get_until(c->gen->cache, key.source, key.key, fn, ctx,
                                hit, until);
    dsb_svc_key_free(&key);
    if (!v) {
        dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
        return NULL;
    }
    dsb_metrics_cache(c->svc->metrics, *hit);
    if (!*hit && v->len >= DSB_TRIM_AFTER_BYTES)
        dsb_svc_trim_soon(c->svc);
    return v;
}

/* The cached answer of one slot call (access already checked). */
static const struct dsb_cached *cached_call(const struct dsb_ctx *c,
                                            struct dsb_source *s,
                                            const struct dsb_slot_args *a,
                                            int *hit, struct dsb_error *err)
{
    struct load_ctx l = {c, s, a};

    return cached_load(c, s, a, load, &l, NULL, hit, err);
}

const struct dsb_cached *dsb_svc_browse(const struct dsb_ctx *c,
                                        const struct dsb_browse *b, int *hit,
                                        struct dsb_error *err)
{
    struct dsb_source *s = dsb_svc_use_source(c, b->source, err);
    struct dsb_slot_args a;

    *hit = 0;
    if (!s)
        return NULL;
    browse_args(b, &a);
    return cached_call(c, s, &a, hit, err);
}

void dsb_svc_release(const struct dsb_ctx *c, const struct dsb_cached *v)
{
    dsb_cache_release(c->gen->cache, v);
}

json_t *dsb_svc_browse_doc(const struct dsb_ctx *c, const struct dsb_browse *b,
                           struct dsb_error *err)
{
    int hit;
    const struct dsb_cached *v = dsb_svc_browse(c, b, &hit, err);
    json_t *doc = v ? dsb_cached_doc(v) : NULL;

    if (v && !v->body)
        *err = v->err;
    else if (v && !doc)
        dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
    dsb_svc_release(c, v);
    return doc;
}

int dsb_svc_browse_pages(const struct dsb_ctx *c, const struct dsb_browse *b,
                         dsb_svc_page_fn fn, void *ctx, struct dsb_error *err)
{
    struct dsb_browse page = *b;
    char *token = NULL;
    int rc = 0, n;

    page.page_token = NULL;
    for (n = 0; n < MAX_PAGES && rc == 0; n++) {
        json_t *doc = dsb_svc_browse_doc(c, &page, err);
        const char *next;
        if (!doc) {
            rc = -1;
            break;
        }
        rc = fn(ctx, json_object_get(doc, "items"));
        next = json_string_value(json_object_get(doc, "next_page_token"));
        free(token);
        page.page_token = token = next ? strdup(next) : NULL;
        json_decref(doc);
        if (!page.page_token)
            break;
    }
    free(token);
    if (n > 0)
        dsb_svc_trim_soon(c->svc); /* pages of trees came and went */
    return rc;
}

static int add_names(void *ctx, const json_t *items)
{
    const json_t *it;
    size_t i;

    json_array_foreach(items, i, it)
    {
        json_t *name = json_object_get(it, "name");
        if (json_array_append(ctx, name ? name : json_null()) < 0)
            return 1;
    }
    return 0;
}

int dsb_svc_browse_names(const struct dsb_ctx *c, const struct dsb_browse *b,
                         json_t **out, struct dsb_error *err)
{
    json_t *names = json_array();
    int rc = names ? dsb_svc_browse_pages(c, b, add_names, names, err) : 1;

    if (rc > 0)
        rc = dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
    if (rc == 0)
        *out = names;
    else
        json_decref(names);
    return rc;
}

/* ------------------------------------------------------ shaped answers */

struct shaped {
    const struct dsb_ctx *c;
    struct dsb_source *src;
    const struct dsb_browse *b;
    const struct dsb_svc_shape *sh;
};

/* The plugin's pages, uncached (the shaped answer is what is kept), each
 * page's tree freed before the next is asked for. */
static int shaped_pages(struct shaped *sp, struct dsb_sb *out,
                        struct dsb_error *err)
{
    struct dsb_slot_args a;
    char *token = NULL;
    int rc = 0, n;

    browse_args(sp->b, &a);
    a.page_token = NULL;
    for (n = 0; n < MAX_PAGES && rc == 0; n++) {
        struct load_ctx l = {sp->c, sp->src, &a};
        json_t *doc = NULL;
        const char *next;
        if (load(&l, &doc, err) < 0) {
            rc = -1;
            break;
        }
        if (sp->sh->page(sp->sh->ctx, json_object_get(doc, "items"), out))
            rc = dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
        next = json_string_value(json_object_get(doc, "next_page_token"));
        free(token);
        a.page_token = token = next ? strdup(next) : NULL;
        json_decref(doc);
        if (!a.page_token)
            break;
    }
    free(token);
    return rc;
}

static int load_shaped(void *ctx, struct dsb_sb *out, char **aux,
                       struct dsb_error *err)
{
    struct shaped *sp = ctx;
    int rc;

    (void)aux;
    dsb_sb_adds(out, sp->sh->head);
    rc = shaped_pages(sp, out, err);
    return sp->sh->end(sp->sh->ctx, rc, out, err);
}

const struct dsb_cached *dsb_svc_browse_shaped(const struct dsb_ctx *c,
                                               const struct dsb_browse *b,
                                               const struct dsb_svc_shape *sh,
                                               int *hit, struct dsb_error *err)
{
    struct dsb_source *s = dsb_svc_use_source(c, b->source, err);
    struct shaped sp = {c, s, b, sh};
    struct dsb_sb k = {0};
    const struct dsb_cached *v;
    char *key;

    *hit = 0;
    if (!s)
        return NULL;
    dsb_cache_key_add(&k, sh->name);
    dsb_cache_key_add(&k, dsb_slot_name(b->slot));
    dsb_cache_key_add(&k, b->database);
    dsb_cache_key_add(&k, b->schema);
    dsb_cache_key_add(&k, b->filter);
    dsb_cache_key_num(&k, b->page_size);
    if (!(key = dsb_sb_take(&k))) {
        dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
        return NULL;
    }
    v = dsb_cache_get_bytes(c->gen->cache, s->conf->name, key, load_shaped, &sp,
                            hit);
    free(key);
    if (!v) {
        dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
        return NULL;
    }
    dsb_metrics_cache(c->svc->metrics, *hit);
    if (!*hit)
        dsb_svc_trim_soon(c->svc); /* pages of trees came and went */
    return v;
}

/* ------------------------------------------------------------- search */

struct search {
    const struct dsb_ctx *c;
    const char *q;
    size_t limit;
    json_t *items, *seen;
    int truncated;
};

/* The value of the n-th (0-based) part of a key built by slot_key. */
static const char *match_of(const json_t *t, const char *q)
{
    const char *name = json_string_value(json_object_get(t, "name"));
    const char *comment = json_string_value(json_object_get(t, "comment"));

    if (name && strcasestr(name, q))
        return "name";
    if (comment && strcasestr(comment, q))
        return "comment";
    return NULL;
}

static void search_add(struct search *s, const char *source, const char *db,
                       const char *schema, const json_t *t)
{
    const char *m = match_of(t, s->q), *name;
    char *id;

    if (!m)
        return;
    name = json_string_value(json_object_get(t, "name"));
    id = dsb_asprintf("%s\x1f%s\x1f%s\x1f%s", source, db, schema, name);
    if (!id || json_object_get(s->seen, id)) {
        free(id);
        return;
    }
    json_object_set_new(s->seen, id, json_true());
    free(id);
    if (json_array_size(s->items) >= s->limit) {
        s->truncated = 1;
        return;
    }
    json_array_append_new(
        s->items, json_pack("{s:s, s:s, s:s, s:s, s:O*, s:O*, s:s}", "source",
                            source, "database", db, "schema", schema, "table",
                            name, "kind", json_object_get(t, "kind"), "comment",
                            json_object_get(t, "comment"), "match", m));
}

/* Only listings of tables and descriptions the caller may see are parsed
 * and searched. */
static int search_wants(void *ctx, const char *source, const char *key)
{
    struct search *s = ctx;
    char *slot = dsb_cache_key_get(key, 0);
    int want =
        slot && dsb_principal_may_use(s->c->principal, source) &&
        (!strcmp(slot, "list_tables") || !strcmp(slot, "describe_table"));

    free(slot);
    return want;
}

static int search_visit(void *ctx, const char *source, const char *key,
                        const json_t *doc)
{
    struct search *s = ctx;
    char *slot = dsb_cache_key_get(key, 0), *db = NULL, *schema = NULL;
    const json_t *t;
    size_t i;

    if (!slot)
        goto done;
    db = dsb_cache_key_get(key, 1);
    schema = dsb_cache_key_get(key, 2);
    if (!db || !schema)
        goto done;
    if (strcmp(slot, "describe_table") == 0)
        search_add(s, source, db, schema, doc);
    else
        json_array_foreach(json_object_get(doc, "items"), i, t)
            search_add(s, source, db, schema, t);
done:
    free(slot);
    free(db);
    free(schema);
    return 0;
}

int dsb_svc_search(const struct dsb_ctx *c, const char *q, size_t limit,
                   json_t **out, struct dsb_error *err)
{
    struct search s = {c, q, limit ? limit : 100, NULL, NULL, 0};

    if (dsb_svc_require(c, DSB_SCOPE_READ, err) < 0)
        return -1;
    if (!q || !*q)
        return dsb_error_set(err, DSB_E_INVALID,
                             "the search needs a "
                             "non-empty q");
    s.items = json_array();
    s.seen = json_object();
    dsb_cache_foreach(c->gen->cache, search_wants, search_visit, &s);
    json_decref(s.seen);
    *out = json_pack("{s:o, s:b}", "items", s.items, "truncated", s.truncated);
    return 0;
}

/* ------------------------------------------------------ descriptions */

static void describe_args(const struct dsb_selection *sel,
                          struct dsb_slot_args *a)
{
    struct dsb_browse b = {.slot = DSB_SLOT_DESCRIBE_TABLE,
                           .source = sel->source,
                           .database = sel->database,
                           .schema = sel->schema,
                           .table = sel->table};

    browse_args(&b, a);
}

/* The cached describe_table of a selection (access already checked). */
static const struct dsb_cached *described(const struct dsb_ctx *c,
                                          struct dsb_source *s,
                                          const struct dsb_selection *sel,
                                          struct dsb_error *err)
{
    struct dsb_slot_args a;
    int hit;

    describe_args(sel, &a);
    return cached_call(c, s, &a, &hit, err);
}

/* Whether the cache holds a fresh description of sel. */
static int holds_description(const struct dsb_ctx *c, struct dsb_source *s,
                             const struct dsb_selection *sel)
{
    struct dsb_slot_args a;
    struct dsb_svc_key key;
    struct dsb_error err;
    const struct dsb_cached *v;
    int hit;

    describe_args(sel, &a);
    if (keyed(c, s, &a, &key, &err) < 0)
        return 0;
    v = dsb_cache_get(c->gen->cache, key.source, key.key, NULL, NULL, &hit);
    dsb_svc_key_free(&key);
    dsb_cache_release(c->gen->cache, v);
    return v != NULL;
}

/* ------------------------------------------- descriptions in batches */

#define DESCRIBE_BATCH 1000 /* names in one describe_tables call */

static int hand_over(void *ctx, json_t **out, struct dsb_error *err)
{
    (void)err;
    *out = json_incref(ctx);
    return 0;
}

/* Caches each TABLE of a describe_tables answer as the describe_table
 * answer of its name in like's database and schema. */
static void cache_described(const struct dsb_ctx *c, struct dsb_source *s,
                            const struct dsb_selection *like, json_t *items)
{
    struct dsb_selection one = *like;
    struct dsb_slot_args a;
    struct dsb_error err;
    json_t *t;
    size_t i;
    int hit;

    json_array_foreach(items, i, t)
    {
        one.table = json_string_value(json_object_get(t, "name"));
        describe_args(&one, &a);
        dsb_svc_release(c,
                        cached_load(c, s, &a, hand_over, t, NULL, &hit, &err));
    }
}

static int describe_batch(const struct dsb_ctx *c, struct dsb_source *s,
                          const struct dsb_selection *like,
                          const char *const *names, size_t n,
                          struct dsb_error *err)
{
    struct dsb_slot_args a = {.slot = DSB_SLOT_DESCRIBE_TABLES,
                              .database = like->database,
                              .schema = like->schema,
                              .tables = names,
                              .n_tables = n};
    struct load_ctx l = {c, s, &a};
    json_t *out = NULL;

    if (load(&l, &out, err) < 0)
        return -1;
    cache_described(c, s, like, json_object_get(out, "items"));
    json_decref(out);
    return 0;
}

static int same_schema(const struct dsb_selection *a,
                       const struct dsb_selection *b)
{
    return !strcmp(a->source, b->source) && !strcmp(a->database, b->database) &&
           !strcmp(a->schema, b->schema);
}

/* The distinct tables of sel[i]'s schema, from i on, whose description the
 * cache lacks, into names; marks every selection of that schema seen. */
static size_t lacking(const struct dsb_ctx *c, struct dsb_source *s,
                      const struct dsb_selection *sel, size_t n, size_t i,
                      char *seen, const char **names)
{
    size_t k = 0, d;

    for (size_t j = i; j < n; j++) {
        if (seen[j] || !same_schema(&sel[i], &sel[j]))
            continue;
        seen[j] = 1;
        for (d = 0; d < k && strcmp(names[d], sel[j].table); d++)
            ;
        if (d == k && !holds_description(c, s, &sel[j]))
            names[k++] = sel[j].table;
    }
    return k;
}

/* Describes the lacking tables of sel[i]'s schema, DESCRIBE_BATCH at a
 * time, when there are at least two (one is the one-table path's). */
static int describe_schema(const struct dsb_ctx *c, struct dsb_source *s,
                           const struct dsb_selection *sel, size_t n, size_t i,
                           char *seen, const char **names,
                           struct dsb_error *err)
{
    size_t k = lacking(c, s, sel, n, i, seen, names);

    for (size_t off = 0; k >= 2 && off < k; off += DESCRIBE_BATCH)
        if (describe_batch(c, s, &sel[i], names + off,
                           k - off < DESCRIBE_BATCH ? k - off : DESCRIBE_BATCH,
                           err) < 0)
            return -1;
    return 0;
}

/* Whether the descriptions of s's tables are worth fetching in batches:
 * its plugin has describe_tables, and for read specs also takes them. */
static int batches(const struct dsb_ctx *c, struct dsb_source *s,
                   int for_read_specs)
{
    return s && s->state == DSB_SOURCE_OPEN && dsb_source_describes_many(s) &&
           (!for_read_specs || dsb_source_takes_described(s)) &&
           dsb_principal_may_use(c->principal, s->conf->name);
}

int dsb_svc_describe_many(const struct dsb_ctx *c,
                          const struct dsb_selection *sel, size_t n,
                          int for_read_specs, struct dsb_error *err)
{
    char *seen = calloc(n + 1, 1);
    const char **names = calloc(n + 1, sizeof(*names));
    int rc = 0;

    if (!seen || !names)
        rc = dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct dsb_source *s = dsb_broker_source(c->gen->broker, sel[i].source);
        if (!seen[i] && batches(c, s, for_read_specs))
            rc = describe_schema(c, s, sel, n, i, seen, names, err);
    }
    free(seen);
    free((void *)names);
    return rc;
}

json_t *dsb_svc_described(const struct dsb_ctx *c,
                          const struct dsb_selection *sel,
                          struct dsb_error *err)
{
    struct dsb_source *s = find_source(c, sel->source, err);
    const struct dsb_cached *v;
    json_t *t = NULL;

    if (!s || !(v = described(c, s, sel, err)))
        return NULL;
    if (v->doc)
        t = json_incref(v->doc);
    else
        *err = v->err;
    dsb_svc_release(c, v);
    return t;
}

const char *dsb_svc_flat_schema(const struct dsb_ctx *c, const char *source)
{
    struct dsb_source *s = dsb_broker_source(c->gen->broker, source);

    if (s && s->plugin && (s->plugin->vt.flags & DSB_SRC_FLAT_SCHEMA))
        return s->plugin->vt.flat_schema;
    return NULL;
}

/* Loading a read spec: a plugin with the ABI 1.1 slot gets the cached
 * description (described now when it is not cached), and the read spec
 * goes stale no later than that description. */
struct spec_load {
    struct load_ctx l;
    const struct dsb_selection *sel;
    int64_t until;
};

/* Runs the 1.1 slot with the plugin's own copy of the description (the
 * cached one is shared and must stay as it is). */
static int spec_from(struct spec_load *sl, const json_t *doc, json_t **out,
                     struct dsb_error *err)
{
    struct dsb_slot_args a = *sl->l.a;
    struct load_ctx l = {sl->l.c, sl->l.src, &a};
    json_t *copy = json_deep_copy(doc);
    int rc;

    if (!copy)
        return dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
    a.described = copy;
    rc = load(&l, out, err);
    json_decref(copy);
    return rc;
}

static int load_spec(void *ctx, json_t **out, struct dsb_error *err)
{
    struct spec_load *sl = ctx;
    const struct dsb_cached *d;
    int rc;

    if (!dsb_source_takes_described(sl->l.src))
        return load(&sl->l, out, err);
    if (!(d = described(sl->l.c, sl->l.src, sl->sel, err)))
        return -1;
    sl->until = d->expires_ms;
    if (d->doc)
        rc = spec_from(sl, d->doc, out, err);
    else
        rc = (*err = d->err, -1);
    dsb_svc_release(sl->l.c, d);
    return rc;
}

/* A read spec through the cache (the context builder's spec function). */
int dsb_svc_read_spec(const struct dsb_ctx *c, struct dsb_source *s,
                      const struct dsb_selection *sel,
                      const struct dsb_read_target *t, int64_t *until,
                      json_t **out, struct dsb_error *err)
{
    struct dsb_slot_args a = {.slot = DSB_SLOT_READ_SPEC,
                              .database = sel->database,
                              .schema = sel->schema,
                              .table = sel->table,
                              .target = t};
    struct spec_load sl = {{c, s, &a}, sel, INT64_MAX};
    const struct dsb_cached *v;
    int hit, rc = 0;

    v = cached_load(c, s, &a, load_spec, &sl, &sl.until, &hit, err);
    if (!v)
        return -1;
    if (v->expires_ms < *until)
        *until = v->expires_ms;
    if (v->doc)
        *out = json_incref(v->doc);
    else
        rc = (*err = v->err, -1);
    dsb_svc_release(c, v);
    return rc;
}
