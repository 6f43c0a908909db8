/* Helpers for the AWS tests: a scripted endpoint process, captured logs,
 * a clean AWS environment.  Static functions: each test file includes it. */
#ifndef DSB_TESTS_AWS_TEST_H
#define DSB_TESTS_AWS_TEST_H

#include <criterion/criterion.h>

#include "support.h"
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#pragma GCC diagnostic ignored "-Wunused-function"

extern char **environ;

struct scripted {
    pid_t pid;
    char dir[256];
    char url[128];
};

static void at_make_dir(char *dir, size_t cap)
{
    snprintf(dir, cap, "/tmp/dsb-aws-test-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void at_write(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    cr_assert_not_null(f, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

static char *at_read(const char *path)
{
    FILE *f = fopen(path, "r");
    char *buf;
    long n;

    if (!f)
        return strdup("");
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    rewind(f);
    buf = calloc(1, (size_t)n + 1);
    if (fread(buf, 1, (size_t)n, f) != (size_t)n)
        buf[0] = '\0';
    fclose(f);
    return buf;
}

/* Starts tests/aws/scripted_endpoint.py with a JSON list of responses. */
static void scripted_start(struct scripted *s, const char *script_json)
{
    const char *src = getenv("DSB_SOURCE_DIR");
    char script[512], portf[512], logf[512], prog[512], *port;
    char *argv[6];
    int i;

    cr_assert_not_null(src, "DSB_SOURCE_DIR is not set (run through ctest)");
    at_make_dir(s->dir, sizeof(s->dir));
    snprintf(script, sizeof(script), "%s/script.json", s->dir);
    snprintf(portf, sizeof(portf), "%s/port", s->dir);
    snprintf(logf, sizeof(logf), "%s/requests.jsonl", s->dir);
    snprintf(prog, sizeof(prog), "%s/tests/aws/scripted_endpoint.py", src);
    at_write(script, script_json);
    argv[0] = "python3";
    argv[1] = prog;
    argv[2] = script;
    argv[3] = portf;
    argv[4] = logf;
    argv[5] = NULL;
    cr_assert_eq(posix_spawnp(&s->pid, "python3", NULL, NULL, argv, environ),
                 0);
    for (i = 0; i < 100 && access(portf, F_OK) != 0; i++)
        usleep(50000);
    port = at_read(portf);
    cr_assert(port[0], "scripted endpoint did not start");
    snprintf(s->url, sizeof(s->url), "http://127.0.0.1:%s", port);
    free(port);
}

static void scripted_stop(struct scripted *s)
{
    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        waitpid(s->pid, NULL, 0);
        s->pid = 0;
    }
}

/* The requests the endpoint received, as a JSON array. */
static json_t *scripted_requests(const struct scripted *s)
{
    char logf[512], *text, *line, *save = NULL;
    json_t *arr = json_array();

    snprintf(logf, sizeof(logf), "%s/requests.jsonl", s->dir);
    text = at_read(logf);
    for (line = strtok_r(text, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save))
        json_array_append_new(arr, json_loads(line, 0, NULL));
    free(text);
    return arr;
}

static const char *req_header(json_t *reqs, size_t i, const char *name)
{
    return json_string_value(json_object_get(
        json_object_get(json_array_get(reqs, i), "headers"), name));
}

/* Clears every variable the credential chain and endpoints read, and
 * points HOME at an empty directory. */
static void at_clean_env(const char *home)
{
    static const char *const vars[] = {"AWS_ACCESS_KEY_ID",
                                       "AWS_SECRET_ACCESS_KEY",
                                       "AWS_SESSION_TOKEN",
                                       "AWS_PROFILE",
                                       "AWS_DEFAULT_PROFILE",
                                       "AWS_SHARED_CREDENTIALS_FILE",
                                       "AWS_CONFIG_FILE",
                                       "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                                       "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                                       "AWS_CONTAINER_AUTHORIZATION_TOKEN",
                                       "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
                                       "AWS_EC2_METADATA_SERVICE_ENDPOINT",
                                       "AWS_REGION",
                                       "AWS_DEFAULT_REGION",
                                       "AWS_ENDPOINT_URL",
                                       "AWS_ENDPOINT_URL_S3",
                                       "AWS_ENDPOINT_URL_GLUE",
                                       "AWS_ENDPOINT_URL_SECRETS_MANAGER",
                                       "AWS_ENDPOINT_URL_EMR_SERVERLESS",
                                       "AWS_ENDPOINT_URL_STS",
                                       NULL};
    const char *const *v;

    for (v = vars; *v; v++)
        unsetenv(*v);
    setenv("HOME", home, 1);
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
}

/* Redirects stderr (the log) to a file; at_log_end returns its text. */
static int at_saved_stderr = -1;

static void at_log_begin(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

    cr_assert(fd >= 0);
    fflush(stderr);
    at_saved_stderr = dup(2);
    dup2(fd, 2);
    close(fd);
}

static char *at_log_end(const char *path)
{
    fflush(stderr);
    dup2(at_saved_stderr, 2);
    close(at_saved_stderr);
    return at_read(path);
}

static long long at_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* LeakSanitizer ignores leaks at a Criterion test's exit: check now. */
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
static void at_leak_check(void)
{
    cr_expect_eq(__lsan_do_recoverable_leak_check(), 0, "memory leaked");
}
#else
static void at_leak_check(void)
{
}
#endif

#endif
