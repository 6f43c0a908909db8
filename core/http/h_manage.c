/* Sources managed at run time (/v1/sources, admin) and the compatibility
 * routes that create and test PostgreSQL connections through the same
 * service operations (core/service/source_admin.c). */
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "util.h"

/* 200/201 with the managed source and its ETag, or the error. */
static void reply_managed(struct dsb_req *r, int rc, int status, json_t *out,
                          const struct dsb_error *err)
{
    char *loc;

    if (rc < 0) {
        dsb_reply_error(r, err);
        return;
    }
    dsb_reply_header(r, "ETag",
                     json_string_value(json_object_get(out, "etag")));
    loc = dsb_asprintf("/v1/sources/%s",
                       json_string_value(json_object_get(out, "name")));
    if (status == 201 && loc)
        dsb_reply_header(r, "Location", loc);
    free(loc);
    dsb_reply_json(r, status, out);
}

void dsb_h_source_create(struct dsb_req *r)
{
    json_t *body = dsb_req_json(r), *out = NULL;
    struct dsb_error err;
    int rc;

    if (body) {
        rc = dsb_svc_source_create(&r->ctx, body, &out, &err);
        reply_managed(r, rc, 201, out, &err);
    }
    json_decref(body);
}

void dsb_h_source_update(struct dsb_req *r)
{
    json_t *body = dsb_req_json(r), *out = NULL;
    struct dsb_error err;
    int rc;

    if (body) {
        rc = dsb_svc_source_update(&r->ctx, r->params[0], body,
                                   dsb_req_header(r, "If-Match"), &out, &err);
        reply_managed(r, rc, 200, out, &err);
    }
    json_decref(body);
}

void dsb_h_source_delete(struct dsb_req *r)
{
    struct dsb_error err;

    if (dsb_svc_source_delete(&r->ctx, r->params[0],
                              dsb_req_header(r, "If-Match"), &err) < 0)
        dsb_reply_error(r, &err);
    else
        dsb_reply_empty(r, 204);
}

void dsb_h_source_test(struct dsb_req *r)
{
    json_t *body = dsb_req_json(r), *out = NULL;
    struct dsb_error err;

    if (body)
        dsb_reply_result(r, dsb_svc_source_test(&r->ctx, body, &out, &err),
                         &out, &err);
    json_decref(body);
}

/* ------------------------------------------------------------ compat */

/* The body of a compat route that creates or tests a source, after the
 * admin scope (checked first, as the service would); replies itself. */
static json_t *admin_json(struct dsb_req *r)
{
    struct dsb_error err;

    if (dsb_svc_require(&r->ctx, DSB_SCOPE_ADMIN, &err) == 0)
        return dsb_req_json(r);
    dsb_reply_error(r, &err);
    return NULL;
}

/* A postgres source document from the original's connection body: name
 * (NULL for a test), host, port, database, and the credentials of
 * auth_method (secrets_manager: secret_arn, an RDS-style secret;
 * user_password: username and password).  NULL with a reply sent. */
