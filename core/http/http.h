/* Internals shared by the HTTP server's files (core/http/). */
#ifndef DSB_CORE_HTTP_HTTP_H
#define DSB_CORE_HTTP_HTTP_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <microhttpd.h>

#include "metrics.h"
#include "service/service.h"
#include "server.h"

#define DSB_MAX_PARAMS 6

struct dsb_req;
typedef void (*dsb_handler_fn)(struct dsb_req *r);

#define DSB_ROUTE_HEALTH 0x1u /* open when auth.open_health */
#define DSB_ROUTE_BODY 0x2u   /* takes a JSON body */
/* The MCP endpoint and its metadata: the handler authenticates (a 401
 * points at the RFC 9728 protected resource metadata). */
#define DSB_ROUTE_MCP 0x4u
/* Takes a JSON body up to the server's max_upload (a CSV upload; no
 * {param}). */
#define DSB_ROUTE_UPLOAD 0x8u
/* A static file of the web console: no authentication (the page asks for
 * the token), answered by the worker from memory. */
#define DSB_ROUTE_STATIC 0x10u
/* The handler authenticates (no 401 before it runs). */
#define DSB_ROUTE_SELF_AUTH 0x20u
/* The cache key of a request whose answer is one cached entry (the
 * service's browse key): 0 with *k set, -1 when the request is not to be
 * answered from the cache (bad parameters, refused: the handler says why). */
typedef int (*dsb_key_fn)(struct dsb_req *r, struct dsb_svc_key *k);

struct dsb_http_route {
    const char *method;
    const char *pattern; /* "/v1/sources/{src}"; {name} is one segment */
    dsb_handler_fn fn;
    unsigned flags;
    const char *summary; /* one line, for docs */
    dsb_key_fn key;      /* non-NULL: a fresh cached answer is sent by the
                          * worker from the key alone, without the handler;
                          * a miss runs the handler once on the call pool */
};

/* The route table (router.c); ends with a NULL method. */
/* The most routes the table may hold (metrics keep a slot per route; the
 * route table asserts it at compile time). */
#define DSB_MAX_ROUTES 96
extern const struct dsb_http_route dsb_routes[];
size_t dsb_routes_count(void);
/* Non-zero when the path (a query may follow) is a DSB_ROUTE_UPLOAD
 * route's: its body may reach the server's max_upload. */
int dsb_route_takes_upload(const char *url);
/* Non-zero when the decoded path is under a compatibility route's prefix:
 * its problems (a 404 or 405 too) carry "success" and "error". */
int dsb_route_compat_path(char *const *segs, size_t n);

enum dsb_match { DSB_MATCH_OK, DSB_MATCH_NO_PATH, DSB_MATCH_NO_METHOD };

/* Matches decoded segments against the table.  On OK, *route and params
 * (pointers into segs) are set; on NO_METHOD, allow lists the methods of
 * the path ("GET, POST"). */
enum dsb_match dsb_router_match(const char *method, char *const *segs, size_t n,
                                const struct dsb_http_route **route,
                                const char **params, char *allow,
                                size_t allow_cap);
/* Splits a raw path into percent-decoded segments (malloc'd array of
 * malloc'd strings).  -1 on a malformed escape, an encoded NUL or invalid
 * UTF-8. */
int dsb_path_split(const char *path, char ***segs, size_t *n);
void dsb_path_free(char **segs, size_t n);
/* Decodes a query value in place (%XX and '+'); -1 when malformed. */
int dsb_query_decode(char *s);

struct dsb_metrics;

/* The web console's assets (console.c), read once at start from dir (NULL:
 * console.enabled is false; a directory without index.html: not
 * installed, /ui answers 404 saying so).  NULL when out of memory. */
struct dsb_console;
struct dsb_console *dsb_console_load(const char *dir);
void dsb_console_free(struct dsb_console *c);

struct dsb_server {
    struct MHD_Daemon *mhd;
    struct dsb_server_opts opts;
    char *port_file;
    struct dsb_service *svc;
    struct dsb_metrics *metrics;     /* the service's */
    struct dsb_call_pool *pool;      /* runs handlers that may block (pool.c) */
    struct dsb_deadlines *deadlines; /* cuts slow senders (deadline.c) */
    struct dsb_mcp_sessions *mcp;    /* MCP transport sessions (core/mcp) */
    struct dsb_console *console;     /* the web console's assets */
    atomic_long in_flight;
    int port;
    int log_buffered;   /* holds a dsb_log_buffer_start */
    char id_prefix[16]; /* of request ids: the pid in hex, "-" */
    /* values read from the first configuration (not reloadable) */
    size_t max_body;
    size_t max_upload; /* body limit of DSB_ROUTE_UPLOAD routes */
    long grace_ms;
};

