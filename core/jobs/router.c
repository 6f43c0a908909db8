#include "router.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "jobs/executor.h"

/* ---------------------------------------------------------- executors */

static struct dsb_executor_conf builtin;
static pthread_once_t builtin_once = PTHREAD_ONCE_INIT;

static void builtin_init(void)
{
    builtin.name = (char *)"local";
    builtin.type = (char *)"local-spark";
    builtin.networks = json_pack("[ss]", "local", "public");
    builtin.options = json_pack(
        "{s:s, s:[], s:b, s:i, s:i}", "master", "local[2]", "jars", "s3a", 0,
        "default_timeout_seconds", 3600, "max_timeout_seconds", 86400);
    builtin.file = (char *)"(built in)";
    dsb_executor_limits_bind(&builtin);
}

const struct dsb_executor_conf *dsb_executors(const struct dsb_config *cfg,
                                              size_t *n)
{
    if (cfg && cfg->n_executors) {
        *n = cfg->n_executors;
        return cfg->executors;
    }
    pthread_once(&builtin_once, builtin_init);
    *n = 1;
    return &builtin;
}

const struct dsb_executor_conf *dsb_executor_find(const struct dsb_config *cfg,
                                                  const char *name)
{
    size_t n;
    const struct dsb_executor_conf *e = dsb_executors(cfg, &n);

    for (size_t i = 0; name && i < n; i++)
        if (strcmp(e[i].name, name) == 0)
            return &e[i];
    return NULL;
}

void dsb_read_target_for(const struct dsb_executor_conf *e,
                         struct dsb_read_target *t)
{
    const struct dsb_executor_ops *ops = dsb_executor_ops_find(e->type);

    t->executor = e->name;
    t->executor_type = e->type;
    t->caps = ops ? ops->caps(e->options) : 0;
}

/* ----------------------------------------------------------- networks */

static int cmp_json_str(const void *a, const void *b)
{
    return strcmp(json_string_value(*(json_t *const *)a),
                  json_string_value(*(json_t *const *)b));
}

/* Sorted, deduplicated array of the non-NULL names (new ref). */
static json_t *needed_set(const char *const *networks, size_t n)
{
    json_t *items[256], *out = json_array();
    size_t k = 0;

    for (size_t i = 0; out && i < n && k < 256; i++)
        if (networks[i] && *networks[i])
            items[k++] = json_string(networks[i]);
    qsort(items, k, sizeof(*items), cmp_json_str);
    for (size_t i = 0; i < k; i++) {
        if (out && (i == 0 || cmp_json_str(&items[i - 1], &items[i]) != 0))
            json_array_append(out, items[i]);
    }
    for (size_t i = 0; i < k; i++)
        json_decref(items[i]);
    return out;
}

static int reaches(const struct dsb_executor_conf *e, const char *net)
{
    size_t i;
    json_t *v;

    json_array_foreach(e->networks, i,
                       v) if (strcmp(json_string_value(v), net) == 0) return 1;
    return 0;
}

/* Comma-separated needed networks e does not reach, into buf. */
static size_t uncovered(const struct dsb_executor_conf *e, const json_t *need,
                        char *buf, size_t cap)
{
    size_t i, len = 0, count = 0;
    json_t *v;

    buf[0] = '\0';
    json_array_foreach(need, i, v)
    {
        const char *net = json_string_value(v);
        if (e && reaches(e, net))
            continue;
        count++;
        if (len < cap)
            len += (size_t)snprintf(buf + len, cap - len, "%s%s",
                                    len ? ", " : "", net);
    }
    return count;
}

static const char *joined(const json_t *arr, char *buf, size_t cap)
{
    return uncovered(NULL, arr, buf, cap) ? buf : "(none)";
}

/* ------------------------------------------------------------ choosing */

static void fill(struct dsb_route *out, const struct dsb_executor_conf *e)
{
    snprintf(out->executor, sizeof(out->executor), "%s", e->name);
    snprintf(out->type, sizeof(out->type), "%s", e->type);
}

static int explicit_route(const struct dsb_config *cfg, const char *name,
                          struct dsb_route *out, struct dsb_error *err)
{
    const struct dsb_executor_conf *e = dsb_executor_find(cfg, name);
    char miss[256], nets[256];

    if (!e) {
        dsb_error_set(err, DSB_E_INVALID, "no executor named \"%s\"", name);
        goto fail;
    }
    if (uncovered(e, out->networks, miss, sizeof(miss))) {
        dsb_error_set(err, DSB_E_INVALID,
                      "executor \"%s\" cannot reach "
                      "network %s needed by the job's sources",
                      name, miss);
        dsb_error_hint(err,
                       "%s reaches %s; leave the executor out to let "
                       "the broker choose",
                       name, joined(e->networks, nets, sizeof(nets)));
        goto fail;
    }
    fill(out, e);
    snprintf(out->reason, sizeof(out->reason),
             "%s was requested and reaches "
             "%s",
             name, joined(out->networks, nets, sizeof(nets)));
    return 0;
fail:
    snprintf(err->upstream, sizeof(err->upstream), DSB_ROUTE_UPSTREAM);
    return -1;
}

