/*
 * The service: every operation a client can do, typed, under every front
 * door (HTTP /v1 and compatibility routes, the CLI, later MCP and the
 * console).  Each operation takes a call context (request id, deadline,
 * arena, principal, configuration generation) and returns 0 with a result,
 * or -1 with a dsb_error.  The service owns the metadata cache (with
 * single-flight loads), the sessions and jobs stores, metrics, the per-call
 * deadline and housekeeping (a timer thread).  No HTTP type is visible here.
 *
 * Refusals are errors like any other: DSB_E_PERMISSION with upstream
 * DSB_SCOPE_UPSTREAM (a scope is missing: the message names it, and
 * err->detail holds the scope's name alone) or DSB_FORBIDDEN_UPSTREAM (a
 * source outside the principal's limits, or another principal's session
 * or job).
 */
#ifndef DSB_CORE_SERVICE_H
#define DSB_CORE_SERVICE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "arena.h"
#include "broker.h"
#include "cache.h"
#include "sessions.h"
#include "settings.h"

#define DSB_SCOPE_UPSTREAM "dsb:insufficient_scope"
#define DSB_FORBIDDEN_UPSTREAM "dsb:forbidden"
#define DSB_UNAUTH_UPSTREAM "dsb:unauthenticated"
/* A managed source's If-Match did not match (DSB_E_CONFLICT; HTTP 412). */
#define DSB_PRECONDITION_UPSTREAM "dsb:precondition"
/* sources.allowed_hosts refused where a source points (DSB_E_PERMISSION). */
#define DSB_ALLOWLIST_UPSTREAM "dsb:allowed_hosts"
/* The cache's "source" under which contexts are memoised (no configured
 * source can have this name). */
#define DSB_CONTEXT_CACHE "(contexts)"

struct dsb_service;
struct dsb_metrics;
struct dsb_jobs;

/* One configuration generation: the broker and its cache.  A call holds
 * the generation it started with (refcount). */
/* Who is calling.  Borrowed from a generation: valid while the call holds
 * it. */
struct dsb_principal {
    const char *name;     /* token name, or "anonymous" */
    unsigned scopes;      /* DSB_SCOPE_* (admin: all) */
    char *const *sources; /* NULL: every source */
    size_t n_sources;
};

struct dsb_gen {
    struct dsb_broker *broker;
    struct dsb_cache *cache;
    struct dsb_principal anonymous;   /* auth off */
    struct dsb_principal *principals; /* one per settings token */
    atomic_long refs;
    long serial;
    /* A front door's state for this generation (the HTTP route memo),
     * installed by compare-and-swap on first use and freed with the
     * generation by the service's opts.door_free. */
    _Atomic(void *) door;
    void (*door_free)(void *door);
};

/* One call's context, filled by the front door. */
struct dsb_ctx {
    struct dsb_service *svc;
    const char *request_id;  /* never NULL; reaches plugins */
    int64_t deadline_ms;     /* monotonic; 0: none beyond each plugin
                              * call's limits.plugin_timeout_ms */
    struct dsb_arena *arena; /* freed by the front door after the call */
    const struct dsb_principal *principal; /* never NULL */
    struct dsb_gen *gen; /* held by the front door for the call */
    int read_ahead;      /* a call of the read-ahead itself: it reads no
                          * further ahead (core/service/browse.c) */
};

struct dsb_service_opts {
    const char *conf_dir;
    const char *plugin_dir;    /* NULL: config / default */
    int preflight;             /* open each source in a child first */
    int64_t (*clock_ms)(void); /* monotonic clock of the cache (tests); NULL:
                                * dsb_monotonic_ms */
    void (*door_free)(void *door); /* frees dsb_gen.door (may be NULL) */
};

/* ------------------------------------------------------------ lifecycle */

/* Loads conf.d, opens the stores, starts the housekeeping thread.  NULL
 * with every reason in d. */
struct dsb_service *dsb_service_open(const struct dsb_service_opts *o,
                                     struct dsb_diags *d);
void dsb_service_close(struct dsb_service *svc);
/* Loads conf.d again; a configuration with errors changes nothing (-1,
 * reasons logged).  Calls in flight finish on their generation. */
int dsb_service_reload(struct dsb_service *svc);
/* The same, with every problem (and warning) of the new configuration
 * left in d (initialised by the caller, who frees it). */
