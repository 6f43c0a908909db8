/* /v1/sessions/{id}/jobs and /v1/jobs/...: jobs over core/jobs/jobs.h.
 * A submitted job is routed and described by the session's Spark context
 * (core/context.c), exactly as GET .../context shows it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "options.h"

#define LOG_LINES_DEFAULT 200
#define RESULT_LIMIT_DEFAULT 100
#define RESULT_LIMIT_MAX 10000
#define TIMEOUT_MAX_SECONDS 315360000.0 /* ten years */

/* The parsed body of POST /v1/sessions/{id}/jobs (strings borrowed). */
struct job_body {
    const char *code, *entry_point, *name, *executor;
    const json_t *args;
    long timeout;
};

#define BODY_HINT                                                              \
    "send {\"code\": \"...\"} or {\"entry_point\": "                           \
    "\"...\"}, optionally name, args, executor and "                           \
    "timeout_seconds"

static const char *const members[] = {
    "code", "entry_point", "name", "executor", "args", "timeout_seconds"};
#define N_MEMBERS (sizeof(members) / sizeof(members[0]))
#define N_STRING_MEMBERS 4 /* the first ones */

static int body_problem(struct dsb_req *r, const char *detail)
{
    dsb_reply_problem(r, 400, "invalid", "the job request is invalid", detail,
                      BODY_HINT);
    return -1;
}

/* The member an unknown one was probably meant to be: one it begins
 * ("timeout" -> "timeout_seconds"), else the closest by spelling. */
static const char *meant(const char *k)
{
    for (size_t i = 0; *k && i < N_MEMBERS; i++)
        if (strncmp(members[i], k, strlen(k)) == 0)
            return members[i];
    return dsb_closest(k, members, N_MEMBERS);
}

static int unknown_member(struct dsb_req *r, const char *k)
{
    const char *near = meant(k);
    char why[160], hint[320];

    snprintf(why, sizeof(why), "unknown member \"%.64s\"", k);
    if (!near)
        return body_problem(r, why);
    snprintf(hint, sizeof(hint), "did you mean \"%s\"? %s", near, BODY_HINT);
    dsb_reply_problem(r, 400, "invalid", "the job request is invalid", why,
                      hint);
    return -1;
}

/* Checks member types and unknown members; replies 400 itself. */
static int check_members(struct dsb_req *r, const json_t *o)
{
    char why[160];
    const char *k;
    json_t *v;

    if (!json_is_object(o))
        return body_problem(r, "the body must be a JSON object");
    json_object_foreach((json_t *)o, k, v)
    {
        size_t i = 0;
        while (i < N_MEMBERS && strcmp(k, members[i]) != 0)
            i++;
        if (i == N_MEMBERS)
            return unknown_member(r, k);
        /* code and entry_point: a string; name and executor: or null */
        if (i < N_STRING_MEMBERS && !json_is_string(v) &&
            (i < 2 || !json_is_null(v))) {
            snprintf(why, sizeof(why), "%s must be a string", k);
            return body_problem(r, why);
        }
    }
    return 0;
}

/* timeout_seconds: absent (0), or a whole number in range; JSON Schema
 * counts 76.0 as an integer, so an integral real is one too. */
static int timeout_of(const json_t *t, long *out)
{
    double d;

    *out = 0;
    if (!t)
        return 0;
    if (json_is_integer(t))
        d = (double)json_integer_value(t);
    else if (json_is_real(t))
        d = json_real_value(t);
    else
        return -1;
    if (!(d >= 0 && d <= TIMEOUT_MAX_SECONDS) || d != (double)(long)d)
        return -1;
    *out = (long)d;
    return 0;
}

static int parse_body(struct dsb_req *r, const json_t *o, struct job_body *b)
{
    const json_t *t = json_object_get(o, "timeout_seconds"), *v;
    size_t i;

    if (check_members(r, o) < 0)
        return -1;
    b->code = json_string_value(json_object_get(o, "code"));
    b->entry_point = json_string_value(json_object_get(o, "entry_point"));
    b->name = json_string_value(json_object_get(o, "name"));
    b->executor = json_string_value(json_object_get(o, "executor"));
    b->args = json_object_get(o, "args");
    if ((b->code && !*b->code) || (b->entry_point && !*b->entry_point))
        return body_problem(r, "code and entry_point may not be empty");
    if (!b->code == !b->entry_point)
        return body_problem(r, "give either code or entry_point");
    if (timeout_of(t, &b->timeout) < 0)
        return body_problem(r, "timeout_seconds must be a whole number of "
                               "seconds from 0 to 315360000");
    if (b->args && !json_is_array(b->args) && !json_is_null(b->args))
        return body_problem(r, "args must be a list of strings");
    json_array_foreach(b->args, i, v) if (
        !json_is_string(
            v)) return body_problem(r, "args must be a list of strings");
    if (json_is_null(b->args))
        b->args = NULL;
    return 0;
}

