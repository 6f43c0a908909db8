/* Secret references, caching, invalidation and redaction. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "secrets.h"
#include "support.h"

static struct dsb_secrets *s;
static struct dsb_error err;
static char *dir;

static void setup(void)
{
    s = dsb_secrets_new(60000);
    dir = t_tmpdir();
}

static void teardown(void)
{
    dsb_secrets_free(s);
    free(dir);
}

TestSuite(secrets, .init = setup, .fini = teardown);

static char *get(const char *ref)
{
    char *v = NULL;
    cr_assert_eq(dsb_secrets_get(s, ref, &v, &err), 0, "%s: %s", ref,
                 err.message);
    return v;
}

static char *ref_to(const char *name, const char *key)
{
    static char buf[4096];
    snprintf(buf, sizeof(buf), "file:%s/%s%s%s", dir, name, key ? "#" : "",
             key ? key : "");
    return buf;
}

Test(secrets, env_reference)
{
    char *v;

    setenv("DSB_T_SECRET", "from-the-env", 1);
    v = get("env:DSB_T_SECRET");
    cr_assert_str_eq(v, "from-the-env");
    dsb_secret_value_free(v);
    unsetenv("DSB_T_SECRET");
    cr_assert_eq(dsb_secrets_get(s, "env:DSB_T_SECRET", &v, &err), -1);
    cr_assert_eq(err.code, DSB_E_NOT_FOUND);
    cr_assert(strstr(err.message, "env:DSB_T_SECRET"), "%s", err.message);
}

Test(secrets, file_reference_drops_the_trailing_newline)
{
    char *v;

    t_write(dir, "pw", "p@ss word\n");
    v = get(ref_to("pw", NULL));
    cr_assert_str_eq(v, "p@ss word");
    dsb_secret_value_free(v);
}

Test(secrets, rds_style_json_keys)
{
    char *v;

    t_write(dir, "db.json",
            "{\"username\": \"app\", \"password\": \"pw-1\", "
            "\"host\": \"h\", \"port\": 5432, \"dbname\": \"d\"}");
    v = get(ref_to("db.json", "username"));
    cr_assert_str_eq(v, "app");
    dsb_secret_value_free(v);
    v = get(ref_to("db.json", "port"));
    cr_assert_str_eq(v, "5432");
    dsb_secret_value_free(v);
    cr_assert_eq(dsb_secrets_get(s, ref_to("db.json", "nope"), &v, &err), -1);
    cr_assert_eq(err.code, DSB_E_NOT_FOUND);
    cr_assert(strstr(err.message, "no string or number key \"nope\""), "%s",
              err.message);
    cr_assert_null(strstr(err.message, "pw-1"));
}

Test(secrets, cached_until_invalidated)
{
    char *v;

    t_write(dir, "rot.json", "{\"password\": \"old-pass\"}");
    v = get(ref_to("rot.json", "password"));
    dsb_secret_value_free(v);
    t_write(dir, "rot.json", "{\"password\": \"new-pass\"}");
    v = get(ref_to("rot.json", "password"));
    cr_assert_str_eq(v, "old-pass", "served from the cache");
    dsb_secret_value_free(v);
    dsb_secrets_invalidate(s, ref_to("rot.json", "password"));
    v = get(ref_to("rot.json", "password"));
    cr_assert_str_eq(v, "new-pass", "rotation picked up");
    dsb_secret_value_free(v);
}

Test(secrets, ttl_zero_always_refetches)
{
    char *v;

    dsb_secrets_free(s);
    s = dsb_secrets_new(0);
    t_write(dir, "t", "one");
    dsb_secret_value_free(get(ref_to("t", NULL)));
    t_write(dir, "t", "two");
    v = get(ref_to("t", NULL));
    cr_assert_str_eq(v, "two");
    dsb_secret_value_free(v);
}

Test(secrets, bad_references)
{
    char why[256], *v;

    cr_assert_eq(dsb_secret_ref_check("env:", why, sizeof(why)), -1);
    cr_assert_eq(dsb_secret_ref_check("file:relative", why, sizeof(why)), -1);
    cr_assert_eq(dsb_secret_ref_check("file:/x#", why, sizeof(why)), -1);
    cr_assert_eq(dsb_secret_ref_check("aws-sm:", why, sizeof(why)), -1);
    cr_assert_eq(dsb_secret_ref_check("hunter2", why, sizeof(why)), -1);
    cr_assert_eq(
        dsb_secret_ref_check("aws-sm:prod/db#password", why, sizeof(why)), 0);
    cr_assert_eq(dsb_secrets_get(s, "file:/nonexistent/x", &v, &err), -1);
    cr_assert_eq(err.code, DSB_E_NOT_FOUND);
    cr_assert_eq(dsb_secrets_get(s, "aws-sm:prod/db", &v, &err), -1);
    cr_assert_eq(err.code, DSB_E_CONFIG, "no AWS backend installed");
}

/* A store: backend over one id, counting its calls. */
static int store_calls;

static int store_fetch(void *ctx, const char *id, char **value,
                       struct dsb_error *e)
{
    store_calls++;
    if (strcmp(id, ctx) != 0)
        return dsb_error_set(e, DSB_E_NOT_FOUND, "no %s", id);
    *value = strdup("{\"password\":\"from-the-store\"}");
    return 0;
}

