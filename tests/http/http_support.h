/* HTTP runtime tests: an in-process server on 127.0.0.1 with the
 * confd-http fixture, and a libcurl client. */
#ifndef DSB_TESTS_HTTP_SUPPORT_H
#define DSB_TESTS_HTTP_SUPPORT_H

#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "http/server.h"
#include "support.h"
#include "util.h"

#define T_PASSWORD "fixture-pw-123"
#define T_ADMIN "admin-token-0123456789"
#define T_LIMITED "limited-token-0123456789"
#define T_READ "read-token-0123456789"
#define T_SESSIONS "sessions-token-0123456789"
#define T_CONTEXT "context-token-0123456789"
#define T_JOBS "jobs-token-0123456789"
#define T_OTHER "other-token-0123456789"

struct t_resp {
    long status;
    char *body;
    size_t len;
    char *headers;
    size_t hlen;
};

static inline size_t t_grow(char **buf, size_t *len, const void *p, size_t n)
{
    char *nb = realloc(*buf, *len + n + 1);

    cr_assert(nb);
    memcpy(nb + *len, p, n);
    *len += n;
    nb[*len] = '\0';
    *buf = nb;
    return n;
}

static inline size_t t_body_cb(char *p, size_t sz, size_t n, void *ud)
{
    struct t_resp *r = ud;
    return t_grow(&r->body, &r->len, p, sz * n);
}

static inline size_t t_hdr_cb(char *p, size_t sz, size_t n, void *ud)
{
    struct t_resp *r = ud;
    return t_grow(&r->headers, &r->hlen, p, sz * n);
}

/* A whole file ("" when f is NULL). */
static inline char *t_slurp_file(FILE *f)
{
    char *buf = NULL;
    size_t len = 0, n;
    char chunk[4096];

    while (f && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        t_grow(&buf, &len, chunk, n);
    if (f)
        fclose(f);
    return buf ? buf : calloc(1, 1);
}

/* Secret scan (tests/secrets-scan/scan.py): with DSB_CANARY_DIR set, the
 * secret values of these tests are registered as canaries and every
 * response body and server log is kept under DIR/captures for the scan. */
static inline FILE *t_canary_open(const char *sub, const char *kind)
{
    static unsigned seq;
    const char *dir = getenv("DSB_CANARY_DIR");
    char path[4096];

    if (!dir || !*dir)
        return NULL;
    snprintf(path, sizeof(path), "%s/%s", dir, sub);
    mkdir(path, 0755);
    snprintf(path, sizeof(path), "%s/%s/%s-%d-%u", dir, sub, kind,
             (int)getpid(), seq++);
    return fopen(path, "w");
}

static inline void t_canary_keep(const char *kind, const char *data, size_t len)
{
    FILE *f = t_canary_open("captures", kind);

    if (f) {
        fwrite(data, 1, len, f);
        fclose(f);
    }
}

static inline void t_canary_keep_file(const char *kind, const char *path)
{
    char *text = t_slurp_file(fopen(path, "r"));

    t_canary_keep(kind, text, strlen(text));
    free(text);
}

/* Every regular file under dir (hidden ones aside) kept as a capture of
 * kind for the secret scan, e.g. a job's whole directory. */
static inline void t_canary_keep_tree(const char *kind, const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    struct stat st;
    char p[4400];

    cr_assert(d, "cannot read %s", dir);
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        if (stat(p, &st) == 0 && S_ISDIR(st.st_mode))
            t_canary_keep_tree(kind, p);
        else if (S_ISREG(st.st_mode))
            t_canary_keep_file(kind, p);
    }
    closedir(d);
}

static inline void t_canary_register(void)
{
    FILE *f = t_canary_open("canaries", "http");

    if (f) {
        fprintf(f, "%s\n%s\n%s\n%s\n%s\n%s\n%s\n%s\n", T_PASSWORD, T_ADMIN,
                T_LIMITED, T_READ, T_SESSIONS, T_CONTEXT, T_JOBS, T_OTHER);
        fclose(f);
    }
}

/* Registers one more canary value (a secret the test knows). */
static inline void t_canary_value(const char *kind, const char *value)
{
    FILE *f = t_canary_open("canaries", kind);

    if (f) {
        fprintf(f, "%s\n", value);
        fclose(f);
    }
}

/* Links from/so into the plugin directory pdir. */
static inline void t_link_plugin(const char *pdir, const char *from,
                                 const char *so)
{
    size_t ns = strlen(from) + strlen(so) + 2,
           nd = strlen(pdir) + strlen(so) + 2;
    char *src = malloc(ns), *dst = malloc(nd);

    snprintf(src, ns, "%s/%s", from, so);
    snprintf(dst, nd, "%s/%s", pdir, so);
    cr_assert(symlink(src, dst) == 0, "cannot link %s", src);
    free(src);
    free(dst);
}

