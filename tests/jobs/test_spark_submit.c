/* The spark-submit executor without a cluster: broker.yaml checks (master
 * kinds, deploy_mode, network), the parsing of a driver's log and of a
 * standalone master's /json/, and a standalone driver's exact command and
 * environment with the stand-in spark-submit, whose master UI cannot be
 * reached (the job still succeeds). */
#include <stdio.h>

#include "jobs/spark.h"
#include "jobs_test.h"

/* The diagnostics of loading broker_yaml, as printed (malloc'd). */
static char *load_errors(const char *broker_yaml)
{
    char *dir = t_tmpdir(), *text = NULL;
    size_t len = 0;
    struct dsb_diags d;
    struct dsb_config *cfg;
    FILE *f;

    t_write(dir, "broker.yaml", broker_yaml);
    dsb_diags_init(&d);
    cfg = dsb_config_load_broker(dir, "/tmp", &d);
    f = open_memstream(&text, &len);
    dsb_diags_print(&d, f);
    fclose(f);
    cr_assert_gt(d.errors, 0, "no error for:\n%s", broker_yaml);
    dsb_config_free(cfg);
    dsb_diags_free(&d);
    free(dir);
    return text;
}

static void refused(const char *options, const char *want)
{
    char *yaml = dsb_asprintf("executors:\n"
                              "  - name: c\n"
                              "    type: spark-submit\n"
                              "    networks: [lan]\n"
                              "%s",
                              options);
    char *text = load_errors(yaml);

    cr_assert(strstr(text, want), "want \"%s\" in:\n%s", want, text);
    free(text);
    free(yaml);
}

Test(spark_submit, config_refuses_what_it_cannot_run)
{
    refused("    master: spark:/127.0.0.1:7077\n",
            "broker.yaml:5:13: error: spark-submit master "
            "\"spark:/127.0.0.1:7077\" is not a cluster master");
    refused("    master: local[2]\n", "a local master is type local-spark");
    refused("    master: k8s://https://10.0.0.1:6443\n",
            "Kubernetes masters are not supported by this broker yet");
    refused("    master: yarn\n",
            "YARN masters are not supported by this broker yet");
    refused("    master: spark://h:7077\n    deploy_mode: cluster\n",
            "broker.yaml:6:18: error: deploy_mode \"cluster\" with master "
            "spark://h:7077: a standalone master runs Python jobs in client "
            "deploy mode only");
    refused("    master: spark://h:7077\n    network: none\n",
            "broker.yaml:6:14: error: network: none with master "
            "spark://h:7077: the driver must reach the master");
    refused("    master: spark://h:7077\n    output_uri: /data/out\n",
            "output_uri \"/data/out\" of master spark://h:7077: give an "
            "s3a://bucket/prefix/ URI");
    refused("    isolation: none\n", "master");
}

Test(spark_submit, master_kinds_and_ui)
{
    json_t *o;
    char *ui;

    cr_assert_eq(dsb_spark_kind_of("spark://h:7077"), DSB_SPARK_STANDALONE);
    cr_assert_eq(dsb_spark_kind_of("spark://"), DSB_SPARK_NONE);
    cr_assert_eq(dsb_spark_kind_of("k8s://https://api:6443"), DSB_SPARK_K8S);
    cr_assert_eq(dsb_spark_kind_of("k8s://api:6443"), DSB_SPARK_NONE);
    cr_assert_eq(dsb_spark_kind_of("yarn"), DSB_SPARK_YARN);
    cr_assert_eq(dsb_spark_kind_of("local[2]"), DSB_SPARK_NONE);
    o = json_pack("{s:s}", "master", "spark://m1.lan:7077,m2.lan:7077");
    ui = dsb_spark_master_ui(o);
    cr_assert_str_eq(ui, "http://m1.lan:8080");
    free(ui);
    json_object_set_new(o, "master_ui_url", json_string("https://ui:8443/"));
    ui = dsb_spark_master_ui(o);
    cr_assert_str_eq(ui, "https://ui:8443");
    free(ui);
    json_decref(o);
}

Test(spark_submit, app_id_and_state_parsing)
{
    json_t *st;
    char *id;

    id = dsb_spark_app_id_in(
        "26/12/07 16:20:01 INFO StandaloneSchedulerBackend: Connected to "
        "Spark cluster with app ID app-20261207162001-0003\nmore\n");
    cr_assert_str_eq(id, "app-20261207162001-0003");
    free(id);
    cr_assert_null(dsb_spark_app_id_in("no id here"));
    cr_assert_null(dsb_spark_app_id_in(NULL));
    st =
        json_loads("{\"url\":\"spark://127.0.0.1:7077\",\"workers\":[],"
                   "\"activeapps\":[{\"id\":\"app-2\",\"name\":\"x\","
                   "\"state\":\"RUNNING\"}],"
                   "\"completedapps\":[{\"id\":\"app-1\",\"state\":\"KILLED\"},"
                   "{\"id\":7,\"state\":\"FINISHED\"}]}",
                   0, NULL);
    cr_assert_not_null(st);
    cr_assert_str_eq(dsb_spark_app_state(st, "app-2"), "RUNNING");
    cr_assert_str_eq(dsb_spark_app_state(st, "app-1"), "KILLED");
    cr_assert_null(dsb_spark_app_state(st, "app-3"));
    cr_assert(dsb_spark_app_final("KILLED") &&
              dsb_spark_app_final("FINISHED") && dsb_spark_app_final("FAILED"));
    cr_assert(!dsb_spark_app_final("RUNNING") && !dsb_spark_app_final(NULL) &&
              !dsb_spark_app_final("WAITING"));
    json_decref(st);
}

