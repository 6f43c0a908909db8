/*
 * State store backends: what the session store (core/sessions.h) and the
 * job store (core/jobs/internal.h, dsb_jstore_*) need of the database
 * that keeps their state, as one table of operations per store and
 * backend.  sessions.c and jobs/store.c are the dispatchers every caller
 * goes through; a backend implements both tables (SQLite:
 * sessions_sqlite.c, jobs/store_sqlite.c over statedb.c; PostgreSQL:
 * store_pg.c).  broker.yaml's state.store picks one (service.c).  Handles are
 * the backend's own (void *), made by open and freed by close.
 */
#ifndef DSB_CORE_STORE_H
#define DSB_CORE_STORE_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#include <jansson.h>

#include "dsbroker/plugin.h"
#include "sessions.h"

struct dsb_jactive;
struct dsb_jobs;

/* Where a backend keeps the state (borrowed strings). */
struct dsb_store_conf {
    const char *state_dir; /* sqlite: the session store's state_dir */
    const char *db_path;   /* sqlite: the job store's database file */
    const char *url;       /* postgresql: a libpq conninfo, no password */
    const char *password;  /* postgresql: the resolved password, or NULL */
    /* the job store: this replica (state.replica_id) and its lease */
    const char *replica_id; /* NULL: dsb_jstore_open_on makes one */
    int64_t lease_ms;       /* 0: DSB_LEASE_DEFAULT_MS */
};

/* state.lease_seconds' default, in ms. */
#define DSB_LEASE_DEFAULT_MS 15000

/*
 * The session store.  Slots mean what the dsb_sessions_* function of the
 * same name says (sessions.h); ids reach them already checked (1 to
 * DSB_SESSION_ID_MAX bytes).  Every slot may be called from any thread:
 * the backend serialises what needs it.
 */
struct dsb_sessions_ops {
    /* Opens (creating, migrating) the store c says; NULL with err set. */
    void *(*open)(const struct dsb_store_conf *c, struct dsb_error *err);
    void (*close)(void *h);
    /* Creates session id of owner (copied) unless it exists (then it is
     * left as it is). */
    int (*insert)(void *h, const char *id, const char *owner,
                  struct dsb_error *err);
    int (*owner)(void *h, const char *id, char owner[DSB_OWNER_MAX + 1],
                 struct dsb_error *err);
    int (*list)(void *h, const char *owner, json_t **out,
                struct dsb_error *err);
    int (*get)(void *h, const char *id, json_t **out, struct dsb_error *err);
    int (*remove)(void *h, const char *id, struct dsb_error *err);
    int (*select)(void *h, const char *id, const struct dsb_selection *sel,
                  size_t n, const char *const *replace_sources,
                  size_t n_replace, json_t **added, struct dsb_error *err);
    int (*unselect)(void *h, const char *id, int64_t selection_id,
                    struct dsb_error *err);
    int (*selections)(void *h, const char *id, json_t **out,
                      struct dsb_error *err);
    void (*set_idle_expiry)(void *h, int64_t idle_ms);
    long (*expire)(void *h, int64_t idle_ms);
    int (*writable)(void *h);
};

/*
 * The job store and its queue.  Slots mean what the dsb_jstore_* function
 * of the same name says (jobs/internal.h); the job service calls them
 * with its lock held, one at a time.  The handle owns the jobs this
 * replica (c->replica_id of open) tracks: put writes only a record it
 * owns or one nobody owns, and takes it (docs/jobs.md, "Replicas and
 * leases"); get and list show the owner as "replica".
 */
struct dsb_jstore_ops {
    /* Opens (creating, migrating) the store c says; NULL with err set. */
    void *(*open)(const struct dsb_store_conf *c, struct dsb_error *err);
    void (*close)(void *h);
    int (*put)(void *h, const json_t *doc, struct dsb_error *err);
    json_t *(*get)(void *h, const char *id);
    json_t *(*list)(void *h, const char *session_id);
    struct dsb_jactive *(*active)(void *h, size_t *n);
    int (*enqueue)(void *h, const json_t *doc, const char *code,
                   const char *entry_point, struct dsb_error *err);
    int (*dequeue)(void *h, const json_t *doc, char **code, char **entry_point,
                   struct dsb_error *err);
    int (*is_queued)(void *h, const char *id);
    int (*any_queued)(void *h);
    int (*claim)(void *h, int at_start, json_t **out, struct dsb_error *err);
    void (*release)(void *h);
    int (*request_cancel)(void *h, const char *id, struct dsb_error *err);
    /* A store several processes share (NULL on one that only one process
     * opens): an admission begins a transaction that holds the store's
     * admission lock, so the counts it reads and the record it writes are
     * one step for every replica; end commits it (commit) or rolls it
     * back.  The enqueue and dequeue within it join it. */
    int (*admission_begin)(void *h, struct dsb_error *err);
    int (*admission_end)(void *h, int commit, struct dsb_error *err);
};

/* A backend: both stores' tables. */
struct dsb_store_backend {
    const char *name; /* "sqlite" */
    const struct dsb_sessions_ops *sessions;
    const struct dsb_jstore_ops *jobs;
};

/* SQLite in state_dir/dsbroker.db (statedb.h), the only backend so far
 * (store.c; its tables in sessions_sqlite.c and jobs/store_sqlite.c). */
