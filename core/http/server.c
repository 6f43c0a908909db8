/* libmicrohttpd glue: daemon, request lifecycle, the fast path. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "log.h"
#include "mcp/mcp.h"
#include "util.h"

static atomic_ullong request_counter;

/* One line a request, which may wait in the log buffer: a busy server
 * must not spend a write(2) on every line. */
static void access_log(struct dsb_req *r)
{
    int64_t us = dsb_monotonic_us() - r->start_us;
    int auth = r->gen && r->gen->broker->cfg->settings.auth_enabled;
    struct dsb_log_field f[] = {
        DSB_LF_S("method", r->method),
        DSB_LF_S("path", r->url),
        DSB_LF_S("route", r->route ? r->route->pattern : NULL),
        DSB_LF_I("status", r->status),
        DSB_LF_M("duration_ms", us),
        DSB_LF_I("bytes", r->resp_bytes),
        DSB_LF_S("request_id", r->request_id),
        DSB_LF_S("cache", r->cache_state),
        DSB_LF_S("token",
                 r->ctx.principal && auth ? r->ctx.principal->name : NULL),
        DSB_LF_I("config", r->gen ? r->gen->serial : 0),
        DSB_LF_S("error_code", r->err_code[0] ? r->err_code : NULL),
        DSB_LF_S("error_message", r->err_code[0] ? r->err_message : NULL),
        DSB_LF_S("upstream",
                 r->err_code[0] && r->err_upstream[0] ? r->err_upstream : NULL),
    };

    dsb_log_fields(r->status >= 500 ? DSB_LOG_WARN : DSB_LOG_INFO, "access",
                   "request", f, sizeof(f) / sizeof(*f), DSB_LOG_MAY_WAIT);
}

/* ------------------------------------------------------------ requests */

/* An in-process request's header (names compare case-insensitively). */
static const char *ex_header(const struct dsb_http_exchange *ex,
                             const char *name)
{
    for (const char *const *h = ex->headers; h && h[0] && h[1]; h += 2)
        if (strcasecmp(h[0], name) == 0)
            return h[1];
    return NULL;
}

/* An in-process request's raw query value (malloc'd), like MHD's: the first
 * "name=value" pair; a name without '=' has no value. */
static char *ex_query(const struct dsb_http_exchange *ex, const char *name)
{
    const char *p = strchr(ex->url, '?');
    size_t nl = strlen(name);

    while (p && *p) {
        size_t len = strcspn(++p, "&");
        if (len > nl && p[nl] == '=' && strncmp(p, name, nl) == 0)
            return strndup(p + nl + 1, len - nl - 1);
        p += len;
    }
    return NULL;
}

const char *dsb_req_header(struct dsb_req *r, const char *name)
{
    if (r->ex)
        return ex_header(r->ex, name);
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

char *dsb_req_query(struct dsb_req *r, const char *name, int *bad)
{
    const char *raw =
        r->ex
            ? NULL
            : MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
    char *v = r->ex ? ex_query(r->ex, name) : raw ? strdup(raw) : NULL;

    if (v && dsb_query_decode(v) < 0) {
        *bad = 1;
        free(v);
        return NULL;
    }
    return v;
}

json_t *dsb_req_json(struct dsb_req *r)
{
    const char *ct = dsb_req_header(r, "Content-Type");
    json_error_t je = {0};
    json_t *j;

    if (ct && strncasecmp(ct, "application/json", 16) != 0) {
        dsb_reply_problem(r, 415, "unsupported_media_type",
                          "the body must "
                          "be application/json",
                          ct, NULL);
        return NULL;
    }
    j = r->body ? json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &je)
                : NULL;
    if (!j) {
        char detail[256];
        snprintf(detail, sizeof(detail), "%s (line %d, column %d)",
                 r->body ? je.text : "the body is empty", je.line, je.column);
        dsb_reply_problem(r, 400, "invalid", "the body is not valid JSON",
                          r->body ? detail : "the body is empty", NULL);
    }
    return j;
}

void dsb_request_id(char *out, size_t cap, const char *prefix,
                    unsigned long long n)
{
    char digits[24], *p = digits + sizeof(digits);
    size_t lp = strlen(prefix), ld;

    do {
        *--p = (char)('0' + n % 10);
        n /= 10;
    } while (n);
    ld = (size_t)(digits + sizeof(digits) - p);
    if (lp + ld + 1 > cap) {
        out[0] = '\0';
        return;
    }
    memcpy(out, prefix, lp);
    memcpy(out + lp, p, ld);
    out[lp + ld] = '\0';
}

