/* /v1 sources, plugins, health, metrics, errors, cache, paging, paths. */
#include <criterion/criterion.h>
#include <pwd.h>
#include <pthread.h>
#include <stdatomic.h>

#include "http_support.h"

static void setup(void)
{
    t_http_env();
    t_start(NULL);
}

static void teardown(void)
{
    t_stop();
}

TestSuite(routes, .init = setup, .fini = teardown, .timeout = 60);

Test(routes, health_ready_metrics)
{
    struct t_resp r = t_get("/healthz");
    json_t *j;

    cr_assert_eq(r.status, 200);
    cr_assert(strstr(r.body, "\"ok\""));
    j = t_json(&r);
    cr_assert_str_eq(json_string_value(json_object_get(j, "status")), "ok",
                     "%s", r.body);
    json_decref(j);
    t_free(&r);
    r = t_get("/readyz");
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert(strstr(r.body, "\"state_store\":true"), "%s", r.body);
    j = t_json(&r);
    cr_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(j, "job_isolation"), "local")),
                     "bwrap", "%s", r.body);
    cr_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(j, "job_isolation"), "standard")),
                     "remote", "%s", r.body);
    json_decref(j);
    t_free(&r);
    r = t_get("/v1/sources/main/databases");
    t_free(&r);
    r = t_get("/metrics");
    cr_assert_eq(r.status, 200);
    cr_assert(strstr(r.body, "dsb_http_requests_total{route=\"/healthz\","
                             "method=\"GET\",status=\"200\"} 1"),
              "%s", r.body);
    cr_assert(strstr(r.body, "dsb_http_request_duration_seconds_bucket"));
    cr_assert(strstr(r.body, "dsb_plugin_calls_total{source=\"main\","
                             "slot=\"list_databases\"} 1"),
              "%s", r.body);
    cr_assert(strstr(r.body, "dsb_cache_misses_total 1"));
    cr_assert(strstr(r.body, "dsb_sources{state=\"disabled\"} 1"));
    t_free(&r);
}

/* GET /v1/executors: each executor's networks and confinement, no
 * secret (the EMR role and staging bucket are not shown). */
Test(routes, executors_show_their_confinement)
{
    struct t_resp r = t_get("/v1/executors");
    json_t *j = t_json(&r), *items = json_object_get(j, "items"), *l, *e;

    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_eq(json_array_size(items), 2, "%s", r.body);
    l = json_array_get(items, 0);
    e = json_array_get(items, 1);
    cr_assert_str_eq(json_string_value(json_object_get(l, "name")), "local");
    cr_assert(json_is_true(json_object_get(l, "default")));
    cr_assert_str_eq(json_string_value(json_object_get(l, "isolation")),
                     "bwrap", "%s", r.body);
    cr_assert(json_is_true(json_object_get(l, "ready")), "%s", r.body);
    cr_assert_str_eq(json_string_value(json_object_get(l, "network")), "host");
    cr_assert_str_eq(json_string_value(json_object_get(l, "run_as")),
                     geteuid() == 0 ? "dsbroker-job"
                                    : getpwuid(geteuid())->pw_name);
    cr_assert_str_eq(json_string_value(json_object_get(l, "aws_credentials")),
                     "none");
    cr_assert_eq(json_array_size(json_object_get(l, "networks")), 4);
    cr_assert_str_eq(json_string_value(json_object_get(e, "isolation")),
                     "remote");
    cr_assert(json_is_false(json_object_get(e, "default")));
    cr_assert_null(strstr(r.body, "arn:aws"), "%s", r.body);
    cr_assert_null(strstr(r.body, "s3://bucket"), "%s", r.body);
    json_decref(j);
    t_free(&r);
}

Test(routes, sources_and_health)
{
    struct t_resp r = t_get("/v1/sources");
    json_t *j = t_json(&r), *it;
    size_t i, n = 0;

    cr_assert_eq(r.status, 200);
    json_array_foreach(json_object_get(j, "items"), i, it) n +=
        strcmp(json_string_value(json_object_get(it, "name")), "main") == 0;
    cr_assert_eq(n, 1, "%s", r.body);
    cr_assert_eq(json_array_size(json_object_get(j, "items")), 6);
    json_decref(j);
    t_free(&r);
    r = t_get("/v1/sources/main");
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert(strstr(r.body, "\"health\":{"), "%s", r.body);
    cr_assert(strstr(r.body, "\"ok\":true"), "%s", r.body);
    cr_assert_null(strstr(r.body, T_PASSWORD));
    t_free(&r);
    r = t_get("/v1/sources/off");
    cr_assert_eq(r.status, 200);
    cr_assert(strstr(r.body, "\"state\":\"disabled\""), "%s", r.body);
    cr_assert(strstr(r.body, "\"ok\":false"), "%s", r.body);
    t_free(&r);
    r = t_get("/v1/sources/nope");
    t_problem(&r, 404, "not_found");
    t_free(&r);
}

