#include "broker.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "aws/aws.h"
#include "host.h"
#include "log.h"
#include "util.h"

#define PREFLIGHT_TIMEOUT_MS 15000

/* ------------------------------------------------------------ errors */

static const struct {
    const char *name;
    int status;
} err_codes[] = {
    {"ok", 200},         {"invalid", 400},     {"not_found", 404},
    {"permission", 403}, {"auth", 502},        {"unavailable", 503},
    {"timeout", 504},    {"upstream", 502},    {"throttled", 429},
    {"conflict", 409},   {"unsupported", 501}, {"config", 500},
    {"internal", 500},
};

const char *dsb_err_code_name(int code)
{
    if (code < 0 || (size_t)code >= sizeof(err_codes) / sizeof(*err_codes))
        return "internal";
    return err_codes[code].name;
}

int dsb_err_http_status(int code)
{
    if (code < 0 || (size_t)code >= sizeof(err_codes) / sizeof(*err_codes))
        return 500;
    return err_codes[code].status;
}

/* --------------------------------------------------------- preflight */

/* Forks a child that runs open+close, so a plugin that crashes or hangs
 * there cannot take the broker down; the child's pid, or 0 when no child
 * could be forked (the source is then opened unprobed).  Every source's
 * child is started before any is waited for: the probes run side by side. */
static pid_t preflight_start(struct dsb_source *s)
{
    pid_t pid;

    fflush(NULL);
    pid = fork();
    if (pid == 0) {
        void *inst = NULL;
        struct dsb_error e;
        int rc = s->plugin->vt.open(&s->host.pub, &s->info, s->conf->options,
                                    &inst, &e);
        if (rc == 0)
            s->plugin->vt.close(inst);
        _exit(rc == 0 ? 0 : 1);
    }
    return pid < 0 ? 0 : pid;
}

/* What a hung probe is doing, from /proc (Linux): its scheduler state and
 * the kernel function it waits in, for the error's detail. */
static void probe_state(pid_t pid, char *out, size_t cap)
{
    char path[64], stat[512] = "", wchan[128] = "";
    const char *paren;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    if ((f = fopen(path, "r")) != NULL) {
        if (!fgets(stat, sizeof(stat), f))
            stat[0] = '\0';
        fclose(f);
    }
    snprintf(path, sizeof(path), "/proc/%d/wchan", (int)pid);
    if ((f = fopen(path, "r")) != NULL) {
        if (!fgets(wchan, sizeof(wchan), f))
            wchan[0] = '\0';
        fclose(f);
    }
    paren = strrchr(stat, ')');
    snprintf(out, cap, "the probe (pid %d) was in state %c, waiting in %s",
             (int)pid, paren && paren[1] && paren[2] ? paren[2] : '?',
             wchan[0] && strcmp(wchan, "0") != 0 ? wchan : "user space");
}

/* Waits for the child until end_ms: 0 when it exited (whatever its
 * verdict), -1 with err set when it died by a signal or hung. */
static int preflight_finish(struct dsb_source *s, pid_t pid, int64_t end_ms,
                            struct dsb_error *err)
{
    int status = 0;
    pid_t got;

    if (pid == 0)
        return 0;
    /* poll from 50 us up to 2 ms: most opens take well under a ms */
    for (long ns = 50000; (got = waitpid(pid, &status, WNOHANG)) == 0 &&
                          dsb_monotonic_ms() < end_ms;
         ns = ns < 2000000 ? ns * 2 : ns)
        nanosleep(&(struct timespec){0, ns}, NULL);
    if (got == 0) {
        char state[256];
        probe_state(pid, state, sizeof(state));
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        dsb_error_set(err, DSB_E_CONFIG,
                      "plugin %s did not finish opening "
                      "source %s within %d s",
                      s->plugin->name, s->conf->name,
                      PREFLIGHT_TIMEOUT_MS / 1000);
        dsb_error_detail(err, "%s", state);
        dsb_error_hint(err, "the source is disabled; check that what it "
                            "connects to answers, then reload");
        return -1;
    }
    if (WIFSIGNALED(status)) {
        dsb_error_set(err, DSB_E_INTERNAL,
                      "plugin %s crashed (signal %d, %s) "
                      "while opening source %s",
                      s->plugin->name, WTERMSIG(status),
                      strsignal(WTERMSIG(status)), s->conf->name);
        dsb_error_hint(err, "the source is disabled; report it to the "
                            "plugin's authors with this configuration");
        return -1;
    }
    return 0;
}

