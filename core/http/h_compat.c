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
#include "util.h"

/* The names of every item of a listing, read a page at a time; replies
 * the error itself. */
static int collect_names(struct dsb_req *r, struct dsb_browse *b,
                         json_t **names)
{
    struct dsb_error err;

    *names = NULL;
    if (dsb_svc_browse_names(&r->ctx, b, names, &err) < 0) {
        dsb_reply_error(r, &err);
        return -1;
    }
    return 0;
}

/* The source `name` if it uses `plugin` (404 otherwise, as the original's
 * "Connection not found"). */
static int plugin_source(struct dsb_req *r, const char *name,
                         const char *plugin)
{
    struct dsb_source *s = dsb_broker_source(r->gen->broker, name);

    r->compat = 1;
    if (s && strcmp(s->conf->plugin, plugin) == 0)
        return 0;
    dsb_reply_problem(r, 404, "not_found", "connection not found", name,
                      "GET /postgres/connections lists them");
    return -1;
}

static void list_names(struct dsb_req *r, struct dsb_browse *b,
                       const char *member)
{
    json_t *names = NULL;

    if (collect_names(r, b, &names) == 0)
        dsb_reply_json(r, 200,
                       json_pack("{s:b, s:o}", "success", 1, member, names));
}

/* ------------------------------------------------------------ postgres */

void dsb_h_compat_pg_connections(struct dsb_req *r)
{
    struct dsb_broker *b = r->gen->broker;
    struct dsb_error err;
    json_t *list;

    r->compat = 1;
    if (dsb_svc_require(&r->ctx, DSB_SCOPE_READ, &err) < 0) {
        dsb_reply_error(r, &err);
        return;
    }
    list = json_array();
    for (size_t i = 0; i < b->n_sources; i++) {
        const struct dsb_source *s = &b->sources[i];
        if (strcmp(s->conf->plugin, "postgres") != 0 || !s->conf->enabled ||
            !dsb_principal_may_use(r->ctx.principal, s->conf->name))
            continue;
        json_array_append_new(
            list,
            json_pack("{s:s, s:s, s:b}", "name", s->conf->name, "description",
                      s->conf->description ? s->conf->description : "",
                      "enabled", s->state == DSB_SOURCE_OPEN));
    }
    dsb_reply_json(r, 200,
                   json_pack("{s:b, s:o}", "success", 1, "connections", list));
}

void dsb_h_compat_pg_databases(struct dsb_req *r)
{
    struct dsb_browse b = {.slot = DSB_SLOT_LIST_DATABASES,
                           .source = r->params[0]};

    if (plugin_source(r, r->params[0], "postgres") == 0)
        list_names(r, &b, "databases");
}

void dsb_h_compat_pg_schemas(struct dsb_req *r)
{
    struct dsb_browse b = {.slot = DSB_SLOT_LIST_SCHEMAS,
                           .source = r->params[0],
                           .database = r->params[1]};

    if (plugin_source(r, r->params[0], "postgres") == 0)
        list_names(r, &b, "schemas");
}

/* A PostgreSQL type without its modifiers, as the original gave it:
 * "numeric(10,2)" -> "numeric", "timestamp(3) with time zone" ->
 * "timestamp with time zone", "character varying(20)[]" -> "character
 * varying[]". */
static json_t *base_type(const json_t *type)
{
    const char *t = json_string_value(type);
    char *buf;
    json_t *out;
    size_t n = 0;
    int depth = 0;

    if (!t || !strchr(t, '(') || !(buf = malloc(strlen(t) + 1)))
        return json_incref((json_t *)type);
    for (; *t; t++) {
        if (*t == '(' || *t == ')')
            depth += *t == '(' ? 1 : -1;
        else if (depth == 0 && !(*t == ' ' && (n == 0 || buf[n - 1] == ' ')))
            buf[n++] = *t;
    }
    while (n > 0 && buf[n - 1] == ' ')
        n--;
    out = n ? json_stringn(buf, n) : json_incref((json_t *)type);
    free(buf);
    return out;
}

