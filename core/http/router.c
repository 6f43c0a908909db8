/* The route table (docs/openapi.yaml is checked against it) and matching. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

#define H DSB_ROUTE_HEALTH
#define B DSB_ROUTE_BODY
#define M DSB_ROUTE_MCP
#define U (DSB_ROUTE_BODY | DSB_ROUTE_UPLOAD)
#define S DSB_ROUTE_STATIC

const struct dsb_http_route dsb_routes[] = {
    {"GET", "/healthz", dsb_h_healthz, H, "liveness", NULL},
    {"GET", "/readyz", dsb_h_readyz, H, "readiness", NULL},
    {"GET", "/metrics", dsb_h_metrics, H, "Prometheus metrics", NULL},
    {"GET", "/ui", dsb_h_console, S, "the web console (docs/console.md)", NULL},
    {"GET", "/ui/{asset}", dsb_h_console, S,
     "an asset of the web console (hashed names: immutable)", NULL},
    {"GET", "/v1/whoami", dsb_h_whoami, DSB_ROUTE_SELF_AUTH,
     "the caller: token name, scopes, sources it may use (no token: "
     "whether one is needed)",
     NULL},
    {"GET", "/v1/sources", dsb_h_sources, 0, "list sources", NULL},
    {"POST", "/v1/sources", dsb_h_source_create, B,
     "create a managed source (admin)", NULL},
    {"POST", "/v1/sources/test", dsb_h_source_test, B,
     "open and check a candidate source without saving it (admin)", NULL},
    {"GET", "/v1/sources/{src}", dsb_h_source, 0, "one source with health",
     NULL},
    {"PUT", "/v1/sources/{src}", dsb_h_source_update, B,
     "replace a managed source (admin; If-Match)", NULL},
    {"DELETE", "/v1/sources/{src}", dsb_h_source_delete, 0,
     "remove a managed source (admin; If-Match)", NULL},
    {"POST", "/v1/sources/{src}/check", dsb_h_source_check, 0,
     "test the source's connection", NULL},
    {"POST", "/v1/sources/{src}/refresh", dsb_h_source_refresh, 0,
     "flush the source's cached metadata", NULL},
    {"GET", "/v1/sources/{src}/databases", dsb_h_databases, 0, "list databases",
     dsb_key_databases},
    {"GET", "/v1/sources/{src}/databases/{db}/schemas", dsb_h_schemas, 0,
     "list schemas", dsb_key_schemas},
    {"GET", "/v1/sources/{src}/databases/{db}/schemas/{schema}/tables",
     dsb_h_tables, 0, "list tables with columns (paged, filtered)",
     dsb_key_tables},
    {"GET", "/v1/sources/{src}/databases/{db}/schemas/{schema}/tables/{table}",
     dsb_h_table, 0, "describe one table", dsb_key_table},
    {"GET", "/v1/search", dsb_h_search, 0,
     "tables whose name or comment matches q, over what has been listed", NULL},
    {"POST", "/v1/reload", dsb_h_reload, 0,
     "load conf.d again (as SIGHUP; admin)", NULL},
    {"GET", "/v1/plugins", dsb_h_plugins, 0, "list loaded plugins", NULL},
    {"GET", "/v1/plugins/{name}/schema", dsb_h_plugin_schema, 0,
     "a plugin's options as JSON Schema", NULL},
    {"GET", "/v1/executors", dsb_h_executors, 0,
     "executors: networks, isolation, network policy, user", NULL},
    {"POST", "/v1/sessions", dsb_h_session_create, 0, "create a session", NULL},
    {"GET", "/v1/sessions", dsb_h_sessions_list, 0,
     "the caller's sessions (an admin's: everybody's)", NULL},
    {"GET", "/v1/sessions/{id}", dsb_h_session_get, 0, "one session", NULL},
    {"DELETE", "/v1/sessions/{id}", dsb_h_session_delete, 0, "delete a session",
     NULL},
    {"GET", "/v1/sessions/{id}/selections", dsb_h_selections_get, 0,
     "selected tables", NULL},
    {"POST", "/v1/sessions/{id}/selections", dsb_h_selections_add, B,
     "select tables", NULL},
    {"DELETE", "/v1/sessions/{id}/selections/{selection}",
     dsb_h_selection_delete, 0, "unselect one table", NULL},
    {"GET", "/v1/sessions/{id}/context", dsb_h_context, 0,
     "Spark context of the session", NULL},
    {"POST", "/v1/sessions/{id}/context/verify", dsb_h_verify_start, 0,
     "verify the context's reads on its executor (a job; 202)", NULL},
    {"GET", "/v1/sessions/{id}/context/verify", dsb_h_verify_get, 0,
     "the latest verification of the session's current context", NULL},
    {"GET", "/v1/sessions/{id}/route", dsb_h_plan, 0,
     "where a job of the session would run, and why", NULL},
    {"POST", "/v1/sessions/{id}/jobs", dsb_h_job_submit, B,
     "submit a job routed by the session's context", NULL},
    {"GET", "/v1/sessions/{id}/jobs", dsb_h_session_jobs, 0,
     "jobs of the session, newest first", NULL},
    {"GET", "/v1/jobs/{id}", dsb_h_job_get, 0, "one job", NULL},
    {"DELETE", "/v1/jobs/{id}", dsb_h_job_cancel, 0, "cancel a job", NULL},
    {"GET", "/v1/jobs/{id}/logs", dsb_h_job_logs, 0,
     "tail of a job's logs (?lines=)", NULL},
    {"GET", "/v1/jobs/{id}/result", dsb_h_job_result, 0,
     "first rows of a succeeded job's output (?limit=)", NULL},
    {"GET", "/postgres/connections", dsb_h_compat_pg_connections, 0,
     "compat: postgres sources", NULL},
    {"POST", "/postgres/connections", dsb_h_compat_pg_connection_save, B,
     "compat: create or update a managed postgres source (admin)", NULL},
    {"POST", "/postgres/test-connection", dsb_h_compat_pg_test, B,
     "compat: open and check a postgres candidate (admin)", NULL},
    {"GET", "/postgres/{conn}/databases", dsb_h_compat_pg_databases, 0,
     "compat: databases of a postgres source", NULL},
    {"GET", "/postgres/{conn}/schemas/{db}", dsb_h_compat_pg_schemas, 0,
     "compat: schemas", NULL},
    {"GET", "/postgres/{conn}/tables/{db}/{schema}", dsb_h_compat_pg_tables, 0,
     "compat: tables with columns", NULL},
    {"POST", "/sessions/{id}/select-postgres-tables", dsb_h_compat_pg_select, B,
     "compat: select postgres tables", NULL},
    {"GET", "/glue/databases", dsb_h_compat_glue_databases, 0,
     "compat: Glue databases", NULL},
    {"GET", "/glue/tables/{db}", dsb_h_compat_glue_tables, 0,
     "compat: Glue tables", NULL},
    {"POST", "/sessions/{id}/select-tables", dsb_h_compat_glue_select, B,
     "compat: select Glue tables", NULL},
    {"POST", "/mcp", dsb_h_mcp_post, B | M,
     "MCP Streamable HTTP: one JSON-RPC message (docs/mcp.md)", NULL},
    {"GET", "/mcp", dsb_h_mcp_get, M, "MCP: no GET stream (405)", NULL},
    {"DELETE", "/mcp", dsb_h_mcp_delete, M,
     "MCP: end a transport session (2025 revisions)", NULL},
    {"GET", "/.well-known/oauth-protected-resource", dsb_h_mcp_metadata, M,
     "RFC 9728 protected resource metadata of /mcp", NULL},
    {"GET", "/.well-known/oauth-protected-resource/mcp", dsb_h_mcp_metadata, M,
     "RFC 9728 protected resource metadata of /mcp (path form)", NULL},
    {"POST", "/sessions/{id}/reset", dsb_h_compat_reset, 0,
     "compat: unselect every table of the session", NULL},
    {"POST", "/upload-csv", dsb_h_compat_upload_csv, U,
     "compat: store a CSV as a table of the uploads source, selected", NULL},
    {"POST", "/spark/upload-csv", dsb_h_compat_spark_upload_csv, U,
     "compat: the same, in the Spark flow's answer shape", NULL},
    {"GET", "/spark/status", dsb_h_compat_spark_status, 0,
     "compat: executor states as the frontend's status badges", NULL},
    {"GET", "/health", dsb_h_compat_health, H, "compat: liveness", NULL},
    {NULL, NULL, NULL, 0, NULL, NULL}};

_Static_assert(sizeof(dsb_routes) / sizeof(*dsb_routes) - 1 <= DSB_MAX_ROUTES,
               "more routes than DSB_MAX_ROUTES: raise it in http.h");

size_t dsb_routes_count(void)
{
    return sizeof(dsb_routes) / sizeof(*dsb_routes) - 1;
}

int dsb_route_takes_upload(const char *url)
{
    size_t n = strcspn(url, "?");

    for (const struct dsb_http_route *rt = dsb_routes; rt->method; rt++)
        if ((rt->flags & DSB_ROUTE_UPLOAD) && strlen(rt->pattern) == n &&
            strncmp(rt->pattern, url, n) == 0)
            return 1;
    return 0;
}

int dsb_route_compat_path(char *const *segs, size_t n)
{
    static const char *const prefixes[] = {
        "postgres", "glue", "sessions", "spark", "health", "upload-csv", NULL};

    for (size_t i = 0; n > 0 && prefixes[i]; i++)
        if (strcmp(segs[0], prefixes[i]) == 0)
            return 1;
    return 0;
}

void dsb_http_routes_print(FILE *out)
{
    for (const struct dsb_http_route *rt = dsb_routes; rt->method; rt++)
        fprintf(out, "%-7s %-66s %s\n", rt->method, rt->pattern, rt->summary);
}

/* The route table's patterns split once: a request compares segment
 * counts first and only the few patterns of its length segment by segment. */
