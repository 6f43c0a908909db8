/* Job limits with a stand-in spark-submit: the running limit and the
 * queue (429 beyond it, start when a slot frees, cancel while queued,
 * kept across a restart, order between principals), and the output and
 * log size limits of local jobs. */
#include <errno.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "jobs_test.h"

static struct jt t;

/* One slot, one place in the queue, 1 MB of output and of each log. */
static const char tight[] = "state_dir: ${DSB_TEST_DIR}/state\n"
                            "executors:\n"
                            "  - name: local\n"
                            "    type: local-spark\n"
                            "    networks: [local, public]\n"
                            "    spark_submit: ${DSB_TEST_FAKE_SPARK}\n"
                            "    max_running_jobs: 1\n"
                            "    max_queued_jobs: 1\n"
                            "    max_output_mb: 1\n"
                            "    max_log_mb: 1\n";

/* Two slots, a longer queue, two jobs running per principal. */
static const char wide[] = "state_dir: ${DSB_TEST_DIR}/state\n"
                           "jobs:\n"
                           "  max_running_per_principal: 2\n"
                           "executors:\n"
                           "  - name: local\n"
                           "    type: local-spark\n"
                           "    networks: [local, public]\n"
                           "    spark_submit: ${DSB_TEST_FAKE_SPARK}\n"
                           "    max_running_jobs: 2\n"
                           "    max_queued_jobs: 4\n";

static void open_with(const char *yaml)
{
    char *fake = t_src("tests/jobs/fake-spark-submit.sh");

    setenv("DSB_TEST_FAKE_SPARK", fake, 1);
    free(fake);
    jt_config(&t, yaml);
    jt_open(&t, NULL);
}

static void tight_setup(void)
{
    open_with(tight);
}

static void wide_setup(void)
{
    open_with(wide);
}

/* Cancels every job still active (no sleeping spark-submit outlives the
 * test), then closes the service. */
static void teardown(void)
{
    json_t *active;
    size_t i;
    json_t *doc;

    pthread_mutex_lock(&t.jobs->mu);
    active = dsb_jstore_list(t.jobs, NULL);
    pthread_mutex_unlock(&t.jobs->mu);
    json_array_foreach(active, i, doc)
    {
        json_t *c = NULL, *done;
        const char *id = jt_str(doc, "id", NULL);
        if (dsb_jobs_cancel(t.jobs, id, &c, &t.err) == 0) {
            done = jt_wait(&t, id, "cancelled", 5000);
            json_decref(done);
        }
        json_decref(c);
    }
    json_decref(active);
    jt_close(&t);
}

TestSuite(limits, .init = tight_setup, .fini = teardown, .timeout = 60);
TestSuite(fair, .init = wide_setup, .fini = teardown, .timeout = 60);

/* Submits code running the fake in `mode` for principal (NULL:
 * anonymous); 0 with *job, or -1 with t.err. */
static int try_submit(const char *mode, const char *principal, json_t **job)
{
    json_t *args = json_pack("[s]", mode);
    struct dsb_job_request r = {0};
    int rc;

    r.session_id = "sess-1";
    r.principal = principal;
    r.code = "print(1)\n";
    r.args = args;
    rc = dsb_jobs_submit(t.jobs, &r, job, &t.err);
    json_decref(args);
    return rc;
}

static json_t *submit(const char *mode, const char *principal)
{
    json_t *job = NULL;

    cr_assert_eq(try_submit(mode, principal, &job), 0, "%s", t.err.message);
    return job;
}

static json_t *get(const json_t *job)
{
    json_t *doc = NULL;

    cr_assert_eq(dsb_jobs_get(t.jobs, jt_str(job, "id", NULL), &doc, &t.err),
                 0);
    return doc;
}

static void cancel(const json_t *job)
{
    json_t *c = NULL;

    cr_assert_eq(dsb_jobs_cancel(t.jobs, jt_str(job, "id", NULL), &c, &t.err),
                 0, "%s", t.err.message);
    json_decref(c);
}

static int64_t num(const json_t *doc, const char *key)
{
    return json_integer_value(json_object_get(doc, key));
}

/* Whether job dir state_dir/jobs/ID exists (a started local job has one). */
static int has_dir(const json_t *job)
{
    char path[4200];
    struct stat st;

    snprintf(path, sizeof(path), "%s/jobs/%s", t.cfg->state_dir,
             jt_str(job, "id", NULL));
    return stat(path, &st) == 0;
}

