/*
 * postgres.so — PostgreSQL metadata (databases, schemas, tables with all
 * their columns) and JDBC read specs for Spark.
 *
 * Connections are opened lazily, pooled per database, read-only, with the
 * statement timeout set at connection start.  See pg_int.h for the parts.
 */
#include <stdlib.h>
#include <string.h>

#include "pg_int.h"

/* open: copies the options; connects nothing (see check). */
static int pg_open(const struct dsb_host *host,
                   const struct dsb_source_info *info, const json_t *options,
                   void **inst, struct dsb_error *err)
{
    struct pg_source *s = calloc(1, sizeof(*s));

    if (!s)
        return dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
    s->host = host;
    s->info = info;
    if (pg_config_load(&s->cfg, options, err) < 0)
        goto fail;
    if (pg_pool_init(s) < 0) {
        dsb_error_set(err, DSB_E_INTERNAL, "cannot create the pool's lock");
        goto fail;
    }
    *inst = s;
    return 0;
fail:
    pg_config_free(&s->cfg);
    free(s);
    return -1;
}

/* close: closes every pooled connection and frees the instance. */
static void pg_close(void *inst)
{
    struct pg_source *s = inst;

    if (!s)
        return;
    pg_pool_destroy(s);
    pg_config_free(&s->cfg);
    free(s);
}

/* check: SELECT version() on the default database; reports the server's
 * version, the round trip (including connecting when the pool is empty)
 * and the pools. */
static int pg_check(void *inst, struct dsb_call *call, json_t **out,
                    struct dsb_error *err)
{
    struct pg_source *s = inst;
    int64_t t0 = s->host->monotonic_ms();
    PGresult *res = pg_query(s, call, NULL,
                             "SELECT current_setting('server_version'), "
                             "version(), current_database(), current_user",
                             0, NULL, err);

    if (!res)
        return -1;
    *out = json_pack(
        "{s:b, s:s, s:s, s:s, s:s, s:f, s:o}", "ok", 1, "server_version",
        PQgetvalue(res, 0, 0), "version", PQgetvalue(res, 0, 1), "database",
        PQgetvalue(res, 0, 2), "user", PQgetvalue(res, 0, 3), "latency_ms",
        (double)(s->host->monotonic_ms() - t0), "pools", pg_pool_report(s));
    PQclear(res);
    return *out ? 0 : dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
}

static int pg_slot_databases(void *inst, struct dsb_call *call,
                             const struct dsb_list_request *req, json_t **out,
                             struct dsb_error *err)
{
    return pg_list_databases(inst, call, req, out, err);
}

static int pg_slot_schemas(void *inst, struct dsb_call *call,
                           const struct dsb_list_request *req, json_t **out,
                           struct dsb_error *err)
{
    return pg_list_schemas(inst, call, req, out, err);
}

static int pg_slot_tables(void *inst, struct dsb_call *call,
                          const struct dsb_list_request *req, json_t **out,
                          struct dsb_error *err)
{
    return pg_list_tables(inst, call, req, out, err);
}

static int pg_slot_describe(void *inst, struct dsb_call *call,
                            const char *database, const char *schema,
                            const char *table, json_t **out,
                            struct dsb_error *err)
{
    return pg_describe(inst, call, database, schema, table, out, err);
}

static int pg_slot_read_spec(void *inst, struct dsb_call *call,
                             const char *database, const char *schema,
                             const char *table,
                             const struct dsb_read_target *target, json_t **out,
                             struct dsb_error *err)
{
    return pg_read_spec(inst, call, database, schema, table, target, out, err);
}

static int pg_slot_read_spec_described(void *inst, struct dsb_call *call,
                                       const char *database, const char *schema,
                                       const char *table,
                                       const json_t *described,
                                       const struct dsb_read_target *target,
                                       json_t **out, struct dsb_error *err)
{
    return pg_read_spec_described(inst, call, database, schema, table,
                                  described, target, out, err);
}

static int pg_slot_describe_tables(void *inst, struct dsb_call *call,
                                   const char *database, const char *schema,
                                   const char *const *tables, size_t n,
                                   json_t **out, struct dsb_error *err)
{
    return pg_describe_tables(inst, call, database, schema, tables, n, out,
                              err);
}

static int pg_slot_tables_json(void *inst, struct dsb_call *call,
                               const struct dsb_list_request *req,
                               json_dump_callback_t write, void *write_ctx,
                               const char **next_page_token,
                               struct dsb_error *err)
{
    return pg_list_tables_json(inst, call, req, write, write_ctx,
                               next_page_token, err);
}

static const struct dsb_source_plugin pg_plugin = {
    .abi = DSB_PLUGIN_HEADER,
    .name = "postgres",
    .version = "1.0.0",
    .description = "PostgreSQL databases, schemas and tables; JDBC reads",
    .options = pg_options,
    .default_network = "private",
    .flags = 0,
    .flat_schema = NULL,
    .open = pg_open,
    .close = pg_close,
    .check = pg_check,
    .list_databases = pg_slot_databases,
    .list_schemas = pg_slot_schemas,
    .list_tables = pg_slot_tables,
    .describe_table = pg_slot_describe,
    .read_spec = pg_slot_read_spec,
    .read_spec_described = pg_slot_read_spec_described,
    .describe_tables = pg_slot_describe_tables,
    .check_options = pg_check_options,
    .list_tables_json = pg_slot_tables_json,
};

/* The plugin's one exported symbol. */
DSB_PLUGIN_DEFINE(pg_plugin);
