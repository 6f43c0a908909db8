/* The HTTP facade: libmicrohttpd server, broker generations and reload. */
#ifndef DSB_CORE_HTTP_SERVER_H
#define DSB_CORE_HTTP_SERVER_H

#include <stdint.h>
#include <stdio.h>

#include "diag.h"

struct dsb_server;

struct dsb_server_opts {
    const char *conf_dir;
    const char *plugin_dir;    /* NULL: config / default */
    const char *listen;        /* NULL: broker.yaml's listen ("host:port") */
    const char *port_file;     /* NULL, or a file to write the bound port to */
    int preflight;             /* open each source in a child first */
    int no_listen;             /* in-process only: nothing binds, requests
                                  come through dsb_server_dispatch */
    int64_t (*clock_ms)(void); /* monotonic clock of the metadata cache
                                  (tests); NULL: the real one */
};

/* One request served in-process, without sockets (tests, fuzzing). */
struct dsb_http_exchange {
    /* in, borrowed */
    const char *method;
    const char *url;            /* path, optionally "?query" */
    const char *const *headers; /* name, value, ..., NULL; may be NULL */
    const char *body;           /* NULL: no body */
    size_t body_len;
    /* out, owned by the exchange (dsb_http_exchange_clear frees them) */
    int status;
    char *content_type; /* NULL when the reply has none */
    char *resp;         /* the reply body, NUL-terminated */
    size_t resp_len;
    char *resp_headers; /* "Name: value\n" lines */
};

/*
 * Loads the configuration, opens the session store and starts listening.
 * Returns NULL with every reason in `d` (configuration errors, a state
 * directory that cannot be created, an address that cannot be bound).
 */
struct dsb_server *dsb_server_start(const struct dsb_server_opts *o,
                                    struct dsb_diags *d);
/* The TCP port the server is bound to. */
int dsb_server_port(const struct dsb_server *s);
/*
 * Loads conf.d again.  A configuration with errors is rejected (reasons
 * logged) and the running one keeps serving: returns -1.  Otherwise the new
 * broker serves new requests; requests in flight finish with the broker
 * they started with, which is closed after the last of them.  Returns 0.
 */
int dsb_server_reload(struct dsb_server *s);
/* Stops accepting, lets requests in flight finish (up to grace_ms; -1: the
 * configured limits.shutdown_grace_seconds), then frees everything. */
void dsb_server_stop(struct dsb_server *s, long grace_ms);

/*
 * Serves one request the way the listener would (size limit, routing, CORS,
 * auth, handler, metrics, access log) and fills the exchange's outputs.
 * Returns 0, or -1 when out of memory (outputs then unset).
 */
int dsb_server_dispatch(struct dsb_server *s, struct dsb_http_exchange *ex);
/* Frees an exchange's outputs and zeroes them. */
void dsb_http_exchange_clear(struct dsb_http_exchange *ex);

/* Prints the route table, one "METHOD PATTERN  summary" line each. */
void dsb_http_routes_print(FILE *out);

#endif
