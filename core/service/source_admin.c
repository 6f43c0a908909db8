/*
 * Sources managed at run time (admin): a request carries the keys of a
 * conf.d file, validated by the same option tables; the source is written
 * atomically as conf.d/managed/NAME.yaml and the configuration is loaded
 * again exactly as SIGHUP does (a bad one changes nothing: the file is put
 * back).  Secret values given in "secrets" go to the secret store and only
 * their references reach the file.  Where a source may point is bounded by
 * sources.allowed_hosts.
 *
 * On PostgreSQL (replicas) the documents live in the shared store: an
 * edit is a transaction that locks the source's row (the If-Match is
 * checked against it), is materialised here and reloaded, and commits
 * with an event that makes the other replicas sync; secret values go
 * into the shared store as store: references (unless secrets.store is
 * aws-sm).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "allowlist.h"
#include "aws/sigv4.h"
#include "internal.h"
#include "replica.h"
#include "store.h"
#include "yamldoc.h"

/* One edit at a time: its file, its reload and its rollback. */
static pthread_mutex_t manage_lock = PTHREAD_MUTEX_INITIALIZER;

#define PENDING_REF "aws-sm:dsbroker-pending"

/* A candidate source: the document to write, its validated keys, and the
 * secret values of the request (borrowed from the body). */
struct candidate {
    json_t *doc;     /* the keys as written (secrets as references) */
    json_t *checked; /* validated core keys and plugin options */
    const json_t *secrets;
    const struct dsb_plugin *plugin;
    json_t *warnings; /* strings */
    json_t *stored;   /* {option: reference} this request stored */
};

static void candidate_free(struct candidate *k)
{
    json_decref(k->doc);
    json_decref(k->checked);
    json_decref(k->warnings);
    json_decref(k->stored);
    memset(k, 0, sizeof(*k));
}

static const struct dsb_option *option_of(const struct dsb_plugin *p,
                                          const char *key)
{
    for (const struct dsb_option *o = p ? p->vt.options : NULL; o && o->name;
         o++)
        if (strcmp(o->name, key) == 0)
            return o;
    return NULL;
}

static int is_secret(const struct dsb_plugin *p, const char *key)
{
    const struct dsb_option *o = option_of(p, key);

    return o && (o->flags & DSB_OPT_SECRET);
}

/* ------------------------------------------------------------- checks */

/* A string of the request that conf.d would read differently or that
 * reaches the broker's own secrets: "${" (interpolation), an env:
 * reference anywhere, a reference other than aws-sm: in a secret option
 * (a value goes in "secrets"). */
static int unsafe_value(const struct dsb_plugin *p, const char *key,
                        const json_t *v, struct dsb_error *err)
{
    const json_t *x;
    const char *k, *s = json_string_value(v);
    size_t i;

    if (json_is_array(v)) {
        json_array_foreach(v, i,
                           x) if (unsafe_value(p, key, x, err) < 0) return -1;
        return 0;
    }
    if (json_is_object(v)) {
        json_object_foreach((json_t *)v, k,
                            x) if (unsafe_value(p, key, x, err) < 0) return -1;
        return 0;
    }
    if (!s)
        return 0;
    if (strstr(s, "${"))
        dsb_error_set(err, DSB_E_INVALID,
                      "the value of \"%s\" holds \"${\", which conf.d would "
                      "read as a variable",
                      key);
    else if (strncmp(s, "env:", 4) == 0)
        dsb_error_set(err, DSB_E_INVALID,
                      "\"%s\" may not reference the broker's environment "
                      "(env:)",
                      key);
    else if (is_secret(p, key) && strncmp(s, "aws-sm:", 7) != 0)
        dsb_error_set(err, DSB_E_INVALID,
                      "secret option \"%s\" takes an aws-sm: reference here",
                      key);
    else
        return 0;
    dsb_error_hint(err,
                   "give secret values in \"secrets\": {\"%s\": "
                   "\"...\"}; the broker stores them",
                   key);
    return -1;
}

/* Splits the body into the document and its secret values. */
static int split_body(const json_t *body, struct candidate *k,
                      const struct dsb_plugin_set *plugins,
                      struct dsb_error *err)
{
    const json_t *v;
    const char *key, *plugin;

    if (!json_is_object(body))
        return dsb_error_set(err, DSB_E_INVALID,
                             "the body must be a JSON object of the "
                             "source's keys");
    k->secrets = json_object_get(body, "secrets");
    if (k->secrets && !json_is_object(k->secrets))
        return dsb_error_set(err, DSB_E_INVALID,
                             "\"secrets\" must be an object of option: value");
    k->doc = json_deep_copy(body);
    json_object_del(k->doc, "secrets");
    plugin = json_string_value(json_object_get(body, "plugin"));
    k->plugin = plugin ? dsb_plugins_find(plugins, plugin) : NULL;
    json_object_foreach(
        k->doc, key, v) if (unsafe_value(k->plugin, key, v, err) < 0) return -1;
    json_object_foreach((json_t *)k->secrets, key, v)
    {
        if (!k->plugin || !is_secret(k->plugin, key))
            return dsb_error_set(err, DSB_E_INVALID,
                                 "\"secrets\" names \"%s\", which is no secret "
                                 "option of plugin %s",
                                 key,
                                 k->plugin ? k->plugin->name : "(unknown)");
        if (!json_is_string(v) || !json_string_length(v) ||
            json_object_get(k->doc, key))
            return dsb_error_set(err, DSB_E_INVALID,
                                 "secret \"%s\" must be a non-empty string, "
                                 "given once (in \"secrets\" only)",
                                 key);
    }
    return 0;
}

