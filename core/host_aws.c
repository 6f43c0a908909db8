/* AWS host slots; replaced by the core AWS client when it lands. */
#include "host.h"

static int aws_unavailable(const struct dsb_host *h,
                           const struct dsb_aws_request *req,
                           struct dsb_aws_response *resp, struct dsb_error *err)
{
    (void)h;
    (void)resp;
    return dsb_error_set(err, DSB_E_UNSUPPORTED, "no AWS client in this "
                         "build (request to %s)", req->service);
}

static void aws_free(const struct dsb_host *h, struct dsb_aws_response *resp)
{
    (void)h;
    (void)resp;
}

static int aws_error(const struct dsb_host *h,
                     const struct dsb_aws_response *resp,
                     struct dsb_error *err)
{
    (void)h;
    return dsb_error_set(err, DSB_E_UPSTREAM, "AWS answered HTTP %ld",
                         resp->status);
}

void dsb_host_init_aws(struct dsb_host *h)
{
    h->aws_request = aws_unavailable;
    h->aws_response_free = aws_free;
    h->aws_error = aws_error;
}
