/* Events between replicas: LISTEN on a connection of its own, woken by
 * its socket or by the stop pipe, never by a timer but the reconnect
 * backoff's. */
#include "replica.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "log.h"
#include "secrets.h"
#include "util.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000

static char replica_id[160];
static pthread_once_t id_once = PTHREAD_ONCE_INIT;

int dsb_replica_new_id(char *buf, size_t len)
{
    char host[64] = "", rnd[9];
    size_t n = 0;

    if (dsb_random_hex(rnd, 4) < 0)
        return -1;
    if (gethostname(host, sizeof(host) - 1) < 0)
        host[0] = '\0';
    host[sizeof(host) - 1] = '\0';
    for (char *h = host; *h && n < 40; h++)
        if ((*h >= 'a' && *h <= 'z') || (*h >= 'A' && *h <= 'Z') ||
            (*h >= '0' && *h <= '9') || *h == '-' || *h == '.')
            host[n++] = *h;
    host[n] = '\0';
    snprintf(buf, len, "%s-%ld-%s", n ? host : "broker", (long)getpid(), rnd);
    return 0;
}

/* No randomness at all leaves "broker-PID-0" rather than no id: the
 * process's id is needed before any error could be reported. */
static void make_id(void)
{
    if (dsb_replica_new_id(replica_id, sizeof(replica_id)) < 0)
        snprintf(replica_id, sizeof(replica_id), "broker-%ld-0",
                 (long)getpid());
}

const char *dsb_replica_id(void)
{
    pthread_once(&id_once, make_id);
    return replica_id;
}

void dsb_replica_id_set(const char *id)
{
    pthread_once(&id_once, make_id);
    snprintf(replica_id, sizeof(replica_id), "%s", id);
}

char *dsb_replica_event(const char *kind, const char *source)
{
    json_t *e = json_pack("{s:i, s:s, s:s, s:s?}", "v", 1, "origin",
                          dsb_replica_id(), "kind", kind, "source", source);
    char *text = e ? json_dumps(e, JSON_COMPACT) : NULL;

    json_decref(e);
    return text;
}

struct dsb_listener {
    char *url, *password;
    struct dsb_listener_calls calls;
    PGconn *conn;
    int64_t wait_ms; /* how long the first connection waits for the id */
    int stop_pipe[2];
    pthread_t thread;
    int started;
    struct dsb_listener *next; /* the next of `running` */
};

/*
 * The running listeners.  A process that exits without stopping one (a
 * test leaving its server, exit() on a fatal error) would have the thread
 * reconnect while the libraries libpq uses (OpenSSL, Kerberos) are torn
 * down by their exit handlers: an exit handler of ours, registered after
 * theirs (a listener starts after the store's connections), so run
 * before them, stops every running listener first.
 */
static pthread_mutex_t running_mu = PTHREAD_MUTEX_INITIALIZER;
static struct dsb_listener *running;
static pthread_once_t exit_once = PTHREAD_ONCE_INIT;

static void quiet(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/*
 * The replica id's lock: a session-level advisory lock on the events
 * connection, keyed by ID_LOCK_CLASS and 31 bits of FNV-1a of the id, so
 * two live processes given the same state.replica_id cannot both run (they
 * would both renew, track and cancel the same jobs).  The server releases
 * it when the connection ends: at once when a process dies on the
 * database's host or its own (the kernel closes the socket), else after
 * the server's TCP keepalive.
 */
#define ID_LOCK_CLASS "1685283442" /* "dsbr" */

static void id_lock_key(char out[16])
{
    uint32_t h = 2166136261u;

    for (const char *c = dsb_replica_id(); *c; c++)
        h = (h ^ (unsigned char)*c) * 16777619u;
    snprintf(out, 16, "%u", (unsigned)(h & 0x7fffffffu));
}

/* Who holds the id's lock, as "(PostgreSQL backend pid N, from ADDR,
 * connected since T)", into why; nothing when it cannot be read. */
static void id_lock_holder(PGconn *c, const char *key, char *why, size_t len)
{
    const char *sql =
        "SELECT a.pid, coalesce(host(a.client_addr), 'a local socket'), "
        "to_char(a.backend_start AT TIME ZONE 'UTC', "
        "'YYYY-MM-DD HH24:MI:SS \"UTC\"') "
        "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 "
        "AND l.classid = " ID_LOCK_CLASS "::oid AND l.objid = $1::oid "
        "AND l.database = (SELECT oid FROM pg_database "
        "WHERE datname = current_database())";
    const char *v[] = {key};
    PGresult *r = PQexecParams(c, sql, 1, NULL, v, NULL, NULL, 0);

    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
        snprintf(why, len,
                 " (PostgreSQL backend pid %s, from %s, connected since %s)",
                 PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 2));
    PQclear(r);
}

/* Takes the id's lock on c, waiting up to wait_ms for a holder that is
 * going away; 0, 1 when another connection holds it (why says which), or
 * -1 (why says why). */
