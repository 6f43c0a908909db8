/*
 * The pool across server restarts: idle connections die with the server and
 * the next call reconnects; while the server is down calls fail as
 * unavailable (retryable) and work again once it is back.  Runs alone
 * (RUN_SERIAL): it stops the shared server.
 */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "pg_support.h"

static struct dsb_broker *B;
static struct dsb_source *S;

static void setup(void)
{
    B = pg_t_broker();
    S = pg_t_source(B, "pg");
}

static void teardown(void)
{
    dsb_broker_stop(B);
}

TestSuite(postgres_restart, .init = setup, .fini = teardown, .timeout = 120);

static int tables_of_sales(struct dsb_error *err)
{
    struct dsb_list_request r = {"dsb", "Sales", NULL, 0, NULL};
    json_t *out = NULL;
    int rc = dsb_source_list_tables(S, &r, &out, err);

    if (rc == 0)
        rc = json_array_size(json_object_get(out, "items")) == 6 ? 0 : -2;
    json_decref(out);
    return rc;
}

Test(postgres_restart, pool_reconnects_after_restart_and_outage)
{
    struct dsb_error err;
    json_t *out = NULL;

    /* fill the pool with connections to two databases */
    cr_assert_eq(tables_of_sales(&err), 0, "%s", err.message);
    cr_assert_eq(dsb_source_check(S, &out, &err), 0, "%s", err.message);
    json_decref(out);

    /* a restart between calls: the idle connections are dead */
    pg_t_script("restart");
    cr_assert_eq(tables_of_sales(&err), 0, "after restart: %s", err.message);
    out = NULL;
    cr_assert_eq(dsb_source_check(S, &out, &err), 0, "after restart: %s",
                 err.message);
    json_decref(out);

    /* an outage: unavailable and retryable, then back */
    pg_t_script("stop");
    cr_assert_eq(tables_of_sales(&err), -1);
    cr_assert_eq(err.code, DSB_E_UNAVAILABLE, "%d %s", err.code, err.message);
    cr_assert(err.retryable);
    pg_t_script("start");
    cr_assert_eq(tables_of_sales(&err), 0, "after start: %s", err.message);
}
