#include "settings.h"

#include <stdlib.h>
#include <string.h>

#include "allowlist.h"

static const char *const scope_names[DSB_SCOPES_COUNT] = {
    "read", "sessions", "context", "jobs", "admin"};

const char *dsb_scope_name(unsigned scope)
{
    for (unsigned i = 0; i < DSB_SCOPES_COUNT; i++)
        if (scope == 1u << i)
            return scope_names[i];
    return NULL;
}

unsigned dsb_scope_parse(const char *name)
{
    for (unsigned i = 0; name && i < DSB_SCOPES_COUNT; i++)
        if (strcmp(name, scope_names[i]) == 0)
            return 1u << i;
    return 0;
}

static const char *const group_names[DSB_MCP_GROUPS_COUNT] = {
    "sources", "sessions", "context", "jobs"};

const char *dsb_mcp_group_name(unsigned group)
{
    for (unsigned i = 0; i < DSB_MCP_GROUPS_COUNT; i++)
        if (group == 1u << i)
            return group_names[i];
    return NULL;
}

unsigned dsb_mcp_group_parse(const char *name)
{
    for (unsigned i = 0; name && i < DSB_MCP_GROUPS_COUNT; i++)
        if (strcmp(name, group_names[i]) == 0)
            return 1u << i;
    return 0;
}

static const json_t *sec(const json_t *broker, const char *name)
{
    return json_object_get(broker, name);
}

static long long num(const json_t *section, const char *key)
{
    return json_integer_value(json_object_get(section, key));
}

/* A string list as a malloc'd array of copies; -1 on exhaustion. */
static int strings(const json_t *list, char ***out, size_t *n)
{
    const json_t *v;
    size_t i;

    *out = NULL;
    *n = 0;
    if (!json_is_array(list))
        return 0;
    *out = calloc(json_array_size(list) + 1, sizeof(**out));
    if (!*out)
        return -1;
    json_array_foreach(list, i, v)
    {
        if (!((*out)[i] = strdup(json_string_value(v))))
            return -1;
        (*n)++;
    }
    return 0;
}

static void strings_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static unsigned scopes_of(const json_t *list)
{
    const json_t *v;
    unsigned bits = 0;
    size_t i;

    json_array_foreach(list, i, v) bits |=
        dsb_scope_parse(json_string_value(v));
    return bits & DSB_SCOPE_ADMIN ? DSB_SCOPES_ALL : bits;
}

static int bind_tokens(struct dsb_settings *s, const json_t *auth)
{
    const json_t *list = json_object_get(auth, "tokens"), *t;
    size_t i;

    s->tokens = calloc(json_array_size(list) + 1, sizeof(*s->tokens));
    if (!s->tokens)
        return -1;
    json_array_foreach(list, i, t)
    {
        struct dsb_token_conf *k = &s->tokens[i];
        s->n_tokens++;
        k->name = strdup(json_string_value(json_object_get(t, "name")));
        k->ref = strdup(json_string_value(json_object_get(t, "token")));
        k->scopes = scopes_of(json_object_get(t, "scopes"));
        if (!k->name || !k->ref ||
            strings(json_object_get(t, "sources"), &k->sources, &k->n_sources) <
                0)
            return -1;
    }
    return 0;
}

static int bind_cache(struct dsb_settings *s, const json_t *cache)
{
    const json_t *list = json_object_get(cache, "sources"), *o;
    size_t i;

    s->cache_ttl_ms = num(cache, "ttl_seconds") * 1000;
    s->cache_error_ttl_ms = num(cache, "error_ttl_seconds") * 1000;
    s->cache_max_entries = (size_t)num(cache, "max_entries");
    s->cache_ttls = calloc(json_array_size(list) + 1, sizeof(*s->cache_ttls));
    if (!s->cache_ttls)
        return -1;
    json_array_foreach(list, i, o)
    {
        s->cache_ttls[i].ttl_ms = num(o, "ttl_seconds") * 1000;
        s->cache_ttls[i].source =
            strdup(json_string_value(json_object_get(o, "source")));
        s->n_cache_ttls++;
        if (!s->cache_ttls[i].source)
            return -1;
    }
    return 0;
}

static void bind_limits(struct dsb_settings *s, const json_t *lim)
{
    s->max_body_bytes = (size_t)num(lim, "max_body_bytes");
    s->max_header_bytes = (size_t)num(lim, "max_header_bytes");
    s->max_connections = (unsigned)num(lim, "max_connections");
    s->max_connections_per_ip = (unsigned)num(lim, "max_connections_per_ip");
    s->connection_timeout_s = (unsigned)num(lim, "connection_timeout_seconds");
    s->receive_timeout_s = (unsigned)num(lim, "receive_timeout_seconds");
    s->threads = (unsigned)num(lim, "threads");
    s->call_threads = (unsigned)num(lim, "call_threads");
    s->shutdown_grace_ms = num(lim, "shutdown_grace_seconds") * 1000;
    s->plugin_timeout_ms = num(lim, "plugin_timeout_ms");
}

static void bind_jobs(struct dsb_settings *s, const json_t *jobs)
{
    s->jobs_max_running_per_principal =
        (long)num(jobs, "max_running_per_principal");
    s->jobs_max_queued_per_principal =
        (long)num(jobs, "max_queued_per_principal");
    s->jobs_retry_after_s = (unsigned)num(jobs, "retry_after_seconds");
}

