/* Jobs over HTTP: submit (routed by the session's context), get, list,
 * cancel, logs, result, the errors, and tracking across a reload.  The
 * local executor runs tests/jobs/fake-spark-submit.sh. */
#include <criterion/criterion.h>
#include <time.h>

#include "http_support.h"

static void setup(void)
{
    char *fake = t_src("tests/jobs/fake-spark-submit.sh");

    t_http_env();
    setenv("DSB_TEST_SPARK_SUBMIT", fake, 1);
    free(fake);
    t_start(NULL);
}

static void teardown(void)
{
    if (t_srv)
        t_stop();
}

TestSuite(jobs, .init = setup, .fini = teardown, .timeout = 60);

/* A new session with main's sales.public.orders selected (and pgmain's
 * when vpc); its id (malloc'd). */
static char *session(int vpc)
{
    struct t_resp r = t_req("POST", "/v1/sessions", NULL, NULL);
    json_t *j = t_json(&r);
    char *id = strdup(json_string_value(json_object_get(j, "id"))), p[128];

    json_decref(j);
    t_free(&r);
    snprintf(p, sizeof(p), "/v1/sessions/%s/selections", id);
    r = t_post(p,
               vpc ? "[{\"source\":\"main\",\"database\":\"sales\","
                     "\"schema\":\"public\",\"table\":\"orders\"},{\"source\":"
                     "\"pgmain\",\"database\":\"sales\",\"schema\":\"public\","
                     "\"table\":\"orders\"}]"
                   : "{\"source\":\"main\",\"database\":\"sales\",\"schema\":"
                     "\"public\",\"table\":\"orders\"}");
    cr_assert_eq(r.status, 201, "%s", r.body);
    t_free(&r);
    return id;
}

static struct t_resp submit(const char *sid, const char *body)
{
    char p[128];

    snprintf(p, sizeof(p), "/v1/sessions/%s/jobs", sid);
    return t_post(p, body);
}

/* Submits; asserts 202; the job's id (malloc'd). */
static char *submit_ok(const char *sid, const char *body)
{
    struct t_resp r = submit(sid, body);
    char *loc = t_header(&r, "Location"), *id;
    json_t *j;

    cr_assert_eq(r.status, 202, "%s", r.body);
    j = t_json(&r);
    id = strdup(json_string_value(json_object_get(j, "id")));
    cr_assert(loc && strstr(loc, id), "%s", loc);
    cr_assert_null(strstr(r.body, T_PASSWORD), "a secret value leaked");
    free(loc);
    json_decref(j);
    t_free(&r);
    return id;
}

static const char *str(const json_t *o, const char *k1, const char *k2)
{
    const json_t *v = json_object_get(o, k1);
    return json_string_value(k2 ? json_object_get(v, k2) : v);
}

/* Polls GET /v1/jobs/ID until its state is final or `state`. */
static json_t *wait_state(const char *id, const char *state)
{
    struct timespec ts = {0, 20 * 1000000L};
    char p[128];

    snprintf(p, sizeof(p), "/v1/jobs/%s", id);
    for (int i = 0; i < 1500; i++) {
        struct t_resp r = t_get(p);
        json_t *j = t_json(&r);
        const char *s = str(j, "state", NULL);
        cr_assert_eq(r.status, 200, "%s", r.body);
        t_free(&r);
        if (strcmp(s, state) == 0 || strcmp(s, "succeeded") == 0 ||
            strcmp(s, "failed") == 0 || strcmp(s, "cancelled") == 0 ||
            strcmp(s, "timed_out") == 0)
            return j;
        json_decref(j);
        nanosleep(&ts, NULL);
    }
    cr_assert_fail("job %s never reached %s", id, state);
    return NULL;
}

