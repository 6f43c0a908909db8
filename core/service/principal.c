/* Principals: bearer tokens (or the anonymous one), scopes, source limits. */
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "secrets.h"
#include "service/internal.h"

/* Constant-time comparison of SHA-256 digests (lengths do not leak). */
static int token_equal(const char *presented, const char *value)
{
    unsigned char a[SHA256_DIGEST_LENGTH], b[SHA256_DIGEST_LENGTH];

    SHA256((const unsigned char *)presented, strlen(presented), a);
    SHA256((const unsigned char *)value, strlen(value), b);
    return CRYPTO_memcmp(a, b, sizeof(a)) == 0;
}

/* Every token is compared (the time taken does not say which matched). */
static const struct dsb_token_conf *find_token(struct dsb_gen *g,
                                               const char *presented)
{
    const struct dsb_settings *st = &g->broker->cfg->settings;
    const struct dsb_token_conf *found = NULL;

    for (size_t i = 0; i < st->n_tokens; i++) {
        const struct dsb_token_conf *t = &st->tokens[i];
        struct dsb_error err;
        char *value = NULL;
        if (dsb_secrets_get(g->broker->secrets, t->ref, &value, &err) < 0) {
            dsb_logf(DSB_LOG_ERROR, "auth", "token %s cannot be resolved: %s",
                     t->name, err.message);
            continue;
        }
        if (!found && token_equal(presented, value))
            found = t;
        dsb_secret_value_free(value);
    }
    return found;
}

static int unauthenticated(struct dsb_error *err, const char *presented)
{
    dsb_error_set(err, DSB_E_AUTH,
                  presented ? "the bearer token is not valid"
                            : "a bearer token is required");
    dsb_error_detail(err, "%s", presented ? "invalid" : "missing");
    dsb_error_hint(err, "send Authorization: Bearer <token>");
    snprintf(err->upstream, sizeof(err->upstream), DSB_UNAUTH_UPSTREAM);
    return -1;
}

int dsb_svc_authenticate(struct dsb_service *svc, struct dsb_gen *g,
                         const char *bearer, const struct dsb_principal **out,
                         struct dsb_error *err)
{
    const struct dsb_settings *st = &g->broker->cfg->settings;
    const struct dsb_token_conf *t;

    (void)svc;
    if (!st->auth_enabled) {
        *out = &g->anonymous;
        return 0;
    }
    t = bearer ? find_token(g, bearer) : NULL;
    if (!t)
        return unauthenticated(err, bearer);
    *out = &g->principals[t - st->tokens];
    return 0;
}

int dsb_svc_whoami(const struct dsb_ctx *c, int authenticated, json_t **out,
                   struct dsb_error *err)
{
    const struct dsb_principal *p = c->principal;
    json_t *scopes = json_array(), *sources = p->sources ? json_array() : NULL;

    if (!authenticated) {
        json_decref(sources);
        *out = json_pack("{s:n, s:b, s:o, s:n}", "name", "auth", 1, "scopes",
                         scopes ? scopes : json_null(), "sources");
        return *out ? 0 : dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
    }
    for (unsigned bit = 1; scopes && bit <= DSB_SCOPE_ADMIN; bit <<= 1)
        if (p->scopes & bit)
            json_array_append_new(scopes, json_string(dsb_scope_name(bit)));
    for (size_t i = 0; sources && i < p->n_sources; i++)
        json_array_append_new(sources, json_string(p->sources[i]));
    *out = json_pack("{s:s, s:b, s:o, s:o}", "name", p->name, "auth",
                     c->gen->broker->cfg->settings.auth_enabled, "scopes",
                     scopes ? scopes : json_null(), "sources",
                     sources ? sources : json_null());
    if (!*out) {
        dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
        return -1;
    }
    return 0;
}

int dsb_svc_require(const struct dsb_ctx *c, unsigned scope,
                    struct dsb_error *err)
{
    const char *name = dsb_scope_name(scope);

    if ((c->principal->scopes & scope) == scope)
        return 0;
    dsb_error_set(err, DSB_E_PERMISSION, "this token lacks the \"%s\" scope",
                  name);
    dsb_error_detail(err, "%s", name);
    dsb_error_hint(err, "use a token whose scopes in broker.yaml include %s",
                   name);
    snprintf(err->upstream, sizeof(err->upstream), DSB_SCOPE_UPSTREAM);
    return -1;
}

int dsb_principal_may_use(const struct dsb_principal *p, const char *source)
{
    if (!p->sources)
        return 1;
    for (size_t i = 0; source && i < p->n_sources; i++)
        if (strcmp(p->sources[i], source) == 0)
            return 1;
    return 0;
}

int dsb_svc_may_use_all(const struct dsb_ctx *c, const json_t *names)
{
    const json_t *v;
    size_t i;

    if (!json_is_array(names))
        return !c->principal->sources;
    json_array_foreach(
        names, i, v) if (!json_is_string(v) ||
                         !dsb_principal_may_use(c->principal,
                                                json_string_value(v))) return 0;
    return 1;
}

int dsb_svc_forbidden(struct dsb_error *err, const char *what,
                      const char *detail, const char *hint)
{
    dsb_error_set(err, DSB_E_PERMISSION, "%s", what);
    if (detail)
        dsb_error_detail(err, "%s", detail);
    if (hint)
        dsb_error_hint(err, "%s", hint);
    snprintf(err->upstream, sizeof(err->upstream), DSB_FORBIDDEN_UPSTREAM);
    return -1;
}
