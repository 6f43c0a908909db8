/* state.store: postgresql — the broker keeps sessions and jobs in the
 * fixture cluster (a database of its own per test, the broker's role over
 * TCP with its password given as a file: reference): a session survives a
 * restart there and nothing is written to state_dir/dsbroker.db; a
 * postgresql store without state.url, with a password in it, with a
 * password reference that does not resolve or a database that does not
 * exist stops the start with a message saying so. */
#include <criterion/criterion.h>
#include <libpq-fe.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http/http_support.h"
#include "pg_admin.h"
#include "util.h"

static const char broker_yaml[] =
    "listen: 127.0.0.1:0\n"
    "state_dir: ${DSB_TEST_STATE_DIR}/state\n"
    "log_level: warn\n"
    "state:\n"
    "  store: postgresql\n"
    "  url: \"${DSB_TEST_STATE_URL}\"\n"
    "  password: \"file:${DSB_TEST_PG_PASSWORD_FILE}\"\n";

static struct t_pg pg;
static char *dir, db[64], conf[4200];

static void setup(void)
{
    t_http_env();
    dir = t_pg_state_env(&pg, "state_store", db);
    snprintf(conf, sizeof(conf), "%s/conf.d", dir);
    cr_assert(mkdir(conf, 0700) == 0);
    {
        char *secret = t_slurp_file(fopen(pg.password_file, "r"));

        secret[strcspn(secret, "\n")] = '\0';
        t_canary_value("state-pg", secret);
        free(secret);
    }
}

static void teardown(void)
{
    if (t_srv)
        t_stop();
    t_pg_drop_db(&pg, db);
    free(dir);
}

TestSuite(state_pg, .init = setup, .fini = teardown, .timeout = 60);

static void start(void)
{
    char *pdir = t_path("DSB_TEST_PLUGIN_DIR", "http");
    struct dsb_server_opts o = {.conf_dir = conf, .plugin_dir = pdir};

    t_start_opts(&o);
    free(pdir);
}

/* How many rows sql counts in the test's state database. */
static long count(const char *sql)
{
    return t_pg_count(&pg, db, sql);
}

Test(state_pg, sessions_live_in_postgresql_across_a_restart)
{
    char path[4400], id[64];
    struct t_resp r;
    json_t *j;

    t_write(conf, "broker.yaml", broker_yaml);
    start();
    r = t_req("POST", "/v1/sessions", NULL, NULL);
    cr_assert_eq(r.status, 201, "%s", r.body);
    j = t_json(&r);
    snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(j, "id")));
    json_decref(j);
    t_free(&r);
    cr_assert_eq(count("SELECT count(*) FROM dsb_sessions"), 1);
    cr_assert_eq(count("SELECT count(*) FROM dsb_schema WHERE (store, "
                       "version) IN (('sessions', 1), ('jobs', 2))"),
                 2, "sessions at version 1, jobs at 2 (leases)");
    cr_assert_eq(count("SELECT count(*) FROM dsb_schema WHERE store = "
                       "'sources' AND version = 1"),
                 1, "the shared sources store at version 1");
    t_stop();

    start();
    snprintf(path, sizeof(path), "/v1/sessions/%s", id);
    r = t_get(path);
    cr_assert_eq(r.status, 200, "%s", r.body);
    t_free(&r);
    snprintf(path, sizeof(path), "%s/state/dsbroker.db", dir);
    cr_assert_neq(access(path, F_OK), 0, "%s was created", path);
}

/* A managed source whose password is a store: reference serves after a
 * restart: the start's sync reloads the sources the store has, with the
 * store resolving the reference. */
Test(state_pg, a_managed_store_reference_resolves_after_a_restart)
{
    char body[4600], *text;
    struct t_resp r;

    t_write(conf, "broker.yaml", broker_yaml);
    start();
    snprintf(body, sizeof(body),
             "{\"name\":\"m\",\"plugin\":\"fixture\",\"network\":\"local\","
             "\"data_file\":\"%s/tests/fixtures/hostile/catalog.json\","
             "\"secrets\":{\"password\":\"m-password-4b1d\"}}",
             getenv("DSB_SOURCE_DIR"));
    t_canary_value("state-pg-managed", "m-password-4b1d");
    r = t_post("/v1/sources", body);
    cr_assert_eq(r.status, 201, "%s", r.body);
    t_free(&r);
    snprintf(body, sizeof(body), "%s/managed/m.yaml", conf);
    text = t_slurp_file(fopen(body, "r"));
    cr_assert(strstr(text, "store:m-password-"), "%s", text);
    free(text);
    t_stop();

    start();
    r = t_post("/v1/sources/m/check", NULL);
    cr_assert_eq(r.status, 200, "%s", r.body);
    t_free(&r);
}

/* The start fails; the diagnostics name what. */
static void refused(const char *yaml, const char *what)
{
    t_start_refused(conf, yaml, what);
}

Test(state_pg, a_bad_state_section_stops_the_start)
{
    refused("listen: 127.0.0.1:0\n"
            "state_dir: ${DSB_TEST_STATE_DIR}/state\n"
            "state:\n"
            "  store: postgresql\n",
            "state.store: postgresql needs state.url");
    refused("listen: 127.0.0.1:0\n"
            "state_dir: ${DSB_TEST_STATE_DIR}/state\n"
            "state:\n"
            "  store: postgresql\n"
            "  url: \"${DSB_TEST_STATE_URL} password=hunter2\"\n",
            "state.url holds a password");
    refused("listen: 127.0.0.1:0\n"
            "state_dir: ${DSB_TEST_STATE_DIR}/state\n"
            "state:\n"
            "  url: \"${DSB_TEST_STATE_URL}\"\n",
            "are for state.store: postgresql");
    refused("listen: 127.0.0.1:0\n"
            "state_dir: ${DSB_TEST_STATE_DIR}/state\n"
            "state:\n"
            "  store: postgresql\n"
            "  url: \"${DSB_TEST_STATE_URL}\"\n"
            "  password: \"file:${DSB_TEST_STATE_DIR}/no-such-file\"\n",
            "no-such-file");
    refused("listen: 127.0.0.1:0\n"
            "state_dir: ${DSB_TEST_STATE_DIR}/state\n"
            "state:\n"
            "  store: postgresql\n"
            "  url: \"${DSB_TEST_STATE_URL}_absent\"\n"
            "  password: \"file:${DSB_TEST_PG_PASSWORD_FILE}\"\n",
            "cannot open the session store on PostgreSQL");
}
