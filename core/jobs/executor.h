/*
 * Executor types: what the job service, the router, config validation and
 * the context builder need of "local-spark" or "emr-serverless", as one
 * table of operations per type.  The registry (executor.c) maps a type
 * name (broker.yaml's "type", a job record's "executor_type") to its
 * table; nothing else compares type names.
 */
#ifndef DSB_CORE_JOBS_EXECUTOR_H
#define DSB_CORE_JOBS_EXECUTOR_H

#include <stddef.h>

#include <jansson.h>

#include "dsbroker/plugin.h"

struct dsb_jobs;
struct dsb_job_request;
struct dsb_executor_conf;
struct dsb_ynode;
struct dsb_diags;

/* Who stores the job record around start (flags). */
#define DSB_EXEC_STORE_BEFORE_START                                            \
    0x1u /* the service stores the pending                                     \
          * record before start */
#define DSB_EXEC_STORE_AFTER_START                                             \
    0x2u /* the service stores the record                                      \
          * start returns */

/*
 * One executor type.  Records are job records (core/jobs/jobs.h); every
 * slot up to read_output is required, the later ones may be NULL.  Slots
 * run on the caller's thread with no service lock held and take the locks
 * they need (internal.h).
 */
struct dsb_executor_ops {
    /* broker.yaml options of the type, beside the common name, type,
     * networks and description (static) */
    const struct dsb_option *options;
    /* the options holding the default and the longest job timeout, both
     * counted in units of timeout_unit_s seconds */
    const char *default_timeout_key;
    const char *max_timeout_key;
    long timeout_unit_s;
    unsigned flags; /* DSB_EXEC_STORE_* */

    /* DSB_EXEC_* capabilities read specs may target on an executor with
     * validated options opts (borrowed). */
    unsigned (*caps)(const json_t *opts);
    /* Starts the job of record doc (borrowed, updated in place: state,
     * script, output, the type's own member) on executor e.  0, or -1 with
     * err set; the service records a failed start. */
    int (*start)(struct dsb_jobs *j, const struct dsb_executor_conf *e,
                 const struct dsb_job_request *r, json_t *doc,
                 struct dsb_error *err);
    /* Tracks the type's active jobs (from the tracker thread).  Returns
     * how many ms to wait before the next call. */
    long (*tick)(struct dsb_jobs *j);
    /* Handles one active record (borrowed) this replica took over: on
     * open, before the tracker starts, those a previous broker process
     * left; later, under j->mu, those of a replica whose lease expired
     * (docs/jobs.md, "Replicas and leases").  from: the replica that
     * owned it (NULL: unknown, a record from before leases). */
    void (*recover)(struct dsb_jobs *j, json_t *doc, const char *from);
    /* Stops the job of record doc (borrowed; it may be rewritten) and
     * records stop_state ("cancelled") or "cancelling".  0 or -1 with err
     * set. */
    int (*cancel)(struct dsb_jobs *j, json_t *doc, const char *stop_state,
                  struct dsb_error *err);
    /* The logs of record doc (borrowed) as a new object: of each text the
     * last `lines` lines (0: any number), at most max_bytes; NULL when out
     * of memory. */
    json_t *(*logs)(const json_t *doc, size_t lines, size_t max_bytes);
    /* First limit rows of the output of succeeded record doc (borrowed):
     * *out as in dsb_jobs_result.  0 or -1 with err set. */
    int (*read_output)(struct dsb_jobs *j, const json_t *doc, size_t limit,
                       json_t **out, struct dsb_error *err);

    /* Optional slots (NULL: nothing to add). */
    /* Refuses request r on executor e before anything is recorded (an
     * entry point it may not run, a confinement it cannot give): 0, or -1
     * with err set.  Called with env_lock read-held. */
    int (*admit)(const struct dsb_executor_conf *e,
                 const struct dsb_job_request *r, struct dsb_error *err);
    /* What GET /v1/executors shows of e beside its name, type and
     * networks: a new object ("isolation", and for a local type "ready",
     * "network", "run_as"...), never a secret. */
    json_t *(*describe)(const struct dsb_executor_conf *e);
    /* Looks at e when a configuration is taken (open, reload): 0 when it
     * can run jobs, 1 when it can but err holds a warning to log, -1 when
     * its jobs will be refused (err says why and how to fix it). */
    int (*check)(const struct dsb_executor_conf *e, struct dsb_error *err);
    /* Checks an executor's options as a whole when broker.yaml is loaded
     * (what one option's type cannot say: options that exclude each
     * other, values that depend on another option): adds errors to d at
     * the position of the key in map n.  opts: the validated options. */
    void (*validate)(const struct dsb_ynode *n, const json_t *opts,
                     struct dsb_diags *d);
};

/* At most this many types are registered (the tracker keeps a due time
 * per type). */
#define DSB_EXECUTOR_TYPES_MAX 8

/* Names of the registered types, NULL-terminated, in registration order
 * (the enum broker.yaml's executor "type" accepts). */
extern const char *const dsb_executor_types[];

/* The operations of executor type `type`; NULL for an unknown type or
 * NULL.  Static. */
const struct dsb_executor_ops *dsb_executor_ops_find(const char *type);

/* The i-th registered type's operations (registration order); NULL past
 * the last.  Static. */
const struct dsb_executor_ops *dsb_executor_ops_at(size_t i);

/* Fills e->limits from e->options (validated; a missing option takes its
 * type's default): max_running_jobs, max_queued_jobs, max_output_mb and
 * max_log_mb, 0 for an option the type does not have. */
void dsb_executor_limits_bind(struct dsb_executor_conf *e);

#endif
