/* Every route x {no token, wrong token, each scope, admin, limited
 * sources, another principal's session or job}, table-driven. */
#include <criterion/criterion.h>

#include "http/http.h"
#include "http_support.h"
#include "settings.h"
#include "util.h"

#define AUTH(t) "Authorization: Bearer " t

static void setup(void)
{
    char *fake = t_src("tests/jobs/fake-spark-submit.sh");

    t_http_env();
    setenv("DSB_TEST_SPARK_SUBMIT", fake, 1);
    free(fake);
    setenv("DSB_TEST_AUTH", "true", 1);
    t_start(NULL);
}

static void teardown(void)
{
    t_stop();
}

TestSuite(scopes, .init = setup, .fini = teardown, .timeout = 120);

#define SEL_MAIN                                                               \
    "{\"source\":\"main\",\"database\":\"sales\","                             \
    "\"schema\":\"public\",\"table\":\"orders\"}"
#define PG_SELECT                                                              \
    "{\"connection_name\":\"pgmain\",\"tables\":[{\"database\""                \
    ":\"sales\",\"schema\":\"public\",\"table\":\"orders\"}]}"
#define UPLOAD                                                                 \
    "{\"filename\":\"u.csv\",\"content\":\"a\\n1\\n\","                        \
    "\"session_id\":\"scope-upload\"}"
#define PG_IAM "{\"name\":\"x\",\"host\":\"h\",\"auth_method\":\"iam\"}"
#define GLUE_SELECT                                                            \
    "{\"tables\":[{\"database\":\"analytics\",\"table\":"                      \
    "\"events\"}]}"

#define MCP_INIT                                                               \
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":"      \
    "{\"protocolVersion\":\"2025-11-25\",\"capabilities\":{},"                 \
    "\"clientInfo\":{\"name\":\"t\",\"version\":\"1\"}}}"
/* any scope: MCP offers each principal the tools its scopes allow */
#define ANY_SCOPE DSB_SCOPES_ALL

/* A route with its placeholders: {S} a session, {L} one of its selection
 * ids, {J} a finished job. */
struct route_case {
    const char *method, *path, *body;
    unsigned scope; /* DSB_SCOPE_* it needs; 0: a health route */
    long ok;        /* the status of an admin's call */
};

