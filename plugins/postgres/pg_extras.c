/*
 * What a description adds to the listing's TABLE (issue 15, section 2):
 * keys and relationships (sql/keys.sql), planner statistics (sql/stats.sql,
 * with column_stats) and sample rows (with sample_rows).  Columns that
 * mask_columns names are marked and never read: their names are left out
 * of the statistics query and of the sample's select list.
 */
#define _GNU_SOURCE /* asprintf */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pg_int.h"

extern const char pg_sql_keys[];  /* sql/keys.sql */
extern const char pg_sql_stats[]; /* sql/stats.sql */

#define PG_SAMPLE_VALUE_MAX 200 /* characters of a sampled value */

/* The TABLE of items named `name`, borrowed, or NULL. */
static json_t *pg_item(const json_t *items, const char *name)
{
    size_t i;
    json_t *t;

    json_array_foreach(items, i, t)
    {
        if (name &&
            !strcmp(json_string_value(json_object_get(t, "name")), name))
            return t;
    }
    return NULL;
}

/* The column of t named `name`, borrowed, or NULL. */
static json_t *pg_item_column(const json_t *t, const char *name)
{
    size_t i;
    json_t *c;

    json_array_foreach(json_object_get(t, "columns"), i, c)
    {
        if (name &&
            !strcmp(json_string_value(json_object_get(c, "name")), name))
            return c;
    }
    return NULL;
}

/* Empty key lists and "masked" marks on every TABLE. */
static void pg_extras_init(const struct pg_source *s, json_t *items)
{
    size_t i, j;
    json_t *t, *c;

    json_array_foreach(items, i, t)
    {
        json_object_set_new(t, "unique_keys", json_array());
        json_object_set_new(t, "foreign_keys", json_array());
        json_array_foreach(json_object_get(t, "columns"), j, c)
        {
            if (pg_masked(&s->cfg,
                          json_string_value(json_object_get(c, "name"))))
                json_object_set_new(c, "masked", json_true());
        }
    }
}

static int pg_is_masked(const json_t *c)
{
    return json_is_true(json_object_get(c, "masked"));
}

/* ---------------------------------------------------------------- keys */

/* One [table, kind, name, columns, ref_schema, ref_table, ref_columns].
 * A foreign key into a schema the source hides (include/exclude_schemas)
 * is left out: the agent could not read that table, and its name is not
 * to be shown. */
static void pg_key_row(const struct pg_source *s, const char *database,
                       json_t *items, const json_t *r)
{
    json_t *t = pg_item(items, json_string_value(json_array_get(r, 0)));
    const char *kind = json_string_value(json_array_get(r, 1));
    const char *rschema = json_string_value(json_array_get(r, 4));
    json_t *cols = json_array_get(r, 3);

    if (!t || !kind || !json_is_array(cols))
        return;
    if (kind[0] == 'f' && (!rschema || !pg_allowed_schema(&s->cfg, rschema)))
        return;
    if (kind[0] == 'u') {
        json_array_append(json_object_get(t, "unique_keys"), cols);
        return;
    }
    json_array_append_new(
        json_object_get(t, "foreign_keys"),
        json_pack("{s:O, s:O, s:{s:s, s:O, s:O, s:O}}", "name",
                  json_array_get(r, 2), "columns", cols, "references",
                  "database", database, "schema", json_array_get(r, 4), "table",
                  json_array_get(r, 5), "columns", json_array_get(r, 6)));
}

static int pg_keys(struct pg_source *s, struct dsb_call *call,
                   const char *database, const char *schema, const char *names,
                   json_t *items, struct dsb_error *err)
{
    const char *params[2] = {schema, names};
    json_t *rows =
               pg_query_json(s, call, database, pg_sql_keys, params, 2, err),
           *r;
    size_t i;

    if (!rows)
        return -1;
    json_array_foreach(rows, i, r) pg_key_row(s, database, items, r);
    json_decref(rows);
    return 0;
}

/* --------------------------------------------------------------- stats */

/* {"table": [unmasked column names]} as JSON text, malloc'd. */
static char *pg_stats_wanted(const json_t *items)
{
    json_t *want = json_object(), *t, *c;
    size_t i, j;
    char *text;

    json_array_foreach(items, i, t)
    {
        json_t *names = json_array();
        json_array_foreach(json_object_get(t, "columns"), j, c)
        {
            if (!pg_is_masked(c))
                json_array_append(names, json_object_get(c, "name"));
        }
        json_object_set_new(want, json_string_value(json_object_get(t, "name")),
                            names);
    }
    text = json_dumps(want, JSON_COMPACT);
    json_decref(want);
    return text;
}

/* most_common: [{"value", "frequency"}] from the values and frequencies. */
static json_t *pg_most_common(const json_t *vals, const json_t *freqs)
{
    json_t *out = json_array(), *v;
    size_t i;

    json_array_foreach(vals, i, v)
    {
        json_array_append_new(out,
                              json_pack("{s:O, s:O?}", "value", v, "frequency",
                                        json_array_get(freqs, i)));
    }
    return out;
}

/* One [table, column, null_frac, distinct, mcv, mcf, min, max, analyzed]
 * row of sql/stats.sql onto its column (unless the column is masked: the
 * query never names one, this is belt and braces). */
