/*
 * A hostile job against the real `dsbroker serve` (root: jobs run as
 * dsbroker-job): with a token limited to one CSV source, a job
 * (tests/jobs/hostile_job.py, run by the stand-in spark-submit with
 * python3) tries to read other tokens and the broker's AWS keys from its
 * environment, /proc/<broker>/environ and cmdline, a file: secret the
 * configuration references, conf.d, the state database and another
 * principal's job directory, to signal the broker, and leaves a setsid
 * child; it reports its uid and the descriptors it inherited.  Confined,
 * it runs as dsbroker-job with no descriptor of the broker's, each read
 * fails, the broker lives and the child dies with the job.  The same job on an
 * executor with isolation: none is the control: there the same attempts work
 * (the probes are not vacuous), and the broker warned about that executor when
 * it started.  Where the kernel allows no sandbox, the test checks the broker
 * refuses the job instead.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "http/http_support.h"
#include "util.h"

#define LIMITED "hostile-limited-token-5c2e"
#define ADMIN "hostile-admin-token-d81b"
#define AWS_SECRET "hostile-broker-aws-secret-0e94"

static pid_t broker;
static char *dir, *opt, *logpath;
/* In the command line of the job's setsid child: unique to this run. */
static char confined_marker[64], unconfined_marker[64];

static const char broker_yaml[] =
    "listen: 127.0.0.1:0\n"
    "state_dir: ${DSB_TEST_HOSTILE_DIR}/state\n"
    "log_level: info\n"
    "auth:\n"
    "  enabled: true\n"
    "  tokens:\n"
    "    - name: admin\n"
    "      token: file:${DSB_TEST_HOSTILE_DIR}/opt/admin.token\n"
    "      scopes: [admin]\n"
    "    - name: limited\n"
    "      token: env:DSB_TEST_HOSTILE_LIMITED\n"
    "      sources: [csv]\n"
    "executors:\n"
    "  - name: local\n"
    "    type: local-spark\n"
    "    networks: [local]\n"
    "    spark_submit: ${DSB_TEST_HOSTILE_DIR}/opt/fake-spark-submit.sh\n"
    "  - name: unconfined\n"
    "    type: local-spark\n"
    "    networks: [local]\n"
    "    spark_submit: ${DSB_TEST_HOSTILE_DIR}/opt/fake-spark-submit.sh\n"
    "    isolation: none\n"
    "default_executor: local\n";

static const char csv_yaml[] =
    "name: csv\n"
    "plugin: s3csv\n"
    "network: local\n"
    "roots: [\"file:${DSB_TEST_HOSTILE_DIR}/data/\"]\n";

static void run(const char *cmd)
{
    cr_assert_eq(system(cmd), 0, "%s", cmd);
}

/*
 * DIR/opt is what the job's sandbox shows of this test: the stand-in
 * spark-submit (its install directory is bound read-only), and beside it
 * conf.d and the admin token, a file: secret: both must be hidden.
 */
static void layout(void)
{
    char *fake = t_src("tests/jobs/fake-spark-submit.sh"), cmd[9000];

    dir = t_tmpdir();
    opt = dsb_asprintf("%s/opt", dir);
    snprintf(cmd, sizeof(cmd),
             "mkdir -p %s/conf.d %s/data/sales && cp %s %s/ && "
             "chmod 755 %s %s %s/fake-spark-submit.sh",
             opt, dir, fake, opt, dir, opt, opt);
    run(cmd);
    setenv("DSB_TEST_HOSTILE_DIR", dir, 1);
    setenv("DSB_TEST_HOSTILE_LIMITED", LIMITED, 1);
    setenv("AWS_ACCESS_KEY_ID", "AKIDHOSTILEBROKER", 1);
    setenv("AWS_SECRET_ACCESS_KEY", AWS_SECRET, 1);
    t_write(opt, "admin.token", ADMIN "\n");
    snprintf(cmd, sizeof(cmd), "chmod 644 %s/admin.token", opt);
    run(cmd); /* readable but for the sandbox's mask */
    t_write(opt, "conf.d/broker.yaml", broker_yaml);
    t_write(opt, "conf.d/csv.yaml", csv_yaml);
    t_write(dir, "data/sales/orders.csv", "id,total\n1,10\n2,20\n");
    free(fake);
}

static void spawn(void)
{
    char conf[4200];

    snprintf(conf, sizeof(conf), "%s/conf.d", opt);
    logpath = dsb_asprintf("%s/broker.log", dir);
    broker = t_spawn_serve(conf, getenv("DSB_PLUGIN_DIR"), dir, logpath);
}

