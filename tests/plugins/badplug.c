/* One deliberately broken plugin per BAD_* macro (see CMakeLists.txt). */
#include <signal.h>
#include <stdlib.h>

#include "dsbroker/plugin.h"

static const struct dsb_option bad_options[] = {
    DSB_OPTION_STRING("path", 0, NULL, "anything"),
#ifdef BAD_BAD_OPTION_TABLE
    DSB_OPTION_INT("retries", 0, "many", 0, 10, "default is not a number"),
    DSB_OPTION_STRING("path", 0, NULL, "declared twice"),
#endif
    DSB_OPTION_END};

static int bad_open(const struct dsb_host *host,
                    const struct dsb_source_info *info, const json_t *options,
                    void **inst, struct dsb_error *err)
{
    (void)host, (void)info, (void)options;
#ifdef BAD_CRASH_OPEN
    (void)err;
    raise(SIGSEGV);
#endif
#ifdef BAD_OPEN_FAILS
    dsb_error_set(err, DSB_E_UNAVAILABLE, "cannot reach the thing at %s",
                  json_string_value(json_object_get(options, "path")));
    dsb_error_hint(err, "start the thing");
    return -1;
#endif
    (void)err;
    *inst = malloc(1);
    return 0;
}

static void bad_close(void *inst)
{
    free(inst);
}

#if !defined(BAD_NULL_SLOT)
static int bad_check(void *inst, struct dsb_call *call, json_t **out,
                     struct dsb_error *err)
{
    (void)inst, (void)call, (void)err;
    *out = json_pack("{s:b}", "ok", 1);
    return 0;
}
#endif

static int bad_list(void *inst, struct dsb_call *call,
                    const struct dsb_list_request *req, json_t **out,
                    struct dsb_error *err)
{
    (void)inst, (void)call, (void)req, (void)err;
    *out = json_pack("{s:[], s:n}", "items", "next_page_token");
    return 0;
}

static int bad_describe(void *inst, struct dsb_call *call, const char *db,
                        const char *schema, const char *table, json_t **out,
                        struct dsb_error *err)
{
    (void)inst, (void)call, (void)db, (void)schema, (void)table, (void)out;
    return dsb_error_set(err, DSB_E_NOT_FOUND, "no tables here");
}

static int bad_read(void *inst, struct dsb_call *call, const char *db,
                    const char *schema, const char *table,
                    const struct dsb_read_target *t, json_t **out,
                    struct dsb_error *err)
{
    (void)t;
    return bad_describe(inst, call, db, schema, table, out, err);
}

static const struct dsb_source_plugin bad_plugin = {
#if defined(BAD_WRONG_MAJOR)
    .abi = {DSB_PLUGIN_MAGIC, DSB_ABI_MAJOR + 1, 0,
            (uint32_t)sizeof(struct dsb_source_plugin), 0, DSB_BUILD_TAG},
#elif defined(BAD_NEWER_MINOR)
    .abi = {DSB_PLUGIN_MAGIC, DSB_ABI_MAJOR, DSB_ABI_MINOR + 1,
            (uint32_t)sizeof(struct dsb_source_plugin), 0, DSB_BUILD_TAG},
#elif defined(BAD_BAD_TAG)
    .abi = {DSB_PLUGIN_MAGIC, DSB_ABI_MAJOR, DSB_ABI_MINOR,
            (uint32_t)sizeof(struct dsb_source_plugin), 0, "ptr4-be-jansson1"},
#elif defined(BAD_BAD_MAGIC)
    .abi = {0x12345678u, DSB_ABI_MAJOR, DSB_ABI_MINOR,
            (uint32_t)sizeof(struct dsb_source_plugin), 0, DSB_BUILD_TAG},
#else
    .abi = DSB_PLUGIN_HEADER,
#endif
#if defined(BAD_NAME_MISMATCH)
    .name = "somebody_else",
#else
    .name = BAD_NAME,
#endif
    .version = "0.0.1",
    .description = "a deliberately broken test plugin",
    .options = bad_options,
    .default_network = "public",
    .open = bad_open,
    .close = bad_close,
#if defined(BAD_NULL_SLOT)
    .check = NULL,
#else
    .check = bad_check,
#endif
    .list_databases = bad_list,
    .list_schemas = bad_list,
    .list_tables = bad_list,
    .describe_table = bad_describe,
    .read_spec = bad_read,
};

DSB_PLUGIN_DEFINE(bad_plugin);
