/* Streamed responses: a handler on a call-pool thread answers while it
 * still runs (an MCP tool's progress, then its result).  The handler's
 * thread writes chunks into a queue; libmicrohttpd's worker pulls them
 * through a content reader callback.  When the queue is empty the reader
 * suspends the connection (libmicrohttpd allows that from the callback)
 * and the next write resumes it: no thread waits or polls.
 *
 * Lifetimes: the stream is shared by the response (until libmicrohttpd
 * destroys it) and the request (until it is freed); the last one frees
 * it.  The request itself is freed by whichever side finishes last: the
 * handler's thread (dsb_stream_end) or the worker (dsb_stream_completed),
 * so a client that goes away never frees the request under a running
 * handler, and a handler never waits for a client. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "util.h"

struct dsb_stream {
    pthread_mutex_t lock;
    struct MHD_Connection *conn;
    struct dsb_sb buf; /* written, not yet read from off */
    size_t off;
    int refs;      /* the response and the request */
    int suspended; /* the reader suspended conn: the next write resumes it */
    int gone;      /* the response was destroyed: writes are dropped */
    int ended;     /* the handler is done (nothing more will be written) */
    int completed; /* libmicrohttpd completed the request */
    /* the request's method and path, which live in the connection: the
     * access log may be written after it is gone */
    char *method, *url;
};

static void stream_unref(struct dsb_stream *s)
{
    int last;

    pthread_mutex_lock(&s->lock);
    last = --s->refs == 0;
    pthread_mutex_unlock(&s->lock);
    if (!last)
        return;
    dsb_sb_free(&s->buf);
    free(s->method);
    free(s->url);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

/* Called with the lock held. */
static void wake(struct dsb_stream *s)
{
    if (!s->suspended)
        return;
    s->suspended = 0;
    MHD_resume_connection(s->conn);
}

static ssize_t stream_read(void *cls, uint64_t pos, char *out, size_t max)
{
    struct dsb_stream *s = cls;
    size_t have, n;
    ssize_t rc;

    (void)pos;
    pthread_mutex_lock(&s->lock);
    have = s->buf.len - s->off;
    if (have == 0 && s->ended) {
        rc = MHD_CONTENT_READER_END_OF_STREAM;
    } else if (have == 0) {
        s->suspended = 1;
        MHD_suspend_connection(s->conn);
        rc = 0;
    } else {
        n = have < max ? have : max;
        memcpy(out, s->buf.p + s->off, n);
        s->off += n;
        if (s->off == s->buf.len)
            s->off = s->buf.len = 0;
        rc = (ssize_t)n;
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static void stream_gone(void *cls)
{
    struct dsb_stream *s = cls;

    pthread_mutex_lock(&s->lock);
    s->gone = 1;
    pthread_mutex_unlock(&s->lock);
    stream_unref(s);
}

int dsb_stream_open(struct dsb_req *r, int status, const char *ctype)
{
    struct dsb_stream *s;
    struct MHD_Response *resp;

    if (!r->deferred || !r->conn || r->responded || r->stream ||
        !(s = calloc(1, sizeof(*s))))
        return -1;
    pthread_mutex_init(&s->lock, NULL);
    s->conn = r->conn;
    s->refs = 2;
    s->method = strdup(r->method);
    s->url = strdup(r->url);
    resp = s->method && s->url
               ? MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384,
                                                   stream_read, s, stream_gone)
               : NULL;
    if (!resp) {
        s->refs = 1;
        stream_unref(s);
        return -1;
    }
    r->method = s->method;
    r->url = s->url;
    if (!r->gen_owned) { /* the connection's generation may go with it */
        r->gen = dsb_gen_hold(r->gen);
        r->gen_owned = 1;
    }
    r->stream = s;
    dsb_reply_stream(r, status, resp, ctype);
    MHD_resume_connection(r->conn); /* the worker queues it now */
    return 0;
}

int dsb_stream_write(struct dsb_req *r, const char *bytes, size_t n)
{
    struct dsb_stream *s = r->stream;
    int rc = -1;

    pthread_mutex_lock(&s->lock);
    if (!s->gone && !s->ended) {
        dsb_sb_add(&s->buf, bytes, n);
        rc = s->buf.oom ? -1 : 0;
        r->resp_bytes += rc == 0 ? n : 0; /* for the access log */
        wake(s);
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

/* The hand-off of the request: the handler is done (end) or the worker
 * completed it; whether the other side was already. */
static int hand_off(struct dsb_stream *s, int end)
{
    int other;

    pthread_mutex_lock(&s->lock);
    if (end) {
        s->ended = 1;
        other = s->completed;
        if (!s->gone)
            wake(s); /* the reader sends what is left, then ends */
    } else {
        s->completed = 1;
        other = s->ended;
    }
    pthread_mutex_unlock(&s->lock);
    return other;
}

int dsb_stream_end(struct dsb_req *r)
{
    return hand_off(r->stream, 1);
}

int dsb_stream_completed(struct dsb_req *r)
{
    return hand_off(r->stream, 0);
}

void dsb_stream_free(struct dsb_req *r)
{
    if (r->stream)
        stream_unref(r->stream);
    r->stream = NULL;
}
