/* Replicas on one PostgreSQL state store (docs/operators.md, "Running
 * several replicas"): real `dsbroker serve` processes on a database of
 * the fixture cluster.  A refresh on one flushes the others' caches; a
 * managed source made, changed or removed on one reaches the others (its
 * password through a store: reference) and a replica started later; the
 * If-Match of two replicas is one row's; a replica whose events
 * connection broke re-syncs what it missed.  A replica whose store is down
 * (a cluster of the test's own, stopped and started) answers cached
 * reads, refuses writes with 503 and Retry-After, and is whole again when
 * the store is back.  No secret value in any answer, log or event. */
#include <criterion/criterion.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "http/http_support.h"
#include "pg_admin.h"
#include "postgres/pg_support.h"
#include "util.h"

#define WAIT_MS 15000

struct replica {
    pid_t pid;
    char dir[4200], conf[4300], log[4300], base[64];
};

static struct t_pg pg;
static char *dir, *pdir, *pw, state_db[64], data_db[64];
static char state_url[512];
static struct replica reps[3];
static PGconn *listener; /* the test's own LISTEN: every event sent */
static char pgdir[4300]; /* the store-loss test's own cluster, or "" */

static void setup(void)
{
    t_http_env();
    pg_t_load_env();
    t_pg_init(&pg);
    pw = t_slurp_file(fopen(pg.password_file, "r"));
    pw[strcspn(pw, "\n")] = '\0';
    t_canary_value("replicas", pw);
    t_pg_create_db(&pg, "replica_state", state_db);
    t_pg_create_db(&pg, "replica_data", data_db);
    t_pg_url(&pg, state_db, state_url, sizeof(state_url));
    dir = t_tmpdir();
    pdir = dsb_asprintf("%s/plugins", dir);
    cr_assert(mkdir(pdir, 0700) == 0);
    t_link_plugin(pdir, getenv("DSB_PLUGIN_DIR"), "postgres.so");
    listener = t_pg_conn(&pg, state_db);
    PQclear(PQexec(listener, "LISTEN dsb_events"));
}

static int n_refresh, n_sources; /* events the test heard */

/* Reads the events that arrived: none holds the password. */
static void drain_events(void)
{
    PGnotify *n;

    PQconsumeInput(listener);
    while ((n = PQnotifies(listener)) != NULL) {
        cr_assert(!strstr(n->extra, pw), "a secret in an event: %s", n->extra);
        t_canary_keep("notify", n->extra, strlen(n->extra));
        n_refresh += strstr(n->extra, "\"kind\":\"refresh\"") != NULL;
        n_sources += strstr(n->extra, "\"kind\":\"sources\"") != NULL;
        PQfreemem(n);
    }
}

/* Waits on the test's LISTEN connection until *count reaches want. */
static void await_events(const int *count, int want, const char *kind)
{
    int64_t end = dsb_monotonic_ms() + WAIT_MS;

    for (drain_events(); *count < want; drain_events()) {
        struct pollfd p = {.fd = PQsocket(listener), .events = POLLIN};
        int64_t left = end - dsb_monotonic_ms();
        cr_assert(left > 0, "%d %s events, want %d", *count, kind, want);
        poll(&p, 1, (int)left);
    }
}

static void stop_replica(struct replica *r)
{
    char *text;

    if (r->pid <= 0)
        return;
    kill(r->pid, SIGTERM);
    waitpid(r->pid, NULL, 0);
    r->pid = 0;
    t_canary_keep_file("broker-log", r->log);
    text = t_slurp_file(fopen(r->log, "r"));
    cr_assert(!strstr(text, pw), "a secret in %s", r->log);
    cr_assert(!strstr(text, "Sanitizer"), "%s: %s", r->log, text);
    free(text);
}

static void own_pg(const char *cmd, const char *d);

static void teardown(void)
{
    for (int i = 0; i < 3; i++)
        stop_replica(&reps[i]);
    if (pgdir[0]) {
        char cmd[4400];
        own_pg("stop", pgdir);
        snprintf(cmd, sizeof(cmd), "rm -rf %s", pgdir);
        cr_assert_eq(system(cmd), 0);
    }
    PQfinish(listener);
    t_pg_drop_db(&pg, state_db);
    t_pg_drop_db(&pg, data_db);
    free(pw);
    free(pdir);
    free(dir);
}

