/* core/statedb: the stores' versioned migrations (core/sessions.sql,
 * core/jobs/jobs.sql, embedded at build time, are step 1 of each) on one
 * database: fresh, again, from before versions, newer than known, a second
 * step, a failing step. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "statedb.h"
#include "support.h"

static sqlite3 *db;
static char path[4200];

static void setup(void)
{
    char *dir = t_tmpdir(), why[256] = "";

    snprintf(path, sizeof(path), "%s/dsbroker.db", dir);
    free(dir);

    cr_assert_eq(
        dsb_statedb_open(path, SQLITE_OPEN_FULLMUTEX, &db, why, sizeof(why)),
        SQLITE_OK, "%s", why);
}

static void teardown(void)
{
    sqlite3_close(db);
}

TestSuite(statedb, .init = setup, .fini = teardown);

/* The first text column of a one-row query. */
static char *one(const char *sql)
{
    sqlite3_stmt *st = NULL;
    char *v = NULL;

    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK,
                 "%s: %s", sql, sqlite3_errmsg(db));
    if (sqlite3_step(st) == SQLITE_ROW)
        v = strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return v;
}

/* Migrates store `name` whose steps are the n given; its previous
 * version. */
static int migrate(const char *name, const char *const *steps, size_t n,
                   int (*adopt)(sqlite3 *))
{
    struct dsb_statedb_store st = {name, steps, n, adopt};
    char why[512] = "";
    int from = -5;

    cr_assert_eq(dsb_statedb_migrate(db, &st, &from, why, sizeof(why)),
                 SQLITE_OK, "%s", why);
    return from;
}

static void apply(const char *ddl)
{
    const char *steps[] = {ddl};

    migrate(ddl == dsb_sql_jobs ? "jobs" : "sessions", steps, 1, NULL);
}

static char *version_of(const char *store)
{
    char sql[128];

    snprintf(sql, sizeof(sql),
             "SELECT version FROM dsb_schema WHERE store = '%s'", store);
    return one(sql);
}

Test(statedb, both_schemas_apply_twice_in_wal_with_foreign_keys)
{
    char *names, *mode, *fk;

    for (int i = 0; i < 2; i++) {
        apply(dsb_sql_sessions);
        apply(dsb_sql_jobs);
    }
    names = one("SELECT group_concat(name, ',') FROM (SELECT name FROM "
                "sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY "
                "name)");
    cr_assert_str_eq(names, "dsb_schema,dsb_selections,dsb_sessions,"
                            "dsb_sessions_touched,job_queue,jobs,jobs_session,"
                            "jobs_state");
    mode = one("PRAGMA journal_mode");
    fk = one("PRAGMA foreign_keys");
    cr_assert_str_eq(mode, "wal");
    cr_assert_str_eq(fk, "1");
    cr_assert(sqlite3_get_autocommit(db), "a transaction was left open");
    free(names);
    free(mode);
    free(fk);
}

/* A failing step leaves nothing of the migration, the version included,
 * and says why. */
Test(statedb, a_failing_step_is_rolled_back)
{
    const char *steps[] = {"CREATE TABLE a (x);", "CREATE TABLE b (y);"
                                                  "CREATE TABLE b (z);"};
    struct dsb_statedb_store st = {"t", steps, 2, NULL};
    char why[512] = "", *n, *v;

    migrate("t", steps, 1, NULL);
    cr_assert_neq(dsb_statedb_migrate(db, &st, NULL, why, sizeof(why)),
                  SQLITE_OK);
    cr_assert(strstr(why, "table b already exists"), "%s", why);
    cr_assert(sqlite3_get_autocommit(db), "a transaction was left open");
    n = one("SELECT count(*) FROM sqlite_master WHERE name = 'b'");
    cr_assert_str_eq(n, "0");
    v = version_of("t");
    cr_assert_str_eq(v, "1", "the version moved past a failed step");
    free(n);
    free(v);
    apply(dsb_sql_jobs);
}

/* Each step runs once, in order; the store's version is recorded and a
 * store already there is left alone. */
