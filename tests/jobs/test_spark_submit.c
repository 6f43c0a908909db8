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
            "\"spark:/127.0.0.1:7077\" is not a cluster master: give "
            "spark://HOST:PORT (standalone), k8s://https://API-SERVER "
            "(Kubernetes) or yarn");
    refused("    master: local[2]\n", "a local master is type local-spark");
    refused("    master: k8s://10.0.0.1:6443\n", "is not a cluster master");
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
    refused("    master: spark://h:7077\n    queue: etl\n",
            "broker.yaml:6:12: error: option \"queue\" does not apply to "
            "master spark://h:7077: only YARN takes it");
    refused("    master: yarn\n    output_uri: s3a://b/o/\n"
            "    isolation: none\n",
            "option \"isolation\" does not apply to master yarn: only a "
            "standalone master takes it (the driver runs on the cluster, not "
            "here)");
    refused("    master: yarn\n    output_uri: s3a://b/o/\n"
            "    deploy_mode: client\n",
            "deploy_mode \"client\" with master yarn: the broker runs YARN "
            "jobs in cluster deploy mode only");
    refused("    master: yarn\n", "master yarn needs option \"output_uri\"");
    refused("    master: k8s://https://api:6443\n    output_uri: s3a://b/o/\n"
            "    upload_path: s3a://b/up\n",
            "master k8s://https://api:6443 needs option \"image\"");
    refused("    master: k8s://https://api:6443\n    output_uri: s3a://b/o/\n"
            "    image: spark:4\n",
            "master k8s://https://api:6443 needs option \"upload_path\"");
    refused("    master: k8s://https://api:6443\n    output_uri: s3a://b/o/\n"
            "    image: spark:4\n    upload_path: s3a://b/up\n"
            "    conf_dir: /etc/hadoop\n",
            "option \"conf_dir\" does not apply to master "
            "k8s://https://api:6443: only YARN takes it");
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

/* ------------------------------------------------ Kubernetes and YARN */

/* argv joined with newlines (malloc'd). */
static char *joined(const struct dsb_strv *a)
{
    char *s = strdup("");

    for (size_t i = 0; i < a->n; i++) {
        char *n = dsb_asprintf("%s%s\n", s, a->v[i]);
        free(s);
        s = n;
    }
    return s;
}

/* A job record as the service builds it before the start. */
static json_t *record(void)
{
    return json_pack(
        "{s:s, s:s, s:s, s:[s], s:{s:s}, s:{s:[s], s:{s:s}}}", "id", "J_7Xk2Ab",
        "name", "daily sales", "session_id", "S1", "args", "2026", "output",
        "uri", "s3a://b/out/J_7Xk2Ab", "spark_submit", "jars",
        "s3a://b/jars/pg.jar", "conf", "spark.executor.memory", "2g");
}

