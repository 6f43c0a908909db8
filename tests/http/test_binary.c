/* The real `dsbroker serve`: port file, SIGHUP reloads, graceful SIGTERM,
 * JSON logs without secrets. */
#include <criterion/criterion.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include "http_support.h"

static pid_t child;
static char *dir, *logpath;

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static void spawn(void)
{
    char *bin = t_path("DSB_BUILD_DIR", "bin/dsbroker");
    char *pdir = t_path("DSB_TEST_PLUGIN_DIR", "http");
    char portf[4200], buf[32];
    FILE *f = NULL;

    snprintf(portf, sizeof(portf), "%s/port", dir);
    child = fork();
    cr_assert(child >= 0);
    if (child == 0) {
        FILE *lf = fopen(logpath, "w");
        dup2(fileno(lf), 2);
        execl(bin, bin, "-c", dir, "-P", pdir, "serve", "--port-file", portf,
              (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 500 && !(f = fopen(portf, "r")); i++)
        sleep_ms(10);
    cr_assert(f, "no port file");
    cr_assert(fgets(buf, sizeof(buf), f));
    fclose(f);
    snprintf(t_base, sizeof(t_base), "http://127.0.0.1:%d", atoi(buf));
    free(bin);
    free(pdir);
}

static void setup(void)
{
    char *src = t_src("tests/fixtures/confd-http"), cmd[8400];

    t_http_env();
    setenv("DSB_TEST_LOG_FORMAT", "json", 1);
    setenv("DSB_TEST_LOG_LEVEL", "info", 1);
    dir = t_tmpdir();
    logpath = malloc(4200);
    snprintf(logpath, 4200, "%s/stderr.log", dir);
    snprintf(cmd, sizeof(cmd), "mkdir %s/conf && cp -r %s/. %s/conf/", dir,
             src, dir);
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
    t_write(dir, "extra.yaml", "name: extra\nplugin: fixture\n"
            "data_file: data/catalog.json\n");
    kill(child, SIGHUP);
    for (int i = 0; i < 200 && !(ok = has_source("extra")); i++)
        sleep_ms(10);
    cr_assert(ok, "the good reload did not take");
    t_write(dir, "zz-bad.yaml", "name: bad\nplugin: fixture\nhostnme: x\n");
    kill(child, SIGHUP);
    for (int i = 0; i < 200; i++) {
        log = log_text();
        ok = strstr(log, "reload rejected") != NULL;
        if (ok)
            break;
        free(log);
        sleep_ms(10);
    }
    cr_assert(ok, "the bad reload was not rejected");
    cr_assert(strstr(log, "zz-bad.yaml:3:1"), "%s", log);
    cr_assert(has_source("extra") && !has_source("bad"));
    free(log);
    cr_assert_eq(stop_child(SIGTERM), 0);
}

static void *slow_request(void *arg)
{
    struct t_resp r = t_get("/v1/sources/slow/databases/sales/schemas");
    long st = r.status;

    (void)arg;
    t_free(&r);
    return (void *)st;
}

Test(binary, sigterm_lets_requests_finish)
{
    pthread_t th;
    void *st;

    pthread_create(&th, NULL, slow_request, NULL);
    sleep_ms(100);
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
