/* The local-spark executor with a stand-in spark-submit: argv and
 * environment, secrets, states, failure reasons, cancel, timeout, restart,
 * logs and result rows; the confinement (bubblewrap, by default): the
 * environment's allow-list, entry points, network and memory limits, the
 * output a job leaves; the embedded prelude. */
#define _GNU_SOURCE /* setresuid */
#include <errno.h>
#include <glob.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <sqlite3.h>

#include "jobs_test.h"
#include "store.h"

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
    "    max_timeout_seconds: 600\n"
    /* the same, each with one confinement option (jobs name them) */
    "  - name: none\n"
    "    type: local-spark\n"
    "    networks: [local, public]\n"
    "    spark_submit: ${DSB_TEST_FAKE_SPARK}\n"
    "    isolation: none\n"
    "  - name: offline\n"
    "    type: local-spark\n"
    "    networks: [local, public]\n"
    "    spark_submit: ${DSB_TEST_FAKE_SPARK}\n"
    "    network: none\n"
    "  - name: small\n"
    "    type: local-spark\n"
    "    networks: [local, public]\n"
    "    spark_submit: ${DSB_TEST_FAKE_SPARK}\n"
    "    max_memory_mb: 256\n"
    "  - name: entry\n"
    "    type: local-spark\n"
    "    networks: [local, public]\n"
    "    spark_submit: ${DSB_TEST_FAKE_SPARK}\n"
    "    entry_point_dir: ${DSB_TEST_DIR}/entry\n"
    "  - name: aws\n"
    "    type: local-spark\n"
    "    networks: [local, public]\n"
    "    spark_submit: ${DSB_TEST_FAKE_SPARK}\n"
    "    aws_credentials: pass\n"
    "  - name: nobwrap\n"
    "    type: local-spark\n"
    "    networks: [local, public]\n"
    "    spark_submit: ${DSB_TEST_FAKE_SPARK}\n"
    "    bwrap: /nonexistent/bwrap\n"
    "  - name: nouser\n"
    "    type: local-spark\n"
    "    networks: [local, public]\n"
    "    spark_submit: ${DSB_TEST_FAKE_SPARK}\n"
    "    run_as: dsb-no-such-user\n";

static const char secret[] = "s3cr3t-value-42";

/* Variables of the broker's that no job may see (allow_list_only). */
static const char broker_token[] = "broker-only-token-9f3a";
static const char broker_aws_secret[] = "broker-aws-secret-77c1";

