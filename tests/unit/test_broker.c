/* Runtime: the broker with real .so plugins — slots through the core,
 * output checks, and sources that fail or crash while the rest works. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker.h"
#include "support.h"
#include "util.h"

static struct dsb_broker *b;
static struct dsb_diags d;
static struct dsb_error err;

static void start(const char *conf, const char *plugins)
{
    struct dsb_broker_opts o = {
        .conf_dir = conf, .plugin_dir = plugins, .preflight = 1};

    dsb_diags_init(&d);
    b = dsb_broker_start(&o, &d);
    if (!b)
        dsb_diags_print(&d, stderr);
    cr_assert_not_null(b);
}

static void start_good(void)
{
    char *conf = t_src("tests/fixtures/confd-good");
    char *plugins = t_path("DSB_TEST_PLUGIN_DIR", "good");

    setenv("DSB_TEST_FIXTURE_PASSWORD", "fixture-pw-123", 1);
    start(conf, plugins);
    free(conf);
    free(plugins);
}

static void teardown(void)
{
    dsb_broker_stop(b);
    dsb_diags_free(&d);
}

TestSuite(broker, .fini = teardown);

static const char *item(const json_t *out, size_t i)
{
    return json_string_value(json_object_get(
        json_array_get(json_object_get(out, "items"), i), "name"));
}

Test(broker, lists_through_the_plugin)
{
    struct dsb_source *s;
    struct dsb_list_request r = {0};
    json_t *out;

    start_good();
    s = dsb_broker_source(b, "main");
    cr_assert_eq(s->state, DSB_SOURCE_OPEN);
    cr_assert_str_eq(s->network, "fixture-net");
    cr_assert_eq(dsb_source_list_databases(s, &r, &out, &err), 0, "%s",
                 err.message);
    cr_assert_str_eq(item(out, 0), "sales");
    cr_assert_str_eq(item(out, 1), "hr");
    json_decref(out);
    r = (struct dsb_list_request){"sales", "public", "ORDER", 0, NULL};
    cr_assert_eq(dsb_source_list_tables(s, &r, &out, &err), 0, "%s",
                 err.message);
    cr_assert_eq(json_array_size(json_object_get(out, "items")), 2);
    cr_assert_str_eq(item(out, 1), "Order Items");
    json_decref(out);
}

Test(broker, pages_with_opaque_tokens)
{
    struct dsb_source *s;
    struct dsb_list_request r = {"sales", "public", NULL, 2, NULL};
    json_t *out, *next;

    start_good();
    s = dsb_broker_source(b, "main");
    cr_assert_eq(dsb_source_list_tables(s, &r, &out, &err), 0);
    cr_assert_eq(json_array_size(json_object_get(out, "items")), 2);
    next = json_object_get(out, "next_page_token");
    cr_assert(json_is_string(next));
    r.page_token = json_string_value(next);
    json_t *out2;
    cr_assert_eq(dsb_source_list_tables(s, &r, &out2, &err), 0);
    cr_assert_eq(json_array_size(json_object_get(out2, "items")), 1);
    cr_assert_str_eq(item(out2, 0), "customers");
    cr_assert(json_is_null(json_object_get(out2, "next_page_token")));
    json_decref(out);
    json_decref(out2);
}

Test(broker, describe_and_errors)
{
    struct dsb_source *s;
    json_t *out;

    start_good();
    s = dsb_broker_source(b, "main");
    cr_assert_eq(
        dsb_source_describe_table(s, "sales", "public", "orders", &out, &err),
        0);
    cr_assert_eq(json_array_size(json_object_get(out, "columns")), 2);
    json_decref(out);
    cr_assert_eq(
        dsb_source_describe_table(s, "sales", "public", "nope", &out, &err),
        -1);
    cr_assert_eq(err.code, DSB_E_NOT_FOUND);
    cr_assert_eq(dsb_err_http_status(err.code), 404);
    cr_assert_null(out);
}

Test(broker, read_spec_gets_the_network_and_keeps_references)
{
    struct dsb_source *s;
    struct dsb_read_target t = {"local", "local-spark", DSB_EXEC_LOCAL_FILES};
    json_t *out;
    char *dump;

    start_good();
    s = dsb_broker_source(b, "main");
    cr_assert_eq(
        dsb_source_read_spec(s, "sales", "public", "orders", &t, &out, &err), 0,
        "%s", err.message);
    cr_assert_str_eq(json_string_value(json_object_get(out, "network")),
                     "fixture-net");
    cr_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(out, "secret_options"), "password")),
                     "env:DSB_TEST_FIXTURE_PASSWORD");
    dump = json_dumps(out, 0);
    cr_assert_null(strstr(dump, "fixture-pw-123"));
    free(dump);
    json_decref(out);
}

Test(broker, malformed_plugin_output_is_refused)
{
    struct dsb_list_request r = {"sales", "bad", NULL, 0, NULL};
    json_t *out;

    start_good();
    cr_assert_eq(
        dsb_source_list_tables(dsb_broker_source(b, "main"), &r, &out, &err),
        -1);
    cr_assert_eq(err.code, DSB_E_INTERNAL);
    cr_assert(strstr(err.message, "malformed list_tables result: a column "
                                  "without an integer \"position\""),
              "%s", err.message);
}

Test(broker, disabled_source_says_so)
{
    struct dsb_list_request r = {0};
    json_t *out;

    start_good();
    cr_assert_eq(dsb_broker_source(b, "quiet")->state, DSB_SOURCE_DISABLED);
    cr_assert_eq(dsb_source_list_databases(dsb_broker_source(b, "quiet"), &r,
                                           &out, &err),
                 -1);
    cr_assert_eq(err.code, DSB_E_UNAVAILABLE);
    cr_assert(strstr(err.message, "source quiet is disabled"), "%s",
              err.message);
    cr_assert(strstr(err.hint, "enabled: true"), "%s", err.hint);
}

Test(broker, plugin_logs_are_prefixed_and_redacted)
{
    char *dir = t_tmpdir(), path[4096], *log;
    int fd, saved;
    json_t *out;
    FILE *f;

    start_good();
    snprintf(path, sizeof(path), "%s/log", dir);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    saved = dup(2);
    dup2(fd, 2);
    close(fd);
    cr_assert_eq(dsb_source_check(dsb_broker_source(b, "main"), &out, &err), 0);
    fflush(stderr);
    dup2(saved, 2);
    f = fopen(path, "r");
    fseek(f, 0, SEEK_END);
    log = t_slurp(f);
    cr_assert(strstr(log, "[fixture:main] checking with password [REDACTED]"),
              "%s", log);
    cr_assert_null(strstr(log, "fixture-pw-123"));
    json_decref(out);
    free(log);
    free(dir);
}

static void copy_plugin(const char *dir, const char *rel)
{
    char *src = t_path("DSB_TEST_PLUGIN_DIR", rel), cmd[8192];
    snprintf(cmd, sizeof(cmd), "cp '%s' '%s/'", src, dir);
    cr_assert_eq(system(cmd), 0);
    free(src);
}

Test(broker, failing_and_crashing_plugins_leave_the_rest_working)
{
    char *conf = t_tmpdir(), *plugins = t_tmpdir(), *data;
    struct dsb_list_request r = {0};
    struct dsb_source *s;
    json_t *out;

    copy_plugin(plugins, "good/fixture.so");
    copy_plugin(plugins, "bad/open_fails.so");
    copy_plugin(plugins, "bad/crash_open.so");
    data = t_src("tests/fixtures/confd-good/data/catalog.json");
    {
        char yaml[4200];
        snprintf(yaml, sizeof(yaml),
                 "name: fine\nplugin: fixture\n"
                 "data_file: %s\n",
                 data);
        t_write(conf, "fine.yaml", yaml);
    }
    t_write(conf, "fails.yaml",
            "name: fails\nplugin: open_fails\n"
            "path: /srv/thing\n");
    t_write(conf, "crashes.yaml", "name: crashes\nplugin: crash_open\n");
    start(conf, plugins);
    s = dsb_broker_source(b, "fails");
    cr_assert_eq(s->state, DSB_SOURCE_FAILED);
    cr_assert(strstr(s->open_error.message, "cannot reach the thing at "
                                            "/srv/thing"),
              "%s", s->open_error.message);
    cr_assert_str_eq(s->open_error.hint, "start the thing");
    s = dsb_broker_source(b, "crashes");
    cr_assert_eq(s->state, DSB_SOURCE_FAILED);
    /* SIGSEGV, or SIGABRT when a sanitizer catches it first */
    cr_assert(strstr(s->open_error.message, "plugin crash_open crashed "
                                            "(signal ") &&
                  strstr(s->open_error.message, "while opening source crashes"),
              "%s", s->open_error.message);
    cr_assert_eq(dsb_source_list_databases(s, &r, &out, &err), -1);
    cr_assert_eq(err.code, DSB_E_UNAVAILABLE);
    s = dsb_broker_source(b, "fine");
    cr_assert_eq(dsb_source_list_databases(s, &r, &out, &err), 0);
    json_decref(out);
    free(conf);
    free(plugins);
    free(data);
}

