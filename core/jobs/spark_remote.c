/*
 * The spark-submit executor's cluster deploy mode: Kubernetes (k8s://…)
 * and YARN masters.  The broker runs spark-submit as a client that submits
 * and returns (waitAppCompletion=false), then follows the application by
 * running status commands from the tracker (spark-submit --status NS:POD,
 * yarn application -status ID) and stops it with their kill commands.
 * The commands, their parsing and the state mappings are spark.h's so
 * tests can check them exactly.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "jobs/local.h"
#include "jobs/spark.h"
#include "log.h"
#include "util.h"

#define RUN_OUTPUT_MAX (1u << 20)

static const char *opt(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* ------------------------------------------------------ command lines */

char *dsb_spark_k8s_pod(const char *job_id)
{
    char *pod = dsb_asprintf("dsb-%s", job_id ? job_id : "");
    size_t n = 0;

    for (char *p = pod; p && *p; p++, n++)
        *p =
            isalnum((unsigned char)*p) ? (char)tolower((unsigned char)*p) : '-';
    if (pod && n > 63) /* a DNS label */
        pod[63] = '\0';
    while (pod && n > 0 && pod[strlen(pod) - 1] == '-')
        pod[strlen(pod) - 1] = '\0';
    return pod;
}

char *dsb_spark_k8s_submission(const json_t *opts, const char *job_id)
{
    const char *ns = opt(opts, "namespace");
    char *pod = dsb_spark_k8s_pod(job_id);
    char *id = pod ? dsb_asprintf("%s:%s", ns ? ns : "default", pod) : NULL;

    free(pod);
    return id;
}

static int conf(struct dsb_strv *a, const char *k, const char *v)
{
    if (!v)
        return 0;
    return dsb_strv_add(a, "--conf") |
           dsb_strv_push(a, dsb_asprintf("%s=%s", k, v));
}

/* The executor's spark.kubernetes.* conf (authentication to the API
 * server), which the status and kill commands need too. */
static int k8s_client_conf(const json_t *opts, struct dsb_strv *a)
{
    const char *k;
    json_t *v;
    int rc = 0;

    json_object_foreach(json_object_get(opts, "conf"), k, v)
    {
        if (strncmp(k, "spark.kubernetes.authenticate.submission.", 41) == 0 ||
            strcmp(k, "spark.kubernetes.context") == 0)
            rc |= conf(a, k, json_string_value(v));
    }
    return rc;
}

/* The job's variables in the driver's environment on the cluster. */
static int driver_env(const char *prefix, const json_t *doc, struct dsb_strv *a)
{
    static const char *const vars[][3] = {
        {"DSB_OUTPUT", "output", "uri"},
        {"DSB_JOB_ID", "id", NULL},
        {"DSB_SESSION_ID", "session_id", NULL},
    };
    int rc = 0;

    for (size_t i = 0; i < sizeof(vars) / sizeof(*vars); i++) {
        char *k = dsb_asprintf("%s%s", prefix, vars[i][0]);
        rc |= k ? conf(a, k, dsb_job_str(doc, vars[i][1], vars[i][2])) : -1;
        free(k);
    }
    return rc;
}

/* --conf pairs: the record's (read specs, then the executor's, which
 * spark_submit.conf already merged), then the broker's own, which win. */
static int job_conf(const json_t *doc, struct dsb_strv *a)
{
    const json_t *ss = json_object_get(doc, "spark_submit");
    const char *k;
    json_t *v;
    int rc = 0;

    json_object_foreach(json_object_get(ss, "conf"), k, v)
    {
        rc |= conf(a, k, json_string_value(v));
    }
    return rc;
}

static int jars(const json_t *doc, struct dsb_strv *a)
{
    const json_t *list =
        json_object_get(json_object_get(doc, "spark_submit"), "jars");
    char *all = NULL, *next;
    size_t i;
    json_t *v;
    int rc = 0;

    json_array_foreach(list, i, v)
    {
        next = dsb_asprintf("%s%s%s", all ? all : "", all ? "," : "",
                            json_string_value(v));
        free(all);
        if (!(all = next))
            return -1;
    }
    if (all)
        rc = dsb_strv_add(a, "--jars") | dsb_strv_add(a, all);
    free(all);
    return rc;
}

