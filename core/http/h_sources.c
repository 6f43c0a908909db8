/* /healthz, /readyz, /metrics, /v1/sources..., /v1/plugins... */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "options.h"

static const char *const state_names[] = {"open", "disabled", "failed"};

void dsb_h_healthz(struct dsb_req *r)
{
    dsb_reply_json(r, 200, json_pack("{s:s}", "status", "ok"));
}

void dsb_h_readyz(struct dsb_req *r)
{
    int store = dsb_sessions_writable(r->srv->sessions) == 0;
    json_t *o = json_pack("{s:s, s:{s:b, s:b}, s:I}", "status", store
                          ? "ready" : "not ready", "checks", "config", 1,
                          "state_store", store, "config_generation",
                          (json_int_t)r->gen->serial);

    dsb_reply_json(r, store ? 200 : 503, o);
}

void dsb_h_metrics(struct dsb_req *r)
{
    char *text = dsb_metrics_render(r->srv->metrics, r->srv, r->gen);

    if (!text) {
        dsb_reply_problem(r, 500, "internal", "out of memory", NULL, NULL);
        return;
    }
    dsb_reply_bytes(r, 200, "text/plain; version=0.0.4; charset=utf-8", text,
                    strlen(text), NULL);
    free(text);
}

static json_t *source_json(const struct dsb_source *s)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:s?, s:s, s:s}", "name",
                          s->conf->name, "plugin", s->conf->plugin, "network",
                          s->network, "description", s->conf->description,
                          "state", state_names[s->state], "config_file",
                          s->conf->file);

    if (s->plugin && (s->plugin->vt.flags & DSB_SRC_FLAT_SCHEMA))
        json_object_set_new(o, "flat_schema",
                            json_string(s->plugin->vt.flat_schema));
    if (s->state == DSB_SOURCE_FAILED)
        json_object_set_new(o, "error", json_pack("{s:s, s:s, s:s}", "code",
                            dsb_err_code_name(s->open_error.code), "message",
                            s->open_error.message, "hint",
                            s->open_error.hint));
    return o;
}

void dsb_h_sources(struct dsb_req *r)
{
    struct dsb_broker *b = r->gen->broker;
    json_t *items = json_array();

    for (size_t i = 0; i < b->n_sources; i++)
        if (dsb_req_may_use(r, b->sources[i].conf->name))
            json_array_append_new(items, source_json(&b->sources[i]));
    dsb_reply_json(r, 200, json_pack("{s:o}", "items", items));
}

/* Runs check; a plugin error becomes {"ok": false, "error": {...}}. */
static json_t *health(struct dsb_source *s, struct dsb_error *err)
{
    json_t *out = NULL;
    int64_t t0 = dsb_monotonic_us();

    if (dsb_source_check(s, &out, err) == 0) {
        if (!json_object_get(out, "latency_ms"))
            json_object_set_new(out, "latency_ms", json_real(
                (double)(dsb_monotonic_us() - t0) / 1e3));
        return out;
    }
    return json_pack("{s:b, s:{s:s, s:s, s:s, s:b}}", "ok", 0, "error",
                     "code", dsb_err_code_name(err->code), "message",
                     err->message, "hint", err->hint, "retryable",
                     err->retryable);
}

void dsb_h_source(struct dsb_req *r)
{
    struct dsb_source *s = dsb_req_source(r, r->params[0]);
    struct dsb_error err;
    json_t *o;

    if (!s)
        return;
    o = source_json(s);
    json_object_set_new(o, "health", health(s, &err));
    dsb_reply_json(r, 200, o);
}

void dsb_h_source_check(struct dsb_req *r)
{
    struct dsb_source *s = dsb_req_source(r, r->params[0]);
    struct dsb_error err;
    json_t *out = NULL;

    if (!s)
        return;
    if (dsb_source_check(s, &out, &err) < 0) {
        dsb_reply_error(r, &err);
        return;
    }
    dsb_reply_json(r, 200, out);
}

