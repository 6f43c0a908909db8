/* Log lines: formatted on the caller's stack (text or JSON), redacted,
 * and written to stderr whole — at once, or, for lines that may wait (the
 * access log), through per-CPU buffers that a flusher thread writes out
 * every few hundred milliseconds.  No JSON library and no allocation on
 * the path of a scalar line: a busy server logs every request. */
#define _GNU_SOURCE /* sched_getcpu */
#include "log.h"

#include "diag.h"

#include <errno.h>
#include <sched.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "util.h"

#define LINE_MAX_BYTES 8192
#define OUT_CAP (64 * 1024)

/* Changed by a reload while other threads log: atomics (relaxed; a line
 * written during a reload may still use the old setting). */
static atomic_int log_level = DSB_LOG_INFO;
static atomic_int log_json;

static const char *const level_names[] = {"error", "warn", "info", "debug"};
static const char *const level_text[] = {" error ", " warn  ", " info  ",
                                         " debug "};

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

/* ------------------------------------------------------------- output */

/* Lines that may wait go to the buffer of the CPU the thread runs on (a
 * stripe), so that the workers do not share one lock per line; a stripe is
 * written out whole when it fills, every out_period_ms by the flusher, and
 * before any line that may not wait (which takes every stripe's lock, so
 * access lines logged before it come out before it).  write_lock makes each
 * write(2) whole (a pipe interleaves writes larger than PIPE_BUF).  Lines of
 * different stripes may come out up to a period apart from their order. */
#define N_STRIPES 4 /* a power of two */
struct stripe {
    pthread_mutex_t lock;
    size_t len;
    char buf[OUT_CAP];
};
static struct stripe stripes[N_STRIPES];
static pthread_mutex_t write_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t ctl_lock = PTHREAD_MUTEX_INITIALIZER; /* below */
static pthread_cond_t ctl_cv = PTHREAD_COND_INITIALIZER;
static atomic_int out_users; /* buffering while > 0 */
static int out_stop, out_thread_on;
static long out_period_ms;
static pthread_t out_thread;
static pthread_once_t out_once = PTHREAD_ONCE_INIT;

static void write_all(const char *p, size_t n)
{
    pthread_mutex_lock(&write_lock);
    while (n > 0) {
        ssize_t w = write(STDERR_FILENO, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break; /* nowhere to report it */
        p += w;
        n -= (size_t)w;
    }
    pthread_mutex_unlock(&write_lock);
}

/* Writes the stripe out (its lock held). */
static void stripe_flush(struct stripe *st)
{
    write_all(st->buf, st->len);
    st->len = 0;
}

static void stripes_lock(void)
{
    for (size_t i = 0; i < N_STRIPES; i++)
        pthread_mutex_lock(&stripes[i].lock);
}

static void stripes_unlock(void)
{
    for (size_t i = N_STRIPES; i-- > 0;)
        pthread_mutex_unlock(&stripes[i].lock);
}

/* A child forked while another thread held one of these locks would block
 * at its first log line: fork waits for them all; the child drops the
 * parent's buffered lines. */
static void out_fork_prepare(void)
{
    pthread_mutex_lock(&ctl_lock);
    stripes_lock();
    pthread_mutex_lock(&write_lock);
}

static void out_fork_parent(void)
{
    pthread_mutex_unlock(&write_lock);
    stripes_unlock();
    pthread_mutex_unlock(&ctl_lock);
}

static void out_fork_child(void)
{
    for (size_t i = 0; i < N_STRIPES; i++)
        stripes[i].len = 0;
    atomic_store(&out_users, 0);
    out_thread_on = 0;
    out_fork_parent();
}

static void out_init(void)
{
    for (size_t i = 0; i < N_STRIPES; i++)
        pthread_mutex_init(&stripes[i].lock, NULL);
    pthread_atfork(out_fork_prepare, out_fork_parent, out_fork_child);
}

static struct stripe *stripe_here(void)
{
    int cpu = sched_getcpu();

    return &stripes[(unsigned)(cpu < 0 ? 0 : cpu) & (N_STRIPES - 1)];
}

static void emit(const char *line, size_t n, int may_wait)
{
    pthread_once(&out_once, out_init);
    if (may_wait && n <= OUT_CAP &&
        atomic_load_explicit(&out_users, memory_order_relaxed) > 0) {
        struct stripe *st = stripe_here();
        pthread_mutex_lock(&st->lock);
        if (st->len + n > OUT_CAP)
            stripe_flush(st);
        memcpy(st->buf + st->len, line, n);
        st->len += n;
        pthread_mutex_unlock(&st->lock);
        return;
    }
    stripes_lock();
    for (size_t i = 0; i < N_STRIPES; i++)
        stripe_flush(&stripes[i]);
    write_all(line, n);
    stripes_unlock();
}

void dsb_log_flush(void)
{
    pthread_once(&out_once, out_init);
    for (size_t i = 0; i < N_STRIPES; i++) {
        pthread_mutex_lock(&stripes[i].lock);
        stripe_flush(&stripes[i]);
        pthread_mutex_unlock(&stripes[i].lock);
    }
}

static void *flusher(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&ctl_lock);
    while (!out_stop) {
        struct timespec t;
        dsb_clock_after(CLOCK_REALTIME, out_period_ms, &t);
        pthread_cond_timedwait(&ctl_cv, &ctl_lock, &t);
        pthread_mutex_unlock(&ctl_lock);
        dsb_log_flush();
        pthread_mutex_lock(&ctl_lock);
    }
    pthread_mutex_unlock(&ctl_lock);
    return NULL;
}