static void set_request_id(struct dsb_req *r)
{
    const char *given = dsb_req_header(r, "X-Request-Id");
    size_t n = given ? strlen(given) : 0;

    if (n > 0 && n < sizeof(r->request_id) &&
        strspn(given, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                      "0123456789-_.") == n) {
        memcpy(r->request_id, given, n + 1);
        return;
    }
    dsb_request_id(r->request_id, sizeof(r->request_id), r->srv->id_prefix,
                   atomic_fetch_add(&request_counter, 1));
}

/* A connection's own state (libmicrohttpd's socket context): its receive
 * deadline, and the configuration generation its requests use.  A
 * connection's requests come one at a time, on one worker; each request
 * borrows the connection's hold on the generation, taken again only when a
 * reload installed a new one (no lock and no shared counter per request).
 * libmicrohttpd reports a request completed before it reports its
 * connection closed, which releases the hold. */
struct dsb_conn {
    struct dsb_deadline *deadline;
    struct dsb_gen *gen;
};

static struct dsb_conn *conn_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

    return ci ? ci->socket_context : NULL;
}

/* The current generation for a request of conn: held by the connection
 * (borrowed by the request, *owned 0), or by the request itself when the
 * connection has no state (*owned 1). */
static struct dsb_gen *conn_gen(struct dsb_server *s,
                                struct MHD_Connection *conn, int *owned)
{
    struct dsb_conn *c = conn ? conn_of(conn) : NULL;

    *owned = !c;
    if (!c)
        return dsb_service_gen(s->svc);
    c->gen = dsb_service_gen_since(s->svc, c->gen);
    return c->gen;
}

static struct dsb_req *req_new(struct dsb_server *s,
                               struct MHD_Connection *conn, const char *url,
                               const char *method, struct dsb_http_exchange *ex)
{
    struct dsb_req *r = calloc(1, sizeof(*r));

    if (!r)
        return NULL;
    r->srv = s;
    r->conn = conn;
    r->ex = ex;
    r->url = url;
    r->method = method;
    r->start_us = dsb_monotonic_us();
    r->max_body = dsb_route_takes_upload(url) ? s->max_upload : s->max_body;
    r->gen = conn_gen(s, conn, &r->gen_owned);
    atomic_fetch_add(&s->in_flight, 1);
    set_request_id(r);
    r->ctx.svc = s->svc;
    r->ctx.request_id = r->request_id;
    r->ctx.gen = r->gen;
    r->ctx.principal = &r->gen->anonymous;
    return r;
}

static void req_free(struct dsb_req *r)
{
    dsb_arena_free(r->ctx.arena);
    if (r->gen_owned)
        dsb_gen_release(r->gen);
    dsb_path_free(r->segs, r->n_segs);
    for (size_t i = 0; i < r->n_hdrs; i++) {
        free(r->hdrs[i].name);
        free(r->hdrs[i].value);
    }
    free(r->body);
    free(r->err_message);
    if (r->deferred_resp)
        MHD_destroy_response(r->deferred_resp);
    dsb_stream_free(r);
    atomic_fetch_sub(&r->srv->in_flight, 1);
    free(r);
}

static void too_large(struct dsb_req *r)
{
    char msg[128];

    r->too_large = 1;
    snprintf(msg, sizeof(msg), "the request body is larger than %zu bytes",
             r->max_body);
    dsb_reply_problem(r, 413, "too_large", msg, NULL,
                      r->max_body > r->srv->max_body
                          ? "send less, or raise compat.max_upload_bytes"
                          : "send less, or raise limits.max_body_bytes");
}

/* First call (headers only): refuses an announced oversized body. */
static void begin(struct dsb_req *r)
{
    const char *cl = dsb_req_header(r, "Content-Length");
    char *end = NULL;
    unsigned long long n;

    if (!cl)
        return;
    errno = 0;
    n = strtoull(cl, &end, 10);
    if (errno || end == cl || *end || n > r->max_body)
        too_large(r);
}

/* Stores upload data.  MHD cannot queue a response while a body is being
 * received, so a chunked body that grows too large is discarded up to a
 * budget and answered 413 at its end; beyond the budget the connection is
 * dropped.  Returns -1 to drop it. */