/* ----------------------------------------------------------- sources */

static void source_fail(struct dsb_source *s, const struct dsb_error *e)
{
    s->state = DSB_SOURCE_FAILED;
    s->open_error = *e;
    dsb_redact_error(&s->open_error);
    dsb_logf(DSB_LOG_ERROR, s->host.prefix, "source disabled: %s%s%s%s%s",
             s->open_error.message, s->open_error.detail[0] ? ": " : "",
             s->open_error.detail, s->open_error.hint[0] ? "; hint: " : "",
             s->open_error.hint);
}

/* Fills s from its configuration; 1 when it is to be opened (enabled, its
 * plugin loaded), 0 when it is disabled or failed already. */
static int source_init(struct dsb_broker *b, struct dsb_source *s,
                       const struct dsb_source_conf *c)
{
    struct dsb_error err;

    dsb_error_clear(&err);
    s->conf = c;
    s->mask = json_object_get(c->options, "mask_columns");
    s->plugin = dsb_plugins_find(&b->plugins, c->plugin);
    s->network = dsb_source_network(c, s->plugin);
    s->info = (struct dsb_source_info){c->name, s->network, c->description,
                                       c->file, b->cfg->dir};
    dsb_host_init(&s->host, b, c->plugin, c->name);
    if (!c->enabled) {
        s->state = DSB_SOURCE_DISABLED;
        return 0;
    }
    if (!s->plugin) {
        dsb_error_set(&err, DSB_E_CONFIG, "plugin %s is not loaded", c->plugin);
        source_fail(s, &err);
        return 0;
    }
    return 1;
}

/* Opens s for real once its probe (pid, 0 for none) came back well; -1
 * with err set when either failed. */
static int source_open_err(struct dsb_source *s, pid_t probe, int64_t end_ms,
                           struct dsb_error *err)
{
    dsb_error_clear(err);
    if (preflight_finish(s, probe, end_ms, err) < 0 ||
        s->plugin->vt.open(&s->host.pub, &s->info, s->conf->options, &s->inst,
                           err) < 0) {
        dsb_redact_error(err);
        return -1;
    }
    s->state = DSB_SOURCE_OPEN;
    return 0;
}

static void source_open(struct dsb_source *s, pid_t probe, int64_t end_ms)
{
    struct dsb_error err;

    if (source_open_err(s, probe, end_ms, &err) < 0)
        source_fail(s, &err);
}

int dsb_broker_try_source(struct dsb_broker *b, const struct dsb_source_conf *c,
                          int preflight, json_t **check, struct dsb_error *err)
{
    struct dsb_source s = {0};
    int rc;

    *check = NULL;
    if (!c->enabled || !(s.plugin = dsb_plugins_find(&b->plugins, c->plugin)))
        return dsb_error_set(err, DSB_E_CONFIG,
                             "the source is disabled or its plugin is not "
                             "loaded");
    s.conf = c;
    s.mask = json_object_get(c->options, "mask_columns");
    s.network = dsb_source_network(c, s.plugin);
    s.info = (struct dsb_source_info){c->name, s.network, c->description,
                                      c->file, b->cfg->dir};
    dsb_host_init(&s.host, b, c->plugin, c->name);
    if (source_open_err(&s, preflight ? preflight_start(&s) : 0,
                        dsb_monotonic_ms() + PREFLIGHT_TIMEOUT_MS, err) < 0)
        return -1;
    rc = dsb_source_check(&s, check, err);
    s.plugin->vt.close(s.inst);
    return rc;
}

/* Non-zero when prev (a broker being replaced) has s open with the same
 * loaded plugin file (the same dlopen handle: a replaced file loads anew),
 * network and options: its open was probed already. */
