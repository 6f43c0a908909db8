#include "verify.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "jobs/jobs.h"
#include "prompt_text.h"
#include "util.h"

extern const char dsb_verify_py[];

/* ------------------------------------------------------------- program */

/* Readers whose files declare a schema cheaply: the header line of a CSV
 * (names only: inferSchema off), the footers of Parquet, ORC and Avro. */
static const char *probe_of(const json_t *read)
{
    const char *fmt = json_string_value(json_object_get(read, "format"));
    const json_t *o = json_object_get(read, "options");
    const char *hdr = json_string_value(json_object_get(o, "header"));

    if (!fmt || !json_is_string(json_object_get(read, "path")))
        return NULL;
    if (strcmp(fmt, "csv") == 0)
        return hdr && strcasecmp(hdr, "true") == 0 ? "header" : NULL;
    if (!strcmp(fmt, "parquet") || !strcmp(fmt, "orc") || !strcmp(fmt, "avro"))
        return "footer";
    return NULL;
}

static json_t *verify_table(const json_t *t)
{
    const json_t *read = json_object_get(t, "read");
    const char *probe = probe_of(read);

    return json_pack("{s:O, s:O, s:O?, s:O?, s:O?, s:O?, s:s?}", "variable",
                     json_object_get(t, "variable"), "snippet",
                     json_object_get(t, "snippet"), "format",
                     json_object_get(read, "format"), "path",
                     json_object_get(read, "path"), "options",
                     json_object_get(read, "options"), "secret_options",
                     json_object_get(read, "secret_options"), "probe", probe);
}

char *dsb_verify_code(const json_t *ctx)
{
    json_t *tables = json_array(), *t;
    struct dsb_sb b = {0};
    char *text;
    size_t i;

    json_array_foreach(json_object_get(ctx, "tables"), i, t)
        json_array_append_new(tables, verify_table(t));
    text = json_dumps(tables, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(tables);
    if (!text)
        return NULL;
    dsb_sb_addf(&b, "%s\n%s\n_dsb_verify(_dsb_vjson.loads(\n    ",
                dsb_jobs_python_prelude(), dsb_verify_py);
    dsb_py_literal(&b, text);
    dsb_sb_adds(&b, "))\n");
    free(text);
    return dsb_sb_take(&b);
}

/* --------------------------------------------------------------- types */

/* Spellings Spark's DDL parser accepts for one type, and the one
 * DataType.simpleString() gives (what a resolved schema shows). */
static const char *const type_synonyms[][2] = {
    {"integer", "int"},     {"long", "bigint"},  {"short", "smallint"},
    {"byte", "tinyint"},    {"real", "float"},   {"dec", "decimal"},
    {"numeric", "decimal"}, {"bool", "boolean"}, {"timestamp_ltz", "timestamp"},
    {"varchar", "string"},  {"char", "string"},  {"character", "string"},
};

static const char *synonym(const char *word)
{
    for (size_t i = 0; i < sizeof(type_synonyms) / sizeof(*type_synonyms); i++)
        if (strcmp(word, type_synonyms[i][0]) == 0)
            return type_synonyms[i][1];
    return word;
}

/* Past "(digits)" at p (a char/varchar length), else p. */
static const char *skip_length(const char *p)
{
    const char *q = p;

    if (*q++ != '(' || !isdigit((unsigned char)*q))
        return p;
    while (isdigit((unsigned char)*q))
        q++;
    return *q == ')' ? q + 1 : p;
}

void dsb_verify_type_norm(const char *type, char *buf, size_t cap)
{
    struct dsb_sb b = {0};
    const char *p = type ? type : "";

    while (*p) {
        char word[64];
        size_t n = 0;
        const char *w;
        if (isspace((unsigned char)*p)) {
            p++;
            continue;
        }
        if (!isalnum((unsigned char)*p) && *p != '_') {
            dsb_sb_addc(&b, *p++);
            continue;
        }
        while ((isalnum((unsigned char)*p) || *p == '_') &&
               n + 1 < sizeof(word))
            word[n++] = (char)tolower((unsigned char)*p++);
        word[n] = '\0';
        /* a struct field's name (before ':') is a name, not a type */
        w = *p == ':' ? word : synonym(word);
        if (strcmp(w, "string") == 0 && strcmp(word, "string") != 0)
            p = skip_length(p);
        dsb_sb_adds(&b, w);
        if (strcmp(w, "decimal") == 0 && *p != '(')
            dsb_sb_adds(&b, "(10,0)");
    }
    snprintf(buf, cap, "%s", dsb_sb_str(&b));
    dsb_sb_free(&b);
}

/* ---------------------------------------------------------- comparison */

static json_t *find_field(const json_t *schema, const char *name, size_t *pos)
{
    const json_t *f;
    size_t i;

    json_array_foreach(schema, i, f)
    {
        const char *n = json_string_value(json_object_get(f, "name"));
        if (n && strcmp(n, name) == 0) {
            *pos = i;
            return (json_t *)f;
        }
    }
    return NULL;
}

static const char *str_of(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));

    return s ? s : "";
}