static const struct route_case routes[] = {
    {"GET", "/healthz", NULL, 0, 200},
    {"GET", "/readyz", NULL, 0, 200},
    {"GET", "/metrics", NULL, 0, 200},
    /* the console's files need no token (tests/fixtures/console) */
    {"GET", "/ui", NULL, 0, 200},
    {"GET", "/ui/app-FIXTURE1.js", NULL, 0, 200},
    /* no token: an answer (name null); a wrong one is a 401 (below) */
    {"GET", "/v1/whoami", NULL, 0, 200},
    {"GET", "/v1/sources", NULL, DSB_SCOPE_READ, 200},
    {"GET", "/v1/sources/main", NULL, DSB_SCOPE_READ, 200},
    /* the fixture conf.d is the repository's: nothing may be written there,
     * so these are refused once the scope passed */
    {"POST", "/v1/sources", "{}", DSB_SCOPE_ADMIN, 400},
    {"POST", "/v1/sources/test", "{}", DSB_SCOPE_ADMIN, 400},
    {"PUT", "/v1/sources/main", "{}", DSB_SCOPE_ADMIN, 409},
    {"DELETE", "/v1/sources/main", NULL, DSB_SCOPE_ADMIN, 409},
    {"POST", "/v1/sources/main/check", NULL, DSB_SCOPE_READ, 200},
    {"POST", "/v1/sources/main/refresh", NULL, DSB_SCOPE_ADMIN, 200},
    {"GET", "/v1/sources/main/databases", NULL, DSB_SCOPE_READ, 200},
    {"GET", "/v1/sources/main/databases/sales/schemas", NULL, DSB_SCOPE_READ,
     200},
    {"GET", "/v1/sources/main/databases/sales/schemas/public/tables", NULL,
     DSB_SCOPE_READ, 200},
    {"GET", "/v1/sources/main/databases/sales/schemas/public/tables/orders",
     NULL, DSB_SCOPE_READ, 200},
    {"GET", "/v1/search?q=ord", NULL, DSB_SCOPE_READ, 200},
    {"POST", "/v1/reload", NULL, DSB_SCOPE_ADMIN, 200},
    {"GET", "/v1/plugins", NULL, DSB_SCOPE_READ, 200},
    {"GET", "/v1/plugins/fixture/schema", NULL, DSB_SCOPE_READ, 200},
    {"GET", "/v1/executors", NULL, DSB_SCOPE_READ, 200},
    {"POST", "/v1/sessions", NULL, DSB_SCOPE_SESSIONS, 201},
    {"GET", "/v1/sessions", NULL, DSB_SCOPE_SESSIONS, 200},
    {"GET", "/v1/sessions/{S}", NULL, DSB_SCOPE_SESSIONS, 200},
    {"GET", "/v1/sessions/{S}/selections", NULL, DSB_SCOPE_SESSIONS, 200},
    {"POST", "/v1/sessions/{S}/selections", SEL_MAIN, DSB_SCOPE_SESSIONS, 201},
    {"DELETE", "/v1/sessions/{S}/selections/{L}", NULL, DSB_SCOPE_SESSIONS,
     204},
    {"GET", "/v1/sessions/{S}/context", NULL, DSB_SCOPE_CONTEXT, 200},
    {"POST", "/v1/sessions/{S}/context/verify", NULL, DSB_SCOPE_JOBS, 202},
    {"GET", "/v1/sessions/{S}/context/verify", NULL, DSB_SCOPE_JOBS, 200},
    {"GET", "/v1/sessions/{S}/route", NULL, DSB_SCOPE_JOBS, 200},
    {"POST", "/v1/sessions/{S}/jobs", "{\"code\":\"print(1)\"}", DSB_SCOPE_JOBS,
     202},
    {"GET", "/v1/sessions/{S}/jobs", NULL, DSB_SCOPE_JOBS, 200},
    {"GET", "/v1/jobs/{J}", NULL, DSB_SCOPE_JOBS, 200},
    {"GET", "/v1/jobs/{J}/logs", NULL, DSB_SCOPE_JOBS, 200},
    {"GET", "/v1/jobs/{J}/result", NULL, DSB_SCOPE_JOBS, 200},
    {"DELETE", "/v1/jobs/{J}", NULL, DSB_SCOPE_JOBS, 200},
    {"DELETE", "/v1/sessions/{S}", NULL, DSB_SCOPE_SESSIONS, 204},
    {"GET", "/postgres/connections", NULL, DSB_SCOPE_READ, 200},
    {"POST", "/postgres/connections", PG_IAM, DSB_SCOPE_ADMIN, 501},
    {"POST", "/postgres/test-connection", PG_IAM, DSB_SCOPE_ADMIN, 501},
    {"GET", "/postgres/pgmain/databases", NULL, DSB_SCOPE_READ, 200},
    {"GET", "/postgres/pgmain/schemas/sales", NULL, DSB_SCOPE_READ, 200},
    {"GET", "/postgres/pgmain/tables/sales/public", NULL, DSB_SCOPE_READ, 200},
    {"POST", "/sessions/{S}/select-postgres-tables", PG_SELECT,
     DSB_SCOPE_SESSIONS, 200},
    {"GET", "/glue/databases", NULL, DSB_SCOPE_READ, 200},
    {"GET", "/glue/tables/analytics", NULL, DSB_SCOPE_READ, 200},
    {"POST", "/mcp", MCP_INIT, ANY_SCOPE, 200},
    {"GET", "/mcp", NULL, ANY_SCOPE, 405},
    {"DELETE", "/mcp", NULL, ANY_SCOPE, 400},
    {"GET", "/.well-known/oauth-protected-resource", NULL, 0, 200},
    {"GET", "/.well-known/oauth-protected-resource/mcp", NULL, 0, 200},
    {"POST", "/sessions/{S}/select-tables", GLUE_SELECT, DSB_SCOPE_SESSIONS,
     200},
    {"POST", "/sessions/{S}/reset", NULL, DSB_SCOPE_SESSIONS, 200},
    /* the fixture configures no uploads source: 501 once the scope passed */
    {"POST", "/upload-csv", UPLOAD, DSB_SCOPE_SESSIONS, 501},
    {"POST", "/spark/upload-csv", UPLOAD, DSB_SCOPE_SESSIONS, 501},
    {"GET", "/spark/status", NULL, DSB_SCOPE_READ, 200},
    {"GET", "/health", NULL, 0, 200},
};
#define N_ROUTES (sizeof(routes) / sizeof(*routes))

