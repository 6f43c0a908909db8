/* s3csv on S3 roots against moto_server: every ListObjectsV2 page, ranged
 * samples (gzip too), listings identical to the local copies' (comma and
 * semicolon trees, BOM and CRLF notes, a schema that is only a folder
 * marker), read specs per executor and a missing bucket. */
#include "describe_batch.h"
#include "s3csv_test.h"

static char *conf, moto[256];

static void moto_url(void)
{
    t_service("moto", "DSB_TEST_MOTO_URL", moto, sizeof(moto));
}

static void setup(void)
{
    char *comma = s3t_data("test-data/s3csv/comma"), yaml[8192], aws[512];
    char *semi = s3t_data("test-data/s3csv/semi");

    moto_url();
    setenv("AWS_ACCESS_KEY_ID", "testing", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "testing", 1);
    unsetenv("AWS_ENDPOINT_URL");
    unsetenv("AWS_ENDPOINT_URL_S3");
    conf = t_tmpdir();
    snprintf(yaml, sizeof(yaml),
             "name: s3\nplugin: s3csv\n"
             "roots: [\"s3://dsb-s3csv/data/v1/\", \"s3://dsb-s3csv-flat\"]\n"
             "endpoint_url: %s\nregion: us-east-1\n",
             moto);
    t_write(conf, "s3.yaml", yaml);
    snprintf(yaml, sizeof(yaml),
             "name: local\nplugin: s3csv\n"
             "network: local\nroots: [\"file://%s/\"]\n",
             comma);
    t_write(conf, "local.yaml", yaml);
    snprintf(yaml, sizeof(yaml),
             "name: s3semi\nplugin: s3csv\n"
             "delimiter: \";\"\nroots: [\"s3://dsb-s3csv-semi/eu-data/\"]\n");
    t_write(conf, "s3semi.yaml", yaml);
    snprintf(yaml, sizeof(yaml),
             "name: localsemi\nplugin: s3csv\n"
             "network: local\ndelimiter: \";\"\nroots: [\"file://%s/\"]\n",
             semi);
    t_write(conf, "localsemi.yaml", yaml);
    snprintf(yaml, sizeof(yaml),
             "name: missing\nplugin: s3csv\n"
             "roots: [\"s3://dsb-no-such-bucket/x/\"]\n");
    t_write(conf, "missing.yaml", yaml);
    /* the broker-wide endpoint serves the source without its own */
    snprintf(aws, sizeof(aws),
             "aws:\n  region: us-east-1\n  endpoint_url: "
             "%s\n  max_attempts: 1\n",
             moto);
    s3t_start(conf, aws);
    free(comma);
    free(semi);
}

static void teardown(void)
{
    s3t_stop();
    free(conf);
}

TestSuite(s3csv_s3, .init = setup, .fini = teardown);

Test(s3csv_s3, roots_are_named_by_bucket_and_prefix)
{
    struct dsb_list_request r = {0};
    json_t *out;

    cr_assert_eq(
        dsb_source_list_databases(dsb_broker_source(b, "s3"), &r, &out, &err),
        0, "%s", err.message);
    cr_assert_str_eq(s3t_names(out), "dsb-s3csv_data_v1,dsb-s3csv-flat");
    json_decref(out);
    cr_assert_eq(dsb_source_check(dsb_broker_source(b, "s3"), &out, &err), 0,
                 "%s", err.message);
    json_decref(out);
}

/* The listing without the keys that name the place (location). */
static json_t *placeless(json_t *out)
{
    const json_t *it;
    size_t i;

    json_array_foreach(json_object_get(out, "items"), i, it)
        json_object_del((json_t *)it, "location");
    return out;
}

/* Tables of schema in S3 source s3src (database db) and local source lsrc
 * (database ldb) are the same. */
static void same_tables(const char *s3src, const char *db, const char *lsrc,
                        const char *ldb, const char *schema)
{
    json_t *s3 = placeless(s3t_tables(s3src, db, schema));
    json_t *local = placeless(s3t_tables(lsrc, ldb, schema));
    char *a = json_dumps(s3, JSON_SORT_KEYS),
         *l = json_dumps(local, JSON_SORT_KEYS);

    cr_assert(json_equal(s3, local),
              "%s.%s differs:\ns3:    %.2000s\nlocal: "
              "%.2000s",
              db, schema, a, l);
    free(a), free(l);
    json_decref(s3), json_decref(local);
}

static void same_as_local(const char *db, const char *schema)
{
    same_tables("s3", db, "local", "comma", schema);
}

