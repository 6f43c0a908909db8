/* Credential chain: environment, shared files, container endpoint, IMDSv2. */
#include "aws/credentials.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "aws/buf.h"
#include "aws/http.h"
#include "aws/ini.h"
#include "log.h"
#include "util.h"

#define REFRESH_AHEAD_MS (15 * 60 * 1000LL)
#define CONTAINER_HOST "http://169.254.170.2"

static const char *container_base = CONTAINER_HOST;
#define IMDS_DEFAULT "http://169.254.169.254"

enum cred_kind { CRED_NONE, CRED_STATIC, CRED_CONTAINER, CRED_IMDS };

struct dsb_aws_credprov {
    pthread_mutex_t lock;
    char *profile; /* explicit profile, or NULL */
    enum cred_kind kind;
    struct dsb_aws_creds cur;
};

static const char *env_nonempty(const char *name)
{
    const char *v = getenv(name);

    return v && *v ? v : NULL;
}

const char *dsb_aws_profile_name(const char *profile)
{
    if (profile && *profile)
        return profile;
    if (env_nonempty("AWS_PROFILE"))
        return getenv("AWS_PROFILE");
    return "default";
}

void dsb_aws_creds_clear(struct dsb_aws_creds *c)
{
    dsb_aws_wipe_free(c->access_key);
    dsb_aws_wipe_free(c->secret_key);
    dsb_aws_wipe_free(c->session_token);
    memset(c, 0, sizeof(*c));
}

/* Fills c from copies of the strings; -1 when memory is exhausted. */
static int creds_set(struct dsb_aws_creds *c, const char *ak, const char *sk,
                     const char *token, int64_t expires, const char *source,
                     struct dsb_error *err)
{
    memset(c, 0, sizeof(*c));
    c->access_key = strdup(ak);
    c->secret_key = strdup(sk);
    c->session_token = token && *token ? strdup(token) : NULL;
    c->expires_ms = expires;
    c->source = source;
    if (c->access_key && c->secret_key &&
        (!token || !*token || c->session_token))
        return 0;
    dsb_aws_creds_clear(c);
    return dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
}

int64_t dsb_aws_parse_iso8601(const char *s)
{
    struct tm tm;
    int n = 0;
    const char *rest;

    memset(&tm, 0, sizeof(tm));
    if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon,
                     &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6)
        return -1;
    rest = s + n;
    if (*rest == '.')
        rest += 1 + strspn(rest + 1, "0123456789");
    if (strcmp(rest, "Z") != 0 && strcmp(rest, "+00:00") != 0 &&
        strcmp(rest, "UTC") != 0 && *rest)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) * 1000;
}

/* ------------------------------------------------------- environment */

