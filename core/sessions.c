/* The session store's calls, dispatched to its backend (store.h): ids are
 * checked and made here, the rest is the backend's. */
#include "sessions.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "util.h"

struct dsb_sessions {
    const struct dsb_sessions_ops *ops;
    void *h; /* the backend's handle */
};

struct dsb_sessions *dsb_sessions_open(const char *state_dir,
                                       struct dsb_error *err)
{
    struct dsb_store_conf c = {.state_dir = state_dir};

    return dsb_sessions_open_on(&dsb_store_sqlite, &c, err);
}

struct dsb_sessions *dsb_sessions_open_on(const struct dsb_store_backend *b,
                                          const struct dsb_store_conf *c,
                                          struct dsb_error *err)
{
    struct dsb_sessions *s = calloc(1, sizeof(*s));

    if (!s) {
        dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
        return NULL;
    }
    s->ops = b->sessions;
    if (!(s->h = s->ops->open(c, err))) {
        free(s);
        return NULL;
    }
    return s;
}

void dsb_sessions_close(struct dsb_sessions *s)
{
    if (!s)
        return;
    s->ops->close(s->h);
    free(s);
}

static int check_id(const char *id, struct dsb_error *err)
{
    size_t n = id ? strlen(id) : 0;

    if (n == 0 || n > DSB_SESSION_ID_MAX)
        return dsb_error_set(err, DSB_E_INVALID,
                             "a session id must hold 1 to %d bytes",
                             DSB_SESSION_ID_MAX);
    return 0;
}

int dsb_sessions_create(struct dsb_sessions *s, const char *owner,
                        char id[DSB_SESSION_ID_MAX + 1], struct dsb_error *err)
{
    if (dsb_random_hex(id, 16) < 0)
        return dsb_error_set(err, DSB_E_INTERNAL, "no randomness: %s",
                             strerror(errno));
    return s->ops->insert(s->h, id, owner, err);
}

int dsb_sessions_ensure(struct dsb_sessions *s, const char *id,
                        const char *owner, struct dsb_error *err)
{
    if (check_id(id, err) < 0)
        return -1;
    return s->ops->insert(s->h, id, owner, err);
}

int dsb_sessions_owner(struct dsb_sessions *s, const char *id,
                       char owner[DSB_OWNER_MAX + 1], struct dsb_error *err)
{
    owner[0] = '\0';
    if (check_id(id, err) < 0)
        return -1;
    return s->ops->owner(s->h, id, owner, err);
}

int dsb_sessions_list(struct dsb_sessions *s, const char *owner, json_t **out,
                      struct dsb_error *err)
{
    return s->ops->list(s->h, owner, out, err);
}

int dsb_sessions_get(struct dsb_sessions *s, const char *id, json_t **out,
                     struct dsb_error *err)
{
    *out = NULL;
    if (check_id(id, err) < 0)
        return -1;
    return s->ops->get(s->h, id, out, err);
}

int dsb_sessions_delete(struct dsb_sessions *s, const char *id,
                        struct dsb_error *err)
{
    if (check_id(id, err) < 0)
        return -1;
    return s->ops->remove(s->h, id, err);
}

int dsb_sessions_select(struct dsb_sessions *s, const char *id,
                        const struct dsb_selection *sel, size_t n,
                        const char *const *replace_sources, size_t n_replace,
                        json_t **added, struct dsb_error *err)
{
    if (check_id(id, err) < 0)
        return -1;
    return s->ops->select(s->h, id, sel, n, replace_sources, n_replace, added,
                          err);
}

int dsb_sessions_unselect(struct dsb_sessions *s, const char *id,
                          int64_t selection_id, struct dsb_error *err)
{
    if (check_id(id, err) < 0)
        return -1;
    return s->ops->unselect(s->h, id, selection_id, err);
}

int dsb_sessions_selections(struct dsb_sessions *s, const char *id,
                            json_t **out, struct dsb_error *err)
{
    if (check_id(id, err) < 0)
        return -1;
    return s->ops->selections(s->h, id, out, err);
}

void dsb_sessions_set_idle_expiry(struct dsb_sessions *s, int64_t idle_ms)
{
    s->ops->set_idle_expiry(s->h, idle_ms);
}

long dsb_sessions_expire(struct dsb_sessions *s, int64_t idle_ms)
{
    return s->ops->expire(s->h, idle_ms);
}

int dsb_sessions_writable(struct dsb_sessions *s)
{
    return s->ops->writable(s->h);
}

json_t *dsb_sessions_matching(json_t *all, const struct dsb_selection *sel,
                              size_t n)
{
    json_t *out = json_array(), *row;
    size_t i;

    json_array_foreach(all, i, row)
    {
        for (size_t k = 0; k < n; k++) {
            const char *v[] = {sel[k].source, sel[k].database, sel[k].schema,
                               sel[k].table};
            const char *keys[] = {"source", "database", "schema", "table"};
            int same = 1;
            for (int f = 0; f < 4; f++)
                same &= strcmp(json_string_value(json_object_get(row, keys[f])),
                               v[f]) == 0;
            if (same) {
                json_array_append(out, row);
                break;
            }
        }
    }
    return out;
}
