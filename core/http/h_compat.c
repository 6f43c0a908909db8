/*
 * The original backend's routes with its response shapes, so its React
 * frontend works unchanged.  Sources of plugin "postgres" are its
 * "connections"; the Glue routes use the sources of plugin "glue".  Errors
 * are problem+json with real statuses, plus the old "success": false and
 * "error" members.
 */
#include <stdlib.h>
#include <string.h>

#include "http.h"

#define MAX_PAGES 1000

/* Every page of a listing, items appended to *items (new array). */
static int collect_all(struct dsb_req *r, struct dsb_source *s,
                       struct dsb_data_req *d, json_t **items,
                       const struct dsb_cached **failed)
{
    char *token = NULL;
    int rc = 0;

    *items = json_array();
    for (int page = 0; page < MAX_PAGES; page++) {
        const struct dsb_cached *v = dsb_data_get(r, s, d);
        const char *next;
        if (!v || !v->doc) {
            *failed = v;
            rc = -1;
            break;
        }
        json_array_extend(*items, json_object_get(v->doc, "items"));
        next = json_string_value(json_object_get(v->doc, "next_page_token"));
        free(token);
        token = next ? strdup(next) : NULL;
        dsb_cache_release(r->gen->cache, v);
        if (!token)
            break;
        d->page_token = token;
    }
    free(token);
    d->page_token = NULL;
    return rc;
}

static void reply_failed(struct dsb_req *r, const struct dsb_cached *v)
{
    dsb_reply_cached(r, v);
    if (v)
        dsb_cache_release(r->gen->cache, v);
}

static json_t *names_of(const json_t *items)
{
    json_t *out = json_array();
    const json_t *it;
    size_t i;

    json_array_foreach(items, i, it)
        json_array_append(out, json_object_get(it, "name"));
    return out;
}

/* The source `name` if it uses `plugin` (404 otherwise, as the original's
 * "Connection not found"). */
static struct dsb_source *plugin_source(struct dsb_req *r, const char *name,
                                        const char *plugin)
{
    struct dsb_source *s = dsb_broker_source(r->gen->broker, name);

    r->compat = 1;
    if (s && strcmp(s->conf->plugin, plugin) != 0)
        s = NULL;
    if (!s) {
        dsb_reply_problem(r, 404, "not_found", "connection not found", name,
                          "GET /postgres/connections lists them");
        return NULL;
    }
    return dsb_req_source(r, name);
}

static void list_names(struct dsb_req *r, struct dsb_source *s,
                       struct dsb_data_req *d, const char *member)
{
    const struct dsb_cached *failed = NULL;
    json_t *items = NULL;

    if (collect_all(r, s, d, &items, &failed) < 0)
        reply_failed(r, failed);
    else
        dsb_reply_json(r, 200, json_pack("{s:b, s:o}", "success", 1, member,
                                         names_of(items)));
    json_decref(items);
}

/* ------------------------------------------------------------ postgres */

void dsb_h_compat_pg_connections(struct dsb_req *r)
{
    struct dsb_broker *b = r->gen->broker;
    json_t *list = json_array();

    for (size_t i = 0; i < b->n_sources; i++) {
        const struct dsb_source *s = &b->sources[i];
        if (strcmp(s->conf->plugin, "postgres") != 0 || !s->conf->enabled ||
            !dsb_req_may_use(r, s->conf->name))
            continue;
        json_array_append_new(list, json_pack("{s:s, s:s, s:b}", "name",
                              s->conf->name, "description",
                              s->conf->description ? s->conf->description : "",
                              "enabled", s->state == DSB_SOURCE_OPEN));
    }
    dsb_reply_json(r, 200, json_pack("{s:b, s:o}", "success", 1,
                                     "connections", list));
}

void dsb_h_compat_pg_databases(struct dsb_req *r)
{
    struct dsb_source *s = plugin_source(r, r->params[0], "postgres");
    struct dsb_data_req d = {.kind = DSB_K_DATABASES};

    if (s)
        list_names(r, s, &d, "databases");
}

