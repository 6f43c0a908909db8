/* The job store: table `jobs` in state_dir/dsbroker.db (WAL).  Durable
 * like the sessions (synchronous=FULL): a 202 is sent after the commit,
 * and an EMR run may exist once it is, so it must survive a power loss. */
#include "jobs/internal.h"

#include <stdlib.h>
#include <string.h>

#include "statedb.h"

/* The job store's migrations (statedb.h): step 1 is jobs.sql. */
static const char *const steps[] = {dsb_sql_jobs};
static const struct dsb_statedb_store store = {"jobs", steps, 1, NULL};

int dsb_jstore_open(struct dsb_jobs *j, const char *path, struct dsb_error *err)
{
    char why[512];

    if (dsb_statedb_open(path, SQLITE_OPEN_NOMUTEX, &j->db, why, sizeof(why)) !=
        SQLITE_OK) {
        dsb_error_set(err, DSB_E_CONFIG, "cannot open the job store %s: %s",
                      path, why);
        goto fail;
    }
    if (dsb_statedb_migrate(j->db, &store, NULL, why, sizeof(why)) !=
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

/* ---------------------------------------------------------------- queue */

static char *column_dup(sqlite3_stmt *st, int col)
{
    const char *s = (const char *)sqlite3_column_text(st, col);

    return strdup(s ? s : "");
}

void dsb_jactive_free(struct dsb_jactive *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++) {
        free(v[i].id);
        free(v[i].executor);
        free(v[i].principal);
    }
    free(v);
}

/* Appends the row of st to *v; -1 on exhaustion. */
static int active_add(struct dsb_jactive **v, size_t *n, sqlite3_stmt *st)
{
    struct dsb_jactive *nv = realloc(*v, (*n + 1) * sizeof(**v));
    struct dsb_jactive *a;

    if (!nv)
        return -1;
    *v = nv;
    a = &nv[(*n)++];
    a->id = column_dup(st, 0);
    a->executor = column_dup(st, 1);
    a->principal = column_dup(st, 2);
    a->queue_seq = sqlite3_column_int64(st, 3);
    return a->id && a->executor && a->principal ? 0 : -1;
}

struct dsb_jactive *dsb_jstore_active(struct dsb_jobs *j, size_t *n)
{
    static const char sql[] =
        "SELECT j.id, j.executor, json_extract(j.doc, '$.principal'), "
        "coalesce(q.seq, 0) FROM jobs j LEFT JOIN job_queue q ON q.id = j.id "
        "WHERE j.state IN ('pending', 'running', 'cancelling') "
        "ORDER BY q.seq IS NULL, q.seq, j.created_ms";
    struct dsb_jactive *v = NULL;
    sqlite3_stmt *st = NULL;
    int rc = SQLITE_ROW;

    *n = 0;
    if (sqlite3_prepare_v2(j->db, sql, -1, &st, NULL) != SQLITE_OK)
        rc = SQLITE_ERROR;
    while (rc == SQLITE_ROW && (rc = sqlite3_step(st)) == SQLITE_ROW)
        if (active_add(&v, n, st) < 0)
            rc = SQLITE_NOMEM;
    sqlite3_finalize(st);
    if (rc == SQLITE_DONE)
        return v;
    dsb_jactive_free(v, *n);
    *n = (size_t)-1;
    return NULL;
}

/* Runs sql with the job id and up to two more texts bound; SQLITE_DONE on
 * success. */
static int run(struct dsb_jobs *j, const char *sql, const char *id,
               const char *a, const char *b)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(j->db, sql, -1, &st, NULL);

    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        if (sqlite3_bind_parameter_count(st) >= 3) {
            sqlite3_bind_text(st, 2, a, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 3, b, -1, SQLITE_STATIC);
        }
        rc = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    return rc;
}

