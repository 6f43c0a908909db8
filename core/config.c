#include "config.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "allowlist.h"
#include "jobs/executor.h"
#include "options.h"
#include "util.h"

static const char *const log_levels[] = {"error", "warn", "info", "debug",
                                         NULL};
static const char *const log_formats[] = {"text", "json", NULL};

static const struct dsb_option cache_source_opts[] = {
    DSB_OPTION_STRING("source", DSB_OPT_REQUIRED, NULL, "source name"),
    DSB_OPTION_INT("ttl_seconds", DSB_OPT_REQUIRED, NULL, 0, 86400,
                   "how long this source's listings stay cached"),
    DSB_OPTION_END};

static const struct dsb_option cache_opts[] = {
    DSB_OPTION_INT("ttl_seconds", 0, "300", 0, 86400,
                   "how long listings stay cached"),
    DSB_OPTION_INT("max_entries", 0, "10000", 1, 10000000,
                   "most cached entries (least recently used go first)"),
    DSB_OPTION_INT("error_ttl_seconds", 0, "5", 0, 3600,
                   "how long a failed listing is remembered (0: not at all)"),
    DSB_OPTION_OBJECT_LIST("sources", 0, "[]", cache_source_opts,
                           "per-source ttl_seconds overrides"),
    DSB_OPTION_END};

static const char *const secret_stores[] = {"file", "aws-sm", NULL};

static const struct dsb_option secrets_opts[] = {
    DSB_OPTION_INT("ttl_seconds", 0, "300", 0, 86400,
                   "how long resolved secret values are cached"),
    DSB_OPTION_ENUM("store", 0, "file", secret_stores,
                    "where secret values given in requests (POST "
                    "/v1/sources) are kept: file (0600 under "
                    "state_dir/secrets) or aws-sm (a new Secrets Manager "
                    "secret)"),
    DSB_OPTION_END};

static const struct dsb_option sources_opts[] = {
    DSB_OPTION_LIST("allowed_hosts", 0, NULL,
                    "where sources created at run time and test-connections "
                    "may point: names (db.example.com, *.example.com), "
                    "addresses or CIDRs (10.0.0.0/8, [fd00::]/8), each "
                    "optionally :port (absent: anywhere but cloud metadata "
                    "addresses)"),
    DSB_OPTION_END};

static const struct dsb_option aws_opts[] = {
    DSB_OPTION_STRING("region", 0, NULL,
                      "default region (else AWS_REGION, "
                      "AWS_DEFAULT_REGION, the profile's region)"),
    DSB_OPTION_STRING("endpoint_url", 0, NULL,
                      "endpoint for every AWS service (emulators, VPC "
                      "endpoints); a source's endpoint_url wins, this beats "
                      "AWS_ENDPOINT_URL_<SERVICE> and AWS_ENDPOINT_URL"),
    DSB_OPTION_STRING("profile", 0, NULL,
                      "shared-config profile (else "
                      "AWS_PROFILE)"),
    DSB_OPTION_INT("connect_timeout_ms", 0, "3000", 100, 60000,
                   "TCP and TLS connect timeout"),
    DSB_OPTION_INT("timeout_ms", 0, "15000", 100, 600000,
                   "total time of one attempt"),
    DSB_OPTION_INT("max_attempts", 0, "3", 1, 10,
                   "attempts per request (AWS standard retry mode)"),
    DSB_OPTION_INT("backoff_base_ms", 0, "1000", 1, 60000,
                   "retry n waits a random time up to base * 2^(n-1)"),
    DSB_OPTION_INT("backoff_cap_ms", 0, "20000", 1, 600000,
                   "longest wait between attempts"),
    DSB_OPTION_END};

static const struct dsb_option token_opts[] = {
    DSB_OPTION_STRING("name", DSB_OPT_REQUIRED, NULL,
                      "who holds the token (shown in logs)"),
    DSB_OPTION_SECRET("token", DSB_OPT_REQUIRED,
                      "reference to the bearer token value"),
    DSB_OPTION_LIST("sources", 0, NULL,
                    "sources the token may use (absent: all)"),
    DSB_OPTION_LIST("scopes", 0, "[read, sessions, context, jobs]",
                    "what the token may do: read, sessions, context, jobs, "
                    "admin (admin implies the others)"),
    DSB_OPTION_END};

static const struct dsb_option auth_opts[] = {
    DSB_OPTION_BOOL("enabled", "false", "require a bearer token"),
    DSB_OPTION_BOOL("open_health", "true",
                    "leave /healthz, /readyz and /metrics open"),
    DSB_OPTION_OBJECT_LIST("tokens", 0, "[]", token_opts,
                           "accepted bearer tokens"),
    DSB_OPTION_LIST("anonymous_scopes", 0, "[admin]",
                    "scopes of a request when auth is off (the embedded "
                    "single-user default: everything)"),
    DSB_OPTION_END};

static const struct dsb_option cors_opts[] = {
    DSB_OPTION_LIST("allowed_origins", 0, "[]",
                    "origins allowed to call the API from a browser"),
    DSB_OPTION_END};

