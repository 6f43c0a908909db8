/* The AWS client against a scripted endpoint: retries, backoff, timeouts,
 * error mapping field by field, endpoint resolution. */
#include "aws_test.h"

#include "aws/aws.h"
#include "aws/errors.h"
#include "util.h"
#include "config.h"

static struct scripted srv;
static char home[256];

static void setup(void)
{
    at_make_dir(home, sizeof(home));
    at_clean_env(home);
    setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
           1);
    setenv("AWS_REGION", "eu-west-1", 1);
}

static void teardown(void)
{
    scripted_stop(&srv);
    dsb_aws_thread_cleanup();
    at_leak_check();
}

TestSuite(aws_client, .init = setup, .fini = teardown);

static struct dsb_aws *client(int attempts, long timeout_ms)
{
    struct dsb_aws_options o = {.endpoint_url = srv.url,
                                .max_attempts = attempts,
                                .timeout_ms = timeout_ms,
                                .connect_timeout_ms = 1000,
                                .backoff_base_ms = 10,
                                .backoff_cap_ms = 40};
    struct dsb_error err;
    struct dsb_aws *a = dsb_aws_new(&o, &err);

    cr_assert_not_null(a, "%s", err.message);
    return a;
}

#define THROTTLE                                                               \
    "{\"status\": 400, \"headers\": {\"x-amzn-RequestId\": \"req-1\"},"        \
    " \"body\": \"{\\\"__type\\\": \\\"ThrottlingException\\\", "              \
    "\\\"message\\\": \\\"Rate exceeded\\\"}\"}"

Test(aws_client, throttling_then_success_is_retried_and_resigned)
{
    struct dsb_aws *a;
    struct dsb_error err;
    json_t *out = NULL, *reqs, *body = json_pack("{s:s}", "Name", "db");

    scripted_start(&srv,
                   "[" THROTTLE ", {\"status\": 200, \"body\": "
                   "\"{\\\"Database\\\": {\\\"Name\\\": \\\"db\\\"}}\"}]");
    a = client(3, 5000);
    cr_assert_eq(dsb_aws_call_json(a, "glue", "AWSGlue.GetDatabase", NULL, body,
                                   &out, &err),
                 0, "%s", err.message);
    cr_expect_str_eq(json_string_value(json_object_get(
                         json_object_get(out, "Database"), "Name")),
                     "db");
    reqs = scripted_requests(&srv);
    cr_assert_eq(json_array_size(reqs), 2);
    for (size_t i = 0; i < 2; i++) {
        cr_expect_str_eq(req_header(reqs, i, "x-amz-target"),
                         "AWSGlue.GetDatabase");
        cr_expect_str_eq(req_header(reqs, i, "content-type"),
                         "application/x-amz-json-1.1");
        cr_expect(strncmp(req_header(reqs, i, "authorization"),
                          "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/", 40) == 0);
        cr_expect_not_null(strstr(req_header(reqs, i, "authorization"),
                                  "/eu-west-1/glue/aws4_request"));
        cr_expect_str_eq(
            json_string_value(json_object_get(json_array_get(reqs, i), "body")),
            "{\"Name\":\"db\"}");
    }
    json_decref(reqs);
    json_decref(out);
    json_decref(body);
    dsb_aws_free(a);
}

Test(aws_client, throttling_until_attempts_run_out)
{
    struct dsb_aws *a;
    struct dsb_error err;
    json_t *out = NULL, *reqs;

    scripted_start(&srv, "[" THROTTLE "]");
    a = client(3, 5000);
    cr_assert_eq(dsb_aws_call_json(a, "glue", "AWSGlue.GetDatabases", NULL,
                                   NULL, &out, &err),
                 -1);
    cr_expect_null(out);
    cr_expect_eq(err.code, DSB_E_THROTTLED);
    cr_expect_eq(err.retryable, 1);
    cr_expect_str_eq(err.upstream, "ThrottlingException");
    cr_expect_str_eq(err.message, "aws ThrottlingException: Rate exceeded");
    cr_expect_not_null(strstr(err.detail, "request id req-1"), "%s",
                       err.detail);
    cr_expect_not_null(strstr(err.detail, "HTTP 400"));
    cr_expect_not_null(strstr(err.hint, "retry later"));
    reqs = scripted_requests(&srv);
    cr_expect_eq(json_array_size(reqs), 3);
    json_decref(reqs);
    dsb_aws_free(a);
}

