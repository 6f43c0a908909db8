/* The local-spark executor: spark-submit --master local[N], confined by
 * default (confine.h), started by fork+exec in its own session and
 * process group, tracked by the tracker. */
#define _GNU_SOURCE
#include "jobs/local.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

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

/* What one start prepares (launch_free frees it). */
struct launch {
    struct dsb_confine_opts co;
    struct dsb_job_user user;
    char *dir;  /* state_dir/jobs/ID: the broker's (the logs) */
    char *work; /* ID/work: the job's (script, output, HOME) */
    char *script, *bin, *py;
    struct dsb_strv argv, env;
    int fds[3];
};

static void launch_free(struct launch *l)
{
    for (int i = 0; i < 3; i++)
        if (l->fds[i] >= 0)
            close(l->fds[i]);
    free(l->dir);
    free(l->work);
    free(l->script);
    free(l->bin);
    free(l->py);
    dsb_strv_free(&l->argv);
    dsb_strv_free(&l->env);
}

/* The job's user and, when it is confined, that its sandbox can start. */
static int prepare_user(const struct dsb_executor_conf *e, struct launch *l,
                        struct dsb_error *err)
{
    dsb_confine_opts_of(e->options, &l->co);
    if (dsb_confine_user(&l->co, &l->user, err) < 0)
        return -1;
    if (l->co.isolation == DSB_ISOLATION_NONE)
        return 0;
    return dsb_confine_ready(&l->co, e->name, err);
}

/*
 * state_dir/jobs/ID (0700, the broker's: the logs, which the job writes
 * only through the descriptors it is given) and ID/work (0700, owned by
 * the job's user: its script, its output, its HOME; the one place a
 * confined job writes).  The record's output is ID/work/output, or
 * OUTPUT_URI/ID with the option output_uri (a cluster's executors).
 */
static int job_dirs(struct dsb_jobs *j, const json_t *opts, json_t *doc,
                    struct launch *l, struct dsb_error *err)
{
    const char *master = json_string_value(json_object_get(opts, "master"));
    /* a cluster's executors write work/output from outside the sandbox:
     * they must be able to pass through the job directory */
    mode_t mode = master && strncmp(master, "spark://", 8) == 0 ? 0711 : 0700;
    const char *uri = json_string_value(json_object_get(opts, "output_uri"));
    const char *id = dsb_job_str(doc, "id", NULL);
    char *out;

    l->dir = dsb_path_join(j->jobs_dir, id);
    l->work = l->dir ? dsb_path_join(l->dir, "work") : NULL;
    if (uri)
        out = dsb_asprintf("%s%s%s", uri,
                           uri[strlen(uri) - 1] == '/' ? "" : "/", id);
    else
        out = l->work ? dsb_path_join(l->work, "output") : NULL;
    if (!out || mkdir(l->dir, mode) < 0 || chmod(l->dir, mode) < 0 ||
        mkdir(l->work, 0700) < 0 ||
        (l->user.drop && chown(l->work, l->user.uid, l->user.gid) < 0)) {
        dsb_error_set(err, DSB_E_INTERNAL,
                      "cannot create the job directory under %s: %s",
                      j->jobs_dir, strerror(errno));
        free(out);
        return -1;
    }
    json_object_set_new(
        doc, "output",
        json_pack("{s:s, s:[ss]}", "uri", out, "formats", "csv", "jsonl"));
    free(out);
    return 0;
}

int dsb_local_write_file(const char *path, const char *a, const char *b)
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

/* The script to run: the entry point, or the code written to
 * work/main.py (with the secret prelude when the code calls dsb_secret). */
static int job_script(const struct dsb_executor_conf *e,
                      const struct dsb_job_request *r, struct launch *l,
                      struct dsb_error *err)
{
    int prelude;

