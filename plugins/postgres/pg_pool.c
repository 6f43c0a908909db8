/*
 * Connections: a bounded pool per (source, database), connect with a
 * deadline, statements with a deadline, libpq errors mapped into dsb_error.
 *
 * Liveness: a pooled connection is checked before reuse without a round
 * trip (PQstatus, then a zero-timeout poll of its socket: an idle connection
 * has nothing to read unless the server closed it or said goodbye).  If a
 * statement still fails on a reused connection because the connection broke
 * (server restart), the connection is dropped and the statement retried
 * once on a new one.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pg_int.h"

int pg_pool_init(struct pg_source *s)
{
    pthread_condattr_t attr;
    int rc;

    if (pthread_mutex_init(&s->mu, NULL) != 0)
        return -1;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    rc = pthread_cond_init(&s->cv, &attr);
    pthread_condattr_destroy(&attr);
    if (rc != 0)
        pthread_mutex_destroy(&s->mu);
    return rc ? -1 : 0;
}

void pg_pool_destroy(struct pg_source *s)
{
    struct pg_pool *p, *pn;
    struct pg_conn *c, *cn;

    for (p = s->pools; p; p = pn) {
        pn = p->next;
        for (c = p->idle; c; c = cn) {
            cn = c->next;
            PQfinish(c->pg);
            free(c);
        }
        free(p->database);
        free(p);
    }
    s->pools = NULL;
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
}

/* ------------------------------------------------------------- errors */

struct pg_state_map {
    const char *prefix; /* SQLSTATE or its class */
    int code;
    int retryable;
};

static const struct pg_state_map pg_states[] = {
    {"42P01", DSB_E_NOT_FOUND, 0}, {"3F000", DSB_E_NOT_FOUND, 0},
    {"3D000", DSB_E_NOT_FOUND, 0}, {"42501", DSB_E_PERMISSION, 0},
    {"57014", DSB_E_TIMEOUT, 1},   {"53300", DSB_E_THROTTLED, 1},
    {"40001", DSB_E_UPSTREAM, 1},  {"40P01", DSB_E_UPSTREAM, 1},
    {"28", DSB_E_AUTH, 0},         {"08", DSB_E_UNAVAILABLE, 1},
    {"57P", DSB_E_UNAVAILABLE, 1}, {"53", DSB_E_UNAVAILABLE, 1},
    {"", DSB_E_UPSTREAM, 0},
};

static void pg_error_code(const char *sqlstate, struct dsb_error *err)
{
    for (const struct pg_state_map *m = pg_states;; m++) {
        if (!strncmp(sqlstate, m->prefix, strlen(m->prefix))) {
            err->code = m->code;
            err->retryable = m->retryable;
            return;
        }
    }
}

static void pg_copy_line(char *dst, size_t cap, const char *src)
{
    size_t n = src ? strcspn(src, "\n") : 0;

    if (n >= cap)
        n = cap - 1;
    if (n)
        memcpy(dst, src, n);
    dst[n] = '\0';
}

/* Maps a failed result field by field.  A failure without SQLSTATE is a
 * broken connection: DSB_E_UNAVAILABLE, retryable.  Returns -1. */
int pg_error_from_result(const PGresult *res, struct dsb_error *err)
{
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);

    dsb_error_clear(err);
    if (!state) {
        dsb_error_set(err, DSB_E_UNAVAILABLE, "connection to the server lost");
        pg_copy_line(err->detail, sizeof(err->detail),
                     PQresultErrorMessage(res));
        err->retryable = 1;
        return -1;
    }
    pg_error_code(state, err);
    snprintf(err->upstream, sizeof(err->upstream), "%s", state);
    pg_copy_line(err->message, sizeof(err->message),
                 primary ? primary : "the server reported an error");
    pg_copy_line(err->detail, sizeof(err->detail),
                 PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL));
    pg_copy_line(err->hint, sizeof(err->hint),
                 PQresultErrorField(res, PG_DIAG_MESSAGE_HINT));
    return -1;
}

/*
 * Maps a failed connection.  libpq keeps no error fields for connection
 * failures, so connections are made with PQERRORS_VERBOSE, which writes
 * "FATAL:  28P01: message" into the error text; the SQLSTATE is read from
 * there.  Without one (refused, unreachable, TLS) the source is unavailable.
 */
