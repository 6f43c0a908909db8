/* The AWS client: endpoints, signing, sending with retries. */
#include "aws/aws.h"

#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>

#include "arena.h"
#include "aws/buf.h"
#include "aws/credentials.h"
#include "aws/errors.h"
#include "aws/http.h"
#include "aws/sigv4.h"
#include "config.h"
#include "log.h"
#include "util.h"

#ifndef DSB_VERSION
#define DSB_VERSION "0"
#endif

struct dsb_aws {
    char *region;
    char *endpoint_url;
    long connect_timeout_ms;
    long timeout_ms;
    int max_attempts;
    long backoff_base_ms;
    long backoff_cap_ms;
    struct dsb_aws_credprov *creds;
    pthread_mutex_t quota_mu;
    int quota; /* retry tokens left, QUOTA_CAPACITY at most */
};

/* The SDKs' standard-mode retry quota, shared by all requests of a client:
 * a retry takes tokens, a success gives some back, and an empty quota
 * stops retries until successes refill it. */
#define QUOTA_CAPACITY 500
#define QUOTA_RETRY_COST 5
#define QUOTA_TRANSPORT_RETRY_COST 10 /* timeouts, connection failures */
#define QUOTA_SUCCESS_REFUND 1        /* a success that needed no retry */

/* Where a request goes: "scheme://authority", the Host header value and
 * the endpoint's own path prefix ("" or "/prefix"). */
struct target {
    char *base;
    char *host;
    char *base_path;
};

static const char *env_nonempty(const char *name)
{
    const char *v = getenv(name);

    return v && *v ? v : NULL;
}

static char *dup_or_null(const char *s, int *oom)
{
    char *d;

    if (!s || !*s)
        return NULL;
    d = strdup(s);
    if (!d)
        *oom = 1;
    return d;
}

/* The client's limits; their defaults and bounds are those of broker.yaml's
 * aws section. */
enum { L_CONNECT, L_TIMEOUT, L_ATTEMPTS, L_BASE, L_CAP, N_LIMITS };

static const char *const limit_names[N_LIMITS] = {
    "connect_timeout_ms", "timeout_ms", "max_attempts", "backoff_base_ms",
    "backoff_cap_ms"};

static void given_limits(const struct dsb_aws_options *o, long v[N_LIMITS])
{
    v[L_CONNECT] = o->connect_timeout_ms;
    v[L_TIMEOUT] = o->timeout_ms;
    v[L_ATTEMPTS] = o->max_attempts;
    v[L_BASE] = o->backoff_base_ms;
    v[L_CAP] = o->backoff_cap_ms;
}

static int check_options(const struct dsb_aws_options *o, struct dsb_error *err)
{
    const struct dsb_option *opt;
    long v[N_LIMITS];
    int i;

    given_limits(o, v);
    for (i = 0; i < N_LIMITS; i++) {
        opt = dsb_aws_client_option(limit_names[i]);
        if (v[i] && (v[i] < opt->min || v[i] > opt->max))
            return dsb_error_set(err, DSB_E_INVALID,
                                 "aws %s must be between "
                                 "%.0f and %.0f, got %ld",
                                 limit_names[i], opt->min, opt->max, v[i]);
    }
    if (o->endpoint_url && *o->endpoint_url &&
        strncasecmp(o->endpoint_url, "http://", 7) != 0 &&
        strncasecmp(o->endpoint_url, "https://", 8) != 0)
        return dsb_error_set(err, DSB_E_INVALID,
                             "aws endpoint_url \"%s\" "
                             "must start with http:// or https://",
                             o->endpoint_url);
    return 0;
}

static char *initial_region(const struct dsb_aws_options *o, int *oom)
{
    char *r;

    if (o->region && *o->region)
        return dup_or_null(o->region, oom);
    if (env_nonempty("AWS_REGION"))
        return dup_or_null(getenv("AWS_REGION"), oom);
    if (env_nonempty("AWS_DEFAULT_REGION"))
        return dup_or_null(getenv("AWS_DEFAULT_REGION"), oom);
    r = dsb_aws_profile_region(o->profile);
    return r;
}

static long aws_opt(const json_t *aws, const char *key)
{
    return (long)json_integer_value(json_object_get(aws, key));
}

