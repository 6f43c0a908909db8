/* glue.so: AWS Glue Data Catalog databases and tables.
 * Glue has no schema level: every database holds one schema, "default"
 * (DSB_SRC_FLAT_SCHEMA).  See docs/sources/glue.md. */
#define _GNU_SOURCE /* strcasestr */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "glue.h"

#define GLUE_SCHEMA "default"

static const struct dsb_option glue_options[] = {
    DSB_OPTION_STRING("region", 0, NULL,
                      "region of the catalog (default: "
                      "the broker's)"),
    DSB_OPTION_STRING("catalog_id", 0, NULL,
                      "catalog (account) id; default: "
                      "the caller's account"),
    DSB_OPTION_STRING("endpoint_url", 0, NULL, "Glue endpoint override"),
    DSB_OPTION_STRING("s3_endpoint_url", 0, NULL,
                      "S3 endpoint Spark's s3a "
                      "uses to read table locations (default: "
                      "AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL)"),
    DSB_OPTION_LIST("include", 0, "[]",
                    "database name patterns to show "
                    "(fnmatch globs, case-insensitive; empty: all)"),
    DSB_OPTION_LIST("exclude", 0, "[]",
                    "database name patterns to hide "
                    "(wins over include)"),
    DSB_OPTION_BOOL("column_stats", "false",
                    "give the agent per-column statistics from Glue "
                    "(GetColumnStatisticsForTable) where they were computed"),
    DSB_OPTION_LIST("mask_columns", 0, "[]",
                    "columns whose statistics are never read or shown: "
                    "fnmatch globs on the column name, case-insensitive, "
                    "e.g. *email*"),
    DSB_OPTION_END};

static char *glue_opt_dup(const json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    return v && *v ? strdup(v) : NULL;
}

static void glue_close(void *inst)
{
    struct glue_inst *g = inst;

    if (!g)
        return;
    free(g->region);
    free(g->catalog_id);
    free(g->endpoint_url);
    free(g->s3_endpoint_url);
    json_decref(g->include);
    json_decref(g->exclude);
    json_decref(g->mask);
    free(g);
}

/* Contract: see plugin.h (open).  No network: check does that. */
static int glue_open(const struct dsb_host *host,
                     const struct dsb_source_info *info, const json_t *options,
                     void **inst, struct dsb_error *err)
{
    struct glue_inst *g = calloc(1, sizeof(*g));

    (void)info;
    if (!g)
        return dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
    g->host = host;
    g->region = glue_opt_dup(options, "region");
    g->catalog_id = glue_opt_dup(options, "catalog_id");
    g->endpoint_url = glue_opt_dup(options, "endpoint_url");
    g->s3_endpoint_url = glue_opt_dup(options, "s3_endpoint_url");
    g->include = json_deep_copy(json_object_get(options, "include"));
    g->exclude = json_deep_copy(json_object_get(options, "exclude"));
    if (!g->include)
        g->include = json_array();
    if (!g->exclude)
        g->exclude = json_array();
    g->column_stats = json_is_true(json_object_get(options, "column_stats"));
    g->mask = json_deep_copy(json_object_get(options, "mask_columns"));
    *inst = g;
    return 0;
}

static int glue_check(void *inst, struct dsb_call *call, json_t **out,
                      struct dsb_error *err)
{
    struct glue_inst *g = inst;
    int64_t t0 = g->host->monotonic_ms();
    json_t *body = json_pack("{s:i}", "MaxResults", 1), *page;

    if (g->catalog_id)
        json_object_set_new(body, "CatalogId", json_string(g->catalog_id));
    if (glue_call(g, call, "GetDatabases", body, &page, err) < 0) {
        json_decref(body);
        return -1;
    }
    json_decref(body);
    json_decref(page);
    *out = json_pack("{s:b, s:s, s:f}", "ok", 1, "server_version", "glue",
                     "latency_ms", (double)(g->host->monotonic_ms() - t0));
    return 0;
}

