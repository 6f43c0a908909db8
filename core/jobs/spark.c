/*
 * The spark-submit executor: a Spark cluster's master, whose URL decides
 * the kind.  spark://HOST:PORT (standalone, client deploy mode): the
 * driver runs here, confined and tracked exactly like a local-spark job
 * (local.c's slots), with the executors on the cluster's workers; the
 * tracker follows the application on the master's web UI (/json/) and
 * records its id and state.  k8s://… and yarn: cluster deploy mode,
 * spark_remote.c.  The master URL's kind decides which slots run; broker.yaml
 * options of one kind given to another are refused when it is loaded.
 */
#include "jobs/spark.h"

#include <curl/curl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "jobs/local.h"
#include "log.h"
#include "util.h"
#include "yamldoc.h"

/* How often the tracker asks a standalone master about its applications,
 * and how many polls after the driver ended it still asks for the
 * application's final state. */
#define SPARK_POLL_MS 1000
#define SPARK_POLLS_AFTER_FINAL 5

enum dsb_spark_kind dsb_spark_kind_of(const char *master)
{
    if (!master)
        return DSB_SPARK_NONE;
    if (strncmp(master, "spark://", 8) == 0 && master[8] && master[8] != ':')
        return DSB_SPARK_STANDALONE;
    if (strncmp(master, "k8s://https://", 14) == 0 ||
        strncmp(master, "k8s://http://", 13) == 0)
        return DSB_SPARK_K8S;
    if (strcmp(master, "yarn") == 0)
        return DSB_SPARK_YARN;
    return DSB_SPARK_NONE;
}

