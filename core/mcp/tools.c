/* The MCP tools: their declarations are core/mcp/tools.json (embedded);
 * each handler parses its arguments, calls one service operation and
 * shapes the answer within the response budget. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobs/router.h"
#include "log.h"
#include "mcp/mcp.h"
#include "mcp/schema.h"

extern const char dsb_mcp_tools_json[];

/* One call of a tool: its arguments, the cursor's state (an object, {}
 * without a cursor) and offset "o", the budget. */
struct targs {
    const struct dsb_mcp_call *c;
    const struct dsb_ctx *ctx;
    const json_t *a;
    json_t *state;
    size_t offset, budget;
};

typedef int (*tool_fn)(struct targs *t, json_t **out, struct dsb_error *err);

static const char *arg(const struct targs *t, const char *k)
{
    return json_string_value(json_object_get(t->a, k));
}

static long long arg_int(const struct targs *t, const char *k, long long def)
{
    const json_t *v = json_object_get(t->a, k);

    return json_is_number(v) ? (long long)json_number_value(v) : def;
}

/* The list member of out cut to the budget, from the cursor's offset. */
static int page(struct targs *t, json_t *out, const char *list)
{
    json_t *st = json_deep_copy(t->state);

    json_object_del(st, "o");
    dsb_mcp_budget_list(out, list, t->offset, st, t->budget);
    json_decref(st);
    return 0;
}

/* ------------------------------------------------------------- sources */

static int t_list_sources(struct targs *t, json_t **out, struct dsb_error *err)
{
    if (dsb_svc_sources(t->ctx, out, err) < 0)
        return -1;
    return page(t, *out, "items");
}

static int browse_page(struct targs *t, const struct dsb_browse *b,
                       const char *level, json_t **out, struct dsb_error *err)
{
    json_t *doc = dsb_svc_browse_doc(t->ctx, b, err);
    const char *next;
    char *cur;

    if (!doc)
        return -1;
    *out = json_pack("{s:s, s:O}", "level", level, "items",
                     json_object_get(doc, "items"));
    next = json_string_value(json_object_get(doc, "next_page_token"));
    page(t, *out, "items");
    if (next && json_is_false(json_object_get(*out, "truncated"))) {
        json_t *st = json_pack("{s:s, s:i}", "pt", next, "o", 0);
        cur = dsb_mcp_cursor_make(st);
        json_decref(st);
        json_object_set_new(*out, "truncated", json_true());
        json_object_set_new(*out, "next_cursor", json_string(cur));
        free(cur);
    }
    json_decref(doc);
    return 0;
}

static int t_browse(struct targs *t, json_t **out, struct dsb_error *err)
{
    struct dsb_browse b = {0};
    const char *level;

    b.source = arg(t, "source");
    b.database = arg(t, "database");
    b.schema = arg(t, "schema");
    b.filter = arg(t, "filter");
    b.page_token = json_string_value(json_object_get(t->state, "pt"));
    if (b.database && !b.schema)
        b.schema = dsb_svc_flat_schema(t->ctx, b.source);
    if (b.schema && !b.database)
        return dsb_error_set(err, DSB_E_INVALID, "schema needs database too");
    b.slot = !b.database ? DSB_SLOT_LIST_DATABASES
             : !b.schema ? DSB_SLOT_LIST_SCHEMAS
                         : DSB_SLOT_LIST_TABLES;
    level = !b.database ? "databases" : !b.schema ? "schemas" : "tables";
    return browse_page(t, &b, level, out, err);
}

static int t_search(struct targs *t, json_t **out, struct dsb_error *err)
{
    const char *src = arg(t, "source");
    json_t *items, *kept, *it;
    size_t i;

    if (dsb_svc_search(t->ctx, arg(t, "query"), 1000, out, err) < 0)
        return -1;
    items = json_object_get(*out, "items");
    kept = json_array();
    json_array_foreach(
        items, i,
        it) if (!src || strcmp(json_string_value(json_object_get(it, "source")),
                               src) == 0) json_array_append(kept, it);
    json_object_set_new(*out, "items", kept);
    return page(t, *out, "items");
}

/* A paged description keeps its sample rows on the first page only, and
 * only when they take at most half the budget (a wide table's can be
 * larger than the whole answer may be): else they are left out, and said
 * so. */
