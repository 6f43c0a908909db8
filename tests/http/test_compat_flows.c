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
#include <dirent.h>
#include <sys/stat.h>

#include "http/http_support.h"
#include "postgres/pg_support.h"
#include "util.h"

static const char broker_yaml[] = "listen: 127.0.0.1:0\n"
                                  "state_dir: ${DSB_TEST_FLOWS_DIR}/state\n"
                                  "log_level: warn\n"
                                  "aws:\n"
                                  "  region: us-east-1\n"
                                  "  max_attempts: 1\n"
                                  "  endpoint_url: ${DSB_TEST_MOTO_URL}\n"
                                  "limits:\n"
                                  "  max_body_bytes: 4096\n"
                                  "secrets:\n"
                                  "  store: ${DSB_TEST_SECRET_STORE}\n"
                                  "sources:\n"
                                  "  allowed_hosts: [127.0.0.1, "
                                  "\"10.1.0.0/16:5432\"]\n"
                                  "compat:\n"
                                  "  uploads_source: ${DSB_TEST_UPLOADS}\n"
                                  "  max_upload_bytes: 2048\n"
                                  "  connections_network: local\n"
                                  "executors:\n"
                                  "  - name: local\n"
                                  "    type: local-spark\n"
                                  "    networks: [public, local, aurora-vpc]\n"
                                  "    master: local[1]\n";

static const char pg_yaml[] = T_PG_SOURCE_YAML("dsb");

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

static char *dir, *pg_pw;

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

    t_http_env();
    pg_t_load_env();
    free(pg_pw);
    pg_pw = t_slurp_file(fopen(getenv("DSB_TEST_PG_PASSWORD_FILE"), "r"));
    pg_pw[strcspn(pg_pw, "\n")] = '\0';
    t_canary_value("flows", pg_pw);
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
    t_start_opts(&o);
}

static void start_local(void)
{
    setenv("DSB_TEST_SECRET_STORE", "file", 1);
    start("uploads");
}

static void start_s3(void)
{
    setenv("DSB_TEST_SECRET_STORE", "aws-sm", 1);
    start("s3uploads");
}

