/* Sessions and their selections, owned by the principal that made them. */
#include <stdlib.h>
#include <string.h>

#include "service/internal.h"

static int is_admin(const struct dsb_ctx *c)
{
    return (c->principal->scopes & DSB_SCOPE_ADMIN) != 0;
}

int dsb_svc_session_access(const struct dsb_ctx *c, const char *id,
                           unsigned scope, struct dsb_error *err)
{
    char owner[DSB_OWNER_MAX + 1];

    if (dsb_svc_require(c, scope, err) < 0 ||
        dsb_sessions_owner(c->svc->sessions, id, owner, err) < 0)
        return -1;
    if (is_admin(c) || strcmp(owner, c->principal->name) == 0)
        return 0;
    return dsb_svc_forbidden(err,
                             "the session belongs to another "
                             "principal",
                             id,
                             "use the token that created "
                             "the session, or an admin token");
}

int dsb_svc_session_create(const struct dsb_ctx *c,
                           char id[DSB_SESSION_ID_MAX + 1],
                           struct dsb_error *err)
{
    if (dsb_svc_require(c, DSB_SCOPE_SESSIONS, err) < 0)
        return -1;
    return dsb_sessions_create(c->svc->sessions, c->principal->name, id, err);
}

int dsb_svc_session_ensure(const struct dsb_ctx *c, const char *id,
                           struct dsb_error *err)
{
    if (dsb_svc_require(c, DSB_SCOPE_SESSIONS, err) < 0 ||
        dsb_sessions_ensure(c->svc->sessions, id, c->principal->name, err) < 0)
        return -1;
    return dsb_svc_session_access(c, id, DSB_SCOPE_SESSIONS, err);
}

/* Drops the selections of sources the principal may not use: a limited
 * token does not see them (the context and jobs of such a session are
 * refused). */
static void hide_forbidden(const struct dsb_ctx *c, json_t *items)
{
    for (size_t i = json_array_size(items); i-- > 0;)
        if (!dsb_principal_may_use(c->principal,
                                   json_string_value(json_object_get(
                                       json_array_get(items, i), "source"))))
            json_array_remove(items, i);
}

int dsb_svc_session_get(const struct dsb_ctx *c, const char *id, json_t **out,
                        struct dsb_error *err)
{
    if (dsb_svc_session_access(c, id, DSB_SCOPE_SESSIONS, err) < 0 ||
        dsb_sessions_get(c->svc->sessions, id, out, err) < 0)
        return -1;
    hide_forbidden(c, json_object_get(*out, "selections"));
    return 0;
}

int dsb_svc_sessions_list(const struct dsb_ctx *c, json_t **out,
                          struct dsb_error *err)
{
    if (dsb_svc_require(c, DSB_SCOPE_SESSIONS, err) < 0)
        return -1;
    return dsb_sessions_list(c->svc->sessions,
                             is_admin(c) ? NULL : c->principal->name, out, err);
}

int dsb_svc_session_delete(const struct dsb_ctx *c, const char *id,
                           struct dsb_error *err)
{
    if (dsb_svc_session_access(c, id, DSB_SCOPE_SESSIONS, err) < 0)
        return -1;
    return dsb_sessions_delete(c->svc->sessions, id, err);
}

int dsb_svc_selections(const struct dsb_ctx *c, const char *id, json_t **out,
                       struct dsb_error *err)
{
    json_t *items = NULL;

    if (dsb_svc_session_access(c, id, DSB_SCOPE_SESSIONS, err) < 0 ||
        dsb_sessions_selections(c->svc->sessions, id, &items, err) < 0)
        return -1;
    hide_forbidden(c, items);
    *out = json_pack("{s:o}", "items", items);
    return 0;
}

int dsb_svc_select(const struct dsb_ctx *c, const char *id,
                   const struct dsb_selection *sel, size_t n,
                   const char *const *replace, size_t n_replace,
                   json_t **stored, struct dsb_error *err)
{
    if (dsb_svc_session_access(c, id, DSB_SCOPE_SESSIONS, err) < 0 ||
        dsb_svc_describe_many(c, sel, n, 0, err) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        json_t *t = dsb_svc_described(c, &sel[i], err);
        if (!t)
            return -1;
        json_decref(t);
    }
    return dsb_sessions_select(c->svc->sessions, id, sel, n, replace, n_replace,
                               stored, err);
}

/* Whether selection id of the session is of a source the principal may
 * not use (an unknown id is left to the store to report). */
static int selection_forbidden(const struct dsb_ctx *c, const char *id,
                               int64_t sel_id)
{
    struct dsb_error err;
    json_t *items = NULL, *o;
    size_t i;
    int no = 0;

    if (!c->principal->sources ||
        dsb_sessions_selections(c->svc->sessions, id, &items, &err) < 0)
        return 0;
    json_array_foreach(
        items, i, o) if (json_integer_value(json_object_get(o, "id")) == sel_id)
        no = !dsb_principal_may_use(
            c->principal, json_string_value(json_object_get(o, "source")));
    json_decref(items);
    return no;
}

int dsb_svc_unselect(const struct dsb_ctx *c, const char *id,
                     int64_t selection_id, struct dsb_error *err)
{
    if (dsb_svc_session_access(c, id, DSB_SCOPE_SESSIONS, err) < 0)
        return -1;
    if (selection_forbidden(c, id, selection_id))
        return dsb_svc_forbidden(err,
                                 "this token may not use the "
                                 "selection's source",
                                 NULL, NULL);
    return dsb_sessions_unselect(c->svc->sessions, id, selection_id, err);
}

struct dsb_selection *dsb_svc_stored(const struct dsb_ctx *c, const char *id,
                                     json_t **items, size_t *n,
                                     struct dsb_error *err)
{
    struct dsb_selection *sel;
    const json_t *o;
    size_t i;

    *n = 0;
    *items = NULL;
    if (dsb_sessions_selections(c->svc->sessions, id, items, err) < 0)
        return NULL;
    sel = calloc(json_array_size(*items) + 1, sizeof(*sel));
    if (!sel) {
        dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
        return NULL;
    }
    json_array_foreach(*items, i, o)
    {
        sel[i].source = json_string_value(json_object_get(o, "source"));
        sel[i].database = json_string_value(json_object_get(o, "database"));
        sel[i].schema = json_string_value(json_object_get(o, "schema"));
        sel[i].table = json_string_value(json_object_get(o, "table"));
        if (!dsb_principal_may_use(c->principal, sel[i].source)) {
            dsb_svc_forbidden(err,
                              "this token may not use a source of the "
                              "session",
                              sel[i].source, NULL);
            free(sel);
            return NULL;
        }
        (*n)++;
    }
    return sel;
}
