/* Job limits over HTTP: a principal beyond its running limit is queued,
 * beyond its queue refused with 429 and Retry-After, while another
 * principal's jobs start; a full executor queue is a 429 too.  The local
 * executor runs tests/jobs/fake-spark-submit.sh. */
#include <criterion/criterion.h>
#include <time.h>

#include "http_support.h"

static void setup(void)
{
    char *fake = t_src("tests/jobs/fake-spark-submit.sh");

    t_http_env();
    setenv("DSB_TEST_SPARK_SUBMIT", fake, 1);
    free(fake);
    setenv("DSB_TEST_JOBS_RETRY_AFTER", "7", 1);
}

static void teardown(void)
{
    if (t_srv)
        t_stop();
}

TestSuite(joblimits, .init = setup, .fini = teardown, .timeout = 60);

/* One request as token (NULL: none). */
static struct t_resp as(const char *token, const char *method, const char *path,
                        const char *body)
{
    char auth[128];
    const char *h[] = {"Content-Type: application/json", auth, NULL};

    snprintf(auth, sizeof(auth), "Authorization: Bearer %s",
             token ? token : "");
    if (!token)
        h[1] = NULL;
    return t_req(method, path, h, body);
}

/* A new session of token with main's orders selected (malloc'd id). */
static char *session(const char *token)
{
    struct t_resp r = as(token, "POST", "/v1/sessions", NULL);
    json_t *j = t_json(&r);
    char *id = strdup(json_string_value(json_object_get(j, "id"))), p[128];

    cr_assert_eq(r.status, 201, "%s", r.body);
    json_decref(j);
    t_free(&r);
    snprintf(p, sizeof(p), "/v1/sessions/%s/selections", id);
    r = as(token, "POST", p,
           "{\"source\":\"main\",\"database\":\"sales\",\"schema\":"
           "\"public\",\"table\":\"orders\"}");
    cr_assert_eq(r.status, 201, "%s", r.body);
    t_free(&r);
    return id;
}

static struct t_resp submit(const char *token, const char *sid,
                            const char *mode)
{
    char p[128], body[128];

    snprintf(p, sizeof(p), "/v1/sessions/%s/jobs", sid);
    snprintf(body, sizeof(body), "{\"code\":\"x=1\",\"args\":[\"%s\"]}", mode);
    return as(token, "POST", p, body);
}

/* Submits; asserts 202 and the state; the job (new reference). */
static json_t *submit_ok(const char *token, const char *sid, const char *mode,
                         const char *state)
{
    struct t_resp r = submit(token, sid, mode);
    json_t *j;

    cr_assert_eq(r.status, 202, "%s", r.body);
    j = t_json(&r);
    cr_assert_str_eq(json_string_value(json_object_get(j, "state")), state,
                     "%s", r.body);
    t_free(&r);
    return j;
}

static const char *id_of(const json_t *job)
{
    return json_string_value(json_object_get(job, "id"));
}

/* Polls the job until its state is `state` or final; asserts `state`. */
static void wait_state(const char *token, const json_t *job, const char *state)
{
    static const char *const finals[] = {"succeeded", "failed", "cancelled",
                                         "timed_out"};
    struct timespec ts = {0, 20 * 1000000L};
    char p[128], s[32] = "";
    int done = 0;

    snprintf(p, sizeof(p), "/v1/jobs/%s", id_of(job));
    for (int i = 0; i < 500 && !done; i++) {
        struct t_resp r = as(token, "GET", p, NULL);
        json_t *j = t_json(&r);
        cr_assert_eq(r.status, 200, "%s", r.body);
        snprintf(s, sizeof(s), "%s",
                 json_string_value(json_object_get(j, "state")));
        json_decref(j);
        t_free(&r);
        done = strcmp(s, state) == 0;
        for (size_t k = 0; k < 4; k++)
            done |= strcmp(s, finals[k]) == 0;
        if (!done)
            nanosleep(&ts, NULL);
    }
    cr_assert_str_eq(s, state, "job %s", id_of(job));
}

static void cancel(const char *token, const json_t *job)
{
    char p[128];
    struct t_resp r;

    snprintf(p, sizeof(p), "/v1/jobs/%s", id_of(job));
    r = as(token, "DELETE", p, NULL);
    cr_assert_eq(r.status, 200, "%s", r.body);
    t_free(&r);
}

/* Asserts a 429 throttled problem naming `limit`, with Retry-After 7. */
static void assert_throttled(struct t_resp *r, const char *limit)
{
    char *ra = t_header(r, "Retry-After");
    json_t *j;

    t_problem(r, 429, "throttled");
    cr_assert(ra && strcmp(ra, "7") == 0, "Retry-After: %s", ra);
    j = t_json(r);
    cr_assert(strstr(json_string_value(json_object_get(j, "message")), limit),
              "%s", r->body);
    cr_assert(strstr(json_string_value(json_object_get(j, "hint")), "raise "),
              "%s", r->body);
    cr_assert(json_is_true(json_object_get(j, "retryable")));
    cr_assert_null(json_object_get(j, "upstream"), "a marker, not shown");
    json_decref(j);
    free(ra);
}

Test(joblimits, per_principal_running_limit_and_queue)
{
    char *sl, *so;
    json_t *l1, *l2, *o1;
    struct t_resp r;

    setenv("DSB_TEST_AUTH", "true", 1);
    setenv("DSB_TEST_JOBS_RUNNING_PER_PRINCIPAL", "1", 1);
    setenv("DSB_TEST_JOBS_QUEUED_PER_PRINCIPAL", "1", 1);
    t_start(NULL);
    sl = session(T_LIMITED);
    so = session(T_OTHER);
    l1 = submit_ok(T_LIMITED, sl, "sleep", "running");
    l2 = submit_ok(T_LIMITED, sl, "ok", "pending");
    cr_assert(json_is_true(json_object_get(l2, "queued")));
    cr_assert(strstr(json_string_value(json_object_get(l2, "queue_reason")),
                     "principal \"limited\" runs 1 jobs "
                     "(jobs.max_running_per_principal 1)"),
              "%s", json_string_value(json_object_get(l2, "queue_reason")));
    r = submit(T_LIMITED, sl, "ok");
    assert_throttled(&r, "principal \"limited\" has 1 running and 1 queued "
                         "jobs: its limits (jobs.max_running_per_principal "
                         "1, jobs.max_queued_per_principal 1)");
    t_free(&r);
    /* another principal is not held up by the first one's limits */
    o1 = submit_ok(T_OTHER, so, "sleep", "running");
    cancel(T_LIMITED, l1);
    wait_state(T_LIMITED, l2, "succeeded");
    cancel(T_OTHER, o1);
    wait_state(T_OTHER, o1, "cancelled");
    json_decref(l1);
    json_decref(l2);
    json_decref(o1);
    free(sl);
    free(so);
}

Test(joblimits, a_full_executor_queue_is_429)
{
    char *sid;
    json_t *a;
    struct t_resp r;

    setenv("DSB_TEST_LOCAL_MAX_RUNNING", "1", 1);
    setenv("DSB_TEST_LOCAL_MAX_QUEUED", "0", 1);
    t_start(NULL);
    sid = session(NULL);
    a = submit_ok(NULL, sid, "sleep", "running");
    r = submit(NULL, sid, "ok");
    assert_throttled(&r, "executor \"local\" has 1 running and 0 queued jobs: "
                         "its limits (max_running_jobs 1, max_queued_jobs 0)");
    t_free(&r);
    cancel(NULL, a);
    wait_state(NULL, a, "cancelled");
    json_decref(a);
    free(sid);
}
