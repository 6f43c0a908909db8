/* The service's lifecycle: generations, stores, reload, housekeeping. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "replica.h"
#include "service/internal.h"
#include "store.h"

#define EXPIRY_INTERVAL_MS 60000

/* -------------------------------------------------------- generations */

static int principals_new(struct dsb_gen *g, const struct dsb_settings *st)
{
    g->anonymous.name = "anonymous";
    g->anonymous.scopes = st->anonymous_scopes;
    g->principals = calloc(st->n_tokens + 1, sizeof(*g->principals));
    if (!g->principals)
        return -1;
    for (size_t i = 0; i < st->n_tokens; i++) {
        g->principals[i].name = st->tokens[i].name;
        g->principals[i].scopes = st->tokens[i].scopes;
        g->principals[i].sources = st->tokens[i].sources;
        g->principals[i].n_sources = st->tokens[i].n_sources;
    }
    return 0;
}

static struct dsb_gen *gen_new(struct dsb_service *svc, struct dsb_broker *b)
{
    const struct dsb_settings *st = &b->cfg->settings;
    struct dsb_gen *g = calloc(1, sizeof(*g));

    if (!g)
        return NULL;
    g->broker = b;
    g->serial = ++svc->next_serial;
    atomic_init(&g->refs, 1);
    atomic_init(&g->door, NULL);
    g->door_free = svc->opts.door_free;
    g->cache = dsb_cache_new(st->cache_max_entries, st->cache_ttl_ms,
                             st->cache_error_ttl_ms);
    if (!g->cache || principals_new(g, st) < 0) {
        dsb_cache_free(g->cache);
        free(g->principals);
        free(g);
        return NULL;
    }
    if (svc->opts.clock_ms)
        dsb_cache_set_clock(g->cache, svc->opts.clock_ms);
    for (size_t i = 0; i < st->n_cache_ttls; i++)
        dsb_cache_set_source_ttl(g->cache, st->cache_ttls[i].source,
                                 st->cache_ttls[i].ttl_ms);
    return g;
}

struct dsb_gen *dsb_service_gen(struct dsb_service *svc)
{
    struct dsb_gen *g;

    pthread_rwlock_rdlock(&svc->gen_lock);
    g = dsb_gen_hold(svc->gen);
    pthread_rwlock_unlock(&svc->gen_lock);
    return g;
}

struct dsb_gen *dsb_service_gen_since(struct dsb_service *svc,
                                      struct dsb_gen *held)
{
    if (held && held->serial == atomic_load_explicit(&svc->gen_serial,
                                                     memory_order_acquire))
        return held;
    dsb_gen_release(held);
    return dsb_service_gen(svc);
}

struct dsb_gen *dsb_gen_hold(struct dsb_gen *g)
{
    atomic_fetch_add(&g->refs, 1);
    return g;
}

void dsb_gen_release(struct dsb_gen *g)
{
    if (!g || atomic_fetch_sub(&g->refs, 1) != 1)
        return;
    if (g->door && g->door_free)
        g->door_free(g->door);
    dsb_cache_free(g->cache);
    dsb_broker_stop(g->broker);
    free(g->principals);
    free(g);
}

/* Installs g as the current generation; the old one goes when unused. */
static void gen_swap(struct dsb_service *svc, struct dsb_gen *g)
{
    struct dsb_gen *old;

    pthread_rwlock_wrlock(&svc->gen_lock);
    old = svc->gen;
    svc->gen = g;
    atomic_store_explicit(&svc->gen_serial, g->serial, memory_order_release);
    pthread_rwlock_unlock(&svc->gen_lock);
    dsb_gen_release(old);
}

/* ------------------------------------------------------------ logging */

static void apply_logging(const struct dsb_broker *b)
{
    const char *lvl =
        json_string_value(json_object_get(b->cfg->broker, "log_level"));
    const char *fmt =
        json_string_value(json_object_get(b->cfg->broker, "log_format"));
    if (lvl && dsb_log_level_parse(lvl) >= 0)
        dsb_log_set_level((enum dsb_log_level)dsb_log_level_parse(lvl));
    dsb_log_set_json(fmt && strcmp(fmt, "json") == 0);
}

