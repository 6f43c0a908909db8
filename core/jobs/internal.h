/* Internals shared by the job service, its store and its executors. */
#ifndef DSB_CORE_JOBS_INTERNAL_H
#define DSB_CORE_JOBS_INTERNAL_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "jobs/executor.h"
#include "jobs/jobs.h"

struct dsb_jstore_ops;

/* A spark-submit this process started and has not reaped yet. */
struct dsb_local_proc {
    struct dsb_local_proc *next;
    char id[40];
    pid_t pid;              /* also its process group */
    int64_t deadline_ms;    /* wall clock */
    int64_t term_sent_ms;   /* 0: not signalled yet */
    const char *stop_state; /* "cancelled", "timed_out", "failed" or NULL */
    int lost;               /* another replica took the job over */
    int limits_known;       /* the two below were read from the record */
    int64_t max_output_bytes, max_log_bytes; /* 0: none */
};

/* A spark-submit job on a standalone master whose application the tracker
 * follows on the master's web UI (spark.c), until the master says it
 * ended or the job has been final for a few polls. */
struct dsb_spark_watch {
    struct dsb_spark_watch *next;
    char id[40];
    int polls_final; /* polls since the record became final */
};

/* A job admitted to start whose record may not say so yet (between the
 * admission and the executor's store): counted as running (queue.c). */
struct dsb_job_starting {
    struct dsb_job_starting *next;
    char *id, *executor, *principal;
    int cancel; /* a cancel came meanwhile: stop it once started */
};

struct dsb_jobs {
    struct dsb_jobs_options o;
    const struct dsb_jstore_ops *store_ops; /* the state store backend */
    void *store;                            /* its handle */
    char *replica;                          /* this replica's id */
    int64_t lease_ms;                       /* its leases' length */
    pthread_mutex_t mu; /* store, procs, every record update */
    pthread_mutex_t aws_mu;
    pthread_rwlock_t env_lock; /* o.cfg, o.secrets, aws: read-held while
                                * in use, write-held to swap them */
    pthread_cond_t cv;
    pthread_t tracker;
    int started, stop;
    pthread_cond_t lease_cv; /* wakes the lease thread (stop) */
    pthread_t leaser;        /* renews leases, takes jobs over */
    int leaser_started;
    json_t *cancel_asked; /* (mu) ids of jobs a cancel was asked for on
                           * another replica: the tracker carries them out */
    struct dsb_aws *aws;
    int own_aws;
    char *jobs_dir; /* state_dir/jobs */
    struct dsb_local_proc *procs;
    struct dsb_job_starting *starting;   /* (j->mu) */
    struct dsb_spark_watch *spark_watch; /* (j->mu) */
    int64_t spark_next_poll_ms;          /* (tracker thread) */
    int64_t spark_remote_next_ms;        /* (tracker thread) */
    /* The cluster poller (spark.c): runs the k8s and YARN status commands
     * (a JVM each, seconds) on a thread of its own, so that they do not
     * hold up the tracker; started by the tracker when first due, woken
     * through remote_due every emr_poll_ms. */
    pthread_cond_t remote_cv; /* (mu) */
    pthread_t remote_poller;
    int remote_started; /* (tracker thread; read by close after its join) */
    int remote_due;     /* (mu) */
};
/* Stops the cluster poller (dsb_jobs_close, after the tracker ended). */
void dsb_spark_poller_stop(struct dsb_jobs *j);

int dsb_job_is_final(const char *state);
/* Sets state (and reason when non-NULL), updated_at, finished_at. */
void dsb_job_set_state(json_t *doc, const char *state, const char *reason);
const char *dsb_job_str(const json_t *doc, const char *path1,
                        const char *path2);

/* dsb_jstore_put under j->mu (jobs.c). */
int dsb_jobs_store(struct dsb_jobs *j, const json_t *doc,
                   struct dsb_error *err);

/* store.c: the job store, dispatched to its backend (store.h) — caller
 * holds j->mu for everything but open/close. */
int dsb_jstore_open(struct dsb_jobs *j, const char *path,
                    struct dsb_error *err);
void dsb_jstore_close(struct dsb_jobs *j);
int dsb_jstore_put(struct dsb_jobs *j, const json_t *doc,
                   struct dsb_error *err);
/* New reference or NULL when absent. */
json_t *dsb_jstore_get(struct dsb_jobs *j, const char *id);
/* Records of a session (newest first), or every active one (session NULL). */
json_t *dsb_jstore_list(struct dsb_jobs *j, const char *session_id);

/* One active job as the limits count it. */
struct dsb_jactive {
    char *id, *executor, *principal; /* malloc'd */
    int64_t queue_seq;               /* its place in the queue; 0: not queued */
};
/* Every active job, the queued ones first in arrival order; NULL (and *n
 * 0) when there is none, or when memory or the store fails (then *n is
 * (size_t)-1).  Free with dsb_jactive_free. */
struct dsb_jactive *dsb_jstore_active(struct dsb_jobs *j, size_t *n);
void dsb_jactive_free(struct dsb_jactive *v, size_t n);
/* Stores queued record doc and the code or entry point it will be started
 * with, in one transaction. */
int dsb_jstore_enqueue(struct dsb_jobs *j, const json_t *doc, const char *code,
                       const char *entry_point, struct dsb_error *err);
