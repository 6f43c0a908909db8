/* The credential chain: order, shared files and profiles, container
 * endpoint (scripted), IMDSv2 (moto_server), refresh. */
#include "aws_test.h"

#include "aws/credentials.h"
#include "aws/http.h"
#include "aws/ini.h"

static struct scripted srv;
static char home[256];

static void setup(void)
{
    at_make_dir(home, sizeof(home));
    at_clean_env(home);
}

static void teardown(void)
{
    scripted_stop(&srv);
    dsb_aws_http_thread_cleanup();
    at_leak_check();
}

TestSuite(aws_creds, .init = setup, .fini = teardown);

static void write_home_file(const char *name, const char *text)
{
    char path[512];

    snprintf(path, sizeof(path), "%s/.aws", home);
    mkdir(path, 0700);
    snprintf(path, sizeof(path), "%s/.aws/%s", home, name);
    at_write(path, text);
}

static void files(void)
{
    write_home_file(
        "credentials",
        "# comment\n[default]\naws_access_key_id = AKIDFILEDEFAULT\n"
        "aws_secret_access_key=secretfiledefault\n\n"
        "[dev]\n  ; indented comment\nAWS_Access_Key_ID = AKIDFILEDEV \n"
        "aws_secret_access_key = secret=with=equals\n"
        "aws_session_token = tokdev\n");
    write_home_file(
        "config",
        "[default]\nregion = us-west-2\n[profile dev]\nregion=eu-north-1\n"
        "s3 =\n  max_concurrent_requests = 10\n"
        "[profile cfgonly]\naws_access_key_id = AKIDCONFIGONLY\n"
        "aws_secret_access_key = secretconfigonly\n"
        "[profile assumer]\nrole_arn = arn:aws:iam::123456789012:role/x\n"
        "source_profile = default\n");
}

static int get(const char *profile, struct dsb_aws_creds *c,
               struct dsb_error *e)
{
    struct dsb_aws_credprov *p = dsb_aws_credprov_new(profile);
    int rc = dsb_aws_credprov_get(p, c, e);

    dsb_aws_credprov_free(p);
    return rc;
}

static char *creds_json(long long expires_in_s)
{
    char exp[64], *out = malloc(1024);
    time_t t = time(NULL) + expires_in_s;
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(exp, sizeof(exp), "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(
        out, 1024,
        "{\"status\": 200, \"body\": \"{\\\"AccessKeyId\\\": "
        "\\\"ASIACONTAINER\\\", \\\"SecretAccessKey\\\": \\\"containersecret"
        "\\\", \\\"Token\\\": \\\"containertoken\\\", \\\"Expiration\\\": "
        "\\\"%s\\\"}\"}",
        exp);
    return out;
}

Test(aws_creds, environment_first)
{
    struct dsb_aws_creds c;
    struct dsb_error e;

    files();
    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "secretenv", 1);
    setenv("AWS_SESSION_TOKEN", "tokenenv", 1);
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:9/creds", 1);
    cr_assert_eq(get(NULL, &c, &e), 0, "%s", e.message);
    cr_expect_str_eq(c.source, "env");
    cr_expect_str_eq(c.access_key, "AKIDENV");
    cr_expect_str_eq(c.secret_key, "secretenv");
    cr_expect_str_eq(c.session_token, "tokenenv");
    cr_expect_eq(c.expires_ms, 0);
    dsb_aws_creds_clear(&c);
}

Test(aws_creds, partial_environment_is_an_error)
{
    struct dsb_aws_creds c;
    struct dsb_error e;

    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    cr_assert_eq(get(NULL, &c, &e), -1);
    cr_expect_eq(e.code, DSB_E_CONFIG);
    cr_expect_str_eq(e.message, "AWS_ACCESS_KEY_ID is set but "
                                "AWS_SECRET_ACCESS_KEY is not");
}

Test(aws_creds, shared_files_default_and_aws_profile)
{
    struct dsb_aws_creds c;
    struct dsb_error e;
    char *region;

    files();
    cr_assert_eq(get(NULL, &c, &e), 0, "%s", e.message);
    cr_expect_str_eq(c.source, "shared-credentials-file");
    cr_expect_str_eq(c.access_key, "AKIDFILEDEFAULT");
    cr_expect_str_eq(c.secret_key, "secretfiledefault");
    cr_expect_null(c.session_token);
    dsb_aws_creds_clear(&c);
    region = dsb_aws_profile_region(NULL);
    cr_expect_str_eq(region, "us-west-2");
    free(region);
    setenv("AWS_PROFILE", "dev", 1);
    cr_assert_eq(get(NULL, &c, &e), 0, "%s", e.message);
    cr_expect_str_eq(c.access_key, "AKIDFILEDEV");
    cr_expect_str_eq(c.secret_key, "secret=with=equals");
    cr_expect_str_eq(c.session_token, "tokdev");
    dsb_aws_creds_clear(&c);
    region = dsb_aws_profile_region(NULL);
    cr_expect_str_eq(region, "eu-north-1");
    free(region);
}

