/* SigV4 signer against AWS's published signature test suite
 * (aws-sig-v4-test-suite: example.amazonaws.com, us-east-1, "service",
 * 2015-08-30T12:36:00Z, the documentation's example key). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "aws/buf.h"
#include "aws/sigv4.h"

#define SUITE_WHEN 1440938160 /* 20150830T123600Z */
#define SUITE_TOKEN                                                            \
    "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKW" \
    "HGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4" \
    "IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6f"  \
    "E8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Y" \
    "jc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA=="
#define PREFIX                                                                 \
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/"      \
    "aws4_request, "

static struct dsb_aws_creds suite_creds = {
    .access_key = "AKIDEXAMPLE",
    .secret_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
};

static struct dsb_sigv4_req suite_req(const char *method, const char *path)
{
    struct dsb_sigv4_req r = {.method = method,
                              .host = "example.amazonaws.com",
                              .path = path,
                              .service = "service",
                              .region = "us-east-1",
                              .when = SUITE_WHEN};
    return r;
}

static void expect_auth(const struct dsb_sigv4_req *r,
                        const struct dsb_aws_creds *c, const char *expected)
{
    struct dsb_sigv4_out out;

    cr_assert_eq(dsb_sigv4_sign(r, c, &out), 0);
    cr_expect_str_eq(out.amz_date, "20150830T123600Z");
    cr_expect_str_eq(out.authorization, expected, "canonical request:\n%s",
                     out.canonical_request);
    dsb_sigv4_out_free(&out);
}

