/* Slot wrappers: state check, call context, output shape, redaction,
 * masking. */
#define _GNU_SOURCE /* FNM_CASEFOLD */
#include <fnmatch.h>
#include <string.h>

#include "broker.h"
#include "log.h"
#include "secrets.h"
#include "util.h"

static const char *const slot_names[] = {
    "check",          "list_databases", "list_schemas",   "list_tables",
    "describe_table", "read_spec",      "describe_tables"};
_Static_assert(sizeof(slot_names) / sizeof(*slot_names) == DSB_SLOT_COUNT,
               "every slot has a name");

/* read_spec, or its ABI 1.1 form when the plugin has it and the caller
 * holds the table's description. */
static int read_spec(struct dsb_source *s, const struct dsb_slot_args *a,
                     struct dsb_call *c, json_t **out, struct dsb_error *err)
{
    const struct dsb_source_plugin *vt = &s->plugin->vt;

    if (a->described && vt->read_spec_described)
        return vt->read_spec_described(s->inst, c, a->database, a->schema,
                                       a->table, a->described, a->target, out,
                                       err);
    return vt->read_spec(s->inst, c, a->database, a->schema, a->table,
                         a->target, out, err);
}

static int invoke(struct dsb_source *s, const struct dsb_slot_args *a,
                  struct dsb_call *c, json_t **out, struct dsb_error *err)
{
    const struct dsb_source_plugin *vt = &s->plugin->vt;
    struct dsb_list_request lr = {a->database, a->schema, a->name_filter,
                                  a->page_size, a->page_token};