    if (r->entry_point)
        return (l->script =
                    dsb_local_entry_point(&l->co, e->name, r->entry_point, err))
                   ? 0
                   : -1;
    l->script = dsb_path_join(l->work, "main.py");
    prelude =
        strstr(r->code, "_dsb_secret(") && !strstr(r->code, "def _dsb_secret");
    if (l->script &&
        dsb_local_write_file(l->script,
                             prelude ? dsb_jobs_python_prelude() : NULL,
                             r->code) == 0 &&
        (!l->user.drop || chown(l->script, l->user.uid, l->user.gid) == 0))
        return 0;
    return dsb_error_set(err, DSB_E_INTERNAL,
                         "cannot write the job script in %s: %s", l->work,
                         strerror(errno));
}

/* path with its directory's symbolic links resolved but not its own name
 * (a venv's bin/python must stay the venv's), malloc'd; a copy when the
 * directory does not resolve. */
static char *canonical(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, (size_t)(slash - path)) : NULL;
    char *real = dir ? dsb_realpath(*dir ? dir : "/") : NULL;
    char *out = real ? dsb_asprintf("%s%s%s", real,
                                    strcmp(real, "/") ? "/" : "", slash + 1)
                     : strdup(path);

    free(dir);
    free(real);
    return out;
}

/* spark-submit (an absolute path: the job is exec'd, not looked up) and
 * PYSPARK_PYTHON. */
static int locate(const json_t *opts, struct launch *l, struct dsb_error *err)
{
    char *found = find_spark_submit(opts),
         *path = found ? on_path(found) : NULL;

    if (path && strchr(path, '/') && executable(path))
        l->bin = canonical(path);
    if (!l->bin) {
        dsb_error_set(err, DSB_E_CONFIG, "cannot run %s: no such executable",
                      found ? found : "spark-submit");
        dsb_error_hint(
            err,
            "set spark_submit in the executor, DSB_VENV, or put a PySpark install's spark-submit on PATH");
    }
    free(found);
    free(path);
    if (!l->bin)
        return -1;
    found = find_python(opts, l->bin);
    l->py = found && strchr(found, '/') ? canonical(found) : found;
    if (l->py != found)
        free(found);
    return 0;
}

char *dsb_local_spark_submit(const json_t *opts, struct dsb_error *err)
{
    struct launch l = {.fds = {-1, -1, -1}};
    char *bin = NULL;

    if (locate(opts, &l, err) == 0) {
        bin = l.bin;
        l.bin = NULL;
    }
    launch_free(&l);
    return bin;
}

char *dsb_local_command(const char *cmd)
{
    char *path = on_path(cmd), *out = NULL;

    if (path && strchr(path, '/') && executable(path))
        out = canonical(path);
    free(path);
    return out;
}

