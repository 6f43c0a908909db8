/* /v1/sessions...: sessions, selections and the Spark context. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

static void reply_store_error(struct dsb_req *r, const struct dsb_error *e)
{
    dsb_reply_error(r, e);
}

void dsb_h_session_create(struct dsb_req *r)
{
    char id[DSB_SESSION_ID_MAX + 1], loc[200];
    struct dsb_error err;

    if (dsb_sessions_create(r->srv->sessions, id, &err) < 0) {
        reply_store_error(r, &err);
        return;
    }
    snprintf(loc, sizeof(loc), "/v1/sessions/%s", id);
    dsb_reply_header(r, "Location", loc);
    dsb_reply_json(r, 201, json_pack("{s:s}", "id", id));
}

/* Drops the selections of sources the token may not use: a limited token
 * does not see them (the context and jobs of such a session are 403). */
static void hide_forbidden(struct dsb_req *r, json_t *items)
{
    for (size_t i = json_array_size(items); i-- > 0;)
        if (!dsb_req_may_use(r, json_string_value(json_object_get(
                json_array_get(items, i), "source"))))
            json_array_remove(items, i);
}

void dsb_h_session_get(struct dsb_req *r)
{
    struct dsb_error err;
    json_t *o = NULL;

    if (dsb_sessions_get(r->srv->sessions, r->params[0], &o, &err) < 0) {
        reply_store_error(r, &err);
        return;
    }
    hide_forbidden(r, json_object_get(o, "selections"));
    dsb_reply_json(r, 200, o);
}

void dsb_h_session_delete(struct dsb_req *r)
{
    struct dsb_error err;

    if (dsb_sessions_delete(r->srv->sessions, r->params[0], &err) < 0)
        reply_store_error(r, &err);
    else
        dsb_reply_empty(r, 204);
}

void dsb_h_selections_get(struct dsb_req *r)
{
    struct dsb_error err;
    json_t *items = NULL;

    if (dsb_sessions_selections(r->srv->sessions, r->params[0], &items,
                                &err) < 0) {
        reply_store_error(r, &err);
        return;
    }
    hide_forbidden(r, items);
    dsb_reply_json(r, 200, json_pack("{s:o}", "items", items));
}

/* Checks one selection: allowed, source known, table described. */
static int check_selection(struct dsb_req *r, const struct dsb_selection *sel)
{
    struct dsb_source *s = dsb_req_source(r, sel->source);
    struct dsb_data_req d = {.kind = DSB_K_DESCRIBE, .database =
                             sel->database, .schema = sel->schema, .table =
                             sel->table};
    const struct dsb_cached *v;
    int rc;

    if (!s)
        return -1;
    v = dsb_data_get(r, s, &d);
    rc = v && v->doc ? 0 : -1;
    if (rc < 0)
        dsb_reply_cached(r, v);
    if (v)
        dsb_cache_release(r->gen->cache, v);
    return rc;
}

int dsb_select_tables(struct dsb_req *r, const char *session,
                      const struct dsb_selection *sel, size_t n,
                      const char *const *replace, size_t n_replace,
                      json_t **stored)
{
    struct dsb_error err;

    for (size_t i = 0; i < n; i++)
        if (check_selection(r, &sel[i]) < 0)
            return -1;
    if (dsb_sessions_select(r->srv->sessions, session, sel, n, replace,
                            n_replace, stored, &err) < 0) {
        reply_store_error(r, &err);
        return -1;
    }
    return 0;
}

/* The flat schema of a source whose plugin has one level less. */
static const char *flat_schema(struct dsb_req *r, const char *source)
{
    struct dsb_source *s = dsb_broker_source(r->gen->broker, source);

    if (s && s->plugin && (s->plugin->vt.flags & DSB_SRC_FLAT_SCHEMA))
        return s->plugin->vt.flat_schema;
    return NULL;
}

static int parse_one(struct dsb_req *r, const json_t *o,
                     struct dsb_selection *sel, size_t i)
{
    char why[160];