void dsb_h_source_refresh(struct dsb_req *r)
{
    struct dsb_source *s = dsb_req_source(r, r->params[0]);

    if (!s)
        return;
    dsb_cache_flush(r->gen->cache, s->conf->name);
    dsb_reply_json(r, 200, json_pack("{s:s, s:b}", "source", s->conf->name,
                                     "flushed", 1));
}

/* ------------------------------------------------------------ listings */

struct paging {
    char *q, *token, *size_s;
    size_t size;
};

static void paging_free(struct paging *p)
{
    free(p->q);
    free(p->token);
    free(p->size_s);
}

/* Reads page_size, page_token and q; replies 400 itself on bad values. */
static int paging_read(struct dsb_req *r, struct paging *p)
{
    int bad = 0;
    char *end = NULL;
    unsigned long n = 0;

    memset(p, 0, sizeof(*p));
    p->q = dsb_req_query(r, "q", &bad);
    p->token = dsb_req_query(r, "page_token", &bad);
    p->size_s = dsb_req_query(r, "page_size", &bad);
    if (p->size_s) {
        errno = 0;
        n = strtoul(p->size_s, &end, 10);
        if (errno || end == p->size_s || *end || n < 1 || n > 1000 ||
            p->size_s[0] == '-')
            bad = 1;
    }
    p->size = n;
    if (!bad)
        return 0;
    dsb_reply_problem(r, 400, "invalid", "bad query parameter", "page_size "
                      "is 1..1000; values must be valid %-encoded UTF-8",
                      NULL);
    paging_free(p);
    return -1;
}

static void listing(struct dsb_req *r, enum dsb_slot_kind kind)
{
    struct dsb_source *s = dsb_req_source(r, r->params[0]);
    struct paging p;
    struct dsb_data_req d = {.kind = kind};
    const struct dsb_cached *v;

    if (!s || paging_read(r, &p) < 0)
        return;
    d.database = kind == DSB_K_DATABASES ? NULL : r->params[1];
    d.schema = kind == DSB_K_TABLES ? r->params[2] : NULL;
    d.filter = p.q;
    d.page_token = p.token;
    d.page_size = p.size;
    v = dsb_data_get(r, s, &d);
    dsb_reply_cached(r, v);
    if (v)
        dsb_cache_release(r->gen->cache, v);
    paging_free(&p);
}

void dsb_h_databases(struct dsb_req *r)
{
    listing(r, DSB_K_DATABASES);
}

void dsb_h_schemas(struct dsb_req *r)
{
    listing(r, DSB_K_SCHEMAS);
}

void dsb_h_tables(struct dsb_req *r)
{
    listing(r, DSB_K_TABLES);
}

void dsb_h_table(struct dsb_req *r)
{
    struct dsb_source *s = dsb_req_source(r, r->params[0]);
    struct dsb_data_req d = {.kind = DSB_K_DESCRIBE};
    const struct dsb_cached *v;

    if (!s)
        return;
    d.database = r->params[1];
    d.schema = r->params[2];
    d.table = r->params[3];
    v = dsb_data_get(r, s, &d);
    dsb_reply_cached(r, v);
    if (v)
        dsb_cache_release(r->gen->cache, v);
}

/* ------------------------------------------------------------- plugins */

void dsb_h_plugins(struct dsb_req *r)
{
    const struct dsb_plugin_set *ps = &r->gen->broker->plugins;
    json_t *items = json_array();

    for (size_t i = 0; i < ps->n; i++)
        json_array_append_new(items, dsb_plugin_describe(&ps->items[i], 0));
    dsb_reply_json(r, 200, json_pack("{s:o}", "items", items));
}

void dsb_h_plugin_schema(struct dsb_req *r)
{
    const struct dsb_plugin *p = dsb_plugins_find(&r->gen->broker->plugins,
                                                  r->params[0]);

    if (!p) {
        dsb_reply_problem(r, 404, "not_found", "no such plugin", r->params[0],
                          "GET /v1/plugins lists them");
        return;
    }
    dsb_reply_json(r, 200, dsb_options_schema(p->vt.options));
}