void dsb_aws_options_of(const json_t *aws, struct dsb_aws_options *o)
{
    *o = (struct dsb_aws_options){
        .region = json_string_value(json_object_get(aws, "region")),
        .endpoint_url = json_string_value(json_object_get(aws, "endpoint_url")),
        .profile = json_string_value(json_object_get(aws, "profile")),
        .connect_timeout_ms = aws_opt(aws, "connect_timeout_ms"),
        .timeout_ms = aws_opt(aws, "timeout_ms"),
        .max_attempts = (int)aws_opt(aws, "max_attempts"),
        .backoff_base_ms = aws_opt(aws, "backoff_base_ms"),
        .backoff_cap_ms = aws_opt(aws, "backoff_cap_ms"),
    };
}

static void set_limits(struct dsb_aws *a, const struct dsb_aws_options *o)
{
    long v[N_LIMITS];
    int i;

    given_limits(o, v);
    for (i = 0; i < N_LIMITS; i++)
        if (!v[i])
            v[i] = strtol(dsb_aws_client_option(limit_names[i])->default_value,
                          NULL, 10);
    a->connect_timeout_ms = v[L_CONNECT];
    a->timeout_ms = v[L_TIMEOUT];
    a->max_attempts = (int)v[L_ATTEMPTS];
    a->backoff_base_ms = v[L_BASE];
    a->backoff_cap_ms = v[L_CAP];
}

struct dsb_aws *dsb_aws_new(const struct dsb_aws_options *o,
                            struct dsb_error *err)
{
    static const struct dsb_aws_options none = {0};
    struct dsb_aws *a = NULL;
    int oom = 0;

    if (!o)
        o = &none;
    if (check_options(o, err) < 0)
        return NULL;
    if (dsb_aws_http_global_init() < 0 || !(a = calloc(1, sizeof(*a))))
        goto fail;
    pthread_mutex_init(&a->quota_mu, NULL);
    a->quota = QUOTA_CAPACITY;
    set_limits(a, o);
    a->region = initial_region(o, &oom);
    a->endpoint_url = dup_or_null(o->endpoint_url, &oom);
    a->creds = dsb_aws_credprov_new(o->profile);
    if (!oom && a->creds)
        return a;
fail:
    dsb_aws_free(a);
    dsb_error_set(err, DSB_E_INTERNAL,
                  "cannot create the AWS client: out of "
                  "memory or libcurl failed to initialise");
    return NULL;
}

void dsb_aws_free(struct dsb_aws *a)
{
    if (!a)
        return;
    dsb_aws_credprov_free(a->creds);
    free(a->region);
    free(a->endpoint_url);
    pthread_mutex_destroy(&a->quota_mu);
    free(a);
}

const char *dsb_aws_region(const struct dsb_aws *a)
{
    return a->region;
}

int dsb_aws_credentials(struct dsb_aws *a, struct dsb_aws_creds *out,
                        struct dsb_error *err)
{
    return dsb_aws_credprov_get(a->creds, out, err);
}

int dsb_aws_retry_quota(struct dsb_aws *a)
{
    int left;

    pthread_mutex_lock(&a->quota_mu);
    left = a->quota;
    pthread_mutex_unlock(&a->quota_mu);
    return left;
}

void dsb_aws_thread_cleanup(void)
{
    dsb_aws_http_thread_cleanup();
}

/* ---------------------------------------------------------- endpoints */

/* AWS_ENDPOINT_URL_<ID> for a signing name ("emr-serverless" ->
 * EMR_SERVERLESS, "secretsmanager" -> SECRETS_MANAGER). */
static const char *service_env(const char *service)
{
    static const char *const ids[][2] = {
        {"secretsmanager", "SECRETS_MANAGER"}, {"s3", "S3"},   {"glue", "GLUE"},
        {"emr-serverless", "EMR_SERVERLESS"},  {"sts", "STS"}, {NULL, NULL}};
    char name[96] = "AWS_ENDPOINT_URL_";
    size_t i, len = strlen(name);

    for (i = 0; ids[i][0]; i++)
        if (strcmp(service, ids[i][0]) == 0)
            return env_nonempty(strcat(name, ids[i][1]));
    for (i = 0; service[i] && len + 1 < sizeof(name); i++)
        name[len++] = service[i] == '-' || service[i] == ' '
                          ? '_'
                          : (char)toupper((unsigned char)service[i]);
    name[len] = '\0';
    return env_nonempty(name);
}

