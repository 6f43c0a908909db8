/* The local-spark executor: spark-submit --master local[N], spawned
 * without a shell in its own process group, tracked by the tracker. */
#define _GNU_SOURCE /* posix_spawn_file_actions_addchdir_np */
#include "jobs/internal.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

extern char **environ;

/* A growable NULL-terminated vector of owned strings. */
struct strv {
    char **v;
    size_t n, cap;
};

static int strv_push(struct strv *s, char *owned)
{
    if (!owned)
        return -1;
    if (s->n + 2 > s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 32;
        char **nv = realloc(s->v, cap * sizeof(*nv));
        if (!nv) {
            free(owned);
            return -1;
        }
        s->v = nv;
        s->cap = cap;
    }
    s->v[s->n++] = owned;
    s->v[s->n] = NULL;
    return 0;
}

/* Frees the vector, wiping each string first (environments hold secrets). */
static void strv_free(struct strv *s)
{
    for (size_t i = 0; i < s->n; i++) {
        explicit_bzero(s->v[i], strlen(s->v[i]));
        free(s->v[i]);
    }
    free(s->v);
    memset(s, 0, sizeof(*s));
}

/* ----------------------------------------------------------- locating */

static int executable(const char *path)
{
    return path && access(path, X_OK) == 0;
}

/* .venv/bin/spark-submit in the executable's directory or up to 3 above. */
static char *venv_near_exe(void)
{
    char exe[PATH_MAX], *dir;
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

    if (n <= 0)
        return NULL;
    exe[n] = '\0';
    dir = dirname(exe);
    for (int up = 0; up < 4; up++) {
        char *p = dsb_asprintf("%s/.venv/bin/spark-submit", dir);
        if (executable(p))
            return p;
        free(p);
        dir = dirname(dir);
    }
    return NULL;
}

/* spark-submit to run (malloc'd): the option, $DSB_VENV, a project venv
 * near the executable, else the bare name for a PATH search. */
static char *find_spark_submit(const json_t *opts)
{
    const char *opt = json_string_value(json_object_get(opts, "spark_submit"));
    const char *venv = getenv("DSB_VENV");
    char *p;

    if (opt)
        return strdup(opt);
    if (venv && *venv) {
        p = dsb_asprintf("%s/bin/spark-submit", venv);
        if (executable(p))
            return p;
        free(p);
    }
    p = venv_near_exe();
    return p ? p : strdup("spark-submit");
}

/* PYSPARK_PYTHON: the option, the environment's, else the python beside a
 * pip-installed spark-submit (which needs it to find SPARK_HOME). */
static char *find_python(const json_t *opts, const char *spark_submit)
{
    const char *opt = json_string_value(json_object_get(opts, "python"));
    const char *env = getenv("PYSPARK_PYTHON");
    char *copy, *p;

    if (opt)
        return strdup(opt);
    if (env && *env)
        return strdup(env);
    if (!strchr(spark_submit, '/'))
        return NULL;
    copy = strdup(spark_submit);
    p = copy ? dsb_asprintf("%s/python", dirname(copy)) : NULL;
    free(copy);
    if (executable(p))
        return p;
    free(p);
    return NULL;
}

/* ----------------------------------------------------------- hadoop-aws */

/* The version in the first DIR/PREFIX<digits and dots>.jar (DIR may hold
 * glob characters), malloc'd or NULL. */
static char *jar_version(const char *dir, const char *prefix)
{
    char *pat = dsb_asprintf("%s/%s*.jar", dir, prefix), *v = NULL;
    glob_t g;

    memset(&g, 0, sizeof(g));
    if (!pat)
        return NULL;
    if (glob(pat, 0, NULL, &g) == 0)
        for (size_t i = 0; !v && i < g.gl_pathc; i++) {
            const char *name = strrchr(g.gl_pathv[i], '/') + 1 + strlen(prefix);
            size_t n = strlen(name) - strlen(".jar");
            /* the span also takes the dot of ".jar" */
            if (n > 0 && n < 32 && isdigit((unsigned char)name[0]) &&
                strspn(name, "0123456789.") == n + 1)
                v = strndup(name, n);
        }
    globfree(&g);
    free(pat);
    return v;
}

/* Hadoop version bundled in a Spark jars directory. */
static char *hadoop_version(const char *jars)
{
    char *v = jars ? jar_version(jars, "hadoop-client-api-") : NULL;

    return v ? v : jars ? jar_version(jars, "hadoop-common-") : NULL;
}