Test(sigv4_suite, get_vanilla)
{
    struct dsb_sigv4_req r = suite_req("GET", "/");
    struct dsb_sigv4_out out;

    expect_auth(
        &r, &suite_creds,
        PREFIX
        "SignedHeaders=host;x-amz-date, Signature="
        "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
    cr_assert_eq(dsb_sigv4_sign(&r, &suite_creds, &out), 0);
    cr_expect_str_eq(
        out.canonical_request,
        "GET\n/\n\nhost:example.amazonaws.com\n"
        "x-amz-date:20150830T123600Z\n\nhost;x-amz-date\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    cr_expect_str_eq(
        out.payload_hash,
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    dsb_sigv4_out_free(&out);
}

Test(sigv4_suite, get_vanilla_query_order_key_case)
{
    struct dsb_kv q[] = {{"Param2", "value2"}, {"Param1", "value1"}};
    struct dsb_sigv4_req r = suite_req("GET", "/");

    r.query = q;
    r.n_query = 2;
    expect_auth(
        &r, &suite_creds,
        PREFIX
        "SignedHeaders=host;x-amz-date, Signature="
        "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500");
}

Test(sigv4_suite, get_vanilla_query_unreserved)
{
    const char *u =
        "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    struct dsb_kv q[] = {{u, u}};
    struct dsb_sigv4_req r = suite_req("GET", "/");

    r.query = q;
    r.n_query = 1;
    expect_auth(
        &r, &suite_creds,
        PREFIX
        "SignedHeaders=host;x-amz-date, Signature="
        "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197");
}

Test(sigv4_suite, get_vanilla_utf8_query)
{
    struct dsb_kv q[] = {{"\xe1\x88\xb4", "bar"}};
    struct dsb_sigv4_req r = suite_req("GET", "/");

    r.query = q;
    r.n_query = 1;
    expect_auth(
        &r, &suite_creds,
        PREFIX
        "SignedHeaders=host;x-amz-date, Signature="
        "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04");
}

Test(sigv4_suite, get_unreserved)
{
    struct dsb_sigv4_req r = suite_req(
        "GET",
        "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");

    expect_auth(
        &r, &suite_creds,
        PREFIX
        "SignedHeaders=host;x-amz-date, Signature="
        "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f");
}

Test(sigv4_suite, get_utf8)
{
    struct dsb_sigv4_req r = suite_req("GET", "/\xe1\x88\xb4");

    expect_auth(
        &r, &suite_creds,
        PREFIX
        "SignedHeaders=host;x-amz-date, Signature="
        "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85");
}

Test(sigv4_suite, get_header_value_trim)
{
    struct dsb_kv h[] = {{"My-Header1", " value1"},
                         {"My-Header2", " \"a   b   c\""}};
    struct dsb_sigv4_req r = suite_req("GET", "/");

    r.headers = h;
    r.n_headers = 2;
    expect_auth(
        &r, &suite_creds,
        PREFIX
        "SignedHeaders=host;my-header1;my-header2;x-amz-date, "
        "Signature=acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736");
}

Test(sigv4_suite, get_header_key_duplicate)
{
    struct dsb_kv h[] = {{"My-Header1", "value2"},
                         {"My-Header1", "value2"},
                         {"My-Header1", "value1"}};
    struct dsb_sigv4_req r = suite_req("GET", "/");

    r.headers = h;
    r.n_headers = 3;
    expect_auth(
        &r, &suite_creds,
        PREFIX
        "SignedHeaders=host;my-header1;x-amz-date, Signature="
        "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea");
}

Test(sigv4_suite, get_header_value_order)
{
    struct dsb_kv h[] = {{"My-Header1", "value4"},
                         {"My-Header1", "value1"},
                         {"My-Header1", "value3"},
                         {"My-Header1", "value2"}};
    struct dsb_sigv4_req r = suite_req("GET", "/");

    r.headers = h;
    r.n_headers = 4;
    expect_auth(
        &r, &suite_creds,
        PREFIX
        "SignedHeaders=host;my-header1;x-amz-date, Signature="
        "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01");
}

Test(sigv4_suite, post_vanilla)
{
    struct dsb_sigv4_req r = suite_req("POST", "/");

    expect_auth(
        &r, &suite_creds,
        PREFIX
        "SignedHeaders=host;x-amz-date, Signature="
        "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b");
}

Test(sigv4_suite, post_vanilla_query)
{
    struct dsb_kv q[] = {{"Param1", "value1"}};
    struct dsb_sigv4_req r = suite_req("POST", "/");

    r.query = q;
    r.n_query = 1;
    expect_auth(
        &r, &suite_creds,
        PREFIX
        "SignedHeaders=host;x-amz-date, Signature="
        "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11");
}

Test(sigv4_suite, post_vanilla_query_nonunreserved)
{
    struct dsb_kv q[] = {{"@#$%^", ""}, {"+", "/,?><`\";:\\|][{}"}};
    struct dsb_sigv4_req r = suite_req("POST", "/");

    r.query = q;
    r.n_query = 2;
    expect_auth(
        &r, &suite_creds,
        PREFIX
        "SignedHeaders=host;x-amz-date, Signature="
        "66c82657c86e26fb25238d0e69f011edc4c6df5ae71119d7cb98ed9b87393c1e");
}

Test(sigv4_suite, post_header_key_sort_and_case)
{
    struct dsb_kv h1[] = {{"My-Header1", "value1"}};
    struct dsb_kv h2[] = {{"MY-HEADER1", "VALUE1"}};
    struct dsb_sigv4_req r = suite_req("POST", "/");

    r.headers = h1;
    r.n_headers = 1;
    expect_auth(
        &r, &suite_creds,
        PREFIX
        "SignedHeaders=host;my-header1;x-amz-date, Signature="
        "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c");
    r.headers = h2;
    expect_auth(
        &r, &suite_creds,
        PREFIX
        "SignedHeaders=host;my-header1;x-amz-date, Signature="
        "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d");
}

Test(sigv4_suite, post_sts_header_before)
{
    struct dsb_aws_creds c = suite_creds;
    struct dsb_sigv4_req r = suite_req("POST", "/");

    c.session_token = SUITE_TOKEN;
    expect_auth(
        &r, &c,
        PREFIX
        "SignedHeaders=host;x-amz-date;x-amz-security-token, "
        "Signature=85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead");
}

Test(sigv4_suite, post_x_www_form_urlencoded)
{
    struct dsb_kv h[] = {{"Content-Type", "application/x-www-form-urlencoded"}};
    struct dsb_sigv4_req r = suite_req("POST", "/");

    r.headers = h;
    r.n_headers = 1;
    r.body = "Param1=value1";
    r.body_len = 13;
    expect_auth(
        &r, &suite_creds,
        PREFIX
        "SignedHeaders=content-type;host;x-amz-date, Signature="
        "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a");
}

Test(sigv4, secret_never_in_output)
{
    struct dsb_aws_creds c = suite_creds;
    struct dsb_sigv4_req r = suite_req("POST", "/");
    struct dsb_sigv4_out out;

    c.session_token = "TOKEN-ABCDEFGH";
    cr_assert_eq(dsb_sigv4_sign(&r, &c, &out), 0);
    cr_expect_null(strstr(out.authorization, c.secret_key));
    cr_expect_null(strstr(out.authorization, c.session_token));
    cr_expect_null(strstr(out.canonical_request, c.secret_key));
    dsb_sigv4_out_free(&out);
}

Test(sigv4, s3_rules_keep_path_and_add_payload_header)
{
    struct dsb_sigv4_req r = suite_req("PUT", "/bucket/a%20b");
    struct dsb_sigv4_out out;

    r.s3 = 1;
    r.body = "abc";
    r.body_len = 3;
    cr_assert_eq(dsb_sigv4_sign(&r, &suite_creds, &out), 0);
    cr_expect_str_eq(
        out.payload_hash,
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    cr_expect(strncmp(out.canonical_request, "PUT\n/bucket/a%20b\n", 18) == 0,
              "%s", out.canonical_request);
    cr_expect_not_null(
        strstr(out.canonical_request, "x-amz-content-sha256:ba7816bf"));
    cr_expect_not_null(
        strstr(out.authorization,
               "SignedHeaders=host;x-amz-content-sha256;x-amz-date,"));
    dsb_sigv4_out_free(&out);
    r.s3 = 0; /* other services encode the wire path once more */
    cr_assert_eq(dsb_sigv4_sign(&r, &suite_creds, &out), 0);
    cr_expect(strncmp(out.canonical_request, "PUT\n/bucket/a%2520b\n", 20) ==
              0);
    dsb_sigv4_out_free(&out);
}

Test(sigv4, query_string_encoding_and_order)
{
    struct dsb_kv q[] = {{"b", "x y"}, {"a", "2"}, {"a", "1+/=%"}, {"~", ""}};
    char *s = dsb_sigv4_query_string(q, 4);

    cr_assert_not_null(s);
    cr_expect_str_eq(s, "a=1%2B%2F%3D%25&a=2&b=x%20y&~=");
    free(s);
    s = dsb_sigv4_query_string(NULL, 0);
    cr_expect_str_eq(s, "");
    free(s);
}

Test(sigv4, refuses_missing_fields)
{
    struct dsb_sigv4_req r = suite_req("GET", "/");
    struct dsb_aws_creds c = {0};
    struct dsb_sigv4_out out;

    cr_expect_eq(dsb_sigv4_sign(&r, &c, &out), -1);
    cr_expect_null(out.authorization);
}
