/* Options of the postgres plugin, the allow-list and login resolution. */
#define _GNU_SOURCE /* FNM_CASEFOLD */
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "pg_int.h"

static const char *const pg_sslmodes[] = {
    "disable", "allow", "prefer", "require", "verify-ca", "verify-full", NULL};

const struct dsb_option pg_options[] = {
    DSB_OPTION_STRING("host", 0, NULL,
                      "server host name or address (default: the "
                      "credentials' host)"),
    DSB_OPTION_INT("port", 0, NULL, 1, 65535,
                   "server port (default: the credentials' port, else 5432)"),
    DSB_OPTION_STRING("dbname", 0, NULL,
                      "default database (default: the credentials' dbname, "
                      "else postgres)"),
    DSB_OPTION_STRING("user", 0, NULL,
                      "role name, or a secret reference (env:, file:, "
                      "aws-sm:) to it"),
    DSB_OPTION_SECRET("password", 0, "secret reference to the role's password"),
    DSB_OPTION_SECRET("credentials", 0,
                      "secret reference to an RDS-style JSON secret "
                      "(username, password, optionally host, port, dbname)"),
    DSB_OPTION_LIST("include_databases", 0, NULL,
                    "databases shown (patterns with * and ?); default: all"),
    DSB_OPTION_LIST("exclude_databases", 0, NULL,
                    "databases hidden (patterns with * and ?)"),
    DSB_OPTION_LIST("include_schemas", 0, NULL,
                    "schemas shown (patterns with * and ?); default: all"),
    DSB_OPTION_LIST("exclude_schemas", 0, NULL,
                    "schemas hidden (patterns with * and ?)"),
    DSB_OPTION_ENUM("sslmode", 0, "prefer", pg_sslmodes,
                    "libpq and JDBC sslmode"),
    DSB_OPTION_STRING("sslrootcert", 0, NULL,
                      "CA certificate file for verify-ca / verify-full"),
    DSB_OPTION_STRING("jdbc_sslrootcert", 0, NULL,
                      "CA certificate file as Spark jobs see it, put in the "
                      "JDBC URL (default: sslrootcert)"),
    DSB_OPTION_INT("connect_timeout_ms", 0, "5000", 100, 600000,
                   "time allowed to open a connection"),
    DSB_OPTION_INT("statement_timeout_ms", 0, "30000", 100, 3600000,
                   "statement_timeout of catalog and bounds queries"),
    DSB_OPTION_STRING("application_name", 0, "dsbroker",
                      "application_name shown in pg_stat_activity"),
    DSB_OPTION_INT("pool_size", 0, "4", 1, 64,
                   "connections per database at most"),
    DSB_OPTION_INT("pool_idle_timeout_ms", 0, "300000", 1000, 86400000,
                   "an idle connection is closed after this long"),
    DSB_OPTION_STRING("jdbc_driver_jar", 0, "/usr/share/java/postgresql.jar",
                      "PostgreSQL JDBC driver jar given to Spark jobs (path "
                      "or URI)"),
    DSB_OPTION_INT("fetchsize", 0, "10000", 1, 1000000,
                   "JDBC fetchsize of reads"),
    DSB_OPTION_BOOL("partition_hints", "true",
                    "suggest partitioned JDBC reads for large tables"),
    DSB_OPTION_INT("partition_min_rows", 0, "1000000", 1, 9e15,
                   "row estimate above which a read is partitioned"),
    DSB_OPTION_INT("partition_target_rows", 0, "500000", 1, 9e15,
                   "rows per partition aimed at"),
    DSB_OPTION_INT("max_partitions", 0, "32", 2, 1024,
                   "numPartitions at most (also caps concurrent "
                   "connections)"),
    DSB_OPTION_MAP("partition_columns", 0,
                   "partition column per table: keys \"db.schema.table\", "
                   "\"schema.table\" or \"table\""),
    DSB_OPTION_INT("sample_rows", 0, "0", 0, 100,
                   "rows read from each described table (SELECT ... LIMIT "
                   "n) and shown to the agent as sample values; 0: none"),
    DSB_OPTION_BOOL("column_stats", "false",
                    "give the agent per-column planner statistics from "
                    "pg_stats (no table scan)"),
    DSB_OPTION_LIST("mask_columns", 0, "[]",
                    "columns whose values (samples, statistics) are never "
                    "read or shown: fnmatch globs on the column name, "
                    "case-insensitive, e.g. *email*"),
    DSB_OPTION_END,
};

