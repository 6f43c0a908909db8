/* The job service: records, routing, the tracker thread and the API. */
#include "jobs/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "aws/aws.h"
#include "jobs/local.h"
#include "log.h"
#include "statedb.h"
#include "store.h"
#include "util.h"

/* ------------------------------------------------------------- helpers */

int dsb_job_is_final(const char *state)
{
    static const char *const finals[] = {"succeeded", "failed", "cancelled",
                                         "timed_out", NULL};

    for (const char *const *f = finals; state && *f; f++)
        if (strcmp(*f, state) == 0)
            return 1;
    return 0;
}

const char *dsb_job_str(const json_t *doc, const char *path1, const char *path2)
{
    const json_t *v = json_object_get(doc, path1);

    if (path2)
        v = json_object_get(v, path2);
    return json_string_value(v);
}

void dsb_job_set_state(json_t *doc, const char *state, const char *reason)
{
    int64_t now = dsb_wall_ms();

    json_object_set_new(doc, "state", json_string(state));
    json_object_set_new(doc, "updated_at", json_integer(now));
    if (reason)
        json_object_set_new(doc, "reason", json_string(reason));
    if (strcmp(state, "running") == 0 &&
        json_is_null(json_object_get(doc, "started_at")))
        json_object_set_new(doc, "started_at", json_integer(now));
    if (dsb_job_is_final(state))
        json_object_set_new(doc, "finished_at", json_integer(now));
}

const char *dsb_jobs_emr_state(const char *s)
{
    static const char *const map[][2] = {
        {"SUBMITTED", "pending"},   {"PENDING", "pending"},
        {"SCHEDULED", "pending"},   {"QUEUED", "pending"},
        {"RUNNING", "running"},     {"SUCCESS", "succeeded"},
        {"FAILED", "failed"},       {"CANCELLING", "cancelling"},
        {"CANCELLED", "cancelled"}, {NULL, NULL}};

    for (size_t i = 0; s && map[i][0]; i++)
        if (strcmp(map[i][0], s) == 0)
            return map[i][1];
    return NULL;
}

/* ------------------------------------------------------------- tracker */

/* Runs each executor type's tick that is due; next[i] is when type i wants
 * its next one (0: at every wake-up). */
static void tick_all(struct dsb_jobs *j, int64_t *next)
{
    const struct dsb_executor_ops *ops;

    for (size_t i = 0; (ops = dsb_executor_ops_at(i)); i++)
        if (dsb_monotonic_ms() >= next[i]) {
            long wait = ops->tick(j);
            next[i] = wait > 0 ? dsb_monotonic_ms() + wait : 0;
        }
}

static void schedule(struct dsb_jobs *j);
static void cancel_requested(struct dsb_jobs *j, const json_t *ids);

static void *tracker_main(void *arg)
{
    struct dsb_jobs *j = arg;
    int64_t next[DSB_EXECUTOR_TYPES_MAX] = {0};

    pthread_mutex_lock(&j->mu);
    while (!j->stop) {
        struct timespec ts;
        json_t *asked = j->cancel_asked;
        j->cancel_asked = NULL;
        pthread_mutex_unlock(&j->mu);
        cancel_requested(j, asked);
        json_decref(asked);
        tick_all(j, next);
        schedule(j);
        pthread_mutex_lock(&j->mu);
        dsb_clock_after(CLOCK_REALTIME, j->o.tick_ms, &ts);
        if (!j->stop)
            pthread_cond_timedwait(&j->cv, &j->mu, &ts);
    }
    pthread_mutex_unlock(&j->mu);
    dsb_aws_thread_cleanup();
    return NULL;
}

static void claim(struct dsb_jobs *j, int at_start);

/* The lease thread: renews this replica's leases every third of a lease
 * and takes over the jobs of replicas whose leases ended, on a thread of
 * its own so that a slow tick (an EMR call, a master's web UI) does not
 * let the leases lapse. */
static void *leaser_main(void *arg)
{
    struct dsb_jobs *j = arg;

    pthread_mutex_lock(&j->mu);
    while (!j->stop) {
        struct timespec ts;

        dsb_clock_after(CLOCK_REALTIME, j->lease_ms / 3, &ts);
        pthread_cond_timedwait(&j->lease_cv, &j->mu, &ts);
        if (j->stop)
            break;
        pthread_mutex_unlock(&j->mu);
        claim(j, 0);
        pthread_mutex_lock(&j->mu);
    }
    pthread_mutex_unlock(&j->mu);
    dsb_aws_thread_cleanup();
    return NULL;
}

/* ---------------------------------------------------------- open/close */

static int make_dirs(struct dsb_jobs *j, const struct dsb_config *cfg,
                     struct dsb_error *err)
{
    const char *state = cfg ? cfg->state_dir : NULL;

    if (dsb_statedb_private_dir(state, err) < 0)
        return -1;
    if (!(j->jobs_dir = dsb_path_join(state, "jobs")))
        return dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
    return dsb_statedb_private_dir(j->jobs_dir, err);
}

static void set_defaults(struct dsb_jobs_options *o)
{
    if (o->tick_ms <= 0)
        o->tick_ms = 500;
    if (o->emr_poll_ms <= 0)
        o->emr_poll_ms = 5000;
    if (o->kill_grace_ms <= 0)
        o->kill_grace_ms = 5000;
}