Test(s3csv_s3, listings_equal_the_local_copy)
{
    struct dsb_list_request r = {"dsb-s3csv_data_v1", NULL, NULL, 0, NULL};
    json_t *s3, *local;

    cr_assert_eq(
        dsb_source_list_schemas(dsb_broker_source(b, "s3"), &r, &s3, &err), 0,
        "%s", err.message);
    r.database = "comma";
    cr_assert_eq(dsb_source_list_schemas(dsb_broker_source(b, "local"), &r,
                                         &local, &err),
                 0, "%s", err.message);
    cr_assert_str_eq(s3t_names(s3), "default,quirks,sales");
    cr_assert(json_equal(s3, local));
    json_decref(s3), json_decref(local);
    for (int i = 0; i < 2; i++) {
        const char *db = i ? "dsb-s3csv-flat" : "dsb-s3csv_data_v1";
        same_as_local(db, "default");
        same_as_local(db, "quirks");
        same_as_local(db, "sales");
    }
}

/* describe_tables (ABI 1.2): one listing of the schema, the named tables
 * sampled at once, each what describe_table gives; a missing name is left
 * out. */
Test(s3csv_s3, describe_tables_items_are_describe_table_answers)
{
    const char *names[] = {"orders", "nope", "events", "customers"};

    cr_assert_str_eq(t_describe_batch(dsb_broker_source(b, "s3"),
                                      "dsb-s3csv_data_v1", "sales", names, 4),
                     "customers,events,orders");
}

Test(s3csv_s3, semicolon_listings_equal_the_local_copy)
{
    struct dsb_list_request r = {"dsb-s3csv-semi_eu-data", NULL, NULL, 0, NULL};
    json_t *s3, *local;

    cr_assert_eq(
        dsb_source_list_schemas(dsb_broker_source(b, "s3semi"), &r, &s3, &err),
        0, "%s", err.message);
    r.database = "semi";
    cr_assert_eq(dsb_source_list_schemas(dsb_broker_source(b, "localsemi"), &r,
                                         &local, &err),
                 0, "%s", err.message);
    cr_assert_str_eq(s3t_names(s3), "done,eu,void");
    cr_assert(json_equal(s3, local));
    json_decref(s3), json_decref(local);
    same_tables("s3semi", "dsb-s3csv-semi_eu-data", "localsemi", "semi", "eu");
    same_tables("s3semi", "dsb-s3csv-semi_eu-data", "localsemi", "semi",
                "void");
    same_tables("s3semi", "dsb-s3csv-semi_eu-data", "localsemi", "semi",
                "done");
    s3 = s3t_tables("s3semi", "dsb-s3csv-semi_eu-data", "eu");
    cr_assert_str_eq(s3t_names(s3), "plain,prices");
    cr_assert_str_eq(s3t_cols(s3t_item(s3, "prices")),
                     "product:string,"
                     "price:string,note; with semicolon:string");
    json_decref(s3);
}

Test(s3csv_s3, a_schema_of_only_a_folder_marker_is_empty)
{
    struct dsb_list_request r = {"dsb-s3csv-semi_eu-data", "void", NULL, 0,
                                 NULL};
    json_t *out = s3t_tables("s3semi", "dsb-s3csv-semi_eu-data", "void");

    cr_assert_eq(json_array_size(json_object_get(out, "items")), 0);
    cr_assert(json_is_null(json_object_get(out, "next_page_token")));
    json_decref(out);
    r.schema = "nope";
    cr_assert_eq(
        dsb_source_list_tables(dsb_broker_source(b, "s3semi"), &r, &out, &err),
        -1);
    cr_assert_eq(err.code, DSB_E_NOT_FOUND, "%d %s", err.code, err.message);
}

Test(s3csv_s3, bom_and_crlf_are_noted)
{
    json_t *out = s3t_tables("s3", "dsb-s3csv_data_v1", "quirks");

    cr_assert(s3t_has_note(json_object_get(s3t_item(out, "bom"), "notes"),
                           "the file starts with a UTF-8 byte order mark"));
    cr_assert(s3t_has_note(json_object_get(s3t_item(out, "crlf"), "notes"),
                           "lines end with CRLF (Windows)"));
    cr_assert(!s3t_has_note(json_object_get(s3t_item(out, "mixed"), "notes"),
                            "lines end with"));
    json_decref(out);
}

Test(s3csv_s3, fifteen_hundred_parts_over_two_pages)
{
    json_t *t = s3t_describe("s3", "dsb-s3csv_data_v1", "sales", "events");

    cr_assert_eq(json_integer_value(json_object_get(t, "parts")), 1500);
    cr_assert_str_eq(json_string_value(json_object_get(t, "location")),
                     "s3://dsb-s3csv/data/v1/sales/events/");
    cr_assert_str_eq(s3t_cols(t), "event_id:int,kind:string");
    json_decref(t);
    t = s3t_describe("s3", "dsb-s3csv_data_v1", "sales", "customers");
    cr_assert_str_eq(s3t_cols(t), "id:int,name:string,since:date");
    json_decref(t);
}