static int push_conf(struct dsb_strv *a, const char *k, const char *v)
{
    return dsb_strv_add(a, "--conf") |
           dsb_strv_push(a, dsb_asprintf("%s=%s", k, v));
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

/* A confined job cannot write to its user's home (Java takes user.home
 * from the password database, not HOME): spark.jars.packages resolve into
 * its own directory. */
static int ivy_conf(const json_t *conf, const struct launch *l,
                    struct dsb_strv *a)
{
    char *ivy;
    int rc;

    if (l->co.isolation == DSB_ISOLATION_NONE ||
        json_object_get(conf, "spark.jars.ivy"))
        return 0;
    ivy = dsb_path_join(l->work, ".ivy2");
    rc = ivy ? push_conf(a, "spark.jars.ivy", ivy) : -1;
    free(ivy);
    return rc;
}

/* The driver's address (option driver_host of a cluster executor; a local
 * master's driver stays on loopback). */
const char *dsb_local_driver_host(const json_t *opts)
{
    const char *h = json_string_value(json_object_get(opts, "driver_host"));

    return h ? h : "127.0.0.1";
}

static int build_argv(const json_t *doc, const json_t *opts,
                      const struct launch *l, struct dsb_strv *a)
{
    const json_t *ss = json_object_get(doc, "spark_submit");
    const char *master = json_string_value(json_object_get(opts, "master"));
    const char *host = dsb_local_driver_host(opts);
    char *jars = local_jars(json_object_get(ss, "jars"));
    int rc = dsb_strv_add(a, l->bin);
    const char *k;
    json_t *v;
    size_t i;

    rc |= dsb_strv_add(a, "--master") |
          dsb_strv_add(a, master ? master : "local[2]");
    rc |= dsb_strv_add(a, "--name") |
          dsb_strv_add(a, dsb_job_str(doc, "name", NULL));
    if (jars && *jars)
        rc |= dsb_strv_add(a, "--jars") | dsb_strv_add(a, jars);
    rc |= push_conf(a, "spark.driver.bindAddress", host);
    rc |= push_conf(a, "spark.driver.host", host);
    rc |= push_conf(a, "spark.ui.enabled", "false");
    rc |= ivy_conf(json_object_get(ss, "conf"), l, a);
    json_object_foreach(json_object_get(ss, "conf"), k,
                        v) if (json_is_string(v)) rc |=
        push_conf(a, k, json_string_value(v));
    rc |= dsb_strv_add(a, l->script);
    json_array_foreach(json_object_get(doc, "args"), i, v) rc |=
        dsb_strv_add(a, json_string_value(v));
    free(jars);
    return rc ? -1 : 0;
}

/* The command: spark-submit, in the job's sandbox unless isolation is
 * none. */
static int job_command(struct dsb_jobs *j, const struct dsb_executor_conf *e,
                       const struct dsb_job_request *r, const json_t *doc,
                       struct launch *l, struct dsb_error *err)
{
    json_t *reads;
    int rc = 0;

    if (l->co.isolation == DSB_ISOLATION_BWRAP) {
        reads = dsb_local_reads(doc, r->read_specs, l->bin, l->py,
                                r->entry_point ? l->co.entry_point_dir : NULL);
        struct dsb_sandbox sb = {e->name,  &l->co,  &l->user,
                                 j->o.cfg, l->work, reads};
        rc = dsb_sandbox_argv(&sb, &l->argv, err);
        json_decref(reads);
    }
    if (rc == 0 && build_argv(doc, e->options, l, &l->argv) < 0)
        rc = dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
    return rc;
}

/* stdin /dev/null; stdout and stderr into dir's logs (close-on-exec: the
 * spawn moves them to 0, 1, 2). */
static int open_logs(const char *dir, int fds[3], struct dsb_error *err)
{
    static const char *const names[] = {"stdout.log", "stderr.log"};

    fds[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
    for (int i = 0; i < 2; i++) {
        char *p = dsb_path_join(dir, names[i]);
        fds[i + 1] =
            p ? open(p, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
                     0600)
              : -1;
        free(p);
    }
    if (fds[0] >= 0 && fds[1] >= 0 && fds[2] >= 0)
        return 0;
    return dsb_error_set(err, DSB_E_INTERNAL,
                         "cannot open the job's logs in %s: %s", dir,
                         strerror(errno));
}

static int run(struct launch *l, pid_t *pid, struct dsb_error *err)
{
    struct dsb_spawn s = {l->argv.v,
                          l->env.v,
                          l->work,
                          {l->fds[0], l->fds[1], l->fds[2]},
                          l->co.max_memory_mb,
                          l->co.isolation == DSB_ISOLATION_BWRAP};

    return dsb_spawn(&s, pid, err);
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

static json_t *local_info(const struct launch *l, pid_t pid, const json_t *opts)
{
    const char *master = json_string_value(json_object_get(opts, "master"));
    json_t *o =
        json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "pid",
                  (json_int_t)pid, "dir", l->dir, "work", l->work, "master",
                  master ? master : "local[2]", "spark_submit", l->bin,
                  "isolation", dsb_isolation_names[l->co.isolation], "network",
                  dsb_job_net_names[l->co.network], "run_as", l->user.name);

    if (o && l->co.max_memory_mb)
        json_object_set_new(o, "max_memory_mb",
                            json_integer(l->co.max_memory_mb));
    return o;
}

/* The start slot: spawns spark-submit (confined unless isolation is none)
 * and stores the "running" record (track). */
int dsb_local_start(struct dsb_jobs *j, const struct dsb_executor_conf *e,
                    const struct dsb_job_request *r, json_t *doc,
                    struct dsb_error *err)
{
    struct launch l = {.fds = {-1, -1, -1}};
    pid_t pid = 0;
    int rc = -1;

    if (prepare_user(e, &l, err) < 0 ||
        job_dirs(j, e->options, doc, &l, err) < 0 ||
        job_script(e, r, &l, err) < 0 || locate(e->options, &l, err) < 0)
        goto fail;
    json_object_set_new(doc, "script", json_string(l.script));
    if (job_command(j, e, r, doc, &l, err) < 0 ||
        dsb_local_env(j, doc, &l.co, l.py, l.work,
                      dsb_local_driver_host(e->options), &l.env, err) < 0 ||
        open_logs(l.dir, l.fds, err) < 0 || run(&l, &pid, err) < 0)
        goto fail;
    json_object_set_new(doc, "local", local_info(&l, pid, e->options));
    dsb_job_set_state(doc, "running", NULL);
    rc = track(j, doc, pid, err);
    if (rc < 0)
        json_object_del(doc, "local");
fail:
    launch_free(&l);
    return rc;
}

/* The admit slot: the entry point and the confinement, before anything is
 * recorded. */
int dsb_local_admit(const struct dsb_executor_conf *e,
                    const struct dsb_job_request *r, struct dsb_error *err)
{
    struct launch l = {.fds = {-1, -1, -1}};
    int rc = prepare_user(e, &l, err);

    if (rc == 0 && r->entry_point &&
        !(l.script =
              dsb_local_entry_point(&l.co, e->name, r->entry_point, err)))
        rc = -1;
    launch_free(&l);
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
    json_t *doc = p->lost ? NULL : dsb_jstore_get(j, p->id);
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
long dsb_local_tick(struct dsb_jobs *j)
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
int dsb_local_cancel(struct dsb_jobs *j, json_t *doc, const char *stop_state,
                     struct dsb_error *err)
{
    int rc;

    pthread_mutex_lock(&j->mu);
    rc = cancel_locked(j, doc, stop_state, err);
    pthread_mutex_unlock(&j->mu);
    return rc;
}

/* Stops a spark-submit (or the bwrap around it) an earlier broker left,
 * if it is still that one: its working directory is the job's (work/, or
 * the job directory of records older than work/). */
static void stop_orphan(const json_t *doc)
{
    pid_t pid = (pid_t)json_integer_value(
        json_object_get(json_object_get(doc, "local"), "pid"));
    const char *dir = dsb_job_str(doc, "local", "work");
    char path[64], *cmd;

    if (!dir)
        dir = dsb_job_str(doc, "local", "dir");
    if (pid <= 0 || !dir)
        return;
    snprintf(path, sizeof(path), "/proc/%d/cwd", (int)pid);
    cmd = dsb_realpath(path);
    if (cmd && strcmp(cmd, dir) == 0)
        killpg(pid, SIGKILL);
    free(cmd);
}

void dsb_local_drop_lost(struct dsb_jobs *j, const json_t *owned)
{
    for (struct dsb_local_proc *p = j->procs; p; p = p->next) {
        int mine = 0;
        size_t i;
        json_t *v;

        json_array_foreach(
            owned, i, v) if (!strcmp(json_string_value(v), p->id)) mine = 1;
        if (mine || p->lost)
            continue;
        p->lost = 1;
        p->term_sent_ms = dsb_wall_ms();
        killpg(p->pid, SIGKILL);
        dsb_logf(DSB_LOG_WARN, "jobs",
                 "job %s: another replica took it over while this one (%s) "
                 "stalled past its lease; its spark-submit was stopped here "
                 "and its record left to the new owner",
                 p->id, j->replica);
    }
}

/* The recover slot: a job left running by an earlier broker cannot be
 * followed (its process is not our child): stop it and mark it failed. */
void dsb_local_recover(struct dsb_jobs *j, json_t *doc, const char *from)
{
    struct dsb_error err;
    char why[160];

    stop_orphan(doc);
    snprintf(why, sizeof(why),
             "the broker stopped while the job was running%s%.64s%s",
             from ? " (replica " : "", from ? from : "", from ? ")" : "");
    dsb_job_set_state(doc, "failed", why);
    if (dsb_jstore_put(j, doc, &err) < 0)
        dsb_logf(DSB_LOG_ERROR, "jobs", "%s", err.message);
    else
        dsb_logf(DSB_LOG_WARN, "jobs",
                 "job %s marked failed: %s; not run again",
                 dsb_job_str(doc, "id", NULL), why);
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
json_t *dsb_local_logs(const json_t *doc, size_t lines, size_t max_bytes)
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
int dsb_local_read_output(struct dsb_jobs *j, const json_t *doc, size_t limit,
                          json_t **out, struct dsb_error *err)
{
    (void)j;
    return dsb_output_read_local(dsb_job_str(doc, "output", "uri"), limit, out,
                                 err);
}

unsigned dsb_local_caps(const json_t *opts)
{
    return DSB_EXEC_LOCAL_FILES |
           (json_is_true(json_object_get(opts, "s3a")) ? DSB_EXEC_S3A : 0);
}

/* The describe slot: the confinement /v1/executors shows. */
json_t *dsb_local_describe(const struct dsb_executor_conf *e)
{
    struct launch l = {.fds = {-1, -1, -1}};
    struct dsb_error err = {0};
    int ready = prepare_user(e, &l, &err) == 0;
    const char *who = l.user.name[0] ? l.user.name
                      : l.co.run_as  ? l.co.run_as
                                     : DSB_JOB_USER;
    json_t *o =
        json_pack("{s:s, s:b, s:s, s:s, s:s, s:b}", "isolation",
                  dsb_isolation_names[l.co.isolation], "ready", ready,
                  "network", dsb_job_net_names[l.co.network], "run_as", who,
                  "aws_credentials", l.co.pass_aws ? "pass" : "none",
                  "entry_points", l.co.entry_point_dir != NULL);

    if (o) {
        json_object_set_new(o, "max_memory_mb",
                            l.co.max_memory_mb
                                ? json_integer(l.co.max_memory_mb)
                                : json_null());
        if (!ready)
            json_object_set_new(o, "problem", json_string(err.message));
    }
    launch_free(&l);
    return o;
}

/* The check slot: a fresh look at whether the sandbox starts, or the
 * warning isolation: none deserves. */
int dsb_local_check(const struct dsb_executor_conf *e, struct dsb_error *err)
{
    struct dsb_confine_opts co;
    struct dsb_job_user u;

    dsb_confine_opts_of(e->options, &co);
    if (dsb_confine_user(&co, &u, err) < 0)
        return -1;
    if (co.isolation == DSB_ISOLATION_BWRAP)
        return dsb_confine_probe(&co, e->name, err);
    dsb_error_set(
        err, DSB_E_CONFIG,
        "executor %s runs jobs unconfined (isolation: none): they run as %s and can read, change and signal whatever that user can, the broker's state, configuration and secrets included",
        e->name, u.name);
    dsb_error_hint(
        err,
        "remove isolation: none (bubblewrap confines each job to its own directory) unless every job's author is trusted as much as the broker's operator");
    return 1;
}

static const struct dsb_option local_options[] = {
    DSB_OPTION_STRING("master", 0, "local[2]", "Spark master URL"),
    DSB_LOCAL_SPARK_OPTIONS, DSB_OPTION_END};

/* The record is stored pending before the spawn, and "running" by track()
 * in the same critical section that hands the process to the tracker. */
const struct dsb_executor_ops dsb_local_spark_ops = {
    .options = local_options,
    .default_timeout_key = "default_timeout_seconds",
    .max_timeout_key = "max_timeout_seconds",
    .timeout_unit_s = 1,
    .flags = DSB_EXEC_STORE_BEFORE_START,
    .caps = dsb_local_caps,
    .start = dsb_local_start,
    .tick = dsb_local_tick,
    .recover = dsb_local_recover,
    .cancel = dsb_local_cancel,
    .logs = dsb_local_logs,
    .read_output = dsb_local_read_output,
    .admit = dsb_local_admit,
    .describe = dsb_local_describe,
    .check = dsb_local_check,
};
