/* The local-spark executor with a stand-in spark-submit: argv and
 * environment, secrets, states, failure reasons, cancel, timeout, restart,
 * logs and result rows; the embedded prelude. */
#include <errno.h>
#include <glob.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "jobs_test.h"

static struct jt t;
static char *fake;

static const char yaml[] =
    "state_dir: ${DSB_TEST_DIR}/state\n"
    "executors:\n"
    "  - name: local\n"
    "    type: local-spark\n"
    "    networks: [local, public]\n"
    "    master: local[1]\n"
    "    spark_submit: ${DSB_TEST_FAKE_SPARK}\n"
    "    jars: [/opt/extra.jar, s3://bucket/only-on-emr.jar]\n"
    "    conf: {spark.executor.memory: 1g}\n"
    "    default_timeout_seconds: 60\n"
    "    max_timeout_seconds: 600\n";

static const char secret[] = "s3cr3t-value-42";

static void setup(void)
{
    fake = t_src("tests/jobs/fake-spark-submit.sh");
    setenv("DSB_TEST_FAKE_SPARK", fake, 1);
    setenv("DSB_TEST_JOB_SECRET", secret, 1);
    jt_config(&t, yaml);
    jt_open(&t, NULL);
}

static void teardown(void)
{
    jt_close(&t);
    free(fake);
}

TestSuite(local, .init = setup, .fini = teardown, .timeout = 60);

static json_t *specs(void)
{
    return json_pack("[{s:s, s:{s:s}, s:{s:[s], s:{s:s}}}, {s:s}]", "network",
                     "local", "secret_options", "password",
                     "env:DSB_TEST_JOB_SECRET", "spark_submit", "jars",
                     "/usr/share/java/postgresql.jar", "conf",
                     "spark.sql.shuffle.partitions", "2", "network", "public");
}

/* Submits code with one argument (the fake's mode); returns the record. */
static json_t *submit(const char *mode, long timeout)
{
    json_t *args = json_pack("[s]", mode), *rs = specs(), *job = NULL;
    struct dsb_job_request r = {0};

    r.session_id = "sess-1";
    r.code = "print(_dsb_secret('env:DSB_TEST_JOB_SECRET') is not None)\n";
    r.args = args;
    r.read_specs = rs;
    r.timeout_seconds = timeout;
    cr_assert_eq(dsb_jobs_submit(t.jobs, &r, &job, &t.err), 0, "%s",
                 t.err.message);
    json_decref(args);
    json_decref(rs);
    return job;
}

Test(local, runs_with_loopback_argv_and_env_secrets)
{
    json_t *job = submit("ok", 0), *done;
    const char *dir = jt_str(job, "local", "dir");
    char *argv, *env, *rec, *script;

    cr_assert_str_eq(jt_str(job, "state", NULL), "running");
    cr_assert_str_eq(jt_str(job, "route", "executor"), "local");
    cr_assert(strstr(jt_str(job, "route", "reason"), "local reaches local, "
                                                     "public"),
              "%s", jt_str(job, "route", "reason"));
    done = jt_wait(&t, jt_str(job, "id", NULL), "succeeded", 10000);
    cr_assert_str_eq(jt_str(done, "state", NULL), "succeeded");
    argv = jt_file(dir, "argv.txt");
    env = jt_file(dir, "env.txt");
    script = jt_file(dir, "main.py");
    cr_assert(strstr(argv, "--master\nlocal[1]\n"), "%s", argv);
    cr_assert(strstr(argv, "--jars\n/opt/extra.jar,/usr/share/java/"
                           "postgresql.jar\n"),
              "%s", argv);
    cr_assert(strstr(argv, "spark.driver.bindAddress=127.0.0.1\n"));
    cr_assert(strstr(argv, "spark.ui.enabled=false\n"));
    cr_assert(strstr(argv, "spark.sql.shuffle.partitions=2\n"));
    cr_assert(strstr(argv, "spark.executor.memory=1g\n"));
    cr_assert(strstr(argv, "main.py\nok\n"), "%s", argv);
    cr_assert_null(strstr(argv, secret));
    cr_assert_null(strstr(argv, "s3://"), "s3 jars are not local");
    cr_assert(strstr(env, "SPARK_LOCAL_IP=127.0.0.1\n"));
    cr_assert(strstr(env, "DSB_SECRET_0=s3cr3t-value-42\n"));
    cr_assert(strstr(env, "DSB_SECRET_MAP={\"env:DSB_TEST_JOB_SECRET\":"
                          "\"DSB_SECRET_0\"}\n"),
              "%s", env);
    cr_assert(strstr(env, "DSB_OUTPUT="));
    cr_assert(strstr(script, "def _dsb_secret(ref)"), "prelude added");
    rec = json_dumps(done, 0);
    cr_assert_null(strstr(rec, secret));
    cr_assert(strstr(rec, "env:DSB_TEST_JOB_SECRET"), "the reference is kept");
    free(rec);
    free(argv);
    free(env);
    free(script);
    json_decref(job);
    json_decref(done);
}