void dsb_h_compat_pg_schemas(struct dsb_req *r)
{
    struct dsb_source *s = plugin_source(r, r->params[0], "postgres");
    struct dsb_data_req d = {.kind = DSB_K_SCHEMAS, .database = r->params[1]};

    if (s)
        list_names(r, s, &d, "schemas");
}

/* {"name", "type", "nullable"} per column (all of them). */
static json_t *compat_columns(const json_t *table, int nullable)
{
    json_t *out = json_array();
    const json_t *c;
    size_t i;

    json_array_foreach(json_object_get(table, "columns"), i, c) {
        json_t *o = json_pack("{s:O, s:O}", "name", json_object_get(c, "name"),
                              "type", json_object_get(c, "source_type"));
        if (nullable)
            json_object_set(o, "nullable", json_object_get(c, "nullable"));
        json_array_append_new(out, o);
    }
    return out;
}

void dsb_h_compat_pg_tables(struct dsb_req *r)
{
    struct dsb_source *s = plugin_source(r, r->params[0], "postgres");
    struct dsb_data_req d = {.kind = DSB_K_TABLES, .database = r->params[1],
                             .schema = r->params[2]};
    const struct dsb_cached *failed = NULL;
    json_t *items = NULL, *out, *t;
    size_t i;

    if (!s)
        return;
    if (collect_all(r, s, &d, &items, &failed) < 0) {
        reply_failed(r, failed);
        json_decref(items);
        return;
    }
    out = json_array();
    json_array_foreach(items, i, t)
        json_array_append_new(out, json_pack("{s:O, s:s, s:o}", "name",
                              json_object_get(t, "name"), "schema",
                              r->params[2], "columns",
                              compat_columns(t, 1)));
    json_decref(items);
    dsb_reply_json(r, 200, json_pack("{s:b, s:o}", "success", 1, "tables",
                                     out));
}

/* Names of the usable sources of a plugin (borrowed; malloc'd array). */
static const char **sources_of(struct dsb_req *r, const char *plugin,
                               size_t *n)
{
    struct dsb_broker *b = r->gen->broker;
    const char **out = calloc(b->n_sources + 1, sizeof(*out));

    *n = 0;
    for (size_t i = 0; out && i < b->n_sources; i++)
        if (strcmp(b->sources[i].conf->plugin, plugin) == 0 &&
            dsb_req_may_use(r, b->sources[i].conf->name))
            out[(*n)++] = b->sources[i].conf->name;
    return out;
}

/* The described table of a selection (cached by dsb_select_tables). */
static json_t *described(struct dsb_req *r, const struct dsb_selection *sel)
{
    struct dsb_data_req d = {.kind = DSB_K_DESCRIBE, .database =
                             sel->database, .schema = sel->schema, .table =
                             sel->table};
    struct dsb_source *s = dsb_broker_source(r->gen->broker, sel->source);
    const struct dsb_cached *v = s ? dsb_data_get(r, s, &d) : NULL;
    json_t *t = v && v->doc ? json_incref(v->doc) : NULL;

    if (v)
        dsb_cache_release(r->gen->cache, v);
    return t;
}

static struct dsb_selection *body_tables(struct dsb_req *r, const json_t *body,
                                         size_t *n)
{
    const json_t *tables = json_object_get(body, "tables");
    struct dsb_selection *sel = calloc(json_array_size(tables) + 1,
                                       sizeof(*sel));

    *n = json_array_size(tables);
    if (!sel || !json_is_array(tables)) {
        dsb_reply_problem(r, 422, "invalid", "the body needs a \"tables\" "
                          "list", NULL, NULL);
        free(sel);
        return NULL;
    }
    for (size_t i = 0; i < *n; i++) {
        const json_t *t = json_array_get(tables, i);
        sel[i].database = json_string_value(json_object_get(t, "database"));
        sel[i].schema = json_string_value(json_object_get(t, "schema"));
        sel[i].table = json_string_value(json_object_get(t, "table"));
    }
    return sel;
}