Test(routes, check_and_errors_of_disabled_source)
{
    struct t_resp r = t_req("POST", "/v1/sources/main/check", NULL, NULL);
    json_t *j;

    cr_assert_eq(r.status, 200, "%s", r.body);
    j = t_json(&r);
    cr_assert(json_is_true(json_object_get(j, "ok")), "%s", r.body);
    cr_assert(json_is_integer(json_object_get(j, "calls")), "%s", r.body);
    json_decref(j);
    t_free(&r);
    r = t_req("POST", "/v1/sources/off/check", NULL, NULL);
    t_problem(&r, 503, "unavailable");
    cr_assert(strstr(r.body, "\"hint\":\"set enabled: true"), "%s", r.body);
    t_free(&r);
    r = t_get("/v1/sources/off/databases");
    t_problem(&r, 503, "unavailable");
    t_free(&r);
}

Test(routes, listings_and_describe)
{
    struct t_resp r = t_get("/v1/sources/main/databases");
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert(strstr(r.body, "\"sales\""));
    t_free(&r);
    r = t_get("/v1/sources/main/databases/sales/schemas");
    cr_assert(strstr(r.body, "\"public\""), "%s", r.body);
    t_free(&r);
    r = t_get("/v1/sources/lake/databases/analytics/schemas");
    cr_assert(strstr(r.body, "\"default\""), "%s", r.body);
    t_free(&r);
    r = t_get("/v1/sources/main/databases/sales/schemas/public/tables");
    cr_assert_eq(r.status, 200);
    cr_assert(strstr(r.body, "\"orders\"") && strstr(r.body, "\"columns\""));
    t_free(&r);
    r = t_get("/v1/sources/main/databases/sales/schemas/public/tables/orders");
    cr_assert_eq(r.status, 200);
    cr_assert(strstr(r.body, "\"amount\""), "%s", r.body);
    t_free(&r);
    r = t_get("/v1/sources/main/databases/sales/schemas/public/tables/nope");
    t_problem(&r, 404, "not_found");
    cr_assert(strstr(r.body, "does not exist"), "%s", r.body);
    t_free(&r);
    r = t_get("/v1/sources/main/databases/sales/schemas/bad/tables");
    t_problem(&r, 500, "internal");
    cr_assert(strstr(r.body, "malformed"), "%s", r.body);
    t_free(&r);
}

Test(routes, paging_and_filter)
{
    char path[512] = "/v1/sources/main/databases/big/schemas/s/tables"
                     "?page_size=30";
    size_t total = 0, pages = 0, i;
    json_t *seen = json_object(), *it;

    for (;;) {
        struct t_resp r = t_get(path);
        json_t *j = t_json(&r);
        const char *next =
            json_string_value(json_object_get(j, "next_page_token"));
        cr_assert_eq(r.status, 200);
        total += json_array_size(json_object_get(j, "items"));
        pages++;
        cr_assert_leq(pages, 4, "more pages than tables: %s", r.body);
        json_array_foreach(json_object_get(j, "items"), i, it)
        {
            const char *name = json_string_value(json_object_get(it, "name"));
            cr_assert(name && !json_object_get(seen, name),
                      "%s listed twice (page %zu)", name, pages);
            json_object_set_new(seen, name, json_true());
        }
        if (next)
            snprintf(path, sizeof(path),
                     "/v1/sources/main/databases/big/"
                     "schemas/s/tables?page_size=30&page_token=%s",
                     next);
        json_decref(j);
        t_free(&r);
        if (!next)
            break;
    }
    cr_assert_eq(total, 100);
    cr_assert_eq(pages, 4);
    cr_assert_eq(json_object_size(seen), 100);
    json_decref(seen);
    {
        struct t_resp r = t_get("/v1/sources/main/databases/big/schemas/s/"
                                "tables?q=T09");
        json_t *j = t_json(&r);
        cr_assert_eq(json_array_size(json_object_get(j, "items")), 10);
        json_array_foreach(json_object_get(j, "items"), i, it)
        {
            char want[32];
            snprintf(want, sizeof(want), "t09%zu", i);
            cr_assert_str_eq(json_string_value(json_object_get(it, "name")),
                             want, "%s", r.body);
        }
        json_decref(j);
        t_free(&r);
        r = t_get("/v1/sources/main/databases/big/schemas/s/tables"
                  "?page_size=0");
        t_problem(&r, 400, "invalid");
        t_free(&r);
        r = t_get("/v1/sources/main/databases/big/schemas/s/tables"
                  "?page_size=abc");
        t_problem(&r, 400, "invalid");
        t_free(&r);
    }
}

