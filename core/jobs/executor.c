/* The executor registry: each type's name and operations, in one table. */
#include "jobs/executor.h"

#include <stdlib.h>
#include <string.h>

#include "jobs/internal.h"

/* X(name, ops): every executor type, in the order config errors list them
 * and the tracker ticks them. */
#define DSB_EXECUTOR_REGISTRY(X)                                               \
    X("local-spark", dsb_local_spark_ops)                                      \
    X("emr-serverless", dsb_emr_serverless_ops)                                \
    X("spark-submit", dsb_spark_submit_ops)

#define DSB_EXECUTOR_NAME(name, ops) name,
#define DSB_EXECUTOR_OPS(name, ops) &ops,

const char *const dsb_executor_types[] = {
    DSB_EXECUTOR_REGISTRY(DSB_EXECUTOR_NAME) NULL};

static const struct dsb_executor_ops *const registry[] = {
    DSB_EXECUTOR_REGISTRY(DSB_EXECUTOR_OPS) NULL};

_Static_assert(sizeof(registry) / sizeof(*registry) <=
                   DSB_EXECUTOR_TYPES_MAX + 1,
               "raise DSB_EXECUTOR_TYPES_MAX");

const struct dsb_executor_ops *dsb_executor_ops_find(const char *type)
{
    for (size_t i = 0; type && dsb_executor_types[i]; i++)
        if (strcmp(dsb_executor_types[i], type) == 0)
            return registry[i];
    return NULL;
}

const struct dsb_executor_ops *dsb_executor_ops_at(size_t i)
{
    return i < sizeof(registry) / sizeof(*registry) ? registry[i] : NULL;
}

/* Option `key` of e: its value, else its type's default, else 0. */
static long long option_int(const struct dsb_executor_conf *e, const char *key)
{
    const struct dsb_executor_ops *ops = dsb_executor_ops_find(e->type);
    const json_t *v = json_object_get(e->options, key);

    if (json_is_integer(v))
        return json_integer_value(v);
    for (const struct dsb_option *o = ops ? ops->options : NULL; o && o->name;
         o++)
        if (strcmp(o->name, key) == 0 && o->default_value)
            return strtoll(o->default_value, NULL, 10);
    return 0;
}

void dsb_executor_limits_bind(struct dsb_executor_conf *e)
{
    e->limits.max_running = (long)option_int(e, "max_running_jobs");
    e->limits.max_queued = (long)option_int(e, "max_queued_jobs");
    e->limits.max_output_bytes = option_int(e, "max_output_mb") << 20;
    e->limits.max_log_bytes = option_int(e, "max_log_mb") << 20;
}
