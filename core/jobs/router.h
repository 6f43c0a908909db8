/*
 * Job placement: which executor of broker.yaml runs a job.
 *
 * Rules (docs/jobs.md has examples):
 *   - a job needs the union of its sources' networks;
 *   - an executor covers the job when it reaches every needed network;
 *   - among the covering executors the one reaching the fewest networks
 *     wins (so S3/Glue-only work never lands on a VPC application); a tie
 *     goes to the one declared first (default_executor plays no part);
 *   - a job needing no network (no source, or sources that declare none)
 *     runs on default_executor;
 *   - an explicitly named executor is used only if it covers the job.
 * Refusals are DSB_E_INVALID with upstream "route": the HTTP layer answers
 * them with 422 (the request is well-formed but cannot be placed).
 *
 * With no executor in broker.yaml the broker has one built in: "local",
 * local-spark, reaching the networks "local" and "public".
 */
#ifndef DSB_CORE_JOBS_ROUTER_H
#define DSB_CORE_JOBS_ROUTER_H

#include <jansson.h>

#include "config.h"
#include "dsbroker/plugin.h"

/* upstream of routing refusals (mapped to HTTP 422). */
#define DSB_ROUTE_UPSTREAM "route"

struct dsb_route {
    char executor[65];
    char type[32];
    json_t *networks; /* needed networks, sorted, deduplicated (owned) */
    char reason[512];
};

/*
 * Chooses the executor for a job that needs `networks` (n entries, may
 * repeat, NULL entries ignored).  explicit_executor: NULL or "" to let the
 * router choose.  On success fills *out (release with dsb_route_clear) and
 * returns 0.  Errors: DSB_E_INVALID/"route" (no executor covers the
 * networks: the message names the uncovered ones; unknown or unsuitable
 * explicit executor), DSB_E_INTERNAL.
 */
int dsb_route(const struct dsb_config *cfg, const char *const *networks,
              size_t n, const char *explicit_executor, struct dsb_route *out,
              struct dsb_error *err);
void dsb_route_clear(struct dsb_route *r);

/* The route as JSON {"executor","type","networks","reason"} (new ref). */
json_t *dsb_route_json(const struct dsb_route *r);

/*
 * Executors in declared order (the built-in one when broker.yaml has none);
 * borrowed from cfg or static.  dsb_executor_find returns NULL when the
 * name is unknown.
 */
const struct dsb_executor_conf *dsb_executors(const struct dsb_config *cfg,
                                              size_t *n);
const struct dsb_executor_conf *dsb_executor_find(const struct dsb_config *cfg,
                                                  const char *name);

/*
 * What a read spec targets on executor e (strings borrowed from e), caps
 * from its type's operations (core/jobs/executor.h): local-spark:
 * DSB_EXEC_LOCAL_FILES, plus DSB_EXEC_S3A with option s3a; emr-serverless:
 * DSB_EXEC_S3_NATIVE, plus DSB_EXEC_GLUE_CATALOG with option glue_catalog.
 */
void dsb_read_target_for(const struct dsb_executor_conf *e,
                         struct dsb_read_target *t);

#endif
