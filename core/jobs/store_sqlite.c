/* The job store on SQLite: tables `jobs` and `job_queue` in
 * state_dir/dsbroker.db (WAL).  Durable like the sessions
 * (synchronous=FULL): a 202 is sent after the commit, and an EMR run may
 * exist once it is, so it must survive a power loss. */
#include "jobs/internal.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "statedb.h"
#include "store.h"
#include "util.h"

extern const char dsb_sql_jobs_lease[];

struct sqlite_jstore {
    sqlite3 *db;
    char *replica;    /* this replica: the owner its puts write */
    int64_t lease_ms; /* how long a lease holds */
};

/* The job store's migrations (statedb.h): step 1 is jobs.sql, step 2
 * jobs_lease.sql. */
static const char *const steps[] = {dsb_sql_jobs, dsb_sql_jobs_lease};
static const struct dsb_statedb_store store = {"jobs", steps, 2, NULL};

#define ACTIVE "('pending', 'running', 'cancelling')"

static void sq_close(void *h)
{
    struct sqlite_jstore *j = h;

    if (!j)
        return;
    sqlite3_close(j->db);
    free(j->replica);
    free(j);
}

static void *sq_open(const struct dsb_store_conf *c, struct dsb_error *err)
{
    const char *path = c->db_path;
    struct sqlite_jstore *j = calloc(1, sizeof(*j));
    char why[512] = "out of memory";

    if (!j || !(j->replica = strdup(c->replica_id)) ||
        dsb_statedb_open(path, SQLITE_OPEN_NOMUTEX, &j->db, why, sizeof(why)) !=
            SQLITE_OK) {
        dsb_error_set(err, DSB_E_CONFIG, "cannot open the job store %s: %s",
                      path, why);
        goto fail;
    }
    j->lease_ms = c->lease_ms;
    if (dsb_statedb_migrate(j->db, &store, NULL, why, sizeof(why)) !=
        SQLITE_OK) {
        dsb_error_set(err, DSB_E_CONFIG, "cannot prepare the job store %s: %s",
                      path, why);
        goto fail;
    }
    return j;
fail:
    sq_close(j);
    return NULL;
}

static json_t *num_or_zero(const json_t *doc, const char *key)
{
    return json_object_get(doc, key);
}

/* The owner of job id (malloc'd), or NULL. */
static char *owner_of(struct sqlite_jstore *j, const char *id)
{
    sqlite3_stmt *st = NULL;
    char *owner = NULL;

    if (sqlite3_prepare_v2(j->db, "SELECT owner FROM jobs WHERE id = ?", -1,
                           &st, NULL) != SQLITE_OK)
        return NULL;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        owner = strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return owner;
}

/* DSB_E_CONFLICT for a put on a job another replica owns. */
static int not_owner(struct sqlite_jstore *j, const char *id,
                     struct dsb_error *err)
{
    char *owner = owner_of(j, id);

    dsb_error_set(err, DSB_E_CONFLICT,
                  "job %s is tracked by replica %s, not by this one (%s): "
                  "its record was left as it is",
                  id, owner ? owner : "(unknown)", j->replica);
    free(owner);
    return -1;
}

/* Writes record doc as this replica's: a new one, or one it or nobody
 * owns (any owner when force: a dequeue). */
static int put_as(struct sqlite_jstore *j, const json_t *doc, int force,
                  struct dsb_error *err)
{
    static const char sql[] =
        "INSERT INTO jobs(id, session_id, state, executor, created_ms, "
        "updated_ms, doc, owner, lease_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT(id) DO UPDATE SET session_id = excluded.session_id, "
        "state = excluded.state, executor = excluded.executor, created_ms = "
        "excluded.created_ms, updated_ms = excluded.updated_ms, doc = "
        "excluded.doc, owner = excluded.owner, lease_ms = excluded.lease_ms, "
        "cancel_req = jobs.cancel_req AND excluded.state IN ('pending', "
        "'running') WHERE ? OR jobs.owner IS NULL OR jobs.owner = "
        "excluded.owner";
    const char *id = dsb_job_str(doc, "id", NULL);
    sqlite3_stmt *st = NULL;
    char *text = json_dumps(doc, JSON_COMPACT);
    int rc = -1;

