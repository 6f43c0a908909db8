/* The command line: exit codes and what a shell user reads. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "dsbroker/plugin.h"
#include "support.h"

/* "plugin ABI 1.N" as the version line says it */
#define T_ABI "plugin ABI " DSB_STR(DSB_ABI_MAJOR) "." DSB_STR(DSB_ABI_MINOR)

static char *good, *broken, *pgood;

static void setup(void)
{
    good = t_src("tests/fixtures/confd-good");
    broken = t_src("tests/fixtures/confd-broken");
    pgood = t_path("DSB_TEST_PLUGIN_DIR", "good");
    setenv("DSB_TEST_FIXTURE_PASSWORD", "fixture-pw-123", 1);
}

TestSuite(cli, .init = setup);

Test(cli, help_and_version)
{
    struct t_run r = t_cli("--help", NULL);
    cr_assert_eq(r.rc, 0);
    cr_assert(strstr(r.out, "usage: dsbroker"), "%s", r.out);
    t_run_free(&r);
    r = t_cli("-V", NULL);
    cr_assert_eq(r.rc, 0);
    cr_assert(strstr(r.out, T_ABI), "%s", r.out);
    t_run_free(&r);
}

Test(cli, usage_errors_exit_2)
{
    struct t_run r = t_cli(NULL);
    cr_assert_eq(r.rc, 2);
    cr_assert(strstr(r.err, "usage:"), "%s", r.err);
    t_run_free(&r);
    r = t_cli("frobnicate", NULL);
    cr_assert_eq(r.rc, 2);
    cr_assert(strstr(r.err, "unknown command \"frobnicate\""), "%s", r.err);
    t_run_free(&r);
    r = t_cli("--bogus", "sources", NULL);
    cr_assert_eq(r.rc, 2);
    cr_assert(strstr(r.err, "unknown or incomplete option \"--bogus\""), "%s",
              r.err);
    t_run_free(&r);
    r = t_cli("sources", "-c", NULL);
    cr_assert_eq(r.rc, 2);
    t_run_free(&r);
}

Test(cli, long_version_names_the_abi_and_build_tag)
{
    struct t_run r = t_cli("--version", NULL);

    cr_assert_eq(r.rc, 0, "%s", r.err);
    cr_assert(strncmp(r.out, "dsbroker ", 9) == 0, "%s", r.out);
    cr_assert(strstr(r.out, "(" T_ABI ", " DSB_BUILD_TAG ")\n"), "%s", r.out);
    cr_assert_str_eq(r.err, "");
    t_run_free(&r);
    r = t_cli("sources", "--version", NULL);
    cr_assert_eq(r.rc, 0, "%s", r.err);
    cr_assert(strstr(r.out, T_ABI), "%s", r.out);
    t_run_free(&r);
}

/* Each command takes exactly its operands: one too many or too few is a
 * usage error (exit 2) that shows the command's own usage, and runs
 * nothing. */
Test(cli, extra_or_missing_operands_are_usage_errors)
{
    struct t_run r = t_cli("sources", "extra", "-c", good, "-P", pgood, NULL);

    cr_assert_eq(r.rc, 2, "%s%s", r.out, r.err);
    cr_assert(strstr(r.err, "dsbroker: usage: dsbroker sources\n"), "%s",
              r.err);
    cr_assert_str_eq(r.out, "");
    t_run_free(&r);
    r = t_cli("check-config", "-c", good, "-P", pgood, "extra", NULL);
    cr_assert_eq(r.rc, 2, "%s%s", r.out, r.err);
    cr_assert(strstr(r.err, "usage: dsbroker check-config\n"), "%s", r.err);
    cr_assert_null(strstr(r.out, "ok ("), "%s", r.out);
    t_run_free(&r);
    r = t_cli("routes", "a", "b", NULL);
    cr_assert_eq(r.rc, 2);
    cr_assert(strstr(r.err, "usage: dsbroker routes\n"), "%s", r.err);
    t_run_free(&r);
    r = t_cli("context", "s1", "s2", NULL);
    cr_assert_eq(r.rc, 2);
    cr_assert(strstr(r.err, "usage: dsbroker context SESSION\n"), "%s", r.err);
    t_run_free(&r);
    r = t_cli("context", NULL);
    cr_assert_eq(r.rc, 2);
    cr_assert(strstr(r.err, "usage: dsbroker context SESSION\n"), "%s", r.err);
    t_run_free(&r);
    r = t_cli("submit", "s1", "job.py", "more", NULL);
    cr_assert_eq(r.rc, 2);
    cr_assert(strstr(r.err, "usage: dsbroker submit SESSION FILE.py\n"), "%s",
              r.err);
    t_run_free(&r);
}

