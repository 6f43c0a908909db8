/* The web console's files (/ui, core/http/console.c) from the fixture
 * console (tests/fixtures/console), and /v1/whoami; the browser tests of
 * the real console are tests/ui/console.py. */
#include <criterion/criterion.h>

#include "http_support.h"

#define CSP                                                                    \
    "default-src 'none'; script-src 'self'; style-src 'self'; "                \
    "img-src 'self' data:; font-src 'self'; connect-src 'self'; "              \
    "manifest-src 'self'; frame-ancestors 'none'; base-uri 'none'; "           \
    "form-action 'self'"

static void setup(void)
{
    t_http_env();
    setenv("DSB_TEST_AUTH", "true", 1);
    t_start(NULL);
}

static void teardown(void)
{
    t_stop();
}

TestSuite(console, .init = setup, .fini = teardown, .timeout = 60);

/* The fixture file name, read whole (malloc'd; *len its size). */
static char *fixture(const char *name, size_t *len)
{
    char rel[128], *path, *text;
    FILE *f;

    snprintf(rel, sizeof(rel), "tests/fixtures/console/%s", name);
    path = t_src(rel);
    f = fopen(path, "rb");
    cr_assert(f, "%s", path);
    text = NULL;
    *len = 0;
    for (char chunk[4096];;) {
        size_t n = fread(chunk, 1, sizeof(chunk), f);
        if (n == 0)
            break;
        t_grow(&text, len, chunk, n);
    }
    fclose(f);
    free(path);
    return text;
}

static void header_is(const struct t_resp *r, const char *name,
                      const char *want)
{
    char *v = t_header(r, name);

    if (!want)
        cr_assert_null(v, "%s: %s", name, v);
    else
        cr_assert(v && strcmp(v, want) == 0, "%s: %s, want %s", name, v, want);
    free(v);
}

static struct t_resp get_with(const char *path, const char *hdr)
{
    return t_req("GET", path, (const char *const[]){hdr, NULL}, NULL);
}

Test(console, the_page_needs_no_token_and_carries_the_policy)
{
    size_t len;
    char *want = fixture("index.html", &len);
    struct t_resp r = t_get("/ui");

    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_eq(r.len, len);
    cr_assert_eq(memcmp(r.body, want, len), 0);
    header_is(&r, "Content-Type", "text/html; charset=utf-8");
    header_is(&r, "Cache-Control", "no-cache");
    header_is(&r, "Content-Security-Policy", CSP);
    header_is(&r, "X-Content-Type-Options", "nosniff");
    header_is(&r, "Referrer-Policy", "no-referrer");
    header_is(&r, "Content-Encoding", NULL);
    t_free(&r);
    r = t_get("/ui/");
    cr_assert_eq(r.status, 200);
    t_free(&r);
    r = t_get("/ui/index.html");
    cr_assert_eq(r.status, 200);
    t_free(&r);
    free(want);
}

Test(console, a_hashed_asset_is_immutable_and_gzipped_when_accepted)
{
    size_t len, zlen;
    char *plain = fixture("app-FIXTURE1.js", &len);
    char *gz = fixture("app-FIXTURE1.js.gz", &zlen);
    static const char *const gzip_ok[] = {
        "Accept-Encoding: gzip",
        "Accept-Encoding: GZIP",
        "Accept-Encoding: br, gzip;q=0.5",
        "Accept-Encoding: *",
        "Accept-Encoding: deflate, gzip ; q=1",
        NULL};
    static const char *const gzip_no[] = {"X-None: 1",
                                          "Accept-Encoding: br",
                                          "Accept-Encoding: gzip;q=0",
                                          "Accept-Encoding: gzip;q=0.000, br",
                                          "Accept-Encoding: xgzip",
                                          NULL};

    for (const char *const *h = gzip_ok; *h; h++) {
        struct t_resp r = get_with("/ui/app-FIXTURE1.js", *h);
        cr_assert_eq(r.status, 200, "%s", *h);
        header_is(&r, "Content-Encoding", "gzip");
        header_is(&r, "Vary", "Accept-Encoding");
        cr_assert(r.len == zlen && memcmp(r.body, gz, zlen) == 0, "%s", *h);
        t_free(&r);
    }
    for (const char *const *h = gzip_no; *h; h++) {
        struct t_resp r = get_with("/ui/app-FIXTURE1.js", *h);
        cr_assert_eq(r.status, 200, "%s", *h);
        header_is(&r, "Content-Encoding", NULL);
        header_is(&r, "Content-Type", "text/javascript; charset=utf-8");
        header_is(&r, "Cache-Control", "public, max-age=31536000, immutable");
        header_is(&r, "X-Content-Type-Options", "nosniff");
        cr_assert(r.len == len && memcmp(r.body, plain, len) == 0, "%s", *h);
        t_free(&r);
    }
    free(plain);
    free(gz);
}