static void assert_queued(const json_t *job, const char *why)
{
    json_t *doc = get(job);

    cr_assert_str_eq(jt_str(doc, "state", NULL), "pending");
    cr_assert(json_is_true(json_object_get(doc, "queued")), "not queued");
    cr_assert(strstr(jt_str(doc, "queue_reason", NULL), why), "%s",
              jt_str(doc, "queue_reason", NULL));
    cr_assert(json_is_null(json_object_get(doc, "started_at")));
    cr_assert_not(has_dir(doc), "a queued job has started");
    json_decref(doc);
}

Test(limits, beyond_the_queue_is_throttled_and_the_queue_starts_in_turn)
{
    json_t *a = submit("sleep", NULL), *b = submit("ok", NULL), *c = NULL;
    json_t *a_done, *b_done;

    cr_assert_str_eq(jt_str(a, "state", NULL), "running");
    cr_assert_str_eq(jt_str(b, "state", NULL), "pending");
    cr_assert(json_is_true(json_object_get(b, "queued")));
    cr_assert_str_eq(jt_str(b, "principal", NULL), "anonymous");
    assert_queued(b, "executor \"local\" runs 1 jobs (max_running_jobs 1)");
    cr_assert_eq(try_submit("ok", NULL, &c), -1);
    cr_assert_null(c);
    cr_assert_eq(t.err.code, DSB_E_THROTTLED);
    cr_assert_str_eq(t.err.upstream, DSB_JOBS_LIMIT_UPSTREAM);
    cr_assert(t.err.retryable);
    cr_assert_str_eq(t.err.message,
                     "executor \"local\" has 1 running and 1 queued jobs: its "
                     "limits (max_running_jobs 1, max_queued_jobs 1)");
    cr_assert(strstr(t.err.hint, "raise max_queued_jobs or max_running_jobs "
                                 "of executor \"local\" in broker.yaml"),
              "%s", t.err.hint);
    /* still waiting while the first runs */
    assert_queued(b, "max_running_jobs 1");
    cancel(a);
    a_done = jt_wait(&t, jt_str(a, "id", NULL), "cancelled", 5000);
    cr_assert_str_eq(jt_str(a_done, "state", NULL), "cancelled");
    b_done = jt_wait(&t, jt_str(b, "id", NULL), "succeeded", 10000);
    cr_assert_str_eq(jt_str(b_done, "state", NULL), "succeeded", "%s",
                     jt_str(b_done, "reason", NULL));
    cr_assert_null(json_object_get(b_done, "queued"));
    cr_assert_geq(num(b_done, "started_at"), num(a_done, "finished_at"),
                  "the queued job started before the slot was free");
    cr_assert_geq(num(b_done, "deadline_at"),
                  num(b_done, "started_at") +
                      1000 * num(b_done, "timeout_seconds") - 1000,
                  "the deadline counts from the start, not the submit");
    /* the queue has room again */
    c = submit("ok", NULL);
    json_decref(c);
    json_decref(a);
    json_decref(b);
    json_decref(a_done);
    json_decref(b_done);
}

Test(limits, a_cancelled_queued_job_never_starts)
{
    json_t *a = submit("sleep", NULL), *b = submit("ok", NULL), *c, *doc;
    json_t *done;

    cancel(b);
    doc = get(b);
    cr_assert_str_eq(jt_str(doc, "state", NULL), "cancelled");
    cr_assert_str_eq(jt_str(doc, "reason", NULL),
                     "cancelled on request while queued");
    cr_assert_null(json_object_get(doc, "queued"));
    json_decref(doc);
    cancel(a);
    json_decref(jt_wait(&t, jt_str(a, "id", NULL), "cancelled", 5000));
    /* once c ran, the tracker had every chance to start b */
    c = submit("ok", NULL);
    done = jt_wait(&t, jt_str(c, "id", NULL), "succeeded", 10000);
    cr_assert_str_eq(jt_str(done, "state", NULL), "succeeded");
    doc = get(b);
    cr_assert_str_eq(jt_str(doc, "state", NULL), "cancelled");
    cr_assert(json_is_null(json_object_get(doc, "started_at")));
    cr_assert_not(has_dir(doc), "the cancelled job ran");
    json_decref(doc);
    json_decref(done);
    json_decref(a);
    json_decref(b);
    json_decref(c);
}

/* Waits until the local process of job has gone (reaped by the tracker). */
static void assert_process_gone(const json_t *doc)
{
    pid_t pid = (pid_t)json_integer_value(
        json_object_get(json_object_get(doc, "local"), "pid"));
    struct timespec ts = {0, 20 * 1000000L};
    int gone = 0;

    cr_assert_gt(pid, 0);
    for (int i = 0; i < 250 && !gone; i++) {
        gone = kill(pid, 0) == -1 && errno == ESRCH;
        if (!gone)
            nanosleep(&ts, NULL);
    }
    cr_assert(gone, "process %d is still there", (int)pid);
}

