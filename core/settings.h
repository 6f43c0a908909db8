/* broker.yaml bound once into typed settings, at load and at each reload:
 * nothing on a request path looks a key up by string. */
#ifndef DSB_CORE_SETTINGS_H
#define DSB_CORE_SETTINGS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* Scopes a principal may hold (docs/http-api.md, "Scopes"). */
enum dsb_scope {
    DSB_SCOPE_READ = 1u << 0,     /* sources, browse, describe, search */
    DSB_SCOPE_SESSIONS = 1u << 1, /* create and use own sessions */
    DSB_SCOPE_CONTEXT = 1u << 2,  /* build a session's Spark context */
    DSB_SCOPE_JOBS = 1u << 3,     /* submit and cancel own jobs */
    DSB_SCOPE_ADMIN = 1u << 4,    /* refresh, reload, everybody's state;
                                   * implies every other scope */
};
#define DSB_SCOPES_ALL 0x1fu
#define DSB_SCOPES_COUNT 5

/* MCP tool groups an operator may disable (broker.yaml
 * mcp.disabled_tool_groups; docs/mcp.md). */
enum dsb_mcp_group {
    DSB_MCP_GROUP_SOURCES = 1u
                            << 0, /* list_sources, browse, search, describe */
    DSB_MCP_GROUP_SESSIONS = 1u << 1, /* create_session, select, get_session */
    DSB_MCP_GROUP_CONTEXT = 1u << 2,  /* get_spark_context */
    DSB_MCP_GROUP_JOBS = 1u << 3,     /* plan_job, submit_job, get_job, ... */
};
#define DSB_MCP_GROUPS_COUNT 4
/* "sources", "sessions", ... of one group bit; NULL for none. */
const char *dsb_mcp_group_name(unsigned group);
/* The bit of a group name; 0 when unknown. */
unsigned dsb_mcp_group_parse(const char *name);

/* "read", "sessions", ... of one scope bit; NULL for none. */
const char *dsb_scope_name(unsigned scope);
/* The bit of a scope name; 0 when unknown. */
unsigned dsb_scope_parse(const char *name);

/* One accepted bearer token (strings owned by the settings). */
struct dsb_token_conf {
    char *name;
    char *ref; /* secret reference of its value */
    unsigned scopes;
    char **sources; /* the sources it may use; NULL: all */
    size_t n_sources;
};

struct dsb_allow_rule;

struct dsb_cache_ttl {
    char *source;
    int64_t ttl_ms;
};

struct dsb_settings {
    int64_t cache_ttl_ms, cache_error_ttl_ms;
    size_t cache_max_entries;
    struct dsb_cache_ttl *cache_ttls;
    size_t n_cache_ttls;
    int64_t secrets_ttl_ms;
    int auth_enabled, open_health;
    unsigned anonymous_scopes; /* the principal of a request without auth */
    struct dsb_token_conf *tokens;
    size_t n_tokens;
    char **cors_origins;
    size_t n_cors_origins;
    int cors_any; /* "*" is listed */
    size_t max_body_bytes, max_header_bytes;
    unsigned max_connections, max_connections_per_ip;
    unsigned connection_timeout_s, receive_timeout_s, threads, call_threads;
    int64_t shutdown_grace_ms, plugin_timeout_ms;
    int64_t session_idle_ms;
    /* the state store: state.store postgresql, else SQLite in state_dir */
    int state_pg;
    char *state_url;          /* libpq conninfo without password; or NULL */
    char *state_password_ref; /* secret reference; or NULL */
    char *state_replica_id;   /* state.replica_id; NULL: made at start */
    int64_t state_lease_ms;   /* state.lease_seconds, in ms */
    /* jobs: per principal, on every executor together */
    long jobs_max_running_per_principal, jobs_max_queued_per_principal;
    unsigned jobs_retry_after_s; /* Retry-After of a full queue's 429 */
    /* the MCP server (docs/mcp.md) */
    int mcp_enabled;
    size_t mcp_max_result_bytes;  /* a tools/call answer's budget */
    unsigned mcp_disabled_groups; /* DSB_MCP_GROUP_* */
    int64_t mcp_session_idle_ms;  /* a legacy transport session's life */
    size_t mcp_max_sessions;
    /* the prompt of a Spark context (core/context.c) */
    size_t context_max_prompt_chars, context_max_table_prompt_chars;
    /* sources managed at run time: where they may point (NULL: no list,
     * anywhere but metadata addresses) and where their secrets go */
    struct dsb_allow_rule *allowed_hosts;
    size_t n_allowed_hosts;
    int secrets_store_aws; /* secrets.store: aws-sm (else file) */
    /* compatibility routes */
    char *compat_uploads_source;      /* NULL: CSV uploads are off */
    char *compat_connections_network; /* NULL: the plugin's default */
    size_t compat_max_upload_bytes;
};

/* Binds a validated broker.yaml object (borrowed) into s.  -1 when memory
 * is exhausted (s is then freed and zeroed). */
int dsb_settings_bind(struct dsb_settings *s, const json_t *broker);
void dsb_settings_free(struct dsb_settings *s);

#endif
