/* Logging with secret redaction (core/redact.c).  Lines go to stderr, as
 * text or JSON. */
#ifndef DSB_CORE_LOG_H
#define DSB_CORE_LOG_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "dsbroker/plugin.h"

void dsb_log_set_level(enum dsb_log_level level);
enum dsb_log_level dsb_log_level(void);
/* Non-zero: one JSON object per line instead of text. */
void dsb_log_set_json(int json);
/* Parses "error", "warn", "info", "debug"; -1 when unknown. */
int dsb_log_level_parse(const char *s);

/* Writes one line "LEVEL [component] message" (component may be NULL).
 * Known secret values are replaced by "[REDACTED]" before writing. */
void dsb_logf(enum dsb_log_level level, const char *component, const char *fmt,
              ...) DSB_PRINTF(3, 4);
void dsb_vlogf(enum dsb_log_level level, const char *component, const char *fmt,
               va_list ap) DSB_PRINTF(3, 0);

/* Writes one event: in JSON mode the members of `fields` (a JSON object,
 * borrowed, may be NULL) join ts/level/component/msg; in text mode they
 * follow the message as key=value pairs.  Redacted like dsb_logf. */
void dsb_log_event(enum dsb_log_level level, const char *component,
                   const char *msg, const json_t *fields);

/* One field of a line: a string (NULL: left out), an integer, a real, or
 * an integer count of thousandths written as a decimal (1234 -> 1.234). */
enum dsb_log_field_type { DSB_LF_STR, DSB_LF_INT, DSB_LF_REAL, DSB_LF_MILLI };
struct dsb_log_field {
    const char *key;
    enum dsb_log_field_type type;
    const char *s;
    int64_t i;
    double d;
};
#define DSB_LF_S(k, v)                                                         \
    {                                                                          \
        (k), DSB_LF_STR, (v), 0, 0                                             \
    }
#define DSB_LF_I(k, v)                                                         \
    {                                                                          \
        (k), DSB_LF_INT, NULL, (int64_t)(v), 0                                 \
    }
#define DSB_LF_R(k, v)                                                         \
    {                                                                          \
        (k), DSB_LF_REAL, NULL, 0, (double)(v)                                 \
    }
#define DSB_LF_M(k, v)                                                         \
    {                                                                          \
        (k), DSB_LF_MILLI, NULL, (int64_t)(v), 0                               \
    }
/* The line may wait in the buffer (dsb_log_buffer_start). */
#define DSB_LOG_MAY_WAIT 1u

/* dsb_log_event for scalar fields, formatted without allocating (the
 * access log's path).  flags: DSB_LOG_MAY_WAIT or 0. */
void dsb_log_fields(enum dsb_log_level level, const char *component,
                    const char *msg, const struct dsb_log_field *fields,
                    size_t n, unsigned flags);

/* Lines logged with DSB_LOG_MAY_WAIT are gathered in a buffer written out
 * when full, every period_ms (0: 200) by a flusher thread, before any line
 * that may not wait, and by dsb_log_flush; without a started buffer every
 * line is written at once.  Counted: each start needs a stop, and the last
 * stop joins the flusher and writes what is left.  -1 when the thread
 * cannot start (lines are then written at once). */
int dsb_log_buffer_start(long period_ms);
void dsb_log_buffer_stop(void);
void dsb_log_flush(void);

#define DSB_REDACTED "[REDACTED]"

/* Registers a secret value to redact from every log line and every error
 * the broker emits; values shorter than 4 bytes are not registered (they
 * would redact ordinary text).  Thread-safe; the value is copied. */
void dsb_redact_register(const char *value);
void dsb_redact_forget(const char *value);
/* Replaces every registered value in buf (NUL-terminated, capacity cap) by
 * "[REDACTED]", in place, truncating if needed.  Returns the new length. */
size_t dsb_redact(char *buf, size_t cap);
/* For several dsb_redact in a row (a log line's values): one hold of the
 * set, dsb_redact_held for each buffer, then the drop. */
struct dsb_redact_hold {
    int locked;
    size_t n;
};
void dsb_redact_hold(struct dsb_redact_hold *h);
size_t dsb_redact_held(const struct dsb_redact_hold *h, char *buf, size_t cap);
void dsb_redact_drop(struct dsb_redact_hold *h);
/* Applies dsb_redact to message, detail and hint of an error. */
void dsb_redact_error(struct dsb_error *err);

struct dsb_diags;
/* Logs each diagnostic ("config" lines: errors as errors, warnings as
 * warnings), in the log's format. */
void dsb_log_diags(const struct dsb_diags *d);

#endif
