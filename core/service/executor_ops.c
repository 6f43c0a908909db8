/* Executors: where jobs run and how each one confines them. */
#include <string.h>

#include "jobs/executor.h"
#include "service/internal.h"

/* One executor as GET /v1/executors shows it: name, type, networks, then
 * what its type describes (isolation and, for a local type, its network
 * policy, user and limits).  Never a secret. */
static json_t *executor_json(const struct dsb_executor_conf *e,
                             const char *default_executor)
{
    const struct dsb_executor_ops *ops = dsb_executor_ops_find(e->type);
    json_t *o =
        json_pack("{s:s, s:s, s:O, s:b}", "name", e->name, "type", e->type,
                  "networks", e->networks, "default",
                  default_executor && strcmp(default_executor, e->name) == 0);

    if (o && ops && ops->describe)
        json_object_update_new(o, ops->describe(e));
    return o;
}

int dsb_svc_executors(const struct dsb_ctx *c, json_t **out,
                      struct dsb_error *err)
{
    const struct dsb_config *cfg = c->gen->broker->cfg;
    const struct dsb_executor_conf *e;
    json_t *items;
    size_t n;

    if (dsb_svc_require(c, DSB_SCOPE_READ, err) < 0)
        return -1;
    e = dsb_executors(cfg, &n);
    items = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(items,
                              executor_json(&e[i], cfg->default_executor
                                                       ? cfg->default_executor
                                                       : e[0].name));
    *out = json_pack("{s:o}", "items", items);
    return *out ? 0 : dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
}

json_t *dsb_svc_job_isolation(const struct dsb_gen *g)
{
    size_t n = 0;
    const struct dsb_executor_conf *e = dsb_executors(g->broker->cfg, &n);
    json_t *map = json_object();

    for (size_t i = 0; i < n; i++) {
        const struct dsb_executor_ops *ops = dsb_executor_ops_find(e[i].type);
        json_t *d = ops && ops->describe ? ops->describe(&e[i]) : NULL;
        const char *iso = json_string_value(json_object_get(d, "isolation"));
        int ready = !json_is_false(json_object_get(d, "ready"));
        json_object_set_new(map, e[i].name,
                            json_string(!iso    ? "unknown"
                                        : ready ? iso
                                                : "unavailable"));
        json_decref(d);
    }
    return map;
}