struct dsb_req {
    struct dsb_server *srv;
    struct dsb_gen *gen;
    int gen_owned;      /* the request holds gen (else its connection does) */
    struct dsb_ctx ctx; /* the service call's context */
    struct MHD_Connection *conn;  /* NULL for an in-process request */
    struct dsb_http_exchange *ex; /* the in-process request, or NULL */
    const char *method;
    const char *url;
    char **segs;
    size_t n_segs;
    const struct dsb_http_route *route;
    const char *params[DSB_MAX_PARAMS];
    char *body;
    size_t body_len, body_cap, discarded;
    size_t max_body; /* of this request's route */
    int too_large, responded, status;
    int received; /* the whole request arrived */
    size_t resp_bytes;
    const char *origin; /* allowed CORS origin, or NULL */
    char request_id[40];
    int64_t start_us;
    const char *cache_state; /* "hit", "miss" or NULL */
    /* the problem answered, for the access log ("" when none); the
     * message is malloc'd: a request is allocated on every request, and
     * kept under 1 KiB so that glibc serves it from a small bin */
    char err_code[32], err_upstream[64];
    char *err_message;
    int compat; /* problems also carry success/error */
    struct {
        char *name, *value;
    } hdrs[8]; /* extra response headers */
    size_t n_hdrs;
    /* a request run by the call pool: its connection is suspended and the
     * response waits here until the worker resumes and queues it */
    int deferred;
    struct MHD_Response *deferred_resp;
    unsigned deferred_status;
    /* a streamed answer (stream.c), or NULL */
    struct dsb_stream *stream;
};

/* The route memo (memo.c): a GET of a cacheable route, seen before from
 * the same principal in the same generation, to its route and cache key.
 * dsb_memo_find fills r->route and key (key->key borrowed from the memo:
 * not for dsb_svc_key_free) and returns 1, or returns 0.
 * dsb_memo_remember records r's route and key (copied) once the key's
 * access checks passed.  dsb_memo_free is the service's door_free. */
int dsb_memo_find(struct dsb_req *r, const struct dsb_principal *p,
                  struct dsb_svc_key *key);
void dsb_memo_remember(struct dsb_req *r, const struct dsb_svc_key *key);
void dsb_memo_free(void *memo);

/* The call pool (pool.c). */
typedef void (*dsb_pool_run_fn)(struct dsb_req *r);
struct dsb_call_pool;
struct dsb_call_pool *dsb_call_pool_new(size_t n_threads, dsb_pool_run_fn run);
/* Queues r; -1 when out of memory or stopping (r was not queued). */
int dsb_call_pool_submit(struct dsb_call_pool *p, struct dsb_req *r);
/* The pool's threads, how many run a handler now and how many requests
 * wait for one (all 0 for a NULL pool: an in-process server). */
void dsb_call_pool_stats(struct dsb_call_pool *p, size_t *threads, size_t *busy,
                         size_t *queued);
/* Runs every queued request, then joins the threads. */
void dsb_call_pool_free(struct dsb_call_pool *p);

/*
 * Receive deadlines (deadline.c): a connection must deliver a whole request
 * (head and body) within limit_ms of being ready for one; a timer thread
 * shuts down the socket of one that does not (within a scan period, at most
 * 250 ms, after its deadline).  Arming and disarming take no lock.  An
 * entry per connection:
 * opened armed when it is accepted (NOTIFY_CONNECTION STARTED), disarmed
 * when its request has fully arrived, armed again when the response is
 * done (NOTIFY_COMPLETED, ready for the next request), closed when
 * libmicrohttpd reports the connection CLOSED — before it closes the
 * socket, which the entry must not outlive.  A NULL entry (no memory at
 * open) has no deadline; the calls accept it.
 */
struct dsb_deadlines;
struct dsb_deadline;
/* Starts the timer thread; NULL when out of memory or threads. */
struct dsb_deadlines *dsb_deadlines_new(int64_t limit_ms);
/* Stops the timer thread and frees d; every entry must be closed. */
void dsb_deadlines_free(struct dsb_deadlines *d);
struct dsb_deadline *dsb_deadline_open(struct dsb_deadlines *d, int fd);
void dsb_deadline_arm(struct dsb_deadlines *d, struct dsb_deadline *e);
void dsb_deadline_disarm(struct dsb_deadlines *d, struct dsb_deadline *e);
void dsb_deadline_close(struct dsb_deadlines *d, struct dsb_deadline *e);

