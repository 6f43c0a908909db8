#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "util.h"

#define REDACTED "[REDACTED]"

/* Changed by a reload while other threads log: atomics (relaxed; a line
 * written during a reload may still use the old setting). */
static atomic_int log_level = DSB_LOG_INFO;
static atomic_int log_json;

struct redact_entry {
    char *value;
    size_t len;
    unsigned refs;
};

static pthread_mutex_t redact_lock = PTHREAD_MUTEX_INITIALIZER;
static struct redact_entry *redact_set;
static size_t redact_n, redact_cap;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void dsb_log_set_level(enum dsb_log_level level)
{
    atomic_store_explicit(&log_level, (int)level, memory_order_relaxed);
}

enum dsb_log_level dsb_log_level(void)
{
    return (enum dsb_log_level)atomic_load_explicit(&log_level,
                                                    memory_order_relaxed);
}

void dsb_log_set_json(int json)
{
    atomic_store_explicit(&log_json, json, memory_order_relaxed);
}

static int logs_json(void)
{
    return atomic_load_explicit(&log_json, memory_order_relaxed);
}

int dsb_log_level_parse(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(s, level_names[i]) == 0)
            return i;
    return -1;
}

static void write_line(enum dsb_log_level level, const char *component,
                       const char *msg)
{
    char ts[DSB_ISO_TIME_LEN];

    dsb_iso_time(dsb_wall_ms(), ts);
    if (logs_json()) {
        json_t *o = json_pack("{s:s, s:s, s:s?, s:s}", "ts", ts, "level",
                              level_names[level], "component", component,
                              "msg", msg);
        char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
        if (s)
            fprintf(stderr, "%s\n", s);
        free(s);
        json_decref(o);
        return;
    }
    if (component)
        fprintf(stderr, "%s %-5s [%s] %s\n", ts, level_names[level], component,
                msg);
    else
        fprintf(stderr, "%s %-5s %s\n", ts, level_names[level], msg);
}

