/* MCP resources: dsbroker://sources and the templates of a table, a
 * session's context and reads, a job's log; each read is one service
 * operation, as the tools are. */
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#include "mcp/mcp.h"
#include "util.h"

#define SCHEME "dsbroker://"
#define MAX_SEGS 5

static const struct {
    const char *uri, *name, *title, *mime, *description;
} templates[] = {
    {SCHEME "table/{source}/{database}/{schema}/{table}", "table", "A table",
     "application/json",
     "one table with every column, as describe_table answers it"},
    {SCHEME "session/{id}/context.md", "session-context",
     "A session's Spark context", "text/markdown",
     "the prompt section for writing a job over the session's tables"},
    {SCHEME "session/{id}/reads.py", "session-reads", "A session's read code",
     "text/x-python",
     "PySpark that reads every selected table into a DataFrame"},
    {SCHEME "job/{id}/log", "job-log", "A job's log", "text/plain",
     "the last 200 lines of the job's stdout and stderr"},
};

json_t *dsb_mcp_resources_list(const struct dsb_mcp_call *c, json_t *params,
                               struct dsb_mcp_err *e)
{
    (void)c;
    (void)params;
    (void)e;
    return json_pack("{s:[{s:s, s:s, s:s, s:s, s:s}]}", "resources", "uri",
                     SCHEME "sources", "name", "sources", "title",
                     "Data sources", "mimeType", "application/json",
                     "description", "the sources this principal may use");
}

json_t *dsb_mcp_templates_list(const struct dsb_mcp_call *c, json_t *params,
                               struct dsb_mcp_err *e)
{
    json_t *list = json_array();

    (void)c;
    (void)params;
    (void)e;
    for (size_t i = 0; i < sizeof(templates) / sizeof(*templates); i++)
        json_array_append_new(
            list,
            json_pack("{s:s, s:s, s:s, s:s, s:s}", "uriTemplate",
                      templates[i].uri, "name", templates[i].name, "title",
                      templates[i].title, "mimeType", templates[i].mime,
                      "description", templates[i].description));
    return json_pack("{s:o}", "resourceTemplates", list);
}

/* The percent-decoded segments after the scheme (malloc'd, freed by
 * segs_free); -1 when the URI is not one of ours. */
static int split(const char *uri, char **seg, size_t *n)
{
    const char *p = uri + strlen(SCHEME);

    *n = 0;
    if (strncmp(uri, SCHEME, strlen(SCHEME)) != 0)
        return -1;
    while (*p && *n < MAX_SEGS) {
        size_t len = strcspn(p, "/");
        int out = 0;
        char *v = curl_easy_unescape(NULL, p, (int)len, &out);
        if (!v || out == 0 || memchr(v, '\0', (size_t)out)) {
            curl_free(v);
            return -1;
        }
        seg[(*n)++] = v;
        p += len + (p[len] == '/');
    }
    return *p ? -1 : 0;
}

static void segs_free(char **seg, size_t n)
{
    for (size_t i = 0; i < n; i++)
        curl_free(seg[i]);
}

static int is(char **seg, size_t n, size_t want, const char *first,
              const char *last)
{
    return n == want && strcmp(seg[0], first) == 0 &&
           (!last || strcmp(seg[n - 1], last) == 0);
}

static char *json_text(json_t *doc)
{
    char *s = doc ? json_dumps(doc, JSON_COMPACT | JSON_INDENT(1)) : NULL;

    json_decref(doc);
    return s;
}

static char *context_member(const struct dsb_ctx *ctx, const char *session,
                            const char *member, struct dsb_error *err)
{
    int hit;
    const struct dsb_cached *v = dsb_svc_context(ctx, session, NULL, &hit, err);
    char *s = NULL;

    if (!v)
        return NULL;
    if (v->doc)
        s = strdup(json_string_value(json_object_get(v->doc, member)));
    else
        *err = v->err;
    dsb_svc_release(ctx, v);
    return s;
}

static char *table_text(const struct dsb_ctx *ctx, char **seg,
                        struct dsb_error *err)
{
    struct dsb_browse b = {
        DSB_SLOT_DESCRIBE_TABLE, seg[1], seg[2], seg[3], seg[4], NULL, NULL, 0};
    int hit;
    const struct dsb_cached *v = dsb_svc_browse(ctx, &b, &hit, err);
    char *s = NULL;

    if (!v)
        return NULL;
    if (v->doc)
        s = strndup(v->body, v->len);
    else
        *err = v->err;
    dsb_svc_release(ctx, v);
    return s;
}

static const char *str_or_empty(const json_t *v)
{
    return json_is_string(v) ? json_string_value(v) : "";
}

static char *log_text(const struct dsb_ctx *ctx, const char *job,
                      struct dsb_error *err)
{
    json_t *logs = NULL;
    char *s;

    if (dsb_svc_job_logs(ctx, job, 200, &logs, err) < 0)
        return NULL;
    s = dsb_asprintf("== stdout ==\n%s\n== stderr ==\n%s\n",
                     str_or_empty(json_object_get(logs, "stdout")),
                     str_or_empty(json_object_get(logs, "stderr")));
    json_decref(logs);
    return s;
}

