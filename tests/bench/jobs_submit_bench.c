/*
 * Submit overhead of a running broker: POST /v1/sessions/{id}/jobs over
 * HTTP (the session's Spark context with an s3csv table, routing, the job
 * record, staging with PutObject, StartJobRun, the record again, the 202)
 * against the same work done directly (PutObject of the script, then
 * StartJobRun) with the broker's own AWS client, on the same moto_server,
 * interleaved in the same run.
 *
 *     jobs_submit_bench setup MOTO_URL
 *         buckets, a CSV table and an EMR Serverless application; prints
 *         the application id
 *     jobs_submit_bench run MOTO_URL BROKER_URL APP_ID STATE_DIR [ITERATIONS]
 *         a session selecting the table, then the timed loop
 *
 * Prints the median and p90 of each and the median difference (the goal:
 * at most 20 ms added), and for scale a cached context and one durable
 * SQLite commit in STATE_DIR's file system (an EMR submit makes two: before
 * StartJobRun and after).  tests/bench/jobs_submit.sh runs it all.
 */
#include <curl/curl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aws/aws.h"
#include "util.h"

#define GOAL_MS 20.0

static const char code[] = "df = spark.read.csv('s3://bench-data/sales/"
                           "orders.csv', header=True)\\nprint(df.count())\\n";

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void die(const char *what, const char *why)
{
    fprintf(stderr, "jobs_submit_bench: %s: %s\n", what, why);
    exit(1);
}

/* ---------------------------------------------------------------- AWS */

/* One signed request; the parsed 2xx body (new reference, {} when empty). */
static json_t *aws_call(struct dsb_aws *aws, const char *svc,
                        const char *method, const char *path, const char *ctype,
                        const char *body)
{
    struct dsb_aws_request req = {0};
    struct dsb_aws_response resp = {0};
    struct dsb_kv hdr[] = {{"Content-Type", ctype}};
    struct dsb_error err = {0};
    json_t *out;

    req.service = svc;
    req.method = method;
    req.path = path;
    req.headers = hdr;
    req.n_headers = 1;
    req.body = body;
    req.body_len = body ? strlen(body) : 0;
    if (dsb_aws_send(aws, &req, &resp, &err) < 0 || resp.status / 100 != 2)
        die(path, resp.body ? resp.body : err.message);
    out = resp.body_len ? json_loadb(resp.body, resp.body_len, 0, NULL)
                        : json_object();
    dsb_aws_response_free(&resp);
    return out ? out : json_object();
}

static struct dsb_aws *aws_client(const char *moto_url)
{
    struct dsb_aws_options o = {0};
    struct dsb_error err;
    struct dsb_aws *aws;

    setenv("AWS_ENDPOINT_URL", moto_url, 1);
    setenv("AWS_ACCESS_KEY_ID", "testing", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "testing", 1);
    setenv("AWS_REGION", "us-east-1", 1);
    aws = dsb_aws_new(&o, &err);
    if (!aws)
        die("aws client", err.message);
    return aws;
}

static int setup(const char *moto_url)
{
    struct dsb_aws *aws = aws_client(moto_url);
    json_t *app;

    json_decref(aws_call(aws, "s3", "PUT", "/bench-jobs", "text/plain", NULL));
    json_decref(aws_call(aws, "s3", "PUT", "/bench-data", "text/plain", NULL));
    json_decref(
        aws_call(aws, "s3", "PUT", "/bench-data/sales/orders.csv", "text/csv",
                 "id,customer,amount,day\n"
                 "1,acme,12.50,2024-01-01\n2,globex,7.25,2024-01-02\n"));
    app = aws_call(aws, "emr-serverless", "POST", "/applications",
                   "application/json",
                   "{\"name\":\"bench\",\"releaseLabel\":"
                   "\"emr-7.1.0\",\"type\":\"SPARK\",\"clientToken\":"
                   "\"bench\"}");
    printf("%s\n", json_string_value(json_object_get(app, "applicationId")));
    json_decref(app);
    dsb_aws_free(aws);
    return 0;
}

