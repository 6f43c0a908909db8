/* A service in the test process on a conf.d of the test's own: what the
 * front doors call, without HTTP (header-only). */
#ifndef DSB_TESTS_SERVICE_SUPPORT_H
#define DSB_TESTS_SERVICE_SUPPORT_H

#include <stdio.h>

#include "service/internal.h"
#include "support.h"

struct t_svc {
    struct dsb_service *svc;
    struct dsb_gen *gen;
    struct dsb_ctx ctx; /* anonymous principal, no deadline */
    struct dsb_diags d;
};

/* Writes dir/broker.yaml: state in `state`, warnings only, one local-spark
 * executor "local" (the default) reaching `networks` (a YAML flow list). */
static inline void t_broker_yaml_local(const char *dir, const char *state,
                                       const char *networks)
{
    char text[4096];

    snprintf(text, sizeof(text),
             "state_dir: %s\nlog_level: warn\n"
             "executors:\n  - name: local\n    type: local-spark\n"
             "    networks: %s\n    master: local[1]\n"
             "default_executor: local\n",
             state, networks);
    t_write(dir, "broker.yaml", text);
}

/* Opens the service on conf with the plugins of plugin_dir. */
static inline void t_svc_open(struct t_svc *t, const char *conf,
                              const char *plugin_dir, const char *request_id)
{
    struct dsb_service_opts o = {.conf_dir = conf, .plugin_dir = plugin_dir};

    dsb_diags_init(&t->d);
    t->svc = dsb_service_open(&o, &t->d);
    if (!t->svc)
        dsb_diags_print(&t->d, stderr);
    cr_assert_not_null(t->svc);
    t->gen = dsb_service_gen(t->svc);
    t->ctx = (struct dsb_ctx){.svc = t->svc,
                              .request_id = request_id,
                              .arena = dsb_arena_new(),
                              .principal = &t->gen->anonymous,
                              .gen = t->gen};
}

static inline void t_svc_close(struct t_svc *t)
{
    dsb_arena_free(t->ctx.arena);
    dsb_gen_release(t->gen);
    dsb_service_close(t->svc);
    dsb_diags_free(&t->d);
}

#endif