/* Logs what each executor's check finds in cfg: a warning for one that
 * runs jobs unconfined, or whose jobs will be refused. */
static void check_executors(const struct dsb_config *cfg)
{
    const struct dsb_executor_conf *e;
    const struct dsb_executor_ops *ops;
    struct dsb_error err;
    size_t n;
    int rc;

    e = dsb_executors(cfg, &n);
    for (size_t i = 0; i < n; i++) {
        ops = dsb_executor_ops_find(e[i].type);
        dsb_error_clear(&err);
        rc = ops && ops->check ? ops->check(&e[i], &err) : 0;
        if (rc != 0)
            dsb_logf(DSB_LOG_WARN, "jobs", "%s%s (%s)", err.message,
                     rc < 0 ? ": its jobs will be refused" : "", err.hint);
    }
}

/* The executor operations of a job record; NULL for an unknown type. */
static const struct dsb_executor_ops *job_ops(const json_t *doc)
{
    return dsb_executor_ops_find(dsb_job_str(doc, "executor_type", NULL));
}

/* Hands the records a claim took over to their executor types (under
 * j->mu, or before the tracker starts).  A queued job is never taken: it
 * stays queued, and whichever replica has a slot first starts it. */
static void take_over(struct dsb_jobs *j, const json_t *taken)
{
    const struct dsb_executor_ops *ops;
    size_t i;
    json_t *t;

    json_array_foreach(taken, i, t)
    {
        json_t *doc = json_object_get(t, "doc");
        const char *from = json_string_value(json_object_get(t, "from"));

        if (from && strcmp(from, j->replica) != 0)
            dsb_logf(DSB_LOG_WARN, "jobs",
                     "job %s taken over from replica %s by replica %s "
                     "(its lease ended)",
                     dsb_job_str(doc, "id", NULL), from, j->replica);
        if ((ops = job_ops(doc)))
            ops->recover(j, doc, from);
    }
}

/* Cancels the jobs a cancel was asked for on another replica (the
 * tracker thread; no lock held). */
static void cancel_requested(struct dsb_jobs *j, const json_t *ids)
{
    const struct dsb_executor_ops *ops;
    struct dsb_error err;
    json_t *v, *doc;
    size_t i;

    json_array_foreach(ids, i, v)
    {
        pthread_mutex_lock(&j->mu);
        doc = dsb_jstore_get(j, json_string_value(v));
        pthread_mutex_unlock(&j->mu);
        if (!doc || !(ops = job_ops(doc)) ||
            dsb_job_is_final(dsb_job_str(doc, "state", NULL))) {
            json_decref(doc);
            continue;
        }
        dsb_logf(DSB_LOG_INFO, "jobs",
                 "job %s: cancelling it, as asked on another replica",
                 json_string_value(v));
        if (ops->cancel(j, doc, "cancelled", &err) < 0)
            dsb_logf(DSB_LOG_WARN, "jobs", "cannot cancel job %s: %s",
                     json_string_value(v), err.message);
        json_decref(doc);
    }
}

/* Renews this replica's leases, takes over the jobs of replicas whose
 * leases expired (at_start: also its own, left by an earlier process of
 * this replica id), stops the local jobs it lost, then carries out the
 * cancels asked for its jobs elsewhere. */
/* Hands the cancels asked for on other replicas to the tracker (under
 * j->mu): a cancel may call AWS, and the lease thread must not wait for
 * it.  An id already handed over is not added again (a request stays in
 * the store until the job ends, and comes with every renewal). */
static void ask_cancel(struct dsb_jobs *j, const json_t *ids)
{
    const json_t *v, *w;
    size_t i, k;

    json_array_foreach(ids, i, v)
    {
        int known = 0;
        json_array_foreach(j->cancel_asked, k, w) known |= json_equal(v, w);
        if (known)
            continue;
        if (!j->cancel_asked)
            j->cancel_asked = json_array();
        json_array_append(j->cancel_asked, (json_t *)v);
    }
    if (j->cancel_asked)
        pthread_cond_signal(&j->cv);
}

static void claim(struct dsb_jobs *j, int at_start)
{
    json_t *out = NULL;
    struct dsb_error err = {0};

    pthread_mutex_lock(&j->mu);
    if (dsb_jstore_claim(j, at_start, &out, &err) < 0) {
        pthread_mutex_unlock(&j->mu);
        dsb_logf(DSB_LOG_ERROR, "jobs",
                 "cannot renew the job leases of replica %s: %s%s%s",
                 j->replica, err.message, err.detail[0] ? ": " : "",
                 err.detail);
        return;
    }
    take_over(j, json_object_get(out, "taken"));
    dsb_local_drop_lost(j, json_object_get(out, "owned"));
    ask_cancel(j, json_object_get(out, "cancel"));
    pthread_mutex_unlock(&j->mu);
    json_decref(out);
}

struct dsb_jobs *dsb_jobs_open(const struct dsb_jobs_options *o,
                               struct dsb_error *err)
{
    struct dsb_jobs *j = calloc(1, sizeof(*j));
    char *db = NULL;