/* Responses: each queues exactly one response; later calls are ignored.
 * dsb_reply_json takes the reference. */
void dsb_reply_json(struct dsb_req *r, int status, json_t *body);
void dsb_reply_bytes(struct dsb_req *r, int status, const char *ctype,
                     const char *bytes, size_t len, const char *etag);
/* dsb_reply_bytes taking bytes (malloc'd, NUL at len; NULL: out of
 * memory) instead of copying them. */
void dsb_reply_take(struct dsb_req *r, int status, const char *ctype,
                    char *bytes, size_t len);
void dsb_reply_empty(struct dsb_req *r, int status);
/* problem+json; detail and hint may be NULL. */
void dsb_reply_problem(struct dsb_req *r, int status, const char *code,
                       const char *message, const char *detail,
                       const char *hint);
/* problem+json from an error value (its code decides the status). */
void dsb_reply_error(struct dsb_req *r, const struct dsb_error *e);
/* The answer of a service call: 200 with *out (taken) when rc is 0, else
 * the error.  out is read after the call that fills it has run. */
void dsb_reply_result(struct dsb_req *r, int rc, json_t **out,
                      const struct dsb_error *err);
/*
 * Streamed answers (stream.c), for a handler on the call pool that has
 * something to say while it runs.  dsb_stream_open queues a response of
 * status and ctype (with the headers set so far) whose body is what the
 * handler writes next, and lets the worker send it at once; -1 (nothing
 * sent) when the request is not on the call pool or already answered.
 * From then on the handler must not read the connection (a header): the
 * client may be gone.  dsb_stream_write copies n bytes to the client; -1
 * when the client is gone or out of memory (the bytes are dropped; the
 * handler goes on).  The server ends the stream when the handler returns.
 */
struct dsb_stream;
int dsb_stream_open(struct dsb_req *r, int status, const char *ctype);
int dsb_stream_write(struct dsb_req *r, const char *bytes, size_t n);
/* For server.c: the handler is done (1: the worker completed the request
 * already, the caller frees it); the worker completed the request (1: the
 * handler is done, the caller frees it); the request lets go of it. */
int dsb_stream_end(struct dsb_req *r);
int dsb_stream_completed(struct dsb_req *r);
void dsb_stream_free(struct dsb_req *r);
/* Queues resp (taken) as r's response with r's headers (stream.c). */
void dsb_reply_stream(struct dsb_req *r, int status, struct MHD_Response *resp,
                      const char *ctype);

/* A response header to add to the next reply (copied). */
void dsb_reply_header(struct dsb_req *r, const char *name, const char *value);

/* Request helpers. */
const char *dsb_req_header(struct dsb_req *r, const char *name);
/* "<prefix><n>" into out (cap bytes; empty when it does not fit): a
 * request id without printf on the path of every request. */
void dsb_request_id(char *out, size_t cap, const char *prefix,
                    unsigned long long n);
/* A decoded query parameter (malloc'd) or NULL; sets *bad on malformed. */
char *dsb_req_query(struct dsb_req *r, const char *name, int *bad);
/* The body as JSON; replies 400/415 itself and returns NULL on failure. */
json_t *dsb_req_json(struct dsb_req *r);
/* Auth and CORS (auth.c).  dsb_auth_check sets the request's principal,
 * or replies 401 itself and returns -1; dsb_cors_preflight answers an
 * OPTIONS request and returns 1 when it did. */
int dsb_auth_check(struct dsb_req *r);
/* The bearer token the request presents, or NULL. */
const char *dsb_req_bearer(struct dsb_req *r);
void dsb_cors_origin(struct dsb_req *r);
int dsb_cors_preflight(struct dsb_req *r);

/* A cached service answer (held entry or NULL with err): 304/200/problem;
 * releases v.  hit sets X-Cache. */
void dsb_reply_entry(struct dsb_req *r, const struct dsb_cached *v, int hit,
                     const struct dsb_error *err);
/* The paging query parameters of a listing into b (strings malloc'd, freed
 * by dsb_paging_free); replies 400 itself when reply and returns -1. */
int dsb_paging_read(struct dsb_req *r, struct dsb_browse *b, int reply);
void dsb_paging_free(struct dsb_browse *b);

