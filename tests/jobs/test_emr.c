/* The emr-serverless executor: against moto_server (two applications; the
 * StartJobRun body read back with GetJobRun; staging; cancel; S3 result)
 * and against a scripted endpoint (PENDING -> RUNNING -> SUCCESS/FAILED,
 * retries reusing the clientToken, deadline -> CancelJobRun, restarts of
 * the broker: while a run is RUNNING, and dead before StartJobRun or
 * staging answered). */
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include "aws/aws.h"
#include "jobs_test.h"

extern char **environ;

static struct jt t;
static struct dsb_aws *aws;
static char *moto_url;

static const char yaml[] =
    "state_dir: ${DSB_TEST_DIR}/state\n"
    "executors:\n"
    "  - name: local\n"
    "    type: local-spark\n"
    "    networks: [local]\n"
    "  - name: standard\n"
    "    type: emr-serverless\n"
    "    networks: [public]\n"
    "    application_id: ${DSB_TEST_APP_STD}\n"
    "    execution_role_arn: arn:aws:iam::123456789012:role/dsb-job\n"
    "    endpoint_url: ${DSB_TEST_EMR_URL}\n"
    "    staging_uri: s3://dsb-jobs/staging/\n"
    "    log_uri: s3://dsb-jobs/logs/\n"
    "  - name: vpc\n"
    "    type: emr-serverless\n"
    "    networks: [public, aurora-vpc]\n"
    "    application_id: ${DSB_TEST_APP_VPC}\n"
    "    execution_role_arn: arn:aws:iam::123456789012:role/dsb-vpc-job\n"
    "    endpoint_url: ${DSB_TEST_EMR_URL}\n"
    "    staging_uri: s3://dsb-jobs/staging\n"
    "    output_uri: s3://dsb-jobs/out\n"
    "    log_uri: s3://dsb-jobs/logs\n"
    "    jars: [s3://dsb-jobs/jars/common.jar]\n"
    "    conf: {spark.executor.cores: \"2\"}\n";

static void new_client(void)
{
    struct dsb_aws_options o = {0};
    struct dsb_error err;

    o.backoff_base_ms = 10;
    o.backoff_cap_ms = 50;
    o.max_attempts = 3; /* resubmission_retries_while_emr_fails counts them */
    aws = dsb_aws_new(&o, &err);
    cr_assert_not_null(aws, "%s", err.message);
}

/* A REST call with the client; the parsed 2xx body (new reference). */
static json_t *call(const char *svc, const char *method, const char *path,
                    const char *body)
{
    struct dsb_aws_request req = {0};
    struct dsb_aws_response resp = {0};
    struct dsb_kv hdr[] = {{"Content-Type", "application/json"}};
    struct dsb_error err;
    json_t *out;

    req.service = svc;
    req.method = method;
    req.path = path;
    req.endpoint_url = strcmp(svc, "s3") ? getenv("DSB_TEST_EMR_URL") : NULL;
    req.headers = hdr;
    req.n_headers = 1;
    req.body = body;
    req.body_len = body ? strlen(body) : 0;
    cr_assert_eq(dsb_aws_send(aws, &req, &resp, &err), 0, "%s", err.message);
    cr_assert_eq(resp.status / 100, 2, "%s %s: %ld %s", method, path,
                 resp.status, resp.body);
    out = resp.body_len ? json_loads(resp.body, 0, NULL) : json_object();
    if (!out)
        out = json_string(resp.body);
    dsb_aws_response_free(&resp);
    return out;
}

/* ------------------------------------------------------------- moto */

static char *moto_env(void)
{
    char *path = t_path("DSB_TEST_SERVICES", "moto.env"), *text, *url, *nl;
    size_t len;

    text = dsb_read_file(path, 4096, &len);
    cr_assert_not_null(text, "no %s: is the moto fixture up?", path);
    url = strstr(text, "DSB_TEST_MOTO_URL=");
    cr_assert_not_null(url);
    url = strdup(url + strlen("DSB_TEST_MOTO_URL="));
    if ((nl = strchr(url, '\n')))
        *nl = '\0';
    free(text);
    free(path);
    return url;
}

static void create_app(const char *name, const char *env)
{
    char body[256];
    json_t *out;

    snprintf(body, sizeof(body),
             "{\"name\":\"%s\",\"releaseLabel\":"
             "\"emr-7.1.0\",\"type\":\"SPARK\",\"clientToken\":\"%s-%d\"}",
             name, name, (int)getpid());
    out = call("emr-serverless", "POST", "/applications", body);
    setenv(env, jt_str(out, "applicationId", NULL), 1);
    json_decref(out);
}

static void moto_setup(void)
{
    json_t *out;

    moto_url = moto_env();
    t_aws_test_env(moto_url);
    setenv("DSB_TEST_EMR_URL", moto_url, 1);
    new_client();
    out = call("s3", "PUT", "/dsb-jobs", NULL);
    json_decref(out);
    create_app("standard", "DSB_TEST_APP_STD");
    create_app("vpc", "DSB_TEST_APP_VPC");
    jt_config(&t, yaml);
}

