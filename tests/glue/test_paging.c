/* Glue paging against recorded pages (moto never returns NextToken): every
 * GetDatabases / GetTables page is fetched, the token is passed back, the
 * name filter becomes an Expression, and requests are signed JSON 1.1. */
#include "glue_test.h"

static char *conf, *dir, url[128];
static pid_t srv;

static void setup(void)
{
    char yaml[1024];

    gt_creds();
    setenv("AWS_REGION", "us-east-1", 1);
    dir = t_tmpdir();
    srv = gt_recorded_start("tests/glue/recorded/paged.json", dir, url,
                            sizeof(url));
    conf = t_tmpdir();
    snprintf(yaml, sizeof(yaml),
             "name: rec\nplugin: glue\nendpoint_url: %s\n"
             "catalog_id: \"123456789012\"\n",
             url);
    t_write(conf, "rec.yaml", yaml);
    s3t_start(conf, "aws:\n  region: us-east-1\n  max_attempts: 1\n");
}

static void teardown(void)
{
    s3t_stop();
    gt_recorded_stop(srv);
    free(conf);
    free(dir);
}

TestSuite(glue_paging, .init = setup, .fini = teardown);

/* The requests the endpoint logged, as a JSON array. */
static json_t *requests(void)
{
    char path[4200], line[65536];
    json_t *arr = json_array();
    FILE *f;

    snprintf(path, sizeof(path), "%s/requests.jsonl", dir);
    f = fopen(path, "r");
    cr_assert_not_null(f);
    while (fgets(line, sizeof(line), f))
        json_array_append_new(arr, json_loads(line, 0, NULL));
    fclose(f);
    return arr;
}

static const char *req_token(const json_t *reqs, size_t i)
{
    return json_string_value(json_object_get(
        json_object_get(json_array_get(reqs, i), "body"), "NextToken"));
}

Test(glue_paging, every_table_page_is_fetched)
{
    json_t *out = s3t_tables("rec", "paged", "default"), *reqs;
    const json_t *items = json_object_get(out, "items"), *r0;

    cr_assert_eq(json_array_size(items), 255);
    cr_assert_str_eq(gt_s(json_array_get(items, 0), "name", NULL), "p000");
    cr_assert_str_eq(gt_s(json_array_get(items, 254), "name", NULL), "p254");
    cr_assert_str_eq(gt_s(json_array_get(items, 254), "format", NULL),
                     "parquet");
    reqs = requests();
    cr_assert_eq(json_array_size(reqs), 3);
    r0 = json_array_get(reqs, 0);
    cr_assert_str_eq(gt_s(r0, "target", NULL), "AWSGlue.GetTables");
    cr_assert_str_eq(gt_s(r0, "content_type", NULL),
                     "application/x-amz-json-1.1");
    cr_assert(json_is_true(json_object_get(r0, "auth")));
    cr_assert_str_eq(gt_s(r0, "body", "DatabaseName"), "paged");
    cr_assert_str_eq(gt_s(r0, "body", "CatalogId"), "123456789012");
    cr_assert_null(req_token(reqs, 0));
    cr_assert_str_eq(req_token(reqs, 1), "tables-2");
    cr_assert_str_eq(req_token(reqs, 2), "tables-3");
    json_decref(reqs);
    json_decref(out);
}

Test(glue_paging, every_database_page_is_fetched)
{
    struct dsb_list_request r = {0};
    json_t *out, *reqs;

    cr_assert_eq(
        dsb_source_list_databases(dsb_broker_source(b, "rec"), &r, &out, &err),
        0, "%s", err.message);
    cr_assert_str_eq(s3t_names(out), "paged,second_page_db");
    json_decref(out);
    reqs = requests();
    cr_assert_eq(json_array_size(reqs), 2);
    cr_assert_str_eq(req_token(reqs, 1), "db-2");
    json_decref(reqs);
}

Test(glue_paging, the_filter_is_sent_and_applied)
{
    struct dsb_list_request r = {"paged", "default", "P25", 0, NULL};
    json_t *out, *reqs;

    cr_assert_eq(
        dsb_source_list_tables(dsb_broker_source(b, "rec"), &r, &out, &err), 0,
        "%s", err.message);
    /* the recorded pages ignore Expression: our side filters */
    cr_assert_str_eq(s3t_names(out), "p250,p251,p252,p253,"
                                     "p254");
    json_decref(out);
    reqs = requests();
    cr_assert_str_eq(gt_s(json_array_get(reqs, 0), "body", "Expression"),
                     "*p25*");
    json_decref(reqs);
    r.name_filter = "p(2";
    cr_assert_eq(
        dsb_source_list_tables(dsb_broker_source(b, "rec"), &r, &out, &err), 0,
        "%s", err.message);
    json_decref(out);
    reqs = requests();
    cr_assert_null(json_object_get(
        json_object_get(json_array_get(reqs, 3), "body"), "Expression"));
    json_decref(reqs);
}
