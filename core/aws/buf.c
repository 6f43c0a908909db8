/* Growable buffer and SigV4 percent-encoding. */
#include "aws/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

static int buf_reserve(struct dsb_aws_buf *b, size_t extra)
{
    size_t need, cap;
    char *p;

    if (b->oom)
        return -1;
    need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    p = malloc(cap);
    if (!p) {
        b->oom = 1;
        return -1;
    }
    if (b->p) {
        memcpy(p, b->p, b->len + 1);
        OPENSSL_cleanse(b->p, b->cap);
        free(b->p);
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

void dsb_aws_buf_add(struct dsb_aws_buf *b, const void *s, size_t n)
{
    if (buf_reserve(b, n) < 0)
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void dsb_aws_buf_adds(struct dsb_aws_buf *b, const char *s)
{
    dsb_aws_buf_add(b, s, strlen(s));
}

void dsb_aws_buf_addc(struct dsb_aws_buf *b, char c)
{
    dsb_aws_buf_add(b, &c, 1);
}

void dsb_aws_buf_addf(struct dsb_aws_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || buf_reserve(b, (size_t)n) < 0) {
        b->oom = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

char *dsb_aws_buf_take(struct dsb_aws_buf *b)
{
    char *p;

    if (b->oom) {
        dsb_aws_buf_free(b);
        return NULL;
    }
    if (!b->p && buf_reserve(b, 0) == 0)
        b->p[0] = '\0';
    p = b->p;
    memset(b, 0, sizeof(*b));
    return p;
}

void dsb_aws_buf_free(struct dsb_aws_buf *b)
{
    if (b->p) {
        OPENSSL_cleanse(b->p, b->cap);
        free(b->p);
    }
    memset(b, 0, sizeof(*b));
}

static int unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
           c == '~';
}

void dsb_aws_uri_encode(struct dsb_aws_buf *b, const char *s, int keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *p;
    char enc[3];

    for (p = (const unsigned char *)s; *p; p++) {
        if (unreserved(*p) || (keep_slash && *p == '/')) {
            dsb_aws_buf_addc(b, (char)*p);
            continue;
        }
        enc[0] = '%';
        enc[1] = hex[*p >> 4];
        enc[2] = hex[*p & 15];
        dsb_aws_buf_add(b, enc, 3);
    }
}

void dsb_aws_wipe_free(char *s)
{
    if (!s)
        return;
    OPENSSL_cleanse(s, strlen(s));
    free(s);
}
