/* Two real `dsbroker serve` replicas on one PostgreSQL state store (the
 * fixture cluster, a database of its own) and one state_dir, with job
 * leases of 2 s (docs/jobs.md, "Replicas and leases"): replica ra runs an
 * EMR job (the scripted endpoint, tests/jobs/emr_endpoint.py), a local job
 * and queues another (the stand-in spark-submit); a cancel sent to rb is
 * carried out by ra.  ra is killed (SIGKILL): rb takes its jobs over
 * within a bound a little above the lease: the EMR job is tracked to its
 * end with StartJobRun sent once, the running local job is failed once,
 * naming ra, and not run again, the queued one is started by rb; an EMR
 * submit whose StartJobRun was in flight is sent again by rb with the
 * same clientToken.  ra, started again under its id, leaves rb's jobs
 * alone, and a cancel it gets for one of them is carried out by rb.  A
 * replica killed and started again while the other is paused takes its
 * own jobs back at its start. */
#include <criterion/criterion.h>
#include <libpq-fe.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "http/http_support.h"
#include "pg_admin.h"
#include "util.h"

extern char **environ;

static const char broker_yaml[] =
    "listen: 127.0.0.1:0\n"
    "state_dir: ${DSB_TEST_STATE_DIR}/state\n"
    "log_level: info\n"
    "state:\n"
    "  store: postgresql\n"
    "  url: \"${DSB_TEST_STATE_URL}\"\n"
    "  password: \"file:${DSB_TEST_PG_PASSWORD_FILE}\"\n"
    "  replica_id: %s\n"
    "  lease_seconds: 2\n"
    "executors:\n"
    "  - name: local\n"
    "    type: local-spark\n"
    "    networks: [local]\n"
    "    spark_submit: ${DSB_TEST_STATE_DIR}/fake-spark-submit.sh\n"
    "    isolation: none\n"
    "    max_running_jobs: 1\n"
    "  - name: spare\n"
    "    type: local-spark\n"
    "    networks: [local]\n"
    "    spark_submit: ${DSB_TEST_STATE_DIR}/fake-spark-submit.sh\n"
    "    isolation: none\n"
    "  - name: standard\n"
    "    type: emr-serverless\n"
    "    networks: [public]\n"
    "    application_id: app-std\n"
    "    execution_role_arn: arn:aws:iam::123456789012:role/dsb-job\n"
    "    endpoint_url: ${DSB_TEST_EMR_URL}\n"
    "    staging_uri: s3://dsb-jobs/staging/\n"
    "    log_uri: s3://dsb-jobs/logs/\n"
    "default_executor: local\n";

static struct t_pg pg;
static char *dir, db[64];
static char base_a[64], base_b[64];
static pid_t pid_a, pid_b, pid_ep;

/* The scripted EMR Serverless (and S3) endpoint: runs stay RUNNING until
 * DIR/ep/release-running exists; StartJobRun is answered only while
 * DIR/ep/release-post exists (the run is made when the request comes). */
static void start_endpoint(void)
{
    char *py = t_src("tests/jobs/emr_endpoint.py"), ep[4200], cfg[4300],
         port[4300], logf[4300];
    char *argv[] = {"python3", py, cfg, port, logf, NULL};
    char url[64], *text = NULL;
    size_t len;

    snprintf(ep, sizeof(ep), "%s/ep", dir);
    cr_assert_eq(mkdir(ep, 0700), 0);
    snprintf(cfg, sizeof(cfg), "%s/config.json", ep);
    snprintf(port, sizeof(port), "%s/port", ep);
    snprintf(logf, sizeof(logf), "%s/requests.log", ep);
    t_write(ep, "config.json",
            "{\"states\": [\"RUNNING\", \"SUCCESS\"], \"hold_state\": "
            "{\"state\": \"RUNNING\", \"until\": \"release-running\"}, "
            "\"hold\": {\"POST\": \"release-post\"}}");
    t_write(ep, "release-post", "");
    cr_assert_eq(posix_spawnp(&pid_ep, "python3", NULL, NULL, argv, environ),
                 0);
    for (int i = 0; i < 400 && !text; i++) {
        t_sleep_ms(25);
        text = dsb_read_file(port, 64, &len);
    }
    cr_assert_not_null(text, "the scripted endpoint did not start");
    snprintf(url, sizeof(url), "http://127.0.0.1:%s", text);
    free(text);
    free(py);
    t_aws_test_env(url);
    setenv("DSB_TEST_EMR_URL", url, 1);
}