static int append_body(struct dsb_req *r, const char *data, size_t n)
{
    if (r->responded)
        return 0;
    if (r->too_large || r->body_len + n > r->max_body) {
        r->too_large = 1;
        r->discarded += n;
        return r->discarded > 4 * r->max_body + (1u << 20) ? -1 : 0;
    }
    if (r->body_len + n + 1 > r->body_cap) {
        size_t cap = (r->body_len + n + 1) * 2;
        char *nb =
            realloc(r->body, cap < r->max_body + 1 ? cap : r->max_body + 1);
        if (!nb)
            return -1;
        r->body = nb;
        r->body_cap = cap < r->max_body + 1 ? cap : r->max_body + 1;
    }
    memcpy(r->body + r->body_len, data, n);
    r->body_len += n;
    r->body[r->body_len] = '\0';
    return 0;
}

static int route_request(struct dsb_req *r)
{
    char allow[128];
    enum dsb_match m;

    if (dsb_path_split(r->url, &r->segs, &r->n_segs) < 0) {
        dsb_reply_problem(r, 400, "invalid", "the path is malformed",
                          "a "
                          "segment is empty, has a bad %-escape, an encoded "
                          "NUL or invalid UTF-8",
                          NULL);
        return -1;
    }
    m = dsb_router_match(r->method, r->segs, r->n_segs, &r->route, r->params,
                         allow, sizeof(allow));
    r->compat = dsb_route_compat_path(r->segs, r->n_segs);
    if (m == DSB_MATCH_OK)
        return 0;
    if (strcmp(r->method, "OPTIONS") == 0 && m == DSB_MATCH_NO_METHOD) {
        dsb_reply_header(r, "Allow", allow);
        dsb_reply_empty(r, 204);
    } else if (m == DSB_MATCH_NO_METHOD) {
        dsb_reply_header(r, "Allow", allow);
        dsb_reply_problem(r, 405, "method_not_allowed",
                          "method not allowed "
                          "on this path",
                          allow, NULL);
    } else {
        dsb_reply_problem(r, 404, "not_found", "no such route", NULL,
                          "see docs/http-api.md");
    }
    return -1;
}

/* Everything before the route's handler: 0 when the handler is to run,
 * -1 when a response (preflight, 404, 405, 401) was sent. */
static int prepare(struct dsb_req *r)
{
    dsb_cors_origin(r);
    if (dsb_cors_preflight(r))
        return -1;
    if (route_request(r) < 0)
        return -1;
    return (r->route->flags &
            (DSB_ROUTE_MCP | DSB_ROUTE_STATIC | DSB_ROUTE_SELF_AUTH)) ||
                   dsb_auth_check(r) == 0
               ? 0
               : -1;
}

static void run_handler(struct dsb_req *r)
{
    r->ctx.arena = dsb_arena_new();
    if (!r->ctx.arena) {
        dsb_reply_problem(r, 500, "internal", "out of memory", NULL, NULL);
        return;
    }
    r->route->fn(r);
    if (!r->responded)
        dsb_reply_problem(r, 500, "internal", "the handler sent no response",
                          NULL, NULL);
}

/* The fast path of a route with a key function: a fresh cached answer is
 * sent by the worker from the key alone.  1 when it answered. */
static int answered_from_cache(struct dsb_req *r)
{
    struct dsb_svc_key k;
    const struct dsb_cached *v;

    if (!r->route->key || r->route->key(r, &k) < 0)
        return 0;
    dsb_memo_remember(r, &k);
    v = dsb_svc_peek(&r->ctx, &k);
    dsb_svc_key_free(&k);
    if (!v)
        return 0;
    dsb_reply_entry(r, v, 1, NULL);
    return 1;
}

/* The fastest path: a request the route memo knows, for the same
 * principal, answered from a fresh cache entry without routing it or
 * building its key.  1 when it answered; else nothing was sent and the
 * request takes the normal path. */
static int answered_from_memo(struct dsb_req *r)
{
    const struct dsb_principal *p;
    struct dsb_svc_key k;
    const struct dsb_cached *v;
    struct dsb_error err;

    if (dsb_svc_authenticate(r->srv->svc, r->gen, dsb_req_bearer(r), &p, &err) <
            0 ||
        !dsb_memo_find(r, p, &k))
        return 0;
    r->ctx.principal = p;
    dsb_cors_origin(r);
    v = dsb_svc_peek(&r->ctx, &k);
    if (!v)
        return 0;
    dsb_reply_entry(r, v, 1, NULL);
    return 1;
}

