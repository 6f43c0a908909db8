/* The state stores through their public functions: sessions
 * (core/sessions.h: create, ensure, owner, get, list, delete, selections,
 * unselect, idle expiry) and jobs (core/jobs/internal.h: records by id,
 * session and state; the queue), and what survives a close and an open.
 *
 * Each test body is written once against a backend (struct t_backend:
 * how to open, close and age the stores) and instantiated per backend by
 * STORE_TEST; today the only backend is SQLite under a private state_dir. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "jobs/internal.h"
#include "sessions.h"
#include "store.h"
#include "support.h"
#include "util.h"

/* What a test needs of a backend.  open/close act on both stores of one
 * state; a reopen is close then open on the same state. */
struct t_backend {
    const char *name;
    void (*setup)(void);    /* a fresh, empty state */
    void (*teardown)(void); /* removes what setup made */
    struct dsb_sessions *(*open_sessions)(struct dsb_error *err);
    int (*open_jobs)(struct dsb_jobs *j, struct dsb_error *err);
    /* The job store as replica `replica` with leases of lease_ms. */
    int (*open_jobs_as)(struct dsb_jobs *j, const char *replica,
                        int64_t lease_ms, struct dsb_error *err);
    /* Ends job id's lease now (as if its owner stopped renewing it);
     * owner NULL: the record has no owner (from before leases). */
    void (*expire_lease)(const char *id, int keep_owner);
    /* Moves session id's idle clock back by ms (as if unused that long). */
    void (*age_session)(const char *id, int64_t ms);
    /* Records store ("sessions", "jobs") at schema version v, as a newer
     * broker would have. */
    void (*set_version)(const char *store, int v);
};

static const struct t_backend *B;
static struct dsb_sessions *S;
static struct dsb_jobs *J;

static void open_stores(void)
{
    struct dsb_error err = {0};

    S = B->open_sessions(&err);
    cr_assert(S, "%s: cannot open the session store: %s (%s)", B->name,
              err.message, err.detail);
    J = calloc(1, sizeof(*J));
    cr_assert(J);
    cr_assert_eq(B->open_jobs(J, &err), 0,
                 "%s: cannot open the job store: %s (%s)", B->name, err.message,
                 err.detail);
}

static void close_stores(void)
{
    dsb_sessions_close(S);
    S = NULL;
    if (J)
        dsb_jstore_close(J);
    free(J);
    J = NULL;
}

static void reopen(void)
{
    close_stores();
    open_stores();
}

static void fini(void)
{
    close_stores();
    B->teardown();
}

#ifndef DSB_TEST_STORE_PG

/* ------------------------------------------------------------ SQLite */

static char *sqlite_dir;

static void sqlite_setup(void)
{
    sqlite_dir = t_tmpdir();
}

static void sqlite_teardown(void)
{
    char *db = dsb_state_db_path(sqlite_dir);
    char side[4200];

    remove(db);
    snprintf(side, sizeof(side), "%s-wal", db);
    remove(side);
    snprintf(side, sizeof(side), "%s-shm", db);
    remove(side);
    rmdir(sqlite_dir);
    free(db);
    free(sqlite_dir);
}

static struct dsb_sessions *sqlite_open_sessions(struct dsb_error *err)
{
    return dsb_sessions_open(sqlite_dir, err);
}

static int sqlite_open_jobs(struct dsb_jobs *j, struct dsb_error *err)
{
    char *db = dsb_state_db_path(sqlite_dir);
    int rc = dsb_jstore_open(j, db, err);

    free(db);
    return rc;
}

static int sqlite_open_jobs_as(struct dsb_jobs *j, const char *replica,
                               int64_t lease_ms, struct dsb_error *err)
{
    char *db = dsb_state_db_path(sqlite_dir);
    struct dsb_store_conf c = {
        .db_path = db, .replica_id = replica, .lease_ms = lease_ms};
    int rc = dsb_jstore_open_on(j, &dsb_store_sqlite, &c, err);

    free(db);
    return rc;
}

/* Runs sql with an integer and a text bound on a connection of its own;
 * it must change one row. */
static void sqlite_update(const char *sql, int64_t n, const char *text)
{
    char *path = dsb_state_db_path(sqlite_dir);
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;

    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK, "%s",
                 sqlite3_errmsg(db));
    sqlite3_bind_int64(st, 1, n);
    sqlite3_bind_text(st, 2, text, -1, SQLITE_STATIC);
    cr_assert_eq(sqlite3_step(st), SQLITE_DONE, "%s", sqlite3_errmsg(db));
    cr_assert_eq(sqlite3_changes(db), 1, "%s: no row for %s", sql, text);
    sqlite3_finalize(st);
    sqlite3_close(db);
    free(path);
}

static void sqlite_age_session(const char *id, int64_t ms)
{
    sqlite_update("UPDATE dsb_sessions SET touched_ms = touched_ms - ? WHERE "
                  "id = ?",
                  ms, id);
}

static void sqlite_expire_lease(const char *id, int keep_owner)
{
    sqlite_update(keep_owner ? "UPDATE jobs SET lease_ms = ? WHERE id = ?"
                             : "UPDATE jobs SET lease_ms = ?, owner = NULL "
                               "WHERE id = ?",
                  0, id);
}

static void sqlite_set_version(const char *store, int v)
{
    sqlite_update("UPDATE dsb_schema SET version = ? WHERE store = ?", v,
                  store);
}

static const struct t_backend sqlite_backend = {
    "sqlite",
    sqlite_setup,
    sqlite_teardown,
    sqlite_open_sessions,
    sqlite_open_jobs,
    sqlite_open_jobs_as,
    sqlite_expire_lease,
    sqlite_age_session,
    sqlite_set_version,
};

static void backend_init(void)
{
    B = &sqlite_backend;
    B->setup();
}

#define STORE_SUITE store_sqlite

#else /* the same bodies on PostgreSQL (test fixture postgres) */

#include <libpq-fe.h>
#include <sched.h>

#include "pg_admin.h"

static struct t_pg pg_fixture;
static char pg_url[1024], pg_db[64], pg_password[256];

/* Runs sql (parameters v[0..n)) on database db as the superuser. */
static void pg_admin_exec(const char *db, const char *sql, int n,
                          const char *const *v)
{
    t_pg_execp(&pg_fixture, db, sql, n, v);
}

/* The number sql (one parameter, arg) answers on database db. */
static long pg_admin_count_in(const char *db, const char *sql, const char *arg)
{
    return t_pg_countp(&pg_fixture, db, sql, 1, &arg);
}

static long pg_admin_count(const char *sql, const char *arg)
{
    return pg_admin_count_in("postgres", sql, arg);
}

/* Ends the server side of every connection of the broker to the test's
 * database and waits until they are gone. */
