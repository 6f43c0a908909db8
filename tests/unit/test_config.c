/* conf.d loading: the good fixture loads, the broken one reports every
 * mistake at its file:line:col. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include <sys/stat.h>

#include "config.h"
#include "plugins.h"
#include "support.h"
#include "util.h"

static struct dsb_diags d;
static struct dsb_plugin_set ps;
static struct dsb_config *cfg;

static void load(const char *fixture)
{
    char *dir = t_src(fixture);
    char *pdir = t_path("DSB_TEST_PLUGIN_DIR", "good");

    dsb_diags_init(&d);
    memset(&ps, 0, sizeof(ps));
    cfg = dsb_config_load_broker(dir, pdir, &d);
    cr_assert_not_null(cfg);
    cr_assert_eq(dsb_plugins_load_dir(cfg->plugin_dir, &ps, 1, &d), 0);
    dsb_config_load_sources(cfg, &ps, &d);
    free(dir);
    free(pdir);
}

static void teardown(void)
{
    dsb_config_free(cfg);
    dsb_plugins_unload_all(&ps);
    dsb_diags_free(&d);
}

TestSuite(config, .fini = teardown);

static void expect(const char *file, int line, int col, const char *needle)
{
    long i = dsb_diags_find(&d, file, line, needle);
    if (i < 0) {
        dsb_diags_print(&d, stderr);
        cr_assert_fail("no diagnostic %s:%d containing \"%s\"", file, line,
                       needle);
    }
    cr_assert_eq(d.items[i].col, col, "%s:%d \"%s\": column %d, expected %d",
                 file, line, needle, d.items[i].col, col);
}

Test(config, good_fixture_loads)
{
    const struct dsb_source_conf *s;
    const json_t *o;

    setenv("DSB_TEST_STATE_DIR", "/tmp/x-state", 1);
    load("tests/fixtures/confd-good");
    dsb_diags_print(&d, stderr);
    cr_assert_eq(d.errors, 0);
    cr_assert_eq(cfg->n_sources, 2);
    s = &cfg->sources[0];
    cr_assert_str_eq(s->name, "main");
    cr_assert_str_eq(s->plugin, "fixture");
    cr_assert_null(s->network);
    cr_assert(s->enabled);
    o = s->options;
    cr_assert_eq(json_integer_value(json_object_get(o, "page_max")), 50);
    cr_assert(json_is_true(json_object_get(o, "strict")));
    cr_assert_str_eq(json_string_value(json_object_get(o, "password")),
                     "env:DSB_TEST_FIXTURE_PASSWORD");
    cr_assert_str_eq(cfg->sources[1].network, "private-net");
    cr_assert_not(cfg->sources[1].enabled);
    cr_assert_eq(cfg->n_executors, 2);
    cr_assert_str_eq(cfg->executors[1].type, "emr-serverless");
    cr_assert_eq(json_integer_value(json_object_get(cfg->executors[1].options,
                                                    "default_timeout_minutes")),
                 60);
    cr_assert_str_eq(cfg->default_executor, "local");
    cr_assert_str_eq(cfg->state_dir, "/tmp/x-state");
    cr_assert_eq(json_integer_value(json_object_get(
                     json_object_get(cfg->broker, "cache"), "ttl_seconds")),
                 60);
    cr_assert_eq(json_integer_value(json_object_get(
                     json_object_get(cfg->broker, "limits"), "max_body_bytes")),
                 1048576);
}

Test(config, broker_yaml_mistakes)
{
    load("tests/fixtures/confd-broken");
    expect("broker.yaml", 1, 1,
           "unknown key \"lisen\" (did you mean "
           "\"listen\"?)");
    expect("broker.yaml", 2, 12,
           "\"log_level\" must be one of error, warn, "
           "info, debug; got \"verbose\"");
    expect("broker.yaml", 4, 16, "\"cache.ttl_seconds\" is -5");
    expect("broker.yaml", 7, 11,
           "got \"local-sparky\" (did you mean "
           "\"local-spark\"?)");
    expect("broker.yaml", 12, 5,
           "unknown key \"aplication_id\" (did you mean "
           "\"application_id\"?)");
    expect("broker.yaml", 9, 5, "missing required option \"staging_uri\"");
}

Test(config, source_mistakes_all_reported_at_once)
{
    load("tests/fixtures/confd-broken");
    expect("a-mistakes.yaml", 3, 1,
           "unknown key \"data_fiel\" (did you mean "
           "\"data_file\"?)");
    expect("a-mistakes.yaml", 1, 1, "missing required option \"data_file\"");
    expect("a-mistakes.yaml", 4, 11,
           "\"page_max\" must be an integer, got "
           "\"12abc\"");
    expect("a-mistakes.yaml", 5, 8, "\"ratio\" is 1.5");
    expect("a-mistakes.yaml", 6, 9, "must be true or false, got \"maybe\"");
    expect("a-mistakes.yaml", 7, 7, "got \"quick\"");
    expect("a-mistakes.yaml", 8, 11, "\"password\" is a secret");
    expect("a-mistakes.yaml", 9, 7, "\"tags\" must be a list of strings");
    expect("a-mistakes.yaml", 11, 9, "\"endpoint.port\" is 99999");
    expect("a-mistakes.yaml", 11, 3,
           "missing required option "
           "\"endpoint.host\"");
    expect("a-mistakes.yaml", 13, 5,
           "missing required option "
           "\"replicas[0].name\"");
    expect("a-mistakes.yaml", 15, 6, "DSB_SURELY_UNSET_VARIABLE is not set");
    expect("b-duplicate.yaml", 4, 1,
           "duplicate key \"data_file\" (first "
           "given at line 3)");
    expect("c-noplugin.yaml", 2, 9, "no usable plugin \"fixtur\"");
    cr_assert(dsb_diags_find(&d, "c-noplugin.yaml", 2,
                             "did you mean "
                             "\"fixture\"?") >= 0);
    cr_assert(dsb_diags_find(&d, "d-syntax.yaml", 0, "YAML syntax error") >= 0);
    expect("e-noname.yaml", 1, 1, "missing required option \"name\"");
    expect("f-badname.yaml", 1, 7,
           "source name \"has space/slash\" may hold "
           "only");
    expect("g-dupname.yaml", 1, 7,
           "source name \"mistakes\" is already used "
           "by");
    for (size_t i = 0; i < d.n; i++)
        cr_assert_null(strstr(d.items[i].message, "hunter2"), "%s",
                       d.items[i].message);
}

Test(config, missing_directory_is_reported)
{
    dsb_diags_init(&d);
    cfg = dsb_config_load_broker("/nonexistent/conf.d", NULL, &d);
    cr_assert_eq(d.errors, 1);
    cr_assert(strstr(d.items[0].message, "cannot open the configuration "
                                         "directory"),
              "%s", d.items[0].message);
}

Test(config, no_broker_yaml_means_defaults)
{
    char *dir = t_tmpdir();

    dsb_diags_init(&d);
    cfg = dsb_config_load_broker(dir, NULL, &d);
    cr_assert_eq(d.errors, 0);
    cr_assert_str_eq(json_string_value(json_object_get(cfg->broker, "listen")),
                     "127.0.0.1:8080");
    cr_assert_eq(cfg->n_executors, 0);
    cr_assert_null(cfg->default_executor);
    cr_assert(strstr(cfg->plugin_dir, "lib/dsbroker"), "%s", cfg->plugin_dir);
    free(dir);
}

Test(config, default_executor_must_exist)
{
    char *dir = t_tmpdir();

    t_write(dir, "broker.yaml", "default_executor: nowhere\n");
    dsb_diags_init(&d);
    cfg = dsb_config_load_broker(dir, NULL, &d);
    expect("broker.yaml", 1, 19,
           "default_executor \"nowhere\" is not a "
           "declared executor");
    free(dir);
}

/* A conf.d written by the test: broker.yaml and one source file. */
static char *write_conf(const char *broker, const char *name,
                        const char *source)
{
    char *dir = t_tmpdir();

    t_write(dir, "broker.yaml", broker);
    if (name)
        t_write(dir, name, source);
    return dir;
}

