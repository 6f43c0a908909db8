/*
 * Internal interfaces of the postgres plugin.  Built with hidden visibility:
 * only dsb_plugin_entry leaves the .so; the pg_ functions declared here are
 * shared between the plugin's own files.
 */
#ifndef DSB_PG_INT_H
#define DSB_PG_INT_H

#include <pthread.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "dsbroker/plugin.h"

#define PG_NAME_MAX 63 /* NAMEDATALEN - 1 */

/* The validated options, copied out of the option object at open. */
struct pg_config {
    char *host;            /* NULL: from credentials */
    int port;              /* 0: from credentials, else 5432 */
    char *dbname;          /* NULL: from credentials, else "postgres" */
    char *user;            /* a literal user name, or NULL */
    char *user_ref;        /* a secret reference for the user, or NULL */
    char *password_ref;    /* NULL: no password (libpq defaults) */
    char *credentials_ref; /* RDS-style JSON secret, or NULL */
    char *sslmode;
    char *sslrootcert;
    char *jdbc_sslrootcert; /* NULL: sslrootcert */
    char *application_name;
    int connect_timeout_ms;
    int statement_timeout_ms;
    int pool_size;
    int pool_idle_ms;
    char *jdbc_jar;
    int fetchsize;
    int partition_hints;
    int64_t partition_min_rows;
    int64_t partition_target_rows;
    int max_partitions;
    json_t *partition_columns; /* object: table -> column */
    json_t *include_db, *exclude_db, *include_schema, *exclude_schema;
    int sample_rows;      /* rows sampled per described table; 0: none */
    int column_stats;     /* pg_stats per column in descriptions */
    json_t *mask_columns; /* globs of columns whose values are never read */
};

struct pg_conn {
    PGconn *pg;
    int64_t last_used_ms; /* monotonic */
    int reused;           /* came out of the idle list */
    struct pg_pool *pool;
    struct pg_conn *next;
};

struct pg_pool {
    char *database;
    struct pg_conn *idle; /* most recently used first */
    int n_open;           /* idle + lent out */
    struct pg_pool *next;
};

/* One configured source. */
struct pg_source {
    const struct dsb_host *host;
    const struct dsb_source_info *info;
    struct pg_config cfg;
    pthread_mutex_t mu; /* guards pools */
    pthread_cond_t cv;  /* a connection was returned or closed */
    struct pg_pool *pools;
};

/* What a connection logs in with; every field malloc'd or NULL. */
struct pg_login {
    char *user;
    char *password; /* wiped by pg_login_free */
    char *host;
    char *port;
    char *dbname;
};

/* pg_options.c */
extern const struct dsb_option pg_options[];
int pg_config_load(struct pg_config *cfg, const json_t *opts,
                   struct dsb_error *err);
int pg_check_options(const json_t *opts, const char **key,
                     struct dsb_error *err);
void pg_config_free(struct pg_config *cfg);
int pg_allowed_database(const struct pg_config *cfg, const char *name);
int pg_allowed_schema(const struct pg_config *cfg, const char *name);
/* The include/exclude patterns as a PostgreSQL text[] literal of anchored
 * regular expressions, or NULL when the list is absent.  malloc'd. */
char *pg_patterns_regex_array(const json_t *patterns);
int pg_login_get(struct pg_source *s, struct pg_login *l,
                 struct dsb_error *err);
void pg_login_free(struct pg_source *s, struct pg_login *l);
/* Non-zero when `column` matches a mask_columns glob (fnmatch,
 * case-insensitive): its values are never read, sampled or shown. */
int pg_masked(const struct pg_config *cfg, const char *column);
/* Drops the broker's cached secrets so the next login reads them again. */
void pg_login_invalidate(struct pg_source *s);

/* pg_pool.c */
int pg_pool_init(struct pg_source *s);
void pg_pool_destroy(struct pg_source *s);
/*
 * Runs one statement with text parameters on a pooled connection to
 * `database` (NULL: the default database), within the call's deadline.
 * Returns the PGresult (caller PQclear's it) or NULL with err set.  A pooled
 * connection found broken is replaced and the statement retried once.
 */
