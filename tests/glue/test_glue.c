/* glue.so against moto_server: databases with include/exclude, every
 * table with all its columns, formats, Hive -> Spark types, read specs on
 * EMR (catalog) and local Spark (by path), views and errors. */
#include "context.h"
#include "describe_batch.h"
#include "glue_test.h"

static char *conf;

static void setup(void)
{
    char yaml[2048];

    gt_moto_url();
    gt_creds();
    conf = t_tmpdir();
    snprintf(yaml, sizeof(yaml),
             "name: glue\nplugin: glue\n"
             "region: us-east-1\nendpoint_url: %s\ns3_endpoint_url: %s\n"
             "include: [\"dsbg_*\"]\nexclude: [\"DSBG_TMP_*\"]\n",
             moto, moto);
    t_write(conf, "glue.yaml", yaml);
    snprintf(yaml, sizeof(yaml),
             "name: onlyhr\nplugin: glue\n"
             "include: [dsbg_hr]\n");
    t_write(conf, "onlyhr.yaml", yaml);
    snprintf(yaml, sizeof(yaml),
             "aws:\n  region: us-east-1\n  endpoint_url: "
             "%s\n  max_attempts: 1\n",
             moto);
    s3t_start(conf, yaml);
}

static void teardown(void)
{
    s3t_stop();
    free(conf);
}

TestSuite(glue, .init = setup, .fini = teardown);

#define EMR (DSB_EXEC_S3_NATIVE | DSB_EXEC_GLUE_CATALOG)
#define S3A (DSB_EXEC_S3A | DSB_EXEC_LOCAL_FILES)

Test(glue, databases_include_and_exclude)
{
    struct dsb_list_request r = {0};
    json_t *out;

    cr_assert_eq(
        dsb_source_list_databases(dsb_broker_source(b, "glue"), &r, &out, &err),
        0, "%s", err.message);
    cr_assert_str_eq(s3t_names(out), "dsbg_big,dsbg_hr,dsbg_sales");
    cr_assert_str_eq(
        gt_s(json_array_get(json_object_get(out, "items"), 1), "comment", NULL),
        "test dsbg_hr");
    json_decref(out);
    cr_assert_eq(dsb_source_list_databases(dsb_broker_source(b, "onlyhr"), &r,
                                           &out, &err),
                 0, "%s", err.message);
    cr_assert_str_eq(s3t_names(out), "dsbg_hr");
    json_decref(out);
    r.database = "dsbg_sales";
    cr_assert_eq(
        dsb_source_list_schemas(dsb_broker_source(b, "glue"), &r, &out, &err),
        0);
    cr_assert_str_eq(s3t_names(out), "default");
    json_decref(out);
    cr_assert_eq(dsb_source_check(dsb_broker_source(b, "glue"), &out, &err), 0,
                 "%s", err.message);
    json_decref(out);
}

