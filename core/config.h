/* conf.d: broker.yaml plus one YAML file per source, validated strictly. */
#ifndef DSB_CORE_CONFIG_H
#define DSB_CORE_CONFIG_H

#include <stdint.h>

#include <jansson.h>

#include "diag.h"
#include "plugins.h"
#include "settings.h"
#include "yamldoc.h"

struct dsb_source_conf {
    char *name;
    char *plugin;
    char *network; /* NULL: the plugin's default */
    char *description;
    int enabled;
    json_t *options; /* validated plugin options */
    char *file;
    int line, col;
};

/* An executor's job limits, bound from its options at load (0: the
 * type has no such option and the broker enforces none). */
struct dsb_executor_limits {
    long max_running;         /* max_running_jobs */
    long max_queued;          /* max_queued_jobs */
    int64_t max_output_bytes; /* max_output_mb */
    int64_t max_log_bytes;    /* max_log_mb, per log file */
};

struct dsb_executor_conf {
    char *name;
    char *type;       /* a registered type (core/jobs/executor.h) */
    json_t *networks; /* array of strings */
    json_t *options;  /* validated type-specific options */
    struct dsb_executor_limits limits;
    char *file;
    int line, col;
};

struct dsb_config {
    char *dir;                    /* absolute conf.d path */
    json_t *broker;               /* validated broker.yaml (all sections) */
    struct dsb_settings settings; /* broker.yaml bound (request paths) */
    char *plugin_dir;             /* absolute */
    char *state_dir;              /* absolute */
    char *console_dir;            /* absolute; NULL: console.enabled is false */
    struct dsb_source_conf *sources;
    size_t n_sources;
    struct dsb_executor_conf *executors;
    size_t n_executors;
    char *default_executor;
};

/*
 * Phase 1: reads dir/broker.yaml (absent = defaults) and decides the plugin
 * directory: `plugin_dir_override` (e.g. -P or DSB_PLUGIN_DIR), else the
 * file's plugin_dir, else the one beside the executable.  Phase 2
 * (dsb_config_load_sources) validates the source files against the loaded
 * plugins' option tables.  All problems go to `d`; the config is usable
 * only when d->errors == 0.
 */
struct dsb_config *dsb_config_load_broker(const char *dir,
                                          const char *plugin_dir_override,
                                          struct dsb_diags *d);
void dsb_config_load_sources(struct dsb_config *cfg,
                             const struct dsb_plugin_set *plugins,
                             struct dsb_diags *d);
void dsb_config_free(struct dsb_config *cfg);

/* The network a source is on: its configuration's, else its plugin's
 * default (p may be NULL), else "default". */
const char *dsb_source_network(const struct dsb_source_conf *c,
                               const struct dsb_plugin *p);

/* The broker-owned directory of conf.d: managed sources (one file each,
 * written by POST/PUT /v1/sources), read after conf.d's own files. */
#define DSB_MANAGED_DIR "managed"

/*
 * Validates one source document (root) as a file of cfg's conf.d would be,
 * against the same option tables: the name must be free but for
 * `replacing` (an update; may be NULL).  Returns the core keys and the
 * plugin's validated options in one new object, or NULL with the reasons
 * in d.
 */
json_t *dsb_config_check_source(const struct dsb_config *cfg,
                                const struct dsb_plugin_set *plugins,
                                const struct dsb_ynode *root,
                                const char *replacing, struct dsb_diags *d);

/* Option tables of broker.yaml and of each executor type (for schemas);
 * dsb_executor_options is NULL for a type that is not registered. */
extern const struct dsb_option dsb_broker_options[];
const struct dsb_option *dsb_executor_options(const char *type);

/* The entry of broker.yaml's aws section named name (default and bounds
 * of the AWS client's limits: the one place they are written), or NULL. */
const struct dsb_option *dsb_aws_client_option(const char *name);

/* Directory of the running executable's ../lib/dsbroker (malloc'd). */
char *dsb_default_plugin_dir(void);
/* ../share/dsbroker/console beside the executable (malloc'd). */
char *dsb_default_console_dir(void);

#endif
