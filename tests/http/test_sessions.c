/* Sessions, selections, persistence, bodies and the Spark context. */
#include <criterion/criterion.h>
#include <errno.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "util.h"
#include "http_support.h"

static void setup(void)
{
    t_http_env();
    t_start(NULL);
}

static void teardown(void)
{
    if (t_srv)
        t_stop();
}

TestSuite(sessions, .init = setup, .fini = teardown, .timeout = 60);

static char *new_session(void)
{
    struct t_resp r = t_req("POST", "/v1/sessions", NULL, NULL);
    json_t *j = t_json(&r);
    char *loc = t_header(&r, "Location");
    char *id;

    cr_assert_eq(r.status, 201, "%s", r.body);
    id = strdup(json_string_value(json_object_get(j, "id")));
    cr_assert_eq(strlen(id), 32);
    cr_assert(loc && strstr(loc, id));
    free(loc);
    json_decref(j);
    t_free(&r);
    return id;
}

static struct t_resp select_json(const char *id, const char *json)
{
    char p[256];

    snprintf(p, sizeof(p), "/v1/sessions/%s/selections", id);
    return t_post(p, json);
}

Test(sessions, lifecycle)
{
    char *id = new_session(), p[256];
    struct t_resp r;
    json_t *j;
    json_int_t sel_id;

    snprintf(p, sizeof(p), "/v1/sessions/%s", id);
    r = t_get(p);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert(strstr(r.body, "\"selections\":[]"), "%s", r.body);
    t_free(&r);
    r = select_json(id, "{\"source\":\"main\",\"database\":\"sales\","
                        "\"schema\":\"public\",\"table\":\"orders\"}");
    cr_assert_eq(r.status, 201, "%s", r.body);
    j = t_json(&r);
    sel_id = json_integer_value(
        json_object_get(json_array_get(json_object_get(j, "items"), 0), "id"));
    cr_assert_gt(sel_id, 0);
    json_decref(j);
    t_free(&r);
    snprintf(p, sizeof(p), "/v1/sessions/%s/selections", id);
    r = t_get(p);
    cr_assert(strstr(r.body, "\"orders\""), "%s", r.body);
    t_free(&r);
    snprintf(p, sizeof(p), "/v1/sessions/%s/selections/%lld", id,
             (long long)sel_id);
    r = t_req("DELETE", p, NULL, NULL);
    cr_assert_eq(r.status, 204, "%s", r.body);
    t_free(&r);
    r = t_req("DELETE", p, NULL, NULL);
    t_problem(&r, 404, "not_found");
    t_free(&r);
    snprintf(p, sizeof(p), "/v1/sessions/%s/selections/abc", id);
    r = t_req("DELETE", p, NULL, NULL);
    t_problem(&r, 400, "invalid");
    t_free(&r);
    snprintf(p, sizeof(p), "/v1/sessions/%s", id);
    r = t_req("DELETE", p, NULL, NULL);
    cr_assert_eq(r.status, 204);
    t_free(&r);
    r = t_get(p);
    t_problem(&r, 404, "not_found");
    t_free(&r);
    free(id);
}

Test(sessions, selecting_what_does_not_exist)
{
    char *id = new_session();
    struct t_resp r =
        select_json(id, "[{\"source\":\"main\",\"database\":"
                        "\"sales\",\"schema\":\"public\",\"table\":"
                        "\"orders\"},{\"source\":\"main\","
                        "\"database\":\"sales\",\"schema\":"
                        "\"public\",\"table\":\"ghost\"}]");
    char p[256];

    t_problem(&r, 404, "not_found");
    cr_assert(strstr(r.body, "ghost"), "%s", r.body);
    t_free(&r);
    /* nothing of a refused list is stored */
    snprintf(p, sizeof(p), "/v1/sessions/%s/selections", id);
    r = t_get(p);
    cr_assert(strstr(r.body, "\"items\":[]"), "%s", r.body);
    t_free(&r);
    r = select_json(id, "{\"source\":\"ghost\",\"database\":\"a\","
                        "\"schema\":\"b\",\"table\":\"c\"}");
    t_problem(&r, 404, "not_found");
    t_free(&r);
    r = select_json("0123456789abcdef0123456789abcdef",
                    "{\"source\":\"main\","
                    "\"database\":\"sales\",\"schema\":\"public\",\"table\":"
                    "\"orders\"}");
    t_problem(&r, 404, "not_found");
    t_free(&r);
    free(id);
}