char *dsb_aws_endpoint(const struct dsb_aws *a, const char *service,
                       const char *region, const char *req_url, int *overridden)
{
    const char *url = req_url && *req_url ? req_url : a->endpoint_url;
    struct dsb_sb b = {0};

    if (!url)
        url = service_env(service);
    if (!url)
        url = env_nonempty("AWS_ENDPOINT_URL");
    *overridden = url != NULL;
    if (url)
        dsb_sb_adds(&b, url);
    else
        dsb_sb_addf(&b, "https://%s.%s.amazonaws.com%s", service, region,
                    strncmp(region, "cn-", 3) == 0 ? ".cn" : "");
    while (b.len > 0 && b.p[b.len - 1] == '/')
        b.p[--b.len] = '\0';
    return dsb_sb_take(&b);
}

static void target_free(struct target *t)
{
    free(t->base);
    free(t->host);
    free(t->base_path);
    memset(t, 0, sizeof(*t));
}

/* Splits "scheme://authority/path" into a target. */
static int target_parse(const char *url, struct target *t,
                        struct dsb_error *err)
{
    const char *auth = strstr(url, "://"), *path;
    int https = strncasecmp(url, "https://", 8) == 0;
    size_t alen;

    memset(t, 0, sizeof(*t));
    if (!auth || (!https && strncasecmp(url, "http://", 7) != 0) || !auth[3])
        return dsb_error_set(err, DSB_E_CONFIG,
                             "aws endpoint \"%s\" is not "
                             "an http:// or https:// URL",
                             url);
    auth += 3;
    path = auth + strcspn(auth, "/?#");
    alen = (size_t)(path - auth);
    if (https && alen > 4 && strncmp(path - 4, ":443", 4) == 0)
        alen -= 4; /* the Host header omits a default port */
    else if (!https && alen > 3 && strncmp(path - 3, ":80", 3) == 0)
        alen -= 3;
    t->base = strndup(url, (size_t)(path - url));
    t->host = strndup(auth, alen);
    t->base_path = strndup(path, strcspn(path, "?#"));
    if (t->base && t->host && t->base_path)
        return 0;
    target_free(t);
    return dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
}

/* ----------------------------------------------------------- requests */

struct wire {
    struct dsb_sb path; /* base path + encoded request path */
    struct dsb_sb url;
    char *query;
    struct curl_slist *headers;
};

static void wire_free(struct wire *w)
{
    dsb_sb_free(&w->path);
    dsb_sb_free(&w->url);
    free(w->query);
    curl_slist_free_all(w->headers); /* holds the Authorization line */
    memset(w, 0, sizeof(*w));
}

static int valid_request(const struct dsb_aws_request *r, struct dsb_error *err)
{
    size_t i;

    if (!r || !r->service || !*r->service || !r->method || !*r->method)
        return dsb_error_set(err, DSB_E_INVALID,
                             "aws request without a "
                             "service or method");
    if (r->path && r->path[0] && r->path[0] != '/')
        return dsb_error_set(err, DSB_E_INVALID,
                             "aws request path \"%s\" "
                             "must start with '/'",
                             r->path);
    for (i = 0; i < r->n_headers; i++)
        if (!r->headers[i].key || !r->headers[i].value ||
            strpbrk(r->headers[i].key, "\r\n:") ||
            strpbrk(r->headers[i].value, "\r\n"))
            return dsb_error_set(err, DSB_E_INVALID,
                                 "aws request header %zu "
                                 "is missing or holds a line break",
                                 i);
    for (i = 0; i < r->n_query; i++)
        if (!r->query[i].key || !r->query[i].value)
            return dsb_error_set(err, DSB_E_INVALID,
                                 "aws request query "
                                 "parameter %zu is missing",
                                 i);
    return 0;
}

static int is_s3(const struct dsb_aws_request *r)
{
    return strcmp(r->service, "s3") == 0;
}

static int has_header(const struct dsb_aws_request *r, const char *name)
{
    size_t i;

    for (i = 0; i < r->n_headers; i++)
        if (strcasecmp(r->headers[i].key, name) == 0)
            return 1;
    return 0;
}