/* A bare command name resolved on PATH, else a copy of it (malloc'd). */
static char *on_path(const char *cmd)
{
    const char *path = getenv("PATH");
    char *copy, *dir, *save = NULL, *found = NULL;

    if (strchr(cmd, '/') || !path || !(copy = strdup(path)))
        return strdup(cmd);
    for (dir = strtok_r(copy, ":", &save); dir && !found;
         dir = strtok_r(NULL, ":", &save)) {
        found = dsb_asprintf("%s/%s", *dir ? dir : ".", cmd);
        if (!executable(found)) {
            free(found);
            found = NULL;
        }
    }
    free(copy);
    return found ? found : strdup(cmd);
}

/* The jars directories a spark-submit may run with, most specific first:
 * $SPARK_HOME/jars, the jars beside the resolved script (a Spark
 * distribution, pyspark/bin), a venv's site-packages/pyspark/jars. */
static char *bundled_hadoop(const char *bin)
{
    const char *home = getenv("SPARK_HOME");
    char *path = on_path(bin), *real = path ? realpath(path, NULL) : NULL;
    char *dir, *v = NULL;

    if (home && *home) {
        dir = dsb_asprintf("%s/jars", home);
        v = hadoop_version(dir);
        free(dir);
    }
    if (!v && real) {
        dir = dsb_asprintf("%s/../jars", dirname(real));
        v = hadoop_version(dir);
        free(dir);
    }
    if (!v && path && strchr(path, '/')) {
        dir = dsb_asprintf("%s/../lib/python3*/site-packages/pyspark/jars",
                           dirname(path));
        v = hadoop_version(dir);
        free(dir);
    }
    free(real);
    free(path);
    return v;
}

char *dsb_local_hadoop_aws_package(const json_t *opts)
{
    const char *opt =
        json_string_value(json_object_get(opts, "hadoop_aws_package"));
    char *bin, *v, *pkg;

    if (opt)
        return *opt ? strdup(opt) : NULL;
    bin = find_spark_submit(opts);
    v = bin ? bundled_hadoop(bin) : NULL;
    pkg = v ? dsb_asprintf("org.apache.hadoop:hadoop-aws:%s", v) : NULL;
    free(v);
    free(bin);
    return pkg;
}

/* -------------------------------------------------------- preparation */

/* path written 0600 (job files are private to the broker's uid). */
static int write_file(const char *path, const char *a, const char *b)
{
    int fd =
        open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    int ok;

    if (!f) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    ok = (!a || fputs(a, f) >= 0) && (!b || fputs(b, f) >= 0);
    return fclose(f) == 0 && ok ? 0 : -1;
}

/* The script to run: the entry point, or the code written to dir/main.py
 * (with the secret prelude when the code calls dsb_secret). */
static char *script_path(const struct dsb_job_request *r, const char *dir,
                         struct dsb_error *err)
{
    char *path;
    int prelude;

    if (r->entry_point)
        return strdup(r->entry_point);
    path = dsb_path_join(dir, "main.py");
    prelude =
        strstr(r->code, "_dsb_secret(") && !strstr(r->code, "def _dsb_secret");
    if (path && write_file(path, prelude ? dsb_jobs_python_prelude() : NULL,
                           r->code) == 0)
        return path;
    dsb_error_set(err, DSB_E_INTERNAL,
                  "cannot write the job script in %s: "
                  "%s",
                  dir, strerror(errno));
    free(path);
    return NULL;
}

static int push_conf(struct strv *a, const char *k, const char *v)
{
    return strv_push(a, strdup("--conf")) |
           strv_push(a, dsb_asprintf("%s=%s", k, v));
}

/* Comma-joined local jars (s3:// ones cannot be read here). */
static char *local_jars(const json_t *jars)
{
    char *out = strdup(""), *next;
    size_t i;
    json_t *v;

    json_array_foreach(jars, i, v)
    {
        const char *s = json_string_value(v);
        if (!out || strncmp(s, "s3://", 5) == 0)
            continue;
        next = dsb_asprintf("%s%s%s", out, *out ? "," : "", s);
        free(out);
        out = next;
    }
    return out;
}

