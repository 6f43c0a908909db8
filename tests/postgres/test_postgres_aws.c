/*
 * postgres.so with `credentials: aws-sm:...` against moto_server and the
 * fixture cluster: an RDS-style secret gives the role, password, host and
 * port (a JSON number); a rotation in Secrets Manager and on the server is
 * picked up after one refused login, without restarting the broker.
 * Secrets are created through the core AWS client; each test process uses
 * its own role and secret (moto and the cluster are shared).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "aws/aws.h"
#include "pg_support.h"

static char role[32], secret[128];
static struct dsb_aws *A;
static struct dsb_broker *B;
static struct dsb_error E;

static void sm_call(const char *op, json_t *body)
{
    char target[96];
    struct dsb_error err;
    json_t *out = NULL;

    snprintf(target, sizeof(target), "secretsmanager.%s", op);
    cr_assert_eq(
        dsb_aws_call_json(A, "secretsmanager", target, NULL, body, &out, &err),
        0, "%s: %s", op, err.message);
    json_decref(out);
    json_decref(body);
}

/* Creates or updates the secret: role, password, host, port (a number). */
static void put_secret(const char *op, const char *key, const char *password)
{
    json_t *v = json_pack(
        "{s:s, s:s, s:s, s:I, s:s}", "username", role, "password", password,
        "host", getenv("PGHOST"), "port",
        (json_int_t)strtol(getenv("PGPORT"), NULL, 10), "dbname", "dsb");
    char *txt = json_dumps(v, JSON_COMPACT);

    sm_call(op, json_pack("{s:s, s:s}", key, secret, "SecretString", txt));
    free(txt);
    json_decref(v);
}

static void setup(void)
{
    struct dsb_aws_options o = {.region = "us-east-1"};
    char sql[512];

    pg_t_load_env();
    pg_t_load_service_env("moto");
    setenv("AWS_ACCESS_KEY_ID", "testing", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "testing-secret-key", 1);
    setenv("AWS_CONFIG_FILE", "/dev/null", 1);
    setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null", 1);
    unsetenv("AWS_PROFILE");
    unsetenv("AWS_SESSION_TOKEN");
    o.endpoint_url = getenv("DSB_TEST_MOTO_URL");
    A = dsb_aws_new(&o, &E);
    cr_assert_not_null(A, "%s", E.message);
    snprintf(role, sizeof(role), "dsb_sm_%d", (int)getpid());
    snprintf(secret, sizeof(secret), "dsb/test/pg-%d", (int)getpid());
    setenv("DSB_TEST_PG_SECRET", secret, 1);
    /* CONNECT comes from PUBLIC: no GRANT, which would race with the
     * other test process's on the same pg_database row. */
    snprintf(sql, sizeof(sql), "CREATE ROLE %s LOGIN PASSWORD 'first-%s'", role,
             role);
    pg_t_super("postgres", sql);
    snprintf(sql, sizeof(sql), "first-%s", role);
    put_secret("CreateSecret", "Name", sql);
    B = pg_t_broker_on("aws.conf.d");
    dsb_error_clear(&E);
}

static void teardown(void)
{
    char sql[512];

    dsb_broker_stop(B);
    sm_call("DeleteSecret", json_pack("{s:s, s:b}", "SecretId", secret,
                                      "ForceDeleteWithoutRecovery", 1));
    dsb_aws_free(A);
    dsb_aws_thread_cleanup();
    snprintf(sql, sizeof(sql), "DROP ROLE %s", role);
    pg_t_super("postgres", sql);
}

TestSuite(postgres_aws, .init = setup, .fini = teardown, .timeout = 60);

Test(postgres_aws, rds_secret_gives_role_host_and_numeric_port)
{
    struct dsb_source *s = pg_t_source(B, "pg_sm");
    struct dsb_list_request r = {"dsb", "public", NULL, 0, NULL};
    json_t *out = NULL;

    cr_assert_eq(dsb_source_check(s, &out, &E), 0, "%s", E.message);
    cr_assert_str_eq(pg_t_str(out, "user"), role);
    cr_assert_str_eq(pg_t_str(out, "database"), "dsb");
    json_decref(out);
    out = NULL;
    cr_assert_eq(dsb_source_list_tables(s, &r, &out, &E), 0, "%s", E.message);
    json_decref(out);
}

/* The read spec names the secret's keys and never holds their values: the
 * executor resolves aws-sm:ID#username and #password at run time. */
