/* struct dsb_host: the services each plugin instance is handed. */
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "host.h"
#include "log.h"
#include "util.h"

static const struct dsb_host_impl *impl_of(const struct dsb_host *h)
{
    return (
        const struct dsb_host_impl *)(const void *)((const char *)h -
                                                    offsetof(
                                                        struct dsb_host_impl,
                                                        pub));
}

static void host_log(const struct dsb_host *h, enum dsb_log_level level,
                     const char *fmt, ...) DSB_PRINTF(3, 4);
static void host_log(const struct dsb_host *h, enum dsb_log_level level,
                     const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    dsb_vlogf(level, impl_of(h)->prefix, fmt, ap);
    va_end(ap);
}

static void host_call_log(const struct dsb_host *h, const struct dsb_call *call,
                          enum dsb_log_level level, const char *fmt, ...)
    DSB_PRINTF(4, 5);
static void host_call_log(const struct dsb_host *h, const struct dsb_call *call,
                          enum dsb_log_level level, const char *fmt, ...)
{
    struct dsb_log_field f[] = {DSB_LF_S(
        "request_id", call && call->request_id[0] ? call->request_id : NULL)};
    char msg[4096];
    va_list ap;

    if (level > dsb_log_level())
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    dsb_log_fields(level, impl_of(h)->prefix, msg, f, 1, 0);
}

static int host_log_enabled(const struct dsb_host *h, enum dsb_log_level level)
{
    (void)h;
    return level <= dsb_log_level();
}

static void *host_alloc(struct dsb_call *call, size_t size)
{
    return dsb_arena_alloc(call->arena, size);
}

static char *host_strdup(struct dsb_call *call, const char *s)
{
    return dsb_arena_strdup(call->arena, s);
}

static int64_t host_deadline(const struct dsb_call *call)
{
    return call->deadline_ms;
}

static int host_secret_get(const struct dsb_host *h, const char *ref,
                           char **value, struct dsb_error *err)
{
    return dsb_secrets_get(impl_of(h)->broker->secrets, ref, value, err);
}

static void host_secret_free(const struct dsb_host *h, char *value)
{
    (void)h;
    dsb_secret_value_free(value);
}

static void host_secret_invalidate(const struct dsb_host *h, const char *ref)
{
    dsb_secrets_invalidate(impl_of(h)->broker->secrets, ref);
}

void dsb_host_init(struct dsb_host_impl *hi, struct dsb_broker *b,
                   const char *plugin, const char *source)
{
    struct dsb_host *h = &hi->pub;

    memset(hi, 0, sizeof(*hi));
    hi->broker = b;
    snprintf(hi->prefix, sizeof(hi->prefix), "%s:%s", plugin, source);
    h->size = sizeof(*h);
    h->abi_major = DSB_ABI_MAJOR;
    h->abi_minor = DSB_ABI_MINOR;
    h->log = host_log;
    h->call_log = host_call_log;
    h->log_enabled = host_log_enabled;
    h->arena_alloc = host_alloc;
    h->arena_strdup = host_strdup;
    h->now_ms = dsb_wall_ms;
    h->monotonic_ms = dsb_monotonic_ms;
    h->call_deadline_ms = host_deadline;
    h->secret_get = host_secret_get;
    h->secret_free = host_secret_free;
    h->secret_invalidate = host_secret_invalidate;
    dsb_host_init_aws(h);
}