Test(broker, config_errors_stop_the_start)
{
    char *conf = t_src("tests/fixtures/confd-broken");
    char *plugins = t_path("DSB_TEST_PLUGIN_DIR", "good");
    struct dsb_broker_opts o = {.conf_dir = conf, .plugin_dir = plugins};

    dsb_diags_init(&d);
    b = dsb_broker_start(&o, &d);
    cr_assert_null(b);
    cr_assert_gt(d.errors, 10);
    free(conf);
    free(plugins);
}

/* The pids the fixture's open_log holds, in order; their count. */
static size_t opens_logged(const char *path, long pids[8])
{
    FILE *f = fopen(path, "r");
    size_t n = 0;

    while (f && n < 8 && fscanf(f, "%ld", &pids[n]) == 1)
        n++;
    if (f)
        fclose(f);
    return n;
}

static struct dsb_broker *start_from(const char *conf, const char *plugins,
                                     const struct dsb_broker *previous)
{
    struct dsb_broker_opts o = {.conf_dir = conf,
                                .plugin_dir = plugins,
                                .preflight = 1,
                                .previous = previous};
    struct dsb_broker *nb = dsb_broker_start(&o, &d);

    if (!nb)
        dsb_diags_print(&d, stderr);
    cr_assert_not_null(nb);
    return nb;
}

