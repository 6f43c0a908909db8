/*
 * Replicas on one PostgreSQL state store (docs/operators.md, "Running
 * several replicas"): this replica's id, the events it sends the others
 * (small JSON payloads on DSB_EVENTS_CHANNEL, store.h: never a secret)
 * and the listener that receives theirs on its own connection and
 * thread.
 */
#ifndef DSB_CORE_REPLICA_H
#define DSB_CORE_REPLICA_H

#include <jansson.h>

#include "store.h"

/* This process's replica id: state.replica_id when set
 * (dsb_replica_id_set), else hostname-pid-random made once (borrowed,
 * lives as long as the process). */
const char *dsb_replica_id(void);
/* A new replica id into buf (at least DSB_REPLICA_ID_MAX bytes): the host
 * name's letters, digits, '-' and '.' (at most 40), the pid and 4 random
 * bytes (a restart is a new replica): a name state.replica_id would
 * accept.  -1 (errno set) when there is no randomness. */
#define DSB_REPLICA_ID_MAX 96
int dsb_replica_new_id(char *buf, size_t len);
/* Makes id (state.replica_id, checked by the configuration) this
 * process's replica id; called at the start, before any thread reads
 * it. */
void dsb_replica_id_set(const char *id);

/* An event from this replica as a payload (malloc'd JSON text):
 * {"v":1, "origin": id, "kind": kind[, "source": source]}.  kind:
 * "refresh" (the source's cached metadata was flushed) or "sources" (the
 * managed sources changed). */
char *dsb_replica_event(const char *kind, const char *source);

/* Called on the listener's thread: an event of another replica (borrowed;
 * events of this replica are not passed on), or, after the connection
 * came back, resync (events may have been missed). */
struct dsb_listener_calls {
    void (*event)(void *ctx, const json_t *event);
    void (*resync)(void *ctx);
    void *ctx;
};

struct dsb_listener;
/* Connects to the store c names (copied), takes this replica's id lock
 * (dsb_replica_id(): a session advisory lock, so no two live brokers run
 * as one replica; waits up to c->lease_ms for a holder that is going
 * away) and LISTENs; NULL with err when it cannot, or when another broker
 * runs under this id (err names it).  Nothing is delivered before
 * dsb_listener_run. */
struct dsb_listener *dsb_listener_open(const struct dsb_store_conf *c,
                                       const struct dsb_listener_calls *calls,
                                       struct dsb_error *err);
/* Starts the thread that waits on the socket and passes the events on,
 * reconnecting with a backoff of 0.1 s doubling to 5 s (and taking the id
 * lock again); -1 with err when it cannot start. */
int dsb_listener_run(struct dsb_listener *l, struct dsb_error *err);
/* dsb_listener_open, then dsb_listener_run. */
struct dsb_listener *dsb_listener_start(const struct dsb_store_conf *c,
                                        const struct dsb_listener_calls *calls,
                                        struct dsb_error *err);
/* Stops the thread and closes the connection; NULL is a no-op. */
void dsb_listener_stop(struct dsb_listener *l);

#endif