Test(sessions, bad_bodies)
{
    char *id = new_session(), p[256], big[6000];
    struct t_resp r;

    r = select_json(id, "{\"source\": ");
    t_problem(&r, 400, "invalid");
    t_free(&r);
    r = select_json(id, "{\"source\":\"main\"}");
    t_problem(&r, 422, "invalid");
    t_free(&r);
    r = select_json(id, "[]");
    t_problem(&r, 422, "invalid");
    t_free(&r);
    snprintf(p, sizeof(p), "/v1/sessions/%s/selections", id);
    r = t_req("POST", p,
              (const char *const[]){"Content-Type: text/plain", NULL}, "{}");
    t_problem(&r, 415, "unsupported_media_type");
    t_free(&r);
    memset(big, ' ', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    big[0] = '[';
    big[sizeof(big) - 2] = ']';
    r = select_json(id, big);
    t_problem(&r, 413, "too_large");
    t_free(&r);
    r = t_req("POST", p,
              (const char *const[]){"Content-Type: application/json",
                                    "Transfer-Encoding: chunked", NULL},
              big);
    t_problem(&r, 413, "too_large");
    t_free(&r);
    free(id);
}

Test(sessions, survive_a_restart)
{
    char *id = new_session(), p[256];
    struct t_resp r = select_json(id, "{\"source\":\"lake\",\"database\":"
                                      "\"analytics\",\"table\":\"events\"}");

    cr_assert_eq(r.status, 201, "%s", r.body);
    t_free(&r);
    t_stop();
    t_start(NULL);
    snprintf(p, sizeof(p), "/v1/sessions/%s", id);
    r = t_get(p);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert(strstr(r.body, "\"events\"") && strstr(r.body, "\"default\""),
              "%s", r.body);
    t_free(&r);
    free(id);
}

static int python_compiles(const char *code)
{
    char *dir = t_tmpdir(), path[4200], cmd[8600];
    FILE *f;

    snprintf(path, sizeof(path), "%s/ctx.py", dir);
    f = fopen(path, "w");
    fputs(code, f);
    fclose(f);
    snprintf(cmd, sizeof(cmd), "python3 -m py_compile %s", path);
    free(dir);
    return system(cmd) == 0;
}

/* The table as its source describes it (GET .../tables/{table}). */
static json_t *describe(const json_t *t)
{
    const char *k[] = {"source", "database", "schema", "table"};
    char path[2048] = "/v1/sources/";
    const char *mid[] = {"/databases/", "/schemas/", "/tables/", ""};
    struct t_resp r;
    json_t *j;

    for (int i = 0; i < 4; i++) {
        char *e = curl_easy_escape(
            NULL, json_string_value(json_object_get(t, k[i])), 0);
        strcat(path, e);
        strcat(path, mid[i]);
        curl_free(e);
    }
    r = t_get(path);
    cr_assert_eq(r.status, 200, "%s: %s", path, r.body);
    j = t_json(&r);
    t_free(&r);
    return j;
}

/* A column name as the prompt writes it (names without control
 * characters): bare when lower-case, else in backticks, a backtick inside
 * as \x60 and a backslash doubled (core/prompt_text.h). */
static void prompt_name(const char *name, char *out, size_t cap)
{
    int bare = *name && !(*name >= '0' && *name <= '9');
    size_t n = 0;

    for (const char *p = name; *p; p++)
        bare &=
            (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_';
    if (bare) {
        snprintf(out, cap, "%s", name);
        return;
    }
    out[n++] = '`';
    for (const char *p = name; *p && n + 6 < cap; p++) {
        if (*p == '`')
            n += (size_t)snprintf(out + n, cap - n, "\\x60");
        else if (*p == '\\')
            n += (size_t)snprintf(out + n, cap - n, "\\\\");
        else
            out[n++] = *p;
    }
    out[n++] = '`';
    out[n] = '\0';
}

/* Every column of every table of the context is in the prompt, with its
 * Spark type, source type and nullability, and the column count is the
 * source's. */
static void assert_prompt_has_every_column(const json_t *ctx)
{
    const char *prompt = json_string_value(json_object_get(ctx, "prompt"));
    const json_t *t, *c;
    size_t i, k;

    json_array_foreach(json_object_get(ctx, "tables"), i, t)
    {
        json_t *d = describe(t);
        const json_t *cols = json_object_get(d, "columns");
        char want[1024], name[512];

        cr_assert_gt(json_array_size(cols), 0);
        snprintf(want, sizeof(want),
                 "Columns (%zu, all of them):", json_array_size(cols));
        cr_assert(strstr(prompt, want), "%s not in %s", want, prompt);
        json_array_foreach(cols, k, c)
        {
            prompt_name(json_string_value(json_object_get(c, "name")), name,
                        sizeof(name));
            snprintf(want, sizeof(want), ". %s  %s  (source type %s, %s)", name,
                     json_string_value(json_object_get(c, "spark_type")),
                     json_string_value(json_object_get(c, "source_type")),
                     json_is_false(json_object_get(c, "nullable"))
                         ? "not null"
                         : "nullable");
            cr_assert(strstr(prompt, want),
                      "column line \"%s\" not in the "
                      "prompt:\n%s",
                      want, prompt);
        }
        json_decref(d);
    }
}

Test(sessions, context)
{
    char *id = new_session(), p[256];
    struct t_resp r = select_json(
        id,
        "["
        "{\"source\":\"main\",\"database\":\"sales\",\"schema\":\"public\","
        "\"table\":\"invoices\"},"
        "{\"source\":\"main\",\"database\":\"sales\",\"schema\":\"public\","
        "\"table\":\"partial\"},"
        "{\"source\":\"pgmain\",\"database\":\"sales\",\"schema\":\"public\","
        "\"table\":\"partial\"},"
        "{\"source\":\"main\",\"database\":\"sales\",\"schema\":\"public\","
        "\"table\":\"Order Items\"},"
        "{\"source\":\"main\",\"database\":\"we/ird \\\"db\\\"\",\"schema\":"
        "\"sch\xc3\xa9ma \xc3\xbc\",\"table\":\"Order Items/2024 'q'\"},"
        "{\"source\":\"lake\",\"database\":\"analytics\",\"table\":\"events\"}"
        "]");
    json_t *j, *t, *vars = json_object();
    const char *code;
    size_t i;

    cr_assert_eq(r.status, 201, "%s", r.body);
    t_free(&r);
    snprintf(p, sizeof(p), "/v1/sessions/%s/context", id);
    r = t_get(p);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_null(strstr(r.body, T_PASSWORD), "a secret value leaked");
    j = t_json(&r);
    cr_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(j, "route"), "executor")),
                     "local");
    cr_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(j, "route"), "reason")),
                     "local reaches aurora-vpc, "
                     "fixture-net, public with 4 networks");
    cr_assert_eq(json_array_size(
                     json_object_get(json_object_get(j, "route"), "networks")),
                 3, "%s", r.body);
    json_array_foreach(json_object_get(j, "tables"), i, t)
    {
        const char *v = json_string_value(json_object_get(t, "variable"));
        cr_assert(v && !json_object_get(vars, v), "duplicate variable %s", v);
        json_object_set_new(vars, v, json_true());
        cr_assert(strstr(json_string_value(json_object_get(t, "snippet")), v));
    }
    cr_assert_eq(json_object_size(vars), 6);
    code = json_string_value(json_object_get(j, "code"));
    cr_assert(strstr(code, "def _dsb_secret(ref):"));
    cr_assert(strstr(code, "_dsb_secret(\"aws-sm:prod/pg#password\")"));
    cr_assert(strstr(code, ".option(\"numPartitions\", \"4\")"));
    cr_assert(strstr(code, "spark.table(\"`analytics`.`events`\")"));
    cr_assert(strstr(code, ".schema(\"`order_id` bigint\")"));
    /* the partition quartet is emitted whole or not at all */
    cr_assert_null(strstr(strstr(code, "partial_df"), "partitionColumn"), "%s",
                   code);
    cr_assert(python_compiles(code), "%s", code);
    cr_assert(json_array_size(json_object_get(
                  json_object_get(j, "spark_submit"), "jars")) == 1);
    cr_assert(strstr(json_string_value(json_object_get(j, "prompt")),
                     "`Total \"EUR\"`"));
    assert_prompt_has_every_column(j);
    json_decref(j);
    json_decref(vars);
    t_free(&r);
    snprintf(p, sizeof(p), "/v1/sessions/%s/context?format=text", id);
    r = t_get(p);
    cr_assert_eq(r.status, 200);
    cr_assert(strstr(r.body, "# Spark context") && strstr(r.body, "Pitfalls"));
    t_free(&r);
    snprintf(p, sizeof(p), "/v1/sessions/%s/context?executor=local", id);
    r = t_get(p);
    cr_assert_eq(r.status, 200, "%s", r.body);
    t_free(&r);
    /* the public-only application cannot reach the VPC database */
    snprintf(p, sizeof(p), "/v1/sessions/%s/context?executor=standard", id);
    r = t_get(p);
    t_problem(&r, 422, "unroutable");
    cr_assert(strstr(r.body, "aurora-vpc"), "%s", r.body);
    t_free(&r);
    snprintf(p, sizeof(p), "/v1/sessions/%s/context?executor=ghost", id);
    r = t_get(p);
    t_problem(&r, 422, "unroutable");
    t_free(&r);
    snprintf(p, sizeof(p), "/v1/sessions/%s/context?format=xml", id);
    r = t_get(p);
    t_problem(&r, 400, "invalid");
    t_free(&r);
    free(id);
}