/* Metrics (metrics.c; the service's part in core/metrics.h). */
void dsb_metrics_request(struct dsb_metrics *m,
                         const struct dsb_http_route *route, int status,
                         int64_t us);
/* Prometheus text exposition (malloc'd). */
char *dsb_metrics_render(struct dsb_metrics *m, struct dsb_server *s,
                         struct dsb_gen *g);

/* Handlers. */
void dsb_h_healthz(struct dsb_req *r);
void dsb_h_readyz(struct dsb_req *r);
void dsb_h_metrics(struct dsb_req *r);
void dsb_h_sources(struct dsb_req *r);
void dsb_h_source(struct dsb_req *r);
void dsb_h_source_check(struct dsb_req *r);
void dsb_h_source_refresh(struct dsb_req *r);
void dsb_h_databases(struct dsb_req *r);
void dsb_h_schemas(struct dsb_req *r);
void dsb_h_tables(struct dsb_req *r);
void dsb_h_table(struct dsb_req *r);
void dsb_h_plugins(struct dsb_req *r);
void dsb_h_executors(struct dsb_req *r);
void dsb_h_plugin_schema(struct dsb_req *r);
void dsb_h_session_create(struct dsb_req *r);
void dsb_h_session_get(struct dsb_req *r);
void dsb_h_session_delete(struct dsb_req *r);
void dsb_h_selections_get(struct dsb_req *r);
void dsb_h_selections_add(struct dsb_req *r);
void dsb_h_selection_delete(struct dsb_req *r);
void dsb_h_context(struct dsb_req *r);
void dsb_h_verify_start(struct dsb_req *r);
void dsb_h_verify_get(struct dsb_req *r);
void dsb_h_job_submit(struct dsb_req *r);
void dsb_h_session_jobs(struct dsb_req *r);
void dsb_h_job_get(struct dsb_req *r);
void dsb_h_job_cancel(struct dsb_req *r);
void dsb_h_job_logs(struct dsb_req *r);
void dsb_h_job_result(struct dsb_req *r);
void dsb_h_compat_pg_connections(struct dsb_req *r);
void dsb_h_compat_pg_databases(struct dsb_req *r);
void dsb_h_compat_pg_schemas(struct dsb_req *r);
void dsb_h_compat_pg_tables(struct dsb_req *r);
void dsb_h_compat_pg_select(struct dsb_req *r);
void dsb_h_compat_glue_databases(struct dsb_req *r);
void dsb_h_compat_glue_tables(struct dsb_req *r);
void dsb_h_compat_glue_select(struct dsb_req *r);
void dsb_h_compat_reset(struct dsb_req *r);
void dsb_h_compat_pg_test(struct dsb_req *r);
void dsb_h_compat_pg_connection_save(struct dsb_req *r);
void dsb_h_source_create(struct dsb_req *r);
void dsb_h_source_update(struct dsb_req *r);
void dsb_h_source_delete(struct dsb_req *r);
void dsb_h_source_test(struct dsb_req *r);
void dsb_h_compat_upload_csv(struct dsb_req *r);
void dsb_h_compat_spark_upload_csv(struct dsb_req *r);
void dsb_h_compat_spark_status(struct dsb_req *r);
void dsb_h_compat_health(struct dsb_req *r);

void dsb_h_sessions_list(struct dsb_req *r);
void dsb_h_whoami(struct dsb_req *r);
void dsb_h_console(struct dsb_req *r);
void dsb_h_search(struct dsb_req *r);
void dsb_h_plan(struct dsb_req *r);
void dsb_h_reload(struct dsb_req *r);
void dsb_h_mcp_post(struct dsb_req *r);
void dsb_h_mcp_get(struct dsb_req *r);
void dsb_h_mcp_delete(struct dsb_req *r);
void dsb_h_mcp_metadata(struct dsb_req *r);
/* Non-zero when an MCP request touches no plugin, store or child (cheap
 * methods, a describe_table the cache holds fresh): the worker answers it
 * instead of the call pool. */
int dsb_mcp_inline(struct dsb_req *r);

/* Key functions of the cached routes (h_sources.c). */
int dsb_key_databases(struct dsb_req *r, struct dsb_svc_key *k);
int dsb_key_schemas(struct dsb_req *r, struct dsb_svc_key *k);
int dsb_key_tables(struct dsb_req *r, struct dsb_svc_key *k);
int dsb_key_table(struct dsb_req *r, struct dsb_svc_key *k);

#endif
