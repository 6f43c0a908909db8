/* The original backend's routes and response shapes. */
#include <criterion/criterion.h>

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

TestSuite(compat, .init = setup, .fini = teardown, .timeout = 60);

Test(compat, postgres_browse)
{
    struct t_resp r = t_get("/postgres/connections");
    json_t *j = t_json(&r), *c, *t;

    cr_assert_eq(r.status, 200);
    cr_assert(json_is_true(json_object_get(j, "success")));
    c = json_array_get(json_object_get(j, "connections"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(c, "name")), "pgmain");
    cr_assert(json_object_get(c, "description") &&
              json_is_true(json_object_get(c, "enabled")));
    cr_assert_eq(json_array_size(json_object_get(j, "connections")), 1);
    json_decref(j);
    t_free(&r);
    r = t_get("/postgres/pgmain/databases");
    cr_assert(strstr(r.body, "\"success\":true,\"databases\":[\"sales\","
                             "\"hr\""),
              "%s", r.body);
    t_free(&r);
    r = t_get("/postgres/pgmain/schemas/sales");
    cr_assert(strstr(r.body, "\"schemas\":[\"public\",\"bad\"]"), "%s", r.body);
    t_free(&r);
    r = t_get("/postgres/pgmain/tables/sales/public");
    j = t_json(&r);
    t = json_array_get(json_object_get(j, "tables"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(t, "name")), "orders");
    cr_assert_str_eq(json_string_value(json_object_get(t, "schema")), "public");
    c = json_array_get(json_object_get(t, "columns"), 1);
    /* the base type name, as the original gave it (/v1 keeps modifiers) */
    cr_assert_str_eq(json_string_value(json_object_get(c, "type")), "numeric");
    cr_assert(json_is_true(json_object_get(c, "nullable")));
    json_decref(j);
    t_free(&r);
    /* all pages, not just the first */
    r = t_get("/postgres/pgmain/tables/big/s");
    j = t_json(&r);
    cr_assert_eq(json_array_size(json_object_get(j, "tables")), 100);
    json_decref(j);
    t_free(&r);
}

/* A type as the original gave it: "numeric(10,2)" -> "numeric". */
static json_t *type_without_modifiers(const char *t)
{
    char buf[256];
    size_t n = 0;
    int depth = 0;

    for (; *t && n < sizeof(buf) - 1; t++) {
        if (*t == '(' || *t == ')')
            depth += *t == '(' ? 1 : -1;
        else if (depth == 0 && !(*t == ' ' && (n == 0 || buf[n - 1] == ' ')))
            buf[n++] = *t;
    }
    while (n > 0 && buf[n - 1] == ' ')
        n--;
    return json_stringn(buf, n);
}

/* The compat answer the /v1 listing of path gives, every page of
 * page_size, shaped as the original backend's (pg: its tables route,
 * else the Glue one). */
static json_t *reshaped(const char *path, const char *schema, int pg)
{
    json_t *tables = json_array(), *doc, *t, *c;
    char *token = NULL;
    size_t i, k;

    do {
        char url[512];
        struct t_resp r;
        snprintf(url, sizeof(url), "%s?page_size=7%s%s", path,
                 token ? "&page_token=" : "", token ? token : "");
        r = t_get(url);
        cr_assert_eq(r.status, 200, "%s", r.body);
        doc = t_json(&r);
        t_free(&r);
        json_array_foreach(json_object_get(doc, "items"), i, t)
        {
            json_t *cols = json_array(), *o;
            json_array_foreach(json_object_get(t, "columns"), k, c)
            {
                const char *type =
                    json_string_value(json_object_get(c, "source_type"));
                o = json_pack(
                    "{s:O, s:o}", "name", json_object_get(c, "name"), "type",
                    pg ? type_without_modifiers(type) : json_string(type));
                if (pg)
                    json_object_set(o, "nullable",
                                    json_object_get(c, "nullable"));
                json_array_append_new(cols, o);
            }
            if (pg)
                o = json_pack("{s:O, s:s, s:o}", "name",
                              json_object_get(t, "name"), "schema", schema,
                              "columns", cols);
            else
                o = json_pack(
                    "{s:O, s:s, s:o}", "name", json_object_get(t, "name"),
                    "location",
                    json_string_value(json_object_get(t, "location"))
                        ? json_string_value(json_object_get(t, "location"))
                        : "",
                    "columns", cols);
            json_array_append_new(tables, o);
        }
        free(token);
        token = json_string_value(json_object_get(doc, "next_page_token"))
                    ? strdup(json_string_value(
                          json_object_get(doc, "next_page_token")))
                    : NULL;
        json_decref(doc);
    } while (token);
    return json_pack("{s:b, s:o}", "success", 1, "tables", tables);
}

