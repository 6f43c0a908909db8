/* AWS Signature Version 4: canonical request, string to sign, signature. */
#include "aws/sigv4.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "aws/buf.h"

struct sig_hdr {
    char *name;  /* lower-case */
    char *value; /* trimmed, inner runs of spaces collapsed */
    size_t order;
};

struct sig_hdrs {
    struct sig_hdr *items;
    size_t n, cap;
    int oom;
};

/* Headers botocore never signs (hop-by-hop, tracing, user-agent). */
static const char *const unsigned_headers[] = {"authorization",
                                               "baggage",
                                               "connection",
                                               "expect",
                                               "keep-alive",
                                               "proxy-authenticate",
                                               "proxy-authorization",
                                               "te",
                                               "traceparent",
                                               "tracestate",
                                               "trailer",
                                               "transfer-encoding",
                                               "upgrade",
                                               "user-agent",
                                               "x-amzn-trace-id",
                                               NULL};

static void hex_encode(const unsigned char *in, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < n; i++) {
        out[2 * i] = hex[in[i] >> 4];
        out[2 * i + 1] = hex[in[i] & 15];
    }
    out[2 * n] = '\0';
}

void dsb_sha256_hex(const void *data, size_t len, char hex[65])
{
    unsigned char md[SHA256_DIGEST_LENGTH];

    SHA256(data ? data : (const void *)"", len, md);
    hex_encode(md, sizeof(md), hex);
}

static char *trim_collapse(const char *v)
{
    struct dsb_sb b = {0};
    int space = 0;

    while (*v == ' ' || *v == '\t')
        v++;
    for (; *v; v++) {
        if (*v == ' ' || *v == '\t' || *v == '\r' || *v == '\n') {
            space = 1;
            continue;
        }
        if (space && b.len)
            dsb_sb_addc(&b, ' ');
        space = 0;
        dsb_sb_addc(&b, *v);
    }
    return dsb_sb_take(&b);
}

static void hdrs_add(struct sig_hdrs *h, const char *name, const char *value)
{
    struct sig_hdr *items, *e;
    size_t i;

    if (h->n == h->cap) {
        h->cap = h->cap ? h->cap * 2 : 16;
        items = realloc(h->items, h->cap * sizeof(*items));
        if (!items) {
            h->oom = 1;
            return;
        }
        h->items = items;
    }
    e = &h->items[h->n];
    e->name = strdup(name);
    e->value = trim_collapse(value);
    e->order = h->n;
    if (!e->name || !e->value) {
        free(e->name);
        free(e->value);
        h->oom = 1;
        return;
    }
    for (i = 0; e->name[i]; i++)
        if (e->name[i] >= 'A' && e->name[i] <= 'Z')
            e->name[i] = (char)(e->name[i] - 'A' + 'a');
    h->n++;
}

static void hdrs_free(struct sig_hdrs *h)
{
    size_t i;

    for (i = 0; i < h->n; i++) {
        free(h->items[i].name);
        dsb_aws_wipe_free(h->items[i].value);
    }
    free(h->items);
    memset(h, 0, sizeof(*h));
}

static int hdr_cmp(const void *a, const void *b)
{
    const struct sig_hdr *x = a, *y = b;
    int c = strcmp(x->name, y->name);

    if (c)
        return c;
    return x->order < y->order ? -1 : x->order > y->order;
}

static int is_signer_header(const char *name, int s3)
{
    const char *const *u;

    for (u = unsigned_headers; *u; u++)
        if (strcasecmp(name, *u) == 0)
            return 1;
    return strcasecmp(name, "host") == 0 ||
           strcasecmp(name, "x-amz-date") == 0 ||
           strcasecmp(name, "x-amz-security-token") == 0 ||
           (s3 && strcasecmp(name, "x-amz-content-sha256") == 0);
}

/* The payload hash: S3's computed one, else a caller-given
 * x-amz-content-sha256 (as botocore), else the body's. */