static void moto_teardown(void)
{
    jt_close(&t);
    dsb_aws_free(aws);
    free(moto_url);
}

TestSuite(emr_moto, .init = moto_setup, .fini = moto_teardown, .timeout = 60);

static json_t *submit(const json_t *specs, long timeout, const char *exec)
{
    struct dsb_job_request r = {0};
    json_t *args = json_pack("[ss]", "--day", "2024-01-01"), *job = NULL;

    r.session_id = "sess-emr";
    r.name = "nightly join";
    r.code = "print('hello from EMR')\n";
    r.args = args;
    r.read_specs = specs;
    r.timeout_seconds = timeout;
    r.executor = exec;
    cr_assert_eq(dsb_jobs_submit(t.jobs, &r, &job, &t.err), 0, "%s: %s",
                 t.err.message, t.err.detail);
    json_decref(args);
    return job;
}

static json_t *pg_and_glue_specs(void)
{
    return json_pack("[{s:s, s:{s:[s]}, s:{s:s}}, {s:s, s:{s:{s:s}}}]",
                     "network", "aurora-vpc", "spark_submit", "jars",
                     "s3://dsb-jobs/jars/postgresql-42.7.8.jar",
                     "secret_options", "password", "aws-sm:prod/pg#password",
                     "network", "public", "spark_submit", "conf",
                     "spark.hadoop.hive.metastore.client.factory.class",
                     "com.amazonaws.glue.catalog.metastore."
                     "AWSGlueDataCatalogHiveClientFactory");
}

static json_t *get_run(const json_t *job)
{
    char path[256];

    snprintf(path, sizeof(path), "/applications/%s/jobruns/%s",
             jt_str(job, "emr", "application_id"),
             jt_str(job, "emr", "job_run_id"));
    return call("emr-serverless", "GET", path, NULL);
}

Test(emr_moto, start_job_run_body_read_back)
{
    json_t *specs = pg_and_glue_specs(), *job, *run, *done, *sub, *whole;
    const char *params;
    char path[256];
    json_t *script;

    jt_open(&t, aws);
    job = submit(specs, 600, NULL);
    cr_assert_str_eq(jt_str(job, "executor", NULL), "vpc");
    cr_assert_str_eq(jt_str(job, "emr", "application_id"),
                     getenv("DSB_TEST_APP_VPC"));
    whole = get_run(job);
    run = json_object_get(whole, "jobRun");
    cr_assert_str_eq(jt_str(run, "executionRole", NULL),
                     "arn:aws:iam::123456789012:role/dsb-vpc-job");
    cr_assert_str_eq(jt_str(run, "name", NULL), "nightly join");
    cr_assert_eq(
        json_integer_value(json_object_get(run, "executionTimeoutMinutes")),
        10);
    sub = json_object_get(json_object_get(run, "jobDriver"), "sparkSubmit");
    snprintf(path, sizeof(path), "s3://dsb-jobs/staging/%s/main.py",
             jt_str(job, "id", NULL));
    cr_assert_str_eq(jt_str(sub, "entryPoint", NULL), path);
    cr_assert_str_eq(json_string_value(json_array_get(
                         json_object_get(sub, "entryPointArguments"), 1)),
                     "2024-01-01");
    params = jt_str(sub, "sparkSubmitParameters", NULL);
    cr_assert(strstr(params, "--jars s3://dsb-jobs/jars/common.jar,"
                             "s3://dsb-jobs/jars/postgresql-42.7.8.jar "),
              "%s", params);
    cr_assert(strstr(params,
                     "--conf spark.hadoop.hive.metastore.client."
                     "factory.class=com.amazonaws.glue.catalog.metastore."
                     "AWSGlueDataCatalogHiveClientFactory"),
              "%s", params);
    cr_assert(strstr(params, "--conf spark.executor.cores=2"), "%s", params);
    snprintf(path, sizeof(path),
             "spark.emr-serverless.driverEnv.DSB_OUTPUT="
             "s3://dsb-jobs/out/%s",
             jt_str(job, "id", NULL));
    cr_assert(strstr(params, path), "%s", params);
    cr_assert_null(strstr(params, "prod/pg"), "no secret material");
    cr_assert_str_eq(
        jt_str(json_object_get(json_object_get(run, "configurationOverrides"),
                               "monitoringConfiguration"),
               "s3MonitoringConfiguration", "logUri"),
        "s3://dsb-jobs/logs");
    cr_assert_str_eq(jt_str(json_object_get(run, "tags"), "dsb:job", NULL),
                     jt_str(job, "id", NULL));
    cr_assert_str_eq(jt_str(json_object_get(run, "tags"), "dsb:session", NULL),
                     "sess-emr");
    snprintf(path, sizeof(path), "/dsb-jobs/staging/%s/main.py",
             jt_str(job, "id", NULL));
    script = call("s3", "GET", path, NULL);
    cr_assert_str_eq(json_string_value(script), "print('hello from EMR')\n");
    done = jt_wait(&t, jt_str(job, "id", NULL), "succeeded", 5000);
    cr_assert_str_eq(jt_str(done, "state", NULL), "succeeded");
    json_decref(script);
    json_decref(whole);
    json_decref(done);
    json_decref(job);
    json_decref(specs);
}