Test(routes, etag_304_and_cache)
{
    const char *p = "/v1/sources/main/databases/sales/schemas/public/tables";
    struct t_resp r = t_get(p);
    char *etag = t_header(&r, "ETag"), *xc = t_header(&r, "X-Cache");
    char inm[128], *miss = strdup(r.body), *again;
    json_t *j;
    long before;

    cr_assert(etag && xc);
    cr_assert_str_eq(xc, "miss");
    cr_assert(strstr(miss, "\"orders\""), "%s", miss);
    free(xc);
    t_free(&r);
    r = t_get(p);
    xc = t_header(&r, "X-Cache");
    again = t_header(&r, "ETag");
    cr_assert_str_eq(xc, "hit");
    cr_assert_str_eq(r.body, miss, "the hit answered another body");
    cr_assert_str_eq(again, etag);
    free(xc);
    free(again);
    t_free(&r);
    snprintf(inm, sizeof(inm), "If-None-Match: W/\"x\", %s", etag);
    r = t_req("GET", p, (const char *const[]){inm, NULL}, NULL);
    cr_assert_eq(r.status, 304);
    cr_assert_eq(r.len, 0);
    again = t_header(&r, "ETag");
    cr_assert_str_eq(again, etag, "a 304 names the entity it stands for");
    free(again);
    t_free(&r);
    /* refresh flushes: the next request calls the plugin again */
    before = t_calls("main");
    r = t_get(p);
    cr_assert_eq(t_calls("main"), before, "a cached answer called the plugin");
    t_free(&r);
    r = t_req("POST", "/v1/sources/main/refresh", NULL, NULL);
    cr_assert_eq(r.status, 200, "%s", r.body);
    j = t_json(&r);
    cr_assert_str_eq(json_string_value(json_object_get(j, "source")), "main");
    cr_assert(json_is_true(json_object_get(j, "flushed")), "%s", r.body);
    json_decref(j);
    t_free(&r);
    r = t_get(p);
    cr_assert_eq(t_calls("main"), before + 1);
    xc = t_header(&r, "X-Cache");
    cr_assert_str_eq(xc, "miss");
    cr_assert_str_eq(r.body, miss, "the reloaded answer differs");
    free(xc);
    t_free(&r);
    free(miss);
    free(etag);
}

Test(routes, ttl_zero_source_is_not_cached)
{
    const char *p = "/v1/sources/nocache/databases";
    long before = t_calls("nocache");
    struct t_resp r = t_get(p);

    t_free(&r);
    r = t_get(p);
    t_free(&r);
    cr_assert_eq(t_calls("nocache"), before + 2);
}

static void *cold_get(void *arg)
{
    struct t_resp r = t_get(arg);
    long status = r.status;

    t_free(&r);
    return (void *)status;
}

struct got {
    const char *path;
    struct t_resp r;
};

static void *get_into(void *arg)
{
    struct got *g = arg;

    g->r = t_get(g->path);
    return NULL;
}

/* 16 concurrent cold requests: one plugin call, and every one of them gets
 * its answer. */
Test(routes, single_flight)
{
    const char *p = "/v1/sources/slow/databases/sales/schemas/public/tables";
    pthread_t th[16];
    struct got g[16];
    long before = t_calls("slow");

    for (int i = 0; i < 16; i++) {
        g[i].path = p;
        pthread_create(&th[i], NULL, get_into, &g[i]);
    }
    for (int i = 0; i < 16; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < 16; i++) {
        cr_assert_eq(g[i].r.status, 200);
        cr_assert(strstr(g[i].r.body, "\"orders\""), "%s", g[i].r.body);
        cr_assert_str_eq(g[i].r.body, g[0].r.body);
    }
    for (int i = 0; i < 16; i++)
        t_free(&g[i].r);
    cr_assert_eq(t_calls("slow"), before + 1,
                 "16 concurrent cold requests made %ld plugin calls",
                 t_calls("slow") - before);
}

