/* Prometheus metrics: requests, latencies, cache, plugin calls. */
#define _GNU_SOURCE /* sched_getcpu */
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

#define MAX_PLUGIN_SERIES 512

static const int statuses[] = {200, 201, 204, 304, 400, 401, 403, 404,
                               405, 409, 413, 415, 422, 429, 499, 500,
                               501, 502, 503, 504, 507, 0 /* other */};
#define N_STATUS (sizeof(statuses) / sizeof(*statuses))

static const double buckets[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                 0.01,   0.025,   0.05,   0.1,   0.25,   0.5,
                                 1,      2.5,     5,      10};
#define N_BUCKETS (sizeof(buckets) / sizeof(*buckets))

struct hist {
    atomic_ullong le[N_BUCKETS + 1]; /* last: +Inf */
    atomic_ullong sum_us;
};

struct route_stats {
    atomic_ullong by_status[N_STATUS];
    struct hist lat;
};

struct plugin_series {
    char source[72];
    char slot[24];
    atomic_ullong calls, errors;
    struct hist lat;
};

/* What every answered request counts, kept per CPU (a request adds to
 * the shard of the CPU it runs on) so that the workers do not write the
 * same cache lines on every request; /metrics sums the shards. */
#define N_SHARDS 4 /* a power of two */
struct shard {
    struct route_stats routes[DSB_MAX_ROUTES + 1]; /* last: unmatched */
    atomic_ullong cache_hits, cache_misses;
    char pad[64];
};

struct dsb_metrics {
    struct shard shards[N_SHARDS];
    pthread_mutex_t lock;
    struct plugin_series *series;
    size_t n_series;
};

struct dsb_metrics *dsb_metrics_new(void)
{
    struct dsb_metrics *m = calloc(1, sizeof(*m));

    if (!m)
        return NULL;
    m->series = calloc(MAX_PLUGIN_SERIES, sizeof(*m->series));
    if (!m->series) {
        free(m);
        return NULL;
    }
    pthread_mutex_init(&m->lock, NULL);
    return m;
}

void dsb_metrics_free(struct dsb_metrics *m)
{
    if (!m)
        return;
    pthread_mutex_destroy(&m->lock);
    free(m->series);
    free(m);
}

static struct shard *shard_of(struct dsb_metrics *m)
{
    int cpu = sched_getcpu();

    return &m->shards[(unsigned)(cpu < 0 ? 0 : cpu) & (N_SHARDS - 1)];
}

static void hist_add(struct hist *h, int64_t us)
{
    double s = (double)us / 1e6;
    size_t i = 0;

    while (i < N_BUCKETS && s > buckets[i])
        i++;
    atomic_fetch_add_explicit(&h->le[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_us, (unsigned long long)(us > 0 ? us : 0),
                              memory_order_relaxed);
}

void dsb_metrics_request(struct dsb_metrics *m,
                         const struct dsb_http_route *route, int status,
                         int64_t us)
{
    size_t ri = route ? (size_t)(route - dsb_routes) : DSB_MAX_ROUTES;
    size_t si = 0;
    struct shard *sh;

    if (ri > DSB_MAX_ROUTES)
        ri = DSB_MAX_ROUTES;
    while (statuses[si] && statuses[si] != status)
        si++;
    sh = shard_of(m);
    atomic_fetch_add_explicit(&sh->routes[ri].by_status[si], 1,
                              memory_order_relaxed);
    hist_add(&sh->routes[ri].lat, us);
}

void dsb_metrics_cache(struct dsb_metrics *m, int hit)
{
    struct shard *sh = shard_of(m);

    atomic_fetch_add_explicit(hit ? &sh->cache_hits : &sh->cache_misses, 1,
                              memory_order_relaxed);
}

static struct plugin_series *series(struct dsb_metrics *m, const char *source,
                                    const char *slot)
{
    struct plugin_series *p = NULL;

    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < m->n_series && !p; i++)
        if (strcmp(m->series[i].source, source) == 0 &&
            strcmp(m->series[i].slot, slot) == 0)
            p = &m->series[i];
    if (!p && m->n_series < MAX_PLUGIN_SERIES) {
        p = &m->series[m->n_series++];
        snprintf(p->source, sizeof(p->source), "%s", source);
        snprintf(p->slot, sizeof(p->slot), "%s", slot);
    }
    pthread_mutex_unlock(&m->lock);
    return p;
}