static const char *opt(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

char *dsb_spark_master_ui(const json_t *opts)
{
    const char *ui = opt(opts, "master_ui_url");
    const char *master = opt(opts, "master");
    size_t n;

    if (ui)
        return dsb_asprintf(
            "%.*s", (int)(strlen(ui) - (ui[strlen(ui) - 1] == '/')), ui);
    if (dsb_spark_kind_of(master) != DSB_SPARK_STANDALONE)
        return NULL;
    master += 8;          /* the first of spark://H1:P1,H2:P2 */
    if (master[0] == '[') /* [v6]:port */
        n = strcspn(master, "]") + 1;
    else
        n = strcspn(master, ":,/");
    return dsb_asprintf("http://%.*s:8080", (int)n, master);
}

/* ---------------------------------------------------------- validation */

static void diag_at(struct dsb_diags *d, const struct dsb_ynode *n,
                    const char *key, const char *fmt, ...) DSB_PRINTF(4, 5);

/* An error at the position of key in map n (n itself when absent). */
static void diag_at(struct dsb_diags *d, const struct dsb_ynode *n,
                    const char *key, const char *fmt, ...)
{
    const struct dsb_ynode *at = dsb_ynode_get(n, key);
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (!at)
        at = n;
    dsb_diag_add(d, DSB_SEV_ERROR, at->file, at->line, at->col, "%s", msg);
}

/* Options one kind of master takes and another refuses (given in
 * broker.yaml, not defaults): the driver's confinement and address mean
 * nothing when the driver runs on the cluster, and the cluster deploy
 * mode's settings nothing to a standalone master. */
static const struct {
    const char *name;
    unsigned kinds; /* 1 << DSB_SPARK_* */
} kind_options[] = {
#define STANDALONE (1u << DSB_SPARK_STANDALONE)
#define K8S (1u << DSB_SPARK_K8S)
#define YARN (1u << DSB_SPARK_YARN)
    {"driver_host", STANDALONE},
    {"master_ui_url", STANDALONE},
    {"isolation", STANDALONE},
    {"network", STANDALONE},
    {"run_as", STANDALONE},
    {"max_memory_mb", STANDALONE},
    {"aws_credentials", STANDALONE},
    {"entry_point_dir", STANDALONE},
    {"bwrap", STANDALONE},
    {"max_output_mb", STANDALONE},
    {"max_log_mb", STANDALONE},
    {"python", STANDALONE},
    {"namespace", K8S},
    {"service_account", K8S},
    {"image", K8S},
    {"driver_pod_template", K8S},
    {"executor_pod_template", K8S},
    {"upload_path", K8S},
    {"queue", YARN},
    {"conf_dir", YARN},
    {"yarn", YARN},
    {NULL, 0},
#undef STANDALONE
#undef K8S
#undef YARN
};

static const char *const kind_names[] = {"", "a standalone master",
                                         "a Kubernetes master", "YARN"};

static void validate_kind_options(const struct dsb_ynode *n,
                                  enum dsb_spark_kind kind, const char *master,
                                  struct dsb_diags *d)
{
    for (size_t i = 0; kind_options[i].name; i++)
        if (dsb_ynode_get(n, kind_options[i].name) &&
            !(kind_options[i].kinds & (1u << kind))) {
            int k = 1;
            while (k < 4 && !(kind_options[i].kinds & (1u << k)))
                k++;
            diag_at(d, n, kind_options[i].name,
                    "option \"%s\" does not apply to master %s: only %s "
                    "takes it%s",
                    kind_options[i].name, master, kind_names[k],
                    kind == DSB_SPARK_STANDALONE
                        ? ""
                        : " (the driver runs on the cluster, not here)");
        }
}

static void required(const struct dsb_ynode *n, const json_t *opts,
                     const char *key, const char *master, const char *why,
                     struct dsb_diags *d)
{
    if (!opt(opts, key))
        diag_at(d, n, "master", "master %s needs option \"%s\": %s", master,
                key, why);
}

static void spark_validate(const struct dsb_ynode *n, const json_t *opts,
                           struct dsb_diags *d)
{
    const char *master = opt(opts, "master");
    const char *mode = opt(opts, "deploy_mode");
    enum dsb_spark_kind kind = dsb_spark_kind_of(master);

    if (!master)
        return; /* required: the option table said so */
    if (kind == DSB_SPARK_NONE) {
        diag_at(d, n, "master",
                "spark-submit master \"%s\" is not a cluster master: give "
                "spark://HOST:PORT (standalone), k8s://https://API-SERVER "
                "(Kubernetes) or yarn%s",
                master,
                strncmp(master, "local", 5) == 0
                    ? "; a local master is type local-spark"
                    : "");
        return;
    }
    validate_kind_options(n, kind, master, d);
    if (kind == DSB_SPARK_STANDALONE && mode && strcmp(mode, "client") != 0)
        diag_at(d, n, "deploy_mode",
                "deploy_mode \"%s\" with master %s: a standalone master runs "
                "Python jobs in client deploy mode only (the driver runs "
                "here, confined); remove deploy_mode or set it to client",
                mode, master);
    if (kind != DSB_SPARK_STANDALONE && dsb_ynode_get(n, "deploy_mode") &&
        strcmp(mode, "cluster") != 0)
        diag_at(d, n, "deploy_mode",
                "deploy_mode \"%s\" with master %s: the broker runs %s jobs "
                "in cluster deploy mode only (the driver runs on the "
                "cluster); remove deploy_mode or set it to cluster",
                mode, master, kind_names[kind]);
    if (kind == DSB_SPARK_STANDALONE && opt(opts, "network") &&
        strcmp(opt(opts, "network"), "none") == 0)
        diag_at(d, n, "network",
                "network: none with master %s: the driver must reach the "
                "master and its workers must reach the driver; remove "
                "network: none (%s)",
                master, "the default is host");
    if (opt(opts, "output_uri") &&
        strncmp(opt(opts, "output_uri"), "s3a://", 6) != 0)
        diag_at(d, n, "output_uri",
                "output_uri \"%s\" of master %s: give an s3a://bucket/prefix/ "
                "URI (the executors write it, the broker reads it)",
                opt(opts, "output_uri"), master);
    if (kind == DSB_SPARK_STANDALONE)
        return;
    required(n, opts, "output_uri", master,
             "DSB_OUTPUT must be a place the cluster writes and the broker "
             "reads (s3a://bucket/prefix/)",
             d);
    if (kind == DSB_SPARK_K8S) {
        required(n, opts, "image", master,
                 "the Spark image of the driver and executor pods "
                 "(spark.kubernetes.container.image)",
                 d);
        required(n, opts, "upload_path", master,
                 "where spark-submit uploads the job's script for the driver "
                 "pod (spark.kubernetes.file.upload.path, e.g. "
                 "s3a://bucket/uploads)",
                 d);
    }
}

/* ------------------------------------------------- the master's status */

struct buf {
    char *p;
    size_t n;
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct buf *b = ud;
    size_t add = size * nmemb;
    char *p;

    if (b->n + add > (8u << 20)) /* a master's /json/ is small */
        return 0;
    p = realloc(b->p, b->n + add + 1);
    if (!p)
        return 0;
    memcpy(p + b->n, ptr, add);
    b->p = p;
    b->n += add;
    b->p[b->n] = '\0';
    return add;
}

/* GET UI/json/ (new reference), NULL when it cannot be had. */
static json_t *master_json(const char *ui, char *why, size_t whylen)
{
    CURL *c = curl_easy_init();
    char *url = dsb_asprintf("%s/json/", ui);
    struct buf b = {0};
    json_t *out = NULL;
    long status = 0;
    CURLcode rc = CURLE_OUT_OF_MEMORY;

    if (c && url) {
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 3000L);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
        rc = curl_easy_perform(c);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    }
    if (rc != CURLE_OK)
        snprintf(why, whylen, "%s", curl_easy_strerror(rc));
    else if (status != 200)
        snprintf(why, whylen, "HTTP %ld", status);
    else if (!(out = b.p ? json_loads(b.p, 0, NULL) : NULL))
        snprintf(why, whylen, "the answer is not JSON");
    if (c)
        curl_easy_cleanup(c);
    free(url);
    free(b.p);
    return out;
}

