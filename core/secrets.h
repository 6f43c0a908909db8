/* Secret references: env:NAME, file:/path[#key], aws-sm:ID[#key],
 * store:ID[#key] (the PostgreSQL state store's, for managed sources).
 * Values are cached with a TTL, registered for redaction and wiped on free. */
#ifndef DSB_CORE_SECRETS_H
#define DSB_CORE_SECRETS_H

#include <stddef.h>
#include <stdint.h>

#include "dsbroker/plugin.h"

struct dsb_secrets;

/* Fetches the whole secret string of an aws-sm: reference (the part before
 * '#'); returns a malloc'd value or -1 with err set. */
typedef int (*dsb_secret_backend_fn)(void *ctx, const char *id, char **value,
                                     struct dsb_error *err);

struct dsb_secrets *dsb_secrets_new(int64_t ttl_ms);
void dsb_secrets_free(struct dsb_secrets *s);
/* Installs the resolver for "aws-sm:" references (the AWS client). */
void dsb_secrets_set_aws_backend(struct dsb_secrets *s,
                                 dsb_secret_backend_fn fn, void *ctx);
/* Installs the resolver for "store:" references (the id after
 * "store:"): the shared state store's secret values (store.h). */
void dsb_secrets_set_store_backend(struct dsb_secrets *s,
                                   dsb_secret_backend_fn fn, void *ctx);
/* Syntax check of a reference; 0 when valid, else -1 and `why`. */
int dsb_secret_ref_check(const char *ref, char *why, size_t why_len);
/* Resolves ref into a new value (release with dsb_secret_value_free).
 * Thread-safe. */
int dsb_secrets_get(struct dsb_secrets *s, const char *ref, char **value,
                    struct dsb_error *err);
/* The string (or integer, printed) under `key` of the JSON object `whole`
 * (an RDS-style secret) into a new value; registered for redaction.  `ref`
 * names the secret in errors.  DSB_E_CONFIG when whole is not a JSON object,
 * DSB_E_NOT_FOUND when the key is missing or not a string/number. */
int dsb_secret_select_key(const char *ref, const char *whole, const char *key,
                          char **value, struct dsb_error *err);
/* Wipes and frees a value. NULL is a no-op. */
void dsb_secret_value_free(char *value);
/* Drops the cached value of ref (all #keys of the same secret). */
void dsb_secrets_invalidate(struct dsb_secrets *s, const char *ref);

/*
 * Keeps a secret value given in a request (core/secret_store.c): a new
 * Secrets Manager secret "dsbroker/LABEL-RANDOM" when aws is non-NULL
 * (secrets.store: aws-sm), else a new 0600 file dir/LABEL-RANDOM.secret
 * (dir created 0700).  The value is registered for redaction first.  0
 * with *ref its reference ("aws-sm:ARN" or "file:PATH", malloc'd), or -1
 * with err (never holding the value).
 */
struct dsb_aws;
int dsb_secret_store_put(struct dsb_aws *aws, const char *dir,
                         const char *label, const char *value, char **ref,
                         struct dsb_error *err);
/* Removes a secret the store wrote: the file of a file: reference
 * directly under dir, or (aws non-NULL) a Secrets Manager secret named
 * dsbroker/..., scheduled for deletion with a 7-day recovery window (a
 * failure is logged).  Any other reference is left alone. */
void dsb_secret_store_drop(struct dsb_aws *aws, const char *dir,
                           const char *ref);

#endif