/* PutObject of the script, then StartJobRun: what the broker sends. */
static void direct_submit(struct dsb_aws *aws, const char *app, int i)
{
    char path[256], body[1024], script[128];

    snprintf(path, sizeof(path), "/bench-jobs/direct/%d/main.py", i);
    snprintf(script, sizeof(script), "s3://bench-jobs/direct/%d/main.py", i);
    json_decref(aws_call(aws, "s3", "PUT", path, "text/x-python",
                         "df = spark.read.csv('s3://bench-data/sales/"
                         "orders.csv', header=True)\nprint(df.count())\n"));
    snprintf(path, sizeof(path), "/applications/%s/jobruns", app);
    snprintf(body, sizeof(body),
             "{\"clientToken\":\"direct-%d\",\"executionRoleArn\":"
             "\"arn:aws:iam::123456789012:role/bench\",\"name\":\"direct-%d\","
             "\"jobDriver\":{\"sparkSubmit\":{\"entryPoint\":\"%s\","
             "\"entryPointArguments\":[],\"sparkSubmitParameters\":"
             "\"--conf spark.emr-serverless.driverEnv.DSB_OUTPUT=s3://bench-"
             "jobs/staging/output/direct-%d\"}},\"executionTimeoutMinutes\":"
             "60,\"tags\":{\"dsb:session\":\"bench\",\"dsb:job\":"
             "\"direct-%d\"}}",
             i, i, script, i, i);
    json_decref(aws_call(aws, "emr-serverless", "POST", path,
                         "application/json", body));
}

/* --------------------------------------------------------------- HTTP */

struct buf {
    char data[65536];
    size_t len;
};

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    struct buf *b = arg;
    size_t k = size * n, room = sizeof(b->data) - 1 - b->len;

    memcpy(b->data + b->len, p, k < room ? k : room);
    b->len += k < room ? k : room;
    b->data[b->len] = '\0';
    return k;
}

/* One POST on the reused (keep-alive) handle c; the status, the body in
 * *b. */
static long http_post(CURL *c, const char *url, const char *body, struct buf *b)
{
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: "
                                                   "application/json");
    long status = 0;

    h = curl_slist_append(h, "Expect:");
    b->len = 0;
    b->data[0] = '\0';
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    if (curl_easy_perform(c) != CURLE_OK)
        die(url, "request failed");
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    return status;
}

/* GET URL on the reused handle; the status, the body in *b. */
static long http_get(CURL *c, const char *url, struct buf *b)
{
    long status = 0;

    b->len = 0;
    b->data[0] = '\0';
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    if (curl_easy_perform(c) != CURLE_OK)
        die(url, "request failed");
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    return status;
}

/* A session selecting the CSV table (its context needs the s3csv source);
 * the session id, malloc'd. */
static char *bench_session(CURL *c, const char *broker)
{
    struct buf *b = malloc(sizeof(*b));
    char url[512], *id;
    json_t *o;

    snprintf(url, sizeof(url), "%s/v1/sessions", broker);
    if (!b || http_post(c, url, "{}", b) != 201)
        die(url, b ? b->data : "out of memory");
    o = json_loads(b->data, 0, NULL);
    id = strdup(json_string_value(json_object_get(o, "id")));
    json_decref(o);
    snprintf(url, sizeof(url), "%s/v1/sessions/%s/selections", broker, id);
    if (http_post(c, url,
                  "{\"source\":\"data\",\"database\":"
                  "\"bench-data\",\"schema\":\"sales\",\"table\":\"orders\"}",
                  b) /
            100 !=
        2)
        die(url, b->data);
    free(b);
    return id;
}

static void broker_submit(CURL *c, const char *url, struct buf *b)
{
    char body[512];

    snprintf(body, sizeof(body), "{\"code\":\"%s\",\"name\":\"bench\"}", code);
    if (http_post(c, url, body, b) != 202)
        die(url, b->data);
    if (!strstr(b->data, "\"executor\":\"standard\"") &&
        !strstr(b->data, "\"executor\": \"standard\""))
        die("the job did not land on the EMR executor", b->data);
}

/* ------------------------------------------------------------- SQLite */

