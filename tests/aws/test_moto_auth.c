/* Secrets Manager through the AWS client and core/secrets against a
 * moto_server that checks credentials (fixture moto_auth: moto.sh ... auth,
 * IAM users made by tests/scripts/moto_auth.py, then moto's IAM access
 * control on).  It verifies SigV4 signatures of JSON 1.1 calls with the
 * user's secret key and the users' policies, and answers AWS's Query-style
 * XML errors (403 InvalidClientTokenId, SignatureDoesNotMatch, AccessDenied).
 * Throttling cannot be produced by moto: test_moto.c scripts it. */
#include "aws_test.h"

#include "aws/aws.h"
#include "log.h"
#include "secrets.h"

#define RDS_SECRET                                                             \
    "{\"username\":\"app\",\"password\":\"pw-auth-3f9a-unique-5151\","         \
    "\"host\":\"db.internal\",\"port\":5432,\"dbname\":\"sales\"}"
#define ROTATED_PASSWORD "pw-auth-rotated-71c2-unique-6262"
#define WRONG_SECRET "wrong-secret-key-d41d-unique-0000"
#define UNKNOWN_KEY_ID "AKIADSBUNKNOWN000001"
#define FULL_QUOTA 500

static char home[256], url[256], logpath[512];
static char reader_secret[128], admin_secret[128];

/* One profile per identity in HOME/.aws/credentials. */
static void write_profiles(void)
{
    char dir[300], path[320], admin_id[64], reader_id[64], text[1024];

    t_service("moto-auth", "DSB_TEST_MOTO_AUTH_ADMIN_KEY_ID", admin_id,
              sizeof(admin_id));
    t_service("moto-auth", "DSB_TEST_MOTO_AUTH_ADMIN_SECRET", admin_secret,
              sizeof(admin_secret));
    t_service("moto-auth", "DSB_TEST_MOTO_AUTH_READER_KEY_ID", reader_id,
              sizeof(reader_id));
    t_service("moto-auth", "DSB_TEST_MOTO_AUTH_READER_SECRET", reader_secret,
              sizeof(reader_secret));
    snprintf(text, sizeof(text),
             "[admin]\naws_access_key_id = %s\naws_secret_access_key = %s\n"
             "[reader]\naws_access_key_id = %s\naws_secret_access_key = %s\n"
             "[unknown]\naws_access_key_id = " UNKNOWN_KEY_ID "\n"
             "aws_secret_access_key = %s\n"
             "[wrong-secret]\naws_access_key_id = %s\n"
             "aws_secret_access_key = " WRONG_SECRET "\n",
             admin_id, admin_secret, reader_id, reader_secret, reader_secret,
             reader_id);
    snprintf(dir, sizeof(dir), "%s/.aws", home);
    cr_assert_eq(mkdir(dir, 0700), 0);
    snprintf(path, sizeof(path), "%s/credentials", dir);
    at_write(path, text);
}

static void setup(void)
{
    at_make_dir(home, sizeof(home));
    at_clean_env(home);
    t_service("moto-auth", "DSB_TEST_MOTO_AUTH_URL", url, sizeof(url));
    write_profiles();
    setenv("AWS_REGION", "us-east-1", 1);
    setenv("AWS_ENDPOINT_URL", url, 1);
    snprintf(logpath, sizeof(logpath), "%s/log.txt", home);
    dsb_log_set_level(DSB_LOG_DEBUG);
}

static void teardown(void)
{
    dsb_aws_thread_cleanup();
    at_leak_check();
}

TestSuite(aws_moto_auth, .init = setup, .fini = teardown);

static struct dsb_aws *client(const char *profile)
{
    struct dsb_aws_options o = {
        .profile = profile, .backoff_base_ms = 10, .backoff_cap_ms = 50};
    struct dsb_error err;
    struct dsb_aws *a = dsb_aws_new(&o, &err);

    cr_assert_not_null(a, "%s", err.message);
    return a;
}