/* A reload forks a probe only for a source it has not opened with that
 * configuration: the serving process is multi-threaded, and an unchanged
 * source was probed when it first opened. */
Test(broker, a_reload_probes_only_new_or_changed_sources)
{
    char *conf = t_tmpdir(), *data = t_src("tests/fixtures/confd-good/data/"
                                           "catalog.json");
    char *plugins = t_path("DSB_TEST_PLUGIN_DIR", "good"), yaml[4400];
    char *log = dsb_asprintf("%s/opens", conf);
    struct dsb_broker *b1, *b2, *b3;
    long pids[8];

    dsb_diags_init(&d);
    snprintf(yaml, sizeof(yaml),
             "name: fine\nplugin: fixture\ndata_file: %s"
             "\nopen_log: %s\n",
             data, log);
    t_write(conf, "fine.yaml", yaml);
    b1 = start_from(conf, plugins, NULL);
    cr_assert_eq(opens_logged(log, pids), 2, "a probe, then the open");
    cr_assert(pids[0] != getpid() && pids[1] == getpid());
    b2 = start_from(conf, plugins, b1);
    cr_assert_eq(opens_logged(log, pids), 3, "unchanged: no probe");
    cr_assert_eq(pids[2], getpid());
    t_write(conf, "fine.yaml", strcat(yaml, "page_max: 7\n"));
    b3 = start_from(conf, plugins, b2);
    cr_assert_eq(opens_logged(log, pids), 5, "changed: probed again");
    cr_assert(pids[3] != getpid() && pids[4] == getpid());
    cr_assert_eq(dsb_broker_source(b3, "fine")->state, DSB_SOURCE_OPEN);
    dsb_broker_stop(b3);
    dsb_broker_stop(b2);
    dsb_broker_stop(b1);
    free(log);
    free(plugins);
    free(data);
    free(conf);
}