/* The fixture conf.d with extra lines appended to broker.yaml, copied to
 * a new directory (malloc'd). */
/* GET the session's context; asserts 200 and the X-Cache state. */
static json_t *context_cached(const char *id, const char *state)
{
    char p[256], *xc;
    struct t_resp r;
    json_t *j;

    snprintf(p, sizeof(p), "/v1/sessions/%s/context", id);
    r = t_get(p);
    cr_assert_eq(r.status, 200, "%s", r.body);
    xc = t_header(&r, "X-Cache");
    cr_assert(xc && strcmp(xc, state) == 0, "X-Cache %s, wanted %s", xc, state);
    free(xc);
    j = t_json(&r);
    t_free(&r);
    return j;
}

/* A context is memoised until what it was built from changes: the
 * selections, or the cached metadata of one of its sources. */
Test(sessions, context_is_memoised_until_its_inputs_change)
{
    char *id = new_session(), *other = new_session();
    const char *orders = "{\"source\":\"main\",\"database\":\"sales\","
                         "\"schema\":\"public\",\"table\":\"orders\"}";
    struct t_resp r = select_json(id, orders);
    json_t *a, *b;
    long calls;

    t_free(&r);
    a = context_cached(id, "miss");
    calls = t_calls("main");
    b = context_cached(id, "hit");
    cr_assert(json_equal(a, b));
    cr_assert_eq(t_calls("main"), calls, "a memoised context calls nothing");
    json_decref(b);
    /* another session with the same selections shares it */
    r = select_json(other, orders);
    t_free(&r);
    json_decref(context_cached(other, "hit"));
    /* a new selection is a new context */
    r = select_json(id, "{\"source\":\"main\",\"database\":\"sales\","
                        "\"schema\":\"public\",\"table\":\"invoices\"}");
    t_free(&r);
    b = context_cached(id, "miss");
    cr_assert_eq(json_array_size(json_object_get(b, "tables")), 2);
    json_decref(b);
    /* flushing the source's metadata makes it be built (and read) again */
    r = t_req("POST", "/v1/sources/main/refresh", NULL, NULL);
    cr_assert_eq(r.status, 200, "%s", r.body);
    t_free(&r);
    json_decref(context_cached(other, "miss"));
    cr_assert_gt(t_calls("main"), calls, "the read spec was read again");
    json_decref(a);
    free(id);
    free(other);
}