static void fit_sample(const struct targs *t, json_t *out)
{
    const json_t *sr = json_object_get(out, "sample_rows");
    char *text;
    size_t n;

    if (!sr)
        return;
    text = json_dumps(sr, JSON_COMPACT);
    n = text ? strlen(text) : (size_t)-1;
    free(text);
    if (!t->offset && n < (size_t)-1 / 3 && n * 3 < t->budget / 2)
        return;
    json_object_del(out, "sample_rows");
    json_object_set_new(out, "sample_rows_left_out",
                        json_string(t->offset ? "on the first page"
                                              : "larger than half of "
                                                "mcp.max_result_bytes: GET "
                                                "/v1/sources/{src}/databases/"
                                                "{db}/schemas/{schema}/"
                                                "tables/{table} has them"));
}

static int t_describe(struct targs *t, json_t **out, struct dsb_error *err)
{
    struct dsb_browse b = {0};
    const struct dsb_cached *v;
    int hit;

    b.slot = DSB_SLOT_DESCRIBE_TABLE;
    b.source = arg(t, "source");
    b.database = arg(t, "database");
    b.schema = arg(t, "schema");
    b.table = arg(t, "table");
    if (!b.schema)
        b.schema = dsb_svc_flat_schema(t->ctx, b.source);
    if (!(v = dsb_svc_browse(t->ctx, &b, &hit, err)))
        return -1;
    if (!v->doc) {
        *err = v->err;
        dsb_svc_release(t->ctx, v);
        return -1;
    }
    *out = json_copy(v->doc); /* shallow: page() replaces top members */
    /* the cached bytes, twice and escaped, within the budget: it fits */
    if (!t->offset && v->len * 3 + 64 < t->budget) {
        dsb_svc_release(t->ctx, v);
        json_object_set_new(*out, "truncated", json_false());
        return 0;
    }
    dsb_svc_release(t->ctx, v);
    fit_sample(t, *out);
    return page(t, *out, "columns");
}

/* ------------------------------------------------------------ sessions */

static int t_create_session(struct targs *t, json_t **out,
                            struct dsb_error *err)
{
    char id[DSB_SESSION_ID_MAX + 1];

    if (dsb_svc_session_create(t->ctx, id, err) < 0)
        return -1;
    *out = json_pack("{s:s}", "session", id);
    return 0;
}

/* Describes the tables one by one (through the cache, where the select
 * finds them), reporting progress when the client asked for it. */
static int describe_each(struct targs *t, const struct dsb_selection *sel,
                         size_t n, struct dsb_error *err)
{
    char msg[512];

    if (!t->c->progress_token)
        return 0;
    dsb_mcp_progress(t->c, 0, n, "describing the tables");
    for (size_t i = 0; i < n; i++) {
        json_t *d = dsb_svc_described(t->ctx, &sel[i], err);
        if (!d)
            return -1;
        json_decref(d);
        snprintf(msg, sizeof(msg), "described %s.%s.%s.%s", sel[i].source,
                 sel[i].database, sel[i].schema, sel[i].table);
        dsb_mcp_progress(t->c, i + 1, n, msg);
    }
    return 0;
}

/* The selections stored, within the budget: when cut, the rest is
 * get_session's to page (a cursor would select again). */
static int selected_page(struct targs *t, json_t *out)
{
    page(t, out, "items");
    if (!json_is_true(json_object_get(out, "truncated")))
        return 0;
    json_object_del(out, "next_cursor");
    json_object_set_new(out, "hint",
                        json_string("every table is selected; the list is "
                                    "larger than mcp.max_result_bytes: "
                                    "get_session lists them all, in pages"));
    return 0;
}

