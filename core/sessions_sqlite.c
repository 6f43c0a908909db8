/* The session store on SQLite: tables dsb_sessions and dsb_selections in
 * state_dir/dsbroker.db (statedb.h), one connection serialised by a lock.
 * A write returns only once it is durable (WAL, synchronous=FULL). */
#include "sessions.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "statedb.h"
#include "store.h"
#include "util.h"

#define TOUCH_EVERY_MS 60000

struct sqlite_sessions {
    pthread_mutex_t lock; /* one connection, one statement at a time */
    sqlite3 *db;
    atomic_llong touch_every_ms; /* how stale the idle clock may get */
};

/* A store made before sessions had owners gets the column (its sessions
 * stay ownerless: only an admin reaches them). */
static const char owner_sql[] =
    "ALTER TABLE dsb_sessions ADD COLUMN owner TEXT";

static int has_owner_column(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    int found = 0;

    if (sqlite3_prepare_v2(db,
                           "SELECT 1 FROM pragma_table_info("
                           "'dsb_sessions') WHERE name = 'owner'",
                           -1, &st, NULL) == SQLITE_OK)
        found = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    return found;
}

char *dsb_state_db_path(const char *state_dir)
{
    return dsb_path_join(state_dir, "dsbroker.db");
}

static int disk_full(struct dsb_error *err, const char *what)
{
    dsb_error_set(err, DSB_E_UNAVAILABLE,
                  "session store: %s failed: the "
                  "state disk is full",
                  what);
    dsb_error_detail(err, "the state disk is full (SQLite: database or disk "
                          "is full); nothing was stored");
    dsb_error_hint(err, "free space on the file system of state_dir: what is "
                        "already stored is intact and reads keep working");
    snprintf(err->upstream, sizeof(err->upstream), DSB_STORE_FULL_UPSTREAM);
    err->retryable = 1;
    return -1;
}

/* An SQLite failure (code rc, message msg) as err. */
static int store_error(int rc, const char *msg, struct dsb_error *err,
                       const char *what)
{
    if ((rc & 0xff) == SQLITE_FULL)
        return disk_full(err, what);
    dsb_error_set(err, DSB_E_INTERNAL, "session store: %s failed", what);
    dsb_error_detail(err, "%s", msg);
    err->retryable = rc == SQLITE_BUSY;
    return -1;
}

static int db_error(struct sqlite_sessions *s, struct dsb_error *err,
                    const char *what)
{
    return store_error(sqlite3_errcode(s->db), sqlite3_errmsg(s->db), err,
                       what);
}

/* A store from before schema versions: the owner column a store made
 * before owners lacks. */
static int adopt(sqlite3 *db)
{
    return has_owner_column(db) ? SQLITE_OK
                                : sqlite3_exec(db, owner_sql, NULL, NULL, NULL);
}

/* The session store's migrations (statedb.h): step 1 is sessions.sql. */
static const char *const steps[] = {dsb_sql_sessions};
static const struct dsb_statedb_store store = {"sessions", steps, 1, adopt};

static int create_tables(struct sqlite_sessions *s, struct dsb_error *err)
{
    char why[512];
    int rc = dsb_statedb_migrate(s->db, &store, NULL, why, sizeof(why));

    if (rc == DSB_STATEDB_TOO_NEW) {
        dsb_error_set(err, DSB_E_CONFIG, "%s", why);
        return -1;
    }
    return rc == SQLITE_OK ? 0 : store_error(rc, why, err, "creating tables");
}

static void *sq_open(const struct dsb_store_conf *c, struct dsb_error *err)
{
    const char *state_dir = c->state_dir;
    struct sqlite_sessions *s = calloc(1, sizeof(*s));
    char *path = NULL, why[256] = "out of memory";

    if (!s || dsb_statedb_private_dir(state_dir, err) < 0)
        goto fail;
    path = dsb_state_db_path(state_dir);
    if (!path || dsb_statedb_open(path, SQLITE_OPEN_FULLMUTEX, &s->db, why,
                                  sizeof(why)) != SQLITE_OK) {
        dsb_error_set(err, DSB_E_CONFIG,
                      "cannot open the session store %s: "
                      "%s",
                      path ? path : state_dir, why);
        goto fail;
    }
    if (create_tables(s, err) < 0)
        goto fail;
    pthread_mutex_init(&s->lock, NULL);
    atomic_init(&s->touch_every_ms, TOUCH_EVERY_MS);
    free(path);
    return s;
fail:
    if (s && s->db)
        sqlite3_close(s->db);
    free(s);
    free(path);
    return NULL;
}

