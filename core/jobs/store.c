/* The job store's calls, dispatched to its backend (store.h). */
#include "jobs/internal.h"

#include <stdlib.h>

#include "store.h"

int dsb_jstore_open(struct dsb_jobs *j, const char *path, struct dsb_error *err)
{
    struct dsb_store_conf c = {.db_path = path};

    return dsb_jstore_open_on(j, &dsb_store_sqlite, &c, err);
}

int dsb_jstore_open_on(struct dsb_jobs *j, const struct dsb_store_backend *b,
                       const struct dsb_store_conf *c, struct dsb_error *err)
{
    j->store_ops = b->jobs;
    j->store = j->store_ops->open(c, err);
    return j->store ? 0 : -1;
}

void dsb_jstore_close(struct dsb_jobs *j)
{
    if (j->store_ops && j->store)
        j->store_ops->close(j->store);
    j->store = NULL;
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
