/* Bearer tokens (auth on), source-limited tokens, CORS. */
#include <criterion/criterion.h>

#include "http_support.h"

#define ADMIN "Authorization: Bearer " T_ADMIN
#define LIMITED "Authorization: Bearer " T_LIMITED

static void setup(void)
{
    char *fake = t_src("tests/jobs/fake-spark-submit.sh");

    t_http_env();
    setenv("DSB_TEST_SPARK_SUBMIT", fake, 1);
    free(fake);
    setenv("DSB_TEST_AUTH", "true", 1);
    t_start(NULL);
}

static void teardown(void)
{
    t_stop();
}

TestSuite(auth, .init = setup, .fini = teardown, .timeout = 60);

static struct t_resp get_as(const char *auth, const char *path)
{
    return t_req("GET", path, (const char *const[]){auth, NULL}, NULL);
}

Test(auth, tokens_required)
{
    struct t_resp r = t_get("/v1/sources");
    char *www = t_header(&r, "WWW-Authenticate");

    t_problem(&r, 401, "unauthenticated");
    cr_assert(www && strncmp(www, "Bearer", 6) == 0);
    free(www);
    t_free(&r);
    r = get_as("Authorization: Bearer wrong", "/v1/sources");
    t_problem(&r, 401, "unauthenticated");
    cr_assert_null(strstr(r.body, T_ADMIN));
    t_free(&r);
    r = get_as("Authorization: Basic Zm9vOmJhcg==", "/v1/sources");
    t_problem(&r, 401, "unauthenticated");
    t_free(&r);
    r = get_as(ADMIN, "/v1/sources");
    cr_assert_eq(r.status, 200, "%s", r.body);
    t_free(&r);
    r = t_get("/healthz");
    cr_assert_eq(r.status, 200);
    t_free(&r);
    r = t_get("/metrics");
    cr_assert_eq(r.status, 200);
    t_free(&r);
}

/* open_health: false puts /healthz, /readyz and /metrics behind a token
 * too. */
Test(auth, closed_health)
{
    static const char *const paths[] = {"/healthz", "/readyz", "/metrics",
                                        NULL};
    struct t_resp r;

    t_stop();
    setenv("DSB_TEST_OPEN_HEALTH", "false", 1);
    t_start(NULL);
    for (const char *const *p = paths; *p; p++) {
        r = t_get(*p);
        t_problem(&r, 401, "unauthenticated");
        t_free(&r);
        r = get_as(ADMIN, *p);
        cr_assert_eq(r.status, 200, "%s: %s", *p, r.body);
        t_free(&r);
        r = get_as(LIMITED, *p);
        cr_assert_eq(r.status, 200, "%s: %s", *p, r.body);
        t_free(&r);
    }
}

Test(auth, limited_tokens)
{
    struct t_resp r = get_as(LIMITED, "/v1/sources");
    json_t *j = t_json(&r);

    cr_assert_eq(json_array_size(json_object_get(j, "items")), 1, "%s", r.body);
    json_decref(j);
    t_free(&r);
    r = get_as(LIMITED, "/v1/sources/main/databases");
    cr_assert_eq(r.status, 200);
    t_free(&r);
    r = get_as(LIMITED, "/v1/sources/nocache/databases");
    t_problem(&r, 403, "forbidden");
    t_free(&r);
    r = get_as(LIMITED, "/postgres/connections");
    cr_assert(strstr(r.body, "\"connections\":[]"), "%s", r.body);
    t_free(&r);
    r = t_req("POST", "/v1/sessions", (const char *const[]){LIMITED, NULL},
              NULL);
    cr_assert_eq(r.status, 201);
    {
        json_t *s = t_json(&r);
        char p[256];
        snprintf(p, sizeof(p), "/v1/sessions/%s/selections",
                 json_string_value(json_object_get(s, "id")));
        t_free(&r);
        r = t_req("POST", p,
                  (const char *const[]){LIMITED,
                                        "Content-Type: "
                                        "application/json",
                                        NULL},
                  "{\"source\":\"pgmain\","
                  "\"database\":\"sales\",\"schema\":\"public\",\"table\":"
                  "\"orders\"}");
        t_problem(&r, 403, "forbidden");
        json_decref(s);
    }
    t_free(&r);
}

