/* A host whose AWS transport answers from the fuzz input: pages separated by
 * "\n====\n"; a page starting with "!" is an HTTP 400 error answer (mapped by
 * the broker's real error parser); after the last page every call gets an
 * empty 500.  For the plugin harnesses (glue, s3csv), which define
 * _GNU_SOURCE for memmem. */
#ifndef DSB_TESTS_FUZZ_FAKE_AWS_H
#define DSB_TESTS_FUZZ_FAKE_AWS_H

#include <stdlib.h>
#include <string.h>

#include "aws/aws.h"
#include "dsbroker/plugin.h"

#define FA_SEP "\n====\n"

struct fa_input {
    const char *p, *end; /* the pages not served yet */
};

static struct fa_input fa_in;

static void fa_set(const uint8_t *data, size_t size)
{
    fa_in.p = (const char *)data;
    fa_in.end = fa_in.p + size;
}

/* The next page of the input, or NULL at the end. */
static const char *fa_next(size_t *len)
{
    const char *page = fa_in.p, *sep;

    if (!page)
        return NULL;
    sep = memmem(page, (size_t)(fa_in.end - page), FA_SEP, strlen(FA_SEP));
    *len = (size_t)((sep ? sep : fa_in.end) - page);
    fa_in.p = sep ? sep + strlen(FA_SEP) : NULL;
    return page;
}

static int fa_request(const struct dsb_host *h,
                      const struct dsb_aws_request *req,
                      struct dsb_aws_response *resp, struct dsb_error *err)
{
    size_t len = 0;
    const char *page = fa_next(&len);
    int error = page && len > 0 && page[0] == '!';

    (void)h;
    (void)req;
    (void)err;
    memset(resp, 0, sizeof(*resp));
    resp->status = !page ? 500 : error ? 400 : 200;
    resp->body = malloc(len + 1);
    if (!resp->body)
        abort();
    if (page)
        memcpy(resp->body, page + error, len - (size_t)error);
    resp->body_len = page ? len - (size_t)error : 0;
    resp->body[resp->body_len] = '\0';
    return 0;
}

static int fa_call_request(const struct dsb_host *h, struct dsb_call *call,
                           const struct dsb_aws_request *req,
                           struct dsb_aws_response *resp, struct dsb_error *err)
{
    (void)call;
    return fa_request(h, req, resp, err);
}

static void fa_response_free(const struct dsb_host *h,
                             struct dsb_aws_response *resp)
{
    (void)h;
    free(resp->body);
    resp->body = NULL;
}

static int fa_error(const struct dsb_host *h,
                    const struct dsb_aws_response *resp, struct dsb_error *err)
{
    (void)h;
    return dsb_aws_error_from_response(resp, err);
}

static json_t *fa_s3a_conf(const struct dsb_host *h, const char *endpoint_url,
                           const char *region)
{
    (void)h;
    (void)endpoint_url;
    (void)region;
    return json_pack("{s:s}", "spark.hadoop.fs.s3a.path.style.access", "true");
}

static const struct dsb_host fa_host = {
    .size = sizeof(struct dsb_host),
    .aws_request = fa_request,
    .call_aws_request = fa_call_request,
    .aws_response_free = fa_response_free,
    .aws_error = fa_error,
    .aws_s3a_conf = fa_s3a_conf,
};

#endif
