/* Log lines: JSON that stays valid whatever a value holds, redaction
 * before escaping, and access lines that wait in the buffer until a flush
 * or the next line that may not wait. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "support.h"

static char *dir, path[4200];
static int saved = -1;

static void capture(void)
{
    int fd;

    dir = t_tmpdir();
    snprintf(path, sizeof(path), "%s/log", dir);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    cr_assert(fd >= 0);
    saved = dup(2);
    dup2(fd, 2);
    close(fd);
}

static void restore(void)
{
    if (saved >= 0) {
        dup2(saved, 2);
        close(saved);
        saved = -1;
    }
    dsb_log_set_json(0);
    free(dir);
}

TestSuite(log, .init = capture, .fini = restore);

static char *logged(void)
{
    FILE *f = fopen(path, "r");
    char *s;

    cr_assert(f);
    s = t_slurp((fseek(f, 0, SEEK_END), f));
    return s;
}

static size_t lines(const char *s)
{
    size_t n = 0;

    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* Quotes, backslashes, control bytes, invalid UTF-8 and a value far
 * longer than a line: each line is still one valid JSON object. */
Test(log, json_lines_stay_valid_whatever_the_values)
{
    static const char *const hostile[] = {
        "a\"b\\c", "tab\there\nnew\rline\x1b[31m", "bad \xC3\x28 \xFF utf8",
        "\xF0\x9F\x98\x80 emoji", ""};
    char *big = malloc(20000), *log, *line, *save = NULL;
    size_t n = 0;

    memset(big, 'x', 19999);
    big[19999] = '\0';
    dsb_log_set_json(1);
    for (size_t i = 0; i < sizeof(hostile) / sizeof(*hostile); i++) {
        struct dsb_log_field f[] = {DSB_LF_S("v", hostile[i]),
                                    DSB_LF_I("n", -42), DSB_LF_M("ms", 1234),
                                    DSB_LF_R("r", 0.5)};
        dsb_log_fields(DSB_LOG_ERROR, "t", hostile[i], f, 4, 0);
    }
    {
        struct dsb_log_field f[] = {DSB_LF_S("big", big),
                                    DSB_LF_S("after", "x")};
        dsb_log_fields(DSB_LOG_ERROR, "t", big, f, 2, 0);
    }
    log = logged();
    for (line = strtok_r(log, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save), n++) {
        json_error_t je;
        json_t *j = json_loads(line, 0, &je);
        cr_assert(j, "not JSON (%s): %s", je.text, line);
        if (n < 5) {
            cr_assert_eq(json_integer_value(json_object_get(j, "n")), -42);
            cr_assert_float_eq(json_real_value(json_object_get(j, "ms")), 1.234,
                               1e-9);
            cr_assert_float_eq(json_real_value(json_object_get(j, "r")), 0.5,
                               1e-9);
        }
        if (n == 0)
            cr_assert_str_eq(json_string_value(json_object_get(j, "v")),
                             "a\"b\\c");
        if (n == 1)
            cr_assert_str_eq(json_string_value(json_object_get(j, "v")),
                             "tab\there\nnew\rline\x1b[31m");
        if (n == 2)
            cr_assert_str_eq(json_string_value(json_object_get(j, "v")),
                             "bad \xEF\xBF\xBD( \xEF\xBF\xBD utf8");
        if (n == 3)
            cr_assert_str_eq(json_string_value(json_object_get(j, "msg")),
                             "\xF0\x9F\x98\x80 emoji");
        json_decref(j);
    }
    cr_assert_eq(n, 6, "one line per event");
    free(log);
    free(big);
}

/* A text line is one line: CR and LF in values become spaces. */
Test(log, text_lines_are_single_lines)
{
    struct dsb_log_field f[] = {DSB_LF_S("path", "/a\nb\rc"),
                                DSB_LF_I("status", 200),
                                DSB_LF_M("duration_ms", 7)};
    char *log;

    dsb_log_fields(DSB_LOG_WARN, "access", "req\nuest", f, 3, 0);
    log = logged();
    cr_assert_eq(lines(log), 1, "%s", log);
    cr_assert(strstr(log, " warn  [access] req uest path=/a b c status=200 "
                          "duration_ms=0.007\n"),
              "%s", log);
    free(log);
}

/* A secret with a quote is redacted before JSON escaping would hide it. */
Test(log, fields_are_redacted_before_escaping)
{
    const char *secret = "s3cr\"t-value";
    struct dsb_log_field f[] = {DSB_LF_S("token", secret)};
    char *log;

    dsb_redact_register(secret);
    dsb_log_set_json(1);
    dsb_log_fields(DSB_LOG_ERROR, "t", "uses s3cr\"t-value", f, 1, 0);
    log = logged();
    cr_assert_null(strstr(log, "s3cr"), "%s", log);
    cr_assert(strstr(log, "\"token\":\"[REDACTED]\""), "%s", log);
    cr_assert(strstr(log, "\"msg\":\"uses [REDACTED]\""), "%s", log);
    dsb_redact_forget(secret);
    free(log);
}

/* With the buffer started, an access line waits; the next line that may
 * not wait writes it first; a flush or the last stop writes what is left. */
Test(log, access_lines_wait_in_the_buffer)
{
    struct dsb_log_field f[] = {DSB_LF_I("status", 200)};
    char *log;

    cr_assert_eq(dsb_log_buffer_start(60000), 0);
    dsb_log_fields(DSB_LOG_INFO, "access", "one", f, 1, DSB_LOG_MAY_WAIT);
    log = logged();
    cr_assert_eq(lines(log), 0, "written at once: %s", log);
    free(log);
    dsb_logf(DSB_LOG_ERROR, NULL, "two");
    log = logged();
    cr_assert_eq(lines(log), 2, "%s", log);
    cr_assert(strstr(log, "one") < strstr(log, "two"), "in order: %s", log);
    free(log);
    dsb_log_fields(DSB_LOG_INFO, "access", "three", f, 1, DSB_LOG_MAY_WAIT);
    dsb_log_flush();
    log = logged();
    cr_assert_eq(lines(log), 3, "%s", log);
    free(log);
    dsb_log_fields(DSB_LOG_INFO, "access", "four", f, 1, DSB_LOG_MAY_WAIT);
    dsb_log_buffer_stop();
    log = logged();
    cr_assert_eq(lines(log), 4, "%s", log);
    free(log);
    dsb_log_fields(DSB_LOG_INFO, "access", "five", f, 1, DSB_LOG_MAY_WAIT);
    log = logged();
    cr_assert_eq(lines(log), 5, "without a buffer, at once: %s", log);
    free(log);
}

/* A value cut at the end of a full line is redacted before the cut: no
 * first bytes of a secret that straddles the cut are left. */
Test(log, a_cut_value_leaves_no_part_of_a_secret)
{
    const char *secret = "zq-secret-9931";
    char *big = malloc(20000), *log;

    dsb_redact_register(secret);
    for (int json = 0; json <= 1; json++) {
        dsb_log_set_json(json);
        for (size_t at = 7900; at < 8200; at += 3) {
            struct dsb_log_field f[] = {DSB_LF_S("v", big)};
            memset(big, 'x', 19999);
            big[19999] = '\0';
            memcpy(big + at, secret, strlen(secret));
            dsb_log_fields(DSB_LOG_ERROR, "t", "m", f, 1, 0);
        }
    }
    log = logged();
    cr_assert_null(strstr(log, "zq-sec"), "a part of the secret is logged");
    cr_assert_eq(lines(log), 200);
    dsb_redact_forget(secret);
    free(log);
    free(big);
}