Test(glue, every_table_with_all_columns)
{
    json_t *out = s3t_tables("glue", "dsbg_sales", "default");
    const json_t *o, *cols;

    cr_assert_str_eq(s3t_names(out), "clicks,events,ice,lines,logs,orders,"
                                     "users,v_orders,weird");
    o = s3t_item(out, "orders");
    cr_assert_str_eq(s3t_cols(o),
                     "order_id:bigint,amount:decimal(10,2),"
                     "placed:date,tags:array<string>,attrs:map<string,int>,"
                     "addr:struct<city:string,zip:string>,dt:string,"
                     "region:int");
    cols = json_object_get(o, "columns");
    cr_assert(json_is_false(
        json_object_get(json_array_get(cols, 5), "partition_key")));
    cr_assert(json_is_true(
        json_object_get(json_array_get(cols, 6), "partition_key")));
    cr_assert_eq(json_integer_value(
                     json_object_get(json_array_get(cols, 7), "position")),
                 8);
    cr_assert_str_eq(gt_s(json_array_get(cols, 5), "source_type", NULL),
                     "struct<city:string,zip:varchar(10)>");
    cr_assert_str_eq(gt_s(json_array_get(cols, 0), "comment", NULL),
                     "the order_id");
    cr_assert_str_eq(gt_s(o, "kind", NULL), "partitioned_table");
    cr_assert_str_eq(gt_s(o, "format", NULL), "csv");
    cr_assert_str_eq(gt_s(o, "location", NULL), "s3://dsb-glue/sales/orders/");
    cr_assert_str_eq(gt_s(o, "comment", NULL), "orders by day");
    cr_assert_eq(json_integer_value(json_object_get(o, "row_estimate")), 1200);
    cr_assert_eq(json_integer_value(json_object_get(o, "size_bytes")), 56000);
    cr_assert_str_eq(gt_s(s3t_item(out, "events"), "format", NULL), "parquet");
    cr_assert_str_eq(s3t_cols(s3t_item(out, "events")),
                     "id:bigint,"
                     "ts:timestamp,payload:binary");
    cr_assert_str_eq(gt_s(s3t_item(out, "clicks"), "format", NULL), "orc");
    cr_assert_str_eq(gt_s(s3t_item(out, "logs"), "format", NULL), "json");
    cr_assert_str_eq(gt_s(s3t_item(out, "users"), "format", NULL), "avro");
    cr_assert_str_eq(s3t_cols(s3t_item(out, "users")), "id:smallint,"
                                                       "ok:boolean");
    cr_assert_str_eq(gt_s(s3t_item(out, "lines"), "format", NULL), "csv");
    cr_assert_str_eq(gt_s(s3t_item(out, "ice"), "format", NULL), "iceberg");
    cr_assert_str_eq(gt_s(s3t_item(out, "v_orders"), "kind", NULL), "view");
    cr_assert_str_eq(gt_s(s3t_item(out, "events"), "kind", NULL),
                     "external_table");
    cr_assert_str_eq(s3t_cols(s3t_item(out, "weird")), "u:string");
    json_decref(out);
}

Test(glue, hundreds_of_tables_and_name_filters)
{
    struct dsb_list_request r = {"dsbg_big", "default", "T25", 0, NULL};
    json_t *out = s3t_tables("glue", "dsbg_big", "default");
    char want[16];

    cr_assert_eq(json_array_size(json_object_get(out, "items")), 260);
    for (int i = 0; i < 260; i++) {
        snprintf(want, sizeof(want), "t%03d", i);
        cr_assert_str_eq(
            gt_s(json_array_get(json_object_get(out, "items"), (size_t)i),
                 "name", NULL),
            want);
    }
    json_decref(out);
    cr_assert_eq(
        dsb_source_list_tables(dsb_broker_source(b, "glue"), &r, &out, &err), 0,
        "%s", err.message);
    cr_assert_str_eq(s3t_names(out), "t250,t251,t252,t253,t254,t255,"
                                     "t256,t257,t258,t259");
    json_decref(out);
    r = (struct dsb_list_request){"dsbg_big", "default", NULL, 100, "200"};
    cr_assert_eq(
        dsb_source_list_tables(dsb_broker_source(b, "glue"), &r, &out, &err), 0,
        "%s", err.message);
    cr_assert_eq(json_array_size(json_object_get(out, "items")), 60);
    cr_assert(json_is_null(json_object_get(out, "next_page_token")));
    json_decref(out);
}

/* describe_tables (ABI 1.2): the named tables in one GetTables walk, each
 * what describe_table gives; a missing name is left out. */
Test(glue, describe_tables_items_are_describe_table_answers)
{
    const char *names[] = {"t007", "nope", "t259"};

    cr_assert_str_eq(t_describe_batch(dsb_broker_source(b, "glue"), "dsbg_big",
                                      "default", names, 3),
                     "t007,t259");
}

Test(glue, read_spec_on_emr_uses_the_catalog)
{
    json_t *s = gt_read_spec("glue", "dsbg_sales", "orders", EMR);

    cr_assert_str_eq(gt_s(s, "format", NULL), "table");
    cr_assert_str_eq(gt_s(s, "qualified_name", NULL), "`dsbg_sales`.`orders`");
    cr_assert(json_is_null(json_object_get(s, "path")));
    cr_assert_str_eq(gt_s(json_object_get(s, "spark_submit"), "conf",
                          "spark.hadoop.hive.metastore.client.factory.class"),
                     "com.amazonaws.glue.catalog.metastore."
                     "AWSGlueDataCatalogHiveClientFactory");
    cr_assert_str_eq(gt_s(json_object_get(s, "spark_submit"), "conf",
                          "spark.sql.catalogImplementation"),
                     "hive");
    cr_assert_eq(json_array_size(json_object_get(s, "columns")), 8);
    cr_assert_str_eq(gt_s(s, "network", NULL), "public");
    json_decref(s);
    s = gt_read_spec("glue", "dsbg_sales", "v_orders", EMR);
    cr_assert_str_eq(gt_s(s, "format", NULL), "table");
    cr_assert(s3t_has_note(json_object_get(s, "notes"), "a view"));
    json_decref(s);
}

