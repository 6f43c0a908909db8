/* The running broker: configuration, plugins and open source instances. */
#ifndef DSB_CORE_BROKER_H
#define DSB_CORE_BROKER_H

#include <sys/types.h>
#include <pthread.h>

#include "arena.h"
#include "config.h"
#include "plugins.h"
#include "secrets.h"
#include "util.h"

enum dsb_source_state {
    DSB_SOURCE_OPEN = 0,
    DSB_SOURCE_DISABLED = 1, /* enabled: false */
    DSB_SOURCE_FAILED = 2,   /* open failed; open_error says why */
};

struct dsb_broker;
struct dsb_aws;

struct dsb_host_impl {
    struct dsb_host pub; /* first: plugins see &pub */
    struct dsb_broker *broker;
    char prefix[160]; /* "plugin:source" */
};

struct dsb_source {
    const struct dsb_source_conf *conf;
    const struct dsb_plugin *plugin; /* NULL when the plugin was refused */
    const char *network;             /* effective */
    struct dsb_source_info info;
    struct dsb_host_impl host;
    void *inst;
    enum dsb_source_state state;
    struct dsb_error open_error;
    int to_open; /* while starting: enabled with its plugin loaded */
    pid_t probe; /* while starting: the preflight child, 0 for none */
    /* The source's mask_columns globs (borrowed from conf->options; NULL
     * when its plugin has no such option): values of those columns are
     * stripped from every answer of the plugin (core/calls.c). */
    const json_t *mask;
};

struct dsb_broker {
    struct dsb_config *cfg;
    struct dsb_plugin_set plugins;
    struct dsb_secrets *secrets;
    struct dsb_source *sources;
    size_t n_sources;
    struct dsb_aws *aws; /* the AWS client (core/aws) */
};

struct dsb_broker_opts {
    const char *conf_dir;
    const char *plugin_dir; /* NULL: config / default */
    int preflight;          /* run each open once in a child process first */
    /* The broker this one replaces (a reload), or NULL.  A source that is
     * open there with the same plugin file and configuration is not probed
     * again: it was probed when it first opened, and a reload then forks
     * nothing from the serving (multi-threaded) process for it. */
    const struct dsb_broker *previous;
    /* The resolver of store: secret references (NULL: none here). */
    dsb_secret_backend_fn store_fn;
    void *store_ctx;
};

/*
 * Loads and validates the configuration, loads the plugins and opens every
 * enabled source.  Returns NULL when the configuration has errors (all in
 * `d`).  A source whose plugin is refused or whose open fails is kept in
 * state DSB_SOURCE_FAILED with the reason; the others work.
 */
struct dsb_broker *dsb_broker_start(const struct dsb_broker_opts *o,
                                    struct dsb_diags *d);
void dsb_broker_stop(struct dsb_broker *b);
struct dsb_source *dsb_broker_source(struct dsb_broker *b, const char *name);
/* Opens a source that is not one of b's (a candidate: POST
 * /v1/sources/test), in a probe child first when preflight, runs its check
 * slot and closes it: 0 with *check (a new reference), else -1 with the
 * open's or the check's error (redacted). */
int dsb_broker_try_source(struct dsb_broker *b, const struct dsb_source_conf *c,
                          int preflight, json_t **check, struct dsb_error *err);

enum dsb_slot {
    DSB_SLOT_CHECK,
    DSB_SLOT_LIST_DATABASES,
    DSB_SLOT_LIST_SCHEMAS,
    DSB_SLOT_LIST_TABLES,
    DSB_SLOT_DESCRIBE_TABLE,
    DSB_SLOT_READ_SPEC,
    DSB_SLOT_DESCRIBE_TABLES, /* ABI 1.2: several tables of one schema */
    DSB_SLOT_COUNT
};
/* Arguments of one slot call; strings borrowed.  Unused ones NULL/0. */
struct dsb_slot_args {
    enum dsb_slot slot;
    const char *database, *schema, *table;
    const char *name_filter, *page_token;
    size_t page_size;
    const struct dsb_read_target *target; /* read_spec */
    const json_t *described;   /* read_spec: the TABLE the broker already
                                * holds (borrowed), or NULL */
    const char *const *tables; /* describe_tables: n_tables names */
    size_t n_tables;
};
/* "check", "list_databases", ... (metrics, logs, errors). */
const char *dsb_slot_name(enum dsb_slot slot);
/* Runs one slot of an open source (see calls.c). */
int dsb_source_call(struct dsb_source *s, const struct dsb_slot_args *a,
                    const char *request_id, int64_t deadline_ms, json_t **out,
                    struct dsb_error *err);
/* Non-zero when the source's plugin takes the broker's description in
 * read_spec (ABI 1.1). */
int dsb_source_takes_described(const struct dsb_source *s);
/* Non-zero when the source's plugin describes several tables of a schema
 * in one call (ABI 1.2 describe_tables). */
int dsb_source_describes_many(const struct dsb_source *s);
/* Non-zero when the source's plugin writes its listings of tables as JSON
 * text (ABI 1.3 list_tables_json). */
int dsb_source_lists_json(const struct dsb_source *s);
/* Runs list_tables_json for a (a DSB_SLOT_LIST_TABLES call), the text
 * appended to out and the next page's token in *next (malloc'd, NULL on
 * the last page); as dsb_source_call otherwise, but the text is not
 * parsed: only its being an object is checked. */
int dsb_source_list_json(struct dsb_source *s, const struct dsb_slot_args *a,
                         const char *request_id, int64_t deadline_ms,
                         struct dsb_sb *out, char **next,
                         struct dsb_error *err);

/*
 * Slot wrappers: check the source is open, run the slot within a call
 * (arena, deadline timeout_ms, 0 = the default), check the output's shape,
 * and redact the error.  *out is a new reference on success.
 */
int dsb_source_check(struct dsb_source *s, json_t **out, struct dsb_error *err);
int dsb_source_list_databases(struct dsb_source *s,
                              const struct dsb_list_request *r, json_t **out,
                              struct dsb_error *err);
int dsb_source_list_schemas(struct dsb_source *s,
                            const struct dsb_list_request *r, json_t **out,
                            struct dsb_error *err);
int dsb_source_list_tables(struct dsb_source *s,
                           const struct dsb_list_request *r, json_t **out,
                           struct dsb_error *err);
int dsb_source_describe_table(struct dsb_source *s, const char *db,
                              const char *schema, const char *table,
                              json_t **out, struct dsb_error *err);
int dsb_source_read_spec(struct dsb_source *s, const char *db,
                         const char *schema, const char *table,
                         const struct dsb_read_target *target, json_t **out,
                         struct dsb_error *err);
/* The same, handing `described` (a TABLE describe_table returned,
 * borrowed) to a plugin with the ABI 1.1 read_spec_described slot; other
 * plugins get read_spec. */
int dsb_source_read_spec_described(struct dsb_source *s, const char *db,
                                   const char *schema, const char *table,
                                   const json_t *described,
                                   const struct dsb_read_target *target,
                                   json_t **out, struct dsb_error *err);

/* Name of an error code ("not_found") and its HTTP status. */
const char *dsb_err_code_name(int code);
int dsb_err_http_status(int code);

#endif
