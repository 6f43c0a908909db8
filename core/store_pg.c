/* The state stores on PostgreSQL (state.store: postgresql): the session
 * store and the job store, each on its own connection, with the same
 * schema as on SQLite (sessions_pg.sql, jobs/jobs_pg.sql: step 1 of each)
 * and its version in table dsb_schema.  A commit is durable when it
 * returns (the server's synchronous_commit). */
#include "store.h"

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "jobs/internal.h"
#include "util.h"

extern const char dsb_sql_sessions_pg[];
extern const char dsb_sql_jobs_pg[];
extern const char dsb_sql_jobs_lease_pg[];
extern const char dsb_sql_sources_pg[];

#define TOUCH_EVERY_MS 60000

struct pg_store {
    pthread_mutex_t mu; /* one connection, one statement at a time */
    PGconn *conn;
    const char *name; /* "session", "job", "sources" */
    int in_tx;        /* a BEGIN is open: a broken connection is not reset (the
                       * transaction's statements would run outside it) */
    int fresh;        /* this open created the store (its version was 0) */
    atomic_llong touch_every_ms; /* sessions: how stale the idle clock may
                                  * get */
    char *replica;               /* jobs: this replica, owner of its puts */
    char lease_ms[24];           /* jobs: a lease's length, decimal */
    /* statements prepared on this server session (pg_prep_run): their
     * text (a literal's address), the session's backend pid */
    const char *prepared[16];
    int n_prepared, prepared_pid;
};

/* The database's clock in ms: leases expire by it, whatever the replicas'
 * clocks say. */
#define DB_NOW_MS "(extract(epoch FROM clock_timestamp()) * 1000)::bigint"
#define ACTIVE "('pending', 'running', 'cancelling')"

/* ------------------------------------------------------ connection */

/* libpq's last message on one line (its lines joined by "; ", the final
 * newline dropped), into buf. */
static const char *conn_message(PGconn *c, char *buf, size_t len)
{
    size_t n = 0;

    for (const char *m = PQerrorMessage(c); *m && n + 3 < len; m++) {
        if (*m != '\n')
            buf[n++] = *m;
        else if (m[1]) {
            buf[n++] = ';';
            buf[n++] = ' ';
        }
    }
    buf[n] = '\0';
    return buf;
}

/* A failed statement (result r, may be NULL) as err. */
static int pg_fail(struct pg_store *p, PGresult *r, struct dsb_error *err,
                   const char *what)
{
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    char buf[512];

    if (!msg)
        msg = conn_message(p->conn, buf, sizeof(buf));
    if (PQstatus(p->conn) != CONNECTION_OK ||
        (state && !strncmp(state, "08", 2)) ||
        (state && !strncmp(state, "57P0", 4))) {
        dsb_store_unreachable(err, p->name, what, PQhost(p->conn),
                              PQport(p->conn));
    } else if (state && !strcmp(state, "25006")) {
        dsb_error_set(err, DSB_E_UNAVAILABLE,
                      "%s store: %s failed: the state database is read-only "
                      "(a standby, or default_transaction_read_only)",
                      p->name, what);
        dsb_error_hint(err, "point state.url at the primary server");
        err->retryable = 1;
    } else if (state && !strcmp(state, "53100")) {
        dsb_error_set(err, DSB_E_UNAVAILABLE,
                      "%s store: %s failed: the state disk is full", p->name,
                      what);
        snprintf(err->upstream, sizeof(err->upstream), DSB_STORE_FULL_UPSTREAM);
        err->retryable = 1;
    } else {
        dsb_error_set(err, DSB_E_INTERNAL, "%s store: %s failed", p->name,
                      what);
        err->retryable = state && !strcmp(state, "40001");
    }
    dsb_error_detail(err, "PostgreSQL%s%s: %s", state ? " " : "",
                     state ? state : "", msg);
    return -1;
}

int dsb_store_unreachable(struct dsb_error *err, const char *store,
                          const char *what, const char *host, const char *port)
{
    dsb_error_set(err, DSB_E_UNAVAILABLE,
                  "the state store cannot be reached (PostgreSQL at %s:%s): "
                  "%s store, %s",
                  host && *host ? host : "?", port && *port ? port : "?", store,
                  what);
    dsb_error_hint(err, "nothing was changed; retry when the state "
                        "database is back (GET /readyz says when)");
    snprintf(err->upstream, sizeof(err->upstream), "%s",
             DSB_STORE_LOST_UPSTREAM);
    err->retryable = 1;
    return -1;
}

/* Makes the connection usable before a statement outside a transaction:
 * one that broke is reset; an idle one with input waiting (the server
 * closed it: a restart) is read first, so the statement is not sent into
 * a dead connection.  Nothing has been sent when this resets. */
static void pg_ready(struct pg_store *p)
{
    struct pollfd pfd = {.fd = PQsocket(p->conn), .events = POLLIN};

    if (p->in_tx)
        return;
    if (PQstatus(p->conn) == CONNECTION_OK &&
        PQtransactionStatus(p->conn) == PQTRANS_IDLE && pfd.fd >= 0 &&
        poll(&pfd, 1, 0) > 0)
        PQconsumeInput(p->conn);
    if (PQstatus(p->conn) != CONNECTION_OK)
        PQreset(p->conn);
}

/* Runs sql with n text parameters (NULL: SQL NULL); the result, or NULL
 * with err set (the result cleared).  A connection broken since the last
 * statement is reconnected first (pg_ready). */
static PGresult *pg_run(struct pg_store *p, const char *sql, int n,
                        const char *const *v, struct dsb_error *err,
                        const char *what)
{
    PGresult *r;
    ExecStatusType st;

    pg_ready(p);
    r = PQexecParams(p->conn, sql, n, NULL, v, NULL, NULL, 0);
    st = PQresultStatus(r);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
        if (!strcmp(sql, "BEGIN"))
            p->in_tx = 1;
        else if (!strcmp(sql, "COMMIT"))
            p->in_tx = 0;
        return r;
    }
    pg_fail(p, r, err, what);
    PQclear(r);
    return NULL;
}

/*
 * pg_run for the hot statements: prepared once per server session (a
 * reconnect starts a new one), then executed by name, so the server does
 * not parse and plan them on every call.  sql must be a string literal:
 * its address names it.  More than the cache holds run as pg_run does.
 */