/* A standalone executor whose driver is the stand-in spark-submit (mode
 * python: it runs the script with python3), whose master UI refuses
 * connections. */
static const char yaml[] = "state_dir: ${DSB_TEST_DIR}/state\n"
                           "executors:\n"
                           "  - name: cluster\n"
                           "    type: spark-submit\n"
                           "    networks: [lan]\n"
                           "    master: spark://127.0.0.1:1\n"
                           "    master_ui_url: http://127.0.0.1:1\n"
                           "    driver_host: 127.0.0.2\n"
                           "    spark_submit: ${DSB_TEST_FAKE_SPARK}\n";

Test(spark_submit, standalone_driver_command_and_unreachable_master)
{
    struct jt t;
    struct dsb_job_request r = {0};
    json_t *job, *done, *args, *rs, *desc;
    char *fake = t_src("tests/jobs/fake-spark-submit.sh"), *argv, *env;
    const char *id;

    setenv("DSB_TEST_FAKE_SPARK", fake, 1);
    jt_config(&t, yaml);
    jt_open(&t, NULL);
    args = json_pack("[s]", "python");
    rs = json_pack("[{s:s}]", "network", "lan");
    r.session_id = "s";
    r.code = "import sys\n"
             "print('INFO StandaloneSchedulerBackend: Connected to Spark "
             "cluster with app ID app-20261207000000-0042', file=sys.stderr)\n";
    r.args = args;
    r.read_specs = rs;
    cr_assert_eq(dsb_jobs_submit(t.jobs, &r, &job, &t.err), 0, "%s",
                 t.err.message);
    id = jt_str(job, "id", NULL);
    cr_assert_str_eq(jt_str(job, "route", "executor"), "cluster");
    cr_assert_str_eq(jt_str(job, "cluster", "kind"), "standalone");
    cr_assert_str_eq(jt_str(job, "cluster", "master"), "spark://127.0.0.1:1");
    cr_assert_str_eq(jt_str(job, "cluster", "master_ui"), "http://127.0.0.1:1");
    done = jt_wait(&t, id, "succeeded", 30000);
    cr_assert_str_eq(jt_str(done, "state", NULL), "succeeded",
                     "a master UI that cannot be reached fails nothing: %s",
                     jt_str(done, "reason", NULL));
    /* the app id from the driver's log; the master's state unknown */
    for (int i = 0; i < 300 && !jt_str(done, "cluster", "problem"); i++) {
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
        json_decref(done);
        cr_assert_eq(dsb_jobs_get(t.jobs, id, &done, &t.err), 0);
    }
    cr_assert_str_eq(jt_str(done, "cluster", "app_id"),
                     "app-20261207000000-0042");
    cr_assert_null(jt_str(done, "cluster", "state"));
    cr_assert_not_null(jt_str(done, "cluster", "problem"));
    argv = jt_file(jt_str(done, "local", "work"), "argv.txt");
    env = jt_file(jt_str(done, "local", "work"), "environ.txt");
    cr_assert(strstr(argv, "--master\nspark://127.0.0.1:1\n"), "%s", argv);
    cr_assert(strstr(argv, "--conf\nspark.driver.bindAddress=127.0.0.2\n"
                           "--conf\nspark.driver.host=127.0.0.2\n"),
              "%s", argv);
    cr_assert_null(strstr(argv, "--deploy-mode"), "client is the default");
    cr_assert(strstr(env, "\nSPARK_LOCAL_IP=127.0.0.2\n"), "%s", env);
    cr_assert(strstr(env, "\nDSB_OUTPUT=") && strstr(env, "/work/output\n"),
              "%s", env);
    cr_assert_str_eq(jt_str(done, "local", "isolation"), "bwrap");
    /* GET /v1/executors shows the cluster */
    desc = dsb_spark_submit_ops.describe(&t.cfg->executors[0]);
    cr_assert_str_eq(jt_str(desc, "cluster", "driver_host"), "127.0.0.2");
    cr_assert_str_eq(jt_str(desc, "cluster", "deploy_mode"), "client");
    json_decref(desc);
    free(argv);
    free(env);
    json_decref(args);
    json_decref(rs);
    json_decref(job);
    json_decref(done);
    jt_close(&t);
    free(fake);
}
