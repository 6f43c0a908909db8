#include "statedb.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

#define BUSY_TIMEOUT_MS 5000

static const char pragmas[] = "PRAGMA journal_mode=WAL;"
                              "PRAGMA synchronous=FULL;"
                              "PRAGMA foreign_keys=ON;";

/* A directory refused: err names it, says why and what to do. */
static int dir_refused(const char *dir, const char *why, const char *hint,
                       struct dsb_error *err)
{
    dsb_error_set(err, DSB_E_CONFIG, "state directory %s: %s", dir, why);
    dsb_error_hint(err, "%s", hint);
    return -1;
}

/* Refuses a directory of another uid, or a shared (sticky) one. */
static int dir_check_owner(const char *dir, const struct stat *st,
                           struct dsb_error *err)
{
    char why[160];

    if (st->st_uid != geteuid()) {
        snprintf(why, sizeof(why),
                 "owned by uid %u, not by the broker's "
                 "uid %u",
                 (unsigned)st->st_uid, (unsigned)geteuid());
        return dir_refused(dir, why,
                           "chown it to the user the broker runs "
                           "as, or set state_dir to a directory of the "
                           "broker's own",
                           err);
    }
    if (st->st_mode & S_ISVTX)
        return dir_refused(dir, "a shared directory (sticky bit, like /tmp)",
                           "set state_dir to a directory of the broker's "
                           "own: it is made private (0700)",
                           err);
    return 0;
}

int dsb_statedb_private_dir(const char *dir, struct dsb_error *err)
{
    struct stat st;
    int fd, rc = 0;

    if (!dir)
        return dir_refused("(none)", "not set",
                           "set state_dir in "
                           "broker.yaml",
                           err);
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return dir_refused(dir, strerror(errno),
                           "set state_dir in "
                           "broker.yaml to a writable path",
                           err);
    if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        return dir_refused(
            dir, errno == ENOTDIR ? "not a directory" : strerror(errno),
            "set state_dir in broker.yaml "
            "to a directory",
            err);
    if (fstat(fd, &st) < 0)
        rc = dir_refused(dir, strerror(errno),
                         "set state_dir in broker.yaml "
                         "to a directory",
                         err);
    else if (dir_check_owner(dir, &st, err) < 0)
        rc = -1;
    else if ((st.st_mode & 07777) != 0700 && fchmod(fd, 0700) < 0)
        rc = dir_refused(dir, "cannot make it private (mode 0700)",
                         "chmod "
                         "700 it as its owner, or set state_dir to a "
                         "directory of the broker's own",
                         err);
    close(fd);
    return rc;
}

/* path made 0600 (created empty when create; SQLite gives -wal and -shm
 * files the mode of the database file).  0, or -1 with errno. */
static int private_file(const char *path, int create)
{
    int fd = open(
        path, O_RDWR | O_NOFOLLOW | O_CLOEXEC | (create ? O_CREAT : 0), 0600);
    struct stat st;
    int rc = 0;

    if (fd < 0)
        return !create && errno == ENOENT ? 0 : -1;
    if (fstat(fd, &st) < 0 ||
        ((st.st_mode & 07777) != 0600 && fchmod(fd, 0600) < 0))
        rc = -1;
    close(fd);
    return rc;
}

static int private_files(const char *path, char *why, size_t why_len)
{
    static const char *const sfx[] = {"", "-wal", "-shm"};
    char p[4200];

    for (size_t i = 0; i < 3; i++) {
        snprintf(p, sizeof(p), "%s%s", path, sfx[i]);
        if (private_file(p, i == 0) < 0) {
            snprintf(why, why_len, "cannot make %s private (mode 0600): %s", p,
                     strerror(errno));
            return -1;
        }
    }
    return 0;
}

int dsb_statedb_open(const char *path, int flags, sqlite3 **db, char *why,
                     size_t why_len)
{
    int rc;

    *db = NULL;
    if (private_files(path, why, why_len) < 0)
        return SQLITE_PERM;
    rc = sqlite3_open_v2(
        path, db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | flags, NULL);
    if (rc == SQLITE_OK)
        sqlite3_busy_timeout(*db, BUSY_TIMEOUT_MS);
    else
        snprintf(why, why_len, "%s",
                 *db ? sqlite3_errmsg(*db) : sqlite3_errstr(rc));
    return rc;
}

static const char schema_table[] =
    "CREATE TABLE IF NOT EXISTS dsb_schema ("
    " store TEXT PRIMARY KEY, version INTEGER NOT NULL,"
    " migrated_ms INTEGER NOT NULL)";

/* The store's recorded version (0: none recorded), or -1 on an error. */
static int stored_version(sqlite3 *db, const char *store)
{
    sqlite3_stmt *st = NULL;
    int v = -1;

    if (sqlite3_prepare_v2(db, "SELECT version FROM dsb_schema WHERE store = ?",
                           -1, &st, NULL) == SQLITE_OK &&
        sqlite3_bind_text(st, 1, store, -1, SQLITE_STATIC) == SQLITE_OK) {
        int rc = sqlite3_step(st);
        v = rc == SQLITE_ROW    ? sqlite3_column_int(st, 0)
            : rc == SQLITE_DONE ? 0
                                : -1;
    }
    sqlite3_finalize(st);
    return v;
}

static int record_version(sqlite3 *db, const char *store, int version)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(
        db,
        "INSERT INTO dsb_schema (store, version, migrated_ms) "
        "VALUES (?, ?, ?) ON CONFLICT (store) DO UPDATE SET "
        "version = excluded.version, migrated_ms = excluded.migrated_ms",
        -1, &st, NULL);

    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, store, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 2, version);
        sqlite3_bind_int64(st, 3, dsb_wall_ms());
        rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
    }
    sqlite3_finalize(st);
    return rc;
}

int dsb_statedb_migrate(sqlite3 *db, const struct dsb_statedb_store *store,
                        int *from, char *why, size_t why_len)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db, pragmas, NULL, NULL, &msg), v = -1;

    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, &msg);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, schema_table, NULL, NULL, &msg);
    if (rc == SQLITE_OK && (v = stored_version(db, store->name)) < 0)
        rc = sqlite3_errcode(db);
    if (rc == SQLITE_OK && (size_t)v > store->n_steps) {
        snprintf(why, why_len,
                 "the %s store is at schema version %d, newer than this "
                 "broker knows (%zu): a newer dsbroker wrote it; run that "
                 "version, or restore a backup of state_dir made before it",
                 store->name, v, store->n_steps);
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        sqlite3_free(msg);
        return DSB_STATEDB_TOO_NEW;
    }
    for (size_t i = (size_t)(v < 0 ? 0 : v);
         rc == SQLITE_OK && i < store->n_steps; i++) {
        rc = sqlite3_exec(db, store->steps[i], NULL, NULL, &msg);
        if (rc == SQLITE_OK && i == 0 && v == 0 && store->adopt)
            rc = store->adopt(db);
    }
    if (rc == SQLITE_OK && (size_t)v != store->n_steps)
        rc = record_version(db, store->name, (int)store->n_steps);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, "COMMIT", NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        snprintf(why, why_len, "%s", msg ? msg : sqlite3_errmsg(db));
        if (!sqlite3_get_autocommit(db))
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    }
    if (from)
        *from = v;
    sqlite3_free(msg);
    return rc;
}