static int id_lock(PGconn *c, int64_t wait_ms, char *why, size_t len)
{
    char key[16], tmo[64], holder[256] = "";
    const char *v[] = {key};
    PGresult *r;
    const char *state;
    int rc;

    id_lock_key(key);
    snprintf(tmo, sizeof(tmo), "SET lock_timeout = %lld", (long long)wait_ms);
    PQclear(PQexec(c, tmo));
    r = PQexecParams(c, "SELECT pg_advisory_lock(" ID_LOCK_CLASS ", $1::int)",
                     1, NULL, v, NULL, NULL, 0);
    state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    if (PQresultStatus(r) == PGRES_TUPLES_OK) {
        rc = 0;
    } else if (state && !strcmp(state, "55P03")) {
        id_lock_holder(c, key, holder, sizeof(holder));
        snprintf(why, len,
                 "another broker runs as replica \"%s\": its events "
                 "connection%s holds the replica's lock in the state database",
                 dsb_replica_id(), holder);
        rc = 1;
    } else {
        snprintf(why, len, "%s", PQerrorMessage(c));
        why[strcspn(why, "\n")] = '\0';
        rc = -1;
    }
    PQclear(r);
    PQclear(PQexec(c, "SET lock_timeout = 0"));
    return rc;
}

/* A new connection that holds the id's lock and LISTENs, or NULL with why
 * (one line; *taken set when another broker holds the id).  GSSAPI
 * encryption is not tried unless state.url asks for it: probing for it
 * enters Kerberos, whose library state a process that exits while this
 * thread reconnects has already torn down (the events carry no secret;
 * sslmode applies as given). */