static int pg_error_from_conn(PGconn *c, const char *where,
                              struct dsb_error *err)
{
    const char *msg = PQerrorMessage(c), *f = strstr(msg, "FATAL:  ");
    const char *nl;

    dsb_error_clear(err);
    if (f && strlen(f) > 15 && f[13] == ':' && f[14] == ' ') {
        snprintf(err->upstream, sizeof(err->upstream), "%.5s", f + 8);
        pg_error_code(err->upstream, err);
        pg_copy_line(err->message, sizeof(err->message), f + 15);
        if ((nl = strstr(f, "\nDETAIL:  ")))
            pg_copy_line(err->detail, sizeof(err->detail), nl + 10);
        if ((nl = strstr(f, "\nHINT:  ")))
            pg_copy_line(err->hint, sizeof(err->hint), nl + 8);
        return -1;
    }
    dsb_error_set(err, DSB_E_UNAVAILABLE, "cannot connect to %s", where);
    err->retryable = 1;
    pg_copy_line(err->detail, sizeof(err->detail), msg);
    return -1;
}

/* ----------------------------------------------------------- waiting */

static int64_t pg_remaining(const struct pg_source *s, int64_t deadline)
{
    int64_t left = deadline - s->host->monotonic_ms();

    return left < 0 ? 0 : left;
}

/* Waits until the socket is ready for `events` or the deadline passes.
 * Returns 1 ready, 0 timed out, -1 error. */
static int pg_wait_socket(const struct pg_source *s, PGconn *c, short events,
                          int64_t deadline)
{
    struct pollfd p = {PQsocket(c), events, 0};
    int rc;

    if (p.fd < 0)
        return -1;
    do {
        int64_t left = pg_remaining(s, deadline);
        rc = poll(&p, 1, left > 60000 ? 60000 : (int)left);
    } while (rc < 0 && errno == EINTR);
    return rc < 0 ? -1 : rc > 0;
}

/* --------------------------------------------------------- connecting */

/* The server settings of every session: read-only, bounded statements,
 * catalog names unqualified, stable text for dates, no JIT (compiling the
 * catalog queries costs more than running them). */
static void pg_session_options(const struct pg_config *c, char *buf, size_t len)
{
    snprintf(buf, len,
             "-c default_transaction_read_only=on -c statement_timeout=%d "
             "-c search_path=pg_catalog -c DateStyle=ISO,YMD -c TimeZone=UTC "
             "-c jit=off",
             c->statement_timeout_ms);
}

/* libpq keyword/value arrays, NULL-terminated; NULL values are left out. */
struct pg_kv {
    const char *kw[16];
    const char *val[16];
    int n;
};

static void pg_kv_add(struct pg_kv *kv, const char *k, const char *v)
{
    if (v && kv->n < 15) {
        kv->kw[kv->n] = k;
        kv->val[kv->n++] = v;
    }
    kv->kw[kv->n] = kv->val[kv->n] = NULL;
}

/* The connection parameters for login l to database db (NULL: the login's
 * database).  Borrows every string; `options` must outlive kv. */
static void pg_conn_params(const struct pg_source *s, const struct pg_login *l,
                           const char *db, const char *options,
                           struct pg_kv *kv)
{
    const struct pg_config *c = &s->cfg;

    kv->n = 0;
    pg_kv_add(kv, "host", l->host);
    pg_kv_add(kv, "port", l->port);
    pg_kv_add(kv, "dbname", db ? db : l->dbname);
    pg_kv_add(kv, "user", l->user);
    pg_kv_add(kv, "password", l->password);
    pg_kv_add(kv, "sslmode", c->sslmode);
    pg_kv_add(kv, "sslrootcert", c->sslrootcert);
    pg_kv_add(kv, "application_name", c->application_name);
    pg_kv_add(kv, "client_encoding", "UTF8");
    pg_kv_add(kv, "gssencmode", "disable");
    pg_kv_add(kv, "options", options);
}

/* Drives PQconnectPoll until done or the deadline. 0 ok, -1 failed,
 * -2 timed out. */
static int pg_connect_poll(const struct pg_source *s, PGconn *c,
                           int64_t deadline)
{
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;

    for (;;) {
        if (st == PGRES_POLLING_OK)
            return 0;
        if (st == PGRES_POLLING_FAILED)
            return -1;
        int r = pg_wait_socket(
            s, c, st == PGRES_POLLING_READING ? POLLIN : POLLOUT, deadline);
        if (r == 0)
            return -2;
        if (r < 0)
            return -1;
        st = PQconnectPoll(c);
    }
}

