/* The spark-submit executor on a real Spark standalone cluster: a master
 * and two workers on 127.0.0.1 from the project venv's PySpark
 * (tests/scripts/spark_cluster.sh, fixture spark_cluster).  The driver
 * runs confined here (client deploy mode), the executors on the workers.
 * A job routed to the cluster by its source's network aggregates a local
 * CSV into exact rows, and its record shows the master's application; a
 * cancelled job's driver stops and the master sees its application end. */
#include <signal.h>
#include <sys/stat.h>

#include "jobs/spark.h"
#include "jobs_test.h"

static struct jt t;

/* the local executor reaches "public" only: a source on "lan" can only be
 * routed to the cluster */
static const char yaml[] =
    "state_dir: ${DSB_TEST_DIR}/state\n"
    "executors:\n"
    "  - name: local\n"
    "    type: local-spark\n"
    "    networks: [public]\n"
    "    master: local[1]\n"
    "  - name: cluster\n"
    "    type: spark-submit\n"
    "    networks: [lan]\n"
    "    master: ${DSB_TEST_SPARK_MASTER}\n"
    "    master_ui_url: ${DSB_TEST_SPARK_MASTER_UI}\n"
    "    driver_host: 127.0.0.1\n"
    "    conf: {spark.sql.shuffle.partitions: \"2\", "
    "spark.executor.memory: 512m, spark.executor.cores: \"1\", "
    "spark.cores.max: \"1\"}\n";

/* Runs on a worker's executor (each job takes one core of the two the
 * workers offer, so the suite's two jobs run side by side), which writes
 * the output. */
static const char script[] =
    "import os, sys\n"
    "from pyspark.sql import SparkSession, functions as F\n"
    "spark = SparkSession.builder.getOrCreate()\n"
    "df = (spark.read.option('header', True).option('inferSchema', True)\n"
    "      .csv(sys.argv[1]).repartition(2))\n"
    "out = (df.groupBy('region').agg(F.sum('amount').alias('total'),\n"
    "                                F.count('*').alias('n'))\n"
    "         .orderBy('region'))\n"
    "out.coalesce(1).write.csv(os.environ['DSB_OUTPUT'], header=True)\n"
    "spark.stop()\n";

/* Holds its executor until it is stopped. */
static const char long_script[] =
    "import time\n"
    "from pyspark.sql import SparkSession\n"
    "spark = SparkSession.builder.getOrCreate()\n"
    "sc = spark.sparkContext\n"
    "print('started', flush=True)\n"
    "sc.parallelize(range(1), 1).foreach(lambda _: time.sleep(600))\n";

static void setup(void)
{
    char master[256], ui[256];

    t_service("spark-cluster", "DSB_TEST_SPARK_MASTER", master, sizeof(master));
    t_service("spark-cluster", "DSB_TEST_SPARK_MASTER_UI", ui, sizeof(ui));
    setenv("DSB_TEST_SPARK_MASTER", master, 1);
    setenv("DSB_TEST_SPARK_MASTER_UI", ui, 1);
    jt_config(&t, yaml);
    jt_open(&t, NULL);
    /* the workers (as the job's user) pass through to the job's output
     * and read the CSV: docs/jobs.md, spark-submit */
    cr_assert_eq(chmod(t.dir, 0711), 0);
    {
        char *state = dsb_asprintf("%s/state", t.dir);
        char *jobs = dsb_asprintf("%s/state/jobs", t.dir);
        cr_assert_eq(chmod(state, 0711), 0);
        cr_assert_eq(chmod(jobs, 0711), 0);
        free(state);
        free(jobs);
    }
}

static void teardown(void)
{
    jt_close(&t);
}

TestSuite(cluster, .init = setup, .fini = teardown, .timeout = 240);

/* Waits until the record's cluster member has a state in want (a
 * "|"-separated list); the record (new reference). */
static json_t *wait_app(const char *id, const char *want, long timeout_ms)
{
    struct timespec ts = {0, 50 * 1000000L};
    json_t *doc = NULL;

    for (long waited = 0; waited <= timeout_ms; waited += 50) {
        const char *st;
        char pat[64];
        json_decref(doc);
        cr_assert_eq(dsb_jobs_get(t.jobs, id, &doc, &t.err), 0, "%s",
                     t.err.message);
        st = jt_str(doc, "cluster", "state");
        snprintf(pat, sizeof(pat), "|%s|", st ? st : "-");
        if (st && strstr(want, pat))
            return doc;
        nanosleep(&ts, NULL);
    }
    return doc;
}

static void show_failure(const char *id, const json_t *done)
{
    json_t *logs = NULL;

    dsb_jobs_logs(t.jobs, id, 0, 6000, &logs, &t.err);
    cr_assert_fail("job %s: %s\n%s", jt_str(done, "state", NULL),
                   jt_str(done, "reason", NULL),
                   logs ? jt_str(logs, "stderr", NULL) : "");
}

