/* /mcp, the MCP Streamable HTTP endpoint (docs/mcp.md), and its RFC 9728
 * protected resource metadata.  Parses and checks the transport (Origin,
 * token, JSON-RPC framing, the 2026-07-28 request headers or the 2025
 * transport session), calls core/mcp, and maps its errors to statuses. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "log.h"
#include "mcp/mcp.h"
#include "util.h"

#define META_VERSION "io.modelcontextprotocol/protocolVersion"

/* {"jsonrpc": "2.0", "id": id} plus member (taken): a new object. */
static json_t *envelope(const json_t *id, const char *member, json_t *v)
{
    return json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id",
                     id ? id : json_null(), member, v);
}

/* s (taken) after the redactor has replaced every registered secret (a
 * tool's answer may quote a plugin's error), *n its length; the buffer
 * leaves room for every "[REDACTED]".  NULL when out of memory. */
static char *redacted(char *s, size_t *n)
{
    char *buf;

    *n = strlen(s);
    buf = malloc(*n * 3 + 64);
    if (buf) {
        memcpy(buf, s, *n + 1);
        *n = dsb_redact(buf, *n * 3 + 64);
    }
    free(s);
    return buf;
}

static void redacted_reply(struct dsb_req *r, int status, const char *ctype,
                           char *s)
{
    size_t n;
    char *buf = redacted(s, &n);

    if (!buf) {
        dsb_reply_problem(r, 500, "internal", "out of memory", NULL, NULL);
        return;
    }
    dsb_reply_take(r, status, ctype, buf, n);
}

static void send_message(struct dsb_req *r, int status, json_t *msg)
{
    char *s = json_dumps(msg, JSON_COMPACT);

    json_decref(msg);
    if (!s) {
        dsb_reply_problem(r, 500, "internal", "out of memory", NULL, NULL);
        return;
    }
    redacted_reply(r, status, "application/json", s);
}

/* The JSON-RPC error message of e (its data taken); noted for the
 * access log. */
static json_t *error_message(struct dsb_req *r, const json_t *id,
                             struct dsb_mcp_err *e)
{
    json_t *err =
        json_pack("{s:i, s:s}", "code", e->code, "message", e->message);

    if (e->data)
        json_object_set_new(err, "data", e->data);
    e->data = NULL;
    snprintf(r->err_code, sizeof(r->err_code), "rpc%d", e->code);
    return envelope(id, "error", err);
}

static void rpc_error(struct dsb_req *r, int status, const json_t *id,
                      struct dsb_mcp_err *e)
{
    send_message(r, status, error_message(r, id, e));
}

static void rpc_fail(struct dsb_req *r, int status, const json_t *id, int code,
                     const char *message)
{
    struct dsb_mcp_err e = {0};

    dsb_mcp_err_set(&e, code, "%s", message);
    rpc_error(r, status, id, &e);
}

/* Enabled, an allowed Origin, a known token: else answered (404, 403,
 * 401 pointing at the resource metadata) and -1. */
static int gate(struct dsb_req *r)
{
    const struct dsb_settings *st = &r->gen->broker->cfg->settings;
    struct dsb_error err;

    if (!st->mcp_enabled) {
        dsb_reply_problem(r, 404, "not_found", "the MCP server is disabled",
                          NULL, "set mcp.enabled in broker.yaml");
        return -1;
    }
    if (dsb_req_header(r, "Origin") && !r->origin) {
        rpc_fail(r, 403, NULL, DSB_RPC_INVALID_REQUEST,
                 "this origin may not call the MCP endpoint; add it to "
                 "cors.allowed_origins");
        return -1;
    }
    if (dsb_svc_authenticate(r->srv->svc, r->gen, dsb_req_bearer(r),
                             &r->ctx.principal, &err) == 0)
        return 0;
    dsb_reply_error(r, &err);
    return -1;
}

