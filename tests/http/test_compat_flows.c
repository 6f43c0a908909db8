/*
 * The original frontend's data-source flows against real servers: the
 * compatibility routes over postgres.so on the fixture cluster
 * (tests/postgres/fixtures.sql) and CSV uploads into s3csv.so sources, a
 * local directory and an S3 prefix in moto_server.  Each field the
 * frontend reads (frontend/src of aws-samples/spark-code-interpreter,
 * data-processing-agent) is asserted: data.success, data.error,
 * data.connections/databases/schemas/tables, t.name, t.columns[].name and
 * .type, data.selected_tables, response.preview.
 */
#include <criterion/criterion.h>
#include <sys/stat.h>

#include "http/http_support.h"
#include "postgres/pg_support.h"

static const char broker_yaml[] = "listen: 127.0.0.1:0\n"
                                  "state_dir: ${DSB_TEST_FLOWS_DIR}/state\n"
                                  "log_level: warn\n"
                                  "aws:\n"
                                  "  region: us-east-1\n"
                                  "  max_attempts: 1\n"
                                  "limits:\n"
                                  "  max_body_bytes: 4096\n"
                                  "compat:\n"
                                  "  uploads_source: ${DSB_TEST_UPLOADS}\n"
                                  "  max_upload_bytes: 2048\n"
                                  "executors:\n"
                                  "  - name: local\n"
                                  "    type: local-spark\n"
                                  "    networks: [public, local, aurora-vpc]\n"
                                  "    master: local[1]\n";

static const char pg_yaml[] = "name: pg\n"
                              "plugin: postgres\n"
                              "network: aurora-vpc\n"
                              "host: ${PGHOST}\n"
                              "port: ${PGPORT}\n"
                              "dbname: dsb\n"
                              "user: ${PGUSER}\n"
                              "password: file:${DSB_TEST_PG_PASSWORD_FILE}\n"
                              "include_databases: [dsb]\n"
                              "sslmode: disable\n";

static const char local_yaml[] =
    "name: uploads\n"
    "plugin: s3csv\n"
    "network: local\n"
    "roots: [\"file:${DSB_TEST_FLOWS_DIR}/uploads/\"]\n";

static const char s3_yaml[] = "name: s3uploads\n"
                              "plugin: s3csv\n"
                              "roots: [\"s3://dsb-uploads/incoming/\"]\n"
                              "endpoint_url: ${DSB_TEST_MOTO_URL}\n"
                              "region: us-east-1\n";

static char *dir;

/* The bucket of the S3 uploads (moto takes an unsigned PUT as S3's). */
static void make_bucket(const char *moto)
{
    CURL *c = curl_easy_init();
    char url[512];
    long status = 0;

    snprintf(url, sizeof(url), "%s/dsb-uploads", moto);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "PUT");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, t_body_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &(struct t_resp){0});
    cr_assert_eq(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    cr_assert_eq(status, 200, "creating the bucket: %ld", status);
}

static void start(const char *uploads)
{
    char conf[4200], pdir[4200], moto[256];
    struct dsb_server_opts o = {.conf_dir = conf, .plugin_dir = pdir};
    struct dsb_diags d;
    char *pw;

    t_http_env();
    pg_t_load_env();
    pw = t_slurp_file(fopen(getenv("DSB_TEST_PG_PASSWORD_FILE"), "r"));
    pw[strcspn(pw, "\n")] = '\0';
    t_canary_value("flows", pw);
    free(pw);
    t_service("moto", "DSB_TEST_MOTO_URL", moto, sizeof(moto));
    setenv("DSB_TEST_MOTO_URL", moto, 1);
    setenv("AWS_ACCESS_KEY_ID", "testing", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "testing", 1);
    setenv("DSB_TEST_UPLOADS", uploads, 1);
    dir = t_tmpdir();
    setenv("DSB_TEST_FLOWS_DIR", dir, 1);
    snprintf(conf, sizeof(conf), "%s/conf.d", dir);
    snprintf(pdir, sizeof(pdir), "%s/plugins", dir);
    cr_assert(mkdir(conf, 0700) == 0 && mkdir(pdir, 0700) == 0);
    t_link_plugin(pdir, getenv("DSB_PLUGIN_DIR"), "postgres.so");
    t_link_plugin(pdir, getenv("DSB_PLUGIN_DIR"), "s3csv.so");
    t_write(conf, "broker.yaml", broker_yaml);
    t_write(conf, "pg.yaml", pg_yaml);
    t_write(conf, "uploads.yaml", local_yaml);
    t_write(conf, "s3uploads.yaml", s3_yaml);
    snprintf(pdir + strlen(dir), sizeof(pdir) - strlen(dir), "/uploads");
    cr_assert(mkdir(pdir, 0700) == 0);
    snprintf(pdir, sizeof(pdir), "%s/plugins", dir);
    make_bucket(moto);
    dsb_diags_init(&d);
    t_srv = dsb_server_start(&o, &d);
    if (!t_srv || d.errors)
        dsb_diags_print(&d, stderr);
    cr_assert(t_srv && d.errors == 0, "the broker did not start");
    dsb_diags_free(&d);
    snprintf(t_base, sizeof(t_base), "http://127.0.0.1:%d",
             dsb_server_port(t_srv));
}

