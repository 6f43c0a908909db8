#include "secrets.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "arena.h"
#include "log.h"
#include "util.h"

#define SECRET_FILE_MAX (64u << 10)

struct cached {
    char *base;  /* reference without #key */
    char *value; /* whole secret */
    int64_t fetched_ms;
};

struct dsb_secrets {
    pthread_mutex_t lock;
    int64_t ttl_ms;
    struct cached *items;
    size_t n, cap;
    dsb_secret_backend_fn aws_fn;
    void *aws_ctx;
    dsb_secret_backend_fn store_fn;
    void *store_ctx;
};

struct dsb_secrets *dsb_secrets_new(int64_t ttl_ms)
{
    struct dsb_secrets *s = calloc(1, sizeof(*s));

    if (!s)
        return NULL;
    pthread_mutex_init(&s->lock, NULL);
    s->ttl_ms = ttl_ms;
    return s;
}

static void cached_clear(struct cached *c)
{
    free(c->base);
    dsb_secret_value_free(c->value);
    memset(c, 0, sizeof(*c));
}

void dsb_secrets_free(struct dsb_secrets *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        cached_clear(&s->items[i]);
    free(s->items);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

void dsb_secrets_set_aws_backend(struct dsb_secrets *s,
                                 dsb_secret_backend_fn fn, void *ctx)
{
    s->aws_fn = fn;
    s->aws_ctx = ctx;
}

void dsb_secrets_set_store_backend(struct dsb_secrets *s,
                                   dsb_secret_backend_fn fn, void *ctx)
{
    s->store_fn = fn;
    s->store_ctx = ctx;
}

void dsb_secret_value_free(char *value)
{
    if (!value)
        return;
    memset(value, 0, strlen(value));
    free(value);
}

/* ----------------------------------------------------------- syntax */

static int valid_env_name(const char *p)
{
    if (!*p || isdigit((unsigned char)*p))
        return 0;
    for (; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_')
            return 0;
    return 1;
}

int dsb_secret_ref_check(const char *ref, char *why, size_t why_len)
{
    const char *hash = strchr(ref, '#');

    if (strncmp(ref, "env:", 4) == 0) {
        if (valid_env_name(ref + 4))
            return 0;
        snprintf(why, why_len, "env: needs a variable name (env:PG_PASSWORD)");
    } else if (strncmp(ref, "file:", 5) == 0) {
        if (ref[5] == '/' && (!hash || hash[1]))
            return 0;
        snprintf(why, why_len,
                 "file: needs an absolute path "
                 "(file:/run/secrets/pg or file:/path.json#password)");
    } else if (strncmp(ref, "aws-sm:", 7) == 0) {
        if (ref[7] && ref[7] != '#' && (!hash || hash[1]))
            return 0;
        snprintf(why, why_len,
                 "aws-sm: needs a secret name or ARN "
                 "(aws-sm:prod/db#password)");
    } else if (strncmp(ref, "store:", 6) == 0) {
        if (ref[6] && ref[6] != '#' && (!hash || hash[1]))
            return 0;
        snprintf(why, why_len,
                 "store: needs the id the broker gave the secret "
                 "(store:name-password-1a2b3c4d)");
    } else {
        snprintf(why, why_len,
                 "the value does not start with env:, file:, aws-sm: or "
                 "store:");
    }
    return -1;
}

/* ------------------------------------------------------------ fetch */

static int fetch_file(const char *path, char **value, struct dsb_error *err)
{
    size_t len;
    char *v = dsb_read_file(path, SECRET_FILE_MAX, &len);

    if (!v) {
        int e = errno;
        dsb_error_set(err, e == ENOENT ? DSB_E_NOT_FOUND : DSB_E_CONFIG,
                      "cannot read secret file %s: %s", path,
                      e == EFBIG ? "larger than 64 KiB" : strerror(e));
        dsb_error_hint(err, "check the path and that the broker's user may "
                            "read it");
        return -1;
    }
    while (len && (v[len - 1] == '\n' || v[len - 1] == '\r'))
        v[--len] = '\0';
    *value = v;
    return 0;
}

static int fetch_base(struct dsb_secrets *s, const char *base, char **value,
                      struct dsb_error *err)
{
    if (strncmp(base, "file:", 5) == 0)
        return fetch_file(base + 5, value, err);
    if (strncmp(base, "store:", 6) == 0) {
        if (s->store_fn)
            return s->store_fn(s->store_ctx, base + 6, value, err);
        dsb_error_set(err, DSB_E_CONFIG,
                      "cannot resolve %s: store: references are kept in the "
                      "PostgreSQL state store, which this broker does not use",
                      base);
        dsb_error_hint(err, "set state.store: postgresql in broker.yaml as "
                            "the replica that stored it does");
        return -1;
    }
    if (!s->aws_fn) {
        dsb_error_set(err, DSB_E_CONFIG,
                      "cannot resolve %s: the AWS client "
                      "is not available",
                      base);
        return -1;
    }
    return s->aws_fn(s->aws_ctx, base + 7, value, err);
}

static struct cached *cache_find(struct dsb_secrets *s, const char *base)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->items[i].base, base) == 0)
            return &s->items[i];
    return NULL;
}