Test(cli, check_config_good)
{
    struct t_run r = t_cli("check-config", "-c", good, "-P", pgood, NULL);
    cr_assert_eq(r.rc, 0, "%s%s", r.out, r.err);
    cr_assert(strstr(r.out, "ok (2 sources, 2 executors, 1 plugin)"), "%s",
              r.out);
    t_run_free(&r);
}

Test(cli, check_config_connect_checks_each_source)
{
    struct t_run r =
        t_cli("-c", good, "-P", pgood, "check-config", "--connect", NULL);
    cr_assert_eq(r.rc, 0, "%s%s", r.out, r.err);
    cr_assert(strstr(r.out, "source main: ok"), "%s", r.out);
    cr_assert_null(strstr(r.out, "fixture-pw-123"));
    cr_assert_null(strstr(r.err, "fixture-pw-123"));
    t_run_free(&r);
}

Test(cli, check_config_broken_reports_every_error)
{
    struct t_run r = t_cli("check-config", "-c", broken, "-P", pgood, NULL);
    cr_assert_eq(r.rc, 1);
    cr_assert(strstr(r.out, "confd-broken/broker.yaml:1:1: error: unknown key "
                            "\"lisen\" (did you mean \"listen\"?)"),
              "%s", r.out);
    cr_assert(strstr(r.out, "confd-broken/a-mistakes.yaml:4:11: error: option "
                            "\"page_max\" must be an integer"),
              "%s", r.out);
    cr_assert(strstr(r.out, " errors\n"), "%s", r.out);
    cr_assert_null(strstr(r.out, "hunter2"));
    t_run_free(&r);
}

Test(cli, plugins_with_schema)
{
    struct t_run r =
        t_cli("plugins", "--schema", "-P", pgood, "-c", good, NULL);
    json_t *arr = json_loads(r.out, 0, NULL), *p;

    cr_assert_eq(r.rc, 0, "%s", r.err);
    cr_assert(json_is_array(arr), "%s", r.out);
    p = json_array_get(arr, 0);
    cr_assert_str_eq(json_string_value(json_object_get(p, "name")), "fixture");
    cr_assert_str_eq(
        json_string_value(json_object_get(
            json_object_get(
                json_object_get(json_object_get(p, "options"), "properties"),
                "mode"),
            "type")),
        "string");
    json_decref(arr);
    t_run_free(&r);
}

Test(cli, sources_table_and_json)
{
    struct t_run r = t_cli("sources", "-c", good, "-P", pgood, NULL);
    json_t *arr;

    cr_assert_eq(r.rc, 0, "%s", r.err);
    cr_assert(strstr(r.out, "main"), "%s", r.out);
    cr_assert(strstr(r.out, "fixture-net"), "%s", r.out);
    cr_assert(strstr(r.out, "disabled"), "%s", r.out);
    t_run_free(&r);
    r = t_cli("sources", "--json", "-c", good, "-P", pgood, NULL);
    arr = json_loads(r.out, 0, NULL);
    cr_assert_eq(json_array_size(arr), 2, "%s", r.out);
    cr_assert_str_eq(
        json_string_value(json_object_get(json_array_get(arr, 1), "network")),
        "private-net");
    json_decref(arr);
    t_run_free(&r);
}

Test(cli, repository_conf_d_passes)
{
    char *confd = t_src("conf.d");
    char *plugins = t_path("DSB_BUILD_DIR", "lib/dsbroker");
    struct t_run r = t_cli("check-config", "-c", confd, "-P", plugins, NULL);

    cr_assert_eq(r.rc, 0, "%s%s", r.out, r.err);
    cr_assert(strstr(r.out, ": ok ("), "%s", r.out);
    t_run_free(&r);
    free(confd);
    free(plugins);
}

/* What s3csv's open would refuse, check-config refuses, naming the key at
 * its file:line:col (the plugin's check_options, ABI 1.2). */
Test(cli, check_config_refuses_an_s3csv_root_open_would)
{
    char *confd = t_tmpdir();
    char *plugins = t_path("DSB_BUILD_DIR", "lib/dsbroker");
    struct t_run r;

    t_write(confd, "files.yaml",
            "name: files\nplugin: s3csv\nroots: [\"ftp://x/\"]\n");
    r = t_cli("check-config", "-c", confd, "-P", plugins, NULL);
    cr_assert_eq(r.rc, 1, "%s%s", r.out, r.err);
    cr_assert(strstr(r.out, "/files.yaml:3:8: error: option \"roots\": "
                            "invalid root \"ftp://x/\" (use "
                            "s3://bucket/prefix/"),
              "%s", r.out);
    t_run_free(&r);
    free(confd);
    free(plugins);
}
