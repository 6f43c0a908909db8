/* The real `dsbroker serve`: port file, SIGHUP reloads, graceful SIGTERM,
 * JSON logs without secrets. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>

#include "http_support.h"

static pid_t child;
static char *dir, *logpath;

static void spawn(void)
{
    char *pdir = t_path("DSB_TEST_PLUGIN_DIR", "http");

    child = t_spawn_serve(dir, pdir, dir, logpath);
    free(pdir);
}

static void setup(void)
{
    char *src = t_src("tests/fixtures/confd-http"), cmd[8400];

    char *fake = t_src("tests/jobs/fake-spark-submit.sh");

    t_http_env();
    setenv("DSB_TEST_SPARK_SUBMIT", fake, 1);
    free(fake);
    setenv("DSB_TEST_LOG_FORMAT", "json", 1);
    setenv("DSB_TEST_LOG_LEVEL", "info", 1);
    dir = t_tmpdir();
    logpath = malloc(4200);
    snprintf(logpath, 4200, "%s/stderr.log", dir);
    snprintf(cmd, sizeof(cmd), "mkdir %s/conf && cp -r %s/. %s/conf/", dir, src,
             dir);
    cr_assert_eq(system(cmd), 0);
    strcat(dir, "/conf");
    free(src);
    spawn();
}

static int stop_child(int sig)
{
    int status = 0;

    if (child <= 0)
        return -1;
    kill(child, sig);
    waitpid(child, &status, 0);
    child = 0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void teardown(void)
{
    stop_child(SIGKILL);
    t_canary_keep_file("broker-log", logpath);
}

TestSuite(binary, .init = setup, .fini = teardown, .timeout = 60);

static int has_source(const char *name)
{
    struct t_resp r = t_get("/v1/sources");
    char needle[128];
    int yes;

    snprintf(needle, sizeof(needle), "\"name\":\"%s\"", name);
    yes = strstr(r.body, needle) != NULL;
    t_free(&r);
    return yes;
}

static char *log_text(void)
{
    FILE *f = fopen(logpath, "r");
    return t_slurp_file(f);
}

Test(binary, sighup_good_then_bad)
{
    char *log;
    int ok = 0;

    cr_assert(!has_source("extra"));
    t_write(dir, "extra.yaml",
            "name: extra\nplugin: fixture\n"
            "data_file: data/catalog.json\n");
    kill(child, SIGHUP);
    for (int i = 0; i < 1000 && !(ok = has_source("extra")); i++)
        t_sleep_ms(10);
    cr_assert(ok, "the good reload did not take");
    t_write(dir, "zz-bad.yaml", "name: bad\nplugin: fixture\nhostnme: x\n");
    kill(child, SIGHUP);
    for (int i = 0; i < 1000; i++) {
        log = log_text();
        ok = strstr(log, "reload rejected") != NULL;
        if (ok)
            break;
        free(log);
        t_sleep_ms(10);
    }
    cr_assert(ok, "the bad reload was not rejected");
    cr_assert(strstr(log, "zz-bad.yaml:3:1"), "%s", log);
    cr_assert(has_source("extra") && !has_source("bad"));
    free(log);
    cr_assert_eq(stop_child(SIGTERM), 0);
}

static atomic_int slow_done;

static void *slow_request(void *arg)
{
    struct t_resp r = t_get("/v1/sources/slow/databases/sales/schemas");
    long st = r.status;

    (void)arg;
    t_free(&r);
    atomic_store(&slow_done, 1);
    return (void *)st;
}

/* The server's dsb_http_in_flight (this metrics request included). */
static long in_flight(void)
{
    struct t_resp r = t_get("/metrics");
    const char *p = strstr(r.body, "\ndsb_http_in_flight ");
    long n = p ? atol(p + 21) : 0;

    t_free(&r);
    return n;
}

Test(binary, sigterm_lets_requests_finish)
{
    pthread_t th;
    void *st;

    pthread_create(&th, NULL, slow_request, NULL);
    /* SIGTERM only once the slow request is in the server (a fixed sleep
     * lost that race on a loaded machine: connection refused) */
    for (int i = 0; i < 1000 && in_flight() < 2 && !atomic_load(&slow_done);
         i++)
        t_sleep_ms(2);
    cr_assert_eq(stop_child(SIGTERM), 0);
    pthread_join(th, &st);
    cr_assert_eq((long)st, 200, "the request in flight was cut off");
}

