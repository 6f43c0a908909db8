/* AWS Signature Version 4 over OpenSSL (HMAC-SHA256, SHA-256). */
#ifndef DSB_CORE_AWS_SIGV4_H
#define DSB_CORE_AWS_SIGV4_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "dsbroker/plugin.h"

/* A set of credentials; strings owned by whoever filled it. */
struct dsb_aws_creds {
    char *access_key;
    char *secret_key;
    char *session_token; /* NULL for long-term keys */
    int64_t expires_ms;  /* Unix ms; 0 = does not expire */
    const char *source;  /* static: "env", "shared-credentials-file", ... */
};

/*
 * What is signed.  `path` is the path as it goes on the wire (already
 * percent-encoded once); query pairs and headers are raw.  The signer adds
 * host, x-amz-date, x-amz-security-token (with a session token) and, with
 * `s3`, x-amz-content-sha256; the caller must send exactly those values
 * (see struct dsb_sigv4_out) plus its own headers.  Header names compare
 * case-insensitively; user-agent, expect and the hop-by-hop headers are
 * not signed (as botocore).
 */
struct dsb_sigv4_req {
    const char *method;
    const char *host; /* "host[:port]", as sent in the Host header */
    const char *path;
    const struct dsb_kv *query;
    size_t n_query;
    const struct dsb_kv *headers;
    size_t n_headers;
    const void *body;
    size_t body_len;
    const char *service; /* signing name */
    const char *region;
    int s3;      /* S3 rules: path not re-encoded, payload header */
    time_t when; /* signing time (UTC seconds) */
};

struct dsb_sigv4_out {
    char amz_date[17];       /* YYYYMMDDTHHMMSSZ */
    char payload_hash[65];   /* hex SHA-256 of the body */
    char *authorization;     /* malloc'd Authorization header value */
    char *canonical_request; /* malloc'd, for tests and debugging */
};

/*
 * Signs r with c.  Returns 0, or -1 when memory is exhausted or an
 * argument is missing (out is then zeroed).  Free out with
 * dsb_sigv4_out_free.  The secret key never appears in out.
 */
int dsb_sigv4_sign(const struct dsb_sigv4_req *r, const struct dsb_aws_creds *c,
                   struct dsb_sigv4_out *out);
void dsb_sigv4_out_free(struct dsb_sigv4_out *out);

/*
 * The canonical query string of raw pairs (keys and values encoded, sorted
 * by key then value, "k=v" joined by '&'); the same string is used on the
 * wire.  malloc'd ("" for none), NULL when memory is exhausted.
 */
char *dsb_sigv4_query_string(const struct dsb_kv *query, size_t n);

/* Lower-case hex SHA-256 of data into hex[65]. */
void dsb_sha256_hex(const void *data, size_t len, char hex[65]);

#endif
