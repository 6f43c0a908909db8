/* Shared helpers of the glue suites: the s3csv helpers (a broker on a
 * generated conf.d, compact listings) plus moto's address. */
#ifndef GLUE_TEST_H
#define GLUE_TEST_H

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include "s3csv/s3csv_test.h"

extern char **environ;

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

/* Starts tests/glue/recorded_glue.py serving the recorded answers of
 * `pages` (a path under tests/glue/recorded/), logging each request to
 * dir/requests.jsonl; its address into url.  Returns its pid. */
static inline pid_t gt_recorded_start(const char *pages, const char *dir,
                                      char *url, size_t url_cap)
{
    char *prog = t_src("tests/glue/recorded_glue.py");
    char *data = t_src(pages);
    char portf[4200], logf[4200], port[32] = "";
    char *argv[] = {"python3", prog, data, portf, logf, NULL};
    pid_t pid;
    FILE *f;

    snprintf(portf, sizeof(portf), "%s/port", dir);
    snprintf(logf, sizeof(logf), "%s/requests.jsonl", dir);
    cr_assert_eq(posix_spawnp(&pid, "python3", NULL, NULL, argv, environ), 0);
    for (int i = 0; i < 200 && access(portf, F_OK) != 0; i++)
        usleep(25000);
    f = fopen(portf, "r");
    cr_assert_not_null(f, "the recorded endpoint did not start");
    cr_assert_not_null(fgets(port, sizeof(port), f));
    fclose(f);
    snprintf(url, url_cap, "http://127.0.0.1:%s", port);
    free(prog);
    free(data);
    return pid;
}

static inline void gt_recorded_stop(pid_t pid)
{
    if (pid > 0) {
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
    }
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
