#include "statedb.h"

#include <stdio.h>

#define BUSY_TIMEOUT_MS 5000

static const char pragmas[] = "PRAGMA journal_mode=WAL;"
                              "PRAGMA synchronous=FULL;"
                              "PRAGMA foreign_keys=ON;";

int dsb_statedb_open(const char *path, int flags, sqlite3 **db)
{
    int rc = sqlite3_open_v2(path, db, SQLITE_OPEN_READWRITE |
                             SQLITE_OPEN_CREATE | flags, NULL);

    if (rc == SQLITE_OK)
        sqlite3_busy_timeout(*db, BUSY_TIMEOUT_MS);
    return rc;
}

int dsb_statedb_schema(sqlite3 *db, const char *ddl, char *why,
                       size_t why_len)
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