Test(statedb, steps_run_once_in_order)
{
    const char *steps[] = {"CREATE TABLE t1 (x);",
                           "ALTER TABLE t1 ADD COLUMN y;"
                           "INSERT INTO t1 VALUES (1, 2);"};
    char *v, *rows;

    cr_assert_eq(migrate("t", steps, 1, NULL), 0, "a fresh store is at 0");
    cr_assert_eq(migrate("t", steps, 2, NULL), 1);
    cr_assert_eq(migrate("t", steps, 2, NULL), 2, "nothing more to do");
    v = version_of("t");
    rows = one("SELECT count(*) || ':' || sum(y) FROM t1");
    cr_assert_str_eq(v, "2");
    cr_assert_str_eq(rows, "1:2", "step 2 ran more than once");
    free(v);
    free(rows);
}

/* A store written by a newer broker is refused, untouched, saying what to
 * do. */
Test(statedb, a_newer_store_is_refused)
{
    const char *steps[] = {dsb_sql_jobs};
    struct dsb_statedb_store st = {"jobs", steps, 1, NULL};
    char why[512] = "", *v;

    apply(dsb_sql_jobs);
    cr_assert_eq(sqlite3_exec(db,
                              "UPDATE dsb_schema SET version = 7 WHERE "
                              "store = 'jobs'",
                              NULL, NULL, NULL),
                 SQLITE_OK);
    cr_assert_eq(dsb_statedb_migrate(db, &st, NULL, why, sizeof(why)),
                 DSB_STATEDB_TOO_NEW);
    cr_assert(strstr(why, "the jobs store is at schema version 7, newer "
                          "than this broker knows (1)") &&
                  strstr(why, "restore a backup"),
              "%s", why);
    cr_assert(sqlite3_get_autocommit(db), "a transaction was left open");
    v = version_of("jobs");
    cr_assert_str_eq(v, "7");
    free(v);
}

static int adopted;

static int add_owner(sqlite3 *d)
{
    adopted++;
    return sqlite3_exec(d, "ALTER TABLE s ADD COLUMN owner", NULL, NULL, NULL);
}

/* A database of a broker from before versions (tables, no dsb_schema) is
 * taken as version 0: step 1 (IF NOT EXISTS) keeps its rows, adopt brings
 * its tables up to step 1, once. */
Test(statedb, a_store_from_before_versions_is_adopted)
{
    const char *steps[] = {"CREATE TABLE IF NOT EXISTS s (id, owner);"};
    char *row, *v;

    cr_assert_eq(sqlite3_exec(db,
                              "CREATE TABLE s (id); INSERT INTO s "
                              "VALUES ('kept')",
                              NULL, NULL, NULL),
                 SQLITE_OK);
    cr_assert_eq(migrate("s", steps, 1, add_owner), 0);
    cr_assert_eq(migrate("s", steps, 1, add_owner), 1);
    cr_assert_eq(adopted, 1);
    row = one("SELECT id || ',' || ifnull(owner, 'none') FROM s");
    v = version_of("s");
    cr_assert_str_eq(row, "kept,none");
    cr_assert_str_eq(v, "1");
    free(row);
    free(v);
}

/* A shared directory such as /tmp is never made private: refused, as is a
 * file where a directory should be, each saying what to do. */
Test(statedb, shared_directories_and_files_are_refused)
{
    char *dir = t_tmpdir(), file[4300];
    struct dsb_error err;
    struct stat st;

    cr_assert_eq(chmod(dir, 01777), 0);
    cr_assert_eq(dsb_statedb_private_dir(dir, &err), -1);
    cr_assert(strstr(err.message, dir) && strstr(err.message, "sticky"), "%s",
              err.message);
    cr_assert(strstr(err.hint, "directory of the broker's own"), "%s",
              err.hint);
    cr_assert_eq(stat(dir, &st), 0);
    cr_assert_eq(st.st_mode & 07777, 01777, "the shared directory changed");
    snprintf(file, sizeof(file), "%s/f", dir);
    t_write(dir, "f", "");
    cr_assert_eq(dsb_statedb_private_dir(file, &err), -1);
    cr_assert(strstr(err.message, "not a directory"), "%s", err.message);
    free(dir);
}