static int from_env(struct dsb_aws_creds *c, struct dsb_error *err)
{
    const char *ak = env_nonempty("AWS_ACCESS_KEY_ID");
    const char *sk = env_nonempty("AWS_SECRET_ACCESS_KEY");

    if (!ak && !sk)
        return 0;
    if (!ak || !sk) {
        dsb_error_set(err, DSB_E_CONFIG, "%s is set but %s is not",
                      ak ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
                      ak ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
        dsb_error_hint(err,
                       "set both variables, or neither to use the "
                       "shared files, a container role or an instance role");
        return -1;
    }
    if (creds_set(c, ak, sk, env_nonempty("AWS_SESSION_TOKEN"), 0, "env", err) <
        0)
        return -1;
    return 1;
}

/* ------------------------------------------------------ shared files */

/* $VAR (with a leading ~ expanded) or $HOME/.aws/<file>; malloc'd. */
static char *shared_path(const char *var, const char *file)
{
    const char *v = env_nonempty(var), *home = getenv("HOME");
    struct dsb_sb b = {0};

    if (v && v[0] == '~' && (v[1] == '/' || !v[1]) && home)
        dsb_sb_addf(&b, "%s%s", home, v + 1);
    else if (v)
        dsb_sb_adds(&b, v);
    else
        dsb_sb_addf(&b, "%s/.aws/%s", home ? home : "", file);
    return dsb_sb_take(&b);
}

static int read_profile(const char *path, const char *section,
                        struct dsb_ini_section *s, struct dsb_error *err)
{
    if (dsb_ini_read_section(path, section, s) == 0)
        return 0;
    dsb_error_set(err, DSB_E_CONFIG, "cannot read the AWS file %s", path);
    dsb_error_hint(err, "check the file's permissions");
    return -1;
}

/* Credentials from one profile section: 1 found, 0 none, -1 error. */
static int from_section(const struct dsb_ini_section *s, const char *path,
                        const char *profile, const char *source,
                        struct dsb_aws_creds *c, struct dsb_error *err)
{
    const char *ak = dsb_ini_get(s, "aws_access_key_id");
    const char *sk = dsb_ini_get(s, "aws_secret_access_key");
    static const char *const unsupported[] = {
        "role_arn",      "credential_process",      "sso_session",
        "sso_start_url", "web_identity_token_file", NULL};
    const char *const *u;

    if (ak && sk && *ak && *sk)
        return creds_set(c, ak, sk, dsb_ini_get(s, "aws_session_token"), 0,
                         source, err) < 0
                   ? -1
                   : 1;
    if (ak || sk) {
        dsb_error_set(err, DSB_E_CONFIG,
                      "profile \"%s\" in %s has only one of "
                      "aws_access_key_id and aws_secret_access_key",
                      profile, path);
        return -1;
    }
    for (u = unsupported; *u; u++) {
        if (!dsb_ini_get(s, *u))
            continue;
        dsb_error_set(err, DSB_E_CONFIG,
                      "profile \"%s\" in %s uses %s, which "
                      "the broker does not support",
                      profile, path, *u);
        dsb_error_hint(err, "give the profile static keys, or run the broker "
                            "with a container or instance role");
        return -1;
    }
    return 0;
}

static int from_files(const char *explicit_profile, struct dsb_aws_creds *c,
                      struct dsb_error *err)
{
    const char *profile = dsb_aws_profile_name(explicit_profile);
    char *cpath = shared_path("AWS_SHARED_CREDENTIALS_FILE", "credentials");
    char *fpath = shared_path("AWS_CONFIG_FILE", "config");
    struct dsb_ini_section cs = {0}, fs = {0};
    struct dsb_sb sect = {0};
    int rc = -1;

    if (strcmp(profile, "default") == 0)
        dsb_sb_adds(&sect, "default");
    else
        dsb_sb_addf(&sect, "profile %s", profile);
    if (!cpath || !fpath || sect.oom) {
        dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
        goto fail;
    }
    if (read_profile(cpath, profile, &cs, err) < 0 ||
        read_profile(fpath, sect.p, &fs, err) < 0)
        goto fail;
    rc = from_section(&cs, cpath, profile, "shared-credentials-file", c, err);
    if (rc == 0)
        rc = from_section(&fs, fpath, profile, "shared-config-file", c, err);
    if (rc == 0 && !cs.found && !fs.found &&
        (explicit_profile || env_nonempty("AWS_PROFILE"))) {
        dsb_error_set(err, DSB_E_CONFIG, "AWS profile \"%s\" not found",
                      profile);
        dsb_error_detail(err, "looked in %s and %s", cpath, fpath);
        dsb_error_hint(
            err, "fix the profile name or add the profile to one of the files");
        rc = -1;
    }
fail:
    dsb_ini_section_free(&cs);
    dsb_ini_section_free(&fs);
    dsb_sb_free(&sect);
    free(cpath);
    free(fpath);
    return rc;
}

char *dsb_aws_profile_region(const char *profile)
{
    const char *name = dsb_aws_profile_name(profile), *v;
    char *path = shared_path("AWS_CONFIG_FILE", "config"), *region = NULL;
    struct dsb_ini_section s = {0};
    struct dsb_sb sect = {0};

    if (strcmp(name, "default") == 0)
        dsb_sb_adds(&sect, "default");
    else
        dsb_sb_addf(&sect, "profile %s", name);
    if (path && !sect.oom && dsb_ini_read_section(path, sect.p, &s) == 0) {
        v = dsb_ini_get(&s, "region");
        if (v && *v)
            region = strdup(v);
    }
    dsb_ini_section_free(&s);
    dsb_sb_free(&sect);
    free(path);
    return region;
}

/* ------------------------------------------- container and instance */

/* Parses {"AccessKeyId", "SecretAccessKey", "Token", "Expiration"}. */
static int parse_cred_json(const char *body, const char *source,
                           const char *where, struct dsb_aws_creds *c,
                           struct dsb_error *err)
{
    json_t *j = json_loads(body, 0, NULL);
    const char *ak = json_string_value(json_object_get(j, "AccessKeyId"));
    const char *sk = json_string_value(json_object_get(j, "SecretAccessKey"));
    const char *tok = json_string_value(json_object_get(j, "Token"));
    const char *exp = json_string_value(json_object_get(j, "Expiration"));
    int64_t expires = exp ? dsb_aws_parse_iso8601(exp) : 0;
    int rc = -1;

    if (!ak || !sk || expires < 0) {
        dsb_error_set(err, DSB_E_AUTH,
                      "the %s credentials endpoint answered "
                      "without usable credentials",
                      source);
        dsb_error_detail(err,
                         "endpoint %s; expected AccessKeyId, "
                         "SecretAccessKey, Token and an ISO 8601 Expiration",
                         where);
        goto fail;
    }
    rc = creds_set(c, ak, sk, tok, expires, source, err);
fail:
    json_decref(j); /* the body's copy of the secret goes with it */
    return rc;
}

/* GET/PUT url; 0 with the response when the status is 200. */
static int fetch(const char *method, const char *url, struct curl_slist *h,
                 const char *source, struct dsb_aws_http_resp *resp,
                 struct dsb_error *err)
{
    struct dsb_aws_http_req r = {.method = method,
                                 .url = url,
                                 .headers = h,
                                 .connect_timeout_ms = 1000,
                                 .timeout_ms = 2000};

    if (dsb_aws_http_perform(&r, resp) < 0) {
        dsb_error_set(err, DSB_E_UNAVAILABLE,
                      "the %s credentials endpoint did "
                      "not answer",
                      source);
        dsb_error_detail(err, "%s %s: %s", method, url, resp->curl_error);
        return -1;
    }
    if (resp->status == 200)
        return 0;
    dsb_error_set(err, DSB_E_AUTH,
                  "the %s credentials endpoint refused the "
                  "request with HTTP %ld",
                  source, resp->status);
    dsb_error_detail(err, "%s %s", method, url);
    dsb_aws_http_resp_free(resp);
    return -1;
}

/* 127.0.0.0/8, ::1, or a link-local address of the ECS/EKS agents. */
static int container_host_allowed(const char *host)
{
    unsigned char a[16];
    static const unsigned char eks6[16] = {0xfd, 0x00, 0x0e, 0xc2, [15] = 0x23};
    char h[INET6_ADDRSTRLEN + 2];
    size_t n = strlen(host);

    if (inet_pton(AF_INET, host, a) == 1)
        return a[0] == 127 || strcmp(host, "169.254.170.2") == 0 ||
               strcmp(host, "169.254.170.23") == 0;
    if (n < 3 || n >= sizeof(h) || host[0] != '[' || host[n - 1] != ']')
        return 0;
    memcpy(h, host + 1, n - 2);
    h[n - 2] = '\0';
    if (inet_pton(AF_INET6, h, a) != 1)
        return 0;
    return memcmp(a, &in6addr_loopback, 16) == 0 || memcmp(a, eks6, 16) == 0;
}

int dsb_aws_container_url_allowed(const char *url)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL;
    int ok = 0;

    if (!u || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
        goto fail;
    ok = strcasecmp(scheme, "https") == 0 ||
         (strcasecmp(scheme, "http") == 0 && container_host_allowed(host));
fail:
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return ok;
}

void dsb_aws_set_container_base(const char *base_url)
{
    container_base = base_url ? base_url : CONTAINER_HOST;
}

static int container_url(struct dsb_sb *url, struct dsb_error *err)
{
    const char *rel = env_nonempty("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    const char *full = env_nonempty("AWS_CONTAINER_CREDENTIALS_FULL_URI");

    if (rel) {
        dsb_sb_addf(url, "%s%s%s", container_base, rel[0] == '/' ? "" : "/",
                    rel);
        return 1;
    }
    if (!full)
        return 0;
    if (dsb_aws_container_url_allowed(full)) {
        dsb_sb_adds(url, full);
        return 1;
    }
    dsb_error_set(
        err, DSB_E_CONFIG,
        "AWS_CONTAINER_CREDENTIALS_FULL_URI must "
        "use https, or http to a loopback or ECS/EKS link-local address");
    dsb_error_hint(err, "http is allowed only to 127.0.0.0/8, [::1], "
                        "169.254.170.2, 169.254.170.23 and [fd00:ec2::23]");
    dsb_error_detail(err, "got %s", full);
    return -1;
}

/* "Authorization: <token>" from the token file or variable; NULL if none. */
static int container_auth(struct curl_slist **h, struct dsb_error *err)
{
    const char *file = env_nonempty("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
    const char *tok = env_nonempty("AWS_CONTAINER_AUTHORIZATION_TOKEN");
    struct dsb_sb b = {0};
    char chunk[512];
    size_t n;
    FILE *f;

    if (file) {
        f = fopen(file, "r");
        if (!f) {
            dsb_error_set(err, DSB_E_CONFIG,
                          "cannot read "
                          "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE %s",
                          file);
            return -1;
        }
        dsb_sb_adds(&b, "Authorization: ");
        while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
            dsb_sb_add(&b, chunk, n);
        fclose(f);
        while (b.len && (b.p[b.len - 1] == '\n' || b.p[b.len - 1] == '\r'))
            b.p[--b.len] = '\0';
    } else if (tok) {
        dsb_sb_addf(&b, "Authorization: %s", tok);
    }
    if (b.p)
        *h = curl_slist_append(*h, b.p);
    dsb_sb_free(&b);
    return 0;
}

/* 1 with credentials, 0 when no container endpoint is configured. */
static int from_container(struct dsb_aws_creds *c, struct dsb_error *err)
{
    struct dsb_sb url = {0};
    struct curl_slist *h = NULL;
    struct dsb_aws_http_resp resp;
    int rc = container_url(&url, err);

    if (rc <= 0)
        goto fail;
    rc = -1;
    if (url.oom || container_auth(&h, err) < 0)
        goto fail;
    if (fetch("GET", url.p, h, "container", &resp, err) < 0)
        goto fail;
    rc = parse_cred_json(resp.body.p, "container", url.p, c, err) < 0 ? -1 : 1;
    dsb_aws_http_resp_free(&resp);
fail:
    curl_slist_free_all(h);
    dsb_sb_free(&url);
    return rc;
}

static int imds_disabled(void)
{
    const char *v = env_nonempty("AWS_EC2_METADATA_DISABLED");

    return v && strcasecmp(v, "true") == 0;
}

/* IMDSv2 session token into hdr ("X-aws-ec2-metadata-token: ..."). */
static int imds_token(const char *base, struct dsb_sb *hdr,
                      struct dsb_error *err)
{
    struct curl_slist *h =
        curl_slist_append(NULL, "X-aws-ec2-metadata-token-ttl-seconds: 21600");
    struct dsb_sb url = {0};
    struct dsb_aws_http_resp resp;
    int rc = -1;

    dsb_sb_addf(&url, "%s/latest/api/token", base);
    if (!h || url.oom ||
        fetch("PUT", url.p, h, "instance metadata", &resp, err) < 0)
        goto fail;
    dsb_sb_addf(hdr, "X-aws-ec2-metadata-token: %s", resp.body.p);
    dsb_aws_http_resp_free(&resp);
    rc = hdr->oom ? -1 : 0;
fail:
    curl_slist_free_all(h);
    dsb_sb_free(&url);
    return rc;
}

/* GET base+path with the session token; the body into out (malloc'd). */
static int imds_get(const char *base, const char *path, const char *tokhdr,
                    char **out, struct dsb_error *err)
{
    struct curl_slist *h = curl_slist_append(NULL, tokhdr);
    struct dsb_sb url = {0};
    struct dsb_aws_http_resp resp;
    int rc = -1;

    dsb_sb_addf(&url, "%s%s", base, path);
    if (!h || url.oom ||
        fetch("GET", url.p, h, "instance metadata", &resp, err) < 0)
        goto fail;
    *out = dsb_sb_take(&resp.body);
    rc = *out ? 0 : -1;
fail:
    curl_slist_free_all(h);
    dsb_sb_free(&url);
    return rc;
}

static int from_imds(struct dsb_aws_creds *c, struct dsb_error *err)
{
    const char *ep = env_nonempty("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    const char *base = ep ? ep : IMDS_DEFAULT;
    const char *list = "/latest/meta-data/iam/security-credentials/";
    struct dsb_sb tok = {0}, path = {0};
    char *role = NULL, *body = NULL;
    int rc = -1;

    if (base[strlen(base) - 1] == '/')
        list++; /* "http://host/" + "latest/..." */
    if (imds_token(base, &tok, err) < 0 ||
        imds_get(base, list, tok.p, &role, err) < 0)
        goto fail;
    role[strcspn(role, "\r\n")] = '\0';
    if (!*role) {
        dsb_error_set(err, DSB_E_AUTH, "the instance has no IAM role attached");
        goto fail;
    }
    dsb_sb_addf(&path, "%s%s", list, role);
    if (path.oom || imds_get(base, path.p, tok.p, &body, err) < 0)
        goto fail;
    rc = parse_cred_json(body, "instance metadata", base, c, err) < 0 ? -1 : 1;
fail:
    dsb_sb_free(&tok);
    dsb_sb_free(&path);
    free(role);
    dsb_aws_wipe_free(body);
    return rc;
}

/* -------------------------------------------------------- the chain */

static int no_credentials(struct dsb_error *imds_err, struct dsb_error *err)
{
    dsb_error_set(err, DSB_E_AUTH, "no AWS credentials found");
    dsb_error_detail(err,
                     "tried the environment, the shared credentials and "
                     "config files, the container endpoint and the instance "
                     "metadata service%s%s",
                     imds_err->message[0] ? " (" : "",
                     imds_err->message[0] ? imds_err->message : "");
    if (imds_err->message[0])
        strncat(err->detail, ")",
                sizeof(err->detail) - strlen(err->detail) - 1);
    dsb_error_hint(err,
                   "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                   "AWS_PROFILE, or run with a container or instance role");
    return -1;
}

static int resolve(struct dsb_aws_credprov *p, struct dsb_aws_creds *c,
                   struct dsb_error *err)
{
    struct dsb_error imds_err;
    int rc = 0;

    dsb_error_clear(&imds_err);
    if (!p->profile)
        rc = from_env(c, err);
    if (rc == 0)
        rc = from_files(p->profile, c, err);
    if (rc != 0)
        return rc < 0 ? -1 : (p->kind = CRED_STATIC, 0);
    rc = from_container(c, err);
    if (rc != 0)
        return rc < 0 ? -1 : (p->kind = CRED_CONTAINER, 0);
    if (!imds_disabled() && from_imds(c, &imds_err) > 0)
        return p->kind = CRED_IMDS, 0;
    return no_credentials(&imds_err, err);
}

static int refresh(struct dsb_aws_credprov *p, struct dsb_error *err)
{
    struct dsb_aws_creds fresh = {0};
    int rc;

    if (p->kind == CRED_NONE)
        rc = resolve(p, &fresh, err);
    else if (p->kind == CRED_CONTAINER)
        rc = from_container(&fresh, err) > 0 ? 0 : -1;
    else
        rc = from_imds(&fresh, err) > 0 ? 0 : -1;
    if (rc < 0) {
        if (p->kind != CRED_NONE)
            dsb_logf(DSB_LOG_WARN, "aws",
                     "refreshing the %s credentials "
                     "failed: %s",
                     p->cur.source, err->message);
        return -1;
    }
    if (p->kind != CRED_STATIC || !p->cur.source)
        dsb_logf(DSB_LOG_INFO, "aws", "using AWS credentials from %s",
                 fresh.source);
    dsb_aws_creds_clear(&p->cur);
    p->cur = fresh;
    return 0;
}

static int needs_refresh(const struct dsb_aws_credprov *p)
{
    if (p->kind == CRED_NONE)
        return 1;
    return p->cur.expires_ms &&
           p->cur.expires_ms - dsb_wall_ms() < REFRESH_AHEAD_MS;
}

int dsb_aws_credprov_get(struct dsb_aws_credprov *p, struct dsb_aws_creds *out,
                         struct dsb_error *err)
{
    int rc = -1;

    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&p->lock);
    if (needs_refresh(p) && refresh(p, err) < 0 &&
        (p->kind == CRED_NONE || !p->cur.access_key ||
         p->cur.expires_ms <= dsb_wall_ms()))
        goto fail; /* still valid old credentials are used instead */
    rc = creds_set(out, p->cur.access_key, p->cur.secret_key,
                   p->cur.session_token, p->cur.expires_ms, p->cur.source, err);
fail:
    pthread_mutex_unlock(&p->lock);
    return rc;
}

int dsb_aws_credprov_expire(struct dsb_aws_credprov *p)
{
    int refreshable;

    pthread_mutex_lock(&p->lock);
    refreshable = p->kind == CRED_CONTAINER || p->kind == CRED_IMDS;
    if (refreshable)
        p->cur.expires_ms = 1;
    pthread_mutex_unlock(&p->lock);
    return refreshable;
}

struct dsb_aws_credprov *dsb_aws_credprov_new(const char *profile)
{
    struct dsb_aws_credprov *p = calloc(1, sizeof(*p));

    if (!p)
        return NULL;
    if (profile && *profile && !(p->profile = strdup(profile))) {
        free(p);
        return NULL;
    }
    pthread_mutex_init(&p->lock, NULL);
    return p;
}

void dsb_aws_credprov_free(struct dsb_aws_credprov *p)
{
    if (!p)
        return;
    dsb_aws_creds_clear(&p->cur);
    pthread_mutex_destroy(&p->lock);
    free(p->profile);
    free(p);
}
