/* The emr-serverless executor: stage the script to S3, StartJobRun,
 * GetJobRun from the tracker, CancelJobRun on request or past deadline. */
#include "jobs/internal.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aws/aws.h"
#include "log.h"
#include "util.h"

static const char *opt(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* "s3://b/p" + "x/y" -> "s3://b/p/x/y" (malloc'd). */
static char *uri_join(const char *base, const char *rel)
{
    size_t n = strlen(base);

    while (n > 5 && base[n - 1] == '/')
        n--;
    return dsb_asprintf("%.*s/%s", (int)n, base, rel);
}

/* One REST call to EMR Serverless (or S3 when service is "s3") with the
 * query pairs q (may be NULL).  On 2xx, *out is the parsed body ({} when
 * empty); else -1 with the AWS error. */
static int emr_call_q(struct dsb_aws *aws, const json_t *emr, const char *svc,
                      const char *method, const char *path,
                      const struct dsb_kv *q, size_t nq, const char *ctype,
                      const char *body, json_t **out, struct dsb_error *err)
{
    struct dsb_aws_request req = {0};
    struct dsb_aws_response resp = {0};
    struct dsb_kv hdr[] = {{"Content-Type", ctype}};
    int rc = -1;

    req.service = svc;
    req.region = opt(emr, "region");
    req.endpoint_url = strcmp(svc, "s3") ? opt(emr, "endpoint_url") : NULL;
    req.method = method;
    req.path = path;
    req.query = q;
    req.n_query = nq;
    req.headers = hdr;
    req.n_headers = ctype ? 1 : 0;
    req.body = body;
    req.body_len = body ? strlen(body) : 0;
    if (dsb_aws_send(aws, &req, &resp, err) < 0)
        return -1;
    if (resp.status / 100 != 2) {
        dsb_aws_error_from_response(&resp, err);
    } else {
        *out = resp.body_len ? json_loadb(resp.body, resp.body_len, 0, NULL)
                             : json_object();
        rc = *out ? 0
                  : dsb_error_set(err, DSB_E_UPSTREAM,
                                  "EMR Serverless "
                                  "answered with a body that is not JSON");
    }
    dsb_aws_response_free(&resp);
    return rc;
}

static int emr_call(struct dsb_aws *aws, const json_t *emr, const char *svc,
                    const char *method, const char *path, const char *ctype,
                    const char *body, json_t **out, struct dsb_error *err)
{
    return emr_call_q(aws, emr, svc, method, path, NULL, 0, ctype, body, out,
                      err);
}

/* --------------------------------------------------------------- start */

/* PutObject of the job's code to STAGING/ID/main.py; the s3:// URI. */
static char *stage(struct dsb_aws *aws, const json_t *emr, const char *staging,
                   const json_t *doc, const char *code, struct dsb_error *err)
{
    char *rel = dsb_asprintf("%s/main.py", dsb_job_str(doc, "id", NULL));
    char *uri = rel ? uri_join(staging, rel) : NULL, *path = NULL, *body;
    int prelude =
        strstr(code, "_dsb_secret(") && !strstr(code, "def _dsb_secret");
    json_t *out = NULL;

    body = dsb_asprintf("%s%s", prelude ? dsb_jobs_python_prelude() : "", code);
    if (uri && strncmp(uri, "s3://", 5) == 0)
        path = dsb_asprintf("/%s", uri + 5);
    if (!body || !path) {
        dsb_error_set(err, DSB_E_CONFIG,
                      "staging_uri must be s3://bucket/"
                      "prefix, not \"%s\"",
                      staging);
    } else if (emr_call(aws, emr, "s3", "PUT", path, "text/x-python", body,
                        &out, err) == 0) {
        json_decref(out);
        free(rel);
        free(path);
        free(body);
        return uri;
    }
    free(rel);
    free(uri);
    free(path);
    free(body);
    return NULL;
}

static char *append(char *s, const char *a, const char *b)
{
    char *n = s ? dsb_asprintf("%s%s%s%s", s, *s ? " " : "", a, b) : NULL;

    free(s);
    return n;
}

/* Comma-joined jars (malloc'd, "" for none). */
static char *join_jars(const json_t *jars)
{
    char *out = strdup(""), *next;
    size_t i;
    json_t *v;

    json_array_foreach(jars, i, v)
    {
        next = out ? dsb_asprintf("%s%s%s", out, *out ? "," : "",
                                  json_string_value(v))
                   : NULL;
        free(out);
        out = next;
    }
    return out;
}

/* sparkSubmitParameters: --jars, the executor's and the read specs' confs,
 * and the job's environment (output location, ids). */
static char *submit_params(const json_t *doc)
{
    const json_t *ss = json_object_get(doc, "spark_submit");
    char *p = strdup(""), *jars = join_jars(json_object_get(ss, "jars")), *kv;
    const char *k;
    json_t *v;

    if (jars && *jars)
        p = append(p, "--jars ", jars);
    free(jars);
    json_object_foreach(json_object_get(ss, "conf"), k, v)
    {
        kv = dsb_asprintf("%s=%s", k, json_string_value(v));
        p = append(p, "--conf ", kv ? kv : "");
        free(kv);
    }
    kv = dsb_asprintf("spark.emr-serverless.driverEnv.DSB_OUTPUT=%s "
                      "--conf spark.emr-serverless.driverEnv.DSB_JOB_ID=%s "
                      "--conf spark.emr-serverless.driverEnv.DSB_SESSION_ID=%s",
                      dsb_job_str(doc, "output", "uri"),
                      dsb_job_str(doc, "id", NULL),
                      dsb_job_str(doc, "session_id", NULL));
    p = append(p, "--conf ", kv ? kv : "");
    free(kv);
    return p;
}

/* The StartJobRun body, from the record alone (doc.emr, doc.script): a
 * re-submission after a restart sends exactly the same request. */
static json_t *start_body(const json_t *doc)
{
    long minutes =
        (long)(json_integer_value(json_object_get(doc, "timeout_seconds")) +
               59) /
        60;
    const json_t *emr = json_object_get(doc, "emr");
    const char *log_uri = opt(emr, "log_uri");
    char *params = submit_params(doc);
    json_t *body =
        params
            ? json_pack(
                  "{s:s?, s:s?, s:s, s:{s:{s:s?, s:O, s:s}}, s:I, s:{s:s, s:s}}",
                  "clientToken", opt(emr, "client_token"), "executionRoleArn",
                  opt(emr, "execution_role_arn"), "name",
                  dsb_job_str(doc, "name", NULL), "jobDriver", "sparkSubmit",
                  "entryPoint", dsb_job_str(doc, "script", NULL),
                  "entryPointArguments", json_object_get(doc, "args"),
                  "sparkSubmitParameters", params, "executionTimeoutMinutes",
                  (json_int_t)(minutes < 5 ? 5 : minutes), "tags",
                  "dsb:session", dsb_job_str(doc, "session_id", NULL),
                  "dsb:job", dsb_job_str(doc, "id", NULL))
            : NULL;

    if (body && log_uri)
        json_object_set_new(
            body, "configurationOverrides",
            json_pack("{s:{s:{s:s}}}", "monitoringConfiguration",
                      "s3MonitoringConfiguration", "logUri", log_uri));
    free(params);
    return body;
}

/* doc.emr and doc.output before the run starts. */
static int prepare(json_t *doc, const json_t *o, struct dsb_error *err)
{
    char token[40], *out_base, *out;
    const char *base = opt(o, "output_uri");

    snprintf(token, sizeof(token), "%s",
             dsb_job_str(doc, "id", NULL) + 4); /* id minus "job-" */
    out_base = base ? strdup(base) : uri_join(opt(o, "staging_uri"), "output");
    out = out_base ? uri_join(out_base, dsb_job_str(doc, "id", NULL)) : NULL;
    free(out_base);
    if (!out)
        return dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
    json_object_set_new(
        doc, "output",
        json_pack("{s:s, s:[ss]}", "uri", out, "formats", "csv", "jsonl"));
    json_object_set_new(
        doc, "emr",
        json_pack("{s:s, s:s, s:s, s:s?, s:s?, s:s?, s:n, s:n, s:n}",
                  "application_id", opt(o, "application_id"), "client_token",
                  token, "execution_role_arn", opt(o, "execution_role_arn"),
                  "region", opt(o, "region"), "endpoint_url",
                  opt(o, "endpoint_url"), "log_uri", opt(o, "log_uri"),
                  "job_run_id", "state", "state_details"));
    free(out);
    return 0;
}

/* StartJobRun for doc (sets doc.emr.job_run_id and state). */
static int start_run(struct dsb_aws *aws, json_t *doc, struct dsb_error *err)
{
    json_t *emr = json_object_get(doc, "emr");
    json_t *body = start_body(doc), *out = NULL;
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    char *path =
        dsb_asprintf("/applications/%s/jobruns", opt(emr, "application_id"));
    int rc = -1;

    if (!text || !path) {
        dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
        goto fail;
    }
    if (emr_call(aws, emr, "emr-serverless", "POST", path, "application/json",
                 text, &out, err) < 0)
        goto fail;
    json_object_set(emr, "job_run_id", json_object_get(out, "jobRunId"));
    json_object_set_new(emr, "state", json_string("SUBMITTED"));
    json_object_del(emr, "resend");
    dsb_job_set_state(doc, "pending", NULL);
    rc = json_is_string(json_object_get(emr, "job_run_id"))
             ? 0
             : dsb_error_set(err, DSB_E_UPSTREAM,
                             "StartJobRun answered "
                             "without a jobRunId");
fail:
    json_decref(body);
    json_decref(out);
    free(path);
    free(text);
    return rc;
}

static int store_locked(struct dsb_jobs *j, const json_t *doc,
                        struct dsb_error *err)
{
    int rc;

    pthread_mutex_lock(&j->mu);
    rc = dsb_jstore_put(j, doc, err);
    pthread_mutex_unlock(&j->mu);
    return rc;
}

/* StartJobRun got no answer after the client's retries (a timeout, 5xx,
 * a lost connection): the run may exist.  The job stays pending and the
 * tracker sends the same request again (the same clientToken: AWS answers
 * with the run it started, or starts it) until it is answered. */
static void keep_for_resend(json_t *doc, const struct dsb_error *why)
{
    char reason[700];

    json_object_set_new(json_object_get(doc, "emr"), "resend",
                        json_string("answer_lost"));
    snprintf(reason, sizeof(reason),
             "StartJobRun got no answer (%s); the broker sends it again "
             "with the same clientToken",
             why->message);
    dsb_job_set_state(doc, "pending", reason);
    dsb_logf(DSB_LOG_WARN, "jobs", "job %s: %s", dsb_job_str(doc, "id", NULL),
             reason);
}

/* The start slot: stages the script, stores the record, StartJobRun (the
 * service stores the record with the run id, or waiting for a re-send). */
static int emr_start(struct dsb_jobs *j, const struct dsb_executor_conf *e,
                     const struct dsb_job_request *r, json_t *doc,
                     struct dsb_error *err)
{
    struct dsb_aws *aws = dsb_jobs_aws(j, err);
    char *entry = NULL;
    int rc = -1;

    if (!aws || prepare(doc, e->options, err) < 0)
        goto fail;
    entry = r->code ? stage(aws, json_object_get(doc, "emr"),
                            opt(e->options, "staging_uri"), doc, r->code, err)
                    : strdup(r->entry_point);
    if (!entry)
        goto fail;
    json_object_set_new(doc, "script", json_string(entry));
    /* stored before StartJobRun: a broker that dies before the answer
     * re-sends the same request on restart (emr_recover) */
    if (store_locked(j, doc, err) < 0)
        goto fail;
    if (start_run(aws, doc, err) < 0) {
        if (!err->retryable)
            goto fail;
        keep_for_resend(doc, err);
    }
    rc = 0;
fail:
    free(entry);
    return rc;
}

/* ------------------------------------------------------------ recovery */

/* A job whose stored record has everything StartJobRun needs. */
static int resubmittable(const json_t *doc)
{
    const json_t *emr = json_object_get(doc, "emr");

    return opt(emr, "client_token") && opt(emr, "execution_role_arn") &&
           opt(emr, "application_id") && dsb_job_str(doc, "script", NULL);
}

static void fail_recovered(struct dsb_jobs *j, json_t *doc, const char *why)
{
    struct dsb_error err;

    dsb_job_set_state(doc, "failed", why);
    if (dsb_jstore_put(j, doc, &err) < 0)
        dsb_logf(DSB_LOG_ERROR, "jobs", "%s", err.message);
    else
        dsb_logf(DSB_LOG_WARN, "jobs", "job %s marked failed: %s",
                 dsb_job_str(doc, "id", NULL), why);
}

/* Where a job without a run that waits for StartJobRun again came from. */
static const char *resend_cause(const json_t *doc)
{
    const char *why = dsb_job_str(doc, "emr", "resend");

    return why && strcmp(why, "answer_lost") == 0 ? "after its answer was lost"
                                                  : "after a broker restart";
}

/*
 * The recover slot (under j->mu).  A job with a run id is tracked like any
 * other.  One without (the StartJobRun answer was lost) whose record was
 * stored just before StartJobRun waits for the tracker to send it again
 * with the same clientToken (idempotent on AWS); any other (the broker
 * stopped before that point: nothing was sent) is failed.
 */
static void emr_recover(struct dsb_jobs *j, json_t *doc, const char *from)
{
    struct dsb_error err;

    (void)from; /* the run goes on whoever started it */
    if (dsb_job_str(doc, "emr", "job_run_id"))
        return;
    if (!resubmittable(doc)) {
        fail_recovered(j, doc,
                       "the broker stopped before the job was "
                       "sent to EMR Serverless; nothing ran, submit it "
                       "again");
        return;
    }
    if (!dsb_job_str(doc, "emr", "resend")) {
        json_object_set_new(json_object_get(doc, "emr"), "resend",
                            json_string("restart"));
        if (dsb_jstore_put(j, doc, &err) < 0)
            dsb_logf(DSB_LOG_ERROR, "jobs", "%s", err.message);
    }
}

static void cancel_new_run(struct dsb_jobs *j, struct dsb_aws *aws,
                           json_t *doc);

/* Sends StartJobRun again for a job that waits for it (tracker thread,
 * env_lock read-held).  A retryable failure leaves it waiting for the
 * next tick; any other fails the job. */
static void resubmit_one(struct dsb_jobs *j, struct dsb_aws *aws,
                         const char *id)
{
    json_t *doc, *cur = NULL;
    struct dsb_error err;
    char why[700];
    const char *cause;

    pthread_mutex_lock(&j->mu);
    doc = dsb_jstore_get(j, id);
    pthread_mutex_unlock(&j->mu);
    if (!doc || dsb_job_is_final(dsb_job_str(doc, "state", NULL)) ||
        dsb_job_str(doc, "emr", "job_run_id") ||
        dsb_job_str(doc, "emr", "stop_state"))
        goto done;
    cause = resend_cause(doc);
    if (start_run(aws, doc, &err) == 0) {
        dsb_logf(DSB_LOG_INFO, "jobs",
                 "job %s: StartJobRun sent again %s (same clientToken), "
                 "run %s",
                 id, cause, dsb_job_str(doc, "emr", "job_run_id"));
        pthread_mutex_lock(&j->mu);
        cur = dsb_jstore_get(j, id);
        if (cur && !dsb_job_is_final(dsb_job_str(cur, "state", NULL)) &&
            !dsb_job_str(cur, "emr", "stop_state")) {
            if (dsb_jstore_put(j, doc, &err) < 0) /* sent again next tick */
                dsb_logf(DSB_LOG_ERROR, "jobs", "%s", err.message);
            json_decref(cur);
            cur = NULL;
        }
        pthread_mutex_unlock(&j->mu);
        if (cur) /* cancelled while the request was on its way */
            cancel_new_run(j, aws, doc);
    } else if (err.retryable) {
        dsb_logf(DSB_LOG_WARN, "jobs",
                 "job %s: cannot send StartJobRun again %s, will retry: %s", id,
                 cause, err.message);
    } else {
        snprintf(why, sizeof(why), "StartJobRun failed when re-sent %s: %s",
                 cause, err.message);
        pthread_mutex_lock(&j->mu);
        fail_recovered(j, doc, why);
        pthread_mutex_unlock(&j->mu);
    }
done:
    json_decref(cur);
    json_decref(doc);
}

/* ------------------------------------------------------------ tracking */

/* GetJobRun (GET) or CancelJobRun (DELETE) of doc's run (the run id
 * given, or doc's): as emr_call. */
static int run_call(struct dsb_aws *aws, const json_t *doc, const char *run,
                    const char *method, json_t **out, struct dsb_error *err)
{
    char *path =
        dsb_asprintf("/applications/%s/jobruns/%s",
                     dsb_job_str(doc, "emr", "application_id"),
                     run ? run : dsb_job_str(doc, "emr", "job_run_id"));
    int rc = path ? emr_call(aws, json_object_get(doc, "emr"), "emr-serverless",
                             method, path, NULL, NULL, out, err)
                  : dsb_error_set(err, DSB_E_INTERNAL, "out of memory");

    free(path);
    return rc;
}

static int cancel_run(struct dsb_jobs *j, const char *id,
                      const char *stop_state, struct dsb_error *err);

/* Applies an observed EMR state to the stored record (under j->mu). */
static void apply(struct dsb_jobs *j, const char *id, const char *emr_state,
                  const char *details)
{
    json_t *doc = dsb_jstore_get(j, id), *emr;
    const char *state = dsb_jobs_emr_state(emr_state), *stop;
    struct dsb_error err;

    if (!doc || !state || dsb_job_is_final(dsb_job_str(doc, "state", NULL)))
        goto done;
    emr = json_object_get(doc, "emr");
    stop = opt(emr, "stop_state");
    json_object_set_new(emr, "state", json_string(emr_state));
    if (details)
        json_object_set_new(emr, "state_details", json_string(details));
    if (strcmp(state, "cancelled") == 0 && stop)
        state = stop;
    if (strcmp(state, dsb_job_str(doc, "state", NULL)) == 0 &&
        !dsb_job_is_final(state))
        json_object_set_new(doc, "updated_at", json_integer(dsb_wall_ms()));
    else
        dsb_job_set_state(doc, state,
                          strcmp(state, "failed") == 0 ? details : NULL);
    if (dsb_jstore_put(j, doc, &err) < 0)
        dsb_logf(DSB_LOG_ERROR, "jobs", "%s", err.message);
done:
    json_decref(doc);
}

static void poll_one(struct dsb_jobs *j, struct dsb_aws *aws, json_t *doc)
{
    const char *id = dsb_job_str(doc, "id", NULL);
    json_t *out = NULL, *run;
    struct dsb_error err;

    if (run_call(aws, doc, NULL, "GET", &out, &err) == 0) {
        run = json_object_get(out, "jobRun");
        pthread_mutex_lock(&j->mu);
        apply(j, id, opt(run, "state"), opt(run, "stateDetails"));
        pthread_mutex_unlock(&j->mu);
    } else {
        dsb_logf(DSB_LOG_WARN, "jobs", "cannot get the state of job %s: %s", id,
                 err.message);
    }
    json_decref(out);
}

/* Past its deadline and not stopping yet: cancel it. */
static void enforce(struct dsb_jobs *j, const json_t *doc)
{
    int64_t deadline = json_integer_value(json_object_get(doc, "deadline_at"));
    struct dsb_error err;

    if (!deadline || dsb_wall_ms() < deadline ||
        opt(json_object_get(doc, "emr"), "stop_state"))
        return;
    if (cancel_run(j, dsb_job_str(doc, "id", NULL), "timed_out", &err) < 0)
        dsb_logf(DSB_LOG_WARN, "jobs",
                 "cannot cancel job %s past its "
                 "deadline: %s",
                 dsb_job_str(doc, "id", NULL), err.message);
}

/* Polls every active EMR job, sends StartJobRun again for those waiting
 * for it, and cancels those past their deadline (env_lock read-held). */
static void tick_locked(struct dsb_jobs *j)
{
    json_t *active, *doc;
    struct dsb_aws *aws = NULL;
    struct dsb_error err;
    size_t i;

    pthread_mutex_lock(&j->mu);
    active = dsb_jstore_list(j, NULL);
    pthread_mutex_unlock(&j->mu);
    json_array_foreach(active, i, doc)
    {
        int has_run = dsb_job_str(doc, "emr", "job_run_id") != NULL;

        if (!has_run && !dsb_job_str(doc, "emr", "resend"))
            continue; /* not EMR's, or its StartJobRun is on its way */
        if (!aws && !(aws = dsb_jobs_aws(j, &err)))
            break;
        if (has_run)
            poll_one(j, aws, doc);
        else
            resubmit_one(j, aws, dsb_job_str(doc, "id", NULL));
        enforce(j, doc);
    }
    json_decref(active);
}

/* Records the stop the broker asked for (under j->mu); run_id: a run
 * found for a job that had none. */
static void mark_stop(struct dsb_jobs *j, const char *id, const char *stop,
                      const char *run_id, int has_run)
{
    json_t *doc = dsb_jstore_get(j, id);
    char reason[128];
    struct dsb_error err;

    if (!doc || dsb_job_is_final(dsb_job_str(doc, "state", NULL)))
        goto done;
    if (strcmp(stop, "timed_out") == 0)
        snprintf(reason, sizeof(reason),
                 "timed out after %lld s; cancelled "
                 "by the broker",
                 (long long)json_integer_value(
                     json_object_get(doc, "timeout_seconds")));
    else
        snprintf(reason, sizeof(reason), "cancelled on request");
    json_object_set_new(json_object_get(doc, "emr"), "stop_state",
                        json_string(stop));
    if (run_id)
        json_object_set_new(json_object_get(doc, "emr"), "job_run_id",
                            json_string(run_id));
    dsb_job_set_state(doc, has_run ? "cancelling" : stop, reason);
    if (dsb_jstore_put(j, doc, &err) < 0)
        dsb_logf(DSB_LOG_ERROR, "jobs", "%s", err.message);
done:
    json_decref(doc);
}

/* 1 when the run `run_id` is the one job doc started (its dsb:job tag),
 * 0 when not, -1 with err set when GetJobRun failed. */
static int run_is_of(struct dsb_aws *aws, const json_t *doc, const char *run_id,
                     struct dsb_error *err)
{
    json_t *out = NULL;
    int rc = run_call(aws, doc, run_id, "GET", &out, err);

    if (rc == 0) {
        const char *tag = json_string_value(json_object_get(
            json_object_get(json_object_get(out, "jobRun"), "tags"),
            "dsb:job"));
        rc = tag && strcmp(tag, dsb_job_str(doc, "id", NULL)) == 0;
    }
    json_decref(out);
    return rc;
}

/* The run a StartJobRun whose answer was lost may have started: among the
 * application's runs created since shortly before the job (ListJobRuns,
 * every page), one of the job's name whose dsb:job tag is the job's id.
 * 0 with *run_id malloc'd or NULL (none), or -1 with err set. */
static int find_lost_run(struct dsb_aws *aws, const json_t *doc, char **run_id,
                         struct dsb_error *err)
{
    time_t since =
        (time_t)(json_integer_value(json_object_get(doc, "created_at")) /
                 1000) -
        300; /* clock skew between the broker and AWS */
    const char *name = dsb_job_str(doc, "name", NULL);
    char *path = dsb_asprintf("/applications/%s/jobruns",
                              dsb_job_str(doc, "emr", "application_id"));
    char after[32], *next = NULL;
    struct tm tm;
    int rc = 0;

    *run_id = NULL;
    if (!path)
        return dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
    gmtime_r(&since, &tm);
    strftime(after, sizeof(after), "%Y-%m-%dT%H:%M:%SZ", &tm);
    for (int page = 0; rc == 0 && !*run_id && page < 100; page++) {
        struct dsb_kv q[] = {{"createdAtAfter", after},
                             {"maxResults", "50"},
                             {"nextToken", next}};
        json_t *out = NULL, *run;
        size_t i;

        if (emr_call_q(aws, json_object_get(doc, "emr"), "emr-serverless",
                       "GET", path, q, next ? 3 : 2, NULL, NULL, &out,
                       err) < 0) {
            rc = -1;
            break;
        }
        json_array_foreach(json_object_get(out, "jobRuns"), i, run)
        {
            const char *id = opt(run, "id");
            int mine;

            if (!id || !name || !opt(run, "name") ||
                strcmp(opt(run, "name"), name) != 0)
                continue;
            mine = run_is_of(aws, doc, id, err);
            if (mine < 0) {
                rc = -1;
                break;
            }
            if (mine) {
                *run_id = strdup(id);
                break;
            }
        }
        free(next);
        next = opt(out, "nextToken") ? strdup(opt(out, "nextToken")) : NULL;
        json_decref(out);
        if (!next)
            break;
    }
    free(next);
    free(path);
    return rc;
}

/* CancelJobRun when the job has a run — for one that waits for StartJobRun
 * again, the run its lost request may have started —, then records the
 * stop (env_lock read-held). */
static int cancel_run(struct dsb_jobs *j, const char *id,
                      const char *stop_state, struct dsb_error *err)
{
    struct dsb_aws *aws = dsb_jobs_aws(j, err);
    json_t *doc = NULL, *out = NULL;
    char *found = NULL;
    int rc = -1, has_run;

    if (!aws || dsb_jobs_get(j, id, &doc, err) < 0)
        goto done;
    if (!dsb_job_str(doc, "emr", "job_run_id") &&
        dsb_job_str(doc, "emr", "resend")) {
        if (find_lost_run(aws, doc, &found, err) < 0) {
            dsb_error_hint(err, "the job waits for its StartJobRun to be sent "
                                "again; the broker must look for a run the "
                                "lost request may have started before it "
                                "can cancel: try again");
            goto done;
        }
        if (found)
            json_object_set_new(json_object_get(doc, "emr"), "job_run_id",
                                json_string(found));
    }
    has_run = dsb_job_str(doc, "emr", "job_run_id") != NULL;
    if (has_run && run_call(aws, doc, NULL, "DELETE", &out, err) < 0)
        goto done;
    pthread_mutex_lock(&j->mu);
    mark_stop(j, id, stop_state, found, has_run);
    pthread_mutex_unlock(&j->mu);
    dsb_logf(DSB_LOG_INFO, "jobs", "job %s: cancel sent (%s)%s%s", id,
             stop_state,
             found ? ", to the run its lost StartJobRun started: " : "",
             found ? found : "");
    rc = 0;
done:
    json_decref(doc);
    json_decref(out);
    free(found);
    return rc;
}

/* A run StartJobRun started again for a job that was cancelled meanwhile:
 * cancelled too, and recorded on the job (tracker thread). */
static void cancel_new_run(struct dsb_jobs *j, struct dsb_aws *aws, json_t *doc)
{
    const char *id = dsb_job_str(doc, "id", NULL);
    json_t *out = NULL, *cur;
    struct dsb_error err;

    if (run_call(aws, doc, NULL, "DELETE", &out, &err) < 0)
        dsb_logf(DSB_LOG_WARN, "jobs",
                 "job %s: cannot cancel run %s that started after the job "
                 "was cancelled: %s",
                 id, dsb_job_str(doc, "emr", "job_run_id"), err.message);
    pthread_mutex_lock(&j->mu);
    if ((cur = dsb_jstore_get(j, id))) {
        json_object_set(
            json_object_get(cur, "emr"), "job_run_id",
            json_object_get(json_object_get(doc, "emr"), "job_run_id"));
        if (dsb_jstore_put(j, cur, &err) < 0)
            dsb_logf(DSB_LOG_ERROR, "jobs", "%s", err.message);
    }
    pthread_mutex_unlock(&j->mu);
    json_decref(cur);
    json_decref(out);
}

/* The logs slot: where EMR writes them, and the run's state details. */
static json_t *emr_logs(const json_t *doc, size_t lines, size_t max_bytes)
{
    const json_t *emr = json_object_get(doc, "emr");
    const char *base = opt(emr, "log_uri"), *run = opt(emr, "job_run_id");
    char *rel, *loc;
    json_t *out;

    (void)lines;
    (void)max_bytes;
    if (!emr) /* it failed before it was prepared: nothing was sent */
        return json_object();
    rel = dsb_asprintf("applications/%s/jobs/%s/", opt(emr, "application_id"),
                       run ? run : "-");
    loc = base && rel ? uri_join(base, rel) : NULL;
    out = json_pack("{s:s?, s:s?, s:s?}", "location", loc, "state_details",
                    opt(emr, "state_details"), "emr_state", opt(emr, "state"));
    free(rel);
    free(loc);
    return out;
}

/* ------------------------------------------------------------ the type */

/* The tick slot: every emr_poll_ms. */
static long emr_tick(struct dsb_jobs *j)
{
    pthread_rwlock_rdlock(&j->env_lock);
    tick_locked(j);
    pthread_rwlock_unlock(&j->env_lock);
    return j->o.emr_poll_ms;
}

/* The cancel slot: CancelJobRun; for a job still waiting for StartJobRun
 * to be sent again, of the run its lost request started, or none (it is
 * then stopped at once). */
static int emr_cancel(struct dsb_jobs *j, json_t *doc, const char *stop_state,
                      struct dsb_error *err)
{
    int rc;

    pthread_rwlock_rdlock(&j->env_lock);
    rc = cancel_run(j, dsb_job_str(doc, "id", NULL), stop_state, err);
    pthread_rwlock_unlock(&j->env_lock);
    return rc;
}

/* The read_output slot: the s3:// output prefix, read with the broker's
 * AWS client. */
static int emr_read_output(struct dsb_jobs *j, const json_t *doc, size_t limit,
                           json_t **out, struct dsb_error *err)
{
    int rc;

    pthread_rwlock_rdlock(&j->env_lock);
    rc = dsb_output_read_s3(j, doc, dsb_job_str(doc, "output", "uri"), limit,
                            out, err);
    pthread_rwlock_unlock(&j->env_lock);
    return rc;
}

static unsigned emr_caps(const json_t *opts)
{
    return DSB_EXEC_S3_NATIVE |
           (json_is_true(json_object_get(opts, "glue_catalog"))
                ? DSB_EXEC_GLUE_CATALOG
                : 0);
}

static const struct dsb_option emr_options[] = {
    DSB_OPTION_STRING("application_id", DSB_OPT_REQUIRED, NULL,
                      "EMR Serverless application id"),
    DSB_OPTION_STRING("execution_role_arn", DSB_OPT_REQUIRED, NULL,
                      "IAM role the job runs as"),
    DSB_OPTION_STRING("region", 0, NULL, "region (default: the broker's)"),
    DSB_OPTION_STRING("endpoint_url", 0, NULL, "endpoint override"),
    DSB_OPTION_STRING("staging_uri", DSB_OPT_REQUIRED, NULL,
                      "s3:// prefix where job scripts are staged"),
    DSB_OPTION_STRING("log_uri", 0, NULL, "s3:// prefix for job logs"),
    DSB_OPTION_STRING("output_uri", 0, NULL,
                      "s3:// prefix for job output (default: under "
                      "staging_uri)"),
    DSB_OPTION_INT("default_timeout_minutes", 0, "60", 5, 10080,
                   "executionTimeoutMinutes unless the job asks for less"),
    DSB_OPTION_INT("max_timeout_minutes", 0, "720", 5, 10080,
                   "longest timeout a job may ask for"),
    DSB_OPTION_BOOL("glue_catalog", "true",
                    "the application uses the Glue Data Catalog"),
    DSB_OPTION_LIST("jars", 0, "[]", "s3:// jars added to --jars"),
    DSB_OPTION_MAP("conf", 0, "extra --conf key=value pairs"),
    DSB_OPTION_INT("max_running_jobs", 0, "16", 1, 10000,
                   "jobs sent to EMR Serverless and not final yet; more are "
                   "queued in the broker"),
    DSB_OPTION_INT("max_queued_jobs", 0, "64", 0, 100000,
                   "jobs waiting in the broker for a slot; a submit beyond "
                   "is refused with 429"),
    DSB_OPTION_END};

/* The describe slot: jobs run in the EMR Serverless application, on AWS's
 * machines, as its execution role; nothing of this machine is theirs. */
static json_t *emr_describe(const struct dsb_executor_conf *e)
{
    (void)e;
    return json_pack("{s:s, s:b}", "isolation", "remote", "ready", 1);
}

/* The record is stored by emr_start once the script is staged (just
 * before StartJobRun), and by the service with the run id.  Entry points
 * are passed on as given (an s3:// URI the application reads). */
const struct dsb_executor_ops dsb_emr_serverless_ops = {
    .options = emr_options,
    .default_timeout_key = "default_timeout_minutes",
    .max_timeout_key = "max_timeout_minutes",
    .timeout_unit_s = 60,
    .flags = DSB_EXEC_STORE_AFTER_START,
    .caps = emr_caps,
    .start = emr_start,
    .tick = emr_tick,
    .recover = emr_recover,
    .cancel = emr_cancel,
    .logs = emr_logs,
    .read_output = emr_read_output,
    .describe = emr_describe,
};
