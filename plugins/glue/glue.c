/* glue.so: AWS Glue Data Catalog.  Options are final; the catalog calls
 * arrive with issue 5 — until then every slot says so. */
#include <stdlib.h>
#include <string.h>

#include "dsbroker/plugin.h"

static const struct dsb_option glue_options[] = {
    DSB_OPTION_STRING("region", 0, NULL, "region of the catalog (default: "
                      "the broker's)"),
    DSB_OPTION_STRING("catalog_id", 0, NULL, "catalog (account) id; default: "
                      "the caller's account"),
    DSB_OPTION_STRING("endpoint_url", 0, NULL, "Glue endpoint override"),
    DSB_OPTION_LIST("include", 0, "[]", "database name patterns to show "
                    "(glob; empty: all)"),
    DSB_OPTION_LIST("exclude", 0, "[]", "database name patterns to hide"),
    DSB_OPTION_END};

struct glue_inst {
    const struct dsb_host *host;
};

static int glue_open(const struct dsb_host *host,
                     const struct dsb_source_info *info, const json_t *options,
                     void **inst, struct dsb_error *err)
{
    struct glue_inst *g = calloc(1, sizeof(*g));

    (void)info;
    (void)options;
    if (!g)
        return dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
    g->host = host;
    *inst = g;
    return 0;
}

static void glue_close(void *inst)
{
    free(inst);
}

static int glue_pending(struct dsb_error *err)
{
    dsb_error_set(err, DSB_E_UNSUPPORTED, "the glue plugin cannot read the "
                  "catalog yet");
    dsb_error_hint(err, "see issue 5; disable this source until then");
    return -1;
}

static int glue_check(void *inst, struct dsb_call *call, json_t **out,
                      struct dsb_error *err)
{
    (void)inst, (void)call, (void)out;
    return glue_pending(err);
}

static int glue_list(void *inst, struct dsb_call *call,
                     const struct dsb_list_request *req, json_t **out,
                     struct dsb_error *err)
{
    (void)inst, (void)call, (void)req, (void)out;
    return glue_pending(err);
}

static int glue_describe(void *inst, struct dsb_call *call, const char *db,
                         const char *schema, const char *table, json_t **out,
                         struct dsb_error *err)
{
    (void)inst, (void)call, (void)db, (void)schema, (void)table, (void)out;
    return glue_pending(err);
}

static int glue_read_spec(void *inst, struct dsb_call *call, const char *db,
                          const char *schema, const char *table,
                          const struct dsb_read_target *target, json_t **out,
                          struct dsb_error *err)
{
    (void)target;
    return glue_describe(inst, call, db, schema, table, out, err);
}

static const struct dsb_source_plugin glue_plugin = {
    .abi = DSB_PLUGIN_HEADER,
    .name = "glue",
    .version = "0.1.0",
    .description = "AWS Glue Data Catalog databases and tables",
    .options = glue_options,
    .default_network = "public",
    .flags = DSB_SRC_FLAT_SCHEMA,
    .flat_schema = "default",
    .open = glue_open,
    .close = glue_close,
    .check = glue_check,
    .list_databases = glue_list,
    .list_tables = glue_list,
    .describe_table = glue_describe,
    .read_spec = glue_read_spec,
};

DSB_PLUGIN_EXPORT const struct dsb_source_plugin *dsb_plugin_entry(void);
DSB_PLUGIN_EXPORT const struct dsb_source_plugin *dsb_plugin_entry(void)
{
    return &glue_plugin;
}
