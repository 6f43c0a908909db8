/*
 * `dsbroker copy-state`: the SQLite store of a state_dir copied into an
 * empty PostgreSQL store (state.store: postgresql), for a broker that
 * moves from the embedded default to replicas.  Both stores are first
 * brought to this broker's schema version by their own opens (as a start
 * would), then every row of the tables of step 1 is copied in one
 * PostgreSQL transaction read from one SQLite snapshot: sessions with
 * their owners and idle clocks, selections with their ids, job records
 * and the queue in its order.  Columns of later steps keep their defaults
 * (a job's tracking lease is none: a replica takes it over).  The
 * sequences continue after the copied ids.
 */
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include "jobs/internal.h"
#include "util.h"

/* One table's copy: the SQLite query and the PostgreSQL insert of its
 * rows, column for column (every value as text, NULL kept). */
struct table_copy {
    const char *name;
    const char *select;
    const char *insert;
    int n_cols;
};

static const struct table_copy tables[] = {
    {"sessions", "SELECT id, created_ms, touched_ms, owner FROM dsb_sessions",
     "INSERT INTO dsb_sessions (id, created_ms, touched_ms, owner) VALUES "
     "($1, $2, $3, $4)",
     4},
    {"selections",
     "SELECT id, session_id, source, db, schema_name, tbl, selected_ms FROM "
     "dsb_selections ORDER BY id",
     "INSERT INTO dsb_selections (id, session_id, source, db, schema_name, "
     "tbl, selected_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)",
     7},
    {"jobs",
     "SELECT id, session_id, state, executor, created_ms, updated_ms, doc "
     "FROM jobs",
     "INSERT INTO jobs (id, session_id, state, executor, created_ms, "
     "updated_ms, doc) VALUES ($1, $2, $3, $4, $5, $6, $7)",
     7},
    {"queued jobs",
     "SELECT seq, id, code, entry_point FROM job_queue ORDER BY seq",
     "INSERT INTO job_queue (seq, id, code, entry_point) VALUES ($1, $2, $3, "
     "$4)",
     4},
};
#define N_TABLES (sizeof(tables) / sizeof(tables[0]))

static int pg_error(PGconn *c, PGresult *r, const char *what,
                    struct dsb_error *err)
{
    const char *msg = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;

    dsb_error_set(err, DSB_E_UPSTREAM, "PostgreSQL store: %s failed", what);
    dsb_error_detail(err, "%s", msg ? msg : PQerrorMessage(c));
    PQclear(r);
    return -1;
}

static int pg_ok(PGconn *c, PGresult *r, const char *what,
                 struct dsb_error *err)
{
    if (PQresultStatus(r) == PGRES_COMMAND_OK ||
        PQresultStatus(r) == PGRES_TUPLES_OK) {
        PQclear(r);
        return 0;
    }
    return pg_error(c, r, what, err);
}

/* Rows already in the PostgreSQL store's sessions and jobs tables. */
static int pg_rows(PGconn *c, long *sessions, long *jobs, struct dsb_error *err)
{
    PGresult *r = PQexec(c, "SELECT (SELECT count(*) FROM dsb_sessions), "
                            "(SELECT count(*) FROM jobs)");

    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return pg_error(c, r, "counting its rows", err);
    *sessions = atol(PQgetvalue(r, 0, 0));
    *jobs = atol(PQgetvalue(r, 0, 1));
    PQclear(r);
    return 0;
}

