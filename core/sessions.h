/* Sessions and their table selections, kept by the state store backend
 * (store.h; SQLite under state_dir).  A write returns only once it is
 * durable (WAL, synchronous=FULL). */
#ifndef DSB_CORE_SESSIONS_H
#define DSB_CORE_SESSIONS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "dsbroker/plugin.h"

struct dsb_sessions;

/* A selected table; strings borrowed. */
struct dsb_selection {
    const char *source;
    const char *database;
    const char *schema;
    const char *table;
};

#define DSB_SESSION_ID_MAX 128

/* err->upstream of a write refused because the state disk is full (code
 * DSB_E_UNAVAILABLE, retryable): the HTTP layer answers 507. */
#define DSB_STORE_FULL_UPSTREAM "SQLITE_FULL"
/* err->upstream of a call refused because the state store cannot be
 * reached (DSB_E_UNAVAILABLE, retryable): 503 state_store_unavailable with
 * Retry-After; nothing was changed. */
#define DSB_STORE_LOST_UPSTREAM "dsb:state-store-unreachable"

/* state_dir/dsbroker.db (malloc'd): the database file shared by the
 * sessions store and the jobs store (each keeps its own tables). */
char *dsb_state_db_path(const char *state_dir);

/* Creates state_dir (0700) when missing, opens or creates the database and
 * its tables.  NULL with err set on failure. */
struct dsb_sessions *dsb_sessions_open(const char *state_dir,
                                       struct dsb_error *err);
void dsb_sessions_close(struct dsb_sessions *s);

/* Longest principal name recorded as a session's owner. */
#define DSB_OWNER_MAX 127

/* A new session of owner (the principal's name, copied) with a random id
 * (32 hex digits) written to id. */
int dsb_sessions_create(struct dsb_sessions *s, const char *owner,
                        char id[DSB_SESSION_ID_MAX + 1], struct dsb_error *err);
/* Creates the session `id` of owner if absent (the compatibility routes let
 * clients choose ids); an existing one keeps its owner.  DSB_E_INVALID for
 * an empty or over-long id. */
int dsb_sessions_ensure(struct dsb_sessions *s, const char *id,
                        const char *owner, struct dsb_error *err);
/* The session's owner into owner ("" for a session made before owners were
 * recorded); DSB_E_NOT_FOUND when there is no such session.  Does not touch
 * it. */
int dsb_sessions_owner(struct dsb_sessions *s, const char *id,
                       char owner[DSB_OWNER_MAX + 1], struct dsb_error *err);
/* {"items": [{"id", "created_at", "updated_at", "owner", "n_selections"}]}
 * of owner's sessions (NULL: everybody's), most recently used first. */
int dsb_sessions_list(struct dsb_sessions *s, const char *owner, json_t **out,
                      struct dsb_error *err);
/* {"id", "created_at", "updated_at", "owner", "selections": [...]} as a new
 * reference; DSB_E_NOT_FOUND when there is no such session.  Touches it. */
int dsb_sessions_get(struct dsb_sessions *s, const char *id, json_t **out,
                     struct dsb_error *err);
int dsb_sessions_delete(struct dsb_sessions *s, const char *id,
                        struct dsb_error *err);
/* Adds selections in one transaction (already selected ones are kept as
 * they are).  When replace_sources is non-NULL, the session's selections
 * of those sources are removed first (n_replace may be 0 for "none").
 * *added (may be NULL) receives the resulting selection objects. */
int dsb_sessions_select(struct dsb_sessions *s, const char *id,
                        const struct dsb_selection *sel, size_t n,
                        const char *const *replace_sources, size_t n_replace,
                        json_t **added, struct dsb_error *err);
/* Removes one selection by its id; DSB_E_NOT_FOUND when absent. */
int dsb_sessions_unselect(struct dsb_sessions *s, const char *id,
                          int64_t selection_id, struct dsb_error *err);
/* [{"id", "source", "database", "schema", "table", "selected_at"}]. */
int dsb_sessions_selections(struct dsb_sessions *s, const char *id,
                            json_t **out, struct dsb_error *err);
/* Tells the store the idle expiry in use, so that a session's idle clock
 * is kept accurate to a quarter of it (at most a minute stale). */
void dsb_sessions_set_idle_expiry(struct dsb_sessions *s, int64_t idle_ms);
/* Deletes sessions idle for longer than idle_ms; returns how many. */
long dsb_sessions_expire(struct dsb_sessions *s, int64_t idle_ms);
/* 0 when the store can take a write lock now (readiness). */
int dsb_sessions_writable(struct dsb_sessions *s);

#endif
