/* The local-spark executor on a real PySpark (from the project venv),
 * confined (the default): a hand-written script reads a local CSV (a path
 * its read spec names, so its sandbox shows it), aggregates, writes CSV to
 * $DSB_OUTPUT, and the result comes back row for row.  One Spark run. */
#include "jobs_test.h"

static struct jt t;

static const char yaml[] = "state_dir: ${DSB_TEST_DIR}/state\n"
                           "executors:\n"
                           "  - name: local\n"
                           "    type: local-spark\n"
                           "    networks: [local]\n"
                           "    master: local[1]\n"
                           "    conf: {spark.sql.shuffle.partitions: \"1\"}\n";

static const char script[] =
    "import os, sys\n"
    "from pyspark.sql import SparkSession, functions as F\n"
    "spark = SparkSession.builder.getOrCreate()\n"
    "assert _dsb_secret('env:DSB_TEST_SPARK_SECRET') == 'pw-in-env-only'\n"
    "df = (spark.read.option('header', True).option('inferSchema', True)\n"
    "      .csv(sys.argv[1]))\n"
    "out = (df.groupBy('region').agg(F.sum('amount').alias('total'),\n"
    "                                F.count('*').alias('n'))\n"
    "         .orderBy('region'))\n"
    "out.coalesce(1).write.csv(os.environ['DSB_OUTPUT'], header=True)\n"
    "spark.stop()\n";

TestSuite(spark, .timeout = 240);

Test(spark, local_csv_job_end_to_end)
{
    struct dsb_job_request r = {0};
    json_t *rs, *job, *done, *res, *args;
    char *s, *csv;

    jt_config(&t, yaml);
    setenv("DSB_TEST_SPARK_SECRET", "pw-in-env-only", 1);
    t_write(t.dir, "sales.csv",
            "region,amount\nwest,10\neast,5\nwest,7\n"
            "north,1\neast,2\n");
    jt_open(&t, NULL);
    csv = dsb_asprintf("%s/sales.csv", t.dir);
    rs = json_pack("[{s:s, s:{s:s}, s:s+}]", "network", "local",
                   "secret_options", "password", "env:DSB_TEST_SPARK_SECRET",
                   "path", "file://", csv);
    args = json_pack("[s]", csv);
    r.session_id = "spark-session";
    r.code = script;
    r.args = args;
    r.read_specs = rs;
    r.name = "sales by region";
    cr_assert_eq(dsb_jobs_submit(t.jobs, &r, &job, &t.err), 0, "%s",
                 t.err.message);
    done = jt_wait(&t, jt_str(job, "id", NULL), "succeeded", 200000);
    if (strcmp(jt_str(done, "state", NULL), "succeeded") != 0) {
        json_t *logs;
        dsb_jobs_logs(t.jobs, jt_str(job, "id", NULL), 0, 4000, &logs, &t.err);
        cr_assert_fail("job %s: %s\n%s", jt_str(done, "state", NULL),
                       jt_str(done, "reason", NULL),
                       jt_str(logs, "stderr", NULL));
    }
    cr_assert_str_eq(jt_str(done, "local", "isolation"), "bwrap",
                     "confined by default");
    cr_assert_eq(
        dsb_jobs_result(t.jobs, jt_str(job, "id", NULL), 100, &res, &t.err), 0,
        "%s", t.err.message);
    s = json_dumps(res, JSON_COMPACT | JSON_SORT_KEYS);
    cr_assert_str_eq(s, "{\"columns\":[\"region\",\"total\",\"n\"],"
                        "\"format\":\"csv\",\"rows\":[[\"east\",\"7\",\"2\"],"
                        "[\"north\",\"1\",\"1\"],[\"west\",\"17\",\"2\"]],"
                        "\"truncated\":false}");
    free(s);
    json_decref(res);
    json_decref(rs);
    json_decref(args);
    free(csv);
    json_decref(job);
    json_decref(done);
    jt_close(&t);
}
