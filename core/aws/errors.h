/* AWS error responses: parsing, classification and mapping to dsb_error. */
#ifndef DSB_CORE_AWS_ERRORS_H
#define DSB_CORE_AWS_ERRORS_H

#include <stddef.h>

#include "dsbroker/plugin.h"

/*
 * The AWS error code and message of a response: JSON ("__type" without
 * "prefix#", "code"/"Code"; "message"/"Message"), XML (<Error><Code>,
 * <Message>, <RequestId>, also inside <ErrorResponse>), else the
 * X-Amzn-ErrorType header value `errtype` (may be NULL).  Empty strings
 * when none.  request_id is filled from the XML only when it was empty.
 */
void dsb_aws_error_parse(const char *body, size_t len, const char *errtype,
                         char code[64], char message[512],
                         char request_id[128]);

/* Non-zero for the SDKs' throttling codes. */
int dsb_aws_is_throttling(const char *code);
/* Non-zero when an attempt with this status and code should be retried
 * (throttling, transient codes, 429, 500, 502, 503, 504). */
int dsb_aws_should_retry(long status, const char *code);

/*
 * Fills err from an error response's parts (see dsb_aws_error_from_response
 * in aws.h).  Returns -1.
 */
int dsb_aws_error_map(long status, const char *code, const char *message,
                      const char *request_id, struct dsb_error *err);

#endif