/* Copies the rows of t; *n gets how many. */
static int copy_table(sqlite3 *db, PGconn *c, const struct table_copy *t,
                      long *n, struct dsb_error *err)
{
    sqlite3_stmt *st = NULL;
    const char *v[8];
    int rc;

    *n = 0;
    if (sqlite3_prepare_v2(db, t->select, -1, &st, NULL) != SQLITE_OK) {
        dsb_error_set(err, DSB_E_CONFIG, "SQLite store: reading %s failed",
                      t->name);
        dsb_error_detail(err, "%s", sqlite3_errmsg(db));
        return -1;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        for (int i = 0; i < t->n_cols; i++)
            v[i] = (const char *)sqlite3_column_text(st, i);
        if (pg_ok(c,
                  PQexecParams(c, t->insert, t->n_cols, NULL, v, NULL, NULL, 0),
                  t->name, err) < 0)
            break;
        (*n)++;
    }
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        dsb_error_set(err, DSB_E_CONFIG, "SQLite store: reading %s failed",
                      t->name);
        dsb_error_detail(err, "%s", sqlite3_errmsg(db));
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* Brings both stores to this broker's version through their own opens. */
static int migrate_both(const char *state_dir, const struct dsb_store_conf *pg,
                        struct dsb_error *err)
{
    struct dsb_store_conf sq = {.state_dir = state_dir};
    struct dsb_jobs *j = calloc(1, sizeof(*j));
    const struct dsb_store_backend *b[] = {&dsb_store_sqlite, &dsb_store_pg};
    const struct dsb_store_conf *c[] = {&sq, pg};
    char *path = dsb_state_db_path(state_dir);
    int rc = 0;

    sq.db_path = path;
    for (int i = 0; rc == 0 && i < 2; i++) {
        struct dsb_sessions *s = dsb_sessions_open_on(b[i], c[i], err);
        rc = s && j && dsb_jstore_open_on(j, b[i], c[i], err) == 0 ? 0 : -1;
        dsb_sessions_close(s);
        if (j)
            dsb_jstore_close(j);
    }
    free(j);
    free(path);
    return rc;
}

int dsb_state_copy(const char *state_dir, const struct dsb_store_conf *pg,
                   FILE *out, struct dsb_error *err)
{
    const char *keys[] = {"dbname", "password", "application_name", NULL};
    const char *vals[] = {pg->url, pg->password, "dsbroker copy-state", NULL};
    char *path = dsb_state_db_path(state_dir);
    long n[N_TABLES] = {0}, have_s = 0, have_j = 0;
    sqlite3 *db = NULL;
    PGconn *c = NULL;
    int rc = -1;

    if (!path)
        return dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
    if (access(path, R_OK) != 0) {
        dsb_error_set(err, DSB_E_NOT_FOUND, "no SQLite store at %s", path);
        dsb_error_hint(err, "give the state_dir the broker ran with on SQLite "
                            "(it holds dsbroker.db)");
        goto done;
    }
    if (migrate_both(state_dir, pg, err) < 0)
        goto done;
    if (!pg->password)
        keys[1] = vals[1] = NULL;
    c = PQconnectdbParams(keys, vals, 1);
    if (PQstatus(c) != CONNECTION_OK) {
        pg_error(c, NULL, "connecting", err);
        goto done;
    }
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
        dsb_error_set(err, DSB_E_CONFIG, "cannot read the SQLite store %s",
                      path);
        dsb_error_detail(err, "%s", db ? sqlite3_errmsg(db) : "out of memory");
        goto done;
    }
    if (pg_ok(c, PQexec(c, "BEGIN"), "beginning", err) < 0 ||
        pg_ok(c, PQexec(c, "LOCK TABLE dsb_sessions, jobs IN EXCLUSIVE MODE"),
              "locking", err) < 0 ||
        pg_rows(c, &have_s, &have_j, err) < 0)
        goto done;
    if (have_s || have_j) {
        dsb_error_set(err, DSB_E_CONFLICT,
                      "the PostgreSQL store already holds %ld sessions and "
                      "%ld jobs: copy-state fills an empty store only",
                      have_s, have_j);
        dsb_error_hint(err, "point state.url at a new database, or drop the "
                            "store's tables there first");
        goto done;
    }
    for (size_t i = 0; i < N_TABLES; i++)
        if (copy_table(db, c, &tables[i], &n[i], err) < 0)
            goto done;
    if (pg_ok(c,
              PQexec(c,
                     "SELECT setval(pg_get_serial_sequence('dsb_selections', "
                     "'id'), COALESCE(max(id), 0) + 1, false) FROM "
                     "dsb_selections"),
              "continuing the selection ids", err) < 0 ||
        pg_ok(c,
              PQexec(c, "SELECT setval(pg_get_serial_sequence('job_queue', "
                        "'seq'), COALESCE(max(seq), 0) + 1, false) FROM "
                        "job_queue"),
              "continuing the queue", err) < 0 ||
        pg_ok(c, PQexec(c, "COMMIT"), "committing", err) < 0)
        goto done;
    fprintf(out,
            "copied %ld sessions, %ld selections, %ld jobs (%ld queued) from "
            "%s into the PostgreSQL store\n",
            n[0], n[1], n[2], n[3], path);
    rc = 0;
done:
    if (db)
        sqlite3_close(db);
    PQfinish(c); /* an open transaction is rolled back */
    free(path);
    return rc;
}
