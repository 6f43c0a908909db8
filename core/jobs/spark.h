/* The spark-submit executor type (spark.c): what its tests reach. */
#ifndef DSB_CORE_JOBS_SPARK_H
#define DSB_CORE_JOBS_SPARK_H

#include <jansson.h>

#include "jobs/confine.h"
#include "jobs/internal.h"

/* The kind of cluster a master URL names. */
enum dsb_spark_kind {
    DSB_SPARK_NONE = 0,   /* not a cluster master (local[N], a typo...) */
    DSB_SPARK_STANDALONE, /* spark://HOST:PORT[,HOST:PORT...] */
    DSB_SPARK_K8S,        /* k8s://https://API-SERVER */
    DSB_SPARK_YARN,       /* yarn */
};

enum dsb_spark_kind dsb_spark_kind_of(const char *master);

/* deploy_mode's values, NULL-terminated. */
extern const char *const dsb_spark_deploy_modes[];

/* The standalone master's web UI (malloc'd, no trailing slash): option
 * master_ui_url, else http://HOST:8080 of the first master in the URL;
 * NULL for other kinds. */
char *dsb_spark_master_ui(const json_t *opts);

/* The state of application app_id in a master's /json/ answer (its
 * activeapps or completedapps), borrowed; NULL when it is not listed. */
const char *dsb_spark_app_state(const json_t *status, const char *app_id);

/* Non-zero for a state after which a standalone application never
 * changes: FINISHED, FAILED, KILLED. */
int dsb_spark_app_final(const char *state);

/* The application id in a driver's log ("... with app ID app-..."), the
 * last one; malloc'd or NULL. */
char *dsb_spark_app_id_in(const char *text);

/* ------------------------------------------- k8s and YARN (spark_remote.c) */

/* The driver pod's name of job job_id: "dsb-" and the id, lowercase,
 * anything but letters and digits as '-', at most 63 characters (a DNS
 * label); malloc'd. */
char *dsb_spark_k8s_pod(const char *job_id);
/* NAMESPACE:POD, the submission id of job_id; malloc'd. */
char *dsb_spark_k8s_submission(const json_t *opts, const char *job_id);

/* The exact commands (appended to a): the submit of record doc (its id,
 * name, args, output, spark_submit jars and conf) running script with
 * spark-submit bin; the status and the kill of its submission
 * (doc.cluster.submission_id): bin is spark-submit for k8s, yarn for YARN.
 * 0, or -1 when memory runs out (or the record has no submission id). */
int dsb_spark_submit_argv(const json_t *opts, const json_t *doc,
                          const char *bin, const char *script,
                          struct dsb_strv *a);
int dsb_spark_status_argv(const json_t *opts, const json_t *doc,
                          const char *bin, struct dsb_strv *a);
int dsb_spark_kill_argv(const json_t *opts, const json_t *doc, const char *bin,
                        struct dsb_strv *a);

/* Parsing the clients' output (malloc'd results, NULL when absent): the
 * driver pod's phase ("phase: Running"); whether the submission is gone
 * ("Application not found"); YARN's "State" and "Final-State" (0 when a
 * State was found); the id in "Submitted application application_...". */
char *dsb_spark_k8s_phase_in(const char *text);
int dsb_spark_k8s_not_found(const char *text);
int dsb_spark_yarn_report_in(const char *text, char **state, char **final);
char *dsb_spark_yarn_app_in(const char *text);

/* The broker's state for a driver pod's phase / a YARN application's
 * State and Final-State (docs/jobs.md has both tables); NULL for a value
 * that changes nothing (Unknown, or one the broker does not know). */
const char *dsb_spark_k8s_state(const char *phase);
const char *dsb_spark_yarn_state(const char *state, const char *final);

/* The slots of the cluster deploy mode. */
int dsb_spark_remote_start(struct dsb_jobs *j,
                           const struct dsb_executor_conf *e,
                           const struct dsb_job_request *r, json_t *doc,
                           struct dsb_error *err);
void dsb_spark_remote_poll(struct dsb_jobs *j);
int dsb_spark_remote_cancel(struct dsb_jobs *j, json_t *doc,
                            const char *stop_state, struct dsb_error *err);
void dsb_spark_remote_recover(struct dsb_jobs *j, json_t *doc,
                              const char *from);
json_t *dsb_spark_remote_logs(const json_t *doc, size_t lines,
                              size_t max_bytes);

#endif
