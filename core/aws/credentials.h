/* The AWS credential chain, in the SDKs' order, with refresh. */
#ifndef DSB_CORE_AWS_CREDENTIALS_H
#define DSB_CORE_AWS_CREDENTIALS_H

#include <stdint.h>

#include "aws/sigv4.h"
#include "dsbroker/plugin.h"

struct dsb_aws_credprov;

/*
 * A provider for `profile` (NULL: AWS_PROFILE, else "default").  Nothing is
 * read until the first dsb_aws_credprov_get.  An explicit `profile` skips
 * the environment keys (as botocore's Session(profile_name=...)).
 * NULL when memory is exhausted.
 */
struct dsb_aws_credprov *dsb_aws_credprov_new(const char *profile);
void dsb_aws_credprov_free(struct dsb_aws_credprov *p);

/*
 * Copies the current credentials into out (free with dsb_aws_creds_clear).
 * First call resolves the chain: environment, shared credentials file,
 * shared config file, container endpoint, IMDSv2.  Temporary credentials
 * are fetched again from the same source when they expire in less than 15
 * minutes; if that fails while they are still valid, the old ones are
 * used.  Thread-safe.  Errors: DSB_E_AUTH (none found, source refused),
 * DSB_E_CONFIG (bad profile or variables), DSB_E_UNAVAILABLE (endpoint
 * down).  Messages never contain a key or token.
 */
int dsb_aws_credprov_get(struct dsb_aws_credprov *p, struct dsb_aws_creds *out,
                         struct dsb_error *err);
/* Marks refreshable credentials as expired (after ExpiredToken); returns 1
 * when the next get will fetch new ones, 0 for static credentials. */
int dsb_aws_credprov_expire(struct dsb_aws_credprov *p);
/* Wipes and frees the strings of c. */
void dsb_aws_creds_clear(struct dsb_aws_creds *c);

/*
 * Whether AWS_CONTAINER_CREDENTIALS_FULL_URI may be url, as the SDKs allow:
 * https to any host; http only to an IP literal in 127.0.0.0/8, [::1], or
 * the ECS/EKS agents' 169.254.170.2, 169.254.170.23, [fd00:ec2::23].  The
 * URL is parsed (libcurl's URL API), never matched by prefix.
 */
int dsb_aws_container_url_allowed(const char *url);
/* Test seam: where AWS_CONTAINER_CREDENTIALS_RELATIVE_URI is appended
 * ("http://169.254.170.2" unless set; NULL restores it).  base_url is
 * borrowed for good.  Not thread-safe: call before any provider runs. */
void dsb_aws_set_container_base(const char *base_url);

/* Region of the profile in the shared config file (malloc'd) or NULL. */
char *dsb_aws_profile_region(const char *profile);
/* The profile name in effect: `profile`, else AWS_PROFILE, else "default". */
const char *dsb_aws_profile_name(const char *profile);
/* Parses an ISO 8601 UTC time ("2024-02-29T23:59:58Z", fractions and
 * "+00:00" accepted) into Unix ms; -1 when malformed. */
int64_t dsb_aws_parse_iso8601(const char *s);

#endif
