/* The HTTP fuzz targets' server: tests/fuzz/confd-http with the fixture
 * plugins, started once per process without a listener; requests go
 * through dsb_server_dispatch.  DSB_FUZZ_CONFD and DSB_FUZZ_PLUGIN_DIR come
 * from tests/fuzz/CMakeLists.txt. */
#ifndef DSB_TESTS_FUZZ_HTTP_HARNESS_H
#define DSB_TESTS_FUZZ_HTTP_HARNESS_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "http/server.h"

#define FZ_ADMIN "fuzz-admin-token"
#define FZ_LIMITED "fuzz-limited-token"

static struct dsb_server *fz_srv;
static char fz_session[64];

static char fz_dir[] = "/tmp/dsb-fuzz-http-XXXXXX";

static int fz_rm(const char *path, const struct stat *st, int flag,
                 struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void fz_cleanup(void)
{
    dsb_server_stop(fz_srv, 0);
    fz_srv = NULL;
    nftw(fz_dir, fz_rm, 8, FTW_DEPTH | FTW_PHYS);
}

static void fz_env(void)
{
    static char state[64];

    if (!mkdtemp(fz_dir))
        abort();
    snprintf(state, sizeof(state), "%s/state", fz_dir);
    setenv("DSB_FUZZ_STATE_DIR", state, 1);
    setenv("DSB_FUZZ_TOKEN_ADMIN", FZ_ADMIN, 1);
    setenv("DSB_FUZZ_TOKEN_LIMITED", FZ_LIMITED, 1);
    setenv("DSB_FUZZ_FIXTURE_PASSWORD", "fixture-pw", 1);
}

/* One request with the admin token (or headers as given). */
static int fz_send(struct dsb_http_exchange *ex)
{
    return dsb_server_dispatch(fz_srv, ex);
}

/* Creates the session the inputs refer to (its id in fz_session). */
static void fz_make_session(void)
{
    const char *h[] = {"Authorization", "Bearer " FZ_ADMIN, NULL};
    struct dsb_http_exchange ex = {
        .method = "POST", .url = "/v1/sessions", .headers = h};
    json_t *j;

    if (fz_send(&ex) < 0 || ex.status != 201)
        abort();
    j = json_loads(ex.resp, 0, NULL);
    snprintf(fz_session, sizeof(fz_session), "%s",
             json_string_value(json_object_get(j, "id")));
    json_decref(j);
    dsb_http_exchange_clear(&ex);
}

static struct dsb_server *fz_server(void)
{
    struct dsb_server_opts o = {.conf_dir = DSB_FUZZ_CONFD,
                                .plugin_dir = DSB_FUZZ_PLUGIN_DIR,
                                .no_listen = 1};
    struct dsb_diags d;

    if (fz_srv)
        return fz_srv;
    fz_env();
    dsb_diags_init(&d);
    fz_srv = dsb_server_start(&o, &d);
    if (!fz_srv) {
        dsb_diags_print(&d, stderr);
        abort();
    }
    dsb_diags_free(&d);
    atexit(fz_cleanup);
    fz_make_session();
    return fz_srv;
}

#endif
