/* Column names and Spark types from sampled CSV records.
 *
 * Each value gets the narrowest type that holds it; a column's type is the
 * merge (widening) of its values' types:
 *   null < anything;  integer < long < decimal(p,s) < double  (numbers);
 *   date < timestamp;  any other mix: string.
 * decimal(p,s) keeps the largest integer and fraction digit counts seen; it
 * becomes double beyond 38 digits.  Integers with leading zeros ("007")
 * are strings: they are codes, not numbers. */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "s3csv.h"

#define S3CSV_MAX_PRECISION 38

static int infer_digits(const char *s, size_t *n)
{
    size_t i = 0;

    while (isdigit((unsigned char)s[i]))
        i++;
    *n = i;
    return i > 0;
}

/* integer, long, or decimal when it does not fit 64 bits. */
static enum s3csv_type infer_integer(const char *v)
{
    long long x;

    errno = 0;
    x = strtoll(v, NULL, 10);
    if (errno == ERANGE)
        return S3CSV_T_DECIMAL;
    return x >= INT32_MIN && x <= INT32_MAX ? S3CSV_T_INTEGER : S3CSV_T_LONG;
}

/* [+-]digits[.digits][(e|E)[+-]digits] or NaN / Infinity. */
static struct s3csv_coltype infer_number(const char *v)
{
    struct s3csv_coltype t = {S3CSV_T_STRING, 0, 0};
    const char *p = v + (*v == '-' || *v == '+');
    size_t ni, nf = 0, ne;

    if (!strcmp(p, "NaN") || !strcmp(p, "Infinity"))
        return (struct s3csv_coltype){S3CSV_T_DOUBLE, 0, 0};
    if (!infer_digits(p, &ni) || (ni > 1 && p[0] == '0'))
        return t;
    p += ni;
    if (*p == '.' && !infer_digits(p + 1, &nf))
        return t;
    if (*p == '.')
        p += 1 + nf;
    if (*p == 'e' || *p == 'E') {
        p += 1 + (p[1] == '-' || p[1] == '+');
        if (!infer_digits(p, &ne) || p[ne])
            return t;
        return (struct s3csv_coltype){S3CSV_T_DOUBLE, 0, 0};
    }
    if (*p)
        return t;
    t.idigits = (int)ni;
    t.scale = (int)nf;
    t.t = nf > 0 ? S3CSV_T_DECIMAL : infer_integer(v);
    if (t.t == S3CSV_T_DECIMAL && t.idigits + t.scale > S3CSV_MAX_PRECISION)
        t.t = S3CSV_T_DOUBLE;
    return t;
}

static int infer_fixed(const char *s, int n, int lo, int hi)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v >= lo && v <= hi ? v : -1;
}

/* yyyy-mm-dd with a real day of the month; the length parsed, 0 if none. */
static size_t infer_date(const char *s)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y = infer_fixed(s, 4, 1, 9999), m, d;

    if (y < 0 || s[4] != '-' || (m = infer_fixed(s + 5, 2, 1, 12)) < 0 ||
        s[7] != '-' || (d = infer_fixed(s + 8, 2, 1, mdays[m - 1])) < 0)
        return 0;
    if (m == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 0;
    return 10;
}

/* [T ]hh:mm[:ss[.f{1,9}]][Z|(+|-)hh[:]mm] after a date. */
static int infer_time(const char *s)
{
    size_t nf;

    if ((*s != 'T' && *s != ' ') || infer_fixed(s + 1, 2, 0, 23) < 0 ||
        s[3] != ':' || infer_fixed(s + 4, 2, 0, 59) < 0)
        return 0;
    s += 6;
    if (*s == ':' && infer_fixed(s + 1, 2, 0, 59) >= 0) {
        s += 3;
        if (*s == '.' && infer_digits(s + 1, &nf) && nf <= 9)
            s += 1 + nf;
    }
    if (*s == 'Z')
        return s[1] == '\0';
    if (*s == '+' || *s == '-') {
        s += 1;
        if (infer_fixed(s, 2, 0, 18) < 0)
            return 0;
        s += 2 + (s[2] == ':');
        return infer_fixed(s, 2, 0, 59) >= 0 && s[2] == '\0';
    }
    return *s == '\0';
}