Test(spark_submit, k8s_command_lines)
{
    json_t *o = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s}}", "master",
        "k8s://https://api.lan:6443", "namespace", "etl", "service_account",
        "spark", "image", "repo/spark:4.0", "driver_pod_template",
        "/etc/dsb/driver.yaml", "executor_pod_template", "/etc/dsb/exec.yaml",
        "upload_path", "s3a://b/uploads", "conf",
        "spark.kubernetes.authenticate.submission.caCertFile", "/etc/ca.pem",
        "spark.executor.memory", "2g");
    json_t *doc = record();
    struct dsb_strv a = {0};
    char *s, *pod;

    pod = dsb_spark_k8s_pod("J_7Xk2Ab");
    cr_assert_str_eq(pod, "dsb-j-7xk2ab");
    free(pod);
    cr_assert_eq(dsb_spark_submit_argv(o, doc, "/opt/spark/bin/spark-submit",
                                       "/state/jobs/J_7Xk2Ab/main.py", &a),
                 0);
    s = joined(&a);
    cr_assert_str_eq(
        s,
        "/opt/spark/bin/spark-submit\n--master\nk8s://https://api.lan:6443\n"
        "--deploy-mode\ncluster\n--name\ndaily sales\n"
        "--jars\ns3a://b/jars/pg.jar\n"
        "--conf\nspark.executor.memory=2g\n"
        "--conf\nspark.kubernetes.namespace=etl\n"
        "--conf\nspark.kubernetes.authenticate.driver.serviceAccountName="
        "spark\n"
        "--conf\nspark.kubernetes.container.image=repo/spark:4.0\n"
        "--conf\nspark.kubernetes.driver.podTemplateFile=/etc/dsb/driver.yaml\n"
        "--conf\nspark.kubernetes.executor.podTemplateFile=/etc/dsb/exec.yaml\n"
        "--conf\nspark.kubernetes.file.upload.path=s3a://b/uploads\n"
        "--conf\nspark.kubernetes.driver.pod.name=dsb-j-7xk2ab\n"
        "--conf\nspark.kubernetes.driver.label.dsb-job=dsb-j-7xk2ab\n"
        "--conf\nspark.kubernetes.submission.waitAppCompletion=false\n"
        "--conf\nspark.kubernetes.driverEnv.DSB_OUTPUT=s3a://b/out/J_7Xk2Ab\n"
        "--conf\nspark.kubernetes.driverEnv.DSB_JOB_ID=J_7Xk2Ab\n"
        "--conf\nspark.kubernetes.driverEnv.DSB_SESSION_ID=S1\n"
        "/state/jobs/J_7Xk2Ab/main.py\n2026\n");
    free(s);
    dsb_strv_free(&a);
    s = dsb_spark_k8s_submission(o, "J_7Xk2Ab");
    cr_assert_str_eq(s, "etl:dsb-j-7xk2ab");
    json_object_set_new(doc, "cluster", json_pack("{s:s}", "submission_id", s));
    free(s);
    cr_assert_eq(dsb_spark_status_argv(o, doc, "/opt/ss", &a), 0);
    s = joined(&a);
    cr_assert_str_eq(
        s, "/opt/ss\n--master\nk8s://https://api.lan:6443\n"
           "--conf\nspark.kubernetes.authenticate.submission.caCertFile=/etc/"
           "ca.pem\n--status\netl:dsb-j-7xk2ab\n");
    free(s);
    dsb_strv_free(&a);
    cr_assert_eq(dsb_spark_kill_argv(o, doc, "/opt/ss", &a), 0);
    s = joined(&a);
    cr_assert(strstr(s, "\n--kill\netl:dsb-j-7xk2ab\n"), "%s", s);
    free(s);
    dsb_strv_free(&a);
    json_decref(doc);
    json_decref(o);
}

Test(spark_submit, yarn_command_lines)
{
    json_t *o = json_pack("{s:s, s:s, s:s}", "master", "yarn", "queue", "etl",
                          "conf_dir", "/etc/hadoop/conf");
    json_t *doc = record();
    struct dsb_strv a = {0};
    char *s;

    cr_assert_eq(dsb_spark_submit_argv(o, doc, "/opt/ss", "main.py", &a), 0);
    s = joined(&a);
    cr_assert_str_eq(s, "/opt/ss\n--master\nyarn\n--deploy-mode\ncluster\n"
                        "--name\ndaily sales\n--queue\netl\n"
                        "--jars\ns3a://b/jars/pg.jar\n"
                        "--conf\nspark.executor.memory=2g\n"
                        "--conf\nspark.yarn.submit.waitAppCompletion=false\n"
                        "--conf\nspark.yarn.tags=J_7Xk2Ab\n"
                        "--conf\nspark.yarn.appMasterEnv.DSB_OUTPUT=s3a://b/"
                        "out/J_7Xk2Ab\n"
                        "--conf\nspark.yarn.appMasterEnv.DSB_JOB_ID=J_7Xk2Ab\n"
                        "--conf\nspark.yarn.appMasterEnv.DSB_SESSION_ID=S1\n"
                        "main.py\n2026\n");
    free(s);
    dsb_strv_free(&a);
    cr_assert_eq(dsb_spark_status_argv(o, doc, "/usr/bin/yarn", &a), -1,
                 "no submission id yet");
    dsb_strv_free(&a);
    json_object_set_new(
        doc, "cluster",
        json_pack("{s:s}", "submission_id", "application_1765123200000_0042"));
    cr_assert_eq(dsb_spark_status_argv(o, doc, "/usr/bin/yarn", &a), 0);
    s = joined(&a);
    cr_assert_str_eq(s, "/usr/bin/yarn\napplication\n-status\n"
                        "application_1765123200000_0042\n");
    free(s);
    dsb_strv_free(&a);
    cr_assert_eq(dsb_spark_kill_argv(o, doc, "/usr/bin/yarn", &a), 0);
    s = joined(&a);
    cr_assert_str_eq(s, "/usr/bin/yarn\napplication\n-kill\n"
                        "application_1765123200000_0042\n");
    free(s);
    dsb_strv_free(&a);
    json_decref(doc);
    json_decref(o);
}