const char *dsb_spark_app_state(const json_t *status, const char *app_id)
{
    static const char *const lists[] = {"activeapps", "completedapps"};

    for (size_t l = 0; app_id && l < 2; l++) {
        size_t i;
        json_t *a;
        json_array_foreach(json_object_get(status, lists[l]), i, a)
        {
            if (json_is_string(json_object_get(a, "id")) &&
                strcmp(json_string_value(json_object_get(a, "id")), app_id) ==
                    0)
                return json_string_value(json_object_get(a, "state"));
        }
    }
    return NULL;
}

int dsb_spark_app_final(const char *state)
{
    return state &&
           (strcmp(state, "FINISHED") == 0 || strcmp(state, "FAILED") == 0 ||
            strcmp(state, "KILLED") == 0);
}

char *dsb_spark_app_id_in(const char *text)
{
    static const char mark[] = "with app ID ";
    const char *p = text ? strstr(text, mark) : NULL, *q;

    while (p && text && (q = strstr(p + 1, mark)))
        p = q; /* the last one */
    if (!p)
        return NULL;
    p += sizeof(mark) - 1;
    q = p + strspn(p, "abcdefghijklmnopqrstuvwxyz0123456789-_");
    return q > p && q - p < 128 ? strndup(p, (size_t)(q - p)) : NULL;
}

/* The application id the driver logged (stderr.log in dir). */
static char *app_id_from_log(const char *dir)
{
    char *path = dir ? dsb_asprintf("%s/stderr.log", dir) : NULL, *text, *id;
    size_t len = 0;

    text = path ? dsb_file_tail(path, 0, 4 << 20, 0, &len) : NULL;
    free(path);
    id = dsb_spark_app_id_in(text);
    free(text);
    return id;
}

/* What one poll learnt of a watched job. */
struct seen {
    char id[40];
    char *dir, *ui, *app_id;
    int final;   /* the record is final */
    json_t *app; /* {"app_id", "state"} or NULL */
    char why[160];
};