/* Environment every test server reads (conf.d interpolation). */
static inline void t_http_env(void)
{
    char *state = t_tmpdir();
    char *sd = malloc(strlen(state) + 16);

    snprintf(sd, strlen(state) + 16, "%s/state", state);
    setenv("DSB_TEST_STATE_DIR", sd, 1);
    setenv("DSB_TEST_FIXTURE_PASSWORD", T_PASSWORD, 1);
    setenv("DSB_TEST_TOKEN_ADMIN", T_ADMIN, 1);
    setenv("DSB_TEST_TOKEN_LIMITED", T_LIMITED, 1);
    setenv("DSB_TEST_TOKEN_READ", T_READ, 1);
    setenv("DSB_TEST_TOKEN_SESSIONS", T_SESSIONS, 1);
    setenv("DSB_TEST_TOKEN_CONTEXT", T_CONTEXT, 1);
    setenv("DSB_TEST_TOKEN_JOBS", T_JOBS, 1);
    setenv("DSB_TEST_TOKEN_OTHER", T_OTHER, 1);
    t_canary_register();
    free(state);
    free(sd);
}

static struct dsb_server *t_srv;
static char t_base[64];

/* A fake monotonic clock for the metadata cache (dsb_server_opts.clock_ms):
 * a test moves it with t_clock_advance instead of sleeping past a TTL. */
static _Atomic int64_t t_clock_ms = 1000000;

static inline int64_t t_clock(void)
{
    return atomic_load(&t_clock_ms);
}

static inline void t_clock_advance(int64_t ms)
{
    atomic_fetch_add(&t_clock_ms, ms);
}

/*
 * DSB_TEST_STORE_PG=1 (the suites' *_pg variants, tests/http/CMakeLists.txt)
 * runs a suite on state.store: postgresql: each server the test starts on
 * a fixture conf.d gets a copy of it (the other entries linked) whose
 * broker.yaml keeps state in a database of the fixture cluster made for
 * the test (its process: a restart finds its sessions), dropped when the
 * test's process exits.
 */
static char t_pg_db[64];

static inline int t_store_pg(void)
{
    const char *v = getenv("DSB_TEST_STORE_PG");

    return v && strcmp(v, "1") == 0;
}

/* Runs sql as the fixture cluster's superuser (postgres.sh psql); its
 * exit status (0: done). */
static inline int t_pg_admin(const char *sql)
{
    char script[1024], cmd[4096];
    char *svc = t_path("DSB_TEST_SERVICES", "");

    t_service("postgres", "DSB_TEST_PG_SCRIPT", script, sizeof(script));
    snprintf(cmd, sizeof(cmd),
             "bash '%s' psql '%s' -d postgres -c '%s' >/dev/null", script, svc,
             sql);
    free(svc);
    return system(cmd);
}

static inline void t_pg_drop(void)
{
    char sql[256];

    if (t_srv) { /* a test that ended early left its server running */
        dsb_server_stop(t_srv, 5000);
        t_srv = NULL;
    }

    snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)",
             t_pg_db);
    (void)t_pg_admin(sql); /* at exit: a leftover database harms nothing */
}

/* conf_dir as the server should see it: itself, or under
 * DSB_TEST_STORE_PG a copy on a new PostgreSQL database (malloc'd). */