int dsb_service_reload_diags(struct dsb_service *svc, struct dsb_diags *d);
/* The current generation, held (release with dsb_gen_release). */
struct dsb_gen *dsb_service_gen(struct dsb_service *svc);
/* held when it is still the current generation (no lock taken, no count
 * changed), else the current one, held, with held released: for a holder
 * that keeps a generation across calls (a connection).  held may be
 * NULL. */
struct dsb_gen *dsb_service_gen_since(struct dsb_service *svc,
                                      struct dsb_gen *held);
struct dsb_gen *dsb_gen_hold(struct dsb_gen *g);
void dsb_gen_release(struct dsb_gen *g);
struct dsb_metrics *dsb_service_metrics(struct dsb_service *svc);
/* Runs housekeeping now (session expiry); what the timer thread does. */
void dsb_service_housekeeping(struct dsb_service *svc);
/* 0 when the state store takes writes (readiness). */
int dsb_service_ready(struct dsb_service *svc);

/* ------------------------------------------------------------ principals */

/* The principal of a request that presents bearer (NULL: none) under the
 * generation's settings: the anonymous one when auth is off, else the
 * token's.  When auth is on and the token is missing or unknown: -1 with
 * code DSB_E_AUTH, upstream DSB_UNAUTH_UPSTREAM, detail "missing" or
 * "invalid". */
int dsb_svc_authenticate(struct dsb_service *svc, struct dsb_gen *g,
                         const char *bearer, const struct dsb_principal **out,
                         struct dsb_error *err);
/* The caller: {"name", "auth" (whether authentication is on), "scopes"
 * (names; admin implies the others, all listed), "sources" (the sources
 * it may use, null: all)}.  authenticated 0: a caller that presented no
 * token while auth is on ({"name": null, "auth": true, "scopes": []}),
 * so a front end learns that it must ask for one without a refusal.  What
 * a front end shows depends on it (the console hides what a token may not
 * do). */
int dsb_svc_whoami(const struct dsb_ctx *c, int authenticated, json_t **out,
                   struct dsb_error *err);
/* 0 when the call's principal holds scope, else -1 (insufficient scope). */
int dsb_svc_require(const struct dsb_ctx *c, unsigned scope,
                    struct dsb_error *err);
/* Non-zero when the principal may use the source. */
int dsb_principal_may_use(const struct dsb_principal *p, const char *source);

/* --------------------------------------------------------------- sources */

int dsb_svc_sources(const struct dsb_ctx *c, json_t **out,
                    struct dsb_error *err);
/* One source with its health (a check). */
int dsb_svc_source(const struct dsb_ctx *c, const char *name, json_t **out,
                   struct dsb_error *err);
int dsb_svc_source_check(const struct dsb_ctx *c, const char *name,
                         json_t **out, struct dsb_error *err);
/* Flushes the source's cached metadata (admin). */
int dsb_svc_source_refresh(const struct dsb_ctx *c, const char *name,
                           json_t **out, struct dsb_error *err);
int dsb_svc_plugins(const struct dsb_ctx *c, json_t **out,
                    struct dsb_error *err);
int dsb_svc_plugin_schema(const struct dsb_ctx *c, const char *name,
                          json_t **out, struct dsb_error *err);
/* The source, after the read scope and the principal's limits. */
struct dsb_source *dsb_svc_use_source(const struct dsb_ctx *c, const char *name,
                                      struct dsb_error *err);

/* ---------------------------------------------------------------- browse */

/* A browse request: one page of a listing, or one table. */
struct dsb_browse {
    enum dsb_slot slot; /* LIST_DATABASES .. DESCRIBE_TABLE */
    const char *source, *database, *schema, *table;
    const char *filter, *page_token;
    size_t page_size; /* 0: the plugin's default */
};

/* A cache key: (source, key).  Built by dsb_svc_browse_key. */
struct dsb_svc_key {
    const char *source; /* borrowed from the generation */
    char *key;          /* malloc'd; dsb_svc_key_free */
};
void dsb_svc_key_free(struct dsb_svc_key *k);

/* The cache key of a browse after the access checks (scope, source). */
int dsb_svc_browse_key(const struct dsb_ctx *c, const struct dsb_browse *b,
                       struct dsb_svc_key *key, struct dsb_error *err);
/* A fresh cached entry for key or NULL (nothing loaded, nothing waited
 * for): the front door's fast path. */
const struct dsb_cached *dsb_svc_peek(const struct dsb_ctx *c,
                                      const struct dsb_svc_key *key);
