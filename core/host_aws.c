/* The AWS host slots: signed requests through the broker's AWS client. */
#include <stddef.h>

#include "aws/aws.h"
#include "host.h"
#include "log.h"

static struct dsb_aws *aws_of(const struct dsb_host *h)
{
    const struct dsb_host_impl *hi = (const struct dsb_host_impl *)(
        const void *)((const char *)h - offsetof(struct dsb_host_impl, pub));
    return hi->broker->aws;
}

static int host_aws_request(const struct dsb_host *h,
                            const struct dsb_aws_request *req,
                            struct dsb_aws_response *resp,
                            struct dsb_error *err)
{
    struct dsb_aws *aws = aws_of(h);
    int rc;

    if (!aws)
        return dsb_error_set(err, DSB_E_CONFIG, "the AWS client is not "
                             "available");
    rc = dsb_aws_send(aws, req, resp, err);
    if (rc < 0)
        dsb_redact_error(err);
    return rc;
}

static void host_aws_free(const struct dsb_host *h,
                          struct dsb_aws_response *resp)
{
    (void)h;
    dsb_aws_response_free(resp);
}

static int host_aws_error(const struct dsb_host *h,
                          const struct dsb_aws_response *resp,
                          struct dsb_error *err)
{
    (void)h;
    dsb_aws_error_from_response(resp, err);
    dsb_redact_error(err);
    return -1;
}

void dsb_host_init_aws(struct dsb_host *h)
{
    h->aws_request = host_aws_request;
    h->aws_response_free = host_aws_free;
    h->aws_error = host_aws_error;
}