static int glue_match(const struct dsb_list_request *req, const char *name)
{
    return !req->name_filter || !*req->name_filter ||
           (name && strcasestr(name, req->name_filter) != NULL);
}

/* Page tokens are decimal offsets into the sorted, filtered list. */
static int glue_page_start(const struct dsb_list_request *req, size_t *start,
                           struct dsb_error *err)
{
    char *end;

    *start = 0;
    if (!req->page_token)
        return 0;
    *start = (size_t)strtoull(req->page_token, &end, 10);
    if (!*req->page_token || *end || strlen(req->page_token) > 12)
        return dsb_error_set(err, DSB_E_INVALID, "invalid page token \"%s\"",
                             req->page_token);
    return 0;
}

/* {"items": list[start..start+page_size), "next_page_token"}; takes list. */
static json_t *glue_page(json_t *list, const struct dsb_list_request *req,
                         size_t start)
{
    size_t n = json_array_size(list), max = req->page_size, end;
    json_t *items = json_array();
    char tok[32];

    end = max && start + max < n ? start + max : n;
    for (size_t i = start; i < end; i++)
        json_array_append(items, json_array_get(list, i));
    json_decref(list);
    snprintf(tok, sizeof(tok), "%zu", end);
    return json_pack("{s:o, s:s?}", "items", items, "next_page_token",
                     end < n ? tok : NULL);
}

static int glue_cmp_name(const void *a, const void *b)
{
    const char *x =
        json_string_value(json_object_get(*(json_t *const *)a, "name"));
    const char *y =
        json_string_value(json_object_get(*(json_t *const *)b, "name"));
    return strcmp(x ? x : "", y ? y : "");
}

/* A new array of list's items sorted by "name" (list is taken). */
static json_t *glue_sorted(json_t *list)
{
    size_t n = json_array_size(list);
    json_t **v = calloc(n + 1, sizeof(*v)), *out = json_array();

    for (size_t i = 0; v && i < n; i++)
        v[i] = json_array_get(list, i);
    if (v && n)
        qsort(v, n, sizeof(*v), glue_cmp_name);
    for (size_t i = 0; v && i < n; i++)
        json_array_append(out, v[i]);
    free(v);
    json_decref(list);
    return out;
}

static int glue_list_databases(void *inst, struct dsb_call *call,
                               const struct dsb_list_request *req, json_t **out,
                               struct dsb_error *err)
{
    json_t *dbs, *list = json_array(), *d;
    size_t i, start;

    if (glue_page_start(req, &start, err) < 0 ||
        glue_databases(inst, call, &dbs, err) < 0) {
        json_decref(list);
        return -1;
    }
    json_array_foreach(
        dbs, i,
        d) if (glue_match(req, json_string_value(json_object_get(d, "Name"))))
        json_array_append_new(
            list, json_pack("{s:O, s:O?}", "name", json_object_get(d, "Name"),
                            "comment", json_object_get(d, "Description")));
    json_decref(dbs);
    *out = glue_page(glue_sorted(list), req, start);
    return 0;
}

/* NOT_FOUND unless db is visible and schema is the flat one. */
static int glue_where(const struct glue_inst *g, const char *db,
                      const char *schema, struct dsb_error *err)
{
    if (!db || !glue_db_visible(g, db)) {
        dsb_error_set(err, DSB_E_NOT_FOUND, "database \"%s\" does not exist",
                      db ? db : "");
        dsb_error_hint(err, "list the databases of this source (include and "
                            "exclude patterns may hide some)");
        return -1;
    }
    if (schema && strcmp(schema, GLUE_SCHEMA)) {
        dsb_error_set(err, DSB_E_NOT_FOUND,
                      "schema \"%s\" does not exist in "
                      "database \"%s\"",
                      schema, db);
        dsb_error_hint(err, "Glue has no schemas: every database has one "
                            "schema, \"" GLUE_SCHEMA "\"");
        return -1;
    }
    return 0;
}

