/* Responses: JSON, cached bytes with ETags, problem+json. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "jobs/jobs.h"
#include "jobs/router.h"
#include "log.h"
#include "util.h"

static const struct {
    int status;
    const char *title;
} titles[] = {
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {409, "Conflict"},
    {412, "Precondition Failed"},
    {413, "Content Too Large"},
    {415, "Unsupported Media Type"},
    {422, "Unprocessable Content"},
    {429, "Too Many Requests"},
    {500, "Internal Server Error"},
    {501, "Not Implemented"},
    {502, "Bad Gateway"},
    {503, "Service Unavailable"},
    {504, "Gateway Timeout"},
    {507, "Insufficient Storage"},
};

static const char *status_title(int status)
{
    for (size_t i = 0; i < sizeof(titles) / sizeof(*titles); i++)
        if (titles[i].status == status)
            return titles[i].title;
    return "Error";
}

void dsb_reply_header(struct dsb_req *r, const char *name, const char *value)
{
    if (r->n_hdrs >= sizeof(r->hdrs) / sizeof(*r->hdrs))
        return;
    r->hdrs[r->n_hdrs].name = strdup(name);
    r->hdrs[r->n_hdrs].value = strdup(value);
    r->n_hdrs++;
}

typedef void (*add_header_fn)(void *sink, const char *name, const char *value);

static void add_headers(struct dsb_req *r, add_header_fn add, void *sink,
                        const char *ctype, const char *etag)
{
    if (ctype)
        add(sink, "Content-Type", ctype);
    if (etag)
        add(sink, "ETag", etag);
    add(sink, "X-Request-Id", r->request_id);
    if (r->origin) {
        add(sink, "Access-Control-Allow-Origin", r->origin);
        add(sink, "Access-Control-Expose-Headers",
            "ETag, X-Request-Id, X-Cache, Mcp-Session-Id");
    }
    if (r->origin || dsb_req_header(r, "Origin"))
        add(sink, "Vary", "Origin");
    if (r->cache_state)
        add(sink, "X-Cache", r->cache_state);
    for (size_t i = 0; i < r->n_hdrs; i++)
        if (r->hdrs[i].name && r->hdrs[i].value)
            add(sink, r->hdrs[i].name, r->hdrs[i].value);
    if (r->too_large)
        add(sink, "Connection", "close");
}

static void mhd_add(void *sink, const char *name, const char *value)
{
    MHD_add_response_header(sink, name, value);
}

/* Appends "name: value\n" to the exchange's header lines. */
static void ex_add(void *sink, const char *name, const char *value)
{
    struct dsb_http_exchange *ex = sink;
    size_t old = ex->resp_headers ? strlen(ex->resp_headers) : 0;
    size_t n = strlen(name) + strlen(value) + 3;
    char *nh = realloc(ex->resp_headers, old + n + 1);

    if (!nh)
        return;
    snprintf(nh + old, n + 1, "%s: %s\n", name, value);
    ex->resp_headers = nh;
}

static void reply_ex(struct dsb_req *r, int status, const char *ctype,
                     const char *bytes, size_t len, const char *etag)
{
    struct dsb_http_exchange *ex = r->ex;

    ex->status = status;
    ex->content_type = ctype ? strdup(ctype) : NULL;
    ex->resp = malloc(len + 1);
    if (ex->resp) {
        memcpy(ex->resp, bytes, len);
        ex->resp[len] = '\0';
        ex->resp_len = len;
    }
    add_headers(r, ex_add, ex, ctype, etag);
}