int dsb_spark_submit_argv(const json_t *opts, const json_t *doc,
                          const char *bin, const char *script,
                          struct dsb_strv *a)
{
    const char *master = opt(opts, "master");
    enum dsb_spark_kind kind = dsb_spark_kind_of(master);
    const char *id = dsb_job_str(doc, "id", NULL);
    char *pod = kind == DSB_SPARK_K8S ? dsb_spark_k8s_pod(id) : NULL;
    size_t i;
    json_t *v;
    int rc = dsb_strv_add(a, bin) | dsb_strv_add(a, "--master") |
             dsb_strv_add(a, master) | dsb_strv_add(a, "--deploy-mode") |
             dsb_strv_add(a, "cluster") | dsb_strv_add(a, "--name") |
             dsb_strv_add(a, dsb_job_str(doc, "name", NULL));

    if (kind == DSB_SPARK_YARN && opt(opts, "queue"))
        rc |= dsb_strv_add(a, "--queue") | dsb_strv_add(a, opt(opts, "queue"));
    rc |= jars(doc, a) | job_conf(doc, a);
    if (kind == DSB_SPARK_K8S) {
        rc |= !pod;
        rc |= conf(a, "spark.kubernetes.namespace",
                   opt(opts, "namespace") ? opt(opts, "namespace") : "default");
        rc |= conf(a, "spark.kubernetes.authenticate.driver.serviceAccountName",
                   opt(opts, "service_account"));
        rc |= conf(a, "spark.kubernetes.container.image", opt(opts, "image"));
        rc |= conf(a, "spark.kubernetes.driver.podTemplateFile",
                   opt(opts, "driver_pod_template"));
        rc |= conf(a, "spark.kubernetes.executor.podTemplateFile",
                   opt(opts, "executor_pod_template"));
        rc |= conf(a, "spark.kubernetes.file.upload.path",
                   opt(opts, "upload_path"));
        rc |= conf(a, "spark.kubernetes.driver.pod.name", pod);
        rc |= conf(a, "spark.kubernetes.driver.label.dsb-job", pod);
        rc |= conf(a, "spark.kubernetes.submission.waitAppCompletion", "false");
        rc |= driver_env("spark.kubernetes.driverEnv.", doc, a);
    } else {
        rc |= conf(a, "spark.yarn.submit.waitAppCompletion", "false");
        rc |= conf(a, "spark.yarn.tags", id);
        rc |= driver_env("spark.yarn.appMasterEnv.", doc, a);
    }
    rc |= dsb_strv_add(a, script);
    json_array_foreach(json_object_get(doc, "args"), i, v) rc |=
        dsb_strv_add(a, json_string_value(v));
    free(pod);
    return rc ? -1 : 0;
}

/* status/kill: op is "--status" / "--kill" (k8s) or "-status" / "-kill"
 * (yarn). */
static int control_argv(const json_t *opts, const json_t *doc, const char *bin,
                        const char *k8s_op, const char *yarn_op,
                        struct dsb_strv *a)
{
    const char *sub = dsb_job_str(doc, "cluster", "submission_id");
    int rc;

    if (!sub)
        return -1;
    if (dsb_spark_kind_of(opt(opts, "master")) == DSB_SPARK_K8S)
        return dsb_strv_add(a, bin) | dsb_strv_add(a, "--master") |
                       dsb_strv_add(a, opt(opts, "master")) |
                       k8s_client_conf(opts, a) | dsb_strv_add(a, k8s_op) |
                       dsb_strv_add(a, sub)
                   ? -1
                   : 0;
    rc = dsb_strv_add(a, bin) | dsb_strv_add(a, "application") |
         dsb_strv_add(a, yarn_op) | dsb_strv_add(a, sub);
    return rc ? -1 : 0;
}

int dsb_spark_status_argv(const json_t *opts, const json_t *doc,
                          const char *bin, struct dsb_strv *a)
{
    return control_argv(opts, doc, bin, "--status", "-status", a);
}