static inline char *t_conf_for_store(const char *conf_dir)
{
    char port[16], pw[1024], hex[17], sql[256], path[4200];
    char *dir, *text;
    struct dirent *e;
    DIR *d;
    FILE *f;

    if (!t_store_pg())
        return strdup(conf_dir);
    t_service("postgres", "PGPORT", port, sizeof(port));
    t_service("postgres", "DSB_TEST_PG_PASSWORD_FILE", pw, sizeof(pw));
    if (!t_pg_db[0]) {
        cr_assert_eq(dsb_random_hex(hex, 8), 0);
        snprintf(t_pg_db, sizeof(t_pg_db), "http_state_%s", hex);
        snprintf(sql, sizeof(sql),
                 "CREATE DATABASE %s OWNER dsb_reader TEMPLATE template0",
                 t_pg_db);
        cr_assert_eq(t_pg_admin(sql), 0, "%s failed", sql);
        atexit(t_pg_drop);
    }
    /* the fixture's console.dir is relative to its own directory */
    snprintf(path, sizeof(path), "%s/../console", conf_dir);
    setenv("DSB_TEST_CONSOLE_DIR", path, 0);
    dir = t_tmpdir();
    d = opendir(conf_dir);
    cr_assert(d, "%s", conf_dir);
    while ((e = readdir(d))) {
        char src[4200];
        if (e->d_name[0] == '.' || !strcmp(e->d_name, "broker.yaml"))
            continue;
        snprintf(src, sizeof(src), "%s/%s", conf_dir, e->d_name);
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        cr_assert_eq(symlink(src, path), 0, "cannot link %s", src);
    }
    closedir(d);
    snprintf(path, sizeof(path), "%s/broker.yaml", conf_dir);
    f = fopen(path, "r");
    cr_assert(f, "%s", path);
    text = t_slurp_file(f);
    snprintf(path, sizeof(path), "%s/broker.yaml", dir);
    f = fopen(path, "w");
    cr_assert(f);
    fprintf(f,
            "%s\nstate:\n  store: postgresql\n  url: \"host=127.0.0.1 "
            "port=%s user=dsb_reader dbname=%s\"\n  password: \"file:%s\"\n",
            text, port, t_pg_db, pw);
    fclose(f);
    free(text);
    return dir;
}

/* Starts the server on conf_dir (NULL: the fixture) at a free port, its
 * cache on clock_ms (NULL: the real clock). */
static inline struct dsb_server *t_start_clocked(const char *conf_dir,
                                                 int64_t (*clock_ms)(void))
{
    char *fixture = t_src("tests/fixtures/confd-http");
    char *dir = t_conf_for_store(conf_dir ? conf_dir : fixture);
    char *pdir = t_path("DSB_TEST_PLUGIN_DIR", "http");
    struct dsb_server_opts o = {
        .conf_dir = dir, .plugin_dir = pdir, .clock_ms = clock_ms};
    struct dsb_diags d;

    dsb_diags_init(&d);
    t_srv = dsb_server_start(&o, &d);
    if (!t_srv)
        dsb_diags_print(&d, stderr);
    cr_assert(t_srv, "the server did not start");
    dsb_diags_free(&d);
    snprintf(t_base, sizeof(t_base), "http://127.0.0.1:%d",
             dsb_server_port(t_srv));
    if (t_store_pg() && getenv("DSB_TEST_STATE_DIR")) {
        char db[4200];
        snprintf(db, sizeof(db), "%s/dsbroker.db",
                 getenv("DSB_TEST_STATE_DIR"));
        cr_assert_neq(access(db, F_OK), 0,
                      "a server on the PostgreSQL store wrote %s", db);
    }
    free(dir);
    free(fixture);
    free(pdir);
    return t_srv;
}

/* Starts the server with o (a conf.d the test wrote): it must start
 * without a configuration error. */
static inline void t_start_opts(const struct dsb_server_opts *o)
{
    struct dsb_diags d;

    dsb_diags_init(&d);
    t_srv = dsb_server_start(o, &d);
    if (!t_srv || d.errors)
        dsb_diags_print(&d, stderr);
    cr_assert(t_srv && d.errors == 0, "the broker did not start");
    dsb_diags_free(&d);
    snprintf(t_base, sizeof(t_base), "http://127.0.0.1:%d",
             dsb_server_port(t_srv));
}

/* Writes yaml as conf_dir's broker.yaml and starts the broker on it: the
 * start must fail, and its diagnostics must contain what. */
static inline void t_start_refused(const char *conf_dir, const char *yaml,
                                   const char *what)
{
    char *pdir = t_path("DSB_TEST_PLUGIN_DIR", "http"), *text = NULL;
    struct dsb_server_opts o = {.conf_dir = conf_dir, .plugin_dir = pdir};
    struct dsb_diags d;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    cr_assert(f);
    t_write(conf_dir, "broker.yaml", yaml);
    dsb_diags_init(&d);
    t_srv = dsb_server_start(&o, &d);
    cr_assert_null(t_srv, "the broker started with %s", yaml);
    dsb_diags_print(&d, f);
    fclose(f);
    cr_assert(strstr(text, what), "no \"%s\" in: %s", what, text);
    dsb_diags_free(&d);
    free(text);
    free(pdir);
}

static inline void t_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* Starts the real `dsbroker serve` as a child on conf_dir with the plugins
 * of pdir, its stderr into log_path; waits for the port file it writes
 * into work_dir (generous: a loaded machine starts it slowly) and points
 * t_base at it.  Returns the child's pid. */
