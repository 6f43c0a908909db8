/* Per-call memory and call context (struct dsb_call of the plugin ABI). */
#ifndef DSB_CORE_ARENA_H
#define DSB_CORE_ARENA_H

#include <stddef.h>
#include <stdint.h>

struct dsb_arena;

/* A new, empty arena; NULL when memory is exhausted. */
struct dsb_arena *dsb_arena_new(void);
/* Frees the arena and everything allocated from it.  NULL is a no-op. */
void dsb_arena_free(struct dsb_arena *a);
/* Zeroed, max-aligned memory owned by the arena; NULL when exhausted. */
void *dsb_arena_alloc(struct dsb_arena *a, size_t size);
char *dsb_arena_strdup(struct dsb_arena *a, const char *s);

struct dsb_call {
    struct dsb_arena *arena;
    int64_t deadline_ms; /* monotonic, 0 = none */
    char request_id[40];
};

/* Starts a call with its own arena, its deadline (monotonic ms; 0: none)
 * and request id (NULL: a generated "c<N>").  Returns -1 when memory is
 * exhausted. */
int dsb_call_begin(struct dsb_call *call, int64_t deadline_ms,
                   const char *request_id);
/* Ends a call, freeing its arena. */
void dsb_call_end(struct dsb_call *call);

#endif