static void keep_canaries(void)
{
    FILE *f = t_canary_open("canaries", "hostile");

    if (f) {
        fprintf(f, "%s\n%s\n%s\n", LIMITED, ADMIN, AWS_SECRET);
        fclose(f);
    }
}

static pid_t find_marked(const char *marker);

static void setup(void)
{
    snprintf(confined_marker, sizeof(confined_marker),
             "dsb-hostile-confined-%d", (int)getpid());
    snprintf(unconfined_marker, sizeof(unconfined_marker),
             "dsb-hostile-unconfined-%d", (int)getpid());
    keep_canaries();
    layout();
    spawn();
}

/* A setsid child a failed run left behind (an unconfined one always
 * outlives its job). */
static void kill_marked(const char *marker)
{
    pid_t pid;

    for (int i = 0; i < 8 && (pid = find_marked(marker)) != 0; i++) {
        kill(pid, SIGKILL);
        t_sleep_ms(20);
    }
}

static void teardown(void)
{
    kill_marked(confined_marker);
    kill_marked(unconfined_marker);
    if (broker > 0) {
        kill(broker, SIGKILL);
        waitpid(broker, NULL, 0);
    }
    t_canary_keep_file("broker-log", logpath);
    free(logpath);
    free(opt);
    free(dir);
}

TestSuite(hostile, .init = setup, .fini = teardown, .timeout = 120);

static json_t *call(const char *token, const char *method, const char *path,
                    const char *body, long status)
{
    char auth[128];
    struct t_resp r;
    json_t *j;

    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
    r = t_req(
        method, path,
        (const char *const[]){auth, "Content-Type: application/json", NULL},
        body);
    cr_assert_eq(r.status, status, "%s %s: %ld %s", method, path, r.status,
                 r.body);
    j = t_json(&r);
    t_free(&r);
    return j;
}

static const char *str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* A session of token's principal holding csv's orders. */
static char *session(const char *token)
{
    json_t *s = call(token, "POST", "/v1/sessions", NULL, 201);
    char p[160], *id = strdup(str(s, "id"));

    snprintf(p, sizeof(p), "/v1/sessions/%s/selections", id);
    json_decref(call(token, "POST", p,
                     "{\"source\":\"csv\",\"database\":\"data\","
                     "\"schema\":\"sales\",\"table\":\"orders\"}",
                     201));
    json_decref(s);
    return id;
}

static json_t *job_get(const char *token, const char *id)
{
    char p[160];

    snprintf(p, sizeof(p), "/v1/jobs/%s", id);
    return call(token, "GET", p, NULL, 200);
}

static json_t *wait_state(const char *token, const char *id, const char *state)
{
    for (int i = 0; i < 1500; i++) {
        json_t *j = job_get(token, id);
        const char *s = str(j, "state");
        if (strcmp(s, state) == 0 || strcmp(s, "succeeded") == 0 ||
            strcmp(s, "failed") == 0)
            return j;
        json_decref(j);
        t_sleep_ms(20);
    }
    cr_assert_fail("job %s never reached %s", id, state);
    return NULL;
}

/* The work directory of a finished job of the admin's (another
 * principal's), as the hostile job is told to look for it. */
static char *other_job(void)
{
    char *sid = session(ADMIN), p[160], *work;
    json_t *job, *done;

    snprintf(p, sizeof(p), "/v1/sessions/%s/jobs", sid);
    job = call(ADMIN, "POST", p, "{\"code\":\"print(1)\",\"args\":[\"ok\"]}",
               202);
    done = wait_state(ADMIN, str(job, "id"), "succeeded");
    cr_assert_str_eq(str(done, "state"), "succeeded");
    work = strdup(str(json_object_get(done, "local"), "work"));
    json_decref(job);
    json_decref(done);
    free(sid);
    return work;
}

/* Host pid of a process whose command line holds marker, or 0 (the job
 * itself, and the bwrap around it, are left out: their arguments hold
 * marker too, after main.py). */
static pid_t find_marked(const char *marker)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    pid_t found = 0;
    char path[300];

    while (d && !found && (e = readdir(d)) != NULL) {
        FILE *f;
        char buf[4096];
        size_t n;
        if (e->d_name[0] < '1' || e->d_name[0] > '9')
            continue;
        snprintf(path, sizeof(path), "/proc/%s/cmdline", e->d_name);
        if (!(f = fopen(path, "r")))
            continue;
        n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        for (size_t i = 0; i < n; i++)
            buf[i] = buf[i] ? buf[i] : ' ';
        buf[n] = '\0';
        if (strstr(buf, marker) && !strstr(buf, "main.py"))
            found = (pid_t)atoi(e->d_name);
    }
    if (d)
        closedir(d);
    return found;
}