static void sq_close(void *h)
{
    struct sqlite_sessions *s = h;

    if (!s)
        return;
    sqlite3_close(s->db);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static int check_id(const char *id, struct dsb_error *err)
{
    size_t n = id ? strlen(id) : 0;

    if (n == 0 || n > DSB_SESSION_ID_MAX)
        return dsb_error_set(err, DSB_E_INVALID,
                             "a session id must hold 1 to "
                             "%d bytes",
                             DSB_SESSION_ID_MAX);
    return 0;
}

/* Runs one statement with text/int parameters ("t" / "i" per char of
 * types); returns the number of rows changed, or -1. */
static int exec_stmt(struct sqlite_sessions *s, const char *sql,
                     const char *types, const void *const *args,
                     struct dsb_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return db_error(s, err, "preparing a statement");
    for (int i = 0; types[i]; i++) {
        if (types[i] == 't')
            sqlite3_bind_text(st, i + 1, args[i], -1, SQLITE_STATIC);
        else
            sqlite3_bind_int64(st, i + 1, *(const int64_t *)args[i]);
    }
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return db_error(s, err, "writing");
    return sqlite3_changes(s->db);
}

static int insert_session(struct sqlite_sessions *s, const char *id,
                          const char *owner, struct dsb_error *err)
{
    int64_t now = dsb_wall_ms();
    const void *args[] = {id, &now, &now, owner};

    return exec_stmt(s,
                     "INSERT OR IGNORE INTO dsb_sessions(id, created_ms, "
                     "touched_ms, owner) VALUES (?, ?, ?, ?)",
                     "tiit", args, err);
}

static int sq_insert(void *h, const char *id, const char *owner,
                     struct dsb_error *err)
{
    struct sqlite_sessions *s = h;
    int rc;

    if (check_id(id, err) < 0)
        return -1;
    pthread_mutex_lock(&s->lock);
    rc = insert_session(s, id, owner, err);
    pthread_mutex_unlock(&s->lock);
    return rc < 0 ? -1 : 0;
}

static int exists(struct sqlite_sessions *s, const char *id)
{
    sqlite3_stmt *st = NULL;
    int rc = 0;

    if (sqlite3_prepare_v2(s->db, "SELECT 1 FROM dsb_sessions WHERE id = ?", -1,
                           &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        rc = sqlite3_step(st) == SQLITE_ROW;
    }
    sqlite3_finalize(st);
    return rc;
}

/* Marks the session used (written at most once a minute, or a quarter of
 * the idle expiry when that is shorter, so reads stay reads); DSB_E_NOT_FOUND
 * when it does not exist.  A failed write (full disk, I/O error) leaves the
 * idle clock as it was: reads must not fail on it, and a write that follows
 * reports its own error. */
static int touch(struct sqlite_sessions *s, const char *id,
                 struct dsb_error *err)
{
    int64_t now = dsb_wall_ms();
    int64_t stale = now - (int64_t)atomic_load(&s->touch_every_ms);
    const void *args[] = {&now, id, &stale};
    int rc;

    if (check_id(id, err) < 0)
        return -1;
    rc = exec_stmt(s,
                   "UPDATE dsb_sessions SET touched_ms = ? WHERE id = ? "
                   "AND touched_ms < ?",
                   "iti", args, err);
    if (rc <= 0 && !exists(s, id))
        return dsb_error_set(err, DSB_E_NOT_FOUND,
                             "session %s does not "
                             "exist",
                             id);
    return 0;
}

static int sq_owner(void *h, const char *id, char owner[DSB_OWNER_MAX + 1],
                    struct dsb_error *err)
{
    struct sqlite_sessions *s = h;

    sqlite3_stmt *st = NULL;
    int rc;

    owner[0] = '\0';
    if (check_id(id, err) < 0)
        return -1;
    pthread_mutex_lock(&s->lock);
    rc = sqlite3_prepare_v2(s->db,
                            "SELECT owner FROM dsb_sessions WHERE id "
                            "= ?",
                            -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW && sqlite3_column_text(st, 0))
            snprintf(owner, DSB_OWNER_MAX + 1, "%s",
                     (const char *)sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        rc = db_error(s, err, "reading a session");
    pthread_mutex_unlock(&s->lock);
    if (rc == SQLITE_DONE)
        return dsb_error_set(err, DSB_E_NOT_FOUND,
                             "session %s does not "
                             "exist",
                             id);
    return rc < 0 ? -1 : 0;
}

static json_t *iso_time(int64_t ms)
{
    char buf[DSB_ISO_TIME_LEN];

    dsb_iso_time(ms, buf);
    return json_string(buf);
}

static json_t *selection_row(sqlite3_stmt *st)
{
    return json_pack("{s:I, s:s, s:s, s:s, s:s, s:o}", "id",
                     (json_int_t)sqlite3_column_int64(st, 0), "source",
                     (const char *)sqlite3_column_text(st, 1), "database",
                     (const char *)sqlite3_column_text(st, 2), "schema",
                     (const char *)sqlite3_column_text(st, 3), "table",
                     (const char *)sqlite3_column_text(st, 4), "selected_at",
                     iso_time(sqlite3_column_int64(st, 5)));
}

static int read_selections(struct sqlite_sessions *s, const char *id,
                           json_t **out, struct dsb_error *err)
{
    sqlite3_stmt *st = NULL;
    json_t *arr = json_array();
    int rc;

    if (sqlite3_prepare_v2(s->db,
                           "SELECT id, source, db, schema_name, tbl, "
                           "selected_ms FROM dsb_selections WHERE session_id "
                           "= ? ORDER BY id",
                           -1, &st, NULL) != SQLITE_OK) {
        json_decref(arr);
        return db_error(s, err, "reading selections");
    }
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        json_array_append_new(arr, selection_row(st));
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        json_decref(arr);
        return db_error(s, err, "reading selections");
    }
    *out = arr;
    return 0;
}

static int sq_selections(void *h, const char *id, json_t **out,
                         struct dsb_error *err)
{
    struct sqlite_sessions *s = h;
    int rc;

    pthread_mutex_lock(&s->lock);
    rc = touch(s, id, err);
    if (rc == 0)
        rc = read_selections(s, id, out, err);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static int read_session(struct sqlite_sessions *s, const char *id, json_t **out,
                        struct dsb_error *err)
{
    sqlite3_stmt *st = NULL;
    json_t *sel = NULL;

    if (read_selections(s, id, &sel, err) < 0)
        return -1;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT created_ms, touched_ms, owner FROM "
                           "dsb_sessions WHERE id = ?",
                           -1, &st, NULL) != SQLITE_OK) {
        json_decref(sel);
        return db_error(s, err, "reading a session");
    }
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        *out = json_pack("{s:s, s:o, s:o, s:s?, s:o}", "id", id, "created_at",
                         iso_time(sqlite3_column_int64(st, 0)), "updated_at",
                         iso_time(sqlite3_column_int64(st, 1)), "owner",
                         (const char *)sqlite3_column_text(st, 2), "selections",
                         sel);
    else
        json_decref(sel);
    sqlite3_finalize(st);
    return 0;
}

static int sq_get(void *h, const char *id, json_t **out, struct dsb_error *err)
{
    struct sqlite_sessions *s = h;
    int rc;

    *out = NULL;
    pthread_mutex_lock(&s->lock);
    rc = touch(s, id, err);
    if (rc == 0)
        rc = read_session(s, id, out, err);
    pthread_mutex_unlock(&s->lock);
    if (rc == 0 && !*out)
        return dsb_error_set(err, DSB_E_NOT_FOUND,
                             "session %s does not "
                             "exist",
                             id);
    return rc;
}

static int sq_delete(void *h, const char *id, struct dsb_error *err)
{
    struct sqlite_sessions *s = h;
    const void *args[] = {id};
    int rc;

    if (check_id(id, err) < 0)
        return -1;
    pthread_mutex_lock(&s->lock);
    rc = exec_stmt(s, "DELETE FROM dsb_sessions WHERE id = ?", "t", args, err);
    pthread_mutex_unlock(&s->lock);
    if (rc == 0)
        return dsb_error_set(err, DSB_E_NOT_FOUND,
                             "session %s does not "
                             "exist",
                             id);
    return rc < 0 ? -1 : 0;
}

static int remove_sources(struct sqlite_sessions *s, const char *id,
                          const char *const *sources, size_t n,
                          struct dsb_error *err)
{
    for (size_t i = 0; i < n; i++) {
        const void *args[] = {id, sources[i]};
        if (exec_stmt(s,
                      "DELETE FROM dsb_selections WHERE session_id = ? "
                      "AND source = ?",
                      "tt", args, err) < 0)
            return -1;
    }
    return 0;
}

static int insert_selections(struct sqlite_sessions *s, const char *id,
                             const struct dsb_selection *sel, size_t n,
                             struct dsb_error *err)
{
    int64_t now = dsb_wall_ms();

    for (size_t i = 0; i < n; i++) {
        const void *args[] = {
            id,           sel[i].source, sel[i].database, sel[i].schema,
            sel[i].table, &now};
        if (exec_stmt(s,
                      "INSERT OR IGNORE INTO dsb_selections(session_id, "
                      "source, db, schema_name, tbl, selected_ms) VALUES "
                      "(?, ?, ?, ?, ?, ?)",
                      "ttttti", args, err) < 0)
            return -1;
    }
    return 0;
}

static int select_tx(struct sqlite_sessions *s, const char *id,
                     const struct dsb_selection *sel, size_t n,
                     const char *const *replace, size_t n_replace,
                     struct dsb_error *err)
{
    if (touch(s, id, err) < 0)
        return -1;
    if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return db_error(s, err, "starting a transaction");
    if ((replace && remove_sources(s, id, replace, n_replace, err) < 0) ||
        insert_selections(s, id, sel, n, err) < 0) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        db_error(s, err, "committing");
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    return 0;
}

static int sq_select(void *h, const char *id, const struct dsb_selection *sel,
                     size_t n, const char *const *replace_sources,
                     size_t n_replace, json_t **added, struct dsb_error *err)
{
    struct sqlite_sessions *s = h;
    json_t *all = NULL;
    int rc;

    pthread_mutex_lock(&s->lock);
    rc = select_tx(s, id, sel, n, replace_sources, n_replace, err);
    if (rc == 0 && added)
        rc = read_selections(s, id, &all, err);
    pthread_mutex_unlock(&s->lock);
    if (rc == 0 && added)
        *added = dsb_sessions_matching(all, sel, n);
    json_decref(all);
    return rc;
}

static int sq_unselect(void *h, const char *id, int64_t selection_id,
                       struct dsb_error *err)
{
    struct sqlite_sessions *s = h;
    const void *args[] = {id, &selection_id};
    int rc;

    pthread_mutex_lock(&s->lock);
    rc = touch(s, id, err);
    if (rc == 0)
        rc = exec_stmt(s,
                       "DELETE FROM dsb_selections WHERE session_id = ? "
                       "AND id = ?",
                       "ti", args, err);
    pthread_mutex_unlock(&s->lock);
    if (rc == 0)
        return dsb_error_set(err, DSB_E_NOT_FOUND,
                             "session %s has no "
                             "selection %lld",
                             id, (long long)selection_id);
    return rc < 0 ? -1 : 0;
}

static json_t *summary_row(sqlite3_stmt *st)
{
    return json_pack("{s:s, s:o, s:o, s:s?, s:I}", "id",
                     (const char *)sqlite3_column_text(st, 0), "created_at",
                     iso_time(sqlite3_column_int64(st, 1)), "updated_at",
                     iso_time(sqlite3_column_int64(st, 2)), "owner",
                     (const char *)sqlite3_column_text(st, 3), "n_selections",
                     (json_int_t)sqlite3_column_int64(st, 4));
}

static int sq_list(void *h, const char *owner, json_t **out,
                   struct dsb_error *err)
{
    struct sqlite_sessions *s = h;

    sqlite3_stmt *st = NULL;
    json_t *items = json_array();
    int rc;

    pthread_mutex_lock(&s->lock);
    rc = sqlite3_prepare_v2(s->db,
                            "SELECT s.id, s.created_ms, s.touched_ms, "
                            "s.owner, (SELECT count(*) FROM dsb_selections x "
                            "WHERE x.session_id = s.id) FROM dsb_sessions s "
                            "WHERE ?1 IS NULL OR s.owner = ?1 ORDER BY "
                            "s.touched_ms DESC, s.id",
                            -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, owner, -1, SQLITE_STATIC);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW)
            json_array_append_new(items, summary_row(st));
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        db_error(s, err, "listing sessions");
        json_decref(items);
        items = NULL;
    }
    pthread_mutex_unlock(&s->lock);
    if (!items)
        return -1;
    *out = json_pack("{s:o}", "items", items);
    return 0;
}

