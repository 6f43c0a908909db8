/* The events listener (core/replica.c) on a database of the fixture
 * cluster: another replica's event is passed on, this replica's own and
 * payloads that are no event are not, a broken connection comes back
 * with a re-sync, and stop returns at once. */
#include <criterion/criterion.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pg_admin.h"
#include "replica.h"
#include "support.h"
#include "util.h"

#define WAIT_MS 10000

static struct t_pg pg;
static char db[64], url[512], *pw;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static json_t *seen; /* the events passed on */
static int resyncs;

static void on_event(void *ctx, const json_t *e)
{
    (void)ctx;
    pthread_mutex_lock(&mu);
    json_array_append(seen, (json_t *)e);
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

static void on_resync(void *ctx)
{
    (void)ctx;
    pthread_mutex_lock(&mu);
    resyncs++;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

static void setup(void)
{
    t_pg_init(&pg);
    t_pg_create_db(&pg, "replica_unit", db);
    t_pg_url(&pg, db, url, sizeof(url));
    pw = dsb_read_file(pg.password_file, 4096, NULL);
    cr_assert(pw);
    pw[strcspn(pw, "\n")] = '\0';
    seen = json_array();
}

static void teardown(void)
{
    t_pg_drop_db(&pg, db);
    json_decref(seen);
    free(pw);
}

TestSuite(replica, .init = setup, .fini = teardown, .timeout = 60);

static void notify(const char *payload)
{
    char *q = dsb_asprintf("SELECT pg_notify('" DSB_EVENTS_CHANNEL "', '%s')",
                           payload);

    t_pg_exec(&pg, db, q);
    free(q);
}

/* Waits until *n (under mu) reaches want. */
static void await_count(const int *n, size_t want, int of_seen)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += WAIT_MS / 1000;
    pthread_mutex_lock(&mu);
    while ((of_seen ? json_array_size(seen) : (size_t)*n) < want)
        cr_assert_eq(pthread_cond_timedwait(&cv, &mu, &ts), 0,
                     "%zu events, %d resyncs", json_array_size(seen), resyncs);
    pthread_mutex_unlock(&mu);
}

Test(replica, events_of_others_pass_own_and_garbage_do_not)
{
    struct dsb_store_conf c = {.url = url, .password = pw};
    struct dsb_listener_calls calls = {on_event, on_resync, NULL};
    struct dsb_error err = {0};
    struct dsb_listener *l = dsb_listener_start(&c, &calls, &err);
    char *own = dsb_replica_event("refresh", "pg");
    PGconn *k;
    PGresult *r;
    int64_t t0;

    cr_assert(l, "%s", err.message);
    cr_assert_str_eq(dsb_replica_id(), dsb_replica_id());
    cr_assert(strstr(own, dsb_replica_id()) && strlen(own) < 8000, "%s", own);
    notify(own);
    notify("not an event");
    notify("{\"v\":1,\"origin\":\"other\",\"kind\":\"refresh\","
           "\"source\":\"pg\"}");
    await_count(NULL, 1, 1);
    pthread_mutex_lock(&mu);
    cr_assert_eq(json_array_size(seen), 1);
    cr_assert_str_eq(
        json_string_value(json_object_get(json_array_get(seen, 0), "origin")),
        "other");
    pthread_mutex_unlock(&mu);

    /* the connection is cut: it comes back and says so (a re-sync) */
    k = t_pg_conn(&pg, db);
    r = PQexec(k, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                  "WHERE application_name = 'dsbroker-events' AND datname = "
                  "current_database()");
    cr_assert(PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1, "%s",
              PQerrorMessage(k));
    PQclear(r);
    PQfinish(k);
    await_count(&resyncs, 1, 0);
    notify("{\"v\":1,\"origin\":\"other\",\"kind\":\"sources\"}");
    await_count(NULL, 2, 1);

    t0 = dsb_monotonic_ms();
    dsb_listener_stop(l);
    cr_assert_lt(dsb_monotonic_ms() - t0, 1000, "stop waited");
    free(own);
}

Test(replica, a_store_that_cannot_be_reached_is_refused_at_start)
{
    char bad[600];
    struct dsb_store_conf c = {.url = bad, .password = pw};
    struct dsb_listener_calls calls = {on_event, on_resync, NULL};
    struct dsb_error err = {0};

    snprintf(bad, sizeof(bad), "%s_absent", url);
    cr_assert_null(dsb_listener_start(&c, &calls, &err));
    cr_assert(strstr(err.message, "cannot listen"), "%s", err.message);
    cr_assert(!strstr(err.message, pw), "%s", err.message);
}