static void log_sources(const struct dsb_broker *b)
{
    static const char *const st[] = {"open", "disabled", "failed"};

    for (size_t i = 0; i < b->n_sources; i++) {
        const struct dsb_source *src = &b->sources[i];
        dsb_logf(src->state == DSB_SOURCE_FAILED ? DSB_LOG_WARN : DSB_LOG_INFO,
                 NULL, "source %s (plugin %s, network %s): %s", src->conf->name,
                 src->conf->plugin, src->network, st[src->state]);
    }
}

/* -------------------------------------------------------------- state */

/* previous: the broker being replaced (a reload), or NULL. */
static struct dsb_broker *load_broker(struct dsb_service *svc,
                                      const struct dsb_broker *previous,
                                      struct dsb_diags *d)
{
    struct dsb_broker_opts bo = {.conf_dir = svc->conf_dir,
                                 .plugin_dir = svc->plugin_dir,
                                 .preflight = svc->opts.preflight,
                                 .previous = previous};

    if (svc->shared_short) {
        bo.store_fn = dsb_shared_secret_get;
        bo.store_ctx = svc->shared_short;
    }
    return dsb_broker_start(&bo, d);
}

/* --------------------------------------------------------- replicas */

/* Another replica's event: a refresh flushes the same source here; a
 * change of the managed sources is synced. */
static void replica_event(void *ctx, const json_t *e)
{
    struct dsb_service *svc = ctx;
    const char *kind = json_string_value(json_object_get(e, "kind"));
    const char *src = json_string_value(json_object_get(e, "source"));
    const char *origin = json_string_value(json_object_get(e, "origin"));
    struct dsb_gen *g;
    char why[256];

    if (!strcmp(kind, "refresh") && src) {
        g = dsb_service_gen(svc);
        dsb_cache_flush(g->cache, src);
        dsb_gen_release(g);
        dsb_logf(DSB_LOG_INFO, "replicas",
                 "cached metadata of source %s flushed (a refresh on "
                 "replica %s)",
                 src, origin);
    } else if (!strcmp(kind, "sources")) {
        snprintf(why, sizeof(why), "a change on replica %s", origin);
        dsb_svc_managed_sync(svc, why, 0);
    }
}

/* The events connection came back: what it may have missed is made up
 * for by dropping every cached entry and syncing the managed sources. */
static void replica_resync(void *ctx)
{
    struct dsb_service *svc = ctx;
    struct dsb_gen *g = dsb_service_gen(svc);

    dsb_cache_flush(g->cache, NULL);
    dsb_gen_release(g);
    dsb_svc_managed_sync(svc, "the events connection came back", 0);
}

/* On PostgreSQL: the shared store's connections, and the listener (open
 * since before the job store) set running. */
static int open_shared(struct dsb_service *svc, const struct dsb_store_conf *sc,
                       struct dsb_error *err)
{
    svc->shared = dsb_shared_open(sc, err);
    if (svc->shared)
        svc->shared_short = dsb_shared_open(sc, err);
    if (!svc->shared_short || dsb_listener_run(svc->listener, err) < 0)
        return -1;
    dsb_logf(DSB_LOG_INFO, "replicas",
             "replica %s: listening for the other replicas' events on the "
             "state store",
             dsb_replica_id());
    return 0;
}

/* Sessions and jobs in state_dir; jobs borrow the current generation's
 * configuration, secrets and AWS client (svc->jobs_gen holds it). */
static int open_state(struct dsb_service *svc, const struct dsb_broker *b,
                      struct dsb_diags *d)
{
    const struct dsb_settings *st = &b->cfg->settings;
    struct dsb_store_conf sc = {.state_dir = b->cfg->state_dir,
                                .url = st->state_url};
    struct dsb_jobs_options jo = {0};
    struct dsb_listener_calls calls = {replica_event, replica_resync, svc};
    struct dsb_error err = {0};
    char *password = NULL;