Test(aws_creds, explicit_profile_skips_environment)
{
    struct dsb_aws_creds c;
    struct dsb_error e;

    files();
    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "secretenv", 1);
    cr_assert_eq(get("cfgonly", &c, &e), 0, "%s", e.message);
    cr_expect_str_eq(c.source, "shared-config-file");
    cr_expect_str_eq(c.access_key, "AKIDCONFIGONLY");
    dsb_aws_creds_clear(&c);
}

Test(aws_creds, env_file_paths_and_missing_profile)
{
    struct dsb_aws_creds c;
    struct dsb_error e;
    char p1[512], p2[512];

    snprintf(p1, sizeof(p1), "%s/creds.ini", home);
    snprintf(p2, sizeof(p2), "%s/conf.ini", home);
    at_write(p1,
             "[other]\naws_access_key_id=AKIDOTHER\naws_secret_access_key=s\n");
    at_write(p2, "");
    setenv("AWS_SHARED_CREDENTIALS_FILE", p1, 1);
    setenv("AWS_CONFIG_FILE", p2, 1);
    setenv("AWS_PROFILE", "other", 1);
    cr_assert_eq(get(NULL, &c, &e), 0, "%s", e.message);
    cr_expect_str_eq(c.access_key, "AKIDOTHER");
    dsb_aws_creds_clear(&c);
    cr_assert_eq(get("nosuch", &c, &e), -1);
    cr_expect_eq(e.code, DSB_E_CONFIG);
    cr_expect_str_eq(e.message, "AWS profile \"nosuch\" not found");
    cr_expect_not_null(strstr(e.detail, p1));
    cr_expect_not_null(strstr(e.detail, p2));
}

Test(aws_creds, unsupported_profile_kind_is_explained)
{
    struct dsb_aws_creds c;
    struct dsb_error e;

    files();
    cr_assert_eq(get("assumer", &c, &e), -1);
    cr_expect_eq(e.code, DSB_E_CONFIG);
    cr_expect_not_null(strstr(e.message, "uses role_arn"), "%s", e.message);
}

Test(aws_creds, container_endpoint_with_token_file)
{
    struct dsb_aws_creds c;
    struct dsb_error e;
    char url[256], tokfile[512], *one = creds_json(3600), script[1200];
    json_t *reqs;

    snprintf(script, sizeof(script), "[%s]", one);
    free(one);
    scripted_start(&srv, script);
    snprintf(url, sizeof(url), "%s/v2/credentials/abc", srv.url);
    snprintf(tokfile, sizeof(tokfile), "%s/token", home);
    at_write(tokfile, "file-token-value\n");
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "env-token-value", 1);
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", tokfile, 1);
    cr_assert_eq(get(NULL, &c, &e), 0, "%s", e.message);
    cr_expect_str_eq(c.source, "container");
    cr_expect_str_eq(c.access_key, "ASIACONTAINER");
    cr_expect_str_eq(c.secret_key, "containersecret");
    cr_expect_str_eq(c.session_token, "containertoken");
    cr_expect(c.expires_ms > 0);
    dsb_aws_creds_clear(&c);
    reqs = scripted_requests(&srv);
    cr_assert_eq(json_array_size(reqs), 1);
    cr_expect_str_eq(
        json_string_value(json_object_get(json_array_get(reqs, 0), "path")),
        "/v2/credentials/abc");
    cr_expect_str_eq(req_header(reqs, 0, "authorization"), "file-token-value");
    json_decref(reqs);
}

Test(aws_creds, container_full_uri_must_be_local_or_https)
{
    struct dsb_aws_creds c;
    struct dsb_error e;

    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI",
           "http://127.evil.example/creds", 1);
    cr_assert_eq(get(NULL, &c, &e), -1);
    cr_expect_eq(e.code, DSB_E_CONFIG);
    cr_expect_str_eq(e.detail, "got http://127.evil.example/creds");
    cr_expect_not_null(strstr(e.hint, "127.0.0.0/8"), "%s", e.hint);
}