Test(glue, read_spec_on_local_spark_reads_the_location)
{
    json_t *s = gt_read_spec("glue", "dsbg_sales", "orders", S3A);
    const json_t *o = json_object_get(s, "options");

    cr_assert_str_eq(gt_s(s, "format", NULL), "csv");
    cr_assert_str_eq(gt_s(s, "path", NULL), "s3a://dsb-glue/sales/orders/");
    cr_assert_str_eq(gt_s(o, "header", NULL), "true");
    cr_assert_str_eq(gt_s(o, "delimiter", NULL), ";");
    cr_assert_str_eq(gt_s(o, "quote", NULL), "'");
    cr_assert_str_eq(gt_s(json_object_get(s, "spark_submit"), "conf",
                          "spark.hadoop.fs.s3a.endpoint"),
                     moto);
    cr_assert_str_eq(gt_s(s, "schema_ddl", NULL),
                     "`order_id` bigint, "
                     "`amount` decimal(10,2), `placed` date, `tags` "
                     "array<string>, `attrs` map<string,int>, `addr` "
                     "struct<city:string,zip:string>, `dt` string, `region` "
                     "int");
    cr_assert(s3t_has_note(json_object_get(s, "notes"), "partition columns"));
    json_decref(s);
    s = gt_read_spec("glue", "dsbg_sales", "events", DSB_EXEC_S3_NATIVE);
    cr_assert_str_eq(gt_s(s, "format", NULL), "parquet");
    cr_assert_str_eq(gt_s(s, "path", NULL), "s3://dsb-glue/sales/events/");
    json_decref(s);
    s = gt_read_spec("glue", "dsbg_sales", "lines", S3A);
    cr_assert_str_eq(gt_s(s, "options", "delimiter"), "\t");
    cr_assert_str_eq(gt_s(s, "options", "quote"), "");
    json_decref(s);
}

/* read_spec and the ABI 1.1 read_spec given the description agree on
 * every table of dsbg_sales, through the catalog, by path and refused. */
Test(glue, both_read_spec_paths_agree)
{
    const unsigned caps[] = {EMR, S3A, DSB_EXEC_S3_NATIVE,
                             DSB_EXEC_LOCAL_FILES};
    struct dsb_source *s = dsb_broker_source(b, "glue");
    json_t *out = s3t_tables("glue", "dsbg_sales", "default"), *t;
    const json_t *it;
    size_t i;

    json_array_foreach(json_object_get(out, "items"), i, it) for (size_t j = 0;
                                                                  j < 4; j++)
    {
        struct dsb_read_target tg = {"x", "local-spark", caps[j]};
        t_same_read_spec(s, "dsbg_sales", "default",
                         json_string_value(json_object_get(it, "name")), &tg);
    }
    json_decref(out);
    /* a csv table's description carries its reader options */
    t = s3t_describe("glue", "dsbg_sales", "default", "orders");
    cr_assert_str_eq(gt_s(t, "csv_options", "delimiter"), ";");
    json_decref(t);
}

/* The Spark context of dsbg_sales.TABLE on executor exec. */
static json_t *context_of(const char *table, const char *exec)
{
    struct dsb_selection sel = {"glue", "dsbg_sales", "default", table};
    json_t *out;

    cr_assert_eq(dsb_context_build(b, &sel, 1, exec, NULL, &out, &err), 0,
                 "%s: %s", err.message, err.hint);
    return out;
}

static const char *snippet_of(const json_t *ctx)
{
    return gt_s(json_array_get(json_object_get(ctx, "tables"), 0), "snippet",
                NULL);
}

static void assert_schema(const char *table, const char *ddl)
{
    json_t *ctx = context_of(table, "s3a");
    char want[1024];

    snprintf(want, sizeof(want), "    .schema(\"%s\")\n", ddl);
    cr_assert(strstr(snippet_of(ctx), want), "%s: no %s in\n%s", table, want,
              snippet_of(ctx));
    json_decref(ctx);
}

