/* Logging with secret redaction.  Lines go to stderr, as text or JSON. */
#ifndef DSB_CORE_LOG_H
#define DSB_CORE_LOG_H

#include <stddef.h>

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
void dsb_logf(enum dsb_log_level level, const char *component,
              const char *fmt, ...) DSB_PRINTF(3, 4);
void dsb_vlogf(enum dsb_log_level level, const char *component,
               const char *fmt, va_list ap) DSB_PRINTF(3, 0);

/* Writes one event: in JSON mode the members of `fields` (a JSON object,
 * borrowed, may be NULL) join ts/level/component/msg; in text mode they
 * follow the message as key=value pairs.  Redacted like dsb_logf. */
void dsb_log_event(enum dsb_log_level level, const char *component,
                   const char *msg, const json_t *fields);

/* Registers a secret value to redact from every log line and every error
 * the broker emits; values shorter than 4 bytes are not registered (they
 * would redact ordinary text).  Thread-safe; the value is copied. */
void dsb_redact_register(const char *value);
void dsb_redact_forget(const char *value);
/* Replaces every registered value in buf (NUL-terminated, capacity cap) by
 * "[REDACTED]", in place, truncating if needed.  Returns the new length. */
size_t dsb_redact(char *buf, size_t cap);
/* Applies dsb_redact to message, detail and hint of an error. */
void dsb_redact_error(struct dsb_error *err);

#endif