static int incomplete(struct dsb_req *r, const struct dsb_selection *sel,
                      size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!sel[i].source || !sel[i].database || !sel[i].schema ||
            !sel[i].table) {
            dsb_reply_problem(r, 422, "invalid", "a table entry is "
                              "incomplete", "each needs string members "
                              "database, table (and schema for postgres)",
                              NULL);
            return 1;
        }
    return 0;
}

static void reply_selected(struct dsb_req *r, const struct dsb_selection *sel,
                           size_t n, int pg)
{
    json_t *out = json_array();

    for (size_t i = 0; i < n; i++) {
        json_t *t = described(r, &sel[i]);
        json_t *o = json_pack("{s:s, s:s, s:o}", "database", sel[i].database,
                              "table", sel[i].table, "columns",
                              compat_columns(t, pg));
        if (pg) {
            json_object_set_new(o, "connection_name",
                                json_string(sel[i].source));
            json_object_set_new(o, "schema", json_string(sel[i].schema));
        } else {
            json_object_set_new(o, "source", json_string(sel[i].source));
            json_object_set(o, "location", json_object_get(t, "location")
                            ? json_object_get(t, "location")
                            : json_string_nocheck(""));
        }
        json_decref(t);
        json_array_append_new(out, o);
    }
    dsb_reply_json(r, 200, json_pack("{s:b, s:o}", "success", 1,
                                     "selected_tables", out));
}

static void select_common(struct dsb_req *r, struct dsb_selection *sel,
                          size_t n, const char *plugin)
{
    size_t n_src = 0;
    const char **srcs = sources_of(r, plugin, &n_src);
    struct dsb_error err;

    if (!incomplete(r, sel, n) &&
        dsb_sessions_ensure(r->srv->sessions, r->params[0], &err) < 0)
        dsb_reply_error(r, &err);
    else if (!r->responded &&
             dsb_select_tables(r, r->params[0], sel, n, srcs, n_src,
                               NULL) == 0)
        reply_selected(r, sel, n, strcmp(plugin, "postgres") == 0);
    free(srcs);
}

void dsb_h_compat_pg_select(struct dsb_req *r)
{
    json_t *body;
    struct dsb_selection *sel = NULL;
    const char *conn;
    size_t n = 0;

    r->compat = 1;
    body = dsb_req_json(r);
    if (!body)
        return;
    conn = json_string_value(json_object_get(body, "connection_name"));
    if (!conn)
        dsb_reply_problem(r, 422, "invalid", "the body needs "
                          "\"connection_name\"", NULL, NULL);
    else if (plugin_source(r, conn, "postgres") &&
             (sel = body_tables(r, body, &n)) != NULL) {
        for (size_t i = 0; i < n; i++)
            sel[i].source = conn;
        select_common(r, sel, n, "postgres");
    }
    free(sel);
    json_decref(body);
}

/* --------------------------------------------------------------- glue */

static const char *schema_of(struct dsb_req *r, const char *source)
{
    struct dsb_source *s = dsb_broker_source(r->gen->broker, source);

    return s && s->plugin && s->plugin->vt.flat_schema
        ? s->plugin->vt.flat_schema : "default";
}

void dsb_h_compat_glue_databases(struct dsb_req *r)
{
    size_t n = 0;
    const char **srcs = sources_of(r, "glue", &n);
    json_t *names = json_array(), *seen = json_object(), *items, *it;
    const struct dsb_cached *failed = NULL;

    r->compat = 1;
    for (size_t i = 0; srcs && i < n && !failed; i++) {
        struct dsb_data_req d = {.kind = DSB_K_DATABASES};
        size_t k;
        if (collect_all(r, dsb_broker_source(r->gen->broker, srcs[i]), &d,
                        &items, &failed) == 0)
            json_array_foreach(items, k, it)
                if (!json_object_get(seen, json_string_value(
                        json_object_get(it, "name"))) &&
                    json_object_set_new(seen, json_string_value(
                        json_object_get(it, "name")), json_true()) == 0)
                    json_array_append(names, json_object_get(it, "name"));
        json_decref(items);
    }
    if (failed)
        reply_failed(r, failed);
    else
        dsb_reply_json(r, 200, json_pack("{s:b, s:O}", "success", 1,
                                         "databases", names));
    json_decref(names);
    json_decref(seen);
    free(srcs);
}

