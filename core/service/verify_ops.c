/* Verified reads of a session's Spark context (core/verify.h): a job on
 * the executor the context routes to, whose report is the latest job of
 * that purpose for the context as it is now (its ETag), compared once and
 * memoised with the contexts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "service/internal.h"
#include "verify.h"

#define VERIFY_JOB_NAME "verify context"

/* Looking for a running verification and starting one are one step, so
 * that two POSTs at once start one job (within this process). */
static pthread_mutex_t start_mu = PTHREAD_MUTEX_INITIALIZER;

/* The session's context now: its document (a new reference) and ETag. */
static json_t *current_context(const struct dsb_ctx *c, const char *session,
                               char etag[24], struct dsb_error *err)
{
    int hit = 0;
    const struct dsb_cached *v =
        dsb_svc_context_held(c, session, NULL, &hit, err);
    json_t *doc = NULL;

    if (!v)
        return NULL;
    if (!v->body)
        *err = v->err;
    else if (!(doc = dsb_cached_doc(v)))
        dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
    else
        memcpy(etag, v->etag, 24);
    dsb_cache_release(c->gen->cache, v);
    return doc;
}

static int is_verification(const json_t *job, const char *etag)
{
    const json_t *p = json_object_get(job, "purpose");
    const char *kind = json_string_value(json_object_get(p, "kind"));
    const char *e = json_string_value(json_object_get(p, "context_etag"));

    return kind && strcmp(kind, DSB_VERIFY_KIND) == 0 &&
           (!etag || (e && strcmp(e, etag) == 0));
}

/* The newest verification job of the session for etag (NULL: any), a new
 * reference, or NULL. */
static json_t *latest(const struct dsb_ctx *c, const char *session,
                      const char *etag)
{
    struct dsb_error err;
    json_t *list = NULL, *job, *found = NULL;
    size_t i;

    if (dsb_jobs_list(c->svc->jobs, session, &list, &err) < 0)
        return NULL;
    json_array_foreach(json_object_get(list, "items"), i,
                       job) if (!found && is_verification(job, etag)) found =
        json_incref(job);
    json_decref(list);
    return found;
}

static int active(const json_t *job)
{
    const char *s = json_string_value(json_object_get(job, "state"));

    return s && (!strcmp(s, "pending") || !strcmp(s, "running") ||
                 !strcmp(s, "cancelling"));
}

/* The verification's state from its job's: "pending", "running", "done"
 * (the job succeeded: a report) or "failed" (no report). */
static const char *state_of(const json_t *job)
{
    const char *s = json_string_value(json_object_get(job, "state"));

    if (!s || active(job))
        return s && !strcmp(s, "running") ? "running" : "pending";
    return strcmp(s, "succeeded") == 0 ? "done" : "failed";
}

static json_t *status(const char *session, const char *etag, const json_t *job)
{
    json_t *o =
        json_pack("{s:s, s:s, s:s}", "session_id", session, "context_etag",
                  etag, "state", job ? state_of(job) : "none");

    if (job) {
        json_object_set(o, "job_id", json_object_get(job, "id"));
        json_object_set(o, "job_state", json_object_get(job, "state"));
        json_object_set(o, "executor", json_object_get(job, "executor"));
        json_object_set(o, "created_at", json_object_get(job, "created_at"));
        json_object_set(o, "finished_at", json_object_get(job, "finished_at"));
    }
    if (job && strcmp(state_of(job), "failed") == 0)
        json_object_set(o, "reason", json_object_get(job, "reason"));
    return o;
}

/* Answers the running verification of etag, or starts one. */
static int start_or_join(const struct dsb_ctx *c, const char *session,
                         const json_t *ctx, const char *etag, json_t **out,
                         struct dsb_error *err)
{
    struct dsb_job_params p = {.name = VERIFY_JOB_NAME};
    json_t *job = latest(c, session, etag), *purpose = NULL;
    int rc = 0;

    if (!job || !active(job)) { /* one verification of a context at a time */
        json_decref(job);
        job = NULL;
        purpose = json_pack("{s:s, s:s}", "kind", DSB_VERIFY_KIND,
                            "context_etag", etag);
        p.code = dsb_verify_code(ctx);
        rc = !p.code || !purpose
                 ? dsb_error_set(err, DSB_E_INTERNAL, "out of memory")
                 : dsb_svc_job_submit_ctx(c, session, ctx, &p, purpose, &job,
                                          err);
    }
    if (rc == 0)
        *out = status(session, etag, job);
    free((char *)p.code);
    json_decref(purpose);
    json_decref(job);
    return rc;
}