Test(aws_creds, container_full_uri_accept_refuse_table)
{
    static const char *const accepted[] = {
        "http://127.0.0.1/creds",
        "http://127.0.0.1:51679/v2/credentials/x",
        "http://127.255.3.4/",
        "HTTP://127.0.0.1/",
        "http://[::1]:8080/creds",
        "http://[0:0:0:0:0:0:0:1]/",
        "http://169.254.170.2/v2/credentials",
        "http://169.254.170.2:80/x",
        "http://169.254.170.23/v1/credentials",
        "http://[fd00:ec2::23]/v1/credentials",
        "https://creds.example.com/x",
        "https://203.0.113.5/",
        NULL};
    static const char *const refused[] = {"http://127.evil.example/",
                                          "http://127.0.0.1.evil.example/",
                                          "http://localhost/creds",
                                          "http://203.0.113.5/creds",
                                          "http://169.254.170.3/",
                                          "http://169.254.170.2.evil.example/",
                                          "http://[::2]/",
                                          "http://[fd00:ec2::24]/",
                                          "http://[::ffff:127.0.0.1]/",
                                          "http://127.0.0.1@evil.example/",
                                          "ftp://127.0.0.1/",
                                          "file:///etc/passwd",
                                          "127.0.0.1/creds",
                                          "http://",
                                          "",
                                          NULL};
    const char *const *u;

    for (u = accepted; *u; u++)
        cr_expect(dsb_aws_container_url_allowed(*u), "refused %s", *u);
    for (u = refused; *u; u++)
        cr_expect_not(dsb_aws_container_url_allowed(*u), "accepted %s", *u);
}

static void container_creds_from(int relative)
{
    struct dsb_aws_creds c;
    struct dsb_error e;
    char *one = creds_json(3600), script[1200], full[256];
    json_t *reqs;

    snprintf(script, sizeof(script), "[%s]", one);
    free(one);
    scripted_start(&srv, script);
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "env-only-token", 1);
    snprintf(full, sizeof(full), "%s/v2/credentials/rel-id", srv.url);
    if (relative) {
        dsb_aws_set_container_base(srv.url);
        setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
               "v2/credentials/rel-id", 1);
        snprintf(full, sizeof(full), "https://never.example/x");
    }
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", full, 1);
    cr_assert_eq(get(NULL, &c, &e), 0, "%s: %s", e.message, e.detail);
    dsb_aws_set_container_base(NULL);
    cr_expect_str_eq(c.source, "container");
    cr_expect_str_eq(c.access_key, "ASIACONTAINER");
    cr_expect_str_eq(c.session_token, "containertoken");
    dsb_aws_creds_clear(&c);
    reqs = scripted_requests(&srv);
    cr_assert_eq(json_array_size(reqs), 1);
    cr_expect_str_eq(
        json_string_value(json_object_get(json_array_get(reqs, 0), "path")),
        "/v2/credentials/rel-id");
    cr_expect_str_eq(req_header(reqs, 0, "authorization"), "env-only-token");
    json_decref(reqs);
}

/* The relative URI ("/" added) is appended to the ECS agent's address (here
 * the scripted endpoint) and wins over a full URI; the token comes from the
 * environment alone. */
Test(aws_creds, container_relative_uri_with_env_token)
{
    container_creds_from(1);
}

Test(aws_creds, container_full_uri_with_env_token_only)
{
    container_creds_from(0);
}

Test(aws_creds, files_come_before_container)
{
    struct dsb_aws_creds c;
    struct dsb_error e;

    files();
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:9/creds", 1);
    cr_assert_eq(get(NULL, &c, &e), 0, "%s", e.message);
    cr_expect_str_eq(c.source, "shared-credentials-file");
    dsb_aws_creds_clear(&c);
}