Test(emr_moto, public_only_lands_on_standard_and_cancels)
{
    json_t *specs = json_pack("[{s:s}]", "network", "public"), *job, *c, *d;
    json_t *run;

    jt_open(&t, aws);
    dsb_jobs_close(t.jobs); /* reopen with slow polling: cancel before it */
    t.jobs = NULL;
    {
        struct dsb_jobs_options o = {.cfg = t.cfg,
                                     .secrets = t.secrets,
                                     .aws = aws,
                                     .tick_ms = 50,
                                     .emr_poll_ms = 60000,
                                     .kill_grace_ms = 300};
        t.jobs = dsb_jobs_open(&o, &t.err);
    }
    job = submit(specs, 0, NULL);
    cr_assert_str_eq(jt_str(job, "executor", NULL), "standard");
    cr_assert(strstr(jt_str(job, "route", "reason"),
                     "standard reaches "
                     "public with 1 network; vpc would also work but "
                     "reaches 2"),
              "%s", jt_str(job, "route", "reason"));
    cr_assert_eq(json_integer_value(json_object_get(job, "timeout_seconds")),
                 3600, "default_timeout_minutes 60");
    cr_assert_eq(dsb_jobs_cancel(t.jobs, jt_str(job, "id", NULL), &c, &t.err),
                 0, "%s", t.err.message);
    cr_assert_str_eq(jt_str(c, "state", NULL), "cancelling");
    d = json_object_get(run = get_run(job), "jobRun");
    cr_assert_str_eq(jt_str(d, "state", NULL), "CANCELLED");
    json_decref(run);
    json_decref(c);
    json_decref(job);
    json_decref(specs);
}

Test(emr_moto, explicit_standard_refused_for_vpc_sources)
{
    struct dsb_job_request r = {0};
    json_t *specs = pg_and_glue_specs(), *job = NULL;

    jt_open(&t, aws);
    r.session_id = "s";
    r.code = "x";
    r.read_specs = specs;
    r.executor = "standard";
    cr_assert_eq(dsb_jobs_submit(t.jobs, &r, &job, &t.err), -1);
    cr_assert_str_eq(t.err.upstream, "route");
    cr_assert(strstr(t.err.message, "cannot reach network aurora-vpc"));
    json_decref(specs);
}

Test(emr_moto, result_and_logs_from_s3)
{
    json_t *specs = json_pack("[{s:s}]", "network", "public"), *job, *done;
    json_t *res, *logs, *o;
    char path[256], *s;

    jt_open(&t, aws);
    job = submit(specs, 0, "standard");
    done = jt_wait(&t, jt_str(job, "id", NULL), "succeeded", 5000);
    snprintf(path, sizeof(path), "/dsb-jobs/staging/output/%s/part-0.csv",
             jt_str(job, "id", NULL));
    o = call("s3", "PUT", path, "k,v\na,1\n\"b \"\"q\"\"\",2\n");
    json_decref(o);
    cr_assert_eq(
        dsb_jobs_result(t.jobs, jt_str(job, "id", NULL), 10, &res, &t.err), 0,
        "%s", t.err.message);
    s = json_dumps(json_object_get(res, "rows"), JSON_COMPACT);
    cr_assert_str_eq(s, "[[\"a\",\"1\"],[\"b \\\"q\\\"\",\"2\"]]");
    cr_assert_eq(
        dsb_jobs_logs(t.jobs, jt_str(job, "id", NULL), 0, 0, &logs, &t.err), 0);
    snprintf(path, sizeof(path), "s3://dsb-jobs/logs/applications/%s/jobs/%s/",
             getenv("DSB_TEST_APP_STD"), jt_str(job, "emr", "job_run_id"));
    cr_assert_str_eq(jt_str(logs, "location", NULL), path);
    free(s);
    json_decref(res);
    json_decref(logs);
    json_decref(done);
    json_decref(job);
    json_decref(specs);
}

/* The result of an EMR job is read page by page of the listing (the
 * first page here holds only 1000 files that are not data) and object by
 * object in ranged GETs (the rows asked for span several ranges, with
 * quoted fields across their edges). */
