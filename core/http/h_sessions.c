/* /v1/sessions...: sessions, selections and the Spark context. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

void dsb_h_session_create(struct dsb_req *r)
{
    char id[DSB_SESSION_ID_MAX + 1], loc[200];
    struct dsb_error err;

    if (dsb_svc_session_create(&r->ctx, id, &err) < 0) {
        dsb_reply_error(r, &err);
        return;
    }
    snprintf(loc, sizeof(loc), "/v1/sessions/%s", id);
    dsb_reply_header(r, "Location", loc);
    dsb_reply_json(r, 201, json_pack("{s:s}", "id", id));
}

void dsb_h_session_get(struct dsb_req *r)
{
    struct dsb_error err;
    json_t *o = NULL;

    if (dsb_svc_session_get(&r->ctx, r->params[0], &o, &err) < 0)
        dsb_reply_error(r, &err);
    else
        dsb_reply_json(r, 200, o);
}

void dsb_h_sessions_list(struct dsb_req *r)
{
    struct dsb_error err;
    json_t *o = NULL;

    if (dsb_svc_sessions_list(&r->ctx, &o, &err) < 0)
        dsb_reply_error(r, &err);
    else
        dsb_reply_json(r, 200, o);
}

void dsb_h_session_delete(struct dsb_req *r)
{
    struct dsb_error err;

    if (dsb_svc_session_delete(&r->ctx, r->params[0], &err) < 0)
        dsb_reply_error(r, &err);
    else
        dsb_reply_empty(r, 204);
}

void dsb_h_selections_get(struct dsb_req *r)
{
    struct dsb_error err;
    json_t *o = NULL;

    if (dsb_svc_selections(&r->ctx, r->params[0], &o, &err) < 0)
        dsb_reply_error(r, &err);
    else
        dsb_reply_json(r, 200, o);
}

static int parse_one(struct dsb_req *r, const json_t *o,
                     struct dsb_selection *sel, size_t i)
{
    char why[160];

    sel->source = json_string_value(json_object_get(o, "source"));
    sel->database = json_string_value(json_object_get(o, "database"));
    sel->schema = json_string_value(json_object_get(o, "schema"));
    sel->table = json_string_value(json_object_get(o, "table"));
    if (sel->source && !sel->schema)
        sel->schema = dsb_svc_flat_schema(&r->ctx, sel->source);
    if (json_is_object(o) && sel->source && sel->database && sel->schema &&
        sel->table && *sel->table && *sel->database)
        return 0;
    snprintf(why, sizeof(why),
             "selection %zu needs string members source, "
             "database, schema and table",
             i);
    dsb_reply_problem(r, 422, "invalid", "a selection is incomplete", why,
                      "schema may be left out only for sources without "
                      "schemas");
    return -1;
}

/* Parses a selection object or a list of them (borrowing from body). */
static struct dsb_selection *parse_selections(struct dsb_req *r,
                                              const json_t *body, size_t *n)
{
    const json_t *list = json_is_array(body) ? body : NULL, *o;
    struct dsb_selection *sel;
    size_t i;

    *n = list ? json_array_size(list) : 1;
    sel = calloc(*n + 1, sizeof(*sel));
    if (!sel) {
        dsb_reply_problem(r, 500, "internal", "out of memory", NULL, NULL);
        return NULL;
    }
    if (!list && parse_one(r, body, sel, 0) < 0)
        goto fail;
    json_array_foreach(list, i,
                       o) if (parse_one(r, o, &sel[i], i) < 0) goto fail;
    if (*n > 0)
        return sel;
    dsb_reply_problem(r, 422, "invalid", "no selection given", NULL, NULL);
fail:
    free(sel);
    return NULL;
}

void dsb_h_selections_add(struct dsb_req *r)
{
    json_t *body = dsb_req_json(r), *stored = NULL;
    struct dsb_selection *sel = NULL;
    struct dsb_error err;
    size_t n = 0;

    if (body)
        sel = parse_selections(r, body, &n);
    if (sel && dsb_svc_select(&r->ctx, r->params[0], sel, n, NULL, 0, &stored,
                              &err) < 0)
        dsb_reply_error(r, &err);
    else if (sel)
        dsb_reply_json(r, 201, json_pack("{s:o}", "items", stored));
    free(sel);
    json_decref(body);
}

void dsb_h_selection_delete(struct dsb_req *r)
{
    const char *s = r->params[1];
    char *end = NULL;
    struct dsb_error err;
    long long id;

    errno = 0;
    id = strtoll(s, &end, 10);
    if (errno || end == s || *end || id <= 0) {
        dsb_reply_problem(r, 400, "invalid",
                          "a selection id is a positive "
                          "integer",
                          s,
                          "GET the session's selections for "
                          "their ids");
        return;
    }
    if (dsb_svc_unselect(&r->ctx, r->params[0], id, &err) < 0)
        dsb_reply_error(r, &err);
    else
        dsb_reply_empty(r, 204);
}

/* ------------------------------------------------------------- context */

static void reply_context(struct dsb_req *r, const struct dsb_cached *v,
                          int hit, const struct dsb_error *err, int text)
{
    const char *p = v && v->doc
                        ? json_string_value(json_object_get(v->doc, "prompt"))
                        : NULL;

    if (text && p) {
        r->cache_state = hit ? "hit" : "miss";
        dsb_reply_bytes(r, 200, "text/plain; charset=utf-8", p, strlen(p),
                        NULL);
        dsb_cache_release(r->gen->cache, v);
    } else {
        dsb_reply_entry(r, v, hit, err);
    }
}

void dsb_h_context(struct dsb_req *r)
{
    int bad = 0, text, hit = 0;
    char *exec = dsb_req_query(r, "executor", &bad);
    char *fmt = dsb_req_query(r, "format", &bad);
    const struct dsb_cached *v;
    struct dsb_error err;

    text = fmt && strcmp(fmt, "text") == 0;
    if (bad || (fmt && !text && strcmp(fmt, "json") != 0)) {
        dsb_reply_problem(r, 400, "invalid", "bad query parameter",
                          "format "
                          "is json or text",
                          NULL);
    } else {
        v = dsb_svc_context(&r->ctx, r->params[0], exec, &hit, &err);
        reply_context(r, v, hit, &err, text);
    }
    free(exec);
    free(fmt);
}