static PGconn *listen_conn(struct dsb_listener *l, int64_t wait_ms, char *why,
                           size_t len, int *taken)
{
    const char *keys[] = {
        "connect_timeout",  "keepalives_idle", "keepalives_interval",
        "keepalives_count", "gssencmode",      "dbname",
        "application_name", "password",        NULL};
    const char *vals[] = {
        "5",         "10", "5", "3", "disable", l->url, "dsbroker-events",
        l->password, NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    PGresult *r = NULL;
    int locked = -1;

    *taken = 0;
    if (PQstatus(c) == CONNECTION_OK) {
        PQsetNoticeProcessor(c, quiet, NULL);
        locked = id_lock(c, wait_ms, why, len);
        *taken = locked == 1;
        if (locked == 0)
            r = PQexec(c, "LISTEN " DSB_EVENTS_CHANNEL);
        if (locked == 0 && PQresultStatus(r) == PGRES_COMMAND_OK) {
            PQclear(r);
            return c;
        }
    }
    if (locked != 1) {
        snprintf(why, len, "%s", PQerrorMessage(c));
        why[strcspn(why, "\n")] = '\0';
    }
    PQclear(r);
    PQfinish(c);
    return NULL;
}

/* One notification's payload: passed on unless this replica sent it or
 * it does not parse. */
static void deliver(struct dsb_listener *l, const char *payload)
{
    json_t *e = json_loads(payload, 0, NULL);
    const char *origin = json_string_value(json_object_get(e, "origin"));

    if (!json_is_object(e) || !origin ||
        !json_string_value(json_object_get(e, "kind")))
        dsb_logf(DSB_LOG_WARN, "replicas",
                 "an event that is no event of "
                 "this broker was ignored");
    else if (strcmp(origin, dsb_replica_id()) != 0)
        l->calls.event(l->calls.ctx, e);
    json_decref(e);
}

/* Waits for the socket (or the stop pipe); 0 to go on, -1 to stop.  A
 * connection that broke is closed (l->conn NULL). */
static int wait_events(struct dsb_listener *l)
{
    struct pollfd p[2] = {{.fd = l->stop_pipe[0], .events = POLLIN},
                          {.fd = PQsocket(l->conn), .events = POLLIN}};
    PGnotify *n;

    if (poll(p, 2, -1) < 0)
        return errno == EINTR ? 0 : -1;
    if (p[0].revents)
        return -1;
    if (!PQconsumeInput(l->conn) || PQstatus(l->conn) != CONNECTION_OK) {
        dsb_logf(DSB_LOG_WARN, "replicas",
                 "the events connection to the state store was lost; "
                 "reconnecting");
        PQfinish(l->conn);
        l->conn = NULL;
        return 0;
    }
    while ((n = PQnotifies(l->conn)) != NULL) {
        deliver(l, n->extra);
        PQfreemem(n);
    }
    return 0;
}

/* Reconnects with the backoff; 0 once connected, -1 when stopped.  A
 * reconnect waits at most RECONNECT_LOCK_MS for the id's lock, so a stop
 * is not held up: another broker under this id is reported and tried
 * again with the backoff. */
#define RECONNECT_LOCK_MS 1000

static int reconnect(struct dsb_listener *l)
{
    int backoff = BACKOFF_MIN_MS, taken, said = 0;
    char why[512];

    for (;;) {
        struct pollfd p = {.fd = l->stop_pipe[0], .events = POLLIN};
        if (poll(&p, 1, backoff) != 0)
            return -1;
        l->conn = listen_conn(l, RECONNECT_LOCK_MS, why, sizeof(why), &taken);
        if (l->conn)
            break;
        if (taken && !said++)
            dsb_logf(DSB_LOG_ERROR, "replicas",
                     "%s; this replica gets no events from the others until "
                     "that broker stops: give every replica its own "
                     "state.replica_id",
                     why);
        backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
    }
    dsb_logf(DSB_LOG_INFO, "replicas",
             "events connection to the state store is back; re-syncing");
    l->calls.resync(l->calls.ctx);
    return 0;
}

/* Wakes the thread and waits for it to end (once). */
static void halt(struct dsb_listener *l)
{
    if (!l->started)
        return;
    l->started = 0;
    if (write(l->stop_pipe[1], "x", 1) != 1)
        dsb_logf(DSB_LOG_WARN, "replicas", "cannot wake the events thread: %s",
                 strerror(errno));
    pthread_join(l->thread, NULL);
}

static void halt_all_at_exit(void)
{
    pthread_mutex_lock(&running_mu);
    for (struct dsb_listener *l = running; l; l = l->next)
        halt(l);
    pthread_mutex_unlock(&running_mu);
}

static void register_exit(void)
{
    atexit(halt_all_at_exit);
}

static void *run(void *arg)
{
    struct dsb_listener *l = arg;

    for (;;) {
        if (!l->conn && reconnect(l) < 0)
            break;
        if (wait_events(l) < 0)
            break;
    }
    return NULL;
}

struct dsb_listener *dsb_listener_open(const struct dsb_store_conf *c,
                                       const struct dsb_listener_calls *calls,
                                       struct dsb_error *err)
{
    struct dsb_listener *l = calloc(1, sizeof(*l));
    char why[512];
    int taken;

    if (!l) {
        dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
        return NULL;
    }
    l->stop_pipe[0] = l->stop_pipe[1] = -1;
    l->calls = *calls;
    l->url = dsb_strdup0(c->url);
    l->password = dsb_strdup0(c->password);
    if (!l->url || (c->password && !l->password) || pipe(l->stop_pipe) < 0 ||
        fcntl(l->stop_pipe[0], F_SETFD, FD_CLOEXEC) < 0 ||
        fcntl(l->stop_pipe[1], F_SETFD, FD_CLOEXEC) < 0) {
        dsb_error_set(err, DSB_E_INTERNAL, "cannot start the events listener");
        goto fail;
    }
    l->conn =
        listen_conn(l, c->lease_ms > 0 ? c->lease_ms : DSB_LEASE_DEFAULT_MS,
                    why, sizeof(why), &taken);
    if (!l->conn && taken) {
        dsb_error_set(err, DSB_E_CONFIG, "%s", why);
        dsb_error_hint(err,
                       "give every replica its own state.replica_id (or none: "
                       "the default is unique); if that broker is gone, its "
                       "connection ends with the server's TCP keepalive, or "
                       "end it with pg_terminate_backend(pid)");
        goto fail;
    }
    if (!l->conn) {
        dsb_error_set(err, DSB_E_CONFIG,
                      "cannot listen for the other replicas' events on the "
                      "state store: %s",
                      why);
        goto fail;
    }
    return l;
fail:
    dsb_listener_stop(l);
    return NULL;
}

int dsb_listener_run(struct dsb_listener *l, struct dsb_error *err)
{
    if (pthread_create(&l->thread, NULL, run, l) != 0)
        return dsb_error_set(err, DSB_E_INTERNAL,
                             "cannot start the events thread");
    l->started = 1;
    pthread_once(&exit_once, register_exit);
    pthread_mutex_lock(&running_mu);
    l->next = running;
    running = l;
    pthread_mutex_unlock(&running_mu);
    return 0;
}

struct dsb_listener *dsb_listener_start(const struct dsb_store_conf *c,
                                        const struct dsb_listener_calls *calls,
                                        struct dsb_error *err)
{
    struct dsb_listener *l = dsb_listener_open(c, calls, err);

    if (l && dsb_listener_run(l, err) < 0) {
        dsb_listener_stop(l);
        return NULL;
    }
    return l;
}

void dsb_listener_stop(struct dsb_listener *l)
{
    if (!l)
        return;
    pthread_mutex_lock(&running_mu);
    for (struct dsb_listener **p = &running; *p; p = &(*p)->next)
        if (*p == l) {
            *p = l->next;
            break;
        }
    halt(l);
    pthread_mutex_unlock(&running_mu);
    PQfinish(l->conn);
    for (int i = 0; i < 2; i++)
        if (l->stop_pipe[i] >= 0)
            close(l->stop_pipe[i]);
    free(l->url);
    dsb_secret_value_free(l->password);
    free(l);
}