Test(emr_moto, result_reads_listing_pages_and_ranges)
{
    json_t *specs = json_pack("[{s:s}]", "network", "public"), *job, *done;
    json_t *res, *o, *rows;
    char path[256], *csv = malloc(8 << 20), *p;
    const char *id;

    jt_open(&t, aws);
    job = submit(specs, 0, "standard");
    id = jt_str(job, "id", NULL);
    done = jt_wait(&t, id, "succeeded", 5000);
    for (int i = 0; i < 1000; i++) {
        snprintf(path, sizeof(path), "/dsb-jobs/staging/output/%s/_f%04d", id,
                 i);
        json_decref(call("s3", "PUT", path, "x"));
    }
    p = csv + sprintf(csv, "n,text\n");
    for (int i = 0; i < 30000; i++)
        p += sprintf(p, "%d,\"row %d, \"\"quoted\"\" and padded %0100d\"\n", i,
                     i, i);
    snprintf(path, sizeof(path), "/dsb-jobs/staging/output/%s/part-0.csv", id);
    o = call("s3", "PUT", path, csv);
    json_decref(o);
    cr_assert_eq(dsb_jobs_result(t.jobs, id, 10000, &res, &t.err), 0, "%s",
                 t.err.message);
    rows = json_object_get(res, "rows");
    cr_assert_eq(json_array_size(rows), 10000);
    cr_assert(json_is_true(json_object_get(res, "truncated")));
    for (int i = 0; i < 10000; i++) {
        char want[160], n[16];
        json_t *row = json_array_get(rows, (size_t)i);
        snprintf(n, sizeof(n), "%d", i);
        snprintf(want, sizeof(want), "row %d, \"quoted\" and padded %0100d", i,
                 i);
        cr_assert_str_eq(json_string_value(json_array_get(row, 0)), n);
        cr_assert_str_eq(json_string_value(json_array_get(row, 1)), want);
    }
    free(csv);
    json_decref(res);
    json_decref(done);
    json_decref(job);
    json_decref(specs);
}

/* --------------------------------------------------------- scripted */

struct scripted {
    pid_t pid;
    char *dir;
};

static struct scripted ep;

/* Starts the endpoint with config and loads the config; no job service. */
static void scripted_begin(const char *config)
{
    char *py = t_src("tests/jobs/emr_endpoint.py"), cfg[4096], port[4096];
    char logf[4096], url[64], *text = NULL;
    char *argv[] = {"python3", py, cfg, port, logf, NULL};
    size_t len;

    ep.dir = t_tmpdir();
    snprintf(cfg, sizeof(cfg), "%s/config.json", ep.dir);
    snprintf(port, sizeof(port), "%s/port", ep.dir);
    snprintf(logf, sizeof(logf), "%s/requests.log", ep.dir);
    t_write(ep.dir, "config.json", config);
    cr_assert_eq(posix_spawnp(&ep.pid, "python3", NULL, NULL, argv, environ),
                 0);
    for (int i = 0; i < 200 && !text; i++) {
        usleep(25 * 1000);
        text = dsb_read_file(port, 64, &len);
    }
    cr_assert_not_null(text, "the scripted endpoint did not start");
    snprintf(url, sizeof(url), "http://127.0.0.1:%s", text);
    free(text);
    free(py);
    t_aws_test_env(url);
    setenv("DSB_TEST_EMR_URL", url, 1);
    setenv("DSB_TEST_APP_STD", "app-std", 1);
    setenv("DSB_TEST_APP_VPC", "app-vpc", 1);
    new_client();
    jt_config(&t, yaml);
}

static void scripted_start(const char *config)
{
    scripted_begin(config);
    jt_open(&t, aws);
}

static void scripted_teardown(void)
{
    jt_close(&t);
    dsb_aws_free(aws);
    if (ep.pid > 0) {
        kill(ep.pid, SIGTERM);
        waitpid(ep.pid, NULL, 0);
    }
    free(ep.dir);
}

/* Requests the endpoint saw, as a JSON array. */
static json_t *requests(void)
{
    char *text = jt_file(ep.dir, "requests.log");
    json_t *all = json_array();

    for (char *line = text ? strtok(text, "\n") : NULL; line;
         line = strtok(NULL, "\n"))
        json_array_append_new(all, json_loads(line, 0, NULL));
    free(text);
    return all;
}

static size_t count(json_t *reqs, const char *method, json_t **last)
{
    size_t i, n = 0;
    json_t *r;

    json_array_foreach(reqs, i,
                       r) if (strcmp(jt_str(r, "method", NULL), method) == 0)
    {
        n++;
        if (last)
            *last = r;
    }
    return n;
}

TestSuite(emr_scripted, .fini = scripted_teardown, .timeout = 60);