/* The diagnostics as one error: the first as the message, all in the
 * detail (positions are of the request's keys, not of a file). */
static int diags_error(const struct dsb_diags *d, int code,
                       struct dsb_error *err)
{
    struct dsb_sb all = {0};
    const char *first = NULL;

    for (size_t i = 0; i < d->n; i++) {
        if (d->items[i].severity != DSB_SEV_ERROR)
            continue;
        first = first ? first : d->items[i].message;
        dsb_sb_addf(&all, "%s%s", all.len ? "; " : "", d->items[i].message);
    }
    dsb_error_set(err, code, "%s", first ? first : "the source is invalid");
    dsb_error_detail(err, "%s", all.len ? dsb_sb_str(&all) : "");
    dsb_sb_free(&all);
    return -1;
}

/* Validates the document (secrets as placeholders) as a conf.d file. */
static int validate(const struct dsb_ctx *c, struct candidate *k,
                    const char *replacing, struct dsb_error *err)
{
    struct dsb_broker *b = c->gen->broker;
    json_t *probe = json_deep_copy(k->doc);
    const char *key;
    const json_t *v;
    char *text;
    struct dsb_diags d;
    struct dsb_ynode *root;

    json_object_foreach((json_t *)k->secrets, key, v)
        json_object_set_new(probe, key, json_string(PENDING_REF));
    text = json_dumps(probe, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(probe);
    dsb_diags_init(&d);
    root = text ? dsb_yaml_parse(text, strlen(text), "request", &d) : NULL;
    if (root)
        k->checked =
            dsb_config_check_source(b->cfg, &b->plugins, root, replacing, &d);
    if (!k->checked)
        diags_error(&d, DSB_E_INVALID, err);
    dsb_ynode_free(root);
    dsb_diags_free(&d);
    free(text);
    return k->checked ? 0 : -1;
}

/* The host and port an endpoint URL names (port: the scheme's default). */
static int url_host(const char *url, char *host, size_t cap, int *port)
{
    CURLU *u = curl_url();
    char *h = NULL, *p = NULL;
    int rc = -1;

    if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &h, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_PORT, &p, CURLU_DEFAULT_PORT) == CURLUE_OK) {
        snprintf(host, cap, "%s", h);
        *port = atoi(p);
        rc = 0;
    }
    curl_free(h);
    curl_free(p);
    curl_url_cleanup(u);
    return rc;
}

static int allowed(const struct dsb_settings *st, const char *host, int port,
                   struct dsb_error *err)
{
    char why[512];

    if (dsb_allow_check(st->allowed_hosts, st->n_allowed_hosts, host, port, why,
                        sizeof(why)) == 0)
        return 0;
    dsb_error_set(err, DSB_E_PERMISSION, "%s", why);
    snprintf(err->upstream, sizeof(err->upstream), "%s",
             DSB_ALLOWLIST_UPSTREAM);
    dsb_error_hint(err, "an operator may add a rule to sources.allowed_hosts "
                        "in broker.yaml");
    return -1;
}

/* The host and port of an RDS-style JSON secret (a test's value, or a
 * reference resolved): a host that only the secret names is checked too. */
static int secret_host(const struct dsb_ctx *c, const struct candidate *k,
                       char *host, size_t cap, int *port)
{
    const char *given =
        json_string_value(json_object_get(k->secrets, "credentials"));
    const char *ref =
        json_string_value(json_object_get(k->checked, "credentials"));
    char *value = NULL;
    json_t *j;
    struct dsb_error e;

    if (!given && ref && strcmp(ref, PENDING_REF) != 0 &&
        dsb_secrets_get(c->gen->broker->secrets, ref, &value, &e) < 0)
        return -1;
    j = given || value ? json_loads(given ? given : value, 0, NULL) : NULL;
    dsb_secret_value_free(value);
    if (!json_is_string(json_object_get(j, "host"))) {
        json_decref(j);
        return -1;
    }
    snprintf(host, cap, "%s", json_string_value(json_object_get(j, "host")));
    if (json_is_integer(json_object_get(j, "port")))
        *port = (int)json_integer_value(json_object_get(j, "port"));
    json_decref(j);
    return 0;
}

/* A destination that cannot be checked is refused: it could point
 * anywhere later. */
static int unknown_destination(struct dsb_error *err, const char *why)
{
    dsb_error_set(err, DSB_E_INVALID,
                  "where the source points cannot be checked: %s", why);
    dsb_error_hint(err, "give host (and port) explicitly");
    return -1;
}

/* Where the candidate points: its host (and port), its endpoint_url, or
 * the host of its credentials secret; each against the allow-list. */
static int check_destination(const struct dsb_ctx *c, const struct candidate *k,
                             struct dsb_error *err)
{
    const struct dsb_settings *st = &c->gen->broker->cfg->settings;
    const json_t *o = k->checked;
    const char *url = json_string_value(json_object_get(o, "endpoint_url"));
    const struct dsb_option *po = option_of(k->plugin, "port");
    char host[256];
    int port = json_is_integer(json_object_get(o, "port"))
                   ? (int)json_integer_value(json_object_get(o, "port"))
               : po && po->default_value ? atoi(po->default_value)
                                         : 0;

    if (json_is_string(json_object_get(o, "host")) &&
        allowed(st, json_string_value(json_object_get(o, "host")), port, err) <
            0)
        return -1;
    if (!json_object_get(o, "host") && json_object_get(o, "credentials") &&
        (secret_host(c, k, host, sizeof(host), &port) < 0
             ? unknown_destination(err, "its credentials secret names no "
                                        "host the broker can read now")
             : allowed(st, host, port, err)) < 0)
        return -1;
    if (url && (url_host(url, host, sizeof(host), &port) < 0
                    ? unknown_destination(err, "endpoint_url is no URL")
                    : allowed(st, host, port, err)) < 0)
        return -1;
    return 0;
}

