/*
 * Verified reads on a real Spark (issue 15, 3): a broker with postgres.so
 * (the fixture cluster) and s3csv.so, the local-spark executor, confined.
 * A session selects six tables and its context is built; then the sources
 * drift: a view's column changes type (int -> text), a table is dropped, a
 * CSV's header is reordered and gains a column, another CSV is deleted.
 * One verification (one Spark run, started by `dsbroker verify`) must
 * report the good table and the untouched CSV ok, the type difference, the
 * dropped table and the deleted file as not found and the header
 * differences; GET .../context/verify serves the same report, and
 * `dsbroker verify --latest --json` and the MCP tool verify_context show
 * it without another run.  No secret value in any answer, script or output.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <sys/stat.h>

#include "http/http_support.h"
#include "postgres/pg_support.h"
#include "support.h"
#include "util.h"

static const char broker_yaml[] = "listen: 127.0.0.1:0\n"
                                  "state_dir: ${DSB_TEST_VERIFY_DIR}/state\n"
                                  "log_level: warn\n"
                                  "executors:\n"
                                  "  - name: local\n"
                                  "    type: local-spark\n"
                                  "    networks: [local, aurora-vpc]\n"
                                  "    master: local[1]\n"
                                  "default_executor: local\n";

static const char pg_yaml[] = T_PG_SOURCE_YAML("dsb");

static const char csv_yaml[] =
    "name: csv\n"
    "plugin: s3csv\n"
    "network: local\n"
    "roots: [\"file:${DSB_TEST_VERIFY_DIR}/vdata/\"]\n";

static const char setup_sql[] =
    "DROP SCHEMA IF EXISTS verify_t CASCADE;"
    "CREATE SCHEMA verify_t;"
    "CREATE TABLE verify_t.good (id integer PRIMARY KEY, name text,"
    " price numeric(10,2), seen timestamptz);"
    "CREATE TABLE verify_t.base (id integer, amount integer);"
    "CREATE VIEW verify_t.v AS SELECT id, amount FROM verify_t.base;"
    "CREATE TABLE verify_t.doomed (id bigint);"
    "GRANT USAGE ON SCHEMA verify_t TO dsb_reader;"
    "GRANT SELECT ON ALL TABLES IN SCHEMA verify_t TO dsb_reader;";

/* After listing: amount becomes text, doomed goes. */
static const char drift_sql[] =
    "DROP VIEW verify_t.v;"
    "CREATE VIEW verify_t.v AS SELECT id, amount::text AS amount"
    " FROM verify_t.base;"
    "GRANT SELECT ON verify_t.v TO dsb_reader;"
    "DROP TABLE verify_t.doomed;";

static char *pg_password;

static void start_broker(void)
{
    char *dir = t_tmpdir(), conf[4200], root[4200], data[4300];
    struct dsb_server_opts o = {.conf_dir = conf,
                                .plugin_dir = getenv("DSB_PLUGIN_DIR")};
    struct dsb_diags d;
    FILE *f;

    pg_t_load_env();
    pg_password = t_slurp_file(fopen(getenv("DSB_TEST_PG_PASSWORD_FILE"), "r"));
    pg_password[strcspn(pg_password, "\n")] = '\0';
    cr_assert(strlen(pg_password) >= 8);
    if ((f = t_canary_open("canaries", "verify")) != NULL) {
        fprintf(f, "%s\n", pg_password);
        fclose(f);
    }
    setenv("DSB_TEST_VERIFY_DIR", dir, 1);
    snprintf(conf, sizeof(conf), "%s/conf.d", dir);
    snprintf(root, sizeof(root), "%s/vdata", dir);
    snprintf(data, sizeof(data), "%s/shop", root);
    cr_assert(mkdir(conf, 0700) == 0 && mkdir(root, 0700) == 0 &&
              mkdir(data, 0700) == 0);
    t_write(conf, "broker.yaml", broker_yaml);
    t_write(conf, "pg.yaml", pg_yaml);
    t_write(conf, "csv.yaml", csv_yaml);
    t_write(data, "people.csv", "id,name\n1,ann\n2,bob\n");
    t_write(data, "moved.csv", "id,name\n1,x\n");
    t_write(data, "removed.csv", "id\n1\n");
    dsb_diags_init(&d);
    t_srv = dsb_server_start(&o, &d);
    if (!t_srv || d.errors)
        dsb_diags_print(&d, stderr);
    cr_assert(t_srv, "the broker did not start");
    dsb_diags_free(&d);
    snprintf(t_base, sizeof(t_base), "http://127.0.0.1:%d",
             dsb_server_port(t_srv));
    setenv("DSB_URL", t_base, 1);
    free(dir);
}