static char *conf_with(const char *broker_extra)
{
    char *dir = t_tmpdir(), cmd[8192], path[4200];
    char *src = t_src("tests/fixtures/confd-http");
    FILE *f;

    snprintf(cmd, sizeof(cmd), "cp -r %s/. %s/", src, dir);
    cr_assert_eq(system(cmd), 0);
    snprintf(path, sizeof(path), "%s/broker.yaml", dir);
    f = fopen(path, "a");
    cr_assert(f);
    fputs(broker_extra, f);
    fclose(f);
    free(src);
    return dir;
}

static long session_status(const char *id)
{
    char p[256];
    struct t_resp r;
    long st;

    snprintf(p, sizeof(p), "/v1/sessions/%s", id);
    r = t_get(p);
    st = r.status;
    t_free(&r);
    return st;
}

/* Whether GET /v1/sessions lists id (a listing touches no session). */
static int listed(const char *id)
{
    struct t_resp r = t_get("/v1/sessions");
    int found;

    cr_assert_eq(r.status, 200, "%s", r.body);
    found = strstr(r.body, id) != NULL;
    t_free(&r);
    return found;
}

/* With a 4 s idle expiry (expiry runs every 2 s), a session used every
 * 200 ms stays and one left alone is deleted once it has been idle for 4 s:
 * the test polls the listing until it is gone, for 15 s at most. */
