/* Secrets Manager through the AWS client and core/secrets against the
 * shared moto_server, which accepts any key.  What moto cannot produce is
 * scripted (tests/aws/scripted_endpoint.py): throttling, expired session
 * tokens, and AWS's own JSON answer to a bad key; test_moto_auth.c runs
 * bad keys and signatures against a moto_server that checks them.  No
 * secret value may appear in an error or a log line. */
#include "aws_test.h"

#include "aws/aws.h"
#include "log.h"
#include "secrets.h"

#define RDS_SECRET                                                             \
    "{\"username\":\"app\",\"password\":\"pw-Xy7!q9-unique-4242\","            \
    "\"host\":\"db.internal\",\"port\":5432,\"dbname\":\"sales\"}"
#define ROTATED_PASSWORD "pw-rotated-8c1d-unique-7777"

static char home[256], moto[256], logpath[512];
static struct scripted srv;

static void setup(void)
{
    at_make_dir(home, sizeof(home));
    at_clean_env(home);
    t_service("moto", "DSB_TEST_MOTO_URL", moto, sizeof(moto));
    setenv("AWS_ACCESS_KEY_ID", "testing", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "testing-secret-key-123", 1);
    setenv("AWS_REGION", "us-east-1", 1);
    setenv("AWS_ENDPOINT_URL", moto, 1);
    snprintf(logpath, sizeof(logpath), "%s/log.txt", home);
    dsb_log_set_level(DSB_LOG_DEBUG);
}

static void teardown(void)
{
    scripted_stop(&srv);
    dsb_aws_thread_cleanup();
    at_leak_check();
}

TestSuite(aws_moto, .init = setup, .fini = teardown);

static struct dsb_aws *client(void)
{
    struct dsb_aws_options o = {.backoff_base_ms = 10, .backoff_cap_ms = 50};
    struct dsb_error err;
    struct dsb_aws *a = dsb_aws_new(&o, &err);

    cr_assert_not_null(a, "%s", err.message);
    return a;
}

/* A secret name unique to this process (moto is shared by parallel tests). */
static void unique(char *name, size_t cap, const char *what)
{
    snprintf(name, cap, "dsb/test/%s-%d", what, (int)getpid());
}

static void sm_call(struct dsb_aws *a, const char *op, json_t *body)
{
    char target[96];
    struct dsb_error err;
    json_t *out = NULL;

    snprintf(target, sizeof(target), "secretsmanager.%s", op);
    cr_assert_eq(
        dsb_aws_call_json(a, "secretsmanager", target, NULL, body, &out, &err),
        0, "%s: %s", op, err.message);
    json_decref(out);
    json_decref(body);
}

static void no_secret_in(const char *text)
{
    cr_expect_null(strstr(text, "pw-Xy7!q9-unique-4242"), "leak: %s", text);
    cr_expect_null(strstr(text, ROTATED_PASSWORD), "leak: %s", text);
    cr_expect_null(strstr(text, "testing-secret-key-123"), "leak: %s", text);
}

static void no_secret_in_error(const struct dsb_error *e)
{
    no_secret_in(e->message);
    no_secret_in(e->detail);
    no_secret_in(e->hint);
}