/* The watched jobs' records, read under j->mu; a watch whose record is
 * gone, final for long enough or taken over by another replica is
 * dropped. */
static size_t collect(struct dsb_jobs *j, struct seen **out)
{
    struct dsb_spark_watch **pp = &j->spark_watch, *w;
    size_t n = 0, k = 0;

    for (w = j->spark_watch; w; w = w->next)
        n++;
    *out = n ? calloc(n, sizeof(**out)) : NULL;
    while (*out && (w = *pp) != NULL) {
        json_t *doc = dsb_jstore_get(j, w->id);
        const json_t *cl = json_object_get(doc, "cluster");
        int final = doc && dsb_job_is_final(dsb_job_str(doc, "state", NULL));
        const char *state = json_string_value(json_object_get(cl, "state"));
        const char *owner = dsb_job_str(doc, "replica", NULL);
        if (!doc || (owner && strcmp(owner, j->replica) != 0) ||
            (final && (w->polls_final++ >= SPARK_POLLS_AFTER_FINAL ||
                       dsb_spark_app_final(state)))) {
            *pp = w->next;
            free(w);
            json_decref(doc);
            continue;
        }
        struct seen *s = &(*out)[k++];
        snprintf(s->id, sizeof(s->id), "%s", w->id);
        s->dir = dsb_job_str(doc, "local", "dir")
                     ? strdup(dsb_job_str(doc, "local", "dir"))
                     : NULL;
        s->ui = dsb_job_str(doc, "cluster", "master_ui")
                    ? strdup(dsb_job_str(doc, "cluster", "master_ui"))
                    : NULL;
        s->app_id = dsb_job_str(doc, "cluster", "app_id")
                        ? strdup(dsb_job_str(doc, "cluster", "app_id"))
                        : NULL;
        s->final = final;
        json_decref(doc);
        pp = &w->next;
    }
    return k;
}

/* Asks the master (no lock held). */
static void look(struct seen *s)
{
    json_t *st;

    if (!s->app_id)
        s->app_id = app_id_from_log(s->dir);
    if (!s->app_id || !s->ui)
        return;
    st = master_json(s->ui, s->why, sizeof(s->why));
    if (st) {
        const char *state = dsb_spark_app_state(st, s->app_id);
        s->app = json_pack("{s:s, s:s?}", "app_id", s->app_id, "state", state);
        if (!state)
            snprintf(s->why, sizeof(s->why),
                     "the master does not list application %s", s->app_id);
    } else {
        s->app = json_pack("{s:s}", "app_id", s->app_id);
    }
    json_decref(st);
}

/* Writes what the poll learnt into the record (under j->mu), only when it
 * changed; a master that cannot be reached never fails the job. */
static void apply(struct dsb_jobs *j, const struct seen *s)
{
    json_t *doc = dsb_jstore_get(j, s->id), *cl;
    struct dsb_error err;
    int changed = 0;
    const char *k;
    json_t *v;

    cl = json_object_get(doc, "cluster");
    if (!json_is_object(cl) || (!s->app && !s->app_id)) {
        json_decref(doc);
        return;
    }
    if (s->app_id && !s->app && !json_is_string(json_object_get(cl, "app_id")))
        changed |= !json_object_set_new(cl, "app_id", json_string(s->app_id));
    json_object_foreach(s->app, k, v)
    {
        if (!json_equal(json_object_get(cl, k), v)) {
            json_object_set(cl, k, v);
            changed = 1;
        }
    }
    v = json_object_get(cl, "problem");
    if (s->app && s->why[0] &&
        (!v || strcmp(json_string_value(v), s->why) != 0))
        changed |= !json_object_set_new(cl, "problem", json_string(s->why));
    else if (s->app && !s->why[0] && v)
        changed |= !json_object_del(cl, "problem");
    if (changed && dsb_jstore_put(j, doc, &err) < 0)
        dsb_logf(DSB_LOG_ERROR, "jobs", "%s", err.message);
    json_decref(doc);
}

