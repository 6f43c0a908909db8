/* The local-spark executor's view of one job (local_job.c): its entry
 * point, its environment and what it reads. */
#ifndef DSB_CORE_JOBS_LOCAL_H
#define DSB_CORE_JOBS_LOCAL_H

#include <jansson.h>

#include "jobs/confine.h"
#include "jobs/internal.h"

/*
 * The file an entry point names: a .py or .jar file under the executor's
 * entry_point_dir (a relative path is taken from there), by its real path
 * (a symbolic link leading out of the directory is refused).  malloc'd, or
 * NULL with err set (DSB_E_INVALID, naming executor).
 */
char *dsb_local_entry_point(const struct dsb_confine_opts *co,
                            const char *executor, const char *given,
                            struct dsb_error *err);

/*
 * The job's environment, from an allow-list: PATH, LANG, LC_ALL,
 * JAVA_HOME, SPARK_HOME of the broker's (PATH and LANG have defaults),
 * HOME (home), SPARK_LOCAL_IP (local_ip), PYSPARK_PYTHON (py, may be NULL),
 * DSB_OUTPUT, DSB_JOB_ID, DSB_SESSION_ID, DSB_SECRET_n and DSB_SECRET_MAP
 * (the record's secret references resolved), and with aws_credentials:
 * pass the broker's AWS credentials and region.  Appended to e; 0 or -1
 * with err set.  Caller holds j->env_lock for reading.
 */
int dsb_local_env(struct dsb_jobs *j, const json_t *doc,
                  const struct dsb_confine_opts *co, const char *py,
                  const char *home, const char *local_ip, struct dsb_strv *e,
                  struct dsb_error *err);

/*
 * What the job reads besides the system (new array of paths, not all
 * need exist): the install directories of spark-submit bin and of py
 * (its venv and the interpreter behind it), $SPARK_HOME and $JAVA_HOME,
 * the record's local jars, the local paths (file:) of the read specs
 * (borrowed; may be NULL) and entry_dir (may be NULL).
 */
json_t *dsb_local_reads(const json_t *doc, const json_t *read_specs,
                        const char *bin, const char *py, const char *entry_dir);

/*
 * The options every executor that runs spark-submit on this host shares
 * (local-spark, and spark-submit's standalone driver): locating it, its
 * jars and conf, timeouts, limits and the confinement.  "master" is each
 * type's own.
 */
