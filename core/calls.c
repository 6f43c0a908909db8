/* Slot wrappers: state check, call context, output shape, redaction. */
#include <string.h>

#include "broker.h"
#include "log.h"
#include "secrets.h"

enum slot { S_CHECK, S_DATABASES, S_SCHEMAS, S_TABLES, S_DESCRIBE, S_READ };

static const char *const slot_names[] = {"check", "list_databases",
                                         "list_schemas", "list_tables",
                                         "describe_table", "read_spec"};

struct slot_args {
    const struct dsb_list_request *req;
    const char *db, *schema, *table;
    const struct dsb_read_target *target;
    const json_t *described; /* read_spec: the cached TABLE, or NULL */
};

/* read_spec, or its ABI 1.1 form when the plugin has it and the caller
 * holds the table's description. */
static int read_spec(struct dsb_source *s, const struct slot_args *a,
                     struct dsb_call *c, json_t **out, struct dsb_error *err)
{
    const struct dsb_source_plugin *vt = &s->plugin->vt;

    if (a->described && vt->read_spec_described)
        return vt->read_spec_described(s->inst, c, a->db, a->schema,
                                       a->table, a->described, a->target,
                                       out, err);
    return vt->read_spec(s->inst, c, a->db, a->schema, a->table, a->target,
                         out, err);
}

static int invoke(struct dsb_source *s, enum slot k, const struct slot_args *a,
                  struct dsb_call *c, json_t **out, struct dsb_error *err)
{
    const struct dsb_source_plugin *vt = &s->plugin->vt;

    switch (k) {
    case S_CHECK:
        return vt->check(s->inst, c, out, err);
    case S_DATABASES:
        return vt->list_databases(s->inst, c, a->req, out, err);
    case S_SCHEMAS:
        return vt->list_schemas(s->inst, c, a->req, out, err);
    case S_TABLES:
        return vt->list_tables(s->inst, c, a->req, out, err);
    case S_DESCRIBE:
        return vt->describe_table(s->inst, c, a->db, a->schema, a->table, out,
                                  err);
    default:
        return read_spec(s, a, c, out, err);
    }
}

/* ------------------------------------------------------------ shapes */

static const char *check_column(const json_t *c)
{
    if (!json_is_object(c) || !json_is_string(json_object_get(c, "name")))
        return "a column without a string \"name\"";
    if (!json_is_integer(json_object_get(c, "position")))
        return "a column without an integer \"position\"";
    if (!json_is_string(json_object_get(c, "spark_type")) ||
        !json_is_string(json_object_get(c, "source_type")))
        return "a column without \"spark_type\" and \"source_type\"";
    if (!json_is_boolean(json_object_get(c, "nullable")))
        return "a column without a boolean \"nullable\"";
    return NULL;
}

static const char *check_columns(const json_t *cols)
{
    size_t i;
    const json_t *c;
    const char *why;

    if (!json_is_array(cols))
        return "no \"columns\" array";
    json_array_foreach(cols, i, c)
        if ((why = check_column(c)) != NULL)
            return why;
    return NULL;
}

static const char *check_table(const json_t *t)
{
    if (!json_is_object(t) || !json_is_string(json_object_get(t, "name")))
        return "a table without a string \"name\"";
    if (!json_is_string(json_object_get(t, "kind")))
        return "a table without a string \"kind\"";
    return check_columns(json_object_get(t, "columns"));
}

static const char *check_listing(const json_t *o, int tables)
{
    const json_t *items = json_object_get(o, "items"), *it;
    const json_t *tok = json_object_get(o, "next_page_token");
    size_t i;
    const char *why;

    if (!json_is_array(items))
        return "no \"items\" array";
    if (tok && !json_is_null(tok) && !json_is_string(tok))
        return "a \"next_page_token\" that is not a string";
    json_array_foreach(items, i, it) {
        if (tables && (why = check_table(it)) != NULL)
            return why;
        if (!json_is_string(json_object_get(it, "name")))
            return "an item without a string \"name\"";
    }
    return NULL;
}

static const char *check_read_spec(const json_t *o)
{
    const json_t *opts = json_object_get(o, "options"), *v;
    const json_t *sec = json_object_get(o, "secret_options");
    const char *key;
    char why[128];

    if (!json_is_string(json_object_get(o, "format")))
        return "no string \"format\"";
    if (!json_is_object(opts))
        return "no \"options\" object";
    json_object_foreach((json_t *)opts, key, v)
        if (!json_is_string(v))
            return "an option value that is not a string";
    if (sec && !json_is_object(sec))
        return "a \"secret_options\" that is not an object";
    json_object_foreach((json_t *)sec, key, v)
        if (!json_is_string(v) ||
            dsb_secret_ref_check(json_string_value(v), why, sizeof(why)) < 0)
            return "a secret option that is not a secret reference";
    return check_columns(json_object_get(o, "columns"));
}

static const char *check_shape(enum slot k, const json_t *o)
{
    if (!json_is_object(o))
        return "not a JSON object";
    switch (k) {
    case S_CHECK:
        return json_is_boolean(json_object_get(o, "ok")) ? NULL
                                                         : "no boolean \"ok\"";
    case S_DATABASES:
    case S_SCHEMAS:
        return check_listing(o, 0);
    case S_TABLES:
        return check_listing(o, 1);
    case S_DESCRIBE:
        return check_table(o);
    default:
        return check_read_spec(o);
    }
}

