/* HTTP requests in-process: "METHOD URL" on the first line, then
 * "Name: value" header lines, an empty line and the body.  "@S" in the URL
 * stands for a session created at start-up, "@A" in a header value for the
 * admin token. */
#define _XOPEN_SOURCE 700
#include "fuzz.h"
#include "http_harness.h"

#define FZ_MAX_HDRS 16

/* Copies src replacing every `key` with `with` (malloc'd). */
static char *fz_subst(const char *src, const char *key, const char *with)
{
    size_t kl = strlen(key), wl = strlen(with), n = 0;
    char *out = malloc(strlen(src) * (wl > kl ? wl : kl) + 1);

    if (!out)
        return NULL;
    while (*src) {
        if (strncmp(src, key, kl) == 0) {
            memcpy(out + n, with, wl);
            n += wl;
            src += kl;
        } else {
            out[n++] = *src++;
        }
    }
    out[n] = '\0';
    return out;
}

/* Splits "Name: value" lines in place up to the empty line; returns the
 * body's start. */
static char *fz_headers(char *p, char *end, char **names, size_t *n)
{
    while (p < end && *p != '\n' && *n + 2 < FZ_MAX_HDRS * 2) {
        char *nl = memchr(p, '\n', (size_t)(end - p)), *colon;
        if (!nl)
            return end;
        *nl = '\0';
        colon = strchr(p, ':');
        if (colon) {
            *colon = '\0';
            names[(*n)++] = p;
            names[(*n)++] = colon + 1 + strspn(colon + 1, " ");
        }
        p = nl + 1;
    }
    return p < end ? p + 1 : end;
}

static void fz_request(char *text, size_t size)
{
    char *end = text + size, *sp, *nl = memchr(text, '\n', size);
    char *names[FZ_MAX_HDRS * 2 + 1] = {0}, *vals[FZ_MAX_HDRS] = {0};
    char *url = NULL, *body;
    size_t n = 0;

    sp = nl ? memchr(text, ' ', (size_t)(nl - text)) : NULL;
    if (!sp || sp == text)
        return;
    *sp = *nl = '\0';
    body = fz_headers(nl + 1, end, names, &n);
    for (size_t i = 1; i < n; i += 2)
        names[i] = vals[i / 2] = fz_subst(names[i], "@A", FZ_ADMIN);
    url = fz_subst(sp + 1, "@S", fz_session);
    if (url) {
        struct dsb_http_exchange ex = {.method = text,
                                       .url = url,
                                       .headers = (const char *const *)names,
                                       .body = body < end ? body : NULL,
                                       .body_len = (size_t)(end - body)};
        fz_send(&ex);
        dsb_http_exchange_clear(&ex);
    }
    free(url);
    for (size_t i = 0; i < FZ_MAX_HDRS; i++)
        free(vals[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text;

    fz_server();
    text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    fz_request(text, size);
    free(text);
    return 0;
}