    if (!j) {
        dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
        return NULL;
    }
    j->o = *o;
    set_defaults(&j->o);
    j->aws = o->aws;
    pthread_mutex_init(&j->mu, NULL);
    pthread_mutex_init(&j->aws_mu, NULL);
    pthread_rwlock_init(&j->env_lock, NULL);
    pthread_cond_init(&j->cv, NULL);
    pthread_cond_init(&j->lease_cv, NULL);
    pthread_cond_init(&j->remote_cv, NULL);
    if (make_dirs(j, o->cfg, err) < 0)
        goto fail;
    check_executors(o->cfg);
    if (o->store) {
        struct dsb_store_conf c = *o->store_conf;

        c.replica_id = o->replica_id;
        c.lease_ms = o->lease_ms;
        if (dsb_jstore_open_on(j, o->store, &c, err) < 0)
            goto fail;
    } else {
        struct dsb_store_conf c = {.replica_id = o->replica_id,
                                   .lease_ms = o->lease_ms};

        db = o->db_path ? strdup(o->db_path)
                        : dsb_path_join(o->cfg->state_dir, "dsbroker.db");
        c.db_path = db;
        if (!db || dsb_jstore_open_on(j, &dsb_store_sqlite, &c, err) < 0)
            goto fail;
    }
    dsb_logf(DSB_LOG_INFO, "jobs", "replica %s, job leases of %lld ms",
             j->replica, (long long)j->lease_ms);
    claim(j, 1);
    if (pthread_create(&j->tracker, NULL, tracker_main, j) != 0) {
        dsb_error_set(err, DSB_E_INTERNAL, "cannot start the job tracker");
        goto fail;
    }
    j->started = 1;
    if (pthread_create(&j->leaser, NULL, leaser_main, j) != 0) {
        dsb_error_set(err, DSB_E_INTERNAL, "cannot start the lease thread");
        goto fail;
    }
    j->leaser_started = 1;
    free(db);
    return j;
fail:
    free(db);
    dsb_jobs_close(j);
    return NULL;
}

void dsb_jobs_close(struct dsb_jobs *j)
{
    if (!j)
        return;
    if (j->started) {
        pthread_mutex_lock(&j->mu);
        j->stop = 1;
        pthread_cond_broadcast(&j->cv);
        pthread_cond_broadcast(&j->lease_cv);
        pthread_mutex_unlock(&j->mu);
        pthread_join(j->tracker, NULL);
        dsb_spark_poller_stop(j);
        if (j->leaser_started)
            pthread_join(j->leaser, NULL);
        pthread_mutex_lock(&j->mu);
        dsb_jstore_release(j);
        pthread_mutex_unlock(&j->mu);
    }
    while (j->procs) {
        struct dsb_local_proc *p = j->procs;
        j->procs = p->next;
        free(p);
    }
    while (j->starting)
        dsb_jobs_started(j, j->starting->id);
    while (j->spark_watch) {
        struct dsb_spark_watch *w = j->spark_watch;
        j->spark_watch = w->next;
        free(w);
    }
    json_decref(j->cancel_asked);
    dsb_jstore_close(j);
    if (j->own_aws)
        dsb_aws_free(j->aws);
    pthread_cond_destroy(&j->cv);
    pthread_cond_destroy(&j->lease_cv);
    pthread_cond_destroy(&j->remote_cv);
    pthread_mutex_destroy(&j->aws_mu);
    pthread_rwlock_destroy(&j->env_lock);
    pthread_mutex_destroy(&j->mu);
    free(j->jobs_dir);
    free(j);
}

void dsb_jobs_configure(struct dsb_jobs *j, const struct dsb_config *cfg,
                        struct dsb_secrets *secrets, struct dsb_aws *aws)
{
    pthread_rwlock_wrlock(&j->env_lock);
    pthread_mutex_lock(&j->aws_mu);
    if (j->own_aws)
        dsb_aws_free(j->aws);
    j->aws = aws;
    j->own_aws = 0;
    j->o.cfg = cfg;
    j->o.secrets = secrets;
    pthread_mutex_unlock(&j->aws_mu);
    pthread_rwlock_unlock(&j->env_lock);
    check_executors(cfg);
}

struct dsb_aws *dsb_jobs_aws(struct dsb_jobs *j, struct dsb_error *err)
{
    struct dsb_aws_options ao;

    pthread_mutex_lock(&j->aws_mu);
    if (!j->aws) {
        dsb_aws_options_of(
            json_object_get(j->o.cfg ? j->o.cfg->broker : NULL, "aws"), &ao);
        j->aws = dsb_aws_new(&ao, err);
        j->own_aws = j->aws != NULL;
    }
    pthread_mutex_unlock(&j->aws_mu);
    return j->aws;
}

/* ----------------------------------------------------------- requests */

static int check_request(const struct dsb_job_request *r, struct dsb_error *err)
{
    size_t i;
    json_t *v;

    if (!r->session_id || !*r->session_id)
        return dsb_error_set(err, DSB_E_INVALID, "a job needs a session");
    if (!(r->code && *r->code) == !(r->entry_point && *r->entry_point))
        return dsb_error_set(err, DSB_E_INVALID,
                             "give either code or "
                             "entry_point, not both or neither");
    if (r->timeout_seconds < 0)
        return dsb_error_set(err, DSB_E_INVALID, "timeout must be positive");
    if (r->args && !json_is_array(r->args))
        return dsb_error_set(err, DSB_E_INVALID, "args must be a list");
    json_array_foreach(
        r->args, i,
        v) if (!json_is_string(v)) return dsb_error_set(err, DSB_E_INVALID,
                                                        "args[%zu] must be a "
                                                        "string",
                                                        i);
    if (r->read_specs && !json_is_array(r->read_specs))
        return dsb_error_set(err, DSB_E_INVALID, "read specs must be a list");
    return 0;
}