static void setup(void)
{
    fake = t_src("tests/jobs/fake-spark-submit.sh");
    setenv("DSB_TEST_FAKE_SPARK", fake, 1);
    setenv("DSB_TEST_JOB_SECRET", secret, 1);
    setenv("DSB_TEST_BROKER_TOKEN", broker_token, 1);
    setenv("AWS_ACCESS_KEY_ID", "AKIDBROKER", 1);
    setenv("AWS_SECRET_ACCESS_KEY", broker_aws_secret, 1);
    setenv("AWS_REGION", "eu-west-3", 1);
    setenv("LANG", "C.UTF-8", 1);
    unsetenv("LC_ALL");
    unsetenv("JAVA_HOME");
    unsetenv("SPARK_HOME");
    unsetenv("PYSPARK_PYTHON");
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

/* Submits r with the specs and session of these tests, on executor (NULL:
 * routed); 0 or -1 as dsb_jobs_submit. */
static int submit_req(struct dsb_job_request *r, const char *executor,
                      json_t **job)
{
    json_t *rs = specs();
    int rc;

    r->session_id = "sess-1";
    r->read_specs = rs;
    r->executor = executor;
    rc = dsb_jobs_submit(t.jobs, r, job, &t.err);
    json_decref(rs);
    return rc;
}

/* Submits code with args (the fake's mode first) on executor; returns the
 * record. */
static json_t *submit_code(const char *executor, const char *code, json_t *args,
                           long timeout)
{
    struct dsb_job_request r = {0};
    json_t *job = NULL;

    r.code = code;
    r.args = args;
    r.timeout_seconds = timeout;
    cr_assert_eq(submit_req(&r, executor, &job), 0, "%s", t.err.message);
    json_decref(args);
    return job;
}

/* Submits code with one argument (the fake's mode); returns the record. */
static json_t *submit(const char *mode, long timeout)
{
    return submit_code(
        NULL, "print(_dsb_secret('env:DSB_TEST_JOB_SECRET') is not None)\n",
        json_pack("[s]", mode), timeout);
}

Test(local, runs_with_loopback_argv_and_env_secrets)
{
    json_t *job = submit("ok", 0), *done;
    const char *dir = jt_str(job, "local", "work");
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
    cr_assert_eq(mode_of(dir, "work"), 0700, "%o", mode_of(dir, "work"));
    cr_assert_eq(mode_of(dir, "work/main.py"), 0600, "%o",
                 mode_of(dir, "work/main.py"));
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
    pid_t ns[2], host[16], left; /* the child, the grandchild; in the host:
                                  * bwrap, then its namespace's processes */
    size_t n;
    char *term;

    /* the group's orphans are reparented here, where gone() reaps them */
    cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0, "%s", strerror(errno));
    job = submit("family", 0);
    id = jt_str(job, "id", NULL);
    dir = jt_str(job, "local", "work");
    host[0] = (pid_t)json_integer_value(
        json_object_get(json_object_get(job, "local"), "pid"));
    cr_assert_eq(read_pids(dir, "family.pids", ns, 2, 10000), 2,
                 "the child and the grandchild started");
    n = jt_sandbox_pids(host[0], host + 1, 15);
    cr_assert_geq(n, 4, "bwrap's init, the fake, its child and grandchild");
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
    cr_assert(term && strtol(term, NULL, 10) == ns[0],
              "the child got no SIGTERM");
    free(term);
    left = wait_gone(host, n + 1, 5000);
    cr_assert_eq(left, 0, "process %d of the job is still there", (int)left);
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

/* A replica that stalls past its lease (its lock held here) loses its
 * running job to another replica on the same store; once it wakes it
 * stops the job's spark-submit and leaves the record to the new owner
 * (docs/jobs.md, "Replicas and leases"). */
Test(local, a_job_lost_to_another_replica_is_stopped_here)
{
    struct dsb_jobs_options o = {0};
    struct dsb_jobs *other = calloc(1, sizeof(*other));
    char *db = dsb_path_join(t.cfg->state_dir, "dsbroker.db");
    struct dsb_store_conf c = {
        .db_path = db, .replica_id = "other", .lease_ms = 60000};
    json_t *job, *out = NULL, *doc;
    const char *id;
    pid_t pid;
    int64_t end;
    size_t taken = 0;

    dsb_jobs_close(t.jobs);
    o.cfg = t.cfg;
    o.secrets = t.secrets;
    o.tick_ms = 50;
    o.kill_grace_ms = 300;
    o.replica_id = "stalls";
    o.lease_ms = 300;
    t.jobs = dsb_jobs_open(&o, &t.err);
    cr_assert_not_null(t.jobs, "%s", t.err.message);
    job = submit("sleep", 0);
    id = jt_str(job, "id", NULL);
    pid = (pid_t)json_integer_value(
        json_object_get(json_object_get(job, "local"), "pid"));
    cr_assert_str_eq(jt_str(job, "replica", NULL), "stalls");
    cr_assert_eq(dsb_jstore_open_on(other, &dsb_store_sqlite, &c, &t.err), 0,
                 "%s", t.err.message);

    /* the stall: nothing of "stalls" runs while its lock is held */
    pthread_mutex_lock(&t.jobs->mu);
    for (end = dsb_monotonic_ms() + 5000; !taken && dsb_monotonic_ms() < end;) {
        cr_assert_eq(dsb_jstore_claim(other, 0, &out, &t.err), 0, "%s",
                     t.err.message);
        taken = json_array_size(json_object_get(out, "taken"));
        json_decref(out);
        if (!taken)
            usleep(20 * 1000);
    }
    pthread_mutex_unlock(&t.jobs->mu);
    cr_assert_eq(taken, 1, "the lease of \"stalls\" never ended");

    /* awake: its next renewal finds the job gone, the process is stopped */
    for (end = dsb_monotonic_ms() + 5000;
         kill(pid, 0) == 0 && dsb_monotonic_ms() < end;)
        usleep(20 * 1000);
    cr_assert_neq(kill(pid, 0), 0, "spark-submit %d still runs", (int)pid);
    doc = dsb_jstore_get(other, id);
    cr_assert_str_eq(jt_str(doc, "state", NULL), "running",
                     "the new owner's record was left as it is");
    cr_assert_str_eq(jt_str(doc, "replica", NULL), "other");
    json_decref(doc);
    dsb_jstore_close(other);
    free(other);
    free(db);
    json_decref(job);
}

/* Another replica on the same store but with a state_dir of its own
 * reads the job's record, but its logs and output are in the state_dir
 * of the replica that ran it: 409 naming that replica. */
Test(local, files_of_a_job_run_by_another_replica)
{
    struct dsb_jobs_options o = {0};
    struct jt other = {0};
    char *db = dsb_path_join(t.cfg->state_dir, "dsbroker.db");
    char *dir = t.dir, ran[80], away[4200];
    json_t *job = submit("ok", 0), *done, *out = NULL;
    const char *id = jt_str(job, "id", NULL);

    done = jt_wait(&t, id, "succeeded", 10000);
    cr_assert_str_eq(jt_str(done, "state", NULL), "succeeded");
    snprintf(ran, sizeof(ran), "%s", jt_str(done, "started_on", NULL));
    cr_assert_str_eq(ran, jt_str(done, "replica", NULL));
    jt_config(&other, yaml);
    setenv("DSB_TEST_DIR", dir, 1);
    o.cfg = other.cfg;
    o.secrets = other.secrets;
    o.db_path = db;
    o.replica_id = "elsewhere";
    other.jobs = dsb_jobs_open(&o, &other.err);
    cr_assert_not_null(other.jobs, "%s", other.err.message);
    cr_assert_eq(dsb_jobs_get(other.jobs, id, &out, &other.err), 0);
    json_decref(out);
    /* on this host the path reaches them; on another host it does not */
    cr_assert_eq(dsb_jobs_logs(other.jobs, id, 0, 0, &out, &other.err), 0);
    json_decref(out);
    snprintf(away, sizeof(away), "%s.away", jt_str(done, "local", "dir"));
    cr_assert_eq(rename(jt_str(done, "local", "dir"), away), 0);
    cr_assert_eq(dsb_jobs_logs(other.jobs, id, 0, 0, &out, &other.err), -1);
    cr_assert_eq(other.err.code, DSB_E_CONFLICT);
    cr_assert(strstr(other.err.message, ran), "%s", other.err.message);
    cr_assert(strstr(other.err.hint, "state_dir/jobs"), "%s", other.err.hint);
    cr_assert_eq(dsb_jobs_result(other.jobs, id, 10, &out, &other.err), -1);
    cr_assert_eq(other.err.code, DSB_E_CONFLICT);
    cr_assert_eq(rename(away, jt_str(done, "local", "dir")), 0);
    /* the replica that ran it reads them */
    cr_assert_eq(dsb_jobs_logs(t.jobs, id, 0, 0, &out, &t.err), 0, "%s",
                 t.err.message);
    json_decref(out);
    jt_close(&other);
    free(db);
    json_decref(done);
    json_decref(job);
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
    /* the reason names the replica that stopped (docs/jobs.md) */
    cr_assert(!strncmp(jt_str(doc, "reason", NULL),
                       "the broker stopped while the job was running (replica ",
                       54),
              "%s", jt_str(doc, "reason", NULL));
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFSIGNALED(status), "the orphan was stopped");
    json_decref(doc);
    json_decref(job);
    free(id);
}