TestSuite(replica, .init = setup, .fini = teardown, .timeout = 90);

/* broker.yaml of replica i on state url (a long cache TTL: what changes
 * in a listing here is a flush, not an expiry). */
static void write_conf(struct replica *r, int i, const char *url,
                       const char *password_file)
{
    char yaml[12000];

    snprintf(r->dir, sizeof(r->dir), "%s/r%d", dir, i);
    snprintf(r->conf, sizeof(r->conf), "%s/conf.d", r->dir);
    snprintf(r->log, sizeof(r->log), "%s/stderr.log", r->dir);
    mkdir(r->dir, 0700);
    mkdir(r->conf, 0700);
    snprintf(yaml, sizeof(yaml),
             "listen: 127.0.0.1:0\n"
             "state_dir: %s/state\n"
             "log_level: info\n"
             "cache:\n"
             "  ttl_seconds: 3600\n"
             "state:\n"
             "  store: postgresql\n"
             "  url: \"%s\"\n"
             "  password: \"file:%s\"\n",
             r->dir, url, password_file);
    t_write(r->conf, "broker.yaml", yaml);
}

static void spawn(struct replica *r)
{
    r->pid = t_spawn_serve(r->conf, pdir, r->dir, r->log);
    snprintf(r->base, sizeof(r->base), "%s", t_base);
}

static struct replica *replica(int i)
{
    write_conf(&reps[i], i, state_url, getenv("DSB_TEST_PG_PASSWORD_FILE"));
    return &reps[i];
}

/* One request to replica r; the answer never holds the password. */
static struct t_resp on(const struct replica *r, const char *method,
                        const char *path, const char *body,
                        const char *if_match)
{
    char im[200];
    struct t_resp resp;

    snprintf(t_base, sizeof(t_base), "%s", r->base);
    snprintf(im, sizeof(im), "If-Match: %s", if_match ? if_match : "");
    resp = t_req(method, path,
                 (const char *const[]){"Content-Type: application/json",
                                       if_match ? im : "X-None: 1", NULL},
                 body);
    cr_assert(!strstr(resp.body, pw), "a secret in %s %s: %s", method, path,
              resp.body);
    return resp;
}

/* Asks until the answer's status is want and its body holds needle (or,
 * needle starting with '!', does not), or the deadline passes. */
static void await(const struct replica *r, const char *path, long want,
                  const char *needle)
{
    int64_t end = dsb_monotonic_ms() + WAIT_MS;
    int neg = needle && needle[0] == '!';
    struct t_resp resp;

    for (;;) {
        resp = on(r, "GET", path, NULL, NULL);
        if (resp.status == want &&
            (!needle || (strstr(resp.body, needle + neg) != NULL) != neg))
            break;
        cr_assert(dsb_monotonic_ms() < end, "GET %s never gave %ld%s%s: %ld %s",
                  path, want, needle ? " with " : "", needle ? needle : "",
                  resp.status, resp.body);
        t_free(&resp);
        t_sleep_ms(20);
    }
    t_free(&resp);
}

/* Waits until the replica's log holds needle. */
static void await_log(const struct replica *r, const char *needle)
{
    int64_t end = dsb_monotonic_ms() + WAIT_MS;
    char *text;

    for (;;) {
        text = t_slurp_file(fopen(r->log, "r"));
        if (strstr(text, needle))
            break;
        free(text);
        cr_assert(dsb_monotonic_ms() < end, "%s never logged \"%s\"", r->log,
                  needle);
        t_sleep_ms(20);
    }
    free(text);
}

static const char pg_yaml_fmt[] = "name: pg\n"
                                  "plugin: postgres\n"
                                  "host: 127.0.0.1\n"
                                  "port: %s\n"
                                  "dbname: %s\n"
                                  "user: dsb_reader\n"
                                  "password: file:%s\n"
                                  "include_databases: [%s]\n"
                                  "sslmode: disable\n";