/* A scratch database in dir, WAL and synchronous=FULL like the job store. */
static sqlite3 *scratch_db(const char *dir)
{
    char path[4096];
    sqlite3 *db = NULL;

    snprintf(path, sizeof(path), "%s/bench-commit.db", dir);
    if (sqlite3_open(path, &db) != SQLITE_OK ||
        sqlite3_exec(db,
                     "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                     "CREATE TABLE IF NOT EXISTS t(v TEXT)",
                     NULL, NULL, NULL) != SQLITE_OK)
        die(path, sqlite3_errmsg(db));
    return db;
}

/* The time of one single-row commit. */
static double commit_time(sqlite3 *db)
{
    double t0 = now_ms();

    if (sqlite3_exec(db, "INSERT INTO t VALUES ('job')", NULL, NULL, NULL) !=
        SQLITE_OK)
        die("commit", sqlite3_errmsg(db));
    return now_ms() - t0;
}

/* ---------------------------------------------------------------- run */

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double report(const char *what, double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_d);
    printf("%-44s median %7.2f ms   p90 %7.2f ms\n", what, v[n / 2],
           v[n * 9 / 10]);
    return v[n / 2];
}

static int run(const char *moto_url, const char *broker, const char *app,
               const char *state_dir, int n)
{
    struct dsb_aws *aws = aws_client(moto_url);
    double *direct = calloc((size_t)n, sizeof(double));
    double *via = calloc((size_t)n, sizeof(double)), med_d, med_b;
    double *ctx = calloc((size_t)n, sizeof(double));
    double *commit = calloc((size_t)n, sizeof(double));
    sqlite3 *db = scratch_db(state_dir);
    struct buf *b = malloc(sizeof(*b));
    CURL *c = curl_easy_init();
    char url[512], ctx_url[512], *session;

    if (!direct || !via || !ctx || !commit || !b || !c)
        die("run", "out of memory");
    session = bench_session(c, broker);
    snprintf(url, sizeof(url), "%s/v1/sessions/%s/jobs", broker, session);
    snprintf(ctx_url, sizeof(ctx_url), "%s/v1/sessions/%s/context", broker,
             session);
    broker_submit(c, url, b); /* warm: metadata cache, connections */
    direct_submit(aws, app, -1);
    for (int i = 0; i < n; i++) {
        double t0 = now_ms();
        direct_submit(aws, app, i);
        direct[i] = now_ms() - t0;
        t0 = now_ms();
        broker_submit(c, url, b);
        via[i] = now_ms() - t0;
        t0 = now_ms();
        if (http_get(c, ctx_url, b) != 200)
            die(ctx_url, b->data);
        ctx[i] = now_ms() - t0;
        commit[i] = commit_time(db);
    }
    med_d = report("direct PutObject + StartJobRun", direct, n);
    med_b = report("HTTP POST /v1/sessions/{id}/jobs (broker)", via, n);
    report("  for scale: GET /v1/sessions/{id}/context", ctx, n);
    report("  for scale: one synchronous=FULL commit", commit, n);
    printf("added by the broker: %.2f ms (median; goal <= %.0f ms) %s\n",
           med_b - med_d, GOAL_MS, med_b - med_d <= GOAL_MS ? "OK" : "OVER");
    curl_easy_cleanup(c);
    dsb_aws_free(aws);
    free(session);
    free(b);
    free(direct);
    free(via);
    free(ctx);
    free(commit);
    sqlite3_close(db);
    return med_b - med_d <= GOAL_MS ? 0 : 1;
}

int main(int argc, char **argv)
{
    int n = argc > 6 ? atoi(argv[6]) : 200;

    if (argc == 3 && strcmp(argv[1], "setup") == 0)
        return setup(argv[2]);
    if (argc >= 6 && strcmp(argv[1], "run") == 0 && n >= 10)
        return run(argv[2], argv[3], argv[4], argv[5], n);
    fprintf(stderr,
            "usage: %s setup MOTO_URL\n"
            "       %s run MOTO_URL BROKER_URL APP_ID STATE_DIR "
            "[ITERATIONS>=10]\n",
            argv[0], argv[0]);
    return 2;
}