Test(emr_scripted, pending_running_success_with_retry)
{
    json_t *specs = json_pack("[{s:s}]", "network", "public"), *job, *d;
    json_t *reqs, *put = NULL, *first, *second = NULL, *b1, *b2;
    size_t i;

    scripted_start("{\"states\": [\"SUBMITTED\", \"PENDING\", \"SCHEDULED\", "
                   "\"QUEUED\", \"RUNNING\", \"RUNNING\", \"RUNNING\", "
                   "\"SUCCESS\"], \"start_failures\": 1}");
    job = submit(specs, 0, NULL);
    cr_assert_str_eq(jt_str(job, "state", NULL), "pending");
    d = jt_wait(&t, jt_str(job, "id", NULL), "running", 5000);
    cr_assert_str_eq(jt_str(d, "state", NULL), "running");
    cr_assert_str_eq(jt_str(d, "emr", "state"), "RUNNING");
    cr_assert(json_is_integer(json_object_get(d, "started_at")));
    json_decref(d);
    d = jt_wait(&t, jt_str(job, "id", NULL), "succeeded", 5000);
    cr_assert_str_eq(jt_str(d, "state", NULL), "succeeded");
    reqs = requests();
    cr_assert_eq(count(reqs, "PUT", &put), 1);
    cr_assert_str_eq(jt_str(put, "headers", "content-type"), "text/x-python");
    cr_assert_eq(count(reqs, "POST", NULL), 2, "one retry");
    first = NULL;
    json_array_foreach(
        reqs, i,
        second) if (strcmp(jt_str(second, "method", NULL), "POST") == 0)
    {
        if (!first)
            first = second;
        else
            break;
    }
    b1 = json_loads(jt_str(first, "body", NULL), 0, NULL);
    b2 = json_loads(jt_str(second, "body", NULL), 0, NULL);
    cr_assert_str_eq(jt_str(b1, "clientToken", NULL),
                     jt_str(b2, "clientToken", NULL));
    cr_assert_str_eq(jt_str(b1, "clientToken", NULL),
                     jt_str(job, "emr", "client_token"));
    cr_assert(strstr(jt_str(first, "headers", "authorization"),
                     "/us-east-1/emr-serverless/aws4_request"));
    json_decref(b1);
    json_decref(b2);
    json_decref(reqs);
    json_decref(d);
    json_decref(job);
    json_decref(specs);
}

Test(emr_scripted, failed_run_keeps_state_details)
{
    json_t *job, *d;

    scripted_start("{\"states\": [\"PENDING\", \"RUNNING\", \"FAILED\"], "
                   "\"details\": \"Job failed: ValueError in main.py\"}");
    job = submit(NULL, 0, "standard");
    d = jt_wait(&t, jt_str(job, "id", NULL), "failed", 5000);
    cr_assert_str_eq(jt_str(d, "state", NULL), "failed");
    cr_assert_str_eq(jt_str(d, "reason", NULL),
                     "Job failed: ValueError in main.py");
    json_decref(d);
    json_decref(job);
}

Test(emr_scripted, past_deadline_is_cancelled)
{
    json_t *job, *d, *reqs, *del = NULL, *post = NULL, *body;

    scripted_start("{\"states\": [\"PENDING\", \"RUNNING\"]}");
    job = submit(NULL, 1, "standard");
    d = jt_wait(&t, jt_str(job, "id", NULL), "timed_out", 8000);
    cr_assert_str_eq(jt_str(d, "state", NULL), "timed_out");
    cr_assert(strstr(jt_str(d, "reason", NULL), "timed out after 1 s; "
                                                "cancelled by the broker"),
              "%s", jt_str(d, "reason", NULL));
    cr_assert_str_eq(jt_str(d, "emr", "state"), "CANCELLED");
    reqs = requests();
    cr_assert_eq(count(reqs, "DELETE", &del), 1);
    cr_assert_str_eq(jt_str(del, "path", NULL),
                     "/applications/app-std/jobruns/run-1");
    count(reqs, "POST", &post);
    body = json_loads(jt_str(post, "body", NULL), 0, NULL);
    cr_assert_eq(
        json_integer_value(json_object_get(body, "executionTimeoutMinutes")),
        5);
    json_decref(body);
    json_decref(reqs);
    json_decref(d);
    json_decref(job);
}

Test(emr_scripted, states_map_explicitly)
{
    static const char *const pairs[][2] = {
        {"SUBMITTED", "pending"},  {"PENDING", "pending"},
        {"SCHEDULED", "pending"},  {"QUEUED", "pending"},
        {"RUNNING", "running"},    {"SUCCESS", "succeeded"},
        {"FAILED", "failed"},      {"CANCELLING", "cancelling"},
        {"CANCELLED", "cancelled"}};

    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++)
        cr_assert_str_eq(dsb_jobs_emr_state(pairs[i][0]), pairs[i][1]);
    cr_assert_null(dsb_jobs_emr_state("EXPLODED"));
}

/* ------------------------------------------------------------ restarts */

/* Creates the endpoint's release file `name` (see emr_endpoint.py). */
static void release(const char *name)
{
    t_write(ep.dir, name, "");
}