Test(spark_submit, state_mappings)
{
    static const char *const k8s[][2] = {
        {"Pending", "pending"},     {"Running", "running"},
        {"Succeeded", "succeeded"}, {"Failed", "failed"},
        {"Unknown", NULL},          {"Evicted", NULL}};
    static const char *const yarn[][3] = {
        {"NEW", "UNDEFINED", "pending"},
        {"NEW_SAVING", "UNDEFINED", "pending"},
        {"SUBMITTED", "UNDEFINED", "pending"},
        {"ACCEPTED", "UNDEFINED", "pending"},
        {"RUNNING", "UNDEFINED", "running"},
        {"FINISHED", "SUCCEEDED", "succeeded"},
        {"FINISHED", "FAILED", "failed"},
        {"FINISHED", "KILLED", "cancelled"},
        {"FINISHED", "UNDEFINED", "failed"},
        {"FAILED", "FAILED", "failed"},
        {"KILLED", "KILLED", "cancelled"},
        {"SLEEPING", "UNDEFINED", NULL}};

    for (size_t i = 0; i < sizeof(k8s) / sizeof(*k8s); i++) {
        const char *got = dsb_spark_k8s_state(k8s[i][0]);
        cr_assert(got == k8s[i][1] ||
                      (got && k8s[i][1] && strcmp(got, k8s[i][1]) == 0),
                  "%s -> %s", k8s[i][0], got ? got : "NULL");
    }
    cr_assert_null(dsb_spark_k8s_state(NULL));
    for (size_t i = 0; i < sizeof(yarn) / sizeof(*yarn); i++) {
        const char *got = dsb_spark_yarn_state(yarn[i][0], yarn[i][1]);
        cr_assert(got == yarn[i][2] ||
                      (got && yarn[i][2] && strcmp(got, yarn[i][2]) == 0),
                  "%s/%s -> %s", yarn[i][0], yarn[i][1], got ? got : "NULL");
    }
}

Test(spark_submit, client_output_parsing)
{
    char *s, *st, *fin;

    s = dsb_spark_k8s_phase_in("Application status (driver): \n"
                               "\t pod name: dsb-x\n\t phase: Running  \n"
                               "\t container status: \n");
    cr_assert_str_eq(s, "Running");
    free(s);
    cr_assert_null(dsb_spark_k8s_phase_in("nothing\n"));
    cr_assert(dsb_spark_k8s_not_found("Application not found.\n"));
    cr_assert(!dsb_spark_k8s_not_found("phase: Running\n"));
    s = dsb_spark_yarn_app_in("INFO Client: Submitted application "
                              "application_1765123200000_0042\nINFO x\n");
    cr_assert_str_eq(s, "application_1765123200000_0042");
    free(s);
    cr_assert_null(dsb_spark_yarn_app_in("Submitted application x"));
    cr_assert_eq(dsb_spark_yarn_report_in("Application Report : \n"
                                          "\tState : FINISHED\n"
                                          "\tFinal-State : SUCCEEDED\n",
                                          &st, &fin),
                 0);
    cr_assert_str_eq(st, "FINISHED");
    cr_assert_str_eq(fin, "SUCCEEDED");
    free(st);
    free(fin);
    cr_assert_eq(dsb_spark_yarn_report_in("error\n", &st, &fin), -1);
    cr_assert_null(st);
    cr_assert_null(fin);
}

