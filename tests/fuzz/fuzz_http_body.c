/* JSON request bodies: the first byte picks the route (selections, the two
 * compatibility selects, session creation), the rest is the body, sent as
 * application/json with the admin token. */
#define _XOPEN_SOURCE 700
#include "fuzz.h"
#include "http_harness.h"

static const struct {
    const char *prefix, *suffix; /* the session id goes between */
} fz_routes[] = {
    {"/v1/sessions/", "/selections"},
    {"/sessions/", "/select-postgres-tables"},
    {"/sessions/", "/select-tables"},
    {"/v1/sessions", NULL},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *h[] = {"Authorization", "Bearer " FZ_ADMIN, "Content-Type",
                       "application/json", NULL};
    size_t n = sizeof(fz_routes) / sizeof(*fz_routes);
    char url[256];
    struct dsb_http_exchange ex = {.method = "POST", .url = url, .headers = h};

    if (size < 1)
        return 0;
    fz_server();
    snprintf(url, sizeof(url), "%s%s%s", fz_routes[data[0] % n].prefix,
             fz_routes[data[0] % n].suffix ? fz_session : "",
             fz_routes[data[0] % n].suffix ? fz_routes[data[0] % n].suffix
                                           : "");
    ex.body = (const char *)data + 1;
    ex.body_len = size - 1;
    fz_send(&ex);
    dsb_http_exchange_clear(&ex);
    return 0;
}