    if (st->state_pg && st->state_password_ref &&
        dsb_secrets_get(b->secrets, st->state_password_ref, &password, &err) <
            0)
        goto fail;
    sc.password = password;
    svc->sessions = st->state_pg
                        ? dsb_sessions_open_on(&dsb_store_pg, &sc, &err)
                        : dsb_sessions_open(b->cfg->state_dir, &err);
    if (svc->sessions) {
        dsb_sessions_set_idle_expiry(svc->sessions, st->session_idle_ms);
        jo.cfg = b->cfg;
        jo.secrets = b->secrets;
        jo.aws = b->aws;
        /* one id for the job leases and the events */
        if (st->state_replica_id)
            dsb_replica_id_set(st->state_replica_id);
        jo.replica_id = st->state_pg ? dsb_replica_id() : st->state_replica_id;
        jo.lease_ms = (long)st->state_lease_ms;
        if (st->state_pg) {
            jo.store = &dsb_store_pg;
            jo.store_conf = &sc;
            sc.lease_ms = jo.lease_ms;
            /* the replica id's lock, before the job store claims leases */
            svc->listener = dsb_listener_open(&sc, &calls, &err);
        }
        if (!st->state_pg || svc->listener)
            svc->jobs = dsb_jobs_open(&jo, &err);
    }
    if (svc->jobs && st->state_pg && open_shared(svc, &sc, &err) < 0) {
        dsb_jobs_close(svc->jobs);
        svc->jobs = NULL;
    }
fail:
    dsb_secret_value_free(password);
    if (!svc->sessions || !svc->jobs) {
        dsb_diag_add(d, DSB_SEV_ERROR, NULL, 0, 0, "%s%s%s%s%s", err.message,
                     err.detail[0] ? ": " : "", err.detail,
                     err.hint[0] ? "; hint: " : "", err.hint);
        return -1;
    }
    svc->jobs_gen = dsb_service_gen(svc);
    return 0;
}

/* Points the jobs service at generation g (before g serves calls). */
static void jobs_follow(struct dsb_service *svc, struct dsb_gen *g)
{
    struct dsb_gen *old = svc->jobs_gen;

    dsb_jobs_configure(svc->jobs, g->broker->cfg, g->broker->secrets,
                       g->broker->aws);
    svc->jobs_gen = dsb_gen_hold(g);
    dsb_gen_release(old);
}

/* -------------------------------------------------------- housekeeping */

void dsb_service_housekeeping(struct dsb_service *svc)
{
    struct dsb_gen *g = dsb_service_gen(svc);
    int64_t idle = g->broker->cfg->settings.session_idle_ms;
    long n;

    dsb_sessions_set_idle_expiry(svc->sessions, idle);
    n = dsb_sessions_expire(svc->sessions, idle);
    if (n > 0)
        dsb_logf(DSB_LOG_INFO, "sessions", "%ld idle session%s expired", n,
                 n == 1 ? "" : "s");
    dsb_gen_release(g);
}

/* Every minute, or every half idle expiry when that is shorter. */
static int64_t housekeeping_period(struct dsb_service *svc)
{
    struct dsb_gen *g = dsb_service_gen(svc);
    int64_t half = g->broker->cfg->settings.session_idle_ms / 2;

    dsb_gen_release(g);
    if (half < 100)
        half = 100;
    return half < EXPIRY_INTERVAL_MS ? half : EXPIRY_INTERVAL_MS;
}

/* Trims the heap when a trim fell due (and no later answer moved it). */
static void trim_if_due(struct dsb_service *svc, int64_t now)
{
    long at = atomic_load(&svc->trim_at);

    if (at && at <= now &&
        atomic_compare_exchange_strong(&svc->trim_at, &at, 0))
        dsb_malloc_trim();
}

static void *housekeeper(void *arg)
{
    struct dsb_service *svc = arg;
    int64_t next = dsb_monotonic_ms() + housekeeping_period(svc);
    struct timespec ts;

    pthread_mutex_lock(&svc->hk_mu);
    while (!svc->hk_stop) {
        int64_t now = dsb_monotonic_ms(), at = atomic_load(&svc->trim_at);
        int64_t retry = atomic_load(&svc->sync_retry_at);
        int64_t due = at && at < next ? at : next;
        if (retry && retry < due)
            due = retry;
        if (due > now) {
            dsb_clock_after(CLOCK_MONOTONIC, due - now, &ts);
            pthread_cond_timedwait(&svc->hk_cv, &svc->hk_mu, &ts);
            continue;
        }
        pthread_mutex_unlock(&svc->hk_mu);
        trim_if_due(svc, now);
        if (retry && retry <= now &&
            atomic_compare_exchange_strong(&svc->sync_retry_at, &retry, 0))
            dsb_svc_managed_sync(svc, "a retry of a failed sync", 0);
        if (next <= now) {
            dsb_service_housekeeping(svc);
            next = dsb_monotonic_ms() + housekeeping_period(svc);
        }
        pthread_mutex_lock(&svc->hk_mu);
    }
    pthread_mutex_unlock(&svc->hk_mu);
    return NULL;
}