/* Both kinds against the stand-in clients (tests/jobs/fake-cluster.sh),
 * through the job service and its tracker. */
#define KUBE_EXECUTOR                                                          \
    "  - name: kube\n"                                                         \
    "    type: spark-submit\n"                                                 \
    "    networks: [kube]\n"                                                   \
    "    master: k8s://https://127.0.0.1:6443\n"                               \
    "    namespace: etl\n"                                                     \
    "    image: repo/spark:4.0\n"                                              \
    "    upload_path: s3a://b/uploads\n"                                       \
    "    output_uri: s3a://b/out/\n"                                           \
    "    spark_submit: ${DSB_TEST_FAKE_CLUSTER}\n"

static const char remote_yaml[] =
    "state_dir: ${DSB_TEST_DIR}/state\n"
    "executors:\n" KUBE_EXECUTOR "  - name: hadoop\n"
    "    type: spark-submit\n"
    "    networks: [hadoop]\n"
    "    master: yarn\n"
    "    queue: etl\n"
    "    output_uri: s3a://b/out/\n"
    "    conf_dir: /etc/hadoop/conf\n"
    "    spark_submit: ${DSB_TEST_FAKE_CLUSTER}\n"
    "    yarn: ${DSB_TEST_FAKE_CLUSTER}\n";

static json_t *submit_to(struct jt *t, const char *network, const char *arg)
{
    struct dsb_job_request r = {0};
    json_t *rs = json_pack("[{s:s}]", "network", network);
    json_t *args = json_pack("[s]", arg), *job = NULL;

    r.session_id = "s";
    r.code = "print('hello')\n";
    r.args = args;
    r.read_specs = rs;
    cr_assert_eq(dsb_jobs_submit(t->jobs, &r, &job, &t->err), 0, "%s",
                 t->err.message);
    json_decref(rs);
    json_decref(args);
    return job;
}

/* Sets the stand-in cluster's state of job doc. */
static void set_state(const json_t *doc, const char *state)
{
    const char *dir = jt_str(doc, "cluster", "dir");
    char *tmp = dsb_asprintf("%s/state.tmp", dir);
    char *path = dsb_asprintf("%s/state", dir);

    t_write(dir, "state.tmp", state);
    cr_assert_eq(rename(tmp, path), 0);
    free(tmp);
    free(path);
}

static json_t *wait_state(struct jt *t, const char *id, const char *state)
{
    json_t *doc = jt_wait(t, id, state, 20000);
    cr_assert_str_eq(jt_str(doc, "state", NULL), state, "%s",
                     json_dumps(doc, JSON_COMPACT));
    return doc;
}