static void load_dir(const char *dir)
{
    char *pdir = t_path("DSB_TEST_PLUGIN_DIR", "good");

    dsb_diags_init(&d);
    memset(&ps, 0, sizeof(ps));
    cfg = dsb_config_load_broker(dir, pdir, &d);
    cr_assert_eq(dsb_plugins_load_dir(cfg->plugin_dir, &ps, 1, &d), 0);
    dsb_config_load_sources(cfg, &ps, &d);
    free(pdir);
}

static const char one_executor[] =
    "executors:\n"
    "  - name: local\n"
    "    type: local-spark\n"
    "    networks: [public]\n"
    "  - name: emr\n"
    "    type: emr-serverless\n"
    "    networks: [public]\n"
    "    application_id: 00fakeapp\n"
    "    execution_role_arn: arn:aws:iam::1:r/j\n"
    "    staging_uri: s3://bucket/staging/\n";

Test(config, a_network_no_executor_reaches_is_a_warning)
{
    char *dir = write_conf(one_executor, "far.yaml",
                           "name: far\nplugin: fixture\nnetwork: vpc\n"
                           "data_file: x.json\n");

    t_write(dir, "off.yaml",
            "name: off\nplugin: fixture\nnetwork: vpc\nenabled: false\n"
            "data_file: x.json\n");
    load_dir(dir);
    cr_assert_eq(d.errors, 0);
    expect("far.yaml", 1, 1,
           "source \"far\" is on network \"vpc\", which no executor reaches "
           "(executors: local, emr)");
    cr_assert_lt(dsb_diags_find(&d, "off.yaml", 0, "no executor"), 0,
                 "a disabled source is not warned about");
    free(dir);
}