Test(auth, cors)
{
    struct t_resp r = t_req(
        "OPTIONS", "/v1/sources",
        (const char *const[]){
            "Origin: http://ui.example", "Access-Control-Request-Method: GET",
            "Access-Control-Request-Headers: authorization", NULL},
        NULL);
    char *ao = t_header(&r, "Access-Control-Allow-Origin");
    char *ah = t_header(&r, "Access-Control-Allow-Headers");

    cr_assert_eq(r.status, 204, "%s", r.body);
    cr_assert_str_eq(ao, "http://ui.example");
    cr_assert(ah && strstr(ah, "Authorization"));
    free(ao);
    free(ah);
    t_free(&r);
    r = t_req("OPTIONS", "/v1/sources",
              (const char *const[]){"Origin: http://evil.example",
                                    "Access-Control-Request-Method: GET", NULL},
              NULL);
    t_problem(&r, 403, "forbidden");
    t_free(&r);
    r = t_req("GET", "/v1/sources",
              (const char *const[]){ADMIN, "Origin: http://ui.example", NULL},
              NULL);
    ao = t_header(&r, "Access-Control-Allow-Origin");
    cr_assert_str_eq(ao, "http://ui.example");
    free(ao);
    t_free(&r);
    r = t_req("GET", "/v1/sources",
              (const char *const[]){ADMIN, "Origin: http://evil.example", NULL},
              NULL);
    cr_assert_null(t_header(&r, "Access-Control-Allow-Origin"));
    t_free(&r);
    r = t_req("OPTIONS", "/v1/sources", NULL, NULL);
    cr_assert_eq(r.status, 204); /* not a preflight: just the methods */
    ao = t_header(&r, "Allow");
    cr_assert(ao && strstr(ao, "GET"), "%s", ao);
    free(ao);
    t_free(&r);
}

static struct t_resp req_as(const char *auth, const char *method,
                            const char *path, const char *body)
{
    return t_req(method, path,
                 (const char *const[]){auth,
                                       "Content-Type: "
                                       "application/json",
                                       NULL},
                 body);
}

/* A session of the limited token's principal, with `selections` made by
 * an admin (who may change anybody's session); its id (malloc'd). */
static char *admin_session(const char *selections)
{
    struct t_resp r = req_as(LIMITED, "POST", "/v1/sessions", NULL);
    json_t *j = t_json(&r);
    char *id = strdup(json_string_value(json_object_get(j, "id"))), p[128];

    json_decref(j);
    t_free(&r);
    snprintf(p, sizeof(p), "/v1/sessions/%s/selections", id);
    r = req_as(ADMIN, "POST", p, selections);
    cr_assert_eq(r.status, 201, "%s", r.body);
    t_free(&r);
    return id;
}

/* Submits a job (admin) in the session and waits until it has finished;
 * its id (malloc'd). */
static char *admin_job(const char *sid)
{
    char p[128], *id;
    struct t_resp r;
    json_t *j;

    snprintf(p, sizeof(p), "/v1/sessions/%s/jobs", sid);
    r = req_as(ADMIN, "POST", p, "{\"code\": \"print(1)\"}");
    cr_assert_eq(r.status, 202, "%s", r.body);
    j = t_json(&r);
    id = strdup(json_string_value(json_object_get(j, "id")));
    json_decref(j);
    t_free(&r);
    snprintf(p, sizeof(p), "/v1/jobs/%s", id);
    for (int i = 0;; i++) {
        r = get_as(ADMIN, p);
        if (strstr(r.body, "\"state\":\"succeeded\""))
            break;
        cr_assert(i < 2000, "the job did not finish: %s", r.body);
        t_free(&r);
        usleep(10000);
    }
    t_free(&r);
    return id;
}