static int t_select(struct targs *t, json_t **out, struct dsb_error *err)
{
    const json_t *list = json_object_get(t->a, "tables"), *o;
    size_t n = json_array_size(list), i;
    struct dsb_selection *sel = calloc(n + 1, sizeof(*sel));
    json_t *stored = NULL;
    int rc;

    if (!sel)
        return dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
    json_array_foreach(list, i, o)
    {
        sel[i].source = json_string_value(json_object_get(o, "source"));
        sel[i].database = json_string_value(json_object_get(o, "database"));
        sel[i].schema = json_string_value(json_object_get(o, "schema"));
        sel[i].table = json_string_value(json_object_get(o, "table"));
        if (!sel[i].schema)
            sel[i].schema = dsb_svc_flat_schema(t->ctx, sel[i].source);
    }
    rc = describe_each(t, sel, n, err);
    if (rc == 0)
        rc = dsb_svc_select(t->ctx, arg(t, "session"), sel, n, NULL, 0, &stored,
                            err);
    free(sel);
    if (rc == 0)
        *out = json_pack("{s:o}", "items", stored);
    return rc == 0 ? selected_page(t, *out) : rc;
}

/* The answer counts, never echoes: its size does not grow with the
 * request's list, so it always fits the budget. */
static int t_unselect(struct targs *t, json_t **out, struct dsb_error *err)
{
    const json_t *ids = json_object_get(t->a, "selections"), *v;
    json_t *session = NULL;
    size_t i, left;

    json_array_foreach(ids, i, v)
    {
        if (dsb_svc_unselect(t->ctx, arg(t, "session"),
                             (int64_t)json_number_value(v), err) < 0)
            return -1;
    }
    if (dsb_svc_session_get(t->ctx, arg(t, "session"), &session, err) < 0)
        return -1;
    left = json_array_size(json_object_get(session, "selections"));
    json_decref(session);
    *out = json_pack("{s:I, s:I}", "removed", (json_int_t)json_array_size(ids),
                     "remaining", (json_int_t)left);
    return 0;
}

static int t_get_session(struct targs *t, json_t **out, struct dsb_error *err)
{
    if (dsb_svc_session_get(t->ctx, arg(t, "session"), out, err) < 0)
        return -1;
    return page(t, *out, "selections");
}

/* ------------------------------------------------------------- context */

static const char *const context_text_parts[] = {"prompt", "code"};

static json_t *context_part(const json_t *doc, const char *part)
{
    json_t *o = json_pack("{s:O}", "route", json_object_get(doc, "route"));
    int all = strcmp(part, "all") == 0;

    if (all || strcmp(part, "read_specs") == 0) {
        json_object_set(o, "read_specs", json_object_get(doc, "tables"));
        json_object_set(o, "join_paths", json_object_get(doc, "join_paths"));
    }
    if (all || strcmp(part, "prompt") == 0) {
        json_object_set(o, "prompt", json_object_get(doc, "prompt"));
        json_object_set(o, "prompt_left_out",
                        json_object_get(doc, "prompt_left_out"));
    }
    if (all || strcmp(part, "code") == 0) {
        json_object_set(o, "code", json_object_get(doc, "code"));
        json_object_set(o, "spark_submit",
                        json_object_get(doc, "spark_submit"));
    }
    return o;
}

/* A whole context over the budget: the route and how to get the parts. */
static void context_too_large(json_t *o)
{
    json_object_del(o, "read_specs");
    json_object_del(o, "join_paths");
    json_object_del(o, "prompt");
    json_object_del(o, "prompt_left_out");
    json_object_del(o, "code");
    json_object_set_new(o, "truncated", json_true());
    json_object_set_new(o, "hint",
                        json_string("the whole context is larger than "
                                    "mcp.max_result_bytes: ask for one part "
                                    "at a time (read_specs, prompt, code)"));
}

static int t_context(struct targs *t, json_t **out, struct dsb_error *err)
{
    const char *part = arg(t, "part") ? arg(t, "part") : "all";
    const struct dsb_cached *v;
    int hit;

    v = dsb_svc_context(t->ctx, arg(t, "session"), arg(t, "executor"), &hit,
                        err);
    if (!v)
        return -1;
    if (!v->doc) {
        *err = v->err;
        dsb_svc_release(t->ctx, v);
        return -1;
    }
    *out = context_part(v->doc, part);
    dsb_svc_release(t->ctx, v);
    if (strcmp(part, "read_specs") == 0)
        return page(t, *out, "read_specs");
    for (size_t i = 0; i < 2; i++)
        if (strcmp(part, context_text_parts[i]) == 0)
            return dsb_mcp_budget_text(*out, part, t->offset, t->budget);
    if (dsb_mcp_budget_text(*out, NULL, 0, t->budget) < 0)
        context_too_large(*out);
    return 0;
}

