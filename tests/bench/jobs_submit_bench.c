/*
 * Submit overhead: dsb_jobs_submit (record in SQLite, stage the script
 * with PutObject, StartJobRun, record again) against a bare StartJobRun
 * with the same client and emulator, interleaved in the same run.
 *
 *     jobs_submit_bench MOTO_URL [ITERATIONS]
 *
 * Prints the median and p90 of each and the median difference (the goal:
 * at most 20 ms added).  Run tests/bench/jobs_submit.sh to get a moto.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "aws/aws.h"
#include "config.h"
#include "jobs/jobs.h"
#include "util.h"

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static json_t *call(struct dsb_aws *aws, const char *svc, const char *method,
                    const char *path, const char *body)
{
    struct dsb_aws_request req = {0};
    struct dsb_aws_response resp = {0};
    struct dsb_kv hdr[] = {{"Content-Type", "application/json"}};
    struct dsb_error err;
    json_t *out = NULL;

    req.service = svc;
    req.method = method;
    req.path = path;
    req.headers = hdr;
    req.n_headers = 1;
    req.body = body;
    req.body_len = body ? strlen(body) : 0;
    if (dsb_aws_send(aws, &req, &resp, &err) < 0 || resp.status / 100 != 2) {
        fprintf(stderr, "%s %s failed: %s %.200s\n", method, path,
                err.message, resp.body ? resp.body : "");
        exit(1);
    }
    out = resp.body_len ? json_loads(resp.body, 0, NULL) : json_object();
    dsb_aws_response_free(&resp);
    return out;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void report(const char *what, double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_d);
    printf("%-28s median %7.2f ms   p90 %7.2f ms\n", what, v[n / 2],
           v[n * 9 / 10]);
}

static struct dsb_config *config(const char *app, const char *dir)
{
    char path[4096];
    FILE *f;
    struct dsb_diags d;
    struct dsb_config *cfg;

    snprintf(path, sizeof(path), "%s/broker.yaml", dir);
    f = fopen(path, "w");
    fprintf(f, "state_dir: %s/state\nexecutors:\n  - name: standard\n"
            "    type: emr-serverless\n    networks: [public]\n"
            "    application_id: %s\n"
            "    execution_role_arn: arn:aws:iam::123456789012:role/job\n"
            "    staging_uri: s3://bench-jobs/staging\n", dir, app);
    fclose(f);
    dsb_diags_init(&d);
    cfg = dsb_config_load_broker(dir, "/tmp", &d);
    if (d.errors) {
        dsb_diags_print(&d, stderr);
        exit(1);
    }
    dsb_diags_free(&d);
    return cfg;
}

int main(int argc, char **argv)
{
    struct dsb_aws_options ao = {0};
    struct dsb_error err;
    char dir[] = "/tmp/dsb-bench-XXXXXX", path[256], body[512];
    int n = argc > 2 ? atoi(argv[2]) : 200;
    double *direct = calloc((size_t)n, sizeof(double));
    double *broker = calloc((size_t)n, sizeof(double)), med_d, med_b;
    struct dsb_aws *aws;
    struct dsb_config *cfg;
    struct dsb_jobs *jobs;
    json_t *app;

    if (argc < 2 || n < 10 || !mkdtemp(dir)) {
        fprintf(stderr, "usage: %s MOTO_URL [ITERATIONS>=10]\n", argv[0]);
        return 2;
    }
    setenv("AWS_ENDPOINT_URL", argv[1], 1);
    setenv("AWS_ACCESS_KEY_ID", "testing", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "testing", 1);
    setenv("AWS_REGION", "us-east-1", 1);
    aws = dsb_aws_new(&ao, &err);
    json_decref(call(aws, "s3", "PUT", "/bench-jobs", NULL));
    app = call(aws, "emr-serverless", "POST", "/applications",
               "{\"name\":\"bench\",\"releaseLabel\":\"emr-7.1.0\","
               "\"type\":\"SPARK\",\"clientToken\":\"bench\"}");
    cfg = config(json_string_value(json_object_get(app, "applicationId")), dir);
    {
        struct dsb_jobs_options o = {cfg, NULL, aws, NULL, 1000, 3600000, 0};
        jobs = dsb_jobs_open(&o, &err);
    }
    snprintf(path, sizeof(path), "/applications/%s/jobruns",
             json_string_value(json_object_get(app, "applicationId")));
    for (int i = 0; i < n; i++) {
        struct dsb_job_request r = {0};
        json_t *job = NULL, *out;
        double t0 = now_ms();
        snprintf(body, sizeof(body), "{\"clientToken\":\"direct-%d\","
                 "\"executionRoleArn\":\"arn:aws:iam::123456789012:role/job\","
                 "\"jobDriver\":{\"sparkSubmit\":{\"entryPoint\":"
                 "\"s3://bench-jobs/x.py\",\"sparkSubmitParameters\":\"\"}},"
                 "\"executionTimeoutMinutes\":60}", i);
        out = call(aws, "emr-serverless", "POST", path, body);
        direct[i] = now_ms() - t0;
        json_decref(out);
        r.session_id = "bench";
        r.code = "print('bench')\n";
        t0 = now_ms();
        if (dsb_jobs_submit(jobs, &r, &job, &err) < 0) {
            fprintf(stderr, "submit failed: %s\n", err.message);
            return 1;
        }
        broker[i] = now_ms() - t0;
        json_decref(job);
    }
    report("direct StartJobRun", direct, n);
    report("broker submit (stage+start)", broker, n);
    med_d = direct[n / 2];
    med_b = broker[n / 2];
    printf("added by the broker: %.2f ms (median; goal <= 20 ms) %s\n",
           med_b - med_d, med_b - med_d <= 20.0 ? "OK" : "OVER");
    dsb_jobs_close(jobs);
    dsb_config_free(cfg);
    json_decref(app);
    dsb_aws_free(aws);
    free(direct);
    free(broker);
    return med_b - med_d <= 20.0 ? 0 : 1;
}