struct s3csv_coltype s3csv_type_of(const char *v)
{
    size_t n;

    if (!*v)
        return (struct s3csv_coltype){S3CSV_T_NULL, 0, 0};
    if (!strcasecmp(v, "true") || !strcasecmp(v, "false"))
        return (struct s3csv_coltype){S3CSV_T_BOOLEAN, 0, 0};
    if ((n = infer_date(v)) > 0) {
        if (!v[n])
            return (struct s3csv_coltype){S3CSV_T_DATE, 0, 0};
        if (infer_time(v + n))
            return (struct s3csv_coltype){S3CSV_T_TIMESTAMP, 0, 0};
    }
    return infer_number(v);
}

static int infer_is_number(enum s3csv_type t)
{
    return t >= S3CSV_T_INTEGER && t <= S3CSV_T_DOUBLE;
}

static int infer_max(int a, int b)
{
    return a > b ? a : b;
}

void s3csv_type_merge(struct s3csv_coltype *acc, struct s3csv_coltype v)
{
    if (v.t == S3CSV_T_NULL || acc->t == S3CSV_T_STRING)
        return;
    if (acc->t == S3CSV_T_NULL) {
        *acc = v;
    } else if (acc->t == v.t && !infer_is_number(v.t)) {
        return;
    } else if (infer_is_number(acc->t) && infer_is_number(v.t)) {
        acc->t = acc->t > v.t ? acc->t : v.t;
        acc->idigits = infer_max(acc->idigits, v.idigits);
        acc->scale = infer_max(acc->scale, v.scale);
        if (acc->t == S3CSV_T_DECIMAL &&
            acc->idigits + acc->scale > S3CSV_MAX_PRECISION)
            acc->t = S3CSV_T_DOUBLE;
    } else if ((acc->t == S3CSV_T_DATE || acc->t == S3CSV_T_TIMESTAMP) &&
               (v.t == S3CSV_T_DATE || v.t == S3CSV_T_TIMESTAMP)) {
        acc->t = S3CSV_T_TIMESTAMP;
    } else if (acc->t != v.t) {
        acc->t = S3CSV_T_STRING;
    }
}

static const char *infer_name(const struct s3csv_coltype *c, char *buf,
                              size_t n, int spark)
{
    static const char *const ours[] = {"string", "boolean",   "integer",
                                       "long",   "decimal",   "double",
                                       "date",   "timestamp", "string"};
    static const char *const sparks[] = {"string", "boolean",   "int",
                                         "bigint", "decimal",   "double",
                                         "date",   "timestamp", "string"};

    if (c->t == S3CSV_T_DECIMAL)
        snprintf(buf, n, "decimal(%d,%d)", infer_max(c->idigits + c->scale, 1),
                 c->scale);
    else
        snprintf(buf, n, "%s", (spark ? sparks : ours)[c->t]);
    return buf;
}

const char *s3csv_type_name(const struct s3csv_coltype *c, char *buf, size_t n)
{
    return infer_name(c, buf, n, 0);
}

const char *s3csv_spark_type(const struct s3csv_coltype *c, char *buf, size_t n)
{
    return infer_name(c, buf, n, 1);
}

/* ------------------------------------------------------------ names */

static int infer_blank(const char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    return *s == '\0';
}

static int infer_taken(json_t *names, const char *name)
{
    size_t i;
    json_t *v;

    json_array_foreach(names, i,
                       v) if (!strcasecmp(json_string_value(v), name)) return 1;
    return 0;
}