Test(jobs, submit_poll_result_logs_list)
{
    char *sid = session(0), *id, p[160];
    json_t *j, *rows;
    struct t_resp r;

    id = submit_ok(sid, "{\"code\":\"print(1)\\n\",\"name\":\"first\","
                        "\"args\":[\"ok\"],\"timeout_seconds\":60}");
    j = wait_state(id, "succeeded");
    cr_assert_str_eq(str(j, "state", NULL), "succeeded", "%s",
                     str(j, "reason", NULL));
    cr_assert_str_eq(str(j, "name", NULL), "first");
    cr_assert_str_eq(str(j, "session_id", NULL), sid);
    cr_assert_str_eq(str(j, "route", "executor"), "local");
    cr_assert(strstr(str(j, "route", "reason"), "local reaches"), "%s",
              str(j, "route", "reason"));
    json_decref(j);
    snprintf(p, sizeof(p), "/v1/jobs/%s/result?limit=3", id);
    r = t_get(p);
    cr_assert_eq(r.status, 200, "%s", r.body);
    j = t_json(&r);
    rows = json_object_get(j, "rows");
    cr_assert_eq(json_array_size(rows), 3, "%s", r.body);
    cr_assert(json_is_true(json_object_get(j, "truncated")));
    cr_assert_str_eq(
        json_string_value(json_array_get(json_array_get(rows, 1), 1)), "y,z");
    json_decref(j);
    t_free(&r);
    snprintf(p, sizeof(p), "/v1/jobs/%s/logs?lines=5", id);
    r = t_get(p);
    cr_assert_eq(r.status, 200, "%s", r.body);
    t_free(&r);
    snprintf(p, sizeof(p), "/v1/sessions/%s/jobs", sid);
    r = t_get(p);
    cr_assert_eq(r.status, 200, "%s", r.body);
    j = t_json(&r);
    cr_assert_eq(json_array_size(json_object_get(j, "items")), 1);
    cr_assert_str_eq(
        str(json_array_get(json_object_get(j, "items"), 0), "id", NULL), id);
    json_decref(j);
    t_free(&r);
    free(id);
    free(sid);
}

Test(jobs, logs_tail_lines_and_failed_result_is_409)
{
    char *sid = session(0),
         *id = submit_ok(sid, "{\"code\":\"x=1\","
                              "\"args\":[\"fail\"]}"),
         p[160];
    json_t *j = wait_state(id, "failed");
    struct t_resp r;

    cr_assert_str_eq(str(j, "state", NULL), "failed");
    json_decref(j);
    snprintf(p, sizeof(p), "/v1/jobs/%s/result", id);
    r = t_get(p);
    t_problem(&r, 409, "conflict");
    t_free(&r);
    snprintf(p, sizeof(p), "/v1/jobs/%s/logs?lines=1", id);
    r = t_get(p);
    cr_assert_eq(r.status, 200, "%s", r.body);
    j = t_json(&r);
    cr_assert_str_eq(str(j, "stderr", NULL),
                     "Exception in thread main "
                     "java.lang.RuntimeException: boom\n");
    json_decref(j);
    t_free(&r);
    snprintf(p, sizeof(p), "/v1/jobs/%s/logs?lines=0", id);
    r = t_get(p);
    t_problem(&r, 400, "invalid");
    t_free(&r);
    free(id);
    free(sid);
}

Test(jobs, unknown_jobs_and_sessions_are_404)
{
    static const char *const paths[] = {
        "/v1/jobs/job-nope", "/v1/jobs/job-nope/logs",
        "/v1/jobs/job-nope/result", "/v1/sessions/nope/jobs", NULL};
    struct t_resp r;

    for (const char *const *p = paths; *p; p++) {
        r = t_get(*p);
        t_problem(&r, 404, "not_found");
        t_free(&r);
    }
    r = t_req("DELETE", "/v1/jobs/job-nope", NULL, NULL);
    t_problem(&r, 404, "not_found");
    t_free(&r);
    r = submit("nope", "{\"code\":\"x=1\"}");
    t_problem(&r, 404, "not_found");
    t_free(&r);
}

