/* The job store: table `jobs` in state_dir/dsbroker.db (WAL).  Durable
 * like the sessions (synchronous=FULL): a 202 is sent after the commit,
 * and an EMR run may exist once it is, so it must survive a power loss. */
#include "jobs/internal.h"

#include <stdlib.h>
#include <string.h>

#include "statedb.h"

int dsb_jstore_open(struct dsb_jobs *j, const char *path, struct dsb_error *err)
{
    char why[256];

    if (dsb_statedb_open(path, SQLITE_OPEN_NOMUTEX, &j->db, why, sizeof(why)) !=
        SQLITE_OK) {
        dsb_error_set(err, DSB_E_CONFIG, "cannot open the job store %s: %s",
                      path, why);
        goto fail;
    }
    if (dsb_statedb_schema(j->db, dsb_sql_jobs, why, sizeof(why)) !=
        SQLITE_OK) {
        dsb_error_set(err, DSB_E_CONFIG,
                      "cannot prepare the job store %s: "
                      "%s",
                      path, why);
        goto fail;
    }
    return 0;
fail:
    dsb_jstore_close(j);
    return -1;
}

void dsb_jstore_close(struct dsb_jobs *j)
{
    sqlite3_close(j->db);
    j->db = NULL;
}

static json_t *num_or_zero(const json_t *doc, const char *key)
{
    return json_object_get(doc, key);
}

int dsb_jstore_put(struct dsb_jobs *j, const json_t *doc, struct dsb_error *err)
{
    static const char sql[] =
        "INSERT OR REPLACE INTO jobs(id, session_id, state, executor, "
        "created_ms, updated_ms, doc) VALUES (?, ?, ?, ?, ?, ?, ?)";
    sqlite3_stmt *st = NULL;
    char *text = json_dumps(doc, JSON_COMPACT);
    int rc = -1;

    if (!text || sqlite3_prepare_v2(j->db, sql, -1, &st, NULL) != SQLITE_OK)
        goto done;
    sqlite3_bind_text(st, 1, dsb_job_str(doc, "id", NULL), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, dsb_job_str(doc, "session_id", NULL), -1,
                      SQLITE_STATIC);
    sqlite3_bind_text(st, 3, dsb_job_str(doc, "state", NULL), -1,
                      SQLITE_STATIC);
    sqlite3_bind_text(st, 4, dsb_job_str(doc, "executor", NULL), -1,
                      SQLITE_STATIC);
    sqlite3_bind_int64(st, 5,
                       json_integer_value(num_or_zero(doc, "created_at")));
    sqlite3_bind_int64(st, 6,
                       json_integer_value(num_or_zero(doc, "updated_at")));
    sqlite3_bind_text(st, 7, text, -1, SQLITE_STATIC);
    rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
done:
    if (rc < 0)
        dsb_error_set(err, DSB_E_INTERNAL, "cannot write the job record: %s",
                      sqlite3_errmsg(j->db));
    sqlite3_finalize(st);
    free(text);
    return rc;
}

static json_t *row_doc(sqlite3_stmt *st)
{
    const char *text = (const char *)sqlite3_column_text(st, 0);
    return text ? json_loads(text, 0, NULL) : NULL;
}

json_t *dsb_jstore_get(struct dsb_jobs *j, const char *id)
{
    sqlite3_stmt *st = NULL;
    json_t *doc = NULL;

    if (sqlite3_prepare_v2(j->db, "SELECT doc FROM jobs WHERE id = ?", -1, &st,
                           NULL) != SQLITE_OK)
        return NULL;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        doc = row_doc(st);
    sqlite3_finalize(st);
    return doc;
}

json_t *dsb_jstore_list(struct dsb_jobs *j, const char *session_id)
{
    static const char by_session[] =
        "SELECT doc FROM jobs WHERE session_id = ? "
        "ORDER BY created_ms DESC, id DESC";
    static const char active[] =
        "SELECT doc FROM jobs WHERE state IN ('pending', 'running', "
        "'cancelling') ORDER BY created_ms";
    sqlite3_stmt *st = NULL;
    json_t *items = json_array();

    if (!items || sqlite3_prepare_v2(j->db, session_id ? by_session : active,
                                     -1, &st, NULL) != SQLITE_OK)
        return items;
    if (session_id)
        sqlite3_bind_text(st, 1, session_id, -1, SQLITE_STATIC);
    while (sqlite3_step(st) == SQLITE_ROW) {
        json_t *doc = row_doc(st);
        if (doc)
            json_array_append_new(items, doc);
    }
    sqlite3_finalize(st);
    return items;
}