static const struct {
    const char *auth;
    unsigned scopes;
} single[] = {
    {AUTH(T_READ), DSB_SCOPE_READ},
    {AUTH(T_SESSIONS), DSB_SCOPE_SESSIONS},
    {AUTH(T_CONTEXT), DSB_SCOPE_CONTEXT},
    {AUTH(T_JOBS), DSB_SCOPE_JOBS},
};

static struct t_resp call(const char *auth, const char *method,
                          const char *path, const char *body)
{
    return t_req(method, path,
                 (const char *const[]){auth ? auth : "X-No-Auth: 1",
                                       "Content-Type: application/json", NULL},
                 body);
}

static char *id_of(struct t_resp *r, const char *member)
{
    json_t *j = t_json(r);
    const json_t *v = json_object_get(j, member);
    char *id = json_is_integer(v)
                   ? dsb_asprintf("%lld", (long long)json_integer_value(v))
                   : strdup(json_string_value(v));

    json_decref(j);
    return id;
}

/* A session of `auth`'s principal holding main's orders; *sel gets the
 * selection's id. */
static char *session_of(const char *auth, char **sel)
{
    struct t_resp r = call(auth, "POST", "/v1/sessions", NULL);
    char *id, p[160];
    json_t *j;

    cr_assert_eq(r.status, 201, "%s", r.body);
    id = id_of(&r, "id");
    t_free(&r);
    snprintf(p, sizeof(p), "/v1/sessions/%s/selections", id);
    r = call(AUTH(T_ADMIN), "POST", p, SEL_MAIN);
    cr_assert_eq(r.status, 201, "%s", r.body);
    j = t_json(&r);
    *sel = dsb_asprintf(
        "%lld", (long long)json_integer_value(json_object_get(
                    json_array_get(json_object_get(j, "items"), 0), "id")));
    json_decref(j);
    t_free(&r);
    return id;
}

/* A finished job of the admin in session sid. */
static char *job_in(const char *sid)
{
    char p[160], *id;
    struct t_resp r;

    snprintf(p, sizeof(p), "/v1/sessions/%s/jobs", sid);
    r = call(AUTH(T_ADMIN), "POST", p, "{\"code\":\"print(1)\"}");
    cr_assert_eq(r.status, 202, "%s", r.body);
    id = id_of(&r, "id");
    t_free(&r);
    snprintf(p, sizeof(p), "/v1/jobs/%s", id);
    for (int i = 0;; i++) {
        r = call(AUTH(T_ADMIN), "GET", p, NULL);
        if (strstr(r.body, "\"state\":\"succeeded\""))
            break;
        cr_assert(i < 3000, "the job did not finish: %s", r.body);
        t_free(&r);
        usleep(10000); /* polling an observed state, bounded */
    }
    t_free(&r);
    return id;
}

