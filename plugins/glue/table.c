/* A Glue Table as the broker's TABLE and read spec.  The format comes from
 * Parameters (table_type ICEBERG, classification) first, then from the
 * StorageDescriptor's InputFormat and SerDe library. */
#define _GNU_SOURCE /* asprintf, strcasestr */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "glue.h"

#define GLUE_CATALOG_FACTORY                                                   \
    "com.amazonaws.glue.catalog.metastore.AWSGlueDataCatalogHiveClientFactory"

static const char *glue_str(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static const char *glue_param(const json_t *t, const char *key)
{
    return glue_str(json_object_get(t, "Parameters"), key);
}

static int glue_has(const char *s, const char *needle)
{
    return s && strcasestr(s, needle) != NULL;
}

static const char *glue_format_from_io(const char *in, const char *serde)
{
    if (glue_has(in, "parquet") || glue_has(serde, "parquet"))
        return "parquet";
    if (glue_has(in, "orc") || glue_has(serde, "orc"))
        return "orc";
    if (glue_has(in, "avro") || glue_has(serde, "avro"))
        return "avro";
    if (glue_has(serde, "json"))
        return "json";
    if (glue_has(serde, "OpenCSVSerde") || glue_has(serde, "LazySimpleSerDe") ||
        glue_has(in, "TextInputFormat"))
        return "csv";
    return "unknown";
}

const char *glue_format(const json_t *t)
{
    static const char *const known[] = {"csv",  "parquet", "orc",
                                        "json", "avro",    NULL};
    const json_t *sd = json_object_get(t, "StorageDescriptor");
    const char *tt = glue_param(t, "table_type"), *cls;

    if (!strcmp(glue_str(t, "TableType") ? glue_str(t, "TableType") : "",
                "VIRTUAL_VIEW"))
        return "view";
    if (tt && !strcasecmp(tt, "ICEBERG"))
        return "iceberg";
    if ((tt && !strcasecmp(tt, "DELTA")) ||
        glue_has(glue_param(t, "spark.sql.sources.provider"), "delta"))
        return "delta";
    if (tt && !strcasecmp(tt, "HUDI"))
        return "hudi";
    if ((cls = glue_param(t, "classification")) != NULL)
        for (size_t i = 0; known[i]; i++)
            if (!strcasecmp(cls, known[i]))
                return known[i];
    return glue_format_from_io(
        glue_str(sd, "InputFormat"),
        glue_str(json_object_get(sd, "SerdeInfo"), "SerializationLibrary"));
}

static json_t *glue_column(const json_t *c, size_t pos, int partition)
{
    const char *type = glue_str(c, "Type");
    char *spark = glue_spark_type(type);
    json_t *o = json_pack(
        "{s:s, s:I, s:s, s:s, s:b, s:n, s:s?, s:b}", "name",
        glue_str(c, "Name") ? glue_str(c, "Name") : "", "position",
        (json_int_t)pos, "source_type", type ? type : "", "spark_type",
        spark ? spark : "string", "nullable", 1, "default", "comment",
        glue_str(c, "Comment"), "partition_key", partition);

    free(spark);
    return o;
}

/* StorageDescriptor.Columns then PartitionKeys (flagged partition_key). */
static json_t *glue_columns(const json_t *t)
{
    const json_t *data =
        json_object_get(json_object_get(t, "StorageDescriptor"), "Columns");
    const json_t *parts = json_object_get(t, "PartitionKeys"), *c;
    json_t *cols = json_array();
    size_t i, pos = 1;

    json_array_foreach(data, i, c)
        json_array_append_new(cols, glue_column(c, pos++, 0));
    json_array_foreach(parts, i, c)
        json_array_append_new(cols, glue_column(c, pos++, 1));
    return cols;
}

static const char *glue_kind(const json_t *t)
{
    const char *tt = glue_str(t, "TableType");

    if (tt && !strcmp(tt, "VIRTUAL_VIEW"))
        return "view";
    if (json_array_size(json_object_get(t, "PartitionKeys")))
        return "partitioned_table";
    if (tt && !strcmp(tt, "EXTERNAL_TABLE"))
        return "external_table";
    return "table";
}

/* A numeric table parameter (numRows, totalSize...) or JSON null. */
static json_t *glue_count(const json_t *t, const char *a, const char *b)
{
    const char *v = glue_param(t, a);
    char *end;
    long long n;

    if (!v)
        v = glue_param(t, b);
    if (!v || !*v)
        return json_null();
    n = strtoll(v, &end, 10);
    return *end || n < 0 ? json_null() : json_integer(n);
}

json_t *glue_table_json(const json_t *t)
{
    const json_t *sd = json_object_get(t, "StorageDescriptor");

    return json_pack(
        "{s:s, s:s, s:s?, s:o, s:o, s:[], s:o, s:s?, s:s, "
        "s:s?, s:s?, s:s?}",
        "name", glue_str(t, "Name"), "kind", glue_kind(t), "comment",
        glue_str(t, "Description"), "row_estimate",
        glue_count(t, "numRows", "recordCount"), "size_bytes",
        glue_count(t, "totalSize", "sizeKey"), "primary_key", "columns",
        glue_columns(t), "location", glue_str(sd, "Location"), "format",
        glue_format(t), "table_type", glue_str(t, "TableType"), "input_format",
        glue_str(sd, "InputFormat"), "serde",
        glue_str(json_object_get(sd, "SerdeInfo"), "SerializationLibrary"));
}

/* --------------------------------------------------------- read spec */

/* `s` with back-quotes doubled inside; malloc'd. */
static char *glue_backtick(const char *s)
{
    char *q = malloc(2 * strlen(s) + 3), *p = q;

    if (!q)
        return NULL;
    *p++ = '`';
    for (; *s; s++)
        if ((*p++ = *s) == '`')
            *p++ = '`';
    *p++ = '`';
    *p = '\0';
    return q;
}

/* `db`.`name`: a Spark SQL identifier for spark.table(). */
static char *glue_quoted(const char *db, const char *name)
{
    char *a = glue_backtick(db), *b = glue_backtick(name), *q = NULL;

    if (a && b && asprintf(&q, "%s.%s", a, b) < 0)
        q = NULL;
    free(a);
    free(b);
    return q;
}

static json_t *glue_ddl(const json_t *cols)
{
    size_t i;
    const json_t *c;
    json_t *r;
    char *s = NULL, *next;

    json_array_foreach(cols, i, c)
    {
        char *name =
            glue_backtick(json_string_value(json_object_get(c, "name")));
        if (!name ||
            asprintf(&next, "%s%s%s %s", s ? s : "", s ? ", " : "", name,
                     json_string_value(json_object_get(c, "spark_type"))) < 0)
            next = NULL;
        free(name);
        free(s);
        if (!(s = next))
            return NULL;
    }
    r = json_string(s ? s : "");
    free(s);
    return r;
}

static void glue_catalog_read(json_t *spec, const json_t *tj)
{
    json_t *conf =
        json_object_get(json_object_get(spec, "spark_submit"), "conf");

    json_object_set_new(spec, "format", json_string("table"));
    json_object_set_new(conf,
                        "spark.hadoop.hive.metastore.client.factory."
                        "class",
                        json_string(GLUE_CATALOG_FACTORY));
    json_object_set_new(conf, "spark.sql.catalogImplementation",
                        json_string("hive"));
    json_array_append_new(
        json_object_get(spec, "notes"),
        json_sprintf(
            "read with spark.table(\"%s\") through the Glue Data Catalog",
            json_string_value(json_object_get(spec, "qualified_name"))));
    if (!strcmp(json_string_value(json_object_get(tj, "kind")), "view"))
        json_array_append_new(
            json_object_get(spec, "notes"),
            json_string(
                "a view: Spark expands its SQL; views created by Athena or "
                "Presto may not parse in Spark"));
}

static int glue_refuse(const json_t *tj, const char *why, const char *hint,
                       struct dsb_error *err)
{
    dsb_error_set(err, DSB_E_UNSUPPORTED, "table \"%s\" %s",
                  json_string_value(json_object_get(tj, "name")), why);
    dsb_error_hint(err, "%s", hint);
    return -1;
}

/* Why a table cannot be read by path; NULL when it can. */
static const char *glue_not_by_path(const json_t *tj, const char *fmt)
{
    if (!strcmp(fmt, "view"))
        return "is a view: it has no location to read by path";
    if (!strcmp(fmt, "iceberg") || !strcmp(fmt, "delta") ||
        !strcmp(fmt, "hudi"))
        return "is a table format that needs its catalog, not a path";
    if (!strcmp(fmt, "unknown"))
        return "has a storage format the broker does not recognise";
    if (!json_string_value(json_object_get(tj, "location")))
        return "has no location";
    return NULL;
}

/* Spark's csv reader options for a Glue csv table, from its SerDe. */
static void glue_csv_options(const json_t *t, json_t *opts)
{
    const json_t *sd = json_object_get(t, "StorageDescriptor");
    const json_t *serde = json_object_get(sd, "SerdeInfo");
    const json_t *sp = json_object_get(serde, "Parameters");
    const char *lib = glue_str(serde, "SerializationLibrary");
    const char *skip = glue_param(t, "skip.header.line.count");
    const char *d = glue_str(sp, "separatorChar");

    if (!d)
        d = glue_str(sp, "field.delim");
    json_object_set_new(
        opts, "header",
        json_string(skip && !strcmp(skip, "1") ? "true" : "false"));
    json_object_set_new(opts, "delimiter", json_string(d ? d : ","));
    if (glue_has(lib, "OpenCSVSerde")) {
        const char *q = glue_str(sp, "quoteChar"),
                   *e = glue_str(sp, "escapeChar");
        json_object_set_new(opts, "quote", json_string(q ? q : "\""));
        json_object_set_new(opts, "escape", json_string(e ? e : "\\"));
    } else if (glue_has(lib, "LazySimpleSerDe")) {
        json_object_set_new(opts, "quote", json_string(""));
    }
}

/* Sets path (s3:// or s3a:// by target) and the s3a confs. */
static int glue_path(const struct glue_inst *g, const json_t *tj, unsigned caps,
                     json_t *spec, struct dsb_error *err)
{
    const char *loc = json_string_value(json_object_get(tj, "location"));
    int s3 = !strncmp(loc, "s3://", 5) || !strncmp(loc, "s3a://", 6);
    char *p = NULL;

    if (s3 && !(caps & (DSB_EXEC_S3_NATIVE | DSB_EXEC_S3A)))
        return glue_refuse(tj,
                           "is in S3 and this executor cannot read "
                           "s3:// paths",
                           "enable s3a on the local-spark "
                           "executor (s3a: true in broker.yaml; the broker "
                           "adds hadoop-aws) or route the job to EMR",
                           err);
    if (s3 && !(caps & DSB_EXEC_S3_NATIVE)) {
        if (asprintf(&p, "s3a://%s", strstr(loc, "://") + 3) < 0)
            return dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
        json_object_set_new(
            json_object_get(spec, "spark_submit"), "conf",
            g->host->aws_s3a_conf(g->host, g->s3_endpoint_url, g->region));
    }
    json_object_set_new(spec, "path", json_string(p ? p : loc));
    free(p);
    return 0;
}

/* 1 when a column of TABLE tj comes from the Glue table's PartitionKeys. */
static int glue_partitioned(const json_t *tj)
{
    size_t i;
    const json_t *c;

    json_array_foreach(
        json_object_get(tj, "columns"), i,
        c) if (json_is_true(json_object_get(c, "partition_key"))) return 1;
    return 0;
}

static int glue_path_read(const struct glue_inst *g, const json_t *tj,
                          unsigned caps, json_t *spec, struct dsb_error *err)
{
    const char *fmt = glue_str(tj, "format"), *why = glue_not_by_path(tj, fmt);
    json_t *notes = json_object_get(spec, "notes");

    if (why)
        return glue_refuse(tj, why,
                           "route the job to an executor with the "
                           "Glue Data Catalog (EMR Serverless)",
                           err);
    if (glue_path(g, tj, caps, spec, err) < 0)
        return -1;
    json_object_set_new(spec, "format", json_string(fmt));
    if (!strcmp(fmt, "csv"))
        json_object_update(json_object_get(spec, "options"),
                           json_object_get(tj, "csv_options"));
    json_object_set_new(spec, "schema_ddl",
                        glue_ddl(json_object_get(tj, "columns")));
    json_array_append_new(
        notes, json_sprintf("read by path as %s with the "
                            "explicit schema given; the catalog is not used",
                            fmt));
    if (glue_partitioned(tj))
        json_array_append_new(
            notes, json_string("partition columns come "
                               "from key=value folders under the location"));
    if (!strcmp(fmt, "avro"))
        json_array_append_new(
            notes, json_string("avro needs the spark-avro "
                               "package matching the executor's Spark"));
    return 0;
}

json_t *glue_describe_json(const json_t *t)
{
    json_t *tj = glue_table_json(t), *opts;

    if (!tj || strcmp(glue_format(t), "csv"))
        return tj;
    opts = json_object();
    glue_csv_options(t, opts);
    json_object_set_new(tj, "csv_options", opts);
    return tj;
}

int glue_describes_enough(const json_t *tj)
{
    const char *fmt = glue_str(tj, "format");

    return glue_str(tj, "name") && fmt &&
           json_is_array(json_object_get(tj, "columns")) &&
           json_is_string(json_object_get(tj, "kind")) &&
           (strcmp(fmt, "csv") ||
            json_is_object(json_object_get(tj, "csv_options")));
}

int glue_read_spec_described(const struct glue_inst *g, const char *db,
                             const json_t *tj,
                             const struct dsb_read_target *target, json_t **out,
                             struct dsb_error *err)
{
    json_t *spec = NULL;
    char *qn = glue_quoted(db, glue_str(tj, "name"));
    unsigned caps = target ? target->caps : DSB_EXEC_GLUE_CATALOG;

    if (qn)
        spec = json_pack(
            "{s:s, s:s, s:n, s:{}, s:{}, s:O, s:[], s:O, s:O, "
            "s:{s:[], s:{}}, s:[], s:O}",
            "qualified_name", qn, "format", "table", "path", "options",
            "secret_options", "columns", json_object_get(tj, "columns"),
            "primary_key", "row_estimate", json_object_get(tj, "row_estimate"),
            "size_bytes", json_object_get(tj, "size_bytes"), "spark_submit",
            "jars", "conf", "notes", "kind", json_object_get(tj, "kind"));
    free(qn);
    if (!spec)
        return dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
    if (caps & DSB_EXEC_GLUE_CATALOG)
        glue_catalog_read(spec, tj);
    else if (glue_path_read(g, tj, caps, spec, err) < 0) {
        json_decref(spec);
        return -1;
    }
    *out = spec;
    return 0;
}

int glue_read_spec_json(const struct glue_inst *g, const char *db,
                        const json_t *t, const struct dsb_read_target *target,
                        json_t **out, struct dsb_error *err)
{
    json_t *tj;
    int rc;

    if (!glue_str(t, "Name"))
        return dsb_error_set(err, DSB_E_UPSTREAM,
                             "Glue sent a table "
                             "without a name");
    if (!(tj = glue_describe_json(t)))
        return dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
    rc = glue_read_spec_described(g, db, tj, target, out, err);
    json_decref(tj);
    return rc;
}