/* Appends "name: value" (the line may hold a token: wiped after copy). */
static void add_header(struct curl_slist **l, int *oom, const char *name,
                       const char *value)
{
    struct dsb_sb b = {0};
    struct curl_slist *n = NULL;

    dsb_sb_addf(&b, "%s: %s", name, value);
    if (b.p)
        n = curl_slist_append(*l, b.p);
    if (n)
        *l = n;
    else
        *oom = 1;
    dsb_sb_free(&b);
}

static void request_headers(const struct dsb_aws_request *r,
                            const struct target *t,
                            const struct dsb_sigv4_out *sig,
                            const struct dsb_aws_creds *c, struct wire *w,
                            int *oom)
{
    size_t i;

    add_header(&w->headers, oom, "Host", t->host);
    add_header(&w->headers, oom, "X-Amz-Date", sig->amz_date);
    if (c->session_token)
        add_header(&w->headers, oom, "X-Amz-Security-Token", c->session_token);
    if (is_s3(r))
        add_header(&w->headers, oom, "X-Amz-Content-Sha256", sig->payload_hash);
    for (i = 0; i < r->n_headers; i++) {
        const char *k = r->headers[i].key;

        if (strcasecmp(k, "host") && strcasecmp(k, "x-amz-date") &&
            strcasecmp(k, "x-amz-security-token") &&
            strcasecmp(k, "authorization") &&
            (!is_s3(r) || strcasecmp(k, "x-amz-content-sha256")))
            add_header(&w->headers, oom, k, r->headers[i].value);
    }
    if (r->body_len && !has_header(r, "content-type"))
        add_header(&w->headers, oom, "Content-Type",
                   "application/octet-stream");
    add_header(&w->headers, oom, "Expect", "");
    add_header(&w->headers, oom, "User-Agent", "dsbroker/" DSB_VERSION);
    add_header(&w->headers, oom, "Authorization", sig->authorization);
}

/* Builds the URL and the signed headers of one attempt. */
static int build_wire(const struct dsb_aws_request *r, const struct target *t,
                      const char *region, const struct dsb_aws_creds *c,
                      struct wire *w)
{
    struct dsb_sigv4_req s = {0};
    struct dsb_sigv4_out sig = {0};
    int oom = 0;

    dsb_sb_adds(&w->path, t->base_path);
    dsb_aws_uri_encode(&w->path, r->path && *r->path ? r->path : "/", 1);
    w->query = dsb_sigv4_query_string(r->query, r->n_query);
    if (w->path.oom || !w->query)
        return -1;
    dsb_sb_addf(&w->url, "%s%s%s%s", t->base, w->path.p, *w->query ? "?" : "",
                w->query);
    s = (struct dsb_sigv4_req){r->method,
                               t->host,
                               w->path.p,
                               r->query,
                               r->n_query,
                               r->headers,
                               r->n_headers,
                               r->body,
                               r->body_len,
                               r->service,
                               region,
                               is_s3(r),
                               (time_t)(dsb_wall_ms() / 1000)};
    if (w->url.oom || dsb_sigv4_sign(&s, c, &sig) < 0)
        return -1;
    request_headers(r, t, &sig, c, w, &oom);
    dsb_sigv4_out_free(&sig);
    return oom ? -1 : 0;
}

static int transport_error(const struct dsb_aws_request *r, const char *url,
                           const struct dsb_aws_http_resp *h, long timeout_ms,
                           struct dsb_error *err)
{
    CURLcode c = h->curl_code;

    if (c == CURLE_OPERATION_TIMEDOUT) {
        dsb_error_set(err, DSB_E_TIMEOUT, "aws %s did not answer within %ld ms",
                      r->service, timeout_ms);
        dsb_error_hint(err, "retry later, or raise the AWS timeout");
    } else {
        dsb_error_set(err, DSB_E_UNAVAILABLE, "cannot reach aws %s",
                      r->service);
        dsb_error_hint(err, "check the endpoint (AWS_ENDPOINT_URL*, "
                            "endpoint_url), the network and any proxy");
    }
    dsb_error_detail(err, "%s %s: %s", r->method, url, h->curl_error);
    err->retryable =
        c == CURLE_OPERATION_TIMEDOUT || c == CURLE_COULDNT_CONNECT ||
        c == CURLE_COULDNT_RESOLVE_HOST || c == CURLE_COULDNT_RESOLVE_PROXY ||
        c == CURLE_SEND_ERROR || c == CURLE_RECV_ERROR ||
        c == CURLE_GOT_NOTHING || c == CURLE_PARTIAL_FILE || c == CURLE_HTTP2 ||
        c == CURLE_HTTP2_STREAM;
    return -1;
}