/* Defence in depth: a plugin that ignores mask_columns (fixture.so) hands
 * back statistics and sample values of masked columns; the broker strips
 * them from every answer (describe, listing, read spec)
 * and marks the columns, keeping their names and types. */
Test(broker, masked_values_are_stripped_from_plugin_answers)
{
    char *conf = t_tmpdir(), *plugins = t_path("DSB_TEST_PLUGIN_DIR", "good");
    struct dsb_list_request lr = {"db", "s", NULL, 0, NULL};
    struct dsb_read_target tg = {"x", "local-spark", DSB_EXEC_LOCAL_FILES};
    json_t *out[3] = {NULL};
    char yaml[4400], *data;

    t_write(conf, "data.json",
            "{\"databases\": {\"db\": {\"schemas\": {\"s\": {\"tables\": "
            "[{\"name\": \"t\", \"kind\": \"table\", \"columns\": ["
            "{\"name\": \"id\", \"position\": 1, \"source_type\": \"int\", "
            "\"spark_type\": \"int\", \"nullable\": false, \"stats\": "
            "{\"min\": \"1\"}}, {\"name\": \"User_Email\", \"position\": "
            "2, \"source_type\": \"text\", \"spark_type\": \"string\", "
            "\"nullable\": true, \"stats\": {\"min\": \"leak-min\"}}], "
            "\"sample_rows\": {\"columns\": [\"id\", \"User_Email\"], "
            "\"rows\": [[\"1\", \"leak-1\"], [\"2\", \"leak-2\"]]}}]}}}}}");
    data = dsb_asprintf("%s/data.json", conf);
    snprintf(yaml, sizeof(yaml),
             "name: leaky\nplugin: fixture\ndata_file: %s\n"
             "mask_columns: [\"*email*\"]\n",
             data);
    t_write(conf, "leaky.yaml", yaml);
    start(conf, plugins);
    cr_assert_eq(dsb_source_describe_table(dsb_broker_source(b, "leaky"), "db",
                                           "s", "t", &out[0], &err),
                 0, "%s", err.message);
    cr_assert_eq(dsb_source_list_tables(dsb_broker_source(b, "leaky"), &lr,
                                        &out[1], &err),
                 0, "%s", err.message);
    cr_assert_eq(dsb_source_read_spec(dsb_broker_source(b, "leaky"), "db", "s",
                                      "t", &tg, &out[2], &err),
                 0, "%s", err.message);
    for (int i = 0; i < 3; i++) {
        char *text = json_dumps(out[i], JSON_COMPACT);
        cr_assert_null(strstr(text, "leak-"), "answer %d: %s", i, text);
        cr_assert_not_null(strstr(text, "\"User_Email\""), "%s", text);
        cr_assert_not_null(strstr(text, "\"masked\":true"), "%s", text);
        free(text);
    }
    {
        const json_t *sr = json_object_get(out[0], "sample_rows");
        char *rows = json_dumps(json_object_get(sr, "rows"), JSON_COMPACT);
        cr_assert_str_eq(rows, "[[\"1\"],[\"2\"]]");
        free(rows);
        cr_assert_str_eq(
            json_string_value(json_object_get(
                json_object_get(
                    json_array_get(json_object_get(out[0], "columns"), 0),
                    "stats"),
                "min")),
            "1", "unmasked statistics stay");
    }
    for (int i = 0; i < 3; i++)
        json_decref(out[i]);
    free(data);
    free(plugins);
    free(conf);
}