static void pg_stats_row(json_t *items, const json_t *r)
{
    json_t *t = pg_item(items, json_string_value(json_array_get(r, 0)));
    json_t *c = pg_item_column(t, json_string_value(json_array_get(r, 1)));

    if (!c || pg_is_masked(c))
        return;
    json_object_set_new(
        c, "stats",
        json_pack("{s:O, s:O, s:O, s:O, s:o, s:s, s:O, s:b}", "null_fraction",
                  json_array_get(r, 2), "distinct_count", json_array_get(r, 3),
                  "min", json_array_get(r, 6), "max", json_array_get(r, 7),
                  "most_common",
                  pg_most_common(json_array_get(r, 4), json_array_get(r, 5)),
                  "source", "pg_stats", "as_of", json_array_get(r, 8),
                  "estimate", 1));
}

static int pg_stats(struct pg_source *s, struct dsb_call *call,
                    const char *database, const char *schema, json_t *items,
                    struct dsb_error *err)
{
    char *want = pg_stats_wanted(items);
    const char *params[2] = {schema, want};
    json_t *rows, *r;
    size_t i;

    if (!want)
        return dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
    rows = pg_query_json(s, call, database, pg_sql_stats, params, 2, err);
    free(want);
    if (!rows)
        return -1;
    json_array_foreach(rows, i, r) pg_stats_row(items, r);
    json_decref(rows);
    return 0;
}

/* ------------------------------------------------------------- samples */

/* Kinds whose first rows are cheap to read (no view, no foreign server). */
static int pg_sampled_kind(const char *kind)
{
    return kind &&
           (!strcmp(kind, "table") || !strcmp(kind, "partitioned_table") ||
            !strcmp(kind, "materialized_view"));
}

/* SELECT of the first n rows of t's unmasked columns, each as text cut at
 * PG_SAMPLE_VALUE_MAX, as one JSON array of arrays; `names` gets those
 * columns.  NULL when no column is left or memory ran out. */
static char *pg_sample_sql(const struct pg_source *s, const json_t *t,
                           json_t *names)
{
    size_t i, cap = 256, len = 0;
    const json_t *c;
    char *sql = malloc(cap);

    if (!sql)
        return NULL;
    len = (size_t)snprintf(sql, cap,
                           "SELECT coalesce(json_agg(r.v), '[]') "
                           "FROM (SELECT ARRAY[");
    json_array_foreach(json_object_get(t, "columns"), i, c)
    {
        char *q;
        if (pg_is_masked(c) || !(q = pg_quote_ident(json_string_value(
                                     json_object_get(c, "name")))))
            continue;
        size_t need = len + strlen(q) + 64;
        if (need > cap) {
            char *grown = realloc(sql, cap = 2 * need);
            if (!grown) {
                free(q);
                free(sql);
                return NULL;
            }
            sql = grown;
        }
        len += (size_t)snprintf(sql + len, cap - len, "%sleft(%s::text, %d)",
                                json_array_size(names) ? ", " : "", q,
                                PG_SAMPLE_VALUE_MAX);
        json_array_append(names, json_object_get(c, "name"));
        free(q);
    }
    if (!json_array_size(names)) {
        free(sql);
        return NULL;
    }
    char *full = NULL;
    if (asprintf(&full, "%s]::text[] AS v FROM %s LIMIT %d) r", sql,
                 json_string_value(json_object_get(t, "qualified_name")),
                 s->cfg.sample_rows) < 0)
        full = NULL;
    free(sql);
    return full;
}

static void pg_now_iso(const struct pg_source *s, char *buf, size_t len)
{
    time_t now = (time_t)(s->host->now_ms() / 1000);
    struct tm tm;

    gmtime_r(&now, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The sample of one table: rows, or the error that stopped them. */
static void pg_sample(struct pg_source *s, struct dsb_call *call,
                      const char *database, json_t *t)
{
    json_t *names = json_array(), *rows;
    char *sql = pg_sample_sql(s, t, names), at[32];
    struct dsb_error e;

    if (!sql) {
        json_decref(names);
        return;
    }
    dsb_error_clear(&e);
    rows = pg_query_json(s, call, database, sql, NULL, 0, &e);
    free(sql);
    pg_now_iso(s, at, sizeof(at));
    json_object_set_new(t, "sample_rows",
                        json_pack("{s:o, s:o, s:s, s:s, s:i, s:s?}", "columns",
                                  names, "rows", rows ? rows : json_array(),
                                  "source", "first_rows", "as_of", at, "limit",
                                  s->cfg.sample_rows, "error",
                                  rows ? NULL : e.message));
}

static void pg_samples(struct pg_source *s, struct dsb_call *call,
                       const char *database, json_t *items)
{
    size_t i;
    json_t *t;

    json_array_foreach(items, i, t)
    {
        if (json_is_true(json_object_get(t, "readable")) &&
            pg_sampled_kind(json_string_value(json_object_get(t, "kind"))))
            pg_sample(s, call, database, t);
    }
}

/* ------------------------------------------------------------ the whole */

int pg_describe_extras(struct pg_source *s, struct dsb_call *call,
                       const char *database, const char *schema,
                       const char *names_array, json_t *items,
                       struct dsb_error *err)
{
    if (!json_array_size(items))
        return 0;
    pg_extras_init(s, items);
    if (pg_keys(s, call, database, schema, names_array, items, err) < 0)
        return -1;
    if (s->cfg.column_stats &&
        pg_stats(s, call, database, schema, items, err) < 0)
        return -1;
    if (s->cfg.sample_rows > 0)
        pg_samples(s, call, database, items);
    return 0;
}