/* What is left before deadline d (monotonic ms; 0: none): -1 when there
 * is none, 0 when it has passed. */
static int64_t time_left_ms(int64_t d)
{
    int64_t left;

    if (!d)
        return -1;
    left = d - dsb_monotonic_ms();
    return left > 0 ? left : 0;
}

static int call_deadline_passed(const struct dsb_aws_request *r,
                                struct dsb_error *err)
{
    dsb_error_set(err, DSB_E_TIMEOUT,
                  "aws %s: the plugin call's deadline "
                  "passed before the request could be sent",
                  r->service);
    dsb_error_hint(err, "retry later, or raise limits.plugin_timeout_ms in "
                        "broker.yaml");
    err->retryable = 1;
    return -1;
}

/* One signed attempt: 0 with h filled when a response arrived, -1 with
 * err (retryable set for transport failures). */
static int attempt(struct dsb_aws *a, const struct dsb_aws_request *r,
                   int64_t deadline, const struct target *t, const char *region,
                   struct dsb_aws_http_resp *h, struct dsb_error *err)
{
    struct dsb_aws_creds c = {0};
    struct wire w = {0};
    struct dsb_aws_http_req hr = {0};
    long timeout = r->timeout_ms > 0 ? r->timeout_ms : a->timeout_ms;
    int64_t left = time_left_ms(deadline);
    int rc = -1;

    memset(h, 0, sizeof(*h));
    if (left == 0)
        return call_deadline_passed(r, err);
    if (left > 0 && left < timeout)
        timeout = (long)left;
    if (dsb_aws_credprov_get(a->creds, &c, err) < 0)
        goto fail;
    if (build_wire(r, t, region, &c, &w) < 0) {
        dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
        goto fail;
    }
    hr =
        (struct dsb_aws_http_req){r->method, w.url.p,     w.headers,
                                  r->body,   r->body_len, a->connect_timeout_ms,
                                  timeout};
    rc = dsb_aws_http_perform(&hr, h);
    if (rc < 0)
        transport_error(r, w.url.p, h, timeout, err);
fail:
    dsb_aws_creds_clear(&c);
    wire_free(&w);
    return rc;
}

/* ------------------------------------------------------------ retries */

static long backoff_ms(const struct dsb_aws *a, int attempt_no)
{
    unsigned long long span = (unsigned long long)a->backoff_base_ms;
    unsigned int r = 0;
    int i;

    for (i = 1; i < attempt_no && span < (unsigned long long)a->backoff_cap_ms;
         i++)
        span *= 2;
    if (span > (unsigned long long)a->backoff_cap_ms)
        span = (unsigned long long)a->backoff_cap_ms;
    if (dsb_random_bytes(&r, sizeof(r)) < 0)
        return (long)span; /* no jitter: a longer wait, never a burst */
    return span ? (long)((unsigned long long)r % (span + 1)) : 0;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0)
        ;
}

struct outcome {
    int transport_failed; /* no response: err says why */
    int retry;
    int expired; /* ExpiredToken: refresh credentials once */
    char code[64];
};

static void judge(const struct dsb_aws_http_resp *h, int rc,
                  const struct dsb_error *err, struct outcome *o)
{
    char message[512], rid[128];

    memset(o, 0, sizeof(*o));
    if (rc < 0) {
        o->transport_failed = 1;
        o->retry = err->retryable;
        return;
    }
    if (h->status >= 200 && h->status < 300)
        return;
    snprintf(rid, sizeof(rid), "%s", h->request_id);
    dsb_aws_error_parse(h->body.p, h->body.len, h->error_type, o->code, message,
                        rid);
    o->retry = dsb_aws_should_retry(h->status, o->code);
    o->expired = strcmp(o->code, "ExpiredToken") == 0 ||
                 strcmp(o->code, "ExpiredTokenException") == 0;
}

