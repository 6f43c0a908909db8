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
 * HOME (home), SPARK_LOCAL_IP, PYSPARK_PYTHON (py, may be NULL),
 * DSB_OUTPUT, DSB_JOB_ID, DSB_SESSION_ID, DSB_SECRET_n and DSB_SECRET_MAP
 * (the record's secret references resolved), and with aws_credentials:
 * pass the broker's AWS credentials and region.  Appended to e; 0 or -1
 * with err set.  Caller holds j->env_lock for reading.
 */
int dsb_local_env(struct dsb_jobs *j, const json_t *doc,
                  const struct dsb_confine_opts *co, const char *py,
                  const char *home, struct dsb_strv *e, struct dsb_error *err);

/*
 * What the job reads besides the system (new array of paths, not all
 * need exist): the install directories of spark-submit bin and of py
 * (its venv and the interpreter behind it), $SPARK_HOME and $JAVA_HOME,
 * the record's local jars, the local paths (file:) of the read specs
 * (borrowed; may be NULL) and entry_dir (may be NULL).
 */
json_t *dsb_local_reads(const json_t *doc, const json_t *read_specs,
                        const char *bin, const char *py, const char *entry_dir);

#endif