static void diff_missing(json_t *d, const json_t *c, int header)
{
    const char *name = str_of(c, "name");

    json_array_append_new(
        d, json_pack("{s:s, s:s, s:s, s:s, s:s++}", "kind", "missing", "column",
                     name, "source_type", str_of(c, "source_type"), "expected",
                     str_of(c, "spark_type"), "message", "column ", name,
                     header ? " of the catalog is not in the file's header"
                            : " of the catalog is not in the resolved "
                              "schema"));
}

static void diff_extra(json_t *d, const json_t *f, int header)
{
    const char *name = str_of(f, "name");

    json_array_append_new(
        d, json_pack("{s:s, s:s, s:s, s:s++}", "kind", "extra", "column", name,
                     "resolved", str_of(f, "type"), "message", "column ", name,
                     header ? " of the file's header is not in the catalog"
                            : " of the resolved schema is not in the "
                              "catalog"));
}

static void diff_type(json_t *d, const json_t *c, const json_t *f)
{
    const char *name = str_of(c, "name"), *src = str_of(c, "source_type");
    const char *want = str_of(c, "spark_type"), *got = str_of(f, "type");
    char *msg = dsb_asprintf("column %s: the catalog says %s -> expected "
                             "Spark %s, resolved %s",
                             name, *src ? src : want, want, got);

    json_array_append_new(d, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "kind",
                                       "type", "column", name, "source_type",
                                       src, "expected", want, "resolved", got,
                                       "message", msg ? msg : "types differ"));
    free(msg);
}

/* A CSV is read by position with the catalog's schema: a header whose
 * columns moved reads the wrong values under the catalog's names. */
static void diff_position(json_t *d, const char *name, size_t want, size_t got)
{
    char *msg = dsb_asprintf("column %s is column %zu in the catalog but "
                             "%zu in the file's header (the read is "
                             "positional)",
                             name, want + 1, got + 1);

    json_array_append_new(
        d, json_pack("{s:s, s:s, s:I, s:I, s:s}", "kind", "position", "column",
                     name, "expected_position", (json_int_t)want + 1,
                     "resolved_position", (json_int_t)got + 1, "message",
                     msg ? msg : "the column moved"));
    free(msg);
}

static int same_type(const json_t *c, const json_t *f)
{
    char a[512], b[512];

    dsb_verify_type_norm(str_of(c, "spark_type"), a, sizeof(a));
    dsb_verify_type_norm(str_of(f, "type"), b, sizeof(b));
    return strcmp(a, b) == 0;
}