/* path with {S}, {L} and {J} replaced (malloc'd). */
static char *expand(const char *path, const char *s, const char *l,
                    const char *j)
{
    char out[512];
    size_t n = 0;

    for (const char *p = path; *p && n < sizeof(out) - 80; p++) {
        const char *v = strncmp(p, "{S}", 3) == 0   ? s
                        : strncmp(p, "{L}", 3) == 0 ? l
                        : strncmp(p, "{J}", 3) == 0 ? j
                                                    : NULL;
        if (v) {
            n += (size_t)snprintf(out + n, sizeof(out) - n, "%s", v);
            p += 2;
        } else {
            out[n++] = *p;
        }
    }
    out[n] = '\0';
    return strdup(out);
}

static const char *problem_code(struct t_resp *r, char *buf, size_t cap)
{
    json_t *j = json_loads(r->body, 0, NULL);

    snprintf(buf, cap, "%s",
             json_string_value(json_object_get(j, "code"))
                 ? json_string_value(json_object_get(j, "code"))
                 : "");
    json_decref(j);
    return buf;
}

/* The route called by auth on fixtures of owner (a fresh session, and job
 * when the route needs one). */
static struct t_resp run(const struct route_case *rc, const char *auth,
                         const char *owner, const char *job)
{
    char *sel = NULL, *sid = session_of(owner, &sel);
    char *path = expand(rc->path, sid, sel, job);
    struct t_resp r = call(auth, rc->method, path, rc->body);

    free(path);
    free(sid);
    free(sel);
    return r;
}

Test(scopes, no_token_and_wrong_token_are_401_except_health)
{
    for (size_t i = 0; i < N_ROUTES; i++) {
        const struct route_case *rc = &routes[i];
        struct t_resp r = run(rc, NULL, AUTH(T_ADMIN), "nojob");
        if (!rc->scope) {
            cr_assert_eq(r.status, rc->ok, "%s %s: %s", rc->method, rc->path,
                         r.body);
        } else {
            t_problem(&r, 401, "unauthenticated");
            t_free(&r);
            r = run(rc, AUTH("wrong-token"), AUTH(T_ADMIN), "nojob");
            t_problem(&r, 401, "unauthenticated");
        }
        t_free(&r);
    }
}

Test(scopes, each_scope_opens_its_routes_only)
{
    char *sel, *jsid = session_of(AUTH(T_ADMIN), &sel), *job = job_in(jsid);
    char code[64];

    for (size_t k = 0; k < sizeof(single) / sizeof(*single); k++)
        for (size_t i = 0; i < N_ROUTES; i++) {
            const struct route_case *rc = &routes[i];
            struct t_resp r = run(rc, single[k].auth, AUTH(T_ADMIN), job);
            int lacks = rc->scope && !(single[k].scopes & rc->scope);
            if (lacks) {
                json_t *j = t_json(&r);
                t_problem(&r, 403, "insufficient_scope");
                cr_assert_str_eq(json_string_value(json_object_get(j, "scope")),
                                 dsb_scope_name(rc->scope), "%s %s", rc->method,
                                 rc->path);
                json_decref(j);
            } else {
                cr_assert(r.status != 401 &&
                              strcmp(problem_code(&r, code, sizeof(code)),
                                     "insufficient_scope"),
                          "%s %s with scope %s: %s", rc->method, rc->path,
                          dsb_scope_name(single[k].scopes), r.body);
            }
            t_free(&r);
        }
    free(job);
    free(jsid);
    free(sel);
}

Test(scopes, admin_may_do_everything)
{
    char *sel, *jsid = session_of(AUTH(T_ADMIN), &sel), *job = job_in(jsid);

    for (size_t i = 0; i < N_ROUTES; i++) {
        const struct route_case *rc = &routes[i];
        struct t_resp r = run(rc, AUTH(T_ADMIN), AUTH(T_OTHER), job);
        cr_assert_eq(r.status, rc->ok, "%s %s: %s", rc->method, rc->path,
                     r.body);
        t_free(&r);
    }
    free(job);
    free(jsid);
    free(sel);
}

/* Every route on a session or job of another principal is refused to a
 * token that holds the scope, compatibility routes included. */