/* One connection attempt with the given login, within connect_timeout_ms
 * and the call's deadline.  NULL with err set. */
static PGconn *pg_connect_once(struct pg_source *s, const struct pg_login *l,
                               const char *db, int64_t deadline,
                               struct dsb_error *err)
{
    int64_t bound = s->host->monotonic_ms() + s->cfg.connect_timeout_ms;
    struct pg_kv kv;
    char options[256], where[300];
    PGconn *c;
    int rc;

    deadline = bound < deadline ? bound : deadline;
    pg_session_options(&s->cfg, options, sizeof(options));
    pg_conn_params(s, l, db, options, &kv);
    snprintf(where, sizeof(where), "%s:%s", l->host, l->port);
    c = PQconnectStartParams(kv.kw, kv.val, 0);
    if (!c) {
        dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
        return NULL;
    }
    PQsetErrorVerbosity(c, PQERRORS_VERBOSE);
    rc = PQstatus(c) == CONNECTION_BAD ? -1 : pg_connect_poll(s, c, deadline);
    if (rc == 0) {
        PQsetErrorVerbosity(c, PQERRORS_DEFAULT);
        return c;
    }
    if (rc == -2) {
        dsb_error_set(err, DSB_E_TIMEOUT, "connecting to %s timed out", where);
        err->retryable = 1;
    } else {
        pg_error_from_conn(c, where, err);
    }
    PQfinish(c);
    return NULL;
}

/*
 * Opens a connection to db.  On an authentication failure the secrets are
 * read again once (they may have been rotated) before giving up.
 */
static PGconn *pg_connect(struct pg_source *s, struct dsb_call *call,
                          const char *db, int64_t deadline,
                          struct dsb_error *err)
{
    struct pg_login l;
    PGconn *c = NULL;

    for (int attempt = 0; attempt < 2 && !c; attempt++) {
        if (attempt) {
            DSB_CALL_INFO(s->host, call,
                          "authentication refused; reading "
                          "the credentials again");
            pg_login_invalidate(s);
        }
        if (pg_login_get(s, &l, err) < 0)
            return NULL;
        c = pg_connect_once(s, &l, db, deadline, err);
        pg_login_free(s, &l);
        if (!c && err->code != DSB_E_AUTH)
            break;
    }
    return c;
}

/* -------------------------------------------------------------- pool */

static struct pg_pool *pg_pool_find(struct pg_source *s, const char *db)
{
    struct pg_pool *p;

    for (p = s->pools; p; p = p->next) {
        if (!strcmp(p->database, db))
            return p;
    }
    if (!(p = calloc(1, sizeof(*p))) || !(p->database = strdup(db))) {
        free(p);
        return NULL;
    }
    p->next = s->pools;
    s->pools = p;
    return p;
}

/* Closes the pool's idle connections unused for longer than the idle
 * timeout.  Called with s->mu held. */
static void pg_pool_reap(struct pg_source *s, struct pg_pool *p, int64_t now)
{
    struct pg_conn **link = &p->idle, *c;

    while ((c = *link)) {
        if (now - c->last_used_ms < s->cfg.pool_idle_ms) {
            link = &c->next;
            continue;
        }
        *link = c->next;
        PQfinish(c->pg);
        free(c);
        p->n_open--;
    }
}

/* Reaps the pools of every database of the source, so that a database
 * never asked about again keeps no connection open.  Called with s->mu
 * held on every take and put. */
static void pg_pools_reap(struct pg_source *s)
{
    int64_t now = s->host->monotonic_ms();

    for (struct pg_pool *p = s->pools; p; p = p->next)
        pg_pool_reap(s, p, now);
}

/* Zero-round-trip liveness check of an idle connection. */
static int pg_conn_alive(PGconn *c)
{
    struct pollfd p = {PQsocket(c), POLLIN, 0};

    for (int i = 0; i < 3; i++) {
        if (PQstatus(c) != CONNECTION_OK ||
            PQtransactionStatus(c) != PQTRANS_IDLE || p.fd < 0)
            return 0;
        if (poll(&p, 1, 0) == 0)
            return 1;
        if (!PQconsumeInput(c))
            return 0;
    }
    return 0;
}