/* An error is answered from the cache for error_ttl_seconds (2 s in the
 * fixture), then the plugin is asked again.  The cache runs on the test's
 * clock, moved forward instead of slept through. */
Test(routes, errors_are_cached_briefly)
{
    const char *p = "/v1/sources/main/databases/nope/schemas";
    long before;
    struct t_resp r;

    t_stop();
    t_start_clocked(NULL, t_clock);
    before = t_calls("main");
    r = t_get(p);
    t_problem(&r, 404, "not_found");
    t_free(&r);
    r = t_get(p);
    t_problem(&r, 404, "not_found");
    t_free(&r);
    cr_assert_eq(t_calls("main"), before + 1);
    t_clock_advance(1999);
    r = t_get(p);
    t_problem(&r, 404, "not_found");
    t_free(&r);
    cr_assert_eq(t_calls("main"), before + 1, "the error expired early");
    /* past error_ttl_seconds (2 s) the plugin is asked again */
    t_clock_advance(1);
    r = t_get(p);
    t_problem(&r, 404, "not_found");
    t_free(&r);
    cr_assert_eq(t_calls("main"), before + 2, "the error outlived its TTL");
}

Test(routes, not_found_and_method_not_allowed)
{
    struct t_resp r = t_get("/v2/nothing");
    char *allow;

    t_problem(&r, 404, "not_found");
    t_free(&r);
    r = t_req("DELETE", "/v1/sources", NULL, NULL);
    t_problem(&r, 405, "method_not_allowed");
    allow = t_header(&r, "Allow");
    cr_assert(allow && strstr(allow, "GET"), "%s", allow);
    free(allow);
    t_free(&r);
    r = t_req("PUT", "/v1/sessions/x", NULL, "{}");
    t_problem(&r, 405, "method_not_allowed");
    allow = t_header(&r, "Allow");
    cr_assert(allow && strstr(allow, "GET") && strstr(allow, "DELETE") &&
                  !strstr(allow, "PUT"),
              "%s", allow);
    free(allow);
    t_free(&r);
}

Test(routes, malformed_paths)
{
    struct t_resp r = t_get("/v1/sources/ma%zzin");
    t_problem(&r, 400, "invalid");
    t_free(&r);
    r = t_get("/v1/sources/%ff%fe");
    t_problem(&r, 400, "invalid");
    t_free(&r);
    r = t_get("/v1/sources/a%00b");
    t_problem(&r, 400, "invalid");
    t_free(&r);
    r = t_get("/v1//sources");
    t_problem(&r, 400, "invalid");
    t_free(&r);
}

Test(routes, odd_identifiers_in_paths)
{
    const char *db = "we%2Fird%20%22db%22", *sc = "sch%C3%A9ma%20%C3%BC";
    char p[512];
    struct t_resp r;

    snprintf(p, sizeof(p), "/v1/sources/main/databases/%s/schemas", db);
    r = t_get(p);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert(strstr(r.body, "sch\xc3\xa9ma \xc3\xbc"), "%s", r.body);
    t_free(&r);
    snprintf(p, sizeof(p), "/v1/sources/main/databases/%s/schemas/%s/tables",
             db, sc);
    r = t_get(p);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert(strstr(r.body, "Order Items/2024 'q'"), "%s", r.body);
    t_free(&r);
    snprintf(p, sizeof(p),
             "/v1/sources/main/databases/%s/schemas/%s/tables/"
             "Order%%20Items%%2F2024%%20%%27q%%27",
             db, sc);
    r = t_get(p);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert(strstr(r.body, "Line `No`"), "%s", r.body);
    t_free(&r);
}

Test(routes, plugins_and_schema)
{
    struct t_resp r = t_get("/v1/plugins");
    cr_assert_eq(r.status, 200);
    cr_assert(strstr(r.body, "\"fixture\"") && strstr(r.body, "\"postgres\"") &&
                  strstr(r.body, "\"glue\""),
              "%s", r.body);
    t_free(&r);
    r = t_get("/v1/plugins/fixture/schema");
    cr_assert_eq(r.status, 200);
    cr_assert(strstr(r.body, "data_file"), "%s", r.body);
    t_free(&r);
    r = t_get("/v1/plugins/nope/schema");
    t_problem(&r, 404, "not_found");
    t_free(&r);
}

