/* core/statedb: the stores' schemas (core/sessions.sql, core/jobs/jobs.sql,
 * embedded at build time) applied as SQL, twice, on one fresh database. */
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

static void apply(const char *ddl)
{
    char why[256] = "";

    cr_assert_eq(dsb_statedb_schema(db, ddl, why, sizeof(why)), SQLITE_OK, "%s",
                 why);
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
    cr_assert_str_eq(names, "dsb_selections,dsb_sessions,"
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

/* A failing statement leaves nothing of its schema and says why. */
Test(statedb, a_failing_schema_is_rolled_back)
{
    char why[256] = "", *n;

    cr_assert_neq(dsb_statedb_schema(db,
                                     "CREATE TABLE a (x);"
                                     "CREATE TABLE a (y);",
                                     why, sizeof(why)),
                  SQLITE_OK);
    cr_assert(strstr(why, "table a already exists"), "%s", why);
    cr_assert(sqlite3_get_autocommit(db), "a transaction was left open");
    n = one("SELECT count(*) FROM sqlite_master WHERE name = 'a'");
    cr_assert_str_eq(n, "0");
    free(n);
    apply(dsb_sql_jobs);
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