static void default_route(const struct dsb_config *cfg, struct dsb_route *out)
{
    size_t n;
    const struct dsb_executor_conf *e = dsb_executors(cfg, &n);
    const struct dsb_executor_conf *d =
        dsb_executor_find(cfg, cfg ? cfg->default_executor : NULL);

    fill(out, d ? d : &e[0]);
    snprintf(out->reason, sizeof(out->reason),
             "no source needs a network; "
             "%s is the default executor",
             out->executor);
}

/* Index of the best covering executor, or -1; *n_cover counts them. */
static long best(const struct dsb_config *cfg, const json_t *need,
                 size_t *n_cover)
{
    size_t n;
    const struct dsb_executor_conf *e = dsb_executors(cfg, &n);
    char miss[8];
    long pick = -1;

    *n_cover = 0;
    for (size_t i = 0; i < n; i++) {
        size_t w = json_array_size(e[i].networks), pw;
        if (uncovered(&e[i], need, miss, sizeof(miss)))
            continue;
        (*n_cover)++;
        pw = pick < 0 ? (size_t)-1 : json_array_size(e[pick].networks);
        if (w < pw) /* strict: a tie keeps the one declared first */
            pick = (long)i;
    }
    return pick;
}

/* "std reaches public with 1 network; vpc would also work but reaches 2" */
static void explain(const struct dsb_config *cfg, long pick,
                    struct dsb_route *out)
{
    size_t n, len, w;
    const struct dsb_executor_conf *e = dsb_executors(cfg, &n);
    char nets[256], miss[8];

    w = json_array_size(e[pick].networks);
    len = (size_t)snprintf(out->reason, sizeof(out->reason),
                           "%s reaches %s with %zu network%s", e[pick].name,
                           joined(out->networks, nets, sizeof(nets)), w,
                           w == 1 ? "" : "s");
    for (size_t i = 0; i < n && len < sizeof(out->reason); i++) {
        if ((long)i == pick || uncovered(&e[i], out->networks, miss, 8))
            continue;
        w = json_array_size(e[i].networks);
        len += (size_t)snprintf(out->reason + len, sizeof(out->reason) - len,
                                "; %s would also work but reaches %zu%s",
                                e[i].name, w,
                                w == json_array_size(e[pick].networks)
                                    ? " (tie: the first declared wins)"
                                    : "");
    }
}

static int no_route(const struct dsb_config *cfg, const json_t *need,
                    struct dsb_error *err)
{
    size_t n, len = 0;
    const struct dsb_executor_conf *e = dsb_executors(cfg, &n);
    char miss[256], nets[256], hint[512];

    hint[0] = '\0';
    for (size_t i = 0; i < n && len < sizeof(hint); i++)
        len += (size_t)snprintf(hint + len, sizeof(hint) - len, "%s%s: %s",
                                i ? "; " : "", e[i].name,
                                joined(e[i].networks, nets, sizeof(nets)));
    /* networks no executor reaches at all, else the whole set */
    miss[0] = '\0';
    for (size_t i = 0; i < json_array_size(need); i++) {
        const char *net = json_string_value(json_array_get(need, i));
        size_t k = 0;
        while (k < n && !reaches(&e[k], net))
            k++;
        if (k == n)
            snprintf(miss + strlen(miss), sizeof(miss) - strlen(miss), "%s%s",
                     miss[0] ? ", " : "", net);
    }
    dsb_error_set(err, DSB_E_INVALID, "no executor reaches %s %s",
                  miss[0] ? "network" : "all of the networks",
                  miss[0] ? miss : joined(need, nets, sizeof(nets)));
    dsb_error_detail(err, "the job's sources need %s",
                     joined(need, nets, sizeof(nets)));
    dsb_error_hint(err,
                   "executors and their networks: %s; declare an "
                   "executor that reaches them in broker.yaml",
                   hint);
    snprintf(err->upstream, sizeof(err->upstream), DSB_ROUTE_UPSTREAM);
    return -1;
}

int dsb_route(const struct dsb_config *cfg, const char *const *networks,
              size_t n, const char *explicit_executor, struct dsb_route *out,
              struct dsb_error *err)
{
    size_t n_cover;
    long pick;

    memset(out, 0, sizeof(*out));
    out->networks = needed_set(networks, n);
    if (!out->networks)
        return dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
    if (explicit_executor && *explicit_executor) {
        if (explicit_route(cfg, explicit_executor, out, err) == 0)
            return 0;
        goto fail;
    }
    if (json_array_size(out->networks) == 0) {
        default_route(cfg, out);
        return 0;
    }
    pick = best(cfg, out->networks, &n_cover);
    if (pick < 0) {
        no_route(cfg, out->networks, err);
        goto fail;
    }
    fill(out, &dsb_executors(cfg, &n)[pick]);
    explain(cfg, pick, out);
    return 0;
fail:
    dsb_route_clear(out);
    return -1;
}

void dsb_route_clear(struct dsb_route *r)
{
    if (!r)
        return;
    json_decref(r->networks);
    memset(r, 0, sizeof(*r));
}

json_t *dsb_route_json(const struct dsb_route *r)
{
    return json_pack("{s:s, s:s, s:o, s:s}", "executor", r->executor, "type",
                     r->type, "networks",
                     r->networks ? json_incref(r->networks) : json_array(),
                     "reason", r->reason);
}