/* The entry for base, created when missing; NULL when out of memory. */
static struct cached *cache_slot(struct dsb_secrets *s, const char *base)
{
    struct cached *c = cache_find(s, base), *ni;

    if (c)
        return c;
    if (s->n == s->cap) {
        size_t cap = s->cap * 2 + 4;
        ni = realloc(s->items, cap * sizeof(*ni));
        if (!ni)
            return NULL;
        s->items = ni;
        s->cap = cap;
    }
    c = &s->items[s->n];
    memset(c, 0, sizeof(*c));
    c->base = strdup(base);
    if (!c->base)
        return NULL;
    s->n++;
    return c;
}

/* Whole value of base, from the cache when fresh; new string in *value. */
static int get_base(struct dsb_secrets *s, const char *base, char **value,
                    struct dsb_error *err)
{
    struct cached *c;
    char *fresh = NULL;

    pthread_mutex_lock(&s->lock);
    c = cache_find(s, base);
    if (c && dsb_monotonic_ms() - c->fetched_ms < s->ttl_ms) {
        *value = strdup(c->value);
        pthread_mutex_unlock(&s->lock);
        return *value ? 0 : dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
    }
    pthread_mutex_unlock(&s->lock);
    if (fetch_base(s, base, &fresh, err) < 0)
        return -1;
    dsb_redact_register(fresh);
    pthread_mutex_lock(&s->lock);
    c = cache_slot(s, base);
    if (c) {
        dsb_secret_value_free(c->value);
        c->value = strdup(fresh);
        c->fetched_ms = dsb_monotonic_ms();
    }
    pthread_mutex_unlock(&s->lock);
    *value = fresh;
    return 0;
}

int dsb_secret_select_key(const char *ref, const char *whole, const char *key,
                          char **value, struct dsb_error *err)
{
    json_t *doc = json_loads(whole, JSON_REJECT_DUPLICATES, NULL), *v;
    char num[64];
    const char *txt = NULL;

    v = json_is_object(doc) ? json_object_get(doc, key) : NULL;
    if (json_is_string(v)) {
        txt = json_string_value(v);
    } else if (json_is_integer(v)) {
        snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
                 json_integer_value(v));
        txt = num;
    }
    if (txt)
        *value = strdup(txt);
    json_decref(doc);
    if (txt && *value) {
        dsb_redact_register(*value);
        return 0;
    }
    if (!doc)
        dsb_error_set(err, DSB_E_CONFIG,
                      "secret %s is not a JSON object, so "
                      "it has no key \"%s\"",
                      ref, key);
    else
        dsb_error_set(err, DSB_E_NOT_FOUND,
                      "secret %s has no string or "
                      "number key \"%s\"",
                      ref, key);
    return -1;
}

int dsb_secrets_get(struct dsb_secrets *s, const char *ref, char **value,
                    struct dsb_error *err)
{
    char why[160], *base, *hash, *whole = NULL;
    int rc;

    *value = NULL;
    if (dsb_secret_ref_check(ref, why, sizeof(why)) < 0)
        return dsb_error_set(err, DSB_E_CONFIG, "bad secret reference: %s",
                             why);
    if (strncmp(ref, "env:", 4) == 0) {
        const char *v = getenv(ref + 4);
        if (!v)
            return dsb_error_set(err, DSB_E_NOT_FOUND,
                                 "secret %s: the "
                                 "environment variable is not set",
                                 ref);
        *value = strdup(v);
        dsb_redact_register(v);
        return *value ? 0 : dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
    }
    base = strdup(ref);
    if (!base)
        return dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
    hash = strchr(base, '#');
    if (hash)
        *hash++ = '\0';
    rc = get_base(s, base, &whole, err);
    if (rc == 0 && hash) {
        rc = dsb_secret_select_key(ref, whole, hash, value, err);
        dsb_secret_value_free(whole);
    } else if (rc == 0) {
        *value = whole;
    }
    free(base);
    return rc;
}

void dsb_secrets_invalidate(struct dsb_secrets *s, const char *ref)
{
    size_t blen = strcspn(ref, "#");

    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < s->n; i++) {
        if (strlen(s->items[i].base) == blen &&
            strncmp(s->items[i].base, ref, blen) == 0) {
            cached_clear(&s->items[i]);
            s->items[i] = s->items[--s->n];
            break;
        }
    }
    pthread_mutex_unlock(&s->lock);
}