static void stop(void)
{
    if (t_srv)
        t_stop();
    free(dir);
    free(pg_pw);
    pg_pw = NULL;
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
/* Items of a search for q over what the broker caches. */
static size_t found(const char *q)
{
    char path[128];
    struct t_resp r;
    json_t *j;
    size_t n;

    snprintf(path, sizeof(path), "/v1/search?q=%s", q);
    r = t_get(path);
    cr_assert_eq(r.status, 200, "%s", r.body);
    j = t_json(&r);
    n = json_array_size(json_object_get(j, "items"));
    json_decref(j);
    t_free(&r);
    return n;
}

/* Waits until a search for q finds something (the cache holds it). */
static void await_found(const char *q)
{
    int64_t until = dsb_monotonic_ms() + 20000;

    while (found(q) == 0) {
        cr_assert_lt(dsb_monotonic_ms(), until, "%s was not read ahead", q);
        usleep(20000); /* polls what is observed: the cache's content */
    }
}

/* The page after one a client read is loaded into the cache before the
 * client asks for it (list_tables_json tells its token), and only that
 * one: the page after it stays unlisted until the client reads page 2,
 * which, a fresh hit answered from its key alone, reads page 3 ahead in
 * turn.  Pages of ten of schema many: "pct%_under", tab_0001..tab_0009,
 * then tab_0010..tab_0019, tab_0020..tab_0029, tab_0030.. */
Test(compat_pg, a_wide_listing_is_read_one_page_ahead)
{
    const char *base = "/v1/sources/pg/databases/dsb/schemas/many/tables"
                       "?page_size=10";
    struct t_resp r = t_get(base);
    json_t *j = t_json(&r);
    char path[256], *cache;

    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_eq(json_array_size(json_object_get(j, "items")), 10);
    snprintf(path, sizeof(path), "%s&page_token=%s", base,
             json_string_value(json_object_get(j, "next_page_token")));
    json_decref(j);
    t_free(&r);
    await_found("tab_0015");
    cr_assert_eq(found("tab_0025"), 0, "read further than one page");
    r = t_get(path);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cache = t_header(&r, "X-Cache");
    cr_assert_str_eq(cache, "hit");
    free(cache);
    j = t_json(&r);
    cr_assert_str_eq(
        json_string_value(json_object_get(
            json_array_get(json_object_get(j, "items"), 0), "name")),
        "tab_0010");
    json_decref(j);
    t_free(&r);
    await_found("tab_0025");
    cr_assert_eq(found("tab_0035"), 0, "read further than one page");
}

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

/* ------------------------------------------- sources managed at run time */

/* A postgres source of the fixture cluster as a request body; extra is
 * spliced in before the closing brace. */
static char *pg_source(const char *name, const char *host, const char *extra)
{
    return dsb_asprintf(
        "{\"name\":\"%s\",\"plugin\":\"postgres\",\"host\":\"%s\","
        "\"port\":%s,\"dbname\":\"dsb\",\"user\":\"%s\","
        "\"sslmode\":\"disable\",\"include_databases\":[\"dsb\"],"
        "\"secrets\":{\"password\":\"%s\"}%s}",
        name, host, getenv("PGPORT"), getenv("PGUSER"), pg_pw, extra);
}

static struct t_resp req_m(const char *method, const char *path,
                           const char *body, const char *if_match)
{
    char im[200];

    snprintf(im, sizeof(im), "If-Match: %s", if_match ? if_match : "");
    return t_req(method, path,
                 (const char *const[]){"Content-Type: application/json",
                                       if_match ? im : "X-None: 1", NULL},
                 body);
}

static char *managed_file(const char *name)
{
    return dsb_asprintf("%s/conf.d/managed/%s.yaml", dir, name);
}

Test(compat_pg, managed_source_lifecycle)
{
    char *body = pg_source("pg2", "127.0.0.1", ""), *path = managed_file("pg2");
    char *etag, *text, *ref;
    struct t_resp r = req_m("POST", "/v1/sources", body, NULL);
    json_t *j = t_json(&r);
    struct stat st;

    cr_assert_eq(r.status, 201, "%s", r.body);
    cr_assert_str_eq(json_string_value(json_object_get(j, "state")), "open",
                     "%s", r.body);
    etag = t_header(&r, "ETag");
    cr_assert(etag &&
              !strcmp(etag, json_string_value(json_object_get(j, "etag"))));
    json_decref(j);
    t_free(&r);
    /* the file holds a reference to a 0600 file, never the value */
    t_canary_keep_file("managed", path);
    text = t_slurp_file(fopen(path, "r"));
    cr_assert(!strstr(text, pg_pw), "%s", text);
    ref = strstr(text, "\"file:");
    cr_assert(ref, "%s", text);
    ref = strndup(ref + 6, strcspn(ref + 6, "\""));
    cr_assert(stat(ref, &st) == 0 && (st.st_mode & 0777) == 0600, "%s", ref);
    free(text);
    r = t_get("/v1/sources/pg2/databases");
    cr_assert(strstr(r.body, "\"dsb\""), "%s", r.body);
    t_free(&r);
    /* the same name again: a conflict; a hand-written file: never touched */
    r = req_m("POST", "/v1/sources", body, NULL);
    cr_assert_eq(r.status, 409, "%s", r.body);
    t_free(&r);
    r = req_m("PUT", "/v1/sources/pg", body, NULL);
    cr_assert_eq(r.status, 409, "%s", r.body);
    cr_assert(strstr(r.body, "hand-written"), "%s", r.body);
    t_free(&r);
    /* If-Match: a stale ETag is refused, the right one replaces it; the
     * password left out keeps its stored secret */
    free(body);
    body = dsb_asprintf("{\"plugin\":\"postgres\",\"host\":\"127.0.0.1\","
                        "\"port\":%s,\"dbname\":\"dsb\",\"user\":\"%s\","
                        "\"sslmode\":\"disable\",\"description\":\"second\"}",
                        getenv("PGPORT"), getenv("PGUSER"));
    r = req_m("PUT", "/v1/sources/pg2", body, "\"stale\"");
    t_problem(&r, 412, "precondition_failed");
    t_free(&r);
    r = req_m("PUT", "/v1/sources/pg2", body, etag);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert(strstr(r.body, "\"state\":\"open\""), "%s", r.body);
    free(etag);
    etag = t_header(&r, "ETag");
    t_free(&r);
    cr_assert(stat(ref, &st) == 0, "the kept secret is still there");
    r = t_get("/v1/sources/pg2");
    text = strndup(etag + 1, 64); /* the hex digits, not JSON's \" */
    cr_assert(strstr(r.body, "second") && strstr(r.body, text), "%s", r.body);
    free(text);
    /* an admin's editor starts from its options, the secret one left out */
    j = t_json(&r);
    cr_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(j, "options"), "host")),
                     "127.0.0.1", "%s", r.body);
    cr_assert_null(json_object_get(json_object_get(j, "options"), "password"),
                   "%s", r.body);
    json_decref(j);
    t_free(&r);
    /* DELETE: the file and its secret go */
    r = req_m("DELETE", "/v1/sources/pg2", NULL, etag);
    cr_assert_eq(r.status, 204, "%s", r.body);
    t_free(&r);
    cr_assert(stat(path, &st) < 0 && stat(ref, &st) < 0);
    r = t_get("/v1/sources/pg2");
    cr_assert_eq(r.status, 404, "%s", r.body);
    t_free(&r);
    free(ref);
    free(etag);
    free(body);
    free(path);
}