Test(console, etags_answer_304)
{
    struct t_resp r = t_get("/ui/plain.css");
    char *etag = t_header(&r, "ETag"), hdr[128];

    cr_assert_eq(r.status, 200);
    header_is(&r, "Cache-Control", "no-cache"); /* no hash in its name */
    header_is(&r, "Content-Type", "text/css; charset=utf-8");
    cr_assert(etag && etag[0] == '"');
    t_free(&r);
    snprintf(hdr, sizeof(hdr), "If-None-Match: %s", etag);
    r = get_with("/ui/plain.css", hdr);
    cr_assert_eq(r.status, 304);
    cr_assert_eq(r.len, 0);
    t_free(&r);
    r = get_with("/ui/plain.css", "If-None-Match: \"other\"");
    cr_assert_eq(r.status, 200);
    t_free(&r);
    free(etag);
}

/* Only files of the directory, by exact name, of a servable type. */
Test(console, nothing_but_its_files)
{
    static const char *const paths[] = {"/ui/..%2Fconfd-http%2Fbroker.yaml",
                                        "/ui/%2e%2e",
                                        "/ui/app-FIXTURE1.js.gz",
                                        "/ui/notes.md",
                                        "/ui/link.js",
                                        "/ui/README",
                                        "/ui/app-NOTTHERE.js",
                                        "/ui/%2Fetc%2Fpasswd",
                                        "/ui/app-FIXTURE1.js%00.html",
                                        NULL};

    for (const char *const *p = paths; *p; p++) {
        struct t_resp r = t_get(*p);
        cr_assert(r.status == 404 || r.status == 400, "%s: %ld %s", *p,
                  r.status, r.body);
        cr_assert_null(strstr(r.body, "fixture console"), "%s", *p);
        t_free(&r);
    }
    {
        struct t_resp r = t_get("/ui/app-NOTTHERE.js");
        t_problem(&r, 404, "not_found");
        cr_assert(strstr(r.body, "no such console asset"), "%s", r.body);
        t_free(&r);
        r = t_get("/ui/a/b");
        t_problem(&r, 404, "not_found");
        t_free(&r);
        r = t_req("POST", "/ui", NULL, NULL);
        cr_assert_eq(r.status, 405);
        t_free(&r);
    }
}

Test(console, whoami_says_who_and_whether_a_token_is_needed)
{
    struct t_resp r = t_get("/v1/whoami");
    json_t *j = t_json(&r);

    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert(json_is_null(json_object_get(j, "name")), "%s", r.body);
    cr_assert(json_is_true(json_object_get(j, "auth")));
    cr_assert_eq(json_array_size(json_object_get(j, "scopes")), 0);
    json_decref(j);
    t_free(&r);
    r = get_with("/v1/whoami", "Authorization: Bearer wrong");
    t_problem(&r, 401, "unauthenticated");
    t_free(&r);
    r = get_with("/v1/whoami", "Authorization: Bearer " T_LIMITED);
    j = t_json(&r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(json_string_value(json_object_get(j, "name")), "limited");
    cr_assert_eq(json_array_size(json_object_get(j, "scopes")), 4, "%s",
                 r.body);
    cr_assert_str_eq(
        json_string_value(json_array_get(json_object_get(j, "sources"), 0)),
        "main");
    json_decref(j);
    t_free(&r);
    r = get_with("/v1/whoami", "Authorization: Bearer " T_ADMIN);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert(strstr(r.body, "\"scopes\":[\"read\",\"sessions\",\"context\","
                             "\"jobs\",\"admin\"]"),
              "%s", r.body);
    cr_assert(strstr(r.body, "\"sources\":null"), "%s", r.body);
    t_free(&r);
}

static void setup_off(void)
{
    t_http_env();
    setenv("DSB_TEST_CONSOLE", "false", 1);
    t_start(NULL);
}

/* console.enabled: false answers 404 saying so. */
Test(console_off, disabled, .init = setup_off, .fini = teardown, .timeout = 60)
{
    struct t_resp r = t_get("/ui");

    t_problem(&r, 404, "not_found");
    cr_assert(strstr(r.body, "the console is disabled"), "%s", r.body);
    t_free(&r);
}