static const struct dsb_option limits_opts[] = {
    DSB_OPTION_INT("max_body_bytes", 0, "1048576", 1024, 1073741824,
                   "largest request body accepted (413 beyond)"),
    DSB_OPTION_INT("max_connections", 0, "512", 1, 100000,
                   "concurrent connections"),
    DSB_OPTION_INT("max_connections_per_ip", 0, "64", 1, 100000,
                   "concurrent connections from one address"),
    DSB_OPTION_INT("connection_timeout_seconds", 0, "30", 1, 3600,
                   "idle connections are closed after this"),
    DSB_OPTION_INT("receive_timeout_seconds", 0, "10", 1, 3600,
                   "a whole request (head and body) must arrive within this "
                   "of the connection's accept or its previous response, "
                   "else the connection is closed"),
    DSB_OPTION_INT("max_header_bytes", 0, "32768", 4096, 1048576,
                   "largest request head (line and headers; 431 beyond)"),
    DSB_OPTION_INT("threads", 0, "2", 1, 256,
                   "HTTP worker threads (they "
                   "parse requests and send responses)"),
    DSB_OPTION_INT("call_threads", 0, "16", 1, 1024,
                   "threads that run the "
                   "handlers (plugin calls, sessions, jobs): that many "
                   "requests are served at once, the rest wait in order"),
    DSB_OPTION_INT("shutdown_grace_seconds", 0, "30", 0, 3600,
                   "on SIGTERM, how long in-flight requests may finish"),
    DSB_OPTION_INT("plugin_timeout_ms", 0, "30000", 100, 600000,
                   "deadline of one plugin call"),
    DSB_OPTION_END};

static const struct dsb_option jobs_opts[] = {
    DSB_OPTION_INT("max_running_per_principal", 0, "8", 1, 100000,
                   "jobs one principal may have running at once, on all "
                   "executors together (more are queued)"),
    DSB_OPTION_INT("max_queued_per_principal", 0, "32", 0, 100000,
                   "jobs one principal may have queued at once (a submit "
                   "beyond is refused with 429)"),
    DSB_OPTION_INT("retry_after_seconds", 0, "30", 1, 86400,
                   "Retry-After of a submit refused because a queue is full"),
    DSB_OPTION_END};

static const struct dsb_option sessions_opts[] = {
    DSB_OPTION_INT("idle_expiry_hours", 0, "168", 1, 87600,
                   "sessions unused this long are deleted"),
    DSB_OPTION_INT("idle_expiry_seconds", 0, NULL, 1, 315360000,
                   "finer idle expiry; when set, replaces "
                   "idle_expiry_hours"),
    DSB_OPTION_END};

static const char *const state_stores[] = {"sqlite", "postgresql", NULL};

static const struct dsb_option state_opts[] = {
    DSB_OPTION_ENUM("store", 0, "sqlite", state_stores,
                    "where sessions and jobs are kept: sqlite (state_dir/"
                    "dsbroker.db) or postgresql (state.url)"),
    DSB_OPTION_STRING("url", 0, NULL,
                      "postgresql: libpq connection string or URI of the "
                      "state database, without the password"),
    DSB_OPTION_SECRET("password", 0,
                      "postgresql: secret reference of the password"),
    DSB_OPTION_STRING("replica_id", 0, NULL,
                      "this broker's name among the replicas sharing the "
                      "state store (1 to 64 of A-Z a-z 0-9 . _ -); default: "
                      "host name, pid and random, a new one at every start"),
    DSB_OPTION_INT("lease_seconds", 0, "15", 2, 600,
                   "how long a replica's hold on the jobs it tracks lasts "
                   "unless renewed (every third of it): a dead replica's "
                   "jobs are taken over after this"),
    DSB_OPTION_END};

static const struct dsb_option mcp_opts[] = {
    DSB_OPTION_BOOL("enabled", "true",
                    "serve the MCP endpoint /mcp (docs/mcp.md)"),
    DSB_OPTION_INT("max_result_bytes", 0, "65536", 4096, 16777216,
                   "largest answer of a tool, resource or prompt: longer "
                   "lists and texts page with a cursor or say truncated"),
    DSB_OPTION_LIST("disabled_tool_groups", 0, "[]",
                    "tool groups not offered: sources, sessions, context, "
                    "jobs"),
    DSB_OPTION_INT("session_idle_seconds", 0, "3600", 1, 604800,
                   "an MCP transport session (protocol 2025-11-25 and "
                   "older) unused this long is gone (404)"),
    DSB_OPTION_INT("max_sessions", 0, "1000", 1, 1000000,
                   "MCP transport sessions at once (an initialize beyond "
                   "drops the least recently used)"),
    DSB_OPTION_END};

static const struct dsb_option context_opts[] = {
    DSB_OPTION_INT("max_prompt_chars", 0, "300000", 2000, 100000000,
                   "largest prompt of a Spark context: past it, tables are "
                   "shown with less detail (samples, statistics, comments, "
                   "snippets, then trailing columns left out, each said "
                   "where); the read specs and the code are never cut"),
    DSB_OPTION_INT("max_table_prompt_chars", 0, "100000", 1000, 100000000,
                   "largest prompt section of one table (cut the same "
                   "way)"),
    DSB_OPTION_END};