Test(aws_moto, rds_secret_keys_and_rotation_after_invalidation)
{
    struct dsb_aws *a = client();
    struct dsb_secrets *s = dsb_secrets_new(3600 * 1000);
    struct dsb_error err;
    char name[128], ref[192], *v = NULL, *log;

    at_log_begin(logpath);
    unique(name, sizeof(name), "rds");
    sm_call(a, "CreateSecret",
            json_pack("{s:s,s:s}", "Name", name, "SecretString", RDS_SECRET));
    dsb_secrets_set_aws_backend(s, dsb_aws_secret_fetch, a);
    snprintf(ref, sizeof(ref), "aws-sm:%s#password", name);
    cr_assert_eq(dsb_secrets_get(s, ref, &v, &err), 0, "%s", err.message);
    cr_expect_str_eq(v, "pw-Xy7!q9-unique-4242");
    dsb_secret_value_free(v);
    snprintf(ref, sizeof(ref), "aws-sm:%s#port", name);
    cr_assert_eq(dsb_secrets_get(s, ref, &v, &err), 0, "%s", err.message);
    cr_expect_str_eq(v, "5432");
    dsb_secret_value_free(v);
    snprintf(ref, sizeof(ref), "aws-sm:%s", name);
    cr_assert_eq(dsb_secrets_get(s, ref, &v, &err), 0, "%s", err.message);
    cr_expect_str_eq(v, RDS_SECRET);
    dsb_secret_value_free(v);

    sm_call(
        a, "PutSecretValue",
        json_pack(
            "{s:s,s:s}", "SecretId", name, "SecretString",
            "{\"username\":\"app\",\"password\":\"" ROTATED_PASSWORD
            "\",\"host\":\"db.internal\",\"port\":\"5433\",\"dbname\":\"sales\"}"));
    snprintf(ref, sizeof(ref), "aws-sm:%s#password", name);
    cr_assert_eq(dsb_secrets_get(s, ref, &v, &err), 0);
    cr_expect_str_eq(v, "pw-Xy7!q9-unique-4242", "cached until invalidated");
    dsb_secret_value_free(v);
    dsb_secrets_invalidate(s, ref);
    cr_assert_eq(dsb_secrets_get(s, ref, &v, &err), 0, "%s", err.message);
    cr_expect_str_eq(v, ROTATED_PASSWORD);
    dsb_secret_value_free(v);
    snprintf(ref, sizeof(ref), "aws-sm:%s#port", name);
    cr_assert_eq(dsb_secrets_get(s, ref, &v, &err), 0, "%s", err.message);
    cr_expect_str_eq(v, "5433");
    dsb_secret_value_free(v);
    log = at_log_end(logpath);
    no_secret_in(log);
    free(log);
    dsb_secrets_free(s);
    dsb_aws_free(a);
}

Test(aws_moto, missing_secret_names_the_reference)
{
    struct dsb_aws *a = client();
    struct dsb_error err;
    char *v = (char *)"x";

    cr_assert_eq(dsb_aws_secret_fetch(a, "dsb/test/does-not-exist", &v, &err),
                 -1);
    cr_expect_null(v);
    cr_expect_eq(err.code, DSB_E_NOT_FOUND);
    cr_expect_eq(err.retryable, 0);
    cr_expect_str_eq(err.upstream, "ResourceNotFoundException");
    cr_expect_str_eq(err.message,
                     "secret \"aws-sm:dsb/test/does-not-exist\" not found");
    cr_expect_not_null(strstr(err.hint, "us-east-1"), "%s", err.hint);
    cr_expect_not_null(strstr(err.hint, "secretsmanager:GetSecretValue"));
    cr_expect_not_null(
        strstr(err.detail, "code ResourceNotFoundException, request id "), "%s",
        err.detail);
    dsb_aws_free(a);
}

Test(aws_moto, secret_with_instance_role_credentials)
{
    struct dsb_aws *a;
    struct dsb_error err;
    char name[128], *v = NULL;

    unique(name, sizeof(name), "imds");
    a = client();
    sm_call(a, "CreateSecret",
            json_pack("{s:s,s:s}", "Name", name, "SecretString",
                      "plain-text-value"));
    dsb_aws_free(a);
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    unsetenv("AWS_EC2_METADATA_DISABLED");
    setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", moto, 1);
    a = client();
    cr_assert_eq(dsb_aws_secret_fetch(a, name, &v, &err), 0, "%s: %s",
                 err.message, err.detail);
    cr_expect_str_eq(v, "plain-text-value");
    dsb_secret_value_free(v);
    dsb_aws_free(a);
}

#define EXPIRED                                                                     \
    "{\"status\": 400, \"body\": \"{\\\"__type\\\": \\\"ExpiredTokenException\\\"," \
    " \\\"message\\\": \\\"The security token included in the request is "          \
    "expired\\\"}\"}"

Test(aws_moto, expired_token_with_static_keys_is_auth_error)
{
    struct dsb_aws *a;
    struct dsb_error err;
    char *v = NULL, *log;
    json_t *reqs;

    setenv("AWS_SESSION_TOKEN", "stale-session-token-abc", 1);
    scripted_start(&srv, "[" EXPIRED "]");
    setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", srv.url, 1);
    a = client();
    at_log_begin(logpath);
    cr_assert_eq(dsb_aws_secret_fetch(a, "prod/db", &v, &err), -1);
    log = at_log_end(logpath);
    cr_expect_eq(err.code, DSB_E_AUTH);
    cr_expect_str_eq(err.upstream, "ExpiredTokenException");
    cr_expect_not_null(strstr(err.message, "aws-sm:prod/db"), "%s",
                       err.message);
    cr_expect_not_null(strstr(err.hint, "AWS_SESSION_TOKEN"), "%s", err.hint);
    cr_expect_null(strstr(err.detail, "stale-session-token-abc"));
    cr_expect_null(strstr(log, "stale-session-token-abc"));
    no_secret_in_error(&err);
    no_secret_in(log);
    reqs = scripted_requests(&srv);
    cr_expect_eq(json_array_size(reqs), 1, "static keys: no refresh, no retry");
    json_decref(reqs);
    free(log);
    dsb_aws_free(a);
}