static char *pg_opt_str(const json_t *opts, const char *key)
{
    const char *v = json_string_value(json_object_get(opts, key));
    return v ? strdup(v) : NULL;
}

static int64_t pg_opt_int(const json_t *opts, const char *key, int64_t dflt)
{
    const json_t *v = json_object_get(opts, key);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : dflt;
}

static json_t *pg_opt_json(const json_t *opts, const char *key)
{
    json_t *v = json_object_get(opts, key);
    return v ? json_incref(v) : NULL;
}

static int pg_is_secret_ref(const char *v)
{
    return !strncmp(v, "env:", 4) || !strncmp(v, "file:", 5) ||
           !strncmp(v, "aws-sm:", 7);
}

/* Splits `user` into a literal or a reference; checks a login is named. */
static int pg_config_user(struct pg_config *cfg, const json_t *opts,
                          struct dsb_error *err)
{
    char *user = pg_opt_str(opts, "user");

    if (user && pg_is_secret_ref(user))
        cfg->user_ref = user;
    else
        cfg->user = user;
    if (!cfg->user && !cfg->user_ref && !cfg->credentials_ref)
        goto fail;
    if (cfg->credentials_ref && strchr(cfg->credentials_ref, '#'))
        return dsb_error_set(err, DSB_E_CONFIG,
                             "credentials must name a whole secret, not a "
                             "#key of it");
    return 0;
fail:
    dsb_error_set(err, DSB_E_CONFIG, "no role to log in as");
    dsb_error_hint(err, "set `user` (and `password`) or `credentials`");
    return -1;
}

/*
 * Copies the validated options into cfg (which the caller zeroed).
 * Errors: DSB_E_CONFIG for combinations the option table cannot express,
 * DSB_E_INTERNAL when memory is exhausted.  Free with pg_config_free.
 */
int pg_config_load(struct pg_config *cfg, const json_t *opts,
                   struct dsb_error *err)
{
    cfg->host = pg_opt_str(opts, "host");
    cfg->port = (int)pg_opt_int(opts, "port", 0);
    cfg->dbname = pg_opt_str(opts, "dbname");
    cfg->password_ref = pg_opt_str(opts, "password");
    cfg->credentials_ref = pg_opt_str(opts, "credentials");
    cfg->sslmode = pg_opt_str(opts, "sslmode");
    cfg->sslrootcert = pg_opt_str(opts, "sslrootcert");
    cfg->jdbc_sslrootcert = pg_opt_str(opts, "jdbc_sslrootcert");
    cfg->application_name = pg_opt_str(opts, "application_name");
    cfg->connect_timeout_ms = (int)pg_opt_int(opts, "connect_timeout_ms", 5000);
    cfg->statement_timeout_ms =
        (int)pg_opt_int(opts, "statement_timeout_ms", 30000);
    cfg->pool_size = (int)pg_opt_int(opts, "pool_size", 4);
    cfg->pool_idle_ms = (int)pg_opt_int(opts, "pool_idle_timeout_ms", 300000);
    cfg->jdbc_jar = pg_opt_str(opts, "jdbc_driver_jar");
    cfg->fetchsize = (int)pg_opt_int(opts, "fetchsize", 10000);
    cfg->partition_hints =
        !json_is_false(json_object_get(opts, "partition_hints"));
    cfg->partition_min_rows = pg_opt_int(opts, "partition_min_rows", 1000000);
    cfg->partition_target_rows =
        pg_opt_int(opts, "partition_target_rows", 500000);
    cfg->max_partitions = (int)pg_opt_int(opts, "max_partitions", 32);
    cfg->partition_columns = pg_opt_json(opts, "partition_columns");
    cfg->include_db = pg_opt_json(opts, "include_databases");
    cfg->exclude_db = pg_opt_json(opts, "exclude_databases");
    cfg->include_schema = pg_opt_json(opts, "include_schemas");
    cfg->exclude_schema = pg_opt_json(opts, "exclude_schemas");
    cfg->sample_rows = (int)pg_opt_int(opts, "sample_rows", 0);
    cfg->column_stats = json_is_true(json_object_get(opts, "column_stats"));
    cfg->mask_columns = pg_opt_json(opts, "mask_columns");
    return pg_config_user(cfg, opts, err);
}

/* Contract: see plugin.h (check_options).  The combinations open refuses,
 * found by open's own code (pg_config_load). */
