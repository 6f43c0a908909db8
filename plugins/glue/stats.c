/* Column statistics of described tables (column_stats: true) from Glue's
 * GetColumnStatisticsForTable (at most 100 columns a call), and the
 * mask_columns marks: a masked column is never named in a request. */
#define _GNU_SOURCE /* FNM_CASEFOLD */
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "glue.h"

#define GLUE_STATS_BATCH 100 /* ColumnNames per request (the API's cap) */

static int glue_masked(const struct glue_inst *g, const char *name)
{
    const json_t *p;
    size_t i;

    json_array_foreach(g->mask, i, p)
    {
        if (name && json_is_string(p) &&
            fnmatch(json_string_value(p), name, FNM_CASEFOLD) == 0)
            return 1;
    }
    return 0;
}

/* "masked": true on the columns mask_columns names. */
static void glue_mark_masked(const struct glue_inst *g, json_t *tj)
{
    json_t *c;
    size_t i;

    json_array_foreach(json_object_get(tj, "columns"), i, c)
    {
        if (glue_masked(g, json_string_value(json_object_get(c, "name"))))
            json_object_set_new(c, "masked", json_true());
    }
}

/* The typed data object of a StatisticsData, borrowed, or NULL. */
static const json_t *glue_data(const json_t *sd)
{
    static const char *const keys[] = {
        "LongColumnStatisticsData",   "DoubleColumnStatisticsData",
        "DateColumnStatisticsData",   "DecimalColumnStatisticsData",
        "StringColumnStatisticsData", "BooleanColumnStatisticsData",
        "BinaryColumnStatisticsData"};

    for (size_t i = 0; i < sizeof(keys) / sizeof(*keys); i++)
        if (json_is_object(json_object_get(sd, keys[i])))
            return json_object_get(sd, keys[i]);
    return NULL;
}

/* Epoch seconds v as a UTC date ("YYYY-MM-DD"), or with with_time a
 * timestamp ("...THH:MM:SSZ"); null when v is no number. */
static json_t *glue_time(const json_t *v, int with_time)
{
    time_t t;
    struct tm tm;
    char buf[32];

    if (!json_is_number(v))
        return json_null();
    t = (time_t)json_number_value(v);
    gmtime_r(&t, &tm);
    if (with_time)
        strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    else
        strftime(buf, sizeof(buf), "%Y-%m-%d", &tm);
    return json_string(buf);
}

/* A Long or Double bound as text, like pg_stats' values. */
static json_t *glue_bound(const char *type, const json_t *v)
{
    if (!strcmp(type, "DATE"))
        return glue_time(v, 0); /* a Date bound */
    if (json_is_integer(v))
        return json_sprintf("%lld", (long long)json_integer_value(v));
    if (json_is_real(v))
        return json_sprintf("%.17g", json_real_value(v));
    return json_null();
}

/* One ColumnStatistics as the COLUMN "stats" object. */
static json_t *glue_stats_of(const json_t *cs, json_int_t rows)
{
    const json_t *sd = json_object_get(cs, "StatisticsData");
    const char *type = json_string_value(json_object_get(sd, "Type"));
    const json_t *d = glue_data(sd);
    const json_t *nulls = json_object_get(d, "NumberOfNulls");
    int bounded = type && (!strcmp(type, "LONG") || !strcmp(type, "DOUBLE") ||
                           !strcmp(type, "DATE"));
    json_t *st;

    if (!type || !d)
        return NULL;
    st = json_pack(
        "{s:o, s:O?, s:o, s:o, s:[], s:s, s:o, s:b}", "null_fraction",
        json_is_integer(nulls) && rows > 0
            ? json_real((double)json_integer_value(nulls) / (double)rows)
            : json_null(),
        "distinct_count", json_object_get(d, "NumberOfDistinctValues"), "min",
        bounded ? glue_bound(type, json_object_get(d, "MinimumValue"))
                : json_null(),
        "max",
        bounded ? glue_bound(type, json_object_get(d, "MaximumValue"))
                : json_null(),
        "most_common", "source", "glue_column_statistics", "as_of",
        glue_time(json_object_get(cs, "AnalyzedTime"), 1), "estimate", 1);
    if (st && json_is_integer(nulls))
        json_object_set(st, "null_count", (json_t *)nulls);
    return st;
}

/* The column of tj named `name`, borrowed, or NULL. */
static json_t *glue_column_named(const json_t *tj, const char *name)
{
    json_t *c;
    size_t i;

    json_array_foreach(json_object_get(tj, "columns"), i, c)
    {
        if (name &&
            !strcmp(json_string_value(json_object_get(c, "name")), name))
            return c;
    }
    return NULL;
}

/* One request for `names`; the answer's statistics go onto tj's columns. */
static int glue_stats_batch(const struct glue_inst *g, struct dsb_call *call,
                            const char *db, json_t *tj, json_t *names,
                            struct dsb_error *err)
{
    json_t *body = json_pack("{s:s, s:O, s:O}", "DatabaseName", db, "TableName",
                             json_object_get(tj, "name"), "ColumnNames", names),
           *out, *cs;
    json_int_t rows = json_integer_value(json_object_get(tj, "row_estimate"));
    size_t i;

    if (g->catalog_id)
        json_object_set_new(body, "CatalogId", json_string(g->catalog_id));
    if (glue_call(g, call, "GetColumnStatisticsForTable", body, &out, err) <
        0) {
        json_decref(body);
        return -1;
    }
    json_decref(body);
    json_array_foreach(json_object_get(out, "ColumnStatisticsList"), i, cs)
    {
        json_t *c = glue_column_named(
            tj, json_string_value(json_object_get(cs, "ColumnName")));
        json_t *st = c && !json_is_true(json_object_get(c, "masked"))
                         ? glue_stats_of(cs, rows)
                         : NULL;
        if (st)
            json_object_set_new(c, "stats", st);
    }
    json_decref(out);
    return 0;
}

/* Statistics of every unmasked column of tj, GLUE_STATS_BATCH at a time.
 * A refusal (no glue:GetColumnStatisticsForTable permission, an endpoint
 * without the operation) leaves the description without statistics and
 * says so in "stats_error". */
static void glue_table_stats(const struct glue_inst *g, struct dsb_call *call,
                             const char *db, json_t *tj)
{
    json_t *names = json_array(), *c;
    size_t i, n = json_array_size(json_object_get(tj, "columns"));
    struct dsb_error e;

    dsb_error_clear(&e);
    json_array_foreach(json_object_get(tj, "columns"), i, c)
    {
        if (!json_is_true(json_object_get(c, "masked")))
            json_array_append(names, json_object_get(c, "name"));
        if ((json_array_size(names) == GLUE_STATS_BATCH || i + 1 == n) &&
            json_array_size(names)) {
            if (glue_stats_batch(g, call, db, tj, names, &e) < 0) {
                json_object_set_new(tj, "stats_error", json_string(e.message));
                break;
            }
            json_array_clear(names);
        }
    }
    json_decref(names);
}

void glue_describe_extras(const struct glue_inst *g, struct dsb_call *call,
                          const char *db, json_t *tj)
{
    if (!tj)
        return;
    glue_mark_masked(g, tj);
    if (g->column_stats && json_is_string(json_object_get(tj, "name")))
        glue_table_stats(g, call, db, tj);
}