Test(aws_moto, expired_token_refreshes_instance_credentials_once)
{
    struct dsb_aws *a;
    struct dsb_error err;
    char *v = NULL;
    json_t *reqs;

    scripted_start(&srv,
                   "[" EXPIRED ", {\"status\": 200, \"body\": \"{\\\"Name"
                   "\\\": \\\"prod/db\\\", \\\"SecretString\\\": \\\"s3cr3t-"
                   "after-refresh\\\"}\"}]");
    setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", srv.url, 1);
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    unsetenv("AWS_EC2_METADATA_DISABLED");
    setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", moto, 1);
    a = client();
    cr_assert_eq(dsb_aws_secret_fetch(a, "prod/db", &v, &err), 0, "%s",
                 err.message);
    cr_expect_str_eq(v, "s3cr3t-after-refresh");
    dsb_secret_value_free(v);
    reqs = scripted_requests(&srv);
    cr_expect_eq(json_array_size(reqs), 2);
    cr_expect_str_eq(req_header(reqs, 1, "x-amz-target"),
                     "secretsmanager.GetSecretValue");
    cr_expect_str_eq(
        json_string_value(json_object_get(json_array_get(reqs, 1), "body")),
        "{\"SecretId\":\"prod/db\"}");
    json_decref(reqs);
    dsb_aws_free(a);
}

/* Secrets Manager's form (JSON __type UnrecognizedClientException); moto's
 * is Query XML InvalidClientTokenId (test_moto_auth.c). */
Test(aws_moto, bad_keys_are_auth_errors)
{
    struct dsb_aws *a;
    struct dsb_error err;
    char *v = NULL;

    scripted_start(&srv,
                   "[{\"status\": 400, \"headers\": {\"x-amzn-RequestId\": "
                   "\"r-77\"}, \"body\": \"{\\\"__type\\\": \\\"Unrecognized"
                   "ClientException\\\", \\\"message\\\": \\\"The security "
                   "token included in the request is invalid.\\\"}\"}]");
    setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", srv.url, 1);
    a = client();
    cr_assert_eq(dsb_aws_secret_fetch(a, "prod/db", &v, &err), -1);
    cr_expect_eq(err.code, DSB_E_AUTH);
    cr_expect_str_eq(err.upstream, "UnrecognizedClientException");
    cr_expect_str_eq(err.message,
                     "cannot read secret \"aws-sm:prod/db\": aws "
                     "UnrecognizedClientException: The security token included "
                     "in the request is invalid.");
    cr_expect_not_null(strstr(err.detail, "request id r-77"), "%s", err.detail);
    cr_expect_not_null(strstr(err.hint, "AWS_ACCESS_KEY_ID"));
    no_secret_in_error(&err);
    dsb_aws_free(a);
}

/* moto never throttles: scripted. */
Test(aws_moto, throttled_then_secret)
{
    struct dsb_aws *a;
    struct dsb_error err;
    char *v = NULL, *log;

    scripted_start(
        &srv, "[{\"status\": 400, \"body\": \"{\\\"__type\\\": \\\"Throttling"
              "Exception\\\", \\\"message\\\": \\\"Rate exceeded\\\"}\"},"
              "{\"status\": 200, \"body\": \"{\\\"SecretString\\\": "
              "\\\"pw-Xy7!q9-unique-4242\\\"}\"}]");
    setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", srv.url, 1);
    a = client();
    at_log_begin(logpath);
    cr_assert_eq(dsb_aws_secret_fetch(a, "prod/db", &v, &err), 0, "%s",
                 err.message);
    log = at_log_end(logpath);
    cr_expect_str_eq(v, "pw-Xy7!q9-unique-4242");
    cr_expect_not_null(strstr(log, "ThrottlingException; retrying in"), "%s",
                       log);
    no_secret_in(log);
    dsb_secret_value_free(v);
    free(log);
    dsb_aws_free(a);
}