/* A secret name unique to this process (tests run in parallel). */
static void unique(char *name, size_t cap, const char *what)
{
    snprintf(name, cap, "dsb/auth/%s-%d", what, (int)getpid());
}

static void admin_call(const char *op, json_t *body)
{
    struct dsb_aws *a = client("admin");
    char target[96];
    struct dsb_error err;
    json_t *out = NULL;

    snprintf(target, sizeof(target), "secretsmanager.%s", op);
    cr_assert_eq(
        dsb_aws_call_json(a, "secretsmanager", target, NULL, body, &out, &err),
        0, "%s: %s", op, err.message);
    json_decref(out);
    json_decref(body);
    dsb_aws_free(a);
}

static void no_secret_in(const char *text)
{
    cr_expect_null(strstr(text, "pw-auth-3f9a-unique-5151"), "leak: %s", text);
    cr_expect_null(strstr(text, ROTATED_PASSWORD), "leak: %s", text);
    cr_expect_null(strstr(text, WRONG_SECRET), "leak: %s", text);
    cr_expect_null(strstr(text, reader_secret), "leak: %s", text);
    cr_expect_null(strstr(text, admin_secret), "leak: %s", text);
}

static void no_secret_in_error(const struct dsb_error *e)
{
    no_secret_in(e->message);
    no_secret_in(e->detail);
    no_secret_in(e->hint);
}

static void get(struct dsb_secrets *s, const char *ref, const char *want)
{
    struct dsb_error err;
    char *v = NULL;

    cr_assert_eq(dsb_secrets_get(s, ref, &v, &err), 0, "%s: %s (%s)", ref,
                 err.message, err.detail);
    cr_expect_str_eq(v, want, "%s", ref);
    dsb_secret_value_free(v);
}

Test(aws_moto_auth, reader_key_reads_rds_secret_and_rotation_after_invalidation)
{
    struct dsb_aws *a = client("reader");
    struct dsb_secrets *s = dsb_secrets_new(3600 * 1000);
    char name[128], ref[192], *log;

    unique(name, sizeof(name), "rds");
    admin_call("CreateSecret", json_pack("{s:s,s:s}", "Name", name,
                                         "SecretString", RDS_SECRET));
    dsb_secrets_set_aws_backend(s, dsb_aws_secret_fetch, a);
    at_log_begin(logpath);
    snprintf(ref, sizeof(ref), "aws-sm:%s#password", name);
    get(s, ref, "pw-auth-3f9a-unique-5151");
    snprintf(ref, sizeof(ref), "aws-sm:%s#port", name);
    get(s, ref, "5432");
    snprintf(ref, sizeof(ref), "aws-sm:%s", name);
    get(s, ref, RDS_SECRET);

    admin_call(
        "PutSecretValue",
        json_pack("{s:s,s:s}", "SecretId", name, "SecretString",
                  "{\"username\":\"app\",\"password\":\"" ROTATED_PASSWORD
                  "\",\"host\":\"db.internal\",\"port\":5433,"
                  "\"dbname\":\"sales\"}"));
    snprintf(ref, sizeof(ref), "aws-sm:%s#password", name);
    get(s, ref, "pw-auth-3f9a-unique-5151"); /* cached until invalidated */
    dsb_secrets_invalidate(s, ref);
    get(s, ref, ROTATED_PASSWORD);
    snprintf(ref, sizeof(ref), "aws-sm:%s#port", name);
    get(s, ref, "5433");
    log = at_log_end(logpath);
    no_secret_in(log);
    free(log);
    dsb_secrets_free(s);
    dsb_aws_free(a);
}

Test(aws_moto_auth, missing_secret_with_a_valid_key_is_not_found)
{
    struct dsb_aws *a = client("reader");
    struct dsb_error err;
    char *v = NULL;

    cr_assert_eq(dsb_aws_secret_fetch(a, "dsb/auth/does-not-exist", &v, &err),
                 -1);
    cr_expect_null(v);
    cr_expect_eq(err.code, DSB_E_NOT_FOUND, "%s", err.message);
    cr_expect_str_eq(err.upstream, "ResourceNotFoundException");
    cr_expect_str_eq(err.message,
                     "secret \"aws-sm:dsb/auth/does-not-exist\" not found");
    dsb_aws_free(a);
}