Test(binary, json_logs_without_secrets)
{
    struct t_resp r = t_get("/v1/sources/main");
    char *log, *line, *save = NULL;
    int access = 0;

    cr_assert_eq(r.status, 200);
    t_free(&r);
    cr_assert_eq(stop_child(SIGTERM), 0);
    log = log_text();
    cr_assert_null(strstr(log, T_PASSWORD), "%s", log);
    cr_assert(strstr(log, "[REDACTED]"), "%s", log);
    for (line = strtok_r(log, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        json_t *j = json_loads(line, 0, NULL);
        cr_assert(j, "not a JSON log line: %s", line);
        if (json_object_get(j, "status") && json_object_get(j, "route"))
            access++;
        json_decref(j);
    }
    cr_assert_geq(access, 1);
    free(log);
}

/* The JSON access log line of the request to path (a new reference). */
static json_t *access_line(const char *log, const char *path)
{
    char *copy = strdup(log), *line, *save = NULL;
    json_t *found = NULL;

    for (line = strtok_r(copy, "\n", &save); line && !found;
         line = strtok_r(NULL, "\n", &save)) {
        json_t *j = json_loads(line, 0, NULL);
        const char *p = json_string_value(json_object_get(j, "path"));
        if (p && strcmp(p, path) == 0 && json_object_get(j, "status"))
            found = json_incref(j);
        json_decref(j);
    }
    free(copy);
    cr_assert(found, "no access line for %s: %s", path, log);
    return found;
}

static const char *jstr(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* A failing request's access line carries the problem's code and message
 * and the upstream error code, without the secret the plugin put in its
 * message; in JSON and in text. */
Test(binary, access_log_carries_the_error)
{
    const char *up = "/v1/sources/main/databases/fail-upstream/schemas";
    const char *au = "/v1/sources/main/databases/fail-auth/schemas";
    struct t_resp r = t_get(up);
    char *log;
    json_t *j;

    cr_assert_eq(r.status, 502);
    t_free(&r);
    r = t_get(au);
    cr_assert_eq(r.status, 502);
    t_free(&r);
    r = t_get("/v1/sources/main");
    cr_assert_eq(r.status, 200);
    t_free(&r);
    cr_assert_eq(stop_child(SIGTERM), 0);
    log = log_text();
    cr_assert_null(strstr(log, T_PASSWORD), "%s", log);
    j = access_line(log, up);
    cr_assert_eq(json_integer_value(json_object_get(j, "status")), 502);
    cr_assert_str_eq(jstr(j, "error_code"), "upstream");
    cr_assert_str_eq(jstr(j, "error_message"), "the catalog server failed");
    cr_assert_str_eq(jstr(j, "upstream"), "XX000");
    json_decref(j);
    j = access_line(log, au);
    cr_assert_str_eq(jstr(j, "error_code"), "auth");
    cr_assert_str_eq(jstr(j, "upstream"), "28P01");
    cr_assert(strstr(jstr(j, "error_message"), "[REDACTED]"), "%s",
              jstr(j, "error_message"));
    json_decref(j);
    j = access_line(log, "/v1/sources/main");
    cr_assert_null(json_object_get(j, "error_code"));
    json_decref(j);
    free(log);
    setenv("DSB_TEST_LOG_FORMAT", "text", 1);
    spawn();
    r = t_get(au);
    t_free(&r);
    cr_assert_eq(stop_child(SIGTERM), 0);
    log = log_text();
    cr_assert(strstr(log,
                     "error_code=auth error_message=the catalog refused "
                     "the credentials (password [REDACTED]) upstream=28P01"),
              "%s", log);
    cr_assert_null(strstr(log, T_PASSWORD), "%s", log);
    free(log);
}

/* Runs `dsbroker -c DIR ARGS` against the server; its stdout (malloc'd)
 * and exit status. */
static char *cli(const char *args, int *status)
{
    char *bin = t_path("DSB_BUILD_DIR", "bin/dsbroker"), cmd[9000], *out;
    FILE *p;

    snprintf(cmd, sizeof(cmd), "DSB_URL=%s '%s' -c '%s' %s 2>&1", t_base, bin,
             dir, args);
    p = popen(cmd, "r");
    cr_assert(p);
    out = NULL;
    for (size_t n, len = 0; (n = fread(cmd, 1, sizeof(cmd), p)) > 0;)
        t_grow(&out, &len, cmd, n);
    if (!out)
        out = calloc(1, 1);
    *status = WEXITSTATUS(pclose(p));
    free(bin);
    return out;
}

/* `dsbroker context SESSION` prints the context; `dsbroker submit SESSION
 * FILE` submits FILE (here: the context's code) and the job succeeds. */
Test(binary, cli_context_and_submit)
{
    struct t_resp r = t_req("POST", "/v1/sessions", NULL, NULL);
    json_t *s = t_json(&r), *ctx, *job = NULL;
    const char *sid = json_string_value(json_object_get(s, "id"));
    char args[4400], p[200], *out;
    int st;

    t_free(&r);
    snprintf(p, sizeof(p), "/v1/sessions/%s/selections", sid);
    r = t_post(p, "{\"source\":\"main\",\"database\":\"sales\",\"schema\":"
                  "\"public\",\"table\":\"orders\"}");
    cr_assert_eq(r.status, 201, "%s", r.body);
    t_free(&r);
    snprintf(args, sizeof(args), "context %s", sid);
    out = cli(args, &st);
    cr_assert_eq(st, 0, "%s", out);
    ctx = json_loads(out, 0, NULL);
    cr_assert(ctx && json_string_value(json_object_get(ctx, "code")), "%s",
              out);
    cr_assert_null(strstr(out, T_PASSWORD));
    free(out);
    t_write(dir, "job.py", json_string_value(json_object_get(ctx, "code")));
    snprintf(args, sizeof(args), "submit %s '%s/job.py'", sid, dir);
    out = cli(args, &st);
    cr_assert_eq(st, 0, "%s", out);
    job = json_loads(out, 0, NULL);
    cr_assert(job, "%s", out);
    cr_assert_str_eq(json_string_value(json_object_get(job, "name")), "job.py");
    cr_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(job, "route"), "executor")),
                     "local");
    snprintf(p, sizeof(p), "/v1/jobs/%s",
             json_string_value(json_object_get(job, "id")));
    for (int i = 0;; i++) {
        r = t_get(p);
        if (strstr(r.body, "\"state\":\"succeeded\""))
            break;
        cr_assert(!strstr(r.body, "\"state\":\"failed\""), "%s", r.body);
        cr_assert(i < 1000, "job still not done after 10 s: %s", r.body);
        t_free(&r);
        t_sleep_ms(10);
    }
    t_free(&r);
    free(out);
    out = cli("context no-such-session", &st);
    cr_assert_neq(st, 0, "%s", out);
    free(out);
    json_decref(job);
    json_decref(ctx);
    json_decref(s);
}