static int build_argv(const json_t *doc, const json_t *opts, const char *bin,
                      const char *script, struct strv *a)
{
    const json_t *ss = json_object_get(doc, "spark_submit");
    const char *master = json_string_value(json_object_get(opts, "master"));
    char *jars = local_jars(json_object_get(ss, "jars"));
    int rc = strv_push(a, strdup(bin));
    const char *k;
    json_t *v;
    size_t i;

    rc |= strv_push(a, strdup("--master")) |
          strv_push(a, strdup(master ? master : "local[2]"));
    rc |= strv_push(a, strdup("--name")) |
          strv_push(a, strdup(dsb_job_str(doc, "name", NULL)));
    if (jars && *jars)
        rc |= strv_push(a, strdup("--jars")) | strv_push(a, strdup(jars));
    rc |= push_conf(a, "spark.driver.bindAddress", "127.0.0.1");
    rc |= push_conf(a, "spark.driver.host", "127.0.0.1");
    rc |= push_conf(a, "spark.ui.enabled", "false");
    json_object_foreach(json_object_get(ss, "conf"), k,
                        v) if (json_is_string(v)) rc |=
        push_conf(a, k, json_string_value(v));
    rc |= strv_push(a, strdup(script));
    json_array_foreach(json_object_get(doc, "args"), i, v) rc |=
        strv_push(a, strdup(json_string_value(v)));
    free(jars);
    return rc ? -1 : 0;
}

static int env_is_ours(const char *entry)
{
    static const char *const ours[] = {
        "SPARK_LOCAL_IP=", "DSB_OUTPUT=",     "DSB_JOB_ID=", "DSB_SESSION_ID=",
        "DSB_SECRET_",     "PYSPARK_PYTHON=", NULL};

    for (const char *const *o = ours; *o; o++)
        if (strncmp(entry, *o, strlen(*o)) == 0)
            return 1;
    return 0;
}

/* Resolves the job's secret references into DSB_SECRET_n variables and
 * DSB_SECRET_MAP (reference -> variable name). */
static int add_secrets(struct dsb_jobs *j, const json_t *doc, struct strv *e,
                       struct dsb_error *err)
{
    json_t *map = json_object(), *ref;
    char *value = NULL, *text;
    size_t i;
    int rc = 0;

    json_array_foreach(json_object_get(doc, "secret_refs"), i, ref)
    {
        char name[32];
        snprintf(name, sizeof(name), "DSB_SECRET_%zu", i);
        if (!j->o.secrets) {
            rc = dsb_error_set(err, DSB_E_CONFIG,
                               "no secret resolver for "
                               "the job's references");
            break;
        }
        if (dsb_secrets_get(j->o.secrets, json_string_value(ref), &value, err) <
            0) {
            rc = -1;
            break;
        }
        rc |= strv_push(e, dsb_asprintf("%s=%s", name, value));
        dsb_secret_value_free(value);
        json_object_set_new(map, json_string_value(ref), json_string(name));
    }
    text = json_dumps(map, JSON_COMPACT);
    if (rc == 0 && strv_push(e, dsb_asprintf("DSB_SECRET_MAP=%s", text)) < 0)
        rc = dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
    free(text);
    json_decref(map);
    return rc;
}

static int build_env(struct dsb_jobs *j, const json_t *doc, const char *py,
                     struct strv *e, struct dsb_error *err)
{
    int rc = 0;

    for (char **p = environ; p && *p; p++)
        if (!env_is_ours(*p))
            rc |= strv_push(e, strdup(*p));
    rc |= strv_push(e, strdup("SPARK_LOCAL_IP=127.0.0.1"));
    rc |= strv_push(
        e, dsb_asprintf("DSB_OUTPUT=%s", dsb_job_str(doc, "output", "uri")));
    rc |= strv_push(
        e, dsb_asprintf("DSB_JOB_ID=%s", dsb_job_str(doc, "id", NULL)));
    rc |= strv_push(e, dsb_asprintf("DSB_SESSION_ID=%s",
                                    dsb_job_str(doc, "session_id", NULL)));
    if (py)
        rc |= strv_push(e, dsb_asprintf("PYSPARK_PYTHON=%s", py));
    if (rc)
        return dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
    return add_secrets(j, doc, e, err);
}

/* ------------------------------------------------------------- spawn */