/* ------------------------------------------------------------- run */

static int64_t call_timeout(const struct dsb_source *s)
{
    const json_t *lim = json_object_get(s->host.broker->cfg->broker, "limits");
    return json_integer_value(json_object_get(lim, "plugin_timeout_ms"));
}

static int not_open(const struct dsb_source *s, struct dsb_error *err)
{
    if (s->state == DSB_SOURCE_DISABLED) {
        dsb_error_set(err, DSB_E_UNAVAILABLE, "source %s is disabled",
                      s->conf->name);
        dsb_error_hint(err, "set enabled: true in %s and reload",
                       s->conf->file);
        return -1;
    }
    *err = s->open_error;
    err->code = DSB_E_UNAVAILABLE;
    err->retryable = 0;
    return -1;
}

static int flat_schemas(struct dsb_source *s, json_t **out)
{
    *out = json_pack("{s:[{s:s}], s:n}", "items", "name",
                     s->plugin->vt.flat_schema, "next_page_token");
    return 0;
}

static int run(struct dsb_source *s, enum slot k, const struct slot_args *a,
               json_t **out, struct dsb_error *err)
{
    struct dsb_call call;
    const char *why;
    int rc;

    *out = NULL;
    dsb_error_clear(err);
    if (s->state != DSB_SOURCE_OPEN)
        return not_open(s, err);
    if (k == S_SCHEMAS && (s->plugin->vt.flags & DSB_SRC_FLAT_SCHEMA))
        return flat_schemas(s, out);
    if (dsb_call_begin(&call, call_timeout(s), NULL) < 0)
        return dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
    rc = invoke(s, k, a, &call, out, err);
    dsb_call_end(&call);
    if (rc < 0 || !*out) {
        json_decref(*out);
        *out = NULL;
        if (err->code == DSB_OK)
            dsb_error_set(err, DSB_E_INTERNAL, "plugin %s failed in %s without "
                          "saying why", s->plugin->name, slot_names[k]);
        dsb_redact_error(err);
        return -1;
    }
    if ((why = check_shape(k, *out)) != NULL) {
        json_decref(*out);
        *out = NULL;
        return dsb_error_set(err, DSB_E_INTERNAL, "plugin %s returned a "
                             "malformed %s result: %s", s->plugin->name,
                             slot_names[k], why);
    }
    if (k == S_READ)
        json_object_set_new(*out, "network", json_string(s->network));
    return 0;
}

int dsb_source_check(struct dsb_source *s, json_t **out, struct dsb_error *err)
{
    struct slot_args a = {0};
    return run(s, S_CHECK, &a, out, err);
}

int dsb_source_list_databases(struct dsb_source *s,
                              const struct dsb_list_request *r, json_t **out,
                              struct dsb_error *err)
{
    struct slot_args a = {.req = r};
    return run(s, S_DATABASES, &a, out, err);
}

int dsb_source_list_schemas(struct dsb_source *s,
                            const struct dsb_list_request *r, json_t **out,
                            struct dsb_error *err)
{
    struct slot_args a = {.req = r};
    return run(s, S_SCHEMAS, &a, out, err);
}

int dsb_source_list_tables(struct dsb_source *s,
                           const struct dsb_list_request *r, json_t **out,
                           struct dsb_error *err)
{
    struct slot_args a = {.req = r};
    return run(s, S_TABLES, &a, out, err);
}

int dsb_source_describe_table(struct dsb_source *s, const char *db,
                              const char *schema, const char *table,
                              json_t **out, struct dsb_error *err)
{
    struct slot_args a = {.db = db, .schema = schema, .table = table};
    return run(s, S_DESCRIBE, &a, out, err);
}

int dsb_source_read_spec(struct dsb_source *s, const char *db,
                         const char *schema, const char *table,
                         const struct dsb_read_target *target, json_t **out,
                         struct dsb_error *err)
{
    struct slot_args a = {.db = db, .schema = schema, .table = table,
                          .target = target};
    return run(s, S_READ, &a, out, err);
}

int dsb_source_read_spec_described(struct dsb_source *s, const char *db,
                                   const char *schema, const char *table,
                                   const json_t *described,
                                   const struct dsb_read_target *target,
                                   json_t **out, struct dsb_error *err)
{
    struct slot_args a = {.db = db, .schema = schema, .table = table,
                          .target = target, .described = described};
    return run(s, S_READ, &a, out, err);
}

const char *dsb_slot_name(enum dsb_slot slot)
{
    return slot_names[slot];
}

int dsb_source_takes_described(const struct dsb_source *s)
{
    return s->plugin && s->plugin->vt.read_spec_described != NULL;
}

int dsb_source_call(struct dsb_source *s, const struct dsb_slot_args *a,
                    const char *request_id, int64_t deadline_ms,
                    json_t **out, struct dsb_error *err)
{
    struct dsb_list_request lr = {a->database, a->schema, a->name_filter,
                                  a->page_size, a->page_token};
    struct slot_args sa = {.req = &lr, .db = a->database, .schema =
                           a->schema, .table = a->table, .target =
                           a->target, .described = a->described};

    (void)request_id;
    (void)deadline_ms;
    return run(s, (enum slot)a->slot, &sa, out, err);
}