static void stop_broker(void)
{
    if (t_srv)
        t_stop();
    free(pg_password);
}

/* Criterion runs each test in a process of its own, in parallel: only the
 * suite with the Spark run owns the schema. */
static void start(void)
{
    pg_t_load_env();
    pg_t_super("dsb", setup_sql);
    start_broker();
}

static void stop(void)
{
    stop_broker();
    pg_t_super("dsb", "DROP SCHEMA IF EXISTS verify_t CASCADE");
}

TestSuite(verify, .init = start, .fini = stop, .timeout = 400);
TestSuite(verify_refusals, .init = start_broker, .fini = stop_broker,
          .timeout = 60);

static json_t *call(const char *method, const char *path, long status)
{
    struct t_resp r = t_req(method, path, NULL, NULL);
    json_t *j;

    cr_assert_eq(r.status, status, "%s %s: %ld %s", method, path, r.status,
                 r.body);
    cr_assert_null(strstr(r.body, pg_password), "a secret value leaked");
    j = t_json(&r);
    t_free(&r);
    return j;
}

static const char *str(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));

    return s ? s : "";
}

static const json_t *table_of(const json_t *rep, const char *table)
{
    const json_t *t;
    size_t i;

    json_array_foreach(json_object_get(rep, "tables"), i,
                       t) if (strcmp(str(t, "table"), table) == 0) return t;
    cr_assert_fail("no table %s in the report", table);
    return NULL;
}

/* The differences of table as "kind:column" joined by spaces. */
static char *diffs_of(const json_t *rep, const char *table)
{
    const json_t *d;
    struct dsb_sb b = {0};
    size_t i;

    json_array_foreach(json_object_get(table_of(rep, table), "differences"), i,
                       d) dsb_sb_addf(&b, "%s%s:%s", i ? " " : "",
                                      str(d, "kind"), str(d, "column"));
    return dsb_sb_take(&b);
}

static void select_tables(const char *sid)
{
    char p[160];
    struct t_resp r;

    snprintf(p, sizeof(p), "/v1/sessions/%s/selections", sid);
    r = t_post(p, "["
                  "{\"source\":\"pg\",\"database\":\"dsb\",\"schema\":"
                  "\"verify_t\",\"table\":\"good\"},"
                  "{\"source\":\"pg\",\"database\":\"dsb\",\"schema\":"
                  "\"verify_t\",\"table\":\"v\"},"
                  "{\"source\":\"pg\",\"database\":\"dsb\",\"schema\":"
                  "\"verify_t\",\"table\":\"doomed\"},"
                  "{\"source\":\"csv\",\"database\":\"vdata\",\"schema\":"
                  "\"shop\",\"table\":\"people\"},"
                  "{\"source\":\"csv\",\"database\":\"vdata\",\"schema\":"
                  "\"shop\",\"table\":\"moved\"},"
                  "{\"source\":\"csv\",\"database\":\"vdata\",\"schema\":"
                  "\"shop\",\"table\":\"removed\"}]");
    cr_assert_eq(r.status, 201, "%s", r.body);
    t_free(&r);
}

/* Removes the session's selection of table. */
static void unselect(const char *sid, const char *table)
{
    char p[200];
    json_t *sel, *it;
    size_t i;

    snprintf(p, sizeof(p), "/v1/sessions/%s/selections", sid);
    sel = call("GET", p, 200);
    json_array_foreach(json_object_get(sel, "items"), i, it)
    {
        if (strcmp(str(it, "table"), table) != 0)
            continue;
        snprintf(p, sizeof(p), "/v1/sessions/%s/selections/%lld", sid,
                 (long long)json_integer_value(json_object_get(it, "id")));
        struct t_resp r = t_req("DELETE", p, NULL, NULL);
        cr_assert_eq(r.status, 204, "%s", r.body);
        t_free(&r);
    }
    json_decref(sel);
}