/* The answer of a browse: a held entry (dsb_svc_release) whose doc is NULL
 * for the plugin's error (in its err), loaded once on a miss however many
 * callers ask at once.  *hit tells whether it was cached.  NULL with err
 * set when refused. */
const struct dsb_cached *dsb_svc_browse(const struct dsb_ctx *c,
                                        const struct dsb_browse *b, int *hit,
                                        struct dsb_error *err);
void dsb_svc_release(const struct dsb_ctx *c, const struct dsb_cached *v);
/* dsb_svc_browse's answer as a document (a new reference; parsed back for
 * a large listing page, which the cache keeps as bytes only), or NULL with
 * err: the plugin's error, a refusal, or memory exhausted. */
json_t *dsb_svc_browse_doc(const struct dsb_ctx *c, const struct dsb_browse *b,
                           struct dsb_error *err);
/* Calls fn(ctx, items) with the items of every page of a listing in turn
 * (b->page_token ignored), each page's document held for that call only,
 * so that a large listing is never all in memory as a tree.  A non-zero
 * return of fn stops the walk (and is returned, err untouched).  -1 with
 * err when a page failed. */
typedef int (*dsb_svc_page_fn)(void *ctx, const json_t *items);
int dsb_svc_browse_pages(const struct dsb_ctx *c, const struct dsb_browse *b,
                         dsb_svc_page_fn fn, void *ctx, struct dsb_error *err);
/* The names of every item of a listing (b->page_token ignored), in a new
 * array of strings: walked a page at a time, only the names kept. */
int dsb_svc_browse_names(const struct dsb_ctx *c, const struct dsb_browse *b,
                         json_t **out, struct dsb_error *err);
/*
 * A front door's own answer made from every page of a listing (b's
 * page_token ignored), kept in the cache as bytes under b's source, its
 * arguments and the shape's name, like a listing page: a hit costs a
 * lookup.  On a miss the plugin's pages are walked uncached, one page's
 * tree at a time: head is written, then page(ctx, items, out) for each
 * page (non-zero: out of memory), then end(ctx, rc, out, err) with rc 0
 * after the last page or -1 with err when a page failed; end finishes
 * the answer and returns 0, or returns -1 with err (it may turn an error
 * into an answer).  Returns a held entry as dsb_svc_browse.
 */
struct dsb_svc_shape {
    const char *name; /* part of the cache key: "compat_tables" */
    const char *head;
    int (*page)(void *ctx, const json_t *items, struct dsb_sb *out);
    int (*end)(void *ctx, int rc, struct dsb_sb *out, struct dsb_error *err);
    void *ctx;
};
const struct dsb_cached *dsb_svc_browse_shaped(const struct dsb_ctx *c,
                                               const struct dsb_browse *b,
                                               const struct dsb_svc_shape *sh,
                                               int *hit, struct dsb_error *err);
/* Tables whose name or comment contains q (case-insensitive), over what
 * the broker has listed and still caches, of the sources the principal may
 * use: {"items": [{"source", "database", "schema", "table", "kind",
 * "comment", "match"}], "truncated"}. */
int dsb_svc_search(const struct dsb_ctx *c, const char *q, size_t limit,
                   json_t **out, struct dsb_error *err);

/* -------------------------------------------------------------- sessions */

/* The session exists and is the principal's (or the principal is an
 * admin); scope checked first. */
int dsb_svc_session_access(const struct dsb_ctx *c, const char *id,
                           unsigned scope, struct dsb_error *err);
int dsb_svc_session_create(const struct dsb_ctx *c,
                           char id[DSB_SESSION_ID_MAX + 1],
                           struct dsb_error *err);
/* Creates the session id for the principal when absent (compatibility
 * routes), then checks it is the principal's. */
int dsb_svc_session_ensure(const struct dsb_ctx *c, const char *id,
                           struct dsb_error *err);
int dsb_svc_session_get(const struct dsb_ctx *c, const char *id, json_t **out,
                        struct dsb_error *err);
/* The principal's sessions (an admin's: everybody's). */
int dsb_svc_sessions_list(const struct dsb_ctx *c, json_t **out,
                          struct dsb_error *err);
int dsb_svc_session_delete(const struct dsb_ctx *c, const char *id,
                           struct dsb_error *err);
int dsb_svc_selections(const struct dsb_ctx *c, const char *id, json_t **out,
                       struct dsb_error *err);
/* Describes each selection (through the cache) and stores them in one
 * transaction; replace: sources whose selections are replaced (compat; may
 * be NULL).  *stored (may be NULL): the resulting selection objects. */