static int spawn_actions(posix_spawn_file_actions_t *fa, const char *dir)
{
    char out[PATH_MAX], errp[PATH_MAX];
    int rc;

    snprintf(out, sizeof(out), "%s/stdout.log", dir);
    snprintf(errp, sizeof(errp), "%s/stderr.log", dir);
    rc = posix_spawn_file_actions_init(fa);
    rc |= posix_spawn_file_actions_addopen(fa, 0, "/dev/null", O_RDONLY, 0);
    rc |= posix_spawn_file_actions_addopen(fa, 1, out,
                                           O_WRONLY | O_CREAT | O_TRUNC, 0600);
    rc |= posix_spawn_file_actions_addopen(fa, 2, errp,
                                           O_WRONLY | O_CREAT | O_TRUNC, 0600);
    rc |= posix_spawn_file_actions_addchdir_np(fa, dir);
    return rc;
}

static int spawn_attrs(posix_spawnattr_t *at)
{
    sigset_t none, deflt;
    int rc;

    sigemptyset(&none);
    sigemptyset(&deflt);
    sigaddset(&deflt, SIGINT);
    sigaddset(&deflt, SIGTERM);
    sigaddset(&deflt, SIGHUP);
    sigaddset(&deflt, SIGPIPE);
    sigaddset(&deflt, SIGCHLD);
    rc = posix_spawnattr_init(at);
    rc |= posix_spawnattr_setflags(at, POSIX_SPAWN_SETPGROUP |
                                           POSIX_SPAWN_SETSIGMASK |
                                           POSIX_SPAWN_SETSIGDEF);
    rc |= posix_spawnattr_setpgroup(at, 0);
    rc |= posix_spawnattr_setsigmask(at, &none);
    rc |= posix_spawnattr_setsigdefault(at, &deflt);
    return rc;
}

static int spawn(const char *dir, struct strv *argv, struct strv *env,
                 pid_t *pid, struct dsb_error *err)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    int rc;

    if (spawn_actions(&fa, dir) != 0 || spawn_attrs(&at) != 0)
        return dsb_error_set(err, DSB_E_INTERNAL,
                             "cannot prepare to spawn "
                             "spark-submit");
    rc = strchr(argv->v[0], '/')
             ? posix_spawn(pid, argv->v[0], &fa, &at, argv->v, env->v)
             : posix_spawnp(pid, argv->v[0], &fa, &at, argv->v, env->v);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    if (rc != 0) {
        dsb_error_set(err, DSB_E_CONFIG, "cannot run %s: %s", argv->v[0],
                      strerror(rc));
        dsb_error_hint(err, "set spark_submit in the executor, DSB_VENV, or "
                            "put a PySpark install's spark-submit on PATH");
        return -1;
    }
    return 0;
}

/*
 * Stores the running record and hands the process to the tracker in one
 * critical section, so the tracker never finishes a job whose "running"
 * record is written after it (which left jobs "running" forever).  On
 * failure the process is killed and reaped.
 */
static int track(struct dsb_jobs *j, const json_t *doc, pid_t pid,
                 struct dsb_error *err)
{
    struct dsb_local_proc *p = calloc(1, sizeof(*p));
    int rc = p ? 0 : dsb_error_set(err, DSB_E_INTERNAL, "out of memory");

