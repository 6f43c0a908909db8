/* Values of a described CSV table from the sample the plugin already reads
 * (no extra request): the first sample_rows records as sample rows, and
 * with column_stats each column's null fraction, distinct count, min, max
 * and most common values in the sample.  Columns that mask_columns names
 * are marked and none of their values goes into any output (the sample's
 * bytes are read whole: a CSV file has no column projection). */
#define _GNU_SOURCE /* FNM_CASEFOLD */
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "s3csv.h"

#define S3CSV_VALUE_MAX 200       /* characters of a sampled value kept */
#define S3CSV_DISTINCT_MAX 100000 /* distinct values counted a column */
#define S3CSV_MOST_COMMON 5

static int s3csv_masked(const struct s3csv_inst *g, const char *name)
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

/* Field i of record r, or NULL when the record is short or it is empty. */
static const char *s3csv_field(const struct s3csv_record *r, size_t i)
{
    return i < r->n && r->fields[i][0] ? r->fields[i] : NULL;
}

/* The value as kept: cut at S3CSV_VALUE_MAX characters (UTF-8 safe). */
static json_t *s3csv_value(const char *v)
{
    size_t n = 0, chars = 0;

    if (!v)
        return json_null();
    while (v[n] && chars < S3CSV_VALUE_MAX) {
        n++;
        while (((unsigned char)v[n] & 0xc0) == 0x80)
            n++;
        chars++;
    }
    return json_stringn(v, n);
}

static void s3csv_now(const struct s3csv_inst *g, char *buf, size_t len)
{
    time_t now = (time_t)(g->host->now_ms() / 1000);
    struct tm tm;

    gmtime_r(&now, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ------------------------------------------------------------- samples */

static json_t *s3csv_sample_rows(const struct s3csv_inst *g,
                                 const struct s3csv_records *r,
                                 const json_t *cols, const char *at)
{
    json_t *names = json_array(), *rows = json_array(), *c;
    size_t i;

    json_array_foreach(cols, i,
                       c) if (!json_is_true(json_object_get(c, "masked")))
        json_array_append(names, json_object_get(c, "name"));
    for (size_t k = 1; k < r->n && k <= (size_t)g->sample_rows; k++) {
        json_t *row = json_array();
        json_array_foreach(cols, i,
                           c) if (!json_is_true(json_object_get(c, "masked")))
            json_array_append_new(row, s3csv_value(s3csv_field(&r->v[k], i)));
        json_array_append_new(rows, row);
    }
    return json_pack("{s:o, s:o, s:s, s:s, s:i}", "columns", names, "rows",
                     rows, "source", "csv_sample", "as_of", at, "limit",
                     g->sample_rows);
}

/* --------------------------------------------------------------- stats */

static int s3csv_numeric(const json_t *c)
{
    const char *t = json_string_value(json_object_get(c, "spark_type"));

    return t && (!strcmp(t, "int") || !strcmp(t, "bigint") ||
                 !strcmp(t, "double") || !strncmp(t, "decimal", 7));
}

/* a < b as the column orders them: numbers by value, the rest by bytes
 * (ISO dates and timestamps sort right). */
static int s3csv_less(int numeric, const char *a, const char *b)
{
    return numeric ? strtod(a, NULL) < strtod(b, NULL) : strcmp(a, b) < 0;
}

struct s3csv_count {
    const char *value;
    json_int_t n;
};

static int s3csv_by_count(const void *a, const void *b)
{
    const struct s3csv_count *x = a, *y = b;

    if (x->n != y->n)
        return x->n < y->n ? 1 : -1;
    return strcmp(x->value, y->value);
}

/* The S3CSV_MOST_COMMON most frequent values of counts (ties by value). */
static json_t *s3csv_most_common(const json_t *counts, size_t rows)
{
    size_t n = json_object_size(counts), k = 0;
    struct s3csv_count *v = calloc(n + 1, sizeof(*v));
    json_t *out = json_array(), *cnt;
    const char *key;

    json_object_foreach((json_t *)counts, key, cnt) if (v) v[k++] =
        (struct s3csv_count){key, json_integer_value(cnt)};
    if (v)
        qsort(v, k, sizeof(*v), s3csv_by_count);
    for (size_t i = 0; v && i < k && i < S3CSV_MOST_COMMON && v[i].n > 1; i++)
        json_array_append_new(
            out, json_pack("{s:o, s:f}", "value", s3csv_value(v[i].value),
                           "frequency", (double)v[i].n / (double)rows));
    free(v);
    return out;
}

static json_t *s3csv_column_stats(const struct s3csv_records *r, size_t i,
                                  const json_t *c, const char *at)
{
    size_t rows = r->n - 1, nulls = 0;
    int numeric = s3csv_numeric(c), capped = 0;
    const char *lo = NULL, *hi = NULL;
    json_t *counts = json_object(), *st;

    for (size_t k = 1; k < r->n; k++) {
        const char *v = s3csv_field(&r->v[k], i);
        json_t *n;
        if (!v) {
            nulls++;
            continue;
        }
        lo = !lo || s3csv_less(numeric, v, lo) ? v : lo;
        hi = !hi || s3csv_less(numeric, hi, v) ? v : hi;
        if ((n = json_object_get(counts, v)))
            json_integer_set(n, json_integer_value(n) + 1);
        else if (json_object_size(counts) < S3CSV_DISTINCT_MAX)
            json_object_set_new(counts, v, json_integer(1));
        else
            capped = 1;
    }
    st = json_pack("{s:f, s:I, s:o, s:o, s:o, s:s, s:s, s:b, s:I, s:b}",
                   "null_fraction", (double)nulls / (double)rows,
                   "distinct_count", (json_int_t)json_object_size(counts),
                   "min", s3csv_value(lo), "max", s3csv_value(hi),
                   "most_common", s3csv_most_common(counts, rows), "source",
                   "csv_sample", "as_of", at, "estimate", 1, "sample_rows_read",
                   (json_int_t)rows, "distinct_capped", capped);
    json_decref(counts);
    return st;
}

/* ------------------------------------------------------------ the whole */

json_t *s3csv_values(const struct s3csv_inst *g, const struct s3csv_records *r,
                     json_t *cols)
{
    char at[32];
    json_t *c;
    size_t i;

    json_array_foreach(
        cols, i,
        c) if (s3csv_masked(g, json_string_value(json_object_get(c, "name"))))
        json_object_set_new(c, "masked", json_true());
    if (r->n < 2)
        return NULL;
    s3csv_now(g, at, sizeof(at));
    json_array_foreach(cols, i, c)
    {
        if (g->column_stats && !json_is_true(json_object_get(c, "masked")))
            json_object_set_new(c, "stats", s3csv_column_stats(r, i, c, at));
    }
    return g->sample_rows > 0 ? s3csv_sample_rows(g, r, cols, at) : NULL;
}
