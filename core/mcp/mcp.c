/* JSON-RPC methods of the MCP server, for both protocol generations. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "mcp/mcp.h"

const char *const dsb_mcp_legacy_versions[] = {
    DSB_MCP_LEGACY_LATEST, "2025-06-18", "2025-03-26", NULL};

static const char instructions[] =
    "dsbroker brokers data sources for Spark jobs. Browse with "
    "list_sources, browse, search_tables and describe_table; create a "
    "broker session with create_session and select_tables; read "
    "get_spark_context for the code that reads the selected tables; "
    "submit_job with that code plus your own, poll get_job, then read "
    "get_job_result. Lists page with next_cursor.";

int dsb_mcp_legacy_supported(const char *v)
{
    for (const char *const *p = dsb_mcp_legacy_versions; v && *p; p++)
        if (strcmp(*p, v) == 0)
            return 1;
    return 0;
}

json_t *dsb_mcp_versions_json(void)
{
    json_t *a = json_array();

    json_array_append_new(a, json_string(DSB_MCP_MODERN));
    for (const char *const *p = dsb_mcp_legacy_versions; *p; p++)
        json_array_append_new(a, json_string(*p));
    return a;
}

void dsb_mcp_err_set(struct dsb_mcp_err *e, int code, const char *fmt, ...)
{
    va_list ap;

    e->code = code;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
}

void dsb_mcp_err_scope(struct dsb_mcp_err *e, const struct dsb_error *err)
{
    if (strcmp(err->upstream, DSB_SCOPE_UPSTREAM) == 0)
        snprintf(e->scope, sizeof(e->scope), "%.15s", err->detail);
}

void dsb_mcp_progress(const struct dsb_mcp_call *c, size_t done, size_t total,
                      const char *message)
{
    if (!c->progress_token || !c->progress_fn)
        return;
    c->progress_fn(c->progress_cls,
                   json_pack("{s:s, s:s, s:{s:O, s:I, s:I, s:s}}", "jsonrpc",
                             "2.0", "method", "notifications/progress",
                             "params", "progressToken", c->progress_token,
                             "progress", (json_int_t)done, "total",
                             (json_int_t)total, "message", message));
}

static json_t *server_info(void)
{
    return json_pack("{s:s, s:s, s:s}", "name", "dsbroker", "title",
                     "dsbroker data-source broker", "version", DSB_VERSION);
}

static json_t *capabilities(void)
{
    return json_pack("{s:{s:b}, s:{s:b, s:b}, s:{s:b}}", "tools", "listChanged",
                     0, "resources", "subscribe", 0, "listChanged", 0,
                     "prompts", "listChanged", 0);
}

json_t *dsb_mcp_initialize_result(const char *version)
{
    return json_pack("{s:s, s:o, s:o, s:s}", "protocolVersion", version,
                     "capabilities", capabilities(), "serverInfo",
                     server_info(), "instructions", instructions);
}

/* A YYYY-MM-DD string. */
static int date_shaped(const char *v)
{
    static const char shape[] = "dddd-dd-dd";

    if (!v || strlen(v) != sizeof(shape) - 1)
        return 0;
    for (size_t i = 0; shape[i]; i++)
        if (shape[i] == 'd' ? v[i] < '0' || v[i] > '9' : v[i] != '-')
            return 0;
    return 1;
}

const char *dsb_mcp_negotiate(const json_t *requested, struct dsb_mcp_err *e)
{
    const char *v = json_string_value(requested);

    if (dsb_mcp_legacy_supported(v)) {
        for (const char *const *p = dsb_mcp_legacy_versions; *p; p++)
            if (strcmp(*p, v) == 0)
                return *p;
    }
    if (date_shaped(v))
        return DSB_MCP_LEGACY_LATEST;
    dsb_mcp_err_set(e, DSB_RPC_INVALID_PARAMS, "unsupported protocol version");
    e->data = json_pack("{s:o, s:O?}", "supported", dsb_mcp_versions_json(),
                        "requested", requested);
    return NULL;
}

static json_t *discover(void)
{
    return json_pack("{s:o, s:o, s:s, s:{s:o}}", "supportedVersions",
                     dsb_mcp_versions_json(), "capabilities", capabilities(),
                     "instructions", instructions, "_meta",
                     "io.modelcontextprotocol/serverInfo", server_info());
}

/* A 2026-07-28 result: resultType, and caching hints on what may be
 * cached (private: every answer depends on the principal's scopes). */
static json_t *modern_result(const char *method, json_t *res)
{
    static const char *const cacheable[] = {"server/discover",
                                            "tools/list",
                                            "prompts/list",
                                            "resources/list",
                                            "resources/templates/list",
                                            "resources/read"};

    if (!res)
        return NULL;
    json_object_set_new(res, "resultType", json_string("complete"));
    for (size_t i = 0; i < sizeof(cacheable) / sizeof(*cacheable); i++)
        if (strcmp(method, cacheable[i]) == 0) {
            json_object_set_new(res, "ttlMs", json_integer(0));
            json_object_set_new(res, "cacheScope", json_string("private"));
        }
    return res;
}

static json_t *ping(const struct dsb_mcp_call *c, json_t *params,
                    struct dsb_mcp_err *e)
{
    (void)c;
    (void)params;
    (void)e;
    return json_object();
}

static json_t *discover_method(const struct dsb_mcp_call *c, json_t *params,
                               struct dsb_mcp_err *e)
{
    (void)c;
    (void)params;
    (void)e;
    return discover();
}

static const struct {
    const char *name;
    dsb_mcp_method *fn;
} methods[] = {
    {"ping", ping},
    {"server/discover", discover_method},
    {"tools/list", dsb_mcp_tools_list},
    {"tools/call", dsb_mcp_tools_call},
    {"resources/list", dsb_mcp_resources_list},
    {"resources/templates/list", dsb_mcp_templates_list},
    {"resources/read", dsb_mcp_resources_read},
    {"prompts/list", dsb_mcp_prompts_list},
    {"prompts/get", dsb_mcp_prompts_get},
};

json_t *dsb_mcp_dispatch(const struct dsb_mcp_call *c, const char *method,
                         json_t *params, struct dsb_mcp_err *e)
{
    for (size_t i = 0; i < sizeof(methods) / sizeof(*methods); i++)
        if (strcmp(method, methods[i].name) == 0) {
            json_t *res = methods[i].fn(c, params, e);
            return c->modern ? modern_result(method, res) : res;
        }
    dsb_mcp_err_set(e, DSB_RPC_METHOD_NOT_FOUND, "method not found: %.64s",
                    method);
    return NULL;
}