/* Mode bits of dir/name. */
static unsigned mode_of(const char *dir, const char *name)
{
    char p[4300];
    struct stat st;

    snprintf(p, sizeof(p), "%s/%s", dir, name);
    cr_assert_eq(stat(p, &st), 0, "%s: %s", p, strerror(errno));
    return (unsigned)(st.st_mode & 07777);
}

/* The job's directory is the boundary of what it writes (Spark's output
 * too): 0700, and the files the broker writes in it 0600, whatever the
 * umask. */
Test(local, job_dir_and_files_are_private)
{
    mode_t old = umask(022);
    json_t *job = submit("ok", 0), *done;
    const char *dir = jt_str(job, "local", "dir");

    umask(old);
    done = jt_wait(&t, jt_str(job, "id", NULL), "succeeded", 10000);
    cr_assert_str_eq(jt_str(done, "state", NULL), "succeeded");
    cr_assert_eq(mode_of(dir, "."), 0700, "%o", mode_of(dir, "."));
    cr_assert_eq(mode_of(dir, ".."), 0700, "the jobs directory");
    cr_assert_eq(mode_of(dir, "main.py"), 0600, "%o", mode_of(dir, "main.py"));
    cr_assert_eq(mode_of(dir, "stdout.log"), 0600);
    cr_assert_eq(mode_of(dir, "stderr.log"), 0600);
    json_decref(job);
    json_decref(done);
}

Test(local, result_reads_csv_parts_in_order)
{
    json_t *job = submit("ok", 0), *done, *res;
    const char *id = jt_str(job, "id", NULL);
    char *s;

    done = jt_wait(&t, id, "succeeded", 10000);
    cr_assert_eq(dsb_jobs_result(t.jobs, id, 10, &res, &t.err), 0, "%s",
                 t.err.message);
    s = json_dumps(res, JSON_COMPACT | JSON_SORT_KEYS);
    cr_assert_str_eq(s, "{\"columns\":[\"a\",\"b\"],\"format\":\"csv\","
                        "\"rows\":[[\"1\",\"x\"],[\"2\",\"y,z\"],[\"3\",null],"
                        "[\"4\",\"\"]],\"truncated\":false}");
    free(s);
    json_decref(res);
    cr_assert_eq(dsb_jobs_result(t.jobs, id, 3, &res, &t.err), 0);
    cr_assert_eq(json_array_size(json_object_get(res, "rows")), 3);
    cr_assert(json_is_true(json_object_get(res, "truncated")));
    json_decref(res);
    json_decref(job);
    json_decref(done);
}

Test(local, result_reads_json_lines)
{
    json_t *job = submit("jsonl", 0), *done, *res;
    const char *id = jt_str(job, "id", NULL);
    char *s;

    done = jt_wait(&t, id, "succeeded", 10000);
    cr_assert_eq(dsb_jobs_result(t.jobs, id, 10, &res, &t.err), 0, "%s",
                 t.err.message);
    s = json_dumps(res, JSON_COMPACT | JSON_SORT_KEYS);
    cr_assert_str_eq(s, "{\"columns\":[\"k\",\"n\"],\"format\":\"jsonl\","
                        "\"rows\":[[\"a\",1],[\"b\",null]],"
                        "\"truncated\":false}");
    free(s);
    json_decref(res);
    json_decref(job);
    json_decref(done);
}

Test(local, failure_reason_and_logs)
{
    json_t *job = submit("fail", 0), *done, *logs, *res = NULL;
    const char *id = jt_str(job, "id", NULL);

    done = jt_wait(&t, id, "failed", 10000);
    cr_assert_str_eq(jt_str(done, "state", NULL), "failed");
    cr_assert(strstr(jt_str(done, "reason", NULL),
                     "exited with status 3: "
                     "Exception in thread main java.lang.RuntimeException"),
              "%s", jt_str(done, "reason", NULL));
    cr_assert_not_null(json_object_get(done, "finished_at"));
    cr_assert_eq(dsb_jobs_logs(t.jobs, id, 0, 0, &logs, &t.err), 0);
    cr_assert(strstr(jt_str(logs, "stderr", NULL), "boom"));
    cr_assert_eq(dsb_jobs_result(t.jobs, id, 5, &res, &t.err), -1);
    cr_assert_eq(t.err.code, DSB_E_CONFLICT);
    json_decref(logs);
    json_decref(job);
    json_decref(done);
}

