/* /v1/sessions/{id}/context/verify: verified reads of the session's Spark
 * context (core/service/verify_ops.c). */
#include <stdio.h>

#include "http.h"

void dsb_h_verify_start(struct dsb_req *r)
{
    struct dsb_error err;
    json_t *out = NULL;
    char loc[200];

    if (dsb_svc_verify_start(&r->ctx, r->params[0], &out, &err) < 0) {
        dsb_reply_error(r, &err);
        return;
    }
    snprintf(loc, sizeof(loc), "/v1/sessions/%s/context/verify", r->params[0]);
    dsb_reply_header(r, "Location", loc);
    dsb_reply_json(r, 202, out);
}

void dsb_h_verify_get(struct dsb_req *r)
{
    struct dsb_error err;
    json_t *out = NULL;

    dsb_reply_result(r, dsb_svc_verify_get(&r->ctx, r->params[0], &out, &err),
                     &out, &err);
}