#define DSB_LOCAL_SPARK_OPTIONS                                                                                                                                                                                \
    DSB_OPTION_STRING("spark_submit", 0, NULL,                                                                                                                                                                 \
                      "spark-submit to run (default: "                                                                                                                                                         \
                      "the project venv's, then PATH)"),                                                                                                                                                       \
        DSB_OPTION_STRING("python", 0, NULL, "PYSPARK_PYTHON for the job"),                                                                                                                                    \
        DSB_OPTION_LIST("jars", 0, "[]", "extra jars on --jars"),                                                                                                                                              \
        DSB_OPTION_MAP("conf", 0, "extra --conf key=value pairs"),                                                                                                                                             \
        DSB_OPTION_BOOL("s3a", "false",                                                                                                                                                                        \
                        "s3a:// paths can be read (with "                                                                                                                                                      \
                        "hadoop-aws from hadoop_aws_package)"),                                                                                                                                                \
        DSB_OPTION_STRING(                                                                                                                                                                                     \
            "hadoop_aws_package", 0, NULL,                                                                                                                                                                     \
            "spark.jars.packages "                                                                                                                                                                             \
            "coordinate for s3a reads (default: hadoop-aws of the "                                                                                                                                            \
            "Hadoop bundled with the PySpark; \"\": none)"),                                                                                                                                                   \
        DSB_OPTION_INT("default_timeout_seconds", 0, "3600", 10, 604800,                                                                                                                                       \
                       "job timeout unless the job asks for less"),                                                                                                                                            \
        DSB_OPTION_INT("max_timeout_seconds", 0, "86400", 10, 604800,                                                                                                                                          \
                       "longest timeout a job may ask for"),                                                                                                                                                   \
        DSB_OPTION_INT(                                                                                                                                                                                        \
            "max_running_jobs", 0, "2", 1, 10000,                                                                                                                                                              \
            "jobs running at once (each is a JVM); more are queued"),                                                                                                                                          \
        DSB_OPTION_INT("max_queued_jobs", 0, "8", 0, 100000,                                                                                                                                                   \
                       "jobs waiting for a slot; a submit beyond is refused "                                                                                                                                  \
                       "with 429"),                                                                                                                                                                            \
        DSB_OPTION_INT("max_output_mb", 0, "10240", 1, 16777216,                                                                                                                                               \
                       "a job whose files in its directory (output/ and any "                                                                                                                                  \
                       "other, its logs aside) grow past this is stopped and "                                                                                                                                 \
                       "failed"),                                                                                                                                                                              \
        DSB_OPTION_INT(                                                                                                                                                                                        \
            "max_log_mb", 0, "1024", 1, 16777216,                                                                                                                                                              \
            "a job whose stdout.log or stderr.log grows past this is "                                                                                                                                         \
            "stopped and failed"),                                                                                                                                                                             \
        DSB_OPTION_ENUM(                                                                                                                                                                                       \
            "isolation", 0, "bwrap", dsb_isolation_names,                                                                                                                                                      \
            "bwrap: each job in its own namespaces as an unprivileged user, seeing the system read-only and writing only its directory; none: as the broker's user, seeing all it can (logged as a warning)"), \
        DSB_OPTION_ENUM(                                                                                                                                                                                       \
            "network", 0, "host", dsb_job_net_names,                                                                                                                                                           \
            "host: the machine's network, loopback included; none: no network at all (a loopback of its own)"),                                                                                                \
        DSB_OPTION_STRING(                                                                                                                                                                                     \
            "run_as", 0, NULL,                                                                                                                                                                                 \
            "user a root broker runs confined jobs as (default: dsbroker-job); a broker that is not root runs them as itself in a user namespace"),                                                            \
        DSB_OPTION_INT(                                                                                                                                                                                        \
            "max_memory_mb", 0, NULL, 64, 16777216,                                                                                                                                                            \
            "address space of each job process (RLIMIT_AS; a JVM reserves far more than it uses); absent: no limit"),                                                                                          \
        DSB_OPTION_ENUM(                                                                                                                                                                                       \
            "aws_credentials", 0, "none", dsb_aws_credential_names,                                                                                                                                            \
            "none: no AWS_* variable reaches a job; pass: the broker's own credentials do (for s3a reads)"),                                                                                                   \
        DSB_OPTION_STRING(                                                                                                                                                                                     \
            "entry_point_dir", 0, NULL,                                                                                                                                                                        \
            "directory whose .py and .jar files jobs may name as entry_point; absent: entry points are refused"),                                                                                              \
        DSB_OPTION_STRING("bwrap", 0, NULL,                                                                                                                                                                    \
                          "bubblewrap to run (default: bwrap on PATH)")

/*
 * The local executor's slots (local.c), which the spark-submit type's
 * standalone master reuses: the driver runs here, confined like a local
 * job, with master and driver_host from the executor's options.
 */
int dsb_local_start(struct dsb_jobs *j, const struct dsb_executor_conf *e,
                    const struct dsb_job_request *r, json_t *doc,
                    struct dsb_error *err);
long dsb_local_tick(struct dsb_jobs *j);
/* Under j->mu, after a claim: stops (SIGKILL) the spark-submits of jobs
 * this replica no longer owns (owned: the claim's ids), whose records
 * another replica took over while this one stalled; they are reaped by
 * the tick and their records left to the new owner. */
void dsb_local_drop_lost(struct dsb_jobs *j, const json_t *owned);
void dsb_local_recover(struct dsb_jobs *j, json_t *doc, const char *from);
int dsb_local_cancel(struct dsb_jobs *j, json_t *doc, const char *stop_state,
                     struct dsb_error *err);
json_t *dsb_local_logs(const json_t *doc, size_t lines, size_t max_bytes);
int dsb_local_read_output(struct dsb_jobs *j, const json_t *doc, size_t limit,
                          json_t **out, struct dsb_error *err);
unsigned dsb_local_caps(const json_t *opts);
int dsb_local_admit(const struct dsb_executor_conf *e,
                    const struct dsb_job_request *r, struct dsb_error *err);
json_t *dsb_local_describe(const struct dsb_executor_conf *e);
int dsb_local_check(const struct dsb_executor_conf *e, struct dsb_error *err);
/* The spark-submit an executor with options opts runs (the option
 * spark_submit, the venv's, PATH's), as an absolute path; malloc'd, or
 * NULL with err set. */
char *dsb_local_spark_submit(const json_t *opts, struct dsb_error *err);
/* cmd (a bare name looked up on PATH) as an absolute path if it is
 * executable; malloc'd or NULL. */
char *dsb_local_command(const char *cmd);
/* path written 0600 (a job's files are private to its user) with a then
 * b (either may be NULL); 0 or -1 (errno). */
int dsb_local_write_file(const char *path, const char *a, const char *b);
/* The driver's address: option driver_host, else 127.0.0.1 (static or
 * borrowed from opts). */
const char *dsb_local_driver_host(const json_t *opts);

#endif