Test(spark_submit, k8s_through_the_tracker)
{
    struct jt t;
    char *fake = t_src("tests/jobs/fake-cluster.sh"), *argv;
    json_t *job, *doc, *c;
    const char *id;

    setenv("DSB_TEST_FAKE_CLUSTER", fake, 1);
    jt_config(&t, remote_yaml);
    jt_open(&t, NULL);
    job = submit_to(&t, "kube", "2026");
    id = jt_str(job, "id", NULL);
    cr_assert_str_eq(jt_str(job, "route", "executor"), "kube");
    cr_assert_str_eq(jt_str(job, "state", NULL), "pending");
    cr_assert_str_eq(jt_str(job, "cluster", "kind"), "k8s");
    argv = dsb_asprintf("s3a://b/out/%s", id);
    cr_assert_str_eq(jt_str(job, "output", "uri"), argv);
    free(argv);
    argv = jt_file(jt_str(job, "cluster", "dir"), "submit.argv");
    cr_assert(strstr(argv, "--deploy-mode\ncluster\n"), "%s", argv);
    cr_assert(strstr(argv, "spark.kubernetes.submission.waitAppCompletion="
                           "false\n"),
              "%s", argv);
    free(argv);
    set_state(job, "Running");
    doc = wait_state(&t, id, "running");
    cr_assert_str_eq(jt_str(doc, "cluster", "state"), "Running");
    argv = jt_file(jt_str(job, "cluster", "dir"), "status.argv");
    cr_assert(strstr(argv, "--status\netl:dsb-"), "%s", argv);
    free(argv);
    json_decref(doc);
    /* an unknown phase changes nothing but is shown */
    set_state(job, "Unknown");
    for (int i = 0; i < 400; i++) {
        struct timespec ts = {0, 50 * 1000000L};
        cr_assert_eq(dsb_jobs_get(t.jobs, id, &doc, &t.err), 0);
        if (jt_str(doc, "cluster", "problem"))
            break;
        json_decref(doc);
        doc = NULL;
        nanosleep(&ts, NULL);
    }
    cr_assert_not_null(doc);
    cr_assert_str_eq(jt_str(doc, "state", NULL), "running");
    cr_assert_str_eq(jt_str(doc, "cluster", "state"), "Unknown");
    json_decref(doc);
    /* cancel: --kill deletes the driver pod, the next status finds none */
    cr_assert_eq(dsb_jobs_cancel(t.jobs, id, &c, &t.err), 0, "%s",
                 t.err.message);
    json_decref(c);
    doc = wait_state(&t, id, "cancelled");
    argv = jt_file(jt_str(job, "cluster", "dir"), "kill.argv");
    cr_assert(strstr(argv, "--kill\netl:dsb-"), "%s", argv);
    free(argv);
    json_decref(doc);
    json_decref(job);
    /* a job that ends well, and one the cluster fails */
    job = submit_to(&t, "kube", "ok");
    set_state(job, "Succeeded");
    doc = wait_state(&t, jt_str(job, "id", NULL), "succeeded");
    json_decref(doc);
    json_decref(job);
    job = submit_to(&t, "kube", "ok");
    set_state(job, "Failed");
    doc = wait_state(&t, jt_str(job, "id", NULL), "failed");
    cr_assert(strstr(jt_str(doc, "reason", NULL), "failed on the cluster"));
    json_decref(doc);
    json_decref(job);
    jt_close(&t);
    free(fake);
}

/* A status command that does not end (a cluster that does not answer)
 * holds up no other job: it runs on the cluster poller, so the tracker
 * still sees a local job end. */
static const char held_yaml[] = "state_dir: ${DSB_TEST_DIR}/state\n"
                                "executors:\n" KUBE_EXECUTOR "  - name: local\n"
                                "    type: local-spark\n"
                                "    networks: [local]\n"
                                "    isolation: none\n"
                                "    spark_submit: ${DSB_TEST_FAKE_SPARK}\n";