/* Takes doc's job off the queue and stores doc, in one transaction; *code
 * and *entry_point (either may be NULL) get the request it was queued with
 * (malloc'd, NULL when absent).  -1 with err set (DSB_E_CONFLICT when the
 * job is not queued). */
int dsb_jstore_dequeue(struct dsb_jobs *j, const json_t *doc, char **code,
                       char **entry_point, struct dsb_error *err);
/* Non-zero when job id is queued / when any job is. */
int dsb_jstore_is_queued(struct dsb_jobs *j, const char *id);
int dsb_jstore_any_queued(struct dsb_jobs *j);

/*
 * Leases (docs/jobs.md, "Replicas and leases").  Every active record
 * belongs to one replica, its owner, while its lease holds; a put writes
 * a record only when this replica owns it or nobody does (and then takes
 * it), else it fails with DSB_E_CONFLICT and changes nothing.  A dequeue
 * takes the job whoever queued it (the queue row is the arbiter).
 *
 * dsb_jstore_claim renews the leases of the active jobs this replica
 * owns and takes over the active, not queued jobs whose lease expired or
 * that have no owner (at_start: also those this replica id owns, left by
 * an earlier process of it; on SQLite, a single process, every active
 * one), in one transaction: on PostgreSQL `FOR UPDATE SKIP LOCKED`, the
 * expiry judged by the database's clock.  *out gets {"taken": [{"from":
 * previous owner or null, "doc": record}], "cancel": [ids of owned jobs
 * with a cancel request], "owned": [ids of the active jobs it owns]}.
 */
int dsb_jstore_claim(struct dsb_jobs *j, int at_start, json_t **out,
                     struct dsb_error *err);
/* Lets go of this replica's leases (clean shutdown): another replica
 * takes its active jobs at its next claim. */
void dsb_jstore_release(struct dsb_jobs *j);
/* Records a cancel request on active job id for its owner; DSB_E_NOT_FOUND
 * when there is no such job, DSB_E_CONFLICT when it is final. */
int dsb_jstore_request_cancel(struct dsb_jobs *j, const char *id,
                              struct dsb_error *err);
/* Admissions (queue.c's counts, then the record or queue row they
 * decide) as one step across replicas: on a store several processes share
 * (dsb_jstore_shared) begin takes the store's admission lock in a
 * transaction that end commits (commit) or rolls back; on one only this
 * process opens, j->mu is enough and both do nothing (end: 0 when commit,
 * else -1).  The store calls between join the transaction. */
int dsb_jstore_shared(struct dsb_jobs *j);
int dsb_jstore_admission_begin(struct dsb_jobs *j, struct dsb_error *err);
int dsb_jstore_admission_end(struct dsb_jobs *j, int commit,
                             struct dsb_error *err);
/* This replica's id (state.replica_id or the one made at open). */
const char *dsb_jstore_replica(struct dsb_jobs *j);

/* queue.c — caller holds j->mu.  What becomes of a new job of record doc
 * (its "principal" and "executor" set) on executor e: */
enum dsb_admit {
    DSB_ADMIT_START = 0, /* a slot is free: start it now */
    DSB_ADMIT_QUEUE = 1, /* queue it (doc gets "queued" and "queue_reason") */
};
/* DSB_ADMIT_START or DSB_ADMIT_QUEUE, or -1 with err set when the queue
 * it would join is full (DSB_E_THROTTLED, retryable, upstream
 * DSB_JOBS_LIMIT_UPSTREAM; the message names the limit, the hint how to
 * raise it). */
int dsb_jobs_admit(struct dsb_jobs *j, const struct dsb_executor_conf *e,
                   json_t *doc, struct dsb_error *err);
/* The id (malloc'd) of the queued job to start next on e, or NULL when
 * none may start now (docs/jobs.md, "Limits and the queue"). */
char *dsb_jobs_next_queued(struct dsb_jobs *j,
                           const struct dsb_executor_conf *e);
/* Counts job id as running until dsb_jobs_started (j->mu); -1 when
 * memory runs out. */
int dsb_jobs_starting(struct dsb_jobs *j, const char *id, const char *executor,
                      const char *principal);
/* Non-zero when job id is starting; it is then marked to be cancelled once
 * started. */
int dsb_jobs_starting_cancel(struct dsb_jobs *j, const char *id);
/* Stops counting job id as starting; non-zero when a cancel came
 * meanwhile. */
int dsb_jobs_started(struct dsb_jobs *j, const char *id);

/* The executor types (local.c, emr.c), registered in executor.c. */
extern const struct dsb_executor_ops dsb_local_spark_ops;
extern const struct dsb_executor_ops dsb_emr_serverless_ops;
extern const struct dsb_executor_ops dsb_spark_submit_ops;

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
/* Bytes of the regular files under dir, symbolic links not followed,
 * names in skip (NULL-terminated, may be NULL) left out at its top level;
 * counting stops once past stop_at.  0 when dir cannot be opened. */
int64_t dsb_dir_bytes(const char *dir, const char *const *skip,
                      int64_t stop_at);

/* output.c: the first limit rows of a job's output, read file by file in
 * fixed-size chunks and parsed as a stream (bounded memory whatever the
 * sizes).  dsb_output_read_local does not follow symbolic links. */
int dsb_output_read_local(const char *dir, size_t limit, json_t **out,
                          struct dsb_error *err);
int dsb_output_read_s3(struct dsb_jobs *j, const json_t *doc, const char *uri,
                       size_t limit, json_t **out, struct dsb_error *err);

#endif