static void payload_hash(const struct dsb_sigv4_req *r, char hex[65])
{
    size_t i;

    for (i = 0; !r->s3 && i < r->n_headers; i++) {
        if (strcasecmp(r->headers[i].key, "x-amz-content-sha256") == 0 &&
            strlen(r->headers[i].value) < 65) {
            strcpy(hex, r->headers[i].value);
            return;
        }
    }
    dsb_sha256_hex(r->body, r->body_len, hex);
}

static void collect_headers(const struct dsb_sigv4_req *r,
                            const struct dsb_aws_creds *c,
                            const struct dsb_sigv4_out *out, struct sig_hdrs *h)
{
    size_t i;

    for (i = 0; i < r->n_headers; i++)
        if (!is_signer_header(r->headers[i].key, r->s3))
            hdrs_add(h, r->headers[i].key, r->headers[i].value);
    hdrs_add(h, "host", r->host);
    hdrs_add(h, "x-amz-date", out->amz_date);
    if (c->session_token && *c->session_token)
        hdrs_add(h, "x-amz-security-token", c->session_token);
    if (r->s3)
        hdrs_add(h, "x-amz-content-sha256", out->payload_hash);
    if (!h->oom)
        qsort(h->items, h->n, sizeof(*h->items), hdr_cmp);
}

/* Appends "name:v1,v2\n" lines to canon and "a;b" to signed_names. */
static void canonical_headers(const struct sig_hdrs *h, struct dsb_sb *canon,
                              struct dsb_sb *signed_names)
{
    size_t i;

    for (i = 0; i < h->n; i++) {
        const struct sig_hdr *e = &h->items[i];
        int same = i > 0 && strcmp(e->name, h->items[i - 1].name) == 0;

        if (same) {
            canon->len--; /* drop the previous '\n' */
            dsb_sb_addf(canon, ",%s\n", e->value);
            continue;
        }
        dsb_sb_addf(canon, "%s:%s\n", e->name, e->value);
        if (signed_names->len)
            dsb_sb_addc(signed_names, ';');
        dsb_sb_adds(signed_names, e->name);
    }
}

struct enc_pair {
    char *k;
    char *v;
};

static int pair_cmp(const void *a, const void *b)
{
    const struct enc_pair *x = a, *y = b;
    int c = strcmp(x->k, y->k);

    return c ? c : strcmp(x->v, y->v);
}

static char *encoded(const char *s)
{
    struct dsb_sb b = {0};

    dsb_aws_uri_encode(&b, s ? s : "", 0);
    return dsb_sb_take(&b);
}

char *dsb_sigv4_query_string(const struct dsb_kv *query, size_t n)
{
    struct dsb_sb b = {0};
    struct enc_pair *pairs = calloc(n ? n : 1, sizeof(*pairs));
    size_t i;

    if (!pairs)
        return NULL;
    for (i = 0; i < n; i++) {
        pairs[i].k = encoded(query[i].key);
        pairs[i].v = encoded(query[i].value);
        if (!pairs[i].k || !pairs[i].v)
            b.oom = 1;
    }
    if (!b.oom)
        qsort(pairs, n, sizeof(*pairs), pair_cmp);
    for (i = 0; i < n && !b.oom; i++)
        dsb_sb_addf(&b, "%s%s=%s", i ? "&" : "", pairs[i].k, pairs[i].v);
    for (i = 0; i < n; i++) {
        free(pairs[i].k);
        free(pairs[i].v);
    }
    free(pairs);
    return dsb_sb_take(&b);
}

static void hmac(const void *key, size_t key_len, const char *msg,
                 unsigned char out[32])
{
    unsigned int len = 32;

    HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)msg,
         strlen(msg), out, &len);
}

