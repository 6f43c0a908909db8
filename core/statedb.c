#include "statedb.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

int dsb_statedb_schema(sqlite3 *db, const char *ddl, char *why, size_t why_len)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db, pragmas, NULL, NULL, &msg);

    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, "BEGIN", NULL, NULL, &msg);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, ddl, NULL, NULL, &msg);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, "COMMIT", NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        snprintf(why, why_len, "%s", msg ? msg : sqlite3_errstr(rc));
        if (!sqlite3_get_autocommit(db))
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    }
    sqlite3_free(msg);
    return rc;
}