static int glue_list_tables(void *inst, struct dsb_call *call,
                            const struct dsb_list_request *req, json_t **out,
                            struct dsb_error *err)
{
    json_t *tables, *list, *t;
    size_t i, start;

    if (glue_where(inst, req->database, req->schema, err) < 0 ||
        glue_page_start(req, &start, err) < 0 ||
        glue_tables(inst, call, req->database, req->name_filter, &tables, err) <
            0)
        return -1;
    list = json_array();
    json_array_foreach(
        tables, i,
        t) if (glue_match(req, json_string_value(json_object_get(t, "Name"))))
        json_array_append_new(list, glue_table_json(t));
    json_decref(tables);
    *out = glue_page(glue_sorted(list), req, start);
    return 0;
}

static int glue_describe(void *inst, struct dsb_call *call, const char *db,
                         const char *schema, const char *table, json_t **out,
                         struct dsb_error *err)
{
    json_t *t;

    if (glue_where(inst, db, schema, err) < 0 ||
        glue_table(inst, call, db, table, &t, err) < 0)
        return -1;
    *out = glue_describe_json(t);
    json_decref(t);
    glue_describe_extras(inst, call, db, *out);
    return 0;
}

static int glue_read_spec(void *inst, struct dsb_call *call, const char *db,
                          const char *schema, const char *table,
                          const struct dsb_read_target *target, json_t **out,
                          struct dsb_error *err)
{
    json_t *t;
    int rc;

    if (glue_where(inst, db, schema, err) < 0 ||
        glue_table(inst, call, db, table, &t, err) < 0)
        return -1;
    rc = glue_read_spec_json(inst, db, t, target, out, err);
    json_decref(t);
    return rc;
}

/* No GetTable: the broker's description (glue_describe_json's) is enough. */
static int glue_read_spec_from(void *inst, struct dsb_call *call,
                               const char *db, const char *schema,
                               const char *table, const json_t *described,
                               const struct dsb_read_target *target,
                               json_t **out, struct dsb_error *err)
{
    if (!glue_describes_enough(described))
        return glue_read_spec(inst, call, db, schema, table, target, out, err);
    if (glue_where(inst, db, schema, err) < 0)
        return -1;
    return glue_read_spec_described(inst, db, described, target, out, err);
}

/* The named tables in one GetTables page walk, not a GetTable each. */
static int glue_describe_many(void *inst, struct dsb_call *call, const char *db,
                              const char *schema, const char *const *tables,
                              size_t n, json_t **out, struct dsb_error *err)
{
    json_t *list, *items, *t;
    size_t i;

    if (glue_where(inst, db, schema, err) < 0 ||
        glue_tables_named(inst, call, db, tables, n, &list, err) < 0)
        return -1;
    items = json_array();
    json_array_foreach(list, i, t)
    {
        json_t *tj = glue_describe_json(t);
        glue_describe_extras(inst, call, db, tj);
        json_array_append_new(items, tj);
    }
    json_decref(list);
    *out = json_pack("{s:o}", "items", items);
    return *out ? 0 : dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
}

static const struct dsb_source_plugin glue_plugin = {
    .abi = DSB_PLUGIN_HEADER,
    .name = "glue",
    .version = "1.0.0",
    .description = "AWS Glue Data Catalog databases and tables",
    .options = glue_options,
    .default_network = "public",
    .flags = DSB_SRC_FLAT_SCHEMA,
    .flat_schema = GLUE_SCHEMA,
    .open = glue_open,
    .close = glue_close,
    .check = glue_check,
    .list_databases = glue_list_databases,
    .list_tables = glue_list_tables,
    .describe_table = glue_describe,
    .read_spec = glue_read_spec,
    .read_spec_described = glue_read_spec_from,
    .describe_tables = glue_describe_many,
};

DSB_PLUGIN_DEFINE(glue_plugin);