Test(glue, path_reads_pass_the_schema_with_partition_columns)
{
    json_t *ctx = context_of("events", "s3a");

    cr_assert_str_eq(snippet_of(ctx),
                     "events_df = (\n"
                     "    spark.read.format(\"parquet\")\n"
                     "    .schema(\"`id` bigint, `ts` timestamp, `payload` "
                     "binary\")\n"
                     "    .load(\"s3a://dsb-glue/sales/events/\")\n)\n");
    json_decref(ctx);
    assert_schema("orders",
                  "`order_id` bigint, `amount` decimal(10,2), "
                  "`placed` date, `tags` array<string>, `attrs` "
                  "map<string,int>, `addr` struct<city:string,zip:string>, "
                  "`dt` string, `region` int");
    assert_schema("clicks", "`id` int, `ratio` float");
    assert_schema("logs", "`msg` string, `lvl` tinyint");
    assert_schema("users", "`id` smallint, `ok` boolean");
}

Test(glue, s3a_reads_bring_hadoop_aws)
{
    json_t *ctx = context_of("clicks", "s3a");
    const json_t *sc =
        json_object_get(json_object_get(ctx, "spark_submit"), "conf");

    cr_assert_str_eq(gt_s(sc, "spark.jars.packages", NULL),
                     "org.apache.hadoop:hadoop-aws:9.9.9");
    cr_assert_str_eq(gt_s(sc, "spark.hadoop.fs.s3a.endpoint", NULL), moto);
    cr_assert(strstr(gt_s(ctx, "code", NULL), "s3a://dsb-glue/sales/clicks/"));
    json_decref(ctx);
}

static void refused(const char *t, unsigned caps, int code, const char *msg)
{
    struct dsb_read_target tg = {"local", "local-spark", caps};
    json_t *out;

    cr_assert_eq(dsb_source_read_spec(dsb_broker_source(b, "glue"),
                                      "dsbg_sales", "default", t, &tg, &out,
                                      &err),
                 -1, "%s was read", t);
    cr_assert_eq(err.code, code, "%s: %d %s", t, err.code, err.message);
    cr_assert(strstr(err.message, msg), "%s", err.message);
}

Test(glue, unreadable_by_path_says_why)
{
    refused("v_orders", S3A, DSB_E_UNSUPPORTED,
            "is a view: it has no "
            "location to read by path");
    cr_assert(strstr(err.hint, "Glue Data Catalog"), "%s", err.hint);
    refused("ice", S3A, DSB_E_UNSUPPORTED, "needs its catalog");
    refused("events", DSB_EXEC_LOCAL_FILES, DSB_E_UNSUPPORTED,
            "cannot read s3:// paths");
    cr_assert(strstr(err.hint, "s3a: true"), "%s", err.hint);
    refused("nope", S3A, DSB_E_NOT_FOUND, "");
}

Test(glue, not_found_and_hidden)
{
    struct dsb_list_request r = {"dsbg_tmp_x", "default", NULL, 0, NULL};
    json_t *out;

    cr_assert_eq(
        dsb_source_list_tables(dsb_broker_source(b, "glue"), &r, &out, &err),
        -1);
    cr_assert_eq(err.code, DSB_E_NOT_FOUND);
    r.database = "dsbg_nope";
    cr_assert_eq(
        dsb_source_list_tables(dsb_broker_source(b, "glue"), &r, &out, &err),
        -1);
    cr_assert_eq(err.code, DSB_E_NOT_FOUND, "%d %s", err.code, err.message);
    r = (struct dsb_list_request){"dsbg_sales", "public", NULL, 0, NULL};
    cr_assert_eq(
        dsb_source_list_tables(dsb_broker_source(b, "glue"), &r, &out, &err),
        -1);
    cr_assert_eq(err.code, DSB_E_NOT_FOUND);
    cr_assert(strstr(err.hint, "Glue has no schemas"), "%s", err.hint);
    cr_assert_eq(dsb_source_describe_table(dsb_broker_source(b, "glue"),
                                           "dsbg_sales", "default", "nope",
                                           &out, &err),
                 -1);
    cr_assert_eq(err.code, DSB_E_NOT_FOUND);
    cr_assert_str_eq(err.upstream, "EntityNotFoundException");
    out = s3t_describe("glue", "dsbg_sales", "default", "events");
    cr_assert_str_eq(gt_s(out, "name", NULL), "events");
    json_decref(out);
}
