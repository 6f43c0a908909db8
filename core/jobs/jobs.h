/*
 * Jobs: submit generated PySpark to the executor the router picks, keep
 * the record in SQLite, track it, cancel it, show its logs and result.
 *
 * Job record (JSON, what every call below returns as "the job"):
 *   {"id", "session_id", "name", "state", "executor", "executor_type",
 *    "route": {"executor","type","networks","reason"},
 *    "created_at", "updated_at", "started_at", "finished_at" (ms or null),
 *    "timeout_seconds", "deadline_at", "reason" (why it failed or stopped),
 *    "script", "args", "output": {"uri", "formats": ["csv","jsonl"]},
 *    "spark_submit": {"jars": [...], "conf": {...}},
 *    "purpose": {"kind", ...} (jobs the broker submits itself only),
 *    "secret_refs": [references only, never values],
 *    "local": {"pid", "dir", "work", "master", "spark_submit",
 *    "isolation", "network", "run_as", "max_memory_mb"} |
 *    "emr": {"application_id", "job_run_id", "client_token", "state",
 *    "state_details"}}
 * States: "pending" (recorded or queued at the executor), "running",
 * "cancelling", then one of "succeeded", "failed", "cancelled",
 * "timed_out" (the deadline passed and the broker cancelled the job).
 *
 * Output contract: the job writes CSV files with a header line, or JSON
 * lines (*.json, *.jsonl), into the location in the environment variable
 * DSB_OUTPUT (a local directory that does not exist yet, or an s3://
 * prefix); Spark's df.write.csv(os.environ["DSB_OUTPUT"], header=True)
 * does exactly that.  DSB_JOB_ID and DSB_SESSION_ID are set too.
 *
 * Secrets: read specs carry references.  The job resolves them at run time
 * with _dsb_secret(ref) from dsb_jobs_python_prelude() (the same
 * helper the context builder renders); for local runs the
 * broker resolves them and hands the values through the environment
 * (DSB_SECRET_MAP maps each reference to a variable name), never argv:
 * the job's code can read the values of its own session's sources.
 *
 * Thread-safe: the HTTP layer may call everything from several threads.
 */
#ifndef DSB_CORE_JOBS_JOBS_H
#define DSB_CORE_JOBS_JOBS_H

#include <jansson.h>

#include "config.h"
#include "dsbroker/plugin.h"
#include "jobs/router.h"
#include "secrets.h"

struct dsb_jobs;
struct dsb_aws;
struct dsb_store_backend;
struct dsb_store_conf;

/* upstream of a submit refused because a queue is full (mapped to HTTP
 * 429 with Retry-After: broker.yaml jobs.retry_after_seconds). */
#define DSB_JOBS_LIMIT_UPSTREAM "dsb:job_limit"

struct dsb_jobs_options {
    const struct dsb_config *cfg; /* borrowed; must outlive the service */
    struct dsb_secrets *secrets;  /* borrowed; for local runs' secrets */
    struct dsb_aws *aws;          /* borrowed; NULL: one is made from
                                   * broker.yaml's aws section on first use */
    const char *db_path;          /* NULL: state_dir/dsbroker.db */
    const struct dsb_store_backend *store;   /* NULL: SQLite at db_path */
    const struct dsb_store_conf *store_conf; /* where store keeps jobs
                                              * (read during open only) */
    const char *replica_id; /* state.replica_id; NULL: one made at open */
    long lease_ms;          /* state.lease_seconds in ms; 0: 15000 */
    long tick_ms;           /* tracker period; 0: 500 */
    long emr_poll_ms;       /* GetJobRun period; 0: 5000 */
    long kill_grace_ms;     /* SIGTERM -> SIGKILL; 0: 5000 */
};

/*
 * Opens the job store (creating table `jobs` in WAL mode) and starts the
 * tracker thread.  Jobs of the local executor that were active when the
 * broker stopped are marked failed ("the broker stopped while the job was
 * running"); EMR jobs are tracked again, and those left without a run id
 * (the StartJobRun answer was lost) get the same StartJobRun again, with
 * the same clientToken, on the tracker's first tick (docs/jobs.md,
 * "Restarts").  With replicas on one store (docs/jobs.md, "Replicas and
 * leases") that applies to the jobs this replica id owned and to those
 * nobody holds a lease on; a lease thread then renews this replica's
 * leases and takes over the jobs of replicas whose leases end.  NULL with
 * err set on failure.
 */
struct dsb_jobs *dsb_jobs_open(const struct dsb_jobs_options *o,
                               struct dsb_error *err);
/* Stops the tracker and closes the store.  Running local jobs are left
 * running (a restart marks them failed).  NULL is a no-op. */
void dsb_jobs_close(struct dsb_jobs *j);

/*
 * Points the service at a new configuration (a reload): cfg, secrets and
 * aws (borrowed, as in dsb_jobs_options; aws NULL: made from cfg on first
 * use).  Waits for calls using the previous ones to finish, so the caller
 * may free those when this returns.  Jobs keep being tracked; state_dir
 * and the tracker's periods stay as opened.
 */