/* A warning when no executor reaches the candidate's network. */
static void network_warning(const struct dsb_ctx *c, struct candidate *k)
{
    const struct dsb_config *cfg = c->gen->broker->cfg;
    const char *net = json_string_value(json_object_get(k->checked, "network"));
    struct dsb_sb names = {0};
    const json_t *v;
    size_t i;

    if (!net)
        net = k->plugin && k->plugin->vt.default_network
                  ? k->plugin->vt.default_network
                  : "default";
    for (size_t e = 0; e < cfg->n_executors; e++) {
        json_array_foreach(cfg->executors[e].networks, i,
                           v) if (strcmp(json_string_value(v), net) ==
                                  0) goto done;
        dsb_sb_addf(&names, "%s%s", e ? ", " : "", cfg->executors[e].name);
    }
    if (cfg->n_executors)
        json_array_append_new(
            k->warnings,
            json_sprintf("network \"%s\" is reached by no executor (%s): jobs "
                         "reading this source would be refused",
                         net, dsb_sb_str(&names)));
done:
    dsb_sb_free(&names);
}

/* Secret options the document leaves out keep the references of prev
 * (the file an update replaces; may be NULL). */
static void keep_secrets(struct candidate *k, const json_t *prev)
{
    const char *key;
    const json_t *v;

    json_object_foreach((json_t *)prev, key,
                        v) if (is_secret(k->plugin, key) &&
                               !json_object_get(k->doc, key) &&
                               !json_object_get(k->secrets, key))
        json_object_set(k->doc, key, (json_t *)v);
}

/* Everything but storing: split, validate, where it points, warnings. */
static int candidate_check(const struct dsb_ctx *c, const json_t *body,
                           const char *replacing, const json_t *prev,
                           struct candidate *k, struct dsb_error *err)
{
    memset(k, 0, sizeof(*k));
    k->warnings = json_array();
    k->stored = json_object();
    if (split_body(body, k, &c->gen->broker->plugins, err) < 0)
        return -1;
    keep_secrets(k, prev);
    if (validate(c, k, replacing, err) < 0 || check_destination(c, k, err) < 0)
        return -1;
    network_warning(c, k);
    return 0;
}

/* ------------------------------------------------------------- files */

static char *managed_dir(const struct dsb_ctx *c)
{
    return dsb_path_join(c->gen->broker->cfg->dir, DSB_MANAGED_DIR);
}

static char *managed_path(const struct dsb_ctx *c, const char *name)
{
    char *dir = managed_dir(c),
         *p = dir ? dsb_asprintf("%s/%s.yaml", dir, name) : NULL;

    free(dir);
    return p;
}

/* "\"<sha-256 of the file>\"", the ETag of a managed source. */
static void etag_of(const char *text, size_t len, char out[68])
{
    char hex[65];

    dsb_sha256_hex(text, len, hex);
    snprintf(out, 68, "\"%s\"", hex);
}

/* Writes text to path atomically: a hidden temporary file in the same
 * directory, fsync, rename, fsync of the directory. */
static int write_atomic(const char *dir, const char *path, const char *text,
                        struct dsb_error *err)
{
    char *tmp = dsb_asprintf("%s/.tmp-%d", dir, (int)getpid());
    size_t len = strlen(text);
    int fd = -1, dfd = -1, rc = -1;

    if (mkdir(dir, 0755) < 0 && errno != EEXIST)
        goto done;
    fd = tmp ? open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644) : -1;
    if (fd < 0 || write(fd, text, len) != (ssize_t)len || fsync(fd) < 0 ||
        rename(tmp, path) < 0)
        goto done;
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0)
        fsync(dfd);
    rc = 0;
done:
    if (rc < 0) {
        dsb_error_set(err, DSB_E_UNAVAILABLE,
                      "the managed source could not be written");
        dsb_error_detail(err, "%s: %s", path, strerror(errno));
        if (tmp)
            unlink(tmp);
    }
    if (fd >= 0)
        close(fd);
    if (dfd >= 0)
        close(dfd);
    free(tmp);
    return rc;
}

static char *file_text(const json_t *doc)
{
    char *json = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    char *text = json ? dsb_asprintf("# Managed by dsbroker (POST/PUT "
                                     "/v1/sources): written whole on each "
                                     "change.\n# Secrets are references; "
                                     "their values are in the secret store.\n"
                                     "%s\n",
                                     json)
                      : NULL;

    free(json);
    return text;
}

/* ----------------------------------------------------------- secrets */

/* A secret value in the shared store (committed at once: unreferenced
 * until the edit commits, dropped when it does not): *ref "store:ID". */
static int put_shared(void *h, const char *label, const char *value, char **ref,
                      struct dsb_error *err)
{
    char rnd[17], *id;
    int rc;

    *ref = NULL;
    dsb_redact_register(value);
    if (dsb_random_hex(rnd, 8) < 0)
        return dsb_error_set(err, DSB_E_INTERNAL, "no random bytes");
    id = dsb_asprintf("%s-%s", label, rnd);
    if (!id)
        return dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
    rc = dsb_shared_secret_put(h, id, value, err);
    if (rc == 0 && !(*ref = dsb_asprintf("store:%s", id)))
        rc = dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
    free(id);
    return rc;
}