/* {"name", "type", "nullable"} per column (all of them); PostgreSQL
 * (pg) types by their base names, with nullable. */
static json_t *compat_columns(const json_t *table, int pg)
{
    json_t *out = json_array();
    const json_t *c;
    size_t i;

    json_array_foreach(json_object_get(table, "columns"), i, c)
    {
        const json_t *type = json_object_get(c, "source_type");
        json_t *o =
            json_pack("{s:O, s:o}", "name", json_object_get(c, "name"), "type",
                      pg ? base_type(type) : json_incref((json_t *)type));
        if (pg)
            json_object_set(o, "nullable", json_object_get(c, "nullable"));
        json_array_append_new(out, o);
    }
    return out;
}

/* The compat tables answer, built a page at a time from the plugin's
 * pages (their trees, never parsed back from bytes): each table
 * serialised into `out` as soon as it is shaped, so no tree of the whole
 * schema is ever held (10,000 tables of 21 columns: ~250 MB as jansson,
 * ~11 MB as bytes).  The answer is cached as those bytes. */
struct compat_tables {
    struct dsb_req *r;
    const struct dsb_browse *b;
    const char *schema;
    size_t n;
};

/* Serialises o (taken) after a ',' unless it is the first of *n. */
static int dump_item(json_t *o, struct dsb_sb *out, size_t *n)
{
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;

    json_decref(o);
    if (!s)
        return 1;
    if ((*n)++)
        dsb_sb_addc(out, ',');
    dsb_sb_adds(out, s);
    free(s);
    return out->oom;
}

static int compat_tables_page(void *ctx, const json_t *items,
                              struct dsb_sb *out)
{
    struct compat_tables *ct = ctx;
    const json_t *t;
    size_t i;

    json_array_foreach(items, i, t)
    {
        if (dump_item(json_pack("{s:O, s:s, s:o}", "name",
                                json_object_get(t, "name"), "schema",
                                ct->schema, "columns", compat_columns(t, 1)),
                      out, &ct->n))
            return 1;
    }
    return 0;
}

/* Whether the database of a schema that was not found exists (the
 * original answered an empty list for a missing schema); when it does
 * not, err says why.  Its first page of schemas tells. */
static int database_exists(struct dsb_req *r, const struct dsb_browse *b,
                           struct dsb_error *err)
{
    struct dsb_browse up = {.slot = DSB_SLOT_LIST_SCHEMAS,
                            .source = b->source,
                            .database = b->database};
    json_t *page = dsb_svc_browse_doc(&r->ctx, &up, err);

    json_decref(page);
    return page != NULL;
}

static int compat_tables_end(void *ctx, int rc, struct dsb_sb *out,
                             struct dsb_error *err)
{
    struct compat_tables *ct = ctx;

    if (rc < 0 && err->code == DSB_E_NOT_FOUND && ct->n == 0 &&
        database_exists(ct->r, ct->b, err))
        rc = 0; /* a missing schema: no tables */
    dsb_sb_adds(out, "]}");
    return rc;
}

void dsb_h_compat_pg_tables(struct dsb_req *r)
{
    struct dsb_browse b = {.slot = DSB_SLOT_LIST_TABLES,
                           .source = r->params[0],
                           .database = r->params[1],
                           .schema = r->params[2]};
    struct compat_tables ct = {r, &b, r->params[2], 0};
    struct dsb_svc_shape sh = {"compat_tables",
                               "{\"success\":true,\"tables\":[",
                               compat_tables_page, compat_tables_end, &ct};
    struct dsb_error err;
    const struct dsb_cached *v;
    int hit = 0;

    if (plugin_source(r, r->params[0], "postgres") < 0)
        return;
    v = dsb_svc_browse_shaped(&r->ctx, &b, &sh, &hit, &err);
    dsb_reply_entry(r, v, hit, &err);
}