static void sq_set_idle_expiry(void *h, int64_t idle_ms)
{
    struct sqlite_sessions *s = h;
    int64_t every = idle_ms / 4;

    atomic_store(&s->touch_every_ms,
                 every < TOUCH_EVERY_MS ? every : TOUCH_EVERY_MS);
}

static long sq_expire(void *h, int64_t idle_ms)
{
    struct sqlite_sessions *s = h;
    int64_t cutoff = dsb_wall_ms() - idle_ms;
    const void *args[] = {&cutoff};
    struct dsb_error err;
    int rc;

    pthread_mutex_lock(&s->lock);
    rc = exec_stmt(s, "DELETE FROM dsb_sessions WHERE touched_ms < ?", "i",
                   args, &err);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static int sq_writable(void *h)
{
    struct sqlite_sessions *s = h;
    int rc;

    pthread_mutex_lock(&s->lock);
    rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE; ROLLBACK", NULL, NULL, NULL);
    pthread_mutex_unlock(&s->lock);
    return rc == SQLITE_OK ? 0 : -1;
}

const struct dsb_sessions_ops dsb_sessions_sqlite_ops = {
    .open = sq_open,
    .close = sq_close,
    .insert = sq_insert,
    .owner = sq_owner,
    .list = sq_list,
    .get = sq_get,
    .remove = sq_delete,
    .select = sq_select,
    .unselect = sq_unselect,
    .selections = sq_selections,
    .set_idle_expiry = sq_set_idle_expiry,
    .expire = sq_expire,
    .writable = sq_writable,
};