/* ------------------------------------------------ confinement (bwrap) */

/* The variable names of an environ.txt (sorted NAME=value lines),
 * comma-joined; malloc'd. */
static char *names_of(const char *text)
{
    struct dsb_sb sb = {0};
    const char *p = text, *eq, *nl;

    while (p && *p) {
        eq = strchr(p, '=');
        nl = strchr(p, '\n');
        if (!nl)
            nl = p + strlen(p);
        if (eq && eq < nl)
            dsb_sb_addf(&sb, "%s%.*s", sb.len ? "," : "", (int)(eq - p), p);
        p = *nl ? nl + 1 : nl;
    }
    return dsb_sb_take(&sb);
}

/* Waits for job (a reference taken) to succeed, with its stderr when it
 * did not; the final record. */
static json_t *succeeded(json_t *job)
{
    json_t *done = jt_wait(&t, jt_str(job, "id", NULL), "succeeded", 15000);
    json_t *logs = NULL;

    if (strcmp(jt_str(done, "state", NULL), "succeeded") != 0) {
        dsb_jobs_logs(t.jobs, jt_str(job, "id", NULL), 0, 4000, &logs, &t.err);
        cr_assert_fail("job %s: %s\n%s", jt_str(done, "state", NULL),
                       jt_str(done, "reason", NULL),
                       jt_str(logs, "stderr", NULL));
    }
    json_decref(job);
    return done;
}