static void poll_master(struct dsb_jobs *j)
{
    struct seen *s = NULL;
    size_t n;

    pthread_mutex_lock(&j->mu);
    n = collect(j, &s);
    pthread_mutex_unlock(&j->mu);
    for (size_t i = 0; i < n; i++)
        look(&s[i]);
    pthread_mutex_lock(&j->mu);
    for (size_t i = 0; i < n; i++)
        apply(j, &s[i]);
    pthread_mutex_unlock(&j->mu);
    for (size_t i = 0; i < n; i++) {
        free(s[i].dir);
        free(s[i].ui);
        free(s[i].app_id);
        json_decref(s[i].app);
    }
    free(s);
}

/* --------------------------------------------------------------- slots */

static int is_standalone(const json_t *opts)
{
    return dsb_spark_kind_of(opt(opts, "master")) == DSB_SPARK_STANDALONE;
}

/* A record of the cluster deploy mode (k8s, YARN). */
static int is_remote(const json_t *doc)
{
    const char *kind = dsb_job_str(doc, "cluster", "kind");

    return kind && strcmp(kind, "standalone") != 0;
}

static int spark_start(struct dsb_jobs *j, const struct dsb_executor_conf *e,
                       const struct dsb_job_request *r, json_t *doc,
                       struct dsb_error *err)
{
    struct dsb_spark_watch *w;
    char *ui;
    int rc;

    if (!is_standalone(e->options))
        return dsb_spark_remote_start(j, e, r, doc, err);
    w = calloc(1, sizeof(*w));
    ui = dsb_spark_master_ui(e->options);
    if (!w) {
        free(ui);
        return dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
    }
    json_object_set_new(doc, "cluster",
                        json_pack("{s:s, s:s, s:s?, s:n, s:n}", "kind",
                                  "standalone", "master",
                                  opt(e->options, "master"), "master_ui", ui,
                                  "app_id", "state"));
    free(ui);
    rc = dsb_local_start(j, e, r, doc, err);
    if (rc < 0) {
        json_object_del(doc, "cluster");
        free(w);
        return -1;
    }
    snprintf(w->id, sizeof(w->id), "%s", dsb_job_str(doc, "id", NULL));
    pthread_mutex_lock(&j->mu);
    w->next = j->spark_watch;
    j->spark_watch = w;
    pthread_mutex_unlock(&j->mu);
    return 0;
}

/* The cluster poller: a round of status commands each time it is woken
 * (a round that outlasts emr_poll_ms is followed by the next at once). */
static void *poller_main(void *arg)
{
    struct dsb_jobs *j = arg;

    pthread_mutex_lock(&j->mu);
    while (!j->stop) {
        if (!j->remote_due) {
            pthread_cond_wait(&j->remote_cv, &j->mu);
            continue;
        }
        j->remote_due = 0;
        pthread_mutex_unlock(&j->mu);
        dsb_spark_remote_poll(j);
        pthread_mutex_lock(&j->mu);
    }
    pthread_mutex_unlock(&j->mu);
    return NULL;
}

void dsb_spark_poller_stop(struct dsb_jobs *j)
{
    if (!j->remote_started)
        return;
    pthread_mutex_lock(&j->mu);
    pthread_cond_broadcast(&j->remote_cv); /* j->stop is set */
    pthread_mutex_unlock(&j->mu);
    pthread_join(j->remote_poller, NULL);
    j->remote_started = 0;
}

/* Wakes the cluster poller, started the first time; when it cannot
 * start, the round runs here. */
static void poll_clusters(struct dsb_jobs *j)
{
    if (!j->remote_started &&
        pthread_create(&j->remote_poller, NULL, poller_main, j) == 0)
        j->remote_started = 1;
    if (!j->remote_started) {
        dsb_spark_remote_poll(j);
        return;
    }
    pthread_mutex_lock(&j->mu);
    j->remote_due = 1;
    pthread_cond_signal(&j->remote_cv);
    pthread_mutex_unlock(&j->mu);
}