/* Stores each secret value; the document gets the references. */
static int store_secrets(const struct dsb_ctx *c, struct candidate *k,
                         int temporary, struct dsb_error *err)
{
    struct dsb_broker *b = c->gen->broker;
    char *dir = dsb_path_join(b->cfg->state_dir, "secrets"), *ref, *label;
    const char *key;
    const json_t *v;
    int rc = 0;

    json_object_foreach((json_t *)k->secrets, key, v)
    {
        label = dsb_asprintf(
            "%s%s-%s", temporary ? "test-" : "",
            json_string_value(json_object_get(k->checked, "name")), key);
        if (label && !temporary && c->svc->shared_short &&
            !b->cfg->settings.secrets_store_aws)
            rc = put_shared(c->svc->shared_short, label, json_string_value(v),
                            &ref, err);
        else
            rc = label ? dsb_secret_store_put(
                             temporary || !b->cfg->settings.secrets_store_aws
                                 ? NULL
                                 : b->aws,
                             dir, label, json_string_value(v), &ref, err)
                       : -1;
        free(label);
        if (rc < 0)
            break;
        json_object_set_new(k->doc, key, json_string(ref));
        json_object_set_new(k->checked, key, json_string(ref));
        json_object_set_new(k->stored, key, json_string(ref));
        free(ref);
    }
    free(dir);
    return rc;
}

/* Removes the file secrets of doc's secret options (the store's own). */
static void drop_secrets(const struct dsb_ctx *c, const struct dsb_plugin *p,
                         const json_t *doc)
{
    char *dir = dsb_path_join(c->gen->broker->cfg->state_dir, "secrets");
    const char *key;
    const json_t *v;

    json_object_foreach((json_t *)doc, key, v)
    {
        const char *ref = json_string_value(v);
        if (!dir || !is_secret(p, key) || !ref)
            continue;
        if (strncmp(ref, "store:", 6) == 0 && c->svc->shared_short)
            dsb_shared_secret_drop(c->svc->shared_short, ref + 6);
        else
            dsb_secret_store_drop(c->gen->broker->aws, dir, ref);
    }
    free(dir);
}

/* ------------------------------------------------------------ reload */

/* Reloads as SIGHUP does; on errors puts old back (NULL: removes path). */
static int reload_or_restore(const struct dsb_ctx *c, const char *path,
                             const char *old, struct dsb_error *err)
{
    char *dir = managed_dir(c);
    struct dsb_diags d;
    struct dsb_error ignored;
    int rc;

    dsb_diags_init(&d);
    rc = dsb_service_reload_diags(c->svc, &d);
    if (rc < 0) {
        diags_error(&d, DSB_E_CONFIG, err);
        dsb_error_hint(err, "nothing changed: the previous configuration "
                            "keeps serving");
        if (old)
            write_atomic(dir, path, old, &ignored);
        else
            unlink(path);
    }
    dsb_diags_free(&d);
    free(dir);
    return rc;
}

/* The answer: the source as the new generation has it. */
static json_t *answer(const struct dsb_ctx *c, const char *name,
                      const char *text, json_t *warnings)
{
    struct dsb_gen *g = dsb_service_gen(c->svc);
    struct dsb_source *s = dsb_broker_source(g->broker, name);
    static const char *const st[] = {"open", "disabled", "failed"};
    char etag[68];
    json_t *o;

    etag_of(text, strlen(text), etag);
    o = json_pack("{s:s, s:o, s:s, s:O, s:I}", "name", name, "file",
                  json_sprintf("%s/%s.yaml", DSB_MANAGED_DIR, name), "etag",
                  etag, "warnings", warnings, "config_generation",
                  (json_int_t)g->serial);
    json_object_set_new(o, "state", json_string(s ? st[s->state] : "absent"));
    if (s && s->state == DSB_SOURCE_FAILED)
        json_object_set_new(o, "problem",
                            json_pack("{s:s, s:s}", "message",
                                      s->open_error.message, "hint",
                                      s->open_error.hint));
    dsb_gen_release(g);
    return o;
}

/* ------------------------------------------------------------- edits */

/* The managed file of a source, read whole, with its ETag; refusals for a
 * source that is absent or hand-written. */
static char *managed_text(const struct dsb_ctx *c, const char *name,
                          char **path, char etag[68], struct dsb_error *err)
{
    struct dsb_source *s = dsb_broker_source(c->gen->broker, name);
    char *text;
    size_t len;

    *path = managed_path(c, name);
    if (!s) {
        dsb_error_set(err, DSB_E_NOT_FOUND, "no source \"%s\"", name);
        return NULL;
    }
    if (!*path || strcmp(s->conf->file, *path) != 0) {
        dsb_error_set(err, DSB_E_CONFLICT,
                      "source \"%s\" is defined by the hand-written file %s",
                      name, s->conf->file);
        dsb_error_hint(err, "the broker never changes hand-written files: "
                            "edit it there and reload");
        return NULL;
    }
    text = dsb_read_file(*path, 1 << 20, &len);
    if (!text)
        dsb_error_set(err, DSB_E_CONFLICT,
                      "the managed file of \"%s\" changed under the broker",
                      name);
    else
        etag_of(text, len, etag);
    return text;
}

static int precondition(const char *if_match, const char *etag,
                        struct dsb_error *err)
{
    if (!if_match || strcmp(if_match, "*") == 0 || strcmp(if_match, etag) == 0)
        return 0;
    dsb_error_set(err, DSB_E_CONFLICT,
                  "the source changed since the ETag you sent");
    snprintf(err->upstream, sizeof(err->upstream), "%s",
             DSB_PRECONDITION_UPSTREAM);
    dsb_error_hint(err, "GET it again and send its ETag in If-Match");
    return -1;
}

/* ------------------------------------------------------ shared store */

/* An edit's transaction on the shared store (h NULL on SQLite): the
 * source's row as it was, locked until shared_end. */