/* A job's environment is an allow-list, not a copy of the broker's:
 * these names and no other, confined or not (the broker's tokens and AWS
 * keys stay out). */
Test(local, environment_is_an_allow_list)
{
    static const char *const executors[] = {"local", "none"};

    for (size_t i = 0; i < 2; i++) {
        json_t *done = succeeded(submit_code(
            executors[i], "print(_dsb_secret('env:DSB_TEST_JOB_SECRET'))\n",
            json_pack("[s]", "ok"), 0));
        const char *work = jt_str(done, "local", "work");
        char *env = jt_file(work, "environ.txt"), *names = names_of(env);
        char *home = dsb_asprintf("HOME=%s\n", work);

        cr_assert_str_eq(names,
                         "DSB_JOB_ID,DSB_OUTPUT,DSB_SECRET_0,DSB_SECRET_MAP,"
                         "DSB_SESSION_ID,HOME,LANG,PATH,SPARK_LOCAL_IP",
                         "on %s: %s", executors[i], names);
        cr_assert(strstr(env, home), "%s", env);
        cr_assert(strstr(env, "DSB_SECRET_0=s3cr3t-value-42\n"));
        cr_assert_null(strstr(env, broker_token));
        cr_assert_null(strstr(env, broker_aws_secret));
        free(env);
        free(names);
        free(home);
        json_decref(done);
    }
}

/* aws_credentials: pass hands the broker's resolved credentials over. */
Test(local, aws_credentials_pass_hands_the_brokers_keys_over)
{
    json_t *done =
        succeeded(submit_code("aws", "x = 1\n", json_pack("[s]", "ok"), 0));
    char *env = jt_file(jt_str(done, "local", "work"), "environ.txt");

    cr_assert(strstr(env, "AWS_ACCESS_KEY_ID=AKIDBROKER\n"), "%s", env);
    cr_assert(strstr(env, "AWS_SECRET_ACCESS_KEY=broker-aws-secret-77c1\n"));
    cr_assert(strstr(env, "AWS_REGION=eu-west-3\n"));
    cr_assert_null(strstr(env, "AWS_SESSION_TOKEN"));
    free(env);
    json_decref(done);
}

/* How many jobs session sess-1 holds. */
static size_t jobs_recorded(void)
{
    json_t *list;
    size_t n;

    cr_assert_eq(dsb_jobs_list(t.jobs, "sess-1", &list, &t.err), 0);
    n = json_array_size(json_object_get(list, "items"));
    json_decref(list);
    return n;
}

static void refused_entry(const char *executor, const char *entry,
                          const char *why)
{
    struct dsb_job_request r = {0};
    json_t *job = NULL;

    r.entry_point = entry;
    cr_assert_eq(submit_req(&r, executor, &job), -1, "%s was accepted", entry);
    cr_assert_eq(t.err.code, DSB_E_INVALID, "%s: %s", entry, t.err.message);
    cr_assert(strstr(t.err.message, why), "%s: %s", entry, t.err.message);
    cr_assert_null(job);
}

/* Runs entry point entry on executor "entry"; the script in the record
 * and in spark-submit's argv is want. */
static void runs_entry(const char *entry, const char *want)
{
    struct dsb_job_request r = {0};
    json_t *args = json_pack("[s]", "ok"), *job = NULL, *done;
    char *argv, *line = dsb_asprintf("\n%s\nok\n", want);

    r.entry_point = entry;
    r.args = args;
    cr_assert_eq(submit_req(&r, "entry", &job), 0, "%s", t.err.message);
    done = succeeded(job);
    cr_assert_str_eq(jt_str(done, "script", NULL), want);
    argv = jt_file(jt_str(done, "local", "work"), "argv.txt");
    cr_assert(strstr(argv, line), "%s", argv);
    free(argv);
    free(line);
    json_decref(args);
    json_decref(done);
}

/* Entry points: .py or .jar files under entry_point_dir, by their real
 * path; anything else is a 400 before a job is recorded. */