int dsb_log_buffer_start(long period_ms)
{
    int rc = 0;

    pthread_once(&out_once, out_init);
    pthread_mutex_lock(&ctl_lock);
    if (atomic_fetch_add(&out_users, 1) == 0) {
        out_stop = 0;
        out_period_ms = period_ms > 0 ? period_ms : 200;
        out_thread_on = pthread_create(&out_thread, NULL, flusher, NULL) == 0;
        if (!out_thread_on) {
            atomic_store(&out_users, 0);
            rc = -1;
        }
    }
    pthread_mutex_unlock(&ctl_lock);
    return rc;
}

void dsb_log_buffer_stop(void)
{
    int join = 0;

    pthread_once(&out_once, out_init);
    pthread_mutex_lock(&ctl_lock);
    if (atomic_load(&out_users) > 0 && atomic_fetch_sub(&out_users, 1) == 1 &&
        out_thread_on) {
        out_stop = 1;
        out_thread_on = 0;
        join = 1;
        pthread_cond_signal(&ctl_cv);
    }
    pthread_mutex_unlock(&ctl_lock);
    if (join)
        pthread_join(out_thread, NULL);
    dsb_log_flush();
}

/* --------------------------------------------------------- formatting */

/* A line being built; what does not fit is cut (the newline always
 * fits). */
struct line {
    char buf[LINE_MAX_BYTES];
    size_t n;
    int json;
    struct dsb_redact_hold redact; /* held from begin_line to end_line */
};

/* Bytes left, keeping some for the JSON line's '}', the newline, and what
 * the last redaction may add (a value shorter than "[REDACTED]"). */
#define LINE_SLACK 96
static size_t room(const struct line *l)
{
    return l->n < sizeof(l->buf) - LINE_SLACK
               ? sizeof(l->buf) - LINE_SLACK - l->n
               : 0;
}

static void put(struct line *l, const char *s, size_t n)
{
    if (n > room(l))
        n = room(l);
    memcpy(l->buf + l->n, s, n);
    l->n += n;
}

static void puts_(struct line *l, const char *s)
{
    put(l, s, strlen(s));
}

/* v in decimal, at least `width` digits (zero-padded); no printf on the
 * path of every line. */
static void put_int(struct line *l, int64_t v, int width)
{
    char tmp[24], *p = tmp + sizeof(tmp);
    uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;

    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u || tmp + sizeof(tmp) - p < width);
    if (v < 0)
        *--p = '-';
    put(l, p, (size_t)(tmp + sizeof(tmp) - p));
}

/* Length of the valid UTF-8 sequence at s (1..4), 0 when invalid. */
static size_t utf8_len(const unsigned char *s)
{
    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xC2 && s[0] <= 0xDF)
        return (s[1] & 0xC0) == 0x80 ? 2 : 0;
    if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        if ((s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 ||
            (s[0] == 0xE0 && s[1] < 0xA0) || (s[0] == 0xED && s[1] > 0x9F))
            return 0;
        return 3;
    }
    if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        if ((s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 ||
            (s[3] & 0xC0) != 0x80 || (s[0] == 0xF0 && s[1] < 0x90) ||
            (s[0] == 0xF4 && s[1] > 0x8F))
            return 0;
        return 4;
    }
    return 0;
}

/* s as a JSON string: quotes, backslashes and control characters escaped,
 * invalid UTF-8 replaced by U+FFFD; cut short (still closed) when the line
 * is full, so that the line stays valid JSON. */