void dsb_vlogf(enum dsb_log_level level, const char *component,
               const char *fmt, va_list ap)
{
    char buf[4096];

    if (level > dsb_log_level())
        return;
    vsnprintf(buf, sizeof(buf), fmt, ap);
    for (char *p = buf; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    dsb_redact(buf, sizeof(buf));
    write_line(level, component, buf);
}

void dsb_logf(enum dsb_log_level level, const char *component,
              const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    dsb_vlogf(level, component, fmt, ap);
    va_end(ap);
}

/* A malloc'd copy of s with every registered secret replaced (room for
 * each 4+ byte value to become REDACTED). */
static char *redacted_dup(const char *s)
{
    size_t len = strlen(s), cap = len * 3 + sizeof(REDACTED);
    char *d = malloc(cap);

    if (!d)
        return NULL;
    memcpy(d, s, len + 1);
    dsb_redact(d, cap);
    return d;
}

/* A deep copy of v with its strings redacted, before JSON encoding turns
 * a secret's quote, backslash or control characters into escapes that no
 * longer match it.  NULL on exhaustion. */
static json_t *redacted_json(const json_t *v)
{
    json_t *out, *item;
    const char *key;
    size_t i;
    char *s;

    if (json_is_string(v)) {
        s = redacted_dup(json_string_value(v));
        out = s ? json_string(s) : NULL;
        free(s);
        return out;
    }
    if (json_is_array(v)) {
        out = json_array();
        json_array_foreach(v, i, item)
            json_array_append_new(out, redacted_json(item));
        return out;
    }
    if (!json_is_object(v))
        return json_deep_copy(v);
    out = json_object();
    json_object_foreach((json_t *)v, key, item)
        json_object_set_new(out, key, redacted_json(item));
    return out;
}

static void event_text(const char *msg, const json_t *fields, char *buf,
                       size_t cap)
{
    const char *key;
    json_t *v;
    size_t n = (size_t)snprintf(buf, cap, "%s", msg);

    json_object_foreach((json_t *)fields, key, v) {
        char *s;
        if (n >= cap)
            return;
        s = json_is_string(v) ? NULL
                              : json_dumps(v, JSON_ENCODE_ANY |
                                                  JSON_REAL_PRECISION(6));
        n += (size_t)snprintf(buf + n, cap - n, " %s=%s", key,
                              s ? s : json_string_value(v));
        free(s);
    }
}

/* msg and fields are already redacted; the encoded line is redacted again
 * for values that only match once escaped. */
static void event_json(enum dsb_log_level level, const char *component,
                       const char *msg, const json_t *fields)
{
    char ts[DSB_ISO_TIME_LEN], buf[8192];
    json_t *o;
    size_t n;

    dsb_iso_time(dsb_wall_ms(), ts);
    o = json_pack("{s:s, s:s, s:s?, s:s}", "ts", ts, "level",
                  level_names[level], "component", component, "msg", msg);
    if (!o)
        return;
    json_object_update(o, (json_t *)fields);
    n = json_dumpb(o, buf, sizeof(buf) - 1,
                   JSON_COMPACT | JSON_REAL_PRECISION(6));
    if (n > 0 && n < sizeof(buf) - 1) {
        buf[n] = '\0';
        dsb_redact(buf, sizeof(buf));
        fprintf(stderr, "%s\n", buf);
    }
    json_decref(o);
}

void dsb_log_event(enum dsb_log_level level, const char *component,
                   const char *msg, const json_t *fields)
{
    char buf[4096], *clean_msg;
    json_t *clean;

    if (level > dsb_log_level())
        return;
    clean_msg = redacted_dup(msg);
    clean = fields ? redacted_json(fields) : json_object();
    if (!clean_msg || !clean)
        goto fail;
    if (logs_json()) {
        event_json(level, component, clean_msg, clean);
    } else {
        event_text(clean_msg, clean, buf, sizeof(buf));
        dsb_logf(level, component, "%s", buf);
    }
fail:
    free(clean_msg);
    json_decref(clean);
}

static long redact_find(const char *value)
{
    for (size_t i = 0; i < redact_n; i++)
        if (strcmp(redact_set[i].value, value) == 0)
            return (long)i;
    return -1;
}

static int redact_reserve(void)
{
    struct redact_entry *ns;
    size_t cap;

    if (redact_n < redact_cap)
        return 0;
    cap = redact_cap * 2 + 8;
    ns = realloc(redact_set, cap * sizeof(*ns));
    if (!ns)
        return -1;
    redact_set = ns;
    redact_cap = cap;
    return 0;
}

void dsb_redact_register(const char *value)
{
    long i;
    char *copy;

    if (!value || strlen(value) < 4)
        return;
    pthread_mutex_lock(&redact_lock);
    i = redact_find(value);
    if (i >= 0) {
        redact_set[i].refs++;
    } else if (redact_reserve() == 0 && (copy = strdup(value)) != NULL) {
        redact_set[redact_n++] = (struct redact_entry){copy, strlen(copy), 1};
    }
    pthread_mutex_unlock(&redact_lock);
}

void dsb_redact_forget(const char *value)
{
    long i;

    if (!value)
        return;
    pthread_mutex_lock(&redact_lock);
    i = redact_find(value);
    if (i >= 0 && --redact_set[i].refs == 0) {
        struct redact_entry *e = &redact_set[i];
        memset(e->value, 0, e->len);
        free(e->value);
        *e = redact_set[--redact_n];
    }
    pthread_mutex_unlock(&redact_lock);
}

static size_t replace_all(char *buf, size_t len, size_t cap,
                          const struct redact_entry *e)
{
    size_t rlen = strlen(REDACTED);
    char *p = buf;

    while ((p = strstr(p, e->value)) != NULL) {
        size_t tail = len - (size_t)(p - buf) - e->len;
        size_t room = cap - 1 - (size_t)(p - buf);
        size_t put = rlen < room ? rlen : room;
        size_t keep = tail < room - put ? tail : room - put;
        memmove(p + put, p + e->len, keep);
        memcpy(p, REDACTED, put);
        len = (size_t)(p - buf) + put + keep;
        buf[len] = '\0';
        p += put;
    }
    return len;
}

size_t dsb_redact(char *buf, size_t cap)
{
    size_t len;

    if (!buf || cap == 0)
        return 0;
    len = strnlen(buf, cap - 1);
    buf[len] = '\0';
    pthread_mutex_lock(&redact_lock);
    for (size_t i = 0; i < redact_n; i++)
        len = replace_all(buf, len, cap, &redact_set[i]);
    pthread_mutex_unlock(&redact_lock);
    return len;
}

void dsb_redact_error(struct dsb_error *err)
{
    if (!err)
        return;
    dsb_redact(err->message, sizeof(err->message));
    dsb_redact(err->detail, sizeof(err->detail));
    dsb_redact(err->hint, sizeof(err->hint));
    dsb_redact(err->upstream, sizeof(err->upstream));
}