/* Ends the transaction: COMMIT when rc is 0, else ROLLBACK. */
static int finish_tx(struct dsb_jobs *j, int rc, struct dsb_error *err)
{
    if (rc == 0 && sqlite3_exec(j->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
        return 0;
    if (rc == 0)
        dsb_error_set(err, DSB_E_INTERNAL, "cannot write the job queue: %s",
                      sqlite3_errmsg(j->db));
    sqlite3_exec(j->db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

static int begin_tx(struct dsb_jobs *j, struct dsb_error *err)
{
    if (sqlite3_exec(j->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK)
        return 0;
    return dsb_error_set(err, DSB_E_INTERNAL, "cannot write the job queue: %s",
                         sqlite3_errmsg(j->db));
}

int dsb_jstore_enqueue(struct dsb_jobs *j, const json_t *doc, const char *code,
                       const char *entry_point, struct dsb_error *err)
{
    static const char sql[] =
        "INSERT INTO job_queue(id, code, entry_point) VALUES (?, ?, ?)";
    int rc;

    if (begin_tx(j, err) < 0)
        return -1;
    rc = dsb_jstore_put(j, doc, err);
    if (rc == 0 && run(j, sql, dsb_job_str(doc, "id", NULL), code,
                       entry_point) != SQLITE_DONE)
        rc = dsb_error_set(err, DSB_E_INTERNAL, "cannot queue the job: %s",
                           sqlite3_errmsg(j->db));
    return finish_tx(j, rc, err);
}

/* The queued request of job id into *code and *entry_point (may be NULL);
 * -1 when the job is not queued or memory runs out. */
static int queued_request(struct dsb_jobs *j, const char *id, char **code,
                          char **entry_point)
{
    static const char sql[] =
        "SELECT code, entry_point FROM job_queue WHERE id = ?";
    sqlite3_stmt *st = NULL;
    int rc = -1;

    if (sqlite3_prepare_v2(j->db, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        const char *c = (const char *)sqlite3_column_text(st, 0);
        const char *e = (const char *)sqlite3_column_text(st, 1);
        rc = 0;
        if (code && c && !(*code = strdup(c)))
            rc = -1;
        if (entry_point && e && !(*entry_point = strdup(e)))
            rc = -1;
    }
    sqlite3_finalize(st);
    return rc;
}

int dsb_jstore_dequeue(struct dsb_jobs *j, const json_t *doc, char **code,
                       char **entry_point, struct dsb_error *err)
{
    const char *id = dsb_job_str(doc, "id", NULL);
    int rc;

    if (code)
        *code = NULL;
    if (entry_point)
        *entry_point = NULL;
    if (begin_tx(j, err) < 0)
        return -1;
    rc = queued_request(j, id, code, entry_point);
    if (rc < 0)
        dsb_error_set(err, DSB_E_CONFLICT, "job %s is not queued", id);
    else if (run(j, "DELETE FROM job_queue WHERE id = ?", id, NULL, NULL) !=
             SQLITE_DONE)
        rc =
            dsb_error_set(err, DSB_E_INTERNAL, "cannot write the job queue: %s",
                          sqlite3_errmsg(j->db));
    else
        rc = dsb_jstore_put(j, doc, err);
    rc = finish_tx(j, rc, err);
    if (rc < 0 && code) {
        free(*code);
        *code = NULL;
    }
    if (rc < 0 && entry_point) {
        free(*entry_point);
        *entry_point = NULL;
    }
    return rc;
}

int dsb_jstore_is_queued(struct dsb_jobs *j, const char *id)
{
    return run(j, "SELECT 1 FROM job_queue WHERE id = ?", id, NULL, NULL) ==
           SQLITE_ROW;
}

int dsb_jstore_any_queued(struct dsb_jobs *j)
{
    sqlite3_stmt *st = NULL;
    int any = 0;

    if (sqlite3_prepare_v2(j->db, "SELECT 1 FROM job_queue LIMIT 1", -1, &st,
                           NULL) == SQLITE_OK)
        any = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    return any;
}