/* Signature = hex(HMAC(kSigning, string_to_sign)). */
static void signature(const struct dsb_sigv4_req *r, const char *secret,
                      const char *date, const char *sts, char sig[65])
{
    struct dsb_sb k = {0};
    unsigned char a[32], b[32];

    dsb_sb_addf(&k, "AWS4%s", secret);
    hmac(k.p ? k.p : "", k.len, date, a);
    hmac(a, 32, r->region, b);
    hmac(b, 32, r->service, a);
    hmac(a, 32, "aws4_request", b);
    hmac(b, 32, sts, a);
    hex_encode(a, 32, sig);
    OPENSSL_cleanse(a, sizeof(a));
    OPENSSL_cleanse(b, sizeof(b));
    dsb_sb_free(&k);
}

static void canonical_request(const struct dsb_sigv4_req *r,
                              const struct sig_hdrs *h, const char *qs,
                              const char *phash, struct dsb_sb *cr,
                              struct dsb_sb *names)
{
    const char *path = r->path && *r->path ? r->path : "/";

    dsb_sb_addf(cr, "%s\n", r->method);
    if (r->s3)
        dsb_sb_adds(cr, path);
    else
        dsb_aws_uri_encode(cr, path, 1);
    dsb_sb_addf(cr, "\n%s\n", qs);
    canonical_headers(h, cr, names);
    dsb_sb_addf(cr, "\n%s\n%s", names->p ? names->p : "", phash);
}

static int sign_with(const struct dsb_sigv4_req *r,
                     const struct dsb_aws_creds *c, struct dsb_sigv4_out *out,
                     const struct sig_hdrs *h, const char *qs)
{
    struct dsb_sb cr = {0}, names = {0}, sts = {0}, auth = {0};
    char date[9], crhash[65], phash[65], sig[65];
    int rc = -1;

    payload_hash(r, phash);
    canonical_request(r, h, qs, phash, &cr, &names);
    if (cr.oom || names.oom)
        goto fail;
    memcpy(date, out->amz_date, 8);
    date[8] = '\0';
    dsb_sha256_hex(cr.p, cr.len, crhash);
    dsb_sb_addf(&sts, "AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n%s",
                out->amz_date, date, r->region, r->service, crhash);
    if (sts.oom)
        goto fail;
    signature(r, c->secret_key, date, sts.p, sig);
    dsb_sb_addf(&auth,
                "AWS4-HMAC-SHA256 Credential=%s/%s/%s/%s/aws4_request, "
                "SignedHeaders=%s, Signature=%s",
                c->access_key, date, r->region, r->service, names.p, sig);
    out->authorization = dsb_sb_take(&auth);
    out->canonical_request = dsb_sb_take(&cr);
    if (out->authorization && out->canonical_request)
        rc = 0;
fail:
    dsb_sb_free(&cr);
    dsb_sb_free(&names);
    dsb_sb_free(&sts);
    dsb_sb_free(&auth);
    return rc;
}

int dsb_sigv4_sign(const struct dsb_sigv4_req *r, const struct dsb_aws_creds *c,
                   struct dsb_sigv4_out *out)
{
    struct sig_hdrs h = {0};
    struct tm tm;
    char *qs = NULL;
    int rc = -1;

    memset(out, 0, sizeof(*out));
    if (!r->method || !r->host || !r->service || !r->region || !c->access_key ||
        !c->secret_key || !gmtime_r(&r->when, &tm))
        return -1;
    strftime(out->amz_date, sizeof(out->amz_date), "%Y%m%dT%H%M%SZ", &tm);
    dsb_sha256_hex(r->body, r->body_len, out->payload_hash);
    collect_headers(r, c, out, &h);
    qs = dsb_sigv4_query_string(r->query, r->n_query);
    if (h.oom || !qs)
        goto fail;
    rc = sign_with(r, c, out, &h, qs);
fail:
    free(qs);
    hdrs_free(&h);
    if (rc < 0)
        dsb_sigv4_out_free(out);
    return rc;
}

void dsb_sigv4_out_free(struct dsb_sigv4_out *out)
{
    free(out->authorization);
    free(out->canonical_request);
    memset(out, 0, sizeof(*out));
}