int dsb_svc_select(const struct dsb_ctx *c, const char *id,
                   const struct dsb_selection *sel, size_t n,
                   const char *const *replace, size_t n_replace,
                   json_t **stored, struct dsb_error *err);
int dsb_svc_unselect(const struct dsb_ctx *c, const char *id,
                     int64_t selection_id, struct dsb_error *err);
/* The described table of a selection (a new reference), through the
 * cache; NULL with err set. */
json_t *dsb_svc_described(const struct dsb_ctx *c,
                          const struct dsb_selection *sel,
                          struct dsb_error *err);
/* The flat schema name of a source whose plugin has one level less. */
const char *dsb_svc_flat_schema(const struct dsb_ctx *c, const char *source);

/* Compatibility (the original backend's lenient semantics): selects the
 * tables that exist, in place of the sources in replace, after removing
 * the missing ones from sel (*n is lowered); *missing (a new array, also on
 * failure once the access check passed, else NULL) gets {"source",
 * "database", "schema", "table", "error"} for each.  Other describe errors
 * fail the whole call and store nothing. */
int dsb_svc_select_present(const struct dsb_ctx *c, const char *id,
                           struct dsb_selection *sel, size_t *n,
                           const char *const *replace, size_t n_replace,
                           json_t **missing, struct dsb_error *err);
/* Removes every selection of the session (kept itself); an unknown session
 * is no error (nothing to remove). */
int dsb_svc_session_reset(const struct dsb_ctx *c, const char *id,
                          struct dsb_error *err);
/* Stores a CSV (data, len bytes; at most compat.max_upload_bytes) as
 * FOLDER/filename under the first root of the uploads source
 * (compat.uploads_source, an s3csv source: a local directory or an S3
 * prefix), FOLDER being the session's, and selects it into the session
 * (created when absent) in place of its earlier upload: {"uri",
 * "filename", "preview" (the first five lines), "table": {"source",
 * "database", "schema", "table"}}.  DSB_E_UNSUPPORTED when no uploads
 * source is configured, DSB_E_INVALID for a bad name or too many bytes. */
int dsb_svc_upload_csv(const struct dsb_ctx *c, const char *session,
                       const char *filename, const char *data, size_t len,
                       json_t **out, struct dsb_error *err);

/* --------------------------------------------------------------- context */

/* The session's Spark context for executor (NULL: routed), memoised: a
 * held entry as dsb_svc_browse's. */
const struct dsb_cached *dsb_svc_context(const struct dsb_ctx *c,
                                         const char *session,
                                         const char *executor, int *hit,
                                         struct dsb_error *err);

/* ------------------------------------------------------ verified reads */

/*
 * Verification of the session's context as it is now (routed executor;
 * scope jobs): a job on that executor runs each table's read as rendered
 * without reading rows (core/verify.h) and its report compares the schema
 * each read resolves with the catalog's columns.  The answer (also
 * dsb_svc_verify_get's): {"session_id", "context_etag", "state" ("none",
 * "pending", "running", "done" or "failed"), "job_id", "job_state",
 * "executor", "created_at", "finished_at", "reason" (failed), and once
 * done the report: "ok", "summary", "tables"}.  A verification of the
 * same context still running is answered instead of starting another.
 * DSB_E_CONFLICT for a session without tables; the context's errors; the
 * job submit's (a full queue: DSB_E_THROTTLED).
 */
int dsb_svc_verify_start(const struct dsb_ctx *c, const char *session,
                         json_t **out, struct dsb_error *err);
/* The latest verification of the session's current context (state "none"
 * when there is none: the context changed since, or none was asked for;
 * "previous" then names the newest verification of an earlier one).  A
 * done one's report is compared once and memoised with the contexts. */
int dsb_svc_verify_get(const struct dsb_ctx *c, const char *session,
                       json_t **out, struct dsb_error *err);

/* ------------------------------------------------------------------ jobs */

struct dsb_job_params {
    const char *code, *entry_point, *name, *executor; /* borrowed */
    const json_t *args;                               /* strings or NULL */
    long timeout_seconds;                             /* 0: the default */
};

/* The executors (scope read): {"items": [{"name", "type", "networks",
 * "default", "isolation" ("bwrap", "none" or "remote"), "ready", and for
 * local executors "network", "run_as", "max_memory_mb",
 * "aws_credentials", "entry_points", "problem" when not ready}]}. */
int dsb_svc_executors(const struct dsb_ctx *c, json_t **out,
                      struct dsb_error *err);