static json_t *glue_table(const json_t *t)
{
    const json_t *loc = json_object_get(t, "location");

    return json_pack("{s:O, s:O, s:o}", "name", json_object_get(t, "name"),
                     "location", loc ? loc : json_string_nocheck(""),
                     "columns", compat_columns(t, 0));
}

void dsb_h_compat_glue_tables(struct dsb_req *r)
{
    size_t n = 0;
    const char **srcs = sources_of(r, "glue", &n);
    const struct dsb_cached *failed = NULL;
    json_t *items = NULL, *out = NULL, *t;

    r->compat = 1;
    for (size_t i = 0; srcs && i < n && !out; i++) {
        struct dsb_data_req d = {.kind = DSB_K_TABLES, .database =
                                 r->params[0], .schema = schema_of(r,
                                                                   srcs[i])};
        size_t k;
        if (failed)
            dsb_cache_release(r->gen->cache, failed);
        failed = NULL;
        if (collect_all(r, dsb_broker_source(r->gen->broker, srcs[i]), &d,
                        &items, &failed) == 0) {
            out = json_array();
            json_array_foreach(items, k, t)
                json_array_append_new(out, glue_table(t));
        }
        json_decref(items);
    }
    if (out)
        dsb_reply_json(r, 200, json_pack("{s:b, s:o}", "success", 1,
                                         "tables", out));
    else if (failed)
        reply_failed(r, failed);
    else
        dsb_reply_problem(r, 404, "not_found", "no Glue source has this "
                          "database", r->params[0], NULL);
    free(srcs);
}

/* Sets sel->source to the first Glue source that has the table. */
static void locate_glue(struct dsb_req *r, struct dsb_selection *sel,
                        const char **srcs, size_t n)
{
    for (size_t i = 0; i < n && !sel->source; i++) {
        struct dsb_selection probe = *sel;
        json_t *t;
        probe.source = srcs[i];
        probe.schema = schema_of(r, srcs[i]);
        if (!probe.database || !probe.table)
            return;
        t = described(r, &probe);
        if (t)
            *sel = probe;
        json_decref(t);
    }
    if (!sel->source && n > 0) {
        sel->source = srcs[0]; /* its describe error is the reason given */
        sel->schema = schema_of(r, srcs[0]);
    }
}

void dsb_h_compat_glue_select(struct dsb_req *r)
{
    json_t *body;
    struct dsb_selection *sel = NULL;
    size_t n = 0, n_src = 0;
    const char **srcs = NULL;

    r->compat = 1;
    body = dsb_req_json(r);
    if (body && json_object_get(body, "session_id") &&
        !json_is_string(json_object_get(body, "session_id")))
        dsb_reply_problem(r, 422, "invalid", "session_id must be a string",
                          NULL, "the path names the session: leave "
                          "session_id out or send it as a string");
    else if (body && (sel = body_tables(r, body, &n)) != NULL) {
        srcs = sources_of(r, "glue", &n_src);
        for (size_t i = 0; srcs && i < n; i++)
            locate_glue(r, &sel[i], srcs, n_src);
        if (n_src == 0 && n > 0)
            dsb_reply_problem(r, 404, "not_found", "no Glue source is "
                              "configured", NULL, NULL);
        else
            select_common(r, sel, n, "glue");
    }
    free(srcs);
    free(sel);
    json_decref(body);
}
