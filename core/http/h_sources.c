/* /healthz, /readyz, /metrics, /v1/sources..., /v1/plugins...,
 * /v1/executors, /v1/search, /v1/reload: parse, call the service,
 * format. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

void dsb_h_healthz(struct dsb_req *r)
{
    dsb_reply_json(r, 200, json_pack("{s:s}", "status", "ok"));
}

void dsb_h_readyz(struct dsb_req *r)
{
    int store = dsb_service_ready(r->srv->svc) == 0;
    json_t *o = json_pack("{s:s, s:{s:b, s:b}, s:I, s:o}", "status",
                          store ? "ready" : "not ready", "checks", "config", 1,
                          "state_store", store, "config_generation",
                          (json_int_t)r->gen->serial, "job_isolation",
                          dsb_svc_job_isolation(r->gen));

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

void dsb_h_sources(struct dsb_req *r)
{
    struct dsb_error err;
    json_t *out = NULL;

    dsb_reply_result(r, dsb_svc_sources(&r->ctx, &out, &err), &out, &err);
}

void dsb_h_source(struct dsb_req *r)
{
    struct dsb_error err;
    json_t *out = NULL;

    dsb_reply_result(r, dsb_svc_source(&r->ctx, r->params[0], &out, &err), &out,
                     &err);
}

void dsb_h_source_check(struct dsb_req *r)
{
    struct dsb_error err;
    json_t *out = NULL;

    dsb_reply_result(r, dsb_svc_source_check(&r->ctx, r->params[0], &out, &err),
                     &out, &err);
}

void dsb_h_source_refresh(struct dsb_req *r)
{
    struct dsb_error err;
    json_t *out = NULL;

    dsb_reply_result(r,
                     dsb_svc_source_refresh(&r->ctx, r->params[0], &out, &err),
                     &out, &err);
}

/* Authenticates itself (DSB_ROUTE_SELF_AUTH): no token while auth is on
 * is an answer, not a 401; a wrong one is a 401. */
void dsb_h_whoami(struct dsb_req *r)
{
    int token = dsb_req_bearer(r) != NULL ||
                !r->gen->broker->cfg->settings.auth_enabled;
    struct dsb_error err;
    json_t *out = NULL;

    if (token && dsb_auth_check(r) < 0)
        return;
    dsb_reply_result(r, dsb_svc_whoami(&r->ctx, token, &out, &err), &out, &err);
}

void dsb_h_plugins(struct dsb_req *r)
{
    struct dsb_error err;
    json_t *out = NULL;

    dsb_reply_result(r, dsb_svc_plugins(&r->ctx, &out, &err), &out, &err);
}

void dsb_h_executors(struct dsb_req *r)
{
    struct dsb_error err;
    json_t *out = NULL;

    dsb_reply_result(r, dsb_svc_executors(&r->ctx, &out, &err), &out, &err);
}

void dsb_h_plugin_schema(struct dsb_req *r)
{
    struct dsb_error err;
    json_t *out = NULL;

    dsb_reply_result(r,
                     dsb_svc_plugin_schema(&r->ctx, r->params[0], &out, &err),
                     &out, &err);
}

void dsb_h_reload(struct dsb_req *r)
{
    struct dsb_error err;
    json_t *out = NULL;

    dsb_reply_result(r, dsb_svc_reload(&r->ctx, &out, &err), &out, &err);
}

/* ------------------------------------------------------------ listings */

void dsb_paging_free(struct dsb_browse *b)
{
    free((char *)b->filter);
    free((char *)b->page_token);
    b->filter = b->page_token = NULL;
}

/* page_size: 1..1000 digits only; -1 when bad. */
static int page_size(const char *v, size_t *out)
{
    char *end = NULL;
    unsigned long n;

    *out = 0;
    if (!v)
        return 0;
    errno = 0;
    n = strtoul(v, &end, 10);
    if (errno || end == v || *end || n < 1 || n > 1000 || v[0] == '-')
        return -1;
    *out = n;
    return 0;
}