Test(scopes, other_principals_sessions_and_jobs_are_forbidden)
{
    char *sel, *jsid = session_of(AUTH(T_ADMIN), &sel), *job = job_in(jsid);

    for (size_t i = 0; i < N_ROUTES; i++) {
        const struct route_case *rc = &routes[i];
        struct t_resp r;
        if (!strstr(rc->path, "{S}") && !strstr(rc->path, "{J}"))
            continue;
        r = run(rc, AUTH(T_OTHER), AUTH(T_ADMIN), job);
        t_problem(&r, 403, "forbidden");
        t_free(&r);
        r = run(rc, AUTH(T_OTHER), AUTH(T_OTHER), job);
        if (strstr(rc->path, "{J}"))
            t_problem(&r, 403, "forbidden"); /* the admin's job */
        else
            cr_assert(
                r.status < 400 || (rc->body && strstr(rc->body, "pgmain")),
                "%s %s on its own session: %s", rc->method, rc->path, r.body);
        t_free(&r);
    }
    free(job);
    free(jsid);
    free(sel);
}

/* A limited token can neither read, change nor delete another principal's
 * session; it keeps working for the owner. */
Test(scopes, limited_token_cannot_touch_another_session)
{
    char *sel, *sid = session_of(AUTH(T_ADMIN), &sel), p[200];
    static const char *const kinds[][3] = {
        {"GET", "", NULL},
        {"GET", "/selections", NULL},
        {"POST", "/selections", SEL_MAIN},
        {"GET", "/context", NULL},
        {"DELETE", "", NULL},
    };
    struct t_resp r;

    for (size_t i = 0; i < sizeof(kinds) / sizeof(*kinds); i++) {
        snprintf(p, sizeof(p), "/v1/sessions/%s%s", sid, kinds[i][1]);
        r = call(AUTH(T_LIMITED), kinds[i][0], p, kinds[i][2]);
        t_problem(&r, 403, "forbidden");
        t_free(&r);
    }
    snprintf(p, sizeof(p), "/v1/sessions/%s/selections/%s", sid, sel);
    r = call(AUTH(T_LIMITED), "DELETE", p, NULL);
    t_problem(&r, 403, "forbidden");
    t_free(&r);
    snprintf(p, sizeof(p), "/sessions/%s/select-postgres-tables", sid);
    r = call(AUTH(T_LIMITED), "POST", p, PG_SELECT);
    cr_assert_eq(r.status, 403, "%s", r.body);
    t_free(&r);
    snprintf(p, sizeof(p), "/sessions/%s/select-tables", sid);
    r = call(AUTH(T_LIMITED), "POST", p, GLUE_SELECT);
    cr_assert_eq(r.status, 403, "%s", r.body);
    cr_assert(strstr(r.body, "\"success\":false"), "%s", r.body);
    t_free(&r);
    snprintf(p, sizeof(p), "/v1/sessions/%s", sid);
    r = call(AUTH(T_ADMIN), "GET", p, NULL);
    cr_assert_eq(r.status, 200, "the session is gone: %s", r.body);
    cr_assert(strstr(r.body, "\"orders\""), "%s", r.body);
    cr_assert(strstr(r.body, "\"owner\":\"admin\""), "%s", r.body);
    t_free(&r);
    free(sid);
    free(sel);
}

