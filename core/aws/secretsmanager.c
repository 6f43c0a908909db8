/* Secrets Manager GetSecretValue: the resolver of aws-sm: references. */
#include "aws/aws.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "aws/buf.h"

/* Rewrites a mapped error so it names the reference, keeping code,
 * upstream code, request id and retryability. */
static void name_reference(struct dsb_aws *a, const char *id,
                           struct dsb_error *err)
{
    char aws_message[sizeof(err->message)], detail[sizeof(err->detail)];
    const char *region = dsb_aws_region(a) ? dsb_aws_region(a) : "unset";

    memcpy(aws_message, err->message, sizeof(aws_message));
    memcpy(detail, err->detail, sizeof(detail));
    if (err->code == DSB_E_NOT_FOUND) {
        snprintf(err->message, sizeof(err->message),
                 "secret \"aws-sm:%.400s\" not found", id);
        snprintf(err->hint, sizeof(err->hint),
                 "check the secret name or ARN "
                 "and the region (%s); the broker's identity also needs "
                 "secretsmanager:GetSecretValue on it",
                 region);
    } else {
        snprintf(err->message, sizeof(err->message),
                 "cannot read secret \"aws-sm:%.200s\": %.280s", id,
                 aws_message);
    }
    snprintf(err->detail, sizeof(err->detail), "%.400s; %.600s", aws_message,
             detail);
}

/* SecretBinary is base64 text in the JSON response. */
static char *decode_binary(const char *b64)
{
    size_t len = strlen(b64);
    unsigned char *out = malloc(len / 4 * 3 + 4);
    int n;

    if (!out)
        return NULL;
    n = EVP_DecodeBlock(out, (const unsigned char *)b64, (int)len);
    if (n < 0 || memchr(out, '\0', (size_t)n)) {
        OPENSSL_cleanse(out, len / 4 * 3 + 4);
        free(out);
        return NULL;
    }
    while (n > 0 && len > 0 && b64[--len] == '=')
        n--; /* EVP_DecodeBlock counts the padding */
    out[n] = '\0';
    return (char *)out;
}

static int take_value(json_t *resp, const char *id, char **value,
                      struct dsb_error *err)
{
    const char *s = json_string_value(json_object_get(resp, "SecretString"));
    const char *b = json_string_value(json_object_get(resp, "SecretBinary"));

    *value = s ? strdup(s) : b ? decode_binary(b) : NULL;
    if (*value)
        return 0;
    if (s)
        return dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
    dsb_error_set(err, DSB_E_UNSUPPORTED,
                  "secret \"aws-sm:%s\" has no text "
                  "value",
                  id);
    dsb_error_hint(err, "store the secret as a SecretString (text or JSON)");
    return -1;
}

int dsb_aws_secret_fetch(void *aws, const char *id, char **value,
                         struct dsb_error *err)
{
    struct dsb_aws *a = aws;
    json_t *body = NULL, *out = NULL;
    int rc = -1;

    *value = NULL;
    if (!a || !id || !*id)
        return dsb_error_set(err, DSB_E_CONFIG,
                             "aws-sm: reference without a "
                             "secret name or ARN");
    body = json_pack("{s:s}", "SecretId", id);
    if (!body) {
        dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
        goto fail;
    }
    if (dsb_aws_call_json(a, "secretsmanager", "secretsmanager.GetSecretValue",
                          NULL, body, &out, err) < 0) {
        name_reference(a, id, err);
        goto fail;
    }
    rc = take_value(out, id, value, err);
fail:
    json_decref(body);
    json_decref(out);
    return rc;
}