static PGresult *pg_prep_run(struct pg_store *p, const char *sql, int n,
                             const char *const *v, struct dsb_error *err,
                             const char *what)
{
    char name[16];
    PGresult *r;
    int i;

    pg_ready(p);
    if (PQbackendPID(p->conn) != p->prepared_pid) {
        p->n_prepared = 0;
        p->prepared_pid = PQbackendPID(p->conn);
    }
    for (i = 0; i < p->n_prepared && p->prepared[i] != sql; i++)
        ;
    if (i == p->n_prepared) {
        if (i == (int)(sizeof(p->prepared) / sizeof(p->prepared[0])))
            return pg_run(p, sql, n, v, err, what);
        snprintf(name, sizeof(name), "dsb%d", i);
        r = PQprepare(p->conn, name, sql, n, NULL);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            pg_fail(p, r, err, what);
            PQclear(r);
            return NULL;
        }
        PQclear(r);
        p->prepared[p->n_prepared++] = sql;
    }
    snprintf(name, sizeof(name), "dsb%d", i);
    r = PQexecPrepared(p->conn, name, n, v, NULL, NULL, 0);
    if (PQresultStatus(r) == PGRES_COMMAND_OK ||
        PQresultStatus(r) == PGRES_TUPLES_OK)
        return r;
    pg_fail(p, r, err, what);
    PQclear(r);
    return NULL;
}

/* The rows a statement's result says it affected, or -1 for no result
 * (the statement failed; err is set); the result is freed. */
static long rows_affected(PGresult *r)
{
    long changed;

    if (!r)
        return -1;
    changed = atol(PQcmdTuples(r));
    PQclear(r);
    return changed;
}

/* pg_run for statements whose rows are not needed: rows affected, or -1. */
static long pg_exec(struct pg_store *p, const char *sql, int n,
                    const char *const *v, struct dsb_error *err,
                    const char *what)
{
    return rows_affected(pg_run(p, sql, n, v, err, what));
}

/* pg_prep_run for statements whose rows are not needed: rows affected,
 * or -1. */
static long pg_prep_exec(struct pg_store *p, const char *sql, int n,
                         const char *const *v, struct dsb_error *err,
                         const char *what)
{
    return rows_affected(pg_prep_run(p, sql, n, v, err, what));
}

/* Runs a script of several statements (no parameters): 0 or -1 with err
 * set. */