/* The body as one JSON-RPC message (an object); else answered, NULL. */
static json_t *message_of(struct dsb_req *r)
{
    json_error_t je;
    json_t *m =
        r->body ? json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &je)
                : NULL;
    const json_t *id;

    if (!m) {
        rpc_fail(r, 400, NULL, DSB_RPC_PARSE_ERROR,
                 r->body ? "the body is not valid JSON" : "the body is empty");
        return NULL;
    }
    if (json_is_array(m)) {
        rpc_fail(r, 400, NULL, DSB_RPC_INVALID_REQUEST,
                 "batches are not supported: send one message per POST");
        json_decref(m);
        return NULL;
    }
    id = json_object_get(m, "id");
    if (!json_is_object(m) || !json_is_string(json_object_get(m, "jsonrpc")) ||
        strcmp(json_string_value(json_object_get(m, "jsonrpc")), "2.0") ||
        (id && !json_is_string(id) && !json_is_integer(id)) ||
        (json_object_get(m, "method") &&
         !json_is_string(json_object_get(m, "method"))) ||
        (json_object_get(m, "params") &&
         !json_is_object(json_object_get(m, "params"))) ||
        (!json_object_get(m, "method") && !json_object_get(m, "result") &&
         !json_object_get(m, "error"))) {
        rpc_fail(r, 400, json_is_string(id) || json_is_integer(id) ? id : NULL,
                 DSB_RPC_INVALID_REQUEST, "not a JSON-RPC 2.0 message");
        json_decref(m);
        return NULL;
    }
    return m;
}

/* The status of a method's error: 2026-07-28 maps them to HTTP; the 2025
 * revisions answer JSON-RPC errors with 200.  A missing scope is 403
 * with WWW-Authenticate in both. */
static void method_error(struct dsb_req *r, int modern, const json_t *id,
                         struct dsb_mcp_err *e)
{
    int status = 200;
    char v[128];

    if (e->scope[0]) {
        snprintf(v, sizeof(v),
                 "Bearer error=\"insufficient_scope\", scope=\"%s\"", e->scope);
        dsb_reply_header(r, "WWW-Authenticate", v);
        status = 403;
    } else if (modern) {
        status = e->code == DSB_RPC_METHOD_NOT_FOUND ? 404
                 : e->code == DSB_RPC_INTERNAL       ? 500
                                                     : 400;
    }
    rpc_error(r, status, id, e);
}

/* msg as one server-sent event (redacted), or NULL. */
static char *sse_event(const json_t *msg, size_t *n)
{
    char *s = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
    char *ev = s ? dsb_asprintf("event: message\ndata: %s\n\n", s) : NULL;

    free(s);
    return ev ? redacted(ev, n) : NULL;
}

/* The progress notifications held, then the response, as one event
 * stream (both taken): a request the worker answers cannot stream. */
static void send_stream(struct dsb_req *r, json_t *events, json_t *msg)
{
    struct dsb_sb b = {0};
    json_t *ev;
    size_t i, n;
    char *s;

    json_array_append_new(events, msg);
    json_array_foreach(events, i, ev)
    {
        s = sse_event(ev, &n);
        dsb_sb_add(&b, s ? s : "", s ? n : 0);
        free(s);
    }
    json_decref(events);
    s = dsb_sb_take(&b);
    dsb_reply_take(r, 200, "text/event-stream", s, s ? strlen(s) : 0);
}

/* Where a tool's progress goes: the event stream opened at the first
 * notification, which the client gets while the tool runs; or, when no
 * stream can be opened (a request on the worker), held for send_stream. */
struct sink {
    struct dsb_req *r;
    json_t *held;
};

static void stream_message(struct dsb_req *r, json_t *msg)
{
    size_t n;
    char *ev = sse_event(msg, &n);

    json_decref(msg);
    if (ev)
        dsb_stream_write(r, ev, n);
    free(ev);
}

static void on_progress(void *cls, json_t *note)
{
    struct sink *k = cls;

    if (!k->r->stream) {
        if (!json_array_size(k->held)) /* the first: either way a stream */
            dsb_reply_header(k->r, "X-Accel-Buffering", "no");
        if (dsb_stream_open(k->r, 200, "text/event-stream") < 0) {
            json_array_append_new(k->held, note);
            return;
        }
    }
    stream_message(k->r, note);
}

/* The client takes an event stream and asked for progress. */
static const json_t *progress_token(struct dsb_req *r, const json_t *m)
{
    const char *accept = dsb_req_header(r, "Accept");
    const json_t *meta = json_object_get(json_object_get(m, "params"), "_meta");

    if (!accept || !strstr(accept, "text/event-stream"))
        return NULL;
    return json_object_get(meta, "progressToken");
}

/* Once a stream is open the connection is not to be read (the client may
 * be gone): everything answer needs from it is read before dispatch. */