static void setup(void)
{
    char cmd[9000];
    char *fake = t_src("tests/jobs/fake-spark-submit.sh");

    t_http_env();
    dir = t_pg_state_env(&pg, "state_store", db);
    snprintf(cmd, sizeof(cmd),
             "mkdir -p %s/a/conf.d %s/b/conf.d && cp %s %s/ && "
             "chmod 755 %s/fake-spark-submit.sh",
             dir, dir, fake, dir, dir);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
    free(fake);
    {
        char *secret = t_slurp_file(fopen(pg.password_file, "r"));

        secret[strcspn(secret, "\n")] = '\0';
        t_canary_value("state-pg", secret);
        free(secret);
    }
    start_endpoint();
}

static void stop(pid_t *pid, int sig)
{
    if (*pid > 0) {
        kill(*pid, sig);
        kill(*pid, SIGCONT); /* one a test paused */
        waitpid(*pid, NULL, 0);
    }
    *pid = 0;
}

static void keep_log(const char *who)
{
    char path[4300];

    snprintf(path, sizeof(path), "%s/%s/broker.log", dir, who);
    t_canary_keep_file("broker-log", path);
}

/* Kills the spark-submits of the jobs still active in the store (a test
 * that failed half-way leaves them running: brokers leave their jobs to
 * the next process). */
static void kill_active_jobs(void)
{
    PGconn *c = t_pg_conn(&pg, db);
    PGresult *r;

    r = PQexec(c, "SELECT doc::json -> 'local' ->> 'pid' FROM jobs WHERE "
                  "state IN ('pending', 'running', 'cancelling') AND "
                  "doc::json -> 'local' ->> 'pid' IS NOT NULL");
    for (int i = 0; PQresultStatus(r) == PGRES_TUPLES_OK && i < PQntuples(r);
         i++) {
        pid_t pid = (pid_t)atol(PQgetvalue(r, i, 0));
        if (pid > 1)
            kill(-pid, SIGKILL);
    }
    PQclear(r);
    PQfinish(c);
}

static void teardown(void)
{
    stop(&pid_a, SIGTERM);
    stop(&pid_b, SIGTERM);
    kill_active_jobs();
    stop(&pid_ep, SIGTERM);
    keep_log("a");
    keep_log("b");
    t_pg_drop_db(&pg, db);
    free(dir);
}

TestSuite(replicas, .init = setup, .fini = teardown, .timeout = 90);

/* Starts replica `who` ("a", "b": replica_id "r" who) as a real broker
 * process; its base URL into base. */
static pid_t spawn(const char *who, char *base)
{
    char conf[4400], work[4300], logp[4400], yaml[2048], id[8];
    char *pdir = t_path("DSB_TEST_PLUGIN_DIR", "http");
    pid_t pid;

    snprintf(id, sizeof(id), "r%s", who);
    snprintf(work, sizeof(work), "%s/%s", dir, who);
    snprintf(conf, sizeof(conf), "%s/conf.d", work);
    snprintf(logp, sizeof(logp), "%s/broker.log", work);
    snprintf(yaml, sizeof(yaml), broker_yaml, id);
    t_write(conf, "broker.yaml", yaml);
    pid = t_spawn_serve(conf, pdir, work, logp);
    snprintf(base, 64, "%s", t_base);
    free(pdir);
    return pid;
}

static json_t *call(const char *base, const char *method, const char *path,
                    const char *body, long status)
{
    struct t_resp r;
    json_t *j;

    snprintf(t_base, sizeof(t_base), "%s", base);
    r = t_req(method, path,
              (const char *const[]){"Content-Type: application/json", NULL},
              body);
    cr_assert_eq(r.status, status, "%s %s%s: %ld %s", method, base, path,
                 r.status, r.body);
    j = t_json(&r);
    t_free(&r);
    return j;
}

/* Member k of o, "(absent)" when it is not a string. */
static const char *str(const json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));

    return v ? v : "(absent)";
}

static json_t *job_get(const char *base, const char *id)
{
    char p[160];

    snprintf(p, sizeof(p), "/v1/jobs/%s", id);
    return call(base, "GET", p, NULL, 200);
}

/* The job as base shows it once member key is want (state, replica),
 * within ms; fails naming what it was. */
