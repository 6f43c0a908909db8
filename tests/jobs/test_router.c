/* Routing: which executor a job lands on, table-driven. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "jobs/router.h"
#include "support.h"

static const char broker_yaml[] =
    "state_dir: /tmp\n"
    "executors:\n"
    "  - name: local\n"
    "    type: local-spark\n"
    "    networks: [local]\n"
    "  - name: standard\n"
    "    type: emr-serverless\n"
    "    networks: [public]\n"
    "    application_id: app-std\n"
    "    execution_role_arn: arn:aws:iam::123456789012:role/job\n"
    "    staging_uri: s3://bucket/staging/\n"
    "  - name: vpc\n"
    "    type: emr-serverless\n"
    "    networks: [public, aurora-vpc]\n"
    "    application_id: app-vpc\n"
    "    execution_role_arn: arn:aws:iam::123456789012:role/job\n"
    "    staging_uri: s3://bucket/staging/\n"
    "    glue_catalog: false\n"
    "  - name: vpc2\n"
    "    type: emr-serverless\n"
    "    networks: [aurora-vpc, public]\n"
    "    application_id: app-vpc2\n"
    "    execution_role_arn: arn:aws:iam::123456789012:role/job\n"
    "    staging_uri: s3://bucket/staging/\n";

static struct dsb_config *cfg;
static struct dsb_diags d;

static void load(const char *yaml)
{
    char *dir = t_tmpdir();

    t_write(dir, "broker.yaml", yaml);
    dsb_diags_init(&d);
    cfg = dsb_config_load_broker(dir, "/tmp", &d);
    if (d.errors)
        dsb_diags_print(&d, stderr);
    cr_assert_eq(d.errors, 0);
    free(dir);
}

static void setup(void)
{
    load(broker_yaml);
}

static void teardown(void)
{
    dsb_config_free(cfg);
    dsb_diags_free(&d);
}

TestSuite(router, .init = setup, .fini = teardown);

struct row {
    const char *what;
    const char *nets[4];
    const char *explicit_executor;
    const char *want;   /* executor, or NULL for a refusal */
    const char *needle; /* substring of the reason or the error message */
};

static const struct row rows[] = {
    {"s3 only",
     {"public"},
     NULL,
     "standard",
     "standard reaches public with 1 network; vpc would also work but "
     "reaches 2"},
    {"glue only", {"public", "public"}, NULL, "standard", "vpc2 would also"},
    {"postgres",
     {"aurora-vpc"},
     NULL,
     "vpc",
     "vpc reaches aurora-vpc with 2 "
     "networks; vpc2 would also work but reaches 2 (tie"},
    {"postgres + s3",
     {"public", "aurora-vpc", "public"},
     NULL,
     "vpc",
     "vpc reaches aurora-vpc, public"},
    {"local csv", {"local"}, NULL, "local", "local reaches local"},
    {"no sources", {NULL}, NULL, "local", "default executor"},
    {"unreachable",
     {"public", "mars-vpc"},
     NULL,
     NULL,
     "no executor reaches network mars-vpc"},
    {"no single executor",
     {"local", "aurora-vpc"},
     NULL,
     NULL,
     "no executor reaches all of the networks aurora-vpc, local"},
    {"explicit ok", {"public"}, "vpc", "vpc", "vpc was requested"},
    {"explicit cannot reach",
     {"aurora-vpc", "public"},
     "standard",
     NULL,
     "executor \"standard\" cannot reach network aurora-vpc"},
    {"explicit unknown", {"public"}, "nope", NULL, "no executor named"},
};

Test(router, table)
{
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const struct row *r = &rows[i];
        struct dsb_route route;
        struct dsb_error err;
        size_t n = 0;
        int rc;

        while (n < 4 && r->nets[n])
            n++;
        rc = dsb_route(cfg, r->nets, n, r->explicit_executor, &route, &err);
        if (r->want) {
            cr_assert_eq(rc, 0, "%s: %s", r->what, err.message);
            cr_assert_str_eq(route.executor, r->want, "%s", r->what);
            cr_assert(strstr(route.reason, r->needle), "%s: reason \"%s\"",
                      r->what, route.reason);
            dsb_route_clear(&route);
        } else {
            cr_assert_eq(rc, -1, "%s: routed to %s", r->what, route.executor);
            cr_assert_eq(err.code, DSB_E_INVALID);
            cr_assert_str_eq(err.upstream, DSB_ROUTE_UPSTREAM);
            cr_assert(strstr(err.message, r->needle), "%s: \"%s\"", r->what,
                      err.message);
            cr_assert_null(route.networks);
        }
    }
}

