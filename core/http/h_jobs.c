/* /v1/sessions/{id}/jobs and /v1/jobs/...: jobs over core/jobs/jobs.h.
 * A submitted job is routed and described by the session's Spark context
 * (core/context.c), exactly as GET .../context shows it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "jobs/jobs.h"
#include "options.h"

#define LOG_TAIL_BYTES (1u << 20)
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

#define BODY_HINT "send {\"code\": \"...\"} or {\"entry_point\": " \
                  "\"...\"}, optionally name, args, executor and " \
                  "timeout_seconds"

static const char *const members[] = {"code", "entry_point", "name",
                                      "executor", "args", "timeout_seconds"};
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
    json_object_foreach((json_t *)o, k, v) {
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
    json_array_foreach(b->args, i, v)
        if (!json_is_string(v))
            return body_problem(r, "args must be a list of strings");
    if (json_is_null(b->args))
        b->args = NULL;
    return 0;
}

/* Read specs for the job, from the context: each table's network and
 * secret references, then one entry with the context's spark_submit. */
static json_t *context_specs(const json_t *ctx)
{
    json_t *specs = json_array(), *t;
    size_t i;

    json_array_foreach(json_object_get(ctx, "tables"), i, t)
        json_array_append_new(specs, json_pack(
            "{s:O, s:O*}", "network", json_object_get(t, "network"),
            "secret_options", json_object_get(json_object_get(t, "read"),
                                              "secret_options")));
    json_array_append_new(specs, json_pack("{s:O}", "spark_submit",
                                           json_object_get(ctx,
                                                           "spark_submit")));
    return specs;
}

/* The names of the sources of the context's tables, each once. */
static json_t *context_sources(const json_t *ctx)
{
    json_t *names = json_array(), *t, *v;
    size_t i, k;

    json_array_foreach(json_object_get(ctx, "tables"), i, t) {
        const char *s = json_string_value(json_object_get(t, "source"));
        int seen = !s;
        json_array_foreach(names, k, v)
            seen |= strcmp(json_string_value(v), s) == 0;
        if (!seen)
            json_array_append_new(names, json_string(s));
    }
    return names;
}

/* The context's routing decision as a jobs route (networks not needed:
 * the jobs service checks them again from the specs). */
static void context_route(const json_t *ctx, struct dsb_route *route)
{
    const json_t *rt = json_object_get(ctx, "route");
    const char *e = json_string_value(json_object_get(rt, "executor"));
    const char *t = json_string_value(json_object_get(rt, "executor_type"));
    const char *why = json_string_value(json_object_get(rt, "reason"));

    memset(route, 0, sizeof(*route));
    snprintf(route->executor, sizeof(route->executor), "%s", e ? e : "");
    snprintf(route->type, sizeof(route->type), "%s", t ? t : "");
    snprintf(route->reason, sizeof(route->reason), "%s", why ? why : "");
}

/* The session's context for the job; replies itself and returns NULL. */
static json_t *session_context(struct dsb_req *r, const char *executor)
{
    struct dsb_selection *sel = NULL;
    struct dsb_context_opts o;
    struct dsb_error err;
    json_t *items = NULL, *ctx = NULL;
    size_t n = 0;

    if (dsb_sessions_selections(r->srv->sessions, r->params[0], &items,
                                &err) < 0) {
        dsb_reply_error(r, &err);
        return NULL;
    }
    sel = dsb_stored_selections(r, items, &n);
    if (sel) {
        dsb_data_context_opts(r, &o);
        if (dsb_context_build(r->gen->broker, sel, n, executor, &o, &ctx,
                              &err) < 0)
            dsb_reply_error(r, &err);
    }
    free(sel);
    json_decref(items);
    return ctx;
}

static void reply_job(struct dsb_req *r, int status, json_t *job)
{
    char loc[128];

    snprintf(loc, sizeof(loc), "/v1/jobs/%s",
             json_string_value(json_object_get(job, "id")));
    dsb_reply_header(r, "Location", loc);
    dsb_reply_json(r, status, job);
}

static void submit(struct dsb_req *r, const struct job_body *b,
                   const json_t *ctx)
{
    struct dsb_job_request jr = {0};
    struct dsb_route route;
    struct dsb_error err;
    json_t *specs = context_specs(ctx), *sources = context_sources(ctx);
    json_t *job = NULL;

    context_route(ctx, &route);
    jr.sources = sources;
    jr.session_id = r->params[0];
    jr.code = b->code;
    jr.entry_point = b->entry_point;
    jr.name = b->name;
    jr.args = b->args;
    jr.executor = b->executor;
    jr.timeout_seconds = b->timeout;
    jr.read_specs = specs;
    jr.route = &route;
    if (dsb_jobs_submit(r->srv->jobs, &jr, &job, &err) < 0)
        dsb_reply_error(r, &err);
    else
        reply_job(r, 202, job);
    json_decref(sources);
    json_decref(specs);
}

