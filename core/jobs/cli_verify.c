/* `dsbroker verify SESSION`: verified reads of a running broker's session
 * (POST then GET /v1/sessions/SESSION/context/verify until it is done). */
#include <curl/curl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "jobs/cli_jobs.h"
#include "util.h"

#define VERIFY_POLL_MS 1000

/* One call: *status and the body's JSON (a new reference, or NULL). */
static json_t *call(const char *url, int post, long *status, FILE *errs)
{
    struct dsb_sb b = {0};
    json_t *j = NULL;

    *status = dsb_cli_fetch(url, post ? "" : NULL, &b, errs);
    if (*status && !(j = b.p ? json_loads(b.p, 0, NULL) : NULL))
        fprintf(errs, "dsbroker: %s answered %ld: %s\n", url, *status,
                b.p ? b.p : "(nothing)");
    else if (j && *status / 100 != 2 &&
             json_dumpf(j, errs, JSON_INDENT(2)) == 0)
        fputc('\n', errs);
    dsb_sb_free(&b);
    return j;
}

static const char *str(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));

    return s ? s : "";
}

static int running(const json_t *v)
{
    return !strcmp(str(v, "state"), "pending") ||
           !strcmp(str(v, "state"), "running");
}

static void print_table(FILE *out, const json_t *t)
{
    const char *st = str(t, "status");
    const json_t *d, *e = json_object_get(t, "error");
    size_t i;

    fprintf(out, "%-8s %s.%s.%s.%s (%s)\n",
            !strcmp(st, "ok")        ? "ok"
            : !strcmp(st, "differs") ? "DIFFERS"
                                     : "ERROR",
            str(t, "source"), str(t, "database"), str(t, "schema"),
            str(t, "table"), str(t, "variable"));
    json_array_foreach(json_object_get(t, "differences"), i, d)
        fprintf(out, "         - %s\n", str(d, "message"));
    if (e)
        fprintf(out, "         %s: %s%s%s\n", str(e, "kind"), str(e, "message"),
                *str(e, "class") ? " | " : "", str(e, "class"));
}

/* The human answer; the exit code. */
static int print_report(FILE *out, FILE *errs, const json_t *v)
{
    const json_t *s = json_object_get(v, "summary"), *t;
    size_t i;

    if (!strcmp(str(v, "state"), "none")) {
        fprintf(errs, "dsbroker: no verification of the session's current "
                      "context: run dsbroker verify SESSION\n");
        return DSB_EXIT_FAIL;
    }
    if (strcmp(str(v, "state"), "done") != 0) {
        fprintf(errs, "dsbroker: the verification job %s ended %s: %s\n",
                str(v, "job_id"), str(v, "job_state"), str(v, "reason"));
        return DSB_EXIT_FAIL;
    }
    fprintf(out, "verified on %s (job %s): %lld ok, %lld differ, %lld error\n",
            str(v, "executor"), str(v, "job_id"),
            (long long)json_integer_value(json_object_get(s, "ok")),
            (long long)json_integer_value(json_object_get(s, "differs")),
            (long long)json_integer_value(json_object_get(s, "error")));
    json_array_foreach(json_object_get(v, "tables"), i, t) print_table(out, t);
    return json_is_true(json_object_get(v, "ok")) ? DSB_EXIT_OK : DSB_EXIT_FAIL;
}

/* GET until the verification is no longer pending or running. */
static json_t *wait_done(const char *url, json_t *v, FILE *errs)
{
    struct timespec ts = {VERIFY_POLL_MS / 1000,
                          (VERIFY_POLL_MS % 1000) * 1000000L};
    long status = 0;

    while (v && running(v)) {
        json_decref(v);
        nanosleep(&ts, NULL); /* a client polling a job it waits for */
        v = call(url, 0, &status, errs);
        if (v && status != 200) {
            json_decref(v);
            v = NULL;
        }
    }
    return v;
}

int dsb_cli_verify(const char *conf_dir, const char *session, int json,
                   int latest, FILE *out, FILE *errs)
{
    char *url = dsb_cli_session_url(conf_dir, session, "context/verify");
    long status = 0;
    json_t *v = url ? call(url, !latest, &status, errs) : NULL;
    int rc = DSB_EXIT_FAIL;

    if (v && status / 100 != 2) {
        json_decref(v);
        v = NULL;
    }
    v = wait_done(url, v, errs);
    if (v && json) {
        json_dumpf(v, out, JSON_INDENT(2));
        fputc('\n', out);
        rc = json_is_true(json_object_get(v, "ok")) ? DSB_EXIT_OK
                                                    : DSB_EXIT_FAIL;
    } else if (v) {
        rc = print_report(out, errs, v);
    }
    json_decref(v);
    free(url);
    return rc;
}