    sel->source = json_string_value(json_object_get(o, "source"));
    sel->database = json_string_value(json_object_get(o, "database"));
    sel->schema = json_string_value(json_object_get(o, "schema"));
    sel->table = json_string_value(json_object_get(o, "table"));
    if (sel->source && !sel->schema)
        sel->schema = flat_schema(r, sel->source);
    if (json_is_object(o) && sel->source && sel->database && sel->schema &&
        sel->table && *sel->table && *sel->database)
        return 0;
    snprintf(why, sizeof(why), "selection %zu needs string members source, "
             "database, schema and table", i);
    dsb_reply_problem(r, 422, "invalid", "a selection is incomplete", why,
                      "schema may be left out only for sources without "
                      "schemas");
    return -1;
}

/* Parses a selection object or a list of them (borrowing from body). */
static struct dsb_selection *parse_selections(struct dsb_req *r,
                                              const json_t *body, size_t *n)
{
    const json_t *list = json_is_array(body) ? body : NULL, *o;
    struct dsb_selection *sel;
    size_t i;

    *n = list ? json_array_size(list) : 1;
    sel = calloc(*n + 1, sizeof(*sel));
    if (!sel) {
        dsb_reply_problem(r, 500, "internal", "out of memory", NULL, NULL);
        return NULL;
    }
    if (!list && parse_one(r, body, sel, 0) < 0)
        goto fail;
    json_array_foreach(list, i, o)
        if (parse_one(r, o, &sel[i], i) < 0)
            goto fail;
    if (*n > 0)
        return sel;
    dsb_reply_problem(r, 422, "invalid", "no selection given", NULL, NULL);
fail:
    free(sel);
    return NULL;
}

void dsb_h_selections_add(struct dsb_req *r)
{
    json_t *body = dsb_req_json(r), *stored = NULL;
    struct dsb_selection *sel = NULL;
    size_t n = 0;

    if (body)
        sel = parse_selections(r, body, &n);
    if (sel && dsb_select_tables(r, r->params[0], sel, n, NULL, 0,
                                 &stored) == 0)
        dsb_reply_json(r, 201, json_pack("{s:o}", "items", stored));
    free(sel);
    json_decref(body);
}

/* Whether selection id of the session is of a source the token may not
 * use (an unknown id or session is left to the store to report). */
static int selection_forbidden(struct dsb_req *r, long long id)
{
    struct dsb_error err;
    json_t *items = NULL, *o;
    size_t i;
    int no = 0;

    if (dsb_req_may_use_all(r, NULL) || /* unlimited: all allowed */
        dsb_sessions_selections(r->srv->sessions, r->params[0], &items,
                                &err) < 0)
        return 0;
    json_array_foreach(items, i, o)
        if (json_integer_value(json_object_get(o, "id")) == id)
            no = !dsb_req_may_use(r, json_string_value(json_object_get(
                o, "source")));
    json_decref(items);
    return no;
}

void dsb_h_selection_delete(struct dsb_req *r)
{
    const char *s = r->params[1];
    char *end = NULL;
    struct dsb_error err;
    long long id;

    errno = 0;
    id = strtoll(s, &end, 10);
    if (errno || end == s || *end || id <= 0) {
        dsb_reply_problem(r, 400, "invalid", "a selection id is a positive "
                          "integer", s, "GET the session's selections for "
                          "their ids");
        return;
    }
    if (selection_forbidden(r, id))
        dsb_reply_problem(r, 403, "forbidden", "this token may not use the "
                          "selection's source", s, NULL);
    else if (dsb_sessions_unselect(r->srv->sessions, r->params[0], id,
                                   &err) < 0)
        reply_store_error(r, &err);
    else
        dsb_reply_empty(r, 204);
}

/* ------------------------------------------------------------- context */

struct dsb_selection *dsb_stored_selections(struct dsb_req *r,
                                           const json_t *items, size_t *n)
{
    struct dsb_selection *sel = calloc(json_array_size(items) + 1,
                                       sizeof(*sel));
    const json_t *o;
    size_t i;

    *n = 0;
    json_array_foreach(items, i, o) {
        if (!sel)
            break;
        sel[i].source = json_string_value(json_object_get(o, "source"));
        sel[i].database = json_string_value(json_object_get(o, "database"));
        sel[i].schema = json_string_value(json_object_get(o, "schema"));
        sel[i].table = json_string_value(json_object_get(o, "table"));
        if (!dsb_req_may_use(r, sel[i].source)) {
            dsb_reply_problem(r, 403, "forbidden", "this token may not use a "
                              "source of the session", sel[i].source, NULL);
            free(sel);
            return NULL;
        }
        (*n)++;
    }
    if (!sel)
        dsb_reply_problem(r, 500, "internal", "out of memory", NULL, NULL);
    return sel;
}