int dsb_paging_read(struct dsb_req *r, struct dsb_browse *b, int reply_bad)
{
    int bad = 0;
    char *size_s;

    b->filter = dsb_req_query(r, "q", &bad);
    b->page_token = dsb_req_query(r, "page_token", &bad);
    size_s = dsb_req_query(r, "page_size", &bad);
    bad |= page_size(size_s, &b->page_size) < 0;
    free(size_s);
    if (!bad)
        return 0;
    if (reply_bad)
        dsb_reply_problem(r, 400, "invalid", "bad query parameter",
                          "page_size is 1..1000; values must be valid "
                          "%-encoded UTF-8",
                          NULL);
    dsb_paging_free(b);
    return -1;
}

/* The browse of a listing or table route from its path and query. */
static int browse_of(struct dsb_req *r, enum dsb_slot slot,
                     struct dsb_browse *b, int reply_bad)
{
    memset(b, 0, sizeof(*b));
    b->slot = slot;
    b->source = r->params[0];
    b->database = r->params[1];
    b->schema = r->params[2];
    b->table = r->params[3];
    if (slot == DSB_SLOT_DESCRIBE_TABLE)
        return 0;
    return dsb_paging_read(r, b, reply_bad);
}

static int key_of(struct dsb_req *r, enum dsb_slot slot, struct dsb_svc_key *k)
{
    struct dsb_browse b;
    struct dsb_error err;
    int rc;

    if (browse_of(r, slot, &b, 0) < 0)
        return -1;
    rc = dsb_svc_browse_key(&r->ctx, &b, k, &err);
    dsb_paging_free(&b);
    return rc;
}

int dsb_key_databases(struct dsb_req *r, struct dsb_svc_key *k)
{
    return key_of(r, DSB_SLOT_LIST_DATABASES, k);
}

int dsb_key_schemas(struct dsb_req *r, struct dsb_svc_key *k)
{
    return key_of(r, DSB_SLOT_LIST_SCHEMAS, k);
}

int dsb_key_tables(struct dsb_req *r, struct dsb_svc_key *k)
{
    return key_of(r, DSB_SLOT_LIST_TABLES, k);
}

int dsb_key_table(struct dsb_req *r, struct dsb_svc_key *k)
{
    return key_of(r, DSB_SLOT_DESCRIBE_TABLE, k);
}

static void browse(struct dsb_req *r, enum dsb_slot slot)
{
    struct dsb_browse b;
    struct dsb_error err;
    const struct dsb_cached *v;
    int hit = 0;

    if (browse_of(r, slot, &b, 1) < 0)
        return;
    v = dsb_svc_browse(&r->ctx, &b, &hit, &err);
    dsb_reply_entry(r, v, hit, &err);
    dsb_paging_free(&b);
}

void dsb_h_databases(struct dsb_req *r)
{
    browse(r, DSB_SLOT_LIST_DATABASES);
}

void dsb_h_schemas(struct dsb_req *r)
{
    browse(r, DSB_SLOT_LIST_SCHEMAS);
}

void dsb_h_tables(struct dsb_req *r)
{
    browse(r, DSB_SLOT_LIST_TABLES);
}

void dsb_h_table(struct dsb_req *r)
{
    browse(r, DSB_SLOT_DESCRIBE_TABLE);
}

void dsb_h_search(struct dsb_req *r)
{
    int bad = 0;
    char *q = dsb_req_query(r, "q", &bad),
         *lim = dsb_req_query(r, "limit", &bad);
    struct dsb_error err;
    json_t *out = NULL;
    size_t limit = 100;

    if (bad || page_size(lim, &limit) < 0)
        dsb_reply_problem(r, 400, "invalid", "bad query parameter",
                          "limit "
                          "is 1..1000; values must be valid %-encoded UTF-8",
                          NULL);
    else
        dsb_reply_result(
            r, dsb_svc_search(&r->ctx, q, limit ? limit : 100, &out, &err),
            &out, &err);
    free(q);
    free(lim);
}