static void refused(const char *body, long status, const char *needle)
{
    struct t_resp r = req_m("POST", "/v1/sources", body, NULL);

    cr_assert_eq(r.status, status, "%s", r.body);
    cr_assert(strstr(r.body, needle), "want %s: %s", needle, r.body);
    cr_assert(!strstr(r.body, pg_pw));
    t_free(&r);
}

Test(compat_pg, requests_are_validated_as_files_are)
{
    char *b, *m = dsb_asprintf("%s/conf.d/managed", dir);
    struct stat st;

    refused("{\"name\":\"v1\",\"plugin\":\"postgres\",\"hostnme\":\"x\","
            "\"user\":\"u\"}",
            400, "did you mean \\\"host\\\"");
    refused("{\"name\":\"v2\",\"plugin\":\"postgress\",\"host\":\"x\"}", 400,
            "did you mean \\\"postgres\\\"");
    refused("{\"name\":\"v3\",\"plugin\":\"postgres\",\"host\":\"127.0.0.1\","
            "\"port\":70000,\"user\":\"u\"}",
            400, "port");
    refused("{\"name\":\"v4\",\"plugin\":\"postgres\",\"host\":\"${HOME}\","
            "\"user\":\"u\"}",
            400, "\\\"${\\\"");
    refused("{\"name\":\"v5\",\"plugin\":\"postgres\",\"host\":\"127.0.0.1\","
            "\"user\":\"env:HOME\"}",
            400, "env:");
    refused("{\"name\":\"v6\",\"plugin\":\"postgres\",\"host\":\"127.0.0.1\","
            "\"user\":\"u\",\"password\":\"file:/etc/shadow\"}",
            400, "aws-sm: reference");
    refused("{\"name\":\"v7\",\"plugin\":\"postgres\",\"host\":\"127.0.0.1\","
            "\"user\":\"u\",\"secrets\":{\"host\":\"x\"}}",
            400, "no secret option");
    /* where it points: the allow-list names what refused it */
    b = pg_source("v8", "10.2.0.1", "");
    refused(b, 403, "matches no rule of sources.allowed_hosts");
    free(b);
    b = pg_source("v9", "169.254.169.254", "");
    refused(b, 403, "cloud metadata address");
    free(b);
    b = pg_source("v10", "10.1.2.3", "");
    refused(b, 403, "allows port 5432 only");
    free(b);
    /* a host only an unreadable secret would name cannot be checked */
    refused("{\"name\":\"v11\",\"plugin\":\"postgres\",\"credentials\":"
            "\"aws-sm:no-such-secret\"}",
            400, "cannot be checked");
    /* nothing of it was written */
    for (int i = 1; i <= 11; i++) {
        char *f = dsb_asprintf("%s/v%d.yaml", m, i);
        cr_assert(stat(f, &st) < 0, "%s", f);
        free(f);
    }
    free(m);
}

/* What s3csv's open would refuse is refused before anything is written or
 * opened, as check-config refuses it in a file: the key named. */
Test(compat_pg, a_root_open_would_refuse_is_refused_at_check_time)
{
    static const char b[] = "{\"name\":\"ftp\",\"plugin\":\"s3csv\","
                            "\"roots\":[\"ftp://x/\"]}";
    static const char want[] = "option \\\"roots\\\": invalid root "
                               "\\\"ftp://x/\\\"";
    char *f = managed_file("ftp");
    struct t_resp r = req_m("POST", "/v1/sources/test", b, NULL);
    struct stat st;

    cr_assert_eq(r.status, 400, "%s", r.body);
    cr_assert(strstr(r.body, want), "%s", r.body);
    t_free(&r);
    refused(b, 400, want);
    cr_assert(stat(f, &st) < 0, "%s", f);
    free(f);
}

Test(compat_pg, a_network_no_executor_reaches_is_a_warning)
{
    char *b = pg_source("pgfar", "127.0.0.1", ",\"network\":\"nowhere\"");
    struct t_resp r = req_m("POST", "/v1/sources", b, NULL);

    cr_assert_eq(r.status, 201, "%s", r.body);
    cr_assert(strstr(r.body, "network \\\"nowhere\\\" is reached by no "
                             "executor (local)"),
              "%s", r.body);
    t_free(&r);
    free(b);
}

