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
 * Applies a schema to a connection: the pragmas every store connection
 * runs with (journal_mode=WAL, synchronous=FULL: a commit is durable when
 * it returns; foreign_keys=ON), then ddl in one transaction (one sync).
 * The DDL runs at every open, so each statement must be safe to run again
 * (IF NOT EXISTS).  Returns SQLITE_OK, or the failing statement's error code
 * with its message in why; nothing of ddl is then applied.
 */
int dsb_statedb_schema(sqlite3 *db, const char *ddl, char *why, size_t why_len);

#endif
