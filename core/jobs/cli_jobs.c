#include "jobs/cli_jobs.h"

#include <curl/curl.h>
#include <jansson.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "config.h"
#include "util.h"

char *dsb_cli_base_url(const char *conf_dir)
{
    const char *env = getenv("DSB_URL");
    struct dsb_diags d;
    struct dsb_config *cfg;
    const char *listen;
    char *url;

    if (env && *env)
        return strdup(env);
    dsb_diags_init(&d);
    cfg = dsb_config_load_broker(conf_dir, "/nonexistent", &d);
    listen =
        cfg ? json_string_value(json_object_get(cfg->broker, "listen")) : NULL;
    url = dsb_asprintf("http://%s", listen ? listen : "127.0.0.1:8080");
    dsb_config_free(cfg);
    dsb_diags_free(&d);
    return url;
}

size_t dsb_cli_collect(char *p, size_t size, size_t n, void *ud)
{
    struct dsb_sb *b = ud;

    dsb_sb_add(b, p, size * n);
    return b->oom ? 0 : size * n;
}

long dsb_cli_fetch(const char *url, const char *post, struct dsb_sb *body,
                   FILE *errs)
{
    CURL *c = curl_easy_init();
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: "
                                                   "application/json");
    const char *token = getenv("DSB_TOKEN");
    char auth[1024];
    long status = 0;
    CURLcode rc = CURLE_OUT_OF_MEMORY;

    if (token && *token) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
        h = curl_slist_append(h, auth);
    }
    if (c) {
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, dsb_cli_collect);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
        curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
        if (post)
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, post);
        rc = curl_easy_perform(c);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    }
    if (rc != CURLE_OK) {
        fprintf(errs, "dsbroker: %s: %s\n", url, curl_easy_strerror(rc));
        status = 0;
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return status;
}

/* One request; prints the body (pretty JSON when it parses).  Exit code. */
static int request(const char *url, const char *post, FILE *out, FILE *errs)
{
    struct dsb_sb b = {0};
    long status = dsb_cli_fetch(url, post, &b, errs);
    FILE *to = status / 100 == 2 ? out : errs;
    json_t *j = b.p ? json_loads(b.p, 0, NULL) : NULL;

    if (j)
        json_dumpf(j, to, JSON_INDENT(2));
    else if (b.p)
        fputs(b.p, to);
    if (b.p)
        fputc('\n', to);
    json_decref(j);
    dsb_sb_free(&b);
    return status / 100 == 2 ? DSB_EXIT_OK : DSB_EXIT_FAIL;
}

char *dsb_cli_session_url(const char *conf_dir, const char *session,
                          const char *what)
{
    char *base = dsb_cli_base_url(conf_dir), *url = NULL;
    CURL *c = curl_easy_init();
    char *esc = c ? curl_easy_escape(c, session, 0) : NULL;

    if (base && esc)
        url = dsb_asprintf("%s/v1/sessions/%s/%s", base, esc, what);
    curl_free(esc);
    curl_easy_cleanup(c);
    free(base);
    return url;
}

int dsb_cli_context(const char *conf_dir, const char *session, FILE *out,
                    FILE *errs)
{
    char *url = dsb_cli_session_url(conf_dir, session, "context");
    int rc = url ? request(url, NULL, out, errs) : DSB_EXIT_FAIL;

    free(url);
    return rc;
}

int dsb_cli_submit(const char *conf_dir, const char *session, const char *file,
                   FILE *out, FILE *errs)
{
    size_t len = 0;
    char *code = dsb_read_file(file, 16 << 20, &len), *copy = strdup(file);
    char *url = dsb_cli_session_url(conf_dir, session, "jobs"), *body = NULL;
    json_t *req = code && copy ? json_pack("{s:s, s:s}", "code", code, "name",
                                           basename(copy))
                               : NULL;
    int rc = DSB_EXIT_FAIL;

    if (!code)
        fprintf(errs, "dsbroker: cannot read %s\n", file);
    else if (!req)
        fprintf(errs, "dsbroker: %s is not UTF-8 text\n", file);
    body = req ? json_dumps(req, JSON_COMPACT) : NULL;
    if (body && url)
        rc = request(url, body, out, errs);
    json_decref(req);
    free(body);
    free(url);
    free(code);
    free(copy);
    return rc;
}