#define SEL_MAIN                                                               \
    "{\"source\":\"main\",\"database\":\"sales\","                             \
    "\"schema\":\"public\",\"table\":\"orders\"}"
#define SEL_PG                                                                 \
    "{\"source\":\"pgmain\",\"database\":\"sales\","                           \
    "\"schema\":\"public\",\"table\":\"orders\"}"

/* A token limited to main does not see another source's selections and
 * may not touch a job that reads another source. */
Test(auth, limited_tokens_on_sessions_and_jobs)
{
    char *mixed = admin_session("[" SEL_MAIN "," SEL_PG "]");
    char *own = admin_session(SEL_MAIN);
    char *job = admin_job(mixed), *ok_job = admin_job(own), p[256];
    static const char *const job_paths[] = {"", "/logs", "/result", NULL};
    struct t_resp r;
    json_t *j, *it;
    long hidden_id = 0;
    size_t i;

    snprintf(p, sizeof(p), "/v1/sessions/%s", mixed);
    r = get_as(LIMITED, p);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert(strstr(r.body, "\"main\"") && !strstr(r.body, "pgmain"), "%s",
              r.body);
    t_free(&r);
    snprintf(p, sizeof(p), "/v1/sessions/%s/selections", mixed);
    r = get_as(LIMITED, p);
    cr_assert(strstr(r.body, "\"main\"") && !strstr(r.body, "pgmain"), "%s",
              r.body);
    t_free(&r);
    r = get_as(ADMIN, p);
    j = t_json(&r);
    cr_assert_eq(json_array_size(json_object_get(j, "items")), 2, "%s", r.body);
    json_array_foreach(
        json_object_get(j, "items"), i,
        it) if (strcmp(json_string_value(json_object_get(it, "source")),
                       "pgmain") == 0) hidden_id =
        (long)json_integer_value(json_object_get(it, "id"));
    json_decref(j);
    t_free(&r);
    snprintf(p, sizeof(p), "/v1/sessions/%s/selections/%ld", mixed, hidden_id);
    r = req_as(LIMITED, "DELETE", p, NULL);
    t_problem(&r, 403, "forbidden");
    t_free(&r);
    snprintf(p, sizeof(p), "/v1/sessions/%s/context", mixed);
    r = get_as(LIMITED, p);
    t_problem(&r, 403, "forbidden");
    t_free(&r);
    for (const char *const *jp = job_paths; *jp; jp++) {
        snprintf(p, sizeof(p), "/v1/jobs/%s%s", job, *jp);
        r = get_as(LIMITED, p);
        t_problem(&r, 403, "forbidden");
        t_free(&r);
        r = get_as(ADMIN, p);
        cr_assert_eq(r.status, 200, "%s %s", p, r.body);
        t_free(&r);
        snprintf(p, sizeof(p), "/v1/jobs/%s%s", ok_job, *jp);
        r = get_as(LIMITED, p);
        cr_assert_eq(r.status, 200, "%s %s", p, r.body);
        t_free(&r);
    }
    snprintf(p, sizeof(p), "/v1/jobs/%s", job);
    r = req_as(LIMITED, "DELETE", p, NULL);
    t_problem(&r, 403, "forbidden");
    t_free(&r);
    snprintf(p, sizeof(p), "/v1/sessions/%s/jobs", mixed);
    r = get_as(LIMITED, p);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_null(strstr(r.body, job), "%s", r.body);
    t_free(&r);
    r = get_as(ADMIN, p);
    cr_assert(strstr(r.body, job), "%s", r.body);
    cr_assert(strstr(r.body, "\"sources\":[\"main\",\"pgmain\"]"), "%s",
              r.body);
    t_free(&r);
    snprintf(p, sizeof(p), "/v1/sessions/%s/jobs", own);
    r = get_as(LIMITED, p);
    cr_assert(strstr(r.body, ok_job), "%s", r.body);
    t_free(&r);
    free(job);
    free(ok_job);
    free(mixed);
    free(own);
}