static void hand_written_pg(struct replica *r)
{
    char yaml[1200];

    snprintf(yaml, sizeof(yaml), pg_yaml_fmt, getenv("PGPORT"), data_db,
             getenv("DSB_TEST_PG_PASSWORD_FILE"), data_db);
    t_write(r->conf, "pg.yaml", yaml);
}

Test(replica, a_refresh_on_one_flushes_the_others)
{
    struct replica *a = replica(0), *b = replica(1);
    char tables[256], sql[200];
    struct t_resp r;
    int64_t t0;

    hand_written_pg(a);
    hand_written_pg(b);
    spawn(a);
    spawn(b);
    snprintf(tables, sizeof(tables),
             "/v1/sources/pg/databases/%s/schemas/public/tables", data_db);
    r = on(b, "GET", tables, NULL, NULL);
    cr_assert_eq(r.status, 200, "%s", r.body);
    t_free(&r);
    snprintf(sql, sizeof(sql),
             "SET ROLE dsb_reader; CREATE TABLE public.fresh_t (id int)");
    t_pg_exec(&pg, data_db, sql);
    r = on(b, "GET", tables, NULL, NULL);
    cr_assert(!strstr(r.body, "fresh_t"), "not cached: %s", r.body);
    t_free(&r);
    t0 = dsb_monotonic_ms();
    r = on(a, "POST", "/v1/sources/pg/refresh", NULL, NULL);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert(strstr(r.body, "\"replicas_notified\":true"), "%s", r.body);
    t_free(&r);
    await(b, tables, 200, "fresh_t");
    /* the TTL is an hour: the flush did it */
    cr_assert_lt(dsb_monotonic_ms() - t0, WAIT_MS);
    await_events(&n_refresh, 1, "refresh");
}

/* The managed source of the fixture cluster as a body. */
static char *pg_body(const char *description)
{
    return dsb_asprintf(
        "{\"name\":\"pg2\",\"plugin\":\"postgres\",\"host\":\"127.0.0.1\","
        "\"port\":%s,\"dbname\":\"%s\",\"user\":\"dsb_reader\","
        "\"sslmode\":\"disable\",\"include_databases\":[\"%s\"],"
        "\"description\":\"%s\",\"secrets\":{\"password\":\"%s\"}}",
        getenv("PGPORT"), data_db, data_db, description, pw);
}

static char *etag_of(struct t_resp *r)
{
    char *etag = t_header(r, "ETag");

    cr_assert(etag, "no ETag: %s", r->body);
    return etag;
}

struct put {
    const char *base, *if_match;
    char *body, *etag;
    long status;
};

static size_t keep_etag(char *p, size_t sz, size_t n, void *ud)
{
    struct put *put = ud;

    if (!strncasecmp(p, "ETag: ", 6))
        put->etag = strndup(p + 6, strcspn(p + 6, "\r\n"));
    return sz * n;
}

static size_t discard(char *p, size_t sz, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return sz * n;
}

/* A PUT of pg2 on its own thread (t_req's base is shared). */
static void *put_thread(void *arg)
{
    struct put *put = arg;
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    char url[128], im[200];

    snprintf(url, sizeof(url), "%s/v1/sources/pg2", put->base);
    snprintf(im, sizeof(im), "If-Match: %s", put->if_match);
    h = curl_slist_append(h, "Content-Type: application/json");
    h = curl_slist_append(h, im);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "PUT");
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, put->body);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, keep_etag);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, put);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &put->status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return NULL;
}

/* PUTs on a and b at once with if_match: one 200 (its ETag returned),
 * one 412. */
