/* Transport sessions of the 2025 revisions: a small table under a lock.
 * A session is an id the client echoes, never an authentication: every
 * request still presents its token, and a session answers only to the
 * principal that opened it. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "mcp/mcp.h"
#include "util.h"

struct entry {
    char id[DSB_MCP_SESSION_ID_LEN + 1];
    char *principal;
    char version[16];
    int64_t used_ms;
};

struct dsb_mcp_sessions {
    pthread_mutex_t lock;
    struct entry *v;
    size_t n, cap;
};

struct dsb_mcp_sessions *dsb_mcp_sessions_new(void)
{
    struct dsb_mcp_sessions *s = calloc(1, sizeof(*s));

    if (s)
        pthread_mutex_init(&s->lock, NULL);
    return s;
}

void dsb_mcp_sessions_free(struct dsb_mcp_sessions *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i].principal);
    free(s->v);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static void drop(struct dsb_mcp_sessions *s, size_t i)
{
    free(s->v[i].principal);
    s->v[i] = s->v[--s->n];
}

static size_t find(struct dsb_mcp_sessions *s, const char *id)
{
    size_t i = 0;

    while (i < s->n && strcmp(s->v[i].id, id) != 0)
        i++;
    return i;
}

/* Room for one more: the least recently used goes when max are open. */
static int make_room(struct dsb_mcp_sessions *s, size_t max)
{
    struct entry *nv;
    size_t old = 0;

    if (s->n >= max && s->n > 0) {
        for (size_t i = 1; i < s->n; i++)
            if (s->v[i].used_ms < s->v[old].used_ms)
                old = i;
        drop(s, old);
    }
    if (s->n < s->cap)
        return 0;
    nv = realloc(s->v, (s->cap * 2 + 8) * sizeof(*nv));
    if (!nv)
        return -1;
    s->v = nv;
    s->cap = s->cap * 2 + 8;
    return 0;
}

int dsb_mcp_session_open(struct dsb_mcp_sessions *s, const char *principal,
                         const char *version, size_t max,
                         char id[DSB_MCP_SESSION_ID_LEN + 1])
{
    char *who = strdup(principal);
    int rc = -1;

    if (!who || dsb_random_hex(id, DSB_MCP_SESSION_ID_LEN / 2) < 0) {
        free(who);
        return -1;
    }
    pthread_mutex_lock(&s->lock);
    if (make_room(s, max) == 0) {
        struct entry *e = &s->v[s->n++];
        memcpy(e->id, id, DSB_MCP_SESSION_ID_LEN + 1);
        e->principal = who;
        who = NULL;
        snprintf(e->version, sizeof(e->version), "%s", version);
        e->used_ms = dsb_monotonic_ms();
        rc = 0;
    }
    pthread_mutex_unlock(&s->lock);
    free(who);
    return rc;
}

int dsb_mcp_session_use(struct dsb_mcp_sessions *s, const char *id,
                        const char *principal, int64_t idle_ms,
                        char version[16])
{
    int64_t now = dsb_monotonic_ms();
    int rc = -1;
    size_t i;

    pthread_mutex_lock(&s->lock);
    i = find(s, id);
    if (i < s->n && now - s->v[i].used_ms > idle_ms) {
        drop(s, i);
    } else if (i < s->n && strcmp(s->v[i].principal, principal) == 0) {
        s->v[i].used_ms = now;
        memcpy(version, s->v[i].version, 16);
        rc = 0;
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int dsb_mcp_session_close(struct dsb_mcp_sessions *s, const char *id,
                          const char *principal)
{
    int rc = -1;
    size_t i;

    pthread_mutex_lock(&s->lock);
    i = find(s, id);
    if (i < s->n && strcmp(s->v[i].principal, principal) == 0) {
        drop(s, i);
        rc = 0;
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}