/* ---------------------------------------------------------------- jobs */

static int t_plan(struct targs *t, json_t **out, struct dsb_error *err)
{
    return dsb_svc_plan(t->ctx, arg(t, "session"), arg(t, "executor"), out,
                        err);
}

static int t_submit(struct targs *t, json_t **out, struct dsb_error *err)
{
    struct dsb_job_params p = {arg(t, "code"),
                               arg(t, "entry_point"),
                               arg(t, "name"),
                               arg(t, "executor"),
                               json_object_get(t->a, "args"),
                               (long)arg_int(t, "timeout_seconds", 0)};

    if (!p.code == !p.entry_point)
        return dsb_error_set(err, DSB_E_INVALID,
                             "give either code or entry_point");
    return dsb_svc_job_submit(t->ctx, arg(t, "session"), &p, out, err);
}

/* The report within the budget: without the resolved schemas, then
 * without the tables that are ok, then without tables. */
static void verify_budget(json_t *out, size_t budget)
{
    json_t *tables = json_object_get(out, "tables"), *v;
    size_t i;

    json_array_foreach(tables, i, v) json_object_del(v, "resolved_schema");
    for (i = json_array_size(tables);
         dsb_mcp_budget_text(out, NULL, 0, budget) < 0 && i-- > 0;)
        if (strcmp(json_string_value(
                       json_object_get(json_array_get(tables, i), "status")),
                   "ok") == 0)
            json_array_remove(tables, i);
    if (dsb_mcp_budget_text(out, NULL, 0, budget) == 0)
        return;
    json_object_del(out, "tables");
    json_object_set_new(out, "truncated", json_true());
    json_object_set_new(out, "hint",
                        json_string("the report is larger than "
                                    "mcp.max_result_bytes: GET "
                                    "/v1/sessions/{id}/context/verify"));
}

/* Starts a verification unless the current context has one (rerun: in
 * any case but while one runs). */
static int t_verify(struct targs *t, json_t **out, struct dsb_error *err)
{
    const char *s = arg(t, "session");
    const char *st;

    if (!json_is_true(json_object_get(t->a, "rerun"))) {
        if (dsb_svc_verify_get(t->ctx, s, out, err) < 0)
            return -1;
        st = json_string_value(json_object_get(*out, "state"));
        if (st && strcmp(st, "none") != 0) {
            verify_budget(*out, t->budget);
            return 0;
        }
        json_decref(*out);
        *out = NULL;
    }
    return dsb_svc_verify_start(t->ctx, s, out, err);
}

static int t_get_job(struct targs *t, json_t **out, struct dsb_error *err)
{
    return dsb_svc_job_get(t->ctx, arg(t, "job"), out, err);
}

static int t_cancel_job(struct targs *t, json_t **out, struct dsb_error *err)
{
    return dsb_svc_job_cancel(t->ctx, arg(t, "job"), out, err);
}

static int t_job_logs(struct targs *t, json_t **out, struct dsb_error *err)
{
    if (dsb_svc_job_logs(t->ctx, arg(t, "job"), (long)arg_int(t, "lines", 200),
                         out, err) < 0)
        return -1;
    return dsb_mcp_budget_tail(*out, t->budget);
}

static int t_job_result(struct targs *t, json_t **out, struct dsb_error *err)
{
    long long limit = arg_int(t, "limit", 100);
    size_t want = t->offset + (size_t)limit, got;
    json_t *st;
    char *cur;

    if (want > 10000)
        want = 10000;
    if (dsb_svc_job_result(t->ctx, arg(t, "job"), want, out, err) < 0)
        return -1;
    got = json_array_size(json_object_get(*out, "rows"));
    page(t, *out, "rows");
    if (json_is_true(json_object_get(*out, "truncated")) &&
        !json_object_get(*out, "next_cursor") && got == want && want < 10000) {
        st = json_pack("{s:I}", "o", (json_int_t)got);
        cur = dsb_mcp_cursor_make(st);
        json_object_set_new(*out, "next_cursor", json_string(cur));
        free(cur);
        json_decref(st);
    }
    return 0;
}

/* --------------------------------------------------------------- table */