static void bind_mcp(struct dsb_settings *s, const json_t *mcp)
{
    const json_t *v;
    size_t i;

    s->mcp_enabled = json_is_true(json_object_get(mcp, "enabled"));
    s->mcp_max_result_bytes = (size_t)num(mcp, "max_result_bytes");
    s->mcp_session_idle_ms = num(mcp, "session_idle_seconds") * 1000;
    s->mcp_max_sessions = (size_t)num(mcp, "max_sessions");
    json_array_foreach(json_object_get(mcp, "disabled_tool_groups"), i, v)
        s->mcp_disabled_groups |= dsb_mcp_group_parse(json_string_value(v));
}

/* sources.allowed_hosts (rules that do not parse are config errors,
 * reported by core/config.c, and left out here). */
static int bind_allowed_hosts(struct dsb_settings *s, const json_t *sources)
{
    const json_t *list = json_object_get(sources, "allowed_hosts"), *v;
    char why[512];
    size_t i;

    if (!json_is_array(list))
        return 0;
    s->allowed_hosts =
        calloc(json_array_size(list) + 1, sizeof(*s->allowed_hosts));
    if (!s->allowed_hosts)
        return -1;
    json_array_foreach(list, i, v)
    {
        struct dsb_allow_rule *rule = &s->allowed_hosts[s->n_allowed_hosts];

        if (dsb_allow_parse(json_string_value(v), rule, why, sizeof(why)) == 0)
            s->n_allowed_hosts++;
    }
    return 0;
}

static int bind_compat(struct dsb_settings *s, const json_t *compat)
{
    const char *up =
        json_string_value(json_object_get(compat, "uploads_source"));

    const char *net =
        json_string_value(json_object_get(compat, "connections_network"));

    s->compat_max_upload_bytes = (size_t)num(compat, "max_upload_bytes");
    s->compat_uploads_source = up ? strdup(up) : NULL;
    s->compat_connections_network = net ? strdup(net) : NULL;
    return (up && !s->compat_uploads_source) ||
                   (net && !s->compat_connections_network)
               ? -1
               : 0;
}

/* sessions.idle_expiry_seconds, else idle_expiry_hours, in ms. */
static int64_t idle_ms(const json_t *sessions)
{
    long long secs = num(sessions, "idle_expiry_seconds");

    if (secs <= 0)
        secs = num(sessions, "idle_expiry_hours") * 3600;
    return (int64_t)secs * 1000;
}

/* A copy of string option key of obj into *out (NULL when absent); -1
 * when memory is exhausted. */
static int opt_dup(const json_t *obj, const char *key, char **out)
{
    const char *v = json_string_value(json_object_get(obj, key));

    *out = v ? strdup(v) : NULL;
    return v && !*out ? -1 : 0;
}

static int bind_state(struct dsb_settings *s, const json_t *state)
{
    const char *store = json_string_value(json_object_get(state, "store"));

    s->state_pg = store && strcmp(store, "postgresql") == 0;
    s->state_lease_ms = num(state, "lease_seconds") * 1000;
    if (opt_dup(state, "url", &s->state_url) < 0 ||
        opt_dup(state, "password", &s->state_password_ref) < 0 ||
        opt_dup(state, "replica_id", &s->state_replica_id) < 0)
        return -1;
    return 0;
}

int dsb_settings_bind(struct dsb_settings *s, const json_t *broker)
{
    const json_t *auth = sec(broker, "auth");
    const char *store;

    memset(s, 0, sizeof(*s));
    s->secrets_ttl_ms = num(sec(broker, "secrets"), "ttl_seconds") * 1000;
    store = json_string_value(json_object_get(sec(broker, "secrets"), "store"));
    s->secrets_store_aws = store && strcmp(store, "aws-sm") == 0;
    s->auth_enabled = json_is_true(json_object_get(auth, "enabled"));
    s->open_health = json_is_true(json_object_get(auth, "open_health"));
    s->anonymous_scopes = scopes_of(json_object_get(auth, "anonymous_scopes"));
    bind_limits(s, sec(broker, "limits"));
    s->session_idle_ms = idle_ms(sec(broker, "sessions"));
    if (bind_state(s, sec(broker, "state")) < 0) {
        dsb_settings_free(s);
        return -1;
    }
    bind_jobs(s, sec(broker, "jobs"));
    bind_mcp(s, sec(broker, "mcp"));
    s->context_max_prompt_chars =
        (size_t)num(sec(broker, "context"), "max_prompt_chars");
    s->context_max_table_prompt_chars =
        (size_t)num(sec(broker, "context"), "max_table_prompt_chars");
    if (bind_cache(s, sec(broker, "cache")) < 0 || bind_tokens(s, auth) < 0 ||
        bind_compat(s, sec(broker, "compat")) < 0 ||
        bind_allowed_hosts(s, sec(broker, "sources")) < 0 ||
        strings(json_object_get(sec(broker, "cors"), "allowed_origins"),
                &s->cors_origins, &s->n_cors_origins) < 0) {
        dsb_settings_free(s);
        return -1;
    }
    for (size_t i = 0; i < s->n_cors_origins; i++)
        s->cors_any |= strcmp(s->cors_origins[i], "*") == 0;
    return 0;
}

void dsb_settings_free(struct dsb_settings *s)
{
    for (size_t i = 0; s->tokens && i < s->n_tokens; i++) {
        free(s->tokens[i].name);
        free(s->tokens[i].ref);
        strings_free(s->tokens[i].sources, s->tokens[i].n_sources);
    }
    free(s->tokens);
    for (size_t i = 0; s->cache_ttls && i < s->n_cache_ttls; i++)
        free(s->cache_ttls[i].source);
    free(s->cache_ttls);
    strings_free(s->cors_origins, s->n_cors_origins);
    free(s->compat_uploads_source);
    free(s->state_url);
    free(s->state_password_ref);
    free(s->state_replica_id);
    free(s->compat_connections_network);
    free(s->allowed_hosts);
    memset(s, 0, sizeof(*s));
}