static const struct dsb_option console_opts[] = {
    DSB_OPTION_BOOL("enabled", "true",
                    "serve the web console at /ui (docs/console.md)"),
    DSB_OPTION_STRING("dir", 0, NULL,
                      "directory of the console's built assets (relative: "
                      "to conf.d; default: ../share/dsbroker/console beside "
                      "the executable)"),
    DSB_OPTION_END};

static const struct dsb_option compat_opts[] = {
    DSB_OPTION_STRING("uploads_source", 0, NULL,
                      "s3csv source whose first root (a local directory or "
                      "an S3 prefix) stores CSV uploads of the compatibility "
                      "routes, a folder per session (absent: uploads off)"),
    DSB_OPTION_STRING("connections_network", 0, NULL,
                      "network of the sources POST /postgres/connections "
                      "creates (absent: the postgres plugin's default)"),
    DSB_OPTION_INT("max_upload_bytes", 0, "10485760", 1, 1073741824,
                   "largest CSV accepted by /upload-csv and "
                   "/spark/upload-csv"),
    DSB_OPTION_END};

const struct dsb_option dsb_broker_options[] = {
    DSB_OPTION_STRING("listen", 0, "127.0.0.1:8080",
                      "address:port of the HTTP API"),
    DSB_OPTION_STRING("plugin_dir", 0, NULL,
                      "directory of plugin .so files (relative: to conf.d; "
                      "default: ../lib/dsbroker beside the executable)"),
    DSB_OPTION_STRING("state_dir", 0, "../var",
                      "where sessions and jobs are stored (relative: to "
                      "conf.d)"),
    DSB_OPTION_ENUM("log_level", 0, "info", log_levels,
                    "least severe level "
                    "logged"),
    DSB_OPTION_ENUM("log_format", 0, "text", log_formats, "log line format"),
    DSB_OPTION_STRING("default_executor", 0, NULL,
                      "executor for jobs that need no network (default: "
                      "the first declared)"),
    DSB_OPTION_OBJECT("cache", cache_opts, "metadata cache"),
    DSB_OPTION_OBJECT("secrets", secrets_opts, "secret resolution"),
    DSB_OPTION_OBJECT("aws", aws_opts, "AWS client defaults"),
    DSB_OPTION_OBJECT("auth", auth_opts, "bearer-token authentication"),
    DSB_OPTION_OBJECT("cors", cors_opts, "browser access"),
    DSB_OPTION_OBJECT("limits", limits_opts, "server limits"),
    DSB_OPTION_OBJECT("state", state_opts,
                      "the state store of sessions and jobs"),
    DSB_OPTION_OBJECT("sessions", sessions_opts, "session store"),
    DSB_OPTION_OBJECT("jobs", jobs_opts, "job limits per principal"),
    DSB_OPTION_OBJECT("mcp", mcp_opts, "the MCP server"),
    DSB_OPTION_OBJECT("context", context_opts,
                      "what a session's Spark context tells the agent"),
    DSB_OPTION_OBJECT("sources", sources_opts,
                      "sources managed at run time (/v1/sources)"),
    DSB_OPTION_OBJECT("compat", compat_opts,
                      "the original backend's routes (uploads)"),
    DSB_OPTION_OBJECT("console", console_opts,
                      "the web console (read at start, not at reload)"),
    DSB_OPTION_END};

/* Keys of every executor; the type adds its own. */
static const struct dsb_option executor_common[] = {
    DSB_OPTION_STRING("name", DSB_OPT_REQUIRED, NULL, "executor name"),
    DSB_OPTION_ENUM("type", DSB_OPT_REQUIRED, NULL, dsb_executor_types,
                    "executor kind"),
    DSB_OPTION_LIST("networks", DSB_OPT_REQUIRED, NULL,
                    "networks this executor reaches"),
    DSB_OPTION_STRING("description", 0, NULL, "what it is for"),
    DSB_OPTION_END};
static const char *const executor_common_keys[] = {"name", "type", "networks",
                                                   "description", NULL};

static const char *const source_core_keys[] = {
    "name", "plugin", "network", "description", "enabled", NULL};
static const struct dsb_option source_core[] = {
    DSB_OPTION_STRING("name", DSB_OPT_REQUIRED, NULL,
                      "source name, unique (letters, digits, _ . -)"),
    DSB_OPTION_STRING("plugin", DSB_OPT_REQUIRED, NULL, "plugin to use"),
    DSB_OPTION_STRING("network", 0, NULL,
                      "network it lives on (default: "
                      "the plugin's)"),
    DSB_OPTION_STRING("description", 0, NULL, "what it holds"),
    DSB_OPTION_BOOL("enabled", "true", "false to keep it configured but off"),
    DSB_OPTION_END};

const struct dsb_option *dsb_executor_options(const char *type)
{
    const struct dsb_executor_ops *ops = dsb_executor_ops_find(type);

    return ops ? ops->options : NULL;
}

const struct dsb_option *dsb_aws_client_option(const char *name)
{
    const struct dsb_option *o;

    for (o = aws_opts; o->name; o++)
        if (strcmp(o->name, name) == 0)
            return o;
    return NULL;
}

/* ---------------------------------------------------------- helpers */

