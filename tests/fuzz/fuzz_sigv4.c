/* SigV4 canonicalisation: input lines are method, path, then key=value
 * query pairs until an empty line, then Name: value headers, then a body. */
#define _GNU_SOURCE /* memmem */
#include <stdlib.h>
#include <string.h>

#include "aws/sigv4.h"
#include "fuzz.h"

#define MAXKV 32

static size_t split_kv(char **cur, char sep, struct dsb_kv *kv)
{
    size_t n = 0;

    while (*cur && **cur && **cur != '\n' && n < MAXKV) {
        char *line = *cur, *nl = strchr(line, '\n'), *eq;
        *cur = nl ? nl + 1 : NULL;
        if (nl)
            *nl = '\0';
        eq = strchr(line, sep);
        if (eq)
            *eq = '\0';
        kv[n].key = line;
        kv[n++].value = eq ? eq + 1 : "";
    }
    if (*cur && **cur == '\n')
        (*cur)++;
    return n;
}

static char *next_line(char **cur)
{
    char *line = *cur, *nl;

    if (!line)
        return (char *)"";
    nl = strchr(line, '\n');
    *cur = nl ? nl + 1 : NULL;
    if (nl)
        *nl = '\0';
    return line;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char secret[] = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    struct dsb_aws_creds c = {(char *)"AKIDEXAMPLE", (char *)secret,
                              (char *)"token", 0, "fuzz"};
    struct dsb_kv q[MAXKV], h[MAXKV];
    struct dsb_sigv4_req r = {0};
    struct dsb_sigv4_out out;
    char *text = malloc(size + 1), *cur = text;

    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    r.method = next_line(&cur);
    r.path = next_line(&cur);
    r.n_query = split_kv(&cur, '=', q);
    r.n_headers = split_kv(&cur, ':', h);
    r.query = q;
    r.headers = h;
    r.body = cur ? cur : "";
    r.body_len = cur ? strlen(cur) : 0;
    r.host = "127.0.0.1:4566";
    r.service = size % 2 ? "s3" : "glue";
    r.s3 = (int)(size % 2);
    r.region = "us-east-1";
    r.when = 1440938160;
    if (dsb_sigv4_sign(&r, &c, &out) == 0) {
        /* the secret key must never leave the signer (unless the input
         * itself carried it) */
        if (!memmem(data, size, secret, sizeof(secret) - 1) &&
            (strstr(out.authorization, secret) ||
             strstr(out.canonical_request, secret)))
            abort();
        dsb_sigv4_out_free(&out);
    }
    free(dsb_sigv4_query_string(q, r.n_query));
    free(text);
    return 0;
}