Test(compat_pg, a_bad_reload_changes_nothing)
{
    char *conf = dsb_asprintf("%s/conf.d", dir), *b, *path;
    struct t_resp r;
    struct stat st;

    /* an operator's broken file makes the next reload fail */
    t_write(conf, "broken.yaml", "name: broken\nplugin: postgres\nhost: [\n");
    b = pg_source("pg3", "127.0.0.1", "");
    r = req_m("POST", "/v1/sources", b, NULL);
    cr_assert_eq(r.status, 500, "%s", r.body);
    cr_assert(strstr(r.body, "previous configuration keeps serving"), "%s",
              r.body);
    t_free(&r);
    path = managed_file("pg3");
    cr_assert(stat(path, &st) < 0, "the managed file was put back");
    r = t_get("/v1/sources/pg3");
    cr_assert_eq(r.status, 404, "%s", r.body);
    t_free(&r);
    r = t_get("/v1/sources/pg");
    cr_assert_eq(r.status, 200, "the old configuration serves: %s", r.body);
    t_free(&r);
    free(path);
    path = dsb_asprintf("%s/broken.yaml", conf);
    unlink(path);
    free(path);
    free(b);
    free(conf);
}

/* No file the store wrote for a test is left under state_dir/secrets. */
static void no_test_secrets_left(void)
{
    char *m = dsb_asprintf("%s/state/secrets", dir);
    DIR *d = opendir(m);
    struct dirent *e;

    while (d && (e = readdir(d)) != NULL)
        cr_assert(strncmp(e->d_name, "test-", 5) != 0, "%s left", e->d_name);
    if (d)
        closedir(d);
    free(m);
}

Test(compat_pg, test_a_candidate_without_saving_it)
{
    char *b = pg_source("cand", "127.0.0.1", ""), *m;
    struct t_resp r = req_m("POST", "/v1/sources/test", b, NULL);
    struct stat st;

    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert(strstr(r.body, "\"ok\":true") && strstr(r.body, "PostgreSQL"),
              "%s", r.body);
    t_free(&r);
    m = managed_file("cand");
    cr_assert(stat(m, &st) < 0);
    free(m);
    free(b);
    b = dsb_asprintf(
        "{\"name\":\"cand\",\"plugin\":\"postgres\",\"host\":\"127.0.0.1\","
        "\"port\":%s,\"dbname\":\"dsb\",\"user\":\"%s\",\"sslmode\":"
        "\"disable\",\"secrets\":{\"password\":\"wrong-pw-4711\"}}",
        getenv("PGPORT"), getenv("PGUSER"));
    r = req_m("POST", "/v1/sources/test", b, NULL);
    cr_assert(r.status >= 400 && !strstr(r.body, "wrong-pw-4711"), "%s",
              r.body);
    t_free(&r);
    free(b);
    no_test_secrets_left();
}

static char *pg_connection(const char *name, const char *pw, int update)
{
    return dsb_asprintf(
        "{%s%s%s\"host\":\"127.0.0.1\",\"port\":%s,\"database\":\"dsb\","
        "\"auth_method\":\"user_password\",\"username\":\"%s\","
        "\"password\":\"%s\",\"is_update\":%s}",
        name ? "\"name\":\"" : "", name ? name : "", name ? "\"," : "",
        getenv("PGPORT"), getenv("PGUSER"), pw, update ? "true" : "false");
}