/* A context is memoised in the metadata cache: its key holds the
 * selections, the executor asked for and the epoch of every source they
 * read, so a refresh, an expiry or a reload of any of them makes a new
 * key; it goes stale no later than the read specs it was built from. */
struct context_load {
    struct dsb_req *r;
    const struct dsb_selection *sel;
    size_t n;
    const char *exec;
    int64_t until;
};

static int load_context(void *ctx, json_t **out, struct dsb_error *err)
{
    struct context_load *c = ctx;
    struct dsb_context_opts o;
    int rc;

    dsb_data_context_opts(c->r, &o);
    c->r->specs_until = INT64_MAX;
    rc = dsb_context_build(c->r->gen->broker, c->sel, c->n, c->exec, &o, out,
                           err);
    c->until = c->r->specs_until;
    return rc;
}

static char *context_key(struct dsb_req *r, const struct dsb_selection *sel,
                         size_t n, const char *exec)
{
    size_t cap = 64 + (exec ? strlen(exec) + 24 : 0);
    char *key, epoch[24];
    int bad;

    for (size_t i = 0; i < n; i++)
        cap += strlen(sel[i].source) + strlen(sel[i].database) +
               (sel[i].schema ? strlen(sel[i].schema) : 0) +
               strlen(sel[i].table) + 5 * 24;
    if (!(key = malloc(cap)))
        return NULL;
    key[0] = '\0';
    bad = dsb_cache_key_add(key, cap, exec);
    for (size_t i = 0; i < n; i++) {
        snprintf(epoch, sizeof(epoch), "%llu", (unsigned long long)
                 dsb_cache_epoch(r->gen->cache, sel[i].source));
        bad |= dsb_cache_key_add(key, cap, sel[i].source) |
               dsb_cache_key_add(key, cap, sel[i].database) |
               dsb_cache_key_add(key, cap, sel[i].schema) |
               dsb_cache_key_add(key, cap, sel[i].table) |
               dsb_cache_key_add(key, cap, epoch);
    }
    if (bad) {
        free(key);
        return NULL;
    }
    return key;
}

static void reply_context(struct dsb_req *r, const struct dsb_cached *v,
                          int text)
{
    const char *p = v && v->doc
                        ? json_string_value(json_object_get(v->doc, "prompt"))
                        : NULL;

    if (text && p)
        dsb_reply_bytes(r, 200, "text/plain; charset=utf-8", p, strlen(p),
                        NULL);
    else
        dsb_reply_cached(r, v);
}

static void context_of(struct dsb_req *r, const struct dsb_selection *sel,
                       size_t n, const char *exec, int text)
{
    struct context_load c = {r, sel, n, exec, INT64_MAX};
    char *key = context_key(r, sel, n, exec);
    const struct dsb_cached *v = NULL;
    int hit = 0;

    if (key)
        v = dsb_cache_get_until(r->gen->cache, DSB_CONTEXT_CACHE, key,
                                load_context, &c, &hit, &c.until);
    free(key);
    if (v && (!r->cache_state || !hit))
        r->cache_state = hit ? "hit" : "miss";
    reply_context(r, v, text);
    dsb_cache_release(r->gen->cache, v);
}

void dsb_h_context(struct dsb_req *r)
{
    int bad = 0, text;
    char *exec = dsb_req_query(r, "executor", &bad);
    char *fmt = dsb_req_query(r, "format", &bad);
    struct dsb_selection *sel = NULL;
    struct dsb_error err;
    json_t *items = NULL;
    size_t n = 0;

    text = fmt && strcmp(fmt, "text") == 0;
    if (bad || (fmt && !text && strcmp(fmt, "json") != 0))
        dsb_reply_problem(r, 400, "invalid", "bad query parameter", "format "
                          "is json or text", NULL);
    else if (dsb_sessions_selections(r->srv->sessions, r->params[0], &items,
                                     &err) < 0)
        reply_store_error(r, &err);
    else if ((sel = dsb_stored_selections(r, items, &n)) != NULL)
        context_of(r, sel, n, exec, text);
    free(sel);
    json_decref(items);
    free(exec);
    free(fmt);
}