Test(postgres_aws, read_spec_references_the_secret_keys)
{
    struct dsb_read_target t = {"local", "local-spark", DSB_EXEC_LOCAL_FILES};
    json_t *spec = NULL, *o, *so;
    char url[256], ref[256], pw[64], *dump;

    cr_assert_eq(dsb_source_read_spec(pg_t_source(B, "pg_sm"), "dsb", "public",
                                      "hello", &t, &spec, &E),
                 0, "%s", E.message);
    o = json_object_get(spec, "options");
    so = json_object_get(spec, "secret_options");
    snprintf(url, sizeof(url),
             "jdbc:postgresql://%s:%s/dsb?sslmode=disable"
             "&ApplicationName=dsbroker",
             getenv("PGHOST"), getenv("PGPORT"));
    cr_assert_str_eq(pg_t_str(o, "url"), url);
    cr_assert_null(json_object_get(o, "user"));
    cr_assert_null(json_object_get(o, "password"));
    cr_assert_eq(json_object_size(so), 2);
    snprintf(ref, sizeof(ref), "aws-sm:%s#username", secret);
    cr_assert_str_eq(pg_t_str(so, "user"), ref);
    snprintf(ref, sizeof(ref), "aws-sm:%s#password", secret);
    cr_assert_str_eq(pg_t_str(so, "password"), ref);
    snprintf(pw, sizeof(pw), "first-%s", role);
    dump = json_dumps(spec, 0);
    cr_assert_null(strstr(dump, pw), "the password leaked: %s", dump);
    free(dump);
    json_decref(spec);
}

/* The broker caches the secret for an hour; the pooled connection is killed
 * so the next call logs in with the cached password, is refused (28P01),
 * drops the cached secret, reads the new one and succeeds. */
Test(postgres_aws, rotation_is_picked_up_after_one_refused_login)
{
    struct dsb_source *s = pg_t_source(B, "pg_sm");
    char sql[512], pw[64];
    json_t *out = NULL;

    cr_assert_eq(dsb_source_check(s, &out, &E), 0, "%s", E.message);
    json_decref(out);
    snprintf(pw, sizeof(pw), "second-%d-%d", (int)getpid(), rand());
    put_secret("PutSecretValue", "SecretId", pw);
    snprintf(sql, sizeof(sql), "ALTER ROLE %s PASSWORD '%s'", role, pw);
    pg_t_super("postgres", sql);
    snprintf(sql, sizeof(sql),
             "SELECT pg_terminate_backend(pid) FROM "
             "pg_stat_activity WHERE usename = '%s'",
             role);
    pg_t_super("postgres", sql);
    out = NULL;
    cr_assert_eq(dsb_source_check(s, &out, &E), 0, "after rotation: %s",
                 E.message);
    cr_assert_str_eq(pg_t_str(out, "user"), role);
    json_decref(out);
}

/* Rotated in Secrets Manager only: the server still wants the old
 * password, so the re-read one is refused too and the error says so. */
Test(postgres_aws, secret_rotated_without_the_server_is_auth)
{
    struct dsb_source *s = pg_t_source(B, "pg_sm");
    char sql[512];
    json_t *out = NULL;

    put_secret("PutSecretValue", "SecretId", "not-what-the-server-has");
    snprintf(sql, sizeof(sql),
             "SELECT pg_terminate_backend(pid) FROM "
             "pg_stat_activity WHERE usename = '%s'",
             role);
    pg_t_super("postgres", sql);
    cr_assert_eq(dsb_source_check(s, &out, &E), -1);
    cr_assert_eq(E.code, DSB_E_AUTH, "%d %s", E.code, E.message);
    cr_assert_str_eq(E.upstream, "28P01");
    cr_assert_null(strstr(E.message, "not-what-the-server-has"));
    cr_assert_null(strstr(E.detail, "not-what-the-server-has"));
}

Test(postgres_aws, missing_secret_is_not_found_and_names_the_reference)
{
    json_t *out = NULL;

    cr_assert_eq(dsb_source_check(pg_t_source(B, "pg_sm_missing"), &out, &E),
                 -1);
    cr_assert_eq(E.code, DSB_E_NOT_FOUND, "%d %s", E.code, E.message);
    cr_assert(strstr(E.message, "aws-sm:dsb/test/pg-no-such-secret"), "%s",
              E.message);
}