    if (!text || sqlite3_prepare_v2(j->db, sql, -1, &st, NULL) != SQLITE_OK)
        goto done;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
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
    sqlite3_bind_text(st, 8, j->replica, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 9, dsb_wall_ms() + j->lease_ms);
    sqlite3_bind_int(st, 10, force);
    rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    if (rc == 0 && sqlite3_changes(j->db) == 0) {
        sqlite3_finalize(st);
        free(text);
        return not_owner(j, id, err);
    }
done:
    if (rc < 0)
        dsb_error_set(err, DSB_E_INTERNAL, "cannot write the job record: %s",
                      sqlite3_errmsg(j->db));
    sqlite3_finalize(st);
    free(text);
    return rc;
}

static int sq_put(void *h, const json_t *doc, struct dsb_error *err)
{
    return put_as(h, doc, 0, err);
}

/* The record of a row of (doc, owner, cancel_req), its owner shown. */
static json_t *row_doc(sqlite3_stmt *st)
{
    const char *text = (const char *)sqlite3_column_text(st, 0);
    json_t *doc = text ? json_loads(text, 0, NULL) : NULL;

    dsb_jstore_show(doc, (const char *)sqlite3_column_text(st, 1),
                    sqlite3_column_int(st, 2));
    return doc;
}

static json_t *sq_get(void *h, const char *id)
{
    struct sqlite_jstore *j = h;

    sqlite3_stmt *st = NULL;
    json_t *doc = NULL;

    if (sqlite3_prepare_v2(
            j->db, "SELECT doc, owner, cancel_req FROM jobs WHERE id = ?", -1,
            &st, NULL) != SQLITE_OK)
        return NULL;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        doc = row_doc(st);
    sqlite3_finalize(st);
    return doc;
}