Test(sessions, idle_sessions_expire)
{
    char *dir = conf_with("sessions:\n  idle_expiry_seconds: 4\n");
    char *active, *idle;
    int64_t t0, gone;

    t_stop();
    t_start(dir);
    active = new_session();
    idle = new_session();
    t0 = dsb_monotonic_ms();
    while (listed(idle)) {
        cr_assert_lt(dsb_monotonic_ms() - t0, 15000,
                     "the idle session is still there");
        cr_assert_eq(session_status(active), 200,
                     "the active session "
                     "expired after %lld ms",
                     (long long)(dsb_monotonic_ms() - t0));
        usleep(200000);
    }
    gone = dsb_monotonic_ms() - t0;
    cr_assert_geq(gone, 3500,
                  "the idle session expired after %lld ms, before its 4 s",
                  (long long)gone);
    cr_assert_eq(session_status(idle), 404,
                 "the idle session is still "
                 "there");
    cr_assert_eq(session_status(active), 200);
    cr_assert(listed(active));
    free(active);
    free(idle);
    free(dir);
}

/* The option table bounds idle_expiry_seconds. */
Test(sessions, idle_expiry_seconds_is_validated)
{
    char *dir = conf_with("sessions:\n  idle_expiry_seconds: 0\n");
    char *pdir = t_path("DSB_TEST_PLUGIN_DIR", "http");
    struct dsb_server_opts o = {
        .conf_dir = dir, .plugin_dir = pdir, .no_listen = 1};
    struct dsb_diags d;
    struct dsb_server *s;
    int found = 0;

    t_stop();
    dsb_diags_init(&d);
    s = dsb_server_start(&o, &d);
    cr_assert_null(s, "idle_expiry_seconds: 0 was accepted");
    for (size_t i = 0; i < d.n; i++)
        found |= strstr(d.items[i].message, "idle_expiry_seconds") != NULL;
    cr_assert(found, "no diagnostic names idle_expiry_seconds");
    dsb_diags_free(&d);
    free(pdir);
    free(dir);
}

/* Mode bits of path (asserting it exists). */
static unsigned mode_of(const char *dir, const char *name)
{
    char p[4300];
    struct stat st;

    snprintf(p, sizeof(p), "%s%s%s", dir, name ? "/" : "", name ? name : "");
    cr_assert_eq(stat(p, &st), 0, "%s: %s", p, strerror(errno));
    return (unsigned)(st.st_mode & 07777);
}

/* A fresh state_dir path under a temporary directory, exported for the
 * fixture's broker.yaml; malloc'd. */
static char *fresh_state_dir(void)
{
    char *tmp = t_tmpdir(), *sd = dsb_path_join(tmp, "state");

    setenv("DSB_TEST_STATE_DIR", sd, 1);
    free(tmp);
    return sd;
}

/* A state_dir and database made world-readable before the broker starts
 * are private (0700, 0600, -wal and -shm too) once it has. */