/* Reads n pids from dir/name (the fake's family.pids), waiting up to
 * timeout_ms for the file; how many were read once it appeared (0 when it
 * never did). */
static size_t read_pids(const char *dir, const char *name, pid_t *pids,
                        size_t n, long timeout_ms)
{
    struct timespec ts = {0, 20 * 1000000L};
    char *text = NULL, *p, *end;
    size_t got = 0;

    for (long waited = 0; !text && waited <= timeout_ms; waited += 20)
        if (!(text = jt_file(dir, name)))
            nanosleep(&ts, NULL);
    for (p = text; p && got < n; p = end) {
        long v = strtol(p, &end, 10);
        if (end == p)
            break;
        pids[got++] = (pid_t)v;
    }
    free(text);
    return got;
}

/* Whether pid no longer exists.  A member of the job's group that this
 * process adopted (PR_SET_CHILD_SUBREAPER) is reaped first: a zombie
 * still answers kill(pid, 0). */
static int gone(pid_t pid, int adopted)
{
    if (adopted)
        waitpid(pid, NULL, WNOHANG);
    return kill(pid, 0) == -1 && errno == ESRCH;
}

/* Waits up to timeout_ms until every pid is gone (pids[0] is the group
 * leader, reaped by the job tracker); the first still there, or 0. */
static pid_t wait_gone(const pid_t *pids, size_t n, long timeout_ms)
{
    struct timespec ts = {0, 20 * 1000000L};
    size_t i = 0;

    for (long waited = 0; waited <= timeout_ms; waited += 20) {
        while (i < n && gone(pids[i], i > 0))
            i++;
        if (i == n)
            return 0;
        nanosleep(&ts, NULL);
    }
    return pids[i];
}

Test(local, cancel_kills_the_process_group)
{
    json_t *job, *c, *done;
    const char *id, *dir;
    pid_t pids[3], left; /* the leader (spark-submit), child, grandchild */
    char *term;

    /* the group's orphans are reparented here, where gone() reaps them */
    cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0, "%s", strerror(errno));
    job = submit("family", 0);
    id = jt_str(job, "id", NULL);
    dir = jt_str(job, "local", "dir");
    pids[0] = (pid_t)json_integer_value(
        json_object_get(json_object_get(job, "local"), "pid"));
    cr_assert_eq(read_pids(dir, "family.pids", pids + 1, 2, 10000), 2,
                 "the child and the grandchild started");
    cr_assert_eq(dsb_jobs_cancel(t.jobs, id, &c, &t.err), 0, "%s",
                 t.err.message);
    cr_assert(strcmp(jt_str(c, "state", NULL), "cancelling") == 0 ||
                  strcmp(jt_str(c, "state", NULL), "cancelled") == 0,
              "%s", jt_str(c, "state", NULL));
    done = jt_wait(&t, id, "cancelled", 5000);
    cr_assert_str_eq(jt_str(done, "state", NULL), "cancelled");
    cr_assert_str_eq(jt_str(done, "reason", NULL), "cancelled on request");
    /* SIGTERM went to the group, not only to its leader (which waits for
     * its child to end before it exits) */
    term = jt_file(dir, "family.term");
    cr_assert(term && strtol(term, NULL, 10) == pids[1],
              "the child got no SIGTERM");
    free(term);
    left = wait_gone(pids, 3, 5000);
    cr_assert_eq(left, 0, "process %d of the job's group is still there",
                 (int)left);
    json_decref(c);
    cr_assert_eq(dsb_jobs_cancel(t.jobs, id, &c, &t.err), 0);
    cr_assert_str_eq(jt_str(c, "state", NULL), "cancelled", "unchanged");
    json_decref(c);
    json_decref(job);
    json_decref(done);
}

Test(local, timeout_escalates_to_sigkill)
{
    json_t *job = submit("stubborn", 1), *done;
    const char *id = jt_str(job, "id", NULL);

    cr_assert_eq(json_integer_value(json_object_get(job, "timeout_seconds")),
                 1);
    done = jt_wait(&t, id, "timed_out", 8000);
    cr_assert_str_eq(jt_str(done, "state", NULL), "timed_out");
    cr_assert(strstr(jt_str(done, "reason", NULL), "timed out after 1 s"));
    json_decref(job);
    json_decref(done);
}