static json_t *wait_for(const char *base, const char *id, const char *key,
                        const char *want, int64_t ms)
{
    int64_t end = dsb_monotonic_ms() + ms;
    json_t *j = NULL;

    for (;;) {
        const char *v;

        json_decref(j);
        j = job_get(base, id);
        v = str(j, key);
        if (strcmp(v, want) == 0)
            return j;
        if (dsb_monotonic_ms() > end)
            break;
        t_sleep_ms(20);
    }
    cr_assert_fail("job %s: %s is %s, not %s after %lld ms (%s)", id, key,
                   str(j, key), want, (long long)ms, str(j, "reason"));
    return NULL;
}

static char *submit(const char *base, const char *sid, const char *executor,
                    const char *mode)
{
    char p[160], body[256];
    json_t *j;
    char *id;

    snprintf(p, sizeof(p), "/v1/sessions/%s/jobs", sid);
    snprintf(body, sizeof(body),
             "{\"code\":\"print(1)\",\"executor\":\"%s\",\"args\":[\"%s\"]}",
             executor, mode);
    j = call(base, "POST", p, body, 202);
    id = strdup(str(j, "id"));
    json_decref(j);
    return id;
}

/* Cancels job id on base, a replica that does not own it: the answer is
 * a cancel in progress; then the owner (owner) carries it out. */
static void cancel_elsewhere(const char *base, const char *id,
                             const char *owner)
{
    char p[160];
    json_t *j, *done;

    snprintf(p, sizeof(p), "/v1/jobs/%s", id);
    j = call(base, "DELETE", p, NULL, 200);
    cr_assert_str_eq(str(j, "state"), "cancelling");
    cr_assert(json_is_true(json_object_get(j, "cancel_requested")));
    cr_assert_str_eq(str(j, "replica"), owner);
    cr_assert(strstr(str(j, "reason"), owner), "%s", str(j, "reason"));
    json_decref(j);
    done = wait_for(base, id, "state", "cancelled", 8000);
    cr_assert_str_eq(str(done, "replica"), owner, "carried out by %s", owner);
    cr_assert_str_eq(str(done, "reason"), "cancelled on request");
    cr_assert_null(json_object_get(done, "cancel_requested"));
    json_decref(done);
}

/* The StartJobRun requests the endpoint saw: how many, and how many
 * distinct clientTokens they carried. */
static void start_job_runs(int *n, int *tokens)
{
    char path[4300], *text, *save = NULL, seen[16][80];
    size_t len;

    snprintf(path, sizeof(path), "%s/ep/requests.log", dir);
    text = dsb_read_file(path, 1 << 24, &len);
    *n = *tokens = 0;
    for (char *line = text ? strtok_r(text, "\n", &save) : NULL; line;
         line = strtok_r(NULL, "\n", &save)) {
        json_t *r = json_loads(line, 0, NULL), *body;
        const char *tok;
        int known = 0;

        if (!r || strcmp(str(r, "method"), "POST") != 0 ||
            !strstr(str(r, "path"), "/jobruns")) {
            json_decref(r);
            continue;
        }
        (*n)++;
        body = json_loads(str(r, "body"), 0, NULL);
        tok = json_string_value(json_object_get(body, "clientToken"));
        cr_assert(tok, "a StartJobRun without clientToken");
        for (int i = 0; i < *tokens; i++)
            known |= strcmp(seen[i], tok) == 0;
        if (!known && *tokens < 16)
            snprintf(seen[(*tokens)++], sizeof(seen[0]), "%s", tok);
        json_decref(body);
        json_decref(r);
    }
    free(text);
}

/* POST body to base+path from a child process that gives up on the
 * answer (a submit whose StartJobRun is held); its pid. */
static pid_t post_async(const char *base, const char *path, const char *body)
{
    pid_t pid = fork();

    cr_assert(pid >= 0);
    if (pid == 0) {
        CURL *c = curl_easy_init();
        struct curl_slist *h =
            curl_slist_append(NULL, "Content-Type: application/json");
        char url[512];

        snprintf(url, sizeof(url), "%s%s", base, path);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, t_body_cb);
        curl_easy_perform(c);
        _exit(0);
    }
    return pid;
}

/* The id of the session's job on executor `executor` that is not `not`,
 * once base lists one (within 10 s). */