int pg_check_options(const json_t *opts, const char **key,
                     struct dsb_error *err)
{
    struct pg_config cfg = {0};
    int rc = pg_config_load(&cfg, opts, err);

    if (rc < 0 && err->code == DSB_E_CONFIG)
        *key = cfg.credentials_ref && strchr(cfg.credentials_ref, '#')
                   ? "credentials"
                   : "user";
    pg_config_free(&cfg);
    return rc;
}

void pg_config_free(struct pg_config *cfg)
{
    char **strs[] = {&cfg->host,
                     &cfg->dbname,
                     &cfg->user,
                     &cfg->user_ref,
                     &cfg->password_ref,
                     &cfg->credentials_ref,
                     &cfg->sslmode,
                     &cfg->sslrootcert,
                     &cfg->jdbc_sslrootcert,
                     &cfg->application_name,
                     &cfg->jdbc_jar};
    json_t **objs[] = {&cfg->partition_columns, &cfg->include_db,
                       &cfg->exclude_db,        &cfg->include_schema,
                       &cfg->exclude_schema,    &cfg->mask_columns};

    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
        free(*strs[i]);
        *strs[i] = NULL;
    }
    for (size_t i = 0; i < sizeof(objs) / sizeof(objs[0]); i++) {
        json_decref(*objs[i]);
        *objs[i] = NULL;
    }
}

/* Glob match with * and ? only (the SQL side translates the same way). */
static int pg_glob(const char *p, const char *s)
{
    for (; *p; p++, s++) {
        if (*p == '*') {
            for (const char *t = s;; t++) {
                if (pg_glob(p + 1, t))
                    return 1;
                if (!*t)
                    return 0;
            }
        }
        if (!*s || (*p != '?' && *p != *s))
            return 0;
    }
    return !*s;
}

static int pg_any_match(const json_t *patterns, const char *name)
{
    size_t i;
    json_t *p;

    json_array_foreach(patterns, i, p)
    {
        if (json_is_string(p) && pg_glob(json_string_value(p), name))
            return 1;
    }
    return 0;
}

static int pg_allowed(const json_t *inc, const json_t *exc, const char *name)
{
    if (inc && !pg_any_match(inc, name))
        return 0;
    return !(exc && pg_any_match(exc, name));
}

int pg_allowed_database(const struct pg_config *cfg, const char *name)
{
    return pg_allowed(cfg->include_db, cfg->exclude_db, name);
}

int pg_allowed_schema(const struct pg_config *cfg, const char *name)
{
    return pg_allowed(cfg->include_schema, cfg->exclude_schema, name);
}

/* Appends one glob as an anchored, fully escaped POSIX regex to an array
 * element in `out` (quoted for a text[] literal). */
static void pg_glob_to_regex(const char *glob, char *out)
{
    *out++ = '"';
    *out++ = '^';
    for (const char *g = glob; *g; g++) {
        if (*g == '*') {
            *out++ = '.';
            *out++ = '*';
        } else if (*g == '?') {
            *out++ = '.';
        } else if ((*g >= 'a' && *g <= 'z') || (*g >= 'A' && *g <= 'Z') ||
                   (*g >= '0' && *g <= '9') || *g == '_' ||
                   (unsigned char)*g >= 0x80) {
            *out++ = *g;
        } else {
            /* "\\" in an array literal is one backslash for the regex;
             * a quote or backslash needs one more level of escaping. */
            *out++ = '\\';
            *out++ = '\\';
            if (*g == '"' || *g == '\\')
                *out++ = '\\';
            *out++ = *g;
        }
    }
    *out++ = '$';
    *out++ = '"';
    *out = '\0';
}

char *pg_patterns_regex_array(const json_t *patterns)
{
    size_t i, cap = 3;
    json_t *p;
    char *out, *w;

    if (!json_is_array(patterns))
        return NULL;
    json_array_foreach(patterns, i, p) cap += 4 * json_string_length(p) + 6;
    if (!(out = malloc(cap)))
        return NULL;
    w = out;
    *w++ = '{';
    json_array_foreach(patterns, i, p)
    {
        if (i)
            *w++ = ',';
        pg_glob_to_regex(json_string_value(p), w);
        w += strlen(w);
    }
    *w++ = '}';
    *w = '\0';
    return out;
}

/* Resolves ref (with "#key" appended when key is set) into a malloc'd copy.
 * An absent optional key gives 0 and *out NULL. */