#define MAX_PATTERN_SEGS 16
struct compiled {
    size_t n;
    const char *seg[MAX_PATTERN_SEGS]; /* NULL: a {param} */
    size_t len[MAX_PATTERN_SEGS];
};
static struct compiled compiled[sizeof(dsb_routes) / sizeof(*dsb_routes)];
static pthread_once_t compiled_once = PTHREAD_ONCE_INIT;

static void compile_routes(void)
{
    for (size_t r = 0; dsb_routes[r].method; r++) {
        struct compiled *c = &compiled[r];
        for (const char *p = dsb_routes[r].pattern; *p == '/';) {
            size_t len = strcspn(p + 1, "/");
            if (c->n < MAX_PATTERN_SEGS) {
                c->seg[c->n] = p[1] == '{' ? NULL : p + 1;
                c->len[c->n++] = len;
            }
            p += len + 1;
        }
    }
}

/* Compares one pattern with the segments; params get the {..} values.
 * Returns 0, or 1 + the number of literal segments (a path that a pattern
 * spells out belongs to it: /v1/sources/test is not /v1/sources/{src}). */
static int pattern_match(const struct compiled *c, char *const *segs, size_t n,
                         const char **params)
{
    size_t k = 0;
    int literal = 1;

    if (c->n != n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (!c->seg[i]) {
            if (k < DSB_MAX_PARAMS)
                params[k++] = segs[i];
        } else if (strncmp(segs[i], c->seg[i], c->len[i]) != 0 ||
                   segs[i][c->len[i]] != '\0') {
            return 0;
        } else {
            literal++;
        }
    }
    return literal;
}