static void pg_kill_connections(void)
{
    static const char alive[] =
        "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND "
        "application_name = 'dsbroker'";

    cr_assert_eq(pg_admin_count(alive, pg_db), DSB_PG_SESSION_CONNECTIONS + 1,
                 "the session store's connections and the job store's");
    pg_admin_count("SELECT count(pg_terminate_backend(pid)) FROM "
                   "pg_stat_activity WHERE datname = $1 AND "
                   "application_name = 'dsbroker'",
                   pg_db);
    while (pg_admin_count(alive, pg_db) > 0)
        sched_yield();
}

static void pg_setup(void)
{
    FILE *f;

    t_pg_init(&pg_fixture);
    f = fopen(pg_fixture.password_file, "r");
    cr_assert(f && fgets(pg_password, sizeof(pg_password), f), "%s",
              pg_fixture.password_file);
    fclose(f);
    pg_password[strcspn(pg_password, "\n")] = '\0';
    /* the broker's role over TCP with its password, in a database of its
     * own */
    t_pg_create_db(&pg_fixture, "state_store", pg_db);
    t_pg_url(&pg_fixture, pg_db, pg_url, sizeof(pg_url));
}

static void pg_teardown(void)
{
    t_pg_drop_db(&pg_fixture, pg_db);
}

static struct dsb_sessions *pg_open_sessions(struct dsb_error *err)
{
    struct dsb_store_conf c = {.url = pg_url, .password = pg_password};

    return dsb_sessions_open_on(&dsb_store_pg, &c, err);
}

static int pg_open_jobs(struct dsb_jobs *j, struct dsb_error *err)
{
    struct dsb_store_conf c = {.url = pg_url, .password = pg_password};

    return dsb_jstore_open_on(j, &dsb_store_pg, &c, err);
}

static int pg_open_jobs_as(struct dsb_jobs *j, const char *replica,
                           int64_t lease_ms, struct dsb_error *err)
{
    struct dsb_store_conf c = {.url = pg_url,
                               .password = pg_password,
                               .replica_id = replica,
                               .lease_ms = lease_ms};

    return dsb_jstore_open_on(j, &dsb_store_pg, &c, err);
}

static void pg_expire_lease(const char *id, int keep_owner)
{
    const char *v[] = {id};

    pg_admin_exec(pg_db,
                  keep_owner ? "UPDATE jobs SET lease_ms = 0 WHERE id = $1"
                             : "UPDATE jobs SET lease_ms = 0, owner = NULL "
                               "WHERE id = $1",
                  1, v);
}

static void pg_age_session(const char *id, int64_t ms)
{
    char by[24];
    const char *v[] = {by, id};

    snprintf(by, sizeof(by), "%lld", (long long)ms);
    pg_admin_exec(pg_db,
                  "UPDATE dsb_sessions SET touched_ms = touched_ms - $1 "
                  "WHERE id = $2",
                  2, v);
}

static void pg_set_version(const char *store, int v)
{
    char ver[16];
    const char *args[] = {ver, store};

    snprintf(ver, sizeof(ver), "%d", v);
    pg_admin_exec(pg_db, "UPDATE dsb_schema SET version = $1 WHERE store = $2",
                  2, args);
}

static const struct t_backend pg_backend = {
    "postgresql",     pg_setup,       pg_teardown,
    pg_open_sessions, pg_open_jobs,   pg_open_jobs_as,
    pg_expire_lease,  pg_age_session, pg_set_version,
};

static void backend_init(void)
{
    B = &pg_backend;
    B->setup();
}

#define STORE_SUITE store_postgresql

#endif

/* One body, one Criterion test per backend (suite store_<backend>); the
 * stores are opened in the test, so that fini removes the state even
 * when they cannot be. */
#define STORE_TEST(name)                                                       \
    static void name(void);                                                    \
    Test(STORE_SUITE, name, .init = backend_init, .fini = fini)                \
    {                                                                          \
        open_stores();                                                         \
        name();                                                                \
    }                                                                          \
    static void name(void)

/* ----------------------------------------------------------- helpers */

#define OK(call)                                                               \
    do {                                                                       \
        struct dsb_error e_ = {0};                                             \
        cr_assert_eq((call), 0, "%s: %s: %s", B->name, #call, e_.message);     \
    } while (0)
/* OK with the error visible to call as `&e_`. */
#define E (&e_)

/* The call fails with error code want. */
#define FAILS(call, want)                                                      \
    do {                                                                       \
        struct dsb_error e_ = {0};                                             \
        cr_assert_neq((call), 0, "%s: %s succeeded", B->name, #call);          \
        cr_assert_eq(e_.code, (want), "%s: %s: code %d (%s)", B->name, #call,  \
                     (int)e_.code, e_.message);                                \
    } while (0)

static const char *str(const json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));

    cr_assert(v, "no string %s", key);
    return v;
}

static json_t *get_session(const char *id)
{
    json_t *out = NULL;

    OK(dsb_sessions_get(S, id, &out, E));
    return out;
}

static json_t *selections(const char *id)
{
    json_t *out = NULL;

    OK(dsb_sessions_selections(S, id, &out, E));
    cr_assert(json_is_array(out));
    return out;
}

/* The ids of the items of list `items`, space-separated. */
static void list_ids(const json_t *items, char *out, size_t len)
{
    size_t i;
    json_t *it;

    out[0] = '\0';
    json_array_foreach(items, i, it)
    {
        size_t used = strlen(out);
        snprintf(out + used, len - used, "%s%s", used ? " " : "",
                 str(it, "id"));
    }
}

static const struct dsb_selection orders = {"pg", "shop", "public", "orders"};
static const struct dsb_selection users = {"pg", "shop", "public", "users"};
static const struct dsb_selection events = {"lake", "raw", "", "events"};

/* ---------------------------------------------------------- sessions */

STORE_TEST(session_create_get_owner_delete)
{
    char id[DSB_SESSION_ID_MAX + 1], owner[DSB_OWNER_MAX + 1];
    json_t *doc;

    OK(dsb_sessions_create(S, "alice", id, E));
    cr_assert_eq(strlen(id), 32);
    OK(dsb_sessions_owner(S, id, owner, E));
    cr_assert_str_eq(owner, "alice");
    doc = get_session(id);
    cr_assert_str_eq(str(doc, "id"), id);
    cr_assert_str_eq(str(doc, "owner"), "alice");
    cr_assert_eq(str(doc, "created_at")[4], '-');
    cr_assert_eq(json_array_size(json_object_get(doc, "selections")), 0);
    json_decref(doc);

    OK(dsb_sessions_delete(S, id, E));
    FAILS(dsb_sessions_get(S, id, &doc, E), DSB_E_NOT_FOUND);
    FAILS(dsb_sessions_owner(S, id, owner, E), DSB_E_NOT_FOUND);
    FAILS(dsb_sessions_delete(S, id, E), DSB_E_NOT_FOUND);
}