int dsb_spark_kill_argv(const json_t *opts, const json_t *doc, const char *bin,
                        struct dsb_strv *a)
{
    return control_argv(opts, doc, bin, "--kill", "-kill", a);
}

/* ------------------------------------------------------------- parsing */

/* The value after "key" (then optional spaces, ':' and spaces) on the
 * last line of text whose first non-blank characters are key; malloc'd
 * up to the end of the line, trimmed, or NULL. */
static char *field(const char *text, const char *key)
{
    char *out = NULL;
    size_t klen = strlen(key);

    for (const char *line = text; line && *line;) {
        const char *end = strchr(line, '\n'), *p = line;
        size_t n = end ? (size_t)(end - line) : strlen(line);
        while (p < line + n && isspace((unsigned char)*p))
            p++;
        if ((size_t)(line + n - p) > klen && strncmp(p, key, klen) == 0) {
            const char *v = p + klen;
            while (v < line + n && *v == ' ')
                v++;
            if (v < line + n && *v == ':') {
                const char *e = line + n;
                v++;
                while (v < e && isspace((unsigned char)*v))
                    v++;
                while (e > v && isspace((unsigned char)e[-1]))
                    e--;
                free(out);
                out = strndup(v, (size_t)(e - v));
            }
        }
        line = end ? end + 1 : NULL;
    }
    return out;
}

char *dsb_spark_k8s_phase_in(const char *text)
{
    return text ? field(text, "phase") : NULL;
}

int dsb_spark_k8s_not_found(const char *text)
{
    return text && (strstr(text, "Application not found") ||
                    strstr(text, "application not found"));
}

int dsb_spark_yarn_report_in(const char *text, char **state, char **final)
{
    *state = text ? field(text, "State") : NULL;
    *final = text ? field(text, "Final-State") : NULL;
    return *state ? 0 : -1;
}

char *dsb_spark_yarn_app_in(const char *text)
{
    static const char mark[] = "Submitted application ";
    const char *p = text ? strstr(text, mark) : NULL;
    size_t n;

    if (!p)
        return NULL;
    p += sizeof(mark) - 1;
    n = strspn(p, "application_0123456789");
    return n > 12 && strncmp(p, "application_", 12) == 0 ? strndup(p, n) : NULL;
}

const char *dsb_spark_k8s_state(const char *phase)
{
    static const char *const map[][2] = {{"Pending", "pending"},
                                         {"Running", "running"},
                                         {"Succeeded", "succeeded"},
                                         {"Failed", "failed"},
                                         {NULL, NULL}};

    for (size_t i = 0; phase && map[i][0]; i++)
        if (strcmp(map[i][0], phase) == 0)
            return map[i][1];
    return NULL; /* Unknown, or a phase this broker does not know */
}

const char *dsb_spark_yarn_state(const char *state, const char *final)
{
    static const char *const map[][2] = {
        {"NEW", "pending"},       {"NEW_SAVING", "pending"},
        {"SUBMITTED", "pending"}, {"ACCEPTED", "pending"},
        {"RUNNING", "running"},   {"FAILED", "failed"},
        {"KILLED", "cancelled"},  {NULL, NULL}};

    if (state && strcmp(state, "FINISHED") == 0) {
        if (final && strcmp(final, "SUCCEEDED") == 0)
            return "succeeded";
        if (final && strcmp(final, "KILLED") == 0)
            return "cancelled";
        return "failed"; /* FAILED, or UNDEFINED: it did not succeed */
    }
    for (size_t i = 0; state && map[i][0]; i++)
        if (strcmp(map[i][0], state) == 0)
            return map[i][1];
    return NULL;
}

/* ------------------------------------------------------------- running */

/* The environment of spark-submit and yarn here: the job's allow-list
 * (PATH, LANG, JAVA_HOME, SPARK_HOME...), HOME the job's directory, and
 * with conf_dir HADOOP_CONF_DIR and YARN_CONF_DIR. */