Test(local, refuses_bad_requests)
{
    struct dsb_job_request r = {0};
    json_t *job = NULL, *rs = json_pack("[{s:s}]", "network", "aurora-vpc");

    r.session_id = "s";
    cr_assert_eq(dsb_jobs_submit(t.jobs, &r, &job, &t.err), -1);
    cr_assert_eq(t.err.code, DSB_E_INVALID);
    r.code = "x = 1";
    r.timeout_seconds = 601;
    cr_assert_eq(dsb_jobs_submit(t.jobs, &r, &job, &t.err), -1);
    cr_assert(strstr(t.err.message, "above the 600 s"), "%s", t.err.message);
    r.timeout_seconds = 0;
    r.read_specs = rs;
    cr_assert_eq(dsb_jobs_submit(t.jobs, &r, &job, &t.err), -1);
    cr_assert_str_eq(t.err.upstream, "route");
    cr_assert(strstr(t.err.message, "aurora-vpc"));
    cr_assert_null(job);
    json_decref(rs);
}

Test(local, list_by_session_newest_first)
{
    json_t *a = submit("ok", 0), *b = submit("ok", 0), *list, *items;

    cr_assert_eq(dsb_jobs_list(t.jobs, "sess-1", &list, &t.err), 0);
    items = json_object_get(list, "items");
    cr_assert_eq(json_array_size(items), 2);
    cr_assert_str_eq(jt_str(json_array_get(items, 0), "id", NULL),
                     jt_str(b, "id", NULL));
    json_decref(list);
    cr_assert_eq(dsb_jobs_list(t.jobs, "other", &list, &t.err), 0);
    cr_assert_eq(json_array_size(json_object_get(list, "items")), 0);
    json_decref(list);
    cr_assert_eq(dsb_jobs_get(t.jobs, "job-nope", &list, &t.err), -1);
    cr_assert_eq(t.err.code, DSB_E_NOT_FOUND);
    json_decref(a);
    json_decref(b);
}

Test(local, restart_marks_running_jobs_failed)
{
    json_t *job = submit("sleep", 0), *doc;
    char *id = strdup(jt_str(job, "id", NULL));
    pid_t pid = (pid_t)json_integer_value(
        json_object_get(json_object_get(job, "local"), "pid"));
    int status = 0;

    usleep(200 * 1000);
    dsb_jobs_close(t.jobs); /* the "crash": the process keeps running */
    cr_assert_eq(kill(pid, 0), 0);
    jt_open(&t, NULL);
    cr_assert_eq(dsb_jobs_get(t.jobs, id, &doc, &t.err), 0);
    cr_assert_str_eq(jt_str(doc, "state", NULL), "failed");
    cr_assert_str_eq(jt_str(doc, "reason", NULL),
                     "the broker stopped while the job was running");
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFSIGNALED(status), "the orphan was stopped");
    json_decref(doc);
    json_decref(job);
    free(id);
}

/* ------------------------------------- hadoop-aws for s3a reads (unit) */

/* Creates dir/rel (an empty file), with its parent directories. */
static void touch(const char *dir, const char *rel)
{
    char path[4096];

    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    for (char *p = path + strlen(dir) + 1; (p = strchr(p, '/')); p++) {
        *p = '\0';
        cr_assert(mkdir(path, 0700) == 0 || errno == EEXIST, "mkdir %s", path);
        *p = '/';
    }
    t_write(dir, rel, "");
}

/* The package for an executor whose spark-submit is dir/bin. */
static char *package_for(const char *dir, const char *bin)
{
    char path[4096];
    json_t *o;
    char *pkg;

    snprintf(path, sizeof(path), "%s/%s", dir, bin);
    o = json_pack("{s:s}", "spark_submit", path);
    pkg = dsb_local_hadoop_aws_package(o);
    json_decref(o);
    return pkg;
}

static void hadoop_setup(void)
{
    unsetenv("SPARK_HOME");
}

TestSuite(hadoop_aws, .init = hadoop_setup, .timeout = 60);

Test(hadoop_aws, the_option_wins_and_empty_means_none)
{
    json_t *o = json_pack("{s:s}", "hadoop_aws_package",
                          "org.apache.hadoop:hadoop-aws:3.3.4");
    char *pkg = dsb_local_hadoop_aws_package(o);

    cr_assert_str_eq(pkg, "org.apache.hadoop:hadoop-aws:3.3.4");
    free(pkg);
    json_object_set_new(o, "hadoop_aws_package", json_string(""));
    cr_assert_null(dsb_local_hadoop_aws_package(o));
    json_decref(o);
}

