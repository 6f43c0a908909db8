/* Plugin calls through the metadata cache, and request helpers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http.h"

static const char *const kind_names[] = {"list_databases", "list_schemas",
                                         "list_tables", "describe_table",
                                         "read_spec"};

struct load_ctx {
    struct dsb_source *src;
    const struct dsb_data_req *d;
    struct dsb_metrics *metrics;
};

static int call_slot(struct dsb_source *s, const struct dsb_data_req *d,
                     json_t **out, struct dsb_error *err)
{
    struct dsb_list_request lr = {d->database, d->schema, d->filter,
                                  d->page_size, d->page_token};

    switch (d->kind) {
    case DSB_K_DATABASES:
        return dsb_source_list_databases(s, &lr, out, err);
    case DSB_K_SCHEMAS:
        return dsb_source_list_schemas(s, &lr, out, err);
    case DSB_K_TABLES:
        return dsb_source_list_tables(s, &lr, out, err);
    case DSB_K_DESCRIBE:
        return dsb_source_describe_table(s, d->database, d->schema, d->table,
                                         out, err);
    default:
        return dsb_source_read_spec(s, d->database, d->schema, d->table,
                                    d->target, out, err);
    }
}

static int load(void *ctx, json_t **out, struct dsb_error *err)
{
    struct load_ctx *c = ctx;
    int64_t t0 = dsb_monotonic_us();
    int rc = call_slot(c->src, c->d, out, err);

    dsb_metrics_plugin(c->metrics, c->src->conf->name, kind_names[c->d->kind],
                       dsb_monotonic_us() - t0, rc < 0);
    return rc;
}

static int make_key(const struct dsb_data_req *d, char *key, size_t cap)
{
    char size[24];

    snprintf(size, sizeof(size), "%zu", d->page_size);
    key[0] = '\0';
    return dsb_cache_key_add(key, cap, kind_names[d->kind]) |
           dsb_cache_key_add(key, cap, d->database) |
           dsb_cache_key_add(key, cap, d->schema) |
           dsb_cache_key_add(key, cap, d->table) |
           dsb_cache_key_add(key, cap, d->filter) |
           dsb_cache_key_add(key, cap, size) |
           dsb_cache_key_add(key, cap, d->page_token) |
           dsb_cache_key_add(key, cap, d->target ? d->target->executor
                                                 : NULL);
}

static size_t key_size(const struct dsb_data_req *d)
{
    const char *parts[] = {d->database, d->schema, d->table, d->filter,
                           d->page_token, d->target ? d->target->executor
                                                    : NULL};
    size_t n = 256;

    for (size_t i = 0; i < sizeof(parts) / sizeof(*parts); i++)
        n += parts[i] ? strlen(parts[i]) + 24 : 0;
    return n;
}

const struct dsb_cached *dsb_data_get(struct dsb_req *r, struct dsb_source *s,
                                      const struct dsb_data_req *d)
{
    struct load_ctx c = {s, d, r->srv->metrics};
    size_t cap = key_size(d);
    char *key = malloc(cap);
    const struct dsb_cached *v = NULL;
    int hit = 0;

    if (key && make_key(d, key, cap) == 0)
        v = dsb_cache_get(r->gen->cache, s->conf->name, key,
                          r->try_inline ? NULL : load, &c, &hit);
    free(key);
    if (!v) {
        r->would_block = r->try_inline;
        return NULL;
    }
    dsb_metrics_cache(r->srv->metrics, hit);
    if (!r->cache_state || !hit)
        r->cache_state = hit ? "hit" : "miss";
    return v;
}

static int spec_through_cache(void *ctx, struct dsb_source *src,
                              const struct dsb_selection *sel,
                              const struct dsb_read_target *t, json_t **out,
                              struct dsb_error *err)
{
    struct dsb_req *r = ctx;
    struct dsb_data_req d = {.kind = DSB_K_READ_SPEC, .database =
                             sel->database, .schema = sel->schema, .table =
                             sel->table, .target = t};
    const struct dsb_cached *v = dsb_data_get(r, src, &d);
    int rc = 0;

    if (!v)
        return dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
    if (v->expires_ms < r->specs_until)
        r->specs_until = v->expires_ms;
    if (v->doc)
        *out = json_incref(v->doc);
    else
        rc = (*err = v->err, -1);
    dsb_cache_release(r->gen->cache, v);
    return rc;
}

void dsb_data_context_opts(struct dsb_req *r, struct dsb_context_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->spec = spec_through_cache;
    o->spec_ctx = r;
}

struct dsb_source *dsb_req_source(struct dsb_req *r, const char *name)
{
    struct dsb_source *s = dsb_broker_source(r->gen->broker, name);

    if (!s) {
        dsb_reply_problem(r, 404, "not_found", "no such source", name,
                          "GET /v1/sources lists them");
        return NULL;
    }
    if (!dsb_req_may_use(r, name)) {
        dsb_reply_problem(r, 403, "forbidden", "this token may not use the "
                          "source", name, NULL);
        return NULL;
    }
    return s;
}

json_t *dsb_req_json(struct dsb_req *r)
{
    const char *ct = dsb_req_header(r, "Content-Type");
    json_error_t je = {0};
    json_t *j;

    if (ct && strncasecmp(ct, "application/json", 16) != 0) {
        dsb_reply_problem(r, 415, "unsupported_media_type", "the body must "
                          "be application/json", ct, NULL);
        return NULL;
    }
    j = r->body ? json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES,
                             &je) : NULL;
    if (!j) {
        char detail[256];
        snprintf(detail, sizeof(detail), "%s (line %d, column %d)",
                 r->body ? je.text : "the body is empty", je.line, je.column);
        dsb_reply_problem(r, 400, "invalid", "the body is not valid JSON",
                          r->body ? detail : "the body is empty", NULL);
    }
    return j;
}