STORE_TEST(session_ids_are_distinct)
{
    char a[DSB_SESSION_ID_MAX + 1], b[DSB_SESSION_ID_MAX + 1];

    OK(dsb_sessions_create(S, "alice", a, E));
    OK(dsb_sessions_create(S, "alice", b, E));
    cr_assert_str_neq(a, b);
}

STORE_TEST(session_ensure_is_idempotent_and_keeps_the_owner)
{
    char owner[DSB_OWNER_MAX + 1], big[DSB_SESSION_ID_MAX + 2];

    OK(dsb_sessions_ensure(S, "chosen-1", "alice", E));
    OK(dsb_sessions_ensure(S, "chosen-1", "bob", E));
    OK(dsb_sessions_owner(S, "chosen-1", owner, E));
    cr_assert_str_eq(owner, "alice");

    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    FAILS(dsb_sessions_ensure(S, big, "alice", E), DSB_E_INVALID);
    FAILS(dsb_sessions_ensure(S, "", "alice", E), DSB_E_INVALID);
}

STORE_TEST(session_list_by_owner_most_recent_first)
{
    char a[DSB_SESSION_ID_MAX + 1], b[DSB_SESSION_ID_MAX + 1],
        c[DSB_SESSION_ID_MAX + 1], ids[512], want[512];
    json_t *out = NULL, *items;

    OK(dsb_sessions_create(S, "alice", a, E));
    OK(dsb_sessions_create(S, "bob", b, E));
    OK(dsb_sessions_create(S, "alice", c, E));
    /* a used an hour after c: first */
    B->age_session(c, 2 * 3600 * 1000);
    B->age_session(a, 1 * 3600 * 1000);
    OK(dsb_sessions_select(S, a, &orders, 1, NULL, 0, NULL, E));

    OK(dsb_sessions_list(S, "alice", &out, E));
    items = json_object_get(out, "items");
    list_ids(items, ids, sizeof(ids));
    snprintf(want, sizeof(want), "%s %s", a, c);
    cr_assert_str_eq(ids, want);
    cr_assert_eq(json_integer_value(
                     json_object_get(json_array_get(items, 0), "n_selections")),
                 1);
    cr_assert_str_eq(str(json_array_get(items, 1), "owner"), "alice");
    json_decref(out);

    OK(dsb_sessions_list(S, NULL, &out, E));
    cr_assert_eq(json_array_size(json_object_get(out, "items")), 3);
    json_decref(out);

    OK(dsb_sessions_list(S, "nobody", &out, E));
    cr_assert_eq(json_array_size(json_object_get(out, "items")), 0);
    json_decref(out);
}

/* -------------------------------------------------------- selections */

STORE_TEST(select_is_idempotent)
{
    char id[DSB_SESSION_ID_MAX + 1];
    json_t *added = NULL, *again = NULL, *all;
    json_int_t first;

    OK(dsb_sessions_create(S, "alice", id, E));
    OK(dsb_sessions_select(S, id, &orders, 1, NULL, 0, &added, E));
    cr_assert_eq(json_array_size(added), 1);
    first = json_integer_value(json_object_get(json_array_get(added, 0), "id"));
    cr_assert_gt(first, 0);
    cr_assert_str_eq(str(json_array_get(added, 0), "table"), "orders");

    OK(dsb_sessions_select(S, id, &orders, 1, NULL, 0, &again, E));
    cr_assert_eq(json_array_size(again), 1);
    cr_assert_eq(
        json_integer_value(json_object_get(json_array_get(again, 0), "id")),
        first, "a second select of the same table must keep its row");
    all = selections(id);
    cr_assert_eq(json_array_size(all), 1);
    json_decref(all);
    json_decref(added);
    json_decref(again);
}

STORE_TEST(select_many_in_one_call_and_replace_sources)
{
    const struct dsb_selection both[] = {orders, users, orders};
    const char *pg[] = {"pg"};
    char id[DSB_SESSION_ID_MAX + 1];
    json_t *added = NULL, *all;

    OK(dsb_sessions_create(S, "alice", id, E));
    OK(dsb_sessions_select(S, id, both, 3, NULL, 0, &added, E));
    cr_assert_eq(json_array_size(added), 2);
    json_decref(added);
    OK(dsb_sessions_select(S, id, &events, 1, NULL, 0, NULL, E));

    /* the pg tables replaced by users only; lake's stays */
    OK(dsb_sessions_select(S, id, &users, 1, pg, 1, NULL, E));
    all = selections(id);
    cr_assert_eq(json_array_size(all), 2);
    cr_assert_str_eq(str(json_array_get(all, 0), "table"), "events");
    cr_assert_str_eq(str(json_array_get(all, 1), "table"), "users");
    cr_assert_str_eq(str(json_array_get(all, 0), "schema"), "");
    json_decref(all);

    /* replace with zero sources: nothing removed */
    OK(dsb_sessions_select(S, id, &orders, 1, pg, 0, NULL, E));
    all = selections(id);
    cr_assert_eq(json_array_size(all), 3);
    json_decref(all);
}

STORE_TEST(unselect_one)
{
    char id[DSB_SESSION_ID_MAX + 1], other[DSB_SESSION_ID_MAX + 1];
    const struct dsb_selection both[] = {orders, users};
    json_t *added = NULL, *all;
    json_int_t sel;

    OK(dsb_sessions_create(S, "alice", id, E));
    OK(dsb_sessions_create(S, "alice", other, E));
    OK(dsb_sessions_select(S, id, both, 2, NULL, 0, &added, E));
    sel = json_integer_value(json_object_get(json_array_get(added, 0), "id"));
    json_decref(added);

    /* another session's selection id is not found there */
    FAILS(dsb_sessions_unselect(S, other, sel, E), DSB_E_NOT_FOUND);
    OK(dsb_sessions_unselect(S, id, sel, E));
    FAILS(dsb_sessions_unselect(S, id, sel, E), DSB_E_NOT_FOUND);
    FAILS(dsb_sessions_unselect(S, "no-such", sel, E), DSB_E_NOT_FOUND);
    all = selections(id);
    cr_assert_eq(json_array_size(all), 1);
    cr_assert_str_eq(str(json_array_get(all, 0), "table"), "users");
    json_decref(all);
}

STORE_TEST(selections_of_a_missing_session)
{
    json_t *out = NULL;

    FAILS(dsb_sessions_selections(S, "no-such", &out, E), DSB_E_NOT_FOUND);
    FAILS(dsb_sessions_select(S, "no-such", &orders, 1, NULL, 0, NULL, E),
          DSB_E_NOT_FOUND);
    cr_assert_null(out);
}

STORE_TEST(delete_takes_the_selections_along)
{
    json_t *all;

    OK(dsb_sessions_ensure(S, "s-del", "alice", E));
    OK(dsb_sessions_select(S, "s-del", &orders, 1, NULL, 0, NULL, E));
    OK(dsb_sessions_delete(S, "s-del", E));
    /* the same id again starts empty */
    OK(dsb_sessions_ensure(S, "s-del", "bob", E));
    all = selections("s-del");
    cr_assert_eq(json_array_size(all), 0);
    json_decref(all);
}