static void pg_abs_time(const struct pg_source *s, int64_t deadline,
                        struct timespec *ts)
{
    int64_t left = pg_remaining(s, deadline);

    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += left / 1000;
    ts->tv_nsec += (left % 1000) * 1000000;
    if (ts->tv_nsec >= 1000000000) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000;
    }
}

/* Takes an idle connection or a slot for a new one, waiting for either
 * until the deadline.  Called with s->mu held; returns the idle connection,
 * or NULL with *slot = 1 (open a new one) or *slot = 0 (timed out). */
static struct pg_conn *pg_pool_take(struct pg_source *s, struct pg_pool *p,
                                    int64_t deadline, int *slot)
{
    struct timespec ts;

    *slot = 0;
    pg_abs_time(s, deadline, &ts);
    for (;;) {
        pg_pools_reap(s);
        if (p->idle) {
            struct pg_conn *c = p->idle;
            p->idle = c->next;
            return c;
        }
        if (p->n_open < s->cfg.pool_size) {
            p->n_open++;
            *slot = 1;
            return NULL;
        }
        if (pthread_cond_timedwait(&s->cv, &s->mu, &ts) == ETIMEDOUT)
            return NULL;
    }
}

/* Gives a slot (and maybe its connection) back.  Called without s->mu. */
static void pg_pool_put(struct pg_source *s, struct pg_conn *c, int keep)
{
    struct pg_pool *p = c->pool;

    pthread_mutex_lock(&s->mu);
    pg_pools_reap(s);
    if (keep) {
        c->last_used_ms = s->host->monotonic_ms();
        c->reused = 1;
        c->next = p->idle;
        p->idle = c;
    } else {
        p->n_open--;
    }
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    if (!keep) {
        PQfinish(c->pg);
        free(c);
    }
}

/* Opens a connection in a slot already counted in p->n_open; gives the
 * slot back when that fails. */
static struct pg_conn *pg_pool_open(struct pg_source *s, struct dsb_call *call,
                                    struct pg_pool *p, int64_t deadline,
                                    struct dsb_error *err)
{
    struct pg_conn *c = calloc(1, sizeof(*c));

    if (!c) {
        dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
        goto fail;
    }
    c->pool = p;
    if (!(c->pg = pg_connect(s, call, p->database, deadline, err)))
        goto fail;
    return c;
fail:
    free(c);
    pthread_mutex_lock(&s->mu);
    p->n_open--;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/*
 * A live connection to db: an idle one that passes the liveness check, else
 * a new one (also when `fresh`).  Waits for a free slot until the deadline.
 * NULL with err set.
 */
static struct pg_conn *pg_pool_get(struct pg_source *s, struct dsb_call *call,
                                   const char *db, int64_t deadline, int fresh,
                                   struct dsb_error *err)
{
    struct pg_pool *p;
    struct pg_conn *c = NULL;
    int slot = 0;