/* Routes from the read specs' networks (or checks a given route). */
static int route_job(struct dsb_jobs *j, const struct dsb_job_request *r,
                     struct dsb_route *route, struct dsb_error *err)
{
    const char *nets[256];
    size_t n = 0, i;
    json_t *spec;

    json_array_foreach(r->read_specs, i, spec) if (n < 256) nets[n++] =
        json_string_value(json_object_get(spec, "network"));
    if (dsb_route(j->o.cfg, nets, n,
                  r->route ? r->route->executor : r->executor, route, err) < 0)
        return -1;
    if (r->route)
        memcpy(route->reason, r->route->reason, sizeof(route->reason));
    return 0;
}

/* Timeout in seconds for executor e: the job's, its default, capped. */
static long job_timeout(const struct dsb_executor_ops *ops,
                        const struct dsb_executor_conf *e, long asked,
                        struct dsb_error *err)
{
    long unit = ops->timeout_unit_s;
    long def = (long)json_integer_value(
                   json_object_get(e->options, ops->default_timeout_key)) *
               unit;
    long max = (long)json_integer_value(
                   json_object_get(e->options, ops->max_timeout_key)) *
               unit;

    if (def <= 0)
        def = 3600;
    if (max <= 0)
        max = 86400;
    if (asked > max) {
        dsb_error_set(err, DSB_E_INVALID,
                      "timeout %ld s is above the %ld s "
                      "executor %s allows",
                      asked, max, e->name);
        return -1;
    }
    return asked > 0 ? asked : (def < max ? def : max);
}

static void add_unique(json_t *arr, const char *s)
{
    size_t i;
    json_t *v;

    json_array_foreach(arr, i,
                       v) if (strcmp(json_string_value(v), s) == 0) return;
    json_array_append_new(arr, json_string(s));
}

/* spark_submit {"jars", "conf"}: the executor's, then the specs' asks. */
static json_t *spark_needs(const struct dsb_executor_conf *e,
                           const json_t *specs, json_t *refs)
{
    json_t *jars = json_array(), *conf = json_object(), *spec, *v;
    const char *k;
    size_t i, m;

    json_array_foreach(json_object_get(e->options, "jars"), m, v)
        add_unique(jars, json_string_value(v));
    json_object_update(conf, json_object_get(e->options, "conf"));
    json_array_foreach(specs, i, spec)
    {
        json_t *ss = json_object_get(spec, "spark_submit");
        json_array_foreach(json_object_get(ss, "jars"), m,
                           v) if (json_is_string(v))
            add_unique(jars, json_string_value(v));
        json_object_update_missing(conf, json_object_get(ss, "conf"));
        json_object_foreach(json_object_get(spec, "secret_options"), k,
                            v) if (json_is_string(v))
            add_unique(refs, json_string_value(v));
    }
    return json_pack("{s:o, s:o}", "jars", jars, "conf", conf);
}

/* The job's own limits (output and log size) as its record shows them:
 * "limits": {"max_output_mb", "max_log_mb"}, for executors that have
 * them.  The local tracker enforces what the record says. */
static void add_limits(json_t *doc, const struct dsb_executor_limits *l)
{
    if (l->max_output_bytes > 0 || l->max_log_bytes > 0)
        json_object_set_new(doc, "limits",
                            json_pack("{s:I, s:I}", "max_output_mb",
                                      (json_int_t)(l->max_output_bytes >> 20),
                                      "max_log_mb",
                                      (json_int_t)(l->max_log_bytes >> 20)));
}

static json_t *new_doc(const struct dsb_job_request *r,
                       const struct dsb_route *route,
                       const struct dsb_executor_conf *e, long timeout,
                       struct dsb_error *err)
{
    char id[40] = "job-";
    int64_t now = dsb_wall_ms();
    json_t *refs, *doc;

    if (dsb_random_hex(id + 4, 12) < 0) {
        dsb_error_set(err, DSB_E_INTERNAL, "no randomness: %s",
                      strerror(errno));
        return NULL;
    }
    refs = json_array();
    doc = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:I, s:I, s:n, s:n,"
                    " s:i, s:I, s:n, s:o, s:o}",
                    "id", id, "session_id", r->session_id, "name",
                    r->name && *r->name ? r->name : id, "state", "pending",
                    "executor", e->name, "executor_type", e->type, "route",
                    dsb_route_json(route), "created_at", (json_int_t)now,
                    "updated_at", (json_int_t)now, "started_at", "finished_at",
                    "timeout_seconds", (int)timeout, "deadline_at",
                    (json_int_t)(now + timeout * 1000), "reason", "args",
                    r->args ? json_deep_copy(r->args) : json_array(),
                    "spark_submit", spark_needs(e, r->read_specs, refs));
    if (doc) {
        json_object_set_new(doc, "secret_refs", refs);
        json_object_set_new(doc, "sources",
                            r->sources ? json_deep_copy(r->sources)
                                       : json_array());
        json_object_set_new(
            doc, "principal",
            json_string(r->principal ? r->principal : "anonymous"));
        add_limits(doc, &e->limits);
        if (r->purpose)
            json_object_set_new(doc, "purpose", json_deep_copy(r->purpose));
    } else {
        json_decref(refs);
        dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
    }
    return doc;
}