/* Appends a unique name for header field i (NULL when absent) to names. */
static int infer_add_name(json_t *names, const char *h, size_t i, json_t *notes)
{
    char buf[1200];
    int k = 2;

    if (!h || infer_blank(h)) {
        snprintf(buf, sizeof(buf), "_c%zu", i);
        json_array_append_new(notes, json_sprintf("column %zu has no header "
                                                  "name: named %s",
                                                  i + 1, buf));
    } else {
        snprintf(buf, sizeof(buf), "%.1000s", h);
    }
    if (infer_taken(names, buf)) {
        char base[1200];
        snprintf(base, sizeof(base), "%s", buf);
        do
            snprintf(buf, sizeof(buf), "%.1100s_%d", base, k++);
        while (infer_taken(names, buf));
        json_array_append_new(notes, json_sprintf("duplicate column name "
                                                  "\"%s\": column %zu named %s",
                                                  base, i + 1, buf));
    }
    return json_array_append_new(names, json_string(buf));
}

/* --------------------------------------------------------- columns */

static json_t *infer_column(const char *name, size_t i,
                            const struct s3csv_coltype *t)
{
    char ours[64], spark[64];

    return json_pack("{s:s, s:I, s:s, s:s, s:b, s:n, s:n}", "name", name,
                     "position", (json_int_t)(i + 1), "source_type",
                     s3csv_type_name(t, ours, sizeof(ours)), "spark_type",
                     s3csv_spark_type(t, spark, sizeof(spark)), "nullable", 1,
                     "default", "comment");
}

/* Merges every data record into types[0..n); returns the ragged count. */
static size_t infer_rows(const struct s3csv_records *r,
                         struct s3csv_coltype *types, size_t n)
{
    size_t ragged = 0;

    for (size_t i = 1; i < r->n; i++) {
        const struct s3csv_record *rec = &r->v[i];
        ragged += rec->n != n;
        for (size_t c = 0; c < n && c < rec->n; c++)
            s3csv_type_merge(&types[c], s3csv_type_of(rec->fields[c]));
    }
    return ragged;
}

static void infer_notes(const struct s3csv_records *r, size_t ragged,
                        json_t *notes)
{
    if (r->n == 0)
        json_array_append_new(notes, json_string("the file is empty: no "
                                                 "header, no columns"));
    else if (r->n == 1)
        json_array_append_new(
            notes, json_string("the file has a header but "
                               "no data rows in the sample: every column is "
                               "typed string"));
    if (ragged)
        json_array_append_new(
            notes, json_sprintf("%zu of %zu sampled rows "
                                "have a different number of fields than the "
                                "header (Spark fills missing fields with null "
                                "and drops extra ones)",
                                ragged, r->n - 1));
    if (r->multiline)
        json_array_append_new(notes, json_string("quoted values span lines: "
                                                 "read with multiLine=true"));
    if (r->bom)
        json_array_append_new(
            notes, json_string("the file starts with a "
                               "UTF-8 byte order mark: it is not part of the "
                               "first column's name"));
    if (r->eol == S3CSV_EOL_CRLF)
        json_array_append_new(
            notes, json_string("lines end with CRLF "
                               "(Windows): Spark's reader takes CRLF as the "
                               "line end, no CR is left in the last column"));
    else if (r->eol == S3CSV_EOL_CR)
        json_array_append_new(
            notes, json_string("lines end with a bare CR "
                               "(classic Mac OS): Spark's reader takes CR as "
                               "the line end"));
}

json_t *s3csv_infer_columns(const struct s3csv_records *r, json_t *notes)
{
    size_t n = r->n ? r->v[0].n : 0, ragged;
    struct s3csv_coltype *types = calloc(n + 1, sizeof(*types));
    json_t *names = json_array(), *cols = json_array();

    if (!types || !names || !cols)
        goto fail;
    for (size_t i = 0; i < n; i++)
        if (infer_add_name(names, r->v[0].fields[i], i, notes) < 0)
            goto fail;
    ragged = infer_rows(r, types, n);
    for (size_t i = 0; i < n; i++)
        if (json_array_append_new(
                cols, infer_column(json_string_value(json_array_get(names, i)),
                                   i, &types[i])) < 0)
            goto fail;
    infer_notes(r, ragged, notes);
    free(types);
    json_decref(names);
    return cols;
fail:
    free(types);
    json_decref(names);
    json_decref(cols);
    return NULL;
}