static void dispatch(struct dsb_req *r)
{
    if (prepare(r) == 0)
        run_handler(r);
}

static void req_finish(struct dsb_server *s, struct dsb_req *r);

/* On a call-pool thread: the handler, then the worker takes the response.
 * A streamed one was taken when it opened: it ends here, and the request
 * is freed here when the worker completed it first. */
static void run_deferred(struct dsb_req *r)
{
    run_handler(r);
    if (!r->stream)
        MHD_resume_connection(r->conn);
    else if (dsb_stream_end(r))
        req_finish(r->srv, r);
}

/* Health routes and the console's files answer inline, and MCP messages that
 * touch no plugin, store or child (dsb_mcp_inline); every other handler may
 * block on a plugin, SQLite or a child process, so it runs on the call pool and
 * leaves the worker free for other connections. */
static int defer(struct dsb_req *r, struct MHD_Connection *conn)
{
    if (!r->srv->pool ||
        (r->route->flags & (DSB_ROUTE_HEALTH | DSB_ROUTE_STATIC)) ||
        ((r->route->flags & DSB_ROUTE_MCP) && dsb_mcp_inline(r)))
        return 0;
    r->deferred = 1;
    MHD_suspend_connection(conn);
    if (dsb_call_pool_submit(r->srv->pool, r) == 0)
        return 1;
    MHD_resume_connection(conn);
    r->deferred = 0;
    return 0;
}

/* The worker's side of a deferred request, called again after resume. */
static enum MHD_Result send_deferred(struct dsb_req *r,
                                     struct MHD_Connection *conn)
{
    struct MHD_Response *resp = r->deferred_resp;
    enum MHD_Result rc;

    if (!resp)
        return MHD_NO; /* no memory for the response: close */
    r->deferred_resp = NULL;
    rc = MHD_queue_response(conn, r->deferred_status, resp);
    MHD_destroy_response(resp);
    return rc;
}

static struct dsb_deadline *conn_deadline(struct MHD_Connection *conn)
{
    struct dsb_conn *c = conn_of(conn);

    return c ? c->deadline : NULL;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    struct dsb_req *r = *con_cls;

    (void)version;
    if (!r) {
        r = req_new(cls, conn, url, method, NULL);
        if (!r)
            return MHD_NO;
        *con_cls = r;
        begin(r);
        return MHD_YES;
    }
    if (*upload_size) {
        int rc = append_body(r, upload, *upload_size);
        *upload_size = 0;
        return rc < 0 ? MHD_NO : MHD_YES;
    }
    if (!r->received) {
        r->received = 1;
        dsb_deadline_disarm(r->srv->deadlines, conn_deadline(conn));
    }
    if (r->deferred)
        return send_deferred(r, conn);
    if (r->too_large && !r->responded)
        too_large(r);
    if (!r->responded && !answered_from_memo(r) && prepare(r) == 0 &&
        !answered_from_cache(r) && !defer(r, conn))
        run_handler(r);
    return MHD_YES;
}