Test(routes, head_and_request_id)
{
    struct t_resp r =
        t_req("HEAD", "/v1/sources",
              (const char *const[]){"X-Request-Id: trace-42", NULL}, NULL);
    char *id = t_header(&r, "X-Request-Id");
    char *ct = t_header(&r, "Content-Type");
    char *cl = t_header(&r, "Content-Length"), want[32];

    cr_assert_eq(r.status, 200);
    cr_assert_eq(r.len, 0);
    cr_assert_str_eq(id, "trace-42");
    cr_assert_str_eq(ct, "application/json");
    free(id);
    free(ct);
    t_free(&r);
    /* HEAD announces the body GET sends */
    r = t_get("/v1/sources");
    snprintf(want, sizeof(want), "%zu", r.len);
    cr_assert_str_eq(cl, want);
    free(cl);
    t_free(&r);
}

Test(routes, reload_good_and_bad)
{
    char *dir = t_tmpdir(), cmd[8192],
         *src = t_src("tests/fixtures/confd-http");
    struct t_resp r;

    t_stop();
    snprintf(cmd, sizeof(cmd), "cp -r %s/. %s/", src, dir);
    cr_assert_eq(system(cmd), 0);
    t_start(dir);
    cr_assert_eq(dsb_server_reload(t_srv), 0);
    r = t_get("/readyz");
    cr_assert(strstr(r.body, "\"config_generation\":2"), "%s", r.body);
    t_free(&r);
    t_write(dir, "zz-bad.yaml", "name: broken\nplugin: fixture\nnope: 1\n");
    cr_assert_eq(dsb_server_reload(t_srv), -1);
    r = t_get("/readyz");
    cr_assert(strstr(r.body, "\"config_generation\":2"), "%s", r.body);
    t_free(&r);
    r = t_get("/v1/sources/main/databases");
    cr_assert_eq(r.status, 200, "the old configuration stopped serving");
    t_free(&r);
    free(src);
    free(dir);
}

/* A source's error as problem+json: status, code, message, hint,
 * retryable and upstream from the plugin's error value. */
static void assert_source_error(const char *database, long status,
                                const char *code, const char *message,
                                const char *hint, int retryable,
                                const char *upstream)
{
    char p[256];
    struct t_resp r;
    json_t *j;

    snprintf(p, sizeof(p), "/v1/sources/main/databases/%s/schemas", database);
    r = t_get(p);
    t_problem(&r, status, code);
    j = t_json(&r);
    cr_assert(strncmp(json_string_value(json_object_get(j, "message")), message,
                      strlen(message)) == 0,
              "%s", r.body);
    cr_assert_str_eq(json_string_value(json_object_get(j, "hint")), hint);
    cr_assert_eq(json_is_true(json_object_get(j, "retryable")), retryable, "%s",
                 r.body);
    cr_assert_str_eq(json_string_value(json_object_get(j, "upstream")),
                     upstream);
    cr_assert(strstr(json_string_value(json_object_get(j, "detail")),
                     "failed on purpose"),
              "%s", r.body);
    cr_assert_null(strstr(r.body, T_PASSWORD), "%s", r.body);
    json_decref(j);
    t_free(&r);
}

Test(routes, upstream_failures_map_to_429_502_504)
{
    struct t_resp r;
    char *ra;

    assert_source_error("fail-throttled", 429, "throttled",
                        "the catalog is throttling requests",
                        "slow down and retry", 1, "ThrottlingException");
    assert_source_error("fail-upstream", 502, "upstream",
                        "the catalog server failed",
                        "look at the catalog server's log", 0, "XX000");
    assert_source_error("fail-auth", 502, "auth",
                        "the catalog refused the credentials",
                        "check the password reference", 0, "28P01");
    assert_source_error("fail-timeout", 504, "timeout",
                        "the catalog did not answer in time",
                        "retry, or raise the timeout", 1, "57014");
    /* 429 says when to come back: the error TTL (2 s in the fixture) */
    r = t_get("/v1/sources/main/databases/fail-throttled/schemas");
    ra = t_header(&r, "Retry-After");
    cr_assert_str_eq(ra, "2", "%s", r.headers);
    free(ra);
    t_free(&r);
    r = t_get("/v1/sources/main/databases/fail-upstream/schemas");
    cr_assert_null(t_header(&r, "Retry-After"));
    t_free(&r);
    /* the password the plugin put in its message is redacted */
    r = t_get("/v1/sources/main/databases/fail-auth/schemas");
    cr_assert(strstr(r.body, "[REDACTED]"), "%s", r.body);
    t_free(&r);
}

