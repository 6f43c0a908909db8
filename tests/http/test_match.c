/* The router alone: every route of the table is found by a path built from
 * its own pattern, with its parameters, and nothing else is. */
#include <criterion/criterion.h>
#include <string.h>

#include "http/http.h"

/* pattern with each {name} replaced by "p<i>"; the parameters' count. */
static size_t concrete(const char *pattern, char *out, size_t cap)
{
    size_t n = 0, k = 0;

    for (const char *p = pattern; *p && k + 4 < cap; p++) {
        if (*p == '{') {
            k += (size_t)snprintf(out + k, cap - k, "p%zu", n++);
            p = strchr(p, '}');
        } else {
            out[k++] = *p;
        }
    }
    out[k] = '\0';
    return n;
}

Test(match, every_route_is_found_by_its_own_pattern)
{
    for (const struct dsb_http_route *rt = dsb_routes; rt->method; rt++) {
        char path[512], allow[128], want[24];
        const struct dsb_http_route *got = NULL;
        const char *params[DSB_MAX_PARAMS] = {0};
        size_t np = concrete(rt->pattern, path, sizeof(path)), n;
        char **segs;

        cr_assert_eq(dsb_path_split(path, &segs, &n), 0, "%s", path);
        cr_assert_eq(dsb_router_match(rt->method, segs, n, &got, params, allow,
                                      sizeof(allow)),
                     DSB_MATCH_OK, "%s %s", rt->method, path);
        cr_assert_eq(got, rt, "%s %s matched %s %s", rt->method, path,
                     got->method, got->pattern);
        for (size_t i = 0; i < np; i++) {
            snprintf(want, sizeof(want), "p%zu", i);
            cr_assert_str_eq(params[i], want, "%s", rt->pattern);
        }
        dsb_path_free(segs, n);
    }
}

Test(match, near_misses_are_refused)
{
    static const char *const paths[] = {
        "/v1/sources/a/databases/b/schemas/c/tables/d/e", "/v1/source",
        "/v1/sources/a/database", "/healthz/x", "/v1/jobs/a/logs/b"};
    const struct dsb_http_route *got;
    const char *params[DSB_MAX_PARAMS];
    char allow[128], **segs;
    size_t n;

    for (size_t i = 0; i < sizeof(paths) / sizeof(*paths); i++) {
        cr_assert_eq(dsb_path_split(paths[i], &segs, &n), 0);
        cr_assert_eq(dsb_router_match("GET", segs, n, &got, params, allow,
                                      sizeof(allow)),
                     DSB_MATCH_NO_PATH, "%s", paths[i]);
        dsb_path_free(segs, n);
    }
    cr_assert_eq(dsb_path_split("/v1/sources/a/check", &segs, &n), 0);
    cr_assert_eq(
        dsb_router_match("PUT", segs, n, &got, params, allow, sizeof(allow)),
        DSB_MATCH_NO_METHOD);
    cr_assert_str_eq(allow, "POST, OPTIONS");
    dsb_path_free(segs, n);
    /* a path a pattern spells out is that pattern's, not {src}'s */
    cr_assert_eq(dsb_path_split("/v1/sources/test", &segs, &n), 0);
    cr_assert_eq(
        dsb_router_match("GET", segs, n, &got, params, allow, sizeof(allow)),
        DSB_MATCH_NO_METHOD);
    cr_assert_str_eq(allow, "POST, OPTIONS");
    dsb_path_free(segs, n);
}

Test(match, paths_are_split_and_decoded)
{
    char **segs;
    size_t n;

    cr_assert_eq(dsb_path_split("/a/b%20c/%C3%A9?x=/y", &segs, &n), 0);
    cr_assert_eq(n, 3);
    cr_assert_str_eq(segs[1], "b c");
    cr_assert_str_eq(segs[2], "\xC3\xA9");
    dsb_path_free(segs, n);
    cr_assert_eq(dsb_path_split("/a/", &segs, &n), 0);
    cr_assert_eq(n, 1);
    dsb_path_free(segs, n);
    cr_assert_eq(dsb_path_split("/a//b", &segs, &n), -1);
    cr_assert_eq(dsb_path_split("/a/%00", &segs, &n), -1);
    cr_assert_eq(dsb_path_split("/a/%C3", &segs, &n), -1);
    cr_assert_eq(dsb_path_split("a/b", &segs, &n), -1);
}