static int opened_before(const struct dsb_broker *prev,
                         const struct dsb_source *s)
{
    const struct dsb_source *p = NULL;

    for (size_t i = 0; prev && i < prev->n_sources && !p; i++)
        if (strcmp(prev->sources[i].conf->name, s->conf->name) == 0)
            p = &prev->sources[i];
    return p && p->state == DSB_SOURCE_OPEN && p->plugin->dl == s->plugin->dl &&
           strcmp(p->network, s->network) == 0 &&
           json_equal(p->conf->options, s->conf->options);
}

/* Every source: probes first (all at once), then the real opens.  Nothing
 * is allocated here: the probes are forked children. */
static void open_sources(struct dsb_broker *b, const struct dsb_broker_opts *o)
{
    size_t n = b->cfg->n_sources;
    int64_t end;

    for (size_t i = 0; i < n; i++) {
        struct dsb_source *s = &b->sources[i];
        s->to_open = source_init(b, s, &b->cfg->sources[i]);
        s->probe = s->to_open && o->preflight && !opened_before(o->previous, s)
                       ? preflight_start(s)
                       : 0;
    }
    b->n_sources = n;
    end = dsb_monotonic_ms() + PREFLIGHT_TIMEOUT_MS;
    for (size_t i = 0; i < n; i++)
        if (b->sources[i].to_open)
            source_open(&b->sources[i], b->sources[i].probe, end);
}

/* The AWS client from broker.yaml's aws section; never contacts AWS. */
static int start_aws(struct dsb_broker *b, struct dsb_diags *d)
{
    struct dsb_aws_options o;
    struct dsb_error err;

    dsb_aws_options_of(json_object_get(b->cfg->broker, "aws"), &o);
    b->aws = dsb_aws_new(&o, &err);
    if (b->aws)
        return 0;
    dsb_diag_add(d, DSB_SEV_ERROR, NULL, 0, 0, "AWS client: %s", err.message);
    return -1;
}

struct dsb_broker *dsb_broker_start(const struct dsb_broker_opts *o,
                                    struct dsb_diags *d)
{
    struct dsb_broker *b = calloc(1, sizeof(*b));
    const json_t *sec;

    if (!b)
        return NULL;
    /* every phase runs so that one start reports every mistake */
    b->cfg = dsb_config_load_broker(o->conf_dir, o->plugin_dir, d);
    if (!b->cfg || !b->cfg->dir)
        goto fail;
    dsb_plugins_load_dir(b->cfg->plugin_dir, &b->plugins, 0, d);
    dsb_config_load_sources(b->cfg, &b->plugins, d);
    if (d->errors)
        goto fail;
    if (start_aws(b, d) < 0)
        goto fail;
    sec = json_object_get(b->cfg->broker, "secrets");
    b->secrets = dsb_secrets_new(
        json_integer_value(json_object_get(sec, "ttl_seconds")) * 1000);
    b->sources = calloc(b->cfg->n_sources + 1, sizeof(*b->sources));
    if (!b->secrets || !b->sources)
        goto fail;
    dsb_secrets_set_aws_backend(b->secrets, dsb_aws_secret_fetch, b->aws);
    dsb_secrets_set_store_backend(b->secrets, o->store_fn, o->store_ctx);
    open_sources(b, o);
    return b;
fail:
    dsb_broker_stop(b);
    return NULL;
}

void dsb_broker_stop(struct dsb_broker *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->n_sources; i++)
        if (b->sources[i].state == DSB_SOURCE_OPEN)
            b->sources[i].plugin->vt.close(b->sources[i].inst);
    free(b->sources);
    dsb_secrets_free(b->secrets);
    dsb_aws_free(b->aws);
    dsb_plugins_unload_all(&b->plugins);
    dsb_config_free(b->cfg);
    free(b);
}

struct dsb_source *dsb_broker_source(struct dsb_broker *b, const char *name)
{
    for (size_t i = 0; i < b->n_sources; i++)
        if (strcmp(b->sources[i].conf->name, name) == 0)
            return &b->sources[i];
    return NULL;
}