static void put_json_string(struct line *l, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;

    put(l, "\"", 1);
    while (*p && room(l) > 8) {
        size_t k = utf8_len(p);
        if (*p == '"' || *p == '\\') {
            put(l, "\\", 1);
            put(l, (const char *)p, 1);
        } else if (*p < 0x20) {
            char esc[7] = {'\\',
                           'u',
                           '0',
                           '0',
                           "0123456789abcdef"[*p >> 4],
                           "0123456789abcdef"[*p & 15],
                           0};
            put(l, esc, 6);
        } else if (k == 0) {
            put(l, "\xEF\xBF\xBD", 3);
            k = 1;
        } else {
            put(l, (const char *)p, k);
        }
        p += k ? k : 1;
    }
    put(l, "\"", 1);
}

/* s in a text line: CR and LF become spaces, so one event is one line. */
static void put_text(struct line *l, const char *s)
{
    for (size_t n; *s; s += n) {
        n = strcspn(s, "\r\n");
        put(l, s, n);
        if (s[n]) {
            put(l, " ", 1);
            n++;
        }
    }
}

/* Non-zero when writing s into a line changes some of its bytes (JSON
 * escapes, U+FFFD for invalid UTF-8, CR/LF folded in text): only then can
 * a secret inside it escape the redaction of the finished line. */
static int changed_when_written(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == '"' || *p == '\\' || *p >= 0x7f)
            return 1;
    return 0;
}

/* A string value.  The finished line is redacted (end_line); a value that
 * writing changes, or that may be cut, is redacted first as well: JSON
 * escaping could hide a secret that holds a quote, a backslash or a
 * control character, and a cut could leave a secret's first bytes. */
static void put_value(struct line *l, const char *s)
{
    size_t len = strlen(s), cap;
    char small[1024], *tmp;

    if (l->redact.n == 0 || (len < room(l) && !changed_when_written(s))) {
        if (l->json)
            put_json_string(l, s);
        else
            put_text(l, s);
        return;
    }
    cap = len * 3 + sizeof(DSB_REDACTED);
    tmp = cap <= sizeof(small) ? small : malloc(cap);
    if (!tmp)
        return;
    memcpy(tmp, s, len + 1);
    dsb_redact_held(&l->redact, tmp, cap);
    if (l->json)
        put_json_string(l, tmp);
    else
        put_text(l, tmp);
    if (tmp != small)
        free(tmp);
}

static void put_ts(struct line *l)
{
    char ts[DSB_ISO_TIME_LEN];

    dsb_iso_time(dsb_wall_ms(), ts);
    if (l->json)
        put(l, "{\"ts\":\"", 7);
    puts_(l, ts);
    if (l->json)
        put(l, "\"", 1);
}

/* The line up to and including the message. */
static void begin_line(struct line *l, enum dsb_log_level level,
                       const char *component, const char *msg)
{
    l->n = 0;
    l->json = logs_json();
    dsb_redact_hold(&l->redact);
    put_ts(l);
    if (l->json) {
        puts_(l, ",\"level\":\"");
        puts_(l, level_names[level]);
        put(l, "\"", 1);
        if (component) {
            puts_(l, ",\"component\":");
            put_json_string(l, component);
        }
        puts_(l, ",\"msg\":");
        put_value(l, msg);
        return;
    }
    puts_(l, level_text[level]);
    if (component) {
        put(l, "[", 1);
        puts_(l, component);
        put(l, "] ", 2);
    }
    put_value(l, msg);
}

static void put_key(struct line *l, const char *key)
{
    if (l->json) {
        put(l, ",", 1);
        put_json_string(l, key);
        put(l, ":", 1);
    } else {
        put(l, " ", 1);
        puts_(l, key);
        put(l, "=", 1);
    }
}

static void put_real(struct line *l, double v)
{
    char tmp[40];
    int n = snprintf(tmp, sizeof(tmp), "%.6g", v);

    put(l, tmp, (size_t)n);
    if (l->json && !strpbrk(tmp, ".eEni")) /* a JSON real keeps its dot */
        put(l, ".0", 2);
}

static void put_field(struct line *l, const struct dsb_log_field *f)
{
    if (room(l) < 64 + strlen(f->key)) /* no room for it: left out */
        return;
    switch (f->type) {
    case DSB_LF_STR:
        if (!f->s)
            return;
        put_key(l, f->key);
        put_value(l, f->s);
        return;
    case DSB_LF_INT:
        put_key(l, f->key);
        put_int(l, f->i, 1);
        return;
    case DSB_LF_MILLI:
        put_key(l, f->key);
        if (f->i < 0)
            put(l, "-", 1);
        put_int(l, (f->i < 0 ? -f->i : f->i) / 1000, 1);
        put(l, ".", 1);
        put_int(l, (f->i < 0 ? -f->i : f->i) % 1000, 3);
        return;
    case DSB_LF_REAL:
        put_key(l, f->key);
        put_real(l, f->d);
        return;
    }
}