int dsb_svc_verify_start(const struct dsb_ctx *c, const char *session,
                         json_t **out, struct dsb_error *err)
{
    json_t *ctx;
    char etag[24];
    int rc;

    if (dsb_svc_session_access(c, session, DSB_SCOPE_JOBS, err) < 0 ||
        !(ctx = current_context(c, session, etag, err)))
        return -1;
    if (json_array_size(json_object_get(ctx, "tables")) == 0) {
        rc = dsb_error_set(err, DSB_E_CONFLICT,
                           "the session selects no tables: "
                           "nothing to verify");
        dsb_error_hint(err, "select tables into the session first");
    } else {
        pthread_mutex_lock(&start_mu);
        rc = start_or_join(c, session, ctx, etag, out, err);
        pthread_mutex_unlock(&start_mu);
    }
    json_decref(ctx);
    return rc;
}

/* The report of a succeeded verification job, memoised with the
 * contexts under (job, context ETag). */
struct report_load {
    const struct dsb_ctx *c;
    const json_t *ctx;
    const char *job_id;
};

static int load_report(void *ud, json_t **out, struct dsb_error *err)
{
    struct report_load *l = ud;
    size_t n = json_array_size(json_object_get(l->ctx, "tables"));
    json_t *res = NULL;

    if (dsb_jobs_result(l->c->svc->jobs, l->job_id, n + 1, &res, err) < 0) {
        if (err->code != DSB_E_NOT_FOUND)
            return -1;
        /* it wrote nothing: every table is without a result */
        res = json_pack("{s:[], s:[]}", "columns", "rows");
    }
    *out = dsb_verify_report(l->ctx, res);
    json_decref(res);
    return *out ? 0 : dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
}

static int add_report(const struct dsb_ctx *c, json_t *o, const json_t *ctx,
                      const char *job_id, const char *etag,
                      struct dsb_error *err)
{
    struct report_load l = {c, ctx, job_id};
    struct dsb_sb k = {0};
    const struct dsb_cached *v;
    json_t *doc = NULL;
    int hit = 0;

    dsb_cache_key_add(&k, DSB_VERIFY_KIND);
    dsb_cache_key_add(&k, job_id);
    dsb_cache_key_add(&k, etag);
    v = k.oom ? NULL
              : dsb_cache_get(c->gen->cache, DSB_CONTEXT_CACHE, dsb_sb_str(&k),
                              load_report, &l, &hit);
    dsb_sb_free(&k);
    if (!v)
        return dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
    if (!v->body)
        *err = v->err;
    else if ((doc = dsb_cached_doc(v)) != NULL)
        json_object_update(o, doc);
    else
        dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
    dsb_cache_release(c->gen->cache, v);
    json_decref(doc);
    return doc ? 0 : -1;
}

/* The newest verification of an earlier context, when there is one. */
static void add_previous(const struct dsb_ctx *c, json_t *o,
                         const char *session)
{
    json_t *prev = latest(c, session, NULL);

    if (prev)
        json_object_set_new(
            o, "previous",
            json_pack("{s:O, s:O, s:O}", "job_id", json_object_get(prev, "id"),
                      "context_etag",
                      json_object_get(json_object_get(prev, "purpose"),
                                      "context_etag"),
                      "job_state", json_object_get(prev, "state")));
    json_decref(prev);
}

int dsb_svc_verify_get(const struct dsb_ctx *c, const char *session,
                       json_t **out, struct dsb_error *err)
{
    json_t *ctx, *job = NULL, *o;
    char etag[24];
    int rc = 0;

    if (dsb_svc_session_access(c, session, DSB_SCOPE_JOBS, err) < 0 ||
        !(ctx = current_context(c, session, etag, err)))
        return -1;
    job = latest(c, session, etag);
    o = status(session, etag, job);
    if (!job)
        add_previous(c, o, session);
    else if (strcmp(state_of(job), "done") == 0)
        rc =
            add_report(c, o, ctx, json_string_value(json_object_get(job, "id")),
                       etag, err);
    json_decref(job);
    json_decref(ctx);
    if (rc < 0)
        json_decref(o);
    else
        *out = o;
    return rc;
}