/* The value of a metric line "name value" in /metrics, or -1. */
static long metric(const char *name)
{
    struct t_resp r = t_get("/metrics");
    char needle[128];
    const char *p;
    long v = -1;

    snprintf(needle, sizeof(needle), "\n%s ", name);
    p = strstr(r.body, needle);
    if (p)
        v = strtol(p + strlen(needle), NULL, 10);
    t_free(&r);
    return v;
}

/* Restarts the server on a copy of the fixture with n call threads and a
 * slow source that takes 3 s a call. */
static void restart_with_call_threads(int n)
{
    char *dir = t_tmpdir(), cmd[8192],
         *src = t_src("tests/fixtures/confd-http");

    t_stop();
    snprintf(cmd, sizeof(cmd),
             "cp -r %s/. %s/ && sed -i 's/^limits:$/"
             "limits:\\n  call_threads: %d/' %s/broker.yaml && sed -i "
             "'s/^delay_ms: .*/delay_ms: 3000/' %s/slow.yaml",
             src, dir, n, dir, dir);
    cr_assert_eq(system(cmd), 0);
    t_start(dir);
    free(src);
    free(dir);
}

/* Two call threads, four slow requests: two run, two wait; then none. */
Test(routes, call_pool_gauges)
{
    static const char *const paths[] = {
        "/v1/sources/slow/databases",
        "/v1/sources/slow/databases/sales/schemas",
        "/v1/sources/slow/databases/sales/schemas/public/tables",
        "/v1/sources/slow/databases/sales/schemas/public/tables/orders"};
    pthread_t th[4];
    int seen = 0;

    restart_with_call_threads(2);
    cr_assert_eq(metric("dsb_call_pool_threads"), 2);
    cr_assert_eq(metric("dsb_call_pool_busy"), 0);
    cr_assert_eq(metric("dsb_call_pool_queued"), 0);
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, cold_get, (void *)paths[i]);
    /* each call takes 3 s: two wait for the first 3 s, the others run */
    for (int i = 0; i < 3000 && !seen; i++) {
        seen = metric("dsb_call_pool_busy") == 2 &&
               metric("dsb_call_pool_queued") == 2;
        usleep(2000);
    }
    cr_assert(seen, "never saw 2 busy and 2 queued");
    for (int i = 0; i < 4; i++) {
        void *st;
        pthread_join(th[i], &st);
        cr_assert_eq((long)st, 200);
    }
    cr_assert_eq(metric("dsb_call_pool_busy"), 0);
    cr_assert_eq(metric("dsb_call_pool_queued"), 0);
}

static atomic_int slow_done;

static void *slow_get(void *arg)
{
    void *st = cold_get(arg);

    atomic_store(&slow_done, 1);
    return st;
}

/* A fresh cached answer is sent by the worker itself: it does not wait for
 * a call thread, even when the only one is busy with a slow plugin call. */
Test(routes, cached_answers_do_not_wait_for_the_call_pool)
{
    const char *cached = "/v1/sources/main/databases/sales/schemas";
    struct t_resp r;
    pthread_t th;
    void *st;
    int busy = 0;

    restart_with_call_threads(1);
    r = t_get(cached); /* a miss: loaded on the call thread */
    cr_assert_eq(r.status, 200, "%s", r.body);
    t_free(&r);
    atomic_store(&slow_done, 0);
    pthread_create(&th, NULL, slow_get, (void *)"/v1/sources/slow/databases");
    for (int i = 0; i < 3000 && !busy; i++) {
        busy = metric("dsb_call_pool_busy") == 1;
        usleep(1000);
    }
    cr_assert(busy, "the slow call never occupied the call thread");
    r = t_get(cached);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert(strstr(r.headers, "X-Cache: hit"), "%s", r.headers);
    cr_assert_not(atomic_load(&slow_done),
                  "the cached answer waited for the slow call");
    t_free(&r);
    pthread_join(th, &st);
    cr_assert_eq((long)st, 200);
}