Test(router, route_json_has_sorted_networks)
{
    const char *nets[] = {"public", "aurora-vpc", "public"};
    struct dsb_route route;
    struct dsb_error err;
    json_t *j;
    char *s;

    cr_assert_eq(dsb_route(cfg, nets, 3, NULL, &route, &err), 0);
    j = dsb_route_json(&route);
    s = json_dumps(json_object_get(j, "networks"), JSON_COMPACT);
    cr_assert_str_eq(s, "[\"aurora-vpc\",\"public\"]");
    cr_assert_str_eq(json_string_value(json_object_get(j, "type")),
                     "emr-serverless");
    free(s);
    json_decref(j);
    dsb_route_clear(&route);
}

Test(router, hint_lists_executors)
{
    const char *nets[] = {"mars-vpc"};
    struct dsb_route route;
    struct dsb_error err;

    cr_assert_eq(dsb_route(cfg, nets, 1, NULL, &route, &err), -1);
    cr_assert(strstr(err.hint, "vpc: public, aurora-vpc"), "%s", err.hint);
}

Test(router, read_targets)
{
    struct dsb_read_target t;

    dsb_read_target_for(dsb_executor_find(cfg, "local"), &t);
    cr_assert_eq(t.caps, DSB_EXEC_LOCAL_FILES);
    cr_assert_str_eq(t.executor_type, "local-spark");
    dsb_read_target_for(dsb_executor_find(cfg, "standard"), &t);
    cr_assert_eq(t.caps, DSB_EXEC_S3_NATIVE | DSB_EXEC_GLUE_CATALOG);
    dsb_read_target_for(dsb_executor_find(cfg, "vpc"), &t);
    cr_assert_eq(t.caps, DSB_EXEC_S3_NATIVE);
    cr_assert_str_eq(t.executor, "vpc");
}

/* A tie goes to the executor declared first, even when the default is
 * among the tied; the default only places jobs that need no network. */
Test(router, tie_goes_to_declared_order_not_default)
{
    struct dsb_route route;
    struct dsb_error err;
    struct dsb_read_target t;
    const char *nets[] = {"public"};

    teardown();
    load("executors:\n"
         "  - {name: a, type: local-spark, networks: [public]}\n"
         "  - {name: b, type: local-spark, networks: [public], s3a: true}\n"
         "  - {name: c, type: local-spark, networks: [public]}\n"
         "default_executor: b\n");
    cr_assert_eq(dsb_route(cfg, nets, 1, NULL, &route, &err), 0);
    cr_assert_str_eq(route.executor, "a");
    cr_assert(strstr(route.reason, "b would also work but reaches 1 (tie: "
                                   "the first declared wins)"),
              "%s", route.reason);
    dsb_route_clear(&route);
    cr_assert_eq(dsb_route(cfg, NULL, 0, NULL, &route, &err), 0);
    cr_assert_str_eq(route.executor, "b");
    cr_assert(strstr(route.reason, "b is the default executor"), "%s",
              route.reason);
    dsb_route_clear(&route);
    dsb_read_target_for(dsb_executor_find(cfg, "b"), &t);
    cr_assert_eq(t.caps, DSB_EXEC_LOCAL_FILES | DSB_EXEC_S3A);
}

Test(router, tie_with_default_declared_last)
{
    struct dsb_route route;
    struct dsb_error err;
    const char *nets[] = {"aurora-vpc"};

    teardown();
    load("executors:\n"
         "  - {name: v1, type: local-spark, networks: [public, aurora-vpc]}\n"
         "  - {name: v2, type: local-spark, networks: [aurora-vpc, public]}\n"
         "  - {name: wide, type: local-spark, networks: [a, b, aurora-vpc]}\n"
         "default_executor: v2\n");
    cr_assert_eq(dsb_route(cfg, nets, 1, NULL, &route, &err), 0);
    cr_assert_str_eq(route.executor, "v1");
    dsb_route_clear(&route);
}

Test(router, builtin_local_without_executors)
{
    struct dsb_route route;
    struct dsb_error err;
    const char *nets[] = {"public", "local"};

    teardown();
    load("log_level: info\n");
    cr_assert_eq(dsb_route(cfg, nets, 2, NULL, &route, &err), 0);
    cr_assert_str_eq(route.executor, "local");
    cr_assert_str_eq(route.type, "local-spark");
    dsb_route_clear(&route);
}