int dsb_jobs_store(struct dsb_jobs *j, const json_t *doc, struct dsb_error *err)
{
    int rc;

    pthread_mutex_lock(&j->mu);
    rc = dsb_jstore_put(j, doc, err);
    pthread_mutex_unlock(&j->mu);
    return rc;
}

static int start_on(struct dsb_jobs *j, const struct dsb_executor_ops *ops,
                    const struct dsb_executor_conf *e,
                    const struct dsb_job_request *r, json_t *doc,
                    struct dsb_error *err)
{
    struct dsb_error serr;
    int rc;

    json_object_set_new(doc, "started_on", json_string(j->replica));
    rc = ops->start(j, e, r, doc, err);

    if (rc < 0) {
        dsb_job_set_state(doc, "failed", err->message);
        dsb_error_detail(err, "job %s", dsb_job_str(doc, "id", NULL));
    } else if (!(ops->flags & DSB_EXEC_STORE_AFTER_START)) {
        return 0; /* stored by the executor, maybe already finished */
    }
    if (dsb_jobs_store(j, doc, &serr) < 0 && rc == 0) {
        *err = serr;
        rc = -1;
    }
    return rc;
}

/* The routed executor (NULL with err set when its type is unknown) and
 * its type's operations. */
static const struct dsb_executor_conf *
routed(struct dsb_jobs *j, const struct dsb_route *route,
       const struct dsb_executor_ops **ops, struct dsb_error *err)
{
    const struct dsb_executor_conf *e =
        dsb_executor_find(j->o.cfg, route->executor);

    *ops = e ? dsb_executor_ops_find(e->type) : NULL;
    if (!*ops)
        dsb_error_set(err, DSB_E_INTERNAL, "executor \"%s\" has no known type",
                      route->executor);
    return *ops ? e : NULL;
}

/* Under j->mu: the admission of doc on e (queue.c), then either the
 * queued record stored with its request, or the job counted as starting
 * (and its pending record stored first when the type wants it: an
 * executor without DSB_EXEC_STORE_BEFORE_START stores the record itself,
 * EMR once the script is staged, just before StartJobRun: one durable
 * commit fewer per submit).  On a shared store the pending record is
 * always stored here, inside the admission, so that the other replicas
 * count the job from the moment it is admitted (the limits hold across
 * replicas).  DSB_ADMIT_* or -1 with err set. */
static int admit(struct dsb_jobs *j, const struct dsb_executor_ops *ops,
                 const struct dsb_executor_conf *e,
                 const struct dsb_job_request *r, json_t *doc,
                 struct dsb_error *err)
{
    const char *id = dsb_job_str(doc, "id", NULL);
    int store_now =
        (ops->flags & DSB_EXEC_STORE_BEFORE_START) || dsb_jstore_shared(j);
    int rc, starting = 0;

    pthread_mutex_lock(&j->mu);
    if (dsb_jstore_admission_begin(j, err) < 0) {
        pthread_mutex_unlock(&j->mu);
        return -1;
    }
    rc = dsb_jobs_admit(j, e, doc, err);
    if (rc == DSB_ADMIT_QUEUE &&
        dsb_jstore_enqueue(j, doc, r->code, r->entry_point, err) < 0)
        rc = -1;
    if (rc == DSB_ADMIT_START &&
        dsb_jobs_starting(j, id, e->name, dsb_job_str(doc, "principal", NULL)) <
            0)
        rc = dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
    else if (rc == DSB_ADMIT_START)
        starting = 1;
    if (starting && store_now && dsb_jstore_put(j, doc, err) < 0)
        rc = -1;
    if (dsb_jstore_admission_end(j, rc >= 0, err) < 0)
        rc = -1;
    if (rc < 0 && starting)
        dsb_jobs_started(j, id);
    pthread_mutex_unlock(&j->mu);
    return rc;
}

/* Starts an admitted job, then stops counting it as starting, and
 * cancels it when a cancel came while it was starting. */
static int start_admitted(struct dsb_jobs *j,
                          const struct dsb_executor_ops *ops,
                          const struct dsb_executor_conf *e,
                          const struct dsb_job_request *r, json_t *doc,
                          struct dsb_error *err)
{
    int rc = start_on(j, ops, e, r, doc, err), cancel;
    struct dsb_error cerr;

    pthread_mutex_lock(&j->mu);
    cancel = dsb_jobs_started(j, dsb_job_str(doc, "id", NULL));
    pthread_mutex_unlock(&j->mu);
    if (rc == 0 && cancel && ops->cancel(j, doc, "cancelled", &cerr) < 0)
        dsb_logf(DSB_LOG_WARN, "jobs", "cannot cancel job %s: %s",
                 dsb_job_str(doc, "id", NULL), cerr.message);
    return rc;
}