void dsb_svc_housekeeper_wake(struct dsb_service *svc)
{
    pthread_mutex_lock(&svc->hk_mu);
    pthread_cond_signal(&svc->hk_cv);
    pthread_mutex_unlock(&svc->hk_mu);
}

/* Debounced: each large answer moves the trim to DSB_TRIM_DELAY_MS after
 * it, so a burst of them is trimmed once, after the last. */
void dsb_svc_trim_soon(struct dsb_service *svc)
{
    if (atomic_exchange(&svc->trim_at, dsb_monotonic_ms() + DSB_TRIM_DELAY_MS))
        return;
    dsb_svc_housekeeper_wake(svc);
}

/* hk_mu and hk_cv live as long as the service (made in service_new,
 * destroyed by dsb_service_close): the listener's thread may wake the
 * housekeeper before it starts or after it stopped. */
static int start_housekeeper(struct dsb_service *svc)
{
    svc->hk_started =
        pthread_create(&svc->hk_thread, NULL, housekeeper, svc) == 0;
    return svc->hk_started ? 0 : -1;
}

static void stop_housekeeper(struct dsb_service *svc)
{
    if (!svc->hk_started)
        return;
    pthread_mutex_lock(&svc->hk_mu);
    svc->hk_stop = 1;
    pthread_cond_signal(&svc->hk_cv);
    pthread_mutex_unlock(&svc->hk_mu);
    pthread_join(svc->hk_thread, NULL);
}

/* ------------------------------------------------------------ lifecycle */

void dsb_service_close(struct dsb_service *svc)
{
    if (!svc)
        return;
    stop_housekeeper(svc);
    dsb_listener_stop(svc->listener);
    dsb_svc_ahead_stop(svc);
    dsb_jobs_close(svc->jobs);
    dsb_gen_release(svc->jobs_gen);
    dsb_gen_release(svc->gen);
    dsb_sessions_close(svc->sessions);
    dsb_shared_close(svc->shared);
    dsb_shared_close(svc->shared_short);
    dsb_metrics_free(svc->metrics);
    pthread_rwlock_destroy(&svc->gen_lock);
    pthread_mutex_destroy(&svc->reload_lock);
    pthread_cond_destroy(&svc->hk_cv);
    pthread_mutex_destroy(&svc->hk_mu);
    free(svc->conf_dir);
    free(svc->plugin_dir);
    free(svc);
}

static struct dsb_service *service_new(const struct dsb_service_opts *o)
{
    struct dsb_service *svc = calloc(1, sizeof(*svc));
    pthread_condattr_t ca;

    if (!svc)
        return NULL;
    svc->opts = *o;
    svc->conf_dir = dsb_strdup0(o->conf_dir);
    svc->plugin_dir = dsb_strdup0(o->plugin_dir);
    svc->opts.conf_dir = svc->conf_dir;
    svc->opts.plugin_dir = svc->plugin_dir;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&svc->hk_cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&svc->hk_mu, NULL);
    pthread_rwlock_init(&svc->gen_lock, NULL);
    pthread_mutex_init(&svc->reload_lock, NULL);
    svc->metrics = dsb_metrics_new();
    if (!svc->metrics) {
        dsb_service_close(svc);
        return NULL;
    }
    return svc;
}

struct dsb_service *dsb_service_open(const struct dsb_service_opts *o,
                                     struct dsb_diags *d)
{
    struct dsb_service *svc = service_new(o);
    struct dsb_broker *b;
    struct dsb_gen *g;