static int valid_name(const char *s, int lower_only)
{
    size_t n = strlen(s);

    if (n == 0 || n > 64 || s[0] == '.' || s[0] == '-')
        return 0;
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (lower_only && isupper(ch))
            return 0;
        if (!isalnum(ch) && ch != '_' && ch != '-' && ch != '.')
            return 0;
    }
    return 1;
}

static const char *jstr(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static char *resolve_dir(const char *base, const char *path)
{
    return path ? dsb_path_join(base, path) : NULL;
}

char *dsb_default_plugin_dir(void)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

    if (n <= 0)
        return strdup(".");
    exe[n] = '\0';
    return dsb_path_join(dirname(exe), DSB_PLUGIN_RELDIR);
}

char *dsb_default_console_dir(void)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

    if (n <= 0)
        return strdup(".");
    exe[n] = '\0';
    return dsb_path_join(dirname(exe), DSB_CONSOLE_RELDIR);
}

/* The console's asset directory, or NULL when console.enabled is false. */
static char *console_dir(const struct dsb_config *cfg)
{
    const json_t *c = json_object_get(cfg->broker, "console");
    const char *dir = jstr(c, "dir");

    if (!cfg->broker || json_is_false(json_object_get(c, "enabled")))
        return NULL;
    return dir ? resolve_dir(cfg->dir, dir) : dsb_default_console_dir();
}

/* Position of key's node in map (for diagnostics about its value). */
static const struct dsb_ynode *at(const struct dsb_ynode *map, const char *key)
{
    const struct dsb_ynode *n = dsb_ynode_get(map, key);
    return n ? n : map;
}

/* -------------------------------------------------------- executors */

/* Keys of n that the common table must leave alone: the type's options,
 * or every non-common key when the type is unknown (only its error shows). */
static const char **executor_skip(const struct dsb_ynode *n,
                                  const struct dsb_option *table)
{
    const char **skip = calloc(n->n + 1, sizeof(*skip));
    size_t k = 0;

    for (size_t i = 0; skip && i < n->n; i++) {
        const char *key = n->keys[i]->value;
        int common = 0, typed = !table;
        for (const char *const *c = executor_common_keys; *c; c++)
            common |= strcmp(*c, key) == 0;
        for (const struct dsb_option *o = table; o && o->name; o++)
            typed |= strcmp(o->name, key) == 0;
        if (!common && typed)
            skip[k++] = key;
    }
    return skip;
}

static void add_executor(struct dsb_config *cfg, const struct dsb_ynode *n,
                         json_t *common, json_t *opts, struct dsb_diags *d)
{
    const char *name = jstr(common, "name");
    struct dsb_executor_conf *e;

    if (!valid_name(name, 0))
        dsb_diag_add(d, DSB_SEV_ERROR, n->file, at(n, "name")->line,
                     at(n, "name")->col,
                     "executor name \"%s\" may hold only "
                     "letters, digits, _ . - (at most 64)",
                     name);
    for (size_t i = 0; i < cfg->n_executors; i++)
        if (strcmp(cfg->executors[i].name, name) == 0)
            dsb_diag_add(d, DSB_SEV_ERROR, n->file, n->line, n->col,
                         "executor \"%s\" is declared twice", name);
    e = &cfg->executors[cfg->n_executors++];
    e->name = strdup(name);
    e->type = strdup(jstr(common, "type"));
    e->networks = json_incref(json_object_get(common, "networks"));
    e->options = json_incref(opts);
    dsb_executor_limits_bind(e);
    e->file = strdup(n->file);
    e->line = n->line;
    e->col = n->col;
}

static void load_executor(struct dsb_config *cfg, const struct dsb_ynode *n,
                          struct dsb_diags *d)
{
    const struct dsb_ynode *tn = dsb_ynode_get(n, "type");
    const struct dsb_option *table = NULL;
    const char **skip;
    json_t *common, *opts = NULL;

    if (n->kind != DSB_Y_MAP) {
        dsb_diag_add(d, DSB_SEV_ERROR, n->file, n->line, n->col,
                     "an executor must be a mapping, not %s",
                     dsb_ykind_name(n->kind));
        return;
    }
    if (tn && tn->kind == DSB_Y_SCALAR)
        table = dsb_executor_options(tn->value);
    skip = executor_skip(n, table);
    common = dsb_options_validate(n, executor_common, skip, d);
    if (table)
        opts = dsb_options_validate(n, table, executor_common_keys, d);
    if (opts && tn && dsb_executor_ops_find(tn->value) &&
        dsb_executor_ops_find(tn->value)->validate)
        dsb_executor_ops_find(tn->value)->validate(n, opts, d);
    if (common && opts && jstr(common, "name") && jstr(common, "type"))
        add_executor(cfg, n, common, opts, d);
    free(skip);
    json_decref(common);
    json_decref(opts);
}

static void load_executors(struct dsb_config *cfg, const struct dsb_ynode *seq,
                           struct dsb_diags *d)
{
    if (!seq)
        return;
    if (seq->kind != DSB_Y_SEQ) {
        dsb_diag_add(d, DSB_SEV_ERROR, seq->file, seq->line, seq->col,
                     "option \"executors\" must be a list of mappings, not %s",
                     dsb_ykind_name(seq->kind));
        return;
    }
    cfg->executors = calloc(seq->n ? seq->n : 1, sizeof(*cfg->executors));
    if (!cfg->executors)
        return;
    for (size_t i = 0; i < seq->n; i++)
        load_executor(cfg, seq->items[i], d);
}