struct sedit {
    void *h;
    int open;
    char *text; /* the stored document, NULL: no row */
    char etag[68];
};

static int shared_begin(const struct dsb_ctx *c, const char *name,
                        struct sedit *se, struct dsb_error *err)
{
    memset(se, 0, sizeof(*se));
    se->h = c->svc->shared;
    if (!se->h)
        return 0;
    if (dsb_shared_begin(se->h, name, &se->text, se->etag, err) < 0)
        return -1;
    se->open = 1;
    return 0;
}

/* Commits with the event for the other replicas, or rolls back. */
static int shared_end(struct sedit *se, int commit, struct dsb_error *err)
{
    char *event = NULL;
    int rc = 0;

    if (se->open) {
        se->open = 0;
        if (commit && (!(event = dsb_replica_event("sources", NULL)) ||
                       dsb_shared_notify_in_edit(se->h, event, err) < 0)) {
            if (!event)
                dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
            commit = 0;
            rc = -1;
        }
        if (dsb_shared_end(se->h, commit, err) < 0)
            rc = -1;
    }
    free(event);
    return rc;
}

/* Ends an edit that did not commit (a rollback) and frees its copy. */
static void shared_close(struct sedit *se)
{
    shared_end(se, 0, NULL);
    free(se->text);
    se->text = NULL;
}

/* The stored row says the source is there (on SQLite: always). */
static int shared_has(const struct sedit *se, const char *name,
                      struct dsb_error *err)
{
    if (!se->h || se->text)
        return 0;
    dsb_error_set(err, DSB_E_NOT_FOUND,
                  "no managed source \"%s\" in the state store", name);
    dsb_error_hint(err, "another replica removed it; GET /v1/sources lists "
                        "the sources");
    return -1;
}

/* Commits the edit whose file (path, old text or NULL) is loaded; when
 * the commit fails the file is put back and loaded again: nothing
 * changed. */
static int commit_or_undo(const struct dsb_ctx *c, struct sedit *se,
                          const char *path, const char *old,
                          struct dsb_error *err)
{
    char *dir;
    struct dsb_error ignored;

    if (shared_end(se, 1, err) == 0)
        return 0;
    dir = managed_dir(c);
    if (old && dir)
        write_atomic(dir, path, old, &ignored);
    else if (!old)
        unlink(path);
    free(dir);
    dsb_service_reload(c->svc);
    return -1;
}

static int write_and_reload(const struct dsb_ctx *c, struct candidate *k,
                            const char *old, struct sedit *se, json_t **out,
                            struct dsb_error *err)
{
    const char *name = json_string_value(json_object_get(k->checked, "name"));
    char *dir = managed_dir(c), *path = managed_path(c, name), *text = NULL;
    char etag[68];
    int rc = -1, kept = store_secrets(c, k, 0, err) == 0;

    if (kept && (!(text = file_text(k->doc)) || !dir || !path))
        dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
    else if (kept) {
        etag_of(text, strlen(text), etag);
        if ((!se->h ||
             dsb_shared_put(se->h, name, text, etag, !old, err) == 0) &&
            write_atomic(dir, path, text, err) == 0 &&
            reload_or_restore(c, path, old, err) == 0 &&
            commit_or_undo(c, se, path, old, err) == 0) {
            *out = answer(c, name, text, k->warnings);
            rc = 0;
        }
    }
    if (rc < 0)
        drop_secrets(c, k->plugin, k->stored);
    free(text);
    free(dir);
    free(path);
    return rc;
}

/* The call's context on the current generation (an edit must see the
 * edits before it, whatever generation its request started on). */
static struct dsb_ctx current(const struct dsb_ctx *c)
{
    struct dsb_ctx cur = *c;

    cur.gen = dsb_service_gen(c->svc);
    return cur;
}

static int create_locked(const struct dsb_ctx *c, const json_t *body,
                         json_t **out, struct dsb_error *err)
{
    const char *name = json_string_value(json_object_get(body, "name"));
    struct dsb_source *s =
        name ? dsb_broker_source(c->gen->broker, name) : NULL;
    struct candidate k = {0};
    struct sedit se = {0};
    int rc = -1;

    if (name && !s && shared_begin(c, name, &se, err) < 0)
        return -1;
    if (s || se.text) {
        dsb_error_set(err, DSB_E_CONFLICT, "source \"%s\" exists (%s)", name,
                      s ? s->conf->file : "in the state store");
        dsb_error_hint(err, "PUT /v1/sources/%s changes a managed source",
                       name);
    } else if ((name || !c->svc->shared) &&
               candidate_check(c, body, NULL, NULL, &k, err) == 0) {
        rc = write_and_reload(c, &k, NULL, &se, out, err);
    } else if (!name && c->svc->shared) {
        dsb_error_set(err, DSB_E_INVALID,
                      "the body must be a JSON object with the source's "
                      "\"name\"");
    }
    shared_close(&se);
    candidate_free(&k);
    return rc;
}

/* The old document's secrets that the new one no longer references. */
static void drop_replaced(const struct dsb_ctx *c, const struct candidate *k,
                          const char *old)
{
    const char *brace = strchr(old, '{');
    json_t *prev = brace ? json_loads(brace, 0, NULL) : NULL;
    json_t *gone = json_object();
    const char *key;
    const json_t *v;

    json_object_foreach(prev, key,
                        v) if (!json_equal(v, json_object_get(k->doc, key)))
        json_object_set(gone, key, (json_t *)v);
    drop_secrets(c, k->plugin, gone);
    json_decref(gone);
    json_decref(prev);
}