Test(aws_creds, temporary_credentials_are_refreshed_before_expiry)
{
    struct dsb_aws_credprov *p;
    struct dsb_aws_creds c;
    struct dsb_error e;
    char *one = creds_json(120), script[2400]; /* inside the 15 min window */
    json_t *reqs;

    snprintf(script, sizeof(script),
             "[%s, {\"status\": 500, \"body\": \"down\"}]", one);
    free(one);
    scripted_start(&srv, script);
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", srv.url, 1);
    p = dsb_aws_credprov_new(NULL);
    cr_assert_eq(dsb_aws_credprov_get(p, &c, &e), 0, "%s", e.message);
    dsb_aws_creds_clear(&c);
    /* refresh fails, the old ones are still valid for two minutes */
    cr_assert_eq(dsb_aws_credprov_get(p, &c, &e), 0, "%s", e.message);
    cr_expect_str_eq(c.access_key, "ASIACONTAINER");
    dsb_aws_creds_clear(&c);
    reqs = scripted_requests(&srv);
    cr_expect_eq(json_array_size(reqs), 2);
    json_decref(reqs);
    /* forced expiry (ExpiredToken): the failed refresh is now an error */
    cr_expect_eq(dsb_aws_credprov_expire(p), 1);
    cr_expect_eq(dsb_aws_credprov_get(p, &c, &e), -1);
    cr_expect_eq(e.code, DSB_E_AUTH);
    dsb_aws_credprov_free(p);
}

Test(aws_creds, long_lived_temporary_credentials_are_cached)
{
    struct dsb_aws_credprov *p;
    struct dsb_aws_creds c;
    struct dsb_error e;
    char *one = creds_json(3600), script[1200];
    json_t *reqs;

    snprintf(script, sizeof(script), "[%s]", one);
    free(one);
    scripted_start(&srv, script);
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", srv.url, 1);
    p = dsb_aws_credprov_new(NULL);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(dsb_aws_credprov_get(p, &c, &e), 0, "%s", e.message);
        dsb_aws_creds_clear(&c);
    }
    reqs = scripted_requests(&srv);
    cr_expect_eq(json_array_size(reqs), 1);
    json_decref(reqs);
    dsb_aws_credprov_free(p);
}

Test(aws_creds, nothing_found)
{
    struct dsb_aws_creds c;
    struct dsb_error e;

    cr_assert_eq(get(NULL, &c, &e), -1);
    cr_expect_eq(e.code, DSB_E_AUTH);
    cr_expect_str_eq(e.message, "no AWS credentials found");
    cr_expect_not_null(strstr(e.hint, "AWS_ACCESS_KEY_ID"));
}

Test(aws_creds, iso8601)
{
    cr_expect_eq(dsb_aws_parse_iso8601("2024-02-29T23:59:58Z"),
                 1709251198000LL);
    cr_expect_eq(dsb_aws_parse_iso8601("2024-02-29T23:59:58.123Z"),
                 1709251198000LL);
    cr_expect_eq(dsb_aws_parse_iso8601("2024-02-29T23:59:58+00:00"),
                 1709251198000LL);
    cr_expect_eq(dsb_aws_parse_iso8601("2024-02-29 23:59"), -1);
    cr_expect_eq(dsb_aws_parse_iso8601("2024-02-29T23:59:58+02:00"), -1);
}

/* IMDSv2 against moto_server, which serves it on its own port. */
static void moto_url(char *url, size_t cap)
{
    t_service("moto", "DSB_TEST_MOTO_URL", url, cap);
}

Test(aws_creds_imds, instance_role_from_moto, .init = setup)
{
    struct dsb_aws_creds c;
    struct dsb_error e;
    char url[256];

    moto_url(url, sizeof(url));
    unsetenv("AWS_EC2_METADATA_DISABLED");
    setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", url, 1);
    cr_assert_eq(get(NULL, &c, &e), 0, "%s: %s", e.message, e.detail);
    cr_expect_str_eq(c.source, "instance metadata");
    cr_expect(strlen(c.access_key) > 0);
    cr_expect(strlen(c.secret_key) > 0);
    cr_expect_not_null(c.session_token);
    cr_expect(c.expires_ms > (long long)time(NULL) * 1000, "expires %lld",
              (long long)c.expires_ms);
    dsb_aws_creds_clear(&c);
    setenv("AWS_EC2_METADATA_DISABLED", "TRUE", 1);
    cr_assert_eq(get(NULL, &c, &e), -1);
    cr_expect_str_eq(e.message, "no AWS credentials found");
}

Test(aws_creds_imds, unreachable_imds_is_quick, .init = setup)
{
    struct dsb_aws_creds c;
    struct dsb_error e;
    long long t0 = at_now_ms();

    unsetenv("AWS_EC2_METADATA_DISABLED");
    setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:9", 1);
    cr_assert_eq(get(NULL, &c, &e), -1);
    cr_expect_eq(e.code, DSB_E_AUTH);
    cr_expect_not_null(strstr(e.detail, "instance metadata"), "%s", e.detail);
    cr_expect(at_now_ms() - t0 < 2500);
}