    switch (a->slot) {
    case DSB_SLOT_CHECK:
        return vt->check(s->inst, c, out, err);
    case DSB_SLOT_LIST_DATABASES:
        return vt->list_databases(s->inst, c, &lr, out, err);
    case DSB_SLOT_LIST_SCHEMAS:
        return vt->list_schemas(s->inst, c, &lr, out, err);
    case DSB_SLOT_LIST_TABLES:
        return vt->list_tables(s->inst, c, &lr, out, err);
    case DSB_SLOT_DESCRIBE_TABLE:
        return vt->describe_table(s->inst, c, a->database, a->schema, a->table,
                                  out, err);
    case DSB_SLOT_DESCRIBE_TABLES:
        return vt->describe_tables(s->inst, c, a->database, a->schema,
                                   a->tables, a->n_tables, out, err);
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
    json_array_foreach(cols, i,
                       c) if ((why = check_column(c)) != NULL) return why;
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
    json_array_foreach(items, i, it)
    {
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
    json_object_foreach((json_t *)opts, key, v) if (
        !json_is_string(v)) return "an option value that is not a string";
    if (sec && !json_is_object(sec))
        return "a \"secret_options\" that is not an object";
    json_object_foreach(
        (json_t *)sec, key,
        v) if (!json_is_string(v) ||
               dsb_secret_ref_check(json_string_value(v), why, sizeof(why)) <
                   0) return "a secret option that is not a secret reference";
    return check_columns(json_object_get(o, "columns"));
}

static const char *check_shape(enum dsb_slot k, const json_t *o)
{
    if (!json_is_object(o))
        return "not a JSON object";
    switch (k) {
    case DSB_SLOT_CHECK:
        return json_is_boolean(json_object_get(o, "ok")) ? NULL
                                                         : "no boolean \"ok\"";
    case DSB_SLOT_LIST_DATABASES:
    case DSB_SLOT_LIST_SCHEMAS:
        return check_listing(o, 0);
    case DSB_SLOT_LIST_TABLES:
    case DSB_SLOT_DESCRIBE_TABLES:
        return check_listing(o, 1);
    case DSB_SLOT_DESCRIBE_TABLE:
        return check_table(o);
    default:
        return check_read_spec(o);
    }
}

/* ------------------------------------------------------------ masking */

static int masked(const json_t *mask, const char *name)
{
    const json_t *p;
    size_t i;

    json_array_foreach(mask, i, p)
    {
        if (name && json_is_string(p) &&
            fnmatch(json_string_value(p), name, FNM_CASEFOLD) == 0)
            return 1;
    }
    return 0;
}

/* Drops the masked columns from a "sample_rows" object, rows included. */
static void mask_sample(const json_t *mask, json_t *sample)
{
    json_t *cols = json_object_get(sample, "columns"), *row;
    size_t i, r;

    for (i = json_array_size(cols); i-- > 0;) {
        if (!masked(mask, json_string_value(json_array_get(cols, i))))
            continue;
        json_array_remove(cols, i);
        json_array_foreach(json_object_get(sample, "rows"), r, row)
            json_array_remove(row, i);
    }
}

/* Defence in depth under the plugin's own masking: a masked column of a
 * TABLE or read spec keeps its name and type, loses any "stats", gets
 * "masked": true, and leaves "sample_rows". */
static void mask_table(const json_t *mask, json_t *t)
{
    json_t *c;
    size_t i;

    json_array_foreach(json_object_get(t, "columns"), i, c)
    {
        if (!masked(mask, json_string_value(json_object_get(c, "name"))))
            continue;
        json_object_del(c, "stats");
        json_object_set_new(c, "masked", json_true());
    }
    mask_sample(mask, json_object_get(t, "sample_rows"));
}

static void mask_answer(const json_t *mask, enum dsb_slot k, json_t *o)
{
    json_t *t;
    size_t i;

    if (!json_array_size(mask))
        return;
    if (k == DSB_SLOT_DESCRIBE_TABLE || k == DSB_SLOT_READ_SPEC)
        mask_table(mask, o);
    else if (k == DSB_SLOT_LIST_TABLES || k == DSB_SLOT_DESCRIBE_TABLES)
        json_array_foreach(json_object_get(o, "items"), i, t)
            mask_table(mask, t);
}

/* ------------------------------------------------------------- run */

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

/* The plugin's answer checked and finished (read specs get the source's
 * network); -1 with err when it failed or is malformed. */
static int finish(struct dsb_source *s, enum dsb_slot k, int rc, json_t **out,
                  struct dsb_error *err)
{
    const char *why;

    if (rc < 0 || !*out) {
        json_decref(*out);
        *out = NULL;
        if (err->code == DSB_OK)
            dsb_error_set(err, DSB_E_INTERNAL,
                          "plugin %s failed in %s without "
                          "saying why",
                          s->plugin->name, slot_names[k]);
        dsb_redact_error(err);
        return -1;
    }
    if ((why = check_shape(k, *out)) != NULL) {
        json_decref(*out);
        *out = NULL;
        return dsb_error_set(err, DSB_E_INTERNAL,
                             "plugin %s returned a "
                             "malformed %s result: %s",
                             s->plugin->name, slot_names[k], why);
    }
    mask_answer(s->mask, k, *out);
    if (k == DSB_SLOT_READ_SPEC)
        json_object_set_new(*out, "network", json_string(s->network));
    return 0;
}

int dsb_source_call(struct dsb_source *s, const struct dsb_slot_args *a,
                    const char *request_id, int64_t deadline_ms, json_t **out,
                    struct dsb_error *err)
{
    struct dsb_call call;
    int rc;

    *out = NULL;
    dsb_error_clear(err);
    if (s->state != DSB_SOURCE_OPEN)
        return not_open(s, err);
    if (a->slot == DSB_SLOT_LIST_SCHEMAS &&
        (s->plugin->vt.flags & DSB_SRC_FLAT_SCHEMA))
        return flat_schemas(s, out);
    if (dsb_call_begin(&call, deadline_ms, request_id) < 0)
        return dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
    rc = invoke(s, a, &call, out, err);
    dsb_call_end(&call);
    return finish(s, a->slot, rc, out, err);
}

/* A call outside any request: the broker's own per-call limit. */
static int run(struct dsb_source *s, const struct dsb_slot_args *a,
               json_t **out, struct dsb_error *err)
{
    int64_t limit = s->host.broker->cfg->settings.plugin_timeout_ms;

    return dsb_source_call(
        s, a, NULL, limit > 0 ? dsb_monotonic_ms() + limit : 0, out, err);
}

static void list_args(struct dsb_slot_args *a, enum dsb_slot slot,
                      const struct dsb_list_request *r)
{
    memset(a, 0, sizeof(*a));
    a->slot = slot;
    a->database = r->database;
    a->schema = r->schema;
    a->name_filter = r->name_filter;
    a->page_size = r->page_size;
    a->page_token = r->page_token;
}

int dsb_source_check(struct dsb_source *s, json_t **out, struct dsb_error *err)
{
    struct dsb_slot_args a = {.slot = DSB_SLOT_CHECK};
    return run(s, &a, out, err);
}

int dsb_source_list_databases(struct dsb_source *s,
                              const struct dsb_list_request *r, json_t **out,
                              struct dsb_error *err)
{
    struct dsb_slot_args a;
    list_args(&a, DSB_SLOT_LIST_DATABASES, r);
    return run(s, &a, out, err);
}

int dsb_source_list_schemas(struct dsb_source *s,
                            const struct dsb_list_request *r, json_t **out,
                            struct dsb_error *err)
{
    struct dsb_slot_args a;
    list_args(&a, DSB_SLOT_LIST_SCHEMAS, r);
    return run(s, &a, out, err);
}

int dsb_source_list_tables(struct dsb_source *s,
                           const struct dsb_list_request *r, json_t **out,
                           struct dsb_error *err)
{
    struct dsb_slot_args a;
    list_args(&a, DSB_SLOT_LIST_TABLES, r);
    return run(s, &a, out, err);
}

int dsb_source_describe_table(struct dsb_source *s, const char *db,
                              const char *schema, const char *table,
                              json_t **out, struct dsb_error *err)
{
    struct dsb_slot_args a = {.slot = DSB_SLOT_DESCRIBE_TABLE,
                              .database = db,
                              .schema = schema,
                              .table = table};
    return run(s, &a, out, err);
}

int dsb_source_read_spec(struct dsb_source *s, const char *db,
                         const char *schema, const char *table,
                         const struct dsb_read_target *target, json_t **out,
                         struct dsb_error *err)
{
    return dsb_source_read_spec_described(s, db, schema, table, NULL, target,
                                          out, err);
}

int dsb_source_read_spec_described(struct dsb_source *s, const char *db,
                                   const char *schema, const char *table,
                                   const json_t *described,
                                   const struct dsb_read_target *target,
                                   json_t **out, struct dsb_error *err)
{
    struct dsb_slot_args a = {.slot = DSB_SLOT_READ_SPEC,
                              .database = db,
                              .schema = schema,
                              .table = table,
                              .target = target,
                              .described = described};
    return run(s, &a, out, err);
}

const char *dsb_slot_name(enum dsb_slot slot)
{
    return slot_names[slot];
}

int dsb_source_takes_described(const struct dsb_source *s)
{
    return s->plugin && s->plugin->vt.read_spec_described != NULL;
}

int dsb_source_describes_many(const struct dsb_source *s)
{
    return s->plugin && s->plugin->vt.describe_tables != NULL;
}

int dsb_source_lists_json(const struct dsb_source *s)
{
    return s->plugin && s->plugin->vt.list_tables_json != NULL;
}

static int sb_write(const char *bytes, size_t n, void *ctx)
{
    struct dsb_sb *out = ctx;

    dsb_sb_add(out, bytes, n);
    return out->oom ? -1 : 0;
}

/* What the slot wrote is at least an object: the broker does not parse
 * it (the slot exists to spare that), but an empty or cut answer is
 * caught. */
static int looks_like_object(const struct dsb_sb *out)
{
    return out->len >= 2 && out->p[0] == '{' && out->p[out->len - 1] == '}';
}

int dsb_source_list_json(struct dsb_source *s, const struct dsb_slot_args *a,
                         const char *request_id, int64_t deadline_ms,
                         struct dsb_sb *out, char **next, struct dsb_error *err)
{
    const char *tok = NULL;
    const struct dsb_source_plugin *vt = &s->plugin->vt;
    struct dsb_list_request lr = {a->database, a->schema, a->name_filter,
                                  a->page_size, a->page_token};
    struct dsb_call call;
    int rc;

    *next = NULL;
    dsb_error_clear(err);
    if (s->state != DSB_SOURCE_OPEN)
        return not_open(s, err);
    if (dsb_call_begin(&call, deadline_ms, request_id) < 0)
        return dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
    rc = vt->list_tables_json(s->inst, &call, &lr, sb_write, out, &tok, err);
    if (rc == 0 && tok && !(*next = strdup(tok)))
        out->oom = 1;
    dsb_call_end(&call);
    if (rc == 0 && out->oom)
        rc = dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
    else if (rc == 0 && !looks_like_object(out))
        rc = dsb_error_set(err, DSB_E_INTERNAL,
                           "plugin %s returned a malformed list_tables_json "
                           "result: not a JSON object",
                           s->plugin->name);
    else if (rc < 0 && err->code == DSB_OK)
        dsb_error_set(err, DSB_E_INTERNAL,
                      "plugin %s failed in list_tables_json without saying "
                      "why",
                      s->plugin->name);
    if (rc < 0) {
        free(*next);
        *next = NULL;
        dsb_redact_error(err);
    }
    return rc;
}