/* The text of a resource and its MIME type; NULL with err set. */
static char *read_text(const struct dsb_ctx *ctx, char **seg, size_t n,
                       const char **mime, struct dsb_error *err)
{
    json_t *doc = NULL;

    *mime = "application/json";
    if (is(seg, n, 1, "sources", NULL))
        return dsb_svc_sources(ctx, &doc, err) == 0 ? json_text(doc) : NULL;
    if (is(seg, n, 5, "table", NULL))
        return table_text(ctx, seg, err);
    if (is(seg, n, 3, "session", "context.md")) {
        *mime = "text/markdown";
        return context_member(ctx, seg[1], "prompt", err);
    }
    if (is(seg, n, 3, "session", "reads.py")) {
        *mime = "text/x-python";
        return context_member(ctx, seg[1], "code", err);
    }
    if (is(seg, n, 3, "job", "log")) {
        *mime = "text/plain";
        return log_text(ctx, seg[1], err);
    }
    dsb_error_set(err, DSB_E_NOT_FOUND, "no such resource");
    return NULL;
}

/* Not found: -32002 before 2026-07-28, -32602 since; a missing scope is
 * the front door's 403. */
static void read_error(const struct dsb_mcp_call *c, const char *uri,
                       const struct dsb_error *err, struct dsb_mcp_err *e)
{
    int nf = err->code == DSB_E_NOT_FOUND;

    dsb_mcp_err_set(e,
                    nf && !c->modern ? DSB_RPC_RESOURCE_NOT_FOUND
                                     : DSB_RPC_INVALID_PARAMS,
                    "%s", nf ? "resource not found" : err->message);
    e->data = json_pack("{s:s, s:s}", "uri", uri, "reason", err->message);
    dsb_mcp_err_scope(e, err);
}

/* The byte offset of a page: the query "cursor=C" of a URI that a cut
 * resource named for its rest; 0 without a query, -1 when not one. */
static long long page_offset(const char *query)
{
    int n = 0;
    char *v = NULL;
    json_t *st = NULL, *o;
    long long off = -1;

    if (!query)
        return 0;
    if (strncmp(query, "cursor=", 7) == 0)
        v = curl_easy_unescape(NULL, query + 7, 0, &n);
    st = v && n > 0 ? dsb_mcp_cursor_read(v) : NULL;
    o = json_object_get(st, "o");
    if (json_is_integer(o) && json_integer_value(o) >= 0)
        off = json_integer_value(o);
    curl_free(v);
    json_decref(st);
    return off;
}

/* The page of text within the budget: {contents: [{uri, mimeType, text}]}
 * and, when cut, _meta naming the URI of the rest (also in the text). */
static json_t *page(const struct dsb_mcp_call *c, const char *uri,
                    const char *base, const char *mime, const char *text,
                    size_t offset)
{
    json_t *one = json_pack("{s:s, s:s, s:s}", "uri", uri, "mimeType", mime,
                            "text", text);
    char *next = NULL;
    json_t *r = NULL;

    if (one && dsb_mcp_budget_marked(one, "text", offset, dsb_mcp_budget_of(c),
                                     base, NULL, &next) == 0)
        r = json_pack("{s:[O]}", "contents", one);
    if (r && next)
        json_object_set_new(r, "_meta",
                            json_pack("{s:b, s:s}", "dsbroker/truncated", 1,
                                      "dsbroker/next_uri", next));
    free(next);
    json_decref(one);
    return r;
}

json_t *dsb_mcp_resources_read(const struct dsb_mcp_call *c, json_t *params,
                               struct dsb_mcp_err *e)
{
    const char *uri = json_string_value(json_object_get(params, "uri"));
    struct dsb_error err = {0};
    char *seg[MAX_SEGS] = {0}, *text = NULL, *base;
    const char *mime = NULL, *q;
    long long offset;
    size_t n = 0;
    json_t *r = NULL;

    if (!uri) {
        dsb_mcp_err_set(e, DSB_RPC_INVALID_PARAMS, "params.uri is missing");
        return NULL;
    }
    q = strchr(uri, '?');
    if ((offset = page_offset(q ? q + 1 : NULL)) < 0) {
        dsb_mcp_err_set(e, DSB_RPC_INVALID_PARAMS,
                        "the URI's cursor is not a cursor of this server");
        e->data = json_pack("{s:s, s:s}", "uri", uri, "reason",
                            "pass the URI of the rest exactly as returned");
        return NULL;
    }
    if (!(base = q ? strndup(uri, (size_t)(q - uri)) : strdup(uri))) {
        dsb_mcp_err_set(e, DSB_RPC_INTERNAL, "out of memory");
        return NULL;
    }
    if (split(base, seg, &n) < 0)
        dsb_error_set(&err, DSB_E_NOT_FOUND, "not a dsbroker:// resource");
    else
        text = read_text(c->ctx, seg, n, &mime, &err);
    segs_free(seg, n);
    if (text && !(r = page(c, uri, base, mime, text, (size_t)offset)))
        dsb_mcp_err_set(e, DSB_RPC_INTERNAL, "out of memory");
    else if (!text)
        read_error(c, uri, &err, e);
    free(text);
    free(base);
    return r;
}