static void reply_job(struct dsb_req *r, int status, json_t *job)
{
    char loc[128];

    snprintf(loc, sizeof(loc), "/v1/jobs/%s",
             json_string_value(json_object_get(job, "id")));
    dsb_reply_header(r, "Location", loc);
    dsb_reply_json(r, status, job);
}

void dsb_h_job_submit(struct dsb_req *r)
{
    json_t *body = dsb_req_json(r), *job = NULL;
    struct job_body b = {0};
    struct dsb_job_params p;
    struct dsb_error err;

    if (body && parse_body(r, body, &b) == 0) {
        p = (struct dsb_job_params){b.code,     b.entry_point, b.name,
                                    b.executor, b.args,        b.timeout};
        if (dsb_svc_job_submit(&r->ctx, r->params[0], &p, &job, &err) < 0)
            dsb_reply_error(r, &err);
        else
            reply_job(r, 202, job);
    }
    json_decref(body);
}

void dsb_h_job_get(struct dsb_req *r)
{
    struct dsb_error err;
    json_t *job = NULL;

    dsb_reply_result(r, dsb_svc_job_get(&r->ctx, r->params[0], &job, &err),
                     &job, &err);
}

void dsb_h_session_jobs(struct dsb_req *r)
{
    struct dsb_error err;
    json_t *list = NULL;

    dsb_reply_result(r, dsb_svc_jobs_list(&r->ctx, r->params[0], &list, &err),
                     &list, &err);
}

void dsb_h_job_cancel(struct dsb_req *r)
{
    struct dsb_error err;
    json_t *job = NULL;

    dsb_reply_result(r, dsb_svc_job_cancel(&r->ctx, r->params[0], &job, &err),
                     &job, &err);
}

void dsb_h_plan(struct dsb_req *r)
{
    int bad = 0;
    char *exec = dsb_req_query(r, "executor", &bad);
    struct dsb_error err;
    json_t *out = NULL;

    if (bad)
        dsb_reply_problem(r, 400, "invalid", "bad query parameter",
                          "values "
                          "must be valid %-encoded UTF-8",
                          NULL);
    else
        dsb_reply_result(r,
                         dsb_svc_plan(&r->ctx, r->params[0], exec, &out, &err),
                         &out, &err);
    free(exec);
}

/* A positive integer query parameter up to max (def when absent); replies
 * 400 itself and returns -1. */
static long query_count(struct dsb_req *r, const char *name, long def, long max)
{
    int bad = 0;
    char *v = dsb_req_query(r, name, &bad), *end = NULL;
    long n = def;
    char why[96];

    if (v) {
        errno = 0;
        n = strtol(v, &end, 10);
        bad |= errno || end == v || *end || n <= 0 || n > max;
    }
    free(v);
    if (!bad)
        return n;
    snprintf(why, sizeof(why), "%s is an integer from 1 to %ld", name, max);
    dsb_reply_problem(r, 400, "invalid", "bad query parameter", why, NULL);
    return -1;
}

void dsb_h_job_logs(struct dsb_req *r)
{
    long lines = query_count(r, "lines", LOG_LINES_DEFAULT, 100000);
    struct dsb_error err;
    json_t *logs = NULL;

    if (lines >= 0)
        dsb_reply_result(
            r, dsb_svc_job_logs(&r->ctx, r->params[0], lines, &logs, &err),
            &logs, &err);
}

void dsb_h_job_result(struct dsb_req *r)
{
    long limit =
        query_count(r, "limit", RESULT_LIMIT_DEFAULT, RESULT_LIMIT_MAX);
    struct dsb_error err;
    json_t *res = NULL;

    if (limit >= 0)
        dsb_reply_result(r,
                         dsb_svc_job_result(&r->ctx, r->params[0],
                                            (size_t)limit, &res, &err),
                         &res, &err);
}
