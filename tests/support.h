/* Helpers shared by the Criterion suites (header-only, static inline). */
#ifndef DSB_TESTS_SUPPORT_H
#define DSB_TESTS_SUPPORT_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "cli.h"

/* Path under the source tree (DSB_SOURCE_DIR, set by CTest); malloc'd. */
static inline char *t_path(const char *env, const char *rel)
{
    const char *root = getenv(env);
    size_t n;
    char *p;

    cr_assert(root, "%s is not set: run the suite through ctest", env);
    n = strlen(root) + strlen(rel) + 2;
    p = malloc(n);
    snprintf(p, n, "%s/%s", root, rel);
    return p;
}

static inline char *t_src(const char *rel)
{
    return t_path("DSB_SOURCE_DIR", rel);
}

/* Value of KEY in $DSB_TEST_SERVICES/SERVICE.env, the file a service
 * script (tests/scripts/SERVICE.sh) writes, copied into out[cap]; the test
 * fails when the service is not running. */
static inline void t_service(const char *service, const char *key, char *out,
                             size_t cap)
{
    char name[64], line[1024];
    char *path;
    size_t klen = strlen(key);
    FILE *f;

    snprintf(name, sizeof(name), "%s.env", service);
    path = t_path("DSB_TEST_SERVICES", name);
    f = fopen(path, "r");
    cr_assert_not_null(f, "%s is not running (%s)", service, path);
    out[0] = '\0';
    while (fgets(line, sizeof(line), f))
        if (!strncmp(line, key, klen) && line[klen] == '=')
            snprintf(out, cap, "%.*s", (int)strcspn(line + klen + 1, "\n"),
                     line + klen + 1);
    fclose(f);
    cr_assert(out[0], "no %s in %s", key, path);
    free(path);
}

/* A fresh private directory under TMPDIR; malloc'd. */
static inline char *t_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    char *p = malloc(4096);

    snprintf(p, 4096, "%s/dsbtest.XXXXXX", base && *base ? base : "/tmp");
    cr_assert(mkdtemp(p), "mkdtemp failed");
    return p;
}

/* Throwaway AWS credentials and region for a local stand-in (moto, the
 * scripted EMR endpoint), S3 at s3_url; no profile or session token of
 * the machine's own gets in. */
static inline void t_aws_test_env(const char *s3_url)
{
    setenv("AWS_ACCESS_KEY_ID", "testing", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "testing", 1);
    setenv("AWS_REGION", "us-east-1", 1);
    setenv("AWS_ENDPOINT_URL_S3", s3_url, 1);
    unsetenv("AWS_PROFILE");
    unsetenv("AWS_SESSION_TOKEN");
}

static inline void t_write(const char *dir, const char *name, const char *text)
{
    char path[4096];
    FILE *f;

    cr_assert((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) <
                  sizeof(path),
              "path too long");
    f = fopen(path, "w");
    cr_assert(f, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

static inline char *t_slurp(FILE *f)
{
    long n;
    char *buf;

    fflush(f);
    n = ftell(f);
    buf = calloc(1, (size_t)n + 1);
    rewind(f);
    if (n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n)
        cr_assert_fail("short read of captured output");
    fclose(f);
    return buf;
}

struct t_run {
    int rc;
    char *out;
    char *err;
};

static inline void t_run_free(struct t_run *r)
{
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

/* Runs the CLI in-process with a NULL-terminated argument list. */
static inline struct t_run t_cli(const char *arg, ...)
{
    char *argv[32];
    int argc = 0;
    va_list ap;
    FILE *out = tmpfile(), *err = tmpfile();
    struct t_run r;

    argv[argc++] = (char *)"dsbroker";
    va_start(ap, arg);
    for (const char *a = arg; a && argc < 31; a = va_arg(ap, const char *))
        argv[argc++] = (char *)a;
    va_end(ap);
    argv[argc] = NULL;
    r.rc = dsb_cli_main(argc, argv, out, err);
    r.out = t_slurp(out);
    r.err = t_slurp(err);
    return r;
}

#endif