static int client_env(const json_t *opts, const char *dir, struct dsb_strv *e)
{
    static const char *const passed[] = {"PATH",      "LANG",       "LC_ALL",
                                         "JAVA_HOME", "SPARK_HOME", NULL};
    const char *cd = opt(opts, "conf_dir");
    int rc = 0;

    for (const char *const *p = passed; *p; p++)
        if (getenv(*p))
            rc |= dsb_strv_push(e, dsb_asprintf("%s=%s", *p, getenv(*p)));
    if (!getenv("PATH"))
        rc |= dsb_strv_add(e, "PATH=/usr/local/bin:/usr/bin:/bin");
    rc |= dsb_strv_push(e, dsb_asprintf("HOME=%s", dir));
    if (cd)
        rc |= dsb_strv_push(e, dsb_asprintf("HADOOP_CONF_DIR=%s", cd)) |
              dsb_strv_push(e, dsb_asprintf("YARN_CONF_DIR=%s", cd));
    return rc;
}

/* Runs argv in dir with env, stdout and stderr together into *out
 * (malloc'd, the last RUN_OUTPUT_MAX bytes kept); its exit status, or -1
 * with err set (could not start, or killed after timeout_ms). */
static int run_capture(char *const *argv, char *const *env, const char *dir,
                       long timeout_ms, char **out, struct dsb_error *err)
{
    int p[2], devnull = open("/dev/null", O_RDONLY | O_CLOEXEC), status = 0;
    struct dsb_spawn s = {argv, env, dir, {devnull, -1, -1}, 0, 0};
    int64_t end = dsb_monotonic_ms() + timeout_ms;
    size_t n = 0;
    char *buf = malloc(RUN_OUTPUT_MAX + 1);
    pid_t pid;
    int rc;

    *out = NULL;
    if (!buf || devnull < 0 || pipe2(p, O_CLOEXEC) < 0) {
        free(buf);
        if (devnull >= 0)
            close(devnull);
        return dsb_error_set(err, DSB_E_INTERNAL, "cannot run %s: %s", argv[0],
                             strerror(errno));
    }
    s.fds[1] = s.fds[2] = p[1];
    rc = dsb_spawn(&s, &pid, err);
    close(p[1]);
    close(devnull);
    if (rc < 0) {
        close(p[0]);
        free(buf);
        return -1;
    }
    for (;;) {
        struct pollfd pf = {p[0], POLLIN, 0};
        int64_t left = end - dsb_monotonic_ms();
        ssize_t got;
        if (left <= 0 || poll(&pf, 1, (int)left) == 0) {
            killpg(pid, SIGKILL);
            rc = -1;
            break;
        }
        if (n == RUN_OUTPUT_MAX) { /* keep the end: drop the first half */
            memmove(buf, buf + n / 2, n - n / 2);
            n -= n / 2;
        }
        got = read(p[0], buf + n, RUN_OUTPUT_MAX - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        n += (size_t)got;
    }
    close(p[0]);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    buf[n] = '\0';
    *out = buf;
    if (rc < 0)
        return dsb_error_set(err, DSB_E_TIMEOUT, "%s did not end within %ld s",
                             argv[0], timeout_ms / 1000);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* The last line of text mentioning an error (else its last line), for a
 * reason; malloc'd, redacted, at most 300 bytes. */
static char *last_line(const char *text)
{
    const char *best = NULL, *last = NULL;
    char *out;

    for (const char *l = text; l && *l;) {
        const char *e = strchr(l, '\n');
        if (e != l) {
            last = l;
            if (strstr(l, "rror") && (!e || strstr(l, "rror") < e))
                best = l;
            if (strstr(l, "xception") && (!e || strstr(l, "xception") < e))
                best = l;
        }
        l = e ? e + 1 : NULL;
    }
    if (!best)
        best = last;
    if (!best)
        return strdup("(no output)");
    out = strndup(best, strcspn(best, "\n") < 300 ? strcspn(best, "\n") : 300);
    if (out)
        dsb_redact(out, strlen(out) + 1);
    return out;
}

/* Runs one of the client's commands for the job of doc (its directory is
 * the working directory); exit status or -1 as run_capture. */
static int run_client(const json_t *opts, struct dsb_strv *argv,
                      const char *dir, long timeout_ms, char **out,
                      struct dsb_error *err)
{
    struct dsb_strv env = {0};
    int rc;

    if (client_env(opts, dir, &env) < 0) {
        dsb_strv_free(&env);
        *out = NULL;
        return dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
    }
    rc = run_capture(argv->v, env.v, dir, timeout_ms, out, err);
    dsb_strv_free(&env);
    return rc;
}

/* The client program of a status or kill: spark-submit for k8s, the
 * option yarn (default: yarn on PATH) for YARN; malloc'd or NULL with err
 * set. */
static char *control_bin(const json_t *opts, struct dsb_error *err)
{
    const char *yarn = opt(opts, "yarn") ? opt(opts, "yarn") : "yarn";
    char *bin;

    if (dsb_spark_kind_of(opt(opts, "master")) == DSB_SPARK_K8S)
        return dsb_local_spark_submit(opts, err);
    if (!(bin = dsb_local_command(yarn)))
        dsb_error_set(err, DSB_E_CONFIG, "cannot run %s: no such executable",
                      yarn);
    return bin;
}

/* ---------------------------------------------------------------- start */

/* state_dir/jobs/ID (0700): the script spark-submit uploads, the
 * client's output (submit.log); doc's output is OUTPUT_URI/ID. */
static char *job_dir(struct dsb_jobs *j, const json_t *opts, json_t *doc,
                     struct dsb_error *err)
{
    const char *id = dsb_job_str(doc, "id", NULL);
    const char *uri = opt(opts, "output_uri");
    char *dir = dsb_path_join(j->jobs_dir, id), *out;

    if (!dir || mkdir(dir, 0700) < 0) {
        dsb_error_set(err, DSB_E_INTERNAL,
                      "cannot create the job directory under %s: %s",
                      j->jobs_dir, strerror(errno));
        free(dir);
        return NULL;
    }
    out =
        dsb_asprintf("%s%s%s", uri, uri[strlen(uri) - 1] == '/' ? "" : "/", id);
    json_object_set_new(
        doc, "output",
        json_pack("{s:s?, s:[ss]}", "uri", out, "formats", "csv", "jsonl"));
    free(out);
    return dir;
}

/* The script: the entry point as given (a URI the cluster reads, e.g.
 * local:///opt/app.py or s3a://...), or the code in DIR/main.py, which
 * spark-submit uploads (k8s: to upload_path; YARN: to its staging
 * directory). */
static char *job_script(const struct dsb_job_request *r, const char *dir,
                        struct dsb_error *err)
{
    char *path;
    int prelude;

    if (r->entry_point)
        return strdup(r->entry_point);
    path = dsb_path_join(dir, "main.py");
    prelude =
        strstr(r->code, "_dsb_secret(") && !strstr(r->code, "def _dsb_secret");
    if (path &&
        dsb_local_write_file(path, prelude ? dsb_jobs_python_prelude() : NULL,
                             r->code) == 0)
        return path;
    dsb_error_set(err, DSB_E_INTERNAL, "cannot write the job script in %s: %s",
                  dir, strerror(errno));
    free(path);
    return NULL;
}

/* Reads the submission's id out of spark-submit's output (YARN) or knows
 * it (k8s: the pod name the broker chose); records it, the job pending
 * until the first status. */
static int submitted(const json_t *opts, json_t *doc, const char *output,
                     struct dsb_error *err)
{
    json_t *cl = json_object_get(doc, "cluster");
    char *sub;

    if (dsb_spark_kind_of(opt(opts, "master")) == DSB_SPARK_K8S)
        sub = dsb_spark_k8s_submission(opts, dsb_job_str(doc, "id", NULL));
    else if (!(sub = dsb_spark_yarn_app_in(output)))
        return dsb_error_set(
            err, DSB_E_UPSTREAM,
            "spark-submit ended without printing \"Submitted application "
            "application_...\": the broker cannot follow the job (see the "
            "job's logs)");
    json_object_set_new(cl, "submission_id", json_string(sub));
    free(sub);
    dsb_job_set_state(doc, "pending", NULL);
    return 0;
}

int dsb_spark_remote_start(struct dsb_jobs *j,
                           const struct dsb_executor_conf *e,
                           const struct dsb_job_request *r, json_t *doc,
                           struct dsb_error *err)
{
    struct dsb_strv argv = {0};
    char *dir = NULL, *script = NULL, *bin = NULL, *out = NULL, *line;
    int rc = -1, status;

    json_object_set_new(
        doc, "cluster",
        json_pack("{s:s, s:s, s:n, s:n}", "kind",
                  dsb_spark_kind_of(opt(e->options, "master")) == DSB_SPARK_K8S
                      ? "k8s"
                      : "yarn",
                  "master", opt(e->options, "master"), "submission_id",
                  "state"));
    if (!(dir = job_dir(j, e->options, doc, err)) ||
        !(script = job_script(r, dir, err)) ||
        !(bin = dsb_local_spark_submit(e->options, err)))
        goto done;
    json_object_set_new(json_object_get(doc, "cluster"), "dir",
                        json_string(dir));
    json_object_set_new(doc, "script", json_string(script));
    if (dsb_spark_submit_argv(e->options, doc, bin, script, &argv) < 0) {
        dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
        goto done;
    }
    status = run_client(e->options, &argv, dir, 300000, &out, err);
    if (out) {
        char *log = dsb_path_join(dir, "submit.log");
        if (log)
            dsb_local_write_file(log, out, NULL);
        free(log);
    }
    if (status != 0) {
        if (status > 0) {
            line = last_line(out);
            dsb_error_set(err, DSB_E_UPSTREAM,
                          "spark-submit exited with status %d: %s", status,
                          line ? line : "");
            free(line);
        }
        goto done;
    }
    if (submitted(e->options, doc, out, err) == 0)
        rc = dsb_jobs_store(j, doc, err);
done:
    free(dir);
    free(script);
    free(bin);
    free(out);
    dsb_strv_free(&argv);
    return rc;
}

/* ------------------------------------------------------------ tracking */

/* The executor options of record doc's executor (env_lock read-held;
 * borrowed), NULL when a reload removed it. */
static const json_t *exec_opts(struct dsb_jobs *j, const json_t *doc)
{
    const char *name = dsb_job_str(doc, "executor", NULL);

    for (size_t i = 0; name && j->o.cfg && i < j->o.cfg->n_executors; i++)
        if (strcmp(j->o.cfg->executors[i].name, name) == 0)
            return j->o.cfg->executors[i].options;
    return NULL;
}

/* What a status command says of a job. */
struct observed {
    char *raw, *final; /* the cluster's words */
    const char *state; /* the broker's, NULL: no change */
    const char *reason;
    char *problem;
};

static void observe(const json_t *doc, int status, const char *out,
                    struct observed *o)
{
    const char *kind = dsb_job_str(doc, "cluster", "kind");
    int stopping = dsb_job_str(doc, "cluster", "stop") != NULL;

    if (strcmp(kind, "k8s") == 0 && dsb_spark_k8s_not_found(out)) {
        /* --kill deletes the driver pod */
        o->state = stopping ? "cancelled" : "failed";
        o->reason = stopping ? NULL
                             : "the driver pod no longer exists (deleted "
                               "outside the broker)";
        return;
    }
    if (status != 0) {
        char *line = last_line(out);
        o->problem = dsb_asprintf("the status command exited with status %d: "
                                  "%s",
                                  status, line ? line : "");
        free(line);
        return;
    }
    if (strcmp(kind, "k8s") == 0) {
        o->raw = dsb_spark_k8s_phase_in(out);
        o->state = dsb_spark_k8s_state(o->raw);
    } else if (dsb_spark_yarn_report_in(out, &o->raw, &o->final) == 0) {
        o->state = dsb_spark_yarn_state(o->raw, o->final);
    }
    if (!o->raw)
        o->problem = strdup("the status command's output has no state");
    else if (!o->state)
        o->problem = dsb_asprintf("state %s is not one the broker maps; the "
                                  "job keeps its state",
                                  o->raw);
}

/* Applies o to the stored record (under j->mu). */
static void apply(struct dsb_jobs *j, const char *id, const struct observed *o)
{
    json_t *doc = dsb_jstore_get(j, id), *cl;
    const char *state = o->state, *stop;
    struct dsb_error err;

    if (!doc || dsb_job_is_final(dsb_job_str(doc, "state", NULL)))
        goto done;
    cl = json_object_get(doc, "cluster");
    stop = opt(cl, "stop");
    if (o->raw)
        json_object_set_new(cl, "state", json_string(o->raw));
    if (o->final)
        json_object_set_new(cl, "final_state", json_string(o->final));
    if (o->problem)
        json_object_set_new(cl, "problem", json_string(o->problem));
    else
        json_object_del(cl, "problem");
    if (state && stop && dsb_job_is_final(state) &&
        strcmp(state, "succeeded") != 0)
        state = stop; /* failed or killed after the broker's stop */
    if (state && strcmp(state, "cancelled") == 0 && !stop)
        dsb_job_set_state(doc, "cancelled",
                          "the application was killed on the cluster");
    else if (state && strcmp(state, dsb_job_str(doc, "state", NULL)) != 0 &&
             !(stop && !dsb_job_is_final(state)))
        dsb_job_set_state(doc, state,
                          strcmp(state, "failed") == 0
                              ? (o->reason ? o->reason
                                           : "the application failed on the "
                                             "cluster (see its driver's log "
                                             "there)")
                              : NULL);
    else
        json_object_set_new(doc, "updated_at", json_integer(dsb_wall_ms()));
    if (dsb_jstore_put(j, doc, &err) < 0)
        dsb_logf(DSB_LOG_ERROR, "jobs", "%s", err.message);
done:
    json_decref(doc);
}

static int kill_app(struct dsb_jobs *j, const json_t *doc,
                    const char *stop_state, struct dsb_error *err);

static void poll_one(struct dsb_jobs *j, const json_t *doc)
{
    const json_t *opts = exec_opts(j, doc);
    struct dsb_strv argv = {0};
    struct observed o = {0};
    struct dsb_error err;
    char *bin = opts ? control_bin(opts, &err) : NULL, *out = NULL;
    int64_t deadline = json_integer_value(json_object_get(doc, "deadline_at"));
    int status = -1;

    if (!opts)
        o.problem = strdup("its executor is no longer configured: the broker "
                           "cannot ask the cluster");
    else if (!bin)
        o.problem = strdup(err.message);
    else if (dsb_spark_status_argv(opts, doc, bin, &argv) == 0)
        status = run_client(opts, &argv, dsb_job_str(doc, "cluster", "dir"),
                            120000, &out, &err);
    if (bin && status < 0 && !o.problem)
        o.problem = strdup(err.message);
    else if (status >= 0)
        observe(doc, status, out, &o);
    pthread_mutex_lock(&j->mu);
    apply(j, dsb_job_str(doc, "id", NULL), &o);
    pthread_mutex_unlock(&j->mu);
    if (opts && deadline && dsb_wall_ms() >= deadline &&
        !dsb_job_str(doc, "cluster", "stop") && !dsb_job_is_final(o.state) &&
        kill_app(j, doc, "timed_out", &err) < 0)
        dsb_logf(DSB_LOG_WARN, "jobs",
                 "cannot stop job %s past its deadline: %s",
                 dsb_job_str(doc, "id", NULL), err.message);
    free(o.raw);
    free(o.final);
    free(o.problem);
    free(bin);
    free(out);
    dsb_strv_free(&argv);
}

void dsb_spark_remote_poll(struct dsb_jobs *j)
{
    json_t *active, *doc;
    size_t i;

    pthread_mutex_lock(&j->mu);
    active = dsb_jstore_list(j, NULL);
    pthread_mutex_unlock(&j->mu);
    pthread_rwlock_rdlock(&j->env_lock);
    json_array_foreach(active, i, doc)
    {
        const char *kind = dsb_job_str(doc, "cluster", "kind");
        if (kind && strcmp(kind, "standalone") != 0 &&
            dsb_job_str(doc, "cluster", "submission_id"))
            poll_one(j, doc);
    }
    pthread_rwlock_unlock(&j->env_lock);
    json_decref(active);
}

/* Runs the kill command, then records the stop (env_lock read-held). */
static int kill_app(struct dsb_jobs *j, const json_t *doc,
                    const char *stop_state, struct dsb_error *err)
{
    const json_t *opts = exec_opts(j, doc);
    const char *id = dsb_job_str(doc, "id", NULL);
    struct dsb_strv argv = {0};
    char *bin, *out = NULL, *line;
    json_t *cur;
    int status = -1;

    if (!opts)
        return dsb_error_set(err, DSB_E_CONFLICT,
                             "executor %s is no longer configured: stop job "
                             "%s on the cluster itself",
                             dsb_job_str(doc, "executor", NULL), id);
    if (!(bin = control_bin(opts, err)))
        return -1;
    if (dsb_spark_kill_argv(opts, doc, bin, &argv) == 0)
        status = run_client(opts, &argv, dsb_job_str(doc, "cluster", "dir"),
                            120000, &out, err);
    else
        dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
    free(bin);
    dsb_strv_free(&argv);
    if (status > 0 && dsb_spark_k8s_not_found(out)) {
        status = 0; /* already gone */
    } else if (status > 0) {
        line = last_line(out);
        dsb_error_set(err, DSB_E_UPSTREAM,
                      "the kill command exited with status %d: %s", status,
                      line ? line : "");
        free(line);
    }
    free(out);
    if (status != 0)
        return -1;
    pthread_mutex_lock(&j->mu);
    cur = dsb_jstore_get(j, id);
    if (cur && !dsb_job_is_final(dsb_job_str(cur, "state", NULL))) {
        json_object_set_new(json_object_get(cur, "cluster"), "stop",
                            json_string(stop_state));
        dsb_job_set_state(cur, "cancelling",
                          strcmp(stop_state, "timed_out") == 0
                              ? "past its deadline; stopped by the broker"
                              : "cancelled on request");
        if (dsb_jstore_put(j, cur, err) < 0)
            status = -1;
    }
    pthread_mutex_unlock(&j->mu);
    json_decref(cur);
    return status < 0 ? -1 : 0;
}

int dsb_spark_remote_cancel(struct dsb_jobs *j, json_t *doc,
                            const char *stop_state, struct dsb_error *err)
{
    int rc;

    dsb_error_clear(err);
    if (!dsb_job_str(doc, "cluster", "submission_id")) {
        /* never submitted: nothing runs */
        dsb_job_set_state(doc, stop_state, "cancelled on request");
        return dsb_jobs_store(j, doc, err);
    }
    pthread_rwlock_rdlock(&j->env_lock);
    rc = kill_app(j, doc, stop_state, err);
    pthread_rwlock_unlock(&j->env_lock);
    return rc;
}

void dsb_spark_remote_recover(struct dsb_jobs *j, json_t *doc, const char *from)
{
    struct dsb_error err;
    char why[256];

    if (dsb_job_str(doc, "cluster", "submission_id"))
        return; /* the tracker asks the cluster, as before the restart */
    snprintf(why, sizeof(why),
             "the broker stopped while spark-submit was submitting the "
             "job%s%.64s%s; an application may have started on the "
             "cluster: look for it there",
             from ? " (replica " : "", from ? from : "", from ? ")" : "");
    dsb_job_set_state(doc, "failed", why);
    if (dsb_jstore_put(j, doc, &err) < 0)
        dsb_logf(DSB_LOG_ERROR, "jobs", "%s", err.message);
}

json_t *dsb_spark_remote_logs(const json_t *doc, size_t lines, size_t max_bytes)
{
    const char *dir = dsb_job_str(doc, "cluster", "dir");
    char *path = dir ? dsb_path_join(dir, "submit.log") : NULL, *text;
    size_t len = 0;
    json_t *out;

    text = path ? dsb_file_tail(path, lines, max_bytes, 4096, &len) : NULL;
    free(path);
    for (size_t i = 0; text && i < len; i++)
        if ((unsigned char)text[i] >= 0x80)
            text[i] = '?';
    if (text)
        dsb_redact(text, len + 4096);
    /* the driver's own log is on the cluster */
    out = json_pack("{s:s, s:s}", "stdout", "", "stderr", text ? text : "");
    free(text);
    return out;
}