static const struct {
    const char *name;
    tool_fn fn;
} handlers[] = {
    {"list_sources", t_list_sources},
    {"browse", t_browse},
    {"search_tables", t_search},
    {"describe_table", t_describe},
    {"create_session", t_create_session},
    {"select_tables", t_select},
    {"unselect_tables", t_unselect},
    {"get_session", t_get_session},
    {"get_spark_context", t_context},
    {"plan_job", t_plan},
    {"verify_context", t_verify},
    {"submit_job", t_submit},
    {"get_job", t_get_job},
    {"cancel_job", t_cancel_job},
    {"get_job_logs", t_job_logs},
    {"get_job_result", t_job_result},
};
#define N_HANDLERS (sizeof(handlers) / sizeof(*handlers))

static json_t *declared; /* tools.json, parsed once */
static pthread_once_t declared_once = PTHREAD_ONCE_INIT;

static void load_declared(void)
{
    json_error_t je;

    declared = json_loads(dsb_mcp_tools_json, JSON_REJECT_DUPLICATES, &je);
    if (!declared)
        dsb_logf(DSB_LOG_ERROR, NULL, "core/mcp/tools.json: %s (line %d)",
                 je.text, je.line);
}

static const json_t *tools(void)
{
    pthread_once(&declared_once, load_declared);
    return declared;
}

static int group_on(const struct dsb_mcp_call *c, const json_t *tool)
{
    unsigned g =
        dsb_mcp_group_parse(json_string_value(json_object_get(tool, "group")));

    return !(c->st->mcp_disabled_groups & g);
}

/* Offered to the call's principal: its group is enabled and the
 * principal holds its scope. */
static int offered(const struct dsb_mcp_call *c, const json_t *tool)
{
    unsigned s =
        dsb_scope_parse(json_string_value(json_object_get(tool, "scope")));

    return group_on(c, tool) && (c->ctx->principal->scopes & s) == s;
}

static json_t *declaration(const json_t *tool)
{
    return json_pack("{s:O, s:O, s:O, s:O, s:O, s:O}", "name",
                     json_object_get(tool, "name"), "title",
                     json_object_get(tool, "title"), "description",
                     json_object_get(tool, "description"), "inputSchema",
                     json_object_get(tool, "inputSchema"), "outputSchema",
                     json_object_get(tool, "outputSchema"), "annotations",
                     json_object_get(tool, "annotations"));
}

json_t *dsb_mcp_tools_list(const struct dsb_mcp_call *c, json_t *params,
                           struct dsb_mcp_err *e)
{
    json_t *list = json_array();
    const json_t *tool;
    size_t i;

    (void)params; /* one page: sixteen tools */
    if (!tools()) {
        json_decref(list);
        dsb_mcp_err_set(e, DSB_RPC_INTERNAL, "the tool table is broken");
        return NULL;
    }
    json_array_foreach(tools(), i, tool) if (offered(c, tool))
        json_array_append_new(list, declaration(tool));
    return json_pack("{s:o}", "tools", list);
}

static const json_t *find_tool(const char *name)
{
    const json_t *tool;
    size_t i;

    json_array_foreach(
        tools(), i,
        tool) if (strcmp(json_string_value(json_object_get(tool, "name")),
                         name) == 0) return tool;
    return NULL;
}

static tool_fn handler_of(const char *name)
{
    for (size_t i = 0; i < N_HANDLERS; i++)
        if (strcmp(handlers[i].name, name) == 0)
            return handlers[i].fn;
    return NULL;
}

/* The problem code of a service error, as /v1 names it. */
static const char *problem_code(const struct dsb_error *err)
{
    if (strcmp(err->upstream, DSB_SCOPE_UPSTREAM) == 0)
        return "insufficient_scope";
    if (strcmp(err->upstream, DSB_FORBIDDEN_UPSTREAM) == 0)
        return "forbidden";
    if (err->code == DSB_E_INVALID &&
        strcmp(err->upstream, DSB_ROUTE_UPSTREAM) == 0)
        return "unroutable";
    if (err->code == DSB_E_UNAVAILABLE &&
        strcmp(err->upstream, DSB_STORE_LOST_UPSTREAM) == 0)
        return "state_store_unavailable";
    return dsb_err_code_name(err->code);
}