/* Ends the line: redacts it once more (a value may only match once
 * escaped, or across fields) and hands it out. */
static void end_line(struct line *l, int may_wait)
{
    if (l->json)
        l->buf[l->n++] = '}';
    l->buf[l->n] = '\0';
    l->n = dsb_redact_held(&l->redact, l->buf, sizeof(l->buf) - 1);
    dsb_redact_drop(&l->redact);
    l->buf[l->n++] = '\n';
    emit(l->buf, l->n, may_wait);
}

/* ------------------------------------------------------------- public */

void dsb_log_fields(enum dsb_log_level level, const char *component,
                    const char *msg, const struct dsb_log_field *fields,
                    size_t n, unsigned flags)
{
    struct line l;

    if (level > dsb_log_level())
        return;
    begin_line(&l, level, component, msg);
    for (size_t i = 0; i < n; i++)
        put_field(&l, &fields[i]);
    end_line(&l, (flags & DSB_LOG_MAY_WAIT) != 0);
}

void dsb_vlogf(enum dsb_log_level level, const char *component, const char *fmt,
               va_list ap)
{
    char msg[4096];

    if (level > dsb_log_level())
        return;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    dsb_log_fields(level, component, msg, NULL, 0, 0);
}

void dsb_logf(enum dsb_log_level level, const char *component, const char *fmt,
              ...)
{
    va_list ap;
    va_start(ap, fmt);
    dsb_vlogf(level, component, fmt, ap);
    va_end(ap);
}

/* A deep copy of v with its strings redacted (before encoding turns a
 * secret's quote, backslash or control characters into escapes that no
 * longer match it).  NULL on exhaustion. */
static json_t *redacted_json(const struct dsb_redact_hold *h, const json_t *v)
{
    json_t *out, *item;
    const char *key;
    size_t i;

    if (json_is_string(v)) {
        size_t len = json_string_length(v), cap = len * 3 + 16;
        char *s = malloc(cap);
        if (!s)
            return NULL;
        memcpy(s, json_string_value(v), len + 1);
        dsb_redact_held(h, s, cap);
        out = json_string(s);
        free(s);
        return out;
    }
    if (json_is_array(v)) {
        out = json_array();
        json_array_foreach(v, i, item)
            json_array_append_new(out, redacted_json(h, item));
        return out;
    }
    if (!json_is_object(v))
        return json_deep_copy(v);
    out = json_object();
    json_object_foreach((json_t *)v, key, item)
        json_object_set_new(out, key, redacted_json(h, item));
    return out;
}

/* A value that is not a string or a number: encoded (redacted first). */
static void put_encoded(struct line *l, const json_t *v)
{
    json_t *clean = redacted_json(&l->redact, v);
    char *s = clean ? json_dumps(clean, JSON_ENCODE_ANY | JSON_COMPACT |
                                            JSON_REAL_PRECISION(6))
                    : NULL;

    if (s && (!l->json || strlen(s) <= room(l)))
        puts_(l, s);
    else
        puts_(l, l->json ? "null" : "...");
    free(s);
    json_decref(clean);
}

void dsb_log_event(enum dsb_log_level level, const char *component,
                   const char *msg, const json_t *fields)
{
    struct line l;
    const char *key;
    json_t *v;

    if (level > dsb_log_level())
        return;
    begin_line(&l, level, component, msg);
    json_object_foreach((json_t *)fields, key, v)
    {
        if (room(&l) < 64 + strlen(key))
            break;
        put_key(&l, key);
        if (json_is_string(v))
            put_value(&l, json_string_value(v));
        else if (json_is_integer(v))
            put_int(&l, json_integer_value(v), 1);
        else if (json_is_real(v))
            put_real(&l, json_real_value(v));
        else
            put_encoded(&l, v);
    }
    end_line(&l, 0);
}

void dsb_log_diags(const struct dsb_diags *d)
{
    for (size_t i = 0; i < d->n; i++)
        dsb_logf(d->items[i].severity == DSB_SEV_ERROR ? DSB_LOG_ERROR
                                                       : DSB_LOG_WARN,
                 "config", "%s:%d:%d: %s",
                 d->items[i].file ? d->items[i].file : "-", d->items[i].line,
                 d->items[i].col, d->items[i].message);
}
