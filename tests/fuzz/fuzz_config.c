/* YAML parsing and option validation (with interpolation) of any input. */
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fuzz.h"
#include "options.h"
#include "yamldoc.h"

static const char *const modes[] = {"fast", "slow", NULL};
static const struct dsb_option inner[] = {
    DSB_OPTION_STRING("host", DSB_OPT_REQUIRED, NULL, "host"),
    DSB_OPTION_INT("port", 0, "80", 1, 65535, "port"), DSB_OPTION_END};
static const struct dsb_option table[] = {
    DSB_OPTION_STRING("name", DSB_OPT_REQUIRED, NULL, "name"),
    DSB_OPTION_INT("port", 0, "5432", 1, 65535, "port"),
    DSB_OPTION_DOUBLE("ratio", 0, "0.5", 0, 1, "ratio"),
    DSB_OPTION_BOOL("tls", "true", "tls"),
    DSB_OPTION_ENUM("mode", 0, "fast", modes, "mode"),
    DSB_OPTION_LIST("tags", 0, "[]", "tags"),
    DSB_OPTION_MAP("labels", 0, "labels"),
    DSB_OPTION_SECRET("password", 0, "password"),
    DSB_OPTION_OBJECT("endpoint", inner, "endpoint"),
    DSB_OPTION_OBJECT_LIST("replicas", 0, "[]", inner, "replicas"),
    DSB_OPTION_END};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct dsb_diags d;
    struct dsb_ynode *doc;

    dsb_diags_init(&d);
    doc = dsb_yaml_parse((const char *)data, size, "fuzz.yaml", &d);
    if (doc) {
        json_decref(dsb_options_validate(doc, table, NULL, &d));
        json_decref(
            dsb_options_validate(doc, dsb_broker_options,
                                 (const char *const[]){"executors", NULL}, &d));
    }
    dsb_ynode_free(doc);
    dsb_diags_free(&d);
    return 0;
}
