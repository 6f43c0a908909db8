/* Helpers for the job suites: a config in a fresh state directory, the
 * job service over it, waiting for states.  Static: one include per file. */
#ifndef DSB_TESTS_JOBS_TEST_H
#define DSB_TESTS_JOBS_TEST_H

#include <criterion/criterion.h>
#include <dirent.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "jobs/internal.h"
#include "jobs/jobs.h"
#include "support.h"
#include "util.h"

#pragma GCC diagnostic ignored "-Wunused-function"

struct jt {
    char *dir;
    struct dsb_config *cfg;
    struct dsb_diags d;
    struct dsb_secrets *secrets;
    struct dsb_jobs *jobs;
    struct dsb_error err;
};

/* Loads broker_yaml into a fresh directory, exported as $DSB_TEST_DIR. */
static void jt_config(struct jt *t, const char *broker_yaml)
{
    t->dir = t_tmpdir();
    setenv("DSB_TEST_DIR", t->dir, 1);
    t_write(t->dir, "broker.yaml", broker_yaml);
    dsb_diags_init(&t->d);
    t->cfg = dsb_config_load_broker(t->dir, "/tmp", &t->d);
    if (t->d.errors)
        dsb_diags_print(&t->d, stderr);
    cr_assert_eq(t->d.errors, 0);
    t->secrets = dsb_secrets_new(60000);
}

static void jt_open(struct jt *t, struct dsb_aws *aws)
{
    struct dsb_jobs_options o = {0};

    o.cfg = t->cfg;
    o.secrets = t->secrets;
    o.aws = aws;
    o.tick_ms = 50;
    o.emr_poll_ms = 100;
    o.kill_grace_ms = 300;
    t->jobs = dsb_jobs_open(&o, &t->err);
    cr_assert_not_null(t->jobs, "%s", t->err.message);
}

static void jt_close(struct jt *t)
{
    dsb_jobs_close(t->jobs);
    t->jobs = NULL;
    dsb_secrets_free(t->secrets);
    dsb_config_free(t->cfg);
    dsb_diags_free(&t->d);
    free(t->dir);
}

static const char *jt_str(const json_t *doc, const char *k1, const char *k2)
{
    const json_t *v = json_object_get(doc, k1);
    return json_string_value(k2 ? json_object_get(v, k2) : v);
}

/* Waits until job id reaches `state` (or any final state); returns the
 * record (new reference). */
static json_t *jt_wait(struct jt *t, const char *id, const char *state,
                       long timeout_ms)
{
    struct timespec ts = {0, 20 * 1000000L};
    json_t *doc = NULL;

    for (long waited = 0; waited <= timeout_ms; waited += 20) {
        json_decref(doc);
        cr_assert_eq(dsb_jobs_get(t->jobs, id, &doc, &t->err), 0, "%s",
                     t->err.message);
        if (strcmp(jt_str(doc, "state", NULL), state) == 0 ||
            dsb_job_is_final(jt_str(doc, "state", NULL)))
            return doc;
        nanosleep(&ts, NULL);
    }
    return doc;
}

/*
 * The host pids of the processes in the PID namespace of the sandbox whose
 * bwrap is outer (the namespace of outer's first child, bwrap's init),
 * at most max into out; how many.
 */
static size_t jt_sandbox_pids(pid_t outer, pid_t *out, size_t max)
{
    char path[300], ns[64] = "", other[64];
    DIR *d = opendir("/proc");
    struct dirent *e;
    size_t n = 0;
    ssize_t len;
    FILE *f;
    int init = 0;

    snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)outer,
             (int)outer);
    f = fopen(path, "r");
    cr_assert(f && fscanf(f, "%d", &init) == 1, "bwrap %d has no child",
              (int)outer);
    fclose(f);
    snprintf(path, sizeof(path), "/proc/%d/ns/pid", init);
    len = readlink(path, ns, sizeof(ns) - 1);
    cr_assert(len > 0, "no pid namespace for %d", init);
    ns[len] = '\0';
    len = readlink("/proc/self/ns/pid", other, sizeof(other) - 1);
    cr_assert(len > 0 && (other[len] = '\0', strcmp(other, ns) != 0),
              "process %d is in this test's PID namespace, not a sandbox's",
              init);
    while (d && (e = readdir(d)) != NULL && n < max) {
        snprintf(path, sizeof(path), "/proc/%s/ns/pid", e->d_name);
        len = readlink(path, other, sizeof(other) - 1);
        if (len > 0 && (other[len] = '\0', strcmp(other, ns) == 0))
            out[n++] = (pid_t)atoi(e->d_name);
    }
    if (d)
        closedir(d);
    return n;
}

static char *jt_file(const char *dir, const char *name)
{
    char path[4096];
    size_t len;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return dsb_read_file(path, 1 << 24, &len);
}

#endif
