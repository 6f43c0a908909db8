/* s3csv.so: CSV files in S3 and in local directories.  Options are final;
 * listing and type inference arrive with issue 5 — until then every slot
 * says so. */
#include <stdlib.h>
#include <string.h>

#include "dsbroker/plugin.h"

static const char *const s3csv_encodings[] = {"utf-8", "latin-1", NULL};

static const struct dsb_option s3csv_options[] = {
    DSB_OPTION_LIST("roots", DSB_OPT_REQUIRED, NULL,
                    "s3://bucket/prefix/ or file:///abs/dir/ roots; each is a "
                    "database"),
    DSB_OPTION_STRING("delimiter", 0, ",", "field delimiter (one character)"),
    DSB_OPTION_STRING("quote", 0, "\"", "quote character"),
    DSB_OPTION_STRING("escape", 0, "\"", "escape character inside quotes"),
    DSB_OPTION_ENUM("encoding", 0, "utf-8", s3csv_encodings, "file encoding"),
    DSB_OPTION_INT("sample_kb", 0, "64", 1, 16384,
                   "bytes read from each file to infer column types (KiB)"),
    DSB_OPTION_STRING("endpoint_url", 0, NULL, "S3 endpoint override"),
    DSB_OPTION_STRING("region", 0, NULL, "bucket region (default: the "
                      "broker's)"),
    DSB_OPTION_END};

struct s3csv_inst {
    const struct dsb_host *host;
};

static int s3csv_open(const struct dsb_host *host,
                     const struct dsb_source_info *info, const json_t *options,
                     void **inst, struct dsb_error *err)
{
    struct s3csv_inst *g = calloc(1, sizeof(*g));

    (void)info;
    (void)options;
    if (!g)
        return dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
    g->host = host;
    *inst = g;
    return 0;
}

static void s3csv_close(void *inst)
{
    free(inst);
}

static int s3csv_pending(struct dsb_error *err)
{
    dsb_error_set(err, DSB_E_UNSUPPORTED, "the s3csv plugin cannot list files "
                  "yet");
    dsb_error_hint(err, "see issue 5; disable this source until then");
    return -1;
}

static int s3csv_check(void *inst, struct dsb_call *call, json_t **out,
                      struct dsb_error *err)
{
    (void)inst, (void)call, (void)out;
    return s3csv_pending(err);
}

static int s3csv_list(void *inst, struct dsb_call *call,
                     const struct dsb_list_request *req, json_t **out,
                     struct dsb_error *err)
{
    (void)inst, (void)call, (void)req, (void)out;
    return s3csv_pending(err);
}

static int s3csv_describe(void *inst, struct dsb_call *call, const char *db,
                         const char *schema, const char *table, json_t **out,
                         struct dsb_error *err)
{
    (void)inst, (void)call, (void)db, (void)schema, (void)table, (void)out;
    return s3csv_pending(err);
}

static int s3csv_read_spec(void *inst, struct dsb_call *call, const char *db,
                          const char *schema, const char *table,
                          const struct dsb_read_target *target, json_t **out,
                          struct dsb_error *err)
{
    (void)target;
    return s3csv_describe(inst, call, db, schema, table, out, err);
}

static const struct dsb_source_plugin s3csv_plugin = {
    .abi = DSB_PLUGIN_HEADER,
    .name = "s3csv",
    .version = "0.1.0",
    .description = "CSV files in S3 buckets and local directories",
    .options = s3csv_options,
    .default_network = "public",
    .list_schemas = s3csv_list,
    .open = s3csv_open,
    .close = s3csv_close,
    .check = s3csv_check,
    .list_databases = s3csv_list,
    .list_tables = s3csv_list,
    .describe_table = s3csv_describe,
    .read_spec = s3csv_read_spec,
};

DSB_PLUGIN_EXPORT const struct dsb_source_plugin *dsb_plugin_entry(void);
DSB_PLUGIN_EXPORT const struct dsb_source_plugin *dsb_plugin_entry(void)
{
    return &s3csv_plugin;
}