static void drift(void)
{
    char p[4300];

    pg_t_super("dsb", drift_sql);
    snprintf(p, sizeof(p), "%s/vdata/shop", getenv("DSB_TEST_VERIFY_DIR"));
    t_write(p, "moved.csv", "name,id,score\nx,1,9\n");
    snprintf(p, sizeof(p), "%s/vdata/shop/removed.csv",
             getenv("DSB_TEST_VERIFY_DIR"));
    cr_assert(unlink(p) == 0);
}

static void assert_report(const json_t *rep)
{
    const json_t *v = table_of(rep, "v"), *d, *e;
    char *got;

    cr_assert_str_eq(str(rep, "state"), "done");
    cr_assert(json_is_false(json_object_get(rep, "ok")));
    cr_assert_str_eq(str(table_of(rep, "good"), "status"), "ok");
    cr_assert_str_eq(str(table_of(rep, "people"), "status"), "ok");
    cr_assert_str_eq(str(table_of(rep, "people"), "resolved_by"), "header");
    /* the view: one type difference, in the catalog's and Spark's terms */
    cr_assert_str_eq(str(v, "status"), "differs");
    got = diffs_of(rep, "v");
    cr_assert_str_eq(got, "type:amount");
    free(got);
    d = json_array_get(json_object_get(v, "differences"), 0);
    cr_assert_str_eq(str(d, "expected"), "int");
    cr_assert_str_eq(str(d, "resolved"), "string");
    cr_assert_str_eq(str(d, "source_type"), "integer");
    /* the dropped table: not found, PostgreSQL's own words */
    e = json_object_get(table_of(rep, "doomed"), "error");
    cr_assert_str_eq(str(table_of(rep, "doomed"), "status"), "error");
    cr_assert_str_eq(str(e, "kind"), "not_found", "%s", str(e, "message"));
    cr_assert_str_eq(str(e, "sqlstate"), "42P01");
    cr_assert(strstr(str(e, "message"), "does not exist"), "%s",
              str(e, "message"));
    /* the deleted file: not found, in Spark's terms */
    e = json_object_get(table_of(rep, "removed"), "error");
    cr_assert_str_eq(str(e, "kind"), "not_found", "%s", str(e, "message"));
    cr_assert_str_eq(str(e, "condition"), "PATH_NOT_FOUND");
    /* the CSV read by position: both columns moved, one is new */
    got = diffs_of(rep, "moved");
    cr_assert_str_eq(got, "position:id position:name extra:score");
    free(got);
}

/* The verification job ran on the routed executor, confined, marked as a
 * verification of the context it reports on. */
static void assert_job(const json_t *rep)
{
    char p[200];
    json_t *job;

    snprintf(p, sizeof(p), "/v1/jobs/%s", str(rep, "job_id"));
    job = call("GET", p, 200);
    cr_assert_str_eq(str(job, "executor"), "local");
    cr_assert_str_eq(str(json_object_get(job, "local"), "isolation"), "bwrap");
    cr_assert_str_eq(str(json_object_get(job, "purpose"), "kind"),
                     "verify-context");
    cr_assert_str_eq(str(json_object_get(job, "purpose"), "context_etag"),
                     str(rep, "context_etag"));
    json_decref(job);
}

/* The MCP tool verify_context answers the done verification (no new
 * run), without the resolved schemas. */
static void assert_mcp(const char *sid, const json_t *rep)
{
    static const char *const h[] = {
        "Content-Type: application/json",
        "Accept: application/json, text/event-stream",
        "MCP-Protocol-Version: 2026-07-28",
        "Mcp-Method: tools/call",
        "Mcp-Name: verify_context",
        NULL};
    json_t *req =
        json_pack("{s:s, s:i, s:s, s:{s:s, s:{s:s}, s:{s:s, s:{}}}}", "jsonrpc",
                  "2.0", "id", 7, "method", "tools/call", "params", "name",
                  "verify_context", "arguments", "session", sid, "_meta",
                  "io.modelcontextprotocol/protocolVersion", "2026-07-28",
                  "io.modelcontextprotocol/clientCapabilities");
    char *body = json_dumps(req, JSON_COMPACT);
    struct t_resp r = t_req("POST", "/mcp", h, body);
    json_t *j = t_json(&r), *sc;

    cr_assert_eq(r.status, 200, "%s", r.body);
    sc = json_object_get(json_object_get(j, "result"), "structuredContent");
    cr_assert_str_eq(str(sc, "state"), "done", "%s", r.body);
    cr_assert_str_eq(str(sc, "job_id"), str(rep, "job_id"));
    cr_assert_str_eq(str(table_of(sc, "v"), "status"), "differs");
    cr_assert_null(json_object_get(table_of(sc, "v"), "resolved_schema"));
    cr_assert_null(strstr(r.body, pg_password));
    json_decref(j);
    t_free(&r);
    free(body);
    json_decref(req);
}