/* For /readyz: {executor name: its isolation, or "unavailable" when its
 * jobs would be refused}, a new object. */
json_t *dsb_svc_job_isolation(const struct dsb_gen *g);

/* Where the session's job would run and why: the context's "route". */
int dsb_svc_plan(const struct dsb_ctx *c, const char *session,
                 const char *executor, json_t **out, struct dsb_error *err);
/* Submits a job of the call's principal: started, or queued when its
 * executor or the principal runs as many jobs as allowed; a full queue is
 * DSB_E_THROTTLED with upstream DSB_JOBS_LIMIT_UPSTREAM (core/jobs/jobs.h). */
int dsb_svc_job_submit(const struct dsb_ctx *c, const char *session,
                       const struct dsb_job_params *p, json_t **job,
                       struct dsb_error *err);
int dsb_svc_job_get(const struct dsb_ctx *c, const char *id, json_t **job,
                    struct dsb_error *err);
int dsb_svc_jobs_list(const struct dsb_ctx *c, const char *session,
                      json_t **out, struct dsb_error *err);
int dsb_svc_job_cancel(const struct dsb_ctx *c, const char *id, json_t **job,
                       struct dsb_error *err);
/* The last `lines` lines of each log stream, read backwards from its end
 * (at most 1 MiB of each). */
int dsb_svc_job_logs(const struct dsb_ctx *c, const char *id, long lines,
                     json_t **out, struct dsb_error *err);
int dsb_svc_job_result(const struct dsb_ctx *c, const char *id, size_t limit,
                       json_t **out, struct dsb_error *err);
/* The job's script as it was staged (malloc'd text, at most 256 KiB), or
 * for a remote executor the location it was staged at. */
int dsb_svc_job_script(const struct dsb_ctx *c, const char *id, char **text,
                       struct dsb_error *err);

/* ------------------------------------------------- sources at run time */

/*
 * Sources managed at run time (admin scope; core/service/source_admin.c).
 * body holds the keys of a conf.d source file (name, plugin, network,
 * description, enabled, the plugin's options), validated by the same
 * option tables, plus "secrets": {option: value} for secret options (the
 * values go to the secret store: secrets.store; the file gets their
 * references).  Refused in a body: "${" anywhere, env: references, a
 * secret option given other than as an aws-sm: reference.  Where the
 * source points (host and port, endpoint_url, the host of a credentials
 * secret) must pass sources.allowed_hosts (DSB_E_PERMISSION,
 * DSB_ALLOWLIST_UPSTREAM, the rule named).  Create and update write
 * conf.d/managed/NAME.yaml atomically and reload as SIGHUP does; a
 * configuration with errors changes nothing (DSB_E_CONFIG, the file put
 * back).  *out: {"name", "file", "etag", "state", "problem"?, "warnings",
 * "config_generation"}.  A source of a hand-written file is
 * DSB_E_CONFLICT; an if_match (may be NULL) other than the managed file's
 * ETag is DSB_E_CONFLICT with DSB_PRECONDITION_UPSTREAM.
 */
int dsb_svc_source_create(const struct dsb_ctx *c, const json_t *body,
                          json_t **out, struct dsb_error *err);
/* Replaces the managed source name (secret options left out keep their
 * stored secrets). */
int dsb_svc_source_update(const struct dsb_ctx *c, const char *name,
                          const json_t *body, const char *if_match,
                          json_t **out, struct dsb_error *err);
int dsb_svc_source_delete(const struct dsb_ctx *c, const char *name,
                          const char *if_match, struct dsb_error *err);
/* Validates, checks where it points, opens (in a probe child first) and
 * runs the check of a candidate without saving it: {"name", "ok",
 * "check", "warnings"}, or the refusal, the open's or the check's error.
 * Its secrets live in temporary 0600 files for the test only. */
int dsb_svc_source_test(const struct dsb_ctx *c, const json_t *body,
                        json_t **out, struct dsb_error *err);
/* The ETag of a managed source into etag; -1 when it is absent or
 * hand-written. */
int dsb_svc_source_etag(const struct dsb_ctx *c, const char *name,
                        char etag[68]);

/* ----------------------------------------------------------------- admin */

/* Loads conf.d again (admin): {"reloaded": true, "config_generation"}, or
 * DSB_E_CONFIG when the new configuration has errors (nothing changed). */
int dsb_svc_reload(const struct dsb_ctx *c, json_t **out,
                   struct dsb_error *err);

#endif