Test(jobs, bad_bodies)
{
    static const char *const bad[] = {
        "{\"code\":\"x\",\"entry_point\":\"y\"}", "{}", "[]", "{\"code\":1}",
        "{\"code\":\"x\",\"args\":[1]}",
        "{\"code\":\"x\",\"timeout_seconds\":-1}",
        "{\"code\":\"x\",\"timeout_seconds\":\"5\"}",
        "{\"code\":\"x\",\"colour\":\"red\"}", "{\"code\":",
        /* found by schemathesis: an empty member is not an absent one */
        "{\"code\":\"x\",\"entry_point\":\"\"}", "{\"code\":\"\"}",
        "{\"code\":null,\"entry_point\":\"e.py\"}",
        "{\"code\":\"x\",\"timeout_seconds\":1.5}",
        "{\"code\":\"x\",\"timeout_seconds\":315360001}", NULL};
    char *sid = session(0), *big = malloc(6000), p[128];
    struct t_resp r;

    for (const char *const *b = bad; *b; b++) {
        r = submit(sid, *b);
        t_problem(&r, 400, "invalid");
        t_free(&r);
    }
    snprintf(p, sizeof(p), "/v1/sessions/%s/jobs", sid);
    r = t_req("POST", p,
              (const char *const[]){"Content-Type: text/plain", NULL},
              "{\"code\":\"x\"}");
    t_problem(&r, 415, "unsupported_media_type");
    t_free(&r);
    memset(big, 'x', 5999);
    big[5999] = '\0';
    memcpy(big, "{\"code\":\"", 9);
    memcpy(big + 5997, "\"}", 2);
    r = submit(sid, big);
    t_problem(&r, 413, "too_large");
    t_free(&r);
    free(big);
    free(sid);
}

/* JSON Schema counts 76.0 as an integer: so does the broker. */
Test(jobs, integral_real_timeout_is_accepted)
{
    char *sid = session(0);
    char *id = submit_ok(sid, "{\"code\":\"x\",\"timeout_seconds\":76.0}");

    cr_assert_not_null(id);
    free(id);
    free(sid);
}

/* The "timeout" is timeout_seconds: a 400 that says so. */
Test(jobs, timeout_member_is_refused_with_a_suggestion)
{
    static const char *const cases[][3] = {
        {"{\"code\":\"x\",\"timeout\":60}", "unknown member \"timeout\"",
         "did you mean \"timeout_seconds\"?"},
        {"{\"code\":\"x\",\"exectuor\":\"local\"}",
         "unknown member \"exectuor\"", "did you mean \"executor\"?"},
        {"{\"code\":\"x\",\"colour\":\"red\"}",
         "unknown member "
         "\"colour\"",
         "send {\"code\""}};
    char *sid = session(0);

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct t_resp r = submit(sid, cases[i][0]);
        json_t *j;
        t_problem(&r, 400, "invalid");
        j = t_json(&r);
        cr_assert_str_eq(json_string_value(json_object_get(j, "detail")),
                         cases[i][1]);
        cr_assert(strstr(json_string_value(json_object_get(j, "hint")),
                         cases[i][2]) ==
                      json_string_value(json_object_get(j, "hint")),
                  "%s", r.body);
        json_decref(j);
        t_free(&r);
    }
    free(sid);
}

Test(jobs, unroutable_and_unreachable_executor_are_422)
{
    char *sid = session(1);
    struct t_resp r;

    r = submit(sid, "{\"code\":\"x=1\",\"executor\":\"standard\"}");
    t_problem(&r, 422, "unroutable");
    cr_assert(strstr(r.body, "aurora-vpc"), "%s", r.body);
    cr_assert(strstr(r.body, "\"upstream\":\"route\""), "%s", r.body);
    t_free(&r);
    r = submit(sid, "{\"code\":\"x=1\",\"executor\":\"nowhere\"}");
    t_problem(&r, 422, "unroutable");
    t_free(&r);
    free(sid);
}