static int update_locked(const struct dsb_ctx *c, const char *name,
                         const json_t *body, const char *if_match, json_t **out,
                         struct dsb_error *err)
{
    char etag[68], *path = NULL, *old = managed_text(c, name, &path, etag, err);
    const char *bname = json_string_value(json_object_get(body, "name"));
    struct candidate k = {0};
    json_t *named = json_is_object(body) ? json_deep_copy(body) : NULL;
    json_t *prev = NULL;
    struct sedit se = {0};
    const char *base;
    int rc = -1;

    if (!old || shared_begin(c, name, &se, err) < 0 ||
        shared_has(&se, name, err) < 0 ||
        precondition(if_match, se.h ? se.etag : etag, err) < 0)
        goto done;
    base = se.text ? se.text : old;
    if (!named || (bname && strcmp(bname, name) != 0)) {
        dsb_error_set(err, DSB_E_INVALID,
                      "the body must be an object whose \"name\" (if any) "
                      "is the path's, \"%s\"",
                      name);
        goto done;
    }
    json_object_set_new(named, "name", json_string(name));
    prev = json_loads(strchr(base, '{') ? strchr(base, '{') : "", 0, NULL);
    if (candidate_check(c, named, name, prev, &k, err) < 0)
        goto done;
    rc = write_and_reload(c, &k, old, &se, out, err);
    if (rc == 0)
        drop_replaced(c, &k, base);
done:
    shared_close(&se);
    candidate_free(&k);
    json_decref(named);
    json_decref(prev);
    free(old);
    free(path);
    return rc;
}

static int delete_locked(const struct dsb_ctx *c, const char *name,
                         const char *if_match, struct dsb_error *err)
{
    char etag[68], *path = NULL, *old = managed_text(c, name, &path, etag, err);
    struct dsb_source *s = dsb_broker_source(c->gen->broker, name);
    const struct dsb_plugin *p = s ? s->plugin : NULL;
    json_t *prev = NULL;
    struct sedit se = {0};
    int rc = -1;

    if (old && shared_begin(c, name, &se, err) == 0 &&
        shared_has(&se, name, err) == 0 &&
        precondition(if_match, se.h ? se.etag : etag, err) == 0 &&
        (!se.h || dsb_shared_remove(se.h, name, err) == 0)) {
        if (se.text)
            prev = json_loads(strchr(se.text, '{') ? strchr(se.text, '{') : "",
                              0, NULL);
        if (unlink(path) < 0)
            dsb_error_set(err, DSB_E_UNAVAILABLE,
                          "the managed file could not be removed: %s",
                          strerror(errno));
        else if ((rc = reload_or_restore(c, path, old, err)) == 0 &&
                 (rc = commit_or_undo(c, &se, path, old, err)) == 0 &&
                 (prev || (prev = json_loads(strchr(old, '{'), 0, NULL))))
            drop_secrets(c, p, prev);
    }
    shared_close(&se);
    json_decref(prev);
    free(old);
    free(path);
    return rc;
}

/* ---------------------------------------------------------- syncing */

/* A name the store gives that is safe as a file name here. */
static int plain_name(const char *name)
{
    return name[0] && name[0] != '.' && !strchr(name, '/');
}

/* Writes the stored documents that differ from their files: how many. */
static int write_rows(const char *dir, const json_t *rows, const char *why)
{
    const json_t *row;
    struct dsb_error err;
    size_t i, len;
    int n = 0;

    json_array_foreach(rows, i, row)
    {
        const char *name = json_string_value(json_object_get(row, "name"));
        const char *text = json_string_value(json_object_get(row, "text"));
        char *path =
            plain_name(name) ? dsb_asprintf("%s/%s.yaml", dir, name) : NULL;
        char *cur = path ? dsb_read_file(path, 1 << 20, &len) : NULL;

        if (path && (!cur || strcmp(cur, text) != 0)) {
            if (write_atomic(dir, path, text, &err) == 0) {
                dsb_logf(DSB_LOG_INFO, "replicas",
                         "managed source %s written from the state store "
                         "(%s)",
                         name, why);
                n++;
            } else {
                dsb_logf(DSB_LOG_ERROR, "replicas", "%s: %s", err.message,
                         err.detail);
            }
        } else if (!path) {
            dsb_logf(DSB_LOG_WARN, "replicas",
                     "the state store names a managed source \"%s\" that is "
                     "no file name; left out",
                     name);
        }
        free(cur);
        free(path);
    }
    return n;
}

static int stored(const json_t *rows, const char *name, size_t len)
{
    const json_t *row;
    size_t i;

    json_array_foreach(rows, i, row)
    {
        const char *n = json_string_value(json_object_get(row, "name"));
        if (strlen(n) == len && strncmp(n, name, len) == 0)
            return 1;
    }
    return 0;
}

/* Removes the files of managed sources the store does not have: how
 * many. */
static int remove_stale(const char *dir, const json_t *rows, const char *why,
                        enum dsb_log_level level)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    while (d && (e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        char *path;
        if (e->d_name[0] == '.' || len < 6 ||
            strcmp(e->d_name + len - 5, ".yaml") != 0 ||
            stored(rows, e->d_name, len - 5))
            continue;
        path = dsb_asprintf("%s/%s", dir, e->d_name);
        if (path && unlink(path) == 0) {
            dsb_logf(level, "replicas",
                     "%s/%s removed: the state store has no managed source "
                     "of that name (%s)",
                     DSB_MANAGED_DIR, e->d_name, why);
            n++;
        }
        free(path);
    }
    if (d)
        closedir(d);
    return n;
}