/* The single answers of the tables routes, built a page at a time (and
 * the PostgreSQL one kept in the cache as bytes), are the /v1 listing
 * reshaped, byte for byte the serialisation of that tree; a second call
 * is served the same bytes from the cache. */
Test(compat, table_answers_are_the_listing_reshaped)
{
    static const struct {
        const char *route, *listing, *schema;
        int pg;
    } cases[] = {
        {"/postgres/pgmain/tables/big/s",
         "/v1/sources/pgmain/databases/big/schemas/s/tables", "s", 1},
        {"/postgres/pgmain/tables/sales/public",
         "/v1/sources/pgmain/databases/sales/schemas/public/tables", "public",
         1},
        {"/glue/tables/analytics",
         "/v1/sources/lake/databases/analytics/schemas/default/tables",
         "default", 0},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        struct t_resp r = t_get(cases[i].route), again;
        json_t *want = reshaped(cases[i].listing, cases[i].schema, cases[i].pg);
        char *text = json_dumps(want, JSON_COMPACT);

        cr_assert_eq(r.status, 200, "%s", r.body);
        cr_assert_str_eq(r.body, text, "%s", cases[i].route);
        again = t_get(cases[i].route);
        cr_assert_str_eq(again.body, r.body);
        free(text);
        json_decref(want);
        t_free(&r);
        t_free(&again);
    }
}

Test(compat, errors_keep_success_false)
{
    struct t_resp r = t_get("/postgres/ghost/databases");
    json_t *j;

    t_problem(&r, 404, "not_found");
    j = t_json(&r);
    cr_assert(json_is_false(json_object_get(j, "success")));
    cr_assert(json_is_string(json_object_get(j, "error")));
    json_decref(j);
    t_free(&r);
    r = t_get("/postgres/main/databases"); /* not a postgres source */
    t_problem(&r, 404, "not_found");
    t_free(&r);
    r = t_get("/postgres/pgmain/schemas/nope");
    t_problem(&r, 404, "not_found");
    t_free(&r);
    /* a missing database stays an error; a missing schema is no table */
    r = t_get("/postgres/pgmain/tables/nope/public");
    t_problem(&r, 404, "not_found");
    t_free(&r);
    r = t_get("/postgres/pgmain/tables/sales/ghost_schema");
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert(strstr(r.body, "{\"success\":true,\"tables\":[]}"), "%s", r.body);
    t_free(&r);
}

/* Asserts a compat problem: status, and the success/error the frontend
 * reads (its `data.error`, never the numeric `status`). */
static void compat_problem(struct t_resp *r, long status)
{
    json_t *j = t_json(r);

    cr_assert_eq(r->status, status, "%s", r->body);
    cr_assert(json_is_false(json_object_get(j, "success")), "%s", r->body);
    cr_assert(json_string_length(json_object_get(j, "error")) > 0, "%s",
              r->body);
    json_decref(j);
}

