/*
 * The broker's one AWS client, handed to plugins as host services
 * (aws_request, aws_response_free, aws_error).  Credentials come from the
 * SDKs' chain (core/aws/credentials.h), requests are signed with SigV4
 * (core/aws/sigv4.h) and retried in the SDKs' "standard" mode.
 */
#ifndef DSB_CORE_AWS_AWS_H
#define DSB_CORE_AWS_AWS_H

#include <jansson.h>

#include "dsbroker/plugin.h"

struct dsb_aws;

/* Zero or NULL fields take the defaults noted; the limits' defaults and
 * bounds are broker.yaml's (dsb_aws_client_option, core/config.c). */
struct dsb_aws_options {
    const char *region;       /* else AWS_REGION, AWS_DEFAULT_REGION, profile */
    const char *endpoint_url; /* for every service; see dsb_aws_endpoint */
    const char *profile;      /* else AWS_PROFILE, else "default" */
    long connect_timeout_ms;  /* 3000 */
    long timeout_ms;          /* 15000, per attempt */
    int max_attempts;         /* 3, at most 10 */
    long backoff_base_ms;     /* 1000: attempt n waits rand(0, base*2^(n-1)) */
    long backoff_cap_ms;      /* 20000 */
};

/* The options of broker.yaml's validated `aws` section (borrowed; NULL:
 * every default); strings stay borrowed from it. */
void dsb_aws_options_of(const json_t *aws, struct dsb_aws_options *o);

/*
 * A new client.  Never contacts the network: credentials are resolved on
 * the first request.  Reads the region from the options, the environment
 * or the shared config file; a missing region is reported by the first
 * request.  NULL with err set (DSB_E_INVALID for bad options,
 * DSB_E_INTERNAL) on failure.
 */
struct dsb_aws *dsb_aws_new(const struct dsb_aws_options *o,
                            struct dsb_error *err);
void dsb_aws_free(struct dsb_aws *a);

/* The region requests default to, or NULL when none is configured. */
const char *dsb_aws_region(const struct dsb_aws *a);

struct dsb_aws_creds;
/* The credentials the client signs with, resolved (and refreshed) as for
 * its own requests, copied into out: free them with dsb_aws_creds_clear
 * (core/aws/credentials.h).  For a local job that is told to use them
 * (docs/jobs.md, aws_credentials).  0, or -1 with err set. */
int dsb_aws_credentials(struct dsb_aws *a, struct dsb_aws_creds *out,
                        struct dsb_error *err);

/* Test seam: tokens left in the client's retry quota (0..500).
 * Thread-safe. */
int dsb_aws_retry_quota(struct dsb_aws *a);

/*
 * The endpoint for service (signing name) in region, malloc'd, without a
 * trailing '/': req_url, else the client's endpoint_url, else
 * AWS_ENDPOINT_URL_<SERVICE> (S3, GLUE, SECRETS_MANAGER, EMR_SERVERLESS,
 * STS, or the name upper-cased with '-' as '_'), else AWS_ENDPOINT_URL,
 * else https://SERVICE.REGION.amazonaws.com.  *overridden is set to 1 for
 * the first four (S3 then uses path-style URLs).  NULL on exhaustion.
 */
char *dsb_aws_endpoint(const struct dsb_aws *a, const char *service,
                       const char *region, const char *req_url,
                       int *overridden);

/*
 * Signs and sends req, retrying throttling, 5xx, timeouts and connection
 * failures with exponential backoff and full jitter (each attempt signed
 * again) while the client's retry quota lasts (a retry costs 5 tokens, 10
 * after a timeout or connection failure; a 2xx gives back the last retry's
 * cost, or 1 without retries), and refreshing temporary credentials once on
 * ExpiredToken.
 * Returns 0 when a response arrived, whatever its status (the last one);
 * resp is then filled and must be released with dsb_aws_response_free.
 * Returns -1 with err set when none did (DSB_E_TIMEOUT,
 * DSB_E_UNAVAILABLE, DSB_E_AUTH/DSB_E_CONFIG for credentials,
 * DSB_E_INVALID for a malformed request).  Thread-safe.
 */
int dsb_aws_send(struct dsb_aws *a, const struct dsb_aws_request *req,
                 struct dsb_aws_response *resp, struct dsb_error *err);
/* dsb_aws_send within a deadline (monotonic ms; 0: none): each attempt's
 * timeout is cut to what is left, no retry starts that its backoff would
 * take past it, and an attempt due after it fails with DSB_E_TIMEOUT
 * (retryable) without being sent. */
int dsb_aws_send_by(struct dsb_aws *a, const struct dsb_aws_request *req,
                    int64_t deadline_ms, struct dsb_aws_response *resp,
                    struct dsb_error *err);
/* Releases the body of a response; the struct may be reused. */
void dsb_aws_response_free(struct dsb_aws_response *resp);

/*
 * Maps an error response into err field by field: upstream = the AWS error
 * code (JSON "__type" without its "prefix#", the X-Amzn-ErrorType header,
 * or S3/query XML <Error><Code>), message with AWS's message, detail with
 * the HTTP status and request id, and a hint.  Always returns -1.
 */
int dsb_aws_error_from_response(const struct dsb_aws_response *resp,
                                struct dsb_error *err);

/*
 * One JSON 1.1 call (POST /, X-Amz-Target: target).  body is borrowed (NULL
 * sends {}).  On a 2xx response *out is a new reference to the parsed body
 * ({} when empty); otherwise -1 with the mapped error.  endpoint_url may
 * be NULL.
 */
int dsb_aws_call_json(struct dsb_aws *a, const char *service,
                      const char *target, const char *endpoint_url,
                      json_t *body, json_t **out, struct dsb_error *err);

/*
 * Secrets Manager GetSecretValue for a secret name or ARN (a
 * dsb_secret_backend_fn; aws is a struct dsb_aws).  *value is a new
 * malloc'd SecretString (or the decoded SecretBinary) to be wiped and
 * freed by the caller (dsb_secret_value_free).  Errors name the reference
 * "aws-sm:ID", never the value: DSB_E_NOT_FOUND, DSB_E_PERMISSION,
 * DSB_E_AUTH, DSB_E_THROTTLED, DSB_E_UNAVAILABLE, ...
 */
int dsb_aws_secret_fetch(void *aws, const char *id, char **value,
                         struct dsb_error *err);

/* Releases the calling thread's connection handle (optional: other
 * threads' handles are released when they exit). */
void dsb_aws_thread_cleanup(void);

#endif