Test(emr_scripted, restart_while_running_is_tracked_to_success)
{
    json_t *job, *d, *reqs;

    scripted_start("{\"states\": [\"PENDING\", \"RUNNING\", \"SUCCESS\"], "
                   "\"hold_state\": {\"state\": \"RUNNING\", "
                   "\"until\": \"release-running\"}}");
    job = submit(NULL, 0, "standard");
    d = jt_wait(&t, jt_str(job, "id", NULL), "running", 20000);
    cr_assert_str_eq(jt_str(d, "state", NULL), "running");
    json_decref(d);
    dsb_jobs_close(t.jobs);
    t.jobs = NULL;
    release("release-running"); /* SUCCESS only a new process can see */
    jt_open(&t, aws);
    d = jt_wait(&t, jt_str(job, "id", NULL), "succeeded", 20000);
    cr_assert_str_eq(jt_str(d, "state", NULL), "succeeded");
    cr_assert_str_eq(jt_str(d, "emr", "job_run_id"), "run-1");
    cr_assert_str_eq(jt_str(d, "emr", "state"), "SUCCESS");
    reqs = requests();
    cr_assert_eq(count(reqs, "POST", NULL), 1, "not started twice");
    json_decref(reqs);
    json_decref(d);
    json_decref(job);
}

/* 1 when the endpoint has seen a request with this method. */
static int seen(const char *method)
{
    char *text = jt_file(ep.dir, "requests.log"), needle[64];
    int found;

    snprintf(needle, sizeof(needle), "\"method\": \"%s\"", method);
    found = text && strstr(text, needle);
    free(text);
    return found;
}

/* A broker process submits a job and is killed (SIGKILL) while the endpoint
 * holds its `method` request; the job service is then reopened on the same
 * state.  The records the dead process left (new reference). */
static json_t *submit_and_die(const char *method)
{
    struct dsb_jobs_options o = {.cfg = t.cfg,
                                 .secrets = t.secrets,
                                 .aws = aws,
                                 .tick_ms = 50,
                                 .emr_poll_ms = 100,
                                 .kill_grace_ms = 300};
    struct dsb_job_request r = {0};
    json_t *list = NULL, *job = NULL, *items;
    pid_t pid = fork();

    cr_assert_neq(pid, -1);
    if (pid == 0) {
        struct dsb_jobs *j = dsb_jobs_open(&o, &t.err);
        r.session_id = "sess-crash";
        r.code = "print('crash')\n";
        r.executor = "standard";
        if (j)
            dsb_jobs_submit(j, &r, &job, &t.err);
        _exit(3); /* only when the endpoint did not hold the request */
    }
    for (int i = 0; i < 2000 && !seen(method); i++)
        usleep(10 * 1000);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    cr_assert(seen(method), "the broker process never sent %s", method);
    jt_open(&t, aws);
    cr_assert_eq(dsb_jobs_list(t.jobs, "sess-crash", &list, &t.err), 0);
    items = json_incref(json_object_get(list, "items"));
    json_decref(list);
    return items;
}

Test(emr_scripted, died_during_start_job_run_is_resubmitted)
{
    json_t *d, *reqs, *post = NULL, *first = NULL, *b1, *b2, *r, *left;
    char *id;
    size_t i;

    scripted_begin("{\"states\": [\"RUNNING\", \"SUCCESS\"], "
                   "\"hold\": {\"POST\": \"release-post\"}}");
    /* the answer to the first StartJobRun is lost; the run exists */
    left = submit_and_die("POST");
    release("release-post");
    cr_assert_eq(json_array_size(left), 1);
    cr_assert(jt_str(json_array_get(left, 0), "script", NULL));
    cr_assert_null(jt_str(json_array_get(left, 0), "emr", "job_run_id"));
    id = strdup(jt_str(json_array_get(left, 0), "id", NULL));
    json_decref(left);
    d = jt_wait(&t, id, "succeeded", 20000);
    cr_assert_str_eq(jt_str(d, "state", NULL), "succeeded", "%s",
                     jt_str(d, "reason", NULL));
    cr_assert_str_eq(jt_str(d, "emr", "job_run_id"), "run-1", "same run");
    reqs = requests();
    cr_assert_eq(count(reqs, "PUT", NULL), 1, "staged once");
    cr_assert_eq(count(reqs, "POST", &post), 2);
    json_array_foreach(reqs, i,
                       r) if (!first && strcmp(jt_str(r, "method", NULL),
                                               "POST") == 0) first = r;
    b1 = json_loads(jt_str(first, "body", NULL), 0, NULL);
    b2 = json_loads(jt_str(post, "body", NULL), 0, NULL);
    cr_assert(json_equal(b1, b2), "the re-sent request is the same request");
    cr_assert_str_eq(jt_str(b2, "clientToken", NULL),
                     jt_str(d, "emr", "client_token"));
    json_decref(b1);
    json_decref(b2);
    json_decref(reqs);
    json_decref(d);
    free(id);
}

