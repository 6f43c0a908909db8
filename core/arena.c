#include "arena.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define ARENA_BLOCK 8192
#define ARENA_ALIGN 16

struct arena_block {
    struct arena_block *next;
    size_t used, cap;
    _Alignas(ARENA_ALIGN) unsigned char data[];
};

struct dsb_arena {
    struct arena_block *head;
};

struct dsb_arena *dsb_arena_new(void)
{
    return calloc(1, sizeof(struct dsb_arena));
}

void dsb_arena_free(struct dsb_arena *a)
{
    struct arena_block *b, *next;

    if (!a)
        return;
    for (b = a->head; b; b = next) {
        next = b->next;
        free(b);
    }
    free(a);
}

static struct arena_block *arena_grow(struct dsb_arena *a, size_t need)
{
    size_t cap = need > ARENA_BLOCK ? need : ARENA_BLOCK;
    struct arena_block *b = malloc(sizeof(*b) + cap);

    if (!b)
        return NULL;
    b->used = 0;
    b->cap = cap;
    b->next = a->head;
    a->head = b;
    return b;
}

void *dsb_arena_alloc(struct dsb_arena *a, size_t size)
{
    struct arena_block *b = a->head;
    size_t need = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    void *p;

    if (size == 0)
        need = ARENA_ALIGN;
    if (need < size)
        return NULL;
    if (!b || b->cap - b->used < need)
        b = arena_grow(a, need);
    if (!b)
        return NULL;
    p = b->data + b->used;
    b->used += need;
    memset(p, 0, size);
    return p;
}

char *dsb_arena_strdup(struct dsb_arena *a, const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = dsb_arena_alloc(a, n);

    if (p)
        memcpy(p, s, n);
    return p;
}

int dsb_call_begin(struct dsb_call *call, int64_t deadline_ms,
                   const char *request_id)
{
    static _Atomic unsigned long seq;

    memset(call, 0, sizeof(*call));
    call->arena = dsb_arena_new();
    if (!call->arena)
        return -1;
    call->deadline_ms = deadline_ms;
    if (request_id)
        snprintf(call->request_id, sizeof(call->request_id), "%s", request_id);
    else
        snprintf(call->request_id, sizeof(call->request_id), "c%lu", ++seq);
    return 0;
}

void dsb_call_end(struct dsb_call *call)
{
    dsb_arena_free(call->arena);
    call->arena = NULL;
}