extern const struct dsb_store_backend dsb_store_sqlite;
extern const struct dsb_sessions_ops dsb_sessions_sqlite_ops;
extern const struct dsb_jstore_ops dsb_jstore_sqlite_ops;

/* PostgreSQL (store_pg.c).  The session store keeps this many
 * connections (the request threads' calls run side by side); the job
 * store one. */
#define DSB_PG_SESSION_CONNECTIONS 4

extern const struct dsb_store_backend dsb_store_pg;
extern const struct dsb_sessions_ops dsb_sessions_pg_ops;
extern const struct dsb_jstore_ops dsb_jstore_pg_ops;

/* The session store and the job store on backend b (sessions.h,
 * jobs/internal.h: dsb_sessions_open, dsb_jstore_open use SQLite). */
struct dsb_sessions *dsb_sessions_open_on(const struct dsb_store_backend *b,
                                          const struct dsb_store_conf *c,
                                          struct dsb_error *err);
int dsb_jstore_open_on(struct dsb_jobs *j, const struct dsb_store_backend *b,
                       const struct dsb_store_conf *c, struct dsb_error *err);

/* The rows of `all` (selection rows as the stores answer them) that are
 * one of sel[0..n), a new array: what a select added, for every backend
 * (sessions.c). */
json_t *dsb_sessions_matching(json_t *all, const struct dsb_selection *sel,
                              size_t n);

/* Sets err to "the state store cannot be reached (PostgreSQL at
 * host:port)" (DSB_E_UNAVAILABLE, DSB_STORE_LOST_UPSTREAM, retryable) for
 * what the named store was doing; -1. */
int dsb_store_unreachable(struct dsb_error *err, const char *store,
                          const char *what, const char *host, const char *port);

/*
 * What replicas on PostgreSQL share besides sessions and jobs (store
 * "sources", sources_pg.sql): the managed sources' documents (conf.d
 * text, its ETag) and the secret values of store: references, plus
 * pg_notify on channel DSB_EVENTS_CHANNEL.  A handle is one connection;
 * every function may be called from any thread.
 */
#define DSB_EVENTS_CHANNEL "dsb_events"
void *dsb_shared_open(const struct dsb_store_conf *c, struct dsb_error *err);
void dsb_shared_close(void *h);
/* Every managed source as [{name, text, etag}] by name (a new array). */
int dsb_shared_sources(void *h, json_t **out, struct dsb_error *err);
/* Begins an edit of source name: the handle stays locked for this thread
 * until dsb_shared_end; the row (if any) is locked FOR UPDATE and its text
 * and ETag are copied to *text (malloc'd, NULL when there is no row) and
 * etag. */
int dsb_shared_begin(void *h, const char *name, char **text, char etag[68],
                     struct dsb_error *err);
/* Within an edit: the row of name is made (create: DSB_E_CONFLICT when
 * another replica made it meanwhile) or becomes text (with etag), or
 * goes. */
int dsb_shared_put(void *h, const char *name, const char *text,
                   const char *etag, int create, struct dsb_error *err);
int dsb_shared_remove(void *h, const char *name, struct dsb_error *err);
/* Within an edit: pg_notify(DSB_EVENTS_CHANNEL, payload), sent at
 * commit. */
int dsb_shared_notify_in_edit(void *h, const char *payload,
                              struct dsb_error *err);
/* Ends the edit: commits (0, or -1 with err: nothing was changed) or rolls
 * back (commit 0), and unlocks the handle. */
int dsb_shared_end(void *h, int commit, struct dsb_error *err);
/* pg_notify outside an edit (its own transaction). */
int dsb_shared_notify(void *h, const char *payload, struct dsb_error *err);
/* Secret values of store: references (id: what follows "store:"): put
 * (a new id, committed at once), get (a new value; DSB_E_NOT_FOUND when
 * none), drop (errors ignored: an unreferenced row is harmless). */
int dsb_shared_secret_put(void *h, const char *id, const char *value,
                          struct dsb_error *err);
int dsb_shared_secret_get(void *h, const char *id, char **value,
                          struct dsb_error *err);
void dsb_shared_secret_drop(void *h, const char *id);
/* Reachable and taking writes (a cheap query); 0 or -1. */
int dsb_shared_writable(void *h);
/* Non-zero when opening h created the store (no broker had opened it). */
int dsb_shared_fresh(void *h);
/* Reachable (a cheap query): 0, or -1 with err saying it is not
 * (dsb_store_unreachable's). */
int dsb_shared_check(void *h, struct dsb_error *err);

/* dsbroker copy-state (state_copy.c): the SQLite store of state_dir
 * (state_dir/dsbroker.db) copied into the empty PostgreSQL store pg, both
 * migrated to this broker's version first, in one transaction; a summary
 * line to out.  DSB_E_CONFLICT when the PostgreSQL store holds sessions or
 * jobs already, DSB_E_NOT_FOUND when there is no SQLite store. */
int dsb_state_copy(const char *state_dir, const struct dsb_store_conf *pg,
                   FILE *out, struct dsb_error *err);

/* Shows a record's owner (may be NULL) as its "replica" member, and a
 * pending cancel request as "cancel_requested": true (jobs/store.c, for
 * every backend's reads). */
void dsb_jstore_show(json_t *doc, const char *owner, int cancel_req);

struct sqlite3;
/* The connection of job store handle h of dsb_jstore_sqlite_ops, borrowed
 * (the tests check its durability pragmas). */
struct sqlite3 *dsb_jstore_sqlite_db(void *h);

#endif