void dsb_metrics_plugin(struct dsb_metrics *m, const char *source,
                        const char *slot, int64_t us, int failed)
{
    struct plugin_series *p = series(m, source, slot);

    if (!p)
        return;
    atomic_fetch_add(&p->calls, 1);
    if (failed)
        atomic_fetch_add(&p->errors, 1);
    hist_add(&p->lat, us);
}

/* ------------------------------------------------------------ render */

/* A histogram summed over n copies (a route's, one per shard). */
static void hist_print(FILE *f, const char *name, const char *labels,
                       const struct hist *const *hs, size_t n)
{
    unsigned long long cum = 0, sum_us = 0;

    for (size_t k = 0; k < n; k++)
        sum_us += atomic_load(&hs[k]->sum_us);
    for (size_t i = 0; i <= N_BUCKETS; i++) {
        for (size_t k = 0; k < n; k++)
            cum += atomic_load(&hs[k]->le[i]);
        if (i < N_BUCKETS)
            fprintf(f, "%s_bucket{%s,le=\"%g\"} %llu\n", name, labels,
                    buckets[i], cum);
        else
            fprintf(f, "%s_bucket{%s,le=\"+Inf\"} %llu\n", name, labels, cum);
    }
    fprintf(f, "%s_sum{%s} %.6f\n", name, labels, (double)sum_us / 1e6);
    fprintf(f, "%s_count{%s} %llu\n", name, labels, cum);
}

static void render_requests(FILE *f, struct dsb_metrics *m)
{
    size_t n = dsb_routes_count();
    char labels[256];

    fputs("# HELP dsb_http_requests_total HTTP requests by route and status.\n"
          "# TYPE dsb_http_requests_total counter\n",
          f);
    for (size_t r = 0; r <= DSB_MAX_ROUTES; r++) {
        const char *pat = r < n ? dsb_routes[r].pattern : "unmatched";
        if (r >= n && r != DSB_MAX_ROUTES)
            continue;
        for (size_t s = 0; s < N_STATUS; s++) {
            unsigned long long v = 0;
            for (size_t k = 0; k < N_SHARDS; k++)
                v += atomic_load(&m->shards[k].routes[r].by_status[s]);
            if (v)
                fprintf(f,
                        "dsb_http_requests_total{route=\"%s\",method=\"%s\","
                        "status=\"%d\"} %llu\n",
                        pat, r < n ? dsb_routes[r].method : "", statuses[s], v);
        }
    }
    fputs("# HELP dsb_http_request_duration_seconds Time to answer.\n"
          "# TYPE dsb_http_request_duration_seconds histogram\n",
          f);
    for (size_t r = 0; r < n; r++) {
        snprintf(labels, sizeof(labels), "route=\"%s\",method=\"%s\"",
                 dsb_routes[r].pattern, dsb_routes[r].method);
        const struct hist *hs[N_SHARDS];
        for (size_t k = 0; k < N_SHARDS; k++)
            hs[k] = &m->shards[k].routes[r].lat;
        hist_print(f, "dsb_http_request_duration_seconds", labels, hs,
                   N_SHARDS);
    }
}