static pid_t wait_marked(const char *marker, int present, long ms)
{
    pid_t pid = find_marked(marker);

    for (long waited = 0; (pid != 0) != present && waited < ms; waited += 20) {
        t_sleep_ms(20);
        pid = find_marked(marker);
    }
    return pid;
}

/* The JSON body of a hostile job's submit on executor, with sig the
 * signal it sends the broker. */
static char *hostile_body(const char *executor, int sig, const char *other,
                          const char *marker)
{
    char *code_path = t_src("tests/jobs/hostile_job.py"), *code, *body;
    char pid[16], signo[8], csv[4200], secret[4200], conf[4200], db[4200];
    json_t *req;

    code = t_slurp_file(fopen(code_path, "r"));
    snprintf(pid, sizeof(pid), "%d", (int)broker);
    snprintf(signo, sizeof(signo), "%d", sig);
    snprintf(csv, sizeof(csv), "%s/data/sales/orders.csv", dir);
    snprintf(secret, sizeof(secret), "%s/admin.token", opt);
    snprintf(conf, sizeof(conf), "%s/conf.d", opt);
    snprintf(db, sizeof(db), "%s/state/dsbroker.db", dir);
    req = json_pack("{s:s, s:s, s:[sssssssss]}", "code", code, "executor",
                    executor, "args", "python", pid, signo, csv, secret, conf,
                    db, other, marker);
    body = json_dumps(req, 0);
    json_decref(req);
    free(code);
    free(code_path);
    return body;
}

/* Submits the hostile job as the limited token; lets it end once its
 * setsid child is seen in the host (*child: that child's host pid).
 * The finished record. */
static json_t *hostile_run(const char *executor, int sig, const char *marker,
                           pid_t *child)
{
    char *sid = session(LIMITED), *other = other_job(), *body, p[160], go[4200];
    json_t *job, *running, *done;

    body = hostile_body(executor, sig, other, marker);
    snprintf(p, sizeof(p), "/v1/sessions/%s/jobs", sid);
    job = call(LIMITED, "POST", p, body, 202);
    running = wait_state(LIMITED, str(job, "id"), "running");
    *child = wait_marked(marker, 1, 10000);
    cr_assert_neq(*child, 0, "the setsid child never started");
    snprintf(go, sizeof(go), "%s",
             str(json_object_get(running, "local"), "work"));
    t_write(go, "go", "");
    done = wait_state(LIMITED, str(job, "id"), "succeeded");
    json_decref(job);
    json_decref(running);
    free(body);
    free(other);
    free(sid);
    return done;
}

/* The outcome of each probe, as {probe: outcome}. */
static json_t *findings(const char *id)
{
    char p[160];
    json_t *res, *map = json_object(), *row;
    size_t i;

    snprintf(p, sizeof(p), "/v1/jobs/%s/result?limit=100", id);
    res = call(LIMITED, "GET", p, NULL, 200);
    json_array_foreach(json_object_get(res, "rows"), i, row) json_object_set(
        map, json_string_value(json_array_get(row, 0)), json_array_get(row, 1));
    json_decref(res);
    return map;
}

static int is_error(const json_t *found, const char *probe)
{
    const char *v = str(found, probe);

    return v && strncmp(v, "error:", 6) == 0;
}

/* Whether local's sandbox starts here; if not, the broker must refuse the
 * job (503, nothing recorded) and the test says why it stops there. */
static void require_sandbox(void)
{
    json_t *ex = call(LIMITED, "GET", "/v1/executors", NULL, 200);
    json_t *local = json_array_get(json_object_get(ex, "items"), 0);
    char *sid, p[160];

    cr_assert_str_eq(str(local, "name"), "local");
    if (json_is_true(json_object_get(local, "ready"))) {
        json_decref(ex);
        return;
    }
    sid = session(LIMITED);
    snprintf(p, sizeof(p), "/v1/sessions/%s/jobs", sid);
    json_decref(call(LIMITED, "POST", p, "{\"code\":\"print(1)\"}", 503));
    cr_skip_test("this kernel allows no sandbox (%s): checked that the broker "
                 "refuses unconfined jobs instead",
                 str(local, "problem"));
}

/* The broker's allow-list, and PWD, which the stand-in's shell exports
 * (tests/jobs/test_local.c checks what the broker itself passes). */