/* ------------------------------------------------------------ expiry */

STORE_TEST(expiry_by_idle_time)
{
    char idle[DSB_SESSION_ID_MAX + 1], fresh[DSB_SESSION_ID_MAX + 1],
        used[DSB_SESSION_ID_MAX + 1], owner[DSB_OWNER_MAX + 1];
    const int64_t hour = 3600 * 1000;
    json_t *doc;

    OK(dsb_sessions_create(S, "alice", idle, E));
    OK(dsb_sessions_create(S, "alice", fresh, E));
    OK(dsb_sessions_create(S, "alice", used, E));
    OK(dsb_sessions_select(S, idle, &orders, 1, NULL, 0, NULL, E));
    B->age_session(idle, 2 * hour);
    B->age_session(used, 2 * hour);
    /* reading a session uses it: its idle clock starts again */
    doc = get_session(used);
    json_decref(doc);
    /* the owner lookup (an access check) does not */
    OK(dsb_sessions_owner(S, idle, owner, E));

    cr_assert_eq(dsb_sessions_expire(S, hour), 1);
    FAILS(dsb_sessions_get(S, idle, &doc, E), DSB_E_NOT_FOUND);
    doc = get_session(fresh);
    json_decref(doc);
    doc = get_session(used);
    json_decref(doc);
    cr_assert_eq(dsb_sessions_expire(S, hour), 0);
}

STORE_TEST(idle_clock_follows_a_short_expiry)
{
    char id[DSB_SESSION_ID_MAX + 1];
    const int64_t second = 1000;
    json_t *doc;

    /* a 2-minute expiry: the clock is rewritten once 30 s stale */
    dsb_sessions_set_idle_expiry(S, 120 * second);
    OK(dsb_sessions_create(S, "alice", id, E));
    B->age_session(id, 40 * second);
    doc = get_session(id);
    json_decref(doc);
    cr_assert_eq(dsb_sessions_expire(S, 35 * second), 0);

    /* a day: once a minute, so a 40-second-old clock stays as it is */
    dsb_sessions_set_idle_expiry(S, 24 * 3600 * second);
    B->age_session(id, 40 * second);
    doc = get_session(id);
    json_decref(doc);
    cr_assert_eq(dsb_sessions_expire(S, 35 * second), 1);
}

STORE_TEST(store_is_writable)
{
    cr_assert_eq(dsb_sessions_writable(S), 0);
}

/* -------------------------------------------------------------- jobs */

/* A job record as the service writes them. */
static json_t *job(const char *id, const char *session, const char *state,
                   json_int_t created)
{
    json_t *doc =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I}", "id", id, "session_id",
                  session, "state", state, "executor", "local", "principal",
                  "alice", "created_at", created, "updated_at", created);

    cr_assert(doc);
    return doc;
}

static void put(json_t *doc)
{
    OK(dsb_jstore_put(J, doc, E));
    json_decref(doc);
}

STORE_TEST(job_put_get_replace)
{
    json_t *doc = job("j1", "s1", "pending", 1000), *got;

    json_object_set_new(doc, "args", json_pack("[s, s]", "a", "b"));
    OK(dsb_jstore_put(J, doc, E));
    got = dsb_jstore_get(J, "j1");
    /* shown with its owner, the replica that wrote it */
    cr_assert_str_eq(str(got, "replica"), dsb_jstore_replica(J));
    json_object_del(got, "replica");
    cr_assert(json_equal(got, doc), "the record must come back as stored");
    json_decref(got);

    /* a put of the same id replaces the record */
    json_object_set_new(doc, "state", json_string("succeeded"));
    OK(dsb_jstore_put(J, doc, E));
    got = dsb_jstore_get(J, "j1");
    cr_assert_str_eq(str(got, "state"), "succeeded");
    json_decref(got);
    json_decref(doc);

    cr_assert_null(dsb_jstore_get(J, "no-such"));
}

STORE_TEST(job_list_by_session_newest_first)
{
    json_t *items;
    char ids[256];

    put(job("j1", "s1", "succeeded", 1000));
    put(job("j2", "s1", "running", 3000));
    put(job("j3", "s2", "running", 2000));
    put(job("j4", "s1", "failed", 2000));

    items = dsb_jstore_list(J, "s1");
    list_ids(items, ids, sizeof(ids));
    cr_assert_str_eq(ids, "j2 j4 j1");
    json_decref(items);
    items = dsb_jstore_list(J, "s-none");
    cr_assert_eq(json_array_size(items), 0);
    json_decref(items);
}

STORE_TEST(job_list_active_by_state)
{
    json_t *items;
    char ids[256];

    put(job("j1", "s1", "succeeded", 1000));
    put(job("j2", "s1", "running", 4000));
    put(job("j3", "s2", "pending", 2000));
    put(job("j4", "s2", "cancelling", 3000));
    put(job("j5", "s2", "cancelled", 500));
    put(job("j6", "s2", "timed_out", 600));

    items = dsb_jstore_list(J, NULL);
    list_ids(items, ids, sizeof(ids));
    cr_assert_str_eq(ids, "j3 j4 j2", "active jobs oldest first");
    json_decref(items);
}

static void enqueue(const char *id, const char *session, json_int_t created,
                    const char *code, const char *entry)
{
    json_t *doc = job(id, session, "pending", created);

    json_object_set_new(doc, "queued", json_true());
    OK(dsb_jstore_enqueue(J, doc, code, entry, E));
    json_decref(doc);
}

STORE_TEST(queue_keeps_arrival_order)
{
    struct dsb_jactive *v;
    size_t n;

    cr_assert_eq(dsb_jstore_any_queued(J), 0);
    put(job("run1", "s1", "running", 100));
    /* arrival order, not creation time */
    enqueue("q2", "s1", 5000, "print(2)", NULL);
    enqueue("q1", "s1", 4000, NULL, "s3://b/main.py");
    enqueue("q3", "s2", 3000, "print(3)", NULL);
    put(job("done", "s1", "succeeded", 50));

    cr_assert(dsb_jstore_any_queued(J));
    cr_assert(dsb_jstore_is_queued(J, "q1"));
    cr_assert_not(dsb_jstore_is_queued(J, "run1"));
    v = dsb_jstore_active(J, &n);
    cr_assert_eq(n, 4);
    cr_assert_str_eq(v[0].id, "q2");
    cr_assert_str_eq(v[1].id, "q1");
    cr_assert_str_eq(v[2].id, "q3");
    cr_assert_str_eq(v[3].id, "run1");
    cr_assert_lt(v[0].queue_seq, v[1].queue_seq);
    cr_assert_lt(v[1].queue_seq, v[2].queue_seq);
    cr_assert_eq(v[3].queue_seq, 0);
    cr_assert_str_eq(v[0].executor, "local");
    cr_assert_str_eq(v[0].principal, "alice");
    dsb_jactive_free(v, n);
}