Test(hadoop_aws, version_of_the_bundled_hadoop)
{
    char *dir = t_tmpdir(), *pkg, home[4200];

    touch(dir, "dist/bin/spark-submit");
    touch(dir, "dist/jars/hadoop-client-api-3.4.1.jar");
    touch(dir, "dist/jars/hadoop-client-runtime-3.4.1.jar");
    pkg = package_for(dir, "dist/bin/spark-submit");
    cr_assert_str_eq(pkg, "org.apache.hadoop:hadoop-aws:3.4.1");
    free(pkg);
    /* older Sparks: hadoop-common, not its -tests jar */
    touch(dir, "old/bin/spark-submit");
    touch(dir, "old/jars/hadoop-common-3.2.4-tests.jar");
    touch(dir, "old/jars/hadoop-common-3.2.4.jar");
    pkg = package_for(dir, "old/bin/spark-submit");
    cr_assert_str_eq(pkg, "org.apache.hadoop:hadoop-aws:3.2.4");
    free(pkg);
    /* pip's spark-submit in a venv */
    touch(dir, "venv/bin/spark-submit");
    touch(dir, "venv/lib/python3.11/site-packages/pyspark/jars/"
               "hadoop-client-api-3.5.0.jar");
    pkg = package_for(dir, "venv/bin/spark-submit");
    cr_assert_str_eq(pkg, "org.apache.hadoop:hadoop-aws:3.5.0");
    free(pkg);
    /* SPARK_HOME is what spark-submit runs with */
    snprintf(home, sizeof(home), "%s/dist", dir);
    setenv("SPARK_HOME", home, 1);
    pkg = package_for(dir, "venv/bin/spark-submit");
    cr_assert_str_eq(pkg, "org.apache.hadoop:hadoop-aws:3.4.1");
    free(pkg);
    unsetenv("SPARK_HOME");
    touch(dir, "none/bin/spark-submit");
    cr_assert_null(package_for(dir, "none/bin/spark-submit"));
    free(dir);
}

Test(hadoop_aws, the_project_pyspark)
{
    char *venv = t_src(".venv/bin/spark-submit"), *pkg, pat[4200];
    json_t *o = json_pack("{s:s}", "spark_submit", venv);
    glob_t g;

    if (access(venv, X_OK) != 0)
        cr_skip_test("no project venv at %s", venv);
    pkg = dsb_local_hadoop_aws_package(o);
    cr_assert_not_null(pkg);
    cr_assert_eq(strncmp(pkg, "org.apache.hadoop:hadoop-aws:", 29), 0, "%s",
                 pkg);
    venv[strlen(venv) - strlen("/bin/spark-submit")] = '\0';
    snprintf(pat, sizeof(pat),
             "%s/lib/python3*/site-packages/pyspark/jars/"
             "hadoop-client-api-%s.jar",
             venv, pkg + 29);
    cr_assert_eq(glob(pat, 0, NULL, &g), 0, "no %s", pat);
    globfree(&g);
    free(pkg);
    json_decref(o);
    free(venv);
}

/* ----------------------------------------------- the prelude (unit) */

/* What scripts and contexts get is core/jobs/prelude.py, byte for byte
 * (cmake/embed_text.cmake; tests/jobs/test_prelude.py runs the file). */
Test(prelude, is_the_py_file_byte_for_byte)
{
    char *path = t_src("core/jobs/prelude.py"), *text;
    size_t len = 0;

    text = dsb_read_file(path, 1 << 20, &len);
    cr_assert_not_null(text, "cannot read %s", path);
    cr_assert_eq(strlen(dsb_jobs_python_prelude()), len);
    cr_assert_str_eq(dsb_jobs_python_prelude(), text);
    free(text);
    free(path);
}

/* The job store is as durable as the sessions in the same file. */
Test(local, store_commits_are_durable)
{
    sqlite3_stmt *st = NULL;

    cr_assert_eq(
        sqlite3_prepare_v2(t.jobs->db, "PRAGMA synchronous", -1, &st, NULL),
        SQLITE_OK);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    cr_assert_eq(sqlite3_column_int(st, 0), 2, "synchronous=FULL");
    sqlite3_finalize(st);
    cr_assert_eq(
        sqlite3_prepare_v2(t.jobs->db, "PRAGMA journal_mode", -1, &st, NULL),
        SQLITE_OK);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    cr_assert_str_eq((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
}