static const char allowed_env[] =
    "DSB_JOB_ID,DSB_OUTPUT,DSB_SECRET_MAP,DSB_SESSION_ID,HOME,LANG,PATH,PWD,"
    "SPARK_LOCAL_IP";

/* The uid confined jobs run as: dsbroker-job's when the broker (this
 * test's child) is root, else the broker's own. */
static uid_t job_uid(void)
{
    struct passwd *pw = getpwnam("dsbroker-job");

    if (geteuid() != 0)
        return geteuid();
    cr_assert_not_null(pw, "no dsbroker-job user: run scripts/setup.sh");
    return pw->pw_uid;
}

Test(hostile, a_confined_job_reads_nothing_of_the_broker)
{
    json_t *done, *found, *health;
    char *text, uid[32];
    pid_t child;

    require_sandbox();
    done = hostile_run("local", SIGTERM, confined_marker, &child);
    cr_assert_str_eq(str(done, "state"), "succeeded", "%s",
                     str(done, "reason"));
    cr_assert_str_eq(str(json_object_get(done, "local"), "isolation"), "bwrap");
    found = findings(str(done, "id"));
    text = json_dumps(found, JSON_INDENT(1) | JSON_SORT_KEYS);
    snprintf(uid, sizeof(uid), "ok:%u", (unsigned)job_uid());
    cr_assert_str_eq(str(found, "uid"), uid, "%s", text);
    cr_assert_str_eq(str(found, "inherited_fds"), "ok:0", "%s", text);
    cr_assert_str_eq(str(found, "env"), allowed_env, "%s", text);
    cr_assert_str_eq(str(found, "csv"), "ok:19", "its own data: %s", text);
    cr_assert(is_error(found, "proc_environ"), "%s", text);
    cr_assert(is_error(found, "proc_cmdline"), "%s", text);
    cr_assert(is_error(found, "state_db"), "%s", text);
    cr_assert(is_error(found, "other_job"), "%s", text);
    cr_assert(is_error(found, "signal"), "%s", text);
    /* hidden: the file under /dev/null (a device the sandbox may not
     * open), the directory under an empty one */
    cr_assert(is_error(found, "secret_file"), "%s", text);
    cr_assert_str_eq(str(found, "conf_dir"), "ok:0", "%s", text);
    cr_assert_eq(wait_marked(confined_marker, 0, 5000), 0,
                 "the setsid child %d outlived the job", (int)child);
    health = call(ADMIN, "GET", "/healthz", NULL, 200);
    cr_assert_eq(waitpid(broker, NULL, WNOHANG), 0, "the broker died");
    free(text);
    json_decref(health);
    json_decref(found);
    json_decref(done);
}

/* The control: unconfined, the same attempts work (so the confined run's
 * failures are the sandbox's doing), and the broker warned at start. */
Test(hostile, the_same_job_unconfined_reads_it_all)
{
    json_t *done, *found, *ex, *item;
    char *text, *log, uid[32];
    pid_t child;
    size_t i;

    require_sandbox();
    done = hostile_run("unconfined", 0, unconfined_marker, &child);
    found = findings(str(done, "id"));
    text = json_dumps(found, JSON_INDENT(1) | JSON_SORT_KEYS);
    cr_assert_str_eq(str(json_object_get(done, "local"), "isolation"), "none");
    snprintf(uid, sizeof(uid), "ok:%u", (unsigned)geteuid());
    cr_assert_str_eq(str(found, "uid"), uid, "the broker's: %s", text);
    cr_assert_str_eq(str(found, "inherited_fds"), "ok:0", "%s", text);
    cr_assert(!is_error(found, "proc_environ"), "%s", text);
    cr_assert(!is_error(found, "state_db"), "%s", text);
    cr_assert(!is_error(found, "other_job"), "%s", text);
    cr_assert(!is_error(found, "signal"), "%s", text);
    cr_assert_str_neq(str(found, "secret_file"), "ok:0", "%s", text);
    cr_assert_neq(wait_marked(unconfined_marker, 1, 1000), 0,
                  "unconfined, the setsid child survives");
    ex = call(LIMITED, "GET", "/v1/executors", NULL, 200);
    json_array_foreach(json_object_get(ex, "items"), i, item) cr_assert_str_eq(
        str(item, "isolation"),
        strcmp(str(item, "name"), "unconfined") == 0 ? "none" : "bwrap");
    log = t_slurp_file(fopen(logpath, "r"));
    cr_assert(strstr(log, "executor unconfined runs jobs unconfined "
                          "(isolation: none)"),
              "%s", log);
    free(log);
    free(text);
    json_decref(ex);
    json_decref(found);
    json_decref(done);
}