static void render_plugins(FILE *f, struct dsb_metrics *m)
{
    char labels[160];

    fputs("# HELP dsb_plugin_calls_total Plugin slot calls.\n"
          "# TYPE dsb_plugin_calls_total counter\n"
          "# HELP dsb_plugin_errors_total Plugin slot calls that failed.\n"
          "# TYPE dsb_plugin_errors_total counter\n"
          "# HELP dsb_plugin_call_duration_seconds Plugin slot latency.\n"
          "# TYPE dsb_plugin_call_duration_seconds histogram\n",
          f);
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < m->n_series; i++) {
        struct plugin_series *p = &m->series[i];
        snprintf(labels, sizeof(labels), "source=\"%s\",slot=\"%s\"", p->source,
                 p->slot);
        fprintf(f, "dsb_plugin_calls_total{%s} %llu\n", labels,
                atomic_load(&p->calls));
        fprintf(f, "dsb_plugin_errors_total{%s} %llu\n", labels,
                atomic_load(&p->errors));
        const struct hist *one = &p->lat;
        hist_print(f, "dsb_plugin_call_duration_seconds", labels, &one, 1);
    }
    pthread_mutex_unlock(&m->lock);
}

static void render_pool(FILE *f, struct dsb_server *s)
{
    size_t threads, busy, queued;

    dsb_call_pool_stats(s->pool, &threads, &busy, &queued);
    fprintf(f,
            "# TYPE dsb_call_pool_threads gauge\n"
            "dsb_call_pool_threads %zu\n"
            "# TYPE dsb_call_pool_busy gauge\ndsb_call_pool_busy %zu\n"
            "# TYPE dsb_call_pool_queued gauge\ndsb_call_pool_queued %zu\n",
            threads, busy, queued);
}

static void render_gauges(FILE *f, struct dsb_metrics *m, struct dsb_server *s,
                          struct dsb_gen *g)
{
    const union MHD_DaemonInfo *di =
        s->mhd
            ? MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_CURRENT_CONNECTIONS)
            : NULL;
    struct dsb_cache_stats cs;
    size_t st[3] = {0, 0, 0};
    unsigned long long hits = 0, misses = 0;

    dsb_cache_stats(g->cache, &cs);
    for (size_t k = 0; k < N_SHARDS; k++) {
        hits += atomic_load(&m->shards[k].cache_hits);
        misses += atomic_load(&m->shards[k].cache_misses);
    }
    for (size_t i = 0; i < g->broker->n_sources; i++)
        st[g->broker->sources[i].state]++;
    fprintf(f,
            "# TYPE dsb_cache_hits_total counter\n"
            "dsb_cache_hits_total %llu\n"
            "# TYPE dsb_cache_misses_total counter\n"
            "dsb_cache_misses_total %llu\n"
            "# TYPE dsb_cache_entries gauge\ndsb_cache_entries %zu\n"
            "# TYPE dsb_cache_bytes gauge\ndsb_cache_bytes %zu\n"
            "# TYPE dsb_cache_evictions_total counter\n"
            "dsb_cache_evictions_total %llu\n",
            hits, misses, cs.entries, cs.bytes,
            (unsigned long long)cs.evictions);
    fprintf(f,
            "# TYPE dsb_http_in_flight gauge\ndsb_http_in_flight %ld\n"
            "# TYPE dsb_http_connections gauge\ndsb_http_connections %u\n"
            "# TYPE dsb_http_threads gauge\ndsb_http_threads %lld\n",
            atomic_load(&s->in_flight), di ? di->num_connections : 0,
            (long long)g->broker->cfg->settings.threads);
    fprintf(f,
            "# TYPE dsb_sources gauge\n"
            "dsb_sources{state=\"open\"} %zu\n"
            "dsb_sources{state=\"disabled\"} %zu\n"
            "dsb_sources{state=\"failed\"} %zu\n"
            "# TYPE dsb_config_generation gauge\n"
            "dsb_config_generation %ld\n",
            st[0], st[1], st[2], g->serial);
}

char *dsb_metrics_render(struct dsb_metrics *m, struct dsb_server *s,
                         struct dsb_gen *g)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    if (!f)
        return NULL;
    render_requests(f, m);
    render_plugins(f, m);
    render_gauges(f, m, s, g);
    render_pool(f, s);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}