static char *other_job(const char *base, const char *sid, const char *executor,
                       const char * not )
{
    char p[160];
    int64_t end = dsb_monotonic_ms() + 10000;

    snprintf(p, sizeof(p), "/v1/sessions/%s/jobs", sid);
    while (dsb_monotonic_ms() < end) {
        json_t *l = call(base, "GET", p, NULL, 200), *it;
        char *found = NULL;
        size_t i;

        json_array_foreach(json_object_get(l, "items"), i, it)
        {
            if (!found && strcmp(str(it, "executor"), executor) == 0 &&
                strcmp(str(it, "id"), not ) != 0)
                found = strdup(str(it, "id"));
        }
        json_decref(l);
        if (found)
            return found;
        t_sleep_ms(20);
    }
    cr_assert_fail("no second %s job in session %s", executor, sid);
    return NULL;
}

/* Starts replicas ra and rb and creates a session on ra: its id. */
static char *both_replicas(void)
{
    json_t *s;
    char *sid;

    pid_a = spawn("a", base_a);
    pid_b = spawn("b", base_b);
    s = call(base_a, "POST", "/v1/sessions", NULL, 201);
    sid = strdup(str(s, "id"));
    json_decref(s);
    return sid;
}

static int alive(pid_t pid)
{
    char path[64];

    snprintf(path, sizeof(path), "/proc/%d", (int)pid);
    return access(path, F_OK) == 0;
}

Test(replicas, a_dead_replicas_jobs_are_taken_over_once)
{
    json_t *j;
    char *sid, *emr, *run, *queued, *spare, *inflight, path[4300], body[256];
    pid_t orphan, poster;
    int64_t killed, took;
    int n, tokens;

    sid = both_replicas();

    /* on ra: an EMR run, a running local job, a queued one */
    emr = submit(base_a, sid, "standard", "ok");
    j = wait_for(base_a, emr, "state", "running", 15000);
    cr_assert(json_is_string(
        json_object_get(json_object_get(j, "emr"), "job_run_id")));
    json_decref(j);
    run = submit(base_a, sid, "local", "sleep");
    j = wait_for(base_a, run, "state", "running", 10000);
    orphan = (pid_t)json_integer_value(
        json_object_get(json_object_get(j, "local"), "pid"));
    cr_assert_gt(orphan, 0);
    cr_assert_str_eq(str(j, "replica"), "ra");
    cr_assert_str_eq(str(j, "started_on"), "ra");
    json_decref(j);
    queued = submit(base_a, sid, "local", "sleep");
    j = job_get(base_b, queued); /* any replica reads any job */
    cr_assert(json_is_true(json_object_get(j, "queued")), "%s",
              str(j, "state"));
    json_decref(j);

    /* a cancel sent to rb for ra's job: ra stops its process */
    spare = submit(base_a, sid, "spare", "sleep");
    json_decref(wait_for(base_a, spare, "state", "running", 10000));
    cancel_elsewhere(base_b, spare, "ra");

    /* an EMR job whose StartJobRun is on its way when ra dies (stored
     * with its clientToken just before it is sent) */
    snprintf(path, sizeof(path), "%s/ep/release-post", dir);
    cr_assert_eq(unlink(path), 0);
    snprintf(body, sizeof(body), "/v1/sessions/%s/jobs", sid);
    poster = post_async(base_a, body,
                        "{\"code\":\"print(2)\",\"executor\":\"standard\"}");
    inflight = other_job(base_b, sid, "standard", emr);
    for (int64_t end = dsb_monotonic_ms() + 10000;
         start_job_runs(&n, &tokens), n < 2 && dsb_monotonic_ms() < end;)
        t_sleep_ms(20);
    cr_assert_eq(n, 2, "the second StartJobRun never came");

    /* ra dies */
    stop(&pid_a, SIGKILL);
    waitpid(poster, NULL, 0);
    killed = dsb_monotonic_ms();
    j = wait_for(base_b, run, "state", "failed", 8000);
    took = dsb_monotonic_ms() - killed;
    cr_assert_str_eq(str(j, "replica"), "rb");
    cr_assert_str_eq(str(j, "reason"),
                     "the broker stopped while the job was running "
                     "(replica ra)");
    cr_assert_null(json_object_get(j, "exit_status"), "not run again");
    {
        json_int_t fin = json_integer_value(json_object_get(j, "finished_at"));
        json_decref(j);
        /* its spark-submit, left by ra, was stopped by rb (same host) */
        for (int64_t end = dsb_monotonic_ms() + 5000;
             alive(orphan) && dsb_monotonic_ms() < end;)
            t_sleep_ms(20);
        cr_assert_not(alive(orphan), "ra's spark-submit %d still runs",
                      (int)orphan);
        /* the queued job starts on rb */
        j = wait_for(base_b, queued, "state", "running", 8000);
        cr_assert_str_eq(str(j, "started_on"), "rb");
        cr_assert_str_eq(str(j, "replica"), "rb");
        json_decref(j);
        /* the EMR run is rb's now; the StartJobRun ra sent last is sent
         * again by rb with the same clientToken (its answer is held until
         * then), and both are followed to their end */
        json_decref(wait_for(base_b, emr, "replica", "rb", 8000));
        json_decref(wait_for(base_b, inflight, "replica", "rb", 8000));
        for (int64_t end = dsb_monotonic_ms() + 15000;
             start_job_runs(&n, &tokens), n < 3 && dsb_monotonic_ms() < end;)
            t_sleep_ms(20);
        cr_assert_eq(n, 3, "rb never sent the StartJobRun again");
        snprintf(path, sizeof(path), "%s/ep", dir);
        t_write(path, "release-post", "");
        t_write(path, "release-running", "");
        json_decref(wait_for(base_b, emr, "state", "succeeded", 15000));
        j = wait_for(base_b, inflight, "state", "succeeded", 15000);
        cr_assert_str_eq(str(json_object_get(j, "emr"), "job_run_id"), "run-2");
        json_decref(j);
        start_job_runs(&n, &tokens);
        cr_assert_eq(n, 3, "StartJobRun sent %d times", n);
        cr_assert_eq(tokens, 2, "a new clientToken was made");
        {
            char *log;
            snprintf(path, sizeof(path), "%s/b/broker.log", dir);
            log = t_slurp_file(fopen(path, "r"));
            cr_assert(strstr(log, "StartJobRun sent again after the replica "
                                  "that sent it stopped (same clientToken)"),
                      "rb's log says why it sent StartJobRun again");
            free(log);
        }

        /* ra again, under its id: rb's jobs stay rb's */
        pid_a = spawn("a", base_a);
        j = job_get(base_a, queued);
        cr_assert_str_eq(str(j, "state"), "running");
        cr_assert_str_eq(str(j, "replica"), "rb");
        json_decref(j);
        j = job_get(base_a, run);
        cr_assert_eq(json_integer_value(json_object_get(j, "finished_at")), fin,
                     "failed once");
        json_decref(j);
    }
    /* a cancel sent to ra for rb's job: rb stops it */
    cancel_elsewhere(base_a, queued, "rb");
    fprintf(stderr,
            "replicas: the local job was taken over %lld ms after ra was "
            "killed (lease 2000 ms)\n",
            (long long)took);
    cr_assert_lt(took, 6000, "taken over after %lld ms", (long long)took);
    free(sid);
    free(emr);
    free(run);
    free(queued);
    free(spare);
    free(inflight);
}