/* Adds the headers and queues resp (NULL: out of memory, nothing sent). */
static void queue_response(struct dsb_req *r, int status,
                           struct MHD_Response *resp, const char *ctype,
                           const char *etag)
{
    if (!resp)
        return;
    add_headers(r, mhd_add, resp, ctype, etag);
    if (r->deferred) { /* a pool thread: the worker queues it on resume */
        r->deferred_resp = resp;
        r->deferred_status = (unsigned)status;
        return;
    }
    MHD_queue_response(r->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
}

void dsb_reply_stream(struct dsb_req *r, int status, struct MHD_Response *resp,
                      const char *ctype)
{
    r->responded = 1;
    r->status = status;
    queue_response(r, status, resp, ctype, NULL);
}

void dsb_reply_bytes(struct dsb_req *r, int status, const char *ctype,
                     const char *bytes, size_t len, const char *etag)
{
    struct MHD_Response *resp;

    if (r->responded)
        return;
    r->responded = 1;
    r->status = status;
    r->resp_bytes = len;
    if (r->ex) {
        reply_ex(r, status, ctype, bytes, len, etag);
        return;
    }
    resp = MHD_create_response_from_buffer(len, (void *)bytes,
                                           MHD_RESPMEM_MUST_COPY);
    queue_response(r, status, resp, ctype, etag);
}

void dsb_reply_take(struct dsb_req *r, int status, const char *ctype,
                    char *bytes, size_t len)
{
    if (!bytes) {
        dsb_reply_problem(r, 500, "internal", "out of memory", NULL, NULL);
    } else if (r->responded || r->ex) {
        dsb_reply_bytes(r, status, ctype, bytes, len, NULL);
        free(bytes);
    } else {
        struct MHD_Response *resp =
            MHD_create_response_from_buffer(len, bytes, MHD_RESPMEM_MUST_FREE);
        if (!resp)
            free(bytes);
        r->responded = 1;
        r->status = status;
        r->resp_bytes = len;
        queue_response(r, status, resp, ctype, NULL);
    }
}

/* A cached entry lent to libmicrohttpd: the entry and its generation (the
 * cache's owner) are held until the response is destroyed. */
struct lent {
    struct dsb_gen *gen;
    const struct dsb_cached *v;
};

static void lent_free(void *cls)
{
    struct lent *l = cls;

    dsb_cache_release(l->gen->cache, l->v);
    dsb_gen_release(l->gen);
    free(l);
}

/* 200 with a cached body, sent from the entry itself (no copy): takes the
 * caller's hold on v (1), or copies the bytes and leaves it (0). */
static int reply_lent(struct dsb_req *r, const struct dsb_cached *v)
{
    struct lent *l = malloc(sizeof(*l));
    struct MHD_Response *resp = NULL;

    if (!l) {
        dsb_reply_bytes(r, 200, "application/json", v->body, v->len, v->etag);
        return 0;
    }
    l->gen = dsb_gen_hold(r->gen);
    l->v = v;
    resp = MHD_create_response_from_buffer_with_free_callback_cls(
        v->len, v->body, lent_free, l);
    if (!resp)
        lent_free(l);
    r->responded = 1;
    r->status = 200;
    r->resp_bytes = v->len;
    queue_response(r, 200, resp, "application/json", v->etag);
    return 1;
}

void dsb_reply_empty(struct dsb_req *r, int status)
{
    dsb_reply_bytes(r, status, NULL, "", 0, NULL);
}

void dsb_reply_result(struct dsb_req *r, int rc, json_t **out,
                      const struct dsb_error *err)
{
    if (rc < 0)
        dsb_reply_error(r, err);
    else
        dsb_reply_json(r, 200, *out);
}

void dsb_reply_json(struct dsb_req *r, int status, json_t *body)
{
    char *s = body ? json_dumps(body, JSON_COMPACT) : NULL;

    json_decref(body);
    dsb_reply_take(r, status, "application/json", s, s ? strlen(s) : 0);
}

static void reply_problem_json(struct dsb_req *r, int status, json_t *p)
{
    char buf[8192];
    size_t n;

    if (r->compat) {
        json_object_set_new(p, "success", json_false());
        json_object_set(p, "error", json_object_get(p, "message"));
    }
    n = json_dumpb(p, buf, sizeof(buf) - 1, JSON_COMPACT);

    json_decref(p);
    if (n == 0 || n >= sizeof(buf) - 1)
        n = (size_t)snprintf(buf, sizeof(buf), "{\"status\":%d}", status);
    buf[n] = '\0';
    n = dsb_redact(buf, sizeof(buf));
    dsb_reply_bytes(r, status, "application/problem+json", buf, n, NULL);
}

/* Keeps the problem's code, message and upstream error for the access
 * log (the first problem of the request wins, like its response). */
static void note_problem(struct dsb_req *r, const char *code,
                         const char *message, const char *upstream)
{
    if (r->responded || r->err_code[0])
        return;
    snprintf(r->err_code, sizeof(r->err_code), "%s", code);
    r->err_message = dsb_strdup0(message); /* NULL: logged without it */
    snprintf(r->err_upstream, sizeof(r->err_upstream), "%s",
             upstream ? upstream : "");
}

static json_t *problem(int status, const char *code, const char *message,
                       const char *detail, const char *hint,
                       const char *request_id)
{
    return json_pack("{s:s+, s:s, s:i, s:s, s:s, s:s, s:s?, s:b, s:s}", "type",
                     "urn:dsbroker:problem:", code, "title",
                     status_title(status), "status", status, "detail",
                     detail && *detail ? detail : message, "code", code,
                     "message", message, "hint", hint && *hint ? hint : NULL,
                     "retryable", 0, "request_id", request_id);
}

void dsb_reply_problem(struct dsb_req *r, int status, const char *code,
                       const char *message, const char *detail,
                       const char *hint)
{
    json_t *p = problem(status, code, message, detail, hint, r->request_id);

    note_problem(r, code, message, NULL);
    if (r->url)
        json_object_set_new(p, "instance", json_string(r->url));
    reply_problem_json(r, status, p);
}

/* The status and problem code of e: the error code's, except for the
 * router's refusals (422 unroutable) and a full state disk (507). */
static int error_status(const struct dsb_error *e, const char **code)
{
    if (strcmp(e->upstream, DSB_UNAUTH_UPSTREAM) == 0) {
        *code = "unauthenticated";
        return 401;
    }
    if (strcmp(e->upstream, DSB_SCOPE_UPSTREAM) == 0) {
        *code = "insufficient_scope";
        return 403;
    }
    if (strcmp(e->upstream, DSB_FORBIDDEN_UPSTREAM) == 0) {
        *code = "forbidden";
        return 403;
    }
    if (e->code == DSB_E_INVALID &&
        strcmp(e->upstream, DSB_ROUTE_UPSTREAM) == 0) {
        *code = "unroutable";
        return 422;
    }
    if (e->code == DSB_E_CONFLICT &&
        strcmp(e->upstream, DSB_PRECONDITION_UPSTREAM) == 0) {
        *code = "precondition_failed";
        return 412;
    }
    if (e->code == DSB_E_UNAVAILABLE &&
        strcmp(e->upstream, DSB_STORE_FULL_UPSTREAM) == 0) {
        *code = "insufficient_storage";
        return 507;
    }
    if (e->code == DSB_E_UNAVAILABLE &&
        strcmp(e->upstream, DSB_STORE_LOST_UPSTREAM) == 0) {
        *code = "state_store_unavailable";
        return 503;
    }
    *code = dsb_err_code_name(e->code);
    return dsb_err_http_status(e->code);
}

/* Retry-After of a 429: a job refused by a full queue, broker.yaml's
 * jobs.retry_after_seconds; else a throttled answer is cached for the
 * cache's error TTL, so retrying sooner only gets it again.  A state
 * store that cannot be reached: DSB_STORE_RETRY_AFTER_S. */
#define DSB_STORE_RETRY_AFTER_S 5
static void retry_after(struct dsb_req *r, const struct dsb_error *e)
{
    const struct dsb_settings *set = &r->gen->broker->cfg->settings;
    long long s = strcmp(e->upstream, DSB_STORE_LOST_UPSTREAM) == 0
                      ? DSB_STORE_RETRY_AFTER_S
                  : strcmp(e->upstream, DSB_JOBS_LIMIT_UPSTREAM) == 0
                      ? (long long)set->jobs_retry_after_s
                      : set->cache_error_ttl_ms / 1000;
    char v[32];

    snprintf(v, sizeof(v), "%lld", s > 0 ? s : 1);
    dsb_reply_header(r, "Retry-After", v);
}

/* WWW-Authenticate of a 401 (RFC 6750) or of a missing scope; the MCP
 * endpoint's 401 names its RFC 9728 resource metadata. */
static void www_authenticate(struct dsb_req *r, const struct dsb_error *e,
                             int status)
{
    const char *host = dsb_req_header(r, "Host");
    char v[384], meta[256] = "";

    if (r->route && (r->route->flags & DSB_ROUTE_MCP))
        snprintf(meta, sizeof(meta),
                 "%sresource_metadata=\"http://%.160s/.well-known/"
                 "oauth-protected-resource\"",
                 strcmp(e->detail, "invalid") == 0 ? ", " : " ",
                 host && !strpbrk(host, "\"\\") ? host : "127.0.0.1");
    if (status == 401)
        snprintf(v, sizeof(v), "%s%s",
                 strcmp(e->detail, "invalid") == 0
                     ? "Bearer error=\"invalid_token\""
                     : "Bearer",
                 meta);
    else
        snprintf(v, sizeof(v),
                 "Bearer error=\"insufficient_scope\", "
                 "scope=\"%.32s\"",
                 e->detail);
    dsb_reply_header(r, "WWW-Authenticate", v);
}

/* The marker upstreams of the service's refusals are not shown. */
static int marker(const char *upstream)
{
    return strncmp(upstream, "dsb:", 4) == 0;
}

void dsb_reply_error(struct dsb_req *r, const struct dsb_error *e)
{
    const char *code;
    int status = error_status(e, &code);
    json_t *p =
        problem(status, code, e->message, e->detail, e->hint, r->request_id);

    if (!p) {
        dsb_reply_problem(r, 500, "internal", "out of memory", NULL, NULL);
        return;
    }
    note_problem(r, code, e->message, marker(e->upstream) ? NULL : e->upstream);
    if (status == 429 || strcmp(code, "state_store_unavailable") == 0)
        retry_after(r, e);
    if (status == 401 || strcmp(code, "insufficient_scope") == 0)
        www_authenticate(r, e, status);
    if (strcmp(code, "insufficient_scope") == 0)
        json_object_set_new(p, "scope", json_string(e->detail));
    json_object_set_new(p, "retryable", json_boolean(e->retryable));
    if (e->upstream[0] && !marker(e->upstream))
        json_object_set_new(p, "upstream", json_string(e->upstream));
    if (r->url)
        json_object_set_new(p, "instance", json_string(r->url));
    reply_problem_json(r, status, p);
}

/* Whether an If-None-Match value lists etag (or is "*"). */
static int etag_listed(const char *inm, const char *etag)
{
    size_t el = strlen(etag);

    while (inm && *inm) {
        size_t len;
        inm += strspn(inm, " \t,");
        if (strncmp(inm, "W/", 2) == 0)
            inm += 2;
        len = strcspn(inm, ", \t");
        if ((len == 1 && *inm == '*') ||
            (len == el && memcmp(inm, etag, el) == 0))
            return 1;
        inm += len;
    }
    return 0;
}

/* A cached answer: 304 when If-None-Match matches, else the body; 1 when
 * the response took the hold on v. */
static int reply_cached(struct dsb_req *r, const struct dsb_cached *v)
{
    if (!v->body) {
        dsb_reply_error(r, &v->err);
        return 0;
    }
    if (etag_listed(dsb_req_header(r, "If-None-Match"), v->etag)) {
        dsb_reply_bytes(r, 304, NULL, "", 0, v->etag);
        return 0;
    }
    if (r->ex || r->responded) {
        dsb_reply_bytes(r, 200, "application/json", v->body, v->len, v->etag);
        return 0;
    }
    return reply_lent(r, v);
}

void dsb_reply_entry(struct dsb_req *r, const struct dsb_cached *v, int hit,
                     const struct dsb_error *err)
{
    if (!v) {
        dsb_reply_error(r, err);
        return;
    }
    r->cache_state = hit ? "hit" : "miss";
    if (!reply_cached(r, v))
        dsb_cache_release(r->gen->cache, v);
}
