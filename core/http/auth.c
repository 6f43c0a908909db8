/* Bearer-token authentication and CORS. */
#include <string.h>
#include <strings.h>

#include "http.h"

const char *dsb_req_bearer(struct dsb_req *r)
{
    const char *h = dsb_req_header(r, "Authorization");

    if (!h || strncasecmp(h, "Bearer ", 7) != 0)
        return NULL;
    h += 7;
    while (*h == ' ')
        h++;
    return *h ? h : NULL;
}

int dsb_auth_check(struct dsb_req *r)
{
    const struct dsb_settings *st = &r->gen->broker->cfg->settings;
    const char *presented = dsb_req_bearer(r);
    struct dsb_error err;

    if (st->auth_enabled && (r->route->flags & DSB_ROUTE_HEALTH) &&
        st->open_health) {
        r->ctx.principal = &r->gen->anonymous;
        return 0;
    }
    if (dsb_svc_authenticate(r->srv->svc, r->gen, presented, &r->ctx.principal,
                             &err) == 0)
        return 0;
    dsb_reply_error(r, &err);
    return -1;
}

/* ---------------------------------------------------------------- CORS */

void dsb_cors_origin(struct dsb_req *r)
{
    const struct dsb_settings *st = &r->gen->broker->cfg->settings;
    const char *origin = dsb_req_header(r, "Origin");

    if (!origin)
        return;
    for (size_t i = 0; i < st->n_cors_origins; i++)
        if (st->cors_any || strcmp(st->cors_origins[i], origin) == 0) {
            r->origin = origin;
            return;
        }
}

int dsb_cors_preflight(struct dsb_req *r)
{
    if (strcmp(r->method, "OPTIONS") != 0 || !dsb_req_header(r, "Origin") ||
        !dsb_req_header(r, "Access-Control-Request-Method"))
        return 0;
    if (!r->origin) {
        dsb_reply_problem(r, 403, "forbidden",
                          "this origin may not call the "
                          "API",
                          dsb_req_header(r, "Origin"),
                          "add it to cors.allowed_origins in broker.yaml");
        return 1;
    }
    dsb_reply_header(r, "Access-Control-Allow-Methods",
                     "GET, POST, DELETE, OPTIONS");
    dsb_reply_header(r, "Access-Control-Allow-Headers",
                     "Authorization, Content-Type, If-None-Match, "
                     "X-Request-Id, Accept, Mcp-Session-Id, "
                     "MCP-Protocol-Version, Mcp-Method, Mcp-Name");
    dsb_reply_header(r, "Access-Control-Max-Age", "600");
    dsb_reply_empty(r, 204);
    return 1;
}