    pthread_mutex_lock(&j->mu);
    if (rc == 0)
        rc = dsb_jstore_put(j, doc, err);
    if (rc == 0) {
        snprintf(p->id, sizeof(p->id), "%s", dsb_job_str(doc, "id", NULL));
        p->pid = pid;
        p->deadline_ms =
            json_integer_value(json_object_get(doc, "deadline_at"));
        p->next = j->procs;
        j->procs = p;
        pthread_cond_broadcast(&j->cv);
    }
    pthread_mutex_unlock(&j->mu);
    if (rc < 0) {
        free(p);
        killpg(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    return rc;
}

/* Job directory state_dir/jobs/ID with output location ID/output. */
static char *job_dir(struct dsb_jobs *j, json_t *doc, struct dsb_error *err)
{
    char *dir = dsb_path_join(j->jobs_dir, dsb_job_str(doc, "id", NULL));
    char *out = dir ? dsb_path_join(dir, "output") : NULL;

    if (!out || mkdir(dir, 0700) < 0) {
        dsb_error_set(err, DSB_E_INTERNAL,
                      "cannot create the job directory "
                      "under %s: %s",
                      j->jobs_dir, strerror(errno));
        free(dir);
        dir = NULL;
    } else {
        json_object_set_new(
            doc, "output",
            json_pack("{s:s, s:[ss]}", "uri", out, "formats", "csv", "jsonl"));
    }
    free(out);
    return dir;
}

static json_t *local_info(const char *dir, pid_t pid, const json_t *opts,
                          const char *bin)
{
    const char *master = json_string_value(json_object_get(opts, "master"));

    return json_pack("{s:I, s:s, s:s, s:s}", "pid", (json_int_t)pid, "dir", dir,
                     "master", master ? master : "local[2]", "spark_submit",
                     bin);
}

/* The start slot: spawns spark-submit and stores the "running" record
 * (track). */
static int local_start(struct dsb_jobs *j, const struct dsb_executor_conf *e,
                       const struct dsb_job_request *r, json_t *doc,
                       struct dsb_error *err)
{
    struct strv argv = {0}, env = {0};
    char *dir = job_dir(j, doc, err), *script = NULL, *bin = NULL, *py = NULL;
    pid_t pid = 0;
    int rc = -1;

    if (!dir || !(script = script_path(r, dir, err)))
        goto fail;
    bin = find_spark_submit(e->options);
    py = bin ? find_python(e->options, bin) : NULL;
    json_object_set_new(doc, "script", json_string(script));
    if (!bin || build_argv(doc, e->options, bin, script, &argv) < 0) {
        dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
        goto fail;
    }
    if (build_env(j, doc, py, &env, err) < 0 ||
        spawn(dir, &argv, &env, &pid, err) < 0)
        goto fail;
    json_object_set_new(doc, "local", local_info(dir, pid, e->options, bin));
    dsb_job_set_state(doc, "running", NULL);
    rc = track(j, doc, pid, err);
    if (rc < 0)
        json_object_del(doc, "local");
fail:
    strv_free(&argv);
    strv_free(&env);
    free(dir);
    free(script);
    free(bin);
    free(py);
    return rc;
}

/* ------------------------------------------------------------ tracking */

/* Last line of dir/stderr.log's last 64 KiB mentioning an error, for the
 * failure reason. */
static char *last_error_line(const char *dir)
{
    char *path = dsb_asprintf("%s/stderr.log", dir), *text, *best = NULL;
    size_t len = 0;

    text = path ? dsb_file_tail(path, 0, 64 << 10, 0, &len) : NULL;
    free(path);
    for (char *line = text ? strtok(text, "\n") : NULL; line;
         line = strtok(NULL, "\n"))
        if (strstr(line, "Error") || strstr(line, "Exception"))
            best = line;
    best = best ? strndup(best, 300) : NULL;
    free(text);
    return best;
}

/* ------------------------------------------------------------- limits */

static const char *const log_names[] = {"stdout.log", "stderr.log", NULL};

/* The output and log limits record doc shows, in bytes (0: none). */
static void limits_of(const json_t *doc, int64_t *max_output, int64_t *max_log)
{
    const json_t *l = json_object_get(doc, "limits");

    *max_output = json_integer_value(json_object_get(l, "max_output_mb")) << 20;
    *max_log = json_integer_value(json_object_get(l, "max_log_mb")) << 20;
}

/* Whether the job in dir is past a limit (why says which): a log file
 * past max_log, or everything else it wrote in dir past max_output. */
static int over_limits(const char *dir, int64_t max_output, int64_t max_log,
                       char *why, size_t n)
{
    char path[PATH_MAX];
    struct stat st;

    for (const char *const *l = log_names; max_log > 0 && *l; l++) {
        snprintf(path, sizeof(path), "%s/%s", dir, *l);
        if (lstat(path, &st) == 0 && st.st_size > max_log) {
            snprintf(why, n, "log %s exceeded %lld MB (max_log_mb)", *l,
                     (long long)(max_log >> 20));
            return 1;
        }
    }
    if (max_output > 0 &&
        dsb_dir_bytes(dir, log_names, max_output) > max_output) {
        snprintf(why, n, "output exceeded %lld MB (max_output_mb)",
                 (long long)(max_output >> 20));
        return 1;
    }
    return 0;
}

/* over_limits for the job of record doc. */
static int job_over_limits(const json_t *doc, char *why, size_t n)
{
    const char *dir = dsb_job_str(doc, "local", "dir");
    int64_t max_output, max_log;

    limits_of(doc, &max_output, &max_log);
    return dir && over_limits(dir, max_output, max_log, why, n);
}

static void finish(struct dsb_jobs *j, struct dsb_local_proc *p, int status)
{
    json_t *doc = dsb_jstore_get(j, p->id);
    char reason[512], *line;
    struct dsb_error err;
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;

    if (!doc)
        return;
    if (p->stop_state) {
        dsb_job_set_state(doc, p->stop_state, NULL);
    } else if (code == 0 && job_over_limits(doc, reason, sizeof(reason))) {
        dsb_job_set_state(doc, "failed", reason);
    } else if (code == 0) {
        dsb_job_set_state(doc, "succeeded", NULL);
    } else {
        line = last_error_line(dsb_job_str(doc, "local", "dir"));
        if (WIFSIGNALED(status))
            snprintf(reason, sizeof(reason),
                     "spark-submit was killed by "
                     "signal %d",
                     WTERMSIG(status));
        else
            snprintf(reason, sizeof(reason),
                     "spark-submit exited with "
                     "status %d%s%s",
                     code, line ? ": " : "", line ? line : "");
        dsb_redact(reason, sizeof(reason));
        dsb_job_set_state(doc, "failed", reason);
        free(line);
    }
    json_object_set_new(doc, "exit_status", json_integer(code));
    if (dsb_jstore_put(j, doc, &err) < 0)
        dsb_logf(DSB_LOG_ERROR, "jobs", "%s", err.message);
    dsb_logf(DSB_LOG_INFO, "jobs", "job %s %s", p->id,
             dsb_job_str(doc, "state", NULL));
    json_decref(doc);
}

/* Marks the record "cancelling" with why, for a stop the broker began. */
static void mark_stopping(struct dsb_jobs *j, const char *id,
                          const char *reason)
{
    json_t *doc = dsb_jstore_get(j, id);
    struct dsb_error err;

    if (!doc)
        return;
    dsb_job_set_state(doc, "cancelling", reason);
    if (dsb_jstore_put(j, doc, &err) < 0)
        dsb_logf(DSB_LOG_ERROR, "jobs", "%s", err.message);
    json_decref(doc);
}

static void stop_proc(struct dsb_jobs *j, struct dsb_local_proc *p,
                      const char *stop_state, const char *reason)
{
    if (p->term_sent_ms)
        return;
    killpg(p->pid, SIGTERM);
    p->term_sent_ms = dsb_wall_ms();
    p->stop_state = stop_state;
    mark_stopping(j, p->id, reason);
}

static void enforce(struct dsb_jobs *j, struct dsb_local_proc *p)
{
    int64_t now = dsb_wall_ms();
    char reason[128];

    if (!p->term_sent_ms && p->deadline_ms && now >= p->deadline_ms) {
        json_t *doc = dsb_jstore_get(j, p->id);
        snprintf(reason, sizeof(reason),
                 "timed out after %lld s; stopped by "
                 "the broker",
                 doc ? (long long)json_integer_value(
                           json_object_get(doc, "timeout_seconds"))
                     : 0LL);
        json_decref(doc);
        stop_proc(j, p, "timed_out", reason);
    } else if (p->term_sent_ms && now - p->term_sent_ms >= j->o.kill_grace_ms) {
        killpg(p->pid, SIGKILL);
    }
}

/* Reaps finished spark-submits and enforces deadlines (under j->mu). */
static void tick_locked(struct dsb_jobs *j)
{
    struct dsb_local_proc **pp = &j->procs;

    while (*pp) {
        struct dsb_local_proc *p = *pp;
        int status = 0;
        pid_t r = waitpid(p->pid, &status, WNOHANG);
        if (r == p->pid || (r < 0 && errno == ECHILD)) {
            killpg(p->pid, SIGKILL); /* children it left behind */
            finish(j, p, status);
            *pp = p->next;
            free(p);
            continue;
        }
        enforce(j, p);
        pp = &p->next;
    }
}

/* A running job whose sizes the tick measures outside j->mu. */
struct size_check {
    char id[40];
    char *dir;
    int64_t max_output, max_log;
    int over;
    char why[128];
};

/* The running jobs with limits, not being stopped yet (under j->mu); the
 * limits are read from each record once. */
static size_t collect_checks(struct dsb_jobs *j, struct size_check **out)
{
    size_t n = 0, k = 0;
    struct dsb_local_proc *p;

    for (p = j->procs; p; p = p->next)
        n++;
    *out = n ? calloc(n, sizeof(**out)) : NULL;
    for (p = j->procs; *out && p; p = p->next) {
        if (!p->limits_known) {
            json_t *doc = dsb_jstore_get(j, p->id);
            limits_of(doc, &p->max_output_bytes, &p->max_log_bytes);
            p->limits_known = doc != NULL;
            json_decref(doc);
        }
        if (p->term_sent_ms || (!p->max_output_bytes && !p->max_log_bytes))
            continue;
        snprintf((*out)[k].id, sizeof((*out)[k].id), "%s", p->id);
        (*out)[k].dir = dsb_path_join(j->jobs_dir, p->id);
        (*out)[k].max_output = p->max_output_bytes;
        (*out)[k].max_log = p->max_log_bytes;
        k++;
    }
    return k;
}

/* Stops and fails the jobs found past a limit (under j->mu). */
static void stop_over(struct dsb_jobs *j, const struct size_check *c, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (struct dsb_local_proc *p = j->procs; c[i].over && p; p = p->next)
            if (strcmp(p->id, c[i].id) == 0 && !p->term_sent_ms) {
                dsb_logf(DSB_LOG_WARN, "jobs", "job %s stopped: %s", p->id,
                         c[i].why);
                stop_proc(j, p, "failed", c[i].why);
            }
}

/* Measures each running job's logs and output against its limits; the
 * directory walks run without j->mu. */
static void check_sizes(struct dsb_jobs *j)
{
    struct size_check *c = NULL;
    size_t n;

    pthread_mutex_lock(&j->mu);
    n = collect_checks(j, &c);
    pthread_mutex_unlock(&j->mu);
    for (size_t i = 0; i < n; i++)
        c[i].over =
            c[i].dir && over_limits(c[i].dir, c[i].max_output, c[i].max_log,
                                    c[i].why, sizeof(c[i].why));
    pthread_mutex_lock(&j->mu);
    stop_over(j, c, n);
    pthread_mutex_unlock(&j->mu);
    for (size_t i = 0; i < n; i++)
        free(c[i].dir);
    free(c);
}

/* The tick slot: at every wake-up of the tracker. */
static long local_tick(struct dsb_jobs *j)
{
    pthread_mutex_lock(&j->mu);
    tick_locked(j);
    pthread_mutex_unlock(&j->mu);
    check_sizes(j);
    return 0;
}

static int cancel_locked(struct dsb_jobs *j, json_t *doc,
                         const char *stop_state, struct dsb_error *err)
{
    const char *id = dsb_job_str(doc, "id", NULL);

    for (struct dsb_local_proc *p = j->procs; p; p = p->next)
        if (strcmp(p->id, id) == 0) {
            stop_proc(j, p, stop_state, "cancelled on request");
            pthread_cond_broadcast(&j->cv);
            return 0;
        }
    /* not running in this process: nothing to stop */
    dsb_job_set_state(doc, stop_state, "cancelled on request");
    return dsb_jstore_put(j, doc, err);
}

/* The cancel slot: SIGTERM to the process group (SIGKILL after the
 * grace period, from the tick). */
static int local_cancel(struct dsb_jobs *j, json_t *doc, const char *stop_state,
                        struct dsb_error *err)
{
    int rc;

    pthread_mutex_lock(&j->mu);
    rc = cancel_locked(j, doc, stop_state, err);
    pthread_mutex_unlock(&j->mu);
    return rc;
}

/* Stops a spark-submit an earlier broker left, if it is still that one. */
static void stop_orphan(const json_t *doc)
{
    pid_t pid = (pid_t)json_integer_value(
        json_object_get(json_object_get(doc, "local"), "pid"));
    const char *dir = dsb_job_str(doc, "local", "dir");
    char path[64], *cmd;

    if (pid <= 0 || !dir)
        return;
    snprintf(path, sizeof(path), "/proc/%d/cwd", (int)pid);
    cmd = dsb_realpath(path);
    if (cmd && strcmp(cmd, dir) == 0)
        killpg(pid, SIGKILL);
    free(cmd);
}

/* The recover slot: a job left running by an earlier broker cannot be
 * followed (its process is not our child): stop it and mark it failed. */
static void local_recover(struct dsb_jobs *j, json_t *doc)
{
    struct dsb_error err;

    stop_orphan(doc);
    dsb_job_set_state(doc, "failed",
                      "the broker stopped while the job "
                      "was running");
    if (dsb_jstore_put(j, doc, &err) < 0)
        dsb_logf(DSB_LOG_ERROR, "jobs", "%s", err.message);
    else
        dsb_logf(DSB_LOG_WARN, "jobs",
                 "job %s marked failed: the broker "
                 "stopped while it was running",
                 dsb_job_str(doc, "id", NULL));
}

/* --------------------------------------------------------------- logs */

/* The redacted last `lines` lines (within max bytes) of dir/name. */
static json_t *tail(const char *dir, const char *name, size_t lines, size_t max)
{
    char *path = dsb_asprintf("%s/%s", dir, name), *buf;
    size_t n = 0;
    json_t *s;

    buf = path ? dsb_file_tail(path, lines, max, 4096, &n) : NULL;
    free(path);
    if (!buf)
        return json_string("");
    for (size_t i = 0; i < n; i++) /* keep it valid UTF-8 */
        if ((unsigned char)buf[i] >= 0x80 || buf[i] == '\0')
            buf[i] = '?';
    dsb_redact(buf, n + 4096);
    s = json_string(buf);
    free(buf);
    return s ? s : json_string("");
}

/* The logs slot: the redacted tails of stdout.log and stderr.log. */
static json_t *local_logs(const json_t *doc, size_t lines, size_t max_bytes)
{
    const char *dir = dsb_job_str(doc, "local", "dir");

    if (!dir)
        return json_pack("{s:s, s:s}", "stdout", "", "stderr", "");
    return json_pack("{s:o, s:o}", "stdout",
                     tail(dir, "stdout.log", lines, max_bytes), "stderr",
                     tail(dir, "stderr.log", lines, max_bytes));
}

/* ------------------------------------------------------------ the type */

/* The read_output slot: the job's output directory. */
static int local_read_output(struct dsb_jobs *j, const json_t *doc,
                             size_t limit, json_t **out, struct dsb_error *err)
{
    (void)j;
    return dsb_output_read_local(dsb_job_str(doc, "output", "uri"), limit, out,
                                 err);
}

static unsigned local_caps(const json_t *opts)
{
    return DSB_EXEC_LOCAL_FILES |
           (json_is_true(json_object_get(opts, "s3a")) ? DSB_EXEC_S3A : 0);
}

static const struct dsb_option local_options[] = {
    DSB_OPTION_STRING("spark_submit", 0, NULL,
                      "spark-submit to run (default: "
                      "the project venv's, then PATH)"),
    DSB_OPTION_STRING("master", 0, "local[2]", "Spark master URL"),
    DSB_OPTION_STRING("python", 0, NULL, "PYSPARK_PYTHON for the job"),
    DSB_OPTION_LIST("jars", 0, "[]", "extra jars on --jars"),
    DSB_OPTION_MAP("conf", 0, "extra --conf key=value pairs"),
    DSB_OPTION_BOOL("s3a", "false",
                    "s3a:// paths can be read (with "
                    "hadoop-aws from hadoop_aws_package)"),
    DSB_OPTION_STRING("hadoop_aws_package", 0, NULL,
                      "spark.jars.packages "
                      "coordinate for s3a reads (default: hadoop-aws of the "
                      "Hadoop bundled with the PySpark; \"\": none)"),
    DSB_OPTION_INT("default_timeout_seconds", 0, "3600", 10, 604800,
                   "job timeout unless the job asks for less"),
    DSB_OPTION_INT("max_timeout_seconds", 0, "86400", 10, 604800,
                   "longest timeout a job may ask for"),
    DSB_OPTION_INT("max_running_jobs", 0, "2", 1, 10000,
                   "jobs running at once (each is a JVM); more are queued"),
    DSB_OPTION_INT("max_queued_jobs", 0, "8", 0, 100000,
                   "jobs waiting for a slot; a submit beyond is refused "
                   "with 429"),
    DSB_OPTION_INT("max_output_mb", 0, "10240", 1, 16777216,
                   "a job whose files in its directory (output/ and any "
                   "other, its logs aside) grow past this is stopped and "
                   "failed"),
    DSB_OPTION_INT("max_log_mb", 0, "1024", 1, 16777216,
                   "a job whose stdout.log or stderr.log grows past this is "
                   "stopped and failed"),
    DSB_OPTION_END};

/* The record is stored pending before the spawn, and "running" by track()
 * in the same critical section that hands the process to the tracker. */
const struct dsb_executor_ops dsb_local_spark_ops = {
    .options = local_options,
    .default_timeout_key = "default_timeout_seconds",
    .max_timeout_key = "max_timeout_seconds",
    .timeout_unit_s = 1,
    .flags = DSB_EXEC_STORE_BEFORE_START,
    .caps = local_caps,
    .start = local_start,
    .tick = local_tick,
    .recover = local_recover,
    .cancel = local_cancel,
    .logs = local_logs,
    .read_output = local_read_output,
};
