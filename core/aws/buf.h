/* A growable byte buffer for building requests; internal to core/aws. */
#ifndef DSB_CORE_AWS_BUF_H
#define DSB_CORE_AWS_BUF_H

#include <stddef.h>

#include "dsbroker/plugin.h"

/* Always NUL-terminated once something was added; `oom` latches the first
 * allocation failure so callers check once at the end. */
struct dsb_aws_buf {
    char *p;
    size_t len;
    size_t cap;
    int oom;
};

void dsb_aws_buf_add(struct dsb_aws_buf *b, const void *s, size_t n);
void dsb_aws_buf_adds(struct dsb_aws_buf *b, const char *s);
void dsb_aws_buf_addc(struct dsb_aws_buf *b, char c);
void dsb_aws_buf_addf(struct dsb_aws_buf *b, const char *fmt, ...)
    DSB_PRINTF(2, 3);
/* Takes the string (never NULL unless oom) and resets the buffer. */
char *dsb_aws_buf_take(struct dsb_aws_buf *b);
/* Wipes (it may hold credentials) and frees. */
void dsb_aws_buf_free(struct dsb_aws_buf *b);

/* Appends s percent-encoded the SigV4 way: everything but A-Z a-z 0-9 - _ . ~
 * (and '/' when keep_slash) becomes an upper-case %XX. */
void dsb_aws_uri_encode(struct dsb_aws_buf *b, const char *s, int keep_slash);

/* Wipes and frees a string that may hold a secret.  NULL is a no-op. */
void dsb_aws_wipe_free(char *s);

#endif