/* The first body each path answered in this test. */
static struct {
    const char *path;
    char *body;
} first[3];

/* GET path; asserts 200, the X-Cache state and, hit or miss, the body the
 * path answered first: an entry is never served for another key. */
static void get_cached(const char *path, const char *state)
{
    struct t_resp r = t_get(path);
    char *xc = t_header(&r, "X-Cache");
    size_t i = 0;

    cr_assert_eq(r.status, 200, "%s: %s", path, r.body);
    cr_assert(xc && strcmp(xc, state) == 0, "%s: X-Cache %s, want %s", path, xc,
              state);
    while (i < 3 && first[i].path && strcmp(first[i].path, path) != 0)
        i++;
    cr_assert_lt(i, 3);
    if (!first[i].path) {
        first[i].path = path;
        first[i].body = strdup(r.body);
    }
    cr_assert_str_eq(r.body, first[i].body, "%s (%s) answered another body",
                     path, state);
    free(xc);
    t_free(&r);
}

/* cache.max_entries: 2 keeps the two most recently used answers. */
Test(routes, cache_evicts_least_recently_used)
{
    const char *a = "/v1/sources/main/databases";
    const char *b = "/v1/sources/main/databases/sales/schemas";
    const char *c = "/v1/sources/main/databases/sales/schemas/public/tables";
    char *dir = t_tmpdir(), cmd[8192],
         *src = t_src("tests/fixtures/confd-http");

    t_stop();
    snprintf(cmd, sizeof(cmd),
             "cp -r %s/. %s/ && sed -i 's/max_entries: "
             ".*/max_entries: 2/' %s/broker.yaml",
             src, dir, dir);
    cr_assert_eq(system(cmd), 0);
    t_start(dir);
    get_cached(a, "miss");
    get_cached(b, "miss");
    cr_assert_eq(metric("dsb_cache_evictions_total"), 0);
    get_cached(a, "hit"); /* a is now the most recent: b goes next */
    get_cached(c, "miss");
    cr_assert_eq(metric("dsb_cache_evictions_total"), 1);
    cr_assert_eq(metric("dsb_cache_entries"), 2);
    get_cached(a, "hit");
    get_cached(c, "hit");
    get_cached(b, "miss"); /* evicts a, the least recent of a and c */
    cr_assert_eq(metric("dsb_cache_evictions_total"), 2);
    get_cached(c, "hit");
    get_cached(a, "miss");
    cr_assert_eq(metric("dsb_cache_evictions_total"), 3);
    cr_assert_eq(metric("dsb_cache_entries"), 2);
    for (size_t i = 0; i < 3; i++)
        free(first[i].body);
    free(src);
    free(dir);
}

/* Search finds what was listed, with the database and schema of the
 * listing it came from (read back from the cache's keys), by name or by
 * comment, and nothing before anything was listed. */
Test(routes, search_over_what_was_listed)
{
    struct t_resp r = t_get("/v1/search?q=ORDER");
    json_t *j = t_json(&r), *it;
    size_t i, n = 0;

    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_eq(json_array_size(json_object_get(j, "items")), 0, "%s", r.body);
    json_decref(j);
    t_free(&r);
    r = t_get("/v1/sources/main/databases/sales/schemas/public/tables"
              "?page_size=3");
    cr_assert_eq(r.status, 200, "%s", r.body);
    t_free(&r);
    r = t_get("/v1/search?q=ORDER");
    j = t_json(&r);
    json_array_foreach(json_object_get(j, "items"), i, it)
    {
        cr_assert_str_eq(json_string_value(json_object_get(it, "source")),
                         "main");
        cr_assert_str_eq(json_string_value(json_object_get(it, "database")),
                         "sales");
        cr_assert_str_eq(json_string_value(json_object_get(it, "schema")),
                         "public");
        cr_assert_str_eq(json_string_value(json_object_get(it, "match")),
                         "name");
        n++;
    }
    cr_assert_eq(n, 2, "orders and Order Items: %s", r.body);
    json_decref(j);
    t_free(&r);
    r = t_get("/v1/search?q=a%20view");
    j = t_json(&r);
    it = json_array_get(json_object_get(j, "items"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(it, "table")),
                     "customers", "%s", r.body);
    cr_assert_str_eq(json_string_value(json_object_get(it, "match")),
                     "comment");
    json_decref(j);
    t_free(&r);
}