static void start_local(void)
{
    start("uploads");
}

static void start_s3(void)
{
    start("s3uploads");
}

static void stop(void)
{
    if (t_srv)
        t_stop();
    free(dir);
}

static json_t *ok_json(struct t_resp *r)
{
    json_t *j = t_json(r);

    cr_assert_eq(r->status, 200, "%s", r->body);
    cr_assert(json_is_true(json_object_get(j, "success")), "%s", r->body);
    return j;
}

static const json_t *column(const json_t *table, const char *name)
{
    const json_t *c;
    size_t i;

    json_array_foreach(
        json_object_get(table, "columns"), i,
        c) if (!strcmp(json_string_value(json_object_get(c, "name")),
                       name)) return c;
    cr_assert_fail("no column %s", name);
    return NULL;
}

static const json_t *table_named(const json_t *tables, const char *name)
{
    const json_t *t;
    size_t i;

    json_array_foreach(
        tables, i, t) if (!strcmp(json_string_value(json_object_get(t, "name")),
                                  name)) return t;
    cr_assert_fail("no table %s", name);
    return NULL;
}

TestSuite(compat_pg, .init = start_local, .fini = stop, .timeout = 120);

/* PostgresTableSelector: databases, schemas, tables with base types. */
Test(compat_pg, browse_with_base_type_names)
{
    struct t_resp r = t_get("/postgres/pg/databases");
    json_t *j = ok_json(&r);
    const json_t *t;

    cr_assert_str_eq(
        json_string_value(json_array_get(json_object_get(j, "databases"), 0)),
        "dsb");
    json_decref(j);
    t_free(&r);
    r = t_get("/postgres/pg/schemas/dsb");
    j = ok_json(&r);
    cr_assert(strstr(r.body, "\"types\""), "%s", r.body);
    json_decref(j);
    t_free(&r);
    r = t_get("/postgres/pg/tables/dsb/types");
    j = ok_json(&r);
    t = table_named(json_object_get(j, "tables"), "all_types");
    cr_assert_str_eq(
        json_string_value(json_object_get(column(t, "c_num_ps"), "type")),
        "numeric");
    cr_assert_str_eq(
        json_string_value(json_object_get(column(t, "c_varchar"), "type")),
        "character varying");
    cr_assert_str_eq(
        json_string_value(json_object_get(column(t, "c_num_arr"), "type")),
        "numeric[]");
    cr_assert(
        json_is_boolean(json_object_get(column(t, "c_int4"), "nullable")));
    json_decref(j);
    t_free(&r);
    /* /v1 keeps the modifiers */
    r = t_get("/v1/sources/pg/databases/dsb/schemas/types/tables/all_types");
    cr_assert(strstr(r.body, "numeric(10,2)"), "%s", r.body);
    t_free(&r);
    /* a missing schema: an empty list, as the original */
    r = t_get("/postgres/pg/tables/dsb/no_such_schema");
    j = ok_json(&r);
    cr_assert_eq(json_array_size(json_object_get(j, "tables")), 0);
    json_decref(j);
    t_free(&r);
}

Test(compat_pg, select_skips_missing_tables)
{
    struct t_resp r = t_post(
        "/sessions/flow-pg/select-postgres-tables",
        "{\"connection_name\":\"pg\",\"tables\":["
        "{\"database\":\"dsb\",\"schema\":\"types\",\"table\":\"all_types\"},"
        "{\"database\":\"dsb\",\"schema\":\"types\",\"table\":\"gone\"}]}");
    json_t *j = ok_json(&r);
    const json_t *t = json_array_get(json_object_get(j, "selected_tables"), 0);

    cr_assert_eq(json_array_size(json_object_get(j, "selected_tables")), 1);
    cr_assert_str_eq(json_string_value(json_object_get(t, "table")),
                     "all_types");
    cr_assert_str_eq(
        json_string_value(json_object_get(column(t, "c_num_ps"), "type")),
        "numeric");
    t = json_array_get(json_object_get(j, "missing_tables"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(t, "table")), "gone");
    json_decref(j);
    t_free(&r);
}

/* The upload as App.jsx sends it; *j gets the answer. */
static struct t_resp upload(const char *route, const char *session,
                            const char *name, const char *content)
{
    json_t *b = json_pack("{s:s, s:s, s:s}", "filename", name, "content",
                          content, "session_id", session);
    char *body = json_dumps(b, 0);
    struct t_resp r = t_post(route, body);

    free(body);
    json_decref(b);
    return r;
}