static void assert_failed_with(const char *mode, const char *reason)
{
    json_t *job = submit(mode, NULL), *done;

    cr_assert_eq(json_integer_value(json_object_get(
                     json_object_get(job, "limits"), "max_output_mb")),
                 1);
    done = jt_wait(&t, jt_str(job, "id", NULL), "failed", 10000);
    cr_assert_str_eq(jt_str(done, "state", NULL), "failed");
    cr_assert_str_eq(jt_str(done, "reason", NULL), reason);
    assert_process_gone(done);
    json_decref(job);
    json_decref(done);
}

Test(limits, output_beyond_max_output_mb_stops_and_fails_the_job)
{
    assert_failed_with("bigout", "output exceeded 1 MB (max_output_mb)");
}

Test(limits, output_beyond_max_output_mb_at_exit_fails_the_job)
{
    assert_failed_with("bigout_exit", "output exceeded 1 MB (max_output_mb)");
}

Test(limits, a_log_beyond_max_log_mb_stops_and_fails_the_job)
{
    assert_failed_with("biglog", "log stdout.log exceeded 1 MB (max_log_mb)");
}

/* A restart keeps the queue and starts it in order. */
Test(fair, restart_keeps_the_queue_in_order)
{
    json_t *run1 = submit("sleep", NULL), *run2 = submit("sleep", NULL);
    json_t *q1 = submit("sleep", NULL), *q2 = submit("sleep", NULL);
    json_t *q3 = submit("ok", NULL), *d1, *d2, *d3;

    assert_queued(q1, "max_running_jobs 2");
    dsb_jobs_close(t.jobs); /* the "crash": the two running are orphans */
    t.jobs = NULL;
    jt_open(&t, NULL);
    d1 = jt_wait(&t, jt_str(q1, "id", NULL), "running", 5000);
    d2 = jt_wait(&t, jt_str(q2, "id", NULL), "running", 5000);
    cr_assert_str_eq(jt_str(d1, "state", NULL), "running");
    cr_assert_str_eq(jt_str(d2, "state", NULL), "running");
    cr_assert_leq(num(d1, "started_at"), num(d2, "started_at"));
    json_decref(d1);
    d1 = get(run1);
    /* the reason names the replica that stopped (docs/jobs.md) */
    cr_assert(!strncmp(jt_str(d1, "reason", NULL),
                       "the broker stopped while the job was running (replica ",
                       54),
              "%s", jt_str(d1, "reason", NULL));
    /* the third waits for a slot, then takes the first one freed */
    assert_queued(q3, "max_running_jobs 2");
    cancel(q2);
    d3 = jt_wait(&t, jt_str(q3, "id", NULL), "succeeded", 10000);
    cr_assert_str_eq(jt_str(d3, "state", NULL), "succeeded");
    json_decref(d1);
    json_decref(d2);
    json_decref(d3);
    json_decref(run1);
    json_decref(run2);
    json_decref(q1);
    json_decref(q2);
    json_decref(q3);
}

/* When a slot frees, the queued job of the principal running fewest jobs
 * goes first, even when another principal queued earlier. */
Test(fair, the_principal_running_fewest_goes_first)
{
    json_t *a1 = submit("sleep", "alice"), *a2 = submit("sleep", "alice");
    json_t *a3 = submit("ok", "alice"), *b1 = submit("ok", "bob");
    json_t *da, *db;

    assert_queued(a3, "max_running_jobs 2");
    assert_queued(b1, "max_running_jobs 2");
    cancel(a1); /* alice still runs a2, bob runs nothing */
    db = jt_wait(&t, jt_str(b1, "id", NULL), "succeeded", 10000);
    da = jt_wait(&t, jt_str(a3, "id", NULL), "succeeded", 10000);
    cr_assert_str_eq(jt_str(db, "state", NULL), "succeeded");
    cr_assert_str_eq(jt_str(da, "state", NULL), "succeeded");
    /* a3 took the slot b1 left: the only one while a2 runs */
    cr_assert_lt(num(db, "started_at"), num(da, "started_at"));
    cr_assert_geq(num(da, "started_at"), num(db, "finished_at"));
    json_decref(da);
    json_decref(db);
    json_decref(a1);
    json_decref(a2);
    json_decref(a3);
    json_decref(b1);
}
