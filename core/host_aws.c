/* The AWS host slots: signed requests through the broker's AWS client. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "aws/aws.h"
#include "host.h"
#include "log.h"

static struct dsb_aws *aws_of(const struct dsb_host *h)
{
    const struct dsb_host_impl *hi =
        (const struct dsb_host_impl *)(const void *)((const char *)h -
                                                     offsetof(
                                                         struct dsb_host_impl,
                                                         pub));
    return hi->broker->aws;
}

static int host_call_aws_request(const struct dsb_host *h,
                                 struct dsb_call *call,
                                 const struct dsb_aws_request *req,
                                 struct dsb_aws_response *resp,
                                 struct dsb_error *err)
{
    struct dsb_aws *aws = aws_of(h);
    int rc;

    if (!aws)
        return dsb_error_set(err, DSB_E_CONFIG,
                             "the AWS client is not "
                             "available");
    rc = dsb_aws_send_by(aws, req, call ? call->deadline_ms : 0, resp, err);
    if (rc < 0)
        dsb_redact_error(err);
    return rc;
}

/* ABI 1.0: no call, so only the AWS client's own timeouts bound it. */
static int host_aws_request(const struct dsb_host *h,
                            const struct dsb_aws_request *req,
                            struct dsb_aws_response *resp,
                            struct dsb_error *err)
{
    return host_call_aws_request(h, NULL, req, resp, err);
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

static json_t *host_s3a_conf(const struct dsb_host *h, const char *endpoint_url,
                             const char *region)
{
    struct dsb_aws *aws = aws_of(h);
    const char *reg = region ? region : aws ? dsb_aws_region(aws) : NULL;
    json_t *conf = json_object();
    int overridden = 0;
    char *ep = aws ? dsb_aws_endpoint(aws, "s3", reg ? reg : "us-east-1",
                                      endpoint_url, &overridden)
                   : NULL;

    if (ep && overridden) {
        json_object_set_new(conf, "spark.hadoop.fs.s3a.endpoint",
                            json_string(ep));
        json_object_set_new(conf, "spark.hadoop.fs.s3a.path.style.access",
                            json_string("true"));
        if (strncmp(ep, "http://", 7) == 0)
            json_object_set_new(conf,
                                "spark.hadoop.fs.s3a.connection.ssl."
                                "enabled",
                                json_string("false"));
    }
    if (reg && *reg)
        json_object_set_new(conf, "spark.hadoop.fs.s3a.endpoint.region",
                            json_string(reg));
    free(ep);
    return conf;
}

void dsb_host_init_aws(struct dsb_host *h)
{
    h->aws_s3a_conf = host_s3a_conf;
    h->aws_request = host_aws_request;
    h->call_aws_request = host_call_aws_request;
    h->aws_response_free = host_aws_free;
    h->aws_error = host_aws_error;
}