static const char csv[] = "id,name,amount\n1,ann,1.5\n2,bob,2.5\n3,cy,3.5\n"
                          "4,di,4.5\n5,ed,5.5\n6,fay,6.5\n";

Test(compat_pg, upload_csv_to_a_local_directory)
{
    struct t_resp r = upload("/upload-csv", "flow-up", "sales data.csv", csv);
    json_t *j = ok_json(&r);
    char path[4300];
    struct stat st;

    /* the preview App.jsx shows: the first five lines */
    cr_assert_str_eq(json_string_value(json_object_get(j, "preview")),
                     "id,name,amount\n1,ann,1.5\n2,bob,2.5\n3,cy,3.5\n"
                     "4,di,4.5");
    cr_assert(strstr(json_string_value(json_object_get(j, "s3_uri")),
                     "/uploads/flow-up/sales data.csv"),
              "%s", r.body);
    cr_assert_str_eq(json_string_value(
                         json_object_get(json_object_get(j, "table"), "table")),
                     "sales data");
    json_decref(j);
    t_free(&r);
    snprintf(path, sizeof(path), "%s/uploads/flow-up/sales data.csv", dir);
    cr_assert(stat(path, &st) == 0 && st.st_size == (off_t)strlen(csv));
    /* selected into the session, readable in its context */
    r = t_get("/v1/sessions/flow-up/context");
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert(strstr(r.body, "sales_data_df") && strstr(r.body, "amount"), "%s",
              r.body);
    t_free(&r);
    /* the Spark flow's shape; it replaces the earlier upload */
    r = upload("/spark/upload-csv", "flow-up", "second.csv", "a,b\n1,2\n");
    j = ok_json(&r);
    cr_assert_str_eq(json_string_value(json_object_get(j, "filename")),
                     "second.csv");
    cr_assert(strstr(json_string_value(json_object_get(j, "s3_path")),
                     "/flow-up/second.csv"));
    cr_assert_str_eq(json_string_value(json_object_get(j, "preview")),
                     "a,b\n1,2\n");
    json_decref(j);
    t_free(&r);
    r = t_get("/v1/sessions/flow-up/selections");
    cr_assert(strstr(r.body, "\"second\"") && !strstr(r.body, "sales data"),
              "%s", r.body);
    t_free(&r);
}

static void upload_refused(const char *name, const char *content, long status,
                           const char *needle)
{
    struct t_resp r = upload("/upload-csv", "flow-bad", name, content);
    json_t *j = t_json(&r);

    cr_assert_eq(r.status, status, "%s", r.body);
    cr_assert(json_is_false(json_object_get(j, "success")));
    cr_assert(strstr(json_string_value(json_object_get(j, "error")), needle),
              "%s", r.body);
    json_decref(j);
    t_free(&r);
}

Test(compat_pg, uploads_refused_say_why)
{
    char big[3000];

    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    upload_refused("../escape.csv", "a\n", 400, "not a plain .csv name");
    upload_refused(".hidden.csv", "a\n", 400, "not a plain .csv name");
    upload_refused("data.txt", "a\n", 400, "not a plain .csv name");
    upload_refused("big.csv", big, 400, "more than 2048");
    upload_refused("empty.csv", "", 400, "no header line");
    upload_refused("blank.csv", " \r\n1\n", 400, "no header line");
    {
        struct t_resp r = t_post("/upload-csv", "{\"filename\":\"a.csv\"}");
        json_t *j = t_json(&r);
        cr_assert_eq(r.status, 422, "%s", r.body);
        cr_assert(json_is_false(json_object_get(j, "success")));
        json_decref(j);
        t_free(&r);
    }
}

TestSuite(compat_s3, .init = start_s3, .fini = stop, .timeout = 120);

Test(compat_s3, upload_csv_to_an_s3_prefix)
{
    struct t_resp r = upload("/upload-csv", "flow-s3", "orders.csv", csv);
    json_t *j = ok_json(&r);

    cr_assert_str_eq(json_string_value(json_object_get(j, "s3_uri")),
                     "s3://dsb-uploads/incoming/flow-s3/orders.csv");
    json_decref(j);
    t_free(&r);
    /* s3csv reads it back from moto as a table of the session's schema */
    r = t_get("/v1/sources/s3uploads/databases/dsb-uploads_incoming/schemas/"
              "flow-s3/tables/orders");
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert(strstr(r.body, "\"amount\""), "%s", r.body);
    t_free(&r);
    r = t_get("/v1/sessions/flow-s3/selections");
    cr_assert(strstr(r.body, "\"orders\""), "%s", r.body);
    t_free(&r);
}
