/*
 * End to end on a real Spark, through the HTTP API: a broker with the real
 * postgres.so (the fixture cluster) and s3csv.so (a CSV this test writes),
 * the local-spark executor.  A session selects "Sales"."Order Items"
 * (quoted, mixed case), types.big (50000 rows: a partitioned JDBC read)
 * and geo.regions (CSV); the job is the context's code exactly as served,
 * after a SparkSession line, plus a join and an aggregation written to
 * $DSB_OUTPUT; its result must be the rows the fixture data implies.
 * The job runs confined (the default): its sandbox shows the CSV, the JDBC
 * driver and the PySpark install, and PostgreSQL on loopback.  One Spark
 * run.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <sys/stat.h>
#include <time.h>

#include "http/http_support.h"
#include "postgres/pg_support.h"

static const char broker_yaml[] =
    "listen: 127.0.0.1:0\n"
    "state_dir: ${DSB_TEST_E2E_DIR}/state\n"
    "log_level: warn\n"
    "limits:\n"
    "  max_body_bytes: 1048576\n"
    "executors:\n"
    "  - name: local\n"
    "    type: local-spark\n"
    "    networks: [local, aurora-vpc]\n"
    "    master: local[2]\n"
    "    conf: {spark.sql.shuffle.partitions: \"2\"}\n"
    "default_executor: local\n";

static const char pg_yaml[] =
    T_PG_SOURCE_YAML("dsb") "partition_min_rows: 10000\n"
                            "partition_target_rows: 20000\n"
                            "max_partitions: 4\n";

static const char csv_yaml[] =
    "name: csv\n"
    "plugin: s3csv\n"
    "network: local\n"
    "roots: [\"file:${DSB_TEST_E2E_DIR}/e2edata/\"]\n";

/* plain_col of the line items -> region; 99 matches no line item. */
static const char regions_csv[] = "id,region\n10,north\n20,south\n"
                                  "30000,north\n99,west\n";

static const char head[] =
    "import os\n"
    "from pyspark.sql import SparkSession, functions as F\n"
    "spark = SparkSession.builder.getOrCreate()\n";

/* Line items joined to big (payload) and regions; per region: the number
 * of items, the sum of "Id", the "select" values and the largest payload. */
static const char tail_fmt[] =
    "\nitems, big, regions = %s, %s, %s\n"
    "j = (items.join(big, items['plain_col'] == big['id'])\n"
    "          .join(regions, items['plain_col'] == regions['id']))\n"
    "out = (j.groupBy('region')\n"
    "        .agg(F.count('*').alias('n'), F.sum(items['`Id`']).alias('ids'),\n"
    "             F.concat_ws('|', F.sort_array(F.collect_list(\n"
    "                 items['`select`']))).alias('selects'),\n"
    "             F.max(big['payload']).alias('payload'))\n"
    "        .orderBy('region'))\n"
    "out.coalesce(1).write.csv(os.environ['DSB_OUTPUT'], header=True)\n"
    "spark.stop()\n";

static const char expected[] =
    "{\"columns\":[\"region\",\"n\",\"ids\",\"selects\",\"payload\"],"
    "\"format\":\"csv\",\"rows\":[[\"north\",\"3\",\"8\",\"a|c|d\","
    "\"row 30000\"],[\"south\",\"1\",\"2\",\"b\",\"row 20\"]],"
    "\"truncated\":false}";

static char *pg_password;

/* The secret scan (tests/secrets-scan): the PostgreSQL password is a
 * canary; every response body is kept by t_req, every file of the job's
 * directory (script, launch record, logs, output) by keep_job_files. */
static void keep_canary(const char *value)
{
    FILE *f = t_canary_open("canaries", "e2e");

    if (f) {
        fprintf(f, "%s\n", value);
        fclose(f);
    }
}

static void keep_job_files(const char *id)
{
    char p[4200];

    snprintf(p, sizeof(p), "%s/state/jobs/%s", getenv("DSB_TEST_E2E_DIR"), id);
    t_canary_keep_tree("job-file", p);
}

static void start(void)
{
    char *dir = t_tmpdir(), conf[4200], root[4200], data[4300];
    char *pdir = getenv("DSB_PLUGIN_DIR");
    struct dsb_server_opts o = {.conf_dir = conf, .plugin_dir = pdir};
    struct dsb_diags d;

    pg_t_load_env();
    pg_password = t_slurp_file(fopen(getenv("DSB_TEST_PG_PASSWORD_FILE"), "r"));
    pg_password[strcspn(pg_password, "\n")] = '\0';
    cr_assert(strlen(pg_password) >= 8);
    keep_canary(pg_password);
    setenv("DSB_TEST_E2E_DIR", dir, 1);
    snprintf(conf, sizeof(conf), "%s/conf.d", dir);
    snprintf(root, sizeof(root), "%s/e2edata", dir);
    snprintf(data, sizeof(data), "%s/geo", root);
    cr_assert(mkdir(conf, 0700) == 0 && mkdir(root, 0700) == 0 &&
              mkdir(data, 0700) == 0);
    t_write(conf, "broker.yaml", broker_yaml);
    t_write(conf, "pg.yaml", pg_yaml);
    t_write(conf, "csv.yaml", csv_yaml);
    t_write(data, "regions.csv", regions_csv);
    dsb_diags_init(&d);
    t_srv = dsb_server_start(&o, &d);
    if (!t_srv || d.errors)
        dsb_diags_print(&d, stderr);
    cr_assert(t_srv, "the broker did not start");
    dsb_diags_free(&d);
    snprintf(t_base, sizeof(t_base), "http://127.0.0.1:%d",
             dsb_server_port(t_srv));
    free(dir);
}