static int submit_locked(struct dsb_jobs *j, const struct dsb_job_request *r,
                         json_t **job, struct dsb_error *err)
{
    struct dsb_route route = {0};
    const struct dsb_executor_conf *e;
    const struct dsb_executor_ops *ops;
    json_t *doc = NULL;
    long timeout;
    int admitted;

    *job = NULL;
    if (check_request(r, err) < 0 || route_job(j, r, &route, err) < 0)
        goto fail;
    e = routed(j, &route, &ops, err);
    timeout = e ? job_timeout(ops, e, r->timeout_seconds, err) : -1;
    if (timeout < 0 || (ops->admit && ops->admit(e, r, err) < 0))
        goto fail;
    doc = new_doc(r, &route, e, timeout, err);
    if (doc) /* this replica's from its first write (as reads show it) */
        json_object_set_new(doc, "replica", json_string(j->replica));
    if (!doc || (admitted = admit(j, ops, e, r, doc, err)) < 0 ||
        (admitted == DSB_ADMIT_START &&
         start_admitted(j, ops, e, r, doc, err) < 0))
        goto fail;
    dsb_logf(DSB_LOG_INFO, "jobs", "job %s of session %s %s on %s (%s)",
             dsb_job_str(doc, "id", NULL), r->session_id,
             admitted == DSB_ADMIT_QUEUE ? "queued" : "started", e->name,
             route.reason);
    dsb_route_clear(&route);
    *job = doc;
    return 0;
fail:
    dsb_route_clear(&route);
    json_decref(doc);
    return -1;
}

/* ------------------------------------------------------------- queue */

/* Takes queued record doc off the queue as `state` (NULL: pending, to be
 * started now, with its deadline counted from now) and stores it (under
 * j->mu).  *code and *entry_point (may be NULL) get its request. */
static int unqueue(struct dsb_jobs *j, json_t *doc, const char *state,
                   const char *reason, char **code, char **entry_point,
                   struct dsb_error *err)
{
    int64_t timeout_ms =
        json_integer_value(json_object_get(doc, "timeout_seconds")) * 1000;

    json_object_del(doc, "queued");
    json_object_del(doc, "queue_reason");
    if (state) {
        dsb_job_set_state(doc, state, reason);
    } else {
        json_object_set_new(doc, "updated_at", json_integer(dsb_wall_ms()));
        json_object_set_new(doc, "deadline_at",
                            json_integer(dsb_wall_ms() + timeout_ms));
    }
    return dsb_jstore_dequeue(j, doc, code, entry_point, err);
}

/* Fails a queued job that cannot start any more (under j->mu). */
static void fail_queued(struct dsb_jobs *j, const char *id, const char *why)
{
    json_t *doc = dsb_jstore_get(j, id);
    struct dsb_error err;

    if (doc && unqueue(j, doc, "failed", why, NULL, NULL, &err) < 0)
        dsb_logf(DSB_LOG_ERROR, "jobs", "%s", err.message);
    else if (doc)
        dsb_logf(DSB_LOG_WARN, "jobs", "job %s failed: %s", id, why);
    json_decref(doc);
}

/* Fails the queued jobs whose executor a reload removed (under j->mu). */
static void fail_orphans(struct dsb_jobs *j)
{
    size_t n = 0;
    struct dsb_jactive *v = dsb_jstore_active(j, &n);
    char why[160];

    for (size_t i = 0; v && i < n; i++)
        if (v[i].queue_seq && !dsb_executor_find(j->o.cfg, v[i].executor)) {
            snprintf(
                why, sizeof(why),
                "executor \"%.64s\" was removed from the configuration while the job was queued",
                v[i].executor);
            fail_queued(j, v[i].id, why);
        }
    dsb_jactive_free(v, n);
}

/* A queued job taken off the queue to start. */
struct taken {
    json_t *doc;
    char *code, *entry_point;
};

/* The queued job to start next on e, taken off the queue and counted as
 * starting; 0 when there is one, -1 when none. */
static int take_next(struct dsb_jobs *j, const struct dsb_executor_conf *e,
                     struct taken *t)
{
    char *id;
    struct dsb_error err;
    int rc = -1;

    memset(t, 0, sizeof(*t));
    pthread_mutex_lock(&j->mu);
    /* the count and the dequeue are one step for every replica */
    if (dsb_jstore_admission_begin(j, &err) < 0) {
        dsb_logf(DSB_LOG_ERROR, "jobs", "cannot start queued jobs: %s",
                 err.message);
        pthread_mutex_unlock(&j->mu);
        return -1;
    }
    id = dsb_jobs_next_queued(j, e);
    if (!id || !(t->doc = dsb_jstore_get(j, id)))
        goto done;
    if (strcmp(dsb_job_str(t->doc, "executor_type", NULL), e->type) != 0)
        fail_queued(j, id,
                    "its executor changed type while the job was queued");
    else if (dsb_jobs_starting(j, id, e->name,
                               dsb_job_str(t->doc, "principal", NULL)) < 0)
        dsb_logf(DSB_LOG_ERROR, "jobs",
                 "cannot start queued job %s: out of memory", id);
    else if (unqueue(j, t->doc, NULL, NULL, &t->code, &t->entry_point, &err) <
             0) {
        dsb_jobs_started(j, id);
        dsb_logf(DSB_LOG_ERROR, "jobs", "cannot start queued job %s: %s", id,
                 err.message);
    } else {
        rc = 0;
    }
done:
    /* a failed job (fail_queued) is kept: the transaction commits unless
     * the dequeue itself failed */
    if (dsb_jstore_admission_end(j, 1, &err) < 0 && rc == 0) {
        dsb_jobs_started(j, id);
        dsb_logf(DSB_LOG_ERROR, "jobs", "cannot start queued job %s: %s", id,
                 err.message);
        rc = -1;
    }
    pthread_mutex_unlock(&j->mu);
    free(id);
    if (rc < 0)
        json_decref(t->doc);
    return rc;
}