/* A tool result: the structured content and its JSON as text. */
static json_t *tool_result(json_t *content, int is_error)
{
    char *text = json_dumps(content, JSON_COMPACT);
    json_t *r = json_pack("{s:[{s:s, s:s}], s:o, s:b}", "content", "type",
                          "text", "text", text ? text : "{}",
                          "structuredContent", content, "isError", is_error);

    free(text);
    return r;
}

static json_t *error_result(struct dsb_error *err)
{
    dsb_redact_error(err);
    return tool_result(json_pack("{s:s, s:s, s:s*, s:s*, s:b, s:s*}", "code",
                                 problem_code(err), "message", err->message,
                                 "detail", err->detail[0] ? err->detail : NULL,
                                 "hint", err->hint[0] ? err->hint : NULL,
                                 "retryable", err->retryable, "scope",
                                 strcmp(err->upstream, DSB_SCOPE_UPSTREAM) == 0
                                     ? err->detail
                                     : NULL),
                       1);
}

static json_t *invalid_result(const char *why, const char *hint)
{
    struct dsb_error err = {0};

    dsb_error_set(&err, DSB_E_INVALID, "the arguments are invalid");
    snprintf(err.detail, sizeof(err.detail), "%s", why);
    snprintf(err.hint, sizeof(err.hint), "%s", hint);
    return error_result(&err);
}

/* The cursor argument's state and offset; -1 when it is not ours. */
static int read_cursor(struct targs *t)
{
    const char *cur = arg(t, "cursor");
    const json_t *o;

    t->state = cur ? dsb_mcp_cursor_read(cur) : json_object();
    o = json_object_get(t->state, "o");
    if (!t->state || (o && (!json_is_integer(o) || json_integer_value(o) < 0)))
        return -1;
    t->offset = (size_t)json_integer_value(o);
    return 0;
}

static json_t *run_tool(const struct dsb_mcp_call *c, const json_t *tool,
                        const json_t *args)
{
    struct targs t = {c, c->ctx, args, NULL, 0, 0};
    struct dsb_error err = {0};
    tool_fn fn = handler_of(json_string_value(json_object_get(tool, "name")));
    json_t *out = NULL, *r;
    char why[512];

    if (dsb_mcp_schema_check(json_object_get(tool, "inputSchema"), args, why,
                             sizeof(why)) < 0)
        return invalid_result(why, "see the tool's inputSchema");
    if (read_cursor(&t) < 0) {
        json_decref(t.state);
        return invalid_result("arguments.cursor: not a cursor of this server",
                              "pass next_cursor exactly as returned");
    }
    t.budget = dsb_mcp_budget_of(c);
    if (!fn)
        dsb_error_set(&err, DSB_E_INTERNAL, "the tool has no handler");
    if (fn && fn(&t, &out, &err) == 0 && out) {
        r = tool_result(out, 0);
    } else {
        json_decref(out);
        r = error_result(&err);
    }
    json_decref(t.state);
    return r;
}

json_t *dsb_mcp_tools_call(const struct dsb_mcp_call *c, json_t *params,
                           struct dsb_mcp_err *e)
{
    const char *name = json_string_value(json_object_get(params, "name"));
    json_t *args = json_object_get(params, "arguments");
    const json_t *tool = name && tools() ? find_tool(name) : NULL;
    json_t *empty = NULL, *r;

    if (!tool || !group_on(c, tool)) {
        dsb_mcp_err_set(e, DSB_RPC_INVALID_PARAMS, "unknown tool: %.64s",
                        name ? name : "(no name)");
        return NULL;
    }
    if (!offered(c, tool)) { /* HTTP: 403 insufficient_scope */
        dsb_mcp_err_set(e, DSB_RPC_INVALID_PARAMS,
                        "the tool %.64s needs the scope %s", name,
                        json_string_value(json_object_get(tool, "scope")));
        snprintf(e->scope, sizeof(e->scope), "%s",
                 json_string_value(json_object_get(tool, "scope")));
        e->data = json_pack("{s:s}", "scope", e->scope);
        return NULL;
    }
    if (args && !json_is_object(args)) {
        dsb_mcp_err_set(e, DSB_RPC_INVALID_PARAMS,
                        "arguments must be an object");
        return NULL;
    }
    if (!args)
        args = empty = json_object();
    r = run_tool(c, tool, args);
    json_decref(empty);
    return r;
}