static void check_default_executor(struct dsb_config *cfg,
                                   const struct dsb_ynode *root,
                                   struct dsb_diags *d)
{
    const char *def = jstr(cfg->broker, "default_executor");
    const struct dsb_ynode *n = at(root, "default_executor");

    if (!def) {
        if (cfg->n_executors)
            cfg->default_executor = strdup(cfg->executors[0].name);
        return;
    }
    for (size_t i = 0; i < cfg->n_executors; i++)
        if (strcmp(cfg->executors[i].name, def) == 0) {
            cfg->default_executor = strdup(def);
            return;
        }
    dsb_diag_add(d, DSB_SEV_ERROR, n->file, n->line, n->col,
                 "default_executor \"%s\" is not a declared executor", def);
}

/* state.replica_id: 1 to 64 letters, digits, '.', '_', '-' (it goes into
 * logs, records and error messages as it is). */
static void check_replica_id(const char *id, const struct dsb_ynode *n,
                             struct dsb_diags *d)
{
    size_t len = id ? strlen(id) : 0;

    if (!id)
        return;
    if (len == 0 || len > 64 ||
        strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                   "0123456789._-") != len)
        dsb_diag_add(d, DSB_SEV_ERROR, n->file, n->line, n->col,
                     "state.replica_id \"%.80s%s\" is not a replica name: "
                     "give 1 to 64 of A-Z a-z 0-9 . _ - (a name of its own "
                     "for each replica sharing the state store)",
                     id, len > 80 ? "..." : "");
}

/* state.store: postgresql needs state.url, which holds no password (that
 * is state.password, a secret reference); the others are for it only. */
static void check_state(const json_t *broker, const struct dsb_ynode *root,
                        struct dsb_diags *d)
{
    const json_t *st = json_object_get(broker, "state");
    const char *store = json_string_value(json_object_get(st, "store"));
    const char *url = json_string_value(json_object_get(st, "url"));
    const struct dsb_ynode *n = at(root, "state");
    PQconninfoOption *opts;
    char *why = NULL;

    if (!n)
        return;
    check_replica_id(json_string_value(json_object_get(st, "replica_id")), n,
                     d);
    if (!store || strcmp(store, "postgresql") != 0) {
        if (url || json_object_get(st, "password"))
            dsb_diag_add(d, DSB_SEV_ERROR, n->file, n->line, n->col,
                         "state.url and state.password are for state.store: "
                         "postgresql (state.store is %s)",
                         store ? store : "sqlite");
        return;
    }
    if (!url) {
        dsb_diag_add(d, DSB_SEV_ERROR, n->file, n->line, n->col,
                     "state.store: postgresql needs state.url (a libpq "
                     "connection string of the state database)");
        return;
    }
    if (!(opts = PQconninfoParse(url, &why))) {
        dsb_diag_add(d, DSB_SEV_ERROR, n->file, n->line, n->col,
                     "state.url is not a libpq connection string: %s",
                     why ? why : "out of memory");
        PQfreemem(why);
        return;
    }
    for (PQconninfoOption *o = opts; o->keyword; o++)
        if (!strcmp(o->keyword, "password") && o->val && o->val[0])
            dsb_diag_add(d, DSB_SEV_ERROR, n->file, n->line, n->col,
                         "state.url holds a password: remove it and give "
                         "state.password, a secret reference, instead");
    PQconninfoFree(opts);
}

/* Every name in the list node is one of names (the option table checks
 * only that it is a list of strings); what: "scope", "tool group"; known:
 * the names as the message lists them. */
static void check_name_list(const struct dsb_ynode *list,
                            const char *const *names, size_t n,
                            const char *what, const char *known,
                            struct dsb_diags *d)
{
    for (size_t i = 0; list && list->kind == DSB_Y_SEQ && i < list->n; i++) {
        const struct dsb_ynode *v = list->items[i];
        const char *near;
        size_t k = 0;
        while (v->kind == DSB_Y_SCALAR && k < n && strcmp(v->value, names[k]))
            k++;
        if (v->kind != DSB_Y_SCALAR || k < n)
            continue;
        near = dsb_closest(v->value, names, n);
        dsb_diag_add(d, DSB_SEV_ERROR, v->file, v->line, v->col,
                     "unknown %s \"%s\"%s%s%s (%s)", what, v->value,
                     near ? " (did you mean \"" : "", near ? near : "",
                     near ? "\"?)" : "", known);
    }
}

static void check_scope_list(const struct dsb_ynode *list, struct dsb_diags *d)
{
    static const char *const names[] = {"read", "sessions", "context", "jobs",
                                        "admin"};

    check_name_list(list, names, 5, "scope",
                    "scopes: read, sessions, context, jobs, admin", d);
}