Test(local, entry_points_are_files_under_entry_point_dir)
{
    char *entry = dsb_asprintf("%s/entry", t.dir), *real, *abs_out, *want;

    cr_assert_eq(mkdir(entry, 0755), 0);
    t_write(entry, "job.py", "print(1)\n");
    t_write(entry, "lib.jar", "PK");
    t_write(entry, "notes.txt", "x");
    t_write(t.dir, "outside.py", "print(2)\n");
    abs_out = dsb_asprintf("%s/outside.py", t.dir);
    want = dsb_asprintf("%s/link.py", entry);
    cr_assert_eq(symlink(abs_out, want), 0, "%s", strerror(errno));
    free(want);
    refused_entry(NULL, "job.py", "executor local takes no entry points");
    refused_entry("entry", "notes.txt", "is not a .py or .jar file");
    refused_entry("entry", "../outside.py", "leads outside entry_point_dir");
    refused_entry("entry", abs_out, "leads outside entry_point_dir");
    refused_entry("entry", "link.py", "leads outside entry_point_dir");
    refused_entry("entry", "missing.py", "does not exist");
    cr_assert_eq(jobs_recorded(), 0, "refused before anything is recorded");
    real = dsb_realpath(entry);
    want = dsb_asprintf("%s/job.py", real);
    runs_entry("job.py", want);
    free(want);
    want = dsb_asprintf("%s/lib.jar", real);
    runs_entry(want, want);
    free(want);
    free(real);
    free(abs_out);
    free(entry);
}

/* The first value of a succeeded job's CSV output (malloc'd). */
static char *first_value(json_t *done)
{
    json_t *res = NULL;
    char *v;

    cr_assert_eq(
        dsb_jobs_result(t.jobs, jt_str(done, "id", NULL), 5, &res, &t.err), 0,
        "%s", t.err.message);
    v = strdup(json_string_value(
        json_array_get(json_array_get(json_object_get(res, "rows"), 0), 0)));
    json_decref(res);
    json_decref(done);
    return v;
}

static const char connect_py[] =
    "import os, socket, sys\n"
    "s = socket.socket()\n"
    "s.settimeout(5)\n"
    "try:\n"
    "    s.connect(('127.0.0.1', int(sys.argv[1])))\n"
    "    outcome = 'connected'\n"
    "except OSError as e:\n"
    "    outcome = type(e).__name__\n"
    "os.makedirs(os.environ['DSB_OUTPUT'])\n"
    "with open(os.environ['DSB_OUTPUT'] + '/part-0.csv', 'w') as f:\n"
    "    f.write('outcome\\n' + outcome + '\\n')\n";

/* network: none: a job cannot reach a listener on the host's loopback
 * that a job on the host network reaches. */
Test(local, network_none_reaches_no_loopback_listener)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    char port[16], *host, *none;

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
              listen(fd, 8) == 0 &&
              getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    snprintf(port, sizeof(port), "%d", ntohs(a.sin_port));
    host = first_value(succeeded(
        submit_code(NULL, connect_py, json_pack("[ss]", "python", port), 0)));
    none = first_value(succeeded(submit_code(
        "offline", connect_py, json_pack("[ss]", "python", port), 0)));
    cr_assert_str_eq(host, "connected");
    cr_assert_str_neq(none, "connected");
    free(host);
    free(none);
    close(fd);
}

static const char alloc_py[] =
    "import os, sys\n"
    "b = bytearray(int(sys.argv[1]) << 20)\n"
    "os.makedirs(os.environ['DSB_OUTPUT'])\n"
    "with open(os.environ['DSB_OUTPUT'] + '/part-0.csv', 'w') as f:\n"
    "    f.write('mb\\n%d\\n' % (len(b) >> 20))\n";

/* max_memory_mb (RLIMIT_AS): a job that allocates more fails, and says
 * why; under the limit, or without one, the same job runs. */
Test(local, max_memory_mb_fails_a_job_that_allocates_more)
{
    json_t *job =
        submit_code("small", alloc_py, json_pack("[ss]", "python", "400"), 0);
    json_t *done = jt_wait(&t, jt_str(job, "id", NULL), "failed", 15000);
    char *v;

    cr_assert_str_eq(jt_str(done, "state", NULL), "failed");
    cr_assert(strstr(jt_str(done, "reason", NULL), "MemoryError"), "%s",
              jt_str(done, "reason", NULL));
    cr_assert_eq(json_integer_value(json_object_get(
                     json_object_get(done, "local"), "max_memory_mb")),
                 256);
    v = first_value(succeeded(
        submit_code("small", alloc_py, json_pack("[ss]", "python", "32"), 0)));
    cr_assert_str_eq(v, "32");
    free(v);
    v = first_value(succeeded(
        submit_code(NULL, alloc_py, json_pack("[ss]", "python", "400"), 0)));
    cr_assert_str_eq(v, "400");
    free(v);
    json_decref(job);
    json_decref(done);
}