Test(jobs, tracked_across_reload_and_cancelled)
{
    char *sid = session(0),
         *id = submit_ok(sid, "{\"code\":\"x=1\","
                              "\"args\":[\"sleep\"]}"),
         p[128];
    struct t_resp r;
    json_t *j;

    cr_assert_eq(dsb_server_reload(t_srv), 0);
    snprintf(p, sizeof(p), "/v1/jobs/%s", id);
    r = t_req("DELETE", p, NULL, NULL);
    cr_assert_eq(r.status, 200, "%s", r.body);
    t_free(&r);
    j = wait_state(id, "cancelled");
    cr_assert_str_eq(str(j, "state", NULL), "cancelled");
    json_decref(j);
    free(id);
    id = submit_ok(sid, "{\"code\":\"x=1\",\"args\":[\"ok\"]}");
    j = wait_state(id, "succeeded");
    cr_assert_str_eq(str(j, "state", NULL), "succeeded");
    json_decref(j);
    free(id);
    free(sid);
}

/* Verified reads (docs/jobs.md) with the stand-in spark-submit, which runs
 * no Python: the verification is a job of its own purpose on the routed
 * executor, its script the verifier; the output it writes has no table
 * results, so every table is an error; POST again starts another. */
Test(jobs, verify_is_a_job_of_its_own_purpose)
{
    char *sid = session(0), p[200], *etag, *first;
    struct t_resp r;
    json_t *v, *job;
    FILE *f;
    char *script;

    snprintf(p, sizeof(p), "/v1/sessions/%s/context", sid);
    r = t_get(p);
    etag = t_header(&r, "ETag");
    t_free(&r);
    snprintf(p, sizeof(p), "/v1/sessions/%s/context/verify", sid);
    r = t_post(p, NULL);
    cr_assert_eq(r.status, 202, "%s", r.body);
    v = t_json(&r);
    t_free(&r);
    cr_assert_str_eq(str(v, "context_etag", NULL), etag);
    first = strdup(str(v, "job_id", NULL));
    job = wait_state(first, "succeeded");
    cr_assert_str_eq(str(job, "state", NULL), "succeeded");
    cr_assert_str_eq(str(job, "name", NULL), "verify context");
    cr_assert_str_eq(str(job, "purpose", "kind"), "verify-context");
    cr_assert_str_eq(str(job, "purpose", "context_etag"), etag);
    snprintf(p, sizeof(p), "%s/main.py", str(job, "local", "work"));
    cr_assert((f = fopen(p, "r")) != NULL, "%s", p);
    script = t_slurp_file(f);
    cr_assert(strstr(script, "\n_dsb_verify(_dsb_vjson.loads("));
    cr_assert_null(strstr(script, T_PASSWORD), "a secret value leaked");
    free(script);
    json_decref(job);
    json_decref(v);

    snprintf(p, sizeof(p), "/v1/sessions/%s/context/verify", sid);
    r = t_get(p);
    cr_assert_eq(r.status, 200, "%s", r.body);
    v = t_json(&r);
    t_free(&r);
    cr_assert_str_eq(str(v, "state", NULL), "done");
    cr_assert(json_is_false(json_object_get(v, "ok")));
    job = json_array_get(json_object_get(v, "tables"), 0);
    cr_assert_str_eq(str(job, "status", NULL), "error");
    cr_assert(strstr(str(job, "error", "message"), "no result"));
    json_decref(v);

    r = t_post(p, NULL);
    cr_assert_eq(r.status, 202, "%s", r.body);
    v = t_json(&r);
    cr_assert_str_neq(str(v, "job_id", NULL), first);
    json_decref(wait_state(str(v, "job_id", NULL), "succeeded"));
    json_decref(v);
    t_free(&r);
    free(first);
    free(etag);
    free(sid);
}
