/* A plugin built outside the tree, against the installed header only. */
#include <dsbroker/plugin.h>

static int out_open(const struct dsb_host *h, const struct dsb_source_info *i,
                    const json_t *o, void **inst, struct dsb_error *err)
{
    (void)h, (void)i, (void)o, (void)err;
    *inst = NULL;
    return 0;
}

static void out_close(void *inst)
{
    (void)inst;
}

static int out_check(void *inst, struct dsb_call *c, json_t **out,
                     struct dsb_error *err)
{
    (void)inst, (void)c, (void)err;
    *out = json_pack("{s:b}", "ok", 1);
    return 0;
}

static int out_list(void *inst, struct dsb_call *c,
                    const struct dsb_list_request *r, json_t **out,
                    struct dsb_error *err)
{
    (void)inst, (void)c, (void)r, (void)err;
    *out = json_pack("{s:[], s:n}", "items", "next_page_token");
    return 0;
}

static int out_describe(void *inst, struct dsb_call *c, const char *db,
                        const char *schema, const char *table, json_t **out,
                        struct dsb_error *err)
{
    (void)inst, (void)c, (void)db, (void)schema, (void)out;
    return dsb_error_set(err, DSB_E_NOT_FOUND, "no table %s", table);
}

static int out_read(void *inst, struct dsb_call *c, const char *db,
                    const char *schema, const char *table,
                    const struct dsb_read_target *t, json_t **out,
                    struct dsb_error *err)
{
    (void)t;
    return out_describe(inst, c, db, schema, table, out, err);
}

static const struct dsb_option out_options[] = {DSB_OPTION_END};

static const struct dsb_source_plugin out_plugin = {
    .abi = DSB_PLUGIN_HEADER,
    .name = "outside",
    .version = "0.0.1",
    .description = "built with pkg-config",
    .options = out_options,
    .open = out_open,
    .close = out_close,
    .check = out_check,
    .list_databases = out_list,
    .list_schemas = out_list,
    .list_tables = out_list,
    .describe_table = out_describe,
    .read_spec = out_read,
};

DSB_PLUGIN_DEFINE(out_plugin);
