/* Spark context of a session: read specs of its selected tables rendered for
 * the executor the job will run on (PySpark snippets, spark-submit needs and
 * a prompt for the code-generation agent).  No secret value ever appears:
 * credentials are emitted as references resolved by the job at run time. */
#ifndef DSB_CORE_CONTEXT_H
#define DSB_CORE_CONTEXT_H

#include <stddef.h>

#include <jansson.h>

#include "broker.h"
#include "sessions.h"

/* The routing decision the context is rendered for. */
struct dsb_route_choice {
    char executor[128]; /* "" when no executor is configured */
    char type[32];      /* "local-spark", "emr-serverless" or "" */
    char reason[512];
};

/*
 * Chooses the executor for a set of networks (sorted, unique).  The jobs
 * router (core/jobs/router.h, dsb_route) is the default (see
 * dsb_context_jobs_route).  explicit_executor may be
 * NULL.  Returns 0, or -1 with err set (DSB_E_NOT_FOUND for an unknown
 * explicit executor, DSB_E_CONFLICT when none reaches the networks).
 */
typedef int (*dsb_context_route_fn)(const struct dsb_config *cfg,
                                    const char *const *networks, size_t n,
                                    const char *explicit_executor,
                                    struct dsb_route_choice *out,
                                    struct dsb_error *err);

/* The jobs router (core/jobs/router.h dsb_route): the covering executor
 * with the fewest networks; refusals are DSB_E_INVALID, upstream "route".
 * This is what dsb_context_build uses unless opts name another. */
int dsb_context_jobs_route(const struct dsb_config *cfg,
                           const char *const *networks, size_t n,
                           const char *explicit_executor,
                           struct dsb_route_choice *out, struct dsb_error *err);

/* Fetches a read spec; *out is a new reference the builder only reads
 * (the server serves it from its cache). */
typedef int (*dsb_context_spec_fn)(void *ctx, struct dsb_source *src,
                                   const struct dsb_selection *sel,
                                   const struct dsb_read_target *target,
                                   json_t **out, struct dsb_error *err);

struct dsb_context_opts {
    dsb_context_spec_fn spec; /* NULL: dsb_source_read_spec */
    void *spec_ctx;
    dsb_context_route_fn route; /* NULL: dsb_context_jobs_route */
};

/*
 * Builds the context of selections sel[0..n) (borrowed) as a new JSON
 * object: {"route": {"executor", "executor_type", "networks", "reason"},
 * "tables": [{"source", "database", "schema", "table", "variable",
 * "columns", "read", "notes", "snippet"}], "code", "spark_submit": {"jars",
 * "conf"}, "prompt"}.  Every snippet, run with a `spark` session in scope,
 * defines the DataFrame variable `variable`; "code" is all snippets after
 * the `_dsb_secret` helper of dsb_jobs_python_prelude() (when a
 * table has secret options).  Catalog text reaches "prompt" and "code"
 * only through core/prompt_text.h (neutralised text, Python literals).
 * Errors: DSB_E_NOT_FOUND for an unknown source, the plugins' errors, the
 * router's.
 */
int dsb_context_build(struct dsb_broker *b, const struct dsb_selection *sel,
                      size_t n, const char *executor_override,
                      const struct dsb_context_opts *o, json_t **out,
                      struct dsb_error *err);

/* The read target of an executor (name, type, capabilities). */
void dsb_context_target(const struct dsb_config *cfg, const char *executor,
                        struct dsb_read_target *t);

/* A valid, lower-case Python identifier for a table name ("Order Items" ->
 * "order_items"); buf receives it (cap >= 8). */
void dsb_py_ident(const char *name, char *buf, size_t cap);

#endif