Test(config, managed_sources_are_read_after_conf_d)
{
    char *dir = write_conf(one_executor, "a.yaml",
                           "name: a\nplugin: fixture\nnetwork: public\n"
                           "data_file: x.json\n");
    char *managed = dsb_path_join(dir, DSB_MANAGED_DIR);

    cr_assert_eq(mkdir(managed, 0700), 0);
    t_write(managed, "b.yaml",
            "{\"name\": \"b\", \"plugin\": \"fixture\", \"network\": "
            "\"public\", \"data_file\": \"x.json\"}\n");
    t_write(managed, "a.yaml",
            "{\"name\": \"a\", \"plugin\": \"fixture\", \"data_file\": "
            "\"x.json\"}\n");
    load_dir(dir);
    cr_assert_eq(cfg->n_sources, 3);
    cr_assert(strstr(cfg->sources[0].file, "/managed/") == NULL);
    cr_assert_str_eq(cfg->sources[2].name, "b");
    expect("managed/a.yaml", 1, 10, "source name \"a\" is already used by");
    free(managed);
    free(dir);
}

Test(config, allowed_hosts_rules_are_checked)
{
    char *dir = write_conf("sources:\n  allowed_hosts: [db.example.com, "
                           "\"10.0.0.0/33\"]\n",
                           NULL, NULL);

    load_dir(dir);
    expect("broker.yaml", 2, 35,
           "sources.allowed_hosts: \"10.0.0.0/33\" is not a host rule");
    free(dir);
}

/* conf.d `dir` loaded with the plugins of `pdir`. */
static void load_with(const char *dir, const char *pdir)
{
    dsb_diags_init(&d);
    memset(&ps, 0, sizeof(ps));
    cfg = dsb_config_load_broker(dir, pdir, &d);
    cr_assert_eq(dsb_plugins_load_dir(cfg->plugin_dir, &ps, 1, &d), 0);
    dsb_config_load_sources(cfg, &ps, &d);
}

/* check_options (ABI 1.2): what open would refuse is refused at check
 * time, at the key the plugin names; a plugin declaring 1.1 is checked by
 * its table only, as before. */
