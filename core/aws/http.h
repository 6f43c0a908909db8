/* One HTTP exchange over the calling thread's libcurl handle. */
#ifndef DSB_CORE_AWS_HTTP_H
#define DSB_CORE_AWS_HTTP_H

#include <stddef.h>

#include <curl/curl.h>

#include "aws/buf.h"

struct dsb_aws_http_req {
    const char *method;
    const char *url;
    const struct curl_slist *headers; /* complete "Name: value" lines */
    const void *body;
    size_t body_len;
    long connect_timeout_ms; /* 0: libcurl's default */
    long timeout_ms;         /* whole exchange; 0: none */
};

struct dsb_aws_http_resp {
    long status;
    struct dsb_sb body;
    char request_id[128]; /* x-amzn-requestid / x-amz-request-id */
    char error_type[128]; /* x-amzn-errortype, without ":..." */
    CURLcode curl_code;   /* CURLE_OK when a response arrived */
    char curl_error[CURL_ERROR_SIZE];
};

/*
 * Performs the exchange on this thread's handle (created on first use,
 * reused so connections are kept; TLS peer and host verification on).
 * Returns 0 when a response arrived (any status), -1 when none did
 * (curl_code / curl_error say why).  Free resp with dsb_aws_http_resp_free.
 */
int dsb_aws_http_perform(const struct dsb_aws_http_req *r,
                         struct dsb_aws_http_resp *resp);
void dsb_aws_http_resp_free(struct dsb_aws_http_resp *resp);
/* Initialises libcurl once per process; 0 or -1. */
int dsb_aws_http_global_init(void);
/* Releases the calling thread's handle (other threads' go at their exit). */
void dsb_aws_http_thread_cleanup(void);

#endif