/* PostgresConnectionModal: test, then save; the table selector follows. */
Test(compat_pg, frontend_connection_dialog)
{
    char *b = pg_connection(NULL, pg_pw, 0);
    struct t_resp r = t_post("/postgres/test-connection", b);
    json_t *j = ok_json(&r);
    const json_t *c;

    cr_assert(!strncmp(json_string_value(json_object_get(j, "message")),
                       "Connection successful! PostgreSQL", 33),
              "%s", r.body);
    json_decref(j);
    t_free(&r);
    free(b);
    b = pg_connection(NULL, "nope-4711", 0);
    r = t_post("/postgres/test-connection", b);
    j = t_json(&r);
    cr_assert(r.status >= 400 && json_is_false(json_object_get(j, "success")));
    cr_assert(json_string_length(json_object_get(j, "message")) > 0);
    cr_assert(!strstr(r.body, "nope-4711"), "%s", r.body);
    json_decref(j);
    t_free(&r);
    free(b);
    r = t_post("/postgres/test-connection",
               "{\"host\":\"127.0.0.1\",\"auth_method\":\"iam\"}");
    j = t_json(&r);
    cr_assert(json_is_false(json_object_get(j, "success")));
    cr_assert(strstr(json_string_value(json_object_get(j, "message")),
                     "IAM authentication is not supported yet"),
              "%s", r.body);
    json_decref(j);
    t_free(&r);
    /* the allow-list holds for the compat route too */
    r = t_post("/postgres/test-connection",
               "{\"host\":\"169.254.169.254\",\"auth_method\":"
               "\"user_password\",\"username\":\"u\",\"password\":\"p\"}");
    cr_assert_eq(r.status, 403, "%s", r.body);
    t_free(&r);
    no_test_secrets_left();
    /* save: the frontend then lists it and opens its table selector */
    b = pg_connection("shop", pg_pw, 0);
    r = t_post("/postgres/connections", b);
    j = ok_json(&r);
    c = json_object_get(j, "connection");
    cr_assert_str_eq(json_string_value(json_object_get(c, "name")), "shop");
    cr_assert(json_is_true(json_object_get(c, "enabled")));
    cr_assert_str_eq(json_string_value(json_object_get(c, "database")), "dsb");
    cr_assert(!strstr(r.body, pg_pw) && !strstr(r.body, "secret"), "%s",
              r.body);
    json_decref(j);
    t_free(&r);
    free(b);
    /* is_update: the same name again replaces it */
    b = pg_connection("shop", pg_pw, 1);
    r = t_post("/postgres/connections", b);
    json_decref(ok_json(&r));
    t_free(&r);
    free(b);
    r = t_get("/postgres/connections");
    cr_assert(strstr(r.body, "\"name\":\"shop\""), "%s", r.body);
    t_free(&r);
    r = t_get("/postgres/shop/databases");
    json_decref(ok_json(&r));
    t_free(&r);
    /* on compat.connections_network, which the local executor reaches */
    r = t_get("/v1/sources/shop");
    cr_assert(strstr(r.body, "\"network\":\"local\""), "%s", r.body);
    t_free(&r);
}

/* secrets.store: aws-sm: a value given in a request becomes a new Secrets
 * Manager secret; the original's secrets_manager flow reads such a one. */
Test(compat_s3, secrets_go_to_secrets_manager)
{
    char *creds = dsb_asprintf(
        "{\\\"username\\\":\\\"%s\\\",\\\"password\\\":\\\"%s\\\","
        "\\\"host\\\":\\\"127.0.0.1\\\",\\\"port\\\":%s,\\\"dbname\\\":"
        "\\\"dsb\\\"}",
        getenv("PGUSER"), pg_pw, getenv("PGPORT"));
    char *b = dsb_asprintf("{\"name\":\"pgsm\",\"plugin\":\"postgres\","
                           "\"sslmode\":\"disable\",\"secrets\":{"
                           "\"credentials\":\"%s\"}}",
                           creds);
    char *path = managed_file("pgsm"), *text, *arn;
    struct t_resp r = req_m("POST", "/v1/sources", b, NULL);

    cr_assert_eq(r.status, 201, "%s", r.body);
    cr_assert(strstr(r.body, "\"state\":\"open\""), "%s", r.body);
    t_free(&r);
    t_canary_keep_file("managed", path);
    text = t_slurp_file(fopen(path, "r"));
    arn = strstr(text, "\"aws-sm:arn:aws:secretsmanager:");
    cr_assert(arn && !strstr(text, pg_pw), "%s", text);
    arn = strndup(arn + 8, strcspn(arn + 8, "\""));
    free(b);
    /* the frontend's secrets_manager test: the host comes from the secret
     * and passes the allow-list */
    b = dsb_asprintf("{\"host\":\"127.0.0.1\",\"port\":%s,\"database\":"
                     "\"dsb\",\"auth_method\":\"secrets_manager\","
                     "\"secret_arn\":\"%s\"}",
                     getenv("PGPORT"), arn);
    r = t_post("/postgres/test-connection", b);
    json_decref(ok_json(&r));
    t_free(&r);
    /* DELETE schedules the secret the broker created for deletion */
    r = req_m("DELETE", "/v1/sources/pgsm", NULL, NULL);
    cr_assert_eq(r.status, 204, "%s", r.body);
    t_free(&r);
    r = t_post("/postgres/test-connection", b);
    cr_assert(r.status >= 400 && strstr(r.body, "\"success\":false"), "%s",
              r.body);
    t_free(&r);
    free(b);
    free(arn);
    free(text);
    free(path);
    free(creds);
}