void dsb_h_job_submit(struct dsb_req *r)
{
    json_t *body = dsb_req_json(r), *ctx = NULL;
    struct job_body b = {0};

    if (body && parse_body(r, body, &b) == 0 &&
        (ctx = session_context(r, b.executor && *b.executor ? b.executor
                                                            : NULL)))
        submit(r, &b, ctx);
    json_decref(ctx);
    json_decref(body);
}

/* The job {id} when the token may use every source it reads; replies
 * 404/403 itself and returns NULL. */
static json_t *allowed_job(struct dsb_req *r)
{
    struct dsb_error err;
    json_t *job = NULL;

    if (dsb_jobs_get(r->srv->jobs, r->params[0], &job, &err) < 0) {
        dsb_reply_error(r, &err);
        return NULL;
    }
    if (dsb_req_may_use_all(r, json_object_get(job, "sources")))
        return job;
    dsb_reply_problem(r, 403, "forbidden", "this token may not use a source "
                      "the job reads", r->params[0], "use a token whose "
                      "sources include every source of the job");
    json_decref(job);
    return NULL;
}

/* 0 when the token may use the job {id}; replies 404/403 itself. */
static int check_job(struct dsb_req *r)
{
    json_t *job = allowed_job(r);
    int rc = job ? 0 : -1;

    json_decref(job);
    return rc;
}

void dsb_h_job_get(struct dsb_req *r)
{
    json_t *job = allowed_job(r);

    if (job)
        dsb_reply_json(r, 200, job);
}

/* Drops the jobs that read a source the token may not use. */
static void hide_forbidden_jobs(struct dsb_req *r, json_t *list)
{
    json_t *items = json_object_get(list, "items");

    for (size_t i = json_array_size(items); i-- > 0;)
        if (!dsb_req_may_use_all(r, json_object_get(json_array_get(items, i),
                                                     "sources")))
            json_array_remove(items, i);
}

void dsb_h_session_jobs(struct dsb_req *r)
{
    struct dsb_error err;
    json_t *s = NULL, *list = NULL;

    if (dsb_sessions_get(r->srv->sessions, r->params[0], &s, &err) < 0 ||
        dsb_jobs_list(r->srv->jobs, r->params[0], &list, &err) < 0) {
        dsb_reply_error(r, &err);
    } else {
        hide_forbidden_jobs(r, list);
        dsb_reply_json(r, 200, list);
    }
    json_decref(s);
}

void dsb_h_job_cancel(struct dsb_req *r)
{
    struct dsb_error err;
    json_t *job = NULL;

    if (check_job(r) < 0)
        return;
    if (dsb_jobs_cancel(r->srv->jobs, r->params[0], &job, &err) < 0)
        dsb_reply_error(r, &err);
    else
        dsb_reply_json(r, 200, job);
}

/* A positive integer query parameter up to max (def when absent); replies
 * 400 itself and returns -1. */
static long query_count(struct dsb_req *r, const char *name, long def,
                        long max)
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

/* Keeps the last `lines` lines of the string member k of o. */
static void keep_last_lines(json_t *o, const char *k, long lines)
{
    const char *s = json_string_value(json_object_get(o, k));
    size_t n = s ? strlen(s) : 0;
    long seen = 0;

    if (!s)
        return;
    if (n > 0 && s[n - 1] == '\n')
        n--;
    while (n > 0) {
        if (s[n - 1] == '\n' && ++seen == lines)
            break;
        n--;
    }
    json_object_set_new(o, k, json_string(s + n));
}

void dsb_h_job_logs(struct dsb_req *r)
{
    long lines = query_count(r, "lines", LOG_LINES_DEFAULT, 100000);
    struct dsb_error err;
    json_t *logs = NULL;

    if (lines < 0 || check_job(r) < 0)
        return;
    if (dsb_jobs_logs(r->srv->jobs, r->params[0], LOG_TAIL_BYTES, &logs,
                      &err) < 0) {
        dsb_reply_error(r, &err);
        return;
    }
    keep_last_lines(logs, "stdout", lines);
    keep_last_lines(logs, "stderr", lines);
    dsb_reply_json(r, 200, logs);
}

void dsb_h_job_result(struct dsb_req *r)
{
    long limit = query_count(r, "limit", RESULT_LIMIT_DEFAULT,
                             RESULT_LIMIT_MAX);
    struct dsb_error err;
    json_t *res = NULL;

    if (limit < 0 || check_job(r) < 0)
        return;
    if (dsb_jobs_result(r->srv->jobs, r->params[0], (size_t)limit, &res,
                        &err) < 0)
        dsb_reply_error(r, &err);
    else
        dsb_reply_json(r, 200, res);
}