Test(secrets, store_references)
{
    char why[256], *v;

    cr_assert_eq(
        dsb_secret_ref_check("store:pg-password-1a2b", why, sizeof(why)), 0);
    cr_assert_eq(dsb_secret_ref_check("store:", why, sizeof(why)), -1);
    cr_assert(strstr(why, "store:"), "%s", why);
    cr_assert_eq(dsb_secrets_get(s, "store:pg-password-1a2b", &v, &err), -1);
    cr_assert_eq(err.code, DSB_E_CONFIG, "no store backend installed");
    cr_assert(strstr(err.message, "PostgreSQL state store"), "%s", err.message);
    dsb_secrets_set_store_backend(s, store_fetch, "pg-password-1a2b");
    v = get("store:pg-password-1a2b#password");
    cr_assert_str_eq(v, "from-the-store");
    dsb_secret_value_free(v);
    v = get("store:pg-password-1a2b#password");
    dsb_secret_value_free(v);
    cr_assert_eq(store_calls, 1, "cached like the others");
    cr_assert_eq(dsb_secrets_get(s, "store:other", &v, &err), -1);
    cr_assert_eq(err.code, DSB_E_NOT_FOUND);
}

static int capture_stderr(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600), saved = dup(2);
    cr_assert(fd >= 0);
    dup2(fd, 2);
    close(fd);
    return saved;
}

Test(secrets, resolved_values_are_redacted_from_logs_and_errors)
{
    char path[4096], *v, *log;
    struct dsb_error e;
    FILE *f;
    int saved;

    t_write(dir, "tok", "canary-9f8e7d");
    v = get(ref_to("tok", NULL));
    snprintf(path, sizeof(path), "%s/log", dir);
    saved = capture_stderr(path);
    dsb_logf(DSB_LOG_ERROR, "t", "connecting with canary-9f8e7d now");
    fflush(stderr);
    dup2(saved, 2);
    f = fopen(path, "r");
    log = t_slurp((fseek(f, 0, SEEK_END), f));
    cr_assert(strstr(log, "connecting with [REDACTED] now"), "%s", log);
    cr_assert_null(strstr(log, "canary-9f8e7d"));
    dsb_error_set(&e, DSB_E_AUTH, "bad password canary-9f8e7d");
    dsb_error_detail(&e, "canary-9f8e7dcanary-9f8e7d");
    dsb_redact_error(&e);
    cr_assert_str_eq(e.message, "bad password [REDACTED]");
    cr_assert_str_eq(e.detail, "[REDACTED][REDACTED]");
    dsb_secret_value_free(v);
    free(log);
}

static char *logged_event(int json, const char *msg, json_t *fields)
{
    char path[4096];
    FILE *f;
    char *log;
    int saved;

    snprintf(path, sizeof(path), "%s/log-%d", dir, json);
    saved = capture_stderr(path);
    dsb_log_set_json(json);
    dsb_log_event(DSB_LOG_ERROR, "t", msg, fields);
    dsb_log_set_json(0);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    f = fopen(path, "r");
    log = t_slurp((fseek(f, 0, SEEK_END), f));
    return log;
}

/* A secret with a quote, a backslash and a tab is escaped by JSON encoding
 * (\", \\, \t): it must be redacted before that, in fields (nested too)
 * and in the message, in both log formats. */
Test(secrets, structured_fields_are_redacted_before_json_encoding)
{
    const char *secret = "pa\"ss\\wo\trd";
    json_t *fields = json_pack("{s:s, s:{s:[s]}, s:i}", "password", secret,
                               "nested", "list", secret, "n", 7);
    char msg[128], *log;

    dsb_redact_register(secret);
    snprintf(msg, sizeof(msg), "login with %s", secret);
    for (int json = 0; json <= 1; json++) {
        log = logged_event(json, msg, fields);
        cr_assert_null(strstr(log, "pa\\\"ss"), "escaped secret leaked: %s",
                       log);
        cr_assert_null(strstr(log, "wo\\trd"), "escaped secret leaked: %s",
                       log);
        cr_assert_null(strstr(log, "pa\"ss"), "secret leaked: %s", log);
        cr_assert(strstr(log, "login with [REDACTED]"), "%s", log);
        cr_assert(strstr(log, json ? "\"password\":\"[REDACTED]\""
                                   : "password=[REDACTED]"),
                  "%s", log);
        cr_assert(strstr(log, json ? "[\"[REDACTED]\"]" : "[\"[REDACTED]\"]"),
                  "%s", log);
        cr_assert(strstr(log, json ? "\"n\":7" : "n=7"), "%s", log);
        free(log);
    }
    log = logged_event(1, "no fields", NULL);
    cr_assert(strstr(log, "\"msg\":\"no fields\""), "%s", log);
    free(log);
    dsb_redact_forget(secret);
    json_decref(fields);
}

Test(secrets, redaction_truncates_safely)
{
    char buf[16] = "xxabcdefyy";

    dsb_redact_register("abcdef");
    cr_assert_eq(dsb_redact(buf, sizeof(buf)), 14);
    cr_assert_str_eq(buf, "xx[REDACTED]yy");
    strcpy(buf, "123456789abcdef");
    dsb_redact(buf, sizeof(buf));
    cr_assert_str_eq(buf, "123456789[REDAC");
    dsb_redact_forget("abcdef");
    strcpy(buf, "abcdef");
    dsb_redact(buf, sizeof(buf));
    cr_assert_str_eq(buf, "abcdef");
}