/* Starts a job taken off e's queue, as a submit would have. */
static void start_taken(struct dsb_jobs *j, const struct dsb_executor_conf *e,
                        struct taken *t)
{
    const struct dsb_executor_ops *ops = dsb_executor_ops_find(e->type);
    struct dsb_job_request r = {0};
    struct dsb_error err;

    r.session_id = dsb_job_str(t->doc, "session_id", NULL);
    r.principal = dsb_job_str(t->doc, "principal", NULL);
    r.code = t->code;
    r.entry_point = t->entry_point;
    if (start_admitted(j, ops, e, &r, t->doc, &err) < 0)
        dsb_logf(DSB_LOG_WARN, "jobs", "queued job %s failed to start: %s",
                 dsb_job_str(t->doc, "id", NULL), err.message);
    else
        dsb_logf(DSB_LOG_INFO, "jobs", "queued job %s started on %s",
                 dsb_job_str(t->doc, "id", NULL), e->name);
    json_decref(t->doc);
    free(t->code);
    free(t->entry_point);
}

/* At most this many queued jobs are started per tracker wake-up. */
#define SCHEDULE_MAX 64

/* Starts queued jobs while their executors and principals have free
 * slots (the tracker, after each tick). */
static void schedule(struct dsb_jobs *j)
{
    const struct dsb_executor_conf *es;
    struct taken t;
    size_t n, started = 0;
    int any;

    pthread_rwlock_rdlock(&j->env_lock);
    pthread_mutex_lock(&j->mu);
    if ((any = dsb_jstore_any_queued(j)))
        fail_orphans(j);
    pthread_mutex_unlock(&j->mu);
    es = dsb_executors(j->o.cfg, &n);
    for (size_t i = 0; any && i < n; i++)
        while (started < SCHEDULE_MAX && take_next(j, &es[i], &t) == 0) {
            start_taken(j, &es[i], &t);
            started++;
        }
    pthread_rwlock_unlock(&j->env_lock);
}

int dsb_jobs_submit(struct dsb_jobs *j, const struct dsb_job_request *r,
                    json_t **job, struct dsb_error *err)
{
    int rc;

    pthread_rwlock_rdlock(&j->env_lock);
    rc = submit_locked(j, r, job, err);
    pthread_rwlock_unlock(&j->env_lock);
    return rc;
}

/* --------------------------------------------------------------- reads */

int dsb_jobs_get(struct dsb_jobs *j, const char *id, json_t **job,
                 struct dsb_error *err)
{
    pthread_mutex_lock(&j->mu);
    *job = id ? dsb_jstore_get(j, id) : NULL;
    pthread_mutex_unlock(&j->mu);
    if (!*job)
        return dsb_error_set(err, DSB_E_NOT_FOUND, "no job \"%s\"",
                             id ? id : "");
    return 0;
}

int dsb_jobs_list(struct dsb_jobs *j, const char *session_id, json_t **out,
                  struct dsb_error *err)
{
    json_t *items;

    if (!session_id)
        return dsb_error_set(err, DSB_E_INVALID, "a session is needed");
    pthread_mutex_lock(&j->mu);
    items = dsb_jstore_list(j, session_id);
    pthread_mutex_unlock(&j->mu);
    *out = json_pack("{s:o}", "items", items);
    return *out ? 0 : dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
}

/* *ops for record doc; -1 with err set for a type this broker lacks. */
static int with_ops(const json_t *doc, const struct dsb_executor_ops **ops,
                    struct dsb_error *err)
{
    *ops = job_ops(doc);
    if (*ops)
        return 0;
    return dsb_error_set(
        err, DSB_E_INTERNAL, "job %s has an unknown executor type \"%s\"",
        dsb_job_str(doc, "id", NULL), dsb_job_str(doc, "executor_type", NULL));
}

/* Cancels job id if it is queued (it never starts), or marks it to be
 * cancelled once started if it is starting: 1 when it was either, 0 when
 * it is neither, -1 with err set. */
static int cancel_early(struct dsb_jobs *j, const char *id,
                        struct dsb_error *err)
{
    json_t *doc;
    int rc = 0;

    pthread_mutex_lock(&j->mu);
    doc = dsb_jstore_is_queued(j, id) ? dsb_jstore_get(j, id) : NULL;
    if (doc)
        rc = unqueue(j, doc, "cancelled", "cancelled on request while queued",
                     NULL, NULL, err) < 0
                 ? -1
                 : 1;
    else
        rc = dsb_jobs_starting_cancel(j, id);
    pthread_mutex_unlock(&j->mu);
    if (rc == 1 && doc)
        dsb_logf(DSB_LOG_INFO, "jobs", "queued job %s cancelled", id);
    json_decref(doc);
    return rc;
}

/* Whether this replica tracks the job of record doc. */
static int owned_here(struct dsb_jobs *j, const json_t *doc)
{
    const char *owner = dsb_job_str(doc, "replica", NULL);

    return owner && strcmp(owner, j->replica) == 0;
}

/* A cancel of a job another replica tracks (doc, taken): the request is
 * recorded for its owner, which carries it out at its next lease renewal
 * (or the replica that takes the job over does); the answer shows the
 * job as cancelling. */