Test(cluster, csv_job_routed_to_the_cluster_runs_on_the_workers)
{
    struct dsb_job_request r = {0};
    json_t *rs, *job, *done, *res, *args, *app, *logs;
    const char *id;
    char *s, *csv, *want;

    t_write(t.dir, "sales.csv",
            "region,amount\nwest,10\neast,5\nwest,7\n"
            "north,1\neast,2\n");
    csv = dsb_asprintf("%s/sales.csv", t.dir);
    cr_assert_eq(chmod(csv, 0644), 0);
    rs = json_pack("[{s:s, s:s+}]", "network", "lan", "path", "file://", csv);
    args = json_pack("[s]", csv);
    r.session_id = "cluster-session";
    r.code = script;
    r.args = args;
    r.read_specs = rs;
    r.name = "sales on the cluster";
    cr_assert_eq(dsb_jobs_submit(t.jobs, &r, &job, &t.err), 0, "%s",
                 t.err.message);
    id = jt_str(job, "id", NULL);
    cr_assert_str_eq(jt_str(job, "route", "executor"), "cluster",
                     "a source on lan goes to the cluster");
    done = jt_wait(&t, id, "succeeded", 200000);
    if (strcmp(jt_str(done, "state", NULL), "succeeded") != 0)
        show_failure(id, done);
    cr_assert_str_eq(jt_str(done, "local", "isolation"), "bwrap",
                     "the driver is confined");
    cr_assert_str_eq(jt_str(done, "cluster", "master"),
                     getenv("DSB_TEST_SPARK_MASTER"));
    cr_assert_eq(dsb_jobs_result(t.jobs, id, 100, &res, &t.err), 0, "%s",
                 t.err.message);
    s = json_dumps(res, JSON_COMPACT | JSON_SORT_KEYS);
    cr_assert_str_eq(s, "{\"columns\":[\"region\",\"total\",\"n\"],"
                        "\"format\":\"csv\",\"rows\":[[\"east\",\"7\",\"2\"],"
                        "[\"north\",\"1\",\"1\"],[\"west\",\"17\",\"2\"]],"
                        "\"truncated\":false}");
    /* the application the driver registered, as the master lists it */
    app = wait_app(id, "|FINISHED|", 30000);
    cr_assert(jt_str(app, "cluster", "app_id") &&
                  strncmp(jt_str(app, "cluster", "app_id"), "app-", 4) == 0,
              "%s", json_dumps(app, JSON_COMPACT));
    cr_assert_str_eq(jt_str(app, "cluster", "state"), "FINISHED", "%s",
                     json_dumps(app, JSON_COMPACT));
    /* the driver's logs: where the broker read the application id */
    cr_assert_eq(dsb_jobs_logs(t.jobs, id, 0, 1 << 20, &logs, &t.err), 0, "%s",
                 t.err.message);
    want = dsb_asprintf("with app ID %s", jt_str(app, "cluster", "app_id"));
    cr_assert(strstr(jt_str(logs, "stderr", NULL), want), "%s",
              jt_str(logs, "stderr", NULL));
    free(want);
    json_decref(logs);
    free(s);
    json_decref(app);
    json_decref(res);
    json_decref(rs);
    json_decref(args);
    free(csv);
    json_decref(job);
    json_decref(done);
}

Test(cluster, cancel_stops_the_driver_and_the_application)
{
    struct dsb_job_request r = {0};
    json_t *job, *running, *done, *app, *rs;
    const char *id;
    pid_t pid;

    rs = json_pack("[{s:s}]", "network", "lan");
    r.session_id = "cluster-session";
    r.code = long_script;
    r.read_specs = rs;
    r.name = "holds the cluster";
    cr_assert_eq(dsb_jobs_submit(t.jobs, &r, &job, &t.err), 0, "%s",
                 t.err.message);
    id = jt_str(job, "id", NULL);
    running = wait_app(id, "|RUNNING|", 120000);
    if (!jt_str(running, "cluster", "state"))
        show_failure(id, running);
    cr_assert_str_eq(jt_str(running, "cluster", "state"), "RUNNING", "%s",
                     json_dumps(running, JSON_COMPACT));
    pid = (pid_t)json_integer_value(
        json_object_get(json_object_get(running, "local"), "pid"));
    cr_assert_gt(pid, 0);
    cr_assert_eq(dsb_jobs_cancel(t.jobs, id, &done, &t.err), 0, "%s",
                 t.err.message);
    json_decref(done);
    done = jt_wait(&t, id, "cancelled", 60000);
    cr_assert_str_eq(jt_str(done, "state", NULL), "cancelled");
    cr_assert(kill(pid, 0) < 0, "the driver's process group is gone");
    /* the master saw the driver go: the application ended */
    app = wait_app(id, "|FINISHED|KILLED|FAILED|", 60000);
    cr_assert(dsb_spark_app_final(jt_str(app, "cluster", "state")), "%s",
              json_dumps(app, JSON_COMPACT));
    json_decref(app);
    json_decref(running);
    json_decref(done);
    json_decref(job);
    json_decref(rs);
}