static char *race(const struct replica *a, const struct replica *b,
                  const char *if_match)
{
    struct put p[2] = {{a->base, if_match, pg_body("second by A"), NULL, 0},
                       {b->base, if_match, pg_body("second by B"), NULL, 0}};
    pthread_t t[2];
    char *won;
    int w;

    for (int i = 0; i < 2; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, put_thread, &p[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    cr_assert((p[0].status == 200 && p[1].status == 412) ||
                  (p[0].status == 412 && p[1].status == 200),
              "A %ld, B %ld", p[0].status, p[1].status);
    w = p[0].status == 200 ? 0 : 1;
    won = p[w].etag;
    cr_assert(won);
    free(p[1 - w].etag);
    for (int i = 0; i < 2; i++)
        free(p[i].body);
    return won;
}

Test(replica, managed_sources_follow_the_store)
{
    struct replica *a = replica(0), *b = replica(1), *c = replica(2);
    char *body = pg_body("first"), *e1, *e2, dbs[80], *text, path[4400];
    struct t_resp r;

    spawn(a);
    spawn(b);
    r = on(a, "POST", "/v1/sources", body, NULL);
    cr_assert_eq(r.status, 201, "%s", r.body);
    e1 = etag_of(&r);
    t_free(&r);
    /* A's file references the value in the store, never holds it */
    snprintf(path, sizeof(path), "%s/managed/pg2.yaml", a->conf);
    text = t_slurp_file(fopen(path, "r"));
    cr_assert(strstr(text, "\"store:pg2-password-"), "%s", text);
    free(text);
    await(b, "/v1/sources/pg2", 200, NULL);
    r = on(b, "GET", "/v1/sources/pg2/databases", NULL, NULL);
    snprintf(dbs, sizeof(dbs), "\"%s\"", data_db);
    cr_assert(r.status == 200 && strstr(r.body, dbs), "B cannot browse: %s",
              r.body);
    t_free(&r);
    /* a stale managed file and a replica started after the changes */
    snprintf(path, sizeof(path), "%s/managed", c->conf);
    mkdir(path, 0755);
    t_write(path, "ghost.yaml",
            "name: ghost\nplugin: postgres\nhost: 127.0.0.1\nport: 1\n"
            "user: nobody\nsslmode: disable\n");
    spawn(c);
    r = on(c, "GET", "/v1/sources/pg2/databases", NULL, NULL);
    cr_assert(r.status == 200 && strstr(r.body, dbs), "C at start: %s", r.body);
    t_free(&r);
    snprintf(path, sizeof(path), "%s/managed/ghost.yaml", c->conf);
    cr_assert_neq(access(path, F_OK), 0, "ghost.yaml was kept");
    text = t_slurp_file(fopen(c->log, "r"));
    cr_assert(strstr(text, "ghost.yaml removed"), "%s", text);
    free(text);
    /* A and B change it at once with the same ETag: the row is locked,
     * one wins, the other gets 412 */
    e2 = race(a, b, e1);
    r = on(b, "PUT", "/v1/sources/pg2", body, e1);
    t_problem(&r, 412, "precondition_failed");
    t_free(&r);
    await(b, "/v1/sources/pg2", 200, "second");
    await(a, "/v1/sources/pg2", 200, "second");
    /* A removes it: gone on B and C */
    r = on(a, "DELETE", "/v1/sources/pg2", NULL, e2);
    cr_assert_eq(r.status, 204, "%s", r.body);
    t_free(&r);
    await(b, "/v1/sources/pg2", 404, NULL);
    await(c, "/v1/sources/pg2", 404, NULL);
    await_events(&n_sources, 3, "sources");
    free(e1);
    free(e2);
    free(body);
}

/* A replica whose events connection broke re-syncs when it is back: a
 * document put into the store without an event (as if the event had been
 * sent while it was away) reaches it. */
/* A sync whose reload the replica refuses (its own conf.d has a source of
 * the same name) is tried again with a backoff until it succeeds, without
 * another event or a SIGHUP. */
Test(replica, a_refused_sync_is_retried)
{
    struct replica *a = replica(0), *b = replica(1);
    char *body = pg_body("managed"), path[4400];
    struct t_resp r;

    t_write(b->conf, "pg2.yaml",
            "name: pg2\nplugin: postgres\nhost: 127.0.0.1\nport: 1\n"
            "user: nobody\nsslmode: disable\ndescription: hand-written\n");
    spawn(a);
    spawn(b);
    r = on(a, "POST", "/v1/sources", body, NULL);
    cr_assert_eq(r.status, 201, "%s", r.body);
    t_free(&r);
    await_log(b, "the managed sources are synced again in 1 s");
    r = on(b, "GET", "/v1/sources/pg2", NULL, NULL);
    cr_assert(r.status == 200 && strstr(r.body, "hand-written"), "%s", r.body);
    t_free(&r);
    snprintf(path, sizeof(path), "%s/pg2.yaml", b->conf);
    cr_assert_eq(unlink(path), 0);
    await_log(b, "the managed sources are in sync again (a retry");
    await(b, "/v1/sources/pg2", 200, "\"managed\"");
    free(body);
}

Test(replica, a_replica_that_missed_events_resyncs)
{
    struct replica *b = replica(1);
    char sql[2400];
    PGconn *c;
    PGresult *q;
    struct t_resp r;

    spawn(b);
    snprintf(sql, sizeof(sql),
             "INSERT INTO dsb_managed_sources (name, text, etag, updated_ms) "
             "VALUES ('pg3', '{\"name\": \"pg3\", \"plugin\": \"postgres\", "
             "\"host\": \"127.0.0.1\", \"port\": %s, \"dbname\": \"%s\", "
             "\"user\": \"dsb_reader\", \"password\": \"file:%s\", "
             "\"sslmode\": \"disable\"}', '\"x\"', 0)",
             getenv("PGPORT"), data_db, getenv("DSB_TEST_PG_PASSWORD_FILE"));
    t_pg_exec(&pg, state_db, sql);
    r = on(b, "GET", "/v1/sources/pg3", NULL, NULL);
    cr_assert_eq(r.status, 404, "no event was sent: %s", r.body);
    t_free(&r);
    c = t_pg_conn(&pg, state_db);
    q = PQexec(c, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                  "WHERE application_name = 'dsbroker-events' AND datname = "
                  "current_database()");
    cr_assert(PQresultStatus(q) == PGRES_TUPLES_OK && PQntuples(q) == 1, "%s",
              PQerrorMessage(c));
    PQclear(q);
    PQfinish(c);
    await_log(b, "events connection to the state store is back");
    await(b, "/v1/sources/pg3", 200, NULL);
}

/* ------------------------------------------------------- store loss */

/* tests/scripts/postgres.sh CMD on the test's own cluster in d. */
static void own_pg(const char *cmd, const char *d)
{
    char *script = t_src("tests/scripts/postgres.sh"),
         *fixtures = t_src("tests/http/replica_pg.sql"), line[9000];

    snprintf(line, sizeof(line),
             "DSB_PG_FIXTURES=%s bash %s %s %s >%s/pg-%s.log 2>&1", fixtures,
             script, cmd, d, d, cmd);
    cr_assert_eq(system(line), 0, "postgres.sh %s failed (%s/pg-%s.log)", cmd,
                 d, cmd);
    free(script);
    free(fixtures);
}

/* KEY of the own cluster's postgres.env. */
static void own_env(const char *d, const char *key, char *out, size_t cap)
{
    char path[4400], line[1024];
    size_t n = strlen(key);
    FILE *f;

    snprintf(path, sizeof(path), "%s/postgres.env", d);
    f = fopen(path, "r");
    cr_assert(f, "%s", path);
    out[0] = '\0';
    while (fgets(line, sizeof(line), f))
        if (!strncmp(line, key, n) && line[n] == '=') {
            line[strcspn(line, "\n")] = '\0';
            snprintf(out, cap, "%s", line + n + 1);
        }
    fclose(f);
}

/* The MCP tool create_session while the store is down: a tool error
 * (not a protocol error) saying so, retryable. */
static void mcp_create_session_refused(const struct replica *a)
{
    static const char body[] =
        "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\","
        "\"params\":{\"name\":\"create_session\",\"arguments\":{},"
        "\"_meta\":{\"io.modelcontextprotocol/protocolVersion\":"
        "\"2026-07-28\",\"io.modelcontextprotocol/clientCapabilities\":{}}}}";
    struct t_resp r;
    json_t *j, *sc;

    snprintf(t_base, sizeof(t_base), "%s", a->base);
    r = t_req("POST", "/mcp",
              (const char *const[]){"Content-Type: application/json",
                                    "Accept: application/json, "
                                    "text/event-stream",
                                    "MCP-Protocol-Version: 2026-07-28",
                                    "Mcp-Method: tools/call",
                                    "Mcp-Name: create_session", NULL},
              body);
    cr_assert_eq(r.status, 200, "%s", r.body);
    j = t_json(&r);
    sc = json_object_get(json_object_get(j, "result"), "structuredContent");
    cr_assert(json_is_true(
                  json_object_get(json_object_get(j, "result"), "isError")) &&
                  json_is_true(json_object_get(sc, "retryable")),
              "%s", r.body);
    cr_assert_str_eq(json_string_value(json_object_get(sc, "code")),
                     "state_store_unavailable", "%s", r.body);
    json_decref(j);
    t_free(&r);
}

Test(replica, a_lost_store_refuses_writes_and_comes_back)
{
    struct replica *a = &reps[0], *b = &reps[1];
    char secrets[4400], doc[9000];
    char port[16], pwfile[4400], url[512], where[64], dbs[80];
    struct t_resp r;
    char *ra, *own_pw, *body = pg_body("lost"), *text, ctx[200], seed[4400];
    json_t *j;

    snprintf(pgdir, sizeof(pgdir), "%s/ownpg", dir);
    cr_assert(chmod(dir, 0711) == 0 && mkdir(pgdir, 0711) == 0);
    own_pg("start", pgdir);
    own_env(pgdir, "PGPORT", port, sizeof(port));
    own_env(pgdir, "DSB_TEST_PG_PASSWORD_FILE", pwfile, sizeof(pwfile));
    own_pw = t_slurp_file(fopen(pwfile, "r"));
    own_pw[strcspn(own_pw, "\n")] = '\0';
    t_canary_value("replicas-own", own_pw);
    snprintf(url, sizeof(url),
             "host=127.0.0.1 port=%s user=dsb_reader dbname=dsb_state", port);
    write_conf(a, 0, url, pwfile);
    hand_written_pg(a);
    /* a managed source of the SQLite days: the first start on the new
     * store copies it in rather than removing it */
    snprintf(seed, sizeof(seed), "%s/managed", a->conf);
    mkdir(seed, 0755);
    t_write(seed, "seeded.yaml",
            "name: seeded\nplugin: postgres\nhost: 127.0.0.1\nport: 1\n"
            "user: nobody\nsslmode: disable\n");
    /* one whose password secrets.store: file kept under state_dir/secrets,
     * which only this host has: its value moves into the store */
    snprintf(secrets, sizeof(secrets), "%s/state", a->dir);
    cr_assert(mkdir(secrets, 0700) == 0);
    strcat(secrets, "/secrets");
    cr_assert(mkdir(secrets, 0700) == 0);
    t_write(secrets, "seeded-pw-password-0123abcd", pw);
    snprintf(doc, sizeof(doc),
             "name: seeded-pw\nplugin: postgres\nhost: 127.0.0.1\n"
             "port: %s\ndbname: %s\nuser: dsb_reader\n"
             "password: \"file:%s/seeded-pw-password-0123abcd\"\n"
             "include_databases: [%s]\nsslmode: disable\n",
             getenv("PGPORT"), data_db, secrets, data_db);
    t_write(seed, "seeded-pw.yaml", doc);
    spawn(a);
    await_log(a, "managed source seeded copied into the new state store");
    await_log(a, "managed source seeded-pw: the value of password moved");
    snprintf(dbs, sizeof(dbs), "\"%s\"", data_db);
    r = on(a, "GET", "/v1/sources/seeded-pw/databases", NULL, NULL);
    cr_assert(r.status == 200 && strstr(r.body, dbs), "%s", r.body);
    t_free(&r);
    /* another replica, which has no such file, reads it from the store */
    write_conf(b, 1, url, pwfile);
    spawn(b);
    r = on(b, "GET", "/v1/sources/seeded-pw/databases", NULL, NULL);
    cr_assert(r.status == 200 && strstr(r.body, dbs), "%s", r.body);
    t_free(&r);
    snprintf(doc, sizeof(doc), "%s/managed/seeded-pw.yaml", b->conf);
    text = t_slurp_file(fopen(doc, "r"));
    cr_assert(strstr(text, "store:seeded-pw-password-") &&
                  !strstr(text, "file:"),
              "%s", text);
    free(text);
    stop_replica(b);
    r = on(a, "GET", "/v1/sources/seeded", NULL, NULL);
    cr_assert_eq(r.status, 200, "%s", r.body);
    t_free(&r);
    r = on(a, "GET", "/v1/sources/pg/databases", NULL, NULL);
    snprintf(dbs, sizeof(dbs), "\"%s\"", data_db);
    cr_assert(r.status == 200 && strstr(r.body, dbs), "%s", r.body);
    t_free(&r);

    r = on(a, "POST", "/v1/sessions", NULL, NULL);
    cr_assert_eq(r.status, 201, "%s", r.body);
    j = t_json(&r);
    snprintf(ctx, sizeof(ctx), "/v1/sessions/%s/context",
             json_string_value(json_object_get(j, "id")));
    json_decref(j);
    t_free(&r);
    r = on(a, "GET", ctx, NULL, NULL);
    cr_assert_neq(r.status, 503, "%s", r.body);
    t_free(&r);

    own_pg("stop", pgdir);
    r = on(a, "GET", "/readyz", NULL, NULL);
    cr_assert_eq(r.status, 503, "%s", r.body);
    cr_assert(strstr(r.body, "\"state_store\":false"), "%s", r.body);
    t_free(&r);
    r = on(a, "GET", "/v1/sources/pg/databases", NULL, NULL);
    cr_assert_eq(r.status, 200, "a cached read: %s", r.body);
    t_free(&r);
    r = on(a, "POST", "/v1/sessions", NULL, NULL);
    t_problem(&r, 503, "state_store_unavailable");
    ra = t_header(&r, "Retry-After");
    cr_assert(ra && atoi(ra) > 0, "Retry-After: %s", ra ? ra : "(none)");
    snprintf(where, sizeof(where), "127.0.0.1:%s", port);
    cr_assert(strstr(r.body, where) && strstr(r.body, "\"retryable\":true") &&
                  !strstr(r.body, own_pw),
              "%s", r.body);
    free(ra);
    t_free(&r);
    r = on(a, "POST", "/v1/sources", body, NULL);
    t_problem(&r, 503, "state_store_unavailable");
    t_free(&r);
    free(body);
    /* a refresh needs no store: this replica flushes, and says the others
     * were not told (they re-sync, dropping their caches, when their events
     * connection is back) */
    r = on(a, "POST", "/v1/sources/pg/refresh", NULL, NULL);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert(strstr(r.body, "\"flushed\":true") &&
                  strstr(r.body, "\"replicas_notified\":false"),
              "%s", r.body);
    t_free(&r);
    r = on(a, "GET", ctx, NULL, NULL);
    t_problem(&r, 503, "state_store_unavailable");
    t_free(&r);
    mcp_create_session_refused(a);
    /* the job store says "no such job" when unreadable: still a 503 */
    r = on(a, "DELETE", "/v1/jobs/j-anything", NULL, NULL);
    t_problem(&r, 503, "state_store_unavailable");
    t_free(&r);
    r = on(a, "POST", "/v1/sessions/s-anything/jobs", "{\"code\":\"print(1)\"}",
           NULL);
    t_problem(&r, 503, "state_store_unavailable");
    t_free(&r);

    own_pg("start", pgdir);
    await_log(a, "events connection to the state store is back");
    r = on(a, "GET", "/readyz", NULL, NULL);
    cr_assert_eq(r.status, 200, "%s", r.body);
    t_free(&r);
    r = on(a, "POST", "/v1/sessions", NULL, NULL);
    cr_assert_eq(r.status, 201, "%s", r.body);
    t_free(&r);
    stop_replica(a);
    text = t_slurp_file(fopen(a->log, "r"));
    cr_assert(!strstr(text, own_pw), "a secret in %s", a->log);
    free(text);
    free(own_pw);
}