/* A replica killed and started again under its id takes its own jobs
 * back at its start, before it serves (rb, paused meanwhile, could not
 * have taken them): its local job is failed once, naming it. */
Test(replicas, a_restarted_replica_takes_its_own_jobs_back)
{
    json_t *j;
    char *sid, *run;
    pid_t orphan;

    sid = both_replicas();
    run = submit(base_a, sid, "spare", "sleep");
    j = wait_for(base_a, run, "state", "running", 10000);
    orphan = (pid_t)json_integer_value(
        json_object_get(json_object_get(j, "local"), "pid"));
    json_decref(j);

    cr_assert_eq(kill(pid_b, SIGSTOP), 0);
    stop(&pid_a, SIGKILL);
    pid_a = spawn("a", base_a);
    j = job_get(base_a, run);
    cr_assert_str_eq(str(j, "state"), "failed", "not taken back at start");
    cr_assert_str_eq(str(j, "reason"),
                     "the broker stopped while the job was running "
                     "(replica ra)");
    cr_assert_str_eq(str(j, "replica"), "ra");
    json_decref(j);
    for (int64_t end = dsb_monotonic_ms() + 5000;
         alive(orphan) && dsb_monotonic_ms() < end;)
        t_sleep_ms(20);
    cr_assert_not(alive(orphan), "the spark-submit %d still runs", (int)orphan);
    cr_assert_eq(kill(pid_b, SIGCONT), 0);
    /* rb, awake, reads the record as ra left it */
    j = job_get(base_b, run);
    cr_assert_str_eq(str(j, "state"), "failed");
    cr_assert_str_eq(str(j, "replica"), "ra");
    json_decref(j);
    free(sid);
    free(run);
}

/* The start with extra in the state section fails; the diagnostics name
 * what. */
