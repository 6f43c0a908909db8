/* Bearer-token authentication and CORS. */
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "http.h"
#include "log.h"
#include "secrets.h"

static const json_t *auth_conf(const struct dsb_req *r)
{
    return json_object_get(r->gen->broker->cfg->broker, "auth");
}

/* The presented token, or NULL. */
static const char *bearer(struct dsb_req *r)
{
    const char *h = dsb_req_header(r, "Authorization");

    if (!h || strncasecmp(h, "Bearer ", 7) != 0)
        return NULL;
    h += 7;
    while (*h == ' ')
        h++;
    return *h ? h : NULL;
}

/* Constant-time comparison of SHA-256 digests (lengths do not leak). */
static int token_equal(const char *presented, const char *value)
{
    unsigned char a[SHA256_DIGEST_LENGTH], b[SHA256_DIGEST_LENGTH];

    SHA256((const unsigned char *)presented, strlen(presented), a);
    SHA256((const unsigned char *)value, strlen(value), b);
    return CRYPTO_memcmp(a, b, sizeof(a)) == 0;
}

static const json_t *find_token(struct dsb_req *r, const char *presented)
{
    const json_t *tokens = json_object_get(auth_conf(r), "tokens"), *t;
    const json_t *found = NULL;
    size_t i;

    json_array_foreach(tokens, i, t) {
        const char *ref = json_string_value(json_object_get(t, "token"));
        struct dsb_error err;
        char *value = NULL;
        if (dsb_secrets_get(r->gen->broker->secrets, ref, &value, &err) < 0) {
            dsb_logf(DSB_LOG_ERROR, "auth", "token %s cannot be resolved: %s",
                     json_string_value(json_object_get(t, "name")),
                     err.message);
            continue;
        }
        if (!found && token_equal(presented, value))
            found = t;
        dsb_secret_value_free(value);
    }
    return found;
}

int dsb_auth_check(struct dsb_req *r)
{
    const json_t *conf = auth_conf(r);
    const char *presented;

    if (!json_is_true(json_object_get(conf, "enabled")))
        return 0;
    if ((r->route->flags & DSB_ROUTE_HEALTH) &&
        json_is_true(json_object_get(conf, "open_health")))
        return 0;
    presented = bearer(r);
    r->token = presented ? find_token(r, presented) : NULL;
    if (r->token)
        return 0;
    dsb_reply_header(r, "WWW-Authenticate", presented
                     ? "Bearer error=\"invalid_token\"" : "Bearer");
    dsb_reply_problem(r, 401, "unauthenticated", presented
                      ? "the bearer token is not valid"
                      : "a bearer token is required", NULL,
                      "send Authorization: Bearer <token>");
    return -1;
}

int dsb_req_may_use(const struct dsb_req *r, const char *source)
{
    const json_t *list = json_object_get(r->token, "sources"), *v;
    size_t i;

    if (!r->token || !json_is_array(list))
        return 1;
    json_array_foreach(list, i, v)
        if (strcmp(json_string_value(v), source) == 0)
            return 1;
    return 0;
}

int dsb_req_may_use_all(const struct dsb_req *r, const json_t *names)
{
    const json_t *v;
    size_t i;

    if (!json_is_array(names))
        return !r->token || !json_is_array(json_object_get(r->token,
                                                           "sources"));
    json_array_foreach(names, i, v)
        if (!json_is_string(v) || !dsb_req_may_use(r, json_string_value(v)))
            return 0;
    return 1;
}

/* ---------------------------------------------------------------- CORS */

void dsb_cors_origin(struct dsb_req *r)
{
    const char *origin = dsb_req_header(r, "Origin");
    const json_t *list = json_object_get(json_object_get(
        r->gen->broker->cfg->broker, "cors"), "allowed_origins"), *v;
    size_t i;

    if (!origin)
        return;
    json_array_foreach(list, i, v) {
        const char *o = json_string_value(v);
        if (strcmp(o, "*") == 0 || strcmp(o, origin) == 0) {
            r->origin = origin;
            return;
        }
    }
}

int dsb_cors_preflight(struct dsb_req *r)
{
    if (strcmp(r->method, "OPTIONS") != 0 || !dsb_req_header(r, "Origin") ||
        !dsb_req_header(r, "Access-Control-Request-Method"))
        return 0;
    if (!r->origin) {
        dsb_reply_problem(r, 403, "forbidden", "this origin may not call the "
                          "API", dsb_req_header(r, "Origin"),
                          "add it to cors.allowed_origins in broker.yaml");
        return 1;
    }
    dsb_reply_header(r, "Access-Control-Allow-Methods",
                     "GET, POST, DELETE, OPTIONS");
    dsb_reply_header(r, "Access-Control-Allow-Headers",
                     "Authorization, Content-Type, If-None-Match, "
                     "X-Request-Id");
    dsb_reply_header(r, "Access-Control-Max-Age", "600");
    dsb_reply_empty(r, 204);
    return 1;
}