/* Fetches a secret that exists with profile's keys, which moto refuses:
 * checks the common parts of the error, no retry and no leak. */
static void fetch_refused(const char *profile, struct dsb_error *err)
{
    struct dsb_aws *a;
    char name[128], *v = NULL, *log;

    unique(name, sizeof(name), profile);
    admin_call("CreateSecret", json_pack("{s:s,s:s}", "Name", name,
                                         "SecretString", RDS_SECRET));
    a = client(profile);
    at_log_begin(logpath);
    cr_assert_eq(dsb_aws_secret_fetch(a, name, &v, err), -1);
    log = at_log_end(logpath);
    cr_expect_null(v);
    cr_expect_eq(err->retryable, 0);
    cr_expect_eq(dsb_aws_retry_quota(a), FULL_QUOTA, "no retry may be spent");
    cr_expect_null(strstr(log, "retrying"), "%s", log);
    cr_expect_not_null(strstr(err->message, name), "%s", err->message);
    cr_expect_not_null(strstr(err->detail, "HTTP 403"), "%s", err->detail);
    cr_expect_not_null(strstr(err->detail, "request id "), "%s", err->detail);
    no_secret_in_error(err);
    no_secret_in(log);
    free(log);
    dsb_aws_free(a);
}

Test(aws_moto_auth, unknown_access_key_is_auth_error_not_retried)
{
    struct dsb_error err;

    fetch_refused("unknown", &err);
    cr_expect_eq(err.code, DSB_E_AUTH, "%s", err.message);
    cr_expect_str_eq(err.upstream, "InvalidClientTokenId");
    cr_expect_not_null(strstr(err.message,
                              ": aws InvalidClientTokenId: The "
                              "security token included in the request is "
                              "invalid."),
                       "%s", err.message);
    cr_expect_not_null(strstr(err.hint, "AWS_ACCESS_KEY_ID"), "%s", err.hint);
}

Test(aws_moto_auth, wrong_secret_key_is_signature_error_not_retried)
{
    struct dsb_error err;

    fetch_refused("wrong-secret", &err);
    cr_expect_eq(err.code, DSB_E_AUTH, "%s", err.message);
    cr_expect_str_eq(err.upstream, "SignatureDoesNotMatch");
    cr_expect_not_null(strstr(err.message,
                              ": aws SignatureDoesNotMatch: The "
                              "request signature we calculated does not match"),
                       "%s", err.message);
    cr_expect_not_null(strstr(err.hint, "secret access key"), "%s", err.hint);
}

Test(aws_moto_auth, action_outside_the_policy_is_permission_error)
{
    struct dsb_aws *a = client("reader");
    struct dsb_error err;
    json_t *body = json_pack("{s:s,s:s}", "Name", "dsb/auth/not-allowed",
                             "SecretString", "x"),
           *out = NULL;

    cr_assert_eq(dsb_aws_call_json(a, "secretsmanager",
                                   "secretsmanager.CreateSecret", NULL, body,
                                   &out, &err),
                 -1);
    cr_expect_null(out);
    cr_expect_eq(err.code, DSB_E_PERMISSION, "%s", err.message);
    cr_expect_eq(err.retryable, 0);
    cr_expect_str_eq(err.upstream, "AccessDenied");
    cr_expect_not_null(strstr(err.message,
                              "user/dsb-reader is not authorized "
                              "to perform: secretsmanager:CreateSecret"),
                       "%s", err.message);
    cr_expect_eq(dsb_aws_retry_quota(a), FULL_QUOTA);
    no_secret_in_error(&err);
    json_decref(body);
    dsb_aws_free(a);
}