Test(verify, drift_after_listing_is_reported_per_table)
{
    json_t *s = call("POST", "/v1/sessions", 201), *rep, *none, *j;
    const char *sid = str(s, "id");
    struct t_run run;
    char p[4300];

    select_tables(sid);
    snprintf(p, sizeof(p), "/v1/sessions/%s/context/verify", sid);
    none = call("GET", p, 200);
    cr_assert_str_eq(str(none, "state"), "none");
    snprintf(p, sizeof(p), "/v1/sessions/%s/context", sid);
    json_decref(call("GET", p, 200)); /* built now, as listed */
    drift();

    run = t_cli("verify", sid, NULL);
    cr_assert_eq(run.rc, 1, "stdout:\n%s\nstderr:\n%s", run.out, run.err);
    cr_assert(strstr(run.out, "2 ok, 2 differ, 2 error"), "%s", run.out);
    cr_assert(strstr(run.out, "DIFFERS  pg.dsb.verify_t.v (v_df)\n"
                              "         - column amount: the catalog says "
                              "integer -> expected Spark int, resolved "
                              "string\n"),
              "%s", run.out);
    cr_assert(strstr(run.out, "ERROR    pg.dsb.verify_t.doomed (doomed_df)\n"
                              "         not_found: "),
              "%s", run.out);
    cr_assert(strstr(run.out, "ok       csv.vdata.shop.people (people_df)\n"),
              "%s", run.out);
    cr_assert_null(strstr(run.out, pg_password));
    t_run_free(&run);

    snprintf(p, sizeof(p), "/v1/sessions/%s/context/verify", sid);
    rep = call("GET", p, 200);
    assert_report(rep);
    assert_job(rep);
    assert_mcp(sid, rep);
    snprintf(p, sizeof(p), "%s/state/jobs/%s", getenv("DSB_TEST_VERIFY_DIR"),
             str(rep, "job_id"));
    t_canary_keep_tree("job-file", p);

    /* the same report again, without another run */
    run = t_cli("verify", "--latest", "--json", sid, NULL);
    cr_assert_eq(run.rc, 1, "%s%s", run.out, run.err);
    j = json_loads(run.out, 0, NULL);
    cr_assert(j, "%s", run.out);
    cr_assert_str_eq(str(j, "job_id"), str(rep, "job_id"));
    assert_report(j);
    json_decref(j);
    t_run_free(&run);

    /* a changed selection is another context: nothing verified yet */
    unselect(sid, "doomed");
    snprintf(p, sizeof(p), "/v1/sessions/%s/context/verify", sid);
    j = call("GET", p, 200);
    cr_assert_str_eq(str(j, "state"), "none");
    cr_assert_str_neq(str(j, "context_etag"), str(rep, "context_etag"));
    cr_assert_str_eq(str(json_object_get(j, "previous"), "job_id"),
                     str(rep, "job_id"));
    json_decref(j);
    json_decref(rep);
    json_decref(none);
    json_decref(s);
}

/* Without Spark: what there is nothing to verify for. */
Test(verify_refusals, nothing_to_verify_without_a_run)
{
    json_t *s = call("POST", "/v1/sessions", 201), *j;
    struct t_run run;

    run = t_cli("verify", str(s, "id"), NULL);
    cr_assert_eq(run.rc, 1, "%s", run.out);
    cr_assert(strstr(run.err, "nothing to verify"), "%s", run.err);
    cr_assert(strstr(run.err, "\"status\": 409"), "%s", run.err);
    t_run_free(&run);
    run = t_cli("verify", "--latest", str(s, "id"), NULL);
    cr_assert_eq(run.rc, 1, "%s", run.out);
    cr_assert(strstr(run.err, "no verification of the session's current "
                              "context"),
              "%s", run.err);
    t_run_free(&run);
    j = call("GET", "/v1/sessions/no-such-session/context/verify", 404);
    json_decref(j);
    json_decref(s);
}
