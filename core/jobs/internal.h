/* Internals shared by the job service, its store and its executors. */
#ifndef DSB_CORE_JOBS_INTERNAL_H
#define DSB_CORE_JOBS_INTERNAL_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdint.h>
#include <sys/types.h>

#include "jobs/executor.h"
#include "jobs/jobs.h"

/* A spark-submit this process started and has not reaped yet. */
struct dsb_local_proc {
    struct dsb_local_proc *next;
    char id[40];
    pid_t pid;              /* also its process group */
    int64_t deadline_ms;    /* wall clock */
    int64_t term_sent_ms;   /* 0: not signalled yet */
    const char *stop_state; /* "cancelled", "timed_out" or NULL */
};

struct dsb_jobs {
    struct dsb_jobs_options o;
    sqlite3 *db;
    pthread_mutex_t mu; /* db, procs, every record update */
    pthread_mutex_t aws_mu;
    pthread_rwlock_t env_lock; /* o.cfg, o.secrets, aws: read-held while
                                * in use, write-held to swap them */
    pthread_cond_t cv;
    pthread_t tracker;
    int started, stop;
    struct dsb_aws *aws;
    int own_aws;
    char *jobs_dir; /* state_dir/jobs */
    struct dsb_local_proc *procs;
    json_t *emr_resubmit; /* ids of jobs emr-serverless's recover queued
                           * for re-submission (j->mu) */
};

int dsb_job_is_final(const char *state);
/* Sets state (and reason when non-NULL), updated_at, finished_at. */
void dsb_job_set_state(json_t *doc, const char *state, const char *reason);
const char *dsb_job_str(const json_t *doc, const char *path1,
                        const char *path2);

/* store.c — caller holds j->mu for everything but open/close. */
int dsb_jstore_open(struct dsb_jobs *j, const char *path,
                    struct dsb_error *err);
void dsb_jstore_close(struct dsb_jobs *j);
int dsb_jstore_put(struct dsb_jobs *j, const json_t *doc,
                   struct dsb_error *err);
/* New reference or NULL when absent. */
json_t *dsb_jstore_get(struct dsb_jobs *j, const char *id);
/* Records of a session (newest first), or every active one (session NULL). */
json_t *dsb_jstore_list(struct dsb_jobs *j, const char *session_id);

/* The executor types (local.c, emr.c), registered in executor.c. */
extern const struct dsb_executor_ops dsb_local_spark_ops;
extern const struct dsb_executor_ops dsb_emr_serverless_ops;

/* The AWS client of the service (made from broker.yaml's aws section on
 * first use); NULL with err set when it cannot be made.  Borrowed: valid
 * while env_lock is read-held. */
struct dsb_aws *dsb_jobs_aws(struct dsb_jobs *j, struct dsb_error *err);

/* core/jobs/prelude.py, NUL-terminated (generated at build time by
 * cmake/embed_text.cmake). */
extern const char dsb_jobs_prelude_py[];

/* files.c */
/* The last `lines` lines (0: any number) of the regular file at path,
 * within max bytes of its end, read backwards in fixed-size chunks:
 * malloc'd and NUL-terminated, with `spare` bytes of room after the NUL;
 * *len is its length.  NULL when the file cannot be read (absent, not a
 * regular file, a symbolic link). */
char *dsb_file_tail(const char *path, size_t lines, size_t max, size_t spare,
                    size_t *len);

/* output.c: the first limit rows of a job's output, read file by file in
 * fixed-size chunks and parsed as a stream (bounded memory whatever the
 * sizes).  dsb_output_read_local does not follow symbolic links. */
int dsb_output_read_local(const char *dir, size_t limit, json_t **out,
                          struct dsb_error *err);
int dsb_output_read_s3(struct dsb_jobs *j, const json_t *doc, const char *uri,
                       size_t limit, json_t **out, struct dsb_error *err);

#endif