Test(aws_client, server_errors_are_retried_then_returned)
{
    struct dsb_aws_request r = {
        .service = "s3", .method = "GET", .path = "/b/k"};
    struct dsb_aws_response resp;
    struct dsb_aws *a;
    struct dsb_error err;
    json_t *reqs;

    scripted_start(&srv, "[{\"status\": 503, \"body\": \"<Error><Code>SlowDown"
                         "</Code><Message>Please reduce your request rate."
                         "</Message><RequestId>R9</RequestId></Error>\"}]");
    a = client(2, 5000);
    cr_assert_eq(dsb_aws_send(a, &r, &resp, &err), 0, "%s", err.message);
    cr_expect_eq(resp.status, 503);
    dsb_aws_error_from_response(&resp, &err);
    cr_expect_eq(err.code, DSB_E_THROTTLED);
    cr_expect_eq(err.retryable, 1);
    cr_expect_str_eq(err.upstream, "SlowDown");
    cr_expect_str_eq(err.message,
                     "aws SlowDown: Please reduce your request rate.");
    cr_expect_not_null(strstr(err.detail, "request id R9"), "%s", err.detail);
    reqs = scripted_requests(&srv);
    cr_expect_eq(json_array_size(reqs), 2);
    /* S3: path-style on an override, payload hash sent and signed */
    cr_expect_str_eq(
        json_string_value(json_object_get(json_array_get(reqs, 0), "path")),
        "/b/k");
    cr_expect_str_eq(
        req_header(reqs, 0, "x-amz-content-sha256"),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    cr_expect_not_null(
        strstr(req_header(reqs, 0, "authorization"),
               "SignedHeaders=host;x-amz-content-sha256;x-amz-date,"));
    dsb_aws_response_free(&resp);
    json_decref(reqs);
    dsb_aws_free(a);
}

Test(aws_client, access_denied_is_not_retried)
{
    struct dsb_aws *a;
    struct dsb_error err;
    json_t *out = NULL, *reqs;

    scripted_start(&srv,
                   "[{\"status\": 400, \"headers\": {\"x-amzn-RequestId\":"
                   " \"abc-123\"}, \"body\": \"{\\\"__type\\\": \\\"com."
                   "amazonaws.glue#AccessDeniedException\\\", \\\"Message"
                   "\\\": \\\"User is not authorized to perform: glue:"
                   "GetTables\\\"}\"}]");
    a = client(3, 5000);
    cr_assert_eq(dsb_aws_call_json(a, "glue", "AWSGlue.GetTables", NULL, NULL,
                                   &out, &err),
                 -1);
    cr_expect_eq(err.code, DSB_E_PERMISSION);
    cr_expect_eq(err.retryable, 0);
    cr_expect_str_eq(err.upstream, "AccessDeniedException");
    cr_expect_str_eq(err.message, "aws AccessDeniedException: User is not "
                                  "authorized to perform: glue:GetTables");
    cr_expect_str_eq(err.detail, "HTTP 400, code AccessDeniedException, "
                                 "request id abc-123");
    cr_expect_not_null(strstr(err.hint, "IAM"));
    reqs = scripted_requests(&srv);
    cr_expect_eq(json_array_size(reqs), 1);
    json_decref(reqs);
    dsb_aws_free(a);
}

Test(aws_client, error_type_header_when_body_has_no_code)
{
    struct dsb_aws_request r = {.service = "emr-serverless",
                                .method = "GET",
                                .path = "/applications/app 1"};
    struct dsb_aws_response resp;
    struct dsb_aws *a;
    struct dsb_error err;
    json_t *reqs;

    scripted_start(&srv,
                   "[{\"status\": 400, \"headers\": {\"X-Amzn-ErrorType\":"
                   " \"ResourceNotFoundException:http://internal.amazon."
                   "com/coral/\"}, \"body\": \"{\\\"message\\\": \\\"App"
                   " not found\\\"}\"}]");
    a = client(3, 5000);
    cr_assert_eq(dsb_aws_send(a, &r, &resp, &err), 0);
    dsb_aws_error_from_response(&resp, &err);
    cr_expect_eq(err.code, DSB_E_NOT_FOUND);
    cr_expect_str_eq(err.upstream, "ResourceNotFoundException");
    cr_expect_str_eq(err.message,
                     "aws ResourceNotFoundException: App not found");
    reqs = scripted_requests(&srv);
    cr_expect_eq(json_array_size(reqs), 1);
    cr_expect_str_eq(
        json_string_value(json_object_get(json_array_get(reqs, 0), "path")),
        "/applications/app%201");
    dsb_aws_response_free(&resp);
    json_decref(reqs);
    dsb_aws_free(a);
}

/* A deadline (a plugin call's, handed down explicitly) cuts the attempt
 * short and leaves no room for the retry the client would otherwise make. */
Test(aws_client, deadline_cuts_attempts_and_retries)
{
    struct dsb_aws_request r = {
        .service = "glue", .method = "POST", .path = "/"};
    struct dsb_aws_response resp;
    struct dsb_aws *a;
    struct dsb_error err;
    long long t0 = at_now_ms(), took;
    json_t *reqs;

    scripted_start(&srv,
                   "[{\"status\": 200, \"body\": \"{}\", \"delay_ms\": 3000}]");
    a = client(3, 5000);
    cr_assert_eq(dsb_aws_send_by(a, &r, dsb_monotonic_ms() + 400, &resp, &err),
                 -1);
    took = at_now_ms() - t0;
    cr_expect_eq(err.code, DSB_E_TIMEOUT);
    cr_expect(took >= 350 && took < 2500, "took %lld ms", took);
    reqs = scripted_requests(&srv);
    cr_expect_eq(json_array_size(reqs), 1, "no retry past the deadline");
    json_decref(reqs);
    cr_assert_eq(dsb_aws_send_by(a, &r, dsb_monotonic_ms() - 1, &resp, &err),
                 -1);
    cr_expect_eq(err.code, DSB_E_TIMEOUT);
    cr_expect(strstr(err.message, "deadline passed before the request could "
                                  "be sent"),
              "%s", err.message);
    reqs = scripted_requests(&srv);
    cr_expect_eq(json_array_size(reqs), 1, "nothing sent after it passed");
    json_decref(reqs);
    dsb_aws_free(a);
}

Test(aws_client, slow_endpoint_times_out_each_attempt)
{
    struct dsb_aws_request r = {
        .service = "glue", .method = "POST", .path = "/", .timeout_ms = 300};
    struct dsb_aws_response resp;
    struct dsb_aws *a;
    struct dsb_error err;
    long long t0 = at_now_ms(), took;
    json_t *reqs;

    scripted_start(&srv,
                   "[{\"status\": 200, \"body\": \"{}\", \"delay_ms\": 3000}]");
    a = client(2, 5000);
    cr_assert_eq(dsb_aws_send(a, &r, &resp, &err), -1);
    took = at_now_ms() - t0;
    cr_expect_eq(err.code, DSB_E_TIMEOUT);
    cr_expect_eq(err.retryable, 1);
    cr_expect_str_eq(err.message, "aws glue did not answer within 300 ms");
    cr_expect(took >= 600 && took < 2500, "took %lld ms", took);
    reqs = scripted_requests(&srv);
    cr_expect_eq(json_array_size(reqs), 2);
    json_decref(reqs);
    dsb_aws_free(a);
}

Test(aws_client, connection_refused_is_unavailable)
{
    struct dsb_aws_request r = {
        .service = "glue", .method = "POST", .path = "/"};
    struct dsb_aws_response resp;
    struct dsb_aws *a;
    struct dsb_error err;

    snprintf(srv.url, sizeof(srv.url),
             "http://127.0.0.1:9"); /* discard: closed */
    a = client(2, 1000);
    cr_assert_eq(dsb_aws_send(a, &r, &resp, &err), -1);
    cr_expect_eq(err.code, DSB_E_UNAVAILABLE);
    cr_expect_eq(err.retryable, 1);
    cr_expect_str_eq(err.message, "cannot reach aws glue");
    cr_expect_not_null(strstr(err.detail, "POST http://127.0.0.1:9/"), "%s",
                       err.detail);
    cr_expect_null(resp.body);
    dsb_aws_free(a);
}

Test(aws_client, query_and_session_token_on_the_wire)
{
    struct dsb_kv q[] = {{"prefix", "a b+c/d=e%f"}, {"list-type", "2"}};
    struct dsb_aws_request r = {.service = "s3",
                                .method = "GET",
                                .path = "/bucket",
                                .query = q,
                                .n_query = 2};
    struct dsb_aws_response resp;
    struct dsb_aws *a;
    struct dsb_error err;
    json_t *reqs;

    setenv("AWS_SESSION_TOKEN", "FQoGZXIvYXdzEXAMPLETOKEN", 1);
    scripted_start(&srv, "[{\"status\": 200, \"body\": \"<ok/>\"}]");
    a = client(1, 5000);
    cr_assert_eq(dsb_aws_send(a, &r, &resp, &err), 0, "%s", err.message);
    cr_expect_eq(resp.status, 200);
    cr_expect_str_eq(resp.body, "<ok/>");
    cr_expect_eq(resp.body_len, 5);
    reqs = scripted_requests(&srv);
    cr_expect_str_eq(
        json_string_value(json_object_get(json_array_get(reqs, 0), "path")),
        "/bucket?list-type=2&prefix=a%20b%2Bc%2Fd%3De%25f");
    cr_expect_str_eq(req_header(reqs, 0, "x-amz-security-token"),
                     "FQoGZXIvYXdzEXAMPLETOKEN");
    cr_expect_not_null(strstr(req_header(reqs, 0, "authorization"),
                              "x-amz-date;x-amz-security-token,"));
    dsb_aws_response_free(&resp);
    json_decref(reqs);
    dsb_aws_free(a);
}

Test(aws_client, non_json_success_body_is_not_quoted)
{
    struct dsb_aws *a;
    struct dsb_error err;
    json_t *out = NULL;

    scripted_start(&srv,
                   "[{\"status\": 200, \"body\": \"hunter2-secret-value\"}]");
    a = client(1, 5000);
    cr_assert_eq(dsb_aws_call_json(a, "secretsmanager",
                                   "secretsmanager."
                                   "GetSecretValue",
                                   NULL, NULL, &out, &err),
                 -1);
    cr_expect_eq(err.code, DSB_E_UPSTREAM);
    cr_expect_null(strstr(err.message, "hunter2"));
    cr_expect_null(strstr(err.detail, "hunter2"));
    cr_expect_not_null(strstr(err.detail, "20 bytes"), "%s", err.detail);
    dsb_aws_free(a);
}

static int send_get(struct dsb_aws *a)
{
    struct dsb_aws_request r = {
        .service = "glue", .method = "POST", .path = "/"};
    struct dsb_aws_response resp;
    struct dsb_error err;
    long status;

    cr_assert_eq(dsb_aws_send(a, &r, &resp, &err), 0, "%s", err.message);
    status = resp.status;
    dsb_aws_response_free(&resp);
    return (int)status;
}

static size_t served(void)
{
    json_t *reqs = scripted_requests(&srv);
    size_t n = json_array_size(reqs);

    json_decref(reqs);
    return n;
}

Test(aws_client, success_gives_back_the_retry_cost_or_one_token)
{
    struct dsb_aws *a;

    scripted_start(&srv, "[{\"status\": 500}, {\"status\": 500},"
                         " {\"status\": 200, \"body\": \"{}\"}]");
    a = client(3, 5000);
    cr_expect_eq(dsb_aws_retry_quota(a), 500);
    cr_expect_eq(send_get(a), 200);
    cr_expect_eq(served(), 3);
    cr_expect_eq(dsb_aws_retry_quota(a), 495, "500 - 5 - 5 + 5");
    cr_expect_eq(send_get(a), 200);
    cr_expect_eq(dsb_aws_retry_quota(a), 496, "+1 for a success without retry");
    dsb_aws_free(a);
}

/* 11 requests of 10 attempts spend 11 * 9 * 5 = 495 tokens; the 12th has
 * one retry left, the 13th none; a success then refills one token. */
Test(aws_client, spent_retry_quota_stops_retries_until_successes_refill_it)
{
    char script[8192] = "[";
    struct dsb_aws *a;
    int i;

    for (i = 0; i < 11 * 10 + 2 + 1; i++)
        strcat(script, "{\"status\": 500, \"body\": \"\"}, ");
    strcat(script, "{\"status\": 200, \"body\": \"{}\"}]");
    scripted_start(&srv, script);
    a = client(10, 5000);
    for (i = 0; i < 11; i++)
        cr_assert_eq(send_get(a), 500);
    cr_expect_eq(served(), 110);
    cr_expect_eq(dsb_aws_retry_quota(a), 5);
    cr_expect_eq(send_get(a), 500);
    cr_expect_eq(served(), 112, "one retry, then the quota is spent");
    cr_expect_eq(dsb_aws_retry_quota(a), 0);
    cr_expect_eq(send_get(a), 500);
    cr_expect_eq(served(), 113, "no retry with an empty quota");
    cr_expect_eq(send_get(a), 200);
    cr_expect_eq(dsb_aws_retry_quota(a), 1);
    dsb_aws_free(a);
}

Test(aws_client, connection_failure_retry_costs_ten_tokens)
{
    struct dsb_aws_request r = {
        .service = "glue", .method = "POST", .path = "/"};
    struct dsb_aws_response resp;
    struct dsb_aws *a;
    struct dsb_error err;

    snprintf(srv.url, sizeof(srv.url),
             "http://127.0.0.1:9"); /* discard: closed */
    a = client(3, 1000);
    cr_assert_eq(dsb_aws_send(a, &r, &resp, &err), -1);
    cr_expect_eq(err.code, DSB_E_UNAVAILABLE);
    cr_expect_eq(dsb_aws_retry_quota(a), 480);
    dsb_aws_free(a);
}

/* ------------------------------------------------ no server needed */

Test(aws_errors, retry_decisions)
{
    cr_expect(dsb_aws_should_retry(400, "ThrottlingException"));
    cr_expect(dsb_aws_should_retry(400, "Throttling"));
    cr_expect(dsb_aws_should_retry(400, "TooManyRequestsException"));
    cr_expect(
        dsb_aws_should_retry(400, "ProvisionedThroughputExceededException"));
    cr_expect(dsb_aws_should_retry(503, "SlowDown"));
    cr_expect(dsb_aws_should_retry(400, "RequestLimitExceeded"));
    cr_expect(dsb_aws_should_retry(400, "RequestTimeout"));
    cr_expect(dsb_aws_should_retry(429, ""));
    cr_expect(dsb_aws_should_retry(500, ""));
    cr_expect(dsb_aws_should_retry(502, ""));
    cr_expect(dsb_aws_should_retry(503, ""));
    cr_expect(dsb_aws_should_retry(504, ""));
    cr_expect_not(dsb_aws_should_retry(501, ""));
    cr_expect_not(dsb_aws_should_retry(400, "ValidationException"));
    cr_expect_not(dsb_aws_should_retry(403, "AccessDenied"));
    cr_expect_not(dsb_aws_should_retry(404, "NoSuchKey"));
    cr_expect_not(dsb_aws_should_retry(400, "ExpiredTokenException"));
    cr_expect_not(dsb_aws_should_retry(200, ""));
}

static int mapped(long status, const char *code)
{
    struct dsb_error err;

    dsb_aws_error_map(status, code, "m", "rid", &err);
    cr_expect_str_eq(err.upstream, code);
    return err.code;
}

Test(aws_errors, code_mapping)
{
    cr_expect_eq(mapped(403, "AccessDenied"), DSB_E_PERMISSION);
    cr_expect_eq(mapped(400, "AccessDeniedException"), DSB_E_PERMISSION);
    cr_expect_eq(mapped(400, "ResourceNotFoundException"), DSB_E_NOT_FOUND);
    cr_expect_eq(mapped(404, "NoSuchBucket"), DSB_E_NOT_FOUND);
    cr_expect_eq(mapped(404, "NoSuchKey"), DSB_E_NOT_FOUND);
    cr_expect_eq(mapped(400, "EntityNotFoundException"), DSB_E_NOT_FOUND);
    cr_expect_eq(mapped(400, "UnrecognizedClientException"), DSB_E_AUTH);
    cr_expect_eq(mapped(400, "InvalidSignatureException"), DSB_E_AUTH);
    cr_expect_eq(mapped(403, "SignatureDoesNotMatch"), DSB_E_AUTH);
    cr_expect_eq(mapped(400, "ExpiredToken"), DSB_E_AUTH);
    cr_expect_eq(mapped(400, "ExpiredTokenException"), DSB_E_AUTH);
    cr_expect_eq(mapped(403, "InvalidClientTokenId"), DSB_E_AUTH);
    cr_expect_eq(mapped(400, "ThrottlingException"), DSB_E_THROTTLED);
    cr_expect_eq(mapped(503, "SlowDown"), DSB_E_THROTTLED);
    cr_expect_eq(mapped(500, "InternalFailure"), DSB_E_UPSTREAM);
    cr_expect_eq(mapped(503, "ServiceUnavailable"), DSB_E_UNAVAILABLE);
    cr_expect_eq(mapped(504, ""), DSB_E_TIMEOUT);
    cr_expect_eq(mapped(400, "ValidationException"), DSB_E_INVALID);
    cr_expect_eq(mapped(400, "ResourceExistsException"), DSB_E_CONFLICT);
    cr_expect_eq(mapped(400, "SomethingNew"), DSB_E_UPSTREAM);
    cr_expect_eq(mapped(404, ""), DSB_E_NOT_FOUND);
    cr_expect_eq(mapped(403, ""), DSB_E_PERMISSION);
}

Test(aws_errors, parse_json_xml_and_header)
{
    char code[64], msg[512], rid[128] = "";
    const char *j =
        "{\"__type\":\"com.amazonaws.secretsmanager#ResourceNotFoundException\","
        "\"Message\":\"Secrets Manager can't find the specified secret.\"}";
    const char *x =
        "<?xml version=\"1.0\"?><ErrorResponse><Error><Type>Sender</Type>"
        "<Code>InvalidClientTokenId</Code><Message>The security token "
        "included in the request is invalid.</Message></Error>"
        "<RequestId>4f1e</RequestId></ErrorResponse>";

    dsb_aws_error_parse(j, strlen(j), NULL, code, msg, rid);
    cr_expect_str_eq(code, "ResourceNotFoundException");
    cr_expect_str_eq(msg, "Secrets Manager can't find the specified secret.");
    dsb_aws_error_parse(x, strlen(x), NULL, code, msg, rid);
    cr_expect_str_eq(code, "InvalidClientTokenId");
    cr_expect_str_eq(msg,
                     "The security token included in the request is invalid.");
    cr_expect_str_eq(rid, "4f1e");
    dsb_aws_error_parse("", 0, "ThrottlingException:http://x/", code, msg, rid);
    cr_expect_str_eq(code, "ThrottlingException");
    cr_expect_str_eq(msg, "");
    dsb_aws_error_parse("<html>oops", 10, NULL, code, msg, rid);
    cr_expect_str_eq(code, "");
}

Test(aws_endpoints, resolution_order, .init = setup)
{
    struct dsb_aws_options o = {0};
    struct dsb_error err;
    struct dsb_aws *a = dsb_aws_new(&o, &err);
    int ov;
    char *u;

    cr_assert_not_null(a);
    u = dsb_aws_endpoint(a, "glue", "eu-west-1", NULL, &ov);
    cr_expect_str_eq(u, "https://glue.eu-west-1.amazonaws.com");
    cr_expect_eq(ov, 0);
    free(u);
    u = dsb_aws_endpoint(a, "s3", "cn-north-1", NULL, &ov);
    cr_expect_str_eq(u, "https://s3.cn-north-1.amazonaws.com.cn");
    free(u);
    setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5000/", 1);
    setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", "http://127.0.0.1:5001", 1);
    setenv("AWS_ENDPOINT_URL_EMR_SERVERLESS", "http://127.0.0.1:5002", 1);
    u = dsb_aws_endpoint(a, "glue", "eu-west-1", NULL, &ov);
    cr_expect_str_eq(u, "http://127.0.0.1:5000");
    cr_expect_eq(ov, 1);
    free(u);
    u = dsb_aws_endpoint(a, "secretsmanager", "eu-west-1", NULL, &ov);
    cr_expect_str_eq(u, "http://127.0.0.1:5001");
    free(u);
    u = dsb_aws_endpoint(a, "emr-serverless", "eu-west-1", NULL, &ov);
    cr_expect_str_eq(u, "http://127.0.0.1:5002");
    free(u);
    u = dsb_aws_endpoint(a, "secretsmanager", "eu-west-1",
                         "http://127.0.0.1:6000", &ov);
    cr_expect_str_eq(u, "http://127.0.0.1:6000");
    free(u);
    cr_expect_str_eq(dsb_aws_region(a), "eu-west-1");
    dsb_aws_free(a);
}

static char *endpoint_of(const struct dsb_aws *a, const char *service,
                         const char *req_url)
{
    int ov = -1;
    char *u = dsb_aws_endpoint(a, service, "eu-west-1", req_url, &ov);

    cr_assert_not_null(u);
    cr_expect_eq(ov, strncmp(u, "https://", 8) != 0, "%s", u);
    return u;
}

/* request endpoint_url > broker endpoint_url > AWS_ENDPOINT_URL_<SVC> >
 * AWS_ENDPOINT_URL > the AWS default, each level tried with all below set. */
Test(aws_endpoints, four_levels_in_order, .init = setup)
{
    struct dsb_aws_options broker = {.endpoint_url = "http://127.0.0.1:7001/"};
    struct dsb_aws_options none = {0};
    struct dsb_error err;
    struct dsb_aws *b = dsb_aws_new(&broker, &err),
                   *n = dsb_aws_new(&none, &err);
    char *u;

    cr_assert(b && n);
    setenv("AWS_ENDPOINT_URL_GLUE", "http://127.0.0.1:7002", 1);
    setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:7003", 1);
    u = endpoint_of(b, "glue", "http://127.0.0.1:7000");
    cr_expect_str_eq(u, "http://127.0.0.1:7000");
    free(u);
    u = endpoint_of(b, "glue", NULL);
    cr_expect_str_eq(u, "http://127.0.0.1:7001");
    free(u);
    u = endpoint_of(n, "glue", "");
    cr_expect_str_eq(u, "http://127.0.0.1:7002");
    free(u);
    u = endpoint_of(n, "s3", NULL);
    cr_expect_str_eq(u, "http://127.0.0.1:7003");
    free(u);
    unsetenv("AWS_ENDPOINT_URL");
    u = endpoint_of(n, "s3", NULL);
    cr_expect_str_eq(u, "https://s3.eu-west-1.amazonaws.com");
    free(u);
    dsb_aws_free(b);
    dsb_aws_free(n);
}

/* The limits' bounds are broker.yaml's, not the client's own. */
Test(aws_endpoints, limits_bounded_by_the_broker_option_table, .init = setup)
{
    const struct dsb_option *max = dsb_aws_client_option("max_attempts");
    struct dsb_aws_options o = {.max_attempts = (int)max->max};
    struct dsb_error err;
    struct dsb_aws *a = dsb_aws_new(&o, &err);

    cr_assert_not_null(a, "%s", err.message);
    dsb_aws_free(a);
    cr_expect_eq(max->max, 10);
    o.max_attempts = 11;
    cr_expect_null(dsb_aws_new(&o, &err));
    cr_expect_str_eq(err.message, "aws max_attempts must be between 1 and 10, "
                                  "got 11");
    o = (struct dsb_aws_options){.timeout_ms = 99};
    cr_expect_null(dsb_aws_new(&o, &err));
    cr_expect_str_eq(err.message, "aws timeout_ms must be between 100 and "
                                  "600000, got 99");
    o = (struct dsb_aws_options){.backoff_cap_ms = -1};
    cr_expect_null(dsb_aws_new(&o, &err));
    cr_expect_eq(err.code, DSB_E_INVALID);
    cr_expect_str_eq(dsb_aws_client_option("timeout_ms")->default_value,
                     "15000");
}

Test(aws_endpoints, bad_options_and_missing_region, .init = setup)
{
    struct dsb_aws_options o = {.max_attempts = 50};
    struct dsb_aws_request r = {
        .service = "glue", .method = "POST", .path = "/"};
    struct dsb_aws_response resp;
    struct dsb_error err;
    struct dsb_aws *a = dsb_aws_new(&o, &err);

    cr_expect_null(a);
    cr_expect_eq(err.code, DSB_E_INVALID);
    o = (struct dsb_aws_options){.endpoint_url = "ftp://x"};
    cr_expect_null(dsb_aws_new(&o, &err));
    unsetenv("AWS_REGION");
    o = (struct dsb_aws_options){0};
    a = dsb_aws_new(&o, &err);
    cr_assert_not_null(a);
    cr_expect_null(dsb_aws_region(a));
    cr_expect_eq(dsb_aws_send(a, &r, &resp, &err), -1);
    cr_expect_eq(err.code, DSB_E_CONFIG);
    cr_expect_str_eq(err.message, "no AWS region configured");
    dsb_aws_free(a);
}