static int pg_script(struct pg_store *p, const char *sql, struct dsb_error *err,
                     const char *what)
{
    PGresult *r = PQexec(p->conn, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK ||
             PQresultStatus(r) == PGRES_TUPLES_OK;

    if (!ok)
        pg_fail(p, r, err, what);
    PQclear(r);
    return ok ? 0 : -1;
}

static void pg_rollback(struct pg_store *p)
{
    PQclear(PQexec(p->conn, "ROLLBACK"));
    p->in_tx = 0;
}

static const char schema_table[] =
    "CREATE TABLE IF NOT EXISTS dsb_schema (store TEXT PRIMARY KEY, "
    "version INTEGER NOT NULL, migrated_ms BIGINT NOT NULL)";

/* The stored version of store (0: none yet), or -1 with err set. */
static int pg_version(struct pg_store *p, const char *store,
                      struct dsb_error *err)
{
    const char *v[] = {store};
    PGresult *r = pg_run(p, "SELECT version FROM dsb_schema WHERE store = $1",
                         1, v, err, "reading the schema version");
    int version;

    if (!r)
        return -1;
    version = PQntuples(r) ? atoi(PQgetvalue(r, 0, 0)) : 0;
    PQclear(r);
    return version;
}

/* Brings store to its n steps in one transaction, concurrent openers
 * serialised by an advisory lock; a store newer than n is refused,
 * untouched (DSB_E_CONFIG). */
static int pg_migrate(struct pg_store *p, const char *store,
                      const char *const *steps, int n, struct dsb_error *err)
{
    char ver[16], now[24];
    const char *v[] = {store, ver, now};
    int have;

    if (pg_exec(p, "BEGIN", 0, NULL, err, "migrating") < 0)
        return -1;
    if (pg_exec(p, "SELECT pg_advisory_xact_lock(hashtext('dsb_schema'))", 0,
                NULL, err, "migrating") < 0 ||
        pg_exec(p, schema_table, 0, NULL, err, "migrating") < 0 ||
        (have = pg_version(p, store, err)) < 0)
        goto fail;
    if (have > n) {
        dsb_error_set(
            err, DSB_E_CONFIG,
            "the %s store is at schema version %d, newer than this broker knows (%d): a newer dsbroker wrote it; run that version, or restore a backup of the state database made before it",
            store, have, n);
        goto fail;
    }
    for (int i = have; i < n; i++)
        if (pg_script(p, steps[i], err, "migrating") < 0)
            goto fail;
    p->fresh = have == 0;
    snprintf(ver, sizeof(ver), "%d", n);
    snprintf(now, sizeof(now), "%lld", (long long)dsb_wall_ms());
    if (have != n &&
        pg_exec(p,
                "INSERT INTO dsb_schema (store, version, migrated_ms) "
                "VALUES ($1, $2, $3) ON CONFLICT (store) DO UPDATE SET "
                "version = excluded.version, migrated_ms = "
                "excluded.migrated_ms",
                3, v, err, "migrating") < 0)
        goto fail;
    return pg_exec(p, "COMMIT", 0, NULL, err, "migrating") < 0 ? -1 : 0;
fail:
    pg_rollback(p);
    return -1;
}

/* Notices ("relation already exists, skipping") are not errors: libpq
 * would print them on stderr. */
static void quiet(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static void pg_close(void *h)
{
    struct pg_store *p = h;

    if (!p)
        return;
    PQfinish(p->conn);
    pthread_mutex_destroy(&p->mu);
    free(p->replica);
    free(p);
}

/* Connects to c->url with c->password and migrates store to its n steps
 * (n 0: no migration, another connection made it). */
static struct pg_store *pg_open(const struct dsb_store_conf *c,
                                const char *name, const char *store,
                                const char *const *steps, int n,
                                struct dsb_error *err)
{
    const char *keys[] = {"connect_timeout", "dbname", "password",
                          "application_name", NULL};
    const char *vals[] = {"5", c->url, c->password, "dsbroker", NULL};
    struct pg_store *p = calloc(1, sizeof(*p));
    char why[512];

    if (!p) {
        dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&p->mu, NULL);
    p->name = name;
    atomic_init(&p->touch_every_ms, TOUCH_EVERY_MS);
    if (!c->password) {
        keys[2] = "application_name";
        vals[2] = "dsbroker";
        keys[3] = vals[3] = NULL;
    }
    p->conn = PQconnectdbParams(keys, vals, 1);
    if (PQstatus(p->conn) != CONNECTION_OK) {
        dsb_error_set(err, DSB_E_CONFIG,
                      "cannot open the %s store on PostgreSQL: %s", name,
                      conn_message(p->conn, why, sizeof(why)));
        dsb_error_hint(err, "check state.url and state.password in "
                            "broker.yaml, and that the server is up");
        goto fail;
    }
    PQsetNoticeProcessor(p->conn, quiet, NULL);
    if (n > 0 && pg_migrate(p, store, steps, n, err) < 0)
        goto fail;
    return p;
fail:
    pg_close(p);
    return NULL;
}

/* -------------------------------------------------------- sessions */

/*
 * The session store's connections: the request threads call it at once,
 * and PostgreSQL commits concurrent transactions together, so each call
 * takes a free connection (the first it can lock; when all are busy, one
 * in turn, waiting for it).  The job store needs one: its service calls it
 * under one lock.
 */
struct pg_pool {
    struct pg_store *c[DSB_PG_SESSION_CONNECTIONS];
    atomic_uint next;
};

/* A connection of pool h, locked: unlock its mu when done. */
static struct pg_store *take(void *h)
{
    struct pg_pool *pl = h;
    struct pg_store *p;

    for (int i = 0; i < DSB_PG_SESSION_CONNECTIONS; i++)
        if (pthread_mutex_trylock(&pl->c[i]->mu) == 0)
            return pl->c[i];
    p = pl->c[atomic_fetch_add(&pl->next, 1) % DSB_PG_SESSION_CONNECTIONS];
    pthread_mutex_lock(&p->mu);
    return p;
}

static void ps_close(void *h)
{
    struct pg_pool *pl = h;

    for (int i = 0; pl && i < DSB_PG_SESSION_CONNECTIONS; i++)
        pg_close(pl->c[i]);
    free(pl);
}

static void *ps_open(const struct dsb_store_conf *c, struct dsb_error *err)
{
    static const char *const steps[] = {dsb_sql_sessions_pg};
    struct pg_pool *pl = calloc(1, sizeof(*pl));

    if (!pl) {
        dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
        return NULL;
    }
    atomic_init(&pl->next, 0);
    for (int i = 0; i < DSB_PG_SESSION_CONNECTIONS; i++)
        if (!(pl->c[i] =
                  pg_open(c, "session", "sessions", steps, i ? 0 : 1, err))) {
            ps_close(pl);
            return NULL;
        }
    return pl;
}

static long ps_exec_locked(void *h, const char *sql, int n,
                           const char *const *v, struct dsb_error *err,
                           const char *what)
{
    struct pg_store *p = take(h);
    long rc;

    rc = pg_prep_exec(p, sql, n, v, err, what);
    pthread_mutex_unlock(&p->mu);
    return rc;
}

static int ps_insert(void *h, const char *id, const char *owner,
                     struct dsb_error *err)
{
    char now[24];
    const char *v[] = {id, now, owner};

    snprintf(now, sizeof(now), "%lld", (long long)dsb_wall_ms());
    return ps_exec_locked(h,
                          "INSERT INTO dsb_sessions (id, created_ms, "
                          "touched_ms, owner) VALUES ($1, $2, $2, $3) "
                          "ON CONFLICT (id) DO NOTHING",
                          3, v, err, "writing") < 0
               ? -1
               : 0;
}

static int not_found(const char *id, struct dsb_error *err)
{
    return dsb_error_set(err, DSB_E_NOT_FOUND, "session %s does not exist", id);
}

static int ps_owner(void *h, const char *id, char owner[DSB_OWNER_MAX + 1],
                    struct dsb_error *err)
{
    struct pg_store *p;
    const char *v[] = {id};
    PGresult *r;
    int rc = -1;

    p = take(h);
    r = pg_prep_run(p, "SELECT owner FROM dsb_sessions WHERE id = $1", 1, v,
                    err, "reading a session");
    if (r && PQntuples(r) == 0)
        not_found(id, err);
    else if (r) {
        snprintf(owner, DSB_OWNER_MAX + 1, "%s", PQgetvalue(r, 0, 0));
        rc = 0;
    }
    PQclear(r);
    pthread_mutex_unlock(&p->mu);
    return rc;
}

/* As sessions_sqlite.c's touch: the idle clock written when stale;
 * DSB_E_NOT_FOUND when there is no such session.  Caller holds mu. */
static int ps_touch(struct pg_store *p, const char *id, struct dsb_error *err)
{
    int64_t now = dsb_wall_ms();
    char a[24], b[24];
    const char *v[] = {a, id, b};
    struct dsb_error ignored = {0};
    PGresult *r;
    int found;

    snprintf(a, sizeof(a), "%lld", (long long)now);
    snprintf(b, sizeof(b), "%lld",
             (long long)(now - atomic_load(&p->touch_every_ms)));
    if (pg_prep_exec(
            p,
            "UPDATE dsb_sessions SET touched_ms = $1 WHERE id = $2 AND "
            "touched_ms < $3",
            3, v, &ignored, "writing") > 0)
        return 0;
    r = pg_prep_run(p, "SELECT 1 FROM dsb_sessions WHERE id = $1", 1, v + 1,
                    err, "reading a session");
    if (!r)
        return -1;
    found = PQntuples(r) > 0;
    PQclear(r);
    return found ? 0 : not_found(id, err);
}

static json_t *iso_time(const char *ms)
{
    char buf[DSB_ISO_TIME_LEN];

    dsb_iso_time(strtoll(ms, NULL, 10), buf);
    return json_string(buf);
}

static const char *opt_text(PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

/* The selection rows of r from row `from` on (id, source, db,
 * schema_name, tbl, selected_ms) as the stores answer them. */
static json_t *selection_rows(PGresult *r, int from)
{
    json_t *arr = json_array();

    for (int i = from; arr && i < PQntuples(r); i++)
        json_array_append_new(
            arr, json_pack("{s:I, s:s, s:s, s:s, s:s, s:o}", "id",
                           (json_int_t)strtoll(PQgetvalue(r, i, 0), NULL, 10),
                           "source", PQgetvalue(r, i, 1), "database",
                           PQgetvalue(r, i, 2), "schema", PQgetvalue(r, i, 3),
                           "table", PQgetvalue(r, i, 4), "selected_at",
                           iso_time(PQgetvalue(r, i, 5))));
    return arr;
}

static int read_selections(struct pg_store *p, const char *id, json_t **out,
                           struct dsb_error *err)
{
    const char *v[] = {id};
    PGresult *r = pg_prep_run(p,
                              "SELECT id, source, db, schema_name, tbl, "
                              "selected_ms FROM dsb_selections WHERE "
                              "session_id = $1 ORDER BY id",
                              1, v, err, "reading selections");

    if (!r)
        return -1;
    *out = selection_rows(r, 0);
    PQclear(r);
    return 0;
}

static int ps_selections(void *h, const char *id, json_t **out,
                         struct dsb_error *err)
{
    struct pg_store *p;
    int rc;

    p = take(h);
    rc = ps_touch(p, id, err);
    if (rc == 0)
        rc = read_selections(p, id, out, err);
    pthread_mutex_unlock(&p->mu);
    return rc;
}

static int read_session(struct pg_store *p, const char *id, json_t **out,
                        struct dsb_error *err)
{
    const char *v[] = {id};
    json_t *sel = NULL;
    PGresult *r;

    if (read_selections(p, id, &sel, err) < 0)
        return -1;
    r = pg_run(p,
               "SELECT created_ms, touched_ms, owner FROM dsb_sessions "
               "WHERE id = $1",
               1, v, err, "reading a session");
    if (r && PQntuples(r) == 1)
        *out = json_pack("{s:s, s:o, s:o, s:s?, s:o}", "id", id, "created_at",
                         iso_time(PQgetvalue(r, 0, 0)), "updated_at",
                         iso_time(PQgetvalue(r, 0, 1)), "owner",
                         opt_text(r, 0, 2), "selections", sel);
    else
        json_decref(sel);
    PQclear(r);
    return r ? 0 : -1;
}

static int ps_get(void *h, const char *id, json_t **out, struct dsb_error *err)
{
    struct pg_store *p;
    int rc;

    p = take(h);
    rc = ps_touch(p, id, err);
    if (rc == 0)
        rc = read_session(p, id, out, err);
    pthread_mutex_unlock(&p->mu);
    if (rc == 0 && !*out)
        return not_found(id, err);
    return rc;
}

static int ps_remove(void *h, const char *id, struct dsb_error *err)
{
    const char *v[] = {id};
    long rc = ps_exec_locked(h, "DELETE FROM dsb_sessions WHERE id = $1", 1, v,
                             err, "writing");

    if (rc == 0)
        return not_found(id, err);
    return rc < 0 ? -1 : 0;
}

static int select_rows(struct pg_store *p, const char *id,
                       const struct dsb_selection *sel, size_t n,
                       const char *const *replace, size_t n_replace,
                       struct dsb_error *err)
{
    char now[24];

    snprintf(now, sizeof(now), "%lld", (long long)dsb_wall_ms());
    for (size_t i = 0; replace && i < n_replace; i++) {
        const char *v[] = {id, replace[i]};
        if (pg_exec(p,
                    "DELETE FROM dsb_selections WHERE session_id = $1 AND "
                    "source = $2",
                    2, v, err, "writing") < 0)
            return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const char *v[] = {
            id, sel[i].source, sel[i].database, sel[i].schema, sel[i].table,
            now};
        if (pg_exec(p,
                    "INSERT INTO dsb_selections (session_id, source, db, "
                    "schema_name, tbl, selected_ms) VALUES ($1, $2, $3, $4, "
                    "$5, $6) ON CONFLICT DO NOTHING",
                    6, v, err, "writing") < 0)
            return -1;
    }
    return 0;
}

/*
 * A select without replaced sources in one statement (one round trip, one
 * commit): the session's row locked against a concurrent delete, its idle
 * clock written when stale, the rows added, and the session's selections
 * answered — those of before the statement and those it added (a
 * statement does not see its own inserts but through RETURNING).  The
 * first row, all NULL, says the session exists.
 */
static int select_one_trip(struct pg_store *p, const char *id,
                           const struct dsb_selection *sel, size_t n,
                           json_t **all, struct dsb_error *err)
{
    int64_t now = dsb_wall_ms();
    char a[24], b[24], *rows;
    const char *v[] = {id, a, b, NULL};
    json_t *arr = json_array();
    PGresult *r;

    for (size_t i = 0; arr && i < n; i++)
        json_array_append_new(
            arr, json_pack("{s:s, s:s, s:s, s:s}", "source", sel[i].source,
                           "db", sel[i].database, "schema_name", sel[i].schema,
                           "tbl", sel[i].table));
    rows = arr ? json_dumps(arr, JSON_COMPACT) : NULL;
    json_decref(arr);
    if (!rows)
        return dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
    v[3] = rows;
    snprintf(a, sizeof(a), "%lld", (long long)now);
    snprintf(b, sizeof(b), "%lld",
             (long long)(now - atomic_load(&p->touch_every_ms)));
    r = pg_prep_run(
        p,
        "WITH s AS (SELECT id FROM dsb_sessions WHERE id = $1 FOR KEY SHARE), "
        "t AS (UPDATE dsb_sessions SET touched_ms = $2 WHERE id = $1 AND "
        "touched_ms < $3 AND EXISTS (SELECT 1 FROM s)), "
        "ins AS (INSERT INTO dsb_selections (session_id, source, db, "
        "schema_name, tbl, selected_ms) SELECT s.id, x.source, x.db, "
        "x.schema_name, x.tbl, $2 FROM s CROSS JOIN json_to_recordset($4) "
        "AS x(source text, db text, schema_name text, tbl text) "
        "ON CONFLICT DO NOTHING RETURNING id, source, db, schema_name, tbl, "
        "selected_ms) "
        "SELECT NULL::bigint, NULL::text, NULL::text, NULL::text, NULL::text, "
        "NULL::bigint FROM s UNION ALL SELECT * FROM ins UNION ALL SELECT id, "
        "source, db, schema_name, tbl, selected_ms FROM dsb_selections WHERE "
        "session_id = $1 ORDER BY 1 NULLS FIRST",
        4, v, err, "writing");
    free(rows);
    if (!r)
        return -1;
    if (PQntuples(r) == 0 || !PQgetisnull(r, 0, 0)) {
        PQclear(r);
        return not_found(id, err);
    }
    *all = selection_rows(r, 1);
    PQclear(r);
    return 0;
}

static int ps_select(void *h, const char *id, const struct dsb_selection *sel,
                     size_t n, const char *const *replace, size_t n_replace,
                     json_t **added, struct dsb_error *err)
{
    struct pg_store *p;
    json_t *all = NULL;
    int rc;

    p = take(h);
    if (!replace) {
        rc = select_one_trip(p, id, sel, n, &all, err);
        goto done;
    }
    rc = ps_touch(p, id, err);
    if (rc == 0 && pg_exec(p, "BEGIN", 0, NULL, err, "writing") < 0)
        rc = -1;
    else if (rc == 0) {
        rc = select_rows(p, id, sel, n, replace, n_replace, err);
        if (rc == 0 && pg_exec(p, "COMMIT", 0, NULL, err, "committing") < 0)
            rc = -1;
        if (rc < 0)
            pg_rollback(p);
    }
    if (rc == 0 && added)
        rc = read_selections(p, id, &all, err);
done:
    pthread_mutex_unlock(&p->mu);
    if (rc == 0 && added)
        *added = dsb_sessions_matching(all, sel, n);
    json_decref(all);
    return rc;
}

static int ps_unselect(void *h, const char *id, int64_t selection_id,
                       struct dsb_error *err)
{
    struct pg_store *p;
    char sid[24];
    const char *v[] = {id, sid};
    long rc;

    snprintf(sid, sizeof(sid), "%lld", (long long)selection_id);
    p = take(h);
    rc = ps_touch(p, id, err);
    if (rc == 0)
        rc = pg_exec(p,
                     "DELETE FROM dsb_selections WHERE session_id = $1 AND "
                     "id = $2",
                     2, v, err, "writing");
    pthread_mutex_unlock(&p->mu);
    if (rc == 0)
        return dsb_error_set(err, DSB_E_NOT_FOUND,
                             "session %s has no selection %lld", id,
                             (long long)selection_id);
    return rc < 0 ? -1 : 0;
}

static int ps_list(void *h, const char *owner, json_t **out,
                   struct dsb_error *err)
{
    struct pg_store *p;
    const char *v[] = {owner};
    json_t *items;
    PGresult *r;

    p = take(h);
    r = pg_run(p,
               "SELECT s.id, s.created_ms, s.touched_ms, s.owner, (SELECT "
               "count(*) FROM dsb_selections x WHERE x.session_id = s.id) "
               "FROM dsb_sessions s WHERE $1::text IS NULL OR s.owner = $1 "
               "ORDER BY s.touched_ms DESC, s.id",
               1, v, err, "listing sessions");
    pthread_mutex_unlock(&p->mu);
    if (!r)
        return -1;
    items = json_array();
    for (int i = 0; i < PQntuples(r); i++)
        json_array_append_new(
            items,
            json_pack("{s:s, s:o, s:o, s:s?, s:I}", "id", PQgetvalue(r, i, 0),
                      "created_at", iso_time(PQgetvalue(r, i, 1)), "updated_at",
                      iso_time(PQgetvalue(r, i, 2)), "owner", opt_text(r, i, 3),
                      "n_selections",
                      (json_int_t)strtoll(PQgetvalue(r, i, 4), NULL, 10)));
    PQclear(r);
    *out = json_pack("{s:o}", "items", items);
    return 0;
}

static void ps_set_idle_expiry(void *h, int64_t idle_ms)
{
    struct pg_pool *pl = h;
    int64_t every = idle_ms / 4;

    for (int i = 0; i < DSB_PG_SESSION_CONNECTIONS; i++)
        atomic_store(&pl->c[i]->touch_every_ms,
                     every < TOUCH_EVERY_MS ? every : TOUCH_EVERY_MS);
}

static long ps_expire(void *h, int64_t idle_ms)
{
    char cutoff[24];
    const char *v[] = {cutoff};
    struct dsb_error err = {0};

    snprintf(cutoff, sizeof(cutoff), "%lld",
             (long long)(dsb_wall_ms() - idle_ms));
    return ps_exec_locked(h, "DELETE FROM dsb_sessions WHERE touched_ms < $1",
                          1, v, &err, "expiring");
}

/* Reachable and taking writes (not a standby, not read-only). */
static int ps_writable(void *h)
{
    struct pg_store *p;
    struct dsb_error err = {0};
    PGresult *r;
    int ok;

    p = take(h);
    r = pg_run(p,
               "SELECT NOT pg_is_in_recovery() AND "
               "current_setting('transaction_read_only') = 'off'",
               0, NULL, &err, "checking");
    ok = r && PQntuples(r) == 1 && !strcmp(PQgetvalue(r, 0, 0), "t");
    PQclear(r);
    pthread_mutex_unlock(&p->mu);
    return ok ? 0 : -1;
}

const struct dsb_sessions_ops dsb_sessions_pg_ops = {
    .open = ps_open,
    .close = ps_close,
    .insert = ps_insert,
    .owner = ps_owner,
    .list = ps_list,
    .get = ps_get,
    .remove = ps_remove,
    .select = ps_select,
    .unselect = ps_unselect,
    .selections = ps_selections,
    .set_idle_expiry = ps_set_idle_expiry,
    .expire = ps_expire,
    .writable = ps_writable,
};

/* ------------------------------------------------------------ jobs */

static void *pj_open(const struct dsb_store_conf *c, struct dsb_error *err)
{
    static const char *const steps[] = {dsb_sql_jobs_pg, dsb_sql_jobs_lease_pg};
    struct pg_store *p = pg_open(c, "job", "jobs", steps, 2, err);

    if (p && !(p->replica = strdup(c->replica_id))) {
        dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
        pg_close(p);
        return NULL;
    }
    if (p)
        snprintf(p->lease_ms, sizeof(p->lease_ms), "%lld",
                 (long long)c->lease_ms);
    return p;
}

/* DSB_E_CONFLICT for a put on a job another replica owns. */
static int pj_not_owner(struct pg_store *p, const char *id,
                        struct dsb_error *err)
{
    struct dsb_error ignored = {0};
    const char *v[] = {id};
    PGresult *r = pg_run(p, "SELECT owner FROM jobs WHERE id = $1", 1, v,
                         &ignored, "reading a job");
    const char *owner = r && PQntuples(r) == 1 && !PQgetisnull(r, 0, 0)
                            ? PQgetvalue(r, 0, 0)
                            : "(unknown)";

    dsb_error_set(err, DSB_E_CONFLICT,
                  "job %s is tracked by replica %s, not by this one (%s): "
                  "its record was left as it is",
                  id, owner, p->replica);
    PQclear(r);
    return -1;
}

/* Writes record doc as this replica's: a new one, or one it or nobody
 * owns (any owner when force: a dequeue). */
static int pj_put_as(struct pg_store *p, const json_t *doc, int force,
                     struct dsb_error *err)
{
    char *text = json_dumps(doc, JSON_COMPACT), created[24], updated[24];
    const char *v[] = {dsb_job_str(doc, "id", NULL),
                       dsb_job_str(doc, "session_id", NULL),
                       dsb_job_str(doc, "state", NULL),
                       dsb_job_str(doc, "executor", NULL),
                       created,
                       updated,
                       text,
                       p->replica,
                       p->lease_ms,
                       force ? "t" : "f"};
    long rc;

    if (!text)
        return dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
    snprintf(created, sizeof(created), "%lld",
             (long long)json_integer_value(json_object_get(doc, "created_at")));
    snprintf(updated, sizeof(updated), "%lld",
             (long long)json_integer_value(json_object_get(doc, "updated_at")));
    rc = pg_exec(p,
                 "INSERT INTO jobs (id, session_id, state, executor, "
                 "created_ms, updated_ms, doc, owner, lease_ms) VALUES ($1, "
                 "$2, $3, $4, $5, $6, $7, $8, " DB_NOW_MS " + $9::bigint) "
                 "ON CONFLICT (id) DO UPDATE SET session_id = "
                 "excluded.session_id, state = excluded.state, executor = "
                 "excluded.executor, created_ms = excluded.created_ms, "
                 "updated_ms = excluded.updated_ms, doc = excluded.doc, "
                 "owner = excluded.owner, lease_ms = excluded.lease_ms, "
                 "cancel_req = jobs.cancel_req AND excluded.state IN "
                 "('pending', 'running') WHERE $10::boolean OR jobs.owner IS "
                 "NULL OR jobs.owner = excluded.owner",
                 10, v, err, "writing the job record");
    free(text);
    if (rc == 0)
        return pj_not_owner(p, v[0], err);
    return rc < 0 ? -1 : 0;
}

static int pj_put(void *h, const json_t *doc, struct dsb_error *err)
{
    return pj_put_as(h, doc, 0, err);
}

/* The record of row i of r (doc, owner, cancel_req), its owner shown;
 * NULL when it does not parse. */
static json_t *row_doc(PGresult *r, int i)
{
    json_t *doc = json_loads(PQgetvalue(r, i, 0), 0, NULL);

    dsb_jstore_show(doc, opt_text(r, i, 1), !strcmp(PQgetvalue(r, i, 2), "t"));
    return doc;
}

/* The records of r's rows as an array (rows that do not parse are left
 * out). */
static json_t *docs(PGresult *r)
{
    json_t *items = json_array();

    for (int i = 0; r && i < PQntuples(r); i++) {
        json_t *doc = row_doc(r, i);
        if (doc)
            json_array_append_new(items, doc);
    }
    return items;
}

static json_t *pj_get(void *h, const char *id)
{
    struct dsb_error err = {0};
    const char *v[] = {id};
    PGresult *r =
        pg_run(h, "SELECT doc, owner, cancel_req FROM jobs WHERE id = $1", 1, v,
               &err, "reading a job");
    json_t *doc = NULL;

    if (r && PQntuples(r) == 1)
        doc = row_doc(r, 0);
    PQclear(r);
    return doc;
}

static json_t *pj_list(void *h, const char *session_id)
{
    struct pg_store *p = h;
    struct dsb_error err = {0};
    const char *v[] = {session_id ? session_id : p->replica};
    PGresult *r =
        session_id
            ? pg_run(h,
                     "SELECT doc, owner, cancel_req FROM jobs WHERE "
                     "session_id = $1 ORDER BY created_ms DESC, id DESC",
                     1, v, &err, "listing jobs")
            : pg_run(
                  h,
                  "SELECT doc, owner, cancel_req FROM jobs WHERE state IN " ACTIVE
                  " AND owner = $1 ORDER BY created_ms",
                  1, v, &err, "listing jobs");
    json_t *items = docs(r);

    PQclear(r);
    return items;
}

static struct dsb_jactive *pj_active(void *h, size_t *n)
{
    struct dsb_error err = {0};
    PGresult *r = pg_run(
        h,
        "SELECT j.id, j.executor, coalesce(j.doc::json ->> 'principal', ''), "
        "coalesce(q.seq, 0) FROM jobs j LEFT JOIN job_queue q ON q.id = j.id "
        "WHERE j.state IN ('pending', 'running', 'cancelling') "
        "ORDER BY q.seq IS NULL, q.seq, j.created_ms",
        0, NULL, &err, "listing active jobs");
    struct dsb_jactive *v = NULL;
    int rows = r ? PQntuples(r) : 0, bad = !r;

    *n = 0;
    if (rows > 0 && !(v = calloc((size_t)rows, sizeof(*v))))
        bad = 1;
    for (int i = 0; !bad && i < rows; i++) {
        v[i].id = strdup(PQgetvalue(r, i, 0));
        v[i].executor = strdup(PQgetvalue(r, i, 1));
        v[i].principal = strdup(PQgetvalue(r, i, 2));
        v[i].queue_seq = strtoll(PQgetvalue(r, i, 3), NULL, 10);
        *n = (size_t)i + 1;
        bad = !v[i].id || !v[i].executor || !v[i].principal;
    }
    PQclear(r);
    if (!bad)
        return v;
    dsb_jactive_free(v, *n);
    *n = (size_t)-1;
    return NULL;
}

/* BEGIN unless a transaction is open (an admission's: the statements
 * join it, and it decides); *own says whether this one began it. */
static int tx_begin(struct pg_store *p, int *own, struct dsb_error *err,
                    const char *what)
{
    *own = !p->in_tx;
    return *own ? (int)pg_exec(p, "BEGIN", 0, NULL, err, what) : 0;
}

/* Ends what tx_begin began: COMMIT when ok, else ROLLBACK (a joined
 * transaction is left to its owner, which sees the failure); ok, or -1
 * when the commit failed. */
static int tx_end(struct pg_store *p, int own, int ok, struct dsb_error *err,
                  const char *what)
{
    if (!own)
        return ok ? 0 : -1;
    if (ok && pg_exec(p, "COMMIT", 0, NULL, err, what) >= 0)
        return 0;
    pg_rollback(p);
    return -1;
}

static int pj_enqueue(void *h, const json_t *doc, const char *code,
                      const char *entry_point, struct dsb_error *err)
{
    const char *v[] = {dsb_job_str(doc, "id", NULL), code, entry_point};
    int own;

    if (tx_begin(h, &own, err, "writing the job queue") < 0)
        return -1;
    return tx_end(h, own,
                  pj_put_as(h, doc, 0, err) == 0 &&
                      pg_exec(h,
                              "INSERT INTO job_queue (id, code, entry_point) "
                              "VALUES ($1, $2, $3)",
                              3, v, err, "queueing the job") >= 0,
                  err, "writing the job queue");
}

static char *opt_dup(PGresult *r, int col, int *bad)
{
    char *s;

    if (PQgetisnull(r, 0, col))
        return NULL;
    if (!(s = strdup(PQgetvalue(r, 0, col))))
        *bad = 1;
    return s;
}

static int pj_dequeue(void *h, const json_t *doc, char **code,
                      char **entry_point, struct dsb_error *err)
{
    const char *id = dsb_job_str(doc, "id", NULL);
    const char *v[] = {id};
    char *c = NULL, *e = NULL;
    PGresult *r;
    int bad = 0;

    int own;

    if (code)
        *code = NULL;
    if (entry_point)
        *entry_point = NULL;
    if (tx_begin(h, &own, err, "writing the job queue") < 0)
        return -1;
    r = pg_run(h,
               "DELETE FROM job_queue WHERE id = $1 RETURNING code, "
               "entry_point",
               1, v, err, "writing the job queue");
    if (r && PQntuples(r) == 0) {
        dsb_error_set(err, DSB_E_CONFLICT, "job %s is not queued", id);
        bad = 1;
    } else if (r) {
        c = opt_dup(r, 0, &bad);
        e = opt_dup(r, 1, &bad);
        if (bad)
            dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
    }
    PQclear(r);
    if (tx_end(h, own, r && !bad && pj_put_as(h, doc, 1, err) == 0, err,
               "writing the job queue") < 0) {
        free(c);
        free(e);
        return -1;
    }
    if (code)
        *code = c;
    else
        free(c);
    if (entry_point)
        *entry_point = e;
    else
        free(e);
    return 0;
}

static int pj_is_queued(void *h, const char *id)
{
    struct dsb_error err = {0};
    const char *v[] = {id};

    return pg_exec(h, "SELECT 1 FROM job_queue WHERE id = $1", 1, v, &err,
                   "reading the job queue") > 0;
}

static int pj_any_queued(void *h)
{
    struct dsb_error err = {0};

    return pg_exec(h, "SELECT 1 FROM job_queue LIMIT 1", 0, NULL, &err,
                   "reading the job queue") > 0;
}

/* ------------------------------------------------------------ leases */

/* One transaction: take over the expired and ownerless jobs (rows other
 * replicas are claiming at the same moment are skipped, not waited for),
 * renew this replica's leases, read its cancel requests. */
static int pj_claim_tx(struct pg_store *p, int at_start, json_t *taken,
                       json_t *cancel, json_t *owned, struct dsb_error *err)
{
    const char *v[] = {p->replica, p->lease_ms, at_start ? "t" : "f"};
    PGresult *r;

    if (pg_exec(p, "BEGIN", 0, NULL, err, "claiming jobs") < 0)
        return -1;
    r = pg_run(p,
               "WITH c AS (SELECT j.id, j.owner FROM jobs j WHERE j.state "
               "IN " ACTIVE " AND NOT EXISTS (SELECT 1 FROM job_queue q "
               "WHERE q.id = j.id) AND (j.owner IS NULL OR (j.owner <> $1 "
               "AND j.lease_ms < " DB_NOW_MS ") OR ($3::boolean AND j.owner "
               "= $1)) ORDER BY j.created_ms FOR UPDATE OF j SKIP LOCKED) "
               "UPDATE jobs SET owner = $1, lease_ms = " DB_NOW_MS
               " + $2::bigint FROM c WHERE jobs.id = c.id RETURNING jobs.id, "
               "c.owner, jobs.doc, jobs.cancel_req",
               3, v, err, "claiming jobs");
    for (int i = 0; r && i < PQntuples(r); i++) {
        json_t *doc = json_loads(PQgetvalue(r, i, 2), 0, NULL);
        if (!doc)
            continue;
        dsb_jstore_show(doc, p->replica, !strcmp(PQgetvalue(r, i, 3), "t"));
        json_array_append_new(taken, json_pack("{s:s?, s:o}", "from",
                                               opt_text(r, i, 1), "doc", doc));
    }
    PQclear(r);
    if (!r)
        goto fail;
    r = pg_run(p,
               "UPDATE jobs SET lease_ms = " DB_NOW_MS " + $2::bigint WHERE "
               "owner = $1 AND state IN " ACTIVE " RETURNING id, cancel_req "
               "AND state IN ('pending', 'running')",
               2, v, err, "renewing leases");
    for (int i = 0; r && i < PQntuples(r); i++) {
        json_array_append_new(owned, json_string(PQgetvalue(r, i, 0)));
        if (!strcmp(PQgetvalue(r, i, 1), "t"))
            json_array_append_new(cancel, json_string(PQgetvalue(r, i, 0)));
    }
    PQclear(r);
    if (!r || pg_exec(p, "COMMIT", 0, NULL, err, "claiming jobs") < 0)
        goto fail;
    return 0;
fail:
    pg_rollback(p);
    return -1;
}

static int pj_claim(void *h, int at_start, json_t **out, struct dsb_error *err)
{
    json_t *taken = json_array(), *cancel = json_array(), *owned = json_array();

    *out = NULL;
    if (!taken || !cancel || !owned)
        dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
    else if (pj_claim_tx(h, at_start, taken, cancel, owned, err) == 0)
        *out = json_pack("{s:o, s:o, s:o}", "taken", taken, "cancel", cancel,
                         "owned", owned);
    if (!*out) {
        json_decref(taken);
        json_decref(cancel);
        json_decref(owned);
        return -1;
    }
    return 0;
}

static void pj_release(void *h)
{
    struct pg_store *p = h;
    struct dsb_error err = {0};
    const char *v[] = {p->replica};

    pg_exec(p, "UPDATE jobs SET lease_ms = 0 WHERE owner = $1", 1, v, &err,
            "releasing leases");
}

/* The admission lock: a transaction-level advisory lock, class "dsbq"
 * (the replica id's is "dsbr", core/replica.c), released at the end of
 * the transaction, by the server when the connection is lost too. */
static int pj_admission_begin(void *h, struct dsb_error *err)
{
    struct pg_store *p = h;

    if (pg_exec(p, "BEGIN", 0, NULL, err, "admitting a job") < 0)
        return -1;
    if (pg_exec(p, "SELECT pg_advisory_xact_lock(1685283441, 1)", 0, NULL, err,
                "admitting a job") >= 0)
        return 0;
    pg_rollback(p);
    return -1;
}

static int pj_admission_end(void *h, int commit, struct dsb_error *err)
{
    return tx_end(h, 1, commit, err, "admitting a job");
}

static int pj_request_cancel(void *h, const char *id, struct dsb_error *err)
{
    const char *v[] = {id};
    PGresult *r = pg_run(h,
                         "WITH u AS (UPDATE jobs SET cancel_req = true WHERE "
                         "id = $1 AND state IN ('pending', 'running') "
                         "RETURNING id) SELECT (SELECT count(*) FROM u), "
                         "(SELECT state FROM jobs WHERE id = $1)",
                         1, v, err, "recording a cancel request");
    int rc = -1;

    if (!r)
        return -1;
    if (strcmp(PQgetvalue(r, 0, 0), "0") != 0)
        rc = 0;
    else if (PQgetisnull(r, 0, 1))
        dsb_error_set(err, DSB_E_NOT_FOUND, "no job \"%s\"", id);
    else if (dsb_job_is_final(PQgetvalue(r, 0, 1)))
        dsb_error_set(err, DSB_E_CONFLICT, "job %s is already %s", id,
                      PQgetvalue(r, 0, 1));
    else
        rc = 0; /* cancelling already */
    PQclear(r);
    return rc;
}

const struct dsb_jstore_ops dsb_jstore_pg_ops = {
    .open = pj_open,
    .close = pg_close,
    .put = pj_put,
    .get = pj_get,
    .list = pj_list,
    .active = pj_active,
    .enqueue = pj_enqueue,
    .dequeue = pj_dequeue,
    .is_queued = pj_is_queued,
    .any_queued = pj_any_queued,
    .claim = pj_claim,
    .release = pj_release,
    .request_cancel = pj_request_cancel,
    .admission_begin = pj_admission_begin,
    .admission_end = pj_admission_end,
};

/* ---------------------------------------------------------- shared */

/* The shared store is one connection (a struct pg_store, not a pool). */
static long one_exec(struct pg_store *p, const char *sql, int n,
                     const char *const *v, struct dsb_error *err,
                     const char *what)
{
    long rc;

    pthread_mutex_lock(&p->mu);
    rc = pg_exec(p, sql, n, v, err, what);
    pthread_mutex_unlock(&p->mu);
    return rc;
}

void *dsb_shared_open(const struct dsb_store_conf *c, struct dsb_error *err)
{
    static const char *const steps[] = {dsb_sql_sources_pg};

    return pg_open(c, "sources", "sources", steps, 1, err);
}

void dsb_shared_close(void *h)
{
    pg_close(h);
}

int dsb_shared_sources(void *h, json_t **out, struct dsb_error *err)
{
    struct pg_store *p = h;
    PGresult *r;

    pthread_mutex_lock(&p->mu);
    r = pg_run(p,
               "SELECT name, text, etag FROM dsb_managed_sources ORDER BY "
               "name",
               0, NULL, err, "reading the managed sources");
    pthread_mutex_unlock(&p->mu);
    if (!r)
        return -1;
    *out = json_array();
    for (int i = 0; i < PQntuples(r); i++)
        json_array_append_new(*out, json_pack("{s:s, s:s, s:s}", "name",
                                              PQgetvalue(r, i, 0), "text",
                                              PQgetvalue(r, i, 1), "etag",
                                              PQgetvalue(r, i, 2)));
    PQclear(r);
    return 0;
}

int dsb_shared_begin(void *h, const char *name, char **text, char etag[68],
                     struct dsb_error *err)
{
    struct pg_store *p = h;
    const char *v[] = {name};
    PGresult *r = NULL;

    *text = NULL;
    etag[0] = '\0';
    pthread_mutex_lock(&p->mu);
    if (pg_exec(p, "BEGIN", 0, NULL, err, "editing a managed source") < 0)
        goto fail;
    r = pg_run(p,
               "SELECT text, etag FROM dsb_managed_sources WHERE name = $1 "
               "FOR UPDATE",
               1, v, err, "editing a managed source");
    if (!r)
        goto fail;
    if (PQntuples(r) == 1) {
        *text = strdup(PQgetvalue(r, 0, 0));
        snprintf(etag, 68, "%s", PQgetvalue(r, 0, 1));
        if (!*text) {
            dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
            goto fail;
        }
    }
    PQclear(r);
    return 0;
fail:
    PQclear(r);
    pg_rollback(p);
    pthread_mutex_unlock(&p->mu);
    return -1;
}

int dsb_shared_put(void *h, const char *name, const char *text,
                   const char *etag, int create, struct dsb_error *err)
{
    char now[24];
    const char *v[] = {name, text, etag, now};

    long n;

    snprintf(now, sizeof(now), "%lld", (long long)dsb_wall_ms());
    n = pg_exec(h,
                create ? "INSERT INTO dsb_managed_sources (name, text, etag, "
                         "updated_ms) VALUES ($1, $2, $3, $4) ON CONFLICT "
                         "(name) DO NOTHING"
                       : "UPDATE dsb_managed_sources SET text = $2, etag = "
                         "$3, updated_ms = $4 WHERE name = $1",
                4, v, err, "writing a managed source");
    if (n == 0)
        return dsb_error_set(err, DSB_E_CONFLICT,
                             "source \"%s\" was %s on another replica "
                             "meanwhile",
                             name, create ? "created" : "removed");
    return n < 0 ? -1 : 0;
}

int dsb_shared_remove(void *h, const char *name, struct dsb_error *err)
{
    const char *v[] = {name};

    return pg_exec(h, "DELETE FROM dsb_managed_sources WHERE name = $1", 1, v,
                   err, "removing a managed source") < 0
               ? -1
               : 0;
}

int dsb_shared_notify_in_edit(void *h, const char *payload,
                              struct dsb_error *err)
{
    const char *v[] = {DSB_EVENTS_CHANNEL, payload};

    return pg_exec(h, "SELECT pg_notify($1, $2)", 2, v, err,
                   "notifying the other replicas") < 0
               ? -1
               : 0;
}

int dsb_shared_end(void *h, int commit, struct dsb_error *err)
{
    struct pg_store *p = h;
    int rc = 0;

    if (!commit)
        pg_rollback(p);
    else if (pg_exec(p, "COMMIT", 0, NULL, err, "committing") < 0) {
        pg_rollback(p);
        rc = -1;
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

int dsb_shared_notify(void *h, const char *payload, struct dsb_error *err)
{
    struct pg_store *p = h;
    int rc;

    pthread_mutex_lock(&p->mu);
    rc = dsb_shared_notify_in_edit(p, payload, err);
    pthread_mutex_unlock(&p->mu);
    return rc;
}

int dsb_shared_secret_put(void *h, const char *id, const char *value,
                          struct dsb_error *err)
{
    char now[24];
    const char *v[] = {id, value, now};

    snprintf(now, sizeof(now), "%lld", (long long)dsb_wall_ms());
    return one_exec(h,
                    "INSERT INTO dsb_secret_values (id, value, "
                    "created_ms) VALUES ($1, $2, $3)",
                    3, v, err, "storing a secret") < 0
               ? -1
               : 0;
}

int dsb_shared_secret_get(void *h, const char *id, char **value,
                          struct dsb_error *err)
{
    struct pg_store *p = h;
    const char *v[] = {id};
    PGresult *r;
    int rc = -1;

    pthread_mutex_lock(&p->mu);
    r = pg_run(p, "SELECT value FROM dsb_secret_values WHERE id = $1", 1, v,
               err, "reading a secret");
    pthread_mutex_unlock(&p->mu);
    if (r && PQntuples(r) == 0)
        dsb_error_set(err, DSB_E_NOT_FOUND,
                      "secret store:%s is not in the state store", id);
    else if (r && !(*value = strdup(PQgetvalue(r, 0, 0))))
        dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
    else if (r)
        rc = 0;
    if (r) {
        /* the value was in the result's memory: wipe it */
        char *cell = PQntuples(r) ? PQgetvalue(r, 0, 0) : NULL;
        if (cell)
            memset(cell, 0, strlen(cell));
    }
    PQclear(r);
    return rc;
}

void dsb_shared_secret_drop(void *h, const char *id)
{
    struct dsb_error ignored = {0};
    const char *v[] = {id};

    one_exec(h, "DELETE FROM dsb_secret_values WHERE id = $1", 1, v, &ignored,
             "removing a secret");
}

int dsb_shared_writable(void *h)
{
    struct pg_store *p = h;
    struct dsb_error err = {0};
    PGresult *r;
    int ok;

    pthread_mutex_lock(&p->mu);
    r = pg_run(p,
               "SELECT NOT pg_is_in_recovery() AND "
               "current_setting('transaction_read_only') = 'off'",
               0, NULL, &err, "checking");
    ok = r && PQntuples(r) == 1 && !strcmp(PQgetvalue(r, 0, 0), "t");
    PQclear(r);
    pthread_mutex_unlock(&p->mu);
    return ok ? 0 : -1;
}

int dsb_shared_fresh(void *h)
{
    return ((struct pg_store *)h)->fresh;
}

int dsb_shared_check(void *h, struct dsb_error *err)
{
    struct pg_store *p = h;
    PGresult *r;

    pthread_mutex_lock(&p->mu);
    r = pg_run(p, "SELECT 1", 0, NULL, err, "checking");
    pthread_mutex_unlock(&p->mu);
    PQclear(r);
    return r ? 0 : -1;
}
