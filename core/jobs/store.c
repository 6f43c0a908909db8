/* The job store's calls, dispatched to its backend (store.h). */
#include "jobs/internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "replica.h"
#include "store.h"
#include "util.h"

int dsb_jstore_open(struct dsb_jobs *j, const char *path, struct dsb_error *err)
{
    struct dsb_store_conf c = {.db_path = path};

    return dsb_jstore_open_on(j, &dsb_store_sqlite, &c, err);
}

/* A replica id for a store that was given none: a new one each time, so
 * the stores one process opens (tests, the jobs of one test binary) are
 * distinct replicas. */
static char *default_replica(struct dsb_error *err)
{
    char *id = malloc(DSB_REPLICA_ID_MAX);

    if (!id) {
        dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
        return NULL;
    }
    if (dsb_replica_new_id(id, DSB_REPLICA_ID_MAX) < 0) {
        dsb_error_set(err, DSB_E_INTERNAL, "no randomness: %s",
                      strerror(errno));
        free(id);
        return NULL;
    }
    return id;
}

int dsb_jstore_open_on(struct dsb_jobs *j, const struct dsb_store_backend *b,
                       const struct dsb_store_conf *c, struct dsb_error *err)
{
    struct dsb_store_conf own = *c;

    free(j->replica);
    j->replica = c->replica_id ? strdup(c->replica_id) : default_replica(err);
    if (!j->replica) {
        if (c->replica_id)
            dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
        return -1;
    }
    j->lease_ms = c->lease_ms > 0 ? c->lease_ms : DSB_LEASE_DEFAULT_MS;
    own.replica_id = j->replica;
    own.lease_ms = j->lease_ms;
    j->store_ops = b->jobs;
    j->store = j->store_ops->open(&own, err);
    if (j->store)
        return 0;
    free(j->replica);
    j->replica = NULL;
    return -1;
}

void dsb_jstore_show(json_t *doc, const char *owner, int cancel_req)
{
    if (!doc)
        return;
    if (owner)
        json_object_set_new(doc, "replica", json_string(owner));
    else
        json_object_del(doc, "replica");
    if (cancel_req)
        json_object_set_new(doc, "cancel_requested", json_true());
    else
        json_object_del(doc, "cancel_requested");
}

const char *dsb_jstore_replica(struct dsb_jobs *j)
{
    return j->replica;
}

int dsb_jstore_claim(struct dsb_jobs *j, int at_start, json_t **out,
                     struct dsb_error *err)
{
    return j->store_ops->claim(j->store, at_start, out, err);
}

void dsb_jstore_release(struct dsb_jobs *j)
{
    j->store_ops->release(j->store);
}

int dsb_jstore_request_cancel(struct dsb_jobs *j, const char *id,
                              struct dsb_error *err)
{
    return j->store_ops->request_cancel(j->store, id, err);
}

void dsb_jstore_close(struct dsb_jobs *j)
{
    if (j->store_ops && j->store)
        j->store_ops->close(j->store);
    j->store = NULL;
    free(j->replica);
    j->replica = NULL;
}

int dsb_jstore_put(struct dsb_jobs *j, const json_t *doc, struct dsb_error *err)
{
    return j->store_ops->put(j->store, doc, err);
}

json_t *dsb_jstore_get(struct dsb_jobs *j, const char *id)
{
    return j->store_ops->get(j->store, id);
}

json_t *dsb_jstore_list(struct dsb_jobs *j, const char *session_id)
{
    return j->store_ops->list(j->store, session_id);
}

struct dsb_jactive *dsb_jstore_active(struct dsb_jobs *j, size_t *n)
{
    return j->store_ops->active(j->store, n);
}

void dsb_jactive_free(struct dsb_jactive *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++) {
        free(v[i].id);
        free(v[i].executor);
        free(v[i].principal);
    }
    free(v);
}

int dsb_jstore_enqueue(struct dsb_jobs *j, const json_t *doc, const char *code,
                       const char *entry_point, struct dsb_error *err)
{
    return j->store_ops->enqueue(j->store, doc, code, entry_point, err);
}

int dsb_jstore_dequeue(struct dsb_jobs *j, const json_t *doc, char **code,
                       char **entry_point, struct dsb_error *err)
{
    return j->store_ops->dequeue(j->store, doc, code, entry_point, err);
}

int dsb_jstore_is_queued(struct dsb_jobs *j, const char *id)
{
    return j->store_ops->is_queued(j->store, id);
}

int dsb_jstore_any_queued(struct dsb_jobs *j)
{
    return j->store_ops->any_queued(j->store);
}

int dsb_jstore_shared(struct dsb_jobs *j)
{
    return j->store_ops->admission_begin != NULL;
}

int dsb_jstore_admission_begin(struct dsb_jobs *j, struct dsb_error *err)
{
    return j->store_ops->admission_begin
               ? j->store_ops->admission_begin(j->store, err)
               : 0;
}

int dsb_jstore_admission_end(struct dsb_jobs *j, int commit,
                             struct dsb_error *err)
{
    return j->store_ops->admission_end
               ? j->store_ops->admission_end(j->store, commit, err)
               : (commit ? 0 : -1);
}
