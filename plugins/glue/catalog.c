/* Glue Data Catalog calls through host->call_aws_request (bounded by the
 * plugin call's deadline): POST / with JSON 1.1,
 * X-Amz-Target AWSGlue.<op>, every page followed through NextToken. */
#define _GNU_SOURCE /* FNM_CASEFOLD */
#include <ctype.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "glue.h"

#define GLUE_MAX_PAGES 10000
#define GLUE_PAGE_SIZE 100

int glue_call(const struct glue_inst *g, struct dsb_call *call, const char *op,
              json_t *body, json_t **out, struct dsb_error *err)
{
    char target[64];
    struct dsb_kv h[2] = {{"X-Amz-Target", target},
                          {"Content-Type", "application/x-amz-json-1.1"}};
    struct dsb_aws_request req = {
        "glue", g->region, g->endpoint_url, "POST", "/", NULL, 0, h, 2, NULL,
        0,      0};
    struct dsb_aws_response resp = {0};
    char *text = json_dumps(body, JSON_COMPACT);
    json_error_t je;
    int rc = -1;

    *out = NULL;
    if (!text)
        return dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
    snprintf(target, sizeof(target), "AWSGlue.%s", op);
    req.body = text;
    req.body_len = strlen(text);
    if (g->host->call_aws_request(g->host, call, &req, &resp, err) < 0)
        goto fail;
    if (resp.status / 100 != 2)
        g->host->aws_error(g->host, &resp, err);
    else if (!(*out = json_loadb(resp.body, resp.body_len, 0, &je)))
        dsb_error_set(err, DSB_E_UPSTREAM,
                      "Glue %s answered with invalid "
                      "JSON: %s",
                      op, je.text);
    else
        rc = 0;
    g->host->aws_response_free(g->host, &resp);
fail:
    free(text);
    return rc;
}

/* Calls op page by page, appending each answer's `key` array to *list. */
static int glue_all_pages(const struct glue_inst *g, struct dsb_call *call,
                          const char *op, json_t *body, const char *key,
                          json_t **list, struct dsb_error *err)
{
    json_t *page = NULL;
    const char *tok;
    int n = 0;

    *list = json_array();
    if (g->catalog_id)
        json_object_set_new(body, "CatalogId", json_string(g->catalog_id));
    json_object_set_new(body, "MaxResults", json_integer(GLUE_PAGE_SIZE));
    do {
        json_decref(page);
        if (n++ == GLUE_MAX_PAGES) {
            dsb_error_set(err, DSB_E_UPSTREAM,
                          "Glue %s did not stop after "
                          "%d pages",
                          op, GLUE_MAX_PAGES);
            goto fail;
        }
        if (glue_call(g, call, op, body, &page, err) < 0)
            goto fail;
        json_array_extend(*list, json_object_get(page, key));
        tok = json_string_value(json_object_get(page, "NextToken"));
        json_object_set(body, "NextToken", json_object_get(page, "NextToken"));
    } while (tok && *tok);
    json_decref(page);
    return 0;
fail:
    json_decref(*list);
    *list = NULL;
    return -1;
}

static int glue_matches(const json_t *globs, const char *name)
{
    size_t i;
    const json_t *p;

    json_array_foreach(globs, i, p) if (fnmatch(json_string_value(p), name,
                                                FNM_CASEFOLD) == 0) return 1;
    return 0;
}

int glue_db_visible(const struct glue_inst *g, const char *db)
{
    if (json_array_size(g->include) && !glue_matches(g->include, db))
        return 0;
    return !glue_matches(g->exclude, db);
}

int glue_databases(const struct glue_inst *g, struct dsb_call *call,
                   json_t **list, struct dsb_error *err)
{
    json_t *body = json_object(), *all, *v;
    size_t i;
    int rc = glue_all_pages(g, call, "GetDatabases", body, "DatabaseList", &all,
                            err);

    json_decref(body);
    if (rc < 0)
        return -1;
    *list = json_array();
    json_array_foreach(
        all, i,
        v) if (glue_db_visible(g,
                               json_string_value(json_object_get(v, "Name"))))
        json_array_append(*list, v);
    json_decref(all);
    return 0;
}

/* "*frag*" when filter is a plain lower-case name fragment, else NULL:
 * Glue names are lower case; its Expression is a Hive metastore pattern
 * ("*" any characters, "|" alternatives). */
static char *glue_expression(const char *filter)
{
    char *e;

    if (!filter || !*filter || strlen(filter) > 200)
        return NULL;
    for (const char *p = filter; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_')
            return NULL;
    if (asprintf(&e, "*%s*", filter) < 0)
        return NULL;
    for (char *p = e; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return e;
}

int glue_tables(const struct glue_inst *g, struct dsb_call *call,
                const char *db, const char *filter, json_t **list,
                struct dsb_error *err)
{
    json_t *body = json_pack("{s:s}", "DatabaseName", db);
    char *expr = glue_expression(filter);
    int rc;

    if (expr)
        json_object_set_new(body, "Expression", json_string(expr));
    rc = glue_all_pages(g, call, "GetTables", body, "TableList", list, err);
    json_decref(body);
    free(expr);
    return rc;
}

/* "a|b|c" when every name is a plain lower-case Glue name and the whole
 * fits Glue's Expression (2,048 characters), else NULL. */
static char *glue_names_expression(const char *const *names, size_t n)
{
    size_t len = 0;
    char *e, *w;

    for (size_t i = 0; i < n; i++) {
        for (const char *p = names[i]; *p; p++)
            if (!islower((unsigned char)*p) && !isdigit((unsigned char)*p) &&
                *p != '_')
                return NULL;
        len += strlen(names[i]) + 1;
    }
    if (n == 0 || len > 2048 || !(e = w = malloc(len)))
        return NULL;
    for (size_t i = 0; i < n; i++)
        w += sprintf(w, "%s%s", i ? "|" : "", names[i]);
    return e;
}

int glue_tables_named(const struct glue_inst *g, struct dsb_call *call,
                      const char *db, const char *const *names, size_t n,
                      json_t **list, struct dsb_error *err)
{
    json_t *body = json_pack("{s:s}", "DatabaseName", db), *all, *t;
    json_t *want = json_object();
    char *expr = glue_names_expression(names, n);
    size_t i;
    int rc;

    if (expr)
        json_object_set_new(body, "Expression", json_string(expr));
    for (i = 0; i < n; i++)
        json_object_set_new(want, names[i], json_true());
    *list = NULL;
    rc = glue_all_pages(g, call, "GetTables", body, "TableList", &all, err);
    if (rc == 0) {
        *list = json_array();
        json_array_foreach(
            all, i, t) if (json_object_get(want,
                                           json_string_value(
                                               json_object_get(t, "Name"))))
            json_array_append(*list, t);
        json_decref(all);
    }
    json_decref(want);
    json_decref(body);
    free(expr);
    return rc;
}

int glue_table(const struct glue_inst *g, struct dsb_call *call, const char *db,
               const char *name, json_t **table, struct dsb_error *err)
{
    json_t *body = json_pack("{s:s, s:s}", "DatabaseName", db, "Name", name);
    json_t *out;

    if (g->catalog_id)
        json_object_set_new(body, "CatalogId", json_string(g->catalog_id));
    if (glue_call(g, call, "GetTable", body, &out, err) < 0) {
        json_decref(body);
        return -1;
    }
    json_decref(body);
    *table = json_incref(json_object_get(out, "Table"));
    json_decref(out);
    if (!*table)
        return dsb_error_set(err, DSB_E_UPSTREAM,
                             "Glue GetTable answered "
                             "without a Table");
    return 0;
}