STORE_TEST(dequeue_gives_the_request_once)
{
    char *code = NULL, *entry = NULL;
    json_t *doc, *got;

    enqueue("q1", "s1", 1000, NULL, "s3://b/main.py");
    enqueue("q2", "s1", 2000, "print(2)", NULL);

    doc = job("q1", "s1", "running", 1000);
    OK(dsb_jstore_dequeue(J, doc, &code, &entry, E));
    cr_assert_null(code);
    cr_assert_str_eq(entry, "s3://b/main.py");
    free(entry);
    entry = NULL;
    /* dequeue stored the record it was given */
    got = dsb_jstore_get(J, "q1");
    cr_assert_str_eq(str(got, "state"), "running");
    json_decref(got);
    cr_assert_not(dsb_jstore_is_queued(J, "q1"));

    /* a second dequeue of the same job is refused, nothing changed */
    json_object_set_new(doc, "state", json_string("failed"));
    FAILS(dsb_jstore_dequeue(J, doc, &code, &entry, E), DSB_E_CONFLICT);
    cr_assert_null(code);
    cr_assert_null(entry);
    got = dsb_jstore_get(J, "q1");
    cr_assert_str_eq(str(got, "state"), "running");
    json_decref(got);
    json_decref(doc);

    doc = job("q2", "s1", "cancelled", 2000);
    OK(dsb_jstore_dequeue(J, doc, &code, NULL, E));
    cr_assert_str_eq(code, "print(2)");
    free(code);
    json_decref(doc);
    cr_assert_eq(dsb_jstore_any_queued(J), 0);
}

STORE_TEST(enqueue_twice_is_refused_whole)
{
    json_t *doc = job("q1", "s1", "pending", 1000), *got;
    struct dsb_jactive *v;
    size_t n;

    enqueue("q1", "s1", 1000, "print(1)", NULL);
    /* the second enqueue must not leave its record write behind either */
    json_object_set_new(doc, "name", json_string("second"));
    FAILS(dsb_jstore_enqueue(J, doc, "print(2)", NULL, E), DSB_E_INTERNAL);
    json_decref(doc);
    got = dsb_jstore_get(J, "q1");
    cr_assert_null(json_object_get(got, "name"));
    json_decref(got);
    v = dsb_jstore_active(J, &n);
    cr_assert_eq(n, 1);
    dsb_jactive_free(v, n);
}

STORE_TEST(no_active_jobs)
{
    size_t n = 7;

    put(job("j1", "s1", "succeeded", 1000));
    cr_assert_null(dsb_jstore_active(J, &n));
    cr_assert_eq(n, 0);
}

/* -------------------------------------------------------- durability */

STORE_TEST(everything_survives_a_reopen)
{
    char id[DSB_SESSION_ID_MAX + 1], owner[DSB_OWNER_MAX + 1], *code = NULL;
    json_t *all, *got, *doc;
    struct dsb_jactive *v;
    size_t n;

    OK(dsb_sessions_create(S, "alice", id, E));
    OK(dsb_sessions_select(S, id, &orders, 1, NULL, 0, NULL, E));
    put(job("j1", id, "succeeded", 1000));
    enqueue("q1", id, 2000, "print(1)", NULL);
    enqueue("q2", id, 3000, "print(2)", NULL);

    reopen();
    OK(dsb_sessions_owner(S, id, owner, E));
    cr_assert_str_eq(owner, "alice");
    all = selections(id);
    cr_assert_eq(json_array_size(all), 1);
    cr_assert_str_eq(str(json_array_get(all, 0), "table"), "orders");
    json_decref(all);
    got = dsb_jstore_get(J, "j1");
    cr_assert_str_eq(str(got, "state"), "succeeded");
    json_decref(got);
    v = dsb_jstore_active(J, &n);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(v[0].id, "q1");
    cr_assert_str_eq(v[1].id, "q2");
    dsb_jactive_free(v, n);

    /* a job queued after the reopen still comes after the earlier ones */
    doc = job("q1", id, "running", 2000);
    OK(dsb_jstore_dequeue(J, doc, &code, NULL, E));
    cr_assert_str_eq(code, "print(1)");
    free(code);
    json_decref(doc);
    enqueue("q3", id, 1, "print(3)", NULL);
    v = dsb_jstore_active(J, &n);
    cr_assert_eq(n, 3);
    cr_assert_str_eq(v[0].id, "q2");
    cr_assert_str_eq(v[1].id, "q3");
    cr_assert_str_eq(v[2].id, "q1");
    dsb_jactive_free(v, n);
}

STORE_TEST(a_deleted_session_stays_deleted_after_a_reopen)
{
    char id[DSB_SESSION_ID_MAX + 1];
    json_t *doc = NULL;

    OK(dsb_sessions_create(S, "alice", id, E));
    OK(dsb_sessions_delete(S, id, E));
    reopen();
    FAILS(dsb_sessions_get(S, id, &doc, E), DSB_E_NOT_FOUND);
}

/* --------------------------------------------------------- migrations */

STORE_TEST(a_store_newer_than_known_is_refused)
{
    const char *stores[] = {"sessions", "jobs"};

    for (int i = 0; i < 2; i++) {
        struct dsb_error err = {0};
        int opened;

        close_stores();
        B->set_version(stores[i], 99);
        if (i == 0) {
            opened = (S = B->open_sessions(&err)) != NULL;
        } else {
            J = calloc(1, sizeof(*J));
            opened = B->open_jobs(J, &err) == 0;
        }
        cr_assert_not(opened, "%s: a %s store at version 99 was opened",
                      B->name, stores[i]);
        cr_assert_eq(err.code, DSB_E_CONFIG);
        cr_assert(strstr(err.message, "schema version 99, newer than this "
                                      "broker knows ("),
                  "%s", err.message);
        cr_assert(strstr(err.message, i == 0 ? "knows (1)" : "knows (2)"), "%s",
                  err.message);
        cr_assert(strstr(err.message, stores[i]), "%s", err.message);
        /* set back, the store opens as it was */
        B->set_version(stores[i], i == 0 ? 1 : 2);
        free(J);
        J = NULL;
        open_stores();
    }
}

/* ------------------------------------------------------------ leases */

/* A second job store handle: another replica on the same state. */
static struct dsb_jobs *replica(const char *id, int64_t lease_ms)
{
    struct dsb_jobs *k = calloc(1, sizeof(*k));
    struct dsb_error err = {0};

    cr_assert(k);
    cr_assert_eq(B->open_jobs_as(k, id, lease_ms, &err), 0, "%s: %s", B->name,
                 err.message);
    return k;
}