Test(config, the_plugin_refuses_at_check_time_what_open_would)
{
    static const char src[] = "name: t\nplugin: %s\ndata_file: x.json\n"
                              "tags: [a, \"\"]\n";
    char text[256], *dir, *pdir = t_path("DSB_TEST_PLUGIN_DIR", "abi");

    snprintf(text, sizeof(text), src, "fixture");
    dir = write_conf("", "t.yaml", text);
    load_dir(dir);
    expect("t.yaml", 4, 7,
           "option \"tags\": tag 2 is empty (remove it, or give it a name)");
    cr_assert_eq(d.errors, 1);
    teardown();
    free(dir);
    snprintf(text, sizeof(text), src, "fixture_for11");
    dir = write_conf("", "t.yaml", text);
    load_with(dir, pdir);
    dsb_diags_print(&d, stderr);
    cr_assert_eq(d.errors, 0, "a 1.1 plugin is checked by its table only");
    cr_assert_eq(cfg->n_sources, 1);
    free(dir);
    free(pdir);
}

/* The real plugins: an s3csv root open cannot read, one character that is
 * two, a postgres source with no role or a #key of its credentials. */
Test(config, s3csv_and_postgres_refuse_what_their_open_would)
{
    char *dir = write_conf("", "s3.yaml",
                           "name: s3\nplugin: s3csv\n"
                           "roots: [\"s3://dsb-bucket/in/\", \"file:rel/\", "
                           "\"ftp://x/\"]\n");

    t_write(dir, "delim.yaml",
            "name: delim\nplugin: s3csv\nroots: [\"file:///srv/csv/\"]\n"
            "delimiter: \"ab\"\n");
    t_write(dir, "ok.yaml",
            "name: ok\nplugin: s3csv\nroots: [\"s3://dsb-bucket\", "
            "\"file:///srv/csv/\", \"file:rel/dir\"]\n");
    t_write(dir, "pg.yaml", "name: pg\nplugin: postgres\nhost: h\n");
    t_write(dir, "pgkey.yaml",
            "name: pgkey\nplugin: postgres\nhost: h\n"
            "credentials: \"aws-sm:db#password\"\n");
    load_with(dir, getenv("DSB_PLUGIN_DIR"));
    expect("s3.yaml", 3, 8,
           "option \"roots\": invalid root \"ftp://x/\" (use "
           "s3://bucket/prefix/");
    expect("delim.yaml", 4, 12,
           "option \"delimiter\": delimiter must be exactly one character");
    expect("pg.yaml", 1, 1, "option \"user\": no role to log in as (set");
    expect("pgkey.yaml", 4, 14,
           "option \"credentials\": credentials must name a whole secret");
    cr_assert_lt(dsb_diags_find(&d, "ok.yaml", 0, ""), 0);
    cr_assert_eq(d.errors, 4);
    free(dir);
}

/* The value options of issue 15 (sample_rows, column_stats, mask_columns)
 * and the context budgets are checked like every option, naming the key. */
Test(config, value_options_and_budgets_name_their_key)
{
    char *dir = write_conf("context:\n  max_prompt_chars: 10\n"
                           "  max_table_prompt_char: 5000\n",
                           "pg.yaml",
                           "name: pg\nplugin: postgres\nhost: h\nuser: u\n"
                           "sample_rows: 500\nmask_colums: [\"*x*\"]\n"
                           "column_stats: maybe\n");

    t_write(dir, "csv.yaml",
            "name: csv\nplugin: s3csv\nroots: [\"file:///srv/csv/\"]\n"
            "mask_columns: {a: b}\n");
    t_write(dir, "glue.yaml", "name: glue\nplugin: glue\nsample_rows: 3\n");
    load_with(dir, getenv("DSB_PLUGIN_DIR"));
    expect("broker.yaml", 2, 21,
           "option \"context.max_prompt_chars\" is 10; it must be between "
           "2000 and 100000000");
    expect("broker.yaml", 3, 3,
           "unknown key \"max_table_prompt_char\" (did you mean "
           "\"max_table_prompt_chars\"?)");
    expect("pg.yaml", 5, 14,
           "option \"sample_rows\" is 500; it must be between 0 and 100");
    expect("pg.yaml", 6, 1,
           "unknown key \"mask_colums\" (did you mean \"mask_columns\"?)");
    expect("pg.yaml", 7, 15,
           "option \"column_stats\" must be true or false, got \"maybe\"");
    expect("csv.yaml", 4, 15, "mask_columns");
    expect("glue.yaml", 3, 1, "unknown key \"sample_rows\"");
    free(dir);
}
