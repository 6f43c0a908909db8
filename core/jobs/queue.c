/* Limits and the queue: running and queued jobs counted per executor and
 * per principal, the admission of a new job and the choice of the queued
 * job to start next (docs/jobs.md, "Limits and the queue").  Every
 * function runs under j->mu. */
#include "jobs/internal.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* The active jobs as the limits see them: the store's, with the jobs
 * being started counted as running. */
struct load {
    struct dsb_jactive *v;
    size_t n;
};

static struct dsb_job_starting *starting_find(struct dsb_jobs *j,
                                              const char *id)
{
    for (struct dsb_job_starting *s = j->starting; s; s = s->next)
        if (strcmp(s->id, id) == 0)
            return s;
    return NULL;
}

/* Appends the jobs being started (their stored rows were dropped). */
static int add_starting(struct dsb_jobs *j, struct load *l)
{
    for (struct dsb_job_starting *s = j->starting; s; s = s->next) {
        struct dsb_jactive *nv = realloc(l->v, (l->n + 1) * sizeof(*nv));
        if (!nv)
            return -1;
        l->v = nv;
        nv[l->n++] = (struct dsb_jactive){strdup(s->id), strdup(s->executor),
                                          strdup(s->principal), 0};
        if (!nv[l->n - 1].id || !nv[l->n - 1].executor ||
            !nv[l->n - 1].principal)
            return -1;
    }
    return 0;
}

static int load_open(struct dsb_jobs *j, struct load *l)
{
    size_t k = 0;

    l->v = dsb_jstore_active(j, &l->n);
    if (l->n == (size_t)-1) {
        l->n = 0;
        return -1;
    }
    for (size_t i = 0; i < l->n; i++) {
        if (starting_find(j, l->v[i].id)) {
            free(l->v[i].id);
            free(l->v[i].executor);
            free(l->v[i].principal);
        } else {
            l->v[k++] = l->v[i];
        }
    }
    l->n = k;
    return add_starting(j, l);
}

static void load_close(struct load *l)
{
    dsb_jactive_free(l->v, l->n);
}

/* Jobs of executor and principal (NULL: any) that are queued or not. */
static long count(const struct load *l, const char *executor,
                  const char *principal, int queued)
{
    long n = 0;

    for (size_t i = 0; i < l->n; i++)
        n += (!executor || strcmp(l->v[i].executor, executor) == 0) &&
             (!principal || strcmp(l->v[i].principal, principal) == 0) &&
             (l->v[i].queue_seq != 0) == queued;
    return n;
}

/* A limit of 0 is none (a type without the option, settings not bound). */
static long or_none(long limit)
{
    return limit > 0 ? limit : LONG_MAX;
}

static long principal_max(const struct dsb_jobs *j)
{
    return or_none(j->o.cfg ? j->o.cfg->settings.jobs_max_running_per_principal
                            : 0);
}

/* The queued job of l to start next on e, or -1: among e's queued jobs
 * whose principal runs fewer than its limit, the one whose principal runs
 * fewest jobs, the first queued among equals. */
static long pick(const struct load *l, const struct dsb_jobs *j,
                 const struct dsb_executor_conf *e)
{
    long best = -1, best_running = LONG_MAX;

    if (count(l, e->name, NULL, 0) >= or_none(e->limits.max_running))
        return -1;
    for (size_t i = 0; i < l->n; i++) {
        long running;
        if (!l->v[i].queue_seq || strcmp(l->v[i].executor, e->name) != 0)
            continue;
        running = count(l, NULL, l->v[i].principal, 0);
        if (running < principal_max(j) && running < best_running) {
            best = (long)i;
            best_running = running;
        }
    }
    return best;
}

char *dsb_jobs_next_queued(struct dsb_jobs *j,
                           const struct dsb_executor_conf *e)
{
    struct load l;
    long i;
    char *id = NULL;

    if (load_open(j, &l) == 0 && (i = pick(&l, j, e)) >= 0)
        id = strdup(l.v[i].id);
    load_close(&l);
    return id;
}

/* Why a job of principal p waits on e (into doc's "queue_reason"). */
static void queue_reason(const struct load *l, const struct dsb_jobs *j,
                         const struct dsb_executor_conf *e, const char *p,
                         json_t *doc)
{
    char why[256];
    long on_e = count(l, e->name, NULL, 0), of_p = count(l, NULL, p, 0);

    if (on_e >= or_none(e->limits.max_running))
        snprintf(why, sizeof(why),
                 "executor \"%s\" runs %ld jobs (max_running_jobs %ld)",
                 e->name, on_e, e->limits.max_running);
    else if (of_p >= principal_max(j))
        snprintf(
            why, sizeof(why),
            "principal \"%s\" runs %ld jobs (jobs.max_running_per_principal %ld)",
            p, of_p, j->o.cfg->settings.jobs_max_running_per_principal);
    else
        snprintf(why, sizeof(why),
                 "jobs queued before it on executor \"%s\" start first",
                 e->name);
    json_object_set_new(doc, "queued", json_true());
    json_object_set_new(doc, "queue_reason", json_string(why));
}