    if (!svc)
        return NULL;
    b = load_broker(svc, NULL, d);
    if (!b)
        goto fail;
    apply_logging(b);
    svc->gen = gen_new(svc, b);
    if (!svc->gen) {
        dsb_broker_stop(b);
        goto fail;
    }
    atomic_store(&svc->gen_serial, svc->gen->serial);
    if (open_state(svc, b, d) < 0)
        goto fail;
    if (svc->shared &&
        ((dsb_shared_fresh(svc->shared) && dsb_svc_managed_seed(svc) < 0) ||
         dsb_svc_managed_sync(svc, "the start", 1) < 0)) {
        dsb_diag_add(d, DSB_SEV_ERROR, NULL, 0, 0,
                     "the managed sources could not be synced from the "
                     "state store (the log says why)");
        goto fail;
    }
    if (start_housekeeper(svc) < 0) {
        dsb_diag_add(d, DSB_SEV_ERROR, NULL, 0, 0,
                     "cannot start the "
                     "housekeeping thread: %s",
                     strerror(errno));
        goto fail;
    }
    if (dsb_svc_ahead_start(svc) < 0) {
        dsb_diag_add(d, DSB_SEV_ERROR, NULL, 0, 0,
                     "cannot start the read-ahead thread: %s", strerror(errno));
        goto fail;
    }
    g = dsb_service_gen(svc); /* b, or what the sync reloaded */
    if (g->broker == b)
        log_sources(b);
    dsb_gen_release(g);
    return svc;
fail:
    dsb_service_close(svc);
    return NULL;
}

int dsb_service_reload(struct dsb_service *svc)
{
    struct dsb_diags d;
    int rc;

    dsb_diags_init(&d);
    rc = dsb_service_reload_diags(svc, &d);
    dsb_diags_free(&d);
    return rc;
}

int dsb_service_reload_diags(struct dsb_service *svc, struct dsb_diags *d)
{
    struct dsb_broker *b;
    struct dsb_gen *g = NULL, *cur;

    pthread_mutex_lock(&svc->reload_lock);
    cur = dsb_service_gen(svc);
    b = load_broker(svc, cur->broker, d);
    dsb_gen_release(cur);
    dsb_log_diags(d);
    if (b)
        g = gen_new(svc, b);
    if (!g) {
        dsb_broker_stop(b);
        pthread_mutex_unlock(&svc->reload_lock);
        dsb_logf(DSB_LOG_ERROR, NULL,
                 "reload rejected: the configuration "
                 "has errors; the previous one keeps serving");
        return -1;
    }
    apply_logging(b);
    jobs_follow(svc, g);
    gen_swap(svc, g);
    log_sources(b);
    pthread_mutex_unlock(&svc->reload_lock);
    dsb_logf(DSB_LOG_INFO, NULL,
             "configuration reloaded (generation %ld); "
             "listen, state_dir and limits apply at the next restart",
             g->serial);
    return 0;
}

struct dsb_metrics *dsb_service_metrics(struct dsb_service *svc)
{
    return svc->metrics;
}

int dsb_service_ready(struct dsb_service *svc)
{
    if (dsb_sessions_writable(svc->sessions) < 0)
        return -1;
    return svc->shared_short ? dsb_shared_writable(svc->shared_short) : 0;
}

int dsb_svc_store_check(const struct dsb_ctx *c, struct dsb_error *err)
{
    return c->svc->shared_short ? dsb_shared_check(c->svc->shared_short, err)
                                : 0;
}

int dsb_svc_reload(const struct dsb_ctx *c, json_t **out, struct dsb_error *err)
{
    struct dsb_gen *g;

    if (dsb_svc_require(c, DSB_SCOPE_ADMIN, err) < 0)
        return -1;
    if (dsb_service_reload(c->svc) < 0) {
        dsb_error_set(err, DSB_E_CONFIG,
                      "the configuration has errors; the "
                      "previous one keeps serving");
        dsb_error_hint(err, "run dsbroker check-config on the conf.d "
                            "directory for every problem with its position");
        return -1;
    }
    g = dsb_service_gen(c->svc);
    *out = json_pack("{s:b, s:I}", "reloaded", 1, "config_generation",
                     (json_int_t)g->serial);
    dsb_gen_release(g);
    return 0;
}