/* Names of the usable sources of a plugin (borrowed; malloc'd array). */
static const char **sources_of(struct dsb_req *r, const char *plugin, size_t *n)
{
    struct dsb_broker *b = r->gen->broker;
    const char **out = calloc(b->n_sources + 1, sizeof(*out));

    *n = 0;
    for (size_t i = 0; out && i < b->n_sources; i++)
        if (strcmp(b->sources[i].conf->plugin, plugin) == 0 &&
            dsb_principal_may_use(r->ctx.principal, b->sources[i].conf->name))
            out[(*n)++] = b->sources[i].conf->name;
    return out;
}

/* The described table of a selection (cached by the select). */
static json_t *described(struct dsb_req *r, const struct dsb_selection *sel)
{
    struct dsb_error err;

    return dsb_svc_described(&r->ctx, sel, &err);
}

static struct dsb_selection *body_tables(struct dsb_req *r, const json_t *body,
                                         size_t *n)
{
    const json_t *tables = json_object_get(body, "tables");
    struct dsb_selection *sel =
        calloc(json_array_size(tables) + 1, sizeof(*sel));

    *n = json_array_size(tables);
    if (!sel || !json_is_array(tables)) {
        dsb_reply_problem(r, 422, "invalid",
                          "the body needs a \"tables\" "
                          "list",
                          NULL, NULL);
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
            !sel[i].table || !*sel[i].database || !*sel[i].schema ||
            !*sel[i].table) {
            dsb_reply_problem(r, 422, "invalid",
                              "a table entry is "
                              "incomplete",
                              "each needs non-empty string members "
                              "database, table (and schema for postgres)",
                              NULL);
            return 1;
        }
    return 0;
}

static void reply_selected(struct dsb_req *r, const struct dsb_selection *sel,
                           size_t n, int pg, json_t *missing)
{
    json_t *out = json_array();

    for (size_t i = 0; i < n; i++) {
        json_t *t = described(r, &sel[i]);
        json_t *o =
            json_pack("{s:s, s:s, s:o}", "database", sel[i].database, "table",
                      sel[i].table, "columns", compat_columns(t, pg));
        if (pg) {
            json_object_set_new(o, "connection_name",
                                json_string(sel[i].source));
            json_object_set_new(o, "schema", json_string(sel[i].schema));
        } else {
            json_object_set_new(o, "source", json_string(sel[i].source));
            json_object_set(o, "location",
                            json_object_get(t, "location")
                                ? json_object_get(t, "location")
                                : json_string_nocheck(""));
        }
        json_decref(t);
        json_array_append_new(out, o);
    }
    dsb_reply_json(r, 200,
                   json_pack("{s:b, s:o, s:O}", "success", 1, "selected_tables",
                             out, "missing_tables", missing));
}