Test(sessions, state_dir_and_database_are_made_private)
{
    char *sd, db[4300], *id;

    if (t_store_pg())
        cr_skip_test("SQLite only: the PostgreSQL store keeps no file");
    sd = fresh_state_dir();

    t_stop();
    cr_assert_eq(mkdir(sd, 0755), 0);
    cr_assert_eq(chmod(sd, 0755), 0);
    snprintf(db, sizeof(db), "%s/dsbroker.db", sd);
    t_write(sd, "dsbroker.db", "");
    cr_assert_eq(chmod(db, 0644), 0);
    t_start(NULL);
    id = new_session(); /* the WAL holds a commit: -wal and -shm exist */
    cr_assert_eq(mode_of(sd, NULL), 0700, "state_dir is %o", mode_of(sd, NULL));
    cr_assert_eq(mode_of(sd, "jobs"), 0700);
    cr_assert_eq(mode_of(sd, "dsbroker.db"), 0600);
    cr_assert_eq(mode_of(sd, "dsbroker.db-wal"), 0600);
    cr_assert_eq(mode_of(sd, "dsbroker.db-shm"), 0600);
    free(id);
    free(sd);
}

/* A state_dir the broker cannot make its own stops the start, and the
 * message names the directory and what to do. */
Test(sessions, a_state_dir_of_another_user_is_refused)
{
    char *sd = fresh_state_dir(), *dir = t_src("tests/fixtures/confd-http");
    char *pdir = t_path("DSB_TEST_PLUGIN_DIR", "http");
    struct dsb_server_opts o = {
        .conf_dir = dir, .plugin_dir = pdir, .no_listen = 1};
    struct passwd *nobody = getpwnam("nobody");
    struct dsb_diags d;
    long i;

    if (geteuid() != 0 || !nobody)
        cr_skip_test("needs root (to chown the state_dir to user nobody)");
    t_stop();
    cr_assert_eq(mkdir(sd, 0755), 0);
    cr_assert_eq(chown(sd, nobody->pw_uid, nobody->pw_gid), 0);
    dsb_diags_init(&d);
    cr_assert_null(dsb_server_start(&o, &d), "started on %s", sd);
    i = dsb_diags_find(&d, NULL, 0, "owned by uid");
    cr_assert_geq(i, 0, "no diagnostic says who owns %s", sd);
    cr_assert(strstr(d.items[i].message, sd), "%s", d.items[i].message);
    cr_assert(strstr(d.items[i].message, "hint: chown it to the user the "
                                         "broker runs as"),
              "%s", d.items[i].message);
    cr_assert_eq(mode_of(sd, NULL), 0755, "another user's directory changed");
    dsb_diags_free(&d);
    free(pdir);
    free(dir);
    free(sd);
}

/* A state store a newer broker wrote (a schema version past this one's)
 * stops the start, saying so and what to do; the store is left as it
 * was. */
Test(sessions, a_store_of_a_newer_broker_stops_the_start)
{
    char *sd, *dir, *pdir, path[4300];
    struct dsb_server_opts o = {.no_listen = 1};
    struct dsb_diags d;
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    long i;

    if (t_store_pg())
        cr_skip_test("SQLite only: the PostgreSQL store keeps no file");
    sd = fresh_state_dir();
    dir = t_src("tests/fixtures/confd-http");
    pdir = t_path("DSB_TEST_PLUGIN_DIR", "http");
    o.conf_dir = dir;
    o.plugin_dir = pdir;

    t_stop();
    t_start(NULL); /* makes the store */
    t_stop();
    snprintf(path, sizeof(path), "%s/dsbroker.db", sd);
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db,
                              "UPDATE dsb_schema SET version = 99 WHERE "
                              "store = 'sessions'",
                              NULL, NULL, NULL),
                 SQLITE_OK);
    dsb_diags_init(&d);
    cr_assert_null(dsb_server_start(&o, &d), "started on a newer store");
    i = dsb_diags_find(&d, NULL, 0, "schema version 99");
    cr_assert_geq(i, 0, "no diagnostic names the store's version");
    cr_assert(strstr(d.items[i].message,
                     "the sessions store is at schema version 99, newer "
                     "than this broker knows (1): a newer dsbroker wrote it"),
              "%s", d.items[i].message);
    cr_assert_eq(sqlite3_prepare_v2(db,
                                    "SELECT version FROM dsb_schema WHERE "
                                    "store = 'sessions'",
                                    -1, &st, NULL),
                 SQLITE_OK);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    cr_assert_eq(sqlite3_column_int(st, 0), 99, "the newer store was changed");
    sqlite3_finalize(st);
    sqlite3_close(db);
    dsb_diags_free(&d);
    free(pdir);
    free(dir);
    free(sd);
}