/* A plugin's log line written on behalf of a request carries its request
 * id (ABI 1.1 call_log), the id the client sent in X-Request-Id. */
Test(binary, plugin_lines_carry_the_request_id)
{
    const char *hdrs[] = {"X-Request-Id: rid-plugin-7", NULL};
    struct t_resp r = t_req("GET",
                            "/v1/sources/main/databases/sales/schemas/"
                            "public/tables/orders",
                            hdrs, NULL);
    char *log, *line, *save = NULL;
    int found = 0;

    cr_assert_eq(r.status, 200, "%s", r.body);
    t_free(&r);
    cr_assert_eq(stop_child(SIGTERM), 0);
    log = log_text();
    for (line = strtok_r(log, "\n", &save); line && !found;
         line = strtok_r(NULL, "\n", &save)) {
        json_t *j = json_loads(line, 0, NULL);
        const char *c = json_string_value(json_object_get(j, "component"));
        const char *id = json_string_value(json_object_get(j, "request_id"));
        found = c && strcmp(c, "fixture:main") == 0 && id &&
                strcmp(id, "rid-plugin-7") == 0 &&
                strstr(json_string_value(json_object_get(j, "msg")),
                       "describing sales.public.orders");
        json_decref(j);
    }
    cr_assert(found, "no fixture line with the request id: %s", log);
    free(log);
}

/* A datagram socket standing in for systemd's notification socket: at a
 * path, or (name starting with '@') in the abstract namespace. */
static int notify_socket(const char *name)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    struct timeval tv = {30, 0}; /* an upper bound: the datagram is awaited */
    size_t n = strlen(name);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    cr_assert(fd >= 0 && n < sizeof(a.sun_path));
    memcpy(a.sun_path, name, n);
    if (name[0] == '@')
        a.sun_path[0] = '\0';
    cr_assert_eq(bind(fd, (struct sockaddr *)&a,
                      (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)),
                 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setenv("NOTIFY_SOCKET", name, 1);
    return fd;
}

static void expect_notice(int fd, const char *want, const char *also)
{
    char buf[512];
    ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);

    cr_assert(n > 0, "no notification (%s) within 30 s", want);
    buf[n] = '\0';
    cr_assert(strncmp(buf, want, strlen(want)) == 0, "got \"%s\", want %s", buf,
              want);
    if (also)
        cr_assert(strstr(buf, also), "\"%s\" lacks %s", buf, also);
}

/* Type=notify: READY=1 once it listens (with its port as STATUS), each
 * SIGHUP framed by RELOADING=1 (with MONOTONIC_USEC) and READY=1,
 * STOPPING=1 on SIGTERM. */
Test(binary, notifies_the_service_manager)
{
    char path[4300], status[64];
    int fd;

    cr_assert_eq(stop_child(SIGTERM), 0);
    snprintf(path, sizeof(path), "%s/notify", dir);
    fd = notify_socket(path);
    spawn();
    unsetenv("NOTIFY_SOCKET");
    snprintf(status, sizeof(status), "STATUS=serving on port %s",
             strrchr(t_base, ':') + 1);
    expect_notice(fd, "READY=1", status);
    kill(child, SIGHUP);
    expect_notice(fd, "RELOADING=1", "MONOTONIC_USEC=");
    expect_notice(fd, "READY=1", status);
    kill(child, SIGTERM);
    expect_notice(fd, "STOPPING=1", NULL);
    cr_assert_eq(stop_child(SIGTERM), 0);
    close(fd);
}

Test(binary, notifies_an_abstract_socket)
{
    char name[64];
    int fd;

    cr_assert_eq(stop_child(SIGTERM), 0);
    snprintf(name, sizeof(name), "@dsb-test-notify-%d", (int)getpid());
    fd = notify_socket(name);
    spawn();
    unsetenv("NOTIFY_SOCKET");
    expect_notice(fd, "READY=1", "STATUS=serving on port");
    cr_assert_eq(stop_child(SIGTERM), 0);
    expect_notice(fd, "STOPPING=1", NULL);
    close(fd);
}