static const char links_py[] =
    "import os, sys\n"
    "out = os.environ['DSB_OUTPUT']\n"
    "if sys.argv[1] == 'dir':\n"
    "    os.symlink(sys.argv[2], out)\n"
    "else:\n"
    "    os.makedirs(out)\n"
    "    os.mkfifo(out + '/part-0.csv')\n"
    "    os.symlink(sys.argv[2] + '/private.csv', out + '/part-1.csv')\n";

/* The broker reads a job's output as itself: what the job leaves there
 * must not lead it elsewhere (a link to a file the job cannot read, a
 * FIFO that would block the reader). */
Test(local, result_follows_no_link_and_opens_no_fifo)
{
    static const char *const how[] = {"files", "dir"};
    json_t *done, *res = NULL;

    t_write(t.dir, "private.csv", "secret\nbroker-only\n");
    for (size_t i = 0; i < 2; i++) {
        done = succeeded(submit_code(
            NULL, links_py, json_pack("[sss]", "python", how[i], t.dir), 0));
        cr_assert_eq(
            dsb_jobs_result(t.jobs, jt_str(done, "id", NULL), 5, &res, &t.err),
            -1, "read through the job's %s", how[i]);
        cr_assert_eq(t.err.code, DSB_E_NOT_FOUND, "%s", t.err.message);
        json_decref(done);
    }
}

/* Jobs are refused, before anything is recorded, when their sandbox
 * cannot start: no bubblewrap, no such user. */
Test(local, confinement_that_cannot_start_is_refused)
{
    struct dsb_job_request r = {0};
    json_t *job = NULL;

    r.code = "x = 1\n";
    cr_assert_eq(submit_req(&r, "nobwrap", &job), -1);
    cr_assert_eq(t.err.code, DSB_E_UNAVAILABLE);
    cr_assert_str_eq(t.err.message, "executor nobwrap cannot confine jobs: "
                                    "/nonexistent/bwrap was not found");
    cr_assert(strstr(t.err.hint, "install bubblewrap"), "%s", t.err.hint);
    cr_assert(strstr(t.err.hint, "isolation: none"), "%s", t.err.hint);
    cr_assert_eq(submit_req(&r, "nouser", &job), -1);
    cr_assert_eq(t.err.code, DSB_E_UNAVAILABLE);
    cr_assert(strstr(t.err.message, geteuid() == 0
                                        ? "as user dsb-no-such-user: no such "
                                          "user"
                                        : "cannot start jobs as "
                                          "dsb-no-such-user"),
              "%s", t.err.message);
    cr_assert_null(job);
    cr_assert_eq(jobs_recorded(), 0);
}

static json_t *describe(const char *name)
{
    const struct dsb_executor_conf *e = dsb_executor_find(t.cfg, name);

    cr_assert_not_null(e, "%s", name);
    return dsb_local_spark_ops.describe(e);
}

/* What /v1/executors shows, and the warning isolation: none logs. */
Test(local, executors_describe_their_confinement)
{
    json_t *d = describe("local");
    char *s = json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS), want[512];
    struct dsb_error err = {0};

    snprintf(want, sizeof(want),
             "{\"aws_credentials\":\"none\",\"entry_points\":false,"
             "\"isolation\":\"bwrap\",\"max_memory_mb\":null,"
             "\"network\":\"host\",\"ready\":true,\"run_as\":\"%s\"}",
             geteuid() == 0 ? "dsbroker-job" : getpwuid(geteuid())->pw_name);
    cr_assert_str_eq(s, want);
    free(s);
    json_decref(d);
    d = describe("none");
    cr_assert_str_eq(jt_str(d, "isolation", NULL), "none");
    cr_assert_eq(
        dsb_local_spark_ops.check(dsb_executor_find(t.cfg, "none"), &err), 1);
    cr_assert(strstr(err.message, "executor none runs jobs unconfined "
                                  "(isolation: none)"),
              "%s", err.message);
    json_decref(d);
    d = describe("offline");
    cr_assert_str_eq(jt_str(d, "network", NULL), "none");
    json_decref(d);
    d = describe("small");
    cr_assert_eq(json_integer_value(json_object_get(d, "max_memory_mb")), 256);
    json_decref(d);
    d = describe("nobwrap");
    cr_assert(json_is_false(json_object_get(d, "ready")));
    cr_assert(strstr(jt_str(d, "problem", NULL), "was not found"));
    json_decref(d);
}