/* The driver processes (local.c's tick: reaping, deadlines, sizes), once
 * a second the standalone master's view of their applications, and every
 * emr_poll_ms the status of the cluster deploy mode's applications (on
 * the cluster poller). */
static long spark_tick(struct dsb_jobs *j)
{
    int64_t now = dsb_monotonic_ms();

    dsb_local_tick(j);
    if (now >= j->spark_next_poll_ms) {
        j->spark_next_poll_ms = now + SPARK_POLL_MS;
        poll_master(j);
    }
    if (now >= j->spark_remote_next_ms) {
        poll_clusters(j);
        j->spark_remote_next_ms = now + j->o.emr_poll_ms;
    }
    return 0;
}

static void spark_recover(struct dsb_jobs *j, json_t *doc, const char *from)
{
    if (is_remote(doc))
        dsb_spark_remote_recover(j, doc, from);
    else
        dsb_local_recover(j, doc, from);
}

static int spark_cancel(struct dsb_jobs *j, json_t *doc, const char *stop_state,
                        struct dsb_error *err)
{
    return is_remote(doc) ? dsb_spark_remote_cancel(j, doc, stop_state, err)
                          : dsb_local_cancel(j, doc, stop_state, err);
}

static json_t *spark_logs(const json_t *doc, size_t lines, size_t max_bytes)
{
    return is_remote(doc) ? dsb_spark_remote_logs(doc, lines, max_bytes)
                          : dsb_local_logs(doc, lines, max_bytes);
}

/* The cluster deploy mode takes entry points as given (a URI the cluster
 * reads) and confines nothing here. */
static int spark_admit(const struct dsb_executor_conf *e,
                       const struct dsb_job_request *r, struct dsb_error *err)
{
    return is_standalone(e->options) ? dsb_local_admit(e, r, err) : 0;
}

/* The cluster deploy mode: that its client can be run. */
static int spark_check(const struct dsb_executor_conf *e, struct dsb_error *err)
{
    char *bin;

    if (is_standalone(e->options))
        return dsb_local_check(e, err);
    bin = dsb_local_spark_submit(e->options, err);
    free(bin);
    return bin ? 0 : -1;
}

static int spark_read_output(struct dsb_jobs *j, const json_t *doc,
                             size_t limit, json_t **out, struct dsb_error *err)
{
    const char *uri = dsb_job_str(doc, "output", "uri");
    char *s3;
    int rc;

    if (!uri || strncmp(uri, "s3a://", 6) != 0)
        return dsb_local_read_output(j, doc, limit, out, err);
    s3 = dsb_asprintf("s3://%s", uri + 6);
    rc = s3 ? dsb_output_read_s3(j, doc, s3, limit, out, err)
            : dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
    free(s3);
    return rc;
}

static json_t *spark_describe(const struct dsb_executor_conf *e)
{
    json_t *o;
    char *ui;

    if (!is_standalone(e->options)) {
        struct dsb_error err = {0};
        int ready = spark_check(e, &err) == 0;
        o = json_pack("{s:s, s:b, s:{s:s, s:s}}", "isolation", "remote",
                      "ready", ready, "cluster", "master",
                      opt(e->options, "master"), "deploy_mode", "cluster");
        if (o && !ready)
            json_object_set_new(o, "problem", json_string(err.message));
        return o;
    }
    o = dsb_local_describe(e);
    ui = dsb_spark_master_ui(e->options);

    if (o)
        json_object_set_new(o, "cluster",
                            json_pack("{s:s, s:s?, s:s, s:s}", "master",
                                      opt(e->options, "master"), "master_ui",
                                      ui, "deploy_mode", "client",
                                      "driver_host",
                                      dsb_local_driver_host(e->options)));
    free(ui);
    return o;
}

