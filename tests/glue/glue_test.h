/* Shared helpers of the glue suites: the s3csv helpers (a broker on a
 * generated conf.d, compact listings) plus moto's address. */
#ifndef GLUE_TEST_H
#define GLUE_TEST_H

#include "s3csv/s3csv_test.h"

static char moto[256];

static inline void gt_moto_url(void)
{
    t_service("moto", "DSB_TEST_MOTO_URL", moto, sizeof(moto));
}

static inline void gt_creds(void)
{
    setenv("AWS_ACCESS_KEY_ID", "testing", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "testing", 1);
    unsetenv("AWS_ENDPOINT_URL");
    unsetenv("AWS_ENDPOINT_URL_S3");
    unsetenv("AWS_ENDPOINT_URL_GLUE");
}

/* A read spec, checked through the ABI 1.1 slot too. */
static inline json_t *gt_read_spec(const char *src, const char *db,
                                   const char *t, unsigned caps)
{
    struct dsb_read_target tg = {
        "x", caps & DSB_EXEC_S3_NATIVE ? "emr-serverless" : "local-spark",
        caps};
    json_t *out;

    t_same_read_spec(dsb_broker_source(b, src), db, "default", t, &tg);
    cr_assert_eq(dsb_source_read_spec(dsb_broker_source(b, src), db, "default",
                                      t, &tg, &out, &err),
                 0, "%s: %s", err.message, err.hint);
    return out;
}

static inline const char *gt_s(const json_t *o, const char *path1,
                               const char *path2)
{
    const json_t *v = json_object_get(o, path1);
    if (path2)
        v = json_object_get(v, path2);
    return json_string_value(v);
}

#endif
