/* Jobs: routed and described by the session's Spark context (exactly as
 * the context shows it), owned by the principal that submitted them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "service/internal.h"

/* At most this much of each log stream is read for its last lines. */
#define LOG_TAIL_BYTES (1u << 20)

/* Read specs for the job, from the context: each table's network, secret
 * references and path (a confined local job sees its local paths), then
 * one entry with the context's spark_submit. */
static json_t *context_specs(const json_t *ctx)
{
    json_t *specs = json_array(), *t, *read;
    size_t i;

    json_array_foreach(json_object_get(ctx, "tables"), i, t)
    {
        read = json_object_get(t, "read");
        json_array_append_new(
            specs, json_pack("{s:O, s:O*, s:O*}", "network",
                             json_object_get(t, "network"), "secret_options",
                             json_object_get(read, "secret_options"), "path",
                             json_object_get(read, "path")));
    }
    json_array_append_new(specs,
                          json_pack("{s:O}", "spark_submit",
                                    json_object_get(ctx, "spark_submit")));
    return specs;
}

/* The names of the sources of the context's tables, each once. */
static json_t *context_sources(const json_t *ctx)
{
    json_t *names = json_array(), *t, *v;
    size_t i, k;

    json_array_foreach(json_object_get(ctx, "tables"), i, t)
    {
        const char *s = json_string_value(json_object_get(t, "source"));
        int seen = !s;
        json_array_foreach(names, k, v) seen |=
            strcmp(json_string_value(v), s) == 0;
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

int dsb_svc_job_submit_ctx(const struct dsb_ctx *c, const char *session,
                           const json_t *ctx, const struct dsb_job_params *p,
                           const json_t *purpose, json_t **job,
                           struct dsb_error *err)
{
    struct dsb_job_request jr = {0};
    struct dsb_route route;
    json_t *specs = context_specs(ctx), *sources = context_sources(ctx);
    int rc;

    context_route(ctx, &route);
    jr.sources = sources;
    jr.session_id = session;
    jr.principal = c->principal->name;
    jr.code = p->code;
    jr.entry_point = p->entry_point;
    jr.name = p->name;
    jr.args = p->args;
    jr.executor = p->executor;
    jr.timeout_seconds = p->timeout_seconds;
    jr.read_specs = specs;
    jr.route = &route;
    jr.purpose = purpose;
    rc = dsb_svc_store_check(c, err) < 0
             ? -1
             : dsb_jobs_submit(c->svc->jobs, &jr, job, err);
    json_decref(sources);
    json_decref(specs);
    return rc;
}

int dsb_svc_job_submit(const struct dsb_ctx *c, const char *session,
                       const struct dsb_job_params *p, json_t **job,
                       struct dsb_error *err)
{
    json_t *ctx;
    int rc;

    if (dsb_svc_session_access(c, session, DSB_SCOPE_JOBS, err) < 0 ||
        !(ctx = dsb_svc_context_doc(
              c, session, p->executor && *p->executor ? p->executor : NULL,
              err)))
        return -1;
    rc = dsb_svc_job_submit_ctx(c, session, ctx, p, NULL, job, err);
    json_decref(ctx);
    return rc;
}

/* Whether the principal may see the job: it submitted it, owns its
 * session or is an admin, and every source the job reads is within its
 * limits. */
static int may_see(const struct dsb_ctx *c, const json_t *job)
{
    const char *who = json_string_value(json_object_get(job, "principal"));
    char owner[DSB_OWNER_MAX + 1] = "";
    struct dsb_error err;

    dsb_sessions_owner(c->svc->sessions,
                       json_string_value(json_object_get(job, "session_id")),
                       owner, &err);
    if (!(c->principal->scopes & DSB_SCOPE_ADMIN) &&
        strcmp(who ? who : "", c->principal->name) != 0 &&
        strcmp(owner, c->principal->name) != 0)
        return 0;
    return dsb_svc_may_use_all(c, json_object_get(job, "sources"));
}

int dsb_svc_job_get(const struct dsb_ctx *c, const char *id, json_t **job,
                    struct dsb_error *err)
{
    if (dsb_svc_require(c, DSB_SCOPE_JOBS, err) < 0)
        return -1;
    if (dsb_jobs_get(c->svc->jobs, id, job, err) < 0) {
        /* the job store answers "no such job" when it cannot be read */
        if (err->code == DSB_E_NOT_FOUND)
            dsb_svc_store_check(c, err);
        return -1;
    }
    if (may_see(c, *job))
        return 0;
    json_decref(*job);
    *job = NULL;
    return dsb_svc_forbidden(err, "this token may not use the job", id,
                             "use the token that submitted it or owns its "
                             "session, with every source of the job");
}

int dsb_svc_jobs_list(const struct dsb_ctx *c, const char *session,
                      json_t **out, struct dsb_error *err)
{
    json_t *items;

    if (dsb_svc_session_access(c, session, DSB_SCOPE_JOBS, err) < 0 ||
        dsb_jobs_list(c->svc->jobs, session, out, err) < 0)
        return -1;
    items = json_object_get(*out, "items");
    for (size_t i = json_array_size(items); i-- > 0;)
        if (!may_see(c, json_array_get(items, i)))
            json_array_remove(items, i);
    return 0;
}

/* 0 when the principal may use the job id. */
static int job_access(const struct dsb_ctx *c, const char *id,
                      struct dsb_error *err)
{
    json_t *job = NULL;
    int rc = dsb_svc_job_get(c, id, &job, err);

    json_decref(job);
    return rc;
}

int dsb_svc_job_cancel(const struct dsb_ctx *c, const char *id, json_t **job,
                       struct dsb_error *err)
{
    if (job_access(c, id, err) < 0 || dsb_svc_store_check(c, err) < 0)
        return -1;
    return dsb_jobs_cancel(c->svc->jobs, id, job, err);
}

int dsb_svc_job_logs(const struct dsb_ctx *c, const char *id, long lines,
                     json_t **out, struct dsb_error *err)
{
    if (job_access(c, id, err) < 0)
        return -1;
    return dsb_jobs_logs(c->svc->jobs, id, lines > 0 ? (size_t)lines : 0,
                         LOG_TAIL_BYTES, out, err);
}

int dsb_svc_job_result(const struct dsb_ctx *c, const char *id, size_t limit,
                       json_t **out, struct dsb_error *err)
{
    if (job_access(c, id, err) < 0)
        return -1;
    return dsb_jobs_result(c->svc->jobs, id, limit, out, err);
}

int dsb_svc_job_script(const struct dsb_ctx *c, const char *id, char **text,
                       struct dsb_error *err)
{
    json_t *job = NULL;
    const char *script;
    size_t len;

    if (dsb_svc_job_get(c, id, &job, err) < 0)
        return -1;
    script = json_string_value(json_object_get(job, "script"));
    *text = !script            ? NULL
            : script[0] == '/' ? dsb_read_file(script, 256 * 1024, &len)
                               : dsb_asprintf("# staged at %s\n", script);
    json_decref(job);
    if (*text)
        return 0;
    return dsb_error_set(err, DSB_E_NOT_FOUND,
                         "the job's script is not kept (it has not started, "
                         "or its directory was removed)");
}