    pthread_mutex_lock(&s->mu);
    p = pg_pool_find(s, db);
    if (p)
        c = pg_pool_take(s, p, deadline, &slot);
    pthread_mutex_unlock(&s->mu);
    if (!p)
        return dsb_error_set(err, DSB_E_INTERNAL, "out of memory"), NULL;
    if (c && !fresh && pg_conn_alive(c->pg))
        return c;
    if (c) { /* dead or unwanted: reuse its slot for a new connection */
        PQfinish(c->pg);
        free(c);
        slot = 1;
    }
    if (!slot) {
        dsb_error_set(err, DSB_E_TIMEOUT,
                      "no free connection to database \"%s\" in time", db);
        dsb_error_hint(err, "raise pool_size or the call's timeout");
        err->retryable = 1;
        return NULL;
    }
    return pg_pool_open(s, call, p, deadline, err);
}

static json_t *pg_pool_entry(const struct pg_pool *p)
{
    int idle = 0;

    for (const struct pg_conn *c = p->idle; c; c = c->next)
        idle++;
    return json_pack("{s:i, s:i}", "open", p->n_open, "idle", idle);
}

json_t *pg_pool_report(struct pg_source *s)
{
    json_t *out = json_object();

    pthread_mutex_lock(&s->mu);
    for (struct pg_pool *p = s->pools; out && p; p = p->next) {
        if (json_object_set_new(out, p->database, pg_pool_entry(p)) < 0) {
            json_decref(out);
            out = NULL;
        }
    }
    pthread_mutex_unlock(&s->mu);
    return out;
}

/* ---------------------------------------------------------- statements */

static void pg_cancel(PGconn *c)
{
    PGcancel *k = PQgetCancel(c);
    char buf[256];

    if (k) {
        PQcancel(k, buf, sizeof(buf));
        PQfreeCancel(k);
    }
}

/* Marks the connection broken and err as a lost connection.  NULL. */
static PGresult *pg_exec_lost(PGconn *c, int *broken, struct dsb_error *err)
{
    *broken = 1;
    dsb_error_set(err, DSB_E_UNAVAILABLE, "connection to the server lost");
    pg_copy_line(err->detail, sizeof(err->detail), PQerrorMessage(c));
    err->retryable = 1;
    return NULL;
}

/* Reads input until the result is complete.  0 done, -1 connection lost,
 * -2 the deadline passed. */
static int pg_exec_wait(const struct pg_source *s, PGconn *c, int64_t deadline)
{
    while (PQisBusy(c)) {
        int w = pg_wait_socket(s, c, POLLIN, deadline);
        if (w == 0)
            return -2;
        if (w < 0 || !PQconsumeInput(c))
            return -1;
    }
    return 0;
}

/* The first result of the statement; the others are drained. */
static PGresult *pg_exec_result(PGconn *c)
{
    PGresult *res = NULL, *r;

    while ((r = PQgetResult(c))) {
        if (res)
            PQclear(r);
        else
            res = r;
    }
    return res;
}

/* Sends the statement and collects its result within the deadline.  On
 * timeout the statement is cancelled and *broken set (the connection is
 * then not reused).  NULL with err set on failure. */
static PGresult *pg_exec(struct pg_source *s, PGconn *c, int64_t deadline,
                         const char *sql, int n, const char *const *params,
                         int *broken, struct dsb_error *err)
{
    PGresult *res;
    int w;

    if (!PQsendQueryParams(c, sql, n, NULL, params, NULL, NULL, 0))
        return pg_exec_lost(c, broken, err);
    if ((w = pg_exec_wait(s, c, deadline)) == -2) {
        pg_cancel(c);
        *broken = 1;
        dsb_error_set(err, DSB_E_TIMEOUT, "the server did not answer in time");
        err->retryable = 1;
        return NULL;
    }
    if (w < 0 || !(res = pg_exec_result(c)))
        return pg_exec_lost(c, broken, err);
    if (PQresultStatus(res) == PGRES_TUPLES_OK ||
        PQresultStatus(res) == PGRES_COMMAND_OK)
        return res;
    pg_error_from_result(res, err);
    PQclear(res);
    *broken = PQstatus(c) != CONNECTION_OK;
    return NULL;
}

static int64_t pg_deadline(const struct pg_source *s, struct dsb_call *call)
{
    int64_t d = call ? s->host->call_deadline_ms(call) : 0;
    int64_t cap = s->host->monotonic_ms() + s->cfg.connect_timeout_ms +
                  s->cfg.statement_timeout_ms;

    return d > 0 && d < cap ? d : cap;
}

/* The default database when dbname is not configured: the credentials'
 * dbname, else "postgres". */
static int pg_default_db(struct pg_source *s, char *buf, size_t len,
                         struct dsb_error *err)
{
    struct pg_login l;

    if (pg_login_get(s, &l, err) < 0)
        return -1;
    snprintf(buf, len, "%s", l.dbname);
    pg_login_free(s, &l);
    return 0;
}

PGresult *pg_query(struct pg_source *s, struct dsb_call *call,
                   const char *database, const char *sql, int n_params,
                   const char *const *params, struct dsb_error *err)
{
    int64_t deadline = pg_deadline(s, call);
    const char *db = database ? database : s->cfg.dbname;
    PGresult *res = NULL;
    char dflt[PG_NAME_MAX + 1];

    if (!db && pg_default_db(s, dflt, sizeof(dflt), err) < 0)
        return NULL;
    db = db ? db : dflt;
    for (int attempt = 0; attempt < 2 && !res; attempt++) {
        struct pg_conn *c = pg_pool_get(s, call, db, deadline, attempt, err);
        int broken = 0, reused;
        if (!c)
            return NULL;
        reused = c->reused;
        res = pg_exec(s, c->pg, deadline, sql, n_params, params, &broken, err);
        pg_pool_put(s, c, !broken);
        if (!res && !(broken && reused && err->code == DSB_E_UNAVAILABLE))
            break;
    }
    return res;
}