static int pg_secret(struct pg_source *s, const char *ref, const char *key,
                     int optional, char **out, struct dsb_error *err)
{
    char full[1024], *v = NULL;

    *out = NULL;
    snprintf(full, sizeof(full), "%s%s%s", ref, key ? "#" : "", key ? key : "");
    if (s->host->secret_get(s->host, full, &v, err) < 0) {
        if (optional && err->code == DSB_E_NOT_FOUND) {
            dsb_error_clear(err);
            return 0;
        }
        return -1;
    }
    *out = strdup(v);
    s->host->secret_free(s->host, v);
    if (!*out)
        return dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
    return 0;
}

/* Replaces *dst by a copy of v (NULL v keeps *dst).  Returns -1 when
 * memory is exhausted. */
static int pg_login_replace(char **dst, const char *v)
{
    char *copy = strdup(v);

    if (!copy)
        return -1;
    free(*dst);
    *dst = copy;
    return 0;
}

static int pg_login_credentials(struct pg_source *s, struct pg_login *l,
                                struct dsb_error *err)
{
    const char *ref = s->cfg.credentials_ref;

    if (pg_secret(s, ref, "username", 0, &l->user, err) < 0 ||
        pg_secret(s, ref, "password", 0, &l->password, err) < 0 ||
        pg_secret(s, ref, "host", 1, &l->host, err) < 0 ||
        pg_secret(s, ref, "port", 1, &l->port, err) < 0 ||
        pg_secret(s, ref, "dbname", 1, &l->dbname, err) < 0)
        return -1;
    return 0;
}

static int pg_login_options(struct pg_source *s, struct pg_login *l,
                            struct dsb_error *err)
{
    const struct pg_config *c = &s->cfg;
    char port[16];

    if (c->user_ref && pg_secret(s, c->user_ref, NULL, 0, &l->user, err) < 0)
        return -1;
    if (c->password_ref &&
        pg_secret(s, c->password_ref, NULL, 0, &l->password, err) < 0)
        return -1;
    snprintf(port, sizeof(port), "%d", c->port);
    if ((c->user && pg_login_replace(&l->user, c->user) < 0) ||
        (c->host && pg_login_replace(&l->host, c->host) < 0) ||
        (c->dbname && pg_login_replace(&l->dbname, c->dbname) < 0) ||
        (c->port && pg_login_replace(&l->port, port) < 0))
        return dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
    return 0;
}

/*
 * Resolves who and where to log in: explicit options win over the fields of
 * `credentials`.  Secrets are fetched through the broker (cached there).
 * Errors: those of host->secret_get, DSB_E_CONFIG when no host is known.
 * Release with pg_login_free, which wipes the password.
 */
int pg_login_get(struct pg_source *s, struct pg_login *l, struct dsb_error *err)
{
    memset(l, 0, sizeof(*l));
    if (s->cfg.credentials_ref && pg_login_credentials(s, l, err) < 0)
        goto fail;
    if (pg_login_options(s, l, err) < 0)
        goto fail;
    if (!l->port)
        l->port = strdup("5432");
    if (!l->dbname)
        l->dbname = strdup("postgres");
    if (!l->host) {
        dsb_error_set(err, DSB_E_CONFIG, "no host to connect to");
        dsb_error_hint(err, "set `host`, or a `host` key in the credentials "
                            "secret");
        goto fail;
    }
    if (!l->port || !l->dbname) {
        dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
        goto fail;
    }
    return 0;
fail:
    pg_login_free(s, l);
    return -1;
}

void pg_login_free(struct pg_source *s, struct pg_login *l)
{
    (void)s;
    if (l->password)
        explicit_bzero(l->password, strlen(l->password));
    free(l->password);
    free(l->user);
    free(l->host);
    free(l->port);
    free(l->dbname);
    memset(l, 0, sizeof(*l));
}

void pg_login_invalidate(struct pg_source *s)
{
    const struct pg_config *c = &s->cfg;

    if (c->credentials_ref)
        s->host->secret_invalidate(s->host, c->credentials_ref);
    if (c->password_ref)
        s->host->secret_invalidate(s->host, c->password_ref);
    if (c->user_ref)
        s->host->secret_invalidate(s->host, c->user_ref);
}

int pg_masked(const struct pg_config *cfg, const char *column)
{
    const json_t *p;
    size_t i;

    json_array_foreach(cfg->mask_columns, i, p)
    {
        if (json_is_string(p) &&
            fnmatch(json_string_value(p), column, FNM_CASEFOLD) == 0)
            return 1;
    }
    return 0;
}