/* The id of the one job a crashed submit left (malloc'd). */
static char *left_id(void)
{
    json_t *left = submit_and_die("POST");
    char *id;

    cr_assert_eq(json_array_size(left), 1);
    id = strdup(jt_str(json_array_get(left, 0), "id", NULL));
    json_decref(left);
    return id;
}

Test(emr_scripted, resubmission_retries_while_emr_fails)
{
    json_t *d, *reqs;
    char *id;

    /* the lost one, then three 500s: the client's attempts of one tick */
    scripted_begin("{\"states\": [\"SUCCESS\"], \"start_answers\": "
                   "[200, 500, 500, 500], \"hold\": {\"POST\": "
                   "\"release-post\"}}");
    id = left_id();
    release("release-post");
    d = jt_wait(&t, id, "succeeded", 20000);
    cr_assert_str_eq(jt_str(d, "state", NULL), "succeeded", "%s",
                     jt_str(d, "reason", NULL));
    reqs = requests();
    cr_assert_geq(count(reqs, "POST", NULL), 5, "retried on a later tick");
    json_decref(reqs);
    json_decref(d);
    free(id);
}

Test(emr_scripted, resubmission_refused_fails_the_job)
{
    json_t *d;
    char *id;

    scripted_begin("{\"states\": [\"SUCCESS\"], \"start_answers\": "
                   "[200, 400], \"hold\": {\"POST\": \"release-post\"}}");
    id = left_id();
    release("release-post");
    d = jt_wait(&t, id, "failed", 20000);
    cr_assert_str_eq(jt_str(d, "state", NULL), "failed");
    cr_assert(strstr(jt_str(d, "reason", NULL),
                     "StartJobRun failed when "
                     "re-sent after a broker restart: aws ValidationException"),
              "%s", jt_str(d, "reason", NULL));
    cr_assert_null(jt_str(d, "emr", "job_run_id"));
    json_decref(d);
    free(id);
}

Test(emr_scripted, died_while_staging_leaves_nothing)
{
    json_t *left, *reqs;

    scripted_begin("{\"states\": [\"SUCCESS\"], "
                   "\"hold\": {\"PUT\": \"release-put\"}}");
    left = submit_and_die("PUT"); /* never answered 202: nothing to keep */
    release("release-put");
    cr_assert_eq(json_array_size(left), 0);
    usleep(500 * 1000); /* a few ticks of the new tracker */
    reqs = requests();
    cr_assert_eq(count(reqs, "POST", NULL), 0, "no StartJobRun, ever");
    json_decref(reqs);
    json_decref(left);
}

/* A pending EMR record without what StartJobRun needs (as a broker before
 * the pre-start record left it) never reached EMR: failed on open. */
Test(emr_scripted, pending_without_request_is_failed_on_open)
{
    json_t *doc, *d, *reqs;

    scripted_begin("{\"states\": [\"SUCCESS\"]}");
    jt_open(&t, aws);
    doc = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:n, s:n, "
                    "s:{s:s, s:n}}",
                    "id", "job-0123456789abcdef01234567", "session_id",
                    "sess-old", "name", "old", "state", "pending", "executor",
                    "standard", "executor_type", "emr-serverless", "created_at",
                    (json_int_t)1, "updated_at", (json_int_t)1, "started_at",
                    "finished_at", "emr", "application_id", "app-std",
                    "job_run_id");
    pthread_mutex_lock(&t.jobs->mu);
    cr_assert_eq(dsb_jstore_put(t.jobs, doc, &t.err), 0);
    pthread_mutex_unlock(&t.jobs->mu);
    dsb_jobs_close(t.jobs);
    t.jobs = NULL;
    jt_open(&t, aws);
    cr_assert_eq(
        dsb_jobs_get(t.jobs, "job-0123456789abcdef01234567", &d, &t.err), 0);
    cr_assert_str_eq(jt_str(d, "state", NULL), "failed");
    cr_assert_str_eq(jt_str(d, "reason", NULL),
                     "the broker stopped before "
                     "the job was sent to EMR Serverless; nothing ran, "
                     "submit it again");
    cr_assert(json_is_integer(json_object_get(d, "finished_at")));
    usleep(500 * 1000);
    reqs = requests();
    cr_assert_eq(count(reqs, "POST", NULL), 0);
    json_decref(reqs);
    json_decref(d);
    json_decref(doc);
}

/* ------------------------------------------------- lost StartJobRun answers */

/* The clientToken of every StartJobRun the endpoint saw, in order. */
static json_t *start_tokens(void)
{
    json_t *reqs = requests(), *r, *tokens = json_array();
    size_t i;

    json_array_foreach(reqs, i, r)
    {
        json_t *b;

        if (strcmp(jt_str(r, "method", NULL), "POST") != 0)
            continue;
        b = json_loads(jt_str(r, "body", NULL), 0, NULL);
        json_array_append(tokens, json_object_get(b, "clientToken"));
        json_decref(b);
    }
    json_decref(reqs);
    return tokens;
}

