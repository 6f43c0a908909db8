/* libcurl transport: one easy handle per thread, reused across requests. */
#include "aws/http.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static pthread_once_t http_once = PTHREAD_ONCE_INIT;
static pthread_key_t http_key;
static int http_init_rc = -1;

static void handle_destroy(void *h)
{
    curl_easy_cleanup(h);
}

static void http_init(void)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return;
    if (pthread_key_create(&http_key, handle_destroy) != 0)
        return;
    http_init_rc = 0;
}

int dsb_aws_http_global_init(void)
{
    pthread_once(&http_once, http_init);
    return http_init_rc;
}

static CURL *thread_handle(void)
{
    CURL *h;

    if (dsb_aws_http_global_init() < 0)
        return NULL;
    h = pthread_getspecific(http_key);
    if (h) {
        curl_easy_reset(h); /* keeps the connection and DNS caches */
        return h;
    }
    h = curl_easy_init();
    if (h && pthread_setspecific(http_key, h) != 0) {
        curl_easy_cleanup(h);
        h = NULL;
    }
    return h;
}

void dsb_aws_http_thread_cleanup(void)
{
    CURL *h;

    if (dsb_aws_http_global_init() < 0)
        return;
    h = pthread_getspecific(http_key);
    if (h) {
        pthread_setspecific(http_key, NULL);
        curl_easy_cleanup(h);
    }
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    struct dsb_aws_http_resp *resp = ud;

    dsb_sb_add(&resp->body, p, size * n);
    return resp->body.oom ? 0 : size * n;
}

/* Copies the value of "Name: value\r\n" into dst when the name matches. */
static void header_value(const char *line, size_t len, const char *name,
                         char *dst, size_t cap)
{
    size_t nlen = strlen(name), vlen;
    const char *v;

    if (len <= nlen || line[nlen] != ':' || strncasecmp(line, name, nlen) != 0)
        return;
    v = line + nlen + 1;
    while (v < line + len && (*v == ' ' || *v == '\t'))
        v++;
    vlen = (size_t)(line + len - v);
    while (vlen &&
           (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
        vlen--;
    if (vlen >= cap)
        vlen = cap - 1;
    memcpy(dst, v, vlen);
    dst[vlen] = '\0';
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    struct dsb_aws_http_resp *resp = ud;
    size_t len = size * n;
    char *colon;

    header_value(p, len, "x-amzn-requestid", resp->request_id,
                 sizeof(resp->request_id));
    header_value(p, len, "x-amz-request-id", resp->request_id,
                 sizeof(resp->request_id));
    header_value(p, len, "x-amzn-errortype", resp->error_type,
                 sizeof(resp->error_type));
    colon = strchr(resp->error_type, ':'); /* "Code:http://..." */
    if (colon)
        *colon = '\0';
    return len;
}

static void set_options(CURL *h, const struct dsb_aws_http_req *r,
                        struct dsb_aws_http_resp *resp)
{
    curl_easy_setopt(h, CURLOPT_URL, r->url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, r->method);
    if (strcmp(r->method, "HEAD") == 0)
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    if (r->body_len || strcmp(r->method, "POST") == 0 ||
        strcmp(r->method, "PUT") == 0) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, r->body ? r->body : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)r->body_len);
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, r->headers);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, resp);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, resp);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, resp->curl_error);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, r->connect_timeout_ms);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, r->timeout_ms);
}

int dsb_aws_http_perform(const struct dsb_aws_http_req *r,
                         struct dsb_aws_http_resp *resp)
{
    CURL *h = thread_handle();

    memset(resp, 0, sizeof(*resp));
    if (!h) {
        resp->curl_code = CURLE_FAILED_INIT;
        snprintf(resp->curl_error, sizeof(resp->curl_error),
                 "cannot initialise libcurl");
        return -1;
    }
    set_options(h, r, resp);
    resp->curl_code = curl_easy_perform(h);
    if (resp->curl_code != CURLE_OK) {
        if (!resp->curl_error[0])
            snprintf(resp->curl_error, sizeof(resp->curl_error), "%s",
                     curl_easy_strerror(resp->curl_code));
        dsb_sb_free(&resp->body);
        return -1;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
    if (!resp->body.p)
        dsb_sb_add(&resp->body, "", 0);
    return resp->body.oom ? -1 : 0;
}

void dsb_aws_http_resp_free(struct dsb_aws_http_resp *resp)
{
    dsb_sb_free(&resp->body);
}