/* put by replica k */
static void put_by(struct dsb_jobs *k, json_t *doc)
{
    OK(dsb_jstore_put(k, doc, E));
    json_decref(doc);
}

static void replica_close(struct dsb_jobs *k)
{
    dsb_jstore_close(k);
    free(k);
}

/* k's claim (not at start): {"taken", "cancel", "owned"}. */
static json_t *claim(struct dsb_jobs *k, int at_start)
{
    json_t *out = NULL;

    OK(dsb_jstore_claim(k, at_start, &out, E));
    cr_assert(json_is_array(json_object_get(out, "taken")));
    return out;
}

static int by_text(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The ids in claim answer member `what` ("owned", "cancel") or of the
 * taken records ("taken": "id<from" each), sorted (a store returns them
 * in no particular order). */
static void claimed(const json_t *out, const char *what, char *buf, size_t len)
{
    const json_t *arr = json_object_get(out, what);
    char *items[128];
    size_t i, n = 0;
    json_t *v;

    buf[0] = '\0';
    json_array_foreach(arr, i, v)
    {
        const char *from = json_string_value(json_object_get(v, "from"));
        char one[128];

        cr_assert_lt(n, 128);
        if (json_is_string(v))
            snprintf(one, sizeof(one), "%s", json_string_value(v));
        else
            snprintf(one, sizeof(one), "%s<%s",
                     str(json_object_get(v, "doc"), "id"),
                     from ? from : "none");
        items[n++] = strdup(one);
    }
    qsort(items, n, sizeof(*items), by_text);
    for (i = 0; i < n; i++) {
        size_t used = strlen(buf);
        snprintf(buf + used, len - used, "%s%s", used ? " " : "", items[i]);
        free(items[i]);
    }
}

static void assert_claim(struct dsb_jobs *k, const char *taken,
                         const char *owned, const char *cancel)
{
    json_t *out = claim(k, 0);
    char buf[512];

    claimed(out, "taken", buf, sizeof(buf));
    cr_assert_str_eq(buf, taken, "%s: %s took [%s], not [%s]", B->name,
                     dsb_jstore_replica(k), buf, taken);
    claimed(out, "owned", buf, sizeof(buf));
    cr_assert_str_eq(buf, owned, "%s: %s owns [%s], not [%s]", B->name,
                     dsb_jstore_replica(k), buf, owned);
    claimed(out, "cancel", buf, sizeof(buf));
    cr_assert_str_eq(buf, cancel, "%s: %s cancels [%s], not [%s]", B->name,
                     dsb_jstore_replica(k), buf, cancel);
    json_decref(out);
}

static const char *owner_of(struct dsb_jobs *k, const char *id)
{
    static char owner[80];
    json_t *doc = dsb_jstore_get(k, id);

    cr_assert(doc, "no job %s", id);
    snprintf(owner, sizeof(owner), "%s",
             json_string_value(json_object_get(doc, "replica"))
                 ? json_string_value(json_object_get(doc, "replica"))
                 : "none");
    json_decref(doc);
    return owner;
}

/* A live replica keeps its jobs; once its lease ends another takes them
 * over (once), and the first one's writes are refused from then on. */
STORE_TEST(lease_renew_expire_takeover)
{
    struct dsb_jobs *a = replica("ra", 60000), *b = replica("rb", 60000);
    json_t *doc = job("r1", "s1", "running", 100), *items;

    OK(dsb_jstore_put(a, doc, E));
    put(job("f1", "s1", "succeeded", 50));
    enqueue("q1", "s1", 300, "print(1)", NULL);
    /* J (the default replica) queued q1, wrote f1: neither is tracked */
    assert_claim(a, "", "r1", "");
    assert_claim(b, "", "", "");
    cr_assert_str_eq(owner_of(b, "r1"), "ra");

    B->expire_lease("r1", 1);
    assert_claim(b, "r1<ra", "r1", "");
    assert_claim(b, "", "r1", ""); /* taken once */
    cr_assert_str_eq(owner_of(a, "r1"), "rb");
    assert_claim(a, "", "", "");
    items = dsb_jstore_list(a, NULL);
    cr_assert_eq(json_array_size(items), 0, "ra tracks nothing any more");
    json_decref(items);

    /* ra, back from a stall, may not write it; rb may */
    json_object_set_new(doc, "state", json_string("succeeded"));
    {
        struct dsb_error e_ = {0};
        cr_assert_neq(dsb_jstore_put(a, doc, &e_), 0);
        cr_assert_eq(e_.code, DSB_E_CONFLICT);
        cr_assert(strstr(e_.message, "replica rb"), "%s", e_.message);
    }
    {
        json_t *cur = dsb_jstore_get(a, "r1");
        cr_assert_str_eq(str(cur, "state"), "running");
        json_decref(cur);
    }
    json_object_set_new(doc, "state", json_string("failed"));
    OK(dsb_jstore_put(b, doc, E));
    assert_claim(b, "", "", "");
    json_decref(doc);
    replica_close(a);
    replica_close(b);
}

/* A record nobody owns (from before leases) goes to the first claim; a
 * replica started again under its id takes its own jobs back at once; a
 * clean stop lets its jobs go at once. */
STORE_TEST(lease_ownerless_restart_release)
{
    struct dsb_jobs *a = replica("ra", 60000), *b = replica("rb", 60000);

    put(job("r1", "s1", "running", 100));
    B->expire_lease("r1", 0);
    assert_claim(a, "r1<none", "r1", "");
    replica_close(a);

    /* the same id again: its own job back at its start, not b's */
    put_by(b, job("r2", "s1", "running", 200));
    a = replica("ra", 60000);
    {
        json_t *out = claim(a, 1);
        char buf[256];

        claimed(out, "taken", buf, sizeof(buf));
        /* SQLite has one process: its start takes every active job */
        cr_assert_str_eq(buf,
                         strcmp(B->name, "sqlite") ? "r1<ra" : "r1<ra r2<rb",
                         "%s: %s", B->name, buf);
        json_decref(out);
    }
    if (strcmp(B->name, "sqlite") == 0)
        put_by(b, job("r3", "s1", "running", 300));
    else
        cr_assert_str_eq(owner_of(a, "r2"), "rb");

    /* b stops cleanly: a takes its jobs at its next claim */
    dsb_jstore_release(b);
    assert_claim(a, strcmp(B->name, "sqlite") ? "r2<rb" : "r3<rb",
                 strcmp(B->name, "sqlite") ? "r1 r2" : "r1 r2 r3", "");
    replica_close(a);
    replica_close(b);
}

/* A cancel asked on a replica that does not own the job is recorded for
 * its owner, who sees it at each claim until the job is cancelling. */
STORE_TEST(lease_cancel_request)
{
    struct dsb_jobs *a = replica("ra", 60000), *b = replica("rb", 60000);
    json_t *doc = job("r1", "s1", "running", 100), *got;

    OK(dsb_jstore_put(a, doc, E));
    put(job("f1", "s1", "failed", 50));
    OK(dsb_jstore_request_cancel(b, "r1", E));
    FAILS(dsb_jstore_request_cancel(b, "f1", E), DSB_E_CONFLICT);
    FAILS(dsb_jstore_request_cancel(b, "nope", E), DSB_E_NOT_FOUND);
    got = dsb_jstore_get(b, "r1");
    cr_assert(json_is_true(json_object_get(got, "cancel_requested")));
    cr_assert_str_eq(str(got, "state"), "running");
    json_decref(got);
    assert_claim(b, "", "", "");
    assert_claim(a, "", "r1", "r1");
    assert_claim(a, "", "r1", "r1"); /* until acted on */
    /* an unrelated write of the owner keeps the request */
    json_object_set_new(doc, "updated_at", json_integer(150));
    OK(dsb_jstore_put(a, doc, E));
    assert_claim(a, "", "r1", "r1");
    json_object_set_new(doc, "state", json_string("cancelling"));
    OK(dsb_jstore_put(a, doc, E));
    assert_claim(a, "", "r1", "");
    got = dsb_jstore_get(b, "r1");
    cr_assert_null(json_object_get(got, "cancel_requested"));
    json_decref(got);
    OK(dsb_jstore_request_cancel(b, "r1", E)); /* cancelling already */
    assert_claim(a, "", "r1", "");
    json_decref(doc);
    replica_close(a);
    replica_close(b);
}

/* The queue is shared: whichever replica dequeues a job owns it, and a
 * job is dequeued once. */
STORE_TEST(lease_dequeue_takes_the_job)
{
    struct dsb_jobs *a = replica("ra", 60000), *b = replica("rb", 60000);
    json_t *doc = job("q1", "s1", "pending", 100);
    char *code = NULL;

    json_object_set_new(doc, "queued", json_true());
    OK(dsb_jstore_enqueue(a, doc, "print(1)", NULL, E));
    B->expire_lease("q1", 1);
    assert_claim(b, "", "", ""); /* queued: never taken over */
    json_object_del(doc, "queued");
    OK(dsb_jstore_dequeue(b, doc, &code, NULL, E));
    cr_assert_str_eq(code, "print(1)");
    free(code);
    FAILS(dsb_jstore_dequeue(a, doc, NULL, NULL, E), DSB_E_CONFLICT);
    cr_assert_str_eq(owner_of(a, "q1"), "rb");
    assert_claim(b, "", "q1", "");
    json_decref(doc);
    replica_close(a);
    replica_close(b);
}

#ifdef DSB_TEST_STORE_PG
#include <pthread.h>

#define RACE_JOBS 60
#define RACE_REPLICAS 4

struct racer {
    struct dsb_jobs *k;
    pthread_barrier_t *go;
    json_t *taken;
    int rc;
};

static void *race(void *arg)
{
    struct racer *r = arg;
    struct dsb_error err = {0};

    pthread_barrier_wait(r->go);
    r->rc = dsb_jstore_claim(r->k, 0, &r->taken, &err);
    return NULL;
}

/* Replicas claiming the same expired jobs at the same moment: every job
 * is taken by exactly one, and it is the owner the store shows. */
STORE_TEST(lease_concurrent_claims_take_each_job_once)
{
    struct racer r[RACE_REPLICAS];
    pthread_t t[RACE_REPLICAS];
    pthread_barrier_t go;
    int seen[RACE_JOBS] = {0};
    char id[32], name[16];

    for (int i = 0; i < RACE_JOBS; i++) {
        snprintf(id, sizeof(id), "race-%02d", i);
        put(job(id, "s1", i % 2 ? "running" : "pending", 100 + i));
        B->expire_lease(id, i % 3 != 0);
    }
    pthread_barrier_init(&go, NULL, RACE_REPLICAS);
    for (int i = 0; i < RACE_REPLICAS; i++) {
        snprintf(name, sizeof(name), "racer-%d", i);
        r[i] = (struct racer){replica(name, 60000), &go, NULL, -1};
        cr_assert_eq(pthread_create(&t[i], NULL, race, &r[i]), 0);
    }
    for (int i = 0; i < RACE_REPLICAS; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < RACE_REPLICAS; i++) {
        size_t k;
        json_t *v;

        cr_assert_eq(r[i].rc, 0);
        json_array_foreach(json_object_get(r[i].taken, "taken"), k, v)
        {
            const char *jid = str(json_object_get(v, "doc"), "id");
            int n = atoi(jid + 5);

            seen[n]++;
            cr_assert_str_eq(owner_of(J, jid), dsb_jstore_replica(r[i].k),
                             "%s taken by %s", jid, dsb_jstore_replica(r[i].k));
        }
        json_decref(r[i].taken);
        replica_close(r[i].k);
    }
    for (int i = 0; i < RACE_JOBS; i++)
        cr_assert_eq(seen[i], 1, "race-%02d taken %d times", i, seen[i]);
    pthread_barrier_destroy(&go);
}

struct dequeuer {
    struct dsb_jobs *k;
    pthread_barrier_t *go;
    int got[RACE_JOBS];
};

static void *dequeue_all(void *arg)
{
    struct dequeuer *d = arg;
    char id[32];

    pthread_barrier_wait(d->go);
    for (int i = 0; i < RACE_JOBS; i++) {
        struct dsb_error err = {0};
        json_t *doc;

        snprintf(id, sizeof(id), "queued-%02d", i);
        doc = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I}", "id", id,
                        "session_id", "s1", "state", "pending", "executor",
                        "local", "principal", "alice", "created_at",
                        (json_int_t)100, "updated_at", (json_int_t)100);
        d->got[i] = dsb_jstore_dequeue(d->k, doc, NULL, NULL, &err) == 0;
        json_decref(doc);
    }
    return NULL;
}