static void answer(struct dsb_req *r, const struct dsb_mcp_call *call,
                   const json_t *m)
{
    const char *method = json_string_value(json_object_get(m, "method"));
    const json_t *id = json_object_get(m, "id");
    struct dsb_mcp_call c = *call;
    struct dsb_mcp_err e = {0};
    struct sink k = {r, NULL};
    json_t *res;

    if (!id) { /* a notification: nothing to answer */
        dsb_reply_empty(r, 202);
        return;
    }
    if ((c.progress_token = progress_token(r, m))) {
        k.held = json_array();
        c.progress_fn = on_progress;
        c.progress_cls = &k;
    }
    res = dsb_mcp_dispatch(&c, method, json_object_get(m, "params"), &e);
    if (r->stream)
        stream_message(r, res ? envelope(id, "result", res)
                              : error_message(r, id, &e));
    else if (res && json_array_size(k.held))
        send_stream(r, json_incref(k.held), envelope(id, "result", res));
    else if (res)
        send_message(r, 200, envelope(id, "result", res));
    else
        method_error(r, c.modern, id, &e);
    json_decref(k.held);
}

/* ------------------------------------------------------- 2026-07-28 */

/* A header value in the Base64 sentinel form decoded (malloc'd), or a
 * copy of it. */
static char *header_value(const char *h)
{
    size_t n = strlen(h), len;

    if (n >= 12 && strncmp(h, "=?base64?", 9) == 0 &&
        strcmp(h + n - 2, "?=") == 0) {
        char *inner = strndup(h + 9, n - 11), *v;
        v = inner ? dsb_mcp_unb64(inner, &len) : NULL;
        free(inner);
        return v;
    }
    return strdup(h);
}

/* The mirrored headers agree with the body: else -32020 (-1). */
static int headers_match(const json_t *m, struct dsb_req *r,
                         struct dsb_mcp_err *e)
{
    const char *method = json_string_value(json_object_get(m, "method"));
    const char *hm = dsb_req_header(r, "Mcp-Method");
    const char *hn = dsb_req_header(r, "Mcp-Name");
    const json_t *p = json_object_get(m, "params");
    const char *name = json_string_value(json_object_get(p, "name"));
    char *got;
    int ok;

    if (strcmp(method, "resources/read") == 0)
        name = json_string_value(json_object_get(p, "uri"));
    if (!hm || strcmp(hm, method) != 0) {
        dsb_mcp_err_set(e, DSB_RPC_HEADER_MISMATCH,
                        "header mismatch: Mcp-Method %s the body's method",
                        hm ? "does not match" : "is missing; it must be");
        return -1;
    }
    if (strcmp(method, "tools/call") && strcmp(method, "resources/read") &&
        strcmp(method, "prompts/get"))
        return 0;
    got = hn ? header_value(hn) : NULL;
    ok = got && name && strcmp(got, name) == 0;
    free(got);
    if (!ok)
        dsb_mcp_err_set(e, DSB_RPC_HEADER_MISMATCH,
                        "header mismatch: Mcp-Name %s",
                        hn ? "does not match "
                             "the body's name or uri"
                           : "is missing");
    return ok ? 0 : -1;
}

static void serve_modern(struct dsb_req *r, const json_t *m)
{
    const json_t *id = json_object_get(m, "id");
    const json_t *meta = json_object_get(json_object_get(m, "params"), "_meta");
    const char *mv = json_string_value(json_object_get(meta, META_VERSION));
    const char *hv = dsb_req_header(r, "MCP-Protocol-Version");
    struct dsb_mcp_call c = {
        &r->ctx, &r->gen->broker->cfg->settings, 1, DSB_MCP_MODERN, NULL, NULL,
        NULL};
    struct dsb_mcp_err e = {0};

    if (!mv)
        dsb_mcp_err_set(&e, DSB_RPC_INVALID_PARAMS,
                        "params._meta needs \"" META_VERSION "\"");
    else if (!hv || strcmp(hv, mv) != 0)
        dsb_mcp_err_set(&e, DSB_RPC_HEADER_MISMATCH,
                        "header mismatch: MCP-Protocol-Version %s",
                        hv ? "does not match the body's protocolVersion"
                           : "is missing");
    else if (strcmp(mv, DSB_MCP_MODERN) != 0) {
        dsb_mcp_err_set(&e, DSB_RPC_UNSUPPORTED_VERSION,
                        "unsupported protocol version");
        e.data = json_pack("{s:o, s:s}", "supported", dsb_mcp_versions_json(),
                           "requested", mv);
    } else if (headers_match(m, r, &e) == 0) {
        answer(r, &c, m);
        return;
    }
    rpc_error(r, 400, id, &e);
}