/* Source limits apply on every route that names a source. */
Test(scopes, limited_sources_everywhere)
{
    static const char *const paths[] = {
        "/v1/sources/pgmain", "/v1/sources/pgmain/databases",
        "/v1/sources/pgmain/databases/sales/schemas/public/tables/orders",
        "/postgres/pgmain/databases", NULL};
    char *sel, *sid = session_of(AUTH(T_LIMITED), &sel), p[200];
    struct t_resp r;

    for (const char *const *q = paths; *q; q++) {
        r = call(AUTH(T_LIMITED), "GET", *q, NULL);
        t_problem(&r, 403, "forbidden");
        t_free(&r);
        r = call(AUTH(T_ADMIN), "GET", *q, NULL);
        cr_assert_eq(r.status, 200, "%s: %s", *q, r.body);
        t_free(&r);
        /* cached now: the worker's fast path refuses it too */
        r = call(AUTH(T_LIMITED), "GET", *q, NULL);
        t_problem(&r, 403, "forbidden");
        t_free(&r);
    }
    snprintf(p, sizeof(p), "/sessions/%s/select-postgres-tables", sid);
    r = call(AUTH(T_LIMITED), "POST", p, PG_SELECT);
    cr_assert_eq(r.status, 403, "%s", r.body);
    t_free(&r);
    r = call(AUTH(T_LIMITED), "GET", "/v1/search?q=ord", NULL);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_null(strstr(r.body, "pgmain"), "%s", r.body);
    t_free(&r);
    free(sid);
    free(sel);
}

/* The matrix covers every route the router serves: a new route cannot be
 * added without saying which scope it needs. */
Test(scopes, the_matrix_covers_every_route)
{
    size_t n = dsb_routes_count();
    char *hit = calloc(n, 1);

    for (size_t i = 0; i < N_ROUTES; i++) {
        const struct dsb_http_route *got = NULL;
        const char *params[DSB_MAX_PARAMS];
        char path[512], allow[128], **segs;
        size_t k = 0, ns;

        for (const char *p = routes[i].path;
             *p && *p != '?' && k < sizeof(path) - 2; p++)
            path[k++] = *p == '{' || *p == '}' ? 'x' : *p;
        path[k] = '\0';
        cr_assert_eq(dsb_path_split(path, &segs, &ns), 0, "%s", path);
        cr_assert_eq(dsb_router_match(routes[i].method, segs, ns, &got, params,
                                      allow, sizeof(allow)),
                     DSB_MATCH_OK, "%s %s", routes[i].method, path);
        hit[got - dsb_routes] = 1;
        dsb_path_free(segs, ns);
    }
    for (size_t r = 0; r < n; r++)
        cr_expect(hit[r], "route %s %s is not in the scope matrix",
                  dsb_routes[r].method, dsb_routes[r].pattern);
    free(hit);
}

/* The route memo remembers (request, principal): a request another
 * principal made before, answered from the memo for that principal, is
 * still refused to one who may not make it, for every way of being
 * refused. */
Test(scopes, the_route_memo_is_per_principal)
{
    static const char *const paths[] = {
        "/v1/sources/pgmain/databases",
        "/v1/sources/pgmain/databases/sales/schemas?page_size=1",
        "/v1/sources/main/databases/sales/schemas/public/tables/orders"};

    for (size_t i = 0; i < sizeof(paths) / sizeof(*paths); i++) {
        int limited_ok = strstr(paths[i], "/main/") != NULL;
        for (int round = 0; round < 3; round++) { /* the last two: memo */
            struct t_resp r = call(AUTH(T_ADMIN), "GET", paths[i], NULL);
            cr_assert_eq(r.status, 200, "%s: %s", paths[i], r.body);
            t_free(&r);
            r = call(AUTH(T_LIMITED), "GET", paths[i], NULL);
            if (limited_ok)
                cr_assert_eq(r.status, 200, "%s: %s", paths[i], r.body);
            else
                t_problem(&r, 403, "forbidden");
            t_free(&r);
            r = call(AUTH(T_JOBS), "GET", paths[i], NULL);
            t_problem(&r, 403, "insufficient_scope");
            t_free(&r);
            r = call(NULL, "GET", paths[i], NULL);
            cr_assert_eq(r.status, 401, "%s: %s", paths[i], r.body);
            t_free(&r);
            r = call(AUTH("not-a-token"), "GET", paths[i], NULL);
            cr_assert_eq(r.status, 401, "%s: %s", paths[i], r.body);
            t_free(&r);
        }
    }
}