/* Replicas taking the same queued jobs off the queue at the same moment:
 * each job is started by exactly one of them, which then owns it. */
STORE_TEST(lease_concurrent_dequeues_take_each_job_once)
{
    struct dequeuer d[RACE_REPLICAS];
    pthread_t t[RACE_REPLICAS];
    pthread_barrier_t go;
    char id[32], name[16];

    for (int i = 0; i < RACE_JOBS; i++) {
        snprintf(id, sizeof(id), "queued-%02d", i);
        enqueue(id, "s1", 100 + i, "print(1)", NULL);
    }
    pthread_barrier_init(&go, NULL, RACE_REPLICAS);
    for (int i = 0; i < RACE_REPLICAS; i++) {
        snprintf(name, sizeof(name), "taker-%d", i);
        memset(&d[i], 0, sizeof(d[i]));
        d[i].k = replica(name, 60000);
        d[i].go = &go;
        cr_assert_eq(pthread_create(&t[i], NULL, dequeue_all, &d[i]), 0);
    }
    for (int i = 0; i < RACE_REPLICAS; i++)
        pthread_join(t[i], NULL);
    for (int n = 0; n < RACE_JOBS; n++) {
        int takers = 0, who = -1;

        for (int i = 0; i < RACE_REPLICAS; i++)
            if (d[i].got[n]) {
                takers++;
                who = i;
            }
        snprintf(id, sizeof(id), "queued-%02d", n);
        cr_assert_eq(takers, 1, "%s dequeued %d times", id, takers);
        cr_assert_str_eq(owner_of(J, id), dsb_jstore_replica(d[who].k));
    }
    cr_assert_not(dsb_jstore_any_queued(J));
    for (int i = 0; i < RACE_REPLICAS; i++)
        replica_close(d[i].k);
    pthread_barrier_destroy(&go);
}