PGresult *pg_query(struct pg_source *s, struct dsb_call *call,
                   const char *database, const char *sql, int n_params,
                   const char *const *params, struct dsb_error *err);
/* Maps a failed result field by field (SQLSTATE, primary, detail, hint). */
int pg_error_from_result(const PGresult *res, struct dsb_error *err);
/* The pools, for check: {"<database>": {"open": n, "idle": n}, ...}, one
 * per database the source has connected to since it opened (open counts
 * the idle connections and those lent out).  A new reference; NULL when
 * memory is exhausted. */
json_t *pg_pool_report(struct pg_source *s);

/* pg_catalog.c */
int pg_list_databases(struct pg_source *s, struct dsb_call *call,
                      const struct dsb_list_request *req, json_t **out,
                      struct dsb_error *err);
int pg_list_schemas(struct pg_source *s, struct dsb_call *call,
                    const struct dsb_list_request *req, json_t **out,
                    struct dsb_error *err);
int pg_list_tables(struct pg_source *s, struct dsb_call *call,
                   const struct dsb_list_request *req, json_t **out,
                   struct dsb_error *err);
/* The same page as pg_list_tables, written as JSON text through write
 * (the list_tables_json slot, ABI 1.3). */
int pg_list_tables_json(struct pg_source *s, struct dsb_call *call,
                        const struct dsb_list_request *req,
                        json_dump_callback_t write, void *write_ctx,
                        const char **next_page_token, struct dsb_error *err);
/* One table as TABLE JSON plus "qualified_name"; NOT_FOUND when absent. */
int pg_describe(struct pg_source *s, struct dsb_call *call,
                const char *database, const char *schema, const char *table,
                json_t **out, struct dsb_error *err);
/* Several tables of one schema in one query: {"items": [TABLE]} for the
 * names that exist (the describe_tables slot). */
int pg_describe_tables(struct pg_source *s, struct dsb_call *call,
                       const char *database, const char *schema,
                       const char *const *tables, size_t n, json_t **out,
                       struct dsb_error *err);

/* Runs sql and parses the single value of its answer as JSON (a new
 * reference), or NULL with err set. */
json_t *pg_query_json(struct pg_source *s, struct dsb_call *call,
                      const char *db, const char *sql,
                      const char *const *params, int n, struct dsb_error *err);

/* pg_extras.c */
/*
 * Completes describe's TABLEs (items, of `schema`; names_array the text[]
 * literal of the names asked for): "unique_keys" and "foreign_keys"
 * always; "masked": true on columns mask_columns names; with column_stats,
 * each other column's "stats" from pg_stats; with sample_rows, the
 * table's "sample_rows" (masked columns never read).  A sample that fails
 * leaves an "error" in it instead of rows.  -1 with err set when a
 * catalog query fails.
 */
int pg_describe_extras(struct pg_source *s, struct dsb_call *call,
                       const char *database, const char *schema,
                       const char *names_array, json_t *items,
                       struct dsb_error *err);

/* pg_types.c */
/*
 * The Spark SQL type Spark's JDBC reader gives a column, from the column's
 * base type name (domains resolved), its typtype, the element type name of
 * an array (NULL otherwise) and its typmod.  Writes into buf; returns buf,
 * or NULL when Spark cannot read the type.
 */
const char *pg_spark_type(const char *base, const char *typtype,
                          const char *elem, int typmod, char *buf, size_t len);

/* pg_readspec.c */
int pg_read_spec(struct pg_source *s, struct dsb_call *call,
                 const char *database, const char *schema, const char *table,
                 const struct dsb_read_target *target, json_t **out,
                 struct dsb_error *err);
/* pg_read_spec from pg_describe's TABLE (borrowed, not modified): no
 * catalog query for the table; the partition bounds are still queried.
 * Describes the table itself when `described` lacks qualified_name or
 * readable. */
int pg_read_spec_described(struct pg_source *s, struct dsb_call *call,
                           const char *database, const char *schema,
                           const char *table, const json_t *described,
                           const struct dsb_read_target *target, json_t **out,
                           struct dsb_error *err);
/* "id" -> "\"id\"" with embedded quotes doubled; malloc'd. */
char *pg_quote_ident(const char *name);

#endif