/* ------------------------------------- a broker that is not root */

static const char unpriv_yaml[] = "state_dir: ${DSB_TEST_DIR}/state\n"
                                  "executors:\n"
                                  "  - name: local\n"
                                  "    type: local-spark\n"
                                  "    networks: [local]\n"
                                  "    spark_submit: ${DSB_TEST_FAKE_SPARK}\n";

static const char whoami_py[] =
    "import os, subprocess, sys\n"
    "out = os.environ['DSB_OUTPUT']\n"
    "nested = subprocess.call(['unshare', '--user', 'true'],\n"
    "                         stderr=subprocess.DEVNULL)\n"
    "os.makedirs(out)\n"
    "with open(out + '/part-0.csv', 'w') as f:\n"
    "    f.write('uid,userns,state,nested\\n%d,%s,%s,%s\\n' % (os.getuid(),\n"
    "            os.readlink('/proc/self/ns/user'),\n"
    "            os.path.exists(sys.argv[1] + '/dsbroker.db'),\n"
    "            'refused' if nested else 'made'))\n";

TestSuite(unprivileged, .timeout = 60);

/* As nobody, the broker runs jobs as itself in a user namespace of their
 * own, which cannot make another, and they still do not see the broker's
 * state database. */
Test(unprivileged, jobs_run_as_the_broker_in_a_user_namespace)
{
    struct jt u = {0};
    json_t *args, *job, *done, *res = NULL, *row;
    char mine[64] = "", *fk = t_src("tests/jobs/fake-spark-submit.sh");
    struct dsb_job_request r = {0};

    if (geteuid() != 0)
        cr_skip_test("needs root to become nobody; the broker's own user "
                     "is tested by the other suites then");
    cr_assert(setgroups(0, NULL) == 0 && setresgid(65534, 65534, 65534) == 0 &&
              setresuid(65534, 65534, 65534) == 0);
    prctl(PR_SET_DUMPABLE, 1); /* LeakSanitizer traces this process */
    cr_assert(readlink("/proc/self/ns/user", mine, sizeof(mine) - 1) > 0);
    setenv("DSB_TEST_FAKE_SPARK", fk, 1);
    jt_config(&u, unpriv_yaml);
    jt_open(&u, NULL);
    args = json_pack("[ss]", "python", u.cfg->state_dir);
    r.session_id = "s";
    r.code = whoami_py;
    r.args = args;
    cr_assert_eq(dsb_jobs_submit(u.jobs, &r, &job, &u.err), 0, "%s: %s",
                 u.err.message, u.err.detail);
    done = jt_wait(&u, jt_str(job, "id", NULL), "succeeded", 15000);
    cr_assert_str_eq(jt_str(done, "state", NULL), "succeeded", "%s",
                     jt_str(done, "reason", NULL));
    cr_assert_eq(
        dsb_jobs_result(u.jobs, jt_str(job, "id", NULL), 5, &res, &u.err), 0,
        "%s", u.err.message);
    row = json_array_get(json_object_get(res, "rows"), 0);
    cr_assert_str_eq(json_string_value(json_array_get(row, 0)), "65534");
    cr_assert_str_neq(json_string_value(json_array_get(row, 1)), mine);
    cr_assert_str_eq(json_string_value(json_array_get(row, 2)), "False");
    cr_assert_str_eq(json_string_value(json_array_get(row, 3)), "refused");
    json_decref(res);
    json_decref(args);
    json_decref(job);
    json_decref(done);
    jt_close(&u);
    free(fk);
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
    sqlite3 *db = dsb_jstore_sqlite_db(t.jobs->store);
    sqlite3_stmt *st = NULL;

    cr_assert_eq(sqlite3_prepare_v2(db, "PRAGMA synchronous", -1, &st, NULL),
                 SQLITE_OK);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    cr_assert_eq(sqlite3_column_int(st, 0), 2, "synchronous=FULL");
    sqlite3_finalize(st);
    cr_assert_eq(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL),
                 SQLITE_OK);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    cr_assert_str_eq((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
}