static void stop(void)
{
    if (t_srv)
        t_stop();
    free(pg_password);
}

TestSuite(e2e, .init = start, .fini = stop, .timeout = 400);

static json_t *call(const char *method, const char *path, const char *body,
                    long status)
{
    static const char *const h[] = {"Content-Type: application/json", NULL};
    struct t_resp r = t_req(method, path, body ? h : NULL, body);
    json_t *j;

    cr_assert_eq(r.status, status, "%s %s: %ld %s", method, path, r.status,
                 r.body);
    cr_assert_null(strstr(r.body, pg_password), "a secret value leaked");
    j = t_json(&r);
    t_free(&r);
    return j;
}

static const char *str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* The variable of the context's table named `table`. */
static const char *var_of(const json_t *ctx, const char *table)
{
    const json_t *t;
    size_t i;

    json_array_foreach(json_object_get(ctx, "tables"), i,
                       t) if (strcmp(str(t, "table"), table) ==
                              0) return str(t, "variable");
    cr_assert_fail("no table %s in the context", table);
    return NULL;
}

/* head + the context's code verbatim + the join and aggregation. */
static char *job_code(const json_t *ctx)
{
    const char *code = str(ctx, "code");
    size_t cap = strlen(head) + strlen(code) + sizeof(tail_fmt) + 512;
    char *s = malloc(cap);
    int n = snprintf(s, cap, "%s%s", head, code);

    snprintf(s + n, cap - (size_t)n, tail_fmt, var_of(ctx, "Order Items"),
             var_of(ctx, "big"), var_of(ctx, "regions"));
    return s;
}

static json_t *wait_final(const char *id)
{
    struct timespec ts = {0, 250 * 1000000L};
    char p[160];

    snprintf(p, sizeof(p), "/v1/jobs/%s", id);
    for (int i = 0; i < 1200; i++) {
        json_t *j = call("GET", p, NULL, 200);
        const char *s = str(j, "state");
        if (strcmp(s, "pending") && strcmp(s, "running") &&
            strcmp(s, "cancelling"))
            return j;
        json_decref(j);
        nanosleep(&ts, NULL);
    }
    cr_assert_fail("job %s did not finish", id);
    return NULL;
}

static void assert_context(const json_t *ctx)
{
    const char *code = str(ctx, "code");

    cr_assert_str_eq(str(json_object_get(ctx, "route"), "executor"), "local");
    cr_assert(strstr(code, "def _dsb_secret(ref):"), "%s", code);
    cr_assert(strstr(code, "DSB_SECRET_MAP"), "%s", code);
    cr_assert(strstr(code, "\\\"Sales\\\".\\\"Order Items\\\""), "%s", code);
    cr_assert(strstr(code, ".option(\"partitionColumn\", \"id\")"), "%s", code);
    cr_assert(strstr(code, ".option(\"numPartitions\""), "%s", code);
}

Test(e2e, context_code_verbatim_joined_on_real_spark)
{
    json_t *s = call("POST", "/v1/sessions", NULL, 201), *ctx, *job, *done,
           *res, *req;
    char p[160], *code, *body, *got;

    snprintf(p, sizeof(p), "/v1/sessions/%s/selections", str(s, "id"));
    json_decref(call("POST", p,
                     "[{\"source\":\"pg\",\"database\":\"dsb\","
                     "\"schema\":\"Sales\",\"table\":\"Order Items\"},"
                     "{\"source\":\"pg\",\"database\":\"dsb\",\"schema\":"
                     "\"types\",\"table\":\"big\"},{\"source\":\"csv\","
                     "\"database\":\"e2edata\",\"schema\":\"geo\",\"table\":"
                     "\"regions\"}]",
                     201));
    snprintf(p, sizeof(p), "/v1/sessions/%s/context", str(s, "id"));
    ctx = call("GET", p, NULL, 200);
    assert_context(ctx);
    code = job_code(ctx);
    req = json_pack("{s:s, s:s}", "code", code, "name", "e2e");
    body = json_dumps(req, 0);
    json_decref(req);
    snprintf(p, sizeof(p), "/v1/sessions/%s/jobs", str(s, "id"));
    job = call("POST", p, body, 202);
    done = wait_final(str(job, "id"));
    keep_job_files(str(job, "id"));
    if (strcmp(str(done, "state"), "succeeded") != 0) {
        snprintf(p, sizeof(p), "/v1/jobs/%s/logs?lines=40", str(job, "id"));
        res = call("GET", p, NULL, 200);
        cr_assert_fail("job %s: %s\n%s", str(done, "state"),
                       str(done, "reason"), str(res, "stderr"));
    }
    cr_assert_str_eq(str(json_object_get(done, "local"), "isolation"), "bwrap",
                     "confined by default");
    snprintf(p, sizeof(p), "/v1/jobs/%s/result?limit=10", str(job, "id"));
    res = call("GET", p, NULL, 200);
    got = json_dumps(res, JSON_COMPACT | JSON_SORT_KEYS);
    cr_assert_str_eq(got, expected);
    free(got);
    free(code);
    free(body);
    json_decref(res);
    json_decref(done);
    json_decref(job);
    json_decref(ctx);
    json_decref(s);
}