void dsb_jobs_configure(struct dsb_jobs *j, const struct dsb_config *cfg,
                        struct dsb_secrets *secrets, struct dsb_aws *aws);

struct dsb_job_request {
    const char *session_id;        /* required */
    const char *principal;         /* who submits it (recorded as the job's
                                    * "principal"); NULL: "anonymous" */
    const char *code;              /* PySpark source, or */
    const char *entry_point;       /* a script path / s3:// URI the executor
                                    * can read */
    const char *name;              /* NULL: the job id */
    const json_t *args;            /* array of strings or NULL */
    const char *executor;          /* NULL/"": routed */
    long timeout_seconds;          /* 0: the executor's default */
    const json_t *read_specs;      /* array of read specs (with "network") of
                                    * the session's tables; may be NULL */
    const struct dsb_route *route; /* NULL: routed here from read_specs */
    const json_t *sources;         /* names of the sources the job reads
                                    * (array of strings, recorded as the job's
                                    * "sources" for access checks); may be NULL */
    const json_t *purpose;         /* recorded as the job's "purpose" (an
                                    * object, e.g. {"kind": "verify-context",
                                    * "context_etag"} of a verification the
                                    * broker submits); NULL: none */
};

/*
 * Records and starts a job, or queues it when its executor runs
 * max_running_jobs or its principal jobs.max_running_per_principal jobs
 * (docs/jobs.md, "Limits and the queue"; the tracker starts it when a slot
 * frees, and a restart keeps it queued).  *job is a new reference to the
 * record (state "pending" or "running", with its route; a queued one has
 * "queued": true and "queue_reason").  Errors: DSB_E_INVALID (bad
 * request; upstream "route" for placement refusals), DSB_E_THROTTLED with
 * upstream DSB_JOBS_LIMIT_UPSTREAM when the queue it would join is full,
 * the executor's errors (AWS errors mapped field by field; a failed start
 * is also recorded as a failed job, whose id is in err->detail).
 */
int dsb_jobs_submit(struct dsb_jobs *j, const struct dsb_job_request *r,
                    json_t **job, struct dsb_error *err);
/* The record; DSB_E_NOT_FOUND for an unknown id. */
int dsb_jobs_get(struct dsb_jobs *j, const char *id, json_t **job,
                 struct dsb_error *err);
/* {"items": [records, newest first]} of one session. */
int dsb_jobs_list(struct dsb_jobs *j, const char *session_id, json_t **out,
                  struct dsb_error *err);
/* Asks the executor to stop the job; the record (state "cancelling" or
 * final).  A queued job is cancelled at once and never starts.
 * Cancelling a finished job returns it unchanged. */
int dsb_jobs_cancel(struct dsb_jobs *j, const char *id, json_t **job,
                    struct dsb_error *err);
/*
 * Logs: {"stdout": "...", "stderr": "..."} for local jobs, each the last
 * `lines` lines (0: any number) within the last max_bytes (0: 64 KiB) of
 * its file, read backwards from the end; {"location": "s3://...",
 * "state_details": "..."} for EMR.
 */
int dsb_jobs_logs(struct dsb_jobs *j, const char *id, size_t lines,
                  size_t max_bytes, json_t **out, struct dsb_error *err);
/*
 * First `limit` rows of a succeeded job's output:
 * {"format": "csv"|"jsonl", "columns": [...], "rows": [[...]],
 *  "truncated": bool}.  CSV values are strings.  Only as much of the
 * output is read as the rows need (one more row tells "truncated"), in
 * fixed-size chunks.  DSB_E_CONFLICT when the job has not succeeded;
 * DSB_E_NOT_FOUND when it wrote nothing; DSB_E_UNSUPPORTED for a row
 * longer than 1 MiB.
 */
int dsb_jobs_result(struct dsb_jobs *j, const char *id, size_t limit,
                    json_t **out, struct dsb_error *err);

/* Python source defining _dsb_secret(ref) (env:, file:, aws-sm:) that job
 * scripts and rendered snippets call at run time: core/jobs/prelude.py,
 * embedded at build time.  Static string. */
const char *dsb_jobs_python_prelude(void);

/* The spark.jars.packages coordinate that brings hadoop-aws (s3a://) to a
 * local-spark executor with options opts (borrowed): the option
 * hadoop_aws_package when set ("" means none), else
 * "org.apache.hadoop:hadoop-aws:V" with V the version of the Hadoop client
 * jar (hadoop-client-api-V.jar, else hadoop-common-V.jar) bundled with the
 * Spark its spark-submit runs: $SPARK_HOME/jars, the jars beside the
 * resolved spark-submit, or a venv's site-packages/pyspark/jars.  NULL when
 * none is found.  malloc'd; the caller frees it. */
char *dsb_local_hadoop_aws_package(const json_t *opts);

/* Broker state of an EMR Serverless job-run state ("RUNNING" -> "running");
 * NULL for an unknown state. */
const char *dsb_jobs_emr_state(const char *emr_state);

#endif