Test(emr_scripted, lost_start_answer_keeps_the_job_and_sends_it_again)
{
    json_t *job, *d, *tokens, *v;
    size_t i;

    /* the client's three attempts all lose their answer; the run exists */
    scripted_start("{\"states\": [\"RUNNING\", \"SUCCESS\"], "
                   "\"lost_answers\": 3}");
    job = submit(NULL, 0, "standard");
    cr_assert_str_eq(jt_str(job, "state", NULL), "pending");
    cr_assert_null(jt_str(job, "emr", "job_run_id"));
    cr_assert(strstr(jt_str(job, "reason", NULL), "StartJobRun got no answer"),
              "%s", jt_str(job, "reason", NULL));
    d = jt_wait(&t, jt_str(job, "id", NULL), "succeeded", 20000);
    cr_assert_str_eq(jt_str(d, "state", NULL), "succeeded", "%s",
                     jt_str(d, "reason", NULL));
    cr_assert_str_eq(jt_str(d, "emr", "job_run_id"), "run-1", "the same run");
    cr_assert_null(jt_str(d, "emr", "resend"));
    tokens = start_tokens();
    cr_assert_eq(json_array_size(tokens), 4, "3 lost, then sent again once");
    json_array_foreach(tokens, i, v)
        cr_assert_str_eq(json_string_value(v), jt_str(d, "emr", "client_token"),
                         "StartJobRun %zu: another clientToken", i);
    json_decref(tokens);
    json_decref(d);
    json_decref(job);
}

/* 1 when the endpoint saw ListJobRuns (GET on the collection). */
static int saw_list_job_runs(void)
{
    json_t *reqs = requests(), *r;
    size_t i;
    int yes = 0;

    json_array_foreach(reqs, i, r) yes |=
        strcmp(jt_str(r, "method", NULL), "GET") == 0 &&
        strstr(jt_str(r, "path", NULL), "/jobruns?") &&
        strstr(jt_str(r, "path", NULL), "createdAtAfter=");
    json_decref(reqs);
    return yes;
}

Test(emr_scripted, cancel_while_waiting_cancels_the_run_the_lost_start_made)
{
    json_t *one, *two, *c = NULL, *d, *reqs, *del = NULL;

    /* every answer is lost: two jobs of the same name wait with a run each */
    scripted_start("{\"states\": [\"RUNNING\"], \"lost_answers\": 100000}");
    one = submit(NULL, 0, "standard");
    two = submit(NULL, 0, "standard");
    cr_assert_null(jt_str(two, "emr", "job_run_id"));
    cr_assert_eq(dsb_jobs_cancel(t.jobs, jt_str(two, "id", NULL), &c, &t.err),
                 0, "%s", t.err.message);
    cr_assert(saw_list_job_runs(), "ListJobRuns was not asked");
    reqs = requests();
    cr_assert_eq(count(reqs, "DELETE", &del), 1);
    cr_assert(strstr(jt_str(del, "path", NULL), "/jobruns/run-2"),
              "cancelled %s, not the second job's run (its dsb:job tag)",
              jt_str(del, "path", NULL));
    json_decref(reqs);
    d = jt_wait(&t, jt_str(two, "id", NULL), "cancelled", 20000);
    cr_assert_str_eq(jt_str(d, "state", NULL), "cancelled");
    cr_assert_str_eq(jt_str(d, "emr", "job_run_id"), "run-2");
    json_decref(d);
    cr_assert_eq(dsb_jobs_get(t.jobs, jt_str(one, "id", NULL), &d, &t.err), 0);
    cr_assert_str_eq(jt_str(d, "state", NULL), "pending", "the other waits on");
    cr_assert_null(jt_str(d, "emr", "job_run_id"));
    json_decref(d);
    json_decref(c);
    json_decref(one);
    json_decref(two);
}

Test(emr_scripted, cancel_while_waiting_without_a_run_stops_at_once)
{
    json_t *job, *c = NULL, *reqs;

    /* every StartJobRun fails before it starts anything */
    scripted_start("{\"states\": [\"RUNNING\"], \"start_failures\": 100000}");
    job = submit(NULL, 0, "standard");
    cr_assert_str_eq(jt_str(job, "state", NULL), "pending");
    cr_assert_eq(dsb_jobs_cancel(t.jobs, jt_str(job, "id", NULL), &c, &t.err),
                 0, "%s", t.err.message);
    cr_assert_str_eq(jt_str(c, "state", NULL), "cancelled");
    cr_assert(saw_list_job_runs(), "ListJobRuns was not asked");
    reqs = requests();
    cr_assert_eq(count(reqs, "DELETE", NULL), 0, "no run to cancel");
    json_decref(reqs);
    json_decref(c);
    json_decref(job);
}