Test(compat, unknown_routes_and_methods_keep_success_false)
{
    static const char *const paths[][2] = {
        {"GET", "/postgres/pgmain"},           {"GET", "/glue"},
        {"GET", "/sessions/s1/history"},       {"GET", "/spark/generate-x"},
        {"DELETE", "/postgres/connections"},   {"GET", "/upload-csv"},
        {"PUT", "/sessions/s1/select-tables"}, {"POST", "/health"},
        {"GET", "/spark/upload-csv"},
    };

    for (size_t i = 0; i < sizeof(paths) / sizeof(*paths); i++) {
        struct t_resp r = t_req(paths[i][0], paths[i][1], NULL, NULL);
        char *allow = t_header(&r, "Allow");
        compat_problem(&r, allow ? 405 : 404);
        free(allow);
        t_free(&r);
    }
    /* /v1 problems stay plain problem+json */
    {
        struct t_resp r = t_get("/v1/nope");
        cr_assert(!strstr(r.body, "\"success\""), "%s", r.body);
        t_free(&r);
    }
}

Test(compat, select_postgres_tables)
{
    struct t_resp r = t_post("/sessions/spark-session-abc/select-postgres-"
                             "tables",
                             "{\"connection_name\":\"pgmain\","
                             "\"tables\":[{\"database\":\"sales\",\"schema\":"
                             "\"public\",\"table\":\"orders\"}]}");
    json_t *j = t_json(&r), *t;

    cr_assert_eq(r.status, 200, "%s", r.body);
    t = json_array_get(json_object_get(j, "selected_tables"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(t, "connection_name")),
                     "pgmain");
    cr_assert_eq(json_array_size(json_object_get(t, "columns")), 2);
    json_decref(j);
    t_free(&r);
    /* a second call replaces the postgres selection */
    r = t_post("/sessions/spark-session-abc/select-postgres-tables",
               "{\"connection_name\":\"pgmain\",\"tables\":[{\"database\":"
               "\"sales\",\"schema\":\"public\",\"table\":\"customers\"}]}");
    cr_assert_eq(r.status, 200, "%s", r.body);
    t_free(&r);
    r = t_get("/v1/sessions/spark-session-abc/selections");
    cr_assert(strstr(r.body, "customers") && !strstr(r.body, "orders"), "%s",
              r.body);
    t_free(&r);
    /* a missing table is skipped and reported, the others selected */
    r = t_post("/sessions/s1/select-postgres-tables",
               "{\"connection_name\":"
               "\"pgmain\",\"tables\":[{\"database\":\"sales\",\"schema\":"
               "\"public\",\"table\":\"ghost\"},{\"database\":\"sales\","
               "\"schema\":\"public\",\"table\":\"orders\"}]}");
    cr_assert_eq(r.status, 200, "%s", r.body);
    j = t_json(&r);
    cr_assert(json_is_true(json_object_get(j, "success")));
    cr_assert_eq(json_array_size(json_object_get(j, "selected_tables")), 1);
    t = json_array_get(json_object_get(j, "missing_tables"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(t, "table")), "ghost");
    cr_assert(json_string_length(json_object_get(t, "error")) > 0);
    json_decref(j);
    t_free(&r);
    r = t_get("/v1/sessions/s1/selections");
    cr_assert(strstr(r.body, "orders") && !strstr(r.body, "ghost"), "%s",
              r.body);
    t_free(&r);
    r = t_post("/sessions/s1/select-postgres-tables", "{\"tables\":[]}");
    t_problem(&r, 422, "invalid");
    t_free(&r);
}

