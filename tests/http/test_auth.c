/* Bearer tokens (auth on), source-limited tokens, CORS. */
#include <criterion/criterion.h>

#include "http_support.h"

#define ADMIN "Authorization: Bearer " T_ADMIN
#define LIMITED "Authorization: Bearer " T_LIMITED

static void setup(void)
{
    t_http_env();
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

Test(auth, limited_tokens)
{
    struct t_resp r = get_as(LIMITED, "/v1/sources");
    json_t *j = t_json(&r);

    cr_assert_eq(json_array_size(json_object_get(j, "items")), 1, "%s",
                 r.body);
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
        r = t_req("POST", p, (const char *const[]){LIMITED, "Content-Type: "
                  "application/json", NULL}, "{\"source\":\"pgmain\","
                  "\"database\":\"sales\",\"schema\":\"public\",\"table\":"
                  "\"orders\"}");
        t_problem(&r, 403, "forbidden");
        json_decref(s);
    }
    t_free(&r);
}

Test(auth, cors)
{
    struct t_resp r = t_req("OPTIONS", "/v1/sources", (const char *const[]){
        "Origin: http://ui.example", "Access-Control-Request-Method: GET",
        "Access-Control-Request-Headers: authorization", NULL}, NULL);
    char *ao = t_header(&r, "Access-Control-Allow-Origin");
    char *ah = t_header(&r, "Access-Control-Allow-Headers");

    cr_assert_eq(r.status, 204, "%s", r.body);
    cr_assert_str_eq(ao, "http://ui.example");
    cr_assert(ah && strstr(ah, "Authorization"));
    free(ao);
    free(ah);
    t_free(&r);
    r = t_req("OPTIONS", "/v1/sources", (const char *const[]){
        "Origin: http://evil.example", "Access-Control-Request-Method: GET",
        NULL}, NULL);
    t_problem(&r, 403, "forbidden");
    t_free(&r);
    r = t_req("GET", "/v1/sources", (const char *const[]){ADMIN,
              "Origin: http://ui.example", NULL}, NULL);
    ao = t_header(&r, "Access-Control-Allow-Origin");
    cr_assert_str_eq(ao, "http://ui.example");
    free(ao);
    t_free(&r);
    r = t_req("GET", "/v1/sources", (const char *const[]){ADMIN,
              "Origin: http://evil.example", NULL}, NULL);
    cr_assert_null(t_header(&r, "Access-Control-Allow-Origin"));
    t_free(&r);
    r = t_req("OPTIONS", "/v1/sources", NULL, NULL);
    cr_assert_eq(r.status, 204); /* not a preflight: just the methods */
    ao = t_header(&r, "Allow");
    cr_assert(ao && strstr(ao, "GET"), "%s", ao);
    free(ao);
    t_free(&r);
}