/* The 429 of a full queue (the executor's, else the principal's): the
 * message names the limits, the hint how to raise them. */
static int refuse(const struct load *l, const struct dsb_jobs *j,
                  const struct dsb_executor_conf *e, const char *p,
                  struct dsb_error *err)
{
    const struct dsb_settings *s = &j->o.cfg->settings;

    if (count(l, e->name, NULL, 1) >= e->limits.max_queued) {
        dsb_error_set(
            err, DSB_E_THROTTLED,
            "executor \"%s\" has %ld running and %ld queued jobs: its limits (max_running_jobs %ld, max_queued_jobs %ld)",
            e->name, count(l, e->name, NULL, 0), count(l, e->name, NULL, 1),
            e->limits.max_running, e->limits.max_queued);
        dsb_error_hint(
            err,
            "submit again when a job has ended (Retry-After), cancel a queued job, or raise max_queued_jobs or max_running_jobs of executor \"%s\" in broker.yaml",
            e->name);
    } else {
        dsb_error_set(
            err, DSB_E_THROTTLED,
            "principal \"%s\" has %ld running and %ld queued jobs: its limits (jobs.max_running_per_principal %ld, jobs.max_queued_per_principal %ld)",
            p, count(l, NULL, p, 0), count(l, NULL, p, 1),
            s->jobs_max_running_per_principal,
            s->jobs_max_queued_per_principal);
        dsb_error_hint(
            err,
            "submit again when one of its jobs has ended (Retry-After), cancel one of its queued jobs, or raise jobs.max_queued_per_principal or jobs.max_running_per_principal in broker.yaml");
    }
    snprintf(err->upstream, sizeof(err->upstream), "%s",
             DSB_JOBS_LIMIT_UPSTREAM);
    err->retryable = 1;
    return -1;
}

/* Whether principal p may queue one more job on e. */
static int may_queue(const struct load *l, const struct dsb_jobs *j,
                     const struct dsb_executor_conf *e, const char *p)
{
    long p_max =
        j->o.cfg ? j->o.cfg->settings.jobs_max_queued_per_principal : LONG_MAX;

    return count(l, e->name, NULL, 1) < e->limits.max_queued &&
           count(l, NULL, p, 1) < p_max;
}

int dsb_jobs_admit(struct dsb_jobs *j, const struct dsb_executor_conf *e,
                   json_t *doc, struct dsb_error *err)
{
    const char *p = dsb_job_str(doc, "principal", NULL);
    struct load l;
    int rc;

    if (load_open(j, &l) < 0) {
        load_close(&l);
        return dsb_error_set(err, DSB_E_INTERNAL,
                             "cannot count the active jobs");
    }
    if (count(&l, e->name, NULL, 0) < or_none(e->limits.max_running) &&
        count(&l, NULL, p, 0) < principal_max(j) && pick(&l, j, e) < 0)
        rc = DSB_ADMIT_START;
    else if (may_queue(&l, j, e, p))
        rc = DSB_ADMIT_QUEUE;
    else
        rc = refuse(&l, j, e, p, err);
    if (rc == DSB_ADMIT_QUEUE)
        queue_reason(&l, j, e, p, doc);
    load_close(&l);
    return rc;
}

int dsb_jobs_starting(struct dsb_jobs *j, const char *id, const char *executor,
                      const char *principal)
{
    struct dsb_job_starting *s = calloc(1, sizeof(*s));

    if (!s || !(s->id = strdup(id)) || !(s->executor = strdup(executor)) ||
        !(s->principal = strdup(principal))) {
        if (s) {
            free(s->id);
            free(s->executor);
        }
        free(s);
        return -1;
    }
    s->next = j->starting;
    j->starting = s;
    return 0;
}

int dsb_jobs_starting_cancel(struct dsb_jobs *j, const char *id)
{
    struct dsb_job_starting *s = starting_find(j, id);

    if (s)
        s->cancel = 1;
    return s != NULL;
}

int dsb_jobs_started(struct dsb_jobs *j, const char *id)
{
    for (struct dsb_job_starting **pp = &j->starting; *pp; pp = &(*pp)->next)
        if (strcmp((*pp)->id, id) == 0) {
            struct dsb_job_starting *s = *pp;
            int cancel = s->cancel;
            *pp = s->next;
            free(s->id);
            free(s->executor);
            free(s->principal);
            free(s);
            return cancel;
        }
    return 0;
}