Test(s3csv_s3, read_specs_per_executor)
{
    struct dsb_read_target emr = {"standard", "emr-serverless",
                                  DSB_EXEC_S3_NATIVE | DSB_EXEC_GLUE_CATALOG};
    struct dsb_read_target s3a = {"local", "local-spark",
                                  DSB_EXEC_S3A | DSB_EXEC_LOCAL_FILES};
    struct dsb_read_target plain = {"local", "local-spark",
                                    DSB_EXEC_LOCAL_FILES};
    struct dsb_source *s = dsb_broker_source(b, "s3");
    const json_t *cf;
    json_t *out;

    cr_assert_eq(dsb_source_read_spec(s, "dsb-s3csv_data_v1", "sales", "orders",
                                      &emr, &out, &err),
                 0, "%s", err.message);
    cr_assert_str_eq(json_string_value(json_object_get(out, "path")),
                     "s3://dsb-s3csv/data/v1/sales/orders.csv");
    cr_assert_eq(json_object_size(json_object_get(
                     json_object_get(out, "spark_submit"), "conf")),
                 0);
    cr_assert_str_eq(json_string_value(json_object_get(out, "network")),
                     "public");
    json_decref(out);
    cr_assert_eq(dsb_source_read_spec(s, "dsb-s3csv_data_v1", "sales", "orders",
                                      &s3a, &out, &err),
                 0, "%s", err.message);
    cr_assert_str_eq(json_string_value(json_object_get(out, "path")),
                     "s3a://dsb-s3csv/data/v1/sales/orders.csv");
    cf = json_object_get(json_object_get(out, "spark_submit"), "conf");
    cr_assert_str_eq(
        json_string_value(json_object_get(cf, "spark.hadoop.fs.s3a.endpoint")),
        moto);
    cr_assert_str_eq(json_string_value(json_object_get(
                         cf, "spark.hadoop.fs.s3a.path.style.access")),
                     "true");
    json_decref(out);
    cr_assert_eq(dsb_source_read_spec(s, "dsb-s3csv_data_v1", "sales", "orders",
                                      &plain, &out, &err),
                 -1);
    cr_assert_eq(err.code, DSB_E_UNSUPPORTED);
    cr_assert(strstr(err.message, "cannot read s3:// paths"), "%s",
              err.message);
    cr_assert(strstr(err.hint, "s3a: true"), "%s", err.hint);
}

/* read_spec and the ABI 1.1 read_spec given the description agree on S3
 * roots too (s3:// or s3a:// paths, the s3a confs, the refusal). */
Test(s3csv_s3, both_read_spec_paths_agree)
{
    static const char *const tables[][2] = {{"sales", "orders"},
                                            {"sales", "customers"},
                                            {"quirks", "crlf"},
                                            {"quirks", "bad_parts"}};
    const struct dsb_read_target targets[] = {
        {"standard", "emr-serverless", DSB_EXEC_S3_NATIVE},
        {"local", "local-spark", DSB_EXEC_S3A | DSB_EXEC_LOCAL_FILES},
        {"local", "local-spark", DSB_EXEC_LOCAL_FILES}};

    for (size_t i = 0; i < sizeof(tables) / sizeof(*tables); i++)
        for (size_t j = 0; j < 3; j++)
            t_same_read_spec(dsb_broker_source(b, "s3"), "dsb-s3csv_data_v1",
                             tables[i][0], tables[i][1], &targets[j]);
}

Test(s3csv_s3, a_missing_bucket_is_not_found)
{
    struct dsb_list_request r = {"dsb-no-such-bucket_x", NULL, NULL, 0, NULL};
    json_t *out;

    cr_assert_eq(dsb_source_list_schemas(dsb_broker_source(b, "missing"), &r,
                                         &out, &err),
                 -1);
    cr_assert_eq(err.code, DSB_E_NOT_FOUND, "%d %s", err.code, err.message);
    cr_assert(strstr(err.message, "bucket \"dsb-no-such-bucket\" does not "
                                  "exist"),
              "%s", err.message);
    cr_assert_str_eq(err.upstream, "NoSuchBucket");
    cr_assert_eq(dsb_source_check(dsb_broker_source(b, "missing"), &out, &err),
                 -1);
    cr_assert_eq(err.code, DSB_E_NOT_FOUND);
}