/* Accounts for a finished request and frees it. */
static void req_finish(struct dsb_server *s, struct dsb_req *r)
{
    if (!r->responded)
        r->status = 499; /* the client went away first */
    dsb_metrics_request(s->metrics, r->route, r->status,
                        dsb_monotonic_us() - r->start_us);
    access_log(r);
    req_free(r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct dsb_server *s = cls;
    struct dsb_req *r = *con_cls;

    (void)toe;
    /* ready for the next request: its time starts now */
    dsb_deadline_arm(s->deadlines, conn_deadline(conn));
    *con_cls = NULL;
    /* a streaming handler still running frees r when it is done */
    if (r && (!r->stream || dsb_stream_completed(r)))
        req_finish(cls, r);
}

void dsb_http_exchange_clear(struct dsb_http_exchange *ex)
{
    free(ex->content_type);
    free(ex->resp);
    free(ex->resp_headers);
    ex->content_type = ex->resp = ex->resp_headers = NULL;
    ex->resp_len = 0;
    ex->status = 0;
}

int dsb_server_dispatch(struct dsb_server *s, struct dsb_http_exchange *ex)
{
    char *path = strndup(ex->url, strcspn(ex->url, "?"));
    struct dsb_req *r = path ? req_new(s, NULL, path, ex->method, ex) : NULL;
    int rc = -1;

    if (!r)
        goto fail;
    if (ex->body_len > r->max_body)
        too_large(r);
    else if (ex->body && append_body(r, ex->body, ex->body_len) < 0)
        goto fail;
    if (!r->responded)
        dispatch(r);
    rc = ex->resp ? 0 : -1;
fail:
    if (r)
        req_finish(s, r);
    free(path);
    return rc;
}

static void on_connection(void *cls, struct MHD_Connection *conn,
                          void **socket_ctx,
                          enum MHD_ConnectionNotificationCode toe)
{
    struct dsb_server *s = cls;
    const union MHD_ConnectionInfo *ci;
    struct dsb_conn *c;
    int one = 1;

    if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
        c = *socket_ctx;
        if (c) {
            dsb_deadline_close(s->deadlines, c->deadline);
            dsb_gen_release(c->gen);
            free(c);
        }
        *socket_ctx = NULL;
        return;
    }
    ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci)
        return;
    setsockopt(ci->connect_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c = calloc(1, sizeof(*c));
    if (c)
        c->deadline = dsb_deadline_open(s->deadlines, ci->connect_fd);
    *socket_ctx = c;
}

/* Paths are decoded per segment by the router, query values on lookup. */
static size_t no_unescape(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls;
    (void)c;
    return strlen(s);
}

/* ------------------------------------------------------------ daemon */

static int parse_listen(const char *listen, struct sockaddr_in *sa,
                        struct dsb_diags *d)
{
    char host[64];
    const char *colon = strrchr(listen, ':');
    char *end = NULL;
    long port;

    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    if (!colon || (size_t)(colon - listen) >= sizeof(host))
        goto fail;
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = '\0';
    port = strtol(colon + 1, &end, 10);
    if (end == colon + 1 || *end || port < 0 || port > 65535)
        goto fail;
    sa->sin_port = htons((uint16_t)port);
    if (strcmp(host, "localhost") == 0)
        snprintf(host, sizeof(host), "127.0.0.1");
    if (inet_pton(AF_INET, host, &sa->sin_addr) != 1)
        goto fail;
    return 0;
fail:
    dsb_diag_add(d, DSB_SEV_ERROR, NULL, 0, 0,
                 "listen \"%s\" must be "
                 "IPV4ADDRESS:PORT, e.g. 127.0.0.1:8080",
                 listen);
    return -1;
}

static int start_daemon(struct dsb_server *s, const struct dsb_settings *st,
                        const char *listen, struct dsb_diags *d)
{
    struct sockaddr_in sa;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
                     MHD_USE_ITC | MHD_ALLOW_SUSPEND_RESUME;
    const union MHD_DaemonInfo *di;

    if (parse_listen(listen, &sa, d) < 0)
        return -1;
    s->pool = dsb_call_pool_new(st->call_threads, run_deferred);
    s->deadlines = dsb_deadlines_new((int64_t)st->receive_timeout_s * 1000);
    if (!s->pool || !s->deadlines) {
        dsb_diag_add(d, DSB_SEV_ERROR, NULL, 0, 0,
                     "cannot start the call "
                     "pool's and the receive deadlines' threads: %s",
                     strerror(errno));
        return -1;
    }
    s->mhd = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&sa, MHD_OPTION_THREAD_POOL_SIZE, st->threads,
        MHD_OPTION_CONNECTION_LIMIT, st->max_connections,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, st->max_connections_per_ip,
        MHD_OPTION_CONNECTION_TIMEOUT, st->connection_timeout_s,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, st->max_header_bytes,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
        MHD_OPTION_UNESCAPE_CALLBACK, no_unescape, s, MHD_OPTION_END);
    if (!s->mhd) {
        dsb_diag_add(d, DSB_SEV_ERROR, NULL, 0, 0, "cannot listen on %s: %s",
                     listen, strerror(errno));
        return -1;
    }
    di = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : ntohs(sa.sin_port);
    return 0;
}