static json_t *pg_doc(struct dsb_req *r, const json_t *body, int named)
{
    const char *auth = json_string_value(json_object_get(body, "auth_method"));
    const char *arn = json_string_value(json_object_get(body, "secret_arn"));
    const char *user = json_string_value(json_object_get(body, "username"));
    const char *pw = json_string_value(json_object_get(body, "password"));
    const json_t *port = json_object_get(body, "port");
    const char *db = json_string_value(json_object_get(body, "database"));
    const char *host = json_string_value(json_object_get(body, "host"));
    const char *net = r->gen->broker->cfg->settings.compat_connections_network;
    const char *name;
    json_t *doc;

    if (auth && strcmp(auth, "iam") == 0) {
        dsb_reply_problem(r, 501, "unsupported",
                          "IAM authentication is not supported yet", auth,
                          "use secrets_manager (secret_arn) or user_password");
        return NULL;
    }
    if (!auth || (strcmp(auth, "secrets_manager") != 0 &&
                  strcmp(auth, "user_password") != 0)) {
        dsb_reply_problem(r, 422, "invalid",
                          "auth_method must be secrets_manager, user_password "
                          "or iam",
                          auth, NULL);
        return NULL;
    }
    if ((strcmp(auth, "secrets_manager") == 0 && !arn) ||
        (strcmp(auth, "user_password") == 0 && (!user || !pw))) {
        dsb_reply_problem(r, 422, "invalid",
                          "secrets_manager needs secret_arn; user_password "
                          "needs username and password",
                          auth, NULL);
        return NULL;
    }
    name = named ? json_string_value(json_object_get(body, "name"))
                 : "test-connection";
    doc = json_pack("{s:s, s:s, s:s}", "name", name ? name : "", "plugin",
                    "postgres", "dbname", db ? db : "postgres");
    if (net)
        json_object_set_new(doc, "network", json_string(net));
    if (host)
        json_object_set_new(doc, "host", json_string(host));
    if (json_is_integer(port))
        json_object_set(doc, "port", (json_t *)port);
    if (host || port)
        json_object_set_new(doc, "description",
                            json_sprintf("%s:%lld/%s", host ? host : "",
                                         json_is_integer(port)
                                             ? json_integer_value(port)
                                             : 5432LL,
                                         db ? db : "postgres"));
    if (arn) {
        json_object_set_new(doc, "credentials", json_sprintf("aws-sm:%s", arn));
    } else {
        json_object_set_new(doc, "user", json_string(user));
        json_object_set_new(doc, "secrets", json_pack("{s:s}", "password", pw));
    }
    return doc;
}

/* The original's answer: the server's version line cut at its first
 * comma ("PostgreSQL 15.8 on x86_64-pc-linux-gnu"). */
static void reply_version(struct dsb_req *r, const json_t *out)
{
    const char *v = json_string_value(
        json_object_get(json_object_get(out, "check"), "version"));

    dsb_reply_json(r, 200,
                   json_pack("{s:b, s:s+#}", "success", 1, "message",
                             "Connection successful! ", v ? v : "PostgreSQL",
                             v ? (int)strcspn(v, ",") : 10));
}

void dsb_h_compat_pg_test(struct dsb_req *r)
{
    json_t *body, *doc = NULL, *out = NULL;
    struct dsb_error err;

    r->compat = 1;
    body = admin_json(r);
    if (body && (doc = pg_doc(r, body, 0)) != NULL) {
        if (dsb_svc_source_test(&r->ctx, doc, &out, &err) < 0)
            dsb_reply_error(r, &err);
        else
            reply_version(r, out);
    }
    json_decref(out);
    json_decref(doc);
    json_decref(body);
}

/* The original's connection answer (no secret reference in it). */
static json_t *connection_of(const json_t *doc, const json_t *body)
{
    const json_t *d = json_object_get(doc, "description");

    return json_pack("{s:O, s:O, s:b, s:O?, s:O?, s:O, s:O}", "name",
                     json_object_get(doc, "name"), "description",
                     d ? d : json_object_get(doc, "name"), "enabled", 1, "host",
                     json_object_get(body, "host"), "port",
                     json_object_get(body, "port"), "database",
                     json_object_get(doc, "dbname"), "auth_method",
                     json_object_get(body, "auth_method"));
}

void dsb_h_compat_pg_connection_save(struct dsb_req *r)
{
    json_t *body, *doc = NULL, *out = NULL;
    const char *name;
    struct dsb_error err;
    char etag[68];
    int rc;

    r->compat = 1;
    body = admin_json(r);
    if (!body || !(doc = pg_doc(r, body, 1)))
        goto done;
    name = json_string_value(json_object_get(doc, "name"));
    if (json_is_true(json_object_get(body, "is_update")) &&
        dsb_svc_source_etag(&r->ctx, name, etag) == 0)
        rc = dsb_svc_source_update(&r->ctx, name, doc, NULL, &out, &err);
    else
        rc = dsb_svc_source_create(&r->ctx, doc, &out, &err);
    if (rc < 0)
        dsb_reply_error(r, &err);
    else
        dsb_reply_json(r, 200,
                       json_pack("{s:b, s:o, s:O}", "success", 1, "connection",
                                 connection_of(doc, body), "warnings",
                                 json_object_get(out, "warnings")));
done:
    json_decref(out);
    json_decref(doc);
    json_decref(body);
}