static inline pid_t t_spawn_serve(const char *conf_dir, const char *pdir,
                                  const char *work_dir, const char *log_path)
{
    char *bin = t_path("DSB_BUILD_DIR", "bin/dsbroker");
    char *portf = dsb_asprintf("%s/port", work_dir), buf[32];
    FILE *f = NULL;
    pid_t pid;

    cr_assert(portf);
    unlink(portf); /* the next port file is the new server's */
    pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        FILE *lf = fopen(log_path, "w");
        if (lf)
            dup2(fileno(lf), 2);
        execl(bin, bin, "-c", conf_dir, "-P", pdir, "serve", "--port-file",
              portf, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 3000 && !(f = fopen(portf, "r")); i++)
        t_sleep_ms(10);
    cr_assert(f, "no port file: the broker did not start (see %s)", log_path);
    cr_assert(fgets(buf, sizeof(buf), f));
    fclose(f);
    snprintf(t_base, sizeof(t_base), "http://127.0.0.1:%d", atoi(buf));
    free(portf);
    free(bin);
    return pid;
}

static inline struct dsb_server *t_start(const char *conf_dir)
{
    return t_start_clocked(conf_dir, NULL);
}

static inline void t_stop(void)
{
    dsb_server_stop(t_srv, 5000);
    t_srv = NULL;
}

/*
 * One request.  path is appended to t_base.  hdrs: NULL-terminated list of
 * "Name: value" lines (may be NULL).  body may be NULL.
 */
static inline struct t_resp t_req(const char *method, const char *path,
                                  const char *const *hdrs, const char *body)
{
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    struct t_resp r = {0};
    char url[4096];

    snprintf(url, sizeof(url), "%s%s", t_base, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    for (; hdrs && *hdrs; hdrs++)
        h = curl_slist_append(h, *hdrs);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, t_body_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, t_hdr_cb);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    cr_assert_eq(curl_easy_perform(c), CURLE_OK, "request %s %s failed", method,
                 url);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    if (!r.body)
        r.body = calloc(1, 1);
    t_canary_keep("http-body", r.body, r.len);
    return r;
}

static inline struct t_resp t_get(const char *path)
{
    return t_req("GET", path, NULL, NULL);
}

static inline struct t_resp t_post(const char *path, const char *json)
{
    static const char *const h[] = {"Content-Type: application/json", NULL};
    return t_req("POST", path, h, json);
}

/* The value of a response header (case-insensitive name), malloc'd. */
static inline char *t_header(const struct t_resp *r, const char *name)
{
    size_t n = strlen(name);

    for (const char *p = r->headers; p && *p; p = strchr(p, '\n') + 1) {
        if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
            const char *v = p + n + 1;
            while (*v == ' ')
                v++;
            return strndup(v, strcspn(v, "\r\n"));
        }
        if (!strchr(p, '\n'))
            break;
    }
    return NULL;
}

static inline json_t *t_json(const struct t_resp *r)
{
    json_error_t e;
    json_t *j = json_loads(r->body, 0, &e);

    cr_assert(j, "not JSON (%s): %s", e.text, r->body);
    return j;
}

static inline void t_free(struct t_resp *r)
{
    free(r->body);
    free(r->headers);
}

/* Asserts a problem+json with this status and code. */
static inline void t_problem(struct t_resp *r, long status, const char *code)
{
    char *ct = t_header(r, "Content-Type");
    json_t *j;

    cr_assert_eq(r->status, status, "status %ld, want %ld: %s", r->status,
                 status, r->body);
    cr_assert(ct && strcmp(ct, "application/problem+json") == 0, "%s", ct);
    j = t_json(r);
    cr_assert_eq(json_integer_value(json_object_get(j, "status")), status);
    cr_assert_str_eq(json_string_value(json_object_get(j, "code")), code, "%s",
                     r->body);
    cr_assert(json_object_get(j, "type") && json_object_get(j, "title") &&
              json_object_get(j, "detail") && json_object_get(j, "message"));
    free(ct);
    json_decref(j);
}

/* The fixture's call counter, read through POST .../check. */
static inline long t_calls(const char *source)
{
    char path[128];
    struct t_resp r;
    json_t *j;
    long n;

    snprintf(path, sizeof(path), "/v1/sources/%s/check", source);
    r = t_req("POST", path,
              (const char *const[]){"Authorization: Bearer " T_ADMIN, NULL},
              NULL);
    cr_assert_eq(r.status, 200, "%s", r.body);
    j = t_json(&r);
    n = (long)json_integer_value(json_object_get(j, "calls"));
    json_decref(j);
    t_free(&r);
    return n;
}

#endif