static void select_common(struct dsb_req *r, struct dsb_selection *sel,
                          size_t n, const char *plugin)
{
    size_t n_src = 0;
    const char **srcs = sources_of(r, plugin, &n_src);
    struct dsb_error err;
    json_t *missing = NULL;

    if (incomplete(r, sel, n))
        ;
    else if (dsb_svc_session_ensure(&r->ctx, r->params[0], &err) < 0 ||
             dsb_svc_select_present(&r->ctx, r->params[0], sel, &n, srcs, n_src,
                                    &missing, &err) < 0)
        dsb_reply_error(r, &err);
    else
        reply_selected(r, sel, n, strcmp(plugin, "postgres") == 0, missing);
    json_decref(missing);
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
        dsb_reply_problem(r, 422, "invalid",
                          "the body needs "
                          "\"connection_name\"",
                          NULL, NULL);
    else if (plugin_source(r, conn, "postgres") == 0 &&
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
               ? s->plugin->vt.flat_schema
               : "default";
}

/* The read scope of the Glue listings (which may find no source to ask);
 * replies itself. */
static int compat_read(struct dsb_req *r)
{
    struct dsb_error err;

    r->compat = 1;
    if (dsb_svc_require(&r->ctx, DSB_SCOPE_READ, &err) == 0)
        return 0;
    dsb_reply_error(r, &err);
    return -1;
}

void dsb_h_compat_glue_databases(struct dsb_req *r)
{
    size_t n = 0;
    const char **srcs = sources_of(r, "glue", &n);
    json_t *names, *seen, *items, *it;
    int failed = 0;

    if (compat_read(r) < 0) {
        free(srcs);
        return;
    }
    names = json_array();
    seen = json_object();
    for (size_t i = 0; srcs && i < n && !failed; i++) {
        struct dsb_browse b = {.slot = DSB_SLOT_LIST_DATABASES,
                               .source = srcs[i]};
        size_t k;
        failed = collect_names(r, &b, &items) < 0;
        if (!failed)
            json_array_foreach(items, k, it)
            {
                const char *name = json_string_value(it);
                if (name && !json_object_get(seen, name) &&
                    json_object_set_new(seen, name, json_true()) == 0)
                    json_array_append(names, it);
            }
        json_decref(items);
    }
    if (!failed)
        dsb_reply_json(
            r, 200, json_pack("{s:b, s:O}", "success", 1, "databases", names));
    json_decref(names);
    json_decref(seen);
    free(srcs);
}

static json_t *glue_table(const json_t *t)
{
    const json_t *loc = json_object_get(t, "location");

    return json_pack("{s:O, s:O, s:o}", "name", json_object_get(t, "name"),
                     "location", loc ? loc : json_string_nocheck(""), "columns",
                     compat_columns(t, 0));
}

/* The Glue tables answer, a page at a time and cached as its bytes, as
 * the PostgreSQL one. */
static int glue_tables_page(void *ctx, const json_t *items, struct dsb_sb *out)
{
    size_t *n = ctx;
    const json_t *t;
    size_t i;

    json_array_foreach(items, i, t)
    {
        if (dump_item(glue_table(t), out, n))
            return 1;
    }
    return 0;
}

static int glue_tables_end(void *ctx, int rc, struct dsb_sb *out,
                           struct dsb_error *err)
{
    (void)ctx;
    (void)err;
    dsb_sb_adds(out, "]}");
    return rc;
}

void dsb_h_compat_glue_tables(struct dsb_req *r)
{
    size_t n = 0, items = 0;
    const char **srcs = sources_of(r, "glue", &n);
    struct dsb_svc_shape sh = {"compat_glue_tables",
                               "{\"success\":true,\"tables\":[",
                               glue_tables_page, glue_tables_end, &items};
    struct dsb_error err;
    const struct dsb_cached *v = NULL;
    int hit = 0;

    if (compat_read(r) < 0) {
        free(srcs);
        return;
    }
    /* the first Glue source that has the database answers */
    for (size_t i = 0; srcs && i < n; i++) {
        struct dsb_browse b = {.slot = DSB_SLOT_LIST_TABLES,
                               .source = srcs[i],
                               .database = r->params[0],
                               .schema = schema_of(r, srcs[i])};
        dsb_svc_release(&r->ctx, v);
        items = 0;
        v = dsb_svc_browse_shaped(&r->ctx, &b, &sh, &hit, &err);
        if (!v || v->body)
            break;
        err = v->err;
    }
    if (v && !v->body) {
        dsb_svc_release(&r->ctx, v);
        v = NULL;
    }
    if (v || n > 0)
        dsb_reply_entry(r, v, hit, &err);
    else
        dsb_reply_problem(r, 404, "not_found",
                          "no Glue source has this "
                          "database",
                          r->params[0], NULL);
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

/* Replies the refusal when the session is another principal's (an absent
 * one is not refused: it would be created). */
static int session_refused(struct dsb_req *r)
{
    struct dsb_error err;

    if (dsb_svc_session_access(&r->ctx, r->params[0], DSB_SCOPE_SESSIONS,
                               &err) == 0 ||
        err.code == DSB_E_NOT_FOUND)
        return 0;
    dsb_reply_error(r, &err);
    return 1;
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
                          NULL,
                          "the path names the session: leave "
                          "session_id out or send it as a string");
    else if (body && (sel = body_tables(r, body, &n)) != NULL) {
        srcs = sources_of(r, "glue", &n_src);
        for (size_t i = 0; srcs && i < n; i++)
            locate_glue(r, &sel[i], srcs, n_src);
        if (n_src == 0 && n > 0 && !session_refused(r))
            dsb_reply_problem(r, 404, "not_found",
                              "no Glue source is "
                              "configured",
                              NULL, NULL);
        else
            select_common(r, sel, n, "glue");
    }
    free(srcs);
    free(sel);
    json_decref(body);
}

/* ------------------------------------------------- sessions and uploads */

void dsb_h_compat_reset(struct dsb_req *r)
{
    struct dsb_error err;

    r->compat = 1;
    if (dsb_svc_session_reset(&r->ctx, r->params[0], &err) < 0)
        dsb_reply_error(r, &err);
    else
        dsb_reply_json(
            r, 200,
            json_pack("{s:b, s:s}", "success", 1, "message", "Session reset"));
}

/* The upload of the body {"filename", "content", "session_id"} (a session
 * named "default" when absent, as the original); replies errors. */
static json_t *upload(struct dsb_req *r)
{
    json_t *body = dsb_req_json(r), *out = NULL;
    const json_t *content = json_object_get(body, "content");
    const char *name = json_string_value(json_object_get(body, "filename"));
    const char *session =
        json_string_value(json_object_get(body, "session_id"));
    struct dsb_error err;

    if (body && (!name || !json_is_string(content) ||
                 (json_object_get(body, "session_id") && !session)))
        dsb_reply_problem(r, 422, "invalid",
                          "the body needs string members filename and content "
                          "(and session_id, when given, a string)",
                          NULL,
                          "send {\"filename\", \"content\", \"session_id\"}");
    else if (body &&
             dsb_svc_upload_csv(&r->ctx, session ? session : "default", name,
                                json_string_value(content),
                                json_string_length(content), &out, &err) < 0)
        dsb_reply_error(r, &err);
    json_decref(body);
    return out;
}

/* The upload's answer with the original's name of its URI (member). */
static void reply_upload(struct dsb_req *r, const char *member)
{
    json_t *u;

    r->compat = 1;
    if (!(u = upload(r)))
        return;
    json_object_set_new(u, "success", json_true());
    json_object_set(u, member, json_object_get(u, "uri"));
    dsb_reply_json(r, 200, u);
}

void dsb_h_compat_upload_csv(struct dsb_req *r)
{
    reply_upload(r, "s3_uri");
}

void dsb_h_compat_spark_upload_csv(struct dsb_req *r)
{
    reply_upload(r, "s3_path");
}

/* ------------------------------------------------------------- status */

/* "ready" when an executor of the type is ready, "not_ready" when none of
 * them is, "not_configured" when there is none. */
static const char *type_status(const json_t *items, const char *type)
{
    const json_t *e;
    size_t i;
    int seen = 0;

    json_array_foreach(items, i, e)
    {
        if (strcmp(json_string_value(json_object_get(e, "type")), type) != 0)
            continue;
        if (json_is_true(json_object_get(e, "ready")))
            return "ready";
        seen = 1;
    }
    return seen ? "not_ready" : "not_configured";
}

void dsb_h_compat_spark_status(struct dsb_req *r)
{
    struct dsb_error err;
    json_t *ex = NULL, *items;

    r->compat = 1;
    if (dsb_svc_executors(&r->ctx, &ex, &err) < 0) {
        dsb_reply_error(r, &err);
        return;
    }
    items = json_object_get(ex, "items");
    dsb_reply_json(r, 200,
                   json_pack("{s:b, s:s, s:s, s:O}", "success", 1,
                             "lambda_status", type_status(items, "local-spark"),
                             "emr_status", type_status(items, "emr-serverless"),
                             "executors", items));
    json_decref(ex);
}

void dsb_h_compat_health(struct dsb_req *r)
{
    r->compat = 1;
    dsb_reply_json(r, 200,
                   json_pack("{s:b, s:s, s:f}", "success", 1, "status",
                             "healthy", "timestamp", dsb_wall_ms() / 1000.0));
}