static int write_port_file(const char *path, int port)
{
    char *tmp = dsb_asprintf("%s.tmp", path);
    FILE *f = tmp ? fopen(tmp, "w") : NULL;
    int rc = -1;

    if (f) {
        fprintf(f, "%d\n", port);
        rc = fclose(f) == 0 && rename(tmp, path) == 0 ? 0 : -1;
    }
    free(tmp);
    return rc;
}

static void server_free(struct dsb_server *s)
{
    /* first the pool: every deferred request is answered and its
     * connection resumed, as the daemon must not stop with suspended ones */
    dsb_call_pool_free(s->pool);
    if (s->mhd)
        MHD_stop_daemon(s->mhd);
    dsb_deadlines_free(s->deadlines); /* every connection is closed */
    dsb_mcp_sessions_free(s->mcp);
    dsb_console_free(s->console);
    if (s->log_buffered)
        dsb_log_buffer_stop();
    dsb_service_close(s->svc);
    free(s->port_file);
    free(s);
}

static void announce(struct dsb_server *s, const char *listen, size_t n_sources)
{
    if (s->port_file && write_port_file(s->port_file, s->port) < 0)
        dsb_logf(DSB_LOG_WARN, NULL, "cannot write the port file %s: %s",
                 s->port_file, strerror(errno));
    dsb_logf(DSB_LOG_INFO, NULL, "listening on http://%.*s:%d/ (%zu sources)",
             (int)strcspn(listen, ":"), listen, s->port, n_sources);
}

struct dsb_server *dsb_server_start(const struct dsb_server_opts *o,
                                    struct dsb_diags *d)
{
    struct dsb_service_opts so = {o->conf_dir, o->plugin_dir, o->preflight,
                                  o->clock_ms, dsb_memo_free};
    struct dsb_server *s = calloc(1, sizeof(*s));
    struct dsb_gen *g = NULL;
    const struct dsb_config *cfg;
    const char *listen;

    if (!s)
        return NULL;
    s->opts = *o;
    snprintf(s->id_prefix, sizeof(s->id_prefix), "%x-", (unsigned)getpid());
    s->port_file = dsb_strdup0(o->port_file);
    atomic_init(&s->in_flight, 0);
    s->svc = dsb_service_open(&so, d);
    s->mcp = dsb_mcp_sessions_new();
    if (!s->svc || !s->mcp)
        goto fail;
    s->metrics = dsb_service_metrics(s->svc);
    g = dsb_service_gen(s->svc);
    cfg = g->broker->cfg;
    s->console = dsb_console_load(cfg->console_dir);
    if (!s->console) {
        dsb_diag_add(d, DSB_SEV_ERROR, NULL, 0, 0, "out of memory");
        goto fail;
    }
    s->max_body = cfg->settings.max_body_bytes;
    /* a CSV in a JSON string: room for escapes, checked again decoded */
    s->max_upload = s->max_body + 2 * cfg->settings.compat_max_upload_bytes;
    s->grace_ms = (long)cfg->settings.shutdown_grace_ms;
    listen = o->listen
                 ? o->listen
                 : json_string_value(json_object_get(cfg->broker, "listen"));
    if (!o->no_listen && start_daemon(s, &cfg->settings, listen, d) < 0)
        goto fail;
    if (!o->no_listen) {
        s->log_buffered = dsb_log_buffer_start(0) == 0;
        announce(s, listen, g->broker->n_sources);
    }
    dsb_gen_release(g);
    return s;
fail:
    dsb_gen_release(g);
    server_free(s);
    return NULL;
}

int dsb_server_port(const struct dsb_server *s)
{
    return s->port;
}

int dsb_server_reload(struct dsb_server *s)
{
    return dsb_service_reload(s->svc);
}

void dsb_server_stop(struct dsb_server *s, long grace_ms)
{
    int64_t end;
    MHD_socket fd;

    if (!s)
        return;
    end = dsb_monotonic_ms() + (grace_ms < 0 ? s->grace_ms : grace_ms);
    fd = s->mhd ? MHD_quiesce_daemon(s->mhd) : MHD_INVALID_SOCKET;
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
    while (atomic_load(&s->in_flight) > 0 && dsb_monotonic_ms() < end)
        nanosleep(&(struct timespec){0, 5000000}, NULL);
    if (atomic_load(&s->in_flight) > 0)
        dsb_logf(DSB_LOG_WARN, NULL,
                 "stopping with %ld request(s) still "
                 "running",
                 atomic_load(&s->in_flight));
    server_free(s);
}