static void allow_add(char *allow, size_t cap, const char *method)
{
    size_t n = strlen(allow);

    if (strstr(allow, method))
        return;
    snprintf(allow + n, cap - n, "%s%s", n ? ", " : "", method);
}

enum dsb_match dsb_router_match(const char *method, char *const *segs, size_t n,
                                const struct dsb_http_route **route,
                                const char **params, char *allow,
                                size_t allow_cap)
{
    const char *p[DSB_MAX_PARAMS] = {0};
    int path_seen = 0, best = 0;

    allow[0] = '\0';
    pthread_once(&compiled_once, compile_routes);
    for (const struct dsb_http_route *rt = dsb_routes; rt->method; rt++) {
        int m = pattern_match(&compiled[rt - dsb_routes], segs, n, p);
        best = m > best ? m : best;
    }
    for (const struct dsb_http_route *rt = dsb_routes; rt->method; rt++) {
        if (!best ||
            pattern_match(&compiled[rt - dsb_routes], segs, n, p) != best)
            continue;
        path_seen = 1;
        allow_add(allow, allow_cap, rt->method);
        if (strcmp(rt->method, method) == 0 ||
            (strcmp(method, "HEAD") == 0 && strcmp(rt->method, "GET") == 0)) {
            *route = rt;
            memcpy(params, p, sizeof(p));
            return DSB_MATCH_OK;
        }
    }
    if (path_seen)
        allow_add(allow, allow_cap, "OPTIONS");
    return path_seen ? DSB_MATCH_NO_METHOD : DSB_MATCH_NO_PATH;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Valid UTF-8 (no overlongs, no surrogates). */
static int utf8_ok(const unsigned char *s, size_t n)
{
    size_t i = 0;

    while (i < n) {
        unsigned c = s[i], len = c < 0x80         ? 1
                                 : (c >> 5) == 6  ? 2
                                 : (c >> 4) == 14 ? 3
                                 : (c >> 3) == 30 ? 4
                                                  : 0;
        unsigned cp = len == 1   ? c
                      : len == 2 ? c & 0x1f
                      : len == 3 ? c & 0x0f
                                 : c & 0x07;
        if (!len || i + len > n)
            return 0;
        for (unsigned k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
            (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += len;
    }
    return 1;
}

/* Decodes %XX (and '+' when plus) in place; -1 when malformed. */
static int pct_decode(char *s, int plus)
{
    char *w = s;
    const char *r = s;

    while (*r) {
        if (*r == '%') {
            int hi = hexval(r[1]), lo = hi < 0 ? -1 : hexval(r[2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                return -1;
            *w++ = (char)(hi << 4 | lo);
            r += 3;
        } else {
            *w++ = plus && *r == '+' ? ' ' : *r;
            r++;
        }
    }
    *w = '\0';
    return utf8_ok((const unsigned char *)s, (size_t)(w - s)) ? 0 : -1;
}

int dsb_query_decode(char *s)
{
    return pct_decode(s, 1);
}

void dsb_path_free(char **segs, size_t n)
{
    (void)n; /* one block: the array, then the decoded segments */
    free(segs);
}

int dsb_path_split(const char *path, char ***segs, size_t *n)
{
    size_t cap = 1, k = 0, len = strcspn(path, "?");
    char **out, *text;

    for (const char *p = path; p < path + len; p++)
        cap += *p == '/';
    *segs = NULL;
    *n = 0;
    if (path[0] != '/' || !(out = malloc(cap * sizeof(*out) + len + 1)))
        return -1;
    text = (char *)(out + cap);
    memcpy(text, path, len);
    text[len] = '\0';
    for (char *p = text + 1; *p;) {
        size_t seg = strcspn(p, "/");
        int last = p[seg] == '\0';
        p[seg] = '\0';
        out[k++] = p;
        if (pct_decode(p, 0) < 0 || !*p) {
            free(out);
            return -1;
        }
        if (last)
            break;
        p += seg + 1;
    }
    *segs = out;
    *n = k;
    return 0;
}