static void to_response(struct dsb_aws_http_resp *h,
                        struct dsb_aws_response *resp)
{
    memset(resp, 0, sizeof(*resp));
    resp->status = h->status;
    resp->body_len = h->body.len;
    resp->body = dsb_sb_take(&h->body);
    snprintf(resp->request_id, sizeof(resp->request_id), "%s", h->request_id);
    snprintf(resp->error_type, sizeof(resp->error_type), "%s", h->error_type);
}

static void log_retry(const struct dsb_aws_request *r, int n, int max,
                      const struct outcome *o, long status,
                      const struct dsb_error *err, long wait)
{
    if (o->transport_failed)
        dsb_logf(DSB_LOG_INFO, "aws",
                 "%s %s: attempt %d of %d failed (%s); "
                 "retrying in %ld ms",
                 r->service, r->method, n, max, err->message, wait);
    else
        dsb_logf(DSB_LOG_INFO, "aws",
                 "%s %s: attempt %d of %d got HTTP %ld "
                 "%s; retrying in %ld ms",
                 r->service, r->method, n, max, status, o->code, wait);
}

/* Takes cost tokens for one retry: 0 when the quota cannot pay it. */
static int quota_take(struct dsb_aws *a, int cost)
{
    int ok;

    pthread_mutex_lock(&a->quota_mu);
    ok = a->quota >= cost;
    if (ok)
        a->quota -= cost;
    pthread_mutex_unlock(&a->quota_mu);
    return ok;
}

/* After the last attempt: a 2xx gives back the last retry's cost, or one
 * token when the request needed no retry. */
static void quota_settle(struct dsb_aws *a, const struct dsb_aws_http_resp *h,
                         int rc, int last_cost)
{
    if (rc < 0 || h->status < 200 || h->status >= 300)
        return;
    pthread_mutex_lock(&a->quota_mu);
    a->quota += last_cost ? last_cost : QUOTA_SUCCESS_REFUND;
    if (a->quota > QUOTA_CAPACITY)
        a->quota = QUOTA_CAPACITY;
    pthread_mutex_unlock(&a->quota_mu);
}

/* Whether attempt n, judged o, is retried; takes the retry's tokens. */
static int may_retry(struct dsb_aws *a, const struct dsb_aws_request *r,
                     int64_t deadline, int n, const struct outcome *o,
                     long wait, int *cost)
{
    int64_t left = time_left_ms(deadline);

    if (!o->retry || n >= a->max_attempts)
        return 0;
    if (left >= 0 && left <= wait)
        return 0; /* no time left for another attempt */
    *cost = o->transport_failed ? QUOTA_TRANSPORT_RETRY_COST : QUOTA_RETRY_COST;
    if (quota_take(a, *cost))
        return 1;
    dsb_logf(DSB_LOG_INFO, "aws",
             "%s %s: attempt %d of %d failed and the "
             "client's retry quota is spent; not retrying",
             r->service, r->method, n, a->max_attempts);
    return 0;
}

/* Runs attempts until one needs no retry, attempts run out or the retry
 * quota is spent. */
static int send_loop(struct dsb_aws *a, const struct dsb_aws_request *r,
                     int64_t deadline, const struct target *t,
                     const char *region, struct dsb_aws_http_resp *h,
                     struct dsb_error *err)
{
    struct outcome o;
    int n, rc, refreshed = 0, cost = 0, last_cost = 0;
    long wait;

    for (n = 1;; n++) {
        rc = attempt(a, r, deadline, t, region, h, err);
        judge(h, rc, err, &o);
        if (o.expired && !refreshed && dsb_aws_credprov_expire(a->creds)) {
            refreshed = 1; /* refetch temporary credentials, not counted */
            dsb_aws_http_resp_free(h);
            n--;
            continue;
        }
        wait = backoff_ms(a, n);
        if (!may_retry(a, r, deadline, n, &o, wait, &cost)) {
            quota_settle(a, h, rc, last_cost);
            return rc;
        }
        last_cost = cost;
        log_retry(r, n, a->max_attempts, &o, h->status, err, wait);
        dsb_aws_http_resp_free(h);
        sleep_ms(wait);
    }
}