/* Every rule of sources.allowed_hosts parses. */
static void check_allowed_hosts(const struct dsb_ynode *root,
                                struct dsb_diags *d)
{
    const struct dsb_ynode *src = dsb_ynode_get(root, "sources");
    const struct dsb_ynode *list = src && src->kind == DSB_Y_MAP
                                       ? dsb_ynode_get(src, "allowed_hosts")
                                       : NULL;
    struct dsb_allow_rule r;
    char why[512];

    for (size_t i = 0; list && list->kind == DSB_Y_SEQ && i < list->n; i++) {
        const struct dsb_ynode *v = list->items[i];
        if (v->kind == DSB_Y_SCALAR &&
            dsb_allow_parse(v->value, &r, why, sizeof(why)) < 0)
            dsb_diag_add(d, DSB_SEV_ERROR, v->file, v->line, v->col,
                         "sources.allowed_hosts: %s", why);
    }
}

static void check_scopes(const struct dsb_ynode *root, struct dsb_diags *d)
{
    const struct dsb_ynode *auth = dsb_ynode_get(root, "auth");
    const struct dsb_ynode *tokens =
        auth ? dsb_ynode_get(auth, "tokens") : NULL;

    static const char *const groups[] = {"sources", "sessions", "context",
                                         "jobs"};
    const struct dsb_ynode *mcp = dsb_ynode_get(root, "mcp");

    if (mcp)
        check_name_list(dsb_ynode_get(mcp, "disabled_tool_groups"), groups, 4,
                        "tool group",
                        "tool groups: sources, sessions, context, jobs", d);
    if (auth)
        check_scope_list(dsb_ynode_get(auth, "anonymous_scopes"), d);
    for (size_t i = 0; tokens && tokens->kind == DSB_Y_SEQ && i < tokens->n;
         i++)
        if (tokens->items[i]->kind == DSB_Y_MAP)
            check_scope_list(dsb_ynode_get(tokens->items[i], "scopes"), d);
}

/* ----------------------------------------------------------- broker */

static const char *const broker_skip[] = {"executors", NULL};

struct dsb_config *dsb_config_load_broker(const char *dir,
                                          const char *plugin_dir_override,
                                          struct dsb_diags *d)
{
    struct dsb_config *cfg = calloc(1, sizeof(*cfg));
    struct dsb_ynode *root = NULL;
    char *path = NULL;
    const char *pd;

    if (!cfg)
        return NULL;
    cfg->dir = dsb_realpath(dir);
    if (!cfg->dir) {
        dsb_diag_add(d, DSB_SEV_ERROR, dir, 0, 0,
                     "cannot open the "
                     "configuration directory: %s",
                     strerror(errno));
        return cfg;
    }
    path = dsb_path_join(cfg->dir, "broker.yaml");
    if (access(path, F_OK) == 0)
        root = dsb_yaml_load(path, d);
    else
        root = dsb_yaml_parse("{}", 2, path, d);
    if (root) {
        cfg->broker =
            dsb_options_validate(root, dsb_broker_options, broker_skip, d);
        load_executors(cfg, dsb_ynode_get(root, "executors"), d);
        if (cfg->broker) {
            check_default_executor(cfg, root, d);
            check_scopes(root, d);
            check_allowed_hosts(root, d);
            check_state(cfg->broker, root, d);
            if (dsb_settings_bind(&cfg->settings, cfg->broker) < 0)
                dsb_diag_add(d, DSB_SEV_ERROR, path, 0, 0, "out of memory");
        }
    }
    pd = plugin_dir_override ? plugin_dir_override
                             : jstr(cfg->broker, "plugin_dir");
    cfg->plugin_dir = pd ? resolve_dir(cfg->dir, pd) : dsb_default_plugin_dir();
    cfg->state_dir = resolve_dir(cfg->dir, jstr(cfg->broker, "state_dir"));
    cfg->console_dir = console_dir(cfg);
    dsb_ynode_free(root);
    free(path);
    return cfg;
}

/* ---------------------------------------------------------- sources */

