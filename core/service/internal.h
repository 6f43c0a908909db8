/* Internals shared by the service's files (core/service/). */
#ifndef DSB_CORE_SERVICE_INTERNAL_H
#define DSB_CORE_SERVICE_INTERNAL_H

#include <pthread.h>

#include "jobs/jobs.h"
#include "log.h"
#include "metrics.h"
#include "service/service.h"
#include "util.h"

struct dsb_service {
    struct dsb_service_opts opts;
    char *conf_dir, *plugin_dir;
    pthread_rwlock_t gen_lock;
    struct dsb_gen *gen;
    atomic_long gen_serial; /* gen->serial, readable without the lock */
    long next_serial;
    pthread_mutex_t reload_lock;
    struct dsb_sessions *sessions;
    struct dsb_jobs *jobs;    /* lives across reloads */
    struct dsb_gen *jobs_gen; /* holds the broker jobs is configured with */
    struct dsb_metrics *metrics;
    /* replicas on PostgreSQL (NULL on SQLite): the shared store for
     * managed-source edits (held across an edit's reload), another
     * connection for short statements (store: secrets, which that reload
     * reads; checks; refresh events), the listener of the others' events */
    void *shared, *shared_short;
    struct dsb_listener *listener;
    /* housekeeping (session expiry) */
    pthread_t hk_thread;
    pthread_mutex_t hk_mu;
    pthread_cond_t hk_cv;
    int hk_started, hk_stop;
    atomic_long trim_at; /* monotonic ms of the next heap trim, 0: none */
    /* a managed-source sync that failed (the store unreadable, the reload
     * refused): retried by the housekeeper at sync_retry_at (monotonic
     * ms, 0: none) with a backoff of 1 s doubling to 60 s; the next sync
     * reloads even when no file changed */
    atomic_int sync_stale;
    atomic_long sync_retry_at;
    long sync_backoff_ms; /* under manage_lock (source_admin.c) */
    /* the read-ahead of listing pages (browse.c) */
    pthread_t ra_thread;
    pthread_mutex_t ra_mu;
    pthread_cond_t ra_cv;
    int ra_started, ra_stop;
    struct dsb_ahead *ra_head;
    size_t ra_n;
};

/* Sets err to a refusal of the principal (DSB_FORBIDDEN_UPSTREAM); -1. */
int dsb_svc_forbidden(struct dsb_error *err, const char *what,
                      const char *detail, const char *hint);
/* 0 when the call's principal may use every source named in the array
 * names (borrowed); names that are not an array are unknown sources: only
 * an unlimited principal may use them. */
int dsb_svc_may_use_all(const struct dsb_ctx *c, const json_t *names);
/* The session's selections as an array the caller frees (strings borrowed
 * from *items, which the caller decrefs), after the source limits. */
struct dsb_selection *dsb_svc_stored(const struct dsb_ctx *c, const char *id,
                                     json_t **items, size_t *n,
                                     struct dsb_error *err);
/* The session's context as a new reference (for jobs). */
json_t *dsb_svc_context_doc(const struct dsb_ctx *c, const char *session,
                            const char *executor, struct dsb_error *err);
/* Submits a job of session routed and described by its context ctx
 * (borrowed), recording purpose (may be NULL) in the job; access already
 * checked. */
int dsb_svc_job_submit_ctx(const struct dsb_ctx *c, const char *session,
                           const json_t *ctx, const struct dsb_job_params *p,
                           const json_t *purpose, json_t **job,
                           struct dsb_error *err);
/* The session's memoised context (a held entry, as dsb_svc_context's),
 * access not checked. */
const struct dsb_cached *dsb_svc_context_held(const struct dsb_ctx *c,
                                              const char *session,
                                              const char *executor, int *hit,
                                              struct dsb_error *err);
/* A read spec through the cache; *until is lowered to when it goes
 * stale.  A plugin with the ABI 1.1 slot gets the cached description. */
int dsb_svc_read_spec(const struct dsb_ctx *c, struct dsb_source *s,
                      const struct dsb_selection *sel,
                      const struct dsb_read_target *t, int64_t *until,
                      json_t **out, struct dsb_error *err);
/* Puts the descriptions of sel[0..n) the cache lacks into it, one
 * describe_tables call (ABI 1.2) per source, database and schema of at
 * least two such tables (DESCRIBE_BATCH names a call); plugins without the
 * slot (or, for_read_specs, without read_spec_described) are left to the
 * one-table path, as are tables a batch did not find.  -1 with err when a
 * batch failed. */
int dsb_svc_describe_many(const struct dsb_ctx *c,
                          const struct dsb_selection *sel, size_t n,
                          int for_read_specs, struct dsb_error *err);
/* Asks the housekeeper to give free memory back to the system
 * (dsb_malloc_trim) DSB_TRIM_DELAY_MS after the last large answer built
 * (debounced): the requests' own garbage is freed by then. */
#define DSB_TRIM_AFTER_BYTES (1u << 20) /* an answer this large */
#define DSB_TRIM_DELAY_MS 1000
void dsb_svc_trim_soon(struct dsb_service *svc);
/* The thread that loads the next page of a listing of tables while the
 * client reads the current one (started with the service, stopped before
 * its generations go). */
int dsb_svc_ahead_start(struct dsb_service *svc);
void dsb_svc_ahead_stop(struct dsb_service *svc);
/* Makes conf.d/managed/ what the shared store holds (writing changed
 * documents, removing the others, each said in a log line) and reloads
 * when anything changed, or (at_start) when any managed source is there:
 * the first broker's sources opened before the store did, and the reload
 * gives them its store: references (reusing each open that is the same,
 * unprobed); why says what asked for it (logged), at_start also logs a
 * removal as a WARN (a file the store does not know).  A no-op on SQLite.
 * 0, or -1 when the store could not be read or the reload was refused
 * (logged). */
int dsb_svc_managed_sync(struct dsb_service *svc, const char *why,
                         int at_start);
/* Wakes the housekeeper (a new trim or retry time). */
void dsb_svc_housekeeper_wake(struct dsb_service *svc);
/* The first start on a new shared store: copies the managed sources of
 * this replica's conf.d/managed/ into it (each logged), so that moving to
 * PostgreSQL keeps them; 0, or -1 (logged). */
int dsb_svc_managed_seed(struct dsb_service *svc);
/* On PostgreSQL: 0 when the state store answers, else -1 with err
 * (503 state_store_unavailable): the check before a write whose store
 * calls would not all say so themselves (jobs).  0 on SQLite. */
int dsb_svc_store_check(const struct dsb_ctx *c, struct dsb_error *err);
/* The deadline of one plugin call made within the call c. */
int64_t dsb_svc_call_deadline(const struct dsb_ctx *c);

#endif