/* Replaces every occurrence of from in *text by to (a new string). */
static int replace_all(char **text, const char *from, const char *to)
{
    size_t nf = strlen(from), nt = strlen(to), n = 0;
    char *out, *w;

    for (const char *p = strstr(*text, from); p; p = strstr(p + nf, from))
        n++;
    if (!n)
        return 0;
    out = malloc(strlen(*text) + n * nt + 1);
    if (!out)
        return -1;
    w = out;
    for (const char *p = *text, *q; *p; p = q + nf) {
        if (!(q = strstr(p, from))) {
            w = stpcpy(w, p);
            break;
        }
        memcpy(w, p, (size_t)(q - p));
        w = stpcpy(w + (q - p), to);
    }
    *w = '\0';
    free(*text);
    *text = out;
    return 0;
}

/* The source the configuration loaded from managed file path, or NULL. */
static const struct dsb_source_conf *conf_from(const struct dsb_broker *b,
                                               const char *path)
{
    for (size_t i = 0; i < b->cfg->n_sources; i++)
        if (b->cfg->sources[i].file && !strcmp(b->cfg->sources[i].file, path))
            return &b->cfg->sources[i];
    return NULL;
}

/* A managed document of the SQLite days keeps its secret values as file:
 * references into state_dir/secrets, which only this host has: each is
 * moved into the shared store (put_shared) and *text gets the store:
 * reference instead, so every replica resolves it.  The files stay (a
 * broker started again on SQLite still reads them). */
static int move_file_secrets(struct dsb_service *svc, const struct dsb_gen *g,
                             const char *path, char **text,
                             struct dsb_error *err)
{
    const struct dsb_broker *b = g->broker;
    const struct dsb_source_conf *c = conf_from(b, path);
    const struct dsb_plugin *p =
        c ? dsb_plugins_find(&b->plugins, c->plugin) : NULL;
    char *dir = dsb_path_join(b->cfg->state_dir, "secrets");
    size_t dlen = dir ? strlen(dir) : 0;
    const char *key;
    const json_t *v;
    int rc = dir ? 0 : dsb_error_set(err, DSB_E_INTERNAL, "out of memory");

    json_object_foreach(c && dir ? c->options : NULL, key, v)
    {
        const char *ref = json_string_value(v);
        char *value = NULL, *label = NULL, *to = NULL;

        if (!ref || !is_secret(p, key) || strncmp(ref, "file:", 5) != 0 ||
            strncmp(ref + 5, dir, dlen) != 0 || ref[5 + dlen] != '/')
            continue;
        label = dsb_asprintf("%s-%s", c->name, key);
        rc = label && dsb_secrets_get(b->secrets, ref, &value, err) == 0 &&
                     put_shared(svc->shared_short, label, value, &to, err) == 0
                 ? replace_all(text, ref, to)
                 : -1;
        if (rc == 0)
            dsb_logf(DSB_LOG_INFO, "replicas",
                     "managed source %s: the value of %s moved from %s into "
                     "the state store",
                     c->name, key, ref);
        dsb_secret_value_free(value);
        free(label);
        free(to);
        if (rc < 0)
            break;
    }
    free(dir);
    return rc;
}

/* One managed file into the shared store (a row already there is kept). */
static int seed_one(struct dsb_service *svc, const struct dsb_gen *g,
                    const char *dir, const char *file)
{
    char *path = dsb_asprintf("%s/%s", dir, file), *text, *stored = NULL;
    char *name = strndup(file, strlen(file) - 5), etag[68], had[68];
    struct dsb_error err = {0};
    void *h = svc->shared;
    size_t len;
    int rc = -1;

    text = path ? dsb_read_file(path, 1 << 20, &len) : NULL;
    if (text && name && dsb_shared_begin(h, name, &stored, had, &err) == 0) {
        int put = stored || g->broker->cfg->settings.secrets_store_aws
                      ? 0
                      : move_file_secrets(svc, g, path, &text, &err);
        if (put == 0 && !stored) {
            etag_of(text, strlen(text), etag);
            put = dsb_shared_put(h, name, text, etag, 1, &err);
        }
        rc = dsb_shared_end(h, put == 0, &err) == 0 && put == 0 ? 0 : -1;
    }
    if (rc == 0 && !stored)
        dsb_logf(DSB_LOG_INFO, "replicas",
                 "managed source %s copied into the new state store", name);
    else if (rc < 0)
        dsb_logf(DSB_LOG_ERROR, "replicas",
                 "%s/%s could not be copied into the state store: %s",
                 DSB_MANAGED_DIR, file, text ? err.message : "unreadable");
    free(stored);
    free(text);
    free(name);
    free(path);
    return rc;
}

