/* Glue GetTables answers (JSON pages, see fake_aws.h): every table of the
 * list becomes TABLE JSON and a read spec for a local and an EMR executor. */
#define _GNU_SOURCE /* memmem */
#include <stdlib.h>
#include <string.h>

#include "fake_aws.h"
#include "fuzz.h"
#include "glue.h"

static const struct dsb_read_target fz_targets[] = {
    {"local", "local-spark", DSB_EXEC_S3A | DSB_EXEC_LOCAL_FILES},
    {"emr", "emr-serverless", DSB_EXEC_GLUE_CATALOG | DSB_EXEC_S3_NATIVE},
};

static void fz_table(const struct glue_inst *g, const json_t *t)
{
    struct dsb_error err;

    json_decref(glue_table_json(t));
    (void)glue_format(t);
    for (size_t i = 0; i < sizeof(fz_targets) / sizeof(*fz_targets); i++) {
        json_t *spec = NULL;
        if (glue_read_spec_json(g, "db", t, &fz_targets[i], &spec, &err) == 0)
            json_decref(spec);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct glue_inst g = {
        .host = &fa_host, .include = json_array(), .exclude = json_array()};
    struct dsb_error err;
    json_t *list = NULL, *t;
    size_t i;

    fa_set(data, size);
    if (glue_tables(&g, NULL, "db", "orders", &list, &err) == 0)
        json_array_foreach(list, i, t) fz_table(&g, t);
    json_decref(list);
    json_decref(g.include);
    json_decref(g.exclude);
    return 0;
}