/* Differences between catalog columns cols and a resolved schema. */
static json_t *differences(const json_t *cols, const json_t *schema, int header)
{
    json_t *d = json_array();
    const json_t *c, *f;
    size_t i, pos;

    json_array_foreach(cols, i, c)
    {
        f = find_field(schema, str_of(c, "name"), &pos);
        if (!f)
            diff_missing(d, c, header);
        else if (header && pos != i)
            diff_position(d, str_of(c, "name"), i, pos);
        else if (!header && !same_type(c, f))
            diff_type(d, c, f);
    }
    json_array_foreach(schema, i,
                       f) if (!find_field(cols, str_of(f, "name"), &pos))
        diff_extra(d, f, header);
    return d;
}

/* The parsed result of table i in the job's output (a new reference), or
 * NULL. */
static json_t *result_of(const json_t *result, size_t i)
{
    const json_t *cols = json_object_get(result, "columns"), *row, *v;
    size_t k, ci = SIZE_MAX, cr = SIZE_MAX;

    json_array_foreach(cols, k, v)
    {
        ci = strcmp(json_string_value(v), "index") == 0 ? k : ci;
        cr = strcmp(json_string_value(v), "result") == 0 ? k : cr;
    }
    json_array_foreach(json_object_get(result, "rows"), k, row)
    {
        const json_t *idx = json_array_get(row, ci);
        const char *text = json_string_value(json_array_get(row, cr));
        if (json_is_integer(idx) && json_integer_value(idx) == (json_int_t)i &&
            text)
            return json_loads(text, 0, NULL);
    }
    return NULL;
}

static json_t *table_head(const json_t *t)
{
    return json_pack(
        "{s:O, s:O, s:O, s:O, s:O}", "source", json_object_get(t, "source"),
        "database", json_object_get(t, "database"), "schema",
        json_object_get(t, "schema"), "table", json_object_get(t, "table"),
        "variable", json_object_get(t, "variable"));
}

static const char *table_report(json_t *out, const json_t *t, json_t *r)
{
    const json_t *schema = json_object_get(r, "schema");
    const char *by = json_string_value(json_object_get(r, "resolved_by"));
    json_t *d;

    if (!json_is_true(json_object_get(r, "ok")) || !json_is_array(schema)) {
        json_t *e = json_object_get(r, "error");
        json_object_set_new(out, "status", json_string("error"));
        if (json_is_object(e))
            json_object_set(out, "error", e);
        else
            json_object_set_new(out, "error",
                                json_pack("{s:s, s:s}", "kind", "error",
                                          "message",
                                          "the verification wrote no result "
                                          "for this table"));
        return "error";
    }
    d = differences(json_object_get(t, "columns"), schema,
                    by && strcmp(by, "header") == 0);
    json_object_set_new(out, "status",
                        json_string(json_array_size(d) ? "differs" : "ok"));
    json_object_set_new(out, "resolved_by", json_string(by ? by : "read"));
    json_object_set(out, "resolved_schema", (json_t *)schema);
    json_object_set_new(out, "differences", d);
    return json_array_size(d) ? "differs" : "ok";
}

json_t *dsb_verify_report(const json_t *ctx, const json_t *result)
{
    json_t *tables = json_array(), *sum, *t;
    size_t i, n_ok = 0, n_diff = 0, n_err = 0;

    json_array_foreach(json_object_get(ctx, "tables"), i, t)
    {
        json_t *out = table_head(t), *r = result_of(result, i);
        const char *st = table_report(out, t, r);
        n_ok += strcmp(st, "ok") == 0;
        n_diff += strcmp(st, "differs") == 0;
        n_err += strcmp(st, "error") == 0;
        json_object_set_new(out, "ok", json_boolean(strcmp(st, "ok") == 0));
        json_array_append_new(tables, out);
        json_decref(r);
    }
    sum = json_pack("{s:I, s:I, s:I}", "ok", (json_int_t)n_ok, "differs",
                    (json_int_t)n_diff, "error", (json_int_t)n_err);
    return json_pack("{s:b, s:o, s:o}", "ok", n_diff == 0 && n_err == 0,
                     "summary", sum, "tables", tables);
}