static unsigned spark_caps(const json_t *opts)
{
    /* standalone: the workers read local paths themselves, the same files
     * must be there (one host, or a shared filesystem); on Kubernetes or
     * YARN only what the cluster reaches (s3a with option s3a) */
    if (is_standalone(opts))
        return dsb_local_caps(opts);
    return json_is_true(json_object_get(opts, "s3a")) ? DSB_EXEC_S3A : 0;
}

static const struct dsb_option spark_options[] = {
    DSB_OPTION_STRING("master", DSB_OPT_REQUIRED, NULL,
                      "cluster master URL: spark://HOST:PORT (standalone), "
                      "k8s://https://API-SERVER (Kubernetes) or yarn"),
    DSB_OPTION_ENUM("deploy_mode", 0, NULL, dsb_spark_deploy_modes,
                    "where the driver runs: client (here, confined) for a "
                    "standalone master, cluster for Kubernetes and YARN (the "
                    "only mode of each)"),
    DSB_OPTION_STRING("driver_host", 0, "127.0.0.1",
                      "address of this host the workers reach the driver at "
                      "(spark.driver.host, spark.driver.bindAddress, "
                      "SPARK_LOCAL_IP)"),
    DSB_OPTION_STRING("master_ui_url", 0, NULL,
                      "the standalone master's web UI, whose /json/ gives the "
                      "applications' states (default: http://HOST:8080 of "
                      "the master URL)"),
    DSB_OPTION_STRING("output_uri", 0, NULL,
                      "s3a://bucket/prefix/: DSB_OUTPUT is OUTPUT_URI/JOB_ID "
                      "(workers on other hosts); absent: the job's local "
                      "work/output, which the workers must reach"),
    DSB_OPTION_STRING("namespace", 0, "default",
                      "Kubernetes: the namespace of the driver and executor "
                      "pods"),
    DSB_OPTION_STRING("service_account", 0, NULL,
                      "Kubernetes: the driver pod's service account"),
    DSB_OPTION_STRING("image", 0, NULL,
                      "Kubernetes: the Spark image of the pods (required)"),
    DSB_OPTION_STRING("driver_pod_template", 0, NULL,
                      "Kubernetes: pod template file of the driver"),
    DSB_OPTION_STRING("executor_pod_template", 0, NULL,
                      "Kubernetes: pod template file of the executors"),
    DSB_OPTION_STRING("upload_path", 0, NULL,
                      "Kubernetes: where spark-submit uploads the job's "
                      "script (spark.kubernetes.file.upload.path; required)"),
    DSB_OPTION_STRING("queue", 0, NULL, "YARN: the queue (--queue)"),
    DSB_OPTION_STRING("conf_dir", 0, NULL,
                      "YARN: HADOOP_CONF_DIR and YARN_CONF_DIR of spark-submit "
                      "and yarn"),
    DSB_OPTION_STRING("yarn", 0, NULL,
                      "YARN: the yarn command for status and kill (default: "
                      "yarn on PATH)"),
    DSB_LOCAL_SPARK_OPTIONS,
    DSB_OPTION_END};

const char *const dsb_spark_deploy_modes[] = {"client", "cluster", NULL};

/* The record is stored pending before the start: a standalone driver's
 * like a local job's, a cluster deploy mode's once submitted (start). */
const struct dsb_executor_ops dsb_spark_submit_ops = {
    .options = spark_options,
    .default_timeout_key = "default_timeout_seconds",
    .max_timeout_key = "max_timeout_seconds",
    .timeout_unit_s = 1,
    .flags = DSB_EXEC_STORE_BEFORE_START,
    .caps = spark_caps,
    .start = spark_start,
    .tick = spark_tick,
    .recover = spark_recover,
    .cancel = spark_cancel,
    .logs = spark_logs,
    .read_output = spark_read_output,
    .admit = spark_admit,
    .describe = spark_describe,
    .check = spark_check,
    .validate = spark_validate,
};