Test(spark_submit, a_status_command_that_hangs_holds_up_no_other_job)
{
    char *fake = t_src("tests/jobs/fake-cluster.sh");
    char *spark = t_src("tests/jobs/fake-spark-submit.sh"), *holding, *hold;
    struct jt t;
    json_t *kube, *local, *doc;

    setenv("DSB_TEST_FAKE_CLUSTER", fake, 1);
    setenv("DSB_TEST_FAKE_SPARK", spark, 1);
    jt_config(&t, held_yaml);
    jt_open(&t, NULL);
    kube = submit_to(&t, "kube", "ok");
    hold = dsb_asprintf("%s/hold", jt_str(kube, "cluster", "dir"));
    holding = dsb_asprintf("%s/holding", jt_str(kube, "cluster", "dir"));
    t_write(jt_str(kube, "cluster", "dir"), "hold", "");
    set_state(kube, "Running");
    for (int64_t end = dsb_monotonic_ms() + 20000;
         access(holding, F_OK) != 0 && dsb_monotonic_ms() < end;)
        nanosleep(&(struct timespec){0, 20000000}, NULL);
    cr_assert_eq(access(holding, F_OK), 0, "the status command never ran");

    local = submit_to(&t, "local", "ok");
    doc = wait_state(&t, jt_str(local, "id", NULL), "succeeded");
    json_decref(doc);
    cr_assert_eq(access(hold, F_OK), 0, "the status command was let go");
    cr_assert_eq(unlink(hold), 0);
    doc = wait_state(&t, jt_str(kube, "id", NULL), "running");
    json_decref(doc);
    json_decref(local);
    json_decref(kube);
    jt_close(&t);
    free(hold);
    free(holding);
    free(spark);
    free(fake);
}

Test(spark_submit, yarn_through_the_tracker)
{
    struct jt t;
    char *fake = t_src("tests/jobs/fake-cluster.sh"), *argv;
    struct dsb_job_request r = {0};
    json_t *job, *doc, *c, *rs, *args;
    const char *id;

    setenv("DSB_TEST_FAKE_CLUSTER", fake, 1);
    jt_config(&t, remote_yaml);
    jt_open(&t, NULL);
    job = submit_to(&t, "hadoop", "2026");
    id = jt_str(job, "id", NULL);
    cr_assert_str_eq(jt_str(job, "route", "executor"), "hadoop");
    cr_assert_str_eq(jt_str(job, "cluster", "submission_id"),
                     "application_1765123200000_0042",
                     "the id spark-submit printed");
    doc = wait_state(&t, id, "pending");
    json_decref(doc);
    set_state(job, "RUNNING UNDEFINED");
    doc = wait_state(&t, id, "running");
    cr_assert_str_eq(jt_str(doc, "cluster", "final_state"), "UNDEFINED");
    json_decref(doc);
    argv = jt_file(jt_str(job, "cluster", "dir"), "status.argv");
    cr_assert_str_eq(argv, "application\n-status\n"
                           "application_1765123200000_0042\n");
    free(argv);
    cr_assert_eq(dsb_jobs_cancel(t.jobs, id, &c, &t.err), 0, "%s",
                 t.err.message);
    json_decref(c);
    doc = wait_state(&t, id, "cancelled");
    cr_assert_str_eq(jt_str(doc, "cluster", "state"), "KILLED");
    json_decref(doc);
    json_decref(job);
    /* FINISHED with FAILED, FINISHED with SUCCEEDED */
    job = submit_to(&t, "hadoop", "ok");
    set_state(job, "FINISHED FAILED");
    doc = wait_state(&t, jt_str(job, "id", NULL), "failed");
    json_decref(doc);
    json_decref(job);
    job = submit_to(&t, "hadoop", "ok");
    set_state(job, "FINISHED SUCCEEDED");
    doc = wait_state(&t, jt_str(job, "id", NULL), "succeeded");
    json_decref(doc);
    json_decref(job);
    /* a submit the cluster refuses fails at once, with its error */
    rs = json_pack("[{s:s}]", "network", "hadoop");
    args = json_pack("[s]", "refuse");
    r.session_id = "s";
    r.code = "print(1)\n";
    r.args = args;
    r.read_specs = rs;
    cr_assert_eq(dsb_jobs_submit(t.jobs, &r, &job, &t.err), -1);
    cr_assert(strstr(t.err.message, "spark-submit exited with status 1: "
                                    "Exception in thread \"main\""),
              "%s", t.err.message);
    json_decref(rs);
    json_decref(args);
    jt_close(&t);
    free(fake);
}