struct admitter {
    struct dsb_jobs *k;
    int begun, ended;
    size_t seen;
};

/* An admission of replica a->k: begin, count the active jobs, end. */
static void *admit_one(void *arg)
{
    struct admitter *a = arg;
    struct dsb_error err = {0};
    struct dsb_jactive *v;

    a->begun = dsb_jstore_admission_begin(a->k, &err) == 0;
    v = dsb_jstore_active(a->k, &a->seen);
    dsb_jactive_free(v, a->seen);
    a->ended = dsb_jstore_admission_end(a->k, 1, &err) == 0;
    return NULL;
}

/* Admissions of two replicas are one step each: the second waits on the
 * store's admission lock until the first has written its record and
 * committed, so it counts that job (the limits hold across replicas); a
 * rolled-back admission leaves nothing. */
STORE_TEST(admissions_are_one_step_across_replicas)
{
    static const char waiting[] =
        "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND "
        "wait_event_type = 'Lock' AND wait_event = 'advisory'";
    struct admitter b = {replica("adm-b", 60000), 0, 0, 0};
    struct dsb_jobs *a = replica("adm-a", 60000);
    struct dsb_error err = {0};
    pthread_t t;

    cr_assert(dsb_jstore_shared(a));
    OK(dsb_jstore_admission_begin(a, E));
    put_by(a, job("adm-0", "s1", "pending", 100));
    cr_assert_eq(dsb_jstore_admission_end(a, 0, &err), -1);
    cr_assert_null(dsb_jstore_get(J, "adm-0"), "rolled back");

    OK(dsb_jstore_admission_begin(a, E));
    cr_assert_eq(pthread_create(&t, NULL, admit_one, &b), 0);
    for (int64_t end = dsb_monotonic_ms() + 30000;
         pg_admin_count(waiting, pg_db) < 1 && dsb_monotonic_ms() < end;)
        nanosleep(&(struct timespec){0, 10000000}, NULL);
    cr_assert_eq(pg_admin_count(waiting, pg_db), 1,
                 "replica b does not wait for a's admission");
    put_by(a, job("adm-1", "s1", "pending", 100));
    OK(dsb_jstore_admission_end(a, 1, E));
    pthread_join(t, NULL);
    cr_assert(b.begun && b.ended);
    cr_assert_eq(b.seen, 1, "b counted %zu active jobs", b.seen);
    replica_close(b.k);
    replica_close(a);
}

/* A connection the server ended: the call that
 * finds it fails as unavailable (retryable), the next one reconnects. */
STORE_TEST(a_lost_connection_is_reopened)
{
    char id[DSB_SESSION_ID_MAX + 1], owner[DSB_OWNER_MAX + 1];
    struct dsb_error err = {0};
    json_t *got;

    OK(dsb_sessions_create(S, "alice", id, E));
    put(job("j1", id, "running", 1000));
    pg_kill_connections();

    cr_assert_neq(dsb_sessions_owner(S, id, owner, &err), 0);
    cr_assert_eq(err.code, DSB_E_UNAVAILABLE, "%s", err.message);
    cr_assert(err.retryable);
    OK(dsb_sessions_owner(S, id, owner, E));
    cr_assert_str_eq(owner, "alice");

    cr_assert_null(dsb_jstore_get(J, "j1"), "the broken connection's call");
    got = dsb_jstore_get(J, "j1");
    cr_assert_str_eq(str(got, "state"), "running");
    json_decref(got);
    cr_assert_eq(dsb_sessions_writable(S), 0);
}

/* Brokers starting at once on a new database: each open migrates or waits
 * for the one that does (advisory lock), none fails, the version is
 * recorded once per store. */
#define OPENERS 3

static void *open_both(void *arg)
{
    struct dsb_error err = {0};
    struct dsb_sessions *s = pg_open_sessions(&err);
    struct dsb_jobs *j = calloc(1, sizeof(*j));
    int ok = s && j && pg_open_jobs(j, &err) == 0;

    if (!ok)
        fprintf(stderr, "open: %s (%s)\n", err.message, err.detail);
    dsb_sessions_close(s);
    if (j)
        dsb_jstore_close(j);
    free(j);
    return ok ? arg : NULL;
}

static void pg_init_only(void)
{
    B = &pg_backend;
    B->setup();
}

Test(store_postgresql, brokers_starting_at_once_migrate_once,
     .init = pg_init_only, .fini = fini)
{
    static int mark[OPENERS];
    pthread_t t[OPENERS];
    void *ok;

    for (int i = 0; i < OPENERS; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, open_both, &mark[i]), 0);
    for (int i = 0; i < OPENERS; i++) {
        cr_assert_eq(pthread_join(t[i], &ok), 0);
        cr_assert(ok, "opener %d failed (its message above)", i);
    }
    cr_assert_eq(pg_admin_count_in(pg_db,
                                   "SELECT count(*) FROM dsb_schema WHERE "
                                   "store IN ('sessions', 'jobs') AND "
                                   "version >= 1 AND $1 = $1",
                                   "x"),
                 2);
}

/* A database that takes no writes (a standby, or read-only by default):
 * the store is not writable (readiness fails) and a write fails as
 * unavailable, saying why. */
STORE_TEST(a_read_only_database_is_not_ready)
{
    char id[DSB_SESSION_ID_MAX + 1], sql[256];
    struct dsb_error err = {0};

    OK(dsb_sessions_create(S, "alice", id, E));
    snprintf(sql, sizeof(sql),
             "ALTER DATABASE %s SET default_transaction_read_only = on", pg_db);
    pg_admin_exec("postgres", sql, 0, NULL);
    pg_kill_connections();          /* the setting applies to new connections */
    (void)dsb_sessions_writable(S); /* finds its connection ended */
    cr_assert_neq(dsb_sessions_writable(S), 0);
    cr_assert_neq(dsb_sessions_create(S, "bob", id, &err), 0);
    cr_assert_eq(err.code, DSB_E_UNAVAILABLE, "%s", err.message);
    cr_assert(strstr(err.message, "read-only"), "%s", err.message);
}
#endif