static json_t *sq_list(void *h, const char *session_id)
{
    struct sqlite_jstore *j = h;
    static const char by_session[] =
        "SELECT doc, owner, cancel_req FROM jobs WHERE session_id = ? "
        "ORDER BY created_ms DESC, id DESC";
    static const char active[] =
        "SELECT doc, owner, cancel_req FROM jobs WHERE state IN " ACTIVE
        " AND owner = ? ORDER BY created_ms";
    sqlite3_stmt *st = NULL;
    json_t *items = json_array();

    if (!items || sqlite3_prepare_v2(j->db, session_id ? by_session : active,
                                     -1, &st, NULL) != SQLITE_OK)
        return items;
    sqlite3_bind_text(st, 1, session_id ? session_id : j->replica, -1,
                      SQLITE_STATIC);
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

static struct dsb_jactive *sq_active(void *h, size_t *n)
{
    struct sqlite_jstore *j = h;
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

/* Runs sql with the job id and up to two more texts bound (as many as it
 * has parameters); SQLITE_DONE on
 * success. */
static int run(struct sqlite_jstore *j, const char *sql, const char *id,
               const char *a, const char *b)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(j->db, sql, -1, &st, NULL);

    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        if (sqlite3_bind_parameter_count(st) >= 2)
            sqlite3_bind_text(st, 2, a, -1, SQLITE_STATIC);
        if (sqlite3_bind_parameter_count(st) >= 3)
            sqlite3_bind_text(st, 3, b, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    return rc;
}

/* Ends the transaction: COMMIT when rc is 0, else ROLLBACK. */
static int finish_tx(struct sqlite_jstore *j, int rc, struct dsb_error *err)
{
    if (rc == 0 && sqlite3_exec(j->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
        return 0;
    if (rc == 0)
        dsb_error_set(err, DSB_E_INTERNAL, "cannot write the job queue: %s",
                      sqlite3_errmsg(j->db));
    sqlite3_exec(j->db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

static int begin_tx(struct sqlite_jstore *j, struct dsb_error *err)
{
    if (sqlite3_exec(j->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK)
        return 0;
    return dsb_error_set(err, DSB_E_INTERNAL, "cannot write the job queue: %s",
                         sqlite3_errmsg(j->db));
}

static int sq_enqueue(void *h, const json_t *doc, const char *code,
                      const char *entry_point, struct dsb_error *err)
{
    struct sqlite_jstore *j = h;
    static const char sql[] =
        "INSERT INTO job_queue(id, code, entry_point) VALUES (?, ?, ?)";
    int rc;

    if (begin_tx(j, err) < 0)
        return -1;
    rc = put_as(j, doc, 0, err);
    if (rc == 0 && run(j, sql, dsb_job_str(doc, "id", NULL), code,
                       entry_point) != SQLITE_DONE)
        rc = dsb_error_set(err, DSB_E_INTERNAL, "cannot queue the job: %s",
                           sqlite3_errmsg(j->db));
    return finish_tx(j, rc, err);
}

/* The queued request of job id into *code and *entry_point (may be NULL);
 * -1 when the job is not queued or memory runs out. */
static int queued_request(struct sqlite_jstore *j, const char *id, char **code,
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

static int sq_dequeue(void *h, const json_t *doc, char **code,
                      char **entry_point, struct dsb_error *err)
{
    struct sqlite_jstore *j = h;
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
        rc = put_as(j, doc, 1, err);
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

static int sq_is_queued(void *h, const char *id)
{
    struct sqlite_jstore *j = h;

    return run(j, "SELECT 1 FROM job_queue WHERE id = ?", id, NULL, NULL) ==
           SQLITE_ROW;
}

static int sq_any_queued(void *h)
{
    struct sqlite_jstore *j = h;

    sqlite3_stmt *st = NULL;
    int any = 0;

    if (sqlite3_prepare_v2(j->db, "SELECT 1 FROM job_queue LIMIT 1", -1, &st,
                           NULL) == SQLITE_OK)
        any = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    return any;
}

/* ---------------------------------------------------------------- leases */

/* The first column of sql's rows (texts; ?1 the replica) appended to arr;
 * -1 when the statement fails. */
static int ids_into(struct sqlite_jstore *j, const char *sql, json_t *arr)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (sqlite3_prepare_v2(j->db, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, j->replica, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        json_array_append_new(
            arr, json_string((const char *)sqlite3_column_text(st, 0)));
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* Takes the jobs sql (?1 replica, ?2 now, ?3 at_start) selects as
 * (id, owner, doc, cancel_req) into taken. */
static int take(struct sqlite_jstore *j, const char *sql, int64_t now,
                int at_start, json_t *taken)
{
    sqlite3_stmt *st = NULL;
    json_t *ids = json_array(), *v;
    size_t i;
    int rc;

    if (!ids || sqlite3_prepare_v2(j->db, sql, -1, &st, NULL) != SQLITE_OK) {
        json_decref(ids);
        return -1;
    }
    sqlite3_bind_text(st, 1, j->replica, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, now);
    sqlite3_bind_int(st, 3, at_start);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *from = (const char *)sqlite3_column_text(st, 1);
        const char *text = (const char *)sqlite3_column_text(st, 2);
        json_t *doc = text ? json_loads(text, 0, NULL) : NULL;

        if (!doc)
            continue;
        dsb_jstore_show(doc, j->replica, sqlite3_column_int(st, 3));
        json_array_append_new(
            taken, json_pack("{s:s?, s:o}", "from", from, "doc", doc));
        json_array_append_new(
            ids, json_string((const char *)sqlite3_column_text(st, 0)));
    }
    sqlite3_finalize(st);
    json_array_foreach(ids, i, v)
    {
        if (rc == SQLITE_DONE &&
            run(j, "UPDATE jobs SET owner = ?2 WHERE id = ?1",
                json_string_value(v), j->replica, NULL) != SQLITE_DONE)
            rc = SQLITE_ERROR;
    }
    json_decref(ids);
    return rc == SQLITE_DONE ? 0 : -1;
}

static int sq_claim(void *h, int at_start, json_t **out, struct dsb_error *err)
{
    struct sqlite_jstore *j = h;
    static const char candidates[] =
        "SELECT j.id, j.owner, j.doc, j.cancel_req FROM jobs j WHERE "
        "j.state IN " ACTIVE " AND NOT EXISTS (SELECT 1 FROM job_queue q "
        "WHERE q.id = j.id) AND (?3 OR j.owner IS NULL OR (j.owner <> ?1 "
        "AND j.lease_ms < ?2)) ORDER BY j.created_ms";
    int64_t now = dsb_wall_ms();
    char until[24];
    json_t *taken = json_array(), *cancel = json_array(), *owned = json_array();
    int rc;

    *out = NULL;
    snprintf(until, sizeof(until), "%lld", (long long)(now + j->lease_ms));
    if (!taken || !cancel || !owned) {
        rc = dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
        goto done;
    }
    if ((rc = begin_tx(j, err)) < 0)
        goto done;
    rc = take(j, candidates, now, at_start, taken);
    if (rc == 0 &&
        run(j,
            "UPDATE jobs SET lease_ms = CAST(?2 AS INTEGER) WHERE owner = "
            "?1 AND state IN " ACTIVE,
            j->replica, until, NULL) != SQLITE_DONE)
        rc = -1;
    if (rc == 0)
        rc = ids_into(j,
                      "SELECT id FROM jobs WHERE owner = ?1 AND cancel_req AND "
                      "state IN ('pending', 'running') ORDER BY created_ms",
                      cancel);
    if (rc == 0)
        rc =
            ids_into(j,
                     "SELECT id FROM jobs WHERE owner = ?1 AND state IN " ACTIVE
                     " ORDER BY created_ms",
                     owned);
    if (rc < 0)
        dsb_error_set(err, DSB_E_INTERNAL, "cannot claim jobs: %s",
                      sqlite3_errmsg(j->db));
    rc = finish_tx(j, rc, err);
done:
    if (rc == 0)
        *out = json_pack("{s:o, s:o, s:o}", "taken", taken, "cancel", cancel,
                         "owned", owned);
    else {
        json_decref(taken);
        json_decref(cancel);
        json_decref(owned);
    }
    return *out ? 0 : -1;
}

static void sq_release(void *h)
{
    struct sqlite_jstore *j = h;

    run(j, "UPDATE jobs SET lease_ms = 0 WHERE owner = ?", j->replica, NULL,
        NULL);
}

static int sq_request_cancel(void *h, const char *id, struct dsb_error *err)
{
    struct sqlite_jstore *j = h;
    json_t *doc;
    int rc;

    if (run(j,
            "UPDATE jobs SET cancel_req = 1 WHERE id = ? AND state IN "
            "('pending', 'running')",
            id, NULL, NULL) != SQLITE_DONE)
        return dsb_error_set(err, DSB_E_INTERNAL,
                             "cannot record the cancel request: %s",
                             sqlite3_errmsg(j->db));
    if (sqlite3_changes(j->db) > 0)
        return 0;
    doc = sq_get(j, id);
    if (!doc)
        rc = dsb_error_set(err, DSB_E_NOT_FOUND, "no job \"%s\"", id);
    else if (dsb_job_is_final(dsb_job_str(doc, "state", NULL)))
        rc = dsb_error_set(err, DSB_E_CONFLICT, "job %s is already %s", id,
                           dsb_job_str(doc, "state", NULL));
    else
        rc = 0; /* cancelling already */
    json_decref(doc);
    return rc;
}

sqlite3 *dsb_jstore_sqlite_db(void *h)
{
    return ((struct sqlite_jstore *)h)->db;
}

const struct dsb_jstore_ops dsb_jstore_sqlite_ops = {
    .open = sq_open,
    .close = sq_close,
    .put = sq_put,
    .get = sq_get,
    .list = sq_list,
    .active = sq_active,
    .enqueue = sq_enqueue,
    .dequeue = sq_dequeue,
    .is_queued = sq_is_queued,
    .any_queued = sq_any_queued,
    .claim = sq_claim,
    .release = sq_release,
    .request_cancel = sq_request_cancel,
};