static int is_source_file(const char *name)
{
    if (name[0] == '.')
        return 0;
    if (strcmp(name, "broker.yaml") == 0 || strcmp(name, "broker.yml") == 0)
        return 0;
    return dsb_str_has_suffix(name, ".yaml") ||
           dsb_str_has_suffix(name, ".yml");
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char **source_files(const char *dir, size_t *n, struct dsb_diags *d)
{
    DIR *dh = opendir(dir);
    struct dirent *e;
    char **files = NULL;

    *n = 0;
    if (!dh) {
        dsb_diag_add(d, DSB_SEV_ERROR, dir, 0, 0, "cannot list: %s",
                     strerror(errno));
        return NULL;
    }
    while ((e = readdir(dh)) != NULL) {
        char **nf;
        if (!is_source_file(e->d_name))
            continue;
        nf = realloc(files, (*n + 1) * sizeof(*nf));
        if (!nf)
            break;
        files = nf;
        files[(*n)++] = dsb_path_join(dir, e->d_name);
    }
    closedir(dh);
    if (files)
        qsort(files, *n, sizeof(*files), cmp_str);
    return files;
}

static const struct dsb_plugin *
source_plugin(const struct dsb_ynode *root, const char *name,
              const struct dsb_plugin_set *plugins, const char *plugin_dir,
              struct dsb_diags *d)
{
    const struct dsb_plugin *p = dsb_plugins_find(plugins, name);
    const struct dsb_ynode *n = at(root, "plugin");
    const char *names[64];
    const char *near;
    size_t k = 0;

    if (p)
        return p;
    for (; k < plugins->n && k < 64; k++)
        names[k] = plugins->items[k].name;
    near = dsb_closest(name, names, k);
    dsb_diag_add(d, DSB_SEV_ERROR, n->file, n->line, n->col,
                 "no usable plugin \"%s\" in %s%s%s%s", name, plugin_dir,
                 near ? " (did you mean \"" : "", near ? near : "",
                 near ? "\"?)" : "");
    return NULL;
}

static void check_source_names(const struct dsb_config *cfg,
                               const struct dsb_ynode *root, const char *name,
                               const char *network, struct dsb_diags *d)
{
    const struct dsb_ynode *n = at(root, "name"), *nn = at(root, "network");

    if (!valid_name(name, 0))
        dsb_diag_add(d, DSB_SEV_ERROR, n->file, n->line, n->col,
                     "source name \"%s\" may hold only letters, digits, _ . - "
                     "(at most 64, not starting with . or -)",
                     name);
    else if (strcmp(name, "test") == 0)
        dsb_diag_add(d, DSB_SEV_ERROR, n->file, n->line, n->col,
                     "source name \"test\" is reserved: /v1/sources/test "
                     "tests a candidate source");
    if (network && !valid_name(network, 1))
        dsb_diag_add(d, DSB_SEV_ERROR, nn->file, nn->line, nn->col,
                     "network \"%s\" may hold only lower-case letters, digits, "
                     "_ . -",
                     network);
    for (size_t i = 0; i < cfg->n_sources; i++)
        if (strcmp(cfg->sources[i].name, name) == 0)
            dsb_diag_add(d, DSB_SEV_ERROR, n->file, n->line, n->col,
                         "source name \"%s\" is already used by %s:%d", name,
                         cfg->sources[i].file, cfg->sources[i].line);
}

/* What the plugin's check_options (ABI 1.2) refuses of options the table
 * passed, at the refused key's position. */
static void plugin_check(const struct dsb_plugin *p,
                         const struct dsb_ynode *root, const json_t *opts,
                         struct dsb_diags *d)
{
    struct dsb_error err;
    const char *key = NULL;
    const struct dsb_ynode *n;
    int hint;

    dsb_error_clear(&err);
    if (!p->vt.check_options || p->vt.check_options(opts, &key, &err) == 0)
        return;
    n = key ? at(root, key) : root;
    hint = err.hint[0] != '\0';
    dsb_diag_add(d, DSB_SEV_ERROR, n->file, n->line, n->col, "%s%s%s%s%s%s%s",
                 key ? "option \"" : "", key ? key : "", key ? "\": " : "",
                 err.message[0] ? err.message : "refused by the plugin",
                 hint ? " (" : "", err.hint, hint ? ")" : "");
}

/* The source's core keys and plugin options validated, by the option
 * table and then by the plugin; *core and *opts new references, or NULL
 * with the reasons in d. */
static const struct dsb_plugin *
validate_source(const struct dsb_config *cfg, const struct dsb_ynode *root,
                const struct dsb_plugin_set *plugins, json_t **core,
                json_t **opts, struct dsb_diags *d)
{
    const struct dsb_plugin *p = NULL;
    const char *plugin;
    size_t errors = d->errors;

    *opts = NULL;
    /* plugin options are checked against the plugin's own table below */
    *core = dsb_options_validate(root, source_core,
                                 (const char *const[]){"*", NULL}, d);
    plugin = jstr(*core, "plugin");
    if (plugin)
        p = source_plugin(root, plugin, plugins, cfg->plugin_dir, d);
    if (p)
        *opts = dsb_options_validate(root, p->vt.options, source_core_keys, d);
    if (*opts && d->errors == errors)
        plugin_check(p, root, *opts, d);
    return *opts && jstr(*core, "name") ? p : NULL;
}

static void load_source(struct dsb_config *cfg, const char *path,
                        const struct dsb_plugin_set *plugins,
                        struct dsb_diags *d)
{
    struct dsb_ynode *root = dsb_yaml_load(path, d);
    json_t *core = NULL, *opts = NULL;
    const char *name;
    struct dsb_source_conf *s;

    if (!root || !validate_source(cfg, root, plugins, &core, &opts, d))
        goto done;
    name = jstr(core, "name");
    check_source_names(cfg, root, name, jstr(core, "network"), d);
    s = &cfg->sources[cfg->n_sources++];
    s->name = strdup(name);
    s->plugin = strdup(jstr(core, "plugin"));
    s->network = dsb_strdup0(jstr(core, "network"));
    s->description = dsb_strdup0(jstr(core, "description"));
    s->enabled = json_is_true(json_object_get(core, "enabled"));
    s->options = json_incref(opts);
    s->file = strdup(path);
    s->line = root->line;
    s->col = root->col;
done:
    json_decref(core);
    json_decref(opts);
    dsb_ynode_free(root);
}

json_t *dsb_config_check_source(const struct dsb_config *cfg,
                                const struct dsb_plugin_set *plugins,
                                const struct dsb_ynode *root,
                                const char *replacing, struct dsb_diags *d)
{
    json_t *core = NULL, *opts = NULL, *out = NULL;
    const struct dsb_plugin *p =
        validate_source(cfg, root, plugins, &core, &opts, d);
    const char *name = jstr(core, "name");
    const struct dsb_ynode *n = at(root, "name");

    if (p && (!valid_name(name, 0) || strcmp(name, "test") == 0 ||
              (jstr(core, "network") && !valid_name(jstr(core, "network"), 1))))
        check_source_names(cfg, root, name, jstr(core, "network"), d);
    for (size_t i = 0; p && i < cfg->n_sources; i++)
        if (strcmp(cfg->sources[i].name, name) == 0 &&
            (!replacing || strcmp(replacing, name) != 0))
            dsb_diag_add(d, DSB_SEV_ERROR, n->file, n->line, n->col,
                         "source name \"%s\" is already used by %s:%d", name,
                         cfg->sources[i].file, cfg->sources[i].line);
    if (p && d->errors == 0) {
        out = json_deep_copy(core);
        json_object_update(out, opts);
    }
    json_decref(core);
    json_decref(opts);
    return out;
}

const char *dsb_source_network(const struct dsb_source_conf *c,
                               const struct dsb_plugin *p)
{
    if (c->network)
        return c->network;
    return p && p->vt.default_network ? p->vt.default_network : "default";
}

/* A warning for each enabled source on a network no executor reaches: its
 * jobs would be refused as unroutable. */
static void check_source_networks(const struct dsb_config *cfg,
                                  const struct dsb_plugin_set *plugins,
                                  struct dsb_diags *d)
{
    struct dsb_sb names = {0};

    for (size_t i = 0; i < cfg->n_executors; i++)
        dsb_sb_addf(&names, "%s%s", i ? ", " : "", cfg->executors[i].name);
    for (size_t i = 0; cfg->n_executors && i < cfg->n_sources; i++) {
        const struct dsb_source_conf *s = &cfg->sources[i];
        const char *net =
            dsb_source_network(s, dsb_plugins_find(plugins, s->plugin));
        int reached = 0;
        const json_t *v;
        size_t k;
        for (size_t e = 0; !reached && e < cfg->n_executors; e++)
            json_array_foreach(cfg->executors[e].networks, k, v) reached |=
                strcmp(json_string_value(v), net) == 0;
        if (!reached && s->enabled)
            dsb_diag_add(d, DSB_SEV_WARNING, s->file, s->line, s->col,
                         "source \"%s\" is on network \"%s\", which no "
                         "executor reaches (executors: %s): its jobs would be "
                         "refused",
                         s->name, net, dsb_sb_str(&names));
    }
    dsb_sb_free(&names);
}

/* The files of dir, then those of its managed/ directory (written by the
 * broker: POST /v1/sources), each list sorted. */
static char **all_source_files(const char *dir, size_t *n, struct dsb_diags *d)
{
    char *mdir = dsb_path_join(dir, DSB_MANAGED_DIR), **files, **more = NULL,
         **all;
    size_t nm = 0;
    struct stat st;

    files = source_files(dir, n, d);
    if (mdir && stat(mdir, &st) == 0 && S_ISDIR(st.st_mode))
        more = source_files(mdir, &nm, d);
    free(mdir);
    if (!nm)
        return files;
    all = realloc(files, (*n + nm) * sizeof(*all));
    if (!all) {
        for (size_t i = 0; i < nm; i++)
            free(more[i]);
        free(more);
        return files;
    }
    memcpy(all + *n, more, nm * sizeof(*all));
    *n += nm;
    free(more);
    return all;
}

void dsb_config_load_sources(struct dsb_config *cfg,
                             const struct dsb_plugin_set *plugins,
                             struct dsb_diags *d)
{
    size_t n = 0;
    char **files;

    if (!cfg->dir)
        return;
    files = all_source_files(cfg->dir, &n, d);
    cfg->sources = calloc(n ? n : 1, sizeof(*cfg->sources));
    for (size_t i = 0; i < n; i++) {
        if (cfg->sources)
            load_source(cfg, files[i], plugins, d);
        free(files[i]);
    }
    free(files);
    check_source_networks(cfg, plugins, d);
}

void dsb_config_free(struct dsb_config *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < cfg->n_sources; i++) {
        struct dsb_source_conf *s = &cfg->sources[i];
        free(s->name);
        free(s->plugin);
        free(s->network);
        free(s->description);
        free(s->file);
        json_decref(s->options);
    }
    for (size_t i = 0; i < cfg->n_executors; i++) {
        struct dsb_executor_conf *e = &cfg->executors[i];
        free(e->name);
        free(e->type);
        free(e->file);
        json_decref(e->networks);
        json_decref(e->options);
    }
    free(cfg->sources);
    free(cfg->executors);
    free(cfg->default_executor);
    free(cfg->dir);
    free(cfg->plugin_dir);
    free(cfg->state_dir);
    free(cfg->console_dir);
    json_decref(cfg->broker);
    dsb_settings_free(&cfg->settings);
    free(cfg);
}