/* ---------------------------------------- 2025-11-25 and older */

static void initialize(struct dsb_req *r, const json_t *m)
{
    const json_t *id = json_object_get(m, "id");
    const json_t *p = json_object_get(m, "params");
    const struct dsb_settings *st = &r->gen->broker->cfg->settings;
    struct dsb_mcp_err e = {0};
    char sid[DSB_MCP_SESSION_ID_LEN + 1];
    const char *v =
        dsb_mcp_negotiate(json_object_get(p, "protocolVersion"), &e);

    if (!id) {
        rpc_fail(r, 400, NULL, DSB_RPC_INVALID_REQUEST,
                 "initialize is a request: it needs an id");
        return;
    }
    if (!v) {
        rpc_error(r, 200, id, &e);
        return;
    }
    if (dsb_mcp_session_open(r->srv->mcp, r->ctx.principal->name, v,
                             st->mcp_max_sessions, sid) < 0) {
        rpc_fail(r, 500, id, DSB_RPC_INTERNAL, "cannot open a session");
        return;
    }
    dsb_reply_header(r, "Mcp-Session-Id", sid);
    send_message(r, 200, envelope(id, "result", dsb_mcp_initialize_result(v)));
}

static void serve_legacy(struct dsb_req *r, const json_t *m)
{
    const json_t *id = json_object_get(m, "id");
    const char *sid = dsb_req_header(r, "Mcp-Session-Id");
    const char *hv = dsb_req_header(r, "MCP-Protocol-Version");
    const struct dsb_settings *st = &r->gen->broker->cfg->settings;
    struct dsb_mcp_call c = {&r->ctx, st, 0, NULL, NULL, NULL, NULL};
    char version[16];

    if (strcmp(json_string_value(json_object_get(m, "method")), "initialize") ==
        0) {
        initialize(r, m);
        return;
    }
    if (!sid) {
        rpc_fail(r, 400, id, DSB_RPC_INVALID_REQUEST,
                 "Mcp-Session-Id is missing: send initialize first, or "
                 "use protocol " DSB_MCP_MODERN);
        return;
    }
    if (dsb_mcp_session_use(r->srv->mcp, sid, r->ctx.principal->name,
                            st->mcp_session_idle_ms, version) < 0) {
        rpc_fail(r, 404, id, DSB_RPC_INVALID_REQUEST,
                 "no such MCP session (expired or ended): initialize again");
        return;
    }
    if (hv && !dsb_mcp_legacy_supported(hv)) {
        rpc_fail(r, 400, id, DSB_RPC_INVALID_REQUEST,
                 "unsupported MCP-Protocol-Version");
        return;
    }
    c.version = version;
    answer(r, &c, m);
}

/* A 2026-07-28 request: per-request _meta or headers, never initialize. */
static int is_modern(struct dsb_req *r, const json_t *m)
{
    const char *method = json_string_value(json_object_get(m, "method"));
    const json_t *meta = json_object_get(json_object_get(m, "params"), "_meta");
    const char *hv = dsb_req_header(r, "MCP-Protocol-Version");

    if (strcmp(method, "initialize") == 0)
        return 0;
    return json_object_get(meta, META_VERSION) ||
           strcmp(method, "server/discover") == 0 ||
           (hv && !dsb_mcp_legacy_supported(hv) &&
            !dsb_req_header(r, "Mcp-Session-Id"));
}

void dsb_h_mcp_post(struct dsb_req *r)
{
    json_t *m;

    if (gate(r) < 0 || !(m = message_of(r)))
        return;
    if (!json_object_get(m, "method")) /* a response from the client */
        dsb_reply_empty(r, 202);
    else if (is_modern(r, m))
        serve_modern(r, m);
    else
        serve_legacy(r, m);
    json_decref(m);
}