int dsb_aws_send(struct dsb_aws *a, const struct dsb_aws_request *req,
                 struct dsb_aws_response *resp, struct dsb_error *err)
{
    return dsb_aws_send_by(a, req, 0, resp, err);
}

int dsb_aws_send_by(struct dsb_aws *a, const struct dsb_aws_request *req,
                    int64_t deadline_ms, struct dsb_aws_response *resp,
                    struct dsb_error *err)
{
    struct dsb_aws_http_resp h;
    struct target t = {0};
    const char *region;
    char *url = NULL;
    int rc = -1, overridden;

    memset(resp, 0, sizeof(*resp));
    if (valid_request(req, err) < 0)
        return -1;
    region = req->region && *req->region ? req->region : a->region;
    if (!region) {
        dsb_error_set(err, DSB_E_CONFIG, "no AWS region configured");
        dsb_error_hint(err, "set the broker's aws region, AWS_REGION, or the "
                            "profile's region in the shared config file");
        return -1;
    }
    url = dsb_aws_endpoint(a, req->service, region, req->endpoint_url,
                           &overridden);
    if (!url || target_parse(url, &t, err) < 0)
        goto fail;
    rc = send_loop(a, req, deadline_ms, &t, region, &h, err);
    if (rc == 0)
        to_response(&h, resp);
    dsb_aws_http_resp_free(&h);
fail:
    if (!url)
        dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
    free(url);
    target_free(&t);
    return rc;
}

void dsb_aws_response_free(struct dsb_aws_response *resp)
{
    if (!resp)
        return;
    if (resp->body) {
        OPENSSL_cleanse(resp->body, resp->body_len);
        free(resp->body);
    }
    memset(resp, 0, sizeof(*resp));
}

int dsb_aws_error_from_response(const struct dsb_aws_response *resp,
                                struct dsb_error *err)
{
    char code[64], message[512], rid[128];
    const char *errtype = resp->error_type[0] ? resp->error_type : NULL;

    snprintf(rid, sizeof(rid), "%s", resp->request_id);
    dsb_aws_error_parse(resp->body, resp->body ? resp->body_len : 0, errtype,
                        code, message, rid);
    return dsb_aws_error_map(resp->status, code, message, rid, err);
}

/* ----------------------------------------------------------- JSON 1.1 */

static int parse_json_body(const struct dsb_aws_response *resp,
                           const char *target, json_t **out,
                           struct dsb_error *err)
{
    if (resp->body_len == 0) {
        *out = json_object();
        return *out ? 0 : dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
    }
    *out = json_loadb(resp->body, resp->body_len, 0, NULL);
    if (*out)
        return 0;
    /* Never quote the body: it may hold a secret. */
    dsb_error_set(err, DSB_E_UPSTREAM,
                  "aws answered %s with a body that is "
                  "not JSON",
                  target);
    dsb_error_detail(err, "HTTP %ld, %zu bytes, request id %s", resp->status,
                     resp->body_len, resp->request_id);
    return -1;
}

int dsb_aws_call_json(struct dsb_aws *a, const char *service,
                      const char *target, const char *endpoint_url,
                      json_t *body, json_t **out, struct dsb_error *err)
{
    struct dsb_kv h[] = {{"Content-Type", "application/x-amz-json-1.1"},
                         {"X-Amz-Target", target}};
    struct dsb_aws_request r = {
        service, NULL, endpoint_url, "POST", "/", NULL, 0, h, 2, NULL, 0, 0};
    struct dsb_aws_response resp = {0};
    char *text = body ? json_dumps(body, JSON_COMPACT) : strdup("{}");
    int rc = -1;

    *out = NULL;
    if (!text) {
        dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
        goto fail;
    }
    r.body = text;
    r.body_len = strlen(text);
    if (dsb_aws_send(a, &r, &resp, err) < 0)
        goto fail;
    if (resp.status >= 200 && resp.status < 300)
        rc = parse_json_body(&resp, target, out, err);
    else
        dsb_aws_error_from_response(&resp, err);
fail:
    dsb_aws_response_free(&resp);
    dsb_aws_wipe_free(text);
    return rc;
}