Test(compat, glue)
{
    struct t_resp r = t_get("/glue/databases");
    json_t *j, *t;

    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert(strstr(r.body, "\"databases\":[\"analytics\"]"), "%s", r.body);
    t_free(&r);
    r = t_get("/glue/tables/analytics");
    j = t_json(&r);
    t = json_array_get(json_object_get(j, "tables"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(t, "name")), "events");
    cr_assert_str_eq(json_string_value(json_object_get(t, "location")),
                     "s3://lake/events/");
    /* every column, not the first five */
    cr_assert_eq(json_array_size(json_object_get(t, "columns")), 7);
    json_decref(j);
    t_free(&r);
    r = t_get("/glue/tables/nope");
    t_problem(&r, 404, "not_found");
    t_free(&r);
    r = t_post("/sessions/spark-session-g/select-tables",
               "{\"session_id\":"
               "\"spark-session-g\",\"tables\":[{\"database\":\"analytics\","
               "\"table\":\"events\"}]}");
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert(strstr(r.body, "\"location\":\"s3://lake/events/\""), "%s",
              r.body);
    t_free(&r);
    r = t_get("/v1/sessions/spark-session-g/context");
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert(strstr(r.body, "events_df"), "%s", r.body);
    t_free(&r);
    /* skipped and reported, as the original skipped it: 200 */
    r = t_post("/sessions/spark-session-g/select-tables",
               "{\"tables\":[{"
               "\"database\":\"analytics\",\"table\":\"ghost\"}]}");
    cr_assert_eq(r.status, 200, "%s", r.body);
    j = t_json(&r);
    cr_assert_eq(json_array_size(json_object_get(j, "selected_tables")), 0);
    t = json_array_get(json_object_get(j, "missing_tables"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(t, "table")), "ghost");
    json_decref(j);
    t_free(&r);
    /* the path names the session; a session_id of another type is refused */
    r = t_post("/sessions/spark-session-g/select-tables", "{\"session_id\":7,"
                                                          "\"tables\":[]}");
    t_problem(&r, 422, "invalid");
    t_free(&r);
}

Test(compat, reset_health_and_spark_status)
{
    struct t_resp r = t_post("/sessions/spark-session-r/select-tables",
                             "{\"tables\":[{\"database\":\"analytics\","
                             "\"table\":\"events\"}]}");
    json_t *j;

    cr_assert_eq(r.status, 200, "%s", r.body);
    t_free(&r);
    /* the frontend posts no body and reads nothing but the status */
    r = t_req("POST", "/sessions/spark-session-r/reset", NULL, NULL);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert(strstr(r.body, "\"success\":true"), "%s", r.body);
    t_free(&r);
    r = t_get("/v1/sessions/spark-session-r/selections");
    cr_assert(strstr(r.body, "\"items\":[]"), "%s", r.body);
    t_free(&r);
    /* an unknown session: nothing to reset, as the original */
    r = t_req("POST", "/sessions/never-seen/reset", NULL, NULL);
    cr_assert_eq(r.status, 200, "%s", r.body);
    t_free(&r);
    r = t_get("/health");
    j = t_json(&r);
    cr_assert_str_eq(json_string_value(json_object_get(j, "status")),
                     "healthy");
    cr_assert(json_is_number(json_object_get(j, "timestamp")));
    json_decref(j);
    t_free(&r);
    /* the badges: lambda_status (local Spark) and emr_status */
    r = t_get("/spark/status");
    cr_assert_eq(r.status, 200, "%s", r.body);
    j = t_json(&r);
    for (int i = 0; i < 2; i++) {
        const char *v = json_string_value(
            json_object_get(j, i ? "emr_status" : "lambda_status"));
        cr_assert(v && (!strcmp(v, "ready") || !strcmp(v, "not_ready")), "%s",
                  r.body);
    }
    cr_assert_eq(json_array_size(json_object_get(j, "executors")), 2);
    json_decref(j);
    t_free(&r);
}

Test(compat, uploads_off_say_how_to_turn_them_on)
{
    struct t_resp r = t_post("/upload-csv", "{\"filename\":\"a.csv\","
                                            "\"content\":\"x\\n1\\n\"}");

    compat_problem(&r, 501);
    cr_assert(strstr(r.body, "compat.uploads_source"), "%s", r.body);
    t_free(&r);
}