void dsb_h_mcp_get(struct dsb_req *r)
{
    if (gate(r) < 0)
        return;
    dsb_reply_header(r, "Allow", "POST, DELETE");
    rpc_fail(r, 405, NULL, DSB_RPC_INVALID_REQUEST,
             "this server opens no GET stream: results come on the POST");
}

void dsb_h_mcp_delete(struct dsb_req *r)
{
    const char *sid;

    if (gate(r) < 0)
        return;
    sid = dsb_req_header(r, "Mcp-Session-Id");
    if (!sid)
        rpc_fail(r, 400, NULL, DSB_RPC_INVALID_REQUEST,
                 "Mcp-Session-Id is missing");
    else if (dsb_mcp_session_close(r->srv->mcp, sid, r->ctx.principal->name) <
             0)
        rpc_fail(r, 404, NULL, DSB_RPC_INVALID_REQUEST, "no such MCP session");
    else
        dsb_reply_empty(r, 204);
}

/* RFC 9728 metadata of the resource /mcp: bearer tokens in the header,
 * the broker's scopes.  The broker issues no tokens (an operator does,
 * in broker.yaml), so no authorization server is named. */
void dsb_h_mcp_metadata(struct dsb_req *r)
{
    const char *host = dsb_req_header(r, "Host");
    char *res = dsb_asprintf("http://%s/mcp", host ? host : "127.0.0.1");
    json_t *scopes = json_array();

    for (unsigned i = 0; i < DSB_SCOPES_COUNT; i++)
        json_array_append_new(scopes, json_string(dsb_scope_name(1u << i)));
    dsb_reply_json(r, 200,
                   json_pack("{s:s, s:s, s:o, s:[s]}", "resource",
                             res ? res : "/mcp", "resource_name", "dsbroker",
                             "scopes_supported", scopes,
                             "bearer_methods_supported", "header"));
    free(res);
}

/* ------------------------------------------------ the worker's share */

/* The methods answered without touching a plugin, a store or a child. */
static int cheap_method(const char *method)
{
    static const char *const cheap[] = {
        "ping",         "server/discover", "tools/list",
        "prompts/list", "resources/list",  "resources/templates/list",
        "initialize"};

    for (size_t i = 0; i < sizeof(cheap) / sizeof(*cheap); i++)
        if (strcmp(method, cheap[i]) == 0)
            return 1;
    return 0;
}

/* A describe_table whose table the cache holds fresh for the principal. */
static int cached_describe(struct dsb_req *r, const json_t *params)
{
    const json_t *a = json_object_get(params, "arguments");
    struct dsb_browse b = {
        DSB_SLOT_DESCRIBE_TABLE, NULL, NULL, NULL, NULL, NULL, NULL, 0};
    struct dsb_svc_key k;
    struct dsb_error err;
    const struct dsb_cached *v;

    b.source = json_string_value(json_object_get(a, "source"));
    b.database = json_string_value(json_object_get(a, "database"));
    b.schema = json_string_value(json_object_get(a, "schema"));
    b.table = json_string_value(json_object_get(a, "table"));
    if (!b.source || !b.database || !b.table || json_object_get(a, "cursor") ||
        dsb_svc_authenticate(r->srv->svc, r->gen, dsb_req_bearer(r),
                             &r->ctx.principal, &err) < 0)
        return 0;
    if (!b.schema)
        b.schema = dsb_svc_flat_schema(&r->ctx, b.source);
    if (!b.schema || dsb_svc_browse_key(&r->ctx, &b, &k, &err) < 0)
        return 0;
    v = dsb_svc_peek(&r->ctx, &k);
    dsb_svc_key_free(&k);
    if (v)
        dsb_svc_release(&r->ctx, v);
    return v != NULL;
}

int dsb_mcp_inline(struct dsb_req *r)
{
    json_t *m, *p;
    const char *method;
    int yes;

    if (strcmp(r->method, "POST") != 0 || !r->body)
        return 1;
    m = json_loadb(r->body, r->body_len, 0, NULL);
    method = json_string_value(json_object_get(m, "method"));
    p = json_object_get(m, "params");
    yes = !method || !json_object_get(m, "id") || cheap_method(method) ||
          (strcmp(method, "tools/call") == 0 &&
           json_is_string(json_object_get(p, "name")) &&
           strcmp(json_string_value(json_object_get(p, "name")),
                  "describe_table") == 0 &&
           cached_describe(r, p));
    json_decref(m);
    return yes;
}