static void refused(const char *extra, const char *what)
{
    char conf[4300], yaml[1024];

    snprintf(conf, sizeof(conf), "%s/a/conf.d", dir);
    snprintf(yaml, sizeof(yaml),
             "listen: 127.0.0.1:0\n"
             "state_dir: ${DSB_TEST_STATE_DIR}/state\n"
             "state:\n"
             "  store: postgresql\n"
             "  url: \"${DSB_TEST_STATE_URL}\"\n"
             "  password: \"file:${DSB_TEST_PG_PASSWORD_FILE}\"\n"
             "%s",
             extra);
    t_start_refused(conf, yaml, what);
}

Test(replicas, bad_replica_settings_stop_the_start)
{
    refused("  replica_id: \"web 1\"\n",
            "state.replica_id \"web 1\" is not a replica name");
    refused("  replica_id: \"\"\n", "is not a replica name");
    refused("  replica_id: "
            "r12345678901234567890123456789012345678901234567890123456789012345"
            "\n",
            "give 1 to 64 of");
    refused("  lease_seconds: 1\n", "lease_seconds");
    refused("  lease_seconds: 601\n", "lease_seconds");
}

/* The events connections of brokers on the test's database. */
static long events_connections(void)
{
    char sql[256];

    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM pg_stat_activity WHERE datname = '%s' "
             "AND application_name = 'dsbroker-events'",
             db);
    return t_pg_count(&pg, "postgres", sql);
}

/* Two live brokers under one state.replica_id would both renew, track and
 * cancel the same jobs: the second is refused, naming the first's
 * connection; once the first is dead the id is free at once. */
Test(replicas, a_second_broker_under_a_live_id_is_refused)
{
    char *pdir = t_path("DSB_TEST_PLUGIN_DIR", "http");
    char conf[4300], yaml[2048];
    struct dsb_server_opts o = {.conf_dir = conf, .plugin_dir = pdir};

    pid_a = spawn("a", base_a);
    snprintf(conf, sizeof(conf), "%s/b/conf.d", dir);
    snprintf(yaml, sizeof(yaml), broker_yaml, "ra");
    t_start_refused(conf, yaml,
                    "another broker runs as replica \"ra\": its events "
                    "connection (PostgreSQL backend pid ");
    /* its backend ends after the refused start's PQfinish, not with it */
    for (int64_t end = dsb_monotonic_ms() + 30000;
         events_connections() > 1 && dsb_monotonic_ms() < end;)
        t_sleep_ms(20);
    cr_assert_eq(events_connections(), 1, "the refused start left one");

    stop(&pid_a, SIGKILL);
    for (int64_t end = dsb_monotonic_ms() + 30000;
         events_connections() > 0 && dsb_monotonic_ms() < end;)
        t_sleep_ms(20);
    cr_assert_eq(events_connections(), 0, "ra's connection outlived it");
    t_start_opts(&o);
    cr_assert_eq(events_connections(), 1);
    t_stop();
    free(pdir);
}

/* Submits racing on both replicas to an executor that runs one job at a
 * time: the admissions are one step across replicas, so exactly one job
 * starts and the others queue. */
Test(replicas, limits_hold_across_replicas)
{
    enum { N = 8 };
    char p[160], body[256];
    pid_t kids[N];
    json_t *l, *it;
    size_t i;
    int started = 0, queued = 0;
    char *sid;

    sid = both_replicas();
    snprintf(p, sizeof(p), "/v1/sessions/%s/jobs", sid);
    snprintf(body, sizeof(body),
             "{\"code\":\"print(1)\",\"executor\":\"local\","
             "\"args\":[\"sleep\"]}");
    for (int k = 0; k < N; k++)
        kids[k] = post_async(k % 2 ? base_b : base_a, p, body);
    for (int k = 0; k < N; k++)
        waitpid(kids[k], NULL, 0);
    l = call(base_b, "GET", p, NULL, 200);
    json_array_foreach(json_object_get(l, "items"), i, it)
    {
        if (json_is_true(json_object_get(it, "queued")))
            queued++;
        else if (!strcmp(str(it, "state"), "pending") ||
                 !strcmp(str(it, "state"), "running"))
            started++;
    }
    cr_assert_eq(json_array_size(json_object_get(l, "items")), N);
    cr_assert_eq(started, 1, "%d jobs started on an executor that runs one",
                 started);
    cr_assert_eq(queued, N - 1);
    json_decref(l);
    free(sid);
}