static int cancel_elsewhere(struct dsb_jobs *j, json_t *doc, json_t **job,
                            struct dsb_error *err)
{
    const char *id = dsb_job_str(doc, "id", NULL);
    const char *owner = dsb_job_str(doc, "replica", NULL);
    char reason[160];
    json_t *cur;
    int rc;

    pthread_mutex_lock(&j->mu);
    rc = dsb_jstore_request_cancel(j, id, err);
    cur = rc == 0 ? dsb_jstore_get(j, id) : NULL;
    pthread_mutex_unlock(&j->mu);
    if (rc == 0 && !cur)
        rc = dsb_error_set(err, DSB_E_NOT_FOUND, "no job \"%s\"", id);
    if (rc < 0) {
        json_decref(doc);
        return -1;
    }
    if (!dsb_job_is_final(dsb_job_str(cur, "state", NULL))) {
        snprintf(reason, sizeof(reason),
                 "cancel requested; replica %.64s, which tracks the job, "
                 "stops it",
                 owner ? owner : "(none yet)");
        json_object_set_new(cur, "state", json_string("cancelling"));
        json_object_set_new(cur, "reason", json_string(reason));
    }
    dsb_logf(DSB_LOG_INFO, "jobs",
             "job %s: cancel requested for replica %s to carry out", id,
             owner ? owner : "(none yet)");
    json_decref(doc);
    *job = cur;
    return 0;
}

int dsb_jobs_cancel(struct dsb_jobs *j, const char *id, json_t **job,
                    struct dsb_error *err)
{
    const struct dsb_executor_ops *ops;
    json_t *doc = NULL;
    int rc;

    if ((rc = cancel_early(j, id, err)) < 0 ||
        dsb_jobs_get(j, id, &doc, err) < 0)
        return -1;
    if (rc == 0 && !dsb_job_is_final(dsb_job_str(doc, "state", NULL)) &&
        !owned_here(j, doc))
        return cancel_elsewhere(j, doc, job, err);
    if (rc == 0 && !dsb_job_is_final(dsb_job_str(doc, "state", NULL))) {
        rc = with_ops(doc, &ops, err);
        if (rc == 0)
            rc = ops->cancel(j, doc, "cancelled", err);
        json_decref(doc);
        if (rc < 0 || dsb_jobs_get(j, id, &doc, err) < 0)
            return -1;
    }
    *job = doc;
    return 0;
}

/* 0 when path, a file or directory of the job of record doc (its logs,
 * a local output; NULL or not a local path: nothing to check), can be
 * read on this replica; else -1 with err naming the replica that ran the
 * job: the path is in that replica's state_dir (docs/jobs.md, "Replicas
 * and leases"). */
static int files_here(struct dsb_jobs *j, const json_t *doc, const char *path,
                      struct dsb_error *err)
{
    const char *ran = dsb_job_str(doc, "started_on", NULL);
    struct stat st;

    if (!path || path[0] != '/' || !ran || strcmp(ran, j->replica) == 0 ||
        stat(path, &st) == 0)
        return 0;
    dsb_error_set(err, DSB_E_CONFLICT,
                  "the files of job %s (logs, output) are on replica %s, "
                  "which ran it, not on this one (%s)",
                  dsb_job_str(doc, "id", NULL), ran, j->replica);
    dsb_error_hint(err,
                   "ask replica %s, or give replicas that run local "
                   "jobs one state_dir/jobs (one host or a shared "
                   "filesystem), or write the output to output_uri",
                   ran);
    return -1;
}

/* The directory of a job's logs here: local.dir or cluster.dir. */
static const char *logs_dir(const json_t *doc)
{
    const char *dir = dsb_job_str(doc, "local", "dir");

    return dir ? dir : dsb_job_str(doc, "cluster", "dir");
}

int dsb_jobs_logs(struct dsb_jobs *j, const char *id, size_t lines,
                  size_t max_bytes, json_t **out, struct dsb_error *err)
{
    const struct dsb_executor_ops *ops;
    json_t *doc;

    *out = NULL;
    if (dsb_jobs_get(j, id, &doc, err) < 0)
        return -1;
    if (files_here(j, doc, logs_dir(doc), err) == 0 &&
        with_ops(doc, &ops, err) == 0 &&
        !(*out = ops->logs(doc, lines, max_bytes ? max_bytes : 65536)))
        dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
    json_decref(doc);
    return *out ? 0 : -1;
}

int dsb_jobs_result(struct dsb_jobs *j, const char *id, size_t limit,
                    json_t **out, struct dsb_error *err)
{
    const struct dsb_executor_ops *ops;
    const char *state;
    json_t *doc;
    int rc;

    if (dsb_jobs_get(j, id, &doc, err) < 0)
        return -1;
    state = dsb_job_str(doc, "state", NULL);
    if (strcmp(state, "succeeded") != 0 || !dsb_job_str(doc, "output", "uri"))
        rc = dsb_error_set(err, DSB_E_CONFLICT,
                           "job %s has no result: it is %s", id, state);
    else if (files_here(j, doc, dsb_job_str(doc, "output", "uri"), err) < 0)
        rc = -1;
    else
        rc = with_ops(doc, &ops, err) < 0
                 ? -1
                 : ops->read_output(j, doc, limit, out, err);
    json_decref(doc);
    return rc;
}

/* -------------------------------------------------------------- python */

const char *dsb_jobs_python_prelude(void)
{
    return dsb_jobs_prelude_py;
}
