/* The state database, state_dir/dsbroker.db: SQLite in WAL mode, shared by
 * the session store and the job store, each with its own connection and
 * its own schema (core/sessions.sql, core/jobs/jobs.sql, embedded at build
 * time). */
#ifndef DSB_CORE_STATEDB_H
#define DSB_CORE_STATEDB_H

#include <stddef.h>

#include <sqlite3.h>

#include "dsbroker/plugin.h" /* struct dsb_error */

extern const char dsb_sql_sessions[];
extern const char dsb_sql_jobs[];

/*
 * Makes dir (state_dir, or a directory in it) private to the broker:
 * created 0700 when missing; when it exists it must be a directory owned by
 * the broker's effective uid and not a shared (sticky) one, and is chmod'ed
 * to 0700.  Returns 0, or -1 with err set (DSB_E_CONFIG, naming the
 * directory, why and what to do: the broker then refuses to start).
 */
int dsb_statedb_private_dir(const char *dir, struct dsb_error *err);

/*
 * Opens (creating) the database at path with SQLITE_OPEN_READWRITE |
 * SQLITE_OPEN_CREATE | flags (the mutex mode) and the stores' busy
 * timeout.  The file and its -wal/-shm are made 0600 first (a new file is
 * created 0600; SQLite creates -wal/-shm with the database's mode).
 * Returns SQLITE_OK with *db set, or an SQLite error code with the reason
 * in why: *db is then NULL or open, and the caller closes it.
 */
int dsb_statedb_open(const char *path, int flags, sqlite3 **db, char *why,
                     size_t why_len);

/*
 * A store's schema as versioned migrations: steps[i] (SQL, one or more
 * statements) takes the store from version i to i + 1, so the store's
 * version is how many steps it has had.  Step 1 creates its tables with
 * IF NOT EXISTS, so that a database of a broker from before versions
 * (version 0, tables present) is taken as it is; adopt, when not NULL,
 * then brings such a database's tables up to step 1 (it runs inside the
 * migration's transaction; SQLITE_OK or an error code).
 */
struct dsb_statedb_store {
    const char *name; /* "sessions", "jobs": its row in dsb_schema */
    const char *const *steps;
    size_t n_steps;
    int (*adopt)(sqlite3 *db);
};

/* Returned by dsb_statedb_migrate for a store newer than this broker. */
#define DSB_STATEDB_TOO_NEW (-1)

/*
 * Brings a connection's store to its latest version: the pragmas every
 * store connection runs with (journal_mode=WAL, synchronous=FULL: a commit
 * is durable when it returns; foreign_keys=ON), then, in one IMMEDIATE
 * transaction (one sync; concurrent openers wait for each other), the
 * steps the store has not had, and its version recorded in table
 * dsb_schema (store, version, migrated_ms).  *from (may be NULL) gets the
 * version it had.  Returns SQLITE_OK; DSB_STATEDB_TOO_NEW when the store's
 * version is past the last step (a newer broker wrote it: nothing is
 * touched, why says so and what to do); or the failing statement's SQLite
 * error code with its message in why, nothing of the migration applied.
 */
int dsb_statedb_migrate(sqlite3 *db, const struct dsb_statedb_store *store,
                        int *from, char *why, size_t why_len);

#endif