int dsb_svc_managed_seed(struct dsb_service *svc)
{
    struct dsb_gen *g = dsb_service_gen(svc);
    char *dir = dsb_path_join(g->broker->cfg->dir, DSB_MANAGED_DIR);
    DIR *d;
    struct dirent *e;
    int rc = 0;

    pthread_mutex_lock(&manage_lock);
    d = dir ? opendir(dir) : NULL;
    while (d && (e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (e->d_name[0] != '.' && len > 5 &&
            strcmp(e->d_name + len - 5, ".yaml") == 0 &&
            seed_one(svc, g, dir, e->d_name) < 0)
            rc = -1;
    }
    if (d)
        closedir(d);
    pthread_mutex_unlock(&manage_lock);
    dsb_gen_release(g);
    free(dir);
    return rc;
}

/* A sync failed (under manage_lock): the next one reloads, and the
 * housekeeper tries again after the backoff. */
static void sync_failed(struct dsb_service *svc)
{
    long b = svc->sync_backoff_ms;

    svc->sync_backoff_ms = b ? (b * 2 > 60000 ? 60000 : b * 2) : 1000;
    atomic_store(&svc->sync_stale, 1);
    atomic_store(&svc->sync_retry_at,
                 dsb_monotonic_ms() + svc->sync_backoff_ms);
    dsb_logf(DSB_LOG_WARN, "replicas",
             "the managed sources are synced again in %ld s",
             svc->sync_backoff_ms / 1000);
    dsb_svc_housekeeper_wake(svc);
}

int dsb_svc_managed_sync(struct dsb_service *svc, const char *why, int at_start)
{
    struct dsb_error err = {0};
    struct dsb_gen *g;
    json_t *rows = NULL;
    char *dir;
    int rc = 0, n;

    if (!svc->shared)
        return 0;
    pthread_mutex_lock(&manage_lock);
    if (dsb_shared_sources(svc->shared, &rows, &err) < 0) {
        dsb_logf(DSB_LOG_ERROR, "replicas",
                 "the managed sources could not be synced (%s): %s", why,
                 err.message);
        if (!at_start)
            sync_failed(svc);
        pthread_mutex_unlock(&manage_lock);
        return -1;
    }
    g = dsb_service_gen(svc);
    dir = dsb_path_join(g->broker->cfg->dir, DSB_MANAGED_DIR);
    dsb_gen_release(g);
    n = dir ? write_rows(dir, rows, why) +
                  remove_stale(dir, rows, why,
                               at_start ? DSB_LOG_WARN : DSB_LOG_INFO)
            : 0;
    if (n > 0 || atomic_load(&svc->sync_stale) ||
        (at_start && json_array_size(rows) > 0))
        rc = dsb_service_reload(svc);
    if (rc < 0 && !at_start) {
        sync_failed(svc);
    } else if (rc == 0 && atomic_exchange(&svc->sync_stale, 0)) {
        svc->sync_backoff_ms = 0;
        atomic_store(&svc->sync_retry_at, 0);
        dsb_logf(DSB_LOG_INFO, "replicas",
                 "the managed sources are in sync again (%s)", why);
    }
    pthread_mutex_unlock(&manage_lock);
    free(dir);
    json_decref(rows);
    return rc;
}

/* One edit, on the current generation, one at a time. */
struct edit {
    enum { EDIT_CREATE, EDIT_UPDATE, EDIT_DELETE } op;
    const char *name;
    const json_t *body;
    const char *if_match;
    json_t **out;
};

static int edit(const struct dsb_ctx *c, const struct edit *e,
                struct dsb_error *err)
{
    struct dsb_ctx cur;
    int rc;

    if (dsb_svc_require(c, DSB_SCOPE_ADMIN, err) < 0)
        return -1;
    pthread_mutex_lock(&manage_lock);
    cur = current(c);
    rc = e->op == EDIT_CREATE ? create_locked(&cur, e->body, e->out, err)
         : e->op == EDIT_UPDATE
             ? update_locked(&cur, e->name, e->body, e->if_match, e->out, err)
             : delete_locked(&cur, e->name, e->if_match, err);
    dsb_gen_release(cur.gen);
    pthread_mutex_unlock(&manage_lock);
    return rc;
}

int dsb_svc_source_create(const struct dsb_ctx *c, const json_t *body,
                          json_t **out, struct dsb_error *err)
{
    return edit(c, &(struct edit){EDIT_CREATE, NULL, body, NULL, out}, err);
}

int dsb_svc_source_update(const struct dsb_ctx *c, const char *name,
                          const json_t *body, const char *if_match,
                          json_t **out, struct dsb_error *err)
{
    return edit(c, &(struct edit){EDIT_UPDATE, name, body, if_match, out}, err);
}

int dsb_svc_source_delete(const struct dsb_ctx *c, const char *name,
                          const char *if_match, struct dsb_error *err)
{
    return edit(c, &(struct edit){EDIT_DELETE, name, NULL, if_match, NULL},
                err);
}

int dsb_svc_source_etag(const struct dsb_ctx *c, const char *name,
                        char etag[68])
{
    struct dsb_error err;
    char *path = NULL, *text = managed_text(c, name, &path, etag, &err);

    free(path);
    free(text);
    return text ? 0 : -1;
}

/* ---------------------------------------------------------------- test */

/* The candidate as a configuration the broker can open (borrowing k). */
static struct dsb_source_conf conf_of(const struct candidate *k)
{
    const json_t *o = k->checked;

    return (struct dsb_source_conf){
        .name = (char *)json_string_value(json_object_get(o, "name")),
        .plugin = (char *)json_string_value(json_object_get(o, "plugin")),
        .network = (char *)json_string_value(json_object_get(o, "network")),
        .description =
            (char *)json_string_value(json_object_get(o, "description")),
        .enabled = 1,
        .options = (json_t *)o,
        .file = "request"};
}

int dsb_svc_source_test(const struct dsb_ctx *c, const json_t *body,
                        json_t **out, struct dsb_error *err)
{
    const char *name = json_string_value(json_object_get(body, "name"));
    struct candidate k = {0};
    struct dsb_source_conf conf;
    json_t *check = NULL;
    int rc = -1;

    if (dsb_svc_require(c, DSB_SCOPE_ADMIN, err) < 0 ||
        candidate_check(c, body, name, NULL, &k, err) < 0 ||
        store_secrets(c, &k, 1, err) < 0)
        goto done;
    conf = conf_of(&k);
    rc = dsb_broker_try_source(c->gen->broker, &conf, c->svc->opts.preflight,
                               &check, err);
    if (rc == 0)
        *out = json_pack("{s:s, s:b, s:o, s:O}", "name", conf.name, "ok", 1,
                         "check", check, "warnings", k.warnings);
done:
    drop_secrets(c, k.plugin, k.stored);
    candidate_free(&k);
    return rc;
}
